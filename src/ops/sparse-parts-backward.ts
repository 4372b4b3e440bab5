/**
 * The saved state and the backward of sparse attention over pattern parts
 * (F.sparseMultiHeadAttentionParts, ./sparse-parts.ts; the derivation is there): per part,
 * the kernel's backward with dout scaled by the part's merge weight alpha_p and Delta =
 * alpha_p (dout . out) of the whole softmax, its gradients put back in position order. Kept
 * apart from the forward so that the gradient table (./gradients.ts) imports no autograd.
 *
 * Shape letters: B batch, H heads, L positions (queries and keys), D head width, C = H*D.
 */
import { backend } from '../backend/index.js';
import { uninitF32 } from '../tensor.js';
import type { SparsePartsAttrs } from './spec.js';

/** Row lengths and column offsets of q, k, v as a part's kernels read them. */
function layoutOf(
  packed: Float32Array | null,
  a: SparsePartsAttrs,
): { ld: [number, number, number]; off: [number, number, number] } {
  const C = a.H * a.D;
  if (packed && !a.whole) return { ld: [3 * C, 3 * C, 3 * C], off: [0, C, 2 * C] };
  return { ld: [a.ldq, a.ldk, a.ldv], off: [a.qOff, a.kOff, a.vOff] };
}

/** The kernels' geometry of one part on B*H slices. */
export function geometry(
  a: SparsePartsAttrs,
  packed: Float32Array | null,
  bias: { sB: number } | null,
) {
  const { B, H, L, D, scale } = a;
  const { ld } = layoutOf(packed, a);
  return {
    BH: B * H,
    T: L,
    S: L,
    D,
    H,
    ldq: ld[0],
    ldk: ld[1],
    ldv: ld[2],
    ldo: H * D,
    kvRows: L,
    scale,
    causal: false,
    maskStrideB: bias ? bias.sB : 0,
    maskStrideT: 0,
  };
}

/** q, k, v (each at its column offset) as a part's kernels read them. */
export function views(
  packed: Float32Array | null,
  [q, k, v]: readonly Float32Array[],
  a: SparsePartsAttrs,
): [Float32Array, Float32Array, Float32Array] {
  const { off } = layoutOf(packed, a);
  return [
    (packed ?? q).subarray(off[0]),
    (packed ?? k).subarray(off[1]),
    (packed ?? v).subarray(off[2]),
  ];
}

/** q, k, v's rows in a part's order (SavedPart.packed). */
export function gatherRows(
  [q, k, v]: readonly Float32Array[],
  a: SparsePartsAttrs,
  ids: Int32Array,
): Float32Array {
  const { B, L, H, D, ldq, ldk, ldv, qOff, kOff, vOff } = a;
  if (a.whole) {
    const x = uninitF32(B * L * ldq);
    backend().embeddingForward(x, q, ids, B * L, ldq);
    return x;
  }
  const C = H * D;
  const x = uninitF32(B * L * 3 * C);
  for (let r = 0; r < B * L; r++) {
    const [s, o] = [ids[r], r * 3 * C];
    x.set(q.subarray(s * ldq + qOff, s * ldq + qOff + C), o);
    x.set(k.subarray(s * ldk + kOff, s * ldk + kOff + C), o + C);
    x.set(v.subarray(s * ldv + vOff, s * ldv + vOff + C), o + 2 * C);
  }
  return x;
}

/** Adds gradients gx of a part's gathered rows (gatherRows' layout) back into gq, gk, gv. */
function scatterRows(
  gx: Float32Array,
  [gq, gk, gv]: readonly Float32Array[],
  a: SparsePartsAttrs,
  ids: Int32Array,
): void {
  const { B, L, H, D, ldq, ldk, ldv, qOff, kOff, vOff } = a;
  if (a.whole && gq === gk && gk === gv) {
    backend().embeddingBackward(gq, gx, ids, B * L, ldq);
    return;
  }
  const [C, w] = [H * D, a.whole ? ldq : 3 * H * D];
  const off = a.whole ? [qOff, kOff, vOff] : [0, C, 2 * C];
  for (let r = 0; r < B * L; r++) {
    const [s, o] = [ids[r], r * w];
    const [oq, ok, ov] = [s * ldq + qOff, s * ldk + kOff, s * ldv + vOff];
    for (let c = 0; c < C; c++) {
      gq[oq + c] += gx[o + off[0] + c];
      gk[ok + c] += gx[o + off[1] + c];
      gv[ov + c] += gx[o + off[2] + c];
    }
  }
}

/** Per-head row values (B*H slices of L) in `order`: r[b, i] = x[b, order[i]]. */
function permuted(x: Float32Array, order: Int32Array, BH: number, L: number): Float32Array {
  const r = uninitF32(BH * L);
  for (let b = 0; b < BH; b++) {
    const [o, src] = [b * L, x.subarray(b * L, b * L + L)];
    for (let i = 0; i < L; i++) r[o + i] = src[order[i]];
  }
  return r;
}

/** [0, L) as row indices (position order), kept for the last L asked. */
let identityRows = new Int32Array(0);
export function identity(L: number): Int32Array {
  if (identityRows.length !== L) identityRows = Int32Array.from({ length: L }, (_, i) => i);
  return identityRows;
}

/**
 * The op's backward (gradients.ts `sparseAttentionParts`): accumulates into gq, gk, gv (the
 * inputs' layouts; null when an input needs no gradient) given g = d out (B, L, C).
 */
export function sparsePartsBackward(
  a: SparsePartsAttrs,
  inputs: readonly Float32Array[],
  out: Float32Array,
  g: Float32Array,
  grads: (Float32Array | null)[],
): void {
  const { B, H, L, D } = a;
  const C = H * D;
  const BH = B * H;
  const gi = grads.map((x, i) => x ?? new Float32Array(inputs[i].length));
  // Delta of the whole softmax, dout . out per query and head.
  const delta = uninitF32(BH * L);
  backend().headRowsDot(delta, g, out, B, L, H, D);
  for (const part of a.parts) {
    const { pattern, order, ids, packed, bias, weights, dropMask, alpha } = part;
    // alpha_p and Delta scaled by it in the part's order; dout scaled by alpha_p, its rows
    // in the part's order.
    const al = order ? permuted(alpha, order, BH, L) : alpha;
    const dp = order ? permuted(delta, order, BH, L) : uninitF32(BH * L);
    if (order) for (let x = 0; x < BH * L; x++) dp[x] *= al[x];
    else for (let x = 0; x < BH * L; x++) dp[x] = al[x] * delta[x];
    const gp = uninitF32(B * L * C);
    backend().headRowsScale(gp, g, order ?? identity(L), al, false, B, L, H, D);
    // The part's gradients: straight into the inputs' in position order, else into rows
    // in its order added back.
    const gx = packed ? uninitF32(packed.length).fill(0) : null;
    backend().sparseAttentionBackward(
      ...views(gx, gi, a),
      gp,
      ...views(packed, inputs, a),
      pattern.rowPtr,
      pattern.cols,
      weights,
      dropMask,
      geometry(a, packed, bias),
      dp,
    );
    if (gx) scatterRows(gx, gi, a, ids!);
  }
}
