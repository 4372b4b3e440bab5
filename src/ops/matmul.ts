/**
 * Matrix products: batched matmul with transposed operands, and the fused affine map of
 * nn.Linear. Both run on the backend's GEMM (OpenBLAS sgemm in `native`).
 *
 * Shapes: M, K, N the matrix sizes, `...` batch dimensions.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import { Tensor, empty, fmtShape, numel } from '../tensor.js';

export interface MatmulOptions {
  /** Use a's last two dimensions transposed. */
  transA?: boolean;
  /** Use b's last two dimensions transposed. */
  transB?: boolean;
}

/**
 * Batched matrix product of the last two dimensions, like torch.matmul:
 * a (..., M, K) @ b (..., K, N) -> (..., M, N). Either side may be 2-D (shared across the
 * other's batch); otherwise both batch shapes must be equal.
 * @throws Error naming both shapes when the inner sizes or batch shapes differ.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  if (a.ndim < 2 || b.ndim < 2) {
    throw new Error(
      `matmul: both operands need at least 2 dimensions, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) {
    throw new Error(
      `matmul: inner sizes differ: ${fmtShape(a.shape)}${transA ? '^T' : ''} @ ${fmtShape(b.shape)}${transB ? '^T' : ''} (${K} vs ${Kb})`,
    );
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  let batch: number;
  let outBatch: number[];
  let strideA = M * K;
  let strideB = K * N;
  let m = M;
  if (bBatch.length === 0) {
    outBatch = aBatch;
    batch = numel(aBatch);
    strideB = 0;
    if (!transA && batch > 1) {
      // Fold the batch into the rows: one larger GEMM.
      m = M * batch;
      batch = 1;
      strideA = 0;
    }
  } else if (aBatch.length === 0) {
    outBatch = bBatch;
    batch = numel(bBatch);
    strideA = 0;
  } else {
    if (aBatch.length !== bBatch.length || aBatch.some((d, i) => d !== bBatch[i])) {
      throw new Error(`matmul: batch shapes differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
    }
    outBatch = aBatch;
    batch = numel(aBatch);
  }
  const out = empty([...outBatch, M, N]); // written by the GEMM (beta 0)
  if (out.size > 0) {
    backend().matmul(out.f32, a.f32, b.f32, batch, m, N, K, transA, transB, strideA, strideB, 0);
  }
  return record('matmul', [a, b], out, { batch, M: m, N, K, transA, transB, strideA, strideB });
}

/**
 * The affine map of nn.Linear: y = x W^T + b.
 * @param x (..., inFeatures) float32
 * @param weight (outFeatures, inFeatures) float32 (PyTorch's layout)
 * @param bias (outFeatures) float32 or null
 * @param rows use only rows [from, to) of weight and entries [from, to) of bias (e.g. the
 *   W_K, W_V block of a packed in_proj_weight), without copying them; default all rows.
 * @returns (..., outFeatures), or (..., to - from) with `rows`
 * @throws Error naming the shapes when they disagree.
 */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  rows?: readonly [number, number],
): Tensor {
  if (weight.ndim !== 2)
    throw new Error(`linear: weight must be 2-D, got ${fmtShape(weight.shape)}`);
  const [allOut, inF] = weight.shape;
  const [r0, r1] = rows ?? [0, allOut];
  if (!(Number.isInteger(r0) && Number.isInteger(r1) && r0 >= 0 && r0 <= r1 && r1 <= allOut)) {
    throw new Error(`linear: rows [${r0}, ${r1}) outside weight ${fmtShape(weight.shape)}`);
  }
  const outF = r1 - r0;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inF) {
    throw new Error(
      `linear: input ${fmtShape(x.shape)} does not end in in_features ${inF} of weight ${fmtShape(weight.shape)}`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== allOut)) {
    throw new Error(`linear: bias ${fmtShape(bias.shape)} does not match out_features ${allOut}`);
  }
  const N = x.size / inF;
  const out = empty([...x.shape.slice(0, -1), outF]); // GEMM (beta 0), bias added per block
  const o = out.f32;
  const w = weight.f32.subarray(r0 * inF, r1 * inF);
  const b = bias ? bias.f32.subarray(r0, r1) : null;
  if (N > 0) backend().matmul(o, x.f32, w, 1, N, outF, inF, false, true, 0, 0, 0, b);
  return record('linear', [x, weight, bias], out, {
    N,
    inFeatures: inF,
    outFeatures: outF,
    rowStart: r0,
  });
}
