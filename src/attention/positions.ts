/**
 * Relative position schemes (the survey's Sec. 4.5 "attention with prior" and Sec. 5.1
 * "position representations", Lin et al. 2021): they act inside self-attention, on the
 * queries and keys (RoPE) or on the scores through the core's additive bias (ALiBi, T5
 * buckets, Shaw's relative keys), never on the token embeddings. A model that uses one
 * adds no absolute positional encoding.
 *
 * Each scheme sees the absolute position of the first query (`qStart`) and of the first
 * key (`kStart`), so decoding with a state gives the same numbers as a full pass.
 *
 * Shape letters: B batch, H heads, T queries, S keys, D head width.
 */
import { Tensor, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from '../nn/module.js';
import type { Generator } from '../random.js';
import { headsToBHLD, type Heads } from './core.js';
import {
  SpecRegistry,
  describeEntry,
  type Spec,
  type SpecEntry,
  type VariantParams,
} from './spec.js';

/** What a scheme is applied to: the heads of one self-attention call. */
export interface PositionInput {
  readonly q: Heads;
  readonly k: Heads;
  /** Absolute position of query 0 and of (new) key 0. */
  readonly qStart: number;
  readonly kStart: number;
  /** Keys in all, the state's included (key s is at position s). */
  readonly S: number;
  /** Causal self-attention (T5's buckets are then one-directional). */
  readonly causal: boolean;
}

/**
 * Rotated heads (RoPE) and/or a score bias: dense, broadcastable to (B, H, T, S) (Shaw),
 * or by relative distance only (ALiBi, T5: its diagonals, which full attention's kernels
 * read without a (H, T, S) mask; other cores get it dense, F.relativeBiasDense).
 */
export interface PositionOutput {
  readonly q: Heads;
  readonly k: Heads;
  readonly bias: Tensor | null;
  readonly relativeBias?: F.RelativeBias;
}

/** A relative position scheme: a Module, so learned ones (T5, Shaw) get state-dict names. */
export abstract class RelativePosition extends Module {
  abstract readonly kind: string;
  constructor(
    readonly numHeads: number,
    readonly headDim: number,
  ) {
    super();
  }
  abstract apply(input: PositionInput): PositionOutput;
}

/** Heads as a (B, L, H*D) tensor of their own (col 0). */
function ownHeads(h: Heads, H: number, D: number): Tensor {
  const [, , W] = h.x.shape;
  return h.col === 0 && W === H * D ? h.x : F.slice(h.x, 2, h.col, h.col + H * D);
}

/**
 * RoPE (Su et al. 2021, RoFormer, Eq. 34): each pair (x_2i, x_2i+1) of every head of q and
 * k at position m is rotated by the angle m theta_i, theta_i = base^(-2i/D). Then
 * q_m . k_n depends on m - n only. D must be even.
 */
export class RotaryPosition extends RelativePosition {
  readonly kind = 'rope';
  constructor(
    H: number,
    D: number,
    readonly base = 10000,
  ) {
    super(H, D);
    if (D % 2 !== 0) throw new Error(`rope: the head width ${D} must be even`);
  }
  /** x (B, L, H*D) at positions start.. -> rotated (B, L, H*D). */
  rotate(x: Tensor, start: number): Tensor {
    const [B, L] = x.shape;
    const H = this.numHeads;
    const D = this.headDim;
    const half = D / 2;
    const cos = zeros([L, 1, half, 1]);
    const sin = zeros([L, 1, half, 1]);
    for (let l = 0; l < L; l++)
      for (let i = 0; i < half; i++) {
        const a = (start + l) * Math.pow(this.base, (-2 * i) / D);
        cos.f32[l * half + i] = Math.cos(a);
        sin.f32[l * half + i] = Math.sin(a);
      }
    const p = F.reshape(x, [B, L, H, half, 2]); // pairs (x_2i, x_2i+1)
    const even = F.slice(p, 4, 0, 1);
    const odd = F.slice(p, 4, 1, 2);
    const re = F.sub(F.mul(even, cos), F.mul(odd, sin)); // x_2i cos - x_2i+1 sin
    const im = F.add(F.mul(odd, cos), F.mul(even, sin)); // x_2i+1 cos + x_2i sin
    return F.reshape(F.concat([re, im], 4), [B, L, H * D]); // (B, L, H*D)
  }
  apply(inp: PositionInput): PositionOutput {
    const q = this.rotate(ownHeads(inp.q, this.numHeads, this.headDim), inp.qStart);
    const k = this.rotate(ownHeads(inp.k, this.numHeads, this.headDim), inp.kStart);
    return { q: { x: q, col: 0 }, k: { x: k, col: 0 }, bias: null };
  }
}

/**
 * ALiBi slopes (Press et al. 2022, Sec. 3): for H a power of two, the geometric sequence
 * 2^(-8/H), 2^(-16/H), ..., 2^(-8); otherwise the slopes of the next lower power of two,
 * then every other slope of twice that (the authors' reference code).
 */
export function alibiSlopes(H: number): number[] {
  const pow2 = (n: number): number[] =>
    Array.from({ length: n }, (_, i) => Math.pow(2, (-8 * (i + 1)) / n));
  const p = 2 ** Math.floor(Math.log2(H));
  if (p === H) return pow2(H);
  return [
    ...pow2(p),
    ...pow2(2 * p)
      .filter((_, i) => i % 2 === 0)
      .slice(0, H - p),
  ];
}

/**
 * ALiBi (Press et al. 2022, Eq. in Sec. 3): the score of query i and key j gets
 * -m_h |i - j| (in a causal model only j <= i remain, so -m_h (i - j)). No parameters.
 */
export class AlibiPosition extends RelativePosition {
  readonly kind = 'alibi';
  readonly slopes: number[];
  constructor(H: number, D: number) {
    super(H, D);
    this.slopes = alibiSlopes(H);
  }
  /**
   * @returns the bias as its diagonals (F.RelativeBias): (H, T + S - 1) values, O(H (T + S))
   *   memory; the score of query t (at qStart + t) and key s gets -m_h |qStart + t - s|.
   */
  apply(inp: PositionInput): PositionOutput {
    const T = inp.q.x.shape[1];
    const H = this.numHeads;
    const S = inp.S;
    const n = Math.max(0, T + S - 1); // s - t = -(T - 1) .. S - 1 (none without queries or keys)
    const diagonals = new Float32Array(H * n);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < n; i++)
        // i = s - t + T - 1
        diagonals[h * n + i] = -this.slopes[h] * Math.abs(inp.qStart + T - 1 - i);
    return { q: inp.q, k: inp.k, bias: null, relativeBias: { diagonals, heads: H, T, S } };
  }
}

