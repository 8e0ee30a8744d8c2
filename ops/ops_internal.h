/* ops_internal.h — helpers shared by the op files: broadcasting, shape checks, the plumbing
 * of elementwise kernels. Not API. */
#ifndef AG_OPS_INTERNAL_H
#define AG_OPS_INTERNAL_H

#include "autograd_internal.h"
#include "ops.h"

/* Row kernels (rowops.c), vectorised: the max of x[0..n); sum_i e^(x_i - shift) in double,
 * storing each e^(x_i - shift) in y unless y is NULL; y_i = g (e^(x_i - shift) - off). */
ag_real agi_row_max(const ag_real *x, int64_t n);
double agi_row_exp_sum(ag_real *y, const ag_real *x, int64_t n, ag_real shift);
void agi_row_exp_affine(ag_real *y, const ag_real *x, int64_t n, ag_real shift, ag_real g,
                        ag_real off);
/* y_i *= a;  y_i = g (p_i - off). */
void agi_row_scale(ag_real *y, int64_t n, ag_real a);
void agi_row_affine(ag_real *y, const ag_real *p, int64_t n, ag_real g, ag_real off);

/* The broadcast shape of a and b, or false with "op: shapes [..] and [..] cannot be
 * broadcast". */
bool agi_broadcast_shape(const char *op, ag_shape a, ag_shape b, ag_shape *out);

/* The same without an error message (false if they do not broadcast). */
bool agi_broadcastable(ag_shape a, ag_shape b, ag_shape *out);

/* Element strides (0 along broadcast dims) of a tensor of shape `s` read at the positions of
 * a tensor of shape `to` (s broadcastable to `to`), right-aligned. */
void agi_broadcast_strides(ag_shape s, ag_shape to, int64_t *strides);

/* y[i] = f(a[ia*i], b[ib*i]) over n elements: the inner loop of a binary kernel. */
typedef void (*agi_binary_kernel)(ag_real *y, const ag_real *a, int64_t ia, const ag_real *b,
                                  int64_t ib, int64_t n);

/* Runs `k` over the broadcast of a and b into y (y has the broadcast shape). */
void agi_binary_map(ag_tensor *y, const ag_tensor *a, const ag_tensor *b, agi_binary_kernel k);

/* Normalises dim (negative counts from the end) for an ndim-d tensor; false with an error
 * naming op if out of range. A 0-d tensor accepts dims 0 and -1 (PyTorch's rule). */
bool agi_wrap_dim(const char *op, int *dim, int ndim);

/* Same shape? */
bool agi_same_shape(ag_shape a, ag_shape b);

/* Shape with the dims in `mask` (bit i = dim i) removed, or set to 1 with keepdim. */
ag_shape agi_reduced_shape(ag_shape s, unsigned mask, bool keepdim);

/* "op: shapes [..] and [..] ..." convenience: fails with both shapes in the message. */
ag_status agi_fail_shapes(const char *op, const char *what, ag_shape a, ag_shape b);

#endif
