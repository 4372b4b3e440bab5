/**
 * Greedy decoding and beam search on the RNN encoder-decoders (src/rnn/seq2seq.ts) through
 * the shared `Seq2SeqModel` interface: greedy equals a plain loop that re-runs the uncached
 * decoder on each source's whole prefix, beam 1 equals greedy, and every beam hypothesis'
 * score equals its log-probability recomputed by teacher forcing. Every attention kind, GRU and
 * LSTM, with padded sources of different lengths; on every backend.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { tensor, type Tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { RNNSeq2Seq, type RNNSeq2SeqConfig } from '../../src/rnn/seq2seq.js';
import { beamSearch, greedyDecode } from '../../src/decode/seq2seq.js';
import { backends } from '../helpers.js';

const BOS = 1;
const EOS = 2;
const PAD = 0;
const V = 13;
const MAXLEN = 6;
const EOS_BIAS = [0.7, 0.7, 1.0, 0.5];

const variants: Partial<RNNSeq2SeqConfig>[] = [
  { attention: 'none' },
  { attention: 'bahdanau', bidirectional: true },
  { attention: 'dot', cell: 'lstm' },
  { attention: 'general', window: 1 },
];

function tinyRNN(seed: number, v: Partial<RNNSeq2SeqConfig>, eosBias = 0): RNNSeq2Seq {
  const m = new RNNSeq2Seq(
    { srcVocabSize: 11, tgtVocabSize: V, hiddenSize: 8, embedDim: 6, dropout: 0, padId: PAD, ...v },
    new Generator(seed),
  ).eval();
  const w = m.generator.weight.f32;
  for (let i = 0; i < w.length; i++) w[i] *= 4; // peaked distributions
  m.generator.bias!.f32[EOS] += eosBias; // some sources end early, others run to maxLen
  return m;
}

/** Sources of lengths 5, 3, 4, padded at the end. */
const SRC = tensor(
  Int32Array.from([3, 4, 5, 6, 7, 8, 9, 3, PAD, PAD, 10, 4, 6, 5, PAD]),
  [3, 5],
  'int32',
);

function row(src: Tensor, b: number): Tensor {
  const S = src.shape[1];
  const ids = Array.from(src.i32.subarray(b * S, (b + 1) * S)).filter((x) => x !== PAD);
  return tensor(Int32Array.from(ids), [1, ids.length], 'int32');
}

/** Log-softmax of the last position after teacher-forcing `prefix` (no caches). */
function lastLogProbs(m: RNNSeq2Seq, src: Tensor, prefix: number[]): Float32Array {
  const { memory, srcPadMask } = m.encode(src);
  const tgt = tensor(Int32Array.from(prefix), [1, prefix.length], 'int32');
  const lp = F.logSoftmax(m.project(m.decode(tgt, memory, srcPadMask)), -1).f32;
  return lp.subarray((prefix.length - 1) * V, prefix.length * V);
}

/** The plain greedy loop: one source at a time, the whole prefix re-decoded every step. */
function plainGreedy(m: RNNSeq2Seq, src: Tensor): number[] {
  return noGrad(() => {
    const out: number[] = [];
    for (let t = 0; t < MAXLEN; t++) {
      const lp = lastLogProbs(m, src, [BOS, ...out]);
      let best = -1;
      for (let v = 0; v < V; v++) if (v !== PAD && (best < 0 || lp[v] > lp[best])) best = v;
      if (best === EOS) break;
      out.push(best);
    }
    return out;
  });
}

for (const backend of backends) {
  describe(`decode RNNSeq2Seq [${backend}]`, () => {
    for (const [i, v] of variants.entries()) {
      const name = `${v.cell ?? 'gru'} ${v.attention}${v.window ? ` window ${v.window}` : ''}`;
      test(`greedy equals the plain loop, beam 1 equals greedy: ${name}`, () => {
        setBackend(backend);
        const m = tinyRNN(10 + i, v, EOS_BIAS[i]);
        const greedy = greedyDecode(m, SRC, { bosId: BOS, eosId: EOS, maxLen: MAXLEN });
        for (let b = 0; b < 3; b++) assert.deepEqual(greedy[b], plainGreedy(m, row(SRC, b)));
        const beam = beamSearch(m, SRC, { bosId: BOS, eosId: EOS, maxLen: MAXLEN, beamSize: 1 });
        assert.deepEqual(
          beam.map((h) => h[0].tokens),
          greedy,
        );
        assert.equal(m.training, false);
      });

      test(`beam scores are the hypotheses' log-probabilities: ${name}`, () => {
        setBackend(backend);
        const m = tinyRNN(10 + i, v, EOS_BIAS[i]);
        const hyps = beamSearch(m, SRC, { bosId: BOS, eosId: EOS, maxLen: MAXLEN, beamSize: 3 });
        noGrad(() => {
          for (let b = 0; b < 3; b++) {
            assert.ok(hyps[b].length >= 1);
            for (const h of hyps[b]) {
              const seq = h.finished ? [...h.tokens, EOS] : h.tokens;
              let logp = 0;
              seq.forEach((tok, t) => {
                logp += lastLogProbs(m, row(SRC, b), [BOS, ...seq.slice(0, t)])[tok];
              });
              assert.ok(Math.abs(logp - h.score) < 1e-4, `source ${b}: ${logp} vs ${h.score}`);
            }
            for (let k = 1; k < hyps[b].length; k++)
              assert.ok(hyps[b][k - 1].score >= hyps[b][k].score);
          }
        });
      });
    }
  });
}
