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
