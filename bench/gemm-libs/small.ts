/**
 * Per-call time of small products on OpenBLAS and on oneDNN through the native backend's
 * matmul (N-API call included), at 1 and 2 pool threads: where GEMM auto's size split
 * (native/gemm.c GEMM_SMALL) comes from. Best of 5 rounds of many calls; run it on a quiet
 * machine: `node --import tsx bench/gemm-libs/small.ts`.
 */
import { configureNative } from '../../src/backend/native.js';
import { setBackend, backend } from '../../src/backend/index.js';
setBackend('native');
const shapes: [number, number, number][] = [
  [8, 8, 8],
  [16, 16, 32],
  [32, 32, 32],
  [20, 20, 64],
  [48, 48, 32],
  [64, 64, 64],
  [96, 96, 96],
  [128, 128, 128],
  [64, 256, 128],
  [256, 128, 256],
  [192, 192, 192],
];
for (const threads of [1, 2]) {
  configureNative({ threads });
  for (const [M, N, K] of shapes) {
    const a = new Float32Array(M * K).fill(0.5),
      b = new Float32Array(K * N).fill(0.25),
      out = new Float32Array(M * N);
    const res: string[] = [];
    for (const gemm of ['openblas', 'dnnl'] as const) {
      configureNative({ gemm });
      const be = backend();
      const reps = Math.max(50, Math.floor(2e8 / (M * N * K)));
      let best = Infinity;
      for (let r = 0; r < 5; r++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < reps; i++) be.matmul(out, a, b, 1, M, N, K, false, false, 0, 0, 0);
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / reps);
      }
      res.push(`${gemm} ${(best / 1000).toFixed(2)}us ${((2 * M * N * K) / best).toFixed(1)}GF`);
    }
    console.log(threads, `${M}x${N}x${K}`, res.join('  '));
  }
}
