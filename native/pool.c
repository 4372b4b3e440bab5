/* Fork-join pool; see pool.h. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long an idle worker (or the caller waiting for workers) spins before blocking, in
 * nanoseconds; TRANSFORMER_SPIN_US overrides it (read once). */
#ifndef SPIN_NS_DEFAULT
#define SPIN_NS_DEFAULT 30000
#endif
static int64_t g_spin_ns = -1;

static int64_t spin_ns(void) {
  if (g_spin_ns < 0) {
    const char *e = getenv("TRANSFORMER_SPIN_US");
    g_spin_ns = e && *e ? (int64_t)atol(e) * 1000 : SPIN_NS_DEFAULT;
  }
  return g_spin_ns;
}
#define SPIN_NS spin_ns()

#ifndef POOL_MIN_WORK_DEFAULT
#define POOL_MIN_WORK_DEFAULT (1 << 20)
#endif
static int64_t g_min_work = -1;

int64_t pool_min_work(void) {
  if (g_min_work < 0) {
    const char *e = getenv("TRANSFORMER_POOL_MIN_WORK");
    g_min_work = e && *e ? (int64_t)atoll(e) : POOL_MIN_WORK_DEFAULT;
  }
  return g_min_work;
}

static int g_threads = 1;  /* pool size including the caller */
static int g_started = 0;  /* workers started: ids 1..g_started */
static pthread_t g_workers[POOL_MAX_THREADS];
static unsigned g_start_gen[POOL_MAX_THREADS]; /* generation seen when a worker was created */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_cv_done = PTHREAD_COND_INITIALIZER;
static atomic_uint g_gen;     /* job generation, bumped per job */
static atomic_int g_pending;  /* worker chunks not yet finished */
static atomic_flag g_busy = ATOMIC_FLAG_INIT; /* a job is being run (guards re-entry) */

/* The current job (written under g_mu before g_gen is bumped). */
static pool_fn g_fn;
static void *g_ctx;
static int64_t g_n;
static int g_parts;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void run_chunk(pool_fn fn, void *ctx, int64_t n, int parts, int i) {
  int64_t b = n * i / parts, e = n * (i + 1) / parts;
  if (b < e) fn(ctx, b, e, i);
}

static void *worker_main(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned seen = g_start_gen[id];
  for (;;) {
    unsigned g = atomic_load_explicit(&g_gen, memory_order_acquire);
    if (g == seen) {
      int64_t t0 = now_ns();
      int spins = 0;
      while ((g = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen) {
        CPU_RELAX();
        if (++spins == 64) {
          spins = 0;
          if (now_ns() - t0 > SPIN_NS) break;
        }
      }
      if (g == seen) {
        pthread_mutex_lock(&g_mu);
        while ((g = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen)
          pthread_cond_wait(&g_cv_work, &g_mu);
        pthread_mutex_unlock(&g_mu);
      }
    }
    seen = g;
    if (id < g_parts) {
      run_chunk(g_fn, g_ctx, g_n, g_parts, id);
      if (atomic_fetch_sub_explicit(&g_pending, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_lock(&g_mu);
        pthread_cond_signal(&g_cv_done);
        pthread_mutex_unlock(&g_mu);
      }
    }
  }
  return NULL;
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
    g_start_gen[g_started + 1] = atomic_load_explicit(&g_gen, memory_order_relaxed);
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
  if (n <= 0) return;
  int parts = g_threads;
  if (!parallel || parts < 2 || n < 2 || atomic_flag_test_and_set(&g_busy)) {
    fn(ctx, 0, n, 0);
    return;
  }
  if ((int64_t)parts > n) parts = (int)n;
  if (start_workers(parts - 1) < parts - 1) parts = g_started + 1;
  if (parts < 2) {
    atomic_flag_clear(&g_busy);
    fn(ctx, 0, n, 0);
    return;
  }
  pthread_mutex_lock(&g_mu);
  g_fn = fn;
  g_ctx = ctx;
  g_n = n;
  g_parts = parts;
  atomic_store_explicit(&g_pending, parts - 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_gen, 1, memory_order_release);
  pthread_cond_broadcast(&g_cv_work);
  pthread_mutex_unlock(&g_mu);

  run_chunk(fn, ctx, n, parts, 0);

  if (atomic_load_explicit(&g_pending, memory_order_acquire) > 0) {
    int64_t t0 = now_ns();
    int spins = 0;
    while (atomic_load_explicit(&g_pending, memory_order_acquire) > 0) {
      CPU_RELAX();
      if (++spins == 64) {
        spins = 0;
        if (now_ns() - t0 > SPIN_NS) break;
      }
    }
    if (atomic_load_explicit(&g_pending, memory_order_acquire) > 0) {
      pthread_mutex_lock(&g_mu);
      while (atomic_load_explicit(&g_pending, memory_order_acquire) > 0)
        pthread_cond_wait(&g_cv_done, &g_mu);
      pthread_mutex_unlock(&g_mu);
    }
  }
  atomic_flag_clear(&g_busy);
}

void pool_for(pool_fn fn, void *ctx, int64_t n, int64_t cost) {
  pool_run(fn, ctx, n, n >= 2 && n * (cost < 1 ? 1 : cost) >= POOL_MIN_WORK);
}
