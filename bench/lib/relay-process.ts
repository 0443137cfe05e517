/**
 * Spawns `swf-relay start` (or `listen`, `serve`) from the sources as its own
 * process, like test/helpers/relay.ts does, but with extra node flags (e.g.
 * --cpu-prof, which Node does not accept in NODE_OPTIONS), and waits until it
 * answers HTTP and is subscribed to the broker.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/relay.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const START_TIMEOUT_MS = 30_000;

/** A relay process. */
export interface RelayChild {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** Everything it printed so far (JSON log lines). */
  output(): string;
  /** SIGTERM (graceful: the relay exits within 10 s), SIGKILL after 15 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Which relay command to run: `start` (both roles), `listen` (broker → store → bus, no HTTP) or `serve` (web only). */
export type RelayCommand = 'start' | 'listen' | 'serve';

/**
 * Starts the relay with `env` (PORT chosen if absent) and node flags `nodeArgs` (after `--import tsx`, so they may name .ts modules);
 * resolves once it is subscribed (token for the status endpoint). A `serve` process sees the listener's broker state through the
 * cluster registry, so start the listener first. A `listen` process answers no HTTP: it resolves at once, and a `serve` started
 * after it proves the subscription.
 */
export async function spawnRelay(env: Record<string, string>, token: string, nodeArgs: string[] = [], command: RelayCommand = 'start'): Promise<RelayChild> {
  const port = Number(env.PORT ?? (await freePort()));
  const child = spawn(process.execPath, ['--import', 'tsx', ...nodeArgs, MAIN, command], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let running = true;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running = false;
      resolve(code);
    }),
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const url = `http://127.0.0.1:${port}`;
  const relay: RelayChild = {
    pid: child.pid!,
    port,
    url,
    output: () => output,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (running) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  if (command === 'listen') return relay;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!running) throw new Error(`relay exited during start:\n${output.slice(-4000)}`);
    const res = await fetch(`${url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } }).catch(() => null);
    if (res?.ok && ((await res.json()) as { broker?: { state?: string } }).broker?.state === 'connected') return relay;
    if (Date.now() > deadline) {
      await relay.stop();
      throw new Error(`relay not subscribed to the broker within ${START_TIMEOUT_MS / 1000} s:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
