/**
 * Matmul benchmark: GFLOP/s of the native backend's matmul (OpenBLAS sgemm) with 2 and 1
 * threads, side by side with numpy's `a @ b` (bench/peer/matmul.py, run with
 * /usr/bin/python3 on the same OpenBLAS), and the js backend for the record.
 *
 * Shapes are M x N x K: out (M, N) = A (M, K) @ B (K, N). 768x128x512 is a Linear layer
 * over 768 tokens (batch 12 x context 64) from width 512 to 128.
 * Timing: warm-up calls, then timed repetitions; the table shows the MEDIAN per-call time
 * as GFLOP/s (the JSON lines also carry the best).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsBackend } from '../src/backend/js.js';
import { configureNative, loadNativeTestHooks, wrapNativeAddon } from '../src/backend/native.js';
import type { Backend } from '../src/backend/types.js';

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

const SHAPES: [number, number, number][] = [
  [512, 512, 512],
  [768, 128, 512],
  [64, 64, 64],
];

/** Repetitions giving roughly `seconds` of work at `gflops`. */
function repsFor(M: number, N: number, K: number, gflops: number, seconds: number): number {
  const per = (2 * M * N * K) / (gflops * 1e9);
  return Math.max(5, Math.min(2000, Math.round(seconds / per)));
}

interface Peer {
  median_gflops: number;
  best_gflops: number;
}

function runPeer(): { peers: (Peer | null)[]; note: string } {
  const python = '/usr/bin/python3';
  const script = join(dirname(fileURLToPath(import.meta.url)), 'peer', 'matmul.py');
  if (!existsSync(python)) return { peers: SHAPES.map(() => null), note: 'peer unavailable' };
  const arg = JSON.stringify(SHAPES.map(([M, N, K]) => [M, N, K, repsFor(M, N, K, 100, 0.5)]));
  const r = spawnSync(python, [script, arg], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '2' },
  });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').pop() ?? '';
    return { peers: SHAPES.map(() => null), note: `peer unavailable (${why})` };
  }
  const lines = r.stdout.trim().split('\n');
  const peers = lines.map((l) => JSON.parse(l) as Peer & { numpy: string });
  return { peers, note: `peer: numpy ${peers[0]?.numpy ?? '?'} a @ b, OPENBLAS_NUM_THREADS=2` };
}

function gemmGflops(be: Backend, M: number, N: number, K: number, reps: number, warmup = 3) {
  const a = randomF32(M * K, 1);
  const b = randomF32(K * N, 2);
  const out = new Float32Array(M * N);
  const t = measure(() => be.matmul(out, a, b, 1, M, N, K, false, false, 0, 0, 0), reps, warmup);
  const flops = 2 * M * N * K;
  return { median: flops / t.median / 1e9, best: flops / t.best / 1e9 };
}

export async function matmulCase(): Promise<CaseResult> {
  // The testhooks build (setSplitGemm), with its own pool and config.
  const addon = loadNativeTestHooks();
  const notes: string[] = [];
  const native = 'error' in addon ? null : wrapNativeAddon(addon);
  if ('error' in addon) notes.push(`native unavailable: ${addon.error}`);
  else notes.push(`OpenBLAS: ${addon.blasConfig().trim()}`);
  const { peers, note } = runPeer();
  notes.push(note);
  const rows: Row[] = [];
  const threads0 = 'error' in addon ? 0 : addon.getThreads();
  for (const [i, [M, N, K]] of SHAPES.entries()) {
    const row: Row = { shape: `${M}x${N}x${K}` };
    if (native && !('error' in addon)) {
      const threads = (n: number) => configureNative({ threads: n }, addon);
      threads(2);
      const two = gemmGflops(native, M, N, K, repsFor(M, N, K, 100, 0.5));
      threads(1);
      const one = gemmGflops(native, M, N, K, repsFor(M, N, K, 60, 0.5));
      threads(2);
      addon.setSplitGemm(false);
      const ob = gemmGflops(native, M, N, K, repsFor(M, N, K, 100, 0.5));
      addon.setSplitGemm(true);
      threads(threads0);
      row['native 2T GFLOP/s'] = round(two.median);
      row['native 1T GFLOP/s'] = round(one.median);
      row['OpenBLAS-threaded 2T'] = round(ob.median);
      row.native_best_2t = round(two.best);
    }
    const peer = peers[i];
    row['numpy GFLOP/s'] = peer ? round(peer.median_gflops) : null;
    row['ours/numpy'] =
      peer && typeof row['native 2T GFLOP/s'] === 'number'
        ? round((row['native 2T GFLOP/s'] as number) / peer.median_gflops)
        : null;
    const js = gemmGflops(jsBackend, M, N, K, M * N * K > 1e7 ? 2 : 10, 1);
    row['js GFLOP/s'] = round(js.median);
    rows.push(row);
    // OpenBLAS's own workers spin for ~0.1 s after threaded calls: let them go idle.
    await new Promise((r) => setTimeout(r, 300));
  }
  notes.push(
    'GFLOP/s from the median per-call time. native 2T/1T: our pool of 2/1 threads, big GEMMs ' +
      'split in row blocks over it (OpenBLAS single-threaded); OpenBLAS-threaded 2T: one sgemm ' +
      'with openblas_set_num_threads(2) (setSplitGemm(false)), for comparison',
  );
  return { title: 'matmul (M x N x K, float32, out = A(M,K) @ B(K,N))', rows, notes };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
