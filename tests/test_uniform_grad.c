/* test_uniform_grad.c — sum's gradient as one number (agi_uniform).
 *
 * In a backward without create_graph, sum hands its input a "uniform" gradient: the input's
 * shape, one stored value. relu's backward reads it as such; everything else must see an
 * ordinary tensor with every element filled: other ops' backwards (a custom op here),
 * accumulation with a second gradient, hooks, ag_grad_of, .grad. Under ASan a reader that got
 * the one-value tensor would overflow, so these tests read every element. */
#include <criterion/criterion.h>
#include <math.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
    ag_set_detect_anomaly(false);
}
TestSuite(uniform_grad, .fini = teardown);

#define N 300

static ag_tensor *ramp_leaf(void)
{
    ag_real v[N];
    for (int i = 0; i < N; i++)
        v[i] = (ag_real)(i - N / 2) / 7;
    return ag_set_requires_grad(ag_from(v, N, AG_SHAPE(3, N / 3)), true);
}

static void assert_all(ag_tensor *g, ag_real (*want)(int i), const char *what)
{
    cr_assert_not_null(g, "%s: no gradient", what);
    cr_assert_eq(ag_numel(g), N);
    for (int i = 0; i < N; i++)
        cr_assert_float_eq(ag_data(g)[i], want(i), 1e-12, "%s [%d]", what, i);
}

static ag_real relu_mask(int i) { return i - N / 2 > 0 ? 1 : 0; }
static ag_real ones(int i) { return (void)i, 1; }
static ag_real twos(int i) { return (void)i, 2; }

Test(uniform_grad, relu_reads_it_and_matches_create_graph)
{
    ag_tensor *x = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(ag_relu(x))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), relu_mask, "sum(relu(x))");
    ag_zero_grad(x);
    ag_backward_opts o = { .create_graph = true }; /* the general path: no uniform tensor */
    cr_assert_eq(ag_backward_ex(ag_sum(ag_relu(x)), o), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), relu_mask, "with create_graph");
    ag_free(x);
}

Test(uniform_grad, a_leaf_gets_every_element_and_accumulates)
{
    ag_tensor *w = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(w)), AG_OK);
    ag_step_end();
    assert_all(ag_grad(w), ones, "sum(w)");
    cr_assert_eq(ag_backward(ag_sum(w)), AG_OK);
    ag_step_end();
    assert_all(ag_grad(w), twos, "accumulated");
    ag_zero_grad(w);
    cr_assert_eq(ag_backward(ag_sum(w)), AG_OK);
    ag_step_end();
    assert_all(ag_grad(w), ones, "after zero_grad");
    ag_free(w);
}

/* y = relu(x) feeds two sums: its gradient is a uniform one plus a dense one. */
static ag_real two_paths(int i) { return i - N / 2 > 0 ? 1 + 2 * (ag_real)(i - N / 2) / 7 : 0; }

Test(uniform_grad, added_to_a_dense_gradient)
{
    ag_tensor *x = ramp_leaf();
    ag_tensor *y = ag_relu(x);
    cr_assert_eq(ag_backward(ag_add(ag_sum(y), ag_sum(ag_mul(y, y)))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), two_paths, "sum(y) + sum(y*y)");
    ag_free(x);
}

static ag_tensor *check_hook(ag_tensor *g, void *user)
{
    assert_all(g, ones, "hook");
    ++*(int *)user;
    return NULL;
}

Test(uniform_grad, hooks_and_grad_of_see_every_element)
{
    ag_tensor *x = ramp_leaf();
    int calls = 0;
    ag_tensor *y = ag_relu(x);
    cr_assert_eq(ag_register_hook(y, check_hook, &calls), AG_OK);
    cr_assert_eq(ag_backward(ag_sum(y)), AG_OK);
    cr_assert_eq(calls, 1);
    ag_step_end();
    ag_tensor *y2 = ag_mul_scalar(x, 1), *g = NULL;
    cr_assert_eq(ag_grad_of(ag_sum(y2), 1, &y2, &g, (ag_backward_opts){ 0 }), AG_OK);
    assert_all(g, ones, "grad_of");
    ag_tensor *x2 = NULL;
    cr_assert_eq(ag_grad_of(ag_sum(ag_relu(x)), 1, &x, &x2, (ag_backward_opts){ 0 }), AG_OK);
    assert_all(x2, relu_mask, "grad_of through relu");
    ag_free(x);
}

/* A custom op whose backward reads every element of dy (a raw loop). */
static ag_status twice_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    (void)c;
    out[0] = ag_mul_scalar(in[0], 2);
    return out[0] ? AG_OK : ag_error();
}
static ag_status twice_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c;
    ag_tensor *g = ag_empty(ag_shape_of(dy[0]));
    if (!g)
        return ag_error();
    for (size_t i = 0; i < ag_numel(dy[0]); i++)
        ag_data(g)[i] = 2 * ag_data(dy[0])[i];
    dx[0] = g;
    return AG_OK;
}
static const ag_op TWICE = { .name = "twice", .n_in = 1, .n_out = 1, .forward = twice_fwd,
                             .backward = twice_bwd, .once_differentiable = true };

Test(uniform_grad, a_custom_backward_gets_an_ordinary_tensor)
{
    ag_tensor *x = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(ag_apply(&TWICE, &x, 1, NULL, 0, NULL))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), twos, "sum(twice(x))");
    ag_free(x);
}

Test(uniform_grad, anomaly_mode_checks_the_one_value)
{
    ag_set_detect_anomaly(true);
    ag_tensor *x = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(ag_relu(x))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), relu_mask, "anomaly mode");
    ag_tensor *y = ag_relu(x), *nan = ag_scalar(NAN);
    cr_assert_eq(ag_backward_ex(ag_sum(y), (ag_backward_opts){ .grad_output = nan }),
                 AG_ERR_NUMERIC);
    ag_free(nan);
    ag_free(x);
}
