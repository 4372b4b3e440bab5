/**
 * The attention seam: what sits between multi-head attention's input projections and its
 * output projection W_O (Vaswani et al. 2017, Sec. 3.2.2, Fig. 2 right). A *core* receives
 * the heads of Q, K and V, an additive score bias and the flags of one call, and returns
 * the concatenated heads: full attention (Eq. 1), and every X-former variant of the
 * survey (Lin et al. 2021, Sec. 4), is one core. The projections, their PyTorch names
 * (`in_proj_weight`, `out_proj`) and the masks live in `MultiheadAttention`; a core knows
 * nothing of them (x-transformers' `Attend` against its `Attention`).
 *
 * Shape letters: B batch, T query length, S key length, H heads, D head width, W the
 * width of the tensor holding the heads (C = H * D, 2C or 3C for packed projections).
 */
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from '../nn/module.js';

/**
 * H heads of width D read in place from a projection: head h of row l of batch b is
 * `x[b, l, col + h*D .. col + (h+1)*D)`. A view, not a copy: Q, K and V of a packed
 * self-attention projection (B, T, 3C) are the same tensor at columns 0, C and 2C.
 */
export interface Heads {
  /** (B, L, W) float32, W >= col + H*D. */
  readonly x: Tensor;
  /** First column of head 0. */
  readonly col: number;
}

/** What one call of a core receives. */
export interface CoreInput {
  /** Query heads over (B, T, W). */
  readonly q: Heads;
  /** Key and value heads over (B, S, W) (the new positions only when decoding with a state). */
  readonly k: Heads;
  readonly v: Heads;
  /**
   * Additive score bias broadcastable to (B, H, T, S_total), or null: padding and user masks
   * (-Infinity forbids a key), and later ALiBi or T5 buckets. S_total counts the keys of the
   * state too.
   */
  readonly bias: Tensor | null;
  /**
   * A score bias by relative distance (ALiBi's or T5's diagonals), given only to a core that
   * declares `acceptsRelativeBias` (full attention) and only when `bias` is null; the
   * others get it added into `bias`, dense. Added to the scores like bias.
   */
  readonly relativeBias?: F.RelativeBias | null;
  /**
   * With relativeBias: a right-padded key padding mask as the valid keys of each batch row
   * (B), in place of `bias` (keys from kvLen[b] on are forbidden).
   */
  readonly kvLen?: Int32Array | null;
  /** Causal: the query at absolute position i may attend keys at positions <= i. */
  readonly causal: boolean;
  /**
   * Absolute position of the first query: query t is at position offset + t, key s at
   * position s (0 without a state; the state's length when decoding, so offset = S_total - T
   * in self-attention).
   */
  readonly offset: number;
  /** Dropout probability on the attention weights (0 in evaluation). */
  readonly dropoutP: number;
  readonly generator: Generator;
  /** Return the attention weights (B, H, T, S_total) when the core has them. */
  readonly needWeights: boolean;
}

/** What one call of a core returns. */
export interface CoreOutput {
  /** (B, T, H*D): the heads concatenated, ready for W_O. */
  readonly out: Tensor;
  /** (B, H, T, S_total) softmax weights (before dropout), or null. Not differentiable. */
  readonly weights: Tensor | null;
}

/**
 * A core's decoding state (dense attention: the keys and values seen so far; linear
 * attention: a running (D x D) sum; Transformer-XL: a memory). Updated in place by the
 * core's forward.
 */
export interface AttentionState {
  /** Positions seen so far (the absolute position of the next query). */
  readonly length: number;
  /** Keep batch rows `idx` (in that order, repeats allowed): beam search's reorder. */
  selectRows(idx: readonly number[]): void;
}

/** Shape facts every core is built with. */
export interface CoreDims {
  /** H. */
  readonly numHeads: number;
  /** D = d_model / H. */
  readonly headDim: number;
  /** The longest sequence the model attends over (its context), when known (Linformer's n). */
  readonly maxLen?: number;
  /** The model's generator, for a core's own initialization and random features. */
  readonly generator?: Generator;
}

