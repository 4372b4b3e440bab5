/**
 * The native backend's typed configuration: thread count and pool/GEMM tuning, with
 * documented defaults. `configureNative()` (src/backend/native.ts) validates a partial
 * config, merges it into the current one and hands it to the addon packed in a
 * Float64Array (CONFIG_FIELDS order of native/tables.h); the C side reads no environment.
 *
 * Environment variables are parsed in one place, `nativeConfigFromEnv()`, which feeds the
 * config the addon gets when it loads:
 *   TRANSFORMER_THREADS        threads
 *   TRANSFORMER_SPIN_US        spinUs
 *   TRANSFORMER_POOL_MIN_WORK  poolMinWork
 *   TRANSFORMER_POOL_GRAIN     poolGrain
 *   TRANSFORMER_GEMM_GRAIN     gemmGrain
 *   TRANSFORMER_SPLIT_GEMM_MIN splitGemmMin
 *   TRANSFORMER_DEFER=0|1      defer
 *   TRANSFORMER_MALLOC=tuned   tuneMalloc: true (anything else: false)
 *   TRANSFORMER_GEMM=auto|openblas|dnnl|blis  gemm
 *   TRANSFORMER_PRECISION=fp32|bf16  bf16Gemm: false | true
 */
import { availableParallelism } from 'node:os';

/**
 * The GEMM libraries of NativeConfig.gemm, in the addon's code order (GEMM_LIBS of
 * native/tables.h; native/gemm.c): 'auto' is dnnl when oneDNN loads, else openblas.
 */
export const GEMM_LIBRARIES = ['auto', 'openblas', 'dnnl', 'blis'] as const;
export type GemmLibrary = (typeof GEMM_LIBRARIES)[number];

/** Tuning of the native backend (native/pool.c, native/blas.c). All integers >= 0. */
export interface NativeConfig {
  /** Threads of the kernel pool, the caller included (1..64); OpenBLAS runs single-threaded
   * inside them. Default: TRANSFORMER_THREADS, else min(2, CPU count). */
  threads: number;
  /** How long an idle worker (or the waiting caller) spins before it sleeps, in
   * microseconds. Default 100. */
  spinUs: number;
  /** Below this much work (items x cost per item) a kernel runs on the calling thread
   * only. Default 65536. */
  poolMinWork: number;
  /** Chunks per thread of a pool job (>= 1). Default 1. */
  poolGrain: number;
  /** Chunks per thread of a GEMM split over the pool (>= 1). Default 1. */
  gemmGrain: number;
  /** GEMMs with at least this many multiply-adds are split over the pool. Default 2^23. */
  splitGemmMin: number;
  /** Queue a linear layer's dweight GEMM for the worker (matmulDeferred) instead of
   * running it at once. Default true. */
  defer: boolean;
  /** Tune glibc's allocator for big short-lived buffers (mmap only above 32 MB, trim only
   * above 256 MB): this changes the host process's allocator, so it is opt-in. Default
   * false. */
  tuneMalloc: boolean;
  /** The library that runs every GEMM (native/gemm.c): 'openblas' (Debian's OpenBLAS),
   * 'dnnl' (oneDNN's dnnl_sgemm, AVX-512), 'blis' (BLIS's bli_sgemm), or 'auto' (dnnl when
   * libdnnl.so.2 loads, else openblas). Asking for one that does not load is an error.
   * Default 'auto'. */
  gemm: GemmLibrary;
  /** Mixed precision: every matmul and matmulDeferred (the linear layers, forward and
   * backward) rounds its operands to bfloat16 and accumulates in float32 (oneDNN's
   * AVX512-BF16 GEMM when gemm is dnnl, else the rounded operands through the fp32 GEMM);
   * weights, optimizer state, LayerNorm, softmax, attention and the loss stay float32.
   * Default false. */
  bf16Gemm: boolean;
}

/** The defaults of every field but `threads` (which depends on the machine). */
export const NATIVE_CONFIG_DEFAULTS: Readonly<Omit<NativeConfig, 'threads'>> = Object.freeze({
  spinUs: 100,
  poolMinWork: 1 << 16,
  poolGrain: 1,
  gemmGrain: 1,
  splitGemmMin: 1 << 23,
  defer: true,
  tuneMalloc: false,
  gemm: 'auto',
  bf16Gemm: false,
});

/** NativeConfig's fields in the packed order of the addon (CONFIG_FIELDS, native/tables.h). */
export const NATIVE_CONFIG_FIELDS = [
  'threads',
  'spinUs',
  'poolMinWork',
  'poolGrain',
  'gemmGrain',
  'splitGemmMin',
  'defer',
  'tuneMalloc',
  'gemm',
  'bf16Gemm',
] as const satisfies readonly (keyof NativeConfig)[];

