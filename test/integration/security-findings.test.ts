// Findings of the second security review, each reproduced against the relay as a process:
// time bounds beyond year 9999, HTTP publish retried by a client after a timeout, a workflow
// message posing as an agent heartbeat, HEAD on the stream, query tokens in the logs, and the
// trusted-proxy user header (opt-in, CIDR ranges).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { freePort, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream } from '../helpers/sse-client.js';

/** GET `path` on `relay` from a chosen loopback source address, with `headers`. */
function getFrom(relay: RelayProcess, from: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const target = new URL(`${relay.url}${path}`);
  return new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, localAddress: from, method, path: target.pathname + target.search, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no complete answer within 10 s`)));
    req.end();
  });
}

describe('security findings (round 2)', () => {
  let dir: string;
  let relay: RelayProcess;
  let alice: string;
  let bob: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-findings-'));
    // HTTP publish and history need no broker: the relay serves them while it retries the broker.
    const env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'warn' };
    const store = await openStoreOf(env);
    alice = (await createToken(store, 'alice', { createUser: true, canPublish: true })).key;
    bob = (await createToken(store, 'bob', { createUser: true, canPublish: true })).key;
    await store.close();
    relay = await startRelay(env);
  });

  after(async () => {
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const publish = (key: string, body: object, headers: Record<string, string> = {}) =>
    fetch(`${relay.url}/api/messages/`, { method: 'POST', headers: { Authorization: `Token ${key}`, 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const history = async (query: string) => {
    const res = await fetch(`${relay.url}/api/messages/?${query}`, { headers: { Authorization: `Token ${alice}` } });
    return { status: res.status, body: (await res.json()) as { results?: { id: string; content?: unknown }[]; detail?: string; param?: string } };
  };

  test('Idempotency-Key: a retried publish answers the first id and stores the message once; keys are per publisher', async () => {
    const body = { msg_type: 'idem_test', run_id: 'idem-1' };
    const first = await publish(alice, body, { 'Idempotency-Key': 'retry-me-1' });
    assert.equal(first.status, 201);
    const { id } = (await first.json()) as { id: string };
    assert.match(id, /^\d+$/);
    const retry = await publish(alice, body, { 'Idempotency-Key': 'retry-me-1' });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await retry.json(), { id, status: 'stored' });
    // Concurrent retries land in one commit batch: still one message.
    const burst = await Promise.all([1, 2, 3].map(() => publish(alice, body, { 'Idempotency-Key': 'retry-me-2' }).then((r) => r.json() as Promise<{ id: string }>)));
    assert.equal(new Set(burst.map((b) => b.id)).size, 1, JSON.stringify(burst));
    // Another publisher's key is its own, and no key means a new message each time.
    const other = (await (await publish(bob, body, { 'Idempotency-Key': 'retry-me-1' })).json()) as { id: string };
    assert.notEqual(other.id, id);
    const plain = await Promise.all([1, 2].map(() => publish(alice, body).then((r) => r.json() as Promise<{ id: string }>)));
    assert.notEqual(plain[0]!.id, plain[1]!.id);
    const stored = await history('run_ids=idem-1&limit=100');
    assert.equal(stored.body.results!.length, 5, 'retry-me-1 once, retry-me-2 once, bob, two without a key');
    const bad = await publish(alice, body, { 'Idempotency-Key': 'has space' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { param: string }).param, 'Idempotency-Key');
  });

  test('since/until beyond year 9999 are refused (they compared as text and inverted results)', async () => {
    await publish(alice, { msg_type: 'time_test', run_id: 'time-1' });
    const inRange = await history('run_ids=time-1&since=2000-01-01T00:00:00Z&until=9999-12-31T23:59:59Z');
    assert.equal(inRange.status, 200);
    assert.equal(inRange.body.results!.length, 1);
    for (const query of ['until=%2B010000-01-01T00:00:00Z', 'since=%2B275760-09-13T00:00:00Z', 'since=-000001-01-01T00:00:00Z']) {
      const res = await history(`run_ids=time-1&${query}`);
      assert.equal(res.status, 400, query);
      assert.match(res.body.detail!, /between the years 0000 and 9999/);
    }
  });

  test('a workflow message calling itself agent_status is relayed as `event: message`, never as an agent heartbeat', async () => {
    const stream = await openStream(`${relay.url}/api/messages/stream/?msg_types=agent_status,fake_probe`, { Authorization: `Token ${alice}` });
    try {
      await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
      assert.equal((await publish(alice, { msg_type: 'agent_status', agent: 'posing' })).status, 201);
      assert.equal((await publish(alice, { msg_type: 'fake_probe' })).status, 201);
      const events = await stream.waitFor((all) => all.some((e) => e.event === 'fake_probe'));
      const posing = events.filter((e) => e.data.includes('"posing"'));
      assert.equal(posing.length, 1, stream.raw());
      assert.equal(posing[0]!.event, 'message');
      assert.match(posing[0]!.id ?? '', /^\d+$/, 'it is a stored message, with its id');
      assert.ok(!events.some((e) => e.event === 'agent_status'), stream.raw());
    } finally {
      stream.close();
    }
  });

  test('HEAD on the stream answers at once with the stream headers and holds no stream slot', async () => {
    const head = await getFrom(relay, '127.0.0.1', '/api/messages/stream/?msg_types=a', { Authorization: `Token ${alice}` }, 'HEAD');
    assert.equal(head.status, 200);
    assert.match(String(head.headers['content-type']), /^text\/event-stream/);
    assert.equal(head.body, '');
    assert.equal((await getFrom(relay, '127.0.0.1', '/api/messages/stream/', {}, 'HEAD')).status, 401, 'HEAD is authenticated like GET');
    const status = JSON.parse((await getFrom(relay, '127.0.0.1', '/api/messages/stream/status/', { Authorization: `Token ${alice}` })).body) as { connected_clients: number };
    assert.equal(status.connected_clients, 0);
  });

  describe('query tokens and the trusted-proxy user header', () => {
    let proxied: RelayProcess;
    let headerOff: RelayProcess;
    let key: string;

    before(async () => {
      const base = { ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'debug' };
      const envA = { ...base, DATABASE_URL: `sqlite:${join(dir, 'proxied.db')}`, SSE_ALLOW_QUERY_TOKEN: 'true', TRUSTED_PROXIES: '127.0.0.0/30', TRUSTED_PROXY_USER_HEADER: 'X-Remote-User' };
      const store = await openStoreOf(envA);
      key = (await createToken(store, 'carol', { createUser: true })).key;
      await store.close();
      proxied = await startRelay(envA);
      headerOff = await startRelay({ ...base, DATABASE_URL: `sqlite:${join(dir, 'header-off.db')}`, TRUSTED_PROXIES: '127.0.0.1' });
    });

    after(async () => {
      await proxied?.stop();
      await headerOff?.stop();
    });

    test('a query token never reaches the log, whatever encoding its name uses; the log has parsed filters, not the raw query', async () => {
      for (const name of ['token', 'tok%65n', '%74oken', 'TOKEN']) {
        const path = `/api/messages/stream/status/?${name}=${key}&msg_types=a`;
        const res = await getFrom(proxied, '127.0.0.9', path);
        assert.equal(res.status, name === 'TOKEN' ? 401 : 200, `${name}: ${res.body}`);
      }
      const stream = await openStream(`${proxied.url}/api/messages/stream/?tok%65n=${key}&msg_types=a,b`);
      try {
        await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
      } finally {
        stream.close();
      }
      // The key's distinctive tail is enough: any encoding of it in the log would contain it.
      await waitUntil(() => proxied.output().includes('stream opened'), 'the stream-opened log line', () => proxied.output().slice(-2000));
      assert.ok(!proxied.output().includes(key.slice(8)), 'the key appears in the log');
      assert.match(proxied.output(), /"filters":\{"msg_types":\["a","b"\],"agents":\[\],/);
    });

    test('the user header counts only when configured, and only from a trusted proxy (CIDR ranges included)', async () => {
      const asAdmin = { 'X-Remote-User': 'admin' };
      const inRange = await getFrom(proxied, '127.0.0.2', '/api/auth/session', asAdmin);
      assert.equal(inRange.status, 200, inRange.body);
      assert.deepEqual(JSON.parse(inRange.body), { username: 'admin', via: 'proxy' });
      assert.equal((await getFrom(proxied, '127.0.0.9', '/api/auth/session', asAdmin)).status, 401, 'outside the range');
      assert.equal((await getFrom(headerOff, '127.0.0.1', '/api/auth/session', asAdmin)).status, 401, 'TRUSTED_PROXIES alone never reads a user header');
    });
  });
});
