/**
 * createApp(config): wires store, bus, hub, ingestor, listener and HTTP into
 * one relay process. Nothing runs on import or construction; start() runs it.
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { StompListener } from './broker/stomp.js';
import { createBus, type Bus } from './bus/bus.js';
import type { Config } from './config.js';
import { buildHttpServer } from './http/server.js';
import { Hub } from './hub.js';
import { Ingestor } from './ingest.js';
import { createLogger } from './log.js';
import { createPrometheusMetrics } from './metrics.js';
import { RetentionJob } from './retention.js';
import { encodeControl } from './sse-frame.js';
import { createStore, type Store } from './store/store.js';
import { SubscriberRecorder } from './subscribers.js';

/** A running (or ready to run) relay. */
export interface RelayApp {
  readonly store: Store;
  readonly bus: Bus;
  readonly hub: Hub;
  readonly ingestor: Ingestor;
  readonly listener: StompListener;
  readonly http: FastifyInstance;
  /** Migrates, subscribes, listens; resolves with the HTTP base URL. */
  start(): Promise<string>;
  /** Graceful stop: streams get `shutdown`, unacknowledged messages stay with the broker. */
  stop(): Promise<void>;
}

/** How long stop() lets the ingestor finish what it holds before disconnecting the broker. */
const DRAIN_MS = 3000;
/** Streams are closed at random moments within this window, so clients do not reconnect all at once. */
const SHUTDOWN_SPREAD_MS = 2000;

/** Builds a relay (listener + web in one process) from a validated config. */
export async function createApp(config: Config, options: { log?: Logger } = {}): Promise<RelayApp> {
  const log = options.log ?? createLogger(config.logLevel);
  const processName = `${hostname()}:${process.pid}`;
  const store = await createStore(config.database);
  const bus = await createBus({ redisUrl: config.redisUrl });
  const hub = new Hub();
  // Metrics read the parts' own counters at scrape time (the parts exist by then).
  const metrics = createPrometheusMetrics({ processName, hub, ingest: () => ingestor.counters, broker: () => listener.status() });
  const ingestor = new Ingestor({ store, bus, log, maxBytes: config.messageMaxBytes, metrics });
  const listener = new StompListener(config.broker, log.child({ part: 'broker' }), (m) => ingestor.accept(m));
  const retention = config.retentionDays === undefined ? null : new RetentionJob(store, config.retentionDays, log.child({ part: 'retention' }));
  const subscribers = new SubscriberRecorder(store, log, processName, () => hub.clients());
  const http = buildHttpServer({
    config,
    store,
    hub,
    log,
    subscribers,
    processName,
    ingestor,
    metrics,
    status: {
      broker: () => listener.status(),
      bus: () => ({ kind: bus.kind, state: 'ok' }),
      lastMessageAt: async () => ingestor.lastMessageAt ?? (await store.lastMessageAt()),
    },
  });
  let unsubscribe: (() => void) | undefined;

  return {
    store,
    bus,
    hub,
    ingestor,
    listener,
    http,
    async start() {
      const applied = await store.migrate();
      if (applied.length > 0) log.info({ applied }, 'migrations applied');
      unsubscribe = bus.subscribe((events) => hub.dispatch(events));
      const url = await http.listen({ host: config.http.host, port: config.http.port });
      hub.startHeartbeats(config.sse.heartbeatSeconds);
      subscribers.start();
      retention?.start();
      listener.start();
      log.info({ url, store: store.dialect, bus: bus.kind, destination: config.broker.destination }, 'swf-relay started');
      return url;
    },
    async stop() {
      hub.closing = true;
      await Promise.race([ingestor.idle(), new Promise((r) => setTimeout(r, DRAIN_MS))]);
      await listener.stop();
      await ingestor.stop();
      hub.stopHeartbeats();
      await hub.closeAll(encodeControl('shutdown', { reason: 'server shutdown' }), SHUTDOWN_SPREAD_MS);
      await subscribers.stop();
      await retention?.stop();
      await http.close();
      unsubscribe?.();
      await bus.close();
      await store.close();
      log.info('swf-relay stopped');
    },
  };
}
