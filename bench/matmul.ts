/**
 * Matmul benchmark: GFLOP/s of the native backend's matmul with each GEMM library that loads
 * (NativeConfig.gemm: openblas, dnnl, blis; big GEMMs split over our 2-thread pool, the
 * library single-threaded inside), ours as configured at 1 thread, OpenBLAS's own 2-thread
 * GEMM, the bf16 GEMM (matmulBf16, fp32 accumulation), side by side with numpy in the same
 * run (bench/peer/matmul.py on the PATH python3, numpy's own OpenBLAS with its own kernel
 * choice: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command only), and the js
 * backend for the record.
 *
 * Shapes are M x N x K: out (M, N) = op(A) (M, K) @ op(B) (K, N), with the transposes of
 * the case-1 training step (NT a linear layer's forward x W^T, NN its dx, TN its dweight).
 * Timing: warm-up calls, then timed repetitions; the table shows the BEST per-call time as
 * GFLOP/s (the machine is shared with other work: medians there measure the load, not the
 * GEMM; ours_median_2t keeps our median). Compare columns of one run, not runs.
 * BLIS_ARCH_TYPE defaults to 0 (skx) here: Debian's BLIS 0.9.0 picks 'generic' on Zen 5.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsBackend } from '../src/backend/js.js';
import {
  configureNative,
  loadNativeTestHooks,
  nativeConfig,
  wrapNativeAddon,
} from '../src/backend/native.js';
import type { GemmLibrary } from '../src/backend/native-config.js';
import type { Backend } from '../src/backend/types.js';

// Before the addon first loads BLIS (module load, ahead of every case): its skx kernels.
process.env.BLIS_ARCH_TYPE ??= '0';

export type Row = Record<string, string | number | null>;
export interface CaseResult {
  title: string;
  rows: Row[];
  notes: string[];
}

/** Median and best seconds per call of fn, after `warmup` untimed calls. */
export function measure(
  fn: () => void,
  reps: number,
  warmup = 3,
): { median: number; best: number } {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return { median: times[times.length >> 1], best: times[0] };
}

export function randomF32(n: number, seed = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

/** A benchmark shape: M x N x K with its transposes. */
interface Shape {
  M: number;
  N: number;
  K: number;
  tA: boolean;
  tB: boolean;
}

const SHAPES: Shape[] = [
  { M: 512, N: 512, K: 512, tA: false, tB: false },
  { M: 768, N: 384, K: 128, tA: false, tB: true },
  { M: 768, N: 128, K: 512, tA: false, tB: false },
  { M: 128, N: 512, K: 768, tA: true, tB: false },
  { M: 64, N: 64, K: 64, tA: false, tB: false },
];

const label = (s: Shape): string => `${s.M}x${s.N}x${s.K} ${s.tA ? 'T' : 'N'}${s.tB ? 'T' : 'N'}`;

/** Repetitions giving roughly `seconds` of work at `gflops`. */
function repsFor(s: Shape, gflops: number, seconds: number): number {
  const per = (2 * s.M * s.N * s.K) / (gflops * 1e9);
  return Math.max(5, Math.min(2000, Math.round(seconds / per)));
}

interface Peer {
  median_gflops: number;
  best_gflops: number;
  numpy: string;
  blas: string;
}

/** numpy on the PATH python3 with its own OpenBLAS kernel choice, 2 threads. */
function runPeer(): { peers: (Peer | null)[]; note: string } {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'peer', 'matmul.py');
  const arg = JSON.stringify(
    SHAPES.map((s) => [s.M, s.N, s.K, repsFor(s, 200, 0.5), Number(s.tA), Number(s.tB), 1]),
  );
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '2' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('python3', [script, arg], { encoding: 'utf8', env });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').pop() ?? '';
    return { peers: SHAPES.map(() => null), note: `peer unavailable (${why})` };
  }
  const peers = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Peer);
  const p = peers[0];
  return {
    peers,
    note: `peer: numpy ${p?.numpy ?? '?'} (${p?.blas ?? '?'}) op(a) @ op(b), PATH python3, OPENBLAS_NUM_THREADS=2, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset`,
  };
}

