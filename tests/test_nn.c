/* test_nn.c — modules: Linear's initialisation and forward, parameter lists and their names,
 * Sequential (flat and nested), user modules, a small training loop, the loss modules, and
 * the error paths. Runs in the double build; everything is freed (the tests run under ASan). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agrad.h"

#define TOL 1e-12

/* A heap tensor from a literal list: T(AG_SHAPE(2, 2), 1, 2, 3, 4). */
#define T(shape, ...)                                                                      \
    ag_from((ag_real[]){ __VA_ARGS__ }, sizeof((ag_real[]){ __VA_ARGS__ }) / sizeof(ag_real), \
            shape)

/* Asserts that the pending error has `code` and that its message contains `part`, then
 * clears it. */
static void expect_error(ag_status code, const char *part)
{
    cr_assert_eq(ag_error(), code, "error %d (%s), expected %d", ag_error(), ag_error_message(),
                 code);
    cr_assert(strstr(ag_error_message(), part), "message \"%s\" lacks \"%s\"",
              ag_error_message(), part);
    ag_clear_error();
}

/* Asserts that the parameter list of m has exactly the n names given, in order. */
static void expect_names(ag_module *m, int n, const char *const *names)
{
    const ag_params *p = ag_parameters(m);
    cr_assert_not_null(p, "%s", ag_error_message());
    cr_assert_eq(p->n, n, "%d parameters, expected %d", p->n, n);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(p->names[i], names[i]);
}

/* --- Linear --------------------------------------------------------------------------- */

/* Weights and bias lie in [-1/sqrt(in), 1/sqrt(in)], require grad, and actually spread. */
Test(linear, init_bounds)
{
    ag_manual_seed(42);
    ag_module *m = ag_linear_new(5, 3, true);
    cr_assert_not_null(m, "%s", ag_error_message());
    cr_assert_str_eq(ag_module_name(m), "Linear");
    ag_tensor *w = ag_linear_weight(m), *b = ag_linear_bias(m);
    cr_assert_eq(ag_ndim(w), 2);
    cr_assert_eq(ag_size(w, 0), 3);
    cr_assert_eq(ag_size(w, 1), 5);
    cr_assert_eq(ag_ndim(b), 1);
    cr_assert_eq(ag_size(b, 0), 3);
    cr_assert(ag_requires_grad(w) && ag_requires_grad(b) && ag_is_leaf(w));
    double bound = 1 / sqrt(5.0), lo = 1, hi = -1;
    const ag_real *wd = ag_cdata(w);
    for (int i = 0; i < 15; i++) {
        cr_assert(fabs(wd[i]) <= bound, "weight %d = %g out of bounds", i, (double)wd[i]);
        lo = fmin(lo, wd[i]);
        hi = fmax(hi, wd[i]);
    }
    cr_assert(lo < -0.2 * bound && hi > 0.2 * bound, "weights do not spread: [%g, %g]", lo, hi);
    for (int i = 0; i < 3; i++)
        cr_assert(fabs(ag_cdata(b)[i]) <= bound);
    ag_module_free(m);
}

/* The same seed gives the same module; the weights are drawn first, row-major, then the
 * bias, each as bound * (2u - 1) from the thread's generator. */
Test(linear, init_deterministic)
{
    ag_manual_seed(7);
    ag_module *a = ag_linear_new(4, 2, true);
    ag_manual_seed(7);
    ag_module *b = ag_linear_new(4, 2, true);
    ag_manual_seed(8);
    ag_module *c = ag_linear_new(4, 2, true);
    cr_assert_arr_eq(ag_cdata(ag_linear_weight(a)), ag_cdata(ag_linear_weight(b)),
                     8 * sizeof(ag_real));
    cr_assert_arr_eq(ag_cdata(ag_linear_bias(a)), ag_cdata(ag_linear_bias(b)),
                     2 * sizeof(ag_real));
    cr_assert(memcmp(ag_cdata(ag_linear_weight(a)), ag_cdata(ag_linear_weight(c)),
                     8 * sizeof(ag_real)) != 0);

    ag_manual_seed(7);
    double bound = 0.5; /* 1/sqrt(4) */
    for (int i = 0; i < 10; i++) { /* the macro evaluates its arguments twice */
        double want = bound * (2 * ag_rand_uniform() - 1);
        ag_tensor *t = i < 8 ? ag_linear_weight(a) : ag_linear_bias(a);
        cr_assert_float_eq(ag_cdata(t)[i % 8], want, TOL, "value %d", i);
    }
    ag_module_free(a);
    ag_module_free(b);
    ag_module_free(c);
}

