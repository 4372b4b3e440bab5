/**
 * The classification task with the issue #14 models: early-exit training and inference
 * (classifyTextsEarlyExit), the hierarchical classifier, and their model directories.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildClassifyTask,
  classifyTexts,
  classifyTextsEarlyExit,
  loadClassifier,
  type ClassifyTaskOptions,
} from '../../src/tasks/classify.js';
import { saveModelDir } from '../../src/tasks/modeldir.js';
import { HierarchicalClassifier } from '../../src/models/hierarchical.js';

const examples = [
  { text: 'good fine great nice', label: 'pos' },
  { text: 'bad awful poor sad', label: 'neg' },
  { text: 'nice and good', label: 'pos' },
  { text: 'sad and bad and poor', label: 'neg' },
];
const base: ClassifyTaskOptions = {
  train: examples,
  valid: examples,
  preset: 'tiny',
  vocabSize: 300,
  maxLen: 16,
  batchTokens: 64,
  seed: 1,
};

async function roundTrip(o: ClassifyTaskOptions) {
  const t = buildClassifyTask(o);
  for (let s = 1; s <= 2; s++) assert.ok(Number.isFinite(t.loss(s, 0).loss.item()));
  const dir = mkdtempSync(join(tmpdir(), 'tts-cls-'));
  try {
    await saveModelDir(dir, t.dirConfig, t.model, t.tokenizer);
    return { t, loaded: await loadClassifier(dir) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('early exit through the task: exits saved, threshold > 1 equals classifyTexts', async () => {
  const { t, loaded } = await roundTrip({ ...base, overrides: { earlyExit: true, numLayers: 3 } });
  assert.equal(t.dirConfig.config.earlyExit, true);
  const texts = examples.map((e) => e.text);
  const { model, tokenizer, labels } = loaded;
  const full = classifyTexts(model, tokenizer, labels, texts);
  const r = classifyTextsEarlyExit(model, tokenizer, labels, texts, { threshold: 2 });
  assert.equal(r.meanLayers, 3);
  assert.deepEqual(
    r.predictions.map((p) => p.label),
    full.map((p) => p.label),
  );
  const r0 = classifyTextsEarlyExit(model, tokenizer, labels, texts, { threshold: 0 });
  assert.equal(r0.meanLayers, 1);
});

test('a model trained without exits refuses early-exit classification', async () => {
  const { loaded } = await roundTrip(base);
  assert.throws(
    () =>
      classifyTextsEarlyExit(loaded.model, loaded.tokenizer, loaded.labels, ['good'], {
        threshold: 0.9,
      }),
    /has no exit classifiers/,
  );
});

test('chunkLen selects the hierarchical classifier, saved and loaded as such', async () => {
  const { t, loaded } = await roundTrip({ ...base, overrides: { chunkLen: 4, numDocLayers: 1 } });
  assert.equal(t.dirConfig.model, 'HierarchicalClassifier');
  assert.ok(loaded.model instanceof HierarchicalClassifier);
  const texts = examples.map((e) => e.text);
  assert.deepEqual(
    classifyTexts(loaded.model, loaded.tokenizer, loaded.labels, texts),
    classifyTexts(t.model, t.tokenizer, t.labels, texts),
  );
});
