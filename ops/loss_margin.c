/* loss_margin.c — the margin and embedding losses: hinge_embedding, multi_margin,
 * margin_ranking, triplet_margin, cosine_embedding and contrastive.
 *
 * Each is a composition of the engine's ops over small per-sample quantities, so it is
 * differentiable to any order and needs no backward of its own. Where PyTorch writes
 * clamp_min(0) the hinge uses ag_clamp, whose gradient at the bound is PyTorch's; where it
 * writes "if z > 0" (multi_margin) it uses relu. Targets given as ±1 tensors enter through
 * constant masks, as PyTorch's where(): they get no gradient. */
#include "loss_internal.h"

#include <math.h>

/* max(x, 0) with clamp_min's gradient (1 at 0) */
static ag_tensor *clamp_min0(ag_tensor *x) { return ag_clamp(x, 0, INFINITY); }

/* Checks that the n tensors are live and broadcast together, and the reduction. */
static bool check_broadcast(const char *op, ag_tensor *const *t, int n, ag_reduction r)
{
    for (int i = 0; i < n; i++)
        if (!agi_check_live(t[i], op, i))
            return false;
    ag_shape s = t[0]->shape;
    for (int i = 1; i < n; i++)
        if (!agi_broadcast_shape(op, s, t[i]->shape, &s))
            return false;
    return agi_check_reduction(op, r);
}

/* Checks n embedding inputs of one shape, (D) or (N, D). */
static bool check_embeddings(const char *op, ag_tensor *const *t, int n)
{
    char b[AG_SHAPE_STRLEN];
    for (int i = 0; i < n; i++) {
        if (!agi_check_live(t[i], op, i))
            return false;
        if (!agi_same_shape(t[i]->shape, t[0]->shape))
            return agi_fail_shapes(op, "must be the same", t[0]->shape, t[i]->shape), false;
    }
    if (t[0]->shape.ndim != 1 && t[0]->shape.ndim != 2)
        return AGI_FAIL(AG_ERR_SHAPE, "%s: inputs must be (D) or (N, D), got shape %s", op,
                        ag_shape_str(t[0]->shape, b)),
               false;
    return true;
}

/* Checks that labels y (argument i) hold one value per row of x: x's shape without its last
 * dim. */
static bool check_labels(const char *op, ag_tensor *x, ag_tensor *y, int i)
{
    if (!agi_check_live(y, op, i))
        return false;
    ag_shape want = agi_reduced_shape(x->shape, 1u << (x->shape.ndim - 1), false);
    if (!agi_same_shape(y->shape, want)) {
        char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN], c[AG_SHAPE_STRLEN];
        return AGI_FAIL(AG_ERR_SHAPE,
                        "%s: shapes %s and %s do not match (one label per row expected: "
                        "labels of shape %s)",
                        op, ag_shape_str(x->shape, a), ag_shape_str(y->shape, b),
                        ag_shape_str(want, c)),
               false;
    }
    return true;
}

/* hinge_embedding_loss: x where y = 1, max(0, margin - x) where y = -1 (both terms where y is
 * neither, as PyTorch's where(y != -1) and where(y != 1)). */
ag_tensor *ag_hinge_embedding_loss(ag_tensor *x, ag_tensor *y, double margin, ag_reduction r)
{
    ag_tensor *in[2] = { x, y };
    if (!check_broadcast("hinge_embedding_loss", in, 2, r))
        return NULL;
    ag_tensor *pos = ag_mul(x, agi_mask(y, -1, false));
    ag_tensor *neg = ag_mul(clamp_min0(ag_rsub_scalar(margin, x)), agi_mask(y, 1, false));
    return agi_reduce_loss(ag_add(pos, neg), r);
}

/* multi_margin_loss, x (N, C), y class indices:
 *   loss_n = sum_{c != y_n} max(0, margin - x[n,y_n] + x[n,c])^p / C,   p = 1 or 2 */
ag_tensor *ag_multi_margin_loss(ag_tensor *x, const int64_t *y, int p, double margin,
                                ag_reduction r)
{
    const int64_t *cls = agi_check_classes("multi_margin_loss", x, y, r);
    if (!cls)
        return NULL;
    if (p != 1 && p != 2)
        return AGI_FAIL(AG_ERR_ARG, "multi_margin_loss: p must be 1 or 2, got %d", p), NULL;
    int64_t n = x->shape.d[0], c = x->shape.d[1];
    ag_tensor *xy = ag_reshape(agi_gather_classes(x, cls), AG_SHAPE(n, 1)); /* (N, 1) */
    ag_tensor *h = ag_relu(ag_add_scalar(ag_sub(x, xy), margin));        /* (N, C) */
    if (p == 2)
        h = ag_pow(h, 2);
    h = ag_mul(h, agi_onehot(x->shape, cls, 0, 1)); /* drop c = y_n */
    return agi_reduce_loss(ag_div_scalar(ag_sum_dim(h, 1, false), (double)c), r);
}

