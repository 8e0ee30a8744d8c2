/* test_hostile_ops.c — every function of ops.h fed hostile input: NULL in each tensor or
 * array argument, tensors from an ended step, shapes that do not fit, bad dims, bad
 * reductions and options, out-of-range class indices and CTC arguments, empty tensors
 * (PyTorch's results: sum of nothing 0, mean NaN, max an error, matmul with K = 0 zeros),
 * and NaN / Inf where the result is defined (propagated as PyTorch does). Each error's code
 * and full message are pinned. Double build. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "agrad.h"
#include "hostile_util.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
    ag_set_grad_enabled(true);
}
TestSuite(hostile_ops, .fini = teardown);

/* a NULL argument: FAILS with AG_ERR_ARG */
#define NULL_ARG(expr, msg) FAILS(expr, AG_ERR_ARG, msg)

/* Heap tensors made here are kept in a list and freed by the test's end. */
static ag_tensor *keep[256];
static int n_keep;
static ag_tensor *K(ag_tensor *t)
{
    cr_assert_not_null(t, "creation failed: %s", ag_error_message());
    keep[n_keep++] = t;
    return t;
}
static void free_all(void)
{
    while (n_keep)
        ag_free(keep[--n_keep]);
}

/* A heap tensor of shape s from the values that follow. */
static ag_tensor *T(ag_shape s, ...)
{
    ag_real v[64];
    size_t n = ag_shape_numel(s);
    va_list ap;
    va_start(ap, s);
    for (size_t i = 0; i < n; i++)
        v[i] = (ag_real)va_arg(ap, double);
    va_end(ap);
    return K(ag_from(v, n, s));
}
static ag_tensor *Z(ag_shape s) { return K(ag_zeros(s)); }
static ag_tensor *G(ag_tensor *t) { return ag_set_requires_grad(t, true); }

static void values_are(const ag_tensor *t, int n, ...)
{
    cr_assert_not_null(t, "NULL result: %s", ag_error_message());
    cr_assert_eq(ag_numel(t), (size_t)n, "numel %zu, expected %d", ag_numel(t), n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        double want = va_arg(ap, double), got = ag_cdata(t)[i];
        if (isnan(want))
            cr_assert(isnan(got), "element %d: %g, expected nan", i, got);
        else
            cr_assert(got == want || fabs(got - want) < 1e-12 * fabs(want),
                      "element %d: %.17g, expected %.17g", i, got, want);
    }
    va_end(ap);
}

static void shape_is(const ag_tensor *t, ag_shape s)
{
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    cr_assert_not_null(t, "NULL result: %s", ag_error_message());
    ag_shape got = ag_shape_of(t);
    cr_assert_str_eq(ag_shape_str(got, a), ag_shape_str(s, b));
}

/* A table entry for op NAME: its name as the error messages give it, and ag_NAME. */
#define OP(name) { #name, ag_##name }

/* The ops whose one argument is a tensor. */
static const struct {
    const char *name;
    ag_tensor *(*f)(ag_tensor *);
} ONE_TENSOR[] = {
    OP(neg), OP(exp), OP(log), OP(sqrt), OP(abs), OP(sign), OP(sin), OP(cos), OP(relu),
    OP(sigmoid), OP(tanh), OP(silu), OP(sum), OP(mean), OP(max),
};

/* The elementwise ops of two tensors. */
static const struct {
    const char *name;
    ag_tensor *(*f)(ag_tensor *, ag_tensor *);
} TWO_TENSORS[] = {
    OP(add), OP(sub), OP(mul), OP(div), OP(maximum), OP(minimum),
};

/* The losses of (input, target, reduction). */
static const struct {
    const char *name;
    ag_tensor *(*f)(ag_tensor *, ag_tensor *, ag_reduction);
} PLAIN_LOSSES[] = {
    OP(mse_loss), OP(l1_loss), OP(binary_cross_entropy), OP(binary_cross_entropy_with_logits),
};

/* The number of entries of a table. */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* r, what op `name` gave with a NULL in argument i, is NULL with exactly AG_ERR_ARG
 * "<name>: argument <i> is NULL"; a failure names the op and the argument. */
static void null_arg_refused(ag_tensor *r, const char *name, int i)
{
    char msg[96];
    snprintf(msg, sizeof msg, "%s: argument %d is NULL", name, i);
    cr_assert_null(r, "%s with argument %d NULL should fail", name, i);
    cr_assert_eq(ag_error(), AG_ERR_ARG, "%s, argument %d: error code %d (message: %s)", name, i,
                 (int)ag_error(), ag_error_message());
    cr_assert_str_eq(ag_error_message(), msg, "%s, argument %d: message \"%s\"", name, i,
                     ag_error_message());
    ag_clear_error();
}

/* --- NULL arguments -------------------------------------------------------------------- */

