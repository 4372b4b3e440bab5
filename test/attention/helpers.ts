/**
 * The attention-core tests' inputs and comparisons (every core test file uses them): the tests'
 * shapes, packed q/k/v inputs as MultiheadAttention hands them to a core, a key padding bias,
 * outputs with gradients and their comparison within a tolerance, and a finite-difference
 * check of a core. Decoding and save/load helpers are in xformer-helpers.ts.
 *
 * B batch, T (or L) sequence length, S key length, H heads, D head width, C = H D model width.
 */
import assert from 'node:assert/strict';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, full, randn, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import type { AttentionCore, CoreInput, Heads } from '../../src/attention/index.js';
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
export function outAndGrad(f: (qkv: Tensor) => Tensor, qkv0: Tensor): OutAndGrad {
  const qkv = new Tensor(qkv0.f32.slice(), qkv0.shape).requiresGrad_(true);
  const out = f(qkv);
  F.sum(F.mul(out, randn(out.shape, new Generator(99)))).backward();
  return { out: out.f32.slice(), grad: qkv.grad!.f32.slice() };
}

/** What outAndGrad returns: the output and the gradient w.r.t. qkv, flattened. */
export interface OutAndGrad {
  out: Float32Array;
  grad: Float32Array;
}

/** outAndGrad of a core's output on the packed projection qkv0 (B, T, 3C), with `over` set. */
export const coreOutAndGrad = (
  core: AttentionCore,
  qkv0: Tensor,
  over: Partial<CoreInput> = {},
): OutAndGrad => outAndGrad((qkv) => core.forward(input(qkv, over)).out, qkv0);

/**
 * Two outAndGrad results agree: outputs and gradients each within `tol` (max absolute
 * difference); the messages start with `what` and give the difference.
 */
export function assertOutAndGradClose(a: OutAndGrad, b: OutAndGrad, what = '', tol = 1e-5): void {
  const dOut = maxAbsDiff(a.out, b.out);
  const dGrad = maxAbsDiff(a.grad, b.grad);
  assert.ok(dOut < tol, `${what}out ${dOut}`);
  assert.ok(dGrad < tol, `${what}grad ${dGrad}`);
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

/** Random packed projections (B, T, 3C), scaled. */
export function randomQKV(B: number, T: number, C: number, seed: number, scale = 1): Tensor {
  return F.mul(randn([B, T, 3 * C], new Generator(seed)), scale);
}

/** The dense (T, T) additive mask of a position pattern's CSR rows: 0 on its entries, -Infinity elsewhere. */
export function maskOfCsr(
  core: { pattern(T: number, causal: boolean): { rowPtr: Int32Array; cols: Int32Array } },
  T: number,
  causal: boolean,
): Tensor {
  const p = core.pattern(T, causal);
  const m = full([T, T], -Infinity);
  for (let t = 0; t < T; t++)
    for (let e = p.rowPtr[t]; e < p.rowPtr[t + 1]; e++) m.f32[t * T + p.cols[e]] = 0;
  return m;
}
