/*
 * The GEMM library's entries of the addon (ADDON_EXPORTS control entries, not kernels):
 * gemmInfo() and matmulBf16(). The library itself is chosen by configure (NativeConfig.gemm,
 * native/gemm.c).
 */
#include <string.h>

#include "args.h"
#include "gemm.h"
#include "kernels.h"

/* gemmInfo(): { active: 'openblas' | 'dnnl' | 'blis', available: string[] (GEMM_LIBS names
 * that load here, 'auto' first), bf16: boolean (a bf16 kernel, not the fp32 widening),
 * detail: string }. */
FN(js_gemm_info) {
  (void)info;
#define GEMM_NAME(e, name) name,
  static const char *const names[] = {GEMM_LIBS(GEMM_NAME)};
#undef GEMM_NAME
  napi_value r, v, list;
  napi_create_object(env, &r);
  napi_create_string_utf8(env, names[gemm_active()], NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, r, "active", v);
  napi_create_array(env, &list);
  uint32_t n = 0;
  for (int i = 0; i < GEMM_LIB_COUNT; i++)
    if (gemm_available(i)) {
      napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &v);
      napi_set_element(env, list, n++, v);
    }
  napi_set_named_property(env, r, "available", list);
  napi_get_boolean(env, gemm_bf16_native(), &v);
  napi_set_named_property(env, r, "bf16", v);
  char detail[256];
  gemm_describe(detail, sizeof detail);
  napi_create_string_utf8(env, detail, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, r, "detail", v);
  return r;
}

/* matmulBf16(out, a, b, M, N, K, transA, transB, beta): out (M, N) = bf16(op(a)) bf16(op(b))
 * + beta out, fp32 accumulation; a (M, K) or (K, M) when transA, b (K, N) or (N, K). */
FN(js_matmul_bf16) {
  float *o, *x, *y;
  size_t o_n, x_n, y_n;
  int64_t d[3]; /* M, N, K */
  int tA, tB;
  double beta;
  ARGS("matmulBf16", "fffzzzbbr", "out a b M N K transA transB beta", &o, &o_n, &x, &x_n, &y,
       &y_n, &d[0], &d[1], &d[2], &tA, &tB, &beta);
  need(&a, o_n, d[0] * d[1], "out");
  need(&a, x_n, d[0] * d[2], "a");
  need(&a, y_n, d[2] * d[1], "b");
  need_int32(&a, "matmulBf16 sizes", 3, d);
  DONE();
  if (k_matmul_bf16(o, x, y, d[0], d[1], d[2], tA, tB, (float)beta) != 0)
    fail(&a, "ERR_MEMORY", "matmulBf16: out of memory for the bf16 operands");
  DONE();
  return NULL;
}