/* Without bias there is one parameter, and ag_linear_bias is NULL without an error. */
Test(linear, no_bias)
{
    ag_module *m = ag_linear_new(3, 2, false);
    cr_assert_null(ag_linear_bias(m));
    cr_assert_eq(ag_error(), AG_OK);
    expect_names(m, 1, (const char *[]){ "weight" });
    ag_tensor *x = T(AG_SHAPE(1, 3), 1, 1, 1);
    ag_tensor *y = ag_forward(m, x);
    const ag_real *w = ag_cdata(ag_linear_weight(m));
    cr_assert_float_eq(ag_cdata(y)[1], w[3] + w[4] + w[5], TOL);
    ag_step_end();
    ag_free(x);
    ag_module_free(m);
}

/* y = x W^T + b against a hand computation, for a batch and for a single (in) vector, and
 * the gradients of sum(y): dW[j] = sum over rows of x, db[j] = N. */
Test(linear, forward_value_and_grad)
{
    ag_module *m = ag_linear_new(3, 2, true);
    memcpy(ag_data(ag_linear_weight(m)), (ag_real[]){ 1, 2, 3, 4, 5, 6 }, 6 * sizeof(ag_real));
    memcpy(ag_data(ag_linear_bias(m)), (ag_real[]){ 0.5, -1 }, 2 * sizeof(ag_real));
    ag_tensor *x = T(AG_SHAPE(2, 3), 1, 0, -1, 2, 1, 0);
    ag_tensor *y = ag_forward(m, x);
    cr_assert_not_null(y, "%s", ag_error_message());
    cr_assert_eq(ag_size(y, 0), 2);
    cr_assert_eq(ag_size(y, 1), 2);
    const ag_real want[] = { -1.5, -3, 4.5, 12 };
    for (int i = 0; i < 4; i++)
        cr_assert_float_eq(ag_cdata(y)[i], want[i], TOL);

    cr_assert_eq(ag_backward(ag_sum(y)), AG_OK, "%s", ag_error_message());
    const ag_real dw[] = { 3, 1, -1, 3, 1, -1 };
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(ag_cdata(ag_grad(ag_linear_weight(m)))[i], dw[i], TOL);
    for (int i = 0; i < 2; i++)
        cr_assert_float_eq(ag_cdata(ag_grad(ag_linear_bias(m)))[i], 2, TOL);
    ag_step_end();

    ag_tensor *v = T(AG_SHAPE(3), 1, 0, -1);
    ag_tensor *yv = ag_forward(m, v);
    cr_assert_eq(ag_ndim(yv), 1);
    cr_assert_float_eq(ag_cdata(yv)[0], -1.5, TOL);
    cr_assert_float_eq(ag_cdata(yv)[1], -3, TOL);
    ag_step_end();
    ag_free(v);
    ag_free(x);
    ag_module_free(m);
}

/* --- activations ---------------------------------------------------------------------- */

