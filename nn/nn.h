/* nn.h — modules (Linear, Sequential, activations), their parameters, and losses as modules.
 *
 * A module owns its parameters (heap leaves that require grad) and, for Sequential, its
 * children. ag_forward returns a tape tensor like any op. Initialisation follows PyTorch's
 * defaults and draws from the calling thread's generator (ag_manual_seed). */
#ifndef AG_NN_H
#define AG_NN_H

#include "autograd.h"
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_module ag_module;

/* y = x W^T + b with W (out, in) and b (out), both uniform in +-1/sqrt(in) (PyTorch's default
 * kaiming_uniform(a=sqrt 5) for W, the same bound for b). NULL with an error on in/out < 1. */
ag_module *ag_linear_new(int64_t in, int64_t out, bool bias);
/* The Linear's weight and bias (NULL if none, without an error), owned by the module.
 * NULL with an error if m is not a Linear. */
ag_tensor *ag_linear_weight(ag_module *m);
ag_tensor *ag_linear_bias(ag_module *m);

/* Activations as modules. */
ag_module *ag_relu_new(void);
ag_module *ag_sigmoid_new(void);
ag_module *ag_tanh_new(void);

/* Runs the n modules in order; takes ownership of them (also on failure: they are freed).
 * Children are named "0", "1", ... in parameter names ("0.weight"). Fails (AG_ERR_ARG) on a
 * NULL module, on a module listed twice and on one that already belongs to another module
 * (that one is left to its owner). With n = 0 the forward returns its input. */
ag_module *ag_sequential_new(int n, ag_module *const *mods);

/* The module applied to x: a tape tensor, or NULL with an error. */
ag_tensor *ag_forward(ag_module *m, ag_tensor *x);

/* Every parameter of m and its children, in registration order, with dotted names. The list
 * belongs to the module and stays valid while the module lives; it is built on the first
 * call and rebuilt (same ag_params address) only after a parameter or child is added. */
const ag_params *ag_parameters(ag_module *m);

/* Zeroes every parameter's gradient (in place). */
void ag_module_zero_grad(ag_module *m);

/* The module's name ("Linear", "Sequential", ...). */
const char *ag_module_name(const ag_module *m);

/* Frees the module, its children and its parameters. NULL-safe. A module that belongs to a
 * Sequential is freed with it: freeing it directly is refused with AG_ERR_ARG. */
void ag_module_free(ag_module *m);

/* --- user modules -------------------------------------------------------------------------
 * A module of one's own: a forward, optional free of `self`, and parameters registered with
 * ag_module_add_param (owned by the module afterwards). The def is kept by pointer (make it
 * static); if ag_module_new runs out of memory, it frees `self` with free_self. A forward
 * that returns NULL without an error pending gets one (AG_ERR_STATE). */
typedef struct ag_module_def {
    const char *name;
    ag_tensor *(*forward)(ag_module *m, ag_tensor *x);
    void (*free_self)(void *self);
} ag_module_def;
ag_module *ag_module_new(const ag_module_def *def, void *self);
void *ag_module_self(ag_module *m);
/* Registers a heap tensor as a parameter named `name` (requires grad is set on it). The name
 * must be non-empty, without '.', and new in m. The module takes t even when this fails (t is
 * freed), except when t is already one of m's parameters. Register a tensor in one module
 * only. */
ag_status ag_module_add_param(ag_module *m, const char *name, ag_tensor *t);

/* --- losses as modules --------------------------------------------------------------------
 * Like PyTorch's nn.*Loss: made once with their options, called as ag_loss_forward(loss,
 * input, target). Class-index targets (cross_entropy, nll, multi_margin) are float tensors of
 * shape (N) holding whole numbers; a (N, C) target to cross_entropy holds probabilities. */
typedef struct ag_loss ag_loss;

