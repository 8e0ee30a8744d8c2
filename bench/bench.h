/* bench.h — what the benchmark's three files share: the workload interface, the leaf
 * bookkeeping every workload state starts with, the closed-form `fill` data of --check, and
 * small helpers (clock, medians, failing loudly).
 *
 * The workloads are a contract with the PyTorch peer (torch_bench.py and its README): same
 * names, sizes, iterations, timing protocol, metrics and fingerprints. bench.c drives them,
 * workloads.c defines them, ops_bench.c is the per-op table (--ops). Only the public API
 * (agrad.h) is used.
 */
#ifndef AG_BENCH_H
#define AG_BENCH_H

#include "agrad.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What every workload's state begins with, so that the driver can hash the leaves and the
 * workloads can trace losses the same way. */
typedef struct wl_base {
    ag_tensor **leaves; /* parameters / leaf inputs, in a fixed order (hashed by --check) */
    int n_leaves;
    double *trace;      /* --check: the loss of every iteration, else NULL */
    int n_trace;
} wl_base;

/* One workload. setup builds the data (det: closed-form fill() data, else our generator
 * seeded with 0) and returns a state that begins with a wl_base; prepare runs untimed before
 * every repeat; run(n) is the timed region; finish runs untimed after it; fingerprint writes
 * the peer's --check line; teardown frees everything. */
typedef struct workload {
    const char *name;
    const char *metric;   /* "ms_per_step", ... as the peer names it */
    int iters;            /* iterations per repeat */
    double unit;          /* seconds -> metric unit (1e3 for ms_...) */
    int ops_per_iter;     /* units per iteration: 1, or 3K for scalar-chain */
    void *(*setup)(bool det);
    void (*prepare)(void *st);
    void (*run)(void *st, int n);
    void (*finish)(void *st);
    void (*fingerprint)(void *st, char *buf, size_t size);
    void (*teardown)(void *st);
} workload;

/* The seven workloads, in the peer's order. */
extern const workload bench_workloads[];
extern const int bench_n_workloads;

/* The per-op table of `bench --ops` (quick: shorter timings); returns the exit status. */
int bench_ops(bool quick);

/* Seconds on the monotonic clock. */
double bench_now(void);

/* Median of n values (sorts v in place). */
double bench_median(double *v, int n);

/* Exits with the engine's pending error, naming `what`, if p is NULL or an error is pending. */
void bench_check(const void *p, const char *what);

/* ag_backward (grad_output NULL: a one-element out) or ag_backward_ex; exits on an error. */
void bench_backward(ag_tensor *out, const ag_tensor *grad_output);

/* malloc that exits on failure. */
void *bench_alloc(size_t size);

/* The peer's fill(): element i of the row-major closed-form data, in [-scale, scale). */
float bench_fill_value(uint64_t i, uint32_t seed, double scale);

/* A new heap tensor of shape s holding fill(s, seed, scale). */
ag_tensor *bench_fill(ag_shape s, uint32_t seed, double scale);

/* Sum of a tensor's values (or absolute values) in double, as the peer's fingerprints take. */
double bench_sum(const ag_tensor *t, bool absolute);

#endif