/* Each activation module computes its op and has no parameters. */
Test(activations, values_and_names)
{
    ag_module *mods[] = { ag_relu_new(), ag_sigmoid_new(), ag_tanh_new() };
    const char *names[] = { "ReLU", "Sigmoid", "Tanh" };
    ag_tensor *x = T(AG_SHAPE(2), -1, 2);
    const double want[3][2] = { { 0, 2 },
                                { 1 / (1 + exp(1.0)), 1 / (1 + exp(-2.0)) },
                                { tanh(-1.0), tanh(2.0) } };
    for (int k = 0; k < 3; k++) {
        cr_assert_str_eq(ag_module_name(mods[k]), names[k]);
        cr_assert_eq(ag_parameters(mods[k])->n, 0);
        ag_tensor *y = ag_forward(mods[k], x);
        for (int i = 0; i < 2; i++)
            cr_assert_float_eq(ag_cdata(y)[i], want[k][i], TOL);
        ag_module_free(mods[k]);
    }
    ag_step_end();
    ag_free(x);
}

/* --- Sequential and parameter lists --------------------------------------------------- */

/* Sequential(Linear(3,4), ReLU, Linear(4,2)) lists PyTorch's state_dict keys, in order,
 * pointing at the children's tensors; the list is built once and kept. */
Test(sequential, parameter_names)
{
    ag_module *l0 = ag_linear_new(3, 4, true), *l2 = ag_linear_new(4, 2, true);
    ag_module *s = ag_sequential_new(3, (ag_module *[]){ l0, ag_relu_new(), l2 });
    cr_assert_not_null(s, "%s", ag_error_message());
    cr_assert_str_eq(ag_module_name(s), "Sequential");
    expect_names(s, 4, (const char *[]){ "0.weight", "0.bias", "2.weight", "2.bias" });
    const ag_params *p = ag_parameters(s);
    cr_assert_eq(p->tensors[0], ag_linear_weight(l0));
    cr_assert_eq(p->tensors[1], ag_linear_bias(l0));
    cr_assert_eq(p->tensors[2], ag_linear_weight(l2));
    cr_assert_eq(p->tensors[3], ag_linear_bias(l2));
    const ag_params *again = ag_parameters(s);
    cr_assert_eq(again, p);
    cr_assert_eq(again->names, p->names);
    /* the children's own lists use their local names */
    expect_names(l2, 2, (const char *[]){ "weight", "bias" });

    ag_tensor *x = ag_randn(AG_SHAPE(5, 3));
    ag_tensor *y = ag_forward(s, x);
    cr_assert_not_null(y, "%s", ag_error_message());
    cr_assert_eq(ag_size(y, 0), 5);
    cr_assert_eq(ag_size(y, 1), 2);
    ag_step_end();
    ag_free(x);
    ag_module_free(s);
}

/* Nested Sequentials prefix each level's index: "1.1.weight". */
Test(sequential, nested_names)
{
    ag_module *inner =
        ag_sequential_new(2, (ag_module *[]){ ag_tanh_new(), ag_linear_new(3, 1, true) });
    ag_module *s = ag_sequential_new(3, (ag_module *[]){ ag_linear_new(2, 3, true), inner,
                                                         ag_sigmoid_new() });
    cr_assert_not_null(s, "%s", ag_error_message());
    expect_names(s, 4, (const char *[]){ "0.weight", "0.bias", "1.1.weight", "1.1.bias" });
    ag_module *outer = ag_sequential_new(1, (ag_module *[]){ s });
    expect_names(outer, 4,
                 (const char *[]){ "0.0.weight", "0.0.bias", "0.1.1.weight", "0.1.1.bias" });

    ag_tensor *x = ag_randn(AG_SHAPE(4, 2));
    ag_tensor *y = ag_forward(outer, x);
    cr_assert_not_null(y, "%s", ag_error_message());
    cr_assert_eq(ag_size(y, 1), 1);
    for (int i = 0; i < 4; i++)
        cr_assert(ag_cdata(y)[i] > 0 && ag_cdata(y)[i] < 1);
    ag_step_end();
    ag_free(x);
    ag_module_free(outer);
}

/* An empty Sequential has no parameters and passes its input through. */
Test(sequential, empty)
{
    ag_module *s = ag_sequential_new(0, NULL);
    cr_assert_not_null(s, "%s", ag_error_message());
    cr_assert_eq(ag_parameters(s)->n, 0);
    ag_tensor *x = ag_scalar(3);
    cr_assert_eq(ag_forward(s, x), x);
    ag_free(x);
    ag_module_free(s);
}

