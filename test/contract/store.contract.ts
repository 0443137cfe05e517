// The Store contract: one suite, run against every implementation (store-sqlite.test.ts, store-postgres.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NO_FILTERS, matches, parseFilters, type Filters } from '../../src/model/filter.js';
import type { HeartbeatFields, WorkflowFields } from '../../src/model/message.js';
import type { AgentHeartbeat, NewRejected, NewWorkflowMessage, Store, StoredMessage } from '../../src/store/store.js';

/** A store opened for the suite (fresh and empty, not yet migrated). */
export interface OpenedStore {
  readonly store: Store;
  /** Closes the store and removes what open() created. */
  cleanup(): Promise<void>;
  /** Runs raw SQL on a separate connection, for what the Store interface does not expose (e.g. agents.first_seen). */
  query(sqlText: string): Promise<Record<string, unknown>[]>;
}

const big = (id: string) => BigInt(id);

/** Asserts ids are non-null and strictly increasing; returns them. */
function increasing(ids: readonly (string | null)[]): string[] {
  const out = ids.map((id, i) => {
    assert.ok(id !== null, `message ${i} got no id`);
    assert.match(id, /^[1-9]\d*$/, 'ids are positive decimal strings');
    return id;
  });
  for (let i = 1; i < out.length; i++) assert.ok(big(out[i]!) > big(out[i - 1]!), `ids increase: ${out[i - 1]} then ${out[i]}`);
  return out;
}

function fields(f: Partial<WorkflowFields> = {}): WorkflowFields {
  return {
    msgType: 'stf_gen',
    runId: '100042',
    executionId: 'stf-exec-1',
    filename: 'swf.100042.000001.stf',
    senderAgent: 'daqsim-agent-torre-7',
    recipientAgent: null,
    namespace: 'torre-dev',
    processedBy: null,
    ...f,
  };
}

function heartbeat(agentName: string, status: string, at: string, extra: Partial<HeartbeatFields> = {}): AgentHeartbeat {
  return { fields: { agentName, status, agentType: 'daqsim', namespace: 'torre-dev', ...extra }, payload: JSON.stringify({ agent_name: agentName, status }), at };
}

const T0 = '2026-11-27T14:00:00.000Z';

