/* optimizer.c — what every optimizer shares: creation (copying the parameter list, allocating
 * the state), the checked all-or-nothing step, zero_grad, the learning rate, the step count,
 * state access and freeing. The update rules live in sgd.c, adam.c, rmsprop.c, adagrad.c and
 * adadelta.c. */
#include "optim_internal.h"

#include <stdio.h>
#include <string.h>

#include "parallel_internal.h"

/* Values per task when a large parameter's update is split across threads. The rules are
 * elementwise, so the result is bitwise the same for any split. */
#define GRAIN ((size_t)1 << 15)

/* Records the error for an option outside its range; see optim_internal.h. The message
 * states the range the way a reader expects: "> 0", ">= 0", "in [0, 1)", or "finite". */
bool agi_check_opt(const char *optim, const char *what, double v, double lo, bool lo_open,
                   double hi, bool hi_open)
{
    bool ok = isfinite(v) && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
    if (ok)
        return true;
    if (isinf(lo) && isinf(hi))
        ag_fail(AG_ERR_ARG, "%s: %s must be finite (got %g)", optim, what, v);
    else if (isinf(hi))
        ag_fail(AG_ERR_ARG, "%s: %s must be %s %g (got %g)", optim, what, lo_open ? ">" : ">=",
                lo, v);
    else
        ag_fail(AG_ERR_ARG, "%s: %s must be in %c%g, %g%c (got %g)", optim, what,
                lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']', v);
    return false;
}

/* How errors name parameter i: 'its name' when the list had names, else its index. */
static const char *param_label(const ag_optimizer *opt, int i, char *buf, size_t size)
{
    if (opt->names && opt->names[i])
        snprintf(buf, size, "'%s'", opt->names[i]);
    else
        snprintf(buf, size, "%d", i);
    return buf;
}

/* Same number of dimensions and the same sizes. */
static bool same_shape(ag_shape a, ag_shape b)
{
    if (a.ndim != b.ndim)
        return false;
    for (int k = 0; k < a.ndim; k++)
        if (a.d[k] != b.d[k])
            return false;
    return true;
}

/* Copies the names (one block: the pointer array, then the strings), or NULL if the list has
 * none. Sets *failed when memory runs out. */
static char **copy_names(const ag_params *params, bool *failed)
{
    *failed = false;
    if (!params->names)
        return NULL;
    size_t bytes = (size_t)params->n * sizeof(char *);
    for (int i = 0; i < params->n; i++)
        if (params->names[i])
            bytes += strlen(params->names[i]) + 1;
    char **names = agi_alloc(bytes);
    if (!names) {
        *failed = true;
        return NULL;
    }
    char *s = (char *)(names + params->n);
    for (int i = 0; i < params->n; i++) {
        names[i] = NULL;
        if (params->names[i]) {
            size_t len = strlen(params->names[i]) + 1;
            memcpy(s, params->names[i], len);
            names[i] = s;
            s += len;
        }
    }
    return names;
}

/* Checks the parameter list an optimizer is made over: present, non-empty (PyTorch refuses an
 * empty one too), every entry a heap tensor (a leaf that outlives steps), none twice (its
 * update would be applied twice with two different states). */
static bool params_ok(const char *who, const ag_params *params)
{
    if (!params || params->n <= 0 || !params->tensors) {
        ag_fail(AG_ERR_ARG, "%s: %s", who,
                !params ? "params is NULL"
                : params->n <= 0 ? "the parameter list is empty"
                                 : "params->tensors is NULL");
        return false;
    }
    for (int i = 0; i < params->n; i++) {
        const ag_tensor *p = params->tensors[i];
        if (!p)
            return ag_fail(AG_ERR_ARG, "%s: parameter %d is NULL", who, i), false;
        if (p->kind != AGI_HEAP)
            return ag_fail(AG_ERR_ARG,
                           "%s: parameter %d is not a leaf (op results cannot be optimized; "
                           "make parameters with ag_zeros, ag_randn, ag_clone, ...)",
                           who, i),
                   false;
        for (int j = 0; j < i; j++)
            if (params->tensors[j] == p)
                return ag_fail(AG_ERR_ARG, "%s: parameter %d is the same tensor as parameter %d",
                               who, i, j),
                       false;
    }
    return true;
}

/* Allocates everything a step will need, so that a step never allocates: the copied list,
 * the names, the step counts and every state buffer (state_init in each element). */
