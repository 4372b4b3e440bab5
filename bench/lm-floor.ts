/**
 * Case 4, distance to the GEMM floor: every matrix product of one case-1 training step
 * (forward and backward), recorded from a real step by wrapping the backend's `matmul`,
 * `matmulDeferred` and fused attention kernels, then each timed ALONE. Their sum is the
 * GEMM floor: the time a step would take if everything but the matrix products were free.
 * Two floors, each product at its median:
 * - OpenBLAS directly (the definition): one cblas_sgemm per product (per head for
 *   attention), OpenBLAS threading itself, at the better of 1 and 2 OpenBLAS threads;
 * - our split GEMM, the stricter one: the native matmul as training runs it, big products
 *   split in row blocks over our 2-thread pool (faster than OpenBLAS's own threading at
 *   these shapes, see bench/matmul.ts), attention's per-head products spread over it.
 * Also model FLOP utilization (MFU): FLOPs per step / step time, over the GFLOP/s of a
 * 512x512x512 matmul measured in the same run.
 * Timing: medians (shared machine). Target (issue 5): our step <= 1.15x the floor.
 */
import { backend, setBackend, type Backend } from '../src/backend/index.js';
import { configureNative, loadNativeTestHooks, wrapNativeAddon } from '../src/backend/native.js';
import { LMBatches, lmStep, makeLM } from './lm-common.js';
import { oursLmStepMs } from './lm-train.js';
import { randomF32, type CaseResult, type Row } from './matmul.js';
import { r2, timeMs } from './peer.js';

/** One product: batch x (M x N x K), operand layouts as the matmul kernel takes them. */
export interface Gemm {
  batch: number;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  beta: number;
}

/** The products of one training step of the case-1 model, in call order. */
export function recordStepGemms(): Gemm[] {
  setBackend('native');
  const { model, opt } = makeLM();
  const { x, y } = new LMBatches(0).next();
  lmStep(model, opt, x, y); // warm up (optimizer state allocated)
  const be = backend() as { -readonly [K in keyof Backend]: Backend[K] };
  const { matmul, matmulDeferred, attentionForward, attentionBackward } = be;
  const gemms: Gemm[] = [];
  be.matmul = (out, a, b, batch, M, N, K, transA, transB, sA, sB, beta, bias) => {
    gemms.push({ batch, M, N, K, transA, transB, beta }); // the product alone (no bias)
    matmul(out, a, b, batch, M, N, K, transA, transB, sA, sB, beta, bias);
  };
  be.matmulDeferred = (out, a, b, M, N, K, transA, transB, beta) => {
    gemms.push({ batch: 1, M, N, K, transA, transB, beta });
    matmulDeferred(out, a, b, M, N, K, transA, transB, beta);
  };
  be.attentionForward = (...args) => {
    const { BH, T, S, D } = args[7];
    // scores (T, S) = q k^T; out (T, D) = P v
    gemms.push({ batch: BH, M: T, N: S, K: D, transA: false, transB: true, beta: 0 });
    gemms.push({ batch: BH, M: T, N: D, K: S, transA: false, transB: false, beta: 0 });
    attentionForward(...args);
  };
  be.attentionBackward = (...args) => {
    const { BH, T, S, D } = args[9];
    // dP = dout v^T; dv += P^T dout; dq += dS k; dk += dS^T q
    gemms.push({ batch: BH, M: T, N: S, K: D, transA: false, transB: true, beta: 0 });
    gemms.push({ batch: BH, M: S, N: D, K: T, transA: true, transB: false, beta: 1 });
    gemms.push({ batch: BH, M: T, N: D, K: S, transA: false, transB: false, beta: 1 });
    gemms.push({ batch: BH, M: S, N: D, K: T, transA: true, transB: false, beta: 1 });
    attentionBackward(...args);
  };
  try {
    lmStep(model, opt, x, y);
  } finally {
    be.matmul = matmul;
    be.matmulDeferred = matmulDeferred;
    be.attentionForward = attentionForward;
    be.attentionBackward = attentionBackward;
  }
  return gemms;
}

