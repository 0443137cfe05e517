// Readiness that cannot lie: a web process whose Redis stream reader is stuck on a
// half-open connection (as after a failover) turns /readyz to 503 naming the bus, while
// Redis still answers on the other connection; the reader then reconnects by itself.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.js';
import { makeToken, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

let broker: PrivateBroker;
let redis: PrivateRedis;
let proxy: TcpProxy;
let pg: TestDatabase;
let listener: RelayProcess;
let web: RelayProcess;
let publisher: Publisher;
let token: string;
const topic = `/topic/readiness-${process.pid}`;

before(async () => {
  broker = await startActiveMQ();
  redis = await startPrivateRedis();
  proxy = await startTcpProxy(redis.port);
  pg = await createTestDatabase();
  const env = { DATABASE_URL: pg.url, SSE_CHANNEL_GROUP: `ready-${randomUUID()}`, ACTIVEMQ_PORT: String(broker.port), ACTIVEMQ_HEARTBEAT_TOPIC: topic, ACTIVEMQ_CLIENT_ID: `ready-${process.pid}` };
  token = await makeToken(env);
  listener = await startRelay({ ...env, REDIS_URL: redis.url }, { command: 'listen' });
  // The web process reaches Redis through the proxy: its first connection carries commands; later ones read the stream (and publish replies).
  web = await startRelay({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }, { command: 'serve' });
  publisher = await connectPublisher(broker.host, broker.port);
});

after(async () => {
  await publisher?.close();
  await web?.stop();
  await listener?.stop();
  await proxy?.close();
  await redis?.stop();
  await broker?.stop();
  await pg?.drop();
});

test('a stuck bus reader fails readiness though Redis answers; it then reconnects and recovers', async () => {
  await waitUntil(async () => (await fetch(`${web.url}/readyz`)).status === 200, 'the web process to be ready', web.output);
  await waitUntil(() => proxy.accepted() >= 2, 'command and reader connections');
  const stream = await openStream(`${web.url}/api/messages/stream/?msg_types=ready`, { Authorization: `Token ${token}` });
  await stream.waitFor((e) => e.some((x) => x.event === 'connected'));

  proxy.freeze((index) => index > 0); // all but the first (command) connection: the stream reader among them
  let failing: { failing: string[]; checks: Record<string, string> } | undefined;
  await waitUntil(async () => {
    const res = await fetch(`${web.url}/readyz`, { headers: { Authorization: `Token ${token}` } });
    if (res.status !== 503) return false;
    failing = (await res.json()) as typeof failing;
    return true;
  }, 'readyz to report the stuck reader', web.output, 15_000);
  assert.deepEqual(failing!.failing, ['bus']);
  assert.match(failing!.checks.bus!, /reader stalled/);
  // Redis itself answers meanwhile: the status endpoint reads it over the command connection.
  const status = await fetch(`${web.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
  assert.equal(status.status, 200);

  // The watchdog drops the stuck connection; a new one (not frozen) resumes reading.
  await waitUntil(async () => (await fetch(`${web.url}/readyz`)).status === 200, 'readiness to recover', web.output, 30_000);
  await publisher.sendAndWait(topic, JSON.stringify({ msg_type: 'ready', n: 1 }), { persistent: 'true' });
  const events = await stream.waitFor((e) => e.some((x) => x.event === 'ready'), 15_000);
  assert.equal(JSON.parse(events.find((e) => e.event === 'ready')!.data).n, 1);
});
