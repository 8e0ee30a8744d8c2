/* test_scalar.c — the scalar path (ops/scalar.c): ops on 0-d tensors give bitwise the values,
 * gradients and errors of the general path, which shape-[1] tensors take.
 *
 * Built twice, in float (test_scalar_float, what users get) and in double (test_scalar): the
 * scalar rules must repeat the general ops' float operations exactly in both. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
    ag_set_detect_anomaly(false);
    ag_set_grad_enabled(true);
}
TestSuite(scalar, .fini = teardown);

/* A leaf holding v: 0-d (the scalar path) or of shape [1] (the general path). */
static ag_tensor *leaf_of(ag_real v, bool scalar)
{
    ag_tensor *t = scalar ? ag_scalar(v) : ag_from(&v, 1, AG_SHAPE(1));
    return ag_set_requires_grad(t, true);
}

enum { N_LEAVES = 4 };

typedef struct graph {
    ag_tensor *leaf[N_LEAVES];
} graph;

static graph make_graph(bool scalar)
{
    static const ag_real v[N_LEAVES] = { 0.7f, -1.3f, 2.5f, 0.2f };
    graph g;
    for (int i = 0; i < N_LEAVES; i++)
        g.leaf[i] = leaf_of(v[i], scalar);
    return g;
}

static void free_graph(graph *g)
{
    for (int i = 0; i < N_LEAVES; i++)
        ag_free(g->leaf[i]);
}

/* Every op with a scalar rule, each leaf used several times (so gradients accumulate), and
 * relu on both sides of 0. */
static ag_tensor *every_op(ag_tensor *const *l)
{
    ag_tensor *a = l[0], *b = l[1], *c = l[2], *d = l[3];
    ag_tensor *h = ag_add(ag_mul(a, b), c);
    h = ag_tanh(ag_sub(h, ag_div(d, c)));
    h = ag_add(h, ag_sigmoid(ag_mul_scalar(b, 0.75)));
    h = ag_mul(h, ag_exp(ag_neg(ag_mul(d, d))));
    h = ag_add(h, ag_log(ag_add_scalar(ag_pow(c, 2), 1)));
    h = ag_sub(h, ag_pow(ag_add_scalar(a, 2), 1.5));
    h = ag_add(h, ag_mul(ag_pow(d, 3), ag_pow(b, 0)));
    h = ag_div(h, ag_rsub_scalar(4, ag_sub_scalar(a, 0.5)));
    h = ag_add(h, ag_div_scalar(ag_relu(b), 3));
    h = ag_add(h, ag_relu(ag_mul(h, c)));
    return ag_mul(h, ag_add(ag_sigmoid(a), ag_tanh(d)));
}

/* h = tanh(h * w_k + b_k), the benchmark's chain, over the leaves in turn. */
static ag_tensor *chain(ag_tensor *const *l)
{
    ag_tensor *h = l[0];
    for (int k = 0; k < 20; k++)
        h = ag_tanh(ag_add(ag_mul(h, l[1 + k % 2]), l[3]));
    return h;
}

typedef ag_tensor *(*graph_fn)(ag_tensor *const *leaves);

/* Value and leaf gradients of f through the scalar and the general path, bitwise equal. */
static void expect_same_as_general(graph_fn f)
{
    graph s = make_graph(true), g = make_graph(false);
    ag_tensor *ys = f(s.leaf), *yg = f(g.leaf);
    cr_assert(ys && yg, "%s", ag_error_message());
    cr_assert_eq(ag_ndim(ys), 0);
    cr_assert_eq(ag_ndim(yg), 1);
    cr_assert_eq(memcmp(ag_data(ys), ag_data(yg), sizeof(ag_real)), 0, "value %.17g vs %.17g",
                 ag_item(ys), ag_item(yg));
    cr_assert_eq(ag_backward(ys), AG_OK, "%s", ag_error_message());
    cr_assert_eq(ag_backward(yg), AG_OK, "%s", ag_error_message());
    for (int i = 0; i < N_LEAVES; i++) {
        ag_tensor *a = ag_grad(s.leaf[i]), *b = ag_grad(g.leaf[i]);
        cr_assert(a && b, "leaf %d has a gradient", i);
        cr_assert_eq(memcmp(ag_data(a), ag_data(b), sizeof(ag_real)), 0,
                     "leaf %d: gradient %.17g vs %.17g", i, ag_item(a), ag_item(b));
    }
    free_graph(&s);
    free_graph(&g);
}

