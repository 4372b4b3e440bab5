/**
 * The Universal Transformer's depth (Dehghani et al. 2019, Sec. 2; the survey's Sec. 6.3,
 * Fig. 12): one block of layers shared over depth, applied recurrently for up to
 * `maxSteps` steps, with a coordinate signal added before every step (the sinusoids of the
 * position and of the step, Eq. 5), and optionally Adaptive Computation Time (Graves 2016)
 * per position: a halting unit p = sigmoid(w . h + b) accumulates until it reaches
 * 1 - epsilon; the position's output is the sum of its step states weighted by the halting
 * probabilities, its last step by the remainder R = 1 - sum of the others, so the weights
 * of every position sum to 1 (the last step halts every position still running). The ponder
 * cost N + R (Graves' Eq. 10-11, steps taken plus remainder), averaged over the real (non-
 * padded) positions, times tau is the loss term training adds (`auxiliaryLoss`); only R
 * carries a gradient, as in the paper.
 *
 * Shape letters: B batch, L length, C d_model.
 */
import type { Generator } from '../random.js';
import { Tensor, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Linear } from './layers.js';
import { sinusoidTable } from './positional.js';
import { realPositions } from './padding.js';
import { DepthStrategy, type ApplyLayer, type StackContext } from './stack.js';

export interface UniversalOptions {
  /** Steps T of the recurrent block (the maximum under ACT). */
  maxSteps: number;
  /** Adaptive computation time per position. Default false. */
  act?: boolean;
  /** Ponder-cost weight tau in the loss. Default 0.01. */
  tau?: number;
  /** epsilon of the halting threshold 1 - epsilon. Default 0.01. */
  epsilon?: number;
  /** Add the position + step signal before every step (Eq. 5). Default true. */
  signal?: boolean;
  /** Initializes the halting unit (default: the default generator). */
  generator?: Generator;
}

export class UniversalDepth extends DepthStrategy {
  readonly kind = 'universal';
  readonly maxSteps: number;
  readonly act: boolean;
  readonly tau: number;
  readonly epsilon: number;
  readonly signal: boolean;
  /** The halting unit (C -> 1), under `depth.halting.*` (ACT only). */
  readonly halting: Linear | null;
  /** Per position of the last run: steps taken (N) and the weight of each step (ACT). */
  lastSteps: Float32Array | null = null;
  lastWeights: Float32Array[] = [];
  private ponder: Tensor | null = null;
  private readonly dModel: number;
  /** Sinusoids of positions and steps (rows), grown on demand. */
  private table: Tensor | null = null;

  /** @throws Error if maxSteps is not an integer >= 1 or tau, epsilon are out of range. */
  constructor(dModel: number, o: UniversalOptions) {
    super();
    if (!Number.isInteger(o.maxSteps) || o.maxSteps < 1)
      throw new Error(`universal depth: max-steps must be an integer >= 1, got ${o.maxSteps}`);
    const eps = o.epsilon ?? 0.01;
    if (!(eps > 0 && eps < 1)) throw new Error(`universal depth: epsilon ${eps} must be in (0, 1)`);
    if (!(o.tau === undefined || o.tau >= 0))
      throw new Error(`universal depth: tau ${o.tau} must be >= 0`);
    this.dModel = dModel;
    this.maxSteps = o.maxSteps;
    this.act = o.act ?? false;
    this.tau = o.tau ?? 0.01;
    this.epsilon = eps;
    this.signal = o.signal ?? true;
    this.halting = this.act
      ? this.child('halting', new Linear(dModel, 1, { generator: o.generator }))
      : null;
    if (this.halting?.bias) this.halting.bias.f32.fill(1); // start by pondering little (Graves)
  }

  override applications(n: number): number {
    return n * this.maxSteps;
  }

  override auxiliaryLoss(): Tensor | null {
    return this.ponder && this.tau > 0 ? F.mul(this.ponder, this.tau) : null;
  }

