/* tensor.c — making, querying and freeing tensors.
 *
 * Heap tensors are one allocation: the struct, then the data at the next 64-byte boundary
 * (a single value lives in the struct, `val`). Tape tensors are the same layout carved from
 * the thread's arena. */
#include "autograd_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

static size_t header_size(void) { return (sizeof(ag_tensor) + AGI_ALIGN - 1) & ~(size_t)(AGI_ALIGN - 1); }

bool agi_shape_ok(ag_shape s, const char *op, size_t *numel)
{
    if (s.ndim < 0 || s.ndim > AG_MAX_DIMS)
        return AGI_FAIL(AG_ERR_SHAPE, "%s: %d dimensions (at most %d)", op, s.ndim, AG_MAX_DIMS),
               false;
    size_t n = 1;
    for (int i = 0; i < s.ndim; i++) {
        char b[AG_SHAPE_STRLEN];
        if (s.d[i] < 0)
            return AGI_FAIL(AG_ERR_SHAPE, "%s: negative dimension in shape %s", op,
                            ag_shape_str(s, b)),
                   false;
        if (s.d[i] && n > (SIZE_MAX / 4 / sizeof(ag_real)) / (size_t)s.d[i])
            return AGI_FAIL(AG_ERR_SHAPE, "%s: shape %s has too many elements", op,
                            ag_shape_str(s, b)),
                   false;
        n *= (size_t)s.d[i];
    }
    *numel = n;
    return true;
}

size_t ag_shape_numel(ag_shape s)
{
    size_t n = 1;
    for (int i = 0; i < s.ndim && i < AG_MAX_DIMS; i++)
        n *= s.d[i] > 0 ? (size_t)s.d[i] : 0;
    return n;
}

static void init_header(ag_tensor *t, ag_shape s, size_t n, uint8_t kind)
{
    memset(t, 0, sizeof *t);
    t->shape = s;
    for (int i = s.ndim; i < AG_MAX_DIMS; i++)
        t->shape.d[i] = 0;
    t->numel = n;
    t->kind = kind;
}

ag_tensor *agi_heap_tensor(ag_shape s)
{
    size_t n;
    if (!agi_shape_ok(s, "tensor", &n))
        return NULL;
    size_t bytes = n == 1 ? 0 : n * sizeof(ag_real); /* one value lives in the header */
    void *base = agi_alloc(header_size() + AGI_ALIGN + bytes);
    if (!base)
        return NULL;
    uintptr_t p = ((uintptr_t)base + AGI_ALIGN - 1) & ~(uintptr_t)(AGI_ALIGN - 1);
    ag_tensor *t = (ag_tensor *)p;
    init_header(t, s, n, AGI_HEAP);
    t->data = n == 1 ? &t->val : (ag_real *)(p + header_size());
    t->base = base;
    return t;
}

/* Tape tensors: the header at 16 bytes, then the data; data of more than 64 bytes starts on
 * a 64-byte boundary (SIMD loads), tiny data follows the header directly, and a single value
 * lives in the header itself (val), so that a scalar costs only its header. */
static ag_tensor *tape_named(ag_shape s, const char *op)
{
    size_t n;
    if (!agi_shape_ok(s, op, &n))
        return NULL;
    agi_tape *tp = agi_tape_get();
    size_t hdr = (sizeof(ag_tensor) + 15) & ~(size_t)15, bytes = n == 1 ? 0 : n * sizeof(ag_real);
    bool big = bytes > AGI_ALIGN;
    char *p = agi_arena_alloc16(&tp->arena, hdr + (big ? AGI_ALIGN : 0) + bytes);
    if (!p)
        return NULL;
    ag_tensor *t = (ag_tensor *)p;
    init_header(t, s, n, AGI_TAPE);
    uintptr_t d = (uintptr_t)(p + hdr);
    if (big)
        d = (d + AGI_ALIGN - 1) & ~(uintptr_t)(AGI_ALIGN - 1);
    t->data = n == 1 ? &t->val : (ag_real *)d;
    t->gen = tp->gen;
    return t;
}

