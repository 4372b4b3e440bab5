/**
 * `local`: sliding-window (band) attention, the survey's "band attention" atomic pattern
 * (Lin et al. 2021, Sec. 4.1.1, Fig. 4(b)); Image Transformer's 1-D local attention
 * (Parmar et al. 2018) and Longformer's sliding window (Beltagy et al. 2020, Sec. 3.1).
 *
 * The query at position i attends the keys j with |i - j| < window (non-causal: at most
 * 2 window - 1 keys) or i - window < j <= i (causal: itself and the window - 1 before it).
 *
 * Computed sparsely by the sparse attention op over the band pattern (SparsePatternCore,
 * ./sparse.ts): time O(T window D) and memory O(T window), never a T x T score matrix. (It was
 * a blocked computation with dense GEMMs over query blocks against their neighbours; the
 * sparse kernel measured 4-5x faster at T 4096-8192, window 128, H 4, D 32, forward +
 * backward.) Decoding keeps only the last window - 1 keys and values in its state. A bias
 * that varies over queries (a (T, S) attention mask) runs the dense kernel under the band
 * mask instead.
 *
 * Shape letters: B batch, H heads, T length, S keys, D head width, w window.
 */
import { Tensor, full } from '../tensor.js';
import * as F from '../ops/index.js';
import {
  checkInt,
  mergeHeads,
  packedHeads,
  runOptions,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import type { KVState } from './state.js';
import { SparsePatternCore } from './sparse.js';
import { bandKeys } from './patterns/atomic.js';

/** Whether key position j is in the window of query position i. */
export function inWindow(i: number, j: number, window: number, causal: boolean): boolean {
  return causal ? j <= i && j > i - window : Math.abs(i - j) < window;
}

/**
 * The band as an additive (T, S) bias (-Infinity outside the window) for queries at
 * positions qStart + t and keys at kStart + s: what `local` equals, as a dense mask.
 */
export function bandBias(
  T: number,
  S: number,
  window: number,
  causal: boolean,
  qStart = 0,
  kStart = 0,
): Tensor {
  const m = full([T, S], 0);
  const d = m.f32;
  for (let t = 0; t < T; t++)
    for (let s = 0; s < S; s++)
      if (!inWindow(qStart + t, kStart + s, window, causal)) d[t * S + s] = -Infinity;
  return m;
}

export class LocalAttention extends SparsePatternCore {
  /** @throws Error if window is not an integer >= 1. */
  constructor(
    dims: CoreDims,
    readonly window: number,
  ) {
    super(dims, 'local', (i, _L, _causal, out) => bandKeys(i, window, out), `local:${window}`);
    checkInt('local attention', 'window', window);
  }

  override forward(input: CoreInput, state?: KVState | null): CoreOutput {
    if (state) return this.decodeWindow(input, state);
    if (input.q.x.shape[1] !== input.k.x.shape[1]) return this.denseBand(input);
    return super.forward(input); // the band pattern, sparsely
  }

  /** Dense fallback: the fused kernel under the band mask added to the bias. */
  private denseBand(input: CoreInput): CoreOutput {
    const T = input.q.x.shape[1];
    const S = input.k.x.shape[1];
    const band = bandBias(T, S, this.window, input.causal, input.offset);
    const bias = input.bias ? F.add(input.bias, band) : band;
    return F.multiHeadAttention(...packedHeads(input, this.numHeads, this.headDim), {
      mask: bias,
      ...runOptions(input),
    });
  }

  /** Decoding: append, attend the held rows under the band, then drop rows out of every future window. */
  private decodeWindow(input: CoreInput, state: KVState): CoreOutput {
    const q = this.appendCausal(input, state); // (B, H, T, D)
    const T = q.shape[2];
    const rows = state.rows;
    const qStart = state.length - T;
    let bias = bandBias(T, rows, this.window, true, qStart, state.start); // (T, rows)
    if (input.bias) {
      const b = input.bias;
      const last = b.shape[b.ndim - 1];
      const held = last === 1 ? b : F.slice(b, b.ndim - 1, last - rows, last);
      bias = F.add(held, bias);
    }
    const opts = {
      mask: bias,
      ...runOptions(input),
    };
    const r =
      state.k!.shape[2] === rows
        ? F.scaledDotProductAttention(q, state.k!, state.v!, opts)
        : F.attentionOverCache(q, state.k!, state.v!, rows, opts);
    if (!state.k!.requiresGrad) state.dropBefore(state.length - this.window + 1);
    return { out: mergeHeads(r.out), weights: r.weights };
  }
}
