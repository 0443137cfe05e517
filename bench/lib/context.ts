/**
 * What every scenario gets from the runner, and the measured live step they
 * share: publish at a rate, wait for the load clients to receive what they
 * should, and account delivery, latency, CPU and RSS over that window.
 */
import type { PrivateBroker } from '../../test/helpers/activemq.js';
import type { LoadClients, MergedReport, PublisherProcess } from './children.js';
import { Histogram, nowMs, type LatencySummary } from './histogram.js';
import { SLOT_MS, SLOW_MS } from './sse-counter.js';
import { CpuMeter, RssSampler, type CpuUse } from './proc.js';
import type { PublishResult } from './protocol.js';
import type { BenchRelay, Variant } from './relay.js';
import { relayNotes } from './relay-stats.js';
import type { Row } from './report.js';

/** The run's shared parts and options. */
export interface BenchContext {
  readonly quick: boolean;
  /** The scenarios of this run, in order. */
  readonly planned: readonly string[];
  /** --fanout: one ladder to run instead of the fanout plan. */
  readonly fanout: FanoutOverride | null;
  readonly broker: PrivateBroker;
  /** The broker's JVM, for CPU accounting (null if not found). */
  readonly brokerPid: number | null;
  readonly publisher: PublisherProcess;
  readonly redisUrl: string;
  /** Directory of this run's result files. */
  readonly resultsDir: string;
  /** File-name stem of this run's results (the timestamp). */
  readonly stem: string;
  /** Records a finished row (printed at once, tabled at the end). */
  add(row: Row): void;
  /** Appends a markdown section (e.g. a comparison table) to the run's results, after the rows' table. */
  addSection(markdown: string): void;
  log(message: string): void;
  /** Starts a relay for a variant on the run's broker, optionally with extra node flags and environment. */
  relay(variant: Variant, extra?: { nodeArgs?: string[]; env?: Record<string, string> }): Promise<BenchRelay>;
}

/** A single fanout ladder given on the command line. */
export interface FanoutOverride {
  clients: number;
  rates: number[];
  variant: Variant;
}

/** Machine CPU used by processes outside the run above this (% of one core) marks a measurement as disturbed. */
export const DISTURBED_OTHER_CPU = 20;
/** Publish payload size, bytes. */
export const MESSAGE_BYTES = 1024;
/**
 * Ingest and replay send persistent messages (STOMP `persistent: true`, as the
 * README asks publishers to: the broker journals each one for the relay's
 * durable subscription). Live fanout steps send non-persistent ones by default:
 * the broker's journal is not what they measure, and on two shared cores its
 * CPU would come out of the relay's share.
 */
export const PERSISTENT = true;
/** Live (fanout, filtered) steps: non-persistent, see PERSISTENT. */
export const LIVE_PERSISTENT = false;

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What one live step measured. */
export interface LiveResult {
  sent: number;
  sentRate: number;
  expected: number;
  delivered: number;
  perSecond: number;
  latency: LatencySummary;
  cpu: CpuUse;
  rssMb: number;
  gaps: number;
  gapDropped: number;
  minPerStream: number;
  /** Seconds from the last publish until the last expected event arrived (or the wait gave up). */
  drainSeconds: number;
  errors: Record<string, number>;
  /** Remarks about this attempt. */
  notes: string[];
  /** Largest latency per SLOT_MS slot, as [seconds after the first publish, ms]. */
  timeline: [number, number][];
}

/** Options of liveStep. */
export interface LiveStep {
  rate: number;
  seconds: number;
  msgType: string;
  runIdPrefix: string;
  runIdCount: number;
  /** Events each message should produce on the clients (matching streams). */
  perMessage: number;
  /** STOMP persistent messages (default LIVE_PERSISTENT). */
  persistent?: boolean;
}

/** Longest wait for stragglers after the last publish; and how long without progress counts as done. */
const DRAIN_MAX_MS = 15_000;
const STALL_MS = 3_000;

