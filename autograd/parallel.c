/* parallel.c — ag_set_num_threads, the worker pool behind agi_parallel_for, and per-thread
 * scratch buffers. See parallel_internal.h for the contract.
 *
 * The pool: workers are created on first need and sleep between regions. A region's tasks
 * are cut into one contiguous chunk per thread, and the threads claim chunks from a
 * counter: the caller right away, workers as they wake up and join. A worker that wakes
 * only after every chunk is claimed (its core was busy with another process, say) stays
 * out, so the caller never waits for a thread that has not started; it waits only for
 * workers that joined to finish their chunks. Waiting, on either side, spins for a short
 * while (regions come in quick succession inside one GEMM) and then blocks on a condition
 * variable, so idle workers do not burn CPU. Workers are stopped and joined at exit.
 */
#define _POSIX_C_SOURCE 200809L

#include "autograd.h"
#include "parallel_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/* How long a waiting thread spins before it blocks, in nanoseconds: long enough to bridge
 * the gap between two regions of one GEMM or two GEMMs of one training step, short enough
 * that an idle pool soon stops using CPU (waking a blocked thread costs tens to hundreds of
 * microseconds). */
#define SPIN_NS 200000

/* A spinning wait's state: polls so far and, after the first clock read, its deadline. */
typedef struct spin {
    unsigned polls;
    uint64_t deadline;
} spin;

/* The monotonic clock in nanoseconds. */
static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Pauses once; false when the wait has spun for SPIN_NS and should block instead. The
 * clock is read every 64 polls only. */
static bool spin_again(spin *s)
{
    cpu_relax();
    if (++s->polls % 64 != 0)
        return true;
    uint64_t t = now_ns();
    if (s->deadline == 0)
        s->deadline = t + SPIN_NS;
    return t < s->deadline;
}

/* ---------------------------------------------------------------------------------------
 * The thread count
 * ------------------------------------------------------------------------------------- */

static atomic_int g_num_threads = 1;

/* Sets how many threads large kernels may use, clamped to [1, AGI_MAX_THREADS]. Workers are
 * created lazily by the next region that needs them, not here. */
void ag_set_num_threads(int n)
{
    if (n < 1)
        n = 1;
    if (n > AGI_MAX_THREADS)
        n = AGI_MAX_THREADS;
    atomic_store(&g_num_threads, n);
}

/* The count set by ag_set_num_threads (1 until it is called). */
int ag_get_num_threads(void)
{
    return atomic_load(&g_num_threads);
}

/* ---------------------------------------------------------------------------------------
 * The pool
 * ------------------------------------------------------------------------------------- */

/* The region's `members` word: OPEN while chunks may still be claimed, plus the number of
 * workers inside the region. */
#define OPEN 0x80000000u
#define INSIDE_MASK 0x7FFFFFFFu

typedef struct pool {
    pthread_mutex_t region; /* held by the caller for the whole of a region */
    pthread_mutex_t mu;     /* pairs with the two condition variables */
    pthread_cond_t wake;    /* workers block here between regions */
    pthread_cond_t done;    /* the caller blocks here for the workers inside */
    pthread_t thread[AGI_MAX_THREADS];
    int n_workers;          /* workers started, in thread[0 .. n_workers) */
    /* The current region, written under `region` while no worker is inside. */
    agi_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    int64_t n_chunks;
    agi_claims chunks;             /* the region's chunks, one per range (agi_claims) */
    atomic_uint members;           /* OPEN | workers inside */
    atomic_uint_fast64_t generation; /* bumped to wake the workers for a region */
    atomic_bool stop;
} pool;

