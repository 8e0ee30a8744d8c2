/* peak.c — how close agi_sgemm gets to the machine's float32 peak.
 *
 * Prints (a) the single-core and all-thread FMA peak measured with independent chains of
 * vector FMAs, (b) agi_sgemm GFLOP/s for square sizes, for the three products of a
 * linear layer's training step at 1024^3 (C = A @ B, dA = G @ B^T, dB = A^T @ G) and for
 * the three of a 128-row batch through a 1024x1024 layer (x W^T, dy W, dy^T x) on 1 and 2
 * threads, each the median of 5 timed runs after a warm-up (1- and 2-thread runs
 * alternate), (c) each as a fraction of the peak, and (d) the same products through
 * OpenBLAS, loaded with dlopen if it is installed (OPENBLAS_CORETYPE is set to SkylakeX on
 * AVX-512 CPUs before loading, as PyTorch's OpenBLAS build would pick).
 *
 * Usage: peak [--quick] [--no-openblas]
 *   --quick        tiny sizes and one run each: a smoke test for sanitizers and valgrind
 *   --no-openblas  skip the OpenBLAS comparison
 */
#define _POSIX_C_SOURCE 200809L

#include "autograd.h"
#include "gemm_internal.h"
#include "parallel_internal.h"

#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define PEAK_X86 1
#include <immintrin.h>
#endif

#define RUNS 5

/* Seconds on the monotonic clock. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* qsort order for doubles. */
static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n values (sorts them). */
static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, compare_doubles);
    return x[n / 2];
}

/* ---------------------------------------------------------------------------------------
 * (a) the FMA peak
 * ------------------------------------------------------------------------------------- */

/* Number of independent FMA chains: covers a 4-cycle latency on two pipes twice over. */
#define CHAINS 16

#ifdef PEAK_X86
/* Defines `static double name(int64_t iters)`: the GFLOP/s of `iters` rounds of CHAINS
 * independent `width`-wide FMAs (2 flops per lane), on vectors of type vec with the
 * intrinsics whose names start with pfx (_mm512, _mm256), compiled for the target isa. The
 * chains are summed and one lane is kept in a volatile so that none can be optimised away. */
#define FMA_RATE(name, isa, vec, pfx, width)                                                \
    __attribute__((target(isa))) static double name(int64_t iters)                         \
    {                                                                                       \
        vec acc[CHAINS], m = pfx##_set1_ps(0.999999f), a = pfx##_set1_ps(1e-7f);           \
        _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++)                          \
            acc[i] = pfx##_set1_ps((float)i);                                               \
        double t = now();                                                                   \
        for (int64_t it = 0; it < iters; it++)                                              \
            _Pragma("GCC unroll 16") for (int i = 0; i < CHAINS; i++)                      \
                acc[i] = pfx##_fmadd_ps(acc[i], m, a);                                      \
        t = now() - t;                                                                      \
        vec s = acc[0];                                                                     \
        _Pragma("GCC unroll 16") for (int i = 1; i < CHAINS; i++)                          \
            s = pfx##_add_ps(s, acc[i]);                                                    \
        float lanes[width];                                                                 \
        pfx##_storeu_ps(lanes, s);                                                          \
        volatile float sink = lanes[0];                                                     \
        (void)sink;                                                                         \
        return (double)iters * CHAINS * (width) * 2 / t / 1e9;                              \
    }

FMA_RATE(fma_rate_avx512, "avx512f,fma", __m512, _mm512, 16) /* 16-wide AVX-512 */
FMA_RATE(fma_rate_avx2, "avx2,fma", __m256, _mm256, 8)       /* 8-wide AVX2 */
#endif

/* The FMA rate of the widest vectors the CPU has, 0 where there is no probe for it. */
static double fma_rate(int64_t iters)
{
#ifdef PEAK_X86
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
        return fma_rate_avx512(iters);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return fma_rate_avx2(iters);
#endif
    (void)iters;
    return 0;
}

/* Per-thread results of a probe run on every thread of the pool at once. */
typedef struct probe {
    int64_t iters;
    double rate[AGI_MAX_THREADS];
} probe;

/* Task body: one thread's FMA probe, recorded under its tid. */
static void probe_task(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)begin;
    (void)end;
    probe *p = ctx;
    p->rate[tid] = fma_rate(p->iters);
}

/* The best of RUNS probes on n_threads threads at once, in GFLOP/s summed over threads:
 * interference from elsewhere only ever lowers a run, so the best is the estimate. */
static double fma_peak(int n_threads, int64_t iters)
{
    double best = 0;
    for (int r = 0; r < RUNS; r++) {
        probe p = { .iters = iters };
        agi_parallel_for_n(n_threads, n_threads, probe_task, &p);
        double sum = 0;
        for (int t = 0; t < n_threads; t++)
            sum += p.rate[t];
        if (sum > best)
            best = sum;
    }
    return best;
}

