// The relay as a process, run by the Node that runs this test (CI runs the suite on Node 20 and
// on Node 24): after real store work, SIGTERM stops it with exit code 0 and no native abort.
//
// Why: better-sqlite3 12 built for Node ≥ 24.19 aborts the process ("Assertion failed: (env) !=
// nullptr") when a full garbage collection frees one of its statements, and Kysely prepares a
// statement per query. src/store/sqlite-driver.ts loads a build that is safe on the running
// Node; with the wrong one, this relay dies before or during the stop and the test fails.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { freePort, openStoreOf, startRelay, type RelayProcess } from '../helpers/relay.js';

const PUBLISHES = 200;
const PAGES = 50;
const PAGE_SIZE = 200;

describe(`relay exit on SIGTERM (Node ${process.version})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'swf-relay-exit-'));
  let running: RelayProcess | undefined;
  after(async () => {
    await running?.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('after storing and reading messages over HTTP, SIGTERM exits 0 with no abort output', async () => {
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      // Nothing listens there: the relay serves HTTP and keeps retrying the broker.
      ACTIVEMQ_PORT: String(await freePort()),
      // A 1 MB young generation (V8's default is 16 MB or more): statements outlive a few minor
      // collections, get promoted, and full collections free them within seconds, as they do
      // after hours in a relay with a default heap. The relay itself runs unchanged.
      NODE_OPTIONS: '--max-semi-space-size=1',
    };
    const store = await openStoreOf(env);
    const key = (await createToken(store, 'exit-test', { createUser: true, canPublish: true })).key;
    await store.close();
    const relay = (running = await startRelay(env));
    const headers = { Authorization: `Token ${key}` };

    for (let i = 1; i <= PUBLISHES; i++) {
      const body = JSON.stringify({ msg_type: 'stf_gen', run_id: 100042, namespace: 'exit-test', filename: `swf.100042.${i}.stf`, sequence: i });
      const res = await fetch(`${relay.url}/api/messages/`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body });
      const text = await res.text();
      assert.equal(res.status, 201, text);
    }
    for (let i = 0; i < PAGES; i++) {
      const res = await fetch(`${relay.url}/api/messages/?run_id=100042&limit=${PAGE_SIZE}`, { headers });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal((JSON.parse(text) as { results: unknown[] }).results.length, PAGE_SIZE);
    }

    const code = await relay.stop('SIGTERM');
    const output = relay.output();
    assert.doesNotMatch(output, /Assertion failed|Native stack trace|Segmentation fault|Aborted/, output.slice(-3000));
    assert.equal(code, 0, `exit code ${code}\n${output.slice(-3000)}`);
    assert.match(output, /SIGTERM received, stopping/);
  });
});
