/**
 * Scheduled sampling for the Transformer (src/rnn/two-pass-sampling.ts, Mihaylova & Martins
 * 2019): probability 0 is teacher forcing exactly (same logits, loss and gradients); probability
 * 1 feeds the first pass's argmax at every non-pad position t >= 1 (checked against an argmax
 * of the teacher-forced logits computed here); the mix draws per position with probability p;
 * the schedule is the RNN's. On every backend.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { argmaxIds, mixDecoderInput } from '../../src/rnn/two-pass-sampling.js';
import { parseSamplingSchedule } from '../../src/rnn/scheduled-sampling.js';
import { backends } from '../helpers.js';

const V = 11;
const PAD = 0;

function model(dropout = 0): Seq2SeqTransformer {
  return new Seq2SeqTransformer(
    {
      srcVocabSize: V,
      tgtVocabSize: V,
      dModel: 16,
      nhead: 2,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      dimFeedforward: 32,
      dropout,
      padId: PAD,
    },
    new Generator(5),
  );
}

const src = tensor(
  [
    [3, 4, 5, 6],
    [7, 8, 0, 0],
  ],
  undefined,
  'int32',
);
const tgtIn = tensor(
  [
    [1, 3, 9, 4, 5],
    [1, 7, 0, 0, 0],
  ],
  undefined,
  'int32',
);
const tgtOut = tensor(
  [
    [3, 9, 4, 5, 2],
    [7, 2, 0, 0, 0],
  ],
  undefined,
  'int32',
);

/** Loss and every parameter's gradient of one forward/backward. */
function lossAndGrads(m: Seq2SeqTransformer, run: () => Tensor) {
  for (const p of m.parameters()) p.grad = null;
  const logits = run();
  const loss = F.crossEntropy(F.reshape(logits, [-1, V]), F.reshape(tgtOut, [-1]), {
    ignoreIndex: PAD,
  });
  loss.backward();
  return {
    loss: loss.item(),
    grads: m.parameters().map((p) => Array.from(p.grad?.f32 ?? [])),
  };
}

for (const backendName of backends) {
  describe(`Transformer scheduled sampling, two-pass (${backendName})`, () => {
    test('probability 0 equals teacher forcing exactly: same loss and gradients', () => {
      setBackend(backendName);
      // Teacher forcing written out: encode, decode the gold input, project.
      const m = model(0.1).train();
      const a = lossAndGrads(m, () => {
        const { memory, srcPadMask } = m.encode(src);
        return m.project(m.decode(tgtIn, memory, srcPadMask));
      });
      // The same dropout draws: a fresh model with the same seed.
      const m2 = model(0.1).train();
      const b = lossAndGrads(m2, () =>
        m2.forward(src, tgtIn, { samplingProb: 0, generator: new Generator(99) }),
      );
      assert.equal(a.loss, b.loss);
      assert.deepEqual(a.grads, b.grads);
    });

    test('probability 1 feeds the first pass argmax (shifted by one), gold at bos and padding', () => {
      setBackend(backendName);
      const m = model().train();
      const logits = noGrad(() => m.forward(src, tgtIn)); // teacher forced (B, T, V)
      const [B, T] = tgtIn.shape;
      const want = Array.from(tgtIn.i32);
      for (let b = 0; b < B; b++)
        for (let t = 1; t < T; t++) {
          if (tgtIn.i32[b * T + t] === PAD) continue;
          let best = -1;
          for (let v = 0; v < V; v++) {
            if (v === PAD) continue;
            const x = logits.f32[(b * T + t - 1) * V + v];
            if (best < 0 || x > logits.f32[(b * T + t - 1) * V + best]) best = v;
          }
          want[b * T + t] = best;
        }
      // What the second pass reads: record the decoder's input.
      const seen: Tensor[] = [];
      const decode = m.decode.bind(m);
      m.decode = (tgt, memory, pad, caches, offset) => {
        seen.push(tgt);
        return decode(tgt, memory, pad, caches, offset);
      };
      noGrad(() => m.forward(src, tgtIn, { samplingProb: 1, generator: new Generator(2) }));
      assert.equal(seen.length, 2, 'two decoder passes');
      assert.deepEqual(Array.from(seen[0].i32), Array.from(tgtIn.i32), 'first pass: gold');
      assert.deepEqual(Array.from(seen[1].i32), want, 'second pass: argmax of the first');
      assert.ok(
        want.some((x, i) => x !== tgtIn.i32[i]),
        'the predictions differ from gold',
      );
      // In evaluation mode there is no sampling: one teacher-forced pass.
      seen.length = 0;
      noGrad(() => m.eval().forward(src, tgtIn, { samplingProb: 1 }));
      assert.equal(seen.length, 1);
      assert.throws(() => m.forward(src, tgtIn, { samplingProb: 1.5 }), /samplingProb/);
    });
  });
}

test('mixDecoderInput: each non-pad position t >= 1 takes predicted[t - 1] with probability p', () => {
  const B = 50;
  const T = 40;
  const gold = new Int32Array(B * T).fill(4);
  for (let b = 0; b < B; b++) gold[b * T + T - 1] = PAD; // one padded position per row
  const pred = new Int32Array(B * T).fill(7);
  const mixed = mixDecoderInput(
    new Tensor(gold, [B, T]),
    new Tensor(pred, [B, T]),
    0.3,
    PAD,
    new Generator(8),
  ).i32;
  let swapped = 0;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const x = mixed[b * T + t];
      if (t === 0 || t === T - 1) assert.equal(x, gold[b * T + t], `(${b}, ${t}) kept`);
      else if (x === 7) swapped++;
      else assert.equal(x, 4);
    }
  const n = B * (T - 2);
  // Binomial(n, 0.3): mean 570, sd 14.5; 5 sd either side.
  assert.ok(Math.abs(swapped - 0.3 * n) < 5 * Math.sqrt(n * 0.3 * 0.7), `${swapped} of ${n}`);
  assert.throws(
    () =>
      mixDecoderInput(
        new Tensor(gold, [B, T]),
        new Tensor(pred, [T, B]),
        0.3,
        PAD,
        new Generator(1),
      ),
    /tgtIn \(50, 40\) and predicted \(40, 50\)/,
  );
});

test('argmaxIds never picks padding; the schedule is the RNN one (Bengio et al. 2015)', () => {
  const logits = tensor([
    [
      [9, 1, 2],
      [0, 3, 3],
    ],
  ]); // (1, 2, 3)
  assert.deepEqual(Array.from(argmaxIds(logits, 0).i32), [2, 1]);
  const s = parseSamplingSchedule('inverse-sigmoid:k=10', 100);
  assert.ok(Math.abs(s.teacherForcing(0) - 10 / 11) < 1e-12);
  assert.ok(Math.abs(s.teacherForcing(50) - 10 / (10 + Math.exp(5))) < 1e-12);
  const lin = parseSamplingSchedule('linear', 4);
  assert.deepEqual(
    [0, 1, 2, 4, 9].map((i) => lin.teacherForcing(i)),
    [1, 0.75, 0.5, 0, 0],
  );
});
