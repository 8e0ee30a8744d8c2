/* test_hostile_autograd.c — every public function of autograd.h fed hostile input: NULLs,
 * bad shapes and dims, empty tensors, NaN and Inf, misuse of the tape (backward twice, use
 * after ag_step_end, a tensor from another thread's tape), freed tensors, failing
 * allocations, malformed custom ops. Nothing may crash; each error's code and full message
 * are pinned, and a failed call changes nothing. Double build. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agrad.h"
#include "hostile_util.h"

static void teardown(void)
{
    ag_set_allocator(NULL);
    ag_step_end();
    ag_clear_error();
    ag_set_detect_anomaly(false);
    ag_set_grad_enabled(true);
    ag_set_num_threads(1);
}
TestSuite(hostile_autograd, .fini = teardown);

static ag_tensor *leaf(ag_real v) { return ag_set_requires_grad(ag_scalar(v), true); }

static ag_status id_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out);

/* A backward that fills its gradient with NaN by hand. */
static ag_status nan_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c;
    dx[0] = ag_empty(ag_shape_of(dy[0]));
    for (size_t i = 0; dx[0] && i < ag_numel(dx[0]); i++)
        ag_data(dx[0])[i] = NAN;
    return AG_OK;
}

static ag_tensor *vec(int n, ...)
{
    ag_real v[16];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        v[i] = (ag_real)va_arg(ap, double);
    va_end(ap);
    return ag_from(v, (size_t)n, AG_SHAPE(n));
}

static void snprint_is(const ag_tensor *t, const char *want)
{
    char buf[512];
    ag_snprint(buf, sizeof buf, t);
    EXPECT_NO_ERR();
    cr_assert_str_eq(buf, want);
}

/* --- errors ---------------------------------------------------------------------------- */

Test(hostile_autograd, errors_are_sticky_first_wins_and_clear)
{
    cr_assert_eq(ag_error(), AG_OK);
    cr_assert_str_eq(ag_error_message(), "");
    cr_assert_eq(ag_fail(AG_OK, "not an error"), AG_OK);
    cr_assert_eq(ag_error(), AG_OK, "AG_OK records nothing");
    cr_assert_eq(ag_fail(AG_ERR_SHAPE, "first %d", 1), AG_ERR_SHAPE);
    cr_assert_eq(ag_fail(AG_ERR_ARG, "second"), AG_ERR_ARG, "the code is returned");
    EXPECT_ERR(AG_ERR_SHAPE, "first 1");
    cr_assert_str_eq(ag_error_message(), "", "cleared");

    const char *volatile no_fmt = NULL;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-security" /* a NULL format on purpose */
    ag_fail(AG_ERR_ARG, no_fmt);
#pragma GCC diagnostic pop
    EXPECT_ERR(AG_ERR_ARG, "error 1 (no message given)");

    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ag_fail(AG_ERR_ARG, "%s", big);
    cr_assert_eq(strlen(ag_error_message()), 511, "a long message is truncated, not overflowed");
    ag_clear_error();
}

Test(hostile_autograd, shape_str_handles_bad_shapes)
{
    char b[AG_SHAPE_STRLEN];
    cr_assert_null(ag_shape_str(AG_SHAPE(2, 3), NULL));
    cr_assert_str_eq(ag_shape_str(AG_SCALAR, b), "[]");
    cr_assert_str_eq(ag_shape_str((ag_shape){ .ndim = -4 }, b), "[]");
    ag_shape nine = { .ndim = 9, .d = { 1, 2, 3, 4, 5, 6, 7, 8 } };
    cr_assert_str_eq(ag_shape_str(nine, b), "[1,2,3,4,5,6,7,8]", "clamped to AG_MAX_DIMS");
    ag_shape big = { .ndim = 8 };
    for (int i = 0; i < 8; i++)
        big.d[i] = INT64_MIN;
    cr_assert_lt(strlen(ag_shape_str(big, b)), AG_SHAPE_STRLEN, "the widest shape fits");
    cr_assert_eq(ag_shape_numel((ag_shape){ .ndim = 2, .d = { -3, 4 } }), 0);
    cr_assert_eq(ag_shape_numel((ag_shape){ .ndim = 12, .d = { 2, 2, 2, 2, 2, 2, 2, 2 } }), 256);
}

Test(hostile_autograd, ops_return_null_while_an_error_is_pending)
{
    ag_tensor *a = vec(2, 1.0, 2.0), *x = leaf(3);
    ag_fail(AG_ERR_SHAPE, "the first problem");
    cr_assert_null(ag_add(a, a));
    cr_assert_null(ag_mul(x, x));
    cr_assert_eq(ag_backward(x), AG_ERR_SHAPE, "backward refuses and returns the pending code");
    cr_assert_null(ag_grad(x), "nothing deposited");
    EXPECT_ERR(AG_ERR_SHAPE, "the first problem");
    ag_tensor *y = ag_mul(x, x);
    cr_assert_not_null(y, "after clearing, work goes on");
    cr_assert_eq(ag_backward(y), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 6);
    ag_free(a), ag_free(x);
}

/* --- creation -------------------------------------------------------------------------- */

