/* test_schedulers.c — learning-rate schedulers and gradient clipping.
 *
 * The lr sequences are PyTorch 1.13's, printed by /usr/bin/python3 with torch (an SGD with
 * lr 0.1, the scheduler stepped once per epoch, the lr read after each step; the script is
 * quoted above each case) and pasted as literals: schedulers compute in double, as Python
 * does, so they must agree to the last bit. They are also compared with the closed forms
 * (to rounding), and ReduceLROnPlateau's patience, cooldown, threshold and eps are traced by
 * hand. Clipping is compared with torch.nn.utils in float64 and with hand values. */
#include "test_util.h"

#define N_EPOCHS 35
#define PI 3.14159265358979323846

/* An SGD with lr 0.1 over one parameter, for a scheduler to drive. */
typedef struct rig {
    ag_tensor *p;
    ag_optimizer *opt;
} rig;

static rig rig_new(void)
{
    rig r = { track(ag_zeros(AG_SHAPE(1))), NULL };
    ag_tensor *ts[1] = { r.p };
    ag_params ps = { 1, ts, NULL };
    r.opt = ag_sgd_new(&ps, (ag_sgd_opts){ .lr = 0.1 });
    cr_assert_not_null(r.opt, "%s", ag_error_message());
    return r;
}

/* Steps s n times (with metrics[e] for a plateau scheduler when metrics is not NULL) and
 * checks the lr before the first step and after each one against want[0..n], exactly, and
 * that ag_scheduler_get_lr agrees with the optimizer. */
static void expect_sequence(ag_scheduler *s, ag_optimizer *opt, const double *want, int n,
                            const double *metrics)
{
    cr_assert_not_null(s, "%s", ag_error_message());
    cr_expect(ag_optim_get_lr(opt) == want[0], "epoch 0: lr %.17g, torch %.17g",
              ag_optim_get_lr(opt), want[0]);
    for (int e = 1; e <= n; e++) {
        ag_status st = metrics ? ag_scheduler_step_metric(s, metrics[e - 1]) : ag_scheduler_step(s);
        cr_assert_eq(st, AG_OK, "epoch %d: %s", e, ag_error_message());
        double lr = ag_optim_get_lr(opt);
        cr_expect(lr == want[e], "epoch %d: lr %.17g, torch %.17g", e, lr, want[e]);
        cr_expect(ag_scheduler_get_lr(s) == lr, "epoch %d: get_lr %.17g", e,
                  ag_scheduler_get_lr(s));
        cr_expect_eq(ag_scheduler_epoch(s), e);
    }
}

/* want[e] close to closed(e) for e = 0..n (the recursive forms round differently). */
static void expect_closed_form(const double *want, int n, double (*closed)(int e))
{
    for (int e = 0; e <= n; e++)
        cr_expect(fabs(want[e] - closed(e)) <= 1e-13 * fabs(closed(e)) + 1e-17,
                  "epoch %d: %.17g vs closed form %.17g", e, want[e], closed(e));
}

