// Issue 14 B: authorisation by namespace and an admin role, against the relay as processes.
// A namespace-restricted credential never receives a message of another namespace (or of
// none) live, in replay or in history, on SQLite with the in-memory bus and on PostgreSQL
// with the Redis bus (listen + serve); agents likewise. Admins see other users' streams in
// status and subscribers, others only their own and a count. /readyz details need a credential.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { sharedRedisUrl } from '../helpers/redis.js';
import { freePort, openStoreOf, runCli, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
const relayed = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event));
const namespaceOf = (e: SseEvent) => (JSON.parse(e.data) as { namespace?: string | null }).namespace ?? null;
const seqOf = (e: SseEvent) => (JSON.parse(e.data) as { seq: number }).seq;
const auth = (key: string) => ({ Authorization: `Token ${key}` });

/** What is published, in this order: the last one is in `alpha`, so a restricted stream that has it has seen every earlier dispatch. */
const PUBLISHED: { seq: number; namespace?: string }[] = [
  { seq: 0, namespace: 'alpha' },
  { seq: 1, namespace: 'beta' },
  { seq: 2 },
  { seq: 3, namespace: 'beta' },
  { seq: 4 },
  { seq: 5, namespace: 'alpha' },
];
const ALPHA = [0, 5];

type Setup = { name: string; start(): Promise<{ env: Record<string, string>; web: RelayProcess; stop(): Promise<void> }> };

