/**
 * The translate task with the RNN encoder-decoders (src/tasks/translate.ts, arch rnn /
 * rnn-attention): scheduled sampling hands the model's forward (RNNSeq2Seq's and, two-pass,
 * Seq2SeqTransformer's) 1 - eps(step - 1) in training and 0 in validation; a saved directory loads (loadTranslator) into an RNNSeq2Seq that translates
 * exactly as the trained model; the Transformer-only options are refused.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildTranslateTask, loadTranslator, translateIds } from '../../src/tasks/translate.js';
import { saveModelDir } from '../../src/tasks/modeldir.js';
import { RNNSeq2Seq } from '../../src/rnn/seq2seq.js';
import { tmp } from '../cli/in-process.js';
import { rnnAlignmentSection } from '../../src/cli/infer.js';
import { tensor } from '../../src/tensor.js';

const pairs = [
  { source: 'ich bin hier', target: 'i am here' },
  { source: 'du bist da', target: 'you are there' },
  { source: 'wir sind hier', target: 'we are here' },
];

const small = { hiddenSize: 12, embedDim: 8, dropout: 0 };

for (const arch of ['rnn-attention', 'transformer'] as const) {
  test(`scheduled sampling (${arch}): forward gets 1 - eps(step - 1) in training, 0 in validation`, () => {
    const seen: number[] = [];
    const task = buildTranslateTask({
      train: pairs,
      valid: pairs,
      arch,
      ...(arch === 'transformer'
        ? { preset: 'tiny' }
        : { rnn: { ...small, cell: 'lstm' as const, attention: 'dot' as const } }),
      teacherForcing: (i) => 1 / (i + 2),
      batchTokens: 200,
      vocabSize: 300,
      seed: 3,
      bleuSentences: 0,
    });
    const m = task.model;
    if (arch === 'rnn-attention') assert.equal((m as RNNSeq2Seq).config.attention, 'dot');
    const forward = m.forward.bind(m);
    m.forward = (src, tgt, o = {}) => {
      seen.push(o.samplingProb ?? 0);
      return forward(src, tgt, o);
    };
    for (const step of [1, 2, 7]) task.loss(step, 0);
    assert.deepEqual(seen, [1 - 1 / 2, 1 - 1 / 3, 1 - 1 / 8]);
    seen.length = 0;
    task.evaluate();
    assert.ok(seen.length > 0 && seen.every((p) => p === 0));
  });
}

test('arch rnn forces attention none; a saved directory translates like the trained model', () => {
  const task = buildTranslateTask({
    train: pairs,
    valid: pairs,
    arch: 'rnn',
    rnn: { ...small, bidirectional: true, attention: 'general' },
    batchTokens: 200,
    vocabSize: 300,
    seed: 4,
    bleuSentences: 0,
  });
  assert.equal(task.dirConfig.model, 'RNNSeq2Seq');
  assert.equal((task.model as RNNSeq2Seq).config.attention, 'none');
  task.loss(1, 0);
  const dir = join(tmp(), 'm');
  mkdirSync(dir);
  saveModelDir(dir, task.dirConfig, task.model, task.vocabs.src);
  const t = loadTranslator(dir);
  assert.ok(t.model instanceof RNNSeq2Seq);
  assert.equal(t.model.config.bidirectional, true);
  const src = pairs.map((p) => task.vocabs.src.encode(p.source));
  for (const beam of [1, 3]) {
    const want = translateIds(task.model, task.vocabs, src, { beam, maxLen: 12 });
    assert.deepEqual(
      t.translate(
        pairs.map((p) => p.source),
        { beam, maxLen: 12 },
      ),
      want,
    );
  }
});

test('rnn options are refused for the Transformer, --preset for the RNNs', () => {
  const base = { train: pairs, valid: pairs, batchTokens: 200, vocabSize: 300, seed: 1 };
  assert.throws(
    () => buildTranslateTask({ ...base, rnn: { hiddenSize: 8 } }),
    /rnn options need --arch rnn or rnn-attention/,
  );
  assert.throws(
    () => buildTranslateTask({ ...base, arch: 'rnn', preset: 'tiny' }),
    /--preset does not apply to --arch rnn/,
  );
});

test('the alignment figure: row t is the weights of decoder step t, each row sums to 1', () => {
  for (const attention of ['bahdanau', 'dot', 'general'] as const) {
    const m = new RNNSeq2Seq({
      srcVocabSize: 9,
      tgtVocabSize: 7,
      hiddenSize: 6,
      attention,
      dropout: 0,
    }).eval();
    const src = [3, 4, 5, 6];
    const tgt = [1, 3, 2];
    const sec = rnnAlignmentSection(m, src, tgt, ['a', 'b', 'c'], ['w', 'x', 'y', 'z'], 'dir');
    const map = sec.maps[0];
    assert.equal(map.rows, 3);
    assert.equal(map.cols, 4);
    assert.equal(m.recordAlignment, false);
    // Step by step with the decoder state: the same weights.
    const { memory, srcPadMask } = m.encode(tensor([src], undefined, 'int32'));
    const caches = m.newCaches();
    m.recordAlignment = true;
    tgt.forEach((tok, t) => {
      m.decode(tensor([[tok]], undefined, 'int32'), memory, srcPadMask, caches, t);
      const row = Array.from(map.weights).slice(t * 4, t * 4 + 4);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, `${attention} row ${t}`);
      const w = m.alignments[t].f32;
      row.forEach((x, s) => assert.ok(Math.abs(x - w[s]) < 1e-6, `${attention} (${t}, ${s})`));
    });
  }
});
