/* test_gemm.c — agi_sgemm and agi_dgemm against a naive double-accumulation reference, and
 * the thread pool behind them (agi_parallel_for, agi_scratch, ag_set_num_threads).
 *
 * Every GEMM case is checked for all four (ta, tb) combinations, tight and padded leading
 * dimensions, several alpha/beta pairs (beta == 0 over a NaN-filled C), one and two
 * threads, and every kernel set the CPU supports. Padding in A and B holds NaN, so reading
 * it would show; padding in C holds a sentinel that must survive.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>

#include "autograd.h"
#include "gemm_internal.h"
#include "parallel_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * GEMM cases
 * ------------------------------------------------------------------------------------- */

typedef struct shape {
    int64_t M, N, K;
} shape;

/* Odd sizes, degenerate ones, K spanning several K blocks (for the wide and both narrow
 * AVX-512 tiles), a short M with a long N (the threads split N), and N spanning two N
 * blocks. Most are short enough for the by_panel schedule; 300x200x500 (float) and
 * 600x70x300 (both precisions) take the blocked one, and the shapes too narrow to share
 * among two threads by panel compare the two schedules bitwise (1 thread against 2). */
static const shape SHAPES[] = {
    { 1, 1, 1 },       { 3, 5, 7 },       { 17, 33, 65 },  { 100, 1, 100 },
    { 1, 100, 1 },     { 129, 257, 31 },  { 300, 200, 500 }, { 50, 20, 700 },
    { 30, 9, 600 },    { 70, 90, 1100 },  { 4, 2000, 600 }, { 7, 4200, 40 },
    { 600, 70, 300 },
};

typedef struct scalars {
    double alpha, beta;
} scalars;

/* beta == 0 (C write-only), general values, accumulate, and alpha == 0 (only C scaled). */
static const scalars SCALARS[] = { { 1, 0 }, { -1.5, 0.75 }, { 1, 1 }, { 0, 0.5 } };

#define C_SENTINEL 12345.0

/* The logical operands of one shape: op(A) (M, K), op(B) (K, N) and the initial C (M, N),
 * tight, as doubles whose values are exact in float too (multiples of 1/64 in [-1, 1]), so
 * that both precisions and every storage layout share one reference. */
typedef struct operands {
    shape s;
    double *a, *b, *c;
} operands;

static uint64_t g_rng = 0x9E3779B97F4A7C15u;

/* A deterministic value in [-1, 1] that is a multiple of 1/64. */
static double next_value(void)
{
    g_rng = g_rng * 6364136223846793005u + 1442695040888963407u;
    return (double)((int)(g_rng >> 33) % 129 - 64) / 64.0;
}

/* n values from next_value (caller frees). */
static double *random_values(int64_t n)
{
    double *x = malloc((size_t)n * sizeof *x);
    cr_assert_not_null(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = next_value();
    return x;
}

/* Random logical operands for a shape. */
static operands make_operands(shape s)
{
    return (operands){ s, random_values(s.M * s.K), random_values(s.K * s.N),
                       random_values(s.M * s.N) };
}

/* Frees what make_operands allocated. */
static void free_operands(operands *o)
{
    free(o->a);
    free(o->b);
    free(o->c);
}

/* The exact-ish answer, (M, N): alpha * op(A) @ op(B) + beta * C summed in double, and for
 * each element the magnitude that rounding errors scale with:
 * |alpha| * sum_k |a_ik b_kj| + |beta c_ij|. */
typedef struct reference {
    scalars sc;
    double *value, *mag;
} reference;

/* Computes the reference for a shape's operands and one alpha/beta pair. */
static reference make_reference(const operands *o, scalars sc)
{
    int64_t M = o->s.M, N = o->s.N, K = o->s.K;
    reference r = { sc, malloc((size_t)(M * N) * sizeof(double)),
                    malloc((size_t)(M * N) * sizeof(double)) };
    cr_assert(r.value && r.mag);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0, m = 0;
            for (int64_t k = 0; k < K; k++) {
                double x = o->a[i * K + k] * o->b[k * N + j];
                s += x;
                m += fabs(x);
            }
            double c = sc.beta == 0 ? 0 : sc.beta * o->c[i * N + j];
            r.value[i * N + j] = sc.alpha * s + c;
            r.mag[i * N + j] = fabs(sc.alpha) * m + fabs(c);
        }
    return r;
}

/* Frees what make_reference allocated. */
static void free_reference(reference *r)
{
    free(r->value);
    free(r->mag);
}

