// Unit tests of the Ingestor (src/ingest/ingestor.ts) against a fake store and
// a fake bus: ordering, ack-after-commit-and-publish, group commit, retries,
// dedupe, bad bodies, submit() and stop()/idle(). The real store and broker
// are covered by the contract and integration tests.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { pino } from 'pino';
import type { Bus } from '../../src/bus/bus.js';
import { AppError } from '../../src/errors.js';
import { HTTP_QUEUE_NAME, Ingestor } from '../../src/ingest/ingestor.js';
import type { RelayEvent } from '../../src/model/event.js';
import { StaleWriterError, StoreUnreachableError, type AgentHeartbeat, type IngestBatch, type NewRejected, type NewWorkflowMessage, type Store } from '../../src/store/store.js';

/** The message type accept() takes (its name and module are about to change; the shape is what matters). */
type Inbound = Parameters<Ingestor['accept']>[0];

/** Mirrors MAX_BATCH and the retry delays in ingestor.ts (not exported). */
const MAX_BATCH = 500;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 10_000;

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets pending microtasks and a few macrotasks run (the ingestor starts a batch with setImmediate). */
async function flush(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await nextMacrotask();
}

/** Waits (in event-loop turns, not wall time) until `cond` holds. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await nextMacrotask();
  }
  assert.fail(`timed out waiting for: ${what}`);
}

/** Observes a promise without awaiting it: whether and how it has settled so far. */
function watch<T>(promise: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } {
  const seen: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => Object.assign(seen, { state: 'resolved', value }),
    (error: unknown) => Object.assign(seen, { state: 'rejected', error }),
  );
  return seen;
}

/**
 * A store that keeps rows in arrays and assigns ids 1, 2, 3…; null for a
 * broker message-id it has already stored (also within one batch), like the
 * real one. A commit can be held pending, fail N times, fail while `down`, or
 * refuse batches holding a given message.
 */
class FakeStore implements Pick<Store, 'commitBatch' | 'idOfBrokerMessage'> {
  /** Every commitBatch call, failed or not, in call order. */
  readonly calls: IngestBatch[] = [];
  readonly messages: (NewWorkflowMessage & { id: string })[] = [];
  readonly heartbeats: AgentHeartbeat[] = [];
  readonly rejected: NewRejected[] = [];
  /** Fails every call while true (the database is unreachable). */
  down = false;
  /** Fails this many next calls. */
  failNext = 0;
  /** Fails this many next calls without an answer (StoreUnreachableError: the outcome is unknown). */
  unansweredNext = 0;
  /** Commits this many next calls, then fails them without an answer (applied, but the answer was lost). */
  appliedUnansweredNext = 0;
  /** Fails this many next idOfBrokerMessage calls. */
  lookupFailsNext = 0;
  /** Every idOfBrokerMessage call. */
  readonly lookups: string[] = [];
  /** A batch holding a message this accepts fails (a row the database will not take). */
  refuse: (m: NewWorkflowMessage) => boolean = () => false;
  /** The newest writer epoch claimed: a batch carrying an older one is refused (fencing). */
  epoch = 0;
  /** Reports these messages as already stored. */
  duplicateIf: (m: NewWorkflowMessage) => boolean = () => false;
  private nextId = 1;
  private readonly seen = new Set<string>();
  private readonly holds: Deferred[] = [];

  constructor(private readonly timeline: string[]) {}

  /** The next commit call waits until the returned deferred is resolved. */
  holdNext(): Deferred {
    const hold = deferred();
    this.holds.push(hold);
    return hold;
  }

  async commitBatch(batch: IngestBatch): Promise<(string | null)[]> {
    this.calls.push(batch);
    const hold = this.holds.shift();
    if (hold) await hold.promise;
    if (this.down) throw new Error('connect ECONNREFUSED');
    if (batch.writerEpoch !== undefined && batch.writerEpoch !== this.epoch) throw new StaleWriterError(batch.writerEpoch);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('connection reset');
    }
    if (this.unansweredNext > 0) {
      this.unansweredNext--;
      throw new StoreUnreachableError(new Error('Connection terminated unexpectedly'));
    }
    const bad = batch.messages.find((m) => this.refuse(m));
    if (bad) throw new Error(`value too long (${bad.brokerMessageId})`);
    // All checks done: the "transaction" commits as a whole.
    const ids = batch.messages.map((m) => {
      if (this.seen.has(m.brokerMessageId) || this.duplicateIf(m)) return null;
      this.seen.add(m.brokerMessageId);
      const id = String(this.nextId++);
      this.messages.push({ ...m, id });
      return id;
    });
    this.heartbeats.push(...batch.heartbeats);
    this.rejected.push(...batch.rejected);
    this.timeline.push(`commit ${ids.join(',')}`);
    if (this.appliedUnansweredNext > 0) {
      this.appliedUnansweredNext--;
      throw new StoreUnreachableError(new Error('Connection terminated unexpectedly'));
    }
    return ids;
  }

  async idOfBrokerMessage(brokerMessageId: string): Promise<string | null> {
    this.lookups.push(brokerMessageId);
    if (this.lookupFailsNext > 0) {
      this.lookupFailsNext--;
      throw new Error('connect ECONNREFUSED');
    }
    return this.messages.find((m) => m.brokerMessageId === brokerMessageId)?.id ?? null;
  }
}

