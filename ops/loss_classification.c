/* loss_classification.c — binary cross entropy (on probabilities and on logits), cross
 * entropy (class indices, fused; probability targets, composed), nll_loss, kl_div and the
 * dice loss, with the class-index helpers the other loss files share.
 *
 * Forward kernels are fused where a composition would lose stability (clamped logs, the
 * log-sum-exp form) or speed (cross_entropy); every backward is written with the engine's
 * ops, so create_graph differentiates each of these losses again. */
#include "loss_internal.h"
#include "parallel_internal.h"

#include <inttypes.h>
#include <string.h>
#include <tgmath.h>

/* --- class indices ------------------------------------------------------------------------ */

int64_t *agi_tape_indices(const int64_t *src, int64_t n)
{
    int64_t *d = agi_arena_alloc(&agi_tape_get()->arena, (size_t)(n ? n : 1) * sizeof *d);
    if (d && n)
        memcpy(d, src, (size_t)n * sizeof *d);
    return d;
}

/* Class scores must be (N, C); false with "op: input must be (N, C), got shape [..]". */
static bool check_scores(const char *op, const ag_tensor *x)
{
    char b[AG_SHAPE_STRLEN];
    if (x->shape.ndim == 2)
        return true;
    return AGI_FAIL(AG_ERR_SHAPE, "%s: input must be (N, C), got shape %s", op,
                    ag_shape_str(x->shape, b)),
           false;
}

const int64_t *agi_check_classes(const char *op, ag_tensor *x, const int64_t *target,
                                 ag_reduction r)
{
    if (!agi_check_live(x, op, 0) || !agi_check_reduction(op, r) || !check_scores(op, x))
        return NULL;
    if (!target)
        return AGI_FAIL(AG_ERR_ARG, "%s: target is NULL", op), NULL;
    int64_t n = x->shape.d[0], c = x->shape.d[1];
    for (int64_t i = 0; i < n; i++)
        if (target[i] < 0 || target[i] >= c)
            return AGI_FAIL(AG_ERR_ARG,
                            "%s: target[%" PRId64 "] = %" PRId64 " is out of range for %" PRId64
                            " classes",
                            op, i, target[i], c),
                   NULL;
    return agi_tape_indices(target, n);
}

ag_tensor *agi_onehot(ag_shape s, const int64_t *cls, double on, double off)
{
    ag_tensor *t = ag_empty(s);
    if (!t)
        return NULL;
    int64_t c = s.d[1];
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = (ag_real)off;
    for (int64_t n = 0; n < s.d[0]; n++)
        t->data[n * c + cls[n]] = (ag_real)on;
    return t;
}

typedef struct cls_attrs {
    const int64_t *cls; /* (N) on the tape */
    int64_t c;          /* C */
} cls_attrs;

static ag_tensor *scatter_classes(ag_tensor *g, const cls_attrs *at);

/* gather: y[n] = x[n, cls[n]], (N, C) -> (N);  dx = scatter(dy) */
static ag_status gather_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const cls_attrs *at = ag_ctx_attrs(c);
    int64_t n = in[0]->shape.d[0];
    if (!(out[0] = ag_empty(AG_SHAPE(n))))
        return ag_error();
    for (int64_t i = 0; i < n; i++)
        out[0]->data[i] = in[0]->data[i * at->c + at->cls[i]];
    return AG_OK;
}
static ag_status gather_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = scatter_classes(dy[0], ag_ctx_attrs(c));
    return AG_OK;
}
static const ag_op GATHER = { .name = "gather_classes", .n_in = 1, .n_out = 1, .forward = gather_fwd, .backward = gather_bwd };

/* scatter: y[n, c] = x[n] if c == cls[n], else 0, (N) -> (N, C);  dx = gather(dy) */
static ag_status scatter_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const cls_attrs *at = ag_ctx_attrs(c);
    int64_t n = in[0]->shape.d[0];
    if (!(out[0] = ag_zeros_tape(AG_SHAPE(n, at->c))))
        return ag_error();
    for (int64_t i = 0; i < n; i++)
        out[0]->data[i * at->c + at->cls[i]] = in[0]->data[i];
    return AG_OK;
}
static ag_status scatter_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_apply(&GATHER, dy, 1, ag_ctx_attrs(c), sizeof(cls_attrs), NULL);
    return AG_OK;
}
static const ag_op SCATTER = { .name = "scatter_classes", .n_in = 1, .n_out = 1, .forward = scatter_fwd, .backward = scatter_bwd };