/**
 * An attention core: a Module, so that a variant's own parameters (Linformer's E and F,
 * Transformer-XL's u and v) get state-dict names under `...self_attn.core.`.
 */
export abstract class AttentionCore<S extends AttentionState = AttentionState> extends Module {
  /** The registry name (`full`, `local`, ...). */
  abstract readonly kind: string;
  /** Whether the core runs with `causal` true (decoders) and false (encoders). */
  abstract readonly supportsCausal: boolean;
  abstract readonly supportsNonCausal: boolean;
  readonly numHeads: number;
  readonly headDim: number;
  /** Whether forward reads CoreInput.relativeBias (else it comes dense in bias). */
  readonly acceptsRelativeBias: boolean = false;

  constructor(dims: CoreDims) {
    super();
    this.numHeads = dims.numHeads;
    this.headDim = dims.headDim;
  }

  /** A fresh, empty decoding state for this core. */
  abstract newState(): S;

  /**
   * Attend. Without a state: over the S given keys. With one (decoding): the given keys and
   * values are appended to it first, and the queries attend over every position it holds.
   * @returns out (B, T, H*D) and weights when asked and available.
   */
  abstract forward(input: CoreInput, state?: S | null): CoreOutput;

  /**
   * The input's heads as dense tensors (headsToBHLD): q (B, H, T, D), k and v (B, H, S, D),
   * float32, through the differentiable ops.
   */
  protected splitHeads(input: CoreInput): [Tensor, Tensor, Tensor] {
    const [H, D] = [this.numHeads, this.headDim];
    return [headsToBHLD(input.q, H, D), headsToBHLD(input.k, H, D), headsToBHLD(input.v, H, D)];
  }
}

/**
 * The heads as a dense (B, H, L, D) tensor, through the differentiable ops (a copy: for
 * reference cores and decoding, not for the fused path).
 */
export function headsToBHLD(h: Heads, H: number, D: number): Tensor {
  const [B, L, W] = h.x.shape;
  const cols = h.col === 0 && W === H * D ? h.x : F.slice(h.x, 2, h.col, h.col + H * D); // (B, L, H*D)
  return F.permute(F.reshape(cols, [B, L, H, D]), [0, 2, 1, 3]); // (B, H, L, D)
}

/** (B, H, T, D) -> (B, T, H*D): the heads concatenated (Concat(head_1..head_H), Sec. 3.2.2). */
export function mergeHeads(x: Tensor): Tensor {
  const [B, H, T, D] = x.shape;
  return F.reshape(F.permute(x, [0, 2, 1, 3]), [B, T, H * D]); // (B, T, H*D)
}

/**
 * Check a core's integer option.
 * @param what the message's subject (`lsh attention`). @param name the option's name.
 * @throws Error `${what}: ${name} must be an integer >= ${min}, got ${value}` otherwise.
 */
export function checkInt(what: string, name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${what}: ${name} must be an integer >= ${min}, got ${value}`);
}

/** What a core passes on to the attention ops from its input: dropout, its generator, weights wanted. */
export function runOptions(
  input: CoreInput,
): Pick<CoreInput, 'dropoutP' | 'generator' | 'needWeights'> {
  return { dropoutP: input.dropoutP, generator: input.generator, needWeights: input.needWeights };
}

/**
 * The input as the fused kernels take it: the packed projections (B, L, W) float32 of q, k
 * and v, H, D, and each one's first column.
 */
export function packedHeads(
  input: CoreInput,
  H: number,
  D: number,
): [Tensor, Tensor, Tensor, number, number, { q: number; k: number; v: number }] {
  const { q, k, v } = input;
  return [q.x, k.x, v.x, H, D, { q: q.col, k: k.col, v: v.col }];
}

/** Number of keys a call attends over: the state's positions plus the given keys. */
export function totalKeys(input: CoreInput, state?: AttentionState | null): number {
  return (state ? state.length : 0) + input.k.x.shape[1];
}