/** A bus that records what it was given; a publish can be held pending, fail N times, or fail while `down`. */
class FakeBus implements Pick<Bus, 'publish'> {
  /** Every successful publish call, in order. */
  readonly batches: RelayEvent[][] = [];
  attempts = 0;
  down = false;
  failNext = 0;
  private readonly holds: Deferred[] = [];

  constructor(private readonly timeline: string[]) {}

  holdNext(): Deferred {
    const hold = deferred();
    this.holds.push(hold);
    return hold;
  }

  async publish(events: readonly RelayEvent[]): Promise<void> {
    this.attempts++;
    const hold = this.holds.shift();
    if (hold) await hold.promise;
    if (this.down) throw new Error('redis unreachable');
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('redis timeout');
    }
    this.batches.push([...events]);
    this.timeline.push(`publish ${events.map((e) => e.id ?? e.event).join(',')}`);
  }

  /** Ids of every published event, in publish order. */
  ids(): (string | null)[] {
    return this.batches.flat().map((e) => e.id);
  }
}

const encode = (text: string) => new TextEncoder().encode(text);

/** An ingestor wired to a fresh fake store and bus, with helpers to make broker messages. */
function setup(options: { maxBytes?: number; commitIntervalMs?: number; onStale?: () => void } = {}) {
  const timeline: string[] = [];
  const store = new FakeStore(timeline);
  const bus = new FakeBus(timeline);
  // The fakes implement only what the Ingestor calls (commitBatch, publish); these two casts are the only ones.
  const ingestor = new Ingestor({ store: store as Pick<Store, 'commitBatch' | 'idOfBrokerMessage'> as Store, bus: bus as Pick<Bus, 'publish'> as Bus, log: pino({ level: 'silent' }), maxBytes: options.maxBytes ?? 64 * 1024, commitIntervalMs: options.commitIntervalMs, onStale: options.onStale });
  /** messageIds in the order ack() was called (a repeat would show twice). */
  const acked: string[] = [];
  const message = (messageId: string, body: string | Uint8Array): Inbound => ({
    body: typeof body === 'string' ? encode(body) : body,
    headers: { 'message-id': messageId, persistent: 'true' },
    destination: '/topic/epictopic',
    messageId,
    ack: () => {
      acked.push(messageId);
      timeline.push(`ack ${messageId}`);
    },
  });
  /** A workflow message whose body carries its message-id as `n`, to match events back to messages. */
  const workflow = (messageId: string) => message(messageId, JSON.stringify({ msg_type: 'stf_gen', run_id: '100042', namespace: 'torre-dev', n: messageId }));
  const heartbeat = (messageId: string, agent = 'daq-agent') => message(messageId, JSON.stringify({ agent_name: agent, status: 'OK', agent_type: 'daq' }));
  return { ingestor, store, bus, timeline, acked, message, workflow, heartbeat };
}

/** The `n` field of each published workflow event, i.e. which message it came from. */
const publishedNs = (bus: FakeBus) => bus.batches.flat().map((e) => (JSON.parse(e.data) as { n?: string }).n ?? e.event);

function assertAppError(code: string, reason?: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (reason !== undefined) assert.equal(err.extra.reason, reason);
    if (message) assert.match(err.message, message);
    return true;
  };
}

