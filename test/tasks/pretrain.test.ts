/**
 * Pre-training and fine-tuning (issue #18): the masked-LM loss equals a hand computation at
 * the chosen positions and falls over a few steps; `pretrain` then `train --init` loads the
 * pre-trained tensors into the classifier (names mapped from a DecoderLM, the embedding
 * rescaled), frozen layers stay equal to the pre-trained ones through fine-tuning, and a
 * pre-trained model of another shape or tokenizer is refused naming both values.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { noGrad } from '../../src/autograd.js';
import { Generator } from '../../src/random.js';
import { tensor } from '../../src/tensor.js';
import { EncoderClassifier, type EncoderClassifierConfig } from '../../src/models/classifier.js';
import { MaskedLM } from '../../src/models/masked-lm.js';
import { DecoderLM } from '../../src/models/decoder-lm.js';
import { loadModel } from '../../src/io/checkpoint.js';
import { loadClassifier } from '../../src/tasks/classify.js';
import { saveModelDir } from '../../src/tasks/modeldir.js';
import {
  buildMLMTask,
  loadPretrainedEncoder,
  maskedBatch,
  readPretrained,
} from '../../src/tasks/pretrain.js';
import { IGNORE_INDEX } from '../../src/train/mlm.js';
import { AdamW } from '../../src/train/optim.js';
import { trainBPE } from '../../src/tokenizers/index.js';
import { eachBackend } from '../helpers.js';
import { cli, tmp } from '../cli/in-process.js';

const TEXTS = Array.from(
  { length: 40 },
  (_, i) =>
    [
      'the cat sat on the mat',
      'a dog ran in the park',
      'the bird sang a song',
      'my cat likes the dog',
    ][i % 4],
);
const tiny = { dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32, dropout: 0 };

test('MaskedLM.mlmLoss equals the mean -log softmax at the chosen positions', () => {
  eachBackend(() => {
    const tok = trainBPE(TEXTS, { vocabSize: 290 });
    const model = new MaskedLM({ ...tiny, vocabSize: tok.vocabSize, maxLen: 16 }, new Generator(1));
    const windows = TEXTS.slice(0, 4).map((t) => [tok.bosId, ...tok.encode(t)]);
    const { input, labels } = maskedBatch(windows, tok, new Generator(7), 0.3);
    const chosen = [...labels.i32.keys()].filter((i) => labels.i32[i] !== IGNORE_INDEX);
    assert.ok(chosen.length > 0);
    for (const i of chosen) assert.ok(input.i32[i] !== tok.padId && labels.i32[i] >= 4);
    const V = tok.vocabSize;
    let hand = 0;
    noGrad(() => {
      const logits = model.forward(input).f32; // (B, S, V)
      for (const i of chosen) {
        const row = logits.subarray(i * V, (i + 1) * V);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
        hand += lse - row[labels.i32[i]];
      }
    });
    const loss = noGrad(() => model.mlmLoss(input, labels).item());
    assert.ok(Math.abs(loss - hand / chosen.length) < 1e-4, `${loss} vs ${hand / chosen.length}`);
  });
});

test('masked-LM pre-training: the loss of a fixed batch falls over 25 steps (seeded)', () => {
  const task = buildMLMTask({
    texts: TEXTS,
    preset: 'tiny',
    vocabSize: 290,
    maxLen: 12,
    batchSize: 8,
    seed: 3,
  });
  const opt = new AdamW(task.model.parameters(), { lr: 3e-3 });
  const first = noGrad(() => task.loss(1, 0).loss.item());
  for (let s = 1; s <= 25; s++) {
    opt.zeroGrad();
    task.loss(s, 0).loss.backward();
    opt.step();
  }
  const last = noGrad(() => task.loss(1, 0).loss.item());
  assert.ok(last < first - 0.5, `loss ${first} -> ${last}`);
  assert.ok(Math.abs(first - Math.log(290)) < 1, `starts near ln V: ${first}`);
});

test('pretrain --objective mlm, then train --init --freeze-layers: encoder equals the pre-trained one', async () => {
  const dir = tmp();
  const data = join(dir, 'text.txt');
  writeFileSync(data, TEXTS.join('\n\n'));
  const tsv = join(dir, 'l.tsv');
  writeFileSync(tsv, TEXTS.map((t, i) => `${t}\t${i % 2 ? 'a' : 'b'}`).join('\n'));
  const pre = join(dir, 'pre');
  const p = await cli([
    'pretrain',
    '--objective',
    'mlm',
    '--data',
    data,
    '--out',
    pre,
    '--preset',
    'tiny',
    '--steps',
    '3',
    '--batch-size',
    '4',
    '--max-len',
    '12',
    '--vocab-size',
    '290',
  ]);
  assert.equal(p.code, 0, p.err);
  const mlm = new MaskedLM(readPretrained(pre).cfg.config as never);
  loadModel(mlm, join(pre, 'model.safetensors'));
  const out = join(dir, 'ft');
  const args = [
    'train',
    '--task',
    'classify',
    '--data',
    tsv,
    '--init',
    pre,
    '--steps',
    '3',
    '--batch-tokens',
    '64',
  ];
  const r = await cli([...args, '--out', out, '--freeze-layers', '1']);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /--init: loaded \d+ tensors of the pre-trained MaskedLM.*new: classifier\.weight, classifier\.bias/,
  );
  const { model } = loadClassifier(out);
  const want = mlm.stateDict();
  let frozen = 0;
  for (const [name, t] of model.stateDict()) {
    if (name.startsWith('classifier.')) continue;
    const same = t.f32.every((v, i) => v === want.get(name)!.f32[i]);
    if (/^(tok_emb|pos_emb|encoder\.layers\.0)\./.test(name)) {
      assert.ok(same, `${name} frozen at its pre-trained value`);
      frozen++;
    }
  }
  assert.ok(frozen > 5);
  // another shape, another tokenizer, --preset: refused naming both values
  const cfg = join(dir, 'c.json');
  writeFileSync(cfg, '{"dModel": 24}');
  const e1 = await cli([...args, '--out', join(dir, 'x'), '--config', cfg]);
  assert.match(e1.err, /--init .*: the pre-trained model has dModel 32, the classifier 24/);
  const e2 = await cli([...args, '--out', join(dir, 'x'), '--preset', 'small']);
  assert.match(e2.err, /--preset does not apply with --init/);
  const other = trainBPE(['something else entirely'], { vocabSize: 270 });
  const c = new EncoderClassifier({
    ...tiny,
    numLayers: 1,
    dModel: 32,
    dimFeedforward: 64,
    vocabSize: 290,
    numClasses: 2,
    maxLen: 12,
  });
  assert.throws(
    () => loadPretrainedEncoder(c, other, readPretrained(pre)),
    /tokenizer differs from the pre-trained one/,
  );
  const g = await cli(['generate', '--model', pre]);
  assert.match(g.err, /pre-trained by masked-LM.*train --task classify --init/);
});

test('fine-tuning from a DecoderLM: names mapped, the embedding divided by sqrt(C)', () => {
  const dir = tmp();
  const tok = trainBPE(TEXTS, { vocabSize: 290 });
  const config = { ...tiny, vocabSize: tok.vocabSize, blockSize: 12, position: 'learned' };
  const lm = new DecoderLM(config, new Generator(4));
  saveModelDir(dir, { task: 'lm', model: 'DecoderLM', config }, lm, tok); // as pretrain --objective causal
  const pre = readPretrained(dir);
  const clf = new EncoderClassifier(
    { ...pre.classifierConfig, numClasses: 3, padId: tok.padId } as EncoderClassifierConfig,
    new Generator(9),
  );
  const { loaded, fresh } = loadPretrainedEncoder(clf, tok, pre);
  assert.deepEqual(fresh, ['classifier.weight', 'classifier.bias']);
  const src = lm.stateDict();
  const dst = clf.stateDict();
  const from = (name: string) =>
    name
      .replace(/^tok_emb\./, 'wte.')
      .replace(/^pos_emb\./, 'wpe.')
      .replace(/^encoder\.layers\./, 'blocks.layers.')
      .replace(/^encoder\.norm\./, 'ln_f.');
  assert.equal(loaded.length, src.size);
  for (const name of loaded) {
    const a = dst.get(name)!.f32;
    const b = src.get(from(name))!.f32;
    const k = name === 'tok_emb.weight' ? Math.sqrt(16) : 1;
    assert.ok(
      a.every((v, i) => Math.abs(v * k - b[i]) <= 1e-6 * Math.abs(b[i]) + 1e-9),
      name,
    );
  }
  // the classifier's scaled embedding reads what the LM's embedding gave
  const ids = tensor([[1, 5, 9, 30]], undefined, 'int32');
  const x = noGrad(() => clf.tokEmb.forward(ids).f32);
  const y = noGrad(() => lm.wte.forward(ids).f32);
  assert.ok(x.every((v, i) => Math.abs(v - y[i]) < 1e-6));
});
