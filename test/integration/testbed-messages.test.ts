// Issue 13: the messages the testbed's agents really send (test/fixtures/testbed-messages.jsonl:
// nulls, nested objects, booleans, a panda_id beyond 2^53, msg_type + agent_name/status),
// published over STOMP as the agents publish them — no `persistent` header (stomp.py's
// default), some with `msg_type`/`namespace`/`run_id`/`vo` headers — through a private
// ActiveMQ to the relay as a real process, on SQLite and PostgreSQL. Each must be stored once,
// reach the filtered streams that match it with its content exact (digits of big integers
// included: compared as text and with a lossless parser), and come back exact from history.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { readTestbedFixtures } from '../helpers/fixtures.js';
import { JsonNumber, parseLosslessObject } from '../helpers/lossless-json.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { makeToken, openStoreOf, startRelay, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';
import type { StoredMessage } from '../../src/store/store.js';

const BIG = '9007199254740993';
/** A run number beyond 2^53 in run_id, spaced as Python's json.dumps writes it. */
const BIG_RUN = `{"msg_type": "stf_gen", "namespace": "torre-dev", "run_id": ${BIG}, "filename": "swf.${BIG}.000001.stf", "sender": "daqsim-agent-torre-7"}`;
/** A pretty-printed body (json.dumps(indent=2)): relayed on one line. */
const PRETTY = `{\n  "msg_type": "stf_gen",\n  "namespace": "torre-dev",\n  "run_id": 100042,\n  "panda_id": ${BIG},\n  "note": "two  spaces",\n  "sender": "daqsim-agent-torre-7"\n}`;
const BODIES = [...readTestbedFixtures(), BIG_RUN, PRETTY];
const ORIGINALS = BODIES.map((b) => parseLosslessObject(b));
const MSG_TYPES = [...new Set(ORIGINALS.map((o) => o.msg_type as string))];
const ENRICH_KEYS = ['sender_agent', 'recipient_agent', 'namespace', 'queue_name', 'sent_at'];
const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);

/** STOMP headers as the agents send them: never `persistent`; on every other body the routing headers some agents add. */
function agentHeaders(i: number): Record<string, string> {
  if (i % 2 === 1) return {};
  const o = ORIGINALS[i]!;
  const headers: Record<string, string> = { msg_type: String(o.msg_type), vo: 'eic' };
  if (typeof o.namespace === 'string') headers.namespace = o.namespace;
  if (o.run_id instanceof JsonNumber) headers.run_id = o.run_id.text;
  return headers;
}

/** What is wrong with a relayed or stored content of body `i`, or null: every key as sent (numbers by their digits), and only SPEC §2's enrichment added. */
function contentProblem(i: number, content: string, topic: string): string | null {
  if (/[\r\n]/.test(content)) return 'content spans lines';
  // One-line bodies are kept byte for byte, the enrichment spliced in before the final brace.
  if (!BODIES[i]!.includes('\n') && !content.startsWith(`${BODIES[i]!.slice(0, -1)},"`)) return `not the received text: ${content}`;
  const original = ORIGINALS[i]!;
  const relayed = parseLosslessObject(content);
  for (const key of Object.keys(original)) {
    try {
      assert.deepStrictEqual(relayed[key], original[key]);
    } catch {
      return `key ${key} changed: ${JSON.stringify(relayed[key])}`;
    }
  }
  const added = Object.keys(relayed).filter((k) => !Object.hasOwn(original, k));
  const expected = ENRICH_KEYS.filter((k) => !Object.hasOwn(original, k));
  if (JSON.stringify(added.sort()) !== JSON.stringify(expected.sort())) return `added keys ${JSON.stringify(added)}, expected ${JSON.stringify(expected)}`;
  if (added.includes('sender_agent') && relayed.sender_agent !== (original.sender ?? null)) return `sender_agent ${String(relayed.sender_agent)}`;
  if (added.includes('queue_name') && relayed.queue_name !== topic) return `queue_name ${String(relayed.queue_name)}`;
  return null;
}

const relayedEvents = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event));