/** The default config: NATIVE_CONFIG_DEFAULTS with threads = min(2, CPU count). */
export function defaultNativeConfig(): NativeConfig {
  return { threads: Math.min(2, Math.max(1, availableParallelism())), ...NATIVE_CONFIG_DEFAULTS };
}

const ENV_INTEGER: Record<
  string,
  'threads' | 'spinUs' | 'poolMinWork' | 'poolGrain' | 'gemmGrain' | 'splitGemmMin'
> = {
  TRANSFORMER_THREADS: 'threads',
  TRANSFORMER_SPIN_US: 'spinUs',
  TRANSFORMER_POOL_MIN_WORK: 'poolMinWork',
  TRANSFORMER_POOL_GRAIN: 'poolGrain',
  TRANSFORMER_GEMM_GRAIN: 'gemmGrain',
  TRANSFORMER_SPLIT_GEMM_MIN: 'splitGemmMin',
};

/**
 * The config overrides set in the environment (the one place that reads the TRANSFORMER_*
 * tuning variables; see the module comment). Unset or empty variables are left out.
 * @throws Error naming the variable when a value is not a non-negative integer (or 0/1
 *   for TRANSFORMER_DEFER).
 */
export function nativeConfigFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<NativeConfig> {
  const out: Partial<NativeConfig> = {};
  for (const [name, field] of Object.entries(ENV_INTEGER)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (!/^\d+$/.test(v.trim()))
      throw new Error(`${name} must be a non-negative integer, got '${v}'`);
    out[field] = Number(v);
  }
  const defer = env.TRANSFORMER_DEFER;
  if (defer !== undefined && defer !== '') {
    if (defer !== '0' && defer !== '1')
      throw new Error(`TRANSFORMER_DEFER must be 0 or 1, got '${defer}'`);
    out.defer = defer === '1';
  }
  const malloc = env.TRANSFORMER_MALLOC;
  if (malloc !== undefined && malloc !== '') out.tuneMalloc = malloc === 'tuned';
  const gemm = env.TRANSFORMER_GEMM;
  if (gemm !== undefined && gemm !== '') {
    if (!(GEMM_LIBRARIES as readonly string[]).includes(gemm))
      throw new Error(`TRANSFORMER_GEMM must be one of ${GEMM_LIBRARIES.join('|')}, got '${gemm}'`);
    out.gemm = gemm as GemmLibrary;
  }
  const precision = env.TRANSFORMER_PRECISION;
  if (precision !== undefined && precision !== '') {
    if (precision !== 'fp32' && precision !== 'bf16')
      throw new Error(`TRANSFORMER_PRECISION must be fp32 or bf16, got '${precision}'`);
    out.bf16Gemm = precision === 'bf16';
  }
  return out;
}

/**
 * `base` with the fields of `options` replaced, validated.
 * @throws Error naming the option: an unknown key, a non-integer or out-of-range number
 *   (threads 1..64, poolGrain and gemmGrain >= 1, others >= 0), a non-boolean flag.
 */
export function mergeNativeConfig(
  base: Readonly<NativeConfig>,
  options: Readonly<Partial<NativeConfig>>,
): NativeConfig {
  const out: NativeConfig = { ...base };
  for (const [key, value] of Object.entries(options)) {
    if (!(NATIVE_CONFIG_FIELDS as readonly string[]).includes(key))
      throw new Error(
        `unknown native config option '${key}' (known: ${NATIVE_CONFIG_FIELDS.join(', ')})`,
      );
    if (value === undefined) continue;
    const k = key as keyof NativeConfig;
    if (k === 'gemm') {
      if (!(GEMM_LIBRARIES as readonly unknown[]).includes(value))
        throw new Error(
          `native config: gemm must be one of ${GEMM_LIBRARIES.join(', ')}, got ${String(value)}`,
        );
      out.gemm = value as GemmLibrary;
      continue;
    }
    if (k === 'defer' || k === 'tuneMalloc' || k === 'bf16Gemm') {
      if (typeof value !== 'boolean') throw new Error(`native config: ${k} must be a boolean`);
      out[k] = value;
      continue;
    }
    const min = k === 'threads' || k === 'poolGrain' || k === 'gemmGrain' ? 1 : 0;
    const max = k === 'threads' ? 64 : Number.MAX_SAFE_INTEGER;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      throw new Error(`native config: ${k} must be an integer in [${min}, ${max}], got ${value}`);
    out[k] = value;
  }
  return out;
}

/** Packs `c` into `buf` in NATIVE_CONFIG_FIELDS order (booleans as 0/1, gemm as its
 * index in GEMM_LIBRARIES). */
export function packNativeConfig(c: Readonly<NativeConfig>, buf: Float64Array): Float64Array {
  NATIVE_CONFIG_FIELDS.forEach((f, i) => {
    buf[i] = f === 'gemm' ? GEMM_LIBRARIES.indexOf(c.gemm) : Number(c[f]);
  });
  return buf;
}
