import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KEY_PREFIX_LENGTH, authenticateKey, createToken, generateKey, hashKey, keyFromHeader } from '../../src/auth/tokens.js';
import { AppError } from '../../src/errors.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';

function isNotAuthenticated(err: unknown): boolean {
  assert.ok(err instanceof AppError, `an AppError, got ${String(err)}`);
  assert.equal(err.code, 'NOT_AUTHENTICATED');
  assert.equal(err.status, 401);
  return true;
}

describe('keyFromHeader', () => {
  it('reads Token and Bearer, in any case, with surrounding spaces', () => {
    assert.equal(keyFromHeader('Token abc123'), 'abc123');
    assert.equal(keyFromHeader('Bearer abc123'), 'abc123');
    assert.equal(keyFromHeader('token abc123'), 'abc123');
    assert.equal(keyFromHeader('BEARER abc123'), 'abc123');
    assert.equal(keyFromHeader('  Token   abc-_123  '), 'abc-_123');
  });

  it('refuses anything else', () => {
    for (const junk of [undefined, '', 'abc123', 'Token', 'Token ', 'Basic dXNlcjpwYXNz', 'Token a b', 'Tokenabc', 'Bearer: abc', 'Digest abc']) {
      assert.equal(keyFromHeader(junk), null, JSON.stringify(junk));
    }
  });
});

describe('generateKey', () => {
  it('is 43 characters of base64url carrying 32 random bytes', () => {
    const key = generateKey();
    assert.equal(key.length, 43);
    assert.match(key, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key, 'base64url').length, 32, '256 bits ≥ the 160 SPEC §5 asks for');
  });

  it('never repeats, and uses the whole alphabet', () => {
    const keys = Array.from({ length: 2000 }, generateKey);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(new Set(keys.map((k) => k.slice(0, KEY_PREFIX_LENGTH))).size, keys.length, 'prefixes are unique too');
    // 2000 × 42 uniformly random characters cover all 64 symbols except with negligible probability.
    const symbols = new Set(keys.flatMap((k) => [...k.slice(0, 42)]));
    assert.equal(symbols.size, 64);
    // Bit balance: about half of all the key bits are ones (±2 % over 512,000 bits).
    let ones = 0;
    for (const k of keys) for (const byte of Buffer.from(k, 'base64url')) for (let b = byte; b; b >>= 1) ones += b & 1;
    const ratio = ones / (keys.length * 256);
    assert.ok(ratio > 0.48 && ratio < 0.52, `ones ratio ${ratio}`);
  });
});

describe('hashKey', () => {
  it('is the hex SHA-256 of the key', () => {
    assert.equal(hashKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hashKey(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes the UTF-8 bytes', () => {
    assert.equal(hashKey('é'), hashKey(Buffer.from([0xc3, 0xa9]).toString('utf8')));
    assert.notEqual(hashKey('é'), hashKey('e'));
  });
});

describe('createToken / authenticateKey (SQLite :memory:)', () => {
  let store: Store;

  before(async () => {
    store = openSqliteStore(':memory:');
    assert.equal((await store.migrate())[0], '0001-initial');
  });

  after(async () => {
    await store.close();
  });

  it('stores only the prefix and the hash of the key', async () => {
    const { key, token } = await createToken(store, 'alice', { createUser: true, name: 'laptop' });
    assert.equal(token.keyPrefix, key.slice(0, KEY_PREFIX_LENGTH));
    assert.equal(token.keyHash, hashKey(key));
    assert.equal(token.username, 'alice');
    assert.equal(token.name, 'laptop');
    assert.equal(token.canPublish, false);
    assert.equal(token.revokedAt, null);
    const listed = await store.listTokens();
    assert.ok(listed.every((t) => !Object.values(t).includes(key)), 'the key itself is never stored');
  });

  it('a good key authenticates as its user', async () => {
    const { key, token } = await createToken(store, 'bob', { createUser: true, canPublish: true });
    const principal = await authenticateKey(store, key);
    assert.deepEqual(principal, { userId: token.userId, username: 'bob', tokenId: token.id, canPublish: true, via: 'token', namespaces: null, isAdmin: false });
    assert.deepEqual(await authenticateKey(store, keyFromHeader(`Token ${key}`)), principal);
    assert.deepEqual(await authenticateKey(store, keyFromHeader(`Bearer ${key}`)), principal);
  });

  it('a wrong key with a known prefix is refused', async () => {
    const { key } = await createToken(store, 'carol', { createUser: true });
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    await assert.rejects(authenticateKey(store, key.slice(0, -1) + last), isNotAuthenticated);
    await assert.rejects(authenticateKey(store, key + 'x'), isNotAuthenticated);
    await assert.rejects(authenticateKey(store, key.slice(0, KEY_PREFIX_LENGTH + 1)), isNotAuthenticated);
  });

  it('an unknown prefix is refused', async () => {
    await assert.rejects(authenticateKey(store, generateKey()), isNotAuthenticated);
  });

  it('a key no longer than the prefix is refused', async () => {
    const { key } = await createToken(store, 'dave', { createUser: true });
    await assert.rejects(authenticateKey(store, key.slice(0, KEY_PREFIX_LENGTH)), isNotAuthenticated);
    await assert.rejects(authenticateKey(store, 'x'), isNotAuthenticated);
  });

  it('a revoked key is refused', async () => {
    const { key, token } = await createToken(store, 'erin', { createUser: true });
    assert.equal((await authenticateKey(store, key)).username, 'erin');
    assert.equal(await store.revokeToken(token.keyPrefix), true);
    await assert.rejects(authenticateKey(store, key), isNotAuthenticated);
  });

  it('revoking one key leaves the user’s other keys working', async () => {
    const first = await createToken(store, 'frank', { createUser: true });
    const second = await createToken(store, 'frank');
    assert.equal(await store.revokeToken(first.token.id), true);
    await assert.rejects(authenticateKey(store, first.key), isNotAuthenticated);
    assert.equal((await authenticateKey(store, second.key)).tokenId, second.token.id);
  });

  it('a missing key is refused with NOT_AUTHENTICATED', async () => {
    await assert.rejects(authenticateKey(store, null), isNotAuthenticated);
    await assert.rejects(authenticateKey(store, keyFromHeader(undefined)), isNotAuthenticated);
  });

  it('createToken for an unknown user without createUser is NOT_FOUND', async () => {
    await assert.rejects(createToken(store, 'nobody'), (err: unknown) => err instanceof AppError && err.code === 'NOT_FOUND');
    assert.equal(await store.findUser('nobody'), undefined);
  });
});

describe('token expiry', () => {
  it('a token past its expiry no longer authenticates; one before it does', async () => {
    const { openSqliteStore } = await import('../../src/store/sqlite.js');
    const { createToken: create, authenticateKey: authenticate } = await import('../../src/auth/tokens.js');
    const store = openSqliteStore(':memory:');
    await store.migrate();
    try {
      const live = await create(store, 'dora', { createUser: true, expiresAt: new Date(Date.now() + 60_000) });
      const dead = await create(store, 'dora', { expiresAt: new Date(Date.now() - 1000) });
      assert.equal((await authenticate(store, live.key)).username, 'dora');
      await assert.rejects(authenticate(store, dead.key), (err: Error & { code?: string }) => err.code === 'NOT_AUTHENTICATED');
      assert.match(dead.token.expiresAt ?? '', /^\d{4}-/);
    } finally {
      await store.close();
    }
  });
});
