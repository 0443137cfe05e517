/**
 * createApp(config, role): wires store, bus, hub, ingestor, listener and HTTP
 * into one relay process. `all` runs listener and web (swf-relay start),
 * `listener` only ingests (swf-relay listen), `web` only serves clients
 * (swf-relay serve). Nothing runs on import or construction; start() runs it.
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ListenerLease } from '../cluster/lease.js';
import { StompListener } from '../broker/stomp.js';
import { createBus, type Bus } from '../bus/bus.js';
import { PublishForwarder, PublishServer } from '../cluster/publish-rpc.js';
import { redisKeys, type RedisBus } from '../bus/redis.js';
import { ClusterRegistry, type ProcessSnapshot } from '../cluster/registry.js';
import type { Config } from '../config.js';
import { workflowEvent } from '../model/event.js';
import { buildHttpServer } from '../http/server.js';
import { clientRecords } from '../http/status.js';
import { Hub } from '../hub/hub.js';
import { Ingestor } from '../ingest/ingestor.js';
import { createLogger } from '../log.js';
import { createPrometheusMetrics } from '../metrics.js';
import { RetentionJob } from '../store/retention.js';
import { encodeControl } from '../hub/sse-frame.js';
import { createStore, type Store } from '../store/store.js';
import { SubscriberRecorder } from '../hub/subscribers.js';

/** Which parts a process runs. */
export type Role = 'all' | 'listener' | 'web';

/** A running (or ready to run) relay process. */
export interface RelayApp {
  readonly role: Role;
  readonly store: Store;
  readonly bus: Bus;
  readonly hub: Hub;
  readonly ingestor: Ingestor | null;
  readonly listener: StompListener | null;
  readonly http: FastifyInstance | null;
  /** Migrates, subscribes, listens; resolves with the HTTP base URL (empty for a listener). */
  start(): Promise<string>;
  /** Graceful stop: streams get `shutdown`, unacknowledged messages stay with the broker. */
  stop(): Promise<void>;
}

/** Most stored events one stream-gap backfill reads (a longer outage leaves the rest to clients' replay). */
const BACKFILL_MAX = 100_000;
/** How long stop() lets the ingestor finish what it holds before disconnecting the broker. */
const DRAIN_MS = 3000;
/** Streams are closed at random moments within this window, so clients do not reconnect all at once. */
const SHUTDOWN_SPREAD_MS = 2000;

