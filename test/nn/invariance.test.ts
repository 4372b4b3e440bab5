/**
 * Invariances the Transformer must satisfy (on every backend): causal masking, key
 * padding, all-masked rows, KV-cached decoding, save/load, parameter counts, and errors
 * that name what is wrong.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import type { KVState } from '../../src/attention/state.js';
import { Transformer } from '../../src/nn/transformer.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import {
  lmParameterCount,
  lmPresets,
  seq2seqParameterCount,
  seq2seqPresets,
} from '../../src/models/presets.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { backends, maxAbsDiff } from '../helpers.js';

const ids = (rows: number[][]): Tensor => tensor(rows, undefined, 'int32');
const rowsOf = (t: Tensor, b: number, from: number, to: number): Float32Array => {
  const [, T, C] = t.shape;
  return t.f32.slice((b * T + from) * C, (b * T + to) * C);
};

function tinyLM(seed = 1): DecoderLM {
  return new DecoderLM(
    { vocabSize: 13, blockSize: 12, dModel: 16, nhead: 2, numLayers: 2, dropout: 0, initStd: 0.5 },
    new Generator(seed),
  ).eval();
}
function tinySeq2Seq(seed = 2): Seq2SeqTransformer {
  const g = new Generator(seed);
  return new Seq2SeqTransformer(
    {
      srcVocabSize: 15,
      tgtVocabSize: 17,
      dModel: 16,
      nhead: 4,
      numEncoderLayers: 2,
      numDecoderLayers: 2,
      dimFeedforward: 32,
      dropout: 0,
    },
    g,
  ).eval();
}

for (const name of backends) {
  describe(`invariances (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('causal mask: changing token t+1 leaves logits at positions <= t unchanged (DecoderLM)', () => {
      const lm = tinyLM();
      noGrad(() => {
        const a = lm.forward(ids([[1, 2, 3, 4, 5, 6, 7]]));
        const b = lm.forward(ids([[1, 2, 3, 4, 9, 6, 7]]));
        assert.ok(
          maxAbsDiff(rowsOf(a, 0, 0, 4), rowsOf(b, 0, 0, 4)) === 0,
          'positions 0..3 changed',
        );
        assert.ok(
          maxAbsDiff(rowsOf(a, 0, 4, 5), rowsOf(b, 0, 4, 5)) > 1e-3,
          'position 4 should change',
        );
      });
    });

    test('causal mask in the seq2seq decoder', () => {
      const m = tinySeq2Seq();
      noGrad(() => {
        const src = ids([[3, 4, 5, 6]]);
        const a = m.forward(src, ids([[1, 7, 8, 9, 10]]));
        const b = m.forward(src, ids([[1, 7, 8, 11, 10]]));
        assert.equal(maxAbsDiff(rowsOf(a, 0, 0, 3), rowsOf(b, 0, 0, 3)), 0);
        assert.ok(maxAbsDiff(rowsOf(a, 0, 3, 4), rowsOf(b, 0, 3, 4)) > 1e-4);
      });
    });

    test('key padding: changing padded source tokens leaves the outputs unchanged', () => {
      const m = tinySeq2Seq();
      const clf = new EncoderClassifier(
        { vocabSize: 15, numClasses: 3, dModel: 16, nhead: 2, numLayers: 2, dropout: 0 },
        new Generator(3),
      ).eval();
      noGrad(() => {
        // Pad id 0 at the tail of the first sequence; the second has no padding.
        const a = m.forward(
          ids([
            [3, 4, 0, 0],
            [5, 6, 7, 8],
          ]),
          ids([
            [1, 7, 8],
            [1, 9, 9],
          ]),
        );
        // More padded positions, same real tokens: the logits must not move.
        const c = m.forward(
          ids([
            [3, 4, 0, 0, 0, 0],
            [5, 6, 7, 8, 0, 0],
          ]),
          ids([
            [1, 7, 8],
            [1, 9, 9],
          ]),
        );
        assert.ok(
          maxAbsDiff(a.f32, c.f32) < 1e-5,
          `extra padding changed the logits by ${maxAbsDiff(a.f32, c.f32)}`,
        );
        const p = clf.forward(ids([[3, 4, 5, 0, 0]]));
        const q = clf.forward(ids([[3, 4, 5, 0, 0, 0, 0, 0]]));
        assert.ok(maxAbsDiff(p.f32, q.f32) < 1e-5, 'classifier logits depend on padding');
      });
    });

    test('key padding in MultiheadAttention: values at padded keys do not matter', () => {
      const mha = new MultiheadAttention(8, 2, { generator: new Generator(4) });
      const q = randn([2, 3, 8], new Generator(5));
      const kv1 = randn([2, 4, 8], new Generator(6));
      const kv2 = kv1.clone();
      for (let i = 3 * 8; i < 4 * 8; i++) kv2.f32[i] += 10; // batch 0, key 3 (padded)
      const kpm = tensor(
        [
          [0, 0, 0, 1],
          [0, 0, 0, 0],
        ],
        undefined,
        'bool',
      );
      const a = mha.forward(q, kv1, kv1, { keyPaddingMask: kpm }).out;
      const b = mha.forward(q, kv2, kv2, { keyPaddingMask: kpm }).out;
      assert.ok(maxAbsDiff(a.f32.subarray(0, 24), b.f32.subarray(0, 24)) < 1e-6);
    });

    test('a query whose keys are all masked gives zeros, not NaN', () => {
      const q = randn([1, 2, 3, 4], new Generator(7));
      const k = randn([1, 2, 5, 4], new Generator(8));
      const mask = tensor(
        [
          [1, 1, 1, 1, 1],
          [0, 1, 0, 1, 0],
          [0, 0, 0, 0, 0],
        ],
        undefined,
        'bool',
      );
      const { out, weights } = F.scaledDotProductAttention(q, k, k, { mask, needWeights: true });
      assert.ok(out.f32.every((v) => Number.isFinite(v)));
      for (let h = 0; h < 2; h++) {
        assert.deepEqual(Array.from(out.f32.subarray(h * 12, h * 12 + 4)), [0, 0, 0, 0]);
        assert.deepEqual(Array.from(weights!.f32.subarray(h * 15, h * 15 + 5)), [0, 0, 0, 0, 0]);
      }
      assert.ok(Math.abs(weights!.f32.subarray(5, 10).reduce((s, x) => s + x, 0) - 1) < 1e-6);
    });

    test('KV-cached decoding equals uncached decoding (DecoderLM)', () => {
      const lm = tinyLM(9);
      noGrad(() => {
        const seq = [1, 5, 2, 7, 3, 3, 8];
        const full = lm.forward(ids([seq]));
        const caches = lm.newCaches();
        const first = lm.forward(ids([seq.slice(0, 3)]), caches, 0);
        assert.ok(maxAbsDiff(first.f32, rowsOf(full, 0, 0, 3)) < 1e-5);
        for (let t = 3; t < seq.length; t++) {
          const step = lm.forward(ids([[seq[t]]]), caches, t);
          assert.ok(maxAbsDiff(step.f32, rowsOf(full, 0, t, t + 1)) < 1e-5, `position ${t}`);
        }
      });
    });

    test('a KV cache grows in place past its capacity; decoding with grad falls back exactly', () => {
      const mha = new MultiheadAttention(8, 2, {
        generator: new Generator(5),
        kind: 'self',
      }).eval();
      const L = 40;
      const x = randn([2, L, 8], new Generator(6));
      const full = noGrad(() => mha.forward(x, x, x, { isCausal: true }).out); // (2, L, 8)
      const cache = mha.newState() as KVState;
      const capacities = new Set<number>();
      const steps: Tensor[] = [];
      noGrad(() => {
        for (let t = 0; t < L - 5; t++) {
          const xt = F.slice(x, 1, t, t + 1);
          steps.push(mha.forward(xt, xt, xt, {}, cache).out);
          assert.equal(cache.rows, t + 1);
          assert.ok(cache.k!.shape[2] >= t + 1);
          capacities.add(cache.k!.shape[2]);
        }
      });
      assert.deepEqual([...capacities], [16, 32, 64], 'capacity doubles');
      // The last steps with grad on: the cache is sliced to its valid rows and concatenated.
      for (let t = L - 5; t < L; t++) {
        const xt = F.slice(x, 1, t, t + 1);
        steps.push(mha.forward(xt, xt, xt, {}, cache).out);
        assert.equal(cache.k!.shape[2], t + 1);
      }
      for (let t = 0; t < L; t++)
        assert.ok(maxAbsDiff(steps[t].f32, F.slice(full, 1, t, t + 1).f32) < 1e-5, `position ${t}`);
    });

    test('KV-cached decoding equals uncached decoding (Seq2SeqTransformer, cross-attention cached)', () => {
      const m = tinySeq2Seq(10);
      noGrad(() => {
        const src = ids([
          [3, 4, 5, 0],
          [6, 7, 8, 9],
        ]);
        const tgt = [
          [1, 4, 6, 2],
          [1, 3, 3, 5],
        ];
        const full = m.forward(src, ids(tgt));
        const { memory, srcPadMask } = m.encode(src);
        const caches = m.newCaches();
        for (let t = 0; t < 4; t++) {
          const step = m.project(
            m.decode(ids(tgt.map((r) => [r[t]])), memory, srcPadMask, caches, t),
          ); // (2, 1, V)
          for (let b = 0; b < 2; b++) {
            assert.ok(
              maxAbsDiff(rowsOf(step, b, 0, 1), rowsOf(full, b, t, t + 1)) < 1e-5,
              `batch ${b} position ${t}`,
            );
          }
        }
      });
    });

    test('save then load gives identical logits; corrupt or mismatched files are refused', () => {
      const dir = mkdtempSync(join(tmpdir(), 'tts-'));
      const path = join(dir, 'model.safetensors');
      const a = tinySeq2Seq(11);
      saveModel(a, path, { kind: 'seq2seq' });
      const b = tinySeq2Seq(12);
      const src = ids([[3, 4, 5]]);
      const tgt = ids([[1, 2]]);
      noGrad(() => assert.ok(maxAbsDiff(a.forward(src, tgt).f32, b.forward(src, tgt).f32) > 1e-3));
      assert.equal(loadModel(b, path).kind, 'seq2seq');
      noGrad(() => assert.equal(maxAbsDiff(a.forward(src, tgt).f32, b.forward(src, tgt).f32), 0));
      // A model of another shape: refused, naming the tensor and both shapes; weights untouched.
      const lm = tinyLM();
      const before = lm.wte.weight.f32.slice();
      assert.throws(() => loadModel(lm, path), /missing keys: wte\.weight|unexpected keys/);
      assert.deepEqual(lm.wte.weight.f32, before);
      const bad = join(dir, 'bad.safetensors');
      writeFileSync(bad, Buffer.from([1, 2, 3]));
      assert.throws(() => loadModel(b, bad));
      noGrad(() => assert.equal(maxAbsDiff(a.forward(src, tgt).f32, b.forward(src, tgt).f32), 0));
    });

    test('loadStateDict names missing, unexpected and mis-shaped tensors', () => {
      const t = new Transformer({
        dModel: 8,
        nhead: 2,
        numEncoderLayers: 1,
        numDecoderLayers: 1,
        dimFeedforward: 16,
      });
      const sd = new Map(t.stateDict());
      sd.delete('decoder.norm.bias');
      sd.set('extra.weight', tensor([1]));
      sd.set('encoder.layers.0.linear1.weight', randn([3, 3]));
      assert.throws(
        () => t.loadStateDict(sd),
        (e: Error) =>
          /decoder\.norm\.bias/.test(e.message) &&
          /extra\.weight/.test(e.message) &&
          /encoder\.layers\.0\.linear1\.weight: checkpoint \(3, 3\) vs model \(16, 8\)/.test(
            e.message,
          ),
      );
    });

    test('shape errors name the op and both shapes', () => {
      assert.throws(() => F.matmul(randn([2, 3]), randn([4, 5])), /matmul.*\(2, 3\).*\(4, 5\)/);
      assert.throws(() => F.add(randn([2, 3]), randn([4])), /add: shapes \(2, 3\) and \(4,\)/);
      const mha = new MultiheadAttention(8, 2);
      assert.throws(
        () =>
          mha.forward(randn([1, 3, 8]), randn([1, 4, 8]), randn([1, 4, 8]), {
            keyPaddingMask: tensor([[0, 0, 0]], undefined, 'bool'),
          }),
        /keyPaddingMask \(1, 3\) must be \(B, S\) = \(1, 4\)/,
      );
    });
  });
}

test('preset parameter counts match the built models', () => {
  const s2s = { ...seq2seqPresets.tiny, srcVocabSize: 50, tgtVocabSize: 60 };
  assert.equal(new Seq2SeqTransformer(s2s).numParameters(), seq2seqParameterCount(s2s));
  const untied = { ...s2s, tieWeights: false };
  assert.equal(new Seq2SeqTransformer(untied).numParameters(), seq2seqParameterCount(untied));
  const lm = { ...lmPresets.tiny, vocabSize: 65 };
  assert.equal(new DecoderLM(lm).numParameters(), lmParameterCount(lm));
  assert.equal(lmParameterCount({ ...lmPresets['gpt2-small'], vocabSize: 50257 }), 124_439_808);
});
