/**
 * The attention cores against their references, on every backend: the fused `full` core
 * against the readable Eq. 1 (`reference`), `local` against full attention under the dense
 * band mask (outputs and gradients), decoding with each core's state against re-running the
 * prefix, and the registry's refusals.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  attention,
  bandBias,
  causalBias,
  attentionVariants,
  createAttentionCore,
  describeAttentionVariants,
  formatAttentionSpec,
  parseAttentionSpec,
} from '../../src/attention/index.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { backends, maxAbsDiff } from '../helpers.js';
import { C, H, assertOutAndGradClose, coreOutAndGrad, dims, input, padBias } from './helpers.js';
import { cachedLogits, decodeDiff, tinyLMConfig } from './xformer-helpers.js';

for (const backendName of backends) {
  describe(`attention cores (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    test('full (fused) equals the readable Eq. 1 reference: outputs and gradients', () => {
      const full = createAttentionCore('full', dims);
      const ref = createAttentionCore('reference', dims);
      const B = 2;
      const T = 7;
      const qkv = randn([B, T, 3 * C], new Generator(3));
      for (const over of [
        {},
        { causal: true },
        { bias: padBias(B, T, [0, 3]) },
        { bias: padBias(B, T, [2, 0]), causal: true },
      ]) {
        const a = coreOutAndGrad(full, qkv, over);
        const b = coreOutAndGrad(ref, qkv, over);
        assertOutAndGradClose(a, b, `${JSON.stringify(Object.keys(over))} `);
      }
    });

    test('the reference is Eq. 1: softmax(q k^T / sqrt(d)) v, computed by hand', () => {
      const q = tensor([[[[1, 0]]]]); // (1, 1, 1, 2)
      const k = tensor([
        [
          [
            [1, 0],
            [0, 1],
          ],
        ],
      ]); // (1, 1, 2, 2)
      const v = tensor([
        [
          [
            [10, 0],
            [0, 10],
          ],
        ],
      ]);
      const { out, weights } = attention(q, k, v);
      const e = Math.exp(1 / Math.sqrt(2));
      const w0 = e / (e + 1);
      assert.ok(Math.abs(weights.f32[0] - w0) < 1e-6);
      assert.ok(
        Math.abs(out.f32[0] - 10 * w0) < 1e-5 && Math.abs(out.f32[1] - 10 * (1 - w0)) < 1e-5,
      );
      // Causal with offset: the query at position 0 sees only key 0.
      const c = attention(q, k, v, { causal: true, offset: 0 });
      assert.deepEqual([...c.weights.f32], [1, 0]);
      assert.deepEqual([...causalBias(2, 3, 1).f32], [0, 0, -Infinity, 0, 0, 0]);
    });

    for (const causal of [false, true]) {
      for (const [T, window] of [
        [9, 3],
        [8, 4],
        [5, 8],
        [6, 1],
        [13, 5],
      ]) {
        test(`local (window ${window}, T ${T}, ${causal ? 'causal' : 'non-causal'}) equals full attention under the band mask`, () => {
          const local = createAttentionCore(`local:window=${window}`, dims);
          const full = createAttentionCore('full', dims);
          const B = 2;
          const qkv = randn([B, T, 3 * C], new Generator(T * 10 + window));
          const band = bandBias(T, T, window, causal); // the dense mask, built only here
          const a = coreOutAndGrad(local, qkv, { causal });
          const b = coreOutAndGrad(full, qkv, { bias: band });
          assertOutAndGradClose(a, b);
          // With key padding (the blocked path unfolds the per-key bias too).
          const pad = padBias(B, T, [0, Math.min(2, T - 1)]);
          const c = coreOutAndGrad(local, qkv, { causal, bias: pad });
          const d = coreOutAndGrad(full, qkv, { bias: F.add(pad, band) });
          assertOutAndGradClose(c, d, 'padded ');
        });
      }
    }

    test('local: a bias that varies over queries runs densely and still equals the masked reference', () => {
      const local = createAttentionCore('local:window=2', dims);
      const full = createAttentionCore('full', dims);
      const T = 6;
      const qkv = randn([1, T, 3 * C], new Generator(8));
      const m = randn([T, T], new Generator(9)); // an additive (T, S) float mask
      const a = coreOutAndGrad(local, qkv, { bias: m });
      const b = coreOutAndGrad(full, qkv, { bias: F.add(m, bandBias(T, T, 2, false)) });
      assertOutAndGradClose(a, b);
    });

    test('local: weights come back dense (B, H, T, T), zero outside the band, rows summing to 1', () => {
      const local = createAttentionCore('local:window=2', dims);
      const T = 5;
      const { weights } = noGrad(() =>
        local.forward(input(randn([1, T, 3 * C], new Generator(4)), { needWeights: true })),
      );
      assert.deepEqual(weights!.shape, [1, H, T, T]);
      const w = weights!.f32;
      for (let r = 0; r < H * T; r++) {
        const t = r % T;
        let s = 0;
        for (let j = 0; j < T; j++) {
          s += w[r * T + j];
          if (Math.abs(j - t) >= 2) assert.equal(w[r * T + j], 0);
        }
        assert.ok(Math.abs(s - 1) < 1e-5);
      }
    });

    for (const spec of ['full', 'reference', 'local:window=3']) {
      test(`${spec}: decoding with its state equals re-running the prefix (self-attention, causal)`, () => {
        const diff = decodeDiff(spec, 11);
        assert.ok(diff < 1e-5, `diff ${diff}`);
      });
    }

    test('self-attention on a warm state: equal but distinct key/value tensors append, never reuse stale keys', () => {
      const mk = (): MultiheadAttention =>
        new MultiheadAttention(C, H, { kind: 'self', generator: new Generator(7) }).eval();
      const a = mk();
      const b = mk();
      const x = randn([1, 4, C], new Generator(8));
      const x1 = F.slice(x, 1, 0, 2);
      const x2 = F.slice(x, 1, 2, 4);
      const sa = a.newState();
      const sb = b.newState();
      const [ya, yb] = noGrad(() => {
        a.forward(x1, x1, x1, { isCausal: true }, sa);
        b.forward(x1, x1, x1, { isCausal: true }, sb);
        const copy = new Tensor(x2.f32.slice(), x2.shape); // equal, not the same object
        return [
          a.forward(x2, x2, x2, { isCausal: true }, sa).out,
          b.forward(x2, copy, copy, { isCausal: true }, sb).out,
        ];
      });
      assert.equal(sb.length, 4, 'the distinct keys were appended');
      assert.ok(maxAbsDiff(ya.f32, yb.f32) < 1e-6);
      const full = noGrad(() => a.forward(x, x, x, { isCausal: true }).out);
      assert.ok(maxAbsDiff(yb.f32, F.slice(full, 1, 2, 4).f32) < 1e-5);
    });

    test('cross-attention state: the memory is projected once; later calls reuse it whatever is passed', () => {
      const mha = new MultiheadAttention(C, H, {
        kind: 'cross',
        generator: new Generator(9),
      }).eval();
      const mem = randn([2, 5, C], new Generator(10));
      const q = randn([2, 1, C], new Generator(11));
      const state = mha.newState();
      const first = noGrad(() => mha.forward(q, mem, mem, {}, state).out);
      const again = noGrad(() => mha.forward(q, zeros([2, 5, C]), zeros([2, 5, C]), {}, state).out);
      assert.deepEqual([...again.f32], [...first.f32]);
      state.selectRows([1, 1, 0]);
      const rows = (t: Tensor): Tensor =>
        F.concat([F.slice(t, 0, 1, 2), F.slice(t, 0, 1, 2), F.slice(t, 0, 0, 1)], 0);
      const junk = zeros([3, 5, C]); // ignored: the state's keys/values are the memory's rows 1, 1, 0
      const sel = noGrad(() => mha.forward(rows(q), junk, junk, {}, state).out);
      assert.ok(maxAbsDiff(F.slice(sel, 0, 2, 3).f32, F.slice(first, 0, 0, 1).f32) < 1e-6);
    });

    test('a local-attention LM: cached generation equals uncached; saved and loaded config keeps the core', () => {
      const lm = new DecoderLM(tinyLMConfig('local:window=3'), new Generator(12)).eval();
      assert.equal(lm.config.attention, 'local:window=3');
      const idx = tensor([[1, 2, 3, 4, 5, 6, 7, 8, 9]], undefined, 'int32');
      const full = noGrad(() => lm.forward(idx));
      const steps = cachedLogits(lm, idx);
      assert.ok(maxAbsDiff(steps.f32, full.f32) < 1e-5);
      // The same model under full attention differs (the window matters).
      const lmFull = new DecoderLM(
        { vocabSize: 11, blockSize: 16, dModel: C, nhead: H, numLayers: 2, dropout: 0 },
        new Generator(12),
      ).eval();
      assert.ok(maxAbsDiff(noGrad(() => lmFull.forward(idx)).f32, full.f32) > 1e-4);
    });
  });
}

describe('attention registry', () => {
  test('specs parse, fill defaults and print canonically', () => {
    assert.deepEqual(parseAttentionSpec('local:window=64'), {
      name: 'local',
      params: { window: 64 },
    });
    assert.equal(formatAttentionSpec('local'), 'local:window=128');
    assert.equal(formatAttentionSpec(' local : window = 7 '), 'local:window=7');
    assert.equal(formatAttentionSpec({ name: 'full', params: {} }), 'full');
  });

  test('unknown names, keys and bad values are refused, naming them', () => {
    assert.throws(
      () => parseAttentionSpec('lokal'),
      /unknown variant 'lokal' \(known: full, reference, local/,
    );
    assert.throws(
      () => parseAttentionSpec('local:width=3'),
      /unknown parameter 'width' \(known: window\)/,
    );
    assert.throws(
      () => parseAttentionSpec('full:window=3'),
      /'full': unknown parameter 'window' \(it takes none\)/,
    );
    assert.throws(() => parseAttentionSpec('local:window=0'), /window=0 must be >= 1/);
    assert.throws(() => parseAttentionSpec('local:window=2.5'), /must be an integer/);
    assert.throws(() => parseAttentionSpec('local:window'), /expected key=value/);
  });

  test('one line per variant, starting with its registry name', () => {
    const lines = describeAttentionVariants();
    const names = attentionVariants().map((v) => v.name);
    assert.deepEqual(
      lines.map((l) => l.split(/[: ]/)[0]),
      names,
    );
    for (const n of ['full', 'reference', 'local', 'talking-heads'])
      assert.ok(names.includes(n), n);
    assert.match(lines[names.indexOf('local')], /^local:window=128 +O\(T w D\)/);
  });
});