static ag_tensor *scatter_classes(ag_tensor *g, const cls_attrs *at)
{
    return ag_apply(&SCATTER, &g, 1, at, sizeof *at, NULL);
}

ag_tensor *agi_gather_classes(ag_tensor *x, const int64_t *cls)
{
    if (!x || !cls)
        return NULL;
    cls_attrs at = { cls, x->shape.d[1] };
    return ag_apply(&GATHER, &x, 1, &at, sizeof at, NULL);
}

/* --- elementwise losses of two same-shape inputs ------------------------------------------ */

typedef void (*pair_kernel)(ag_real *y, const ag_real *a, const ag_real *b, size_t n);

/* The shared forward: y = k(a, b) elementwise; saves a and b for backward. */
static ag_status pair_forward(ag_ctx *c, ag_tensor *const *in, ag_tensor **out, pair_kernel k)
{
    if (!(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    k(out[0]->data, in[0]->data, in[1]->data, in[0]->numel);
    ag_ctx_save(c, in[0]);
    ag_ctx_save(c, in[1]);
    return AG_OK;
}

/* Checks two same-shape inputs and the reduction, then applies op and the reduction. */
static ag_tensor *pair_loss(const ag_op *op, ag_tensor *a, ag_tensor *b, ag_reduction r)
{
    if (!agi_check_same_shape(op->name, a, b) || !agi_check_reduction(op->name, r))
        return NULL;
    ag_tensor *in[2] = { a, b };
    return agi_reduce_loss(ag_apply(op, in, 2, NULL, 0, NULL), r);
}

/* max(log x, -100) as ops: the clamped log of binary_cross_entropy. */
static ag_tensor *clamped_log(ag_tensor *x) { return ag_clamp(ag_log(x), -100, INFINITY); }

/* binary_cross_entropy: l = -(t log p + (1 - t) log(1 - p)), each log clamped at -100 as
 * PyTorch does (p = 0 or 1 cost 100, not inf);
 *   dp = dy (p - t) / max(p (1 - p), 1e-12),   dt = dy (log(1 - p) - log p)  (clamped logs) */
static void k_bce(ag_real *y, const ag_real *p, const ag_real *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ag_real lp = fmax(log(p[i]), (ag_real)-100), l1p = fmax(log1p(-p[i]), (ag_real)-100);
        y[i] = -(t[i] * lp + (1 - t[i]) * l1p);
    }
}
static ag_status bce_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    for (size_t i = 0; i < in[0]->numel; i++)
        if (!(in[0]->data[i] >= 0 && in[0]->data[i] <= 1))
            return AGI_FAIL(AG_ERR_ARG, "binary_cross_entropy: input[%zu] = %g is not in [0, 1]",
                            i, (double)in[0]->data[i]);
    return pair_forward(c, in, out, k_bce);
}
static ag_status bce_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *p = ag_ctx_saved(c, 0), *t = ag_ctx_saved(c, 1);
    if (ag_ctx_needs_grad(c, 0)) {
        ag_tensor *var = ag_clamp(ag_mul(p, ag_rsub_scalar(1, p)), 1e-12, INFINITY);
        dx[0] = ag_div(ag_mul(dy[0], ag_sub(p, t)), var);
    }
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_mul(dy[0], ag_sub(clamped_log(ag_rsub_scalar(1, p)), clamped_log(p)));
    return AG_OK;
}
static const ag_op BCE = { .name = "binary_cross_entropy", .n_in = 2, .n_out = 1, .forward = bce_fwd, .backward = bce_bwd };

ag_tensor *ag_binary_cross_entropy(ag_tensor *p, ag_tensor *t, ag_reduction r)
{
    return pair_loss(&BCE, p, t, r);
}

/* binary_cross_entropy_with_logits: l = -(t log s + (1 - t) log(1 - s)), s = sigmoid(x),
 * in the form that cannot overflow:  l = max(x, 0) - x t + log(1 + e^-|x|);
 *   dx = dy (sigmoid(x) - t),   dt = -dy x */
static void k_bce_logits(ag_real *y, const ag_real *x, const ag_real *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = fmax(x[i], (ag_real)0) - x[i] * t[i] + log1p(exp(-fabs(x[i])));
}
static ag_status bce_logits_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return pair_forward(c, in, out, k_bce_logits);
}
static ag_status bce_logits_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *x = ag_ctx_saved(c, 0), *t = ag_ctx_saved(c, 1);
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_mul(dy[0], ag_sub(ag_sigmoid(x), t));
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_neg(ag_mul(dy[0], x));
    return AG_OK;
}
static const ag_op BCE_LOGITS = { .name = "binary_cross_entropy_with_logits", .n_in = 2, .n_out = 1, .forward = bce_logits_fwd, .backward = bce_logits_bwd };