/** Waits until the clients have `expected` events, or stop making progress; CPU is read at the last progress, so a stall does not dilute it. */
async function drain(clients: LoadClients, meter: CpuMeter, expected: number): Promise<{ report: MergedReport; cpu: CpuUse }> {
  let report = await clients.report();
  let cpu = meter.stop();
  let lastEvents = report.events;
  let progressAt = performance.now();
  const deadline = performance.now() + DRAIN_MAX_MS;
  while (report.events < expected && performance.now() < deadline && performance.now() - progressAt < STALL_MS) {
    await sleep(100);
    report = await clients.report();
    if (report.events !== lastEvents) {
      lastEvents = report.events;
      progressAt = performance.now();
      cpu = meter.stop();
    }
  }
  if (report.events >= expected) cpu = meter.stop();
  return { report, cpu };
}

/** Notes that locate latency: the broker hop alone (probe), where the slow events lost their time, and when they arrived. */
function latencyNotes(report: MergedReport, pub: PublishResult): { notes: string[]; timeline: [number, number][] } {
  const notes: string[] = [];
  if (pub.probe && pub.probe.count > 0) {
    const h = new Histogram();
    h.merge(pub.probe);
    const b = h.summary();
    notes.push(`broker hop alone (probe subscriber in the publisher): p50 ${fmtMs(b.p50)} / p99 ${fmtMs(b.p99)} / max ${fmtMs(b.max)} ms`);
  }
  if (report.slowToRelay.count > 0) {
    const a = report.slowToRelay.summary();
    const b = report.slowFromRelay.summary();
    notes.push(`${report.slowToRelay.count} events over ${SLOW_MS} ms: publish → relay receipt p50 ${fmtMs(a.p50)} / max ${fmtMs(a.max)} ms, relay receipt → client p50 ${fmtMs(b.p50)} / max ${fmtMs(b.max)} ms`);
  }
  // When did the slowest events arrive (seconds after the first publish)?
  const timeline = report.slotMax.map(([slot, ms]) => [+((slot * SLOT_MS - pub.startedAt) / 1000).toFixed(2), +ms.toFixed(1)] as [number, number]);
  const worst = [...timeline].sort((a, b) => b[1] - a[1]).slice(0, 3);
  if (worst.length > 0 && worst[0]![1] > 50) notes.push(`slowest ${SLOT_MS} ms slots at ${worst.map(([at, ms]) => `+${at} s (max ${Math.round(ms)} ms)`).join(', ')}`);
  return { notes, timeline };
}

/** Who serves a live step: the processes whose CPU is the server's, and the one whose RSS is sampled. */
export interface LiveServer {
  pids: number[];
  rssPid: number;
}

/**
 * Measures one paced publish (`publish`, by whatever path) on the clients:
 * CPU by role from just before it until the last event arrived, the server's
 * largest RSS, delivery and latency. The clients must have been reset.
 */
export async function measureLive(ctx: BenchContext, clients: LoadClients, server: LiveServer, perMessage: number, publish: () => Promise<PublishResult>): Promise<{ result: LiveResult; pub: PublishResult }> {
  const meter = new CpuMeter({ relay: server.pids, load: [...clients.pids, ctx.publisher.pid, process.pid], broker: ctx.brokerPid ? [ctx.brokerPid] : [] });
  const rss = new RssSampler(server.rssPid);
  const pub = await publish();
  const expected = pub.sent * perMessage;
  const { report, cpu } = await drain(clients, meter, expected);
  const rssMax = rss.stop();
  const { notes, timeline } = latencyNotes(report, pub);
  const end = report.lastAt > 0 ? report.lastAt : nowMs();
  const result: LiveResult = {
    sent: pub.sent,
    sentRate: Math.round(pub.rate),
    expected,
    delivered: report.events,
    perSecond: Math.round(report.events / Math.max((end - pub.startedAt) / 1000, 0.001)),
    latency: report.latency.summary(),
    cpu,
    rssMb: Math.round(rssMax / 1024),
    gaps: report.gaps,
    gapDropped: report.gapDropped,
    minPerStream: report.minPerStream,
    drainSeconds: +(Math.max(0, end - pub.lastSentAt) / 1000).toFixed(2),
    errors: report.errors,
    notes,
    timeline,
  };
  return { result, pub };
}

