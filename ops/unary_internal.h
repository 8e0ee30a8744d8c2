/* unary_internal.h — the shared plumbing of one-input elementwise ops. Not API. */
#ifndef AG_UNARY_INTERNAL_H
#define AG_UNARY_INTERNAL_H

#include "ops_internal.h"

/* y[0..n) = f(x[0..n)) with the op's attrs. */
typedef void (*agi_unary_kernel)(ag_real *y, const ag_real *x, int64_t n, const void *attrs);

enum { AGI_SAVE_IN = 1, AGI_SAVE_OUT = 2 };

/* Forward of a one-input elementwise op: a new output of x's shape filled by k; saves the
 * input and/or the output for backward as `save` says. */
ag_status agi_unary_forward(ag_ctx *c, ag_tensor *const *in, ag_tensor **out,
                            agi_unary_kernel k, unsigned save);

/* ag_apply for a one-input op. */
ag_tensor *agi_unary_apply(const ag_op *op, ag_tensor *x, const void *attrs, size_t size);

#endif
