/**
 * `xl`: Transformer-XL's attention (Dai et al. 2019; survey Lin et al. 2021, Sec. 6.4):
 * segment-level recurrence with a memory of the previous segment, and relative positional
 * encoding with the global biases u and v (Sec. 3.3):
 *
 *   A_ij = q_i^T k_j  +  q_i^T W_R R_{i-j}  +  u^T k_j  +  v^T W_R R_{i-j}
 *             (a)             (b)              (c)            (d)
 *        = (q_i + u)^T k_j + (q_i + v)^T W_R R_{i-j}
 *
 * scaled by 1/sqrt(D) before the softmax, as the official code does. R is the sinusoid
 * table (Vaswani et al. Sec. 3.5, in the official code's [sin | cos] layout) of width C = H D
 * with no parameters; W_R (`r_net.weight`, C x C), u (`r_w_bias`, H x D) and v (`r_r_bias`,
 * H x D) are learned, per layer. Terms (b) + (d) are computed for every distance and moved
 * into place with the official code's `_rel_shift` (pad a zero column, reshape, drop a row).
 *
 * Keys and queries: the core's queries are the last T of the S keys (S - T = m keys of
 * memory precede the segment); query t (at relative position m + t) attends keys
 * j <= m + t (causal only: XL is a language model's attention).
 *
 * The memory (XLMemory, the core's decoding state) holds the keys and values of the last M
 * positions seen (memory length M), without gradient. Dai et al. cache the hidden states
 * h_{tau-1} (the layer's input) and project them with the current weights; a KV memory is
 * the same when the weights do not change between segments (evaluation, generation) and, in
 * training, holds the previous step's projections (both are stop-gradient).
 *
 * Shape letters: B batch, H heads, T queries, S keys (m memory + T), D head width, C = H D,
 * M memory length.
 */
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Linear } from '../nn/layers.js';
import type { Generator } from '../random.js';
import {
  AttentionCore,
  checkInt,
  headsToBHLD,
  mergeHeads,
  type AttentionState,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import { causalBias } from './reference.js';
import { selectRows0 } from './state.js';

/** The sinusoid R (S, C) for distances S-1, S-2, ..., 0 (row r: distance S-1-r), [sin | cos]. */
export function relativeSinusoid(S: number, C: number): Tensor {
  const half = C / 2;
  const R = zeros([S, C]);
  for (let r = 0; r < S; r++) {
    const pos = S - 1 - r;
    for (let i = 0; i < half; i++) {
      const a = pos / Math.pow(10000, (2 * i) / C);
      R.f32[r * C + i] = Math.sin(a);
      R.f32[r * C + half + i] = Math.cos(a);
    }
  }
  return R;
}

/**
 * The official `_rel_shift`: x[b, h, t, r] holds the score for distance S-1-r; the result's
 * [b, h, t, j] holds the score for distance (S - T) + t - j where j <= S - T + t (other
 * entries are meaningless and must be masked).
 * @param x (B, H, T, S) @returns (B, H, T, S)
 */
export function relShift(x: Tensor): Tensor {
  const [B, H, T, S] = x.shape;
  const padded = F.concat([zeros([B, H, T, 1]), x], 3); // (B, H, T, S + 1)
  const view = F.reshape(padded, [B, H, S + 1, T]);
  return F.reshape(F.slice(view, 2, 1, S + 1), [B, H, T, S]);
}

/** The memory of one layer: the keys and values of the last M positions, no gradient. */
export class XLMemory implements AttentionState {
  /** (B, H, m, D) with m <= M, or null when empty. */
  k: Tensor | null = null;
  v: Tensor | null = null;
  /** Positions seen so far (all segments). */
  seen = 0;
  constructor(readonly memLen: number) {}

  /**
   * Keys held (m <= M): the query offset of the next call. XL's attention depends on
   * distances only, so the absolute position (`seen`) never enters it.
   */
  get length(): number {
    return this.k ? this.k.shape[2] : 0;
  }

  /**
   * Keep the last M rows of the keys and values a call attended (memory then segment), as
   * copies without gradient (Dai et al.'s SG(.)).
   * @param k (B, H, S, D); v likewise. @param T the segment's new positions.
   */
  update(k: Tensor, v: Tensor, T: number): void {
    this.seen += T;
    const S = k.shape[2];
    const keep = Math.min(this.memLen, S);
    const last = (t: Tensor): Tensor | null => {
      if (keep === 0) return null;
      const s = F.slice(t, 2, S - keep, S); // (B, H, keep, D)
      return new Tensor(s.f32.slice(), s.shape);
    };
    this.k = last(k);
    this.v = last(v);
  }

  selectRows(idx: readonly number[]): void {
    if (this.k) this.k = selectRows0(this.k, idx);
    if (this.v) this.v = selectRows0(this.v, idx);
  }
}

export class XLAttention extends AttentionCore<XLMemory> {
  readonly kind = 'xl';
  readonly supportsCausal = true;
  readonly supportsNonCausal = false;
  /** W_R (`r_net.weight`, C x C): projects the sinusoid R to the heads' key space. */
  readonly rNet: Linear;
  /** u (`r_w_bias`, H x D): the content bias, term (c). */
  readonly rWBias: Tensor;
  /** v (`r_r_bias`, H x D): the position bias, term (d). */
  readonly rRBias: Tensor;

  /**
   * @param memLen M >= 0, the positions of memory kept between calls with a state.
   * @throws Error naming memLen when it is not an integer >= 0.
   */
  constructor(
    dims: CoreDims,
    readonly memLen: number,
  ) {
    super(dims);
    checkInt('xl attention', 'mem-len', memLen, 0);
    const C = dims.numHeads * dims.headDim;
    this.rNet = this.child('r_net', new Linear(C, C, { bias: false }));
    this.rWBias = this.param('r_w_bias', zeros([dims.numHeads, dims.headDim]));
    this.rRBias = this.param('r_r_bias', zeros([dims.numHeads, dims.headDim]));
  }

  /** Draw W_R, u and v again from `gen` (uniform(+-1/sqrt(C)), N(0, 0.02) as the official init). */
  resetParameters(gen: Generator): void {
    const C = this.numHeads * this.headDim;
    const bound = 1 / Math.sqrt(C);
    const w = this.rNet.weight.f32;
    for (let i = 0; i < w.length; i++) w[i] = (2 * gen.uniform() - 1) * bound;
    for (const t of [this.rWBias, this.rRBias])
      for (let i = 0; i < t.size; i++) t.f32[i] = 0.02 * gen.normal();
  }

  newState(): XLMemory {
    return new XLMemory(this.memLen);
  }

  /**
   * Relative attention of the T queries over the memory (from the state, no gradient) and
   * the given keys; the state then keeps the last M keys and values.
   * @returns out (B, T, H*D), weights (B, H, T, m + S) when asked.
   * @throws Error when called non-causally, or when the state's batch differs from the input's.
   */
  forward(input: CoreInput, state?: XLMemory | null): CoreOutput {
    if (!input.causal) throw new Error('xl attention is causal only (a language model attention)');
    const H = this.numHeads;
    const D = this.headDim;
    const q = headsToBHLD(input.q, H, D); // (B, H, T, D)
    let k = headsToBHLD(input.k, H, D); // (B, H, S, D)
    let v = headsToBHLD(input.v, H, D);
    if (state?.k) {
      if (state.k.shape[0] !== k.shape[0])
        throw new Error(
          `xl attention: the memory's keys ${fmtShape(state.k.shape)} do not match this batch's ${fmtShape(k.shape)}`,
        );
      k = F.concat([state.k, k], 2); // (B, H, m + S, D)
      v = F.concat([state.v!, v], 2);
    }
    const [B, , T] = q.shape;
    const S = k.shape[2];
    const r = this.relativeScores(q, k, B, T, S);
    let scores = F.add(r, causalBias(T, S, S - T)); // (B, H, T, S)
    if (input.bias) scores = F.add(scores, input.bias);
    const weights = F.softmax(scores, -1);
    const p = input.dropoutP;
    const dropped = p > 0 ? F.dropout(weights, p, true, input.generator) : weights;
    const out = mergeHeads(F.matmul(dropped, v)); // (B, T, H*D)
    state?.update(k, v, input.q.x.shape[1]);
    return { out, weights: input.needWeights ? weights : null };
  }

  /**
   * (AC + shifted BD) / sqrt(D): terms (a) + (c) and (b) + (d) of A_ij.
   * @param q (B, H, T, D) @param k (B, H, S, D) @returns (B, H, T, S)
   */
  private relativeScores(q: Tensor, k: Tensor, B: number, T: number, S: number): Tensor {
    const H = this.numHeads;
    const D = this.headDim;
    const u = F.reshape(this.rWBias, [1, H, 1, D]);
    const vb = F.reshape(this.rRBias, [1, H, 1, D]);
    const ac = F.matmul(F.add(q, u), k, { transB: true }); // (B, H, T, S): (a) + (c)
    const rk = F.permute(
      F.reshape(this.rNet.forward(relativeSinusoid(S, H * D)), [S, H, D]),
      [1, 0, 2],
    ); // W_R R: (H, S, D), row r for distance S-1-r
    const qv = F.reshape(F.permute(F.add(q, vb), [1, 0, 2, 3]), [H, B * T, D]);
    const bdRaw = F.permute(
      F.reshape(F.matmul(qv, rk, { transB: true }), [H, B, T, S]),
      [1, 0, 2, 3],
    ); // (B, H, T, S): (b) + (d) by distance
    return F.mul(F.add(ac, relShift(bdRaw)), 1 / Math.sqrt(D));
  }
}
