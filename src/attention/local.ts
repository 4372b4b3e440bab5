/**
 * `local`: sliding-window (band) attention, the survey's "band attention" atomic pattern
 * (Lin et al. 2021, Sec. 4.1.1, Fig. 4(b)); Image Transformer's 1-D local attention
 * (Parmar et al. 2018) and Longformer's sliding window (Beltagy et al. 2020, Sec. 3.1).
 *
 * The query at position i attends the keys j with |i - j| < window (non-causal: at most
 * 2 window - 1 keys) or i - window < j <= i (causal: itself and the window - 1 before it).
 *
 * Computed in blocks of `window` queries, each against its own key block and its
 * neighbours (the previous one, and the next when non-causal), with the differentiable
 * ops: time O(T window D) and memory O(T window), never a T x T score matrix. Decoding keeps
 * only the last window - 1 keys and values in its state. A bias that varies over queries
 * (a (T, S) attention mask) runs the dense kernel under the band mask instead.
 *
 * Shape letters: B batch, H heads, T length, D head width, w window, n blocks (ceil T / w),
 * K keys per block (2w causal, 3w otherwise).
 */
import { Tensor, full, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { headsToBHLD, mergeHeads, type CoreDims, type CoreInput, type CoreOutput } from './core.js';
import { KVAttentionCore, type KVState } from './state.js';

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

export class LocalAttention extends KVAttentionCore {
  readonly kind = 'local';

  /** @throws Error if window is not an integer >= 1. */
  constructor(
    dims: CoreDims,
    readonly window: number,
  ) {
    super(dims);
    if (!Number.isInteger(window) || window < 1)
      throw new Error(`local attention: window must be an integer >= 1, got ${window}`);
  }

  forward(input: CoreInput, state?: KVState | null): CoreOutput {
    if (state) return this.decode(input, state);
    const T = input.q.x.shape[1];
    const S = input.k.x.shape[1];
    const keyBias = T === S ? keyOnly(input.bias, input.q.x.shape[0], this.numHeads, S) : null;
    if (T !== S || (input.bias && !keyBias)) return this.dense(input);
    return this.blocked(input, keyBias);
  }

  /** The blocked computation (see the file's comment). */
  private blocked(input: CoreInput, keyBias: Tensor | null): CoreOutput {
    const H = this.numHeads;
    const D = this.headDim;
    const w = this.window;
    const causal = input.causal;
    const q = headsToBHLD(input.q, H, D); // (B, H, T, D)
    const k = headsToBHLD(input.k, H, D);
    const v = headsToBHLD(input.v, H, D);
    const [B, , T] = q.shape;
    const n = Math.ceil(T / w);
    const after = n * w - T + (causal ? 0 : w); // padding rows after the keys
    const nb = causal ? 2 : 3; // key blocks per query block
    const qb = F.reshape(padRows(q, 0, n * w - T), [B, H, n, w, D]); // (B, H, n, w, D)
    // (a, b, L, d) -> (a, b, n, K, d): for query block i, the rows of blocks i-1, i (, i+1).
    const blocks = (x: Tensor): Tensor => {
      const [a, b, , d] = x.shape;
      const p = F.reshape(padRows(x, w, after), [a, b, n + nb - 1, w, d]); // (a, b, n+nb-1, w, d)
      const parts = Array.from({ length: nb }, (_, j) => F.slice(p, 2, j, j + n));
      return F.concat(parts, 3); // (a, b, n, K, d)
    };
    const kb = blocks(k);
    const vb = blocks(v);
    let scores = F.mul(F.matmul(qb, kb, { transB: true }), 1 / Math.sqrt(D)); // (B, H, n, w, K)
    scores = F.add(scores, blockBand(n, w, nb, T, causal)); // (n, w, K)
    if (keyBias) {
      const [a, b] = keyBias.shape;
      scores = F.add(scores, F.reshape(blocks(keyBias), [a, b, n, 1, nb * w])); // (a, b, n, 1, K)
    }
    const weights = F.softmax(scores, -1);
    const p = input.dropoutP;
    const dropped = p > 0 ? F.dropout(weights, p, true, input.generator) : weights;
    const out = F.matmul(dropped, vb); // (B, H, n, w, D)
    const rows = F.slice(F.reshape(out, [B, H, n * w, D]), 2, 0, T); // (B, H, T, D)
    const dense = input.needWeights ? unblockWeights(weights, T, w, nb) : null;
    return { out: mergeHeads(rows), weights: dense };
  }

  /** Dense fallback: the fused kernel under the band mask added to the bias. */
  private dense(input: CoreInput): CoreOutput {
    const T = input.q.x.shape[1];
    const S = input.k.x.shape[1];
    const band = bandBias(T, S, this.window, input.causal, input.offset);
    const bias = input.bias ? F.add(input.bias, band) : band;
    const { q, k, v } = input;
    return F.multiHeadAttention(
      q.x,
      k.x,
      v.x,
      this.numHeads,
      this.headDim,
      { q: q.col, k: k.col, v: v.col },
      {
        mask: bias,
        dropoutP: input.dropoutP,
        generator: input.generator,
        needWeights: input.needWeights,
      },
    );
  }

  /** Decoding: append, attend the held rows under the band, then drop rows out of every future window. */
  private decode(input: CoreInput, state: KVState): CoreOutput {
    if (!input.causal)
      throw new Error('local attention: decoding with a state needs causal attention');
    const H = this.numHeads;
    const D = this.headDim;
    const q = headsToBHLD(input.q, H, D); // (B, H, T, D)
    state.append(headsToBHLD(input.k, H, D), headsToBHLD(input.v, H, D));
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
      dropoutP: input.dropoutP,
      generator: input.generator,
      needWeights: input.needWeights,
    };
    const r =
      state.k!.shape[2] === rows
        ? F.scaledDotProductAttention(q, state.k!, state.v!, opts)
        : F.attentionOverCache(q, state.k!, state.v!, rows, opts);
    if (!state.k!.requiresGrad) state.dropBefore(state.length - this.window + 1);
    return { out: mergeHeads(r.out), weights: r.weights };
  }
}

