/* test_tape.c — the tape's semantics: accumulation, zero_grad, no_grad, detach,
 * retain_graph, errors, hooks, grad_of, create_graph (Hessian-vector products), anomaly mode,
 * depth, steps and threads. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
    ag_set_detect_anomaly(false);
    ag_set_grad_enabled(true);
}
TestSuite(tape, .fini = teardown);

static ag_tensor *leaf(ag_real v)
{
    return ag_set_requires_grad(ag_scalar(v), true);
}

Test(tape, gradients_accumulate_until_zeroed)
{
    ag_tensor *x = leaf(3);
    cr_assert_null(ag_grad(x), "no gradient before backward");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ag_backward(ag_mul(x, x)), AG_OK);
        ag_step_end();
    }
    cr_assert_eq(ag_item(ag_grad(x)), 12, "2 * (2x) accumulated");
    ag_zero_grad(x);
    cr_assert_eq(ag_item(ag_grad(x)), 0);
    ag_clear_grad(x);
    cr_assert_null(ag_grad(x));
    ag_free(x);
}

Test(tape, shared_subexpression_sums_both_paths)
{
    /* y = x*x + x*x*x at x = 2: dy/dx = 2x + 3x^2 = 16 */
    ag_tensor *x = leaf(2);
    ag_tensor *sq = ag_mul(x, x);
    ag_tensor *y = ag_add(sq, ag_mul(sq, x));
    cr_assert_eq(ag_backward(y), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 16);
    ag_free(x);
}

Test(tape, no_grad_and_detach_do_not_record)
{
    ag_tensor *x = leaf(2);
    ag_tensor *y = NULL;
    AG_NO_GRAD { y = ag_mul(x, x); }
    cr_assert(ag_is_grad_enabled());
    cr_assert(!ag_requires_grad(y));
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    cr_assert_str_eq(ag_error_message(),
                     "backward: the tensor (shape []) does not require grad and has no grad_fn");
    ag_clear_error();
    ag_tensor *d = ag_detach(ag_mul(x, x));
    cr_assert(!ag_requires_grad(d) && ag_is_leaf(d));
    ag_tensor *z = ag_mul(d, x); /* d is a constant 4: dz/dx = 4 */
    cr_assert_eq(ag_backward(z), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 4);
    ag_free(x);
}

Test(tape, backward_twice_needs_retain_graph)
{
    ag_tensor *x = leaf(3);
    ag_tensor *y = ag_mul(x, x);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){ .retain_graph = true }), AG_OK);
    cr_assert_eq(ag_backward(y), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 12);
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    cr_assert(strstr(ag_error_message(), "backward through the graph a second time") != NULL);
    cr_assert_eq(ag_item(ag_grad(x)), 12, "a failed backward changes no gradient");
    ag_free(x);
}

Test(tape, non_scalar_backward_needs_grad_output)
{
    ag_tensor *x = ag_set_requires_grad(ag_from((ag_real[]){ 1, 2 }, 2, AG_SHAPE(2)), true);
    ag_tensor *y = ag_mul_scalar(x, 3);
    cr_assert_eq(ag_backward(y), AG_ERR_SHAPE);
    cr_assert_str_eq(ag_error_message(),
                     "backward: grad can be implicitly created only for one-element outputs; "
                     "the output has shape [2], pass grad_output");
    ag_clear_error();
    ag_tensor *g = ag_from((ag_real[]){ 1, 10 }, 2, AG_SHAPE(2));
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){ .grad_output = g }), AG_OK);
    cr_assert_eq(ag_data(ag_grad(x))[1], 30);
    ag_tensor *bad = ag_ones(AG_SHAPE(3));
    cr_assert_eq(ag_backward_ex(ag_mul_scalar(x, 3), (ag_backward_opts){ .grad_output = bad }),
                 AG_ERR_SHAPE);
    ag_free(x), ag_free(g), ag_free(bad);
}

