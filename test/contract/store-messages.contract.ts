// The MessageStore contract: what ingestion writes (commitBatch) and replay and history read back.
// Three suites, each on its own fresh store: messages and agents (here), replaySkip, rejected bodies.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { matches, parseFilters } from '../../src/model/filter.js';
import { StaleWriterError, type MessageStore, type StoredMessage } from '../../src/store/store.js';
import { big, heartbeat, increasing, messageHelpers, suiteStore, T0, type OpenStore } from './store-fixtures.js';
import { rejectedSuite } from './store-messages-rejected.contract.js';
import { replaySkipSuite } from './store-messages-replay.contract.js';
import { messageBytesSuite } from './store-messages-bytes.contract.js';

/** Runs the MessageStore contract; `open()` must give a fresh, migrated store on every call. */
export function messageStoreContract(name: string, open: OpenStore<MessageStore>): void {
  describe(`MessageStore contract: ${name}`, () => {
    describe('messages and agents', () => {
      const suite = suiteStore(open);
      let store: MessageStore;
      const { message, commitMessages, highWater } = messageHelpers(() => store);

      before(async () => {
        store = suite.store;
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

      it('fencing: claimWriter epochs increase; a batch of an older epoch is refused whole, the newest commits', async () => {
        const first = await store.claimWriter();
        const second = await store.claimWriter();
        assert.ok(Number.isInteger(first) && second > first, `epochs ${first} then ${second}`);
        const from = await highWater();
        const agentsBefore = await store.listAgents();
        const stale = store.commitBatch({ messages: [message(), message()], heartbeats: [heartbeat('fenced-agent', 'OK', T0)], rejected: [], writerEpoch: first });
        await assert.rejects(stale, (err: Error) => err instanceof StaleWriterError && err.epoch === first);
        assert.deepEqual(await store.messagesAfter(from, 10), [], 'nothing of the stale batch is stored');
        assert.deepEqual(await store.listAgents(), agentsBefore, 'not even its heartbeat');
        const ids = increasing(await store.commitBatch({ messages: [message()], heartbeats: [], rejected: [], writerEpoch: second }));
        assert.equal((await store.messagesAfter(from, 10)).map((m) => m.id).join(), ids.join());
        // A batch without an epoch (one process, no lease) is not fenced.
        increasing(await commitMessages([message()]));
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

      it('maxMessageId is the highest id, also after a batch of only duplicates', async () => {
        const [a, b] = increasing(await commitMessages([message(), message()]));
        assert.ok(a);
        assert.equal(await store.maxMessageId(), b);
        const [dup] = await store.messagesAfter(a, 1);
        assert.deepEqual(await commitMessages([{ ...message(), brokerMessageId: dup!.brokerMessageId }]), [null]);
        assert.equal(await store.maxMessageId(), b);
      });

      it('idOfBrokerMessage finds the id a broker message-id was stored under; null for one never stored', async () => {
        const first = message();
        const [id] = increasing(await commitMessages([first]));
        assert.equal(await store.idOfBrokerMessage(first.brokerMessageId), id);
        // A repeat is refused (null) but the first id stays findable: what an idempotent retry answers with.
        assert.deepEqual(await commitMessages([{ ...message(), brokerMessageId: first.brokerMessageId }]), [null]);
        assert.equal(await store.idOfBrokerMessage(first.brokerMessageId), id);
        assert.equal(await store.idOfBrokerMessage('ID:never-stored'), null);
      });

      it('prunedThrough reads the retention mark from relay_state', async () => {
        assert.equal(await store.prunedThrough(), '0');
        await suite.opened.query("insert into relay_state (key, value) values ('pruned_through_id', '42') returning key");
        try {
          assert.equal(await store.prunedThrough(), '42');
        } finally {
          await suite.opened.query("delete from relay_state where key = 'pruned_through_id' returning key");
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
        const rows = await suite.opened.query("select first_seen, last_heartbeat from agents where name = 'agent-hb-1'");
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
    });

    replaySkipSuite(open);
    messageBytesSuite(open);
    rejectedSuite(open);
  });
}
