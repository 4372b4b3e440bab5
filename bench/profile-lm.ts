/**
 * Profiling helper for case 1: runs training steps of the case-1 model with every backend
 * kernel wrapped in a timer, and prints time per kernel (calls, total ms per step, share
 * of the step). What is not in a kernel is JavaScript: autograd, allocation, op front-ends.
 *
 *   node --import tsx bench/profile-lm.ts [--steps N]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/profile-lm.ts --plain
 *
 * --seq2seq profiles case 2's step instead. --plain skips the kernel timers (for --cpu-prof); --shapes splits matmul by
 * (batch, M, N, K, transA, transB, beta).
 */
import { parseArgs } from 'node:util';
import { backend, setBackend, type Backend } from '../src/backend/index.js';
import { LMBatches, lmStep, makeLM } from './lm-common.js';
import { median } from './peer.js';
import { makeSeq2SeqStep } from './seq2seq-train.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '30' },
    plain: { type: 'boolean' },
    shapes: { type: 'boolean' },
    seq2seq: { type: 'boolean' },
  },
});
const steps = Number(values.steps);
setBackend('native');
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