/* ag_module_zero_grad zeroes every parameter's gradient in place. */
Test(sequential, zero_grad)
{
    ag_module *s =
        ag_sequential_new(2, (ag_module *[]){ ag_linear_new(2, 2, true), ag_tanh_new() });
    ag_tensor *x = T(AG_SHAPE(1, 2), 1, -2);
    cr_assert_eq(ag_backward(ag_sum(ag_forward(s, x))), AG_OK, "%s", ag_error_message());
    ag_step_end();
    const ag_params *p = ag_parameters(s);
    ag_tensor *g0 = ag_grad(p->tensors[0]);
    cr_assert(ag_cdata(g0)[0] != 0);
    ag_module_zero_grad(s);
    for (int k = 0; k < p->n; k++) {
        ag_tensor *g = ag_grad(p->tensors[k]);
        for (size_t i = 0; i < ag_numel(g); i++)
            cr_assert_eq(ag_cdata(g)[i], 0);
    }
    cr_assert_eq(ag_grad(p->tensors[0]), g0); /* same buffer */
    ag_free(x);
    ag_module_free(s);
}

/* --- user modules --------------------------------------------------------------------- */

typedef struct scale_self {
    int *freed;
} scale_self;

/* y = alpha * x (+ beta once added). */
static ag_tensor *scale_forward(ag_module *m, ag_tensor *x)
{
    const ag_params *p = ag_parameters(m);
    ag_tensor *y = ag_mul(x, p->tensors[0]);
    return p->n > 1 ? ag_add(y, p->tensors[1]) : y;
}

static void scale_free(void *self)
{
    scale_self *s = self;
    (*s->freed)++;
    free(s);
}

static const ag_module_def SCALE = { "Scale", scale_forward, scale_free };

/* A user module: its state comes back from ag_module_self, its parameters are owned and
 * require grad, it nests in a Sequential, a parameter added later shows up in the enclosing
 * list, and freeing calls free_self once. */
Test(user_module, params_nesting_and_free)
{
    int freed = 0;
    scale_self *self = malloc(sizeof *self);
    self->freed = &freed;
    ag_module *m = ag_module_new(&SCALE, self);
    cr_assert_eq(ag_module_self(m), self);
    cr_assert_str_eq(ag_module_name(m), "Scale");
    cr_assert_eq(ag_module_add_param(m, "alpha", ag_full(AG_SCALAR, 3)), AG_OK);
    cr_assert(ag_requires_grad(ag_parameters(m)->tensors[0]));

    ag_module *s = ag_sequential_new(2, (ag_module *[]){ ag_linear_new(1, 1, false), m });
    expect_names(s, 2, (const char *[]){ "0.weight", "1.alpha" });
    cr_assert_eq(ag_module_add_param(m, "beta", ag_full(AG_SCALAR, 1)), AG_OK);
    expect_names(s, 3, (const char *[]){ "0.weight", "1.alpha", "1.beta" });

    ag_tensor *x = ag_scalar(2);
    ag_tensor *y = ag_forward(m, x);
    cr_assert_float_eq(ag_item(y), 7, TOL);
    ag_step_end();
    ag_free(x);
    ag_module_free(s);
    cr_assert_eq(freed, 1);
}

/* A forward that returns NULL without a reason still leaves an error. */
static ag_tensor *null_forward(ag_module *m, ag_tensor *x)
{
    (void)m, (void)x;
    return NULL;
}

