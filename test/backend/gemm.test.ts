/**
 * The GEMM libraries of the native backend (NativeConfig.gemm, native/gemm.c): every one
 * that loads here runs matmul, matmulDeferred and matmulBf16 against the js backend (the
 * specification) on odd shapes, all four transposes, beta 0 and 1, a bias, a strided batch
 * and a product big enough to be split over the pool.
 * Legend: M, N, K the product's sizes (out (M, N) = op(a) (M, K) op(b) (K, N)); tA, tB the
 * transposes (a stored (K, M), b stored (N, K)).
 */
import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { jsBackend } from '../../src/backend/js.js';
import {
  configureNative,
  loadNativeAddon,
  nativeConfig,
  type NativeAddon,
} from '../../src/backend/native.js';
import type { GemmLibrary } from '../../src/backend/native-config.js';

const addon = loadNativeAddon();
const libraries: GemmLibrary[] =
  'error' in addon ? [] : addon.gemmInfo().available.filter((l) => l !== 'auto');
const before = 'error' in addon ? null : nativeConfig(addon);
after(() => {
  if (before && !('error' in addon)) configureNative(before, addon);
});

function random(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

/** bfloat16 rounding (nearest even) of every element, as float32. */
function roundBf16(x: Float32Array): Float32Array {
  const u = new Uint32Array(x.slice().buffer);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(u.buffer);
}

/** max |got - want| over max of sum_k |a_ik b_kj| (+ |beta c0|): the GEMM's error scale. */
function relErr(
  got: Float32Array,
  want: Float32Array,
  a: Float32Array,
  b: Float32Array,
  shape: { M: number; N: number; K: number; tA: boolean; tB: boolean; batch?: number },
): number {
  const { M, N, K, tA, tB, batch = 1 } = shape;
  const absA = a.map(Math.abs);
  const absB = b.map(Math.abs);
  const scale = new Float32Array(batch * M * N);
  jsBackend.matmul(scale, absA, absB, batch, M, N, K, tA, tB, M * K, K * N, 0);
  let err = 0;
  let s = 1e-30;
  for (let i = 0; i < got.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    s = Math.max(s, scale[i]);
  }
  return err / s;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 65],
  [130, 7, 31],
  [3, 300, 2],
  [200, 130, 333], // 8.7M multiply-adds: split over the pool (splitGemmMin 2^23)
];

function ltest(name: string, fn: (na: NativeAddon) => void): void {
  for (const lib of libraries.length ? libraries : (['openblas'] as GemmLibrary[]))
    test(`${lib}: ${name}`, (t: TestContext) => {
      if ('error' in addon) return t.skip(`addon not built: ${addon.error}`);
      configureNative({ gemm: lib, threads: 2 }, addon);
      assert.equal(addon.gemmInfo().active, lib);
      fn(addon);
    });
}

