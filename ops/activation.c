/* activation.c — relu, sigmoid, tanh.
 *
 * Their backward is itself an op (relu_backward, sigmoid_backward, tanh_backward, as in
 * PyTorch's derivatives.yaml): one fused pass instead of three, and still differentiable
 * twice because each of those ops has its own backward. */
#include "scalar_internal.h"
#include "unary_internal.h"

#include <tgmath.h>

#include "vmath.h"

/* --- the fused backward ops: (dy, y) -> dx ----------------------------------------------- */

static ag_status fused_bwd_forward(ag_tensor *const *in, ag_tensor **out,
                                   agi_pair_kernel k,
                                   const char *name)
{
    if (!agi_same_shape(in[0]->shape, in[1]->shape))
        return agi_fail_shapes(name, "differ", in[0]->shape, in[1]->shape);
    if (!(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    agi_map_pair(k, out[0]->data, in[0]->data, in[1]->data, (int64_t)in[0]->numel);
    return AG_OK;
}

static ag_tensor *apply_pair(const ag_op *op, ag_tensor *dy, ag_tensor *y)
{
    ag_tensor *in[2] = { dy, y };
    return ag_apply(op, in, 2, NULL, 0, NULL);
}

/* relu_backward(dy, y) = dy * (y > 0); its own gradient: d dy = relu_backward(g, y), d y = 0 */
AGI_SIMD static void k_relu_bwd(ag_real *o, const ag_real *dy, const ag_real *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ag_real d = dy[i]; /* loaded unconditionally: the select vectorises, no branch */
        o[i] = y[i] > 0 ? d : 0;
    }
}
static ag_status relu_bwd_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_ctx_save(c, in[1]);
    return fused_bwd_forward(in, out, k_relu_bwd, "relu_backward");
}
static ag_status relu_bwd_bwd(ag_ctx *c, ag_tensor *const *g, ag_tensor **dx);
static const ag_op RELU_BWD = { .name = "relu_backward", .n_in = 2, .n_out = 1,
                                .forward = relu_bwd_fwd, .backward = relu_bwd_bwd };
static ag_status relu_bwd_bwd(ag_ctx *c, ag_tensor *const *g, ag_tensor **dx)
{
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = apply_pair(&RELU_BWD, g[0], ag_ctx_saved(c, 0));
    return AG_OK;
}

/* tanh_backward(dy, y) = dy * (1 - y^2); d dy = tanh_backward(g, y), d y = -2 g dy y */
AGI_SIMD static void k_tanh_bwd(ag_real *o, const ag_real *dy, const ag_real *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = dy[i] * (1 - y[i] * y[i]);
}
static ag_status tanh_bwd_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_ctx_save(c, in[0]);
    ag_ctx_save(c, in[1]);
    return fused_bwd_forward(in, out, k_tanh_bwd, "tanh_backward");
}
static ag_status tanh_bwd_bwd(ag_ctx *c, ag_tensor *const *g, ag_tensor **dx);
static const ag_op TANH_BWD = { .name = "tanh_backward", .n_in = 2, .n_out = 1,
                                .forward = tanh_bwd_fwd, .backward = tanh_bwd_bwd };
static ag_status tanh_bwd_bwd(ag_ctx *c, ag_tensor *const *g, ag_tensor **dx)
{
    ag_tensor *dy = ag_ctx_saved(c, 0), *y = ag_ctx_saved(c, 1);
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = apply_pair(&TANH_BWD, g[0], y);
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_mul(g[0], ag_mul_scalar(ag_mul(dy, y), -2));
    return AG_OK;
}

/* sigmoid_backward(dy, y) = dy * y * (1 - y); d dy = sigmoid_backward(g, y),
 * d y = g dy (1 - 2y) */
AGI_SIMD static void k_sigmoid_bwd(ag_real *o, const ag_real *dy, const ag_real *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = dy[i] * y[i] * (1 - y[i]);
}
static ag_status sigmoid_bwd_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ag_ctx_save(c, in[0]);
    ag_ctx_save(c, in[1]);
    return fused_bwd_forward(in, out, k_sigmoid_bwd, "sigmoid_backward");
}
static ag_status sigmoid_bwd_bwd(ag_ctx *c, ag_tensor *const *g, ag_tensor **dx);
static const ag_op SIGMOID_BWD = { .name = "sigmoid_backward", .n_in = 2, .n_out = 1,
                                   .forward = sigmoid_bwd_fwd, .backward = sigmoid_bwd_bwd };