/* One multiply as agi_sgemm/agi_dgemm see it: the operands in their stored layouts. */
typedef struct problem {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    double alpha, beta;
    double *A;  /* (M, K) or, if ta, (K, M); padding is NaN */
    double *B;  /* (K, N) or, if tb, (N, K); padding is NaN */
    double *C0; /* (M, N) initial C: NaN everywhere if beta == 0; padding is C_SENTINEL */
    size_t a_len, b_len, c_len;
} problem;

/* Stores the (rows, cols) matrix x, or its transpose if `trans`, with row stride ld (at
 * least the stored width), filling the padding with `pad`. */
static double *store_matrix(const double *x, int64_t rows, int64_t cols, bool trans, int64_t ld,
                            double pad, size_t *len)
{
    int64_t srows = trans ? cols : rows, scols = trans ? rows : cols;
    *len = (size_t)(srows * ld);
    double *m = malloc(*len * sizeof *m);
    cr_assert_not_null(m);
    for (int64_t i = 0; i < srows; i++)
        for (int64_t j = 0; j < ld; j++)
            m[i * ld + j] = j >= scols ? pad : trans ? x[j * cols + i] : x[i * cols + j];
    return m;
}

/* Lays out a shape's operands for one case; `pad` extra columns in every leading dimension. */
static problem make_problem(const operands *o, bool ta, bool tb, int64_t pad, scalars sc)
{
    shape s = o->s;
    problem p = { .ta = ta, .tb = tb, .M = s.M, .N = s.N, .K = s.K,
                  .alpha = sc.alpha, .beta = sc.beta };
    p.lda = (ta ? s.M : s.K) + pad;
    p.ldb = (tb ? s.K : s.N) + pad;
    p.ldc = s.N + pad;
    p.A = store_matrix(o->a, s.M, s.K, ta, p.lda, NAN, &p.a_len);
    p.B = store_matrix(o->b, s.K, s.N, tb, p.ldb, NAN, &p.b_len);
    p.C0 = store_matrix(o->c, s.M, s.N, false, p.ldc, C_SENTINEL, &p.c_len);
    if (sc.beta == 0)
        for (int64_t i = 0; i < s.M; i++)
            for (int64_t j = 0; j < s.N; j++)
                p.C0[i * p.ldc + j] = NAN;
    return p;
}

/* Frees what make_problem allocated. */
static void free_problem(problem *p)
{
    free(p->A);
    free(p->B);
    free(p->C0);
}

/* A case to run: its layout and the reference it must match. */
typedef struct checked_case {
    problem p;
    const reference *ref;
} checked_case;

/* Fails the test unless got (row stride ldc, read through `at`) matches the reference within
 * rel * sqrt(K) * mag + a tiny absolute slack, is finite, and the C padding is untouched. */
static void check_result(const checked_case *c, double (*at)(const void *, size_t),
                         const void *got, double rel, const char *what)
{
    const problem *p = &c->p;
    double tol = rel * sqrt((double)(p->K > 0 ? p->K : 1));
    for (int64_t i = 0; i < p->M; i++)
        for (int64_t j = 0; j < p->ldc; j++) {
            double v = at(got, (size_t)(i * p->ldc + j));
            if (j >= p->N) {
                cr_assert(v == C_SENTINEL, "%s: C padding (%ld, %ld) overwritten with %g", what,
                          (long)i, (long)j, v);
                continue;
            }
            double want = c->ref->value[i * p->N + j];
            double bound = tol * c->ref->mag[i * p->N + j] + 1e-30;
            cr_assert(isfinite(v) && fabs(v - want) <= bound,
                      "%s: ta=%d tb=%d M=%ld N=%ld K=%ld lda=%ld alpha=%g beta=%g: C(%ld, %ld) "
                      "= %.9g, want %.9g (tolerance %.3g)",
                      what, p->ta, p->tb, (long)p->M, (long)p->N, (long)p->K, (long)p->lda,
                      p->alpha, p->beta, (long)i, (long)j, v, want, bound);
        }
}

/* Element i of a float or a double matrix, as a double: lets check_result serve both. */
static double at_f32(const void *m, size_t i)
{
    return ((const float *)m)[i];
}

/* at_f32 for doubles. */
static double at_f64(const void *m, size_t i)
{
    return ((const double *)m)[i];
}

/* A float copy of n doubles. */
static float *to_f32(const double *x, size_t n)
{
    float *y = malloc(n * sizeof *y);
    cr_assert_not_null(y);
    for (size_t i = 0; i < n; i++)
        y[i] = (float)x[i];
    return y;
}

