/**
 * The normalization choice (survey Sec. 5.2): BatchNorm over batch and time against
 * PyTorch's BatchNorm1d formula written out by hand (training statistics over the non-padded
 * rows, running statistics with momentum 0.1 and the unbiased variance, eval mode on the
 * running statistics), its gradient against finite differences, padding that never reaches
 * the statistics (also through a whole classifier), and the `norm` config field: selected
 * everywhere, validated, and round-tripped with its buffers through model.safetensors.
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
import { BatchNorm } from '../../src/nn/batchnorm.js';
import { LayerNorm, RMSNorm } from '../../src/nn/layers.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { Seq2SeqTransformer, type Seq2SeqConfig } from '../../src/models/seq2seq.js';
import { ConfigError } from '../../src/models/config.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { assertClose, backends, gradcheck, maxAbsDiff } from '../helpers.js';

const ids = (rows: number[][]): Tensor => tensor(rows, undefined, 'int32');
const [B, L, C] = [2, 4, 3];
/** Sequence 0 has 4 tokens, sequence 1 has 2 (its last 2 positions are padding). */
const pad = (): Tensor =>
  tensor(
    [
      [0, 0, 0, 0],
      [0, 0, 1, 1],
    ],
    undefined,
    'bool',
  );
const padded = (i: number): boolean => i === 6 || i === 7;

/** torch.nn.BatchNorm1d's training formula over the non-padded rows, in float64. */
function byHand(x: Float32Array, w: Float32Array, b: Float32Array, eps: number) {
  const rows = [...Array(B * L).keys()].filter((i) => !padded(i));
  const n = rows.length;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    for (const i of rows) mean[c] += x[i * C + c] / n;
    for (const i of rows) variance[c] += (x[i * C + c] - mean[c]) ** 2 / n;
  }
  const y = new Float64Array(B * L * C);
  for (let i = 0; i < B * L; i++)
    for (let c = 0; c < C; c++)
      y[i * C + c] = ((x[i * C + c] - mean[c]) / Math.sqrt(variance[c] + eps)) * w[c] + b[c];
  return { y, mean, variance, n };
}

for (const name of backends) {
  describe(`BatchNorm [${name}]`, () => {
    test('training equals the BatchNorm1d formula over non-padded rows; running stats updated', () => {
      setBackend(name);
      const bn = new BatchNorm(C);
      bn.weight.f32.set([1.5, -0.5, 2]);
      bn.bias.f32.set([0.1, 0.2, -0.3]);
      const x = randn([B, L, C], new Generator(1));
      const y = noGrad(() => bn.forward(x, pad()));
      const want = byHand(x.f32, bn.weight.f32, bn.bias.f32, 1e-5);
      assertClose(y.f32, want.y, 1e-5, 1e-5, 'outputs');
      const { mean, variance, n } = want;
      assertClose(
        bn.runningMean.f32,
        [...mean].map((m) => 0.1 * m),
        1e-6,
        1e-5,
        'running_mean',
      );
      const rv = [...variance].map((v) => 0.9 + (0.1 * v * n) / (n - 1)); // unbiased
      assertClose(bn.runningVar.f32, rv, 1e-6, 1e-5, 'running_var');
      assert.equal(bn.numBatchesTracked.f32[0], 1);
      // Without the mask the statistics differ (the test can tell padding from none).
      const unmasked = noGrad(() => new BatchNorm(C).forward(x));
      assert.ok(maxAbsDiff(unmasked.f32.slice(0, 12), y.f32.slice(0, 12)) > 1e-3);
    });

    test('padded positions never change the outputs of the others nor the running statistics', () => {
      setBackend(name);
      const x = randn([B, L, C], new Generator(2));
      const x2 = new Tensor(x.f32.slice(), [B, L, C]);
      for (let k = 6 * C; k < 8 * C; k++) x2.f32[k] = 1000 * (k + 1); // garbage in the padding
      const [a, b] = [new BatchNorm(C), new BatchNorm(C)];
      const ya = noGrad(() => a.forward(x, pad()));
      const yb = noGrad(() => b.forward(x2, pad()));
      assert.deepEqual(yb.f32.slice(0, 6 * C), ya.f32.slice(0, 6 * C));
      assert.deepEqual(b.runningMean.f32, a.runningMean.f32);
      assert.deepEqual(b.runningVar.f32, a.runningVar.f32);
    });

    test('eval mode normalizes with the running statistics, position by position', () => {
      setBackend(name);
      const bn = new BatchNorm(C, 1e-3);
      bn.runningMean.f32.set([0.5, -1, 2]);
      bn.runningVar.f32.set([4, 0.25, 1]);
      bn.weight.f32.set([2, 1, -1]);
      bn.bias.f32.set([0, 1, 0.5]);
      bn.eval();
      const x = randn([B, L, C], new Generator(3));
      const y = noGrad(() => bn.forward(x, pad()));
      const rm = bn.runningMean.f32;
      const rv = bn.runningVar.f32;
      const want = [...x.f32].map(
        (v, k) =>
          ((v - rm[k % C]) / Math.sqrt(rv[k % C] + 1e-3)) * bn.weight.f32[k % C] +
          bn.bias.f32[k % C],
      );
      assertClose(y.f32, want, 1e-5, 1e-5, 'eval outputs');
      assert.equal(bn.numBatchesTracked.f32[0], 0, 'eval does not track');
      assert.deepEqual([...bn.runningMean.f32], [0.5, -1, 2]);
    });

    test('training gradient matches finite differences (x, weight, bias; padding masked)', () => {
      setBackend(name);
      const bn = new BatchNorm(C);
      bn.weight.f32.set([1.2, 0.7, -0.4]);
      const x = randn([B, L, C], new Generator(4));
      gradcheck((xx) => bn.forward(xx, pad()), [x, bn.weight, bn.bias], { eps: 1e-2 });
    });
  });

  describe(`norm config [${name}]`, () => {
    test('a classifier with BatchNorm: extra padding columns change no statistics', () => {
      setBackend(name);
      const make = (): EncoderClassifier =>
        new EncoderClassifier(
          {
            vocabSize: 10,
            numClasses: 2,
            dModel: 8,
            nhead: 2,
            numLayers: 2,
            dropout: 0,
            norm: 'batch',
          },
          new Generator(5),
        );
      const [a, b] = [make(), make()];
      const la = a.forward(
        ids([
          [1, 3, 4, 5],
          [1, 6, 7, 0],
        ]),
      );
      const lb = b.forward(
        ids([
          [1, 3, 4, 5, 0, 0],
          [1, 6, 7, 0, 0, 0],
        ]),
      );
      assertClose(lb.f32, la.f32, 1e-5, 1e-5, 'logits');
      const sa = a.stateDict();
      for (const [k, t] of b.stateDict())
        if (k.includes('running_')) assertClose(t.f32, sa.get(k)!.f32, 1e-6, 1e-5, k);
    });

    test('cached decoding equals the full pass for a BatchNorm LM in eval mode', () => {
      setBackend(name);
      const lm = new DecoderLM(
        {
          vocabSize: 13,
          blockSize: 10,
          dModel: 8,
          nhead: 2,
          numLayers: 2,
          dropout: 0,
          norm: 'batch',
        },
        new Generator(6),
      );
      for (let s = 0; s < 3; s++) lm.forward(ids([[1, 2, 3, 4 + s, 5, 6]])); // running stats move
      lm.eval();
      const seq = [3, 1, 4, 1, 5, 9, 2];
      const full = noGrad(() => lm.forward(ids([seq])));
      const caches = lm.newCaches();
      const parts = seq.map((tok, t) => noGrad(() => lm.forward(ids([[tok]]), caches, t)));
      const inc = F.concat(parts, 1);
      assert.ok(maxAbsDiff(inc.f32, full.f32) < 1e-4, `${maxAbsDiff(inc.f32, full.f32)}`);
    });
  });
}

