/**
 * Bounds the password checks (scrypt: ~32 MiB and tens of ms each) running at
 * once: at most `perAddress` per client address and `total` in all, the rest
 * waiting in arrival order, at most `queue` of them. A flood from one address
 * then costs others at most one check's wait per flooding address, never a
 * queue of that address's attempts.
 */
import { AppError } from '../errors.js';

/** Limits of a PasswordGate. */
export interface PasswordGateOptions {
  /** Checks running at once in this process (default 2: one per core of a small machine). */
  readonly total?: number;
  /** Checks running at once for one address (default 1). */
  readonly perAddress?: number;
  /** Checks allowed to wait; beyond it the attempt gets 503 (default 64). */
  readonly queue?: number;
}

interface Waiter {
  readonly address: string;
  readonly start: () => void;
}

/** Runs password checks within the limits. */
export class PasswordGate {
  private readonly total: number;
  private readonly perAddress: number;
  private readonly queueMax: number;
  private running = 0;
  private readonly runningBy = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(options: PasswordGateOptions = {}) {
    this.total = options.total ?? 2;
    this.perAddress = options.perAddress ?? 1;
    this.queueMax = options.queue ?? 64;
  }

  /** Runs `check` for `address` once a slot is free; throws 503 when too many wait already. */
  async run<T>(address: string, check: () => Promise<T>): Promise<T> {
    if (!this.canStart(address)) {
      if (this.waiting.length >= this.queueMax) throw new AppError('UNAVAILABLE', 'Too many sign-ins at once; try again shortly.', {}, 1);
      await new Promise<void>((start) => this.waiting.push({ address, start }));
    } else this.enter(address);
    try {
      return await check();
    } finally {
      this.leave(address);
    }
  }

  private canStart(address: string): boolean {
    return this.running < this.total && (this.runningBy.get(address) ?? 0) < this.perAddress;
  }

  private enter(address: string): void {
    this.running++;
    this.runningBy.set(address, (this.runningBy.get(address) ?? 0) + 1);
  }

  private leave(address: string): void {
    this.running--;
    const left = (this.runningBy.get(address) ?? 1) - 1;
    if (left === 0) this.runningBy.delete(address);
    else this.runningBy.set(address, left);
    // The first waiter whose address has a free slot goes next (FIFO otherwise).
    const next = this.waiting.findIndex((w) => this.canStart(w.address));
    if (next < 0) return;
    const [waiter] = this.waiting.splice(next, 1);
    this.enter(waiter!.address);
    waiter!.start();
  }
}
