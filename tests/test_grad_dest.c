/* test_grad_dest.c — gradients written straight into a leaf's .grad (agi_grad_dest).
 *
 * After zero_grad, backward lets some ops (addcmul, cross_entropy, matmul, linear) write a
 * leaf's gradient into its .grad instead of a tape tensor that is copied at the end. These
 * tests hold that path to the copying one, bit for bit, and check what must not change: a
 * failed sweep leaves .grad as it was, hooks and ag_grad_of still see the gradient first,
 * and a leaf used twice by one op gets both contributions. */
#include <criterion/criterion.h>
#include <string.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
}
TestSuite(grad_dest, .fini = teardown);

static ag_tensor *leaf(ag_shape s)
{
    return ag_set_requires_grad(ag_randn(s), true);
}

/* A heap copy of t's gradient. */
static ag_tensor *grad_copy(ag_tensor *t)
{
    cr_assert_not_null(ag_grad(t));
    return ag_clone(ag_grad(t));
}

static void assert_same(ag_tensor *a, ag_tensor *b, const char *what)
{
    cr_assert_eq(ag_numel(a), ag_numel(b), "%s: sizes", what);
    cr_assert(memcmp(ag_data(a), ag_data(b), ag_numel(a) * sizeof(ag_real)) == 0,
              "%s: the in-place gradient differs from the copied one", what);
}

typedef ag_tensor *(*loss_fn)(ag_tensor **l);

/* Runs loss three times: with no .grad yet (the copying path), after zero_grad (written in
 * place) and once more without zero_grad (accumulated: twice the first). */
static void check_paths(loss_fn f, ag_tensor **l, int n)
{
    ag_tensor *first[4];
    cr_assert_eq(ag_backward(f(l)), AG_OK, "%s", ag_error_message());
    ag_step_end();
    for (int i = 0; i < n; i++)
        first[i] = grad_copy(l[i]);
    for (int i = 0; i < n; i++)
        ag_zero_grad(l[i]);
    cr_assert_eq(ag_backward(f(l)), AG_OK, "%s", ag_error_message());
    ag_step_end();
    for (int i = 0; i < n; i++)
        assert_same(ag_grad(l[i]), first[i], "after zero_grad");
    cr_assert_eq(ag_backward(f(l)), AG_OK, "%s", ag_error_message());
    ag_step_end();
    for (int i = 0; i < n; i++) {
        const ag_real *g = ag_data(ag_grad(l[i])), *g1 = ag_data(first[i]);
        for (size_t j = 0; j < ag_numel(first[i]); j++)
            cr_assert_float_eq(g[j], 2 * g1[j], 1e-12, "accumulated [%zu]", j);
        ag_free(first[i]);
    }
}

static ag_tensor *addcmul_loss(ag_tensor **l)
{
    return ag_sum(ag_relu(ag_addcmul(l[0], l[1], l[2])));
}

Test(grad_dest, addcmul_in_place_equals_copy)
{
    ag_manual_seed(1);
    ag_tensor *l[3] = { leaf(AG_SHAPE(1000)), leaf(AG_SHAPE(1000)), leaf(AG_SHAPE(1000)) };
    check_paths(addcmul_loss, l, 3);
    for (int i = 0; i < 3; i++)
        ag_free(l[i]);
}

static const int64_t CE_LABELS[6] = { 0, 3, 2, 4, 1, 3 };
static ag_tensor *ce_loss(ag_tensor **l)
{
    return ag_cross_entropy(l[0], CE_LABELS, AG_MEAN, 0.1);
}

Test(grad_dest, cross_entropy_in_place_equals_copy)
{
    ag_manual_seed(2);
    ag_tensor *l[1] = { leaf(AG_SHAPE(6, 5)) };
    check_paths(ce_loss, l, 1);
    ag_free(l[0]);
}

static ag_tensor *linear_x;
static ag_tensor *linear_loss(ag_tensor **l)
{
    ag_tensor *x = linear_x;
    return ag_sum(ag_mul(ag_linear(x, l[0], l[1]), ag_linear(x, l[0], l[1])));
}

Test(grad_dest, linear_in_place_equals_copy)
{
    ag_manual_seed(3);
    ag_tensor *l[2] = { leaf(AG_SHAPE(5, 4)), leaf(AG_SHAPE(5)) };
    linear_x = ag_randn(AG_SHAPE(3, 4));
    check_paths(linear_loss, l, 2);
    ag_free(l[0]), ag_free(l[1]), ag_free(linear_x);
}

/* b is broadcast over the batch: its destination does not fit the product, which must then
 * be summed back to b's shape as usual. */
static ag_tensor *matmul_loss(ag_tensor **l)
{
    return ag_sum(ag_tanh(ag_matmul(l[0], l[1])));
}

