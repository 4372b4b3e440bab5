/**
 * Sparse attention over pattern parts (F.sparseMultiHeadAttentionParts,
 * src/ops/sparse-parts.ts; PatternSplit in src/attention/sparse.ts): strided and axial
 * attention split into parts whose signed union is the pattern, each run in its own order of
 * the positions, equal the readable reference under the pattern's dense mask (outputs and
 * gradients, causal and not, with key padding, on every backend) and the whole pattern's
 * kernel; bad parts are refused; the merge's native row passes equal their js versions.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Backend } from '../../src/backend/index.js';
import { jsBackend as js } from '../../src/backend/js.js';
import { loadNativeBackend } from '../../src/backend/native.js';
import { Generator } from '../../src/random.js';
import { randn } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { SparsePatternCore, createAttentionCore } from '../../src/attention/index.js';
import { blockMajor, gridColumns } from '../../src/attention/patterns/extended.js';
import { eachBackend, maxAbsDiff } from '../helpers.js';
import {
  C,
  D,
  H,
  assertOutAndGradClose,
  coreOutAndGrad,
  dims,
  maskOfCsr,
  padBias,
} from './helpers.js';

describe('sparse attention over pattern parts', () => {
  test('strided and axial run as parts whose signed union is the pattern (disjoint under dropout), the grid column in column order; image-block visits queries block by block; all equal the masked reference', () => {
    assert.deepEqual([...gridColumns(7, 3)], [0, 3, 6, 1, 4, 2, 5]);
    // image-block's order: 2x2 query blocks of a width-4 grid, the last grid row partial
    assert.deepEqual([...blockMajor(10, 4, 2, 2)], [0, 1, 4, 5, 2, 3, 6, 7, 8, 9]);
    const ref = createAttentionCore('reference', dims);
    const imageBlock =
      'image-block:width=4,query-height=2,query-width=2,memory-height=1,memory-width=1';
    // Split from SPLIT_MIN_COLUMN (32) grid rows: 64 positions at width or stride 2.
    for (const spec of ['axial:width=2', 'strided:stride=2', imageBlock]) {
      const core = createAttentionCore(spec, dims) as SparsePatternCore;
      for (const T of [40, 70])
        for (const causal of [false, true])
          for (const signed of [true, false]) {
            const parts = core.parts(T, causal, signed);
            if (spec === imageBlock || T < 64) {
              assert.equal(parts, null, `${spec} T ${T}: the whole pattern`);
              continue;
            }
            assert.equal(
              parts!.some((p) => p.sign === -1),
              signed,
            );
            // Each part's (query, key) pairs back in positions, counted with the part's sign:
            // 1 on every pair of the pattern, 0 elsewhere.
            const count = new Map<number, number>();
            for (const { pattern, order, sign } of parts!) {
              const pos = (x: number): number => (order ? order[x] : x);
              for (let t = 0; t < T; t++)
                for (let e = pattern.rowPtr[t]; e < pattern.rowPtr[t + 1]; e++) {
                  const pair = pos(t) * T + pos(pattern.cols[e]);
                  count.set(pair, (count.get(pair) ?? 0) + (sign ?? 1));
                  // disjoint parts: no pair twice
                  if (!signed) assert.equal(count.get(pair), 1, `${spec}: pair ${pair} twice`);
                }
            }
            const whole = core.pattern(T, causal);
            const inPattern = new Set<number>();
            for (let t = 0; t < T; t++)
              for (let e = whole.rowPtr[t]; e < whole.rowPtr[t + 1]; e++)
                inPattern.add(t * T + whole.cols[e]);
            for (const [pair, n] of count)
              assert.equal(
                n,
                inPattern.has(pair) ? 1 : 0,
                `${spec} T ${T}: pair ${pair} counted ${n}`,
              );
            for (const pair of inPattern)
              assert.ok(count.has(pair), `${spec}: pair ${pair} missing`);
            // The grid column's keys of a query are one contiguous range in the column order
            // (the whole column when signed).
            const col = parts![1].pattern;
            if (spec === 'axial:width=2')
              for (let t = 0; t < T; t++) {
                const [e0, e1] = [col.rowPtr[t], col.rowPtr[t + 1]];
                assert.equal(col.cols[e1 - 1] - col.cols[e0], e1 - e0 - 1, `axial column row ${t}`);
              }
          }
      for (const T of [40, 70])
        eachBackend(() => {
          const qkv = randn([2, T, 3 * C], new Generator(T));
          const pad = padBias(2, T, [0, 5]);
          for (const causal of [false, true]) {
            const mask = maskOfCsr(core, T, causal);
            const a = coreOutAndGrad(core, qkv, { causal, bias: pad });
            const b = coreOutAndGrad(ref, qkv, { bias: F.add(pad, mask) });
            assertOutAndGradClose(a, b);
          }
        });
    }
  });

  test('q, k and v as three tensors (gathered column by column) equal them packed in one (gathered whole)', () => {
    const core = createAttentionCore('axial:width=2', dims) as SparsePatternCore;
    const T = 70;
    eachBackend(() => {
      const qkv0 = randn([2, T, 3 * C], new Generator(9));
      const pad = padBias(2, T, [0, 9]);
      const packed = qkv0.clone().requiresGrad_(true);
      const a = F.sparseMultiHeadAttentionParts(
        packed,
        packed,
        packed,
        H,
        D,
        { q: 0, k: C, v: 2 * C },
        core.parts(T, true)!,
        { bias: pad },
      );
      const [q, k, v] = [0, 1, 2].map((i) =>
        F.slice(qkv0, 2, i * C, (i + 1) * C)
          .clone()
          .requiresGrad_(true),
      );
      const b = F.sparseMultiHeadAttentionParts(q, k, v, H, D, {}, core.parts(T, true)!, {
        bias: pad,
      });
      const w = randn(a.shape, new Generator(10));
      F.sum(F.mul(a, w)).backward();
      F.sum(F.mul(b, w)).backward();
      assert.ok(maxAbsDiff(a.f32, b.f32) < 1e-6, 'out');
      const split = F.concat(
        [q.grad!, k.grad!, v.grad!].map((g) => g),
        2,
      );
      assert.ok(maxAbsDiff(packed.grad!.f32, split.f32) < 1e-6, 'gradients');
    });
  });

  test('parts equal the whole pattern under key padding, a fully padded batch row included (out 0, no gradient); bad parts are refused', () => {
    for (const spec of ['axial:width=2', 'strided:stride=2'])
      for (const causal of [false, true])
        eachBackend(() => {
          const core = createAttentionCore(spec, dims) as SparsePatternCore;
          const T = 70;
          const pad = padBias(2, T, [3, T]); // batch row 1: every key padded
          const run = (parts: boolean): Float32Array[] => {
            const qkv = randn([2, T, 3 * C], new Generator(6)).requiresGrad_(true);
            const cols = { q: 0, k: C, v: 2 * C };
            const out = parts
              ? F.sparseMultiHeadAttentionParts(qkv, qkv, qkv, H, D, cols, core.parts(T, causal)!, {
                  bias: pad,
                })
              : F.sparseMultiHeadAttention(qkv, qkv, qkv, H, D, cols, core.pattern(T, causal), {
                  bias: pad,
                }).out;
            F.sum(F.mul(out, randn(out.shape, new Generator(7)))).backward();
            return [out.f32.slice(), qkv.grad!.f32.slice()];
          };
          const [a, b] = [run(true), run(false)];
          assert.ok(a[0].every(Number.isFinite) && a[1].every(Number.isFinite), `${spec}: finite`);
          assert.ok(
            a[0].subarray(T * C).every((x) => x === 0),
            `${spec}: padded row's out 0`,
          );
          assert.ok(maxAbsDiff(a[0], b[0]) < 1e-5 && maxAbsDiff(a[1], b[1]) < 1e-5, spec);
        });
    const core = createAttentionCore('axial:width=2', dims) as SparsePatternCore;
    const parts = core.parts(70, false)!;
    const qkv = randn([1, 70, 3 * C], new Generator(8));
    const call = (p: F.PatternPart[]) => () =>
      F.sparseMultiHeadAttentionParts(qkv, qkv, qkv, H, D, { k: C, v: 2 * C }, p);
    const twice = parts[1].order!.slice();
    twice[0] = twice[1]; // not a permutation
    assert.throws(call([parts[0], { ...parts[1], order: twice }]), /permutations of \[0, L\)/);
    assert.throws(call([parts[0], { ...parts[1], sign: 2 as 1 }]), /signs \+-1/);
    assert.throws(
      () =>
        F.sparseMultiHeadAttentionParts(qkv, qkv, qkv, H, D, { k: C, v: 2 * C }, parts, {
          dropoutP: 0.1,
        }),
      /sign -1 cannot take dropout/,
    );
  });
});

describe('the parts row passes: native equals js', () => {
  const loaded = loadNativeBackend();
  const native: Backend | null = 'backend' in loaded ? loaded.backend : null;
  test(
    'the parts row passes (headRowsScale, headRowsDot, lseMergeWeights) equal js, and refuse a short array or a row index out of range',
    { skip: !native },
    () => {
      const [B, L, nh, d] = [2, 7, 3, 5];
      const gen = new Generator(21);
      const x = randn([B * L * nh * d], gen).f32;
      const y = randn([B * L * nh * d], gen).f32;
      const alpha = randn([B * nh * L], gen).f32;
      const rows = Int32Array.from([3, 0, 6, 1, 1, 5, 2]);
      for (const accumulate of [false, true]) {
        const [a, b] = [0, 1].map(() => Float32Array.from(y));
        js.headRowsScale(a, x, rows, alpha, accumulate, B, L, nh, d);
        native!.headRowsScale(b, x, rows, alpha, accumulate, B, L, nh, d);
        assert.ok(maxAbsDiff(a, b) < 1e-6);
        // by hand: row 0 of batch 1, head 2, column 4 reads row rows[0] = 3
        const at = (n: number, t: number, h: number, c: number): number =>
          ((n * L + t) * nh + h) * d + c;
        const want =
          (accumulate ? y[at(1, 0, 2, 4)] : 0) + alpha[(1 * nh + 2) * L + 0] * x[at(1, 3, 2, 4)];
        assert.ok(Math.abs(a[at(1, 0, 2, 4)] - want) < 1e-6);
      }
      const [p, q] = [new Float32Array(B * nh * L), new Float32Array(B * nh * L)];
      js.headRowsDot(p, x, y, B, L, nh, d);
      native!.headRowsDot(q, x, y, B, L, nh, d);
      assert.ok(maxAbsDiff(p, q) < 1e-5);
      let dot = 0;
      for (let c = 0; c < d; c++)
        dot += x[((1 * L + 4) * nh + 1) * d + c] * y[((1 * L + 4) * nh + 1) * d + c];
      assert.ok(Math.abs(p[(1 * nh + 1) * L + 4] - dot) < 1e-5);
      // lseMergeWeights: a part of sign -1, an all-forbidden query, a NaN
      const [P, N] = [3, 5];
      const lse = Float32Array.from([
        ...[0.5, -Infinity, 2, 1, NaN],
        ...[1.5, -Infinity, -1, 3, 0],
        ...[-0.5, -Infinity, -3, -Infinity, 0],
      ]);
      const signs = Float32Array.from([1, 1, -1]);
      const [wa, wb] = [new Float32Array(P * N), new Float32Array(P * N)];
      js.lseMergeWeights(wa, lse, signs, P, N);
      native!.lseMergeWeights(wb, lse, signs, P, N);
      for (let i = 0; i < P * N; i++)
        assert.ok(
          Math.abs(wa[i] - wb[i]) < 1e-6 || (Number.isNaN(wa[i]) && Number.isNaN(wb[i])),
          `lseMergeWeights entry ${i}: js ${wa[i]}, native ${wb[i]}`,
        );
      // by hand, query 0: sign_p exp(l_p) / (exp(0.5) + exp(1.5) - exp(-0.5))
      const z = Math.exp(0.5) + Math.exp(1.5) - Math.exp(-0.5);
      assert.ok(Math.abs(wa[0] - Math.exp(0.5) / z) < 1e-6);
      assert.ok(Math.abs(wa[2 * N] + Math.exp(-0.5) / z) < 1e-6);
      assert.deepEqual([wa[1], wa[N + 1], wa[2 * N + 1]], [0, 0, 0]); // every key forbidden
      assert.ok(Number.isNaN(wa[4]) && Number.isNaN(wa[N + 4])); // a NaN lse
      assert.throws(
        () => native!.lseMergeWeights(new Float32Array(P * N - 1), lse, signs, P, N),
        /alpha/,
      );
      const bad = Int32Array.from([3, 0, 7, 1, 1, 5, 2]);
      assert.throws(
        () => native!.headRowsScale(new Float32Array(x.length), x, bad, alpha, false, B, L, nh, d),
        /rows must be in \[0, L\)/,
      );
    },
  );
});
