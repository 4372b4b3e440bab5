/**
 * The sparse attention kernels (issue #12): the native backend's forward and backward equal
 * the js specification (src/backend/js-sparse.ts) on patterns that take each of the native
 * kernel's paths (runs by GEMMs, read in place or gathered; band and mixed masked blocks; the
 * row path), with a per-key bias, dropout, a given Delta and NaN inputs; bad patterns are
 * refused before anything is read.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Backend } from '../../src/backend/index.js';
import { jsBackend as js } from '../../src/backend/js.js';
import { loadNativeBackend } from '../../src/backend/native.js';
import { Generator } from '../../src/random.js';
import { randn, rand } from '../../src/tensor.js';
import { maxAbsDiff } from '../helpers.js';
import { D, H } from './helpers.js';

/**
 * Both kernels of one backend on a packed (B, L, 3 nh d) q/k/v buffer and the pattern `rows`
 * (the keys of each query), with a per-key bias and (unless `dropout` is false) a dropout mask.
 */
function kernels(
  be: Backend,
  nh: number,
  d: number,
  B: number,
  S: number,
  rows: number[][],
  poison?: { key: number; part: 'k' | 'v' } | null,
  delta = false,
  dropout = true,
) {
  const T = rows.length;
  const c = nh * d;
  const g = { BH: B * nh, T, S, D: d, H: nh, ldq: 3 * c, ldk: 3 * c, ldv: 3 * c, ldo: c };
  const geom = { ...g, kvRows: S, scale: 0.4, maskStrideB: S };
  const rowPtr = new Int32Array(T + 1);
  rows.forEach((r, t) => (rowPtr[t + 1] = rowPtr[t] + r.length));
  const cols = Int32Array.from(rows.flat());
  const nnz = cols.length;
  const gen = new Generator(3);
  const q = randn([B * Math.max(T, S) * 3 * c], gen).f32;
  const [k, v] = [q.subarray(c), q.subarray(2 * c)];
  // A NaN in one head's key or value row of the last batch row (NaN for NaN with js).
  if (poison) q[((B - 1) * S + poison.key) * 3 * c + (poison.part === 'k' ? c : 2 * c) + 1] = NaN;
  const bias = randn([B * nh * S], gen).f32;
  bias[3] = -Infinity; // a forbidden key
  const keep = Float32Array.from(rand([B * nh * nnz], gen).f32, (u) => (u < 0.3 ? 0 : 1 / 0.7));
  const drop = dropout ? keep : null;
  const dout = randn([B * T * c], gen).f32;
  const out = new Float32Array(B * T * c);
  const w = new Float32Array(B * nh * nnz);
  const lse = new Float32Array(B * nh * T).fill(7); // every element written
  be.sparseAttentionForward(out, w, q, k, v, rowPtr, cols, bias, drop, geom, lse);
  const dqkv = new Float32Array(q.length).fill(0.5); // accumulates onto what is there
  const [dk, dv] = [dqkv.subarray(c), dqkv.subarray(2 * c)];
  // A caller's Delta per row (in place of sum(dP P)) when asked: any values will do here.
  const deltas = delta ? randn([B * nh * T], new Generator(8)).f32 : null;
  be.sparseAttentionBackward(dqkv, dk, dv, dout, q, k, v, rowPtr, cols, w, drop, geom, deltas);
  return { out, w, lse, dqkv, q, bias, rowPtr, cols, geom };
}

