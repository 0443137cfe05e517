// The chaos campaign (issue 16): persistent messages at a steady rate into the scaled-out
// deployment of topology.ts while a nemesis, driven by a seeded random order, kills and freezes
// the lease holder, kills web processes, and restarts Redis and the broker; four readers keep
// cutting and resuming. Afterwards the judge (invariants.ts) compares what every reader got with
// what the store holds, and the store with what the broker confirmed. Run by
// test/integration/chaos.test.ts (short) and `npm run chaos -- --minutes N` (release checks).
import { parseFilters } from '../../src/model/filter.js';
import { openStoreOf, waitUntil, type RelayProcess } from '../helpers/relay.js';
import { connectPublisher, type Publisher } from '../helpers/stomp-publisher.js';
import { judgeReader, judgeStore, readerClean, storeClean, type ReaderReport, type StoreReport, type StoredRow } from './invariants.js';
import { ChaosReader } from './reader.js';
import { startTopology, type Topology } from './topology.js';

export const MSG_TYPE = 'chaos';
const READERS = 4;
const FAULTS = ['kill -9 lease holder', 'SIGSTOP lease holder', 'kill -9 web process', 'restart Redis', 'restart broker'] as const;
type Fault = (typeof FAULTS)[number];

export interface CampaignOptions {
  readonly seed: number;
  /** Messages to publish, at `rate` per second. */
  readonly messages: number;
  readonly rate: number;
  /** Pause between two faults: [min, max] ms. */
  readonly faultEveryMs?: readonly [number, number];
  /** Progress lines (each fault as it happens). */
  readonly log?: (line: string) => void;
}

export interface CampaignReport {
  readonly seed: number;
  readonly faults: { at: number; fault: Fault | string }[];
  /** Fault → ms until another listener held the lease and was subscribed. */
  readonly failovers: { fault: string; ms: number | null }[];
  readonly readers: ReaderReport[];
  readonly store: StoreReport;
  /** Confirmed by the broker / published. */
  readonly confirmed: number;
  readonly published: number;
  /** From the end of the traffic until every process was ready and one listener subscribed. */
  readonly settledMs: number;
  readonly clean: boolean;
}

/** mulberry32: a small seeded generator, so a failing campaign's fault order can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const random = seededRandom(options.seed);
  const between = (range: readonly [number, number]) => range[0] + random() * (range[1] - range[0]);
  const log = options.log ?? (() => {});
  const started = Date.now();
  const elapsed = () => ((Date.now() - started) / 1000).toFixed(1);
  const topology = await startTopology();
  try {
    const readers = Array.from({ length: READERS }, () => new ChaosReader(topology.webUrls, topology.token, MSG_TYPE, '0', seededRandom(Math.floor(random() * 2 ** 32))));
    readers.forEach((r) => r.start());
    const traffic = new Traffic(topology, options.rate);
    let bag: Fault[] = [];
    const faults: CampaignReport['faults'] = [];
    // The traffic goes on until every kind of fault has been inflicted at least once.
    const sending = traffic.run(options.messages, () => faults.length < FAULTS.length);

    const failovers: Promise<{ fault: string; ms: number | null }>[] = [];
    let finished = false;
    void sending.finally(() => (finished = true));
    while (!finished) {
      await Promise.race([sleep(between(options.faultEveryMs ?? [2000, 5000])), sending]);
      if (finished) break;
      if (bag.length === 0) bag = shuffle([...FAULTS], random);
      const fault = bag.pop()!;
      const at = Date.now() - started;
      const result = await inflict(fault, topology, traffic, random);
      if (result === 'skipped') {
        bag.unshift(fault); // no lease holder right now (a takeover under way): later
        continue;
      }
      faults.push({ at, fault });
      log(`[${(at / 1000).toFixed(1)} s] ${fault}`);
      if (result) failovers.push(result.takeover.then((ms) => ({ fault, ms })));
    }
    await sending;
    const trafficEnded = Date.now();
    log(`[${elapsed()} s] traffic done: ${traffic.confirmed.size} of ${traffic.published} confirmed`);
    await waitUntil(() => topology.settled(), 'every process ready and one listener subscribed', () => '', 90_000);
    const settledMs = Date.now() - trafficEnded;

    // Ingestion may still be draining what the broker kept during the last fault: read once it has caught up.
    let rows: StoredRow[] = [];
    await waitUntil(async () => (rows = await storedRows(topology)).length >= traffic.confirmed.size, 'the store to hold every confirmed message', () => '', 60_000).catch(() => {});
    const storedIds = rows.map((r) => r.id).sort((a, b) => a - b);
    await waitUntil(() => readers.every((r) => r.has(storedIds)), 'every reader to have every stored message', () => '', 90_000).catch(() => {});
    await Promise.all(readers.map((r) => r.stop()));
    const readerReports = readers.map((r) => judgeReader(r, storedIds));
    const store = judgeStore(rows, traffic.confirmed);
    return {
      seed: options.seed,
      faults,
      failovers: await Promise.all(failovers),
      readers: readerReports,
      store,
      confirmed: traffic.confirmed.size,
      published: traffic.published,
      settledMs,
      clean: storeClean(store) && readerReports.every(readerClean),
    };
  } finally {
    await topology.stop();
  }
}

/** Persistent messages with a sequence number, each confirmed by a RECEIPT; can pause around a broker restart. */
class Traffic {
  readonly confirmed = new Set<number>();
  published = 0;
  private publisher: Publisher | undefined;
  private inFlight = new Set<Promise<void>>();
  private paused: Promise<void> | undefined;

  constructor(
    private readonly topology: Topology,
    private readonly rate: number,
  ) {}

