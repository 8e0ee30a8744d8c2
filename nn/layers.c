/* layers.c — the training layers: Dropout, LayerNorm, BatchNorm1d and Embedding.
 *
 * Each is a module over its op in ops/ (ag_dropout, ag_layer_norm, ag_batch_norm,
 * ag_embedding), with PyTorch's constructor arguments kept in the module's state and
 * PyTorch's initialisation: LayerNorm's and BatchNorm1d's weight ones and bias zeros,
 * Embedding's weight N(0, 1). Dropout and BatchNorm1d read the module's train/eval mode at
 * each forward. BatchNorm1d keeps its running statistics as buffers, updated by its forward in
 * training mode, as nn.BatchNorm1d does. */
#include "nn_internal.h"
#include "ops_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* A module of definition `def` whose state is a copy of state[0..size), freed with it. */
static ag_module *module_with(const ag_module_def *def, const void *state, size_t size)
{
    void *self = agi_alloc(size);
    if (!self)
        return NULL;
    memcpy(self, state, size);
    return ag_module_new(def, self);
}

/* Registers "weight" (ones) and "bias" (zeros) of shape s. */
static bool add_affine(ag_module *m, ag_shape s)
{
    return ag_module_add_param(m, "weight", ag_ones(s)) == AG_OK &&
           ag_module_add_param(m, "bias", ag_zeros(s)) == AG_OK;
}

/* eps must be finite and >= 0; false with "Module: eps ..." otherwise. */
static bool eps_ok(const char *module, double eps)
{
    if (isfinite(eps) && eps >= 0)
        return true;
    return ag_fail(AG_ERR_ARG, "%s: eps must be finite and >= 0 (got %g)", module, eps), false;
}

/* --- Dropout ----------------------------------------------------------------------------- */

typedef struct dropout_state {
    double p;
} dropout_state;

/* ag_dropout in the module's mode. */
static ag_tensor *dropout_forward(ag_module *m, ag_tensor *x)
{
    const dropout_state *s = m->self;
    return ag_dropout(x, s->p, m->training);
}

static const ag_module_def DROPOUT = { "Dropout", dropout_forward, agi_release };

/* Dropout(p), p in [0, 1] (PyTorch's message otherwise). */
ag_module *ag_dropout_new(double p)
{
    if (!(p >= 0 && p <= 1))
        return ag_fail(AG_ERR_ARG, "Dropout: probability has to be between 0 and 1, but got %g",
                       p),
               NULL;
    return module_with(&DROPOUT, &(dropout_state){ p }, sizeof(dropout_state));
}

/* --- LayerNorm --------------------------------------------------------------------------- */

typedef struct layer_norm_state {
    ag_shape shape;
    double eps;
} layer_norm_state;

/* ag_layer_norm with the module's shape, eps, weight and bias (NULL without affine). */
static ag_tensor *layer_norm_forward(ag_module *m, ag_tensor *x)
{
    const layer_norm_state *s = m->self;
    return ag_layer_norm(x, s->shape, agi_module_param(m, "weight"),
                         agi_module_param(m, "bias"), s->eps);
}

static const ag_module_def LAYER_NORM = { "LayerNorm", layer_norm_forward, agi_release };

/* One to AG_MAX_DIMS dims, each at least 1. */
static bool positive_shape(ag_shape s)
{
    bool ok = s.ndim >= 1 && s.ndim <= AG_MAX_DIMS;
    for (int i = 0; ok && i < s.ndim; i++)
        ok = s.d[i] >= 1;
    return ok;
}

/* LayerNorm(normalized_shape, eps, elementwise_affine). */
ag_module *ag_layer_norm_new(ag_shape normalized_shape, double eps, bool elementwise_affine)
{
    if (!positive_shape(normalized_shape))
        return ag_fail(AG_ERR_ARG, "LayerNorm: normalized_shape needs at least one dim, each "
                                   "at least 1"),
               NULL;
    if (!eps_ok("LayerNorm", eps))
        return NULL;
    layer_norm_state st = { normalized_shape, eps };
    ag_module *m = module_with(&LAYER_NORM, &st, sizeof st);
    if (m && elementwise_affine && !add_affine(m, normalized_shape)) {
        ag_module_free(m);
        return NULL;
    }
    return m;
}

/* --- BatchNorm1d ------------------------------------------------------------------------- */

typedef struct batch_norm_state {
    int64_t features;
    double eps, momentum; /* momentum NAN: cumulative average */
} batch_norm_state;

/* Input must be (N, C) or (N, C, L) with C = num_features. */
static bool batch_norm_input_ok(const batch_norm_state *s, const ag_tensor *x)
{
    char b[AG_SHAPE_STRLEN];
    if (x->shape.ndim != 2 && x->shape.ndim != 3)
        return ag_fail(AG_ERR_SHAPE, "BatchNorm1d: expected 2D or 3D input (got %dD input)",
                       x->shape.ndim),
               false;
    if (x->shape.d[1] != s->features)
        return ag_fail(AG_ERR_SHAPE,
                       "BatchNorm1d: input of shape %s does not fit num_features %" PRId64,
                       ag_shape_str(x->shape, b), s->features),
               false;
    return true;
}

/* nn.BatchNorm1d's forward: the batch's statistics in training mode or when there are no
 * running ones; the running ones updated in training with momentum, or with 1/count for a
 * cumulative average (momentum NAN). The count goes up only once the forward has succeeded. */