Test(hostile_autograd, creation_rejects_bad_arguments)
{
    ag_real v[4] = { 1, 2, 3, 4 };
    FAILS(ag_from(NULL, 3, AG_SHAPE(3)), AG_ERR_ARG, "from: source array is NULL");
    FAILS(ag_from(NULL, 0, AG_SHAPE(0)), AG_ERR_ARG, "from: source array is NULL");
    FAILS(ag_from(v, 2, AG_SHAPE(3)), AG_ERR_SHAPE,
          "from: 2 values do not fill shape [3] (3 elements)");
    FAILS(ag_from(v, 4, AG_SHAPE(2, -2)), AG_ERR_SHAPE, "from: negative dimension in shape [2,-2]");
    FAILS(ag_from(v, 1, (ag_shape){ .ndim = 9 }), AG_ERR_SHAPE, "from: 9 dimensions (at most 8)");
    FAILS(ag_from(v, 1, (ag_shape){ .ndim = -1 }), AG_ERR_SHAPE, "from: -1 dimensions (at most 8)");

    FAILS(ag_zeros(AG_SHAPE(-2)), AG_ERR_SHAPE, "zeros: negative dimension in shape [-2]");
    FAILS(ag_ones(AG_SHAPE(3, -1)), AG_ERR_SHAPE, "ones: negative dimension in shape [3,-1]");
    FAILS(ag_full(AG_SHAPE(-1), 2), AG_ERR_SHAPE, "full: negative dimension in shape [-1]");
    FAILS(ag_rand(AG_SHAPE(-1)), AG_ERR_SHAPE, "rand: negative dimension in shape [-1]");
    FAILS(ag_randn((ag_shape){ .ndim = 100 }), AG_ERR_SHAPE, "randn: 100 dimensions (at most 8)");
    FAILS(ag_zeros(AG_SHAPE((int64_t)1 << 40, (int64_t)1 << 40)), AG_ERR_SHAPE,
          "zeros: shape [1099511627776,1099511627776] has too many elements");
    FAILS(ag_empty(AG_SHAPE(-5)), AG_ERR_SHAPE, "empty: negative dimension in shape [-5]");
    FAILS(ag_zeros_tape(AG_SHAPE(2, -5)), AG_ERR_SHAPE,
          "zeros_tape: negative dimension in shape [2,-5]");

    FAILS(ag_arange(0, 1, 0), AG_ERR_ARG, "arange: bad range start=0 end=1 step=0");
    FAILS(ag_arange(0, 5, -1), AG_ERR_ARG, "arange: bad range start=0 end=5 step=-1");
    FAILS(ag_arange(0, NAN, 1), AG_ERR_ARG, "arange: bad range start=0 end=nan step=1");
    FAILS(ag_arange(0, INFINITY, 1), AG_ERR_ARG, "arange: bad range start=0 end=inf step=1");
    FAILS(ag_arange(-1e300, 1e300, 1e-300), AG_ERR_ARG, "arange: inf elements is too many");
    FAILS(ag_arange(0, 1e18, 1), AG_ERR_SHAPE,
          "arange: shape [1000000000000000000] has too many elements");
    FAILS(ag_linspace(0, 1, -1), AG_ERR_ARG, "linspace: bad arguments start=0 end=1 steps=-1");
    FAILS(ag_linspace(-INFINITY, 1, 3), AG_ERR_ARG,
          "linspace: bad arguments start=-inf end=1 steps=3");
}

Test(hostile_autograd, empty_tensors_are_ordinary_tensors)
{
    ag_tensor *e = ag_zeros(AG_SHAPE(0, 3)), *r = ag_arange(2, 2, 1), *l = ag_linspace(0, 1, 0);
    ag_tensor *f = ag_from((ag_real[]){ 0 }, 0, AG_SHAPE(4, 0));
    cr_assert(e && r && l && f);
    EXPECT_NO_ERR();
    cr_assert_eq(ag_numel(e), 0);
    cr_assert_eq(ag_size(e, 1), 3);
    cr_assert_eq(ag_numel(r), 0);
    cr_assert_eq(ag_numel(l), 0);
    cr_assert_eq(ag_ndim(f), 2);
    snprint_is(e, "tensor([], size=(0, 3))");
    snprint_is(r, "tensor([])");
    ag_tensor *c = ag_clone(e);
    cr_assert_not_null(c);
    cr_assert_eq(ag_size(c, 0), 0);
    ag_tensor *z = ag_rand(AG_SHAPE(0));
    cr_assert_not_null(z);
    ag_free(e), ag_free(r), ag_free(l), ag_free(f), ag_free(c), ag_free(z);
}

/* --- queries --------------------------------------------------------------------------- */

Test(hostile_autograd, queries_reject_null_and_bad_dims)
{
    ag_tensor *t = ag_zeros(AG_SHAPE(2, 3)), *s = ag_scalar(5);
    cr_assert_eq(ag_ndim(NULL), -1);
    EXPECT_ERR(AG_ERR_ARG, "ndim: argument 0 is NULL");
    cr_assert_eq(ag_shape_of(NULL).ndim, -1);
    EXPECT_ERR(AG_ERR_ARG, "shape: argument 0 is NULL");
    cr_assert_eq(ag_size(NULL, 0), -1);
    EXPECT_ERR(AG_ERR_ARG, "size: argument 0 is NULL");
    cr_assert_eq(ag_size(t, 2), -1);
    EXPECT_ERR(AG_ERR_ARG, "size: dimension 2 out of range for 2-d tensor");
    cr_assert_eq(ag_size(t, -3), -1);
    EXPECT_ERR(AG_ERR_ARG, "size: dimension -3 out of range for 2-d tensor");
    cr_assert_eq(ag_size(s, 0), -1);
    EXPECT_ERR(AG_ERR_ARG, "size: dimension 0 out of range for 0-d tensor");
    cr_assert_eq(ag_size(t, -1), 3);
    cr_assert_eq(ag_numel(NULL), 0);
    EXPECT_ERR(AG_ERR_ARG, "numel: argument 0 is NULL");
    FAILS(ag_data(NULL), AG_ERR_ARG, "data: argument 0 is NULL");
    FAILS(ag_cdata(NULL), AG_ERR_ARG, "data: argument 0 is NULL");
    cr_assert(isnan(ag_item(NULL)));
    EXPECT_ERR(AG_ERR_ARG, "item: argument 0 is NULL");
    cr_assert(isnan(ag_item(t)));
    EXPECT_ERR(AG_ERR_SHAPE, "item: a tensor of shape [2,3] has 6 elements, not 1");
    ag_tensor *e = ag_zeros(AG_SHAPE(0));
    cr_assert(isnan(ag_item(e)));
    EXPECT_ERR(AG_ERR_SHAPE, "item: a tensor of shape [0] has 0 elements, not 1");
    FAILS(ag_set_requires_grad(NULL, true), AG_ERR_ARG, "set_requires_grad: argument 0 is NULL");
    cr_assert_not(ag_requires_grad(NULL));
    EXPECT_ERR(AG_ERR_ARG, "requires_grad: argument 0 is NULL");
    cr_assert_not(ag_is_leaf(NULL));
    EXPECT_ERR(AG_ERR_ARG, "is_leaf: argument 0 is NULL");
    FAILS(ag_grad(NULL), AG_ERR_ARG, "grad: argument 0 is NULL");
    FAILS(ag_clone(NULL), AG_ERR_ARG, "clone: argument 0 is NULL");
    FAILS(ag_detach(NULL), AG_ERR_ARG, "detach: argument 0 is NULL");
    /* the void functions take NULL silently, as free() does */
    ag_zero_grad(NULL);
    ag_clear_grad(NULL);
    ag_bump_version(NULL);
    ag_free(NULL);
    ag_tape_memory(NULL, NULL);
    EXPECT_NO_ERR();
    ag_free(t), ag_free(s), ag_free(e);
}

