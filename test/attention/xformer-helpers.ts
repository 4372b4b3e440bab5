/**
 * Helpers shared by the tests of the linearized, low-rank and compressed cores: packed q/k/v
 * inputs as MultiheadAttention hands them to a core, a key padding bias, outputs with
 * gradients (also used by the core, sparse and content-based tests), a finite-difference check of a core, and a model save/load round trip.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import type { AttentionCore, AttentionState, CoreInput, Heads } from '../../src/attention/index.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { DecoderLM, type DecoderLMConfig } from '../../src/models/decoder-lm.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import type { Module } from '../../src/nn/module.js';
import { gradcheck, maxAbsDiff } from '../helpers.js';

/** The tests' shapes: H heads of width D, model width C = H D, and the core dims of them. */
export const H = 2;
export const D = 4;
export const C = H * D;
export const dims = { numHeads: H, headDim: D };

/** The core input over a packed (B, L, 3C) projection: q, k, v at columns 0, C, 2C. */
export function packedInput(qkv: Tensor, C: number, over: Partial<CoreInput> = {}): CoreInput {
  const [q, k, v] = [0, 1, 2].map((i) => ({ x: qkv, col: i * C })) as [Heads, Heads, Heads];
  return {
    q,
    k,
    v,
    bias: null,
    causal: false,
    offset: 0,
    dropoutP: 0,
    generator: new Generator(1),
    needWeights: false,
    ...over,
  };
}

/** packedInput at the tests' width C. */
export const input = (qkv: Tensor, over: Partial<CoreInput> = {}): CoreInput =>
  packedInput(qkv, C, over);

/** Output (B, T, C) of a core on qkv, without gradient. */
export function coreOut(
  core: AttentionCore,
  qkv: Tensor,
  C: number,
  over: Partial<CoreInput> = {},
): Tensor {
  return noGrad(() => core.forward(packedInput(qkv, C, over)).out);
}

/**
 * Output and d(sum(out * w))/d(qkv) of `f` on a fresh copy of qkv0 (w: fixed random weights,
 * seed 99): what the backend comparisons check.
 */
export function outAndGrad(
  f: (qkv: Tensor) => Tensor,
  qkv0: Tensor,
): { out: Float32Array; grad: Float32Array } {
  const qkv = new Tensor(qkv0.f32.slice(), qkv0.shape).requiresGrad_(true);
  const out = f(qkv);
  F.sum(F.mul(out, randn(out.shape, new Generator(99)))).backward();
  return { out: out.f32.slice(), grad: qkv.grad!.f32.slice() };
}

/** A key padding bias (B, 1, 1, S): -Infinity on the last `pad[b]` keys of row b. */
export function padBias(B: number, S: number, pad: number[]): Tensor {
  const m = zeros([B, 1, 1, S]);
  for (let b = 0; b < B; b++) for (let s = S - pad[b]; s < S; s++) m.f32[b * S + s] = -Infinity;
  return m;
}

/** The gradients of a core's output w.r.t. the packed projection equal finite differences. */
export function gradcheckCore(
  core: AttentionCore,
  qkv: Tensor,
  C: number,
  over: Partial<CoreInput> = {},
): void {
  gradcheck((x) => core.forward(packedInput(x, C, over)).out, [qkv], {
    eps: 1e-2,
    atol: 3e-3,
    rtol: 3e-2,
  });
}

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

/** Random packed projections (B, T, 3C), scaled. */
export function randomQKV(B: number, T: number, C: number, seed: number, scale = 1): Tensor {
  return F.mul(randn([B, T, 3 * C], new Generator(seed)), scale);
}