Test(hostile_ops, null_arguments_name_the_function_and_position, .fini = free_all)
{
    ag_tensor *a = T(AG_SHAPE(2), 1.0, 2.0), *m = Z(AG_SHAPE(2, 2));
    int64_t cls[2] = { 0, 1 };
    /* the ops of the tables above, a NULL in each tensor argument in turn */
    for (size_t k = 0; k < COUNT(ONE_TENSOR); k++)
        null_arg_refused(ONE_TENSOR[k].f(NULL), ONE_TENSOR[k].name, 0);
    for (size_t k = 0; k < COUNT(TWO_TENSORS); k++) {
        null_arg_refused(TWO_TENSORS[k].f(NULL, a), TWO_TENSORS[k].name, 0);
        null_arg_refused(TWO_TENSORS[k].f(a, NULL), TWO_TENSORS[k].name, 1);
    }
    for (size_t k = 0; k < COUNT(PLAIN_LOSSES); k++) {
        null_arg_refused(PLAIN_LOSSES[k].f(NULL, a, AG_MEAN), PLAIN_LOSSES[k].name, 0);
        null_arg_refused(PLAIN_LOSSES[k].f(a, NULL, AG_MEAN), PLAIN_LOSSES[k].name, 1);
    }
    NULL_ARG(ag_add_scalar(NULL, 1), "add_scalar: argument 0 is NULL");
    NULL_ARG(ag_sub_scalar(NULL, 1), "sub_scalar: argument 0 is NULL");
    NULL_ARG(ag_rsub_scalar(1, NULL), "rsub_scalar: argument 1 is NULL");
    NULL_ARG(ag_mul_scalar(NULL, 1), "mul_scalar: argument 0 is NULL");
    NULL_ARG(ag_div_scalar(NULL, 1), "div_scalar: argument 0 is NULL");
    NULL_ARG(ag_rdiv_scalar(1, NULL), "rdiv_scalar: argument 1 is NULL");
    NULL_ARG(ag_addcmul(NULL, a, a), "addcmul: argument 0 is NULL");
    NULL_ARG(ag_addcmul(a, NULL, a), "addcmul: argument 1 is NULL");
    NULL_ARG(ag_addcmul(a, a, NULL), "addcmul: argument 2 is NULL");

    NULL_ARG(ag_pow(NULL, 2), "pow: argument 0 is NULL");
    NULL_ARG(ag_leaky_relu(NULL, 0.01), "leaky_relu: argument 0 is NULL");
    NULL_ARG(ag_elu(NULL, 1), "elu: argument 0 is NULL");
    NULL_ARG(ag_gelu(NULL, false), "gelu: argument 0 is NULL");
    NULL_ARG(ag_softplus(NULL, 1, 20), "softplus: argument 0 is NULL");
    NULL_ARG(ag_clamp(NULL, 0, 1), "clamp: argument 0 is NULL");

    int d0 = 0;
    NULL_ARG(ag_sum_dims(NULL, &d0, 1, false), "sum: argument 0 is NULL");
    NULL_ARG(ag_mean_dims(NULL, &d0, 1, false), "mean: argument 0 is NULL");
    NULL_ARG(ag_logsumexp_dims(NULL, &d0, 1, false), "logsumexp: argument 0 is NULL");
    NULL_ARG(ag_sum_dim(NULL, 0, false), "sum: argument 0 is NULL");
    NULL_ARG(ag_mean_dim(NULL, 0, false), "mean: argument 0 is NULL");
    NULL_ARG(ag_max_dim(NULL, 0, false), "max: argument 0 is NULL");
    NULL_ARG(ag_logsumexp(NULL, 0, false), "logsumexp: argument 0 is NULL");
    NULL_ARG(ag_sum_to(NULL, AG_SHAPE(1)), "sum_to: argument 0 is NULL");
    NULL_ARG(ag_expand(NULL, AG_SHAPE(2)), "expand: argument 0 is NULL");
    NULL_ARG(ag_sum_dims(a, NULL, 1, false), "sum: bad dims list");
    NULL_ARG(ag_mean_dims(a, NULL, 1, false), "mean: bad dims list");
    NULL_ARG(ag_logsumexp_dims(a, NULL, 1, false), "logsumexp: bad dims list");

    NULL_ARG(ag_matmul(NULL, m), "matmul: argument 0 is NULL");
    NULL_ARG(ag_matmul(m, NULL), "matmul: argument 1 is NULL");
    NULL_ARG(ag_linear(NULL, m, NULL), "linear: argument 0 is NULL");
    NULL_ARG(ag_linear(m, NULL, NULL), "linear: argument 1 is NULL");
    NULL_ARG(ag_reshape(NULL, AG_SHAPE(2)), "reshape: argument 0 is NULL");
    NULL_ARG(ag_transpose(NULL, 0, 1), "transpose: argument 0 is NULL");
    NULL_ARG(ag_softmax(NULL, 0), "softmax: argument 0 is NULL");
    NULL_ARG(ag_log_softmax(NULL, 0), "log_softmax: argument 0 is NULL");

    NULL_ARG(ag_huber_loss(NULL, a, AG_MEAN, 1), "huber_loss: argument 0 is NULL");
    NULL_ARG(ag_huber_loss(a, NULL, AG_MEAN, 1), "huber_loss: argument 1 is NULL");
    NULL_ARG(ag_smooth_l1_loss(NULL, a, AG_MEAN, 1), "smooth_l1_loss: argument 0 is NULL");
    NULL_ARG(ag_smooth_l1_loss(a, NULL, AG_MEAN, 1), "smooth_l1_loss: argument 1 is NULL");
    NULL_ARG(ag_cross_entropy(NULL, cls, AG_MEAN, 0), "cross_entropy: argument 0 is NULL");
    NULL_ARG(ag_cross_entropy(m, NULL, AG_MEAN, 0), "cross_entropy: target is NULL");
    NULL_ARG(ag_cross_entropy_probs(NULL, m, AG_MEAN, 0), "cross_entropy: argument 0 is NULL");
    NULL_ARG(ag_cross_entropy_probs(m, NULL, AG_MEAN, 0), "cross_entropy: argument 1 is NULL");
    NULL_ARG(ag_nll_loss(NULL, cls, AG_MEAN), "nll_loss: argument 0 is NULL");
    NULL_ARG(ag_nll_loss(m, NULL, AG_MEAN), "nll_loss: target is NULL");
    NULL_ARG(ag_kl_div(NULL, a, AG_MEAN, false), "kl_div: argument 0 is NULL");
    NULL_ARG(ag_kl_div(a, NULL, AG_MEAN, false), "kl_div: argument 1 is NULL");
    NULL_ARG(ag_hinge_embedding_loss(NULL, a, 1, AG_MEAN), "hinge_embedding_loss: argument 0 is NULL");
    NULL_ARG(ag_hinge_embedding_loss(a, NULL, 1, AG_MEAN), "hinge_embedding_loss: argument 1 is NULL");
    NULL_ARG(ag_multi_margin_loss(NULL, cls, 1, 1, AG_MEAN), "multi_margin_loss: argument 0 is NULL");
    NULL_ARG(ag_multi_margin_loss(m, NULL, 1, 1, AG_MEAN), "multi_margin_loss: target is NULL");
    NULL_ARG(ag_margin_ranking_loss(NULL, a, a, 0, AG_MEAN), "margin_ranking_loss: argument 0 is NULL");
    NULL_ARG(ag_margin_ranking_loss(a, NULL, a, 0, AG_MEAN), "margin_ranking_loss: argument 1 is NULL");
    NULL_ARG(ag_margin_ranking_loss(a, a, NULL, 0, AG_MEAN), "margin_ranking_loss: argument 2 is NULL");
    NULL_ARG(ag_triplet_margin_loss(NULL, m, m, 1, 2, 1e-6, false, AG_MEAN),
             "triplet_margin_loss: argument 0 is NULL");
    NULL_ARG(ag_triplet_margin_loss(m, NULL, m, 1, 2, 1e-6, false, AG_MEAN),
             "triplet_margin_loss: argument 1 is NULL");
    NULL_ARG(ag_triplet_margin_loss(m, m, NULL, 1, 2, 1e-6, false, AG_MEAN),
             "triplet_margin_loss: argument 2 is NULL");
    NULL_ARG(ag_cosine_embedding_loss(NULL, m, a, 0, AG_MEAN), "cosine_embedding_loss: argument 0 is NULL");
    NULL_ARG(ag_cosine_embedding_loss(m, NULL, a, 0, AG_MEAN), "cosine_embedding_loss: argument 1 is NULL");
    NULL_ARG(ag_cosine_embedding_loss(m, m, NULL, 0, AG_MEAN), "cosine_embedding_loss: argument 2 is NULL");
    NULL_ARG(ag_dice_loss(NULL, a, 1), "dice_loss: argument 0 is NULL");
    NULL_ARG(ag_dice_loss(a, NULL, 1), "dice_loss: argument 1 is NULL");
    NULL_ARG(ag_contrastive_loss(NULL, m, a, 1), "contrastive_loss: argument 0 is NULL");
    NULL_ARG(ag_contrastive_loss(m, NULL, a, 1), "contrastive_loss: argument 1 is NULL");
    NULL_ARG(ag_contrastive_loss(m, m, NULL, 1), "contrastive_loss: argument 2 is NULL");

    ag_tensor *lp = Z(AG_SHAPE(3, 1, 2));
    int64_t tg[1] = { 1 }, il[1] = { 3 }, tl[1] = { 1 };
    NULL_ARG(ag_ctc_loss(NULL, tg, 1, il, tl, 0, AG_MEAN, false), "ctc_loss: argument 0 is NULL");
    NULL_ARG(ag_ctc_loss(lp, NULL, 1, il, tl, 0, AG_MEAN, false), "ctc_loss: targets is NULL");
    NULL_ARG(ag_ctc_loss(lp, tg, 1, NULL, tl, 0, AG_MEAN, false), "ctc_loss: input_lengths is NULL");
    NULL_ARG(ag_ctc_loss(lp, tg, 1, il, NULL, 0, AG_MEAN, false), "ctc_loss: target_lengths is NULL");
    /* no labels at all (S = 0): targets may be NULL */
    int64_t tl0[1] = { 0 };
    cr_assert_not_null(ag_ctc_loss(lp, NULL, 0, il, tl0, 0, AG_SUM, false));
}

Test(hostile_ops, results_of_an_ended_step_are_refused, .fini = free_all)
{
    ag_tensor *a = T(AG_SHAPE(2), 1.0, 2.0);
    ag_tensor *old = ag_add(a, a);
    ag_step_end();
    FAILS(ag_add(a, old), AG_ERR_STATE, STALE("add", 1));
    FAILS(ag_mul_scalar(old, 2), AG_ERR_STATE, STALE("mul_scalar", 0));
    FAILS(ag_rsub_scalar(1, old), AG_ERR_STATE, STALE("rsub_scalar", 1));
    FAILS(ag_sum(old), AG_ERR_STATE, STALE("sum", 0));
    FAILS(ag_mean_dim(old, 0, false), AG_ERR_STATE, STALE("mean", 0));
    FAILS(ag_softmax(old, 0), AG_ERR_STATE, STALE("softmax", 0));
    FAILS(ag_reshape(old, AG_SHAPE(2, 1)), AG_ERR_STATE, STALE("reshape", 0));
    FAILS(ag_linear(old, Z(AG_SHAPE(3, 2)), NULL), AG_ERR_STATE, STALE("linear", 0));
    FAILS(ag_mse_loss(a, old, AG_MEAN), AG_ERR_STATE, STALE("mse_loss", 1));
    FAILS(ag_binary_cross_entropy(old, a, AG_SUM), AG_ERR_STATE, STALE("binary_cross_entropy", 0));
    FAILS(ag_cross_entropy(old, (int64_t[]){ 0 }, AG_MEAN, 0), AG_ERR_STATE, STALE("cross_entropy", 0));
    FAILS(ag_gelu(old, true), AG_ERR_STATE, STALE("gelu", 0));
}