Test(hostile_autograd, op_results_cannot_be_made_leaves)
{
    ag_tensor *x = leaf(2), *c = ag_scalar(1);
    ag_tensor *y = ag_mul(x, x);
    FAILS(ag_set_requires_grad(y, true), AG_ERR_ARG,
          "set_requires_grad: only leaves (heap tensors) can be made to require "
                           "grad; use ag_clone first");
    cr_assert_null(ag_set_requires_grad(y, false), "turning it off is refused too");
    EXPECT_ERR(AG_ERR_ARG, "set_requires_grad: only leaves (heap tensors) can be made to require "
                           "grad; use ag_clone first");
    cr_assert(ag_requires_grad(y), "unchanged");
    ag_tensor *z = ag_add(c, c); /* a tape tensor without history */
    FAILS(ag_set_requires_grad(z, true), AG_ERR_ARG,
          "set_requires_grad: only leaves (heap tensors) can be made to require "
                           "grad; use ag_clone first");
    ag_free(y); /* a tape tensor: left to the tape */
    cr_assert_eq(ag_item(y), 4, "ag_free of a tape tensor does nothing");
    ag_free(x), ag_free(c);
}

/* --- printing -------------------------------------------------------------------------- */

Test(hostile_autograd, printing_nan_inf_and_bad_buffers)
{
    ag_tensor *a = vec(3, 0.0, 1.0, INFINITY), *b = vec(2, 1.5, NAN);
    ag_tensor *c = vec(3, NAN, INFINITY, -INFINITY);
    snprint_is(a, "tensor([0., 1., inf])");
    snprint_is(b, "tensor([1.5000,    nan])");
    snprint_is(c, "tensor([nan, inf, -inf])");
    char buf[8];
    int n = ag_snprint(buf, sizeof buf, a);
    cr_assert_eq(n, 21, "the length it needed");
    cr_assert_str_eq(buf, "tensor(", "truncated, terminated");
    cr_assert_eq(ag_snprint(NULL, 0, a), 21, "measuring needs no buffer");
    EXPECT_NO_ERR();
    cr_assert_eq(ag_snprint(NULL, 10, a), 0);
    EXPECT_ERR(AG_ERR_ARG, "print: buffer is NULL but size is 10");
    cr_assert_eq(ag_snprint(buf, sizeof buf, NULL), 0);
    cr_assert_str_eq(buf, "");
    EXPECT_ERR(AG_ERR_ARG, "print: argument 0 is NULL");
    ag_fprint(NULL, a);
    EXPECT_ERR(AG_ERR_ARG, "print: FILE is NULL");
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    ag_fprint(f, NULL);
    EXPECT_ERR(AG_ERR_ARG, "print: argument 0 is NULL");
    cr_assert_eq(ftell(f), 0, "nothing printed for a NULL tensor");
    fclose(f);
    ag_free(a), ag_free(b), ag_free(c);
}

/* --- the tape -------------------------------------------------------------------------- */

Test(hostile_autograd, backward_twice_needs_retain_graph)
{
    ag_tensor *x = leaf(3);
    ag_tensor *y = ag_mul(x, x);
    cr_assert_eq(ag_backward(y), AG_OK);
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "backward: mul: trying to backward through the graph a second time; "
                             "pass retain_graph the first time");
    cr_assert_eq(ag_item(ag_grad(x)), 6, "the failed backward added nothing");
    ag_step_end();
    y = ag_mul(x, x);
    ag_backward_opts keep = { .retain_graph = true };
    cr_assert_eq(ag_backward_ex(y, keep), AG_OK);
    cr_assert_eq(ag_backward_ex(y, keep), AG_OK);
    cr_assert_eq(ag_backward(y), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 24);
    ag_free(x);
}

Test(hostile_autograd, backward_of_results_without_grad)
{
    ag_tensor *x = leaf(3), *c = ag_scalar(2);
    ag_tensor *y = NULL;
    AG_NO_GRAD { y = ag_mul(x, x); }
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "backward: the tensor (shape []) does not require grad and has no "
                             "grad_fn");
    cr_assert_eq(ag_backward(ag_mul(c, c)), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "backward: the tensor (shape []) does not require grad and has no "
                             "grad_fn");
    cr_assert_eq(ag_backward(ag_detach(ag_mul(x, x))), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "backward: the tensor (shape []) does not require grad and has no "
                             "grad_fn");
    cr_assert_eq(ag_backward(c), AG_ERR_STATE, "a heap tensor without requires_grad");
    EXPECT_ERR(AG_ERR_STATE, "backward: the tensor (shape []) does not require grad and has no "
                             "grad_fn");
    cr_assert_eq(ag_backward(NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "backward: argument 0 is NULL");
    cr_assert_null(ag_grad(x));
    /* backward of a leaf itself is allowed, as in PyTorch: d x / d x = 1 */
    cr_assert_eq(ag_backward(x), AG_OK);
    cr_assert_eq(ag_item(ag_grad(x)), 1);
    ag_free(x), ag_free(c);
}

