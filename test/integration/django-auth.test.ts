// swf-monitor's own credentials (issue 13): a DRF token and a Django session cookie, checked
// read-only against a Django database that Django 3.2 + DRF made themselves (migrate,
// create_user, Token.objects.create, test.Client().login()), on SQLite and on PostgreSQL.
// The relay runs as a process beside a private ActiveMQ. Measured: how long after a token,
// session or user change the relay answers 401.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDjangoDb } from '../../src/auth/django-db.js';
import { loadConfig } from '../../src/config.js';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { createDjangoProject, type DjangoProject } from '../helpers/django.js';
import { freePort, makeToken, runCli, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';

/** The promise of issue 13: a revoked Django credential is refused within this long. */
const EFFECT_LIMIT_MS = 15_000;
const POLL_MS = 100;
const topic = `/topic/django-auth-${process.pid}`;

let broker: PrivateBroker;
let publisher: Publisher;
const dirs: string[] = [];

before(async () => {
  broker = await startActiveMQ();
  publisher = await connectPublisher(broker.host, broker.port);
});

after(async () => {
  await publisher?.close();
  await broker?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A relay environment with its own SQLite store, on the shared broker (non-durable: nothing to clean up there). */
function relayEnv(name: string): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'swf-relay-django-auth-'));
  dirs.push(dir);
  return {
    DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
    ACTIVEMQ_PORT: String(broker.port),
    ACTIVEMQ_HEARTBEAT_TOPIC: topic,
    ACTIVEMQ_SUBSCRIPTION_NAME: '',
    ACTIVEMQ_CLIENT_ID: `django-auth-${name}-${process.pid}`,
  };
}

const token = (key: string) => ({ Authorization: `Token ${key}` });
const cookie = (sessionid: string) => ({ Cookie: `sessionid=${sessionid}` });

