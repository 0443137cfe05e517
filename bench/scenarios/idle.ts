/**
 * Idle capacity: open idle streams in batches up to the relay's open-file
 * limit minus a margin (quick: 2,000), sampling the relay's RSS after each
 * batch; then hold them (long enough for one heartbeat round in the full run)
 * and measure the relay's CPU while nothing is published.
 */
import { LoadClients } from '../lib/children.js';
import type { BenchRelay } from '../lib/relay.js';
import { sleep, type BenchContext } from '../lib/context.js';
import { waitQuiet } from '../lib/quiet.js';
import { CpuMeter, openFds, openFileLimit, rssKb } from '../lib/proc.js';

/** File descriptors left unused below the limit (store, broker, Redis, listen socket, slack). */
const FD_MARGIN = 500;
const STREAMS_PER_LOAD_PROCESS = 10_000;

/** One sample of the relay while streams are being opened. */
interface Sample {
  streams: number;
  rssKb: number;
  fds: number;
}

/** Opens idle streams `batch` at a time until `target` (or a batch falls short), sampling the relay after each batch. */
async function openInBatches(relay: BenchRelay, clients: LoadClients, target: number, batch: number, series: Sample[]) {
  const failures: Record<string, number> = {};
  let open = 0;
  let seconds = 0;
  while (open < target) {
    const n = Math.min(batch, target - open);
    const paths = Array.from({ length: n }, (_, i) => `/api/messages/stream/?run_ids=idle-${open + i}`);
    const r = await clients.open(relay.url, relay.token, paths, { concurrency: 50 });
    open += r.opened;
    seconds += r.seconds;
    for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
    await sleep(200);
    series.push({ streams: open, rssKb: rssKb(relay.pid)!, fds: openFds(relay.pid) });
    if (r.opened < n) break;
  }
  return { open, perSecond: Math.round(open / seconds), failures };
}

/** Holds the streams for `seconds` with nothing published: relay CPU, and its largest RSS. */
async function hold(ctx: BenchContext, relay: BenchRelay, clients: LoadClients, seconds: number, rssStartKb: number) {
  const meter = new CpuMeter({ relay: [relay.pid], load: [...clients.pids, process.pid], broker: ctx.brokerPid ? [ctx.brokerPid] : [] });
  await clients.reset();
  let maxRss = rssStartKb;
  for (let waited = 0; waited < seconds * 1000; waited += 500) {
    await sleep(500);
    maxRss = Math.max(maxRss, rssKb(relay.pid)!);
  }
  return { cpu: meter.stop(), maxRss, report: await clients.report(), rssEnd: rssKb(relay.pid)! };
}

/** Opens idle streams up to the open-file limit (--quick: 2,000), holds them, and adds one row. */
export async function idle(ctx: BenchContext): Promise<void> {
  const relay = await ctx.relay({ store: 'sqlite', bus: 'memory' });
  try {
    await sleep(1000); // let start-up garbage settle
    await waitQuiet(ctx);
    const limit = openFileLimit(relay.pid);
    const fds0 = openFds(relay.pid);
    const target = ctx.quick ? 2000 : Math.floor((limit - fds0 - FD_MARGIN) / 500) * 500;
    // Full run: hold past one SSE_HEARTBEAT_SECONDS (30 s) round, so the idle CPU includes heartbeats.
    const holdSeconds = ctx.quick ? 5 : 31;
    const rss0 = rssKb(relay.pid)!;
    ctx.log(`  relay open-file limit ${limit}, ${fds0} fds in use, target ${target} streams, RSS ${Math.round(rss0 / 1024)} MB`);
    const clients = await LoadClients.start(Math.ceil(target / STREAMS_PER_LOAD_PROCESS));
    const series: Sample[] = [{ streams: 0, rssKb: rss0, fds: fds0 }];
    try {
      const { open, perSecond, failures } = await openInBatches(relay, clients, target, ctx.quick ? 500 : 1000, series);
      const peak = series.at(-1)!;
      ctx.log(`  ${open} idle streams open (${perSecond}/s), relay RSS ${Math.round(peak.rssKb / 1024)} MB; holding ${holdSeconds} s`);
      const { cpu, maxRss, report, rssEnd } = await hold(ctx, relay, clients, holdSeconds, peak.rssKb);
      const connected = await relay.metric('swf_relay_clients_connected');
      const perStreamKb = (peak.rssKb - rss0) / open;
      const perStreamAfterHoldKb = (rssEnd - rss0) / open;
      const notes = [
        `RSS ${Math.round(rss0 / 1024)} MB before → ${Math.round(peak.rssKb / 1024)} MB with the streams → ${Math.round(rssEnd / 1024)} MB after ${holdSeconds} s idle`,
        `${perStreamKb.toFixed(1)} KB per stream (${perStreamAfterHoldKb.toFixed(1)} KB after the hold)`,
        `opened at ${perSecond}/s`,
        `still open after hold: ${report.open} (relay counts ${connected}); heartbeats received ${report.heartbeats}`,
      ];
      if (Object.keys(failures).length) notes.push(`open failures ${JSON.stringify(failures)}`);
      // "Near-zero CPU": at most 2 % of one core, heartbeat round included.
      const met = open >= 19_000 && Math.max(perStreamKb, perStreamAfterHoldKb) <= 10 && cpu.relay <= 2;
      ctx.add({
        scenario: 'idle',
        store: relay.variant.store,
        bus: relay.variant.bus,
        clients: open,
        cpu,
        rssMb: Math.round(maxRss / 1024),
        target: ctx.quick ? undefined : { text: '~19,000 streams, ≤ 10 KB RSS each, ~0 % CPU idle', met },
        disturbed: cpu.other > 20,
        notes,
        extra: { series, limit, fds0, perStreamKb, perStreamAfterHoldKb, holdSeconds, open: report.open, heartbeats: report.heartbeats, closed: report.closed },
      });
    } finally {
      await clients.close();
    }
  } finally {
    await relay.stop();
  }
}
