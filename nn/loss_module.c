/* loss_module.c — losses as modules (PyTorch's nn.*Loss): an ag_loss stores its options and
 * ag_loss_forward hands them to the functional loss in ops.h.
 *
 * One table row per loss: its name, whether it takes reduction "batchmean" (KLDivLoss
 * only), and a one-line call adapter. The class-index losses (CrossEntropyLoss with an (N)
 * target, NLLLoss, MultiMarginLoss) receive the target as a float tensor of whole numbers;
 * class_indices turns it into the int64 array the functional losses take, in tape memory that
 * lives until ag_step_end (long enough for backward). */
#include "nn_internal.h"
#include "ops_internal.h"

typedef ag_tensor *(*loss_call)(const ag_loss *l, ag_tensor *x, ag_tensor *t);

typedef struct loss_kind {
    const char *name;
    loss_call call;
    bool batchmean;
} loss_kind;

struct ag_loss {
    const loss_kind *kind;
    ag_reduction r;
    double opt; /* delta, beta, label_smoothing, margin or eps, as the loss has */
    int p;      /* MultiMarginLoss's norm */
    bool flag;  /* KLDivLoss's log_target */
};

/* --- class-index targets -------------------------------------------------------------- */

/* The shape a class-index target must have for input shape xs: xs without the class dim
 * (dim 1, or dim 0 of an unbatched (C) input). */
static ag_shape index_shape(ag_shape xs)
{
    ag_shape s = { .ndim = xs.ndim - 1 };
    int cdim = xs.ndim == 1 ? 0 : 1;
    for (int i = 0, k = 0; i < xs.ndim; i++)
        if (i != cdim)
            s.d[k++] = xs.d[i];
    return s;
}

/* The whole numbers in t as int64 class indices for input x, in tape memory; NULL with an
 * error naming the loss if t's shape does not fit x or a value is not a class in [0, C). */
static const int64_t *class_indices(const ag_loss *l, const ag_tensor *x, const ag_tensor *t)
{
    const char *name = l->kind->name;
    char s1[AG_SHAPE_STRLEN], s2[AG_SHAPE_STRLEN];
    if (x->shape.ndim < 1 || !agi_same_shape(t->shape, index_shape(x->shape)))
        return ag_fail(AG_ERR_SHAPE,
                       "%s: target of shape %s does not fit input of shape %s (class indices "
                       "need the input's shape without the class dim)",
                       name, ag_shape_str(t->shape, s1), ag_shape_str(x->shape, s2)),
               NULL;
    int64_t classes = x->shape.d[x->shape.ndim == 1 ? 0 : 1];
    return agi_whole_indices(t, classes, name, "target", "a class index");
}

/* --- call adapters -------------------------------------------------------------------- */

/* Each adapter passes the stored options to its functional loss, in that loss's argument
 * order. */

static ag_tensor *call_mse(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_mse_loss(x, t, l->r);
}

static ag_tensor *call_l1(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_l1_loss(x, t, l->r);
}

static ag_tensor *call_huber(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_huber_loss(x, t, l->r, l->opt);
}

static ag_tensor *call_smooth_l1(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_smooth_l1_loss(x, t, l->r, l->opt);
}

static ag_tensor *call_bce(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_binary_cross_entropy(x, t, l->r);
}

static ag_tensor *call_bce_logits(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_binary_cross_entropy_with_logits(x, t, l->r);
}

/* A target of the input's own shape holds class probabilities; otherwise class indices
 * (PyTorch's rule for floating targets). */
static ag_tensor *call_cross_entropy(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    if (agi_same_shape(x->shape, t->shape))
        return ag_cross_entropy_probs(x, t, l->r, l->opt);
    const int64_t *idx = class_indices(l, x, t);
    return idx ? ag_cross_entropy(x, idx, l->r, l->opt) : NULL;
}

static ag_tensor *call_nll(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    const int64_t *idx = class_indices(l, x, t);
    return idx ? ag_nll_loss(x, idx, l->r) : NULL;
}

static ag_tensor *call_kl_div(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_kl_div(x, t, l->r, l->flag);
}

static ag_tensor *call_hinge(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_hinge_embedding_loss(x, t, l->opt, l->r);
}

static ag_tensor *call_multi_margin(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    const int64_t *idx = class_indices(l, x, t);
    return idx ? ag_multi_margin_loss(x, idx, l->p, l->opt, l->r) : NULL;
}

static ag_tensor *call_dice(const ag_loss *l, ag_tensor *x, ag_tensor *t)
{
    return ag_dice_loss(x, t, l->opt);
}

/* --- the table ------------------------------------------------------------------------ */

