/* embedding.c — rows of a table picked by index (PyTorch's F.embedding without padding_idx
 * or max_norm): for weight W (V, D) and indices idx of any shape S, y (S..., D) holds
 * y[i, :] = W[idx[i], :].
 *
 * Two ops, each the other's backward, as gather and scatter_add are in PyTorch:
 *
 *     embedding:           W (V, D)     -> y (S..., D)   backward: dW = embedding_backward(dy)
 *     embedding_backward:  g (S..., D)  -> (V, D)        backward: dg = embedding(gg)
 *
 * embedding_backward adds row i of g into row idx[i] of a zero table, so a row picked twice
 * gets both gradients. Both are raw loops, yet differentiable to any order. The indices are
 * checked once (every one in [0, V)) and copied to the tape, where backward finds them after
 * the caller's array is gone. */
#include "loss_internal.h"

#include <inttypes.h>
#include <string.h>

typedef struct emb_attrs {
    const int64_t *idx; /* n indices, on the tape */
    size_t n;
    int64_t v;          /* rows of the table */
    ag_shape gathered;  /* (S..., D): the shape of y and of embedding_backward's input */
} emb_attrs;

/* The row length D. */
static int64_t row_len(const emb_attrs *at) { return at->gathered.d[at->gathered.ndim - 1]; }

static ag_status scatter_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out);
static ag_status scatter_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx);
static ag_status gather_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out);
static ag_status gather_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx);

static const ag_op EMBEDDING = { .name = "embedding", .n_in = 1, .n_out = 1,
                                 .forward = gather_fwd, .backward = gather_bwd };
static const ag_op EMBEDDING_BWD = { .name = "embedding_backward", .n_in = 1, .n_out = 1,
                                     .forward = scatter_fwd, .backward = scatter_bwd };

/* y[i, :] = W[idx[i], :] */
static ag_status gather_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const emb_attrs *at = ag_ctx_attrs(c);
    int64_t d = row_len(at);
    if (!(out[0] = ag_empty(at->gathered)))
        return ag_error();
    for (size_t i = 0; i < at->n && d; i++)
        memcpy(out[0]->data + i * (size_t)d, in[0]->data + at->idx[i] * d,
               (size_t)d * sizeof(ag_real));
    return AG_OK;
}
static ag_status gather_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_apply(&EMBEDDING_BWD, dy, 1, ag_ctx_attrs(c), sizeof(emb_attrs), NULL);
    return AG_OK;
}

/* out (V, D) = 0, then out[idx[i], :] += g[i, :] */
static ag_status scatter_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const emb_attrs *at = ag_ctx_attrs(c);
    int64_t d = row_len(at);
    if (!(out[0] = ag_zeros_tape(AG_SHAPE(at->v, d))))
        return ag_error();
    for (size_t i = 0; i < at->n; i++) {
        ag_real *row = out[0]->data + at->idx[i] * d;
        const ag_real *g = in[0]->data + i * (size_t)d;
        for (int64_t j = 0; j < d; j++)
            row[j] += g[j];
    }
    return AG_OK;
}
static ag_status scatter_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_apply(&EMBEDDING, dy, 1, ag_ctx_attrs(c), sizeof(emb_attrs), NULL);
    return AG_OK;
}

/* The gathered shape (S..., D) of indices of shape s, or false with an error if s is not a
 * valid shape or leaves no room for the row dim. */
static bool gathered_shape(ag_shape s, int64_t d, ag_shape *out, size_t *n)
{
    if (s.ndim < 0 || s.ndim >= AG_MAX_DIMS)
        return ag_fail(AG_ERR_SHAPE, "embedding: indices of %d dims (at most %d)", s.ndim,
                       AG_MAX_DIMS - 1),
               false;
    if (!agi_shape_ok(s, "embedding", n))
        return false;
    *out = s;
    out->d[out->ndim++] = d;
    return true;
}

/* Every index in [0, v); otherwise false with the first bad one and its position. */
static bool indices_ok(const int64_t *idx, size_t n, int64_t v)
{
    if (n && !idx)
        return ag_fail(AG_ERR_ARG, "embedding: indices are NULL"), false;
    for (size_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= v)
            return ag_fail(AG_ERR_ARG,
                           "embedding: index %" PRId64 " (at position %zu) is out of range for "
                           "%" PRId64 " embeddings",
                           idx[i], i, v),
                   false;
    return true;
}

/* F.embedding(idx, weight): weight must be 2-d; the result has the indices' shape plus D. */
ag_tensor *ag_embedding(ag_tensor *weight, const int64_t *idx, ag_shape idx_shape)
{
    char s[AG_SHAPE_STRLEN];
    if (!agi_check_live(weight, "embedding", 0))
        return NULL;
    if (weight->shape.ndim != 2)
        return ag_fail(AG_ERR_SHAPE,
                       "embedding: weight must be 2-d (num_embeddings, embedding_dim), got "
                       "shape %s",
                       ag_shape_str(weight->shape, s)),
               NULL;
    emb_attrs at = { .v = weight->shape.d[0] };
    if (!gathered_shape(idx_shape, weight->shape.d[1], &at.gathered, &at.n) ||
        !indices_ok(idx, at.n, at.v) || !(at.idx = agi_tape_indices(idx, (int64_t)at.n)))
        return NULL;
    return ag_apply(&EMBEDDING, &weight, 1, &at, sizeof at, NULL);
}
