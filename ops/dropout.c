/* dropout.c — inverted dropout (PyTorch's F.dropout).
 *
 * In training each element is kept with probability 1 - p and then scaled by 1 / (1 - p), so
 * the expected value of every element is unchanged and evaluation needs no rescaling:
 *
 *     y = x * mask,   mask_i = (u_i < 1 - p) / (1 - p),   u_i uniform in [0, 1)
 *     dx = dy * mask
 *
 * The mask draws one number per element, in order, from the calling thread's generator, so
 * the same seed gives the same mask. It is a constant of the graph, so the backward (a
 * product with it) is differentiable again. p = 0 and evaluation return x itself, as
 * PyTorch does; p = 1 gives zeros (and zero gradients). */
#include "ops_internal.h"

#include <math.h>

/* y = x * mask with a fresh mask; saves the mask. */
static ag_status dropout_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    double p = *(const double *)ag_ctx_attrs(c);
    ag_tensor *mask = ag_empty(in[0]->shape);
    if (!mask || !(out[0] = ag_empty(in[0]->shape)))
        return ag_error();
    ag_real scale = p < 1 ? (ag_real)(1 / (1 - p)) : 0;
    for (size_t i = 0; i < mask->numel; i++) {
        mask->data[i] = ag_rand_uniform() < 1 - p ? scale : 0;
        out[0]->data[i] = in[0]->data[i] * mask->data[i];
    }
    ag_ctx_save(c, mask);
    return AG_OK;
}

/* dx = dy * mask */
static ag_status dropout_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    dx[0] = ag_mul(dy[0], ag_ctx_saved(c, 0));
    return AG_OK;
}

static const ag_op DROPOUT = { .name = "dropout", .n_in = 1, .n_out = 1,
                               .forward = dropout_fwd, .backward = dropout_bwd };

/* F.dropout(x, p, training): p must be in [0, 1] (PyTorch's message when it is not). */
ag_tensor *ag_dropout(ag_tensor *x, double p, bool training)
{
    if (!agi_check_live(x, "dropout", 0))
        return NULL;
    if (!(p >= 0 && p <= 1))
        return ag_fail(AG_ERR_ARG, "dropout: probability has to be between 0 and 1, but got %g",
                       p),
               NULL;
    if (!training || p == 0)
        return x;
    return ag_apply(&DROPOUT, &x, 1, &p, sizeof p, NULL);
}
