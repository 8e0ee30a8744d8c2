/* test_float.c — the float32 build: precision-sensitive paths (long sums, matmul through the
 * SIMD GEMM) agree with double references. */
#include <criterion/criterion.h>
#include <math.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
}
TestSuite(float32, .fini = teardown);

Test(float32, long_sums_stay_accurate)
{
    ag_tensor *x = ag_full(AG_SHAPE(1000000), 0.1f);
    double want = 1000000 * (double)0.1f;
    cr_assert(fabs(ag_item(ag_sum(x)) - want) < 1e-3 * 0 + want * 1e-7, "%.9g", ag_item(ag_sum(x)));
    cr_assert(fabs(ag_item(ag_mean(x)) - (double)0.1f) < 1e-8);
    ag_free(x);
}

/* The documented summation order (ops/reduce.c): pairwise halves down to leaves of at most
 * 2048 values; a leaf keeps 32 running sums (part[j] adds x[i+j]), adds them as a tree
 * (w = 16, 8, 4, 2, 1), then its tail in order. */
static double ref_leaf(const float *x, size_t n)
{
    double part[32] = { 0 };
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 32; j++)
            part[j] += x[i + j];
    for (int w = 16; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            part[j] += part[j + w];
    double s = part[0];
    for (; i < n; i++)
        s += x[i];
    return s;
}
static double ref_sum(const float *x, size_t n)
{
    return n <= 2048 ? ref_leaf(x, n) : ref_sum(x, n / 2) + ref_sum(x + n / 2, n - n / 2);
}

Test(float32, sum_follows_its_documented_order)
{
    /* Ones, with +2^60 and -2^60 at two places: a double absorbs the ones added to 2^60, so
     * how many survive depends on exactly where the pair meets. Lanes 3 and 19 meet at the
     * tree's first level (the ones of lanes 11 and 27 then survive); elements n/2 - 1 and
     * n/2 only at the first halving of a long sum. Whichever leaf the CPU runs (AVX-512 or
     * portable), the sum must be the documented one, bitwise. */
    size_t sizes[] = { 5, 31, 32, 33, 100, 2047, 2048, 2049, 4096 + 37, 100003 };
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++)
        for (int pattern = 0; pattern < 2; pattern++) {
            size_t n = sizes[c], at[2] = { 3, 19 };
            if (pattern)
                at[0] = n / 2 - 1, at[1] = n / 2;
            ag_tensor *t = ag_full(AG_SHAPE((int64_t)n), 1.0f);
            float *x = ag_data(t);
            if (at[1] < n)
                x[at[0]] = 0x1p60f, x[at[1]] = -0x1p60f;
            double want = ref_sum(x, n);
            cr_expect(ag_item(ag_sum(t)) == (float)want, "n=%zu, +-2^60 at %zu and %zu: sum %.9g, "
                      "documented order %.9g", n, at[0], at[1], ag_item(ag_sum(t)), want);
            ag_free(t);
            ag_step_end();
        }
}

Test(float32, sum_is_the_same_on_any_thread_count)
{
    /* Several threads sum subtrees of the same pairwise tree and add those sums up the tree:
     * bitwise the one-thread sum. The data is ones with +2^60 and -2^60 in different
     * sixteenths, so how many ones survive depends on where every piece meets the others. */
    size_t sizes[] = { 65535, 65536, 100003, ((size_t)1 << 20) + 7, (size_t)3 << 21 };
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        size_t n = sizes[c];
        ag_tensor *t = ag_full(AG_SHAPE((int64_t)n), 1.0f);
        float *x = ag_data(t);
        x[n / 16 + 5] = 0x1p60f, x[6 * n / 16 + 5] = -0x1p60f;
        double want = ref_sum(x, n);
        for (int threads = 1; threads <= 3; threads++) {
            ag_set_num_threads(threads);
            cr_expect(ag_item(ag_sum(t)) == (float)want, "n=%zu on %d threads: %.9g, want %.9g",
                      n, threads, ag_item(ag_sum(t)), want);
        }
        ag_set_num_threads(1);
        ag_free(t);
        ag_step_end();
    }
}

Test(float32, matmul_matches_double_reference)
{
    ag_manual_seed(3);
    int M = 67, K = 129, N = 45;
    ag_tensor *a = ag_randn(AG_SHAPE(M, K)), *b = ag_randn(AG_SHAPE(K, N));
    ag_tensor *c = ag_matmul(a, b);
    const float *A = ag_cdata(a), *B = ag_cdata(b), *C = ag_cdata(c);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++)
                s += (double)A[i * K + k] * B[k * N + j], mag += fabs((double)A[i * K + k] * B[k * N + j]);
            cr_assert(fabs(C[i * N + j] - s) <= 1e-6 * mag + 1e-6, "C[%d,%d] %g vs %g", i, j, C[i * N + j], s);
        }
    ag_free(a), ag_free(b);
}

Test(float32, training_step_reuses_memory)
{
    ag_manual_seed(0);
    ag_module *m = ag_sequential_new(3, (ag_module *[]){ ag_linear_new(8, 16, true), ag_relu_new(),
                                                         ag_linear_new(16, 1, true) });
    ag_optimizer *opt = ag_sgd_new(ag_parameters(m), (ag_sgd_opts){ .lr = 0.01, .momentum = 0.9 });
    ag_tensor *x = ag_randn(AG_SHAPE(32, 8)), *y = ag_randn(AG_SHAPE(32, 1));
    size_t r1 = 0, r2 = 0;
    for (int s = 0; s < 20; s++) {
        ag_optim_zero_grad(opt);
        ag_tensor *loss = ag_mse_loss(ag_forward(m, x), y, AG_MEAN);
        cr_assert_eq(ag_backward(loss), AG_OK, "%s", ag_error_message());
        cr_assert_eq(ag_optim_step(opt), AG_OK);
        ag_step_end();
        ag_tape_memory(NULL, s == 10 ? &r1 : &r2);
    }
    cr_assert_eq(r1, r2);
    ag_free(x), ag_free(y);
    ag_optim_free(opt);
    ag_module_free(m);
}
