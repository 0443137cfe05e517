/**
 * REDIS_URL → an ioredis client: a single server (`redis://`, `rediss://`),
 * Sentinel (`redis+sentinel://h1:26379,h2:26379/<master>`), or Cluster
 * (`redis+cluster://h1:7000,h2:7001`). Parsing is pure and unit-tested.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** What a REDIS_URL describes. */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string; password?: string; tls: boolean; db: number }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; password?: string; tls: boolean };

/** Parses REDIS_URL; throws an Error naming what is wrong. */
export function parseRedisUrl(url: string): RedisTarget {
  const scheme = /^([a-z+]+):\/\//.exec(url)?.[1];
  if (scheme === 'redis' || scheme === 'rediss') return { kind: 'single', url };
  if (scheme !== 'redis+sentinel' && scheme !== 'rediss+sentinel' && scheme !== 'redis+cluster' && scheme !== 'rediss+cluster') {
    throw new Error('REDIS_URL must be redis://, rediss://, redis+sentinel://… or redis+cluster://…');
  }
  const rest = url.slice(scheme.length + 3);
  const at = rest.lastIndexOf('@');
  const credentials = at >= 0 ? rest.slice(0, at) : '';
  const [hostList = '', path = ''] = (at >= 0 ? rest.slice(at + 1) : rest).split('/', 2);
  const nodes = hostList.split(',').map((hostPort) => {
    const match = /^([^:]+)(?::(\d+))?$/.exec(hostPort.trim());
    if (!match) throw new Error(`REDIS_URL: bad host "${hostPort}"`);
    return { host: match[1]!, port: Number(match[2] ?? (scheme.includes('sentinel') ? 26379 : 6379)) };
  });
  const password = credentials.includes(':') ? decodeURIComponent(credentials.slice(credentials.indexOf(':') + 1)) : undefined;
  const tls = scheme.startsWith('rediss');
  if (scheme.includes('cluster')) return { kind: 'cluster', nodes, tls, ...(password ? { password } : {}) };
  const [name = '', db = '0'] = path.split('?')[0]!.split('/');
  if (name === '') throw new Error('REDIS_URL: a Sentinel URL needs the master name as its path (…/mymaster)');
  return { kind: 'sentinel', sentinels: nodes, name, db: Number(db) || 0, tls, ...(password ? { password } : {}) };
}

/** Opens a client for `target`. `blocking` clients (stream readers) wait for the connection instead of failing commands. */
export function connectRedis(target: RedisTarget, options: { name: string; blocking?: boolean }): Redis | Cluster {
  const common: RedisOptions = {
    connectionName: options.name,
    // Commands wait while Redis is away: the bus retries rather than losing events.
    maxRetriesPerRequest: options.blocking ? null : 2,
    enableOfflineQueue: true,
    lazyConnect: false,
  };
  if (target.kind === 'single') return new Redis(target.url, common);
  const tls = target.tls ? {} : undefined;
  if (target.kind === 'sentinel') {
    return new Redis({ ...common, sentinels: target.sentinels, name: target.name, db: target.db, password: target.password, ...(tls ? { tls } : {}) });
  }
  return new Cluster(target.nodes, { redisOptions: { ...common, password: target.password, ...(tls ? { tls } : {}) } });
}

/** Key names of one channel group (SSE_CHANNEL_GROUP); the `{…}` hash tag keeps them in one Cluster slot. */
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
  readonly commands: Redis | Cluster;
  /** Opens another connection named `<process>:<role>` (it is closed by close()). */
  open(role: string, blocking?: boolean): Redis | Cluster;
  /** Disconnects every connection opened here. */
  close(): void;
}

/** Connects to REDIS_URL as process `processName` (the name shows in CLIENT LIST). */
export function createRedisConnections(url: string, processName: string): RedisConnections {
  const target = parseRedisUrl(url);
  const opened: (Redis | Cluster)[] = [];
  const open = (role: string | null, blocking = false) => {
    const client = connectRedis(target, { name: role === null ? `swf-relay:${processName}` : `swf-relay:${processName}:${role}`, blocking });
    client.on('error', () => {}); // reported through health/readiness and retried by ioredis
    opened.push(client);
    return client;
  };
  return {
    commands: open(null),
    open: (role, blocking) => open(role, blocking),
    close: () => {
      for (const client of opened) client.disconnect();
    },
  };
}
