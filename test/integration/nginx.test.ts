// The documented nginx configs, run for real in front of the relay: docs/nginx/swf-relay.conf (events pass unbuffered,
// idle streams survive) and docs/nginx/swf-relay-beside-monitor.conf (stream and status to the relay, the rest to Django).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startActiveMQ, type PrivateBroker } from '../helpers/activemq.js';
import { freePort, makeToken, startRelay, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { openStream, type SseEvent, type SseStream } from '../helpers/sse-client.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';
import { monitorMountContract } from './monitor-mount.contract.js';
import { privateNginxTempPaths } from '../helpers/nginx.js';

const NGINX = '/usr/sbin/nginx';
const INSTALL_HINT = 'apt-get install -y --no-install-recommends nginx';
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const SITE_CONF = join(DOCS, 'nginx', 'swf-relay.conf');
const MOUNT_CONF = join(DOCS, 'nginx', 'swf-relay-beside-monitor.conf');
/** nginx's proxy_read_timeout in the test: shorter than the idle check, longer than the relay's heartbeat interval. */
const READ_TIMEOUT_SECONDS = 3;
const PERSISTENT = { persistent: 'true', 'content-type': 'application/json' };

/** A private nginx master process running from its own directory. */
type PrivateNginx = { port: number; dir: string; output(): string; stop(): Promise<void> };

/**
 * A docs/nginx/ file with its upstreams (documented address → test address), the
 * listen port and proxy_read_timeout substituted; fails if any of them is not where
 * the test expects it.
 */
function siteConfig(file: string, upstreams: Record<string, string>, listenPort: number, readTimeoutSeconds: number): string {
  const original = readFileSync(file, 'utf8');
  assert.match(original, /^\s*listen 80;$/m, `${file} has "listen 80;"`);
  assert.match(original, /^\s*proxy_read_timeout \S+;$/m, `${file} sets proxy_read_timeout`);
  let text = original;
  for (const [from, to] of Object.entries(upstreams)) {
    assert.ok(original.includes(`proxy_pass http://${from};`), `${file} proxies to ${from}`);
    text = text.replaceAll(from, to);
    assert.ok(!text.includes(from) && text.includes(`proxy_pass http://${to};`), `upstream ${from} substituted`);
  }
  text = text
    .replace(/^(\s*)listen 80;$/gm, `$1listen 127.0.0.1:${listenPort};`)
    .replace(/^(\s*)proxy_read_timeout \S+;$/gm, `$1proxy_read_timeout ${readTimeoutSeconds}s;`);
  assert.ok(!/listen 80;/.test(text) && text.includes(`listen 127.0.0.1:${listenPort};`), 'listen port substituted');
  assert.ok(text.includes(`proxy_read_timeout ${readTimeoutSeconds}s;`), 'proxy_read_timeout substituted');
  return text;
}

/**
 * Starts nginx (daemon off, so the child is the master) as the current user with
 * everything inside a temp dir; `sites` are included in http { } as they are.
 * The http context is deliberately hostile (gzip on for text/event-stream, plus
 * `hostile` lines), so the site config has to switch off what would buffer the stream.
 */
async function startNginx(sites: { name: string; text: string; port: number }[], hostile: string[] = []): Promise<PrivateNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'swf-relay-nginx-'));
  const p = (name: string) => join(dir, name);
  for (const site of sites) writeFileSync(p(site.name), site.text);
  const isRoot = process.getuid?.() === 0;
  writeFileSync(
    p('nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      // As root, workers would switch to "nobody" and could not use the temp dir.
      ...(isRoot ? [`user ${userInfo().username};`] : []),
      `pid ${p('nginx.pid')};`,
      `error_log ${p('error.log')} info;`,
      'worker_shutdown_timeout 2s;',
      'events {}',
      'http {',
      `    access_log ${p('access.log')};`,
      ...privateNginxTempPaths(p),
      '    gzip on;',
      '    gzip_types text/event-stream;',
      '    gzip_min_length 0;',
      '    gzip_proxied any;',
      ...hostile.map((line) => `    ${line}`),
      ...sites.map((site) => `    include ${p(site.name)};`),
      '}',
      '',
    ].join('\n'),
  );

  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', p('nginx.conf'), '-e', p('error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.once('error', (err) => (output += `spawn failed: ${err.message}\n`));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const log = () => {
    const errorLog = existsSync(p('error.log')) ? readFileSync(p('error.log'), 'utf8') : '';
    return `${output}\n--- ${p('error.log')}:\n${errorLog}`;
  };

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (!exited) {
      // Graceful first (SIGQUIT); fast shutdown (SIGTERM) and SIGKILL if it lingers.
      child.kill('SIGQUIT');
      const term = setTimeout(() => child.kill('SIGTERM'), 5_000);
      const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(term);
      clearTimeout(kill);
    }
    if (!process.env.KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const site of sites) {
      await waitUntil(
        async () => {
          if (exited) throw new Error(`nginx exited during start:\n${log()}`);
          const res = await fetch(`http://127.0.0.1:${site.port}/healthz`).catch(() => null);
          return res !== null;
        },
        `nginx answering on 127.0.0.1:${site.port}`,
        log,
      );
    }
    assert.equal(readFileSync(p('nginx.pid'), 'utf8').trim(), String(child.pid), 'the child is the nginx master');
  } catch (err) {
    await stop();
    throw err;
  }
  return { port: sites[0]!.port, dir, output: log, stop };
}