/* --- shapes ---------------------------------------------------------------------------- */

Test(hostile_ops, shapes_that_do_not_fit, .fini = free_all)
{
    ag_tensor *a23 = Z(AG_SHAPE(2, 3)), *a4 = Z(AG_SHAPE(4)), *a2 = Z(AG_SHAPE(2));
    ag_tensor *a3 = Z(AG_SHAPE(3)), *a1 = Z(AG_SHAPE(1)), *s = K(ag_scalar(1));
    FAILS(ag_add(a23, a4), AG_ERR_SHAPE, "add: shapes [2,3] and [4] cannot be broadcast");
    FAILS(ag_sub(a4, a23), AG_ERR_SHAPE, "sub: shapes [4] and [2,3] cannot be broadcast");
    FAILS(ag_mul(a2, a3), AG_ERR_SHAPE, "mul: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_div(a2, a3), AG_ERR_SHAPE, "div: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_maximum(a2, a3), AG_ERR_SHAPE, "maximum: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_minimum(a2, a3), AG_ERR_SHAPE, "minimum: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_addcmul(a2, a3, a1), AG_ERR_SHAPE, "addcmul: shapes [2], [3] and [1] cannot be broadcast");

    FAILS(ag_matmul(a23, Z(AG_SHAPE(4, 5))), AG_ERR_SHAPE,
          "matmul: shapes [2,3] and [4,5] cannot be multiplied (inner sizes differ)");
    FAILS(ag_matmul(a2, a3), AG_ERR_SHAPE,
          "matmul: shapes [2] and [3] cannot be multiplied (inner sizes differ)");
    FAILS(ag_matmul(s, a3), AG_ERR_SHAPE,
          "matmul: shapes [] and [3] cannot be multiplied (both must be at least 1-d)");
    FAILS(ag_matmul(a3, s), AG_ERR_SHAPE,
          "matmul: shapes [3] and [] cannot be multiplied (both must be at least 1-d)");
    FAILS(ag_matmul(Z(AG_SHAPE(2, 2, 3)), Z(AG_SHAPE(3, 3, 4))), AG_ERR_SHAPE,
          "matmul: shapes [2,2,3] and [3,3,4] cannot be multiplied (batch dims do not broadcast)");
    FAILS(ag_linear(a23, Z(AG_SHAPE(4, 5)), NULL), AG_ERR_SHAPE,
          "linear: shapes [2,3] and [4,5] do not fit (input [..., in] and weight [out, in])");
    FAILS(ag_linear(a23, a3, NULL), AG_ERR_SHAPE,
          "linear: shapes [2,3] and [3] do not fit (input [..., in] and weight [out, in])");
    FAILS(ag_linear(s, Z(AG_SHAPE(4, 1)), NULL), AG_ERR_SHAPE,
          "linear: shapes [] and [4,1] do not fit (input [..., in] and weight [out, in])");
    FAILS(ag_linear(a23, Z(AG_SHAPE(4, 3)), a3), AG_ERR_SHAPE,
          "linear: bias of shape [3] does not fit weight of shape [4,3]");
    FAILS(ag_linear(a23, Z(AG_SHAPE(4, 3)), Z(AG_SHAPE(1, 4))), AG_ERR_SHAPE,
          "linear: bias of shape [1,4] does not fit weight of shape [4,3]");

    FAILS(ag_reshape(a23, AG_SHAPE(4)), AG_ERR_SHAPE,
          "reshape: shape [4] is invalid for input of shape [2,3]");
    FAILS(ag_reshape(a23, AG_SHAPE(-1, -1)), AG_ERR_SHAPE, "reshape: invalid shape [-1,-1]");
    FAILS(ag_reshape(a23, AG_SHAPE(-2, -3)), AG_ERR_SHAPE, "reshape: invalid shape [-2,-3]");
    FAILS(ag_reshape(a23, AG_SHAPE(-1, 4)), AG_ERR_SHAPE,
          "reshape: shape [-1,4] is invalid for input of shape [2,3]");
    FAILS(ag_reshape(a23, (ag_shape){ .ndim = 9 }), AG_ERR_SHAPE, "reshape: 9 dimensions");
    FAILS(ag_reshape(a23, (ag_shape){ .ndim = -1 }), AG_ERR_SHAPE, "reshape: -1 dimensions");
    ag_tensor *e = Z(AG_SHAPE(0));
    FAILS(ag_reshape(e, AG_SHAPE((int64_t)1 << 62, 8)), AG_ERR_SHAPE,
          "reshape: shape [4611686018427387904,8] is invalid for input of shape [0]");

    FAILS(ag_expand(a23, AG_SHAPE(3, 3)), AG_ERR_SHAPE,
          "expand: shapes [2,3] and [3,3] cannot be broadcast");
    FAILS(ag_expand(a3, AG_SHAPE(1)), AG_ERR_SHAPE,
          "expand: shapes [3] and [1] cannot be expanded (the second is the target)");
    FAILS(ag_expand(a1, AG_SHAPE(2, -1)), AG_ERR_SHAPE,
          "expand: negative dimension in shape [2,-1]");
    FAILS(ag_expand(a1, (ag_shape){ .ndim = 12 }), AG_ERR_SHAPE, "expand: 12 dimensions (at most 8)");
    FAILS(ag_sum_to(a23, AG_SHAPE(4)), AG_ERR_SHAPE, "sum_to: shape [2,3] cannot be summed to shape [4]");
    FAILS(ag_sum_to(a3, AG_SHAPE(2, 3)), AG_ERR_SHAPE,
          "sum_to: shape [3] cannot be summed to shape [2,3]");
    FAILS(ag_sum_to(a3, (ag_shape){ .ndim = 12 }), AG_ERR_SHAPE,
          "sum_to: shape [3] cannot be summed to shape [0,0,0,0,0,0,0,0]");
    FAILS(ag_sum_to(a3, (ag_shape){ .ndim = -3 }), AG_ERR_SHAPE,
          "sum_to: shape [3] cannot be summed to shape []");
}

Test(hostile_ops, dims_out_of_range, .fini = free_all)
{
    ag_tensor *a = Z(AG_SHAPE(2, 3)), *s = K(ag_scalar(2));
    int dup[2] = { 1, -1 }, big[1] = { 2 };
    FAILS(ag_sum_dim(a, 2, false), AG_ERR_ARG, "sum: dimension 2 out of range for a 2-d tensor");
    FAILS(ag_sum_dim(a, -3, false), AG_ERR_ARG, "sum: dimension -3 out of range for a 2-d tensor");
    FAILS(ag_mean_dim(a, 5, true), AG_ERR_ARG, "mean: dimension 5 out of range for a 2-d tensor");
    FAILS(ag_max_dim(a, 2, false), AG_ERR_ARG, "max: dimension 2 out of range for a 2-d tensor");
    FAILS(ag_logsumexp(a, -9, false), AG_ERR_ARG,
          "logsumexp: dimension -9 out of range for a 2-d tensor");
    FAILS(ag_sum_dims(a, dup, 2, false), AG_ERR_ARG, "sum: dim 1 appears more than once");
    FAILS(ag_mean_dims(a, dup, 2, false), AG_ERR_ARG, "mean: dim 1 appears more than once");
    FAILS(ag_logsumexp_dims(a, dup, 2, false), AG_ERR_ARG, "logsumexp: dim 1 appears more than once");
    FAILS(ag_sum_dims(a, big, 1, false), AG_ERR_ARG, "sum: dimension 2 out of range for a 2-d tensor");
    FAILS(ag_sum_dims(a, dup, -1, false), AG_ERR_ARG, "sum: bad dims list");
    FAILS(ag_softmax(a, 2), AG_ERR_ARG, "softmax: dimension 2 out of range for a 2-d tensor");
    FAILS(ag_log_softmax(a, -3), AG_ERR_ARG, "log_softmax: dimension -3 out of range for a 2-d tensor");
    FAILS(ag_transpose(a, 0, 2), AG_ERR_ARG, "transpose: dimension 2 out of range for a 2-d tensor");
    FAILS(ag_transpose(a, -3, 0), AG_ERR_ARG, "transpose: dimension -3 out of range for a 2-d tensor");
    FAILS(ag_sum_dim(s, 1, false), AG_ERR_ARG, "sum: dimension 1 out of range for a 0-d tensor");
    /* a 0-d tensor takes dims 0 and -1 (PyTorch's rule) */
    values_are(ag_sum_dim(s, -1, false), 1, 2.0);
    values_are(ag_softmax(s, 0), 1, 1.0);
    values_are(ag_max_dim(s, 0, true), 1, 2.0);
    values_are(ag_transpose(s, 0, -1), 1, 2.0);
}

