/**
 * The normalization choice of a block (survey Sec. 5.2; the `norm` field of a model config):
 *
 *   'layer'  LayerNorm over the channels of each position (Ba et al. 2016; the paper, default)
 *   'rms'    RMSNorm: x / sqrt(mean(x^2) + eps) * weight, no centering, no bias (Zhang &
 *            Sennrich 2019)
 *   'batch'  BatchNorm over batch and time, padded positions excluded, running statistics
 *            in eval mode (Ioffe & Szegedy 2015; src/nn/batchnorm.ts)
 *
 * Where the norm sits (post-LN, the paper, or pre-LN) is the separate `normFirst` option.
 * Every norm of the model follows the choice: the layers' norm1..norm3, the stacks' final
 * norms and the language model's ln_f.
 *
 * Shape letters: B batch, L length, C d_model.
 */
import type { Tensor } from '../tensor.js';
import { BatchNorm } from './batchnorm.js';
import { LayerNorm, RMSNorm } from './layers.js';
import type { Module } from './module.js';

/** The normalization kinds. */
export const NORM_KINDS = ['layer', 'rms', 'batch'] as const;
export type NormKind = (typeof NORM_KINDS)[number];

/**
 * A normalization module: (B, L, C) -> (B, L, C). `padding` (B, L), true = padded, is what
 * BatchNorm leaves out of its statistics; the per-position norms ignore it.
 */
export type Norm = Module & {
  /** (C) the gain (null for a LayerNorm without elementwise affine). */
  readonly weight: Tensor | null;
  forward(x: Tensor, padding?: Tensor | null): Tensor;
};

/**
 * Build a norm of width C.
 * @param eps the epsilon of every kind (the config's layerNormEps).
 * @throws Error naming the kind when it is not 'layer', 'rms' or 'batch'.
 */
export function makeNorm(kind: NormKind, C: number, eps = 1e-5): Norm {
  switch (kind) {
    case 'layer':
      return new LayerNorm(C, eps);
    case 'rms':
      return new RMSNorm(C, eps);
    case 'batch':
      return new BatchNorm(C, eps);
    default:
      throw new Error(
        `norm: '${String(kind)}' is not one of ${NORM_KINDS.map((k) => `'${k}'`).join(', ')}`,
      );
  }
}
