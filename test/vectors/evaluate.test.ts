/** Analogy evaluation (src/vectors/evaluate.ts) on hand-made vectors with known answers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  evaluateAnalogies,
  evaluateSimilarity,
  ranks,
  spearman,
} from '../../src/vectors/evaluate.js';
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

test('spearman: ties ranked as scipy.stats.rankdata, rho as scipy.stats.spearmanr', () => {
  // Reference values from scipy 1.10.1 (Debian python3-scipy):
  // rankdata([3,1,4,1,5,9,2,6]); spearmanr(x, y).correlation.
  const x = [3, 1, 4, 1, 5, 9, 2, 6];
  const y = [2.5, 0.5, 2.5, 1, 7, 8, 0, 3];
  assert.deepEqual(ranks(x), [4, 1.5, 5, 1.5, 6, 8, 3, 7]);
  assert.ok(Math.abs(spearman(x, y) - 0.8915662650602408) < 1e-12);
  // Without ties rho = 1 - 6 sum d^2 / (n (n^2 - 1)).
  const a = [0.3, -1, 2, 7, 5, 0];
  const b = [1, 2, 3, 4, 6, 5];
  const [ra, rb] = [ranks(a), ranks(b)];
  const d2 = ra.reduce((s, r, i) => s + (r - rb[i]) ** 2, 0);
  assert.ok(Math.abs(spearman(a, b) - (1 - (6 * d2) / (6 * 35))) < 1e-12);
  assert.equal(spearman(a, a), 1);
  assert.ok(
    Math.abs(
      spearman(
        a,
        a.map((v) => -v),
      ) + 1,
    ) < 1e-12,
  );
  assert.throws(() => spearman([1, 2], [1]), /2 values against 1/);
});

test('similarity: cosines ranked against the scores, unknown words skipped', () => {
  // cos(a, b) = 1, cos(a, c) = 0.6, cos(a, d) = 0, cos(b, d) = 0.
  const v = new WordVectors(
    ['a', 'b', 'c', 'd'],
    Float32Array.from([1, 0, 2, 0, 0.6, 0.8, 0, 1]),
    2,
  );
  const agree = evaluateSimilarity(v, '# set\na b 9\na c 5\nA D 1\na zzz 3\n');
  assert.equal(agree.answered, 3);
  assert.equal(agree.skipped, 1);
  assert.ok(Math.abs(agree.spearman - 1) < 1e-12);
  const reversed = evaluateSimilarity(v, 'a b 1\na c 5\na d 9\n');
  assert.ok(Math.abs(reversed.spearman + 1) < 1e-12);
  assert.throws(() => evaluateSimilarity(v, 'a b\n'), /line 1 is not "word1 word2 score"/);
});

test('the committed sets parse, and every word is in the corpus at min count 5', async () => {
  const { readFileSync } = await import('node:fs');
  const { buildWordCorpus } = await import('../../src/vectors/word2vec.js');
  const raw = readFileSync('data/tinyshakespeare.txt', 'utf8');
  const text = raw.toLowerCase().replace(/[^\p{L}\p{N}'\s]+/gu, ' ');
  const corpus = buildWordCorpus(text, { minCount: 5 });
  const dim = 2;
  const words = corpus.words;
  const vecs = Float32Array.from({ length: words.length * dim }, (_, i) => Math.sin(i + 1));
  const v = new WordVectors(words, vecs, dim);
  const sim = evaluateSimilarity(
    v,
    readFileSync('data/vectors/shakespeare-similarity.txt', 'utf8'),
  );
  assert.equal(sim.skipped, 0);
  assert.ok(sim.answered >= 100);
  const an = evaluateAnalogies(v, readFileSync('data/vectors/shakespeare-analogies.txt', 'utf8'));
  assert.equal(an.skipped, 0);
});
