// A private Redis Sentinel deployment for failover tests: three redis-server (one master, two
// replicas) and three sentinels with quorum 2, on free loopback ports, nothing persisted.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitUntil } from './relay.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_SENTINEL = '/usr/bin/redis-sentinel';
/** Master name the sentinels monitor. */
export const MASTER_NAME = 'mymaster';
/** A master silent this long is subjectively down; with quorum 2, failover starts soon after. */
const DOWN_AFTER_MS = 1000;
const FAILOVER_TIMEOUT_MS = 3000;

/** A running Sentinel deployment. */
export type SentinelDeployment = {
  /** REDIS_URL for the relay: `redis+sentinel://127.0.0.1:p1,…/mymaster`. */
  readonly url: string;
  readonly sentinelPorts: readonly number[];
  /** The current master's port, as the first sentinel that answers says. */
  master(): Promise<number>;
  /** SIGKILLs the current master; resolves with its port once it is dead. */
  killMaster(): Promise<number>;
  /** SIGSTOPs the current master (its sockets stay open, it answers nothing: a partition or a paused VM); resolves with its port. */
  freezeMaster(): Promise<number>;
  /** SIGCONTs a frozen server: it comes back believing it is master until the sentinels demote it. */
  thaw(port: number): void;
  /** Waits until every sentinel names a master other than `oldPort` and that server says it is master; resolves with its port. */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  /** `master` or `slave`, as the server on `port` says (null when it does not answer). */
  roleOf(port: number): Promise<string | null>;
  /** A client of the server on `port` (caller disconnects it). */
  client(port: number): Redis;
  /** The tail of every server's and sentinel's log, for failure messages. */
  logs(): string;
  /** Kills every process and removes the temporary directories. */
  stop(): Promise<void>;
};

