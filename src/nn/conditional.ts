/**
 * Conditional computation over the sub-layers (after Bapna et al. 2020, "Controlling
 * Computation versus Quality for Neural Sequence Models", the Conditional Computation
 * Transformer; survey Sec. 6.3): every sub-layer k of every layer i (self-attention, [cross-
 * attention,] FFN) has a control unit z = w . x + b reading the sub-layer's input x per
 * position. In training the gate is the noised continuous g = sigmoid(z + noise), noise
 * ~ N(0, sigma^2), and weights the sub-layer's update (x + g Sublayer(LN(x)) in a pre-LN
 * layer); a budget loss weight * |mean g - budget| (over the non-padded positions and every
 * sub-layer) holds the expected share of sub-layers run to the budget. At inference the gate
 * is discrete, g = [z > 0], per position: a sub-layer whose gates are closed for every
 * position of the batch is not run at all (the time drops); a mixed batch runs it and keeps
 * the update of the open positions only. Under incremental decoding (decoding states) a
 * closed self-attention still runs, its update discarded, so that its keys and values reach
 * the cache as in the full pass; the others are skipped.
 *
 * Shape letters: B batch, L length, C d_model.
 */
import type { Generator } from '../random.js';
import { Tensor, randn, zeros } from '../tensor.js';
import * as F from '../ops/index.js';
import { Linear } from './layers.js';
import { realPositions } from './padding.js';
import { ModuleList } from './module.js';
import { DepthStrategy, type ApplyLayer, type GateDecision, type StackContext } from './stack.js';

export interface ConditionalOptions {
  /** Layers N of the stack. */
  layers: number;
  /** Sub-layers per layer: 2 (encoder layer, decoder-only LM), 3 (decoder layer). */
  sublayers: number;
  /** Target share of sub-layers run, in [0, 1]. Default 0.5. */
  budget?: number;
  /** Weight of the budget loss. Default 0.1. */
  weight?: number;
  /** sigma of the training noise on the control logits. Default 1. */
  noise?: number;
  /** Initializes the control units and draws the noise (default: the default generator). */
  generator?: Generator;
}

export class ConditionalDepth extends DepthStrategy {
  readonly kind = 'conditional';
  /** Control units: `gates.{i}.{k}` for layer i's sub-layer k (C -> 1), under `depth.`. */
  readonly gates: ModuleList<ModuleList<Linear>>;
  readonly budget: number;
  readonly weight: number;
  readonly noise: number;
  /**
   * Force gates (tests, measurements): 'open' or 'closed' for layer i's sub-layer k, or
   * undefined to let the control unit decide.
   */
  force: ((i: number, k: number) => 'open' | 'closed' | undefined) | null = null;
  /** Share of (non-padded position, sub-layer) pairs open in the last run, and sub-layers skipped. */
  lastOpenShare = 1;
  lastSkipped = 0;
  private budgetLoss: Tensor | null = null;
  private readonly generator: Generator | undefined;

  /** @throws Error naming an option out of range. */
  constructor(dModel: number, o: ConditionalOptions) {
    super();
    const budget = o.budget ?? 0.5;
    if (!(budget >= 0 && budget <= 1))
      throw new Error(`conditional depth: budget ${budget} must be in [0, 1]`);
    for (const [name, v] of [
      ['layers', o.layers],
      ['sublayers', o.sublayers],
    ] as const)
      if (!Number.isInteger(v) || v < 1)
        throw new Error(`conditional depth: ${name} must be an integer >= 1, got ${v}`);
    this.budget = budget;
    this.weight = o.weight ?? 0.1;
    this.noise = o.noise ?? 1;
    this.generator = o.generator;
    const unit = (): Linear => {
      const l = new Linear(dModel, 1, { generator: o.generator });
      l.bias!.f32.fill(1); // start open (sigmoid(1) = 0.73): near the vanilla stack
      return l;
    };
    this.gates = this.child(
      'gates',
      new ModuleList(
        Array.from(
          { length: o.layers },
          () => new ModuleList(Array.from({ length: o.sublayers }, unit)),
        ),
      ),
    );
  }

  override auxiliaryLoss(): Tensor | null {
    return this.budgetLoss && this.weight > 0 ? F.mul(this.budgetLoss, this.weight) : null;
  }

  /** @throws Error when the stack has another number of layers than the control units. */
  run<L>(layers: readonly L[], x: Tensor, apply: ApplyLayer<L>, ctx: StackContext): Tensor {
    if (layers.length !== this.gates.length)
      throw new Error(
        `conditional depth: ${this.gates.length} layers of control units for a stack of ${layers.length}`,
      );
    const [B, L] = x.shape;
    const { keep, n } = realPositions(ctx.padding, B, L); // 1 = a real position
    const keepT = new Tensor(keep, [B, L, 1]);
    let gateSum: Tensor | null = null; // sum over sub-layers of sum(g * keep)
    let decided = 0; // sub-layers decided by control units
    let open = 0;
    this.lastSkipped = 0;
    const decide = (i: number, k: number, y: Tensor): GateDecision => {
      const forced = this.force?.(i, k);
      let g: GateDecision;
      if (forced) g = forced;
      else {
        const z = this.gates.items[i].items[k].forward(y); // (B, L, 1)
        decided++;
        if (this.training) {
          const eps = randn([B, L, 1], this.generator);
          const soft = F.sigmoid(F.add(z, F.mul(eps, this.noise))); // (B, L, 1)
          gateSum = gateSum ? F.add(gateSum, F.sum(F.mul(soft, keepT))) : F.sum(F.mul(soft, keepT));
          return soft;
        }
        const hard = new Float32Array(B * L);
        for (let p = 0; p < B * L; p++) hard[p] = z.f32[p] > 0 ? 1 : 0;
        const opened = hard.reduce((s, v, p) => s + v * keep[p], 0);
        open += opened;
        g = opened === n ? 'open' : opened === 0 ? 'closed' : new Tensor(hard, [B, L, 1]);
      }
      if (g === 'closed' && ctx.cached && k === 0) return zeros([B, L, 1]); // fill the cache
      if (g === 'closed') this.lastSkipped++;
      return g;
    };
    let h = x;
    for (let i = 0; i < layers.length; i++) h = apply(layers[i], h, i, (k, y) => decide(i, k, y));
    this.budgetLoss =
      gateSum && decided > 0 && n > 0
        ? absDiff(F.mul(gateSum as Tensor, 1 / (n * decided)), this.budget)
        : null;
    this.lastOpenShare = decided > 0 && n > 0 && !this.training ? open / (n * decided) : 1;
    return h;
  }
}

/** |x - c| for a scalar tensor x, as relu(x - c) + relu(c - x). */
function absDiff(x: Tensor, c: number): Tensor {
  return F.add(F.relu(F.sub(x, c)), F.relu(F.sub(c, x)));
}
