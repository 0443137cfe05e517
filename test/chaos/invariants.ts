// The chaos campaign's judge: what each reader got against what the store holds, and what the
// store holds against what the broker confirmed. Pure functions, so the judge itself is tested
// (test/unit/chaos-invariants.test.ts) on readings with known faults.

/** A `gap` event a reader got: ids from..to (inclusive) will not come, and the relay said so. */
export interface ReportedGap {
  readonly fromId: number | null;
  readonly toId: number | null;
}

/** Everything one reader received over all its connections, in order of receipt. */
export interface Reading {
  /** Ids of the workflow events, in order of receipt (over every connection). */
  readonly ids: readonly number[];
  readonly gaps: readonly ReportedGap[];
  /** Connections opened after the first. */
  readonly reconnects: number;
}

/** One reader's verdict. */
export interface ReaderReport {
  readonly delivered: number;
  readonly expected: number;
  /** Events whose id this reader had already received. */
  readonly duplicates: number;
  /** Events older than one already received but new to this reader (a hole filled late). */
  readonly outOfOrder: number;
  /** Stored ids this reader never got and no gap covered. */
  readonly unreportedLosses: number;
  readonly gaps: number;
  readonly reconnects: number;
  /** A few of the lost ids, to start the search with. */
  readonly lostSample: readonly number[];
}

/** Judges one reading against the ids the store holds (the ground truth of what must reach every reader). */
export function judgeReader(reading: Reading, storedIds: readonly number[]): ReaderReport {
  const seen = new Set<number>();
  let duplicates = 0;
  let outOfOrder = 0;
  let newest = -Infinity;
  for (const id of reading.ids) {
    if (seen.has(id)) duplicates++;
    else if (id < newest) outOfOrder++;
    seen.add(id);
    newest = Math.max(newest, id);
  }
  const covered = (id: number) => reading.gaps.some((g) => (g.fromId === null || id >= g.fromId) && (g.toId === null || id <= g.toId));
  const lost = storedIds.filter((id) => !seen.has(id) && !covered(id));
  return {
    delivered: seen.size,
    expected: storedIds.length,
    duplicates,
    outOfOrder,
    unreportedLosses: lost.length,
    gaps: reading.gaps.length,
    reconnects: reading.reconnects,
    lostSample: lost.slice(0, 10),
  };
}

/** One stored row of the campaign: its id and the publisher's sequence number in its body. */
export interface StoredRow {
  readonly id: number;
  readonly seq: number;
}

/** The store's verdict. */
export interface StoreReport {
  readonly stored: number;
  /** Sequence numbers stored more than once (a double write). */
  readonly storedTwice: readonly number[];
  /** Sequence numbers the broker confirmed (RECEIPT for a persistent SEND) that were never stored. */
  readonly lostConfirmed: readonly number[];
  /** Ids that appear on more than one row. */
  readonly repeatedIds: readonly number[];
}

/** Judges the stored rows against the sequence numbers the broker confirmed. */
export function judgeStore(rows: readonly StoredRow[], confirmed: Iterable<number>): StoreReport {
  const seqCount = new Map<number, number>();
  const idCount = new Map<number, number>();
  for (const row of rows) {
    seqCount.set(row.seq, (seqCount.get(row.seq) ?? 0) + 1);
    idCount.set(row.id, (idCount.get(row.id) ?? 0) + 1);
  }
  return {
    stored: rows.length,
    storedTwice: [...seqCount].filter(([, n]) => n > 1).map(([seq]) => seq),
    lostConfirmed: [...confirmed].filter((seq) => !seqCount.has(seq)),
    repeatedIds: [...idCount].filter(([, n]) => n > 1).map(([id]) => id),
  };
}

/** True when a reader's verdict is clean: everything, once, in order, no gap. */
export function readerClean(r: ReaderReport): boolean {
  return r.duplicates === 0 && r.outOfOrder === 0 && r.unreportedLosses === 0 && r.gaps === 0 && r.delivered === r.expected;
}

/** True when the store's verdict is clean. */
export function storeClean(s: StoreReport): boolean {
  return s.storedTwice.length === 0 && s.lostConfirmed.length === 0 && s.repeatedIds.length === 0;
}