/* --- options and reductions ------------------------------------------------------------ */

Test(hostile_ops, bad_reductions_and_options, .fini = free_all)
{
    ag_tensor *a = T(AG_SHAPE(2), 0.25, 0.5), *m = T(AG_SHAPE(2, 2), 1.0, 2.0, 3.0, 4.0);
    ag_tensor *y = T(AG_SHAPE(2), 1.0, -1.0);
    int64_t cls[2] = { 0, 1 };
    FAILS(ag_mse_loss(a, a, (ag_reduction)7), AG_ERR_ARG, "mse_loss: unknown reduction 7");
    FAILS(ag_l1_loss(a, a, (ag_reduction)-1), AG_ERR_ARG, "l1_loss: unknown reduction -1");
    FAILS(ag_mse_loss(a, a, AG_BATCHMEAN), AG_ERR_ARG,
          "mse_loss: reduction batchmean is only defined for kl_div");
    FAILS(ag_binary_cross_entropy(a, a, AG_BATCHMEAN), AG_ERR_ARG,
          "binary_cross_entropy: reduction batchmean is only defined for kl_div");
    FAILS(ag_cross_entropy(m, cls, (ag_reduction)9, 0), AG_ERR_ARG, "cross_entropy: unknown reduction 9");
    FAILS(ag_nll_loss(m, cls, AG_BATCHMEAN), AG_ERR_ARG,
          "nll_loss: reduction batchmean is only defined for kl_div");
    FAILS(ag_kl_div(a, a, (ag_reduction)9, false), AG_ERR_ARG, "kl_div: unknown reduction 9");
    FAILS(ag_kl_div(K(ag_scalar(1)), K(ag_scalar(1)), AG_BATCHMEAN, false), AG_ERR_SHAPE,
          "kl_div: batchmean needs a batch dimension, the input is 0-d");
    FAILS(ag_hinge_embedding_loss(a, y, 1, (ag_reduction)5), AG_ERR_ARG,
          "hinge_embedding_loss: unknown reduction 5");
    FAILS(ag_ctc_loss(Z(AG_SHAPE(3, 1, 2)), (int64_t[]){ 1 }, 1, (int64_t[]){ 3 }, (int64_t[]){ 1 }, 0,
                      AG_BATCHMEAN, false),
          AG_ERR_ARG, "ctc_loss: reduction batchmean is only defined for kl_div");

    FAILS(ag_huber_loss(a, a, AG_MEAN, 0), AG_ERR_ARG, "huber_loss: delta must be positive, got 0");
    FAILS(ag_huber_loss(a, a, AG_MEAN, NAN), AG_ERR_ARG, "huber_loss: delta must be positive, got nan");
    FAILS(ag_smooth_l1_loss(a, a, AG_MEAN, -1), AG_ERR_ARG,
          "smooth_l1_loss: beta must be non-negative, got -1");
    FAILS(ag_cross_entropy(m, cls, AG_MEAN, 1.5), AG_ERR_ARG,
          "cross_entropy: label_smoothing must be in [0, 1], got 1.5");
    FAILS(ag_cross_entropy_probs(m, m, AG_MEAN, NAN), AG_ERR_ARG,
          "cross_entropy: label_smoothing must be in [0, 1], got nan");
    FAILS(ag_multi_margin_loss(m, cls, 3, 1, AG_MEAN), AG_ERR_ARG,
          "multi_margin_loss: p must be 1 or 2, got 3");
    FAILS(ag_triplet_margin_loss(m, m, m, 1, 0, 1e-6, false, AG_MEAN), AG_ERR_ARG,
          "triplet_margin_loss: p must be positive and finite, got 0");
    FAILS(ag_triplet_margin_loss(m, m, m, 1, INFINITY, 1e-6, false, AG_MEAN), AG_ERR_ARG,
          "triplet_margin_loss: p must be positive and finite, got inf");
    FAILS(ag_clamp(a, NAN, 1), AG_ERR_ARG, "clamp: bounds must not be NaN (got [nan, 1])");
    FAILS(ag_leaky_relu(a, NAN), AG_ERR_ARG, "leaky_relu: negative_slope must not be NaN");
    FAILS(ag_elu(a, NAN), AG_ERR_ARG, "elu: alpha must not be NaN");
    FAILS(ag_softplus(a, 0, 20), AG_ERR_ARG,
          "softplus: beta must be finite and non-zero and threshold not NaN (got beta 0, threshold 20)");
    FAILS(ag_softplus(a, 1, NAN), AG_ERR_ARG,
          "softplus: beta must be finite and non-zero and threshold not NaN (got beta 1, threshold nan)");
    FAILS(ag_binary_cross_entropy(T(AG_SHAPE(2), 0.5, 1.5), a, AG_MEAN), AG_ERR_ARG,
          "binary_cross_entropy: input[1] = 1.5 is not in [0, 1]");
    FAILS(ag_binary_cross_entropy(T(AG_SHAPE(2), NAN, 0.5), a, AG_MEAN), AG_ERR_ARG,
          "binary_cross_entropy: input[0] = nan is not in [0, 1]");
    /* lo > hi is allowed: hi everywhere, as PyTorch's min(max(x, lo), hi) */
    values_are(ag_clamp(a, 2, 1), 2, 1.0, 1.0);
}

Test(hostile_ops, loss_shapes_that_do_not_fit, .fini = free_all)
{
    ag_tensor *a2 = Z(AG_SHAPE(2)), *a3 = Z(AG_SHAPE(3)), *m23 = Z(AG_SHAPE(2, 3));
    ag_tensor *m24 = Z(AG_SHAPE(2, 4)), *t3 = Z(AG_SHAPE(1, 2, 3));
    int64_t cls[2] = { 0, 1 };
    FAILS(ag_mse_loss(a2, a3, AG_MEAN), AG_ERR_SHAPE, "mse_loss: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_huber_loss(a2, a3, AG_MEAN, 1), AG_ERR_SHAPE,
          "huber_loss: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_binary_cross_entropy(a2, a3, AG_MEAN), AG_ERR_SHAPE,
          "binary_cross_entropy: shapes [2] and [3] must be the same");
    FAILS(ag_binary_cross_entropy_with_logits(a2, m23, AG_MEAN), AG_ERR_SHAPE,
          "binary_cross_entropy_with_logits: shapes [2] and [2,3] must be the same");
    FAILS(ag_kl_div(a2, a3, AG_SUM, false), AG_ERR_SHAPE, "kl_div: shapes [2] and [3] must be the same");
    FAILS(ag_dice_loss(a2, a3, 1), AG_ERR_SHAPE, "dice_loss: shapes [2] and [3] must be the same");
    FAILS(ag_cross_entropy(a3, cls, AG_MEAN, 0), AG_ERR_SHAPE,
          "cross_entropy: input must be (N, C), got shape [3]");
    FAILS(ag_cross_entropy(t3, cls, AG_MEAN, 0), AG_ERR_SHAPE,
          "cross_entropy: input must be (N, C), got shape [1,2,3]");
    FAILS(ag_cross_entropy_probs(m23, m24, AG_MEAN, 0), AG_ERR_SHAPE,
          "cross_entropy: shapes [2,3] and [2,4] must be the same");
    FAILS(ag_cross_entropy_probs(a3, a3, AG_MEAN, 0), AG_ERR_SHAPE,
          "cross_entropy: input must be (N, C), got shape [3]");
    FAILS(ag_nll_loss(a3, cls, AG_MEAN), AG_ERR_SHAPE, "nll_loss: input must be (N, C), got shape [3]");
    FAILS(ag_multi_margin_loss(t3, cls, 1, 1, AG_MEAN), AG_ERR_SHAPE,
          "multi_margin_loss: input must be (N, C), got shape [1,2,3]");
    FAILS(ag_hinge_embedding_loss(a2, a3, 1, AG_MEAN), AG_ERR_SHAPE,
          "hinge_embedding_loss: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_margin_ranking_loss(a2, a2, a3, 0, AG_MEAN), AG_ERR_SHAPE,
          "margin_ranking_loss: shapes [2] and [3] cannot be broadcast");
    FAILS(ag_triplet_margin_loss(m23, m24, m23, 1, 2, 1e-6, false, AG_MEAN), AG_ERR_SHAPE,
          "triplet_margin_loss: shapes [2,3] and [2,4] must be the same");
    FAILS(ag_triplet_margin_loss(t3, t3, t3, 1, 2, 1e-6, false, AG_MEAN), AG_ERR_SHAPE,
          "triplet_margin_loss: inputs must be (D) or (N, D), got shape [1,2,3]");
    FAILS(ag_cosine_embedding_loss(m23, m23, a3, 0, AG_MEAN), AG_ERR_SHAPE,
          "cosine_embedding_loss: shapes [2,3] and [3] do not match (one label per row expected: "
          "labels of shape [2])");
    FAILS(ag_cosine_embedding_loss(m23, m24, a2, 0, AG_MEAN), AG_ERR_SHAPE,
          "cosine_embedding_loss: shapes [2,3] and [2,4] must be the same");
    FAILS(ag_contrastive_loss(m23, m23, m23, 1), AG_ERR_SHAPE,
          "contrastive_loss: shapes [2,3] and [2,3] do not match (one label per row expected: "
          "labels of shape [2])");
    FAILS(ag_ctc_loss(m23, cls, 1, cls, cls, 0, AG_MEAN, false), AG_ERR_SHAPE,
          "ctc_loss: log_probs must be (T, N, C), got shape [2,3]");
}

