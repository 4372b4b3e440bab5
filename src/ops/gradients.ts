/**
 * The gradient table: for every op, how the gradient of its output flows to its inputs.
 * Exhaustive over `OpName` (jax-js `jvpRules` style): an op without a gradient does not
 * compile. Each rule ACCUMULATES into the input gradient buffers `gi[i]` (null for inputs
 * that do not require grad), except where its metadata (`GradMeta`) says it `overwrites`:
 * there autograd may hand a new buffer uninitialized (no zero fill) with `fresh[i]` true,
 * and the rule must overwrite all of it. A rule whose metadata declares `passThrough` is
 * skipped on the nodes it accepts: autograd hands `g` itself on to the inputs.
 *
 * A rule may leave work queued by backend.matmulDeferred: it then returns the gradient
 * buffer that work still writes, and autograd keeps that buffer and `g` (which the work
 * reads) untouched until it drains the queue.
 *
 * The rules are pure functions of their arguments; what a buffer is, who owns it and when it
 * is recycled is autograd's (src/autograd/buffers.ts), as in tinygrad's `gradient.py`.
 */
import { backend } from '../backend/index.js';
import { currentArena, stridesOf, uninitF32, type GradNode } from '../tensor.js';
import type { OpName } from './spec.js';
import { sparsePartsBackward } from './sparse-parts-backward.js';

/** A gradient rule (see above); K is the op, any op by default. */
export type GradFn<K extends OpName = OpName> = (
  node: GradNode<K>,
  g: Float32Array,
  gi: (Float32Array | null)[],
  fresh: readonly boolean[],
) => Float32Array | void;

/** What autograd's buffer policy needs to know of a rule, declared with the rule. */
export interface GradMeta<K extends OpName = OpName> {
  /**
   * The rule overwrites, instead of accumulating into, an input gradient buffer autograd
   * made for it (`fresh[i]` true), which then need not be zero-filled: `true` for an input
   * that appears once among the node's inputs (a repeated input's second gradient
   * accumulates into its first); a function decides per node, for its inputs repeated or
   * not (attention: a packed q/k/v projection, written whole). Autograd never hands a
   * leaf's buffer fresh. Absent: the rule only accumulates.
   */
  readonly overwrites?: true | ((node: GradNode<K>) => boolean);
  /**
   * Whether every input gradient of `node` equals its output gradient `g` of `n` elements
   * (reshape, same-shape add): autograd then hands `g` itself on to the inputs, without a
   * copy, and does not run the rule (which computes the same, and is its reference).
   */
  readonly passThrough?: (node: GradNode<K>, n: number) => boolean;
}

/** A gradient table entry: the rule, carrying its metadata as properties. */
export type GradRule<K extends OpName = OpName> = GradFn<K> & GradMeta<K>;

/** The rule `fn` with its metadata attached. */
function withMeta<K extends OpName>(meta: GradMeta<NoInfer<K>>, fn: GradFn<K>): GradRule<K> {
  return Object.assign(fn, meta);
}

/**
 * Whether `rule` overwrites a fresh gradient buffer of input `i` of `node` (see
 * `GradMeta.overwrites`); autograd asks only for an input without a buffer yet.
 */
export function overwritesInput(rule: GradRule, node: GradNode, i: number): boolean {
  const ow = rule.overwrites;
  if (ow === undefined) return false;
  if (ow !== true) return ow(node);
  const inp = node.inputs[i];
  return node.inputs.indexOf(inp) === node.inputs.lastIndexOf(inp);
}

/** A same-shape add: both input gradients equal the output gradient. */
function sameShapeAdd(node: GradNode<'binary'>, n: number): boolean {
  if (node.attrs.op !== 'add') return false;
  for (const inp of node.inputs) if (inp && inp.size !== n) return false;
  return true;
}

/**
 * Whether an attention node reads q, k and v from one tensor laid out exactly as a packed
 * self-attention projection (B, T, 3 H D) with q, k, v at column offsets 0, HD, 2HD: its
 * backward then writes every element of that tensor's gradient once, so autograd may hand
 * it a fresh buffer though the tensor is three of its inputs.
 */
