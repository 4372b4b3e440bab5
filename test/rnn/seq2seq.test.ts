/**
 * RNN encoder-decoders (src/rnn): the alignment scores against their papers' formulas
 * computed by hand, local-p's window and Gaussian, gradients against finite differences,
 * the fixed-vector model seeing nothing but its summary, cached step-by-step decoding equal
 * to teacher-forced decoding for every attention, scheduled sampling at 0 equal to teacher
 * forcing, and a copy task learned. On every backend.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { Tensor, randn, tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { Alignment, type AlignmentScore } from '../../src/rnn/alignment.js';
import { RNNSeq2Seq, type RNNSeq2SeqConfig } from '../../src/rnn/seq2seq.js';
import { AdamW } from '../../src/train/optim.js';
import { backends, gradcheck, maxAbsDiff } from '../helpers.js';

const B = 2;
const S = 5;
const Q = 4;
const E = 6;

/** The scores of one row by the paper's formula, in plain loops. */
function handScores(a: Alignment, q: Float32Array, mem: Float32Array, b: number, nS = S): number[] {
  const qd = a.queryDim;
  const row = (t: Tensor, i: number, n: number): number[] => [
    ...t.f32.subarray(i * n, (i + 1) * n),
  ];
  const dot = (x: number[], y: number[]): number => x.reduce((s, v, i) => s + v * y[i], 0);
  const matvec = (w: Tensor, x: number[]): number[] =>
    Array.from({ length: w.shape[0] }, (_, i) => dot(row(w, i, w.shape[1]), x));
  const query = [...q.subarray(b * qd, (b + 1) * qd)];
  return Array.from({ length: nS }, (_, j) => {
    const h = [...mem.subarray((b * nS + j) * E, (b * nS + j + 1) * E)];
    if (a.score === 'dot') return dot(query, h);
    const wq = matvec(a.wQuery!.weight, query);
    if (a.score === 'general') return dot(wq, h);
    const uh = matvec(a.wMemory!.weight, h).map((x, i) => x + a.wMemory!.bias!.f32[i]);
    const t = wq.map((x, i) => Math.tanh(x + uh[i]));
    return dot([...a.v!.weight.f32], t);
  });
}