Test(user_module, errors)
{
    ag_module *m = ag_module_new(&(ag_module_def){ "Null", null_forward, NULL }, NULL);
    ag_tensor *x = ag_scalar(1);
    cr_assert_null(ag_forward(m, x));
    expect_error(AG_ERR_STATE, "Null");

    cr_assert_eq(ag_module_add_param(m, "w", ag_scalar(1)), AG_OK);
    /* every failure below frees the tensor it was given (ASan would see a leak) */
    cr_assert_eq(ag_module_add_param(m, "w", ag_scalar(2)), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "already taken");
    cr_assert_eq(ag_module_add_param(m, "a.b", ag_scalar(2)), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "'.'");
    cr_assert_eq(ag_module_add_param(m, "", ag_scalar(2)), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "name");
    cr_assert_eq(ag_module_add_param(NULL, "w", ag_scalar(2)), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "NULL");
    cr_assert_neq(ag_module_add_param(m, "v", NULL), AG_OK);
    expect_error(AG_ERR_ARG, "NULL");
    ag_tensor *leaf = ag_set_requires_grad(ag_scalar(2), true);
    cr_assert_eq(ag_module_add_param(m, "t", ag_mul_scalar(leaf, 2)), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "heap tensor");
    ag_step_end();
    ag_free(leaf);
    /* the same tensor twice: refused, and it stays registered (not freed) */
    ag_tensor *w = ag_parameters(m)->tensors[0];
    cr_assert_eq(ag_module_add_param(m, "w2", w), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "already parameter 'w'");
    expect_names(m, 1, (const char *[]){ "w" });
    cr_assert_float_eq(ag_cdata(w)[0], 1, TOL);

    cr_assert_null(ag_module_new(NULL, NULL));
    expect_error(AG_ERR_ARG, "module_new");
    cr_assert_null(ag_module_new(&(ag_module_def){ "NoForward", NULL, NULL }, NULL));
    expect_error(AG_ERR_ARG, "module_new");
    cr_assert_null(ag_module_self(NULL));
    ag_free(x);
    ag_module_free(m);
}

/* --- training ------------------------------------------------------------------------- */

/* Sequential(Linear(1,1)) fitted to y = 2x with MSE and a hand-written SGD step learns that
 * 5 maps to 10. */
Test(training, linear_regression)
{
    ag_manual_seed(0);
    ag_module *model = ag_sequential_new(1, (ag_module *[]){ ag_linear_new(1, 1, true) });
    ag_loss *mse = ag_mse_loss_new(AG_MEAN);
    ag_tensor *x = T(AG_SHAPE(4, 1), 0, 1, 2, 3);
    ag_tensor *y = T(AG_SHAPE(4, 1), 0, 2, 4, 6);
    const ag_params *p = ag_parameters(model);
    double first = 0, last = 0;
    for (int epoch = 0; epoch < 100; epoch++) {
        ag_module_zero_grad(model);
        ag_tensor *loss = ag_loss_forward(mse, ag_forward(model, x), y);
        cr_assert_not_null(loss, "%s", ag_error_message());
        last = ag_item(loss);
        if (epoch == 0)
            first = last;
        cr_assert_eq(ag_backward(loss), AG_OK, "%s", ag_error_message());
        for (int k = 0; k < p->n; k++) {
            ag_real *w = ag_data(p->tensors[k]);
            const ag_real *g = ag_cdata(ag_grad(p->tensors[k]));
            for (size_t i = 0; i < ag_numel(p->tensors[k]); i++)
                w[i] -= 0.1 * g[i];
            ag_bump_version(p->tensors[k]);
        }
        ag_step_end();
    }
    cr_assert(last < first * 1e-3, "loss went from %g to %g", first, last);
    ag_tensor *five = T(AG_SHAPE(1, 1), 5);
    ag_tensor *pred = ag_forward(model, five);
    cr_assert(fabs(ag_item(pred) - 10) < 0.01, "prediction for 5 is %g", ag_item(pred));
    ag_step_end();
    ag_free(five);
    ag_free(x);
    ag_free(y);
    ag_loss_free(mse);
    ag_module_free(model);
}

/* --- loss modules --------------------------------------------------------------------- */

/* loss(input, target) as a number (ends the step; the loss is freed). */
static double loss_value(ag_loss *l, ag_tensor *input, ag_tensor *target)
{
    cr_assert_not_null(l, "%s", ag_error_message());
    ag_tensor *v = ag_loss_forward(l, input, target);
    cr_assert_not_null(v, "%s: %s", ag_loss_name(l), ag_error_message());
    double d = ag_item(v);
    ag_step_end();
    ag_loss_free(l);
    return d;
}

