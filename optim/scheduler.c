/* scheduler.c — learning-rate schedulers with PyTorch 1.13's rules: StepLR, ExponentialLR,
 * CosineAnnealingLR and ReduceLROnPlateau.
 *
 * The first three follow torch's _LRScheduler: made at epoch 0 with the optimizer's lr as the
 * base (initial_lr) and the lr left as it is; each step advances the epoch and computes the
 * new lr from the optimizer's current one by torch's recursive ("chainable") formula — not
 * the closed form, which rounds differently — so the sequence is torch's to the last bit, and
 * an lr changed from outside carries on from there as it does in torch. ReduceLROnPlateau
 * watches a metric instead and multiplies the lr by `factor` after `patience` epochs without
 * improvement, then waits `cooldown` epochs.
 *
 * A step refuses while an error is pending (like ag_optim_step), so one failed training step
 * changes neither the parameters nor the schedule. */
#include "optim_internal.h"

#include <inttypes.h>

typedef struct sched_class {
    const char *name;
    /* The lr for epoch s->last_epoch (already advanced) from the current lr; NULL for the
     * plateau scheduler, which steps on a metric. */
    double (*next_lr)(const ag_scheduler *s, double lr);
} sched_class;

struct ag_scheduler {
    const sched_class *cls;
    ag_optimizer *opt;
    double base_lr;          /* the optimizer's lr when the scheduler was made */
    double last_lr;          /* get_last_lr() */
    int64_t last_epoch;
    int64_t period;          /* StepLR's step_size, CosineAnnealingLR's T_max */
    double rate;             /* gamma (StepLR, ExponentialLR) or eta_min (CosineAnnealingLR) */
    ag_plateau_opts po;      /* ReduceLROnPlateau: the options, */
    double best;             /* the best metric so far, */
    int64_t bad_epochs;      /* epochs since it improved, */
    int64_t cooldown_left;   /* and epochs of cooldown still to wait */
};

/* --- the chainable formulas -------------------------------------------------------------- */

/* StepLR: lr * gamma at every step_size-th epoch. */
static double step_lr(const ag_scheduler *s, double lr)
{
    int64_t e = s->last_epoch;
    return e == 0 || e % s->period != 0 ? lr : lr * s->rate;
}

/* ExponentialLR: lr * gamma at every epoch. */
static double exponential_lr(const ag_scheduler *s, double lr)
{
    return s->last_epoch == 0 ? lr : lr * s->rate;
}

/* Python's a % b for b > 0: never negative. */
static int64_t floor_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

/* CosineAnnealingLR, torch's recursive form (operation for operation): with e the epoch and
 * T = T_max,
 *     e at the end of a rising half-period:  lr + (base - eta_min)(1 - cos(pi / T)) / 2
 *     otherwise:  (1 + cos(pi e / T)) / (1 + cos(pi (e - 1) / T)) (lr - eta_min) + eta_min
 * which follows eta_min + (base - eta_min)(1 + cos(pi e / T)) / 2 up to rounding. */
static double cosine_lr(const ag_scheduler *s, double lr)
{
    int64_t e = s->last_epoch, t = s->period;
    double lo = s->rate;
    if (e == 0)
        return lr;
    if (floor_mod(e - 1 - t, 2 * t) == 0)
        return lr + (s->base_lr - lo) * (1 - cos(M_PI / (double)t)) / 2;
    return (1 + cos(M_PI * (double)e / (double)t)) /
               (1 + cos(M_PI * (double)(e - 1) / (double)t)) * (lr - lo) +
           lo;
}

static const sched_class STEP_LR = { "StepLR", step_lr };
static const sched_class EXPONENTIAL_LR = { "ExponentialLR", exponential_lr };
static const sched_class COSINE_LR = { "CosineAnnealingLR", cosine_lr };
static const sched_class PLATEAU = { "ReduceLROnPlateau", NULL };

/* --- making one ---------------------------------------------------------------------------- */

