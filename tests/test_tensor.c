/* test_tensor.c — creation, queries, printing, the generator and their errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
}
TestSuite(tensor, .fini = teardown);

static const char *printed(const ag_tensor *t)
{
    static char buf[4096];
    ag_snprint(buf, sizeof buf, t);
    return buf;
}

Test(tensor, from_copies_and_checks_count)
{
    ag_real src[6] = { 1, 2, 3, 4, 5, 6 };
    ag_tensor *t = ag_from(src, 6, AG_SHAPE(2, 3));
    src[0] = 100;
    cr_assert_eq(ag_data(t)[0], 1);
    cr_assert_eq(ag_ndim(t), 2);
    cr_assert_eq(ag_size(t, -1), 3);
    cr_assert_eq(ag_numel(t), 6);
    cr_assert_eq((uintptr_t)ag_data(t) % 64, 0, "data must be 64-byte aligned");
    ag_free(t);

    cr_assert_null(ag_from(src, 5, AG_SHAPE(2, 3)));
    cr_assert_str_eq(ag_error_message(), "from: 5 values do not fill shape [2,3] (6 elements)");
    ag_clear_error();
    cr_assert_null(ag_from(NULL, 1, AG_SCALAR));
    cr_assert_eq(ag_error(), AG_ERR_ARG);
}

Test(tensor, creation_functions)
{
    ag_tensor *z = ag_zeros(AG_SHAPE(2, 2)), *o = ag_ones(AG_SHAPE(3)), *f = ag_full(AG_SCALAR, 7);
    cr_assert_eq(ag_data(z)[3], 0);
    cr_assert_eq(ag_data(o)[2], 1);
    cr_assert_eq(ag_item(f), 7);
    cr_assert_eq(ag_ndim(f), 0);
    ag_tensor *a = ag_arange(0, 1, 0.25), *l = ag_linspace(-1, 1, 5);
    cr_assert_eq(ag_numel(a), 4);
    cr_assert_float_eq(ag_data(a)[3], 0.75, 1e-12);
    cr_assert_eq(ag_data(l)[0], -1);
    cr_assert_eq(ag_data(l)[2], 0);
    cr_assert_eq(ag_data(l)[4], 1);
    ag_free(z), ag_free(o), ag_free(f), ag_free(a), ag_free(l);
    cr_assert_null(ag_arange(0, 1, 0));
    cr_assert_eq(ag_error(), AG_ERR_ARG);
}

Test(tensor, six_dims_and_more_rejected)
{
    ag_tensor *t = ag_ones(AG_SHAPE(1, 2, 1, 2, 1, 2));
    cr_assert_eq(ag_ndim(t), 6);
    cr_assert_eq(ag_numel(t), 8);
    ag_free(t);
    ag_shape s = { .ndim = 9 };
    cr_assert_null(ag_zeros(s));
    cr_assert_eq(ag_error(), AG_ERR_SHAPE);
    ag_clear_error();
    cr_assert_null(ag_zeros(AG_SHAPE(-2)));
    cr_assert_eq(ag_error(), AG_ERR_SHAPE);
    ag_clear_error();
    cr_assert_null(ag_zeros(AG_SHAPE(INT64_MAX / 2, 4)));
    cr_assert(strstr(ag_error_message(), "too many elements"));
}

Test(tensor, item_needs_one_element)
{
    ag_tensor *t = ag_ones(AG_SHAPE(2));
    cr_assert(isnan(ag_item(t)));
    cr_assert_str_eq(ag_error_message(), "item: a tensor of shape [2] has 2 elements, not 1");
    ag_free(t);
}

Test(tensor, generator_is_seeded_and_reproducible)
{
    ag_manual_seed(42);
    ag_tensor *a = ag_randn(AG_SHAPE(1000));
    ag_manual_seed(42);
    ag_tensor *b = ag_randn(AG_SHAPE(1000));
    cr_assert_eq(memcmp(ag_data(a), ag_data(b), 1000 * sizeof(ag_real)), 0);
    double m = 0, v = 0;
    for (int i = 0; i < 1000; i++)
        m += ag_data(a)[i] / 1000.0;
    for (int i = 0; i < 1000; i++)
        v += (ag_data(a)[i] - m) * (ag_data(a)[i] - m) / 999.0;
    cr_assert(fabs(m) < 0.1 && fabs(v - 1) < 0.1, "mean %g var %g", m, v);
    ag_rng_state st = ag_get_rng_state();
    double u1 = ag_rand_uniform();
    ag_set_rng_state(st);
    cr_assert_eq(ag_rand_uniform(), u1);
    ag_tensor *r = ag_rand(AG_SHAPE(100));
    for (int i = 0; i < 100; i++)
        cr_assert(ag_data(r)[i] >= 0 && ag_data(r)[i] < 1);
    ag_free(a), ag_free(b), ag_free(r);
}

Test(tensor, prints_like_pytorch)
{
    ag_tensor *a = ag_from((ag_real[]){ 4.3, 0 }, 2, AG_SHAPE(1, 2));
    cr_assert_str_eq(printed(a), "tensor([[4.3000, 0.0000]])");
    ag_tensor *b = ag_from((ag_real[]){ 1, 2, 3, 4 }, 4, AG_SHAPE(2, 2));
    cr_assert_str_eq(printed(b), "tensor([[1., 2.],\n        [3., 4.]])");
    ag_tensor *c = ag_scalar(2.9);
    cr_assert_str_eq(printed(c), "tensor(2.9000)");
    ag_tensor *d = ag_from((ag_real[]){ -1.5, 2.25, 10 }, 3, AG_SHAPE(3));
    cr_assert_str_eq(printed(d), "tensor([-1.5000,  2.2500, 10.0000])");
    ag_tensor *e = ag_from((ag_real[]){ 1e-5, 1 }, 2, AG_SHAPE(2));
    cr_assert_str_eq(printed(e), "tensor([1.0000e-05, 1.0000e+00])");
    ag_set_requires_grad(c, true);
    cr_assert_str_eq(printed(c), "tensor(2.9000, requires_grad=True)");
    cr_assert_str_eq(printed(ag_mul(c, c)), "tensor(8.4100, grad_fn=<mul>)");
    ag_tensor *big = ag_zeros(AG_SHAPE(2000));
    cr_assert(strstr(printed(big), "0., 0., 0.,  ..., 0., 0., 0.") != NULL, "%s", printed(big));
    ag_tensor *t3 = ag_ones(AG_SHAPE(2, 1, 2));
    cr_assert_str_eq(printed(t3), "tensor([[[1., 1.]],\n\n        [[1., 1.]]])");
    ag_free(a), ag_free(b), ag_free(c), ag_free(d), ag_free(e), ag_free(big), ag_free(t3);
}

Test(tensor, free_is_null_safe_and_clone_detaches)
{
    ag_free(NULL);
    ag_tensor *p = ag_set_requires_grad(ag_ones(AG_SHAPE(2)), true);
    ag_tensor *q = ag_clone(ag_mul_scalar(p, 3));
    cr_assert(!ag_requires_grad(q));
    cr_assert(ag_is_leaf(q));
    cr_assert_eq(ag_data(q)[1], 3);
    ag_step_end();
    cr_assert_eq(ag_data(q)[0], 3, "a clone outlives the step");
    ag_free(p), ag_free(q);
}

Test(tensor, queries_on_null_report)
{
    cr_assert_eq(ag_numel(NULL), 0);
    cr_assert_str_eq(ag_error_message(), "numel: argument 0 is NULL");
    ag_clear_error();
    cr_assert_null(ag_grad(NULL));
    ag_clear_error();
    ag_tensor *t = ag_ones(AG_SHAPE(2));
    cr_assert_eq(ag_size(t, 3), -1);
    cr_assert_str_eq(ag_error_message(), "size: dimension 3 out of range for 1-d tensor");
    ag_free(t);
}

/* The allocation hook sees every allocation and a failure is reported, not crashed on. */
static int g_allocs, g_fail_at = -1;
static void *counting_alloc(size_t n, void *u)
{
    (void)u;
    return g_allocs++ == g_fail_at ? NULL : malloc(n);
}
static void counting_release(void *p, void *u)
{
    (void)u;
    free(p);
}

Test(tensor, allocator_hook_and_oom)
{
    ag_set_allocator(&(ag_allocator){ counting_alloc, counting_release, NULL });
    g_allocs = 0;
    g_fail_at = 0;
    cr_assert_null(ag_zeros(AG_SHAPE(3)));
    cr_assert_eq(ag_error(), AG_ERR_OOM);
    cr_assert(strstr(ag_error_message(), "out of memory") != NULL);
    ag_clear_error();
    g_fail_at = -1;
    ag_tensor *t = ag_zeros(AG_SHAPE(3));
    cr_assert_not_null(t);
    cr_assert_gt(g_allocs, 1);
    ag_free(t);
    ag_set_allocator(NULL);
}
