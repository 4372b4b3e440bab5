/**
 * The performance work must not change results: each shortcut taken for speed is checked
 * here against the plain computation it replaces, on every backend. (No timing here:
 * speed lives in bench/.)
 */
// First: the native backend runs on the testhooks build, whose worker waits 2 ms before
// each deferred GEMM, so a backward pass that touched a queued GEMM's buffers too early
// would see it.
import { deferDelayHooked } from './defer-delay.js';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import * as F from '../../src/ops/index.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn } from '../../src/tensor.js';
import { assertClose, backends } from '../helpers.js';

const leaf = (shape: number[], seed: number): Tensor =>
  randn(shape, new Generator(seed)).requiresGrad_();

/** The documented draw (src/backend/types.ts dropoutMask), recomputed independently. */
function fmix32(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Number((BigInt(h) * 0x85ebca6bn) & 0xffffffffn);
  h = (h ^ (h >>> 13)) >>> 0;
  h = Number((BigInt(h) * 0xc2b2ae35n) & 0xffffffffn);
  return (h ^ (h >>> 16)) >>> 0;
}

describe('dropoutMask', () => {
  for (const name of backends) {
    test(`${name}: u_i = fmix32(fmix32(i + key0) ^ key1) keyed by two draws; the stream continues`, () => {
      setBackend(name);
      for (const [n, p] of [
        [1, 0.5],
        [1000, 0.1],
        [4097, 0.3],
      ] as const) {
        const a = new Generator(42);
        const b = new Generator(42);
        b.normal(); // a cached Box-Muller spare must survive the mask
        a.normal();
        const m = F.dropoutMask(n, p, a);
        const key0 = b.nextUint32();
        const key1 = b.nextUint32();
        const keep = Math.fround(1 / (1 - p));
        for (let i = 0; i < n; i++) {
          const u = fmix32((fmix32((i + key0) % 4294967296) ^ key1) >>> 0);
          assert.equal(m[i], u / 4294967296 < p ? 0 : keep, `element ${i}`);
        }
        assert.equal(a.normal(), b.normal(), 'spare');
        assert.equal(a.uniform(), b.uniform(), 'stream continues');
        const again = F.dropoutMask(n, p, a);
        if (n > 1) assert.notDeepEqual(again, m, 'the next mask differs');
      }
    });
  }
});