/** Builds a relay process from a validated config. */
export async function createApp(config: Config, options: { log?: Logger; role?: Role } = {}): Promise<RelayApp> {
  const role = options.role ?? 'all';
  const runsListener = role !== 'web';
  const runsWeb = role !== 'listener';
  const log = options.log ?? createLogger(config.logLevel);
  const processName = `${hostname()}:${process.pid}`;
  const store = await createStore(config.database);
  const bus = await createBus({
    redisUrl: config.redisUrl,
    group: config.channelGroup,
    processName,
    log: log.child({ part: 'bus' }),
    // Fills what a trimmed stream lost: the store has every event the bus carried. At most the
    // ids strictly between the two can exist, so a mere hole in the id sequence reads nothing extra.
    backfill: async (afterId, beforeId) => {
      const between = Number(BigInt(beforeId) - BigInt(afterId) - 1n);
      if (between <= 0) return [];
      const rows = await store.messagesAfter(afterId, Math.min(between, BACKFILL_MAX));
      return rows.filter((m) => BigInt(m.id) < BigInt(beforeId)).map((m) => workflowEvent(m.id, m.fields, m.content, 0));
    },
  });
  const redisBus = bus.kind === 'redis' ? (bus as RedisBus) : null;
  const redis = redisBus?.redis ?? null;
  const keys = redisKeys(config.channelGroup);
  const hub = new Hub();
  // Metrics read the parts' own counters at scrape time (the parts exist by then).
  const metrics = createPrometheusMetrics({
    processName,
    hub,
    ingest: runsListener ? () => ingestor!.counters : null,
    broker: runsListener ? () => listener!.status() : null,
  });
  const ingestor = runsListener ? new Ingestor({ store, bus, log, maxBytes: config.messageMaxBytes, metrics }) : null;
  const listener = ingestor ? new StompListener(config.broker, log.child({ part: 'broker' }), (m) => ingestor.accept(m)) : null;
  const lease = listener && redis ? new ListenerLease(redis, keys.lease, processName, log.child({ part: 'lease' })) : null;
  const retention = runsListener && config.retentionDays !== undefined ? new RetentionJob(store, config.retentionDays, log.child({ part: 'retention' })) : null;
  const subscribers = new SubscriberRecorder(store, log, processName, () => hub.clients());
  const snapshot = (): ProcessSnapshot => ({
    process: processName,
    role,
    at: new Date().toISOString(),
    clients: clientRecords(hub, processName),
    broker: listener?.status() ?? null,
  });
  // HTTP publish reaches the one writer: here, or (web-only) the lease holder through Redis.
  const forwarder = redisBus && runsWeb ? new PublishForwarder(redisBus.redis, redisBus.openConnection('publish-replies'), { requests: keys.publishRequests, replies: keys.publishReplies(processName) }, processName) : null;
  const publishServer =
    redisBus && ingestor ? new PublishServer(redisBus.redis, redisBus.openConnection('publish-requests', true), keys.publishRequests, (body, who) => ingestor.submit(body, who), log) : null;
  const registry = redis ? new ClusterRegistry(redis, keys, processName, snapshot, () => hub.userCounts(), log) : null;
  const http = runsWeb
    ? buildHttpServer({
        config,
        store,
        hub,
        log,
        subscribers,
        processName,
        // Only the lease holder writes; a standby (or web-only) process forwards to it.
        publish:
          ingestor || forwarder
            ? (body, who) => (ingestor && (!lease || lease.held) ? ingestor.submit(body, who) : forwarder!.forward(body, who))
            : null,
        metrics,
        remoteStreamsOf: (username) => registry?.remoteStreamsOf(username) ?? 0,
        status: {
          broker: () => listener?.status() ?? null,
          bus: () => ({ kind: bus.kind, ...(bus.health?.() ?? { state: 'ok' }) }),
          lastMessageAt: async () => ingestor?.lastMessageAt ?? (await store.lastMessageAt()),
          processes: async () => (registry ? registry.all() : [snapshot()]),
        },
      })
    : null;
  let unsubscribe: (() => void) | undefined;

  /** Consumes while holding the lease (if any); on losing it, stops and waits to win it again. */
  const runListener = async () => {
    if (!listener) return;
    if (lease && !(await lease.acquire())) return;
    listener.start();
    publishServer?.start();
    lease?.keep(() => {
      void Promise.all([listener.pause(), publishServer?.stop()]).then(() => runListener());
    });
  };

  return {
    role,
    store,
    bus,
    hub,
    ingestor,
    listener,
    http,
    async start() {
      const applied = await store.migrate();
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      let url = '';
      if (http) {
        unsubscribe = bus.subscribe((events) => hub.dispatch(events));
        url = await http.listen({ host: config.http.host, port: config.http.port });
        hub.startHeartbeats(config.sse.heartbeatSeconds);
        subscribers.start();
      }
      registry?.start();
      retention?.start();
      if (listener) {
        if (lease) listener.standby();
        void runListener();
      }
      log.info({ url, role, store: store.dialect, bus: bus.kind, destination: config.broker.destination }, 'swf-relay started');
      return url;
    },
    async stop() {
      hub.closing = true;
      if (ingestor) await Promise.race([ingestor.idle(), new Promise((r) => setTimeout(r, DRAIN_MS))]);
      await listener?.stop();
      await publishServer?.stop();
      await ingestor?.stop();
      await lease?.release();
      hub.stopHeartbeats();
      await hub.closeAll(encodeControl('shutdown', { reason: 'server shutdown' }), SHUTDOWN_SPREAD_MS);
      await subscribers.stop();
      await retention?.stop();
      await registry?.stop();
      await http?.close();
      unsubscribe?.();
      await forwarder?.close();
      await bus.close();
      await store.close();
      log.info('swf-relay stopped');
    },
  };
}
