/**
 * NaN in an input (issue #11.9), on every backend: a softmax or attention row whose scores
 * hold a NaN gives NaN, a row whose keys are all masked (-Infinity) gives zeros, and a
 * weight of 0 still multiplies its value row (0 * NaN = NaN, as the native GEMMs and
 * PyTorch compute it). Also: a GEMM's 0 * NaN is NaN (the js reference used to skip zero
 * entries), relu keeps NaN (both backends made it 0), layerNorm / logSoftmax / crossEntropy
 * confine a NaN to its row (an ignored target's row gives 0), the fused multiHeadAttention to
 * its head and row, and attentionOverCache never reads the cache rows past S. Each case
 * checks the exact NaN pattern on each backend, and the finite elements against js.
 *
 * Shape letters: BH slices, T queries, S keys, D head width.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { availableBackends, tryNativeBackend } from '../../src/backend/index.js';
import { jsBackend } from '../../src/backend/js.js';
import type { AttentionGeometry, Backend } from '../../src/backend/types.js';
import * as F from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor.js';
import { withBackend } from '../../src/backend/index.js';

const backendOf = (name: 'js' | 'native'): Backend =>
  name === 'js' ? jsBackend : (tryNativeBackend() as Backend);

/** Which elements are NaN, as a string of '.' and 'N' (readable in a failure). */
const nanPattern = (a: ArrayLike<number>): string =>
  Array.from(a, (x) => (Number.isNaN(x) ? 'N' : '.')).join('');

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function assertFiniteClose(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(nanPattern(got), nanPattern(want), `${what}: NaN positions`);
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(want[i])) continue;
    assert.ok(Math.abs(got[i] - want[i]) <= 1e-5 + 1e-4 * Math.abs(want[i]), `${what}[${i}]`);
  }
}

const NaN_ = Number.NaN;
const NEG = -Infinity;

