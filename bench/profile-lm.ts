/**
 * Profiling helper for case 1: runs training steps of the case-1 model with every backend
 * kernel wrapped in a timer, and prints time per kernel (calls, total ms per step, share
 * of the step). What is not in a kernel is JavaScript: autograd, allocation, op front-ends.
 *
 *   node --import tsx bench/profile-lm.ts [--steps N]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-lm.ts --plain
 *
 * --seq2seq profiles case 2's step instead. --plain skips the kernel timers (for --cpu-prof); --shapes splits matmul by
 * (batch, M, N, K, transA, transB, beta). --phases prints the median forward, backward (its
 * deferred dweight GEMMs drained) and optimizer times of case 1 instead.
 */
import { parseArgs } from 'node:util';
import { backend, setBackend, type Backend } from '../src/backend/index.js';
import * as F from '../src/ops/index.js';
import { LM_CONFIG, LMBatches, benchArena, lmStep, makeLM } from './lm-common.js';
import { median } from './peer.js';
import { makeSeq2SeqStep } from './seq2seq-train.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '30' },
    plain: { type: 'boolean' },
    shapes: { type: 'boolean' },
    seq2seq: { type: 'boolean' },
    phases: { type: 'boolean' },
  },
});
const steps = Number(values.steps);
setBackend('native');
if (values.phases) {
  phases();
  process.exit(0);
}

/** Median forward / backward / optimizer ms of case-1 steps (in a StepArena, as lmStep). */
function phases(): void {
  const { model, opt } = makeLM();
  const data = new LMBatches(0);
  const batches = Array.from({ length: 8 }, () => data.next());
  const arena = benchArena();
  const t: number[][] = [[], [], [], []];
  for (let i = 0; i < steps + 10; i++) {
    const { x, y } = batches[i % batches.length];
    const step = (): void => {
      const t0 = performance.now();
      opt.zeroGrad();
      const logits = model.forward(x);
      const loss = F.crossEntropy(F.reshape(logits, [-1, LM_CONFIG.vocabSize]), y);
      const t1 = performance.now();
      loss.backward();
      const t2 = performance.now();
      opt.step();
      const t3 = performance.now();
      loss.item();
      if (i >= 10) [t1 - t0, t2 - t1, t3 - t2, t3 - t0].forEach((v, k) => t[k].push(v));
    };
    if (arena) arena.run(step);
    else step();
  }
  const [f, b, o, all] = t.map((v) => median(v).toFixed(2));
  console.log(`median ms: forward ${f}, backward ${b}, optimizer ${o}, step ${all}`);
}
let runStep: () => void;
if (values.seq2seq) runStep = makeSeq2SeqStep();
else {
  const { model, opt } = makeLM();
  const data = new LMBatches(0);
  const batches = Array.from({ length: 8 }, () => data.next());
  let k = 0;
  runStep = () => {
    const { x, y } = batches[k++ % batches.length];
    lmStep(model, opt, x, y);
  };
}
for (let i = 0; i < 5; i++) runStep();

const stats = new Map<string, { calls: number; ns: bigint }>();
if (!values.plain) {
  const be = backend() as unknown as Record<string, unknown>;
  for (const [name, fn] of Object.entries(be)) {
    if (typeof fn !== 'function' || name === 'setThreads') continue;
    const f = fn as (...a: unknown[]) => unknown;
    be[name] = (...args: unknown[]) => {
      const label =
        name === 'binary' || name === 'unary' || name === 'unaryBackward' || name === 'scalar'
          ? `${name}:${String(args[0])}`
          : name === 'matmul' && values.shapes
            ? `matmul ${args.slice(3, 9).map(String).join(',')},b${String(args[11])}`
            : name;
      const t0 = process.hrtime.bigint();
      const r = f(...args);
      const s = stats.get(label) ?? { calls: 0, ns: 0n };
      s.calls++;
      s.ns += process.hrtime.bigint() - t0;
      stats.set(label, s);
      return r;
    };
  }
}
void (backend() as Backend);
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = process.hrtime.bigint();
  runStep();
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const total = times.reduce((a, b) => a + b, 0) / steps;
console.log(`median step ${median(times).toFixed(2)} ms, mean ${total.toFixed(2)} ms`);
if (!values.plain) {
  let inKernels = 0;
  const rows = [...stats].map(([k, s]) => {
    const ms = Number(s.ns) / 1e6 / steps;
    inKernels += ms;
    return { k, calls: s.calls / steps, ms };
  });
  rows.sort((a, b) => b.ms - a.ms);
  for (const r of rows)
    console.log(
      `${r.k.padEnd(28)} ${r.calls.toFixed(0).padStart(5)} calls ${r.ms.toFixed(2).padStart(7)} ms ${((100 * r.ms) / total).toFixed(1).padStart(5)}%`,
    );
  console.log(
    `${'(outside kernels: JS)'.padEnd(28)} ${''.padStart(11)} ${(total - inKernels).toFixed(2).padStart(7)} ms ${((100 * (total - inKernels)) / total).toFixed(1).padStart(5)}%`,
  );
}