/* --- class indices and CTC's arrays ---------------------------------------------------- */

Test(hostile_ops, class_indices_out_of_range, .fini = free_all)
{
    ag_tensor *x = Z(AG_SHAPE(2, 3));
    FAILS(ag_cross_entropy(x, (int64_t[]){ 0, 3 }, AG_MEAN, 0), AG_ERR_ARG,
          "cross_entropy: target[1] = 3 is out of range for 3 classes");
    FAILS(ag_cross_entropy(x, (int64_t[]){ -1, 0 }, AG_MEAN, 0), AG_ERR_ARG,
          "cross_entropy: target[0] = -1 is out of range for 3 classes");
    FAILS(ag_cross_entropy(x, (int64_t[]){ 0, -100 }, AG_MEAN, 0), AG_ERR_ARG,
          "cross_entropy: target[1] = -100 is out of range for 3 classes");
    FAILS(ag_nll_loss(x, (int64_t[]){ 2, INT64_MAX }, AG_SUM), AG_ERR_ARG,
          "nll_loss: target[1] = 9223372036854775807 is out of range for 3 classes");
    FAILS(ag_multi_margin_loss(x, (int64_t[]){ 7, 0 }, 1, 1, AG_MEAN), AG_ERR_ARG,
          "multi_margin_loss: target[0] = 7 is out of range for 3 classes");
    FAILS(ag_cross_entropy(Z(AG_SHAPE(1, 0)), (int64_t[]){ 0 }, AG_MEAN, 0), AG_ERR_ARG,
          "cross_entropy: target[0] = 0 is out of range for 0 classes");
}

Test(hostile_ops, ctc_arguments_are_checked, .fini = free_all)
{
    ag_tensor *lp = Z(AG_SHAPE(5, 2, 4)); /* T = 5, N = 2, C = 4 */
    int64_t tg[6] = { 1, 2, 3, 1, 2, 0 }, il[2] = { 5, 4 }, tl[2] = { 3, 2 };
    FAILS(ag_ctc_loss(lp, tg, -1, il, tl, 0, AG_MEAN, false), AG_ERR_ARG, "ctc_loss: S = -1 is negative");
    FAILS(ag_ctc_loss(lp, tg, 3, il, tl, 4, AG_MEAN, false), AG_ERR_ARG,
          "ctc_loss: blank = 4 is out of range 0..3");
    FAILS(ag_ctc_loss(lp, tg, 3, il, tl, -1, AG_MEAN, false), AG_ERR_ARG,
          "ctc_loss: blank = -1 is out of range 0..3");
    FAILS(ag_ctc_loss(lp, tg, 3, (int64_t[]){ 6, 4 }, tl, 0, AG_MEAN, false), AG_ERR_ARG,
          "ctc_loss: input_lengths[0] = 6 is out of range 0..5");
    FAILS(ag_ctc_loss(lp, tg, 3, (int64_t[]){ 5, -1 }, tl, 0, AG_MEAN, false), AG_ERR_ARG,
          "ctc_loss: input_lengths[1] = -1 is out of range 0..5");
    FAILS(ag_ctc_loss(lp, tg, 3, il, (int64_t[]){ 3, 4 }, 0, AG_MEAN, false), AG_ERR_ARG,
          "ctc_loss: target_lengths[1] = 4 is out of range 0..3");
    FAILS(ag_ctc_loss(lp, (int64_t[]){ 1, 9, 3, 1, 2, 0 }, 3, il, tl, 0, AG_MEAN, false), AG_ERR_ARG,
          "ctc_loss: targets[1] = 9 is out of range 0..3");
    FAILS(ag_ctc_loss(lp, (int64_t[]){ 1, 2, 3, 0, 2, 0 }, 3, il, tl, 0, AG_MEAN, false), AG_ERR_ARG,
          "ctc_loss: targets[3] = 0 is the blank");
    /* padding past target_lengths[n] is not read, whatever it holds */
    cr_assert_not_null(ag_ctc_loss(lp, (int64_t[]){ 1, 2, 3, 1, 2, -77 }, 3, il, tl, 0, AG_MEAN, false));
    EXPECT_NO_ERR();
    /* an input too short for its target: infinite loss, zero_infinity makes it 0 */
    ag_tensor *lp1 = Z(AG_SHAPE(1, 1, 3));
    values_are(ag_ctc_loss(lp1, (int64_t[]){ 1, 2 }, 2, (int64_t[]){ 1 }, (int64_t[]){ 2 }, 0, AG_SUM,
                           false),
               1, INFINITY);
    values_are(ag_ctc_loss(lp1, (int64_t[]){ 1, 2 }, 2, (int64_t[]){ 1 }, (int64_t[]){ 2 }, 0, AG_SUM,
                           true),
               1, 0.0);
    /* create_graph through ctc's raw backward is refused, not silently zero */
    ag_tensor *x = G(Z(AG_SHAPE(2, 1, 3)));
    ag_tensor *l = ag_ctc_loss(x, (int64_t[]){ 1 }, 1, (int64_t[]){ 2 }, (int64_t[]){ 1 }, 0, AG_SUM, false);
    cr_assert_eq(ag_backward_ex(l, (ag_backward_opts){ .create_graph = true }), AG_ERR_UNSUPPORTED);
    EXPECT_ERR(AG_ERR_UNSUPPORTED, "backward: ctc_loss: its backward is not differentiable "
                                   "(create_graph is not supported through this op)");
    /* no samples at all */
    cr_assert_not_null(ag_ctc_loss(Z(AG_SHAPE(5, 0, 4)), NULL, 0, (int64_t[]){ 0 }, (int64_t[]){ 0 }, 0,
                                   AG_SUM, false));
    EXPECT_NO_ERR();
}

/* --- empty tensors --------------------------------------------------------------------- */

