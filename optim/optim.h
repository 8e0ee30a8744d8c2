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

/* --- learning-rate schedulers (PyTorch 1.13's torch.optim.lr_scheduler) -----------------
 * A scheduler changes its optimizer's lr (ag_optim_set_lr) once per epoch. Made at epoch 0
 * with the optimizer's current lr as the base, leaving it unchanged; ag_scheduler_step then
 * moves to the next epoch with torch's recursive formula on the optimizer's current lr (so
 * the values are torch's to the last bit, and an lr set from outside carries on as in torch):
 *   StepLR:            lr * gamma every step_size epochs      (base * gamma^(epoch/step_size))
 *   ExponentialLR:     lr * gamma every epoch                 (base * gamma^epoch)
 *   CosineAnnealingLR: eta_min + (base - eta_min)(1 + cos(pi epoch / T_max)) / 2, continuing
 *                      periodically past T_max as torch's does
 * ReduceLROnPlateau instead takes the epoch's metric (ag_scheduler_step_metric): the metric
 * improves when it beats the best so far by more than threshold (rel: best*(1 -+ threshold),
 * abs: best -+ threshold, for mode min/max); after more than `patience` epochs without
 * improvement the lr becomes max(lr * factor, min_lr) (if that changes it by more than eps)
 * and the next `cooldown` epochs do not count. Start from AG_PLATEAU_DEFAULTS (torch's
 * defaults) and change fields.
 * A step refuses while an error is pending and returns it. Free a scheduler before its
 * optimizer (it keeps a pointer to it). A NULL scheduler is AG_ERR_ARG, except for free. */
typedef struct ag_scheduler ag_scheduler;

typedef enum ag_plateau_mode { AG_PLATEAU_MIN = 0, AG_PLATEAU_MAX } ag_plateau_mode;
typedef enum ag_threshold_mode { AG_THRESHOLD_REL = 0, AG_THRESHOLD_ABS } ag_threshold_mode;

typedef struct ag_plateau_opts {
    ag_plateau_mode mode;
    double factor;                    /* in [0, 1) */
    int64_t patience;
    double threshold;
    ag_threshold_mode threshold_mode;
    int64_t cooldown;
    double min_lr, eps;
} ag_plateau_opts;

#define AG_PLATEAU_DEFAULTS                                                                 \
    ((ag_plateau_opts){ .mode = AG_PLATEAU_MIN, .factor = 0.1, .patience = 10,              \
                        .threshold = 1e-4, .threshold_mode = AG_THRESHOLD_REL, .cooldown = 0, \
                        .min_lr = 0, .eps = 1e-8 })

/* step_size and T_max at least 1; gamma and eta_min finite and >= 0. NULL with an error
 * otherwise. */
ag_scheduler *ag_step_lr_new(ag_optimizer *opt, int64_t step_size, double gamma);
ag_scheduler *ag_exponential_lr_new(ag_optimizer *opt, double gamma);
ag_scheduler *ag_cosine_annealing_lr_new(ag_optimizer *opt, int64_t t_max, double eta_min);
ag_scheduler *ag_reduce_lr_on_plateau_new(ag_optimizer *opt, ag_plateau_opts o);

/* One epoch: ag_scheduler_step for the epoch-driven schedulers, ag_scheduler_step_metric for
 * ReduceLROnPlateau (the other one is AG_ERR_ARG). */
ag_status ag_scheduler_step(ag_scheduler *s);
ag_status ag_scheduler_step_metric(ag_scheduler *s, double metric);

/* The lr the last step left (torch's get_last_lr), the epoch count, and the class name
 * ("StepLR", ...). NaN / -1 / NULL with an error for NULL. */
double ag_scheduler_get_lr(const ag_scheduler *s);
int64_t ag_scheduler_epoch(const ag_scheduler *s);
const char *ag_scheduler_name(const ag_scheduler *s);

void ag_scheduler_free(ag_scheduler *s);

/* --- gradient clipping (torch.nn.utils) ------------------------------------------------------
 * Both act in place on the .grad of every parameter of the list that has one (the others are
 * skipped). ag_clip_grad_norm is clip_grad_norm_: the norm_type-norm of all the gradients
 * together (norm_type > 0, or INFINITY for the largest |g|); if max_norm / (total + 1e-6) < 1
 * every gradient is multiplied by it. It returns the total norm before clipping (0 when no
 * parameter has a gradient), or NaN with an error for bad arguments. ag_clip_grad_value is
 * clip_grad_value_: every element clamped to [-clip, clip], clip >= 0. */
double ag_clip_grad_norm(const ag_params *params, double max_norm, double norm_type);
ag_status ag_clip_grad_value(const ag_params *params, double clip);

#ifdef __cplusplus
}
#endif
#endif
