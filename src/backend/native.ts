/**
 * The `native` backend: a thin wrapper over the N-API addon `transformer_native.node`
 * (C sources in `native/`, built by `scripts/build-native.cjs` / `npm run build:native`).
 *
 * Typed arrays go straight through (the addon reads them in place, zero copy); op names
 * become the integer codes of the addon's own tables (native/tables.h); shapes and strides
 * of the rank-generic kernels and the attention geometry are packed into preallocated
 * Float64Arrays, so a call allocates nothing. The addon checks every array length against
 * the sizes and throws a RangeError instead of touching memory out of bounds. Numerics
 * follow `src/backend/js.ts` (the specification), tested by `test/backend/kernels.test.ts`.
 *
 * Tuning goes through one typed config (NativeConfig, ./native-config.ts): the addon gets
 * the defaults plus the environment's overrides when it loads, and `configureNative()`
 * changes it afterwards.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  defaultNativeConfig,
  GEMM_LIBRARIES,
  mergeNativeConfig,
  nativeConfigFromEnv,
  NATIVE_CONFIG_FIELDS,
  packNativeConfig,
  type NativeConfig,
} from './native-config.js';
import {
  ATTENTION_GEOMETRY_FIELDS,
  GATHERED_GEOMETRY_FIELDS,
  BINARY_OPS,
  SCALAR_OPS,
  UNARY_OPS,
  type AttentionDropout,
  type AttentionGeometry,
  type Backend,
  type F32,
  type GatheredGeometry,
} from './types.js';

/** The tiled attention's dropout packed into `d` (threshold 0 drops nothing). */
function packDropout(dropout: Readonly<AttentionDropout> | null, d: Float64Array): Float64Array {
  d[0] = dropout ? dropout.threshold : 0;
  d[1] = dropout ? dropout.keep : 1;
  d[2] = dropout ? dropout.key0 : 0;
  d[3] = dropout ? dropout.key1 : 0;
  return d;
}

export {
  NATIVE_CONTROL_EXPORTS,
  NATIVE_TESTHOOK_EXPORTS,
  type NativeAddon,
  type NativeControl,
  type NativeKernels,
  type NativeTables,
  type NativeTestHooks,
} from './native-addon.js';
import type { NativeAddon, NativeTables, NativeTestHooks } from './native-addon.js';

const MAX_RANK = 6;

/** The addon files, relative to the package root. */
export const ADDON_PATH = join('build', 'Release', 'transformer_native.node');
export const TESTHOOKS_ADDON_PATH = join('build', 'Release', 'transformer_testhooks.node');

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

/** The config each loaded addon runs with (what configureNative last sent it). */
const configs = new WeakMap<NativeAddon, NativeConfig>();
const configBuf = new Float64Array(NATIVE_CONFIG_FIELDS.length);

/** Throws unless the addon's table `name` lists `want`, in order. */
function checkTable(tables: NativeTables, name: keyof NativeTables, want: readonly string[]): void {
  const got = tables[name];
  if (!Array.isArray(got) || got.join(',') !== want.join(','))
    throw new Error(
      `the addon's ${name} table [${String(got)}] is not [${want.join(', ')}]: rebuild it (npm run build:native)`,
    );
}

