/**
 * The classical baselines from the CLI (`train --task classify --arch tfidf-logreg|bow-nb`):
 * a model directory that `classify`, `eval` and load() read back, predicting exactly what
 * the library's classifiers (src/vectors/classifiers.ts) fitted on the same training split
 * predict; bad options are refused by name.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator } from '../../src/random.js';
import { loadTaskData } from '../../src/tasks/data.js';
import { load } from '../../src/tasks/load.js';
import { BaselineClassifier } from '../../src/tasks/baseline.js';
import { bagOfWords, fitTfidf, fitVocabulary, tfidf } from '../../src/vectors/bow.js';
import { fitLogisticRegression, fitMultinomialNB } from '../../src/vectors/classifiers.js';
import { cli, tmp } from '../cli/in-process.js';

/** A noisy two-label TSV: each text mixes label words with shared words, some mislabelled. */
function noisyTsv(dir: string, n = 200): string {
  const g = new Generator(11);
  const pos = ['good', 'great', 'fine', 'nice', 'love'];
  const neg = ['bad', 'awful', 'poor', 'hate', 'dull'];
  const any = ['the', 'film', 'was', 'plot', 'actor', 'very', 'and', 'it'];
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const y = g.randint(2);
    const words = Array.from({ length: 6 }, () => {
      const u = g.uniform();
      const own = y ? pos : neg;
      const other = y ? neg : pos;
      const list = u < 0.35 ? own : u < 0.5 ? other : any;
      return list[g.randint(list.length)];
    });
    rows.push(`${words.join(' ')}\t${y ? 'pos' : 'neg'}`);
  }
  const path = join(dir, 'noisy.tsv');
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

/** `train --task classify --arch <arch>` on `data` into `out`, with the extra arguments. */
function baselineTrain(arch: string, data: string, out: string, ...extra: string[]): string[] {
  return ['train', '--task', 'classify', '--arch', arch, '--data', data, '--out', out, ...extra];
}

for (const arch of ['tfidf-logreg', 'bow-nb'] as const) {
  test(`train --arch ${arch}: classify and eval equal the library classifier`, async () => {
    const dir = tmp();
    const data = noisyTsv(dir);
    const out = join(dir, 'model');
    const config = join(dir, 'c.json');
    writeFileSync(config, arch === 'bow-nb' ? '{"alpha": 0.5}' : '{"C": 2}');
    const r = await cli(baselineTrain(arch, data, out, '--config', config));
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /test accuracy: \d+\.\d+%/);
    // The library, on the same training split.
    const split = loadTaskData('classify', data);
    const texts = split.train.map((e) => e.text);
    const labels = split.train.map((e) => e.label);
    const probe = [...split.test.map((e) => e.text), 'good great nice', 'awful bad', 'the plot'];
    let expected: string[];
    if (arch === 'bow-nb') {
      const vocab = fitVocabulary(texts);
      const nb = fitMultinomialNB(bagOfWords(vocab, texts), labels, 0.5);
      expected = nb.predict(bagOfWords(vocab, probe));
    } else {
      const m = fitTfidf(texts);
      const lr = fitLogisticRegression(tfidf(m, texts), labels, { C: 2 });
      expected = lr.predict(tfidf(m, probe));
    }
    const c = await cli(['classify', '--model', out, ...probe]);
    assert.equal(c.code, 0, c.err);
    const got = c.out
      .trim()
      .split('\n')
      .map((l) => l.split('\t')[0]);
    assert.deepEqual(got, expected);
    assert.ok(new Set(expected).size === 2, 'the probe exercises both labels');
    // eval on the whole file: the library's accuracy.
    const all = loadTaskData('classify', data);
    const every = [...all.train, ...all.valid, ...all.test];
    const loaded = load(out);
    assert.ok(loaded instanceof BaselineClassifier);
    const preds = loaded.classify(every.map((e) => e.text));
    const acc = preds.filter((p, i) => p.label === every[i].label).length / every.length;
    const e = await cli(['eval', '--model', out, '--data', data, '--json']);
    assert.equal(e.code, 0, e.err);
    assert.equal(JSON.parse(e.out).accuracy, acc);
    assert.ok(acc > 0.6 && acc < 1, `noisy data: accuracy ${acc}`);
    // Probabilities are a softmax of the library's scores.
    if (arch === 'tfidf-logreg') {
      const m = fitTfidf(texts);
      const lr = fitLogisticRegression(tfidf(m, texts), labels, { C: 2 });
      const s = lr.scores(tfidf(m, ['good film']));
      const p1 = 1 / (1 + Math.exp(s[0] - s[1]));
      const [q] = loaded.classify(['good film']);
      assert.ok(Math.abs((q.label === 'pos' ? q.probability : 1 - q.probability) - p1) < 1e-12);
    }
  });
}

test('train --arch baseline: options that do not apply are refused by name', async () => {
  const dir = tmp();
  const data = noisyTsv(dir, 40);
  const out = join(dir, 'm');
  const r1 = await cli(baselineTrain('bow-nb', data, out, '--lr', '0.1'));
  assert.equal(r1.code, 1);
  assert.match(r1.err, /--lr do not apply to --arch bow-nb/);
  const config = join(dir, 'c.json');
  writeFileSync(config, '{"C": 1}');
  const r2 = await cli(baselineTrain('bow-nb', data, out, '--config', config));
  assert.equal(r2.code, 1);
  assert.match(
    r2.err,
    /'C' does not apply to --arch bow-nb \(known: minDf, maxDf, maxFeatures, binary, alpha\)/,
  );
  const r3 = await cli(baselineTrain('svm', data, out));
  assert.match(r3.err, /--arch: 'svm' is not transformer, tfidf-logreg or bow-nb/);
  const r4 = await cli(['train', '--task', 'lm', '--arch', 'bow-nb', '--out', out]);
  assert.match(r4.err, /--arch bow-nb applies to --task translate only|is not transformer, rnn/);
  // a baseline directory is not a Transformer: attention says so
  const ok = await cli(baselineTrain('bow-nb', data, out));
  assert.equal(ok.code, 0, ok.err);
  const a = await cli(['attention', '--model', out, '--text', 'good', '--out', join(dir, 'a.svg')]);
  assert.match(a.err, /BowNB baseline/);
});
