// The chaos campaign's judge must see every fault it is meant to report: each case below is a
// reading with one known fault (or none), and the verdict must name exactly that fault.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judgeReader, judgeStore, readerClean, storeClean } from '../chaos/invariants.js';

const stored = [1, 2, 3, 4, 5, 6];

describe('chaos invariants: readers', () => {
  it('a complete, ordered reading is clean', () => {
    const r = judgeReader({ ids: [1, 2, 3, 4, 5, 6], gaps: [], reconnects: 3 }, stored);
    assert.deepEqual(r, { delivered: 6, expected: 6, duplicates: 0, outOfOrder: 0, unreportedLosses: 0, gaps: 0, reconnects: 3, lostSample: [] });
    assert.ok(readerClean(r));
  });

  it('counts an id received twice (a resume that re-sent it) as a duplicate', () => {
    const r = judgeReader({ ids: [1, 2, 3, 3, 4, 5, 6], gaps: [], reconnects: 1 }, stored);
    assert.equal(r.duplicates, 1);
    assert.ok(!readerClean(r));
  });

  it('counts a hole filled late as out of order, not as a loss', () => {
    const r = judgeReader({ ids: [1, 2, 4, 5, 3, 6], gaps: [], reconnects: 0 }, stored);
    assert.equal(r.outOfOrder, 1);
    assert.equal(r.unreportedLosses, 0);
    assert.ok(!readerClean(r));
  });

  it('reports a stored id never delivered and not covered by a gap as an unreported loss', () => {
    const r = judgeReader({ ids: [1, 2, 4, 5, 6], gaps: [], reconnects: 0 }, stored);
    assert.equal(r.unreportedLosses, 1);
    assert.deepEqual(r.lostSample, [3]);
  });

  it('a loss inside a reported gap is not unreported, but the gap itself is not clean', () => {
    const r = judgeReader({ ids: [1, 2, 5, 6], gaps: [{ fromId: 3, toId: 4 }], reconnects: 0 }, stored);
    assert.equal(r.unreportedLosses, 0);
    assert.equal(r.gaps, 1);
    assert.ok(!readerClean(r));
  });
});

describe('chaos invariants: the store', () => {
  it('each confirmed message once is clean; an unconfirmed one may be missing', () => {
    const s = judgeStore([{ id: 10, seq: 0 }, { id: 11, seq: 1 }], [0, 1]);
    assert.ok(storeClean(s));
    assert.ok(storeClean(judgeStore([{ id: 10, seq: 0 }], [0])), 'seq 1 was never confirmed');
  });

  it('reports a message stored twice, a confirmed one never stored, and a repeated id', () => {
    const s = judgeStore([{ id: 10, seq: 0 }, { id: 11, seq: 0 }, { id: 11, seq: 2 }], [0, 1, 2]);
    assert.deepEqual(s.storedTwice, [0]);
    assert.deepEqual(s.lostConfirmed, [1]);
    assert.deepEqual(s.repeatedIds, [11]);
    assert.ok(!storeClean(s));
  });
});
