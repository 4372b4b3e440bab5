/**
 * Every op's gradient against central finite differences (float32, step 1e-2, tolerance
 * 2e-3 absolute + 2e-2 relative), on every backend that loads here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { assertClose, backends, gradcheck } from '../helpers.js';
import { setBackend } from '../../src/backend/index.js';

const g = (seed: number) => new Generator(seed);
// Values away from relu's kink and log/sqrt's domain edge.
const positive = (shape: number[], seed: number): Tensor =>
  F.add(F.mul(randn(shape, g(seed)), 0.3), 2).detach();

for (const name of backends) {
  describe(`gradients (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('add/sub/mul/div with broadcasting', () => {
      const a = randn([2, 3, 4], g(1));
      const b = randn([3, 1], g(2));
      gradcheck((x, y) => F.add(x, y), [a, b]);
      gradcheck((x, y) => F.sub(x, y), [a, b]);
      gradcheck((x, y) => F.mul(x, y), [a, b]);
      gradcheck((x, y) => F.div(x, y), [a, positive([4], 3)]);
      gradcheck((x, y) => F.div(y, x), [positive([2, 1, 4], 4), randn([3, 4], g(5))]);
    });

    test('scalar ops', () => {
      const a = positive([5, 3], 6);
      gradcheck((x) => F.add(x, 1.5), [a]);
      gradcheck((x) => F.mul(x, -2), [a]);
      gradcheck((x) => F.pow(x, 3), [a]);
      gradcheck((x) => F.sub(1, x), [a]);
      gradcheck((x) => F.div(2, x), [a]);
    });

    test('unary ops', () => {
      const a = randn([4, 5], g(7));
      for (const f of [
        F.neg,
        F.exp,
        F.tanh,
        F.relu,
        (x: Tensor) => F.gelu(x),
        (x: Tensor) => F.gelu(x, 'tanh'),
      ]) {
        gradcheck(f, [a]);
      }
      gradcheck(F.log, [positive([4, 5], 8)]);
      gradcheck(F.sqrt, [positive([4, 5], 9)]);
    });

    test('matmul: plain, batched, transposed, shared operand', () => {
      gradcheck((x, y) => F.matmul(x, y), [randn([3, 4], g(10)), randn([4, 5], g(11))]);
      gradcheck((x, y) => F.matmul(x, y), [randn([2, 3, 4], g(12)), randn([2, 4, 5], g(13))]);
      gradcheck((x, y) => F.matmul(x, y), [randn([2, 3, 4], g(14)), randn([4, 5], g(15))]);
      gradcheck(
        (x, y) => F.matmul(x, y, { transA: true, transB: true }),
        [randn([2, 4, 3], g(16)), randn([2, 5, 4], g(17))],
      );
      gradcheck(
        (x, y) => F.matmul(x, y, { transA: true }),
        [randn([2, 4, 3], g(18)), randn([4, 5], g(19))],
      );
      gradcheck(
        (x, y) => F.matmul(x, y, { transB: true }),
        [randn([3, 4], g(20)), randn([2, 5, 4], g(21))],
      );
    });

    test('linear with and without bias', () => {
      gradcheck(
        (x, w, b) => F.linear(x, w, b),
        [randn([2, 3, 4], g(22)), randn([5, 4], g(23)), randn([5], g(24))],
      );
      gradcheck((x, w) => F.linear(x, w), [randn([3, 4], g(25)), randn([2, 4], g(26))]);
    });

    test('sum, mean, max over an axis and overall', () => {
      const a = randn([3, 4, 5], g(27));
      gradcheck((x) => F.sum(x, 1), [a]);
      gradcheck((x) => F.mean(x, -1, true), [a]);
      gradcheck((x) => F.sum(x), [a]);
      gradcheck((x) => F.max(x, 2).values, [a]);
    });

    test('reshape, permute, transpose, slice, split, concat, stack', () => {
      const a = randn([2, 3, 4], g(28));
      gradcheck((x) => F.reshape(x, [6, -1]), [a]);
      gradcheck((x) => F.permute(x, [2, 0, 1]), [a]);
      gradcheck((x) => F.transpose(x, 0, 2), [a]);
      gradcheck((x) => F.slice(x, 1, 1, 3), [a]);
      gradcheck((x) => F.split(x, [1, 3], -1)[1], [a]);
      gradcheck((x, y) => F.concat([x, y], 1), [a, randn([2, 2, 4], g(29))]);
      gradcheck((x, y) => F.stack([x, y], 1), [a, randn([2, 3, 4], g(30))]);
    });

    test('softmax and logSoftmax over last and other axes', () => {
      const a = randn([3, 5], g(31));
      gradcheck((x) => F.softmax(x), [a]);
      gradcheck((x) => F.logSoftmax(x), [a]);
      gradcheck((x) => F.softmax(x, 0), [a]);
    });

    test('expShift (FAVOR+ features): gradients to x and shift, value as the composed ops', () => {
      const x = randn([2, 3, 5], g(71));
      const s = randn([2, 3, 1], g(72));
      gradcheck((a, b) => F.expShift(a, b, 0.5, 1e-3), [x, s]);
      gradcheck((a) => F.expShift(a, s.detach(), 2, 0), [x.detach()]);
      const composed = F.mul(F.add(F.exp(F.sub(x, s)), 1e-3), 0.5);
      assertClose(F.expShift(x, s, 0.5, 1e-3).f32, composed.f32, 1e-6, 1e-6);
      assert.throws(
        () => F.expShift(x, randn([2, 1, 1], g(73)), 1, 0),
        /shift must have shape \(2, 3, 1\) for x of shape \(2, 3, 5\), got \(2, 1, 1\)/,
      );
    });

    test('layerNorm with and without affine', () => {
      const x = randn([4, 6], g(32));
      gradcheck(
        (x0, w, b) => F.layerNorm(x0, w, b, 1e-5),
        [x, randn([6], g(33)), randn([6], g(34))],
      );
      gradcheck((x0) => F.layerNorm(x0, null, null), [x]);
    });

    test('embedding (repeated ids accumulate)', () => {
      const ids = tensor([1, 3, 1, 0], [2, 2], 'int32');
      gradcheck((w) => F.embedding(ids, w), [randn([5, 3], g(35))]);
    });

    test('maskedFill', () => {
      const mask = tensor([1, 0, 0, 1, 0, 1], [2, 3], 'bool');
      gradcheck((x) => F.maskedFill(x, mask, -3), [randn([4, 2, 3], g(36))]);
    });

    test('crossEntropy with ignoreIndex and label smoothing', () => {
      const targets = tensor([2, 0, 4, 1, 0], [5], 'int32');
      const logits = randn([5, 6], g(37));
      gradcheck(
        (x) => F.crossEntropy(x, targets, { ignoreIndex: 0, labelSmoothing: 0.1 }),
        [logits],
      );
      gradcheck((x) => F.crossEntropy(x, targets, { reduction: 'none' }), [logits]);
    });

    test('scaledDotProductAttention: mask, causal, cross lengths', () => {
      const q = randn([2, 3, 4, 5], g(38));
      const k = randn([2, 3, 6, 5], g(39));
      const v = randn([2, 3, 6, 5], g(40));
      const mask = tensor([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1], [2, 1, 1, 6], 'bool');
      gradcheck((a, b, c) => F.scaledDotProductAttention(a, b, c, { mask }).out, [q, k, v]);
      gradcheck((a, b, c) => F.scaledDotProductAttention(a, b, c, { causal: true }).out, [q, k, v]);
      const floatMask = randn([4, 6], g(41));
      gradcheck(
        (a, b, c) => F.scaledDotProductAttention(a, b, c, { mask: floatMask }).out,
        [q, k, v],
      );
    });

    test('dropout and attention dropout (a fixed mask per call via a fresh seeded generator)', () => {
      gradcheck((x) => F.dropout(x, 0.4, true, new Generator(43)), [randn([4, 5], g(44))]);
      const q = randn([1, 2, 3, 4], g(45));
      const k = randn([1, 2, 5, 4], g(46));
      const v = randn([1, 2, 5, 4], g(47));
      gradcheck(
        (a, b, c) =>
          F.scaledDotProductAttention(a, b, c, {
            dropoutP: 0.3,
            generator: new Generator(48),
            causal: true,
          }).out,
        [q, k, v],
      );
    });

    test('a composite expression reuses a tensor on two paths', () => {
      gradcheck((x) => F.mul(F.tanh(x), F.exp(F.mul(x, 0.5))), [randn([3, 3], g(42))]);
    });
  });
}
