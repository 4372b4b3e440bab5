/**
 * Reductions over one axis (or all elements): sum, mean, max.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import { Tensor, normAxis, numel, zeros } from '../tensor.js';
import { mul } from './elementwise.js';

function split3(
  x: Tensor,
  axis: number | undefined,
  op: string,
): { outer: number; dim: number; inner: number; ax: number } {
  if (axis === undefined) return { outer: 1, dim: x.size, inner: 1, ax: -1 };
  const ax = normAxis(axis, x.ndim, op);
  return {
    outer: numel(x.shape.slice(0, ax)),
    dim: x.shape[ax],
    inner: numel(x.shape.slice(ax + 1)),
    ax,
  };
}

function outShape(x: Tensor, ax: number, keepDim: boolean): number[] {
  if (ax < 0) return keepDim ? x.shape.map(() => 1) : [];
  const s = [...x.shape];
  if (keepDim) s[ax] = 1;
  else s.splice(ax, 1);
  return s;
}

/**
 * Sum over `axis` (all elements when omitted), like torch.sum.
 * @param keepDim keep the reduced axis with size 1.
 */
export function sum(x: Tensor, axis?: number, keepDim = false): Tensor {
  const { outer, dim, inner, ax } = split3(x, axis, 'sum');
  const out = zeros(outShape(x, ax, keepDim));
  backend().sum(out.f32, x.f32, outer, dim, inner);
  return record('sum', [x], out, { outer, dim, inner });
}

/** Mean over `axis` (all elements when omitted), like torch.mean. */
export function mean(x: Tensor, axis?: number, keepDim = false): Tensor {
  const n = axis === undefined ? x.size : x.shape[normAxis(axis, x.ndim, 'mean')];
  return mul(sum(x, axis, keepDim), 1 / n);
}

/**
 * Maximum over `axis` and the index of its first occurrence, like torch.max(x, dim).
 * @returns values (float32) and indices (int32), the axis removed unless keepDim.
 */
export function max(x: Tensor, axis: number, keepDim = false): { values: Tensor; indices: Tensor } {
  const { outer, dim, inner, ax } = split3(x, axis, 'max');
  const shape = outShape(x, ax, keepDim);
  const values = zeros(shape);
  const indices = zeros(shape, 'int32');
  backend().max(values.f32, indices.i32, x.f32, outer, dim, inner);
  record('max', [x], values, { outer, dim, inner, argmax: indices.i32 });
  return { values, indices };
}

/** Index of the maximum over `axis` (int32). */
export function argmax(x: Tensor, axis: number, keepDim = false): Tensor {
  return max(x, axis, keepDim).indices;
}
