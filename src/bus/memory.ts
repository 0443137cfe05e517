/** MemoryBus: a bus inside one process (the default; no cross-process fanout). */
import type { RelayEvent } from '../model/event.js';
import type { Bus, BusHandler } from './bus.js';

/** Delivers synchronously, in publish order, to the handlers of this process. */
export class MemoryBus implements Bus {
  readonly kind = 'memory';
  private readonly handlers = new Set<BusHandler>();
  private closed = false;

  async publish(events: readonly RelayEvent[]): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    for (const handler of this.handlers) handler(events);
  }

  subscribe(handler: BusHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
  }
}
