/**
 * Multi-head attention (Vaswani et al. 2017, Sec. 3.2.2), with PyTorch's parameter layout
 * (torch.nn.MultiheadAttention): packed `in_proj_weight` (3C, C) holding W_Q, W_K, W_V in
 * that order, `in_proj_bias` (3C), and `out_proj` (W_O). Between the projections and W_O
 * sits an attention *core* (src/attention/): `full` (Eq. 1, one fused kernel) by default,
 * or any registered variant, chosen by name.
 *
 * Self- or cross-attention is fixed at construction (`kind`): it decides what a decoding
 * state holds (self: the keys and values of every position so far, appended each call;
 * cross: the memory's projected keys and values, computed on the first call only). Which
 * tensors are passed never changes that.
 *
 * Shape letters: B batch, T query length, S key length, C d_model (embed_dim),
 * H heads, D = C / H head width.
 *
 * Mask convention (PyTorch's): a bool mask is true where attention is NOT allowed; a float
 * mask is added to the scores (-Infinity forbids). A query whose keys are all masked gets
 * zeros, never NaN (PyTorch returns NaN there).
 */
import { defaultGenerator } from '../random.js';
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import type { AttentionCore, AttentionState, Heads } from '../attention/core.js';
import { createAttentionCore, type AttentionSpec } from '../attention/registry.js';
import { createRelativePosition, type RelativePosition } from '../attention/positions.js';
import { selectRows0 } from '../attention/state.js';
import { Linear, xavierUniform, type InitOptions } from './layers.js';
import { Module } from './module.js';

export interface AttentionForwardOptions {
  /** (B, S) bool (true = padding, ignored) or float additive. */
  keyPaddingMask?: Tensor | null;
  /** (T, S) or (B*H, T, S), bool (true = not allowed) or float additive. */
  attnMask?: Tensor | null;
  /** Apply a causal mask (query t may attend keys s <= t + S - T), in addition to attnMask. */
  isCausal?: boolean;
  /** Return the attention weights. */
  needWeights?: boolean;
  /** Average the returned weights over heads ((B, T, S)); otherwise (B, H, T, S). Default true. */
  averageAttnWeights?: boolean;
}

/** Self-attention (keys and values from the sequence itself) or cross-attention (from a memory). */
export type AttentionKind = 'self' | 'cross';

/**
 * A cross-attention decoding state: the memory's projected keys and values (B, S, W) as
 * heads, computed on the first call and reused by every later one.
 */
export class CrossAttentionState implements AttentionState {
  k: Heads | null = null;
  v: Heads | null = null;
  get length(): number {
    return this.k ? this.k.x.shape[1] : 0;
  }
  selectRows(idx: readonly number[]): void {
    if (!this.k || !this.v) return;
    const kx = selectRows0(this.k.x, idx);
    const vx = this.v.x === this.k.x ? kx : selectRows0(this.v.x, idx);
    this.k = { x: kx, col: this.k.col };
    this.v = { x: vx, col: this.v.col };
  }
}

export interface MultiheadAttentionOptions extends InitOptions {
  /** Dropout on the attention weights. Default 0. */
  dropout?: number;
  /** Biases in the projections. Default true. */
  bias?: boolean;
  /** 'self' or 'cross' (default: 'cross', PyTorch's general query/key/value call). */
  kind?: AttentionKind;
  /** The core: a registry spec (`'full'`, `'local:window=64'`) or a built core. Default 'full'. */
  attention?: string | AttentionSpec | AttentionCore;
  /**
   * A relative position scheme for self-attention (`'rope'`, `'alibi'`, `'t5'`, `'shaw'`, see
   * src/attention/positions.ts), applied to q/k or the scores before the core; absolute
   * schemes (`'sinusoidal'`, `'learned'`) act on the embeddings and are ignored here.
   */
  position?: string;
  /**
   * Key/value heads G (multi-query 1, grouped-query G dividing H; default H): the K and V
   * projections have G*D rows each, and each key/value head serves H/G query heads.
   */
  kvHeads?: number;
  /** The model's context (longest sequence), for cores whose parameters depend on it (Linformer). */
  maxLen?: number;
}

