/* adam.c — Adam (L2 weight decay folded into the gradient) and AdamW (decoupled weight
 * decay), with amsgrad and maximize (PyTorch 1.13's torch.optim.Adam and AdamW). */
#include "optim_internal.h"

/* At the parameter's step t, with d = -g when maximizing, else g:
 *     p   = p * (1 - lr * weight_decay)                              (AdamW only)
 *     d   = d + weight_decay * p                                     (Adam only)
 *     m   = beta1 * m + (1 - beta1) * d
 *     v   = beta2 * v + (1 - beta2) * d * d
 *     vmax = max(vmax, v), and vmax replaces v below                 (amsgrad)
 *     p   = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * The step size lr / (1 - beta1^t) and sqrt(1 - beta2^t) are computed in double, as
 * PyTorch computes them in Python. */
/* The rule without amsgrad and maximize (the common case) as a branch-free loop that
 * vectorises: the same operations in the same order as the general loop below. */
AGI_SIMD static void adam_plain(ag_real *restrict p, const ag_real *restrict g, ag_real *restrict m,
                                ag_real *restrict v, size_t n, ag_real decay, ag_real wd,
                                ag_real b1, ag_real c1, ag_real b2, ag_real c2, ag_real step_size,
                                ag_real bc2_sqrt, ag_real eps)
{
    for (size_t j = 0; j < n; j++) {
        ag_real pj = p[j] * decay;
        ag_real d = wd != 0 ? g[j] + wd * pj : g[j];
        m[j] = m[j] * b1 + c1 * d;
        v[j] = v[j] * b2 + c2 * d * d;
        ag_real denom = AGI_SQRT(v[j]) / bc2_sqrt + eps;
        p[j] = pj + -step_size * m[j] / denom;
    }
}

static void adam_rule(const ag_optimizer *opt, const agi_slice *x, bool decoupled)
{
    const ag_adam_opts *o = &opt->o.adam;
    const double t = (double)x->step;
    const ag_real step_size = (ag_real)(opt->lr / (1 - pow(o->beta1, t)));
    const ag_real bc2_sqrt = (ag_real)sqrt(1 - pow(o->beta2, t));
    const ag_real b1 = (ag_real)o->beta1, c1 = (ag_real)(1 - o->beta1);
    const ag_real b2 = (ag_real)o->beta2, c2 = (ag_real)(1 - o->beta2);
    const ag_real eps = (ag_real)o->eps;
    const ag_real decay = (ag_real)(1 - opt->lr * o->weight_decay);
    const ag_real wd = decoupled ? 0 : (ag_real)o->weight_decay;
    ag_real *m = x->s[0], *v = x->s[1], *vmax = x->s[2];
    if (!vmax && !o->maximize) {
        adam_plain(x->p, x->g, m, v, x->n, decoupled ? decay : 1, wd, b1, c1, b2, c2, step_size,
                   bc2_sqrt, eps);
        return;
    }
    for (size_t j = 0; j < x->n; j++) {
        ag_real p = decoupled ? x->p[j] * decay : x->p[j];
        ag_real d = agi_effective_grad(x->g[j], p, o->maximize, wd);
        m[j] = m[j] * b1 + c1 * d;
        v[j] = v[j] * b2 + c2 * d * d;
        ag_real vh = v[j];
        if (vmax) {
            if (!(vmax[j] >= vh)) /* torch.maximum: NaN wins */
                vmax[j] = vh;
            vh = vmax[j];
        }
        ag_real denom = AGI_SQRT(vh) / bc2_sqrt + eps;
        x->p[j] = p + -step_size * m[j] / denom;
    }
}

static void adam_step(const ag_optimizer *opt, const agi_slice *x) { adam_rule(opt, x, false); }
static void adamw_step(const ag_optimizer *opt, const agi_slice *x) { adam_rule(opt, x, true); }

static const agi_optim_class ADAM = { .name = "adam", .step_one = adam_step };
static const agi_optim_class ADAMW = { .name = "adamw", .step_one = adamw_step };

/* Defaults (an option left 0): lr 1e-3, betas 0.9 / 0.999, eps 1e-8, weight_decay 0 (Adam)
 * or 1e-2 (AdamW; so an AdamW without decay is ag_adam_new). A beta of exactly 0 cannot be
 * asked for; a tiny one (1e-300) behaves the same. Checks are PyTorch's: lr > 0,
 * betas in [0, 1), eps and weight_decay >= 0. Buffers exp_avg, exp_avg_sq, and with amsgrad
 * max_exp_avg_sq. */
static ag_optimizer *adam_new(const agi_optim_class *cls, const ag_params *params,
                              ag_adam_opts o, double default_wd)
{
    const char *who = cls->name;
    o.lr = agi_or_default(o.lr, 1e-3);
    o.beta1 = agi_or_default(o.beta1, 0.9);
    o.beta2 = agi_or_default(o.beta2, 0.999);
    o.eps = agi_or_default(o.eps, 1e-8);
    o.weight_decay = agi_or_default(o.weight_decay, default_wd);
    if (!agi_check_opt(who, "lr", o.lr, 0, true, INFINITY, true) ||
        !agi_check_opt(who, "beta1", o.beta1, 0, false, 1, true) ||
        !agi_check_opt(who, "beta2", o.beta2, 0, false, 1, true) ||
        !agi_check_opt(who, "eps", o.eps, 0, false, INFINITY, true) ||
        !agi_check_opt(who, "weight_decay", o.weight_decay, 0, false, INFINITY, true))
        return NULL;
    const char *state[AGI_MAX_STATE] = { "exp_avg", "exp_avg_sq",
                                         o.amsgrad ? "max_exp_avg_sq" : NULL };
    ag_optimizer *opt = agi_optim_new(cls, params, o.lr, state, 0);
    if (opt)
        opt->o.adam = o;
    return opt;
}

ag_optimizer *ag_adam_new(const ag_params *params, ag_adam_opts o)
{
    return adam_new(&ADAM, params, o, 0);
}

ag_optimizer *ag_adamw_new(const ag_params *params, ag_adam_opts o)
{
    return adam_new(&ADAMW, params, o, 1e-2);
}