/* ---------------------------------------------------------------------------------------
 * (b) GEMM rates
 * ------------------------------------------------------------------------------------- */

/* One product to time: C(M, N) = op(A) @ op(B) with op(A) (M, K), op(B) (K, N). */
typedef struct product {
    const char *name;
    bool ta, tb;
    int64_t M, N, K;
} product;

/* cblas_sgemm, for the OpenBLAS comparison (row-major = 101, no-trans = 111, trans = 112). */
typedef void (*cblas_sgemm_fn)(int order, int ta, int tb, int M, int N, int K, float alpha,
                               const float *A, int lda, const float *B, int ldb, float beta,
                               float *C, int ldc);

/* The library under test: agi_sgemm, or OpenBLAS's cblas_sgemm if `blas` is set. */
typedef struct backend {
    const char *name;
    cblas_sgemm_fn blas;
    void (*set_threads)(int);
} backend;

/* Computes one product with a backend. Operands are tight: lda is op(A)'s stored width. */
static void multiply(const backend *be, const product *p, const float *A, const float *B,
                     float *C)
{
    int64_t lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N;
    if (be->blas)
        be->blas(101, p->ta ? 112 : 111, p->tb ? 112 : 111, (int)p->M, (int)p->N, (int)p->K,
                 1.0f, A, (int)lda, B, (int)ldb, 0.0f, C, (int)p->N);
    else
        agi_sgemm(p->ta, p->tb, p->M, p->N, p->K, 1.0f, A, lda, B, ldb, 0.0f, C, p->N);
}

/* Buffers big enough for every product, filled with values in [-1, 1). */
typedef struct buffers {
    float *A, *B, *C;
} buffers;

/* n floats in [-1, 1) (caller frees); exits on out-of-memory. */
static float *random_floats(int64_t n)
{
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) {
        fprintf(stderr, "peak: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)rand() / (float)RAND_MAX * 2.0f - 1.0f;
    return x;
}

/* Sets both libraries' thread counts. */
static void set_threads(const backend *be, int n)
{
    if (be->set_threads)
        be->set_threads(n);
    ag_set_num_threads(n);
}

/* The median times of `runs` runs of a product on 1 and on 2 threads (secs[1], secs[2]),
 * after a warm-up run of each. The two counts alternate run by run, so that a slow spell
 * of the machine (another process on a core) hits both alike. */
static void time_product(const backend *be, const product *p, const buffers *b, int runs,
                         double secs[3])
{
    double t[3][RUNS];
    for (int n = 1; n <= 2; n++) {
        set_threads(be, n);
        multiply(be, p, b->A, b->B, b->C);
    }
    for (int r = 0; r < runs; r++)
        for (int n = 1; n <= 2; n++) {
            set_threads(be, n);
            double t0 = now();
            multiply(be, p, b->A, b->B, b->C);
            t[n][r] = now() - t0;
        }
    secs[1] = median(t[1], runs);
    secs[2] = median(t[2], runs);
}

/* Times every product on 1 and 2 threads and prints GFLOP/s and the fraction of the peak
 * (peak[t] is the t-thread FMA peak). Returns the summed median time of the products
 * flagged as the training step on one thread, in seconds. */
static double report(const backend *be, const product *ps, int n, const bool *in_step,
                     const buffers *b, const double *peak, int runs)
{
    double step_time = 0;
    printf("\n%s (median of %d runs)\n", be->name, runs);
    printf("  %-22s %6s %6s %6s  %9s %8s  %9s %8s  %7s\n", "product", "M", "N", "K",
           "1T GF/s", "1T peak", "2T GF/s", "2T peak", "2T/1T");
    for (int i = 0; i < n; i++) {
        const product *p = &ps[i];
        double flops = 2.0 * (double)p->M * (double)p->N * (double)p->K, secs[3];
        time_product(be, p, b, runs, secs);
        if (in_step[i])
            step_time += secs[1];
        printf("  %-22s %6ld %6ld %6ld  %9.1f %7.0f%%  %9.1f %7.0f%%  %6.2fx\n", p->name,
               (long)p->M, (long)p->N, (long)p->K, flops / secs[1] / 1e9,
               100 * flops / secs[1] / 1e9 / peak[1], flops / secs[2] / 1e9,
               100 * flops / secs[2] / 1e9 / peak[2], secs[1] / secs[2]);
    }
    return step_time;
}

/* ---------------------------------------------------------------------------------------
 * (d) OpenBLAS
 * ------------------------------------------------------------------------------------- */

/* Loads OpenBLAS (SkylakeX kernels on AVX-512 CPUs), or returns false. The handle stays
 * open for the life of the process. */
static bool load_openblas(backend *be)
{
#ifdef PEAK_X86
    if (__builtin_cpu_supports("avx512f"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
#endif
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return false;
    *(void **)&be->blas = dlsym(h, "cblas_sgemm");
    *(void **)&be->set_threads = dlsym(h, "openblas_set_num_threads");
    char *(*corename)(void);
    *(void **)&corename = dlsym(h, "openblas_get_corename");
    if (!be->blas || !be->set_threads)
        return false;
    static char name[96];
    snprintf(name, sizeof name, "OpenBLAS cblas_sgemm, core %s", corename ? corename() : "?");
    be->name = name;
    return true;
}

/* The largest |x - y| / max(1, |y|) over n values: does OpenBLAS agree with agi_sgemm? */
static double max_rel_diff(const float *x, const float *y, int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - y[i]) / fmax(1.0, fabs((double)y[i]));
        if (d > worst)
            worst = d;
    }
    return worst;
}

/* ---------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------- */

/* Prints the 1-minute load average (Linux), so that a run on a busy machine shows as one. */
static void print_load(const char *when)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double load;
    if (f && fscanf(f, "%lf", &load) == 1)
        printf("load average %s: %.2f\n", when, load);
    if (f)
        fclose(f);
}

