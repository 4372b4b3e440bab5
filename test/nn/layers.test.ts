/** Layer-level checks: RMSNorm, dropout, embeddings, positional encodings, classifier pooling. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { ones, randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { Dropout, Embedding, RMSNorm } from '../../src/nn/layers.js';
import { MultiheadAttention } from '../../src/nn/attention.js';
import { SinusoidalPositionalEncoding, sinusoidTable } from '../../src/nn/positional.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { assertClose, backends, gradcheck, maxAbsDiff } from '../helpers.js';

for (const name of backends) {
  describe(`layers (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('RMSNorm: x / sqrt(mean(x^2) + eps) * weight, and its gradient', () => {
      const norm = new RMSNorm(4, 1e-6);
      norm.weight.f32.set([1, 2, 3, 4]);
      const x = tensor([[1, -2, 3, -4]]);
      const rms = Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-6);
      assertClose(norm.forward(x).f32, [1 / rms, -4 / rms, 9 / rms, -16 / rms], 1e-6, 1e-6);
      gradcheck((a) => norm.forward(a), [randn([3, 4], new Generator(1))]);
    });

    test('Dropout: zeroes about p of the elements, scales the rest by 1/(1-p), identity in eval', () => {
      const d = new Dropout(0.3, new Generator(2));
      const y = d.forward(ones([100, 100])).f32;
      const zeros = y.filter((v) => v === 0).length / y.length;
      assert.ok(Math.abs(zeros - 0.3) < 0.02, `fraction zeroed ${zeros}`);
      assert.ok(y.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
      d.eval();
      assert.deepEqual(d.forward(ones([3])).toArray(), [1, 1, 1]);
    });

    test('attention dropout: active in training only, reproducible with the same seed', () => {
      const x = randn([2, 5, 8], new Generator(3));
      const mk = () => new MultiheadAttention(8, 2, { dropout: 0.5, generator: new Generator(4) });
      const a = mk();
      const b = mk();
      const ya = a.forward(x, x, x).out;
      const yb = b.forward(x, x, x).out;
      assert.equal(maxAbsDiff(ya.f32, yb.f32), 0, 'same seed, same output');
      const evalOut = a.eval().forward(x, x, x).out;
      assert.ok(maxAbsDiff(ya.f32, evalOut.f32) > 1e-3, 'dropout had no effect in training');
      assert.equal(maxAbsDiff(evalOut.f32, a.forward(x, x, x).out.f32), 0, 'eval is deterministic');
    });

    test('Embedding scaled by sqrt(d_model) (Sec. 3.4)', () => {
      const e = new Embedding(5, 16, { scale: true, generator: new Generator(5) });
      const y = e.forward(tensor([3], undefined, 'int32'));
      assertClose(
        y.f32,
        Array.from(e.weight.f32.subarray(48, 64), (v) => v * 4),
        1e-6,
        1e-6,
      );
      assert.throws(
        () => e.forward(tensor([5], undefined, 'int32')),
        /id 5 at position 0 is outside the vocabulary \[0, 5\)/,
      );
    });

    test('sinusoidal encoding (Sec. 3.5): PE(pos, 2i) = sin(pos / 10000^(2i/C)), PE(pos, 2i+1) = cos(...)', () => {
      const t = sinusoidTable(50, 8).f32;
      assert.ok(Math.abs(t[0 * 8 + 0] - 0) < 1e-7 && Math.abs(t[0 * 8 + 1] - 1) < 1e-7);
      assert.ok(Math.abs(t[7 * 8 + 2] - Math.sin(7 / Math.pow(10000, 2 / 8))) < 1e-6);
      assert.ok(Math.abs(t[7 * 8 + 3] - Math.cos(7 / Math.pow(10000, 2 / 8))) < 1e-6);
      const pe = new SinusoidalPositionalEncoding(8, 10);
      const y = pe.forward(F.reshape(ones([16]), [1, 2, 8]), 3); // positions 3 and 4
      assert.ok(Math.abs(y.f32[8 + 0] - (1 + Math.sin(4))) < 1e-6);
      assert.throws(
        () => pe.forward(F.reshape(ones([16]), [1, 2, 8]), 9),
        /positions up to 11 exceed maxLen 10/,
      );
    });

    test('EncoderClassifier: cls pooling reads position 0 only', () => {
      const clf = new EncoderClassifier(
        {
          vocabSize: 9,
          numClasses: 2,
          dModel: 8,
          nhead: 2,
          numLayers: 1,
          dropout: 0,
          pooling: 'cls',
        },
        new Generator(6),
      ).eval();
      noGrad(() => {
        const a = clf.forward(tensor([[1, 4, 5, 0]], undefined, 'int32'));
        assert.deepEqual(a.shape, [1, 2]);
        const b = clf.forward(tensor([[1, 4, 6, 0]], undefined, 'int32'));
        assert.ok(
          maxAbsDiff(a.f32, b.f32) > 1e-5,
          'position 0 attends to the others, so changing them must matter',
        );
      });
    });
  });
}
