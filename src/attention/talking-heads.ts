/**
 * `talking-heads`: talking-heads attention (Shazeer et al. 2020, Sec. 4, Algorithm 2; the
 * survey's Sec. 4.6 "improved multi-head mechanism"): the heads exchange information by
 * learned (H x H) linear maps over the head axis, one on the logits before the softmax
 * (`pre_softmax_proj`) and one on the weights after it (`post_softmax_proj`):
 *
 *   L'_k = sum_h L_h P_l[h, k],  W = softmax(L'),  W'_k = sum_h W_h P_w[h, k],  O_k = W'_k V_k
 *
 * Both start as the identity, where the core equals full attention. Dense: O(T^2 H^2) for
 * the maps, with the autograd ops (no fused kernel). Decodes with a KVState.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width.
 */
import { Tensor, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from '../nn/module.js';
import { causalBias } from './reference.js';
import { headsToBHLD, mergeHeads, type CoreDims, type CoreInput, type CoreOutput } from './core.js';
import { KVAttentionCore, type KVState } from './state.js';

/** An (H, H) map over the head axis, registered as `weight`. */
class HeadMix extends Module {
  readonly weight: Tensor;
  constructor(H: number) {
    super();
    const w = zeros([H, H]);
    for (let h = 0; h < H; h++) w.f32[h * H + h] = 1;
    this.weight = this.param('weight', w);
  }
  /** x (B, H, T, S) -> (B, H, T, S): out[:, k] = sum_h x[:, h] P[h, k]. */
  forward(x: Tensor): Tensor {
    const [B, H, T, S] = x.shape;
    const y = F.matmul(this.weight, F.reshape(x, [B, H, T * S]), { transA: true }); // (B, H, T*S)
    return F.reshape(y, [B, H, T, S]);
  }
}

export class TalkingHeadsAttention extends KVAttentionCore {
  readonly kind = 'talking-heads';
  readonly preSoftmax: HeadMix;
  readonly postSoftmax: HeadMix;
  constructor(dims: CoreDims) {
    super(dims);
    this.preSoftmax = this.child('pre_softmax_proj', new HeadMix(dims.numHeads));
    this.postSoftmax = this.child('post_softmax_proj', new HeadMix(dims.numHeads));
  }

  forward(input: CoreInput, state?: KVState | null): CoreOutput {
    const H = this.numHeads;
    const D = this.headDim;
    const q = headsToBHLD(input.q, H, D); // (B, H, T, D)
    let k = headsToBHLD(input.k, H, D);
    let v = headsToBHLD(input.v, H, D);
    if (state) {
      state.append(k, v);
      [k, v] = state.valid() as [Tensor, Tensor];
    }
    const T = q.shape[2];
    const S = k.shape[2];
    let logits = F.mul(F.matmul(q, k, { transB: true }), 1 / Math.sqrt(D)); // (B, H, T, S)
    logits = this.preSoftmax.forward(logits); // talking before the softmax
    // Masks act on the mixed logits (a forbidden key stays forbidden for every head).
    if (input.bias) logits = F.add(logits, input.bias);
    if (input.causal) logits = F.add(logits, causalBias(T, S, input.offset));
    const weights = F.softmax(logits, -1);
    let mixed = this.postSoftmax.forward(weights); // talking after it
    if (input.dropoutP > 0) mixed = F.dropout(mixed, input.dropoutP, true, input.generator);
    const out = F.matmul(mixed, v); // (B, H, T, D)
    return { out: mergeHeads(out), weights: input.needWeights ? weights : null };
  }
}
