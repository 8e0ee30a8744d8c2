/* smooth.c — the parametrised activations (silu, leaky_relu, elu, gelu, softplus, clamp) and
 * the broadcasting maximum, minimum and addcmul, all with PyTorch 1.13's values and
 * gradients.
 *
 * Every activation f is one descriptor holding two ops, as PyTorch's derivatives.yaml pairs
 * an op with its X_backward:
 *
 *     f:           x        -> f(x)             backward: dx = f_backward(dy, x)
 *     f_backward:  (dy, x)  -> dy * f'(x)       backward: d dy = f_backward(g, x),
 *                                                         d x  = g * dy * f''(x)
 *
 * f and f' are raw loops (one pass each); f'' is written with the engine's ops, and
 * f_backward is itself an op, so gradients of any order exist (create_graph). Where f'' is 0
 * almost everywhere (leaky_relu, clamp) f_backward gives x no gradient.
 *
 * maximum and minimum send dy through constant 0 / 0.5 / 1 masks (their second derivative
 * is 0), and addcmul's backward is products and sums of its inputs, all with ag_sum_to
 * folding broadcast gradients back. */
#include "unary_internal.h"

#include <tgmath.h>

/* ---------------------------------------------------------------------------------------
 * The activation machinery
 * ------------------------------------------------------------------------------------- */

typedef struct activation activation;

/* The parameters of every activation (each reads its own); copied into the node. */
typedef struct act_attrs {
    const activation *act;
    double slope;           /* leaky_relu */
    double alpha;           /* elu */
    bool tanh_approx;       /* gelu */
    double beta, threshold; /* softplus */
    double lo, hi;          /* clamp */
} act_attrs;

/* dx[0..n) = dy * f'(x) */
typedef void (*act_grad_kernel)(ag_real *dx, const ag_real *dy, const ag_real *x, int64_t n,
                                const act_attrs *at);

struct activation {
    ag_op op;                                            /* x -> f(x) */
    ag_op grad_op;                                       /* (dy, x) -> dy * f'(x) */
    agi_unary_kernel f;
    act_grad_kernel df;
    ag_tensor *(*d2f)(ag_tensor *x, const act_attrs *at); /* f''(x) in ops; NULL: 0 a.e. */
    ag_status (*check)(const act_attrs *at);             /* parameter check, or NULL */
};

/* f_backward(dy, x) = dy * f'(x), as an op of its own. */
static ag_tensor *act_grad(const act_attrs *at, ag_tensor *dy, ag_tensor *x)
{
    ag_tensor *in[2] = { dy, x };
    return ag_apply(&at->act->grad_op, in, 2, at, sizeof *at, NULL);
}

/* f: checks the parameters, then y = f(x), keeping x for backward. */
static ag_status act_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const act_attrs *at = ag_ctx_attrs(c);
    if (at->act->check && at->act->check(at) != AG_OK)
        return ag_error();
    return agi_unary_forward(c, in, out, at->act->f, AGI_SAVE_IN);
}

/* f's backward: dx = f_backward(dy, x). */
static ag_status act_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = act_grad(ag_ctx_attrs(c), dy[0], ag_ctx_saved(c, 0));
    return AG_OK;
}