/** Waits until `stream` holds an event satisfying `pred`; resolves with Date.now() at the moment its bytes were seen. */
async function receivedAt(stream: SseStream, pred: (e: SseEvent) => boolean, timeoutMs = 10_000): Promise<number> {
  let at = 0;
  await stream.waitFor((events) => {
    if (at === 0 && events.some(pred)) at = Date.now();
    return at !== 0;
  }, timeoutMs);
  return at;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

describe('the relay behind nginx, with docs/nginx/swf-relay.conf', () => {
  let broker: PrivateBroker | undefined;
  let relay: RelayProcess | undefined;
  let nginx: PrivateNginx | undefined;
  let publisher: Publisher | undefined;
  let silent: Server | undefined;
  let silentPort = 0;
  let silentNginxPort = 0;
  let dir: string | undefined;
  let token = '';
  const topic = `/topic/nginx-${process.pid}`;
  const streams: SseStream[] = [];

  /** Opens a stream; `check` runs on the response headers before the `connected` event is awaited. */
  const open = async (base: string, query: string, headers: Record<string, string> = {}, check: (s: SseStream) => void = () => {}) => {
    const stream = await openStream(`${base}/api/messages/stream/${query}`, { Authorization: `Token ${token}`, ...headers });
    streams.push(stream);
    assert.equal(stream.status, 200, `${base}: ${stream.raw()}`);
    check(stream);
    await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
    return stream;
  };
  const clientIdOf = (stream: SseStream) => (JSON.parse(stream.events().find((e) => e.event === 'connected')!.data) as { client_id: string }).client_id;

  before(async () => {
    // Checked first: a machine without nginx fails here, it never skips.
    assert.ok(existsSync(NGINX), `nginx is missing (${NGINX} not found): install it with \`${INSTALL_HINT}\``);
    broker = await startActiveMQ();
    dir = mkdtempSync(join(tmpdir(), 'swf-relay-nginx-relay-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(broker.port),
      ACTIVEMQ_HEARTBEAT_TOPIC: topic,
      ACTIVEMQ_CLIENT_ID: `nginx-${process.pid}`,
      SSE_HEARTBEAT_SECONDS: '1',
      TRUSTED_PROXIES: '127.0.0.1',
      // As an auth proxy in front would be configured: the relay believes this header from nginx.
      TRUSTED_PROXY_USER_HEADER: 'X-Remote-User',
    };
    token = await makeToken(env);
    relay = await startRelay(env, { waitForBroker: token });
    publisher = await connectPublisher(broker.host, broker.port);

    // An upstream that opens an event stream and then never sends another byte:
    // the control showing that nginx really applies the substituted proxy_read_timeout.
    silent = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': req.url === '/healthz' ? 'application/json' : 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
      if (req.url === '/healthz') res.end('{"status":"ok"}');
      else res.write(': silent upstream\n\nevent: connected\ndata: {}\n\n');
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    silentPort = (silent.address() as { port: number }).port;

    const port = await freePort();
    silentNginxPort = await freePort();
    nginx = await startNginx([
      { name: 'swf-relay.conf', text: siteConfig(SITE_CONF, { '127.0.0.1:8000': `127.0.0.1:${relay.port}` }, port, READ_TIMEOUT_SECONDS), port },
      { name: 'silent.conf', text: siteConfig(SITE_CONF, { '127.0.0.1:8000': `127.0.0.1:${silentPort}` }, silentNginxPort, READ_TIMEOUT_SECONDS), port: silentNginxPort },
    ]);
  });

  after(async () => {
    for (const s of streams) s.close();
    await nginx?.stop();
    silent?.closeAllConnections();
    silent?.close();
    await publisher?.close();
    await relay?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("a client's own X-Remote-User never passes the shipped config, though the relay believes the header from nginx's address", async () => {
    const asAdmin = { 'X-Remote-User': 'admin' };
    // Control: sent straight from the trusted proxy's address, the relay takes it.
    const direct = await fetch(`${relay!.url}/api/auth/session`, { headers: asAdmin });
    assert.deepEqual(await direct.json(), { username: 'admin', via: 'proxy' });
    for (const path of ['/api/auth/session', '/api/messages/stream/status/', '/api/messages/stream/']) {
      const res = await fetch(`http://127.0.0.1:${nginx!.port}${path}`, { headers: asAdmin });
      assert.equal(res.status, 401, `${path} through nginx: ${await res.text()}`);
    }
  });

  test('events reach a client through nginx as fast as directly (no buffering); streamed, not sized', async (t) => {
    const viaNginx = `http://127.0.0.1:${nginx!.port}`;
    const query = '?msg_types=nginx_latency';
    const direct = await open(relay!.url, query);
    // Accept-Encoding: the http context gzips text/event-stream; the site config must turn that off.
    const proxied = await open(viaNginx, query, { 'Accept-Encoding': 'gzip' }, (s) => {
      assert.equal(s.headers['content-type'], 'text/event-stream');
      assert.equal(s.headers['content-length'], undefined, 'no Content-Length through nginx');
      assert.equal(s.headers['transfer-encoding'], 'chunked');
      assert.equal(s.headers['content-encoding'], undefined, 'not compressed (gzip would hold events back)');
      assert.equal(s.headers['cache-control'], 'no-cache');
    });

    const directMs: number[] = [];
    const nginxMs: number[] = [];
    const extraMs: number[] = [];
    for (let seq = 0; seq < 20; seq++) {
      const isMine = (e: SseEvent) => e.event === 'nginx_latency' && (JSON.parse(e.data) as { seq: number }).seq === seq;
      const startWall = Date.now();
      const arrivals = Promise.all([receivedAt(direct, isMine), receivedAt(proxied, isMine)]);
      await publisher!.sendAndWait(topic, JSON.stringify({ msg_type: 'nginx_latency', seq }), PERSISTENT);
      const [atDirect, atNginx] = await arrivals;
      directMs.push(atDirect - startWall);
      nginxMs.push(atNginx - startWall);
      extraMs.push(atNginx - atDirect);
    }
    // Same events, same ids, same bytes on both paths.
    const mine = (s: SseStream) => s.events().filter((e) => e.event === 'nginx_latency');
    assert.equal(mine(proxied).length, 20, 'every message arrived through nginx');
    assert.deepEqual(
      mine(proxied).map((e) => [e.id, e.data]),
      mine(direct).map((e) => [e.id, e.data]),
    );

    const summary =
      `publish→receipt over 20 messages: direct median ${ms(median(directMs))} max ${ms(Math.max(...directMs))}; ` +
      `through nginx median ${ms(median(nginxMs))} max ${ms(Math.max(...nginxMs))}; ` +
      `extra through nginx median ${ms(median(extraMs))} max ${ms(Math.max(...extraMs))}`;
    t.diagnostic(summary);
    assert.ok(median(extraMs) < 50, `median extra delay through nginx must be < 50 ms (buffering check): ${summary}; extra per message: ${extraMs.join(', ')}`);
  });

  test(`an idle stream through nginx (proxy_read_timeout ${READ_TIMEOUT_SECONDS}s) stays open for 8 s on heartbeats`, async (t) => {
    const viaNginx = `http://127.0.0.1:${nginx!.port}`;
    const stream = await open(viaNginx, '?msg_types=nothing-matches');
    const start = Date.now();
    const beatTimes: number[] = [];
    let seen = 0;
    // Rejects if the stream ends (nginx cut it off) before 8 s have passed.
    await stream.waitFor((events) => {
      const beats = events.filter((e) => e.event === 'heartbeat').length;
      for (; seen < beats; seen++) beatTimes.push(Date.now() - start);
      return Date.now() - start >= 8_000;
    }, 12_000);
    // Still open afterwards: one more heartbeat arrives on the same stream.
    const before = seen;
    await stream.waitFor((events) => events.filter((e) => e.event === 'heartbeat').length > before, 5_000);

    const within = beatTimes.filter((at) => at <= 8_000);
    const gaps = within.map((at, i) => at - (i === 0 ? 0 : within[i - 1]!));
    t.diagnostic(`heartbeats through nginx within 8 s: ${within.length}, at ms ${within.join(', ')}`);
    assert.ok(within.length >= 6, `at least 6 heartbeats in 8 s, got ${within.length}`);
    assert.ok(Math.max(...gaps) < READ_TIMEOUT_SECONDS * 1000, `no silence as long as proxy_read_timeout: gaps ${gaps.join(', ')} ms`);
    assert.ok(stream.events().every((e) => e.event === 'connected' || e.event === 'heartbeat'));
  });

  test('a client that stops reading through nginx is seen by the relay as slow (back-pressure, no buffering in nginx)', async () => {
    const viaNginx = `http://127.0.0.1:${nginx!.port}`;
    const stream = await open(viaNginx, '?msg_types=nginx_backpressure');
    const clientId = clientIdOf(stream);
    stream.pause();
    // 64 MiB: more than the socket buffers on the way (about 20 MiB on loopback) plus the relay's queue of 100 events.
    // A buffering proxy would soak all of it up (to memory and temp files) and the relay would never notice.
    const pad = 'x'.repeat(64 * 1024);
    const count = 1000;
    for (let seq = 0; seq < count; seq++) {
      const body = JSON.stringify({ msg_type: 'nginx_backpressure', seq, pad });
      if (seq % 50 === 49 || seq === count - 1) await publisher!.sendAndWait(topic, body);
      else publisher!.send(topic, body);
    }
    let seen = { queue_depth: 0, events_dropped: 0 };
    await waitUntil(
      async () => {
        const res = await fetch(`${relay!.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
        const status = (await res.json()) as { clients: { client_id: string; queue_depth: number; events_dropped: number }[] };
        seen = status.clients.find((c) => c.client_id === clientId) ?? seen;
        return seen.events_dropped > 0;
      },
      'the relay to drop events for the paused client behind nginx',
      () => `last status of the client: ${JSON.stringify(seen)}`,
      30_000,
    );
    // Reading again, the client is told what it missed.
    stream.resume();
    const events = await stream.waitFor((e) => e.some((x) => x.event === 'gap'), 30_000);
    const gap = JSON.parse(events.find((e) => e.event === 'gap')!.data) as { reason: string; dropped: number };
    assert.equal(gap.reason, 'slow_client');
    assert.ok(gap.dropped > 0);
  });

  test('control: without heartbeats, the same config cuts the stream after proxy_read_timeout', async () => {
    // Timed from before the request: nginx's read timer starts after it, whenever this process
    // gets to see the response headers (late on a busy machine, which made the stream look short).
    const start = Date.now();
    const stream = await openStream(`http://127.0.0.1:${silentNginxPort}/api/messages/stream/`);
    streams.push(stream);
    assert.equal(stream.status, 200);
    await stream.body(); // resolves when nginx ends the response
    const lasted = Date.now() - start;
    assert.ok(
      lasted >= READ_TIMEOUT_SECONDS * 1000 && lasted < (READ_TIMEOUT_SECONDS + 10) * 1000,
      `a silent stream is cut after ~${READ_TIMEOUT_SECONDS} s, lasted ${lasted} ms`,
    );
  });

  test('docs/deployment.md shows every docs/nginx, docs/apache and docs/systemd file verbatim', () => {
    const markdown = readFileSync(join(DOCS, 'deployment.md'), 'utf8');
    for (const file of ['nginx/swf-relay.conf', 'apache/swf-relay.conf', 'systemd/swf-relay.service', 'nginx/swf-relay-beside-monitor.conf', 'apache/swf-relay-beside-monitor.conf']) {
      const text = readFileSync(join(DOCS, file), 'utf8');
      assert.ok(markdown.includes(text.trimEnd()), `docs/deployment.md contains docs/${file} unchanged`);
    }
  });
});

monitorMountContract('swf-relay beside the monitor, behind nginx with docs/nginx/swf-relay-beside-monitor.conf', {
  streamWithoutSlash: 'redirect',
  async start({ relayPort, djangoPort }) {
    assert.ok(existsSync(NGINX), `nginx is missing (${NGINX} not found): install it with \`${INSTALL_HINT}\``);
    const port = await freePort();
    const upstreams = { '127.0.0.1:8000': `127.0.0.1:${relayPort}`, '127.0.0.1:8080': `127.0.0.1:${djangoPort}` };
    // Hostile: request headers dropped or blanked for every location that does not say otherwise.
    const nginx = await startNginx([{ name: 'beside-monitor.conf', text: siteConfig(MOUNT_CONF, upstreams, port, READ_TIMEOUT_SECONDS), port }], [
      'proxy_pass_request_headers off;',
      'proxy_set_header Authorization "";',
      'proxy_set_header Cookie "";',
    ]);
    return { port: nginx.port, output: nginx.output, stop: nginx.stop };
  },
});
