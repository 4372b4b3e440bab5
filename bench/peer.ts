/**
 * Running the PyTorch peers (bench/peer/*.py, /usr/bin/python3 with Debian's
 * python3-torch) in fresh subprocesses, and picking their best thread setting.
 *
 * Thread settings: torch.set_num_threads(1 | 2) crossed with OPENBLAS_NUM_THREADS=1 | 2,
 * each in its own process (OpenBLAS reads the variable when it loads). BENCH_PEER_THREADS=T/B
 * (e.g. `2/1`) tries only that setting, for long sweeps whose best setting is known.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR } from './lm-common.js';

export const PYTHON = '/usr/bin/python3';

/** One peer run's JSON output (each script prints one JSON line). */
export type PeerResult = Record<string, number | string>;

/**
 * Runs bench/peer/<script> with a JSON argument and OPENBLAS_NUM_THREADS=`blas`.
 * @returns the parsed last stdout line, or { error } when python/torch is missing or it failed.
 */
export function runPeer(script: string, arg: Record<string, unknown>, blas: number): PeerResult {
  if (!existsSync(PYTHON)) return { error: `${PYTHON} not found` };
  const r = spawnSync(PYTHON, [join(BENCH_DIR, 'peer', script), JSON.stringify(arg)], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(blas) },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n').pop() ?? '';
    return { error: why };
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as PeerResult;
}

export interface BestPeer {
  /** The best (lowest `key`) run, or null when the peer is unavailable. */
  best: PeerResult | null;
  /** "torch T / OpenBLAS B: value" for every setting tried. */
  tried: string[];
  error?: string;
}

/**
 * Runs the peer at every thread setting (torch 1|2 x OpenBLAS 1|2) and returns the run
 * with the smallest `key` (e.g. median milliseconds per step).
 */
export function bestPeer(script: string, arg: Record<string, unknown>, key: string): BestPeer {
  const tried: string[] = [];
  let best: PeerResult | null = null;
  let error: string | undefined;
  const only = peerThreadsFromEnv();
  for (const torchThreads of only ? [only.torch] : [1, 2]) {
    for (const blas of only ? [only.blas] : [1, 2]) {
      const r = runPeer(script, { ...arg, threads: torchThreads }, blas);
      if (!(key in r)) {
        error = String(r.error);
        tried.push(`torch ${torchThreads} / OpenBLAS ${blas}: failed`);
        continue;
      }
      const v = Number(r[key]);
      tried.push(`torch ${torchThreads} / OpenBLAS ${blas}: ${v.toFixed(2)}`);
      if (!best || v < Number(best[key])) best = { ...r, torch_threads: torchThreads, blas };
    }
  }
  return best ? { best, tried } : { best: null, tried, error };
}

/**
 * The one peer thread setting BENCH_PEER_THREADS asks for ("T/B"), or null (try all).
 * @throws Error naming the variable when it is not two positive integers.
 */
export function peerThreadsFromEnv(env = process.env): { torch: number; blas: number } | null {
  const v = env.BENCH_PEER_THREADS;
  if (!v) return null;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1)
    throw new Error(`BENCH_PEER_THREADS must be TORCH/BLAS threads such as 2/1, got '${v}'`);
  return { torch: Number(m[1]), blas: Number(m[2]) };
}

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Rounds to 2 decimals (3 significant digits for small values). */
export function r2(x: number): number {
  return Math.abs(x) >= 1 ? Math.round(x * 100) / 100 : Number(x.toPrecision(3));
}

/** Milliseconds per call of `fn` over `reps` calls after `warmup`: median, best, all. */
export function timeMs(
  fn: () => void,
  reps: number,
  warmup: number,
): { median: number; best: number } {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { median: median(ts), best: Math.min(...ts) };
}
