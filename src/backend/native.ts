/**
 * The `native` backend: a thin wrapper over the N-API addon `transformer_native.node`
 * (C sources in `native/`, built by `scripts/build-native.cjs` / `npm run build:native`).
 *
 * Typed arrays go straight through (the addon reads them in place, zero copy); op names
 * become small integers; shapes and strides of the rank-generic kernels are packed into
 * one preallocated Float64Array, so a call allocates nothing. The addon checks every
 * array length against the sizes and throws a RangeError instead of touching memory out
 * of bounds. Numerics follow `src/backend/js.ts` (the specification), tested by
 * `test/backend/kernels.test.ts`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, BinaryOp, F32, Kernels, ScalarOp, UnaryOp } from './types.js';

/** A kernel whose first argument, the op name, is passed as its integer code. */
type WithOpCode<F> = F extends (op: never, ...rest: infer R) => infer T
  ? (op: number, ...rest: R) => T
  : never;

/** The addon's exports: the `Kernels` with integer op codes and packed dimensions. */
export interface NativeAddon {
  matmul: Kernels['matmul'];
  binary(op: number, out: F32, a: F32, b: F32, rank: number, dims: Float64Array): void;
  unary: WithOpCode<Kernels['unary']>;
  unaryBackward: WithOpCode<Kernels['unaryBackward']>;
  scalar: WithOpCode<Kernels['scalar']>;
  sum: Kernels['sum'];
  sumSquares: Kernels['sumSquares'];
  max: Kernels['max'];
  softmax: Kernels['softmax'];
  softmaxBackward: Kernels['softmaxBackward'];
  logSoftmax: Kernels['logSoftmax'];
  logSoftmaxBackward: Kernels['logSoftmaxBackward'];
  layerNormForward: Kernels['layerNormForward'];
  layerNormBackward: Kernels['layerNormBackward'];
  embeddingForward: Kernels['embeddingForward'];
  embeddingBackward: Kernels['embeddingBackward'];
  crossEntropyForward: Kernels['crossEntropyForward'];
  crossEntropyBackward: Kernels['crossEntropyBackward'];
  attentionForward: Kernels['attentionForward'];
  attentionBackward: Kernels['attentionBackward'];
  stridedCopy(out: F32, x: F32, rank: number, dims: Float64Array, offset: number): void;
  stridedAccumulate(x: F32, g: F32, rank: number, dims: Float64Array, offset: number): void;
  adamw: Kernels['adamw'];
  dropoutMask: Kernels['dropoutMask'];
  adamwMulti: Kernels['adamwMulti'];
  matmulDeferred: Kernels['matmulDeferred'];
  drain: Kernels['drain'];
  /** Sets OpenBLAS's thread count and the kernel pool's size together. */
  setThreads(n: number): void;
  getThreads(): number;
  /** Sets OpenBLAS's thread count alone (benchmarks). */
  setBlasThreads(n: number): void;
  /** Benchmarks: false runs attention / batched-matmul slices one by one with n-thread GEMMs. */
  setSlicesParallel(on: boolean): void;
  /** Benchmarks: true splits big GEMMs over the pool (OpenBLAS single-threaded), false lets OpenBLAS thread. */
  setSplitGemm(on: boolean): void;
  /** openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". */
  blasConfig(): string;
}

const BINARY: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };
const UNARY: Record<UnaryOp, number> = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  tanh: 4,
  relu: 5,
  gelu: 6,
  geluTanh: 7,
};
const SCALAR: Record<ScalarOp, number> = { add: 0, mul: 1, pow: 2, rsub: 3, rdiv: 4 };

const MAX_RANK = 6;

/** The addon file, relative to the package root. */
export const ADDON_PATH = join('build', 'Release', 'transformer_native.node');

/** The package root: the nearest ancestor of this file holding package.json (src/ or dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return dirname(fileURLToPath(import.meta.url));
    dir = up;
  }
}

let addonCache: NativeAddon | { error: string } | undefined;

/** Loads the raw addon (cached), or says why it cannot. */
export function loadNativeAddon(): NativeAddon | { error: string } {
  if (addonCache !== undefined) return addonCache;
  // TRANSFORMER_NATIVE_ADDON: another build of the addon (A/B benchmarks of kernel changes).
  const file = process.env.TRANSFORMER_NATIVE_ADDON || join(packageRoot(), ADDON_PATH);
  if (!existsSync(file)) {
    addonCache = { error: `${ADDON_PATH} not found (build it with: npm run build:native)` };
    return addonCache;
  }
  // OpenBLAS starts its worker threads when it loads, and they spin for ~0.1 s; we keep
  // OpenBLAS single-threaded (GEMMs are split over our own pool, see native/blas.c), so
  // load it with OPENBLAS_NUM_THREADS=1 and restore the variable right after.
  const saved = process.env.OPENBLAS_NUM_THREADS;
  process.env.OPENBLAS_NUM_THREADS = '1';
  try {
    const require = createRequire(import.meta.url);
    addonCache = require(file) as NativeAddon;
  } catch (e) {
    addonCache = { error: `cannot load ${file}: ${(e as Error).message}` };
  } finally {
    if (saved === undefined) delete process.env.OPENBLAS_NUM_THREADS;
    else process.env.OPENBLAS_NUM_THREADS = saved;
  }
  return addonCache;
}

