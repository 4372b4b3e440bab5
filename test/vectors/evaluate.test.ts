/** Analogy evaluation (src/vectors/evaluate.ts) on hand-made vectors with known answers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateAnalogies } from '../../src/vectors/evaluate.js';
import { WordVectors } from '../../src/vectors/word-vectors.js';

test('analogies: correct, wrong and skipped questions, per section', () => {
  // king - man + woman = queen exactly; apple is far from everything.
  const v = new WordVectors(
    ['king', 'queen', 'man', 'woman', 'apple'],
    Float32Array.from([1, 1, 0, 1, -1, 0, 0, 1, 0.1, 0, -1, 0.1, 0, 0, 5]),
    3,
  );
  const s = evaluateAnalogies(
    v,
    '# comment\n: gender\nman king woman queen\nMAN KING WOMAN APPLE\n: other\nman king pear queen\n',
  );
  assert.equal(s.answered, 2);
  assert.equal(s.correct, 1);
  assert.equal(s.skipped, 1);
  assert.equal(s.accuracy, 0.5);
  assert.deepEqual(s.sections, [
    { name: 'gender', correct: 1, answered: 2 },
    { name: 'other', correct: 0, answered: 0 },
  ]);
  assert.throws(() => evaluateAnalogies(v, 'a b c\n'), /line 1 has 3 words/);
});