/* f_backward's forward: o = dy * f'(x) in one pass; keeps dy and x. */
static ag_status grad_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const act_attrs *at = ag_ctx_attrs(c);
    if (!agi_same_shape(in[0]->shape, in[1]->shape))
        return agi_fail_shapes(at->act->grad_op.name, "differ", in[0]->shape, in[1]->shape);
    if (!(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    at->act->df(out[0]->data, in[0]->data, in[1]->data, (int64_t)in[0]->numel, at);
    ag_ctx_save(c, in[0]);
    ag_ctx_save(c, in[1]);
    return AG_OK;
}

/* f_backward's backward: o = dy f'(x), so d dy = g f'(x) = f_backward(g, x) and
 * d x = g dy f''(x). */
static ag_status grad_bwd(ag_ctx *c, ag_tensor *const *g, ag_tensor **dx)
{
    const act_attrs *at = ag_ctx_attrs(c);
    ag_tensor *dy = ag_ctx_saved(c, 0), *x = ag_ctx_saved(c, 1);
    if (!dy || !x)
        return ag_error();
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = act_grad(at, g[0], x);
    if (ag_ctx_needs_grad(c, 1) && at->act->d2f)
        dx[1] = ag_mul(ag_mul(g[0], dy), at->act->d2f(x, at));
    return AG_OK;
}

/* The two op descriptors of activation NAME: "NAME" and "NAME_backward". */
#define ACT_OPS(NAME)                                                                      \
    .op = { .name = NAME, .n_in = 1, .n_out = 1, .forward = act_fwd, .backward = act_bwd }, \
    .grad_op = { .name = NAME "_backward", .n_in = 2, .n_out = 1, .forward = grad_fwd,      \
                 .backward = grad_bwd }

/* Runs the activation that at->act names on x, with at's parameters. */
static ag_tensor *act_apply(const act_attrs *at, ag_tensor *x)
{
    return agi_unary_apply(&at->act->op, x, at, sizeof *at);
}

/* f'(x) as a differentiable tensor: f_backward(1, x). */
static ag_tensor *act_deriv(const act_attrs *at, ag_tensor *x)
{
    ag_tensor *one = ag_empty(x->shape);
    if (!one)
        return NULL;
    for (size_t i = 0; i < one->numel; i++)
        one->data[i] = 1;
    return act_grad(at, one, x);
}

/* 1 / (1 + e^-x) without overflow for large |x|. */
static inline ag_real sigmoid1(ag_real x)
{
    ag_real e = exp(-fabs(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/* ---------------------------------------------------------------------------------------
 * clamp (first: elu's f'' borrows its mask)
 * ------------------------------------------------------------------------------------- */

/* clamp(x) = min(max(x, lo), hi), NaN passing through; lo > hi gives hi everywhere, as
 * PyTorch's min(max(...)) does. */
static void k_clamp(ag_real *y, const ag_real *x, int64_t n, const void *attrs)
{
    const act_attrs *at = attrs;
    ag_real lo = (ag_real)at->lo, hi = (ag_real)at->hi;
    for (int64_t i = 0; i < n; i++) {
        ag_real v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

/* clamp'(x) = 1 where lo <= x <= hi (bounds inclusive), 0 outside and at NaN. */
static void k_clamp_grad(ag_real *dx, const ag_real *dy, const ag_real *x, int64_t n,
                         const act_attrs *at)
{
    ag_real lo = (ag_real)at->lo, hi = (ag_real)at->hi;
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] >= lo && x[i] <= hi ? dy[i] : 0;
}

static ag_status clamp_check(const act_attrs *at)
{
    if (isnan(at->lo) || isnan(at->hi))
        return ag_fail(AG_ERR_ARG, "clamp: bounds must not be NaN (got [%g, %g])", at->lo,
                       at->hi);
    return AG_OK;
}

static const activation CLAMP = { ACT_OPS("clamp"), .f = k_clamp, .df = k_clamp_grad,
                                  .check = clamp_check };

ag_tensor *ag_clamp(ag_tensor *x, double lo, double hi)
{
    act_attrs at = { .act = &CLAMP, .lo = lo, .hi = hi };
    return act_apply(&at, x);
}

/* t where x <= 0, else 0: clamp_backward(t, x) with bounds (-inf, 0]. */
static ag_tensor *where_nonpositive(ag_tensor *t, ag_tensor *x)
{
    act_attrs at = { .act = &CLAMP, .lo = -INFINITY, .hi = 0 };
    return act_grad(&at, t, x);
}

/* ---------------------------------------------------------------------------------------
 * silu
 * ------------------------------------------------------------------------------------- */

/* silu(x) = x sigmoid(x) */
static void k_silu(ag_real *y, const ag_real *x, int64_t n, const void *attrs)
{
    (void)attrs;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * sigmoid1(x[i]);
}

/* silu'(x) = s (1 + x (1 - s)), s = sigmoid(x) */
static void k_silu_grad(ag_real *dx, const ag_real *dy, const ag_real *x, int64_t n,
                        const act_attrs *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++) {
        ag_real s = sigmoid1(x[i]);
        dx[i] = dy[i] * s * (1 + x[i] * (1 - s));
    }
}

/* silu''(x) = s (1 - s) (2 + x (1 - 2s)) */
static ag_tensor *silu_d2(ag_tensor *x, const act_attrs *at)
{
    (void)at;
    ag_tensor *s = ag_sigmoid(x);
    ag_tensor *ds = ag_mul(s, ag_rsub_scalar(1, s));
    return ag_mul(ds, ag_add_scalar(ag_mul(x, ag_rsub_scalar(1, ag_mul_scalar(s, 2))), 2));
}

static const activation SILU = { ACT_OPS("silu"), .f = k_silu, .df = k_silu_grad,
                                 .d2f = silu_d2 };

ag_tensor *ag_silu(ag_tensor *x)
{
    act_attrs at = { .act = &SILU };
    return act_apply(&at, x);
}

/* ---------------------------------------------------------------------------------------
 * leaky_relu
 * ------------------------------------------------------------------------------------- */

/* leaky_relu(x) = x if x > 0 else slope x */
static void k_leaky_relu(ag_real *y, const ag_real *x, int64_t n, const void *attrs)
{
    ag_real k = (ag_real)((const act_attrs *)attrs)->slope;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : k * x[i];
}

/* leaky_relu'(x) = 1 if x > 0 else slope (slope at 0, as PyTorch) */
static void k_leaky_relu_grad(ag_real *dx, const ag_real *dy, const ag_real *x, int64_t n,
                              const act_attrs *at)
{
    ag_real k = (ag_real)at->slope;
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > 0 ? dy[i] : dy[i] * k;
}

static ag_status leaky_relu_check(const act_attrs *at)
{
    if (isnan(at->slope))
        return ag_fail(AG_ERR_ARG, "leaky_relu: negative_slope must not be NaN");
    return AG_OK;
}

static const activation LEAKY_RELU = { ACT_OPS("leaky_relu"), .f = k_leaky_relu,
                                       .df = k_leaky_relu_grad, .check = leaky_relu_check };

ag_tensor *ag_leaky_relu(ag_tensor *x, double negative_slope)
{
    act_attrs at = { .act = &LEAKY_RELU, .slope = negative_slope };
    return act_apply(&at, x);
}

/* ---------------------------------------------------------------------------------------
 * elu
 * ------------------------------------------------------------------------------------- */

/* elu(x) = x if x > 0 else alpha (e^x - 1) */
static void k_elu(ag_real *y, const ag_real *x, int64_t n, const void *attrs)
{
    ag_real a = (ag_real)((const act_attrs *)attrs)->alpha;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : a * expm1(x[i]);
}

/* elu'(x) = 1 if x > 0 else alpha e^x (alpha at 0, as PyTorch) */
static void k_elu_grad(ag_real *dx, const ag_real *dy, const ag_real *x, int64_t n,
                       const act_attrs *at)
{
    ag_real a = (ag_real)at->alpha;
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] > 0 ? dy[i] : dy[i] * a * exp(x[i]);
}

/* elu''(x) = alpha e^x where x <= 0, else 0; e^min(x, 0) keeps the unused side finite. */
static ag_tensor *elu_d2(ag_tensor *x, const act_attrs *at)
{
    ag_tensor *e = ag_mul_scalar(ag_exp(ag_clamp(x, -INFINITY, 0)), at->alpha);
    return where_nonpositive(e, x);
}

static ag_status elu_check(const act_attrs *at)
{
    if (isnan(at->alpha))
        return ag_fail(AG_ERR_ARG, "elu: alpha must not be NaN");
    return AG_OK;
}

static const activation ELU = { ACT_OPS("elu"), .f = k_elu, .df = k_elu_grad, .d2f = elu_d2,
                                .check = elu_check };

ag_tensor *ag_elu(ag_tensor *x, double alpha)
{
    act_attrs at = { .act = &ELU, .alpha = alpha };
    return act_apply(&at, x);
}

/* ---------------------------------------------------------------------------------------
 * gelu
 * ------------------------------------------------------------------------------------- */

#define SQRT1_2 0.70710678118654752440         /* 1/sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794    /* 1/sqrt(2 pi) */
#define GELU_K 0.79788456080286535588          /* sqrt(2/pi) */
#define GELU_C 0.044715

/* Exact: gelu(x) = x Phi(x), Phi(x) = erfc(-x/sqrt 2)/2 (= (1 + erf(x/sqrt 2))/2, without
 * the cancellation for negative x). Tanh form: gelu(x) = x (1 + tanh u)/2,
 * u = sqrt(2/pi) (x + 0.044715 x^3). */
static void k_gelu(ag_real *y, const ag_real *x, int64_t n, const void *attrs)
{
    if (((const act_attrs *)attrs)->tanh_approx)
        for (int64_t i = 0; i < n; i++) {
            ag_real u = (ag_real)GELU_K * (x[i] + (ag_real)GELU_C * x[i] * x[i] * x[i]);
            y[i] = (ag_real)0.5 * x[i] * (1 + tanh(u));
        }
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = (ag_real)0.5 * x[i] * erfc(-x[i] * (ag_real)SQRT1_2);
}

/* Exact: gelu'(x) = Phi(x) + x phi(x), phi(x) = e^(-x^2/2)/sqrt(2 pi).
 * Tanh form: gelu'(x) = (1 + t)/2 + x (1 - t^2) u'/2, t = tanh u, u' = sqrt(2/pi)(1 + 3c x^2). */
static void k_gelu_grad(ag_real *dx, const ag_real *dy, const ag_real *x, int64_t n,
                        const act_attrs *at)
{
    const ag_real k = (ag_real)GELU_K, c = (ag_real)GELU_C;
    if (at->tanh_approx)
        for (int64_t i = 0; i < n; i++) {
            ag_real x2 = x[i] * x[i], t = tanh(k * (x[i] + c * x2 * x[i]));
            ag_real du = k * (1 + 3 * c * x2);
            dx[i] = dy[i] * ((ag_real)0.5 * (1 + t) + (ag_real)0.5 * x[i] * (1 - t * t) * du);
        }
    else
        for (int64_t i = 0; i < n; i++) {
            ag_real cdf = (ag_real)0.5 * erfc(-x[i] * (ag_real)SQRT1_2);
            ag_real pdf = (ag_real)INV_SQRT_2PI * exp((ag_real)-0.5 * x[i] * x[i]);
            dx[i] = dy[i] * (cdf + x[i] * pdf);
        }
}

/* Exact: gelu''(x) = phi(x) (2 - x^2).
 * Tanh form: gelu''(x) = (1 - t^2) (u' + 3 k c x^2 - x t u'^2), k = sqrt(2/pi). */
static ag_tensor *gelu_d2(ag_tensor *x, const act_attrs *at)
{
    ag_tensor *x2 = ag_mul(x, x);
    if (!at->tanh_approx) {
        ag_tensor *pdf = ag_mul_scalar(ag_exp(ag_mul_scalar(x2, -0.5)), INV_SQRT_2PI);
        return ag_mul(pdf, ag_rsub_scalar(2, x2));
    }
    ag_tensor *t = ag_tanh(ag_mul_scalar(ag_mul(x, ag_add_scalar(ag_mul_scalar(x2, GELU_C), 1)),
                                         GELU_K));
    ag_tensor *du = ag_add_scalar(ag_mul_scalar(x2, 3 * GELU_K * GELU_C), GELU_K);
    ag_tensor *bracket = ag_sub(ag_add(du, ag_mul_scalar(x2, 3 * GELU_K * GELU_C)),
                                ag_mul(ag_mul(x, t), ag_mul(du, du)));
    return ag_mul(ag_rsub_scalar(1, ag_mul(t, t)), bracket);
}

static const activation GELU = { ACT_OPS("gelu"), .f = k_gelu, .df = k_gelu_grad,
                                 .d2f = gelu_d2 };

ag_tensor *ag_gelu(ag_tensor *x, bool tanh_approx)
{
    act_attrs at = { .act = &GELU, .tanh_approx = tanh_approx };
    return act_apply(&at, x);
}

/* ---------------------------------------------------------------------------------------
 * softplus
 * ------------------------------------------------------------------------------------- */

/* softplus(x) = x where beta x > threshold, else log(1 + e^(beta x)) / beta, computed as
 * (max(z, 0) + log1p(e^-|z|)) / beta, z = beta x, so that no |x| overflows. */
static void k_softplus(ag_real *y, const ag_real *x, int64_t n, const void *attrs)
{
    const act_attrs *at = attrs;
    ag_real b = (ag_real)at->beta, th = (ag_real)at->threshold;
    for (int64_t i = 0; i < n; i++) {
        ag_real z = x[i] * b;
        y[i] = z > th ? x[i] : ((z > 0 ? z : 0) + log1p(exp(-fabs(z)))) / b;
    }
}

/* softplus'(x) = 1 on the linear branch, sigmoid(beta x) elsewhere */
static void k_softplus_grad(ag_real *dx, const ag_real *dy, const ag_real *x, int64_t n,
                            const act_attrs *at)
{
    ag_real b = (ag_real)at->beta, th = (ag_real)at->threshold;
    for (int64_t i = 0; i < n; i++) {
        ag_real z = x[i] * b;
        dx[i] = z > th ? dy[i] : dy[i] * sigmoid1(z);
    }
}

/* softplus''(x) = 0 on the linear branch, beta s (1 - s) elsewhere (s = sigmoid(beta x));
 * both are beta d (1 - d) with d = softplus'(x), which keeps the branch test in one place. */
static ag_tensor *softplus_d2(ag_tensor *x, const act_attrs *at)
{
    ag_tensor *d = act_deriv(at, x);
    return ag_mul_scalar(ag_mul(d, ag_rsub_scalar(1, d)), at->beta);
}

static ag_status softplus_check(const act_attrs *at)
{
    if (!isfinite(at->beta) || at->beta == 0 || isnan(at->threshold))
        return ag_fail(AG_ERR_ARG,
                       "softplus: beta must be finite and non-zero and threshold not NaN "
                       "(got beta %g, threshold %g)", at->beta, at->threshold);
    return AG_OK;
}

static const activation SOFTPLUS = { ACT_OPS("softplus"), .f = k_softplus,
                                     .df = k_softplus_grad, .d2f = softplus_d2,
                                     .check = softplus_check };

ag_tensor *ag_softplus(ag_tensor *x, double beta, double threshold)
{
    act_attrs at = { .act = &SOFTPLUS, .beta = beta, .threshold = threshold };
    return act_apply(&at, x);
}

/* ---------------------------------------------------------------------------------------
 * maximum, minimum
 * ------------------------------------------------------------------------------------- */

/* y[i] = expr(x, z) with x = a[i ia], z = b[i ib]: a strided binary kernel. */
#define STRIDED_KERNEL(name, expr)                                                         \
    static void name(ag_real *y, const ag_real *a, int64_t ia, const ag_real *b,           \
                     int64_t ib, int64_t n)                                                \
    {                                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                  \
            ag_real x = a[i * ia], z = b[i * ib];                                          \
            y[i] = (expr);                                                                 \
        }                                                                                  \
    }

/* The larger / smaller value; a NaN on either side wins, as torch.maximum/minimum. */
STRIDED_KERNEL(k_maximum, isnan(x) || x > z ? x : z)
STRIDED_KERNEL(k_minimum, isnan(x) || x < z ? x : z)
/* The share of dy that the first argument gets: all if it is the result, none if the other
 * is, half on a tie (PyTorch: where(a == b, dy/2, dy).masked_fill_(a < b, 0) for maximum).
 * The second argument's share is the same kernel with the arguments swapped. */
STRIDED_KERNEL(k_maximum_share, x == z ? (ag_real)0.5 : x < z ? 0 : 1)
STRIDED_KERNEL(k_minimum_share, x == z ? (ag_real)0.5 : x > z ? 0 : 1)

typedef struct extremum {
    const char *name;
    agi_binary_kernel value, share;
} extremum;

static const extremum MAXIMUM_K = { "maximum", k_maximum, k_maximum_share };
static const extremum MINIMUM_K = { "minimum", k_minimum, k_minimum_share };

/* y = value(a, b) over the broadcast shape; keeps a and b for the masks of backward. */
static ag_status extremum_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const extremum *e = *(const extremum *const *)ag_ctx_attrs(c);
    ag_shape s;
    if (!agi_broadcast_shape(e->name, in[0]->shape, in[1]->shape, &s))
        return ag_error();
    if (!(out[0] = ag_empty(s)))
        return ag_error();
    agi_binary_map(out[0], in[0], in[1], e->value);
    ag_ctx_save(c, in[0]);
    ag_ctx_save(c, in[1]);
    return AG_OK;
}

/* sum_to(dy * share(p, q), shape of p): the gradient of the input p, q the other one. */
static ag_tensor *extremum_grad(const extremum *e, ag_tensor *dy, ag_tensor *p, ag_tensor *q)
{
    ag_tensor *m = ag_empty(dy->shape);
    if (!m)
        return NULL;
    agi_binary_map(m, p, q, e->share);
    return ag_sum_to(ag_mul(dy, m), p->shape);
}

/* da = dy * share(a, b), db = dy * share(b, a), each summed back to its input's shape. The
 * shares are constants (the second derivative is 0 wherever it exists). */
static ag_status extremum_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const extremum *e = *(const extremum *const *)ag_ctx_attrs(c);
    ag_tensor *a = ag_ctx_saved(c, 0), *b = ag_ctx_saved(c, 1);
    if (!a || !b)
        return ag_error();
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = extremum_grad(e, dy[0], a, b);
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = extremum_grad(e, dy[0], b, a);
    return AG_OK;
}