const flops = (g: Gemm): number => 2 * g.batch * g.M * g.N * g.K;
const key = (g: Gemm): string =>
  `${g.batch}x${g.M}x${g.N}x${g.K}${g.transA ? 'tA' : ''}${g.transB ? 'tB' : ''}b${g.beta}`;

/** Median ms of one product alone on the native backend, as currently configured. */
function timeGemm(g: Gemm, be: Backend = backend()): number {
  const a = randomF32(g.batch * g.M * g.K, 1);
  const b = randomF32(g.batch * g.K * g.N, 2);
  const out = new Float32Array(g.batch * g.M * g.N);
  const fn = (): void =>
    be.matmul(out, a, b, g.batch, g.M, g.N, g.K, g.transA, g.transB, g.M * g.K, g.K * g.N, g.beta);
  const per = flops(g) / 100e9; // seconds at ~100 GFLOP/s
  const reps = Math.max(20, Math.min(400, Math.round(0.05 / per)));
  return timeMs(fn, reps, 5).median;
}

export async function lmFloorCase(): Promise<CaseResult> {
  const gemms = recordStepGemms();
  const groups = new Map<string, { g: Gemm; count: number }>();
  for (const g of gemms) {
    const e = groups.get(key(g));
    if (e) e.count++;
    else groups.set(key(g), { g, count: 1 });
  }
  // OpenBLAS's own threading is a benchmark hook: the testhooks build (its own pool).
  const hooks = loadNativeTestHooks();
  if ('error' in hooks) throw new Error(`lm-floor needs the testhooks addon: ${hooks.error}`);
  const hb = wrapNativeAddon(hooks);
  const all = [...groups.values()];
  const sumOf = (ms: number[]): number => all.reduce((s, { count }, i) => s + count * ms[i], 0);
  // Our split GEMM (the stricter floor), the 512^3 reference and our step, as training runs.
  const floor = sumOf(all.map(({ g }) => timeGemm(g)));
  const stepFlops = gemms.reduce((s, g) => s + flops(g), 0);
  const big = { batch: 1, M: 512, N: 512, K: 512, transA: false, transB: false, beta: 0 };
  const peakGflops = flops(big) / timeGemm(big) / 1e6;
  const step = oursLmStepMs();
  // Then OpenBLAS directly (one sgemm per product or head, its own threads), at 2 and at 1
  // thread: OpenBLAS's workers spin ~0.1 s after threaded calls, so this comes last.
  let floorBlas: number;
  const threads0 = hooks.getThreads();
  try {
    configureNative({ threads: 2 }, hooks);
    hooks.setSplitGemm(false);
    hooks.setSlicesParallel(false);
    const two = all.map(({ g }) => timeGemm(g, hb));
    configureNative({ threads: 1 }, hooks);
    floorBlas = sumOf(all.map(({ g }, i) => Math.min(two[i], timeGemm(g, hb))));
  } finally {
    hooks.setSplitGemm(true);
    hooks.setSlicesParallel(true);
    configureNative({ threads: threads0 }, hooks);
  }
  await new Promise((r) => setTimeout(r, 300));
  const rows: Row[] = [
    {
      metric: 'step / GEMM floor (OpenBLAS directly)',
      ours_ms: r2(step),
      floor_ms: r2(floorBlas),
      ratio: r2(step / floorBlas),
      target: '<= 1.15',
    },
    {
      metric: 'step / GEMM floor (our split GEMM)',
      ours_ms: r2(step),
      floor_ms: r2(floor),
      ratio: r2(step / floor),
      target: '-',
    },
    {
      metric: 'MFU',
      step_gflop: r2(stepFlops / 1e9),
      achieved_gflops: r2(stepFlops / step / 1e6),
      matmul512_gflops: r2(peakGflops),
      mfu: r2(stepFlops / step / 1e6 / peakGflops),
    },
  ];
  const notes = [
    `${gemms.length} products per step (${groups.size} distinct shapes incl. attention's per-head GEMMs as batches over B*H), each timed alone (median): through OpenBLAS directly (one sgemm per product or head, OpenBLAS's own threads, better of 1 and 2), and through our split GEMM as in training (stricter)`,
  ];
  return { title: 'lm-floor (case 4: case-1 step vs the sum of its matrix products)', rows, notes };
}
