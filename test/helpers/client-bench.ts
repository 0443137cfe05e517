// What the client tests share: a private ActiveMQ and a relay process, a token, `swf-relay send`,
// raw SSE streams to compare with, and client processes run in the background.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { startActiveMQ, type PrivateBroker } from './activemq.js';
import { makeToken, RELAY_ARGS, runCli, startRelay, waitUntil, type RelayProcess } from './relay.js';
import { openStream, type SseEvent, type SseStream } from './sse-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const CONTROL = new Set(['connected', 'heartbeat', 'gap', 'shutdown']);
/** The relayed messages among `events` (without the relay's own control events). */
export const relayed = (events: SseEvent[]) => events.filter((e) => !CONTROL.has(e.event));

/** One line of a client's `--json` output: `{"_id", "_event", ...message}`. */
export type JsonLine = { _id: string | null; _event: string; sequence?: number; msg_type?: string; [key: string]: unknown };
/** Parses JSON-lines output (empty lines skipped). */
export const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as JsonLine);
/** [from, from + 1, …, to]. */
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A command running in the background: its output so far, and its exit. */
export type Running = { child: ChildProcess; stdout(): string; stderr(): string; exited: Promise<number | null>; stop(signal?: NodeJS.Signals): Promise<number | null> };

/** Spawns `command args` with `env` added; output is collected; killed if the test process exits. */
export function spawnCommand(command: string, args: string[], env: Record<string, string>, cwd = ROOT): Running {
  const child = spawn(command, args, { cwd, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      process.removeListener('exit', kill);
      resolve(code ?? (signal ? -1 : null));
    }),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** `swf-relay <args>`, in the background. */
export const spawnCli = (args: string[], env: Record<string, string>) => spawnCommand(process.execPath, [...RELAY_ARGS, ...args], env);

/** The running broker and relay of a suite, and what the tests do with them. */
export type ClientBench = {
  /** The relay now running (a new process after restartRelay, on the same port and database). */
  readonly relay: RelayProcess;
  readonly token: string;
  /** A scratch directory, removed at the end. */
  readonly dir: string;
  readonly topic: string;
  /** The environment of client commands: broker and topic for send, token (SWF_API_TOKEN) for the clients. */
  readonly cliEnv: Record<string, string>;
  /** Starts the relay again (after relay.stop()) with the same environment; waits until it is subscribed. */
  restartRelay(): Promise<void>;
  /** Opens a raw SSE stream with `query` and waits for `connected`; closed at the end. */
  open(query: string): Promise<SseStream>;
  /** Runs `swf-relay <args>` to completion with cliEnv (plus `extra`). */
  cli(args: string[], extra?: Record<string, string>): ReturnType<typeof runCli>;
  /** Runs `swf-relay send <args>` and asserts it exited 0. */
  send(args: string[]): ReturnType<typeof runCli>;
  /** Waits until `count` streams filtered on `param` including `value` are connected (so a receiver is subscribed before we publish). */
  waitForClient(param: 'run_ids' | 'namespaces' | 'agents', value: string, count?: number): Promise<void>;
  /** Registers a background command to be killed at the end. */
  background(running: Running): Running;
};

/** Registers before/after hooks in the current suite that start a private broker and a relay, and stop them. */
export function useClientBench(label: string): ClientBench {
  let broker: PrivateBroker | undefined;
  let relay: RelayProcess | undefined;
  let token = '';
  let dir = '';
  let cliEnv: Record<string, string> = {};
  const topic = `/topic/${label}-${process.pid}`;
  const streams: SseStream[] = [];
  const running: Running[] = [];

  const bench: ClientBench = {
    get relay() {
      assert.ok(relay, 'the relay is started in before()');
      return relay;
    },
    get token() {
      return token;
    },
    get dir() {
      return dir;
    },
    topic,
    get cliEnv() {
      return cliEnv;
    },
    async restartRelay() {
      relay = await startRelay(bench.relay.env, { waitForBroker: token });
    },
    async open(query) {
      const stream = await openStream(`${bench.relay.url}/api/messages/stream/${query}`, { Authorization: `Token ${token}` });
      streams.push(stream);
      assert.equal(stream.status, 200);
      await stream.waitFor((events) => events.some((e) => e.event === 'connected'));
      return stream;
    },
    cli: (args, extra = {}) => runCli(args, { ...cliEnv, ...extra }),
    async send(args) {
      const result = await bench.cli(['send', ...args]);
      assert.equal(result.code, 0, `send ${args.join(' ')}: ${result.stderr}`);
      return result;
    },
    async waitForClient(param, value, count = 1) {
      // A client is a new node or python process: on a busy machine it may take a while to start and subscribe.
      await waitUntil(async () => {
        const res = await fetch(`${bench.relay.url}/api/messages/stream/status/`, { headers: { Authorization: `Token ${token}` } });
        const status = (await res.json()) as { client_filters: Record<string, Record<string, string[]>> };
        return Object.values(status.client_filters).filter((f) => f[param]?.includes(value)).length >= count;
      }, `a stream filtered on ${param}=${value}`, bench.relay.output, 60_000);
    },
    background(r) {
      running.push(r);
      return r;
    },
  };

  before(async () => {
    broker = await startActiveMQ();
    dir = mkdtempSync(join(tmpdir(), `swf-relay-${label}-`));
    const env = {
      DATABASE_URL: `sqlite:${join(dir, 'relay.db')}`,
      ACTIVEMQ_PORT: String(broker.port),
      ACTIVEMQ_HEARTBEAT_TOPIC: topic,
      ACTIVEMQ_CLIENT_ID: `${label}-${process.pid}`,
      SSE_HEARTBEAT_SECONDS: '0.5',
    };
    token = await makeToken(env);
    relay = await startRelay(env, { waitForBroker: token });
    cliEnv = { ACTIVEMQ_PORT: String(broker.port), ACTIVEMQ_HEARTBEAT_TOPIC: topic, SWF_API_TOKEN: token, DATABASE_URL: env.DATABASE_URL, NO_COLOR: '1' };
  });

  after(async () => {
    for (const s of streams) s.close();
    for (const r of running) await r.stop('SIGKILL');
    await relay?.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  return bench;
}
