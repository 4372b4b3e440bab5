/**
 * Transformer-XL through the language-modelling task: consecutive segments per stream with
 * the memory carried, validation with memory, the model directory (config.json names the
 * class), evaluation and generation of a saved directory.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/autograd.js';
import { buildLMTask, evalLM, generateText, loadLM } from '../../src/tasks/lm.js';
import { saveModelDir } from '../../src/tasks/modeldir.js';
import { TransformerXL, segmentLoss } from '../../src/models/transformer-xl.js';

const text = 'the quick brown fox jumps over the lazy dog. '.repeat(12);

function task() {
  return buildLMTask({
    text,
    preset: 'tiny',
    overrides: { blockSize: 8, memLen: 8 },
    batchSize: 2,
    seed: 1,
    evalBatches: 2,
    model: 'TransformerXL',
  });
}

test('the XL task feeds consecutive segments with memory and evaluates with memory', () => {
  const t = task();
  assert.ok(t.model instanceof TransformerXL);
  assert.equal(t.dirConfig.model, 'TransformerXL');
  assert.equal(t.dirConfig.config.memLen, 8);
  const xl = t.model as TransformerXL;
  // step 1 then step 2: step 2 attends step 1's segment (differs from a fresh memory)
  noGrad(() => t.loss(1, 0));
  const withMemory = noGrad(() => t.loss(2, 0).loss.item());
  const fresh = noGrad(() => {
    t.loss(5, 0); // a jump: fresh memories
    return t.loss(2, 0).loss.item(); // again a jump (2 after 5): segment 1 alone
  });
  assert.notEqual(withMemory, fresh);
  assert.throws(() => t.loss(3, 1), /gradient accumulation is not supported/);
  const valid = Int32Array.from(t.tokenizer.encode(text)).subarray(Math.floor(text.length * 0.9));
  const expected = segmentLoss(xl, valid, 8, { memory: true, maxSegments: 4 }).loss;
  assert.ok(Math.abs(t.evaluate() - expected) < 1e-6);
});

test('an XL model directory loads, evaluates with memory and generates', async () => {
  const t = task();
  const dir = mkdtempSync(join(tmpdir(), 'tts-xltask-'));
  try {
    await saveModelDir(dir, t.dirConfig, t.model, t.tokenizer);
    const { model } = await loadLM(dir);
    assert.ok(model instanceof TransformerXL);
    const ids = t.tokenizer.encode(text);
    const r = await evalLM(dir, text, 5);
    assert.equal(r.tokens, 40);
    assert.ok(
      Math.abs(r.loss - segmentLoss(model, ids, 8, { memory: true, maxSegments: 5 }).loss) < 1e-6,
    );
    const out = await generateText(dir, 'the ', {
      maxTokens: 5,
      temperature: 0,
      topK: 0,
      topP: 1,
      seed: 1,
    });
    assert.ok(out.startsWith('the ') && out.length > 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
