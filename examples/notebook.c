/* notebook.c — every code cell of the notebook "C1: Introduction to neural networks", in C,
 * through the engine, printing what the notebook prints.
 *
 * Where the notebook printed a Python float's full repr (17 digits of a float32 value), this
 * prints 7 significant digits: what float32 carries. The two training cells start from a
 * seeded initialisation (ag_manual_seed), so their numbers are reproducible; like PyTorch's,
 * where they end depends on that initialisation. Cells are separated by a blank line. */
#include "agrad.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stops the program with the library's message if an engine call failed. */
static void check(const void *p, const char *what)
{
    if (!p || ag_error() != AG_OK) {
        fprintf(stderr, "notebook: %s: %s\n", what, ag_error_message());
        exit(1);
    }
}

/* In [2]: one neuron, z = sum(w_i x_i) + b. */
static void cell_neuron(void)
{
    ag_tensor *x = ag_from((ag_real[]){ 3, 4 }, 2, AG_SHAPE(2));         /* price, rating */
    ag_tensor *w = ag_from((ag_real[]){ -0.8f, 1.2f }, 2, AG_SHAPE(2));  /* preferences */
    ag_tensor *b = ag_scalar(0.5f);
    ag_tensor *out = ag_add(ag_sum(ag_mul(x, w)), b);
    check(out, "neuron");
    printf("Neuron raw output: % .2f\n", ag_item(out));
    ag_free(x), ag_free(w), ag_free(b);
}

/* One value through an activation op. */
static double activate(ag_tensor *(*f)(ag_tensor *), double v)
{
    ag_tensor *x = ag_scalar((ag_real)v);
    ag_tensor *y = f(x);
    check(y, "activation");
    double r = ag_item(y);
    ag_free(x);
    return r;
}

/* In [8]: sigmoid, tanh and ReLU. print("\n") prints two newlines. */
static void cell_activations(void)
{
    printf("Sigmoidal functions for 3.3 ans 3.5\n");
    printf("%.7g  Close to 1\n", activate(ag_sigmoid, 3.3));
    printf("%.7g Close to 0\n", activate(ag_sigmoid, -3.2));
    printf("\n\n");
    printf("Tanh function for 2.0 and -2.0\n");
    printf("%.7g  Positive outcome\n", activate(ag_tanh, 2.0));
    printf("%.7g  Negative outcome\n", activate(ag_tanh, -2.0));
    printf("\n\n");
    printf("%.7g  Keeps positive\n", activate(ag_relu, 3.3));
    printf("%.7g  Zeroes out\n", activate(ag_relu, -2.0));
}

/* Prints a 1-d tensor as NumPy does: "[4.3 0. ]" (shortest digits, fractions padded). */
static void print_numpy(const ag_tensor *t)
{
    const ag_real *d = ag_cdata(t);
    size_t n = ag_numel(t);
    char s[64][32];
    int frac[64], maxfrac = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        snprintf(s[i], sizeof s[i], "%.7g", (double)d[i]);
        if (!strchr(s[i], '.'))
            strcat(s[i], ".");
        frac[i] = (int)strlen(strchr(s[i], '.') + 1);
        maxfrac = frac[i] > maxfrac ? frac[i] : maxfrac;
    }
    printf("[");
    for (size_t i = 0; i < n && i < 64; i++)
        printf("%s%s%*s", i ? " " : "", s[i], maxfrac - frac[i], "");
    printf("]");
}

/* In [12]: a two-layer feed-forward network, ReLU then sigmoid. */
static void cell_feed_forward(void)
{
    ag_tensor *inputs = ag_from((ag_real[]){ 3, 4 }, 2, AG_SHAPE(2));
    ag_tensor *w1 = ag_from((ag_real[]){ 0.2f, 0.8f, 0.6f, -0.5f }, 4, AG_SHAPE(2, 2));
    ag_tensor *b1 = ag_from((ag_real[]){ 0.5f, -0.2f }, 2, AG_SHAPE(2));
    ag_tensor *w2 = ag_from((ag_real[]){ 0.4f, 0.9f }, 2, AG_SHAPE(2));
    ag_tensor *b2 = ag_scalar(0.1f);

    ag_tensor *layer1 = ag_relu(ag_linear(inputs, w1, b1));  // (2)
    check(layer1, "layer 1");
    printf("Layer 1 output:  ");
    print_numpy(layer1);
    printf("\n");
    ag_tensor *out = ag_sigmoid(ag_add(ag_matmul(layer1, w2), b2));  // ()
    check(out, "layer 2");
    printf("Final decision (probability) %.7g\n", ag_item(out));
    ag_free(inputs), ag_free(w1), ag_free(b1), ag_free(w2), ag_free(b2);
}

/* Prints "name: value" for a loss module applied to (pred, target). */
static void print_loss(const char *name, ag_loss *fn, ag_tensor *pred, ag_tensor *target)
{
    ag_tensor *l = ag_loss_forward(fn, pred, target);
    check(l, name);
    printf("%s: %.7g\n", name, ag_item(l));
    ag_loss_free(fn);
}

