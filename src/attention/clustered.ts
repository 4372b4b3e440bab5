/**
 * `clustered`: clustered attention (Vyas et al. 2020, "Fast Transformers with Clustered
 * Attention", Sec. 3.2, Eq. 5-7; the survey's Sec. 4.3.2). The queries of each head are grouped
 * into C clusters; attention is computed once per cluster, for its centroid, and broadcast to
 * the cluster's queries:
 *
 *   Q^c_j = mean of the queries in cluster j,  A^c = softmax(Q^c K^T / sqrt(D)),
 *   out_i = (A^c V)_{cluster(i)}.
 *
 * Time O(T C D i) for i clustering rounds plus O(C S D) for the attention, instead of O(T S D). The paper clusters by K-means on Hamming
 * distances between LSH hashes of the queries; here plain K-means (Lloyd's iterations) on the
 * queries themselves, started from C evenly spaced queries, `iterations` rounds (an empty
 * cluster keeps its centroid). The clustering has no gradient; the centroids are the means of
 * their queries, so gradients flow through the centroid attention back to every query, as in
 * the paper. With as many clusters as distinct queries it equals full attention. Non-causal.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width, C clusters.
 */
import { backend } from '../backend/index.js';
import { Tensor, empty, uninitF32 } from '../tensor.js';
import * as F from '../ops/index.js';
import {
  checkInt,
  mergeHeads,
  runOptions,
  type AttentionState,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import { keyBias } from './key-mask.js';
import { NonCausalCore } from './noncausal.js';

/**
 * K-means (Lloyd) on the rows of x, per leading matrix: the cluster of every row.
 * @param x (N, T, D) float32 (N = B*H matrices of T rows).
 * @param C clusters (<= T), started from rows floor(j T / C).
 * @param iterations rounds of assign-then-average (at least one assignment is made).
 * @returns (N * T) cluster indices in [0, C).
 */
export function kmeans(x: Tensor, C: number, iterations: number): Int32Array {
  const [N, T, D] = x.shape;
  const xd = x.f32;
  const be = backend();
  const assign = new Int32Array(N * T);
  const cent = new Float32Array(C * D); // the centroids, about the rows' mean
  const sums = new Float32Array(C * D); // the sums of each cluster's rows
  const halfNorms = new Float32Array(C); // -|c_j|^2 / 2, the GEMM's bias
  const dots = uninitF32(T * C); // x_t . c_j - |c_j|^2 / 2
  const best = uninitF32(T);
  const count = new Int32Array(C);
  const rowsN = uninitF32(T * D); // the head's rows minus their mean
  const mean = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    const base = n * T * D;
    const rows = assign.subarray(n * T, (n + 1) * T);
    // Distances are taken about the rows' mean (the argmin does not move): without it a
    // large common offset swamps the differences in |c|^2 - 2 x.c in float32.
    mean.fill(0);
    for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) mean[d] += xd[base + t * D + d] / T;
    for (let t = 0; t < T; t++)
      for (let d = 0; d < D; d++) rowsN[t * D + d] = xd[base + t * D + d] - mean[d];
    for (let j = 0; j < C; j++) {
      const r = Math.floor((j * T) / C);
      cent.set(rowsN.subarray(r * D, (r + 1) * D), j * D);
    }
    for (let it = 0; it <= iterations; it++) {
      // Assign: argmin_j |x_t - c_j|^2 = argmax_j x_t . c_j - |c_j|^2 / 2: one (T, D) x
      // (D, C) GEMM with the norms as its bias, then the native row argmax (first maximum:
      // ties to the lower cluster). The row-by-row loop took ~0.5 s at T 8192, H 4.
      for (let j = 0; j < C; j++) {
        let s2 = 0;
        for (let d = 0; d < D; d++) s2 += cent[j * D + d] * cent[j * D + d];
        halfNorms[j] = -0.5 * s2;
      }
      be.matmul(dots, rowsN, cent, 1, T, C, D, false, true, 0, 0, 0, halfNorms);
      be.max(best, rows, dots, T, C, 1);
      if (it === iterations) break;
      // Update: each centroid the mean of its rows (an empty cluster keeps its centroid).
      // The sums by the native row scatter-add (the embedding's backward): the JavaScript
      // loop over T x D took about half of the clustering at T 8192 (45 -> 24 ms, H 4).
      count.fill(0);
      for (let t = 0; t < T; t++) count[rows[t]]++;
      sums.fill(0);
      be.embeddingBackward(sums, rowsN, rows, T, D);
      for (let j = 0; j < C; j++)
        if (count[j] > 0) for (let d = 0; d < D; d++) cent[j * D + d] = sums[j * D + d] / count[j];
    }
  }
  return assign;
}

export class ClusteredAttention extends NonCausalCore {
  readonly kind = 'clustered';

  /**
   * @param clusters C (at most the number of queries is used).
   * @param iterations Lloyd rounds.
   * @throws Error if clusters < 1 or iterations < 0 (or either is not an integer).
   */
  constructor(
    dims: CoreDims,
    readonly clusters = 32,
    readonly iterations = 10,
  ) {
    super(dims);
    checkInt('clustered attention', 'clusters', clusters);
    checkInt('clustered attention', 'iterations', iterations, 0);
  }

  /**
   * @returns out (B, T, H*D) and, when asked, each query's weights (its centroid's), (B, H, T, S).
   * @throws Error when causal or with a state, or for a bias other than a key padding mask.
   */
  forward(input: CoreInput, state?: AttentionState | null): CoreOutput {
    this.checkNonCausal(input, state);
    const H = this.numHeads;
    const D = this.headDim;
    const [q, k, v] = this.splitHeads(input); // (B, H, T, D), (B, H, S, D) twice
    const [B, , T] = q.shape;
    const S = k.shape[2];
    const C = Math.min(this.clusters, T);
    const assign = kmeans(F.reshape(q, [B * H, T, D]).detach(), C, this.iterations);
    // Averaging (B, H, C, T): 1/|cluster| on its queries (from the step's arena, zeroed:
    // fresh zeros here page-faulted 4 MB a step at T 8192). Broadcasting: each query gathers
    // its centroid's row (the embedding gather, whose backward adds the rows back).
    const avg = empty([B, H, C, T]);
    avg.f32.fill(0);
    const count = new Int32Array(B * H * C);
    const ids = new Int32Array(B * H * T); // row of each query's centroid among B*H*C
    for (let r = 0; r < B * H * T; r++) {
      ids[r] = Math.floor(r / T) * C + assign[r];
      count[ids[r]]++;
    }
    for (let r = 0; r < B * H * T; r++) avg.f32[ids[r] * T + (r % T)] = 1 / count[ids[r]];
    const centroids = F.matmul(avg, q); // Q^c: (B, H, C, D), differentiable in q
    const r = F.scaledDotProductAttention(centroids, k, v, {
      mask: keyBias(input.bias, S, this.kind),
      ...runOptions(input),
    }); // (B, H, C, D), weights (B, H, C, S)
    const rows = new Tensor(ids, [B * H * T]);
    const gather = (x: Tensor, w: number): Tensor =>
      F.reshape(F.embedding(rows, F.reshape(x, [B * H * C, w])), [B, H, T, w]);
    const out = gather(r.out, D); // each query its centroid's output: (B, H, T, D)
    const weights = r.weights ? gather(r.weights, S) : null; // (B, H, T, S)
    return { out: mergeHeads(out), weights };
  }
}
