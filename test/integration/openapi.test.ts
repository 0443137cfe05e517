// The OpenAPI description (GET /api/openapi.json): valid OpenAPI 3, served at the root and under
// BASE_PATH by the relay as a process, listing every route the app registers, and its response
// schemas serialise every JSON answer exactly as JSON.stringify did before they existed.
// No broker is needed: ACTIVEMQ_PORT points at a free port.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createApp, type RelayApp } from '../../src/app/app.js';
import { createToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { freePort, openStoreOf, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';

const BASE_PATH = '/swf-monitor';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** Routes anyone may call; every other operation must require one of the auth schemes. */
const PUBLIC = new Set(['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/openapi.json', 'POST /api/auth/login', 'POST /api/auth/logout', 'GET /', 'GET /index.html', 'GET /app.js', 'GET /style.css']);

type Operation = { summary?: string; description?: string; tags?: string[]; security?: Record<string, string[]>[]; responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>; requestBody?: { content: Record<string, { schema: Record<string, unknown> }> } };
type Doc = { openapi: string; info: { title: string; version: string }; servers: { url: string }[]; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> } };

/** "METHOD /path" for every operation of the document. */
function operationsOf(doc: Doc): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`));
}

/** Every `$ref` in the document with what it points at (undefined when it does not resolve). */
function refsOf(doc: unknown): { ref: string; target: unknown }[] {
  const found: { ref: string; target: unknown }[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') {
        const target = value.startsWith('#/')
          ? value.slice(2).split('/').reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
          : undefined; // only local references are expected: an external one counts as unresolved
        found.push({ ref: value, target });
      } else walk(value);
    }
  };
  walk(doc);
  return found;
}

/**
 * The app's routes as "METHOD /path", read from fastify's own route tree (printRoutes),
 * HEAD and OPTIONS left out. Trailing slashes are dropped on both sides: the router
 * ignores them (ignoreTrailingSlash), and its tree prints `/api/messages` for `/api/messages/`.
 */
function registeredRoutes(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│   |    )*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('');
    for (const method of (m[3] ?? '').split(', ').filter((x) => x !== '' && x !== 'HEAD' && x !== 'OPTIONS')) {
      // The parse must yield real routes, not fragments of the tree.
      assert.ok(app.hasRoute({ url: path, method }), `parsed a route fastify does not have: ${method} ${path}`);
      routes.push(`${method} ${trimSlash(path)}`);
    }
  }
  return routes.sort();
}
const trimSlash = (p: string) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p);

describe('OpenAPI description', () => {
  let dir: string;
  let env: Record<string, string>;
  let relay: RelayProcess;
  let key: string;
  let doc: Doc;
  // In process: the same app as the relay builds, for its route table and its serialisation.
  let app: RelayApp;
  let web: RelayApp;
  let url: string;
  let appKey: string;
  const serialised: { route: string; status: number; plain: string; sent: string }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-openapi-'));
    env = { DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`, ACTIVEMQ_PORT: String(await freePort()), BASE_PATH, LOG_LEVEL: 'warn' };
    const store = await openStoreOf(env);
    try {
      key = (await createToken(store, 'alice', { createUser: true, canPublish: true })).key;
    } finally {
      await store.close();
    }
    relay = await startRelay(env);
    doc = (await (await fetch(`${relay.url}/api/openapi.json`)).json()) as Doc;

    const config = loadConfig({ DATABASE_URL: `sqlite:${join(dir, 'in-process.db')}`, ACTIVEMQ_PORT: env.ACTIVEMQ_PORT!, LOG_LEVEL: 'warn', MESSAGE_MAX_BYTES: '4096' });
    app = await createApp(config);
    await app.store.migrate();
    appKey = (await createToken(app.store, 'bob', { createUser: true, canPublish: true })).key;
    // Each JSON answer as JSON.stringify writes it (what fastify sent before there were schemas) beside what was sent.
    const plain = new WeakMap<FastifyRequest, string>();
    app.http!.addHook('preSerialization', async (request, _reply, payload) => {
      plain.set(request, JSON.stringify(payload));
      return payload;
    });
    app.http!.addHook('onSend', async (request, reply, payload) => {
      const text = plain.get(request);
      if (text !== undefined) serialised.push({ route: `${request.method} ${request.routeOptions.url}`, status: reply.statusCode, plain: text, sent: String(payload) });
      return payload;
    });
    url = await app.http!.listen({ host: '127.0.0.1', port: 0 });
    // Without a listener (role web) readiness does not wait for a broker: its 200 answer.
    web = await createApp(config, { role: 'web' });
    await web.http!.ready();
  });

  after(async () => {
    await relay?.stop();
    await app?.http?.close();
    await app?.store.close();
    await web?.http?.close();
    await web?.store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is valid OpenAPI 3 (checked by @seriousme/openapi-schema-validator) with every $ref resolving', async () => {
    const result = await new Validator().validate(structuredClone(doc));
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(doc.info.title, 'swf-relay');
    assert.equal(typeof doc.info.version, 'string');
    assert.ok(Object.keys(doc.paths).length > 10);
    assert.deepEqual(Object.keys(doc.components.securitySchemes), ['token', 'bearer', 'session']);
    const refs = refsOf(doc);
    assert.ok(refs.length > 0, 'the error responses share one schema by $ref');
    assert.deepEqual(refs.filter((r) => r.target === undefined).map((r) => r.ref), []);
  });

  test('is served under BASE_PATH too, naming that prefix as its server', async () => {
    const res = await fetch(`${relay.url}${BASE_PATH}/api/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const prefixed = (await res.json()) as Doc;
    assert.deepEqual(doc.servers, [{ url: '/' }]);
    assert.deepEqual(prefixed.servers, [{ url: BASE_PATH }]);
    assert.deepEqual(prefixed.paths, doc.paths);
  });

  test('lists every route the app registers, and nothing else', async () => {
    await app.http!.ready();
    const routes = registeredRoutes(app.http!);
    // A sanity floor: the parse found the API, the ops routes and the page.
    for (const r of ['GET /api/messages/stream', 'POST /api/messages', 'GET /readyz', 'GET /']) assert.ok(routes.includes(r), `${r} in ${routes.join(', ')}`);
    const documented = operationsOf(doc).map((op) => op.replace(/ (.+)$/, (_, p: string) => ` ${trimSlash(p)}`)).sort();
    assert.deepEqual(documented, routes);
  });

  test('every operation says what it is, who may call it and what it answers', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const name = `${method.toUpperCase()} ${path}`;
        assert.ok(op.summary, `${name}: summary`);
        assert.ok(op.tags && op.tags.length > 0, `${name}: tags`);
        assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${name}: a 2xx response`);
        if (PUBLIC.has(name)) assert.deepEqual(op.security, [], `${name}: public`);
        else {
          assert.deepEqual(op.security, [{ token: [] }, { bearer: [] }, { session: [] }], `${name}: authenticated`);
          assert.ok(op.responses['401'], `${name}: 401`);
        }
      }
    }
    const stream = doc.paths['/api/messages/stream/']!.get!;
    assert.ok(stream.responses['200']!.content!['text/event-stream']);
    for (const event of ['connected', 'heartbeat', 'gap', 'shutdown', 'msg_type']) assert.ok(stream.description!.includes(`\`${event}\``), `stream events: ${event}`);
    for (const status of ['400', '429', '503']) assert.deepEqual(stream.responses[status]!.content!['application/json']!.schema, { $ref: '#/components/schemas/Error' });
    const publish = doc.paths['/api/messages/']!.post!;
    assert.deepEqual(publish.requestBody!.content['application/json']!.schema, { type: 'object', properties: { msg_type: { type: 'string' } }, required: ['msg_type'], additionalProperties: true });
    for (const status of ['201', '400', '403', '413', '503']) assert.ok(publish.responses[status], `publish answers ${status}`);
  });

  test('request schemas only document: the handlers still validate, in their own words', async () => {
    const auth = { Authorization: `Token ${key}` };
    const json = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(`${relay.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    assert.deepEqual(await json('/api/messages/?limit=abc'), { status: 400, body: { detail: 'limit must be an integer from 1 to 1000', param: 'limit' } });
    assert.deepEqual(await json('/api/messages/?after_id=1&after_id=2'), { status: 400, body: { detail: 'after_id may be given once', param: 'after_id' } });
    // Repeated filters are a list (a string schema enforced would refuse them).
    assert.equal((await json('/api/messages/?msg_types=a&msg_types=b')).status, 200);
    const notObject = await json('/api/messages/', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '[1]' });
    assert.equal(notObject.status, 400);
    assert.ok(typeof notObject.body.reason === 'string' && !String(notObject.body.detail).startsWith('body'), JSON.stringify(notObject.body));
    assert.deepEqual(await json('/api/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '"x"' }), {
      status: 400,
      body: { detail: 'Send {"username", "password"} or {"token"}.' },
    });
  });

  test('JSON answers are serialised exactly as JSON.stringify wrote them (no field dropped or coerced)', async () => {
    const auth = { Authorization: `Token ${appKey}` };
    const call = (path: string, init: RequestInit = {}) => fetch(`${url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });
    // An agent, from a heartbeat as the broker would deliver it.
    app.ingestor!.accept({ body: Buffer.from('{"agent_name":"daq-1","status":"OK","agent_type":"daqsim","namespace":"ns"}'), headers: {}, destination: '/topic/epictopic', messageId: 'hb-1', ack() {} });
    await waitUntil(async () => ((await (await call('/api/agents/')).json()) as { results: unknown[] }).results.length === 1, 'the heartbeat stored');
    // A stream open, so status and subscribers carry a client record.
    const stream = new AbortController();
    const streamRes = await call('/api/messages/stream/?msg_types=stf_gen', { signal: stream.signal });
    await streamRes.body!.getReader().read();
    // Published over HTTP: a 201 answer, then history must give its body back verbatim, enriched at
    // the end (2^64 is beyond 2^53: any parse and re-serialise on the way would round it).
    const body = '{"msg_type":"stf_gen","run_id":100042,"big":18446744073709551616,"ratio":0.1,"nested":{"list":[1,"two",null]}}';
    const published = await call('/api/messages/', { method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k-1' }, body });
    assert.equal(published.status, 201);
    const history = await call('/api/messages/?msg_types=stf_gen');
    const historyText = await history.text();
    assert.ok(historyText.includes(`"message":${body.slice(0, -1)},"sender_agent":null,`), historyText);
    assert.equal((JSON.parse(historyText) as { results: { id: string }[] }).results[0]!.id, ((await published.clone().json()) as { id: string }).id);

    const login = await fetch(`${url}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: appKey }) });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const answers = [
      login,
      published,
      await call('/api/messages/stream/status/'),
      await call('/api/agents/'),
      await call('/api/subscribers/?active=true'),
      await fetch(`${url}/api/auth/session`, { headers: { Cookie: cookie } }),
      await call('/api/auth/session'),
      await fetch(`${url}/api/auth/logout`, { method: 'POST', headers: { Cookie: cookie } }),
      await call('/readyz'),
      await call('/healthz'),
      await call('/api/openapi.json'),
      await call('/api/subscribers/?limit=0'),
      await fetch(`${url}/api/agents/`),
      await call('/api/messages/', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: `{"msg_type":"x","pad":"${'y'.repeat(5000)}"}` }),
    ];
    const statuses = answers.map((r) => r.status);
    assert.deepEqual(statuses, [200, 201, 200, 200, 200, 200, 200, 200, 503, 200, 200, 400, 401, 413]);
    stream.abort();

    // The checks are for authenticated callers; anonymous ones learn only ready or not.
    const readyRes = await web.http!.inject({ url: '/readyz', headers: { authorization: `Token ${appKey}` } });
    assert.equal(readyRes.statusCode, 200);
    assert.deepEqual(JSON.parse(readyRes.body), { status: 'ready', checks: { store: 'ok', bus: 'ok' } });
    assert.deepEqual(JSON.parse((await web.http!.inject({ url: '/readyz' })).body), { status: 'ready' });

    // Nested records made it through whole: a sample of fields only a full schema keeps.
    const status = JSON.parse(serialised.find((s) => s.route === 'GET /api/messages/stream/status/')!.sent) as { clients: Record<string, unknown>[]; broker: Record<string, unknown> };
    assert.deepEqual(Object.keys(status.clients[0]!), ['client_id', 'user', 'remote_addr', 'connected_at', 'filters', 'events_sent', 'events_dropped', 'queue_depth', 'process']);
    assert.deepEqual(Object.keys(status.broker), ['state', 'destination', 'durable', 'connectedSince', 'reconnects', 'lastError']);
    // The last agents answer: the polls before it may predate the heartbeat's commit.
    const agent = (JSON.parse(serialised.findLast((s) => s.route === 'GET /api/agents/' && s.status === 200)!.sent) as { results: Record<string, unknown>[] }).results[0]!;
    assert.equal(agent.agent_type, 'daqsim');

    const routes = new Set(serialised.map((s) => `${s.route} ${s.status}`));
    for (const expected of [
      'POST /api/auth/login 200',
      'POST /api/messages/ 201',
      'GET /api/messages/stream/status/ 200',
      'GET /api/agents/ 200',
      'GET /api/subscribers/ 200',
      'GET /api/auth/session 200',
      'POST /api/auth/logout 200',
      'GET /readyz 503',
      'GET /healthz 200',
      'GET /api/openapi.json 200',
      'GET /api/subscribers/ 400',
      'GET /api/agents/ 401',
      'POST /api/messages/ 413',
    ]) {
      assert.ok(routes.has(expected), `${expected} was compared (compared: ${[...routes].join(', ')})`);
    }
    for (const s of serialised) assert.equal(s.sent, s.plain, `${s.route} ${s.status}`);
  });
});
