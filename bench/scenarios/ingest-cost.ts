/**
 * The relay's CPU per live message before fanout: 1,000 non-persistent msg/s with
 * one connected client whose filter matches nothing, on SQLite and on PostgreSQL
 * (in-memory bus). Reports µs of relay CPU per message (all its threads: the
 * kernel's per-process accounting) and the event loop's delay p99 over the step.
 * The measured step follows a warm-up step of the same load: a relay that has run
 * for a while has its per-message path optimised by V8, and that steady state is
 * what the target is about (a fresh process spends its first seconds in V8's
 * interpreter and compilers, ~15-25 % more CPU per message here).
 */
import { LoadClients } from '../lib/children.js';
import { liveRow, liveStep, waitIngested, type BenchContext } from '../lib/context.js';
import { describeLoopDelay, sampleLoopDelay } from '../lib/loop-delay.js';
import { measureUndisturbed } from '../lib/quiet.js';
import { cpuMicrosPer, cpuSplit } from '../lib/proc.js';
import type { Variant } from '../lib/relay.js';

const RATE = 1000;
/** The issue-15 target, µs of relay CPU per message. */
const TARGET_US = 60;

export async function ingestCost(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 5 : 10;
  const variants: Variant[] = [{ store: 'sqlite', bus: 'memory' }, { store: 'postgres', bus: 'memory' }];
  for (const variant of variants) {
    const relay = await ctx.relay(variant);
    try {
      const clients = await LoadClients.start(1);
      try {
        const opened = await clients.open(relay.url, relay.token, ['/api/messages/stream/?msg_types=bench_matches_nothing']);
        if (opened.opened !== 1) throw new Error(`the idle client did not connect: ${JSON.stringify(opened.failures)}`);
        let published = 0;
        const warm = await liveStep(ctx, relay, clients, { rate: RATE, seconds, msgType: 'bench_ingest_cost', runIdPrefix: 'w', runIdCount: 100, perMessage: 0 });
        published += warm.sent;
        await waitIngested(relay, published, 60_000);
        const warmUs = cpuMicrosPer(warm.cpu, warm.cpu.relay, warm.sent);
        const { result, notes, disturbed } = await measureUndisturbed(ctx, `ingest cost ${variant.store}`, async () => {
          const before = cpuSplit(relay.pid);
          const loop = sampleLoopDelay(relay);
          const r = await liveStep(ctx, relay, clients, { rate: RATE, seconds, msgType: 'bench_ingest_cost', runIdPrefix: 'c', runIdCount: 100, perMessage: 0 });
          const after = cpuSplit(relay.pid);
          const lag = await loop.stop();
          // Ticks are 10 ms: per message, µs = ticks × 10,000 / messages.
          if (before && after && r.sent > 0) {
            const per = (ticks: number) => ((ticks * 10_000) / r.sent).toFixed(0);
            r.notes.unshift(`of which user ${per(after.user - before.user)} µs, kernel ${per(after.system - before.system)} µs`);
          }
          published += r.sent;
          if (!(await waitIngested(relay, published, 60_000))) r.notes.push('relay still behind the broker 60 s after the step');
          const us = cpuMicrosPer(r.cpu, r.cpu.relay, r.sent) ?? 0;
          r.notes.unshift(`${us.toFixed(0)} µs relay CPU per message; ${describeLoopDelay(lag)}`);
          return { ...r, us };
        });
        const warmNote = `after a ${seconds} s warm-up at the same rate (${warmUs === null ? '?' : warmUs.toFixed(0)} µs per message during it)`;
        const row = liveRow('ingest cost', relay, 1, RATE, result, ['one client connected, its filter matches nothing', warmNote, ...notes], disturbed);
        row.target = { text: `≤ ${TARGET_US} µs relay CPU per message at 1,000 msg/s`, met: result.us <= TARGET_US };
        ctx.add({ ...row, expected: undefined, delivered: undefined, perSecond: undefined });
      } finally {
        await clients.close();
      }
    } finally {
      await relay.stop();
    }
  }
}
