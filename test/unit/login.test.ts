import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppError } from '../../src/errors.js';
import { LoginLimiter, loginKeys } from '../../src/http/login-limiter.js';
import { PasswordGate } from '../../src/http/password-gate.js';
import { DUMMY_HASH, hashPassword, verifyPassword } from '../../src/auth/passwords.js';

describe('passwords', () => {
  it('hashes with scrypt and a fresh salt; verifies only the right password', async () => {
    const [a, b] = [await hashPassword('s3cret-pass'), await hashPassword('s3cret-pass')];
    assert.match(a, /^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    assert.notEqual(a, b, 'salted');
    assert.ok(!a.includes('s3cret'));
    assert.equal(await verifyPassword('s3cret-pass', a), true);
    assert.equal(await verifyPassword('s3cret-pasS', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  it('a malformed stored value never verifies; the dummy hash matches nothing', async () => {
    assert.equal(await verifyPassword('x', 'plain-text'), false);
    assert.equal(await verifyPassword('x', 'bcrypt$1$2$3$salt$hash'), false);
    assert.equal(await verifyPassword('', DUMMY_HASH), false);
  });
});

describe('LoginLimiter', () => {
  it('counts each attempt before the check: five go through, then the wait doubles per attempt, up to 15 minutes', () => {
    const limiter = new LoginLimiter();
    const keys = loginKeys('192.0.2.1', 'alice');
    const t = 1_000_000;
    // Forty attempts in the same instant (as concurrent requests are): only five are let through to the check.
    const waits = Array.from({ length: 40 }, () => limiter.attempt(keys, t));
    assert.deepEqual(waits.slice(0, 5), [0, 0, 0, 0, 0]);
    assert.ok(waits.slice(5).every((w) => w === 1), 'the rest wait');
    assert.equal(limiter.attempt(keys, t + 1000), 0, 'the sixth attempt after the first wait');
    assert.equal(limiter.attempt(keys, t + 1000), 2);
    let now = t + 1000;
    for (let i = 0; i < 30; i++) {
      now += limiter.attempt(keys, now) * 1000;
      limiter.attempt(keys, now);
    }
    assert.equal(limiter.attempt(keys, now), 15 * 60);
    assert.equal(limiter.attempt(keys, now + 15 * 60 * 1000), 0, 'the wait runs out');
  });

  it('failures at one address never lock the user out at another; the address is limited for every user', () => {
    const limiter = new LoginLimiter();
    const t = 5_000;
    for (let i = 0; i < 6; i++) limiter.attempt(loginKeys('192.0.2.9', 'bob'), t);
    assert.ok(limiter.attempt(loginKeys('192.0.2.9', 'bob'), t) > 0, 'the attacker waits');
    assert.ok(limiter.attempt(loginKeys('192.0.2.9', 'carol'), t) > 0, 'the address is blocked for every user');
    assert.equal(limiter.attempt(loginKeys('198.51.100.7', 'bob'), t), 0, 'bob signs in from elsewhere');
  });

  it('a success gives the attempt back: the user at that address is cleared, the address keeps its other failures', () => {
    const limiter = new LoginLimiter();
    const t = 9_000;
    for (let i = 0; i < 3; i++) limiter.attempt(loginKeys('192.0.2.5', 'dave'), t);
    const ok = loginKeys('192.0.2.5', 'erin');
    assert.equal(limiter.attempt(ok, t), 0);
    limiter.succeed(ok);
    // Three failures remain on the address: two more attempts are free, the one after waits.
    assert.equal(limiter.attempt(loginKeys('192.0.2.5', 'frank'), t), 0);
    assert.equal(limiter.attempt(loginKeys('192.0.2.5', 'frank'), t), 0);
    assert.ok(limiter.attempt(loginKeys('192.0.2.5', 'frank'), t) > 0);
    // Successes never accumulate credit: a clean address that succeeds has nothing recorded.
    const fresh = loginKeys('203.0.113.1', 'gina');
    limiter.attempt(fresh, t);
    limiter.succeed(fresh);
    for (let i = 0; i < 5; i++) assert.equal(limiter.attempt(loginKeys('203.0.113.1', 'gina'), t), 0);
    assert.ok(limiter.attempt(loginKeys('203.0.113.1', 'gina'), t) > 0);
  });
});

describe('PasswordGate', () => {
  /** A check that stays pending until released, recording when it started. */
  const pendingCheck = (started: string[], name: string) => {
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    return { run: async () => (started.push(name), await done, name), release };
  };
  const turn = () => new Promise((r) => setImmediate(r));

  it('runs at most one check per address and `total` in all; a waiting address does not hold up another', async () => {
    const gate = new PasswordGate({ total: 2, perAddress: 1, queue: 10 });
    const started: string[] = [];
    const a1 = pendingCheck(started, 'a1');
    const a2 = pendingCheck(started, 'a2');
    const a3 = pendingCheck(started, 'a3');
    const b1 = pendingCheck(started, 'b1');
    const results = [gate.run('a', a1.run), gate.run('a', a2.run), gate.run('a', a3.run), gate.run('b', b1.run)];
    await turn();
    assert.deepEqual(started, ['a1', 'b1'], 'the second check of address a waits; b runs beside a1');
    a1.release();
    await turn();
    assert.deepEqual(started, ['a1', 'b1', 'a2']);
    b1.release();
    a2.release();
    await turn();
    assert.deepEqual(started, ['a1', 'b1', 'a2', 'a3']);
    a3.release();
    assert.deepEqual(await Promise.all(results), ['a1', 'a2', 'a3', 'b1']);
  });

  it('beyond the queue, an attempt is refused with 503 and Retry-After instead of waiting', async () => {
    const gate = new PasswordGate({ total: 1, perAddress: 1, queue: 1 });
    const started: string[] = [];
    const first = pendingCheck(started, 'first');
    const running = gate.run('a', first.run);
    const queued = gate.run('b', async () => 'queued');
    await assert.rejects(gate.run('c', async () => 'refused'), (err: AppError) => err.status === 503 && err.retryAfter === 1);
    first.release();
    assert.equal(await running, 'first');
    assert.equal(await queued, 'queued');
  });
});

describe('ConnectLimiter', () => {
  it('allows a burst of perMinute connects per address, then refills continuously', async () => {
    const { ConnectLimiter } = await import('../../src/http/connect-limiter.js');
    const limiter = new ConnectLimiter(60);
    const t = 1_000_000;
    for (let i = 0; i < 60; i++) assert.equal(limiter.take('a', t), true);
    assert.equal(limiter.take('a', t), false, 'the 61st in the same instant is refused');
    assert.equal(limiter.retryAfter('a', t), 1);
    assert.equal(limiter.take('b', t), true, 'other addresses are not affected');
    assert.equal(limiter.take('a', t + 1000), true, 'one token per second comes back');
    assert.equal(limiter.take('a', t + 1000), false);
  });

  it('0 disables the limit', async () => {
    const { ConnectLimiter } = await import('../../src/http/connect-limiter.js');
    const limiter = new ConnectLimiter(0);
    for (let i = 0; i < 10_000; i++) assert.equal(limiter.take('a', 5), true);
  });
});
