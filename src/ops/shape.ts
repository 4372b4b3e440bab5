/**
 * Shape ops: reshape (a view), permute/transpose, slice, split, concat. The copies are
 * strided gathers (`stridedCopy` kernel); their gradients are strided scatter-adds.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import {
  Tensor,
  empty,
  fmtShape,
  normAxis,
  numel,
  stridesOf,
  zeros,
  type Shape,
} from '../tensor.js';

/**
 * The same data viewed with another shape (one dimension may be -1).
 * @throws Error naming both shapes when the element counts differ.
 */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(s.filter((_, i) => i !== neg));
    if (rest === 0 || x.size % rest !== 0) {
      throw new Error(`reshape: cannot view shape ${fmtShape(x.shape)} as ${fmtShape(shape)}`);
    }
    s[neg] = x.size / rest;
  }
  if (numel(s) !== x.size) {
    throw new Error(
      `reshape: cannot view shape ${fmtShape(x.shape)} (${x.size} elements) as ${fmtShape(shape)}`,
    );
  }
  const out = new Tensor(x.data, s);
  return record('reshape', [x], out, {});
}

/** Strided gather recorded for autograd: out[i...] = x[offset + sum i_j strides_j]. */
function gather(x: Tensor, shape: number[], strides: number[], offset: number): Tensor {
  const out = empty(shape, x.dtype); // every element gathered below
  if (out.size > 0) {
    if (x.dtype === 'float32') backend().stridedCopy(out.f32, x.f32, shape, strides, offset);
    else gatherAny(out.data, x.data, shape, strides, offset);
  }
  return record('gather', [x], out, { shape, strides, offset });
}

function gatherAny(
  out: Int32Array | Uint8Array | Float32Array,
  x: Int32Array | Uint8Array | Float32Array,
  shape: number[],
  strides: number[],
  offset: number,
): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  let off = offset;
  for (let i = 0; i < n; i++) {
    out[i] = x[off];
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++;
      off += strides[d];
      if (idx[d] < shape[d]) break;
      off -= strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/**
 * Reorder dimensions (torch.permute). out.shape[i] = x.shape[perm[i]].
 * @throws Error if `perm` is not a permutation of the axes.
 */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const nd = x.ndim;
  const p = perm.map((a) => normAxis(a, nd, 'permute'));
  if (p.length !== nd || new Set(p).size !== nd) {
    throw new Error(
      `permute: [${perm.join(', ')}] is not a permutation of the ${nd} axes of ${fmtShape(x.shape)}`,
    );
  }
  if (p.every((a, i) => a === i)) return x;
  const st = stridesOf(x.shape);
  return gather(
    x,
    p.map((a) => x.shape[a]),
    p.map((a) => st[a]),
    0,
  );
}

/** Swap two dimensions (torch.transpose). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const nd = x.ndim;
  const a = normAxis(dim0, nd, 'transpose');
  const b = normAxis(dim1, nd, 'transpose');
  const perm = Array.from({ length: nd }, (_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/**
 * Elements [start, end) along `axis` (torch.narrow / x[..., start:end, ...]).
 * Negative start/end count from the end.
 * @throws Error if the range is outside the dimension.
 */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const ax = normAxis(axis, x.ndim, 'slice');
  const n = x.shape[ax];
  const s = start < 0 ? start + n : start;
  const e = end === undefined ? n : end < 0 ? end + n : end;
  if (s < 0 || e > n || s > e) {
    throw new Error(
      `slice: range [${start}, ${end ?? n}) out of bounds for axis ${axis} of size ${n} in ${fmtShape(x.shape)}`,
    );
  }
  if (s === 0 && e === n) return x;
  const st = stridesOf(x.shape);
  const shape = [...x.shape];
  shape[ax] = e - s;
  return gather(x, shape, st, s * st[ax]);
}

/**
 * Split along `axis` into parts of the given sizes (or equal parts of size `sizes`).
 * @throws Error if the sizes do not add up to the dimension.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const ax = normAxis(axis, x.ndim, 'split');
  const n = x.shape[ax];
  let parts: number[];
  if (typeof sizes === 'number') {
    parts = [];
    for (let i = 0; i < n; i += sizes) parts.push(Math.min(sizes, n - i));
  } else parts = [...sizes];
  if (parts.reduce((a, b) => a + b, 0) !== n) {
    throw new Error(
      `split: sizes [${parts.join(', ')}] do not add up to ${n} (axis ${axis} of ${fmtShape(x.shape)})`,
    );
  }
  const out: Tensor[] = [];
  let off = 0;
  for (const p of parts) {
    out.push(slice(x, ax, off, off + p));
    off += p;
  }
  return out;
}

/**
 * Concatenate along `axis` (torch.cat). All other dimensions must agree.
 * @throws Error naming the mismatching shapes.
 */
export function concat(parts: readonly Tensor[], axis = 0): Tensor {
  if (parts.length === 0) throw new Error('concat: no tensors given');
  const first = parts[0];
  const ax = normAxis(axis, first.ndim, 'concat');
  for (const p of parts) {
    if (
      p.ndim !== first.ndim ||
      p.shape.some((d, i) => i !== ax && d !== first.shape[i]) ||
      p.dtype !== first.dtype
    ) {
      throw new Error(
        `concat: shape ${fmtShape(p.shape)} (${p.dtype}) does not match ${fmtShape(first.shape)} (${first.dtype}) outside axis ${axis}`,
      );
    }
  }
  const sizes = parts.map((p) => p.shape[ax]);
  const outShape = [...first.shape];
  outShape[ax] = sizes.reduce((a, b) => a + b, 0);
  // float32 from empty (the step arena's storage when one runs: a fresh zeroed buffer is
  // page-faulted in on first write, ~13 us per 4 KiB page on this project's VM), zeroed here.
  const out = first.dtype === 'float32' ? empty(outShape) : zeros(outShape, first.dtype);
  if (first.dtype === 'float32') out.f32.fill(0);
  const ost = stridesOf(outShape);
  let off = 0;
  for (const p of parts) {
    if (p.size > 0) scatterInto(out, p, ost, off * ost[ax]);
    off += p.shape[ax];
  }
  return record('concat', parts, out, { axis: ax, sizes, outShape });
}

/** out[offset + sum i_j outStrides_j] = p[i] over p's shape (out is zero there). */
function scatterInto(out: Tensor, p: Tensor, outStrides: number[], offset: number): void {
  if (out.dtype === 'float32') {
    backend().stridedAccumulate(out.f32, p.f32, p.shape, outStrides, offset);
    return;
  }
  const n = p.size;
  const shape = p.shape;
  const idx = new Array<number>(shape.length).fill(0);
  let o = offset;
  for (let i = 0; i < n; i++) {
    out.data[o] = p.data[i];
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]++;
      o += outStrides[d];
      if (idx[d] < shape[d]) break;
      o -= outStrides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** Stack tensors of equal shape along a new axis. */
export function stack(parts: readonly Tensor[], axis = 0): Tensor {
  if (parts.length === 0) throw new Error('stack: no tensors given');
  const ax = axis < 0 ? axis + parts[0].ndim + 1 : axis;
  return concat(
    parts.map((p) => {
      const s = [...p.shape];
      s.splice(ax, 0, 1);
      return reshape(p, s);
    }),
    ax,
  );
}

/** Insert a dimension of size 1 at `axis`. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = axis < 0 ? axis + x.ndim + 1 : axis;
  const s = [...x.shape];
  s.splice(ax, 0, 1);
  return reshape(x, s);
}
