/* conformance.c — runs the engine against PyTorch's numbers (tests/data/FORMAT.md).
 *
 * Usage: conformance [-k SUBSTRING] [FILE.jsonl ...]
 *
 * Each line of each file is one case (kind "op", "optim" or "train"). The runner rebuilds the
 * case through the public API only, compares every listed tensor and number with
 * |got - exp| <= atol + rtol*|exp| (a NaN or Inf result fails; shapes must be equal), and
 * prints one line per failing or skipped case:
 *
 *     FAIL <id>: <which> at [i,j]: got G vs expected E (...)
 *     SKIP <id>: <why>
 *
 * followed by "N passed, N failed, N skipped" as the last line of stdout. Anything the runner
 * or the engine does not implement (kind, op, attr key, attr value, optimizer, model, loss) is
 * skipped, never passed and never run with an attr ignored. The exit status is non-zero if any
 * case failed or was skipped, or if no case ran. -k runs only the cases whose id contains
 * SUBSTRING. Without files, the repository's tests/data/public.jsonl is used.
 *
 * Every heap tensor is freed and ag_step_end() is called after every case, so the runner is
 * clean under AddressSanitizer/LeakSanitizer.
 */
#define _POSIX_C_SOURCE 200809L

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agrad.h"

#define MAX_INPUTS 8
#define MAX_ATTRS 8
#define MSG_LEN 1024

/* =========================================================================================
 * One case's verdict
 * ======================================================================================= */

typedef enum verdict { V_PASS, V_FAIL, V_SKIP } verdict;

/* The state of the case being run: its id and tolerance, the verdict so far, the message of
 * the first problem (a failure or the reason for a skip) and how many further comparisons
 * failed after it. Only the first failure is described, so a case prints one line. */
typedef struct vcase {
    const char *id;
    double rtol, atol;
    verdict v;
    char msg[MSG_LEN];
    int more;
} vcase;

/* Sets the case's verdict to v with the message fmt (shared by case_fail and case_skip). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 0)))
#endif
static void case_set(vcase *k, verdict v, const char *fmt, va_list ap)
{
    k->v = v;
    vsnprintf(k->msg, sizeof k->msg, fmt, ap);
}

/* Marks the case failed. The first failure's message is kept; later ones are only counted. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void case_fail(vcase *k, const char *fmt, ...)
{
    if (k->v == V_FAIL) {
        k->more++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    case_set(k, V_FAIL, fmt, ap);
    va_end(ap);
}

/* Marks the case skipped (something in it is not implemented). Skips are decided before the
 * engine runs anything, so a skip never overrides a failure. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void case_skip(vcase *k, const char *fmt, ...)
{
    if (k->v != V_PASS)
        return;
    va_list ap;
    va_start(ap, fmt);
    case_set(k, V_SKIP, fmt, ap);
    va_end(ap);
}

/* Records the engine's pending error (a call returned NULL or a non-zero status) as the case's
 * failure, naming the step that failed. */
static void case_engine_error(vcase *k, const char *what)
{
    const char *m = ag_error_message();
    case_fail(k, "%s: engine error: %s", what,
              (m && *m) ? m : "(NULL returned without an error message)");
}

/* Whether the case can go on: neither failed nor skipped so far. */
static bool case_ok(const vcase *k) { return k->v == V_PASS; }

/* =========================================================================================
 * JSON helpers
 * ======================================================================================= */

/* A JSON value as compact text in buf (for messages: "attr dim = [0, 2]"). */
static const char *json_text(const json_t *j, char *buf, size_t size)
{
    if (!j) {
        snprintf(buf, size, "(missing)");
        return buf;
    }
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, size, "%s", s ? s : "?");
    free(s);
    return buf;
}

/* A tensor as the vectors write it, parsed: shape, element count and values, either as
 * doubles (float tensors) or as int64 (dtype "int64"). Exactly one of f / i is non-NULL. */
typedef struct jtensor {
    ag_shape shape;
    size_t n;
    bool is_int;
    double *f;
    int64_t *i;
} jtensor;

static void jtensor_free(jtensor *t)
{
    free(t->f);
    free(t->i);
    memset(t, 0, sizeof *t);
}

/* Parses {"shape":[...],"data":[...]} (optionally "dtype":"int64") into t. On a malformed
 * tensor returns false with the reason in err and leaves t empty. */
static bool jtensor_parse(const json_t *j, jtensor *t, char *err, size_t errsz)
{
    memset(t, 0, sizeof *t);
    const json_t *shape = json_object_get(j, "shape");
    const json_t *data = json_object_get(j, "data");
    const json_t *dtype = json_object_get(j, "dtype");
    if (!json_is_object(j) || !json_is_array(shape) || !json_is_array(data)) {
        snprintf(err, errsz, "not a tensor object");
        return false;
    }
    if (dtype && !(json_is_string(dtype) && strcmp(json_string_value(dtype), "int64") == 0)) {
        char buf[64];
        snprintf(err, errsz, "unknown dtype %s", json_text(dtype, buf, sizeof buf));
        return false;
    }
    size_t nd = json_array_size(shape);
    if (nd > AG_MAX_DIMS) {
        snprintf(err, errsz, "%zu dims (at most %d supported)", nd, AG_MAX_DIMS);
        return false;
    }
    t->shape.ndim = (int)nd;
    size_t n = 1;
    for (size_t d = 0; d < nd; d++) {
        const json_t *v = json_array_get(shape, d);
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            snprintf(err, errsz, "bad shape entry %zu", d);
            return false;
        }
        t->shape.d[d] = json_integer_value(v);
        n *= (size_t)t->shape.d[d];
    }
    if (json_array_size(data) != n) {
        snprintf(err, errsz, "%zu data for %zu elements", json_array_size(data), n);
        return false;
    }
    t->n = n;
    t->is_int = dtype != NULL;
    if (t->is_int)
        t->i = malloc(n * sizeof *t->i);
    else
        t->f = malloc(n * sizeof *t->f);
    if (!t->f && !t->i) {
        snprintf(err, errsz, "out of memory");
        return false;
    }
    for (size_t e = 0; e < n; e++) {
        const json_t *v = json_array_get(data, e);
        if (t->is_int ? !json_is_integer(v) : !json_is_number(v)) {
            snprintf(err, errsz, "datum %zu is not %s", e, t->is_int ? "an integer" : "a number");
            jtensor_free(t);
            return false;
        }
        if (t->is_int)
            t->i[e] = json_integer_value(v);
        else
            t->f[e] = json_number_value(v);
    }
    return true;
}

/* Parses a tensor that a case lists, failing the case (as malformed) if it does not parse.
 * `what` names the tensor in the message ("inputs[1]"). */
static bool case_tensor(vcase *k, const json_t *j, const char *what, jtensor *t)
{
    char err[256];
    if (jtensor_parse(j, t, err, sizeof err))
        return true;
    case_fail(k, "malformed case: %s: %s", what, err);
    return false;
}

/* A new heap ag_tensor with a float jtensor's values (cast to ag_real, exact for inputs). */
static ag_tensor *jtensor_to_ag(const jtensor *t)
{
    ag_real *buf = malloc(t->n * sizeof *buf);
    if (!buf)
        return NULL;
    for (size_t e = 0; e < t->n; e++)
        buf[e] = (ag_real)t->f[e];
    ag_tensor *x = ag_from(buf, t->n, t->shape);
    free(buf);
    return x;
}

static bool shape_eq(ag_shape a, ag_shape b)
{
    return a.ndim == b.ndim && memcmp(a.d, b.d, (size_t)a.ndim * sizeof a.d[0]) == 0;
}

/* =========================================================================================
 * Comparison
 * ======================================================================================= */