Test(scalar, every_op_matches_the_general_path)
{
    expect_same_as_general(every_op);
}

Test(scalar, chain_matches_the_general_path)
{
    expect_same_as_general(chain);
}

/* Tape bytes of f and its backward over leaves of one kind. */
static size_t tape_bytes(graph_fn f, bool scalar)
{
    graph g = make_graph(scalar);
    ag_step_end();
    cr_assert_eq(ag_backward(f(g.leaf)), AG_OK);
    size_t in_use;
    ag_tape_memory(&in_use, NULL);
    ag_step_end();
    free_graph(&g);
    return in_use;
}

Test(scalar, the_scalar_path_is_taken)
{
    size_t s = tape_bytes(chain, true), g = tape_bytes(chain, false);
    cr_assert_lt(2 * s, g, "0-d ops record compactly and differentiate without tensors (%zu "
                           "bytes of tape against %zu)", s, g);
}

Test(scalar, results_are_ordinary_tensors)
{
    ag_tensor *x = leaf_of(2, true), *w = leaf_of(3, true);
    ag_tensor *y = ag_mul(x, w);
    cr_assert_eq(ag_ndim(y), 0);
    cr_assert_eq(ag_numel(y), 1);
    cr_assert(ag_requires_grad(y) && !ag_is_leaf(y));
    cr_assert_eq(ag_item(y), 6);
    ag_tensor *kept = ag_clone(y);
    char buf[128];
    ag_snprint(buf, sizeof buf, y);
    cr_assert(strstr(buf, "grad_fn=<mul>"), "printed as %s", buf);
    ag_tensor *v = ag_reshape(y, AG_SHAPE(1, 1)); /* a general op on a scalar result */
    cr_assert_eq(ag_backward(ag_sum(ag_mul_scalar(v, 5))), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 15);
    cr_assert_eq(ag_item(ag_grad(w)), 10);
    ag_step_end();
    cr_assert_eq(ag_item(kept), 6);
    ag_free(x), ag_free(w), ag_free(kept);
}

Test(scalar, no_grad_records_nothing)
{
    ag_tensor *x = leaf_of(2, true), *c = ag_scalar(4);
    ag_tensor *y = NULL, *z = ag_mul(c, c);
    AG_NO_GRAD { y = ag_tanh(ag_mul(x, x)); }
    cr_assert(!ag_requires_grad(y) && ag_is_leaf(y));
    cr_assert(!ag_requires_grad(z) && ag_is_leaf(z), "no input requires grad");
    cr_assert_eq(ag_item(z), 16);
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    cr_assert_str_eq(ag_error_message(),
                     "backward: the tensor (shape []) does not require grad and has no grad_fn");
    ag_free(x), ag_free(c);
}

Test(scalar, mixed_0d_and_tensors_broadcast)
{
    ag_tensor *s = leaf_of(2, true);
    ag_tensor *v = ag_set_requires_grad(ag_from((ag_real[]){ 1, 2, 3 }, 3, AG_SHAPE(3)), true);
    ag_tensor *y = ag_mul(s, v);
    cr_assert_eq(ag_ndim(y), 1);
    cr_assert_eq(ag_size(y, 0), 3);
    ag_tensor *z = ag_sub(ag_sum(ag_add(y, s)), ag_tanh(s)); /* scalar ops on a sum's result */
    cr_assert_eq(ag_backward(z), AG_OK, "%s", ag_error_message());
    /* dz/ds = sum(v) + 3 - (1 - tanh(s)^2), dz/dv = s */
    ag_real t = (ag_real)tanh(2.0);
    cr_assert_float_eq(ag_item(ag_grad(s)), 6 + 3 - (1 - t * t), 1e-6);
    const ag_real *gv = ag_cdata(ag_grad(v));
    for (int i = 0; i < 3; i++)
        cr_assert_eq(gv[i], 2);
    ag_free(s), ag_free(v);
}

