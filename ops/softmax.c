/* softmax.c — softmax and log_softmax along any dim.
 *
 * Around the chosen dim a tensor is seen as (outer, D, inner): each of the outer*inner slices
 * of D values (stride inner) is normalised on its own. Both ops subtract the slice's max
 * before exponentiating, so logits in the thousands neither overflow nor lose the small
 * terms, and the sum of exponentials accumulates in double. Both backwards are written with
 * the engine's ops (they use the saved output), so create_graph differentiates them again. */
#include "ops_internal.h"

#include <tgmath.h>

/* One slice of n values at stride `st`:
 *   softmax:      y_i = e^(x_i - m) / sum_j e^(x_j - m)
 *   log_softmax:  y_i = x_i - m - log(sum_j e^(x_j - m)),   m = max_j x_j
 * Contiguous slices (the last dim, the common case) take the vectorised row kernels. */
static void softmax_slice(ag_real *y, const ag_real *x, int64_t n, int64_t st, bool log_out)
{
    ag_real m;
    double s = 0;
    if (st == 1) {
        m = agi_row_max(x, n);
        s = agi_row_exp_sum(log_out ? NULL : y, x, n, m);
    } else {
        m = x[0];
        for (int64_t i = 1; i < n; i++)
            m = x[i * st] > m ? x[i * st] : m;
        for (int64_t i = 0; i < n; i++) {
            ag_real e = exp(x[i * st] - m);
            if (!log_out)
                y[i * st] = e;
            s += e;
        }
    }
    if (log_out) {
        ag_real lse = m + (ag_real)log(s);
        for (int64_t i = 0; i < n; i++)
            y[i * st] = x[i * st] - lse;
    } else {
        ag_real r = (ag_real)(1 / s);
        for (int64_t i = 0; i < n; i++)
            y[i * st] *= r;
    }
}

/* The shared forward: y = (log_)softmax(x) along the dim in the attrs; saves y. */
static ag_status softmax_forward(ag_ctx *c, ag_tensor *const *in, ag_tensor **out,
                                 bool log_out)
{
    int dim = *(const int *)ag_ctx_attrs(c);
    ag_tensor *x = in[0];
    if (!(out[0] = ag_empty(x->shape)))
        return ag_error();
    ag_ctx_save(c, out[0]); /* also when empty: backward reads it */
    if (x->numel == 0)
        return AG_OK;
    int64_t d = x->shape.ndim ? x->shape.d[dim] : 1, inner = 1;
    for (int i = dim + 1; i < x->shape.ndim; i++)
        inner *= x->shape.d[i];
    int64_t outer = (int64_t)x->numel / (d * inner);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            size_t off = (size_t)(o * d * inner + i);
            softmax_slice(out[0]->data + off, x->data + off, d, inner, log_out);
        }
    return AG_OK;
}

/* softmax:  dx = y * (dy - sum(dy * y, dim)) */
static ag_status softmax_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return softmax_forward(c, in, out, false);
}
static ag_status softmax_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    int dim = *(const int *)ag_ctx_attrs(c);
    ag_tensor *y = ag_ctx_saved(c, 0);
    dx[0] = ag_mul(y, ag_sub(dy[0], ag_sum_dim(ag_mul(dy[0], y), dim, true)));
    return AG_OK;
}
static const ag_op SOFTMAX = { .name = "softmax", .n_in = 1, .n_out = 1, .forward = softmax_fwd, .backward = softmax_bwd };

/* log_softmax:  dx = dy - exp(y) * sum(dy, dim) */
static ag_status log_softmax_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return softmax_forward(c, in, out, true);
}
static ag_status log_softmax_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    int dim = *(const int *)ag_ctx_attrs(c);
    ag_tensor *y = ag_ctx_saved(c, 0);
    dx[0] = ag_sub(dy[0], ag_mul(ag_exp(y), ag_sum_dim(dy[0], dim, true)));
    return AG_OK;
}
static const ag_op LOG_SOFTMAX = { .name = "log_softmax", .n_in = 1, .n_out = 1, .forward = log_softmax_fwd, .backward = log_softmax_bwd };

/* Normalises dim against x, then runs op. */
static ag_tensor *apply_along(const ag_op *op, ag_tensor *x, int dim)
{
    if (!agi_check_live(x, op->name, 0) || !agi_wrap_dim(op->name, &dim, x->shape.ndim))
        return NULL;
    return ag_apply(op, &x, 1, &dim, sizeof dim, NULL);
}

ag_tensor *ag_softmax(ag_tensor *x, int dim) { return apply_along(&SOFTMAX, x, dim); }
ag_tensor *ag_log_softmax(ag_tensor *x, int dim) { return apply_along(&LOG_SOFTMAX, x, dim); }
