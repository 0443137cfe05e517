// HTTP security suite against the relay as a process: hostile requests get the right JSON
// error, limits hold (per user, per process, per address), 2,000 connect/disconnect cycles
// leave nothing behind, and no secret shows up in logs, metrics, status or error bodies.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { hashPassword } from '../../src/auth/passwords.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { openStoreOf, rssBytes, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream } from '../helpers/sse-client.js';

const PASSWORD = 'a long enough password';

/** A raw HTTP/1.1 request (fetch refuses some of what we need to send). */
function raw(url: string, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const target = new URL(url);
    const req = request(
      { host: target.hostname, port: target.port, method: options.method ?? 'GET', path: options.path ?? target.pathname + target.search, headers: options.headers, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('security', () => {
  let broker: PrivateBroker;
  let dir: string;
  let env: Record<string, string>;
  let relay: RelayProcess;
  const relays: RelayProcess[] = [];
  const secrets: string[] = [PASSWORD];
  const seen: string[] = []; // every body and header we got back, scanned for secrets at the end
  let key: string;
  let revokedKey: string;

  const launch = async (extra: Record<string, string> = {}) => {
    const r = await startRelay({ ...env, ...extra });
    relays.push(r);
    return r;
  };
  const get = async (r: RelayProcess, path: string, headers: Record<string, string> = {}) => {
    const res = await raw(`${r.url}${path}`, { headers });
    seen.push(res.body, JSON.stringify(res.headers));
    return res;
  };
  const auth = () => ({ Authorization: `Token ${key}` });

  before(async () => {
    broker = await startActiveMQ();
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-security-'));
    env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(broker.port),
      ACTIVEMQ_HEARTBEAT_TOPIC: `/topic/security-${process.pid}`,
      ACTIVEMQ_CLIENT_ID: `security-${process.pid}`,
      CORS_ALLOWED_ORIGINS: 'http://allowed.example',
      MESSAGE_MAX_BYTES: '65536',
      LOG_LEVEL: 'debug',
    };
    const store = await openStoreOf(env);
    key = (await createToken(store, 'sec-user', { createUser: true, canPublish: true })).key;
    revokedKey = (await createToken(store, 'sec-user')).key;
    await store.revokeToken(revokedKey.slice(0, 8));
    await store.createUser('webuser');
    await store.setPassword('webuser', await hashPassword(PASSWORD));
    await store.close();
    secrets.push(key, revokedKey);
    relay = await launch({ SSE_CONNECTS_PER_MINUTE: '0' });
  });

  after(async () => {
    const logs = relays.map((r) => r.output()).join('\n');
    for (const r of relays) await r.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    // Secrets: not in any log line, response body or header we saw.
    assert.ok(logs.includes('incoming request'), 'request logs were captured');
    for (const secret of secrets) {
      assert.ok(!logs.includes(secret), 'a secret appeared in the logs');
      assert.ok(!seen.some((s) => s.includes(secret)), 'a secret appeared in a response');
    }
  });

  test('oversized URL and headers: 431 JSON; oversized body: 413 JSON', async () => {
    const longUrl = await raw(`${relay.url}/api/messages/?run_ids=${'x'.repeat(20_000)}`, { headers: auth() });
    assert.equal(longUrl.status, 431);
    assert.ok(JSON.parse(longUrl.body).detail);
    const longHeader = await raw(`${relay.url}/healthz`, { headers: { 'X-Junk': 'y'.repeat(20_000) } });
    assert.equal(longHeader.status, 431);
    assert.ok(JSON.parse(longHeader.body).detail);
    const big = await raw(`${relay.url}/api/messages/`, {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ msg_type: 'big', pad: 'z'.repeat(70_000) }),
    });
    assert.equal(big.status, 413);
    assert.ok(JSON.parse(big.body).detail);
  });

  test('unknown routes 404 JSON, wrong methods 405 JSON with Allow', async () => {
    const unknown = await get(relay, '/api/nothing-here/', auth());
    assert.equal(unknown.status, 404);
    assert.deepEqual(JSON.parse(unknown.body), { detail: 'Not found.' });
    for (const [method, path, allow] of [
      ['DELETE', '/api/messages/', 'GET, POST'],
      ['PUT', '/api/messages/stream/', 'GET'],
      ['GET', '/api/auth/login', 'POST'],
    ]) {
      const res = await raw(`${relay.url}${path}`, { method: method!, headers: auth() });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.allow, allow);
      assert.ok(JSON.parse(res.body).detail);
    }
  });

  test('tokens: missing, malformed, unknown, revoked → 401; query tokens only when enabled', async () => {
    const cases: Record<string, string>[] = [{}, { Authorization: 'Token' }, { Authorization: `Token ${'A'.repeat(43)}` }, { Authorization: `Bearer ${revokedKey}` }, { Authorization: `Basic ${key}` }];
    for (const headers of cases) {
      const res = await get(relay, '/api/messages/stream/', headers);
      assert.equal(res.status, 401);
      assert.ok(JSON.parse(res.body).detail);
    }
    assert.equal((await get(relay, `/api/messages/?token=${key}`)).status, 401, 'query token refused by default');
    const lenient = await launch({ SSE_ALLOW_QUERY_TOKEN: 'true' });
    assert.equal((await get(lenient, `/api/messages/?token=${key}`)).status, 200);
    assert.ok(!lenient.output().includes(key), 'the query token is redacted from request logs');
  });

  test('X-Remote-User counts only when configured and only from a trusted proxy address', async () => {
    assert.equal((await get(relay, '/api/auth/session', { 'X-Remote-User': 'mallory' })).status, 401, 'ignored without TRUSTED_PROXIES');
    const behindProxy = await launch({ TRUSTED_PROXIES: '127.0.0.1', TRUSTED_PROXY_USER_HEADER: 'X-Remote-User' });
    const res = await get(behindProxy, '/api/auth/session', { 'X-Remote-User': 'proxied-user' });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { username: 'proxied-user', via: 'proxy' });
    const elsewhere = await launch({ TRUSTED_PROXIES: '192.0.2.10', TRUSTED_PROXY_USER_HEADER: 'X-Remote-User' });
    assert.equal((await get(elsewhere, '/api/auth/session', { 'X-Remote-User': 'proxied-user' })).status, 401, 'not from a listed proxy');
  });

  test('an expired token gets 401', async () => {
    const store = await openStoreOf(env);
    const expired = (await createToken(store, 'sec-user', { expiresAt: new Date(Date.now() - 1000) })).key;
    await store.close();
    secrets.push(expired);
    assert.equal((await get(relay, '/api/messages/', { Authorization: `Token ${expired}` })).status, 401);
  });

  test('bad filters and Last-Event-ID: 400 JSON naming the parameter', async () => {
    for (const [path, param] of [
      ['/api/messages/stream/?msg_types=%00', 'msg_types'],
      ['/api/messages/stream/?last_event_id=1e5', 'last_event_id'],
      ['/api/messages/stream/?last_event_id=-1', 'last_event_id'],
      ['/api/messages/?after_id=1;drop', 'after_id'],
    ]) {
      const res = await get(relay, path!, auth());
      assert.equal(res.status, 400, path);
      assert.equal(JSON.parse(res.body).param, param);
    }
    const header = await get(relay, '/api/messages/stream/', { ...auth(), 'Last-Event-ID': "1' OR 1=1" });
    assert.equal(header.status, 400);
  });

  test('sessions: a planted cookie is never promoted (fixation); cross-site logout is refused', async () => {
    const login = await raw(`${relay.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: 'swf_relay_session=planted-by-attacker' },
      body: JSON.stringify({ username: 'webuser', password: PASSWORD }),
    });
    assert.equal(login.status, 200);
    const cookie = String(login.headers['set-cookie']).match(/swf_relay_session=([^;]+)/)![1]!;
    assert.notEqual(cookie, 'planted-by-attacker');
    secrets.push(cookie);
    assert.equal((await get(relay, '/api/auth/session', { Cookie: 'swf_relay_session=planted-by-attacker' })).status, 401);
    assert.equal((await get(relay, '/api/auth/session', { Cookie: `swf_relay_session=${cookie}` })).status, 200);
    const crossSite = await raw(`${relay.url}/api/auth/logout`, { method: 'POST', headers: { Cookie: `swf_relay_session=${cookie}`, Origin: 'http://evil.example', 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(crossSite.status, 403);
    assert.equal((await get(relay, '/api/auth/session', { Cookie: `swf_relay_session=${cookie}` })).status, 200, 'still signed in');
    const sameSite = await raw(`${relay.url}/api/auth/logout`, { method: 'POST', headers: { Cookie: `swf_relay_session=${cookie}`, Origin: relay.url, 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(sameSite.status, 200);
    assert.equal((await get(relay, '/api/auth/session', { Cookie: `swf_relay_session=${cookie}` })).status, 401);
    const wrong = await raw(`${relay.url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'webuser', password: 'nope nope' }) });
    assert.equal(wrong.status, 401);
  });

  test('CORS negatives: other origins get no CORS headers, preflight included', async () => {
    const simple = await get(relay, '/api/messages/', { ...auth(), Origin: 'http://evil.example' });
    assert.equal(simple.headers['access-control-allow-origin'], undefined);
    const preflight = await raw(`${relay.url}/api/messages/`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined);
    const allowed = await get(relay, '/api/messages/', { ...auth(), Origin: 'http://allowed.example' });
    assert.equal(allowed.headers['access-control-allow-origin'], 'http://allowed.example');
    assert.notEqual(allowed.headers['access-control-allow-origin'], '*');
  });

  test('static files: no path traversal; the page has a strict CSP', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/app.js/../../package.json', '/%2e%2e%2f%2e%2e%2fpackage.json', '/....//package.json']) {
      const res = await get(relay, path);
      assert.ok(!res.body.includes('"dependencies"'), `${path} must not serve files outside the web root`);
      assert.ok([400, 403, 404].includes(res.status), `${path}: ${res.status}`);
    }
    const page = await get(relay, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'; script-src 'self'/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
  });

  test('limits: per user 429, per process 503, per address 429, each with Retry-After', async () => {
    const limited = await launch({ SSE_MAX_STREAMS_PER_USER: '2', SSE_MAX_CLIENTS: '3', SSE_CONNECTS_PER_MINUTE: '0' });
    const store = await openStoreOf(env);
    const other = (await createToken(store, 'second-user', { createUser: true })).key;
    const third = (await createToken(store, 'third-user', { createUser: true })).key;
    await store.close();
    secrets.push(other, third);
    const open = (k: string) => openStream(`${limited.url}/api/messages/stream/`, { Authorization: `Token ${k}` });
    const streams = [await open(key), await open(key)];
    const overUser = await open(key);
    assert.equal(overUser.status, 429);
    assert.ok(Number(overUser.headers['retry-after']) > 0);
    assert.ok(JSON.parse(await overUser.body()).detail);
    streams.push(await open(other));
    const full = await open(third);
    assert.equal(full.status, 503);
    assert.ok(Number(full.headers['retry-after']) > 0);
    for (const s of streams) s.close();

    const rated = await launch({ SSE_CONNECTS_PER_MINUTE: '5' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const s = await openStream(`${rated.url}/api/messages/stream/`, { Authorization: `Token ${key}` });
      statuses.push(s.status);
      if (s.status !== 200) assert.ok(Number(s.headers['retry-after']) > 0);
      s.close();
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
  });

  test('2,000 rapid connect/disconnect cycles leave descriptors, memory and the registry at baseline', async (t) => {
    const fds = () => readdirSync(`/proc/${relay.pid}/fd`).length;
    const connected = async () => ((await (await fetch(`${relay.url}/api/messages/stream/status/`, { headers: auth() })).json()) as { connected_clients: number }).connected_clients;
    // Warm up (JIT, pools), then take the baseline.
    for (let i = 0; i < 100; i++) (await openStream(`${relay.url}/api/messages/stream/`, auth())).close();
    await waitUntil(async () => (await connected()) === 0, 'warm-up streams gone');
    const [fdBefore, rssBefore] = [fds(), rssBytes(relay.pid)];
    const cycles = 2000;
    const parallel = 20;
    let done = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (done < cycles) {
          done++;
          const stream = await openStream(`${relay.url}/api/messages/stream/?run_ids=cycle`, auth());
          assert.equal(stream.status, 200);
          await stream.waitFor((e) => e.some((x) => x.event === 'connected'));
          stream.close();
        }
      }),
    );
    await waitUntil(async () => (await connected()) === 0, 'every stream to be unregistered');
    await waitUntil(() => fds() <= fdBefore + 5, 'descriptors back to baseline', () => `${fds()} open, baseline ${fdBefore}`);
    const growth = rssBytes(relay.pid) - rssBefore;
    t.diagnostic(`after ${cycles} cycles: descriptors ${fds()} (baseline ${fdBefore}), RSS growth ${(growth / 1048576).toFixed(1)} MiB`);
    assert.ok(growth < 64 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MiB over ${cycles} cycles`);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    seen.push(metrics);
    assert.match(metrics, /swf_relay_clients_connected\{[^}]*\} 0/);
  });
});