function gemmGflops(be: Backend, s: Shape, reps: number, warmup = 3) {
  const a = randomF32(s.M * s.K, 1);
  const b = randomF32(s.K * s.N, 2);
  const out = new Float32Array(s.M * s.N);
  const run = () => be.matmul(out, a, b, 1, s.M, s.N, s.K, s.tA, s.tB, 0, 0, 0);
  return gflopsOf(s, measure(run, reps, warmup));
}

function gflopsOf(s: Shape, t: { median: number; best: number }) {
  const flops = 2 * s.M * s.N * s.K;
  return { median: flops / t.median / 1e9, best: flops / t.best / 1e9 };
}

export async function matmulCase(): Promise<CaseResult> {
  // The testhooks build (setSplitGemm), with its own pool and config.
  const addon = loadNativeTestHooks();
  const notes: string[] = [];
  const native = 'error' in addon ? null : wrapNativeAddon(addon);
  const libs: GemmLibrary[] = [];
  const config0 = 'error' in addon ? null : nativeConfig(addon);
  if ('error' in addon) notes.push(`native unavailable: ${addon.error}`);
  else {
    const info = addon.gemmInfo();
    libs.push(...info.available.filter((l) => l !== 'auto'));
    notes.push(`OpenBLAS: ${addon.blasConfig().trim()}`);
    notes.push(
      `GEMM: ${info.detail}; ours = ${info.active} (NativeConfig.gemm / TRANSFORMER_GEMM)`,
    );
  }
  const { peers, note } = runPeer();
  notes.push(note);
  const rows: Row[] = [];
  for (const [i, s] of SHAPES.entries()) {
    const row: Row = { shape: label(s) };
    if (native && config0 && !('error' in addon)) {
      const reps = repsFor(s, 200, 0.4);
      try {
        for (const lib of libs) {
          configureNative({ gemm: lib, threads: 2 }, addon);
          row[`${lib} 2T`] = round(gemmGflops(native, s, reps).best);
        }
        configureNative({ gemm: config0.gemm, threads: 2 }, addon);
        const two = gemmGflops(native, s, reps);
        row['ours 2T'] = round(two.best);
        row.ours_median_2t = round(two.median);
        const a = randomF32(s.M * s.K, 1);
        const b = randomF32(s.K * s.N, 2);
        const out = new Float32Array(s.M * s.N);
        const bf = measure(() => addon.matmulBf16(out, a, b, s.M, s.N, s.K, s.tA, s.tB, 0), reps);
        row['ours bf16 2T'] = round(gflopsOf(s, bf).best);
        configureNative({ threads: 1 }, addon);
        row['ours 1T'] = round(gemmGflops(native, s, repsFor(s, 120, 0.4)).best);
        configureNative({ gemm: 'openblas', threads: 2 }, addon);
        addon.setSplitGemm(false);
        row['OpenBLAS-threaded 2T'] = round(gemmGflops(native, s, reps).best);
      } finally {
        addon.setSplitGemm(true);
        configureNative(config0, addon);
      }
    }
    const peer = peers[i];
    row['numpy 2T'] = peer ? round(peer.best_gflops) : null;
    row['ours/numpy'] =
      peer && typeof row['ours 2T'] === 'number'
        ? round((row['ours 2T'] as number) / peer.best_gflops)
        : null;
    const js = gemmGflops(jsBackend, s, s.M * s.N * s.K > 1e7 ? 2 : 10, 1);
    row['js'] = round(js.best);
    rows.push(row);
    // OpenBLAS's own workers spin for ~0.1 s after threaded calls: let them go idle.
    await new Promise((r) => setTimeout(r, 300));
  }
  notes.push(
    'GFLOP/s from the best per-call time (shared machine). <lib> 2T: our pool of 2 threads with that GEMM ' +
      'library (big GEMMs split in row blocks over the pool, the library single-threaded); ' +
      'ours: the default library (auto); bf16: matmulBf16 (inputs rounded to bf16, fp32 ' +
      'accumulation, rounding included); OpenBLAS-threaded 2T: one OpenBLAS sgemm with its own 2 threads',
  );
  return { title: 'matmul (M x N x K, float32, out = op(A)(M,K) @ op(B)(K,N))', rows, notes };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
