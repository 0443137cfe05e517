/**
 * Fanout: K clients all matching every message (filter msg_types=bench_fanout),
 * a ladder of publish rates per K, on each store × bus variant. A ladder stops
 * once a rate is clearly past saturation: higher ones only pile up a backlog.
 */
import { LoadClients } from '../lib/children.js';
import { liveRow, liveStep, waitIngested, type BenchContext } from '../lib/context.js';
import { describeLoopDelay, sampleLoopDelay } from '../lib/loop-delay.js';
import { cpuMicrosPer } from '../lib/proc.js';
import { measureUndisturbed } from '../lib/quiet.js';
import type { Variant } from '../lib/relay.js';

/** One relay variant and the (clients, rates) ladders it runs. */
interface Plan {
  variant: Variant;
  ladders: { clients: number; rates: number[] }[];
}

const MSG_TYPE = 'bench_fanout';
/** Below this delivered fraction, or above this p99, a rate counts as past saturation. */
const SATURATED_DELIVERY = 0.95;
const SATURATED_P99_MS = 5_000;
/** Unmeasured publishing before each ladder. */
const WARM_UP_SECONDS = 2;
/** Streams per load-client process. */
const STREAMS_PER_LOAD_PROCESS = 500;

function plans(quick: boolean): Plan[] {
  if (quick) {
    return [
      { variant: { store: 'sqlite', bus: 'memory' }, ladders: [{ clients: 100, rates: [1000] }, { clients: 1000, rates: [200] }] },
      { variant: { store: 'postgres', bus: 'redis' }, ladders: [{ clients: 1000, rates: [200] }] },
    ];
  }
  const targets = [
    { clients: 100, rates: [1000] },
    { clients: 1000, rates: [200] },
  ];
  return [
    {
      variant: { store: 'sqlite', bus: 'memory' },
      ladders: [
        { clients: 100, rates: [50, 200, 500, 1000, 2000] },
        { clients: 1000, rates: [50, 200, 500, 1000, 2000] },
      ],
    },
    { variant: { store: 'postgres', bus: 'memory' }, ladders: targets },
    { variant: { store: 'sqlite', bus: 'redis' }, ladders: targets },
    { variant: { store: 'postgres', bus: 'redis' }, ladders: targets },
  ];
}

/** The issue-8 and issue-15 fanout targets, where a step is one of them. */
function targetOf(clients: number, rate: number, delivered: number, expected: number, perSecond: number, p99: number | null) {
  if (clients === 1000 && rate === 1000) {
    return { text: '≥ 99 % delivered with p99 ≤ 200 ms (issue 15)', met: delivered >= expected * 0.99 && p99 !== null && p99 <= 200 };
  }
  if (clients === 1000 && rate === 200) {
    return { text: '100 % delivered, p99 ≤ 200 ms, ≥ 200,000 events/s', met: delivered === expected && p99 !== null && p99 <= 200 && perSecond >= 200_000 * 0.98 };
  }
  if (clients === 100 && rate === 1000) return { text: '100 % delivered, p99 ≤ 50 ms', met: delivered === expected && p99 !== null && p99 <= 50 };
  return undefined;
}

/** Runs every fanout plan. */
export async function fanout(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 5 : 10;
  const override = ctx.fanout;
  const chosen = override ? [{ variant: override.variant, ladders: [{ clients: override.clients, rates: override.rates }] }] : plans(ctx.quick);
  for (const plan of chosen) {
    const relay = await ctx.relay(plan.variant);
    let published = 0;
    try {
      for (const ladder of plan.ladders) {
        const clients = await LoadClients.start(Math.ceil(ladder.clients / STREAMS_PER_LOAD_PROCESS));
        try {
          const paths = Array.from({ length: ladder.clients }, () => `/api/messages/stream/?msg_types=${MSG_TYPE}`);
          const opened = await clients.open(relay.url, relay.token, paths);
          ctx.log(`  ${plan.variant.store}+${plan.variant.bus}: ${opened.opened} streams open in ${opened.seconds.toFixed(1)} s`);
          if (opened.opened !== ladder.clients) throw new Error(`only ${opened.opened} of ${ladder.clients} streams opened: ${JSON.stringify(opened.failures)}`);
          // Warm-up, not measured: the first second of a fresh relay (and broker) runs cold code.
          const warm = await liveStep(ctx, relay, clients, { rate: Math.min(ladder.rates[0]!, 200), seconds: WARM_UP_SECONDS, msgType: MSG_TYPE, runIdPrefix: 'fanout', runIdCount: 1, perMessage: ladder.clients });
          published += warm.sent;
          for (const [n, rate] of ladder.rates.entries()) {
            const what = `fanout ${ladder.clients} × ${rate} msg/s`;
            const { result, notes, disturbed } = await measureUndisturbed(ctx, what, async () => {
              const loop = sampleLoopDelay(relay);
              const r = await liveStep(ctx, relay, clients, { rate, seconds, msgType: MSG_TYPE, runIdPrefix: 'fanout', runIdCount: 1, perMessage: ladder.clients });
              const lag = await loop.stop();
              const perEvent = cpuMicrosPer(r.cpu, r.cpu.relay, r.delivered) ?? NaN;
              r.notes.unshift(`${perEvent.toFixed(2)} µs relay CPU per delivered event; ${describeLoopDelay(lag)}`);
              published += r.sent;
              // The next step starts with the relay caught up (a saturated step leaves a broker backlog).
              if (!(await waitIngested(relay, published, 60_000))) r.notes.push('relay still behind the broker 60 s after the step');
              return r;
            });
            const row = liveRow('fanout', relay, ladder.clients, rate, result, notes, disturbed);
            row.target = targetOf(ladder.clients, rate, result.delivered, result.expected, result.perSecond, result.latency.p99);
            const saturated = result.delivered < result.expected * SATURATED_DELIVERY || (result.latency.p99 ?? Infinity) > SATURATED_P99_MS;
            // A saturated step ends the ladder, except before a step that is a target: that one is always measured.
            const targetLater = ladder.rates.slice(n + 1).some((later) => targetOf(ladder.clients, later, 0, 0, 0, null) !== undefined);
            const stop = saturated && !targetLater;
            const skipped = ladder.rates.slice(n + 1);
            if (stop && skipped.length > 0) row.notes.push(`saturated: ${skipped.join(', ')} msg/s not run`);
            ctx.add(row);
            if (stop) break;
          }
        } finally {
          await clients.close();
        }
      }
    } finally {
      await relay.stop();
    }
  }
}