/** Starts the deployment and waits until every sentinel sees the master, both replicas and the other two sentinels. */
export async function startSentinelDeployment(): Promise<SentinelDeployment> {
  for (const [bin, pkg] of [
    [REDIS_SERVER, 'redis-server'],
    [REDIS_SENTINEL, 'redis-sentinel'],
  ] as const) {
    if (!existsSync(bin)) throw new Error(`${pkg} is missing (${bin}): install it with \`apt-get install -y ${pkg}\``);
  }
  const root = mkdtempSync(join(tmpdir(), 'swf-relay-sentinel-'));
  const servers = new Map<number, ChildProcess>();
  const sentinels: { port: number; child: ChildProcess }[] = [];
  const children = () => [...servers.values(), ...sentinels.map((s) => s.child)];
  const onExit = () => {
    for (const child of children()) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const logFiles: string[] = [];
  /** Starts `bin` in a directory of its own (redis-server's --dir defaults to it), logging to `<name>.log`. */
  const launch = (name: string, bin: string, args: string[]) => {
    mkdirSync(join(root, name));
    const log = join(root, `${name}.log`);
    logFiles.push(log);
    const fd = openSync(log, 'a');
    const child = spawn(bin, args, { cwd: join(root, name), stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return child;
  };

  const logs = () => logFiles.map((file) => `--- ${basename(file)}\n${readText(file).slice(-3000)}`).join('\n');
  const client = (port: number) => {
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
    redis.on('error', () => {});
    return redis;
  };
  /** Runs `fn` with a fresh connection to `port`; null when it cannot connect or the command fails. */
  const ask = async <T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T | null> => {
    const redis = client(port);
    try {
      await redis.connect();
      return await fn(redis);
    } catch {
      return null;
    } finally {
      redis.disconnect();
    }
  };

  try {
    const ports = new Set<number>();
    while (ports.size < 6) ports.add(await freePort());
    const [masterPort, replicaA, replicaB, ...sentinelPorts] = [...ports] as [number, number, number, ...number[]];
    for (const port of [masterPort, replicaA, replicaB]) {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];
      if (port !== masterPort) args.push('--replicaof', '127.0.0.1', String(masterPort));
      servers.set(port, launch(`redis-${port}`, REDIS_SERVER, args));
    }
    // Sentinels read a master's replicas from its INFO every 10 s: start them once both replicas are online.
    await waitUntil(
      async () => ((await ask(masterPort, (r) => r.info('replication'))) ?? '').match(/^slave\d+:.*state=online/gm)?.length === 2,
      'both replicas to be in sync with the master',
      logs,
      30_000,
    );
    for (const port of sentinelPorts) {
      const name = `sentinel-${port}`;
      const dir = join(root, name);
      const conf = join(root, `${name}.conf`);
      // Sentinel rewrites its config file (known sentinels, replicas, epochs): a writable copy of its own.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${MASTER_NAME} ${FAILOVER_TIMEOUT_MS}`,
          `sentinel parallel-syncs ${MASTER_NAME} 2`,
          '',
        ].join('\n'),
      );
      sentinels.push({ port, child: launch(name, REDIS_SENTINEL, [conf]) });
    }
  } catch (err) {
    process.removeListener('exit', onExit);
    onExit();
    throw err;
  }

  const masterSeenBy = async (sentinelPort: number) => {
    const addr = (await ask(sentinelPort, (r) => r.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME))) as [string, string] | null;
    return addr ? Number(addr[1]) : null;
  };
  const running = (port: number) => {
    const child = servers.get(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error(`the redis-server on port ${port} is not one of ours or is not running`);
    return child;
  };
  const roleOf = async (port: number) => /^role:(\w+)/m.exec((await ask(port, (r) => r.info('replication'))) ?? '')?.[1] ?? null;
  const master = async () => {
    for (const s of sentinels) {
      const port = await masterSeenBy(s.port);
      if (port !== null) return port;
    }
    throw new Error(`no sentinel names a master for ${MASTER_NAME}\n${logs()}`);
  };

  try {
    // Sentinels find the replicas through the master's INFO and each other through hello messages (every 2 s).
    await waitUntil(
      async () => {
        for (const s of sentinels) {
          const info = await ask(s.port, (r) => r.call('SENTINEL', 'master', MASTER_NAME));
          if (!Array.isArray(info)) return false;
          const fields = new Map<string, string>();
          for (let i = 0; i + 1 < info.length; i += 2) fields.set(String(info[i]), String(info[i + 1]));
          if (fields.get('flags') !== 'master' || fields.get('num-slaves') !== '2' || fields.get('num-other-sentinels') !== '2') return false;
          const replicas = (await ask(s.port, (r) => r.call('SENTINEL', 'replicas', MASTER_NAME))) as string[][] | null;
          if (!replicas || replicas.length !== 2) return false;
          for (const replica of replicas) {
            const at = (key: string) => replica[replica.indexOf(key) + 1];
            if (at('flags') !== 'slave' || at('master-link-status') !== 'ok') return false;
          }
        }
        return true;
      },
      'every sentinel to see the master, two replicas in sync and two other sentinels',
      logs,
      30_000,
    );
  } catch (err) {
    process.removeListener('exit', onExit);
    onExit();
    throw err;
  }

  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${MASTER_NAME}`,
    sentinelPorts: sentinels.map((s) => s.port),
    master,
    roleOf,
    client,
    logs,
    async killMaster() {
      const port = await master();
      const child = running(port);
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      return port;
    },
    async freezeMaster() {
      const port = await master();
      running(port).kill('SIGSTOP');
      return port;
    },
    thaw(port) {
      running(port).kill('SIGCONT');
    },
    async waitForFailover(oldPort, timeoutMs = 30_000) {
      let elected = 0;
      await waitUntil(
        async () => {
          const seen = await Promise.all(sentinels.map((s) => masterSeenBy(s.port)));
          const port = seen[0];
          if (port === null || port === undefined || port === oldPort || seen.some((p) => p !== port)) return false;
          if ((await roleOf(port)) !== 'master') return false;
          elected = port;
          return true;
        },
        `a sentinel failover away from port ${oldPort}`,
        logs,
        timeoutMs,
      );
      return elected;
    },
    async stop() {
      process.removeListener('exit', onExit);
      await Promise.all(
        children().map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }),
      );
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
