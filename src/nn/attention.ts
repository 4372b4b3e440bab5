/**
 * Multi-head attention (Vaswani et al. 2017, Sec. 3.2.2), with PyTorch's parameter layout
 * (torch.nn.MultiheadAttention): packed `in_proj_weight` (3C, C) holding W_Q, W_K, W_V in
 * that order, `in_proj_bias` (3C), and `out_proj` (W_O).
 *
 * Shape letters: B batch, T query length, S key length, C d_model (embed_dim),
 * H heads, D = C / H head width.
 *
 * Mask convention (PyTorch's): a bool mask is true where attention is NOT allowed; a float
 * mask is added to the scores (-Infinity forbids). A query whose keys are all masked gets
 * zeros, never NaN (PyTorch returns NaN there).
 */
import { isGradEnabled } from '../autograd.js';
import { defaultGenerator } from '../random.js';
import { Tensor, currentArena, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
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

/**
 * Key/value cache for incremental decoding: keys and values (B, H, R, D) seen so far, in
 * their first `len` rows (all R rows when `len` is undefined). Self-attention appends to
 * buffers with room to spare (capacity doubling), so a step costs O(1) copies, not O(S).
 */
export interface KVCache {
  k: Tensor | null;
  v: Tensor | null;
  /** Rows of k and v in use; undefined: all of them. */
  len?: number;
}

/** The cache's valid keys/values as dense (B, H, len, D) tensors (a copy when len < R). */
function validKV(cache: KVCache): [Tensor, Tensor] {
  const k = cache.k!;
  const v = cache.v!;
  const R = k.shape[2];
  const S = cache.len ?? R;
  if (S === R) return [k, v];
  const slice = (t: Tensor): Tensor => F.slice(t, 2, 0, S);
  return [slice(k), slice(v)];
}

/**
 * Appends this step's keys/values (B, H, T, D) to a self-attention cache, in place: rows
 * [len, len + T) of buffers that grow by doubling (without gradient: for decoding).
 */
function appendKV(cache: KVCache, k: Tensor, v: Tensor): void {
  const [B, H, T, D] = k.shape;
  const S0 = cache.k ? (cache.len ?? cache.k.shape[2]) : 0;
  const S = S0 + T;
  let R = cache.k ? cache.k.shape[2] : 0;
  if (!cache.k || R < S || cache.k.shape[0] !== B) {
    const R2 = Math.max(S, 2 * R, 16);
    const grow = (old: Tensor | null): Tensor => {
      const t = zeros([B, H, R2, D]);
      if (old)
        for (let bh = 0; bh < B * H; bh++)
          t.f32.set(old.f32.subarray(bh * R * D, (bh * R + S0) * D), bh * R2 * D);
      return t;
    };
    cache.k = grow(cache.k);
    cache.v = grow(cache.v);
    R = R2;
  }
  const kd = cache.k.f32;
  const vd = cache.v!.f32;
  for (let bh = 0; bh < B * H; bh++) {
    kd.set(k.f32.subarray(bh * T * D, (bh + 1) * T * D), (bh * R + S0) * D);
    vd.set(v.f32.subarray(bh * T * D, (bh + 1) * T * D), (bh * R + S0) * D);
  }
  cache.len = S;
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
  /** Attention weights of the last forward, (B, H, T, S), when `captureWeights` is set. */
  lastWeights: Tensor | null = null;
  /** Keep the per-head weights of every forward in `lastWeights` (for visualization). */
  captureWeights = false;

  /**
   * @param embedDim C (d_model)
   * @param numHeads H; C must be divisible by H
   * @param opts dropout on the attention weights, bias, generator
   * @throws Error if C is not divisible by H.
   */
  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    readonly opts: InitOptions & { dropout?: number; bias?: boolean } = {},
  ) {
    super();
    if (embedDim % numHeads !== 0) {
      throw new Error(
        `MultiheadAttention: embedDim ${embedDim} must be divisible by numHeads ${numHeads}`,
      );
    }
    const gen = opts.generator ?? defaultGenerator;
    this.headDim = embedDim / numHeads;
    const w = zeros([3 * embedDim, embedDim]);
    xavierUniform(w, gen);
    this.inProjWeight = this.param('in_proj_weight', w);
    this.inProjBias = this.param(
      'in_proj_bias',
      opts.bias === false ? null : zeros([3 * embedDim]),
    );
    this.outProj = this.child(
      'out_proj',
      new Linear(embedDim, embedDim, { generator: gen, bias: opts.bias }),
    );
    if (this.outProj.bias) this.outProj.bias.f32.fill(0);
  }

  /** Project x (B, L, C) with rows [from, to) of the packed input projection (no copy). */
  private project(x: Tensor, from: number, to: number): Tensor {
    const C = this.embedDim;
    return F.linear(x, this.inProjWeight, this.inProjBias, [from * C, to * C]); // (B, L, (to-from) C)
  }

  /** (B, L, n*C) -> n tensors (B, H, L, D). */
  private heads(x: Tensor, n: number): Tensor[] {
    const [B, L] = x.shape;
    const H = this.numHeads;
    const D = this.headDim;
    const y = F.permute(F.reshape(x, [B, L, n, H, D]), [2, 0, 3, 1, 4]); // (n, B, H, L, D)
    if (n === 1) return [F.reshape(y, [B, H, L, D])];
    return F.split(y, 1, 0).map((t) => F.reshape(t, [B, H, L, D]));
  }

  /**
   * Attention of `query` over `key`/`value` (Sec. 3.2.2):
   * MultiHead(Q, K, V) = Concat(head_1..head_H) W_O, head_i = Attention(Q W_Q_i, K W_K_i, V W_V_i).
   * @param query (B, T, C); key (B, S, C); value (B, S, C) float32, batch first.
   * @param cache when given, this call's keys/values are appended to it and attention runs
   *   over all cached positions (incremental decoding); for cross-attention pass a cache
   *   whose k/v are set once (the memory's keys/values are then not recomputed).
   * @returns out (B, T, C) and weights ((B, T, S) averaged or (B, H, T, S)) when needWeights.
   * @throws Error naming the shapes when inputs or masks disagree.
   */
  forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    opts: AttentionForwardOptions = {},
    cache?: KVCache,
  ): { out: Tensor; weights: Tensor | null } {
    const C = this.embedDim;
    const H = this.numHeads;
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
    const needW = (opts.needWeights ?? false) || this.captureWeights;
    const attnOpts = {
      causal: opts.isCausal ?? false,
      dropoutP: this.training ? (this.opts.dropout ?? 0) : 0,
      generator: this.opts.generator ?? defaultGenerator,
      needWeights: needW,
    };
    if (!cache) {
      // Heads read straight from the projections, (B, L, n*C); out comes back (B, T, C).
      const S = key.shape[1];
      const D = this.headDim;
      let r: { out: Tensor; weights: Tensor | null };
      const mask = this.combineMasks(opts, B, T, S);
      if (query === key && key === value) {
        const qkv = this.project(query, 0, 3); // (B, T, 3C): one GEMM for Q, K, V
        r = F.multiHeadAttention(
          qkv,
          qkv,
          qkv,
          H,
          D,
          { q: 0, k: C, v: 2 * C },
          { ...attnOpts, mask },
        );
      } else {
        const q = this.project(query, 0, 1); // (B, T, C)
        if (key === value) {
          const kv = this.project(key, 1, 3); // (B, S, 2C)
          r = F.multiHeadAttention(q, kv, kv, H, D, { k: 0, v: C }, { ...attnOpts, mask });
        } else {
          const k = this.project(key, 1, 2); // (B, S, C)
          const v = this.project(value, 2, 3); // (B, S, C)
          r = F.multiHeadAttention(q, k, v, H, D, {}, { ...attnOpts, mask });
        }
      }
      return this.finish(r.out, r.weights, opts);
    }
    let q: Tensor;
    let k: Tensor;
    let v: Tensor;
    const crossCached = cache.k && query !== key;
    if (crossCached) {
      [q] = this.heads(this.project(query, 0, 1), 1);
      k = cache.k!;
      v = cache.v!;
    } else {
      if (query === key && key === value) {
        [q, k, v] = this.heads(this.project(query, 0, 3), 3); // one GEMM for Q, K, V
      } else {
        [q] = this.heads(this.project(query, 0, 1), 1);
        if (key === value) [k, v] = this.heads(this.project(key, 1, 3), 2);
        else {
          [k] = this.heads(this.project(key, 1, 2), 1);
          [v] = this.heads(this.project(value, 2, 3), 1);
        }
      }
      if (query === key && !isGradEnabled()) {
        // Decoding: append in place and attend over the first len rows of the buffers.
        appendKV(cache, k, v);
        const S = cache.len!;
        const mask = this.combineMasks(opts, B, T, S);
        const r = F.attentionOverCache(q, cache.k!, cache.v!, S, { ...attnOpts, mask });
        const merged = F.reshape(F.permute(r.out, [0, 2, 1, 3]), [B, T, C]); // (B, T, C)
        return this.finish(merged, r.weights, opts);
      }
      if (cache.k && query === key) {
        const [pk, pv] = validKV(cache);
        k = F.concat([pk, k], 2); // (B, H, S_past + T, D), differentiable
        v = F.concat([pv, v], 2);
      }
      cache.k = k;
      cache.v = v;
      cache.len = undefined;
    }
    const S = k.shape[2];
    const mask = this.combineMasks(opts, B, T, S);
    const { out, weights } = F.scaledDotProductAttention(q, k, v, { ...attnOpts, mask }); // (B, H, T, D)
    const merged = F.reshape(F.permute(out, [0, 2, 1, 3]), [B, T, C]); // (B, T, C)
    return this.finish(merged, weights, opts);
  }

  /** W_O over the concatenated heads (B, T, C), and the weights to return. */
  private finish(
    merged: Tensor,
    weights: Tensor | null,
    opts: AttentionForwardOptions,
  ): { out: Tensor; weights: Tensor | null } {
    if (this.captureWeights) {
      // Kept past the step: copied out of a StepArena's storage.
      this.lastWeights =
        weights && currentArena() ? new Tensor(weights.f32.slice(), weights.shape) : weights;
    }
    const y = this.outProj.forward(merged);
    let w: Tensor | null = null;
    if (opts.needWeights && weights) {
      w = (opts.averageAttnWeights ?? true) ? F.mean(weights, 1) : weights;
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
