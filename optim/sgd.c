/* sgd.c — stochastic gradient descent with momentum, dampening, L2 weight decay, Nesterov
 * momentum and maximize (PyTorch 1.13's torch.optim.SGD). */
#include "optim_internal.h"

/* With d = -g when maximizing, else g:
 *     d   = d + weight_decay * p
 *     buf = d at the parameter's first step, else momentum * buf + (1 - dampening) * d
 *     d   = d + momentum * buf  (nesterov)  or  buf                  (only if momentum != 0)
 *     p   = p - lr * d
 * Without momentum there is no buffer (slot 0 unused) and the middle lines are skipped. */
/* The steady-state momentum step (not the first step, no Nesterov) as a branch-free loop
 * that vectorises; the same operations in the same order as the general loop below. */
AGI_SIMD static void sgd_momentum(ag_real *restrict p, const ag_real *restrict g,
                                  ag_real *restrict buf, size_t n, ag_real lr, ag_real wd,
                                  ag_real sign, ag_real mom, ag_real keep)
{
    for (size_t j = 0; j < n; j++) {
        ag_real d = sign * g[j];
        d = wd != 0 ? d + wd * p[j] : d;
        buf[j] = mom * buf[j] + keep * d;
        p[j] = p[j] - lr * buf[j];
    }
}

static void sgd_step(const ag_optimizer *opt, const agi_slice *x)
{
    const ag_sgd_opts *o = &opt->o.sgd;
    const ag_real lr = (ag_real)opt->lr, wd = (ag_real)o->weight_decay;
    const ag_real mom = (ag_real)o->momentum, keep = (ag_real)(1 - o->dampening);
    ag_real *buf = x->s[0];
    const bool first = x->step == 1;
    if (buf && !first && !o->nesterov) {
        sgd_momentum(x->p, x->g, buf, x->n, lr, wd, o->maximize ? -1 : 1, mom, keep);
        return;
    }
    for (size_t j = 0; j < x->n; j++) {
        ag_real d = agi_effective_grad(x->g[j], x->p[j], o->maximize, wd);
        if (buf) {
            buf[j] = first ? d : mom * buf[j] + keep * d;
            d = o->nesterov ? d + mom * buf[j] : buf[j];
        }
        x->p[j] = x->p[j] - lr * d;
    }
}

static const agi_optim_class SGD = { .name = "sgd", .step_one = sgd_step };

/* lr has no default and must be > 0; momentum and weight_decay >= 0; nesterov needs
 * momentum > 0 and dampening 0 (PyTorch's rule). The buffer exists only with momentum. */
ag_optimizer *ag_sgd_new(const ag_params *params, ag_sgd_opts o)
{
    if (!agi_check_opt("sgd", "lr", o.lr, 0, true, INFINITY, true) ||
        !agi_check_opt("sgd", "momentum", o.momentum, 0, false, INFINITY, true) ||
        !agi_check_opt("sgd", "dampening", o.dampening, -INFINITY, true, INFINITY, true) ||
        !agi_check_opt("sgd", "weight_decay", o.weight_decay, 0, false, INFINITY, true))
        return NULL;
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
        return ag_fail(AG_ERR_ARG,
                       "sgd: nesterov needs momentum > 0 and dampening 0 (got momentum %g, "
                       "dampening %g)",
                       o.momentum, o.dampening),
               NULL;
    const char *state[AGI_MAX_STATE] = { o.momentum != 0 ? "momentum_buffer" : NULL };
    ag_optimizer *opt = agi_optim_new(&SGD, params, o.lr, state, 0);
    if (opt)
        opt->o.sgd = o;
    return opt;
}
