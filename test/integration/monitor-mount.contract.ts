// The relay mounted beside the monitor's Django under /swf-monitor/, one suite run on every documented
// proxy config (nginx.test.ts, apache.test.ts): the stream and its status go to the relay (BASE_PATH),
// authenticated by the monitor's own DRF token or Django session cookie passed through the proxy
// (DJANGO_DATABASE_URL, a database made by real Django); everything else goes to Django; events flow
// unbuffered. Django's web side is a stand-in: a tiny HTTP server answering with a marker and what it received.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../src/auth/tokens.js';
import { createDjangoProject, type DjangoProject } from '../helpers/django.js';
import { freePort, openStoreOf, startRelay, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';

/** The prefix the monitor is served under, and the relay's BASE_PATH. */
export const PREFIX = '/swf-monitor';

/** A proxy started for the suite. */
export interface MountProxy {
  readonly port: number;
  /** The proxy's own logs, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** How to run one proxy config in front of the relay and the Django stand-in. */
export interface MountProxyOptions {
  /** Starts the proxy with the documented config, its upstreams pointed at these ports. */
  start(upstreams: { relayPort: number; djangoPort: number }): Promise<MountProxy>;
  /** What the proxy does with the stream's path without its slash (nginx redirects; Apache's <Location> does not match it, so Django gets it). */
  readonly streamWithoutSlash: 'redirect' | 'django';
}

/** Waits until `stream` holds an event satisfying `pred`; resolves with Date.now() at the moment its bytes were seen. */
async function receivedAt(stream: SseStream, pred: (e: SseEvent) => boolean): Promise<number> {
  let at = 0;
  await stream.waitFor((events) => {
    if (at === 0 && events.some(pred)) at = Date.now();
    return at !== 0;
  });
  return at;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Registers the suite under `name`. */
export function monitorMountContract(name: string, options: MountProxyOptions): void {
  describe(name, () => {
    let relay: RelayProcess | undefined;
    let proxy: MountProxy | undefined;
    let django: Server | undefined;
    let dir: string | undefined;
    let monitorDb: DjangoProject | undefined;
    /** The relay's own token (it may publish over HTTP). */
    let token = '';
    /** The monitor's DRF token and Django session id of one user, as agents and browsers hold them. */
    let drfToken = '';
    let sessionid = '';
    /** Requests the Django stand-in received. */
    const seenByDjango: { method: string; url: string; cookie?: string; authorization?: string }[] = [];
    const streams: SseStream[] = [];
    const viaProxy = (path: string) => `http://127.0.0.1:${proxy!.port}${path}`;

    /** Opens a stream through the proxy; asserts 200 from the relay and waits for `connected`. */
    const openVia = async (path: string, headers: Record<string, string>) => {
      const stream = await openStream(viaProxy(path), headers);
      streams.push(stream);
      assert.equal(stream.status, 200, `${path}: ${stream.raw()}\n${proxy!.output()}`);
      assert.equal(stream.headers['x-stand-in'], undefined, 'not answered by the Django stand-in');
      await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
      return stream;
    };
    const publish = async (body: object) => {
      const res = await fetch(`${relay!.url}/api/messages/`, { method: 'POST', headers: { Authorization: `Token ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(res.status, 201, await res.text());
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'swf-relay-mount-'));
      monitorDb = await createDjangoProject('sqlite');
      await monitorDb.run('user', 'alice');
      drfToken = (await monitorDb.run<{ key: string }>('token', 'alice')).key;
      sessionid = (await monitorDb.run<{ sessionid: string }>('login', 'alice')).sessionid;
      const env = {
        DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
        DJANGO_DATABASE_URL: monitorDb.url,
        // No broker: messages come in over HTTP publish, through the same writer.
        ACTIVEMQ_PORT: String(await freePort()),
        BASE_PATH: PREFIX,
        SSE_HEARTBEAT_SECONDS: '1',
        TRUSTED_PROXIES: '127.0.0.1',
        LOG_LEVEL: 'error',
      };
      const store = await openStoreOf(env);
      token = (await createToken(store, 'tester', { createUser: true, canPublish: true })).key;
      await store.close();
      relay = await startRelay(env);

      django = createServer((req, res) => {
        const seen = { method: req.method ?? '', url: req.url ?? '', cookie: req.headers.cookie, authorization: req.headers.authorization };
        seenByDjango.push(seen);
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'application/json', 'X-Stand-In': 'django' });
          res.end(JSON.stringify({ marker: 'django stand-in', ...seen }));
        });
      });
      django.listen(0, '127.0.0.1');
      await once(django, 'listening');
      proxy = await options.start({ relayPort: relay.port, djangoPort: (django.address() as { port: number }).port });
    });

    after(async () => {
      for (const s of streams) s.close();
      await proxy?.stop();
      django?.closeAllConnections();
      django?.close();
      await relay?.stop();
      await monitorDb?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("the stream and its status go to the relay, authenticated by the monitor's token or its session cookie passed through", async () => {
      // An agent's SWF_API_TOKEN (a DRF token of the monitor), and a browser on the monitor's pages: only cookies.
      const agent = { Authorization: `Token ${drfToken}` };
      const browser = { Cookie: `csrftoken=x; sessionid=${sessionid}` };
      const streamsOpen = [await openVia(`${PREFIX}/api/messages/stream/?msg_types=mount`, agent), await openVia(`${PREFIX}/api/messages/stream/?msg_types=mount`, browser)];
      for (const headers of [agent, browser, { Authorization: `Token ${token}` }] as Record<string, string>[]) {
        const res = await fetch(viaProxy(`${PREFIX}/api/messages/stream/status/`), { headers });
        assert.equal(res.status, 200, `status with ${JSON.stringify(headers)}`);
        assert.equal(res.headers.get('x-stand-in'), null, 'answered by the relay');
        const status = (await res.json()) as { connected_clients: number; other_users_clients: number; clients: { client_id: string; user: string }[] };
        if (headers === agent || headers === browser) {
          // Both streams belong to the monitor's user, who sees their details: the credentials reached the relay and were the Django user's.
          for (const stream of streamsOpen) {
            const id = (JSON.parse(stream.events().find((e) => e.event === 'connected')!.data) as { client_id: string }).client_id;
            assert.equal(status.clients.find((c) => c.client_id === id)?.user, 'alice', JSON.stringify(status.clients));
          }
        } else {
          // The relay's own (non-admin) user sees another user's streams only as a count.
          assert.equal(status.other_users_clients, streamsOpen.length, JSON.stringify(status));
        }
      }
      const session = await fetch(viaProxy(`${PREFIX}/api/messages/stream/status/`), { headers: { Cookie: 'sessionid=not-a-session' } });
      assert.equal(session.status, 401, 'an unknown session is refused');
      // Without credentials the relay itself refuses.
      const anonymous = await fetch(viaProxy(`${PREFIX}/api/messages/stream/status/`));
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Token');
      assert.deepEqual(Object.keys((await anonymous.json()) as object), ['detail']);
      assert.deepEqual(
        seenByDjango.filter((r) => r.url.startsWith(`${PREFIX}/api/messages/stream/`)),
        [],
        'Django saw no stream or status request',
      );
    });

    test('everything else under /swf-monitor/ goes to Django, path unchanged, with its cookies and Authorization', async () => {
      const headers = { Cookie: 'sessionid=django-session-key; csrftoken=abc', Authorization: 'Token django-drf-key' };
      const paths = [
        `${PREFIX}/`,
        `${PREFIX}/api/messages/?limit=1`,
        `${PREFIX}/api/subscribers/`,
        `${PREFIX}/api/messages/streamer/`,
        `${PREFIX}/static/monitor.css`,
        `${PREFIX}/panda/payload-log/42/`,
        `${PREFIX}/healthz`,
        ...(options.streamWithoutSlash === 'django' ? [`${PREFIX}/api/messages/stream`] : []),
      ];
      for (const path of paths) {
        const res = await fetch(viaProxy(path), { headers, redirect: 'manual' });
        assert.equal(res.status, 200, path);
        assert.equal(res.headers.get('x-stand-in'), 'django', path);
        assert.deepEqual(await res.json(), { marker: 'django stand-in', method: 'GET', url: path, cookie: headers.Cookie, authorization: headers.Authorization }, path);
      }
      if (options.streamWithoutSlash === 'redirect') {
        const noSlash = await fetch(viaProxy(`${PREFIX}/api/messages/stream`), { headers, redirect: 'manual' });
        assert.equal(noSlash.status, 301);
        assert.ok(noSlash.headers.get('location')?.endsWith(`${PREFIX}/api/messages/stream/`), noSlash.headers.get('location') ?? '');
      }
      const post = await fetch(viaProxy(`${PREFIX}/api/auth/login`), { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: '{}' });
      assert.equal(post.headers.get('x-stand-in'), 'django', 'a POST elsewhere under the prefix too');
    });

    test('events flow through the proxy unbuffered: as fast as directly, not compressed, not sized', async () => {
      const query = '?msg_types=mount_latency';
      const direct = await openStream(`${relay!.url}${PREFIX}/api/messages/stream/${query}`, { Authorization: `Token ${token}` });
      streams.push(direct);
      await direct.waitFor((events) => events.some((e) => e.event === 'connected'));
      // Accept-Encoding: the proxy's own context compresses event streams; the config must keep that off.
      const proxied = await openVia(`${PREFIX}/api/messages/stream/${query}`, { Authorization: `Token ${token}`, 'Accept-Encoding': 'gzip' });
      assert.equal(proxied.headers['content-type'], 'text/event-stream');
      assert.equal(proxied.headers['content-length'], undefined);
      assert.equal(proxied.headers['transfer-encoding'], 'chunked');
      assert.equal(proxied.headers['content-encoding'], undefined, 'not compressed');

      const extraMs: number[] = [];
      for (let seq = 0; seq < 15; seq++) {
        const isMine = (e: SseEvent) => e.event === 'mount_latency' && (JSON.parse(e.data) as { seq: number }).seq === seq;
        const arrivals = Promise.all([receivedAt(direct, isMine), receivedAt(proxied, isMine)]);
        await publish({ msg_type: 'mount_latency', seq });
        const [atDirect, atProxy] = await arrivals;
        extraMs.push(atProxy - atDirect);
      }
      const mine = (s: SseStream) => s.events().filter((e) => e.event === 'mount_latency');
      assert.deepEqual(
        mine(proxied).map((e) => [e.id, e.data]),
        mine(direct).map((e) => [e.id, e.data]),
      );
      assert.ok(median(extraMs) < 50, `median extra delay through the proxy < 50 ms: ${extraMs.join(', ')}`);
    });
  });
}
