/* ops.h — the differentiable functions: elementwise math, activations, reductions, matmul,
 * shape ops, softmax and the losses.
 *
 * Every function returns a tape tensor (freed by ag_step_end) or NULL with the error recorded
 * (see autograd.h). A NULL argument gives NULL. Binary ops broadcast as NumPy/PyTorch do and
 * their backward sums each gradient back to its input's shape. Dimensions may be negative.
 */
#ifndef AG_OPS_H
#define AG_OPS_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- elementwise, two inputs (broadcast) ---------------------------------------------- */
ag_tensor *ag_add(ag_tensor *a, ag_tensor *b);
ag_tensor *ag_sub(ag_tensor *a, ag_tensor *b);
ag_tensor *ag_mul(ag_tensor *a, ag_tensor *b);
ag_tensor *ag_div(ag_tensor *a, ag_tensor *b);
/* With a number on one side: a + s, a - s, s - a, a * s, a / s, s / a. */
ag_tensor *ag_add_scalar(ag_tensor *a, double s);
ag_tensor *ag_sub_scalar(ag_tensor *a, double s);
ag_tensor *ag_rsub_scalar(double s, ag_tensor *a);
ag_tensor *ag_mul_scalar(ag_tensor *a, double s);
ag_tensor *ag_div_scalar(ag_tensor *a, double s);
ag_tensor *ag_rdiv_scalar(double s, ag_tensor *a);
/* a * b + c in one pass (broadcast) */
ag_tensor *ag_addcmul(ag_tensor *c, ag_tensor *a, ag_tensor *b);
/* elementwise max / min of two tensors; where equal the gradient is split as PyTorch does */
ag_tensor *ag_maximum(ag_tensor *a, ag_tensor *b);
ag_tensor *ag_minimum(ag_tensor *a, ag_tensor *b);

/* --- elementwise, one input ------------------------------------------------------------ */
ag_tensor *ag_neg(ag_tensor *x);
ag_tensor *ag_pow(ag_tensor *x, double exponent);
ag_tensor *ag_exp(ag_tensor *x);
ag_tensor *ag_log(ag_tensor *x);
ag_tensor *ag_sqrt(ag_tensor *x);
ag_tensor *ag_abs(ag_tensor *x);   /* gradient 0 at 0 */
ag_tensor *ag_sign(ag_tensor *x);  /* no gradient (zero) */
ag_tensor *ag_sin(ag_tensor *x);
ag_tensor *ag_cos(ag_tensor *x);
ag_tensor *ag_relu(ag_tensor *x);  /* gradient 0 at 0 */
ag_tensor *ag_sigmoid(ag_tensor *x);
ag_tensor *ag_tanh(ag_tensor *x);
ag_tensor *ag_silu(ag_tensor *x);
ag_tensor *ag_leaky_relu(ag_tensor *x, double negative_slope);
ag_tensor *ag_elu(ag_tensor *x, double alpha);
/* approximate: false = exact erf form, true = tanh approximation */
ag_tensor *ag_gelu(ag_tensor *x, bool tanh_approx);
ag_tensor *ag_softplus(ag_tensor *x, double beta, double threshold);
/* clamp to [lo, hi]; pass -INFINITY / INFINITY for a missing bound. Bounds are inclusive
 * for the gradient. */
ag_tensor *ag_clamp(ag_tensor *x, double lo, double hi);

/* --- reductions ------------------------------------------------------------------------ */
/* Over every element: a 0-d result. */
ag_tensor *ag_sum(ag_tensor *x);
ag_tensor *ag_mean(ag_tensor *x);
ag_tensor *ag_max(ag_tensor *x);
/* Over the n dims listed (negative allowed, no repeats); keepdim keeps them as size 1. */
ag_tensor *ag_sum_dims(ag_tensor *x, const int *dims, int n, bool keepdim);
ag_tensor *ag_mean_dims(ag_tensor *x, const int *dims, int n, bool keepdim);
ag_tensor *ag_logsumexp_dims(ag_tensor *x, const int *dims, int n, bool keepdim);
/* Over one dim: sum, mean, max (values; gradient to the arg-max), logsumexp. */
ag_tensor *ag_sum_dim(ag_tensor *x, int dim, bool keepdim);
ag_tensor *ag_mean_dim(ag_tensor *x, int dim, bool keepdim);
ag_tensor *ag_max_dim(ag_tensor *x, int dim, bool keepdim);
ag_tensor *ag_logsumexp(ag_tensor *x, int dim, bool keepdim);
/* Sums x down to `shape` (the reverse of broadcasting; what broadcast backward uses). */
ag_tensor *ag_sum_to(ag_tensor *x, ag_shape shape);
/* Broadcasts x up to `shape` (copies). */
ag_tensor *ag_expand(ag_tensor *x, ag_shape shape);

/* --- linear algebra -------------------------------------------------------------------- */
/* torch.matmul: 1-d.1-d dot, 2-d @ 2-d, 1-d operands promoted and squeezed, batched with
 * broadcasting of the leading dims. */
ag_tensor *ag_matmul(ag_tensor *a, ag_tensor *b);
/* x @ w^T + b for x (N, in), w (out, in), b (out) or NULL. Also x of shape (in). */
ag_tensor *ag_linear(ag_tensor *x, ag_tensor *w, ag_tensor *b);

/* --- shape ----------------------------------------------------------------------------- */
/* Row-major reshape; one entry of `shape` may be -1 (inferred). */
ag_tensor *ag_reshape(ag_tensor *x, ag_shape shape);
ag_tensor *ag_transpose(ag_tensor *x, int dim0, int dim1);

