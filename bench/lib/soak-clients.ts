/**
 * The soak's clients. Readers stay connected for the whole run and must get
 * every matching message exactly once. Churners connect with a random
 * filter, stay a few seconds, leave, and sometimes come back with
 * Last-Event-ID; each chain of sessions must hold every matching message
 * between the first and the last it received, once (a fresh connection
 * starts live, so what came before its first event is not owed to it).
 * Agent heartbeats (agent_status) carry no id and are not replayed (README),
 * so a chain owes only those published while one of its sessions was open.
 */
import { AGENTS, filterQuery, matches, MSG_TYPES, type SentMessage, type SoakFilter } from './soak-traffic.js';
import { openSoakStream, type SoakStream } from './soak-stream.js';

/** Seqs seen, one byte each (a 30-minute run at 100 msg/s is 180 kB per client). */
class SeqSet {
  private bits = new Uint8Array(1024);
  /** Marks `seq`; false when it was already there. */
  add(seq: number): boolean {
    if (seq >= this.bits.length) {
      const grown = new Uint8Array(Math.max(seq + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    if (this.bits[seq]) return false;
    this.bits[seq] = 1;
    return true;
  }
  has(seq: number): boolean {
    return seq < this.bits.length && this.bits[seq] === 1;
  }
}

/** Loss, duplicates and events that did not match, of one reader or of all churner chains. */
export interface Tally {
  expected: number;
  delivered: number;
  duplicates: number;
  unexpected: number;
  gaps: number;
  shutdowns: number;
}

/** A long-lived reader. */
export class Reader {
  expected = 0;
  delivered = 0;
  duplicates = 0;
  unexpected = 0;
  private readonly seen = new SeqSet();
  private stream: SoakStream | null = null;

  constructor(readonly filter: SoakFilter, readonly url: string, private readonly sent: readonly SentMessage[]) {}

  async connect(token: string): Promise<void> {
    this.stream = await openSoakStream(`${this.url}/api/messages/stream/${filterQuery(this.filter)}`, token, '', (seq) => {
      const m = this.sent[seq];
      if (!m || !matches(this.filter, m)) this.unexpected++;
      else if (!this.seen.add(seq)) this.duplicates++;
      else this.delivered++;
    });
  }

  /** Called for every message published, in order. */
  published(m: SentMessage): void {
    if (matches(this.filter, m)) this.expected++;
  }

  get open(): boolean {
    return this.stream?.open ?? false;
  }

  tally(): Tally {
    return { expected: this.expected, delivered: this.delivered, duplicates: this.duplicates, unexpected: this.unexpected, gaps: this.stream?.stats.gaps ?? 0, shutdowns: this.stream?.stats.shutdowns ?? 0 };
  }

  close(): void {
    this.stream?.close();
  }
}

/** The readers' filters, dealt round-robin: everything, the data stream, one agent, the run transitions, a combination. */
export const READER_FILTERS: SoakFilter[] = [
  {},
  { msg_types: 'stf_gen,data_ready' },
  { agents: AGENTS.data },
  { msg_types: 'run_imminent,start_run,end_run,agent_status' },
  { msg_types: 'stf_gen', agents: AGENTS.daq },
];

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const between = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A random churner filter: none, some types, one agent, the current or next run, or types within a run. */
function randomFilter(currentRun: number): SoakFilter {
  const types = () => [...new Set(Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => pick(MSG_TYPES)))].join(',');
  const run = () => String(currentRun + Math.floor(Math.random() * 2));
  const r = Math.random();
  if (r < 0.2) return {};
  if (r < 0.5) return { msg_types: types() };
  if (r < 0.7) return { agents: pick(Object.values(AGENTS)) };
  if (r < 0.9) return { run_ids: run() };
  return { msg_types: types(), run_ids: run() };
}

/**
 * What a chain that received seqs first..last was owed, and how much of it is not in `seen`: every matching
 * workflow message in that range, and the matching heartbeats inside one of its sessions' `live` ranges.
 */
function owed(sent: readonly SentMessage[], filter: SoakFilter, first: number, last: number, live: readonly [number, number][], seen: SeqSet) {
  let expected = 0;
  let missing = 0;
  for (let s = first; s <= last; s++) {
    const m = sent[s]!;
    if (!matches(filter, m)) continue;
    if (m.msgType === 'agent_status' && !live.some(([from, to]) => s >= from && s <= to)) continue;
    expected++;
    if (!seen.has(s)) missing++;
  }
  return { expected, missing };
}

/** Options of Churners. */
export interface ChurnOptions {
  /** Churners running at once. */
  count: number;
  /** Web processes to spread over. */
  urls: readonly string[];
  token: string;
  sent: readonly SentMessage[];
  currentRun: () => number;
  /** Seconds a session stays, and the chance that a session is followed by a resume with Last-Event-ID. */
  staySeconds: [number, number];
  resumeChance: number;
}

/** Churners and what their chains received. */
export class Churners {
  /** Sessions open now. */
  openNow = 0;
  sessions = 0;
  resumes = 0;
  chains = 0;
  /** Chains that lost, repeated or received a non-matching message, with a short description each (first 20 kept). */
  readonly bad: string[] = [];
  badChains = 0;
  readonly failures: Record<string, number> = {};
  readonly total: Tally = { expected: 0, delivered: 0, duplicates: 0, unexpected: 0, gaps: 0, shutdowns: 0 };
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly options: ChurnOptions) {}

  start(): void {
    for (let n = 0; n < this.options.count; n++) this.loops.push(this.loop(n));
  }

  /** Stops after the sessions now open end (at most one stay). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(n: number): Promise<void> {
    // Spread the first connects over a stay, so the churn is steady from the start.
    await sleep(between(0, this.options.staySeconds[1] * 1000));
    while (this.running) {
      await this.chain(n);
      await sleep(between(0, 2000));
    }
  }

  /** One fresh session and its resumes; then checks what the chain received. */
  private async chain(n: number): Promise<void> {
    const { urls, token, sent } = this.options;
    const filter = randomFilter(this.options.currentRun());
    const seen = new SeqSet();
    let first = -1;
    let last = -1;
    let duplicates = 0;
    let unexpected = 0;
    let lastId = '';
    let gaps = 0;
    let shutdowns = 0;
    let sessionLast = -1;
    /** Per session: the seqs published from its `connected` on, up to the last it received (heartbeats owed). */
    const live: [number, number][] = [];
    const onEvent = (seq: number) => {
      const m = sent[seq];
      if (!m || !matches(filter, m)) unexpected++;
      else if (!seen.add(seq)) duplicates++;
      if (first < 0) first = seq;
      last = Math.max(last, seq);
      sessionLast = Math.max(sessionLast, seq);
    };
    for (let session = 0; ; session++) {
      const url = `${urls[(n + session) % urls.length]}/api/messages/stream/${filterQuery(filter)}`;
      let stream: SoakStream;
      try {
        stream = await openSoakStream(url, token, lastId, onEvent);
      } catch (err) {
        const key = (err as Error).message;
        this.failures[key] = (this.failures[key] ?? 0) + 1;
        break;
      }
      // Whatever is published from here on reaches the relay after it registered this stream.
      const liveFrom = sent.length;
      sessionLast = -1;
      this.sessions++;
      if (session > 0) this.resumes++;
      this.openNow++;
      await sleep(between(this.options.staySeconds[0], this.options.staySeconds[1]) * 1000);
      stream.close();
      this.openNow--;
      live.push([liveFrom, sessionLast]);
      lastId = stream.lastId;
      gaps += stream.stats.gaps;
      shutdowns += stream.stats.shutdowns;
      if (!this.running || Math.random() >= this.options.resumeChance) break;
      await sleep(between(0, 1000));
    }
    this.chains++;
    const { expected, missing } = first < 0 ? { expected: 0, missing: 0 } : owed(sent, filter, first, last, live, seen);
    const t = this.total;
    t.expected += expected;
    t.delivered += expected - missing;
    t.duplicates += duplicates;
    t.unexpected += unexpected;
    t.gaps += gaps;
    t.shutdowns += shutdowns;
    if (missing || duplicates || unexpected) {
      this.badChains++;
      if (this.bad.length < 20) this.bad.push(`${filterQuery(filter) || '(no filter)'} seq ${first}..${last}: ${missing} missing, ${duplicates} repeated, ${unexpected} not matching`);
    }
  }
}
