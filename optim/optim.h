/* optim.h — optimizers over a parameter list, with exactly PyTorch's update rules.
 *
 * An optimizer keeps a copy of the parameter list (and of the names: the caller's ag_params
 * may go away) and its own state (momentum buffers, moments), allocated at creation so that a
 * step never allocates. A step either updates every parameter or none: it checks every
 * gradient first. Parameters whose gradient is NULL (never computed) are skipped, as in
 * PyTorch, and so is their step count: each parameter counts its own updates (PyTorch's
 * state['step']), which Adam's bias corrections and Adagrad's lr_decay use.
 *
 * Options: a field left 0 takes PyTorch's default where 0 is not a meaningful value (lr of
 * Adam/AdamW 1e-3, RMSprop 1e-2, Adagrad 1e-2, Adadelta 1.0; betas 0.9/0.999; eps 1e-8
 * (Adagrad 1e-10, Adadelta 1e-6); RMSprop alpha 0.99; Adadelta rho 0.9; AdamW weight_decay
 * 1e-2). So a beta of exactly 0 cannot be asked for (1e-300 acts the same), and AdamW without
 * decay is ag_adam_new. SGD's lr has no default and must be > 0. Ranges are PyTorch's (betas
 * in [0, 1), Adadelta's rho in [0, 1], the rest >= 0, nesterov needs momentum > 0 and
 * dampening 0), and every option must be finite.
 *
 * A NULL optimizer is reported as AG_ERR_ARG by every function but ag_optim_free. */
#ifndef AG_OPTIM_H
#define AG_OPTIM_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ag_optimizer ag_optimizer;

typedef struct ag_sgd_opts {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
} ag_sgd_opts;

typedef struct ag_adam_opts {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, maximize;
} ag_adam_opts;

typedef struct ag_rmsprop_opts {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered, maximize;
} ag_rmsprop_opts;

typedef struct ag_adagrad_opts {
    double lr, lr_decay, weight_decay, initial_accumulator_value, eps;
    bool maximize;
} ag_adagrad_opts;

typedef struct ag_adadelta_opts {
    double lr, rho, eps, weight_decay;
    bool maximize;
} ag_adadelta_opts;

/* Each returns a new optimizer over the n tensors of `params` (heap leaves, each at most
 * once, n >= 1), or NULL with an error naming the bad option or parameter ("sgd: lr must be
 * > 0 (got -1)", nesterov without momentum, a NULL or repeated tensor, ...). */
ag_optimizer *ag_sgd_new(const ag_params *params, ag_sgd_opts o);
ag_optimizer *ag_adam_new(const ag_params *params, ag_adam_opts o);
ag_optimizer *ag_adamw_new(const ag_params *params, ag_adam_opts o);
ag_optimizer *ag_rmsprop_new(const ag_params *params, ag_rmsprop_opts o);
ag_optimizer *ag_adagrad_new(const ag_params *params, ag_adagrad_opts o);
ag_optimizer *ag_adadelta_new(const ag_params *params, ag_adadelta_opts o);

/* One update of every parameter from its .grad; each changed parameter's version is bumped.
 * Refuses (and changes nothing: no parameter, no state, no count) while an error is pending,
 * returning that error, or if a gradient's shape does not match its parameter (AG_ERR_SHAPE
 * naming the parameter, by name if the list had names, else by index, and both shapes).
 * Large parameters are updated on ag_get_num_threads() threads, bitwise as on one. */
ag_status ag_optim_step(ag_optimizer *opt);

/* Zeroes every parameter's gradient in place (PyTorch 1.13's zero_grad(set_to_none=False)). */
void ag_optim_zero_grad(ag_optimizer *opt);

/* The learning rate, for schedulers. set_lr takes any finite lr >= 0 (warm-up may start at
 * 0) and otherwise records AG_ERR_ARG and keeps the old one. get_lr(NULL) is NaN. */
double ag_optim_get_lr(const ag_optimizer *opt);
void ag_optim_set_lr(ag_optimizer *opt, double lr);

/* Steps taken so far (-1 for NULL). */
int64_t ag_optim_step_count(const ag_optimizer *opt);

/* The optimizer's per-parameter state buffers, for checkpoints: buffer k of parameter i
 * (NULL past the last, without an error; a bad i is AG_ERR_ARG), with PyTorch's name for it
 * ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg",
 * "sum", "acc_delta"). Only the buffers the options need exist (SGD without momentum has
 * none). They belong to the optimizer; write into them (ag_data) to restore a checkpoint.
 * set_step_count sets the count of the optimizer and of every parameter (t >= 0); the next
 * step is then step t + 1, and with t = 0 SGD starts its momentum buffers afresh. */
ag_tensor *ag_optim_state(ag_optimizer *opt, int param, int k, const char **name);
void ag_optim_set_step_count(ag_optimizer *opt, int64_t t);

const char *ag_optim_name(const ag_optimizer *opt);

/* Frees the optimizer and its state (not the parameters). NULL-safe. */
void ag_optim_free(ag_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