/* In [14]: regression and classification losses. */
static void cell_losses(void)
{
    ag_tensor *y_true_reg = ag_from((ag_real[]){ 2.5f, 0.0f, 2.1f, 7.8f }, 4, AG_SHAPE(4));
    ag_tensor *y_pred_reg = ag_from((ag_real[]){ 3.0f, -0.5f, 2.0f, 7.5f }, 4, AG_SHAPE(4));
    ag_tensor *y_true_cls = ag_from((ag_real[]){ 1, 0, 1 }, 3, AG_SHAPE(3)); /* class indices */
    ag_tensor *y_pred_cls =
        ag_from((ag_real[]){ 0.3f, 0.7f, 0.6f, 0.4f, 0.2f, 0.8f }, 6, AG_SHAPE(3, 2));
    ag_tensor *y_true_bin = ag_from((ag_real[]){ 1, 0, 1 }, 3, AG_SHAPE(3));
    ag_tensor *y_pred_bin = ag_from((ag_real[]){ 0.9f, 0.2f, 0.8f }, 3, AG_SHAPE(3));

    print_loss("MSE Loss", ag_mse_loss_new(AG_MEAN), y_pred_reg, y_true_reg);
    print_loss("MAE Loss", ag_l1_loss_new(AG_MEAN), y_pred_reg, y_true_reg);
    print_loss("Huber Loss", ag_huber_loss_new(AG_MEAN, 1.0), y_pred_reg, y_true_reg);
    print_loss("Binary Cross-Entropy Loss", ag_bce_loss_new(AG_MEAN), y_pred_bin, y_true_bin);
    print_loss("Categorical Cross-Entropy Loss", ag_cross_entropy_loss_new(AG_MEAN, 0.0),
               y_pred_cls, y_true_cls);
    ag_free(y_true_reg), ag_free(y_pred_reg), ag_free(y_true_cls), ag_free(y_pred_cls);
    ag_free(y_true_bin), ag_free(y_pred_bin);
}

/* How each training cell prints its progress. */
static void report_gd(int epoch, int epochs, double loss)
{
    printf("Epoch [%d/%d], Loss: %.4f\n", epoch, epochs, loss);
}

static void report_complete(int epoch, int epochs, double loss)
{
    (void)epochs;
    printf("Epoch %d: Loss = % .4f\n", epoch, loss);
}

/* One full-batch training loop: forward, loss, zero_grad, backward, step. Reports the loss
 * every `every` epochs. */
static void train(ag_module *model, ag_tensor *x, ag_tensor *y, double lr, int epochs,
                  int every, void (*report)(int epoch, int epochs, double loss))
{
    ag_loss *loss_fn = ag_mse_loss_new(AG_MEAN);
    ag_optimizer *optimizer = ag_sgd_new(ag_parameters(model), (ag_sgd_opts){ .lr = lr });
    check(optimizer, "optimizer");
    for (int epoch = 0; epoch < epochs; epoch++) {
        ag_tensor *y_pred = ag_forward(model, x);             // (N, 1)
        ag_tensor *loss = ag_loss_forward(loss_fn, y_pred, y); // ()
        ag_optim_zero_grad(optimizer);
        ag_backward(loss);
        ag_optim_step(optimizer);
        check(loss, "training step");
        if ((epoch + 1) % every == 0)
            report(epoch + 1, epochs, ag_item(loss));
        ag_step_end();
    }
    ag_optim_free(optimizer);
    ag_loss_free(loss_fn);
}

/* In [17]: y = 2x on x = 1..4 with SGD(lr=0.01). */
static void cell_gradient_descent(void)
{
    ag_tensor *x = ag_from((ag_real[]){ 1, 2, 3, 4 }, 4, AG_SHAPE(4, 1));
    ag_tensor *y = ag_from((ag_real[]){ 2, 4, 6, 8 }, 4, AG_SHAPE(4, 1));
    ag_manual_seed(0);
    ag_module *model = ag_linear_new(1, 1, true);
    check(model, "model");
    train(model, x, y, 0.01, 100, 20, report_gd);
    const ag_params *p = ag_parameters(model);
    printf("Learned weight: %.7g\n", ag_item(p->tensors[0]));
    printf("Learned bias: %.7g\n", ag_item(p->tensors[1]));
    ag_module_free(model);
    ag_free(x), ag_free(y);
}

/* The complete example: y = 2x on x = 0..3, Sequential(Linear(1,1)), SGD(lr=0.1). */
static void cell_complete_example(void)
{
    ag_tensor *X = ag_from((ag_real[]){ 0, 1, 2, 3 }, 4, AG_SHAPE(4, 1));
    ag_tensor *y = ag_from((ag_real[]){ 0, 2, 4, 6 }, 4, AG_SHAPE(4, 1));
    ag_manual_seed(0);
    ag_module *model = ag_sequential_new(1, (ag_module *[]){ ag_linear_new(1, 1, true) });
    check(model, "model");
    train(model, X, y, 0.1, 100, 10, report_complete);
    ag_tensor *test_val = ag_from((ag_real[]){ 5.0f }, 1, AG_SHAPE(1));
    ag_tensor *pred = ag_forward(model, test_val);
    check(pred, "prediction");
    printf("Prediction for input 5.0:  %.7g\n", ag_item(pred));
    ag_step_end();
    ag_module_free(model);
    ag_free(X), ag_free(y), ag_free(test_val);
}

int main(void)
{
    cell_neuron();
    printf("\n");
    cell_activations();
    printf("\n");
    cell_feed_forward();
    printf("\n");
    cell_losses();
    printf("\n");
    cell_gradient_descent();
    printf("\n");
    cell_complete_example();
    ag_step_end();
    return 0;
}