/** x (B, H, L, D) with `before` and `after` zero rows added along L. */
function padRows(x: Tensor, before: number, after: number): Tensor {
  if (before === 0 && after === 0) return x;
  const [a, b, , d] = x.shape;
  const parts: Tensor[] = [];
  if (before > 0) parts.push(zeros([a, b, before, d]));
  parts.push(x);
  if (after > 0) parts.push(zeros([a, b, after, d]));
  return F.concat(parts, 2);
}

/**
 * The band inside the blocks, with the keys outside [0, T) (padding) forbidden: (n, w, K),
 * where key c of block i is at position (i - 1) w + c and query r at i w + r.
 */
function blockBand(n: number, w: number, nb: number, T: number, causal: boolean): Tensor {
  const K = nb * w;
  const m = zeros([n, w, K]);
  const d = m.f32;
  for (let i = 0; i < n; i++)
    for (let r = 0; r < w; r++)
      for (let c = 0; c < K; c++) {
        const qi = i * w + r;
        const kj = (i - 1) * w + c;
        if (kj < 0 || kj >= T || !inWindow(qi, kj, w, causal)) d[(i * w + r) * K + c] = -Infinity;
      }
  return m;
}

/**
 * The bias as a per-key (B|1, H|1, S, 1) tensor when it does not vary over queries (a key
 * padding mask, (B, 1, 1, S)), else null.
 */
function keyOnly(bias: Tensor | null, B: number, H: number, S: number): Tensor | null {
  if (!bias) return null;
  const s = bias.ndim === 4 ? bias.shape : null;
  if (!s || s[2] !== 1 || s[3] !== S || (s[0] !== 1 && s[0] !== B) || (s[1] !== 1 && s[1] !== H))
    return null;
  return F.reshape(bias, [s[0], s[1], S, 1]); // rows like keys, so `blocks` unfolds it
}

/** Blocked weights (B, H, n, w, K) back to a dense (B, H, T, T) matrix (for display). */
function unblockWeights(wb: Tensor, T: number, w: number, nb: number): Tensor {
  const [B, H, n] = wb.shape;
  const K = nb * w;
  const out = zeros([B, H, T, T]);
  const src = wb.f32;
  const dst = out.f32;
  for (let bh = 0; bh < B * H; bh++)
    for (let i = 0; i < n; i++)
      for (let r = 0; r < w; r++) {
        const t = i * w + r;
        if (t >= T) break;
        for (let c = 0; c < K; c++) {
          const s = (i - 1) * w + c;
          if (s >= 0 && s < T) dst[(bh * T + t) * T + s] = src[((bh * n + i) * w + r) * K + c];
        }
      }
  return out;
}
