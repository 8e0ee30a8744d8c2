/* loss_internal.h — what the loss files share: argument checks, the reductions, masks and
 * class indices. Not API. */
#ifndef AG_LOSS_INTERNAL_H
#define AG_LOSS_INTERNAL_H

#include "ops_internal.h"

/* --- loss_regression.c ------------------------------------------------------------------ */

/* True if r is none, mean or sum; otherwise false with "op: ..." (batchmean belongs to
 * kl_div alone, which handles it itself). */
bool agi_check_reduction(const char *op, ag_reduction r);

/* Applies a checked reduction to an elementwise or per-sample loss: the loss itself (none),
 * its sum, or its mean over every element (0-d). NULL gives NULL. */
ag_tensor *agi_reduce_loss(ag_tensor *loss, ag_reduction r);

/* True if a and b are live and have the same shape; otherwise false with
 * "op: shapes [..] and [..] must be the same". */
bool agi_check_same_shape(const char *op, ag_tensor *a, ag_tensor *b);

/* A constant tape tensor of t's shape: 1 where (t == v) is `equal`, 0 elsewhere. */
ag_tensor *agi_mask(const ag_tensor *t, double v, bool equal);

/* --- loss_classification.c -------------------------------------------------------------- */

/* The checks of a loss on class scores x (N, C) with class indices target[0..N): x live and
 * 2-d, r a checked reduction, every index in 0..C-1. Returns a copy of the indices on the
 * tape, where they live until ag_step_end (backward needs them after the caller's array may
 * be gone), or NULL with an error naming op ("nll_loss: target[3] = 7 is out of range for
 * 5 classes"). */
const int64_t *agi_check_classes(const char *op, ag_tensor *x, const int64_t *target,
                                 ag_reduction r);

/* A copy of src[0..n) on the tape, which lives until ag_step_end (NULL with an error if
 * memory runs out). */
int64_t *agi_tape_indices(const int64_t *src, int64_t n);

/* y[n] = x[n, cls[n]] for x (N, C) and indices from agi_check_classes: differentiable (its
 * backward scatters the gradient back to the chosen entries). */
ag_tensor *agi_gather_classes(ag_tensor *x, const int64_t *cls);

/* A constant tape tensor of shape s (N, C): `on` at [n, cls[n]], `off` everywhere else
 * (smoothed one-hot targets; multi_margin's mask of the non-target classes). */
ag_tensor *agi_onehot(ag_shape s, const int64_t *cls, double on, double off);

#endif