/** GET /api/messages/stream/status/ with `headers`: status code and JSON body. */
async function status(relay: RelayProcess, headers: Record<string, string>): Promise<{ code: number; body: Record<string, unknown> }> {
  const res = await fetch(`${relay.url}/api/messages/stream/status/`, { headers });
  return { code: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Opens a stream with `headers`; for a 200, waits for `connected`, else reads the body. */
async function stream(relay: RelayProcess, headers: Record<string, string>): Promise<{ code: number; sse: SseStream; clientId?: string; body?: string }> {
  const sse = await openStream(`${relay.url}/api/messages/stream/?msg_types=django_auth`, headers);
  if (sse.status !== 200) return { code: sse.status, sse, body: await sse.body() };
  const events = await sse.waitFor((e) => e.some((x) => x.event === 'connected'));
  return { code: 200, sse, clientId: (JSON.parse(events.find((x) => x.event === 'connected')!.data) as { client_id: string }).client_id };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`swf-monitor credentials from a Django database on ${kind}`, () => {
    let django: DjangoProject;
    let relay: RelayProcess;
    let relayKey: string;
    let untouched: Awaited<ReturnType<DjangoProject['dump']>>;
    let afterChanges: Awaited<ReturnType<DjangoProject['dump']>>;
    let keys: Record<'alice' | 'carol' | 'dave' | 'erin' | 'bob', string>;
    let sessions: Record<'alice' | 'carol' | 'dave' | 'erin' | 'aliceLegacy' | 'expired' | 'anonymous' | 'garbage', string>;

    before(async () => {
      django = await createDjangoProject(kind);
      const users = ['alice', 'carol', 'dave', 'erin'];
      const steps = [
        ...users.map((name) => ['user', name]),
        ['user', 'bob', '--inactive'],
        ...[...users, 'bob'].map((name) => ['token', name]),
        ...users.map((name) => ['login', name]),
        ['login', 'alice', '--legacy'],
        ['login', 'alice'],
        ['anonymous-session'],
        ['garbage-session'],
      ];
      const answers = await Promise.all(steps.map((step) => django.run(...step))); // answered in order
      keys = named(['alice', 'carol', 'dave', 'erin', 'bob'], answers.slice(5, 10).map((a) => a.key));
      sessions = named(['alice', 'carol', 'dave', 'erin', 'aliceLegacy', 'expired', 'anonymous', 'garbage'], answers.slice(10).map((a) => a.sessionid));
      await django.run('expire-session', sessions.expired);
      untouched = await django.dump();

      const env = { ...relayEnv(kind), DJANGO_DATABASE_URL: django.url };
      relayKey = await makeToken(env, 'relay-user');
      relay = await startRelay(env, { waitForBroker: relayKey });
    });

    after(async () => {
      await relay?.stop();
      await django?.drop();
    });

    test("an active user's DRF token and logged-in sessionid (both session formats) open the stream and the status endpoint, as the Django user", async () => {
      const ways = { token: token(keys.alice), session: cookie(sessions.alice), 'pre-3.1 session': cookie(sessions.aliceLegacy) };
      const opened: SseStream[] = [];
      try {
        for (const [way, headers] of Object.entries(ways)) {
          const s = await stream(relay, headers);
          opened.push(s.sse);
          assert.equal(s.code, 200, `${way}: stream ${s.body ?? ''}`);
          const st = await status(relay, headers);
          assert.equal(st.code, 200, `${way}: status ${JSON.stringify(st.body)}`);
          const clients = st.body.clients as Array<{ client_id: string; user: string }>;
          assert.equal(clients.find((c) => c.client_id === s.clientId)?.user, 'alice', `${way}: the stream is listed as alice's`);
        }
        await publisher.sendAndWait(topic, JSON.stringify({ msg_type: 'django_auth', n: 1 }));
        for (const sse of opened) {
          const events = await sse.waitFor((e) => e.some((x) => x.event === 'django_auth'));
          assert.equal(JSON.parse(events.find((x) => x.event === 'django_auth')!.data).n, 1);
        }
      } finally {
        for (const sse of opened) sse.close();
      }
      assert.match(relay.output(), /"user":"alice","via":"django-token"/);
      assert.match(relay.output(), /"user":"alice","via":"django-session"/);
      const ready = await fetch(`${relay.url}/readyz`, { headers: token(relayKey) });
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.django, 'ok');
    });

    test('refused with 401: an inactive user\'s token, an unknown key, unknown, garbage, anonymous or expired sessions', async () => {
      const refused: Record<string, Record<string, string>> = {
        "inactive user's token": token(keys.bob),
        'unknown DRF-shaped key': token('0123456789abcdef0123456789abcdef01234567'),
        'unknown session': cookie('nosuchsessionkeyatall0123456789ab'),
        'garbage session data': cookie(sessions.garbage),
        'session without a user': cookie(sessions.anonymous),
        'expired session': cookie(sessions.expired),
        'session key where the token goes': token(sessions.alice),
        'token where the session goes': cookie(keys.alice),
      };
      for (const [what, headers] of Object.entries(refused)) {
        const s = await stream(relay, headers);
        assert.equal(s.code, 401, `${what}: stream`);
        assert.equal((JSON.parse(s.body!) as { detail: string }).detail.length > 0, true);
        for (const secret of Object.values(headers)) assert.ok(!s.body!.includes(secret.replace(/^(Token |sessionid=)/, '')), `${what}: the body echoes no credential`);
        assert.equal((await status(relay, headers)).code, 401, `${what}: status`);
      }
    });

    test("the relay's own token still works beside them", async () => {
      const s = await stream(relay, token(relayKey));
      s.sse.close();
      assert.equal(s.code, 200);
      assert.equal((await status(relay, token(relayKey))).code, 200);
    });

    test('the relay only reads: the Django tables are as Django left them, and its connection cannot write', async () => {
      assert.deepEqual(await django.dump(), untouched);
      const db = openDjangoDb(loadConfig({ DJANGO_DATABASE_URL: django.url }).django!.database);
      try {
        await assert.rejects(db.select('DELETE FROM django_session', []), /SELECT only/);
        if (kind === 'postgres') {
          const [row] = await db.select<{ ro: string }>("SELECT current_setting('default_transaction_read_only') AS ro", []);
          assert.equal(row!.ro, 'on');
          // A SELECT that writes (a sequence step) is refused by the server itself.
          await assert.rejects(db.select("SELECT nextval('auth_user_id_seq')", []), /read-only transaction/);
        } else {
          const [row] = await db.select<{ query_only: number }>('SELECT * FROM pragma_query_only', []);
          assert.equal(row!.query_only, 1);
        }
      } finally {
        await db.close();
      }
      assert.deepEqual(await django.dump(), untouched);
    });

    test('deleting a token or a session, expiring a session, deactivating a user: 401 within 15 s (measured)', async (t) => {
      // Independent credentials, so the four changes run side by side.
      await Promise.all([
        measure(t, kind, relay, 'token deleted', [token(keys.dave)], () => changed(django.run('delete-token', keys.dave), 'deleted')),
        measure(t, kind, relay, 'session deleted', [cookie(sessions.dave)], () => changed(django.run('delete-session', sessions.dave), 'deleted')),
        measure(t, kind, relay, 'session expired', [cookie(sessions.erin)], () => changed(django.run('expire-session', sessions.erin), 'updated')),
        measure(t, kind, relay, 'user deactivated (token and session)', [token(keys.carol), cookie(sessions.carol)], () => changed(django.run('deactivate', 'carol'), 'updated')),
      ]);
      // The credentials that were not touched still work.
      assert.equal((await status(relay, token(keys.erin))).code, 200);
      assert.equal((await status(relay, cookie(sessions.alice))).code, 200);
      afterChanges = await django.dump();
    });

    test('after those changes, more requests still leave the Django tables unchanged', async () => {
      assert.ok(afterChanges, 'the previous test took a dump');
      for (const headers of [token(keys.alice), token(keys.dave), cookie(sessions.alice), cookie(sessions.dave), cookie(sessions.carol)]) await status(relay, headers);
      assert.deepEqual(await django.dump(), afterChanges);
    });
  });
}

