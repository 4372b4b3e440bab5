import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitDeterministic } from '../../src/data/index.js';

const items = Array.from({ length: 1000 }, (_, i) => `item${i}`);

test('splitDeterministic: sizes, disjoint, covers every item', () => {
  const s = splitDeterministic(items, { valid: 0.05, test: 0.1, seed: 3 });
  assert.equal(s.valid.length, 50);
  assert.equal(s.test.length, 100);
  assert.equal(s.train.length, 850);
  const all = [...s.train, ...s.valid, ...s.test];
  assert.equal(new Set(all).size, 1000);
  assert.deepEqual([...all].sort(), [...items].sort());
  // Shuffled, not a prefix of the input.
  assert.notDeepEqual(s.test, items.slice(0, 100));
});

test('splitDeterministic: same seed same split, other seed other split', () => {
  const a = splitDeterministic(items, { seed: 7 });
  const b = splitDeterministic([...items], { seed: 7 });
  assert.deepEqual(a, b);
  const c = splitDeterministic(items, { seed: 8 });
  assert.notDeepEqual(a.test, c.test);
  assert.equal(a.valid.length, 50); // defaults 0.05 / 0.05
  assert.equal(a.test.length, 50);
});

test('splitDeterministic: does not modify its input; rejects bad fractions', () => {
  const copy = [...items];
  splitDeterministic(items, { seed: 1 });
  assert.deepEqual(items, copy);
  assert.throws(() => splitDeterministic(items, { valid: 1.2 }), /valid=1.2 must be in \[0, 1\)/);
  assert.throws(() => splitDeterministic(items, { valid: 0.5, test: 0.5 }), /leaves no training/);
  const none = splitDeterministic(items, { valid: 0, test: 0 });
  assert.equal(none.train.length, 1000);
});
