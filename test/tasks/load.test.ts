/**
 * One-call loaders of model directories (issue #11 item 16): load / loadTranslator /
 * loadLanguageModel / loadClassifier return the model, tokenizer(s) and a method that gives
 * what the CLI gives; they are synchronous, as loadModel and loadTokenizer. And the trivial
 * baselines of src/tasks/report.ts against their formulas.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as lib from '../../src/index.js';
import { baselineWarning, majorityAccuracy, unigramCrossEntropy } from '../../src/tasks/report.js';
import { cli, tinyModels } from '../cli/in-process.js';

const dirs = { lm: '', translate: '', classify: '' };
before(async () => Object.assign(dirs, await tinyModels(['lm', 'translate', 'classify'], 2)));

test('loaders are exported, synchronous, and give what the CLI prints', async () => {
  const t = lib.loadTranslator(dirs.translate);
  assert.ok(!(t instanceof Promise));
  const cliOut = await cli(['translate', '--model', dirs.translate, '--beam', '1', 'ich bin hier']);
  assert.deepEqual(t.translate(['ich bin hier'], { beam: 1 }), [cliOut.out.trim()]);
  const g = lib.loadLanguageModel(dirs.lm);
  const gen = await cli([
    'generate',
    '--model',
    dirs.lm,
    '--prompt',
    'to',
    '--max-tokens',
    '5',
    '--seed',
    '2',
  ]);
  assert.equal(g.generate('to', { maxTokens: 5, seed: 2 }) + '\n', gen.out);
  const c = lib.loadClassifier(dirs.classify);
  const cls = await cli(['classify', '--model', dirs.classify, 'great movie']);
  const [p] = c.classify(['great movie']);
  assert.equal(`${p.label}\t${p.probability.toFixed(4)}\n`, cls.out);
  for (const [task, dir] of Object.entries(dirs)) assert.equal(lib.load(dir).task, task);
  assert.throws(
    () => lib.loadClassifier(dirs.lm),
    /holds a 'lm' model; this command needs 'classify'/,
  );
});

test('unigramCrossEntropy and majorityAccuracy equal their formulas; baselineWarning compares', () => {
  // train counts: 0 x2, 1 x1 over V = 3 -> p = (3/6, 2/6, 1/6)
  const ce = unigramCrossEntropy([0, 0, 1], [0, 2], 3);
  assert.ok(Math.abs(ce - -(Math.log(3 / 6) + Math.log(1 / 6)) / 2) < 1e-12);
  assert.equal(majorityAccuracy([1, 1, 0], [1, 0, 0, 0]), 0.25);
  const b = { metric: 'valid_accuracy' as const, value: 0.5, name: 'majority-class accuracy' };
  assert.match(
    baselineWarning([{ step: 1, valid_accuracy: 0.5 }], b) ?? '',
    /never beat the majority-class accuracy \(0\.5000\)/,
  );
  assert.equal(
    baselineWarning(
      [
        { step: 1, valid_accuracy: 0.5 },
        { step: 2, valid_accuracy: 0.6 },
      ],
      b,
    ),
    null,
  );
  const l = { metric: 'valid_loss' as const, value: 2, name: 'unigram baseline loss' };
  assert.equal(baselineWarning([{ step: 1, valid_loss: 1.9 }], l), null);
  assert.ok(baselineWarning([{ step: 1, valid_loss: 2.1 }], l));
  assert.equal(baselineWarning([{ step: 1, loss: 3 }], l), null, 'nothing validated');
});