/* A scheduler of class cls on opt at epoch 0, with the optimizer's lr as the base. */
static ag_scheduler *sched_new(const sched_class *cls, ag_optimizer *opt)
{
    if (!opt)
        return ag_fail(AG_ERR_ARG, "%s: optimizer is NULL", cls->name), NULL;
    ag_scheduler *s = agi_alloc(sizeof *s);
    if (s)
        *s = (ag_scheduler){ .cls = cls, .opt = opt, .base_lr = ag_optim_get_lr(opt),
                             .last_lr = ag_optim_get_lr(opt) };
    return s;
}

/* An epoch-driven scheduler with its period (named `pname`, at least 1; NULL for none) and
 * its rate (named `rname`, finite and >= 0). */
static ag_scheduler *epoch_sched_new(const sched_class *cls, ag_optimizer *opt,
                                     const char *pname, int64_t period, const char *rname,
                                     double rate)
{
    if (pname && period < 1)
        return ag_fail(AG_ERR_ARG, "%s: %s must be at least 1 (got %" PRId64 ")", cls->name,
                       pname, period),
               NULL;
    if (!agi_check_opt(cls->name, rname, rate, 0, false, INFINITY, true))
        return NULL;
    ag_scheduler *s = sched_new(cls, opt);
    if (s)
        s->period = period, s->rate = rate;
    return s;
}

ag_scheduler *ag_step_lr_new(ag_optimizer *opt, int64_t step_size, double gamma)
{
    return epoch_sched_new(&STEP_LR, opt, "step_size", step_size, "gamma", gamma);
}

ag_scheduler *ag_exponential_lr_new(ag_optimizer *opt, double gamma)
{
    return epoch_sched_new(&EXPONENTIAL_LR, opt, NULL, 0, "gamma", gamma);
}

ag_scheduler *ag_cosine_annealing_lr_new(ag_optimizer *opt, int64_t t_max, double eta_min)
{
    return epoch_sched_new(&COSINE_LR, opt, "T_max", t_max, "eta_min", eta_min);
}

/* The plateau options: known modes, factor in [0, 1) (torch: "Factor should be < 1.0."),
 * counts >= 0, the rest finite and >= 0. */
static bool plateau_opts_ok(const ag_plateau_opts *o)
{
    const char *who = PLATEAU.name;
    if ((o->mode != AG_PLATEAU_MIN && o->mode != AG_PLATEAU_MAX) ||
        (o->threshold_mode != AG_THRESHOLD_REL && o->threshold_mode != AG_THRESHOLD_ABS))
        return ag_fail(AG_ERR_ARG, "%s: unknown mode %d or threshold_mode %d", who,
                       (int)o->mode, (int)o->threshold_mode),
               false;
    if (o->patience < 0 || o->cooldown < 0)
        return ag_fail(AG_ERR_ARG, "%s: patience (%" PRId64 ") and cooldown (%" PRId64
                                   ") must be >= 0",
                       who, o->patience, o->cooldown),
               false;
    return agi_check_opt(who, "factor", o->factor, 0, false, 1, true) &&
           agi_check_opt(who, "threshold", o->threshold, 0, false, INFINITY, true) &&
           agi_check_opt(who, "min_lr", o->min_lr, 0, false, INFINITY, true) &&
           agi_check_opt(who, "eps", o->eps, 0, false, INFINITY, true);
}

ag_scheduler *ag_reduce_lr_on_plateau_new(ag_optimizer *opt, ag_plateau_opts o)
{
    if (!plateau_opts_ok(&o))
        return NULL;
    ag_scheduler *s = sched_new(&PLATEAU, opt);
    if (s) {
        s->po = o;
        s->best = o.mode == AG_PLATEAU_MIN ? INFINITY : -INFINITY;
    }
    return s;
}

void ag_scheduler_free(ag_scheduler *s) { agi_release(s); }

/* --- stepping ------------------------------------------------------------------------------ */

/* Checks s and that it is (plateau) or is not (!plateau) a metric scheduler; then returns the
 * pending error, if any, so that a failed step changes nothing. */