/** Runs the Store contract against the store `open()` returns (one store for the whole suite). */
export function storeContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${name}`, () => {
    let opened: OpenedStore;
    let store: Store;
    let firstMigration: string[];
    let seq = 0;

    /** A new workflow message with a broker message-id never used before. */
    const message = (f: Partial<WorkflowFields> = {}, over: Partial<NewWorkflowMessage> = {}): NewWorkflowMessage => {
      seq++;
      const msgFields = fields(f);
      return {
        brokerMessageId: `ID:contract-${seq}`,
        fields: msgFields,
        queueName: '/topic/epictopic',
        sentAt: new Date(Date.parse(T0) + seq * 1000).toISOString(),
        content: JSON.stringify({ msg_type: msgFields.msgType, run_id: msgFields.runId, seq }),
        metadata: JSON.stringify({ 'message-id': `ID:contract-${seq}`, destination: '/topic/epictopic' }),
        ...over,
      };
    };

    const commitMessages = (messages: NewWorkflowMessage[]) => store.commitBatch({ messages, heartbeats: [], rejected: [] });

    /** The highest id stored so far ('0' when empty), to read back only what a test adds. */
    const highWater = async () => (await store.maxMessageId()) ?? '0';

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

    it('commitBatch assigns increasing ids in input order; messagesAfter returns them with every field', async () => {
      const from = await highWater();
      const batch = [
        message({ msgType: 'run_imminent' }),
        message({ msgType: 'start_run', executionId: null, filename: null }),
        message({ msgType: 'data_ready', recipientAgent: 'processing-agent', processedBy: 'data-agent' }),
        message({ msgType: 'sse_test', runId: null, namespace: null, senderAgent: null }),
      ];
      const ids = increasing(await commitMessages(batch));
      assert.ok(big(ids[0]!) > big(from));
      const stored = await store.messagesAfter(from, 100);
      assert.deepEqual(
        stored,
        batch.map((m, i): StoredMessage => ({
          id: ids[i]!,
          brokerMessageId: m.brokerMessageId,
          fields: m.fields,
          queueName: m.queueName,
          sentAt: m.sentAt,
          content: m.content,
        })),
      );
      assert.equal(await store.maxMessageId(), ids.at(-1));
    });

    it('ids keep increasing across batches', async () => {
      const a = increasing(await commitMessages([message(), message()]));
      const b = increasing(await commitMessages([message()]));
      assert.ok(big(b[0]!) > big(a[1]!));
    });

    it('a broker message-id already stored gets null and is not stored again', async () => {
      const first = message();
      const second = message();
      const [firstId, secondId] = increasing(await commitMessages([first, second]));
      const from = await highWater();
      const fresh = message();
      const result = await commitMessages([{ ...first, content: '{"changed":true}' }, fresh, { ...second }]);
      assert.equal(result[0], null);
      assert.equal(result[2], null);
      const freshId = result[1];
      assert.ok(typeof freshId === 'string' && big(freshId) > big(from));
      assert.equal(result.length, 3, 'one entry per input message');
      const added = await store.messagesAfter(from, 100);
      assert.deepEqual(
        added.map((m) => m.brokerMessageId),
        [fresh.brokerMessageId],
      );
      // The original row is untouched.
      const original = (await store.messagesAfter(String(big(firstId!) - 1n), 2)).map((m) => [m.id, m.content]);
      assert.deepEqual(original, [
        [firstId, first.content],
        [secondId, second.content],
      ]);
      assert.deepEqual(await commitMessages([first, second]), [null, null], 'a batch of only duplicates');
      assert.equal(await highWater(), result[1]);
    });

    it('a broker message-id repeated within one batch is stored once, at its first position', async () => {
      const from = await highWater();
      const a = message();
      const b = message();
      const result = await commitMessages([a, { ...a, content: '{"copy":1}' }, b, { ...a, content: '{"copy":2}' }, { ...b }]);
      assert.equal(result[1], null);
      assert.equal(result[3], null);
      assert.equal(result[4], null);
      const [idA, idB] = increasing([result[0]!, result[2]!]);
      const stored = await store.messagesAfter(from, 100);
      assert.deepEqual(
        stored.map((m) => [m.id, m.brokerMessageId, m.content]),
        [
          [idA, a.brokerMessageId, a.content],
          [idB, b.brokerMessageId, b.content],
        ],
      );
    });

    it('messagesAfter: id order, limit, and afterId exclusive', async () => {
      const from = await highWater();
      const ids = increasing(await commitMessages(Array.from({ length: 10 }, () => message())));
      assert.deepEqual(
        (await store.messagesAfter(from, 100)).map((m) => m.id),
        ids,
      );
      assert.deepEqual(
        (await store.messagesAfter(ids[2]!, 3)).map((m) => m.id),
        ids.slice(3, 6),
      );
      assert.deepEqual(
        (await store.messagesAfter(ids[7]!, 100)).map((m) => m.id),
        ids.slice(8),
      );
      assert.deepEqual(await store.messagesAfter(ids[9]!, 100), []);
      assert.deepEqual(await store.messagesAfter(from, 0), []);
      assert.deepEqual(
        (await store.messagesAfter(from, 1)).map((m) => m.id),
        [ids[0]],
      );
      // Compared as numbers, not as text ("9" < "10").
      const all = (await store.messagesAfter('0', 100_000)).map((m) => m.id);
      assert.deepEqual(all, [...all].sort((x, y) => (big(x) < big(y) ? -1 : big(x) > big(y) ? 1 : 0)));
      assert.ok(all.length >= 10);
    });

    it('messagesAfter with filters returns exactly what matches() accepts', async () => {
      const from = await highWater();
      const batch = [
        message({ msgType: 'stf_gen', runId: '1', namespace: 'a', senderAgent: 'daq', processedBy: null }),
        message({ msgType: 'data_ready', runId: '1', namespace: 'a', senderAgent: 'data', processedBy: 'proc' }),
        message({ msgType: 'stf_gen', runId: '2', namespace: 'b', senderAgent: 'daq', processedBy: 'proc' }),
        message({ msgType: 'end_run', runId: null, namespace: null, senderAgent: null, processedBy: null }),
        message({ msgType: 'agent_status', runId: null, namespace: 'a', senderAgent: 'daq', processedBy: null }),
        message({ msgType: 'stf_gen', runId: '10', namespace: 'a', senderAgent: 'x', processedBy: 'daq' }),
      ];
      const ids = increasing(await commitMessages(batch));
      const queries = [
        {},
        { msg_types: 'stf_gen' },
        { msg_types: 'agent_status' },
        { run_ids: '1' },
        { run_ids: '1,10' },
        { namespaces: 'a' },
        { agents: 'daq' },
        { agents: 'proc' },
        { agents: 'daq,proc', msg_types: 'stf_gen,data_ready' },
        { msg_types: 'stf_gen', run_ids: '2', namespaces: 'b', agents: 'proc' },
        { run_ids: 'none' },
      ];
      for (const query of queries) {
        const filters = parseFilters(query);
        const expected = ids.filter((_, i) => matches(filters, batch[i]!.fields));
        const got = (await store.messagesAfter(from, 100, filters)).map((m) => m.id);
        assert.deepEqual(got, expected, JSON.stringify(query));
      }
    });

    it('stores content and text fields byte-exact, multi-byte text included', async () => {
      const content =
        '{"msg_type":"stf_gen","namespace":"ünïcode-ns","sender":"agent-日本-1","filename":"データ.stf","emoji":"🛰️ 𝔘","quote":"\\"","esc":"\\u2028\\u0000\\ud800","sp": [ 1 ,2 ]}';
      const m = message(
        { msgType: 'stf_gen', namespace: 'ünïcode-ns', senderAgent: 'agent-日本-1', filename: 'データ.stf', runId: '🛰️', recipientAgent: 'Ωμέγα' },
        { content },
      );
      const [id] = increasing(await commitMessages([m]));
      const [stored] = await store.messagesAfter(String(big(id!) - 1n), 1);
      assert.ok(stored);
      assert.equal(stored.id, id);
      assert.deepEqual(Buffer.from(stored.content, 'utf8'), Buffer.from(content, 'utf8'));
      assert.deepEqual(stored.fields, m.fields);
    });

    it('migrate applies 0002-relay-state (relay_state table) after 0001-initial', () => {
      assert.deepEqual(firstMigration.slice(0, 2), ['0001-initial', '0002-relay-state']);
    });

    it('maxMessageId is the highest id, also after a batch of only duplicates', async () => {
      const [a, b] = increasing(await commitMessages([message(), message()]));
      assert.ok(a);
      assert.equal(await store.maxMessageId(), b);
      const [dup] = await store.messagesAfter(a, 1);
      assert.deepEqual(await commitMessages([{ ...message(), brokerMessageId: dup!.brokerMessageId }]), [null]);
      assert.equal(await store.maxMessageId(), b);
    });

    describe('replaySkip', () => {
      /** A run id no other test uses, so a filter on it sees only this test's rows. */
      const freshRun = () => `replay-skip-${++seq}`;

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

    it('prunedThrough reads the retention mark from relay_state', async () => {
      assert.equal(await store.prunedThrough(), '0');
      await opened.query("insert into relay_state (key, value) values ('pruned_through_id', '42') returning key");
      try {
        assert.equal(await store.prunedThrough(), '42');
      } finally {
        await opened.query("delete from relay_state where key = 'pruned_through_id' returning key");
      }
      assert.equal(await store.prunedThrough(), '0');
    });

    it('lastMessageAt is the time of the newest stored message', async () => {
      const older = message({}, { sentAt: '2026-11-27T16:00:00.000Z' });
      const newer = message({}, { sentAt: '2026-11-27T16:00:01.500Z' });
      await commitMessages([older, newer]);
      assert.equal(await store.lastMessageAt(), '2026-11-27T16:00:01.500Z');
      // A duplicate does not count as a newer message.
      await commitMessages([{ ...older, sentAt: '2030-01-01T00:00:00.000Z' }]);
      assert.equal(await store.lastMessageAt(), '2026-11-27T16:00:01.500Z');
    });

    it('a batch of 1,200 messages (more than one 500-row chunk) gets 1,200 consecutive ids', async () => {
      const from = await highWater();
      const batch = Array.from({ length: 1200 }, () => message());
      const ids = increasing(await commitMessages(batch));
      assert.equal(ids.length, 1200);
      for (let i = 1; i < ids.length; i++) assert.equal(big(ids[i]!), big(ids[0]!) + BigInt(i), `id ${i} consecutive`);
      const stored = await store.messagesAfter(from, 2000);
      assert.deepEqual(
        stored.map((m) => [m.id, m.brokerMessageId]),
        batch.map((m, i) => [ids[i], m.brokerMessageId]),
      );
    });

    it('a 1,200-message batch with duplicates on both sides of the chunk boundary', async () => {
      const from = await highWater();
      const [dup] = await commitMessages([message()]);
      assert.ok(dup);
      const stored = (await store.messagesAfter(from, 1))[0]!;
      const batch = Array.from({ length: 1200 }, () => message());
      batch[10] = { ...batch[10]!, brokerMessageId: stored.brokerMessageId };
      batch[700] = { ...batch[700]!, brokerMessageId: batch[3]!.brokerMessageId };
      const result = await commitMessages(batch);
      assert.equal(result[10], null);
      assert.equal(result[700], null);
      const ids = increasing(result.filter((id) => id !== null));
      assert.equal(ids.length, 1198);
    });

    it('heartbeats upsert agents: a later heartbeat updates status and time, first_seen stays', async () => {
      await store.commitBatch({ messages: [], heartbeats: [heartbeat('agent-hb-1', 'OK', '2026-11-27T14:00:00.000Z')], rejected: [] });
      await store.commitBatch({
        messages: [],
        heartbeats: [heartbeat('agent-hb-1', 'WARNING', '2026-11-27T14:00:30.000Z', { agentType: 'data', namespace: null })],
        rejected: [],
      });
      const agent = (await store.listAgents()).find((a) => a.name === 'agent-hb-1');
      assert.deepEqual(agent, { name: 'agent-hb-1', agentType: 'data', status: 'WARNING', namespace: null, lastHeartbeat: '2026-11-27T14:00:30.000Z' });
      const rows = await opened.query("select first_seen, last_heartbeat from agents where name = 'agent-hb-1'");
      assert.deepEqual(rows, [{ first_seen: '2026-11-27T14:00:00.000Z', last_heartbeat: '2026-11-27T14:00:30.000Z' }]);
    });

    it('several heartbeats of one agent in one batch: the last wins; agents are listed by name', async () => {
      await store.commitBatch({
        messages: [message()],
        heartbeats: [
          heartbeat('agent-hb-3', 'OK', '2026-11-27T15:00:00.000Z'),
          heartbeat('agent-hb-2', 'OK', '2026-11-27T15:00:00.000Z'),
          heartbeat('agent-hb-3', 'EXITED', '2026-11-27T15:00:05.000Z'),
        ],
        rejected: [],
      });
      const agents = await store.listAgents();
      assert.deepEqual(
        agents.map((a) => a.name),
        [...agents.map((a) => a.name)].sort(),
      );
      const three = agents.find((a) => a.name === 'agent-hb-3');
      assert.equal(three?.status, 'EXITED');
      assert.equal(three?.lastHeartbeat, '2026-11-27T15:00:05.000Z');
    });

    it('rejected bodies keep their raw bytes exactly, with size, truncation and headers', async () => {
      const raw = new Uint8Array([0x00, 0xc3, 0x28, 0xff, 0xfe, 0x00, 0x7b, 0x22, 0xe2, 0x82, 0x00, 0x0a, 0x0d]);
      const rejected: NewRejected[] = [
        {
          brokerMessageId: 'ID:rejected-1',
          receivedAt: '2026-11-27T14:01:00.000Z',
          queueName: '/topic/epictopic',
          reason: 'bad_utf8',
          detail: 'body is not valid UTF-8',
          body: raw,
          bodySize: raw.byteLength,
          truncated: false,
          headers: JSON.stringify({ 'message-id': 'ID:rejected-1', 'content-type': 'text/plain' }),
        },
        {
          brokerMessageId: 'ID:rejected-2',
          receivedAt: '2026-11-27T14:01:01.000Z',
          queueName: '/topic/epictopic',
          reason: 'too_large',
          detail: 'body of 2000000 bytes exceeds 1024',
          body: new Uint8Array(1024).fill(0x78),
          bodySize: 2_000_000,
          truncated: true,
          headers: '{}',
        },
        {
          brokerMessageId: 'ID:rejected-3',
          receivedAt: '2026-11-27T14:01:02.000Z',
          queueName: '/topic/epictopic',
          reason: 'empty',
          detail: 'empty body',
          body: new Uint8Array(0),
          bodySize: 0,
          truncated: false,
          headers: '{}',
        },
      ];
      await store.commitBatch({ messages: [], heartbeats: [], rejected });
      const listed = await store.listRejected(3);
      assert.deepEqual(
        listed.map((r) => r.brokerMessageId),
        ['ID:rejected-3', 'ID:rejected-2', 'ID:rejected-1'],
        'newest first',
      );
      increasing(listed.map((r) => r.id).reverse());
      for (const [i, r] of [...listed].reverse().entries()) {
        const { id: _id, body, ...rest } = r;
        const { body: expectedBody, ...expectedRest } = rejected[i]!;
        assert.deepEqual(rest, expectedRest);
        assert.ok(body instanceof Uint8Array);
        assert.deepEqual(Buffer.from(body), Buffer.from(expectedBody), `body ${i} byte-exact`);
      }
    });

    it('a rejected body with a broker message-id already stored is not stored twice; null ids are all kept', async () => {
      const r = (brokerMessageId: string | null, detail: string): NewRejected => ({
        brokerMessageId,
        receivedAt: '2026-11-27T14:02:00.000Z',
        queueName: '/topic/epictopic',
        reason: 'bad_json',
        detail,
        body: Buffer.from('not json'),
        bodySize: 8,
        truncated: false,
        headers: '{}',
      });
      const countBefore = (await store.listRejected(1000)).length;
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [r('ID:rejected-dup', 'first'), r('ID:rejected-dup', 'same batch')] });
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [r('ID:rejected-dup', 'redelivered')] });
      await store.commitBatch({ messages: [], heartbeats: [], rejected: [r(null, 'no id 1'), r(null, 'no id 2')] });
      const all = await store.listRejected(1000);
      assert.equal(all.length, countBefore + 3);
      assert.deepEqual(
        all.filter((x) => x.brokerMessageId === 'ID:rejected-dup').map((x) => x.detail),
        ['first'],
      );
      assert.deepEqual(
        all.filter((x) => x.brokerMessageId === null).map((x) => x.detail),
        ['no id 2', 'no id 1'],
      );
      assert.equal((await store.listRejected(2)).length, 2, 'limit');
    });

    it('messages, heartbeats and rejected bodies of one batch commit together', async () => {
      const from = await highWater();
      const m = message();
      const result = await store.commitBatch({
        messages: [m],
        heartbeats: [heartbeat('agent-mixed', 'OK', T0)],
        rejected: [
          {
            brokerMessageId: 'ID:rejected-mixed',
            receivedAt: T0,
            queueName: '/topic/epictopic',
            reason: 'not_object',
            detail: 'JSON number, not an object',
            body: Buffer.from('42'),
            bodySize: 2,
            truncated: false,
            headers: '{}',
          },
        ],
      });
      increasing(result);
      assert.deepEqual(
        (await store.messagesAfter(from, 10)).map((x) => x.brokerMessageId),
        [m.brokerMessageId],
      );
      assert.ok((await store.listAgents()).some((a) => a.name === 'agent-mixed'));
      assert.equal((await store.listRejected(1))[0]?.brokerMessageId, 'ID:rejected-mixed');
    });

    describe('users and tokens', () => {
      it('createUser / findUser; a taken username throws', async () => {
        const alice = await store.createUser('alice');
        assert.match(alice.id, /^\d+$/);
        assert.deepEqual(alice, { id: alice.id, username: 'alice', isActive: true, passwordHash: null });
        assert.deepEqual(await store.findUser('alice'), alice);
        assert.equal(await store.findUser('nobody'), undefined);
        assert.equal(await store.findUser('ALICE'), undefined, 'usernames are case-sensitive');
        await assert.rejects(store.createUser('alice'));
        const bob = await store.createUser('bob');
        assert.notEqual(bob.id, alice.id);
      });

      it('insertToken / findTokenByPrefix / listTokens', async () => {
        const alice = (await store.findUser('alice'))!;
        const bob = (await store.findUser('bob'))!;
        const t1 = await store.insertToken({ userId: alice.id, keyPrefix: 'aaaa1111', keyHash: 'h'.repeat(64), name: 'laptop', canPublish: false });
        const t2 = await store.insertToken({ userId: bob.id, keyPrefix: 'bbbb2222', keyHash: 'g'.repeat(64), name: null, canPublish: true });
        assert.deepEqual(
          { ...t1, createdAt: 'x' },
          {
            id: t1.id,
            userId: alice.id,
            username: 'alice',
            userActive: true,
            keyPrefix: 'aaaa1111',
            keyHash: 'h'.repeat(64),
            name: 'laptop',
            canPublish: false,
            createdAt: 'x',
            revokedAt: null,
            expiresAt: null,
          },
        );
        assert.ok(!Number.isNaN(Date.parse(t1.createdAt)), 'createdAt is a timestamp');
        assert.equal(t2.canPublish, true);
        assert.equal(t2.username, 'bob');
        increasing([t1.id, t2.id]);
        assert.deepEqual(await store.findTokenByPrefix('aaaa1111'), t1);
        assert.deepEqual(await store.findTokenByPrefix('bbbb2222'), t2);
        assert.equal(await store.findTokenByPrefix('zzzz9999'), undefined);
        assert.deepEqual(await store.listTokens(), [t1, t2]);
        await assert.rejects(
          store.insertToken({ userId: alice.id, keyPrefix: 'aaaa1111', keyHash: 'x'.repeat(64), name: null, canPublish: false }),
          'a key prefix is unique',
        );
      });

      it('revokeToken by id and by prefix; twice → false; unknown → false', async () => {
        const [t1, t2] = await store.listTokens();
        assert.ok(t1 && t2);
        assert.equal(await store.revokeToken(t1.id), true);
        assert.equal(await store.revokeToken(t1.id), false);
        assert.equal(await store.revokeToken(t1.keyPrefix), false, 'already revoked, by prefix too');
        const revoked = await store.findTokenByPrefix(t1.keyPrefix);
        assert.ok(revoked?.revokedAt && !Number.isNaN(Date.parse(revoked.revokedAt)));
        assert.equal((await store.findTokenByPrefix(t2.keyPrefix))?.revokedAt, null, 'the other token is untouched');

        assert.equal(await store.revokeToken(t2.keyPrefix), true);
        assert.equal(await store.revokeToken(t2.keyPrefix), false);
        assert.equal(await store.revokeToken(t2.id), false);
        assert.notEqual((await store.findTokenByPrefix(t2.keyPrefix))?.revokedAt, null);

        assert.equal(await store.revokeToken('nope'), false);
        assert.equal(await store.revokeToken('424242'), false);
        assert.equal((await store.listTokens()).length, 2, 'revoked tokens stay listed');
      });

      it('revokeToken of a number too large to be an id is false, not an error', async () => {
        assert.equal(await store.revokeToken('99999999999999999999'), false);
      });
    });

    describe('passwords and sessions', () => {
      it('setPassword stores the hash on the user; false for an unknown user', async () => {
        await store.createUser('sess-user');
        assert.equal(await store.setPassword('sess-user', 'scrypt$1$2$3$salt$hash'), true);
        assert.equal((await store.findUser('sess-user'))?.passwordHash, 'scrypt$1$2$3$salt$hash');
        assert.equal(await store.setPassword('nobody-here', 'x'), false);
      });

      it('a session is found by its hash with its user; revoking works once', async () => {
        const user = (await store.findUser('sess-user'))!;
        const expiresAt = '2030-01-01T00:00:00.000Z';
        await store.insertSession({ idHash: 'hash-1', userId: user.id, expiresAt });
        assert.deepEqual(await store.findSession('hash-1'), { userId: user.id, username: 'sess-user', userActive: true, expiresAt, revokedAt: null });
        assert.equal(await store.findSession('hash-unknown'), undefined);
        assert.equal(await store.revokeSession('hash-1'), true);
        assert.equal(await store.revokeSession('hash-1'), false);
        assert.match((await store.findSession('hash-1'))!.revokedAt ?? '', /^\d{4}-/);
      });
    });

    describe('subscribers', () => {
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
  });
}