/* Runs agi_sgemm on a case with n_threads threads and returns the resulting C (caller
 * frees). */
static void *run_sgemm(const checked_case *c, int n_threads)
{
    const problem *p = &c->p;
    float *A = to_f32(p->A, p->a_len), *B = to_f32(p->B, p->b_len), *C = to_f32(p->C0, p->c_len);
    ag_set_num_threads(n_threads);
    agi_sgemm(p->ta, p->tb, p->M, p->N, p->K, (float)p->alpha, A, p->lda, B, p->ldb,
              (float)p->beta, C, p->ldc);
    free(A);
    free(B);
    return C;
}

/* Runs agi_dgemm on a case with n_threads threads and returns the resulting C. */
static void *run_dgemm(const checked_case *c, int n_threads)
{
    const problem *p = &c->p;
    double *C = malloc(p->c_len * sizeof *C);
    cr_assert_not_null(C);
    memcpy(C, p->C0, p->c_len * sizeof *C);
    ag_set_num_threads(n_threads);
    agi_dgemm(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, C,
              p->ldc);
    return C;
}

/* A precision under test: its GEMM (run), how to read an element of its C (at), the size of
 * one, and the relative tolerance of check_result. */
typedef struct precision {
    void *(*run)(const checked_case *c, int n_threads);
    double (*at)(const void *m, size_t i);
    size_t elem_size;
    double rel;
} precision;

static const precision F32 = { run_sgemm, at_f32, sizeof(float), 1e-5 };
static const precision F64 = { run_dgemm, at_f64, sizeof(double), 1e-13 };

/* Checks one case in precision pr: against the reference with one and two threads, two
 * two-thread runs bitwise equal to each other and to the one-thread run, and a run on six
 * threads (more than PRIVATE_B_THREADS: the blocked schedule's shared B block) too. */
static void check_case(const precision *pr, const checked_case *c, const char *what)
{
    size_t bytes = c->p.c_len * pr->elem_size;
    void *one = pr->run(c, 1), *two = pr->run(c, 2), *again = pr->run(c, 2);
    void *six = pr->run(c, 6);
    check_result(c, pr->at, one, pr->rel, what);
    check_result(c, pr->at, two, pr->rel, what);
    cr_assert(memcmp(two, again, bytes) == 0, "%s: two runs with 2 threads differ", what);
    cr_assert(memcmp(one, two, bytes) == 0, "%s: 1 and 2 threads differ", what);
    cr_assert(memcmp(one, six, bytes) == 0, "%s: 1 and 6 threads differ", what);
    free(one);
    free(two);
    free(again);
    free(six);
}

/* Runs check_case in precision pr over every shape, scalar pair, transposition and padding. */
static void for_all_cases(const precision *pr, const char *what)
{
    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
        operands o = make_operands(SHAPES[s]);
        for (size_t k = 0; k < sizeof SCALARS / sizeof *SCALARS; k++) {
            reference ref = make_reference(&o, SCALARS[k]);
            for (int t = 0; t < 4; t++)
                for (int64_t pad = 0; pad <= 3; pad += 3) {
                    checked_case c = { make_problem(&o, t & 1, t >> 1, pad, SCALARS[k]), &ref };
                    check_case(pr, &c, what);
                    free_problem(&c.p);
                }
            free_reference(&ref);
        }
        free_operands(&o);
    }
}

/* Runs every case of precision pr (F32: agi_sgemm, F64: agi_dgemm) on one kernel set, or
 * skips if the CPU lacks it. */
static void test_isa(agi_gemm_isa isa, const precision *pr)
{
    if (agi_gemm_set_isa(isa) != isa)
        cr_skip_test("the CPU has no %s", agi_gemm_isa_name(isa));
    for_all_cases(pr, agi_gemm_isa_name(isa));
}

/* One test per kernel set: on this machine all three run, so the AVX2 and portable paths
 * are tested even where AVX-512 would be chosen. */
Test(sgemm, portable_kernels) { test_isa(AGI_GEMM_PORTABLE, &F32); }
Test(sgemm, avx2_kernels) { test_isa(AGI_GEMM_AVX2, &F32); }
Test(sgemm, avx512_kernels) { test_isa(AGI_GEMM_AVX512, &F32); }

/* Every case in double precision, with a double's tolerance, on both double kernels. */
Test(dgemm, portable_kernel) { test_isa(AGI_GEMM_PORTABLE, &F64); }
Test(dgemm, avx512_kernel) { test_isa(AGI_GEMM_AVX512, &F64); }

/* Degenerate sizes: M or N zero touches nothing; K zero (or alpha zero) only scales C and
 * never reads A or B (here pointers to NaN). */