/* Formats flat index `e` of `shape` as a multi-index "[1,2]" ("[]" for 0-d). */
static const char *index_str(ag_shape shape, size_t e, char *buf, size_t size)
{
    int64_t idx[AG_MAX_DIMS];
    for (int d = shape.ndim - 1; d >= 0; d--) {
        idx[d] = (int64_t)(e % (size_t)shape.d[d]);
        e /= (size_t)shape.d[d];
    }
    size_t len = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < shape.ndim && len < size; d++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

/* How far `got` is outside the tolerance around `exp`: <= 0 when it matches, +Inf for a NaN
 * or infinite result. */
static double excess(const vcase *k, double got, double exp)
{
    if (!isfinite(got))
        return INFINITY;
    double diff = fabs(got - exp), tol = k->atol + k->rtol * fabs(exp);
    return diff <= tol ? 0.0 : diff - tol;
}

/* Compares a computed tensor (its shape and values) with the expected JSON tensor `exp`,
 * elementwise with the case's tolerance; on a mismatch fails the case naming `what`, the worst
 * element's index and both values. A NULL `got` (no tensor produced) is a failure. Returns
 * whether the shapes were equal (values may still differ). */
static bool compare_tensor(vcase *k, const char *what, const ag_tensor *got, const json_t *exp)
{
    jtensor e;
    if (!case_tensor(k, exp, what, &e))
        return false;
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    bool same_shape = false;
    if (e.is_int) {
        case_fail(k, "malformed case: %s: expected values are int64", what);
    } else if (!got) {
        case_fail(k, "%s: no tensor (NULL)", what);
    } else if (!shape_eq(ag_shape_of(got), e.shape)) {
        case_fail(k, "%s: shape %s vs expected %s", what, ag_shape_str(ag_shape_of(got), a),
                  ag_shape_str(e.shape, b));
    } else {
        same_shape = true;
        const ag_real *g = ag_cdata(got);
        size_t worst = 0;
        double worst_x = 0.0;
        for (size_t i = 0; i < e.n; i++) {
            double x = excess(k, (double)g[i], e.f[i]);
            if (x > worst_x) {
                worst_x = x;
                worst = i;
            }
        }
        if (worst_x > 0.0) {
            char idx[AG_SHAPE_STRLEN];
            case_fail(k, "%s at %s: got %.9g vs expected %.9g (tol %.3g)", what,
                      index_str(e.shape, worst, idx, sizeof idx), (double)g[worst], e.f[worst],
                      k->atol + k->rtol * fabs(e.f[worst]));
        }
    }
    jtensor_free(&e);
    return same_shape;
}

/* Compares one computed number with an expected JSON number (train losses). */
static void compare_number(vcase *k, const char *what, double got, const json_t *exp)
{
    if (!json_is_number(exp)) {
        case_fail(k, "malformed case: %s is not a number", what);
        return;
    }
    double e = json_number_value(exp);
    if (excess(k, got, e) > 0.0)
        case_fail(k, "%s: got %.9g vs expected %.9g (tol %.3g)", what, got, e,
                  k->atol + k->rtol * fabs(e));
}

/* =========================================================================================
 * Attributes
 *
 * Each getter reads one attr and checks that its value is one the runner can pass on
 * faithfully; otherwise it skips the case (saying which attr and value) and returns false.
 * ======================================================================================= */

/* Checks that `attrs` has exactly the keys in `keys` (NULL-terminated): an unknown key skips
 * the case (it would otherwise be ignored), a missing one fails it as malformed. */
static bool check_attr_keys(vcase *k, const json_t *attrs, const char *const *keys)
{
    if (!json_is_object(attrs)) {
        case_fail(k, "malformed case: attrs is not an object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)attrs, key, v) {
        bool known = false;
        for (int i = 0; keys[i]; i++)
            known = known || strcmp(keys[i], key) == 0;
        if (!known) {
            case_skip(k, "attr '%s' is not implemented", key);
            return false;
        }
    }
    for (int i = 0; keys[i]; i++) {
        if (!json_object_get(attrs, keys[i])) {
            case_fail(k, "malformed case: attr '%s' missing", keys[i]);
            return false;
        }
    }
    return true;
}

/* Skips the case for an attr value the runner/engine cannot take. */
static bool attr_unsupported(vcase *k, const char *key, const json_t *v, const char *why)
{
    char buf[128];
    case_skip(k, "attr %s = %s not supported%s%s", key, json_text(v, buf, sizeof buf),
              why ? ": " : "", why ? why : "");
    return false;
}

static bool attr_number(vcase *k, const json_t *attrs, const char *key, double *out)
{
    const json_t *v = json_object_get(attrs, key);
    if (!json_is_number(v))
        return attr_unsupported(k, key, v, "not a number");
    *out = json_number_value(v);
    return true;
}

static bool attr_bool(vcase *k, const json_t *attrs, const char *key, bool *out)
{
    const json_t *v = json_object_get(attrs, key);
    if (!json_is_boolean(v))
        return attr_unsupported(k, key, v, "not a boolean");
    *out = json_is_true(v);
    return true;
}

/* An integer attr within [lo, hi]. */
static bool attr_int(vcase *k, const json_t *attrs, const char *key, int64_t lo, int64_t hi,
                     int64_t *out)
{
    const json_t *v = json_object_get(attrs, key);
    if (!json_is_integer(v))
        return attr_unsupported(k, key, v, "not an integer");
    if (json_integer_value(v) < lo || json_integer_value(v) > hi)
        return attr_unsupported(k, key, v, "out of range");
    *out = json_integer_value(v);
    return true;
}

/* A dimension index (negative counts from the end). */
static bool attr_dim(vcase *k, const json_t *attrs, const char *key, int *out)
{
    int64_t d = 0;
    if (!attr_int(k, attrs, key, -AG_MAX_DIMS, AG_MAX_DIMS - 1, &d))
        return false;
    *out = (int)d;
    return true;
}

/* "reduction": "none" / "mean" / "sum", and "batchmean" only where the op defines it. */
static bool attr_reduction(vcase *k, const json_t *attrs, bool allow_batchmean,
                           ag_reduction *out)
{
    const json_t *v = json_object_get(attrs, "reduction");
    const char *s = json_string_value(v);
    if (s && strcmp(s, "mean") == 0)
        *out = AG_MEAN;
    else if (s && strcmp(s, "sum") == 0)
        *out = AG_SUM;
    else if (s && strcmp(s, "none") == 0)
        *out = AG_NONE;
    else if (s && allow_batchmean && strcmp(s, "batchmean") == 0)
        *out = AG_BATCHMEAN;
    else
        return attr_unsupported(k, "reduction", v, NULL);
    return true;
}

/* The "dim" attr of the reductions: null (every dim), one int, or a non-empty list of ints. */
typedef struct dimspec {
    enum { DIM_ALL, DIM_ONE, DIM_LIST } kind;
    int n;
    int d[AG_MAX_DIMS];
} dimspec;

static bool attr_dims(vcase *k, const json_t *attrs, dimspec *out)
{
    const json_t *v = json_object_get(attrs, "dim");
    out->n = 0;
    if (json_is_null(v)) {
        out->kind = DIM_ALL;
        return true;
    }
    if (json_is_integer(v)) {
        out->kind = DIM_ONE;
        out->n = 1;
        return attr_dim(k, attrs, "dim", &out->d[0]);
    }
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > AG_MAX_DIMS)
        return attr_unsupported(k, "dim", v, NULL);
    out->kind = DIM_LIST;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < -AG_MAX_DIMS ||
            json_integer_value(e) >= AG_MAX_DIMS)
            return attr_unsupported(k, "dim", v, NULL);
        out->d[out->n++] = (int)json_integer_value(e);
    }
    return true;
}

/* =========================================================================================
 * kind "op": the handlers
 * ======================================================================================= */

struct op_entry;

/* One op call being prepared: the case, its attrs and its inputs, parsed (in[]) and, for the
 * float ones, as heap tensors (x[]; NULL for int64 inputs). */
typedef struct opcall {
    vcase *k;
    const json_t *attrs;
    int n;
    jtensor in[MAX_INPUTS];
    ag_tensor *x[MAX_INPUTS];
} opcall;

