/* parallel.c — ag_set_num_threads, the worker pool behind agi_parallel_for, and per-thread
 * scratch buffers. See parallel_internal.h for the contract.
 *
 * The pool: workers are created on first need and sleep between regions. A region is
 * published by bumping a generation counter; a worker spins on it for a short while (regions
 * come in quick succession inside one GEMM) and then blocks on a condition variable, so idle
 * workers do not burn CPU. The caller runs chunk 0 itself and then waits, the same way, for a
 * count of pending chunks to reach zero. Workers are stopped and joined at exit.
 */
#define _POSIX_C_SOURCE 200809L

#include "autograd.h"
#include "parallel_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/* How many polls a waiting thread makes before it blocks (on the order of 50 us). */
#define SPIN_POLLS 20000

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

typedef struct pool {
    pthread_mutex_t region; /* held by the caller for the whole of a region */
    pthread_mutex_t mu;     /* pairs with the two condition variables */
    pthread_cond_t wake;    /* workers block here between regions */
    pthread_cond_t done;    /* the caller blocks here for the last chunk */
    pthread_t thread[AGI_MAX_THREADS]; /* thread[t] runs chunk t; thread[0] is unused */
    int n_workers;          /* workers started: they have ids 1..n_workers */
    bool exit_hook;         /* pool_shutdown is registered with atexit */
    /* The current region, written under `region` before it is published. */
    agi_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    /* Publishes a region: generation << 7 | its thread count. One word, so that a worker
     * late to see a region it had no part in never pairs that region's count with the
     * next region's generation (the next region's fields may already be written). */
    atomic_uint_fast64_t published;
    atomic_int pending;              /* worker chunks of the current region not yet done */
    atomic_bool stop;
} pool;

static pool g_pool = {
    .region = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

/* True on workers, and on a caller while it runs its chunk: a region opened there runs
 * serially instead of waiting for the pool it is already part of. */
static _Thread_local bool tls_in_region;

/* The published word each worker has already seen, set before the worker is created. */
static uint_fast64_t g_start_word[AGI_MAX_THREADS];

#define COUNT_BITS 7
#define COUNT_MASK ((1u << COUNT_BITS) - 1)

/* Runs thread tid's contiguous share, of n_threads, of the current region's tasks. */
static void run_chunk(int tid, int n_threads)
{
    int64_t n = g_pool.n_tasks, t = n_threads;
    int64_t begin = n * tid / t, end = n * (tid + 1) / t;
    if (begin < end)
        g_pool.fn(g_pool.ctx, begin, end, tid);
}

/* Waits, spinning first and then blocking, until the published word differs from `seen`,
 * and returns the new word. */
static uint_fast64_t wait_for_region(uint_fast64_t seen)
{
    uint_fast64_t w;
    for (int i = 0; i < SPIN_POLLS; i++) {
        w = atomic_load_explicit(&g_pool.published, memory_order_acquire);
        if (w != seen)
            return w;
        cpu_relax();
    }
    pthread_mutex_lock(&g_pool.mu);
    while ((w = atomic_load_explicit(&g_pool.published, memory_order_acquire)) == seen)
        pthread_cond_wait(&g_pool.wake, &g_pool.mu);
    pthread_mutex_unlock(&g_pool.mu);
    return w;
}

/* A worker's life: wait for a region, run its chunk if the region has one for it, report
 * completion; until the stop request. */
static void *worker_main(void *arg)
{
    int tid = (int)(intptr_t)arg;
    uint_fast64_t seen = g_start_word[tid];
    tls_in_region = true;
    for (;;) {
        seen = wait_for_region(seen);
        if (atomic_load(&g_pool.stop))
            return NULL;
        int n_threads = (int)(seen & COUNT_MASK);
        if (tid >= n_threads)
            continue;
        run_chunk(tid, n_threads);
        if (atomic_fetch_sub(&g_pool.pending, 1) == 1) {
            pthread_mutex_lock(&g_pool.mu);
            pthread_cond_signal(&g_pool.done);
            pthread_mutex_unlock(&g_pool.mu);
        }
    }
}

/* Publishes a region on n_threads threads (0 with the stop request) under the mutex, so
 * that a worker about to block cannot miss it, and wakes the blocked workers. */
static void publish(int n_threads)
{
    pthread_mutex_lock(&g_pool.mu);
    uint_fast64_t generation = (atomic_load(&g_pool.published) >> COUNT_BITS) + 1;
    atomic_store_explicit(&g_pool.published, generation << COUNT_BITS | (unsigned)n_threads,
                          memory_order_release);
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.mu);
}

/* Waits, spinning first and then blocking, until every worker chunk of the region is done. */
static void wait_for_workers(void)
{
    for (int i = 0; i < SPIN_POLLS; i++) {
        if (atomic_load_explicit(&g_pool.pending, memory_order_acquire) == 0)
            return;
        cpu_relax();
    }
    pthread_mutex_lock(&g_pool.mu);
    while (atomic_load_explicit(&g_pool.pending, memory_order_acquire) != 0)
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
    publish(0);
    for (int t = 1; t <= g_pool.n_workers; t++)
        pthread_join(g_pool.thread[t], NULL);
    g_pool.n_workers = 0;
    pthread_mutex_unlock(&g_pool.region);
}

/* Makes sure workers 1..want-1 exist (called with `region` held) and returns how many
 * threads, the caller included, a region can use: fewer than `want` only if the system
 * refused to create a thread. */
static int ensure_workers(int want)
{
    if (!g_pool.exit_hook)
        g_pool.exit_hook = atexit(pool_shutdown) == 0;
    if (!g_pool.exit_hook)
        return 1; /* without the hook the workers could not be joined: stay serial */
    while (g_pool.n_workers + 1 < want) {
        int tid = g_pool.n_workers + 1;
        g_start_word[tid] = atomic_load(&g_pool.published);
        if (pthread_create(&g_pool.thread[tid], NULL, worker_main, (void *)(intptr_t)tid) != 0)
            break;
        g_pool.n_workers = tid;
    }
    return g_pool.n_workers + 1 < want ? g_pool.n_workers + 1 : want;
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
    int used = ensure_workers((int)t);
    g_pool.fn = fn;
    g_pool.ctx = ctx;
    g_pool.n_tasks = n_tasks;
    atomic_store(&g_pool.pending, used - 1);
    if (used > 1)
        publish(used);
    tls_in_region = true;
    run_chunk(0, used);
    tls_in_region = false;
    wait_for_workers();
    pthread_mutex_unlock(&g_pool.region);
}

/* Runs a region on ag_get_num_threads() threads. */
void agi_parallel_for(int64_t n_tasks, agi_task_fn fn, void *ctx)
{
    agi_parallel_for_n(ag_get_num_threads(), n_tasks, fn, ctx);
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
