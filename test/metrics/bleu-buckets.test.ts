// BLEU by source length: each bucket's score is corpusBleu of exactly its segments (picked by
// hand here), lengths are counted in 13a tokens (punctuation counts), empty buckets are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bleuByLength,
  corpusBleu,
  formatBleuByLength,
  lengthBuckets,
  sourceLength13a,
} from '../../src/metrics/index.js';

// source (its 13a length), hypothesis, reference
const rows: [string, string, string][] = [
  ['Ich bin hier.', 'I am here.', 'I am here.'], // 4
  ['Wo ist der Bahnhof?', 'Where is the station?', 'Where is the train station?'], // 5
  ['Das ist ein sehr gutes Buch.', 'This is a very good book.', 'That is a very good book.'], // 7
  ['Er kommt morgen.', 'He comes tomorrow.', 'He is coming tomorrow.'], // 4
  [
    'Ich habe am ursprünglichen Entwurf ein paar Änderungen vorgenommen, glaube ich.',
    'I made a few changes to the first design, I think.',
    "I've made one or two modifications to the original design, I think.",
  ], // 13
  ['Eins zwei drei vier fünf', 'one two three four five', 'one two three four five'], // 5
  ['Eins zwei drei vier fünf.', 'one two three four five .', 'one two three four five.'], // 6
];

test('13a source lengths count punctuation as tokens', () => {
  assert.deepEqual(
    rows.map((r) => sourceLength13a(r[0])),
    [4, 5, 7, 4, 13, 5, 6],
  );
  assert.equal(sourceLength13a('   '), 0);
});

test('bleuByLength: each bucket is corpus BLEU of its own segments, counts and empty buckets', () => {
  const sources = rows.map((r) => r[0]);
  const hyps = rows.map((r) => r[1]);
  const refs = [rows.map((r) => r[2])];
  const byHand = (idx: number[]) =>
    corpusBleu(
      idx.map((i) => hyps[i]),
      [idx.map((i) => refs[0][i])],
    ).score;
  const b = bleuByLength(sources, hyps, refs);
  assert.deepEqual(
    b.map((x) => [x.label, x.count]),
    [
      ['1-5', 4],
      ['6-10', 2],
      ['11-20', 1],
      ['21+', 0],
    ],
  );
  assert.equal(b[0].bleu!.score, byHand([0, 1, 3, 5]));
  assert.equal(b[1].bleu!.score, byHand([2, 6]));
  assert.equal(b[2].bleu!.score, byHand([4]));
  assert.equal(b[3].bleu, null);
  // corpus BLEU of a bucket is not the whole set's, nor a mean of sentence scores
  assert.notEqual(b[0].bleu!.score, corpusBleu(hyps, refs).score);
  // other bounds, and BLEU options passed through
  const c = bleuByLength(sources, hyps, refs, { bounds: [4], lowercase: true });
  assert.deepEqual(
    c.map((x) => [x.label, x.count]),
    [
      ['1-4', 2],
      ['5+', 5],
    ],
  );
  assert.equal(
    c[1].bleu!.score,
    corpusBleu(
      [1, 2, 4, 5, 6].map((i) => hyps[i]),
      [[1, 2, 4, 5, 6].map((i) => refs[0][i])],
      { lowercase: true },
    ).score,
  );
  assert.match(formatBleuByLength(b), /\| 21\+ \| 0 \| - \|/);
});

test('bleuByLength refuses mismatched lengths and bad bounds, naming them', () => {
  assert.throws(() => bleuByLength(['a'], ['a', 'b'], [['a', 'b']]), /1 sources but 2 hypotheses/);
  assert.throws(
    () => lengthBuckets([5, 5]),
    /bounds must be increasing positive integers, got \[5, 5\]/,
  );
  assert.deepEqual(
    lengthBuckets([1, 3]).map((x) => x.label),
    ['1', '2-3', '4+'],
  );
});