/**
 * T5's relative position bucket (Raffel et al. 2020, Sec. 2.1; the reference
 * `_relative_position_bucket`): relative position r = j - i; half the buckets for each sign
 * when bidirectional; exact buckets for |r| < maxExact = buckets/2 (of the half), then
 * logarithmically spaced up to maxDistance, beyond which all share the last bucket.
 */
export function t5Bucket(
  r: number,
  bidirectional: boolean,
  buckets: number,
  maxDistance: number,
): number {
  let ret = 0;
  let n = buckets;
  let rel = r;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (rel > 0) ret += n;
    rel = Math.abs(rel);
  } else rel = Math.max(-rel, 0);
  const maxExact = Math.floor(n / 2);
  if (rel < maxExact) return ret + rel;
  const large =
    maxExact +
    Math.floor((Math.log(rel / maxExact) / Math.log(maxDistance / maxExact)) * (n - maxExact));
  return ret + Math.min(large, n - 1);
}

/**
 * T5 relative attention bias (Raffel et al. 2020, Sec. 2.1): a learned scalar per head and
 * bucket of the relative position, added to the scores; the buckets are bidirectional in
 * non-causal attention and cover the past only in causal attention. Parameter
 * `relative_attention_bias.weight` (buckets, H), as Hugging Face's T5 names it (one per
 * layer here; T5 shares the first layer's).
 */