static const ag_op MAXIMUM = { .name = "maximum", .n_in = 2, .n_out = 1,
                               .forward = extremum_fwd, .backward = extremum_bwd };
static const ag_op MINIMUM = { .name = "minimum", .n_in = 2, .n_out = 1,
                               .forward = extremum_fwd, .backward = extremum_bwd };

static ag_tensor *extremum_apply(const ag_op *op, const extremum *e, ag_tensor *a, ag_tensor *b)
{
    ag_tensor *in[2] = { a, b };
    return ag_apply(op, in, 2, &e, sizeof e, NULL);
}

ag_tensor *ag_maximum(ag_tensor *a, ag_tensor *b)
{
    return extremum_apply(&MAXIMUM, &MAXIMUM_K, a, b);
}
ag_tensor *ag_minimum(ag_tensor *a, ag_tensor *b)
{
    return extremum_apply(&MINIMUM, &MINIMUM_K, a, b);
}

/* ---------------------------------------------------------------------------------------
 * addcmul
 * ------------------------------------------------------------------------------------- */

/* The common broadcast shape of three shapes, or false with all three in the message. */
static bool broadcast3(const char *op, const ag_shape *s, ag_shape *out)
{
    int nd = 0;
    for (int k = 0; k < 3; k++)
        nd = s[k].ndim > nd ? s[k].ndim : nd;
    ag_shape r = { .ndim = nd };
    for (int i = 0; i < nd; i++) {
        r.d[i] = 1;
        for (int k = 0; k < 3; k++) {
            int j = s[k].ndim - nd + i;
            int64_t d = j >= 0 ? s[k].d[j] : 1;
            if (d != 1 && r.d[i] != 1 && d != r.d[i]) {
                char b0[AG_SHAPE_STRLEN], b1[AG_SHAPE_STRLEN], b2[AG_SHAPE_STRLEN];
                ag_fail(AG_ERR_SHAPE, "%s: shapes %s, %s and %s cannot be broadcast", op,
                        ag_shape_str(s[0], b0), ag_shape_str(s[1], b1), ag_shape_str(s[2], b2));
                return false;
            }
            if (d != 1)
                r.d[i] = d;
        }
    }
    *out = r;
    return true;
}