/* Parses the flags, then measures and prints (a) to (d); see the top of the file. */
int main(int argc, char **argv)
{
    bool quick = false, openblas = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--no-openblas") == 0)
            openblas = false;
        else {
            fprintf(stderr, "usage: %s [--quick] [--no-openblas]\n", argv[0]);
            return 2;
        }
    }
    int64_t n = quick ? 96 : 1024, iters = quick ? 1000 : 40000000;
    int runs = quick ? 1 : RUNS;
    product ps[] = {
        { "square", false, false, quick ? 32 : 256, quick ? 32 : 256, quick ? 32 : 256 },
        { "square", false, false, quick ? 64 : 512, quick ? 64 : 512, quick ? 64 : 512 },
        { "square", false, false, n, n, n },
        { "square", false, false, quick ? 128 : 2048, quick ? 128 : 2048, quick ? 128 : 2048 },
        { "C = A @ B", false, false, n, n, n },
        { "dA = G @ B^T", false, true, n, n, n },
        { "dB = A^T @ G", true, false, n, n, n },
        /* a 128-row batch through a 1024x1024 layer (short M: docs/gemm.md, by_panel) */
        { "batch x @ W^T", false, true, quick ? 16 : 128, n, n },
        { "batch dy @ W", false, false, quick ? 16 : 128, n, n },
        { "batch dW = dy^T @ x", true, false, n, n, quick ? 16 : 128 },
    };
    bool in_step[] = { false, false, false, false, true, true, true, false, false, false };
    int n_products = (int)(sizeof ps / sizeof *ps);
    int64_t most = quick ? 128 * 128 : 2048 * 2048;
    buffers b = { random_floats(most), random_floats(most), random_floats(most) };

    print_load("before");
    double peak[3] = { 0, fma_peak(1, iters), fma_peak(2, iters) };
    printf("float32 FMA peak (best of %d): 1 thread %.1f GFLOP/s, 2 threads %.1f GFLOP/s\n",
           RUNS, peak[1], peak[2]);
    printf("agi_sgemm kernels: %s\n", agi_gemm_isa_name(AGI_GEMM_AUTO));
    if (peak[2] < 1.8 * peak[1])
        printf("warning: the 2-thread peak is below 1.8x the 1-thread one; another process is "
               "using a core, so the numbers below are not trustworthy\n");
    if (peak[1] == 0)
        peak[1] = peak[2] = NAN; /* no probe for this CPU: fractions print as nan */

    backend own = { "agi_sgemm", NULL, NULL };
    double step = report(&own, ps, n_products, in_step, &b, peak, runs);
    printf("  training step (the three %ld^3 products) on 1 thread: %.1f ms\n", (long)n,
           1e3 * step);

    backend blas = { 0 };
    if (openblas && load_openblas(&blas)) {
        product *p = &ps[2];
        float *mine = malloc((size_t)(p->M * p->N) * sizeof *mine);
        if (mine) {
            multiply(&own, p, b.A, b.B, mine);
            multiply(&blas, p, b.A, b.B, b.C);
            printf("\nOpenBLAS vs agi_sgemm at %ld^3: max relative difference %.2g\n",
                   (long)n, max_rel_diff(b.C, mine, p->M * p->N));
            free(mine);
        }
        double blas_step = report(&blas, ps, n_products, in_step, &b, peak, runs);
        printf("  training step (the three %ld^3 products) on 1 thread: %.1f ms "
               "(agi_sgemm / OpenBLAS time: %.2f)\n",
               (long)n, 1e3 * blas_step, step / blas_step);
    } else if (openblas) {
        printf("\nOpenBLAS: libopenblas.so.0 not loaded, no comparison\n");
    }
    print_load("after");
    free(b.A);
    free(b.B);
    free(b.C);
    return 0;
}
