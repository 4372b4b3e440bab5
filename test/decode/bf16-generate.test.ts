/**
 * Greedy generation in bf16 against fp32 (issue 15 part 2; decode/precision-compare.ts) on a
 * small character LM trained a few dozen steps on a slice of data/tinyshakespeare.txt:
 * - the fp32 run of compareGreedyPrecision is generate()'s greedy decode;
 * - bf16 gives fp32's tokens up to the first step where fp32's top-1 minus top-2 logit is
 *   within 2 delta, delta the largest |logit_bf16 - logit_fp32| of a teacher-forced forward
 *   of the same sequences (no KV cache): divergence only at a near tie;
 * - most prompts agree over all N new tokens;
 * - the bf16Gemm setting in force before the call is restored (also when a decode throws).
 * Native backend only (the js backend has no bf16 GEMM).
 * Legend: P prompts, N new tokens, T context (blockSize), V vocabulary.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { setBackend, withBackend } from '../../src/backend/index.js';
import { configureNative, loadNativeAddon, nativeConfig } from '../../src/backend/native.js';
import { generate } from '../../src/decode/generate.js';
import { compareGreedyPrecision, topMargin } from '../../src/decode/precision-compare.js';
import type { DecoderLM } from '../../src/models/decoder-lm.js';
import { buildLMTask } from '../../src/tasks/lm.js';
import { tensor } from '../../src/tensor.js';
import { AdamW } from '../../src/train/optim.js';
import { maxAbsDiff } from '../helpers.js';

const addon = loadNativeAddon();
const skip = 'error' in addon ? `native addon not built: ${addon.error}` : null;
const initial = skip === null ? nativeConfig() : null;
after(() => {
  if (initial) configureNative({ bf16Gemm: initial.bf16Gemm });
});

const N = 40; // new tokens per prompt
const PROMPTS = [
  'First Citizen:\n',
  'ROMEO:\n',
  'What say you',
  'The king',
  'MENENIUS:\nI',
  'O, ',
  'And ',
  'You are all ',
];
const STEPS = 200; // ~2 s on one thread; after 40 steps greedy decoding gives only spaces

/** One compareGreedyPrecision run and the teacher-forced logit gap of its sequences. */
interface Case {
  name: string;
  r: ReturnType<typeof compareGreedyPrecision>;
  delta: number;
}

/**
 * A character LM (the task's char tokenizer and batches), compared untrained, then trained
 * STEPS AdamW steps in fp32 and compared again.
 */
function trainAndCompare(): { lm: DecoderLM; prompts: number[][]; cases: Case[] } {
  const text = readFileSync('data/tinyshakespeare.txt', 'utf8').slice(0, 60_000);
  const task = buildLMTask({
    text,
    preset: 'tiny',
    overrides: { dModel: 64, nhead: 4, numLayers: 2, blockSize: 64, dimFeedforward: 128 }, // T >= prompt + N
    batchSize: 8,
    seed: 3,
    evalBatches: 1,
  });
  const lm = task.model as DecoderLM;
  const prompts = PROMPTS.map((p) => task.tokenizer.encode(p));
  const compare = (name: string): Case => {
    const r = compareGreedyPrecision(lm, prompts, N);
    return { name, r, delta: teacherForcedGap(lm, r.prompts) };
  };
  const untrained = compare('untrained');
  const opt = new AdamW(lm.parameters(), { lr: 1e-2 });
  configureNative({ bf16Gemm: false });
  for (let step = 1; step <= STEPS; step++) {
    opt.zeroGrad();
    task.loss(step, 0).loss.backward();
    opt.step();
  }
  return { lm, prompts, cases: [untrained, compare(`trained ${STEPS} steps`)] };
}

/**
 * Largest |logit_bf16 - logit_fp32| of one full forward (no KV cache) of each prompt followed
 * by its fp32 continuation, over the rows that predict the new tokens.
 */
function teacherForcedGap(
  lm: DecoderLM,
  seqs: { prompt: readonly number[]; fp32: number[] }[],
): number {
  const V = lm.config.vocabSize;
  let delta = 0;
  for (const { prompt, fp32 } of seqs) {
    const seq = [...prompt, ...fp32].slice(0, -1); // (T') the inputs; T' <= T
    const rows = (bf16: boolean): Float32Array => {
      configureNative({ bf16Gemm: bf16 });
      const y = noGrad(() => lm.forward(tensor([seq], undefined, 'int32'))); // (1, T', V)
      return y.f32.slice((prompt.length - 1) * V); // (N, V)
    };
    delta = Math.max(delta, maxAbsDiff(rows(true), rows(false)));
  }
  configureNative({ bf16Gemm: false });
  return delta;
}

