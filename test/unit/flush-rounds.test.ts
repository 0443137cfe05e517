import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FLUSH_SLICE_MS, ROUND_GAP_MAX_MS, ROUND_GAP_PER_CLIENT_MS, requestFlush, type Flushable } from '../../src/hub/flush-rounds.js';

/** A client whose flush records when it ran and can take `busyMs` of CPU, as a slow socket write would. */
class Recorder implements Flushable {
  readonly flushedAt: number[] = [];
  constructor(
    private readonly log: string[],
    readonly name: string,
    private readonly busyMs = 0,
  ) {}
  flushPending(): void {
    const start = performance.now();
    while (performance.now() - start < this.busyMs) {
      /* spin: a write that takes CPU */
    }
    this.flushedAt.push(start);
    this.log.push(this.name);
  }
}

/** Resolves once every recorder has been flushed `times` times (or fails after 2 s). */
async function flushedAll(recorders: Recorder[], times = 1): Promise<void> {
  const deadline = Date.now() + 2000;
  while (recorders.some((r) => r.flushedAt.length < times)) {
    if (Date.now() > deadline) assert.fail('a round never wrote every client');
    await sleep(1);
  }
}

describe('flush rounds', () => {
  it('a round starts at the end of the turn, writes each client once, in the order they asked', async () => {
    const log: string[] = [];
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new Recorder(log, n));
    requestFlush(b!);
    requestFlush(a!);
    requestFlush(b!);
    requestFlush(c!);
    assert.deepEqual(log, [], 'nothing during the turn itself');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['b', 'a', 'c']);
  });

  it('a long round yields to the event loop between slices', async () => {
    const log: string[] = [];
    // 64 clients × 0.25 ms = 16 ms of writes: several slices.
    const clients = Array.from({ length: 64 }, (_, i) => new Recorder(log, `c${i}`, 0.25));
    for (const c of clients) requestFlush(c);
    let timerRanAfter = -1;
    setTimeout(() => {
      timerRanAfter = log.length;
    }, 0);
    await flushedAll(clients);
    assert.ok(timerRanAfter > 0 && timerRanAfter < clients.length, `a timer ran between slices (after ${timerRanAfter} of ${clients.length} writes)`);
    assert.ok(FLUSH_SLICE_MS < 16);
  });

  it('a client asking again while its round goes on is written once more, in the next round, spaced by the clients written', async () => {
    const log: string[] = [];
    const clients = Array.from({ length: 100 }, (_, i) => new Recorder(log, `c${i}`));
    const late = new Recorder(log, 'late');
    // The first client asks again while the round is writing (from inside its own flush).
    const first = clients[0]!;
    const asker: Flushable = {
      flushPending() {
        first.flushPending();
        if (first.flushedAt.length > 1) return;
        requestFlush(asker);
        requestFlush(asker);
        requestFlush(late);
      },
    };
    requestFlush(asker);
    for (const c of clients.slice(1)) requestFlush(c);
    await flushedAll([first], 2);
    await flushedAll([late]);
    assert.equal(first.flushedAt.length, 2, 'asked twice during the round: written once more');
    assert.equal(late.flushedAt.length, 1);
    assert.equal(log.filter((n) => n === 'late').length, 1);
    assert.ok(log.indexOf('late') > log.indexOf('c99'), 'a client asking during a round waits for the next one');
    // 100 clients written: the next round starts no sooner than 100 × the per-client gap after the
    // first, less up to 2 ms: node's timers run on the event loop's cached millisecond clock.
    const gap = Math.min(100 * ROUND_GAP_PER_CLIENT_MS, ROUND_GAP_MAX_MS);
    const between = first.flushedAt[1]! - first.flushedAt[0]!;
    assert.ok(between >= gap - 2, `rounds ${between.toFixed(2)} ms apart, at least ${gap} expected`);
    assert.ok(between < 1000, 'and the next round does come');
  });
});
