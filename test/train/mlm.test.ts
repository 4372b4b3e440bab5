/**
 * BERT's masking (src/train/mlm.ts): over 100k tokens the chosen share is 15% and, of the
 * chosen, 80% [MASK], 10% random and 10% unchanged, each within 1 point; special tokens
 * are never chosen; labels are the originals exactly at the chosen positions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator } from '../../src/random.js';
import { IGNORE_INDEX, maskTokens } from '../../src/train/mlm.js';

test('masked LM corruption: 15% chosen; 80/10/10 mask/random/kept; specials never chosen', () => {
  const g = new Generator(1);
  const N = 100_000;
  const V = 1000;
  const ids = Int32Array.from({ length: N }, (_, i) => (i % 50 === 0 ? 0 : 5 + g.randint(V - 5)));
  const specials = new Set([0, 1, 2, 3]);
  const { input, labels } = maskTokens(ids, new Generator(2), {
    maskId: 4,
    vocabSize: V,
    specialIds: specials,
    firstRandomId: 5,
  });
  let chosen = 0;
  let masked = 0;
  let kept = 0;
  let random = 0;
  let eligible = 0;
  for (let i = 0; i < N; i++) {
    if (!specials.has(ids[i])) eligible++;
    if (labels[i] === IGNORE_INDEX) {
      assert.equal(input[i], ids[i], 'unchosen positions are untouched');
      continue;
    }
    assert.ok(!specials.has(ids[i]), 'a special token was chosen');
    assert.equal(labels[i], ids[i]);
    chosen++;
    if (input[i] === 4) masked++;
    else if (input[i] === ids[i]) kept++;
    else {
      random++;
      assert.ok(input[i] >= 5 && input[i] < V);
    }
  }
  const pct = (a: number, b: number) => (100 * a) / b;
  assert.ok(Math.abs(pct(chosen, eligible) - 15) < 1, `chosen ${pct(chosen, eligible)}%`);
  assert.ok(Math.abs(pct(masked, chosen) - 80) < 1, `mask ${pct(masked, chosen)}%`);
  // A random replacement equal to the original counts as kept: 10% + 10%/(V-5) expected.
  assert.ok(Math.abs(pct(random, chosen) - 10) < 1, `random ${pct(random, chosen)}%`);
  assert.ok(Math.abs(pct(kept, chosen) - 10) < 1, `kept ${pct(kept, chosen)}%`);
});

test('masking options out of range are refused', () => {
  const ids = Int32Array.of(5, 6);
  assert.throws(
    () => maskTokens(ids, new Generator(1), { maskId: 4, vocabSize: 10, maskProb: 2 }),
    /maskProb/,
  );
  assert.throws(
    () => maskTokens(ids, new Generator(1), { maskId: 4, vocabSize: 10, firstRandomId: 10 }),
    /firstRandomId/,
  );
});
