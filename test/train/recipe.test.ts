/** The training recipes as data: the paper's and nanoGPT's numbers, and the schedule they build. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Linear } from '../../src/nn/layers.js';
import { Generator } from '../../src/random.js';
import { recipeOptimizer, recipeSchedule, trainRecipe } from '../../src/train/recipe.js';

test("translate: the paper's Adam (beta2 0.98, eps 1e-9), label smoothing 0.1, warmup capped at 400", () => {
  const r = trainRecipe('translate', 10_000);
  assert.deepEqual(r.optimizer, {
    name: 'AdamW',
    lr: 1e-3,
    betas: [0.9, 0.98],
    eps: 1e-9,
    weightDecay: 0.01,
  });
  assert.deepEqual(r.schedule, {
    name: 'cosine',
    maxLr: 1e-3,
    warmup: 400,
    totalSteps: 10_001,
    minLr: 5e-5,
  });
  assert.equal(r.labelSmoothing, 0.1);
  assert.equal(trainRecipe('translate', 1000).schedule.warmup, 100); // steps / 10 below the cap
});

test("lm: nanoGPT's betas (0.9, 0.99), weight decay 0.1, lr 1e-3 to 1e-4; --lr sets the peak", () => {
  const r = trainRecipe('lm', 2000, 3e-4);
  assert.deepEqual(r.optimizer.betas, [0.9, 0.99]);
  assert.equal(r.optimizer.weightDecay, 0.1);
  assert.equal(r.schedule.maxLr, 3e-4);
  assert.ok(Math.abs(r.schedule.minLr - 3e-5) < 1e-12);
  assert.equal(r.labelSmoothing, 0);
});

test('the schedule warms up linearly and ends at minLr; the optimizer decays only 2-D weights', () => {
  const r = trainRecipe('classify', 100);
  const s = recipeSchedule(r);
  assert.equal(s(5), (5e-4 * 5) / 10);
  assert.equal(s(10), 5e-4);
  assert.equal(s(101), 5e-5);
  const layer = new Linear(3, 2, { generator: new Generator(0) });
  const opt = recipeOptimizer(layer, r);
  assert.equal(opt.lr, 5e-4);
  assert.deepEqual(
    opt.groups.map((g) => [g.params, g.weightDecay]),
    [
      [[layer.weight], 0.01],
      [[layer.bias], 0],
    ],
  );
  assert.throws(() => trainRecipe('lm', 0), /steps must be a positive integer, got 0/);
});