/* A handler reads the op's attrs (skipping the case on a value it cannot pass on) and calls
 * the engine; it returns the output, or NULL after a skip, a malformed-case failure, or an
 * engine error. */
typedef ag_tensor *(*op_handler)(opcall *c, const struct op_entry *e);

/* The engine functions a shared handler calls, one field per signature (the rest NULL). */
typedef struct op_fns {
    ag_tensor *(*f1)(ag_tensor *);                              /* h_unary, h_reduce (all) */
    ag_tensor *(*f2)(ag_tensor *, ag_tensor *);                 /* h_binary */
    ag_tensor *(*f1n)(ag_tensor *, double);                     /* h_unary_num */
    ag_tensor *(*f1d)(ag_tensor *, int);                        /* h_softmax */
    ag_tensor *(*fdim)(ag_tensor *, int, bool);                 /* h_reduce (one dim) */
    ag_tensor *(*fdims)(ag_tensor *, const int *, int, bool);   /* h_reduce (a list) */
    ag_tensor *(*f2r)(ag_tensor *, ag_tensor *, ag_reduction);  /* h_loss_plain */
    ag_tensor *(*f2rn)(ag_tensor *, ag_tensor *, ag_reduction, double);   /* h_loss_num */
    ag_tensor *(*f2nr)(ag_tensor *, ag_tensor *, double, ag_reduction);   /* h_margin_loss */
    ag_tensor *(*f3nr)(ag_tensor *, ag_tensor *, ag_tensor *, double, ag_reduction); /* ditto */
} op_fns;

/* An op of FORMAT.md: its attr keys (exactly these), its inputs (one char each: 'f' float,
 * 'i' int64, 'x' either; the last ones may be absent down to min_inputs), the handler, and the
 * engine function(s) a shared handler calls. */
typedef struct op_entry {
    const char *name;
    const char *attrs[MAX_ATTRS];
    const char *inputs;
    int min_inputs;
    op_handler run;
    op_fns fn;
} op_entry;

/* Fails the case as malformed (used for inconsistent shapes of int64 inputs, which the
 * engine receives as bare arrays and so cannot check). */
static ag_tensor *malformed(opcall *c, const char *why)
{
    case_fail(c->k, "malformed case: %s", why);
    return NULL;
}

/* Checks that x is [N, C] and the int64 class targets t are [N]. */
static bool class_targets_ok(opcall *c, int xi, int ti)
{
    const jtensor *x = &c->in[xi], *t = &c->in[ti];
    if (x->shape.ndim != 2 || t->shape.ndim != 1 || t->shape.d[0] != x->shape.d[0]) {
        malformed(c, "class-index targets must be [N] for an [N,C] input");
        return false;
    }
    return true;
}

/* add, sub, mul, div, matmul */
static ag_tensor *h_binary(opcall *c, const op_entry *e) { return e->fn.f2(c->x[0], c->x[1]); }

/* neg, exp, log, sqrt, abs, relu, sigmoid, tanh, sin, cos, silu */
static ag_tensor *h_unary(opcall *c, const op_entry *e) { return e->fn.f1(c->x[0]); }

/* pow (exponent), leaky_relu (negative_slope), elu (alpha): one input and the number attr
 * that is the op's only key. */
static ag_tensor *h_unary_num(opcall *c, const op_entry *e)
{
    double v = 0.0;
    return attr_number(c->k, c->attrs, e->attrs[0], &v) ? e->fn.f1n(c->x[0], v) : NULL;
}

/* approximate "none" -> the erf form, "tanh" -> the tanh approximation. */
static ag_tensor *h_gelu(opcall *c, const op_entry *e)
{
    (void)e;
    const json_t *v = json_object_get(c->attrs, "approximate");
    const char *s = json_string_value(v);
    if (s && strcmp(s, "none") == 0)
        return ag_gelu(c->x[0], false);
    if (s && strcmp(s, "tanh") == 0)
        return ag_gelu(c->x[0], true);
    attr_unsupported(c->k, "approximate", v, NULL);
    return NULL;
}

static ag_tensor *h_softplus(opcall *c, const op_entry *e)
{
    (void)e;
    double beta = 0.0, th = 0.0;
    if (!attr_number(c->k, c->attrs, "beta", &beta) ||
        !attr_number(c->k, c->attrs, "threshold", &th))
        return NULL;
    return ag_softplus(c->x[0], beta, th);
}

/* A null bound is absent: -INFINITY / INFINITY. */
static bool clamp_bound(opcall *c, const char *key, double absent, double *out)
{
    if (json_is_null(json_object_get(c->attrs, key))) {
        *out = absent;
        return true;
    }
    return attr_number(c->k, c->attrs, key, out);
}

static ag_tensor *h_clamp(opcall *c, const op_entry *e)
{
    (void)e;
    double lo = 0.0, hi = 0.0;
    if (!clamp_bound(c, "min", -INFINITY, &lo) || !clamp_bound(c, "max", INFINITY, &hi))
        return NULL;
    return ag_clamp(c->x[0], lo, hi);
}

/* sum, mean, max, logsumexp: dim null -> whole-tensor reduction f1 (keepdim must be false;
 * max and sum/mean only), an int -> the *_dim function fdim, a list -> the *_dims function
 * fdims (not for max, which has none). */
static ag_tensor *h_reduce(opcall *c, const op_entry *e)
{
    dimspec ds;
    bool keep = false;
    if (!attr_dims(c->k, c->attrs, &ds) || !attr_bool(c->k, c->attrs, "keepdim", &keep))
        return NULL;
    ag_tensor *x = c->x[0];
    if (ds.kind == DIM_ALL) {
        if (keep) {
            case_skip(c->k, "dim null with keepdim true is not defined by FORMAT.md");
            return NULL;
        }
        if (e->fn.f1)
            return e->fn.f1(x);
        attr_unsupported(c->k, "dim", json_object_get(c->attrs, "dim"), "logsumexp needs dims");
        return NULL;
    }
    if (ds.kind == DIM_ONE)
        return e->fn.fdim(x, ds.d[0], keep);
    if (!e->fn.fdims) {
        attr_unsupported(c->k, "dim", json_object_get(c->attrs, "dim"),
                         "max over a list of dims");
        return NULL;
    }
    return e->fn.fdims(x, ds.d, ds.n, keep);
}

/* bias true: inputs x, w, b; bias false: inputs x, w only. */
static ag_tensor *h_linear(opcall *c, const op_entry *e)
{
    (void)e;
    bool bias = false;
    if (!attr_bool(c->k, c->attrs, "bias", &bias))
        return NULL;
    if (c->n != (bias ? 3 : 2))
        return malformed(c, "linear: the number of inputs does not match attr bias");
    return ag_linear(c->x[0], c->x[1], bias ? c->x[2] : NULL);
}

static ag_tensor *h_transpose(opcall *c, const op_entry *e)
{
    (void)e;
    int d0 = 0, d1 = 0;
    if (!attr_dim(c->k, c->attrs, "dim0", &d0) || !attr_dim(c->k, c->attrs, "dim1", &d1))
        return NULL;
    return ag_transpose(c->x[0], d0, d1);
}

/* shape: a list of ints, one of which may be -1. */
static ag_tensor *h_reshape(opcall *c, const op_entry *e)
{
    (void)e;
    const json_t *v = json_object_get(c->attrs, "shape");
    ag_shape s = { .ndim = 0 };
    if (!json_is_array(v) || json_array_size(v) > AG_MAX_DIMS) {
        attr_unsupported(c->k, "shape", v, NULL);
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *d = json_array_get(v, i);
        if (!json_is_integer(d) || json_integer_value(d) < -1 || json_integer_value(d) == 0) {
            attr_unsupported(c->k, "shape", v, NULL);
            return NULL;
        }
        s.d[s.ndim++] = json_integer_value(d);
    }
    return ag_reshape(c->x[0], s);
}

/* softmax, log_softmax: (input, dim) */
static ag_tensor *h_softmax(opcall *c, const op_entry *e)
{
    int d = 0;
    return attr_dim(c->k, c->attrs, "dim", &d) ? e->fn.f1d(c->x[0], d) : NULL;
}

