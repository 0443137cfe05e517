// TLS served by the relay itself: the stream over HTTP/2 and over HTTP/1.1 (fallback),
// and session cookies marked Secure. A throwaway self-signed certificate from openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:http2';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashPassword } from '../../src/auth/passwords.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { makeToken, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

let broker: PrivateBroker;
let relay: RelayProcess;
let publisher: Publisher;
let dir: string;
let token: string;
const topic = `/topic/tls-${process.pid}`;

before(async () => {
  broker = await startActiveMQ();
  dir = mkdtempSync(join(tmpdir(), 'swf-relay-tls-'));
  const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const env = {
    DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
    ACTIVEMQ_PORT: String(broker.port),
    ACTIVEMQ_HEARTBEAT_TOPIC: topic,
    ACTIVEMQ_CLIENT_ID: `tls-${process.pid}`,
    TLS_CERT_FILE: cert,
    TLS_KEY_FILE: key,
    LOG_LEVEL: 'info',
  };
  token = await makeToken(env);
  const store = await openStoreOf(env);
  await store.createUser('carol');
  await store.setPassword('carol', await hashPassword('password-of-carol'));
  await store.close();
  relay = await startRelay(env, { waitForBroker: undefined });
  publisher = await connectPublisher(broker.host, broker.port);
});

after(async () => {
  await publisher?.close();
  await relay?.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const base = () => relay.url;

test('the stream over HTTP/2, with the SPEC headers and live events', async () => {
  assert.match(relay.url, /^https:/);
  await waitUntil(() => relay.output().includes('"msg":"subscribed"'), 'the listener to subscribe', relay.output);
  const session = connect(base(), { rejectUnauthorized: false });
  try {
    const stream = session.request({ ':path': '/api/messages/stream/?msg_types=over_h2', authorization: `Token ${token}` });
    const headers = await new Promise<Record<string, unknown>>((resolve) => stream.on('response', resolve));
    assert.equal(headers[':status'], 200);
    assert.equal(headers['content-type'], 'text/event-stream');
    assert.equal(headers.connection, undefined, 'no connection-specific header on HTTP/2');
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (text += chunk));
    await waitUntil(() => text.includes('event: connected'), 'connected over HTTP/2');
    await waitUntil(async () => {
      await publisher.sendAndWait(topic, JSON.stringify({ msg_type: 'over_h2' }));
      return text.includes('event: over_h2');
    }, 'an event over HTTP/2', () => text);
    stream.close();
  } finally {
    session.close();
  }
});

test('HTTP/1.1 over TLS still works, and session cookies are Secure', async () => {
  const response = await new Promise<{ status: number; cookie: string; body: string }>((resolve, reject) => {
    const req = request(
      `${base()}/api/auth/login`,
      { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie'] ?? ''), body }));
        assert.equal(res.httpVersion, '1.1');
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ username: 'carol', password: 'password-of-carol' }));
  });
  assert.equal(response.status, 200, response.body);
  assert.match(response.cookie, /swf_relay_session=/);
  assert.match(response.cookie, /; Secure/);
  assert.match(response.cookie, /; HttpOnly/);
  assert.match(response.cookie, /; SameSite=Lax/);
});