describe('Ingestor: ordering', () => {
  it('commits, publishes in id order, then acks in the same order, batch after batch', async () => {
    const { ingestor, store, bus, timeline, acked, workflow } = setup();
    const first = store.holdNext();
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    await until('first commit started', () => store.calls.length === 1);
    // These arrive during the first commit: they form the second batch.
    const second = store.holdNext();
    for (const id of ['m3', 'm4', 'm5']) ingestor.accept(workflow(id));
    first.resolve();
    await until('second commit started', () => store.calls.length === 2);
    ingestor.accept(workflow('m6'));
    second.resolve();
    await ingestor.idle();

    assert.deepEqual(
      store.calls.map((c) => c.messages.map((m) => m.brokerMessageId)),
      [['m1', 'm2'], ['m3', 'm4', 'm5'], ['m6']],
    );
    // The whole sequence: a batch is published only after it is committed, acked only after it is published,
    // and the next batch's publish never overtakes the previous batch's acks.
    assert.deepEqual(timeline, [
      'commit 1,2', 'publish 1,2', 'ack m1', 'ack m2',
      'commit 3,4,5', 'publish 3,4,5', 'ack m3', 'ack m4', 'ack m5',
      'commit 6', 'publish 6', 'ack m6',
    ]);
    assert.deepEqual(bus.ids(), ['1', '2', '3', '4', '5', '6']);
    assert.deepEqual(publishedNs(bus), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    assert.deepEqual(acked, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
  });

  it('relays the enriched payload under the msg_type as event name', async () => {
    const { ingestor, store, bus, workflow } = setup();
    ingestor.accept(workflow('m1'));
    await ingestor.idle();
    const [event] = bus.batches.flat();
    assert.ok(event, 'one event published'); // a message: assert.ok without one re-reads the transpiled source, very slowly
    assert.equal(event.event, 'stf_gen');
    assert.equal(event.runId, '100042');
    const data = JSON.parse(event.data) as Record<string, unknown>;
    assert.equal(data.queue_name, '/topic/epictopic');
    assert.equal(data.sender_agent, null);
    // The stored content is exactly what was relayed, and the broker headers are kept as metadata.
    assert.equal(store.messages[0]?.content, event.data);
    assert.deepEqual(JSON.parse(store.messages[0]?.metadata ?? 'null'), { 'message-id': 'm1', persistent: 'true' });
  });
});

describe('Ingestor: ack only after commit and publish', () => {
  it('acks and publishes nothing while the commit is pending', async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    const hold = store.holdNext();
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    await until('commit started', () => store.calls.length === 1);
    await flush(5);
    assert.deepEqual(acked, []);
    assert.equal(bus.attempts, 0);
    hold.resolve();
    await ingestor.idle();
    assert.deepEqual(acked, ['m1', 'm2']);
    assert.deepEqual(bus.ids(), ['1', '2']);
  });

  it('acks nothing while the publish is pending, although the commit is done', async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    const hold = bus.holdNext();
    ingestor.accept(workflow('m1'));
    await until('publish started', () => bus.attempts === 1);
    await flush(5);
    assert.equal(store.messages.length, 1, 'committed');
    assert.deepEqual(acked, []);
    hold.resolve();
    await ingestor.idle();
    assert.deepEqual(acked, ['m1']);
  });

  it('retries a failed publish with backoff, without committing again, and acks only after it succeeds', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, bus, acked, workflow } = setup();
    bus.failNext = 2;
    ingestor.accept(workflow('m1'));
    await until('first publish attempt', () => bus.attempts === 1);
    await flush();
    t.mock.timers.tick(RETRY_MIN_MS - 1);
    await flush();
    assert.equal(bus.attempts, 1, 'no retry before the first delay');
    t.mock.timers.tick(1);
    await until('second publish attempt', () => bus.attempts === 2);
    await flush();
    // The delay doubles.
    t.mock.timers.tick(2 * RETRY_MIN_MS - 1);
    await flush();
    assert.equal(bus.attempts, 2);
    assert.deepEqual(acked, [], 'nothing acked while publishing fails');
    t.mock.timers.tick(1);
    await ingestor.idle();
    assert.equal(bus.attempts, 3);
    assert.deepEqual(bus.ids(), ['1']);
    assert.equal(store.calls.length, 1, 'the commit is not repeated');
    assert.deepEqual(acked, ['m1']);
    // Publish failures are counted under commitFailures (the only failure counter).
    assert.equal(ingestor.counters.commitFailures, 2);
  });

  it('backs off from 200 ms, doubling, and stops growing at 10 s', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, bus, acked, workflow } = setup();
    bus.down = true;
    ingestor.accept(workflow('m1'));
    await until('first publish attempt', () => bus.attempts === 1);
    const expected = [200, 400, 800, 1600, 3200, 6400, RETRY_MAX_MS, RETRY_MAX_MS];
    for (const [n, delay] of expected.entries()) {
      await flush();
      t.mock.timers.tick(delay - 1);
      await flush();
      assert.equal(bus.attempts, n + 1, `no attempt before ${delay} ms have passed`);
      t.mock.timers.tick(1);
      await until(`attempt ${n + 2}`, () => bus.attempts === n + 2);
    }
    bus.down = false;
    await flush();
    t.mock.timers.tick(RETRY_MAX_MS);
    await ingestor.idle();
    assert.deepEqual(acked, ['m1']);
  });
});

describe('Ingestor: group commit', () => {
  it('commits messages of one turn together, and those arriving during a commit together in the next one', async () => {
    const { ingestor, store, acked, workflow } = setup();
    const hold = store.holdNext();
    ingestor.accept(workflow('a1'));
    ingestor.accept(workflow('a2'));
    await until('commit started', () => store.calls.length === 1);
    // Arriving over several turns while the commit runs.
    ingestor.accept(workflow('b1'));
    await flush();
    ingestor.accept(workflow('b2'));
    await flush();
    ingestor.accept(workflow('b3'));
    hold.resolve();
    await ingestor.idle();
    assert.deepEqual(store.calls.map((c) => c.messages.length), [2, 3]);
    assert.equal(ingestor.counters.commits, 2);
    assert.deepEqual(acked, ['a1', 'a2', 'b1', 'b2', 'b3']);
  });

  it(`caps a batch at ${MAX_BATCH} messages`, async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    // All in one turn, so without the cap they would form one batch.
    const ids = Array.from({ length: MAX_BATCH + 1 }, (_, i) => `m${i}`);
    for (const id of ids) ingestor.accept(workflow(id));
    await ingestor.idle();
    assert.deepEqual(store.calls.map((c) => c.messages.length), [MAX_BATCH, 1]);
    assert.deepEqual(bus.batches.map((b) => b.length), [MAX_BATCH, 1]);
    assert.deepEqual(bus.ids(), ids.map((_, i) => String(i + 1)));
    assert.deepEqual(acked, ids);
  });
});

