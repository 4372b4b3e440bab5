/**
 * `lsh`: Reformer's locality-sensitive-hashing attention (Kitaev et al. 2020, Sec. 2; the
 * survey's content-based sparse attention, Lin et al. 2021, Sec. 4.1.2).
 *
 * - Shared QK: keys are the queries normalized to unit length, k_j = q_j / |q_j| (Sec. 2
 *   "Shared-QK Transformer"). Reformer ties W_K to W_Q; this core keeps MultiheadAttention's
 *   layout (and state dict) and *ignores the K heads*: it uses the Q heads as keys. The W_K
 *   rows of `in_proj_weight` are then inert (zero gradient), which is cheaper to reason about
 *   than aliasing two projections and keeps checkpoints interchangeable with `full`.
 * - Angular LSH by random rotations (Sec. 2 "Hashing attention", after Andoni et al. 2015):
 *   with a random (D, n/2) matrix R, h(x) = argmax([xR; -xR]) over n buckets. Rotations are
 *   drawn afresh from the call's generator on every training forward (as Reformer does;
 *   `rehash=false` keeps them fixed), and are fixed, drawn from `seed` at construction, in
 *   evaluation and decoding, so inference is deterministic and a saved model reloads equal.
 * - Sort by (bucket, position); within each bucket, split the tokens into chunks of `chunk`
 *   in position order; a query attends the keys of its bucket in its chunk and the previous
 *   chunk of the same bucket (Sec. 2, Fig. 2 "attend within the same chunk and one chunk
 *   back"). Chunking per bucket (rather than chunking the concatenated sorted sequence, as
 *   trax does) keeps the attended set a function of the past only, so the causal variant
 *   leaks nothing through chunk boundaries and decodes exactly; the dense equivalent is the
 *   mask "same bucket, and chunk(rank_k) in {chunk(rank_q) - 1, chunk(rank_q)}".
 * - A token attends itself only when nothing else is allowed (its score is SELF_SCORE).
 * - Multi-round: `rounds` independent hashes; the rounds' outputs are combined weighted by
 *   softmax of their log-sum-exp of scores (Sec. 2 "Multi-round LSH attention").
 * - Causal: keys after the query are masked. Decoding keeps every key and value and each
 *   position's buckets (TaggedKVState); a new query attends, per round, the held keys of its
 *   bucket whose rank is in [c (floor(p/c) - 1), p], p its own rank: exactly what the full
 *   causal pass gives it.
 *
 * Time O(rounds T chunk D), memory O(rounds T chunk) (plus at most `buckets` padded chunks).
 * Self-attention only (one sequence is both queries and keys).
 *
 * Shape letters: B batch, H heads, T length, D head width, R rounds, n buckets, c chunk.
 */