for (const name of backends) {
  describe(`perf invariants (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('linear over a row range equals linear over the sliced weight, gradients included', () => {
      const x = leaf([2, 7, 5], 1); // 14 rows: the bias fill is not a power of two
      const w1 = leaf([9, 5], 2);
      const b1 = leaf([9], 3);
      const w2 = new Tensor(w1.f32.slice(), [9, 5]).requiresGrad_();
      const b2 = new Tensor(b1.f32.slice(), [9]).requiresGrad_();
      const x2 = new Tensor(x.f32.slice(), x.shape).requiresGrad_();
      const y1 = F.linear(x, w1, b1, [3, 7]);
      const y2 = F.linear(x2, F.slice(w2, 0, 3, 7), F.slice(b2, 0, 3, 7));
      assert.deepEqual(y1.shape, [2, 7, 4]);
      assertClose(y1.f32, y2.f32, 0, 0, 'forward');
      const g = randn(y1.shape, new Generator(4));
      y1.backward(g);
      y2.backward(g);
      assertClose(x.grad!.f32, x2.grad!.f32, 1e-6, 1e-6, 'dx');
      assertClose(w1.grad!.f32, w2.grad!.f32, 1e-6, 1e-6, 'dW (rows outside the range 0)');
      assertClose(b1.grad!.f32, b2.grad!.f32, 1e-6, 1e-6, 'db');
      assert.equal(w1.grad!.f32[0], 0);
    });

    test('deferred dweight GEMMs: gradients equal the in-order computation (shared, tied, computed, accumulated weights)', () => {
      if (name === 'native') assert.ok(deferDelayHooked, 'native runs the testhooks build');
      // Sizes where a queued GEMM still runs when the pass reaches each hazard.
      const N = 256,
        C = 192,
        V = 160;
      const grads = (be: 'js' | 'native'): Float32Array[] => {
        setBackend(be);
        const ids = new Tensor(
          Int32Array.from({ length: N }, (_, i) => (i * 37) % V),
          [N],
        );
        const emb = leaf([V, C], 11); // tied: embedding and output head
        const w = leaf([C, C], 12); // shared: two linears
        const w0 = leaf([2 * C, C], 13); // computed: the head reads a slice of it
        const x = leaf([N, C], 14);
        const w1 = leaf([C, C], 16);
        const w2 = leaf([C, C], 17);
        const probe = randn([N, V], new Generator(15));
        for (let pass = 0; pass < 2; pass++) {
          // pass 2 accumulates into the .grad of pass 1
          const h = F.add(F.embedding(ids, emb), x);
          // h's gradient buffer is r's (a pass-through add), which the queued dweight GEMM
          // of w2 reads; the linear of w1 then writes h's dx into it.
          const a = F.linear(h, w1);
          const r = F.add(F.linear(F.gelu(a), w2), h);
          const s2 = F.linear(F.linear(r, w), w);
          const head = F.linear(s2, F.slice(w0, 0, C, 2 * C));
          F.sum(F.mul(F.linear(head, emb), probe)).backward();
        }
        return [emb, w, w0, x, w1, w2].map((t) => t.grad!.f32.slice());
      };
      const want = grads('js');
      const got = grads(name);
      // js sums in double: tolerances relative to the largest gradient (a hazard shows as a
      // missing or doubled contribution, far beyond them).
      ['tied embedding', 'shared weight', 'computed weight', 'input', 'w1', 'w2'].forEach(
        (what, i) => {
          const scale = want[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          assert.ok(scale > 1, what);
          assertClose(got[i], want[i], 1e-4 * scale, 1e-4, what);
        },
      );
    });

    test('multiHeadAttention on a packed projection equals attention on permuted heads', () => {
      const [B, T, H, D] = [2, 5, 3, 4];
      const C = H * D;
      const qkv = leaf([B, T, 3 * C], 5);
      const qkv2 = new Tensor(qkv.f32.slice(), qkv.shape).requiresGrad_();
      const mask = new Tensor(Uint8Array.from([0, 0, 0, 1, 1, 0, 0, 0, 0, 0]), [B, 1, 1, T]);
      const opts = { causal: true, mask };
      const r1 = F.multiHeadAttention(qkv, qkv, qkv, H, D, { q: 0, k: C, v: 2 * C }, opts);
      const heads = F.permute(F.reshape(qkv2, [B, T, 3, H, D]), [2, 0, 3, 1, 4]); // (3, B, H, T, D)
      const [q, k, v] = F.split(heads, 1, 0).map((t) => F.reshape(t, [B, H, T, D]));
      const r2 = F.scaledDotProductAttention(q, k, v, opts);
      const out2 = F.reshape(F.permute(r2.out, [0, 2, 1, 3]), [B, T, C]);
      assertClose(r1.out.f32, out2.f32, 1e-6, 1e-6, 'out');
      const g = randn([B, T, C], new Generator(6));
      r1.out.backward(g);
      out2.backward(g);
      assertClose(qkv.grad!.f32, qkv2.grad!.f32, 1e-6, 1e-6, 'dqkv');
    });

    test('pass-through gradients: shared buffers are never written through', () => {
      // x feeds a same-shape add twice (x + x), a reshape and a multiply: every path's
      // gradient must be counted once, and the leaves' .grad must not share storage.
      const x = leaf([3, 4], 7);
      const y = leaf([3, 4], 8);
      const s = F.add(F.add(x, x), F.reshape(F.reshape(y, [12]), [3, 4])); // 2x + y
      const z = F.add(s, F.mul(x, y)); // 2x + y + xy
      z.backward(randn([3, 4], new Generator(9)));
      const g = randn([3, 4], new Generator(9)).f32;
      for (let i = 0; i < 12; i++) {
        assert.ok(Math.abs(x.grad!.f32[i] - g[i] * (2 + y.f32[i])) < 1e-6, `dx[${i}]`);
        assert.ok(Math.abs(y.grad!.f32[i] - g[i] * (1 + x.f32[i])) < 1e-6, `dy[${i}]`);
      }
      // u = a + b with both leaves: their grads are copies of one buffer, not the same one.
      const a = leaf([2, 2], 10);
      const b = leaf([2, 2], 11);
      F.sum(F.add(a, b)).backward();
      assert.notEqual(a.grad!.f32.buffer, b.grad!.f32.buffer);
      F.sum(F.add(a, b)).backward(); // accumulates into a.grad only through a's buffer
      assert.deepEqual(Array.from(a.grad!.f32), [2, 2, 2, 2]);
      assert.deepEqual(Array.from(b.grad!.f32), [2, 2, 2, 2]);
    });

    test('attention masks broadcast over heads (and queries) equal their dense expansion', () => {
      const [B, H, T, S, D] = [2, 3, 4, 5, 8];
      const q = randn([B, H, T, D], new Generator(1));
      const k = randn([B, H, S, D], new Generator(2));
      const v = randn([B, H, S, D], new Generator(3));
      const g = new Generator(4);
      for (const mshape of [
        [B, 1, 1, S],
        [B, 1, T, S],
        [1, H, 1, S],
      ]) {
        const m = new Tensor(
          Uint8Array.from({ length: mshape.reduce((a, b) => a * b, 1) }, (_, i) =>
            i % S === 0 ? 0 : g.uniform() < 0.3 ? 1 : 0,
          ),
          mshape,
        );
        const dense = new Uint8Array(B * H * T * S);
        for (let b = 0; b < B; b++)
          for (let h = 0; h < H; h++)
            for (let t = 0; t < T; t++)
              for (let s = 0; s < S; s++) {
                const [mb, mh, mt] = [
                  mshape[0] === 1 ? 0 : b,
                  mshape[1] === 1 ? 0 : h,
                  mshape[2] === 1 ? 0 : t,
                ];
                dense[((b * H + h) * T + t) * S + s] =
                  m.data[((mb * mshape[1] + mh) * mshape[2] + mt) * S + s];
              }
        const a = F.scaledDotProductAttention(q, k, v, { mask: m }).out;
        const d = F.scaledDotProductAttention(q, k, v, {
          mask: new Tensor(dense, [B, H, T, S]),
        }).out;
        assert.deepEqual(a.f32, d.f32, `mask ${mshape.join('x')}`);
      }
    });
  });
}