static pool g_pool = {
    .region = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

/* True on workers, and on a caller while it runs its chunks: a region opened there runs
 * serially instead of waiting for the pool it is already part of. */
static _Thread_local bool tls_in_region;

/* This thread's place in the pool: 0 for a caller, 1 .. n for the workers. A thread claims
 * the chunk of its own index first, so that chunk c of every region runs on the same thread
 * whenever that thread is there to take it (a late worker's chunk is still run by whoever
 * is free): the data chunk c writes in one region stays in the caches where chunk c of the
 * next region reads it. That matters on the machine this was measured on, whose two vCPUs
 * are far apart (a cache line takes ~250 ns to travel between them, docs/performance.md):
 * claimed in arrival order, chunks switched threads from region to region. */
static _Thread_local int tls_index;
static atomic_int g_worker_seq; /* indices handed out to workers so far */

/* Claims and runs chunks of the current region, its own first, until none is left: the
 * chunks are the units of an agi_claims with one unit per range, claimed as if this thread
 * ran chunk tls_index. Chunk c is tasks [n*c/T, n*(c+1)/T) of T chunks and runs as tid c, so
 * that a chunk's partition and its tid never depend on which thread happens to claim it. */
static void run_chunks(void)
{
    int64_t n = g_pool.n_tasks, t = g_pool.n_chunks;
    int cursor = 0;
    for (int64_t c; (c = agi_claims_next(&g_pool.chunks, tls_index, &cursor)) >= 0;)
        g_pool.fn(g_pool.ctx, n * c / t, n * (c + 1) / t, (int)c);
}

/* Enters the open region as a worker; false if it is closed (every chunk was claimed and
 * the caller may already be setting up the next region). */
static bool join_region(void)
{
    unsigned m = atomic_load(&g_pool.members);
    while (m & OPEN)
        if (atomic_compare_exchange_weak(&g_pool.members, &m, m + 1))
            return true;
    return false;
}

/* Leaves the region; the last worker out of a closed region wakes the caller. */
static void leave_region(void)
{
    if (atomic_fetch_sub(&g_pool.members, 1) == 1) { /* closed, and this was the last */
        pthread_mutex_lock(&g_pool.mu);
        pthread_cond_signal(&g_pool.done);
        pthread_mutex_unlock(&g_pool.mu);
    }
}

/* Waits, spinning first and then blocking, until the generation differs from `seen`, and
 * returns the new value. */
static uint_fast64_t wait_for_region(uint_fast64_t seen)
{
    uint_fast64_t g;
    for (spin s = { 0, 0 }; spin_again(&s);)
        if ((g = atomic_load(&g_pool.generation)) != seen)
            return g;
    pthread_mutex_lock(&g_pool.mu);
    while ((g = atomic_load(&g_pool.generation)) == seen)
        pthread_cond_wait(&g_pool.wake, &g_pool.mu);
    pthread_mutex_unlock(&g_pool.mu);
    return g;
}

/* A worker's life: wait for a region, join it if it is still open and claim chunks;
 * until the stop request. The argument is the generation already seen at creation. */
static void *worker_main(void *arg)
{
    uint_fast64_t seen = (uint_fast64_t)(uintptr_t)arg;
    tls_in_region = true;
    tls_index = 1 + atomic_fetch_add(&g_worker_seq, 1);
    for (;;) {
        seen = wait_for_region(seen);
        if (atomic_load(&g_pool.stop))
            return NULL;
        if (join_region()) {
            run_chunks();
            leave_region();
        }
    }
}

/* Bumps the generation under the mutex, so that a worker about to block cannot miss it, and
 * wakes the blocked workers. */
static void wake_workers(void)
{
    pthread_mutex_lock(&g_pool.mu);
    atomic_fetch_add(&g_pool.generation, 1);
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.mu);
}

/* Closes the region to latecomers and waits, spinning first and then blocking, until the
 * workers inside have left. */
static void close_region(void)
{
    if ((atomic_fetch_and(&g_pool.members, ~OPEN) & INSIDE_MASK) == 0)
        return;
    for (spin s = { 0, 0 }; spin_again(&s);)
        if (atomic_load(&g_pool.members) == 0)
            return;
    pthread_mutex_lock(&g_pool.mu);
    while (atomic_load(&g_pool.members) != 0)
        pthread_cond_wait(&g_pool.done, &g_pool.mu);
    pthread_mutex_unlock(&g_pool.mu);
}

/* Stops and joins every worker; registered with atexit so that no thread outlives the
 * process's cleanup. Does nothing when exit() is called from inside a region. */
static void pool_shutdown(void)
{
    if (tls_in_region)
        return;
    pthread_mutex_lock(&g_pool.region);
    atomic_store(&g_pool.stop, true);
    wake_workers();
    for (int t = 0; t < g_pool.n_workers; t++)
        pthread_join(g_pool.thread[t], NULL);
    g_pool.n_workers = 0;
    pthread_mutex_unlock(&g_pool.region);
}

/* In the child of a fork only the forking thread exists: forget the workers (a region
 * starts new ones) and reset the locks, which another thread may have held. */
static void pool_after_fork(void)
{
    g_pool.n_workers = 0;
    atomic_store(&g_worker_seq, 0);
    atomic_store(&g_pool.members, 0);
    pthread_mutex_init(&g_pool.region, NULL);
    pthread_mutex_init(&g_pool.mu, NULL);
    pthread_cond_init(&g_pool.wake, NULL);
    pthread_cond_init(&g_pool.done, NULL);
}

static pthread_once_t g_hooks_once = PTHREAD_ONCE_INIT;
static bool g_hooks_ok;

/* Registers the exit and fork handlers, once per process. */
static void register_hooks(void)
{
    g_hooks_ok = atexit(pool_shutdown) == 0 && pthread_atfork(NULL, NULL, pool_after_fork) == 0;
}

/* Makes sure `want` workers exist (called with `region` held); returns false if there are
 * none to help: the hooks could not be registered, exit() has begun, or the system
 * refused every thread. Fewer workers than wanted only means fewer helpers. */