describe('greedy generation in bf16 vs fp32 (compareGreedyPrecision)', () => {
  let lm: DecoderLM;
  let prompts: number[][];
  let cases: Case[];
  before(() => {
    if (skip !== null) return;
    setBackend('native');
    ({ lm, prompts, cases } = trainAndCompare());
  });

  test('the fp32 run is the greedy decode of generate()', (t: TestContext) => {
    if (skip !== null) return t.skip(skip);
    configureNative({ bf16Gemm: false });
    for (const [i, p] of cases[1].r.prompts.entries()) {
      assert.equal(p.fp32.length, N);
      const ref = generate(lm, prompts[i], { maxNewTokens: N, temperature: 0 });
      assert.deepEqual(p.fp32, ref, `prompt ${JSON.stringify(PROMPTS[i])}`);
    }
  });

  test('bf16 equals fp32 up to a step where the fp32 top-2 margin is within 2 delta', (t) => {
    if (skip !== null) return t.skip(skip);
    for (const { name, r, delta } of cases) {
      assert.ok(delta > 0 && delta < 0.5, `${name}: bf16 moved a logit by ${delta}`);
      const decodeGap = Math.max(...r.prompts.map((p) => p.maxLogitDiff));
      assert.ok(decodeGap > 0, `${name}: the bf16 decode gave the fp32 logits (bf16Gemm off?)`);
      for (const [i, p] of r.prompts.entries()) {
        const what = `${name}, prompt ${JSON.stringify(PROMPTS[i])}`;
        assert.ok(p.maxLogitDiff <= 2 * delta, `${what}: gap ${p.maxLogitDiff} vs ${delta}`);
        if (p.divergence === null) {
          assert.deepEqual(p.bf16, p.fp32, what);
          assert.equal(p.margin, null, what);
          continue;
        }
        const d = p.divergence;
        assert.deepEqual(p.bf16.slice(0, d), p.fp32.slice(0, d), `${what}: before ${d}`);
        assert.notEqual(p.bf16[d], p.fp32[d], `${what}: at ${d}`);
        assert.ok(p.margin !== null && p.margin <= 2 * delta, `${what}: margin ${p.margin}`);
        assert.ok(p.margin <= 2 * p.maxLogitDiff, `${what}: ${p.margin} > 2 x ${p.maxLogitDiff}`);
        assert.ok(p.minMargin <= p.margin, `${what}: minMargin ${p.minMargin} > ${p.margin}`);
      }
    }
    // Not vacuous: the near-uniform logits of the untrained model do produce a divergence.
    const diverged = cases.flatMap((c) => c.r.prompts).filter((p) => p.divergence !== null);
    assert.ok(diverged.length > 0, 'no prompt diverged: the near-tie branch went untested');
  });

  test(`after training, most prompts (>= 3/4) agree over all ${N} new tokens`, (t) => {
    if (skip !== null) return t.skip(skip);
    const { r } = cases[1];
    const agree = r.prompts.filter((p) => p.divergence === null).length;
    const where = r.prompts.map((p) => `${p.divergence ?? '-'} (${p.margin?.toFixed(4) ?? '-'})`);
    assert.ok(agree >= Math.ceil((3 / 4) * PROMPTS.length), `divergences: ${where.join(', ')}`);
    assert.equal(r.fp32.tokens, N * PROMPTS.length);
    assert.equal(r.bf16.tokens, N * PROMPTS.length);
  });

  test('restores the bf16Gemm setting in force before it, also after an error', (t) => {
    if (skip !== null) return t.skip(skip);
    for (const setting of [true, false]) {
      configureNative({ bf16Gemm: setting });
      compareGreedyPrecision(lm, prompts.slice(0, 1), 2);
      assert.equal(nativeConfig().bf16Gemm, setting);
      // The second prompt's id is outside the vocabulary: embedding throws mid-way.
      const bad = [prompts[0], [lm.config.vocabSize]];
      assert.throws(() => compareGreedyPrecision(lm, bad, 2), /outside the vocabulary/);
      assert.equal(nativeConfig().bf16Gemm, setting);
    }
  });

  test('bad arguments and the js backend are refused, naming what is wrong', (t) => {
    if (skip !== null) return t.skip(skip);
    assert.throws(() => compareGreedyPrecision(lm, prompts, 0), /maxNewTokens .* got 0/);
    assert.throws(() => compareGreedyPrecision(lm, [], 4), /prompts is empty/);
    assert.throws(() => compareGreedyPrecision(lm, [[1], []], 4), /prompt 1 has no tokens/);
    assert.throws(
      () => withBackend('js', () => compareGreedyPrecision(lm, prompts, 4)),
      /native backend \(the backend in use is js\)/,
    );
    assert.equal(topMargin(Float32Array.of(1, 3, -Infinity, 2.5)), 0.5);
    assert.equal(topMargin(Float32Array.of(1, -Infinity)), Infinity);
  });
});
