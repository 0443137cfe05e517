/**
 * Filtered fanout: N clients, each filtering its own run_id; 1,000 msg/s
 * spread round-robin over those run_ids, so each message matches exactly one
 * client. Measured twice on the same relay: first with no client connected
 * (the cost of ingesting alone), then with the N clients — the difference is
 * what the clients cost, and it must not grow with the clients a message
 * does not match.
 */
import { LoadClients } from '../lib/children.js';
import { liveRow, liveStep, waitIngested, type BenchContext } from '../lib/context.js';
import { measureUndisturbed } from '../lib/quiet.js';

const MSG_TYPE = 'bench_filtered';
const RATE = 1000;
const STREAMS_PER_LOAD_PROCESS = 2500;

/** The baseline step, then N clients (10,000; --quick 2,000) each on its own run_id, on SQLite + in-memory bus. */
export async function filtered(ctx: BenchContext): Promise<void> {
  const count = ctx.quick ? 2000 : 10_000;
  const seconds = ctx.quick ? 5 : 10;
  const relay = await ctx.relay({ store: 'sqlite', bus: 'memory' });
  let published = 0;
  const step = (clients: LoadClients, perMessage: number) =>
    liveStep(ctx, relay, clients, { rate: RATE, seconds, msgType: MSG_TYPE, runIdPrefix: 'f', runIdCount: count, perMessage }).then(async (r) => {
      published += r.sent;
      if (!(await waitIngested(relay, published, 60_000))) r.notes.push('relay still behind the broker 60 s after the step');
      return r;
    });
  try {
    const baseline = await LoadClients.start(1);
    try {
      const { result, notes, disturbed } = await measureUndisturbed(ctx, 'filtered baseline', () => step(baseline, 0));
      ctx.add({ ...liveRow('filtered', relay, 0, RATE, result, ['baseline: no client connected (ingest cost alone)', ...notes], disturbed), expected: undefined, delivered: undefined, perSecond: undefined });
    } finally {
      await baseline.close();
    }
    const clients = await LoadClients.start(Math.ceil(count / STREAMS_PER_LOAD_PROCESS));
    try {
      const paths = Array.from({ length: count }, (_, i) => `/api/messages/stream/?run_ids=f${i}`);
      const opened = await clients.open(relay.url, relay.token, paths, { concurrency: 50 });
      const connectNote = `${opened.opened} streams opened in ${opened.seconds.toFixed(1)} s (${Math.round(opened.opened / opened.seconds)}/s)`;
      ctx.log(`  ${connectNote}`);
      if (opened.opened !== count) throw new Error(`only ${opened.opened} of ${count} streams opened: ${JSON.stringify(opened.failures)}`);
      const { result, notes, disturbed } = await measureUndisturbed(ctx, `filtered ${count}`, () => step(clients, 1));
      const row = liveRow('filtered', relay, count, RATE, result, [`each client filters its own run_id; ${connectNote}`, ...notes], disturbed);
      if (count === 10_000) row.target = { text: '10,000 clients × own run_id, 1,000 msg/s, p99 ≤ 50 ms', met: result.delivered === result.expected && (result.latency.p99 ?? Infinity) <= 50 };
      ctx.add(row);
    } finally {
      await clients.close();
    }
  } finally {
    await relay.stop();
  }
}
