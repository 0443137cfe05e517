/**
 * createApp(config, role): wires the stages of one relay process — broker →
 * ingest → store → bus → hub → http — and the cluster parts beside them.
 * Wiring only: every decision lives in the part it belongs to. `all` runs
 * listener and web (swf-relay start), `listener` only ingests (swf-relay
 * listen), `web` only serves clients (swf-relay serve). Nothing runs on
 * import or construction; start() runs it.
 */
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createDjangoAuth } from '../auth/django.js';
import { StompListener } from '../broker/stomp.js';
import type { Bus } from '../bus/bus.js';
import { openBus } from '../bus/index.js';
import { ListenerLease } from '../cluster/lease.js';
import { PublishForwarder, PublishServer, publishRoute, type Publish } from '../cluster/publish-rpc.js';
import { createRedisConnections, redisKeys } from '../cluster/redis.js';
import { ClusterRegistry, type ProcessSnapshot } from '../cluster/registry.js';
import type { Config } from '../config.js';
import type { StatusSources } from '../http/deps.js';
import { checkReadiness } from '../http/ops.js';
import { buildHttpServer } from '../http/server.js';
import { clientRecords } from '../hub/client-records.js';
import { CredentialWatch } from '../hub/credential-watch.js';
import { Hub } from '../hub/hub.js';
import { encodeControl } from '../hub/sse-frame.js';
import { SubscriberRecorder } from '../hub/subscribers.js';
import { Ingestor } from '../ingest/ingestor.js';
import { createLogger } from '../log.js';
import { storeBackfill } from '../store/backfill.js';
import { openStore } from '../store/index.js';
import { RetentionJob } from '../store/retention.js';
import type { Store } from '../store/store.js';
import { createPrometheusMetrics } from './prometheus.js';

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

  // (3) store and (4) bus; Redis, when configured, also carries the cluster parts.
  const store = await openStore(config.database);
  const redis = config.redisUrl !== undefined ? createRedisConnections(config.redisUrl, processName) : null;
  const keys = redisKeys(config.channelGroup);
  const bus = await openBus({ redis, stream: keys.stream, log: log.child({ part: 'bus' }), backfill: storeBackfill(store) });
  // (5) the hub; metrics read the parts' own state at scrape time (the parts exist by then).
  const hub = new Hub();
  const metrics = createPrometheusMetrics({
    processName,
    hub,
    ingest: runsListener ? () => ingestor! : null,
    broker: runsListener ? () => listener!.status() : null,
    readiness: () => checkReadiness({ store, status, django }),
  });
  // (1) broker → (2) ingest: the one writer, run only while holding the lease when there is one.
  const ingestor = runsListener
    ? new Ingestor({ store, bus, log, maxBytes: config.messageMaxBytes, metrics, commitIntervalMs: config.ingestCommitIntervalMs, onStale: () => lease?.surrender() })
    : null;
  const listener = ingestor ? new StompListener(config.broker, log.child({ part: 'broker' }), ingestor) : null;
  const lease = listener && redis ? new ListenerLease(redis.commands, keys.lease, processName, log.child({ part: 'lease' }), () => store.claimWriter()) : null;
  const retention = runsListener
    ? new RetentionJob(store, { messageDays: config.retentionDays, subscriberDays: config.subscribersRetentionDays }, log.child({ part: 'retention' }))
    : null;
  const subscribers = new SubscriberRecorder(store, log, processName, () => hub.clients());
  // Revocation reaches open streams through the shared store, in every web process.
  const credentialWatch = runsWeb ? new CredentialWatch(hub, store, log.child({ part: 'credentials' })) : null;
  const snapshot = (): ProcessSnapshot => ({
    process: processName,
    role,
    at: new Date().toISOString(),
    clients: clientRecords(hub, processName),
    broker: listener?.status() ?? null,
  });
  const forwarder =
    redis && runsWeb ? new PublishForwarder(redis.commands, redis.open('publish-replies'), { requests: keys.publishRequests, replies: keys.publishReplies(processName) }, processName) : null;
  const submit: Publish | null = ingestor ? (body, who, messageId) => ingestor.submit(body, who, messageId) : null;
  const publishServer = redis && submit ? new PublishServer(redis.commands, redis.open('publish-requests', true), keys.publishRequests, submit, log) : null;
  const registry = redis ? new ClusterRegistry(redis.commands, keys, processName, snapshot, () => hub.userCounts(), log) : null;
  // (6) http, with swf-monitor's credentials beside the relay's own when configured
  const django = runsWeb && config.django ? createDjangoAuth(config.django, log.child({ part: 'django' })) : null;
  const status: StatusSources = {
    broker: () => listener?.status() ?? null,
    bus: () => ({ kind: bus.kind, ...(bus.health?.() ?? { state: 'ok' }) }),
    lastMessageAt: async () => ingestor?.lastMessageAt ?? (await store.lastMessageAt()),
    processes: async () => (registry ? registry.all() : [snapshot()]),
  };
  const http = runsWeb
    ? buildHttpServer({
        config,
        store,
        hub,
        log,
        subscribers,
        processName,
        publish: publishRoute(submit, lease ? () => lease.held : null, forwarder),
        metrics,
        remoteStreamsOf: (username) => registry?.remoteStreamsOf(username) ?? 0,
        django,
        status,
      })
    : null;
  /** The listener and the publish server run together: both are the one writer's intake. */
  const intake = listener && {
    start(epoch?: number) {
      if (epoch !== undefined) ingestor!.fenceWith(epoch);
      listener.start();
      publishServer?.start();
    },
    async pause() {
      await Promise.all([listener.pause(), publishServer?.stop()]);
      // What the ingestor still holds was read under the lost lease: it finishes under that claim
      // (or is fenced) before this process claims the store again. Else the new claim would refuse
      // it, and the broker would redeliver it behind messages stored meanwhile: out of order.
      await ingestor!.idle();
    },
  };
  let unfollow: (() => void) | undefined;

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
        unfollow = hub.follow(bus);
        url = await http.listen({ host: config.http.host, port: config.http.port });
        hub.startHeartbeats(config.sse.heartbeatSeconds);
        subscribers.start();
        credentialWatch?.start();
        void django?.start();
      }
      registry?.start();
      retention?.start();
      if (intake) {
        if (lease) {
          listener!.standby();
          void lease.hold(intake);
        } else intake.start();
      }
      log.info({ url, role, store: store.dialect, bus: bus.kind, destination: config.broker.destination, basePath: config.basePath || undefined }, 'swf-relay started');
      return url;
    },
    async stop() {
      hub.closing = true;
      if (ingestor) await Promise.race([ingestor.idle(), delay(DRAIN_MS)]);
      await listener?.stop();
      await publishServer?.stop();
      await ingestor?.stop();
      await lease?.release();
      hub.stopHeartbeats();
      credentialWatch?.stop();
      await hub.closeAll(encodeControl('shutdown', { reason: 'server shutdown' }), SHUTDOWN_SPREAD_MS);
      await subscribers.stop();
      await retention?.stop();
      await registry?.stop();
      await http?.close();
      await django?.close();
      unfollow?.();
      await forwarder?.close();
      await bus.close();
      redis?.close();
      await store.close();
      log.info('swf-relay stopped');
    },
  };
}
