/* loss_regression.c — mse, l1, huber and smooth_l1, and the helpers every loss file shares
 * (argument checks, reductions, masks).
 *
 * The four regression losses are pointwise functions f(d) of d = input - target (target
 * broadcast as PyTorch does), so they are one fused op: forward computes d and rewrites it in
 * place into f(d), one output and no other temporary; backward needs only f'(d), which is one
 * or two ops on d, so create_graph differentiates it again. */
#include "loss_internal.h"

#include <tgmath.h>

/* --- shared by the loss files ------------------------------------------------------------ */

bool agi_check_reduction(const char *op, ag_reduction r)
{
    if (r == AG_MEAN || r == AG_SUM || r == AG_NONE)
        return true;
    if (r == AG_BATCHMEAN)
        return AGI_FAIL(AG_ERR_ARG, "%s: reduction batchmean is only defined for kl_div", op),
               false;
    return AGI_FAIL(AG_ERR_ARG, "%s: unknown reduction %d", op, (int)r), false;
}

ag_tensor *agi_reduce_loss(ag_tensor *loss, ag_reduction r)
{
    switch (r) {
    case AG_NONE:
        return loss;
    case AG_SUM:
        return ag_sum(loss);
    default:
        return ag_mean(loss);
    }
}

bool agi_check_same_shape(const char *op, ag_tensor *a, ag_tensor *b)
{
    if (!agi_check_live(a, op, 0) || !agi_check_live(b, op, 1))
        return false;
    if (!agi_same_shape(a->shape, b->shape))
        return agi_fail_shapes(op, "must be the same", a->shape, b->shape), false;
    return true;
}

ag_tensor *agi_mask(const ag_tensor *t, double v, bool equal)
{
    ag_tensor *m = ag_empty(t->shape);
    if (m)
        for (size_t i = 0; i < t->numel; i++)
            m->data[i] = (ag_real)((t->data[i] == v) == equal);
    return m;
}

/* --- the regression losses ---------------------------------------------------------------- */

typedef enum reg_kind { REG_MSE, REG_L1, REG_HUBER, REG_SMOOTH_L1 } reg_kind;

typedef struct reg_attrs {
    reg_kind kind;
    double k; /* huber's delta or smooth_l1's beta */
} reg_attrs;

/* d <- f(d) in place, with a = |d|:
 *   mse d^2,   l1 a,
 *   huber      a^2/2 if a < delta, else delta (a - delta/2),
 *   smooth_l1  a^2/(2 beta) if a < beta, else a - beta/2 */
static void reg_kernel(ag_real *d, size_t n, const reg_attrs *at)
{
    ag_real k = (ag_real)at->k, half = (ag_real)0.5;
    switch (at->kind) {
    case REG_MSE:
        for (size_t i = 0; i < n; i++)
            d[i] = d[i] * d[i];
        break;
    case REG_L1:
        for (size_t i = 0; i < n; i++)
            d[i] = fabs(d[i]);
        break;
    case REG_HUBER:
        for (size_t i = 0; i < n; i++) {
            ag_real a = fabs(d[i]);
            d[i] = a < k ? half * a * a : k * (a - half * k);
        }
        break;
    case REG_SMOOTH_L1:
        for (size_t i = 0; i < n; i++) {
            ag_real a = fabs(d[i]);
            d[i] = a < k ? half * a * a / k : a - half * k;
        }
        break;
    }
}

/* f'(d) as ops on d: 2d, sign d, clamp(d, -delta, delta), clamp(d, -beta, beta) / beta
 * (sign d when beta is 0, where smooth_l1 is l1). Bounds are inclusive, as PyTorch's. */
static ag_tensor *reg_derivative(const reg_attrs *at, ag_tensor *d)
{
    switch (at->kind) {
    case REG_MSE:
        return ag_mul_scalar(d, 2);
    case REG_L1:
        return ag_sign(d);
    case REG_HUBER:
        return ag_clamp(d, -at->k, at->k);
    default:
        return at->k == 0 ? ag_sign(d) : ag_div_scalar(ag_clamp(d, -at->k, at->k), at->k);
    }
}

/* loss = f(input - target);  d input = dy f'(d),  d target = -dy f'(d), each summed back
 * to its input's shape. */
static ag_status reg_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_tensor *d = ag_sub(in[0], in[1]); /* a fresh tape tensor: rewritten in place */
    if (!d)
        return ag_error();
    reg_kernel(d->data, d->numel, ag_ctx_attrs(c));
    out[0] = d;
    ag_ctx_save(c, in[0]);
    ag_ctx_save(c, in[1]);
    return AG_OK;
}
static ag_status reg_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *x = ag_ctx_saved(c, 0), *t = ag_ctx_saved(c, 1);
    if (!x || !t)
        return ag_error();
    ag_tensor *g = ag_mul(dy[0], reg_derivative(ag_ctx_attrs(c), ag_sub(x, t)));
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_sum_to(g, x->shape);
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_sum_to(ag_neg(g), t->shape);
    return AG_OK;
}

static const ag_op REG_OPS[] = {
    [REG_MSE] = { .name = "mse_loss", .n_in = 2, .n_out = 1, .forward = reg_fwd, .backward = reg_bwd },
    [REG_L1] = { .name = "l1_loss", .n_in = 2, .n_out = 1, .forward = reg_fwd, .backward = reg_bwd },
    [REG_HUBER] = { .name = "huber_loss", .n_in = 2, .n_out = 1, .forward = reg_fwd, .backward = reg_bwd },
    [REG_SMOOTH_L1] = { .name = "smooth_l1_loss", .n_in = 2, .n_out = 1, .forward = reg_fwd, .backward = reg_bwd },
};

/* Checks the arguments (live tensors, broadcastable shapes, reduction), then applies the
 * pointwise loss and the reduction. */
static ag_tensor *regression(ag_tensor *x, ag_tensor *t, ag_reduction r, reg_attrs at)
{
    const char *name = REG_OPS[at.kind].name;
    ag_shape s;
    if (!agi_check_live(x, name, 0) || !agi_check_live(t, name, 1) ||
        !agi_broadcast_shape(name, x->shape, t->shape, &s) || !agi_check_reduction(name, r))
        return NULL;
    ag_tensor *in[2] = { x, t };
    return agi_reduce_loss(ag_apply(&REG_OPS[at.kind], in, 2, &at, sizeof at, NULL), r);
}

ag_tensor *ag_mse_loss(ag_tensor *input, ag_tensor *target, ag_reduction r)
{
    return regression(input, target, r, (reg_attrs){ REG_MSE, 0 });
}

ag_tensor *ag_l1_loss(ag_tensor *input, ag_tensor *target, ag_reduction r)
{
    return regression(input, target, r, (reg_attrs){ REG_L1, 0 });
}

ag_tensor *ag_huber_loss(ag_tensor *input, ag_tensor *target, ag_reduction r, double delta)
{
    if (!(delta > 0))
        return AGI_FAIL(AG_ERR_ARG, "huber_loss: delta must be positive, got %g", delta), NULL;
    return regression(input, target, r, (reg_attrs){ REG_HUBER, delta });
}

ag_tensor *ag_smooth_l1_loss(ag_tensor *input, ag_tensor *target, ag_reduction r, double beta)
{
    if (!(beta >= 0))
        return AGI_FAIL(AG_ERR_ARG, "smooth_l1_loss: beta must be non-negative, got %g", beta),
               NULL;
    return regression(input, target, r, (reg_attrs){ REG_SMOOTH_L1, beta });
}
