/**
 * Optimizers with PyTorch's update formulas (torch.optim.SGD, Adam, AdamW), over parameter
 * groups. Adam and AdamW run the fused `adamw` kernel per parameter.
 */
import { backend } from '../backend/index.js';
import { GradBuffers } from '../autograd/buffers.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor.js';

export interface ParamGroup {
  params: Tensor[];
  /** Overrides the optimizer's weight decay for this group. */
  weightDecay?: number;
  /**
   * This group's learning rate is the optimizer's (as a schedule sets it) times this
   * factor, e.g. layer-wise decay (src/train/finetune.ts). Default 1.
   */
  lrScale?: number;
}

/** One parameter to update: its values, its gradient, and its state key ("group.index"). */
interface ParamUpdate {
  p: Float32Array;
  g: Float32Array;
  key: string;
}

/** Base optimizer: groups, learning rate (settable by schedules), zeroGrad, state I/O. */
export abstract class Optimizer {
  readonly groups: Required<ParamGroup>[];
  /** Current learning rate (a schedule may set it before each step). */
  lr: number;
  /** Number of steps taken. */
  stepCount = 0;

  constructor(params: Tensor[] | ParamGroup[], lr: number, weightDecay: number) {
    if (!(lr >= 0)) throw new Error(`optimizer: lr must be >= 0, got ${lr}`);
    const groups: ParamGroup[] =
      params.length > 0 && 'params' in (params[0] as object)
        ? (params as ParamGroup[])
        : [{ params: params as Tensor[] }];
    this.groups = groups.map((g, i) => {
      const lrScale = g.lrScale ?? 1;
      if (!(lrScale >= 0))
        throw new Error(`optimizer: group ${i} lrScale must be >= 0, got ${lrScale}`);
      return { params: g.params, weightDecay: g.weightDecay ?? weightDecay, lrScale };
    });
    this.lr = lr;
  }

  /** Clear every parameter's gradient (its buffer goes back to the autograd pool, for the next backward). */
  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) GradBuffers.releaseGrad(p);
  }

  /** Apply one update from the parameters' current gradients (parameters without grad are skipped). */
  step(): void {
    this.stepCount++;
    this.groups.forEach((g, gi) => {
      const items: ParamUpdate[] = [];
      g.params.forEach((p, pi) => {
        if (p.grad) items.push({ p: p.f32, g: p.grad.f32, key: `${gi}.${pi}` });
      });
      if (items.length > 0) this.updateGroup(items, g.weightDecay, this.lr * g.lrScale);
    });
  }

  /** Update the parameters of one group that have a gradient (key: "group.index") at learning rate `lr`. */
  protected abstract updateGroup(
    items: readonly ParamUpdate[],
    weightDecay: number,
    lr: number,
  ): void;

  /** Per-parameter state buffers by key, for checkpoints. */
  abstract state(): Map<string, Float32Array>;

  /**
   * Restore buffers written by `state()` (copies), and the step count, for an exact resume.
   * @throws Error naming an unknown key.
   */
  loadState(state: Map<string, Float32Array>, stepCount: number): void {
    for (const [k, v] of state) {
      const dot = k.indexOf('.');
      const target = this.buffers(k.slice(0, dot));
      if (!target)
        throw new Error(`optimizer state: unknown buffer '${k}' for ${this.constructor.name}`);
      target.set(k.slice(dot + 1), Float32Array.from(v));
    }
    this.stepCount = stepCount;
  }

  /** The buffer map for a state name (e.g. 'exp_avg'), or undefined. */
  protected abstract buffers(name: string): Map<string, Float32Array> | undefined;
}

/** SGD with momentum (torch.optim.SGD): b = mu b + (1 - dampening) g; p -= lr b. */
export class SGD extends Optimizer {
  private readonly buf = new Map<string, Float32Array>();
  constructor(
    params: Tensor[] | ParamGroup[],
    opts: {
      lr: number;
      momentum?: number;
      dampening?: number;
      weightDecay?: number;
      nesterov?: boolean;
    },
  ) {
    super(params, opts.lr, opts.weightDecay ?? 0);
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.nesterov = opts.nesterov ?? false;
  }
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;

  protected updateGroup(items: readonly ParamUpdate[], wd: number, lr: number): void {
    for (const { p, g: grad, key } of items) {
      const n = p.length;
      let b = this.buf.get(key);
      const first = !b;
      if (!b) this.buf.set(key, (b = new Float32Array(n)));
      for (let i = 0; i < n; i++) {
        let d = grad[i] + wd * p[i];
        if (this.momentum !== 0) {
          b[i] = first ? d : this.momentum * b[i] + (1 - this.dampening) * d;
          d = this.nesterov ? d + this.momentum * b[i] : b[i];
        }
        p[i] -= lr * d;
      }
    }
  }
  state(): Map<string, Float32Array> {
    return new Map([...this.buf].map(([k, v]) => [`momentum_buffer.${k}`, v]));
  }
  protected buffers(name: string): Map<string, Float32Array> | undefined {
    return name === 'momentum_buffer' ? this.buf : undefined;
  }
}

interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/**
 * AdamW (Loshchilov & Hutter 2019; torch.optim.AdamW): decoupled weight decay
 * p -= lr * wd * p, then the Adam update with bias correction. Defaults as PyTorch:
 * lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
 */
export class AdamW extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  protected readonly m = new Map<string, Float32Array>();
  protected readonly v = new Map<string, Float32Array>();
  constructor(params: Tensor[] | ParamGroup[], opts: AdamOptions = {}, defaultDecay = 0.01) {
    super(params, opts.lr ?? 1e-3, opts.weightDecay ?? defaultDecay);
    [this.beta1, this.beta2] = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
  }
  /**
   * The moments of parameter `key` ("group.index"). On first use every parameter's moments
   * are allocated together, as views of two flat buffers (one for m, one for v).
   */
  protected moments(key: string, n: number): [Float32Array, Float32Array] {
    let m = this.m.get(key);
    let v = this.v.get(key);
    if (!m || !v) {
      if (this.m.size === 0) this.allocateFlat();
      m = this.m.get(key);
      v = this.v.get(key);
      if (!m || !v || m.length !== n) {
        this.m.set(key, (m = new Float32Array(n)));
        this.v.set(key, (v = new Float32Array(n)));
      }
    }
    return [m, v];
  }
  private allocateFlat(): void {
    let total = 0;
    for (const g of this.groups) for (const p of g.params) total += p.size;
    const fm = new Float32Array(total);
    const fv = new Float32Array(total);
    let off = 0;
    this.groups.forEach((g, gi) =>
      g.params.forEach((p, pi) => {
        this.m.set(`${gi}.${pi}`, fm.subarray(off, off + p.size));
        this.v.set(`${gi}.${pi}`, fv.subarray(off, off + p.size));
        off += p.size;
      }),
    );
  }
  /** The gradient the Adam update sees (Adam adds its L2 term here). */
  protected effectiveGrad(_p: Float32Array, g: Float32Array, _wd: number): Float32Array {
    return g;
  }
  /** The decoupled weight decay passed to the kernel (AdamW: the group's; Adam: 0). */
  protected decoupledDecay(wd: number): number {
    return wd;
  }
  /**
   * One multi-tensor kernel call (backend adamwMulti) for the group's parameters, rather
   * than a call per parameter.
   */
  protected updateGroup(items: readonly ParamUpdate[], weightDecay: number, lr: number): void {
    const ps: Float32Array[] = [];
    const gs: Float32Array[] = [];
    const ms: Float32Array[] = [];
    const vs: Float32Array[] = [];
    for (const { p, g, key } of items) {
      const [m, v] = this.moments(key, p.length);
      ps.push(p);
      gs.push(this.effectiveGrad(p, g, weightDecay));
      ms.push(m);
      vs.push(v);
    }
    const wd = this.decoupledDecay(weightDecay);
    backend().adamwMulti(ps, gs, ms, vs, lr, this.beta1, this.beta2, this.eps, wd, this.stepCount);
  }
  state(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [k, m] of this.m) out.set(`exp_avg.${k}`, m);
    for (const [k, v] of this.v) out.set(`exp_avg_sq.${k}`, v);
    return out;
  }
  protected buffers(name: string): Map<string, Float32Array> | undefined {
    return name === 'exp_avg' ? this.m : name === 'exp_avg_sq' ? this.v : undefined;
  }
}

/**
 * Adam (Kingma & Ba 2015; torch.optim.Adam): weight decay, if any, is an L2 term added to
 * the gradient (not decoupled). Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay.
 */
export class Adam extends AdamW {
  constructor(params: Tensor[] | ParamGroup[], opts: AdamOptions = {}) {
    super(params, opts, 0);
  }
  protected override effectiveGrad(p: Float32Array, g: Float32Array, wd: number): Float32Array {
    if (wd === 0) return g;
    const grad = new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) grad[i] = g[i] + wd * p[i];
    return grad;
  }
  protected override decoupledDecay(): number {
    return 0;
  }
}

/**
 * The usual AdamW grouping (minGPT): weight decay on the weights of linear layers and
 * attention projections (2-D tensors that are not embeddings); none on biases, norms and
 * embeddings.
 */
export function weightDecayGroups(model: Module, weightDecay: number): ParamGroup[] {
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const [name, p] of model.namedParameters()) {
    const isEmbedding = /(^|\.)(wte|wpe|tok_emb|pos_emb|src_tok_emb|tgt_tok_emb)\./.test(name);
    (p.ndim >= 2 && !isEmbedding ? decay : noDecay).push(p);
  }
  return [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
}