/* --- softmax --------------------------------------------------------------------------- */
ag_tensor *ag_softmax(ag_tensor *x, int dim);
ag_tensor *ag_log_softmax(ag_tensor *x, int dim);

/* --- losses ---------------------------------------------------------------------------- */
typedef enum ag_reduction { AG_MEAN = 0, AG_SUM, AG_NONE, AG_BATCHMEAN } ag_reduction;

/* (input - target)^2, |input - target|, Huber(delta), SmoothL1(beta); same shapes
 * (target broadcast to input as PyTorch does). */
ag_tensor *ag_mse_loss(ag_tensor *input, ag_tensor *target, ag_reduction r);
ag_tensor *ag_l1_loss(ag_tensor *input, ag_tensor *target, ag_reduction r);
ag_tensor *ag_huber_loss(ag_tensor *input, ag_tensor *target, ag_reduction r, double delta);
ag_tensor *ag_smooth_l1_loss(ag_tensor *input, ag_tensor *target, ag_reduction r,
                             double beta);
/* -(t log p + (1-t) log(1-p)), logs clamped at -100 as PyTorch does. */
ag_tensor *ag_binary_cross_entropy(ag_tensor *p, ag_tensor *t, ag_reduction r);
ag_tensor *ag_binary_cross_entropy_with_logits(ag_tensor *x, ag_tensor *t, ag_reduction r);
/* Class indices as int64 (N). x is (N, C). */
ag_tensor *ag_cross_entropy(ag_tensor *x, const int64_t *target, ag_reduction r,
                            double label_smoothing);
/* Probability targets t (N, C). */
ag_tensor *ag_cross_entropy_probs(ag_tensor *x, ag_tensor *t, ag_reduction r,
                                  double label_smoothing);
ag_tensor *ag_nll_loss(ag_tensor *logp, const int64_t *target, ag_reduction r);
ag_tensor *ag_kl_div(ag_tensor *input, ag_tensor *target, ag_reduction r, bool log_target);
ag_tensor *ag_hinge_embedding_loss(ag_tensor *x, ag_tensor *y, double margin, ag_reduction r);
ag_tensor *ag_multi_margin_loss(ag_tensor *x, const int64_t *y, int p, double margin,
                                ag_reduction r);
ag_tensor *ag_margin_ranking_loss(ag_tensor *x1, ag_tensor *x2, ag_tensor *y, double margin,
                                  ag_reduction r);
ag_tensor *ag_triplet_margin_loss(ag_tensor *a, ag_tensor *p, ag_tensor *n, double margin,
                                  double norm_p, double eps, bool swap, ag_reduction r);
ag_tensor *ag_cosine_embedding_loss(ag_tensor *x1, ag_tensor *x2, ag_tensor *y,
                                    double margin, ag_reduction r);
/* log_probs (T, N, C); targets (N, S) padded; lengths (N). */
ag_tensor *ag_ctc_loss(ag_tensor *log_probs, const int64_t *targets, int64_t S,
                       const int64_t *input_lengths, const int64_t *target_lengths,
                       int64_t blank, ag_reduction r, bool zero_infinity);
/* 1 - (2 sum(p t) + eps) / (sum p + sum t + eps) */
ag_tensor *ag_dice_loss(ag_tensor *p, ag_tensor *t, double eps);
/* mean_n(y d^2 + (1-y) max(0, margin-d)^2) / 2, d = ||x1 - x2|| per row */
ag_tensor *ag_contrastive_loss(ag_tensor *x1, ag_tensor *x2, ag_tensor *y, double margin);

/* --- normalisation, embedding, dropout (training layers) ------------------------------- */
/* F.layer_norm: each group of x's last normalized_shape.ndim dims (which must equal
 * normalized_shape, at least 1 dim) becomes (x - mean) / sqrt(var + eps), var biased, then
 * * weight + bias (each of shape normalized_shape, or NULL for none). PyTorch's eps: 1e-5. */
ag_tensor *ag_layer_norm(ag_tensor *x, ag_shape normalized_shape, ag_tensor *weight,
                         ag_tensor *bias, double eps);
/* F.batch_norm on x (N, C) or (N, C, L) (any (N, C, *)), per channel c:
 *   training:  (x - mean_c) / sqrt(var_c + eps) with the batch's mean and biased variance;
 *              then, if running_mean and running_var (C) are given (both or neither), they
 *              are updated in place: r = (1 - momentum) r + momentum s, with the UNBIASED
 *              variance for running_var. Needs more than one value per channel.
 *   otherwise: (x - running_mean_c) / sqrt(running_var_c + eps) (running stats required).
 * Then * weight + bias (each (C) or NULL). PyTorch's defaults: momentum 0.1, eps 1e-5. */
ag_tensor *ag_batch_norm(ag_tensor *x, ag_tensor *running_mean, ag_tensor *running_var,
                         ag_tensor *weight, ag_tensor *bias, bool training, double momentum,
                         double eps);
/* F.embedding: rows of weight (V, D) picked by the indices idx (each in [0, V); an index out
 * of range is an error naming it), of shape idx_shape: the result is (idx_shape..., D). The
 * gradient adds into the picked rows (a row picked twice gets both). */
ag_tensor *ag_embedding(ag_tensor *weight, const int64_t *idx, ag_shape idx_shape);
/* F.dropout: in training each element is zeroed with probability p and the rest scaled by
 * 1/(1-p), with a mask from the thread's generator (ag_manual_seed fixes it). p = 0 or not
 * training returns x itself; p = 1 gives zeros. p outside [0, 1] is an error. */
ag_tensor *ag_dropout(ag_tensor *x, double p, bool training);

#ifdef __cplusplus
}
#endif
#endif
