/**
 * Kernel conformance: every kernel of the native backend against the js backend (the
 * specification, src/backend/js.ts) on seeded random inputs, small odd shapes and a few
 * large enough to take the multi-threaded paths; plus hand-computed values for js.
 * The native half skips (with the reason) when the addon is not built.
 *
 * Tolerances: |native - js| <= atol + rtol * |js|. Element-wise float ops (binary, strided
 * copies, embedding) must match exactly; libm-based ops 1e-5 + 1e-5 rel; GEMMs scale atol
 * with K (float vs js's float64 accumulation).
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { jsBackend } from '../../src/backend/js.js';
import { configureNative, loadNativeAddon, loadNativeBackend } from '../../src/backend/native.js';
import type {
  AttentionGeometry,
  Backend,
  BinaryOp,
  ScalarOp,
  UnaryOp,
} from '../../src/backend/types.js';

const loaded = loadNativeBackend();
// Keep the thresholds that send work to the thread pool low (the defaults favour small
// kernels on the caller), so the test sizes below take the multi-threaded paths; node
// --test runs each file in its own process.
if ('backend' in loaded) configureNative({ poolMinWork: 32768, splitGemmMin: 1 << 20 });
const native: Backend | null = 'backend' in loaded ? loaded.backend : null;
const skipReason = 'error' in loaded ? `native addon not built: ${loaded.error}` : '';

/** A test that needs the native backend; skipped with the reason when it is unavailable. */
function ntest(name: string, fn: (nb: Backend) => void): void {
  test(name, (t: TestContext) => {
    if (!native) {
      t.skip(skipReason);
      return;
    }
    fn(native);
  });
}

// ---------- seeded inputs ----------

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let seedCounter = 1;
/** Uniform in [lo, hi), seeded per call site order. */
function rand(n: number, lo = -1, hi = 1): Float32Array {
  const r = mulberry32(seedCounter++);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}
function randInt(n: number, hi: number): Int32Array {
  const r = mulberry32(seedCounter++);
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.floor(r() * hi);
  return a;
}

// ---------- comparison ----------

interface Tol {
  atol: number;
  rtol: number;
}
const EXACT: Tol = { atol: 0, rtol: 0 };
const TOL: Tol = { atol: 1e-5, rtol: 1e-5 };

