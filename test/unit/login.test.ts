import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginLimiter } from '../../src/http/login-limiter.js';
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
  it('allows five failures, then doubles the wait per failure, up to 15 minutes', () => {
    const limiter = new LoginLimiter();
    const keys = ['user:alice', 'ip:192.0.2.1'];
    const t = 1_000_000;
    for (let i = 0; i < 4; i++) limiter.fail(keys, t);
    assert.equal(limiter.retryAfter(keys, t), 0, 'four failures: no wait');
    limiter.fail(keys, t);
    assert.equal(limiter.retryAfter(keys, t), 1);
    limiter.fail(keys, t);
    assert.equal(limiter.retryAfter(keys, t), 2);
    limiter.fail(keys, t);
    assert.equal(limiter.retryAfter(keys, t), 4);
    for (let i = 0; i < 30; i++) limiter.fail(keys, t);
    assert.equal(limiter.retryAfter(keys, t), 15 * 60);
    assert.equal(limiter.retryAfter(keys, t + 15 * 60 * 1000), 0, 'the wait runs out');
  });

  it('keys are independent; success clears a user, not the address', () => {
    const limiter = new LoginLimiter();
    const t = 5_000;
    for (let i = 0; i < 6; i++) limiter.fail(['user:bob', 'ip:192.0.2.9'], t);
    assert.ok(limiter.retryAfter(['user:carol'], t) === 0);
    assert.ok(limiter.retryAfter(['user:carol', 'ip:192.0.2.9'], t) > 0, 'the address is blocked for every user');
    limiter.succeed('user:bob');
    assert.equal(limiter.retryAfter(['user:bob'], t), 0);
    assert.ok(limiter.retryAfter(['ip:192.0.2.9'], t) > 0);
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
