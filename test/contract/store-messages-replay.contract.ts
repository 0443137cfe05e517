// MessageStore.replaySkip: which older messages a bounded replay skips. Part of the MessageStore contract (store-messages.contract.ts).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { NO_FILTERS, matches, parseFilters, type Filters } from '../../src/model/filter.js';
import type { MessageStore } from '../../src/store/store.js';
import { increasing, messageHelpers, suiteStore, type OpenStore } from './store-fixtures.js';

/** The replaySkip suite, on its own fresh, migrated store. */
export function replaySkipSuite(open: OpenStore<MessageStore>): void {
  describe('replaySkip', () => {
    const suite = suiteStore(open);
    let store: MessageStore;
    const { message, commitMessages, highWater } = messageHelpers(() => store);

    before(async () => {
      store = suite.store;
    });

    /** A run id no other test uses, so a filter on it sees only this test's rows. */
    let runs = 0;
    const freshRun = () => `replay-skip-${++runs}`;

    it('null when at most `max` messages match after afterId', async () => {
      const from = await highWater();
      const ids = increasing(await commitMessages(Array.from({ length: 10 }, () => message())));
      assert.equal(await store.replaySkip(from, NO_FILTERS, 10), null, 'exactly max');
      assert.equal(await store.replaySkip(from, NO_FILTERS, 11), null);
      assert.equal(await store.replaySkip(from, NO_FILTERS, 1_000_000), null);
      assert.equal(await store.replaySkip(ids[9]!, NO_FILTERS, 0), null, 'nothing after the newest id');
    });

    it('the OLDEST matching messages beyond the newest `max`: first id, last id, count', async () => {
      const from = await highWater();
      const ids = increasing(await commitMessages(Array.from({ length: 10 }, () => message())));
      assert.deepEqual(await store.replaySkip(from, NO_FILTERS, 3), { fromId: ids[0], toId: ids[6], count: 7 });
      assert.deepEqual(await store.replaySkip(from, NO_FILTERS, 9), { fromId: ids[0], toId: ids[0], count: 1 });
      const got = await store.replaySkip(from, NO_FILTERS, 5);
      assert.equal(typeof got?.count, 'number', 'count is a number');
      assert.match(got?.fromId ?? '', /^[1-9]\d*$/, 'ids are decimal strings');
      assert.match(got?.toId ?? '', /^[1-9]\d*$/);
      // What a replay then sends after toId is exactly the newest `max`.
      const rest = await store.messagesAfter(ids[6]!, 100, NO_FILTERS);
      assert.deepEqual(
        rest.map((m) => m.id),
        ids.slice(7),
      );
    });

    it('max 0 skips every matching message', async () => {
      const from = await highWater();
      const ids = increasing(await commitMessages(Array.from({ length: 4 }, () => message())));
      assert.deepEqual(await store.replaySkip(from, NO_FILTERS, 0), { fromId: ids[0], toId: ids[3], count: 4 });
    });

    it('honours afterId (exclusive)', async () => {
      const from = await highWater();
      const ids = increasing(await commitMessages(Array.from({ length: 10 }, () => message())));
      // After ids[4]: ids[5..9] match (5 messages); keep the newest 3, skip ids[5] and ids[6].
      assert.deepEqual(await store.replaySkip(ids[4]!, NO_FILTERS, 3), { fromId: ids[5], toId: ids[6], count: 2 });
      assert.deepEqual(await store.replaySkip(ids[0]!, NO_FILTERS, 0), { fromId: ids[1], toId: ids[9], count: 9 });
      assert.equal(await store.replaySkip(ids[6]!, NO_FILTERS, 3), null);
      assert.deepEqual(await store.replaySkip(from, NO_FILTERS, 3), { fromId: ids[0], toId: ids[6], count: 7 });
    });

    it('counts only messages matching the filters, with non-matching rows interleaved', async () => {
      const run = freshRun();
      const from = await highWater();
      // 20 rows: even positions are of `run`, odd positions of another run.
      const batch = Array.from({ length: 20 }, (_, i) => message({ runId: i % 2 === 0 ? run : `${run}-other` }));
      const ids = increasing(await commitMessages(batch));
      const matching = ids.filter((_, i) => i % 2 === 0);
      assert.equal(matching.length, 10);
      const filters = parseFilters({ run_ids: run });
      assert.deepEqual(await store.replaySkip(from, filters, 3), { fromId: matching[0], toId: matching[6], count: 7 });
      assert.equal(await store.replaySkip(from, filters, 10), null);
      assert.deepEqual(await store.replaySkip(from, filters, 0), { fromId: matching[0], toId: matching[9], count: 10 });
      // afterId on a non-matching row between matching ones.
      assert.deepEqual(await store.replaySkip(ids[3]!, filters, 3), { fromId: matching[2], toId: matching[6], count: 5 });
      // Without the filter, every row counts.
      assert.deepEqual(await store.replaySkip(from, NO_FILTERS, 3), { fromId: ids[0], toId: ids[16], count: 17 });
      assert.equal(await store.replaySkip(from, parseFilters({ run_ids: `${run}-nobody` }), 0), null);
    });

    it('agrees with matches() for every kind of filter, and with messagesAfter on what is left', async () => {
      const from = await highWater();
      const batch = [
        message({ msgType: 'stf_gen', runId: 'rs-1', namespace: 'rs-a', senderAgent: 'rs-daq', processedBy: null }),
        message({ msgType: 'data_ready', runId: 'rs-1', namespace: 'rs-a', senderAgent: 'rs-data', processedBy: 'rs-proc' }),
        message({ msgType: 'agent_status', runId: null, namespace: 'rs-a', senderAgent: 'rs-daq', processedBy: null }),
        message({ msgType: 'stf_gen', runId: 'rs-2', namespace: 'rs-b', senderAgent: 'rs-daq', processedBy: 'rs-proc' }),
        message({ msgType: 'end_run', runId: null, namespace: null, senderAgent: null, processedBy: null }),
        message({ msgType: 'stf_gen', runId: 'rs-1', namespace: 'rs-a', senderAgent: 'rs-x', processedBy: 'rs-daq' }),
        message({ msgType: 'stf_gen', runId: 'rs-2', namespace: 'rs-a', senderAgent: 'rs-daq', processedBy: null }),
      ];
      const ids = increasing(await commitMessages(batch));
      const queries = [
        {},
        { msg_types: 'stf_gen' },
        { msg_types: 'agent_status' },
        { run_ids: 'rs-1' },
        { namespaces: 'rs-a' },
        { agents: 'rs-daq' },
        { agents: 'rs-proc', msg_types: 'stf_gen,data_ready' },
        { msg_types: 'stf_gen', namespaces: 'rs-a', agents: 'rs-daq' },
      ];
      for (const query of queries) {
        const filters: Filters = parseFilters(query);
        const expected = ids.filter((_, i) => matches(filters, batch[i]!.fields));
        for (const max of [0, 1, 2]) {
          const label = `${JSON.stringify(query)} max ${max}`;
          const skipped = expected.slice(0, Math.max(0, expected.length - max));
          const got = await store.replaySkip(from, filters, max);
          assert.deepEqual(got, skipped.length === 0 ? null : { fromId: skipped[0], toId: skipped.at(-1), count: skipped.length }, label);
          const left = (await store.messagesAfter(got?.toId ?? from, 100, filters)).map((m) => m.id);
          assert.deepEqual(left, expected.slice(skipped.length), `${label}: replayed after the skip`);
        }
      }
    });
  });
}
