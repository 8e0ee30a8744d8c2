/* norm.c — layer_norm and batch_norm (PyTorch's F.layer_norm and F.batch_norm).
 *
 * Both normalise groups of x's elements by their mean and biased variance, then scale and
 * shift. Seen as (N, C, L) — C groups, each made of N * L values at stride C * L and 1 —
 * layer_norm is (1, rows, row size) and batch_norm on (N, C, *) is (N, C, prod(*)). One op
 * computes for either
 *
 *     xhat = (x - mean) * rstd,   rstd = 1 / sqrt(var + eps)   (var biased, over M = N * L)
 *
 * and outputs xhat, rstd (both differentiable), and mean and var (constants, for the running
 * statistics); the affine part (* weight + bias) is ordinary ops. With g = dL/dxhat and
 * gr = dL/drstd, means taken over each group,
 *
 *     dx = rstd * (g - mean(g)) - xhat * (rstd * mean(g * xhat) + gr * rstd^2 / M)
 *
 * which is written with the engine's ops on the op's own outputs, so the normalisation is
 * differentiable again (create_graph, gradgradcheck). Statistics accumulate in double, two
 * passes (mean, then squared deviations), so values far from 0 keep their variance. */
#include "ops_internal.h"
#include "parallel_internal.h"

#include <math.h>

/* x seen as (n, c, l) with the reduced dims in `mask`, and eps. */
typedef struct norm_attrs {
    int64_t n, c, l;
    unsigned mask;
    double eps;
} norm_attrs;

/* One normalisation's pointers: x in; xhat (x's shape), rstd, mean, var (c each) out. */
typedef struct norm_task {
    const norm_attrs *at;
    const ag_real *x;
    ag_real *xhat, *rstd, *mean, *var;
} norm_task;

/* Sum over group c of (x - shift)^power for power 1 or 2, in double. */
static double group_sum(const norm_task *t, int64_t c, double shift, int power)
{
    const norm_attrs *at = t->at;
    double s = 0;
    for (int64_t n = 0; n < at->n; n++) {
        const ag_real *p = t->x + (n * at->c + c) * at->l;
        for (int64_t i = 0; i < at->l; i++) {
            double d = (double)p[i] - shift;
            s += power == 1 ? d : d * d;
        }
    }
    return s;
}

/* Groups [begin, end): their mean, biased variance and rstd, then xhat. */
static void normalize_groups(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const norm_task *t = ctx;
    const norm_attrs *at = t->at;
    double m = (double)(at->n * at->l);
    for (int64_t c = begin; c < end; c++) {
        double mu = group_sum(t, c, 0, 1) / m;
        double var = group_sum(t, c, mu, 2) / m;
        double r = 1 / sqrt(var + at->eps);
        for (int64_t n = 0; n < at->n; n++) {
            size_t off = (size_t)((n * at->c + c) * at->l);
            for (int64_t i = 0; i < at->l; i++)
                t->xhat[off + i] = (ag_real)(((double)t->x[off + i] - mu) * r);
        }
        t->mean[c] = (ag_real)mu, t->var[c] = (ag_real)var, t->rstd[c] = (ag_real)r;
    }
}

/* From this many elements on, the groups are spread over the thread pool (each group is
 * computed by one thread alone, so the result is the same for any thread count). */
#define NORM_PARALLEL_MIN 32768

/* Outputs: xhat (x's shape), then rstd, mean and var with the reduced dims kept as size 1,
 * so that they broadcast against x. mean and var are constants. */
static ag_status normalize_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const norm_attrs *at = ag_ctx_attrs(c);
    ag_shape ss = agi_reduced_shape(in[0]->shape, at->mask, true);
    if (!(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    for (int k = 1; k < 4; k++)
        if (!(out[k] = ag_empty(ss)))
            return ag_error();
    norm_task t = { at, in[0]->data, out[0]->data, out[1]->data, out[2]->data, out[3]->data };
    if (in[0]->numel >= NORM_PARALLEL_MIN)
        agi_parallel_for(at->c, normalize_groups, &t);
    else
        normalize_groups(&t, 0, at->c, 0);
    ag_ctx_mark_non_differentiable(c, 2);
    ag_ctx_mark_non_differentiable(c, 3);
    ag_ctx_save(c, out[0]);
    ag_ctx_save(c, out[1]);
    return AG_OK;
}

/* The dims set in mask, in increasing order; returns how many. */
static int mask_dims(unsigned mask, int ndim, int *dims)
{
    int n = 0;
    for (int d = 0; d < ndim; d++)
        if (mask & (1u << d))
            dims[n++] = d;
    return n;
}

/* dx = rstd * (g - mean(g)) - xhat * (rstd * mean(g * xhat) + gr * rstd^2 / M) */
static ag_status normalize_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const norm_attrs *at = ag_ctx_attrs(c);
    ag_tensor *xhat = ag_ctx_saved(c, 0), *rstd = ag_ctx_saved(c, 1), *g = dy[0];
    if (!xhat || !rstd)
        return ag_error();
    int dims[AG_MAX_DIMS];
    int nd = mask_dims(at->mask, xhat->shape.ndim, dims);
    ag_tensor *centred = ag_sub(g, ag_mean_dims(g, dims, nd, true));
    ag_tensor *gx = ag_mean_dims(ag_mul(g, xhat), dims, nd, true);
    double inv_m = 1.0 / (double)(at->n * at->l);
    ag_tensor *from_rstd = ag_mul_scalar(ag_mul(dy[1], ag_mul(rstd, rstd)), inv_m);
    ag_tensor *coef = ag_neg(ag_add(ag_mul(rstd, gx), from_rstd));
    dx[0] = ag_addcmul(ag_mul(rstd, centred), xhat, coef);
    return AG_OK;
}

