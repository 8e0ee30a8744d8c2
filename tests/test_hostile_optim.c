/* test_hostile_optim.c — every function of optim.h fed hostile input: NULL optimizers and
 * schedulers, parameter lists that are NULL, empty, hold NULLs, op results or a tensor twice,
 * every option out of its range, steps while an error is pending or after a parameter was
 * freed (all or nothing: no parameter, no state, no count changes), clipping with bad lists;
 * and two threads training two different models at once, each bitwise as alone. Each
 * error's code and full message are pinned. Double build. */
#define _POSIX_C_SOURCE 200809L
#ifndef AG_TEST_STANDALONE
#include <criterion/criterion.h>
#else
/* Without Criterion, for ThreadSanitizer (Criterion's sandbox does not start under TSan):
 *   cc -fsanitize=thread -DAG_TEST_STANDALONE -DAG_DOUBLE <includes> tests/test_hostile_optim.c \
 *      <tsan build>/libagrad64.a -lm -lpthread -lxxhash -lz && ./a.out [name filter]
 * runs the tests in-process, each assertion a plain check that exits on failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef void (*sa_test)(void);
static struct {
    const char *name;
    sa_test fn, fini;
} sa_tests[64];
static int sa_n;
static void sa_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    exit(1);
}
#define TestSuite(suite, ...) static const struct { int dummy; void (*fini)(void); } sa_suite_##suite = { 0, __VA_ARGS__ }
#define Test(S, N, ...)                                                                    \
    static void S##_##N(void);                                                             \
    __attribute__((constructor)) static void sa_reg_##S##_##N(void)                        \
    {                                                                                      \
        sa_tests[sa_n].name = #S "/" #N;                                                   \
        sa_tests[sa_n].fini = sa_suite_##S.fini;                                           \
        sa_tests[sa_n++].fn = S##_##N;                                                     \
    }                                                                                      \
    static void S##_##N(void)
#define cr_assert(c, ...) ((c) ? (void)0 : sa_fail(__FILE__, __LINE__, #c))
#define cr_assert_not(c, ...) cr_assert(!(c))
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b))
#define cr_assert_null(p, ...) cr_assert((p) == NULL)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0)
#define cr_assert_arr_eq(a, b, n, ...) cr_assert(memcmp((a), (b), (n)) == 0)
int main(int argc, char **argv)
{
    int ran = 0;
    for (int i = 0; i < sa_n; i++)
        if (argc < 2 || strstr(sa_tests[i].name, argv[1])) {
            sa_tests[i].fn();
            if (sa_tests[i].fini)
                sa_tests[i].fini();
            fprintf(stderr, "[PASS] %s\n", sa_tests[i].name);
            ran++;
        }
    return ran ? 0 : 2;
}
#endif
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agrad.h"
#include "hostile_util.h"

static void teardown(void)
{
    ag_set_allocator(NULL);
    ag_step_end();
    ag_clear_error();
}
TestSuite(hostile_optim, .fini = teardown);

static ag_tensor *param(int n, double v)
{
    return ag_set_requires_grad(ag_full(AG_SHAPE(n), (ag_real)v), true);
}

/* Gives every parameter a gradient of `g` (backward of sum(g * p)). */
static void set_grads(ag_tensor *const *p, int n, double g)
{
    ag_tensor *loss = NULL;
    for (int i = 0; i < n; i++) {
        ag_tensor *t = ag_sum(ag_mul_scalar(p[i], g));
        loss = loss ? ag_add(loss, t) : t;
    }
    cr_assert_eq(ag_backward(loss), AG_OK, "%s", ag_error_message());
    ag_step_end();
}

/* --- creation -------------------------------------------------------------------------- */

