/**
 * Metrics: the small interface the hot path calls to observe latencies.
 * Counters the parts already keep (ingestor, hub, listener) are not pushed
 * here: the Prometheus adapter (app/prometheus.ts) reads them at scrape time.
 * This file imports nothing, so loading a part never loads prom-client.
 */

/** What the relay reports while it runs. */
export interface Metrics {
  /** A store commit of `messages` messages took `seconds`. */
  observeCommit(seconds: number): void;
  /** Events written to a client socket `seconds` after the broker delivered the oldest of them. */
  observeDelivery(seconds: number): void;
  /** A replay sent `events` stored events to a reconnecting client. */
  replayServed(events: number): void;
  /** Prometheus exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** Metrics that record nothing (unit tests, tools). */
export const noopMetrics: Metrics = {
  observeCommit() {},
  observeDelivery() {},
  replayServed() {},
  async render() {
    return { contentType: 'text/plain', body: '' };
  },
};