Test(grad_dest, matmul_in_place_and_broadcast_equal_copy)
{
    ag_manual_seed(4);
    ag_tensor *l[2] = { leaf(AG_SHAPE(2, 3, 4)), leaf(AG_SHAPE(1, 4, 5)) };
    check_paths(matmul_loss, l, 2);
    ag_free(l[0]), ag_free(l[1]);
}

Test(grad_dest, a_leaf_used_twice_by_one_op_gets_both_contributions)
{
    /* sum(x + x * x): d/dx = 1 + 2x */
    ag_tensor *x = ag_set_requires_grad(ag_from((ag_real[]){ 1, -2, 3 }, 3, AG_SHAPE(3)), true);
    for (int round = 0; round < 2; round++) {
        ag_zero_grad(x);
        cr_assert_eq(ag_backward(ag_sum(ag_addcmul(x, x, x))), AG_OK);
        ag_step_end();
        cr_assert_not_null(ag_grad(x));
        const ag_real *g = ag_data(ag_grad(x));
        cr_assert_eq(g[0], 3);
        cr_assert_eq(g[1], -3);
        cr_assert_eq(g[2], 7);
    }
    ag_free(x);
}

/* An op whose backward fails: the sweep stops after addcmul has already run. */
static ag_status pass_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    (void)c;
    out[0] = ag_mul_scalar(in[0], 1);
    return out[0] ? AG_OK : ag_error();
}
static ag_status fail_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c, (void)dy, (void)dx;
    return ag_fail(AG_ERR_NUMERIC, "failing_op: refuses its backward");
}
static const ag_op FAILING = { .name = "failing_op", .n_in = 1, .n_out = 1,
                               .forward = pass_fwd, .backward = fail_bwd };

Test(grad_dest, a_failed_sweep_leaves_zeroed_gradients_zero)
{
    ag_manual_seed(5);
    ag_tensor *c = leaf(AG_SHAPE(64)), *a = leaf(AG_SHAPE(64)), *b = leaf(AG_SHAPE(64));
    ag_tensor *d = leaf(AG_SHAPE(64));
    ag_tensor *l[3] = { c, a, b };
    cr_assert_eq(ag_backward(addcmul_loss(l)), AG_OK);
    ag_step_end();
    for (int i = 0; i < 3; i++)
        ag_zero_grad(l[i]);
    /* recorded first, so its backward runs after addcmul's */
    ag_tensor *f = ag_apply(&FAILING, &d, 1, NULL, 0, NULL);
    ag_tensor *loss = ag_add(ag_sum(f), addcmul_loss(l));
    cr_assert_eq(ag_backward(loss), AG_ERR_NUMERIC);
    cr_assert_str_eq(ag_error_message(), "failing_op: refuses its backward");
    ag_clear_error();
    for (int i = 0; i < 3; i++) {
        const ag_real *g = ag_data(ag_grad(l[i]));
        for (int j = 0; j < 64; j++)
            cr_assert_eq(g[j], 0, "leaf %d [%d]: still zero after the failed backward", i, j);
    }
    cr_assert_null(ag_grad(d));
    for (int i = 0; i < 3; i++)
        ag_free(l[i]);
    ag_free(d);
}

static ag_tensor *saw_grad(ag_tensor *g, void *user)
{
    *(ag_real *)user = ag_data(g)[0];
    return ag_mul_scalar(g, 2);
}

Test(grad_dest, hooks_and_grad_of_see_the_gradient_first)
{
    ag_tensor *l[3] = { ag_set_requires_grad(ag_full(AG_SHAPE(4), 1), true),
                        ag_set_requires_grad(ag_full(AG_SHAPE(4), 2), true),
                        ag_set_requires_grad(ag_full(AG_SHAPE(4), 3), true) };
    ag_real seen = 0;
    cr_assert_eq(ag_register_hook(l[1], saw_grad, &seen), AG_OK);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++)
            ag_zero_grad(l[i]);
        cr_assert_eq(ag_backward(ag_sum(ag_addcmul(l[0], l[1], l[2]))), AG_OK);
        ag_step_end();
        cr_assert_eq(seen, 3, "the hook saw d/da = b");
        cr_assert_eq(ag_data(ag_grad(l[1]))[3], 6, "and doubled it");
        cr_assert_eq(ag_data(ag_grad(l[2]))[3], 2);
    }
    for (int i = 0; i < 3; i++)
        ag_zero_grad(l[i]);
    ag_tensor *g[3] = { 0 };
    cr_assert_eq(ag_grad_of(ag_sum(ag_addcmul(l[0], l[1], l[2])), 3, l, g, (ag_backward_opts){ 0 }),
                 AG_OK);
    cr_assert_eq(ag_data(g[2])[0], 2);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ag_data(ag_grad(l[i]))[0], 0, "grad_of leaves .grad alone");
    for (int i = 0; i < 3; i++)
        ag_free(l[i]);
}
