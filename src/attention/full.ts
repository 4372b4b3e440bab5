/**
 * `full`: the paper's multi-head scaled dot-product attention (Vaswani et al. 2017,
 * Sec. 3.2.1-3.2.2, Eq. 1) in one fused kernel per call, reading the heads straight from the
 * packed projections (no permute copies). Every other core is tested against it or against
 * the readable `attention` of reference.ts. Long inputs (T * S >= TILED_MIN_SCORES per
 * head) run the tiled kernel instead (FlashAttention, Dao et al. 2022; ../ops/tiled-attention.ts):
 * the same result in memory linear in T, no (T, S) buffer kept for the backward.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width.
 */
import * as F from '../ops/index.js';
import { mergeHeads, runOptions, type CoreInput, type CoreOutput } from './core.js';
import { referenceForward } from './reference.js';
import { KVAttentionCore, type KVState } from './state.js';

export class FullAttention extends KVAttentionCore {
  readonly kind = 'full';
  /** ALiBi's diagonals go to the kernels as they are (F.RelativeBias). */
  override readonly acceptsRelativeBias = true;
  /**
   * The tiled kernel: true forces it, false forbids it, undefined (default) uses it from
   * TILED_MIN_SCORES score entries per head. The weights (needWeights) are always dense.
   */
  tiled: boolean | undefined = undefined;

  /**
   * Without a state: one fused kernel over the heads in place (a bias that needs a gradient,
   * learned relative positions, goes through the autograd reference instead). With a state (decoding): the
   * new keys/values are appended to it and the queries attend over all of its rows.
   * @returns out (B, T, H*D), weights (B, H, T, S) when asked.
   */
  forward(input: CoreInput, state?: KVState | null): CoreOutput {
    const H = this.numHeads;
    const D = this.headDim;
    const opts = {
      mask: input.bias,
      relativeBias: input.relativeBias,
      kvLen: input.kvLen,
      causal: input.causal,
      ...runOptions(input),
      tiled: this.tiled,
    };
    if (input.bias?.requiresGrad) return referenceForward(input, state ?? null, H, D); // learned bias
    if (!state) {
      const { q, k, v } = input; // heads read in place from the packed projections
      const cols = { q: q.col, k: k.col, v: v.col };
      return F.multiHeadAttention(q.x, k.x, v.x, H, D, cols, opts); // (B, T, H*D)
    }
    const [q4, k4, v4] = this.splitHeads(input); // (B, H, T, D)
    state.append(k4, v4);
    const r =
      state.k!.shape[2] === state.rows
        ? F.scaledDotProductAttention(q4, state.k!, state.v!, opts) // exact rows (with gradient)
        : F.attentionOverCache(q4, state.k!, state.v!, state.rows, opts); // the first `rows` rows
    return { out: mergeHeads(r.out), weights: r.weights }; // (B, T, H*D)
  }
}