/** The answer of a change, after checking it changed exactly one row. */
async function changed(answer: Promise<Record<string, unknown>>, count: 'deleted' | 'updated'): Promise<{ at?: unknown }> {
  const result = await answer;
  assert.equal(result[count], 1, `one row ${count}: ${JSON.stringify(result)}`);
  return result;
}

/** `names[i]` → `values[i]`, each checked to be a non-empty string. */
function named<K extends string>(names: readonly K[], values: unknown[]): Record<K, string> {
  assert.equal(values.length, names.length);
  return Object.fromEntries(
    names.map((name, i) => {
      assert.ok(typeof values[i] === 'string' && values[i] !== '', `${name}: ${JSON.stringify(values[i])}`);
      return [name, values[i]];
    }),
  ) as Record<K, string>;
}

/**
 * The worst case for a cache: each credential is accepted (200, so a positive result is cached)
 * right before Django commits `change`. Then polls every POLL_MS until each gets 401, and
 * measures from the commit (the time Django reports, same machine clock).
 */
async function measure(t: TestContext, kind: string, relay: RelayProcess, what: string, credentials: Record<string, string>[], change: () => Promise<{ at?: unknown }>): Promise<number[]> {
  const accepted = Date.now();
  for (const headers of credentials) assert.equal((await status(relay, headers)).code, 200, `${what}: accepted before the change`);
  const answer = await change();
  assert.equal(typeof answer.at, 'number', `${what}: the change reports its commit time`);
  const committed = Math.round((answer.at as number) * 1000);
  const times = await Promise.all(
    credentials.map(async (headers) => {
      for (;;) {
        if ((await status(relay, headers)).code === 401) return Date.now() - committed;
        if (Date.now() - committed > EFFECT_LIMIT_MS) assert.fail(`${kind}: ${what}: still accepted ${EFFECT_LIMIT_MS} ms after the change`);
        await sleep(POLL_MS);
      }
    }),
  );
  for (const headers of credentials) assert.equal((await stream(relay, headers)).code, 401, `${what}: the stream refuses it too`);
  t.diagnostic(`${kind}: ${what}: 401 ${times.map((ms) => `${ms} ms`).join(' and ')} after the commit (last accepted ${committed - accepted} ms before it)`);
  for (const ms of times) assert.ok(ms < EFFECT_LIMIT_MS, `${what}: ${ms} ms`);
  return times;
}