for (const backendName of backends) {
  describe(`RNN attention and encoder-decoders (${backendName})`, () => {
    for (const score of ['bahdanau', 'dot', 'general'] as AlignmentScore[]) {
      test(`${score} scores equal the paper's formula; padding gets weight 0`, () => {
        setBackend(backendName);
        const g = new Generator(3);
        const qd = score === 'dot' ? E : Q;
        const a = new Alignment({ score, queryDim: qd, memoryDim: E, generator: g });
        const query = randn([B, qd], g);
        const memory = randn([B, S, E], g);
        const pad = tensor(
          [
            [0, 0, 0, 0, 0],
            [0, 0, 0, 1, 1],
          ],
          undefined,
          'bool',
        );
        const r = noGrad(() => a.forward(query, memory, a.prepare(memory), pad, [5, 3]));
        for (let b = 0; b < B; b++) {
          const sc = handScores(a, query.f32, memory.f32, b);
          const n = b === 0 ? 5 : 3;
          const m = Math.max(...sc.slice(0, n));
          const ex = sc.map((x, j) => (j < n ? Math.exp(x - m) : 0));
          const z = ex.reduce((x, y) => x + y, 0);
          const want = ex.map((x) => x / z);
          const got = [...r.weights.f32.subarray(b * S, (b + 1) * S)];
          assert.ok(maxAbsDiff(got, want) < 1e-5, `${got} vs ${want}`);
          for (let d = 0; d < E; d++) {
            let c = 0;
            for (let j = 0; j < S; j++) c += want[j] * memory.f32[(b * S + j) * E + d];
            assert.ok(Math.abs(r.context.f32[b * E + d] - c) < 1e-5, 'context');
          }
        }
      });
    }

    test('local-p: weights outside [p - D, p + D] are 0, inside softmax x Gaussian around p', () => {
      setBackend(backendName);
      const g = new Generator(4);
      const Sl = 12;
      const a = new Alignment({
        score: 'general',
        queryDim: Q,
        memoryDim: E,
        window: 2,
        generator: g,
      });
      const query = randn([1, Q], g);
      const memory = randn([1, Sl, E], g);
      const r = noGrad(() => a.forward(query, memory, memory, null, [Sl]));
      // p from the formula.
      const wp = a.wP!.weight.f32;
      const t = Array.from({ length: Q }, (_, i) => {
        let s = 0;
        for (let k = 0; k < Q; k++) s += wp[i * Q + k] * query.f32[k];
        return Math.tanh(s);
      });
      const vp = a.vP!.weight.f32;
      const p = (Sl * 1) / (1 + Math.exp(-t.reduce((s, x, i) => s + x * vp[i], 0)));
      const inside = [...Array(Sl).keys()].filter((j) => Math.abs(j - p) <= 2);
      const sc = handScores(a, query.f32, memory.f32, 0, Sl).map((x, j) =>
        inside.includes(j) ? x : -Infinity,
      );
      const m = Math.max(...sc);
      const z = sc.reduce((s, x) => s + Math.exp(x - m), 0);
      for (let j = 0; j < Sl; j++) {
        const want = inside.includes(j)
          ? (Math.exp(sc[j] - m) / z) * Math.exp(-((j - p) ** 2) / 2)
          : 0;
        assert.ok(
          Math.abs(r.weights.f32[j] - want) < 1e-5,
          `j ${j}: ${r.weights.f32[j]} vs ${want}`,
        );
      }
    });

    test('additive attention: gradients of query and memory equal finite differences', () => {
      setBackend(backendName);
      const g = new Generator(5);
      const a = new Alignment({ score: 'bahdanau', queryDim: Q, memoryDim: E, generator: g });
      gradcheck(
        (q, m) => a.forward(q, m, a.prepare(m), null, [3, 3]).context,
        [randn([B, Q], g), randn([B, 3, E], g)],
      );
    });

    const base: RNNSeq2SeqConfig = {
      srcVocabSize: 11,
      tgtVocabSize: 13,
      hiddenSize: 8,
      dropout: 0,
    };
    const variants: [string, Partial<RNNSeq2SeqConfig>][] = [
      ['fixed gru', {}],
      ['fixed lstm bidirectional 2 layers', { cell: 'lstm', bidirectional: true, numLayers: 2 }],
      ['bahdanau bidirectional', { attention: 'bahdanau', bidirectional: true }],
      ['luong dot lstm', { attention: 'dot', cell: 'lstm' }],
      ['luong general local-p', { attention: 'general', window: 2, bidirectional: true }],
    ];
    const src = tensor(
      [
        [3, 4, 5, 6, 0],
        [7, 8, 2, 0, 0],
      ],
      undefined,
      'int32',
    );
    const tgt = tensor(
      [
        [1, 5, 6, 7],
        [1, 9, 10, 4],
      ],
      undefined,
      'int32',
    );
    for (const [name, over] of variants) {
      test(`${name}: step-by-step decoding with a state equals teacher-forced decoding`, () => {
        setBackend(backendName);
        const m = new RNNSeq2Seq({ ...base, ...over }, new Generator(6)).eval();
        noGrad(() => {
          const { memory, srcPadMask } = m.encode(src);
          const full = m.decode(tgt, memory, srcPadMask);
          const caches = m.newCaches();
          const steps: Tensor[] = [];
          for (let t = 0; t < 4; t++)
            steps.push(m.decode(F.slice(tgt, 1, t, t + 1), memory, srcPadMask, caches));
          assert.ok(maxAbsDiff(F.concat(steps, 1).f32, full.f32) < 1e-6);
          // Beam search's reorder: swapping the rows of the state swaps the next outputs.
          const c2 = m.newCaches();
          m.decode(F.slice(tgt, 1, 0, 2), memory, srcPadMask, c2);
          c2[0].self.selectRows([1, 0]);
          const swapped = m.decode(
            tensor([[tgt.i32[6]], [tgt.i32[2]]], undefined, 'int32'),
            F.concat([F.slice(memory, 0, 1, 2), F.slice(memory, 0, 0, 1)], 0),
            F.concat([F.slice(srcPadMask, 0, 1, 2), F.slice(srcPadMask, 0, 0, 1)], 0),
            c2,
          );
          const want = F.slice(full, 1, 2, 3);
          assert.ok(maxAbsDiff(F.slice(swapped, 0, 1, 2).f32, F.slice(want, 0, 0, 1).f32) < 1e-6);
        });
      });
    }

    test('the fixed-vector decoder sees only the summary: other encoder states do not matter', () => {
      setBackend(backendName);
      const m = new RNNSeq2Seq({ ...base, bidirectional: true }, new Generator(7)).eval();
      noGrad(() => {
        const { memory, srcPadMask } = m.encode(src);
        const changed = memory.clone();
        // Row 0 has 4 tokens: the summary reads position 3 (forward half) and 0 (backward half).
        for (let d = 0; d < 16; d++) changed.f32[(0 * 5 + 1) * 16 + d] += 1; // position 1
        const a = m.decode(tgt, memory, srcPadMask);
        assert.equal(maxAbsDiff(m.decode(tgt, changed, srcPadMask).f32, a.f32), 0);
        const att = new RNNSeq2Seq(
          { ...base, bidirectional: true, attention: 'bahdanau' },
          new Generator(7),
        ).eval();
        const enc = att.encode(src);
        const ch2 = enc.memory.clone();
        for (let d = 0; d < 16; d++) ch2.f32[(0 * 5 + 1) * 16 + d] += 1;
        const x = att.decode(tgt, enc.memory, enc.srcPadMask);
        assert.ok(
          maxAbsDiff(att.decode(tgt, ch2, enc.srcPadMask).f32, x.f32) > 1e-4,
          'attention reads it',
        );
      });
    });

    test('scheduled sampling: probability 0 is teacher forcing; 1 changes the inputs', () => {
      setBackend(backendName);
      const m = new RNNSeq2Seq({ ...base, attention: 'general' }, new Generator(8));
      const tf = noGrad(() => m.forward(src, tgt));
      const s0 = noGrad(() =>
        m.forward(src, tgt, { samplingProb: 0, generator: new Generator(1) }),
      );
      assert.equal(maxAbsDiff(s0.f32, tf.f32), 0);
      const s1 = noGrad(() =>
        m.forward(src, tgt, { samplingProb: 1, generator: new Generator(1) }),
      );
      assert.equal(
        maxAbsDiff(F.slice(s1, 1, 0, 1).f32, F.slice(tf, 1, 0, 1).f32),
        0,
        'step 0 is bos',
      );
      assert.ok(maxAbsDiff(s1.f32, tf.f32) > 1e-4);
      assert.throws(() => m.forward(src, tgt, { samplingProb: 2 }), /samplingProb/);
    });

    test('a bahdanau GRU learns to copy short sequences (loss falls below a tenth)', () => {
      setBackend(backendName);
      const g = new Generator(9);
      const m = new RNNSeq2Seq(
        { srcVocabSize: 8, tgtVocabSize: 8, hiddenSize: 16, attention: 'bahdanau', dropout: 0 },
        g,
      );
      const opt = new AdamW(m.parameters(), { lr: 0.02, weightDecay: 0 });
      const batch = (): [Tensor, Tensor, Tensor] => {
        const n = 8;
        const L = 4;
        const s = new Int32Array(n * L);
        const ti = new Int32Array(n * (L + 1));
        const to = new Int32Array(n * (L + 1));
        for (let i = 0; i < n; i++) {
          ti[i * (L + 1)] = 1;
          for (let j = 0; j < L; j++) {
            const v = 3 + g.randint(5);
            s[i * L + j] = v;
            ti[i * (L + 1) + j + 1] = v;
            to[i * (L + 1) + j] = v;
          }
          to[i * (L + 1) + L] = 2;
        }
        return [new Tensor(s, [n, L]), new Tensor(ti, [n, L + 1]), new Tensor(to, [n * (L + 1)])];
      };
      let first = 0;
      let last = 0;
      for (let step = 0; step < 150; step++) {
        const [s, ti, to] = batch();
        opt.zeroGrad();
        const loss = F.crossEntropy(F.reshape(m.forward(s, ti), [-1, 8]), to);
        loss.backward();
        opt.step();
        if (step === 0) first = loss.item();
        last = loss.item();
      }
      assert.ok(last < first / 10, `loss ${first} -> ${last}`);
    });

    test('bad configurations are refused, naming the option', () => {
      setBackend(backendName);
      assert.throws(
        () => new RNNSeq2Seq({ ...base, attention: 'dot', bidirectional: true }),
        /dot scores need equal widths/,
      );
      assert.throws(() => new RNNSeq2Seq({ ...base, window: 3 }), /window/);
      assert.throws(
        () => new RNNSeq2Seq({ ...base, attention: 'concat' as AlignmentScore }),
        /attention must be/,
      );
    });
  });
}