Test(hostile_autograd, backward_checks_grad_output)
{
    ag_tensor *x = ag_set_requires_grad(vec(3, 1.0, 2.0, 3.0), true);
    ag_tensor *y = ag_mul(x, x);
    cr_assert_eq(ag_backward(y), AG_ERR_SHAPE);
    EXPECT_ERR(AG_ERR_SHAPE, "backward: grad can be implicitly created only for one-element "
                             "outputs; the output has shape [3], pass grad_output");
    ag_tensor *g2 = vec(2, 1.0, 1.0);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){ .grad_output = g2 }), AG_ERR_SHAPE);
    EXPECT_ERR(AG_ERR_SHAPE, "backward: grad_output of shape [2] does not match the output's "
                             "shape [3]");
    ag_tensor *old = ag_add(x, x);
    ag_step_end();
    y = ag_mul(x, x);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){ .grad_output = old }), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, STALE("backward", 1));
    cr_assert_null(ag_grad(x));
    ag_tensor *e = ag_set_requires_grad(ag_zeros(AG_SHAPE(0)), true);
    cr_assert_eq(ag_backward(ag_mul(e, e)), AG_ERR_SHAPE, "an empty output has no element");
    EXPECT_ERR(AG_ERR_SHAPE, "backward: grad can be implicitly created only for one-element "
                             "outputs; the output has shape [0], pass grad_output");
    ag_free(x), ag_free(g2), ag_free(e);
}

Test(hostile_autograd, use_after_step_end_is_an_error)
{
    ag_tensor *x = leaf(3);
    ag_tensor *y = ag_mul(x, x);
    ag_tensor *kept = ag_clone(y);
    ag_step_end();
    cr_assert(isnan(ag_item(y)));
    EXPECT_ERR(AG_ERR_STATE, STALE("item", 0));
    FAILS(ag_add(x, y), AG_ERR_STATE, STALE("add", 1));
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, STALE("backward", 0));
    FAILS(ag_data(y), AG_ERR_STATE, STALE("data", 0));
    FAILS(ag_clone(y), AG_ERR_STATE, STALE("clone", 0));
    FAILS(ag_detach(y), AG_ERR_STATE, STALE("detach", 0));
    char buf[64];
    cr_assert_eq(ag_snprint(buf, sizeof buf, y), 0);
    EXPECT_ERR(AG_ERR_STATE, STALE("print", 0));
    cr_assert_eq(ag_register_hook(y, (ag_hook_fn)NULL, NULL), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, STALE("register_hook", 0));
    cr_assert_eq(ag_item(kept), 9, "a clone outlives the step");
    cr_assert_null(ag_grad(x));
    ag_free(x), ag_free(kept);
}

Test(hostile_autograd, grad_of_rejects_bad_arguments)
{
    ag_tensor *x = leaf(3), *c = ag_scalar(1), *u = leaf(1);
    ag_tensor *y = ag_mul(x, x), *res[2] = { 0 };
    ag_backward_opts keep = { .retain_graph = true };
    cr_assert_eq(ag_grad_of(y, -1, &x, res, keep), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "grad: the number of inputs is negative (-1)");
    cr_assert_eq(ag_grad_of(y, 1, NULL, res, keep), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "grad: inputs or result is NULL");
    cr_assert_eq(ag_grad_of(y, 1, &x, NULL, keep), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "grad: inputs or result is NULL");
    cr_assert_eq(ag_grad_of(y, 2, (ag_tensor *[]){ x, NULL }, res, keep), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "grad: argument 2 is NULL");
    cr_assert_eq(ag_grad_of(y, 1, &c, res, keep), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "grad: input 0 does not require grad");
    cr_assert_eq(ag_grad_of(NULL, 1, &x, res, keep), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "grad: argument 0 is NULL");
    cr_assert_eq(ag_grad_of(y, 2, (ag_tensor *[]){ x, u }, res, keep), AG_OK);
    cr_assert_eq(ag_item(res[0]), 6);
    cr_assert_null(res[1], "y does not depend on u");
    cr_assert_eq(ag_grad_of(y, 0, NULL, NULL, keep), AG_OK, "no inputs: nothing to do");
    cr_assert_null(ag_grad(x), ".grad is left alone");
    ag_free(x), ag_free(c), ag_free(u);
}

/* Hooks for the hook tests. */
static ag_tensor *g_stale;
static ag_tensor *hook_transpose(ag_tensor *g, void *user)
{
    (void)user;
    return ag_transpose(g, 0, 1);
}
static ag_tensor *hook_fails(ag_tensor *g, void *user)
{
    (void)g;
    ag_fail(AG_ERR_NUMERIC, "my hook: gradient refused (%s)", (const char *)user);
    return NULL;
}
static ag_tensor *hook_stale(ag_tensor *g, void *user)
{
    (void)g, (void)user;
    return g_stale;
}

