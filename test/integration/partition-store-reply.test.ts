// A commit whose answer is lost: PostgreSQL applies the INSERT, then the connection dies before
// its reply reaches the relay. The retry finds the message stored already; it must still be
// relayed (once), not taken for a redelivery of something relayed before.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { makeToken, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const seqs = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event)).map((e) => (JSON.parse(e.data) as { seq: number }).seq);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

let broker: PrivateBroker;
let database: TestDatabase;
let direct: pg.Client;
let proxy: TcpProxy;
let relay: RelayProcess;
let publisher: Publisher;
let token: string;
const topic = `/topic/partition-reply-${process.pid}`;

before(async () => {
  broker = await startActiveMQ();
  database = await createTestDatabase();
  const proxied = await proxyDatabase(database.url);
  proxy = proxied.proxy;
  const env = {
    DATABASE_URL: proxied.url,
    ACTIVEMQ_PORT: String(broker.port),
    ACTIVEMQ_HEARTBEAT_TOPIC: topic,
    ACTIVEMQ_CLIENT_ID: `partition-reply-${process.pid}`,
    SSE_HEARTBEAT_SECONDS: '1',
    LOG_LEVEL: 'warn',
  };
  token = await makeToken(env);
  relay = await startRelay(env, { waitForBroker: token });
  publisher = await connectPublisher(broker.host, broker.port);
  direct = new pg.Client({ connectionString: database.url });
  await direct.connect();
});

after(async () => {
  await direct?.end();
  await publisher?.close();
  await relay?.stop();
  await proxy?.close();
  await broker?.stop();
  await database?.drop();
});

const storedSeqs = async () =>
  (await direct.query<{ seq: number }>(`select (message_content::jsonb->>'seq')::int as seq from workflow_messages where message_type = 'reply' order by id`)).rows.map((r) => r.seq);
const send = (seq: number) => publisher.sendAndWait(topic, JSON.stringify({ msg_type: 'reply', seq }), { persistent: 'true' });

test('a message whose commit applied but whose answer was lost is relayed once', async () => {
  const stream = await openStream(`${relay.url}/api/messages/stream/?msg_types=reply`, { Authorization: `Token ${token}` });
  assert.equal(stream.status, 200);
  await stream.waitFor((e) => e.some((x) => x.event === 'connected'));
  for (let seq = 0; seq < 5; seq++) await send(seq);
  await stream.waitFor((e) => seqs(e).length >= 5, 20_000);

  // The commit may go out on a connection opened after the freeze (its answer then arrives): try again with the next message.
  let seq = 5;
  for (let lost = false; !lost; seq++) {
    assert.ok(seq < 10, 'no commit went out on a connection whose replies were held');
    proxy.freeze(undefined, 'replies');
    await send(seq);
    await waitUntil(async () => (await storedSeqs()).includes(seq), `message ${seq} to be stored`, relay.output);
    await new Promise((r) => setTimeout(r, 1000));
    lost = !seqs(stream.events()).includes(seq);
    proxy.cut(0); // the connections die before their answers arrive; new ones work
  }
  const end = seq + 3;
  for (; seq < end; seq++) await send(seq);

  await stream.waitFor((e) => seqs(e).length >= end, 30_000);
  await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would show here
  assert.match(relay.output(), /batch commit failed/, 'the relay saw its commit fail');
  assert.deepEqual(seqs(stream.events()), range(0, end), 'every message relayed once, in order');
  assert.deepEqual(await storedSeqs(), range(0, end), 'stored once each');
});