ag_tensor *agi_tape_scalar(ag_real v)
{
    agi_tape *tp = agi_tape_get();
    ag_tensor *t = agi_arena_alloc16(&tp->arena, sizeof *t);
    if (t)
        agi_init_scalar(t, v, tp->gen);
    return t;
}

ag_tensor *agi_tape_tensor(ag_shape s) { return tape_named(s, "tensor"); }

ag_tensor *agi_uniform(const ag_tensor *g, ag_shape s)
{
    size_t n;
    if (!agi_shape_ok(s, "tensor", &n))
        return NULL;
    ag_tensor *t = agi_tape_scalar(g->data[0]);
    if (!t)
        return NULL;
    t->shape = s;
    t->numel = n;
    t->uniform = true;
    return t;
}

/* Only a header: relu's backward of a uniform gradient costs nothing until it is read, and
 * addcmul's backward reads it without it ever being written. */
ag_tensor *agi_masked(const ag_tensor *g, const ag_tensor *y)
{
    ag_tensor *t = agi_uniform(g, y->shape);
    if (!t)
        return NULL;
    if (t->numel == 1) {
        t->val = y->data[0] > 0 ? t->val : 0; /* as agi_relu_bwd_fill computes it */
        return t;
    }
    t->mask = y;
    t->version = y->version;
    return t;
}

/* The mask is read after relu's backward has run, so the check ag_ctx_saved made then is
 * made again: a mask changed in place meanwhile would give gradients of the wrong values. */
const ag_real *agi_mask_data(const ag_tensor *t)
{
    if (t->mask->version == t->version)
        return t->mask->data;
    AGI_FAIL(AG_ERR_STATE, "relu: a tensor saved for backward was modified in place since "
                           "(version %u, saved at %u)",
             t->mask->version, t->version);
    return NULL;
}

/* Fills a lazy tensor's elements, in fresh tape memory (the one value stays in its header),
 * and makes it ordinary. */
bool agi_dense(ag_tensor *t)
{
    if (!t->uniform)
        return true;
    const ag_real *m = t->mask ? agi_mask_data(t) : NULL;
    if (t->mask && !m)
        return false;
    ag_real v = t->data[0], *d = agi_arena_alloc(&agi_tape_get()->arena, t->numel * sizeof *d);
    if (!d)
        return false;
    if (m)
        agi_relu_bwd_fill(d, m, t->numel, v);
    else
        for (size_t i = 0; i < t->numel; i++)
            d[i] = v;
    t->data = d;
    t->uniform = false;
    t->mask = NULL;
    t->version = 0;
    return true;
}

ag_tensor *agi_tape_view(ag_tensor *src, ag_shape s)
{
    if (!agi_dense(src)) /* a view shares the data, so there must be all of it */
        return NULL;
    agi_tape *tp = agi_tape_get();
    ag_tensor *t = agi_arena_alloc16(&tp->arena, sizeof(ag_tensor));
    if (!t)
        return NULL;
    init_header(t, s, src->numel, AGI_TAPE);
    t->data = src->data;
    t->gen = tp->gen;
    return t;
}

bool agi_report_dead(const ag_tensor *t, const char *op, int i)
{
    if (!t) {
        if (ag_error() == AG_OK)
            AGI_FAIL(AG_ERR_ARG, "%s: argument %d is NULL", op, i);
    } else if (t->kind != AGI_TAPE) {
        AGI_FAIL(AG_ERR_STATE, "%s: argument %d is not a live tensor (freed?)", op, i);
    } else {
        AGI_FAIL(AG_ERR_STATE,
                 "%s: argument %d belongs to a step that has ended or to another thread's "
                 "tape (ag_step_end frees op results; keep values with ag_clone)",
                 op, i);
    }
    return false;
}

bool agi_has_nonfinite(const ag_tensor *t)
{
    if (t->uniform) { /* one value, which a mask shows only where the mask is > 0 */
        if (isfinite(t->data[0]) || !t->mask)
            return !isfinite(t->data[0]);
        for (size_t i = 0; i < t->numel; i++)
            if (t->mask->data[i] > 0)
                return true;
        return false;
    }
    for (size_t i = 0; i < t->numel; i++)
        if (!isfinite(t->data[i]))
            return true;
    return false;
}

