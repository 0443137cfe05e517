// A standard EventSource client (the `eventsource` package, the browser's algorithm)
// loses its connection for 10 s while messages flow, and still shows every message.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { makeToken, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

let broker: PrivateBroker;
let relay: RelayProcess;
let publisher: Publisher;
let proxy: TcpProxy;
let dir: string;
let token: string;
const topic = `/topic/eventsource-${process.pid}`;

before(async () => {
  broker = await startActiveMQ();
  dir = mkdtempSync(join(tmpdir(), 'swf-relay-es-'));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(broker.port), ACTIVEMQ_HEARTBEAT_TOPIC: topic, ACTIVEMQ_CLIENT_ID: `es-${process.pid}`, LOG_LEVEL: 'warn' };
  token = await makeToken(env);
  relay = await startRelay(env, { waitForBroker: token });
  publisher = await connectPublisher(broker.host, broker.port);
  proxy = await startTcpProxy(relay.port);
});

after(async () => {
  await proxy?.close();
  await publisher?.close();
  await relay?.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('an EventSource cut off for 10 s while messages flow shows every message after it reconnects', { timeout: 60_000 }, async () => {
  const { port } = proxy;
  const received: { id: string; seq: number }[] = [];
  const lastEventIdsSent: (string | null)[] = [];
  const source = new EventSource(`http://127.0.0.1:${port}/api/messages/stream/?msg_types=es_test`, {
    fetch: (input, init) => {
      const headers = new Headers(init?.headers as Record<string, string>);
      lastEventIdsSent.push(headers.get('last-event-id'));
      headers.set('Authorization', `Token ${token}`);
      return fetch(input, { ...init, headers });
    },
  });
  source.addEventListener('es_test', (event) => received.push({ id: event.lastEventId, seq: (JSON.parse(event.data) as { seq: number }).seq }));
  try {
    await waitUntil(() => source.readyState === EventSource.OPEN, 'EventSource open');
    const publish = async (from: number, count: number) => {
      for (let seq = from; seq < from + count; seq++) {
        await publisher.sendAndWait(topic, JSON.stringify({ msg_type: 'es_test', seq }), { persistent: 'true' });
      }
    };
    await publish(0, 20);
    await waitUntil(() => received.length === 20, '20 events before the cut');

    proxy.cut(10_000);
    await waitUntil(() => source.readyState !== EventSource.OPEN, 'EventSource to notice the cut');
    // Messages flow during the 10 s outage.
    for (let second = 0; second < 9; second++) {
      await publish(20 + second * 10, 10);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await waitUntil(() => received.length === 110, 'every event after the reconnect', () => JSON.stringify(received.slice(-5)), 30_000);
    await publish(110, 10);
    await waitUntil(() => received.length === 120, 'live events after the reconnect');

    assert.deepEqual(received.map((r) => r.seq), Array.from({ length: 120 }, (_, i) => i), 'every message, in order, once');
    for (let i = 1; i < received.length; i++) assert.ok(Number(received[i]!.id) > Number(received[i - 1]!.id));
    assert.ok(proxy.accepted() >= 2, 'it really reconnected');
    assert.ok(lastEventIdsSent.includes(received[19]!.id), 'the reconnect sent the last id seen before the cut');
  } finally {
    source.close();
  }
});
