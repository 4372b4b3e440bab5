/**
 * GloVe (src/vectors/glove.ts): co-occurrence counts with 1/d weighting by hand, f(x), the
 * cost of Eq. 8 falling under AdaGrad, the fitted dot products approaching log X, and
 * planted synonyms as nearest neighbours.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator } from '../../src/random.js';
import { cooccurrence, gloveCost, gloveWeight, trainGlove } from '../../src/vectors/glove.js';
import { buildWordCorpus } from '../../src/vectors/word2vec.js';

test('co-occurrence counts: 1/d within the window, both directions, not across lines', () => {
  const c = buildWordCorpus('a b c\nc a', { minCount: 1 });
  // words by count: a (2), c (2), b (1) -> ids a 0, c 1, b 2
  assert.deepEqual(c.words, ['a', 'c', 'b']);
  const x = cooccurrence(c, 2);
  const get = (i: number, j: number) => {
    for (let p = 0; p < x.values.length; p++)
      if (x.rows[p] === i && x.cols[p] === j) return x.values[p];
    return 0;
  };
  assert.equal(get(0, 2), 1); // a-b at distance 1
  assert.equal(get(2, 0), 1);
  assert.equal(get(0, 1), 0.5 + 1); // a-c: distance 2 in line 1, 1 in line 2
  assert.equal(get(1, 2), 1); // c-b
  assert.equal(get(0, 0), 0);
  assert.throws(() => cooccurrence(c, 0), /window/);
});

test('f(x) = (x / xMax)^alpha below xMax, 1 above (Eq. 9)', () => {
  assert.ok(Math.abs(gloveWeight(50) - Math.pow(0.5, 0.75)) < 1e-12);
  assert.equal(gloveWeight(100), 1);
  assert.equal(gloveWeight(1e4), 1);
});

test('training lowers the cost of Eq. 8; planted synonyms become nearest neighbours', () => {
  const g = new Generator(4);
  const lines: string[] = [];
  for (let i = 0; i < 400; i++) {
    const ctx = Array.from({ length: 4 }, () => `c${g.randint(6)}`);
    const other = Array.from({ length: 5 }, () => `o${g.randint(12)}`);
    lines.push(
      `${ctx[0]} ${ctx[1]} ${i % 2 ? 'alpha' : 'beta'} ${ctx[2]} ${ctx[3]}`,
      other.join(' '),
    );
  }
  const c = buildWordCorpus(lines.join('\n'), { minCount: 1 });
  const x = cooccurrence(c, 3);
  const r = trainGlove(c.words, x, { dim: 10, epochs: 40, xMax: 10, seed: 2 });
  assert.ok(
    r.costs[r.costs.length - 1] < r.costs[0] / 3,
    `costs ${r.costs[0]} -> ${r.costs.at(-1)}`,
  );
  const J = gloveCost(x, r, 10, 10);
  assert.ok(Math.abs(J / x.values.length - r.costs.at(-1)!) < 0.2 * r.costs.at(-1)! + 1e-3);
  assert.equal(r.vectors.neighbors('alpha', 1)[0].word, 'beta');
});
