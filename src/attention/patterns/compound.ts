/**
 * The compound sparse attention patterns of the survey (Lin et al. 2021, Sec. 4.1.1.2,
 * Fig. 5), unions of the atomic ones (./atomic.ts): Star-Transformer, Longformer, ETC,
 * BigBird, and the Sparse Transformer's strided and fixed patterns. Each runs as a
 * SparsePatternCore; the global tokens are the first g positions of the sequence (the papers'
 * extra nodes - Star's relay, ETC's global input - are played by real tokens).
 *
 * Positions: query i, key j in [0, L); causal use keeps j <= i. Letters: w window, d
 * dilation, g global tokens (or blocks), b block size, r random blocks, l stride, c summary.
 */
import {
  SPLIT_MIN_COLUMN,
  intParam,
  patternVariant,
  type PatternSplit,
  type RowKeys,
} from '../sparse.js';
import { gridColumns } from './extended.js';
import {
  bandKeys,
  blockKeys,
  dilatedKeys,
  globalKeys,
  sampleDistinct,
  strideKeys,
} from './atomic.js';

export const starVariant = patternVariant({
  name: 'star',
  params: [],
  cost: 'O(T D) time, O(T) memory (3 neighbours and the relay per query)',
  paper:
    'Guo et al. 2019 (Star-Transformer): band of width 3 plus one relay node (position 0); Lin et al. 2021 Fig. 5(a)',
  rowKeys(): RowKeys {
    return (i, L, _c, out) => {
      bandKeys(i, 2, out); // i - 1, i, i + 1
      globalKeys(i, L, 1, out);
    };
  },
});

export const longformerVariant = patternVariant({
  name: 'longformer',
  params: [
    intParam('window', 32, 1, 'sliding window: keys each side, the query itself included'),
    intParam('dilation', 2, 1, 'spacing of the dilated window (as many keys as the window)'),
    intParam('global', 1, 0, 'global tokens: the first g positions'),
  ],
  cost: 'O(T (w + g) D) time, O(T (w + g)) memory',
  paper:
    'Beltagy et al. 2020 (Longformer), Sec. 3.1: sliding + dilated sliding window + global, one pattern for all heads; Lin et al. 2021 Fig. 5(b)',
  rowKeys({ window: w, dilation: d, global: g }): RowKeys {
    return (i, L, _c, out) => {
      bandKeys(i, w, out);
      dilatedKeys(i, w, d, out);
      globalKeys(i, L, g, out);
    };
  },
});

export const etcVariant = patternVariant({
  name: 'etc',
  params: [
    intParam('window', 64, 1, 'local radius: keys each side, the query itself included'),
    intParam('global', 4, 0, 'global tokens: the first g positions play the global input'),
  ],
  cost: 'O(T (w + g) D) time, O(T (w + g)) memory',
  paper:
    'Ainslie et al. 2020 (ETC), Sec. 3.1: global-local attention (g2g, g2l, l2g, l2l); Lin et al. 2021 Fig. 5(c)',
  rowKeys({ window: w, global: g }): RowKeys {
    return (i, L, _c, out) => {
      bandKeys(i, w, out);
      globalKeys(i, L, g, out);
    };
  },
});

/**
 * BigBird's key blocks for query block m of nb (causal: blocks <= m only): the blocks
 * m - 1, m, m + 1 (sliding), the first g blocks (global), and r random blocks drawn
 * among the others, seeded by (seed, m). Global blocks attend every block.
 */
export function bigBirdBlocks(
  m: number,
  nb: number,
  causal: boolean,
  g: number,
  r: number,
  seed: number,
): number[] {
  const last = causal ? m : nb - 1;
  if (m < g) return Array.from({ length: last + 1 }, (_, j) => j);
  const fixed = new Set<number>([m - 1, m, m + 1]);
  for (let j = 0; j < g; j++) fixed.add(j);
  const others: number[] = [];
  for (let j = 0; j <= last; j++) if (!fixed.has(j)) others.push(j);
  const picked = sampleDistinct(others.length, r, seed, m).map((k) => others[k]);
  return [...fixed, ...picked].filter((j) => j >= 0 && j <= last);
}

