/**
 * Reverse-mode automatic differentiation: a tape of `GradNode`s and one gradient table
 * keyed by op name (`gradients` in ops/gradients.ts, an exhaustive mapped type over
 * `OpName`, so an op without a gradient is a compile error).
 *
 * Gradient buffers follow the kernels' convention: the gradient function of an op
 * ACCUMULATES (+=) into the zero-initialised gradient buffers of its inputs.
 */
import { backend } from './backend/index.js';
import { gradients, overwritesFreshGrads, packedAttention, type GradFn } from './ops/gradients.js';
import type { OpName, OpAttrs } from './ops/spec.js';
import { Tensor, currentArena, fmtShape, uninitF32 } from './tensor.js';

/** One recorded op: its name, inputs, output and the attributes its gradient needs. */
export interface GradNode<K extends OpName = OpName> {
  readonly op: K;
  readonly inputs: readonly (Tensor | null)[];
  readonly out: Tensor;
  readonly attrs: OpAttrs[K];
}

let gradEnabled = true;

/** Whether ops are currently recorded for backward. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Run `fn` without recording ops (inference), like `torch.no_grad()`.
 * Restores the previous mode even if `fn` throws.
 */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Record `out` as produced by op `op` from `inputs` when grad mode is on and any input
 * requires grad. Returns `out`.
 */