describe('GEMM libraries', () => {
  test('auto is dnnl when oneDNN loads, else openblas; openblas is always there', (t) => {
    if ('error' in addon) return t.skip(`addon not built: ${addon.error}`);
    configureNative({ gemm: 'auto' }, addon);
    const info = addon.gemmInfo();
    assert.ok(info.available.includes('openblas'));
    assert.equal(info.active, info.available.includes('dnnl') ? 'dnnl' : 'openblas');
    for (const lib of ['dnnl', 'blis'] as const)
      if (!info.available.includes(lib))
        assert.throws(() => configureNative({ gemm: lib }, addon), /not available/);
  });

  test('auto with oneDNN: products up to 64^3 run on OpenBLAS, bigger ones on oneDNN', (t) => {
    if ('error' in addon) return t.skip(`addon not built: ${addon.error}`);
    if (!libraries.includes('dnnl')) return t.skip('oneDNN not installed');
    // The same product under auto and under each library alone: bit for bit the one that
    // should run it (the two libraries round differently on these sizes).
    const product = (gemm: GemmLibrary, M: number, N: number, K: number): Float32Array => {
      configureNative({ gemm, threads: 1 }, addon);
      const out = new Float32Array(M * N);
      addon.matmul(out, random(M * K, 1), random(K * N, 2), 1, M, N, K, false, true, 0, 0, 0);
      return out;
    };
    for (const [M, N, K, lib] of [
      [64, 64, 64, 'openblas'],
      [40, 24, 100, 'openblas'],
      [65, 64, 64, 'dnnl'],
      [128, 96, 160, 'dnnl'],
    ] as const) {
      const auto = product('auto', M, N, K);
      const want = product(lib, M, N, K);
      const other = product(lib === 'dnnl' ? 'openblas' : 'dnnl', M, N, K);
      assert.deepEqual(auto, want, `${M}x${N}x${K} on ${lib}`);
      assert.notDeepEqual(want, other, `${M}x${N}x${K}: the libraries must differ to tell`);
    }
    configureNative({ gemm: 'auto' }, addon);
    assert.match(addon.gemmInfo().detail, /products up to 64\^3 on openblas/);
  });

  ltest('matmul = js on odd shapes, every transpose, beta 0 and 1, with a bias', (na) => {
    for (const [M, N, K] of SHAPES)
      for (let t = 0; t < 8; t++) {
        const tA = (t & 1) === 1;
        const tB = (t & 2) === 2;
        const beta = t >> 2;
        const a = random(M * K, 1 + t);
        const b = random(K * N, 2 + t);
        const bias = random(N, 3);
        const c0 = random(M * N, 4);
        const want = c0.slice();
        const got = c0.slice();
        jsBackend.matmul(want, a, b, 1, M, N, K, tA, tB, 0, 0, beta, bias);
        na.matmul(got, a, b, 1, M, N, K, tA, tB, 0, 0, beta, bias);
        const e = relErr(got, want, a, b, { M, N, K, tA, tB });
        assert.ok(e < 1e-5, `${M}x${N}x${K} tA ${tA} tB ${tB} beta ${beta}: rel err ${e}`);
      }
  });

  ltest('batched matmul (attention-like slices) and matmulDeferred = js', (na) => {
    const [B, M, N, K] = [6, 64, 32, 64];
    const a = random(B * M * K, 5);
    const b = random(B * K * N, 6);
    const want = new Float32Array(B * M * N);
    const got = new Float32Array(B * M * N);
    jsBackend.matmul(want, a, b, B, M, N, K, true, false, M * K, K * N, 0);
    na.matmul(got, a, b, B, M, N, K, true, false, M * K, K * N, 0);
    const e = relErr(got, want, a, b, { M, N, K, tA: true, tB: false, batch: B });
    assert.ok(e < 1e-5, `batched: rel err ${e}`);
    const [m, n, k] = [96, 80, 150];
    const x = random(k * m, 7);
    const y = random(k * n, 8);
    const dw = random(m * n, 9);
    const dwWant = dw.slice();
    jsBackend.matmul(dwWant, x, y, 1, m, n, k, true, false, 0, 0, 1);
    na.matmulDeferred(dw, x, y, m, n, k, true, false, 1);
    na.drain();
    const ed = relErr(dw, dwWant, x, y, { M: m, N: n, K: k, tA: true, tB: false });
    assert.ok(ed < 1e-5, `deferred: rel err ${ed}`);
  });

  ltest('matmulBf16 = fp32 on bf16-rounded inputs, and fp32 within bf16 rounding', (na) => {
    for (const [M, N, K] of SHAPES)
      for (let t = 0; t < 8; t++) {
        const tA = (t & 1) === 1;
        const tB = (t & 2) === 2;
        const beta = t >> 2;
        const a = random(M * K, 11 + t);
        const b = random(K * N, 12 + t);
        const c0 = random(M * N, 13);
        const shape = { M, N, K, tA, tB };
        const got = c0.slice();
        na.matmulBf16(got, a, b, M, N, K, tA, tB, beta);
        // The rounded inputs' products are exact in fp32: only the summation order differs.
        const ra = roundBf16(a);
        const rb = roundBf16(b);
        const emulated = c0.slice();
        jsBackend.matmul(emulated, ra, rb, 1, M, N, K, tA, tB, 0, 0, beta);
        const e1 = relErr(got, emulated, ra, rb, shape);
        assert.ok(e1 < 1e-5, `${M}x${N}x${K} t ${t}: vs bf16-rounded fp32, rel err ${e1}`);
        // Against fp32: each input off by <= 2^-8 relative (half of bf16's 2^-7 ulp), so
        // each product by <= 2^-7.
        const fp32 = c0.slice();
        jsBackend.matmul(fp32, a, b, 1, M, N, K, tA, tB, 0, 0, beta);
        const e2 = relErr(got, fp32, a, b, shape);
        assert.ok(e2 <= 2 ** -7 + 1e-5, `${M}x${N}x${K} t ${t}: vs fp32, rel err ${e2}`);
      }
  });

  ltest('matmulBf16 checks its array lengths', (na) => {
    const x = new Float32Array(6);
    assert.throws(() => na.matmulBf16(new Float32Array(4), x, x, 2, 2, 4, false, false, 0), /a/);
  });
});
