import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/random.js';
import {
  bucketBatches,
  makeClassificationBatch,
  makeLMBatch,
  makeSeq2SeqBatch,
  padBatch,
} from '../../src/data/index.js';

const gen = new Generator(1);
const lengths = Array.from({ length: 500 }, () => 1 + gen.randint(60));
lengths[17] = 300; // longer than the budget: a batch of its own

test('bucketBatches: budget respected, every index exactly once, similar lengths', () => {
  const batches = bucketBatches(lengths, {
    batchTokens: 256,
    shuffle: true,
    generator: new Generator(5),
  });
  const seen = batches.flat().sort((a, b) => a - b);
  assert.deepEqual(
    seen,
    lengths.map((_, i) => i),
  );
  for (const b of batches) {
    const max = Math.max(...b.map((i) => lengths[i]));
    if (b.includes(17)) assert.deepEqual(b, [17]);
    else assert.ok(max * b.length <= 256, `batch of ${b.length} x ${max}`);
  }
  // Greedy packing: a batch could not take the next-longest example of the following one.
  const sorted = bucketBatches(lengths, { batchTokens: 256 });
  for (let k = 0; k + 1 < sorted.length; k++) {
    const next = lengths[sorted[k + 1][0]];
    assert.ok((sorted[k].length + 1) * next > 256);
    assert.ok(lengths[sorted[k].at(-1)!] <= next, 'ascending lengths across batches');
  }
});

test('bucketBatches: deterministic per seed, shuffles batch order only', () => {
  const opts = (seed: number) => ({ batchTokens: 200, shuffle: true, generator: new Generator(seed) });
  const a = bucketBatches(lengths, opts(1));
  assert.deepEqual(bucketBatches(lengths, opts(1)), a);
  const b = bucketBatches(lengths, opts(2));
  assert.notDeepEqual(b, a);
  const key = (bs: number[][]) => bs.map((x) => x.join(',')).sort();
  assert.deepEqual(key(a), key(b));
  assert.deepEqual(key(a), key(bucketBatches(lengths, { batchTokens: 200 })));
});

test('bucketBatches: ties by index, maxBatchSize, option errors', () => {
  assert.deepEqual(bucketBatches([3, 1, 3, 1, 3], { batchTokens: 6 }), [[1, 3], [0, 2], [4]]);
  const capped = bucketBatches(new Array(10).fill(1), { batchTokens: 100, maxBatchSize: 4 });
  assert.deepEqual(
    capped.map((b) => b.length),
    [4, 4, 2],
  );
  assert.throws(() => bucketBatches([1], { batchTokens: 0 }), /batchTokens=0 must be an integer/);
  assert.throws(() => bucketBatches([1], { batchTokens: 4, shuffle: true }), /needs a generator/);
  assert.throws(() => bucketBatches([1, -2], { batchTokens: 4 }), /lengths\[1\]=-2/);
  assert.deepEqual(bucketBatches([], { batchTokens: 4 }), []);
});

test('padBatch: (B, Lmax) int32 right-padded', () => {
  const t = padBatch([[5, 6, 7], [8], []], 0);
  assert.deepEqual(t.shape, [3, 3]);
  assert.equal(t.dtype, 'int32');
  assert.deepEqual(Array.from(t.i32), [5, 6, 7, 8, 0, 0, 0, 0, 0]);
});

test('makeSeq2SeqBatch: shapes, bos/eos shift, padding, ntokens', () => {
  const ids = { padId: 0, bosId: 1, eosId: 2 };
  const b = makeSeq2SeqBatch(
    [
      { src: [10, 11, 12], tgt: [20, 21] },
      { src: [13], tgt: [22, 23, 24] },
    ],
    ids,
  );
  assert.deepEqual(b.src.shape, [2, 3]);
  assert.deepEqual(Array.from(b.src.i32), [10, 11, 12, 13, 0, 0]);
  assert.deepEqual(b.tgtIn.shape, [2, 4]);
  assert.deepEqual(Array.from(b.tgtIn.i32), [1, 20, 21, 0, 1, 22, 23, 24]);
  assert.deepEqual(Array.from(b.tgtOut.i32), [20, 21, 2, 0, 22, 23, 24, 2]);
  assert.equal(b.ntokens, 7);
  // tgtOut is tgtIn shifted left by one wherever the label is not padding.
  const T = 4;
  for (let r = 0; r < 2; r++)
    for (let t = 0; t + 1 < T; t++) {
      const label = b.tgtOut.i32[r * T + t];
      if (label !== 0 && label !== 2) assert.equal(b.tgtIn.i32[r * T + t + 1], label);
    }
  const empty = makeSeq2SeqBatch([{ src: [3], tgt: [] }], ids);
  assert.deepEqual(Array.from(empty.tgtIn.i32), [1]);
  assert.deepEqual(Array.from(empty.tgtOut.i32), [2]);
});

test('makeLMBatch: y is x shifted by one, windows inside the stream, seeded', () => {
  const tokens = Int32Array.from({ length: 100 }, (_, i) => i);
  const { x, y } = makeLMBatch(tokens, { batchSize: 8, blockSize: 10, generator: new Generator(3) });
  assert.deepEqual(x.shape, [8, 10]);
  assert.deepEqual(y.shape, [8, 10]);
  for (let b = 0; b < 8; b++) {
    const s = x.i32[b * 10];
    assert.ok(s >= 0 && s + 10 < 100);
    for (let t = 0; t < 10; t++) {
      assert.equal(x.i32[b * 10 + t], s + t);
      assert.equal(y.i32[b * 10 + t], s + t + 1);
    }
  }
  const again = makeLMBatch(tokens, { batchSize: 8, blockSize: 10, generator: new Generator(3) });
  assert.deepEqual(again.x.i32, x.i32);
  const last = makeLMBatch([1, 2, 3], { batchSize: 2, blockSize: 2, generator: new Generator(0) });
  assert.deepEqual(Array.from(last.y.i32), [2, 3, 2, 3]);
  assert.throws(
    () => makeLMBatch([1, 2], { batchSize: 1, blockSize: 2, generator: new Generator(0) }),
    /2 tokens is too few for blockSize=2/,
  );
});

test('makeClassificationBatch: <bos> first, truncation to maxLen, padding', () => {
  const t = makeClassificationBatch([[5, 6, 7, 8, 9], [4]], { padId: 0, bosId: 1, maxLen: 4 });
  assert.deepEqual(t.shape, [2, 4]);
  assert.deepEqual(Array.from(t.i32), [1, 5, 6, 7, 1, 4, 0, 0]);
});