/** Requires an addon file with OpenBLAS single-threaded at load, checks and configures it. */
function requireAddon(file: string): NativeAddon | { error: string } {
  if (!existsSync(file))
    return { error: `${file} not found (build it with: npm run build:native)` };
  // OpenBLAS starts its worker threads when it loads, and they spin for ~0.1 s; we keep
  // OpenBLAS single-threaded (GEMMs are split over our own pool, see native/blas.c), so
  // load it with OPENBLAS_NUM_THREADS=1 and restore the variable right after.
  const saved = process.env.OPENBLAS_NUM_THREADS;
  process.env.OPENBLAS_NUM_THREADS = '1';
  let addon: NativeAddon;
  try {
    const require = createRequire(import.meta.url);
    addon = require(file) as NativeAddon;
  } catch (e) {
    return { error: `cannot load ${file}: ${(e as Error).message}` };
  } finally {
    if (saved === undefined) delete process.env.OPENBLAS_NUM_THREADS;
    else process.env.OPENBLAS_NUM_THREADS = saved;
  }
  try {
    checkTable(addon.tables, 'binary', BINARY_OPS);
    checkTable(addon.tables, 'unary', UNARY_OPS);
    checkTable(addon.tables, 'scalar', SCALAR_OPS);
    checkTable(addon.tables, 'attentionGeometry', ATTENTION_GEOMETRY_FIELDS);
    checkTable(addon.tables, 'gatheredGeometry', GATHERED_GEOMETRY_FIELDS);
    checkTable(addon.tables, 'config', NATIVE_CONFIG_FIELDS);
    checkTable(addon.tables, 'gemm', GEMM_LIBRARIES);
  } catch (e) {
    return { error: (e as Error).message };
  }
  configureNative(mergeNativeConfig(defaultNativeConfig(), nativeConfigFromEnv()), addon);
  return addon;
}

let addonCache: NativeAddon | { error: string } | undefined;
let hooksCache: (NativeAddon & NativeTestHooks) | { error: string } | undefined;

/**
 * Loads the production addon (cached), configured with the defaults and the environment's
 * overrides (nativeConfigFromEnv), or says why it cannot.
 * TRANSFORMER_NATIVE_ADDON=path loads another build instead (A/B benchmarks of kernel changes).
 * @throws Error naming the variable when a TRANSFORMER_* tuning variable is malformed.
 */
export function loadNativeAddon(): NativeAddon | { error: string } {
  if (addonCache === undefined)
    addonCache = requireAddon(
      process.env.TRANSFORMER_NATIVE_ADDON || join(packageRoot(), ADDON_PATH),
    );
  return addonCache;
}

/**
 * Loads the transformer_testhooks build (cached): the same kernels plus the benchmark and
 * test hooks (NativeTestHooks), with its own thread pool and config. Benchmarks that compare
 * against OpenBLAS's own threading and tests of the deferred GEMMs use it.
 */
export function loadNativeTestHooks(): (NativeAddon & NativeTestHooks) | { error: string } {
  if (hooksCache === undefined) {
    const r = requireAddon(join(packageRoot(), TESTHOOKS_ADDON_PATH));
    hooksCache =
      'error' in r || r.tables.testHooks
        ? (r as NativeAddon & NativeTestHooks)
        : { error: `${TESTHOOKS_ADDON_PATH} has no test hooks` };
  }
  return hooksCache;
}

/**
 * Tests: makes the native backend run on the transformer_testhooks build (the same kernels
 * plus NativeTestHooks), so a test can use the hooks on the backend its ops run on. Call it
 * before the native backend first loads (e.g. from a module imported first). When the
 * testhooks build is missing, the production addon stays and the error is returned.
 * @throws Error if the native backend has already loaded the production addon.
 */
export function useTestHooksBuild(): (NativeAddon & NativeTestHooks) | { error: string } {
  const hooks = loadNativeTestHooks();
  if ('error' in hooks) return hooks;
  if (addonCache !== undefined && addonCache !== hooks)
    throw new Error('useTestHooksBuild: the native backend has already loaded another addon');
  addonCache = hooks;
  return hooks;
}

/**
 * Changes the native backend's tuning: `options` replaces those fields of the current
 * config (the load-time one: defaults plus nativeConfigFromEnv), which is checked and sent
 * to the addon whole (after the deferred GEMMs are drained). Returns the config now in use.
 * @param addon the addon to configure (default: the production addon).
 * @throws Error naming the option (unknown key, bad type, out of range) or when the
 *   addon is not available.
 */
export function configureNative(
  options: Readonly<Partial<NativeConfig>>,
  addon?: NativeAddon,
): Readonly<NativeConfig> {
  const target = addon ?? loadNativeAddon();
  if ('error' in target) throw new Error(`native backend unavailable: ${target.error}`);
  const next = mergeNativeConfig(configs.get(target) ?? defaultNativeConfig(), options);
  target.configure(packNativeConfig(next, configBuf));
  configs.set(target, next);
  return next;
}

