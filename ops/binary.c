/* binary.c — add, sub, mul, div with broadcasting, and their forms with a number.
 *
 * Each backward is written with the engine's own ops, so create_graph can differentiate it
 * again; ag_sum_to folds a broadcast gradient back to its input's shape (and is free when no
 * broadcast happened). */
#include "scalar_internal.h"

#define BINARY_KERNEL(name, expr)                                                          \
    AGI_SIMD static void name(ag_real *y, const ag_real *a, int64_t ia, const ag_real *b,           \
                     int64_t ib, int64_t n)                                                \
    {                                                                                      \
        if (ia == 1 && ib == 1) {                                                          \
            for (int64_t i = 0; i < n; i++) {                                              \
                ag_real x = a[i], z = b[i];                                                \
                y[i] = (expr);                                                             \
            }                                                                              \
        } else if (ia == 1 && ib == 0) {                                                   \
            ag_real z = b[0];                                                              \
            for (int64_t i = 0; i < n; i++) {                                              \
                ag_real x = a[i];                                                          \
                y[i] = (expr);                                                             \
            }                                                                              \
        } else {                                                                           \
            for (int64_t i = 0; i < n; i++) {                                              \
                ag_real x = a[i * ia], z = b[i * ib];                                      \
                y[i] = (expr);                                                             \
            }                                                                              \
        }                                                                                  \
    }

BINARY_KERNEL(k_add, x + z)
BINARY_KERNEL(k_sub, x - z)
BINARY_KERNEL(k_mul, x *z)
BINARY_KERNEL(k_div, x / z)

/* The shared forward: broadcast shape, output, kernel. Saves the inputs for backward. */
static ag_status binary_forward(ag_ctx *ctx, ag_tensor *const *in, ag_tensor **out,
                                agi_binary_kernel k, const char *name)
{
    ag_shape s;
    if (!agi_broadcast_shape(name, in[0]->shape, in[1]->shape, &s))
        return ag_error();
    if (!(out[0] = ag_empty(s)))
        return ag_error();
    agi_binary_map(out[0], in[0], in[1], k);
    ag_ctx_save(ctx, in[0]);
    ag_ctx_save(ctx, in[1]);
    return AG_OK;
}

/* Shape of input i, for folding gradients back. */
static ag_shape in_shape(ag_ctx *ctx, int i) { return ag_ctx_input(ctx, i)->shape; }

/* a + b:  da = dy,  db = dy */
static ag_status add_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return binary_forward(c, in, out, k_add, "add");
}
static ag_status add_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_sum_to(dy[0], in_shape(c, 0));
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_sum_to(dy[0], in_shape(c, 1));
    return AG_OK;
}
static const ag_op ADD = { .name = "add", .n_in = 2, .n_out = 1, .forward = add_fwd, .backward = add_bwd };

/* a - b:  da = dy,  db = -dy */
static ag_status sub_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return binary_forward(c, in, out, k_sub, "sub");
}
static ag_status sub_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_sum_to(dy[0], in_shape(c, 0));
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_sum_to(ag_neg(dy[0]), in_shape(c, 1));
    return AG_OK;
}
static const ag_op SUB = { .name = "sub", .n_in = 2, .n_out = 1, .forward = sub_fwd, .backward = sub_bwd };

/* a * b:  da = dy * b,  db = dy * a */
static ag_status mul_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return binary_forward(c, in, out, k_mul, "mul");
}
static ag_status mul_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_sum_to(ag_mul(dy[0], ag_ctx_saved(c, 1)), in_shape(c, 0));
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_sum_to(ag_mul(dy[0], ag_ctx_saved(c, 0)), in_shape(c, 1));
    return AG_OK;
}
static const ag_op MUL = { .name = "mul", .n_in = 2, .n_out = 1, .forward = mul_fwd, .backward = mul_bwd };

/* a / b:  da = dy / b,  db = -dy * a / b^2 */
static ag_status div_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return binary_forward(c, in, out, k_div, "div");
}
static ag_status div_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *a = ag_ctx_saved(c, 0), *b = ag_ctx_saved(c, 1);
    ag_tensor *dy_b = ag_div(dy[0], b);
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_sum_to(dy_b, in_shape(c, 0));
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_sum_to(ag_neg(ag_mul(dy_b, ag_div(a, b))), in_shape(c, 1));
    return AG_OK;
}
static const ag_op DIV = { .name = "div", .n_in = 2, .n_out = 1, .forward = div_fwd, .backward = div_bwd };

