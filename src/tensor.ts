/**
 * Tensor: dense, contiguous, row-major storage with a shape.
 *
 * dtypes: 'float32' (Float32Array) for values, 'int32' (Int32Array) for token ids and
 * class labels, 'bool' (Uint8Array, 1 = true) for masks. Shapes are batch-first,
 * (B, T, C). Tensors that require gradients carry `grad` after `backward()`.
 */
import { Buffer } from 'node:buffer';
import { RELEASED, currentArena } from './arena.js';
import type { OpAttrs, OpName } from './ops/spec.js';
import { defaultGenerator, type Generator } from './random.js';

export { StepArena, currentArena } from './arena.js';

export type DType = 'float32' | 'int32' | 'bool';
export type Storage = Float32Array | Int32Array | Uint8Array;
export type Shape = readonly number[];

/** Number of elements of a shape. */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Format a shape as PyTorch prints it: (2, 3, 4). */
export function fmtShape(shape: Shape): string {
  return `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;
}

function checkShape(shape: Shape, where: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(
        `${where}: invalid shape ${fmtShape(shape)}: sizes must be non-negative integers`,
      );
    }
  }
}

/**
 * One recorded op on the autograd tape (autograd.ts records it, re-exports this type): its
 * name, inputs, output and the attributes its gradient needs. Declared here, beside the
 * `Tensor.node` field that holds it, so that tensor.ts imports nothing of autograd.
 */
export interface GradNode<K extends OpName = OpName> {
  readonly op: K;
  readonly inputs: readonly (Tensor | null)[];
  readonly out: Tensor;
  readonly attrs: OpAttrs[K];
}

/** The reverse-mode pass behind `Tensor.backward`, registered by autograd.ts when it loads. */
let backwardPass: ((root: Tensor, grad?: Tensor) => void) | null = null;

/**
 * Registers the reverse-mode pass `Tensor.backward` runs (autograd.ts calls this once, so
 * that this module need not import autograd: no import cycle).
 */
export function setBackwardPass(pass: (root: Tensor, grad?: Tensor) => void): void {
  backwardPass = pass;
}

function storageFor(dtype: DType, n: number): Storage {
  if (dtype === 'float32') return new Float32Array(n);
  if (dtype === 'int32') return new Int32Array(n);
  return new Uint8Array(n);
}

function dtypeOf(data: Storage): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  return 'bool';
}

export class Tensor {
  /** Flat row-major storage. */
  readonly data: Storage;
  /** Sizes per dimension. */
  readonly shape: Shape;
  readonly dtype: DType;
  /** Whether gradients flow to (and accumulate in) this tensor. */
  requiresGrad = false;
  /** Gradient accumulated by `backward()` (leaf tensors only), same shape, float32. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded on the autograd tape. */
  node: GradNode | null = null;
  /** Optional name (parameters carry their state_dict name). */
  name?: string;

  /**
   * @param data storage; its length must equal the product of `shape`.
   * @throws Error if the sizes disagree.
   */
  constructor(data: Storage, shape: Shape) {
    checkShape(shape, 'Tensor');
    if (data.length !== numel(shape)) {
      throw new Error(
        `Tensor: data has ${data.length} elements but shape ${fmtShape(shape)} needs ${numel(shape)}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtypeOf(data);
    const arena = currentArena();
    if (arena !== null && arena.owns(data)) arena.track(this);
  }

  /** @throws Error if the storage was handed back by a StepArena. */
  private live(): void {
    if (this.data === RELEASED) {
      throw new Error(
        `tensor of shape ${fmtShape(this.shape)} was released at the end of a StepArena.run step; copy it (t.clone()) inside the step to keep it`,
      );
    }
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Float32 storage; throws if the tensor is not float32. */
  get f32(): Float32Array {
    if (this.data === RELEASED) this.live();
    if (!(this.data instanceof Float32Array)) {
      throw new Error(
        `expected a float32 tensor, got ${this.dtype} of shape ${fmtShape(this.shape)}`,
      );
    }
    return this.data;
  }

  /** Int32 storage; throws if the tensor is not int32. */
  get i32(): Int32Array {
    if (!(this.data instanceof Int32Array)) {
      throw new Error(
        `expected an int32 tensor, got ${this.dtype} of shape ${fmtShape(this.shape)}`,
      );
    }
    return this.data;
  }

  /** Size of dimension `dim` (negative counts from the end). */
  dim(d: number): number {
    return this.shape[normAxis(d, this.ndim, 'dim')];
  }

  /** The values as a flat array of numbers. */
  toArray(): number[] {
    this.live();
    return Array.from(this.data);
  }

  /** The values as nested arrays following the shape (like torch's tolist). */
  tolist(): unknown {
    this.live();
    const rec = (dim: number, off: number): unknown => {
      if (dim === this.ndim) return this.data[off];
      const stride = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => rec(dim + 1, off + i * stride));
    };
    return rec(0, 0);
  }

  /** The single value of a one-element tensor. @throws Error if size != 1. */
  item(): number {
    this.live();
    if (this.size !== 1)
      throw new Error(
        `item(): tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, expected 1`,
      );
    return this.data[0];
  }

  /** Mark as requiring gradients (leaf); returns this. */
  requiresGrad_(flag = true): this {
    if (flag && this.dtype !== 'float32')
      throw new Error(`only float32 tensors can require grad, got ${this.dtype}`);
    this.requiresGrad = flag;
    return this;
  }

  /**
   * Reverse-mode differentiation from this tensor. Leaf tensors that require grad receive
   * `.grad` (accumulated). `grad` defaults to 1 for a one-element tensor.
   * Runs autograd.ts `backward` (registered with `setBackwardPass`).
   * @throws Error if this tensor is not on the tape or is not scalar and no grad is given,
   *   or if autograd.ts was never loaded (no op of src/ops, which record on its tape, ran).
   */
  backward(grad?: Tensor): void {
    if (backwardPass === null)
      throw new Error('backward(): autograd is not loaded (import src/autograd.js or the package)');
    backwardPass(this, grad);
  }

  /** A new tensor with the same data, detached from the tape. Shares storage. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /** A deep copy (new storage), detached. */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  toString(): string {
    const vals = Array.from(this.data.subarray(0, 8)).map((v) => +v.toFixed(4));
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}, [${vals.join(', ')}${this.size > 8 ? ', ...' : ''}])`;
  }
}

/** Normalize a possibly negative axis. @throws Error naming `op` when out of range. */
export function normAxis(axis: number, ndim: number, op: string): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) {
    throw new Error(`${op}: axis ${axis} out of range for a tensor with ${ndim} dimensions`);
  }
  return a;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Creation

type Nested = number | boolean | Nested[];

function inferShape(x: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = x;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

/**
 * A tensor from nested arrays or a flat array/typed array plus a shape.
 * @param data nested number arrays (shape inferred), or flat data with `shape`.
 * @param shape required for flat data of rank != 1.
 * @param dtype 'float32' (default for numbers), 'int32' or 'bool'; typed arrays keep theirs.
 * @throws Error if the data is ragged or does not fill the shape.
 */
export function tensor(
  data: Nested | Storage | ArrayLike<number>,
  shape?: Shape,
  dtype?: DType,
): Tensor {
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array) {
    if (dtype && dtype !== dtypeOf(data)) {
      const out = storageFor(dtype, data.length);
      for (let i = 0; i < data.length; i++) out[i] = data[i];
      return new Tensor(out, shape ?? [data.length]);
    }
    return new Tensor(data, shape ?? [data.length]);
  }
  let flat: number[];
  let inferred: number[];
  if (Array.isArray(data)) {
    inferred = inferShape(data as Nested);
    flat = (data as Nested[]).flat(Infinity as 1) as unknown as number[];
    if (flat.length !== numel(inferred))
      throw new Error(`tensor: ragged nested array for shape ${fmtShape(inferred)}`);
  } else if (typeof data === 'number' || typeof data === 'boolean') {
    inferred = [];
    flat = [Number(data)];
  } else {
    flat = Array.from(data as ArrayLike<number>);
    inferred = [flat.length];
  }
  const dt = dtype ?? 'float32';
  const out = storageFor(dt, flat.length);
  for (let i = 0; i < flat.length; i++) out[i] = Number(flat[i]);
  return new Tensor(out, shape ?? inferred);
}

/** A float32 tensor of zeros (or another dtype). */
export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
  checkShape(shape, 'zeros');
  return new Tensor(storageFor(dtype, numel(shape)), shape);
}

/** Below this many elements, uninitialized storage is not worth a separate allocation. */
const UNINIT_MIN = 1024;

/**
 * Int32 scratch of n elements for the current step: from the step's arena when one is
 * running (uninitialized, reused from step to step: no fresh pages to fault in), else a
 * fresh zeroed Int32Array. Callers write every element they read.
 */
export function scratchI32(n: number): Int32Array {
  const arena = currentArena();
  // Small ones on V8's heap (the arena's small arrays are, and their .buffer would move them).
  if (arena === null || n < UNINIT_MIN) return new Int32Array(n);
  const f = arena.alloc(n);
  return new Int32Array(f.buffer, f.byteOffset, n);
}

/**
 * Float32 storage of `n` elements whose contents are ARBITRARY (not zeroed): for outputs
 * that a kernel overwrites entirely. Skips calloc's zero fill (a memset per activation,
 * measured at several ms per training step of bench/run.ts case 1). Inside a StepArena step
 * the storage is the arena's, whatever `n`: a tensor on it is released when the step ends.
 */
export function uninitF32(n: number): Float32Array {
  const arena = currentArena();
  if (arena !== null) return arena.alloc(n); // any size: a step's outputs are all released
  if (n < UNINIT_MIN) return new Float32Array(n);
  const b = Buffer.allocUnsafeSlow(4 * n);
  return new Float32Array(b.buffer, b.byteOffset, n);
}

/**
 * A tensor with ARBITRARY contents, for op outputs a kernel overwrites entirely (float32;
 * other dtypes are zeroed).
 */
export function empty(shape: Shape, dtype: DType = 'float32'): Tensor {
  checkShape(shape, 'empty');
  if (dtype !== 'float32') return zeros(shape, dtype);
  return new Tensor(uninitF32(numel(shape)), shape);
}

/** A tensor filled with `value`. */
export function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  const t = zeros(shape, dtype);
  t.data.fill(value);
  return t;
}

/** A float32 tensor of ones. */
export function ones(shape: Shape, dtype: DType = 'float32'): Tensor {
  return full(shape, 1, dtype);
}

/** [start, start+step, ...) below `end`, like torch.arange. int32 when all arguments are integers. */
export function arange(start: number, end?: number, step = 1, dtype?: DType): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0) throw new Error('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dt = dtype ?? (Number.isInteger(start) && Number.isInteger(step) ? 'int32' : 'float32');
  const t = zeros([n], dt);
  for (let i = 0; i < n; i++) t.data[i] = start + i * step;
  return t;
}

/** Uniform [low, high) float32 values from `gen`. */
export function rand(shape: Shape, gen: Generator = defaultGenerator, low = 0, high = 1): Tensor {
  const t = zeros(shape);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = low + (high - low) * gen.uniform();
  return t;
}

/** Normal N(mean, std^2) float32 values from `gen`. */
export function randn(shape: Shape, gen: Generator = defaultGenerator, mean = 0, std = 1): Tensor {
  const t = zeros(shape);
  const d = t.data;
  for (let i = 0; i < d.length; i++) d[i] = mean + std * gen.normal();
  return t;
}

/** Uniform integers in [low, high) as int32. */
export function randint(
  low: number,
  high: number,
  shape: Shape,
  gen: Generator = defaultGenerator,
): Tensor {
  const t = zeros(shape, 'int32');
  for (let i = 0; i < t.size; i++) t.data[i] = low + gen.randint(high - low);
  return t;
}
