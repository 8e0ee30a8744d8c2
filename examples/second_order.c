/* second_order.c — gradients of gradients (create_graph):
 *   1. a Hessian-vector product of f(x) = 0.5 x^T A x, which must equal A v;
 *   2. a training loop with a gradient penalty, lambda * |d pred / d x|^2, whose optimum for a
 *      linear model has a closed form (ridge regression): w* = cov(x, t) / (var(x) + lambda). */
#include <agrad.h>
#include <math.h>
#include <stdio.h>

/* Hv for f(x) = 0.5 x^T A x: differentiate g = grad f (recorded) against v. */
static int hessian_vector_product(void)
{
    ag_real A[9] = { 4, 1, 0, 1, 3, -1, 0, -1, 2 }, xv[3] = { 1, 2, 3 }, vv[3] = { 1, -1, 0.5 };
    ag_tensor *At = ag_from(A, 9, AG_SHAPE(3, 3)), *v = ag_from(vv, 3, AG_SHAPE(3));
    ag_tensor *x = ag_set_requires_grad(ag_from(xv, 3, AG_SHAPE(3)), true);
    ag_tensor *f = ag_mul_scalar(ag_sum(ag_mul(x, ag_matmul(At, x))), 0.5);  // ()
    ag_tensor *g = NULL;
    ag_grad_of(f, 1, &x, &g, (ag_backward_opts){ .create_graph = true });  // g = A x, (3)
    ag_tensor *hv = NULL;
    ag_grad_of(ag_sum(ag_mul(g, v)), 1, &x, &hv, (ag_backward_opts){ 0 });  // H v, (3)
    if (!hv) {
        fprintf(stderr, "second_order: %s\n", ag_error_message());
        return 1;
    }
    int bad = 0;
    printf("Hv        = ");
    ag_print(hv);
    printf("A v       = [");
    for (int i = 0; i < 3; i++) {
        double av = A[3 * i] * vv[0] + A[3 * i + 1] * vv[1] + A[3 * i + 2] * vv[2];
        printf("%s%.4f", i ? ", " : "", av);
        bad |= fabs(ag_cdata(hv)[i] - av) > 1e-5;
    }
    printf("]\n");
    ag_free(At), ag_free(v), ag_free(x);
    ag_step_end();
    return bad;
}

/* pred = w x + b on 1-d data; loss = mse(pred, t) + lambda * mean((d pred / d x)^2). */
static int gradient_penalty(void)
{
    const double lambda = 0.5;
    ag_real xs[8], ts[8];
    for (int i = 0; i < 8; i++)
        xs[i] = (ag_real)(i - 3.5), ts[i] = (ag_real)(2 * (i - 3.5) + 1 + ((i % 2) ? 0.3 : -0.3));
    ag_tensor *x = ag_set_requires_grad(ag_from(xs, 8, AG_SHAPE(8, 1)), true);
    ag_tensor *t = ag_from(ts, 8, AG_SHAPE(8, 1));
    ag_manual_seed(0);
    ag_module *model = ag_linear_new(1, 1, true);
    ag_optimizer *opt = ag_sgd_new(ag_parameters(model), (ag_sgd_opts){ .lr = 0.05 });
    for (int step = 0; step < 500; step++) {
        ag_optim_zero_grad(opt);
        ag_tensor *pred = ag_forward(model, x);                                  // (8, 1)
        ag_tensor *dpdx = NULL;
        ag_grad_of(ag_sum(pred), 1, &x, &dpdx, (ag_backward_opts){ .create_graph = true });
        ag_tensor *penalty = ag_mul_scalar(ag_mean(ag_mul(dpdx, dpdx)), lambda); // lambda w^2
        ag_tensor *loss = ag_add(ag_mse_loss(pred, t, AG_MEAN), penalty);
        ag_backward(loss);
        if (ag_optim_step(opt) != AG_OK) {
            fprintf(stderr, "second_order: %s\n", ag_error_message());
            return 1;
        }
        ag_step_end();
    }
    double mx = 0, mt = 0, cov = 0, var = 0;
    for (int i = 0; i < 8; i++)
        mx += xs[i] / 8.0, mt += ts[i] / 8.0;
    for (int i = 0; i < 8; i++)
        cov += (xs[i] - mx) * (ts[i] - mt) / 8.0, var += (xs[i] - mx) * (xs[i] - mx) / 8.0;
    double w_star = cov / (var + lambda), w = ag_item(ag_linear_weight(model));
    printf("gradient penalty: learned w = %.5f, closed form %.5f\n", w, w_star);
    ag_optim_free(opt);
    ag_module_free(model);
    ag_free(x), ag_free(t);
    return fabs(w - w_star) > 1e-3;
}

int main(void)
{
    int bad = hessian_vector_product();
    bad |= gradient_penalty();
    return bad;
}