enum {
    MSE, L1, HUBER, SMOOTH_L1, BCE, BCE_LOGITS, CROSS_ENTROPY, NLL, KL_DIV, HINGE,
    MULTI_MARGIN, DICE
};

static const loss_kind KINDS[] = {
    [MSE] = { "MSELoss", call_mse, false },
    [L1] = { "L1Loss", call_l1, false },
    [HUBER] = { "HuberLoss", call_huber, false },
    [SMOOTH_L1] = { "SmoothL1Loss", call_smooth_l1, false },
    [BCE] = { "BCELoss", call_bce, false },
    [BCE_LOGITS] = { "BCEWithLogitsLoss", call_bce_logits, false },
    [CROSS_ENTROPY] = { "CrossEntropyLoss", call_cross_entropy, false },
    [NLL] = { "NLLLoss", call_nll, false },
    [KL_DIV] = { "KLDivLoss", call_kl_div, true },
    [HINGE] = { "HingeEmbeddingLoss", call_hinge, false },
    [MULTI_MARGIN] = { "MultiMarginLoss", call_multi_margin, false },
    [DICE] = { "DiceLoss", call_dice, false },
};

/* A loss of kind k with its options, after checking the reduction. */
static ag_loss *loss_new(int k, ag_reduction r, double opt, int p, bool flag)
{
    const loss_kind *kind = &KINDS[k];
    bool ok = r == AG_MEAN || r == AG_SUM || r == AG_NONE ||
              (r == AG_BATCHMEAN && kind->batchmean);
    if (!ok) {
        ag_fail(AG_ERR_ARG, "%s: reduction %d is not one it takes (AG_MEAN, AG_SUM, AG_NONE%s)",
                kind->name, (int)r, kind->batchmean ? ", AG_BATCHMEAN" : "");
        return NULL;
    }
    ag_loss *l = agi_alloc(sizeof *l);
    if (l)
        *l = (ag_loss){ kind, r, opt, p, flag };
    return l;
}

/* --- constructors --------------------------------------------------------------------- */

/* Each stores its options in a new loss; PyTorch's defaults (delta 1, margin 1, p 1, ...)
 * are the caller's to pass. */

ag_loss *ag_mse_loss_new(ag_reduction r) { return loss_new(MSE, r, 0, 0, false); }
ag_loss *ag_l1_loss_new(ag_reduction r) { return loss_new(L1, r, 0, 0, false); }
ag_loss *ag_bce_loss_new(ag_reduction r) { return loss_new(BCE, r, 0, 0, false); }
ag_loss *ag_nll_loss_new(ag_reduction r) { return loss_new(NLL, r, 0, 0, false); }

ag_loss *ag_huber_loss_new(ag_reduction r, double delta)
{
    return loss_new(HUBER, r, delta, 0, false);
}

ag_loss *ag_smooth_l1_loss_new(ag_reduction r, double beta)
{
    return loss_new(SMOOTH_L1, r, beta, 0, false);
}

ag_loss *ag_bce_with_logits_loss_new(ag_reduction r)
{
    return loss_new(BCE_LOGITS, r, 0, 0, false);
}

ag_loss *ag_cross_entropy_loss_new(ag_reduction r, double label_smoothing)
{
    return loss_new(CROSS_ENTROPY, r, label_smoothing, 0, false);
}

ag_loss *ag_kl_div_loss_new(ag_reduction r, bool log_target)
{
    return loss_new(KL_DIV, r, 0, 0, log_target);
}

ag_loss *ag_hinge_embedding_loss_new(double margin, ag_reduction r)
{
    return loss_new(HINGE, r, margin, 0, false);
}

ag_loss *ag_multi_margin_loss_new(int p, double margin, ag_reduction r)
{
    return loss_new(MULTI_MARGIN, r, margin, p, false);
}

/* DiceLoss has no reduction: it is always one number. */
ag_loss *ag_dice_loss_new(double eps) { return loss_new(DICE, AG_MEAN, eps, 0, false); }

/* --- use ------------------------------------------------------------------------------ */

/* The loss of input against target: checks the three arguments, then the table's call. */
ag_tensor *ag_loss_forward(ag_loss *l, ag_tensor *input, ag_tensor *target)
{
    if (!l) {
        ag_fail(AG_ERR_ARG, "loss_forward: loss is NULL");
        return NULL;
    }
    if (!agi_check_live(input, l->kind->name, 0) || !agi_check_live(target, l->kind->name, 1))
        return NULL;
    return l->kind->call(l, input, target);
}

/* The PyTorch class name ("MSELoss"); NULL for NULL. */
const char *ag_loss_name(const ag_loss *l) { return l ? l->kind->name : NULL; }

/* NULL-safe. */
void ag_loss_free(ag_loss *l) { agi_release(l); }
