/* test_layers.c — the training layers and the graph picture: layer_norm, batch_norm (train
 * and eval, running statistics), embedding, dropout, their modules, train/eval mode, buffers,
 * and ag_export_dot.
 *
 * Reference values are PyTorch 1.13's in float64 (printed by /usr/bin/python3 with torch and
 * pasted here; the script is quoted above each case) or derived by hand. Gradients are checked
 * against finite differences (gradcheck) and, where the backward is written with ops, second
 * derivatives too (gradgradcheck). Runs in the double build. */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>

#define TOL 1e-12

/* A tracked leaf from literal values: L(AG_SHAPE(2), true, 1, 2). */
#define L(shape, rg, ...) leaf((const ag_real[]){ __VA_ARGS__ }, (shape), (rg))

/* The gradient of leaf t, asserted present. */
static ag_tensor *grad_of(ag_tensor *t)
{
    ag_tensor *g = ag_grad(t);
    cr_assert_not_null(g, "no gradient: %s", ag_error_message());
    return g;
}

/* A constructor call that must fail with exactly (code, msg). */
static void expect_no_module(ag_module *m, ag_status code, const char *msg)
{
    cr_expect_null(m);
    cr_expect_eq(ag_error(), code, "status %d, expected %d", (int)ag_error(), (int)code);
    cr_expect_str_eq(ag_error_message(), msg);
    ag_clear_error();
}

