/* optim_internal.h — the base every optimizer is built on, for optim/ files only.
 *
 * An optimizer is one struct ag_optimizer: the copied parameter list, per-parameter step
 * counts, up to AGI_MAX_STATE state buffers per parameter (heap tensors of the parameter's
 * shape, allocated at creation), the live learning rate and the algorithm's options. What
 * differs between algorithms is a class: a name and an update rule that the shared step
 * (optimizer.c) calls on each parameter whose gradient exists, after checking all of them.
 * So an algorithm file holds only its option checks and its update rule.
 *
 * Update rules follow PyTorch 1.13's single-tensor code operation by operation: scalars that
 * PyTorch computes in Python (bias corrections, step sizes) are computed in double and then
 * rounded once to ag_real, as ATen does when it receives a Python number for a float tensor;
 * everything elementwise is computed in ag_real. */
#ifndef AGI_OPTIM_INTERNAL_H
#define AGI_OPTIM_INTERNAL_H

#include <math.h>

#include "autograd_internal.h"
#include "optim.h"

/* State buffers per parameter at most (RMSprop: square_avg, momentum_buffer, grad_avg). */
#define AGI_MAX_STATE 3

/* One parameter's update, or a contiguous piece of it (large parameters are split across
 * threads): n values of the parameter, of its gradient and of each used state buffer, all at
 * the same offset. s[k] is NULL for a slot the optimizer does not use. step is this
 * parameter's step number, 1 at its first update (PyTorch's state['step']). */
typedef struct agi_slice {
    ag_real *p;
    const ag_real *g;
    ag_real *s[AGI_MAX_STATE];
    size_t n;
    int64_t step;
} agi_slice;

/* An algorithm: its name ("adam") and its elementwise update rule. The rule reads its
 * options from opt->o and the learning rate from opt->lr (the live value, which schedulers
 * change; the lr field inside opt->o is not used after creation). */
typedef struct agi_optim_class {
    const char *name;
    void (*step_one)(const ag_optimizer *opt, const agi_slice *x);
} agi_optim_class;

struct ag_optimizer {
    const agi_optim_class *cls;
    double lr;
    int64_t t;                                   /* successful ag_optim_step calls */
    int n;
    ag_tensor **params;                          /* copy of the caller's array */
    char **names;                                /* copies of the names, or NULL */
    int64_t *steps;                              /* per parameter: updates applied */
    ag_tensor *(*state)[AGI_MAX_STATE];          /* n rows; NULL in unused slots */
    const char *state_names[AGI_MAX_STATE];      /* NULL for an unused slot */
    union {
        ag_sgd_opts sgd;
        ag_adam_opts adam;
        ag_rmsprop_opts rmsprop;
        ag_adagrad_opts adagrad;
        ag_adadelta_opts adadelta;
    } o;
};

/* A new optimizer of class cls over params with learning rate lr and, for each slot k whose
 * state_names[k] is not NULL, a state buffer per parameter filled with state_init. The
 * caller then stores its options in ->o. NULL with an error (named after cls) if params is
 * NULL or empty, holds a NULL, non-heap or repeated tensor, or memory runs out. */
ag_optimizer *agi_optim_new(const agi_optim_class *cls, const ag_params *params, double lr,
                            const char *const state_names[AGI_MAX_STATE], double state_init);

/* True if lo <= v <= hi, with an end excluded when its *_open flag is set, and v finite.
 * Otherwise records AG_ERR_ARG, "adam: beta2 must be in [0, 1) (got 1)", and returns false. */
bool agi_check_opt(const char *optim, const char *what, double v, double lo, bool lo_open,
                   double hi, bool hi_open);

/* An option left 0 takes its default. */
static inline double agi_or_default(double v, double dflt) { return v == 0 ? dflt : v; }

/* The gradient an update rule starts from, formed as PyTorch forms it: the stored gradient g,
 * negated when maximizing (d = -g), then the L2 penalty d = d + wd*p when wd is not 0. */
static inline ag_real agi_effective_grad(ag_real g, ag_real p, bool maximize, ag_real wd)
{
    ag_real d = maximize ? -g : g;
    return wd != 0 ? d + wd * p : d;
}

/* sqrt in ag_real (sqrtf in the float build: correctly rounded, like ATen's). */
#ifdef AG_DOUBLE
#define AGI_SQRT sqrt
#else
#define AGI_SQRT sqrtf
#endif

#endif
