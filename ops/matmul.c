/* matmul.c — batched matrix products (torch.matmul) and linear.
 *
 * One op, "mm", multiplies op(A) @ op(B) where op may transpose either operand in place (the
 * GEMM reads it transposed; nothing is copied), over broadcast batch dims. Its backward is two
 * more mm's with the transpose flags flipped, so no explicit transpose ever runs and the
 * backward is differentiable again. */
#include "gemm_internal.h"
#include "ops_internal.h"

#ifdef AG_DOUBLE
#define GEMM agi_dgemm
#else
#define GEMM agi_sgemm
#endif

typedef struct mm_attrs {
    bool ta, tb;
} mm_attrs;

static ag_tensor *mm_into(ag_tensor *dest, ag_tensor *a, ag_tensor *b, bool ta, bool tb);
static ag_tensor *mm(ag_tensor *a, ag_tensor *b, bool ta, bool tb)
{
    return mm_into(NULL, a, b, ta, tb);
}

/* Rows/cols of op(X) for a stored matrix X (last two dims) and a transpose flag. */
static int64_t rows_of(ag_shape s, bool t) { return s.d[s.ndim - (t ? 1 : 2)]; }
static int64_t cols_of(ag_shape s, bool t) { return s.d[s.ndim - (t ? 2 : 1)]; }

static ag_shape batch_of(ag_shape s)
{
    ag_shape b = s;
    b.ndim = s.ndim - 2;
    return b;
}

static ag_status mm_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const mm_attrs *at = ag_ctx_attrs(c);
    ag_tensor *a = in[0], *b = in[1];
    ag_shape sa = a->shape, sb = b->shape, bs;
    int64_t M = rows_of(sa, at->ta), K = cols_of(sa, at->ta);
    int64_t K2 = rows_of(sb, at->tb), N = cols_of(sb, at->tb);
    if (K != K2)
        return agi_fail_shapes("matmul", "cannot be multiplied (inner sizes differ)", sa, sb);
    if (!agi_broadcastable(batch_of(sa), batch_of(sb), &bs))
        return agi_fail_shapes("matmul", "cannot be multiplied (batch dims do not broadcast)", sa, sb);
    ag_shape os = bs;
    os.d[os.ndim++] = M;
    os.d[os.ndim++] = N;
    if (!(out[0] = agi_out(c, os)))
        return ag_error();
    ag_ctx_save(c, a);
    ag_ctx_save(c, b);
    if (out[0]->numel == 0) /* nothing to compute (and no empty batches to walk) */
        return AG_OK;
    int64_t stA[AG_MAX_DIMS], stB[AG_MAX_DIMS], idx[AG_MAX_DIMS] = { 0 }, oa = 0, ob = 0;
    agi_broadcast_strides(batch_of(sa), bs, stA);
    agi_broadcast_strides(batch_of(sb), bs, stB);
    size_t nb = ag_shape_numel(bs), mA = (size_t)(M * K), mB = (size_t)(K * N);
    int64_t lda = sa.d[sa.ndim - 1], ldb = sb.d[sb.ndim - 1];
    for (size_t i = 0; i < nb; i++) {
        GEMM(at->ta, at->tb, M, N, K, 1, a->data + (size_t)oa * mA, lda, b->data + (size_t)ob * mB,
             ldb, 0, out[0]->data + i * (size_t)(M * N), N);
        for (int d = bs.ndim - 1; d >= 0; d--) {
            oa += stA[d];
            ob += stB[d];
            if (++idx[d] < bs.d[d])
                break;
            oa -= stA[d] * idx[d];
            ob -= stB[d] * idx[d];
            idx[d] = 0;
        }
    }
    return AG_OK;
}

/* C = op(A) op(B):  dA = dC op(B)^T (stored as A is),  dB = op(A)^T dC (stored as B is) */
static ag_status mm_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const mm_attrs *at = ag_ctx_attrs(c);
    ag_tensor *a = ag_ctx_saved(c, 0), *b = ag_ctx_saved(c, 1), *g = dy[0];
    if (!a || !b)
        return ag_error();
    /* A destination of the wrong (broadcast) shape is ignored by agi_out: then sum_to folds */
    ag_tensor *da = agi_grad_dest(c, 0), *db = agi_grad_dest(c, 1);
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = ag_sum_to(at->ta ? mm_into(da, b, g, at->tb, true) : mm_into(da, g, b, false, !at->tb),
                          a->shape);
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_sum_to(at->tb ? mm_into(db, g, a, true, at->ta) : mm_into(db, a, g, !at->ta, false),
                          b->shape);
    return AG_OK;
}
static const ag_op MM = { .name = "matmul", .n_in = 2, .n_out = 1, .forward = mm_fwd, .backward = mm_bwd };

/* op(a) @ op(b), written into dest when it is given and fits (see agi_grad_dest). */
static ag_tensor *mm_into(ag_tensor *dest, ag_tensor *a, ag_tensor *b, bool ta, bool tb)
{
    ag_tensor *in[2] = { a, b };
    mm_attrs at = { ta, tb };
    return agi_apply_into(dest, &MM, in, 2, &at, sizeof at);
}

/* The product of every dim but the last: the rows of s seen as a matrix (1 for a 1-d s).
 * Unlike reshape(-1, last) it is defined when the last dim is 0. */
