/**
 * The relay's event-loop delay over a step, from prom-client's
 * `nodejs_eventloop_lag_p99_seconds` (monitorEventLoopDelay). prom-client resets
 * that histogram at every scrape, so this scrapes once a second and keeps each
 * second's p99. Its timer fires every 10 ms and records the time between two
 * firings, so an idle loop reads ~10 ms: the delay is that value less 10 ms.
 * Beside it, the time the relay's main thread spent runnable but waiting for
 * a core (/proc/<pid>/task/<pid>/schedstat): on shared cores part of the delay
 * is that wait, not the relay's own work.
 */
import { readFileSync } from 'node:fs';
import { sleep } from './context.js';
import type { BenchRelay } from './relay.js';

/** prom-client's eventLoopMonitoringPrecision (its default, which the relay keeps), ms. */
const RESOLUTION_MS = 10;

/** What a sampler saw: per-second p99 of the event-loop delay, ms (resolution subtracted). */
export interface LoopDelay {
  /** Median over the seconds of the step. */
  medianP99Ms: number;
  /** The worst second. */
  worstP99Ms: number;
  seconds: number;
  /** Main thread runnable but not running (waiting for a core), ms per second of the step; null where /proc has no schedstat. */
  runQueueWaitMsPerS: number | null;
}

/** The note a row carries. */
export const describeLoopDelay = (lag: LoopDelay) =>
  `event-loop delay p99 per second: median ${lag.medianP99Ms.toFixed(1)} ms, worst ${lag.worstP99Ms.toFixed(1)} ms` +
  (lag.runQueueWaitMsPerS === null ? '' : `; main thread waited for a core ${lag.runQueueWaitMsPerS.toFixed(0)} ms/s`);

/** Nanoseconds a thread has spent runnable, waiting for a core (second field of schedstat), or null. */
function runQueueWaitNs(pid: number): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return null;
  }
}

/** Samples until stop() resolves with the summary. */
export function sampleLoopDelay(relay: BenchRelay): { stop(): Promise<LoopDelay> } {
  const p99s: number[] = [];
  let running = true;
  const waitBefore = runQueueWaitNs(relay.pid);
  const startedAt = performance.now();
  const loop = (async () => {
    await relay.scrape(); // start a fresh window
    while (running) {
      await sleep(1000);
      const p99 = (await relay.scrape()).value('nodejs_eventloop_lag_p99_seconds');
      if (p99 !== null && p99 > 0) p99s.push(Math.max(0, p99 * 1000 - RESOLUTION_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const waitAfter = runQueueWaitNs(relay.pid);
      const seconds = (performance.now() - startedAt) / 1000;
      const runQueueWaitMsPerS = waitBefore === null || waitAfter === null ? null : (waitAfter - waitBefore) / 1e6 / seconds;
      const sorted = [...p99s].sort((a, b) => a - b);
      return { medianP99Ms: sorted[Math.floor(sorted.length / 2)] ?? NaN, worstP99Ms: sorted.at(-1) ?? NaN, seconds: sorted.length, runQueueWaitMsPerS };
    },
  };
}