function assertClose(
  actual: Float32Array | Int32Array,
  expected: Float32Array | Int32Array,
  tol: Tol,
  label: string,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${label}[${i}]: native ${a}, js NaN`);
      continue;
    }
    if (!Number.isFinite(e)) {
      assert.equal(a, e, `${label}[${i}]: native ${a}, js ${e}`);
      continue;
    }
    const err = Math.abs(a - e);
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) {
      assert.fail(
        `${label}[${i}]: native ${a}, js ${e}, |diff| ${err} > ${tol.atol} + ${tol.rtol}*|js|`,
      );
    }
  }
}

function hasNaN(a: Float32Array): boolean {
  return a.some((x) => Number.isNaN(x));
}

/**
 * Runs `fn` on both backends with fresh copies of `outs` (outputs, or gradients with their
 * initial values) and compares every output.
 */
function compare(
  nb: Backend,
  label: string,
  outs: (Float32Array | Int32Array)[],
  fn: (be: Backend, o: (Float32Array | Int32Array)[]) => void,
  tol: Tol | Tol[],
): (Float32Array | Int32Array)[] {
  const oj = outs.map((o) => o.slice());
  const on = outs.map((o) => o.slice());
  fn(jsBackend, oj);
  fn(nb, on);
  for (let i = 0; i < outs.length; i++) {
    assertClose(on[i], oj[i], Array.isArray(tol) ? tol[i] : tol, `${label} out${i}`);
  }
  return on;
}

const f32 = (o: Float32Array | Int32Array): Float32Array => o as Float32Array;

/** The attention geometry of dense (BH, T, D) / (BH, S, D) arrays, plus `extra`. */
function dense(
  BH: number,
  T: number,
  S: number,
  D: number,
  scale: number,
  extra: Partial<AttentionGeometry> = {},
): AttentionGeometry {
  return { BH, T, S, D, H: 1, ldq: D, ldk: D, ldv: D, ldo: D, kvRows: S, scale, ...extra };
}
const i32 = (o: Float32Array | Int32Array): Int32Array => o as Int32Array;

// ---------- js backend alone: hand-computed values ----------

describe('js backend, hand-computed', () => {
  test('softmax of [0, ln 3] is [0.25, 0.75]; an all -Infinity row gives zeros', () => {
    const out = new Float32Array(4);
    jsBackend.softmax(out, Float32Array.of(0, Math.log(3), -Infinity, -Infinity), 2, 2);
    assert.ok(Math.abs(out[0] - 0.25) < 1e-7 && Math.abs(out[1] - 0.75) < 1e-7, `${out}`);
    assert.deepEqual(Array.from(out.subarray(2)), [0, 0]);
  });

  test('adamw one step: p 1, g 0.5, lr 0.1, wd 0.01 -> 0.899', () => {
    const p = Float32Array.of(1);
    const m = new Float32Array(1);
    const v = new Float32Array(1);
    jsBackend.adamw(p, Float32Array.of(0.5), m, v, 1, 0.1, 0.9, 0.999, 1e-8, 0.01, 1);
    // decay: 1 * (1 - 0.1 * 0.01) = 0.999; m = 0.05, v = 0.00025; mhat 0.5, vhat 0.25;
    // step 0.1 * 0.5 / (0.5 + 1e-8) = 0.1
    assert.ok(Math.abs(p[0] - 0.899) < 1e-6, `p ${p[0]}`);
    assert.ok(Math.abs(m[0] - 0.05) < 1e-8 && Math.abs(v[0] - 0.00025) < 1e-10);
  });

  test('cross-entropy of logits [0, ln 3], target 1: -ln 0.75; smoothed 0.1', () => {
    const loss = new Float32Array(1);
    const lse = new Float32Array(1);
    const logits = Float32Array.of(0, Math.log(3));
    jsBackend.crossEntropyForward(loss, lse, logits, Int32Array.of(1), 1, 2, -100, 0);
    assert.ok(Math.abs(loss[0] + Math.log(0.75)) < 1e-6, `loss ${loss[0]}`);
    assert.ok(Math.abs(lse[0] - Math.log(4)) < 1e-6);
    // ls = 0.1: 0.9 * -ln 0.75 + 0.1 * mean_v(-logp[v]) = 0.9*0.2877 + 0.1*(1.3863+0.2877)/2
    jsBackend.crossEntropyForward(loss, lse, logits, Int32Array.of(1), 1, 2, -100, 0.1);
    const want = -0.9 * Math.log(0.75) - 0.05 * (Math.log(0.25) + Math.log(0.75));
    assert.ok(Math.abs(loss[0] - want) < 1e-6, `loss ${loss[0]} want ${want}`);
  });
});

// ---------- native vs js ----------

describe('native backend vs js', () => {
  ntest('matmul: all transpose combos, odd and larger shapes, beta 0 and 1', (nb) => {
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [7, 33, 5],
      [33, 7, 65],
      [128, 65, 33],
      [1, 128, 300],
      [7, 300, 200], // split over the pool by columns
      [300, 64, 100], // split by rows
    ];
    for (const [M, N, K] of shapes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          for (const beta of [0, 1]) {
            const a = rand(M * K);
            const b = rand(K * N);
            compare(
              nb,
              `matmul ${M}x${N}x${K} tA=${tA} tB=${tB} beta=${beta}`,
              [rand(M * N)],
              (be, [o]) => be.matmul(f32(o), a, b, 1, M, N, K, tA, tB, 0, 0, beta),
              { atol: 1e-6 * K + 1e-6, rtol: 1e-5 },
            );
            // With a bias added to every row (the split paths add it per block).
            const bias = rand(N);
            const [withBias] = compare(
              nb,
              `matmul+bias ${M}x${N}x${K} tA=${tA} tB=${tB} beta=${beta}`,
              [rand(M * N)],
              (be, [o]) => be.matmul(f32(o), a, b, 1, M, N, K, tA, tB, 0, 0, beta, bias),
              { atol: 1e-6 * K + 1e-6, rtol: 1e-5 },
            );
            if (beta === 0) {
              const plain = new Float32Array(M * N);
              nb.matmul(plain, a, b, 1, M, N, K, tA, tB, 0, 0, 0);
              for (let i = 0; i < M * N; i++)
                assert.equal(withBias[i], Math.fround(plain[i] + bias[i % N]), `bias at ${i}`);
            }
          }
        }
      }
    }
  });

  ntest('matmul: batch strides incl. 0 (broadcast), tall-GEMM fold, many small GEMMs', (nb) => {
    const cases: [number, number, number, number, boolean, boolean, 'full' | 'a0' | 'b0'][] = [
      [3, 7, 5, 9, false, false, 'full'],
      [3, 7, 5, 9, true, true, 'full'],
      [4, 7, 5, 9, false, true, 'b0'], // folds into one (28, 5, 9) GEMM
      [4, 7, 5, 9, true, false, 'b0'],
      [4, 7, 5, 9, false, false, 'a0'],
      [48, 64, 64, 32, false, true, 'full'], // parallel over the batch
      [48, 64, 32, 64, false, false, 'full'],
    ];
    for (const [batch, M, N, K, tA, tB, mode] of cases) {
      const sA = mode === 'a0' ? 0 : M * K;
      const sB = mode === 'b0' ? 0 : K * N;
      const a = rand(sA === 0 ? M * K : batch * M * K);
      const b = rand(sB === 0 ? K * N : batch * K * N);
      for (const beta of [0, 1]) {
        compare(
          nb,
          `matmul batch ${batch} ${M}x${N}x${K} ${mode} tA=${tA} tB=${tB} beta=${beta}`,
          [rand(batch * M * N)],
          (be, [o]) => be.matmul(f32(o), a, b, batch, M, N, K, tA, tB, sA, sB, beta),
          { atol: 1e-6 * K + 1e-6, rtol: 1e-5 },
        );
      }
    }
  });

  ntest('binary: every op, broadcasting, permuted strides, rank 6, in place; exact', (nb) => {
    type Case = { shape: number[]; sa: number[]; sb: number[]; na: number; nb: number };
    const cases: Case[] = [
      { shape: [7, 33], sa: [33, 1], sb: [33, 1], na: 231, nb: 231 },
      { shape: [4, 3, 5], sa: [5, 0, 1], sb: [0, 5, 1], na: 20, nb: 15 },
      { shape: [7, 33], sa: [33, 1], sb: [0, 0], na: 231, nb: 1 },
      { shape: [7, 33], sa: [0, 0], sb: [1, 7], na: 1, nb: 231 }, // b is a transposed view
      {
        shape: [2, 1, 3, 2, 2, 3],
        sa: [36, 36, 12, 6, 3, 1],
        sb: [0, 0, 1, 0, 3, 0],
        na: 72,
        nb: 9,
      },
      { shape: [300, 200], sa: [200, 1], sb: [0, 1], na: 60000, nb: 200 }, // parallel
      { shape: [1, 1], sa: [1, 1], sb: [1, 1], na: 1, nb: 1 },
      { shape: [0, 5], sa: [5, 1], sb: [5, 1], na: 0, nb: 0 },
    ];
    for (const op of ['add', 'sub', 'mul', 'div'] as BinaryOp[]) {
      for (const c of cases) {
        const a = rand(c.na);
        const b = rand(c.nb, 0.5, 2);
        const n = c.shape.reduce((p, d) => p * d, 1);
        compare(
          nb,
          `binary ${op} [${c.shape}]`,
          [new Float32Array(n)],
          (be, [o]) => be.binary(op, f32(o), a, b, c.shape, c.sa, c.sb),
          EXACT,
        );
      }
      // in place: out === a
      const a = rand(40000);
      const b = rand(40000, 0.5, 2);
      const aj = a.slice();
      const an = a.slice();
      jsBackend.binary(op, aj, aj, b, [200, 200], [200, 1], [200, 1]);
      nb.binary(op, an, an, b, [200, 200], [200, 1], [200, 1]);
      assertClose(an, aj, EXACT, `binary ${op} in place`);
    }
  });

  const unaryOps: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'tanh', 'relu', 'gelu', 'geluTanh'];
  const positive = (op: UnaryOp) => op === 'log' || op === 'sqrt';

  ntest('unary: every op (1, 7, 33, 40000 elements)', (nb) => {
    for (const op of unaryOps) {
      for (const n of [1, 7, 33, 40000]) {
        const x = positive(op) ? rand(n, 0.05, 5) : rand(n, -4, 4);
        if (op === 'relu' && n > 2) x[1] = 0;
        compare(
          nb,
          `unary ${op} n=${n}`,
          [new Float32Array(n)],
          (be, [o]) => be.unary(op, f32(o), x, n),
          TOL,
        );
      }
    }
  });

  ntest("unaryBackward: every op accumulates dx += dy * op'(x)", (nb) => {
    for (const op of unaryOps) {
      for (const n of [1, 7, 33, 40000]) {
        const x = positive(op) ? rand(n, 0.05, 5) : rand(n, -4, 4);
        const y = new Float32Array(n);
        jsBackend.unary(op, y, x, n);
        const dy = rand(n);
        compare(
          nb,
          `unaryBackward ${op} n=${n}`,
          [rand(n)],
          (be, [dx]) => be.unaryBackward(op, f32(dx), dy, x, y, n),
          { atol: 1e-5, rtol: 1e-5 },
        );
        // Overwrite mode: NaN in dx must not show through; equals accumulating into zeros.
        const [over] = compare(
          nb,
          `unaryBackward overwrite ${op} n=${n}`,
          [new Float32Array(n).fill(NaN)],
          (be, [dx]) => be.unaryBackward(op, f32(dx), dy, x, y, n, false),
          { atol: 1e-5, rtol: 1e-5 },
        );
        const zeroAcc = new Float32Array(n);
        nb.unaryBackward(op, zeroAcc, dy, x, y, n);
        assert.deepEqual(over, zeroAcc, `overwrite = accumulate into zeros (${op})`);
      }
    }
  });

  ntest('scalar: every op, integer and fractional s, in place', (nb) => {
    for (const op of ['add', 'mul', 'pow', 'rsub', 'rdiv'] as ScalarOp[]) {
      for (const s of [2, 0.5, -1.3, 1 / 3, 1, 3]) {
        for (const n of [1, 33, 40000]) {
          const x = op === 'pow' || op === 'rdiv' ? rand(n, 0.1, 3) : rand(n, -3, 3);
          compare(
            nb,
            `scalar ${op} s=${s} n=${n}`,
            [new Float32Array(n)],
            (be, [o]) => be.scalar(op, f32(o), x, s, n),
            { atol: 0, rtol: 2e-7 },
          );
        }
      }
      const x = rand(100, 0.1, 3);
      compare(
        nb,
        `scalar ${op} in place`,
        [x],
        (be, [o]) => be.scalar(op, f32(o), f32(o), 0.7, 100),
        {
          atol: 0,
          rtol: 2e-7,
        },
      );
    }
  });

  ntest(
    'sumSquares: equals js in double over block boundaries; the same at 1 and 2 threads',
    (nb) => {
      const addon = loadNativeAddon();
      const before = 'error' in addon ? 2 : addon.getThreads();
      try {
        for (const n of [0, 1, 7, 16384, 16385, 100003]) {
          const x = rand(n, -3, 3);
          const want = jsBackend.sumSquares(x, n);
          nb.setThreads(2);
          const two = nb.sumSquares(x, n);
          nb.setThreads(1);
          const one = nb.sumSquares(x, n);
          assert.ok(Math.abs(two - want) <= 1e-12 * want, `n=${n}: ${two} vs ${want}`);
          assert.equal(one, two, `n=${n}: thread count`);
          if (n > 1) assert.ok(nb.sumSquares(x, n - 1) < two, 'only the first n');
        }
      } finally {
        nb.setThreads(before);
      }
      assert.throws(() => nb.sumSquares(rand(3), 4), RangeError);
    },
  );

  ntest('sum and max over the middle axis (incl. NaN and ties for max)', (nb) => {
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [3, 7, 1],
      [2, 33, 5],
      [4, 300, 1],
      [5, 17, 300],
      [64, 100, 64],
      [1, 65, 128],
      [3, 0, 2],
    ];
    for (const [outer, dim, inner] of shapes) {
      const x = rand(outer * dim * inner);
      // ties: quantize some values; a NaN in one position
      for (let i = 0; i < x.length; i += 3) x[i] = Math.round(x[i] * 2) / 2;
      compare(
        nb,
        `sum (${outer}, ${dim}, ${inner})`,
        [new Float32Array(outer * inner)],
        (be, [o]) => be.sum(f32(o), x, outer, dim, inner),
        { atol: 1e-6 * dim + 1e-7, rtol: 1e-6 },
      );
      if (x.length > 10) x[5] = NaN;
      compare(
        nb,
        `max (${outer}, ${dim}, ${inner})`,
        [new Float32Array(outer * inner), new Int32Array(outer * inner)],
        (be, [o, am]) => be.max(f32(o), i32(am), x, outer, dim, inner),
        EXACT,
      );
    }
  });

  ntest(
    'softmax / logSoftmax and backward, with -Infinity entries and an all -Infinity row',
    (nb) => {
      const shapes: [number, number][] = [
        [1, 1],
        [7, 33],
        [128, 65],
        [600, 100],
      ];
      for (const [rows, cols] of shapes) {
        const x = rand(rows * cols, -5, 5);
        if (rows > 2) {
          x[cols + 1] = -Infinity;
          x.fill(-Infinity, 2 * cols, 3 * cols); // row 2 entirely masked
        }
        const sm = compare(
          nb,
          `softmax ${rows}x${cols}`,
          [new Float32Array(rows * cols)],
          (be, [o]) => be.softmax(f32(o), x, rows, cols),
          TOL,
        )[0] as Float32Array;
        assert.ok(!hasNaN(sm), 'softmax: no NaN');
        if (rows > 2)
          assert.ok(
            sm.subarray(2 * cols, 3 * cols).every((v) => v === 0),
            'masked row zeros',
          );
        const dy = rand(rows * cols);
        compare(
          nb,
          `softmaxBackward ${rows}x${cols}`,
          [rand(rows * cols)],
          (be, [dx]) => be.softmaxBackward(f32(dx), dy, sm, rows, cols),
          TOL,
        );
        const xf = rand(rows * cols, -5, 5); // finite input for logSoftmax
        if (rows > 2) xf[cols + 1] = -Infinity;
        const ls = compare(
          nb,
          `logSoftmax ${rows}x${cols}`,
          [new Float32Array(rows * cols)],
          (be, [o]) => be.logSoftmax(f32(o), xf, rows, cols),
          TOL,
        )[0] as Float32Array;
        compare(
          nb,
          `logSoftmaxBackward ${rows}x${cols}`,
          [rand(rows * cols)],
          (be, [dx]) => be.logSoftmaxBackward(f32(dx), dy, ls, rows, cols),
          TOL,
        );
      }
    },
  );

  ntest('layerNorm forward and backward, with and without weight / bias', (nb) => {
    const shapes: [number, number][] = [
      [1, 1],
      [7, 33],
      [128, 65],
      [300, 128],
    ];
    for (const [N, C] of shapes) {
      const x = rand(N * C, -3, 5);
      for (const hasW of [true, false]) {
        for (const hasB of [true, false]) {
          const w = hasW ? rand(C, 0.5, 1.5) : null;
          const b = hasB ? rand(C) : null;
          const label = `layerNorm ${N}x${C} w=${hasW} b=${hasB}`;
          const [, mean, rstd] = compare(
            nb,
            `${label} fwd`,
            [new Float32Array(N * C), new Float32Array(N), new Float32Array(N)],
            (be, [o, m, r]) => be.layerNormForward(f32(o), f32(m), f32(r), x, w, b, N, C, 1e-5),
            [TOL, TOL, { atol: 1e-5, rtol: 1e-5 }],
          );
          const dy = rand(N * C);
          compare(
            nb,
            `${label} bwd`,
            [rand(N * C), rand(C), rand(C)],
            (be, [dx, dw, db]) =>
              be.layerNormBackward(
                f32(dx),
                hasW ? f32(dw) : null,
                hasB ? f32(db) : null,
                dy,
                x,
                w,
                f32(mean),
                f32(rstd),
                N,
                C,
              ),
            [
              { atol: 2e-5, rtol: 1e-5 },
              { atol: 2e-6 * N, rtol: 1e-5 },
              { atol: 2e-6 * N, rtol: 1e-5 },
            ],
          );
          // Overwrite mode for dx: NaN in dx must not show through.
          const [dxOver] = compare(
            nb,
            `${label} bwd overwrite`,
            [new Float32Array(N * C).fill(NaN)],
            (be, [dx]) =>
              be.layerNormBackward(
                f32(dx),
                null,
                null,
                dy,
                x,
                w,
                f32(mean),
                f32(rstd),
                N,
                C,
                false,
              ),
            { atol: 2e-5, rtol: 1e-5 },
          );
          const dxZero = new Float32Array(N * C);
          nb.layerNormBackward(dxZero, null, null, dy, x, w, f32(mean), f32(rstd), N, C);
          assert.deepEqual(dxOver, dxZero, `${label}: overwrite = accumulate into zeros`);
        }
      }
    }
  });

  ntest('embedding forward / backward with repeated ids (exact); bad ids throw', (nb) => {
    for (const [N, V, C] of [
      [33, 11, 7],
      [1, 1, 1],
      [500, 50, 128],
    ]) {
      const w = rand(V * C);
      const ids = randInt(N, V);
      if (N > 2) ids[1] = ids[0];
      compare(
        nb,
        `embeddingForward N=${N} C=${C}`,
        [new Float32Array(N * C)],
        (be, [o]) => be.embeddingForward(f32(o), w, ids, N, C),
        EXACT,
      );
      const dy = rand(N * C);
      compare(
        nb,
        `embeddingBackward N=${N} C=${C}`,
        [rand(V * C)],
        (be, [dw]) => be.embeddingBackward(f32(dw), dy, ids, N, C),
        EXACT,
      );
    }
    assert.throws(
      () => nb.embeddingForward(new Float32Array(4), rand(8), Int32Array.of(0, 4), 2, 2),
      RangeError,
    );
  });

  ntest('crossEntropy forward / backward with ignoreIndex and label smoothing', (nb) => {
    for (const [N, V] of [
      [1, 1],
      [7, 33],
      [300, 257],
    ]) {
      for (const ls of [0, 0.1]) {
        const logits = rand(N * V, -6, 6);
        const targets = randInt(N, V);
        if (N > 3) {
          targets[2] = -100;
          targets[3] = -100;
        }
        const [, lse] = compare(
          nb,
          `crossEntropyForward ${N}x${V} ls=${ls}`,
          [new Float32Array(N), new Float32Array(N)],
          (be, [l, s]) => be.crossEntropyForward(f32(l), f32(s), logits, targets, N, V, -100, ls),
          TOL,
        );
        const dl = rand(N);
        compare(
          nb,
          `crossEntropyBackward ${N}x${V} ls=${ls}`,
          [rand(N * V)],
          (be, [d]) =>
            be.crossEntropyBackward(f32(d), dl, logits, f32(lse), targets, N, V, -100, ls, true),
          TOL,
        );
        // Overwrite mode: the buffer's old contents (NaN here) must not show through.
        const [overNative] = compare(
          nb,
          `crossEntropyBackward overwrite ${N}x${V} ls=${ls}`,
          [new Float32Array(N * V).fill(NaN)],
          (be, [d]) =>
            be.crossEntropyBackward(f32(d), dl, logits, f32(lse), targets, N, V, -100, ls, false),
          TOL,
        );
        const acc = rand(N * V);
        const over = new Float32Array(N * V).fill(NaN);
        jsBackend.crossEntropyBackward(acc, dl, logits, f32(lse), targets, N, V, -100, ls, true);
        jsBackend.crossEntropyBackward(over, dl, logits, f32(lse), targets, N, V, -100, ls, false);
        assert.ok(
          over.every((x) => Number.isFinite(x)),
          'overwrite leaves no NaN (js)',
        );
        assert.ok(
          overNative.every((x) => Number.isFinite(x)),
          'overwrite leaves no NaN (native)',
        );
        // Overwriting equals accumulating into zeros.
        const zeroAcc = new Float32Array(N * V);
        jsBackend.crossEntropyBackward(
          zeroAcc,
          dl,
          logits,
          f32(lse),
          targets,
          N,
          V,
          -100,
          ls,
          true,
        );
        assert.deepEqual(over, zeroAcc);
      }
    }
  });

  type AttnCase = {
    name: string;
    BH: number;
    T: number;
    S: number;
    D: number;
    mask?: 'full' | 'headBroadcast' | 'keyPadding' | 'allMaskedRow';
    causal?: boolean;
    drop?: boolean;
  };
  const attnCases: AttnCase[] = [
    { name: 'plain', BH: 2, T: 7, S: 7, D: 5 },
    { name: 'single', BH: 1, T: 1, S: 1, D: 1 },
    { name: 'full mask', BH: 3, T: 7, S: 9, D: 5, mask: 'full' },
    { name: 'mask strideB 0', BH: 3, T: 7, S: 9, D: 5, mask: 'headBroadcast' },
    { name: 'key padding, strideT 0', BH: 4, T: 5, S: 6, D: 3, mask: 'keyPadding' },
    { name: 'causal T<S', BH: 2, T: 3, S: 7, D: 4, causal: true },
    { name: 'causal T=S + drop', BH: 2, T: 6, S: 6, D: 4, causal: true, drop: true },
    { name: 'all-masked row', BH: 2, T: 4, S: 5, D: 3, mask: 'allMaskedRow' },
    { name: 'drop + mask', BH: 2, T: 5, S: 5, D: 8, mask: 'full', drop: true },
    { name: 'BH=48 T=S=64 D=32 causal', BH: 48, T: 64, S: 64, D: 32, causal: true },
    { name: 'BH=8 T=S=33 D=16 drop', BH: 8, T: 33, S: 33, D: 16, drop: true },
  ];

  for (const c of attnCases) {
    ntest(`attention forward / backward: ${c.name}`, (nb) => {
      const { BH, T, S, D } = c;
      const q = rand(BH * T * D, -2, 2);
      const k = rand(BH * S * D, -2, 2);
      const v = rand(BH * S * D);
      let mask: Float32Array | null = null;
      let msB = 0;
      let msT = 0;
      if (c.mask === 'full' || c.mask === 'allMaskedRow') {
        mask = rand(BH * T * S);
        msB = T * S;
        msT = S;
        for (let i = 0; i < mask.length; i += 4) mask[i] = -Infinity;
        if (c.mask === 'allMaskedRow') mask.fill(-Infinity, S, 2 * S); // (b 0, t 1)
      } else if (c.mask === 'headBroadcast') {
        mask = rand(T * S);
        mask[3] = -Infinity;
        msT = S;
      } else if (c.mask === 'keyPadding') {
        mask = new Float32Array(BH * S);
        for (let b = 0; b < BH; b++) mask.fill(-Infinity, b * S + S - 1 - (b % 3), (b + 1) * S);
        msB = S;
      }
      let drop: Float32Array | null = null;
      if (c.drop) {
        const r = rand(BH * T * S, 0, 1);
        drop = r.map((u) => (u < 0.2 ? 0 : 1 / 0.8));
      }
      const scale = 1 / Math.sqrt(D);
      const causal = c.causal ?? false;
      const g = dense(BH, T, S, D, scale, { causal, maskStrideB: msB, maskStrideT: msT });
      const [out, w] = compare(
        nb,
        `attentionForward ${c.name}`,
        [new Float32Array(BH * T * D), new Float32Array(BH * T * S)],
        (be, [o, wt]) => be.attentionForward(f32(o), f32(wt), q, k, v, mask, drop, g),
        [
          { atol: 1e-5, rtol: 1e-4 },
          { atol: 1e-5, rtol: 1e-4 },
        ],
      );
      assert.ok(!hasNaN(f32(out)) && !hasNaN(f32(w)), 'no NaN');
      if (c.mask === 'allMaskedRow') {
        assert.ok(
          f32(w)
            .subarray(S, 2 * S)
            .every((x) => x === 0),
          'masked row weights 0',
        );
        assert.ok(
          f32(out)
            .subarray(D, 2 * D)
            .every((x) => x === 0),
          'masked row out 0',
        );
      }
      if (causal) assert.equal(f32(w)[S - T + 1], 0, 'causal: t=0 may not see s=S-T+1');
      const dout = rand(BH * T * D);
      const tolB = { atol: 1e-4, rtol: 1e-4 };
      compare(
        nb,
        `attentionBackward ${c.name}`,
        [rand(BH * T * D), rand(BH * S * D), rand(BH * S * D)],
        (be, [dq, dk, dv]) =>
          be.attentionBackward(f32(dq), f32(dk), f32(dv), dout, q, k, v, f32(w), drop, g),
        tolB,
      );
    });
  }

  // Head layout: q, k, v as column blocks of one packed (N, L, 3*H*D) projection (self-
  // attention) or (N, S, 2*H*D) key-value projection (cross-attention), out (N, T, H*D).
  // On every backend it must equal the dense (N*H, L, D) layout after the permutes; native
  // must also match js in the packed layout directly.
  const layoutCases = [
    { name: 'self, packed qkv, causal', N: 3, H: 4, T: 9, S: 9, D: 5, causal: true, drop: false },
    { name: 'cross, packed kv + drop', N: 2, H: 3, T: 4, S: 7, D: 6, causal: false, drop: true },
    { name: 'self, big (pool path)', N: 12, H: 4, T: 64, S: 64, D: 32, causal: true, drop: false },
  ];
  /** (N, L, ld) rows, columns [col + h*D, ...) -> dense (N*H, L, D). */
  const toDense = (
    x: Float32Array,
    N: number,
    H: number,
    L: number,
    D: number,
    ld: number,
    col: number,
  ): Float32Array => {
    const o = new Float32Array(N * H * L * D);
    for (let n = 0; n < N; n++)
      for (let h = 0; h < H; h++)
        for (let l = 0; l < L; l++)
          for (let d = 0; d < D; d++)
            o[((n * H + h) * L + l) * D + d] = x[(n * L + l) * ld + col + h * D + d];
    return o;
  };
  for (const c of layoutCases) {
    const bes: [string, Backend | null][] = [
      ['js', jsBackend],
      ['native', native],
    ];
    for (const [bname, be0] of bes) {
      test(`attention head layout equals the dense layout (${bname}): ${c.name}`, (t) => {
        if (!be0) {
          t.skip(skipReason);
          return;
        }
        const be = be0;
        const { N, H, T, S, D, causal } = c;
        const C = H * D;
        const BH = N * H;
        const self = T === S && !c.drop;
        // Packed inputs: self -> one (N, T, 3C) array; cross -> q (N, T, C) and kv (N, S, 2C).
        const qp = self ? rand(N * T * 3 * C, -2, 2) : rand(N * T * C, -2, 2);
        const kvp = self ? qp : rand(N * S * 2 * C, -2, 2);
        const ldq = self ? 3 * C : C;
        const ldkv = self ? 3 * C : 2 * C;
        const kCol = self ? C : 0;
        const vCol = self ? 2 * C : C;
        const q = toDense(qp, N, H, T, D, ldq, 0);
        const k = toDense(kvp, N, H, S, D, ldkv, kCol);
        const v = toDense(kvp, N, H, S, D, ldkv, vCol);
        const drop = c.drop ? rand(BH * T * S, 0, 1).map((u) => (u < 0.2 ? 0 : 1.25)) : null;
        const scale = 1 / Math.sqrt(D);
        const gD = dense(BH, T, S, D, scale, { causal });
        const gP = { ...gD, H, ldq, ldk: ldkv, ldv: ldkv, ldo: C }; // the packed head layout
        const outD = new Float32Array(BH * T * D);
        const wD = new Float32Array(BH * T * S);
        be.attentionForward(outD, wD, q, k, v, null, drop, gD);
        const outP = new Float32Array(N * T * C);
        const wP = new Float32Array(BH * T * S);
        be.attentionForward(outP, wP, qp, kvp.subarray(kCol), kvp.subarray(vCol), null, drop, gP);
        const exact = { atol: 1e-6, rtol: 1e-6 };
        assertClose(wP, wD, exact, 'weights');
        assertClose(toDense(outP, N, H, T, D, C, 0), outD, exact, 'out');
        // Backward: dq, dk, dv accumulate into views of one packed gradient buffer.
        const doutP = rand(N * T * C);
        const dout = toDense(doutP, N, H, T, D, C, 0);
        const dq = rand(BH * T * D);
        const dk = rand(BH * S * D);
        const dv = rand(BH * S * D);
        const gq = self ? new Float32Array(N * T * 3 * C) : new Float32Array(N * T * C);
        const gkv = self ? gq : new Float32Array(N * S * 2 * C);
        // Same initial values in the packed buffers as in the dense ones.
        const unDense = (
          src: Float32Array,
          dst: Float32Array,
          L: number,
          ld: number,
          col: number,
        ) => {
          for (let n = 0; n < N; n++)
            for (let h = 0; h < H; h++)
              for (let l = 0; l < L; l++)
                for (let d = 0; d < D; d++)
                  dst[(n * L + l) * ld + col + h * D + d] = src[((n * H + h) * L + l) * D + d];
        };
        unDense(dq, gq, T, ldq, 0);
        unDense(dk, gkv, S, ldkv, kCol);
        unDense(dv, gkv, S, ldkv, vCol);
        be.attentionBackward(dq, dk, dv, dout, q, k, v, wD, drop, gD);
        const [gk, gv] = [gkv.subarray(kCol), gkv.subarray(vCol)];
        const [kP, vP] = [kvp.subarray(kCol), kvp.subarray(vCol)];
        be.attentionBackward(gq, gk, gv, doutP, qp, kP, vP, wP, drop, gP);
        const tolG = { atol: 1e-6, rtol: 1e-6 };
        assertClose(toDense(gq, N, H, T, D, ldq, 0), dq, tolG, 'dq');
        assertClose(toDense(gkv, N, H, S, D, ldkv, kCol), dk, tolG, 'dk');
        assertClose(toDense(gkv, N, H, S, D, ldkv, vCol), dv, tolG, 'dv');
        if (bname === 'native') {
          // And native matches js in the packed layout.
          const oj = new Float32Array(N * T * C);
          const wj = new Float32Array(BH * T * S);
          jsBackend.attentionForward(
            oj,
            wj,
            qp,
            kvp.subarray(kCol),
            kvp.subarray(vCol),
            null,
            drop,
            gP,
          );
          assertClose(outP, oj, { atol: 1e-5, rtol: 1e-4 }, 'native vs js, packed');
        }
      });
    }
  }

  ntest('attention head layout: the addon rejects strides that overflow the arrays', (nb) => {
    const BH = 4;
    const [T, S, D, H] = [3, 3, 2, 2];
    const a = new Float32Array(2 * T * 3 * H * D);
    const w = new Float32Array(BH * T * S);
    // ld 3C fits a (2, 3, 3C) buffer from column 0; from column 2C it would need 2C more.
    const C = H * D;
    const g = { BH, T, S, D, H, ldq: 3 * C, ldk: 3 * C, ldv: 3 * C, ldo: C, kvRows: S, scale: 1 };
    nb.attentionForward(
      a.slice(0, 2 * T * C),
      w,
      a,
      a.subarray(C),
      a.subarray(2 * C),
      null,
      null,
      g,
    );
    const out = new Float32Array(2 * T * C);
    assert.throws(
      () => nb.attentionForward(out, w, a, a.subarray(C), a.subarray(2 * C + 1), null, null, g),
      /v has/,
    );
    assert.throws(() => nb.attentionForward(out, w, a, a, a, null, null, { ...g, H: 3 }), /H must/);
  });

  ntest('stridedCopy / stridedAccumulate: permutation, slice, broadcast (exact)', (nb) => {
    type SC = { name: string; xLen: number; shape: number[]; strides: number[]; offset: number };
    const cases: SC[] = [
      // x (2, 3, 4) permuted to (4, 2, 3)
      { name: 'permute', xLen: 24, shape: [4, 2, 3], strides: [1, 12, 4], offset: 0 },
      // x (5, 7), rows 1..3, cols 2..5
      { name: 'slice', xLen: 35, shape: [3, 4], strides: [7, 1], offset: 9 },
      // (B, T, H, D) -> (B, H, T, D), large enough to run in parallel
      {
        name: 'heads',
        xLen: 4 * 64 * 8 * 32,
        shape: [4, 8, 64, 32],
        strides: [16384, 32, 256, 1],
        offset: 0,
      },
      // x (64, 1024) transposed
      { name: 'transpose', xLen: 65536, shape: [1024, 64], strides: [1, 1024], offset: 0 },
      {
        name: 'rank 6',
        xLen: 720,
        shape: [2, 3, 1, 4, 5, 6],
        strides: [360, 120, 7, 30, 6, 1],
        offset: 0,
      },
    ];
    for (const c of cases) {
      const n = c.shape.reduce((p, d) => p * d, 1);
      const x = rand(c.xLen);
      compare(
        nb,
        `stridedCopy ${c.name}`,
        [new Float32Array(n)],
        (be, [o]) => be.stridedCopy(f32(o), x, c.shape, c.strides, c.offset),
        EXACT,
      );
      const g = rand(n);
      compare(
        nb,
        `stridedAccumulate ${c.name}`,
        [rand(c.xLen)],
        (be, [xx]) => be.stridedAccumulate(f32(xx), g, c.shape, c.strides, c.offset),
        EXACT,
      );
    }
    // broadcast read (stride 0) and accumulate into it (a reduction)
    const g = rand(3 * 40000);
    compare(
      nb,
      'stridedAccumulate stride 0',
      [rand(40000)],
      (be, [xx]) => be.stridedAccumulate(f32(xx), g, [3, 40000], [0, 1], 0),
      EXACT,
    );
    // a reduction along the innermost axis (a broadcast bias's gradient, 250 and 37 terms:
    // the native kernel sums in 16 partial sums, so equal within float rounding)
    for (const inner of [250, 37]) {
      const gi = rand(600 * inner);
      compare(
        nb,
        `stridedAccumulate inner stride 0 (${inner})`,
        [rand(600)],
        (be, [xx]) => be.stridedAccumulate(f32(xx), gi, [600, inner], [1, 0], 0),
        { atol: 1e-4, rtol: 1e-5 },
      );
    }
    assert.throws(
      () => nb.stridedCopy(new Float32Array(4), rand(4), [2, 2], [2, 1], 1),
      RangeError,
    );
  });

  ntest('adamw: with and without weight decay, steps 1 and 5', (nb) => {
    for (const n of [1, 7, 40000]) {
      for (const wd of [0, 0.01]) {
        for (const step of [1, 5]) {
          const g = rand(n);
          compare(
            nb,
            `adamw n=${n} wd=${wd} step=${step}`,
            [rand(n), rand(n, -0.1, 0.1), rand(n, 0, 0.01)],
            (be, [p, m, v]) =>
              be.adamw(f32(p), g, f32(m), f32(v), n, 1e-3, 0.9, 0.999, 1e-8, wd, step),
            { atol: 1e-7, rtol: 1e-6 },
          );
        }
      }
    }
  });

  ntest(
    'attentionBackward overwrite on a packed q/k/v buffer equals accumulating into zeros',
    (nb) => {
      const [B, H, T, D] = [2, 3, 6, 4];
      const C = H * D;
      const BH = B * H;
      const qkv = rand(B * T * 3 * C);
      const dout = rand(B * T * C);
      const drop = rand(BH * T * T, 0, 1).map((u) => (u < 0.2 ? 0 : 1.25));
      const ld = 3 * C; // q, k, v at columns 0, C, 2C of one (B, T, 3C) projection
      const layout = { H, ldq: ld, ldk: ld, ldv: ld, ldo: C, kvRows: T };
      const g: AttentionGeometry = { BH, T, S: T, D, ...layout, scale: 0.5, causal: true };
      for (const be of [jsBackend, nb]) {
        const out = new Float32Array(B * T * C);
        const w = new Float32Array(BH * T * T);
        const fwd = (): void =>
          be.attentionForward(out, w, qkv, qkv.subarray(C), qkv.subarray(2 * C), null, drop, g);
        fwd();
        const run = (dqkv: Float32Array, accumulate: boolean): Float32Array => {
          const [dk, dv] = [dqkv.subarray(C), dqkv.subarray(2 * C)];
          const [k, v] = [qkv.subarray(C), qkv.subarray(2 * C)];
          be.attentionBackward(dqkv, dk, dv, dout, qkv, k, v, w, drop, g, accumulate);
          return dqkv;
        };
        const acc = run(new Float32Array(qkv.length), true);
        const over = run(new Float32Array(qkv.length).fill(NaN), false);
        assert.ok(
          over.every((x) => Number.isFinite(x)),
          `${be.name}: every element written`,
        );
        assertClose(
          over,
          acc,
          { atol: 1e-6, rtol: 1e-6 },
          `${be.name}: overwrite = accumulate into zeros`,
        );
      }
    },
  );

  ntest('matmulDeferred: after drain, equals matmul; the caller goes on meanwhile', (nb) => {
    // A linear layer's dweight: dw (O, I) = g^T x (+ dw), queued while dx runs.
    for (const [N, I, O] of [
      [768, 128, 384],
      [7, 5, 3],
    ]) {
      const g = rand(N * O);
      const w = rand(O * I);
      const x = rand(N * I);
      for (const beta of [0, 1]) {
        const dws = [0, 1, 2].map(() => rand(O * I));
        const want = dws.map((d) => {
          const r = d.slice();
          nb.matmul(r, g, x, 1, O, I, N, true, false, 0, 0, beta);
          return r;
        });
        for (const d of dws) nb.matmulDeferred(d, g, x, O, I, N, true, false, beta);
        const dx = new Float32Array(N * I); // the caller's own work while they run
        nb.matmul(dx, g, w, 1, N, I, O, false, false, 0, 0, 0);
        nb.drain();
        dws.forEach((d, i) => assertClose(d, want[i], { atol: 1e-4, rtol: 1e-5 }, `dw ${i}`));
        const js = dws[0].slice().fill(0);
        jsBackend.matmulDeferred(js, g, x, O, I, N, true, false, 0);
        const ref = new Float32Array(O * I);
        nb.matmul(ref, g, x, 1, O, I, N, true, false, 0, 0, 0);
        assertClose(js, ref, { atol: 1e-4, rtol: 1e-5 }, `js ${N}x${I}x${O}`);
      }
    }
    nb.drain(); // nothing queued: returns at once
    assert.throws(
      () => nb.matmulDeferred(rand(3), rand(4), rand(4), 2, 2, 2, false, false, 0),
      RangeError,
    );
  });

  ntest('adamwMulti: equals adamw per tensor, blocks spanning tensors; length errors', (nb) => {
    const sizes = [1, 16383, 20000, 7, 40000, 0, 5];
    for (const wd of [0, 0.01]) {
      const ps = sizes.map((n) => rand(n));
      const gs = sizes.map((n) => rand(n));
      const ms = sizes.map((n) => rand(n, -0.1, 0.1));
      const vs = sizes.map((n) => rand(n, 0, 0.01));
      const copy = (xs: Float32Array[]): Float32Array[] => xs.map((x) => x.slice());
      const [p1, m1, v1] = [copy(ps), copy(ms), copy(vs)];
      nb.adamwMulti(p1, gs, m1, v1, 1e-3, 0.9, 0.999, 1e-8, wd, 3);
      for (let i = 0; i < sizes.length; i++) {
        const [p2, m2, v2] = [ps[i].slice(), ms[i].slice(), vs[i].slice()];
        nb.adamw(p2, gs[i], m2, v2, sizes[i], 1e-3, 0.9, 0.999, 1e-8, wd, 3);
        assert.deepEqual(p1[i], p2, `param ${i} wd=${wd}`);
        assert.deepEqual(m1[i], m2);
        assert.deepEqual(v1[i], v2);
      }
      const [p3, m3, v3] = [copy(ps), copy(ms), copy(vs)];
      jsBackend.adamwMulti(p3, gs, m3, v3, 1e-3, 0.9, 0.999, 1e-8, wd, 3);
      for (let i = 0; i < sizes.length; i++)
        assertClose(p1[i], p3[i], { atol: 1e-7, rtol: 1e-6 }, `js vs native param ${i}`);
    }
    for (const be of [nb, jsBackend]) {
      assert.throws(
        () =>
          be.adamwMulti([rand(3)], [rand(4)], [rand(3)], [rand(3)], 1e-3, 0.9, 0.999, 1e-8, 0, 1),
        RangeError,
      );
      assert.throws(
        () => be.adamwMulti([rand(3)], [], [rand(3)], [rand(3)], 1e-3, 0.9, 0.999, 1e-8, 0, 1),
        RangeError,
      );
    }
  });

  ntest('dropoutMask: the same counter-based mask as js, any length, rate p', (nb) => {
    for (const [n, p, k0, k1] of [
      [1, 0.5, 0, 0],
      [1000, 0.1, 0xffffffff, 0x12345678],
      [70001, 0.3, 0x9e3779b9, 0xdeadbeef],
      [5000, 0, 17, 4],
      [3000, 1 - 2 ** -20, 5, 6],
    ] as const) {
      const run = (be: Backend): Float32Array => {
        const out = new Float32Array(n);
        be.dropoutMask(out, n, p * 4294967296, 1 / (1 - p), k0, k1);
        return out;
      };
      const mj = run(jsBackend);
      assert.deepEqual(run(nb), mj, `mask n=${n} p=${p}`);
      const zeros = mj.reduce((c, x) => c + (x === 0 ? 1 : 0), 0);
      if (n >= 1000) assert.ok(Math.abs(zeros / n - p) < 0.03, `drop rate ${zeros / n} vs ${p}`);
    }
  });

  ntest('non-GEMM results do not depend on the thread count; GEMMs repeat exactly', (nb) => {
    // Non-GEMM kernels never split a reduction, so 1 and 2 threads agree bit for bit. A GEMM
    // split over the pool may round differently from one sgemm (OpenBLAS's blocking), so it
    // is only required to repeat exactly at a fixed thread count.
    const N = 600;
    const C = 128;
    const x = rand(N * C);
    const dy = rand(N * C);
    const ids = randInt(N, 40);
    const targets = randInt(N, C);
    const run = (): Float32Array[] => {
      const out = new Float32Array(N * C);
      const mean = new Float32Array(N);
      const rstd = new Float32Array(N);
      nb.layerNormForward(out, mean, rstd, x, null, null, N, C, 1e-5);
      const dx = new Float32Array(N * C);
      const dw = new Float32Array(C);
      const db = new Float32Array(C);
      nb.layerNormBackward(dx, dw, db, dy, x, rand(C), mean, rstd, N, C);
      const s = new Float32Array(C);
      nb.sum(s, x, 1, N, C);
      const demb = new Float32Array(40 * C);
      nb.embeddingBackward(demb, dy, ids, N, C);
      const losses = new Float32Array(N);
      nb.crossEntropyForward(losses, new Float32Array(N), x, targets, N, C, -100, 0.1);
      const mm = new Float32Array(N * 96);
      nb.matmul(mm, x, dy, 1, N, 96, C, false, true, 0, 0, 0); // (600, 96, 128): split GEMM
      return [out, dx, dw, db, s, demb, losses, mm];
    };
    const saved = seedCounter;
    const addon = loadNativeAddon();
    const before = 'error' in addon ? 2 : addon.getThreads();
    try {
      nb.setThreads(1);
      const one = run();
      seedCounter = saved;
      nb.setThreads(2);
      const two = run();
      seedCounter = saved;
      const again = run();
      for (let i = 0; i < one.length - 1; i++) {
        assertClose(two[i], one[i], EXACT, `1 vs 2 threads, result ${i}`);
      }
      for (let i = 0; i < one.length; i++) assertClose(again[i], two[i], EXACT, `repeat ${i}`);
    } finally {
      nb.setThreads(before);
    }
  });
});
