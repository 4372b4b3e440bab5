/* Fork-join pool with dynamic chunks; see pool.h. */
#include "pool.h"

#include "config.h"
#include "gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker (or the caller waiting for the last chunk) spins before blocking,
 * in nanoseconds: NativeConfig.spinUs (default 100). 100 us covers most gaps between the
 * kernels of a training step; case 1 measured 32.6 / 33.9 / 32.8 ms a step (min of 5) at
 * 100 / 300 / 1000 us, so longer spinning buys nothing. */
#define SPIN_NS (g_config.spinUs * 1000)

native_config g_config = {.threads = 1,
                          .spinUs = 100,
                          .poolMinWork = 1 << 16,
                          .poolGrain = 1,
                          .gemmGrain = 1,
                          .splitGemmMin = 1 << 23,
                          .defer = 1,
                          .tuneMalloc = 0};

int64_t pool_min_work(void) { return g_config.poolMinWork; }

/* Chunks per thread (NativeConfig.poolGrain, default 1): a job of n items is cut in
 * min(n, threads * GRAIN) chunks that the threads claim one at a time, so a worker that
 * wakes late (a futex wake-up costs 40-100 us in this VM) takes fewer. 1: the caller,
 * already running, claims the first chunk and a worker the second, so a row-wise kernel
 * (LayerNorm, GELU, residual add, a GEMM split by rows, attention by batch) leaves each
 * half of the rows in the cache of the core the next kernel reads it on; with 4 the rows
 * were interleaved between the cores. In a training step the worker spins between kernels
 * (SPIN_NS), so it is seldom late. Measured (bench/profile-lm.ts --plain, interleaved runs,
 * medians of per-run medians): case 1 30.9 -> 29.9 ms and 29.8 -> 29.4 ms (8 and 5
 * runs), case 2 214 -> 208 ms (6 runs); generate unchanged. */
#define GRAIN ((int)g_config.poolGrain)

static int g_threads = 1;  /* pool size including the caller */
static int g_started = 0;  /* workers started: ids 1..g_started */
static pthread_t g_workers[POOL_MAX_THREADS];

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_cv_done = PTHREAD_COND_INITIALIZER;
static atomic_flag g_busy = ATOMIC_FLAG_INIT; /* a job is being run (guards re-entry) */

/* The job: generation in the high 32 bits, next unclaimed chunk in the low 32. A thread
 * claims a chunk with a compare-and-swap that also checks the generation, so a worker
 * that wakes after its job ended claims nothing. The job's fields below are written
 * before the generation is published and stay fixed until every chunk is done, which
 * cannot happen while a claimed chunk runs: a thread reads them only after a claim. */
static _Atomic uint64_t g_next;
static atomic_int g_done;     /* chunks finished in the current job */
static pool_fn g_fn;
static void *g_ctx;
static int64_t g_n;
static int g_chunks;

/* Workers blocked (or about to block) on g_cv_work, and whether the caller is blocked on
 * g_cv_done: the other side only takes the mutex and signals when someone sleeps, so a
 * spinning peer costs no futex call. Dekker-style: the sleeper publishes itself (seq_cst)
 * and re-checks its condition under the mutex; the waker changes the condition (seq_cst)
 * and then reads the sleeper flag. */
static atomic_int g_sleepers;
static atomic_int g_caller_sleeping;

/* Deferred tasks (pool_defer): a ring the caller pushes to and any thread takes from.
 * A taker copies slot head, counts itself in g_dq_running, then claims the slot with a
 * compare-and-swap on head (a failed claim means another thread took it, or the caller
 * reused the slot after head moved on; the copy is then dropped). Counting before the
 * claim means pool_drain never sees an empty ring and no task running while one is. */
#define DEFER_SLOTS 64
#define DEFER_CTX_BYTES 128
typedef struct {
  pool_fn fn;
  _Alignas(16) unsigned char ctx[DEFER_CTX_BYTES];
} dtask;
static dtask g_dq[DEFER_SLOTS];
static atomic_int g_dq_head, g_dq_tail, g_dq_running;
static int g_dq_drained_at; /* the caller's: g_dq_tail at its last pool_drain */

#define DEFER_ON (g_config.defer != 0)

static int dq_pending(void) { return atomic_load(&g_dq_head) != atomic_load(&g_dq_tail); }

