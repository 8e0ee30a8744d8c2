/* parallel_map.c — elementwise kernels over large tensors, split across the thread pool.
 *
 * Elementwise results do not depend on how the range is split, so these are bitwise the same
 * for any thread count. Below PAR_MIN elements (or with one thread) the kernel runs as a
 * plain call: small tensors never pay for threads. */
#include "parallel_internal.h"
#include "unary_internal.h"

#define PAR_MIN ((int64_t)1 << 16) /* elements: below this a thread wake-up costs more */
#define PAR_GRAIN ((int64_t)1 << 14)

typedef struct map_job {
    int kind; /* 1: unary, 2: binary, 3: pair, 4: triple */
    agi_unary_kernel k1;
    agi_binary_kernel k2;
    agi_pair_kernel k3;
    agi_triple_kernel k4;
    ag_real *y;
    const ag_real *a, *b, *c;
    int64_t ia, ib, n;
    const void *attrs;
} map_job;

/* Runs the job's kernel over the elements of tasks [t0, t1). */
static void run_span(void *ctx, int64_t t0, int64_t t1, int tid)
{
    (void)tid;
    const map_job *j = ctx;
    int64_t i0 = t0 * PAR_GRAIN, i1 = t1 * PAR_GRAIN < j->n ? t1 * PAR_GRAIN : j->n;
    if (j->kind == 1)
        j->k1(j->y + i0, j->a + i0, i1 - i0, j->attrs);
    else if (j->kind == 2)
        j->k2(j->y + i0, j->a + i0 * j->ia, j->ia, j->b + i0 * j->ib, j->ib, i1 - i0);
    else if (j->kind == 3)
        j->k3(j->y + i0, j->a + i0, j->b + i0, (size_t)(i1 - i0));
    else
        j->k4(j->y + i0, j->a + i0, j->b + i0, j->c + i0, i1 - i0);
}

/* One thread or a small job: no pool. */
static bool serial(int64_t n) { return n < PAR_MIN || ag_get_num_threads() < 2; }

static void run(map_job *j)
{
    if (serial(j->n))
        run_span(j, 0, (j->n + PAR_GRAIN - 1) / PAR_GRAIN, 0);
    else
        agi_parallel_for((j->n + PAR_GRAIN - 1) / PAR_GRAIN, run_span, j);
}

/* Small maps go straight to the kernel: the job struct and the thread check cost more than
 * the work on the scalars and short vectors of a scalar graph. */
void agi_map1(agi_unary_kernel k, ag_real *y, const ag_real *x, int64_t n, const void *attrs)
{
    if (n < PAR_MIN) {
        k(y, x, n, attrs);
        return;
    }
    map_job j = { .kind = 1, .k1 = k, .y = y, .a = x, .n = n, .attrs = attrs };
    run(&j);
}

void agi_map2(agi_binary_kernel k, ag_real *y, const ag_real *a, int64_t ia, const ag_real *b,
              int64_t ib, int64_t n)
{
    if (n < PAR_MIN) {
        k(y, a, ia, b, ib, n);
        return;
    }
    map_job j = { .kind = 2, .k2 = k, .y = y, .a = a, .b = b, .ia = ia, .ib = ib, .n = n };
    run(&j);
}

void agi_map_pair(agi_pair_kernel k, ag_real *y, const ag_real *a, const ag_real *b, int64_t n)
{
    if (n < PAR_MIN) {
        k(y, a, b, (size_t)n);
        return;
    }
    map_job j = { .kind = 3, .k3 = k, .y = y, .a = a, .b = b, .n = n };
    run(&j);
}

void agi_map_triple(agi_triple_kernel k, ag_real *y, const ag_real *a, const ag_real *b,
                    const ag_real *c, int64_t n)
{
    map_job j = { .kind = 4, .k4 = k, .y = y, .a = a, .b = b, .c = c, .n = n };
    run(&j);
}

typedef struct span_job {
    agi_span_fn fn;
    void *ctx;
    int64_t n;
} span_job;

static void run_span_job(void *ctx, int64_t t0, int64_t t1, int tid)
{
    (void)tid;
    const span_job *j = ctx;
    j->fn(j->ctx, t0 * PAR_GRAIN, t1 * PAR_GRAIN < j->n ? t1 * PAR_GRAIN : j->n);
}

void agi_map_span(agi_span_fn fn, void *ctx, int64_t n)
{
    if (serial(n)) {
        fn(ctx, 0, n);
        return;
    }
    span_job j = { fn, ctx, n };
    agi_parallel_for((n + PAR_GRAIN - 1) / PAR_GRAIN, run_span_job, &j);
}
