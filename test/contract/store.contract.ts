// The Store contract for what no single role covers: migrate(), ping(), and a fresh store being empty in every role.
// The roles have their own suites (store-messages, store-identity, store-subscribers .contract.ts); each runner
// (store-sqlite.test.ts, store-postgres.test.ts) runs them all.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NO_FILTERS } from '../../src/model/filter.js';
import type { Store } from '../../src/store/store.js';
import type { OpenStore, OpenedStore } from './store-fixtures.js';

/** Runs the Store contract against a store `open()` returns fresh and not yet migrated (one store for the whole suite). */
export function storeContract(name: string, open: OpenStore<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let opened: OpenedStore<Store>;
    let store: Store;
    let firstMigration: string[];

    before(async () => {
      opened = await open();
      store = opened.store;
      firstMigration = await store.migrate();
    });

    after(async () => {
      await opened?.cleanup();
    });

    it('starts empty', async () => {
      assert.equal(await store.lastMessageAt(), null);
      assert.equal(await store.maxMessageId(), null);
      assert.equal(await store.prunedThrough(), '0', 'nothing pruned on a fresh store');
      assert.equal(await store.replaySkip('0', NO_FILTERS, 0), null, 'nothing to skip on an empty store');
      assert.deepEqual(await store.messagesAfter('0', 10), []);
      assert.deepEqual(await store.listAgents(), []);
      assert.deepEqual(await store.listRejected(10), []);
      assert.deepEqual(await store.listTokens(), []);
      assert.deepEqual(await store.listSubscribers(false), []);
    });

    it('migrate: the first run applies the migrations, a second applies none', async () => {
      assert.equal(firstMigration[0], '0001-initial');
      assert.deepEqual([...firstMigration].sort(), firstMigration, 'applied in name order');
      assert.deepEqual(await store.migrate(), []);
      assert.deepEqual(await store.migrate(), []);
    });

    it('ping resolves', async () => {
      await store.ping();
    });

    it('migrate applies 0002-relay-state (relay_state table) after 0001-initial', () => {
      assert.deepEqual(firstMigration.slice(0, 2), ['0001-initial', '0002-relay-state']);
    });
  });
}