static int dq_take(dtask *out) {
  for (;;) {
    int h = atomic_load(&g_dq_head);
    if (h == atomic_load(&g_dq_tail)) return 0;
    memcpy(out, &g_dq[h % DEFER_SLOTS], sizeof *out);
    atomic_fetch_add(&g_dq_running, 1);
    if (atomic_compare_exchange_strong(&g_dq_head, &h, h + 1)) return 1;
    atomic_fetch_sub(&g_dq_running, 1);
  }
}

#ifdef TRANSFORMER_TESTHOOKS
/* Tests (transformer_testhooks build only): a worker waits this long before each deferred
 * task, so a caller that touched a task's buffers too early would see it. */
static int64_t g_defer_delay_us = 0;
void pool_set_defer_delay_us(int64_t us) { g_defer_delay_us = us < 0 ? 0 : us; }
#endif

static void dq_run(dtask *t, int tid) {
#ifdef TRANSFORMER_TESTHOOKS
  int64_t delay = g_defer_delay_us;
  if (delay > 0 && tid != 0) {
    struct timespec ts = {(time_t)(delay / 1000000), (long)(delay % 1000000) * 1000};
    nanosleep(&ts, NULL);
  }
#endif
  t->fn(t->ctx, 0, 1, tid);
  if (atomic_fetch_sub(&g_dq_running, 1) == 1 && tid != 0 && atomic_load(&g_caller_sleeping)) {
    pthread_mutex_lock(&g_mu);
    pthread_cond_signal(&g_cv_done);
    pthread_mutex_unlock(&g_mu);
  }
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Claims and runs chunks of job `gen` until none is left; returns the number run. */
static int run_chunks(uint32_t gen, int tid) {
  int ran = 0;
  for (;;) {
    uint64_t v = atomic_load(&g_next);
    if ((uint32_t)(v >> 32) != gen) return ran;
    uint32_t i = (uint32_t)v;
    if ((int)i >= g_chunks) return ran;
    if (!atomic_compare_exchange_weak(&g_next, &v, v + 1)) continue;
    const int64_t n = g_n, c = g_chunks;
    const int64_t b = n * i / c, e = n * (i + 1) / c;
    if (b < e) g_fn(g_ctx, b, e, tid);
    ran++;
    if (atomic_fetch_add(&g_done, 1) + 1 == c && atomic_load(&g_caller_sleeping)) {
      pthread_mutex_lock(&g_mu);
      pthread_cond_signal(&g_cv_done);
      pthread_mutex_unlock(&g_mu);
    }
  }
}

/* Deferred tasks for worker `id`: none beyond the pool's current size (setThreads). */
static int dq_ready(int id) { return id < g_threads && dq_pending(); }

/* A worker helps with the caller's job first (the caller waits for it), and between jobs
 * runs deferred tasks, one at a time, checking for a new job after each. */
static void *worker_main(void *arg) {
  int id = (int)(intptr_t)arg;
  gemm_guard_thread(); /* no signal handler runs on a worker (oneDNN's kernels, gemm.c) */
  uint32_t seen = (uint32_t)(atomic_load(&g_next) >> 32);
  for (;;) {
    uint32_t g = (uint32_t)(atomic_load_explicit(&g_next, memory_order_acquire) >> 32);
    if (g == seen && !dq_ready(id)) {
      int64_t t0 = now_ns();
      int spins = 0;
      while ((g = (uint32_t)(atomic_load_explicit(&g_next, memory_order_acquire) >> 32)) ==
                 seen &&
             !dq_ready(id)) {
        CPU_RELAX();
        if (++spins == 64) {
          spins = 0;
          if (now_ns() - t0 > SPIN_NS) break;
        }
      }
      if (g == seen && !dq_ready(id)) {
        pthread_mutex_lock(&g_mu);
        atomic_fetch_add(&g_sleepers, 1);
        while ((g = (uint32_t)(atomic_load(&g_next) >> 32)) == seen && !dq_ready(id))
          pthread_cond_wait(&g_cv_work, &g_mu);
        atomic_fetch_sub(&g_sleepers, 1);
        pthread_mutex_unlock(&g_mu);
      }
    }
    if (g != seen) {
      seen = g;
      if (id < g_threads) run_chunks(g, id);
      continue;
    }
    dtask t;
    if (dq_ready(id) && dq_take(&t)) dq_run(&t, id);
  }
  return NULL;
}

/* Wakes the workers blocked on g_cv_work, if any (a new job or deferred task). */
static void wake_workers(void) {
  if (atomic_load(&g_sleepers) > 0) {
    pthread_mutex_lock(&g_mu);
    pthread_cond_broadcast(&g_cv_work);
    pthread_mutex_unlock(&g_mu);
  }
}

/* The caller waits until *v == target (the chunks of its job done, or no deferred task
 * running): spins for SPIN_NS, then sleeps on g_cv_done, which a worker signals when it
 * brings *v to target while the caller sleeps. */
static void caller_wait(atomic_int *v, int target) {
  if (atomic_load_explicit(v, memory_order_acquire) == target) return;
  int64_t t0 = now_ns();
  int spins = 0;
  while (atomic_load_explicit(v, memory_order_acquire) != target) {
    CPU_RELAX();
    if (++spins == 64) {
      spins = 0;
      if (now_ns() - t0 > SPIN_NS) break;
    }
  }
  if (atomic_load_explicit(v, memory_order_acquire) == target) return;
  pthread_mutex_lock(&g_mu);
  atomic_store(&g_caller_sleeping, 1);
  while (atomic_load(v) != target) pthread_cond_wait(&g_cv_done, &g_mu);
  atomic_store(&g_caller_sleeping, 0);
  pthread_mutex_unlock(&g_mu);
}

void pool_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
  g_threads = n;
}

