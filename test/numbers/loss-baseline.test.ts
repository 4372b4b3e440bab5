/**
 * The numbers must not move: the first steps of the case-1 training run (bench/lm-common.ts:
 * 4 layers, 4 heads, width 128, context 64, batch 12, AdamW, seed 1337, batches from seed 0)
 * give the recorded losses of bench/baseline/lm-200-losses.json within 1e-4. The full
 * 200-step check is `node --import tsx bench/lm-losses.ts --check bench/baseline/lm-200-losses.json`.
 * The native backend runs 20 steps; the js reference (about 100x slower) runs 2.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setBackend } from '../../src/backend/index.js';
import { BENCH_DIR, LMBatches, lmStep, makeLM } from '../../bench/lm-common.js';
import { backends } from '../helpers.js';

const reference = (
  JSON.parse(readFileSync(join(BENCH_DIR, 'baseline', 'lm-200-losses.json'), 'utf8')) as {
    losses: number[];
  }
).losses;

for (const backendName of backends) {
  const steps = backendName === 'native' ? 20 : 2;
  test(`case-1 training: the first ${steps} losses equal the recorded baseline within 1e-4 (${backendName})`, () => {
    setBackend(backendName);
    const { model, opt } = makeLM();
    const data = new LMBatches(0);
    for (let i = 0; i < steps; i++) {
      const { x, y } = data.next();
      const loss = lmStep(model, opt, x, y);
      assert.ok(
        Math.abs(loss - reference[i]) <= 1e-4,
        `step ${i + 1}: loss ${loss} vs recorded ${reference[i]}`,
      );
    }
  });
}