/** Convert a mask to additive float form (bool true -> -Infinity). */
export function toAdditiveMask(mask: Tensor): Tensor {
  if (mask.dtype === 'float32') return mask;
  if (mask.dtype !== 'bool')
    throw new Error(`attention mask must be bool or float32, got ${mask.dtype}`);
  const out = zeros(mask.shape);
  const m = mask.data;
  const o = out.f32;
  for (let i = 0; i < m.length; i++) o[i] = m[i] ? -Infinity : 0;
  return out;
}

export class MultiheadAttention extends Module {
  readonly inProjWeight: Tensor;
  readonly inProjBias: Tensor | null;
  readonly outProj: Linear;
  readonly headDim: number;
  /** Key/value heads G (H unless multi- or grouped-query). */
  readonly kvHeads: number;
  readonly kind: AttentionKind;
  /** Everything between the projections and W_O (state-dict names under `core.`). */
  readonly core: AttentionCore;
  /** The relative position scheme of a self-attention, or null (names under `position.`). */
  readonly position: RelativePosition | null;
  /** Attention weights of the last forward, (B, H, T, S), when `captureWeights` is set. */
  lastWeights: Tensor | null = null;
  /** Keep (a copy of) the per-head weights of every forward in `lastWeights` (for visualization). */
  captureWeights = false;