Test(tape, tensors_of_an_ended_step_are_refused)
{
    ag_tensor *x = leaf(2);
    ag_tensor *y = ag_mul(x, x);
    ag_step_end();
    cr_assert_null(ag_add(y, x));
    cr_assert_eq(ag_error(), AG_ERR_STATE);
    cr_assert(strstr(ag_error_message(), "add: argument 0 belongs to a step that has ended"));
    ag_free(x);
}

Test(tape, pending_error_blocks_backward_and_nulls_propagate)
{
    ag_tensor *x = leaf(1);
    ag_tensor *ones = ag_ones(AG_SHAPE(2));
    ag_tensor *bad = ag_add(ones, NULL);
    ag_free(ones);
    cr_assert_null(bad);
    const char *first = "add: argument 1 is NULL";
    cr_assert_str_eq(ag_error_message(), first);
    cr_assert_null(ag_mul(bad, x), "NULL in, NULL out");
    cr_assert_str_eq(ag_error_message(), first, "the first error is kept");
    cr_assert_eq(ag_backward(ag_mul(x, x)), AG_ERR_ARG, "backward refuses while an error is pending");
    cr_assert_null(ag_grad(x));
    ag_free(x);
}

static ag_tensor *double_it(ag_tensor *g, void *user)
{
    (*(int *)user)++;
    return ag_mul_scalar(g, 2);
}

Test(tape, hooks_see_and_replace_gradients)
{
    int calls = 0;
    ag_tensor *x = leaf(3);
    cr_assert_eq(ag_register_hook(x, double_it, &calls), AG_OK);
    ag_tensor *h = ag_mul(x, x);
    cr_assert_eq(ag_register_hook(h, double_it, &calls), AG_OK);
    cr_assert_eq(ag_backward(ag_mul_scalar(h, 1)), AG_OK);
    cr_assert_eq(calls, 2);
    cr_assert_eq(ag_item(ag_grad(x)), 24, "1 -> hook on h: 2 -> 2*2x = 12 -> hook on x: 24");
    ag_free(x);
}

Test(tape, grad_of_leaves_dot_grad_alone)
{
    ag_tensor *x = leaf(3), *w = leaf(5);
    ag_tensor *y = ag_mul(x, w), *g[2] = { 0 };
    cr_assert_eq(ag_grad_of(y, 2, (ag_tensor *[]){ x, w }, g, (ag_backward_opts){ 0 }), AG_OK);
    cr_assert_eq(ag_item(g[0]), 5);
    cr_assert_eq(ag_item(g[1]), 3);
    cr_assert_null(ag_grad(x));
    ag_free(x), ag_free(w);
}

/* f(x) = 0.5 x^T A x with A symmetric: grad = A x, and the Hessian-vector product
 * d(grad . v)/dx = A v. */
Test(tape, hessian_vector_product_of_a_quadratic)
{
    ag_real A[9] = { 2, 1, 0, 1, 3, 1, 0, 1, 4 }, xv[3] = { 1, -2, 0.5 }, vv[3] = { 0.5, 1, -1 };
    ag_tensor *At = ag_from(A, 9, AG_SHAPE(3, 3));
    ag_tensor *x = ag_set_requires_grad(ag_from(xv, 3, AG_SHAPE(3)), true);
    ag_tensor *v = ag_from(vv, 3, AG_SHAPE(3));
    ag_tensor *f = ag_mul_scalar(ag_sum(ag_mul(x, ag_matmul(At, x))), 0.5);
    ag_tensor *g = NULL;
    cr_assert_eq(ag_grad_of(f, 1, &x, &g, (ag_backward_opts){ .create_graph = true }), AG_OK);
    for (int i = 0; i < 3; i++) {
        double ax = A[3 * i] * xv[0] + A[3 * i + 1] * xv[1] + A[3 * i + 2] * xv[2];
        cr_assert_float_eq(ag_data(g)[i], ax, 1e-12);
    }
    ag_tensor *gv = ag_sum(ag_mul(g, v));
    cr_assert(ag_requires_grad(gv), "the gradient is itself differentiable");
    cr_assert_eq(ag_backward(gv), AG_OK);
    for (int i = 0; i < 3; i++) {
        double av = A[3 * i] * vv[0] + A[3 * i + 1] * vv[1] + A[3 * i + 2] * vv[2];
        cr_assert_float_eq(ag_data(ag_grad(x))[i], av, 1e-12, "Hv[%d]", i);
    }
    ag_free(At), ag_free(x), ag_free(v);
}

