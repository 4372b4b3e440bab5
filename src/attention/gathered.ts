/**
 * Attention over gathered groups: the computation the content-based sparse cores share
 * (Lin et al. 2021, Sec. 4.1.2: Reformer's LSH attention, the Routing Transformer). A
 * *plan*, computed from the content without gradient (bucket or cluster ids), puts query
 * rows into G groups of Q slots and gives each group K key slots; every query slot attends
 * its group's key slots under the plan's mask, and each query's output combines the M slots
 * it occupies:
 *   - 'lse': weighted by the slots' log-sum-exp of scores, i.e. one softmax over the union
 *     of the slots' keys (duplicates counted once per slot): Reformer's multi-round hashing
 *     (Kitaev et al. 2020, Sec. 2 "Multi-round LSH attention"; trax/lucidrains combine the
 *     rounds' outputs with softmax(logsumexp)).
 *   - 'mean': the slots' outputs averaged (the Routing Transformer reference's scatter-mean
 *     for a token routed to several clusters); a query in no slot gets 0.
 *
 * Rows are gathered and scattered back with `F.embedding` (its backward is the scatter-add
 * that gathers need), so gradients reach q, k and v; the plan is a constant. Time O(G Q K D),
 * memory O(G Q K): never a T x T score matrix.
 *
 * Shape letters: B batch, H heads, L rows of a source (queries Lq, keys Lk), D head width,
 * G groups, Q query slots and K key slots per group, T queries, M slots per query.
 */
import { isGradEnabled } from '../autograd.js';
import { Tensor, fmtShape, full, uninitF32, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import type { Generator } from '../random.js';
import { AttentionCore, type CoreDims } from './core.js';
import { GATHERED_SELF_SCORE } from '../backend/types.js';
import type { GatheredGroups } from '../ops/gathered.js';
import { KVState } from './state.js';

/**
 * The score a query gives its own key in shared-QK attention: large and negative, so that a
 * token attends itself only when no other key is allowed (Kitaev et al. 2020, Sec. 2
 * "Causal masking for shared-QK attention"; trax's -1e5).
 */
export const SELF_SCORE = GATHERED_SELF_SCORE;

/**
 * Which query rows and key rows each group holds, how outputs combine, and the rules of the
 * scores: a query slot (query position p = qStart + its row) does not attend an empty key
 * slot (-1) nor, when causal, a key at a position after p; with flagSelf its own position
 * scores SELF_SCORE; `bias` adds to every score.
 */
export interface GatherPlan extends GatheredGroups {
  readonly B: number;
  readonly H: number;
  readonly combine: 'lse' | 'mean';
  readonly causal: boolean;
  /** Position of query 0 (query t is at qStart + t); key row r is position r. */
  readonly qStart: number;
  /** Shared QK: a query's own key scores SELF_SCORE (plus its bias). */
  readonly flagSelf: boolean;
  /** An additive score bias broadcastable to (B, H, T, S) (masks only, checked by biasReader), or null. */
  readonly bias: Tensor | null;
}

/**
 * The plan's rules as a dense additive mask (B*H*G*Q*K: 0, the bias, or -Infinity; rows of
 * empty query slots all -Infinity) and the flat indices of its self entries (or null): what
 * the composed reference path adds to its gathered scores.
 */
export function planMask(
  plan: GatherPlan,
  S: number,
): { mask: Float32Array; self: Int32Array | null } {
  const { B, H, G, Q, K, qRow, kRow, causal, qStart } = plan;
  const bias = biasReader(plan.bias, [B, H, plan.T, S], 'gathered');
  const mask = uninitF32(B * H * G * Q * K).fill(-Infinity); // the step arena's when one runs
  const self: number[] | null = plan.flagSelf ? [] : null;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let gq = (b * H + h) * G * Q, end = gq + G * Q; gq < end; gq++) {
        const t = qRow[gq];
        if (t < 0) continue;
        const tp = qStart + t;
        const kBase = Math.floor(gq / Q) * K;
        for (let j = 0; j < K; j++) {
          const sp = kRow[kBase + j];
          if (sp < 0 || (causal && sp > tp)) continue;
          mask[gq * K + j] = bias ? bias(b, h, t, sp) : 0;
          if (self && sp === tp) self.push(gq * K + j);
        }
      }
  return { mask, self: self ? Int32Array.from(self) : null };
}