const setups: Setup[] = [
  {
    name: 'SQLite, in-memory bus (start)',
    async start() {
      const dir = mkdtempSync(join(tmpdir(), 'swf-relay-authz-'));
      const env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'info' };
      await (await openStoreOf(env)).close();
      const web = await startRelay(env);
      return {
        env,
        web,
        async stop() {
          await web.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL, Redis bus (listen + serve)',
    async start() {
      const pg: TestDatabase = await createTestDatabase();
      const env = { DATABASE_URL: pg.url, REDIS_URL: await sharedRedisUrl(), SSE_CHANNEL_GROUP: `authz-${randomUUID()}`, ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'info' };
      await (await openStoreOf(env)).close();
      const listener = await startRelay(env, { command: 'listen' });
      const web = await startRelay(env, { command: 'serve' });
      return {
        env,
        web,
        async stop() {
          await web.stop();
          await listener.stop();
          await pg.drop();
        },
      };
    },
  },
];

for (const setup of setups) {
  describe(`namespace restrictions: ${setup.name}`, () => {
    let relay: Awaited<ReturnType<Setup['start']>>;
    let web: RelayProcess;
    let publisher: string;
    let limited: string;
    let carolBeta: string;
    const streams: SseStream[] = [];

    const open = async (key: string, query: string, headers: Record<string, string> = {}) => {
      const stream = await openStream(`${web.url}/api/messages/stream/${query}`, { ...auth(key), ...headers });
      streams.push(stream);
      return stream;
    };
    const history = async (key: string | null, query: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${web.url}/api/messages/?${query}`, { headers: { ...(key === null ? {} : auth(key)), ...headers } });
      return { status: res.status, body: (await res.json()) as { results?: { namespace: string | null; message: { seq: number } }[] } };
    };

    before(async () => {
      relay = await setup.start();
      web = relay.web;
      const store = await openStoreOf(relay.env);
      try {
        publisher = (await createToken(store, 'publisher', { createUser: true, canPublish: true })).key;
        await store.commitBatch({
          messages: [],
          rejected: [],
          heartbeats: [
            { fields: { agentName: 'agent-alpha', status: 'OK', agentType: 't', namespace: 'alpha' }, payload: '{}', at: new Date().toISOString() },
            { fields: { agentName: 'agent-beta', status: 'OK', agentType: 't', namespace: 'beta' }, payload: '{}', at: new Date().toISOString() },
            { fields: { agentName: 'agent-none', status: 'OK', agentType: 't', namespace: null }, payload: '{}', at: new Date().toISOString() },
          ],
        });
      } finally {
        await store.close();
      }
      // Through the CLI, as an operator would: a token limited to alpha, and a user limited to
      // alpha,beta whose token narrows it to beta.
      const made = await runCli(['token', 'create', 'limited', '--create-user', '--namespaces', 'alpha'], relay.env);
      assert.equal(made.code, 0, made.stderr);
      limited = made.stdout.trim();
      const carol = await runCli(['user', 'create', 'carol', '--namespaces', 'alpha, beta', '--password-stdin'], relay.env, 'a long enough password\n');
      assert.equal(carol.code, 0, carol.stderr);
      const carolToken = await runCli(['token', 'create', 'carol', '--namespaces', 'beta,gamma'], relay.env);
      assert.equal(carolToken.code, 0, carolToken.stderr);
      carolBeta = carolToken.stdout.trim();
    });

    after(async () => {
      for (const s of streams) s.close();
      await relay?.stop();
    });

    test('live: a restricted token receives only its namespaces, never one without a namespace; asking only for others is 403', async () => {
      const everything = await open(publisher, '?msg_types=authz');
      const restricted = await open(limited, '?msg_types=authz');
      const narrowed = await open(limited, '?msg_types=authz&namespaces=alpha,beta');
      const beta = await open(carolBeta, '?msg_types=authz');
      for (const s of [everything, restricted, narrowed, beta]) {
        assert.equal(s.status, 200);
        await s.waitFor((e) => e.some((x) => x.event === 'connected'));
      }
      const refused = await open(limited, '?namespaces=beta');
      assert.equal(refused.status, 403);
      assert.equal(JSON.parse(await refused.body()).param, 'namespaces');

      for (const m of PUBLISHED) {
        const res = await fetch(`${web.url}/api/messages/`, { method: 'POST', headers: { ...auth(publisher), 'Content-Type': 'application/json' }, body: JSON.stringify({ msg_type: 'authz', ...m }) });
        assert.equal(res.status, 201, await res.text());
      }
      await everything.waitFor((e) => relayed(e).length === PUBLISHED.length);
      for (const [what, s] of [['restricted', restricted], ['narrowed', narrowed]] as const) {
        const got = relayed(await s.waitFor((e) => relayed(e).some((x) => seqOf(x) === 5)));
        assert.deepEqual(got.map(seqOf), ALPHA, `${what}: ${s.raw()}`);
        assert.ok(got.every((e) => namespaceOf(e) === 'alpha'));
      }
      // carol: user alpha,beta ∩ token beta,gamma = beta only.
      const got = relayed(await beta.waitFor((e) => relayed(e).some((x) => seqOf(x) === 3)));
      assert.deepEqual(got.map(seqOf), [1, 3]);
    });

    test('replay: a restricted token resuming from the start gets only its namespaces', async () => {
      const resumed = await open(limited, '?msg_types=authz', { 'Last-Event-ID': '0' });
      assert.equal(resumed.status, 200);
      const got = relayed(await resumed.waitFor((e) => relayed(e).some((x) => seqOf(x) === 5)));
      assert.deepEqual(got.map(seqOf), ALPHA, resumed.raw());
      // Everything was replayed in id order, so any other namespace would have come before seq 5.
      assert.ok(got.every((e) => namespaceOf(e) === 'alpha'));
    });

    test('history: only its namespaces, also through a session made with the token; 403 for others only', async () => {
      const mine = await history(limited, 'msg_types=authz&after_id=0');
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body.results!.map((r) => r.message.seq), ALPHA);
      assert.deepEqual((await history(publisher, 'msg_types=authz&after_id=0')).body.results!.map((r) => r.message.seq), [0, 1, 2, 3, 4, 5]);
      assert.equal((await history(limited, 'msg_types=authz&namespaces=beta')).status, 403);
      const login = await fetch(`${web.url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: limited }) });
      assert.equal(login.status, 200);
      const cookie = /swf_relay_session=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1]!;
      const viaSession = await history(null, 'msg_types=authz&after_id=0', { Cookie: `swf_relay_session=${cookie}` });
      assert.deepEqual(viaSession.body.results!.map((r) => r.message.seq), ALPHA, 'the session keeps the token\'s restriction');
    });

    test('agents: only those of its namespaces', async () => {
      const names = async (key: string) => ((await (await fetch(`${web.url}/api/agents/`, { headers: auth(key) })).json()) as { results: { name: string }[] }).results.map((a) => a.name);
      assert.deepEqual(await names(limited), ['agent-alpha']);
      assert.deepEqual(await names(carolBeta), ['agent-beta']);
      assert.deepEqual(await names(publisher), ['agent-alpha', 'agent-beta', 'agent-none']);
    });
  });
}

