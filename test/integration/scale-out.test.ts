// Scale-out over Redis Streams with real processes: one listener and two web processes,
// a Redis killed and restarted mid-stream, listener lease takeover, worker processes,
// and the in-memory bus refusing what it cannot do.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startPrivateRedis, sharedRedisUrl, type PrivateRedis } from '../helpers/redis.js';
import { makeToken, openStoreOf, runCli, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const relayed = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event));
const seqs = (events: SseEvent[]) => relayed(events).map((e) => (JSON.parse(e.data) as { seq: number }).seq);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('scale-out over Redis', () => {
  let broker: PrivateBroker;
  let publisher: Publisher;
  let pg: TestDatabase;
  let token: string;
  const processes: RelayProcess[] = [];
  const streams: SseStream[] = [];
  const topic = `/topic/scale-${process.pid}`;

  const baseEnv = (redisUrl: string, group: string) => ({
    DATABASE_URL: pg.url,
    REDIS_URL: redisUrl,
    SSE_CHANNEL_GROUP: group,
    ACTIVEMQ_PORT: String(broker.port),
    ACTIVEMQ_HEARTBEAT_TOPIC: topic,
    ACTIVEMQ_CLIENT_ID: `scale-${group}`,
    ACTIVEMQ_HEARTBEAT_MS: '2000',
    LOG_LEVEL: 'info',
  });
  const launch = async (env: Record<string, string>, command: 'start' | 'listen' | 'serve', args: string[] = []) => {
    const relay = await startRelay(env, { command, args });
    processes.push(relay);
    return relay;
  };
  const open = async (relay: RelayProcess, query: string, headers: Record<string, string> = {}) => {
    const stream = await openStream(`${relay.url}/api/messages/stream/${query}`, { Authorization: `Token ${token}`, ...headers });
    streams.push(stream);
    assert.equal(stream.status, 200);
    await stream.waitFor((e) => e.some((x) => x.event === 'connected'));
    return stream;
  };
  const status = async (relay: RelayProcess) =>
    (await (await fetch(`${relay.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } })).json()) as {
      connected_clients: number;
      client_ids: string[];
      broker: { state: string } | null;
      processes: { process: string; role: string }[];
    };
  const publish = async (msgType: string, from: number, count: number) => {
    for (let seq = from; seq < from + count; seq++) {
      const body = JSON.stringify({ msg_type: msgType, seq });
      if (seq === from + count - 1) await publisher.sendAndWait(topic, body, { persistent: 'true' });
      else publisher.send(topic, body, { persistent: 'true' });
    }
  };

  before(async () => {
    broker = await startActiveMQ();
    pg = await createTestDatabase();
    token = await makeToken({ DATABASE_URL: pg.url });
    publisher = await connectPublisher(broker.host, broker.port);
  });

  after(async () => {
    for (const s of streams) s.close();
    await publisher?.close().catch(() => {});
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await broker?.stop();
    await pg?.drop();
  });

  test('one listener, two web processes: same events, same ids on both; status from either lists every client', async () => {
    const env = baseEnv(await sharedRedisUrl(), `two-web-${randomUUID()}`);
    const listener = await launch(env, 'listen');
    const webA = await launch(env, 'serve');
    const webB = await launch(env, 'serve');
    // Stopped even when a check fails: a listener left running would store the next test's messages
    // in this database under its own group, and that test would wait for events it never relays.
    try {
      await waitUntil(async () => (await status(webA)).broker?.state === 'connected', 'the listener to subscribe (seen from a web process)');
      const onA = [await open(webA, '?msg_types=two_web'), await open(webA, '?run_ids=none')];
      const onB = [await open(webB, '?msg_types=two_web')];

      await publish('two_web', 0, 200);
      const a = relayed(await onA[0]!.waitFor((e) => relayed(e).length === 200));
      const b = relayed(await onB[0]!.waitFor((e) => relayed(e).length === 200));
      assert.deepEqual(seqs(a), range(0, 200));
      assert.deepEqual(b.map((e) => e.id), a.map((e) => e.id), 'the same ids on both processes');
      assert.deepEqual(b.map((e) => e.data), a.map((e) => e.data), 'the same bytes on both processes');

      const clientIds = [...onA, ...onB].map((s) => JSON.parse(s.events()[0]!.data).client_id as string);
      await waitUntil(async () => {
        const [fromA, fromB] = [await status(webA), await status(webB)];
        return [fromA, fromB].every((st) => clientIds.every((id) => st.client_ids.includes(id)));
      }, 'status from either process to list all clients');
      const st = await status(webB);
      assert.equal(st.connected_clients, 3);
      assert.deepEqual(st.processes.map((p) => p.role).sort(), ['listener', 'web', 'web']);

      // HTTP publish on a web-only process goes through the listener (the one writer).
      const store = await openStoreOf({ DATABASE_URL: pg.url });
      const publishKey = (await createToken(store, 'http-publisher', { createUser: true, canPublish: true })).key;
      await store.close();
      const posted = await fetch(`${webB.url}/api/messages/`, {
        method: 'POST',
        headers: { Authorization: `Token ${publishKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ msg_type: 'two_web', seq: 200 }),
      });
      assert.equal(posted.status, 201, await posted.clone().text());
      const { id: postedId } = (await posted.json()) as { id: string };
      for (const s of [onA[0]!, onB[0]!]) {
        const got = relayed(await s.waitFor((e) => relayed(e).length === 201));
        assert.equal(got.at(-1)!.id, postedId, 'relayed with the id the listener assigned');
      }
      const invalid = await fetch(`${webA.url}/api/messages/`, { method: 'POST', headers: { Authorization: `Token ${publishKey}` }, body: '{"msg_type": ""}' });
      assert.equal(invalid.status, 400, 'the listener\'s validation answer comes back');
      assert.equal(((await invalid.json()) as { reason: string }).reason, 'invalid_workflow');

      // A web process can replay too: it reads the shared store.
      const resume = await open(webB, '?msg_types=two_web', { 'Last-Event-ID': a[149]!.id! });
      assert.deepEqual(seqs(await resume.waitFor((e) => relayed(e).length === 51)), range(150, 201));
    } finally {
      for (const p of [listener, webA, webB]) await p.stop();
    }
  });

  test('Redis killed and restarted while messages flow: every client still gets every id, in order, once', async () => {
    const redis: PrivateRedis = await startPrivateRedis();
    try {
      const env = baseEnv(redis.url, `restart-${randomUUID()}`);
      const relay = await launch(env, 'start');
      const web = await launch(env, 'serve');
      await waitUntil(async () => (await status(relay)).broker?.state === 'connected', 'listener subscribed');
      const clients = [await open(relay, '?msg_types=redis_restart'), await open(web, '?msg_types=redis_restart')];
      await publish('redis_restart', 0, 100);
      for (const c of clients) await c.waitFor((e) => relayed(e).length === 100);

      await redis.kill();
      await publish('redis_restart', 100, 100); // stored, but not published while Redis is away
      await new Promise((r) => setTimeout(r, 1500));
      await redis.start();
      await publish('redis_restart', 200, 100);

      for (const c of clients) {
        const events = relayed(await c.waitFor((e) => relayed(e).length >= 300, 60_000));
        assert.deepEqual(seqs(events), range(0, 300), 'every message, in order, once');
        const ids = events.map((e) => Number(e.id));
        for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, 'ids increase');
      }
      for (const p of [relay, web]) await p.stop();
    } finally {
      await redis.stop();
    }
  });

  test('serve --workers 2 shares the port and replaces a worker that dies', async () => {
    const env = baseEnv(await sharedRedisUrl(), `workers-${randomUUID()}`);
    const listener = await launch(env, 'listen');
    const served = await launch(env, 'serve', ['--workers', '2']);
    await waitUntil(async () => (await status(served)).processes.filter((p) => p.role === 'web').length === 2, 'two web workers registered');
    const clients = await Promise.all(Array.from({ length: 6 }, () => open(served, '?msg_types=workers')));
    await publish('workers', 0, 20);
    for (const c of clients) assert.deepEqual(seqs(await c.waitFor((e) => relayed(e).length === 20)), range(0, 20));
    const pids = (await status(served)).processes.filter((p) => p.role === 'web').map((p) => Number(p.process.split(':').at(-1)));
    process.kill(pids[0]!, 'SIGKILL');
    await waitUntil(async () => {
      const web = (await status(served).catch(() => ({ processes: [] as { role: string; process: string }[] }))).processes.filter((p) => p.role === 'web');
      return web.length === 2 && !web.some((p) => p.process.endsWith(`:${pids[0]}`));
    }, 'a replacement worker', served.output, 30_000);
    assert.equal(await served.stop('SIGTERM'), 0);
    await listener.stop();
  });

  test('with the in-memory bus, serve --workers 2 and listen are refused at start', async () => {
    const env = { DATABASE_URL: pg.url };
    for (const args of [['serve', '--workers', '2'], ['listen'], ['serve']]) {
      const result = await runCli(args, env);
      assert.equal(result.code, 2, `${args.join(' ')} exits 2`);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, 'one clear line');
      assert.match(lines[0]!, /needs REDIS_URL/);
    }
  });
});