ag_tensor *ag_binary_cross_entropy_with_logits(ag_tensor *x, ag_tensor *t, ag_reduction r)
{
    return pair_loss(&BCE_LOGITS, x, t, r);
}

/* kl_div, input = log q, pointwise:
 *   t (log t - input)  (t log t taken as 0 at t = 0, PyTorch's xlogy),  or with log_target
 *   e^t (t - input);
 *   d input = -dy t  (-dy e^t);   d t = dy (log t + 1 - input), 0 where t = 0
 *   (dy e^t (t + 1 - input)) */
static void k_kl(ag_real *y, const ag_real *x, const ag_real *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (t[i] == 0 ? 0 : t[i] * log(t[i])) - t[i] * x[i];
}
static void k_kl_log(ag_real *y, const ag_real *x, const ag_real *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = exp(t[i]) * (t[i] - x[i]);
}
static ag_status kl_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    bool log_target = *(const bool *)ag_ctx_attrs(c);
    return pair_forward(c, in, out, log_target ? k_kl_log : k_kl);
}
static ag_status kl_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    bool log_target = *(const bool *)ag_ctx_attrs(c);
    ag_tensor *x = ag_ctx_saved(c, 0), *t = ag_ctx_saved(c, 1);
    if (!x || !t)
        return ag_error();
    ag_tensor *w = log_target ? ag_mul(dy[0], ag_exp(t)) : ag_mul(dy[0], t);
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_neg(w);
    if (ag_ctx_needs_grad(c, 1)) {
        if (log_target) {
            dx[1] = ag_mul(w, ag_sub(ag_add_scalar(t, 1), x));
        } else { /* log of t with the zeros replaced by ones, then masked */
            ag_tensor *log_t = ag_log(ag_add(t, agi_mask(t, 0, true)));
            dx[1] = ag_mul(ag_mul(dy[0], ag_sub(ag_add_scalar(log_t, 1), x)),
                           agi_mask(t, 0, false));
        }
    }
    return AG_OK;
}
static const ag_op KL_DIV = { .name = "kl_div", .n_in = 2, .n_out = 1, .forward = kl_fwd, .backward = kl_bwd };

/* Reductions as PyTorch's: sum, mean over every element, batchmean = sum / input.shape[0]. */
ag_tensor *ag_kl_div(ag_tensor *input, ag_tensor *target, ag_reduction r, bool log_target)
{
    if (!agi_check_same_shape("kl_div", input, target))
        return NULL;
    if (r == AG_BATCHMEAN && input->shape.ndim == 0)
        return AGI_FAIL(AG_ERR_SHAPE, "kl_div: batchmean needs a batch dimension, the input is 0-d"),
               NULL;
    if (r != AG_BATCHMEAN && !agi_check_reduction("kl_div", r))
        return NULL;
    ag_tensor *in[2] = { input, target };
    ag_tensor *loss = ag_apply(&KL_DIV, in, 2, &log_target, sizeof log_target, NULL);
    if (r == AG_BATCHMEAN)
        return ag_div_scalar(ag_sum(loss), (double)input->shape.d[0]);
    return agi_reduce_loss(loss, r);
}

/* --- cross entropy with class indices: log_softmax and nll fused -------------------------- */

typedef struct ce_attrs {
    const int64_t *cls; /* (N) on the tape */
    double e;           /* label smoothing */
} ce_attrs;

/* The rows of a cross-entropy kernel: x (N, C) in, per-row results out. Rows are independent,
 * so large inputs run them on the thread pool (bitwise the same for any thread count). */
typedef struct ce_rows {
    const ag_real *x;
    const int64_t *cls;
    int64_t c;
    double e;
    ag_real *loss, *lse;       /* forward: (N) each, */
    ag_real *p;                /* and softmax(x) (N, C) when backward will need it */
    const ag_real *g, *lse_in; /* gradient: (N) each, */
    const ag_real *p_in;       /* softmax(x) from forward, or NULL: recomputed from x */
    ag_real *dx;               /* and (N, C) out */
} ce_rows;

/* Runs task over rows [0, n): on the thread pool from CE_PARALLEL_MIN logits on, below that
 * on the calling thread (threads would cost more than they save). */
