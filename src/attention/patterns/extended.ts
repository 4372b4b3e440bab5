/**
 * The extended sparse attention patterns of the survey (Lin et al. 2021, Sec. 4.1.1.3,
 * Fig. 6): BP-Transformer's binary-partition hierarchy, and the 2-D patterns over a sequence
 * that is a flattened (rows x width) grid in raster order (an image): Image Transformer's
 * 2-D block-local attention and axial attention. Each runs as a SparsePatternCore.
 *
 * Positions: query i, key j in [0, L); causal use keeps j <= i (raster order for grids).
 * Grid letters: W width, position i at row floor(i / W), column i mod W; qh x qw query
 * blocks, mh rows and mw columns of memory around them. BPT: k spans per side and level.
 */
import {
  SPLIT_MIN_COLUMN,
  intParam,
  patternVariant,
  type PatternSplit,
  type RowKeys,
  type RowOrder,
} from '../sparse.js';
import { blockKeys, strideKeys } from './atomic.js';

/**
 * BP-Transformer's attention, at token level: at every level l = 0, 1, ... of the binary
 * partition (spans of 2^l positions aligned at 0), query i attends the k spans on each side
 * of its own span, each span represented by its first position; level 0 is a band of k
 * neighbours each side. The keys thin out geometrically with distance: O(k log L) per query.
 */
export function bpKeys(i: number, L: number, k: number, out: number[]): void {
  out.push(i);
  for (let size = 1; size < L; size *= 2) {
    const u = Math.floor(i / size);
    for (let m = 1; m <= k; m++) {
      out.push((u - m) * size);
      out.push((u + m) * size);
    }
  }
}

export const bpVariant = patternVariant({
  name: 'bp',
  params: [intParam('k', 4, 1, 'spans attended on each side at every level of the tree')],
  cost: 'O(T k log T D) time, O(T k log T) memory',
  paper:
    'Ye et al. 2019 (BP-Transformer), Sec. 3: span hierarchy as a token-level pattern (each span node replaced by its first token, no extra nodes); Lin et al. 2021 Fig. 6(a)',
  rowKeys({ k }): RowKeys {
    return (i, L, _c, out) => bpKeys(i, L, k, out);
  },
});

/**
 * Image Transformer's 2-D local attention: the grid is split into query blocks of qh rows by
 * qw columns; a block's queries attend the memory block around it, mh rows above (and below
 * when not causal) and mw columns left and right, in raster order when causal.
 */
export function imageBlockKeys(
  i: number,
  L: number,
  W: number,
  [qh, qw, mh, mw]: readonly number[],
  causal: boolean,
  out: number[],
): void {
  const r0 = Math.floor(Math.floor(i / W) / qh) * qh;
  const c0 = Math.floor((i % W) / qw) * qw;
  const r1 = r0 + qh + (causal ? 0 : mh);
  const cLo = Math.max(0, c0 - mw);
  const cHi = Math.min(W, c0 + qw + mw);
  for (let r = Math.max(0, r0 - mh); r < r1; r++)
    for (let c = cLo; c < cHi; c++) if (r * W + c < L) out.push(r * W + c);
}

export const imageBlockVariant = patternVariant({
  name: 'image-block',
  params: [
    intParam('width', 32, 1, 'grid width W: the sequence is a raster-order (rows, W) image'),
    intParam('query-height', 8, 1, 'rows of a query block'),
    intParam('query-width', 8, 1, 'columns of a query block'),
    intParam('memory-height', 8, 0, 'memory rows above a query block (and below, non-causal)'),
    intParam('memory-width', 8, 0, 'memory columns left and right of a query block'),
  ],
  cost: 'O(T (qh + 2 mh)(qw + 2 mw) D) time and O(T (qh + 2 mh)(qw + 2 mw)) memory',
  paper:
    'Parmar et al. 2018 (Image Transformer), Sec. 3.2, Fig. 2: 2-D local attention; Lin et al. 2021 Fig. 6(b)',
  rowKeys(p): RowKeys {
    const W = p.width;
    const sizes = [p['query-height'], p['query-width'], p['memory-height'], p['memory-width']];
    if (sizes[1] > W)
      throw new Error(`image-block attention: query-width=${sizes[1]} must be <= width=${W}`);
    return (i, L, causal, out) => imageBlockKeys(i, L, W, sizes, causal, out);
  },
  rowOrder(p): RowOrder {
    const [W, qh, qw] = [p.width, p['query-height'], p['query-width']];
    return (L) => (qw < W && L > W ? blockMajor(L, W, qh, qw) : null);
  },
});