/* y = c + a * b, same shapes: the flat kernel (vectorised, threaded when large). */
AGI_SIMD static void k_addcmul(ag_real *y, const ag_real *c, const ag_real *a, const ag_real *b,
                               int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = c[i] + a[i] * b[i];
}

/* y = c + a * b over y's shape, each input read through its broadcast strides: the outer
 * dims are walked with a counter, the last one by the inner loop. */
static void addcmul_map(ag_tensor *y, const ag_tensor *c, const ag_tensor *a,
                        const ag_tensor *b)
{
    size_t n = y->numel;
    if (!n)
        return;
    const ag_real *pc = c->data, *pa = a->data, *pb = b->data;
    ag_real *py = y->data;
    if (c->numel == n && a->numel == n && b->numel == n) {
        agi_map_triple(k_addcmul, py, pc, pa, pb, (int64_t)n);
        return;
    }
    int nd = y->shape.ndim;
    int64_t sc[AG_MAX_DIMS], sa[AG_MAX_DIMS], sb[AG_MAX_DIMS], idx[AG_MAX_DIMS] = { 0 };
    agi_broadcast_strides(c->shape, y->shape, sc);
    agi_broadcast_strides(a->shape, y->shape, sa);
    agi_broadcast_strides(b->shape, y->shape, sb);
    int64_t inner = y->shape.d[nd - 1], ic = sc[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1];
    size_t rows = n / (size_t)inner;
    for (size_t r = 0; r < rows; r++, py += inner) {
        for (int64_t j = 0; j < inner; j++)
            py[j] = pc[j * ic] + pa[j * ia] * pb[j * ib];
        for (int d = nd - 2; d >= 0; d--) {
            pc += sc[d], pa += sa[d], pb += sb[d];
            if (++idx[d] < y->shape.d[d])
                break;
            pc -= sc[d] * idx[d], pa -= sa[d] * idx[d], pb -= sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}

/* addcmul(c, a, b) = c + a b in one pass; keeps a and b for backward, which reads dy in
 * either lazy form (a sum's uniform gradient, or relu's masked one: sum(relu(addcmul))). */
static ag_status addcmul_fwd(ag_ctx *ctx, ag_tensor *const *in, ag_tensor **out)
{
    ag_shape s[3] = { in[0]->shape, in[1]->shape, in[2]->shape }, ys;
    if (!broadcast3("addcmul", s, &ys))
        return ag_error();
    if (!(out[0] = ag_empty(ys)))
        return ag_error();
    addcmul_map(out[0], in[0], in[1], in[2]);
    ag_ctx_save(ctx, in[1]);
    ag_ctx_save(ctx, in[2]);
    agi_ctx_takes_lazy_dy(ctx, AGI_DY_UNIFORM | AGI_DY_MASKED);
    return AG_OK;
}

/* The three gradients in one pass over dy, a and b: dc = dy, da = dy b, db = dy a. dy is
 * g[i] (dense), or v where m[i] > 0 else 0 (masked: relu's backward, fused here, so that its
 * result is never written nor read back), or v (uniform; m and g NULL). */
typedef struct addcmul_grads {
    const ag_real *g, *m, *a, *b;
    ag_real v;
    ag_real *dc, *da, *db;
} addcmul_grads;

/* One loop per form of dy; the masked one computes dy exactly as k_relu_bwd_uniform, so
 * the gradients are bitwise those of the unfused backwards. restrict is on parameters: GCC 12
 * vectorises none of these loops when it is on locals loaded from the struct. */
static inline void addcmul_grads_span(const ag_real *restrict g, const ag_real *restrict m,
                                      ag_real v, const ag_real *restrict a,
                                      const ag_real *restrict b, ag_real *restrict dc,
                                      ag_real *restrict da, ag_real *restrict db, int64_t n)
{
    if (m)
        for (int64_t i = 0; i < n; i++) {
            ag_real gi = m[i] > 0 ? v : 0;
            dc[i] = gi, da[i] = gi * b[i], db[i] = gi * a[i];
        }
    else if (g)
        for (int64_t i = 0; i < n; i++) {
            ag_real gi = g[i];
            dc[i] = gi, da[i] = gi * b[i], db[i] = gi * a[i];
        }
    else
        for (int64_t i = 0; i < n; i++)
            dc[i] = v, da[i] = v * b[i], db[i] = v * a[i];
}

AGI_SIMD static void k_addcmul_bwd(void *ctx, int64_t i0, int64_t i1)
{
    const addcmul_grads *r = ctx;
    addcmul_grads_span(r->g ? r->g + i0 : NULL, r->m ? r->m + i0 : NULL, r->v, r->a + i0,
                       r->b + i0, r->dc + i0, r->da + i0, r->db + i0, i1 - i0);
}

/* The same with streaming stores, for gradients too large to stay in cache: they skip the
 * read-for-ownership of each line (a third of the pass's memory traffic). Float build on
 * AVX-512 only; every other case takes the plain loop. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(AG_DOUBLE)
#include <immintrin.h>
#define STREAM_MIN ((int64_t)1 << 18) /* elements per gradient: 1 MiB, an L2 */

/* The streaming loop for one form of dy, 16 values a step: `mask` (relu's output, selecting
 * v where > 0, k_relu_bwd_uniform's select: NaN compares false, +0), else `g` (dense), else
 * the uniform v. The pointers are locals: the stores are through may_alias vector types, so
 * fields read through `r` would be reloaded at every step. Every load of a step comes before
 * its streaming stores: storing dc first, between the loads, made the pass 10% slower on
 * Zen 4 (0.49 against 0.45 ms for 10^6 elements, medians of 400 runs). */
__attribute__((target("avx512f"))) static inline void
addcmul_stream16(const float *mask, const float *g, float v, const float *a, const float *b,
                 float *dc, float *da, float *db, int64_t i, int64_t i1)
{
    __m512 vv = _mm512_set1_ps(v), zero = _mm512_setzero_ps();
    for (; i + 16 <= i1; i += 16) {
        __m512 gi = mask ? _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(mask + i), zero,
                                                                  _CMP_GT_OQ),
                                               vv)
                         : g ? _mm512_loadu_ps(g + i)
                             : vv;
        __m512 gb = _mm512_mul_ps(gi, _mm512_loadu_ps(b + i));
        __m512 ga = _mm512_mul_ps(gi, _mm512_loadu_ps(a + i));
        _mm512_stream_ps(da + i, gb);
        _mm512_stream_ps(db + i, ga);
        _mm512_stream_ps(dc + i, gi);
    }
}