#define CE_PARALLEL_MIN 32768
static void run_rows(ce_rows *r, int64_t n, agi_task_fn task)
{
    if (n * r->c >= CE_PARALLEL_MIN)
        agi_parallel_for(n, task, r);
    else
        task(r, 0, n, 0);
}

/* Forward rows, with lse = log sum_c e^(x_c) and smoothing e:
 *   loss = (1 - e)(lse - x_y) + (e / C) sum_c (lse - x_c) = lse - (1 - e) x_y - (e / C) sum_c x_c
 * Each row is swept while it is in cache: its max, the exponentials of x - max (vectorised,
 * double sum: rowops.c), and the sum of x only when e > 0. */
static void ce_fwd_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const ce_rows *r = ctx;
    int64_t C = r->c;
    for (int64_t n = begin; n < end; n++) {
        const ag_real *x = r->x + n * C;
        ag_real m = agi_row_max(x, C), *p = r->p ? r->p + n * C : NULL;
        double s = agi_row_exp_sum(p, x, C, m), sx = 0;
        if (p)
            agi_row_scale(p, C, (ag_real)(1 / s));
        if (r->e != 0)
            for (int64_t c = 0; c < C; c++)
                sx += x[c];
        double lse = m + log(s);
        r->lse[n] = (ag_real)lse;
        r->loss[n] = (ag_real)(lse - (1 - r->e) * x[r->cls[n]] - r->e / (double)C * sx);
    }
}

/* Gradient rows: dx_c = g (p_c - e / C) - g (1 - e) [c = y], p = softmax(x) as forward
 * kept it (a multiply-add per value), or else e^(x_c - lse) (an exp per value). */
static void ce_grad_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const ce_rows *r = ctx;
    int64_t C = r->c;
    ag_real off = (ag_real)(r->e / (double)C);
    for (int64_t n = begin; n < end; n++) {
        const ag_real *x = r->x + n * C;
        ag_real *dx = r->dx + n * C, g = r->g[n], lse = r->lse_in[n];
        if (r->p_in)
            agi_row_affine(dx, r->p_in + n * C, C, g, off);
        else
            agi_row_exp_affine(dx, x, C, lse, g, off);
        dx[r->cls[n]] -= g * (ag_real)(1 - r->e);
    }
}

/* cross_entropy_grad(x, g, lse, p) = g_n (softmax(x) - q), q = (1 - e) onehot(y) + e / C:
 * the gradient of the per-sample losses, in one pass over p = softmax(x) as forward kept it
 * (recomputed from x and lse when p is empty). Its own gradient, for create_graph, with s = softmax(x)
 * and G the incoming gradient:  d x = g_n s (G - sum_c G s),  d g_n = sum_c G (s - q). */
static ag_status ce_grad_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const ce_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = in[0];
    if (!(out[0] = agi_out(c, x->shape)))
        return ag_error();
    ce_rows r = { .x = x->data, .cls = at->cls, .c = x->shape.d[1], .e = at->e,
                  .g = in[1]->data, .lse_in = in[2]->data, .dx = out[0]->data,
                  .p_in = in[3]->numel == x->numel ? in[3]->data : NULL };
    run_rows(&r, x->shape.d[0], ce_grad_rows);
    ag_ctx_save(c, x);
    ag_ctx_save(c, in[1]);
    return AG_OK;
}
static ag_status ce_grad_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const ce_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = ag_ctx_saved(c, 0), *g = ag_ctx_saved(c, 1);
    if (!x || !g)
        return ag_error();
    int64_t n = x->shape.d[0], C = x->shape.d[1];
    ag_tensor *s = ag_softmax(x, 1), *G = dy[0];
    if (ag_ctx_needs_grad(c, 0)) {
        ag_tensor *sg = ag_mul(s, ag_sub(G, ag_sum_dim(ag_mul(G, s), 1, true)));
        dx[0] = ag_mul(ag_reshape(g, AG_SHAPE(n, 1)), sg);
    }
    if (ag_ctx_needs_grad(c, 1)) {
        ag_tensor *q = agi_onehot(x->shape, at->cls, 1 - at->e + at->e / (double)C,
                                  at->e / (double)C);
        dx[1] = ag_sum_dim(ag_mul(G, ag_sub(s, q)), 1, false);
    }
    return AG_OK;
}
static const ag_op CE_GRAD = { .name = "cross_entropy_grad", .n_in = 4, .n_out = 1, .forward = ce_grad_fwd, .backward = ce_grad_bwd };