export function packedAttention(node: GradNode): boolean {
  if (node.op !== 'attention' && node.op !== 'tiledAttention') return false;
  const [q, k, v] = node.inputs;
  const a = (node as GradNode<'attention' | 'tiledAttention'>).attrs;
  const C = a.H * a.D;
  return (
    q !== null &&
    q === k &&
    k === v &&
    a.T === a.S &&
    a.kvRows === a.S &&
    a.qOff === 0 &&
    a.kOff === C &&
    a.vOff === 2 * C &&
    a.ldq === 3 * C &&
    a.ldk === 3 * C &&
    a.ldv === 3 * C &&
    (a.BH / a.H) * a.T * 3 * C === q.size
  );
}

/** Hands a scratch buffer from uninitF32 back to the running StepArena (else nothing). */
function releaseScratch(t: Float32Array): void {
  currentArena()?.release(t);
}

function addInto(dst: Float32Array, src: Float32Array): void {
  backend().binary('add', dst, dst, src, [dst.length], [1], [1]);
}

export const gradients: { [K in OpName]: GradRule<K> } = {
  matmul({ inputs, attrs }, g, [ga, gb]) {
    const { batch, M, N, K, transA, transB, strideA, strideB } = attrs;
    const be = backend();
    const a = inputs[0]!.f32;
    const b = inputs[1]!.f32;
    // C = op(A) op(B); d op(A) = dC op(B)^T; d op(B) = op(A)^T dC.
    const gradA = (out: Float32Array, bt: number): void => {
      const gc = g.subarray(bt * M * N, (bt + 1) * M * N);
      const bb = b.subarray(bt * strideB);
      if (!transA) be.matmul(out, gc, bb, 1, M, K, N, false, !transB, 0, 0, 1);
      else be.matmul(out, bb, gc, 1, K, M, N, transB, true, 0, 0, 1);
    };
    const gradB = (out: Float32Array, bt: number): void => {
      const gc = g.subarray(bt * M * N, (bt + 1) * M * N);
      const aa = a.subarray(bt * strideA);
      if (!transB) be.matmul(out, aa, gc, 1, K, N, M, !transA, false, 0, 0, 1);
      else be.matmul(out, gc, aa, 1, N, K, M, true, transA, 0, 0, 1);
    };
    if (ga) {
      if (strideA === 0 || batch === 1) for (let bt = 0; bt < batch; bt++) gradA(ga, bt);
      else if (!transA) be.matmul(ga, g, b, batch, M, K, N, false, !transB, M * N, strideB, 1);
      else be.matmul(ga, b, g, batch, K, M, N, transB, true, strideB, M * N, 1);
    }
    if (gb) {
      if (strideB === 0 || batch === 1) for (let bt = 0; bt < batch; bt++) gradB(gb, bt);
      else if (!transB) be.matmul(gb, a, g, batch, K, N, M, !transA, false, strideA, M * N, 1);
      else be.matmul(gb, g, a, batch, N, K, M, true, transA, M * N, strideA, 1);
    }
  },

  linear: withMeta({ overwrites: true }, ({ inputs, attrs }, g, [gx, gw, gbias], fresh) => {
    const { N, inFeatures: I, outFeatures: O, rowStart: r0 } = attrs;
    const be = backend();
    const w = inputs[1]!.f32.subarray(r0 * I, (r0 + O) * I);
    const betaX = fresh[0] ? 0 : 1;
    if (gw) {
      const dw = gw.subarray(r0 * I, (r0 + O) * I);
      // A fresh buffer over a row range: the rows outside [r0, r0 + O) get their zeros.
      if (fresh[1] && dw.length !== gw.length) gw.fill(0);
      const betaW = fresh[1] && dw.length === gw.length ? 0 : 1;
      const x = inputs[0]!.f32;
      // dw += g^T x is needed only by the optimizer: queued (it runs beside dx and the rest
      // of the backward pass), and the backward pass goes on with dx = g w.
      be.matmulDeferred(dw, g, x, O, I, N, true, false, betaW);
    }
    if (gx) be.matmul(gx, g, w, 1, N, I, O, false, false, 0, 0, betaX);
    if (gbias) {
      if (fresh[2]) gbias.fill(0); // a computed (non-leaf) bias: its buffer starts arbitrary
      const tmp = new Float32Array(O);
      be.sum(tmp, g, 1, N, O);
      addInto(gbias.subarray(r0, r0 + O), tmp);
    }
    return gw ?? undefined;
  }),

  binary: withMeta({ passThrough: sameShapeAdd }, ({ inputs, attrs }, g, [ga, gb]) => {
    const { op, shape, aStrides, bStrides } = attrs;
    const be = backend();
    const dense = stridesOf(shape);
    const a = inputs[0]!.f32;
    const b = inputs[1]!.f32;
    const n = g.length;
    // Scratch the kernels overwrite whole: from the step's arena when one runs (a fresh
    // buffer is page-faulted in on every call).
    const scratch = (): Float32Array => uninitF32(n);
    // Each input's gradient is computed over the output shape, then summed to the input's
    // shape by a strided scatter-add with its (broadcast) strides.
    const reduceInto = (dst: Float32Array, full: Float32Array, strides: number[]): void =>
      be.stridedAccumulate(dst, full, shape, strides, 0);
    // ... and a scratch, once summed, goes back to the arena for the rest of the pass.
    const reduceScratch = (dst: Float32Array, t: Float32Array, strides: number[]): void => {
      reduceInto(dst, t, strides);
      releaseScratch(t);
    };
    if (ga) {
      if (op === 'add' || op === 'sub') reduceInto(ga, g, aStrides);
      else {
        const t = scratch();
        be.binary(op === 'mul' ? 'mul' : 'div', t, g, b, shape, dense, bStrides);
        reduceScratch(ga, t, aStrides);
      }
    }
    if (gb) {
      if (op === 'add') reduceInto(gb, g, bStrides);
      else if (op === 'sub') {
        const t = scratch();
        be.unary('neg', t, g, n);
        reduceScratch(gb, t, bStrides);
      } else if (op === 'mul') {
        const t = scratch();
        be.binary('mul', t, g, a, shape, dense, aStrides);
        reduceScratch(gb, t, bStrides);
      } else {
        // d(a/b)/db = -a/b^2 = -out/b
        reduceScratch(gb, divGradB(g, a, b, shape, aStrides, bStrides), bStrides);
      }
    }
  }),

  scalar({ inputs, out, attrs }, g, [gx]) {
    if (!gx) return;
    const { op, s } = attrs;
    const be = backend();
    const n = g.length;
    // The common rules as kernels (a JS loop over a long activation costs more than the op).
    if (op === 'add') return addInto(gx, g);
    if (op === 'rsub') return be.binary('sub', gx, gx, g, [n], [1], [1]);
    if (op === 'mul') {
      const t = uninitF32(n);
      be.scalar('mul', t, g, s, n);
      addInto(gx, t);
      return releaseScratch(t);
    }
    const x = inputs[0]!.f32;
    const y = out.f32;
    for (let i = 0; i < n; i++) {
      if (op === 'pow') gx[i] += g[i] * s * Math.pow(x[i], s - 1);
      else gx[i] -= (g[i] * y[i]) / x[i]; // rdiv
    }
  },

  unary: withMeta({ overwrites: true }, ({ inputs, out, attrs }, g, [gx], fresh) => {
    if (gx) backend().unaryBackward(attrs.op, gx, g, inputs[0]!.f32, out.f32, g.length, !fresh[0]);
  }),

  sum({ attrs }, g, [gx]) {
    if (!gx) return;
    const { outer, dim, inner } = attrs;
    backend().binary('add', gx, gx, g, [outer, dim, inner], [dim * inner, inner, 1], [inner, 0, 1]);
  },

  max({ attrs }, g, [gx]) {
    if (!gx) return;
    const { outer, dim, inner, argmax } = attrs;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++)
        gx[(o * dim + argmax[o * inner + i]) * inner + i] += g[o * inner + i];
    }
  },

  reshape: withMeta({ passThrough: () => true }, (_node, g, [gx]) => {
    if (gx) addInto(gx, g);
  }),

  gather({ attrs }, g, [gx]) {
    if (gx) backend().stridedAccumulate(gx, g, attrs.shape, attrs.strides, attrs.offset);
  },

  concat({ attrs }, g, gi) {
    const { axis, sizes, outShape } = attrs;
    const st = stridesOf(outShape);
    let off = 0;
    gi.forEach((gp, i) => {
      if (gp) {
        const shape = [...outShape];
        shape[axis] = sizes[i];
        const t = uninitF32(gp.length);
        backend().stridedCopy(t, g, shape, st, off * st[axis]);
        addInto(gp, t);
        releaseScratch(t);
      }
      off += sizes[i];
    });
  },

  softmax({ out, attrs }, g, [gx]) {
    if (gx) backend().softmaxBackward(gx, g, out.f32, attrs.rows, attrs.cols);
  },

  expShift({ out, attrs }, g, [gx, gs]) {
    const { rows, cols, scale, eps } = attrs;
    if (gx || gs) backend().expShiftBackward(gx, gs, g, out.f32, rows, cols, scale, eps);
  },

  logSoftmax({ out, attrs }, g, [gx]) {
    if (gx) backend().logSoftmaxBackward(gx, g, out.f32, attrs.rows, attrs.cols);
  },

  layerNorm: withMeta({ overwrites: true }, ({ inputs, attrs }, g, [gx, gw, gb], fresh) => {
    const { N, C, mean, rstd } = attrs;
    const x = inputs[0]!.f32;
    const w = inputs[1] ? inputs[1].f32 : null;
    // Without gx, dx is scratch (the kernel computes dweight/dbias alongside).
    const dx = gx ?? new Float32Array(N * C);
    const overwrite = gx ? fresh[0] : true;
    if (gw && fresh[1]) gw.fill(0);
    if (gb && fresh[2]) gb.fill(0);
    backend().layerNormBackward(dx, gw, gb, g, x, w, mean, rstd, N, C, !overwrite);
  }),

  embedding({ attrs }, g, [gw]) {
    if (gw) backend().embeddingBackward(gw, g, attrs.ids, attrs.N, attrs.C);
  },

  maskedFill({ attrs }, g, [gx]) {
    if (!gx) return;
    const { mask, shape, maskStrides } = attrs;
    const rank = shape.length;
    const idx = new Array<number>(rank).fill(0);
    let off = 0;
    for (let i = 0; i < g.length; i++) {
      if (!mask[off]) gx[i] += g[i];
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]++;
        off += maskStrides[d];
        if (idx[d] < shape[d]) break;
        off -= maskStrides[d] * shape[d];
        idx[d] = 0;
      }
    }
  },

  rnnCell({ inputs, attrs }, g, [dgi, dgh, dprev]) {
    const { B, H, lstm, saved } = attrs;
    backend().rnnCellBackward(dgi, dgh, dprev, g, saved, inputs[2]!.f32, B, H, lstm);
  },

  crossEntropy: withMeta({ overwrites: true }, ({ inputs, attrs }, g, [gl], fresh) => {
    if (!gl) return;
    const { targets, lse, N, V, ignoreIndex, labelSmoothing } = attrs;
    backend().crossEntropyBackward(
      gl,
      g,
      inputs[0]!.f32,
      lse,
      targets,
      N,
      V,
      ignoreIndex,
      labelSmoothing,
      !fresh[0],
    );
  }),

  attention: withMeta({ overwrites: packedAttention }, (node, g, grads, fresh) => {
    const { weights, dropMask } = node.attrs;
    const [dq, dk, dv, q, k, v, acc] = attentionBuffers(node, grads, fresh);
    // node.attrs: the AttentionGeometry saved by the forward
    backend().attentionBackward(dq, dk, dv, g, q, k, v, weights, dropMask, node.attrs, acc);
  }),
  tiledAttention: withMeta({ overwrites: packedAttention }, (node, g, grads, fresh) => {
    const { lse, mask, dropout } = node.attrs;
    const [dq, dk, dv, q, k, v, acc] = attentionBuffers(node, grads, fresh);
    const out = node.out.f32;
    const be = backend();
    // A learned relative bias (input 3, (T + S - 1, H)): its diagonals' gradient per slice
    // from the kernel, summed over the batch.
    const gt = grads[3] ?? null;
    const dmask = gt && mask ? new Float32Array(mask.length) : null;
    const a = node.attrs;
    be.flashAttentionBackward(
      dq,
      dk,
      dv,
      g,
      q,
      k,
      v,
      out,
      lse,
      mask,
      dropout,
      a,
      acc,
      dmask,
      a.kvLen,
    );
    if (gt && dmask) {
      // Slice b holds head b % Ht of the table ((n, Ht): the bias's heads, which is the
      // layout's H only when the heads are read in place; relativeMask checks the slices).
      const [n, Ht] = [a.T + a.S - 1, node.inputs[3]!.shape[1]];
      if (fresh[3]) gt.fill(0);
      for (let b = 0; b < a.BH; b++)
        for (let i = 0; i < n; i++) gt[i * Ht + (b % Ht)] += dmask[b * a.maskStrideB! + i];
    }
  }),
  gatheredAttention({ inputs, out, attrs }, g, [gq, gk, gv]) {
    const [q, k, v] = inputs.map((t) => t!.f32);
    const { qRow, kRow, slot, bias, dropMask, slotOut, slotLse } = attrs;
    // Accumulates (scratch for a gradient not needed).
    backend().gatheredAttentionBackward(
      gq ?? new Float32Array(q.length),
      gk ?? new Float32Array(k.length),
      gv ?? new Float32Array(v.length),
      g,
      out.f32,
      slotOut,
      slotLse,
      q,
      k,
      v,
      qRow,
      kRow,
      slot,
      bias,
      dropMask,
      attrs, // the GatheredGeometry saved by the forward
    );
  },

  sparseAttentionParts({ inputs, out, attrs }, g, grads) {
    sparsePartsBackward(
      attrs,
      inputs.map((t) => t!.f32),
      out.f32,
      g,
      grads,
    );
  },

  sparseAttention({ inputs, out, attrs }, g, [gq, gk, gv]) {
    const { qOff, kOff, vOff, BH, T, H, D } = attrs;
    const [q, k, v] = inputs.map((t) => t!.f32);
    // Delta = dout . out per row and head (FlashAttention-2's D, equal to the row's
    // sum(dP P)): (B*H*T, D) products instead of the kernel's sum over each row's keys.
    // Every layout F.sparseAttention makes has its out rows H*D wide (H 1 for (B, H, T, D)).
    const delta = attrs.ldo === H * D ? uninitF32(BH * T) : null;
    if (delta) backend().headRowsDot(delta, g, out.f32, BH / H, T, H, D);
    // Accumulates in the inputs' own layout, at the same offsets (scratch when not needed).
    backend().sparseAttentionBackward(
      (gq ?? new Float32Array(q.length)).subarray(qOff),
      (gk ?? new Float32Array(k.length)).subarray(kOff),
      (gv ?? new Float32Array(v.length)).subarray(vOff),
      g,
      q.subarray(qOff),
      k.subarray(kOff),
      v.subarray(vOff),
      attrs.rowPtr,
      attrs.cols,
      attrs.weights,
      attrs.dropMask,
      attrs, // the AttentionGeometry saved by the forward
      delta,
    );
  },
};