/**
 * The plan's bias as one value per key (B*H*Lk), or null without one; undefined when it
 * varies over queries (then only the composed path applies it).
 */
function keyBias(plan: GatherPlan, S: number, Lk: number): Float32Array | null | undefined {
  const { B, H, T } = plan;
  if (!plan.bias) return null;
  const sh = plan.bias.shape;
  if (T > 1 && sh.length >= 2 && sh[sh.length - 2] !== 1) return undefined;
  const read = biasReader(plan.bias, [B, H, T, S], 'gathered')!;
  const out = uninitF32(B * H * Lk).fill(0); // the step arena's when one runs
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let s = 0; s < Math.min(S, Lk); s++) out[(b * H + h) * Lk + s] = read(b, h, 0, s);
  return out;
}

/** Options of `gatheredAttention`. */
export interface GatheredOptions {
  readonly dropoutP: number;
  readonly generator: Generator;
  /** Also return the dense (B, H, T, S) weights (for display; built from the plan). */
  readonly needWeights: boolean;
  /** S: key positions for the dense weights (key row r is position r). */
  readonly S: number;
}

/**
 * Attend within the plan's groups and combine each query's slots.
 * @param q (B, H, Lq, D) float32 query rows; k (B, H, Lk, D) key rows; v like k.
 * @returns out (B, H, T, D); weights (B, H, T, S) or null.
 * @throws Error naming both shapes when k and v differ or the plan's B, H do not match.
 */
export function gatheredAttention(
  plan: GatherPlan,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: GatheredOptions,
): { out: Tensor; weights: Tensor | null } {
  checkFit(plan, q, k, v);
  const bias = keyBias(plan, opts.S, k.shape[2]);
  if (!opts.needWeights && bias !== undefined) {
    const rules = { ...plan, mean: plan.combine === 'mean', bias };
    const out = F.gatheredAttentionOp(q, k, v, plan, rules, opts);
    return { out, weights: null };
  }
  return composedGatheredAttention(plan, q, k, v, opts);
}

/** @throws Error naming the shapes when k and v differ or q's B, H are not the plan's. */
function checkFit(plan: GatherPlan, q: Tensor, k: Tensor, v: Tensor): void {
  const { B, H } = plan;
  if (k.shape.join() !== v.shape.join() || q.shape[0] !== B || q.shape[1] !== H)
    throw new Error(
      `gatheredAttention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not fit a plan for B ${B}, H ${H}`,
    );
}

/**
 * gatheredAttention composed of gathers, batched GEMMs, a dense mask and softmax: the
 * reference the fused kernel is tested against, and the path for dense weights (display)
 * and for a bias that varies over queries.
 */