static ag_status step_ok(const ag_scheduler *s, bool plateau, const char *fn)
{
    if (!s)
        return ag_fail(AG_ERR_ARG, "%s: scheduler is NULL", fn);
    if (plateau != (s->cls == &PLATEAU))
        return ag_fail(AG_ERR_ARG, "%s: a %s %s", fn, s->cls->name,
                       plateau ? "steps without a metric (ag_scheduler_step)"
                               : "steps on a metric (ag_scheduler_step_metric)");
    return ag_error();
}

/* Sets the optimizer's lr and remembers it as the last lr. */
static ag_status set_lr(ag_scheduler *s, double lr)
{
    ag_optim_set_lr(s->opt, lr);
    s->last_lr = ag_optim_get_lr(s->opt);
    return ag_error();
}

/* One epoch of StepLR, ExponentialLR or CosineAnnealingLR. The epoch advances only if the
 * optimizer takes the new lr (it refuses one that overflowed to Inf). */
ag_status ag_scheduler_step(ag_scheduler *s)
{
    ag_status st = step_ok(s, false, "scheduler_step");
    if (st != AG_OK)
        return st;
    ag_scheduler next = *s;
    next.last_epoch++;
    if ((st = set_lr(&next, next.cls->next_lr(&next, ag_optim_get_lr(s->opt)))) == AG_OK)
        *s = next;
    return st;
}

/* torch's is_better: beyond the best by more than the threshold, relative or absolute. */
static bool is_better(const ag_plateau_opts *o, double a, double best)
{
    bool rel = o->threshold_mode == AG_THRESHOLD_REL;
    if (o->mode == AG_PLATEAU_MIN)
        return rel ? a < best * (1 - o->threshold) : a < best - o->threshold;
    return rel ? a > best * (o->threshold + 1) : a > best + o->threshold;
}

/* torch's _reduce_lr: lr * factor, not below min_lr, applied only if it changes the lr by
 * more than eps. */
static ag_status reduce_lr(ag_scheduler *s)
{
    double old = ag_optim_get_lr(s->opt), lr = fmax(old * s->po.factor, s->po.min_lr);
    return old - lr > s->po.eps ? set_lr(s, lr) : AG_OK;
}

/* One epoch of ReduceLROnPlateau with this epoch's metric (torch's step(metrics)): a bad
 * epoch unless the metric beats the best; bad epochs during cooldown do not count; after more
 * than `patience` of them the lr is reduced and the cooldown starts. */
ag_status ag_scheduler_step_metric(ag_scheduler *s, double metric)
{
    ag_status st = step_ok(s, true, "scheduler_step_metric");
    if (st != AG_OK)
        return st;
    s->last_epoch++;
    if (is_better(&s->po, metric, s->best)) {
        s->best = metric;
        s->bad_epochs = 0;
    } else {
        s->bad_epochs++;
    }
    if (s->cooldown_left > 0) {
        s->cooldown_left--;
        s->bad_epochs = 0;
    }
    if (s->bad_epochs > s->po.patience) {
        st = reduce_lr(s);
        s->cooldown_left = s->po.cooldown;
        s->bad_epochs = 0;
    }
    s->last_lr = ag_optim_get_lr(s->opt);
    return st;
}

/* --- queries ------------------------------------------------------------------------------- */

double ag_scheduler_get_lr(const ag_scheduler *s)
{
    if (!s)
        return ag_fail(AG_ERR_ARG, "scheduler_get_lr: scheduler is NULL"), NAN;
    return s->last_lr;
}

int64_t ag_scheduler_epoch(const ag_scheduler *s)
{
    if (!s)
        return ag_fail(AG_ERR_ARG, "scheduler_epoch: scheduler is NULL"), -1;
    return s->last_epoch;
}

const char *ag_scheduler_name(const ag_scheduler *s)
{
    if (!s)
        return ag_fail(AG_ERR_ARG, "scheduler_name: scheduler is NULL"), NULL;
    return s->cls->name;
}