/* expect_sequence over n epochs, then the closed form if given; frees s and the rig. */
static void run_schedule(rig r, ag_scheduler *s, const double *want, int n,
                         const double *metrics, double (*closed)(int e))
{
    expect_sequence(s, r.opt, want, n, metrics);
    if (closed)
        expect_closed_form(want, n, closed);
    ag_scheduler_free(s);
    ag_optim_free(r.opt);
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * StepLR, ExponentialLR, CosineAnnealingLR
 * ------------------------------------------------------------------------------------- */

/* torch: StepLR(opt, 4, 0.1) */
static const double STEP_TORCH[N_EPOCHS + 1] = {
    0.1, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002,
    0.010000000000000002, 0.0010000000000000002, 0.0010000000000000002, 0.0010000000000000002,
    0.0010000000000000002, 0.00010000000000000003, 0.00010000000000000003,
    0.00010000000000000003, 0.00010000000000000003, 1.0000000000000004e-05,
    1.0000000000000004e-05, 1.0000000000000004e-05, 1.0000000000000004e-05,
    1.0000000000000004e-06, 1.0000000000000004e-06, 1.0000000000000004e-06,
    1.0000000000000004e-06, 1.0000000000000005e-07, 1.0000000000000005e-07,
    1.0000000000000005e-07, 1.0000000000000005e-07, 1.0000000000000005e-08,
    1.0000000000000005e-08, 1.0000000000000005e-08, 1.0000000000000005e-08,
    1.0000000000000005e-09, 1.0000000000000005e-09, 1.0000000000000005e-09,
    1.0000000000000005e-09
};
static double step_closed(int e) { return 0.1 * pow(0.1, e / 4); }

Test(step_lr, matches_torch_and_closed_form)
{
    rig r = rig_new();
    ag_scheduler *s = ag_step_lr_new(r.opt, 4, 0.1);
    cr_expect_str_eq(ag_scheduler_name(s), "StepLR");
    run_schedule(r, s, STEP_TORCH, N_EPOCHS, NULL, step_closed);
}

/* torch: ExponentialLR(opt, 0.9) */
static const double EXP_TORCH[N_EPOCHS + 1] = {
    0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002,
    0.05904900000000002, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024,
    0.03874204890000002, 0.03486784401000002, 0.03138105960900001, 0.028242953648100012,
    0.025418658283290013, 0.022876792454961013, 0.020589113209464913, 0.01853020188851842,
    0.01667718169966658, 0.015009463529699923, 0.013508517176729932, 0.01215766545905694,
    0.010941898913151246, 0.009847709021836121, 0.00886293811965251, 0.007976644307687259,
    0.007178979876918534, 0.006461081889226681, 0.005814973700304013, 0.005233476330273611,
    0.00471012869724625, 0.004239115827521626, 0.0038152042447694634, 0.003433683820292517,
    0.0030903154382632653, 0.002781283894436939, 0.002503155504993245
};
static double exp_closed(int e) { return 0.1 * pow(0.9, e); }

Test(exponential_lr, matches_torch_and_closed_form)
{
    rig r = rig_new();
    run_schedule(r, ag_exponential_lr_new(r.opt, 0.9), EXP_TORCH, N_EPOCHS, NULL, exp_closed);
}

/* torch: CosineAnnealingLR(opt, T_max=10, eta_min=0.001): down to eta_min at 10, back up to
 * the base at 20, down again at 30. */
static const double COS_TORCH[N_EPOCHS + 1] = {
    0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599,
    0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109,
    0.0034227024433899004, 0.001, 0.0034227024433899004, 0.01045365877844014,
    0.02140463001152267, 0.035203658778440255, 0.05050000000000022, 0.06579634122156018,
    0.07959536998847777, 0.09054634122156031, 0.09757729755661054, 0.10000000000000045,
    0.09757729755661054, 0.09054634122156033, 0.07959536998847778, 0.0657963412215602,
    0.050500000000000225, 0.03520365877844027, 0.021404630011522683, 0.010453658778440154,
    0.003422702443389916, 0.001, 0.0034227024433899004, 0.010453658778440112,
    0.021404630011522607, 0.03520365877844015, 0.050500000000000086
};
static double cos_closed(int e) { return 0.001 + (0.1 - 0.001) * (1 + cos(PI * e / 10)) / 2; }

Test(cosine_annealing_lr, matches_torch_and_closed_form)
{
    rig r = rig_new();
    run_schedule(r, ag_cosine_annealing_lr_new(r.opt, 10, 0.001), COS_TORCH, N_EPOCHS, NULL,
                 cos_closed);
}

/* The formulas chain on the optimizer's current lr, as torch's do: an lr set from outside
 * is where the next step starts. */
Test(exponential_lr, chains_on_an_lr_set_from_outside)
{
    rig r = rig_new();
    ag_scheduler *s = ag_exponential_lr_new(r.opt, 0.5);
    cr_assert_eq(ag_scheduler_step(s), AG_OK);
    ag_optim_set_lr(r.opt, 1.0);
    cr_assert_eq(ag_scheduler_step(s), AG_OK);
    cr_expect(ag_optim_get_lr(r.opt) == 0.5);
    ag_scheduler_free(s);
    ag_optim_free(r.opt);
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * ReduceLROnPlateau
 * ------------------------------------------------------------------------------------- */

#define N_METRICS 32
static const double METRICS[N_METRICS] = { 1.0, 0.9, 0.95, 0.91, 0.9, 0.92, 0.89, 0.95,
                                           0.96, 0.97, 0.98, 0.5, 0.6, 0.6, 0.6, 0.6,
                                           0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6,
                                           0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6 };

/* torch: ReduceLROnPlateau(opt, patience=2, cooldown=1, factor=0.5, min_lr=0.01) stepped
 * with METRICS: reductions at epochs 5, 10, 15, 19 (the last one stopped by min_lr). */
static const double PLATEAU_TORCH[N_METRICS + 1] = {
    0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025,
    0.025, 0.0125, 0.0125, 0.0125, 0.0125, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01,
    0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01
};

Test(plateau, min_rel_matches_torch)
{
    rig r = rig_new();
    ag_plateau_opts o = AG_PLATEAU_DEFAULTS;
    o.patience = 2, o.cooldown = 1, o.factor = 0.5, o.min_lr = 0.01;
    run_schedule(r, ag_reduce_lr_on_plateau_new(r.opt, o), PLATEAU_TORCH, N_METRICS, METRICS,
                 NULL);
}

/* torch: ReduceLROnPlateau(opt, mode='max', patience=1, threshold=0.05, threshold_mode='abs',
 * factor=0.3) stepped with -METRICS. */
static const double PLATEAU_MAX_TORCH[N_METRICS + 1] = {
    0.1, 0.1, 0.1, 0.1, 0.03, 0.03, 0.009, 0.009, 0.0026999999999999997,
    0.0026999999999999997, 0.0008099999999999998, 0.0008099999999999998,
    0.0008099999999999998, 0.0008099999999999998, 0.00024299999999999994,
    0.00024299999999999994, 7.289999999999998e-05, 7.289999999999998e-05,
    2.1869999999999996e-05, 2.1869999999999996e-05, 6.560999999999999e-06,
    6.560999999999999e-06, 1.9682999999999994e-06, 1.9682999999999994e-06,
    5.904899999999998e-07, 5.904899999999998e-07, 1.7714699999999994e-07,
    1.7714699999999994e-07, 5.314409999999998e-08, 5.314409999999998e-08,
    1.5943229999999993e-08, 1.5943229999999993e-08, 4.782968999999998e-09
};

Test(plateau, max_abs_matches_torch)
{
    rig r = rig_new();
    ag_plateau_opts o = AG_PLATEAU_DEFAULTS;
    o.mode = AG_PLATEAU_MAX, o.patience = 1, o.threshold = 0.05;
    o.threshold_mode = AG_THRESHOLD_ABS, o.factor = 0.3;
    double neg[N_METRICS];
    for (int i = 0; i < N_METRICS; i++)
        neg[i] = -METRICS[i];
    run_schedule(r, ag_reduce_lr_on_plateau_new(r.opt, o), PLATEAU_MAX_TORCH, N_METRICS, neg,
                 NULL);
}

/* By hand, patience 0, default rel threshold 1e-4: 1.0 sets the best; 0.99995 improves by
 * less than 1e-4 relative, so it is a bad epoch and (patience 0) the lr drops at once; 0.5 is
 * better; 0.5 again is bad: a second drop. The default factor is 0.1. */
Test(plateau, threshold_and_patience_by_hand)
{
    rig r = rig_new();
    ag_plateau_opts o = AG_PLATEAU_DEFAULTS;
    o.patience = 0;
    const double want[] = { 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1 };
    run_schedule(r, ag_reduce_lr_on_plateau_new(r.opt, o), want, 4,
                 (const double[]){ 1.0, 0.99995, 0.5, 0.5 }, NULL);
}

/* A reduction smaller than eps is skipped (torch's rule), and a NaN metric is a bad epoch. */
Test(plateau, eps_and_nan)
{
    rig r = rig_new();
    ag_plateau_opts o = AG_PLATEAU_DEFAULTS;
    o.patience = 0, o.factor = 0.5, o.eps = 0.06;
    const double want[] = { 0.1, 0.1, 0.1, 0.1 };
    run_schedule(r, ag_reduce_lr_on_plateau_new(r.opt, o), want, 3,
                 (const double[]){ 1, NAN, 2 }, NULL);
}

/* ---------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------- */

/* `made` is NULL and the pending error is exactly (code, msg); clears it. */
static void expect_refused(const void *made, ag_status code, const char *msg)
{
    cr_expect_null(made);
    cr_expect_eq(ag_error(), code, "status %d (%s)", (int)ag_error(), ag_error_message());
    cr_expect_str_eq(ag_error_message(), msg);
    ag_clear_error();
}

Test(schedulers, errors)
{
    rig r = rig_new();
    ag_plateau_opts o = AG_PLATEAU_DEFAULTS;
    expect_refused(ag_step_lr_new(NULL, 1, 0.1), AG_ERR_ARG, "StepLR: optimizer is NULL");
    expect_refused(ag_step_lr_new(r.opt, 0, 0.1), AG_ERR_ARG,
                   "StepLR: step_size must be at least 1 (got 0)");
    expect_refused(ag_exponential_lr_new(r.opt, -1), AG_ERR_ARG,
                   "ExponentialLR: gamma must be >= 0 (got -1)");
    expect_refused(ag_cosine_annealing_lr_new(r.opt, 0, 0), AG_ERR_ARG,
                   "CosineAnnealingLR: T_max must be at least 1 (got 0)");
    o.factor = 1;
    expect_refused(ag_reduce_lr_on_plateau_new(r.opt, o), AG_ERR_ARG,
                   "ReduceLROnPlateau: factor must be in [0, 1) (got 1)");
    o = AG_PLATEAU_DEFAULTS;
    o.patience = -1;
    expect_refused(ag_reduce_lr_on_plateau_new(r.opt, o), AG_ERR_ARG,
                   "ReduceLROnPlateau: patience (-1) and cooldown (0) must be >= 0");

    ag_scheduler *s = ag_step_lr_new(r.opt, 1, 0.5);
    cr_assert_eq(ag_scheduler_step_metric(s, 1), AG_ERR_ARG);
    cr_expect_str_eq(ag_error_message(), "scheduler_step_metric: a StepLR steps without a "
                                         "metric (ag_scheduler_step)");
    ag_clear_error();
    /* a pending error: the step is refused and nothing moves */
    ag_fail(AG_ERR_SHAPE, "earlier failure");
    cr_assert_eq(ag_scheduler_step(s), AG_ERR_SHAPE);
    ag_clear_error();
    cr_expect(ag_optim_get_lr(r.opt) == 0.1);
    cr_expect_eq(ag_scheduler_epoch(s), 0);
    cr_assert_eq(ag_scheduler_step(NULL), AG_ERR_ARG);
    ag_clear_error();
    cr_expect(isnan(ag_scheduler_get_lr(NULL)));
    ag_clear_error();
    ag_scheduler_free(s);
    ag_scheduler_free(NULL);

    /* an lr that overflows is refused by the optimizer; the epoch stays */
    ag_scheduler *big = ag_exponential_lr_new(r.opt, 1e300);
    cr_assert_eq(ag_scheduler_step(big), AG_OK); /* 0.1 * 1e300 */
    cr_assert_eq(ag_scheduler_step(big), AG_ERR_ARG);
    ag_clear_error();
    cr_expect_eq(ag_scheduler_epoch(big), 1);
    cr_expect(ag_optim_get_lr(r.opt) == 0.1 * 1e300);
    ag_scheduler_free(big);
    ag_optim_free(r.opt);
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * Gradient clipping
 * ------------------------------------------------------------------------------------- */

/* Two parameters with gradients (3, -4) and [[1, 2], [-2, 0]], and a third without one. */
typedef struct clip_rig {
    ag_tensor *t[3];
    ag_params ps;
} clip_rig;

static void clip_rig_init(clip_rig *c)
{
    c->t[0] = ag_set_requires_grad(track(ag_zeros(AG_SHAPE(2))), true);
    c->t[1] = ag_set_requires_grad(track(ag_zeros(AG_SHAPE(2, 2))), true);
    c->t[2] = ag_set_requires_grad(track(ag_zeros(AG_SHAPE(3))), true);
    ag_tensor *g0 = track(ag_from((ag_real[]){ 3, -4 }, 2, AG_SHAPE(2)));
    ag_tensor *g1 = track(ag_from((ag_real[]){ 1, 2, -2, 0 }, 4, AG_SHAPE(2, 2)));
    /* .grad of t0, t1 := g0, g1, by one backward of sum(t0 * g0) + sum(t1 * g1) */
    ag_tensor *loss = ag_add(ag_sum(ag_mul(c->t[0], g0)), ag_sum(ag_mul(c->t[1], g1)));
    cr_assert_eq(ag_backward(loss), AG_OK, "%s", ag_error_message());
    c->ps = (ag_params){ 3, c->t, NULL };
}

/* torch: clip_grad_norm_([a, b], 1.5, norm_type) with a.grad, b.grad as above. */
static void expect_clip_norm(double norm_type, double total, const double *g)
{
    clip_rig c;
    clip_rig_init(&c);
    double got = ag_clip_grad_norm(&c.ps, 1.5, norm_type);
    cr_expect(fabs(got - total) <= 1e-15 * total, "norm %g: total %.17g, torch %.17g",
              norm_type, got, total);
    expect_tensor(ag_grad(c.t[0]), ((const ag_real[]){ g[0], g[1] }), 2, 1e-14, 1e-15);
    expect_tensor(ag_grad(c.t[1]), ((const ag_real[]){ g[2], g[3], g[4], g[5] }), 4, 1e-14,
                  1e-15);
    cr_expect_null(ag_grad(c.t[2]));
    test_done();
}

Test(clip_grad_norm, matches_torch)
{
    expect_clip_norm(2, 5.830951894845301,
                     (const double[]){ 0.7717435007883713, -1.028991334384495,
                                       0.25724783359612374, 0.5144956671922475,
                                       -0.5144956671922475, 0 });
    expect_clip_norm(3, 4.762203155904598,
                     (const double[]){ 0.944940588996065, -1.2599207853280867,
                                       0.3149801963320217, 0.6299603926640434,
                                       -0.6299603926640434, 0 });
    expect_clip_norm(INFINITY, 4.0,
                     (const double[]){ 1.1249997187500704, -1.4999996250000938,
                                       0.37499990625002344, 0.7499998125000469,
                                       -0.7499998125000469, 0 });
}

/* By hand: the L1 norm is 12; max_norm 100 leaves the gradients alone (coefficient >= 1);
 * no gradients at all: total 0. */
Test(clip_grad_norm, below_the_limit_and_without_gradients)
{
    clip_rig c;
    clip_rig_init(&c);
    cr_expect(ag_clip_grad_norm(&c.ps, 100, 1) == 12);
    EXPECT_VALUES(ag_grad(c.t[0]), 0, 3, -4);
    ag_params none = { 1, &c.t[2], NULL };
    cr_expect(ag_clip_grad_norm(&none, 1, 2) == 0);
    ag_params empty = { 0, NULL, NULL };
    cr_expect(ag_clip_grad_norm(&empty, 1, 2) == 0);
    test_done();
}

/* torch: clip_grad_value_([a, b], 1.5) */
Test(clip_grad_value, matches_torch)
{
    clip_rig c;
    clip_rig_init(&c);
    cr_assert_eq(ag_clip_grad_value(&c.ps, 1.5), AG_OK);
    EXPECT_VALUES(ag_grad(c.t[0]), 0, 1.5, -1.5);
    EXPECT_VALUES(ag_grad(c.t[1]), 0, 1, 1.5, -1.5, 0);
    test_done();
}

Test(clipping, errors)
{
    clip_rig c;
    clip_rig_init(&c);
    cr_expect(isnan(ag_clip_grad_norm(NULL, 1, 2)));
    cr_expect_str_eq(ag_error_message(),
                     "clip_grad_norm: the parameter list is NULL or malformed");
    ag_clear_error();
    cr_expect(isnan(ag_clip_grad_norm(&c.ps, -1, 2)));
    cr_expect_str_eq(ag_error_message(), "clip_grad_norm: max_norm must be >= 0 (got -1)");
    ag_clear_error();
    cr_expect(isnan(ag_clip_grad_norm(&c.ps, 1, 0)));
    cr_expect_str_eq(ag_error_message(),
                     "clip_grad_norm: norm_type must be > 0 or INFINITY (got 0)");
    ag_clear_error();
    cr_expect_eq(ag_clip_grad_value(&c.ps, -1), AG_ERR_ARG);
    cr_expect_str_eq(ag_error_message(), "clip_grad_value: clip_value must be >= 0 (got -1)");
    ag_clear_error();
    ag_tensor *holes[2] = { c.t[0], NULL };
    ag_params bad = { 2, holes, NULL };
    cr_expect_eq(ag_clip_grad_value(&bad, 1), AG_ERR_ARG);
    cr_expect_str_eq(ag_error_message(), "clip_grad_value: argument 1 is NULL");
    ag_clear_error();
    EXPECT_VALUES(ag_grad(c.t[0]), 0, 3, -4); /* refused calls change nothing */
    test_done();
}
