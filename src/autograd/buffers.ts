/**
 * The gradient buffers of one backward pass: which buffer holds each tensor's gradient and
 * whether its entry may write into it (owned or shared), where buffers come from (the
 * running StepArena, a pool of recycled buffers, or new), and the deferred kernels
 * (backend.matmulDeferred) still reading or writing them. autograd.ts `backward` walks the
 * tape and asks this class for buffers; the rules of ops/gradients.ts fill them. Buffer
 * policy lives here and nowhere else (tinygrad keeps it out of `gradient.py` likewise).
 *
 * A buffer is `owned` when only its entry refers to it; a pass-through op (reshape,
 * same-shape add) hands its own gradient buffer on unowned, without a copy. `shared` counts
 * the entries referring to each such buffer: the last one left takes the buffer over, the
 * others copy it before accumulating into it.
 *
 * Deferred kernels (a linear rule's dweight GEMM) run on the pool's worker while the pass
 * goes on. `writing` holds the gradient buffers they still write, `reading` the output
 * gradients they still read (recycled only after, from `held`). Before a buffer is read or
 * written while a queued kernel writes it, the queue is drained; a buffer one is reading is
 * copied before it is written. Leaves whose gradient is still being written are finished
 * after the final drain.
 */
import { currentArena } from '../arena.js';
import { backend, type Backend } from '../backend/index.js';
import { Tensor, uninitF32 } from '../tensor.js';

/** A gradient buffer and whether its entry may write into it. */
export interface Slot {
  buf: Float32Array;
  owned: boolean;
}

// Recycled gradient buffers, by length. A backward pass allocates as many gradient buffers
// as the forward made activations; fresh typed arrays are calloc'ed and reported to V8 as
// external memory, which triggers garbage collections ("external memory pressure") every
// few steps. Reusing the buffers of consumed gradients, within a pass and across passes,
// avoids most of that. Only buffers no tensor or slot refers to are recycled.
const POOL_MAX_BYTES = 64 << 20;
const POOL_MIN_LENGTH = 1024;
/**
 * Parameter gradients handed back by zeroGrad (releaseGrad) are pooled up to this many bytes
 * (all of a GPT-2-small's 500 MB): the next backward takes each parameter's buffer back
 * instead of page-faulting a fresh one in (~50,000 faults a step on that model, ~13 us each
 * on this project's VM).
 */
const RELEASED_MAX_BYTES = 2 ** 32;

/** Whole gradient buffers kept by length for reuse, up to a byte budget. */
class BufferPool {
  private readonly byLength = new Map<number, Float32Array[]>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Keeps `b` if it is a whole buffer of at least POOL_MIN_LENGTH within the budget. */
  put(b: Float32Array): void {
    const n = b.length;
    if (n < POOL_MIN_LENGTH || this.bytes + 4 * n > this.maxBytes) return;
    // Only whole buffers: a view may share its ArrayBuffer with live data.
    if (b.byteOffset !== 0 || b.buffer.byteLength !== 4 * n) return;
    let list = this.byLength.get(n);
    if (!list) this.byLength.set(n, (list = []));
    list.push(b);
    this.bytes += 4 * n;
  }

  /** A kept buffer of n elements (arbitrary contents), if any. */
  take(n: number): Float32Array | undefined {
    const b = this.byLength.get(n)?.pop();
    if (b) this.bytes -= 4 * n;
    return b;
  }

  clear(): void {
    this.byLength.clear();
    this.bytes = 0;
  }
}

/** The gradient buffers of one backward pass (see the module comment). */
export class GradBuffers {
  /** Recycled buffers, shared by all passes (outside StepArena steps). */
  private static readonly pool = new BufferPool(POOL_MAX_BYTES);
  /** Parameter gradients handed back by zeroGrad, for the next pass's leaves. */
  private static readonly released = new BufferPool(RELEASED_MAX_BYTES);

  private readonly slots = new Map<Tensor, Slot>();
  private readonly shared = new Map<Float32Array, number>();
  private readonly writing = new Set<Float32Array>();
  private readonly reading = new Set<Float32Array>();
  private readonly held: Float32Array[] = [];
  private readonly lateLeaves: [Tensor, Slot][] = [];
  private readonly be: Backend = backend();