describe('admin role and /readyz', () => {
  let dir: string;
  let env: Record<string, string>;
  let relay: RelayProcess;
  let alice: string;
  let bob: string;
  let boss: string;
  const streams: SseStream[] = [];

  type Status = { connected_clients: number; other_users_clients: number; client_ids: string[]; clients: { user: string; remote_addr: string | null }[] };
  type Subscribers = { other_users: number; results: { user: string; ip: string | null; filters: unknown }[] };
  const status = async (key: string) => (await (await fetch(`${relay.url}/api/messages/stream/status/`, { headers: auth(key) })).json()) as Status;
  const subscribers = async (key: string) => (await (await fetch(`${relay.url}/api/subscribers/?active=true`, { headers: auth(key) })).json()) as Subscribers;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-admin-'));
    env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(await freePort()), LOG_LEVEL: 'info' };
    const made = await runCli(['user', 'create', 'boss', '--admin', '--password-stdin'], env, 'a long enough password\n');
    assert.equal(made.code, 0, made.stderr);
    const store = await openStoreOf(env);
    try {
      boss = (await createToken(store, 'boss')).key;
      alice = (await createToken(store, 'alice', { createUser: true })).key;
      bob = (await createToken(store, 'bob', { createUser: true })).key;
    } finally {
      await store.close();
    }
    relay = await startRelay(env);
    for (const [key, query] of [[alice, '?msg_types=alice_only'], [bob, '?run_ids=bobs-run']] as const) {
      const s = await openStream(`${relay.url}/api/messages/stream/${query}`, auth(key));
      streams.push(s);
      await s.waitFor((e) => e.some((x) => x.event === 'connected'));
    }
    await waitUntil(async () => (await subscribers(boss)).results.length === 2, 'both streams recorded');
  });

  after(async () => {
    for (const s of streams) s.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a non-admin sees its own streams' details and only a count of others; an admin sees everyone's", async () => {
    const asAlice = await status(alice);
    assert.equal(asAlice.connected_clients, 2);
    assert.equal(asAlice.other_users_clients, 1);
    assert.deepEqual(asAlice.clients.map((c) => c.user), ['alice']);
    assert.equal(asAlice.client_ids.length, 1);
    assert.ok(!JSON.stringify(asAlice).includes('bobs-run'), "bob's filters are not shown to alice");
    const aliceSubs = await subscribers(alice);
    assert.deepEqual(aliceSubs.results.map((r) => r.user), ['alice']);
    assert.equal(aliceSubs.other_users, 1);
    assert.ok(!JSON.stringify(aliceSubs).includes('bobs-run'));

    const asBoss = await status(boss);
    assert.deepEqual(asBoss.clients.map((c) => c.user).sort(), ['alice', 'bob']);
    assert.ok(asBoss.clients.every((c) => c.remote_addr === '127.0.0.1'));
    const bossSubs = await subscribers(boss);
    assert.deepEqual(bossSubs.results.map((r) => r.user).sort(), ['alice', 'bob']);
    assert.ok(JSON.stringify(bossSubs).includes('bobs-run'));
  });

  test('user set-admin gives and takes the role, at the next request', async () => {
    assert.equal((await runCli(['user', 'set-admin', 'alice'], env)).code, 0);
    assert.deepEqual((await status(alice)).clients.map((c) => c.user).sort(), ['alice', 'bob']);
    assert.equal((await subscribers(alice)).results.length, 2);
    assert.equal((await runCli(['user', 'set-admin', 'alice', '--off'], env)).code, 0);
    assert.deepEqual((await status(alice)).clients.map((c) => c.user), ['alice']);
    assert.equal((await runCli(['user', 'set-admin', 'nobody'], env)).code, 1);
  });

  test('/readyz: anonymous callers learn only ready or not; authenticated ones get the checks', async () => {
    // No broker listens on ACTIVEMQ_PORT, so the process is not ready.
    await waitUntil(async () => (await fetch(`${relay.url}/readyz`)).status === 503, 'readyz to fail');
    for (const headers of [{}, auth('not-a-valid-key-0000000000000000000000000000')]) {
      const res = await fetch(`${relay.url}/readyz`, { headers });
      assert.equal(res.status, 503);
      const text = await res.text();
      assert.deepEqual(JSON.parse(text), { status: 'not ready', detail: 'not ready' });
      assert.ok(!text.includes(env.ACTIVEMQ_PORT!), 'no broker address');
    }
    const detailed = await fetch(`${relay.url}/readyz`, { headers: auth(alice) });
    assert.equal(detailed.status, 503);
    const body = (await detailed.json()) as { failing: string[]; checks: Record<string, string> };
    assert.deepEqual(body.failing, ['broker']);
    assert.notEqual(body.checks.broker, 'ok');
  });
});

describe('/readyz when ready', () => {
  test('anonymous: {"status":"ready"} and nothing else', async () => {
    const pg = await createTestDatabase();
    const env = { DATABASE_URL: pg.url, REDIS_URL: await sharedRedisUrl(), SSE_CHANNEL_GROUP: `authz-ready-${randomUUID()}`, LOG_LEVEL: 'warn' };
    const web = await startRelay(env, { command: 'serve' }); // no listener in it: ready without a broker
    try {
      const res = await fetch(`${web.url}/readyz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ready' });
    } finally {
      await web.stop();
      await pg.drop();
    }
  });
});
