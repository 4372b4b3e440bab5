/**
 * Scaled dot-product attention written out with the differentiable ops, beside the paper's
 * text (Vaswani et al. 2017, Sec. 3.2.1, Eq. 1):
 *
 *   "We compute the dot products of the query with all keys, divide each by sqrt(d_k), and
 *    apply a softmax function to obtain the weights on the values."
 *
 *   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V
 *
 * What a learner reads; the oracle every fused or sparse core is tested against; and the
 * autograd path a new variant can use before it has a kernel of its own. The Annotated
 * Transformer's `attention(query, key, value, mask, dropout)`, line for line.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width (d_k = d_v = D).
 */
import { Tensor, full } from '../tensor.js';
import * as F from '../ops/index.js';
import { mergeHeads, type CoreInput, type CoreOutput } from './core.js';
import { KVAttentionCore, headsOverState, type KVState } from './state.js';
import type { Generator } from '../random.js';

/** Options of `attention`. */
export interface ReferenceOptions {
  /** Additive score bias broadcastable to (B, H, T, S) (-Infinity forbids a key), or null. */
  bias?: Tensor | null;
  /** Forbid keys after the query: key s > query t + offset (Sec. 3.2.3). */
  causal?: boolean;
  /** Absolute position of the first query (keys start at 0). Default S - T. */
  offset?: number;
  /** Dropout probability on the weights, with its generator. */
  dropoutP?: number;
  generator?: Generator;
}

/**
 * Eq. 1, a dozen lines. A query whose keys are all forbidden gets weights 0 and output 0.
 * @param q (B, H, T, D) float32; k (B, H, S, D); v (B, H, S, D).
 * @returns out (B, H, T, D) and the weights (B, H, T, S) (softmax output, before dropout).
 * @throws Error naming the shapes when q, k, v or the bias do not match (from the ops).
 */
export function attention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: ReferenceOptions = {},
): { out: Tensor; weights: Tensor } {
  const [T, D] = q.shape.slice(-2);
  const S = k.shape[k.ndim - 2];
  let scores = F.mul(F.matmul(q, k, { transB: true }), 1 / Math.sqrt(D)); // Q K^T / sqrt(d_k): (B, H, T, S)
  if (opts.bias) scores = F.add(scores, opts.bias); // masks arrive as -Infinity
  if (opts.causal) scores = F.add(scores, causalBias(T, S, opts.offset ?? S - T)); // (T, S)
  const weights = F.softmax(scores, -1); // over the keys
  const p = opts.dropoutP ?? 0;
  const dropped = p > 0 ? F.dropout(weights, p, true, opts.generator) : weights;
  return { out: F.matmul(dropped, v), weights }; // (B, H, T, D)
}

/**
 * The causal mask as an additive (T, S) bias: -Infinity where key s comes after query t,
 * i.e. s > t + offset (0 elsewhere).
 */
export function causalBias(T: number, S: number, offset: number): Tensor {
  const m = full([T, S], 0);
  const d = m.f32;
  for (let t = 0; t < T; t++) for (let s = t + offset + 1; s < S; s++) d[t * S + s] = -Infinity;
  return m;
}

/**
 * `reference`: multi-head attention through `attention` above (autograd only, no fused
 * kernel). Equal to `full` within float rounding; slower. Decodes with a KV state.
 */
export class ReferenceAttention extends KVAttentionCore {
  readonly kind = 'reference';

  forward(input: CoreInput, state?: KVState | null): CoreOutput {
    return referenceForward(input, state ?? null, this.numHeads, this.headDim);
  }
}

/**
 * Multi-head attention of one core call through `attention` (autograd ops only): the
 * `reference` core, and the path of any core whose score bias needs a gradient (learned
 * relative positions), which the fused kernel does not give.
 * @returns out (B, T, H*D), weights (B, H, T, S) when asked.
 */
export function referenceForward(
  input: CoreInput,
  state: KVState | null,
  H: number,
  D: number,
): CoreOutput {
  const [q, k, v] = headsOverState(input, state, H, D); // k, v: (B, H, S_total, D) with a state
  const r = attention(q, k, v, {
    bias: input.bias,
    causal: input.causal,
    offset: input.offset,
    dropoutP: input.dropoutP,
    generator: input.generator,
  });
  return { out: mergeHeads(r.out), weights: input.needWeights ? r.weights : null };
}