export class T5Position extends RelativePosition {
  readonly kind = 't5';
  readonly weight: Tensor;
  constructor(
    H: number,
    D: number,
    readonly buckets: number,
    readonly maxDistance: number,
    gen?: Generator,
  ) {
    super(H, D);
    const w = zeros([buckets, H]);
    if (gen) for (let i = 0; i < w.size; i++) w.f32[i] = gen.normal() * 0.02;
    const holder = this.child('relative_attention_bias', new BiasTable(w));
    this.weight = holder.weight;
  }
  /**
   * @returns the bias as its diagonals (F.RelativeBias with its learned `table`): one bucket
   *   per relative position s - t, (T + S - 1, H) values, O(H (T + S)) memory; the score of
   *   query t (at qStart + t) and key s gets weight[bucket(s - qStart - t), h].
   */
  apply(inp: PositionInput): PositionOutput {
    const T = inp.q.x.shape[1];
    const S = inp.S;
    const H = this.numHeads;
    const n = Math.max(0, T + S - 1); // row i: s - t = i - (T - 1)
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++)
      ids[i] = t5Bucket(i - (T - 1) - inp.qStart, !inp.causal, this.buckets, this.maxDistance);
    const table = F.embedding(new Tensor(ids, [n]), this.weight); // (n, H)
    const diagonals = new Float32Array(H * n);
    for (let i = 0; i < n; i++)
      for (let h = 0; h < H; h++) diagonals[h * n + i] = table.f32[i * H + h];
    return { q: inp.q, k: inp.k, bias: null, relativeBias: { diagonals, heads: H, T, S, table } };
  }
}

/**
 * Shaw et al. 2018, "Self-Attention with Relative Position Representations", Eq. 5:
 * e_ij = q_i (k_j + a^K_ij)^T / sqrt(d), with a^K_ij = w^K_clip(j - i, k) learned for the
 * 2k + 1 clipped distances, shared by the heads (Sec. 3.2). The value term a^V_ij of Eq. 3
 * is left out, as the paper's ablation found it unnecessary (Sec. 4.3, Table 3). The
 * q_i a^K_ij term is computed as Sec. 3.3 does: a (T, S, D) gather of a^K and one batched
 * product per query position. Parameter `relative_key.weight` (2k + 1, D).
 */
export class ShawPosition extends RelativePosition {
  readonly kind = 'shaw';
  readonly weight: Tensor;
  constructor(
    H: number,
    D: number,
    readonly clip: number,
    gen?: Generator,
  ) {
    super(H, D);
    const w = zeros([2 * clip + 1, D]);
    if (gen) for (let i = 0; i < w.size; i++) w.f32[i] = gen.normal() * 0.02;
    this.weight = this.child('relative_key', new BiasTable(w)).weight;
  }
  apply(inp: PositionInput): PositionOutput {
    const H = this.numHeads;
    const D = this.headDim;
    const T = inp.q.x.shape[1];
    const S = inp.S;
    const B = inp.q.x.shape[0];
    const ids = new Int32Array(T * S);
    for (let t = 0; t < T; t++)
      for (let s = 0; s < S; s++) {
        const r = s - (inp.qStart + t);
        ids[t * S + s] = Math.max(-this.clip, Math.min(this.clip, r)) + this.clip;
      }
    const a = F.embedding(new Tensor(ids, [T, S]), this.weight); // a^K_ij: (T, S, D)
    const q = F.permute(headsToBHLD(inp.q, H, D), [2, 0, 1, 3]); // (T, B, H, D)
    const qa = F.matmul(F.reshape(q, [T, B * H, D]), a, { transB: true }); // (T, B*H, S)
    const bias = F.mul(F.reshape(F.permute(qa, [1, 0, 2]), [B, H, T, S]), 1 / Math.sqrt(D)); // (B, H, T, S)
    return { q: inp.q, k: inp.k, bias };
  }
}