static ag_status sigmoid_bwd_bwd(ag_ctx *c, ag_tensor *const *g, ag_tensor **dx)
{
    ag_tensor *dy = ag_ctx_saved(c, 0), *y = ag_ctx_saved(c, 1);
    if (ag_ctx_needs_grad(c, 0))
        dx[0] = apply_pair(&SIGMOID_BWD, g[0], y);
    if (ag_ctx_needs_grad(c, 1))
        dx[1] = ag_mul(ag_mul(g[0], dy), ag_rsub_scalar(1, ag_mul_scalar(y, 2)));
    return AG_OK;
}

/* --- the activations --------------------------------------------------------------------- */

/* relu(x) = max(0, x), NaN passing through as in PyTorch;  dx = relu_backward(dy, y)
 * (gradient 0 at 0 and at NaN) */
AGI_SIMD static void k_relu(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] <= 0 ? 0 : x[i];
}
static ag_status relu_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    agi_ctx_takes_lazy_dy(c, AGI_DY_UNIFORM);
    return agi_unary_forward(c, in, out, k_relu, AGI_SAVE_OUT);
}

/* relu_backward of a uniform dy g (loss = sum(relu(x)), no create_graph), where its masked
 * gradient is filled: y > 0 ? g : 0, without reading an input-sized gradient of copies of g. */
AGI_SIMD static void k_relu_bwd_uniform(ag_real *o, const ag_real *y, int64_t n, const void *g)
{
    ag_real d = *(const ag_real *)g;
    for (int64_t i = 0; i < n; i++)
        o[i] = y[i] > 0 ? d : 0;
}
/* The filling of a masked gradient (agi_dense, deposit) is this kernel, so that the values
 * are bitwise those relu's backward would have written. */
void agi_relu_bwd_fill(ag_real *o, const ag_real *y, size_t n, ag_real v)
{
    agi_map1(k_relu_bwd_uniform, o, y, (int64_t)n, &v);
}
/* With a uniform dy the result stays lazy (agi_masked): its reader, addcmul's fused backward
 * or agi_dense with agi_relu_bwd_fill, computes it in its own pass. */
static ag_status relu_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    ag_tensor *y = ag_ctx_saved(c, 0);
    if (!y || !dy[0]->uniform || agi_is_masked(dy[0]))
        dx[0] = apply_pair(&RELU_BWD, dy[0], y);
    else
        dx[0] = agi_masked(dy[0], y);
    return AG_OK;
}
static const ag_op RELU = { .name = "relu", .n_in = 1, .n_out = 1, .forward = relu_fwd, .backward = relu_bwd };
ag_tensor *ag_relu(ag_tensor *x) { return agi_elementwise1(&RELU, AGI_S_RELU, x, NULL, 0); }

/* sigmoid(x) = 1 / (1 + e^-x) in double: no overflow for any x (vmath.h) */
AGI_SIMD static void k_sigmoid(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = (ag_real)agi_sigmoid(x[i]);
}
static ag_status sigmoid_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_sigmoid, AGI_SAVE_OUT);
}
static ag_status sigmoid_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = apply_pair(&SIGMOID_BWD, dy[0], ag_ctx_saved(c, 0));
    return AG_OK;
}
static const ag_op SIGMOID = { .name = "sigmoid", .n_in = 1, .n_out = 1, .forward = sigmoid_fwd, .backward = sigmoid_bwd };
ag_tensor *ag_sigmoid(ag_tensor *x) { return agi_elementwise1(&SIGMOID, AGI_S_SIGMOID, x, NULL, 0); }

/* tanh(x);  dx = tanh_backward(dy, y) */
AGI_SIMD static void k_tanh(ag_real *y, const ag_real *x, int64_t n, const void *at)
{
    (void)at;
    for (int64_t i = 0; i < n; i++)
        y[i] = (ag_real)agi_tanh(x[i]);
}
static ag_status tanh_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    return agi_unary_forward(c, in, out, k_tanh, AGI_SAVE_OUT);
}
static ag_status tanh_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = apply_pair(&TANH_BWD, dy[0], ag_ctx_saved(c, 0));
    return AG_OK;
}
static const ag_op TANH = { .name = "tanh", .n_in = 1, .n_out = 1, .forward = tanh_fwd, .backward = tanh_bwd };
ag_tensor *ag_tanh(ag_tensor *x) { return agi_elementwise1(&TANH, AGI_S_TANH, x, NULL, 0); }