/* d/dx of f and then d/dx, d/dw of that gradient (create_graph), on one kind of leaf. */
static void second_order(bool scalar, ag_real out[3])
{
    ag_tensor *x = leaf_of(0.4f, scalar), *w = leaf_of(-1.7f, scalar);
    ag_tensor *y = ag_tanh(ag_mul(ag_sigmoid(ag_mul(x, w)), ag_exp(x)));
    ag_tensor *g = NULL;
    cr_assert_eq(ag_grad_of(y, 1, &x, &g, (ag_backward_opts){ .create_graph = true }), AG_OK,
                 "%s", ag_error_message());
    cr_assert(ag_requires_grad(g), "the gradient is differentiable");
    cr_assert_eq(ag_backward(g), AG_OK, "%s", ag_error_message());
    out[0] = ag_item(g);
    out[1] = ag_item(ag_grad(x));
    out[2] = ag_item(ag_grad(w));
    ag_step_end();
    ag_free(x), ag_free(w);
}

Test(scalar, double_backward_goes_through_scalar_ops)
{
    ag_real s[3], g[3];
    second_order(true, s);
    second_order(false, g);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(memcmp(&s[i], &g[i], sizeof(ag_real)), 0, "%d: %.17g vs %.17g", i, s[i], g[i]);
    /* d/dx x^3 = 3x^2; d2/dx2 = 6x, at x = 2 */
    ag_tensor *x = leaf_of(2, true), *d = NULL;
    cr_assert_eq(ag_grad_of(ag_pow(x, 3), 1, &x, &d, (ag_backward_opts){ .create_graph = true }),
                 AG_OK);
    cr_assert_eq(ag_item(d), 12);
    cr_assert_eq(ag_backward(d), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 12);
    ag_free(x);
}

Test(scalar, grad_of_returns_tensors)
{
    ag_tensor *x = leaf_of(3, true), *w = leaf_of(5, true), *res[2] = { 0 };
    ag_tensor *y = ag_add(ag_mul(x, w), x);
    cr_assert_eq(ag_grad_of(y, 2, (ag_tensor *[]){ x, w }, res, (ag_backward_opts){ 0 }), AG_OK);
    cr_assert_eq(ag_ndim(res[0]), 0);
    cr_assert_eq(ag_item(res[0]), 6);
    cr_assert_eq(ag_item(res[1]), 3);
    cr_assert_null(ag_grad(x), ".grad is left alone");
    ag_free(x), ag_free(w);
}

Test(scalar, backward_twice_needs_retain_graph)
{
    ag_tensor *x = leaf_of(0.5f, true), *w = leaf_of(2, true);
    ag_tensor *y = ag_tanh(ag_add(ag_mul(x, w), w));
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){ .retain_graph = true }), AG_OK);
    ag_real once = ag_item(ag_grad(x));
    cr_assert_eq(ag_backward(y), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), once + once);
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    cr_assert_str_eq(ag_error_message(), "backward: tanh: trying to backward through the graph a "
                                         "second time; pass retain_graph the first time");
    cr_assert_eq(ag_item(ag_grad(x)), once + once, "a failed backward changes no gradient");
    ag_free(x), ag_free(w);
}

/* The error of backward after `change` modifies in place a tensor that y's graph saved. */
static void saved_modified_error(bool scalar, char *msg, size_t size)
{
    ag_tensor *x = leaf_of(3, scalar), *w = leaf_of(2, scalar);
    ag_tensor *y = ag_mul(ag_tanh(x), w);
    ag_data(w)[0] = 4; /* mul saved w */
    ag_bump_version(w);
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    snprintf(msg, size, "%s", ag_error_message());
    cr_assert_null(ag_grad(x));
    ag_clear_error();
    ag_step_end();
    ag_free(x), ag_free(w);
}