Test(hostile_autograd, hooks_are_checked)
{
    ag_tensor *x = ag_set_requires_grad(ag_ones(AG_SHAPE(2, 3)), true), *c = ag_scalar(1);
    cr_assert_eq(ag_register_hook(NULL, hook_fails, NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "register_hook: argument 0 is NULL");
    cr_assert_eq(ag_register_hook(x, NULL, NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "register_hook: hook function is NULL");
    cr_assert_eq(ag_register_hook(c, hook_fails, NULL), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "register_hook: cannot register a hook on a tensor that does not "
                             "require grad");

    /* [2,3] -> [3,2]: same count, same rank, wrong shape */
    ag_tensor *y = ag_mul_scalar(x, 2);
    cr_assert_eq(ag_register_hook(y, hook_transpose, NULL), AG_OK);
    cr_assert_eq(ag_backward(ag_sum(y)), AG_ERR_SHAPE);
    EXPECT_ERR(AG_ERR_SHAPE, "hook: returned a gradient of shape [3,2] for a tensor of shape [2,3]");
    cr_assert_null(ag_grad(x));
    ag_step_end();

    y = ag_mul_scalar(x, 2);
    ag_register_hook(y, hook_fails, "why");
    cr_assert_eq(ag_backward(ag_sum(y)), AG_ERR_NUMERIC);
    EXPECT_ERR(AG_ERR_NUMERIC, "my hook: gradient refused (why)");
    cr_assert_null(ag_grad(x));
    ag_step_end();

    g_stale = ag_zeros_tape(AG_SHAPE(2, 3));
    ag_step_end();
    y = ag_mul_scalar(x, 2);
    ag_register_hook(y, hook_stale, NULL);
    cr_assert_eq(ag_backward(ag_sum(y)), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, STALE("hook", 0));
    cr_assert_null(ag_grad(x));
    ag_free(x), ag_free(c);
}

Test(hostile_autograd, saved_tensor_changed_in_place)
{
    ag_tensor *x = leaf(3), *w = leaf(2);
    ag_tensor *y = ag_mul(x, w);
    ag_data(w)[0] = 5;
    ag_bump_version(w);
    cr_assert_eq(ag_backward(y), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "mul: a tensor saved for backward was modified in place since "
                             "(version 1, saved at 0)");
    cr_assert_null(ag_grad(x));
    cr_assert_null(ag_grad(w));
    ag_free(x), ag_free(w);
}

Test(hostile_autograd, anomaly_mode_names_the_op)
{
    ag_tensor *neg = ag_set_requires_grad(vec(2, -1.0, 1.0), true), *z = leaf(0);
    ag_set_detect_anomaly(true);
    FAILS(ag_log(neg), AG_ERR_NUMERIC,
          "anomaly: log forward produced NaN or Inf in result 0 of shape [2]");
    ag_tensor *y = ag_sqrt(z); /* sqrt(0) = 0 is fine; its gradient is 1/0 */
    cr_assert_not_null(y);
    cr_assert_eq(ag_backward(y), AG_ERR_NUMERIC);
    EXPECT_ERR(AG_ERR_NUMERIC, "anomaly: sqrt backward produced NaN or Inf (in its div, result "
                               "of shape [])");
    cr_assert_null(ag_grad(z), "a failed backward leaves .grad alone");
    /* a backward that writes its gradient directly (no op to catch it in) */
    const ag_op raw = { .name = "raw", .n_in = 1, .n_out = 1, .forward = id_fwd,
                        .backward = nan_bwd };
    ag_tensor *y2 = ag_apply(&raw, &neg, 1, NULL, 0, NULL);
    cr_assert_eq(ag_backward_ex(y2, (ag_backward_opts){ .grad_output = neg }), AG_ERR_NUMERIC);
    EXPECT_ERR(AG_ERR_NUMERIC, "anomaly: raw backward produced NaN or Inf in the gradient of input "
                               "0 (shape [2])");
    cr_assert_null(ag_grad(neg));
    ag_step_end();
    ag_set_detect_anomaly(false);
    cr_assert_eq(ag_backward(ag_sqrt(z)), AG_OK, "without anomaly mode inf is a value");
    cr_assert(isinf(ag_item(ag_grad(z))));
    ag_free(neg), ag_free(z);
}

/* --- freed tensors (detectable while their memory is not reused: a quarantine) ------------ */

Test(hostile_autograd, freed_tensors_are_refused)
{
    quarantine_start();
    ag_tensor *x = vec(2, 1.0, 2.0), *p = leaf(1);
    ag_free(x);
    FAILS(ag_add(x, x), AG_ERR_STATE, "add: argument 0 is not a live tensor (freed?)");
    cr_assert(isnan(ag_item(x)));
    EXPECT_ERR(AG_ERR_STATE, "item: argument 0 is not a live tensor (freed?)");
    FAILS(ag_clone(x), AG_ERR_STATE, "clone: argument 0 is not a live tensor (freed?)");
    ag_free(x); /* a second free is recognised and ignored */
    EXPECT_NO_ERR();
    ag_tensor *q = leaf(2), *y = ag_mul(p, p), *z = ag_add_scalar(q, 1);
    ag_free(p);
    ag_free(q);
    cr_assert_eq(ag_backward(y), AG_ERR_STATE, "mul's backward reads the freed leaf");
    EXPECT_ERR(AG_ERR_STATE, "mul: argument 1 is not a live tensor (freed?)");
    cr_assert_eq(ag_backward(z), AG_ERR_STATE, "add's backward does not, the sweep sees it");
    EXPECT_ERR(AG_ERR_STATE, "backward: a leaf of the graph (shape []) was freed");
    quarantine_drain();
}

/* --- allocation failures --------------------------------------------------------------- */

static long fail_countdown = -1; /* fail when it reaches 0 */
static size_t last_size;
static void *f_alloc(size_t n, void *u)
{
    (void)u;
    last_size = n;
    if (fail_countdown >= 0 && fail_countdown-- == 0)
        return NULL;
    return malloc(n);
}
static void f_release(void *p, void *u) { (void)u, free(p); }

Test(hostile_autograd, allocation_failures_are_oom_errors)
{
    ag_set_allocator(&(ag_allocator){ f_alloc, f_release, NULL });
    fail_countdown = 0;
    cr_assert_null(ag_zeros(AG_SHAPE(3)));
    char want[96];
    snprintf(want, sizeof want, "out of memory allocating %zu bytes", last_size);
    EXPECT_ERR(AG_ERR_OOM, want);
    /* the first tape allocation of a thread makes the arena's first chunk */
    ag_tensor *a = ag_ones(AG_SHAPE(3));
    ag_tensor *b = ag_add(a, a);
    cr_assert_not_null(b);
    ag_step_end();
    ag_tensor *huge = ag_zeros(AG_SHAPE(1 << 18)); /* 2 MB: more than a chunk */
    fail_countdown = 0;
    cr_assert_null(ag_add(huge, huge));
    snprintf(want, sizeof want, "out of memory allocating %zu bytes", last_size);
    EXPECT_ERR(AG_ERR_OOM, want);
    fail_countdown = -1;
    cr_assert_not_null(ag_add(huge, huge), "the next try works");
    /* a partial allocator is refused: the C library's functions are restored */
    ag_set_allocator(&(ag_allocator){ NULL, f_release, NULL });
    fail_countdown = 0;
    ag_tensor *c = ag_zeros(AG_SHAPE(2));
    cr_assert_not_null(c, "the default allocator is back");
    cr_assert_eq(fail_countdown, 0, "the hook was not called");
    ag_free(a), ag_free(huge), ag_free(c);
}

/* --- threads --------------------------------------------------------------------------- */

typedef struct shared {
    pthread_barrier_t made, used;
    ag_tensor *x, *y;
    ag_status err_in_thread;
    double value_in_thread;
} shared;

static void *make_tape_tensor(void *arg)
{
    shared *s = arg;
    s->y = ag_mul(s->x, s->x); /* on this thread's tape */
    pthread_barrier_wait(&s->made);
    pthread_barrier_wait(&s->used); /* stay alive (the tape with it) while main uses y */
    s->err_in_thread = ag_error();
    s->value_in_thread = ag_item(s->y); /* still fine on its own thread */
    return NULL;
}

Test(hostile_autograd, another_threads_tape_tensor_is_refused)
{
    shared s = { .x = leaf(2) };
    pthread_barrier_init(&s.made, NULL, 2);
    pthread_barrier_init(&s.used, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, make_tape_tensor, &s);
    pthread_barrier_wait(&s.made);
    FAILS(ag_add(s.y, s.y), AG_ERR_STATE, STALE("add", 0));
    cr_assert_eq(ag_backward(s.y), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, STALE("backward", 0));
    cr_assert(isnan(ag_item(s.y)));
    EXPECT_ERR(AG_ERR_STATE, STALE("item", 0));
    FAILS(ag_matmul(s.y, s.x), AG_ERR_STATE, STALE("matmul", 0));
    FAILS(ag_relu(s.y), AG_ERR_STATE, STALE("relu", 0));
    pthread_barrier_wait(&s.used);
    pthread_join(t, NULL);
    cr_assert_eq(s.err_in_thread, AG_OK, "main's errors are not the thread's");
    cr_assert_eq(s.value_in_thread, 4);
    cr_assert_null(ag_grad(s.x));
    pthread_barrier_destroy(&s.made);
    pthread_barrier_destroy(&s.used);
    ag_free(s.x);
}

static void *thread_state(void *arg)
{
    double *out = arg;
    out[0] = ag_error();
    out[1] = ag_is_grad_enabled();
    out[2] = ag_rand_uniform(); /* the default seed 0 */
    ag_fail(AG_ERR_ARG, "thread error");
    return NULL;
}

Test(hostile_autograd, error_grad_mode_and_generator_are_per_thread)
{
    ag_manual_seed(0);
    double first = ag_rand_uniform();
    ag_manual_seed(12345);
    ag_fail(AG_ERR_SHAPE, "main error");
    bool prev = ag_set_grad_enabled(false);
    double out[3];
    pthread_t t;
    pthread_create(&t, NULL, thread_state, out);
    pthread_join(t, NULL);
    ag_set_grad_enabled(prev);
    cr_assert_eq(out[0], AG_OK);
    cr_assert_eq(out[1], 1);
    cr_assert_eq(out[2], first);
    EXPECT_ERR(AG_ERR_SHAPE, "main error");
}

Test(hostile_autograd, thread_count_and_generator_state_are_clamped)
{
    ag_set_num_threads(0);
    cr_assert_eq(ag_get_num_threads(), 1);
    ag_set_num_threads(-7);
    cr_assert_eq(ag_get_num_threads(), 1);
    ag_set_num_threads(100000);
    cr_assert_eq(ag_get_num_threads(), 64);
    ag_set_num_threads(1);
    ag_manual_seed(7);
    ag_rng_state st = ag_get_rng_state();
    double a = ag_rand_normal();
    ag_set_rng_state((ag_rng_state){ { 0, 0, 0, 0 } });
    EXPECT_ERR(AG_ERR_ARG, "set_rng_state: the all-zero state is not a valid generator state");
    ag_set_rng_state(st);
    cr_assert_eq(ag_rand_normal(), a, "the state round-trips");
    double u = ag_rand_uniform();
    cr_assert(u >= 0 && u < 1);
}

/* --- the op API ------------------------------------------------------------------------ */

static ag_status id_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    (void)c;
    out[0] = ag_empty(ag_shape_of(in[0]));
    if (out[0])
        memcpy(ag_data(out[0]), ag_cdata(in[0]), ag_numel(in[0]) * sizeof(ag_real));
    return AG_OK;
}
static ag_status no_out_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    (void)c, (void)in, (void)out;
    return AG_OK;
}
static ag_status silent_fail_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    (void)c, (void)in, (void)out;
    return AG_ERR_NUMERIC;
}
static ag_status save7_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    for (int i = 0; i < 7; i++)
        ag_ctx_save(c, in[0]);
    return id_fwd(c, in, out);
}
static ag_status bad_shape_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c, (void)dy;
    dx[0] = ag_zeros_tape(AG_SHAPE(2));
    return AG_OK;
}
static ag_status silent_fail_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c, (void)dy, (void)dx;
    return AG_ERR_UNSUPPORTED;
}
static ag_status bad_saved_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)dy;
    dx[0] = ag_ctx_saved(c, 5);
    return AG_OK;
}
static ag_status copy_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c;
    dx[0] = dy[0];
    return AG_OK;
}