describe('norm config', () => {
  const s2s: Seq2SeqConfig = {
    srcVocabSize: 9,
    tgtVocabSize: 10,
    dModel: 8,
    nhead: 2,
    numEncoderLayers: 1,
    numDecoderLayers: 1,
    dimFeedforward: 16,
    dropout: 0,
  };

  test('every norm of the model follows the choice; layer is the default', () => {
    const kinds = (m: Seq2SeqTransformer): Set<string> =>
      new Set(
        m
          .namedModules()
          .filter(([n]) => /norm\d?$/.test(n))
          .map(([, mod]) => mod.constructor.name),
      );
    assert.deepEqual(kinds(new Seq2SeqTransformer(s2s)), new Set([LayerNorm.name]));
    assert.deepEqual(
      kinds(new Seq2SeqTransformer({ ...s2s, norm: 'rms' })),
      new Set([RMSNorm.name]),
    );
    assert.deepEqual(
      kinds(new Seq2SeqTransformer({ ...s2s, norm: 'batch' })),
      new Set([BatchNorm.name]),
    );
    assert.equal(new Seq2SeqTransformer(s2s).config.norm, 'layer');
    const lm = new DecoderLM({
      vocabSize: 7,
      blockSize: 4,
      dModel: 8,
      nhead: 2,
      numLayers: 1,
      norm: 'rms',
    });
    assert.ok(lm.lnF instanceof RMSNorm);
    assert.throws(
      () => new Seq2SeqTransformer({ ...s2s, norm: 'group' as 'layer' }),
      (e: Error) =>
        e instanceof ConfigError &&
        /norm = "group" is not allowed \('layer' or 'rms' or 'batch'\)/.test(e.message),
    );
  });

  test('BatchNorm buffers carry PyTorch names, are not parameters, and round-trip', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bn-'));
    const config: Seq2SeqConfig = { ...s2s, norm: 'batch' };
    const a = new Seq2SeqTransformer(config, new Generator(7));
    const src = ids([
      [3, 4, 5],
      [6, 7, 0],
    ]);
    const tgt = ids([
      [1, 2, 3, 4],
      [1, 5, 0, 0],
    ]);
    a.forward(src, tgt); // training: the running statistics move
    a.eval();
    const sd = a.stateDict();
    for (const k of ['running_mean', 'running_var', 'num_batches_tracked'])
      assert.ok(sd.has(`transformer.encoder.layers.0.norm1.${k}`), k);
    assert.equal(sd.get('transformer.decoder.norm.num_batches_tracked')!.f32[0], 1);
    const params = new Set(a.parameters());
    assert.ok(![...sd].some(([k, t]) => k.includes('running_') && params.has(t)));
    saveModel(a, join(dir, 'model.safetensors'));
    const b = new Seq2SeqTransformer(JSON.parse(JSON.stringify(config)), new Generator(8)).eval();
    loadModel(b, join(dir, 'model.safetensors'));
    assert.deepEqual(
      b.stateDict().get('transformer.encoder.norm.running_var')!.f32,
      sd.get('transformer.encoder.norm.running_var')!.f32,
    );
    assert.deepEqual(noGrad(() => b.forward(src, tgt)).f32, noGrad(() => a.forward(src, tgt)).f32);
  });
});