/* The notebook's regression losses: MSE 0.15, MAE 0.35, Huber 0.075. */
Test(loss_module, regression_values)
{
    ag_tensor *pred = T(AG_SHAPE(4), 3, -0.5, 2, 7.5);
    ag_tensor *target = T(AG_SHAPE(4), 2.5, 0, 2.1, 7.8);
    cr_assert_float_eq(loss_value(ag_mse_loss_new(AG_MEAN), pred, target), 0.15, 1e-7);
    cr_assert_float_eq(loss_value(ag_l1_loss_new(AG_MEAN), pred, target), 0.35, 1e-7);
    cr_assert_float_eq(loss_value(ag_huber_loss_new(AG_MEAN, 1.0), pred, target), 0.075, 1e-7);
    cr_assert_float_eq(loss_value(ag_mse_loss_new(AG_SUM), pred, target), 0.6, 1e-7);
    ag_free(pred);
    ag_free(target);
}

/* The notebook's classification losses: BCE 0.1838825, cross-entropy 0.5162141, the latter
 * also from one-hot probabilities and as NLL of log_softmax. */
Test(loss_module, classification_values)
{
    ag_tensor *p = T(AG_SHAPE(3), 0.9, 0.2, 0.8);
    ag_tensor *t = T(AG_SHAPE(3), 1, 0, 1);
    cr_assert_float_eq(loss_value(ag_bce_loss_new(AG_MEAN), p, t), 0.1838825, 1e-6);

    ag_tensor *x = T(AG_SHAPE(3, 2), 0.3, 0.7, 0.6, 0.4, 0.2, 0.8);
    ag_tensor *cls = T(AG_SHAPE(3), 1, 0, 1);
    ag_tensor *onehot = T(AG_SHAPE(3, 2), 0, 1, 1, 0, 0, 1);
    cr_assert_float_eq(loss_value(ag_cross_entropy_loss_new(AG_MEAN, 0), x, cls), 0.5162141,
                       1e-6);
    cr_assert_float_eq(loss_value(ag_cross_entropy_loss_new(AG_MEAN, 0), x, onehot), 0.5162141,
                       1e-6);
    ag_loss *nll = ag_nll_loss_new(AG_MEAN);
    ag_tensor *v = ag_loss_forward(nll, ag_log_softmax(x, 1), cls);
    cr_assert_not_null(v, "%s", ag_error_message());
    cr_assert_float_eq(ag_item(v), 0.5162141, 1e-6);
    ag_step_end();
    ag_loss_free(nll);
    ag_free(p);
    ag_free(t);
    ag_free(x);
    ag_free(cls);
    ag_free(onehot);
}

/* Each constructor gives its PyTorch class name. */
Test(loss_module, names)
{
    ag_loss *ls[] = { ag_mse_loss_new(AG_MEAN), ag_l1_loss_new(AG_MEAN),
                      ag_huber_loss_new(AG_MEAN, 1), ag_smooth_l1_loss_new(AG_MEAN, 1),
                      ag_bce_loss_new(AG_MEAN), ag_bce_with_logits_loss_new(AG_MEAN),
                      ag_cross_entropy_loss_new(AG_MEAN, 0), ag_nll_loss_new(AG_MEAN),
                      ag_kl_div_loss_new(AG_BATCHMEAN, false),
                      ag_hinge_embedding_loss_new(1, AG_MEAN),
                      ag_multi_margin_loss_new(1, 1, AG_MEAN), ag_dice_loss_new(1) };
    const char *names[] = { "MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss",
                            "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss", "KLDivLoss",
                            "HingeEmbeddingLoss", "MultiMarginLoss", "DiceLoss" };
    for (int i = 0; i < 12; i++) {
        cr_assert_not_null(ls[i], "%s: %s", names[i], ag_error_message());
        cr_assert_str_eq(ag_loss_name(ls[i]), names[i]);
        ag_loss_free(ls[i]);
    }
    cr_assert_null(ag_loss_name(NULL));
}

