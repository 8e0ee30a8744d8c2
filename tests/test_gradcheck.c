/* test_gradcheck.c — gradcheck itself: it passes correct ops, catches a wrong backward, and
 * gradgradcheck verifies second derivatives. */
#include <criterion/criterion.h>
#include <math.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
}
TestSuite(gradcheck, .fini = teardown);

/* A deliberately wrong op: forward x^3, backward claims 2x (should be 3x^2). */
static ag_status cube_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    out[0] = ag_empty(ag_shape_of(in[0]));
    const ag_real *x = ag_cdata(in[0]);
    for (size_t i = 0; i < ag_numel(in[0]); i++)
        ag_data(out[0])[i] = x[i] * x[i] * x[i];
    ag_ctx_save(c, in[0]);
    return AG_OK;
}
static ag_status wrong_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_mul(dy[0], ag_mul_scalar(ag_ctx_saved(c, 0), 2));
    return AG_OK;
}
static ag_status right_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_mul(dy[0], ag_mul_scalar(ag_pow(ag_ctx_saved(c, 0), 2), 3));
    return AG_OK;
}
static const ag_op WRONG = { .name = "wrong_cube", .n_in = 1, .n_out = 1, .forward = cube_fwd, .backward = wrong_bwd };
static const ag_op RIGHT = { .name = "cube", .n_in = 1, .n_out = 1, .forward = cube_fwd, .backward = right_bwd };

static ag_tensor *call_op(ag_tensor *const *in, int n, void *user)
{
    (void)n;
    return ag_apply(user, in, 1, NULL, 0, NULL);
}

static ag_tensor *make_input(void)
{
    return ag_set_requires_grad(ag_from((ag_real[]){ 0.5, -1.25, 2 }, 3, AG_SHAPE(3)), true);
}

Test(gradcheck, catches_a_wrong_backward)
{
    ag_tensor *x = make_input();
    ag_gradcheck_report r;
    cr_assert(!ag_gradcheck(call_op, &x, 1, (void *)&WRONG, (ag_gradcheck_opts){ .quiet = true }, &r));
    cr_assert_eq(r.input, 0);
    cr_assert_eq(r.index, 2, "the worst element is x = 2: 2x = 4 vs 3x^2 = 12");
    cr_assert_float_eq(r.analytic, 4, 1e-9);
    cr_assert_float_eq(r.numeric, 12, 1e-5);
    ag_free(x);
}

Test(gradcheck, passes_a_right_backward_and_its_second_derivative)
{
    ag_tensor *x = make_input();
    cr_assert(ag_gradcheck(call_op, &x, 1, (void *)&RIGHT, (ag_gradcheck_opts){ 0 }, NULL));
    cr_assert(ag_gradgradcheck(call_op, &x, 1, (void *)&RIGHT, (ag_gradcheck_opts){ 0 }, NULL));
    ag_free(x);
}

/* A backward computed with a raw loop: right values, but no graph for a second derivative. */
static ag_status raw_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *x = ag_ctx_saved(c, 0);
    dx[0] = ag_empty(ag_shape_of(x));
    for (size_t i = 0; i < ag_numel(x); i++)
        ag_data(dx[0])[i] = ag_cdata(dy[0])[i] * 3 * ag_cdata(x)[i] * ag_cdata(x)[i];
    return AG_OK;
}
static const ag_op RAW = { .name = "raw_cube", .n_in = 1, .n_out = 1, .forward = cube_fwd, .backward = raw_bwd };
static const ag_op RAW_ONCE = { .name = "raw_cube", .n_in = 1, .n_out = 1, .forward = cube_fwd,
                                .backward = raw_bwd, .once_differentiable = true };

Test(gradcheck, second_derivatives_are_never_a_silent_zero)
{
    ag_tensor *x = make_input();
    cr_assert(ag_gradcheck(call_op, &x, 1, (void *)&RAW, (ag_gradcheck_opts){ 0 }, NULL));
    ag_gradcheck_report r;
    cr_assert(!ag_gradgradcheck(call_op, &x, 1, (void *)&RAW, (ag_gradcheck_opts){ .quiet = true }, &r));
    cr_assert_eq(r.analytic, 0, "no graph: the analytic second derivative is zero");
    cr_assert_gt(fabs(r.numeric), 1, "which the finite differences contradict");
    cr_assert(!ag_gradgradcheck(call_op, &x, 1, (void *)&RAW_ONCE, (ag_gradcheck_opts){ .quiet = true }, NULL));
    cr_assert_str_eq(ag_error_message(), "backward: raw_cube: its backward is not differentiable "
                                         "(create_graph is not supported through this op)");
    ag_free(x);
}

static ag_tensor *composite(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    /* (2,3) @ (3,4) -> tanh -> * (4) broadcast -> sum over dim 1 -> (2) */
    return ag_sum_dim(ag_mul(ag_tanh(ag_matmul(in[0], in[1])), in[2]), 1, false);
}

Test(gradcheck, checks_several_inputs_and_large_outputs)
{
    ag_manual_seed(1);
    ag_tensor *in[3] = { ag_set_requires_grad(ag_randn(AG_SHAPE(2, 3)), true),
                         ag_set_requires_grad(ag_randn(AG_SHAPE(3, 4)), true),
                         ag_set_requires_grad(ag_randn(AG_SHAPE(4)), true) };
    cr_assert(ag_gradcheck(composite, in, 3, NULL, (ag_gradcheck_opts){ 0 }, NULL));
    cr_assert(ag_gradgradcheck(composite, in, 3, NULL, (ag_gradcheck_opts){ 0 }, NULL));
    for (int i = 0; i < 3; i++)
        ag_free(in[i]);
    ag_tensor *big = ag_set_requires_grad(ag_randn(AG_SHAPE(40, 3)), true);
    cr_assert(ag_gradcheck(call_op, &big, 1, (void *)&RIGHT, (ag_gradcheck_opts){ 0 }, NULL),
              "outputs over 32 elements are checked through projections");
    ag_free(big);
}

static ag_tensor *affine_fn(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    return ag_sum(ag_add_scalar(ag_mul_scalar(in[0], 3), 1));
}

Test(gradcheck, linear_functions_have_zero_second_derivative)
{
    ag_tensor *x = make_input();
    cr_assert(ag_gradgradcheck(affine_fn, &x, 1, NULL, (ag_gradcheck_opts){ 0 }, NULL));
    ag_free(x);
}

Test(gradcheck, refuses_bad_arguments)
{
    cr_assert(!ag_gradcheck(NULL, NULL, 0, NULL, (ag_gradcheck_opts){ 0 }, NULL));
    cr_assert_eq(ag_error(), AG_ERR_ARG);
}
