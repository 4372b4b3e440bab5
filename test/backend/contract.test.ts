/**
 * The kernel contract between the backends (issue #10.5): every kernel of the js backend
 * (every key of `Kernels`) is an export of the native addon and every addon export is a
 * kernel or a declared control entry (no orphans); the addon's tables (op codes, packed
 * attention geometry, packed config) are the TypeScript lists, in order; the test hooks
 * exist only in the transformer_testhooks build; and the typed NativeConfig validates,
 * packs and reaches the addon. The native half skips when the addon is not built.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { jsBackend } from '../../src/backend/js.js';
import {
  configureNative,
  loadNativeAddon,
  loadNativeTestHooks,
  nativeConfig,
  NATIVE_CONTROL_EXPORTS,
  NATIVE_TESTHOOK_EXPORTS,
  packGeometry,
  type NativeAddon,
} from '../../src/backend/native.js';
import {
  defaultNativeConfig,
  GEMM_LIBRARIES,
  mergeNativeConfig,
  NATIVE_CONFIG_DEFAULTS,
  NATIVE_CONFIG_FIELDS,
  nativeConfigFromEnv,
  packNativeConfig,
} from '../../src/backend/native-config.js';
import {
  ATTENTION_GEOMETRY_FIELDS,
  GATHERED_GEOMETRY_FIELDS,
  BINARY_OPS,
  SCALAR_OPS,
  UNARY_OPS,
  type AttentionGeometry,
  type KernelName,
} from '../../src/backend/types.js';

/** Every kernel name, from the Kernels type: a kernel missing here is a compile error. */
const KERNEL_NAMES = Object.keys({
  matmul: 1,
  matmulDeferred: 1,
  drain: 1,
  binary: 1,
  unary: 1,
  unaryBackward: 1,
  scalar: 1,
  sum: 1,
  sumSquares: 1,
  max: 1,
  softmax: 1,
  softmaxBackward: 1,
  logSoftmax: 1,
  logSoftmaxBackward: 1,
  expShift: 1,
  expShiftBackward: 1,
  layerNormForward: 1,
  layerNormBackward: 1,
  embeddingForward: 1,
  embeddingBackward: 1,
  crossEntropyForward: 1,
  crossEntropyBackward: 1,
  attentionForward: 1,
  attentionBackward: 1,
  sparseAttentionForward: 1,
  sparseAttentionBackward: 1,
  headRowsScale: 1,
  headRowsDot: 1,
  lseMergeWeights: 1,
  gatheredAttentionForward: 1,
  gatheredAttentionBackward: 1,
  lshBuckets: 1,
  flashAttentionForward: 1,
  flashAttentionBackward: 1,
  stridedCopy: 1,
  stridedAccumulate: 1,
  adamwMulti: 1,
  dropoutMask: 1,
  adamw: 1,
  rnnCellForward: 1,
  rnnCellBackward: 1,
  word2vecTrain: 1,
} satisfies Record<KernelName, 1>).sort();

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

const production = loadNativeAddon();
const hooks = loadNativeTestHooks();

function ntest(name: string, fn: (addon: NativeAddon) => void, which = production): void {
  test(name, (t: TestContext) => {
    if ('error' in which) t.skip(`addon not built: ${which.error}`);
    else fn(which);
  });
}

