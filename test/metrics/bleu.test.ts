// BLEU and the 13a tokenizer against real sacreBLEU 2.6.0 output, committed in
// test/fixtures/metrics/bleu.json by scripts/make_bleu_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  BleuScore,
  closestRefLength,
  computeBleu,
  corpusBleu,
  formatFixed,
  sentenceBleu,
  type BleuOptions,
  type SmoothMethod,
} from '../../src/metrics/bleu.js';
import {
  rstripPython,
  splitPythonWhitespace,
  tokenize13a,
  tokenizeRegexp,
} from '../../src/metrics/tokenizer13a.js';

interface Expected {
  score: number;
  counts: number[];
  totals: number[];
  precisions: number[];
  bp: number;
  sys_len: number;
  ref_len: number;
  ratio: number;
  format: string;
  format4: string;
}
interface Kwargs {
  lowercase?: boolean;
  tokenize?: '13a' | 'none';
  smooth_method?: SmoothMethod;
  smooth_value?: number;
  max_ngram_order?: number;
  effective_order?: boolean;
}
interface Fixture {
  sacrebleu_version: string;
  tokenize13a: { input: string; output: string }[];
  format_fixed: { x: number; width: number; output: string }[];
  corpus: {
    name: string;
    hyps: string[];
    refs: (string | null)[][];
    kwargs: Kwargs;
    expected: Expected;
  }[];
  sentence: { name: string; hyp: string; refs: string[]; kwargs: Kwargs; expected: Expected }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/metrics/bleu.json', import.meta.url), 'utf8'),
) as Fixture;

const SCORE_TOL = 1e-6;
const TOL = 1e-9;

function toOptions(kwargs: Kwargs): BleuOptions {
  const options: BleuOptions = {};
  if (kwargs.lowercase !== undefined) options.lowercase = kwargs.lowercase;
  if (kwargs.tokenize !== undefined) options.tokenize = kwargs.tokenize;
  if (kwargs.smooth_method !== undefined) options.smoothMethod = kwargs.smooth_method;
  if (kwargs.smooth_value !== undefined) options.smoothValue = kwargs.smooth_value;
  if (kwargs.max_ngram_order !== undefined) options.maxNgramOrder = kwargs.max_ngram_order;
  if (kwargs.effective_order !== undefined) options.effectiveOrder = kwargs.effective_order;
  return options;
}