Test(hostile_ops, reductions_of_empty_tensors, .fini = free_all)
{
    ag_tensor *e = Z(AG_SHAPE(0)), *e03 = Z(AG_SHAPE(0, 3));
    values_are(ag_sum(e), 1, 0.0);
    values_are(ag_mean(e), 1, NAN);
    values_are(ag_logsumexp(e, 0, false), 1, -INFINITY);
    values_are(ag_sum_dim(e03, 0, false), 3, 0.0, 0.0, 0.0);
    values_are(ag_mean_dim(e03, 0, false), 3, NAN, NAN, NAN);
    shape_is(ag_sum_dim(e03, 1, false), AG_SHAPE(0));
    shape_is(ag_mean_dim(e03, 1, true), AG_SHAPE(0, 1));
    shape_is(ag_logsumexp(e03, 1, false), AG_SHAPE(0));
    FAILS(ag_max(e), AG_ERR_SHAPE, "max: the input of shape [0] is empty (the max of no elements "
                                   "is undefined; reduce over a dim instead)");
    FAILS(ag_max(e03), AG_ERR_SHAPE, "max: the input of shape [0,3] is empty (the max of no "
                                     "elements is undefined; reduce over a dim instead)");
    FAILS(ag_max_dim(e03, 0, false), AG_ERR_SHAPE,
          "max: cannot reduce dimension 0 of size 0 (input of shape [0,3])");
    /* reducing a dim that has elements, in a tensor that has none: an empty result */
    shape_is(ag_max_dim(e03, 1, false), AG_SHAPE(0));
    shape_is(ag_max_dim(e03, -1, true), AG_SHAPE(0, 1));
    EXPECT_NO_ERR();

    /* and their gradients: empty, or zero-sized, never an error */
    ag_tensor *x = G(Z(AG_SHAPE(0, 3)));
    cr_assert_eq(ag_backward(ag_sum(x)), AG_OK);
    shape_is(ag_grad(x), AG_SHAPE(0, 3));
    cr_assert_eq(ag_backward(ag_mean(x)), AG_OK);
    cr_assert_eq(ag_backward(ag_sum(ag_max_dim(x, 1, false))), AG_OK);
    cr_assert_eq(ag_backward(ag_sum(ag_logsumexp(x, 1, false))), AG_OK);
    cr_assert_eq(ag_backward(ag_sum(ag_mean_dim(x, 0, false))), AG_OK);
    EXPECT_NO_ERR();
}

Test(hostile_ops, empty_tensors_through_every_kind_of_op, .fini = free_all)
{
    ag_tensor *x = G(Z(AG_SHAPE(0, 3))), *b = T(AG_SHAPE(3), 1.0, 2.0, 3.0);
    shape_is(ag_add(x, b), AG_SHAPE(0, 3));
    shape_is(ag_mul(x, K(ag_scalar(2))), AG_SHAPE(0, 3));
    shape_is(ag_add(Z(AG_SHAPE(0)), Z(AG_SHAPE(1))), AG_SHAPE(0));
    FAILS(ag_add(Z(AG_SHAPE(0)), Z(AG_SHAPE(2))), AG_ERR_SHAPE, "add: shapes [0] and [2] cannot be broadcast");
    shape_is(ag_relu(x), AG_SHAPE(0, 3));
    shape_is(ag_gelu(x, false), AG_SHAPE(0, 3));
    shape_is(ag_clamp(x, 0, 1), AG_SHAPE(0, 3));
    shape_is(ag_addcmul(x, b, b), AG_SHAPE(0, 3));
    shape_is(ag_maximum(x, b), AG_SHAPE(0, 3));
    shape_is(ag_softmax(x, 1), AG_SHAPE(0, 3));
    shape_is(ag_log_softmax(x, 0), AG_SHAPE(0, 3));
    shape_is(ag_transpose(x, 0, 1), AG_SHAPE(3, 0));
    shape_is(ag_reshape(x, AG_SHAPE(3, 0)), AG_SHAPE(3, 0));
    shape_is(ag_reshape(x, AG_SHAPE(-1, 3)), AG_SHAPE(0, 3));
    FAILS(ag_reshape(x, AG_SHAPE(-1, 0)), AG_ERR_SHAPE,
          "reshape: shape [-1,0] is invalid for input of shape [0,3]");
    shape_is(ag_expand(Z(AG_SHAPE(1, 3)), AG_SHAPE(0, 3)), AG_SHAPE(0, 3));
    shape_is(ag_sum_to(x, AG_SHAPE(1, 3)), AG_SHAPE(1, 3));
    EXPECT_NO_ERR();

    /* backward through each: gradients of shape [0,3] */
    ag_tensor *ys[] = { ag_add(x, b), ag_softmax(x, 1), ag_log_softmax(x, 0), ag_transpose(x, 0, 1),
                        ag_relu(x), ag_silu(x), ag_maximum(x, b), ag_addcmul(x, x, b) };
    for (size_t i = 0; i < sizeof ys / sizeof *ys; i++) {
        cr_assert_eq(ag_backward(ag_sum(ys[i])), AG_OK, "op %zu: %s", i, ag_error_message());
        shape_is(ag_grad(x), AG_SHAPE(0, 3));
    }
}

