/* broadcast.c — NumPy/PyTorch broadcasting: the shape rule and the strided inner loops. */
#include "unary_internal.h"

#include <string.h>

ag_status agi_fail_shapes(const char *op, const char *what, ag_shape a, ag_shape b)
{
    char x[AG_SHAPE_STRLEN], y[AG_SHAPE_STRLEN];
    return AGI_FAIL(AG_ERR_SHAPE, "%s: shapes %s and %s %s", op, ag_shape_str(a, x),
                    ag_shape_str(b, y), what);
}

bool agi_same_shape(ag_shape a, ag_shape b)
{
    if (a.ndim != b.ndim)
        return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i])
            return false;
    return true;
}

bool agi_broadcastable(ag_shape a, ag_shape b, ag_shape *out)
{
    if (agi_same_shape(a, b)) {
        *out = a;
        return true;
    }
    int nd = a.ndim > b.ndim ? a.ndim : b.ndim;
    ag_shape r = { .ndim = nd };
    for (int i = 0; i < nd; i++) {
        int ia = a.ndim - nd + i, ib = b.ndim - nd + i;
        int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return false;
        r.d[i] = da == 1 ? db : da;
    }
    *out = r;
    return true;
}

bool agi_broadcast_shape(const char *op, ag_shape a, ag_shape b, ag_shape *out)
{
    if (agi_broadcastable(a, b, out))
        return true;
    agi_fail_shapes(op, "cannot be broadcast", a, b);
    return false;
}

void agi_broadcast_strides(ag_shape s, ag_shape to, int64_t *strides)
{
    int64_t st = 1;
    for (int i = to.ndim - 1; i >= 0; i--) {
        int is = s.ndim - to.ndim + i;
        int64_t d = is >= 0 ? s.d[is] : 1;
        strides[i] = d == 1 ? 0 : st;
        st *= d;
    }
}

bool agi_wrap_dim(const char *op, int *dim, int ndim)
{
    int n = ndim ? ndim : 1;
    if (*dim < -n || *dim >= n)
        return AGI_FAIL(AG_ERR_ARG, "%s: dimension %d out of range for a %d-d tensor", op, *dim,
                        ndim),
               false;
    if (*dim < 0)
        *dim += n;
    return true;
}

ag_shape agi_reduced_shape(ag_shape s, unsigned mask, bool keepdim)
{
    ag_shape r = { .ndim = 0 };
    for (int i = 0; i < s.ndim; i++) {
        if (mask & (1u << i)) {
            if (keepdim)
                r.d[r.ndim++] = 1;
        } else {
            r.d[r.ndim++] = s.d[i];
        }
    }
    return r;
}

void agi_binary_map(ag_tensor *y, const ag_tensor *a, const ag_tensor *b, agi_binary_kernel k)
{
    size_t n = y->numel;
    if (!n)
        return;
    if (a->numel == n && b->numel == n) {
        agi_map2(k, y->data, a->data, 1, b->data, 1, (int64_t)n);
        return;
    }
    if (b->numel == 1 && a->numel == n) {
        agi_map2(k, y->data, a->data, 1, b->data, 0, (int64_t)n);
        return;
    }
    if (a->numel == 1 && b->numel == n) {
        agi_map2(k, y->data, a->data, 0, b->data, 1, (int64_t)n);
        return;
    }
    /* General case: walk the outer dims with a counter, run the kernel along the last dim. */
    int nd = y->shape.ndim;
    int64_t sa[AG_MAX_DIMS], sb[AG_MAX_DIMS], idx[AG_MAX_DIMS] = { 0 };
    agi_broadcast_strides(a->shape, y->shape, sa);
    agi_broadcast_strides(b->shape, y->shape, sb);
    int64_t inner = y->shape.d[nd - 1];
    size_t rows = n / (size_t)inner;
    int64_t oa = 0, ob = 0;
    for (size_t r = 0; r < rows; r++) {
        k(y->data + r * (size_t)inner, a->data + oa, sa[nd - 1], b->data + ob, sb[nd - 1], inner);
        for (int d = nd - 2; d >= 0; d--) {
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < y->shape.d[d])
                break;
            oa -= sa[d] * idx[d];
            ob -= sb[d] * idx[d];
            idx[d] = 0;
        }
    }
}
