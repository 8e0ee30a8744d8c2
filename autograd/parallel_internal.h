/* parallel_internal.h — the library's thread pool and per-thread scratch memory.
 *
 * A parallel region splits [0, n_tasks) into T contiguous chunks, T the thread count; the
 * calling thread and persistent worker threads (created on first need, joined at exit)
 * claim the chunks, so a worker that is slow to wake costs nothing: the caller runs its
 * chunk too. Chunk t always covers the same tasks and is run as `tid` t, whichever thread
 * claims it, so a kernel that writes each task's output from that task alone is bitwise
 * reproducible, and per-thread buffers indexed by tid are never shared by two chunks at
 * once. Each thread takes the chunk of its own index first (the caller chunk 0, worker w
 * chunk w+1), so that chunk t of successive regions usually runs on the same core and finds
 * its data in that core's caches. One region runs at a time: a second user thread waits for
 * the first, and a region opened from inside a task runs serially on the thread that opened
 * it.
 */
#ifndef AGI_PARALLEL_INTERNAL_H
#define AGI_PARALLEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most threads a region can use; ag_set_num_threads clamps to [1, AGI_MAX_THREADS]. */
#define AGI_MAX_THREADS 64

/* A task body: runs tasks [task_begin, task_end), chunk `tid` of the region's T chunks
 * (0 <= tid < T). */
typedef void (*agi_task_fn)(void *ctx, int64_t task_begin, int64_t task_end, int tid);

/* Runs fn over [0, n_tasks) on ag_get_num_threads() threads and returns when every chunk is
 * done. With one thread, or n_tasks <= 1, it is a plain call fn(ctx, 0, n_tasks, 0). */
void agi_parallel_for(int64_t n_tasks, agi_task_fn fn, void *ctx);

/* The same on at most n_threads threads: T is n_threads clamped to [1, AGI_MAX_THREADS]
 * and to n_tasks, and chunk t is tasks [n_tasks*t/T, n_tasks*(t+1)/T). For callers that
 * size per-thread buffers before the region and so must fix the count once. */
void agi_parallel_for_n(int n_threads, int64_t n_tasks, agi_task_fn fn, void *ctx);

/* Units of work claimed with affinity, for regions whose units differ in cost: units
 * [0, n) are cut into t ranges like a region's chunks, and the thread running chunk c takes
 * range c's units in order, then helps with the other ranges. Unit u thus usually runs on
 * the thread whose chunk holds it, so that a unit's data stays near one core from one call
 * to the next, while a thread that falls behind is still helped. Which thread runs a unit
 * must not change its result. */
typedef struct agi_claims {
    int64_t n, t;
    _Atomic int64_t next[AGI_MAX_THREADS]; /* range r's next unclaimed unit */
} agi_claims;

/* Sets up units [0, n) in t ranges (t clamped to [1, AGI_MAX_THREADS]; use the region's
 * chunk count). */
void agi_claims_init(agi_claims *c, int64_t n, int64_t t);

/* The next unit for the thread running chunk tid, or -1 when none is left. *cursor starts
 * at 0 and belongs to the calling thread. */
int64_t agi_claims_next(agi_claims *c, int tid, int *cursor);

/* Per-thread scratch slots, one grow-only buffer per slot and thread. */
enum { AGI_SCRATCH_GEMM = 0, AGI_SCRATCH_SLOTS = 4 };

/* A 64-byte aligned buffer of at least `bytes` bytes owned by the calling thread's `slot`,
 * kept between calls (it only grows) so that steady-state kernels never allocate. Its
 * contents are not preserved when it grows. NULL if memory runs out. The buffer is freed
 * when the thread exits, or at process exit for the thread that calls exit(). */
void *agi_scratch(int slot, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