/* mse_loss, l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits: (input, target,
 * reduction) */
static ag_tensor *h_loss_plain(opcall *c, const op_entry *e)
{
    ag_reduction r = AG_MEAN;
    if (!attr_reduction(c->k, c->attrs, false, &r))
        return NULL;
    return e->fn.f2r(c->x[0], c->x[1], r);
}

/* huber_loss (delta), smooth_l1_loss (beta): (input, target, reduction, the number attr that
 * is the op's second key) */
static ag_tensor *h_loss_num(opcall *c, const op_entry *e)
{
    ag_reduction r = AG_MEAN;
    double v = 0.0;
    if (!attr_reduction(c->k, c->attrs, false, &r) ||
        !attr_number(c->k, c->attrs, e->attrs[1], &v))
        return NULL;
    return e->fn.f2rn(c->x[0], c->x[1], r, v);
}

/* The target's dtype decides: int64 [N] -> class indices, float [N,C] -> probabilities. */
static ag_tensor *h_cross_entropy(opcall *c, const op_entry *e)
{
    (void)e;
    ag_reduction r = AG_MEAN;
    double ls = 0.0;
    if (!attr_reduction(c->k, c->attrs, false, &r) ||
        !attr_number(c->k, c->attrs, "label_smoothing", &ls))
        return NULL;
    if (!c->in[1].is_int)
        return ag_cross_entropy_probs(c->x[0], c->x[1], r, ls);
    if (!class_targets_ok(c, 0, 1))
        return NULL;
    return ag_cross_entropy(c->x[0], c->in[1].i, r, ls);
}

static ag_tensor *h_nll(opcall *c, const op_entry *e)
{
    (void)e;
    ag_reduction r = AG_MEAN;
    if (!attr_reduction(c->k, c->attrs, false, &r) || !class_targets_ok(c, 0, 1))
        return NULL;
    return ag_nll_loss(c->x[0], c->in[1].i, r);
}

static ag_tensor *h_kl_div(opcall *c, const op_entry *e)
{
    (void)e;
    ag_reduction r = AG_MEAN;
    bool log_target = false;
    if (!attr_reduction(c->k, c->attrs, true, &r) ||
        !attr_bool(c->k, c->attrs, "log_target", &log_target))
        return NULL;
    return ag_kl_div(c->x[0], c->x[1], r, log_target);
}

/* hinge_embedding_loss (two inputs: f2nr), margin_ranking_loss and cosine_embedding_loss
 * (three: f3nr): (inputs..., margin, reduction) */
static ag_tensor *h_margin_loss(opcall *c, const op_entry *e)
{
    ag_reduction r = AG_MEAN;
    double margin = 0.0;
    if (!attr_number(c->k, c->attrs, "margin", &margin) ||
        !attr_reduction(c->k, c->attrs, false, &r))
        return NULL;
    return e->fn.f3nr ? e->fn.f3nr(c->x[0], c->x[1], c->x[2], margin, r)
                   : e->fn.f2nr(c->x[0], c->x[1], margin, r);
}

/* p is an int in the engine: only integral p (1, 2, ...) can be passed on. */
static ag_tensor *h_multi_margin(opcall *c, const op_entry *e)
{
    (void)e;
    ag_reduction r = AG_MEAN;
    int64_t p = 0;
    double margin = 0.0;
    if (!attr_int(c->k, c->attrs, "p", 1, 64, &p) ||
        !attr_number(c->k, c->attrs, "margin", &margin) ||
        !attr_reduction(c->k, c->attrs, false, &r) || !class_targets_ok(c, 0, 1))
        return NULL;
    return ag_multi_margin_loss(c->x[0], c->in[1].i, (int)p, margin, r);
}

static ag_tensor *h_triplet(opcall *c, const op_entry *e)
{
    (void)e;
    ag_reduction r = AG_MEAN;
    double margin = 0.0, p = 0.0, eps = 0.0;
    bool swap = false;
    if (!attr_number(c->k, c->attrs, "margin", &margin) ||
        !attr_number(c->k, c->attrs, "p", &p) || !attr_number(c->k, c->attrs, "eps", &eps) ||
        !attr_bool(c->k, c->attrs, "swap", &swap) ||
        !attr_reduction(c->k, c->attrs, false, &r))
        return NULL;
    return ag_triplet_margin_loss(c->x[0], c->x[1], c->x[2], margin, p, eps, swap, r);
}

/* log_probs [T,N,C], padded targets [N,S], input_lengths [N], target_lengths [N] (the
 * concatenated 1-d targets form of torch is not supported). */
static ag_tensor *h_ctc(opcall *c, const op_entry *e)
{
    (void)e;
    ag_reduction r = AG_MEAN;
    int64_t blank = 0;
    bool zero_inf = false;
    if (!attr_int(c->k, c->attrs, "blank", 0, INT64_MAX, &blank) ||
        !attr_reduction(c->k, c->attrs, false, &r) ||
        !attr_bool(c->k, c->attrs, "zero_infinity", &zero_inf))
        return NULL;
    const jtensor *lp = &c->in[0], *tg = &c->in[1], *il = &c->in[2], *tl = &c->in[3];
    if (lp->shape.ndim != 3)
        return malformed(c, "ctc_loss: log_probs must be [T,N,C]");
    int64_t N = lp->shape.d[1];
    if (tg->shape.ndim != 2) {
        case_skip(c->k, "ctc_loss: targets of shape other than [N,S] not supported");
        return NULL;
    }
    if (tg->shape.d[0] != N || il->shape.ndim != 1 || il->shape.d[0] != N ||
        tl->shape.ndim != 1 || tl->shape.d[0] != N)
        return malformed(c, "ctc_loss: targets/lengths do not match N");
    return ag_ctc_loss(c->x[0], tg->i, tg->shape.d[1], il->i, tl->i, blank, r, zero_inf);
}

static ag_tensor *h_dice(opcall *c, const op_entry *e)
{
    (void)e;
    double eps = 0.0;
    return attr_number(c->k, c->attrs, "eps", &eps) ? ag_dice_loss(c->x[0], c->x[1], eps) : NULL;
}

static ag_tensor *h_contrastive(opcall *c, const op_entry *e)
{
    (void)e;
    double margin = 0.0;
    if (!attr_number(c->k, c->attrs, "margin", &margin))
        return NULL;
    return ag_contrastive_loss(c->x[0], c->x[1], c->x[2], margin);
}

#define RED "reduction"

/* Every op of FORMAT.md's table, with exactly the attr keys it lists, and for the shared
 * handlers the engine function they call. */
