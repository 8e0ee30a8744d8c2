/* parallel_internal.h — the library's thread pool and per-thread scratch memory.
 *
 * A parallel region splits [0, n_tasks) into T contiguous chunks, T the thread count; the
 * calling thread and persistent worker threads (created on first need, joined at exit)
 * claim the chunks, so a worker that is slow to wake costs nothing: the caller runs its
 * chunk too. Chunk t always covers the same tasks and is run as `tid` t, whichever thread
 * claims it, so a kernel that writes each task's output from that task alone is bitwise
 * reproducible, and per-thread buffers indexed by tid are never shared by two chunks at
 * once. One region runs at a time: a second user thread waits for the first, and a region
 * opened from inside a task runs serially on the thread that opened it.
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
