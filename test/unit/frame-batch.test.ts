import assert from 'node:assert/strict';
import { it } from 'node:test';
import { joinFrames } from '../../src/hub/frame-batch.js';

const frame = (text: string) => Buffer.from(text);

it('joins frames once per turn and shares the buffer among identical batches', async () => {
  const [a, b, c] = [frame('a\n\n'), frame('b\n\n'), frame('c\n\n')];
  const first = joinFrames([a, b, c]);
  assert.equal(first.toString(), 'a\n\nb\n\nc\n\n');
  assert.equal(joinFrames([a, b, c]), first, 'the same frames: the same buffer');
  const other = joinFrames([a, c]);
  assert.notEqual(other, first);
  assert.equal(other.toString(), 'a\n\nc\n\n');
  assert.equal(joinFrames([b]), b, 'a single frame is written as it is');
  await new Promise((resolve) => setImmediate(resolve));
  const nextTurn = joinFrames([a, b, c]);
  assert.notEqual(nextTurn, first, 'the cache lasts one turn');
  assert.equal(nextTurn.toString(), first.toString());
});
