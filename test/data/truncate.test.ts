// Inputs longer than the context are cut with one warning and a count (issue 11, item 10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipAll, clipWithWarning, truncationWarning } from '../../src/data/index.js';
import { Generator } from '../../src/random.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { trainCharTokenizer } from '../../src/tokenizers/index.js';
import { classifyTexts } from '../../src/tasks/classify.js';

test('clipAll cuts to maxLen from either end and counts the cut sequences', () => {
  const seqs = [[1, 2, 3, 4, 5], [6], [7, 8, 9]];
  const start = clipAll(seqs, 3);
  assert.deepEqual(start, { seqs: [[1, 2, 3], [6], [7, 8, 9]], cut: 1, longest: 5 });
  assert.deepEqual(clipAll(seqs, 2, 'end').seqs, [[4, 5], [6], [8, 9]]);
  assert.equal(clipAll(seqs, 2, 'end').cut, 2);
  assert.equal(
    truncationWarning(clipAll(seqs, 2), 3, 2),
    "2 of 3 inputs are longer than the model's context of 2 tokens (longest 5) and were cut to their first 2 tokens",
  );
  assert.equal(
    truncationWarning(clipAll([[1, 2, 3]], 2, 'end'), 1, 2, 'end'),
    "the input is longer than the model's context of 2 tokens (longest 3) and was cut to its last 2 tokens",
  );
  assert.equal(truncationWarning(clipAll(seqs, 5), 3, 5), null);
  assert.throws(() => clipAll(seqs, -1), /maxLen must be a non-negative integer, got -1/);
  const heard: string[] = [];
  assert.deepEqual(clipWithWarning(seqs, 4, 'end', (m) => heard.push(m)), [[2, 3, 4, 5], [6], [7, 8, 9]]);
  assert.equal(heard.length, 1);
  assert.match(heard[0], /^1 of 3 inputs are longer .* cut to their last 4 tokens$/);
});

test('classifyTexts warns once, with the count, when texts exceed the context', () => {
  const tok = trainCharTokenizer(['abcdefgh ']);
  const model = new EncoderClassifier(
    {
      vocabSize: tok.vocabSize,
      numClasses: 2,
      dModel: 8,
      nhead: 2,
      numLayers: 1,
      dropout: 0,
      padId: tok.padId,
      maxLen: 6,
    },
    new Generator(1),
  );
  const texts = ['abc', 'abcdefgh', 'hgfedcba', 'ab', ...Array.from({ length: 40 }, () => 'a')];
  const warnings: string[] = [];
  const out = classifyTexts(model, tok, ['x', 'y'], texts, { onWarning: (m) => warnings.push(m) });
  assert.equal(out.length, texts.length);
  assert.deepEqual(warnings, [
    "2 of 44 inputs are longer than the model's context of 5 tokens (longest 8) and were cut to their first 5 tokens",
  ]);
  // The cut text is classified as its first 5 characters (batched with 43 others or alone:
  // the GEMM library may round a batch of 44 and a batch of 1 differently in the last bits).
  const alone = classifyTexts(model, tok, ['x', 'y'], ['abcde'])[0];
  assert.equal(out[1].label, alone.label);
  assert.ok(Math.abs(out[1].probability - alone.probability) < 1e-6, `${out[1].probability} vs ${alone.probability}`);
  classifyTexts(model, tok, ['x', 'y'], ['abc'], { onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1, 'no warning when nothing is cut');
});
