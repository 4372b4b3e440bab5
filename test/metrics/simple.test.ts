import { test } from 'node:test';
import assert from 'node:assert/strict';

import { accuracy, perplexity, tokenAccuracy } from '../../src/metrics/index.js';

test('perplexity is exp of the mean NLL in nats', () => {
  assert.equal(perplexity(0), 1);
  // A uniform model over V classes has NLL ln V and perplexity V.
  assert.ok(Math.abs(perplexity(Math.log(50257)) - 50257) < 1e-8);
  assert.equal(perplexity(Infinity), Infinity);
  assert.throws(() => perplexity(-0.1), /meanNll must be >= 0/);
  assert.throws(() => perplexity(Number.NaN), RangeError);
});

test('accuracy counts exact matches over all positions', () => {
  assert.equal(accuracy([1, 2, 3, 4], [1, 0, 3, 0]), 0.5);
  assert.equal(accuracy(Int32Array.from([7]), Float32Array.from([7])), 1);
  assert.throws(() => accuracy([1, 2], [1]), /differ in length/);
  assert.throws(() => accuracy([], []), /no examples/);
});

test('tokenAccuracy skips positions whose label is the pad id', () => {
  // Pad id 0: two real positions, one correct. Counting the pads would give 3/4.
  const result = tokenAccuracy([5, 9, 0, 0], [5, 6, 0, 0], 0);
  assert.deepEqual(result, { accuracy: 0.5, correct: 1, total: 2 });
  // A prediction of a non-pad token at a pad position is ignored too.
  assert.equal(tokenAccuracy([5, 6, 3], [5, 6, -100], -100).accuracy, 1);
  assert.throws(() => tokenAccuracy([0, 0], [0, 0], 0), /every label equals ignoreIndex/);
  assert.throws(() => tokenAccuracy([1], [1, 2], 0), /differ in length/);
});
