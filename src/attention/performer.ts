/**
 * `performer`: FAVOR+ (Choromanski et al. 2021, "Rethinking Attention with Performers",
 * Sec. 2.3-2.4, Lemma 1; the survey's Sec. 4.2.1): exp(q k^T / sqrt(D)) estimated without
 * bias by positive orthogonal random features,
 *
 *   phi(x) = exp(w_i . x' - |x'|^2 / 2) / sqrt(M),  i = 1..M,  x' = x / D^(1/4),
 *
 * so that E[phi(q) phi(k)^T] = exp(q k^T / sqrt(D)), and then linear attention
 * (linear-state.ts) over the features. The rows w_i come in blocks of D mutually orthogonal
 * directions (Gram-Schmidt of a Gaussian D x D matrix, Sec. 2.4), each row scaled by the norm
 * of an independent Gaussian D-vector (chi-distributed with D degrees of freedom), so every
 * w_i is marginally N(0, I_D). They are drawn from the model's seeded Generator, kept as the
 * buffer `projection_matrix` (saved with the model, not trained), and redrawn every
 * `redraw` training calls (0: never), as the paper's Sec. 4.2 and lucidrains/performer-pytorch.
 *
 * Numerical stabilizer (the reference implementations'): a constant subtracted inside the
 * exp cancels between numerator and denominator, so each query row subtracts its largest
 * logit, and non-causally the keys subtract their largest over all keys of the head (both
 * without gradient); causally (and when decoding) keys are not shifted, since a shift must
 * not depend on later keys: phi(k) <= exp(|w|^2 / 2) / sqrt(M) bounds them anyway. A
 * small eps is added to every feature (1e-6 / sqrt(M)), keeping normalizers positive.
 *
 * Shape letters: B batch, H heads, L positions, D head width, M features.
 */
