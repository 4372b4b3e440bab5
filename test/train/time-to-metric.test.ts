/** timeToMetric (src/train/time-to-metric.ts) on hand-made metrics.jsonl records. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeToMetric } from '../../src/train/time-to-metric.js';

const records = [
  { step: 1, loss: 5, seconds: 1 },
  { step: 100, loss: 4, seconds: 60, valid_loss: 4.2, valid_bleu: 3 },
  { step: 150, loss: 3.9, seconds: 80 },
  { step: 200, loss: 3.5, seconds: 121, valid_loss: 3.8, valid_bleu: 8.9 },
  { step: 300, loss: 3.2, seconds: 180, valid_loss: 3.6, valid_bleu: 9.5 },
  { step: 400, loss: 3.1, seconds: 240, valid_loss: 3.55, valid_bleu: 10 },
  { averaged_checkpoints: 3, valid_bleu_averaged: 11 },
];

test('time to 90% of the final validation BLEU: the first evaluation at or above it', () => {
  const t = timeToMetric(records)!;
  // 0.9 x 10 = 9: step 200 has 8.9 (below), step 300 has 9.5 (the first at or above).
  assert.deepEqual(
    {
      step: t.step,
      seconds: t.seconds,
      value: t.value,
      final: t.final,
      evaluations: t.evaluations,
    },
    { step: 300, seconds: 180, value: 9.5, final: 10, evaluations: 4 },
  );
  assert.ok(Math.abs(t.target - 9) < 1e-12);
  // A lower fraction is met earlier; fraction 1 only at the end.
  assert.equal(timeToMetric(records, 'valid_bleu', 0.85)!.step, 200);
  assert.equal(timeToMetric(records, 'valid_bleu', 1)!.step, 400);
  // A metric no evaluation reported.
  assert.equal(timeToMetric(records, 'valid_accuracy'), null);
  assert.throws(
    () => timeToMetric(records, 'valid_bleu', 0),
    /fraction must be in \(0, 1\], got 0/,
  );
  assert.throws(() => timeToMetric(records, 'valid_bleu', 1.5), /got 1.5/);
});