static const ag_op LAYER_NORM = { .name = "layer_norm", .n_in = 1, .n_out = 4,
                                  .forward = normalize_fwd, .backward = normalize_bwd };
static const ag_op BATCH_NORM = { .name = "batch_norm", .n_in = 1, .n_out = 4,
                                  .forward = normalize_fwd, .backward = normalize_bwd };

/* y = xhat * w + b, each of w and b skipped when NULL. */
static ag_tensor *scale_shift(ag_tensor *xhat, ag_tensor *w, ag_tensor *b)
{
    if (w && b)
        return ag_addcmul(b, xhat, w);
    if (w)
        return ag_mul(xhat, w);
    return b ? ag_add(xhat, b) : xhat;
}

/* An optional tensor (weight, bias, running stats; argument `arg` of op) is NULL or live with
 * shape `want`; otherwise false with "op: weight of shape [3] does not match [4]". */
static bool optional_fits(const char *op, int arg, const char *what, const ag_tensor *t,
                          ag_shape want)
{
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    if (!t)
        return true;
    if (!agi_check_live(t, op, arg))
        return false;
    if (agi_same_shape(t->shape, want))
        return true;
    return ag_fail(AG_ERR_SHAPE, "%s: %s of shape %s does not match %s", op, what,
                   ag_shape_str(t->shape, a), ag_shape_str(want, b)),
           false;
}

/* eps must be finite and >= 0. */
static bool eps_ok(const char *op, double eps)
{
    if (isfinite(eps) && eps >= 0)
        return true;
    return ag_fail(AG_ERR_ARG, "%s: eps must be finite and >= 0 (got %g)", op, eps), false;
}

/* --- layer_norm -------------------------------------------------------------------------- */

/* normalized_shape must be 1 to x.ndim dims equal to x's last ones. */
static bool layer_norm_fits(const ag_tensor *x, ag_shape ns)
{
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    int k = ns.ndim, off = x->shape.ndim - k;
    bool ok = k >= 1 && k <= AG_MAX_DIMS && off >= 0;
    for (int i = 0; ok && i < k; i++)
        ok = ns.d[i] == x->shape.d[off + i];
    if (!ok)
        ag_fail(AG_ERR_SHAPE,
                "layer_norm: normalized_shape %s does not match the last dims of input of "
                "shape %s",
                k >= 0 && k <= AG_MAX_DIMS ? ag_shape_str(ns, a) : "(bad ndim)",
                ag_shape_str(x->shape, b));
    return ok;
}

/* F.layer_norm: each group of the last normalized_shape.ndim dims normalised on its own. */
ag_tensor *ag_layer_norm(ag_tensor *x, ag_shape normalized_shape, ag_tensor *weight,
                         ag_tensor *bias, double eps)
{
    if (!agi_check_live(x, "layer_norm", 0) || !layer_norm_fits(x, normalized_shape) ||
        !optional_fits("layer_norm", 2, "weight", weight, normalized_shape) ||
        !optional_fits("layer_norm", 3, "bias", bias, normalized_shape) ||
        !eps_ok("layer_norm", eps))
        return NULL;
    int lead = x->shape.ndim - normalized_shape.ndim;
    norm_attrs at = { .n = 1, .c = 1, .l = (int64_t)ag_shape_numel(normalized_shape), .eps = eps };
    for (int d = 0; d < x->shape.ndim; d++)
        if (d < lead)
            at.c *= x->shape.d[d];
        else
            at.mask |= 1u << d;
    ag_tensor *out[4];
    if (!ag_apply(&LAYER_NORM, &x, 1, &at, sizeof at, out))
        return NULL;
    return scale_shift(out[0], weight, bias);
}

/* --- batch_norm -------------------------------------------------------------------------- */

/* The product of the sizes after the channel dim (L of (N, C, L); 1 for (N, C)). */
static int64_t length_of(const ag_tensor *x)
{
    int64_t l = 1;
    for (int d = 2; d < x->shape.ndim; d++)
        l *= x->shape.d[d];
    return l;
}