static const op_entry OPS[] = {
    { "add", { NULL }, "ff", 2, h_binary, { .f2 = ag_add } },
    { "sub", { NULL }, "ff", 2, h_binary, { .f2 = ag_sub } },
    { "mul", { NULL }, "ff", 2, h_binary, { .f2 = ag_mul } },
    { "div", { NULL }, "ff", 2, h_binary, { .f2 = ag_div } },
    { "pow", { "exponent", NULL }, "f", 1, h_unary_num, { .f1n = ag_pow } },
    { "neg", { NULL }, "f", 1, h_unary, { .f1 = ag_neg } },
    { "exp", { NULL }, "f", 1, h_unary, { .f1 = ag_exp } },
    { "log", { NULL }, "f", 1, h_unary, { .f1 = ag_log } },
    { "sqrt", { NULL }, "f", 1, h_unary, { .f1 = ag_sqrt } },
    { "abs", { NULL }, "f", 1, h_unary, { .f1 = ag_abs } },
    { "relu", { NULL }, "f", 1, h_unary, { .f1 = ag_relu } },
    { "sigmoid", { NULL }, "f", 1, h_unary, { .f1 = ag_sigmoid } },
    { "tanh", { NULL }, "f", 1, h_unary, { .f1 = ag_tanh } },
    { "sin", { NULL }, "f", 1, h_unary, { .f1 = ag_sin } },
    { "cos", { NULL }, "f", 1, h_unary, { .f1 = ag_cos } },
    { "silu", { NULL }, "f", 1, h_unary, { .f1 = ag_silu } },
    { "leaky_relu", { "negative_slope", NULL }, "f", 1, h_unary_num, { .f1n = ag_leaky_relu } },
    { "elu", { "alpha", NULL }, "f", 1, h_unary_num, { .f1n = ag_elu } },
    { "gelu", { "approximate", NULL }, "f", 1, h_gelu, { 0 } },
    { "softplus", { "beta", "threshold", NULL }, "f", 1, h_softplus, { 0 } },
    { "clamp", { "min", "max", NULL }, "f", 1, h_clamp, { 0 } },
    { "sum", { "dim", "keepdim", NULL }, "f", 1, h_reduce,
      { .f1 = ag_sum, .fdim = ag_sum_dim, .fdims = ag_sum_dims } },
    { "mean", { "dim", "keepdim", NULL }, "f", 1, h_reduce,
      { .f1 = ag_mean, .fdim = ag_mean_dim, .fdims = ag_mean_dims } },
    { "max", { "dim", "keepdim", NULL }, "f", 1, h_reduce, { .f1 = ag_max, .fdim = ag_max_dim } },
    { "logsumexp", { "dim", "keepdim", NULL }, "f", 1, h_reduce,
      { .fdim = ag_logsumexp, .fdims = ag_logsumexp_dims } },
    { "matmul", { NULL }, "ff", 2, h_binary, { .f2 = ag_matmul } },
    { "linear", { "bias", NULL }, "fff", 2, h_linear, { 0 } },
    { "transpose", { "dim0", "dim1", NULL }, "f", 1, h_transpose, { 0 } },
    { "reshape", { "shape", NULL }, "f", 1, h_reshape, { 0 } },
    { "softmax", { "dim", NULL }, "f", 1, h_softmax, { .f1d = ag_softmax } },
    { "log_softmax", { "dim", NULL }, "f", 1, h_softmax, { .f1d = ag_log_softmax } },
    { "mse_loss", { RED, NULL }, "ff", 2, h_loss_plain, { .f2r = ag_mse_loss } },
    { "l1_loss", { RED, NULL }, "ff", 2, h_loss_plain, { .f2r = ag_l1_loss } },
    { "huber_loss", { RED, "delta", NULL }, "ff", 2, h_loss_num, { .f2rn = ag_huber_loss } },
    { "smooth_l1_loss", { RED, "beta", NULL }, "ff", 2, h_loss_num, { .f2rn = ag_smooth_l1_loss } },
    { "binary_cross_entropy", { RED, NULL }, "ff", 2, h_loss_plain,
      { .f2r = ag_binary_cross_entropy } },
    { "binary_cross_entropy_with_logits", { RED, NULL }, "ff", 2, h_loss_plain,
      { .f2r = ag_binary_cross_entropy_with_logits } },
    { "cross_entropy", { RED, "label_smoothing", NULL }, "fx", 2, h_cross_entropy, { 0 } },
    { "nll_loss", { RED, NULL }, "fi", 2, h_nll, { 0 } },
    { "kl_div", { RED, "log_target", NULL }, "ff", 2, h_kl_div, { 0 } },
    { "hinge_embedding_loss", { "margin", RED, NULL }, "ff", 2, h_margin_loss,
      { .f2nr = ag_hinge_embedding_loss } },
    { "multi_margin_loss", { "p", "margin", RED, NULL }, "fi", 2, h_multi_margin, { 0 } },
    { "margin_ranking_loss", { "margin", RED, NULL }, "fff", 3, h_margin_loss,
      { .f3nr = ag_margin_ranking_loss } },
    { "triplet_margin_loss", { "margin", "p", "eps", "swap", RED, NULL }, "fff", 3, h_triplet,
      { 0 } },
    { "cosine_embedding_loss", { "margin", RED, NULL }, "fff", 3, h_margin_loss,
      { .f3nr = ag_cosine_embedding_loss } },
    { "ctc_loss", { "blank", RED, "zero_infinity", NULL }, "fiii", 4, h_ctc, { 0 } },
    { "dice_loss", { "eps", NULL }, "ff", 2, h_dice, { 0 } },
    { "contrastive_loss", { "margin", NULL }, "fff", 3, h_contrastive, { 0 } },
};

/* The entry of `table` (n entries of `size` bytes, each starting with its name) that the
 * case's string `field` names (an op, an optimizer); skips the case when there is none. */
static const void *find_entry(vcase *k, const json_t *cs, const char *field, const void *table,
                              size_t n, size_t size)
{
    const char *name = json_string_value(json_object_get(cs, field));
    for (size_t i = 0; name && i < n; i++) {
        const void *e = (const char *)table + i * size;
        if (strcmp(*(const char *const *)e, name) == 0)
            return e;
    }
    case_skip(k, "%s '%s' is not implemented by the runner", field, name ? name : "?");
    return NULL;
}
#define FIND(k, cs, field, table)                                                          \
    find_entry((k), (cs), (field), (table), sizeof(table) / sizeof((table)[0]), sizeof((table)[0]))

/* =========================================================================================
 * kind "op": running a case
 * ======================================================================================= */

/* Parses the inputs of an op case into c (checking their count and dtypes against the op's
 * entry) and makes heap leaves of the float ones, with requires_grad as listed. */
static bool op_load_inputs(vcase *k, const json_t *cs, const op_entry *e, opcall *c)
{
    const json_t *inputs = json_object_get(cs, "inputs");
    const json_t *rg = json_object_get(cs, "requires_grad");
    int max = (int)strlen(e->inputs);
    if (!json_is_array(inputs) || !json_is_array(rg) ||
        json_array_size(rg) != json_array_size(inputs)) {
        case_fail(k, "malformed case: inputs/requires_grad");
        return false;
    }
    int n = (int)json_array_size(inputs);
    if (n < e->min_inputs || n > max) {
        case_fail(k, "malformed case: %d inputs for op %s", n, e->name);
        return false;
    }
    for (int i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "inputs[%d]", i);
        if (!case_tensor(k, json_array_get(inputs, i), what, &c->in[i]))
            return false;
        c->n = i + 1;
        char want = e->inputs[i];
        bool is_int = c->in[i].is_int;
        if ((want == 'f' && is_int) || (want == 'i' && !is_int)) {
            case_skip(k, "%s: dtype %s not supported for op %s", what, is_int ? "int64" : "float",
                      e->name);
            return false;
        }
        const json_t *r = json_array_get(rg, i);
        if (!json_is_boolean(r) || (is_int && json_is_true(r))) {
            case_fail(k, "malformed case: requires_grad[%d]", i);
            return false;
        }
        if (!is_int) {
            c->x[i] = jtensor_to_ag(&c->in[i]);
            if (!c->x[i] || !ag_set_requires_grad(c->x[i], json_is_true(r))) {
                case_engine_error(k, what);
                return false;
            }
        }
    }
    return true;
}

/* Backward with grad_output, then compares the gradient of every input that requires grad
 * with grads[i] (which must be null exactly where requires_grad[i] is false). */
