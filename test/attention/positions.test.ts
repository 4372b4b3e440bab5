/**
 * Relative positions against their papers' formulas (small references written here), on
 * every backend: RoPE's rotation and its relativity, ALiBi's linear biases and slopes, T5's
 * buckets, Shaw's relative keys; and each scheme in a language model: cached decoding equals
 * a full pass, gradients reach the learned tables, save and load keep the logits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { randn, tensor, zeros } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  AlibiPosition,
  RotaryPosition,
  ShawPosition,
  T5Position,
  alibiSlopes,
  describePositions,
  parsePositionSpec,
  t5Bucket,
} from '../../src/attention/positions.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { MultiheadAttention, rightPaddedKeys } from '../../src/nn/attention.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { loadModel, saveModel } from '../../src/io/checkpoint.js';
import { backends, gradcheck, maxAbsDiff } from '../helpers.js';

const H = 2;
const D = 4;

for (const backendName of backends) {
  describe(`relative positions (${backendName} backend)`, () => {
    test.beforeEach(() => setBackend(backendName));

    test('RoPE rotates each pair (x_2i, x_2i+1) by m * base^(-2i/D) (Su et al. Eq. 34)', () => {
      const rope = new RotaryPosition(1, D);
      const x = tensor([[[1, 2, 3, 4]]]); // (1, 1, D) at position m = 3
      const y = rope.rotate(x, 3).f32;
      for (let i = 0; i < D / 2; i++) {
        const a = 3 * Math.pow(10000, (-2 * i) / D);
        const [x0, x1] = [x.f32[2 * i], x.f32[2 * i + 1]];
        assert.ok(Math.abs(y[2 * i] - (x0 * Math.cos(a) - x1 * Math.sin(a))) < 1e-5);
        assert.ok(Math.abs(y[2 * i + 1] - (x1 * Math.cos(a) + x0 * Math.sin(a))) < 1e-5);
      }
    });

    test('RoPE is relative: shifting every position by k leaves q . k unchanged', () => {
      const rope = new RotaryPosition(H, D);
      const q = randn([1, 5, H * D], new Generator(1));
      const k = randn([1, 5, H * D], new Generator(2));
      const dots = (shift: number): Float32Array =>
        noGrad(() => {
          const rq = F.reshape(rope.rotate(q, shift), [5, H, D]);
          const rk = F.reshape(rope.rotate(k, shift), [5, H, D]);
          return F.matmul(F.permute(rq, [1, 0, 2]), F.permute(rk, [1, 0, 2]), { transB: true }).f32;
        });
      const d0 = dots(0);
      assert.ok(maxAbsDiff(d0, dots(7)) < 1e-4);
      assert.ok(maxAbsDiff(d0, dots(1000)) < 1e-3);
      // ... but not position-blind: q rotated at 0 against k rotated at 3 differs.
      const mixed = noGrad(() => F.sum(F.mul(rope.rotate(q, 0), rope.rotate(k, 3))).item());
      const same = noGrad(() => F.sum(F.mul(rope.rotate(q, 0), rope.rotate(k, 0))).item());
      assert.ok(Math.abs(mixed - same) > 1e-3);
    });

    test("ALiBi adds -m_h |i - j| with the paper's slopes", () => {
      assert.deepEqual(alibiSlopes(8), [
        1 / 2,
        1 / 4,
        1 / 8,
        1 / 16,
        1 / 32,
        1 / 64,
        1 / 128,
        1 / 256,
      ]);
      // Not a power of two (the reference code): the 4-head slopes, then every other 8-head slope.
      const s6 = alibiSlopes(6);
      const want = [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3];
      assert.ok(maxAbsDiff(s6, want) < 1e-12);
      const al = new AlibiPosition(H, D);
      const q = { x: randn([1, 2, H * D]), col: 0 };
      const { bias: none, relativeBias } = al.apply({
        q,
        k: q,
        qStart: 3,
        kStart: 3,
        S: 5,
        causal: true,
      });
      assert.equal(none, null); // by distance only: its diagonals, (H, T + S - 1)
      assert.equal(relativeBias!.diagonals.length, H * (2 + 5 - 1));
      const bias = F.relativeBiasDense(relativeBias!);
      assert.deepEqual(bias.shape, [1, H, 2, 5]);
      for (let h = 0; h < H; h++)
        for (let t = 0; t < 2; t++)
          for (let s = 0; s < 5; s++)
            assert.ok(
              Math.abs(bias.f32[(h * 2 + t) * 5 + s] + al.slopes[h] * Math.abs(3 + t - s)) < 1e-6,
            );
    });

    test('T5 buckets: exact near, logarithmic far, the sign in its own half when bidirectional', () => {
      // Worked by hand from Raffel et al.'s definition: 32 buckets, max distance 128.
      const b = (r: number, bi = true): number => t5Bucket(r, bi, 32, 128);
      assert.deepEqual([b(0), b(-1), b(-7), b(1), b(7)], [0, 1, 7, 17, 23]);
      assert.equal(b(-8), 8); // maxExact = 8: 8 + floor(log(1) ...) = 8
      assert.equal(b(-20), 10); // 8 + floor(log(2.5) / log(16) * 8) = 8 + 2
      assert.equal(b(-127), 15);
      assert.equal(b(-5000), 15); // beyond max distance: the last bucket
      assert.equal(b(20), 26);
      // Unidirectional (causal): all 32 buckets for the past, the future in bucket 0.
      assert.deepEqual([b(-1, false), b(-15, false), b(3, false)], [1, 15, 0]);
      assert.equal(b(-16, false), 16);
      assert.equal(b(-127, false), 31);
    });

    test('T5 bias is the learned scalar of each head and bucket (as diagonals, and dense)', () => {
      const t5 = new T5Position(H, D, 8, 16, new Generator(3));
      const q = { x: randn([1, 3, H * D]), col: 0 };
      for (const [qStart, S, causal] of [
        [0, 3, false],
        [2, 5, true],
      ] as const) {
        const { relativeBias: r } = t5.apply({ q, k: q, qStart, kStart: qStart, S, causal });
        const bias = F.relativeBiasDense(r!); // (1, H, 3, S), through the learned table
        for (let h = 0; h < H; h++)
          for (let i = 0; i < 3; i++)
            for (let j = 0; j < S; j++) {
              const want = t5.weight.f32[t5Bucket(j - (qStart + i), !causal, 8, 16) * H + h];
              assert.equal(bias.f32[(h * 3 + i) * S + j], want);
              assert.equal(r!.diagonals[h * (3 + S - 1) + 2 + j - i], want);
            }
      }
    });

    test('T5 and ALiBi through full attention (their diagonals, the tiled kernel and its mask gradient; a right-padded key padding mask as key counts) equal the dense reference: outputs and gradients of x and the bias table', () => {
      const C = H * D;
      const make = (attention: string, position: string): MultiheadAttention =>
        new MultiheadAttention(C, H, {
          kind: 'self',
          attention,
          position,
          generator: new Generator(31),
        });
      const pad = tensor(
        [Array(21).fill(0), [...Array(14).fill(0), ...Array(7).fill(1)]],
        undefined,
        'bool',
      );
      for (const position of ['t5:buckets=8,max-distance=16', 'alibi'])
        for (const causal of [false, true])
          for (const keyPaddingMask of [null, pad]) {
            const results = ['full', 'reference'].map((attention) => {
              const mha = make(attention, position);
              const x = randn([2, 21, C], new Generator(32)).requiresGrad_(true);
              const { out } = mha.forward(x, x, x, { isCausal: causal, keyPaddingMask });
              F.sum(F.mul(out, randn(out.shape, new Generator(33)))).backward();
              const table = mha.parameters().find((p) => p.shape[0] === 8 && p.shape[1] === H);
              return { out: out.f32, dx: x.grad!.f32, dt: table?.grad!.f32 ?? null };
            });
            const [a, b] = results;
            const what = `${position} ${causal ? 'causal' : ''} ${keyPaddingMask ? 'padded' : ''}`;
            assert.ok(maxAbsDiff(a.out, b.out) < 1e-5, `${what}: out ${maxAbsDiff(a.out, b.out)}`);
            assert.ok(maxAbsDiff(a.dx, b.dx) < 1e-5, `${what}: dx ${maxAbsDiff(a.dx, b.dx)}`);
            if (!position.startsWith('t5')) continue;
            assert.ok(
              maxAbsDiff(a.dt!, b.dt!) < 1e-5,
              `${what}: d table ${maxAbsDiff(a.dt!, b.dt!)}`,
            );
            assert.ok(
              b.dt!.some((v) => Math.abs(v) > 1e-3),
              'the table gets a gradient',
            );
          }
    });

    test('rightPaddedKeys: the key counts of a right-padded key padding mask, else null', () => {
      const m = F.reshape(
        tensor([
          [0, 0, -Infinity],
          [0, 0, 0],
        ]),
        [2, 1, 1, 3],
      );
      assert.deepEqual([...rightPaddedKeys(m, 2, 3)!], [2, 3]);
      const one = F.reshape(tensor([[0, -Infinity, -Infinity]]), [1, 1, 1, 3]);
      assert.deepEqual([...rightPaddedKeys(one, 2, 3)!], [1, 1]);
      const hole = F.reshape(tensor([[0, -Infinity, 0]]), [1, 1, 1, 3]);
      assert.equal(rightPaddedKeys(hole, 1, 3), null, 'a hole: not a right padding');
      const soft = F.reshape(tensor([[0, -1e9, -Infinity]]), [1, 1, 1, 3]);
      assert.equal(rightPaddedKeys(soft, 1, 3), null, 'a finite bias');
      assert.equal(rightPaddedKeys(zeros([1, 1, 3, 3]), 1, 3), null, 'varies over queries');
    });

    test("Shaw's key term: q_i . a_clip(j - i) / sqrt(D) per head, and its gradient", () => {
      const sh = new ShawPosition(H, D, 2, new Generator(4));
      const qx = randn([2, 3, H * D], new Generator(5));
      const { bias } = noGrad(() =>
        sh.apply({
          q: { x: qx, col: 0 },
          k: { x: qx, col: 0 },
          qStart: 1,
          kStart: 1,
          S: 4,
          causal: false,
        }),
      );
      for (let b = 0; b < 2; b++)
        for (let h = 0; h < H; h++)
          for (let i = 0; i < 3; i++)
            for (let j = 0; j < 4; j++) {
              const r = Math.max(-2, Math.min(2, j - (1 + i))) + 2;
              let e = 0;
              for (let d = 0; d < D; d++)
                e += qx.f32[(b * 3 + i) * H * D + h * D + d] * sh.weight.f32[r * D + d];
              assert.ok(
                Math.abs(bias!.f32[((b * H + h) * 3 + i) * 4 + j] - e / Math.sqrt(D)) < 1e-5,
              );
            }
      // The table itself is an input: gradcheck perturbs it in place and reads its .grad.
      gradcheck(
        (q) =>
          sh.apply({
            q: { x: q, col: 0 },
            k: { x: q, col: 0 },
            qStart: 0,
            kStart: 0,
            S: 3,
            causal: true,
          }).bias!,
        [randn([1, 3, H * D], new Generator(6)), sh.weight],
      );
    });

    for (const position of ['rope', 'alibi', 't5:buckets=8,max-distance=16', 'shaw:clip=3']) {
      test(`LM with ${position}: cached decoding equals the full pass; learned tables get gradients; save/load keeps logits`, () => {
        const cfg = {
          vocabSize: 13,
          blockSize: 16,
          dModel: H * D,
          nhead: H,
          numLayers: 2,
          dropout: 0,
          position,
        };
        const lm = new DecoderLM(cfg, new Generator(7)).eval();
        assert.ok(!lm.stateDict().has('wpe.weight'), 'no absolute table');
        const idx = tensor([[1, 5, 2, 8, 3, 9, 4, 11]], undefined, 'int32');
        const full = noGrad(() => lm.forward(idx));
        const caches = lm.newCaches();
        const steps = noGrad(() => [
          lm.forward(F.slice(idx, 1, 0, 3), caches, 0),
          ...[3, 4, 5, 6, 7].map((t) => lm.forward(F.slice(idx, 1, t, t + 1), caches, t)),
        ]);
        assert.ok(maxAbsDiff(F.concat(steps, 1).f32, full.f32) < 1e-5, 'cached == uncached');
        // Positions matter: permuting the prefix changes the last logits.
        const perm = tensor([[5, 1, 2, 8, 3, 9, 4, 11]], undefined, 'int32');
        assert.ok(
          maxAbsDiff(
            F.slice(
              noGrad(() => lm.forward(perm)),
              1,
              7,
              8,
            ).f32,
            F.slice(full, 1, 7, 8).f32,
          ) > 1e-5,
        );
        lm.train();
        F.sum(lm.forward(idx)).backward();
        for (const [name, p] of lm.namedParameters())
          if (/position\./.test(name))
            assert.ok(p.grad && p.grad.f32.some((g) => g !== 0), `${name} has a gradient`);
        const dir = mkdtempSync(join(tmpdir(), 'pos-'));
        saveModel(lm, join(dir, 'm.safetensors'));
        const lm2 = new DecoderLM(cfg, new Generator(99)).eval();
        loadModel(lm2, join(dir, 'm.safetensors'));
        assert.ok(maxAbsDiff(noGrad(() => lm2.forward(idx)).f32, full.f32) < 1e-6);
      });
    }

    test('encoder and seq2seq models take relative positions too (bidirectional in the encoder)', () => {
      const cls = new EncoderClassifier(
        { vocabSize: 10, numClasses: 2, dModel: H * D, nhead: H, numLayers: 1, position: 't5' },
        new Generator(8),
      );
      assert.ok(
        [...cls.stateDict().keys()].includes(
          'encoder.layers.0.self_attn.position.relative_attention_bias.weight',
        ),
      );
      const m = new Seq2SeqTransformer(
        {
          srcVocabSize: 10,
          tgtVocabSize: 10,
          dModel: H * D,
          nhead: H,
          numEncoderLayers: 1,
          numDecoderLayers: 1,
          dimFeedforward: 16,
          position: 'rope',
        },
        new Generator(9),
      );
      const out = noGrad(() =>
        m.forward(tensor([[1, 2, 3]], undefined, 'int32'), tensor([[1, 4]], undefined, 'int32')),
      );
      assert.deepEqual(out.shape, [1, 2, 10]);
      assert.throws(
        () =>
          new Seq2SeqTransformer({
            srcVocabSize: 10,
            tgtVocabSize: 10,
            dModel: 8,
            nhead: 2,
            numEncoderLayers: 1,
            numDecoderLayers: 1,
            dimFeedforward: 16,
            position: 'learned',
          }),
        /position = "learned" is not allowed \('sinusoidal', or a relative/,
      );
    });
  });
}

test('position specs: defaults, refusals, one line per scheme', () => {
  assert.deepEqual(parsePositionSpec('t5'), {
    name: 't5',
    params: { buckets: 32, 'max-distance': 128 },
  });
  assert.throws(() => parsePositionSpec('shaw:clip=0'), /clip=0 must be >= 1/);
  assert.throws(() => parsePositionSpec('xpos'), /unknown variant 'xpos'/);
  assert.deepEqual(
    describePositions().map((l) => l.split(/[: ]/)[0]),
    ['sinusoidal', 'learned', 'rope', 'alibi', 't5', 'shaw'],
  );
});