describe('sparse attention kernels: native equals js', () => {
  const loaded = loadNativeBackend();
  const native: Backend | null = 'backend' in loaded ? loaded.backend : null;
  const cases: [string, number, number, number, number, number[][]][] = [
    // Rows: some empty, one with the forbidden key; sorted distinct columns.
    [
      'small, empty rows',
      H,
      D,
      2,
      9,
      [[0, 3], [], [1, 2, 5, 8], [4], [0, 1, 2, 3, 4, 5, 6, 7, 8], [], [7, 8]],
    ],
    // Big enough for the pool to split 3 slices over 2 threads (a chunk starts mid-batch).
    [
      'pool-sized, 3 heads',
      3,
      8,
      1,
      64,
      Array.from({ length: 64 }, (_, t) =>
        Array.from({ length: 64 }, (_, j) => j).filter((j) => (j * 7 + t * 3) % 5 < 3),
      ),
    ],
    // Runs of rows with equal keys take the GEMM path of the native kernel.
    [
      'runs of rows sharing their keys',
      H,
      D,
      2,
      9,
      [
        [0, 2, 5],
        [0, 2, 5],
        [0, 2, 5],
        [1],
        [],
        [],
        [3, 4, 6, 7, 8],
        [3, 4, 6, 7, 8],
        [3, 4, 6, 7, 8],
        [3, 4, 6, 7, 8],
      ],
    ],
    // Rows extending the previous row's keys (causal blocks) form runs too.
    [
      'runs of rows extending their keys',
      H,
      D,
      2,
      9,
      [[1], [1, 2], [1, 2, 3], [0], [0, 4], [0, 4, 5, 8], [], [6]],
    ],
    [
      'pool-sized block pattern, 3 heads',
      3,
      8,
      1,
      64,
      Array.from({ length: 64 }, (_, t) =>
        [0, ...Array.from({ length: 8 }, (_, j) => (t & ~7) + j)].filter(
          (j, x, a) => a.indexOf(j) === x,
        ),
      ),
    ],
  ];
  // Rows that are not runs take the masked-block path (blocks of 32 rows): keys attended by
  // >= 1/4 of a block's rows by GEMMs, the others entry by entry; random rows share no key.
  const L = 96;
  const band = (t: number, w: number): number[] =>
    Array.from({ length: 2 * w + 1 }, (_, j) => t - w + j).filter((j) => j >= 0 && j < L);
  const strided = (t: number): number[] =>
    [
      ...new Set([...band(t, 6), ...Array.from({ length: L / 16 }, (_, j) => (t % 16) + 16 * j)]),
    ].sort((x, y) => x - y);
  const random = (t: number): number[] =>
    [...new Set(Array.from({ length: 4 }, (_, j) => (t * 37 + j * 53 + ((t * j) % 7)) % L))].sort(
      (x, y) => x - y,
    );
  const span = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, j) => a + j);
  // Runs whose key lists are equal but not adjacent in row order (an image block's grid
  // rows): the kernel gathers their keys once and sums their dk, dv before one scatter.
  const keysA = [...Array.from({ length: 12 }, (_, j) => j), 30, 31, 32, 33, 34, 35];
  const keysB = Array.from({ length: 16 }, (_, j) => 5 + j);
  cases.push(
    [
      'runs with equal key lists, apart in row order',
      2,
      8,
      2,
      48,
      Array.from({ length: 48 }, (_, t) => (Math.floor(t / 2) % 2 === 0 ? keysA : keysB)),
    ],
    // Runs whose keys are a few ranges of >= 32 consecutive keys read them in place (no
    // gather; dk, dv added in place): two ranges, one range, and causal runs extending theirs.
    [
      'runs reading long key ranges in place',
      2,
      8,
      2,
      160,
      Array.from({ length: 48 }, (_, t) =>
        t < 16
          ? [...span(0, 40), ...span(80, 120)]
          : t < 32
            ? span(40, 120)
            : span(60, 93 + (t - 32)),
      ),
    ],
    [
      'masked blocks: a band of 13 keys, shared but at block edges',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => band(t, 6)),
    ],
    // A band block takes the band path (each row's segment softmaxed in place of its scores)
    // with empty rows among its rows too.
    [
      'masked blocks: a band with empty rows',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => (t % 5 === 2 ? [] : band(t, 6))),
    ],
    [
      'masked blocks: a band and strided far keys (unshared)',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => strided(t)),
    ],
    // Dilated keys: shared, at consecutive positions of the block's keys but not consecutive
    // keys (segments by position); empty rows inside the blocks; one far key each.
    [
      'masked blocks: dilated keys, empty rows, a far key',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) =>
        t % 7 === 3
          ? []
          : [
              ...new Set([
                ...Array.from({ length: 7 }, (_, j) => t - 6 + 2 * j).filter(
                  (j) => j >= 0 && j < L,
                ),
                (t * 5 + 40) % L,
              ]),
            ].sort((x, y) => x - y),
      ),
    ],
    [
      'masked blocks: random keys, none shared (row by row)',
      2,
      8,
      2,
      L,
      Array.from({ length: L }, (_, t) => random(t)),
    ],
  );
  for (const [what, nh, d, B, S, rows] of cases)
    test(
      `forward and backward (${what}) with bias, with and without dropout; row log-sum-exps; a given Delta`,
      { skip: !native },
      () => {
        const a = kernels(js, nh, d, B, S, rows);
        const b = kernels(native!, nh, d, B, S, rows);
        assert.ok(a.out.some((x) => x !== 0));
        assert.ok(maxAbsDiff(a.out, b.out) < 1e-5, `out ${maxAbsDiff(a.out, b.out)}`);
        assert.ok(maxAbsDiff(a.w, b.w) < 1e-6, `weights ${maxAbsDiff(a.w, b.w)}`);
        assert.ok(maxAbsDiff(a.dqkv, b.dqkv) < 1e-5, `grads ${maxAbsDiff(a.dqkv, b.dqkv)}`);
        // lse: log sum exp of the row's scores (float64 here), -Infinity for an empty row.
        const c = nh * d;
        for (let bh = 0; bh < B * nh; bh++)
          for (let t = 0; t < rows.length; t++) {
            const [n, h] = [Math.floor(bh / nh), bh % nh];
            let sum = 0;
            for (const s of rows[t]) {
              let dot = 0;
              for (let x = 0; x < d; x++)
                dot +=
                  a.q[(n * rows.length + t) * 3 * c + h * d + x] *
                  a.q[(n * S + s) * 3 * c + c + h * d + x];
              sum += Math.exp(dot * 0.4 + a.bias[bh * S + s]);
            }
            const want = Math.log(sum);
            for (const got of [a.lse[bh * rows.length + t], b.lse[bh * rows.length + t]])
              assert.ok(
                want === -Infinity ? got === -Infinity : Math.abs(got - want) < 1e-4,
                `lse ${bh}, ${t}: ${got} vs ${want}`,
              );
          }
        const x = kernels(js, nh, d, B, S, rows, null, true);
        const y = kernels(native!, nh, d, B, S, rows, null, true);
        assert.ok(maxAbsDiff(x.dqkv, a.dqkv) > 1e-3, 'the given Delta changed the gradients');
        assert.ok(
          maxAbsDiff(x.dqkv, y.dqkv) < 1e-5,
          `grads with Delta ${maxAbsDiff(x.dqkv, y.dqkv)}`,
        );
        // Without dropout the native run path reads P from its own copy of the weights.
        const e = kernels(js, nh, d, B, S, rows, null, false, false);
        const f = kernels(native!, nh, d, B, S, rows, null, false, false);
        assert.ok(maxAbsDiff(e.dqkv, a.dqkv) > 1e-3, 'dropout changed the gradients');
        assert.ok(maxAbsDiff(e.out, f.out) < 1e-5, `out, no dropout ${maxAbsDiff(e.out, f.out)}`);
        assert.ok(
          maxAbsDiff(e.dqkv, f.dqkv) < 1e-5,
          `grads, no dropout ${maxAbsDiff(e.dqkv, f.dqkv)}`,
        );
      },
    );

  for (const part of ['k', 'v'] as const)
    test(
      `masked blocks: a NaN in a ${part} row spreads exactly as in js (row by row)`,
      { skip: !native },
      () => {
        const rows = Array.from({ length: L }, (_, t) => band(t, 6));
        const a = kernels(js, 2, 8, 2, L, rows, { key: 40, part });
        const b = kernels(native!, 2, 8, 2, L, rows, { key: 40, part });
        const same = (x: Float32Array, y: Float32Array, tol: number): boolean =>
          x.every((xi, i) => (Number.isNaN(xi) ? Number.isNaN(y[i]) : Math.abs(xi - y[i]) < tol));
        const nan = (x: Float32Array): number => x.filter(Number.isNaN).length;
        assert.ok(nan(part === 'v' ? a.out : a.dqkv) > 0, 'the NaN reaches the outputs');
        assert.ok(same(a.out, b.out, 1e-5), `out: ${nan(a.out)} vs ${nan(b.out)} NaN`);
        assert.ok(same(a.w, b.w, 1e-6), 'weights');
        assert.ok(same(a.dqkv, b.dqkv, 1e-5), `grads: ${nan(a.dqkv)} vs ${nan(b.dqkv)} NaN`);
      },
    );

  test('a bad pattern throws instead of reading out of bounds', { skip: !native }, () => {
    const { q, rowPtr, cols, geom } = kernels(js, H, D, 1, 4, [
      [0, 1],
      [2, 3],
    ]);
    const bad = Int32Array.from(cols, (c, i) => (i === 2 ? 4 : c));
    const call = (rp: Int32Array, cs: Int32Array): void =>
      native!.sparseAttentionForward(
        new Float32Array(64),
        new Float32Array(64),
        q,
        q,
        q,
        rp,
        cs,
        null,
        null,
        geom,
      );
    assert.doesNotThrow(() => call(rowPtr, cols));
    // a row may start below the last row's keys; an empty row between them changes nothing
    assert.doesNotThrow(() => call(rowPtr, Int32Array.from([2, 3, 0, 1])));
    assert.doesNotThrow(() => call(Int32Array.from([0, 0, 4]), Int32Array.from([0, 1, 2, 3])));
    assert.throws(() => call(rowPtr, bad), /cols must be in \[0, S\)/);
    assert.throws(() => call(rowPtr, Int32Array.from([0, 1, 2, 4])), /cols must be in \[0, S\)/);
    assert.throws(() => call(rowPtr, Int32Array.from([-1, 1, 2, 3])), /cols must be in \[0, S\)/);
    assert.throws(() => call(Int32Array.from([0, 3, 2]), cols), /non-decreasing/);
    // a row's keys out of order or repeated (the block paths read them as a sorted set)
    assert.throws(() => call(rowPtr, Int32Array.from([1, 0, 2, 3])), /strictly ascending/);
    assert.throws(() => call(rowPtr, Int32Array.from([0, 1, 2, 2])), /strictly ascending/);
    assert.throws(() => call(Int32Array.from([0, 2]), cols), /rowPtr/);
  });
});
