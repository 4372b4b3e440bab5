/**
 * Baseline classifiers on TF-IDF rows against scikit-learn (fixtures from
 * scripts/make_tfidf_fixtures.py): MultinomialNB's log prior and feature log-probabilities,
 * LogisticRegression's (lbfgs, C = 1) coefficients and probabilities at its optimum.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fitTfidf, tfidf } from '../../src/vectors/bow.js';
import { fitLogisticRegression, fitMultinomialNB } from '../../src/vectors/classifiers.js';

const fx = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/vectors/tfidf.json', import.meta.url)), 'utf8'),
) as {
  docs: string[];
  classifiers: {
    labels: string[];
    nb_class_log_prior: number[];
    nb_feature_log_prob: number[][];
    lr_coef: number[][];
    lr_intercept: number[];
    lr_proba: number[][];
  };
};
const c = fx.classifiers;
const x = tfidf(fitTfidf(fx.docs), fx.docs);

test('multinomial naive Bayes equals scikit-learn MultinomialNB', () => {
  const nb = fitMultinomialNB(x, c.labels);
  assert.deepEqual(nb.classes, ['a', 'b', 'c']);
  c.nb_class_log_prior.forEach((v, k) => assert.ok(Math.abs(nb.classLogPrior[k] - v) < 1e-9));
  c.nb_feature_log_prob.forEach((row, k) =>
    row.forEach((v, t) =>
      assert.ok(Math.abs(nb.featureLogProb[k * x.cols + t] - v) < 1e-6, `${k},${t}`),
    ),
  );
});

test('logistic regression reaches scikit-learn lbfgs optimum (coefficients, probabilities)', () => {
  const lr = fitLogisticRegression(x, c.labels, { tol: 1e-7, maxIter: 2000 });
  let worst = 0;
  c.lr_coef.forEach((row, k) =>
    row.forEach((v, t) => (worst = Math.max(worst, Math.abs(lr.coef[k * x.cols + t] - v)))),
  );
  assert.ok(worst < 1e-3, `coef max diff ${worst}`);
  const s = lr.scores(x);
  c.lr_proba.forEach((row, r) => {
    const m = Math.max(s[r * 3], s[r * 3 + 1], s[r * 3 + 2]);
    const z = [0, 1, 2].reduce((a, k) => a + Math.exp(s[r * 3 + k] - m), 0);
    row.forEach((p, k) =>
      assert.ok(Math.abs(Math.exp(s[r * 3 + k] - m) / z - p) < 1e-4, `row ${r}`),
    );
  });
});

test('classifiers refuse mismatched rows and a single class', () => {
  assert.throws(() => fitMultinomialNB(x, c.labels.slice(1)), /rows but/);
  assert.throws(
    () =>
      fitLogisticRegression(
        x,
        c.labels.map(() => 'a'),
      ),
    /two classes/,
  );
});
