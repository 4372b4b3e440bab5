/**
 * Basic layers: Linear, Embedding, Dropout, LayerNorm, RMSNorm, FeedForward.
 * Parameter names and initializations follow torch.nn.
 *
 * Shape letters: B batch, T length, C d_model, F d_ff, V vocabulary.
 */
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, fmtShape, full, rand, randn, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from './module.js';

/** Uniform U(-bound, bound) tensor. */
export function uniform(shape: number[], bound: number, gen: Generator): Tensor {
  return rand(shape, gen, -bound, bound);
}

/** Xavier/Glorot uniform initialization for a (fanOut, fanIn) weight (torch.nn.init.xavier_uniform_). */
export function xavierUniform(t: Tensor, gen: Generator): void {
  const [fanOut, fanIn] = t.shape;
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  const d = t.f32;
  for (let i = 0; i < d.length; i++) d[i] = (2 * gen.uniform() - 1) * bound;
}

export interface InitOptions {
  /** Generator for the initial weights (default: the default generator). */
  generator?: Generator;
}

/**
 * y = x W^T + b (torch.nn.Linear). weight (out, in), bias (out); init U(-1/sqrt(in), 1/sqrt(in)).
 */
export class Linear extends Module {
  weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: InitOptions & { bias?: boolean } = {},
  ) {
    super();
    const gen = opts.generator ?? defaultGenerator;
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = this.param('weight', uniform([outFeatures, inFeatures], bound, gen));
    this.bias = this.param('bias', opts.bias === false ? null : uniform([outFeatures], bound, gen));
  }
  /**
   * Share `w` as this layer's weight (weight tying, Press & Wolf 2017; Sec. 3.4).
   * @throws Error if w is not (out, in).
   */
  tieWeight(w: Tensor): void {
    if (w.ndim !== 2 || w.shape[0] !== this.outFeatures || w.shape[1] !== this.inFeatures) {
      throw new Error(
        `Linear.tieWeight: weight ${fmtShape(w.shape)} must be (${this.outFeatures}, ${this.inFeatures})`,
      );
    }
    this.weight = this.param('weight', w);
  }
  /** @param x (..., in) float32 @returns (..., out) */
  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

/**
 * Token embedding (Sec. 3.4): a (V, C) table, init N(0, 1) as torch.nn.Embedding.
 * With `scale`, outputs are multiplied by sqrt(d_model) as in the paper.
 */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: InitOptions & { scale?: boolean; std?: number } = {},
  ) {
    super();
    this.scale = opts.scale ?? false;
    this.weight = this.param(
      'weight',
      randn([numEmbeddings, embeddingDim], opts.generator ?? defaultGenerator, 0, opts.std ?? 1),
    );
  }
  readonly scale: boolean;
  /** @param ids (...) int32 @returns (..., C) */
  forward(ids: Tensor): Tensor {
    const e = F.embedding(ids, this.weight);
    return this.scale ? F.mul(e, Math.sqrt(this.embeddingDim)) : e;
  }
}

/** Dropout (Sec. 5.4, P_drop): active only in training mode. */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    readonly generator: Generator = defaultGenerator,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training, this.generator);
  }
}

/** Layer normalization over the last dimension (torch.nn.LayerNorm; Ba et al. 2016). */
export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(
    readonly normalizedShape: number,
    readonly eps = 1e-5,
    elementwiseAffine = true,
  ) {
    super();
    this.weight = this.param('weight', elementwiseAffine ? full([normalizedShape], 1) : null);
    this.bias = this.param('bias', elementwiseAffine ? zeros([normalizedShape]) : null);
  }
  /** @param x (..., C) */
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/**
 * Root-mean-square normalization (Zhang & Sennrich, 2019): x / sqrt(mean(x^2) + eps) * weight.
 */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(
    readonly normalizedShape: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', full([normalizedShape], 1));
  }
  forward(x: Tensor): Tensor {
    const ms = F.mean(F.mul(x, x), -1, true); // (..., 1)
    return F.mul(F.mul(x, F.div(1, F.sqrt(F.add(ms, this.eps)))), this.weight);
  }
}

export type Activation = 'relu' | 'gelu';

/** Apply a named activation. */
export function activate(x: Tensor, activation: Activation): Tensor {
  return activation === 'relu' ? F.relu(x) : F.gelu(x);
}
