/* clip.c — gradient clipping with PyTorch 1.13's rules (torch.nn.utils.clip_grad_norm_ and
 * clip_grad_value_), in place on the .grad of each parameter that has one.
 *
 * clip_grad_norm: the norm of all gradients taken together (as if concatenated), in double;
 * every gradient is then multiplied by max_norm / (total + 1e-6) when that is below 1. Like
 * torch (error_if_nonfinite=False), a NaN total makes the coefficient NaN and it is applied. */
#include "optim_internal.h"

/* Checks a parameter list for clipping: present, and every entry a live tensor. */
static bool clip_params_ok(const char *fn, const ag_params *ps)
{
    if (!ps || ps->n < 0 || (ps->n > 0 && !ps->tensors))
        return ag_fail(AG_ERR_ARG, "%s: the parameter list is NULL or malformed", fn), false;
    for (int i = 0; i < ps->n; i++)
        if (!agi_check_live(ps->tensors[i], fn, i))
            return false;
    return true;
}

/* sum |g|^p over every gradient (p finite), or max |g| (p infinite), in double. */
static double grad_power_sum(const ag_params *ps, double p)
{
    double acc = 0;
    for (int i = 0; i < ps->n; i++) {
        const ag_tensor *g = agi_grad(ps->tensors[i]);
        for (size_t j = 0; g && j < g->numel; j++) {
            double a = fabs((double)g->data[j]);
            acc = isinf(p) ? fmax(acc, a) : p == 2 ? acc + a * a : acc + pow(a, p);
        }
    }
    return acc;
}

/* Multiplies every gradient by c in place. */
static void scale_grads(const ag_params *ps, ag_real c)
{
    for (int i = 0; i < ps->n; i++) {
        ag_tensor *g = agi_grad(ps->tensors[i]);
        for (size_t j = 0; g && j < g->numel; j++)
            g->data[j] *= c;
        ag_bump_version(g);
    }
}

/* clip_grad_norm_(params, max_norm, norm_type): returns the total norm before clipping
 * (0 when no parameter has a gradient), or NaN with an error for bad arguments. */
double ag_clip_grad_norm(const ag_params *params, double max_norm, double norm_type)
{
    const char *fn = "clip_grad_norm";
    if (!clip_params_ok(fn, params))
        return NAN;
    if (!(max_norm >= 0))
        return ag_fail(AG_ERR_ARG, "%s: max_norm must be >= 0 (got %g)", fn, max_norm), NAN;
    if (!(norm_type > 0))
        return ag_fail(AG_ERR_ARG, "%s: norm_type must be > 0 or INFINITY (got %g)", fn,
                       norm_type),
               NAN;
    double s = grad_power_sum(params, norm_type);
    double total = isinf(norm_type) ? s : norm_type == 2 ? sqrt(s) : pow(s, 1 / norm_type);
    double coef = max_norm / (total + 1e-6);
    if (!(coef >= 1))
        scale_grads(params, (ag_real)coef);
    return total;
}

/* clip_grad_value_(params, clip): every gradient element clamped to [-clip, clip] (NaN stays
 * NaN, as torch's clamp leaves it). */
ag_status ag_clip_grad_value(const ag_params *params, double clip)
{
    const char *fn = "clip_grad_value";
    if (!clip_params_ok(fn, params))
        return ag_error();
    if (!(clip >= 0))
        return ag_fail(AG_ERR_ARG, "%s: clip_value must be >= 0 (got %g)", fn, clip);
    ag_real c = (ag_real)clip;
    for (int i = 0; i < params->n; i++) {
        ag_tensor *g = agi_grad(params->tensors[i]);
        for (size_t j = 0; g && j < g->numel; j++)
            g->data[j] = g->data[j] > c ? c : g->data[j] < -c ? -c : g->data[j];
        ag_bump_version(g);
    }
    return AG_OK;
}