describe('Ingestor: commit interval (adaptive group commit)', () => {
  const INTERVAL = 10;

  it('messages arriving within the interval after a commit wait for it to pass, then share one commit', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { ingestor, store, acked, workflow } = setup({ commitIntervalMs: INTERVAL });
    ingestor.accept(workflow('a1'));
    await ingestor.idle();
    assert.equal(store.calls.length, 1, 'the first message is committed at once');
    ingestor.accept(workflow('b1'));
    await flush();
    ingestor.accept(workflow('b2'));
    await flush();
    t.mock.timers.tick(INTERVAL - 1);
    await flush();
    assert.equal(store.calls.length, 1, 'no commit before the interval has passed');
    t.mock.timers.tick(1);
    await ingestor.idle();
    assert.deepEqual(store.calls.map((c) => c.messages.length), [1, 2]);
    assert.deepEqual(acked, ['a1', 'b1', 'b2']);
  });

  it('a message arriving after the interval has passed is committed at once', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { ingestor, store, workflow } = setup({ commitIntervalMs: INTERVAL });
    ingestor.accept(workflow('a1'));
    await ingestor.idle();
    t.mock.timers.tick(INTERVAL);
    ingestor.accept(workflow('b1'));
    await until('second commit, with no timer ticked', () => store.calls.length === 2);
    await ingestor.idle();
  });

  it(`a full batch (${MAX_BATCH} waiting: a backlog) is committed without waiting for the interval`, async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const { ingestor, store, workflow } = setup({ commitIntervalMs: INTERVAL });
    ingestor.accept(workflow('a1'));
    await ingestor.idle();
    for (let i = 0; i < MAX_BATCH; i++) ingestor.accept(workflow(`m${i}`));
    await until('the full batch committed, with no timer ticked', () => store.calls.length === 2);
    await ingestor.idle();
    assert.deepEqual(store.calls.map((c) => c.messages.length), [1, MAX_BATCH]);
  });
});

describe('Ingestor: a batch the store refuses', () => {
  it('is retried one by one: the good ones are relayed, the refused one is kept as store_error; all are acked', async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    store.refuse = (m) => m.brokerMessageId === 'm2';
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    ingestor.accept(workflow('m3'));
    await ingestor.idle();

    // The batch, then each message alone; m2 is refused alone too and goes to the rejected store.
    assert.deepEqual(
      store.calls.map((c) => [c.messages.map((m) => m.brokerMessageId), c.rejected.map((r) => r.brokerMessageId)]),
      [[['m1', 'm2', 'm3'], []], [['m1'], []], [['m2'], []], [[], ['m2']], [['m3'], []]],
    );
    assert.deepEqual(store.messages.map((m) => [m.brokerMessageId, m.id]), [['m1', '1'], ['m3', '2']]);
    assert.deepEqual(publishedNs(bus), ['m1', 'm3']);
    assert.equal(store.rejected.length, 1);
    const kept = store.rejected[0]!;
    assert.equal(kept.reason, 'store_error');
    assert.equal(kept.detail, 'the store refused it: value too long (m2)');
    assert.equal(kept.queueName, '/topic/epictopic');
    assert.deepEqual(kept.body, workflow('m2').body, 'the original bytes are kept');
    assert.deepEqual(acked, ['m1', 'm2', 'm3']);
    assert.equal(ingestor.counters.rejected.store_error, 1);
    assert.equal(ingestor.counters.stored, 2);

    // Later messages are not held up.
    ingestor.accept(workflow('m4'));
    await ingestor.idle();
    assert.deepEqual(store.calls.at(-1)?.messages.map((m) => m.brokerMessageId), ['m4']);
    assert.deepEqual(publishedNs(bus), ['m1', 'm3', 'm4']);
    assert.deepEqual(acked, ['m1', 'm2', 'm3', 'm4']);
  });

  it('a commit left without an answer is retried as it is, never kept as store_error, and relayed once it lands', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, bus, acked, workflow } = setup();
    // The batch and then the message alone get no answer (a connection dying under the pool).
    store.unansweredNext = 2;
    ingestor.accept(workflow('m1'));
    await until('two attempts', () => store.calls.length === 2);
    await flush();
    assert.deepEqual(store.calls.map((c) => c.rejected.length), [0, 0], 'not diverted to the rejected store');
    t.mock.timers.tick(RETRY_MIN_MS);
    await ingestor.idle();
    assert.deepEqual(store.calls.map((c) => c.messages.map((m) => m.brokerMessageId)), [['m1'], ['m1'], ['m1']]);
    assert.equal(store.rejected.length, 0);
    assert.equal(ingestor.counters.rejected.store_error, undefined);
    assert.deepEqual(publishedNs(bus), ['m1']);
    assert.deepEqual(acked, ['m1']);
  });

  it('a commit applied whose answer was lost: its retry finds the messages stored and relays them once, with their ids', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, bus, acked, workflow } = setup();
    // The batch m1, m2 commits, but the answer never comes; m1's redelivery is in the same batch.
    store.appliedUnansweredNext = 1;
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    ingestor.accept(workflow('m1'));
    await until('the retries', () => store.calls.length >= 2);
    t.mock.timers.tick(RETRY_MIN_MS);
    await ingestor.idle();
    assert.deepEqual(store.messages.map((m) => `${m.brokerMessageId}=${m.id}`), ['m1=1', 'm2=2'], 'each stored once');
    assert.deepEqual(publishedNs(bus), ['m1', 'm2'], 'relayed once each, not taken for duplicates');
    assert.deepEqual(
      bus.batches.flat().map((e) => e.id),
      ['1', '2'],
      'with the ids the lost commit gave them',
    );
    assert.deepEqual(store.lookups, ['m1', 'm2'], 'looked up once each; the in-batch repeat is not');
    assert.equal(ingestor.counters.duplicates, 1, 'the redelivered m1 is the one duplicate');
    assert.deepEqual(acked, ['m1', 'm2', 'm1']);
    // Later commits answered as usual: nothing more is looked up.
    store.duplicateIf = (m) => m.brokerMessageId === 'm3';
    ingestor.accept(workflow('m3'));
    await ingestor.idle();
    assert.deepEqual(store.lookups, ['m1', 'm2'], 'a plain duplicate is not looked up');
  });

  it('a lookup after a lost answer that fails is retried, never kept as store_error', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, bus, acked, workflow } = setup();
    store.appliedUnansweredNext = 1;
    store.lookupFailsNext = 1;
    ingestor.accept(workflow('m1'));
    await until('the failed lookup', () => store.lookups.length === 1);
    await flush();
    t.mock.timers.tick(RETRY_MIN_MS);
    await ingestor.idle();
    assert.equal(store.rejected.length, 0, 'not diverted to the rejected store');
    assert.deepEqual(store.lookups, ['m1', 'm1']);
    assert.deepEqual(publishedNs(bus), ['m1']);
    assert.deepEqual(acked, ['m1']);
  });

  it('when the store is down: retries with backoff, acks and loses nothing, then stores all in order', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, bus, acked, workflow } = setup();
    store.down = true;
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    // Batch, m1 alone, m1 as a rejected body: all fail, so the store is down and m1 waits.
    await until('three attempts', () => store.calls.length === 3);
    await flush();
    assert.equal(store.calls[2]?.rejected[0]?.reason, 'store_error');
    t.mock.timers.tick(RETRY_MIN_MS - 1);
    await flush();
    assert.equal(store.calls.length, 3, 'no retry before the delay');
    t.mock.timers.tick(1);
    await until('retry of m1', () => store.calls.length === 5);
    await flush();
    t.mock.timers.tick(2 * RETRY_MIN_MS - 1);
    await flush();
    assert.equal(store.calls.length, 5, 'the delay doubles');
    t.mock.timers.tick(1);
    await until('second retry of m1', () => store.calls.length === 7);
    await flush();
    assert.deepEqual(acked, []);
    assert.equal(bus.attempts, 0);

    store.down = false;
    t.mock.timers.tick(4 * RETRY_MIN_MS);
    await ingestor.idle();
    // Once back, m1 and then m2 are committed (one by one: they are still the failed batch).
    assert.deepEqual(store.messages.map((m) => [m.brokerMessageId, m.id]), [['m1', '1'], ['m2', '2']]);
    assert.deepEqual(store.rejected, [], 'a store outage does not turn good messages into rejected ones');
    assert.deepEqual(bus.ids(), ['1', '2']);
    assert.deepEqual(acked, ['m1', 'm2']);
  });

  it('a commit that fails once is redone message by message at once, without a delay', async (t: TestContext) => {
    // With setTimeout mocked and never ticked, any backoff wait would keep the ingestor from going idle.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, acked, workflow } = setup();
    store.failNext = 1;
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    const idle = watch(ingestor.idle());
    await until('idle without any timer', () => idle.state === 'resolved');
    assert.deepEqual(store.calls.map((c) => c.messages.length), [2, 1, 1]);
    assert.deepEqual(store.rejected, []);
    assert.deepEqual(acked, ['m1', 'm2']);
    assert.equal(ingestor.counters.commitFailures, 1);
  });
});