  /** The coordinate signal of step t for rows offset.. (1, L, C): position + step sinusoids. */
  private coordinates(L: number, step: number, offset: number): Tensor {
    const C = this.dModel;
    const rows = Math.max(offset + L, this.maxSteps);
    if (!this.table || this.table.shape[0] < rows)
      this.table = sinusoidTable(Math.max(rows, 2 * (this.table?.shape[0] ?? 0)), C); // grows x2
    const pos = F.slice(this.table, 0, offset, offset + L); // (L, C)
    const st = F.slice(this.table, 0, step, step + 1); // (1, C)
    return F.reshape(F.add(pos, st), [1, L, C]);
  }

  run<L>(layers: readonly L[], x: Tensor, apply: ApplyLayer<L>, ctx: StackContext): Tensor {
    const n = layers.length;
    // The step's input: the state plus the coordinate signal of step t (Eq. 5).
    const prepare = (h: Tensor, t: number): Tensor =>
      this.signal ? F.add(h, this.coordinates(h.shape[1], t, ctx.offset)) : h;
    // The shared block: application t * n + i selects layer i's decoding state of step t.
    const block = (y: Tensor, t: number): Tensor => {
      for (let i = 0; i < n; i++) y = apply(layers[i], y, t * n + i);
      return y;
    };
    this.ponder = null;
    if (!this.act) {
      let h = x;
      for (let t = 0; t < this.maxSteps; t++) h = block(prepare(h, t), t);
      return h;
    }
    return this.adaptive(x, prepare, block, ctx);
  }

  /**
   * ACT over the steps, as the halting loop of Dehghani et al.'s reference (tensor2tensor's
   * `ut_function`): the halting unit reads the step's input (state + signal); every position
   * is transformed at every step (a halted one keeps serving as keys and values) but only
   * the running ones add to the output; forced to halt at the last step. Without decoding
   * states the loop ends once every position has halted (the output no longer changes);
   * with them (`cached`) it runs all maxSteps steps, so that every step's state holds every
   * position's keys and values and incremental decoding equals the full pass (a position's
   * halting depends only on its own state).
   */
  private adaptive(
    x: Tensor,
    prepare: (h: Tensor, t: number) => Tensor,
    block: (y: Tensor, t: number) => Tensor,
    ctx: StackContext,
  ): Tensor {
    const cached = ctx.cached ?? false;
    const [B, L] = x.shape;
    const N = B * L;
    const threshold = 1 - this.epsilon;
    const running = new Uint8Array(N).fill(1);
    const steps = new Float32Array(N);
    let acc: Tensor = zeros([B, L]); // sum of the p of the steps each position went on after
    let remainders: Tensor = zeros([B, L]); // R = 1 - acc at the halting step
    let out: Tensor | null = null;
    let state = x;
    this.lastWeights = [];
    for (let t = 0; t < this.maxSteps && (cached || running.includes(1)); t++) {
      const input = prepare(state, t); // (B, L, C)
      const p = F.reshape(F.sigmoid(this.halting!.forward(input)), [B, L]); // (B, L)
      const go = new Float32Array(N); // goes on after this step: weight p
      const halt = new Float32Array(N); // halts at this step: weight R
      for (let i = 0; i < N; i++) {
        if (!running[i]) continue;
        steps[i]++;
        if (t < this.maxSteps - 1 && acc.f32[i] + p.f32[i] <= threshold) go[i] = 1;
        else [halt[i], running[i]] = [1, 0];
      }
      const r = F.mul(F.sub(1, acc), new Tensor(halt, [B, L])); // R of the positions halting now
      const pGo = F.mul(p, new Tensor(go, [B, L]));
      const w = F.add(pGo, r); // (B, L): this step's weight
      acc = F.add(acc, pGo);
      remainders = F.add(remainders, r);
      this.lastWeights.push(w.f32.slice());
      const transformed = block(input, t); // (B, L, C)
      const part = F.mul(transformed, F.reshape(w, [B, L, 1])); // (B, L, C)
      out = out ? F.add(out, part) : part;
      state = transformed;
    }
    this.lastSteps = steps;
    const { keep, n } = realPositions(ctx.padding, B, L);
    const cost = F.mul(F.add(remainders, new Tensor(steps, [B, L])), new Tensor(keep, [B, L]));
    this.ponder = F.mul(F.sum(cost), 1 / Math.max(n, 1)); // mean of N + R over real positions
    return out!;
  }
}