/** Publishes one paced burst through the relay and measures what the clients got. */
export async function liveStep(ctx: BenchContext, relay: BenchRelay, clients: LoadClients, step: LiveStep): Promise<LiveResult> {
  await clients.reset();
  const before = await relay.scrape();
  const { result, pub } = await measureLive(ctx, clients, { pids: [relay.pid], rssPid: relay.pid }, step.perMessage, () =>
    ctx.publisher.publish({
      destination: relay.destination,
      count: Math.round(step.rate * step.seconds),
      rate: step.rate,
      maxMs: step.seconds * 1500 + 5000,
      msgType: step.msgType,
      runIdPrefix: step.runIdPrefix,
      runIdCount: step.runIdCount,
      size: MESSAGE_BYTES,
      persistent: step.persistent ?? LIVE_PERSISTENT,
      probe: true,
    }),
  );
  result.notes.unshift(...relayNotes(before, await relay.scrape(), pub.sent));
  return result;
}

const fmtMs = (v: number | null) => (v === null ? '?' : v < 10 ? v.toFixed(1) : String(Math.round(v)));

/** A count read at a moment (`at`: nowMs()). */
export interface CountAt {
  at: number;
  count: number;
}

/**
 * Reads a growing count every `pollMs` until it reaches `target` or `timeoutMs` has passed; the first
 * and last readings (a drain's rate is their difference) and whether it got there.
 */
export async function pollCount(read: () => Promise<number>, target: number, timeoutMs: number, pollMs = 50): Promise<{ first: CountAt; last: CountAt; done: boolean }> {
  const deadline = performance.now() + timeoutMs;
  const first = { at: nowMs(), count: await read() };
  let last = first;
  while (last.count < target && performance.now() < deadline) {
    await sleep(pollMs);
    last = { at: nowMs(), count: await read() };
  }
  return { first, last, done: last.count >= target };
}

/** Waits until the relay has stored `total` workflow messages (swf_relay_events_ingested_total); false on timeout. */
export async function waitIngested(relay: BenchRelay, total: number, timeoutMs: number, pollMs = 100): Promise<boolean> {
  return (await pollCount(ingestedCount(relay), total, timeoutMs, pollMs)).done;
}

/** Reads the relay's swf_relay_events_ingested_total (0 before the first commit). */
export const ingestedCount = (relay: BenchRelay) => async () => (await relay.metric('swf_relay_events_ingested_total')) ?? 0;

/** Turns a live result into a table row (`server`: the relay, or anything else named by a store and bus). */
export function liveRow(scenario: string, server: { variant: { store: string; bus: string } }, clients: number, rate: number, r: LiveResult, notes: string[], disturbed: boolean): Row {
  const allNotes = [...notes, ...r.notes];
  if (r.gaps > 0) allNotes.push(`${r.gaps} gap events (${r.gapDropped} dropped for slow clients)`);
  if (r.delivered < r.expected) allNotes.push(`drain gave up ${r.drainSeconds} s after the last publish`);
  else if (r.drainSeconds > 1) allNotes.push(`last event ${r.drainSeconds} s after the last publish`);
  const errs = Object.entries(r.errors);
  if (errs.length) allNotes.push(`client errors ${errs.map(([k, v]) => `${k}×${v}`).join(', ')}`);
  return {
    scenario,
    store: server.variant.store,
    bus: server.variant.bus,
    clients,
    rate,
    sentRate: r.sentRate,
    sent: r.sent,
    expected: r.expected,
    delivered: r.delivered,
    perSecond: r.perSecond,
    latency: r.latency,
    cpu: r.cpu,
    rssMb: r.rssMb,
    disturbed,
    notes: allNotes,
    extra: { timeline: r.timeline, minPerStream: r.minPerStream, drainSeconds: r.drainSeconds },
  };
}
