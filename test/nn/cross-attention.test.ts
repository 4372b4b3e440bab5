/**
 * How the decoder stack connects to the encoder stack (survey Sec. 6.2): every decoder layer
 * attends the final encoder output ('final', the paper) or decoder layer i attends encoder
 * layer i's output through the encoder's final norm ('layerwise'). On every backend:
 * layer-wise equals final with one layer, equals the connection written by hand with two,
 * decodes incrementally as it does in one pass, and round-trips through save/load.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { Transformer } from '../../src/nn/transformer.js';
import { Seq2SeqTransformer, type Seq2SeqConfig } from '../../src/models/seq2seq.js';
import { ConfigError } from '../../src/models/config.js';
import { greedyDecode } from '../../src/decode/seq2seq.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { backends, maxAbsDiff } from '../helpers.js';

const ids = (rows: number[][]): Tensor => tensor(rows, undefined, 'int32');
const base: Seq2SeqConfig = {
  srcVocabSize: 11,
  tgtVocabSize: 12,
  dModel: 16,
  nhead: 2,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  dimFeedforward: 32,
  dropout: 0,
};
const model = (c: Partial<Seq2SeqConfig>, seed = 1): Seq2SeqTransformer =>
  new Seq2SeqTransformer({ ...base, ...c }, new Generator(seed)).eval();

for (const name of backends) {
  describe(`cross-attention connectivity [${name}]`, () => {
    test('layer-wise with one encoder and one decoder layer equals final', () => {
      setBackend(name);
      const one = { numEncoderLayers: 1, numDecoderLayers: 1 };
      for (const normFirst of [false, true]) {
        const a = model({ ...one, normFirst });
        const b = model({ ...one, normFirst, crossAttention: 'layerwise' });
        const src = ids([
          [3, 4, 5, 6],
          [7, 8, 0, 0],
        ]);
        const tgt = ids([
          [1, 2, 3],
          [1, 9, 0],
        ]);
        const la = noGrad(() => a.forward(src, tgt));
        const lb = noGrad(() => b.forward(src, tgt));
        assert.deepEqual(lb.f32, la.f32, `normFirst ${normFirst}`);
      }
    });

    test('with two layers, layer-wise equals the connection by hand and differs from final', () => {
      setBackend(name);
      for (const normFirst of [false, true]) {
        const cfg = { dModel: 16, nhead: 2, numEncoderLayers: 2, numDecoderLayers: 2 };
        const o = { ...cfg, dimFeedforward: 32, dropout: 0, normFirst };
        const lw = new Transformer({
          ...o,
          crossAttention: 'layerwise',
          generator: new Generator(5),
        });
        const fin = new Transformer({ ...o, generator: new Generator(5) });
        const src = randn([2, 5, 16], new Generator(6));
        const tgt = randn([2, 4, 16], new Generator(7));
        const masks = { tgtMask: Transformer.generateSquareSubsequentMask(4) };
        const got = noGrad(() => lw.forward(src, tgt, masks));
        const want = noGrad(() => {
          const [e0, e1] = lw.encoder.layers.items;
          const [d0, d1] = lw.decoder.layers.items;
          const norm = (h: Tensor): Tensor => lw.encoder.norm!.forward(h);
          const h0 = e0.forward(src);
          const m0 = norm(h0); // encoder layer 0's output, normalized
          const m1 = norm(e1.forward(h0));
          const y = d1.forward(d0.forward(tgt, m0, masks), m1, masks);
          return lw.decoder.norm!.forward(y);
        });
        assert.ok(maxAbsDiff(got.f32, want.f32) < 1e-5, `${maxAbsDiff(got.f32, want.f32)}`);
        const other = noGrad(() => fin.forward(src, tgt, masks));
        assert.ok(maxAbsDiff(got.f32, other.f32) > 1e-3, 'layer-wise differs from final');
      }
    });

    test('greedy decoding with caches equals decoding without (layer-wise, padded sources)', () => {
      setBackend(name);
      const m = model({ crossAttention: 'layerwise', normFirst: true }, 3);
      const src = ids([
        [3, 4, 5, 6, 7],
        [8, 9, 10, 0, 0],
      ]);
      const maxLen = 6;
      const cached = greedyDecode(m, src, { bosId: 1, eosId: 2, maxLen });
      // Without caches: the whole prefix through the decoder at every step; pad (0) never chosen.
      const uncached = [0, 1].map((b) => {
        const row = ids([[...src.i32.slice(b * 5, b * 5 + 5)]]);
        const out: number[] = [];
        noGrad(() => {
          for (let t = 0; t < maxLen; t++) {
            const logits = m.forward(row, ids([[1, ...out]])); // (1, t + 1, V)
            const last = logits.f32.slice(t * 12, (t + 1) * 12);
            last[0] = -Infinity;
            const tok = last.indexOf(Math.max(...last));
            if (tok === 2) break;
            out.push(tok);
          }
        });
        return out;
      });
      assert.deepEqual(cached, uncached);
      // And the cached step logits equal the full pass's, position by position.
      noGrad(() => {
        const tgt = [1, 5, 7, 3, 4];
        const { memory, srcPadMask } = m.encode(src);
        assert.deepEqual(memory.shape, [2, 5, 2 * 16], 'both layers side by side');
        const caches = m.newCaches();
        const full = m.project(m.decode(ids([tgt, tgt]), memory, srcPadMask));
        const steps = tgt.map((tok, t) =>
          m.project(m.decode(ids([[tok], [tok]]), memory, srcPadMask, caches, t)),
        );
        const inc = F.concat(steps, 1);
        assert.ok(maxAbsDiff(inc.f32, full.f32) < 1e-4, `${maxAbsDiff(inc.f32, full.f32)}`);
      });
    });
  });
}

describe('crossAttention config', () => {
  test('round-trips through config.json and model.safetensors (same logits)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xattn-'));
    const config: Seq2SeqConfig = { ...base, crossAttention: 'layerwise' };
    const a = model(config, 4);
    assert.equal(a.config.crossAttention, 'layerwise');
    assert.equal(model({}).config.crossAttention, 'final');
    saveModel(a, join(dir, 'model.safetensors'));
    const b = new Seq2SeqTransformer(JSON.parse(JSON.stringify(config)), new Generator(77)).eval();
    loadModel(b, join(dir, 'model.safetensors'));
    const src = ids([[3, 4, 5]]);
    const tgt = ids([[1, 6, 7]]);
    assert.deepEqual(noGrad(() => b.forward(src, tgt)).f32, noGrad(() => a.forward(src, tgt)).f32);
  });

  test('refused: unequal layer counts (naming both), an adaptive depth, an unknown mode', () => {
    assert.throws(
      () => model({ crossAttention: 'layerwise', numEncoderLayers: 2, numDecoderLayers: 3 }),
      (e: Error) =>
        e instanceof ConfigError && /numEncoderLayers 2, numDecoderLayers 3/.test(e.message),
    );
    assert.throws(
      () => model({ crossAttention: 'layerwise', depth: 'universal:max-steps=2' }),
      /crossAttention 'layerwise' needs depth 'fixed', got 'universal:max-steps=2/,
    );
    assert.throws(
      () => model({ crossAttention: 'every' as 'final' }),
      /crossAttention = "every" is not allowed \('final' or 'layerwise'\)/,
    );
    assert.throws(
      () =>
        new Transformer({ numEncoderLayers: 1, numDecoderLayers: 2, crossAttention: 'layerwise' }),
      /numEncoderLayers 1, numDecoderLayers 2/,
    );
  });
});
