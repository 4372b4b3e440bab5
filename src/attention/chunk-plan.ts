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
import { scratchI32, type Tensor } from '../tensor.js';
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
  const BHR = B * H * R;
  // Pass 1, per (b, h, r): the keys of each class in position order (a counting sort), and
  // the group of every query. A class's queries come in position order, so its rank p (and
  // chunk) never decreases: the open group of a class is its latest one, and a pointer per
  // class finds p in O(S + T) over the whole pass (typed arrays, no maps: T 8192 x 8 rounds
  // x heads ran ~10 ms in JavaScript objects).
  // The plan's arrays come from the step's arena (scratchI32): every element is written
  // before it is read (fresh ones faulted in about 1 MB of pages a step at T 8192).
  const qGroup = scratchI32(BHR * T); // local group of each query, -1: none
  const qIdx = scratchI32(BHR * T); // its slot in the group (written when it has one)
  const per: { keys: Int32Array; start: Int32Array; gz: Int32Array; glo: Int32Array }[] = [];
  const counts = new Int32Array(BHR);
  let Gmax = 0;
  for (let bhr = 0; bhr < BHR; bhr++) {
    const tags = a.kTags[bhr];
    const S = tags.length;
    let nC = 0;
    for (let s = 0; s < S; s++) {
      const z = tags[s];
      if (!(z >= 0 && z === (z | 0))) badTag(z, 'key');
      if (z >= nC) nC = z + 1;
    }
    for (let t = bhr * T; t < bhr * T + T; t++) {
      const z = qTags[t];
      if (z < 0) badTag(z, 'query'); // an Int32Array: integers
      if (z >= nC) nC = z + 1;
    }
    const start = new Int32Array(nC + 1);
    for (let s = 0; s < S; s++) start[tags[s] + 1]++;
    for (let z = 0; z < nC; z++) start[z + 1] += start[z];
    const keys = new Int32Array(S);
    const next = start.slice(0, nC);
    for (let s = 0; s < S; s++) keys[next[tags[s]]++] = s;
    const ptr = start.slice(0, nC); // per class: its keys before ptr are at positions <= the query's
    const openG = new Int32Array(nC).fill(-1);
    const openLo = new Int32Array(nC);
    const openN = new Int32Array(nC);
    const gz = new Int32Array(T); // class and first rank of each group
    const glo = new Int32Array(T);
    let ng = 0;
    for (let t = 0; t < T; t++) {
      const i = bhr * T + t;
      const z = qTags[i];
      const pos = a.qStart + t;
      while (ptr[z] < start[z + 1] && keys[ptr[z]] <= pos) ptr[z]++;
      const p = ptr[z] - start[z] - 1;
      if (p < 0) {
        qGroup[i] = -1;
        continue;
      }
      const lo = c * Math.floor(p / c);
      let g = openG[z];
      if (g < 0 || openLo[z] !== lo || openN[z] === c) {
        g = ng++;
        openG[z] = g;
        openLo[z] = lo;
        openN[z] = 0;
        gz[g] = z;
        glo[g] = lo;
      }
      qGroup[i] = g;
      qIdx[i] = openN[z]++;
    }
    per.push({ keys, start, gz, glo });
    counts[bhr] = ng;
    Gmax = Math.max(Gmax, ng);
  }
  // Pass 2: each group's 2c key slots (its chunk and the one before), the query slots and
  // each query's slot per round.
  const G = R * Gmax;
  const K = 2 * c;
  const qRow = scratchI32(B * H * G * c).fill(-1);
  const kRow = scratchI32(B * H * G * K).fill(-1);
  const slot = scratchI32(B * H * T * R).fill(-1);
  for (let bh = 0; bh < B * H; bh++)
    for (let r = 0; r < R; r++) {
      const bhr = bh * R + r;
      const { keys, start, gz, glo } = per[bhr];
      for (let i = 0; i < counts[bhr]; i++) {
        const k0 = start[gz[i]];
        const n = start[gz[i] + 1] - k0;
        const base = (bh * G + r * Gmax + i) * K;
        for (let j = 0; j < K; j++) {
          const rank = glo[i] - c + j;
          if (rank >= 0 && rank < n) kRow[base + j] = keys[k0 + rank];
        }
      }
      for (let t = 0; t < T; t++) {
        const g = qGroup[bhr * T + t];
        if (g < 0) continue;
        const local = (r * Gmax + g) * c + qIdx[bhr * T + t];
        qRow[bh * G * c + local] = t;
        slot[(bh * T + t) * R + r] = local;
      }
    }
  // The causal, self and bias rules stay rules (GatherPlan): no (G, c, 2c) mask is built.
  const { causal, qStart, flagSelf, bias, combine } = a;
  return { B, H, G, Q: c, K, T, M: R, qRow, kRow, slot, combine, causal, qStart, flagSelf, bias };
}

/** @throws Error: a class tag is not a non-negative integer. */
function badTag(z: number, what: string): never {
  throw new Error(`chunkedPlan: ${what} classes must be integers >= 0, got ${z}`);
}
