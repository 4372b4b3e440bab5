/**
 * Case-1 training step time per GEMM library (NativeConfig.gemm) and with bf16 GEMMs
 * (NativeConfig.bf16Gemm on oneDNN), interleaved in rounds on one model (the machine is
 * shared: best and median of the per-round medians). --losses instead trains case 1 from
 * the same initialization for --steps steps in fp32 and in bf16 and prints both losses
 * (issue 15 part 2: within 2% after 200 steps).
 *
 *   node --import tsx bench/gemm-libs/step.ts [--rounds N] [--steps N]
 *   node --import tsx bench/gemm-libs/step.ts --losses --steps 200
 */
import { parseArgs } from 'node:util';
import { setBackend } from '../../src/backend/index.js';
import { configureNative, loadNativeAddon } from '../../src/backend/native.js';
import type { NativeConfig } from '../../src/backend/native-config.js';
import { LMBatches, lmStep, makeLM } from '../lm-common.js';
import { timeMs } from '../peer.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    steps: { type: 'string', default: '20' },
    losses: { type: 'boolean' },
  },
});
setBackend('native');
const addon = loadNativeAddon();
if ('error' in addon) throw new Error(addon.error);
const steps = Number(values.steps);

/** Mean loss of the last 20 of `n` case-1 steps from a fresh model under `config`. */
function lossAfter(n: number, config: Partial<NativeConfig>): number {
  configureNative(config);
  const { model, opt } = makeLM();
  const data = new LMBatches(0);
  const losses: number[] = [];
  for (let s = 0; s < n; s++) {
    const { x, y } = data.next();
    losses.push(lmStep(model, opt, x, y));
  }
  const last = losses.slice(-20);
  return last.reduce((a, b) => a + b, 0) / last.length;
}

if (values.losses) {
  const fp32 = lossAfter(steps, { bf16Gemm: false });
  const bf16 = lossAfter(steps, { bf16Gemm: true });
  configureNative({ bf16Gemm: false });
  const rel = (100 * Math.abs(bf16 - fp32)) / fp32;
  console.log(
    `case 1, ${steps} steps, mean loss of the last 20: fp32 ${fp32.toFixed(4)}, bf16 ${bf16.toFixed(4)} (${rel.toFixed(2)}% apart); ${addon.gemmInfo().detail}`,
  );
  process.exit(0);
}

const candidates: [string, Partial<NativeConfig>][] = addon
  .gemmInfo()
  .available.filter((l) => l !== 'auto')
  .map((l) => [l, { gemm: l, bf16Gemm: false }]);
if (addon.gemmInfo().available.includes('dnnl'))
  candidates.push(['dnnl bf16', { gemm: 'dnnl', bf16Gemm: true }]);
const { model, opt } = makeLM();
const data = new LMBatches(0);
const batches = Array.from({ length: 8 }, () => data.next());
let i = 0;
const step = (): void => {
  const { x, y } = batches[i++ % batches.length];
  lmStep(model, opt, x, y);
};
const meds = new Map<string, number[]>(candidates.map(([name]) => [name, []]));
for (let r = 0; r < Number(values.rounds); r++)
  for (const [name, config] of candidates) {
    configureNative(config);
    meds.get(name)?.push(timeMs(step, steps, 3).median);
  }
configureNative({ gemm: 'auto', bf16Gemm: false });
for (const [name, ms] of meds) {
  ms.sort((a, b) => a - b);
  console.log(
    `${name}: step ms best ${ms[0].toFixed(2)}, median ${ms[ms.length >> 1].toFixed(2)} (${ms.map((m) => m.toFixed(1)).join(' ')})`,
  );
}
console.log(addon.gemmInfo().detail);