export function composedGatheredAttention(
  plan: GatherPlan,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: GatheredOptions,
): { out: Tensor; weights: Tensor | null } {
  checkFit(plan, q, k, v);
  const { B, H, G, Q, K, T, M } = plan;
  const D = q.shape[3];
  const planned = planMask(plan, opts.S);
  const sq = gatherRows(q, plan.qRow, G * Q, [B, H, G, Q]); // (B, H, G, Q, D)
  const sk = gatherRows(k, plan.kRow, G * K, [B, H, G, K]); // (B, H, G, K, D)
  const sv = gatherRows(v, plan.kRow, G * K, [B, H, G, K]);
  let scores = F.matmul(F.mul(sq, 1 / Math.sqrt(D)), sk, { transB: true }); // (B, H, G, Q, K)
  const mask = planned.mask;
  if (planned.self) {
    // A token's own score becomes SELF_SCORE: added as SELF_SCORE - s (a constant). Its
    // gradient is exactly 0 either way: its weight is 0 beside any allowed key, and 1 alone,
    // where the softmax has zero derivative.
    const sd = scores.f32;
    for (const i of planned.self) if (mask[i] !== -Infinity) mask[i] += SELF_SCORE - sd[i];
  }
  scores = F.add(scores, new Tensor(mask, [B, H, G, Q, K]));
  const weights = F.softmax(scores, -1);
  const p = opts.dropoutP;
  const dropped = p > 0 ? F.dropout(weights, p, true, opts.generator) : weights;
  const o = F.matmul(dropped, sv); // (B, H, G, Q, D)
  const O = gatherRows(o, plan.slot, T * M, [B, H, T, M]); // (B, H, T, M, D)
  let coef: Tensor; // (B, H, T, M, 1)
  if (plan.combine === 'lse' && M > 1) {
    const lse = logSumExp(scores, weights); // (B, H, G, Q, 1)
    coef = F.softmax(gatherRows(lse, plan.slot, T * M, [B, H, T, M], -Infinity), 3);
  } else {
    // The mean over the filled slots (one slot: 1, so 'lse' needs no log-sum-exp either).
    coef = zeros([B, H, T, M, 1]);
    const c = coef.f32;
    for (let r = 0; r < B * H * T; r++) {
      let n = 0;
      for (let m = 0; m < M; m++) if (plan.slot[r * M + m] >= 0) n++;
      for (let m = 0; m < M; m++) if (plan.slot[r * M + m] >= 0) c[r * M + m] = 1 / n;
    }
  }
  // One slot: its output (an empty slot gathered zeros).
  const out = M === 1 ? F.reshape(O, [B, H, T, D]) : F.sum(F.mul(O, coef), 3);
  const dense = opts.needWeights ? denseWeights(plan, weights.f32, coef.f32, opts.S) : null;
  return { out, weights: dense };
}

/**
 * Rows of x (B, H, ..., D) (L rows per head) by per-head index: out[b, h, i] = x[b, h, rows[(b*H + h)*n + i]],
 * or `fill` where the index is -1. Differentiable in x (F.embedding).
 * @param shape the leading dims of the result, product B*H*n.
 * @returns (...shape, D)
 */
export function gatherRows(
  x: Tensor,
  rows: Int32Array,
  n: number,
  shape: number[],
  fill = 0,
): Tensor {
  const [B, H] = x.shape;
  const D = x.shape[x.ndim - 1];
  const L = x.size / (B * H * D); // rows per head (the dims between H and D flattened)
  const N = B * H * L;
  const src = F.concat([F.reshape(x, [N, D]), full([1, D], fill)], 0); // (N + 1, D)
  const ids = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    ids[i] = r < 0 ? N : Math.floor(i / n) * L + r;
  }
  return F.embedding(new Tensor(ids, shape), src);
}

/**
 * log sum_k exp(s_k) over the last axis, keeping it, from w = softmax(s): lse = s_j - log w_j
 * at the row's largest score j (w_j >= 1/K, so the log is safe). Its gradient is w, as it
 * should be (d(s_j - log w_j)/ds = e_j - (e_j - w)), and it costs two gathers of one element
 * a row instead of exp and log over every score. A row of all -Infinity gives -1e30 (zero
 * gradient), so the rounds' softmax stays finite.
 * @param s (..., K) scores; w (..., K) their softmax.
 * @returns (..., 1)
 */
function logSumExp(s: Tensor, w: Tensor): Tensor {
  const K = s.shape[s.ndim - 1];
  const rows = s.size / K;
  const sd = s.f32;
  const ids = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let j = 0;
    for (let k = 1; k < K; k++) if (sd[r * K + k] > sd[r * K + j]) j = k;
    ids[r] = sd[r * K + j] === -Infinity ? rows * K : r * K + j;
  }
  const at = new Tensor(ids, s.shape.slice(0, -1));
  const pick = (x: Tensor, fill: number): Tensor =>
    F.embedding(at, F.concat([F.reshape(x, [rows * K, 1]), full([1, 1], fill)], 0)); // (..., 1)
  return F.sub(pick(s, -1e30), F.log(pick(w, 1)));
}