describe('Ingestor: fencing (another listener claimed the store)', () => {
  it('commits carry the epoch; a stale one drops the batch and the queue unacknowledged, tells the lease, and does not retry', async () => {
    let stale = 0;
    const { ingestor, store, bus, acked, workflow } = setup({ onStale: () => stale++ });
    store.epoch = 1;
    ingestor.fenceWith(1);
    ingestor.accept(workflow('m1'));
    await ingestor.idle();
    assert.equal(store.calls[0]?.writerEpoch, 1);
    assert.deepEqual(acked, ['m1']);

    store.epoch = 2; // a new lease holder claimed the store while this one was away
    const hold = store.holdNext();
    ingestor.accept(workflow('m2'));
    await until('the commit of m2', () => store.calls.length === 2);
    ingestor.accept(workflow('m3')); // queued behind the batch in flight
    const published = ingestor.submit(encode(JSON.stringify({ msg_type: 'stf_gen', n: 'h1' })), 'alice');
    hold.resolve();
    await ingestor.idle();
    await assert.rejects(published, assertAppError('UNAVAILABLE', undefined, /no longer the listener/));
    assert.equal(store.calls.length, 2, 'neither retried one by one nor kept as a rejected body');
    assert.deepEqual(store.messages.map((m) => m.brokerMessageId), ['m1']);
    assert.deepEqual(bus.ids(), ['1']);
    assert.deepEqual(acked, ['m1'], 'the broker redelivers m2 and m3 to the new holder');
    assert.equal(stale, 1);
    assert.equal(ingestor.counters.fenced, 1);
    assert.equal(ingestor.counters.commitFailures, 0);

    // Until it holds a new claim, what still arrives on the same broker connection is left to the broker
    // too: stored now, m4 would overtake m2 and m3, which the broker redelivers only later.
    ingestor.accept(workflow('m4'));
    await assert.rejects(ingestor.submit(encode(JSON.stringify({ msg_type: 'stf_gen', n: 'h2' })), 'alice'), assertAppError('UNAVAILABLE', undefined, /no longer the listener/));
    await ingestor.idle();
    assert.equal(store.calls.length, 2, 'nothing committed while fenced');
    assert.deepEqual(acked, ['m1']);

    // Holding the lease again, with the new claim, it writes again, in the broker's order.
    ingestor.fenceWith(2);
    for (const id of ['m2', 'm3', 'm4']) ingestor.accept(workflow(id));
    await ingestor.idle();
    assert.deepEqual(store.messages.map((m) => m.brokerMessageId), ['m1', 'm2', 'm3', 'm4']);
    assert.deepEqual(acked, ['m1', 'm2', 'm3', 'm4']);
  });
});