/* The module's parameter or buffer list entry called `name`, asserted present. */
static ag_tensor *entry(const ag_params *p, const char *name)
{
    cr_assert_not_null(p, "%s", ag_error_message());
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return p->tensors[i];
    cr_assert_fail("no entry '%s'", name);
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * layer_norm
 * ------------------------------------------------------------------------------------- */

/* torch: x = [[1,2,4],[-3,.5,.25]], w = [.5,-1,2], b = [.1,.2,-.3],
 *        y = F.layer_norm(x, (3,), w, b, 1e-5); (y * go).sum().backward() */
Test(layer_norm, values_and_grads_match_torch)
{
    ag_tensor *x = L(AG_SHAPE(2, 3), true, 1, 2, 4, -3, 0.5, 0.25);
    ag_tensor *w = L(AG_SHAPE(3), true, 0.5, -1, 2);
    ag_tensor *b = L(AG_SHAPE(3), true, 0.1, 0.2, -0.3);
    ag_tensor *y = ag_layer_norm(x, AG_SHAPE(3), w, b, 1e-5);
    EXPECT_VALUES(y, TOL, -0.43452076572514897, 0.4672603828625746, 2.372603828625744,
                  -0.6056549160383377, -0.5840610178203751, 0.9544976285126001);
    BACKWARD_WITH(y, 1, -2, 0.5, 0.3, 0.7, -1.1);
    EXPECT_VALUES(grad_of(x), TOL, -0.4581611472191036, 0.6872408617829473,
                  -0.22907971456384335, 0.03744889650073213, 0.48680196829589545,
                  -0.5242508647966274);
    EXPECT_VALUES(grad_of(w), TOL, -1.4924344810733006, 1.0833634781994117,
                  -0.021822738525494233);
    EXPECT_VALUES(grad_of(b), TOL, 1.3, -1.3, -0.6000000000000001);
    test_done();
}

/* torch: F.layer_norm(x2, (2, 2)) for x2 = [[[1,2],[3,5]],[[-1,0],[2,2.5]]], no affine */
Test(layer_norm, over_two_dims_without_affine)
{
    ag_tensor *x = L(AG_SHAPE(2, 2, 2), false, 1, 2, 3, 5, -1, 0, 2, 2.5);
    ag_tensor *y = ag_layer_norm(x, AG_SHAPE(2, 2), NULL, NULL, 1e-5);
    expect_shape(y, AG_SHAPE(2, 2, 2));
    EXPECT_VALUES(y, TOL, -1.1832132521355803, -0.5070913937723915, 0.1690304645907973,
                  1.521274181317175, -1.3105528836449114, -0.6115913457009586,
                  0.7863317301869469, 1.1358124991589233);
    test_done();
}

/* Closed form: a row (a, a + d) normalises to (-1, 1) * d/2 / sqrt(d^2/4 + eps). */
Test(layer_norm, closed_form_pair)
{
    ag_tensor *x = L(AG_SHAPE(1, 2), false, 10, 13);
    double v = 1.5 / sqrt(2.25 + 0.01);
    EXPECT_VALUES(ag_layer_norm(x, AG_SHAPE(2), NULL, NULL, 0.01), TOL, -v, v);
    test_done();
}

static ag_tensor *f_layer_norm(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    return ag_layer_norm(in[0], AG_SHAPE(4), in[1], in[2], 1e-5);
}

/* The normalisation alone, so that the rstd term of the backward is exercised: the sum of
 * squares of the output depends on rstd through every element. */
static ag_tensor *f_layer_norm_sq(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    ag_tensor *y = ag_layer_norm(in[0], AG_SHAPE(2, 3), NULL, NULL, 0.1);
    return ag_sum(ag_mul(ag_mul(y, y), in[1]));
}

Test(layer_norm, gradcheck_and_gradgradcheck)
{
    ag_manual_seed(1);
    ag_tensor *in[3] = { randn_leaf(AG_SHAPE(3, 4), true), randn_leaf(AG_SHAPE(4), true),
                         randn_leaf(AG_SHAPE(4), true) };
    expect_gradchecks(f_layer_norm, in, 3, NULL);
    ag_tensor *in2[2] = { randn_leaf(AG_SHAPE(2, 2, 3), true),
                          randn_leaf(AG_SHAPE(2, 3), true) };
    expect_gradchecks(f_layer_norm_sq, in2, 2, NULL);
    test_done();
}

Test(layer_norm, errors)
{
    ag_tensor *x = L(AG_SHAPE(2, 3), false, 1, 2, 3, 4, 5, 6);
    ag_tensor *w = L(AG_SHAPE(2), false, 1, 1);
    expect_error(ag_layer_norm(x, AG_SHAPE(4), NULL, NULL, 1e-5), AG_ERR_SHAPE,
                 "layer_norm: normalized_shape [4] does not match the last dims of input of "
                 "shape [2,3]");
    expect_error(ag_layer_norm(x, AG_SHAPE(1, 2, 3), NULL, NULL, 1e-5), AG_ERR_SHAPE,
                 "layer_norm: normalized_shape [1,2,3] does not match the last dims of input "
                 "of shape [2,3]");
    expect_error(ag_layer_norm(x, AG_SHAPE(3), w, NULL, 1e-5), AG_ERR_SHAPE,
                 "layer_norm: weight of shape [2] does not match [3]");
    expect_error(ag_layer_norm(x, AG_SHAPE(3), NULL, NULL, -1), AG_ERR_ARG,
                 "layer_norm: eps must be finite and >= 0 (got -1)");
    expect_error(ag_layer_norm(NULL, AG_SHAPE(3), NULL, NULL, 1e-5), AG_ERR_ARG,
                 "layer_norm: argument 0 is NULL");
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * batch_norm
 * ------------------------------------------------------------------------------------- */

/* torch: xb (4, 3), rm = [.5,-.5,1], rv = [1,2,.5], w = [1.5,-.5,1], b = [0,.25,-1],
 *        yb = F.batch_norm(xb, rm, rv, w, b, True, 0.1, 1e-5); (yb * go).sum().backward()
 * then F.batch_norm(xe, rm, rv, w, b, False, 0.1, 1e-5) with the updated rm, rv. */
Test(batch_norm, training_and_eval_match_torch)
{
    ag_tensor *x = L(AG_SHAPE(4, 3), true, 1, 2, 3, 4, -1, 0.5, 0, 0, 2, 2, 5, -1);
    ag_tensor *w = L(AG_SHAPE(3), true, 1.5, -0.5, 1);
    ag_tensor *b = L(AG_SHAPE(3), true, 0, 0.25, -1);
    ag_tensor *rm = L(AG_SHAPE(3), false, 0.5, -0.5, 1);
    ag_tensor *rv = L(AG_SHAPE(3), false, 1, 2, 0.5);
    ag_tensor *y = ag_batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    EXPECT_VALUES(y, TOL, -0.7606370906585875, 0.14089115879513642, 0.23717645509317942,
                  2.2819112719757624, 0.7955442060243179, -1.4123921516977265,
                  -1.7748198782033708, 0.5773265236145907, -0.422650987623183,
                  0.25354569688619577, -0.513761888434045, -2.40213331577227);
    /* running_var takes the unbiased variance: channel 0 has biased var 2.1875, so
     * 0.9 * 1 + 0.1 * 2.1875 * 4/3 = 1.19166... */
    EXPECT_VALUES(rm, TOL, 0.625, -0.3, 1.0125);
    EXPECT_VALUES(rv, TOL, 1.1916666666666667, 2.5, 0.7562500000000001);
    BACKWARD_WITH(y, 1, 0, -1, 0.5, 2, 0, -1, 1, 1, 0.25, -0.5, 2);
    EXPECT_VALUES(grad_of(x), TOL, 1.0141819182492249, 0.09352194553579919,
                  -0.2827862676344528, -0.2535430889995208, -0.08572878346197349,
                  -0.5655653535048781, -0.7606391190148902, 0.04676068700719311,
                  0.6598260063635568, 2.897651861041669e-07, -0.05455384908101881,
                  0.18852561477577412);
    EXPECT_VALUES(grad_of(w), TOL, 1.4790165651694755, -3.6005917597604977,
                  -3.4640940742609025);
    EXPECT_VALUES(grad_of(b), TOL, 0.75, 2.5, 2.0);

    ag_tensor *xe = L(AG_SHAPE(2, 3), false, 1, 2, 3, -1, 0, 1);
    EXPECT_VALUES(ag_batch_norm(xe, rm, rv, w, b, false, 0.1, 1e-5), TOL, 0.5152800269565742,
                  -0.47732240719536745, 1.285449198581901, -2.2328801168118213,
                  0.15513185993103903, -1.0143738943307037);
    EXPECT_VALUES(rm, TOL, 0.625, -0.3, 1.0125); /* eval leaves them alone */
    test_done();
}

/* torch: F.batch_norm(x3, zeros(2), ones(2), None, None, True, 0.1, 1e-5), x3 (2, 2, 3):
 * each channel's statistics run over the batch and the length. */
Test(batch_norm, three_dims_match_torch)
{
    ag_tensor *x = L(AG_SHAPE(2, 2, 3), false, 1, 2, 3, 0, -1, 4, 2, 2, 0, 1, 1, -2);
    ag_tensor *rm = L(AG_SHAPE(2), false, 0, 0);
    ag_tensor *rv = L(AG_SHAPE(2), false, 1, 1);
    EXPECT_VALUES(ag_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5), TOL,
                  -0.7071028037444631, 0.35355140187223144, 1.414205607488926,
                  -0.264134903337614, -0.7924047100128421, 1.8489443233632983,
                  0.35355140187223144, 0.35355140187223144, -1.7677570093611576,
                  0.264134903337614, 0.264134903337614, -1.32067451668807);
    EXPECT_VALUES(rm, TOL, 0.16666666666666669, 0.05);
    EXPECT_VALUES(rv, TOL, 1.0066666666666666, 1.33);
    test_done();
}

/* Eval mode with the running statistics in `user`; without them (NULL) training mode, which
 * then changes nothing between the calls gradcheck makes. */
static ag_tensor *f_batch_norm(ag_tensor *const *in, int n, void *user)
{
    (void)n;
    ag_tensor **st = user;
    return ag_batch_norm(in[0], st ? st[0] : NULL, st ? st[1] : NULL, in[1], in[2], !st, 0.1,
                         1e-5);
}

Test(batch_norm, gradcheck_and_gradgradcheck)
{
    ag_manual_seed(2);
    ag_tensor *in[3] = { randn_leaf(AG_SHAPE(5, 3), true), randn_leaf(AG_SHAPE(3), true),
                         randn_leaf(AG_SHAPE(3), true) };
    expect_gradchecks(f_batch_norm, in, 3, NULL);
    ag_tensor *in3[3] = { randn_leaf(AG_SHAPE(3, 2, 4), true), randn_leaf(AG_SHAPE(2), true),
                          randn_leaf(AG_SHAPE(2), true) };
    expect_gradchecks(f_batch_norm, in3, 3, NULL);
    ag_tensor *stats[2] = { randn_leaf(AG_SHAPE(2), false),
                            uniform_leaf(AG_SHAPE(2), 0.5, 2, false) };
    expect_gradchecks(f_batch_norm, in3, 3, stats);
    test_done();
}

Test(batch_norm, errors)
{
    ag_tensor *x = L(AG_SHAPE(1, 3), false, 1, 2, 3);
    ag_tensor *x2 = L(AG_SHAPE(2, 3), false, 1, 2, 3, 4, 5, 6);
    ag_tensor *v3 = L(AG_SHAPE(3), false, 0, 0, 0);
    ag_tensor *v2 = L(AG_SHAPE(2), false, 0, 0);
    expect_error(ag_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), AG_ERR_ARG,
                 "batch_norm: expected more than 1 value per channel when training, got input "
                 "of shape [1,3]");
    expect_error(ag_batch_norm(x2, NULL, NULL, NULL, NULL, false, 0.1, 1e-5), AG_ERR_ARG,
                 "batch_norm: running_mean and running_var are needed when not training");
    expect_error(ag_batch_norm(x2, v2, v2, NULL, NULL, true, 0.1, 1e-5), AG_ERR_SHAPE,
                 "batch_norm: running_mean of shape [2] does not match [3]");
    expect_error(ag_batch_norm(x2, v3, NULL, NULL, NULL, true, 0.1, 1e-5), AG_ERR_ARG,
                 "batch_norm: running_mean and running_var must be given together (or both "
                 "NULL)");
    expect_error(ag_batch_norm(x2, v3, v3, NULL, NULL, true, 1.5, 1e-5), AG_ERR_ARG,
                 "batch_norm: momentum must be in [0, 1] (got 1.5)");
    expect_error(ag_batch_norm(v3, NULL, NULL, NULL, NULL, true, 0.1, 1e-5), AG_ERR_SHAPE,
                 "batch_norm: input must be (N, C) or (N, C, L), got shape [3]");
    EXPECT_VALUES(v3, 0, 0, 0, 0); /* a refused call changes no running statistic */
    test_done();
}