for (const name of availableBackends()) {
  describe(`NaN propagation (${name} backend)`, () => {
    const be = backendOf(name);

    test('softmax: a row with a NaN is NaN; a row of -Infinity is zeros', () => {
      const cols = 5;
      // rows: all NaN; one NaN; -inf and NaN; all -inf; plain; +inf
      const x = Float32Array.from([
        ...[NaN_, NaN_, NaN_, NaN_, NaN_],
        ...[0.5, NaN_, 1, -2, 0],
        ...[NEG, NEG, NaN_, NEG, NEG],
        ...[NEG, NEG, NEG, NEG, NEG],
        ...[0.1, 0.2, 0.3, 0.4, 0.5],
        ...[Infinity, 0, 0, 0, 0],
      ]);
      const rows = x.length / cols;
      const out = new Float32Array(x.length).fill(7);
      be.softmax(out, x, rows, cols);
      assert.equal(
        nanPattern(out),
        'NNNNN' + 'NNNNN' + 'NNNNN' + '.....' + '.....' + 'NNNNN',
        'NaN rows',
      );
      assert.deepEqual(Array.from(out.subarray(15, 20)), [0, 0, 0, 0, 0], 'masked row zeros');
      const plain = out.subarray(20, 25).reduce((s, v) => s + v, 0);
      assert.ok(Math.abs(plain - 1) < 1e-6, 'plain row sums to 1');
      // In place (out = x), as attention runs it.
      const y = x.slice();
      be.softmax(y, y, rows, cols);
      assert.equal(nanPattern(y), nanPattern(out), 'in place');
    });

    test('attentionForward: NaN score rows give NaN, masked rows give 0, 0 * NaN value is NaN', () => {
      const [BH, T, S, D] = [2, 4, 6, 3];
      const q = values(BH * T * D, 1);
      const k = values(BH * S * D, 2);
      const v = values(BH * S * D, 3);
      q[(0 * T + 1) * D + 2] = NaN_; // slice 0, query 1: its whole score row is NaN
      const mask = new Float32Array(BH * T * S);
      mask[(0 * T + 2) * S + 4] = NaN_; // slice 0, query 2: one NaN score
      mask.fill(NEG, (0 * T + 3) * S, (0 * T + 4) * S); // slice 0, query 3: fully masked
      mask.fill(NEG, (1 * T + 0) * S, (1 * T + 1) * S); // slice 1, query 0: fully masked
      mask[(1 * T + 1) * S + 5] = NEG; // slice 1, query 1: key 5 masked, whose v is NaN
      v[(1 * S + 5) * D + 0] = NaN_;
      const dense = { H: 1, ldq: D, ldk: D, ldv: D, ldo: D, kvRows: S };
      const g: AttentionGeometry = {
        BH,
        T,
        S,
        D,
        ...dense,
        scale: 0.5,
        maskStrideB: T * S,
        maskStrideT: S,
      };
      const run = (b: Backend): [Float32Array, Float32Array] => {
        const out = new Float32Array(BH * T * D).fill(7);
        const w = new Float32Array(BH * T * S).fill(7);
        b.attentionForward(out, w, q, k, v, mask, null, g);
        return [out, w];
      };
      const [out, w] = run(be);
      const rowOf = (a: Float32Array, b: number, t: number, n: number) =>
        a.subarray((b * T + t) * n, (b * T + t + 1) * n);
      for (const t of [1, 2]) {
        assert.equal(nanPattern(rowOf(w, 0, t, S)), 'N'.repeat(S), `weights of NaN row ${t}`);
        assert.equal(nanPattern(rowOf(out, 0, t, D)), 'N'.repeat(D), `out of NaN row ${t}`);
      }
      assert.deepEqual(Array.from(rowOf(w, 0, 3, S)), new Array(S).fill(0), 'masked row weights');
      assert.deepEqual(Array.from(rowOf(out, 0, 3, D)), new Array(D).fill(0), 'masked row out');
      assert.ok(!rowOf(w, 0, 0, S).some(Number.isNaN), 'a clean row stays finite');
      // Slice 1 reads v[5] (NaN in column 0) with weight 0 in every row: column 0 is NaN.
      assert.equal(rowOf(w, 1, 1, S)[5], 0, 'masked key weight 0');
      for (let t = 0; t < T; t++)
        assert.equal(nanPattern(rowOf(out, 1, t, D)), 'N..', `slice 1 row ${t}: 0 * NaN`);
      const [outJs, wJs] = run(jsBackend);
      assertFiniteClose(out, outJs, 'out vs js');
      assertFiniteClose(w, wJs, 'weights vs js');
    });

    test('attentionBackward: a NaN weight row gives NaN gradients, masked keys add nothing', () => {
      const [BH, T, S, D] = [1, 3, 4, 2];
      const q = values(T * D, 4);
      const k = values(S * D, 5);
      const v = values(S * D, 6);
      const dout = values(T * D, 7);
      const dense = { H: 1, ldq: D, ldk: D, ldv: D, ldo: D, kvRows: S };
      const g: AttentionGeometry = { BH, T, S, D, ...dense, scale: 1 };
      // row 0 plain, row 1 NaN, row 2 fully masked (weights 0)
      const w = Float32Array.from([0.1, 0.2, 0.3, 0.4, ...[NaN_, NaN_, NaN_, NaN_], 0, 0, 0, 0]);
      const run = (b: Backend): Float32Array[] => {
        const grads = [new Float32Array(T * D), new Float32Array(S * D), new Float32Array(S * D)];
        b.attentionBackward(grads[0], grads[1], grads[2], dout, q, k, v, w, null, g);
        return grads;
      };
      const [dq, dk, dv] = run(be);
      assert.equal(nanPattern(dq), '..NN..', 'dq: only the NaN row');
      assert.deepEqual(Array.from(dq.subarray(4)), [0, 0], 'dq of the masked row is 0');
      assert.equal(nanPattern(dk), 'N'.repeat(S * D), 'dk: every key sees the NaN row');
      assert.equal(nanPattern(dv), 'N'.repeat(S * D), 'dv: every key sees the NaN row');
      const want = run(jsBackend);
      [dq, dk, dv].forEach((a, i) => assertFiniteClose(a, want[i], `grad ${i} vs js`));
    });

    test('scaledDotProductAttention: a NaN query row is NaN, a fully masked row is 0', () => {
      withBackend(name, () => {
        const [T, S, D] = [3, 4, 2];
        const qd = values(T * D, 8);
        qd[0] = NaN_;
        const q = new Tensor(qd, [1, T, D]);
        const k = new Tensor(values(S * D, 9), [1, S, D]);
        const v = new Tensor(values(S * D, 10), [1, S, D]);
        // Query 2 may attend to nothing (a boolean mask: 1 = masked).
        const m = new Uint8Array(T * S);
        m.fill(1, 2 * S, 3 * S);
        const mask = new Tensor(m, [1, T, S]);
        const { out } = F.scaledDotProductAttention(q, k, v, { mask });
        assert.equal(nanPattern(out.f32), 'NN....', 'row 0 NaN, rows 1-2 finite');
        assert.deepEqual(Array.from(out.f32.subarray(4)), [0, 0], 'masked row zeros');
      });
    });

    test('matmul: 0 * NaN is NaN (the js reference no longer skips zero entries of a)', () => {
      // a (2, 3) with zeros in row 0 where b's rows hold a NaN; b (3, 2).
      const a = Float32Array.from([0, 1, 2, 1, 0, 1]);
      const b = Float32Array.from([NaN_, 1, 2, 3, 4, 5]);
      const run = (k: Backend): Float32Array => {
        const out = new Float32Array(4).fill(7);
        k.matmul(out, a, b, 1, 2, 2, 3, false, false, 0, 0, 0);
        return out;
      };
      const out = run(be);
      assert.equal(nanPattern(out), 'N.N.', 'column 0 of every row reads b[0][0] = NaN');
      assert.deepEqual(Array.from(out.subarray(1, 2)), [0 * 1 + 1 * 3 + 2 * 5]);
      assertFiniteClose(out, run(jsBackend), 'vs js');
    });

    test('relu and gelu keep NaN (torch.relu(nan) = nan); relu(-0) and relu(-inf) are 0', () => {
      const x = Float32Array.from([NaN_, -1, -0, 0.5, -Infinity, Infinity]);
      const relu = new Float32Array(x.length).fill(7);
      be.unary('relu', relu, x, x.length);
      assert.equal(nanPattern(relu), 'N.....');
      assert.deepEqual(Array.from(relu.subarray(1)), [0, 0, 0.5, 0, Infinity]);
      const gelu = new Float32Array(x.length);
      be.unary('gelu', gelu, x, x.length);
      assert.ok(Number.isNaN(gelu[0]), 'gelu(NaN)');
    });

    test('layerNorm, logSoftmax, crossEntropy: a NaN row is NaN, the other rows are untouched', () => {
      withBackend(name, () => {
        const [N, C] = [3, 4];
        const xd = values(N * C, 11);
        xd[1 * C + 2] = NaN_; // row 1
        const x = new Tensor(xd, [N, C]);
        const w = new Tensor(values(C, 12), [C]);
        const b = new Tensor(values(C, 13), [C]);
        const ln = F.layerNorm(x, w, b).f32;
        assert.equal(nanPattern(ln), '....NNNN....', 'layerNorm');
        const ls = F.logSoftmax(x).f32;
        assert.equal(nanPattern(ls), '....NNNN....', 'logSoftmax');
        // Row 2 ignored (target -100): its loss is 0 whatever its logits; the mean is NaN.
        const t = new Tensor(Int32Array.from([0, 1, -100]), [N]);
        const per = F.crossEntropy(x, t, { reduction: 'none' }).f32;
        assert.equal(nanPattern(per), '.N.', 'per-row losses');
        const ignored = new Tensor(Int32Array.from([0, -100, 2]), [N]);
        assert.equal(
          F.crossEntropy(x, ignored, { reduction: 'none' }).f32[1],
          0,
          'ignored NaN row',
        );
        assert.ok(Number.isNaN(F.crossEntropy(x, t).item()), 'mean over a NaN row');
        assert.ok(!Number.isNaN(F.crossEntropy(x, ignored).item()), 'NaN row ignored');
        // The same numbers on the js reference.
        withBackend('js', () => {
          assertFiniteClose(ln, F.layerNorm(x, w, b).f32, 'layerNorm vs js');
          assertFiniteClose(per, F.crossEntropy(x, t, { reduction: 'none' }).f32, 'CE vs js');
        });
      });
    });

    test('multiHeadAttention: a NaN in one head of a query row makes only that head of that row NaN', () => {
      withBackend(name, () => {
        const [B, T, H, D] = [1, 3, 2, 2];
        const C = H * D;
        const qkv = values(B * T * 3 * C, 14); // packed (B, T, 3C)
        qkv[1 * 3 * C + 1 * D + 0] = NaN_; // query row 1, head 1
        const x = new Tensor(qkv, [B, T, 3 * C]);
        const run = (): Float32Array =>
          F.multiHeadAttention(x, x, x, H, D, { q: 0, k: C, v: 2 * C }, { causal: true }).out.f32;
        const out = run();
        // (B, T, H*D): row 1 columns [2, 4) are head 1.
        assert.equal(nanPattern(out), '....' + '..NN' + '....');
        const js = withBackend('js', run);
        assertFiniteClose(out, js, 'vs js');
      });
    });

    test('attentionOverCache: NaN in cache rows past S is never read; NaN in a used row is', () => {
      withBackend(name, () => {
        const [T, S, R, D] = [2, 3, 5, 2];
        const q = new Tensor(values(T * D, 15), [1, T, D]);
        const kd = values(R * D, 16);
        const vd = values(R * D, 17);
        kd.fill(NaN_, S * D); // rows S..R-1: unused room, garbage
        vd.fill(NaN_, S * D);
        const clean = F.attentionOverCache(
          q,
          new Tensor(kd, [1, R, D]),
          new Tensor(vd, [1, R, D]),
          S,
        );
        assert.equal(nanPattern(clean.out.f32), '....', 'unused rows do not leak');
        const dense = F.scaledDotProductAttention(
          q,
          new Tensor(kd.slice(0, S * D), [1, S, D]),
          new Tensor(vd.slice(0, S * D), [1, S, D]),
        );
        assertFiniteClose(clean.out.f32, dense.out.f32, 'equals attention over the first S rows');
        vd[1 * D + 1] = NaN_; // a used value row: every query reads it (weight > 0)
        const dirty = F.attentionOverCache(
          q,
          new Tensor(kd, [1, R, D]),
          new Tensor(vd, [1, R, D]),
          S,
        );
        assert.equal(nanPattern(dirty.out.f32), '.N.N');
      });
    });
  });
}
