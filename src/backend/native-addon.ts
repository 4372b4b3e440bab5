/**
 * The shape of the N-API addon `transformer_native.node` as TypeScript sees it: its kernel
 * exports (the `Kernels` of ./types.ts with integer op codes and packed geometry / dropout
 * arguments), its control exports, its name tables (native/tables.h) and the test hooks of
 * the transformer_testhooks build. ./native.ts loads the addon and wraps it as a Backend.
 */
import type { GemmLibrary } from './native-config.js';
import type { GatheredGeometry } from './types-attention.js';
import type { AttentionDropout, AttentionGeometry, F32, Kernels, SingleGemm } from './types.js';

/** A kernel whose first argument, the op name, is passed as its integer code. */
export type WithOpCode<F> = F extends (op: never, ...rest: infer R) => infer T
  ? (op: number, ...rest: R) => T
  : never;

/** An attention kernel whose geometry argument is packed (see packGeometry). */
export type WithPackedGeometry<F> = F extends (...args: infer P) => infer T
  ? (
      ...args: { [I in keyof P]: P[I] extends Readonly<AttentionGeometry> ? Float64Array : P[I] }
    ) => T
  : never;

/** A gathered attention kernel whose GatheredGeometry comes packed (GATHERED_GEOMETRY_FIELDS). */
export type WithPackedGathered<F> = F extends (...args: infer P) => infer T
  ? (
      ...args: { [I in keyof P]: P[I] extends Readonly<GatheredGeometry> ? Float64Array : P[I] }
    ) => T
  : never;

/** A tiled attention kernel whose dropout argument is packed (see packDropout). */
export type WithPackedDropout<F> = F extends (...args: infer P) => infer T
  ? (
      ...args: {
        [I in keyof P]: P[I] extends Readonly<AttentionDropout> | null
          ? null extends P[I]
            ? Float64Array
            : P[I]
          : P[I];
      }
    ) => T
  : never;

/** The names in the addon's tables (native/tables.h), in code order. */
export interface NativeTables {
  binary: string[];
  unary: string[];
  scalar: string[];
  attentionGeometry: string[];
  /** GATHERED_GEOMETRY_FIELDS (native/tables.h GATHERED_GEOM_FIELDS). */
  gatheredGeometry: string[];
  config: string[];
  /** GEMM_LIBRARIES (native/tables.h GEMM_LIBS). */
  gemm: string[];
  /** True in the transformer_testhooks build. */
  testHooks: boolean;
}

/** The addon's kernel exports: the `Kernels`, with integer op codes and packed arguments. */
export type NativeKernels = Omit<
  Kernels,
  | 'binary'
  | 'unary'
  | 'unaryBackward'
  | 'scalar'
  | 'stridedCopy'
  | 'stridedAccumulate'
  | 'attentionForward'
  | 'attentionBackward'
  | 'flashAttentionForward'
  | 'flashAttentionBackward'
  | 'word2vecTrain'
  | 'sparseAttentionForward'
  | 'sparseAttentionBackward'
  | 'gatheredAttentionForward'
  | 'gatheredAttentionBackward'
> & {
  binary(op: number, out: F32, a: F32, b: F32, rank: number, dims: Float64Array): void;
  unary: WithOpCode<Kernels['unary']>;
  unaryBackward: WithOpCode<Kernels['unaryBackward']>;
  scalar: WithOpCode<Kernels['scalar']>;
  stridedCopy(out: F32, x: F32, rank: number, dims: Float64Array, offset: number): void;
  stridedAccumulate(x: F32, g: F32, rank: number, dims: Float64Array, offset: number): void;
  attentionForward: WithPackedGeometry<Kernels['attentionForward']>;
  attentionBackward: WithPackedGeometry<Kernels['attentionBackward']>;
  /** The dropout packed as (threshold, keep, key0, key1); threshold 0: none. */
  flashAttentionForward: WithPackedDropout<WithPackedGeometry<Kernels['flashAttentionForward']>>;
  flashAttentionBackward: WithPackedDropout<WithPackedGeometry<Kernels['flashAttentionBackward']>>;
  word2vecTrain(
    syn0: F32,
    syn1: F32,
    corpus: Int32Array,
    table: Int32Array,
    keepProb: F32,
    dim: number,
    window: number,
    negative: number,
    epochs: number,
    alpha: number,
    cbow: boolean,
    seed: number,
  ): number;
  sparseAttentionForward: WithPackedGeometry<Kernels['sparseAttentionForward']>;
  sparseAttentionBackward: WithPackedGeometry<Kernels['sparseAttentionBackward']>;
  gatheredAttentionForward: WithPackedGathered<Kernels['gatheredAttentionForward']>;
  gatheredAttentionBackward: WithPackedGathered<Kernels['gatheredAttentionBackward']>;
};

/** The addon's exports that are not kernels (ADDON_EXPORTS of native/tables.h). */
export interface NativeControl {
  /** Applies a whole config packed in NATIVE_CONFIG_FIELDS order (use configureNative). */
  configure(config: Float64Array): void;
  /** The pool's thread count. */
  getThreads(): number;
  /** openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". */
  blasConfig(): string;
  /** The GEMM library in use (NativeConfig.gemm), the ones that load here, whether
   * matmulBf16 runs a bf16 kernel (else fp32 on bf16-rounded inputs), and versions. */
  gemmInfo(): { active: GemmLibrary; available: GemmLibrary[]; bf16: boolean; detail: string };
  /**
   * out (M, N) = bf16(op(a)) bf16(op(b)) + beta * out: the operands rounded to bfloat16
   * (nearest even), products accumulated in float32 (oneDNN's AVX512-BF16 GEMM when the
   * dnnl library is active, else the rounded operands through the fp32 GEMM).
   * @param a (M, K) float32, or (K, M) when transA; @param b (K, N), or (N, K) when transB
   * @throws Error when an array is shorter than its shape.
   */
  matmulBf16: SingleGemm;
  tables: NativeTables;
}

/** The production addon: kernels and control entries, nothing else. */
export type NativeAddon = NativeKernels & NativeControl;

/** The names of NativeControl (every other export of the addon is a kernel). */
export const NATIVE_CONTROL_EXPORTS = [
  'configure',
  'getThreads',
  'blasConfig',
  'gemmInfo',
  'matmulBf16',
  'tables',
] as const;

/** Benchmark and test hooks of the transformer_testhooks build (TESTHOOK_EXPORTS). */
export interface NativeTestHooks {
  /** OpenBLAS's thread count alone (the pool keeps its size). */
  setBlasThreads(n: number): void;
  /** false runs attention / batched-matmul slices one by one with n-thread GEMMs. */
  setSlicesParallel(on: boolean): void;
  /** true splits big GEMMs over the pool (OpenBLAS single-threaded), false lets OpenBLAS thread. */
  setSplitGemm(on: boolean): void;
  /** Workers wait this many microseconds before each deferred GEMM (tests of its hazards). */
  setDeferDelayUs(us: number): void;
}

export const NATIVE_TESTHOOK_EXPORTS = [
  'setBlasThreads',
  'setSlicesParallel',
  'setSplitGemm',
  'setDeferDelayUs',
] as const satisfies readonly (keyof NativeTestHooks)[];