describe('Ingestor: dedupe', () => {
  it('acks a redelivered message-id again but neither stores nor publishes it twice', async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    ingestor.accept(workflow('m1'));
    await ingestor.idle();
    // The broker redelivers m1 (e.g. the ack was lost in a reconnect).
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    await ingestor.idle();
    assert.deepEqual(store.messages.map((m) => m.brokerMessageId), ['m1', 'm2']);
    assert.deepEqual(publishedNs(bus), ['m1', 'm2']);
    assert.deepEqual(bus.ids(), ['1', '2']);
    assert.deepEqual(acked, ['m1', 'm1', 'm2']);
    assert.equal(ingestor.counters.duplicates, 1);
    assert.equal(ingestor.counters.stored, 2);
  });

  it('handles a repeat within one batch the same way', async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m1'));
    ingestor.accept(workflow('m2'));
    await ingestor.idle();
    assert.equal(store.calls.length, 1, 'one batch');
    assert.deepEqual(bus.ids(), ['1', '2']);
    assert.deepEqual(acked, ['m1', 'm1', 'm2']);
    assert.equal(ingestor.counters.duplicates, 1);
  });

  it('does not call publish at all for a batch of duplicates only', async () => {
    const { ingestor, bus, acked, workflow } = setup();
    ingestor.accept(workflow('m1'));
    await ingestor.idle();
    ingestor.accept(workflow('m1'));
    await ingestor.idle();
    assert.equal(bus.attempts, 1);
    assert.deepEqual(acked, ['m1', 'm1']);
  });
});

