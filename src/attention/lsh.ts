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
import { backend } from '../backend/index.js';
import { Generator } from '../random.js';
import { Tensor, randn, scratchI32 } from '../tensor.js';
import * as F from '../ops/index.js';
import {
  checkInt,
  headsToBHLD,
  mergeHeads,
  runOptions,
  type CoreDims,
  type CoreInput,
  type CoreOutput,
} from './core.js';
import type { AttentionVariant } from './registry.js';
import { chunkedPlan } from './chunk-plan.js';
import { TaggedKVCore, TaggedKVState, biasReader, gatheredAttention } from './gathered.js';

export class LSHAttention extends TaggedKVCore {
  readonly kind = 'lsh';
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
    super(dims, rounds);
    if (!Number.isInteger(buckets) || buckets < 1 || (buckets > 1 && buckets % 2 !== 0))
      throw new Error(`lsh attention: buckets must be 1 or an even integer, got ${buckets}`);
    checkInt('lsh attention', 'rounds', rounds);
    checkInt('lsh attention', 'chunk', chunk);
    this.rotations = this.drawRotations(new Generator(seed));
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
   * @returns Int32Array (B, H, R, L) of buckets in [0, n); inside a StepArena step, storage of
   *   the step (scratchI32): copy it to keep it past the step.
   */
  hash(x: Tensor, rotations: Tensor = this.rotations): Int32Array {
    const [B, H, L] = x.shape;
    const R = this.rounds;
    const n = this.buckets;
    const out = scratchI32(B * H * R * L); // every element written below
    if (n === 1) return out.fill(0);
    const half = n / 2;
    const proj = noGrad(() => F.matmul(x, rotations)).f32; // (B, H, L, R * n/2)
    backend().lshBuckets(out, proj, B * H, L, R, half);
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
      ...runOptions(input),
    };
    const R = this.rounds;
    const rows = state ? state.rows + T : T; // key positions after this call
    if (state) {
      if (!input.causal)
        throw new Error('lsh attention: decoding with a state needs causal attention');
      state.append(kn, v);
      state.appendTags(buckets, B * H, T);
    }
    biasReader(input.bias, [B, H, T, rows], 'lsh'); // refuses a bias that does not fit
    const plan = chunkedPlan({
      B,
      H,
      R,
      qTags: buckets,
      kTags: state
        ? state.tags
        : Array.from({ length: B * H * R }, (_, i) => buckets.subarray(i * T, (i + 1) * T)),
      qStart: rows - T,
      chunk: this.chunk,
      causal: input.causal,
      flagSelf: true,
      bias: input.bias,
      combine: 'lse',
    });
    const [keys, values] = state ? [state.k!, state.v!] : [kn, v];
    const r = gatheredAttention(plan, q, keys, values, { ...opts, S: rows });
    return { out: mergeHeads(r.out), weights: r.weights };
  }
}

/** The registry entry of `lsh` (`--attention lsh:buckets=8,rounds=2,chunk=64`). */
export const lshVariant: AttentionVariant = {
  name: 'lsh',
  params: [
    { name: 'buckets', type: 'int', default: 8, min: 1, doc: 'hash buckets n (1 or even)' },
    { name: 'rounds', type: 'int', default: 2, min: 1, doc: 'hashing rounds' },
    { name: 'chunk', type: 'int', default: 64, min: 1, doc: 'tokens per chunk in a bucket' },
    { name: 'seed', type: 'int', default: 0, min: 0, doc: 'seed of the fixed rotations' },
    { name: 'rehash', type: 'bool', default: true, doc: 'new rotations each training step' },
  ],
  cost: 'O(rounds T chunk D) time, O(rounds T chunk) memory; shared QK (K heads unused)',
  paper: 'Reformer: Kitaev et al. 2020, Sec. 2 (survey Sec. 4.1.2)',
  causal: true,
  nonCausal: true,
  create: (d, p) =>
    new LSHAttention(
      d,
      p.buckets as number,
      p.rounds as number,
      p.chunk as number,
      p.seed as number,
      p.rehash as boolean,
    ),
};