/** The config the addon (default: the production one) runs with. */
export function nativeConfig(addon?: NativeAddon): Readonly<NativeConfig> {
  const target = addon ?? loadNativeAddon();
  if ('error' in target) throw new Error(`native backend unavailable: ${target.error}`);
  return configs.get(target) ?? defaultNativeConfig();
}

/**
 * Packs `g` into `buf` in ATTENTION_GEOMETRY_FIELDS order (native/tables.h ATT_GEOM_FIELDS;
 * the addon's table is checked against that list when it loads, and a test checks this
 * function against the list), straight-line, allocating nothing.
 */
export function packGeometry(g: Readonly<AttentionGeometry>, buf: Float64Array): Float64Array {
  buf[0] = g.BH;
  buf[1] = g.T;
  buf[2] = g.S;
  buf[3] = g.D;
  buf[4] = g.H;
  buf[5] = g.ldq;
  buf[6] = g.ldk;
  buf[7] = g.ldv;
  buf[8] = g.ldo;
  buf[9] = g.kvRows;
  buf[10] = g.scale;
  buf[11] = g.causal ? 1 : 0;
  buf[12] = g.maskStrideB ?? 0;
  buf[13] = g.maskStrideT ?? 0;
  buf[14] = g.maskOffset ?? 0;
  return buf;
}

function rankOf(shape: readonly number[]): number {
  const r = shape.length;
  if (r > MAX_RANK) throw new RangeError(`rank ${r} > ${MAX_RANK} is not supported`);
  return r;
}

/** name -> code from one of the addon's op tables. */
function codes<K extends string>(names: readonly K[]): Record<K, number> {
  return Object.fromEntries(names.map((n, i) => [n, i])) as Record<K, number>;
}

function opCode<K extends string>(table: Record<K, number>, op: K, kind: string): number {
  const c = table[op];
  if (c === undefined) throw new RangeError(`unknown ${kind} op '${op}'`);
  return c;
}

