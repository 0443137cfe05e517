// Listener failover on real processes (issue 16): two `swf-relay listen` on one lease, one
// `swf-relay serve`, a private ActiveMQ and Redis, PostgreSQL. Messages keep arriving while the
// lease holder is killed, cut off from Redis, or frozen; a reader on the web process must get every
// message once, in order, and the store must hold each once. Takeover times are printed (the
// figures of docs/operations.md); the bounds asserted here only catch a stall, not a slow second.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.js';
import { deploymentEnv, makeToken, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const RATE = 50; // messages per second while a fault happens
const SUBSCRIBED = '"msg":"subscribed"';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('listener failover', () => {
  let broker: PrivateBroker;
  let redis: PrivateRedis;
  let pg: TestDatabase;
  let publisher: Publisher;
  let token: string;
  const processes: RelayProcess[] = [];
  const streams: SseStream[] = [];
  const proxies: TcpProxy[] = [];

  before(async () => {
    broker = await startActiveMQ();
    redis = await startPrivateRedis();
    pg = await createTestDatabase();
    token = await makeToken({ DATABASE_URL: pg.url });
    publisher = await connectPublisher(broker.host, broker.port);
  });

  after(async () => {
    for (const s of streams) s.close();
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await Promise.all(proxies.map((p) => p.close()));
    await publisher?.close().catch(() => {});
    await broker?.stop();
    await redis?.stop();
    await pg?.drop();
  });

  /** One deployment per test (its own channel group, topic and client-id), sharing the servers. */
  async function deployment(t: TestContext, name: string) {
    const group = `${name}-${randomUUID()}`;
    const env = deploymentEnv({ databaseUrl: pg.url, redisUrl: redis.url, brokerPort: broker.port }, group);
    const topic = env.ACTIVEMQ_HEARTBEAT_TOPIC!;
    const launch = async (command: 'listen' | 'serve', extra: Record<string, string> = {}) => {
      const relay = await startRelay({ ...env, ...extra }, { command });
      processes.push(relay);
      return relay;
    };
    const first = await launch('listen');
    await waitUntil(() => first.output().includes(SUBSCRIBED), 'the first listener to subscribe', first.output);
    const web = await launch('serve');
    const reader = await openStream(`${web.url}/api/messages/stream/?msg_types=${name}`, { Authorization: `Token ${token}` });
    streams.push(reader);
    await reader.waitFor((e) => e.some((x) => x.event === 'connected'));

    let sent = 0;
    let sending = true;
    // Persistent messages at RATE until stop(); the last one waits for the broker's receipt.
    const traffic = (async () => {
      while (sending) {
        publisher.send(topic, JSON.stringify({ msg_type: name, seq: sent++ }), { persistent: 'true' });
        await sleep(1000 / RATE);
      }
      await publisher.sendAndWait(topic, JSON.stringify({ msg_type: name, seq: sent++ }), { persistent: 'true' });
    })();
    // A failed test stops its traffic too, before the shared publisher is closed.
    t.after(async () => {
      sending = false;
      await traffic.catch(() => {});
    });

    return {
      env,
      launch,
      first,
      web,
      /** Stops the traffic; resolves with how many messages were sent. */
      async stopTraffic(): Promise<number> {
        sending = false;
        await traffic;
        return sent;
      },
      /** Every message reached the reader once, in order, with increasing ids; and the store holds each once. */
      async assertComplete(total: number): Promise<void> {
        const events = await reader.waitFor((e) => relayed(e).length >= total, 60_000);
        const got = relayed(events);
        assert.deepEqual(
          got.map((e) => (JSON.parse(e.data) as { seq: number }).seq),
          Array.from({ length: total }, (_, i) => i),
          'every message, in order, once',
        );
        const ids = got.map((e) => Number(e.id));
        for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ids increase (${ids[i - 1]} then ${ids[i]})`);
        assert.equal(events.filter((e) => e.event === 'gap').length, 0, 'no gap');
        const store = await openStoreOf({ DATABASE_URL: pg.url });
        try {
          const stored = (await store.messagesAfter('0', 1_000_000)).filter((m) => m.fields.msgType === name);
          assert.equal(stored.length, total, 'each message stored once');
        } finally {
          await store.close();
        }
      },
    };
    function relayed(events: SseEvent[]): SseEvent[] {
      return events.filter((e) => e.event === name);
    }
  }

  /** Waits until `relay` has subscribed once more than `before` times; the time it took from `since`. */
  async function subscribedAgain(relay: RelayProcess, before: number, since: number, timeoutMs: number): Promise<number> {
    await waitUntil(() => count(relay.output(), SUBSCRIBED) > before, 'the standby to subscribe', relay.output, timeoutMs);
    return Date.now() - since;
  }

  test('kill -9 of the lease holder: the standby claims the store and subscribes; nothing lost or stored twice', async (t: TestContext) => {
    const d = await deployment(t, 'failover_kill');
    const standby = await d.launch('listen');
    await waitUntil(() => standby.output().includes('another listener holds the lease'), 'the second listener to wait', standby.output);
    await sleep(1000);
    await d.first.stop('SIGKILL');
    const takeoverMs = await subscribedAgain(standby, 0, Date.now(), 30_000);
    t.diagnostic(`kill -9 → standby subscribed in ${takeoverMs} ms`);
    assert.ok(takeoverMs < 15_000, `took over in ${takeoverMs} ms`);
    assert.match(standby.output(), /"msg":"store claimed: consuming"/);
    await sleep(1000);
    await d.assertComplete(await d.stopTraffic());
  });

  test('a holder cut off from Redis lets go of the broker after one TTL; the standby subscribes', async (t: TestContext) => {
    const d = await deployment(t, 'failover_cut');
    // A second listener that reaches Redis only through a proxy we can freeze; it becomes the holder once the first stops.
    const proxy = await startTcpProxy(redis.port);
    proxies.push(proxy);
    const cutOff = await d.launch('listen', { REDIS_URL: `redis://127.0.0.1:${proxy.port}` });
    await waitUntil(() => cutOff.output().includes('another listener holds the lease'), 'the second listener to wait', cutOff.output);
    await d.first.stop('SIGTERM'); // a clean hand-over: the lease is released at once
    await subscribedAgain(cutOff, 0, Date.now(), 20_000);
    const standby = await d.launch('listen');
    await waitUntil(() => standby.output().includes('another listener holds the lease'), 'the new standby to wait', standby.output);
    await sleep(1000);

    // Redis unreachable for the holder only: it cannot renew (nor relay), so after one TTL it must free the broker's client-id.
    proxy.freeze();
    const takeoverMs = await subscribedAgain(standby, 0, Date.now(), 30_000);
    t.diagnostic(`holder cut off from Redis → standby subscribed in ${takeoverMs} ms`);
    assert.match(cutOff.output(), /listener lease not renewed for a whole TTL/);
    await sleep(1000);
    await d.assertComplete(await d.stopTraffic());
  });

  test('fencing: once another writer claims the store, the holder writes nothing more, steps back, and resumes with a new claim', async (t: TestContext) => {
    const d = await deployment(t, 'failover_fence');
    await sleep(1000);
    // What a frozen holder finds when it wakes: a newer claim on the store (here made directly, mid-traffic).
    const store = await openStoreOf({ DATABASE_URL: pg.url });
    try {
      await store.claimWriter();
    } finally {
      await store.close();
    }
    await waitUntil(() => count(d.first.output(), SUBSCRIBED) === 2, 'the holder to resume with a new claim', d.first.output, 20_000);
    const log = d.first.output();
    assert.match(log, /another listener claimed the store: not writing/);
    assert.match(log, /another listener claimed the store; stopping consumption/);
    assert.equal(count(log, '"msg":"store claimed: consuming"'), 2);
    await sleep(1000);
    await d.assertComplete(await d.stopTraffic());
  });

  test('a frozen holder (SIGSTOP): the standby takes over; woken, the former holder steps back without writing', async (t: TestContext) => {
    const d = await deployment(t, 'failover_freeze');
    const standby = await d.launch('listen');
    await waitUntil(() => standby.output().includes('another listener holds the lease'), 'the second listener to wait', standby.output);
    await sleep(1000);
    process.kill(d.first.pid, 'SIGSTOP');
    const frozenAt = Date.now();
    try {
      const takeoverMs = await subscribedAgain(standby, 0, frozenAt, 45_000);
      t.diagnostic(`SIGSTOP → standby subscribed in ${takeoverMs} ms`);
      assert.ok(takeoverMs < 40_000, `took over in ${takeoverMs} ms`);
      await sleep(2000);
    } finally {
      process.kill(d.first.pid, 'SIGCONT');
    }
    await waitUntil(() => /stopping consumption/.test(d.first.output()), 'the woken holder to step back', d.first.output, 15_000);
    await sleep(1000);
    await d.assertComplete(await d.stopTraffic());
    assert.equal(count(d.first.output(), SUBSCRIBED), 1, 'the former holder did not subscribe again');
  });
});