describe('Ingestor: heartbeats and bad bodies', () => {
  it('stores a heartbeat in the batch heartbeats, relays it as agent_status in arrival order, and acks it', async () => {
    const { ingestor, store, bus, acked, workflow, heartbeat } = setup();
    ingestor.accept(workflow('m1'));
    ingestor.accept(heartbeat('h1'));
    ingestor.accept(workflow('m2'));
    await ingestor.idle();
    assert.equal(store.calls.length, 1);
    assert.deepEqual(store.calls[0]?.messages.map((m) => m.brokerMessageId), ['m1', 'm2']);
    assert.deepEqual(store.heartbeats.map((h) => h.fields), [{ agentName: 'daq-agent', status: 'OK', agentType: 'daq', namespace: null }]);
    // A heartbeat has no store id and takes its place between the messages.
    assert.deepEqual(bus.batches.flat().map((e) => [e.id, e.event]), [['1', 'stf_gen'], [null, 'agent_status'], ['2', 'stf_gen']]);
    const relayed = JSON.parse(bus.batches[0]![1]!.data) as Record<string, unknown>;
    assert.equal(relayed.msg_type, 'agent_status');
    assert.equal(relayed.sender_agent, 'daq-agent');
    assert.deepEqual(acked, ['m1', 'h1', 'm2']);
    assert.equal(ingestor.counters.heartbeats, 1);
  });

  it('keeps bad bodies in the batch rejected list with their reason, acks them, and relays the good ones around them', async () => {
    const maxBytes = 1024;
    const { ingestor, store, bus, acked, message, workflow } = setup({ maxBytes });
    const bad: [string, string | Uint8Array, string][] = [
      ['x1', 'not json {', 'bad_json'],
      ['x2', '', 'empty'],
      ['x3', '[1,2]', 'not_object'],
      ['x4', '{"hello":"world"}', 'unknown_kind'],
      ['x5', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'bad_utf8'],
      ['x6', `{"msg_type":"stf_gen","pad":"${'a'.repeat(maxBytes)}"}`, 'too_large'],
      ['x7', '{"msg_type":""}', 'invalid_workflow'],
      ['x8', '{"agent_name":"","status":"OK"}', 'invalid_heartbeat'],
    ];
    ingestor.accept(workflow('m1'));
    for (const [id, body] of bad) ingestor.accept(message(id, body));
    ingestor.accept(workflow('m2'));
    await ingestor.idle();

    assert.equal(store.calls.length, 1, 'bad bodies ride in the same batch');
    assert.deepEqual(store.rejected.map((r) => [r.brokerMessageId, r.reason]), bad.map(([id, , reason]) => [id, reason]));
    const tooLarge = store.rejected.find((r) => r.reason === 'too_large')!;
    assert.equal(tooLarge.truncated, true);
    assert.equal(tooLarge.body.byteLength, maxBytes, 'kept truncated to the limit');
    assert.equal(tooLarge.bodySize, maxBytes + `{"msg_type":"stf_gen","pad":""}`.length);
    assert.deepEqual(store.rejected.find((r) => r.reason === 'bad_utf8')?.body, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    assert.deepEqual(publishedNs(bus), ['m1', 'm2']);
    assert.deepEqual(acked, ['m1', ...bad.map(([id]) => id), 'm2']);
    assert.equal(ingestor.counters.rejected.bad_json, 1);
    assert.equal(ingestor.counters.received, bad.length + 2);
  });

  it('acks a batch of bad bodies only without publishing, and records an empty message-id as null', async () => {
    const { ingestor, store, bus, acked, message } = setup();
    ingestor.accept(message('', 'nope'));
    await ingestor.idle();
    assert.equal(bus.attempts, 0);
    assert.equal(store.rejected[0]?.brokerMessageId, null);
    assert.deepEqual(acked, ['']);
  });
});

describe('Ingestor: submit()', () => {
  it('resolves with the new id once the message is stored and published, not before', async () => {
    const { ingestor, store, bus } = setup();
    const hold = bus.holdNext();
    const submitted = ingestor.submit(encode(JSON.stringify({ msg_type: 'run_imminent', run_id: 7 })), 'alice');
    const seen = watch(submitted);
    await until('publish started', () => bus.attempts === 1);
    await flush();
    assert.equal(store.messages.length, 1);
    assert.equal(seen.state, 'pending', 'not answered before the publish completed');
    hold.resolve();
    assert.equal(await submitted, '1');
    const row = store.messages[0]!;
    assert.equal(row.queueName, HTTP_QUEUE_NAME);
    assert.match(row.brokerMessageId, /^http:[0-9a-f-]{36}$/);
    assert.deepEqual(JSON.parse(row.metadata), { 'message-id': row.brokerMessageId, 'published-by': 'alice' });
    assert.equal((JSON.parse(row.content) as Record<string, unknown>).queue_name, HTTP_QUEUE_NAME);
    assert.deepEqual(bus.ids(), ['1']);
  });

  it('shares batches and id order with broker messages', async () => {
    const { ingestor, store, acked, workflow } = setup();
    ingestor.accept(workflow('m1'));
    const submitted = ingestor.submit(encode('{"msg_type":"end_run"}'), 'alice');
    ingestor.accept(workflow('m2'));
    assert.equal(await submitted, '2');
    await ingestor.idle();
    assert.equal(store.calls.length, 1);
    assert.deepEqual(acked, ['m1', 'm2']);
  });

  it('resolves with null when the store reports the message as a duplicate', async () => {
    const { ingestor, store, bus } = setup();
    // HTTP message-ids are random UUIDs, so only the store's answer can make one a duplicate.
    store.duplicateIf = (m) => m.queueName === HTTP_QUEUE_NAME;
    assert.equal(await ingestor.submit(encode('{"msg_type":"end_run"}'), 'alice'), null);
    assert.equal(bus.attempts, 0);
    assert.equal(ingestor.counters.duplicates, 1);
  });

  it('rejects an invalid body with AppError BAD_REQUEST and its reason, without touching the store', async () => {
    const { ingestor, store } = setup({ maxBytes: 100 });
    await assert.rejects(ingestor.submit(encode('not json'), 'alice'), assertAppError('BAD_REQUEST', 'bad_json', /^not JSON/));
    await assert.rejects(ingestor.submit(encode(''), 'alice'), assertAppError('BAD_REQUEST', 'empty'));
    await assert.rejects(ingestor.submit(encode(`{"msg_type":"x","p":"${'a'.repeat(100)}"}`), 'alice'), assertAppError('BAD_REQUEST', 'too_large'));
    await assert.rejects(ingestor.submit(encode('{"msg_type":""}'), 'alice'), assertAppError('BAD_REQUEST', 'invalid_workflow'));
    // A valid heartbeat is still not something one publishes over HTTP.
    await assert.rejects(ingestor.submit(encode('{"agent_name":"a","status":"OK"}'), 'alice'), assertAppError('BAD_REQUEST', 'not_workflow'));
    await ingestor.idle();
    assert.equal(store.calls.length, 0);
    assert.equal(ingestor.counters.received, 0);
  });

  it('rejects with UNAVAILABLE when the store refuses the message, which is not kept; the rest of its batch goes on', async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    store.refuse = (m) => m.queueName === HTTP_QUEUE_NAME;
    ingestor.accept(workflow('m1'));
    const submitted = ingestor.submit(encode('{"msg_type":"end_run"}'), 'alice');
    await assert.rejects(submitted, assertAppError('UNAVAILABLE', undefined, /^the store refused the message: value too long/));
    await ingestor.idle();
    assert.deepEqual(store.rejected, [], 'the publisher is told; the body is not kept');
    assert.deepEqual(publishedNs(bus), ['m1']);
    assert.deepEqual(acked, ['m1']);
  });
});

