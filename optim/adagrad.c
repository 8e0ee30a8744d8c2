/* adagrad.c — Adagrad with learning-rate decay, L2 weight decay, an initial accumulator value
 * and maximize (PyTorch 1.13's torch.optim.Adagrad, dense gradients). */
#include "optim_internal.h"

/* At the parameter's step t, with d = -g when maximizing, else g:
 *     d   = d + weight_decay * p
 *     clr = lr / (1 + (t - 1) * lr_decay)          (in double, as PyTorch does in Python)
 *     sum = sum + d * d                            (sum starts at initial_accumulator_value)
 *     p   = p - clr * d / (sqrt(sum) + eps) */
static void adagrad_step(const ag_optimizer *opt, const agi_slice *x)
{
    const ag_adagrad_opts *o = &opt->o.adagrad;
    const ag_real wd = (ag_real)o->weight_decay, eps = (ag_real)o->eps;
    const ag_real clr = (ag_real)(opt->lr / (1 + (double)(x->step - 1) * o->lr_decay));
    ag_real *sum = x->s[0];
    for (size_t j = 0; j < x->n; j++) {
        ag_real d = agi_effective_grad(x->g[j], x->p[j], o->maximize, wd);
        sum[j] = sum[j] + d * d;
        x->p[j] = x->p[j] + -clr * d / (AGI_SQRT(sum[j]) + eps);
    }
}

static const agi_optim_class ADAGRAD = { .name = "adagrad", .step_one = adagrad_step };

/* Defaults (an option left 0): lr 1e-2, eps 1e-10; lr_decay, weight_decay and
 * initial_accumulator_value 0. Checks are PyTorch's: lr > 0, the others >= 0. */
ag_optimizer *ag_adagrad_new(const ag_params *params, ag_adagrad_opts o)
{
    o.lr = agi_or_default(o.lr, 1e-2);
    o.eps = agi_or_default(o.eps, 1e-10);
    if (!agi_check_opt("adagrad", "lr", o.lr, 0, true, INFINITY, true) ||
        !agi_check_opt("adagrad", "lr_decay", o.lr_decay, 0, false, INFINITY, true) ||
        !agi_check_opt("adagrad", "weight_decay", o.weight_decay, 0, false, INFINITY, true) ||
        !agi_check_opt("adagrad", "initial_accumulator_value", o.initial_accumulator_value, 0,
                       false, INFINITY, true) ||
        !agi_check_opt("adagrad", "eps", o.eps, 0, false, INFINITY, true))
        return NULL;
    const char *state[AGI_MAX_STATE] = { "sum" };
    ag_optimizer *opt = agi_optim_new(&ADAGRAD, params, o.lr, state,
                                      o.initial_accumulator_value);
    if (opt)
        opt->o.adagrad = o;
    return opt;
}
