/**
 * REDIS_URL → ioredis clients: a single server (`redis://`, `rediss://`) or
 * the master a set of Sentinels names (`redis+sentinel://h1:26379,h2:26379/<master>`).
 * The URL is parsed (and refused at start when bad) by config.ts.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type RedisTarget } from '../config.js';

/** Longest wait between two reconnection attempts (ioredis's own grows to 5 s): back within a second of Redis, or a new master, being reachable. */
const MAX_RECONNECT_DELAY_MS = 1000;
/** How long a dropped connection may take to close; the commands it carried are resent only after. */
const DISCONNECT_TIMEOUT_MS = 200;
/** How often a failover watcher retries a Sentinel it lost (ioredis's default is a minute). */
const SENTINEL_RECONNECT_MS = 2000;
/**
 * A non-blocking connection that has commands waiting and receives nothing for this long is
 * taken for half-open (a partition that outlived the connection's state: no error ever comes)
 * and replaced. Its commands (XADD, the lease, the registry; a PING on the publish replies'
 * subscriber, publish-rpc.ts) answer in milliseconds.
 */
const COMMAND_SOCKET_TIMEOUT_MS = 5000;

/**
 * ioredis options for one connection to `target`. Pure. Every connection follows a failover by
 * itself: on a reconnect, ioredis asks the Sentinels for the master and checks its role (INFO) before
 * using it; `failoverDetector` drops the connection to the old master as soon as a Sentinel announces
 * the switch (+switch-master), even when that master is unreachable rather than closed (a partition:
 * its socket never errors); a demoted master's READONLY answer also reconnects. Unfinished commands
 * (a blocking XREAD or BRPOP, a publish transaction) are sent again on the new connection.
 * No client-side `blockingTimeout`: it would resolve a read on a dead socket as "nothing new" forever,
 * hiding the stall from the bus's watchdog. A command connection left half-open is dropped after
 * COMMAND_SOCKET_TIMEOUT_MS without an answer; its unanswered commands go out again on the new one.
 */
export function redisOptions(target: RedisTarget, options: { name: string; blocking?: boolean }): RedisOptions {
  const common: RedisOptions = {
    connectionName: options.name,
    // Blocking readers wait for the connection; commands fail after two reconnection attempts (their callers retry).
    maxRetriesPerRequest: options.blocking ? null : 2,
    enableOfflineQueue: true,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt - 1, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100),
    // 2: reconnect, then resend the command that got the error.
    reconnectOnError: (err) => (err.message.includes('READONLY') ? 2 : false),
    // Not for blocking readers: an XREAD BLOCK or BRPOP waits without data by design (the bus has its own watchdog).
    ...(options.blocking ? {} : { socketTimeout: COMMAND_SOCKET_TIMEOUT_MS }),
  };
  if (target.kind === 'single') return common;
  return {
    ...common,
    sentinels: target.sentinels,
    name: target.name,
    role: 'master',
    db: target.db,
    ...(target.password !== undefined ? { password: target.password } : {}),
    failoverDetector: true,
    // The old master may be unreachable: give its socket this long to close before destroying it (ioredis waits 2 s).
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    sentinelReconnectStrategy: () => SENTINEL_RECONNECT_MS,
    // rediss+sentinel: TLS to the Sentinels and to the master alike.
    ...(target.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
  };
}

/** Opens a client for `target`. `blocking` clients (stream readers) wait for the connection instead of failing commands. */
export function connectRedis(target: RedisTarget, options: { name: string; blocking?: boolean }): Redis {
  const redisOpts = redisOptions(target, options);
  return target.kind === 'single' ? new Redis(target.url, redisOpts) : new Redis(redisOpts);
}

/**
 * Drops `client`'s connection so that ioredis opens a new one and resends the commands left
 * unanswered (a watchdog's cure for a half-open socket). Only while connected: during a
 * (re)connection attempt, disconnect() aborts that attempt and ioredis then ends the client for
 * good (status "end", every later command "Connection is closed"), and a new connection is being
 * made anyway. True when it dropped the connection.
 */
export function replaceConnection(client: Redis): boolean {
  if (client.status !== 'ready' && client.status !== 'connect') return false;
  client.disconnect(true);
  return true;
}

/** Key names of one channel group (SSE_CHANNEL_GROUP); the `{…}` around the group are part of the names already in use. */
export function redisKeys(group: string) {
  const tag = `{swf-relay:${group}}`;
  return {
    stream: `${tag}:events`,
    lease: `${tag}:listener-lease`,
    processes: `${tag}:processes`,
    process: (name: string) => `${tag}:process:${name}`,
    users: (name: string) => `${tag}:users:${name}`,
    publishRequests: `${tag}:publish-requests`,
    publishReplies: (name: string) => `${tag}:publish-replies:${name}`,
  };
}

/** The key names redisKeys() returns. */
export type RedisKeys = ReturnType<typeof redisKeys>;

/** One process's Redis connections: a shared one for commands, and dedicated ones for blocking or subscriber-mode reads. */
export interface RedisConnections {
  /** Commands of the bus, lease, registry and publish RPC. */
  readonly commands: Redis;
  /** Opens another connection named `<process>:<role>` (it is closed by close()). */
  open(role: string, blocking?: boolean): Redis;
  /** replaceConnection(), for parts that see connections only through this interface (the bus). */
  replace(client: Redis): boolean;
  /** Disconnects every connection opened here. */
  close(): void;
}

/** Connects to REDIS_URL as process `processName` (the name shows in CLIENT LIST). */
export function createRedisConnections(url: string, processName: string): RedisConnections {
  const target = parseRedisUrl(url);
  const opened: Redis[] = [];
  const open = (role: string | null, blocking = false) => {
    const client = connectRedis(target, { name: role === null ? `swf-relay:${processName}` : `swf-relay:${processName}:${role}`, blocking });
    client.on('error', () => {}); // reported through health/readiness and retried by ioredis
    opened.push(client);
    return client;
  };
  return {
    commands: open(null),
    open: (role, blocking) => open(role, blocking),
    replace: replaceConnection,
    close: () => {
      for (const client of opened) client.disconnect();
    },
  };
}
