/**
 * What the relay says about a step, from two /metrics scrapes (before and
 * after): its ingestion commits (how many, how big, how long) and its own
 * broker-receipt → socket-write delay. Told apart from the end-to-end figures,
 * they show which side of the relay a latency comes from.
 */
import type { MetricsText } from './metrics-text.js';

const COMMITS = 'swf_relay_store_commit_seconds';
const WRITES = 'swf_relay_delivery_latency_seconds';

/** The bucket bound (ms) below which `q` of the observations between two cumulative snapshots fall; null when none. */
function bucketQuantile(before: Map<number, number>, after: Map<number, number>, q: number): number | null {
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const b of [...after.keys()].sort((x, y) => x - y)) if ((after.get(b) ?? 0) - (before.get(b) ?? 0) >= q * total) return b * 1000;
  return null;
}

/** Notes on the relay's commits and write delays between two scrapes, for `messages` messages published meanwhile. */
export function relayNotes(before: MetricsText, after: MetricsText, messages: number): string[] {
  const delta = (name: string) => (after.value(name) ?? 0) - (before.value(name) ?? 0);
  const notes: string[] = [];
  const commits = delta(`${COMMITS}_count`);
  if (commits > 0) notes.push(`relay: ${commits} store commits of ${(messages / commits).toFixed(1)} msg, mean ${((1000 * delta(`${COMMITS}_sum`)) / commits).toFixed(1)} ms`);
  const writes = delta(`${WRITES}_count`);
  if (writes > 0) {
    const p99 = bucketQuantile(before.buckets(WRITES), after.buckets(WRITES), 0.99);
    const p99Text = p99 === null ? '?' : p99 === Infinity ? '> 30 s' : `${p99} ms`;
    notes.push(`relay broker-receipt → socket-write mean ${((1000 * delta(`${WRITES}_sum`)) / writes).toFixed(1)} ms, p99 ≤ ${p99Text} (per socket write)`);
  }
  return notes;
}