ag_loss *ag_mse_loss_new(ag_reduction r);
ag_loss *ag_l1_loss_new(ag_reduction r);
ag_loss *ag_huber_loss_new(ag_reduction r, double delta);
ag_loss *ag_smooth_l1_loss_new(ag_reduction r, double beta);
ag_loss *ag_bce_loss_new(ag_reduction r);
ag_loss *ag_bce_with_logits_loss_new(ag_reduction r);
ag_loss *ag_cross_entropy_loss_new(ag_reduction r, double label_smoothing);
ag_loss *ag_nll_loss_new(ag_reduction r);
ag_loss *ag_kl_div_loss_new(ag_reduction r, bool log_target);
ag_loss *ag_hinge_embedding_loss_new(double margin, ag_reduction r);
ag_loss *ag_multi_margin_loss_new(int p, double margin, ag_reduction r);
ag_loss *ag_dice_loss_new(double eps);

ag_tensor *ag_loss_forward(ag_loss *l, ag_tensor *input, ag_tensor *target);
const char *ag_loss_name(const ag_loss *l);
void ag_loss_free(ag_loss *l);

/* --- training layers, train/eval mode, buffers -------------------------------------------
 * Modules start in training mode. ag_module_train(m, false) is PyTorch's model.eval(): it
 * sets the mode of m and of every module below it; Dropout and BatchNorm1d read the mode at
 * each forward. */
void ag_module_train(ag_module *m, bool on);
bool ag_module_is_training(const ag_module *m);

/* Buffers: state a module keeps that is not trained (BatchNorm1d's "running_mean",
 * "running_var", "num_batches_tracked"), owned by the module like its parameters but not in
 * ag_parameters. ag_module_buffers lists those of m and its children with dotted names
 * ("1.running_mean"), with ag_parameters' lifetime rules, for saving and restoring them.
 * ag_module_add_buffer registers a heap tensor as m's buffer (PyTorch's register_buffer;
 * same ownership and naming rules as ag_module_add_param, requires_grad left as it is). */
const ag_params *ag_module_buffers(ag_module *m);
ag_status ag_module_add_buffer(ag_module *m, const char *name, ag_tensor *t);

/* Dropout(p): ag_dropout with the module's mode (identity in eval mode). p in [0, 1]. */
ag_module *ag_dropout_new(double p);

/* LayerNorm(normalized_shape, eps, elementwise_affine): ag_layer_norm over the input's last
 * dims, with parameters "weight" (ones) and "bias" (zeros) of shape normalized_shape when
 * elementwise_affine. PyTorch's eps is 1e-5. */
ag_module *ag_layer_norm_new(ag_shape normalized_shape, double eps, bool elementwise_affine);

/* BatchNorm1d(num_features, eps, momentum, affine, track_running_stats) on (N, C) or
 * (N, C, L) input with C = num_features: parameters "weight" (ones) and "bias" (zeros) when
 * affine; buffers "running_mean" (zeros), "running_var" (ones) and "num_batches_tracked" (a
 * 0-d count) when track_running_stats. Training uses the batch's statistics and updates the
 * running ones (ag_batch_norm); eval uses the running ones — or, without them, the batch's.
 * momentum in [0, 1], or NAN for PyTorch's momentum=None (a cumulative average: momentum
 * 1/num_batches_tracked). PyTorch's defaults: eps 1e-5, momentum 0.1. */
ag_module *ag_batch_norm1d_new(int64_t num_features, double eps, double momentum, bool affine,
                               bool track_running_stats);

/* Embedding(num_embeddings, embedding_dim): parameter "weight" (V, D) drawn from N(0, 1) as
 * PyTorch initialises it. ag_embedding_forward picks rows by int64 indices of shape s (the
 * result is (s..., D)); ag_forward takes the indices as a tensor of whole numbers. */
ag_module *ag_embedding_new(int64_t num_embeddings, int64_t embedding_dim);
ag_tensor *ag_embedding_forward(ag_module *m, const int64_t *idx, ag_shape s);

#ifdef __cplusplus
}
#endif
#endif