/** The dense (B, H, T, S) weights: each slot's attention weights times its combination weight. */
function denseWeights(plan: GatherPlan, w: Float32Array, coef: Float32Array, S: number): Tensor {
  const { B, H, G, Q, K, T, M } = plan;
  const out = zeros([B, H, T, S]);
  const d = out.f32;
  for (let bh = 0; bh < B * H; bh++)
    for (let t = 0; t < T; t++)
      for (let m = 0; m < M; m++) {
        const i = (bh * T + t) * M + m;
        const slot = plan.slot[i];
        if (slot < 0) continue;
        const a = coef[i];
        const g = bh * G * Q + slot;
        const kBase = (bh * G + Math.floor(slot / Q)) * K;
        for (let j = 0; j < K; j++) {
          const r = plan.kRow[kBase + j];
          if (r >= 0 && r < S) d[(bh * T + t) * S + r] += a * w[g * K + j];
        }
      }
  return out;
}

/**
 * A reader of an additive score bias broadcastable to (B, H, T, S): bias(b, h, t, s), or
 * null when there is none. Masks only: a bias that needs a gradient is refused.
 * @throws Error naming the core and the shape when the bias does not broadcast or needs grad.
 */
export function biasReader(
  bias: Tensor | null,
  dims: [number, number, number, number],
  core: string,
): ((b: number, h: number, t: number, s: number) => number) | null {
  if (!bias) return null;
  if (bias.requiresGrad && isGradEnabled())
    throw new Error(`${core} attention: a score bias that needs a gradient is not supported`);
  const shape = bias.shape;
  if (shape.length > 4 || shape.some((n, i) => n !== 1 && n !== dims[4 - shape.length + i]))
    throw new Error(
      `${core} attention: bias ${fmtShape(shape)} does not broadcast to (B, H, T, S) ${fmtShape(dims)}`,
    );
  const st = [0, 0, 0, 0];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const ax = 4 - shape.length + i;
    st[ax] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i];
  }
  const x = bias.f32;
  return (b, h, t, s) => x[b * st[0] + h * st[1] + t * st[2] + s * st[3]];
}

/**
 * The decoding state of the content-based cores: every key and value (a KVState) plus a
 * content tag per held position and channel (LSH: a bucket per hashing round; routing: the
 * key's cluster), so a step routes its query without re-hashing the past.
 */
export class TaggedKVState extends KVState {
  /** tags[(b*H + h)*channels + c][position]. */
  tags: number[][] = [];

  /** @param channels tags per position (LSH rounds; 1 for routing). */
  constructor(readonly channels: number) {
    super();
  }

  /**
   * Append the tags of new positions.
   * @param t (B*H*channels*n) tags, n new positions each.
   * @throws Error when t's length or the batch and heads differ from the state's.
   */
  appendTags(t: Int32Array, BH: number, n: number): void {
    const rows = BH * this.channels;
    if (this.tags.length === 0) this.tags = Array.from({ length: rows }, () => []);
    if (t.length !== rows * n || this.tags.length !== rows)
      throw new Error(
        `TaggedKVState: ${t.length} tags for ${BH} (batch x heads) rows of ${this.channels} channels and ${n} positions; the state holds ${this.tags.length} rows`,
      );
    for (let r = 0; r < rows; r++) for (let i = 0; i < n; i++) this.tags[r].push(t[r * n + i]);
  }

  override selectRows(idx: readonly number[]): void {
    super.selectRows(idx);
    if (this.tags.length === 0 || !this.k) return;
    const H = this.k.shape[1];
    const c = this.channels;
    const old = this.tags;
    this.tags = idx.flatMap((b) => old.slice(b * H * c, (b + 1) * H * c).map((r) => r.slice()));
  }
}

/**
 * A core that routes keys by content tags kept in a TaggedKVState (LSH, routing): runs
 * causally and not.
 */
export abstract class TaggedKVCore extends AttentionCore<TaggedKVState> {
  readonly supportsCausal = true;
  readonly supportsNonCausal = true;

  /** @param tagChannels tags per key position its decoding state keeps (LSH rounds; 1 for routing). */
  constructor(
    dims: CoreDims,
    readonly tagChannels: number,
  ) {
    super(dims);
  }

  newState(): TaggedKVState {
    return new TaggedKVState(this.tagChannels);
  }
}
