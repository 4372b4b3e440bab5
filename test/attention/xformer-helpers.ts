/**
 * Decoding and save/load helpers of the attention-core tests: self-attention decoded a
 * position at a time with a core's state, a tiny language model's cached logits, and models
 * saved and loaded. The cores' inputs and comparisons are in helpers.ts (re-exported here).
 *
 * B batch, L sequence length, C model width, H heads, V vocabulary.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import type { AttentionState } from '../../src/attention/index.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { DecoderLM, type DecoderLMConfig } from '../../src/models/decoder-lm.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import type { Module } from '../../src/nn/module.js';
import { maxAbsDiff } from '../helpers.js';
import { C, H } from './helpers.js';

export * from './helpers.js';

/**
 * Causal self-attention decoded with `state`: the first `first` positions of x (B, L, C) in
 * one call, then one position per call, without gradient. @returns the outputs (B, L, C).
 */
export function decodeInSteps(
  mha: MultiheadAttention,
  x: Tensor,
  state: AttentionState,
  first = 3,
): Tensor {
  return noGrad(() => {
    const p = F.slice(x, 1, 0, first);
    const out = [mha.forward(p, p, p, { isCausal: true }, state).out];
    for (let t = first; t < x.shape[1]; t++) {
      const xt = F.slice(x, 1, t, t + 1);
      out.push(mha.forward(xt, xt, xt, { isCausal: true }, state).out);
    }
    return F.concat(out, 1);
  });
}

/**
 * Cached decoding (a 3-token prompt, then a token a step) of a self-attention module under
 * `spec` vs its full causal pass, over L positions (checks the state holds L).
 * @returns the largest absolute difference of the outputs.
 */
export function decodeDiff(spec: string, L: number): number {
  const mha = new MultiheadAttention(C, H, {
    kind: 'self',
    attention: spec,
    generator: new Generator(5),
  }).eval();
  const x = randn([2, L, C], new Generator(6));
  const uncached = noGrad(() => mha.forward(x, x, x, { isCausal: true }).out);
  const state = mha.newState();
  const steps = decodeInSteps(mha, x, state);
  assert.equal(state.length, L);
  return maxAbsDiff(steps.f32, uncached.f32);
}

/**
 * A language model's logits decoded with its caches: the first `first` tokens of idx (1, T)
 * int32 in one call, then one token per call, without gradient. @returns (1, T, V).
 */
export function cachedLogits(lm: DecoderLM, idx: Tensor, first = 4): Tensor {
  const caches = lm.newCaches();
  return noGrad(() => {
    const out = [lm.forward(F.slice(idx, 1, 0, first), caches, 0)];
    for (let t = first; t < idx.shape[1]; t++)
      out.push(lm.forward(F.slice(idx, 1, t, t + 1), caches, t));
    return F.concat(out, 1);
  });
}

/** A tiny DecoderLM config (blockSize 16, two layers, no dropout) under `attention`. */
export const tinyLMConfig = (attention: string): DecoderLMConfig => ({
  vocabSize: 11,
  blockSize: 16,
  dModel: C,
  nhead: H,
  numLayers: 2,
  dropout: 0,
  attention,
});

/** Save `a`, load into `b` (built with another seed), and check they give the same output. */
function roundTrip(a: Module, b: Module, run: (m: Module) => Tensor): void {
  const before = noGrad(() => run(a));
  assert.ok(maxAbsDiff(noGrad(() => run(b)).f32, before.f32) > 1e-4, 'the seeds differ');
  const dir = mkdtempSync(join(tmpdir(), 'xformer-'));
  try {
    saveModel(a, join(dir, 'm.safetensors'));
    loadModel(b, join(dir, 'm.safetensors'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(maxAbsDiff(noGrad(() => run(b)).f32, before.f32) < 1e-6, 'same logits after load');
}

/** A tiny DecoderLM under `attention` saves, loads and gives the same logits. */
export function lmRoundTrip(attention: string, blockSize = 12): void {
  const cfg = { vocabSize: 11, blockSize, dModel: 8, nhead: 2, numLayers: 2, dropout: 0 };
  const make = (seed: number): DecoderLM =>
    new DecoderLM({ ...cfg, attention }, new Generator(seed)).eval();
  const idx = tensor([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], undefined, 'int32');
  roundTrip(make(1), make(99), (m) => (m as DecoderLM).forward(idx));
}

/** A tiny EncoderClassifier under `attention` saves, loads and gives the same logits. */
export function classifierRoundTrip(attention: string, maxLen = 12): void {
  const cfg = { vocabSize: 11, numClasses: 3, dModel: 8, nhead: 2, numLayers: 2, dropout: 0 };
  const make = (seed: number): EncoderClassifier =>
    new EncoderClassifier({ ...cfg, maxLen, attention }, new Generator(seed)).eval();
  const ids = tensor(
    [
      [1, 2, 3, 4, 5, 6, 7, 8],
      [3, 4, 5, 6, 0, 0, 0, 0],
    ],
    undefined,
    'int32',
  );
  roundTrip(make(1), make(99), (m) => (m as EncoderClassifier).forward(ids));
}
