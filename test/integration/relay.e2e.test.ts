// End to end: a private ActiveMQ, the relay as a real process (SQLite and PostgreSQL),
// fixtures published over STOMP, and the exact SSE bytes a client receives.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { readBadBodies, readHeartbeatFixtures, readWorkflowFixtures } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { makeToken, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

const WORKFLOW = readWorkflowFixtures();
const HEARTBEATS = readHeartbeatFixtures();
const PERSISTENT = { persistent: 'true', 'content-type': 'application/json' };

/** Events of a stream that carry a relayed message (not the relay's own control events). */
const relayed = (events: SseEvent[]) => events.filter((e) => !['connected', 'heartbeat', 'gap', 'shutdown'].includes(e.event));
const payloads = (events: SseEvent[]) => relayed(events).map((e) => JSON.parse(e.data) as Record<string, unknown>);
const fixture = (i: number) => JSON.parse(WORKFLOW[i]!) as Record<string, unknown>;

for (const storeKind of ['sqlite', 'postgres'] as const) {
  describe(`relay end to end (${storeKind})`, () => {
    let broker: PrivateBroker;
    let relay: RelayProcess;
    let publisher: Publisher;
    let token: string;
    let dir: string;
    let pgDatabase: TestDatabase | undefined;
    let env: Record<string, string>;
    const topic = `/topic/e2e-${storeKind}-${process.pid}`;
    const streams: SseStream[] = [];

    const open = async (query = '', headers: Record<string, string> = { Authorization: `Token ${token}` }) => {
      const stream = await openStream(`${relay.url}/api/messages/stream/${query}`, headers);
      streams.push(stream);
      if (stream.status === 200) await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
      return stream;
    };
    const publishAll = async (bodies: (string | Uint8Array)[]) => {
      for (const body of bodies) await publisher.sendAndWait(topic, body, PERSISTENT);
    };

    before(async () => {
      broker = await startActiveMQ();
      dir = mkdtempSync(join(tmpdir(), 'swf-relay-e2e-'));
      if (storeKind === 'postgres') pgDatabase = await createTestDatabase();
      env = {
        DATABASE_URL: pgDatabase ? pgDatabase.url : `sqlite:${join(dir, 'relay.db')}`,
        ACTIVEMQ_PORT: String(broker.port),
        ACTIVEMQ_HEARTBEAT_TOPIC: topic,
        ACTIVEMQ_CLIENT_ID: `e2e-${storeKind}-${process.pid}`,
        SSE_HEARTBEAT_SECONDS: '1',
      };
      token = await makeToken(env);
      relay = await startRelay(env, { waitForBroker: token });
      publisher = await connectPublisher(broker.host, broker.port);
    });

    after(async () => {
      for (const s of streams) s.close();
      await publisher?.close();
      await relay?.stop();
      await broker?.stop();
      await pgDatabase?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('401 JSON without a token, with a bad token, with a revoked-looking key', async () => {
      const cases: Record<string, string>[] = [{}, { Authorization: 'Token not-a-real-key-at-all' }, { Authorization: 'Basic abc' }];
      for (const headers of cases) {
        const stream = await open('', headers);
        assert.equal(stream.status, 401);
        assert.match(String(stream.headers['content-type']), /application\/json/);
        const body = JSON.parse(await stream.body()) as { detail: string };
        assert.equal(typeof body.detail, 'string');
        assert.ok(body.detail.length > 0);
      }
      const status = await fetch(`${relay.url}/api/messages/stream/status/`);
      assert.equal(status.status, 401);
    });

    test('400 JSON naming the parameter on bad filters and a malformed Last-Event-ID', async () => {
      const cases: [string, string][] = [
        [`?run_ids=${'x'.repeat(201)}`, 'run_ids'],
        [`?msg_types=${Array.from({ length: 101 }, (_, i) => `t${i}`).join(',')}`, 'msg_types'],
        ['?agents=a%0Ab', 'agents'],
        ['?namespaces=ns%07', 'namespaces'],
        ['?last_event_id=abc', 'last_event_id'],
      ];
      for (const [query, param] of cases) {
        const stream = await open(query);
        assert.equal(stream.status, 400, query);
        const body = JSON.parse(await stream.body()) as { detail: string; param: string };
        assert.equal(body.param, param, query);
        assert.match(body.detail, new RegExp(param));
      }
    });

    test('fixtures reach clients as the SPEC frames, each filter selecting exactly its messages', async () => {
      const all = await open();
      assert.equal(all.status, 200);
      assert.equal(all.headers['content-type'], 'text/event-stream');
      assert.equal(all.headers['cache-control'], 'no-cache');
      assert.equal(all.headers['x-accel-buffering'], 'no');
      // The stream opens with one block: retry together with the connected event (never a data-less block).
      assert.match(all.raw(), /^retry: 3000\nevent: connected\ndata: \{"client_id":"[0-9a-f-]{36}","status":"connected","last_event_id":null\}\n\n/);

      // Which fixture lines (by index) each filter must deliver.
      const expectations: [string, number[]][] = [
        ['?run_ids=100042', [0, 1, 2, 3, 4, 5, 6, 7, 8]],
        ['?msg_types=stf_gen', [2, 3, 12, 13]],
        ['?agents=processing-agent-torre-2', [5]],
        ['?agents=sse_sender-agent-wenaus-1', [9]],
        ['?agents=data-agent-torre-3,daqsim-agent-kim-1', [4, 12]],
        ['?namespaces=epicprod', [10, 11]],
        ['?msg_types=stf_gen&run_ids=100043,100044', [12, 13]],
        ['?msg_types=stf_gen&namespaces=torre-dev', [2, 3]],
        ['?msg_types=pause_run&msg_types=resume_run', [6, 7]],
        ['?run_ids=%20test-run-001%20,', [9]],
      ];
      const filtered = await Promise.all(expectations.map(([query]) => open(query)));
      const heartbeatsOnly = await open('?msg_types=agent_status');
      const oneAgentStatus = await open('?msg_types=agent_status&agents=data-agent-torre-3');

      await publishAll([...HEARTBEATS, ...WORKFLOW]);

      const events = relayed(await all.waitFor((e) => relayed(e).length === WORKFLOW.length));
      // Event names, increasing ids, full payloads with enrichment.
      assert.deepEqual(events.map((e) => e.event), WORKFLOW.map((_, i) => fixture(i).msg_type));
      const ids = events.map((e) => Number(e.id));
      for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ids increase: ${ids.join(',')}`);
      const got = payloads(events);
      got.forEach((payload, i) => {
        const original = fixture(i);
        for (const [key, value] of Object.entries(original)) assert.deepEqual(payload[key], value, `fixture ${i} key ${key} kept`);
        assert.equal(payload.sender_agent, original.sender_agent ?? original.sender ?? null);
        assert.equal(payload.recipient_agent, original.recipient ?? null);
        assert.equal(payload.namespace, original.namespace ?? null);
        assert.equal(payload.queue_name, original.queue_name ?? topic);
        if (original.sent_at === undefined) assert.match(String(payload.sent_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      });
      // Sender-set enrichment keys are never overwritten.
      assert.equal(got[12]!.sent_at, '2026-11-27T15:00:00Z');
      assert.equal(got[12]!.queue_name, '/topic/custom');
      // Multi-byte text survives byte-exact, in the raw stream too.
      assert.equal(got[13]!.namespace, 'ünïcode-ns');
      assert.ok(all.raw().includes('"filename":"データ.stf"'));
      assert.ok(all.raw().includes('"sender":"agent-日本-1"'));
      // Heartbeat bodies never reach a client that did not ask for agent_status.
      assert.ok(!all.events().some((e) => e.event === 'agent_status'));

      for (const [n, [query, expected]] of expectations.entries()) {
        const stream = filtered[n]!;
        const want = expected.map((i) => fixture(i).msg_type);
        const received = relayed(await stream.waitFor((e) => relayed(e).length >= expected.length));
        assert.deepEqual(received.map((e) => e.event), want, query);
        assert.deepEqual(
          received.map((e) => e.id),
          expected.map((i) => events[i]!.id),
          `${query}: same ids as the unfiltered stream`,
        );
      }
      const statuses = relayed(await heartbeatsOnly.waitFor((e) => relayed(e).length >= HEARTBEATS.length));
      assert.deepEqual(statuses.map((e) => JSON.parse(e.data).agent_name), HEARTBEATS.map((h) => JSON.parse(h).agent_name));
      assert.ok(statuses.every((e) => e.event === 'agent_status' && e.id === undefined));
      const one = relayed(await oneAgentStatus.waitFor((e) => relayed(e).length >= 1));
      assert.equal(JSON.parse(one[0]!.data).agent_name, 'data-agent-torre-3');

      // A marker published last proves nothing more was on its way to the filtered streams.
      const marker = JSON.stringify({ msg_type: 'marker', run_id: 100042, namespace: 'epicprod', sender: 'data-agent-torre-3' });
      await publishAll([marker]);
      await all.waitFor((e) => relayed(e).some((x) => x.event === 'marker'));
      await new Promise((r) => setTimeout(r, 300));
      for (const [n, [query, expected]] of expectations.entries()) {
        const extra = relayed(filtered[n]!.events()).filter((e) => e.event !== 'marker');
        assert.equal(extra.length, expected.length, `${query} received exactly its messages`);
      }
      assert.equal(relayed(oneAgentStatus.events()).length, 1);

      // Agents were upserted from the heartbeats.
      const store = await openStoreOf(env);
      try {
        const agents = await store.listAgents();
        assert.deepEqual(agents.map((a) => `${a.name}=${a.status}`).sort(), HEARTBEATS.map((h) => `${JSON.parse(h).agent_name}=${JSON.parse(h).status}`).sort());
      } finally {
        await store.close();
      }
    });

    test('heartbeat events at the configured interval', async () => {
      const stream = await open('?msg_types=nothing-matches');
      const events = await stream.waitFor((e) => e.filter((x) => x.event === 'heartbeat').length >= 2, 5000);
      const beat = events.find((e) => e.event === 'heartbeat')!;
      const body = JSON.parse(beat.data) as { timestamp: number };
      assert.equal(typeof body.timestamp, 'number');
      assert.ok(Math.abs(body.timestamp - Date.now() / 1000) < 30, 'UNIX seconds, not ms');
      assert.match(stream.raw(), /event: heartbeat\ndata: \{"timestamp":\d+(\.\d+)?\}\n\n/);
    });

    test('every bad body lands in the rejected store; the relay keeps going', async () => {
      const stream = await open('?msg_types=after_bad');
      const bad = readBadBodies();
      await publishAll(bad.map((b) => b.body));
      await publishAll([JSON.stringify({ msg_type: 'after_bad', note: 'sent after every bad body' })]);
      const events = relayed(await stream.waitFor((e) => relayed(e).length >= 1));
      assert.equal(JSON.parse(events[0]!.data).note, 'sent after every bad body');
      assert.ok(relay.alive());

      const store = await openStoreOf(env);
      try {
        const rejected = await store.listRejected(1000);
        assert.equal(rejected.length, bad.length, 'one rejected row per bad body');
        for (const { label, body } of bad) {
          const row = rejected.find((r) => r.bodySize === body.byteLength && Buffer.from(body.subarray(0, r.body.byteLength)).equals(Buffer.from(r.body)));
          assert.ok(row, `rejected row for ${label}`);
          assert.ok(row.reason.length > 0 && row.detail.length > 0);
          assert.equal(row.queueName, topic);
          assert.ok(JSON.parse(row.headers)['message-id'], 'broker headers kept');
        }
        const big = rejected.find((r) => r.reason === 'too_large');
        assert.ok(big && big.truncated && big.body.byteLength === 1024 * 1024 && big.bodySize === 2_000_000);
        // The frame-injection attempt was rejected, so no client ever saw an injected event.
        assert.ok(!stream.raw().includes('injected'));
      } finally {
        await store.close();
      }
    });

    test('status lists clients with the old relay keys and the broker state', async () => {
      const mine = await open('?run_ids=status-check&msg_types=a,b');
      const res = await fetch(`${relay.url}/api/messages/stream/status/`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      const status = (await res.json()) as Record<string, any>;
      const id = JSON.parse(mine.events().find((e) => e.event === 'connected')!.data).client_id as string;
      assert.equal(status.connected_clients, status.client_ids.length);
      assert.ok(status.client_ids.includes(id));
      assert.deepEqual(status.client_filters[id], { msg_types: ['a', 'b'], agents: [], run_ids: ['status-check'], namespaces: [] });
      const client = status.clients.find((c: { client_id: string }) => c.client_id === id);
      for (const key of ['user', 'remote_addr', 'connected_at', 'filters', 'events_sent', 'events_dropped', 'queue_depth', 'process']) {
        assert.ok(key in client, `client key ${key}`);
      }
      assert.equal(client.user, 'tester');
      assert.equal(status.broker.state, 'connected');
      assert.equal(status.bus.kind, 'memory');
      assert.match(String(status.last_message_at), /^\d{4}-/);
    });

    test('messages published while the relay is down are stored once it is back (durable subscription)', async () => {
      const before = await countMessages(env);
      assert.equal(await relay.stop('SIGTERM'), 0, 'graceful exit code');
      const during = Array.from({ length: 20 }, (_, i) => JSON.stringify({ msg_type: 'while_down', seq: i }));
      await publishAll(during);
      relay = await startRelay(env, { waitForBroker: token });
      await waitUntil(async () => (await countMessages(env)) === before + during.length, 'the 20 messages to be stored', relay.output);
      const store = await openStoreOf(env);
      try {
        const stored = (await store.messagesAfter('0', 100_000)).filter((m) => m.fields.msgType === 'while_down');
        assert.deepEqual(stored.map((m) => JSON.parse(m.content).seq), during.map((_, i) => i));
      } finally {
        await store.close();
      }
      // And the restarted relay still relays live.
      const stream = await open('?msg_types=after_restart');
      await publishAll([JSON.stringify({ msg_type: 'after_restart' })]);
      await stream.waitFor((e) => relayed(e).length === 1);
    });
  });
}

async function countMessages(env: Record<string, string>): Promise<number> {
  const store = await openStoreOf(env);
  try {
    return (await store.messagesAfter('0', 1_000_000)).length;
  } finally {
    await store.close();
  }
}