import { noGrad } from '../autograd.js';
import { Generator } from '../random.js';
import { Tensor, randn } from '../tensor.js';
import * as F from '../ops/index.js';
import {
  AttentionCore,
  headsToBHLD,
  mergeHeads,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import { TaggedKVState, biasReader, gatheredAttention, type GatherPlan } from './gathered.js';

type Bias = ReturnType<typeof biasReader>;

export class LSHAttention extends AttentionCore<TaggedKVState> {
  readonly kind = 'lsh';
  readonly supportsCausal = true;
  readonly supportsNonCausal = true;
  /** The fixed rotations (R, D, n/2) drawn from `seed` (evaluation and decoding). */
  readonly rotations: Tensor;

  /**
   * @param buckets n, 1 or even (angular LSH uses +-xR).
   * @param rounds R >= 1 hashing rounds.
   * @param chunk c >= 1 tokens per chunk.
   * @param seed seed of the fixed rotations.
   * @param rehash draw new rotations on each training forward.
   * @throws Error naming the parameter when buckets is not 1 or even, or rounds/chunk < 1.
   */
  constructor(
    dims: CoreDims,
    readonly buckets: number,
    readonly rounds: number,
    readonly chunk: number,
    readonly seed = 0,
    readonly rehash = true,
  ) {
    super(dims);
    if (!Number.isInteger(buckets) || buckets < 1 || (buckets > 1 && buckets % 2 !== 0))
      throw new Error(`lsh attention: buckets must be 1 or an even integer, got ${buckets}`);
    if (!Number.isInteger(rounds) || rounds < 1)
      throw new Error(`lsh attention: rounds must be an integer >= 1, got ${rounds}`);
    if (!Number.isInteger(chunk) || chunk < 1)
      throw new Error(`lsh attention: chunk must be an integer >= 1, got ${chunk}`);
    this.rotations = this.drawRotations(new Generator(seed));
  }

  newState(): TaggedKVState {
    return new TaggedKVState(this.rounds);
  }

  /** R random (D, n/2) rotations as one (D, R * n/2) matrix. */
  private drawRotations(gen: Generator): Tensor {
    const half = Math.max(1, this.buckets / 2);
    return randn([this.headDim, this.rounds * half], gen);
  }

  /**
   * The bucket of every row in every round: h_r(x) = argmax([x R_r; -x R_r]).
   * @param x (B, H, L, D) float32 (queries; normalization does not change the bucket).
   * @param rotations (D, R * n/2), default the fixed ones.
   * @returns Int32Array (B, H, R, L) of buckets in [0, n).
   */
  hash(x: Tensor, rotations: Tensor = this.rotations): Int32Array {
    const [B, H, L] = x.shape;
    const R = this.rounds;
    const n = this.buckets;
    const out = new Int32Array(B * H * R * L);
    if (n === 1) return out;
    const half = n / 2;
    const proj = noGrad(() => F.matmul(x, rotations)).f32; // (B, H, L, R * n/2)
    for (let bh = 0; bh < B * H; bh++)
      for (let l = 0; l < L; l++)
        for (let r = 0; r < R; r++) {
          const p = (bh * L + l) * R * half + r * half;
          let best = 0;
          let bestV = -Infinity;
          for (let j = 0; j < n; j++) {
            const val = j < half ? proj[p + j] : -proj[p + j - half];
            if (val > bestV) [best, bestV] = [j, val];
          }
          out[(bh * R + r) * L + l] = best;
        }
    return out;
  }

  forward(input: CoreInput, state?: TaggedKVState | null): CoreOutput {
    const H = this.numHeads;
    const D = this.headDim;
    const [B, T] = input.q.x.shape;
    const S = input.k.x.shape[1];
    if (S !== T)
      throw new Error(
        `lsh attention: self-attention only (shared QK); got ${T} queries and ${S} keys`,
      );
    const q = headsToBHLD(input.q, H, D); // (B, H, T, D)
    const v = headsToBHLD(input.v, H, D);
    const kn = F.div(q, F.sqrt(F.add(F.sum(F.mul(q, q), -1, true), 1e-12))); // shared QK keys
    const draw = this.training && this.rehash && !state;
    const buckets = this.hash(q, draw ? this.drawRotations(input.generator) : undefined);
    const opts = {
      dropoutP: input.dropoutP,
      generator: input.generator,
      needWeights: input.needWeights,
    };
    if (!state) {
      const bias = biasReader(input.bias, [B, H, T, T], 'lsh');
      const plan = chunkPlan(
        buckets,
        B,
        H,
        this.rounds,
        T,
        this.buckets,
        this.chunk,
        input.causal,
        bias,
      );
      const r = gatheredAttention(plan, q, kn, v, { ...opts, S: T });
      return { out: mergeHeads(r.out), weights: r.weights };
    }
    if (!input.causal)
      throw new Error('lsh attention: decoding with a state needs causal attention');
    state.append(kn, v);
    state.appendTags(buckets, B * H * this.rounds, T);
    const rows = state.rows;
    const bias = biasReader(input.bias, [B, H, T, rows], 'lsh');
    const plan = decodePlan(state, B, H, this.rounds, T, this.chunk, bias);
    const r = gatheredAttention(plan, q, state.k!, state.v!, { ...opts, S: rows });
    return { out: mergeHeads(r.out), weights: r.weights };
  }
}

/** Empty plan arrays for G groups of Q queries and K keys (everything masked). */
function emptyPlan(B: number, H: number, G: number, Q: number, K: number, T: number, M: number) {
  return {
    B,
    H,
    G,
    Q,
    K,
    T,
    M,
    qRow: new Int32Array(B * H * G * Q).fill(-1),
    kRow: new Int32Array(B * H * G * K).fill(-1),
    mask: new Float32Array(B * H * G * Q * K).fill(-Infinity),
    self: new Uint8Array(B * H * G * Q * K),
    slot: new Int32Array(B * H * T * M).fill(-1),
    combine: 'lse' as const,
  };
}

/**
 * Allow key position sp for query position tp at mask index i (causal rule, self flag, bias).
 * @param t the query's index among this call's queries (for the bias).
 */
function allow(
  plan: ReturnType<typeof emptyPlan>,
  i: number,
  b: number,
  h: number,
  t: number,
  tp: number,
  sp: number,
  causal: boolean,
  bias: Bias,
): void {
  if (causal && sp > tp) return;
  plan.mask[i] = bias ? bias(b, h, t, sp) : 0;
  if (sp === tp) plan.self[i] = 1;
}

/**
 * The full pass: per (b, h, round), tokens sorted by (bucket, position), chunks of c within
 * each bucket; group = one chunk, its keys = the previous chunk of the bucket and itself.
 * @param buckets (B, H, R, T) bucket ids.
 */
export function chunkPlan(
  buckets: Int32Array,
  B: number,
  H: number,
  R: number,
  T: number,
  n: number,
  c: number,
  causal: boolean,
  bias: Bias,
): GatherPlan {
  // Positions of each bucket in order, per (b, h, r).
  const lists: number[][][] = [];
  let Gmax = 0;
  for (let bhr = 0; bhr < B * H * R; bhr++) {
    const per: number[][] = Array.from({ length: n }, () => []);
    for (let t = 0; t < T; t++) per[buckets[bhr * T + t]].push(t);
    lists.push(per);
    Gmax = Math.max(
      Gmax,
      per.reduce((s, l) => s + Math.ceil(l.length / c), 0),
    );
  }
  const G = R * Gmax;
  const K = 2 * c;
  const plan = emptyPlan(B, H, G, c, K, T, R);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let r = 0; r < R; r++) {
        const bh = b * H + h;
        let g = r * Gmax; // this round's groups
        for (const P of lists[bh * R + r])
          for (let j = 0; j * c < P.length; j++, g++) {
            const own = P.slice(j * c, (j + 1) * c);
            const prev = j > 0 ? P.slice((j - 1) * c, j * c) : [];
            const keys = [...prev, ...new Array<number>(c - prev.length).fill(-1), ...own];
            plan.kRow.set(keys, (bh * G + g) * K);
            own.forEach((tp, qi) => {
              const s = (bh * G + g) * c + qi;
              plan.qRow[s] = tp;
              plan.slot[(bh * T + tp) * R + r] = g * c + qi;
              keys.forEach((sp, kj) => {
                if (sp >= 0) allow(plan, s * K + kj, b, h, tp, tp, sp, causal, bias);
              });
            });
          }
      }
  return plan;
}

