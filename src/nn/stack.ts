/**
 * The depth seam: a stack of layers (Vaswani et al. 2017, Sec. 3.1: "a stack of N = 6
 * identical layers") and the strategy that runs it. The fixed stack applies each layer
 * once, in order; the survey's adaptive computation (Lin et al. 2021, Sec. 6.3: Universal
 * Transformer's shared layer applied recurrently, ACT halting, conditional computation's
 * skipped sub-layers, early exit) are other strategies over the same stack, not forks of it.
 *
 * Shape letters: B batch, L length, C d_model.
 */
import type { Tensor } from '../tensor.js';
import * as F from '../ops/index.js';
import { Module, ModuleList } from './module.js';
import type { Norm } from './norms.js';

/**
 * A sub-layer's gate (conditional computation): run it ('open'), skip it ('closed': the
 * residual stream passes unchanged and the sub-layer is not computed), or weight its update
 * per position, x + g (Sublayer block(x) - x), with g (B, L, 1) in [0, 1].
 */
export type GateDecision = 'open' | 'closed' | Tensor;

/** The gates of one layer application: sub-layer k's decision for its input x (B, L, C). */
export type SublayerGate = (k: number, x: Tensor) => GateDecision;

/**
 * Apply `layer` to x (B, L, C) as the stack's application number `index` (which selects
 * its decoding state: a recurrent strategy applies a layer more than once), optionally
 * with gates on its sub-layers; the stack binds masks and caches.
 */
export type ApplyLayer<L> = (layer: L, x: Tensor, index: number, gate?: SublayerGate) => Tensor;

/**
 * What a strategy knows of one run beyond the input: the absolute position of x's first row,
 * and whether the layers run with decoding states (incremental decoding: every application
 * must then see every position, so that later calls find their keys and values).
 */
export interface StackContext {
  readonly offset: number;
  readonly cached?: boolean;
  /** (B, L) key padding mask of x (true = padded), when the stack has one. */
  readonly padding?: Tensor | null;
}

/**
 * How a stack runs its layers. A Module, so that a strategy's own parameters (ACT's halting
 * unit, a conditional-computation gate) get state-dict names under `depth.`.
 */
export abstract class DepthStrategy extends Module {
  /** The strategy's name (`fixed`, ...). */
  abstract readonly kind: string;
  /**
   * Run the stack on x.
   * @param layers the stack's layers, in order.
   * @param x (B, L, C) the stack's input.
   * @param apply runs one layer (with the stack's masks and the layer's decoding state).
   * @param ctx the position offset (incremental decoding).
   * @returns (B, L, C), before the stack's final norm.
   */
  abstract run<L>(layers: readonly L[], x: Tensor, apply: ApplyLayer<L>, ctx: StackContext): Tensor;

  /** Layer applications per run of n layers (one decoding state each). */
  applications(n: number): number {
    return n;
  }

  /**
   * The loss term of the last run that training adds to the task's loss (ACT's ponder
   * cost), or null.
   */
  auxiliaryLoss(): Tensor | null {
    return null;
  }
}

/** The paper's stack: every layer once, in order. */
export class FixedDepth extends DepthStrategy {
  readonly kind = 'fixed';
  run<L>(layers: readonly L[], x: Tensor, apply: ApplyLayer<L>): Tensor {
    let h = x; // the paper's stack: no context needed
    for (let i = 0; i < layers.length; i++) h = apply(layers[i], h, i);
    return h;
  }
}

/**
 * N layers, an optional final norm (`norm`, a LayerNorm as torch.nn.TransformerEncoder and
 * TransformerDecoder), and the depth strategy that runs them. Encoder and decoder stacks are
 * thin specialisations (their forward binds the masks and caches of their layers).
 * State-dict names: `layers.{i}.*`, `norm.*`.
 */
export class LayerStack<L extends Module> extends Module {
  readonly layers: ModuleList<L>;
  readonly norm: Norm | null;
  readonly depth: DepthStrategy;
  constructor(layers: L[], norm: Norm | null = null, depth: DepthStrategy = new FixedDepth()) {
    super();
    this.layers = this.child('layers', new ModuleList(layers));
    this.norm = norm ? this.child('norm', norm) : null;
    this.depth = this.child('depth', depth);
  }

  /**
   * Run the layers through the depth strategy, then the final norm.
   * @param x (B, L, C)
   * @param ctx offset: absolute position of x's first row; cached: the layers run with
   *   decoding states; padding: (B, L) key padding mask (left out of BatchNorm's statistics).
   */
  protected runStack(
    x: Tensor,
    apply: ApplyLayer<L>,
    ctx: { offset?: number; cached?: boolean; padding?: Tensor | null } = {},
  ): Tensor {
    const { offset = 0, cached = false, padding } = ctx;
    const h = this.depth.run(this.layers.items, x, apply, { offset, cached, padding });
    return this.norm ? this.norm.forward(h, padding) : h;
  }

  /** One decoding state per layer application: `make(layer)` for application i's layer. */
  protected statesFor<S>(make: (layer: L) => S): S[] {
    const n = this.layers.items.length;
    return Array.from({ length: this.depth.applications(n) }, (_, i) =>
      make(this.layers.items[i % n]),
    );
  }
}

/**
 * The sum of the auxiliary loss terms of every depth strategy in `model` from its last run
 * (ACT's ponder cost), or null when there are none: what a task adds to its loss in training.
 */
export function auxiliaryLosses(model: Module): Tensor | null {
  let total: Tensor | null = null;
  for (const [, m] of model.namedModules()) {
    const aux = m instanceof DepthStrategy ? m.auxiliaryLoss() : null;
    if (aux) total = total ? F.add(total, aux) : aux;
  }
  return total;
}

/** `loss` plus the model's auxiliary losses (auxiliaryLosses); `loss` itself when there are none. */
export function withAuxiliaryLosses(model: Module, loss: Tensor): Tensor {
  const aux = auxiliaryLosses(model);
  return aux ? F.add(loss, aux) : loss;
}
