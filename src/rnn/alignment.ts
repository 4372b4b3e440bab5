/**
 * Attention for RNN encoder-decoders, as our tutorials introduce it before the Transformer:
 * the decoder's state s scores every encoder state h_j, a softmax over the source turns the
 * scores into alignment weights a_j, and the context c = sum_j a_j h_j replaces the one
 * fixed-length vector of the plain encoder-decoder.
 *
 * - `bahdanau`, additive (Bahdanau et al. 2015, Sec. 3.1 and App. A.1.2):
 *   e_j = v^T tanh(W s + U h_j)
 * - `dot` (Luong et al. 2015, Sec. 3.1, Eq. 8): e_j = s . h_j
 * - `general` (Luong et al. 2015, Eq. 8): e_j = s^T W h_j
 * - local-p (Luong et al. 2015, Sec. 3.2, Eq. 9-10): with a window D, the aligned position
 *   p = S_b sigmoid(v_p^T tanh(W_p s)) (S_b the source's length), scores outside
 *   [p - D, p + D] are dropped, and the softmax weights are multiplied by the Gaussian
 *   exp(-(j - p)^2 / (2 sigma^2)), sigma = D / 2 (not renormalized, as in the paper).
 *   Global attention (D = 0) attends every source position.
 *
 * Shape letters: B batch, S source length, E encoder state width, Q query (decoder state)
 * width, A the additive score's hidden width.
 */
import type { Generator } from '../random.js';
import { Tensor, fmtShape } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from '../nn/module.js';
import { Linear } from '../nn/layers.js';

/** The score function: Bahdanau's additive, or Luong's dot or general. */
export type AlignmentScore = 'bahdanau' | 'dot' | 'general';

export interface AlignmentOptions {
  score: AlignmentScore;
  /** Q, the decoder state's width. */
  queryDim: number;
  /** E, the encoder states' width (dot needs E = Q). */
  memoryDim: number;
  /** local-p's window half-width D (Luong et al. use 10); 0 = global attention. */
  window?: number;
  generator?: Generator;
}

/** One attention read: the context and the alignment weights. */
export interface AlignmentOutput {
  /** (B, E) context vector sum_j a_j h_j. */
  context: Tensor;
  /** (B, S) alignment weights (zero at padding and, for local-p, outside the window). */
  weights: Tensor;
}

export class Alignment extends Module {
  readonly score: AlignmentScore;
  readonly window: number;
  readonly queryDim: number;
  readonly memoryDim: number;
  /** Additive: W (Q -> E) and U (E -> E), v (E -> 1); general: W (Q -> E). */
  readonly wQuery: Linear | null;
  readonly wMemory: Linear | null;
  readonly v: Linear | null;
  /** local-p: W_p (Q -> Q) and v_p (Q -> 1). */
  readonly wP: Linear | null;
  readonly vP: Linear | null;

  /** @throws Error naming the option for an unknown score, dot with E != Q, or a bad window. */
  constructor(o: AlignmentOptions) {
    super();
    if (!['bahdanau', 'dot', 'general'].includes(o.score))
      throw new Error(`attention: unknown score '${o.score}' (bahdanau, dot, general)`);
    if (o.score === 'dot' && o.queryDim !== o.memoryDim)
      throw new Error(
        `attention: dot scores need equal widths, got decoder ${o.queryDim} and encoder ${o.memoryDim}`,
      );
    const window = o.window ?? 0;
    if (!Number.isInteger(window) || window < 0)
      throw new Error(`attention: window must be an integer >= 0, got ${window}`);
    this.score = o.score;
    this.window = window;
    this.queryDim = o.queryDim;
    this.memoryDim = o.memoryDim;
    const g = { generator: o.generator };
    const E = o.memoryDim;
    const Q = o.queryDim;
    this.wQuery =
      o.score === 'dot' ? null : this.child('w_query', new Linear(Q, E, { ...g, bias: false }));
    this.wMemory = o.score === 'bahdanau' ? this.child('w_memory', new Linear(E, E, g)) : null;
    this.v =
      o.score === 'bahdanau' ? this.child('v', new Linear(E, 1, { ...g, bias: false })) : null;
    this.wP = window > 0 ? this.child('w_p', new Linear(Q, Q, { ...g, bias: false })) : null;
    this.vP = window > 0 ? this.child('v_p', new Linear(Q, 1, { ...g, bias: false })) : null;
  }

