/* shape.c — reshape, transpose, expand (broadcast up) and sum_to (fold down).
 *
 * expand and sum_to are each other's backward; together they carry every broadcasting op's
 * gradient back to its input's shape. */
#include "ops_internal.h"

#include <string.h>

/* --- reshape: a view sharing the data;  dx = reshape(dy, x's shape) --------------------- */

static ag_status reshape_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_shape s = *(const ag_shape *)ag_ctx_attrs(c);
    out[0] = agi_tape_view(in[0], s);
    return out[0] ? AG_OK : ag_error();
}
static ag_status reshape_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_reshape(dy[0], ag_ctx_input(c, 0)->shape);
    return AG_OK;
}
static const ag_op RESHAPE = { .name = "reshape", .n_in = 1, .n_out = 1, .forward = reshape_fwd, .backward = reshape_bwd };

ag_tensor *ag_reshape(ag_tensor *x, ag_shape s)
{
    if (!agi_check_live(x, "reshape", 0))
        return NULL;
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    if (s.ndim < 0 || s.ndim > AG_MAX_DIMS)
        return AGI_FAIL(AG_ERR_SHAPE, "reshape: %d dimensions", s.ndim), NULL;
    int infer = -1;
    size_t known = 1;
    bool overflow = false; /* a product that wraps could pass for the input's count */
    for (int i = 0; i < s.ndim; i++) {
        if (s.d[i] == -1 && infer < 0) {
            infer = i;
        } else if (s.d[i] < 0) {
            return AGI_FAIL(AG_ERR_SHAPE, "reshape: invalid shape %s", ag_shape_str(s, a)), NULL;
        } else {
            overflow |= s.d[i] && known > SIZE_MAX / (size_t)s.d[i];
            known *= (size_t)s.d[i];
        }
    }
    if (overflow)
        return AGI_FAIL(AG_ERR_SHAPE, "reshape: shape %s is invalid for input of shape %s",
                        ag_shape_str(s, a), ag_shape_str(x->shape, b)),
               NULL;
    if (infer >= 0) {
        if (known == 0 || x->numel % known)
            return AGI_FAIL(AG_ERR_SHAPE, "reshape: shape %s is invalid for input of shape %s",
                            ag_shape_str(s, a), ag_shape_str(x->shape, b)),
                   NULL;
        s.d[infer] = (int64_t)(x->numel / known);
        known *= (size_t)s.d[infer];
    }
    if (known != x->numel)
        return AGI_FAIL(AG_ERR_SHAPE, "reshape: shape %s is invalid for input of shape %s",
                        ag_shape_str(s, a), ag_shape_str(x->shape, b)),
               NULL;
    if (agi_same_shape(s, x->shape))
        return x;
    return ag_apply(&RESHAPE, &x, 1, &s, sizeof s, NULL);
}

/* --- transpose: swaps two dims (copies);  dx = transpose(dy) ---------------------------- */

typedef struct tr_attrs {
    int d0, d1;
} tr_attrs;

static ag_status transpose_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const tr_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = in[0];
    ag_shape s = x->shape;
    int nd = s.ndim;
    int64_t st[AG_MAX_DIMS], t;
    if (x->numel == 0) { /* nothing to move; the strides of huge empty dims would overflow */
        t = s.d[at->d0], s.d[at->d0] = s.d[at->d1], s.d[at->d1] = t;
        return (out[0] = ag_empty(s)) ? AG_OK : ag_error();
    }
    st[nd - 1] = 1;
    for (int i = nd - 2; i >= 0; i--)
        st[i] = st[i + 1] * s.d[i + 1];
    t = s.d[at->d0], s.d[at->d0] = s.d[at->d1], s.d[at->d1] = t;
    t = st[at->d0], st[at->d0] = st[at->d1], st[at->d1] = t;
    if (!(out[0] = ag_empty(s)))
        return ag_error();
    /* out is walked in order; its source offset advances by the swapped strides */
    int64_t idx[AG_MAX_DIMS] = { 0 }, off = 0;
    const ag_real *src = x->data;
    ag_real *dst = out[0]->data;
    for (size_t i = 0; i < x->numel; i++) {
        dst[i] = src[off];
        for (int d = nd - 1; d >= 0; d--) {
            off += st[d];
            if (++idx[d] < s.d[d])
                break;
            off -= st[d] * idx[d];
            idx[d] = 0;
        }
    }
    return AG_OK;
}
static ag_status transpose_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const tr_attrs *at = ag_ctx_attrs(c);
    dx[0] = ag_transpose(dy[0], at->d0, at->d1);
    return AG_OK;
}
static const ag_op TRANSPOSE = { .name = "transpose", .n_in = 1, .n_out = 1, .forward = transpose_fwd, .backward = transpose_bwd };