/** Wraps a loaded addon as a `Backend`. */
export function wrapNativeAddon(addon: NativeAddon): Backend {
  const { tables } = addon;
  const BINARY = codes(tables.binary as (typeof BINARY_OPS)[number][]);
  const UNARY = codes(tables.unary as (typeof UNARY_OPS)[number][]);
  const SCALAR = codes(tables.scalar as (typeof SCALAR_OPS)[number][]);
  // Packed dims: [shape(6), strides of a (6), strides of b (6)]; reused by every call.
  const dims = new Float64Array(3 * MAX_RANK);
  const geom = new Float64Array(ATTENTION_GEOMETRY_FIELDS.length);
  const ggeom = new Float64Array(GATHERED_GEOMETRY_FIELDS.length);
  /** A GatheredGeometry in GATHERED_GEOMETRY_FIELDS order (booleans as 0 / 1). */
  const packGathered = (g: Readonly<GatheredGeometry>): Float64Array => {
    GATHERED_GEOMETRY_FIELDS.forEach((f, i) => (ggeom[i] = Number(g[f])));
    return ggeom;
  };
  const drop = new Float64Array(4); // a tiled attention call's dropout (packDropout)
  /** dims = [shape, strides] for the strided copies. */
  const packStrided = (shape: readonly number[], strides: readonly number[]): number => {
    const r = rankOf(shape);
    for (let i = 0; i < r; i++) {
      dims[i] = shape[i];
      dims[MAX_RANK + i] = strides[i];
    }
    return r;
  };
  return {
    name: 'native',
    setThreads(n: number) {
      configureNative({ threads: n }, addon);
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
    expShift: addon.expShift,
    expShiftBackward: addon.expShiftBackward,
    layerNormForward: addon.layerNormForward,
    layerNormBackward: addon.layerNormBackward,
    rnnCellForward: addon.rnnCellForward,
    rnnCellBackward: addon.rnnCellBackward,
    word2vecTrain(syn0, syn1, corpus, keepProb, table, p) {
      const { dim, window, negative, epochs, alpha, cbow, seed } = p;
      return addon.word2vecTrain(
        syn0,
        syn1,
        corpus,
        table,
        keepProb,
        dim,
        window,
        negative,
        epochs,
        alpha,
        cbow,
        seed,
      );
    },
    embeddingForward: addon.embeddingForward,
    headRowsScale: addon.headRowsScale,
    headRowsDot: addon.headRowsDot,
    lseMergeWeights: addon.lseMergeWeights,
    lshBuckets: addon.lshBuckets,
    embeddingBackward: addon.embeddingBackward,
    crossEntropyForward: addon.crossEntropyForward,
    crossEntropyBackward: addon.crossEntropyBackward,
    attentionForward(out, weights, q, k, v, mask, dropMask, g) {
      addon.attentionForward(out, weights, q, k, v, mask, dropMask, packGeometry(g, geom));
    },
    attentionBackward(dq, dk, dv, dout, q, k, v, weights, dropMask, g, accumulate = true) {
      const packed = packGeometry(g, geom);
      addon.attentionBackward(dq, dk, dv, dout, q, k, v, weights, dropMask, packed, accumulate);
    },
    sparseAttentionForward(out, weights, q, k, v, rowPtr, cols, bias, dropMask, g, lse = null) {
      const packed = packGeometry(g, geom);
      addon.sparseAttentionForward(
        out,
        weights,
        q,
        k,
        v,
        rowPtr,
        cols,
        bias,
        dropMask,
        packed,
        lse,
      );
    },
    sparseAttentionBackward(
      dq,
      dk,
      dv,
      dout,
      q,
      k,
      v,
      rowPtr,
      cols,
      weights,
      dropMask,
      g,
      delta = null,
    ) {
      const packed = packGeometry(g, geom);
      addon.sparseAttentionBackward(
        dq,
        dk,
        dv,
        dout,
        q,
        k,
        v,
        rowPtr,
        cols,
        weights,
        dropMask,
        packed,
        delta,
      );
    },
    gatheredAttentionForward(out, so, sl, rl, q, k, v, qRow, kRow, slot, bias, dropMask, g) {
      const p = packGathered(g);
      addon.gatheredAttentionForward(out, so, sl, rl, q, k, v, qRow, kRow, slot, bias, dropMask, p);
    },
    gatheredAttentionBackward(
      dq,
      dk,
      dv,
      dout,
      out,
      so,
      sl,
      q,
      k,
      v,
      qRow,
      kRow,
      slot,
      bias,
      dm,
      g,
    ) {
      const p = packGathered(g);
      addon.gatheredAttentionBackward(
        dq,
        dk,
        dv,
        dout,
        out,
        so,
        sl,
        q,
        k,
        v,
        qRow,
        kRow,
        slot,
        bias,
        dm,
        p,
      );
    },
    flashAttentionForward(out, lse, q, k, v, mask, dropout, g, kvLen) {
      const d = packDropout(dropout, drop);
      addon.flashAttentionForward(out, lse, q, k, v, mask, d, packGeometry(g, geom), kvLen);
    },
    flashAttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, mask, drp, g, acc, dmask, kvLen) {
      const [d, packed, a] = [packDropout(drp, drop), packGeometry(g, geom), acc ?? true];
      addon.flashAttentionBackward(
        dq,
        dk,
        dv,
        dout,
        q,
        k,
        v,
        out,
        lse,
        mask,
        d,
        packed,
        a,
        dmask,
        kvLen,
      );
    },
    stridedCopy(out: F32, x: F32, shape, strides, offset) {
      addon.stridedCopy(out, x, packStrided(shape, strides), dims, offset);
    },
    stridedAccumulate(x: F32, g: F32, shape, strides, offset) {
      addon.stridedAccumulate(x, g, packStrided(shape, strides), dims, offset);
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
 * libopenblas missing). Thread count: NativeConfig.threads (TRANSFORMER_THREADS, else 2
 * at most the CPU count); `setThreads(n)` is configureNative({ threads: n }).
 */
export function loadNativeBackend(): { backend: Backend } | { error: string } {
  if (backendCache) return { backend: backendCache };
  const addon = loadNativeAddon();
  if ('error' in addon) return addon;
  backendCache = wrapNativeAddon(addon);
  return { backend: backendCache };
}
