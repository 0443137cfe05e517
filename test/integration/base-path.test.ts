// BASE_PATH=/swf-monitor on a real relay process: every route answers under the prefix and at the
// root (stream, status, history, healthz, sign-in, the page and its assets); look-alike paths do not.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/auth/passwords.js';
import { createToken } from '../../src/auth/tokens.js';
import { freePort, openStoreOf, runCli, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseStream } from '../helpers/sse-client.js';

const PREFIX = '/swf-monitor';
const PASSWORD = 'correct horse battery';

/** GET with the path sent exactly as written (fetch would normalise `..`). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe(`BASE_PATH=${PREFIX}`, () => {
  let relay: RelayProcess;
  let dir: string;
  let token = '';
  const streams: SseStream[] = [];
  const auth = () => ({ Authorization: `Token ${token}` });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${relay.url}${path}`, { headers: { ...auth(), ...headers }, redirect: 'manual' });
  const publish = async (body: object) => {
    const res = await fetch(`${relay.url}/api/messages/`, { method: 'POST', headers: { ...auth(), 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 201, await res.text());
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-base-path-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      // No broker: messages come in over HTTP publish, through the same writer.
      ACTIVEMQ_PORT: String(await freePort()),
      BASE_PATH: PREFIX,
      LOG_LEVEL: 'info',
    };
    const store = await openStoreOf(env);
    token = (await createToken(store, 'tester', { createUser: true, canPublish: true })).key;
    await store.createUser('alice');
    await store.setPassword('alice', await hashPassword(PASSWORD));
    await store.close();
    relay = await startRelay(env);
  });

  after(async () => {
    for (const s of streams) s.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const base of [PREFIX, '']) {
    const where = base === '' ? 'at the root' : 'under the prefix';

    test(`${where}: stream (live event), status, history with its next link, healthz`, async () => {
      const stream = await openStream(`${relay.url}${base}/api/messages/stream/?msg_types=bp_live`, auth());
      streams.push(stream);
      assert.equal(stream.status, 200, stream.raw());
      assert.equal(stream.headers['content-type'], 'text/event-stream');
      await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
      await publish({ msg_type: 'bp_live', base });
      const events = await stream.waitFor((e) => e.some((x) => x.event === 'bp_live'));
      assert.equal((JSON.parse(events.find((e) => e.event === 'bp_live')!.data) as { base: string }).base, base);

      const status = await get(`${base}/api/messages/stream/status/`);
      assert.equal(status.status, 200);
      const body = (await status.json()) as { connected_clients: number };
      assert.ok(body.connected_clients >= 1);
      assert.equal((await get(`${base}/api/messages/stream/status/`, { Authorization: '' })).status, 401);

      const history = await get(`${base}/api/messages/?msg_types=bp_live&limit=1`);
      assert.equal(history.status, 200);
      const page = (await history.json()) as { results: unknown[]; next: string | null };
      assert.equal(page.results.length, 1);
      // Two bp_live messages exist once both bases ran; the first run has one, so publish another.
      if (page.next === null) await publish({ msg_type: 'bp_live', base: 'extra' });
      const again = (await (await get(`${base}/api/messages/?msg_types=bp_live&limit=1`)).json()) as { next: string | null };
      assert.ok(again.next?.startsWith(`${base}/api/messages/?`), `next stays ${where}: ${again.next}`);
      assert.equal((await get(again.next!)).status, 200, 'the next link works as given');

      const health = await get(`${base}/healthz?from=${where.replaceAll(' ', '-')}`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      // Logged as received, prefix included.
      const logged = `"url":"${base}/healthz?from=${where.replaceAll(' ', '-')}"`;
      // The log is written asynchronously: wait for the line.
      await waitUntil(() => relay.output().split('\n').some((line) => line.includes('"incoming request"') && line.includes(logged)), `a request log line with ${logged}`, () => relay.output(), 5_000);
      // Every line of the request carries it as a binding, also those without the request object.
      await waitUntil(() => relay.output().split('\n').some((line) => line.includes('"request completed"') && line.includes(logged)), `a completion log line with ${logged}`, () => relay.output(), 5_000);
    });

    test(`${where}: the page and its assets, with relative URLs only`, async () => {
      const page = await get(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const html = await page.text();
      assert.match(html, /href="style\.css"/);
      assert.match(html, /src="app\.js"/);
      assert.doesNotMatch(html, /(href|src)="\//, 'no absolute asset path');
      const script = await get(`${base}/app.js`);
      assert.equal(script.status, 200);
      assert.match(script.headers.get('content-type') ?? '', /javascript/);
      const source = await script.text();
      assert.doesNotMatch(source, /['`"]\/api\//, 'the page calls the API relative to where it is served');
      const style = await get(`${base}/style.css`);
      assert.equal(style.status, 200);
      assert.match(style.headers.get('content-type') ?? '', /^text\/css/);
    });

    test(`${where}: sign-in sets the cookie for ${base || '/'}; it opens the stream; sign-out ends it`, async () => {
      const login = await fetch(`${relay.url}${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: PASSWORD }),
      });
      assert.equal(login.status, 200, await login.clone().text());
      const setCookie = login.headers.get('set-cookie') ?? '';
      assert.match(setCookie, new RegExp(`^swf_relay_session=[^;]+;.*Path=${base || '/'}(;|$)`, 'i'), setCookie);
      const cookie = setCookie.split(';')[0]!;
      const session = await fetch(`${relay.url}${base}/api/auth/session`, { headers: { Cookie: cookie } });
      assert.equal(session.status, 200);
      const stream = await openStream(`${relay.url}${base}/api/messages/stream/`, { Cookie: cookie });
      streams.push(stream);
      assert.equal(stream.status, 200);
      stream.close();

      const logout = await fetch(`${relay.url}${base}/api/auth/logout`, { method: 'POST', headers: { Cookie: cookie, 'Content-Type': 'application/json' }, body: '{}' });
      assert.equal(logout.status, 200);
      // Cleared at the root and under the prefix: a browser may hold one of each.
      const cleared = logout.headers.getSetCookie().map((c) => /Path=([^;]*)/i.exec(c)?.[1]).sort();
      assert.deepEqual(cleared, ['/', PREFIX]);
      assert.equal((await fetch(`${relay.url}${base}/api/auth/session`, { headers: { Cookie: cookie } })).status, 401);
    });
  }

  test('sign-out ends every session cookie the browser sent (one from the root, one from the prefix)', async () => {
    const signIn = async (base: string) => {
      const res = await fetch(`${relay.url}${base}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORD }) });
      assert.equal(res.status, 200);
      return (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    };
    const atPrefix = await signIn(PREFIX);
    const atRoot = await signIn('');
    // What a browser sends under the prefix: the more specific path first.
    const both = `${atPrefix}; ${atRoot}`;
    assert.equal((await fetch(`${relay.url}/api/auth/logout`, { method: 'POST', headers: { Cookie: both, 'Content-Type': 'application/json' }, body: '{}' })).status, 200);
    for (const cookie of [atPrefix, atRoot]) assert.equal((await fetch(`${relay.url}/api/auth/session`, { headers: { Cookie: cookie } })).status, 401, cookie);
  });

  test(`${PREFIX} without its slash redirects to ${PREFIX}/, keeping the query`, async () => {
    for (const [path, location] of [
      [PREFIX, `${PREFIX}/`],
      [`${PREFIX}?msg_types=a`, `${PREFIX}/?msg_types=a`],
    ] as const) {
      const res = await get(path);
      assert.equal(res.status, 308, path);
      assert.equal(res.headers.get('location'), location, path);
    }
  });

  test('paths that merely start with the same letters are not under the prefix: 404 JSON', async () => {
    for (const path of [`${PREFIX}X/api/messages/stream/`, `${PREFIX}X/healthz`, `${PREFIX}-old/api/messages/stream/status/`, `${PREFIX}x/`, `${PREFIX}${PREFIX}/healthz`]) {
      const res = await get(path);
      assert.equal(res.status, 404, path);
      assert.deepEqual(await res.json(), { detail: 'Not found.' }, path);
    }
  });

  test('no way out of the web root through the prefix', async () => {
    for (const path of [`${PREFIX}/../package.json`, `${PREFIX}/%2e%2e/package.json`, `${PREFIX}/..%2fpackage.json`, `${PREFIX}/../${PREFIX.slice(1)}/healthz`]) {
      const res = await rawGet(relay.port, path);
      assert.ok(res.status === 404 || res.status === 403 || res.status === 400, `${path}: ${res.status}`);
      assert.doesNotMatch(res.body, /"name":\s*"swf-relay"/, path);
    }
  });

  test('a bad BASE_PATH stops the relay at start: one line naming it, exit 2', async () => {
    for (const value of ['swf-monitor', '/swf-monitor/', '/a/../b', '/swf monitor']) {
      const result = await runCli(['start'], { DATABASE_URL: `sqlite:${join(dir, 'never.db')}`, BASE_PATH: value, PORT: '0' });
      assert.equal(result.code, 2, `${value}: ${result.stderr}`);
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /^swf-relay: BASE_PATH: .+ \(got ".*"\)$/, lines[0]);
    }
  });
});
