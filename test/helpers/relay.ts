// Runs the relay as a real child process (`swf-relay start`) for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { fileURLToPath } from 'node:url';
import { createToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/store.js';
import { freePort } from './ports.js';

export { freePort };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
/**
 * The arguments that run `swf-relay` (`process.execPath` is the program): from the sources through
 * tsx, or, when `npm test` has just built them (SWF_RELAY_TEST_BUILT=1, scripts/test.sh), the
 * compiled dist/main.js that bin/swf-relay.js runs for users. That starts in about half the time
 * (nothing to transpile), which adds up over the suite's few hundred relay and CLI processes.
 */
export const RELAY_ARGS: readonly string[] =
  process.env.SWF_RELAY_TEST_BUILT === '1' ? [fileURLToPath(new URL('../../dist/main.js', import.meta.url))] : ['--import', 'tsx', MAIN];

/** A relay process under test. */
export type RelayProcess = {
  readonly url: string;
  readonly pid: number;
  readonly port: number;
  readonly env: Record<string, string>;
  /** Everything it printed (JSON log lines) so far. */
  output(): string;
  /** Resolves with the exit code once it has exited. */
  readonly exited: Promise<number | null>;
  /** True while the process runs. */
  alive(): boolean;
  /** Sends `signal` (default SIGTERM) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/**
 * The environment of one deployment on the Redis bus (listen + serve): its own channel group,
 * broker topic and client-id, all named after `group`, so deployments sharing servers stay apart.
 */
export function deploymentEnv(servers: { databaseUrl: string; redisUrl: string; brokerPort: number }, group: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: servers.databaseUrl,
    REDIS_URL: servers.redisUrl,
    SSE_CHANNEL_GROUP: group,
    ACTIVEMQ_PORT: String(servers.brokerPort),
    ACTIVEMQ_HEARTBEAT_TOPIC: `/topic/${group}`,
    ACTIVEMQ_CLIENT_ID: group,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** Runs a CLI command of the relay to completion; resolves with its exit code and output. */
export async function runCli(args: string[], env: Record<string, string>, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...RELAY_ARGS, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** Opens the store a relay env points at (migrated), for assertions and set-up. */
export async function openStoreOf(env: Record<string, string>): Promise<Store> {
  const store = await openStore(loadConfig(env).database);
  await store.migrate();
  return store;
}

/** Creates a user and token in the relay's store and returns the key. */
export async function makeToken(env: Record<string, string>, username = 'tester'): Promise<string> {
  const store = await openStoreOf(env);
  try {
    return (await createToken(store, username, { createUser: (await store.findUser(username)) === undefined })).key;
  } finally {
    await store.close();
  }
}

/**
 * Starts `swf-relay start` with `env` (PORT chosen if absent) and waits until it
 * answers HTTP; with `waitForBroker`, also until its subscription is confirmed.
 */
export async function startRelay(
  env: Record<string, string>,
  options: { waitForBroker?: string; command?: 'start' | 'listen' | 'serve'; args?: string[] } = {},
): Promise<RelayProcess> {
  // A port we picked may be taken (e.g. as another connection's local port) before the relay binds it: pick again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRelayOnce(env, options);
    } catch (err) {
      if (env.PORT !== undefined || attempt === 3 || !String((err as Error).message).includes('EADDRINUSE')) throw err;
    }
  }
}

async function startRelayOnce(
  env: Record<string, string>,
  options: { waitForBroker?: string; command?: 'start' | 'listen' | 'serve'; args?: string[] },
): Promise<RelayProcess> {
  const command = options.command ?? 'start';
  const port = Number(env.PORT ?? (await freePort()));
  const fullEnv: Record<string, string> = { LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env, PORT: String(port) };
  const child: ChildProcess = spawn(process.execPath, [...RELAY_ARGS, command, ...(options.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...fullEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let running = true;
  void exited.then(() => (running = false));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const tls = fullEnv.TLS_CERT_FILE !== undefined;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const relay: RelayProcess = {
    url,
    pid: child.pid!,
    port,
    env: fullEnv,
    output: () => output,
    exited,
    alive: () => running,
    async stop(signal = 'SIGTERM') {
      process.removeListener('exit', killOnExit);
      if (running) child.kill(signal);
      return exited;
    },
  };
  await waitUntil(async () => {
    if (!running) throw new Error(`relay exited during start:\n${output}`);
    // A listener serves no HTTP: it is up once it says so.
    if (command === 'listen') return output.includes('"msg":"swf-relay started"');
    if (tls) return httpsOk(`${url}/healthz`);
    const res = await fetch(`${url}/healthz`).catch(() => null);
    return res?.ok === true;
  }, `relay answering on ${url}`, () => output);
  if (options.waitForBroker) {
    const token = options.waitForBroker;
    await waitUntil(async () => {
      const res = await fetch(`${url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
      const status = (await res.json()) as { broker?: { state?: string } };
      return status.broker?.state === 'connected';
    }, 'relay subscribed to the broker', () => output);
  }
  return relay;
}

/** Polls `check` every 50 ms until it returns true; fails after `timeoutMs` naming `what`. */
export async function waitUntil(check: () => Promise<boolean> | boolean, what: string, context: () => string = () => '', timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resident memory of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) * 1024;
}

/** GET over https accepting a self-signed certificate: true on 200. */
function httpsOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}