Test(sgemm, empty_and_zero_k)
{
    float c[6] = { 1, 2, 3, 4, 5, 6 }, nan = NAN;
    agi_sgemm(false, false, 0, 3, 4, 1, &nan, 4, &nan, 3, 0, c, 3); /* M == 0: nothing */
    agi_sgemm(false, false, 2, 0, 4, 1, &nan, 4, &nan, 3, 0, c, 3); /* N == 0: nothing */
    cr_assert_eq(c[0], 1);
    agi_sgemm(false, false, 2, 3, 0, 1, &nan, 1, &nan, 3, 2, c, 3); /* K == 0: C = beta*C */
    cr_assert(c[0] == 2 && c[5] == 12);
    agi_sgemm(true, true, 2, 3, 0, 1, &nan, 2, &nan, 1, 0, c, 3); /* beta == 0: zeros */
    for (int i = 0; i < 6; i++)
        cr_assert_eq(c[i], 0);
}

/* A size the benchmarks use, checked on a grid of elements so that it stays quick. */
Test(sgemm, large_square_matches_reference_rows)
{
    enum { n = 1024 };
    float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n);
    float *C = malloc(sizeof(float) * n * n);
    cr_assert(A && B && C);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        A[i] = (float)next_value();
        B[i] = (float)next_value();
    }
    ag_set_num_threads(2);
    agi_sgemm(false, true, n, n, n, 1, A, n, B, n, 0, C, n);
    for (int i = 0; i < n; i += 127)
        for (int j = 0; j < n; j += 31) {
            double s = 0, m = 0;
            for (int k = 0; k < n; k++) {
                s += (double)A[i * n + k] * B[j * n + k];
                m += fabs((double)A[i * n + k] * B[j * n + k]);
            }
            cr_assert(fabs(C[i * n + j] - s) <= 1e-5 * sqrt(n) * m, "C(%d, %d) = %g, want %g",
                      i, j, C[i * n + j], s);
        }
    free(A);
    free(B);
    free(C);
}

/* ---------------------------------------------------------------------------------------
 * The thread pool
 * ------------------------------------------------------------------------------------- */

/* The default is one thread; counts are clamped to [1, AGI_MAX_THREADS]. */
Test(threads, count_is_clamped)
{
    cr_assert_eq(ag_get_num_threads(), 1, "the default is one thread");
    ag_set_num_threads(0);
    cr_assert_eq(ag_get_num_threads(), 1);
    ag_set_num_threads(-7);
    cr_assert_eq(ag_get_num_threads(), 1);
    ag_set_num_threads(1000);
    cr_assert_eq(ag_get_num_threads(), AGI_MAX_THREADS);
    ag_set_num_threads(2);
    cr_assert_eq(ag_get_num_threads(), 2);
}

#define MAX_TASKS 1000

/* What a partition test records: which thread ran each task, and how often. */
typedef struct partition_log {
    int tid[MAX_TASKS];
    atomic_int runs[MAX_TASKS];
} partition_log;

/* Task body that records, in a partition_log, which chunk ran each task. */
static void record_tasks(void *ctx, int64_t begin, int64_t end, int tid)
{
    partition_log *log = ctx;
    for (int64_t t = begin; t < end; t++) {
        log->tid[t] = tid;
        atomic_fetch_add(&log->runs[t], 1);
    }
}

/* Every task runs once, in chunk t = [n*t/T, n*(t+1)/T) with tid t, for thread counts
 * below, at and above the number of cores. */
Test(threads, split_is_contiguous_and_deterministic)
{
    static const int64_t counts[] = { 1, 2, 3, 7, 64, MAX_TASKS };
    static const int threads[] = { 1, 2, 3, 5 };
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++)
        for (size_t h = 0; h < sizeof threads / sizeof *threads; h++) {
            int64_t n = counts[c], t = threads[h] < n ? threads[h] : n;
            static partition_log log;
            memset(&log, 0, sizeof log);
            ag_set_num_threads(threads[h]);
            agi_parallel_for(n, record_tasks, &log);
            for (int64_t i = 0; i < n; i++) {
                cr_assert_eq(atomic_load(&log.runs[i]), 1, "task %ld of %ld ran %d times",
                             (long)i, (long)n, atomic_load(&log.runs[i]));
                int tid = log.tid[i];
                cr_assert(tid >= 0 && tid < t && n * tid / t <= i && i < n * (tid + 1) / t,
                          "task %ld of %ld on %ld threads ran as thread %d", (long)i, (long)n,
                          (long)t, tid);
            }
        }
}