/**
 * The positions of a raster-order grid of width W over L positions, query block by query
 * block (qh rows by qw columns, blocks in raster order, raster order inside a block): the
 * image-block row order. A block's queries attend the same memory block, so side by side
 * they form one run of the sparse kernel (one gather, GEMMs of qh * qw rows) instead of qh
 * runs of qw rows.
 */
export function blockMajor(L: number, W: number, qh: number, qw: number): Int32Array {
  const order = new Int32Array(L);
  const rows = Math.ceil(L / W);
  let t = 0;
  for (let r0 = 0; r0 < rows; r0 += qh)
    for (let c0 = 0; c0 < W; c0 += qw)
      for (let r = r0; r < Math.min(r0 + qh, rows); r++)
        for (let c = c0; c < Math.min(c0 + qw, W); c++) if (r * W + c < L) order[t++] = r * W + c;
  return order;
}

/** Axial attention, one combined step: the keys in query i's grid row and grid column. */
export function axialKeys(i: number, L: number, W: number, out: number[]): void {
  blockKeys(i, W, out); // the row: a block of W positions
  strideKeys(i, L, W, out); // the column: every W-th position
}

export const axialVariant = patternVariant({
  name: 'axial',
  params: [intParam('width', 32, 1, 'grid width W: the sequence is a raster-order (rows, W) grid')],
  cost: 'O(T (W + T / W) D) time, O(T (W + T / W)) memory',
  paper:
    'Ho et al. 2019 (Axial Attention): row and column attention as one combined pattern (one step, not two layers); Lin et al. 2021 Fig. 6(c)',
  rowKeys({ width: W }): RowKeys {
    return (i, L, _c, out) => axialKeys(i, L, W, out);
  },
  split({ width: W }): PatternSplit {
    // The grid row in position order (a block of W keys) and the grid column column by
    // column (a contiguous run of the column's queries over the same keys); the query
    // itself, in both, taken away by a third part. Disjoint: the row without the query.
    return (L, _causal, signed) => {
      if (L < SPLIT_MIN_COLUMN * W) return null; // short columns: the whole pattern
      const column = {
        rowKeys: ((i, L2, _c, out) => strideKeys(i, L2, W, out)) as RowKeys,
        order: gridColumns(L, W),
      };
      if (!signed)
        return [{ rowKeys: (i, _L, _c, out) => rowKeysExceptSelf(i, W, out), order: null }, column];
      return [
        { rowKeys: (i, _L, _c, out) => blockKeys(i, W, out), order: null },
        column,
        { rowKeys: (i, _L, _c, out) => out.push(i), order: null, sign: -1 },
      ];
    };
  },
});

/** The keys of query i's grid row of width W (a block of W positions) but i. */
function rowKeysExceptSelf(i: number, W: number, out: number[]): void {
  const start = Math.floor(i / W) * W;
  for (let j = start; j < start + W; j++) if (j !== i) out.push(j);
}

/**
 * The positions of a raster-order grid of width W over L positions column by column (column
 * 0 top to bottom, then column 1, ...): the order in which a grid column's positions are
 * consecutive, for the column parts of axial and strided attention (PatternSplit).
 */
export function gridColumns(L: number, W: number): Int32Array {
  return blockMajor(L, W, Math.ceil(L / W), 1); // query blocks one column wide, whole height
}