Test(hostile_optim, parameter_lists_are_checked)
{
    ag_tensor *a = param(2, 1), *b = param(3, 1);
    ag_sgd_opts o = { .lr = 0.1 };
    FAILS(ag_sgd_new(NULL, o), AG_ERR_ARG, "sgd: params is NULL");
    FAILS(ag_adam_new(&(ag_params){ 0, (ag_tensor *[]){ a }, NULL }, (ag_adam_opts){ 0 }), AG_ERR_ARG,
          "adam: the parameter list is empty");
    FAILS(ag_adamw_new(&(ag_params){ -3, (ag_tensor *[]){ a }, NULL }, (ag_adam_opts){ 0 }), AG_ERR_ARG,
          "adamw: the parameter list is empty");
    FAILS(ag_rmsprop_new(&(ag_params){ 1, NULL, NULL }, (ag_rmsprop_opts){ 0 }), AG_ERR_ARG,
          "rmsprop: params->tensors is NULL");
    FAILS(ag_adagrad_new(&(ag_params){ 2, (ag_tensor *[]){ a, NULL }, NULL }, (ag_adagrad_opts){ 0 }),
          AG_ERR_ARG, "adagrad: parameter 1 is NULL");
    FAILS(ag_adadelta_new(&(ag_params){ 3, (ag_tensor *[]){ a, b, a }, NULL }, (ag_adadelta_opts){ 0 }),
          AG_ERR_ARG, "adadelta: parameter 2 is the same tensor as parameter 0");
    ag_tensor *r = ag_add(a, a);
    FAILS(ag_sgd_new(&(ag_params){ 1, &r, NULL }, o), AG_ERR_ARG,
          "sgd: parameter 0 is not a leaf (op results cannot be optimized; make parameters with "
          "ag_zeros, ag_randn, ag_clone, ...)");
    /* names may be missing, or NULL one by one */
    ag_optimizer *opt = ag_sgd_new(&(ag_params){ 2, (ag_tensor *[]){ a, b },
                                                 (const char *[]){ "a", NULL } }, o);
    cr_assert_not_null(opt);
    ag_optim_free(opt);
    ag_free(a), ag_free(b);
}

Test(hostile_optim, options_out_of_range)
{
    ag_tensor *a = param(2, 1);
    ag_params ps = { 1, &a, NULL };
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ 0 }), AG_ERR_ARG, "sgd: lr must be > 0 (got 0)");
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ .lr = NAN }), AG_ERR_ARG, "sgd: lr must be > 0 (got nan)");
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ .lr = INFINITY }), AG_ERR_ARG, "sgd: lr must be > 0 (got inf)");
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ .lr = 0.1, .momentum = -1 }), AG_ERR_ARG,
          "sgd: momentum must be >= 0 (got -1)");
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ .lr = 0.1, .dampening = INFINITY }), AG_ERR_ARG,
          "sgd: dampening must be finite (got inf)");
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ .lr = 0.1, .weight_decay = -0.5 }), AG_ERR_ARG,
          "sgd: weight_decay must be >= 0 (got -0.5)");
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ .lr = 0.1, .nesterov = true }), AG_ERR_ARG,
          "sgd: nesterov needs momentum > 0 and dampening 0 (got momentum 0, dampening 0)");
    FAILS(ag_sgd_new(&ps, (ag_sgd_opts){ .lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true }),
          AG_ERR_ARG, "sgd: nesterov needs momentum > 0 and dampening 0 (got momentum 0.9, dampening 0.1)");
    FAILS(ag_sgd_new(NULL, (ag_sgd_opts){ .lr = -1 }), AG_ERR_ARG, "sgd: lr must be > 0 (got -1)");
    FAILS(ag_adam_new(&ps, (ag_adam_opts){ .lr = -1 }), AG_ERR_ARG, "adam: lr must be > 0 (got -1)");
    FAILS(ag_adam_new(&ps, (ag_adam_opts){ .beta1 = 1 }), AG_ERR_ARG, "adam: beta1 must be in [0, 1) (got 1)");
    FAILS(ag_adam_new(&ps, (ag_adam_opts){ .beta2 = -0.5 }), AG_ERR_ARG,
          "adam: beta2 must be in [0, 1) (got -0.5)");
    FAILS(ag_adam_new(&ps, (ag_adam_opts){ .eps = -1 }), AG_ERR_ARG, "adam: eps must be >= 0 (got -1)");
    FAILS(ag_adamw_new(&ps, (ag_adam_opts){ .weight_decay = NAN }), AG_ERR_ARG,
          "adamw: weight_decay must be >= 0 (got nan)");
    FAILS(ag_rmsprop_new(&ps, (ag_rmsprop_opts){ .alpha = -1 }), AG_ERR_ARG,
          "rmsprop: alpha must be >= 0 (got -1)");
    FAILS(ag_rmsprop_new(&ps, (ag_rmsprop_opts){ .momentum = -1 }), AG_ERR_ARG,
          "rmsprop: momentum must be >= 0 (got -1)");
    FAILS(ag_rmsprop_new(&ps, (ag_rmsprop_opts){ .eps = INFINITY }), AG_ERR_ARG,
          "rmsprop: eps must be >= 0 (got inf)");
    FAILS(ag_adagrad_new(&ps, (ag_adagrad_opts){ .lr_decay = -1 }), AG_ERR_ARG,
          "adagrad: lr_decay must be >= 0 (got -1)");
    FAILS(ag_adagrad_new(&ps, (ag_adagrad_opts){ .initial_accumulator_value = -1 }), AG_ERR_ARG,
          "adagrad: initial_accumulator_value must be >= 0 (got -1)");
    FAILS(ag_adadelta_new(&ps, (ag_adadelta_opts){ .rho = 2 }), AG_ERR_ARG,
          "adadelta: rho must be in [0, 1] (got 2)");
    FAILS(ag_adadelta_new(&ps, (ag_adadelta_opts){ .lr = -1 }), AG_ERR_ARG, "adadelta: lr must be > 0 (got -1)");
    ag_free(a);
}