static int64_t leading_rows(ag_shape s)
{
    int64_t r = 1;
    for (int i = 0; i + 1 < s.ndim; i++)
        r *= s.d[i];
    return r;
}

/* Shape with the dim at position `at` (from the end, 1 = last) removed. */
static ag_shape squeeze_from_end(ag_shape s, int at)
{
    for (int i = s.ndim - at; i < s.ndim - 1; i++)
        s.d[i] = s.d[i + 1];
    s.ndim--;
    return s;
}

ag_tensor *ag_matmul(ag_tensor *a, ag_tensor *b)
{
    if (!agi_check_live(a, "matmul", 0) || !agi_check_live(b, "matmul", 1))
        return NULL;
    int na = a->shape.ndim, nb = b->shape.ndim;
    if (na == 0 || nb == 0)
        return agi_fail_shapes("matmul", "cannot be multiplied (both must be at least 1-d)",
                               a->shape, b->shape),
               NULL;
    ag_tensor *A = na == 1 ? ag_reshape(a, AG_SHAPE(1, a->shape.d[0])) : a;
    ag_tensor *B = nb == 1 ? ag_reshape(b, AG_SHAPE(b->shape.d[0], 1)) : b;
    if (!A || !B)
        return NULL;
    if (A->shape.d[A->shape.ndim - 1] != B->shape.d[B->shape.ndim - 2])
        return agi_fail_shapes("matmul", "cannot be multiplied (inner sizes differ)", a->shape,
                               b->shape),
               NULL;
    ag_tensor *r;
    if (A->shape.ndim > 2 && B->shape.ndim == 2) {
        /* a stack of rows times one matrix: a single big GEMM */
        ag_shape os = A->shape;
        os.d[os.ndim - 1] = B->shape.d[1];
        ag_shape rows = AG_SHAPE(leading_rows(A->shape), A->shape.d[A->shape.ndim - 1]);
        r = ag_reshape(mm(ag_reshape(A, rows), B, false, false), os);
    } else {
        r = mm(A, B, false, false);
    }
    if (r && nb == 1)
        r = ag_reshape(r, squeeze_from_end(r->shape, 1));
    if (r && na == 1)
        r = ag_reshape(r, squeeze_from_end(r->shape, nb == 1 ? 1 : 2));
    return r;
}

/* --- linear: x @ w^T + b in one GEMM (the bias preloaded into the output) ----------------
 * dx = dy @ w,  dw = dy^T @ x,  db = dy summed over rows */

static ag_status linear_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_tensor *x = in[0], *w = in[1], *b = ag_ctx_n_in(c) > 2 ? in[2] : NULL;
    int64_t N = x->shape.d[0], I = x->shape.d[1], O = w->shape.d[0];
    if (!(out[0] = ag_empty(AG_SHAPE(N, O))))
        return ag_error();
    ag_real *y = out[0]->data;
    if (b)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < O; j++)
                y[i * O + j] = b->data[j];
    GEMM(false, true, N, O, I, 1, x->data, I, w->data, I, b ? 1 : 0, y, O);
    ag_ctx_save(c, x);
    ag_ctx_save(c, w);
    return AG_OK;
}
static ag_status linear_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *x = ag_ctx_saved(c, 0), *w = ag_ctx_saved(c, 1), *g = dy[0];
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = mm(g, w, false, false);
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = mm_into(agi_grad_dest(c, 1), g, x, true, false);
    if (ag_ctx_n_in(c) > 2 && ag_ctx_needs_grad(c, 2))
        dx[2] = ag_sum_to(g, ag_ctx_input(c, 2)->shape);
    return AG_OK;
}
static const ag_op LINEAR = { .name = "linear", .n_in = 0, .n_out = 1, .forward = linear_fwd, .backward = linear_bwd };

ag_tensor *ag_linear(ag_tensor *x, ag_tensor *w, ag_tensor *b)
{
    if (!agi_check_live(x, "linear", 0) || !agi_check_live(w, "linear", 1))
        return NULL;
    if (b && !agi_check_live(b, "linear", 2))
        return NULL;
    ag_shape xs = x->shape, ws = w->shape;
    if (ws.ndim != 2 || xs.ndim < 1 || xs.d[xs.ndim - 1] != ws.d[1])
        return agi_fail_shapes("linear", "do not fit (input [..., in] and weight [out, in])", xs, ws),
               NULL;
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != ws.d[0])) {
        char s1[AG_SHAPE_STRLEN], s2[AG_SHAPE_STRLEN];
        return AGI_FAIL(AG_ERR_SHAPE, "linear: bias of shape %s does not fit weight of shape %s",
                        ag_shape_str(b->shape, s1), ag_shape_str(ws, s2)),
               NULL;
    }
    ag_tensor *x2 = xs.ndim == 2 ? x : ag_reshape(x, AG_SHAPE(leading_rows(xs), ws.d[1]));
    ag_tensor *in[3] = { x2, w, b };
    ag_tensor *y = ag_apply(&LINEAR, in, b ? 3 : 2, NULL, 0, NULL);
    if (!y || xs.ndim == 2)
        return y;
    ag_shape os = xs;
    os.d[os.ndim - 1] = ws.d[0];
    return ag_reshape(y, os);
}
