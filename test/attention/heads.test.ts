/**
 * Multi-head variants against their references, on every backend: multi-query and
 * grouped-query attention equal standard attention whose key/value heads are copies of the
 * shared ones; talking-heads equals full attention at its identity start and the paper's
 * formula (written out here with loops) for any head maps.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { TalkingHeadsAttention, kvHeadsFor, parseHeadsSpec } from '../../src/attention/index.js';
import { backends, maxAbsDiff } from '../helpers.js';
import { packedInput } from './xformer-helpers.js';

const H = 4;
const D = 3;
const C = H * D;

/** A standard MHA with the weights of `g` (G key/value heads), each shared head copied H/G times. */
function expanded(g: MultiheadAttention): MultiheadAttention {
  const G = g.kvHeads;
  const m = new MultiheadAttention(C, H, { kind: g.kind });
  const src = g.inProjWeight.f32;
  const dst = m.inProjWeight.f32;
  const sb = g.inProjBias!.f32;
  const db = m.inProjBias!.f32;
  dst.set(src.subarray(0, C * C)); // W_Q
  db.set(sb.subarray(0, C));
  for (const part of [0, 1])
    // W_K, W_V
    for (let h = 0; h < H; h++) {
      const gh = Math.floor((h * G) / H);
      const from = C + part * G * D + gh * D; // row of the shared head
      const to = C + part * C + h * D;
      dst.set(src.subarray(from * C, (from + D) * C), to * C);
      db.set(sb.subarray(from, from + D), to);
    }
  m.outProj.weight.f32.set(g.outProj.weight.f32);
  m.outProj.bias!.f32.set(g.outProj.bias!.f32);
  return m;
}

for (const backendName of backends) {
  describe(`multi-head variants (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    for (const G of [1, 2]) {
      test(`${G === 1 ? 'multi-query' : 'grouped-query (G 2)'}: equals standard attention with copied key/value heads, self and cross`, () => {
        for (const kind of ['self', 'cross'] as const) {
          const g = new MultiheadAttention(C, H, { kind, kvHeads: G, generator: new Generator(G) });
          for (let i = 0; i < g.inProjBias!.size; i++) g.inProjBias!.f32[i] = 0.01 * i;
          assert.deepEqual(g.inProjWeight.shape, [C + 2 * G * D, C], 'smaller K/V projections');
          const m = expanded(g);
          const x = randn([2, 5, C], new Generator(3));
          const mem = randn([2, 6, C], new Generator(4));
          const [kv, opts] = kind === 'self' ? [x, { isCausal: true }] : [mem, {}];
          const a = noGrad(() => g.forward(x, kv, kv, opts).out);
          const b = noGrad(() => m.forward(x, kv, kv, opts).out);
          assert.ok(maxAbsDiff(a.f32, b.f32) < 1e-5, `${kind}: ${maxAbsDiff(a.f32, b.f32)}`);
        }
      });
    }

    test('an LM with grouped-query heads decodes with its cache as the full pass', () => {
      const lm = new DecoderLM(
        {
          vocabSize: 9,
          blockSize: 12,
          dModel: C,
          nhead: H,
          numLayers: 2,
          dropout: 0,
          heads: 'grouped-query:groups=2',
        },
        new Generator(5),
      ).eval();
      assert.equal(lm.config.heads, 'grouped-query:groups=2');
      const idx = tensor([[1, 2, 3, 4, 5, 6]], undefined, 'int32');
      const full = noGrad(() => lm.forward(idx));
      const caches = lm.newCaches();
      const steps = noGrad(() => [
        lm.forward(F.slice(idx, 1, 0, 2), caches, 0),
        ...[2, 3, 4, 5].map((t) => lm.forward(F.slice(idx, 1, t, t + 1), caches, t)),
      ]);
      assert.ok(maxAbsDiff(F.concat(steps, 1).f32, full.f32) < 1e-5);
      assert.throws(
        () =>
          new DecoderLM({
            vocabSize: 9,
            blockSize: 12,
            dModel: C,
            nhead: H,
            numLayers: 1,
            heads: 'grouped-query:groups=3',
          }),
        /heads = 'grouped-query:groups=3': heads 'grouped-query': groups=3 must divide the 4 heads/,
      );
    });

    test('talking-heads: the identity start equals full attention; other maps follow Algorithm 2', () => {
      const th = new TalkingHeadsAttention({ numHeads: H, headDim: D });
      const T = 4;
      const qkv = randn([1, T, 3 * C], new Generator(6));
      const inp = packedInput(qkv, C, { causal: true });
      const mha = F.multiHeadAttention(
        qkv,
        qkv,
        qkv,
        H,
        D,
        { q: 0, k: C, v: 2 * C },
        { causal: true },
      );
      assert.ok(maxAbsDiff(noGrad(() => th.forward(inp)).out.f32, mha.out.f32) < 1e-5);
      const pl = randn([H, H], new Generator(7));
      const pw = randn([H, H], new Generator(8));
      th.preSoftmax.weight.f32.set(pl.f32);
      th.postSoftmax.weight.f32.set(pw.f32);
      const got = noGrad(() => th.forward(inp)).out.f32;
      // Algorithm 2 by hand: logits per head, mixed by P_l, causal softmax, mixed by P_w, times V.
      const at = (col: number, t: number, h: number, d: number): number =>
        qkv.f32[t * 3 * C + col + h * D + d];
      const L = (h: number, t: number, s: number): number => {
        let e = 0;
        for (let d = 0; d < D; d++) e += at(0, t, h, d) * at(C, s, h, d);
        return e / Math.sqrt(D);
      };
      for (let t = 0; t < T; t++) {
        const W: number[][] = [];
        for (let k = 0; k < H; k++) {
          const row = Array.from({ length: t + 1 }, (_, s) => {
            let m = 0;
            for (let h = 0; h < H; h++) m += L(h, t, s) * pl.f32[h * H + k];
            return m;
          });
          const mx = Math.max(...row);
          const ex = row.map((r) => Math.exp(r - mx));
          const z = ex.reduce((a, b) => a + b, 0);
          W.push(ex.map((e) => e / z));
        }
        for (let k = 0; k < H; k++)
          for (let d = 0; d < D; d++) {
            let o = 0;
            for (let s = 0; s <= t; s++) {
              let w = 0;
              for (let h = 0; h < H; h++) w += W[h][s] * pw.f32[h * H + k];
              o += w * at(2 * C, s, k, d);
            }
            assert.ok(Math.abs(got[t * C + k * D + d] - o) < 1e-4, `t ${t} head ${k} d ${d}`);
          }
      }
      assert.deepEqual(
        th.namedParameters().map(([n]) => n),
        ['pre_softmax_proj.weight', 'post_softmax_proj.weight'],
      );
    });
  });
}

test('heads specs', () => {
  assert.equal(kvHeadsFor('standard', 8), 8);
  assert.equal(kvHeadsFor('multi-query', 8), 1);
  assert.equal(kvHeadsFor('grouped-query:groups=4', 8), 4);
  assert.throws(() => parseHeadsSpec('many-query'), /unknown variant 'many-query'/);
});
