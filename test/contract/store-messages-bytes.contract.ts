// MessageStore reads bounded by bytes (maxBytes of messagesAfter and listMessages: replay pages and
// history, issue 14). Part of the MessageStore contract (store-messages.contract.ts).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { NO_FILTERS, parseFilters } from '../../src/model/filter.js';
import type { MessageStore } from '../../src/store/store.js';
import { increasing, messageHelpers, suiteStore, type OpenStore } from './store-fixtures.js';

/** JSON content of exactly `bytes` UTF-8 bytes; `accents` of them as é (2 bytes, 1 UTF-16 unit each). */
function contentOf(bytes: number, accents = 0): string {
  const content = `{"p":"${'é'.repeat(accents)}${'x'.repeat(bytes - 8 - 2 * accents)}"}`;
  assert.equal(Buffer.byteLength(content), bytes);
  return content;
}

/** The maxBytes suite, on its own fresh, migrated store. */
export function messageBytesSuite(open: OpenStore<MessageStore>): void {
  describe('reads bounded by maxBytes', () => {
    const suite = suiteStore(open);
    let store: MessageStore;
    const { message, commitMessages, highWater } = messageHelpers(() => store);
    let from: string;
    /** Ids of six rows of 300, 300 (100 é: 200 UTF-16 units), 300, 2000, 10 and 10 bytes; the second is of run-2. */
    let ids: string[];

    before(async () => {
      store = suite.store;
      from = await highWater();
      const sizes: [number, number][] = [[300, 0], [300, 100], [300, 0], [2000, 0], [10, 0], [10, 0]];
      ids = increasing(await commitMessages(sizes.map(([bytes, accents], i) => message({ runId: i === 1 ? 'run-2' : 'run-1' }, { content: contentOf(bytes, accents) }))));
    });

    const after = async (afterId: string, limit: number, maxBytes: number, filters = NO_FILTERS) => (await store.messagesAfter(afterId, limit, filters, maxBytes)).map((m) => m.id);

    it('maxBytes of messagesAfter: rows end with the one that brings the content to maxBytes, counted in UTF-8 bytes', async () => {
      assert.deepEqual(await after(from, 100, 600), ids.slice(0, 2), '300 + 300 (é counted as 2 bytes) reaches 600');
      assert.deepEqual(await after(from, 100, 601), ids.slice(0, 3));
      assert.deepEqual(await after(from, 100, 1), ids.slice(0, 1), 'at least one row');
      assert.deepEqual(await after(ids[2]!, 100, 100), [ids[3]], 'a row bigger than maxBytes comes alone');
      assert.deepEqual(await after(from, 100, 1_000_000), ids, 'under the budget: everything');
      assert.deepEqual(await after(from, 2, 1_000_000), ids.slice(0, 2), 'limit still applies');
      assert.deepEqual(await after(ids[5]!, 100, 600), [], 'nothing after the newest');
      const full = await store.messagesAfter(from, 100, NO_FILTERS, 601);
      assert.deepEqual(full.map((m) => m.content), [contentOf(300), contentOf(300, 100), contentOf(300)], 'whole rows');
    });

    it('maxBytes of messagesAfter counts only the rows that match the filters', async () => {
      assert.deepEqual(await after(from, 100, 600, parseFilters({ run_ids: 'run-1' })), [ids[0], ids[2]]);
    });

    it('maxBytes of listMessages: the same cut, newest first or oldest first, within the id bounds', async () => {
      const list = async (q: { afterId?: string; beforeId?: string; order: 'asc' | 'desc'; maxBytes: number; limit?: number }) =>
        (await store.listMessages({ filters: NO_FILTERS, limit: 100, ...q })).map((m) => m.id);
      assert.deepEqual(await list({ afterId: from, order: 'asc', maxBytes: 600 }), ids.slice(0, 2));
      assert.deepEqual(await list({ afterId: from, order: 'desc', maxBytes: 2020 }), [ids[5], ids[4], ids[3]]);
      assert.deepEqual(await list({ afterId: from, order: 'desc', maxBytes: 2021 }), [ids[5], ids[4], ids[3], ids[2]]);
      assert.deepEqual(await list({ afterId: from, beforeId: ids[3]!, order: 'desc', maxBytes: 400 }), [ids[2], ids[1]]);
      assert.deepEqual(await list({ afterId: from, order: 'desc', maxBytes: 1_000_000, limit: 3 }), [ids[5], ids[4], ids[3]]);
    });
  });
}
