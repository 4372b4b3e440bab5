/**
 * Chunks within content classes: the attention pattern shared by Reformer's LSH attention
 * (a class = a hash bucket; Kitaev et al. 2020, Sec. 2, Fig. 2: sort by bucket, chunk,
 * attend "within the same chunk and one chunk back") and causal routing attention (a class
 * = a k-means cluster; Roy et al. 2021), as a GatherPlan.
 *
 * The keys of each class, in position order, are cut into chunks of c (by their rank in the
 * class). A query of class z at position i has rank p = (number of class-z keys at positions
 * <= i) - 1, chunk floor(p / c), and attends the class-z keys of that chunk and the previous
 * one: ranks [c (floor(p/c) - 1), c (floor(p/c) + 1)), only those at positions <= i when
 * causal. A query with no class-z key at or before it (p < 0) attends nothing. Because the
 * ranks count only keys at positions <= i, the causal pattern is a function of the past:
 * the same for a full pass and for decoding one query at a time.
 *
 * Queries of one (class, chunk) form groups of at most c; each group gets the 2c key slots
 * of its two chunks. Time O(T c) to build, O(T c D) to attend (gatheredAttention).
 *
 * Shape letters: B batch, H heads, R channels (hash rounds; 1 for routing), T queries, S
 * keys, c chunk.
 */
import type { Tensor } from '../tensor.js';
import type { GatherPlan } from './gathered.js';

/** What `chunkedPlan` needs. */
export interface ChunkedPlanInput {
  readonly B: number;
  readonly H: number;
  /** R: independent channels (LSH rounds), each query gets one slot per channel. */
  readonly R: number;
  /** (B*H*R*T) the class of each query per channel. */
  readonly qTags: Int32Array;
  /** kTags[(b*H + h)*R + r][s]: the class of the key at position s (S positions). */
  readonly kTags: readonly ArrayLike<number>[];
  /** Position of query 0 (query t is at qStart + t). */
  readonly qStart: number;
  /** c >= 1. */
  readonly chunk: number;
  readonly causal: boolean;
  /** Flag each query's own key (shared QK: its score becomes SELF_SCORE). */
  readonly flagSelf: boolean;
  /** Additive score bias broadcastable to (B, H, T, S) (a mask), or null. */
  readonly bias: Tensor | null;
  readonly combine: 'lse' | 'mean';
}

/**
 * The chunk-within-class pattern (see the file's comment) as a GatherPlan.
 * @returns groups of `chunk` query slots and 2 `chunk` key slots; M = R slots per query.
 */
export function chunkedPlan(a: ChunkedPlanInput): GatherPlan {
  const { B, H, R, chunk: c, qTags } = a;
  const T = qTags.length / (B * H * R);
  // Per (b, h, r): the groups [class key list, first rank of the own chunk, query indices].
  const groups: { keys: number[]; lo: number; queries: number[] }[][] = [];
  let Gmax = 0;
  for (let bhr = 0; bhr < B * H * R; bhr++) {
    const tags = a.kTags[bhr];
    const byClass = new Map<number, number[]>();
    for (let s = 0; s < tags.length; s++) {
      const z = tags[s];
      const l = byClass.get(z);
      if (l) l.push(s);
      else byClass.set(z, [s]);
    }
    const open = new Map<number, { keys: number[]; lo: number; queries: number[] }>();
    const list: { keys: number[]; lo: number; queries: number[] }[] = [];
    for (let t = 0; t < T; t++) {
      const keys = byClass.get(qTags[bhr * T + t]);
      const p = keys ? upperBound(keys, a.qStart + t) - 1 : -1;
      if (p < 0) continue;
      const lo = c * Math.floor(p / c);
      const id = qTags[bhr * T + t] * (tags.length + 1) + lo; // (class, chunk)
      let g = open.get(id);
      if (!g || g.queries.length === c) {
        g = { keys: keys!, lo, queries: [] };
        open.set(id, g);
        list.push(g);
      }
      g.queries.push(t);
    }
    groups.push(list);
    Gmax = Math.max(Gmax, list.length);
  }
  const G = R * Gmax;
  const K = 2 * c;
  const qRow = new Int32Array(B * H * G * c).fill(-1);
  const kRow = new Int32Array(B * H * G * K).fill(-1);
  const slot = new Int32Array(B * H * T * R).fill(-1);
  for (let bh = 0; bh < B * H; bh++)
    for (let r = 0; r < R; r++) {
      const list = groups[bh * R + r];
      for (let i = 0; i < list.length; i++) {
        const grp = list[i];
        const g = bh * G + r * Gmax + i; // global group index
        const base = g * K;
        for (let j = 0; j < K; j++) {
          const rank = grp.lo - c + j;
          if (rank >= 0 && rank < grp.keys.length) kRow[base + j] = grp.keys[rank];
        }
        for (let qi = 0; qi < grp.queries.length; qi++) {
          const t = grp.queries[qi];
          qRow[g * c + qi] = t;
          slot[(bh * T + t) * R + r] = (r * Gmax + i) * c + qi;
        }
      }
    }
  // The causal, self and bias rules stay rules (GatherPlan): no (G, c, 2c) mask is built.
  const { causal, qStart, flagSelf, bias, combine } = a;
  return { B, H, G, Q: c, K, T, M: R, qRow, kRow, slot, combine, causal, qStart, flagSelf, bias };
}

/** The number of elements of the ascending list `xs` that are <= x. */
function upperBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