function close(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: got ${actual}, sacreBLEU ${expected} (|diff| ${Math.abs(actual - expected)} > ${tol})`,
  );
}

function assertMatches(actual: BleuScore, expected: Expected, name: string): void {
  close(actual.score, expected.score, SCORE_TOL, `${name} score`);
  assert.deepEqual(actual.counts, expected.counts, `${name} counts`);
  assert.deepEqual(actual.totals, expected.totals, `${name} totals`);
  assert.equal(actual.precisions.length, expected.precisions.length, `${name} precisions length`);
  actual.precisions.forEach((p, i) => close(p, expected.precisions[i]!, TOL, `${name} p${i + 1}`));
  close(actual.bp, expected.bp, TOL, `${name} bp`);
  close(actual.ratio, expected.ratio, TOL, `${name} ratio`);
  assert.equal(actual.sysLen, expected.sys_len, `${name} sysLen`);
  assert.equal(actual.refLen, expected.ref_len, `${name} refLen`);
  assert.equal(actual.format(), expected.format, `${name} format()`);
  assert.equal(actual.format(4), expected.format4, `${name} format(4)`);
}

test('fixture was made by sacreBLEU and covers the documented README example', () => {
  assert.match(fixture.sacrebleu_version, /^2\./);
  assert.ok(fixture.corpus.length >= 80 && fixture.sentence.length >= 20);
  const readme = fixture.corpus.find((c) => c.name === 'readme')!;
  // sacreBLEU README, "Using SacreBLEU from Python": score 48.53 with the default BLEU().
  assert.equal(readme.expected.format.slice(0, 12), 'BLEU = 48.53');
});

test('README example: corpus BLEU = 48.53 with default options', () => {
  const hyps = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];
  const refs = [
    ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
    ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
  ];
  const bleu = corpusBleu(hyps, refs);
  assert.equal(formatFixed(bleu.score, 2), '48.53');
  assert.deepEqual(bleu.counts, [14, 7, 5, 3]);
  assert.deepEqual(bleu.totals, [17, 14, 11, 8]);
  assert.equal(
    bleu.format(),
    'BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)',
  );
  assert.equal(String(bleu), bleu.format());
});

test('13a tokenization equals sacreBLEU token by token', () => {
  for (const { input, output } of fixture.tokenize13a) {
    const ours = tokenize13a(input);
    assert.deepEqual(
      splitPythonWhitespace(ours),
      splitPythonWhitespace(output),
      `tokens of ${JSON.stringify(input)}`,
    );
    assert.equal(ours, output, `string of ${JSON.stringify(input)}`);
  }
});

test('tokenizer details that a naive port gets wrong', () => {
  assert.equal(tokenize13a('3.5 and 1,000 but 5. and x,y'), '3.5 and 1,000 but 5 . and x , y');
  assert.equal(tokenize13a('&amp;quot;'), '& quot ;'); // unescaped once: &amp; -> & after &quot;
  assert.equal(tokenize13a('well-known 1990-2000'), 'well-known 1990 - 2000');
  assert.equal(tokenize13a('hyphen-\nated'), 'hyphenated');
  // U+FEFF is not whitespace for Python (JavaScript's \s says it is); U+0085 and U+001C are.
  assert.deepEqual(splitPythonWhitespace('\ufeffa\u0085b\u001cc'), ['\ufeffa', 'b', 'c']);
  assert.equal(rstripPython('a \u0085\u001f'), 'a');
  assert.equal(rstripPython('a\ufeff'), 'a\ufeff');
  assert.equal(tokenizeRegexp('  a  b '), 'a b');
});

test('format uses Python rounding (half to even on the exact binary value)', () => {
  for (const { x, width, output } of fixture.format_fixed) {
    assert.equal(formatFixed(x, width), output, `f'{${x}:.${width}f}'`);
  }
  assert.equal(formatFixed(-1.25, 1), '-1.2');
  assert.throws(() => formatFixed(Number.NaN, 2), RangeError);
});

for (const c of fixture.corpus) {
  test(`corpus BLEU equals sacreBLEU: ${c.name}`, () => {
    assertMatches(corpusBleu(c.hyps, c.refs, toOptions(c.kwargs)), c.expected, c.name);
  });
}

for (const c of fixture.sentence) {
  test(`sentence BLEU equals sacreBLEU: ${c.name}`, () => {
    const options = toOptions(c.kwargs);
    assertMatches(sentenceBleu(c.hyp, c.refs, options), c.expected, c.name);
    if (c.kwargs.effective_order === true) {
      // effectiveOrder is sentenceBleu's default, as in sacrebleu.sentence_bleu.
      delete options.effectiveOrder;
      assertMatches(sentenceBleu(c.hyp, c.refs, options), c.expected, `${c.name} (default)`);
    }
  });
}

test('smoothing methods differ where sacreBLEU says they do', () => {
  // Same statistics, four smoothings: the fixture values must be distinct and all reproduced.
  const byMethod = new Map<string, number>();
  for (const c of fixture.corpus.filter((k) => k.name.startsWith('no 3- or 4-gram matches'))) {
    const ours = corpusBleu(c.hyps, c.refs, toOptions(c.kwargs));
    byMethod.set(c.kwargs.smooth_method!, ours.score);
  }
  assert.equal(byMethod.size, 4);
  assert.equal(new Set(byMethod.values()).size, 4);
  assert.equal(byMethod.get('none'), 0);
});

test('computeBleu from sufficient statistics equals corpusBleu', () => {
  const hyps = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];
  const refs = [['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.']];
  const corpus = corpusBleu(hyps, refs);
  const fromStats = computeBleu(corpus.counts, corpus.totals, corpus.sysLen, corpus.refLen);
  assert.equal(fromStats.score, corpus.score);
  // add-k adds to orders 2..N and reports the smoothed counts, as sacreBLEU does.
  const addK = computeBleu([3, 0, 0, 0], [4, 3, 2, 1], 4, 4, { smoothMethod: 'add-k' });
  assert.deepEqual(addK.counts, [3, 1, 1, 1]);
  assert.deepEqual(addK.totals, [4, 4, 3, 2]);
});

test('closest reference length: nearest, ties go to the shorter', () => {
  assert.equal(closestRefLength(5, [4, 6]), 4);
  assert.equal(closestRefLength(5, [6, 4]), 4);
  assert.equal(closestRefLength(5, [2, 6]), 6);
  assert.equal(closestRefLength(0, [3, 1, 2]), 1);
  assert.throws(() => closestRefLength(5, []), RangeError);
});

test('bad inputs and options throw with a message naming the problem', () => {
  const refs = [['a b c']];
  assert.throws(() => corpusBleu([], [[]]), /no hypotheses/);
  assert.throws(() => corpusBleu(['a'], []), /no reference streams/);
  assert.throws(() => corpusBleu(['a', 'b'], refs), /reference stream 0 has 1 segments/);
  assert.throws(() => corpusBleu(['a'], [[null]]), /segment 0 has no reference/);
  assert.throws(
    () => corpusBleu(['a'], refs, { smoothMethod: 'bogus' as SmoothMethod }),
    /smoothMethod/,
  );
  assert.throws(
    () => corpusBleu(['a'], refs, { smoothMethod: 'exp', smoothValue: 0.1 }),
    /smoothValue/,
  );
  assert.throws(
    () => corpusBleu(['a'], refs, { smoothMethod: 'floor', smoothValue: -1 }),
    /smoothValue/,
  );
  assert.throws(() => corpusBleu(['a'], refs, { maxNgramOrder: 0 }), /maxNgramOrder/);
  assert.throws(() => corpusBleu(['a'], refs, { maxNgramOrder: 2.5 }), /maxNgramOrder/);
  assert.throws(
    () => corpusBleu(['a'], refs, { tokenize: 'intl' as '13a' }),
    /unknown tokenize 'intl'/,
  );
  assert.throws(
    () => corpusBleu(['a'], refs, { smooth_method: 'none' } as BleuOptions),
    /unknown option 'smooth_method'/,
  );
  assert.throws(
    () => computeBleu([1, 1], [1, 1], 2, 2),
    /counts and totals need maxNgramOrder = 4/,
  );
});