export const bigbirdVariant = patternVariant({
  name: 'bigbird',
  params: [
    intParam('block', 64, 1, 'block size b (BigBird attends block by block)'),
    intParam('global', 2, 0, 'global blocks: the first g blocks (ITC)'),
    intParam('random', 3, 0, 'random key blocks per query block, seeded'),
    intParam('seed', 0, 0, 'seed of the random blocks (shared by all heads)'),
  ],
  cost: 'O(T b (3 + g + r) D) time, O(T b (3 + g + r)) memory',
  paper:
    'Zaheer et al. 2020 (BigBird-ITC), Sec. 2 and App. D: blocked window + global + random; Lin et al. 2021 Fig. 5(d)',
  rowKeys({ block: b, global: g, random: r, seed }): RowKeys {
    let last = ''; // the rows of a block share its key blocks: drawn once per block
    let blocks: number[] = [];
    return (i, L, causal, out) => {
      const m = Math.floor(i / b);
      const key = `${m}:${L}:${causal}`;
      if (key !== last)
        [last, blocks] = [key, bigBirdBlocks(m, Math.ceil(L / b), causal, g, r, seed)];
      for (const blk of blocks) for (let j = blk * b; j < blk * b + b; j++) out.push(j);
    };
  },
});

export const stridedVariant = patternVariant({
  name: 'strided',
  params: [intParam('stride', 128, 1, 'stride l, about sqrt(T) in the paper')],
  cost: 'O(T (l + T / l) D) time, O(T (l + T / l)) memory',
  paper:
    'Child et al. 2019 (Sparse Transformer), Sec. 4.2, Fig. 3(b): A1 = {max(0, i - l) .. i}, A2 = {j : (i - j) mod l = 0} (non-causal: |i - j| <= l); Lin et al. 2021 Fig. 5(e)',
  rowKeys({ stride: l }): RowKeys {
    return (i, L, _c, out) => {
      bandKeys(i, l + 1, out); // A1: |i - j| <= l
      strideKeys(i, L, l, out); // A2: (i - j) mod l = 0
    };
  },
  split({ stride: l }): PatternSplit {
    // The band in position order, and the column of a grid of width l column by column,
    // where a column's queries sit side by side and share its keys: the whole column, the
    // pairs in both (j = i, i +- l) taken away by a third part; or, disjoint, the column
    // outside the band.
    return (L, _causal, signed) => {
      if (L < SPLIT_MIN_COLUMN * l || L <= 2 * l) return null; // short columns: whole
      const band: RowKeys = (i, _L, _c, out) => bandKeys(i, l + 1, out);
      const columns = gridColumns(L, l);
      if (!signed)
        return [
          { rowKeys: band, order: null },
          { rowKeys: (i, L2, _c, out) => farStrideKeys(i, L2, l, out), order: columns },
        ];
      return [
        { rowKeys: band, order: null },
        { rowKeys: (i, L2, _c, out) => strideKeys(i, L2, l, out), order: columns },
        { rowKeys: (i, _L, _c, out) => out.push(i - l, i, i + l), order: null, sign: -1 },
      ];
    };
  },
});

/** The strided keys of query i ((i - j) mod l = 0) outside its band (|i - j| > l). */
function farStrideKeys(i: number, L: number, l: number, out: number[]): void {
  for (let j = i % l; j < L; j += l) if (Math.abs(i - j) > l) out.push(j);
}

export const fixedVariant = patternVariant({
  name: 'fixed',
  params: [
    intParam('stride', 128, 1, 'block length l'),
    intParam('summary', 8, 1, 'c: the last c positions of each block summarize it (c <= l)'),
  ],
  cost: 'O(T (l + c T / l) D) time, O(T (l + c T / l)) memory',
  paper:
    'Child et al. 2019 (Sparse Transformer), Sec. 4.2, Fig. 3(c): A1 = {j : floor(j / l) = floor(i / l)}, A2 = {j : j mod l >= l - c}; Lin et al. 2021 Fig. 5(f)',
  rowKeys({ stride: l, summary: c }): RowKeys {
    if (c > l) throw new Error(`fixed attention: summary=${c} must be <= stride=${l}`);
    return (i, L, _c, out) => {
      blockKeys(i, l, out); // A1: floor(j / l) = floor(i / l)
      for (let s = 0; s < L; s += l) for (let j = s + l - c; j < s + l; j++) out.push(j); // A2
    };
  },
});