Test(hostile_ops, matmul_and_linear_with_empty_sizes, .fini = free_all)
{
    /* K = 0: the sum of no products is 0 */
    values_are(ag_matmul(Z(AG_SHAPE(2, 0)), Z(AG_SHAPE(0, 3))), 6, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    values_are(ag_matmul(Z(AG_SHAPE(0)), Z(AG_SHAPE(0))), 1, 0.0);
    ag_tensor *r = ag_matmul(Z(AG_SHAPE(2, 3, 0)), Z(AG_SHAPE(0, 4)));
    shape_is(r, AG_SHAPE(2, 3, 4));
    values_are(ag_sum(r), 1, 0.0);
    shape_is(ag_matmul(Z(AG_SHAPE(5, 0)), Z(AG_SHAPE(2, 0, 3))), AG_SHAPE(2, 5, 3));
    /* M or N = 0: an empty result */
    shape_is(ag_matmul(Z(AG_SHAPE(0, 3)), Z(AG_SHAPE(3, 2))), AG_SHAPE(0, 2));
    shape_is(ag_matmul(Z(AG_SHAPE(2, 3)), Z(AG_SHAPE(3, 0))), AG_SHAPE(2, 0));
    shape_is(ag_matmul(Z(AG_SHAPE(0, 2, 3)), Z(AG_SHAPE(3, 2))), AG_SHAPE(0, 2, 2));
    /* linear with in_features 0 is the bias alone; with no rows an empty batch */
    ag_tensor *bias = T(AG_SHAPE(3), 1.0, 2.0, 3.0);
    values_are(ag_linear(Z(AG_SHAPE(2, 0)), Z(AG_SHAPE(3, 0)), bias), 6, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0);
    values_are(ag_linear(Z(AG_SHAPE(0)), Z(AG_SHAPE(3, 0)), bias), 3, 1.0, 2.0, 3.0);
    shape_is(ag_linear(Z(AG_SHAPE(4, 2, 0)), Z(AG_SHAPE(3, 0)), NULL), AG_SHAPE(4, 2, 3));
    shape_is(ag_linear(Z(AG_SHAPE(0, 5)), Z(AG_SHAPE(3, 5)), bias), AG_SHAPE(0, 3));
    EXPECT_NO_ERR();
    /* gradients: zeros for w and b over no rows, empty for the empty operand */
    ag_tensor *x = G(Z(AG_SHAPE(2, 0))), *w = G(T(AG_SHAPE(3, 0))), *bb = G(Z(AG_SHAPE(3)));
    cr_assert_eq(ag_backward(ag_sum(ag_linear(x, w, bb))), AG_OK);
    values_are(ag_grad(bb), 3, 2.0, 2.0, 2.0);
    shape_is(ag_grad(w), AG_SHAPE(3, 0));
    shape_is(ag_grad(x), AG_SHAPE(2, 0));
    ag_tensor *rows = G(Z(AG_SHAPE(0, 5))), *w2 = G(K(ag_ones(AG_SHAPE(3, 5))));
    cr_assert_eq(ag_backward(ag_sum(ag_matmul(rows, ag_transpose(w2, 0, 1)))), AG_OK);
    values_are(ag_sum(ag_grad(w2)), 1, 0.0);
}

Test(hostile_ops, losses_of_empty_batches, .fini = free_all)
{
    ag_tensor *e = Z(AG_SHAPE(0)), *x = Z(AG_SHAPE(0, 3));
    values_are(ag_mse_loss(e, e, AG_MEAN), 1, NAN);
    values_are(ag_mse_loss(e, e, AG_SUM), 1, 0.0);
    shape_is(ag_mse_loss(e, e, AG_NONE), AG_SHAPE(0));
    values_are(ag_l1_loss(e, e, AG_SUM), 1, 0.0);
    values_are(ag_binary_cross_entropy(e, e, AG_MEAN), 1, NAN);
    values_are(ag_cross_entropy(x, (int64_t[]){ 0 }, AG_MEAN, 0), 1, NAN);
    values_are(ag_cross_entropy(x, (int64_t[]){ 0 }, AG_SUM, 0.1), 1, 0.0);
    values_are(ag_nll_loss(x, (int64_t[]){ 0 }, AG_SUM), 1, 0.0);
    values_are(ag_kl_div(x, x, AG_BATCHMEAN, false), 1, NAN);
    values_are(ag_dice_loss(e, e, 1), 1, 0.0);
    EXPECT_NO_ERR();
}

/* --- NaN and Inf ----------------------------------------------------------------------- */

Test(hostile_ops, nan_and_inf_propagate_as_in_pytorch, .fini = free_all)
{
    ag_tensor *v = T(AG_SHAPE(4), NAN, -INFINITY, 1.0, INFINITY);
    values_are(ag_relu(v), 4, NAN, 0.0, 1.0, INFINITY);
    values_are(ag_sigmoid(v), 4, NAN, 0.0, 1.0 / (1.0 + exp(-1.0)), 1.0);
    values_are(ag_tanh(v), 4, NAN, -1.0, tanh(1.0), 1.0);
    values_are(ag_exp(v), 4, NAN, 0.0, exp(1.0), INFINITY);
    values_are(ag_abs(v), 4, NAN, INFINITY, 1.0, INFINITY);
    values_are(ag_sign(v), 4, 0.0, -1.0, 1.0, 1.0); /* sign(nan) = 0, as torch.sign */
    values_are(ag_clamp(v, -2, 2), 4, NAN, -2.0, 1.0, 2.0);
    values_are(ag_leaky_relu(v, 0.5), 4, NAN, -INFINITY, 1.0, INFINITY);
    values_are(ag_softplus(v, 1, 20), 4, NAN, 0.0, log1p(exp(1.0)), INFINITY);
    values_are(ag_maximum(v, K(ag_scalar(0))), 4, NAN, 0.0, 1.0, INFINITY);
    values_are(ag_minimum(K(ag_scalar(0)), v), 4, NAN, -INFINITY, 0.0, 0.0);
    values_are(ag_max(v), 1, NAN);
    values_are(ag_max(T(AG_SHAPE(2), -INFINITY, -INFINITY)), 1, -INFINITY);
    values_are(ag_sum(v), 1, NAN);
    values_are(ag_sum(T(AG_SHAPE(2), 1.0, INFINITY)), 1, INFINITY);
    values_are(ag_sum(T(AG_SHAPE(2), -INFINITY, INFINITY)), 1, NAN);
    values_are(ag_mean(T(AG_SHAPE(2), 1.0, -INFINITY)), 1, -INFINITY);
    values_are(ag_logsumexp(v, 0, false), 1, NAN);
    values_are(ag_logsumexp(T(AG_SHAPE(2), NAN, NAN), 0, false), 1, NAN);
    values_are(ag_logsumexp(T(AG_SHAPE(2), 1.0, INFINITY), 0, false), 1, INFINITY);
    values_are(ag_logsumexp(T(AG_SHAPE(2), -INFINITY, -INFINITY), 0, false), 1, -INFINITY);
    values_are(ag_div(T(AG_SHAPE(3), 1.0, -1.0, 0.0), K(ag_scalar(0))), 3, INFINITY, -INFINITY, NAN);
    values_are(ag_log(T(AG_SHAPE(2), 0.0, -1.0)), 2, -INFINITY, NAN);
    values_are(ag_sqrt(T(AG_SHAPE(1), -1.0)), 1, NAN);
    values_are(ag_matmul(T(AG_SHAPE(1, 1), INFINITY), T(AG_SHAPE(1, 1), 0.0)), 1, NAN);
    values_are(ag_mse_loss(T(AG_SHAPE(2), INFINITY, 0.0), Z(AG_SHAPE(2)), AG_SUM), 1, INFINITY);
    /* a NaN in a row of softmax spoils that row only; -inf logits are probabilities 0 */
    ag_tensor *sm = ag_softmax(T(AG_SHAPE(2, 2), NAN, 0.0, -INFINITY, 0.0), 1);
    values_are(sm, 4, NAN, NAN, 0.0, 1.0);
    values_are(ag_log_softmax(T(AG_SHAPE(2), -INFINITY, 0.0), 0), 2, -INFINITY, 0.0);
    /* binary_cross_entropy clamps its logs at -100 as PyTorch does */
    values_are(ag_binary_cross_entropy(T(AG_SHAPE(2), 0.0, 1.0), T(AG_SHAPE(2), 1.0, 0.0), AG_NONE), 2,
               100.0, 100.0);
    EXPECT_NO_ERR();
}

Test(hostile_ops, gradients_at_nan_and_inf, .fini = free_all)
{
    /* relu: no gradient through a NaN (threshold_backward's y > 0) */
    ag_tensor *x = G(T(AG_SHAPE(3), NAN, -1.0, 2.0));
    cr_assert_eq(ag_backward(ag_sum(ag_relu(x))), AG_OK);
    values_are(ag_grad(x), 3, 0.0, 0.0, 1.0);
    /* max of everything with NaNs: the NaNs share the gradient (evenly_distribute_backward) */
    ag_tensor *m = G(T(AG_SHAPE(4), 1.0, NAN, 3.0, NAN));
    cr_assert_eq(ag_backward(ag_max(m)), AG_OK);
    values_are(ag_grad(m), 4, 0.0, 0.5, 0.0, 0.5);
    /* max over a dim: the gradient goes to the first NaN, the index torch.max(dim) returns */
    ag_tensor *md = G(T(AG_SHAPE(2, 3), 1.0, NAN, NAN, 4.0, 5.0, 5.0));
    cr_assert_eq(ag_backward(ag_sum(ag_max_dim(md, 1, false))), AG_OK);
    values_are(ag_grad(md), 6, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0);
    /* maximum with a NaN: PyTorch's formula, where(a == b, g/2, g).masked_fill_(a < b, 0),
     * masks nothing when a comparison involves NaN, so both sides take the gradient */
    ag_tensor *a = G(T(AG_SHAPE(2), NAN, 1.0)), *b = G(T(AG_SHAPE(2), 0.0, NAN));
    cr_assert_eq(ag_backward(ag_sum(ag_maximum(a, b))), AG_OK);
    values_are(ag_grad(a), 2, 1.0, 1.0);
    values_are(ag_grad(b), 2, 1.0, 1.0);
    EXPECT_NO_ERR();
}

/* --- normalisation, embedding, dropout ------------------------------------------------- */

Test(hostile_ops, layer_norm_arguments, .fini = free_all)
{
    ag_tensor *x = T(AG_SHAPE(2, 3), 1.0, 2.0, 3.0, 4.0, 5.0, 6.0), *w3 = Z(AG_SHAPE(3));
    ag_tensor *w4 = Z(AG_SHAPE(4));
    NULL_ARG(ag_layer_norm(NULL, AG_SHAPE(3), NULL, NULL, 1e-5), "layer_norm: argument 0 is NULL");
    FAILS(ag_layer_norm(x, AG_SHAPE(4), NULL, NULL, 1e-5), AG_ERR_SHAPE,
          "layer_norm: normalized_shape [4] does not match the last dims of input of shape [2,3]");
    FAILS(ag_layer_norm(x, AG_SCALAR, NULL, NULL, 1e-5), AG_ERR_SHAPE,
          "layer_norm: normalized_shape [] does not match the last dims of input of shape [2,3]");
    FAILS(ag_layer_norm(x, AG_SHAPE(1, 2, 3), NULL, NULL, 1e-5), AG_ERR_SHAPE,
          "layer_norm: normalized_shape [1,2,3] does not match the last dims of input of shape [2,3]");
    FAILS(ag_layer_norm(x, (ag_shape){ .ndim = 9 }, NULL, NULL, 1e-5), AG_ERR_SHAPE,
          "layer_norm: normalized_shape (bad ndim) does not match the last dims of input of shape [2,3]");
    FAILS(ag_layer_norm(x, AG_SHAPE(3), w4, NULL, 1e-5), AG_ERR_SHAPE,
          "layer_norm: weight of shape [4] does not match [3]");
    FAILS(ag_layer_norm(x, AG_SHAPE(3), w3, w4, 1e-5), AG_ERR_SHAPE,
          "layer_norm: bias of shape [4] does not match [3]");
    FAILS(ag_layer_norm(x, AG_SHAPE(3), NULL, NULL, -1), AG_ERR_ARG,
          "layer_norm: eps must be finite and >= 0 (got -1)");
    FAILS(ag_layer_norm(x, AG_SHAPE(3), NULL, NULL, NAN), AG_ERR_ARG,
          "layer_norm: eps must be finite and >= 0 (got nan)");
    ag_tensor *old = ag_add(w3, w3);
    ag_step_end();
    FAILS(ag_layer_norm(x, AG_SHAPE(3), old, NULL, 1e-5), AG_ERR_STATE, STALE("layer_norm", 2));
    /* a constant row normalises to 0 (eps keeps it finite); NaN spoils its own row only */
    ag_tensor *c = T(AG_SHAPE(2, 2), 5.0, 5.0, NAN, 1.0);
    values_are(ag_layer_norm(c, AG_SHAPE(2), NULL, NULL, 1e-5), 4, 0.0, 0.0, NAN, NAN);
    shape_is(ag_layer_norm(Z(AG_SHAPE(0, 3)), AG_SHAPE(3), NULL, NULL, 1e-5), AG_SHAPE(0, 3));
    EXPECT_NO_ERR();
}

Test(hostile_ops, batch_norm_arguments_and_running_stats, .fini = free_all)
{
    ag_tensor *x = T(AG_SHAPE(2, 3), 1.0, 2.0, 3.0, 4.0, 5.0, 6.0);
    ag_tensor *rm = Z(AG_SHAPE(3)), *rv = K(ag_ones(AG_SHAPE(3))), *r2 = Z(AG_SHAPE(2));
    NULL_ARG(ag_batch_norm(NULL, rm, rv, NULL, NULL, true, 0.1, 1e-5), "batch_norm: argument 0 is NULL");
    FAILS(ag_batch_norm(Z(AG_SHAPE(3)), NULL, NULL, NULL, NULL, true, 0.1, 1e-5), AG_ERR_SHAPE,
          "batch_norm: input must be (N, C) or (N, C, L), got shape [3]");
    FAILS(ag_batch_norm(x, r2, rv, NULL, NULL, true, 0.1, 1e-5), AG_ERR_SHAPE,
          "batch_norm: running_mean of shape [2] does not match [3]");
    FAILS(ag_batch_norm(x, rm, rv, r2, NULL, true, 0.1, 1e-5), AG_ERR_SHAPE,
          "batch_norm: weight of shape [2] does not match [3]");
    FAILS(ag_batch_norm(x, rm, NULL, NULL, NULL, true, 0.1, 1e-5), AG_ERR_ARG,
          "batch_norm: running_mean and running_var must be given together (or both NULL)");
    FAILS(ag_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5), AG_ERR_ARG,
          "batch_norm: running_mean and running_var are needed when not training");
    FAILS(ag_batch_norm(x, rm, rv, NULL, NULL, true, 2, 1e-5), AG_ERR_ARG,
          "batch_norm: momentum must be in [0, 1] (got 2)");
    FAILS(ag_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, NAN), AG_ERR_ARG,
          "batch_norm: eps must be finite and >= 0 (got nan)");
    FAILS(ag_batch_norm(T(AG_SHAPE(1, 3), 1.0, 2.0, 3.0), rm, rv, NULL, NULL, true, 0.1, 1e-5),
          AG_ERR_ARG, "batch_norm: expected more than 1 value per channel when training, got input "
                      "of shape [1,3]");
    values_are(rm, 3, 0.0, 0.0, 0.0); /* no refused call touched the running statistics */
    values_are(rv, 3, 1.0, 1.0, 1.0);
    /* an empty batch: an empty result, and the statistics are left alone */
    shape_is(ag_batch_norm(Z(AG_SHAPE(0, 3)), rm, rv, NULL, NULL, true, 0.1, 1e-5), AG_SHAPE(0, 3));
    values_are(rm, 3, 0.0, 0.0, 0.0);
    values_are(rv, 3, 1.0, 1.0, 1.0);
    /* while an error is pending nothing is computed and nothing is blended */
    ag_fail(AG_ERR_IO, "pending");
    FAILS(ag_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5), AG_ERR_IO, "pending");
    values_are(rm, 3, 0.0, 0.0, 0.0);
    cr_assert_not_null(ag_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5));
    values_are(rm, 3, 0.25, 0.35, 0.45);
    EXPECT_NO_ERR();
}

