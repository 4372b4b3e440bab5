/**
 * Attention within the groups of a gather plan, fused (the gatheredAttention kernels): the
 * content-based sparse attention of Reformer's LSH attention (Kitaev et al. 2020, Sec. 2)
 * and the Routing Transformer (Roy et al. 2021, Sec. 4); survey Lin et al. 2021, Sec.
 * 4.1.2. src/attention/gathered.ts builds the plans and keeps the composed reference.
 *
 * Shape letters: B batch, H heads, Lq query rows, Lk key rows, D head width, G groups per
 * head, Q query slots and K key slots per group, T queries, M slots per query.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import type { GatheredGeometry } from '../backend/types.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, empty, fmtShape, uninitF32 } from '../tensor.js';
import { dropoutMask } from './functional.js';

/** The groups of a plan, per head (b, h): the arrays of gatheredAttentionForward. */
export interface GatheredGroups {
  readonly G: number;
  readonly Q: number;
  readonly K: number;
  readonly T: number;
  readonly M: number;
  /** (B*H*G*Q) query row of each query slot, or -1. */
  readonly qRow: Int32Array;
  /** (B*H*G*K) key row of each key slot, or -1. */
  readonly kRow: Int32Array;
  /** (B*H*T*M) slot g*Q + i of each query's m-th slot within its head, or -1. */
  readonly slot: Int32Array;
}

/** The score rules and the combination of gatheredAttentionForward. */
export interface GatheredRules {
  readonly causal: boolean;
  readonly qStart: number;
  readonly flagSelf: boolean;
  readonly mean: boolean;
  /** (B*H*Lk) additive bias per key (key padding), or null. */
  readonly bias: Float32Array | null;
}

/**
 * Fused gathered attention (see Kernels.gatheredAttentionForward for the exact rules).
 * @param q (B, H, T, D) float32 (query row t is query t); k, v (B, H, Lk, D).
 * @param opts dropoutP on the weights (0 default; the mask is dropoutMask(B*H*G*Q*K, p, gen),
 *   as F.dropout on the composed (B, H, G, Q, K) weights would draw it); scale (default
 *   1/sqrt(D)).
 * @returns out (B, H, T, D).
 * @throws Error naming the shapes when q, k, v disagree or the plan's sizes do not fit.
 */
export function gatheredAttentionOp(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  plan: GatheredGroups,
  rules: GatheredRules,
  opts: { dropoutP?: number; generator?: Generator; scale?: number } = {},
): Tensor {
  const [B, H, Lq, D] = q.shape;
  const Lk = k.ndim === 4 ? k.shape[2] : -1;
  const { G, Q, K, T, M } = plan;
  const BH = B * H;
  if (
    q.ndim !== 4 ||
    Lq !== plan.T ||
    k.shape.join() !== v.shape.join() ||
    k.ndim !== 4 ||
    k.shape[0] !== B ||
    k.shape[1] !== H ||
    k.shape[3] !== D ||
    plan.qRow.length !== BH * G * Q ||
    plan.kRow.length !== BH * G * K ||
    plan.slot.length !== BH * T * M ||
    (rules.bias !== null && rules.bias.length !== BH * Lk)
  )
    throw new Error(
      `gatheredAttention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not fit a plan of ${G} groups of ${Q} queries and ${K} keys for ${T} queries of ${M} slots per head`,
    );
  const p = opts.dropoutP ?? 0;
  if (!(p >= 0 && p < 1))
    throw new Error(`gatheredAttention: dropoutP must be in [0, 1), got ${p}`);
  const dropMask =
    p > 0 ? dropoutMask(BH * G * Q * K, p, opts.generator ?? defaultGenerator) : null;
  const geometry: GatheredGeometry = {
    BH,
    G,
    Q,
    K,
    T,
    M,
    Lq,
    Lk,
    D,
    scale: opts.scale ?? 1 / Math.sqrt(D),
    causal: rules.causal,
    qStart: rules.qStart,
    flagSelf: rules.flagSelf,
    mean: rules.mean,
  };
  const out = empty([B, H, T, D]); // the kernel writes every element
  const slotOut = uninitF32(BH * G * Q * D);
  const slotLse = uninitF32(BH * G * Q);
  const rowLse = uninitF32(BH * T);
  const { qRow, kRow, slot } = plan;
  const { bias } = rules;
  backend().gatheredAttentionForward(
    out.f32,
    slotOut,
    slotLse,
    rowLse,
    q.f32,
    k.f32,
    v.f32,
    qRow,
    kRow,
    slot,
    bias,
    dropMask,
    geometry,
  );
  const attrs = { ...geometry, qRow, kRow, slot, bias, dropMask, slotOut, slotLse, rowLse };
  return record('gatheredAttention', [q, k, v], out, attrs);
}
