/**
 * Absolute positional encodings (Sec. 3.5): the fixed sinusoids of the paper and learned
 * position embeddings. Both implement `PositionalEncoding`: they take token embeddings
 * (B, T, C) and the index of the first position, and return embeddings with position
 * information added.
 *
 * Relative schemes (RoPE, ALiBi, T5 buckets, Shaw's relative keys; src/attention/positions.ts)
 * act inside self-attention on q/k or the scores, not on the embeddings: a model with one
 * uses `NoPositionalEncoding` here.
 */
import { defaultGenerator } from '../random.js';
import { Tensor, fmtShape, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import type { InitOptions } from './layers.js';
import { Module } from './module.js';

export interface PositionalEncoding extends Module {
  /**
   * @param x (B, T, C) token embeddings
   * @param offset index of x's first position (for incremental decoding)
   * @returns (B, T, C)
   * @throws Error if offset + T exceeds the maximum length.
   */
  forward(x: Tensor, offset?: number): Tensor;
}

/**
 * The sinusoid table of Sec. 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/C)),
 * PE(pos, 2i+1) = cos(pos / 10000^(2i/C)).
 * @returns (maxLen, C) float32
 */
export function sinusoidTable(maxLen: number, C: number): Tensor {
  const t = zeros([maxLen, C]);
  const d = t.f32;
  for (let pos = 0; pos < maxLen; pos++) {
    for (let i = 0; i < C; i += 2) {
      const angle = pos / Math.pow(10000, i / C);
      d[pos * C + i] = Math.sin(angle);
      if (i + 1 < C) d[pos * C + i + 1] = Math.cos(angle);
    }
  }
  return t;
}

function checkLen(x: Tensor, offset: number, maxLen: number, what: string): void {
  if (x.ndim !== 3) throw new Error(`${what}: expected (B, T, C), got ${fmtShape(x.shape)}`);
  if (offset + x.shape[1] > maxLen) {
    throw new Error(`${what}: positions up to ${offset + x.shape[1]} exceed maxLen ${maxLen}`);
  }
}

/** Fixed sinusoidal positional encoding (Sec. 3.5); no parameters. */
export class SinusoidalPositionalEncoding extends Module implements PositionalEncoding {
  private readonly table: Tensor;
  constructor(
    readonly dModel: number,
    readonly maxLen = 5000,
  ) {
    super();
    this.table = sinusoidTable(maxLen, dModel);
  }
  forward(x: Tensor, offset = 0): Tensor {
    checkLen(x, offset, this.maxLen, 'SinusoidalPositionalEncoding');
    return F.add(x, F.slice(this.table, 0, offset, offset + x.shape[1])); // (B, T, C) + (T, C)
  }
}

/** Learned absolute position embeddings (`weight` (maxLen, C), as GPT's wpe); init N(0, std). */
export class LearnedPositionalEmbedding extends Module implements PositionalEncoding {
  readonly weight: Tensor;
  constructor(
    readonly maxLen: number,
    readonly dModel: number,
    opts: InitOptions & { std?: number } = {},
  ) {
    super();
    const w = zeros([maxLen, dModel]);
    const gen = opts.generator ?? defaultGenerator;
    const std = opts.std ?? 1;
    const d = w.f32;
    for (let i = 0; i < d.length; i++) d[i] = std * gen.normal();
    this.weight = this.param('weight', w);
  }
  forward(x: Tensor, offset = 0): Tensor {
    checkLen(x, offset, this.maxLen, 'LearnedPositionalEmbedding');
    return F.add(x, F.slice(this.weight, 0, offset, offset + x.shape[1]));
  }
}

/**
 * No absolute positions (the model has relative ones inside attention): x unchanged, with
 * the length still checked against maxLen. No parameters.
 */
export class NoPositionalEncoding extends Module implements PositionalEncoding {
  constructor(readonly maxLen: number) {
    super();
  }
  forward(x: Tensor, offset = 0): Tensor {
    checkLen(x, offset, this.maxLen, 'NoPositionalEncoding');
    return x;
  }
}

/**
 * The absolute encoding a model's `position` spec asks for: learned, sinusoidal, or none
 * (a relative scheme).
 */
export function makePositionalEncoding(
  position: string,
  maxLen: number,
  dModel: number,
  opts: InitOptions & { std?: number } = {},
): PositionalEncoding {
  if (position === 'learned') return new LearnedPositionalEmbedding(maxLen, dModel, opts);
  if (position === 'sinusoidal') return new SinusoidalPositionalEncoding(dModel, maxLen);
  return new NoPositionalEncoding(maxLen);
}