Test(hostile_ops, embedding_and_dropout_arguments, .fini = free_all)
{
    ag_tensor *w = T(AG_SHAPE(4, 2), 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    NULL_ARG(ag_embedding(NULL, (int64_t[]){ 0 }, AG_SHAPE(1)), "embedding: argument 0 is NULL");
    FAILS(ag_embedding(Z(AG_SHAPE(3)), (int64_t[]){ 0 }, AG_SHAPE(1)), AG_ERR_SHAPE,
          "embedding: weight must be 2-d (num_embeddings, embedding_dim), got shape [3]");
    NULL_ARG(ag_embedding(w, NULL, AG_SHAPE(2)), "embedding: indices are NULL");
    FAILS(ag_embedding(w, (int64_t[]){ 0, 4 }, AG_SHAPE(2)), AG_ERR_ARG,
          "embedding: index 4 (at position 1) is out of range for 4 embeddings");
    FAILS(ag_embedding(w, (int64_t[]){ -1 }, AG_SHAPE(1)), AG_ERR_ARG,
          "embedding: index -1 (at position 0) is out of range for 4 embeddings");
    FAILS(ag_embedding(w, (int64_t[]){ 0 }, (ag_shape){ .ndim = 8 }), AG_ERR_SHAPE,
          "embedding: indices of 8 dims (at most 7)");
    FAILS(ag_embedding(w, (int64_t[]){ 0 }, AG_SHAPE(-1)), AG_ERR_SHAPE,
          "embedding: negative dimension in shape [-1]");
    shape_is(ag_embedding(w, NULL, AG_SHAPE(0)), AG_SHAPE(0, 2));
    values_are(ag_embedding(w, (int64_t[]){ 3, 3 }, AG_SHAPE(2)), 4, 6.0, 7.0, 6.0, 7.0);
    /* a row picked twice gets both gradients */
    ag_tensor *wg = G(K(ag_clone(w)));
    cr_assert_eq(ag_backward(ag_sum(ag_embedding(wg, (int64_t[]){ 1, 1, 0 }, AG_SHAPE(3)))), AG_OK);
    values_are(ag_grad(wg), 8, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0);

    ag_tensor *x = T(AG_SHAPE(3), 1.0, NAN, 3.0);
    NULL_ARG(ag_dropout(NULL, 0.5, true), "dropout: argument 0 is NULL");
    FAILS(ag_dropout(x, 1.5, true), AG_ERR_ARG, "dropout: probability has to be between 0 and 1, but got 1.5");
    FAILS(ag_dropout(x, -0.1, false), AG_ERR_ARG,
          "dropout: probability has to be between 0 and 1, but got -0.1");
    FAILS(ag_dropout(x, NAN, true), AG_ERR_ARG, "dropout: probability has to be between 0 and 1, but got nan");
    cr_assert_eq(ag_dropout(x, 0.5, false), x, "not training: x itself");
    cr_assert_eq(ag_dropout(x, 0, true), x, "p = 0: x itself");
    values_are(ag_dropout(x, 1, true), 3, 0.0, NAN, 0.0); /* x * 0, as PyTorch: NaN stays */
    shape_is(ag_dropout(Z(AG_SHAPE(0, 2)), 0.5, true), AG_SHAPE(0, 2));
    EXPECT_NO_ERR();
}