for (const storeKind of ['sqlite', 'postgres'] as const) {
  describe(`testbed messages through ActiveMQ, stored and relayed exactly (${storeKind})`, () => {
    let broker: PrivateBroker;
    let relay: RelayProcess;
    let publisher: Publisher;
    let token: string;
    let dir: string;
    let pgDatabase: TestDatabase | undefined;
    let env: Record<string, string>;
    const topic = `/topic/testbed-${storeKind}-${process.pid}`;
    const streams = new Map<string, SseStream>();
    let stored: StoredMessage[] = [];
    const auth = () => ({ Authorization: `Token ${token}` });

    before(async () => {
      broker = await startActiveMQ();
      dir = mkdtempSync(join(tmpdir(), 'swf-relay-testbed-'));
      if (storeKind === 'postgres') pgDatabase = await createTestDatabase();
      env = {
        DATABASE_URL: pgDatabase ? pgDatabase.url : `sqlite:${join(dir, 'relay.db')}`,
        ACTIVEMQ_PORT: String(broker.port),
        ACTIVEMQ_HEARTBEAT_TOPIC: topic,
        ACTIVEMQ_CLIENT_ID: `testbed-${storeKind}-${process.pid}`,
        SSE_HEARTBEAT_SECONDS: '0',
      };
      token = await makeToken(env);
      relay = await startRelay(env, { waitForBroker: token });
      for (const query of [`?msg_types=${MSG_TYPES.join(',')}`, `?run_ids=${BIG}`, '?namespaces=torre-dev', '?agents=fastmon-agent-torre-1']) {
        const stream = await openStream(`${relay.url}/api/messages/stream/${query}`, auth());
        assert.equal(stream.status, 200, query);
        await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
        streams.set(query, stream);
      }
      publisher = await connectPublisher(broker.host, broker.port);
      for (const [i, body] of BODIES.entries()) await publisher.sendAndWait(topic, body, agentHeaders(i));
      await streams.get(`?msg_types=${MSG_TYPES.join(',')}`)!.waitFor((events) => relayedEvents(events).length >= BODIES.length, 30_000);
      const store = await openStoreOf(env);
      try {
        stored = await store.messagesAfter('0', 1000);
        assert.deepEqual(await store.listRejected(100), [], 'nothing rejected');
      } finally {
        await store.close();
      }
    });

    after(async () => {
      for (const s of streams.values()) s.close();
      await publisher?.close();
      await relay?.stop();
      await broker?.stop();
      await pgDatabase?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('every body is stored exactly once, in publish order, with its content exact and its columns as text', () => {
      assert.equal(stored.length, BODIES.length);
      for (const [i, row] of stored.entries()) {
        assert.equal(contentProblem(i, row.content, topic), null, `body ${i + 1}: ${BODIES[i]}`);
        assert.equal(row.fields.msgType, ORIGINALS[i]!.msg_type);
      }
      const byType = (t: string) => stored.filter((r) => r.fields.msgType === t);
      assert.equal(byType('tf_file_registered')[0]!.fields.executionId, null, 'execution_id: null gives a null column');
      assert.equal(byType('tf_file_registered')[0]!.fields.runId, '100042', 'a numeric run_id is stored as text');
      assert.equal(stored[BODIES.indexOf(BIG_RUN)]!.fields.runId, BIG, 'a run_id beyond 2^53 keeps its digits');
      assert.ok(byType('payload_log_ready')[0]!.content.includes(`"panda_id": ${BIG},`));
    });

    test('a stream filtered on every msg_type gets every body once, in order, data = stored content, one line each', () => {
      const events = relayedEvents(streams.get(`?msg_types=${MSG_TYPES.join(',')}`)!.events());
      assert.equal(events.length, BODIES.length);
      for (const [i, e] of events.entries()) {
        assert.equal(e.event, ORIGINALS[i]!.msg_type);
        assert.equal(e.id, stored[i]!.id);
        assert.equal(e.data, stored[i]!.content, `body ${i + 1}: relayed as stored`);
        assert.equal(contentProblem(i, e.data, topic), null, `body ${i + 1}`);
      }
    });

    test(`run_ids=${BIG} matches the message whose run_id is that integer, live and in history`, async () => {
      // Each stream is its own socket: this one may still be on its way when the all-types stream is complete.
      await streams.get(`?run_ids=${BIG}`)!.waitFor((all) => relayedEvents(all).length >= 1);
      const events = relayedEvents(streams.get(`?run_ids=${BIG}`)!.events());
      assert.deepEqual(events.map((e) => e.data), [stored[BODIES.indexOf(BIG_RUN)]!.content]);
      const res = await fetch(`${relay.url}/api/messages/?run_ids=${BIG}`, { headers: auth() });
      assert.equal(res.status, 200);
      const text = await res.text();
      const results = parseLosslessObject(text).results as Record<string, unknown>[];
      assert.equal(results.length, 1);
      assert.equal(results[0]!.run_id, BIG);
      assert.deepStrictEqual(results[0]!.message, parseLosslessObject(stored[BODIES.indexOf(BIG_RUN)]!.content));
    });

    test('namespace and agent filters select exactly the matching bodies (null namespaces and processed_by match nothing)', async () => {
      const want = (pred: (o: Record<string, unknown>) => boolean) => stored.filter((_, i) => pred(ORIGINALS[i]!)).map((r) => r.content);
      // Waits until the stream has as many events as expected (each stream is its own socket, read on its own), then returns them all.
      const got = async (query: string, expected: readonly string[]) => {
        const all = await streams.get(query)!.waitFor((events) => relayedEvents(events).length >= expected.length);
        return relayedEvents(all).map((e) => e.data);
      };
      const inNamespace = want((o) => o.namespace === 'torre-dev');
      assert.deepEqual(await got('?namespaces=torre-dev', inNamespace), inNamespace);
      assert.ok(inNamespace.length >= 10);
      const byAgent = want((o) => o.sender === 'fastmon-agent-torre-1' || o.processed_by === 'fastmon-agent-torre-1');
      assert.deepEqual(await got('?agents=fastmon-agent-torre-1', byAgent), byAgent);
    });

    test('the history API returns every message exact: the stored content verbatim in its text', async () => {
      const res = await fetch(`${relay.url}/api/messages/?after_id=0&limit=1000`, { headers: auth() });
      assert.equal(res.status, 200);
      assert.match(String(res.headers.get('content-type')), /^application\/json/);
      const text = await res.text();
      const page = parseLosslessObject(text) as { results: Record<string, unknown>[]; next: unknown };
      assert.equal(page.results.length, BODIES.length);
      assert.equal(page.next, null);
      for (const [i, item] of page.results.entries()) {
        assert.ok(text.includes(`"message":${stored[i]!.content}}`), `item ${i + 1} carries the content verbatim`);
        assert.deepStrictEqual(item.message, parseLosslessObject(stored[i]!.content));
        assert.equal(item.id, stored[i]!.id);
      }
    });

    test('the message with msg_type + agent_name + status also updated that agent', async () => {
      const res = await fetch(`${relay.url}/api/agents/`, { headers: auth() });
      const agents = ((await res.json()) as { results: { name: string; status: string; namespace: string | null }[] }).results;
      const agent = agents.find((a) => a.name === 'daqsim-agent-torre-7');
      assert.ok(agent, JSON.stringify(agents));
      assert.equal(agent.status, 'WARNING');
      assert.equal(agent.namespace, 'torre-dev');
    });
  });
}

describe('ActiveMQ Classic: a non-persistent message published while the durable subscriber is away', () => {
  let broker: PrivateBroker;
  let relay: RelayProcess | undefined;
  let publisher: Publisher;
  let dir: string;
  let env: Record<string, string>;
  const topic = `/topic/nonpersistent-${process.pid}`;

  before(async () => {
    broker = await startActiveMQ();
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-nonpersistent-'));
    env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(broker.port),
      ACTIVEMQ_HEARTBEAT_TOPIC: topic,
      ACTIVEMQ_CLIENT_ID: `nonpersistent-${process.pid}`,
      SSE_HEARTBEAT_SECONDS: '0',
    };
    publisher = await connectPublisher(broker.host, broker.port);
  });

  after(async () => {
    await publisher?.close();
    await relay?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('is delivered when the relay returns, after the persistent ones (publish order not kept)', async () => {
    const token = await makeToken(env);
    relay = await startRelay(env, { waitForBroker: token }); // creates the durable subscription
    assert.equal(await relay.stop(), 0);
    relay = undefined;
    const sent: { body: string; headers: Record<string, string> }[] = [
      { body: '{"msg_type": "offline", "n": 1, "execution_id": null}', headers: { persistent: 'true' } },
      { body: '{"msg_type": "offline", "n": 2, "execution_id": null}', headers: {} },
      { body: '{"msg_type": "offline", "n": 3, "execution_id": null}', headers: { persistent: 'true' } },
      { body: '{"msg_type": "offline", "n": 4, "execution_id": null}', headers: {} },
    ];
    for (const m of sent) await publisher.sendAndWait(topic, m.body, m.headers);
    relay = await startRelay(env, { waitForBroker: token });
    const store = await openStoreOf(env);
    try {
      let rows: StoredMessage[] = [];
      for (const deadline = Date.now() + 20_000; rows.length < sent.length && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        rows = await store.messagesAfter('0', 100);
      }
      const order = rows.map((r) => (JSON.parse(r.content) as { n: number }).n);
      assert.deepEqual([...order].sort(), [1, 2, 3, 4], `every message stored once (arrival order ${JSON.stringify(order)})`);
      // As observed on ActiveMQ Classic 5.17: the stored (persistent) backlog is dispatched first, then the non-persistent one.
      assert.deepEqual(order, [1, 3, 2, 4], 'persistent messages first, then the non-persistent ones');
    } finally {
      await store.close();
    }
  });
});