__attribute__((target("avx512f"))) static void k_addcmul_bwd_stream(void *ctx, int64_t i0,
                                                                    int64_t i1)
{
    const addcmul_grads *r = ctx;
    int64_t head = (int64_t)((-(uintptr_t)(r->dc + i0) & 63) / sizeof(float));
    int64_t i = i0 + head < i1 ? i0 + head : i1;
    k_addcmul_bwd(ctx, i0, i); /* to a line boundary */
    if (!(((uintptr_t)(r->da + i) | (uintptr_t)(r->db + i)) & 63)) {
        int64_t end = i + (i1 - i) / 16 * 16;
        if (r->m) /* one instance per form: the test leaves the loop */
            addcmul_stream16(r->m, NULL, r->v, r->a, r->b, r->dc, r->da, r->db, i, end);
        else if (r->g)
            addcmul_stream16(NULL, r->g, 0, r->a, r->b, r->dc, r->da, r->db, i, end);
        else
            addcmul_stream16(NULL, NULL, r->v, r->a, r->b, r->dc, r->da, r->db, i, end);
        i = end;
    }
    _mm_sfence(); /* streamed lines are visible before the pool reports the task done */
    k_addcmul_bwd(ctx, i, i1);
}

static agi_span_fn addcmul_bwd_kernel(int64_t n)
{
    return n >= STREAM_MIN && __builtin_cpu_supports("avx512f") ? k_addcmul_bwd_stream
                                                               : k_addcmul_bwd;
}
#else
static agi_span_fn addcmul_bwd_kernel(int64_t n)
{
    (void)n;
    return k_addcmul_bwd;
}
#endif