/* 0-d inputs take the scalar path (scalar.c), everything else the general one. */
ag_tensor *ag_add(ag_tensor *a, ag_tensor *b) { return agi_elementwise2(&ADD, AGI_S_ADD, a, b); }
ag_tensor *ag_sub(ag_tensor *a, ag_tensor *b) { return agi_elementwise2(&SUB, AGI_S_SUB, a, b); }
ag_tensor *ag_mul(ag_tensor *a, ag_tensor *b) { return agi_elementwise2(&MUL, AGI_S_MUL, a, b); }
ag_tensor *ag_div(ag_tensor *a, ag_tensor *b) { return agi_elementwise2(&DIV, AGI_S_DIV, a, b); }

/* --- with a number: y = alpha * x + beta  or  y = s / x ---------------------------------- */

/* alpha * x + beta:  dx = alpha * dy. Covers x + s, x - s, s - x, x * s, x / s, -x. */
static ag_status affine_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const agi_affine_attrs *at = ag_ctx_attrs(c);
    if (!(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    const ag_real *x = in[0]->data;
    ag_real *y = out[0]->data, al = (ag_real)at->alpha, be = (ag_real)at->beta;
    size_t n = in[0]->numel;
    if (at->divide)
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] / al;
    else if (at->beta == 0)
        for (size_t i = 0; i < n; i++)
            y[i] = al * x[i];
    else if (at->alpha == 1)
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] + be;
    else
        for (size_t i = 0; i < n; i++)
            y[i] = al * x[i] + be;
    return AG_OK;
}
static ag_status affine_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const agi_affine_attrs *at = ag_ctx_attrs(c);
    dx[0] = at->divide      ? ag_div_scalar(dy[0], at->alpha)
            : at->alpha == 1 ? dy[0]
                             : ag_mul_scalar(dy[0], at->alpha);
    return AG_OK;
}
static const ag_op AFFINE = { .name = "affine", .n_in = 1, .n_out = 1, .forward = affine_fwd, .backward = affine_bwd };

/* The public name and the tensor's argument position go into the error of a NULL or dead
 * input ("rsub_scalar: argument 1 is NULL"), not the shared op's name. */
static ag_tensor *affine(const char *name, int arg, ag_tensor *x, double alpha, double beta,
                         bool divide)
{
    if (!agi_check_live(x, name, arg))
        return NULL;
    agi_affine_attrs at = { alpha, beta, divide };
    return agi_elementwise1(&AFFINE, AGI_S_AFFINE, x, &at, sizeof at);
}

ag_tensor *ag_add_scalar(ag_tensor *a, double s) { return affine("add_scalar", 0, a, 1, s, false); }
ag_tensor *ag_sub_scalar(ag_tensor *a, double s) { return affine("sub_scalar", 0, a, 1, -s, false); }
ag_tensor *ag_rsub_scalar(double s, ag_tensor *a) { return affine("rsub_scalar", 1, a, -1, s, false); }
ag_tensor *ag_mul_scalar(ag_tensor *a, double s) { return affine("mul_scalar", 0, a, s, 0, false); }
ag_tensor *ag_div_scalar(ag_tensor *a, double s) { return affine("div_scalar", 0, a, s, 0, true); }
ag_tensor *ag_neg(ag_tensor *x) { return affine("neg", 0, x, -1, 0, false); }

/* s / x:  dx = -dy * y / x */
static ag_status rdiv_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    double s = *(const double *)ag_ctx_attrs(c);
    if (!(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    for (size_t i = 0; i < in[0]->numel; i++)
        out[0]->data[i] = (ag_real)s / in[0]->data[i];
    ag_ctx_save(c, in[0]);
    ag_ctx_save(c, out[0]);
    return AG_OK;
}
static ag_status rdiv_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_neg(ag_mul(dy[0], ag_div(ag_ctx_saved(c, 1), ag_ctx_saved(c, 0))));
    return AG_OK;
}
static const ag_op RDIV = { .name = "rdiv", .n_in = 1, .n_out = 1, .forward = rdiv_fwd, .backward = rdiv_bwd };

ag_tensor *ag_rdiv_scalar(double s, ag_tensor *a)
{
    if (!agi_check_live(a, "rdiv_scalar", 1))
        return NULL;
    return ag_apply(&RDIV, &a, 1, &s, sizeof s, NULL);
}
