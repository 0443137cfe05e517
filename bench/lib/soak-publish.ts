/**
 * Publishes the soak's traffic at a steady rate over one STOMP connection
 * (bench/lib/stomp-producer.ts), persistent like the README asks publishers
 * to be. One message a second carries a receipt; while more than a few are
 * unconfirmed the publisher waits, so a stalled broker shows as a rate
 * shortfall instead of an unbounded socket buffer.
 */
import type { Producer } from './stomp-producer.js';
import type { SentMessage, SoakTraffic } from './soak-traffic.js';

const TICK_MS = 20;
const MAX_UNCONFIRMED = 5;

/** A running publisher. */
export class SteadyPublisher {
  /** Messages sent, and ticks in which it waited for receipts. */
  sent = 0;
  stalledTicks = 0;
  /** The first receipt failure, if any. */
  error: Error | null = null;
  private unconfirmed = 0;
  private last: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = performance.now();

  constructor(
    private readonly producer: Producer,
    private readonly destination: string,
    private readonly rate: number,
    private readonly traffic: SoakTraffic,
    private readonly onSent: (m: SentMessage) => void,
  ) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    if (this.unconfirmed > MAX_UNCONFIRMED) {
      this.stalledTicks++;
      return;
    }
    // Catching up after a stall goes at most 5 × the rate, not in one burst.
    const due = Math.min(Math.floor(((performance.now() - this.startedAt) / 1000) * this.rate) - this.sent, Math.ceil(this.rate / 10));
    const headers = { persistent: 'true' };
    for (let i = 0; i < due; i++) {
      const body = this.traffic.next();
      if (this.sent % this.rate === this.rate - 1) {
        this.unconfirmed++;
        this.last = this.producer.sendAndWait(this.destination, body, headers).then(
          () => void this.unconfirmed--,
          (err: Error) => void (this.error ??= err),
        );
      } else this.producer.send(this.destination, body, headers);
      this.sent++;
      this.onSent(this.traffic.sent.at(-1)!);
    }
  }

  /** Stops, then confirms everything sent reached the broker (one last receipt). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.last;
    const body = this.traffic.next();
    await this.producer.sendAndWait(this.destination, body, { persistent: 'true' });
    this.sent++;
    this.onSent(this.traffic.sent.at(-1)!);
  }
}