describe('kernel contract', () => {
  test('the js backend implements exactly the kernels of Kernels (plus name, setThreads)', () => {
    const keys = Object.keys(jsBackend).filter((k) => k !== 'name' && k !== 'setThreads');
    assert.deepEqual(sorted(keys), KERNEL_NAMES);
  });

  ntest('the addon exports every kernel, and nothing but kernels and control entries', (addon) => {
    const exported = Object.keys(addon);
    const control = new Set<string>(NATIVE_CONTROL_EXPORTS);
    const kernels = exported.filter((k) => !control.has(k));
    assert.deepEqual(sorted(kernels), KERNEL_NAMES, 'kernels: missing or orphan exports');
    for (const k of NATIVE_CONTROL_EXPORTS) assert.ok(exported.includes(k), `control ${k}`);
    for (const k of KERNEL_NAMES) assert.equal(typeof addon[k as KernelName], 'function', k);
  });

  ntest('the production addon has no test hooks; the testhooks build has exactly them', (addon) => {
    assert.equal(addon.tables.testHooks, false);
    for (const k of NATIVE_TESTHOOK_EXPORTS) assert.ok(!(k in addon), `production exports ${k}`);
    if ('error' in hooks) return;
    assert.equal(hooks.tables.testHooks, true);
    const extra = Object.keys(hooks).filter((k) => !(k in addon));
    assert.deepEqual(sorted(extra), sorted(NATIVE_TESTHOOK_EXPORTS));
  });

  ntest('the addon tables are the TypeScript op, geometry and config lists, in order', (addon) => {
    assert.deepEqual(addon.tables.binary, [...BINARY_OPS]);
    assert.deepEqual(addon.tables.unary, [...UNARY_OPS]);
    assert.deepEqual(addon.tables.scalar, [...SCALAR_OPS]);
    assert.deepEqual(addon.tables.attentionGeometry, [...ATTENTION_GEOMETRY_FIELDS]);
    assert.deepEqual(addon.tables.gatheredGeometry, [...GATHERED_GEOMETRY_FIELDS]);
    assert.deepEqual(addon.tables.config, [...NATIVE_CONFIG_FIELDS]);
    assert.deepEqual(addon.tables.gemm, [...GEMM_LIBRARIES]);
  });

  test('packGeometry writes each field at its ATTENTION_GEOMETRY_FIELDS index', () => {
    const g: Required<AttentionGeometry> = {
      ...{ BH: 11, T: 12, S: 13, D: 14, H: 15, ldq: 16, ldk: 17, ldv: 18, ldo: 19 },
      ...{
        kvRows: 20,
        scale: 0.25,
        causal: true,
        maskStrideB: 22,
        maskStrideT: -1,
        maskOffset: 24,
      },
    };
    const buf = packGeometry(g, new Float64Array(ATTENTION_GEOMETRY_FIELDS.length));
    ATTENTION_GEOMETRY_FIELDS.forEach((f, i) => assert.equal(buf[i], Number(g[f]), f));
    // Forward-only fields default to off.
    const dense = { BH: 1, T: 1, S: 1, D: 1, H: 1, ldq: 1, ldk: 1, ldv: 1, ldo: 1, kvRows: 1 };
    const b2 = packGeometry({ ...dense, scale: 1 }, new Float64Array(15).fill(9));
    assert.deepEqual(Array.from(b2.subarray(11)), [0, 0, 0, 0]);
  });

  ntest('the addon rejects a short or malformed geometry with a RangeError', (addon) => {
    const x = new Float32Array(4);
    const g = { BH: 1, T: 2, S: 2, D: 1, H: 1, ldq: 1, ldk: 1, ldv: 1, ldo: 1, kvRows: 2 };
    const ok = packGeometry({ ...g, scale: 1 }, new Float64Array(15));
    addon.attentionForward(x, x, x, x, x, null, null, ok);
    assert.throws(
      () => addon.attentionForward(x, x, x, x, x, null, null, ok.slice(0, 14)),
      /geometry has 14 elements/,
    );
    const bad = ok.slice();
    bad[ATTENTION_GEOMETRY_FIELDS.indexOf('kvRows')] = 1; // < S
    assert.throws(() => addon.attentionForward(x, x, x, x, x, null, null, bad), /kvRows/);
    bad.set(ok);
    bad[0] = 1.5;
    assert.throws(() => addon.attentionForward(x, x, x, x, x, null, null, bad), /BH must be/);
    // A negative query stride (a relative-position bias read from its diagonals) must not
    // read before the mask: T 2, S 2 read diagonals s - t = -1 .. 1 from offset 1.
    const diag = new Float32Array(3);
    const rel = { ...g, scale: 1, maskStrideT: -1 };
    const at = (maskOffset: number): Float64Array =>
      packGeometry({ ...rel, maskOffset }, new Float64Array(15));
    addon.attentionForward(x, x, x, x, x, diag, null, at(1));
    assert.throws(() => addon.attentionForward(x, x, x, x, x, diag, null, at(0)), /maskOffset/);
    assert.throws(() => addon.attentionForward(x, x, x, x, x, diag, null, at(2)), /mask/);
    // A mask gradient (dmask) only for a relative bias's layout (offset T - 1, stride -1),
    // and as long as the mask: both backends refuse the rest.
    const lse = new Float32Array(2);
    const off = new Float64Array(4); // no dropout
    addon.flashAttentionForward(x, lse, x, x, x, diag, off, at(1));
    const back = (mask: Float32Array, geom: Float64Array, dmask: Float32Array) => () =>
      addon.flashAttentionBackward(x, x, x, x, x, x, x, x, lse, mask, off, geom, true, dmask);
    back(diag, at(1), new Float32Array(3))();
    assert.throws(back(diag, at(1), new Float32Array(2)), /dmask has 2 elements/);
    const dense = packGeometry({ ...g, scale: 1, maskStrideT: 2 }, new Float64Array(15));
    assert.throws(back(x, dense, new Float32Array(4)), /only a relative bias/);
    const jsBack = () =>
      jsBackend.flashAttentionBackward(
        x,
        x,
        x,
        x,
        x,
        x,
        x,
        x,
        lse,
        x,
        null,
        { ...g, scale: 1, maskStrideT: 2 },
        true,
        new Float32Array(4),
      );
    assert.throws(jsBack, /only a relative bias/);
    // Key counts (kvLen) per batch block in [0, S], on both backends.
    addon.flashAttentionForward(x, lse, x, x, x, diag, off, at(1), Int32Array.from([1]));
    for (const bad of [Int32Array.from([3]), Int32Array.from([-1]), new Int32Array(0)]) {
      assert.throws(
        () => addon.flashAttentionForward(x, lse, x, x, x, diag, off, at(1), bad),
        /kvLen/,
      );
      assert.throws(
        () => jsBackend.flashAttentionForward(x, lse, x, x, x, null, null, { ...g, scale: 1 }, bad),
        /kvLen/,
      );
    }
    // Strides whose span overflows int64 ((T - 1) * 2^52 = 2^64 wraps to 0) are refused,
    // not read out of bounds (it crashed the process before).
    const T = 4097;
    const y = new Float32Array(T);
    for (const maskStrideT of [2 ** 52, -(2 ** 52)]) {
      const big = { ...g, T, S: 1, kvRows: 1, scale: 1, maskStrideT };
      const geom = packGeometry(big, new Float64Array(15));
      assert.throws(() => addon.attentionForward(y, y, y, x, x, diag, null, geom), /overflow/);
    }
  });
});

