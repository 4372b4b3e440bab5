/**
 * Case-1 training step time per GEMM library (NativeConfig.gemm), interleaved in rounds
 * on one model (the machine is shared: best and median of the per-round medians).
 *
 *   node --import tsx bench/gemm-libs/step.ts [--rounds N] [--steps N]
 */
import { parseArgs } from 'node:util';
import { setBackend } from '../../src/backend/index.js';
import { configureNative, loadNativeAddon } from '../../src/backend/native.js';
import type { GemmLibrary } from '../../src/backend/native-config.js';
import { LMBatches, lmStep, makeLM } from '../lm-common.js';
import { timeMs } from '../peer.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '4' }, steps: { type: 'string', default: '20' } },
});
setBackend('native');
const addon = loadNativeAddon();
if ('error' in addon) throw new Error(addon.error);
const libs = addon.gemmInfo().available.filter((l): l is GemmLibrary => l !== 'auto');
const { model, opt } = makeLM();
const data = new LMBatches(0);
const batches = Array.from({ length: 8 }, () => data.next());
let i = 0;
const step = (): void => {
  const { x, y } = batches[i++ % batches.length];
  lmStep(model, opt, x, y);
};
const meds = new Map<string, number[]>(libs.map((l) => [l, []]));
for (let r = 0; r < Number(values.rounds); r++)
  for (const lib of libs) {
    configureNative({ gemm: lib });
    meds.get(lib)?.push(timeMs(step, Number(values.steps), 3).median);
  }
configureNative({ gemm: 'auto' });
for (const [lib, ms] of meds) {
  ms.sort((a, b) => a - b);
  console.log(
    `${lib}: step ms best ${ms[0].toFixed(2)}, median ${ms[ms.length >> 1].toFixed(2)} (${ms.map((m) => m.toFixed(1)).join(' ')})`,
  );
}
console.log(addon.gemmInfo().detail);
