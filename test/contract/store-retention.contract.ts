// The RetentionStore contract: pruning removes only what is older than the cutoff, in bounded
// batches from the oldest, and remembers the highest message id it removed (replay reports it as a gap);
// ended sessions and closed connections' subscriber rows are pruned too, live ones never.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { IdentityStore, MessageStore, NewRejected, RetentionStore, SubscriberStore } from '../../src/store/store.js';
import { messageHelpers, suiteStore, T0, type OpenStore } from './store-fixtures.js';

/** Retention is proven on rows it can see: the suite seeds and reads them through the other roles. */
type Retained = RetentionStore & MessageStore & IdentityStore & SubscriberStore;

/** Runs the RetentionStore contract on one fresh, migrated store from `open()`; the tests build on each other in order. */
export function retentionStoreContract(name: string, open: OpenStore<Retained>): void {
  describe(`RetentionStore contract: ${name}`, () => {
    const suite = suiteStore(open);
    let store: Retained;
    const { message, commitMessages } = messageHelpers(() => store);
    /** sentAt of the helper's n-th message: T0 + n seconds. */
    const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();
    let ids: string[] = [];

    const rejected = (receivedAt: string, n: number): NewRejected => ({
      brokerMessageId: `ID:rejected-${n}`,
      receivedAt,
      queueName: '/topic/epictopic',
      reason: 'bad_json',
      detail: 'not JSON',
      body: new TextEncoder().encode(`junk ${n}`),
      bodySize: 6,
      truncated: false,
      headers: '{}',
    });

    before(async () => {
      store = suite.store;
      // Ten messages received at T0+1 s … T0+10 s.
      ids = (await commitMessages(Array.from({ length: 10 }, () => message()))).map((id) => id!);
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [1, 2, 3, 4, 5].map((n) => rejected(at(n), n)) });
    });

    it('nothing older than the cutoff: nothing pruned, prunedThrough stays 0', async () => {
      assert.equal(await store.pruneMessages(T0, 100), 0);
      assert.equal(await store.pruneRejected(T0, 100), 0);
      assert.equal(await store.prunedThrough(), '0');
    });

    it('pruneMessages removes at most `batch` of the oldest older than the cutoff, and records the last id removed', async () => {
      // Seven are older than T0+7.5 s; a batch of 3 takes the three oldest.
      assert.equal(await store.pruneMessages(at(7.5), 3), 3);
      assert.equal(await store.prunedThrough(), ids[2]);
      const left = await store.messagesAfter('0', 100);
      assert.deepEqual(left.map((m) => m.id), ids.slice(3));
      // The next batches take the rest older than the cutoff, and never a newer one.
      assert.equal(await store.pruneMessages(at(7.5), 3), 3);
      assert.equal(await store.pruneMessages(at(7.5), 3), 1);
      assert.equal(await store.pruneMessages(at(7.5), 3), 0);
      assert.equal(await store.prunedThrough(), ids[6]);
      assert.deepEqual((await store.messagesAfter('0', 100)).map((m) => m.id), ids.slice(7));
    });

    it('pruneRejected removes at most `batch` of the oldest rejected bodies older than the cutoff', async () => {
      assert.equal(await store.pruneRejected(at(4.5), 2), 2);
      assert.deepEqual((await store.listRejected(10)).map((r) => r.brokerMessageId), ['ID:rejected-5', 'ID:rejected-4', 'ID:rejected-3']);
      assert.equal(await store.pruneRejected(at(4.5), 2), 2);
      assert.equal(await store.pruneRejected(at(4.5), 2), 0);
      assert.deepEqual((await store.listRejected(10)).map((r) => r.brokerMessageId), ['ID:rejected-5']);
    });

    it('pruning everything keeps ids growing: the next message gets an id above every pruned one', async () => {
      assert.equal(await store.pruneMessages(at(100), 100), 3);
      assert.equal(await store.prunedThrough(), ids[9]);
      assert.equal(await store.maxMessageId(), null);
      const [next] = await commitMessages([message()]);
      assert.ok(BigInt(next!) > BigInt(ids[9]!), `new id ${next} is above the pruned ${ids[9]}`);
    });

    it('pruneSessions removes at most `batch` sessions that expired or were revoked before the cutoff, never a live one', async () => {
      const user = await store.createUser('retention-user');
      const far = '9000-01-01T00:00:00.000Z';
      await store.insertSession({ idHash: 'expired', userId: user.id, expiresAt: at(1) });
      await store.insertSession({ idHash: 'revoked', userId: user.id, expiresAt: far });
      await store.insertSession({ idHash: 'live', userId: user.id, expiresAt: far });
      assert.equal(await store.revokeSession('revoked'), true);
      // The store stamps revocations with the clock: a cutoff a minute ahead is after it.
      const cutoff = new Date(Date.now() + 60_000).toISOString();
      assert.equal(await store.pruneSessions(at(0), 10), 0, 'nothing ended before T0');
      assert.equal(await store.pruneSessions(cutoff, 1), 1);
      assert.equal(await store.pruneSessions(cutoff, 1), 1);
      assert.equal(await store.pruneSessions(cutoff, 1), 0);
      assert.equal(await store.findSession('expired'), undefined);
      assert.equal(await store.findSession('revoked'), undefined);
      assert.equal((await store.findSession('live'))?.username, 'retention-user');
    });

    it('pruneSubscribers removes rows of connections closed before the cutoff, never an open one', async () => {
      const open = (clientId: string) =>
        store.openSubscriber({ clientId, name: clientId, username: null, ip: null, process: 'p', connectedAt: at(0), filters: '{}' });
      for (const clientId of ['still-open', 'closed-early', 'closed-late']) await open(clientId);
      const closed = (clientId: string, seconds: number) => ({ clientId, messagesSent: 1, messagesDropped: 0, lastActivity: at(seconds), disconnectedAt: at(seconds) });
      await store.updateSubscribers([closed('closed-early', 1), closed('closed-late', 50)]);
      assert.equal(await store.pruneSubscribers(at(10), 5), 1);
      assert.equal(await store.pruneSubscribers(at(10), 5), 0);
      assert.deepEqual((await store.listSubscribers(false)).map((s) => s.clientId).sort(), ['closed-late', 'still-open']);
      assert.equal(await store.pruneSubscribers(at(100), 5), 1);
      assert.deepEqual((await store.listSubscribers(false)).map((s) => s.clientId), ['still-open']);
    });
  });
}