/* --- creation ------------------------------------------------------------------------- */

ag_tensor *ag_from(const ag_real *src, size_t n, ag_shape s)
{
    if (!src)
        return AGI_FAIL(AG_ERR_ARG, "from: source array is NULL"), NULL;
    size_t want;
    if (!agi_shape_ok(s, "from", &want))
        return NULL;
    if (want != n) {
        char b[AG_SHAPE_STRLEN];
        return AGI_FAIL(AG_ERR_SHAPE, "from: %zu values do not fill shape %s (%zu elements)", n,
                        ag_shape_str(s, b), want),
               NULL;
    }
    ag_tensor *t = agi_heap_tensor(s);
    if (t && n)
        memcpy(t->data, src, n * sizeof(ag_real));
    return t;
}

/* A heap tensor of shape s, with a bad shape reported under the public name `op`
 * ("zeros: negative dimension in shape [2,-1]"). */
static ag_tensor *heap_named(ag_shape s, const char *op)
{
    size_t n;
    return agi_shape_ok(s, op, &n) ? agi_heap_tensor(s) : NULL;
}

static ag_tensor *filled(ag_shape s, ag_real v, const char *op)
{
    ag_tensor *t = heap_named(s, op);
    if (t)
        for (size_t i = 0; i < t->numel; i++)
            t->data[i] = v;
    return t;
}

ag_tensor *ag_full(ag_shape s, ag_real v) { return filled(s, v, "full"); }
ag_tensor *ag_scalar(ag_real v) { return filled(AG_SCALAR, v, "scalar"); }
ag_tensor *ag_zeros(ag_shape s) { return filled(s, 0, "zeros"); }
ag_tensor *ag_ones(ag_shape s) { return filled(s, 1, "ones"); }

ag_tensor *ag_arange(double start, double end, double step)
{
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step) ||
        (end - start) / step < 0)
        return AGI_FAIL(AG_ERR_ARG, "arange: bad range start=%g end=%g step=%g", start, end,
                        step),
               NULL;
    double cnt = ceil((end - start) / step);
    if (cnt > (double)INT64_MAX / 2)
        return AGI_FAIL(AG_ERR_ARG, "arange: %g elements is too many", cnt), NULL;
    ag_tensor *t = heap_named(AG_SHAPE((int64_t)cnt), "arange");
    if (t)
        for (size_t i = 0; i < t->numel; i++)
            t->data[i] = (ag_real)(start + (double)i * step);
    return t;
}

/* PyTorch's linspace fills the first half from start and the second half from end, so that
 * both ends are exact; we do the same. */
ag_tensor *ag_linspace(double start, double end, int64_t steps)
{
    if (steps < 0 || !isfinite(start) || !isfinite(end))
        return AGI_FAIL(AG_ERR_ARG, "linspace: bad arguments start=%g end=%g steps=%" PRId64,
                        start, end, steps),
               NULL;
    ag_tensor *t = heap_named(AG_SHAPE(steps), "linspace");
    if (!t)
        return NULL;
    if (steps == 1)
        t->data[0] = (ag_real)start;
    double d = steps > 1 ? (end - start) / (double)(steps - 1) : 0;
    int64_t half = steps / 2;
    for (int64_t i = 0; i < steps && steps > 1; i++)
        t->data[i] = (ag_real)(i < half ? start + d * (double)i
                                        : end - d * (double)(steps - 1 - i));
    return t;
}

ag_tensor *ag_rand(ag_shape s)
{
    ag_tensor *t = heap_named(s, "rand");
    if (t)
        for (size_t i = 0; i < t->numel; i++)
            t->data[i] = (ag_real)ag_rand_uniform();
    return t;
}

ag_tensor *ag_randn(ag_shape s)
{
    ag_tensor *t = heap_named(s, "randn");
    if (t)
        for (size_t i = 0; i < t->numel; i++)
            t->data[i] = (ag_real)ag_rand_normal();
    return t;
}