describe('native config', () => {
  test('defaults are documented values; threads is min(2, CPUs)', () => {
    const d = defaultNativeConfig();
    assert.ok(d.threads === 1 || d.threads === 2);
    assert.deepEqual({ ...d, threads: 0 }, { ...NATIVE_CONFIG_DEFAULTS, threads: 0 });
    assert.equal(d.tuneMalloc, false, 'the allocator is left alone unless asked');
    assert.equal(d.defer, true);
  });

  test('the environment is parsed in one place, and malformed values name the variable', () => {
    assert.deepEqual(nativeConfigFromEnv({}), {});
    assert.deepEqual(
      nativeConfigFromEnv({
        TRANSFORMER_THREADS: '3',
        TRANSFORMER_SPIN_US: '0',
        TRANSFORMER_POOL_MIN_WORK: '32768',
        TRANSFORMER_DEFER: '0',
        TRANSFORMER_MALLOC: 'tuned',
      }),
      { threads: 3, spinUs: 0, poolMinWork: 32768, defer: false, tuneMalloc: true },
    );
    assert.throws(() => nativeConfigFromEnv({ TRANSFORMER_THREADS: 'two' }), /TRANSFORMER_THREADS/);
    assert.throws(() => nativeConfigFromEnv({ TRANSFORMER_DEFER: 'yes' }), /TRANSFORMER_DEFER/);
    assert.deepEqual(nativeConfigFromEnv({ TRANSFORMER_GEMM: 'dnnl' }), { gemm: 'dnnl' });
    assert.throws(() => nativeConfigFromEnv({ TRANSFORMER_GEMM: 'mkl' }), /TRANSFORMER_GEMM/);
  });

  test('mergeNativeConfig rejects unknown and out-of-range options by name', () => {
    const d = defaultNativeConfig();
    assert.equal(mergeNativeConfig(d, { spinUs: 5 }).spinUs, 5);
    assert.throws(() => mergeNativeConfig(d, { threds: 2 } as never), /unknown .*'threds'/);
    assert.throws(() => mergeNativeConfig(d, { threads: 0 }), /threads must be/);
    assert.throws(() => mergeNativeConfig(d, { poolGrain: 1.5 }), /poolGrain/);
    assert.throws(() => mergeNativeConfig(d, { defer: 1 } as never), /defer must be a boolean/);
  });

  test('packNativeConfig writes each field at its NATIVE_CONFIG_FIELDS index', () => {
    const c = { ...defaultNativeConfig(), threads: 3, spinUs: 7, splitGemmMin: 9, defer: false };
    const buf = packNativeConfig(c, new Float64Array(NATIVE_CONFIG_FIELDS.length));
    NATIVE_CONFIG_FIELDS.forEach((f, i) =>
      assert.equal(buf[i], f === 'gemm' ? GEMM_LIBRARIES.indexOf(c.gemm) : Number(c[f]), f),
    );
  });

  ntest('configureNative reaches the addon and merges into the current config', (addon) => {
    const before = nativeConfig(addon);
    try {
      const c = configureNative({ threads: 1, spinUs: 0 }, addon);
      assert.equal(addon.getThreads(), 1);
      assert.equal(c.spinUs, 0);
      assert.equal(nativeConfig(addon).threads, 1);
      configureNative({ threads: 2 }, addon);
      assert.equal(addon.getThreads(), 2);
      assert.equal(nativeConfig(addon).spinUs, 0, 'other fields kept');
      const raw = packNativeConfig(
        { ...before, poolGrain: 0 },
        new Float64Array(NATIVE_CONFIG_FIELDS.length),
      );
      assert.throws(() => addon.configure(raw), /poolGrain/, 'the addon checks too');
    } finally {
      configureNative(before, addon);
    }
  });
});
