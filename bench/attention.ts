/**
 * Attention threading benchmark: the native fused attention (forward + backward) with its
 * B*H slices spread over the kernel pool (OpenBLAS at 1 thread inside; the default) versus
 * the slices run one after another with 2-thread OpenBLAS GEMMs, versus 1 thread. Slices
 * below SLICE_PAR_MIN multiply-adds per GEMM (native/blas.c) run on the caller even in
 * "pool" mode (BH=256, T=S=24 here).
 * Timing: warm-up, then the MEDIAN of timed repetitions (ms per forward + backward).
 */
import { configureNative, loadNativeTestHooks, wrapNativeAddon } from '../src/backend/native.js';
import { measure, randomF32, type CaseResult, type Row } from './matmul.js';

const SHAPES: [number, number, number, number][] = [
  [48, 64, 64, 32],
  [256, 24, 24, 32],
  [8, 256, 256, 64],
];

export async function attentionCase(): Promise<CaseResult> {
  // The testhooks build (setSlicesParallel), with its own pool and config.
  const addon = loadNativeTestHooks();
  if ('error' in addon) {
    return { title: 'attention', rows: [], notes: [`native unavailable: ${addon.error}`] };
  }
  const be = wrapNativeAddon(addon);
  const threads0 = addon.getThreads();
  const rows: Row[] = [];
  for (const [BH, T, S, D] of SHAPES) {
    const q = randomF32(BH * T * D, 1);
    const k = randomF32(BH * S * D, 2);
    const v = randomF32(BH * S * D, 3);
    const dout = randomF32(BH * T * D, 4);
    const out = new Float32Array(BH * T * D);
    const w = new Float32Array(BH * T * S);
    const dq = new Float32Array(BH * T * D);
    const dk = new Float32Array(BH * S * D);
    const dv = new Float32Array(BH * S * D);
    const scale = 1 / Math.sqrt(D);
    const geometry = { BH, T, S, D, H: 1, ldq: D, ldk: D, ldv: D, ldo: D, kvRows: S, scale };
    const causal = { ...geometry, causal: true };
    const step = () => {
      be.attentionForward(out, w, q, k, v, null, null, causal);
      be.attentionBackward(dq, dk, dv, dout, q, k, v, w, null, geometry);
    };
    const flops = 2 * BH * T * S * D * 6; // 2 GEMMs forward, 4 backward
    const time = (): number => measure(step, Math.max(30, Math.round(3e9 / flops)), 3).median;
    const threads = (n: number) => configureNative({ threads: n }, addon);
    threads(2);
    const pool = time();
    threads(1);
    const one = time();
    threads(2);
    addon.setSlicesParallel(false);
    const seq = time();
    addon.setSlicesParallel(true);
    threads(threads0);
    // OpenBLAS's own workers spin for ~0.1 s after threaded calls: let them go idle.
    await new Promise((r) => setTimeout(r, 300));
    rows.push({
      shape: `BH=${BH} T=${T} S=${S} D=${D}`,
      'pool 2T ms': round(pool * 1e3),
      'seq 2T-GEMM ms': round(seq * 1e3),
      '1T ms': round(one * 1e3),
      'pool speedup vs seq': round(seq / pool),
    });
  }
  return {
    title: 'attention forward+backward (causal), slices on the pool vs sequential 2-thread GEMMs',
    rows,
    notes: ['median ms per forward + backward'],
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
