// SubscriberRecorder (src/hub/subscribers.ts) against a real SQLite store: a close this process
// has seen is listed as past at once, though the table only gets it with the next flush.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { SseClient } from '../../src/hub/sse-client.js';
import { SubscriberRecorder } from '../../src/hub/subscribers.js';
import { NO_FILTERS } from '../../src/model/filter.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import type { Store, SubscriberUpdate } from '../../src/store/store.js';
import { FakeSocket } from '../helpers/fake-socket.js';

let store: SqlStore;
/** The hub's clients as the recorder sees them. */
let live: Set<SseClient>;

/** A recorder whose timer never fires within a test: only explicit flush() calls write. */
const recorder = (over: Store = store) => new SubscriberRecorder(over, pino({ level: 'silent' }), 'unit', () => live.values(), 3_600_000);

function open(rec: SubscriberRecorder): SseClient {
  const client = new SseClient(new FakeSocket(), { username: 'alice', remoteAddress: '127.0.0.1', filters: NO_FILTERS, lastEventId: null }, 100);
  live.add(client);
  rec.opened(client);
  return client;
}

/** What the stream route does when a socket closes: out of the hub, then recorded. */
function close(rec: SubscriberRecorder, client: SseClient): void {
  client.detach();
  live.delete(client);
  rec.closed(client);
}

const tableRow = async (id: string) => (await store.listSubscribers(false)).find((r) => r.clientId === id)!;

beforeEach(async () => {
  store = openSqliteStore(':memory:');
  await store.migrate();
  live = new Set();
});

afterEach(async () => {
  await store.close();
});

describe('SubscriberRecorder', () => {
  it('lists a stream closed here as past at once, with the time the close was seen; the flush writes that time', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2025-01-01T00:00:00Z') });
    const rec = recorder();
    const [gone, staying] = [open(rec), open(rec)];
    gone.sent = 7;
    t.mock.timers.tick(1000);
    close(rec, gone);
    const closedAt = new Date().toISOString();

    const listed = (await rec.list(false, 10)).find((r) => r.clientId === gone.id)!;
    assert.equal(listed.isActive, false);
    assert.equal(listed.disconnectedAt, closedAt);
    assert.equal(listed.messagesSent, 7, 'the final counters come along');
    assert.deepEqual((await rec.list(true, 10)).map((r) => r.clientId), [staying.id]);
    assert.equal((await tableRow(gone.id)).isActive, true, 'not written yet: the listing knew it from memory');

    t.mock.timers.tick(5000);
    await rec.flush();
    const written = await tableRow(gone.id);
    assert.equal(written.isActive, false);
    assert.equal(written.disconnectedAt, closedAt, 'the close time, not the flush time');
    assert.equal(written.messagesSent, 7);
    assert.deepEqual(await rec.list(false, 10), await store.listSubscribers(false, 10), 'once written, the listing is the table');
  });

  it('active only: streams closed here are left out and the page is still filled up to the limit', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2025-01-01T00:00:00Z') });
    const rec = recorder();
    const clients = Array.from({ length: 5 }, () => (t.mock.timers.tick(1000), open(rec)));
    // The newest three, which the table (newest first) still has on top as active.
    for (const client of clients.slice(2)) close(rec, client);
    const active = await rec.list(true, 2);
    assert.deepEqual(active.map((r) => r.clientId), [clients[1]!.id, clients[0]!.id]);
    assert.ok(active.every((r) => r.isActive));
    assert.deepEqual((await rec.list(false, 4)).map((r) => [r.clientId, r.isActive]), [...clients.slice(1)].reverse().map((c, i) => [c.id, i >= 3]));
  });

  it('a close stays listed as past while the flush that writes it is in flight', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const gated = new Proxy(store, {
      get: (target, prop, receiver) =>
        prop === 'updateSubscribers' ? async (updates: readonly SubscriberUpdate[]) => (await gate, target.updateSubscribers(updates)) : Reflect.get(target, prop, receiver),
    });
    const rec = recorder(gated);
    const gone = open(rec);
    close(rec, gone);
    const flushing = rec.flush();
    assert.equal((await rec.list(false, 10))[0]!.isActive, false);
    assert.deepEqual(await rec.list(true, 10), []);
    release();
    await flushing;
    assert.equal((await tableRow(gone.id)).isActive, false);
  });

  it('a close whose write failed stays listed as past and is written by the next flush', async () => {
    let failures = 1;
    const flaky = new Proxy(store, {
      get: (target, prop, receiver) =>
        prop === 'updateSubscribers'
          ? async (updates: readonly SubscriberUpdate[]) => {
              if (failures-- > 0) throw new Error('store unavailable');
              return target.updateSubscribers(updates);
            }
          : Reflect.get(target, prop, receiver),
    });
    const rec = recorder(flaky);
    const gone = open(rec);
    close(rec, gone);
    await rec.flush();
    assert.equal((await tableRow(gone.id)).isActive, true, 'the failed write recorded nothing');
    assert.equal((await rec.list(false, 10))[0]!.isActive, false);
    await rec.flush();
    assert.equal((await tableRow(gone.id)).isActive, false);
  });
});
