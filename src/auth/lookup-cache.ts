/**
 * A small map of lookup results that forgets: each entry lives until its own
 * deadline, and past `maxEntries` the oldest entry goes first (a Map keeps
 * insertion order, so that costs no bookkeeping).
 */

/** Entries with deadlines and a size cap; `now` is injectable for tests. */
export class LookupCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(
    /** Most entries held; adding one more evicts the oldest. */
    readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value stored under `key` if its deadline has not passed, else undefined. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > this.now()) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Stores `value` under `key` until the time `until` (ms since the epoch); a deadline already past stores nothing. */
  set(key: string, value: V, until: number): void {
    this.entries.delete(key); // re-inserting moves the key to the young end
    if (until <= this.now()) return;
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Entries held (expired ones included until they are read or evicted). */
  get size(): number {
    return this.entries.size;
  }
}
