/*
 * A small fork-join thread pool for the non-GEMM kernels: the calling thread plus
 * (threads - 1) workers. Workers spin briefly after a job (so back-to-back kernels do
 * not pay a futex wake-up) and then block on a condition variable, so an idle pool
 * costs no CPU and does not fight OpenBLAS's own threads.
 *
 * Work is split into contiguous chunks, chunk i of c is [n*i/c, n*(i+1)/c) with
 * c = min(n, threads * NativeConfig.poolGrain), which the threads claim
 * dynamically (a late worker takes fewer).
 * Kernels never split a floating-point reduction across chunks, so results depend neither
 * on the thread count nor on which thread ran which chunk.
 */
#ifndef TRANSFORMER_POOL_H
#define TRANSFORMER_POOL_H

#include <stddef.h>
#include <stdint.h>

/** Runs items [begin, end) on thread `tid` (0 = the caller). */
typedef void (*pool_fn)(void *ctx, int64_t begin, int64_t end, int tid);

/** Maximum pool size (threads including the caller). */
#define POOL_MAX_THREADS 64

/** Below this much work (items x cost) a kernel runs on the calling thread only
 * (NativeConfig.poolMinWork, see native/config.h). Default 64K: waking a worker
 * costs tens of microseconds, more than a small kernel saves (a 64-row LayerNorm of
 * generation, 32K, took 61 us split vs 9.5 us on the caller with the first, static pool);
 * with dynamic chunks a (768, 128) LayerNorm (393K) runs in 50 us split vs 98 us on the
 * caller, and the case-1 step is 2-3 ms faster than at 1M (bench/profile-lm.ts, min of 5). */
#define POOL_MIN_WORK pool_min_work()
int64_t pool_min_work(void);

/** Sets the number of threads (>= 1, including the caller); starts workers lazily. */
void pool_set_threads(int n);
int pool_threads(void);

/**
 * Runs fn over [0, n) split in pool_threads() contiguous chunks when n * cost >= POOL_MIN_WORK
 * and n >= 2, else fn(ctx, 0, n, 0) on the caller. Returns when every chunk is done.
 * Re-entrant calls (or calls from a second JS thread) run serially on the caller.
 */
void pool_for(pool_fn fn, void *ctx, int64_t n, int64_t cost);

/** Like pool_for with an explicit decision: parallel when `parallel` is non-zero. */
void pool_run(pool_fn fn, void *ctx, int64_t n, int parallel);

/** Like pool_run with `grain` chunks per thread instead of the pool's default (split
 * GEMMs, where each chunk packs the whole shared operand again). */
void pool_run_grain(pool_fn fn, void *ctx, int64_t n, int parallel, int grain);

/**
 * Deferred task: runs fn(copy of ctx, 0, 1, tid) later, on a worker between the caller's
 * jobs (or on the caller in pool_drain), so the caller goes on meanwhile. ctx is copied
 * (size <= 128 bytes); the memory the task reads or writes must stay valid and untouched
 * by others until pool_drain returns. Runs fn at once on the caller (and returns 0) when
 * the pool has one thread, the ring is full or NativeConfig.defer is off; else returns 1.
 * Only the thread that calls the pool's jobs may defer and drain.
 */
int pool_defer(pool_fn fn, const void *ctx, size_t size);

/** Whether tasks were deferred since the last pool_drain (done or not): the caller's
 * deterministic stand-in for "the worker is busy with deferred work". It depends on the
 * sequence of calls only, never on timing, so a decision taken on it (a GEMM split or run
 * whole, which can differ in the last bits) is the same in every run. */
int pool_has_deferred(void);

/** Runs or waits for every deferred task; on return all are done. */
void pool_drain(void);

#ifdef TRANSFORMER_TESTHOOKS
/** Tests: workers wait `us` microseconds before each deferred task. */
void pool_set_defer_delay_us(int64_t us);
#endif

#endif