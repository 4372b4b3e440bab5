/**
 * The numbers must not change: runs the case-1 model (bench/lm-common.ts, seed 1337,
 * batches from seed 0) for 200 AdamW steps on the native backend and writes the losses.
 *
 *   node --import tsx bench/lm-losses.ts [--out FILE] [--check FILE] [--steps N] [--backend js|native]
 *
 * --out writes {"steps", "backend", "losses": [...]} (default: print only; run prettier on a
 * file meant to be committed);
 * --check compares with a recorded file (bench/baseline/lm-200-losses.json) and exits
 * non-zero when any loss differs by more than 1e-4.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setBackend } from '../src/backend/index.js';
import { LMBatches, lmStep, makeLM } from './lm-common.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    check: { type: 'string' },
    steps: { type: 'string', default: '200' },
    backend: { type: 'string', default: 'native' },
  },
});
const steps = Number(values.steps);
const be = values.backend === 'js' ? 'js' : 'native';
setBackend(be);
const { model, opt } = makeLM();
const data = new LMBatches(0);
const losses: number[] = [];
const t0 = Date.now();
for (let i = 0; i < steps; i++) {
  const { x, y } = data.next();
  losses.push(lmStep(model, opt, x, y));
}
const secs = (Date.now() - t0) / 1000;
console.log(
  `${steps} steps (${be}) in ${secs.toFixed(1)} s; loss ${losses[0].toFixed(4)} -> ${losses[steps - 1].toFixed(4)}`,
);
if (values.out) {
  writeFileSync(values.out, JSON.stringify({ steps, backend: be, losses }, null, 1) + '\n');
  console.log(`wrote ${values.out}`);
}
if (values.check) {
  const ref = (JSON.parse(readFileSync(values.check, 'utf8')) as { losses: number[] }).losses;
  if (ref.length !== losses.length) throw new Error(`${values.check} has ${ref.length} losses`);
  let maxDiff = 0;
  let at = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ref[i] - losses[i]);
    if (d > maxDiff) [maxDiff, at] = [d, i];
  }
  console.log(`max |loss - reference| = ${maxDiff.toExponential(3)} (step ${at + 1})`);
  if (!(maxDiff <= 1e-4)) {
    console.error('FAIL: losses differ from the reference by more than 1e-4');
    process.exitCode = 1;
  }
}