function rankOf(shape: readonly number[]): number {
  const r = shape.length;
  if (r > MAX_RANK) throw new RangeError(`rank ${r} > ${MAX_RANK} is not supported`);
  return r;
}

function opCode<K extends string>(table: Record<K, number>, op: K, kind: string): number {
  const c = table[op];
  if (c === undefined) throw new RangeError(`unknown ${kind} op '${op}'`);
  return c;
}

/** Wraps a loaded addon as a `Backend`. */
export function wrapNativeAddon(addon: NativeAddon): Backend {
  // Packed dims: [shape(6), strides of a (6), strides of b (6)]; reused by every call.
  const dims = new Float64Array(3 * MAX_RANK);
  return {
    name: 'native',
    setThreads(n: number) {
      addon.setThreads(n);
    },
    matmul: addon.matmul,
    binary(op, out, a, b, shape, aStrides, bStrides) {
      const r = rankOf(shape);
      for (let i = 0; i < r; i++) {
        dims[i] = shape[i];
        dims[MAX_RANK + i] = aStrides[i];
        dims[2 * MAX_RANK + i] = bStrides[i];
      }
      addon.binary(opCode(BINARY, op, 'binary'), out, a, b, r, dims);
    },
    unary(op, out, x, n) {
      addon.unary(opCode(UNARY, op, 'unary'), out, x, n);
    },
    unaryBackward(op, dx, dy, x, y, n, accumulate = true) {
      addon.unaryBackward(opCode(UNARY, op, 'unary'), dx, dy, x, y, n, accumulate);
    },
    scalar(op, out, x, s, n) {
      addon.scalar(opCode(SCALAR, op, 'scalar'), out, x, s, n);
    },
    sum: addon.sum,
    sumSquares: addon.sumSquares,
    max: addon.max,
    softmax: addon.softmax,
    softmaxBackward: addon.softmaxBackward,
    logSoftmax: addon.logSoftmax,
    logSoftmaxBackward: addon.logSoftmaxBackward,
    layerNormForward: addon.layerNormForward,
    layerNormBackward: addon.layerNormBackward,
    embeddingForward: addon.embeddingForward,
    embeddingBackward: addon.embeddingBackward,
    crossEntropyForward: addon.crossEntropyForward,
    crossEntropyBackward: addon.crossEntropyBackward,
    attentionForward: addon.attentionForward,
    attentionBackward: addon.attentionBackward,
    stridedCopy(out: F32, x: F32, shape, strides, offset) {
      const r = rankOf(shape);
      for (let i = 0; i < r; i++) {
        dims[i] = shape[i];
        dims[MAX_RANK + i] = strides[i];
      }
      addon.stridedCopy(out, x, r, dims, offset);
    },
    stridedAccumulate(x: F32, g: F32, shape, strides, offset) {
      const r = rankOf(shape);
      for (let i = 0; i < r; i++) {
        dims[i] = shape[i];
        dims[MAX_RANK + i] = strides[i];
      }
      addon.stridedAccumulate(x, g, r, dims, offset);
    },
    adamw: addon.adamw,
    dropoutMask: addon.dropoutMask,
    adamwMulti: addon.adamwMulti,
    matmulDeferred: addon.matmulDeferred,
    drain: addon.drain,
  };
}

let backendCache: Backend | undefined;

/**
 * The native backend, or why it is unavailable (addon not built, or failing to load, e.g.
 * libopenblas missing). Thread count: TRANSFORMER_THREADS, else 2 (at most the CPU count);
 * `setThreads(n)` sets OpenBLAS's threads and the kernel pool's size together.
 */
export function loadNativeBackend(): { backend: Backend } | { error: string } {
  if (backendCache) return { backend: backendCache };
  const addon = loadNativeAddon();
  if ('error' in addon) return addon;
  backendCache = wrapNativeAddon(addon);
  return { backend: backendCache };
}