/* cross_entropy: x (N, C) -> per-sample losses (N), and lse (N) for backward (output 1, not
 * differentiable). When recorded it also keeps p = softmax(x) (N, C), saved rather than an
 * output so that backward is not handed a gradient of zeros for it: a 4-byte store per logit
 * that spares backward an exp per logit.  dx = cross_entropy_grad(x, dy, lse, p) */
static ag_status ce_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const ce_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = in[0];
    int64_t n = x->shape.d[0];
    ag_tensor *p = NULL;
    if (!(out[0] = ag_empty(AG_SHAPE(n))) || !(out[1] = ag_empty(AG_SHAPE(n))) ||
        (agi_ctx_recording(c) && !(p = ag_empty(x->shape))))
        return ag_error();
    ce_rows r = { .x = x->data, .cls = at->cls, .c = x->shape.d[1], .e = at->e,
                  .loss = out[0]->data, .lse = out[1]->data, .p = p ? p->data : NULL };
    run_rows(&r, n, ce_fwd_rows);
    ag_ctx_mark_non_differentiable(c, 1);
    ag_ctx_save(c, x);
    ag_ctx_save(c, p);
    return AG_OK;
}
static ag_status ce_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *in[4] = { ag_ctx_saved(c, 0), dy[0], ag_ctx_output(c, 1), ag_ctx_saved(c, 1) };
    dx[0] = agi_apply_into(agi_grad_dest(c, 0), &CE_GRAD, in, 4, ag_ctx_attrs(c),
                           sizeof(ce_attrs));
    return AG_OK;
}
static const ag_op CROSS_ENTROPY = { .name = "cross_entropy", .n_in = 1, .n_out = 2, .forward = ce_fwd, .backward = ce_bwd };

/* label_smoothing must lie in [0, 1], as PyTorch requires. */
static bool check_smoothing(double e)
{
    if (e >= 0 && e <= 1)
        return true;
    return AGI_FAIL(AG_ERR_ARG, "cross_entropy: label_smoothing must be in [0, 1], got %g", e),
           false;
}

ag_tensor *ag_cross_entropy(ag_tensor *x, const int64_t *target, ag_reduction r,
                            double label_smoothing)
{
    ce_attrs at = { agi_check_classes("cross_entropy", x, target, r), label_smoothing };
    if (!at.cls || !check_smoothing(label_smoothing))
        return NULL;
    return agi_reduce_loss(ag_apply(&CROSS_ENTROPY, &x, 1, &at, sizeof at, NULL), r);
}

/* With probability targets t (not renormalised), composed:
 *   loss_n = -sum_c ((1 - e) t[n,c] + e / C) log_softmax(x)[n,c]
 * so the gradient reaches t as well. */
ag_tensor *ag_cross_entropy_probs(ag_tensor *x, ag_tensor *t, ag_reduction r,
                                  double label_smoothing)
{
    double e = label_smoothing;
    if (!agi_check_same_shape("cross_entropy", x, t) || !agi_check_reduction("cross_entropy", r) ||
        !check_scores("cross_entropy", x) || !check_smoothing(e))
        return NULL;
    ag_tensor *q = e == 0 ? t : ag_add_scalar(ag_mul_scalar(t, 1 - e), e / (double)x->shape.d[1]);
    return agi_reduce_loss(ag_neg(ag_sum_dim(ag_mul(q, ag_log_softmax(x, 1)), 1, false)), r);
}

/* nll_loss: loss_n = -logp[n, target[n]] (mean divides by N). */
ag_tensor *ag_nll_loss(ag_tensor *logp, const int64_t *target, ag_reduction r)
{
    const int64_t *cls = agi_check_classes("nll_loss", logp, target, r);
    if (!cls)
        return NULL;
    return agi_reduce_loss(ag_neg(agi_gather_classes(logp, cls)), r);
}

/* --- dice ----------------------------------------------------------------------------------- */

/* dice_loss = 1 - (2 sum(p t) + eps) / (sum p + sum t + eps), over every element: composed. */
ag_tensor *ag_dice_loss(ag_tensor *p, ag_tensor *t, double eps)
{
    if (!agi_check_same_shape("dice_loss", p, t))
        return NULL;
    ag_tensor *num = ag_add_scalar(ag_mul_scalar(ag_sum(ag_mul(p, t)), 2), eps);
    ag_tensor *den = ag_add_scalar(ag_add(ag_sum(p), ag_sum(t)), eps);
    return ag_rsub_scalar(1, ag_div(num, den));
}