  /**
   * @param embedDim C (d_model)
   * @param numHeads H; C must be divisible by H
   * @param opts dropout on the attention weights, bias, generator, kind, attention core
   * @throws Error if C is not divisible by H, kvHeads does not divide H, or the attention
   *   spec is unknown.
   */
  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    readonly opts: MultiheadAttentionOptions = {},
  ) {
    super();
    if (embedDim % numHeads !== 0) {
      throw new Error(
        `MultiheadAttention: embedDim ${embedDim} must be divisible by numHeads ${numHeads}`,
      );
    }
    const gen = opts.generator ?? defaultGenerator;
    this.headDim = embedDim / numHeads;
    this.kind = opts.kind ?? 'cross';
    const G = (this.kvHeads = opts.kvHeads ?? numHeads);
    if (!Number.isInteger(G) || G < 1 || numHeads % G !== 0)
      throw new Error(`MultiheadAttention: kvHeads ${G} must divide numHeads ${numHeads}`);
    const rows = embedDim + 2 * G * this.headDim; // W_Q (C rows), W_K and W_V (G*D rows each)
    const w = zeros([rows, embedDim]);
    xavierUniform(w, gen);
    this.inProjWeight = this.param('in_proj_weight', w);
    this.inProjBias = this.param('in_proj_bias', opts.bias === false ? null : zeros([rows]));
    this.outProj = this.child(
      'out_proj',
      new Linear(embedDim, embedDim, { generator: gen, bias: opts.bias }),
    );
    if (this.outProj.bias) this.outProj.bias.f32.fill(0);
    const a = opts.attention ?? 'full';
    const dims = { numHeads, headDim: this.headDim, maxLen: opts.maxLen, generator: gen };
    this.core = this.child(
      'core',
      typeof a === 'object' && 'forward' in a ? a : createAttentionCore(a, dims),
    );
    const rel =
      opts.position && this.kind === 'self'
        ? createRelativePosition(opts.position, numHeads, this.headDim, gen)
        : null;
    this.position = rel ? this.child('position', rel) : null;
  }

  /** A fresh decoding state: the core's own for self-attention, the memory's keys/values for cross. */
  newState(): AttentionState {
    return this.kind === 'self' ? this.core.newState() : new CrossAttentionState();
  }

  /**
   * Project x (B, L, C) with the packed input projection's parts [from, to) of Q, K, V
   * (0 = Q, 1 = K, 2 = V; rows C, G*D, G*D), one GEMM (no copy).
   */
  private project(x: Tensor, from: number, to: number): Tensor {
    const C = this.embedDim;
    const kv = this.kvHeads * this.headDim;
    const edge = [0, C, C + kv, C + 2 * kv];
    return F.linear(x, this.inProjWeight, this.inProjBias, [edge[from], edge[to]]); // (B, L, rows)
  }

  /**
   * Key or value heads at column `col` of x: as they are when G = H, else each of the G
   * heads repeated H/G times (head h reads key/value head floor(h G / H)), (B, L, H*D).
   */
  private kvView(x: Tensor, col: number): Heads {
    const G = this.kvHeads;
    const H = this.numHeads;
    if (G === H) return { x, col };
    const D = this.headDim;
    const [B, L] = x.shape;
    const g = F.reshape(F.slice(x, 2, col, col + G * D), [B, L, G, 1, D]); // (B, L, G, 1, D)
    const rep = F.concat(
      Array.from({ length: H / G }, () => g),
      3,
    ); // (B, L, G, H/G, D)
    return { x: F.reshape(rep, [B, L, H * D]), col: 0 }; // (B, L, H*D)
  }

  /**
   * Attention of `query` over `key`/`value` (Sec. 3.2.2):
   * MultiHead(Q, K, V) = Concat(head_1..head_H) W_O, head_i = Attention(Q W_Q_i, K W_K_i, V W_V_i).
   * Equal tensors share one projection GEMM (query = key = value: one (B, T, 3C) product).
   * @param query (B, T, C); key (B, S, C); value (B, S, C) float32, batch first.
   * @param state decoding state from `newState()`: self-attention appends this call's keys
   *   and values and attends over every position so far (the queries' positions follow
   *   them); cross-attention projects `key`/`value` on the first call and reuses them after.
   * @returns out (B, T, C) and weights ((B, T, S) averaged or (B, H, T, S)) when needWeights.
   * @throws Error naming the shapes when inputs or masks disagree.
   */
  forward(
    query: Tensor,
    key: Tensor = query,
    value: Tensor = key,
    opts: AttentionForwardOptions = {},
    state?: AttentionState | null,
  ): { out: Tensor; weights: Tensor | null } {
    const C = this.embedDim;
    if (query.ndim !== 3 || query.shape[2] !== C) {
      throw new Error(`MultiheadAttention: query ${fmtShape(query.shape)} must be (B, T, ${C})`);
    }
    if (
      key.ndim !== 3 ||
      value.ndim !== 3 ||
      key.shape[2] !== C ||
      value.shape[2] !== C ||
      key.shape[0] !== query.shape[0] ||
      key.shape[1] !== value.shape[1]
    ) {
      throw new Error(
        `MultiheadAttention: key ${fmtShape(key.shape)} and value ${fmtShape(value.shape)} must be (B, S, ${C}) with B = ${query.shape[0]}`,
      );
    }
    const [B, T] = query.shape;
    const needWeights = (opts.needWeights ?? false) || this.captureWeights;
    const cross = this.kind === 'cross' && state ? (state as CrossAttentionState) : null;
    const selfState = this.kind === 'self' ? (state ?? null) : null;
    let q: Heads, k: Heads, v: Heads;
    if (cross?.k) {
      q = { x: this.project(query, 0, 1), col: 0 }; // (B, T, C); the memory's k, v kept
      k = cross.k;
      v = cross.v!;
    } else if (query === key && key === value) {
      const qkv = this.project(query, 0, 3); // (B, T, C + 2GD): one GEMM for Q, K, V
      const kvw = this.kvHeads * this.headDim;
      [q, k, v] = [{ x: qkv, col: 0 }, this.kvView(qkv, C), this.kvView(qkv, C + kvw)];
    } else {
      q = { x: this.project(query, 0, 1), col: 0 }; // (B, T, C)
      if (key === value) {
        const kv = this.project(key, 1, 3); // (B, S, 2GD)
        [k, v] = [this.kvView(kv, 0), this.kvView(kv, this.kvHeads * this.headDim)];
      } else {
        [k, v] = [
          this.kvView(this.project(key, 1, 2), 0),
          this.kvView(this.project(value, 2, 3), 0),
        ];
      }
    }
    if (cross && !cross.k) [cross.k, cross.v] = [k, v];
    const past = selfState ? selfState.length : 0;
    const S = past + k.x.shape[1];
    const causal = opts.isCausal ?? false;
    let bias = this.combineMasks(opts, B, T, S);
    let relativeBias: F.RelativeBias | null = null;
    let kvLen: Int32Array | null = null;
    if (this.position) {
      // Relative positions: q/k rotated (RoPE) or a bias on the scores (ALiBi, T5, Shaw).
      const p = this.position.apply({ q, k, qStart: past, kStart: past, S, causal });
      [q, k] = [p.q, p.k];
      if (p.bias) bias = bias ? F.add(bias, p.bias) : p.bias;
      if (p.relativeBias) {
        // By distance only (ALiBi, T5): the full attention kernels read its diagonals (no
        // (H, T, S) mask: linear memory at long T); other cores, decoding, with a mask to
        // add to it, or a learned one whose weights are asked for, it goes dense.
        // A right-padded key padding mask goes along as each batch row's key count.
        const learned = p.relativeBias.table?.requiresGrad ?? false;
        const lens = bias && !needWeights ? rightPaddedKeys(bias, B, S) : null;
        if (
          (!bias || lens) &&
          !selfState &&
          this.core.acceptsRelativeBias &&
          !(learned && needWeights)
        ) {
          relativeBias = p.relativeBias;
          if (lens) [kvLen, bias] = [lens, null];
        } else {
          const dense = F.relativeBiasDense(p.relativeBias);
          bias = bias ? F.add(bias, dense) : dense;
        }
      }
    }
    const r = this.core.forward(
      {
        q,
        k,
        v,
        bias,
        relativeBias,
        kvLen,
        causal,
        offset: past,
        dropoutP: this.training ? (this.opts.dropout ?? 0) : 0,
        generator: this.opts.generator ?? defaultGenerator,
        needWeights,
      },
      selfState,
    );
    if (this.captureWeights) {
      // A copy: kept past the call (and past a StepArena step).
      this.lastWeights = r.weights ? new Tensor(r.weights.f32.slice(), r.weights.shape) : null;
    }
    const y = this.outProj.forward(r.out); // W_O over the concatenated heads (B, T, C)
    let w: Tensor | null = null;
    if (opts.needWeights && r.weights) {
      w = (opts.averageAttnWeights ?? true) ? F.mean(r.weights, 1) : r.weights;
    }
    return { out: y, weights: w };
  }

  /** Merge attnMask and keyPaddingMask into one additive mask broadcastable to (B, H, T, S). */
  private combineMasks(
    opts: AttentionForwardOptions,
    B: number,
    T: number,
    S: number,
  ): Tensor | null {
    const H = this.numHeads;
    let mask: Tensor | null = null;
    const am = opts.attnMask;
    if (am) {
      if (am.ndim === 2) {
        if (am.shape[0] !== T || am.shape[1] !== S) {
          throw new Error(
            `MultiheadAttention: attnMask ${fmtShape(am.shape)} must be (T, S) = (${T}, ${S}) or (B*H, T, S)`,
          );
        }
        mask = toAdditiveMask(am);
      } else if (am.ndim === 3) {
        if (am.shape[0] !== B * H || am.shape[1] !== T || am.shape[2] !== S) {
          throw new Error(
            `MultiheadAttention: attnMask ${fmtShape(am.shape)} must be (B*H, T, S) = (${B * H}, ${T}, ${S}) or (T, S)`,
          );
        }
        mask = F.reshape(toAdditiveMask(am), [B, H, T, S]);
      } else
        throw new Error(
          `MultiheadAttention: attnMask must be 2-D or 3-D, got ${fmtShape(am.shape)}`,
        );
    }
    const kpm = opts.keyPaddingMask;
    if (kpm) {
      if (kpm.ndim !== 2 || kpm.shape[0] !== B || kpm.shape[1] !== S) {
        throw new Error(
          `MultiheadAttention: keyPaddingMask ${fmtShape(kpm.shape)} must be (B, S) = (${B}, ${S})`,
        );
      }
      const pad = F.reshape(toAdditiveMask(kpm), [B, 1, 1, S]);
      mask = mask ? F.add(mask, pad) : pad;
    }
    return mask;
  }
}

/**
 * The valid keys of each batch row when `bias` is a right-padded key padding mask: shape
 * (B or 1, 1, 1, S) (or fewer leading dims), no gradient, 0 on keys [0, n_b) and -Infinity
 * on [n_b, S) in every row; else null.
 */
export function rightPaddedKeys(bias: Tensor, B: number, S: number): Int32Array | null {
  const sh = bias.shape;
  if (bias.requiresGrad || bias.dtype !== 'float32' || sh[sh.length - 1] !== S) return null;
  if (sh.slice(0, -1).some((d, i) => d !== 1 && !(i === 0 && sh.length === 4 && d === B)))
    return null;
  const rows = bias.size / S;
  const lens = new Int32Array(B);
  const x = bias.f32;
  for (let r = 0; r < rows; r++) {
    let n = 0;
    while (n < S && x[r * S + n] === 0) n++;
    for (let s = n; s < S; s++) if (x[r * S + s] !== -Infinity) return null;
    if (rows === 1) lens.fill(n);
    else lens[r] = n;
  }
  return lens;
}
