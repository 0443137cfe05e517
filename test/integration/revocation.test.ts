// Issue 14 A: revocation ends access within 5 s, across processes. The relay runs as a
// process; revocations come from the CLI (a separate process) against the same database,
// so the relay can only learn of them from the store, as it would in production.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/auth/passwords.js';
import { createToken, hashKey } from '../../src/auth/tokens.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { freePort, openStoreOf, runCli, startRelay, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseStream } from '../helpers/sse-client.js';

/** The bound the issue sets: a revoked credential's streams end within this. */
const BOUND_MS = 5000;
const PASSWORD = 'first password here';

/** Sets up a user (with password) and tokens in the relay's store; returns the keys. */
async function makeUser(env: Record<string, string>, username: string, options: { tokens?: number; expiresAt?: Date } = {}) {
  const store = await openStoreOf(env);
  try {
    if (!(await store.findUser(username))) await store.createUser(username);
    await store.setPassword(username, await hashPassword(PASSWORD));
    const keys: string[] = [];
    for (let i = 0; i < (options.tokens ?? 1); i++) keys.push((await createToken(store, username, { expiresAt: options.expiresAt ?? null })).key);
    return keys;
  } finally {
    await store.close();
  }
}

/** Signs in and returns the session cookie value, or null when refused. */
async function login(relay: RelayProcess, body: object): Promise<string | null> {
  const res = await fetch(`${relay.url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) return null;
  return /swf_relay_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!;
}

const tokenAuth = (key: string) => ({ Authorization: `Token ${key}` });
const cookieAuth = (cookie: string) => ({ Cookie: `swf_relay_session=${cookie}` });

/** GET /api/auth/session status with these headers. */
async function sessionStatus(relay: RelayProcess, headers: Record<string, string>): Promise<number> {
  return (await fetch(`${relay.url}/api/auth/session`, { headers })).status;
}

/** Opens a stream and waits for `connected`. */
async function connect(relay: RelayProcess, headers: Record<string, string>, opened: SseStream[]): Promise<SseStream> {
  const stream = await openStream(`${relay.url}/api/messages/stream/?msg_types=revocation_probe`, headers);
  opened.push(stream);
  assert.equal(stream.status, 200);
  await stream.waitFor((e) => e.some((x) => x.event === 'connected'));
  return stream;
}

/** Resolves with ms until `stream` ended (from `since`); asserts its last event is `shutdown` with reason `revoked`. */
async function endsRevoked(stream: SseStream, since: number, what: string): Promise<number> {
  const text = await Promise.race([stream.body(), new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`${what}: still open after ${BOUND_MS + 3000} ms:\n${stream.raw().slice(-500)}`)), BOUND_MS + 3000))]);
  const took = Date.now() - since;
  const last = stream.events().at(-1);
  assert.equal(last?.event, 'shutdown', `${what}: last event\n${text.slice(-500)}`);
  assert.deepEqual(JSON.parse(last!.data), { reason: 'revoked' });
  assert.ok(took < BOUND_MS, `${what}: closed after ${took} ms`);
  return took;
}

/** Asserts `stream` is still open (not ended) after the bound has passed. */
async function staysOpen(stream: SseStream, what: string): Promise<void> {
  const ended = await Promise.race([stream.body().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
  assert.equal(ended, false, `${what} was closed:\n${stream.raw().slice(-500)}`);
}

describe('revocation ends access (one process, SQLite)', () => {
  let dir: string;
  let env: Record<string, string>;
  let relay: RelayProcess;
  const opened: SseStream[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-revocation-'));
    env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'info' };
    await makeUser(env, 'bystander');
    relay = await startRelay(env);
  });

  after(async () => {
    for (const s of opened) s.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('token revoke closes its open streams (token and the session made with it) within 5 s; both stop authenticating', async () => {
    const [key, other] = await makeUser(env, 'revokee', { tokens: 2 });
    const cookie = (await login(relay, { token: key }))!;
    assert.ok(cookie);
    const byToken = await connect(relay, tokenAuth(key!), opened);
    const bySession = await connect(relay, cookieAuth(cookie), opened);
    const byOtherToken = await connect(relay, tokenAuth(other!), opened);
    const passwordCookie = (await login(relay, { username: 'revokee', password: PASSWORD }))!;
    const byPassword = await connect(relay, cookieAuth(passwordCookie), opened);

    const cli = await runCli(['token', 'revoke', key!.slice(0, 8)], env);
    assert.equal(cli.code, 0, cli.stderr);
    const revokedAt = Date.now();
    await Promise.all([endsRevoked(byToken, revokedAt, 'token stream'), endsRevoked(bySession, revokedAt, 'session stream')]);
    assert.equal(await sessionStatus(relay, tokenAuth(key!)), 401);
    assert.equal(await sessionStatus(relay, cookieAuth(cookie)), 401, 'the session made with the token ended with it');
    assert.equal(await login(relay, { token: key }), null);
    // Only that token: the user's other token and password session go on.
    await staysOpen(byOtherToken, "the user's other token stream");
    await staysOpen(byPassword, "the user's password session stream");
    assert.equal(await sessionStatus(relay, cookieAuth(passwordCookie)), 200);
    assert.match(relay.output(), /stream closed: credential no longer valid/);
    assert.ok(!relay.output().includes(key!.slice(8)), 'the key is not in the log');
    byOtherToken.close();
    byPassword.close();
  });

  test('token revoke takes a key prefix that begins with "-" (base64url keys do, one in 64) as the prefix, not as an option', async () => {
    const store = await openStoreOf(env);
    try {
      const user = (await store.findUser('bystander'))!;
      const key = `-${'A'.repeat(42)}`;
      await store.insertToken({ userId: user.id, keyPrefix: key.slice(0, 8), keyHash: hashKey(key), name: null, canPublish: false, expiresAt: null, namespaces: null });
    } finally {
      await store.close();
    }
    const cli = await runCli(['token', 'revoke', '-AAAAAAA'], env);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.stdout.trim(), 'revoked -AAAAAAA');
    const again = await runCli(['token', 'revoke', '-AAAAAAA'], env);
    assert.equal(again.code, 1, 'a revoked token is no longer active');
    assert.match(again.stderr, /no active token with id or prefix "-AAAAAAA"/);
  });

  test('token expiry closes its streams and ends the session made with it', async () => {
    const expiresAt = new Date(Date.now() + 6000);
    const [key] = await makeUser(env, 'expiring', { expiresAt });
    const cookie = (await login(relay, { token: key }))!;
    const byToken = await connect(relay, tokenAuth(key!), opened);
    const bySession = await connect(relay, cookieAuth(cookie), opened);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt.getTime() - Date.now())));
    await Promise.all([endsRevoked(byToken, expiresAt.getTime(), 'token stream'), endsRevoked(bySession, expiresAt.getTime(), 'session stream')]);
    assert.equal(await sessionStatus(relay, tokenAuth(key!)), 401);
    assert.equal(await sessionStatus(relay, cookieAuth(cookie)), 401);
  });

  test('user disable closes its streams and refuses its tokens, sessions and password; enable restores them', async () => {
    const [key] = await makeUser(env, 'disablee');
    const cookie = (await login(relay, { username: 'disablee', password: PASSWORD }))!;
    const byToken = await connect(relay, tokenAuth(key!), opened);
    const bySession = await connect(relay, cookieAuth(cookie), opened);
    const [bystanderKey] = await makeUser(env, 'bystander');
    const bystander = await connect(relay, tokenAuth(bystanderKey!), opened);

    const disable = await runCli(['user', 'disable', 'disablee'], env);
    assert.equal(disable.code, 0, disable.stderr);
    const at = Date.now();
    await Promise.all([endsRevoked(byToken, at, 'token stream'), endsRevoked(bySession, at, 'session stream')]);
    assert.equal(await sessionStatus(relay, tokenAuth(key!)), 401);
    assert.equal(await sessionStatus(relay, cookieAuth(cookie)), 401);
    assert.equal(await login(relay, { username: 'disablee', password: PASSWORD }), null);
    assert.equal(await login(relay, { token: key }), null);
    assert.equal((await openStream(`${relay.url}/api/messages/stream/`, tokenAuth(key!)).then((s) => (opened.push(s), s.status))), 401);
    await staysOpen(bystander, "another user's stream");

    const enable = await runCli(['user', 'enable', 'disablee'], env);
    assert.equal(enable.code, 0, enable.stderr);
    assert.equal(await sessionStatus(relay, tokenAuth(key!)), 200);
    assert.equal(await sessionStatus(relay, cookieAuth(cookie)), 200, 'disabling did not end the session; enabling brings it back');
    assert.ok(await login(relay, { username: 'disablee', password: PASSWORD }));
    const again = await connect(relay, tokenAuth(key!), opened);
    await new Promise((r) => setTimeout(r, 2500)); // at least one check period
    await staysOpen(again, 'a stream of the re-enabled user');

    assert.equal((await runCli(['user', 'disable', 'nobody-at-all'], env)).code, 1, 'an unknown user is an error');
    bystander.close();
    again.close();
  });

  test('user passwd ends the user\'s sessions (and their streams); tokens go on', async () => {
    const [key] = await makeUser(env, 'changer');
    const cookie = (await login(relay, { username: 'changer', password: PASSWORD }))!;
    const tokenCookie = (await login(relay, { token: key }))!;
    const bySession = await connect(relay, cookieAuth(cookie), opened);
    const byTokenSession = await connect(relay, cookieAuth(tokenCookie), opened);
    const byToken = await connect(relay, tokenAuth(key!), opened);

    const passwd = await runCli(['user', 'passwd', 'changer', '--password-stdin'], env, 'second password here\n');
    assert.equal(passwd.code, 0, passwd.stderr);
    const at = Date.now();
    await Promise.all([endsRevoked(bySession, at, 'password session stream'), endsRevoked(byTokenSession, at, 'token session stream')]);
    assert.equal(await sessionStatus(relay, cookieAuth(cookie)), 401);
    assert.equal(await sessionStatus(relay, cookieAuth(tokenCookie)), 401);
    assert.equal(await login(relay, { username: 'changer', password: PASSWORD }), null, 'the old password is refused');
    assert.ok(await login(relay, { username: 'changer', password: 'second password here' }));
    await staysOpen(byToken, 'the token stream (a password change does not revoke tokens)');
    assert.ok(!relay.output().includes('second password here'));
    byToken.close();
  });
});

describe('revocation ends access on every web process (two `serve` processes, Redis, PostgreSQL)', () => {
  let pg: TestDatabase;
  const processes: RelayProcess[] = [];
  const opened: SseStream[] = [];

  before(async () => {
    pg = await createTestDatabase();
  });

  after(async () => {
    for (const s of opened) s.close();
    await Promise.all(processes.map((p) => p.stop()));
    await pg?.drop();
  });

  test('a token revoked from the CLI closes its streams on both web processes within 5 s', async () => {
    const env = { DATABASE_URL: pg.url, REDIS_URL: await sharedRedisUrl(), SSE_CHANNEL_GROUP: `revocation-${randomUUID()}`, ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'info' };
    const [key] = await makeUser(env, 'scaled');
    const [keep] = await makeUser(env, 'scaled-bystander');
    for (let i = 0; i < 2; i++) processes.push(await startRelay(env, { command: 'serve' }));
    const [webA, webB] = processes as [RelayProcess, RelayProcess];
    const onA = await connect(webA, tokenAuth(key!), opened);
    const onB = await connect(webB, tokenAuth(key!), opened);
    const keptOnB = await connect(webB, tokenAuth(keep!), opened);

    const cli = await runCli(['token', 'revoke', key!.slice(0, 8)], env);
    assert.equal(cli.code, 0, cli.stderr);
    const at = Date.now();
    await Promise.all([endsRevoked(onA, at, 'stream on process A'), endsRevoked(onB, at, 'stream on process B')]);
    await staysOpen(keptOnB, "another user's stream");
    for (const web of processes) assert.equal(await sessionStatus(web, tokenAuth(key!)), 401);
  });
});
