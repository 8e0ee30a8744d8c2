/* adadelta.c — Adadelta with L2 weight decay and maximize (PyTorch 1.13's
 * torch.optim.Adadelta). */
#include "optim_internal.h"

/* With d = -g when maximizing, else g:
 *     d     = d + weight_decay * p
 *     s     = rho * s + (1 - rho) * d * d
 *     delta = sqrt(u + eps) / sqrt(s + eps) * d
 *     u     = rho * u + (1 - rho) * delta * delta
 *     p     = p - lr * delta */
static void adadelta_step(const ag_optimizer *opt, const agi_slice *x)
{
    const ag_adadelta_opts *o = &opt->o.adadelta;
    const ag_real lr = (ag_real)opt->lr, wd = (ag_real)o->weight_decay;
    const ag_real rho = (ag_real)o->rho, c = (ag_real)(1 - o->rho), eps = (ag_real)o->eps;
    ag_real *s = x->s[0], *u = x->s[1];
    for (size_t j = 0; j < x->n; j++) {
        ag_real d = agi_effective_grad(x->g[j], x->p[j], o->maximize, wd);
        s[j] = s[j] * rho + c * d * d;
        ag_real delta = AGI_SQRT(u[j] + eps) / AGI_SQRT(s[j] + eps) * d;
        u[j] = u[j] * rho + c * delta * delta;
        x->p[j] = x->p[j] + -lr * delta;
    }
}

static const agi_optim_class ADADELTA = { .name = "adadelta", .step_one = adadelta_step };

/* Defaults (an option left 0): lr 1.0, rho 0.9, eps 1e-6; weight_decay 0. Checks are
 * PyTorch's: lr > 0, rho in [0, 1], eps and weight_decay >= 0. Buffers square_avg and
 * acc_delta. */
ag_optimizer *ag_adadelta_new(const ag_params *params, ag_adadelta_opts o)
{
    o.lr = agi_or_default(o.lr, 1.0);
    o.rho = agi_or_default(o.rho, 0.9);
    o.eps = agi_or_default(o.eps, 1e-6);
    if (!agi_check_opt("adadelta", "lr", o.lr, 0, true, INFINITY, true) ||
        !agi_check_opt("adadelta", "rho", o.rho, 0, false, 1, false) ||
        !agi_check_opt("adadelta", "eps", o.eps, 0, false, INFINITY, true) ||
        !agi_check_opt("adadelta", "weight_decay", o.weight_decay, 0, false, INFINITY, true))
        return NULL;
    const char *state[AGI_MAX_STATE] = { "square_avg", "acc_delta" };
    ag_optimizer *opt = agi_optim_new(&ADADELTA, params, o.lr, state, 0);
    if (opt)
        opt->o.adadelta = o;
    return opt;
}
