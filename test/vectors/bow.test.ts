/**
 * One-hot, bag-of-words and TF-IDF against scikit-learn (fixtures from
 * scripts/make_tfidf_fixtures.py: CountVectorizer / TfidfVectorizer on the same text, default
 * options and min_df / max_df / max_features), and the one-hot and CSR invariants.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  bagOfWords,
  denseRow,
  fitTfidf,
  fitVocabulary,
  oneHot,
  tfidf,
} from '../../src/vectors/bow.js';

interface Case {
  name: string;
  options: { min_df?: number; max_df?: number; max_features?: number };
  vocabulary: string[];
  counts: number[][];
  idf: number[];
  tfidf: number[][];
}
const fx = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/vectors/tfidf.json', import.meta.url)), 'utf8'),
) as { docs: string[]; cases: Case[] };

for (const c of fx.cases) {
  test(`vectorizers equal scikit-learn: ${c.name}`, () => {
    const o = {
      minDf: c.options.min_df,
      maxDf: c.options.max_df,
      maxFeatures: c.options.max_features,
    };
    const vocab = fitVocabulary(fx.docs, o);
    assert.deepEqual(vocab.terms, c.vocabulary);
    const counts = bagOfWords(vocab, fx.docs);
    const model = fitTfidf(fx.docs, o);
    for (let j = 0; j < c.idf.length; j++)
      assert.ok(Math.abs(model.idf[j] - c.idf[j]) < 1e-9, `idf ${c.vocabulary[j]}`);
    const m = tfidf(model, fx.docs);
    fx.docs.forEach((_, r) => {
      assert.deepEqual([...denseRow(counts, r)], c.counts[r], `counts row ${r}`);
      const got = denseRow(m, r);
      c.tfidf[r].forEach((v, j) => assert.ok(Math.abs(got[j] - v) < 1e-6, `tfidf ${r},${j}`));
    });
  });
}

test('one-hot: one 1 at the word column; binary bag of words is presence', () => {
  const vocab = fitVocabulary(['the cat sat', 'the dog the end']);
  assert.deepEqual(vocab.terms, ['cat', 'dog', 'end', 'sat', 'the']);
  assert.deepEqual([...oneHot(vocab, 'dog')], [0, 1, 0, 0, 0]);
  assert.deepEqual([...oneHot(vocab, 'bird')], [0, 0, 0, 0, 0]);
  const b = bagOfWords(vocab, ['the the dog bird'], { binary: true });
  assert.deepEqual([...denseRow(b, 0)], [0, 1, 0, 0, 1]);
  assert.deepEqual([...b.indptr], [0, 2]);
  // Code point order, as Python sorts str: U+FF42 before U+1D49C (UTF-16 units would not).
  assert.deepEqual(fitVocabulary(['\u{1D49C}\u{1D49C} \uFF42\uFF42']).terms, [
    '\uFF42\uFF42',
    '\u{1D49C}\u{1D49C}',
  ]);
});

test('vectorizer options out of range are refused, naming them', () => {
  assert.throws(() => fitVocabulary(['a b'], {}), /no terms remain/);
  assert.throws(() => fitVocabulary(['ab cd'], { maxFeatures: 0 }), /maxFeatures/);
  assert.throws(() => fitVocabulary(['ab cd'], { minDf: -1 }), /minDf/);
});
