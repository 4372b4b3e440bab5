/**
 * `induced`: induced-point attention, the Set Transformer's ISAB (Lee et al. 2019, Sec. 3.2,
 * Eq. 9-10; the survey's Sec. 4.3.2, "prototype" queries). m learned inducing points I attend
 * over the sequence, and the sequence attends over what they gathered:
 *
 *   H = Attn(I, K, V) = softmax(I K^T / sqrt(D)) V          (m x D per head)
 *   out = Attn(Q, H, H) = softmax(Q H^T / sqrt(D)) H        (T x D per head)
 *
 * Time and memory O(T m) per head. As a core on the attention seam, both attentions share the
 * layer's projections: the first takes the projected keys and values, the second uses H as
 * its keys and values (in the paper's ISAB each of the two is a full multihead block, MAB,
 * with projections, residual, norm and feed-forward of its own). One set of points per head:
 * `inducing_points` (H, m, D), Xavier-uniform as the paper's code. Padded keys are masked in
 * the first attention. Non-causal only.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width, m inducing points.
 */
import type { Tensor } from '../tensor.js';
import { zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { defaultGenerator } from '../random.js';
import { uniform } from '../nn/layers.js';
import {
  checkInt,
  mergeHeads,
  type AttentionState,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import { keyBias } from './key-mask.js';
import { NonCausalCore } from './noncausal.js';

export class InducedPointAttention extends NonCausalCore {
  readonly kind = 'induced';
  /** I (H, m, D). */
  readonly inducingPoints: Tensor;

  /**
   * @param points m, the number of inducing points.
   * @throws Error if points is not an integer >= 1.
   */
  constructor(
    dims: CoreDims,
    readonly points = 16,
  ) {
    super(dims);
    checkInt('induced attention', 'points', points);
    const [H, D] = [dims.numHeads, dims.headDim];
    const bound = Math.sqrt(6 / (points + D));
    const I = uniform([H, points, D], bound, dims.generator ?? defaultGenerator);
    this.inducingPoints = this.param('inducing_points', I);
  }

  /**
   * @returns out (B, T, H*D); weights null.
   * @throws Error when causal or with a state, or for a bias other than a key padding mask.
   */
  forward(input: CoreInput, state?: AttentionState | null): CoreOutput {
    this.checkNonCausal(input, state);
    const H = this.numHeads;
    const D = this.headDim;
    const [q, k, v] = this.splitHeads(input); // (B, H, T, D), (B, H, S, D) twice
    const [B, , , S] = [...q.shape.slice(0, 3), k.shape[2]];
    const opts = { dropoutP: input.dropoutP, generator: input.generator };
    const I = F.add(zeros([B, 1, 1, 1]), F.reshape(this.inducingPoints, [1, H, this.points, D])); // (B, H, m, D)
    const gathered = F.scaledDotProductAttention(I, k, v, {
      ...opts,
      mask: keyBias(input.bias, S, this.kind),
    }).out; // H: (B, H, m, D)
    const out = F.scaledDotProductAttention(q, gathered, gathered, opts).out; // (B, H, T, D)
    return { out: mergeHeads(out), weights: null };
  }
}
