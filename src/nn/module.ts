/**
 * Module: the base of every layer, as torch.nn.Module. Holds parameters and child modules
 * under PyTorch's state_dict names (snake_case, dotted paths such as
 * `encoder.layers.0.self_attn.in_proj_weight`), a training flag, and state-dict I/O.
 */
import { GradBuffers } from '../autograd/buffers.js';
import { Tensor, fmtShape, type Shape } from '../tensor.js';

export class Module {
  /** Training mode: enables dropout. Set with train()/eval(). */
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly children = new Map<string, Module>();
  private readonly buffers = new Map<string, Tensor>();

  /** Register a parameter under its state_dict name; returns it (requiresGrad set). */
  protected param(name: string, t: Tensor): Tensor;
  protected param(name: string, t: Tensor | null): Tensor | null;
  protected param(name: string, t: Tensor | null): Tensor | null {
    if (t) t.requiresGrad_(true);
    this.params.set(name, t);
    return t;
  }

  /**
   * Register a buffer: state that is saved and loaded with the parameters but not trained
   * (torch's register_buffer: BatchNorm's running_mean, running_var, num_batches_tracked; Performer's random features).
   * Not in parameters(); in stateDict() after the module's own parameters.
   */
  protected buffer(name: string, t: Tensor): Tensor {
    this.buffers.set(name, t);
    return t;
  }

  /** Register a child module under its state_dict name; returns it. */
  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** (name, parameter) pairs in registration order, names dotted from this module. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const walk = (m: Module, pre: string): void => {
      for (const [n, p] of m.params) {
        if (p && !seen.has(p)) {
          seen.add(p);
          out.push([pre + n, p]);
        }
      }
      for (const [n, c] of m.children) walk(c, `${pre}${n}.`);
    };
    walk(this, prefix);
    return out;
  }

  /** All parameters (shared ones once). */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Child modules, recursively, with dotted names. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  /** Total number of parameter elements (shared tensors counted once). */
  numParameters(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }

  /** Set training mode on this module and all children. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (dropout off). */
  eval(): this {
    return this.train(false);
  }

  /** Clear the gradients of all parameters (their buffers go back to the autograd pool, for the next backward). */
  zeroGrad(): void {
    for (const p of this.parameters()) GradBuffers.releaseGrad(p);
  }

  /**
   * The state dict: every parameter under its PyTorch name, including tied parameters
   * under each of their names (as torch does), and every buffer.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const walk = (m: Module, pre: string): void => {
      for (const [n, p] of m.params) if (p) out.set(pre + n, p);
      for (const [n, b] of m.buffers) out.set(pre + n, b);
      for (const [n, c] of m.children) walk(c, `${pre}${n}.`);
    };
    walk(this, '');
    return out;
  }

  /**
   * Copy tensors into this module's parameters and buffers by name, as load_state_dict(strict).
   * Everything is validated before anything is copied: on error the module is unchanged.
   * @throws Error listing missing keys, unexpected keys and shape mismatches (both shapes).
   */
  loadStateDict(sd: Map<string, { shape: Shape; data: ArrayLike<number> }>, strict = true): void {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, p] of own) {
      const t = sd.get(k);
      if (t && (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))) {
        mismatched.push(`${k}: checkpoint ${fmtShape(t.shape)} vs model ${fmtShape(p.shape)}`);
      }
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`size mismatch: ${mismatched.join('; ')}`);
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (problems.length)
      throw new Error(
        `Error(s) in loading state_dict for ${this.constructor.name}: ${problems.join('. ')}`,
      );
    for (const [k, p] of own) {
      const t = sd.get(k);
      if (t) (p.data as Float32Array).set(t.data);
    }
  }
}

/** An indexed list of modules (torch.nn.ModuleList): children named "0", "1", ... */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
}