export function record<K extends OpName>(
  op: K,
  inputs: readonly (Tensor | null)[],
  out: Tensor,
  attrs: OpAttrs[K],
): Tensor {
  if (!gradEnabled) return out;
  let any = false;
  for (const t of inputs) if (t && t.requiresGrad) any = true;
  if (!any) return out;
  out.requiresGrad = true;
  out.node = { op, inputs, out, attrs } as GradNode;
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS (deep models would overflow a recursive one).
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c && c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/**
 * Backpropagate from `root`. Called by `Tensor.backward()`.
 * @param grad gradient of the objective w.r.t. `root` (same shape); 1 if omitted and
 *   `root` has one element.
 * @throws Error if `root` does not require grad, or is not scalar and no grad is given.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error(
      'backward(): tensor does not require grad (was it computed under noGrad, or from inputs that do not require grad?)',
    );
  }
  let g0: Float32Array;
  if (grad) {
    if (grad.size !== root.size) {
      throw new Error(
        `backward(): grad shape ${fmtShape(grad.shape)} does not match tensor shape ${fmtShape(root.shape)}`,
      );
    }
    g0 = Float32Array.from(grad.data);
  } else {
    if (root.size !== 1) {
      throw new Error(
        `backward(): grad can be implicitly created only for scalar outputs, got shape ${fmtShape(root.shape)}`,
      );
    }
    g0 = new Float32Array([1]);
  }
  // Gradient buffers by tensor. A buffer is `owned` when only this entry refers to it; a
  // pass-through op (reshape, same-shape add) hands its own gradient buffer on unowned,
  // without a copy. `shared` counts the entries referring to each such buffer: the last
  // one left takes the buffer over, the others copy it before accumulating into it.
  const grads = new Map<Tensor, Slot>([[root, { buf: g0, owned: true }]]);
  const shared = new Map<Float32Array, number>();
  const release = (s: Slot): void => {
    if (s.owned) return;
    const r = (shared.get(s.buf) ?? 1) - 1;
    if (r <= 0) shared.delete(s.buf);
    else shared.set(s.buf, r);
  };
  const be = backend();
  // Deferred kernels (a linear rule's dweight GEMM, backend.matmulDeferred) run on the
  // pool's worker while the pass goes on. `writing` holds the gradient buffers they still
  // write, `reading` the output gradients they still read (recycled only after, from
  // `held`). Before a buffer is read or written while a queued kernel writes it, drain()
  // waits for the queue; own() copies one that is being read. Leaves whose gradient is
  // still being written are finished after the final drain.
  const writing = new Set<Float32Array>();
  const reading = new Set<Float32Array>();
  const held: Float32Array[] = [];
  const drain = (): void => {
    be.drain();
    writing.clear();
    reading.clear();
    for (const h of held) recycle(h);
    held.length = 0;
  };
  const beforeRead = (buf: Float32Array): void => {
    if (writing.size > 0 && writing.has(buf)) drain();
  };
  // Before a slot's buffer is written: a buffer a queued kernel writes is drained first; a
  // shared buffer is copied unless this is its last entry (which takes it over), and so is
  // one a queued kernel reads (copying is a read too, so it need not wait: the residual
  // stream's gradient, read by the queued dweight of the block's output projection).
  const own = (s: Slot): void => {
    if (writing.size > 0 && writing.has(s.buf)) drain();
    let copy = reading.size > 0 && reading.has(s.buf);
    if (s.owned && !copy) return;
    if (!s.owned) {
      const r = shared.get(s.buf) ?? 1;
      if (r > 1) shared.set(s.buf, r - 1);
      else shared.delete(s.buf);
      copy ||= r > 1;
    }
    if (copy) {
      const c = takeGrad(s.buf.length, false, false);
      c.set(s.buf);
      s.buf = c;
    }
    s.owned = true;
  };
  const pass = (inp: Tensor, g: Float32Array): void => {
    const slot = grads.get(inp);
    if (!slot) {
      grads.set(inp, { buf: g, owned: false });
      shared.set(g, (shared.get(g) ?? 0) + 1);
    } else {
      own(slot);
      be.binary('add', slot.buf, slot.buf, g, [g.length], [1], [1]);
    }
  };
  // Leaf: accumulate into .grad (taking the buffer over when nothing else refers to it).
  const finishLeaf = (t: Tensor, slot: Slot): void => {
    if (t.grad) {
      const g = slot.buf;
      const d = t.grad.f32;
      for (let i = 0; i < d.length; i++) d[i] += g[i];
    } else {
      own(slot);
      // A leaf's .grad outlives the step: never on a StepArena's storage.
      const arena = currentArena();
      const buf = arena !== null && arena.owns(slot.buf) ? slot.buf.slice() : slot.buf;
      t.grad = new Tensor(buf, t.shape);
    }
  };
  const lateLeaves: [Tensor, Slot][] = [];
  try {
    runPass();
  } finally {
    drain(); // always: a queued kernel must not outlive the buffers it uses
  }
  for (const [t, slot] of lateLeaves) finishLeaf(t, slot);

  function runPass(): void {
    for (const t of topoOrder(root)) {
      const slot = grads.get(t);
      if (!slot) continue;
      const node = t.node;
      if (!node) {
        if (writing.has(slot.buf)) lateLeaves.push([t, slot]);
        else finishLeaf(t, slot);
        continue;
      }
      const g = slot.buf;
      beforeRead(g); // a computed weight's gradient may still be being written
      grads.delete(t);
      const inputs = node.inputs;
      if (isPassThrough(node, g.length)) {
        release(slot);
        for (const inp of inputs) if (inp && inp.requiresGrad) pass(inp, g);
        continue;
      }
      const inGrads: (Float32Array | null)[] = new Array(inputs.length);
      const fresh: boolean[] = new Array(inputs.length).fill(false);
      const overwrites = overwritesFreshGrads.has(node.op);
      for (let i = 0; i < inputs.length; i++) {
        const inp = inputs[i];
        if (!inp || !inp.requiresGrad) {
          inGrads[i] = null;
          continue;
        }
        let s = grads.get(inp);
        if (!s) {
          // The rule overwrites a buffer made for it (no zero fill), unless the same tensor
          // is another input of this node too (its second gradient then accumulates).
          const leaf = inp.node === null;
          // Attention overwrites only a packed q/k/v projection (written whole).
          const unique = inputs.indexOf(inp) === inputs.lastIndexOf(inp);
          const skipZero =
            overwrites && !leaf && (node.op === 'attention' ? packedAttention(node) : unique);
          s = { buf: takeGrad(inp.size, leaf, !skipZero), owned: true };
          fresh[i] = skipZero;
          grads.set(inp, s);
        } else own(s);
        inGrads[i] = s.buf;
      }
      const fn = gradients[node.op] as GradFn;
      const deferredInto = fn(node, g, inGrads, fresh);
      if (deferredInto) {
        writing.add(deferredInto);
        reading.add(g);
      }
      // The node's gradient is consumed: recycle its buffer if nothing else refers to it
      // (once no deferred kernel reads it).
      if (slot.owned) {
        if (deferredInto) held.push(g);
        else recycle(g);
      } else release(slot);
    }
  }
}

/** A gradient buffer and whether its entry may write into it. */
interface Slot {
  buf: Float32Array;
  owned: boolean;
}

/** Ops whose input gradients all equal the output gradient: reshape, and add of same-shape inputs. */
function isPassThrough(node: GradNode, n: number): boolean {
  if (node.op === 'reshape') return true;
  if (node.op !== 'binary') return false;
  const attrs = (node as GradNode<'binary'>).attrs;
  if (attrs.op !== 'add') return false;
  for (const inp of node.inputs) if (inp && inp.size !== n) return false;
  return true;
}

// Recycled gradient buffers, by length. A backward pass allocates as many gradient buffers
// as the forward made activations; fresh typed arrays are calloc'ed and reported to V8 as
// external memory, which triggers garbage collections ("external memory pressure") every
// few steps. Reusing the buffers of consumed gradients, within a pass and across passes,
// avoids most of that. Only buffers no tensor or slot refers to are recycled.
const POOL_MAX_BYTES = 64 << 20;
const POOL_MIN_LENGTH = 1024;
const pool = new Map<number, Float32Array[]>();
let poolBytes = 0;

/**
 * A gradient buffer of n elements, zero-filled when `zero` (else arbitrary, for rules that
 * overwrite it): from the running StepArena unless it is a leaf's (a leaf's .grad outlives
 * the step), else a recycled buffer, else a new one.
 */
function takeGrad(n: number, leaf: boolean, zero: boolean): Float32Array {
  const arena = currentArena();
  let b: Float32Array | undefined;
  if (arena !== null && !leaf) b = arena.alloc(n);
  else {
    b = pool.get(n)?.pop();
    if (b) poolBytes -= 4 * n;
    else return zero ? new Float32Array(n) : uninitF32(n);
  }
  return zero ? b.fill(0) : b;
}

function recycle(b: Float32Array): void {
  const arena = currentArena();
  if (arena !== null && arena.owns(b)) {
    arena.release(b);
    return;
  }
  const n = b.length;
  if (n < POOL_MIN_LENGTH || poolBytes + 4 * n > POOL_MAX_BYTES) return;
  // Only whole buffers: a view may share its ArrayBuffer with live data.
  if (b.byteOffset !== 0 || b.buffer.byteLength !== 4 * n) return;
  let list = pool.get(n);
  if (!list) pool.set(n, (list = []));
  list.push(b);
  poolBytes += 4 * n;
}