Test(tape, anomaly_mode_names_the_op)
{
    ag_set_detect_anomaly(true);
    ag_tensor *x = ag_set_requires_grad(ag_from((ag_real[]){ -1, 1 }, 2, AG_SHAPE(2)), true);
    cr_assert_null(ag_sqrt(ag_log(x)));
    cr_assert_eq(ag_error(), AG_ERR_NUMERIC);
    cr_assert_str_eq(ag_error_message(), "anomaly: log forward produced NaN or Inf in result 0 of shape [2]");
    ag_clear_error();
    /* backward: sqrt at 0 has an infinite derivative */
    ag_tensor *z = ag_set_requires_grad(ag_zeros(AG_SHAPE(2)), true);
    cr_assert_eq(ag_backward(ag_sum(ag_sqrt(z))), AG_ERR_NUMERIC);
    cr_assert_str_eq(ag_error_message(), "anomaly: sqrt backward produced NaN or Inf (in its div, result of shape [2])");
    cr_assert_null(ag_grad(z));
    ag_free(x), ag_free(z);
}

Test(tape, deep_graphs_need_no_recursion)
{
    ag_tensor *x = leaf(1);
    ag_tensor *h = x;
    for (int i = 0; i < 200000; i++)
        h = ag_mul_scalar(h, 1.0);
    cr_assert_eq(ag_backward(h), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 1);
    ag_free(x);
}

Test(tape, in_place_change_of_a_saved_leaf_is_reported)
{
    ag_tensor *x = leaf(2);
    ag_tensor *y = ag_mul(x, x);
    ag_data(x)[0] = 5;
    ag_bump_version(x);
    cr_assert_neq(ag_backward(y), AG_OK);
    cr_assert(strstr(ag_error_message(), "modified in place") != NULL, "%s", ag_error_message());
    ag_free(x);
}

Test(tape, step_end_keeps_memory_flat)
{
    ag_tensor *x = leaf(2);
    size_t reserved[3];
    for (int step = 0; step < 3; step++) {
        ag_tensor *h = x;
        for (int i = 0; i < 5000; i++)
            h = ag_tanh(ag_mul(h, x));
        cr_assert_eq(ag_backward(h), AG_OK);
        ag_step_end();
        ag_tape_memory(NULL, &reserved[step]);
    }
    cr_assert_eq(reserved[1], reserved[2], "steady state reuses the same memory");
    size_t in_use;
    ag_tape_memory(&in_use, NULL);
    cr_assert_eq(in_use, 0);
    ag_free(x);
}

/* Each thread has its own tape: two threads train the same computation concurrently and get
 * exactly what one gets alone. */
static void *thread_work(void *arg)
{
    double *out = arg;
    ag_tensor *x = leaf(0.5);
    for (int s = 0; s < 50; s++) {
        ag_tensor *h = x;
        for (int i = 0; i < 100; i++)
            h = ag_tanh(ag_add_scalar(ag_mul(h, x), 0.1));
        ag_backward(h);
        ag_step_end();
    }
    *out = ag_item(ag_grad(x));
    ag_free(x);
    return NULL;
}

Test(tape, threads_have_their_own_tapes)
{
    double alone, a, b;
    thread_work(&alone);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, thread_work, &a);
    pthread_create(&t2, NULL, thread_work, &b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    cr_assert_eq(a, alone);
    cr_assert_eq(b, alone);
}
