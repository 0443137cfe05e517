// Smoke test of the test helpers against the real services: private ActiveMQ (durable subscription across a restart) and PostgreSQL.
import { Client, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { connectPublisher } from '../helpers/stomp-publisher.js';

/** A plain stompjs consumer that records what it receives (and acks it, client-individual). */
async function subscribe(broker: PrivateBroker, destination: string, headers: Record<string, string>, clientId?: string) {
  const received: IMessage[] = [];
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(broker.host, broker.port),
    connectHeaders: clientId ? { host: 'localhost', 'client-id': clientId } : { host: 'localhost' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
  });
  await new Promise<void>((resolve, reject) => {
    client.onConnect = () => resolve();
    client.onStompError = (frame) => reject(new Error(frame.headers.message));
    client.onWebSocketClose = () => reject(new Error('connection closed'));
    client.activate();
  });
  // SUBSCRIBE with a receipt: a topic drops whatever is published before the broker has registered the subscription.
  const subscribed = new Promise<void>((resolve) => client.watchForReceipt('subscribed', () => resolve()));
  client.subscribe(
    destination,
    (message) => {
      received.push(message);
      message.ack();
    },
    { ack: 'client-individual', receipt: 'subscribed', ...headers },
  );
  await subscribed;
  const waitFor = async (count: number, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (received.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(received.length, count, `expected ${count} messages, got: ${received.map((m) => m.body).join(', ')}`);
  };
  return { received, waitFor, close: () => client.deactivate() };
}

describe('ActiveMQ helpers', () => {
  let broker: PrivateBroker;

  before(async () => {
    const t0 = Date.now();
    broker = await startActiveMQ();
    console.log(`broker ready on ${broker.host}:${broker.port} in ${Date.now() - t0} ms`);
  });
  after(() => broker?.stop());

  it('delivers messages missed by a durable subscriber across a broker restart', async () => {
    const topic = '/topic/smoke.durable';
    const durable = { 'activemq.subscriptionName': 'smoke-sub' };
    let sub = await subscribe(broker, topic, durable, 'smoke-client');
    const pub = await connectPublisher(broker.host, broker.port);
    for (const n of [1, 2, 3]) await pub.sendAndWait(topic, `m${n}`, { persistent: 'true' });
    await sub.waitFor(3);
    assert.deepEqual(sub.received.map((m) => m.body), ['m1', 'm2', 'm3']);
    await sub.close();

    for (const n of [4, 5]) await pub.sendAndWait(topic, `m${n}`, { persistent: 'true' });
    await pub.close();

    const t0 = Date.now();
    await broker.restart();
    console.log(`broker restarted in ${Date.now() - t0} ms`);

    sub = await subscribe(broker, topic, durable, 'smoke-client');
    await sub.waitFor(2);
    await new Promise((r) => setTimeout(r, 300)); // nothing else (already-acked m1..m3) may arrive
    assert.deepEqual(sub.received.map((m) => m.body), ['m4', 'm5']);
    await sub.close();
  });

  it('passes binary bodies (invalid UTF-8, NUL) through unchanged', async () => {
    const queue = '/queue/smoke.binary';
    const sub = await subscribe(broker, queue, {});
    const pub = await connectPublisher(broker.host, broker.port);
    const bytes = new Uint8Array([0xff, 0xfe, 0x00, 0x41, 0xc3, 0x28, 0x0a]);
    await pub.sendAndWait(queue, bytes);
    pub.send(queue, 'héllo');
    await sub.waitFor(2);
    assert.deepEqual([...sub.received[0]!.binaryBody], [...bytes]);
    assert.equal(sub.received[1]!.body, 'héllo');
    await Promise.all([pub.close(), sub.close()]);
  });
});

describe('PostgreSQL helper', () => {
  it('creates a usable throwaway database and drops it', async () => {
    const db = await createTestDatabase();
    const name = new URL(db.url).pathname.slice(1);
    assert.match(name, /^swf_relay_test_[0-9a-f]+$/);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
    await client.query("INSERT INTO t VALUES (1, 'x')");
    assert.deepEqual((await client.query('SELECT v FROM t')).rows, [{ v: 'x' }]);
    // Left open on purpose: drop() must terminate it.
    client.on('error', () => {});

    await db.drop();
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    await admin.end();
    assert.equal(rowCount, 0);
    await client.end().catch(() => {});
  });

  it('says clearly when the server is unreachable', async () => {
    const saved = process.env.TEST_DATABASE_URL;
    process.env.TEST_DATABASE_URL = 'postgres://someone:secret@127.0.0.1:1/postgres';
    try {
      await assert.rejects(createTestDatabase(), (err: Error) => {
        assert.match(err.message, /^PostgreSQL is not reachable at 127\.0\.0\.1:1 \(TEST_DATABASE_URL\): start it/);
        assert.doesNotMatch(err.message, /secret|someone/);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.TEST_DATABASE_URL;
      else process.env.TEST_DATABASE_URL = saved;
    }
  });
});
