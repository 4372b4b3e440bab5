/**
 * The atomic sparse attention patterns of the survey (Lin et al. 2021, Sec. 4.1.1.1,
 * Fig. 4): global, band (`local`, a blocked dense core of its own), dilated, random and
 * block-local, as registry variants run by SparsePatternCore, and the key sets the
 * compound patterns (./compound.ts) are made of.
 *
 * Positions: query i, key j, both in [0, L). Causal use keeps j <= i (the builder's job);
 * every row's keys <= i depend only on i and the parameters (see ../sparse.ts).
 *
 * Letters: L sequence length, w window (keys each side, the query's own included),
 * d dilation, r random keys per query, b block size, g global tokens, l stride.
 */
import { intParam, patternVariant, type RowKeys } from '../sparse.js';

/** Band (Fig. 4(b)): the keys j with |i - j| < w (the builder drops those past i when causal). */
export function bandKeys(i: number, w: number, out: number[]): void {
  for (let j = i - w + 1; j < i + w; j++) out.push(j);
}

/**
 * Dilated band (Fig. 4(c)): the keys j = i + m d for |m| < w, gaps of d - 1 between them
 * (Beltagy et al. 2020, Sec. 3.1, "dilated sliding window"). d = 1 is the band.
 */
export function dilatedKeys(i: number, w: number, d: number, out: number[]): void {
  for (let m = 1 - w; m < w; m++) out.push(i + m * d);
}

/**
 * Global tokens (Fig. 4(a)): the first g positions attend every key and every query
 * attends them.
 */
export function globalKeys(i: number, L: number, g: number, out: number[]): void {
  if (i < g) for (let j = 0; j < L; j++) out.push(j);
  else for (let j = 0; j < g; j++) out.push(j);
}

/** Block-local (Fig. 4(e)): the keys of i's block [b floor(i / b), b floor(i / b) + b). */
export function blockKeys(i: number, b: number, out: number[]): void {
  const start = Math.floor(i / b) * b;
  for (let j = start; j < start + b; j++) out.push(j);
}

/**
 * Strided keys: every l-th key, the keys j with (i - j) mod l = 0 over the whole sequence
 * (Child et al. 2019, Sec. 4.2, A2 of the strided pattern; the column of a grid of width l).
 */
export function strideKeys(i: number, L: number, l: number, out: number[]): void {
  for (let j = i % l; j < L; j += l) out.push(j);
}

/** A uint32 hash of two integers (MurmurHash3's fmix32 of a mix): seeds a row's draws. */
function hash2(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(b + 0x7f4a7c15, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * r distinct draws from [0, n) (all of them when r >= n), by Floyd's algorithm with a
 * generator seeded by (seed, row): the same row and seed give the same draws on every run.
 */
export function sampleDistinct(n: number, r: number, seed: number, row: number): number[] {
  if (r >= n) return Array.from({ length: n }, (_, j) => j);
  let state = hash2(seed, row);
  const next = (bound: number): number => {
    state = hash2(state, 0x2545f491);
    return state % bound;
  };
  const chosen = new Set<number>();
  for (let j = n - r; j < n; j++) {
    const t = next(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen];
}

/**
 * Random (Fig. 4(d)): r keys drawn without replacement for each query, from [0, L), or
 * from [0, i] when causal (so the row does not depend on L), seeded by (seed, i).
 */
export function randomKeys(
  i: number,
  L: number,
  causal: boolean,
  r: number,
  seed: number,
  out: number[],
): void {
  for (const j of sampleDistinct(causal ? i + 1 : L, r, seed, i)) out.push(j);
}

export const dilatedVariant = patternVariant({
  name: 'dilated',
  params: [
    intParam('window', 32, 1, 'keys each side of a query at spacing dilation, itself included'),
    intParam('dilation', 2, 1, 'spacing d of the keys (d - 1 skipped between them)'),
  ],
  cost: 'O(T w D) time, O(T w) memory',
  paper: 'dilated attention: Lin et al. 2021 Fig. 4(c); Beltagy et al. 2020, Sec. 3.1',
  rowKeys({ window: w, dilation: d }): RowKeys {
    return (i, _L, _c, out) => dilatedKeys(i, w, d, out);
  },
});

export const randomVariant = patternVariant({
  name: 'random',
  params: [
    intParam('keys', 16, 1, 'random keys per query (drawn among the keys <= i when causal)'),
    intParam('seed', 0, 0, 'seed of the draws (the pattern is fixed, shared by all heads)'),
  ],
  cost: 'O(T r D) time, O(T r) memory',
  paper: 'random attention: Lin et al. 2021 Fig. 4(d); Zaheer et al. 2020 (BigBird), Sec. 2',
  rowKeys({ keys: r, seed }): RowKeys {
    return (i, L, causal, out) => randomKeys(i, L, causal, r, seed, out);
  },
});

export const blockVariant = patternVariant({
  name: 'block',
  params: [intParam('block', 64, 1, 'block size b: queries attend within their block')],
  cost: 'O(T b D) time, O(T b) memory',
  paper: 'block local attention: Lin et al. 2021 Fig. 4(e); Qiu et al. 2020 (BlockBERT)',
  rowKeys({ block: b }): RowKeys {
    return (i, _L, _c, out) => blockKeys(i, b, out);
  },
});

export const globalVariant = patternVariant({
  name: 'global',
  params: [intParam('global', 1, 1, 'global tokens: the first g positions')],
  cost: 'O(T g D) time, O(T g) memory',
  paper:
    'global attention: Lin et al. 2021 Fig. 4(a) (each query also attends itself); Beltagy et al. 2020, Sec. 3.1',
  rowKeys({ global: g }): RowKeys {
    return (i, L, _c, out) => {
      globalKeys(i, L, g, out);
      out.push(i);
    };
  },
});