Test(hostile_autograd, malformed_ops_are_refused)
{
    ag_tensor *x = ag_set_requires_grad(vec(3, 1.0, 2.0, 3.0), true);
    ag_tensor *in[9] = { x, x, x, x, x, x, x, x, x };
    FAILS(ag_apply(NULL, in, 1, NULL, 0, NULL), AG_ERR_ARG, "apply: op is NULL or malformed");
    const ag_op no_name = { .n_in = 1, .n_out = 1, .forward = id_fwd };
    const ag_op no_fwd = { .name = "nofwd", .n_in = 1, .n_out = 1 };
    const ag_op zero_out = { .name = "zero", .n_in = 1, .n_out = 0, .forward = id_fwd };
    const ag_op five_out = { .name = "five", .n_in = 1, .n_out = 5, .forward = id_fwd };
    const ag_op *bad[] = { &no_name, &no_fwd, &zero_out, &five_out };
    for (int i = 0; i < 4; i++) {
        FAILS(ag_apply(bad[i], in, 1, NULL, 0, NULL), AG_ERR_ARG, "apply: op is NULL or malformed");
    }
    const ag_op two = { .name = "two", .n_in = 2, .n_out = 1, .forward = id_fwd };
    FAILS(ag_apply(&two, in, 1, NULL, 0, NULL), AG_ERR_ARG, "two: expects 2 inputs, got 1");
    const ag_op any = { .name = "any", .n_in = 0, .n_out = 1, .forward = id_fwd };
    FAILS(ag_apply(&any, in, 9, NULL, 0, NULL), AG_ERR_ARG, "any: expects 0 inputs, got 9");
    FAILS(ag_apply(&any, in, -1, NULL, 0, NULL), AG_ERR_ARG, "any: expects 0 inputs, got -1");
    FAILS(ag_apply(&two, NULL, 2, NULL, 0, NULL), AG_ERR_ARG, "two: the inputs array is NULL");
    FAILS(ag_apply(&two, (ag_tensor *[]){ x, NULL }, 2, NULL, 0, NULL), AG_ERR_ARG,
          "two: argument 1 is NULL");

    const ag_op no_out = { .name = "no_out", .n_in = 1, .n_out = 1, .forward = no_out_fwd };
    FAILS(ag_apply(&no_out, in, 1, NULL, 0, NULL), AG_ERR_ARG,
          "no_out: forward returned no output 0");
    const ag_op silent = { .name = "silent", .n_in = 1, .n_out = 1, .forward = silent_fail_fwd };
    FAILS(ag_apply(&silent, in, 1, NULL, 0, NULL), AG_ERR_NUMERIC, "silent: forward failed");
    const ag_op save7 = { .name = "save7", .n_in = 1, .n_out = 1, .forward = save7_fwd };
    FAILS(ag_apply(&save7, in, 1, NULL, 0, NULL), AG_ERR_ARG, "save7: saves more than 6 tensors");
    ag_free(x);
}

