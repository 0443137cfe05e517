// The SubscriberStore contract: one row per SSE connection, counters flushed in batches.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { SubscriberStore } from '../../src/store/store.js';
import { suiteStore, type OpenStore } from './store-fixtures.js';

/** Runs the SubscriberStore contract on one fresh, migrated store from `open()`; the tests build on each other in order. */
export function subscriberStoreContract(name: string, open: OpenStore<SubscriberStore>): void {
  describe(`SubscriberStore contract: ${name}`, () => {
    const suite = suiteStore(open);
    let store: SubscriberStore;

    before(async () => {
      store = suite.store;
    });

    const open1 = { clientId: 'c-1', name: 'alice@laptop', username: 'alice', ip: '192.0.2.1', process: 'web-1', connectedAt: '2026-11-27T14:00:00.000Z', filters: '{"msg_types":["stf_gen"]}' };
    const open2 = { clientId: 'c-2', name: 'bob', username: null, ip: null, process: 'web-2', connectedAt: '2026-11-27T14:05:00.000Z', filters: '{}' };

    it('openSubscriber records an active connection with zero counters', async () => {
      await store.openSubscriber(open1);
      await store.openSubscriber(open2);
      const listed = await store.listSubscribers(true);
      assert.deepEqual(listed, [
        { ...open2, location: null, disconnectedAt: null, lastActivity: open2.connectedAt, isActive: true, messagesSent: 0, messagesDropped: 0 },
        { ...open1, location: null, disconnectedAt: null, lastActivity: open1.connectedAt, isActive: true, messagesSent: 0, messagesDropped: 0 },
      ]);
    });

    it('updateSubscribers applies counters; a disconnect sets is_active false; active-only lists the rest', async () => {
      await store.updateSubscribers([]);
      await store.updateSubscribers([
        { clientId: 'c-1', messagesSent: 10, messagesDropped: 2, lastActivity: '2026-11-27T14:10:00.000Z', disconnectedAt: null },
        { clientId: 'c-2', messagesSent: 5, messagesDropped: 0, lastActivity: '2026-11-27T14:10:00.000Z', disconnectedAt: null },
      ]);
      await store.updateSubscribers([
        { clientId: 'c-1', messagesSent: 12, messagesDropped: 3, lastActivity: '2026-11-27T14:11:00.000Z', disconnectedAt: '2026-11-27T14:11:00.000Z' },
        { clientId: 'unknown', messagesSent: 1, messagesDropped: 1, lastActivity: '2026-11-27T14:11:00.000Z', disconnectedAt: null },
      ]);
      const all = await store.listSubscribers(false);
      assert.deepEqual(all, [
        { ...open2, location: null, disconnectedAt: null, lastActivity: '2026-11-27T14:10:00.000Z', isActive: true, messagesSent: 5, messagesDropped: 0 },
        { ...open1, location: null, disconnectedAt: '2026-11-27T14:11:00.000Z', lastActivity: '2026-11-27T14:11:00.000Z', isActive: false, messagesSent: 12, messagesDropped: 3 },
      ]);
      assert.deepEqual(
        (await store.listSubscribers(true)).map((s) => s.clientId),
        ['c-2'],
      );
    });

    it('counters beyond 2^31 survive', async () => {
      await store.updateSubscribers([{ clientId: 'c-2', messagesSent: 3_000_000_000, messagesDropped: 2_500_000_000, lastActivity: '2026-11-27T14:12:00.000Z', disconnectedAt: null }]);
      const [s] = await store.listSubscribers(true);
      assert.equal(s?.messagesSent, 3_000_000_000);
      assert.equal(s?.messagesDropped, 2_500_000_000);
    });
  });
}
