/**
 * ListOps (Long Range Arena, Tay et al. 2020): the generator's trees, lengths, labels and
 * determinism, with the operators checked against hand-computed values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  evaluateListOps,
  generateListOps,
  listOpsTokens,
  parseListOps,
} from '../../src/data/listops.js';

test('listops: the operators on hand-computed expressions (MED rounds down on even counts, SM is mod 10)', () => {
  const cases: [string, number][] = [
    ['[MAX 4 3 [MIN 2 3 ] 1 0 ]', 4],
    ['[MIN 4 3 [MAX 2 9 ] ]', 3],
    ['[MED 1 5 8 9 2 ]', 5],
    ['[MED 1 4 ]', 2],
    ['[MED 9 2 7 4 ]', 5],
    ['[SM 9 8 7 ]', 4],
    ['[SM [MAX 9 1 ] [MED 2 3 ] ]', 1],
    ['7', 7],
  ];
  for (const [text, want] of cases) assert.equal(evaluateListOps(parseListOps(text)), want, text);
});

test('listops: parse refuses malformed expressions, naming the token', () => {
  assert.throws(() => parseListOps('[MAX 1 2'), /never closed|unexpected end/);
  assert.throws(() => parseListOps('[FOO 1 ]'), /unexpected token '\[FOO'/);
  assert.throws(() => parseListOps('[MAX 1 ] 2'), /trailing tokens/);
});

test('listops: examples lie in the length range, round-trip through the parser, and repeat per seed', () => {
  const o = { minLength: 40, maxLength: 200, maxDepth: 6 };
  const a = generateListOps(200, 7, o);
  assert.equal(a.length, 200);
  assert.equal(new Set(a.map((e) => e.text)).size, 200, 'distinct examples');
  for (const e of a) {
    const n = e.text.split(' ').length;
    assert.ok(n >= 40 && n <= 200, `length ${n}`);
    const t = parseListOps(e.text);
    assert.equal(listOpsTokens(t).join(' '), e.text);
    assert.equal(String(evaluateListOps(t)), e.label);
  }
  assert.deepEqual(generateListOps(200, 7, o), a, 'same seed, same data');
  assert.notDeepEqual(generateListOps(200, 8, o), a, 'another seed, other data');
  const labels = new Set(a.map((e) => e.label));
  assert.ok(labels.size >= 8, `labels cover the classes: ${[...labels].join(',')}`);
});

test('listops: options out of range are refused, naming them', () => {
  assert.throws(() => generateListOps(1, 0, { maxArgs: 1 }), /maxArgs/);
  assert.throws(() => generateListOps(1, 0, { minLength: 10, maxLength: 5 }), /minLength/);
});
