/**
 * Child process of gemm-signals.test.ts: GEMMs of the shapes that made oneDNN's JIT f32
 * kernels corrupt the heap when a signal arrived mid-kernel (uxlfoundation/oneDNN#4845),
 * run while the parent's `--cpu-prof --cpu-prof-interval 50` sends SIGPROF every 50 us.
 * Argument: the GEMM library (NativeConfig.gemm). Prints one JSON line {sum, calls} and
 * exits 0; before the fix glibc aborted it ("corrupted size vs. prev_size").
 * Legend: M, N, K the product's sizes; tA, tB the transposes.
 */
import { configureNative, loadNativeAddon } from '../../src/backend/native.js';
import type { GemmLibrary } from '../../src/backend/native-config.js';

const lib = process.argv[2] as GemmLibrary;
const addon = loadNativeAddon();
if ('error' in addon) throw new Error(addon.error);
configureNative({ gemm: lib, threads: 1 }, addon);
if (addon.gemmInfo().active !== lib) throw new Error(`library ${lib} is not active`);

// [M, N, K, tA, tB]: the projections and score / value products of a 4-head, D 32 layer.
const SHAPES: [number, number, number, boolean, boolean][] = [
  [256, 96, 128, false, true],
  [64, 32, 256, false, false],
  [256, 128, 128, false, false],
  [128, 128, 256, true, false],
];
const CALLS = 3000;
let sum = 0;
for (let i = 0; i < CALLS; i++) {
  const [M, N, K, tA, tB] = SHAPES[i % SHAPES.length];
  // Fresh buffers each call, so the heap is busy around the library's workspace.
  const a = new Float32Array(M * K).fill(1e-3 * (i % 7));
  const b = new Float32Array(K * N).fill(1e-3);
  const out = new Float32Array(M * N);
  if (i % 8 === 7) addon.matmulBf16(out, a, b, M, N, K, tA, tB, 0);
  else addon.matmul(out, a, b, 1, M, N, K, tA, tB, 0, 0, 0);
  sum += out[0];
}
console.log(JSON.stringify({ sum, calls: CALLS }));