/* Class-index targets must fit the input's shape and hold whole numbers in [0, C); a bad
 * reduction is refused at construction; NULLs give NULL. */
Test(loss_module, errors)
{
    ag_tensor *x = T(AG_SHAPE(3, 2), 0.3, 0.7, 0.6, 0.4, 0.2, 0.8);
    ag_tensor *frac = T(AG_SHAPE(3), 1, 0.5, 1);
    ag_tensor *big = T(AG_SHAPE(3), 1, 0, 2);
    ag_tensor *neg = T(AG_SHAPE(3), 1, -1, 0);
    ag_tensor *shape = T(AG_SHAPE(2), 1, 0);
    ag_loss *ce = ag_cross_entropy_loss_new(AG_MEAN, 0);
    ag_loss *mm = ag_multi_margin_loss_new(1, 1, AG_MEAN);

    cr_assert_null(ag_loss_forward(ce, x, frac));
    expect_error(AG_ERR_ARG, "CrossEntropyLoss: target[1] = 0.5");
    cr_assert_null(ag_loss_forward(ce, x, big));
    expect_error(AG_ERR_ARG, "[0, 2)");
    cr_assert_null(ag_loss_forward(mm, x, neg));
    expect_error(AG_ERR_ARG, "MultiMarginLoss: target[1] = -1");
    cr_assert_null(ag_loss_forward(ce, x, shape));
    expect_error(AG_ERR_SHAPE, "CrossEntropyLoss: target of shape [2] does not fit input of "
                               "shape [3,2]");

    cr_assert_null(ag_loss_forward(ce, NULL, frac));
    expect_error(AG_ERR_ARG, "CrossEntropyLoss");
    cr_assert_null(ag_loss_forward(NULL, x, frac));
    expect_error(AG_ERR_ARG, "NULL");
    cr_assert_null(ag_mse_loss_new(AG_BATCHMEAN));
    expect_error(AG_ERR_ARG, "MSELoss: reduction");
    cr_assert_null(ag_l1_loss_new((ag_reduction)42));
    expect_error(AG_ERR_ARG, "L1Loss: reduction");
    ag_loss_free(NULL);

    ag_step_end();
    ag_loss_free(ce);
    ag_loss_free(mm);
    ag_free(x);
    ag_free(frac);
    ag_free(big);
    ag_free(neg);
    ag_free(shape);
}

/* --- module errors -------------------------------------------------------------------- */

/* Bad sizes, a wrong input shape (with the exact message), NULLs, and misuse of
 * accessors. */
Test(errors, linear_and_null)
{
    cr_assert_null(ag_linear_new(0, 3, true));
    expect_error(AG_ERR_ARG, "Linear");
    cr_assert_null(ag_linear_new(3, -1, true));
    expect_error(AG_ERR_ARG, "out_features -1");

    ag_module *m = ag_linear_new(2, 3, true);
    ag_tensor *x = ag_zeros(AG_SHAPE(4, 3));
    cr_assert_null(ag_forward(m, x));
    cr_assert_eq(ag_error(), AG_ERR_SHAPE);
    cr_assert_str_eq(ag_error_message(), "Linear: input of shape [4,3] does not fit in_features 2");
    ag_clear_error();
    ag_tensor *s = ag_scalar(1);
    cr_assert_null(ag_forward(m, s));
    expect_error(AG_ERR_SHAPE, "input of shape []");

    cr_assert_null(ag_forward(m, NULL));
    expect_error(AG_ERR_ARG, "Linear");
    cr_assert_null(ag_forward(NULL, x));
    expect_error(AG_ERR_ARG, "NULL");
    cr_assert_null(ag_parameters(NULL));
    expect_error(AG_ERR_ARG, "NULL");
    cr_assert_null(ag_module_name(NULL));

    ag_module *r = ag_relu_new();
    cr_assert_null(ag_linear_weight(r));
    expect_error(AG_ERR_ARG, "ReLU, not a Linear");
    cr_assert_null(ag_linear_bias(NULL));
    expect_error(AG_ERR_ARG, "not a Linear");

    ag_module_zero_grad(NULL);
    ag_module_free(NULL);
    cr_assert_eq(ag_error(), AG_OK);
    ag_module_free(r);
    ag_module_free(m);
    ag_free(x);
    ag_free(s);
}