Test(hostile_autograd, misbehaving_backwards_are_reported)
{
    ag_tensor *x = ag_set_requires_grad(vec(3, 1.0, 2.0, 3.0), true);
    ag_tensor *g = ag_ones(AG_SHAPE(3));
    ag_backward_opts o = { .grad_output = g };
    const ag_op nobw = { .name = "nobw", .n_in = 1, .n_out = 1, .forward = id_fwd };
    cr_assert_eq(ag_backward_ex(ag_apply(&nobw, &x, 1, NULL, 0, NULL), o), AG_ERR_UNSUPPORTED);
    EXPECT_ERR(AG_ERR_UNSUPPORTED, "backward: nobw has no backward");
    const ag_op badsh = { .name = "badsh", .n_in = 1, .n_out = 1, .forward = id_fwd,
                          .backward = bad_shape_bwd };
    cr_assert_eq(ag_backward_ex(ag_apply(&badsh, &x, 1, NULL, 0, NULL), o), AG_ERR_SHAPE);
    EXPECT_ERR(AG_ERR_SHAPE, "backward: badsh returned a gradient of shape [2] for input 0 of "
                             "shape [3]");
    const ag_op sil = { .name = "sil", .n_in = 1, .n_out = 1, .forward = id_fwd,
                        .backward = silent_fail_bwd };
    cr_assert_eq(ag_backward_ex(ag_apply(&sil, &x, 1, NULL, 0, NULL), o), AG_ERR_UNSUPPORTED);
    EXPECT_ERR(AG_ERR_UNSUPPORTED, "backward: sil failed");
    const ag_op nosave = { .name = "nosave", .n_in = 1, .n_out = 1, .forward = id_fwd,
                           .backward = bad_saved_bwd };
    cr_assert_eq(ag_backward_ex(ag_apply(&nosave, &x, 1, NULL, 0, NULL), o), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "nosave: no saved tensor 5");
    const ag_op once = { .name = "once", .n_in = 1, .n_out = 1, .forward = id_fwd,
                         .backward = copy_bwd, .once_differentiable = true };
    ag_backward_opts cg = { .grad_output = g, .create_graph = true };
    cr_assert_eq(ag_backward_ex(ag_apply(&once, &x, 1, NULL, 0, NULL), cg), AG_ERR_UNSUPPORTED);
    EXPECT_ERR(AG_ERR_UNSUPPORTED, "backward: once: its backward is not differentiable "
                                   "(create_graph is not supported through this op)");
    cr_assert_null(ag_grad(x), "no failed backward deposited anything");
    cr_assert_eq(ag_backward_ex(ag_apply(&once, &x, 1, NULL, 0, NULL), o), AG_OK);
    cr_assert_eq(ag_cdata(ag_grad(x))[2], 1);
    ag_free(x), ag_free(g);
}

Test(hostile_autograd, ctx_accessors_take_null)
{
    FAILS(ag_ctx_attrs(NULL), AG_ERR_ARG, "ctx_attrs: ctx is NULL");
    cr_assert_eq(ag_ctx_n_in(NULL), 0);
    EXPECT_ERR(AG_ERR_ARG, "ctx_n_in: ctx is NULL");
    FAILS(ag_ctx_input(NULL, 0), AG_ERR_ARG, "ctx_input: ctx is NULL");
    FAILS(ag_ctx_output(NULL, 0), AG_ERR_ARG, "ctx_output: ctx is NULL");
    cr_assert_not(ag_ctx_needs_grad(NULL, 0));
    EXPECT_ERR(AG_ERR_ARG, "ctx_needs_grad: ctx is NULL");
    ag_ctx_save(NULL, NULL);
    EXPECT_ERR(AG_ERR_ARG, "ctx_save: ctx is NULL");
    FAILS(ag_ctx_saved(NULL, 0), AG_ERR_ARG, "ctx_saved: ctx is NULL");
    FAILS(ag_ctx_alloc(NULL, 8), AG_ERR_ARG, "ctx_alloc: ctx is NULL");
    ag_ctx_mark_non_differentiable(NULL, 0);
    EXPECT_ERR(AG_ERR_ARG, "ctx_mark_non_differentiable: ctx is NULL");
}

/* --- gradcheck ------------------------------------------------------------------------- */

static ag_tensor *square(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    return ag_mul(in[0], in[0]);
}
static ag_tensor *returns_null(ag_tensor *const *in, int n, void *user)
{
    (void)in, (void)n, (void)user;
    return NULL;
}

