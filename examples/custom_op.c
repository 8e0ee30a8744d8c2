/* custom_op.c — an op defined outside the library: a ReLU with a learnable negative slope,
 * y = x for x > 0 and a*x otherwise (PyTorch's PReLU with one shared slope). It is checked
 * with gradcheck and gradgradcheck, then trained to recover a slope from data.
 *
 * Built twice by meson: `custom_op` (float, for training) and `custom_op64` (AG_DOUBLE,
 * where gradcheck is sharp). Against an installed library:
 *     cc custom_op.c $(pkg-config --cflags --libs agrad64) -o custom_op64 */
#include <agrad.h>
#include <math.h>
#include <stdio.h>

/* forward: y = x > 0 ? x : a*x, with a a 0-d tensor. Saves x and a for backward. */
static ag_status prelu_forward(ag_ctx *ctx, ag_tensor *const *in, ag_tensor **out)
{
    ag_tensor *x = in[0], *a = in[1];
    if (ag_ndim(a) != 0)
        return ag_fail(AG_ERR_SHAPE, "prelu: the slope must be 0-d, not %d-d", ag_ndim(a));
    out[0] = ag_empty(ag_shape_of(x));
    if (!out[0])
        return ag_error();
    const ag_real *xd = ag_cdata(x), slope = ag_cdata(a)[0];
    ag_real *y = ag_data(out[0]);
    for (size_t i = 0, n = ag_numel(x); i < n; i++)
        y[i] = xd[i] > 0 ? xd[i] : slope * xd[i];
    ag_ctx_save(ctx, x);
    ag_ctx_save(ctx, a);
    return AG_OK;
}

/* backward, with the engine's ops so that it can be differentiated again:
 *   dx = dy * (x > 0 ? 1 : a)  =  dy * (pos + a * (1 - pos))
 *   da = sum(dy * x * (1 - pos))
 * where pos = (sign(x) + 1) / 2 is 1 for x > 0 and 0 for x < 0. */
static ag_status prelu_backward(ag_ctx *ctx, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *x = ag_ctx_saved(ctx, 0), *a = ag_ctx_saved(ctx, 1);
    ag_tensor *pos = ag_mul_scalar(ag_add_scalar(ag_sign(x), 1), 0.5);
    ag_tensor *neg = ag_rsub_scalar(1, pos);
    if (ag_ctx_needs_grad(ctx, 0))
        dx[0] = ag_mul(dy[0], ag_add(pos, ag_mul(neg, a)));
    if (ag_ctx_needs_grad(ctx, 1))
        dx[1] = ag_sum(ag_mul(ag_mul(dy[0], x), neg));
    return AG_OK;
}

static const ag_op PRELU = { .name = "prelu", .n_in = 2, .n_out = 1,
                             .forward = prelu_forward, .backward = prelu_backward };

/* The op's public face: one call. */
static ag_tensor *prelu(ag_tensor *x, ag_tensor *a)
{
    return ag_apply(&PRELU, (ag_tensor *[]){ x, a }, 2, NULL, 0, NULL);
}

static ag_tensor *prelu_fn(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    return ag_sum(ag_mul(prelu(in[0], in[1]), in[0])); /* a non-linear use of the output */
}

int main(void)
{
    /* 1. Check the gradients (inputs kept away from the kink at 0). */
    ag_tensor *x = ag_set_requires_grad(ag_from((ag_real[]){ -1.5, -0.3, 0.4, 2 }, 4, AG_SHAPE(4)), true);
    ag_tensor *a = ag_set_requires_grad(ag_scalar(0.25), true);
    ag_gradcheck_opts o = { 0 };
    if (sizeof(ag_real) == sizeof(float)) /* float differences are coarse: loosen */
        o = (ag_gradcheck_opts){ .eps = 1e-2, .atol = 1e-3, .rtol = 1e-2 };
    ag_gradcheck_report r;
    bool ok1 = ag_gradcheck(prelu_fn, (ag_tensor *[]){ x, a }, 2, NULL, o, &r);
    bool ok2 = ag_gradgradcheck(prelu_fn, (ag_tensor *[]){ x, a }, 2, NULL, o, NULL);
    printf("gradcheck (%s): %s, worst error %.3g\n", sizeof(ag_real) == 8 ? "double" : "float",
           ok1 ? "passed" : "FAILED", r.max_err);
    printf("gradgradcheck: %s\n", ok2 ? "passed" : "FAILED");

    /* 2. Train the slope: data made with a = 0.1, start from 0.25. */
    ag_manual_seed(1);
    ag_tensor *xs = ag_randn(AG_SHAPE(256));
    ag_tensor *target = NULL;
    ag_tensor *true_a = ag_scalar(0.1);
    AG_NO_GRAD { target = ag_clone(prelu(xs, true_a)); }
    ag_optimizer *opt = ag_sgd_new(&(ag_params){ 1, &a, NULL }, (ag_sgd_opts){ .lr = 0.5 });
    for (int step = 0; step < 200; step++) {
        ag_optim_zero_grad(opt);
        ag_backward(ag_mse_loss(prelu(xs, a), target, AG_MEAN));
        if (ag_optim_step(opt) != AG_OK) {
            fprintf(stderr, "custom_op: %s\n", ag_error_message());
            return 1;
        }
        ag_step_end();
    }
    printf("learned slope %.4f (true 0.1)\n", ag_item(a));
    bool ok3 = fabs(ag_item(a) - 0.1) < 1e-3;

    ag_optim_free(opt);
    ag_free(x), ag_free(a), ag_free(xs), ag_free(target), ag_free(true_a);
    ag_step_end();
    return ok1 && ok2 && ok3 ? 0 : 1;
}
