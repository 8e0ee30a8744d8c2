/* unary_internal.h — the shared plumbing of one-input elementwise ops. Not API. */
#ifndef AG_UNARY_INTERNAL_H
#define AG_UNARY_INTERNAL_H

#include "ops_internal.h"

/* y[0..n) = f(x[0..n)) with the op's attrs. */
typedef void (*agi_unary_kernel)(ag_real *y, const ag_real *x, int64_t n, const void *attrs);

enum { AGI_SAVE_IN = 1, AGI_SAVE_OUT = 2 };

/* o[i] = f(a[i], b[i]) over n elements (a fused backward such as relu_backward(dy, y)). */
typedef void (*agi_pair_kernel)(ag_real *o, const ag_real *a, const ag_real *b, size_t n);

/* The kernels run over n elements, split across threads when n is large (parallel_map.c). */
void agi_map1(agi_unary_kernel k, ag_real *y, const ag_real *x, int64_t n, const void *attrs);
void agi_map2(agi_binary_kernel k, ag_real *y, const ag_real *a, int64_t ia, const ag_real *b,
              int64_t ib, int64_t n);
void agi_map_pair(agi_pair_kernel k, ag_real *y, const ag_real *a, const ag_real *b, int64_t n);

/* o[i] = f(a[i], b[i], c[i]) over n elements (addcmul). */
typedef void (*agi_triple_kernel)(ag_real *o, const ag_real *a, const ag_real *b,
                                  const ag_real *c, int64_t n);
void agi_map_triple(agi_triple_kernel k, ag_real *y, const ag_real *a, const ag_real *b,
                    const ag_real *c, int64_t n);

/* fn(ctx, i0, i1) over [0, n) in pieces, split across threads when n is large: for fused
 * kernels with more than one output. */
typedef void (*agi_span_fn)(void *ctx, int64_t i0, int64_t i1);
void agi_map_span(agi_span_fn fn, void *ctx, int64_t n);

/* Forward of a one-input elementwise op: a new output of x's shape filled by k; saves the
 * input and/or the output for backward as `save` says. */
ag_status agi_unary_forward(ag_ctx *c, ag_tensor *const *in, ag_tensor **out,
                            agi_unary_kernel k, unsigned save);

/* ag_apply for a one-input op. */
ag_tensor *agi_unary_apply(const ag_op *op, ag_tensor *x, const void *attrs, size_t size);

#endif