Test(scalar, in_place_change_of_a_saved_scalar_is_detected)
{
    char s[256], g[256];
    saved_modified_error(true, s, sizeof s);
    saved_modified_error(false, g, sizeof g);
    cr_assert_str_eq(s, "mul: a tensor saved for backward was modified in place since (version 1, "
                        "saved at 0)");
    cr_assert_str_eq(s, g);
    /* an output that its op saved (tanh saves y) */
    ag_tensor *x = leaf_of(3, true);
    ag_tensor *y = ag_tanh(x);
    ag_bump_version(y);
    cr_assert_eq(ag_backward(ag_mul(y, y)), AG_ERR_STATE);
    cr_assert(strstr(ag_error_message(), "modified in place"), "%s", ag_error_message());
    ag_free(x);
}

static ag_tensor *times_ten(ag_tensor *g, void *user)
{
    (void)user;
    return ag_mul_scalar(g, 10);
}

Test(scalar, hooks_see_and_replace_gradients)
{
    ag_real got[2][2];
    for (int scalar = 0; scalar < 2; scalar++) {
        ag_tensor *x = leaf_of(0.3f, scalar), *w = leaf_of(1.5f, scalar);
        ag_tensor *h = ag_mul(x, w);
        cr_assert_eq(ag_register_hook(h, times_ten, NULL), AG_OK);
        cr_assert_eq(ag_register_hook(w, times_ten, NULL), AG_OK);
        cr_assert_eq(ag_backward(ag_tanh(h)), AG_OK, "%s", ag_error_message());
        got[scalar][0] = ag_item(ag_grad(x));
        got[scalar][1] = ag_item(ag_grad(w));
        ag_step_end();
        ag_free(x), ag_free(w);
    }
    cr_assert_eq(memcmp(got[0], got[1], sizeof got[0]), 0);
    ag_real t = (ag_real)tanh(0.45);
    cr_assert_float_eq(got[1][0], 10 * (1 - t * t) * 1.5f, 1e-5);
    cr_assert_float_eq(got[1][1], 100 * (1 - t * t) * 0.3f, 1e-5);
}

Test(scalar, anomaly_mode_checks_scalar_ops)
{
    ag_tensor *x = leaf_of(-1, true);
    ag_set_detect_anomaly(true);
    cr_assert_null(ag_log(x));
    cr_assert_str_eq(ag_error_message(),
                     "anomaly: log forward produced NaN or Inf in result 0 of shape []");
    ag_clear_error();
    ag_tensor *z = leaf_of(0, true); /* sqrt(z) is fine, its gradient at 0 is not */
    cr_assert_eq(ag_backward(ag_mul(ag_pow(z, 0.5), x)), AG_ERR_NUMERIC);
    cr_assert(strstr(ag_error_message(), "anomaly: pow backward produced NaN or Inf"), "%s",
              ag_error_message());
    cr_assert_null(ag_grad(z));
    ag_free(x), ag_free(z);
}

Test(scalar, errors_are_those_of_the_general_path)
{
    ag_tensor *x = leaf_of(2, true);
    cr_assert_null(ag_mul(x, NULL));
    cr_assert_str_eq(ag_error_message(), "mul: argument 1 is NULL");
    ag_clear_error();
    cr_assert_null(ag_neg(NULL));
    cr_assert_str_eq(ag_error_message(), "neg: argument 0 is NULL");
    ag_clear_error();
    ag_tensor *old = ag_tanh(x);
    ag_step_end();
    cr_assert_null(ag_add(x, old));
    cr_assert(strstr(ag_error_message(), "add: argument 1 belongs to a step that has ended"));
    cr_assert_null(ag_mul(x, x), "a pending error fails every op");
    cr_assert_str_eq(ag_error_message(), "add: argument 1 belongs to a step that has ended or to "
                                         "another thread's tape (ag_step_end frees op results; "
                                         "keep values with ag_clone)");
    ag_clear_error();
    ag_free(x);
}