/* A region of no tasks does not call the body. */
Test(threads, zero_tasks_calls_nothing)
{
    static partition_log log;
    ag_set_num_threads(2);
    agi_parallel_for(0, record_tasks, &log);
    cr_assert_eq(atomic_load(&log.runs[0]), 0);
}

/* A task that opens a region of its own: that inner region must run serially, on the
 * thread that opened it, without waiting for the pool it is part of. */
static void nested_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    atomic_int *inner_runs = ctx;
    for (int64_t t = begin; t < end; t++) {
        static partition_log logs[4];
        agi_parallel_for(10, record_tasks, &logs[t]);
        for (int i = 0; i < 10; i++)
            cr_assert_eq(logs[t].tid[i], 0, "a nested region ran on another thread");
        atomic_fetch_add(inner_runs, 1);
    }
}

/* A region opened inside a task runs serially and does not deadlock. */
Test(threads, nested_region_runs_serially)
{
    atomic_int inner_runs = 0;
    ag_set_num_threads(2);
    agi_parallel_for(4, nested_task, &inner_runs);
    cr_assert_eq(atomic_load(&inner_runs), 4);
}

/* Task body that adds its task indices into an atomic sum. */
static void add_tasks(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    atomic_llong *sum = ctx;
    for (int64_t t = begin; t < end; t++)
        atomic_fetch_add(sum, t);
}

/* A user thread that opens many small regions. */
static void *many_regions(void *arg)
{
    atomic_llong *sum = arg;
    for (int i = 0; i < 2000; i++)
        agi_parallel_for(17, add_tasks, sum);
    return NULL;
}

/* Two user threads opening regions at once both get every task run exactly once. */
Test(threads, concurrent_callers)
{
    ag_set_num_threads(2);
    atomic_llong sums[2] = { 0, 0 };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, many_regions, &sums[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(atomic_load(&sums[i]), 2000LL * (16 * 17 / 2));
    }
}

/* Multiplies in a user thread, so that its scratch is freed by the thread-exit path. */
static void *gemm_in_thread(void *arg)
{
    float *C = arg;
    static float A[64 * 64], B[64 * 64];
    for (int i = 0; i < 64 * 64; i++)
        A[i] = B[i] = 1;
    agi_sgemm(false, false, 64, 64, 64, 1, A, 64, B, 64, 0, C, 64);
    return NULL;
}

/* Two user threads multiplying at once, each with its own scratch, both get the answer;
 * their scratch is freed as they exit (valgrind and LeakSanitizer would see it). */
Test(threads, gemm_from_two_user_threads)
{
    ag_set_num_threads(2);
    static float C[2][64 * 64];
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, gemm_in_thread, C[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        for (int e = 0; e < 64 * 64; e++)
            cr_assert_eq(C[i][e], 64.0f);
    }
}

/* A forked child, which has lost the parent's workers, can still open regions; so can the
 * parent. */
Test(threads, pool_survives_fork)
{
    atomic_llong sum = 0;
    ag_set_num_threads(2);
    agi_parallel_for(17, add_tasks, &sum); /* the pool now has a worker */
    pid_t child = fork();
    cr_assert_neq(child, -1);
    if (child == 0) {
        atomic_llong child_sum = 0;
        agi_parallel_for(17, add_tasks, &child_sum); /* must not wait for a lost worker */
        _exit(atomic_load(&child_sum) == 16 * 17 / 2 ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's region failed");
    agi_parallel_for(17, add_tasks, &sum);
    cr_assert_eq(atomic_load(&sum), 2 * (16 * 17 / 2));
}

/* Scratch buffers are 64-byte aligned, kept when a request fits, grown when it does not;
 * slots out of range give NULL. */
Test(threads, scratch_is_aligned_and_kept)
{
    char *a = agi_scratch(AGI_SCRATCH_GEMM, 100);
    cr_assert_not_null(a);
    cr_assert_eq((uintptr_t)a % 64, 0);
    memset(a, 1, 100);
    cr_assert_eq(agi_scratch(AGI_SCRATCH_GEMM, 50), a, "a smaller request keeps the buffer");
    char *b = agi_scratch(AGI_SCRATCH_GEMM, 1 << 20);
    cr_assert_not_null(b);
    cr_assert_eq((uintptr_t)b % 64, 0);
    memset(b, 2, 1 << 20);
    cr_assert_null(agi_scratch(AGI_SCRATCH_SLOTS, 8), "slots are bounded");
    cr_assert_null(agi_scratch(-1, 8));
}