/** A learned table registered under `weight` (the state-dict leaf of T5 and Shaw). */
class BiasTable extends Module {
  readonly weight: Tensor;
  constructor(w: Tensor) {
    super();
    this.weight = this.param('weight', w);
  }
}

/** A position scheme in the registry: absolute (added to the embeddings) or relative. */
export interface PositionVariant extends SpecEntry {
  readonly kind: 'absolute' | 'relative';
  readonly paper: string;
  /** Relative schemes: build the module for one self-attention (causal: decoder). */
  create?(H: number, D: number, p: VariantParams, gen?: Generator): RelativePosition;
}

const positions: PositionVariant[] = [
  { name: 'sinusoidal', params: [], kind: 'absolute', paper: 'Vaswani et al. 2017, Sec. 3.5' },
  {
    name: 'learned',
    params: [],
    kind: 'absolute',
    paper: 'learned absolute embeddings (GPT, BERT)',
  },
  {
    name: 'rope',
    params: [
      { name: 'base', type: 'number', default: 10000, min: 1, doc: 'theta_i = base^(-2i/D)' },
    ],
    kind: 'relative',
    paper: 'Su et al. 2021 (RoFormer), Eq. 34',
    create: (H, D, p) => new RotaryPosition(H, D, p.base as number),
  },
  {
    name: 'alibi',
    params: [],
    kind: 'relative',
    paper: 'Press et al. 2022 (ALiBi), Sec. 3',
    create: (H, D) => new AlibiPosition(H, D),
  },
  {
    name: 't5',
    params: [
      { name: 'buckets', type: 'int', default: 32, min: 2, doc: 'relative position buckets' },
      {
        name: 'max-distance',
        type: 'int',
        default: 128,
        min: 2,
        doc: 'distance of the last bucket',
      },
    ],
    kind: 'relative',
    paper: 'Raffel et al. 2020 (T5), Sec. 2.1',
    create: (H, D, p, gen) =>
      new T5Position(H, D, p.buckets as number, p['max-distance'] as number, gen),
  },
  {
    name: 'shaw',
    params: [{ name: 'clip', type: 'int', default: 16, min: 1, doc: 'largest distance k' }],
    kind: 'relative',
    paper: 'Shaw et al. 2018, Eq. 5 (keys)',
    create: (H, D, p, gen) => new ShawPosition(H, D, p.clip as number, gen),
  },
];
const registry = new SpecRegistry('position', positions);

/**
 * Parse a position spec (`sinusoidal`, `learned`, `rope`, `alibi`, `t5:buckets=32`, `shaw:clip=16`).
 * @throws Error naming an unknown scheme or parameter.
 */
export function parsePositionSpec(spec: string | Spec): Spec {
  return registry.parse(spec);
}

/** The canonical string of a position spec. */
export function formatPositionSpec(spec: string | Spec): string {
  return registry.format(spec);
}

/** Whether a spec names a relative scheme (no absolute encoding at the input). */
export function isRelativePosition(spec: string | Spec): boolean {
  return registry.resolve(spec)[0].kind === 'relative';
}

/** The relative scheme a spec names, for one self-attention; null for absolute ones. */
export function createRelativePosition(
  spec: string | Spec,
  H: number,
  D: number,
  gen?: Generator,
): RelativePosition | null {
  const [v, s] = registry.resolve(spec);
  return v.create ? v.create(H, D, s.params, gen) : null;
}

/** One line per scheme (`transformer info --attention`). */
export function describePositions(): string[] {
  return registry.list().map((v) => describeEntry(v, v.kind, v.paper));
}
