/**
 * StepArena: the float32 storage of one training step reused in the next. Imported by
 * tensor.ts (which re-exports `StepArena` and `currentArena`); it imports nothing of the
 * tensor module, so the two do not form an import cycle.
 */
import { Buffer } from 'node:buffer';

/** The storages a tensor may hold (tensor.ts `Storage`). */
type ArenaStorage = Float32Array | Int32Array | Uint8Array;

/** What the arena releases when a step ends: an object holding storage (a Tensor). */
export interface ArenaTenant {
  readonly data: ArenaStorage;
}

/** The storage of tensors a StepArena released: reading it through the accessors throws. */
export const RELEASED = new Float32Array(0);

/**
 * Below this many elements the arena hands out plain on-heap arrays (V8 allocates those
 * cheaply; pooling them gains nothing). They are tracked and released like pooled
 * storage all the same: the rule for a tensor kept past a step does not depend on its size.
 */
const POOL_MIN = 1024;

/** How many larger capacity classes `StepArena.alloc` may borrow from (8: one doubling). */
const BORROW_CLASSES = 8;

let activeArena: StepArena | null = null;

/** The arena whose step is running, if any (autograd takes gradient buffers from it). */
export function currentArena(): StepArena | null {
  return activeArena;
}

/** Capacity class of n elements: n rounded up to 8 steps per power of two (<= 12.5% waste). */
function capacityOf(n: number): number {
  if (n <= 8) return n;
  const step = 2 ** Math.max(0, Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

/**
 * Reuses the float32 storage of one training step in the next, instead of leaving every
 * activation and gradient to the garbage collector: fresh buffers are allocated (and page
 * faulted) for each op and reported to V8 as external memory, which triggers a major GC
 * every couple of steps. Inside `run(fn)`, op outputs (`empty`, `uninitF32`) and autograd's
 * gradient buffers come from the arena; when `fn` returns, every tensor whose storage came
 * from the arena is RELEASED, whatever its size: its storage goes back to the arena and
 * reading the tensor (`f32`, `item`, `toArray`, `tolist`) throws. So `fn` should return
 * plain numbers (`loss.item()`), and anything kept past the step must be copied inside it
 * (`t.clone()`). Storage from `zeros`, `tensor`, `clone` or the caller's own arrays is never
 * the arena's (ops whose outputs start from `zeros`, such as `sum`, survive the step);
 * parameters, their `.grad` and optimizer state never live in the arena.
 *
 * Storage is bucketed by capacity (8 classes per power of two), so steps whose shapes vary
 * (translation batches) still reuse buffers; when the arena holds more than `maxBytes`
 * (default: twice the most storage a step has had in use at once), free buffers of the
 * least recently used classes are dropped. Requests under 1,024 elements get on-heap
 * arrays that are not pooled but are released the same way.
 *
 * Source: the per-step allocation pattern of PyTorch's caching allocator and of
 * TensorFlow.js's `tf.tidy` scopes, for a garbage-collected host.
 */
export class StepArena {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly inUse = new Map<Float32Array, number>();
  private readonly owned = new WeakSet<ArrayBufferLike>();
  /** This step's small (unpooled, on-heap) arrays, by identity. */
  private readonly small = new Set<ArenaStorage>();
  private tracked: ArenaTenant[] = [];
  private heldBytes = 0;
  private inUseBytes = 0;
  private peakInUse = 0;
  private steps = 0;
  /** Step in which each capacity class was last handed out (for eviction). */
  private readonly lastUsed = new Map<number, number>();
  /** Allocations served from storage of an earlier allocation (reuse works when > 0). */
  reused = 0;

  /** @param maxBytes cap on the bytes held between steps (default: 2x the most a step had in use). */
  constructor(private readonly maxBytes?: number) {}

  /** Bytes of storage the arena holds (in use or free; small unpooled arrays not counted). */
  get bytes(): number {
    return this.heldBytes;
  }

  /**
   * `n` float32 elements for the running step: arbitrary contents from 1,024 elements on,
   * zeros below (a new on-heap array, not pooled, but owned and released like the rest).
   */
  alloc(n: number): Float32Array {
    if (n < POOL_MIN) {
      const v = new Float32Array(n); // small: V8's on-heap arrays are cheaper
      this.small.add(v);
      return v;
    }
    let cap = capacityOf(n);
    let ab = this.free.get(cap)?.pop();
    // None free in its class: a free buffer of one of the next BORROW_CLASSES classes (at
    // most ~2x the size) serves as well, so that batches of varying shapes share storage.
    for (let k = 0, c = cap; ab === undefined && k < BORROW_CLASSES; k++) {
      c = capacityOf(c + 1);
      ab = this.free.get(c)?.pop();
      if (ab) cap = c;
    }
    this.lastUsed.set(cap, this.steps);
    if (ab) this.reused++;
    else {
      const b = Buffer.allocUnsafeSlow(4 * cap);
      ab = b.buffer as ArrayBuffer;
      this.owned.add(ab);
      this.heldBytes += 4 * cap;
    }
    const view = new Float32Array(ab, 0, n);
    this.inUse.set(view, cap);
    this.inUseBytes += 4 * cap;
    if (this.inUseBytes > this.peakInUse) this.peakInUse = this.inUseBytes;
    return view;
  }

  /** Whether `data` is storage this arena handed out (in the running step, for small arrays). */
  owns(data: ArenaStorage): boolean {
    // Small arrays by identity: reading .buffer of a small (on-heap) typed array would make
    // V8 move it off the heap.
    if (data.length < POOL_MIN) return this.small.size > 0 && this.small.has(data);
    return this.owned.has(data.buffer);
  }

  /**
   * Hands a buffer from `alloc` back before the step ends (autograd: a consumed gradient).
   * Small arrays are left to the garbage collector.
   */
  release(view: Float32Array): void {
    const cap = this.inUse.get(view);
    if (cap === undefined) return;
    this.inUse.delete(view);
    this.inUseBytes -= 4 * cap;
    this.pushFree(cap, view.buffer as ArrayBuffer);
  }

  /** Called by the Tensor constructor for tensors on arena storage. */
  track(t: ArenaTenant): void {
    this.tracked.push(t);
  }

  /**
   * Runs one step with this arena active, then releases every tensor on arena storage.
   * @throws Error if another arena step is running (steps do not nest); rethrows fn's error
   *   (the step's tensors are released all the same).
   */
  run<T>(fn: () => T): T {
    if (activeArena !== null) throw new Error('StepArena.run: an arena step is already running');
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the module's current arena
    activeArena = this;
    try {
      return fn();
    } finally {
      activeArena = null;
      this.reset();
    }
  }

  private pushFree(cap: number, ab: ArrayBuffer): void {
    let list = this.free.get(cap);
    if (!list) this.free.set(cap, (list = []));
    list.push(ab);
  }

  private reset(): void {
    for (const t of this.tracked) (t as { data: ArenaStorage }).data = RELEASED;
    this.tracked = [];
    this.small.clear();
    for (const [view, cap] of this.inUse) this.pushFree(cap, view.buffer as ArrayBuffer);
    this.inUse.clear();
    this.inUseBytes = 0;
    this.steps++;
    // Over the cap: drop free buffers, least recently used capacity classes first.
    const limit = this.maxBytes ?? 2 * this.peakInUse;
    if (this.heldBytes > limit) {
      const classes = [...this.free.keys()].sort(
        (a, b) => (this.lastUsed.get(a) ?? 0) - (this.lastUsed.get(b) ?? 0),
      );
      for (const cap of classes) {
        const list = this.free.get(cap)!;
        while (list.length > 0 && this.heldBytes > limit) {
          list.pop();
          this.heldBytes -= 4 * cap;
        }
        if (list.length === 0) this.free.delete(cap);
        if (this.heldBytes <= limit) break;
      }
    }
  }
}
