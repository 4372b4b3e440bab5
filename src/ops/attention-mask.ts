/**
 * Attention masks in the kernels' layout (AttentionGeometry's maskOffset, maskStrideB,
 * maskStrideT): a user mask broadcast to the scores (prepareMask), and a relative-position
 * bias read from its diagonals without a dense (H, T, S) mask (RelativeBias: ALiBi, Press et
 * al. 2022; T5's learned buckets, Raffel et al. 2020).
 */
import { fmtShape, numel, type Tensor } from '../tensor.js';
import { broadcastShapes } from './elementwise.js';

/**
 * A score bias that depends only on the head and on the key's position minus the query's: a
 * Toeplitz matrix per head, bias[h, t, s] = diagonals[h * (T + S - 1) + (T - 1) + s - t]
 * (ALiBi's -m_h |i - j|, Press et al. 2022; T5's weight[bucket(j - i), h]). The attention
 * kernels read it through a negative query stride of the mask (maskStrideT -1), so a
 * (H, T, S) mask is never built.
 */
export interface RelativeBias {
  /** (H, T + S - 1) float32: head h's values for s - t = -(T - 1) .. S - 1. */
  readonly diagonals: Float32Array;
  readonly heads: number;
  readonly T: number;
  readonly S: number;
  /**
   * A learned bias (T5): the same values as a (T + S - 1, H) tensor with a gradient, row
   * i = s - t + T - 1. The attention ops then differentiate through it (the tiled kernel's
   * dmask, or a dense gather).
   */
  readonly table?: Tensor;
}

/** The kernel layout of a RelativeBias over `lead` = (..., H) slices: one row of diagonals per slice. */
export function relativeMask(r: RelativeBias, lead: number[], T: number, S: number): PreparedMask {
  const BH = numel(lead);
  const n = Math.max(0, T + S - 1);
  if (
    r.T !== T ||
    r.S !== S ||
    lead[lead.length - 1] !== r.heads ||
    r.diagonals.length !== r.heads * n
  )
    throw new Error(
      `attention: relative bias of H ${r.heads}, T ${r.T}, S ${r.S} (${r.diagonals.length} values) for scores ${fmtShape([...lead, T, S])}`,
    );
  let data = r.diagonals;
  if (BH > r.heads) {
    data = new Float32Array(BH * n);
    for (let b = 0; b < BH; b += r.heads) data.set(r.diagonals, b * n);
  }
  return { data, sB: n, sT: -1, offset: T - 1 };
}

/** A mask in the kernels' layout: read at data[offset + bh*sB + t*sT + s]. */
export interface PreparedMask {
  data: Float32Array;
  sB: number;
  sT: number;
  offset: number;
}

/** A mask as an additive float buffer plus the (bh, t) strides the attention kernel reads it with. */
export function prepareMask(mask: Tensor, lead: number[], T: number, S: number): PreparedMask {
  const full = [...lead, T, S];
  const { shape, bStrides } = broadcastShapes(full, mask.shape, 'attention mask');
  if (shape.length !== full.length || shape.some((d, i) => d !== full[i])) {
    throw new Error(
      `attention: mask ${fmtShape(mask.shape)} does not broadcast to scores ${fmtShape(full)}`,
    );
  }
  const src = mask.dtype === 'bool' ? null : mask.f32;
  const toAdd = (v: number): number => (src ? v : v ? -Infinity : 0);
  const BH = numel(lead);
  const leadStrides = bStrides.slice(0, lead.length);
  const [sT, sS] = bStrides.slice(lead.length);
  const md = mask.data;
  // Cheap paths: mask shared by all (b, h), or one contiguous (T|1, S) block per bh.
  const leadDense =
    leadStrides.every((s) => s === 0) ||
    (mask.ndim === full.length && mask.shape.slice(0, lead.length).every((d, i) => d === lead[i]));
  if (sS === 1 && leadDense) {
    const data = new Float32Array(md.length);
    for (let i = 0; i < md.length; i++) data[i] = toAdd(md[i]);
    const sB = leadStrides.every((s) => s === 0) ? 0 : md.length / BH;
    return { data, sB, sT, offset: 0 };
  }
  // General case, e.g. a key padding mask (B, 1, 1, S) under lead (B, H): one (T|1, S)
  // block per bh, keeping a zero query stride (T = 1 rows) when the mask does not vary
  // over queries.
  const rows = sT === 0 ? 1 : T;
  const data = new Float32Array(BH * rows * S);
  const lead0 = lead.map(() => 0);
  for (let bh = 0, i = 0; bh < BH; bh++) {
    let base = 0;
    for (let d = 0; d < lead.length; d++) base += lead0[d] * leadStrides[d];
    for (let t = 0; t < rows; t++)
      for (let s = 0; s < S; s++) data[i++] = toAdd(md[base + t * sT + s * sS]);
    for (let d = lead.length - 1; d >= 0; d--) {
      if (++lead0[d] < lead[d]) break;
      lead0[d] = 0;
    }
  }
  return { data, sB: rows * S, sT: rows === 1 ? 0 : S, offset: 0 };
}