  /**
   * What the scores need of the memory once per source: U h_j for additive scores (B, S, E),
   * else the memory itself.
   * @param memory (B, S, E) float32
   */
  prepare(memory: Tensor): Tensor {
    return this.wMemory ? this.wMemory.forward(memory) : memory;
  }

  /**
   * Attend.
   * @param query (B, Q) decoder state.
   * @param memory (B, S, E) encoder states; keys = prepare(memory).
   * @param padMask (B, S) bool, true at padding; lengths (B) the sources' lengths (local-p).
   * @throws Error naming the shapes when query and memory do not match.
   */
  forward(
    query: Tensor,
    memory: Tensor,
    keys: Tensor,
    padMask: Tensor | null,
    lengths: readonly number[],
  ): AlignmentOutput {
    const [B, S, E] = memory.shape;
    if (query.ndim !== 2 || query.shape[0] !== B || query.shape[1] !== this.queryDim)
      throw new Error(
        `attention: query ${fmtShape(query.shape)} must be (${B}, ${this.queryDim}) for memory ${fmtShape(memory.shape)}`,
      );
    let scores: Tensor; // (B, 1, S)
    if (this.score === 'bahdanau') {
      const wq = F.reshape(this.wQuery!.forward(query), [B, 1, E]); // W s
      const t = F.tanh(F.add(keys, wq)); // (B, S, E)
      scores = F.reshape(this.v!.forward(t), [B, 1, S]);
    } else {
      const q = this.score === 'general' ? this.wQuery!.forward(query) : query; // (B, E)
      scores = F.matmul(F.reshape(q, [B, 1, E]), keys, { transB: true }); // (B, 1, S)
    }
    const bias = new Float32Array(B * S);
    if (padMask) for (let i = 0; i < B * S; i++) if (padMask.data[i]) bias[i] = -Infinity;
    let gauss: Tensor | null = null;
    if (this.window > 0) {
      const D = this.window;
      const p = F.mul(
        F.sigmoid(this.vP!.forward(F.tanh(this.wP!.forward(query)))),
        new Tensor(Float32Array.from(lengths), [B, 1]),
      ); // (B, 1): p_t = S_b sigmoid(v_p^T tanh(W_p s))
      const pos = new Tensor(
        Float32Array.from({ length: S }, (_, j) => j),
        [1, S],
      );
      gauss = F.exp(F.mul(F.pow(F.sub(pos, p), 2), -1 / (2 * (D / 2) ** 2))); // (B, S)
      for (let b = 0; b < B; b++)
        for (let j = 0; j < S; j++) if (Math.abs(j - p.f32[b]) > D) bias[b * S + j] = -Infinity;
      for (let b = 0; b < B; b++) {
        // Keep at least the position nearest p, so a window past the source is never empty.
        const row = bias.subarray(b * S, (b + 1) * S);
        if (row.every((x) => x === -Infinity)) {
          const j = Math.min(Math.max(Math.round(p.f32[b]), 0), Math.max(lengths[b] - 1, 0));
          row[j] = 0;
        }
      }
    }
    let weights = F.softmax(F.add(F.reshape(scores, [B, S]), new Tensor(bias, [B, S])), -1);
    if (gauss) weights = F.mul(weights, gauss);
    const context = F.reshape(F.matmul(F.reshape(weights, [B, 1, S]), memory), [B, E]); // (B, E)
    return { context, weights };
  }
}