/* Without create_graph, broadcasting, or an input that needs no gradient, addcmul's backward
 * is one fused pass writing into the leaves' .grad where offered: a third of the memory
 * traffic of two muls and three copies, and with relu's masked gradient, of relu's backward
 * too. Returns false (nothing done) when it does not apply. */
static bool addcmul_bwd_fused(ag_ctx *ctx, ag_tensor *g, ag_tensor **dx)
{
    if (ag_is_grad_enabled())
        return false;
    for (int i = 0; i < 3; i++)
        if (!ag_ctx_needs_grad(ctx, i) || !agi_same_shape(ag_ctx_input(ctx, i)->shape, g->shape))
            return false;
    ag_tensor *a = ag_ctx_saved(ctx, 0), *b = ag_ctx_saved(ctx, 1);
    addcmul_grads r = { .g = g->uniform ? NULL : g->data, .v = g->uniform ? g->data[0] : 0 };
    if (!a || !b || (agi_is_masked(g) && !(r.m = agi_mask_data(g))))
        return true; /* the error is set */
    for (int i = 0; i < 3; i++) {
        ag_tensor *d = agi_grad_dest(ctx, i);
        if (!(dx[i] = d ? d : ag_empty(g->shape)))
            return true;
    }
    r.a = a->data, r.b = b->data, r.dc = dx[0]->data, r.da = dx[1]->data, r.db = dx[2]->data;
    agi_map_span(addcmul_bwd_kernel((int64_t)g->numel), &r, (int64_t)g->numel);
    return true;
}