/* margin_ranking_loss: max(0, margin - y (x1 - x2)) */
ag_tensor *ag_margin_ranking_loss(ag_tensor *x1, ag_tensor *x2, ag_tensor *y, double margin,
                                  ag_reduction r)
{
    ag_tensor *in[3] = { x1, x2, y };
    if (!check_broadcast("margin_ranking_loss", in, 3, r))
        return NULL;
    return agi_reduce_loss(clamp_min0(ag_rsub_scalar(margin, ag_mul(y, ag_sub(x1, x2)))), r);
}

/* PyTorch's pairwise_distance over the last dim: ||u - v + eps||_p
 * = (sum |u - v + eps|^p)^(1/p). */
static ag_tensor *pairwise_distance(ag_tensor *u, ag_tensor *v, double p, double eps)
{
    ag_tensor *d = ag_abs(ag_add_scalar(ag_sub(u, v), eps));
    return ag_pow(ag_sum_dim(ag_pow(d, p), -1, false), 1 / p);
}

/* triplet_margin_loss: max(d(a, p) - d(a, n) + margin, 0), d the p-norm distance above; with
 * swap, d(a, n) is replaced by min(d(a, n), d(p, n)). */
ag_tensor *ag_triplet_margin_loss(ag_tensor *a, ag_tensor *p, ag_tensor *n, double margin,
                                  double norm_p, double eps, bool swap, ag_reduction r)
{
    ag_tensor *in[3] = { a, p, n };
    if (!check_embeddings("triplet_margin_loss", in, 3) ||
        !agi_check_reduction("triplet_margin_loss", r))
        return NULL;
    if (!(norm_p > 0) || isinf(norm_p))
        return AGI_FAIL(AG_ERR_ARG, "triplet_margin_loss: p must be positive and finite, got %g",
                        norm_p),
               NULL;
    ag_tensor *d_pos = pairwise_distance(a, p, norm_p, eps);
    ag_tensor *d_neg = pairwise_distance(a, n, norm_p, eps);
    if (swap)
        d_neg = ag_minimum(d_neg, pairwise_distance(p, n, norm_p, eps));
    return agi_reduce_loss(clamp_min0(ag_add_scalar(ag_sub(d_pos, d_neg), margin)), r);
}

/* cosine_embedding_loss, with cos = sum(x1 x2) / sqrt((sum x1^2 + 1e-12)(sum x2^2 + 1e-12))
 * per row: 1 - cos where y = 1, max(0, cos - margin) where y = -1. */
ag_tensor *ag_cosine_embedding_loss(ag_tensor *x1, ag_tensor *x2, ag_tensor *y,
                                    double margin, ag_reduction r)
{
    const char *op = "cosine_embedding_loss";
    ag_tensor *in[2] = { x1, x2 };
    if (!check_embeddings(op, in, 2) || !check_labels(op, x1, y, 2) || !agi_check_reduction(op, r))
        return NULL;
    ag_tensor *dot = ag_sum_dim(ag_mul(x1, x2), -1, false);
    ag_tensor *sq1 = ag_add_scalar(ag_sum_dim(ag_mul(x1, x1), -1, false), 1e-12);
    ag_tensor *sq2 = ag_add_scalar(ag_sum_dim(ag_mul(x2, x2), -1, false), 1e-12);
    ag_tensor *cos = ag_div(dot, ag_sqrt(ag_mul(sq1, sq2)));
    ag_tensor *pos = ag_mul(ag_rsub_scalar(1, cos), agi_mask(y, 1, true));
    ag_tensor *neg = ag_mul(clamp_min0(ag_sub_scalar(cos, margin)), agi_mask(y, -1, true));
    return agi_reduce_loss(ag_add(pos, neg), r);
}

/* contrastive_loss = mean_n(y d^2 + (1 - y) max(0, margin - d)^2) / 2, d = ||x1 - x2|| per
 * row. The similar-pair term uses d^2 directly; d itself is sqrt(max(d^2, 1e-30)), which
 * changes only distances below 1e-15 but keeps the gradient of an identical pair finite
 * (sqrt's infinite derivative at 0 would turn the pair's zero weight into NaN). */
ag_tensor *ag_contrastive_loss(ag_tensor *x1, ag_tensor *x2, ag_tensor *y, double margin)
{
    const char *op = "contrastive_loss";
    ag_tensor *in[2] = { x1, x2 };
    if (!check_embeddings(op, in, 2) || !check_labels(op, x1, y, 2))
        return NULL;
    ag_tensor *d2 = ag_sum_dim(ag_pow(ag_sub(x1, x2), 2), -1, false);
    ag_tensor *d = ag_sqrt(ag_clamp(d2, 1e-30, INFINITY));
    ag_tensor *far = ag_pow(ag_relu(ag_rsub_scalar(margin, d)), 2);
    ag_tensor *l = ag_add(ag_mul(y, d2), ag_mul(ag_rsub_scalar(1, y), far));
    return ag_div_scalar(ag_mean(l), 2);
}
