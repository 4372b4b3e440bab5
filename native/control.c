/*
 * The addon's control entries (ADDON_EXPORTS after the kernels): configure (the typed
 * NativeConfig of src/backend/native-config.ts, packed), getThreads, blasConfig; the
 * `tables` export; and, in the transformer_testhooks build, the benchmark and test hooks.
 */
#include <stdio.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "args.h"
#include "config.h"
#include "gemm.h"
#include "pool.h"

extern char *openblas_get_config(void);


/*
 * glibc allocator tuning, only when NativeConfig.tuneMalloc asks for it (it changes the
 * host process's allocator). Tensors are typed arrays that node allocates with calloc and
 * frees when collected; glibc serves 0.1-2 MB blocks with mmap/munmap by default (above a
 * 128 KB threshold that only adapts slowly), so each costs page faults and the kernel's
 * zeroing of fresh pages: measured on case 1 of bench/run.ts, a fresh 1.5 MB output made
 * the GELU kernel 4x slower than a reused one. Tuned: mmap only above 32 MB, trim only
 * above 256 MB free at the top. Turning it off again restores glibc's initial 128 KB
 * thresholds (glibc's dynamic adjustment of them stays off once set).
 */
static void tune_malloc(int on) {
#if defined(__GLIBC__)
  static int tuned = 0;
  if (on == tuned) return;
  mallopt(M_MMAP_THRESHOLD, on ? 32 << 20 : 128 << 10);
  mallopt(M_TRIM_THRESHOLD, on ? 256 << 20 : 128 << 10);
  tuned = on;
#endif
}

#define CFG_INDEX(f) CFG_##f,
enum { CONFIG_FIELDS(CFG_INDEX) CFG_COUNT };
#undef CFG_INDEX

/* configure(config: Float64Array in CONFIG_FIELDS order): drains deferred work, then
 * applies the whole config (validated again here; src/backend/native-config.ts names the
 * option in its messages). */
FN(js_configure) {
  double *d;
  size_t d_n;
  ARGS("configure", "d", "config", &d, &d_n);
  need(&a, d_n, CFG_COUNT, "config");
  DONE();
  native_config c;
#define CFG_READ(f) c.f = as_int(&a, d[CFG_##f], 0, #f);
  CONFIG_FIELDS(CFG_READ)
#undef CFG_READ
  if (!a.err && (c.threads < 1 || c.threads > POOL_MAX_THREADS))
    fail(&a, "ERR_OUT_OF_RANGE", "configure: threads must be in [1, 64]");
  if (!a.err && (c.poolGrain < 1 || c.gemmGrain < 1))
    fail(&a, "ERR_OUT_OF_RANGE", "configure: poolGrain and gemmGrain must be >= 1");
  if (!a.err && (c.gemm >= GEMM_LIB_COUNT || !gemm_available((int)c.gemm)))
    fail(&a, "ERR_OUT_OF_RANGE", "configure: the gemm library asked for is not available");
  DONE();
  k_drain();
  g_config = c;
  gemm_select((int)c.gemm);
  k_set_threads((int)c.threads);
  tune_malloc(c.tuneMalloc != 0);
  return NULL;
}

FN(js_get_threads) {
  (void)info;
  napi_value r;
  napi_create_int32(env, k_threads(), &r);
  return r;
}

/* openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". */
FN(js_blas_config) {
  (void)info;
  napi_value r;
  const char *c = openblas_get_config();
  napi_create_string_utf8(env, c ? c : "", NAPI_AUTO_LENGTH, &r);
  return r;
}

#ifdef TRANSFORMER_TESTHOOKS
/* The hooks of TESTHOOK_EXPORTS, one number or boolean argument each. */
enum { HOOK_BLAS_THREADS, HOOK_SLICES_PARALLEL, HOOK_SPLIT_GEMM, HOOK_DEFER_DELAY_US };
static napi_value hook(napi_env env, napi_callback_info info, int which) {
  static const char *const fn[] = {"setBlasThreads", "setSlicesParallel", "setSplitGemm",
                                   "setDeferDelayUs"};
  double v;
  ARGS(fn[which], "v", "value", &v);
  switch (which) {
    /* Benchmarks: the GEMM library's thread count alone (the pool keeps its size). */
    case HOOK_BLAS_THREADS: gemm_set_library_threads(v < 1 ? 1 : (int)v); break;
    /* Benchmarks: false runs attention / batched-matmul slices one by one with n-thread
     * GEMMs. */
    case HOOK_SLICES_PARALLEL: k_set_slices_parallel(v != 0); break;
    /* Benchmarks: true splits big GEMMs over the pool (OpenBLAS at 1 thread), false lets
     * OpenBLAS thread. */
    case HOOK_SPLIT_GEMM: k_set_split_gemm(v != 0); break;
    /* Tests: workers wait this many microseconds before each deferred task. */
    default: pool_set_defer_delay_us((int64_t)v); break;
  }
  return NULL;
}
FN(js_set_blas_threads) { return hook(env, info, HOOK_BLAS_THREADS); }
FN(js_set_slices_parallel) { return hook(env, info, HOOK_SLICES_PARALLEL); }
FN(js_set_split_gemm) { return hook(env, info, HOOK_SPLIT_GEMM); }
FN(js_set_defer_delay_us) { return hook(env, info, HOOK_DEFER_DELAY_US); }
#endif

/* A JS array of the strings `names[0..n)`. */
static napi_value string_array(napi_env env, const char *const *names, size_t n) {
  napi_value arr, s;
  napi_create_array_with_length(env, n, &arr);
  for (size_t i = 0; i < n; i++) {
    napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, (uint32_t)i, s);
  }
  return arr;
}

/* exports.tables: the names of tables.h, in code order ({ binary, unary, scalar,
 * attentionGeometry, config: string[], testHooks: boolean }). */
napi_value make_tables(napi_env env) {
#define OP_NAME(e, name) name,
#define FIELD_NAME(f) #f,
  static const char *const binary[] = {BINARY_OPS(OP_NAME)}, *const unary[] = {UNARY_OPS(OP_NAME)},
                           *const scalar[] = {SCALAR_OPS(OP_NAME)},
                           *const geom[] = {ATT_GEOM_FIELDS(FIELD_NAME)},
                           *const gathered[] = {GATHERED_GEOM_FIELDS(FIELD_NAME)},
                           *const config[] = {CONFIG_FIELDS(FIELD_NAME)},
                           *const gemm[] = {GEMM_LIBS(OP_NAME)};
#undef OP_NAME
#undef FIELD_NAME
#define LIST(x) string_array(env, x, sizeof x / sizeof x[0])
  napi_value t, hooks;
  napi_create_object(env, &t);
  napi_set_named_property(env, t, "binary", LIST(binary));
  napi_set_named_property(env, t, "unary", LIST(unary));
  napi_set_named_property(env, t, "scalar", LIST(scalar));
  napi_set_named_property(env, t, "attentionGeometry", LIST(geom));
  napi_set_named_property(env, t, "gatheredGeometry", LIST(gathered));
  napi_set_named_property(env, t, "config", LIST(config));
  napi_set_named_property(env, t, "gemm", LIST(gemm));
#undef LIST
#ifdef TRANSFORMER_TESTHOOKS
  napi_get_boolean(env, true, &hooks);
#else
  napi_get_boolean(env, false, &hooks);
#endif
  napi_set_named_property(env, t, "testHooks", hooks);
  return t;
}
