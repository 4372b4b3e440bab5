import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constantSchedule, cosineSchedule, noamSchedule } from '../../src/train/schedule.js';

test('noam schedule (Sec. 5.3): peak at the warmup step, d_model^-0.5 * warmup^-0.5', () => {
  const f = noamSchedule(512, 4000);
  const peak = Math.pow(512, -0.5) * Math.pow(4000, -0.5);
  assert.ok(Math.abs(f(4000) - peak) < 1e-12);
  assert.ok(Math.abs(f(2000) - peak / 2) < 1e-12, 'linear warmup');
  assert.ok(Math.abs(f(16000) - peak / 2) < 1e-12, 'inverse square root decay');
  assert.ok(f(3999) < f(4000) && f(4001) < f(4000));
});

test('cosine schedule: warmup, half-way value, floor', () => {
  const f = cosineSchedule(1e-3, 100, 1100, 1e-4);
  assert.ok(Math.abs(f(50) - 5e-4) < 1e-15);
  assert.ok(Math.abs(f(100) - 1e-3) < 1e-15);
  assert.ok(Math.abs(f(600) - 5.5e-4) < 1e-12, 'midpoint of the cosine is the mean of max and min');
  assert.equal(f(5000), 1e-4);
  assert.throws(() => cosineSchedule(1, 10, 5), /totalSteps \(5\) must exceed warmup \(10\)/);
});

test('constant schedule', () => {
  assert.equal(constantSchedule(0.3)(12345), 0.3);
});