static void op_check_grads(vcase *k, const json_t *cs, opcall *c, ag_tensor *out)
{
    const json_t *grads = json_object_get(cs, "grads");
    const json_t *rg = json_object_get(cs, "requires_grad");
    if (!json_is_array(grads) || (int)json_array_size(grads) != c->n) {
        case_fail(k, "malformed case: grads");
        return;
    }
    bool any = false;
    for (int i = 0; i < c->n; i++) {
        bool want = json_is_true(json_array_get(rg, i));
        if (want == json_is_null(json_array_get(grads, i))) {
            case_fail(k, "malformed case: grads[%d] vs requires_grad[%d]", i, i);
            return;
        }
        any = any || want;
    }
    if (!any)
        return;
    jtensor go;
    if (!case_tensor(k, json_object_get(cs, "grad_output"), "grad_output", &go))
        return;
    ag_tensor *g = go.is_int ? NULL : jtensor_to_ag(&go);
    jtensor_free(&go);
    if (!g) {
        case_fail(k, "malformed case: grad_output");
        return;
    }
    if (ag_backward_ex(out, (ag_backward_opts){ .grad_output = g }) != AG_OK) {
        case_engine_error(k, "backward");
    } else {
        for (int i = 0; i < c->n; i++) {
            const json_t *exp = json_array_get(grads, i);
            if (json_is_null(exp))
                continue;
            char what[32];
            snprintf(what, sizeof what, "grads[%d]", i);
            const ag_tensor *gi = ag_grad(c->x[i]);
            if (!gi)
                case_fail(k, "%s: no gradient (ag_grad is NULL after backward)", what);
            else
                compare_tensor(k, what, gi, exp);
        }
    }
    /* g may be referenced by the tape until the step ends. */
    ag_clear_error();
    ag_step_end();
    ag_free(g);
}

/* Runs a kind "op" case: validate the op and its attr keys, load the inputs, call the
 * handler, compare the output, then the gradients. */
static void run_op(vcase *k, const json_t *cs)
{
    const op_entry *e = FIND(k, cs, "op", OPS);
    if (!e)
        return;
    opcall c = { .k = k, .attrs = json_object_get(cs, "attrs") };
    if (check_attr_keys(k, c.attrs, e->attrs) && op_load_inputs(k, cs, e, &c)) {
        ag_tensor *out = e->run(&c, e);
        if (!out && case_ok(k))
            case_engine_error(k, "forward");
        /* Without the output's shape grad_output cannot be fed back: no backward then. */
        if (out && case_ok(k) && compare_tensor(k, "output", out, json_object_get(cs, "output")))
            op_check_grads(k, cs, &c, out);
    }
    ag_clear_error();
    ag_step_end();
    for (int i = 0; i < c.n; i++) {
        ag_free(c.x[i]);
        jtensor_free(&c.in[i]);
    }
}

/* =========================================================================================
 * kind "optim"
 * ======================================================================================= */

/* Skips the case when a vector sets `key` to exactly 0 where optim.h reads 0 as "use the
 * default" (so the engine would run with a different value than the vector's). */
static bool nonzero_or_skip(vcase *k, const char *key, double v)
{
    if (v != 0.0)
        return true;
    case_skip(k, "attr %s = 0 not supported: optim.h reads 0 as \"use the default\"", key);
    return false;
}

/* betas: [beta1, beta2], each non-zero (0 means the default in optim.h). */
static bool attr_betas(vcase *k, const json_t *attrs, double *b1, double *b2)
{
    const json_t *v = json_object_get(attrs, "betas");
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(json_array_get(v, 0)) ||
        !json_is_number(json_array_get(v, 1)))
        return attr_unsupported(k, "betas", v, NULL);
    *b1 = json_number_value(json_array_get(v, 0));
    *b2 = json_number_value(json_array_get(v, 1));
    return nonzero_or_skip(k, "betas[0]", *b1) && nonzero_or_skip(k, "betas[1]", *b2);
}

/* How an optimizer attr is read into its field of the options: a number; a number where 0
 * would mean "use the default" in optim.h (nonzero_or_skip); a boolean; or betas, two such
 * numbers (into off and off2). Every key is also the field's name in the options struct. */
typedef enum optim_attr_kind { OA_NUM, OA_NONZERO, OA_BOOL, OA_BETAS } optim_attr_kind;

typedef struct optim_attr {
    const char *key;
    optim_attr_kind kind;
    size_t off, off2;
} optim_attr;

#define OA(opts, field, kind) { #field, kind, offsetof(opts, field), 0 }
#define OA_BETAS_OF(opts) { "betas", OA_BETAS, offsetof(opts, beta1), offsetof(opts, beta2) }

/* Creates the optimizer from the bytes of its filled-in options struct (at most OPTS_SIZE). */
typedef ag_optimizer *(*optim_maker)(const ag_params *p, const unsigned char *opts);
#define OPTS_SIZE 128