/* A failed batch_norm (the input is wrong for the weight) leaves the running stats alone. */
Test(batch_norm, failure_changes_nothing)
{
    ag_tensor *x = L(AG_SHAPE(2, 2), false, 1, 2, 3, 4);
    ag_tensor *rm = L(AG_SHAPE(2), false, 5, 6);
    ag_tensor *rv = L(AG_SHAPE(2), false, 7, 8);
    ag_tensor *w = L(AG_SHAPE(3), false, 1, 1, 1);
    expect_error(ag_batch_norm(x, rm, rv, w, NULL, true, 0.1, 1e-5), AG_ERR_SHAPE,
                 "batch_norm: weight of shape [3] does not match [2]");
    EXPECT_VALUES(rm, 0, 5, 6);
    EXPECT_VALUES(rv, 0, 7, 8);
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * BatchNorm1d and LayerNorm modules, train/eval, buffers
 * ------------------------------------------------------------------------------------- */

/* torch: m = nn.BatchNorm1d(2, momentum=None); m(a); m(c); then m.eval(); m(a):
 * the cumulative average of the batch means (2, 3) and (2, 1) is (2, 2.5)... */
Test(batch_norm1d, cumulative_average_matches_torch)
{
    ag_module *m = ag_batch_norm1d_new(2, 1e-5, NAN, true, true);
    cr_assert_not_null(m, "%s", ag_error_message());
    ag_tensor *a = L(AG_SHAPE(2, 2), false, 1, 2, 3, 6);
    ag_tensor *c = L(AG_SHAPE(3, 2), false, 0, 1, 4, 2, 2, 0);
    cr_assert_not_null(ag_forward(m, a));
    cr_assert_not_null(ag_forward(m, c));
    const ag_params *bufs = ag_module_buffers(m);
    EXPECT_VALUES(entry(bufs, "running_mean"), TOL, 2.0, 2.5);
    EXPECT_VALUES(entry(bufs, "running_var"), TOL, 3.0, 4.5);
    EXPECT_VALUES(entry(bufs, "num_batches_tracked"), 0, 2);
    ag_module_train(m, false);
    EXPECT_VALUES(ag_forward(m, a), TOL, -0.5773493069415827, -0.23570199850455198,
                  0.5773493069415827, 1.6499139895318633);
    EXPECT_VALUES(entry(bufs, "num_batches_tracked"), 0, 2); /* eval does not count */
    ag_module_free(m);
    test_done();
}

/* Default momentum 0.1 by hand: batch mean (2, 4), unbiased var (2, 8). */
Test(batch_norm1d, momentum_update_and_names)
{
    ag_module *m = ag_batch_norm1d_new(2, 1e-5, 0.1, true, true);
    ag_tensor *x = L(AG_SHAPE(2, 2), false, 1, 2, 3, 6);
    ag_tensor *y = ag_forward(m, x);
    double v = 1 / sqrt(1 + 1e-5), u = 2 / sqrt(4 + 1e-5);
    EXPECT_VALUES(y, TOL, -v, -u, v, u);
    const ag_params *bufs = ag_module_buffers(m);
    cr_assert_eq(bufs->n, 3);
    cr_assert_str_eq(bufs->names[0], "running_mean");
    cr_assert_str_eq(bufs->names[1], "running_var");
    cr_assert_str_eq(bufs->names[2], "num_batches_tracked");
    EXPECT_VALUES(bufs->tensors[0], TOL, 0.2, 0.4);
    EXPECT_VALUES(bufs->tensors[1], TOL, 0.9 + 0.1 * 2, 0.9 + 0.1 * 8);
    const ag_params *ps = ag_parameters(m);
    cr_assert_eq(ps->n, 2);
    cr_assert_str_eq(ps->names[0], "weight");
    cr_assert_str_eq(ps->names[1], "bias");
    EXPECT_VALUES(ps->tensors[0], 0, 1, 1);
    EXPECT_VALUES(ps->tensors[1], 0, 0, 0);
    ag_module_free(m);
    test_done();
}

/* Without running statistics, eval mode still uses the batch's (torch's bn_training). */
Test(batch_norm1d, untracked_uses_batch_stats_in_eval)
{
    ag_module *m = ag_batch_norm1d_new(1, 0, 0.1, false, false);
    cr_assert_eq(ag_module_buffers(m)->n, 0);
    cr_assert_eq(ag_parameters(m)->n, 0);
    ag_module_train(m, false);
    ag_tensor *x = L(AG_SHAPE(2, 1, 2), false, 1, 3, 5, 7);
    double s = 1 / sqrt(5.0); /* mean 4, biased var 5 */
    EXPECT_VALUES(ag_forward(m, x), TOL, -3 * s, -s, s, 3 * s);
    ag_module_free(m);
    test_done();
}

Test(batch_norm1d, errors)
{
    ag_module *m = ag_batch_norm1d_new(3, 1e-5, 0.1, true, true);
    ag_tensor *x4 = track(ag_zeros(AG_SHAPE(2, 3, 1, 1)));
    ag_tensor *x2 = track(ag_zeros(AG_SHAPE(2, 4)));
    expect_error(ag_forward(m, x4), AG_ERR_SHAPE,
                 "BatchNorm1d: expected 2D or 3D input (got 4D input)");
    expect_error(ag_forward(m, x2), AG_ERR_SHAPE,
                 "BatchNorm1d: input of shape [2,4] does not fit num_features 3");
    EXPECT_VALUES(entry(ag_module_buffers(m), "num_batches_tracked"), 0, 0);
    expect_no_module(ag_batch_norm1d_new(0, 1e-5, 0.1, true, true), AG_ERR_ARG,
                 "BatchNorm1d: num_features must be at least 1 (got 0)");
    expect_no_module(ag_batch_norm1d_new(2, 1e-5, 2, true, true), AG_ERR_ARG,
                 "BatchNorm1d: momentum must be in [0, 1], or NAN for a cumulative average "
                 "(got 2)");
    ag_module_free(m);
    test_done();
}

Test(layer_norm_module, forward_params_and_errors)
{
    ag_module *m = ag_layer_norm_new(AG_SHAPE(2), 0, true);
    cr_assert_str_eq(ag_module_name(m), "LayerNorm");
    const ag_params *ps = ag_parameters(m);
    ag_data(entry(ps, "weight"))[1] = 3;
    ag_data(entry(ps, "bias"))[0] = 0.5;
    ag_tensor *x = L(AG_SHAPE(2, 2), false, 1, 3, 7, 5);
    EXPECT_VALUES(ag_forward(m, x), TOL, -0.5, 3, 1.5, -3);
    ag_module_free(m);
    ag_module *plain = ag_layer_norm_new(AG_SHAPE(2), 0, false);
    cr_assert_eq(ag_parameters(plain)->n, 0);
    ag_module_free(plain);
    expect_no_module(ag_layer_norm_new(AG_SHAPE(2, 0), 1e-5, true), AG_ERR_ARG,
                 "LayerNorm: normalized_shape needs at least one dim, each at least 1");
    test_done();
}

/* model.train() / model.eval() reach every module of a tree; buffers get dotted names. */
Test(modules, train_eval_is_recursive_and_buffers_are_named)
{
    ag_module *inner = ag_sequential_new(2, (ag_module *[]){ ag_dropout_new(0.5),
                                                             ag_batch_norm1d_new(3, 1e-5, 0.1,
                                                                                 true, true) });
    ag_module *model = ag_sequential_new(
        2, (ag_module *[]){ ag_linear_new(2, 3, true), inner });
    cr_assert_not_null(model, "%s", ag_error_message());
    cr_assert(ag_module_is_training(model) && ag_module_is_training(inner));
    ag_module_train(model, false);
    cr_assert(!ag_module_is_training(model) && !ag_module_is_training(inner));
    ag_module_train(model, true);
    cr_assert(ag_module_is_training(inner));

    const ag_params *bufs = ag_module_buffers(model);
    cr_assert_eq(bufs->n, 3);
    cr_assert_str_eq(bufs->names[0], "1.1.running_mean");
    cr_assert_str_eq(bufs->names[1], "1.1.running_var");
    cr_assert_str_eq(bufs->names[2], "1.1.num_batches_tracked");
    const ag_params *ps = ag_parameters(model);
    cr_assert_eq(ps->n, 4);
    cr_assert_str_eq(ps->names[2], "1.1.weight");
    for (int i = 0; i < bufs->n; i++)
        cr_assert(!ag_requires_grad(bufs->tensors[i]));

    ag_module_train(NULL, true);
    cr_assert_eq(ag_error(), AG_ERR_ARG);
    ag_clear_error();
    ag_module_free(model);
    test_done();
}

/* A user module registers a buffer; names are shared with parameters. */
Test(modules, add_buffer_rules)
{
    ag_module *m = ag_linear_new(1, 1, false);
    cr_assert_eq(ag_module_add_buffer(m, "count", ag_zeros(AG_SCALAR)), AG_OK);
    cr_assert_eq(ag_module_add_buffer(m, "weight", ag_zeros(AG_SCALAR)), AG_ERR_ARG);
    cr_assert_str_eq(ag_error_message(), "Linear: the name 'weight' is already taken");
    ag_clear_error();
    ag_tensor *count = ag_module_buffers(m)->tensors[0];
    cr_assert_eq(ag_module_add_param(m, "again", count), AG_ERR_ARG);
    cr_assert_str_eq(ag_error_message(), "Linear: this tensor is already buffer 'count'");
    ag_clear_error();
    cr_assert_eq(ag_module_buffers(m)->n, 1);
    cr_assert_eq(ag_parameters(m)->n, 1);
    ag_module_free(m);
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * embedding
 * ------------------------------------------------------------------------------------- */

/* Rows picked by index; the gradient adds into picked rows (row 1 twice), others stay 0. */
Test(embedding, gather_and_scatter_add)
{
    ag_tensor *w = L(AG_SHAPE(4, 2), true, 0, 1, 10, 11, 20, 21, 30, 31);
    int64_t idx[] = { 1, 3, 1, 0 };
    ag_tensor *y = ag_embedding(w, idx, AG_SHAPE(2, 2));
    expect_shape(y, AG_SHAPE(2, 2, 2));
    EXPECT_VALUES(y, 0, 10, 11, 30, 31, 10, 11, 0, 1);
    BACKWARD_WITH(y, 1, 2, 3, 4, 5, 6, 7, 8);
    EXPECT_VALUES(grad_of(w), 0, 7, 8, 6, 8, 0, 0, 3, 4);
    expect_shape(ag_embedding(w, idx, AG_SCALAR), AG_SHAPE(2));
    test_done();
}

static ag_tensor *f_embedding(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    static const int64_t idx[] = { 2, 0, 2, 1, 4 };
    return ag_mul(ag_embedding(in[0], idx, AG_SHAPE(5)), ag_embedding(in[0], idx + 1,
                                                                      AG_SHAPE(4, 1)));
}

Test(embedding, gradcheck_and_gradgradcheck)
{
    ag_manual_seed(3);
    ag_tensor *in[1] = { randn_leaf(AG_SHAPE(5, 3), true) };
    expect_gradchecks(f_embedding, in, 1, NULL);
    test_done();
}

Test(embedding, errors)
{
    ag_tensor *w = track(ag_zeros(AG_SHAPE(5, 2)));
    ag_tensor *v = track(ag_zeros(AG_SHAPE(5)));
    int64_t bad[] = { 0, 4, 5 }, neg[] = { -1 };
    expect_error(ag_embedding(w, bad, AG_SHAPE(3)), AG_ERR_ARG,
                 "embedding: index 5 (at position 2) is out of range for 5 embeddings");
    expect_error(ag_embedding(w, neg, AG_SHAPE(1)), AG_ERR_ARG,
                 "embedding: index -1 (at position 0) is out of range for 5 embeddings");
    expect_error(ag_embedding(v, bad, AG_SHAPE(1)), AG_ERR_SHAPE,
                 "embedding: weight must be 2-d (num_embeddings, embedding_dim), got shape [5]");
    expect_error(ag_embedding(w, NULL, AG_SHAPE(1)), AG_ERR_ARG, "embedding: indices are NULL");
    test_done();
}

Test(embedding_module, init_forward_and_errors)
{
    ag_manual_seed(4);
    ag_module *m = ag_embedding_new(1000, 20);
    ag_tensor *w = entry(ag_parameters(m), "weight");
    double s = 0, s2 = 0;
    for (size_t i = 0; i < ag_numel(w); i++)
        s += ag_cdata(w)[i], s2 += ag_cdata(w)[i] * ag_cdata(w)[i];
    double n = (double)ag_numel(w), mean = s / n, var = s2 / n - mean * mean;
    cr_expect(fabs(mean) < 0.02 && fabs(var - 1) < 0.03, "N(0, 1): mean %g var %g", mean, var);

    ag_tensor *x = L(AG_SHAPE(2), false, 7, 999);
    ag_tensor *y = ag_forward(m, x);
    expect_shape(y, AG_SHAPE(2, 20));
    tu_expect_data_(ag_cdata(y), ag_cdata(w) + 7 * 20, 20, 0, 0, "row 7", __FILE__, __LINE__);
    tu_expect_data_(ag_cdata(y) + 20, ag_cdata(w) + 999 * 20, 20, 0, 0, "row 999", __FILE__,
                    __LINE__);
    int64_t idx[] = { 999 };
    expect_tensor(ag_embedding_forward(m, idx, AG_SHAPE(1)), ag_cdata(w) + 999 * 20, 20, 0, 0);

    ag_tensor *frac = L(AG_SHAPE(2), false, 1, 2.5);
    expect_error(ag_forward(m, frac), AG_ERR_ARG,
                 "Embedding: input[1] = 2.5 is not an index (a whole number in [0, 1000))");
    ag_module *lin = ag_linear_new(1, 1, true);
    expect_error(ag_embedding_forward(lin, idx, AG_SHAPE(1)), AG_ERR_ARG,
                 "embedding_forward: module is Linear, not an Embedding");
    ag_module_free(lin);
    ag_module_free(m);
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * dropout
 * ------------------------------------------------------------------------------------- */

/* Inverted dropout keeps the mean: about p of the elements are 0, the rest 1/(1-p). */
Test(dropout, statistics)
{
    ag_manual_seed(5);
    const size_t n = 200000;
    ag_tensor *x = track(ag_ones(AG_SHAPE((int64_t)n)));
    ag_tensor *y = ag_dropout(x, 0.3, true);
    size_t zeros = 0, other = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        ag_real v = ag_cdata(y)[i];
        zeros += v == 0;
        other += v != 0 && fabs(v - 1 / 0.7) > 1e-15;
        sum += v;
    }
    /* binomial: sd of the zero fraction is sqrt(.3 * .7 / n) ~ 0.001 */
    cr_expect(fabs((double)zeros / (double)n - 0.3) < 0.005, "zeroed %zu of %zu", zeros, n);
    cr_expect_eq(other, 0);
    cr_expect(fabs(sum / (double)n - 1) < 0.01, "mean %g", sum / (double)n);
    test_done();
}

Test(dropout, same_seed_same_mask_and_gradient_is_the_mask)
{
    ag_tensor *x = uniform_leaf(AG_SHAPE(64), 1, 2, true);
    ag_manual_seed(6);
    ag_tensor *a = ag_dropout(x, 0.5, true);
    ag_manual_seed(6);
    ag_tensor *b = ag_dropout(x, 0.5, true);
    expect_tensor(b, ag_cdata(a), 64, 0, 0);
    ag_tensor *c = ag_dropout(x, 0.5, true);
    cr_expect(memcmp(ag_cdata(a), ag_cdata(c), 64 * sizeof(ag_real)) != 0);
    cr_assert_eq(ag_backward(ag_sum(a)), AG_OK);
    for (int i = 0; i < 64; i++) /* d(sum(x * mask))/dx = mask = y / x */
        cr_expect_float_eq(ag_cdata(grad_of(x))[i], ag_cdata(a)[i] / ag_cdata(x)[i], 1e-15);
    test_done();
}

Test(dropout, identity_zeros_and_errors)
{
    ag_tensor *x = L(AG_SHAPE(3), true, 1, 2, 3);
    cr_assert_eq(ag_dropout(x, 0.5, false), x);
    cr_assert_eq(ag_dropout(x, 0, true), x);
    ag_tensor *z = ag_dropout(x, 1, true);
    EXPECT_VALUES(z, 0, 0, 0, 0);
    cr_assert_eq(ag_backward(ag_sum(z)), AG_OK);
    EXPECT_VALUES(grad_of(x), 0, 0, 0, 0);
    expect_error(ag_dropout(x, 1.5, true), AG_ERR_ARG,
                 "dropout: probability has to be between 0 and 1, but got 1.5");
    expect_no_module(ag_dropout_new(-0.1), AG_ERR_ARG,
                 "Dropout: probability has to be between 0 and 1, but got -0.1");
    test_done();
}

/* A fixed mask per evaluation (the seed is reset), so finite differences see one function. */
static ag_tensor *f_dropout(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    ag_manual_seed(7);
    return ag_mul(ag_dropout(in[0], 0.4, true), in[0]);
}

Test(dropout, gradcheck_and_gradgradcheck)
{
    ag_manual_seed(8);
    ag_tensor *in[1] = { randn_leaf(AG_SHAPE(10), true) };
    expect_gradchecks(f_dropout, in, 1, NULL);
    test_done();
}

Test(dropout_module, follows_train_and_eval)
{
    ag_module *m = ag_dropout_new(0.5);
    cr_assert_str_eq(ag_module_name(m), "Dropout");
    ag_tensor *x = track(ag_ones(AG_SHAPE(1000)));
    ag_tensor *y = ag_forward(m, x);
    size_t zeros = 0;
    for (size_t i = 0; i < 1000; i++)
        zeros += ag_cdata(y)[i] == 0;
    cr_expect(zeros > 400 && zeros < 600, "%zu zeros", zeros);
    ag_module_train(m, false);
    cr_assert_eq(ag_forward(m, x), x);
    ag_module_free(m);
    test_done();
}

/* ---------------------------------------------------------------------------------------
 * ag_export_dot
 * ------------------------------------------------------------------------------------- */

/* What ag_export_dot writes for root and names, read back from a temporary file. */
static char *dot_text(const ag_tensor *root, const ag_params *names)
{
    FILE *f = tmpfile();
    cr_assert_not_null(f);
    cr_assert_eq(ag_export_dot(root, names, f), AG_OK, "%s", ag_error_message());
    long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

/* sum(tanh(w) * x) with w a named parameter and x data: the whole file, exactly. */
Test(export_dot, small_graph_exactly)
{
    ag_tensor *w = L(AG_SHAPE(3), true, 1, 2, 3);
    ag_tensor *x = L(AG_SHAPE(3), false, 4, 5, 6);
    ag_tensor *loss = ag_sum(ag_mul(ag_tanh(w), x));
    const char *names[] = { "fc.\"w\"" };
    ag_params ps = { 1, &w, names };
    char *s = dot_text(loss, &ps);
    cr_expect_str_eq(s, "digraph agrad {\n"
                        "    node [shape=box, style=filled, fillcolor=lightgrey, "
                        "fontname=monospace, fontsize=10]\n"
                        "    out [label=\"[]\", fillcolor=darkolivegreen1]\n"
                        "    op0 [label=\"sum\"]\n"
                        "    op0 -> out\n"
                        "    op1 [label=\"mul\"]\n"
                        "    op1 -> op0\n"
                        "    op2 [label=\"tanh\"]\n"
                        "    op2 -> op1\n"
                        "    t0 [label=\"[3]\", fillcolor=white]\n"
                        "    t0 -> op1\n"
                        "    t1 [label=\"fc.\\\"w\\\"\\n[3]\", fillcolor=lightblue]\n"
                        "    t1 -> op2\n"
                        "}\n");
    free(s);
    test_done();
}

/* A model's graph: a shared parameter and a shared op appear once, names come from
 * ag_parameters, and the same graph gives the same text. */
Test(export_dot, model_graph_is_deterministic)
{
    ag_manual_seed(9);
    ag_module *model = ag_sequential_new(
        2, (ag_module *[]){ ag_linear_new(2, 3, true), ag_layer_norm_new(AG_SHAPE(3), 1e-5,
                                                                          true) });
    ag_tensor *x = randn_leaf(AG_SHAPE(4, 2), false);
    ag_tensor *h = ag_forward(model, x);
    ag_tensor *loss = ag_add(ag_mean(ag_mul(h, h)), ag_sum(h));
    const ag_params *ps = ag_parameters(model);
    char *a = dot_text(loss, ps), *b = dot_text(loss, ps);
    cr_expect_str_eq(a, b);
    const char *want[] = { "\"0.weight\\n[3,2]\", fillcolor=lightblue",
                           "\"0.bias\\n[3]\", fillcolor=lightblue",
                           "\"1.weight\\n[3]\", fillcolor=lightblue",
                           "\"1.bias\\n[3]\", fillcolor=lightblue",
                           "\"[4,2]\", fillcolor=white",
                           "[label=\"linear\"]",
                           "[label=\"layer_norm\"]",
                           "[label=\"addcmul\"]" };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *p = strstr(a, want[i]);
        cr_expect(p != NULL, "missing %s in:\n%s", want[i], a);
        cr_expect(p == NULL || strstr(p + 1, want[i]) == NULL, "%s twice", want[i]);
    }
    free(a);
    free(b);
    ag_module_free(model);
    test_done();
}

Test(export_dot, leaf_root_and_errors)
{
    ag_tensor *w = L(AG_SHAPE(2), true, 1, 2);
    char *s = dot_text(w, NULL);
    cr_expect(strstr(s, "out [label=\"[2]\", fillcolor=darkolivegreen1]\n}\n") != NULL, "%s", s);
    free(s);
    cr_assert_eq(ag_export_dot(w, NULL, NULL), AG_ERR_ARG);
    cr_expect_str_eq(ag_error_message(), "export_dot: the file is NULL");
    ag_clear_error();
    cr_assert_eq(ag_export_dot_file(w, NULL, "/nonexistent-dir/g.dot"), AG_ERR_IO);
    cr_expect_str_eq(ag_error_message(),
                     "export_dot: cannot open '/nonexistent-dir/g.dot': No such file or "
                     "directory");
    ag_clear_error();
    ag_tensor *y = ag_mul_scalar(w, 2);
    ag_step_end();
    cr_assert_eq(ag_export_dot(y, NULL, stdout), AG_ERR_STATE);
    ag_clear_error();
    test_done();
}
