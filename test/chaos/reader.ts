// A chaos reader: an SSE client that cuts its connection after a random while and resumes with
// Last-Event-ID on a random web process, as a remote user on a flaky network would, recording
// every event it gets for the judge (invariants.ts).
import { openStream } from '../helpers/sse-client.js';
import type { Reading, ReportedGap } from './invariants.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ChaosReader implements Reading {
  readonly ids: number[] = [];
  readonly gaps: ReportedGap[] = [];
  reconnects = 0;
  /** Attempts refused or failed (a web process down or restarting). */
  failures = 0;
  private readonly seen = new Set<number>();
  private running = true;
  private done: Promise<void> | undefined;

  constructor(
    private readonly urls: readonly string[],
    private readonly token: string,
    private readonly msgType: string,
    /** Resume point of the first connection (the newest id before the campaign). */
    private lastId: string,
    /** Random numbers in [0, 1) from the campaign's seed. */
    private readonly random: () => number,
    /** How long each connection is held: [min, max] ms. */
    private readonly holdMs: readonly [number, number] = [300, 3000],
  ) {}

  /** True once every id in `ids` has been received. */
  has(ids: readonly number[]): boolean {
    return ids.every((id) => this.seen.has(id));
  }

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async loop(): Promise<void> {
    for (let first = true; this.running; first = false) {
      const url = this.urls[Math.floor(this.random() * this.urls.length)]!;
      const hold = this.holdMs[0] + this.random() * (this.holdMs[1] - this.holdMs[0]);
      if (!first) this.reconnects++;
      try {
        const stream = await openStream(`${url}/api/messages/stream/?msg_types=${this.msgType}`, {
          Authorization: `Token ${this.token}`,
          'Last-Event-ID': this.lastId,
        });
        if (stream.status !== 200) {
          stream.close();
          throw new Error(`HTTP ${stream.status}`);
        }
        await Promise.race([sleep(hold), stream.body().catch(() => {})]);
        stream.close();
        this.record(stream.events());
      } catch {
        this.failures++;
        await sleep(200);
      }
    }
  }

  private record(events: ReturnType<Awaited<ReturnType<typeof openStream>>['events']>): void {
    for (const event of events) {
      if (event.event === this.msgType && event.id !== undefined) {
        const id = Number(event.id);
        this.ids.push(id);
        this.seen.add(id);
        this.lastId = event.id;
      } else if (event.event === 'gap') {
        const gap = JSON.parse(event.data) as { from_id: string | null; to_id: string | null };
        this.gaps.push({ fromId: gap.from_id === null ? null : Number(gap.from_id), toId: gap.to_id === null ? null : Number(gap.to_id) });
      }
    }
  }
}
