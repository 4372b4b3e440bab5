/**
 * `linear`: the Linear Transformer (Katharopoulos et al. 2020, "Transformers are RNNs",
 * Sec. 3.2, Eq. 4-7; the survey's Sec. 4.2.1): softmax(q k^T) replaced by the kernel
 * phi(q) phi(k)^T with the feature map
 *
 *   phi(x) = elu(x) + 1   (Eq. 7: x + 1 for x > 0, exp(x) otherwise; positive everywhere)
 *
 * and no 1/sqrt(D) scaling (as the paper). Time O(T D^2), memory O(T D) per head; decoding
 * O(D^2) per token (linear-state.ts has the non-causal, chunked causal and recurrent forms).
 *
 * Shape letters: B batch, H heads, L positions, D head width (M = D features).
 */
import type { Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import type { CoreDims } from './core.js';
import { LinearizedCore } from './linear-state.js';

/**
 * elu(x) + 1, written relu(x) + exp(-relu(-x)) with the autograd ops (Eq. 7).
 * @param x any shape, float32.
 * @returns the same shape, every element > 0.
 */
export function eluPlusOne(x: Tensor): Tensor {
  return F.add(F.relu(x), F.exp(F.neg(F.relu(F.neg(x)))));
}

export class LinearAttention extends LinearizedCore {
  readonly kind = 'linear';

  /**
   * @param chunk queries per chunk of the causal form.
   * @throws Error if chunk is not an integer >= 1.
   */
  constructor(dims: CoreDims, chunk = 64) {
    super(dims, chunk);
  }

  /** phi(x) = elu(x) + 1 on every element: (B, H, L, D) -> (B, H, L, D). */
  featureMap(x: Tensor): Tensor {
    return eluPlusOne(x);
  }
}