describe('Ingestor: idle() and stop()', () => {
  it('idle() resolves at once when nothing is in hand, otherwise after the last ack', async () => {
    const { ingestor, store, acked, workflow } = setup();
    await ingestor.idle();
    const hold = store.holdNext();
    ingestor.accept(workflow('m1'));
    const idle = watch(ingestor.idle());
    await until('commit started', () => store.calls.length === 1);
    await flush();
    assert.equal(idle.state, 'pending');
    hold.resolve();
    await until('idle', () => idle.state === 'resolved');
    assert.deepEqual(acked, ['m1']);
  });

  it('idle() waits through retries', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, bus, workflow } = setup();
    bus.failNext = 1;
    ingestor.accept(workflow('m1'));
    const idle = watch(ingestor.idle());
    await until('first publish attempt', () => bus.attempts === 1);
    await flush();
    assert.equal(idle.state, 'pending');
    t.mock.timers.tick(RETRY_MIN_MS);
    await until('idle', () => idle.state === 'resolved');
    assert.equal(bus.attempts, 2);
  });

  it('stop() lets the batch in hand finish, leaves queued messages unacked and rejects queued submits', async () => {
    const { ingestor, store, bus, acked, workflow } = setup();
    const hold = store.holdNext();
    ingestor.accept(workflow('m1'));
    await until('commit started', () => store.calls.length === 1);
    // Queued behind the running commit.
    ingestor.accept(workflow('m2'));
    // Attach the expectation now: the rejection comes during stop(), before the asserts below.
    const queuedRejected = assert.rejects(ingestor.submit(encode('{"msg_type":"end_run"}'), 'alice'), assertAppError('UNAVAILABLE', undefined, /shutting down/));
    const stopped = watch(ingestor.stop());
    await flush();
    assert.equal(stopped.state, 'pending', 'stop() waits for the commit in hand');
    hold.resolve();
    await until('stopped', () => stopped.state === 'resolved');
    assert.deepEqual(bus.ids(), ['1']);
    assert.deepEqual(acked, ['m1'], 'm2 stays unacked, for the broker to redeliver');
    assert.equal(store.calls.length, 1);
    await queuedRejected;
  });

  it('after stop(), submit() rejects at once and accepted messages are neither committed nor acked', async () => {
    const { ingestor, store, acked, workflow } = setup();
    await ingestor.stop();
    await assert.rejects(ingestor.submit(encode('{"msg_type":"end_run"}'), 'alice'), assertAppError('UNAVAILABLE', undefined, /shutting down/));
    ingestor.accept(workflow('m1'));
    await ingestor.idle();
    await flush();
    assert.equal(store.calls.length, 0);
    assert.deepEqual(acked, []);
  });

  it('stop() during a commit retry gives up when the current wait ends, without acking', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, bus, acked, workflow } = setup();
    store.down = true;
    ingestor.accept(workflow('m1'));
    await until('waiting to retry', () => store.calls.length === 3);
    await flush();
    const stopped = watch(ingestor.stop());
    await flush();
    // The backoff sleep is not interrupted: stop() waits for it (up to RETRY_MAX_MS).
    assert.equal(stopped.state, 'pending');
    t.mock.timers.tick(RETRY_MIN_MS);
    await until('stopped', () => stopped.state === 'resolved');
    assert.equal(store.calls.length, 3, 'no further attempt after stop()');
    assert.equal(bus.attempts, 0);
    assert.deepEqual(acked, []);
  });

  // Fails today: run() breaks out of its loop with the batch in hand (ingestor.ts:129-130) and, when stopping,
  // settles only this.pending (136-138), so the submits of the abandoned batch never settle. The same happens
  // when stop() comes during a one-by-one commit retry.
  it('stop() during a publish retry answers the submit() of the abandoned batch (today it never settles)', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { ingestor, store, bus } = setup();
    bus.down = true;
    const submitted = watch(ingestor.submit(encode('{"msg_type":"end_run"}'), 'alice'));
    await until('first publish attempt', () => bus.attempts === 1);
    await flush();
    const stopped = watch(ingestor.stop());
    t.mock.timers.tick(RETRY_MIN_MS);
    await until('stopped', () => stopped.state === 'resolved');
    assert.equal(store.messages.length, 1, 'the message was committed before the publish failed');
    await flush();
    // An HTTP publisher must get an answer (its id, or UNAVAILABLE) once the ingestor has stopped,
    // not wait forever: the same run() already rejects the submits still queued.
    assert.notEqual(submitted.state, 'pending', 'submit() never settles after stop() abandoned its publish');
  });
});

describe('Ingestor: oldestPendingAt() (read by the swf_relay_ingest_oldest_pending_seconds gauge)', () => {
  it('is the receipt time of the oldest unacknowledged message: through a held commit and a held publish, then null', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const { ingestor, store, bus, message, workflow } = setup();
    assert.equal(ingestor.oldestPendingAt(), null, 'nothing received');

    const commit = store.holdNext();
    ingestor.accept(message('bad', 'not json')); // a rejected body waits like any other (its time is kept as ISO text)
    await until('first commit started', () => store.calls.length === 1);
    t.mock.timers.setTime(1_005_000);
    ingestor.accept(workflow('m2')); // queued behind the held commit
    assert.equal(ingestor.oldestPendingAt(), 1_000_000, 'the in-flight batch is older than the queue');

    const publish = bus.holdNext();
    commit.resolve();
    await until('second batch published', () => bus.attempts === 1);
    assert.equal(ingestor.oldestPendingAt(), 1_005_000, 'committed but not yet published: still unacknowledged');

    publish.resolve();
    await ingestor.idle();
    assert.equal(ingestor.oldestPendingAt(), null, 'all acknowledged');
  });
});