static ag_tensor *batch_norm_forward(ag_module *m, ag_tensor *x)
{
    const batch_norm_state *s = m->self;
    if (!batch_norm_input_ok(s, x))
        return NULL;
    ag_tensor *rm = agi_module_buffer(m, "running_mean");
    ag_tensor *rv = agi_module_buffer(m, "running_var");
    ag_tensor *count = agi_module_buffer(m, "num_batches_tracked");
    bool update = m->training && count;
    double factor = !update            ? 0
                    : isnan(s->momentum) ? 1 / ((double)count->data[0] + 1)
                                         : s->momentum;
    ag_tensor *y = ag_batch_norm(x, rm, rv, agi_module_param(m, "weight"),
                                 agi_module_param(m, "bias"), m->training || !rm, factor, s->eps);
    if (y && update) {
        count->data[0] += 1;
        ag_bump_version(count);
    }
    return y;
}

static const ag_module_def BATCH_NORM1D = { "BatchNorm1d", batch_norm_forward, agi_release };

/* Registers the running statistics: mean zeros, var ones, a 0-d count of 0. */
static bool add_running_stats(ag_module *m, int64_t c)
{
    return ag_module_add_buffer(m, "running_mean", ag_zeros(AG_SHAPE(c))) == AG_OK &&
           ag_module_add_buffer(m, "running_var", ag_ones(AG_SHAPE(c))) == AG_OK &&
           ag_module_add_buffer(m, "num_batches_tracked", ag_zeros(AG_SCALAR)) == AG_OK;
}

/* BatchNorm1d(num_features, eps, momentum, affine, track_running_stats). */
ag_module *ag_batch_norm1d_new(int64_t num_features, double eps, double momentum, bool affine,
                               bool track_running_stats)
{
    if (num_features < 1)
        return ag_fail(AG_ERR_ARG, "BatchNorm1d: num_features must be at least 1 (got %" PRId64
                                   ")",
                       num_features),
               NULL;
    if (!eps_ok("BatchNorm1d", eps))
        return NULL;
    if (!isnan(momentum) && !(momentum >= 0 && momentum <= 1))
        return ag_fail(AG_ERR_ARG, "BatchNorm1d: momentum must be in [0, 1], or NAN for a "
                                   "cumulative average (got %g)",
                       momentum),
               NULL;
    batch_norm_state st = { num_features, eps, momentum };
    ag_module *m = module_with(&BATCH_NORM1D, &st, sizeof st);
    if (m && ((affine && !add_affine(m, AG_SHAPE(num_features))) ||
              (track_running_stats && !add_running_stats(m, num_features)))) {
        ag_module_free(m);
        return NULL;
    }
    return m;
}

/* --- Embedding --------------------------------------------------------------------------- */

/* The values of t as int64 indices in [0, n), in tape memory; see nn_internal.h. */
const int64_t *agi_whole_indices(const ag_tensor *t, int64_t n, const char *who,
                                 const char *arg, const char *noun)
{
    size_t count = t->numel ? t->numel : 1;
    int64_t *idx = agi_arena_alloc(&agi_tape_get()->arena, count * sizeof *idx);
    for (size_t i = 0; idx && i < t->numel; i++) {
        double x = (double)t->data[i];
        if (!(x >= 0 && x < (double)n && x == floor(x)))
            return ag_fail(AG_ERR_ARG,
                           "%s: %s[%zu] = %g is not %s (a whole number in [0, %" PRId64 "))",
                           who, arg, i, x, noun, n),
                   NULL;
        idx[i] = (int64_t)x;
    }
    return idx;
}

/* ag_forward of an Embedding: the input holds the indices as whole numbers. */
static ag_tensor *embedding_forward(ag_module *m, ag_tensor *x)
{
    ag_tensor *w = agi_module_param(m, "weight");
    const int64_t *idx = agi_whole_indices(x, w->shape.d[0], "Embedding", "input", "an index");
    return idx ? ag_embedding(w, idx, x->shape) : NULL;
}

static const ag_module_def EMBEDDING = { "Embedding", embedding_forward, NULL };

/* Embedding(num_embeddings, embedding_dim) with weight ~ N(0, 1). */
ag_module *ag_embedding_new(int64_t num_embeddings, int64_t embedding_dim)
{
    if (num_embeddings < 1 || embedding_dim < 1)
        return ag_fail(AG_ERR_ARG,
                       "Embedding: num_embeddings %" PRId64 " and embedding_dim %" PRId64
                       " must both be at least 1",
                       num_embeddings, embedding_dim),
               NULL;
    ag_module *m = ag_module_new(&EMBEDDING, NULL);
    ag_shape s = AG_SHAPE(num_embeddings, embedding_dim);
    if (m && ag_module_add_param(m, "weight", ag_randn(s)) != AG_OK) {
        ag_module_free(m);
        return NULL;
    }
    return m;
}

/* The Embedding m applied to int64 indices of shape s. */
ag_tensor *ag_embedding_forward(ag_module *m, const int64_t *idx, ag_shape s)
{
    if (!m || m->def != &EMBEDDING)
        return ag_fail(AG_ERR_ARG, "embedding_forward: module is %s, not an Embedding",
                       m ? m->def->name : "NULL"),
               NULL;
    return ag_embedding(agi_module_param(m, "weight"), idx, s);
}
