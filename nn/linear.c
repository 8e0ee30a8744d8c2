/* linear.c — the Linear module: y = x W^T + b.
 *
 * Initialisation is PyTorch's default: kaiming_uniform(a = sqrt 5) on W works out to
 * uniform in [-1/sqrt(in), 1/sqrt(in)), and b gets the same bound. W is drawn first (row
 * by row), then b, from the calling thread's generator, so ag_manual_seed fixes both. */
#include "nn_internal.h"

#include <inttypes.h>
#include <math.h>

static ag_tensor *linear_forward(ag_module *m, ag_tensor *x);

static const ag_module_def LINEAR = { "Linear", linear_forward, NULL };

/* Checks that x ends in in_features, then applies ag_linear with the module's W and b. */
static ag_tensor *linear_forward(ag_module *m, ag_tensor *x)
{
    ag_tensor *w = agi_module_param(m, "weight");
    int64_t in = w->shape.d[1];
    if (x->shape.ndim < 1 || x->shape.d[x->shape.ndim - 1] != in) {
        char s[AG_SHAPE_STRLEN];
        ag_fail(AG_ERR_SHAPE, "Linear: input of shape %s does not fit in_features %" PRId64,
                ag_shape_str(x->shape, s), in);
        return NULL;
    }
    return ag_linear(x, w, agi_module_param(m, "bias"));
}

/* Registers a new parameter of shape s filled uniformly in [-bound, bound). */
static bool add_uniform(ag_module *m, const char *name, ag_shape s, double bound)
{
    ag_tensor *t = agi_heap_tensor(s);
    if (!t)
        return false;
    for (size_t i = 0; i < t->numel; i++)
        t->data[i] = (ag_real)(bound * (2.0 * ag_rand_uniform() - 1.0));
    return ag_module_add_param(m, name, t) == AG_OK;
}

/* A Linear(in, out) with PyTorch's default initialisation. */
ag_module *ag_linear_new(int64_t in, int64_t out, bool bias)
{
    if (in < 1 || out < 1) {
        ag_fail(AG_ERR_ARG,
                "Linear: in_features %" PRId64 " and out_features %" PRId64
                " must both be at least 1",
                in, out);
        return NULL;
    }
    double bound = 1.0 / sqrt((double)in);
    ag_module *m = ag_module_new(&LINEAR, NULL);
    if (!m || !add_uniform(m, "weight", AG_SHAPE(out, in), bound) ||
        (bias && !add_uniform(m, "bias", AG_SHAPE(out), bound))) {
        ag_module_free(m);
        return NULL;
    }
    return m;
}

/* m's parameter `name` if m is a Linear, else NULL with an error naming `fn`. */
static ag_tensor *linear_param(ag_module *m, const char *fn, const char *name)
{
    if (!m || m->def != &LINEAR) {
        ag_fail(AG_ERR_ARG, "%s: module is %s, not a Linear", fn,
                m ? m->def->name : "NULL");
        return NULL;
    }
    return agi_module_param(m, name);
}

ag_tensor *ag_linear_weight(ag_module *m) { return linear_param(m, "linear_weight", "weight"); }

/* NULL (without an error) for a Linear made without bias. */
ag_tensor *ag_linear_bias(ag_module *m) { return linear_param(m, "linear_bias", "bias"); }