/**
 * Decoding: each new query (position rows - T + t) is its own group per round; its keys are
 * the held positions of its bucket with rank in [c (floor(p/c) - 1), p].
 */
function decodePlan(
  state: TaggedKVState,
  B: number,
  H: number,
  R: number,
  T: number,
  c: number,
  bias: Bias,
): GatherPlan {
  const S = state.rows;
  const G = R * T;
  const K = 2 * c;
  const plan = emptyPlan(B, H, G, 1, K, T, R);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let r = 0; r < R; r++) {
        const bh = b * H + h;
        const tags = state.tags[bh * R + r];
        for (let t = 0; t < T; t++) {
          const tp = S - T + t;
          const mine: number[] = []; // same-bucket positions <= tp
          for (let s = 0; s <= tp; s++) if (tags[s] === tags[tp]) mine.push(s);
          const p = mine.length - 1;
          const keys = mine.slice(Math.max(0, c * (Math.floor(p / c) - 1)));
          const g = r * T + t;
          plan.qRow[bh * G + g] = t;
          plan.slot[(bh * T + t) * R + r] = g;
          plan.kRow.set(keys, (bh * G + g) * K);
          keys.forEach((sp, kj) => allow(plan, (bh * G + g) * K + kj, b, h, t, tp, sp, true, bias));
        }
      }
  return plan;
}
