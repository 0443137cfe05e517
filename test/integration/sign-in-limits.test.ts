// Sign-in under attack, against the relay as a process: attempts are counted before the
// password is hashed (a burst of concurrent guesses gets five checks, not all of them),
// failures at one address never lock the user out at another, and a flood from one
// address does not queue up ahead of someone else's sign-in.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/auth/passwords.js';
import { freePort, openStoreOf, startRelay, type RelayProcess } from '../helpers/relay.js';

const PASSWORD = 'the victim password';

/** POST /api/auth/login from a chosen loopback source address (Linux routes all of 127/8 to lo). */
function login(relay: RelayProcess, from: string, username: string, password: string): Promise<number> {
  const target = new URL(`${relay.url}/api/auth/login`);
  const body = JSON.stringify({ username, password });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, localAddress: from, method: 'POST', path: target.pathname, agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

/**
 * Password checks a burst may get from one address: five at once, then one more each time the
 * doubling wait (1 s, 2 s, 4 s, …) runs out while the burst is still being answered.
 */
const checksAllowed = (elapsedMs: number) => 5 + Math.floor(Math.log2(elapsedMs / 1000 + 1));

describe('sign-in limits', () => {
  let dir: string;
  let relay: RelayProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-sign-in-'));
    // No broker is needed for sign-in: the relay serves HTTP while it retries the broker.
    const env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'warn' };
    const store = await openStoreOf(env);
    await store.createUser('victim');
    await store.setPassword('victim', await hashPassword(PASSWORD));
    await store.close();
    relay = await startRelay(env);
  });

  after(async () => {
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('40 concurrent wrong passwords from one address: 5 are checked (401), the rest refused unchecked (429)', async (t) => {
    const started = Date.now();
    const statuses = await Promise.all(Array.from({ length: 40 }, () => login(relay, '127.0.0.11', 'victim', 'a wrong guess')));
    const elapsed = Date.now() - started;
    t.diagnostic(`40 attempts answered in ${elapsed} ms: ${count(statuses, 401)} checked`);
    assert.ok(count(statuses, 401) >= 5 && count(statuses, 401) <= checksAllowed(elapsed), `statuses: ${statuses.join(',')}`);
    assert.equal(count(statuses, 401) + count(statuses, 429), 40);
  });

  test('the user is not locked out at another address', async () => {
    assert.equal(await login(relay, '127.0.0.12', 'victim', PASSWORD), 200);
  });

  test('200 concurrent guesses from one address do not queue ahead of a sign-in from another', async (t) => {
    const started = Date.now();
    const flood = Promise.all(Array.from({ length: 200 }, () => login(relay, '127.0.0.13', 'victim', 'another wrong guess')));
    const own = await login(relay, '127.0.0.14', 'victim', PASSWORD);
    t.diagnostic(`sign-in from the other address answered in ${Date.now() - started} ms during the flood`);
    const statuses = await flood;
    const elapsed = Date.now() - started;
    assert.equal(own, 200);
    // The flood got a handful of password checks; everything else was refused before hashing.
    t.diagnostic(`flood of 200 answered in ${elapsed} ms: ${count(statuses, 401)} checked`);
    assert.ok(count(statuses, 401) <= checksAllowed(elapsed), `statuses: ${statuses.join(',')}`);
    assert.equal(count(statuses, 401) + count(statuses, 429) + count(statuses, 503), 200);
  });
});
