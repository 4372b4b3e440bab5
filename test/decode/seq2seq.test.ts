import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { setBackend } from '../../src/backend/index.js';
import { Generator } from '../../src/random.js';
import { Seq2SeqTransformer } from '../../src/models/seq2seq.js';
import { tensor, type Tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import {
  beamSearch,
  gnmtLengthPenalty,
  greedyDecode,
  indexSelect0,
  type Hypothesis,
} from '../../src/decode/seq2seq.js';
import { argmaxRow } from '../../src/decode/sampling.js';
import { backends } from '../helpers.js';

const BOS = 1;
const EOS = 2;
const V = 17;

/** A tiny random seq2seq model whose next-token distributions are far from uniform. */
function tinySeq2Seq(seed: number, eosBias = 0): Seq2SeqTransformer {
  const m = new Seq2SeqTransformer(
    {
      srcVocabSize: 15,
      tgtVocabSize: V,
      dModel: 16,
      nhead: 4,
      numEncoderLayers: 2,
      numDecoderLayers: 2,
      dimFeedforward: 32,
      dropout: 0,
      tieWeights: false,
    },
    new Generator(seed),
  ).eval();
  const w = m.generator.weight.f32;
  for (let i = 0; i < w.length; i++) w[i] *= 6;
  const bias = m.generator.bias!.f32;
  bias[EOS] += eosBias;
  return m;
}

const ids = (rows: number[][]): Tensor => tensor(rows, undefined, 'int32');

/** Argmax over a row, never choosing the pad id 0 (the decoders' rule). */
function argmaxNoPad(row: Float32Array): number {
  const r = row.slice();
  r[0] = -Infinity;
  return argmaxRow(r);
}

/** Reference greedy: re-run the full uncached forward on the whole prefix every step. */
function referenceGreedy(m: Seq2SeqTransformer, src: number[], maxLen: number): number[] {
  const out: number[] = [];
  noGrad(() => {
    for (let t = 0; t < maxLen; t++) {
      const logits = m.forward(ids([src]), ids([[BOS, ...out]])).f32; // (1, t + 1, V)
      const tok = argmaxNoPad(logits.subarray(t * V, (t + 1) * V));
      if (tok === EOS) break;
      out.push(tok);
    }
  });
  return out;
}

/** Sum of log p(token) by an independent uncached forward; eos is scored when `finished`. */
function logProb(m: Seq2SeqTransformer, src: number[], tokens: number[], finished: boolean) {
  return noGrad(() => {
    const lp = F.logSoftmax(m.forward(ids([src]), ids([[BOS, ...tokens]])), -1).f32;
    const targets = finished ? [...tokens, EOS] : tokens;
    return targets.reduce((s, tok, t) => s + lp[t * V + tok], 0);
  });
}

function assertScoresMatch(
  m: Seq2SeqTransformer,
  src: number[],
  hyps: Hypothesis[],
  alpha: number,
): void {
  assert.ok(hyps.length >= 1);
  for (let i = 0; i < hyps.length; i++) {
    const h = hyps[i];
    const len = h.tokens.length + (h.finished ? 1 : 0);
    const expected = logProb(m, src, h.tokens, h.finished) / gnmtLengthPenalty(len, alpha);
    assert.ok(
      Math.abs(h.score - expected) < 1e-4,
      `hypothesis ${i} ${JSON.stringify(h.tokens)}: score ${h.score} vs uncached ${expected}`,
    );
    if (i > 0) assert.ok(hyps[i - 1].score >= h.score, 'hypotheses must be sorted best first');
  }
}

/**
 * Reference beam search for one source, written plainly: an uncached forward per hypothesis,
 * no early stopping (runs all maxLen steps), every finished hypothesis kept; returns the K
 * best of all finished and final live hypotheses.
 */
function referenceBeam(
  m: Seq2SeqTransformer,
  src: number[],
  K: number,
  maxLen: number,
  alpha: number,
): Hypothesis[] {
  let live = [{ tokens: [] as number[], logp: 0 }];
  const done: Hypothesis[] = [];
  for (let t = 0; t < maxLen && live.length > 0; t++) {
    const cands: { beam: number; token: number; logp: number }[] = [];
    live.forEach((h, beam) => {
      const lp = noGrad(
        () => F.logSoftmax(m.forward(ids([src]), ids([[BOS, ...h.tokens]])), -1).f32,
      );
      for (let v = 1; v < V; v++) cands.push({ beam, token: v, logp: h.logp + lp[t * V + v] });
    });
    cands.sort((a, b) => b.logp - a.logp || a.beam - b.beam || a.token - b.token);
    const next: typeof live = [];
    cands.slice(0, 2 * K).forEach((c, rank) => {
      const tokens = live[c.beam].tokens;
      if (c.token === EOS) {
        if (rank < K) {
          const score = c.logp / gnmtLengthPenalty(tokens.length + 1, alpha);
          done.push({ tokens, score, finished: true });
        }
      } else if (next.length < K) next.push({ tokens: [...tokens, c.token], logp: c.logp });
    });
    live = next;
  }
  for (const h of live) {
    const score = h.logp / gnmtLengthPenalty(h.tokens.length, alpha);
    done.push({ tokens: h.tokens, score, finished: false });
  }
  return done.sort((a, b) => b.score - a.score).slice(0, K);
}

const SOURCES = [
  [3, 4, 5, 6, 7],
  [8, 9, 10, 11, 12],
  [13, 3, 9, 4, 14],
];

for (const name of backends) {
  describe(`seq2seq decoding (${name} backend)`, () => {
    test.beforeEach(() => setBackend(name));

    test('greedy with caches (batched) equals an uncached full-prefix greedy', () => {
      for (const seed of [1, 2, 3]) {
        const m = tinySeq2Seq(seed);
        const got = greedyDecode(m, ids(SOURCES), { bosId: BOS, eosId: EOS, maxLen: 12 });
        const want = SOURCES.map((s) => referenceGreedy(m, s, 12));
        assert.deepEqual(got, want, `seed ${seed}`);
      }
      // Some sequences run to maxLen, some stop at eos, with different lengths in one batch.
      const m = tinySeq2Seq(2, 2);
      const got = greedyDecode(m, ids(SOURCES), { bosId: BOS, eosId: EOS, maxLen: 12 });
      assert.deepEqual(
        got,
        SOURCES.map((s) => referenceGreedy(m, s, 12)),
      );
    });

    test('beam size 1 equals greedy', () => {
      for (const seed of [1, 2, 3]) {
        const m = tinySeq2Seq(seed, 1);
        const greedy = greedyDecode(m, ids(SOURCES), { bosId: BOS, eosId: EOS, maxLen: 10 });
        const beam = beamSearch(m, ids(SOURCES), {
          bosId: BOS,
          eosId: EOS,
          maxLen: 10,
          beamSize: 1,
        });
        assert.deepEqual(
          beam.map((hs) => hs[0].tokens),
          greedy,
          `seed ${seed}`,
        );
        for (const hs of beam) assert.equal(hs.length, 1);
      }
    });

    test('beam scores equal uncached log-probs (alpha 0 and 0.6), sorted; beam 4 >= greedy', () => {
      let strictlyBetter = 0;
      for (const seed of [1, 2, 3, 4]) {
        const m = tinySeq2Seq(seed, 1);
        for (const alpha of [0, 0.6]) {
          const res = beamSearch(m, ids(SOURCES), {
            bosId: BOS,
            eosId: EOS,
            maxLen: 10,
            beamSize: 4,
            lengthPenalty: alpha,
          });
          assert.equal(res.length, SOURCES.length);
          res.forEach((hs, b) => {
            assert.ok(hs.length <= 4);
            assertScoresMatch(m, SOURCES[b], hs, alpha);
          });
          if (alpha !== 0) continue;
          const greedy = greedyDecode(m, ids(SOURCES), { bosId: BOS, eosId: EOS, maxLen: 10 });
          res.forEach((hs, b) => {
            const g = greedy[b];
            const gScore = logProb(m, SOURCES[b], g, g.length < 10);
            assert.ok(hs[0].score >= gScore - 1e-5, `seed ${seed} source ${b}`);
            if (hs[0].score > gScore + 1e-3) strictlyBetter++;
          });
        }
      }
      assert.ok(strictlyBetter > 0, 'beam search should beat greedy somewhere in these models');
    });

    test('beam search (early stopping, caches) equals a plain uncached reference', () => {
      const cases: { seed: number; eosBias: number; K: number; alpha: number }[] = [];
      for (const seed of [2, 3, 4])
        for (const alpha of [0, 0.6, -0.5]) cases.push({ seed, eosBias: 1, K: 3, alpha });
      // Cases where stopping as soon as K hypotheses are finished (fairseq), or bounding live
      // beams by their current length when alpha > 0 (HF's heuristic), would differ.
      cases.push({ seed: 2, eosBias: 3, K: 2, alpha: 0 });
      cases.push({ seed: 4, eosBias: 3, K: 3, alpha: 0.6 });
      cases.push({ seed: 2, eosBias: 4, K: 3, alpha: 1 });
      for (const { seed, eosBias, K, alpha } of cases) {
        const m = tinySeq2Seq(seed, eosBias);
        const res = beamSearch(m, ids(SOURCES), {
          bosId: BOS,
          eosId: EOS,
          maxLen: 8,
          beamSize: K,
          lengthPenalty: alpha,
        });
        res.forEach((hs, b) => {
          const want = referenceBeam(m, SOURCES[b], K, 8, alpha);
          const what = `seed ${seed} eosBias ${eosBias} K ${K} alpha ${alpha} source ${b}`;
          assert.deepEqual(
            hs.map((h) => [h.tokens, h.finished]),
            want.map((h) => [h.tokens, h.finished]),
            what,
          );
          hs.forEach((h, i) => assert.ok(Math.abs(h.score - want[i].score) < 1e-4, what));
        });
      }
    });

    test('batched decoding of 2 sources equals decoding each alone', () => {
      const m = tinySeq2Seq(4, 1);
      const pair = [SOURCES[0], SOURCES[2]];
      const o = { bosId: BOS, eosId: EOS, maxLen: 10 };
      const g = greedyDecode(m, ids(pair), o);
      const b = beamSearch(m, ids(pair), { ...o, beamSize: 3, lengthPenalty: 0.6 });
      pair.forEach((s, i) => {
        assert.deepEqual(g[i], greedyDecode(m, ids([s]), o)[0]);
        const alone = beamSearch(m, ids([s]), { ...o, beamSize: 3, lengthPenalty: 0.6 })[0];
        assert.deepEqual(
          b[i].map((h) => [h.tokens, h.finished]),
          alone.map((h) => [h.tokens, h.finished]),
        );
        b[i].forEach((h, j) => assert.ok(Math.abs(h.score - alone[j].score) < 1e-5));
      });
    });

    test('padding in the source (pad id 0) does not change the results', () => {
      const m = tinySeq2Seq(3, 1);
      const o = { bosId: BOS, eosId: EOS, maxLen: 10 };
      const padded = ids([
        [8, 9, 10, 0, 0],
        [3, 4, 5, 6, 7],
      ]);
      const unpadded = ids([[8, 9, 10]]);
      assert.deepEqual(greedyDecode(m, padded, o)[0], greedyDecode(m, unpadded, o)[0]);
      const bp = beamSearch(m, padded, { ...o, beamSize: 4 })[0];
      const bu = beamSearch(m, unpadded, { ...o, beamSize: 4 })[0];
      assert.deepEqual(
        bp.map((h) => h.tokens),
        bu.map((h) => h.tokens),
      );
      bp.forEach((h, j) => assert.ok(Math.abs(h.score - bu[j].score) < 1e-5));
    });

    test('a very likely eos stops decoding at once; an impossible eos runs to maxLen', () => {
      const likely = tinySeq2Seq(1, 40);
      const o = { bosId: BOS, eosId: EOS, maxLen: 9 };
      assert.deepEqual(greedyDecode(likely, ids(SOURCES), o), [[], [], []]);
      for (const hs of beamSearch(likely, ids(SOURCES), { ...o, beamSize: 4 })) {
        assert.deepEqual(hs[0].tokens, []);
        assert.equal(hs[0].finished, true);
        assert.ok(hs[0].score > -1e-3 && hs[0].score <= 0);
      }
      const never = tinySeq2Seq(1, -1e4);
      for (const out of greedyDecode(never, ids(SOURCES), o)) assert.equal(out.length, 9);
      const res = beamSearch(never, ids(SOURCES), { ...o, beamSize: 3 });
      res.forEach((hs, b) => {
        assert.equal(hs.length, 3);
        for (const h of hs) {
          assert.equal(h.finished, false);
          assert.equal(h.tokens.length, 9);
        }
        assertScoresMatch(never, SOURCES[b], hs, 0);
      });
    });

    test('the training flag is restored', () => {
      const m = tinySeq2Seq(1).train();
      beamSearch(m, ids([SOURCES[0]]), { bosId: BOS, eosId: EOS, maxLen: 3, beamSize: 2 });
      greedyDecode(m, ids([SOURCES[0]]), { bosId: BOS, eosId: EOS, maxLen: 3 });
      assert.equal(m.training, true);
      assert.equal(m.generator.training, true);
    });
  });
}

test('options are validated with errors naming the option', () => {
  const m = tinySeq2Seq(1);
  const src = ids([[3, 4]]);
  const o = { bosId: BOS, eosId: EOS, maxLen: 5, beamSize: 2 };
  assert.throws(() => beamSearch(m, src, { ...o, beamSize: 0 }), /beamSize/);
  assert.throws(() => beamSearch(m, src, { ...o, beamSize: 1.5 }), /beamSize/);
  assert.throws(() => beamSearch(m, src, { ...o, maxLen: 0 }), /maxLen/);
  assert.throws(() => beamSearch(m, src, { ...o, maxLen: 10000 }), /maxLen/);
  assert.throws(() => beamSearch(m, src, { ...o, lengthPenalty: NaN }), /lengthPenalty/);
  assert.throws(() => beamSearch(m, src, { ...o, lengthPenalty: Infinity }), /lengthPenalty/);
  assert.throws(() => greedyDecode(m, src, { ...o, eosId: V }), /eosId/);
  assert.throws(() => greedyDecode(m, src, { ...o, bosId: -1 }), /bosId/);
  assert.throws(() => greedyDecode(m, tensor([[3, 4]]), o), /int32/);
});

test('indexSelect0 copies rows of dim 0, keeps the dtype, and checks indices', () => {
  const t = tensor([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
  const s = indexSelect0(t, [2, 0, 2]);
  assert.deepEqual(s.shape, [3, 2]);
  assert.equal(s.dtype, 'int32');
  assert.deepEqual(s.toArray(), [5, 6, 1, 2, 5, 6]);
  assert.throws(() => indexSelect0(t, [3]), /out of range/);
});
