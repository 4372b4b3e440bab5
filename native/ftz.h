/*
 * Flush-to-zero and denormals-are-zero (MXCSR FTZ | DAZ) around the attention kernels' work.
 *
 * A softmax weight near e^-80 (a strongly biased score: ALiBi's slope times a distance of
 * thousands) times a small dout or dP makes subnormal products and dS entries, and every
 * GEMM that reads or writes one runs its microcode assist: the tiled backward with ALiBi at
 * T 4096 took 178 ms against 103 with FTZ | DAZ (98 with no bias). The flushed values are
 * below 1.2e-38: a weight or gradient entry that small changes no result at float's
 * precision. GPUs' attention kernels flush the same way; PyTorch offers it on CPUs as
 * torch.set_flush_denormal(True).
 *
 * The mode is a thread's own register, and the caller of a kernel is Node's main thread,
 * whose JavaScript needs IEEE subnormals: every range function runs under ftz_range, which
 * sets the mode and puts the thread's own back when the range is done (pool workers and the
 * caller alike).
 */
#ifndef TRANSFORMER_FTZ_H
#define TRANSFORMER_FTZ_H

#include <stdint.h>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FTZ_BITS 0x8040u /* FTZ (bit 15) | DAZ (bit 6) */
static inline unsigned int ftz_begin(void) {
  const unsigned int csr = _mm_getcsr();
  _mm_setcsr(csr | FTZ_BITS);
  return csr;
}
static inline void ftz_end(unsigned int csr) { _mm_setcsr(csr); }
#else
static inline unsigned int ftz_begin(void) { return 0; }
static inline void ftz_end(unsigned int csr) { (void)csr; }
#endif

/* A range function and its context, run by ftz_range with FTZ | DAZ set. */
typedef struct {
  void (*fn)(void *, int64_t, int64_t, int);
  void *ctx;
} ftz_job;

/* The pool's range signature: job is an ftz_job. */
static inline __attribute__((unused)) void ftz_range(void *job, int64_t a, int64_t b, int tid) {
  const ftz_job *j = job;
  const unsigned int csr = ftz_begin();
  j->fn(j->ctx, a, b, tid);
  ftz_end(csr);
}

#endif