  /**
   * Clears `t.grad`, handing its buffer to the pool the next backward pass takes gradient
   * buffers from (the optimizers' and modules' zeroGrad, PyTorch's set_to_none). A reference
   * kept to the old gradient tensor sees its data overwritten by a later backward pass.
   */
  static releaseGrad(t: Tensor): void {
    const b = t.grad?.f32;
    t.grad = null;
    if (b) GradBuffers.released.put(b);
  }

  /**
   * Drops the released gradients the last backward pass did not take (called when a pass
   * ends): a zeroGrad not followed by a backward, or a model set aside, holds no memory.
   */
  static dropReleased(): void {
    GradBuffers.released.clear();
  }

  /**
   * @param root the tensor backward starts from.
   * @param seed its gradient (root.size elements), owned by the pass from now on.
   */
  constructor(root: Tensor, seed: Float32Array) {
    this.slots.set(root, { buf: seed, owned: true });
  }

  /** Whether `t` has received a gradient in this pass. */
  has(t: Tensor): boolean {
    return this.slots.has(t);
  }

  /**
   * The gradient of leaf `t` goes into `t.grad` (accumulated into an existing one): now, or
   * after the final drain (`finishLateLeaves`) if a queued kernel still writes it.
   */
  leaf(t: Tensor): void {
    const slot = this.slots.get(t)!;
    if (this.writing.has(slot.buf)) this.lateLeaves.push([t, slot]);
    else this.finishLeaf(t, slot);
  }

  /**
   * The output gradient of recorded tensor `t`, ready to read (a queued kernel writing it
   * is drained first); its entry leaves the table. Give it back with `consumed` or
   * `passThrough`.
   */
  output(t: Tensor): Slot {
    const slot = this.slots.get(t)!;
    if (this.writing.size > 0 && this.writing.has(slot.buf)) this.drain();
    this.slots.delete(t);
    return slot;
  }

  /** Hands the output gradient `out` on, as it is, to every input that requires grad. */
  passThrough(out: Slot, inputs: readonly (Tensor | null)[]): void {
    this.release(out);
    for (const inp of inputs) if (inp && inp.requiresGrad) this.pass(inp, out.buf);
  }

  /**
   * Gradient buffers for a node's inputs, to be written by its rule: null for an input that
   * needs no gradient; the input's own (owned, so writable) buffer if it has one; else a new
   * buffer, left unzeroed and marked `fresh` when `overwrites(i)` says the rule overwrites it
   * (never for a leaf, whose buffer is also never the arena's: a leaf's .grad outlives the
   * step).
   */
  inputGrads(
    inputs: readonly (Tensor | null)[],
    overwrites: (i: number) => boolean,
  ): [(Float32Array | null)[], boolean[]] {
    const gi: (Float32Array | null)[] = new Array(inputs.length);
    const fresh: boolean[] = new Array(inputs.length).fill(false);
    for (let i = 0; i < inputs.length; i++) {
      const inp = inputs[i];
      if (!inp || !inp.requiresGrad) {
        gi[i] = null;
        continue;
      }
      let s = this.slots.get(inp);
      if (!s) {
        const leaf = inp.node === null;
        const skipZero = !leaf && overwrites(i);
        s = { buf: this.takeGrad(inp.size, leaf, !skipZero), owned: true };
        fresh[i] = skipZero;
        this.slots.set(inp, s);
      } else this.own(s);
      gi[i] = s.buf;
    }
    return [gi, fresh];
  }

  /**
   * The rule has run on output gradient `out`: recycle its buffer if nothing else refers to
   * it, once no deferred kernel reads it. `deferredInto` is the buffer the rule's queued
   * kernel still writes (its return value), null if none.
   */
  consumed(out: Slot, deferredInto: Float32Array | null): void {
    const g = out.buf;
    if (deferredInto) {
      this.writing.add(deferredInto);
      this.reading.add(g);
    }
    if (out.owned) {
      if (deferredInto) this.held.push(g);
      else this.recycle(g);
    } else this.release(out);
  }