/**
 * An attention node's gradient buffers dq, dk, dv and inputs q, k, v, each at its head
 * offset, in the inputs' own layout (scratch for a gradient not needed), and whether the
 * backward accumulates (false: a fresh packed (B, T, 3C) projection, written whole by the
 * kernel, needs no zero fill).
 */
function attentionBuffers(
  node: GradNode<'attention' | 'tiledAttention'>,
  [gq, gk, gv]: (Float32Array | null)[],
  fresh: readonly boolean[],
): [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, boolean] {
  const { qOff, kOff, vOff } = node.attrs;
  const [q, k, v] = node.inputs.map((t) => t!.f32);
  return [
    (gq ?? new Float32Array(q.length)).subarray(qOff),
    (gk ?? new Float32Array(k.length)).subarray(kOff),
    (gv ?? new Float32Array(v.length)).subarray(vOff),
    q.subarray(qOff),
    k.subarray(kOff),
    v.subarray(vOff),
    !(fresh[0] && packedAttention(node)),
  ];
}

/** -g * a / b^2 over the broadcast shape (gradient of a / b w.r.t. b before reduction). */
function divGradB(
  g: Float32Array,
  a: Float32Array,
  b: Float32Array,
  shape: number[],
  aStrides: number[],
  bStrides: number[],
): Float32Array {
  const be = backend();
  const dense = stridesOf(shape);
  const n = g.length;
  const t = uninitF32(n);
  be.binary('mul', t, g, a, shape, dense, aStrides); // g * a
  be.binary('div', t, t, b, shape, dense, bStrides); // g * a / b
  be.binary('div', t, t, b, shape, dense, bStrides); // g * a / b^2
  be.unary('neg', t, t, n);
  return t;
}
