/**
 * Transformer-XL's relative attention core (Dai et al. 2019, Sec. 3.3) against a direct
 * implementation of A_ij's terms (a)-(d), against PyTorch (the official code's _rel_shift,
 * scripts/make_xl_fixtures.py), and its memory (length M, no gradient).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { XLAttention, type XLMemory } from '../../src/attention/xl.js';
import { createAttentionCore, formatAttentionSpec } from '../../src/attention/registry.js';
import { assertClose, backends } from '../helpers.js';
import { loadFixture } from '../parity/fixture.js';

const gen = new Generator(0);

function call(core: XLAttention, q: Tensor, k: Tensor, v: Tensor, state?: XLMemory | null) {
  return core.forward(
    {
      q: { x: q, col: 0 },
      k: { x: k, col: 0 },
      v: { x: v, col: 0 },
      bias: null,
      causal: true,
      offset: 0,
      dropoutP: 0,
      generator: gen,
      needWeights: false,
    },
    state,
  ).out;
}

/**
 * Dai et al.'s Eq. (Sec. 3.3) element by element: queries are the last T of the S keys,
 * A_ij = q_i.k_j + q_i.W_R R_{i-j} + u.k_j + v.W_R R_{i-j} over j <= i (i, j absolute among
 * the S positions), R_d the [sin | cos] sinusoid of distance d, softmax(A / sqrt(D)) V.
 * @param q (B, T, H*D) @param k (B, S, H*D) @returns (B, T, H*D) as a flat array
 */
function direct(core: XLAttention, q: Tensor, k: Tensor, v: Tensor): Float64Array {
  const [B, T, C] = q.shape;
  const S = k.shape[1];
  const H = core.numHeads;
  const D = core.headDim;
  const W = core.rNet.weight.f32; // (C, C): out x in
  const u = core.rWBias.f32;
  const vb = core.rRBias.f32;
  const Rproj = (d: number): Float64Array => {
    const R = new Float64Array(C);
    for (let i = 0; i < C / 2; i++) {
      const a = d / Math.pow(10000, (2 * i) / C);
      R[i] = Math.sin(a);
      R[C / 2 + i] = Math.cos(a);
    }
    const out = new Float64Array(C);
    for (let o = 0; o < C; o++) for (let i = 0; i < C; i++) out[o] += W[o * C + i] * R[i];
    return out;
  };
  const out = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const i = S - T + t;
        const A: number[] = [];
        for (let j = 0; j <= i; j++) {
          const r = Rproj(i - j);
          let a = 0;
          for (let d = 0; d < D; d++) {
            const qi = q.f32[(b * T + t) * C + h * D + d];
            const kj = k.f32[(b * S + j) * C + h * D + d];
            const rd = r[h * D + d];
            a += qi * kj + qi * rd + u[h * D + d] * kj + vb[h * D + d] * rd; // (a) (b) (c) (d)
          }
          A.push(a / Math.sqrt(D));
        }
        const mx = Math.max(...A);
        const e = A.map((x) => Math.exp(x - mx));
        const z = e.reduce((x, y) => x + y);
        for (let j = 0; j <= i; j++)
          for (let d = 0; d < D; d++)
            out[(b * T + t) * C + h * D + d] += (e[j] / z) * v.f32[(b * S + j) * C + h * D + d];
      }
  return out;
}

function core(memLen: number, H = 2, D = 4, seed = 1): XLAttention {
  const c = new XLAttention({ numHeads: H, headDim: D }, memLen);
  c.resetParameters(new Generator(seed));
  for (const t of [c.rWBias, c.rRBias]) for (let i = 0; i < t.size; i++) t.f32[i] *= 20; // visible u, v
  return c;
}

const rand = (shape: number[], seed: number): Tensor => randn(shape, new Generator(seed));

