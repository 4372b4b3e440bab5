/**
 * The global `--precision fp32|bf16` option (issue 15 part 2): bf16 makes every linear
 * layer's GEMM (forward and backward, training and inference) take bfloat16 operands with
 * float32 accumulation on the native backend (NativeConfig.bf16Gemm, native/gemm.c: oneDNN's
 * AVX512-BF16 GEMM); weights, optimizer state, LayerNorm, softmax, attention and the loss
 * stay float32. The environment's TRANSFORMER_PRECISION does the same without the option.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { backend } from '../backend/index.js';
import { configureNative, loadNativeAddon } from '../backend/native.js';
import { matmul } from '../ops/index.js';
import { Generator } from '../random.js';
import { randn } from '../tensor.js';

/** The precisions `--precision` accepts. */
export const PRECISIONS = ['fp32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** Whether --precision was given (set when the option is applied). */
let chosen = false;

/** Whether the user chose the precision: --precision, or TRANSFORMER_PRECISION. */
export function precisionChosen(): boolean {
  return chosen || process.env.TRANSFORMER_PRECISION !== undefined;
}

/**
 * Whether bf16 GEMMs run natively here: the native backend is in use, its oneDNN has the
 * bf16 GEMM (gemmInfo().bf16), and the CPU has AVX512-BF16 (the `avx512_bf16` flag of
 * /proc/cpuinfo; elsewhere oneDNN would emulate it, slower than float32).
 */
export function bf16Native(): boolean {
  if (backend().name !== 'native') return false;
  const addon = loadNativeAddon();
  if ('error' in addon || !addon.gemmInfo().bf16) return false;
  try {
    return /^flags\s*:.*\bavx512_bf16\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

/** A probe's GEMM times in ms (the fastest of PROBE_REPS each) and the choice made. */
export interface Bf16Probe {
  fp32: number;
  bf16: number;
  /** bf16 at most BF16_WIN of float32's time. */
  faster: boolean;
}

/** Repetitions per precision of the probe GEMM (after one warm-up each). */
const PROBE_REPS = 5;
/** bf16 is taken when its probe time is at most this fraction of float32's. */
const BF16_WIN = 0.9;

/**
 * Times one GEMM, (1024, 256) x (256, 1024) (a translation step's projection shapes), in
 * float32 and in bf16 on the native backend, and restores the float32 setting. AVX512-BF16 is
 * no promise of speed: on an AMD Zen 5 oneDNN's bf16 GEMM took 85% of float32's time in
 * training, on an Intel Xeon without AMX (2026-12-07) 1.5-1.7x float32's (4,845 against
 * 6,925 tokens/s training the translation default). About 20 ms.
 * @throws Error when the native backend is not in use.
 */
export function probeBf16(): Bf16Probe {
  if (backend().name !== 'native') throw new Error('probeBf16: the native backend is not in use');
  const gen = new Generator(0);
  const a = randn([1024, 256], gen);
  const b = randn([256, 1024], gen);
  const time = (bf16: boolean): number => {
    configureNative({ bf16Gemm: bf16 });
    matmul(a, b);
    let best = Infinity;
    for (let i = 0; i < PROBE_REPS; i++) {
      const t0 = performance.now();
      matmul(a, b);
      best = Math.min(best, performance.now() - t0);
    }
    return best;
  };
  try {
    const fp32 = time(false);
    const bf16 = time(true);
    return { fp32, bf16, faster: bf16 <= BF16_WIN * fp32 };
  } finally {
    configureNative({ bf16Gemm: false });
  }
}

/**
 * Applies a precision to the backend in use.
 * @throws Error when bf16 is asked of the js backend (it has no bf16 GEMM).
 */
export function applyPrecision(precision: Precision): void {
  chosen = true;
  const name = backend().name;
  if (name !== 'native') {
    if (precision === 'bf16')
      throw new Error(`--precision bf16 needs the native backend (the backend in use is ${name})`);
    return;
  }
  configureNative({ bf16Gemm: precision === 'bf16' });
}

/**
 * Adds `--precision <p>` to the program (before or after the command's name) and applies
 * it before every command's action.
 */
export function registerPrecisionOption(program: Command): void {
  program
    .option(
      '--precision <p>',
      'GEMM precision: fp32, or bf16 (bfloat16 operands, float32 accumulation; native backend)',
      (v: string): Precision => {
        if (!(PRECISIONS as readonly string[]).includes(v))
          throw new InvalidArgumentError(`--precision must be fp32 or bf16, got '${v}'`);
        return v as Precision;
      },
    )
    .hook('preAction', (cmd) => {
      const p = cmd.opts().precision as Precision | undefined;
      if (p) applyPrecision(p);
    });
}