  /** Waits for the queued kernels; then their buffers are free to read, write and recycle. */
  drain(): void {
    this.be.drain();
    this.writing.clear();
    this.reading.clear();
    for (const h of this.held) this.recycle(h);
    this.held.length = 0;
  }

  /** Finishes the leaves whose gradient a queued kernel was writing (call after `drain`). */
  finishLateLeaves(): void {
    for (const [t, slot] of this.lateLeaves) this.finishLeaf(t, slot);
  }

  /** Drops an unowned entry's reference to its shared buffer. */
  private release(s: Slot): void {
    if (s.owned) return;
    const r = (this.shared.get(s.buf) ?? 1) - 1;
    if (r <= 0) this.shared.delete(s.buf);
    else this.shared.set(s.buf, r);
  }

  // Before a slot's buffer is written: a buffer a queued kernel writes is drained first; a
  // shared buffer is copied unless this is its last entry (which takes it over), and so is
  // one a queued kernel reads (copying is a read too, so it need not wait: the residual
  // stream's gradient, read by the queued dweight of the block's output projection).
  private own(s: Slot): void {
    if (this.writing.size > 0 && this.writing.has(s.buf)) this.drain();
    let copy = this.reading.size > 0 && this.reading.has(s.buf);
    if (s.owned && !copy) return;
    if (!s.owned) {
      const r = this.shared.get(s.buf) ?? 1;
      if (r > 1) this.shared.set(s.buf, r - 1);
      else this.shared.delete(s.buf);
      copy ||= r > 1;
    }
    if (copy) {
      const c = this.takeGrad(s.buf.length, false, false);
      c.set(s.buf);
      s.buf = c;
    }
    s.owned = true;
  }

  /** `inp` receives gradient `g` of a pass-through op: shared if it has none yet, else added. */
  private pass(inp: Tensor, g: Float32Array): void {
    const slot = this.slots.get(inp);
    if (!slot) {
      this.slots.set(inp, { buf: g, owned: false });
      this.shared.set(g, (this.shared.get(g) ?? 0) + 1);
    } else {
      this.own(slot);
      this.be.binary('add', slot.buf, slot.buf, g, [g.length], [1], [1]);
    }
  }

  /** Leaf: accumulate into .grad (taking the buffer over when nothing else refers to it). */
  private finishLeaf(t: Tensor, slot: Slot): void {
    if (t.grad) {
      const g = slot.buf;
      const d = t.grad.f32;
      this.be.binary('add', d, d, g, [d.length], [1], [1]);
      // Its own buffer, read by no queued kernel: back to the pool for the next step's
      // gradient of this leaf (else a fresh buffer is page-faulted in every step).
      if (slot.owned && !this.reading.has(g)) this.recycle(g);
    } else {
      this.own(slot);
      // A leaf's .grad outlives the step: never on a StepArena's storage.
      const arena = currentArena();
      const buf = arena !== null && arena.owns(slot.buf) ? slot.buf.slice() : slot.buf;
      t.grad = new Tensor(buf, t.shape);
    }
  }

  /**
   * A gradient buffer of n elements, zero-filled when `zero` (else arbitrary, for rules that
   * overwrite it): from the running StepArena unless it is a leaf's (a leaf's .grad outlives
   * the step), else a recycled buffer, else a new one.
   */
  private takeGrad(n: number, leaf: boolean, zero: boolean): Float32Array {
    const arena = currentArena();
    let b: Float32Array | undefined;
    if (arena !== null && !leaf) b = arena.alloc(n);
    else {
      b = (leaf ? GradBuffers.released.take(n) : undefined) ?? GradBuffers.pool.take(n);
      if (!b) return zero ? new Float32Array(n) : uninitF32(n);
    }
    return zero ? b.fill(0) : b;
  }

  /** Hands a consumed buffer back: to the running StepArena if it is its, else to the pool. */
  private recycle(b: Float32Array): void {
    const arena = currentArena();
    if (arena !== null && arena.owns(b)) {
      arena.release(b);
      return;
    }
    GradBuffers.pool.put(b);
  }
}