static bool ensure_workers(int want)
{
    pthread_once(&g_hooks_once, register_hooks);
    if (!g_hooks_ok || atomic_load(&g_pool.stop))
        return false;
    void *seen = (void *)(uintptr_t)atomic_load(&g_pool.generation);
    while (g_pool.n_workers < want &&
           pthread_create(&g_pool.thread[g_pool.n_workers], NULL, worker_main, seen) == 0)
        g_pool.n_workers++;
    return g_pool.n_workers > 0;
}

/* Runs a region on at most n_threads threads; see parallel_internal.h. */
void agi_parallel_for_n(int n_threads, int64_t n_tasks, agi_task_fn fn, void *ctx)
{
    if (n_tasks <= 0)
        return;
    int64_t t = n_threads < 1 ? 1 : n_threads > AGI_MAX_THREADS ? AGI_MAX_THREADS : n_threads;
    if (t > n_tasks)
        t = n_tasks;
    if (t == 1 || tls_in_region) {
        fn(ctx, 0, n_tasks, 0);
        return;
    }
    pthread_mutex_lock(&g_pool.region);
    g_pool.fn = fn;
    g_pool.ctx = ctx;
    g_pool.n_tasks = n_tasks;
    g_pool.n_chunks = t;
    agi_claims_init(&g_pool.chunks, t, t);
    bool helped = ensure_workers((int)t - 1);
    if (helped) {
        atomic_store(&g_pool.members, OPEN);
        wake_workers();
    }
    tls_in_region = true;
    run_chunks();
    tls_in_region = false;
    if (helped)
        close_region();
    pthread_mutex_unlock(&g_pool.region);
}

/* Runs a region on ag_get_num_threads() threads. */
void agi_parallel_for(int64_t n_tasks, agi_task_fn fn, void *ctx)
{
    agi_parallel_for_n(ag_get_num_threads(), n_tasks, fn, ctx);
}

/* Splits [0, n) into t ranges (t clamped to [1, AGI_MAX_THREADS]), each claimed from its
 * start. */
void agi_claims_init(agi_claims *c, int64_t n, int64_t t)
{
    c->n = n;
    c->t = t < 1 ? 1 : t > AGI_MAX_THREADS ? AGI_MAX_THREADS : t;
    for (int64_t r = 0; r < c->t; r++)
        atomic_init(&c->next[r], n * r / c->t);
}

/* The next unit for the thread running chunk tid: from range tid while it lasts, then from
 * the ranges after it in turn; -1 when every range is used up. *cursor (0 at the first
 * call) remembers how far along the ranges the thread has got. */
int64_t agi_claims_next(agi_claims *c, int tid, int *cursor)
{
    for (; *cursor < c->t; (*cursor)++) {
        int64_t r = (tid + *cursor) % c->t, end = c->n * (r + 1) / c->t;
        int64_t u = atomic_fetch_add(&c->next[r], 1);
        if (u < end)
            return u;
    }
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * Per-thread scratch
 * ------------------------------------------------------------------------------------- */

typedef struct scratch {
    void *ptr[AGI_SCRATCH_SLOTS];
    size_t cap[AGI_SCRATCH_SLOTS];
} scratch;

static pthread_key_t g_scratch_key;
static bool g_scratch_key_ok;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;

/* Frees a thread's scratch set: the key's destructor, run when a thread exits. */
static void scratch_free(void *p)
{
    scratch *s = p;
    for (int i = 0; i < AGI_SCRATCH_SLOTS; i++)
        free(s->ptr[i]);
    free(s);
}

/* Frees the exiting thread's own scratch at exit(), where key destructors do not run. */
static void scratch_free_at_exit(void)
{
    scratch *s = pthread_getspecific(g_scratch_key);
    if (s) {
        pthread_setspecific(g_scratch_key, NULL);
        scratch_free(s);
    }
}

/* Creates the key and registers the exit hook, once per process. */
static void scratch_init(void)
{
    g_scratch_key_ok = pthread_key_create(&g_scratch_key, scratch_free) == 0 &&
                       atexit(scratch_free_at_exit) == 0;
}

/* The calling thread's buffer for `slot`, grown to at least `bytes`; see the header. */
void *agi_scratch(int slot, size_t bytes)
{
    pthread_once(&g_scratch_once, scratch_init);
    if (!g_scratch_key_ok || slot < 0 || slot >= AGI_SCRATCH_SLOTS)
        return NULL;
    scratch *s = pthread_getspecific(g_scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(g_scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->cap[slot] < bytes) {
        size_t size = (bytes + 4095) & ~(size_t)4095; /* whole pages: fewer regrowths */
        free(s->ptr[slot]);
        s->ptr[slot] = aligned_alloc(64, size);
        s->cap[slot] = s->ptr[slot] ? size : 0;
    }
    return s->ptr[slot];
}
