import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator } from '../../src/random.js';
import { EncoderClassifier } from '../../src/models/classifier.js';
import { trainCharTokenizer } from '../../src/tokenizers/index.js';
import { classifyTexts } from '../../src/tasks/classify.js';

test('classifyTexts runs without dropout even when the model is in training mode, and restores the mode', () => {
  const tok = trainCharTokenizer(['abcdefgh ']);
  const model = new EncoderClassifier(
    {
      vocabSize: tok.vocabSize,
      numClasses: 2,
      dModel: 16,
      nhead: 2,
      numLayers: 1,
      dropout: 0.5,
      padId: tok.padId,
    },
    new Generator(1),
  );
  model.train();
  const a = classifyTexts(model, tok, ['x', 'y'], ['abc', 'hgf ed']);
  const b = classifyTexts(model, tok, ['x', 'y'], ['abc', 'hgf ed']);
  assert.deepEqual(a, b);
  assert.equal(model.training, true);
});
