/** transformers.js's text-classification pipeline on an exported EncoderClassifier (see tjs.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadClassifier } from '../../src/tasks/classify.js';
import { classifierDir } from './model-dirs.js';
import { exported } from './tjs.js';

test('transformers.js text-classification on the exported directory: label and score equal our classify, one by one and batched', async () => {
  const { dir } = classifierDir();
  const { pipe: classifier, config } = await exported(dir, 'text-classification');
  assert.equal(config.model_type, 'bert');
  assert.deepEqual(config.id2label, { 0: 'neg', 1: 'neutral', 2: 'pos' });
  const texts = ['the lazy dog', 'a cat sat on a mat', 'zebras vex quirky yaks!'];
  const ours = loadClassifier(dir).classify(texts);
  for (const [i, text] of texts.entries()) {
    const got = (await classifier(text)) as { label: string; score: number }[];
    assert.equal(got[0].label, ours[i].label, `'${text}'`);
    assert.ok(
      Math.abs(got[0].score - ours[i].probability) < 1e-4,
      `'${text}': score ${got[0].score} vs ${ours[i].probability}`,
    );
  }
  // One padded batch (transformers.js pads with <pad> on the right and masks it).
  const batch = (await classifier(texts)) as { label: string; score: number }[];
  batch.forEach((r, i) => {
    assert.equal(r.label, ours[i].label, `batched '${texts[i]}'`);
    assert.ok(Math.abs(r.score - ours[i].probability) < 1e-4, `batched '${texts[i]}'`);
  });
  await classifier.dispose();
});
