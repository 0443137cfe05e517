/**
 * A relay for one benchmark variant: `swf-relay start` as its own process
 * (bench/lib/relay-process.ts), on a fresh SQLite file or PostgreSQL database, the
 * in-memory bus or the shared Redis under a unique SSE_CHANNEL_GROUP, its own
 * topic and durable subscription on the run's broker, and a token for the
 * load clients. Configured only through the relay's documented variables.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import { makeToken } from '../../test/helpers/relay.js';
import { MetricsText } from './metrics-text.js';
import { spawnRelay, type RelayChild } from './relay-process.js';

/** Which store and bus a relay runs with. */
export interface Variant {
  store: 'sqlite' | 'postgres';
  bus: 'memory' | 'redis';
}

/** A running bench relay. */
export interface BenchRelay {
  /** The current relay process (a new one after resume()). */
  readonly process: RelayChild;
  readonly pid: number;
  readonly url: string;
  readonly token: string;
  /** The STOMP destination it consumes. */
  readonly destination: string;
  readonly variant: Variant;
  /** Reads one counter or gauge from /metrics (summed over label sets), or null if absent. */
  metric(name: string): Promise<number | null>;
  /** One scrape of /metrics, to read several values from. */
  scrape(): Promise<MetricsText>;
  /** Stops the relay process but keeps its store and durable subscription (the broker keeps what arrives meanwhile). */
  halt(): Promise<void>;
  /** Starts the relay again on the same store, port and subscription; resolves once it is subscribed. */
  resume(): Promise<void>;
  /** Stops the relay (SIGTERM, graceful) and removes its database and Redis keys. */
  stop(): Promise<void>;
}

/** Options of startBenchRelay. */
export interface BenchRelayOptions {
  broker: { host: string; port: number };
  variant: Variant;
  /** Shared Redis for the redis bus. */
  redisUrl: string;
  /** Extra relay environment. */
  env?: Record<string, string>;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/** Starts a relay for `variant` and waits until it is subscribed to the broker. */
export async function startBenchRelay(options: BenchRelayOptions): Promise<BenchRelay> {
  const { variant } = options;
  const tag = `bench-${randomUUID().slice(0, 8)}`;
  let database: TestDatabase | null = null;
  let sqliteDir: string | null = null;
  let databaseUrl: string;
  if (variant.store === 'postgres') {
    database = await createTestDatabase();
    databaseUrl = database.url;
  } else {
    sqliteDir = mkdtempSync(path.join(os.tmpdir(), 'swf-relay-bench-'));
    databaseUrl = `sqlite:${path.join(sqliteDir, 'relay.db')}`;
  }
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    // Empty = unset: the in-memory bus even if the caller's environment names a Redis.
    REDIS_URL: variant.bus === 'redis' ? options.redisUrl : '',
    SSE_CHANNEL_GROUP: tag,
    ACTIVEMQ_HOST: options.broker.host,
    ACTIVEMQ_PORT: String(options.broker.port),
    // A topic of its own: durable subscriptions of earlier relays of this run never see its messages.
    ACTIVEMQ_HEARTBEAT_TOPIC: tag,
    ACTIVEMQ_CLIENT_ID: tag,
    ACTIVEMQ_SUBSCRIPTION_NAME: tag,
    LOG_LEVEL: 'warn',
    SSE_HEARTBEAT_SECONDS: '30',
    SSE_MAX_CLIENTS: '1000000',
    SSE_MAX_STREAMS_PER_USER: '1000000',
    // All load clients connect from 127.0.0.1: no per-address connect-rate limit.
    SSE_CONNECTS_PER_MINUTE: '0',
    SSE_REPLAY_MAX: '10000000',
    ...options.env,
  };
  // Interrupted runs remove the SQLite file too (a PostgreSQL database needs an async drop: left behind).
  const removeSqlite = () => {
    if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
  };
  process.once('exit', removeSqlite);
  const cleanup = async () => {
    process.removeListener('exit', removeSqlite);
    removeSqlite();
    await database?.drop().catch(() => {});
    if (variant.bus === 'redis') await deleteRedisKeys(options.redisUrl, tag);
  };
  let relay: RelayChild;
  let token: string;
  const nodeArgs = options.nodeArgs ?? [];
  try {
    token = await makeToken(env, 'bench');
    relay = await spawnRelay(env, token, nodeArgs);
    // Every measurement waits on this counter: without it the bench cannot tell when the relay caught up.
    if ((await MetricsText.scrape(relay.url)).value('swf_relay_events_ingested_total') === null) {
      await relay.stop();
      throw new Error('the relay exposes no swf_relay_events_ingested_total on /metrics');
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  const port = String(relay.port);
  return {
    get process() {
      return relay;
    },
    get pid() {
      return relay.pid;
    },
    url: relay.url,
    token,
    destination: `/topic/${tag}`,
    variant,
    metric: async (name) => (await MetricsText.scrape(relay.url)).value(name),
    scrape: () => MetricsText.scrape(relay.url),
    async halt() {
      await relay.stop();
    },
    async resume() {
      relay = await spawnRelay({ ...env, PORT: port }, token, nodeArgs);
    },
    async stop() {
      await relay.stop();
      await cleanup();
    },
  };
}

/** Deletes the keys of one channel group (`{swf-relay:<group>}:*`) from the shared Redis. */
async function deleteRedisKeys(url: string, group: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{swf-relay:${group}}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // best effort: the stream is trimmed and the status keys expire anyway
  } finally {
    redis.disconnect();
  }
}