int pool_threads(void) { return g_threads; }

static int start_workers(int want) {
  while (g_started < want) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&g_workers[g_started + 1], &attr, worker_main,
                            (void *)(intptr_t)(g_started + 1));
    pthread_attr_destroy(&attr);
    if (rc != 0) break;
    g_started++;
  }
  return g_started;
}

void pool_run(pool_fn fn, void *ctx, int64_t n, int parallel) {
  pool_run_grain(fn, ctx, n, parallel, GRAIN);
}

static void run_grain(pool_fn fn, void *ctx, int64_t n, int parallel, int grain);

void pool_run_grain(pool_fn fn, void *ctx, int64_t n, int parallel, int grain) {
  if (n <= 0) return;
  const int guard = gemm_guard_begin(); /* the caller's signals, once per run (gemm.c) */
  run_grain(fn, ctx, n, parallel, grain);
  gemm_guard_end(guard);
}

static void run_grain(pool_fn fn, void *ctx, int64_t n, int parallel, int grain) {
  int parts = g_threads;
  if (!parallel || parts < 2 || n < 2 || atomic_flag_test_and_set(&g_busy)) {
    fn(ctx, 0, n, 0);
    return;
  }
  if (start_workers(parts - 1) < parts - 1) parts = g_started + 1;
  if (parts < 2) {
    atomic_flag_clear(&g_busy);
    fn(ctx, 0, n, 0);
    return;
  }
  int64_t chunks = (int64_t)parts * (grain < 1 ? 1 : grain);
  if (chunks > n) chunks = n;
  /* Every chunk of the previous job is done (the caller waited for them), so no thread
   * reads these fields now; the seq_cst store below publishes them. */
  g_fn = fn;
  g_ctx = ctx;
  g_n = n;
  g_chunks = (int)chunks;
  atomic_store(&g_done, 0);
  uint32_t gen = (uint32_t)(atomic_load(&g_next) >> 32) + 1;
  atomic_store(&g_next, (uint64_t)gen << 32);
  wake_workers();

  run_chunks(gen, 0);
  caller_wait(&g_done, (int)chunks);
  atomic_flag_clear(&g_busy);
}

int pool_defer(pool_fn fn, const void *ctx, size_t size) {
  int t = atomic_load(&g_dq_tail);
  if (!DEFER_ON || g_threads < 2 || size > DEFER_CTX_BYTES || start_workers(1) < 1 ||
      t - atomic_load(&g_dq_head) >= DEFER_SLOTS) {
    fn((void *)ctx, 0, 1, 0);
    return 0;
  }
  g_dq[t % DEFER_SLOTS].fn = fn;
  memcpy(g_dq[t % DEFER_SLOTS].ctx, ctx, size);
  atomic_store(&g_dq_tail, t + 1); /* publishes the slot (seq_cst) */
  wake_workers();
  return 1;
}

int pool_has_deferred(void) { return atomic_load(&g_dq_tail) != g_dq_drained_at; }

void pool_drain(void) {
  dtask t;
  g_dq_drained_at = atomic_load(&g_dq_tail);
  while (dq_take(&t)) dq_run(&t, 0);
  caller_wait(&g_dq_running, 0);
}

void pool_for(pool_fn fn, void *ctx, int64_t n, int64_t cost) {
  pool_run(fn, ctx, n, n >= 2 && n * (cost < 1 ? 1 : cost) >= POOL_MIN_WORK);
}
