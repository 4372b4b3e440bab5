/**
 * Exposure bias measured (src/rnn/exposure-bias.ts): on tiny translate tasks (Transformer and
 * RNN with attention), the teacher-forced token-weighted loss equals the task's validation loss
 * (the number training prints); position 0 is the same both ways (both read bos); the
 * free-running scores equal an uncached loop that re-decodes the greedy prefix from scratch;
 * free-running prefixes are greedy decoding's; buckets are token-weighted means.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { noGrad } from '../../src/autograd.js';
import { tensor } from '../../src/tensor.js';
import * as F from '../../src/ops/index.js';
import { buildTranslateTask } from '../../src/tasks/translate.js';
import { bucketPositions, exposureBias } from '../../src/rnn/exposure-bias.js';
import { argmaxNotPad } from '../../src/rnn/two-pass-sampling.js';
import type { Seq2SeqModel } from '../../src/decode/seq2seq.js';
import { backends } from '../helpers.js';

const pairs = [
  { source: 'ich bin hier', target: 'i am here' },
  { source: 'du bist da drüben', target: 'you are over there' },
  { source: 'wir sind hier', target: 'we are here' },
  { source: 'sie ist nicht da', target: 'she is not there' },
];

/** The free-running scores the slow way: re-decode the whole own prefix at every step. */
function slowFreeRunning(
  m: Seq2SeqModel,
  src: number[],
  tgt: number[],
  ids: { bosId: number; eosId: number; padId: number },
) {
  const gold = [...tgt, ids.eosId];
  const prefix = [ids.bosId];
  const losses: number[] = [];
  const hits: boolean[] = [];
  noGrad(() => {
    const { memory, srcPadMask } = m.encode(tensor([src], undefined, 'int32'));
    for (let t = 0; t < gold.length; t++) {
      const logits = m.project(m.decode(tensor([prefix], undefined, 'int32'), memory, srcPadMask));
      const V = m.config.tgtVocabSize;
      const lp = F.logSoftmax(logits, -1).f32.subarray(t * V, (t + 1) * V);
      losses.push(-lp[gold[t]]);
      const guess = argmaxNotPad(lp, ids.padId);
      hits.push(guess === gold[t]);
      prefix.push(guess);
    }
  });
  return { losses, hits };
}

for (const backendName of backends) {
  describe(`exposure bias (${backendName})`, () => {
    for (const arch of ['transformer', 'rnn-attention'] as const) {
      test(`${arch}: teacher-forced loss = validation loss; free running = a slow greedy loop`, () => {
        setBackend(backendName);
        const task = buildTranslateTask({
          train: pairs,
          valid: pairs,
          arch,
          ...(arch === 'transformer'
            ? { preset: 'tiny' }
            : { rnn: { hiddenSize: 12, embedDim: 8, dropout: 0 } }),
          batchTokens: 40, // several validation batches
          vocabSize: 300,
          seed: 4,
          bleuSentences: 0,
        });
        const m = task.model;
        const tok = task.vocabs.tgt;
        const ids = { padId: tok.padId, bosId: tok.bosId, eosId: tok.eosId };
        const encoded = pairs.map((p) => ({
          src: task.vocabs.src.encode(p.source),
          tgt: tok.encode(p.target),
        }));
        m.train();
        const r = exposureBias(m, encoded, ids, { batchSize: 3 });
        assert.equal(m.training, true, 'training flag restored');
        const validLoss = task.evaluate();
        assert.ok(
          Math.abs(r.overall.teacherForcedLoss - validLoss) < 1e-5 * validLoss,
          `${r.overall.teacherForcedLoss} vs ${validLoss}`,
        );
        assert.equal(
          r.overall.tokens,
          encoded.reduce((n, e) => n + e.tgt.length + 1, 0),
        );
        const p0 = r.positions[0];
        assert.ok(Math.abs(p0.teacherForcedLoss - p0.freeRunningLoss) < 1e-5);
        assert.equal(p0.teacherForcedAccuracy, p0.freeRunningAccuracy);
        // Free running, position by position, against the slow loop summed over pairs.
        m.eval();
        const sums = r.positions.map(() => ({ loss: 0, hits: 0, n: 0 }));
        for (const e of encoded) {
          const s = slowFreeRunning(m, e.src, e.tgt, ids);
          s.losses.forEach((l, t) => {
            sums[t].loss += l;
            sums[t].hits += s.hits[t] ? 1 : 0;
            sums[t].n++;
          });
        }
        r.positions.forEach((p, t) => {
          assert.equal(p.count, sums[t].n, `count at ${t}`);
          assert.ok(Math.abs(p.freeRunningLoss - sums[t].loss / sums[t].n) < 1e-4, `loss at ${t}`);
          assert.equal(p.freeRunningAccuracy, sums[t].hits / sums[t].n, `accuracy at ${t}`);
        });
      });
    }
  });
}

test('bucketPositions: token-weighted means, 1-based buckets', () => {
  const pos = [0, 1, 2, 3].map((position) => ({
    position,
    count: position + 1,
    teacherForcedLoss: position,
    teacherForcedAccuracy: 1,
    freeRunningLoss: 2 * position,
    freeRunningAccuracy: 0.5,
  }));
  const b = bucketPositions(pos, [1, 3]);
  assert.deepEqual(
    b.map((x) => [x.bucket, x.tokens, x.teacherForcedLoss, x.freeRunningLoss]),
    [
      ['1-2', 3, 2 / 3, 4 / 3],
      ['3+', 7, (2 * 3 + 3 * 4) / 7, (4 * 3 + 6 * 4) / 7],
    ],
  );
  assert.throws(
    () => exposureBias({} as Seq2SeqModel, [], { padId: 0, bosId: 1, eosId: 2 }),
    /no pairs/,
  );
});