  /** Publishes `messages`, and more while `more()` says so. */
  async run(messages: number, more: () => boolean): Promise<void> {
    this.publisher = await connectPublisher(this.topology.broker.host, this.topology.broker.port);
    const t0 = Date.now();
    for (let seq = 0; seq < messages || more(); seq++) {
      await this.paused;
      const send = this.publisher.sendAndWait(this.topology.topic, JSON.stringify({ msg_type: MSG_TYPE, seq }), { persistent: 'true' }).then(
        () => void this.confirmed.add(seq),
        () => {}, // not confirmed: may or may not be stored, never twice
      );
      this.published++;
      this.inFlight.add(send);
      void send.finally(() => this.inFlight.delete(send));
      const due = t0 + ((seq + 1) * 1000) / this.rate - Date.now();
      if (due > 0) await sleep(due);
    }
    await Promise.all(this.inFlight);
    await this.publisher.close().catch(() => {});
  }

  /** Stops sending, waits for the receipts, runs `during`, then reconnects and goes on. */
  async pauseAround(during: () => Promise<void>): Promise<void> {
    let resume!: () => void;
    this.paused = new Promise((resolve) => (resume = resolve));
    try {
      await Promise.all(this.inFlight);
      await this.publisher?.close().catch(() => {});
      await during();
      this.publisher = await connectPublisher(this.topology.broker.host, this.topology.broker.port);
    } finally {
      this.paused = undefined;
      resume();
    }
  }
}

/** Applies one fault; for faults on the lease holder, resolves (later) with the time until another listener took over. */
async function inflict(fault: Fault, topology: Topology, traffic: Traffic, random: () => number): Promise<{ takeover: Promise<number | null> } | 'skipped' | undefined> {
  switch (fault) {
    case 'kill -9 lease holder': {
      const holder = topology.holder();
      if (!holder) return 'skipped';
      const slot = topology.listeners.indexOf(holder);
      await holder.stop('SIGKILL');
      const takeover = takeoverTime(topology, holder);
      await sleep(1000);
      await topology.replaceListener(slot);
      return { takeover };
    }
    case 'SIGSTOP lease holder': {
      const holder = topology.holder();
      if (!holder) return 'skipped';
      process.kill(holder.pid, 'SIGSTOP');
      topology.frozen.add(holder.pid);
      const takeover = takeoverTime(topology, holder);
      await sleep(4000 + random() * 8000);
      process.kill(holder.pid, 'SIGCONT');
      topology.frozen.delete(holder.pid);
      return { takeover };
    }
    case 'kill -9 web process': {
      const slot = Math.floor(random() * topology.webs.length);
      await topology.webs[slot]!.stop('SIGKILL');
      await sleep(1000);
      await topology.replaceWeb(slot);
      return undefined;
    }
    case 'restart Redis':
      await topology.redis.restart();
      return undefined;
    case 'restart broker':
      await traffic.pauseAround(() => topology.broker.restart());
      return undefined;
  }
}

/** Ms from now until a listener other than `former` holds the lease and is subscribed (null after 60 s). */
async function takeoverTime(topology: Topology, former: RelayProcess): Promise<number | null> {
  const from = Date.now();
  const baseline = new Map(topology.listeners.map((p) => [p, subscriptions(p)]));
  while (Date.now() - from < 60_000) {
    const holder = topology.holder();
    if (holder && holder !== former && subscriptions(holder) > (baseline.get(holder) ?? 0)) return Date.now() - from;
    await sleep(100);
  }
  return null;
}

const subscriptions = (p: RelayProcess) => p.output().split('"msg":"subscribed"').length - 1;

async function storedRows(topology: Topology): Promise<StoredRow[]> {
  const store = await openStoreOf({ DATABASE_URL: topology.pg.url });
  try {
    const rows = await store.messagesAfter('0', 10_000_000, parseFilters({ msg_types: MSG_TYPE }));
    return rows.map((m) => ({ id: Number(m.id), seq: (JSON.parse(m.content) as { seq: number }).seq }));
  } finally {
    await store.close();
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** The report as aligned text lines: per reader, then the store, the faults and the failover times. */
export function formatReport(r: CampaignReport): string[] {
  const lines = [`seed ${r.seed}: ${r.clean ? 'CLEAN' : 'FAILED'}; ${r.confirmed} of ${r.published} messages confirmed by the broker; settled ${r.settledMs} ms after the traffic`];
  lines.push('reader  delivered/expected  duplicates  out-of-order  unreported-losses  gaps  reconnects');
  r.readers.forEach((x, i) =>
    lines.push(
      `${String(i + 1).padEnd(8)}${`${x.delivered}/${x.expected}`.padEnd(20)}${String(x.duplicates).padEnd(12)}${String(x.outOfOrder).padEnd(14)}${String(x.unreportedLosses).padEnd(19)}${String(x.gaps).padEnd(6)}${x.reconnects}${x.lostSample.length ? `  lost e.g. ${x.lostSample.join(',')}` : ''}`,
    ),
  );
  lines.push(`store: ${r.store.stored} rows; stored twice: ${r.store.storedTwice.length}; confirmed but lost: ${r.store.lostConfirmed.length}; repeated ids: ${r.store.repeatedIds.length}`);
  lines.push(`faults: ${r.faults.map((f) => `${(f.at / 1000).toFixed(1)} s ${f.fault}`).join('; ')}`);
  lines.push(`failovers: ${r.failovers.map((f) => `${f.fault} → ${f.ms === null ? 'none within 60 s' : `${f.ms} ms`}`).join('; ') || 'none'}`);
  return lines;
}