ag_optimizer *agi_optim_new(const agi_optim_class *cls, const ag_params *params, double lr,
                            const char *const state_names[AGI_MAX_STATE], double state_init)
{
    if (!params_ok(cls->name, params))
        return NULL;
    ag_optimizer *opt = agi_alloc(sizeof *opt);
    if (!opt)
        return NULL;
    memset(opt, 0, sizeof *opt);
    opt->cls = cls;
    opt->lr = lr;
    opt->n = params->n;
    size_t n = (size_t)params->n;
    bool names_failed;
    opt->params = agi_alloc(n * sizeof *opt->params);
    opt->steps = agi_alloc(n * sizeof *opt->steps);
    if ((opt->state = agi_alloc(n * sizeof *opt->state)))
        memset(opt->state, 0, n * sizeof *opt->state); /* before any early free */
    opt->names = copy_names(params, &names_failed);
    if (!opt->params || !opt->steps || !opt->state || names_failed) {
        ag_optim_free(opt);
        return NULL;
    }
    memcpy(opt->params, params->tensors, n * sizeof *opt->params);
    memset(opt->steps, 0, n * sizeof *opt->steps);
    for (int k = 0; k < AGI_MAX_STATE; k++)
        opt->state_names[k] = state_names[k];
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < AGI_MAX_STATE; k++)
            if (state_names[k] &&
                !(opt->state[i][k] = ag_full(opt->params[i]->shape, (ag_real)state_init))) {
                ag_optim_free(opt);
                return NULL;
            }
    return opt;
}

/* Frees the state buffers and the copies; also undoes a half-made optimizer (agi_optim_new
 * zeroes the state table before anything can fail). The parameters are the caller's. */
void ag_optim_free(ag_optimizer *opt)
{
    if (!opt)
        return;
    if (opt->state)
        for (int i = 0; i < opt->n; i++)
            for (int k = 0; k < AGI_MAX_STATE; k++)
                ag_free(opt->state[i][k]);
    agi_release(opt->state);
    agi_release(opt->steps);
    agi_release(opt->names);
    agi_release(opt->params);
    agi_release(opt);
}

/* A parallel region's view of one parameter's update: GRAIN-value tasks claimed with
 * affinity (agi_claims), so that a thread starting late (its wake-up, or its core busy
 * elsewhere) does fewer of them instead of holding the others at the region's end (two
 * fixed halves kept the main thread waiting ~36 us per parameter on two threads), while
 * each thread still updates the same part of the parameter at every step: its state then
 * stays in that thread's caches (on two threads, mlp-large's Adam step took 0.8 ms with the
 * tasks handed out in arrival order, 0.7 ms with affinity). */
typedef struct step_task {
    const ag_optimizer *opt;
    agi_slice whole;
    agi_claims claims;
} step_task;

/* Runs the update rule on the tasks this thread claims: its own chunk's first, so that each
 * thread updates the same part of a parameter (and of its state) at every step, then what
 * is left of the others' (the range the region hands it only names its chunk). */
static void step_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)begin;
    (void)end;
    step_task *st = ctx;
    int cursor = 0;
    for (int64_t t; (t = agi_claims_next(&st->claims, tid, &cursor)) >= 0;) {
        size_t k = (size_t)t;
        size_t lo = k * GRAIN, hi = lo + GRAIN < st->whole.n ? lo + GRAIN : st->whole.n;
        agi_slice x = st->whole;
        x.p += lo;
        x.g += lo;
        for (int s = 0; s < AGI_MAX_STATE; s++)
            if (x.s[s])
                x.s[s] += lo;
        x.n = hi - lo;
        st->opt->cls->step_one(st->opt, &x);
    }
}

/* One step: refuse while an error is pending; check every gradient against its parameter
 * (the shape must match) before touching anything; then, for each parameter that has a
 * gradient, count its step, run the rule and bump its version. Parameters without a gradient
 * keep their values and their step count, as in PyTorch. */
