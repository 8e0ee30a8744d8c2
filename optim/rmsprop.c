/* rmsprop.c — RMSprop with L2 weight decay, momentum, the centered variant and maximize
 * (PyTorch 1.13's torch.optim.RMSprop). */
#include "optim_internal.h"

/* State slots: the running mean of squares, the momentum buffer (momentum > 0), the running
 * mean of gradients (centered). */
enum { SQUARE_AVG, MOMENTUM_BUFFER, GRAD_AVG };

/* With d = -g when maximizing, else g:
 *     d   = d + weight_decay * p
 *     s   = alpha * s + (1 - alpha) * d * d
 *     a   = alpha * a + (1 - alpha) * d,  den = sqrt(s - a * a) + eps      (centered)
 *                                         den = sqrt(s) + eps              (otherwise)
 *     buf = momentum * buf + d / den,  p = p - lr * buf                    (momentum > 0)
 *                                      p = p - lr * d / den                (otherwise) */
static void rmsprop_step(const ag_optimizer *opt, const agi_slice *x)
{
    const ag_rmsprop_opts *o = &opt->o.rmsprop;
    const ag_real lr = (ag_real)opt->lr, wd = (ag_real)o->weight_decay;
    const ag_real alpha = (ag_real)o->alpha, c = (ag_real)(1 - o->alpha);
    const ag_real eps = (ag_real)o->eps, mom = (ag_real)o->momentum;
    ag_real *s = x->s[SQUARE_AVG], *buf = x->s[MOMENTUM_BUFFER], *a = x->s[GRAD_AVG];
    for (size_t j = 0; j < x->n; j++) {
        ag_real d = agi_effective_grad(x->g[j], x->p[j], o->maximize, wd);
        s[j] = s[j] * alpha + c * d * d;
        ag_real den;
        if (a) {
            a[j] = a[j] * alpha + c * d;
            den = AGI_SQRT(s[j] + -1 * a[j] * a[j]) + eps;
        } else {
            den = AGI_SQRT(s[j]) + eps;
        }
        if (buf) {
            buf[j] = buf[j] * mom + d / den;
            x->p[j] = x->p[j] - lr * buf[j];
        } else {
            x->p[j] = x->p[j] + -lr * d / den;
        }
    }
}

static const agi_optim_class RMSPROP = { .name = "rmsprop", .step_one = rmsprop_step };

/* Defaults (an option left 0): lr 1e-2, alpha 0.99, eps 1e-8; momentum and weight_decay 0.
 * Checks are PyTorch's: lr > 0, alpha, eps, momentum and weight_decay >= 0. */
ag_optimizer *ag_rmsprop_new(const ag_params *params, ag_rmsprop_opts o)
{
    o.lr = agi_or_default(o.lr, 1e-2);
    o.alpha = agi_or_default(o.alpha, 0.99);
    o.eps = agi_or_default(o.eps, 1e-8);
    if (!agi_check_opt("rmsprop", "lr", o.lr, 0, true, INFINITY, true) ||
        !agi_check_opt("rmsprop", "alpha", o.alpha, 0, false, INFINITY, true) ||
        !agi_check_opt("rmsprop", "eps", o.eps, 0, false, INFINITY, true) ||
        !agi_check_opt("rmsprop", "momentum", o.momentum, 0, false, INFINITY, true) ||
        !agi_check_opt("rmsprop", "weight_decay", o.weight_decay, 0, false, INFINITY, true))
        return NULL;
    const char *state[AGI_MAX_STATE] = {
        [SQUARE_AVG] = "square_avg",
        [MOMENTUM_BUFFER] = o.momentum > 0 ? "momentum_buffer" : NULL,
        [GRAD_AVG] = o.centered ? "grad_avg" : NULL,
    };
    ag_optimizer *opt = agi_optim_new(&RMSPROP, params, o.lr, state, 0);
    if (opt)
        opt->o.rmsprop = o;
    return opt;
}