ag_tensor *ag_clone(const ag_tensor *t)
{
    if (!agi_check_live(t, "clone", 0))
        return NULL;
    ag_tensor *c = agi_heap_tensor(t->shape);
    if (c && t->numel)
        memcpy(c->data, t->data, t->numel * sizeof(ag_real));
    return c;
}

ag_tensor *ag_empty(ag_shape s) { return tape_named(s, "empty"); }

ag_tensor *ag_zeros_tape(ag_shape s)
{
    ag_tensor *t = tape_named(s, "zeros_tape");
    if (t && t->numel)
        memset(t->data, 0, t->numel * sizeof(ag_real));
    return t;
}

static void free_hooks(agi_hook *h)
{
    while (h) {
        agi_hook *n = h->next;
        agi_release(h);
        h = n;
    }
}

void ag_free(ag_tensor *t)
{
    if (!t || t->kind != AGI_HEAP)
        return;
    ag_free(t->grad);
    free_hooks(t->hooks);
    t->kind = 0; /* a stale pointer now fails agi_check_live instead of reading freed data */
    agi_release(t->base);
}

/* --- queries -------------------------------------------------------------------------- */

int ag_ndim(const ag_tensor *t) { return agi_check_live(t, "ndim", 0) ? t->shape.ndim : -1; }

ag_shape ag_shape_of(const ag_tensor *t)
{
    return agi_check_live(t, "shape", 0) ? t->shape : (ag_shape){ .ndim = -1 };
}

int64_t ag_size(const ag_tensor *t, int dim)
{
    if (!agi_check_live(t, "size", 0))
        return -1;
    int nd = t->shape.ndim;
    if (dim < -nd || dim >= nd || nd == 0)
        return AGI_FAIL(AG_ERR_ARG, "size: dimension %d out of range for %d-d tensor", dim, nd),
               -1;
    return t->shape.d[dim < 0 ? dim + nd : dim];
}

size_t ag_numel(const ag_tensor *t) { return agi_check_live(t, "numel", 0) ? t->numel : 0; }

ag_real *ag_data(ag_tensor *t) { return agi_check_live(t, "data", 0) ? t->data : NULL; }

const ag_real *ag_cdata(const ag_tensor *t)
{
    return agi_check_live(t, "data", 0) ? t->data : NULL;
}

double ag_item(const ag_tensor *t)
{
    if (!agi_check_live(t, "item", 0))
        return NAN;
    if (t->numel != 1) {
        char b[AG_SHAPE_STRLEN];
        AGI_FAIL(AG_ERR_SHAPE, "item: a tensor of shape %s has %zu elements, not 1",
                 ag_shape_str(t->shape, b), t->numel);
        return NAN;
    }
    return (double)t->data[0];
}

ag_tensor *ag_set_requires_grad(ag_tensor *t, bool on)
{
    if (!agi_check_live(t, "set_requires_grad", 0))
        return NULL;
    if (t->kind != AGI_HEAP) {
        if (!on && !t->node) {
            t->requires_grad = false;
            return t;
        }
        return AGI_FAIL(AG_ERR_ARG,
                        "set_requires_grad: only leaves (heap tensors) can be made to require "
                        "grad; use ag_clone first"),
               NULL;
    }
    t->requires_grad = on;
    return t;
}

bool ag_requires_grad(const ag_tensor *t) { return agi_check_live(t, "requires_grad", 0) && t->requires_grad; }

bool ag_is_leaf(const ag_tensor *t) { return agi_check_live(t, "is_leaf", 0) && !t->node; }

ag_tensor *ag_grad(const ag_tensor *t)
{
    return agi_check_live(t, "grad", 0) ? agi_grad((ag_tensor *)t) : NULL;
}

void ag_zero_grad(ag_tensor *t)
{
    if (t && t->kind == AGI_HEAP && t->grad)
        t->grad_zero = true; /* zeroed when next read (agi_grad) or overwritten by backward */
}

void ag_clear_grad(ag_tensor *t)
{
    if (t && t->kind == AGI_HEAP) {
        ag_free(t->grad);
        t->grad = NULL;
    }
}

void ag_bump_version(ag_tensor *t)
{
    if (t)
        t->version++;
}