Test(hostile_autograd, gradcheck_rejects_bad_arguments)
{
    ag_tensor *x = ag_set_requires_grad(vec(2, 1.0, 2.0), true), *c = vec(2, 1.0, 2.0);
    ag_gradcheck_opts o = { .quiet = true };
    ag_gradcheck_report r;
    cr_assert_not(ag_gradcheck(NULL, &x, 1, NULL, o, &r));
    EXPECT_ERR(AG_ERR_ARG, "gradcheck: fn or inputs is NULL, or n = 1 is out of range");
    cr_assert_not(r.ok);
    cr_assert_not(ag_gradcheck(square, NULL, 1, NULL, o, NULL));
    EXPECT_ERR(AG_ERR_ARG, "gradcheck: fn or inputs is NULL, or n = 1 is out of range");
    cr_assert_not(ag_gradcheck(square, &x, 0, NULL, o, NULL));
    EXPECT_ERR(AG_ERR_ARG, "gradcheck: fn or inputs is NULL, or n = 0 is out of range");
    cr_assert_not(ag_gradgradcheck(square, &x, 33, NULL, o, NULL));
    EXPECT_ERR(AG_ERR_ARG, "gradgradcheck: fn or inputs is NULL, or n = 33 is out of range");
    cr_assert_not(ag_gradcheck(square, (ag_tensor *[]){ NULL }, 1, NULL, o, NULL));
    EXPECT_ERR(AG_ERR_ARG, "gradcheck: argument 0 is NULL");
    ag_tensor *t = ag_add(x, x);
    cr_assert_not(ag_gradcheck(square, &t, 1, NULL, o, NULL));
    EXPECT_ERR(AG_ERR_ARG, "gradcheck: input 0 must be a heap tensor (ag_from, ag_randn...)");
    cr_assert_not(ag_gradcheck(square, &c, 1, NULL, o, NULL));
    EXPECT_ERR(AG_ERR_ARG, "gradcheck: no input requires grad");
    cr_assert_not(ag_gradcheck(returns_null, &x, 1, NULL, o, NULL));
    EXPECT_ERR(AG_ERR_ARG, "gradcheck: fn returned NULL without reporting an error");
    ag_fail(AG_ERR_IO, "pending");
    cr_assert_not(ag_gradcheck(square, &x, 1, NULL, o, NULL), "refuses while an error is pending");
    EXPECT_ERR(AG_ERR_IO, "pending");
    cr_assert(ag_gradcheck(square, &x, 1, NULL, o, NULL));
    cr_assert(ag_gradgradcheck(square, &x, 1, NULL, o, NULL));
    ag_free(x), ag_free(c);
}

/* --- pictures of the graph ------------------------------------------------------------- */

Test(hostile_autograd, export_dot_rejects_bad_arguments)
{
    ag_tensor *x = leaf(2), *c = ag_scalar(3);
    ag_tensor *y = ag_mul(ag_add(x, c), x);
    FILE *f = tmpfile();
    cr_assert_eq(ag_export_dot(NULL, NULL, f), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "export_dot: argument 0 is NULL");
    cr_assert_eq(ag_export_dot(y, NULL, NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "export_dot: the file is NULL");
    cr_assert_eq(ag_export_dot_file(y, NULL, NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "export_dot: the path is NULL");
    cr_assert_eq(ag_export_dot_file(y, NULL, "/nonexistent-dir/graph.dot"), AG_ERR_IO);
    EXPECT_ERR(AG_ERR_IO, "export_dot: cannot open '/nonexistent-dir/graph.dot': No such file or "
                          "directory");
    FILE *ro = fopen("/dev/null", "r");
    cr_assert_eq(ag_export_dot(y, NULL, ro), AG_ERR_IO, "a stream that cannot be written");
    EXPECT_ERR(AG_ERR_IO, "export_dot: writing the graph failed");
    fclose(ro);
    /* a names list with holes, a negative count, NULL arrays: names are just left out */
    const ag_params holes = { 2, (ag_tensor *[]){ x, c }, (const char *[]){ NULL, "c\"\\" } };
    cr_assert_eq(ag_export_dot(y, &holes, f), AG_OK);
    cr_assert_eq(ag_export_dot(y, &(ag_params){ -5, NULL, NULL }, f), AG_OK);
    cr_assert_eq(ag_export_dot(y, &(ag_params){ 2, NULL, (const char *[]){ "a", "b" } }, f), AG_OK);
    cr_assert_eq(ag_export_dot(c, NULL, f), AG_OK, "a leaf is a graph of one box");
    EXPECT_NO_ERR();
    ag_step_end();
    cr_assert_eq(ag_export_dot(y, NULL, f), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, STALE("export_dot", 0));
    fclose(f);
    ag_free(x), ag_free(c);
}

/* --- ending the step from inside the tape's own callbacks ------------------------------ */

static ag_tensor *hook_ends_step(ag_tensor *g, void *user)
{
    (void)g, (void)user;
    ag_step_end();
    return NULL;
}
static ag_status fwd_ends_step(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_status st = id_fwd(c, in, out);
    ag_step_end();
    return st;
}
static ag_status bwd_ends_step(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c;
    dx[0] = dy[0];
    ag_step_end();
    return AG_OK;
}

Test(hostile_autograd, step_end_inside_forward_backward_or_hook_is_refused)
{
    ag_tensor *x = ag_set_requires_grad(vec(3, 1.0, 2.0, 3.0), true);
    const ag_op f = { .name = "ends_in_fwd", .n_in = 1, .n_out = 1, .forward = fwd_ends_step,
                      .backward = copy_bwd };
    FAILS(ag_apply(&f, &x, 1, NULL, 0, NULL), AG_ERR_STATE,
          "ends_in_fwd: ag_step_end was called inside the op's forward");

    ag_tensor *y = ag_tanh(ag_mul(x, x));
    ag_register_hook(y, hook_ends_step, NULL);
    cr_assert_eq(ag_backward(ag_sum(y)), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "backward: ag_step_end was called inside a hook (the graph being "
                             "differentiated is gone)");
    cr_assert_null(ag_grad(x));

    const ag_op b = { .name = "ends_in_bwd", .n_in = 1, .n_out = 1, .forward = id_fwd,
                      .backward = bwd_ends_step };
    cr_assert_eq(ag_backward(ag_sum(ag_apply(&b, &x, 1, NULL, 0, NULL))), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "backward: ends_in_bwd: ag_step_end was called inside its backward "
                             "(the graph being differentiated is gone)");
    cr_assert_null(ag_grad(x));
    cr_assert_eq(ag_backward(ag_sum(ag_mul(x, x))), AG_OK, "the tape works on");
    ag_free(x);
}