ag_status ag_optim_step(ag_optimizer *opt)
{
    if (!opt)
        return ag_fail(AG_ERR_ARG, "optim_step: optimizer is NULL");
    ag_status pending = ag_error();
    if (pending)
        return pending;
    const char *who = opt->cls->name;
    for (int i = 0; i < opt->n; i++) {
        const ag_tensor *p = opt->params[i];
        char lbl[128], a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
        if (p->kind != AGI_HEAP)
            return ag_fail(AG_ERR_STATE, "%s: parameter %s was freed", who,
                           param_label(opt, i, lbl, sizeof lbl));
        if (p->grad && !same_shape(p->grad->shape, p->shape)) /* shape only: no need to zero */
            return ag_fail(AG_ERR_SHAPE,
                           "%s: parameter %s has shape %s but its gradient has shape %s", who,
                           param_label(opt, i, lbl, sizeof lbl), ag_shape_str(p->shape, a),
                           ag_shape_str(p->grad->shape, b));
    }
    for (int i = 0; i < opt->n; i++) {
        ag_tensor *p = opt->params[i];
        if (!agi_grad(p))
            continue;
        step_task st = { .opt = opt,
                         .whole = { .p = p->data, .g = agi_grad(p)->data, .n = p->numel,
                                    .step = ++opt->steps[i] } };
        int64_t n_tasks = (int64_t)((p->numel + GRAIN - 1) / GRAIN);
        int64_t threads = ag_get_num_threads();
        agi_claims_init(&st.claims, n_tasks, threads < n_tasks ? threads : n_tasks);
        for (int k = 0; k < AGI_MAX_STATE; k++)
            st.whole.s[k] = opt->state[i][k] ? opt->state[i][k]->data : NULL;
        agi_parallel_for(n_tasks, step_range, &st);
        ag_bump_version(p);
    }
    opt->t++;
    return AG_OK;
}

/* PyTorch 1.13's zero_grad(set_to_none=False): every existing gradient becomes 0 in place;
 * parameters without one keep none. */
void ag_optim_zero_grad(ag_optimizer *opt)
{
    if (!opt) {
        ag_fail(AG_ERR_ARG, "optim_zero_grad: optimizer is NULL");
        return;
    }
    for (int i = 0; i < opt->n; i++)
        ag_zero_grad(opt->params[i]);
}

/* The live learning rate (what the next step uses). */
double ag_optim_get_lr(const ag_optimizer *opt)
{
    if (!opt)
        return ag_fail(AG_ERR_ARG, "optim_get_lr: optimizer is NULL"), NAN;
    return opt->lr;
}

/* A scheduler may set any finite lr >= 0 (warm-up starts at 0, annealing may end there). */
void ag_optim_set_lr(ag_optimizer *opt, double lr)
{
    if (!opt) {
        ag_fail(AG_ERR_ARG, "optim_set_lr: optimizer is NULL");
        return;
    }
    if (agi_check_opt(opt->cls->name, "lr", lr, 0, false, INFINITY, true))
        opt->lr = lr;
}

/* Successful steps so far (refused ones do not count). */
int64_t ag_optim_step_count(const ag_optimizer *opt)
{
    if (!opt)
        return ag_fail(AG_ERR_ARG, "optim_step_count: optimizer is NULL"), -1;
    return opt->t;
}

/* Restoring a checkpoint: the count becomes t for the optimizer and for every parameter (the
 * bias corrections of the next step use t + 1; with t = 0, SGD starts its momentum buffers
 * afresh from the next gradient). */
void ag_optim_set_step_count(ag_optimizer *opt, int64_t t)
{
    if (!opt) {
        ag_fail(AG_ERR_ARG, "optim_set_step_count: optimizer is NULL");
        return;
    }
    if (t < 0 || t > (INT64_C(1) << 53)) { /* beyond 2^53 a double no longer counts exactly */
        ag_fail(AG_ERR_ARG, "%s: step count must be in [0, 2^53] (got %lld)", opt->cls->name,
                (long long)t);
        return;
    }
    opt->t = t;
    for (int i = 0; i < opt->n; i++)
        opt->steps[i] = t;
}

/* Buffer k of parameter `param`, counting only the slots this optimizer uses. */
ag_tensor *ag_optim_state(ag_optimizer *opt, int param, int k, const char **name)
{
    if (name)
        *name = NULL;
    if (!opt)
        return ag_fail(AG_ERR_ARG, "optim_state: optimizer is NULL"), NULL;
    if (param < 0 || param >= opt->n)
        return ag_fail(AG_ERR_ARG, "%s: state of parameter %d requested, but there are %d",
                       opt->cls->name, param, opt->n),
               NULL;
    for (int slot = 0; slot < AGI_MAX_STATE && k >= 0; slot++) {
        if (!opt->state_names[slot])
            continue;
        if (k-- == 0) {
            if (name)
                *name = opt->state_names[slot];
            return opt->state[param][slot];
        }
    }
    return NULL;
}

/* The class name: "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta". */
const char *ag_optim_name(const ag_optimizer *opt)
{
    if (!opt)
        return ag_fail(AG_ERR_ARG, "optim_name: optimizer is NULL"), NULL;
    return opt->cls->name;
}
