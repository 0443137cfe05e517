/**
 * The Prometheus adapter: exposes the parts' own counters and state (ingestor,
 * hub, listener, readiness), read at scrape time so the hot path pays nothing
 * for them, and the latency histograms the parts observe through the Metrics
 * interface.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BrokerStatus } from '../broker/stomp.js';
import type { Hub } from '../hub/hub.js';
import type { Readiness } from '../http/ops.js';
import type { Ingestor } from '../ingest/ingestor.js';
import type { Metrics } from '../metrics.js';

/** Live sources read at scrape time; null where this process does not run that part. */
export interface MetricSources {
  readonly processName: string;
  readonly hub: Hub;
  readonly ingest: (() => Pick<Ingestor, 'counters' | 'oldestPendingAt'>) | null;
  readonly broker: (() => BrokerStatus) | null;
  /** The checks /readyz runs (the same function), so alerts see what a load balancer sees. */
  readonly readiness: () => Promise<Pick<Readiness, 'checks'>>;
}

/** Latency buckets in seconds: 1 ms to 30 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30];

/** Creates the Prometheus metrics of one relay process, in a registry of its own. */
export function createPrometheusMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ process: sources.processName });
  collectDefaultMetrics({ register: registry });
  const { hub, ingest, broker, readiness } = sources;

  /** A counter whose value is read from `read()` at scrape time. */
  const readCounter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });

  new Gauge({ name: 'swf_relay_clients_connected', help: 'SSE clients connected to this process', registers: [registry], collect() { this.set(hub.size); } });
  readCounter('swf_relay_events_relayed_total', 'Events handed to this process for fanout', () => hub.counters.relayed);
  readCounter('swf_relay_events_delivered_total', 'Events written to client sockets (live and replayed)', () => hub.totals().sent);
  readCounter('swf_relay_events_dropped_total', 'Events dropped from full client queues (slow clients)', () => hub.totals().dropped);
  new Gauge({
    name: 'swf_relay_bus_lag_seconds',
    help: 'Broker receipt to fanout of the last event this process handled',
    registers: [registry],
    collect() {
      this.set(hub.counters.lastLagMs / 1000);
    },
  });
  new Gauge({
    name: 'swf_relay_ready',
    help: '1 while this /readyz check passes, else 0 (django is informational: it never fails /readyz)',
    labelNames: ['check'],
    registers: [registry],
    async collect() {
      const { checks } = await readiness();
      this.reset();
      for (const [check, result] of Object.entries(checks)) this.labels({ check }).set(result === 'ok' ? 1 : 0);
    },
  });
  const replays = new Counter({ name: 'swf_relay_replays_total', help: 'Replays served to reconnecting clients', registers: [registry] });
  const replayed = new Counter({ name: 'swf_relay_replayed_events_total', help: 'Stored events sent by replays', registers: [registry] });
  const commit = new Histogram({ name: 'swf_relay_store_commit_seconds', help: 'Duration of one ingestion commit (a batch)', buckets: LATENCY_BUCKETS, registers: [registry] });
  const delivery = new Histogram({
    name: 'swf_relay_delivery_latency_seconds',
    help: 'Broker receipt to write on a client socket (per socket write, oldest event in it)',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  if (ingest) {
    const counters = () => ingest().counters;
    readCounter('swf_relay_messages_received_total', 'Bodies received from the broker (and HTTP publish)', () => counters().received);
    readCounter('swf_relay_events_ingested_total', 'Workflow messages stored', () => counters().stored);
    readCounter('swf_relay_duplicates_total', 'Redelivered messages recognised by message-id and skipped', () => counters().duplicates);
    readCounter('swf_relay_agent_heartbeats_total', 'Agent heartbeats received', () => counters().heartbeats);
    readCounter('swf_relay_store_commit_failures_total', 'Failed ingestion commits (retried)', () => counters().commitFailures);
    readCounter('swf_relay_ingest_fenced_total', 'Batches the store refused because another listener claimed it since (left to the broker)', () => counters().fenced);
    new Gauge({
      name: 'swf_relay_ingest_oldest_pending_seconds',
      help: 'Age of the oldest received message not yet committed and acknowledged; 0 when none waits',
      registers: [registry],
      collect() {
        const at = ingest().oldestPendingAt();
        this.set(at === null ? 0 : Math.max(0, (Date.now() - at) / 1000));
      },
    });
    new Counter({
      name: 'swf_relay_messages_rejected_total',
      help: 'Bodies kept in the rejected store, by reason',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(counters().rejected)) this.labels({ reason }).inc(count ?? 0);
      },
    });
  }
  if (broker) {
    new Gauge({ name: 'swf_relay_broker_connected', help: '1 while subscribed to the broker', registers: [registry], collect() { this.set(broker().state === 'connected' ? 1 : 0); } });
    readCounter('swf_relay_broker_reconnects_total', 'Broker reconnections after a lost connection', () => broker().reconnects);
  }

  return {
    observeCommit: (seconds) => commit.observe(seconds),
    observeDelivery: (seconds) => delivery.observe(seconds),
    replayServed(events) {
      replays.inc();
      replayed.inc(events);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