describe('DJANGO_DATABASE_URL pointing at a PostgreSQL that does not answer', () => {
  const password = 'NotThePassw0rd';
  let relay: RelayProcess;
  let relayKey: string;

  before(async () => {
    const port = await freePort(); // nothing listens there
    const env = { ...relayEnv('down'), DJANGO_DATABASE_URL: `postgres://monitor_ro:${password}@127.0.0.1:${port}/swfdb` };
    relayKey = await makeToken(env, 'relay-user');
    relay = await startRelay(env, { waitForBroker: relayKey });
  });

  after(async () => {
    await relay?.stop();
  });

  test("the relay's own token opens the stream and the status; readyz stays ready and names django as degraded; the log says why, without the password", async () => {
    const s = await stream(relay, token(relayKey));
    s.sse.close();
    assert.equal(s.code, 200);
    assert.equal((await status(relay, token(relayKey))).code, 200);

    const ready = await fetch(`${relay.url}/readyz`, { headers: token(relayKey) });
    const body = (await ready.json()) as { status: string; checks: Record<string, string>; degraded?: string[]; failing?: string[] };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ready');
    assert.deepEqual(body.degraded, ['django']);
    assert.match(body.checks.django!, /ECONNREFUSED/);
    assert.equal(body.checks.store, 'ok');

    await waitUntil(() => relay.output().includes('django database unreachable'), 'the log to say the Django database is unreachable', relay.output);
    const line = relay.output().split('\n').find((l) => l.includes('django database unreachable'))!;
    assert.match(line, /"level":40/);
    assert.match(line, /"database":"postgres:\/\/monitor_ro:\*\*\*@127\.0\.0\.1:\d+\/swfdb"/);
    assert.ok(!relay.output().includes(password), 'the password is never logged');
  });

  test('a Django token or session cannot be checked: 503 with Retry-After (clients retry), never 200', async () => {
    for (const headers of [token('0123456789abcdef0123456789abcdef01234567'), cookie('abcdefghijklmnopqrstuvwxyz012345')]) {
      const res = await fetch(`${relay.url}/api/messages/stream/status/`, { headers });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.match(((await res.json()) as { detail: string }).detail, /Django credentials/);
      const s = await stream(relay, headers);
      assert.equal(s.code, 503);
    }
    // A relay session beside a Django cookie is the relay's own credential: it does not wait for Django.
    const login = await fetch(`${relay.url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: relayKey }) });
    assert.equal(login.status, 200);
    const relaySession = /swf_relay_session=[^;]+/.exec(login.headers.get('set-cookie') ?? '')![0];
    assert.equal((await status(relay, { Cookie: `${relaySession}; sessionid=abcdefghijklmnopqrstuvwxyz012345` })).code, 200);
    assert.ok(!relay.output().includes(password));
  });
});

describe('a bad DJANGO_DATABASE_URL', () => {
  test('stops the relay at start: exit 2, one line naming the variable, no password', async () => {
    const env = { ...relayEnv('bad'), DJANGO_DATABASE_URL: 'mysql://monitor:NotThePassw0rd@db.example/swf' };
    const { code, stdout, stderr } = await runCli(['start'], env);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.deepEqual(stderr.trimEnd().split('\n'), ['swf-relay: DJANGO_DATABASE_URL: must be postgres://… or sqlite:<path> (got "mysql://monitor:***@db.example/swf")']);
  });
});