import { Generator } from '../random.js';
import { Tensor, tensor, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { checkInt, type CoreDims, type CoreInput, type CoreOutput } from './core.js';
import { LinearizedCore, type LinearState } from './linear-state.js';

/** Added to every (stabilized) feature before the 1/sqrt(M) scale. */
const EPS = 1e-6;

/**
 * M random rows of dimension D in blocks of D orthogonal directions, each row with a
 * chi(D)-distributed norm (FAVOR+'s orthogonal random features, Sec. 2.4).
 * @param out (M * D) filled in place, row-major (M, D).
 * @param gen the seeded generator the draws come from.
 */
export function orthogonalGaussian(out: Float32Array, M: number, D: number, gen: Generator): void {
  const block = new Float64Array(D * D);
  for (let r0 = 0; r0 < M; r0 += D) {
    for (let i = 0; i < D * D; i++) block[i] = gen.normal();
    // Gram-Schmidt (modified) on the rows: D orthonormal directions, uniformly distributed.
    for (let i = 0; i < D; i++) {
      const ri = i * D;
      for (let j = 0; j < i; j++) {
        let dot = 0;
        for (let c = 0; c < D; c++) dot += block[ri + c] * block[j * D + c];
        for (let c = 0; c < D; c++) block[ri + c] -= dot * block[j * D + c];
      }
      let norm = 0;
      for (let c = 0; c < D; c++) norm += block[ri + c] * block[ri + c];
      norm = Math.sqrt(norm);
      for (let c = 0; c < D; c++) block[ri + c] /= norm;
    }
    for (let i = 0; i < Math.min(D, M - r0); i++) {
      let chi = 0; // |g| for g ~ N(0, I_D): the norm a Gaussian row would have had
      for (let c = 0; c < D; c++) chi += gen.normal() ** 2;
      chi = Math.sqrt(chi);
      for (let c = 0; c < D; c++) out[(r0 + i) * D + c] = block[i * D + c] * chi;
    }
  }
}

/**
 * The default number of random features for head width D: floor(D ln D), at least 1
 * (performer-pytorch's `nb_features` default; the paper's Theorem 4 asks M = Theta(D log D)
 * for a uniformly small error). 110 at D 32, 266 at D 64 (the paper's experiments use 256
 * there), 621 at D 128.
 */
export function defaultFeatures(D: number): number {
  return Math.max(1, Math.floor(D * Math.log(D)));
}

export class PerformerAttention extends LinearizedCore {
  readonly kind = 'performer';
  /** (M, D) random features w_i (a buffer: saved, loaded, never trained). */
  readonly projection: Tensor;
  /**
   * (2,) buffer [training calls so far, seed]: the redraw clock and the seed of its draws,
   * saved with the model (as performer-pytorch's `calls_since_last_redraw`), so a run resumed
   * from a checkpoint redraws at the same calls and draws the same features as one that was
   * not interrupted. The k-th draw uses Generator(seed + k); the seed (< 2^24, exact in
   * float32) comes from the model's generator at construction.
   */
  readonly redrawState: Tensor;

  /** M, the number of random features. */
  readonly numFeatures: number;

  /**
   * @param features M, the number of random features; 0 (the default): defaultFeatures(D).
   * @param redraw redraw the features every `redraw` training calls (0: never).
   * @param chunk queries per chunk of the causal form.
   * @throws Error if features < 0, redraw < 0 or chunk < 1 (or any is not an integer).
   */
  constructor(
    dims: CoreDims,
    features = 0,
    readonly redraw: number = 1000,
    chunk = 64,
  ) {
    super(dims, chunk);
    checkInt('performer attention', 'features', features, 0);
    checkInt('performer attention', 'redraw', redraw, 0);
    const numFeatures = features > 0 ? features : defaultFeatures(dims.headDim);
    this.numFeatures = numFeatures;
    const seed = (dims.generator ?? new Generator(0)).randint(2 ** 24 - 2 ** 16);
    this.projection = this.buffer('projection_matrix', zeros([numFeatures, dims.headDim]));
    this.redrawState = this.buffer('redraw_state', tensor([0, seed]));
    this.redrawFeatures();
  }

  /** Training calls so far (the redraw clock, read from the saved buffer). */
  get calls(): number {
    return this.redrawState.f32[0];
  }

  /**
   * Draw the features of the current clock into `projection` (in place): the k-th draw
   * (k = calls / redraw) uses Generator(seed + k), so it depends on the clock alone.
   */
  redrawFeatures(): void {
    const k = this.redraw > 0 ? Math.floor(this.calls / this.redraw) : 0;
    const gen = new Generator(this.redrawState.f32[1] + k);
    orthogonalGaussian(this.projection.f32, this.numFeatures, this.headDim, gen);
  }

  /**
   * phi(x) of the file's comment, with the stabilizer.
   * @param x (B, H, L, D) float32. @returns (B, H, L, M), every element > 0.
   */
  featureMap(x: Tensor, isQuery: boolean, causal: boolean): Tensor {
    const D = this.headDim;
    const M = this.numFeatures;
    const xs = F.mul(x, D ** -0.25); // x' = x / D^(1/4)
    const wx = F.matmul(xs, this.projection, { transB: true }); // w_i . x': (B, H, L, M)
    const half = F.mul(F.sum(F.mul(xs, xs), -1, true), 0.5); // |x'|^2 / 2: (B, H, L, 1)
    // The stabilizer (no gradient) joins |x'|^2 / 2 in the shift: max_i (w_i.x' - |x'|^2/2)
    // = max_i w_i.x' - |x'|^2/2 per query row; over the head's keys non-causally.
    let shift = half;
    if (isQuery) {
      shift = F.add(half, F.sub(F.max(wx, -1, true).values, half).detach());
    } else if (!causal) {
      const rowMax = F.sub(F.max(wx, -1, true).values, half).detach(); // (B, H, L, 1)
      shift = F.add(half, F.max(rowMax, -2, true).values); // + (B, H, 1, 1)
    }
    // (exp(w.x' - shift) + EPS) / sqrt(M), one fused pass (forward and backward).
    return F.expShift(wx, shift, 1 / Math.sqrt(M), EPS);
  }

  /** Redraws the features every `redraw` training calls, then attends (LinearizedCore). */
  override forward(input: CoreInput, state?: LinearState | null): CoreOutput {
    if (this.training && !state && this.redraw > 0) {
      if (this.calls > 0 && this.calls % this.redraw === 0) this.redrawFeatures();
      this.redrawState.f32[0] = this.calls + 1;
    }
    return super.forward(input, state);
  }
}
