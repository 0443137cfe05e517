// Private redis-server instances for tests that kill or restart Redis; the shared one for the rest.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './relay.js';

const REDIS_SERVER = '/usr/bin/redis-server';

/** A private Redis on its own port; restart() keeps the port (data is not persisted). */
export type PrivateRedis = { url: string; port: number; stop(): Promise<void>; restart(): Promise<void>; kill(): Promise<void>; start(): Promise<void> };

/** The shared Redis the machine runs (TEST_REDIS_URL or redis://127.0.0.1:6379); fails with a clear message when it does not answer. */
export async function sharedRedisUrl(): Promise<string> {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const { hostname, port } = new URL(url);
  if (!(await answersPing(hostname, Number(port || 6379)))) {
    throw new Error(`Redis is not reachable at ${hostname}:${port || 6379} (TEST_REDIS_URL): start it, e.g. \`redis-server --daemonize yes\`, or install Debian's redis-server package`);
  }
  return url;
}

/** Starts a private redis-server on a free port and waits until it answers PING. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`redis-server is missing (${REDIS_SERVER}): install it with \`apt-get install -y redis-server\``);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'swf-relay-redis-'));
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await answersPing('127.0.0.1', port))) {
      if (Date.now() > deadline) throw new Error(`private redis-server on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  };
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start: launch,
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
    async stop() {
      process.removeListener('exit', onExit);
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function answersPing(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