/* mk_NAME: ag_NAME_new over the options struct of type T, copied out of the bytes o. */
#define OPTIM_MAKER(name, T)                                                               \
    _Static_assert(sizeof(T) <= OPTS_SIZE, #T " fits in OPTS_SIZE bytes");                 \
    static ag_optimizer *mk_##name(const ag_params *p, const unsigned char *o)             \
    {                                                                                      \
        T opts;                                                                            \
        memcpy(&opts, o, sizeof opts);                                                     \
        return ag_##name##_new(p, opts);                                                   \
    }
OPTIM_MAKER(sgd, ag_sgd_opts)
OPTIM_MAKER(adam, ag_adam_opts)
OPTIM_MAKER(adamw, ag_adam_opts)
OPTIM_MAKER(rmsprop, ag_rmsprop_opts)
OPTIM_MAKER(adagrad, ag_adagrad_opts)
OPTIM_MAKER(adadelta, ag_adadelta_opts)

/* An optimizer of FORMAT.md: its attrs, exactly these keys, in the order they are read (the
 * first unsupported value decides the skip message), and its constructor. */
typedef struct optim_entry {
    const char *name;
    optim_attr attrs[MAX_ATTRS];
    optim_maker make;
} optim_entry;

/* Every optimizer of FORMAT.md with exactly the attr keys it lists. For adamw, weight_decay 0
 * would mean the default 1e-2, so it is OA_NONZERO there but not for adam. */
static const optim_entry OPTIMS[] = {
    { "sgd",
      { OA(ag_sgd_opts, lr, OA_NONZERO), OA(ag_sgd_opts, momentum, OA_NUM),
        OA(ag_sgd_opts, dampening, OA_NUM), OA(ag_sgd_opts, weight_decay, OA_NUM),
        OA(ag_sgd_opts, nesterov, OA_BOOL), OA(ag_sgd_opts, maximize, OA_BOOL) },
      mk_sgd },
    { "adam",
      { OA(ag_adam_opts, lr, OA_NONZERO), OA_BETAS_OF(ag_adam_opts),
        OA(ag_adam_opts, eps, OA_NONZERO), OA(ag_adam_opts, weight_decay, OA_NUM),
        OA(ag_adam_opts, amsgrad, OA_BOOL), OA(ag_adam_opts, maximize, OA_BOOL) },
      mk_adam },
    { "adamw",
      { OA(ag_adam_opts, lr, OA_NONZERO), OA_BETAS_OF(ag_adam_opts),
        OA(ag_adam_opts, eps, OA_NONZERO), OA(ag_adam_opts, weight_decay, OA_NONZERO),
        OA(ag_adam_opts, amsgrad, OA_BOOL), OA(ag_adam_opts, maximize, OA_BOOL) },
      mk_adamw },
    { "rmsprop",
      { OA(ag_rmsprop_opts, lr, OA_NONZERO), OA(ag_rmsprop_opts, alpha, OA_NONZERO),
        OA(ag_rmsprop_opts, eps, OA_NONZERO), OA(ag_rmsprop_opts, weight_decay, OA_NUM),
        OA(ag_rmsprop_opts, momentum, OA_NUM), OA(ag_rmsprop_opts, centered, OA_BOOL),
        OA(ag_rmsprop_opts, maximize, OA_BOOL) },
      mk_rmsprop },
    { "adagrad",
      { OA(ag_adagrad_opts, lr, OA_NONZERO), OA(ag_adagrad_opts, lr_decay, OA_NUM),
        OA(ag_adagrad_opts, weight_decay, OA_NUM),
        OA(ag_adagrad_opts, initial_accumulator_value, OA_NUM),
        OA(ag_adagrad_opts, eps, OA_NONZERO), OA(ag_adagrad_opts, maximize, OA_BOOL) },
      mk_adagrad },
    { "adadelta",
      { OA(ag_adadelta_opts, lr, OA_NONZERO), OA(ag_adadelta_opts, rho, OA_NONZERO),
        OA(ag_adadelta_opts, eps, OA_NONZERO), OA(ag_adadelta_opts, weight_decay, OA_NUM),
        OA(ag_adadelta_opts, maximize, OA_BOOL) },
      mk_adadelta },
};

/* Maps every attr of e to its field of a zeroed options struct (held as bytes, whichever
 * struct it is) and creates the optimizer; it returns NULL after a skip or an engine error. */
static ag_optimizer *make_optim(vcase *k, const optim_entry *e, const json_t *a,
                                const ag_params *p)
{
    unsigned char o[OPTS_SIZE] = { 0 };
    for (const optim_attr *at = e->attrs; at < e->attrs + MAX_ATTRS && at->key; at++) {
        double num = 0.0, num2 = 0.0;
        bool flag = false, ok;
        switch (at->kind) {
        case OA_BOOL:
            ok = attr_bool(k, a, at->key, &flag);
            memcpy(o + at->off, &flag, sizeof flag);
            break;
        case OA_BETAS:
            ok = attr_betas(k, a, &num, &num2);
            memcpy(o + at->off, &num, sizeof num);
            memcpy(o + at->off2, &num2, sizeof num2);
            break;
        default:
            ok = attr_number(k, a, at->key, &num) &&
                 (at->kind != OA_NONZERO || nonzero_or_skip(k, at->key, num));
            memcpy(o + at->off, &num, sizeof num);
            break;
        }
        if (!ok)
            return NULL;
    }
    return e->make(p, o);
}

/* The NULL-terminated attr keys of e, for check_attr_keys. */
static void optim_keys(const optim_entry *e, const char *keys[MAX_ATTRS + 1])
{
    int n = 0;
    for (; n < MAX_ATTRS && e->attrs[n].key; n++)
        keys[n] = e->attrs[n].key;
    keys[n] = NULL;
}

/* Makes p's gradient (zeroed beforehand) exactly g: backward of sum(p * g) gives 1*g. The
 * heap tensor holding g is returned through *gconst and must outlive the step's tape. */
static ag_status set_grad(ag_tensor *p, const jtensor *g, ag_tensor **gconst)
{
    *gconst = jtensor_to_ag(g);
    ag_tensor *s = ag_sum(ag_mul(p, *gconst));
    if (!s)
        return ag_error() != AG_OK ? ag_error() : AG_ERR_STATE;
    return ag_backward(s);
}

/* Runs one optimizer step of an optim case: zero the gradients, set them to grads[i], step,
 * and compare every parameter with params_after[i]. Returns false when the case cannot go on. */
static bool optim_step(vcase *k, int t, const json_t *step, ag_optimizer *opt, ag_tensor **p,
                       int np)
{
    const json_t *grads = json_object_get(step, "grads");
    const json_t *after = json_object_get(step, "params_after");
    if (!json_is_array(grads) || (int)json_array_size(grads) != np || !json_is_array(after) ||
        (int)json_array_size(after) != np) {
        case_fail(k, "malformed case: steps[%d]", t);
        return false;
    }
    ag_tensor *gconst[MAX_INPUTS] = { NULL };
    ag_optim_zero_grad(opt);
    for (int i = 0; i < np && case_ok(k); i++) {
        char what[48];
        snprintf(what, sizeof what, "steps[%d].grads[%d]", t, i);
        jtensor g;
        if (!case_tensor(k, json_array_get(grads, i), what, &g))
            break;
        if (g.is_int || !shape_eq(g.shape, ag_shape_of(p[i])))
            case_fail(k, "malformed case: %s does not match its parameter", what);
        else if (set_grad(p[i], &g, &gconst[i]) != AG_OK)
            case_engine_error(k, what);
        jtensor_free(&g);
    }
    if (case_ok(k) && ag_optim_step(opt) != AG_OK) {
        char what[32];
        snprintf(what, sizeof what, "steps[%d]: step", t);
        case_engine_error(k, what);
    }
    bool go_on = case_ok(k);
    for (int i = 0; i < np && go_on; i++) {
        char what[48];
        snprintf(what, sizeof what, "steps[%d].params_after[%d]", t, i);
        compare_tensor(k, what, p[i], json_array_get(after, i));
    }
    ag_clear_error();
    ag_step_end();
    for (int i = 0; i < np; i++)
        ag_free(gconst[i]);
    return go_on;
}

/* Runs a kind "optim" case: create the optimizer over the listed parameters with every attr
 * mapped, then run and check each step. */
static void run_optim(vcase *k, const json_t *cs)
{
    const optim_entry *e = FIND(k, cs, "optim", OPTIMS);
    if (!e)
        return;
    const json_t *attrs = json_object_get(cs, "attrs");
    const json_t *params = json_object_get(cs, "params");
    const json_t *steps = json_object_get(cs, "steps");
    const char *keys[MAX_ATTRS + 1];
    optim_keys(e, keys);
    if (!check_attr_keys(k, attrs, keys))
        return;
    int np = json_is_array(params) ? (int)json_array_size(params) : 0;
    if (np < 1 || np > MAX_INPUTS || !json_is_array(steps)) {
        case_fail(k, "malformed case: params/steps");
        return;
    }
    ag_tensor *p[MAX_INPUTS] = { NULL };
    const char *names[MAX_INPUTS] = { "0", "1", "2", "3", "4", "5", "6", "7" };
    ag_params list = { .n = np, .tensors = p, .names = names };
    for (int i = 0; i < np && case_ok(k); i++) {
        char what[32];
        snprintf(what, sizeof what, "params[%d]", i);
        jtensor t;
        if (!case_tensor(k, json_array_get(params, i), what, &t))
            break;
        if (t.is_int)
            case_fail(k, "malformed case: %s is int64", what);
        else if (!(p[i] = jtensor_to_ag(&t)) || !ag_set_requires_grad(p[i], true))
            case_engine_error(k, what);
        jtensor_free(&t);
    }
    ag_optimizer *opt = case_ok(k) ? make_optim(k, e, attrs, &list) : NULL;
    if (!opt && case_ok(k))
        case_engine_error(k, "creating the optimizer");
    for (size_t t = 0; opt && t < json_array_size(steps); t++)
        if (!optim_step(k, (int)t, json_array_get(steps, t), opt, p, np))
            break;
    ag_optim_free(opt);
    ag_clear_error();
    ag_step_end();
    for (int i = 0; i < np; i++)
        ag_free(p[i]);
}

/* =========================================================================================
 * kind "train"
 * ======================================================================================= */

static const char *const TRAIN_ATTRS[] = { "in", "out", "lr", "epochs", "loss", "optim",
                                           "momentum", NULL };

/* Copies the JSON tensor `j` into the module parameter `dst` (shapes must be equal). */
static bool load_param(vcase *k, const char *what, const json_t *j, ag_tensor *dst)
{
    jtensor t;
    if (!case_tensor(k, j, what, &t))
        return false;
    bool ok = !t.is_int && dst && shape_eq(t.shape, ag_shape_of(dst));
    if (ok) {
        ag_real *d = ag_data(dst);
        for (size_t i = 0; i < t.n; i++)
            d[i] = (ag_real)t.f[i];
        ag_bump_version(dst);
    } else {
        case_fail(k, "malformed case: %s does not match the model's parameter", what);
    }
    jtensor_free(&t);
    return ok;
}

/* One epoch of full-batch training: zero the gradients, loss = mse(model(x), y), record the
 * loss (before the step), backward, sgd step. Compares the loss with losses[epoch]. */
static bool train_epoch(vcase *k, int ep, ag_module *m, ag_optimizer *opt, ag_tensor *x,
                        ag_tensor *y, const json_t *losses)
{
    char what[32];
    snprintf(what, sizeof what, "losses[%d]", ep);
    ag_optim_zero_grad(opt);
    ag_tensor *loss = ag_mse_loss(ag_forward(m, x), y, AG_MEAN);
    if (!loss) {
        case_engine_error(k, what);
    } else {
        compare_number(k, what, ag_item(loss), json_array_get(losses, (size_t)ep));
        if (ag_backward(loss) != AG_OK || ag_optim_step(opt) != AG_OK)
            case_engine_error(k, what);
    }
    bool engine_ok = ag_error() == AG_OK;
    ag_clear_error();
    ag_step_end();
    return engine_ok;
}

/* Runs a kind "train" case: a Linear(in, out) with the given initial weights, mse_loss mean,
 * sgd(lr, momentum) for `epochs` full-batch epochs; compares every loss and the final W, b. */
static void run_train(vcase *k, const json_t *cs)
{
    const char *model = json_string_value(json_object_get(cs, "model"));
    const json_t *a = json_object_get(cs, "attrs");
    if (!model || strcmp(model, "linear") != 0) {
        case_skip(k, "model '%s' is not implemented by the runner", model ? model : "?");
        return;
    }
    if (!check_attr_keys(k, a, TRAIN_ATTRS))
        return;
    const char *loss = json_string_value(json_object_get(a, "loss"));
    const char *optim = json_string_value(json_object_get(a, "optim"));
    int64_t in = 0, out = 0, epochs = 0;
    double lr = 0.0, momentum = 0.0;
    if (!loss || strcmp(loss, "mse_loss") != 0) {
        attr_unsupported(k, "loss", json_object_get(a, "loss"), NULL);
        return;
    }
    if (!optim || strcmp(optim, "sgd") != 0) {
        attr_unsupported(k, "optim", json_object_get(a, "optim"), NULL);
        return;
    }
    if (!attr_int(k, a, "in", 1, INT32_MAX, &in) || !attr_int(k, a, "out", 1, INT32_MAX, &out) ||
        !attr_int(k, a, "epochs", 0, INT32_MAX, &epochs) || !attr_number(k, a, "lr", &lr) ||
        !nonzero_or_skip(k, "lr", lr) || !attr_number(k, a, "momentum", &momentum))
        return;
    const json_t *losses = json_object_get(cs, "losses");
    const json_t *init = json_object_get(cs, "init");
    const json_t *fin = json_object_get(cs, "final");
    if (!json_is_array(losses) || (int64_t)json_array_size(losses) != epochs) {
        case_fail(k, "malformed case: losses does not have `epochs` entries");
        return;
    }
    jtensor jx = { 0 }, jy = { 0 };
    ag_tensor *x = NULL, *y = NULL;
    ag_optimizer *opt = NULL;
    ag_module *m = ag_linear_new(in, out, true);
    if (!m)
        case_engine_error(k, "ag_linear_new");
    if (case_ok(k) && load_param(k, "init.weight", json_object_get(init, "weight"),
                                 ag_linear_weight(m)) &&
        load_param(k, "init.bias", json_object_get(init, "bias"), ag_linear_bias(m)) &&
        case_tensor(k, json_object_get(cs, "x"), "x", &jx) &&
        case_tensor(k, json_object_get(cs, "y"), "y", &jy)) {
        if (jx.is_int || jy.is_int)
            case_fail(k, "malformed case: x/y are int64");
        else if (!(x = jtensor_to_ag(&jx)) || !(y = jtensor_to_ag(&jy)))
            case_engine_error(k, "x/y");
        else if (!(opt = ag_sgd_new(ag_parameters(m), (ag_sgd_opts){ .lr = lr,
                                                                      .momentum = momentum })))
            case_engine_error(k, "ag_sgd_new");
    }
    for (int ep = 0; opt && ep < (int)epochs; ep++)
        if (!train_epoch(k, ep, m, opt, x, y, losses))
            break;
    if (opt && case_ok(k)) {
        compare_tensor(k, "final.weight", ag_linear_weight(m), json_object_get(fin, "weight"));
        compare_tensor(k, "final.bias", ag_linear_bias(m), json_object_get(fin, "bias"));
    }
    ag_clear_error();
    ag_step_end();
    ag_optim_free(opt);
    ag_module_free(m);
    ag_free(x);
    ag_free(y);
    jtensor_free(&jx);
    jtensor_free(&jy);
}

/* =========================================================================================
 * Driver
 * ======================================================================================= */

typedef struct tally {
    int passed, failed, skipped;
} tally;

/* Prints the case's line (failures and skips only) and counts it. */
static void report(const vcase *k, tally *t)
{
    if (k->v == V_PASS) {
        t->passed++;
    } else if (k->v == V_SKIP) {
        t->skipped++;
        printf("SKIP %s: %s\n", k->id, k->msg);
    } else {
        t->failed++;
        if (k->more)
            printf("FAIL %s: %s (+%d more failing)\n", k->id, k->msg, k->more);
        else
            printf("FAIL %s: %s\n", k->id, k->msg);
    }
}

/* Parses and runs one line (one case) of a vector file; `where` is "file:line" for messages
 * about lines that are not valid cases. Lines whose id does not contain `filter` are ignored. */
static void run_line(const char *line, const char *where, const char *filter, tally *t)
{
    json_error_t err;
    json_t *cs = json_loads(line, 0, &err);
    vcase k = { .id = where, .v = V_PASS };
    const char *id = json_string_value(json_object_get(cs, "id"));
    if (id)
        k.id = id;
    if (filter && !strstr(k.id, filter)) {
        json_decref(cs);
        return;
    }
    const json_t *rtol = json_object_get(cs, "rtol"), *atol = json_object_get(cs, "atol");
    const char *kind = json_string_value(json_object_get(cs, "kind"));
    if (!cs) {
        case_fail(&k, "malformed line: %s", err.text);
    } else if (!id || !kind || !json_is_number(rtol) || !json_is_number(atol)) {
        case_fail(&k, "malformed case: id, kind, rtol or atol missing");
    } else {
        k.rtol = json_number_value(rtol);
        k.atol = json_number_value(atol);
        if (strcmp(kind, "op") == 0)
            run_op(&k, cs);
        else if (strcmp(kind, "optim") == 0)
            run_optim(&k, cs);
        else if (strcmp(kind, "train") == 0)
            run_train(&k, cs);
        else
            case_skip(&k, "kind '%s' is not implemented by the runner", kind);
    }
    ag_clear_error();
    ag_step_end();
    report(&k, t);
    json_decref(cs);
}

/* Runs every case of one vector file. A file that cannot be read counts as one failure. */
static void run_file(const char *path, const char *filter, tally *t)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("FAIL %s: cannot open the file\n", path);
        t->failed++;
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while ((len = getline(&line, &cap, f)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char where[512];
        snprintf(where, sizeof where, "%s:%ld", path, lineno);
        run_line(line, where, filter, t);
    }
    free(line);
    fclose(f);
}

/* The vector file used when none is given: AG_CONFORMANCE_VECTORS if defined at compile
 * time, else tests/data/public.jsonl from the source root, else the data directory next to
 * this source file (meson compiles it by a path relative to the build directory). */
static const char *default_vectors(void)
{
#ifdef AG_CONFORMANCE_VECTORS
    return AG_CONFORMANCE_VECTORS;
#else
    static char buf[4096];
    const char *from_root = "tests/data/public.jsonl";
    FILE *f = fopen(from_root, "r");
    if (f) {
        fclose(f);
        return from_root;
    }
    const char *src = __FILE__, *slash = strrchr(src, '/');
    snprintf(buf, sizeof buf, "%.*sdata/public.jsonl", slash ? (int)(slash - src + 1) : 0, src);
    return buf;
#endif
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    const char *files[256];
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-k") == 0 && i + 1 < argc) {
            filter = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [-k SUBSTRING] [FILE.jsonl ...]\n", argv[0]);
            return 2;
        } else if (nfiles < (int)(sizeof files / sizeof files[0])) {
            files[nfiles++] = argv[i];
        }
    }
    if (nfiles == 0)
        files[nfiles++] = default_vectors();

    tally t = { 0, 0, 0 };
    for (int i = 0; i < nfiles; i++)
        run_file(files[i], filter, &t);
    printf("%d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
    fflush(stdout);
    return (t.failed || t.skipped || t.passed == 0) ? 1 : 0;
}
