/**
 * `compressed`: memory-compressed attention (Liu et al. 2018, "Generating Wikipedia by
 * Summarizing Long Sequences", Sec. 4.2.2; the survey's Sec. 4.3.1). The keys and values are
 * shortened by a strided convolution with kernel = stride = `stride` (the paper's 3) before
 * attending, so a query sees S / stride compressed slots:
 *
 *   K~ = conv(K), V~ = conv(V),  head = softmax(Q K~^T / sqrt(D)) V~.
 *
 * The convolution over each window of `stride` rows of one head is a learned (stride*D -> D)
 * map shared by the heads: `key_compress` and `value_compress` (`weight` (D, stride*D), `bias`
 * (D)). Keys are padded with zero rows to a multiple of the stride; a padded key is zeroed
 * before compressing, and a slot whose keys are all padding is masked.
 *
 * Causal (the paper's decoder): slot j, covering positions [j s, (j + 1) s), is visible to the
 * query at position p once its whole window is, (j + 1) s - 1 <= p, so no future key leaks
 * (a query before the first full window attends nothing and gets zeros). Decoding keeps the
 * raw keys and values (a KVState) and compresses them again each call.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width, s stride, J slots
 * (ceil S / s).
 */
import { Tensor, full } from '../tensor.js';
import * as F from '../ops/index.js';
import { Linear } from '../nn/layers.js';
import { checkInt, mergeHeads, type CoreDims, type CoreInput, type CoreOutput } from './core.js';
import { keyKeep, padRowsAfter } from './key-mask.js';
import { KVAttentionCore, headsOverState, type KVState } from './state.js';

/**
 * The additive slot bias: -Infinity on slot j for query t when its window is not all at or
 * before position offset + t (causal), or when every key of the window is padding.
 * @param keep (b0, b1, S, 1) 0/1 kept keys, or null (all kept).
 * @returns (b0|1, b1|1, T|1, J), or null when nothing is masked.
 */
export function slotBias(
  T: number,
  S: number,
  stride: number,
  causal: boolean,
  offset: number,
  keep: Tensor | null,
): Tensor | null {
  const J = Math.ceil(S / stride);
  let bias: Tensor | null = null;
  if (causal) {
    bias = full([T, J], 0);
    for (let t = 0; t < T; t++)
      for (let j = 0; j < J; j++)
        if ((j + 1) * stride - 1 > offset + t) bias.f32[t * J + j] = -Infinity;
  }
  if (keep) {
    const [b0, b1] = keep.shape;
    const pad = full([b0, b1, 1, J], -Infinity); // (b0, b1, 1, J)
    for (let r = 0; r < b0 * b1; r++)
      for (let s = 0; s < S; s++)
        if (keep.f32[r * S + s] !== 0) pad.f32[r * J + Math.floor(s / stride)] = 0;
    bias = bias ? F.add(bias, pad) : pad;
  }
  return bias;
}

export class MemoryCompressedAttention extends KVAttentionCore {
  readonly kind = 'compressed';
  readonly keyCompress: Linear;
  readonly valueCompress: Linear;

  /**
   * @param stride the convolution's kernel and stride s.
   * @throws Error if stride is not an integer >= 1.
   */
  constructor(
    dims: CoreDims,
    readonly stride = 3,
  ) {
    super(dims);
    checkInt('compressed attention', 'stride', stride);
    const D = dims.headDim;
    const opts = { generator: dims.generator };
    this.keyCompress = this.child('key_compress', new Linear(stride * D, D, opts));
    this.valueCompress = this.child('value_compress', new Linear(stride * D, D, opts));
  }

  /**
   * The strided convolution: windows of s rows -> one row each.
   * @param x (B, H, S, D) float32. @returns (B, H, J, D).
   */
  compress(x: Tensor, conv: Linear): Tensor {
    const [B, H, S, D] = x.shape;
    const s = this.stride;
    const J = Math.ceil(S / s);
    const windows = F.reshape(padRowsAfter(x, J * s - S), [B, H, J, s * D]); // (B, H, J, s*D)
    return conv.forward(windows); // (B, H, J, D)
  }

  /**
   * @returns out (B, T, H*D); weights null (they are over the compressed slots).
   * @throws Error for a bias other than a key padding mask.
   */
  forward(input: CoreInput, state?: KVState | null): CoreOutput {
    const H = this.numHeads;
    const D = this.headDim;
    const [q, k0, v0] = headsOverState(input, state, H, D); // (B, H, T|S, D)
    let [k, v] = [k0, v0];
    const T = q.shape[2];
    const S = k.shape[2];
    const keep = keyKeep(input.bias, S, this.kind); // (B|1, H|1, S, 1)
    if (keep) [k, v] = [F.mul(k, keep), F.mul(v, keep)];
    const offset = state ? S - T : input.offset;
    const bias = slotBias(T, S, this.stride, input.causal, offset, keep);
    const kc = this.compress(k, this.keyCompress); // (B, H, J, D)
    const vc = this.compress(v, this.valueCompress);
    const r = F.scaledDotProductAttention(q, kc, vc, {
      mask: bias,
      dropoutP: input.dropoutP,
      generator: input.generator,
    });
    return { out: mergeHeads(r.out), weights: null };
  }
}