/* The arguments of batch_norm: x (N, C, *), the optional (C) tensors, eps, momentum, and
 * running statistics both present or both absent (and present when not training). */
static bool batch_norm_args_ok(ag_tensor *x, ag_tensor *rm, ag_tensor *rv, ag_tensor *w,
                               ag_tensor *b, bool training, double momentum, double eps)
{
    char s[AG_SHAPE_STRLEN];
    if (!agi_check_live(x, "batch_norm", 0))
        return false;
    if (x->shape.ndim < 2)
        return ag_fail(AG_ERR_SHAPE, "batch_norm: input must be (N, C) or (N, C, L), got shape %s",
                       ag_shape_str(x->shape, s)),
               false;
    ag_shape cs = AG_SHAPE(x->shape.d[1]);
    if (!optional_fits("batch_norm", 1, "running_mean", rm, cs) ||
        !optional_fits("batch_norm", 2, "running_var", rv, cs) ||
        !optional_fits("batch_norm", 3, "weight", w, cs) ||
        !optional_fits("batch_norm", 4, "bias", b, cs) || !eps_ok("batch_norm", eps))
        return false;
    if (!rm != !rv)
        return ag_fail(AG_ERR_ARG, "batch_norm: running_mean and running_var must be given "
                                   "together (or both NULL)"),
               false;
    if (!training && !rm)
        return ag_fail(AG_ERR_ARG, "batch_norm: running_mean and running_var are needed when "
                                   "not training"),
               false;
    if (training && rm && !(momentum >= 0 && momentum <= 1))
        return ag_fail(AG_ERR_ARG, "batch_norm: momentum must be in [0, 1] (got %g)", momentum),
               false;
    if (training && x->shape.d[0] * length_of(x) == 1)
        return ag_fail(AG_ERR_ARG,
                       "batch_norm: expected more than 1 value per channel when training, got "
                       "input of shape %s",
                       ag_shape_str(x->shape, s)),
               false;
    return true;
}

/* A (C) tensor as (C, 1, ..., 1), so that it broadcasts over x's channel dim. */
static ag_tensor *per_channel(ag_tensor *t, const ag_tensor *x)
{
    if (!t)
        return NULL;
    ag_shape s = { .ndim = x->shape.ndim - 1 };
    for (int d = 0; d < s.ndim; d++)
        s.d[d] = d == 0 ? x->shape.d[1] : 1;
    return ag_reshape(t, s);
}

/* Blends a batch statistic into a running one in place: r = (1 - momentum) r + momentum s,
 * with s scaled by `unbias` first (M / (M - 1) turns the biased variance into the unbiased
 * one, as PyTorch's running_var keeps). The version bump makes a graph that saved r refuse
 * its backward. */
static void blend(ag_tensor *r, const ag_tensor *s, double momentum, double unbias)
{
    for (size_t i = 0; i < r->numel; i++)
        r->data[i] = (ag_real)((1 - momentum) * (double)r->data[i] +
                               momentum * unbias * (double)s->data[i]);
    ag_bump_version(r);
}

/* Evaluation: y = (x - running_mean) * (weight / sqrt(running_var + eps)) + bias. */
static ag_tensor *batch_norm_eval(ag_tensor *x, ag_tensor *rm, ag_tensor *rv, ag_tensor *w,
                                  ag_tensor *b, double eps)
{
    ag_tensor *scale = ag_pow(ag_add_scalar(rv, eps), -0.5);
    if (w)
        scale = ag_mul(scale, w);
    return scale_shift(ag_sub(x, per_channel(rm, x)), per_channel(scale, x), per_channel(b, x));
}

/* F.batch_norm. Training normalises with the batch's statistics and then (if given) blends
 * them into the running ones — only once the result exists, so a failure changes nothing. */
ag_tensor *ag_batch_norm(ag_tensor *x, ag_tensor *running_mean, ag_tensor *running_var,
                         ag_tensor *weight, ag_tensor *bias, bool training, double momentum,
                         double eps)
{
    if (!batch_norm_args_ok(x, running_mean, running_var, weight, bias, training, momentum,
                            eps))
        return NULL;
    if (!training)
        return batch_norm_eval(x, running_mean, running_var, weight, bias, eps);
    norm_attrs at = { .n = x->shape.d[0], .c = x->shape.d[1], .l = length_of(x),
                      .mask = ((1u << x->shape.ndim) - 1) & ~2u, .eps = eps };
    ag_tensor *out[4];
    if (!ag_apply(&BATCH_NORM, &x, 1, &at, sizeof at, out))
        return NULL;
    ag_tensor *y = scale_shift(out[0], per_channel(weight, x), per_channel(bias, x));
    if (y && running_mean && x->numel) {
        double m = (double)(at.n * at.l);
        blend(running_mean, out[2], momentum, 1);
        blend(running_var, out[3], momentum, m / (m - 1));
    }
    return y;
}
