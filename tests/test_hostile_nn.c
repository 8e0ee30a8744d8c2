/* test_hostile_nn.c — every function of nn.h fed hostile input: NULL modules, tensors and
 * names, bad sizes and options, inputs that do not fit, modules listed twice or owned by
 * another, freeing a child, class-index targets that are not classes, and ownership on every
 * failure path (counted through the allocation hook: a failed constructor leaves nothing
 * behind). Each error's code and full message are pinned. Double build. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "agrad.h"
#include "hostile_util.h"

/* Live blocks handed out through the hook: a failure path must bring it back. */
static atomic_long g_live;
static void *count_alloc(size_t n, void *u)
{
    (void)u;
    void *p = malloc(n);
    if (p)
        g_live++;
    return p;
}
static void count_release(void *p, void *u)
{
    (void)u;
    if (p)
        g_live--;
    free(p);
}

static void setup(void) { ag_set_allocator(&(ag_allocator){ count_alloc, count_release, NULL }); }
static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
    ag_set_allocator(NULL);
}
TestSuite(hostile_nn, .init = setup, .fini = teardown);

/* --- constructors ---------------------------------------------------------------------- */

Test(hostile_nn, constructors_reject_bad_sizes_and_options)
{
    long base = g_live;
    FAILS(ag_linear_new(0, 3, true), AG_ERR_ARG,
          "Linear: in_features 0 and out_features 3 must both be at least 1");
    FAILS(ag_linear_new(4, -1, false), AG_ERR_ARG,
          "Linear: in_features 4 and out_features -1 must both be at least 1");
    FAILS(ag_dropout_new(1.5), AG_ERR_ARG, "Dropout: probability has to be between 0 and 1, but got 1.5");
    FAILS(ag_dropout_new(NAN), AG_ERR_ARG, "Dropout: probability has to be between 0 and 1, but got nan");
    FAILS(ag_layer_norm_new(AG_SCALAR, 1e-5, true), AG_ERR_ARG,
          "LayerNorm: normalized_shape needs at least one dim, each at least 1");
    FAILS(ag_layer_norm_new(AG_SHAPE(3, 0), 1e-5, true), AG_ERR_ARG,
          "LayerNorm: normalized_shape needs at least one dim, each at least 1");
    FAILS(ag_layer_norm_new((ag_shape){ .ndim = 9 }, 1e-5, true), AG_ERR_ARG,
          "LayerNorm: normalized_shape needs at least one dim, each at least 1");
    FAILS(ag_layer_norm_new(AG_SHAPE(3), -1, true), AG_ERR_ARG,
          "LayerNorm: eps must be finite and >= 0 (got -1)");
    FAILS(ag_batch_norm1d_new(0, 1e-5, 0.1, true, true), AG_ERR_ARG,
          "BatchNorm1d: num_features must be at least 1 (got 0)");
    FAILS(ag_batch_norm1d_new(3, INFINITY, 0.1, true, true), AG_ERR_ARG,
          "BatchNorm1d: eps must be finite and >= 0 (got inf)");
    FAILS(ag_batch_norm1d_new(3, 1e-5, 2, true, true), AG_ERR_ARG,
          "BatchNorm1d: momentum must be in [0, 1], or NAN for a cumulative average (got 2)");
    FAILS(ag_embedding_new(0, 3), AG_ERR_ARG,
          "Embedding: num_embeddings 0 and embedding_dim 3 must both be at least 1");
    FAILS(ag_embedding_new(4, -2), AG_ERR_ARG,
          "Embedding: num_embeddings 4 and embedding_dim -2 must both be at least 1");
    FAILS(ag_mse_loss_new((ag_reduction)9), AG_ERR_ARG,
          "MSELoss: reduction 9 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_cross_entropy_loss_new(AG_BATCHMEAN, 0), AG_ERR_ARG,
          "CrossEntropyLoss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_kl_div_loss_new((ag_reduction)-1, false), AG_ERR_ARG,
          "KLDivLoss: reduction -1 is not one it takes (AG_MEAN, AG_SUM, AG_NONE, AG_BATCHMEAN)");
    FAILS(ag_multi_margin_loss_new(1, 1, (ag_reduction)4), AG_ERR_ARG,
          "MultiMarginLoss: reduction 4 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    /* every loss constructor checks its reduction the same way */
    const ag_reduction bad = (ag_reduction)AG_BATCHMEAN;
    FAILS(ag_l1_loss_new(bad), AG_ERR_ARG, "L1Loss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_huber_loss_new(bad, 1), AG_ERR_ARG,
          "HuberLoss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_smooth_l1_loss_new(bad, 1), AG_ERR_ARG,
          "SmoothL1Loss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_bce_loss_new(bad), AG_ERR_ARG, "BCELoss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_bce_with_logits_loss_new(bad), AG_ERR_ARG,
          "BCEWithLogitsLoss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_nll_loss_new(bad), AG_ERR_ARG, "NLLLoss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    FAILS(ag_hinge_embedding_loss_new(1, bad), AG_ERR_ARG,
          "HingeEmbeddingLoss: reduction 3 is not one it takes (AG_MEAN, AG_SUM, AG_NONE)");
    cr_assert_eq(g_live, base, "a refused constructor allocates nothing that stays");
    ag_loss *dice = ag_dice_loss_new(NAN);
    cr_assert_not_null(dice, "DiceLoss has no reduction; its eps is used as given");
    ag_loss_free(dice);
    ag_loss *kl = ag_kl_div_loss_new(AG_BATCHMEAN, true);
    cr_assert_not_null(kl, "KLDivLoss takes batchmean");
    ag_loss_free(kl);
    /* options the functional loss checks are checked at forward, with its message */
    ag_loss *h = ag_huber_loss_new(AG_MEAN, -1);
    ag_tensor *x = ag_zeros(AG_SHAPE(2));
    FAILS(ag_loss_forward(h, x, x), AG_ERR_ARG, "huber_loss: delta must be positive, got -1");
    ag_loss_free(h), ag_free(x);
    ag_step_end();
}

/* --- Sequential ownership -------------------------------------------------------------- */

Test(hostile_nn, sequential_rejects_bad_lists_and_frees_what_it_was_given)
{
    long base = g_live;
    FAILS(ag_sequential_new(-1, NULL), AG_ERR_ARG, "Sequential: -1 modules (a negative count)");
    FAILS(ag_sequential_new(2, NULL), AG_ERR_ARG, "Sequential: 2 modules at a NULL array");
    cr_assert_eq(g_live, base);

    ag_module *mods[3] = { ag_linear_new(2, 3, true), NULL, ag_relu_new() };
    FAILS(ag_sequential_new(3, mods), AG_ERR_ARG, "Sequential: module 1 is NULL");
    cr_assert_eq(g_live, base, "the modules it was given were freed");

    ag_module *a = ag_linear_new(2, 2, false);
    FAILS(ag_sequential_new(3, (ag_module *[]){ a, ag_tanh_new(), a }), AG_ERR_ARG,
          "Sequential: module 2 is module 0 again");
    cr_assert_eq(g_live, base, "a module listed twice is freed once");

    ag_module *inner = ag_linear_new(2, 2, true);
    ag_module *owner = ag_sequential_new(1, &inner);
    cr_assert_not_null(owner);
    long with_owner = g_live;
    ag_module *s = ag_sigmoid_new();
    FAILS(ag_sequential_new(2, (ag_module *[]){ s, inner }), AG_ERR_ARG,
          "Sequential: module 1 (a Linear) already belongs to a Sequential");
    cr_assert_eq(g_live, with_owner, "the free one was freed, the owned one left to its owner");
    cr_assert_eq(ag_parameters(owner)->n, 2, "the owner still has it");

    ag_module_free(inner);
    EXPECT_ERR(AG_ERR_ARG, "module_free: this Linear belongs to a Sequential; free that one instead");
    ag_module_free(owner);
    ag_module_free(NULL);
    cr_assert_eq(g_live, base);

    ag_module *empty = ag_sequential_new(0, NULL);
    ag_tensor *x = ag_ones(AG_SHAPE(2));
    cr_assert_eq(ag_forward(empty, x), x, "an empty Sequential returns its input");
    cr_assert_eq(ag_parameters(empty)->n, 0);
    ag_module_free(empty), ag_free(x);
}

/* --- forward --------------------------------------------------------------------------- */

Test(hostile_nn, forward_checks_module_and_input)
{
    ag_module *lin = ag_linear_new(4, 3, true);
    ag_module *seq = ag_sequential_new(2, (ag_module *[]){ ag_linear_new(4, 8, true), ag_relu_new() });
    ag_tensor *x = ag_ones(AG_SHAPE(2, 4)), *bad = ag_ones(AG_SHAPE(2, 5)), *s = ag_scalar(1);
    FAILS(ag_forward(NULL, x), AG_ERR_ARG, "forward: module is NULL");
    FAILS(ag_forward(lin, NULL), AG_ERR_ARG, "Linear: argument 0 is NULL");
    FAILS(ag_forward(seq, NULL), AG_ERR_ARG, "Sequential: argument 0 is NULL");
    FAILS(ag_forward(lin, bad), AG_ERR_SHAPE, "Linear: input of shape [2,5] does not fit in_features 4");
    FAILS(ag_forward(lin, s), AG_ERR_SHAPE, "Linear: input of shape [] does not fit in_features 4");
    FAILS(ag_forward(seq, bad), AG_ERR_SHAPE, "Linear: input of shape [2,5] does not fit in_features 4");
    ag_tensor *old = ag_add(x, x);
    ag_step_end();
    FAILS(ag_forward(lin, old), AG_ERR_STATE, STALE("Linear", 0));
    /* an empty batch goes through: PyTorch's Linear maps (0, 4) to (0, 3) */
    ag_tensor *e = ag_zeros(AG_SHAPE(0, 4));
    ag_tensor *y = ag_forward(seq, e);
    cr_assert_not_null(y);
    cr_assert_eq(ag_size(y, 0), 0);
    cr_assert_eq(ag_size(y, 1), 8);
    /* NaN in, NaN out (through relu as well) */
    ag_tensor *n = ag_full(AG_SHAPE(1, 4), NAN);
    ag_tensor *yn = ag_forward(seq, n);
    for (int j = 0; j < 8; j++)
        cr_assert(isnan(ag_cdata(yn)[j]));
    ag_free(x), ag_free(bad), ag_free(s), ag_free(e), ag_free(n);
    ag_module_free(lin), ag_module_free(seq);
}

/* A user module whose forward returns NULL without saying why. */
static ag_tensor *silent_forward(ag_module *m, ag_tensor *x)
{
    (void)m, (void)x;
    return NULL;
}
static int g_freed_self;
static void free_self(void *p)
{
    g_freed_self++;
    free(p);
}
static const ag_module_def SILENT = { "Silent", silent_forward, free_self };
static const ag_module_def NO_FORWARD = { "NoForward", NULL, free_self };

Test(hostile_nn, user_modules_and_parameters)
{
    FAILS(ag_module_new(NULL, NULL), AG_ERR_ARG,
          "module_new: the definition is NULL or lacks a name or forward");
    FAILS(ag_module_new(&NO_FORWARD, NULL), AG_ERR_ARG,
          "module_new: the definition is NULL or lacks a name or forward");
    cr_assert_null(ag_module_self(NULL));
    ag_module *m = ag_module_new(&SILENT, malloc(16));
    cr_assert_not_null(ag_module_self(m));
    ag_tensor *x = ag_ones(AG_SHAPE(2));
    FAILS(ag_forward(m, x), AG_ERR_STATE, "Silent: forward returned NULL without reporting an error");

    ag_tensor *op_result = ag_add(x, x); /* (the tape's first chunk is allocated here) */
    long base = g_live;
    cr_assert_eq(ag_module_add_param(NULL, "w", ag_zeros(AG_SHAPE(2))), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "module_add_param: module is NULL");
    cr_assert_eq(g_live, base, "the tensor was taken (freed) all the same");
    cr_assert_eq(ag_module_add_param(m, NULL, ag_zeros(AG_SHAPE(2))), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: a parameter needs a non-empty name");
    cr_assert_eq(ag_module_add_param(m, "", ag_zeros(AG_SHAPE(2))), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: a parameter needs a non-empty name");
    cr_assert_eq(ag_module_add_param(m, "a.b", ag_zeros(AG_SHAPE(2))), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: parameter name 'a.b' must not contain '.'");
    cr_assert_eq(ag_module_add_param(m, "w", NULL), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: argument 0 is NULL");
    cr_assert_eq(ag_module_add_param(m, "w", op_result), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: parameter 'w' must be a heap tensor (a leaf), not an op "
                           "result; use ag_clone");
    cr_assert_eq(g_live, base, "every refused tensor was freed");

    ag_tensor *w = ag_zeros(AG_SHAPE(2));
    cr_assert_eq(ag_module_add_param(m, "w", w), AG_OK);
    cr_assert(ag_requires_grad(w));
    cr_assert_eq(ag_module_add_param(m, "w", ag_zeros(AG_SHAPE(3))), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: the name 'w' is already taken");
    cr_assert_eq(ag_module_add_param(m, "w2", w), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: this tensor is already parameter 'w'");
    cr_assert_eq(ag_parameters(m)->n, 1, "w stays registered once");
    cr_assert_eq(ag_module_add_buffer(m, "w", ag_zeros(AG_SHAPE(1))), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: the name 'w' is already taken");
    cr_assert_eq(ag_module_add_buffer(m, "b", w), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: this tensor is already parameter 'w'");
    cr_assert_eq(ag_module_add_buffer(NULL, "b", ag_zeros(AG_SHAPE(1))), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "module_add_buffer: module is NULL");
    ag_tensor *buf = ag_zeros(AG_SHAPE(1));
    cr_assert_eq(ag_module_add_buffer(m, "b", buf), AG_OK);
    cr_assert_not(ag_requires_grad(buf), "a buffer is left as it is");
    cr_assert_eq(ag_module_add_param(m, "p", buf), AG_ERR_ARG);
    EXPECT_ERR(AG_ERR_ARG, "Silent: this tensor is already buffer 'b'");
    cr_assert_eq(ag_module_buffers(m)->n, 1);

    FAILS(ag_parameters(NULL), AG_ERR_ARG, "parameters: module is NULL");
    FAILS(ag_module_buffers(NULL), AG_ERR_ARG, "module_buffers: module is NULL");
    ag_module_train(NULL, false);
    EXPECT_ERR(AG_ERR_ARG, "module_train: module is NULL");
    cr_assert_not(ag_module_is_training(NULL));
    EXPECT_ERR(AG_ERR_ARG, "module_is_training: module is NULL");
    cr_assert_null(ag_module_name(NULL));
    ag_module_zero_grad(NULL);
    EXPECT_NO_ERR();
    g_freed_self = 0;
    ag_module_free(m);
    cr_assert_eq(g_freed_self, 1);
    ag_free(x);
}

Test(hostile_nn, linear_accessors)
{
    ag_module *lin = ag_linear_new(2, 3, false), *r = ag_relu_new();
    FAILS(ag_linear_weight(NULL), AG_ERR_ARG, "linear_weight: module is NULL, not a Linear");
    FAILS(ag_linear_weight(r), AG_ERR_ARG, "linear_weight: module is ReLU, not a Linear");
    FAILS(ag_linear_bias(r), AG_ERR_ARG, "linear_bias: module is ReLU, not a Linear");
    cr_assert_null(ag_linear_bias(lin), "no bias, and no error");
    EXPECT_NO_ERR();
    cr_assert_not_null(ag_linear_weight(lin));
    ag_module_free(lin), ag_module_free(r);
}

/* --- losses as modules ----------------------------------------------------------------- */

Test(hostile_nn, loss_modules_check_inputs_and_class_targets)
{
    ag_loss *mse = ag_mse_loss_new(AG_MEAN), *ce = ag_cross_entropy_loss_new(AG_MEAN, 0);
    ag_loss *nll = ag_nll_loss_new(AG_SUM), *mm = ag_multi_margin_loss_new(1, 1, AG_MEAN);
    ag_tensor *x = ag_zeros(AG_SHAPE(2, 3)), *v = ag_zeros(AG_SHAPE(2));
    FAILS(ag_loss_forward(NULL, x, x), AG_ERR_ARG, "loss_forward: loss is NULL");
    FAILS(ag_loss_forward(mse, NULL, x), AG_ERR_ARG, "MSELoss: argument 0 is NULL");
    FAILS(ag_loss_forward(mse, x, NULL), AG_ERR_ARG, "MSELoss: argument 1 is NULL");
    FAILS(ag_loss_forward(mse, x, ag_zeros_tape(AG_SHAPE(4))), AG_ERR_SHAPE,
          "mse_loss: shapes [2,3] and [4] cannot be broadcast");
    ag_tensor *t = ag_from((ag_real[]){ 0, 1.5 }, 2, AG_SHAPE(2));
    FAILS(ag_loss_forward(ce, x, t), AG_ERR_ARG,
          "CrossEntropyLoss: target[1] = 1.5 is not a class index (a whole number in [0, 3))");
    ag_data(t)[1] = 3;
    FAILS(ag_loss_forward(nll, x, t), AG_ERR_ARG,
          "NLLLoss: target[1] = 3 is not a class index (a whole number in [0, 3))");
    ag_data(t)[1] = -1;
    FAILS(ag_loss_forward(mm, x, t), AG_ERR_ARG,
          "MultiMarginLoss: target[1] = -1 is not a class index (a whole number in [0, 3))");
    ag_data(t)[1] = NAN;
    FAILS(ag_loss_forward(ce, x, t), AG_ERR_ARG,
          "CrossEntropyLoss: target[1] = nan is not a class index (a whole number in [0, 3))");
    ag_tensor *t3 = ag_zeros(AG_SHAPE(3));
    FAILS(ag_loss_forward(ce, x, t3), AG_ERR_SHAPE,
          "CrossEntropyLoss: target of shape [3] does not fit input of shape [2,3] (class indices "
          "need the input's shape without the class dim)");
    ag_tensor *s = ag_scalar(0);
    FAILS(ag_loss_forward(nll, s, s), AG_ERR_SHAPE,
          "NLLLoss: target of shape [] does not fit input of shape [] (class indices need the "
          "input's shape without the class dim)");
    /* a target of the input's shape holds probabilities */
    ag_tensor *probs = ag_full(AG_SHAPE(2, 3), 1.0 / 3);
    cr_assert_not_null(ag_loss_forward(ce, x, probs));
    EXPECT_NO_ERR();
    /* an empty batch: mean of nothing is NaN, as PyTorch */
    ag_tensor *e = ag_zeros(AG_SHAPE(0, 3)), *et = ag_zeros(AG_SHAPE(0));
    cr_assert(isnan(ag_item(ag_loss_forward(ce, e, et))));
    cr_assert_eq(ag_item(ag_loss_forward(nll, e, et)), 0);
    cr_assert_null(ag_loss_name(NULL));
    cr_assert_str_eq(ag_loss_name(mm), "MultiMarginLoss");
    ag_loss_free(NULL);
    ag_loss_free(mse), ag_loss_free(ce), ag_loss_free(nll), ag_loss_free(mm);
    ag_free(x), ag_free(v), ag_free(t), ag_free(t3), ag_free(s), ag_free(probs), ag_free(e);
    ag_free(et);
}

/* --- training layers ------------------------------------------------------------------- */

Test(hostile_nn, training_layers_check_inputs_and_change_nothing_on_failure)
{
    ag_module *bn = ag_batch_norm1d_new(2, 1e-5, 0.1, true, true);
    ag_tensor *bad = ag_zeros(AG_SHAPE(4, 3)), *v = ag_zeros(AG_SHAPE(2));
    FAILS(ag_forward(bn, v), AG_ERR_SHAPE, "BatchNorm1d: expected 2D or 3D input (got 1D input)");
    FAILS(ag_forward(bn, bad), AG_ERR_SHAPE, "BatchNorm1d: input of shape [4,3] does not fit num_features 2");
    /* one value per channel in training: refused, and the running statistics are untouched */
    const ag_params *bufs = ag_module_buffers(bn);
    cr_assert_eq(bufs->n, 3);
    ag_tensor *one = ag_from((ag_real[]){ 5, 7 }, 2, AG_SHAPE(1, 2));
    FAILS(ag_forward(bn, one), AG_ERR_ARG,
          "batch_norm: expected more than 1 value per channel when training, got input of shape "
          "[1,2]");
    cr_assert_eq(ag_cdata(bufs->tensors[0])[0], 0, "running_mean unchanged");
    cr_assert_eq(ag_cdata(bufs->tensors[1])[0], 1, "running_var unchanged");
    cr_assert_eq(ag_item(bufs->tensors[2]), 0, "num_batches_tracked unchanged");
    /* while an error is pending, a forward changes nothing either */
    ag_tensor *ok = ag_from((ag_real[]){ 1, 2, 3, 4 }, 4, AG_SHAPE(2, 2));
    ag_fail(AG_ERR_IO, "pending");
    FAILS(ag_forward(bn, ok), AG_ERR_IO, "pending");
    cr_assert_eq(ag_item(bufs->tensors[2]), 0);
    cr_assert_not_null(ag_forward(bn, ok));
    cr_assert_eq(ag_item(bufs->tensors[2]), 1);
    ag_module_train(bn, false);
    cr_assert_not(ag_module_is_training(bn));
    cr_assert_not_null(ag_forward(bn, one), "eval mode takes a single row");

    ag_module *ln = ag_layer_norm_new(AG_SHAPE(3), 1e-5, true);
    FAILS(ag_forward(ln, v), AG_ERR_SHAPE,
          "layer_norm: normalized_shape [3] does not match the last dims of input of shape [2]");

    ag_module *emb = ag_embedding_new(4, 2), *lin = ag_linear_new(1, 1, true);
    ag_tensor *idx = ag_from((ag_real[]){ 1, 4 }, 2, AG_SHAPE(2));
    FAILS(ag_forward(emb, idx), AG_ERR_ARG,
          "Embedding: input[1] = 4 is not an index (a whole number in [0, 4))");
    FAILS(ag_embedding_forward(NULL, (int64_t[]){ 0 }, AG_SHAPE(1)), AG_ERR_ARG,
          "embedding_forward: module is NULL, not an Embedding");
    FAILS(ag_embedding_forward(lin, (int64_t[]){ 0 }, AG_SHAPE(1)), AG_ERR_ARG,
          "embedding_forward: module is Linear, not an Embedding");
    FAILS(ag_embedding_forward(emb, (int64_t[]){ 0, -1 }, AG_SHAPE(2)), AG_ERR_ARG,
          "embedding: index -1 (at position 1) is out of range for 4 embeddings");
    FAILS(ag_embedding_forward(emb, NULL, AG_SHAPE(2)), AG_ERR_ARG, "embedding: indices are NULL");
    cr_assert_not_null(ag_embedding_forward(emb, NULL, AG_SHAPE(0)), "no indices: an empty result");

    ag_module *drop = ag_dropout_new(1);
    ag_tensor *d = ag_forward(drop, ok);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ag_cdata(d)[i], 0, "p = 1 gives zeros");
    ag_module_train(drop, false);
    cr_assert_eq(ag_forward(drop, ok), ok, "eval mode: the identity");
    EXPECT_NO_ERR();
    ag_module_free(bn), ag_module_free(ln), ag_module_free(emb), ag_module_free(lin);
    ag_module_free(drop);
    ag_free(bad), ag_free(v), ag_free(one), ag_free(ok), ag_free(idx);
}

/* --- allocation failures in constructors ----------------------------------------------- */

static long g_fail_at = -1, g_count;
static void *failing_alloc(size_t n, void *u)
{
    if (g_count++ == g_fail_at)
        return NULL;
    return count_alloc(n, u);
}

/* Each constructor, with its n-th allocation failing for every n until it succeeds: NULL
 * with AG_ERR_OOM and nothing left allocated, then success. */
Test(hostile_nn, constructors_under_failing_allocations)
{
    ag_set_allocator(&(ag_allocator){ failing_alloc, count_release, NULL });
    for (int which = 0; which < 8; which++) {
        for (long n = 0;; n++) {
            long base = g_live;
            g_count = 0;
            g_fail_at = n;
            ag_module *m = NULL;
            ag_loss *l = NULL;
            switch (which) {
            case 0: m = ag_linear_new(3, 2, true); break;
            case 1: m = ag_sequential_new(3, (ag_module *[]){ ag_linear_new(4, 8, true), ag_relu_new(),
                                                              ag_linear_new(8, 3, true) }); break;
            case 2: m = ag_batch_norm1d_new(3, 1e-5, 0.1, true, true); break;
            case 3: m = ag_layer_norm_new(AG_SHAPE(2, 3), 1e-5, true); break;
            case 4: m = ag_embedding_new(5, 2); break;
            case 5: m = ag_dropout_new(0.5); break;
            case 6: l = ag_cross_entropy_loss_new(AG_MEAN, 0.1); break;
            case 7: {
                m = ag_sequential_new(1, (ag_module *[]){ ag_linear_new(2, 2, true) });
                if (m && !ag_parameters(m)) { /* the list is one more allocation */
                    ag_module_free(m);
                    m = NULL;
                }
                break;
            }
            }
            g_fail_at = -1;
            if (m || l) {
                cr_assert_eq(ag_error(), AG_OK, "constructor %d: success after %ld", which, n);
                ag_module_free(m);
                ag_loss_free(l);
                cr_assert_eq(g_live, base);
                cr_assert_gt(n, 0, "constructor %d allocates", which);
                break;
            }
            cr_assert_eq(ag_error(), AG_ERR_OOM, "constructor %d, allocation %ld: %s", which, n,
                         ag_error_message());
            cr_assert_eq(g_live, base, "constructor %d, allocation %ld: leaked %ld blocks", which,
                         n, g_live - base);
            ag_clear_error();
        }
    }
}
