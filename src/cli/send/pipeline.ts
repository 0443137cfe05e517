/**
 * The sending half of `swf-relay send`: validates each body (unless raw),
 * paces to a rate, keeps a bounded number of sends awaiting their receipt,
 * and counts what was confirmed, failed or refused.
 */
import { classifyText } from '../../model/message.js';
import type { StompProducer } from './stomp-producer.js';
import { sleep } from '../backoff.js';

/** Sends allowed to await their receipt at once; more would only queue in the socket. */
export const SEND_WINDOW = 100;
/** Failure lines printed before the rest are only counted. */
const MAX_FAILURE_LINES = 10;

/** Options of a SendPipeline. */
export interface PipelineOptions {
  /** Send bodies without checking them (to exercise the relay's rejected store). */
  readonly raw: boolean;
  /** Largest body accepted without --raw (the relay's MESSAGE_MAX_BYTES). */
  readonly maxBytes: number;
  /** One line for stderr (refusals and failures). */
  readonly notice: (line: string) => void;
  /** Most sends awaiting a receipt at once (default SEND_WINDOW). */
  readonly window?: number;
}

/** Counts of a pipeline so far. */
export interface PipelineCounts {
  /** Handed to the broker. */
  readonly sent: number;
  /** Receipt received. */
  readonly confirmed: number;
  /** No receipt: error frame, lost connection, timeout. */
  readonly failed: number;
  /** Not sent: invalid body. */
  readonly refused: number;
}

/** Sends bodies through a StompProducer; call drain() at the end to wait for the last receipts. */
export class SendPipeline {
  private readonly inFlight = new Set<Promise<void>>();
  private counts = { sent: 0, confirmed: 0, failed: 0, refused: 0 };
  private failureLines = 0;

  constructor(
    private readonly publisher: () => StompProducer,
    private readonly options: PipelineOptions,
  ) {}

  /** The counts so far. */
  get totals(): PipelineCounts {
    return { ...this.counts };
  }

  /**
   * Validates and sends one body, `label` naming it in messages ("line 3").
   * Waits while the window is full; returns false when the body was refused.
   */
  async submit(body: string, label: string): Promise<boolean> {
    const problem = this.options.raw ? null : this.check(body);
    if (problem !== null) {
      this.counts.refused++;
      this.options.notice(`${label}: not sent, ${problem} (--raw sends it anyway)`);
      return false;
    }
    while (this.inFlight.size >= (this.options.window ?? SEND_WINDOW)) await Promise.race(this.inFlight);
    this.counts.sent++;
    const sending = this.publisher()
      .send(body)
      .then(
        () => void this.counts.confirmed++,
        (err: unknown) => {
          this.counts.failed++;
          if (this.failureLines++ < MAX_FAILURE_LINES) this.options.notice(`${label}: send failed: ${(err as Error).message}`);
          else if (this.failureLines === MAX_FAILURE_LINES + 1) this.options.notice('(further failures are only counted)');
        },
      )
      .finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
    return true;
  }

  /** Resolves once every send so far has its receipt or has failed. */
  async drain(): Promise<PipelineCounts> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    return this.totals;
  }

  /** Why a body must not be sent, or null: what the relay would reject (SPEC §2). */
  private check(body: string): string | null {
    const size = Buffer.byteLength(body, 'utf8');
    if (size > this.options.maxBytes) return `too_large: ${size} bytes, the relay accepts at most ${this.options.maxBytes}`;
    const classified = classifyText(body);
    return classified.kind === 'rejected' ? `${classified.reason}: ${classified.detail}` : null;
  }
}

/** Waits until `at` (ms since the epoch) or until `signal` aborts. */
export function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  return sleep(at - Date.now(), signal);
}
