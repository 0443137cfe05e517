// DjangoAuth's own logic (cache, coalescing, expiry, failure → 503, log on state changes) over
// a scripted DjangoDb. Against real Django databases: test/integration/django-auth.test.ts.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { CACHE_MAX_ENTRIES, CACHE_TTL_MS, DjangoAuth, expiryOf } from '../../src/auth/django.js';
import type { DjangoDb } from '../../src/auth/django-db.js';
import { LookupCache } from '../../src/auth/lookup-cache.js';
import { AppError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

const KEY = 'a'.repeat(40);
const sessionData = (userId: string) => `.${deflateSync(JSON.stringify({ _auth_user_id: userId, _auth_user_backend: 'x' })).toString('base64url')}:1xYP5c:sig`;

/** A DjangoDb answering from `rows` (table → rows keyed by the first parameter), counting queries; `down` makes it fail. */
function scriptedDb() {
  const state = {
    queries: 0,
    down: false as boolean,
    tokens: new Map<string, { id: number; username: string; is_active: boolean | number }>(),
    sessions: new Map<string, { session_data: string; expire_date: Date | string }>(),
    users: new Map<string, { id: number; username: string; is_active: boolean | number }>(),
  };
  const db: DjangoDb = {
    dialect: 'sqlite',
    async select<T extends object>(sql: string, params: readonly unknown[]): Promise<T[]> {
      state.queries++;
      await new Promise((r) => setImmediate(r));
      if (state.down) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
      const key = String(params[0]);
      const row = sql.includes('authtoken_token t') ? state.tokens.get(key) : sql.includes('FROM django_session') ? state.sessions.get(key) : sql.includes('FROM auth_user WHERE id') ? state.users.get(key) : {};
      return (row ? [row] : []) as T[];
    },
    async close() {},
  };
  return { db, state };
}

function setup() {
  let now = 1_000_000;
  const lines: string[] = [];
  const log = createLogger('info', new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
  const { db, state } = scriptedDb();
  const auth = new DjangoAuth(db, log, 'sqlite:test', () => now);
  return { auth, state, lines, advance: (ms: number) => (now += ms), now: () => now };
}

describe('DjangoAuth', () => {
  it('a token names its active user; the result is reused for CACHE_TTL_MS, then asked again', async () => {
    const { auth, state, advance } = setup();
    state.tokens.set(KEY, { id: 7, username: 'alice', is_active: 1 });
    assert.deepEqual(await auth.tokenPrincipal(KEY), { userId: 'django:7', username: 'alice', tokenId: null, canPublish: false, via: 'django-token' });
    state.tokens.delete(KEY);
    advance(CACHE_TTL_MS - 1);
    assert.equal((await auth.tokenPrincipal(KEY))?.username, 'alice', 'still cached');
    assert.equal(state.queries, 1);
    advance(1);
    assert.equal(await auth.tokenPrincipal(KEY), null, 'deleted row seen after the TTL');
    assert.equal(state.queries, 2);
  });

  it('negatives are cached too; an inactive user is no principal; non-DRF keys never reach the database', async () => {
    const { auth, state } = setup();
    state.tokens.set(KEY, { id: 8, username: 'bob', is_active: false });
    assert.equal(await auth.tokenPrincipal(KEY), null);
    assert.equal(await auth.tokenPrincipal(KEY), null);
    assert.equal(await auth.tokenPrincipal('b'.repeat(40)), null);
    assert.equal(state.queries, 2);
    for (const key of ['A'.repeat(40), 'a'.repeat(39), 'a'.repeat(41), 'relay-key-base64url-43-characters-long-xxxx']) assert.equal(await auth.tokenPrincipal(key), null);
    assert.equal(state.queries, 2);
  });

  it('concurrent lookups of one key share one query', async () => {
    const { auth, state } = setup();
    state.tokens.set(KEY, { id: 7, username: 'alice', is_active: true });
    const results = await Promise.all(Array.from({ length: 20 }, () => auth.tokenPrincipal(KEY)));
    assert.ok(results.every((p) => p?.username === 'alice'));
    assert.equal(state.queries, 1);
  });

  it('a session names its user until its own expiry, even inside the cache lifetime', async () => {
    const { auth, state, advance, now } = setup();
    state.sessions.set('s3ss10nk3y', { session_data: sessionData('9'), expire_date: new Date(now() + 1000) });
    state.users.set('9', { id: 9, username: 'carol', is_active: true });
    assert.equal((await auth.sessionPrincipal('s3ss10nk3y'))?.via, 'django-session');
    advance(1000);
    state.sessions.delete('s3ss10nk3y');
    assert.equal(await auth.sessionPrincipal('s3ss10nk3y'), null, 'expired at expire_date, not CACHE_TTL_MS later');
  });

  it('expired, anonymous, undecodable or malformed sessions are none', async () => {
    const { auth, state, now } = setup();
    state.users.set('9', { id: 9, username: 'carol', is_active: true });
    state.sessions.set('expired01', { session_data: sessionData('9'), expire_date: new Date(now() - 1) });
    state.sessions.set('anonymous', { session_data: `${Buffer.from('{"cart":1}').toString('base64url')}:1xYP5c:sig`, expire_date: new Date(now() + 60_000) });
    state.sessions.set('garbage01', { session_data: 'garbage', expire_date: new Date(now() + 60_000) });
    state.sessions.set('baddate01', { session_data: sessionData('9'), expire_date: 'tomorrow' });
    for (const key of ['expired01', 'anonymous', 'garbage01', 'baddate01', 'unknown01']) assert.equal(await auth.sessionPrincipal(key), null, key);
    for (const key of [undefined, '', 'short', 'x'.repeat(41), 'has space1', 'semi;colon']) assert.equal(await auth.sessionPrincipal(key), null, String(key));
  });

  it('an unreachable database is a 503 (never cached), logged once; recovery is logged once', async () => {
    const { auth, state, lines } = setup();
    state.tokens.set(KEY, { id: 7, username: 'alice', is_active: true });
    state.down = true;
    for (let i = 0; i < 3; i++) {
      await assert.rejects(auth.tokenPrincipal(KEY), (err) => err instanceof AppError && err.status === 503 && err.retryAfter === 5);
    }
    assert.match(auth.lastError ?? '', /ECONNREFUSED/);
    await assert.rejects(auth.ping());
    state.down = false;
    assert.equal((await auth.tokenPrincipal(KEY))?.username, 'alice');
    assert.equal(auth.lastError, null);
    const messages = lines.map((l) => JSON.parse(l) as { msg: string; database?: string });
    assert.equal(messages.filter((m) => m.msg.startsWith('django database unreachable')).length, 1);
    assert.equal(messages.filter((m) => m.msg.startsWith('django database reachable again')).length, 1);
    assert.ok(messages.every((m) => !JSON.stringify(m).includes(KEY)), 'the key is never logged');
  });

  it('the cache holds at most CACHE_MAX_ENTRIES results', async () => {
    const { auth, state } = setup();
    for (let i = 0; i <= CACHE_MAX_ENTRIES; i++) await auth.tokenPrincipal(i.toString(16).padStart(40, '0'));
    const before = state.queries;
    await auth.tokenPrincipal('0'.repeat(40)); // the oldest, evicted
    assert.equal(state.queries, before + 1);
  });
});

describe('LookupCache', () => {
  it('forgets at each entry\'s deadline and evicts the oldest past its size', () => {
    let now = 0;
    const cache = new LookupCache<string | null>(2, () => now);
    cache.set('a', 'A', 10);
    cache.set('b', null, 20);
    assert.equal(cache.get('a'), 'A');
    assert.equal(cache.get('b'), null);
    cache.set('c', 'C', 30);
    assert.equal(cache.get('a'), undefined, 'evicted: oldest');
    assert.equal(cache.size, 2);
    now = 20;
    assert.equal(cache.get('b'), undefined, 'expired');
    assert.equal(cache.get('c'), 'C');
    cache.set('d', 'D', 20);
    assert.equal(cache.get('d'), undefined, 'a deadline already past stores nothing');
  });
});

describe('expiryOf', () => {
  it('reads PostgreSQL Dates and SQLite UTC text', () => {
    const at = Date.UTC(2026, 11, 15, 14, 44, 16, 678);
    assert.equal(expiryOf(new Date(at)), at);
    assert.equal(expiryOf('2026-12-15 14:44:16.678076'), at);
    assert.equal(expiryOf('2026-12-15 14:44:16'), at - 678);
    assert.equal(expiryOf('2026-12-15T14:44:16.678+00:00'), at);
    assert.equal(expiryOf('2026-12-15 16:44:16.678+0200'), at);
    for (const bad of ['', 'tomorrow', '2026-12-15', '15/12/2026 14:44:16']) assert.ok(Number.isNaN(expiryOf(bad)), bad);
  });
});
