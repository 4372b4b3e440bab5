/**
 * Element-wise ops with NumPy/PyTorch broadcasting: add, sub, mul, div; scalar variants;
 * unary functions (exp, log, sqrt, tanh, relu, gelu, ...); masked fill.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import type { BinaryOp, ScalarOp, UnaryOp } from '../backend/types.js';
import { Tensor, empty, fmtShape, numel, stridesOf, zeros, type Shape } from '../tensor.js';

/**
 * Broadcast two shapes (NumPy rules). Returns the output shape and each input's element
 * strides over it (0 on broadcast dimensions).
 * @throws Error naming `op` and both shapes when they do not broadcast.
 */
export function broadcastShapes(
  a: Shape,
  b: Shape,
  op: string,
): { shape: number[]; aStrides: number[]; bStrides: number[] } {
  const rank = Math.max(a.length, b.length);
  const shape: number[] = [];
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  const sa = stridesOf(a);
  const sb = stridesOf(b);
  for (let i = 0; i < rank; i++) {
    const ia = i - (rank - a.length);
    const ib = i - (rank - b.length);
    const da = ia >= 0 ? a[ia] : 1;
    const db = ib >= 0 ? b[ib] : 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together`,
      );
    }
    shape.push(da === 1 ? db : da);
    aStrides.push(ia >= 0 && da !== 1 ? sa[ia] : 0);
    bStrides.push(ib >= 0 && db !== 1 ? sb[ib] : 0);
  }
  return { shape, aStrides, bStrides };
}

/**
 * Merge adjacent output dimensions that both operands traverse contiguously, so the
 * kernels see the smallest rank (a same-shape add becomes rank 1, a bias add rank 2).
 */
export function coalesce(
  shape: number[],
  sa: number[],
  sb: number[],
): { shape: number[]; aStrides: number[]; bStrides: number[] } {
  const os: number[] = [];
  const oa: number[] = [];
  const ob: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const k = os.length - 1;
    if (k >= 0 && oa[k] === sa[i] * shape[i] && ob[k] === sb[i] * shape[i]) {
      os[k] *= shape[i];
      oa[k] = sa[i];
      ob[k] = sb[i];
    } else {
      os.push(shape[i]);
      oa.push(sa[i]);
      ob.push(sb[i]);
    }
  }
  if (os.length === 0) return { shape: [1], aStrides: [0], bStrides: [0] };
  return { shape: os, aStrides: oa, bStrides: ob };
}

function binaryOp(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const bc = broadcastShapes(a.shape, b.shape, op);
  const out = empty(bc.shape); // every element written below
  const { shape, aStrides, bStrides } = coalesce(bc.shape, bc.aStrides, bc.bStrides);
  if (shape.length > 6)
    throw new Error(`${op}: broadcasting over more than 6 dimensions is not supported`);
  if (out.size > 0) backend().binary(op, out.f32, a.f32, b.f32, shape, aStrides, bStrides);
  return record('binary', [a, b], out, { op, shape, aStrides, bStrides });
}

function asTensor(x: Tensor | number): Tensor {
  return typeof x === 'number' ? new Tensor(new Float32Array([x]), []) : x;
}

/** a + b with broadcasting; a number is a scalar. */
export function add(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === 'number' ? scalarOp('add', a, b) : binaryOp('add', a, b);
}

/** a - b with broadcasting. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof b === 'number') return scalarOp('add', asTensor(a), -b);
  if (typeof a === 'number') return scalarOp('rsub', b, a);
  return binaryOp('sub', a, b);
}

/** a * b with broadcasting. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  return typeof b === 'number' ? scalarOp('mul', a, b) : binaryOp('mul', a, b);
}

/** a / b with broadcasting. */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof b === 'number') return scalarOp('mul', asTensor(a), 1 / b);
  if (typeof a === 'number') return scalarOp('rdiv', b, a);
  return binaryOp('div', a, b);
}

/** x ** p for a number p. */
export function pow(x: Tensor, p: number): Tensor {
  return scalarOp('pow', x, p);
}

function scalarOp(op: ScalarOp, x: Tensor, s: number): Tensor {
  const out = empty(x.shape);
  backend().scalar(op, out.f32, x.f32, s, x.size);
  return record('scalar', [x], out, { op, s });
}

function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  const out = empty(x.shape);
  backend().unary(op, out.f32, x.f32, x.size);
  return record('unary', [x], out, { op });
}

/** -x */
export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
/** e^x */
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
/** natural log */
export const log = (x: Tensor): Tensor => unaryOp('log', x);
/** square root */
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
/** hyperbolic tangent */
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
/** max(x, 0) (Sec. 3.3's FFN activation). */
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
/** Logistic sigmoid 1 / (1 + exp(-x)), as (1 + tanh(x / 2)) / 2 (no overflow for large |x|). */
export const sigmoid = (x: Tensor): Tensor => add(mul(tanh(mul(x, 0.5)), 0.5), 0.5);
/**
 * GELU (Hendrycks & Gimpel, 2016). `approximate: 'none'` is x * Phi(x) with the exact erf,
 * 'tanh' the tanh approximation, as torch.nn.functional.gelu.
 */
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor =>
  unaryOp(approximate === 'tanh' ? 'geluTanh' : 'gelu', x);

/**
 * Replace elements of x where `mask` is true by `value` (torch.Tensor.masked_fill).
 * @param mask bool tensor broadcastable to x's shape.
 * @throws Error if mask is not bool or does not broadcast to x.
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  if (mask.dtype !== 'bool') throw new Error(`maskedFill: mask must be bool, got ${mask.dtype}`);
  const { shape, aStrides, bStrides } = broadcastShapes(x.shape, mask.shape, 'maskedFill');
  if (numel(shape) !== x.size) {
    throw new Error(
      `maskedFill: mask ${fmtShape(mask.shape)} does not broadcast to ${fmtShape(x.shape)}`,
    );
  }
  void aStrides;
  const out = zeros(x.shape);
  const m = mask.data as Uint8Array;
  const xd = x.f32;
  const od = out.f32;
  forEachBroadcast(shape, bStrides, (i, mi) => {
    od[i] = m[mi] ? value : xd[i];
  });
  return record('maskedFill', [x], out, { mask: m, shape, maskStrides: bStrides });
}

/** Visit each dense index i of `shape` with the strided offset of another operand. */
export function forEachBroadcast(
  shape: readonly number[],
  strides: readonly number[],
  f: (i: number, off: number) => void,
): void {
  const n = numel(shape);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    f(i, off);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      off += strides[d];
      if (idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}