for (const backend of backends) {
  describe(`xl attention (${backend} backend)`, () => {
    test.beforeEach(() => setBackend(backend));

    test('equals the direct Eq. of Dai et al. (no memory, and with m keys of memory given)', () => {
      const c = core(0);
      const q = rand([2, 4, 8], 2);
      for (const S of [4, 7]) {
        const k = rand([2, S, 8], 3 + S);
        const v = rand([2, S, 8], 4 + S);
        assertClose(call(c, q, k, v).f32, direct(c, q, k, v), 1e-5, 1e-4, `S ${S}`);
      }
    });

    test('memory of length 0 equals the plain relative model on each segment', () => {
      const c = core(0);
      const st = c.newState();
      for (let s = 0; s < 3; s++) {
        const [q, k, v] = [
          rand([2, 3, 8], 10 * s),
          rand([2, 3, 8], 10 * s + 1),
          rand([2, 3, 8], 10 * s + 2),
        ];
        assertClose(call(c, q, k, v, st).f32, direct(c, q, k, v), 1e-5, 1e-4, `segment ${s}`);
        assert.equal(st.length, 0);
      }
    });

    test('memory M: the segment attends the last M keys of the previous ones', () => {
      const M = 4;
      const c = core(M);
      const st = c.newState();
      const seg = (s: number) => [
        rand([1, 3, 8], 20 * s),
        rand([1, 3, 8], 20 * s + 1),
        rand([1, 3, 8], 20 * s + 2),
      ];
      const [q0, k0, v0] = seg(0);
      const [q1, k1, v1] = seg(1);
      const [q2, k2, v2] = seg(2);
      call(c, q0, k0, v0, st);
      assert.equal(st.length, 3);
      call(c, q1, k1, v1, st);
      assert.equal(st.length, M);
      const out = call(c, q2, k2, v2, st);
      // keys: the last 4 of segments 0 and 1 (0's last row, 1's three rows), then segment 2
      const kAll = F.concat([F.slice(k0, 1, 2, 3), k1, k2], 1);
      const vAll = F.concat([F.slice(v0, 1, 2, 3), v1, v2], 1);
      assertClose(out.f32, direct(c, q2, kAll, vAll), 1e-5, 1e-4, 'segment 2');
      assert.equal(st.seen, 9);
    });

    test('no gradient flows into the memory', () => {
      const c = core(3);
      const st = c.newState();
      const k0 = rand([1, 3, 8], 1).requiresGrad_(true);
      call(c, rand([1, 3, 8], 2), k0, rand([1, 3, 8], 3), st);
      const q1 = rand([1, 3, 8], 4).requiresGrad_(true);
      F.sum(F.sum(call(c, q1, rand([1, 3, 8], 5), rand([1, 3, 8], 6), st), 2), 1).backward();
      assert.ok(q1.grad && q1.grad.f32.some((x) => x !== 0));
      assert.ok(!k0.grad || k0.grad.f32.every((x) => x === 0));
      assert.equal(st.k!.requiresGrad, false);
    });

    for (const name of ['xl_rel_mem', 'xl_rel_nomem']) {
      test(`PyTorch parity (official _rel_shift): ${name}, outputs and gradients`, () => {
        const fx = loadFixture(name);
        const { H, D } = fx.config as { H: number; D: number };
        const c = new XLAttention({ numHeads: H, headDim: D }, 0);
        c.loadStateDict(fx.params());
        const [q, k, v] = ['q', 'k', 'v'].map((n) => fx.get(`input/${n}`).requiresGrad_(true));
        const out = call(c, q, k, v);
        assertClose(out.f32, fx.get('output/out').f32, 1e-6, 1e-5, 'out');
        F.sum(F.sum(F.sum(F.mul(out, fx.get('input/lossWeight')), 2), 1), 0).backward();
        const grads: [string, Tensor][] = [
          ['r_net.weight', c.rNet.weight],
          ['r_w_bias', c.rWBias],
          ['r_r_bias', c.rRBias],
          ['input/q', q],
          ['input/k', k],
          ['input/v', v],
        ];
        for (const [n, t] of grads)
          assertClose(t.grad!.f32, fx.get(`grad/${n}`).f32, 1e-5, 1e-4, `grad ${n}`);
      });
    }
  });
}

describe('xl attention spec', () => {
  test('selectable by name, with its memory length; causal only', () => {
    assert.equal(formatAttentionSpec('xl:mem-len=16'), 'xl:mem-len=16');
    const c = createAttentionCore('xl:mem-len=16', { numHeads: 2, headDim: 4 }) as XLAttention;
    assert.equal(c.memLen, 16);
    assert.deepEqual(
      c.namedParameters().map(([n]) => n),
      ['r_w_bias', 'r_r_bias', 'r_net.weight'],
    );
    const x = rand([1, 2, 8], 1);
    assert.throws(
      () =>
        c.forward({
          q: { x, col: 0 },
          k: { x, col: 0 },
          v: { x, col: 0 },
          bias: null,
          causal: false,
          offset: 0,
          dropoutP: 0,
          generator: gen,
          needWeights: false,
        }),
      /xl attention is causal only/,
    );
    assert.throws(
      () => new XLAttention({ numHeads: 2, headDim: 4 }, -1),
      /mem-len must be an integer >= 0, got -1/,
    );
  });
});
