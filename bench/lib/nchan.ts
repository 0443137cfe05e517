/**
 * A private nginx with Debian's nchan module, the C SSE server the `nchan`
 * scenario compares the relay with: its own directory (config, pid, logs,
 * temp paths), one worker process (as the relay has one main thread), a free
 * loopback port, `daemon off` so the child we spawn is the master and dies
 * with the run. Publish with POST /pub/<channel>, subscribe (EventSource)
 * with GET /sub/<channel> and `Accept: text/event-stream`.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/helpers/relay.js';
import { childPids } from './proc.js';
import { privateNginxTempPaths } from '../../test/helpers/nginx.js';

const NGINX = '/usr/sbin/nginx';
const MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';
const PACKAGES = ['nginx', 'libnginx-mod-nchan'];
const INSTALL = `apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}`;
const START_TIMEOUT_MS = 15_000;

/**
 * Messages each channel keeps, and for how long. A subscriber that is already
 * connected gets each message written at publish time; the buffer only has to
 * outlast the measured window so that nothing can expire from under a slow
 * client: 20,000 ≥ 1,000 msg/s × (10 s step + drain), 5 minutes ≥ any step.
 */
const BUFFER_LENGTH = 20_000;
const BUFFER_TIMEOUT = '5m';
/** nchan's shared memory (messages of all channels live there): 20,000 × ~1.3 KB per channel, a few channels per run. */
const SHARED_MEMORY = '256m';

/** A running private nginx + nchan. */
export interface NchanServer {
  readonly url: string;
  /** The master and its worker(s) now: the CPU charged to nchan. */
  readonly pids: number[];
  /** The worker process now (where the publishing and fanout run). */
  readonly workerPid: number;
  /** nchan and nginx package versions, for the notes. */
  readonly versions: string;
  /** Publish URL of `channel`. */
  publishUrl(channel: string): string;
  /** Subscriber path of `channel`. */
  subscribePath(channel: string): string;
  /** What nginx printed and logged, for errors. */
  log(): string;
  /** The error log's [error], [crit], [alert] and [emerg] lines so far (e.g. nchan out of shared memory). */
  problems(): string[];
  stop(): Promise<void>;
}

/**
 * Makes sure nginx and the nchan module are installed: installs them when
 * missing and running as root (apt-get; `apt-get update` and once more if
 * the first try fails), else fails with one line saying what to install.
 */
export function ensureNchanInstalled(log: (message: string) => void): void {
  if (existsSync(NGINX) && existsSync(MODULE)) return;
  if (process.getuid?.() !== 0) throw new Error(`nchan is not installed (no ${MODULE}): run \`${INSTALL}\` as root`);
  log(`  ${MODULE} missing: ${INSTALL}`);
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...PACKAGES], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', timeout: 300_000 });
    install();
  }
  if (!existsSync(NGINX) || !existsSync(MODULE)) throw new Error(`nchan could not be installed: run \`${INSTALL}\` as root`);
}

function versions(): string {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f', '${Package} ${Version}\\n', ...PACKAGES], { encoding: 'utf8' });
    return out.trim().split('\n').join(', ');
  } catch {
    return 'versions unknown';
  }
}

/** nginx.conf for `dir`, listening on 127.0.0.1:`port`. */
function config(dir: string, port: number): string {
  const p = (name: string) => path.join(dir, name);
  const isRoot = process.getuid?.() === 0;
  return [
    `load_module ${MODULE};`,
    'daemon off;',
    // One process serves everything, like the relay's one main thread.
    'worker_processes 1;',
    // As root the worker would switch to "nobody" and could not use the directory.
    ...(isRoot ? [`user ${os.userInfo().username};`] : []),
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} warn;`,
    // 1,000 streams + publisher connections exceed the default 1,024 descriptors and 512 connections.
    'worker_rlimit_nofile 16384;',
    'worker_shutdown_timeout 2s;',
    'events { worker_connections 8192; }',
    'http {',
    '    access_log off;',
    ...privateNginxTempPaths(p),
    // The publisher keeps its connections for the whole run (nginx closes a keep-alive connection after 1,000 requests by default).
    '    keepalive_requests 100000000;',
    '    keepalive_timeout 600s;',
    // ~1 KB bodies stay in memory.
    '    client_body_buffer_size 64k;',
    `    nchan_shared_memory_size ${SHARED_MEMORY};`,
    '    server {',
    `        listen 127.0.0.1:${port};`,
    '        location = /healthz { return 200 "ok\\n"; }',
    '        location ~ ^/pub/(\\w+)$ {',
    '            nchan_publisher http;',
    '            nchan_channel_id $1;',
    `            nchan_message_buffer_length ${BUFFER_LENGTH};`,
    `            nchan_message_timeout ${BUFFER_TIMEOUT};`,
    '        }',
    '        location ~ ^/sub/(\\w+)$ {',
    '            nchan_subscriber eventsource;',
    '            nchan_channel_id $1;',
    // Only what is published after the stream opened (as the relay's live streams without Last-Event-ID).
    '            nchan_subscriber_first_message newest;',
    '        }',
    '    }',
    '}',
    '',
  ].join('\n');
}

/** Starts nginx + nchan in a temp directory; resolves once it answers and its worker is up. */
export async function startNchan(): Promise<NchanServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swf-relay-bench-nchan-'));
  const p = (name: string) => path.join(dir, name);
  const port = await freePort();
  writeFileSync(p('nginx.conf'), config(dir, port));
  const child = spawn(NGINX, ['-p', dir, '-c', p('nginx.conf'), '-e', p('error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  child.once('error', (err) => (output += `spawn failed: ${err.message}\n`));
  let running = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running = false;
      resolve();
    }),
  );
  // An interrupted run must not leave nginx behind (SIGKILL of the master: the worker exits when it notices).
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const log = () => `${output}${existsSync(p('error.log')) ? `\n--- error.log:\n${readFileSync(p('error.log'), 'utf8').slice(-4000)}` : ''}`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (running) {
      // Fast shutdown (SIGTERM closes the streams at once); SIGKILL if it lingers.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let workers: number[] = [];
  for (;;) {
    if (!running) {
      const text = log();
      await stop();
      throw new Error(`nginx with nchan exited during start:\n${text}`);
    }
    const res = await fetch(`${url}/healthz`).catch(() => null);
    workers = childPids(child.pid!);
    if (res?.ok && workers.length > 0) break;
    if (Date.now() > deadline) {
      const text = log();
      await stop();
      throw new Error(`nginx with nchan not answering on ${url} within ${START_TIMEOUT_MS / 1000} s:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const master = child.pid!;
  return {
    url,
    // Read afresh each time: a worker that crashed is replaced by one with a new pid.
    get pids() {
      return [master, ...childPids(master)];
    },
    get workerPid() {
      return childPids(master)[0] ?? master;
    },
    versions: versions(),
    publishUrl: (channel) => `${url}/pub/${channel}`,
    subscribePath: (channel) => `/sub/${channel}`,
    log,
    problems: () => (existsSync(p('error.log')) ? readFileSync(p('error.log'), 'utf8').split('\n').filter((line) => /\[(error|crit|alert|emerg)\]/.test(line)) : []),
    stop,
  };
}
