// A half-open broker connection: the relay reaches ActiveMQ through a proxy that freezes the
// connection (kept open, nothing forwarded either way), so neither side sees it close. The
// relay must notice by STOMP heart-beats, say so in /readyz, reconnect (the broker may still
// refuse the client-id it holds for the dead connection) and consume again; the persistent
// messages published meanwhile are stored once each and reach a connected reader in order.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { makeToken, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const HEARTBEAT_MS = 2000;
const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const seqs = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event)).map((e) => (JSON.parse(e.data) as { seq: number }).seq);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

let broker: PrivateBroker;
let proxy: TcpProxy;
let relay: RelayProcess;
let publisher: Publisher;
let token: string;
let dir: string;
let env: Record<string, string>;
const topic = `/topic/partition-broker-${process.pid}`;

before(async () => {
  broker = await startActiveMQ();
  proxy = await startTcpProxy(broker.port);
  dir = mkdtempSync(join(tmpdir(), 'swf-relay-partition-broker-'));
  env = {
    DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
    ACTIVEMQ_PORT: String(proxy.port),
    ACTIVEMQ_HEARTBEAT_TOPIC: topic,
    ACTIVEMQ_CLIENT_ID: `partition-broker-${process.pid}`,
    ACTIVEMQ_HEARTBEAT_MS: String(HEARTBEAT_MS),
    SSE_HEARTBEAT_SECONDS: '1',
    LOG_LEVEL: 'warn',
  };
  token = await makeToken(env);
  relay = await startRelay(env, { waitForBroker: token });
  // The publisher reaches the broker directly: only the relay is partitioned.
  publisher = await connectPublisher(broker.host, broker.port);
});

after(async () => {
  await publisher?.close();
  await relay?.stop();
  await proxy?.close();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const publish = async (from: number, to: number) => {
  for (let seq = from; seq < to; seq++) {
    const body = JSON.stringify({ msg_type: 'partition', seq });
    if (seq === to - 1) await publisher.sendAndWait(topic, body, { persistent: 'true' });
    else publisher.send(topic, body, { persistent: 'true' });
  }
};
const readyz = async () => {
  const res = await fetch(`${relay.url}/readyz`, { headers: { Authorization: `Token ${token}` } });
  return { status: res.status, body: (await res.json()) as { failing?: string[]; checks?: Record<string, string> } };
};

test('a frozen broker connection is noticed, reported, replaced; nothing is lost or doubled', async (t) => {
  const stream = await openStream(`${relay.url}/api/messages/stream/?msg_types=partition`, { Authorization: `Token ${token}` });
  assert.equal(stream.status, 200);
  await stream.waitFor((e) => e.some((x) => x.event === 'connected'));
  await publish(0, 20);
  await stream.waitFor((e) => seqs(e).length >= 20, 20_000);

  const frozenAt = Date.now();

  proxy.freeze();
  await publish(20, 70); // persistent, while the relay's connection is half-open

  let notReady: Awaited<ReturnType<typeof readyz>>['body'] | undefined;
  await waitUntil(async () => {
    const { status, body } = await readyz();
    if (status !== 503) return false;
    notReady = body;
    return true;
  }, 'readyz to report the broker', relay.output, 30_000);
  const detectedMs = Date.now() - frozenAt;
  assert.deepEqual(notReady!.failing, ['broker']);
  assert.match(notReady!.checks!.broker!, /^(disconnected|connecting)/);

  // Recovery: a new connection subscribes and the partition's messages arrive, in order.
  await stream.waitFor((e) => seqs(e).length >= 70, 60_000);
  const recoveredMs = Date.now() - frozenAt;
  await waitUntil(async () => (await readyz()).status === 200, 'readiness to return', relay.output, 20_000);
  const readyMs = Date.now() - frozenAt;
  await publish(70, 80);
  const events = await stream.waitFor((e) => seqs(e).length >= 80, 20_000);
  await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would show here
  const relayed = events.filter((e) => !CONTROL.has(e.event));
  assert.deepEqual(seqs(stream.events()), range(0, 80), 'the reader gets every message once, in order');
  const ids = relayed.map((e) => Number(e.id));
  assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'event ids increase');
  assert.ok(!stream.events().some((e) => e.event === 'gap'), 'no gap');

  const store = await openStoreOf(env);
  try {
    const stored = (await store.messagesAfter('0', 10_000)).filter((r) => r.fields.msgType === 'partition');
    assert.deepEqual(stored.map((r) => (JSON.parse(r.content) as { seq: number }).seq).sort((a, b) => a - b), range(0, 80), 'stored exactly once each');
  } finally {
    await store.close();
  }
  const refused = relay.output().match(/already connected/g)?.length ?? 0;
  t.diagnostic(`detected after ${detectedMs} ms, consuming again after ${recoveredMs} ms, ready after ${readyMs} ms; reconnects refused for the client-id: ${refused}`);
});