/* dc = dy,  da = dy b,  db = dy a, each summed back to its input's shape (from a filled dy:
 * the general path's ops index it) */
static ag_status addcmul_bwd(ag_ctx *ctx, ag_tensor *const *dy, ag_tensor **dx)
{
    if (addcmul_bwd_fused(ctx, dy[0], dx))
        return ag_error();
    if (!agi_dense(dy[0]))
        return ag_error();
    if (ag_ctx_needs_grad(ctx, 0))
        dx[0] = ag_sum_to(dy[0], ag_ctx_input(ctx, 0)->shape);
    if (ag_ctx_needs_grad(ctx, 1))
        dx[1] = ag_sum_to(ag_mul(dy[0], ag_ctx_saved(ctx, 1)), ag_ctx_input(ctx, 1)->shape);
    if (ag_ctx_needs_grad(ctx, 2))
        dx[2] = ag_sum_to(ag_mul(dy[0], ag_ctx_saved(ctx, 0)), ag_ctx_input(ctx, 2)->shape);
    return AG_OK;
}

static const ag_op ADDCMUL = { .name = "addcmul", .n_in = 3, .n_out = 1,
                               .forward = addcmul_fwd, .backward = addcmul_bwd };

ag_tensor *ag_addcmul(ag_tensor *c, ag_tensor *a, ag_tensor *b)
{
    ag_tensor *in[3] = { c, a, b };
    return ag_apply(&ADDCMUL, in, 3, NULL, 0, NULL);
}
