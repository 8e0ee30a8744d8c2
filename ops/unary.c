/* unary.c — elementwise math: pow, exp, log, sqrt, abs, sign, sin, cos.
 *
 * Each op is a kernel loop, the op descriptor, and a backward in terms of the engine's ops.
 * <tgmath.h> picks the float or double libm function from ag_real. */
#include "scalar_internal.h"
#include "unary_internal.h"

#include <tgmath.h>

#include "vmath.h"

ag_status agi_unary_forward(ag_ctx *c, ag_tensor *const *in, ag_tensor **out,
                            agi_unary_kernel k, unsigned save)
{
    if (!(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    agi_map1(k, out[0]->data, in[0]->data, (int64_t)in[0]->numel, ag_ctx_attrs(c));
    if (save & AGI_SAVE_IN)
        ag_ctx_save(c, in[0]);
    if (save & AGI_SAVE_OUT)
        ag_ctx_save(c, out[0]);
    return AG_OK;
}

ag_tensor *agi_unary_apply(const ag_op *op, ag_tensor *x, const void *attrs, size_t size)
{
    return ag_apply(op, &x, 1, attrs, size, NULL);
}

/* x^p:  dx = dy * p * x^(p-1) */
AGI_SIMD static void k_pow(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    double p = *(const double *)at;
    if (p == 2)
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * x[i];
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = pow(x[i], (ag_real)p);
}
static ag_status pow_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_pow, AGI_SAVE_IN);
}
static ag_status pow_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    double p = *(const double *)ag_ctx_attrs(c);
    ag_tensor *x = ag_ctx_saved(c, 0);
    ag_tensor *d = p == 2 ? ag_mul_scalar(x, 2) : ag_mul_scalar(ag_pow(x, p - 1), p);
    dx[0] = p == 0 ? ag_mul_scalar(dy[0], 0) : ag_mul(dy[0], d);
    return AG_OK;
}
static const ag_op POW = { .name = "pow", .n_in = 1, .n_out = 1, .forward = pow_fwd, .backward = pow_bwd };
ag_tensor *ag_pow(ag_tensor *x, double p) { return agi_elementwise1(&POW, AGI_S_POW, x, &p, sizeof p); }

/* e^x:  dx = dy * y */
AGI_SIMD static void k_exp(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = (ag_real)agi_exp(x[i]);
}
static ag_status exp_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_exp, AGI_SAVE_OUT);
}
static ag_status exp_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_mul(dy[0], ag_ctx_saved(c, 0));
    return AG_OK;
}
static const ag_op EXP = { .name = "exp", .n_in = 1, .n_out = 1, .forward = exp_fwd, .backward = exp_bwd };
ag_tensor *ag_exp(ag_tensor *x) { return agi_elementwise1(&EXP, AGI_S_EXP, x, NULL, 0); }

/* ln x:  dx = dy / x */
static void k_log(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = log(x[i]);
}
static ag_status log_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_log, AGI_SAVE_IN);
}
static ag_status log_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_div(dy[0], ag_ctx_saved(c, 0));
    return AG_OK;
}
static const ag_op LOG = { .name = "log", .n_in = 1, .n_out = 1, .forward = log_fwd, .backward = log_bwd };
ag_tensor *ag_log(ag_tensor *x) { return agi_elementwise1(&LOG, AGI_S_LOG, x, NULL, 0); }

/* sqrt x:  dx = dy / (2 y) */
AGI_SIMD static void k_sqrt(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = sqrt(x[i]);
}
static ag_status sqrt_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_sqrt, AGI_SAVE_OUT);
}
static ag_status sqrt_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_div(dy[0], ag_mul_scalar(ag_ctx_saved(c, 0), 2));
    return AG_OK;
}
static const ag_op SQRT = { .name = "sqrt", .n_in = 1, .n_out = 1, .forward = sqrt_fwd, .backward = sqrt_bwd };
ag_tensor *ag_sqrt(ag_tensor *x) { return agi_unary_apply(&SQRT, x, NULL, 0); }

/* sign x (-1, 0, 1): no gradient, as in PyTorch (zero). */
AGI_SIMD static void k_sign(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = (ag_real)((x[i] > 0) - (x[i] < 0));
}
static ag_status sign_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_sign, 0);
}
static ag_status sign_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c;
    dx[0] = ag_zeros_tape(dy[0]->shape);
    return AG_OK;
}
static const ag_op SIGN = { .name = "sign", .n_in = 1, .n_out = 1, .forward = sign_fwd, .backward = sign_bwd };
ag_tensor *ag_sign(ag_tensor *x) { return agi_unary_apply(&SIGN, x, NULL, 0); }

/* |x|:  dx = dy * sign(x)  (0 at 0, as PyTorch) */
AGI_SIMD static void k_abs(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = fabs(x[i]);
}
static ag_status abs_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_abs, AGI_SAVE_IN);
}
static ag_status abs_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_mul(dy[0], ag_sign(ag_ctx_saved(c, 0)));
    return AG_OK;
}
static const ag_op ABS = { .name = "abs", .n_in = 1, .n_out = 1, .forward = abs_fwd, .backward = abs_bwd };
ag_tensor *ag_abs(ag_tensor *x) { return agi_unary_apply(&ABS, x, NULL, 0); }

/* sin x:  dx = dy cos x;  cos x:  dx = -dy sin x */
static void k_sin(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = sin(x[i]);
}
static void k_cos(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = cos(x[i]);
}
static ag_status sin_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_sin, AGI_SAVE_IN);
}
static ag_status cos_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_cos, AGI_SAVE_IN);
}
static ag_status sin_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_mul(dy[0], ag_cos(ag_ctx_saved(c, 0)));
    return AG_OK;
}
static ag_status cos_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_neg(ag_mul(dy[0], ag_sin(ag_ctx_saved(c, 0))));
    return AG_OK;
}
static const ag_op SIN = { .name = "sin", .n_in = 1, .n_out = 1, .forward = sin_fwd, .backward = sin_bwd };
static const ag_op COS = { .name = "cos", .n_in = 1, .n_out = 1, .forward = cos_fwd, .backward = cos_bwd };
ag_tensor *ag_sin(ag_tensor *x) { return agi_unary_apply(&SIN, x, NULL, 0); }
ag_tensor *ag_cos(ag_tensor *x) { return agi_unary_apply(&COS, x, NULL, 0); }