/* Swapping d0 and d1 moves no data when the dims of size > 1 keep their order: d0 == d1, or
 * one of the two has size 1 and so does every dim between them. */
static bool transpose_is_relabel(ag_shape s, int d0, int d1)
{
    if (d0 == d1)
        return true;
    int lo = d0 < d1 ? d0 : d1, hi = d0 < d1 ? d1 : d0;
    if (s.d[lo] != 1 && s.d[hi] != 1)
        return false;
    for (int i = lo + 1; i < hi; i++)
        if (s.d[i] != 1)
            return false;
    return true;
}

ag_tensor *ag_transpose(ag_tensor *x, int d0, int d1)
{
    if (!agi_check_live(x, "transpose", 0))
        return NULL;
    int nd = x->shape.ndim;
    if (!agi_wrap_dim("transpose", &d0, nd) || !agi_wrap_dim("transpose", &d1, nd))
        return NULL;
    if (transpose_is_relabel(x->shape, d0, d1)) {
        ag_shape s = x->shape;
        if (nd >= 2) {
            int64_t t = s.d[d0];
            s.d[d0] = s.d[d1];
            s.d[d1] = t;
        }
        return ag_reshape(x, s); /* no data moves: a view */
    }
    tr_attrs at = { d0 < d1 ? d0 : d1, d0 < d1 ? d1 : d0 };
    return ag_apply(&TRANSPOSE, &x, 1, &at, sizeof at, NULL);
}

/* --- expand: broadcast x up to shape (copies);  dx = sum_to(dy, x's shape) -------------- */

static ag_status expand_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_shape s = *(const ag_shape *)ag_ctx_attrs(c);
    if (!(out[0] = ag_empty(s)))
        return ag_error();
    ag_tensor *x = in[0], *y = out[0];
    if (x->numel == 1) {
        for (size_t i = 0; i < y->numel; i++)
            y->data[i] = x->data[0];
        return AG_OK;
    }
    int64_t st[AG_MAX_DIMS], idx[AG_MAX_DIMS] = { 0 }, off = 0;
    agi_broadcast_strides(x->shape, s, st);
    for (size_t i = 0; i < y->numel; i++) {
        y->data[i] = x->data[off];
        for (int d = s.ndim - 1; d >= 0; d--) {
            off += st[d];
            if (++idx[d] < s.d[d])
                break;
            off -= st[d] * idx[d];
            idx[d] = 0;
        }
    }
    return AG_OK;
}
static ag_status expand_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_sum_to(dy[0], ag_ctx_input(c, 0)->shape);
    return AG_OK;
}
static const ag_op EXPAND = { .name = "expand", .n_in = 1, .n_out = 1, .forward = expand_fwd, .backward = expand_bwd };

ag_tensor *ag_expand(ag_tensor *x, ag_shape s)
{
    if (!agi_check_live(x, "expand", 0))
        return NULL;
    size_t n;
    if (!agi_shape_ok(s, "expand", &n)) /* before anything reads s.d[0..ndim) */
        return NULL;
    ag_shape b;
    if (!agi_broadcast_shape("expand", x->shape, s, &b))
        return NULL;
    if (!agi_same_shape(b, s))
        return agi_fail_shapes("expand", "cannot be expanded (the second is the target)",
                               x->shape, s),
               NULL;
    if (agi_same_shape(x->shape, s))
        return x;
    return ag_apply(&EXPAND, &x, 1, &s, sizeof s, NULL);
}

/* --- sum_to: the reverse of expand ------------------------------------------------------- */

/* Can a tensor of shape `from` be summed down to `to` (is `to` broadcastable to `from`)? */
static bool sums_to(ag_shape from, ag_shape to)
{
    if (to.ndim > from.ndim || to.ndim < 0)
        return false;
    for (int i = 0; i < to.ndim; i++) {
        int64_t t = to.d[i], f = from.d[from.ndim - to.ndim + i];
        if (t != f && t != 1)
            return false;
    }
    return true;
}

ag_tensor *ag_sum_to(ag_tensor *x, ag_shape s)
{
    if (!agi_check_live(x, "sum_to", 0))
        return NULL;
    if (agi_same_shape(x->shape, s))
        return x;
    if (!sums_to(x->shape, s)) {
        char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
        return AGI_FAIL(AG_ERR_SHAPE, "sum_to: shape %s cannot be summed to shape %s",
                        ag_shape_str(x->shape, a), ag_shape_str(s, b)),
               NULL;
    }
    int lead = x->shape.ndim - s.ndim, dims[AG_MAX_DIMS], n = 0;
    for (int i = 0; i < x->shape.ndim; i++)
        if (i < lead || (s.d[i - lead] == 1 && x->shape.d[i] != 1))
            dims[n++] = i;
    ag_tensor *r = n ? ag_sum_dims(x, dims, n, true) : x;
    return ag_reshape(r, s);
}