/* A failing child stops a Sequential's forward with the child's message. */
Test(errors, sequential_forward)
{
    ag_module *s = ag_sequential_new(2, (ag_module *[]){ ag_linear_new(3, 4, true),
                                                         ag_linear_new(5, 2, true) });
    ag_tensor *x = ag_zeros(AG_SHAPE(2, 3));
    cr_assert_null(ag_forward(s, x));
    expect_error(AG_ERR_SHAPE, "Linear: input of shape [2,4] does not fit in_features 5");
    ag_step_end();
    ag_free(x);
    ag_module_free(s);
}

/* Sequential takes its modules even when it fails (they are freed: ASan checks), refuses a
 * module that another owns or one listed twice, and a child cannot be freed on its own. */
Test(errors, sequential_ownership)
{
    cr_assert_null(ag_sequential_new(3, (ag_module *[]){ ag_relu_new(), NULL,
                                                         ag_linear_new(2, 2, true) }));
    expect_error(AG_ERR_ARG, "module 1 is NULL");
    /* a NULL from a failed constructor keeps that constructor's message */
    cr_assert_null(
        ag_sequential_new(2, (ag_module *[]){ ag_linear_new(0, 1, true), ag_tanh_new() }));
    expect_error(AG_ERR_ARG, "Linear");
    cr_assert_null(ag_sequential_new(-1, NULL));
    expect_error(AG_ERR_ARG, "Sequential");
    cr_assert_null(ag_sequential_new(2, NULL));
    expect_error(AG_ERR_ARG, "Sequential");

    ag_module *t = ag_tanh_new();
    cr_assert_null(ag_sequential_new(2, (ag_module *[]){ t, t }));
    expect_error(AG_ERR_ARG, "module 1 is module 0 again");

    ag_module *child = ag_linear_new(2, 2, true);
    ag_module *owner = ag_sequential_new(1, (ag_module *[]){ child });
    cr_assert_null(ag_sequential_new(2, (ag_module *[]){ ag_relu_new(), child }));
    expect_error(AG_ERR_ARG, "already belongs to a Sequential");
    ag_module_free(child);
    expect_error(AG_ERR_ARG, "belongs to a Sequential");
    expect_names(owner, 2, (const char *[]){ "0.weight", "0.bias" });
    ag_module_free(owner);
}

/* An allocator that fails the n-th allocation from now on (n < 0: never). */
static int fail_at = -1;

static void *failing_alloc(size_t size, void *user)
{
    (void)user;
    if (fail_at == 0)
        return NULL;
    if (fail_at > 0)
        fail_at--;
    return malloc(size);
}

static void plain_release(void *p, void *user)
{
    (void)user;
    free(p);
}

/* Running out of memory at every allocation in turn while building a Sequential and its
 * parameter list gives NULL with AG_ERR_OOM, never a crash or a leak (ASan checks). */
Test(errors, out_of_memory)
{
    ag_set_allocator(&(ag_allocator){ failing_alloc, plain_release, NULL });
    bool done = false;
    for (int k = 0; !done && k < 200; k++) {
        fail_at = k;
        ag_module *s = ag_sequential_new(3, (ag_module *[]){ ag_linear_new(3, 4, true),
                                                             ag_relu_new(),
                                                             ag_linear_new(4, 2, true) });
        const ag_params *p = s ? ag_parameters(s) : NULL;
        done = p != NULL;
        if (!done)
            expect_error(AG_ERR_OOM, "out of memory");
        else
            cr_assert_eq(p->n, 4);
        fail_at = -1;
        ag_module_free(s);
    }
    cr_assert(done);
    ag_set_allocator(NULL);
}
