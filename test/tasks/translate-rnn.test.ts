/**
 * The translate task with the RNN encoder-decoders (src/tasks/translate.ts, arch rnn /
 * rnn-attention): scheduled sampling hands RNNSeq2Seq.forward 1 - eps(step - 1) in training and
 * 0 in validation; a saved directory loads (loadTranslator) into an RNNSeq2Seq that translates
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

const pairs = [
  { source: 'ich bin hier', target: 'i am here' },
  { source: 'du bist da', target: 'you are there' },
  { source: 'wir sind hier', target: 'we are here' },
];

const small = { hiddenSize: 12, embedDim: 8, dropout: 0 };

test('scheduled sampling: forward gets 1 - eps(step - 1) in training, 0 in validation', () => {
  const seen: number[] = [];
  const task = buildTranslateTask({
    train: pairs,
    valid: pairs,
    arch: 'rnn-attention',
    rnn: { ...small, cell: 'lstm', attention: 'dot' },
    teacherForcing: (i) => 1 / (i + 2),
    batchTokens: 200,
    vocabSize: 300,
    seed: 3,
    bleuSentences: 0,
  });
  const m = task.model as RNNSeq2Seq;
  assert.ok(m instanceof RNNSeq2Seq);
  assert.equal(m.config.attention, 'dot');
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
    () => buildTranslateTask({ ...base, teacherForcing: () => 1 }),
    /scheduled sampling need --arch rnn or rnn-attention/,
  );
  assert.throws(
    () => buildTranslateTask({ ...base, arch: 'rnn', preset: 'tiny' }),
    /--preset does not apply to --arch rnn/,
  );
});
