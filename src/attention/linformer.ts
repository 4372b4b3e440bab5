/**
 * `linformer`: low-rank self-attention (Wang et al. 2020, "Linformer: Self-Attention with
 * Linear Complexity", Sec. 4, Eq. 7; the survey's Sec. 4.4): the keys and values are projected
 * along the length by learned (k x n) matrices E and F before attending,
 *
 *   head = softmax(Q (E K)^T / sqrt(D)) (F V),
 *
 * so the score matrix is (T x k), not (T x T). n is the model's context (`max-len`, 0 = taken
 * from the model); a sequence of T < n keys uses the first T columns of E and F, as the
 * reference implementation (lucidrains/linformer) does. One E and F per layer, shared by the
 * heads (the paper's headwise sharing); `share-kv` uses E for the values too (key-value
 * sharing, F = E). Parameters `proj_e` and `proj_f` (k, n), initialized U(-1/sqrt(k),
 * 1/sqrt(k)) as the reference. Padded keys and values are zeroed before the projection.
 * Non-causal only (a projection along the length mixes future positions in).
 *
 * Shape letters: B batch, H heads, T queries, S keys (<= n), D head width, k projected length,
 * n max-len.
 */
import type { Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import {
  checkInt,
  headsToBHLD,
  mergeHeads,
  type AttentionState,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import { keyKeep } from './key-mask.js';
import { NonCausalCore } from './noncausal.js';
import { uniform } from '../nn/layers.js';
import { defaultGenerator } from '../random.js';

export class LinformerAttention extends NonCausalCore {
  readonly kind = 'linformer';
  /** n, the longest key sequence. */
  readonly maxLen: number;
  /** E (k, n): the keys' projection along the length. */
  readonly projE: Tensor;
  /** F (k, n): the values' (E itself when shared). */
  readonly projF: Tensor;

  /**
   * @param k the projected length.
   * @param maxLen n; 0 takes the model's context (dims.maxLen).
   * @param shareKV use E for the values too.
   * @throws Error if k < 1, if n is unknown (max-len 0 and no model context) or differs from
   *   the model's context.
   */
  constructor(
    dims: CoreDims,
    readonly k: number,
    maxLen = 0,
    readonly shareKV = false,
  ) {
    super(dims);
    checkInt('linformer attention', 'k', k);
    const n = maxLen || dims.maxLen || 0;
    if (!Number.isInteger(n) || n < 1)
      throw new Error(
        `linformer attention: max-len is required (the model's context n), got ${maxLen}`,
      );
    if (maxLen && dims.maxLen && maxLen !== dims.maxLen)
      throw new Error(
        `linformer attention: max-len=${maxLen} must match the model's context ${dims.maxLen}`,
      );
    this.maxLen = n;
    const gen = dims.generator ?? defaultGenerator;
    const init = (): Tensor => uniform([k, n], 1 / Math.sqrt(k), gen);
    this.projE = this.param('proj_e', init());
    this.projF = shareKV ? this.projE : this.param('proj_f', init());
  }

  /**
   * @returns out (B, T, H*D); weights null (they are over the k projected keys).
   * @throws Error when causal or with a state, when S > max-len, or for a bias other than a
   *   key padding mask.
   */
  forward(input: CoreInput, state?: AttentionState | null): CoreOutput {
    this.checkNonCausal(input, state);
    const H = this.numHeads;
    const D = this.headDim;
    const q = headsToBHLD(input.q, H, D); // (B, H, T, D)
    let k = headsToBHLD(input.k, H, D); // (B, H, S, D)
    let v = headsToBHLD(input.v, H, D);
    const S = k.shape[2];
    if (S > this.maxLen)
      throw new Error(`linformer attention: ${S} keys exceed max-len ${this.maxLen}`);
    const keep = keyKeep(input.bias, S, this.kind); // (B|1, H|1, S, 1)
    if (keep) [k, v] = [F.mul(k, keep), F.mul(v, keep)];
    const cols = (p: Tensor): Tensor => (S === this.maxLen ? p : F.slice(p, 1, 0, S)); // (k, S)
    const kp = F.matmul(cols(this.projE), k); // E K: (B, H, k, D)
    const vp = F.matmul(cols(this.projF), v); // F V: (B, H, k, D)
    const r = F.scaledDotProductAttention(q, kp, vp, {
      dropoutP: input.dropoutP,
      generator: input.generator,
    });
    return { out: mergeHeads(r.out), weights: null };
  }
}
