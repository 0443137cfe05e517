// Operability against a real broker and the relay as a process, on SQLite and PostgreSQL:
// exact metrics after a scripted sequence, readiness that follows the broker, history paging,
// HTTP publish, agents, subscribers, and no token in any log line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { makeToken, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const relayed = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event));

/** The value of one sample of the scraped text: `name` with exactly these labels besides `process`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries((match[3] ?? '').split(',').filter(Boolean).map((kv) => {
      const [k, v] = kv.split('=');
      return [k!, JSON.parse(v!) as string];
    }));
    delete found.process;
    if (JSON.stringify(Object.entries(found).sort()) === JSON.stringify(Object.entries(labels).sort())) return Number(match[4]);
  }
  return undefined;
}

interface HistoryPage {
  results: { id: string; msg_type: string; run_id: string | null; sent_at: string; message: Record<string, unknown> }[];
  next: string | null;
}

for (const storeKind of ['sqlite', 'postgres'] as const) {
  describe(`operability (${storeKind})`, () => {
    let broker: PrivateBroker;
    let relay: RelayProcess;
    let publisher: Publisher;
    let token: string;
    let publishToken: string;
    let dir: string;
    let pgDatabase: TestDatabase | undefined;
    let env: Record<string, string>;
    const topic = `/topic/ops-${storeKind}-${process.pid}`;
    const streams: SseStream[] = [];
    const auth = () => ({ Authorization: `Token ${token}` });
    const get = async (path: string, headers: Record<string, string> = auth()) => fetch(`${relay.url}${path}`, { headers });

    const open = async (query = '') => {
      const stream = await openStream(`${relay.url}/api/messages/stream/${query}`, auth());
      streams.push(stream);
      await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
      return stream;
    };
    const clientIdOf = (stream: SseStream) => JSON.parse(stream.events().find((e) => e.event === 'connected')!.data).client_id as string;
    const streamIds = async () => ((await (await get('/api/messages/stream/status/')).json()) as { client_ids: string[] }).client_ids;
    const send = (body: string, wait = true) => (wait ? publisher.sendAndWait(topic, body, { persistent: 'true' }) : publisher.send(topic, body, { persistent: 'true' }));

    before(async () => {
      broker = await startActiveMQ();
      dir = mkdtempSync(join(tmpdir(), 'swf-relay-ops-'));
      if (storeKind === 'postgres') pgDatabase = await createTestDatabase();
      env = {
        DATABASE_URL: pgDatabase ? pgDatabase.url : `sqlite:${join(dir, 'relay.db')}`,
        ACTIVEMQ_PORT: String(broker.port),
        ACTIVEMQ_HEARTBEAT_TOPIC: topic,
        ACTIVEMQ_CLIENT_ID: `ops-${storeKind}-${process.pid}`,
        ACTIVEMQ_HEARTBEAT_MS: '2000',
        LOG_LEVEL: 'debug',
      };
      token = await makeToken(env);
      const store = await openStoreOf(env);
      publishToken = (await createToken(store, 'publisher', { createUser: true, canPublish: true })).key;
      await store.close();
      relay = await startRelay(env, { waitForBroker: token });
      publisher = await connectPublisher(broker.host, broker.port);
    });

    after(async () => {
      for (const s of streams) s.close();
      await publisher?.close().catch(() => {});
      const output = relay?.output() ?? '';
      await relay?.stop();
      await broker?.stop();
      await pgDatabase?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
      // Debug-level logs of the whole run never carry a key.
      assert.ok(output.length > 0);
      for (const key of [token, publishToken]) assert.ok(!output.includes(key), 'a token appeared in the logs');
    });

    test('metrics after a scripted sequence: exact counter values', async () => {
      const clients = [await open(), await open(), await open()];
      for (let i = 0; i < 9; i++) await send(JSON.stringify({ msg_type: 'metrics_test', seq: i }));
      await send('{"msg_type": not json');
      for (const client of clients) await client.waitFor((e) => relayed(e).length === 9);
      clients[2]!.close();
      await waitUntil(async () => ((await (await get('/api/messages/stream/status/')).json()) as { connected_clients: number }).connected_clients === 2, 'a client to leave');

      // The rejected body was sent last: once it is counted, everything before it has been handled.
      await waitUntil(async () => sample(await (await fetch(`${relay.url}/metrics`)).text(), 'swf_relay_messages_rejected_total', { reason: 'bad_json' }) === 1, 'the rejection to be counted');
      const res = await fetch(`${relay.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      const expect: [string, Record<string, string>, number][] = [
        ['swf_relay_clients_connected', {}, 2],
        ['swf_relay_messages_received_total', {}, 10],
        ['swf_relay_events_ingested_total', {}, 9],
        ['swf_relay_messages_rejected_total', { reason: 'bad_json' }, 1],
        ['swf_relay_duplicates_total', {}, 0],
        ['swf_relay_events_relayed_total', {}, 9],
        ['swf_relay_events_delivered_total', {}, 27],
        ['swf_relay_events_dropped_total', {}, 0],
        ['swf_relay_replays_total', {}, 0],
        ['swf_relay_broker_connected', {}, 1],
        ['swf_relay_broker_reconnects_total', {}, 0],
      ];
      for (const [name, labels, value] of expect) assert.equal(sample(text, name, labels), value, `${name}${JSON.stringify(labels)}`);
      assert.ok(sample(text, 'swf_relay_store_commit_seconds_count')! >= 1);
      assert.ok(sample(text, 'swf_relay_delivery_latency_seconds_count')! >= 3, 'latency observed per socket write');
      assert.ok(sample(text, 'process_resident_memory_bytes')! > 0);

      // A replay is counted with its events.
      const lastId = relayed(clients[0]!.events()).at(-1)!.id!;
      const replaying = await openStream(`${relay.url}/api/messages/stream/?msg_types=metrics_test&last_event_id=${Number(lastId) - 3}`, auth());
      streams.push(replaying);
      await replaying.waitFor((e) => relayed(e).length === 3);
      await waitUntil(async () => sample(await (await fetch(`${relay.url}/metrics`)).text(), 'swf_relay_replayed_events_total') === 3, 'replay metrics');
    });

    test('readyz follows the broker: 503 naming it while it is down, 200 when it is back', async () => {
      const ready = await fetch(`${relay.url}/readyz`, { headers: auth() });
      assert.equal(ready.status, 200);
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { store: 'ok', bus: 'ok', broker: 'ok' });
      assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);

      await publisher.close().catch(() => {});
      await broker.halt();
      let body: { detail: string; failing: string[] } | undefined;
      await waitUntil(async () => {
        const res = await fetch(`${relay.url}/readyz`, { headers: auth() });
        if (res.status !== 503) return false;
        body = (await res.json()) as { detail: string; failing: string[] };
        return true;
      }, 'readyz to fail', relay.output, 30_000);
      assert.deepEqual(body!.failing, ['broker']);
      assert.match(body!.detail, /broker/);
      assert.equal((await fetch(`${relay.url}/healthz`)).status, 200, 'still alive');

      await broker.restart();
      publisher = await connectPublisher(broker.host, broker.port);
      await waitUntil(async () => (await fetch(`${relay.url}/readyz`)).status === 200, 'readyz to recover', relay.output, 60_000);
    });

    test('history: filters, both cursors, limits, time range; 10,000 messages paged without gap or duplicate', async () => {
      const total = 10_000;
      for (let i = 0; i < total; i++) send(JSON.stringify({ msg_type: 'hist', seq: i, run_id: i % 2 === 0 ? 'even' : 'odd' }), i === total - 1);
      await send(JSON.stringify({ msg_type: 'hist_end' }));
      await waitUntil(async () => {
        const page = (await (await get('/api/messages/?msg_types=hist_end')).json()) as HistoryPage;
        return page.results.length === 1;
      }, 'all history messages stored', relay.output, 60_000);

      const pageAll = async (first: string) => {
        const seen: HistoryPage['results'] = [];
        let pages = 0;
        for (let path: string | null = first; path !== null; pages++) {
          const res = await get(path);
          assert.equal(res.status, 200, path);
          const page = (await res.json()) as HistoryPage;
          seen.push(...page.results);
          path = page.next;
        }
        return { seen, pages };
      };
      const newest = await pageAll('/api/messages/?msg_types=hist&limit=1000');
      assert.equal(newest.seen.length, total);
      assert.equal(newest.pages, 11, '10 full pages, then an empty one');
      const down = newest.seen.map((m) => Number(m.id));
      for (let i = 1; i < down.length; i++) assert.ok(down[i]! < down[i - 1]!, 'newest first, strictly');
      assert.deepEqual(newest.seen.map((m) => m.message.seq), Array.from({ length: total }, (_, i) => total - 1 - i));

      const oldest = await pageAll(`/api/messages/?msg_types=hist&limit=1000&after_id=0`);
      assert.deepEqual(oldest.seen.map((m) => Number(m.id)), [...down].reverse(), 'after_id pages the same rows oldest first');

      const even = await pageAll('/api/messages/?msg_types=hist&run_ids=even&limit=1000');
      assert.equal(even.seen.length, total / 2);
      assert.ok(even.seen.every((m) => m.run_id === 'even'));

      const middle = newest.seen[total / 2]!;
      const before = (await (await get(`/api/messages/?msg_types=hist&before_id=${middle.id}&limit=5`)).json()) as HistoryPage;
      assert.deepEqual(before.results.map((m) => Number(m.id)), [1, 2, 3, 4, 5].map((k) => Number(middle.id) - k));
      const since = (await (await get(`/api/messages/?msg_types=hist&since=${encodeURIComponent(newest.seen[0]!.sent_at)}&limit=1000`)).json()) as HistoryPage;
      assert.ok(since.results.length >= 1 && since.results.every((m) => m.sent_at >= newest.seen[0]!.sent_at));
      const until = (await (await get(`/api/messages/?msg_types=hist&until=${encodeURIComponent(oldest.seen[0]!.sent_at)}`)).json()) as HistoryPage;
      assert.equal(until.results.length, 0, 'until is exclusive');

      for (const [query, param] of [
        ['limit=1001', 'limit'],
        ['limit=0', 'limit'],
        ['after_id=abc', 'after_id'],
        ['before_id=-1', 'before_id'],
        ['since=yesterday', 'since'],
        [`run_ids=${'x'.repeat(201)}`, 'run_ids'],
      ]) {
        const res = await get(`/api/messages/?${query}`);
        assert.equal(res.status, 400, query);
        assert.equal(((await res.json()) as { param: string }).param, param);
      }
      assert.equal((await get('/api/messages/', {})).status, 401);
    });

    test('HTTP publish: stored and relayed; 403 without the right, 400 invalid, 413 oversize', async () => {
      const stream = await open('?msg_types=http_pub');
      const post = (body: string | Buffer, key = publishToken) =>
        fetch(`${relay.url}/api/messages/`, {
          method: 'POST',
          headers: { Authorization: `Token ${key}`, 'Content-Type': 'application/json' },
          body: typeof body === 'string' ? body : new Uint8Array(body),
        });
      const ok = await post(JSON.stringify({ msg_type: 'http_pub', run_id: 7, sender: 'http-agent', note: 'ünï' }));
      assert.equal(ok.status, 201);
      const { id } = (await ok.json()) as { id: string };
      const [event] = relayed(await stream.waitFor((e) => relayed(e).length === 1));
      assert.equal(event!.id, id);
      const payload = JSON.parse(event!.data) as Record<string, unknown>;
      assert.equal(payload.note, 'ünï');
      assert.equal(payload.sender_agent, 'http-agent');
      assert.equal(payload.queue_name, 'http');

      const forbidden = await post(JSON.stringify({ msg_type: 'http_pub' }), token);
      assert.equal(forbidden.status, 403);
      assert.ok(((await forbidden.json()) as { detail: string }).detail);
      const invalid: [string, string][] = [
        ['not json', 'bad_json'],
        ['{"msg_type": ""}', 'invalid_workflow'],
        ['[1,2]', 'not_object'],
        ['{"agent_name":"a","status":"OK"}', 'not_workflow'],
        ['', 'empty'],
      ];
      for (const [body, reason] of invalid) {
        const res = await post(body);
        assert.equal(res.status, 400, body);
        const detail = (await res.json()) as { detail: string; reason: string };
        assert.equal(detail.reason, reason, body);
      }
      const big = await post(Buffer.from(JSON.stringify({ msg_type: 'http_pub', pad: 'x'.repeat(1024 * 1024) })));
      assert.equal(big.status, 413);
      assert.ok(((await big.json()) as { detail: string }).detail);
      // Posted last and relayed in order: once it is on the stream, anything accepted before it would be too.
      const marker = await post(JSON.stringify({ msg_type: 'http_pub', note: 'marker' }));
      assert.equal(marker.status, 201);
      const { id: markerId } = (await marker.json()) as { id: string };
      const all = relayed(await stream.waitFor((e) => relayed(e).some((x) => x.id === markerId)));
      assert.deepEqual(all.map((e) => e.id), [id, markerId], 'nothing invalid was relayed');
    });

    test('agents and subscribers', async () => {
      await send(JSON.stringify({ agent_name: 'ops-agent-1', status: 'OK', agent_type: 'daqsim', namespace: 'ops' }));
      await waitUntil(async () => {
        const body = (await (await get('/api/agents/')).json()) as { results: { name: string }[] };
        return body.results.some((a) => a.name === 'ops-agent-1');
      }, 'the agent to be known');
      const agents = (await (await get('/api/agents/')).json()) as { results: Record<string, unknown>[] };
      const agent = agents.results.find((a) => a.name === 'ops-agent-1')!;
      assert.equal(agent.status, 'OK');
      assert.equal(agent.agent_type, 'daqsim');
      assert.equal(typeof agent.seconds_since_heartbeat, 'number');

      type Subscribers = { results: Record<string, unknown>[] };
      // An open is recorded before the stream's first frame is sent: listed at once.
      const mine = await open('?run_ids=subscriber-check');
      const clientId = clientIdOf(mine);
      const subscribers = (await (await get('/api/subscribers/?active=true')).json()) as Subscribers;
      const row = subscribers.results.find((s) => s.client_id === clientId)!;
      assert.ok(row, 'the open stream is listed');
      assert.equal(row.user, 'tester');
      assert.equal(row.is_active, true);
      assert.deepEqual(row.filters, { msg_types: [], agents: [], run_ids: ['subscriber-check'], namespaces: [] });

      // A past subscriber of this test's own, not one an earlier test may have left.
      const past = await open('?run_ids=subscriber-past');
      const pastId = clientIdOf(past);
      past.close();
      // The server learns of the close asynchronously: wait until it reports the stream gone.
      // From then on it must list it as past, whether or not its periodic flush has run.
      await waitUntil(async () => !(await streamIds()).includes(pastId), 'the server to see the stream close');
      const all = (await (await get('/api/subscribers/?limit=1000')).json()) as Subscribers;
      const pastRow = all.results.find((s) => s.client_id === pastId)!;
      assert.ok(pastRow, 'past subscribers are listed too');
      assert.equal(pastRow.is_active, false);
      assert.match(String(pastRow.disconnected_at), /^\d{4}-\d\d-\d\dT/);
      assert.equal(all.results.find((s) => s.client_id === clientId)?.is_active, true, 'the open stream is still active');
      const active = (await (await get('/api/subscribers/?active=true')).json()) as Subscribers;
      assert.ok(!active.results.some((s) => s.client_id === pastId), 'a closed stream is not listed as active');
      assert.equal((await get('/api/agents/', {})).status, 401);
    });
  });
}