/* --- the optimizer's functions on NULL and bad indices --------------------------------- */

Test(hostile_optim, null_optimizer_everywhere)
{
    cr_assert_eq(ag_optim_step(NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "optim_step: optimizer is NULL");
    ag_optim_zero_grad(NULL);
    EXPECT_ERR(AG_ERR_ARG, "optim_zero_grad: optimizer is NULL");
    cr_assert(isnan(ag_optim_get_lr(NULL)));
    EXPECT_ERR(AG_ERR_ARG, "optim_get_lr: optimizer is NULL");
    ag_optim_set_lr(NULL, 0.1);
    EXPECT_ERR(AG_ERR_ARG, "optim_set_lr: optimizer is NULL");
    cr_assert_eq(ag_optim_step_count(NULL), -1);
    EXPECT_ERR(AG_ERR_ARG, "optim_step_count: optimizer is NULL");
    const char *name = "x";
    FAILS(ag_optim_state(NULL, 0, 0, &name), AG_ERR_ARG, "optim_state: optimizer is NULL");
    cr_assert_null(name);
    ag_optim_set_step_count(NULL, 3);
    EXPECT_ERR(AG_ERR_ARG, "optim_set_step_count: optimizer is NULL");
    FAILS(ag_optim_name(NULL), AG_ERR_ARG, "optim_name: optimizer is NULL");
    ag_optim_free(NULL);
    EXPECT_NO_ERR();
}

Test(hostile_optim, lr_state_and_counts_are_checked)
{
    ag_tensor *a = param(2, 1), *b = param(3, 1);
    ag_optimizer *opt = ag_sgd_new(&(ag_params){ 2, (ag_tensor *[]){ a, b }, NULL },
                                   (ag_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    ag_optim_set_lr(opt, -1);
    EXPECT_ERR(AG_ERR_ARG, "sgd: lr must be >= 0 (got -1)");
    ag_optim_set_lr(opt, NAN);
    EXPECT_ERR(AG_ERR_ARG, "sgd: lr must be >= 0 (got nan)");
    ag_optim_set_lr(opt, INFINITY);
    EXPECT_ERR(AG_ERR_ARG, "sgd: lr must be >= 0 (got inf)");
    cr_assert_eq(ag_optim_get_lr(opt), 0.1, "the old lr is kept");
    ag_optim_set_lr(opt, 0);
    cr_assert_eq(ag_optim_get_lr(opt), 0, "0 is allowed (warm-up)");
    const char *name = NULL;
    FAILS(ag_optim_state(opt, 2, 0, &name), AG_ERR_ARG, "sgd: state of parameter 2 requested, but there are 2");
    FAILS(ag_optim_state(opt, -1, 0, NULL), AG_ERR_ARG, "sgd: state of parameter -1 requested, but there are 2");
    cr_assert_not_null(ag_optim_state(opt, 1, 0, &name));
    cr_assert_str_eq(name, "momentum_buffer");
    cr_assert_null(ag_optim_state(opt, 1, 1, &name), "past the last buffer: NULL, no error");
    cr_assert_null(name);
    cr_assert_null(ag_optim_state(opt, 1, -1, NULL));
    EXPECT_NO_ERR();
    ag_optim_set_step_count(opt, -1);
    EXPECT_ERR(AG_ERR_ARG, "sgd: step count must be in [0, 2^53] (got -1)");
    cr_assert_eq(ag_optim_step_count(opt), 0);
    cr_assert_str_eq(ag_optim_name(opt), "sgd");
    ag_optim_free(opt);
    ag_free(a), ag_free(b);
}

/* --- steps: all or nothing ------------------------------------------------------------- */

/* Copies of every parameter and state buffer, to compare after a refused step. */
typedef struct snapshot {
    ag_real data[16][16];
    int64_t count;
} snapshot;

static void snap(ag_optimizer *opt, ag_tensor *const *p, int n, snapshot *s)
{
    memset(s, 0, sizeof *s);
    int k = 0;
    for (int i = 0; i < n; i++) {
        memcpy(s->data[k++], ag_cdata(p[i]), ag_numel(p[i]) * sizeof(ag_real));
        for (int j = 0;; j++) {
            ag_tensor *st = ag_optim_state(opt, i, j, NULL);
            if (!st)
                break;
            memcpy(s->data[k++], ag_cdata(st), ag_numel(st) * sizeof(ag_real));
        }
    }
    s->count = ag_optim_step_count(opt);
}

Test(hostile_optim, refused_steps_change_nothing)
{
    /* a quarantine keeps freed blocks readable, so that the freed parameter is detectable */
    quarantine_start();
    ag_tensor *p[3] = { param(2, 1), param(3, 2), param(1, 3) };
    ag_optimizer *opt = ag_adam_new(&(ag_params){ 3, p, (const char *[]){ "w", "b", "c" } },
                                    (ag_adam_opts){ .lr = 0.1, .amsgrad = true });
    set_grads(p, 3, 0.5);
    cr_assert_eq(ag_optim_step(opt), AG_OK);
    set_grads(p, 3, -0.25);
    snapshot before, after;
    snap(opt, p, 3, &before);

    ag_fail(AG_ERR_SHAPE, "an earlier failure");
    cr_assert_eq(ag_optim_step(opt), AG_ERR_SHAPE, "refuses while an error is pending");
    EXPECT_ERR(AG_ERR_SHAPE, "an earlier failure");
    snap(opt, p, 3, &after);
    cr_assert_arr_eq(&before, &after, sizeof before, "nothing changed");

    ag_free(p[2]);
    cr_assert_eq(ag_optim_step(opt), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "adam: parameter 'c' was freed");
    snap(opt, p, 2, &after);
    snapshot before2;
    memcpy(&before2, &before, sizeof before);
    memset(before2.data[2 * 4], 0, sizeof before2.data[0] * 4); /* p[2]'s slots: not compared */
    memset(after.data[2 * 4], 0, sizeof after.data[0] * 4);
    cr_assert_arr_eq(&before2, &after, sizeof before, "neither w nor b was updated");

    /* unnamed lists name the parameter by index */
    ag_tensor *q[2] = { param(2, 1), param(2, 1) };
    ag_optimizer *o2 = ag_sgd_new(&(ag_params){ 2, q, NULL }, (ag_sgd_opts){ .lr = 0.1 });
    ag_free(q[1]);
    cr_assert_eq(ag_optim_step(o2), AG_ERR_STATE);
    EXPECT_ERR(AG_ERR_STATE, "sgd: parameter 1 was freed");

    ag_optim_free(opt), ag_optim_free(o2);
    ag_free(p[0]), ag_free(p[1]), ag_free(q[0]);
    quarantine_drain();
}

Test(hostile_optim, parameters_without_gradients_are_skipped_and_nan_propagates)
{
    ag_tensor *p[2] = { param(2, 1), param(2, 1) };
    ag_optimizer *opt = ag_sgd_new(&(ag_params){ 2, p, NULL }, (ag_sgd_opts){ .lr = 0.5 });
    cr_assert_eq(ag_optim_step(opt), AG_OK, "no gradient anywhere: nothing to do");
    cr_assert_eq(ag_cdata(p[0])[0], 1);
    set_grads(p, 1, 1.0);
    cr_assert_eq(ag_optim_step(opt), AG_OK);
    cr_assert_eq(ag_cdata(p[0])[0], 0.5);
    cr_assert_eq(ag_cdata(p[1])[0], 1, "no gradient: skipped");
    ag_data(ag_grad(p[0]))[1] = NAN;
    cr_assert_eq(ag_optim_step(opt), AG_OK, "NaN is a value: applied, as PyTorch does");
    cr_assert(isnan(ag_cdata(p[0])[1]));
    ag_optim_free(opt);
    ag_free(p[0]), ag_free(p[1]);
}

/* --- schedulers ------------------------------------------------------------------------ */

Test(hostile_optim, schedulers_check_their_arguments)
{
    ag_tensor *a = param(1, 1);
    ag_optimizer *opt = ag_sgd_new(&(ag_params){ 1, &a, NULL }, (ag_sgd_opts){ .lr = 0.1 });
    FAILS(ag_step_lr_new(NULL, 1, 0.1), AG_ERR_ARG, "StepLR: optimizer is NULL");
    FAILS(ag_step_lr_new(opt, 0, 0.1), AG_ERR_ARG, "StepLR: step_size must be at least 1 (got 0)");
    FAILS(ag_step_lr_new(opt, 2, -1), AG_ERR_ARG, "StepLR: gamma must be >= 0 (got -1)");
    FAILS(ag_exponential_lr_new(opt, NAN), AG_ERR_ARG, "ExponentialLR: gamma must be >= 0 (got nan)");
    FAILS(ag_exponential_lr_new(NULL, 0.5), AG_ERR_ARG, "ExponentialLR: optimizer is NULL");
    FAILS(ag_cosine_annealing_lr_new(opt, 0, 0), AG_ERR_ARG,
          "CosineAnnealingLR: T_max must be at least 1 (got 0)");
    FAILS(ag_cosine_annealing_lr_new(opt, 10, -1), AG_ERR_ARG,
          "CosineAnnealingLR: eta_min must be >= 0 (got -1)");
    ag_plateau_opts po = AG_PLATEAU_DEFAULTS;
    FAILS(ag_reduce_lr_on_plateau_new(NULL, po), AG_ERR_ARG, "ReduceLROnPlateau: optimizer is NULL");
    po.mode = (ag_plateau_mode)5;
    FAILS(ag_reduce_lr_on_plateau_new(opt, po), AG_ERR_ARG,
          "ReduceLROnPlateau: unknown mode 5 or threshold_mode 0");
    po = AG_PLATEAU_DEFAULTS;
    po.patience = -1;
    FAILS(ag_reduce_lr_on_plateau_new(opt, po), AG_ERR_ARG,
          "ReduceLROnPlateau: patience (-1) and cooldown (0) must be >= 0");
    po = AG_PLATEAU_DEFAULTS;
    po.factor = 1;
    FAILS(ag_reduce_lr_on_plateau_new(opt, po), AG_ERR_ARG,
          "ReduceLROnPlateau: factor must be in [0, 1) (got 1)");

    cr_assert_eq(ag_scheduler_step(NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "scheduler_step: scheduler is NULL");
    cr_assert_eq(ag_scheduler_step_metric(NULL, 1), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "scheduler_step_metric: scheduler is NULL");
    cr_assert(isnan(ag_scheduler_get_lr(NULL)));
    EXPECT_ERR(AG_ERR_ARG, "scheduler_get_lr: scheduler is NULL");
    cr_assert_eq(ag_scheduler_epoch(NULL), -1);
    EXPECT_ERR(AG_ERR_ARG, "scheduler_epoch: scheduler is NULL");
    FAILS(ag_scheduler_name(NULL), AG_ERR_ARG, "scheduler_name: scheduler is NULL");
    ag_scheduler_free(NULL);

    ag_scheduler *step = ag_step_lr_new(opt, 1, 0.5);
    ag_scheduler *plat = ag_reduce_lr_on_plateau_new(opt, AG_PLATEAU_DEFAULTS);
    cr_assert_eq(ag_scheduler_step(plat), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "scheduler_step: a ReduceLROnPlateau steps on a metric "
                           "(ag_scheduler_step_metric)");
    cr_assert_eq(ag_scheduler_step_metric(step, 1), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "scheduler_step_metric: a StepLR steps without a metric "
                           "(ag_scheduler_step)");
    ag_fail(AG_ERR_NUMERIC, "pending");
    cr_assert_eq(ag_scheduler_step(step), AG_ERR_NUMERIC, "refuses while an error is pending");
    cr_assert_eq(ag_scheduler_step_metric(plat, 1), AG_ERR_NUMERIC);
    EXPECT_ERR(AG_ERR_NUMERIC, "pending");
    cr_assert_eq(ag_scheduler_epoch(step), 0, "nothing moved");
    cr_assert_eq(ag_scheduler_epoch(plat), 0);
    cr_assert_eq(ag_optim_get_lr(opt), 0.1);
    ag_scheduler_free(step), ag_scheduler_free(plat);

    /* an lr that overflows is refused by the optimizer, and the epoch stays */
    ag_scheduler *exp = ag_exponential_lr_new(opt, 1e300);
    cr_assert_eq(ag_scheduler_step(exp), AG_OK);
    cr_assert_eq(ag_scheduler_step(exp), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "sgd: lr must be >= 0 (got inf)");
    cr_assert_eq(ag_scheduler_epoch(exp), 1);
    cr_assert_eq(ag_optim_get_lr(opt), 0.1 * 1e300);
    ag_scheduler_free(exp);
    ag_optim_free(opt), ag_free(a);
}

/* --- gradient clipping ----------------------------------------------------------------- */

Test(hostile_optim, clipping_checks_its_list)
{
    ag_tensor *p[2] = { param(2, 1), param(2, 1) };
    ag_params ps = { 2, p, NULL };
    cr_assert(isnan(ag_clip_grad_norm(NULL, 1, 2)));
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_norm: the parameter list is NULL or malformed");
    cr_assert(isnan(ag_clip_grad_norm(&(ag_params){ -1, p, NULL }, 1, 2)));
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_norm: the parameter list is NULL or malformed");
    cr_assert(isnan(ag_clip_grad_norm(&(ag_params){ 1, NULL, NULL }, 1, 2)));
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_norm: the parameter list is NULL or malformed");
    cr_assert(isnan(ag_clip_grad_norm(&(ag_params){ 2, (ag_tensor *[]){ p[0], NULL }, NULL }, 1, 2)));
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_norm: argument 1 is NULL");
    cr_assert(isnan(ag_clip_grad_norm(&ps, -1, 2)));
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_norm: max_norm must be >= 0 (got -1)");
    cr_assert(isnan(ag_clip_grad_norm(&ps, 1, 0)));
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_norm: norm_type must be > 0 or INFINITY (got 0)");
    cr_assert(isnan(ag_clip_grad_norm(&ps, 1, NAN)));
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_norm: norm_type must be > 0 or INFINITY (got nan)");
    cr_assert_eq(ag_clip_grad_value(NULL, 1), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_value: the parameter list is NULL or malformed");
    cr_assert_eq(ag_clip_grad_value(&ps, -1), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "clip_grad_value: clip_value must be >= 0 (got -1)");
    cr_assert_eq(ag_clip_grad_norm(&ps, 1, 2), 0, "no gradients: total 0");
    cr_assert_eq(ag_clip_grad_norm(&(ag_params){ 0, NULL, NULL }, 1, 2), 0, "an empty list");
    EXPECT_NO_ERR();
    /* a non-finite total is applied as PyTorch does (error_if_nonfinite=False) */
    set_grads(p, 2, 1.0);
    ag_data(ag_grad(p[0]))[0] = INFINITY;
    cr_assert(isinf(ag_clip_grad_norm(&ps, 1, 2)));
    cr_assert(isnan(ag_cdata(ag_grad(p[0]))[0]), "inf * 0");
    cr_assert_eq(ag_cdata(ag_grad(p[1]))[0], 0);
    ag_free(p[0]), ag_free(p[1]);
}

/* --- two threads, two models ----------------------------------------------------------- */

/* A small regression model (kind 0: Linear-Tanh-Linear, MSE), a small classifier (kind 1:
 * Linear-ReLU-Linear, cross-entropy), or a wide regression model (kind 2: 128 wide, batch
 * 256, so that its products are large enough for the GEMM's thread pool), trained with SGD
 * with momentum for `steps` steps on data drawn from the thread's own generator. The final
 * parameters are copied out. */
typedef struct job {
    int kind, steps;
    ag_real *out;
    size_t n_out;
    ag_status st;
} job;

static void *train(void *arg)
{
    job *j = arg;
    ag_manual_seed(1000 + (uint64_t)j->kind);
    bool cls = j->kind == 1, wide = j->kind == 2;
    int in = cls ? 2 : wide ? 128 : 3, hidden = cls ? 5 : wide ? 128 : 4;
    int out = cls ? 3 : wide ? 4 : 1, n = wide ? 256 : 16;
    ag_module *m = ag_sequential_new(3, (ag_module *[]){
        ag_linear_new(in, hidden, true), cls ? ag_relu_new() : ag_tanh_new(),
        ag_linear_new(hidden, out, true) });
    ag_tensor *x = ag_randn(AG_SHAPE(n, in));
    ag_tensor *y = cls ? ag_zeros(AG_SHAPE(n)) : ag_randn(AG_SHAPE(n, out));
    for (int i = 0; cls && i < n; i++)
        ag_data(y)[i] = (ag_real)(i % 3);
    ag_loss *lf = cls ? ag_cross_entropy_loss_new(AG_MEAN, 0) : ag_mse_loss_new(AG_MEAN);
    const ag_params *ps = ag_parameters(m);
    ag_optimizer *opt = ag_sgd_new(ps, (ag_sgd_opts){ .lr = 0.05, .momentum = 0.9 });
    j->st = AG_OK;
    for (int s = 0; s < j->steps && j->st == AG_OK; s++) {
        ag_tensor *loss = ag_loss_forward(lf, ag_forward(m, x), y);
        ag_optim_zero_grad(opt);
        ag_backward(loss);
        j->st = ag_optim_step(opt);
        ag_step_end();
    }
    j->n_out = 0;
    for (int i = 0; i < ps->n; i++)
        j->n_out += ag_numel(ps->tensors[i]);
    j->out = malloc(j->n_out * sizeof(ag_real));
    for (int i = 0, at = 0; i < ps->n; i++) {
        size_t k = ag_numel(ps->tensors[i]);
        memcpy(j->out + at, ag_cdata(ps->tensors[i]), k * sizeof(ag_real));
        at += (int)k;
    }
    ag_optim_free(opt), ag_loss_free(lf), ag_module_free(m), ag_free(x), ag_free(y);
    return NULL;
}

/* Runs the jobs on threads of their own, all at once. */
static void run_together(job *jobs, int n)
{
    pthread_t t[4];
    for (int k = 0; k < n; k++)
        cr_assert_eq(pthread_create(&t[k], NULL, train, &jobs[k]), 0);
    for (int k = 0; k < n; k++)
        pthread_join(t[k], NULL);
}

static void same_as_alone(job *both, job *alone, int n)
{
    for (int k = 0; k < n; k++) {
        cr_assert_eq(both[k].st, AG_OK);
        cr_assert_eq(both[k].n_out, alone[k].n_out);
        cr_assert_arr_eq(both[k].out, alone[k].out, alone[k].n_out * sizeof(ag_real),
                         "model %d differs when trained beside another", both[k].kind);
        free(both[k].out);
    }
}

Test(hostile_optim, two_threads_train_two_models_bitwise_as_alone, .timeout = 300)
{
    job alone[3] = { { .kind = 0, .steps = 300 }, { .kind = 1, .steps = 300 },
                     { .kind = 2, .steps = 10 } };
    for (int k = 0; k < 2; k++) { /* alone: one thread at a time */
        run_together(&alone[k], 1);
        cr_assert_eq(alone[k].st, AG_OK);
    }
    cr_assert_eq(alone[0].n_out, 4 * 3 + 4 + 1 * 4 + 1);
    cr_assert_eq(alone[1].n_out, 5 * 2 + 5 + 3 * 5 + 3);
    for (int round = 0; round < 3; round++) {
        job both[2] = { { .kind = 0, .steps = 300 }, { .kind = 1, .steps = 300 } };
        run_together(both, 2);
        same_as_alone(both, alone, 2);
    }
    /* with the kernels allowed 4 threads, the wide model's products run on the shared pool
     * while the small model trains beside it; results are bitwise those of the same thread
     * count alone */
    ag_set_num_threads(4);
    run_together(&alone[2], 1);
    job both[2] = { { .kind = 2, .steps = 10 }, { .kind = 0, .steps = 300 } };
    run_together(both, 2);
    job ref[2] = { alone[2], alone[0] };
    same_as_alone(both, ref, 2);
    ag_set_num_threads(1);
    for (int k = 0; k < 3; k++)
        free(alone[k].out);
}

/* --- one optimizer on several threads --------------------------------------------------- */

/* Adam's update of a parameter large enough for many tasks (each thread claims its own share
 * first, then helps with the others'), a matrix product and a long sum on the pool give
 * bitwise the same parameters on 1, 2 and 3 threads: every task runs exactly once, whichever
 * thread takes it. Under ThreadSanitizer this also checks the claiming for races. */
static void adam_steps(int threads, ag_real *out, size_t n)
{
    ag_set_num_threads(threads);
    ag_manual_seed(7);
    ag_tensor *p = ag_randn(AG_SHAPE((int64_t)n));
    ag_tensor *w = ag_randn(AG_SHAPE(300, 200)), *x = ag_randn(AG_SHAPE(200, 300));
    ag_set_requires_grad(p, true);
    ag_set_requires_grad(w, true);
    ag_optimizer *opt = ag_adam_new(&(ag_params){ 2, (ag_tensor *[]){ p, w }, NULL },
                                    (ag_adam_opts){ .lr = 0.01 });
    for (int s = 0; s < 3; s++) {
        ag_optim_zero_grad(opt);
        ag_tensor *loss = ag_add(ag_sum(ag_mul(ag_mul(p, p), p)), ag_sum(ag_matmul(w, x)));
        cr_assert_eq(ag_backward(loss), AG_OK);
        cr_assert_eq(ag_optim_step(opt), AG_OK);
        ag_step_end();
    }
    memcpy(out, ag_cdata(p), n * sizeof(ag_real));
    memcpy(out + n, ag_cdata(w), 300 * 200 * sizeof(ag_real));
    ag_optim_free(opt), ag_free(p), ag_free(w), ag_free(x);
    ag_set_num_threads(1);
}

Test(hostile_optim, one_optimizer_bitwise_on_any_thread_count, .timeout = 300)
{
    size_t n = ((size_t)1 << 18) + 12345, total = n + 300 * 200;
    ag_real *one = malloc(total * sizeof(ag_real)), *more = malloc(total * sizeof(ag_real));
    adam_steps(1, one, n);
    for (int t = 2; t <= 3; t++) {
        adam_steps(t, more, n);
        cr_assert_arr_eq(more, one, total * sizeof(ag_real), "%d threads differ from one", t);
    }
    free(one), free(more);
}
