/**
 * Batch normalization over batch and time (Ioffe & Szegedy 2015), as the survey (Sec. 5.2)
 * and the tutorials contrast it with LayerNorm: each channel c is normalized with the mean
 * and variance over every non-padded position of the batch, as torch.nn.BatchNorm1d on the
 * (B, C, L) transpose with the padded positions left out of the statistics. In training the
 * batch's statistics normalize and update the running ones,
 *
 *   running_mean = (1 - momentum) running_mean + momentum mean
 *   running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased)
 *
 * (momentum 0.1, as PyTorch); in eval mode the running statistics normalize, so a position's
 * output depends on itself alone (incremental decoding equals the full pass). In training a
 * position's output depends on the whole batch, future positions included: a causal model
 * trained with BatchNorm sees its future through the statistics, one of the reasons the
 * Transformer uses LayerNorm. State-dict names are PyTorch's: `weight`, `bias`,
 * `running_mean`, `running_var`, `num_batches_tracked` (float32 here; torch's is int64, and
 * load_state_dict converts it).
 *
 * Shape letters: B batch, L length, C channels (d_model), n non-padded positions.
 */
import { Tensor, fmtShape, full, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module } from './module.js';
import { realPositions } from './padding.js';

export class BatchNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  /** (C) running mean, initially 0. */
  readonly runningMean: Tensor;
  /** (C) running (unbiased) variance, initially 1. */
  readonly runningVar: Tensor;
  /** () batches the running statistics have seen. */
  readonly numBatchesTracked: Tensor;

  /**
   * @param numFeatures C, the channels.
   * @param eps added to the variance. Default 1e-5 (PyTorch).
   * @param momentum weight of a batch in the running statistics. Default 0.1 (PyTorch).
   * @throws Error if momentum is not in [0, 1].
   */
  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    if (!(momentum >= 0 && momentum <= 1))
      throw new Error(`BatchNorm: momentum ${momentum} must be in [0, 1]`);
    this.weight = this.param('weight', full([numFeatures], 1));
    this.bias = this.param('bias', zeros([numFeatures]));
    this.runningMean = this.buffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.buffer('running_var', full([numFeatures], 1));
    this.numBatchesTracked = this.buffer('num_batches_tracked', zeros([]));
  }

  /**
   * Normalize each channel over batch and time.
   * @param x (B, L, C) float32
   * @param padding (B, L) key padding mask (bool true, or a nonzero float, = padded): those
   *   positions are left out of the statistics (their outputs are normalized all the same).
   * @returns (B, L, C)
   * @throws Error naming the shapes when x is not (B, L, C) or the mask not (B, L); in
   *   training, Error when fewer than 2 positions are not padded (no variance).
   */
  forward(x: Tensor, padding?: Tensor | null): Tensor {
    const C = this.numFeatures;
    if (x.ndim !== 3 || x.shape[2] !== C)
      throw new Error(`BatchNorm: x ${fmtShape(x.shape)} must be (B, L, ${C})`);
    const [B, L] = x.shape;
    const { keep, n } = realPositions(padding, B, L);
    if (!this.training) {
      const scale = F.div(this.weight, F.sqrt(F.add(this.runningVar, this.eps))); // (C)
      return F.add(F.mul(F.sub(x, this.runningMean), scale), this.bias);
    }
    const N = B * L;
    if (n < 2)
      throw new Error(
        `BatchNorm: training needs at least 2 non-padded positions for a variance, got ${n} in x ${fmtShape(x.shape)}`,
      );
    const rows = F.reshape(x, [N, C]); // (N, C)
    const mask = new Tensor(keep, [N, 1]);
    const mean = F.mul(F.sum(F.mul(rows, mask), 0), 1 / n); // (C)
    const centered = F.sub(rows, mean); // (N, C)
    const variance = F.mul(F.sum(F.mul(F.mul(centered, centered), mask), 0), 1 / n); // (C), biased
    this.track(mean.f32, variance.f32, n);
    const scale = F.div(this.weight, F.sqrt(F.add(variance, this.eps))); // (C)
    return F.reshape(F.add(F.mul(centered, scale), this.bias), [B, L, C]);
  }

  /** Update the running statistics with one batch's (n positions; variance made unbiased). */
  private track(mean: Float32Array, variance: Float32Array, n: number): void {
    const m = this.momentum;
    const rm = this.runningMean.f32;
    const rv = this.runningVar.f32;
    for (let c = 0; c < this.numFeatures; c++) {
      rm[c] = (1 - m) * rm[c] + m * mean[c];
      rv[c] = (1 - m) * rv[c] + (m * variance[c] * n) / (n - 1);
    }
    this.numBatchesTracked.f32[0] += 1;
  }
}
