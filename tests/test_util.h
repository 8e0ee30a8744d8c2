/* test_util.h — small helpers shared by the op tests (double build: ag_real = double).
 *
 *   expect_shape(t, shape)                    t is non-NULL and has that shape
 *   expect_tensor(t, expected, n, rtol, atol) every |got - exp| <= atol + rtol*|exp|; on
 *                                             failure the worst element is reported
 *   expect_error(call, code, "message")       call returns NULL with exactly that error
 *   DEF_FN(name, expr)                        an ag_fn whose body is `return expr;` over in[]
 *   expect_gradcheck / expect_gradgradcheck   ag_gradcheck / ag_gradgradcheck with tight
 *                                             tolerances, reporting the worst element
 *   EXPECT_VALUES(t, tol, v0, v1, ...)         expect_tensor with literal values
 *   backward_with(y, go) / BACKWARD_WITH(y, ...)  backward of sum(y * go)
 *   tracked heap tensors (leaf, randn_leaf, uniform_leaf, signed_leaf, track) are freed by
 *   test_done(), which also checks that no error is pending and ends the step
 *   ref_case + run_ref_case                   a case of tests/data/public.jsonl as literals:
 *                                             output and gradients of sum(out * grad_output)
 *   RUN_REF_CASES(fn, user, &R_a, &R_b, ...)  run_ref_case for each, through the same fn
 */
#ifndef AG_TEST_UTIL_H
#define AG_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "agrad.h"

/* The double build reproduces PyTorch's float64 numbers up to rounding order. */
#define REF_RTOL 1e-9
#define REF_ATOL 1e-12

/* gradcheck tolerances (tighter than the library's defaults: finite differences with a step
 * of 1e-6 are good to ~1e-9 in double). */
#define GC_ATOL 1e-6
#define GC_RTOL 1e-5

/* --- heap tensors freed at the end of the test ---------------------------------------- */

#define TU_MAX_TRACKED 128
static ag_tensor *tu_tracked_[TU_MAX_TRACKED];
static int tu_ntracked_;

static inline ag_tensor *track(ag_tensor *t)
{
    cr_assert(t != NULL, "tensor creation failed: %s", ag_error_message());
    cr_assert(tu_ntracked_ < TU_MAX_TRACKED, "too many tracked tensors");
    tu_tracked_[tu_ntracked_++] = t;
    return t;
}

/* A tracked heap tensor holding a copy of data, requiring grad if rg. */
static inline ag_tensor *leaf(const ag_real *data, ag_shape s, bool rg)
{
    ag_tensor *t = track(ag_from(data, ag_shape_numel(s), s));
    return ag_set_requires_grad(t, rg);
}

static inline ag_tensor *randn_leaf(ag_shape s, bool rg)
{
    return ag_set_requires_grad(track(ag_randn(s)), rg);
}

/* Uniform in [lo, hi). */
static inline ag_tensor *uniform_leaf(ag_shape s, double lo, double hi, bool rg)
{
    ag_tensor *t = track(ag_rand(s));
    ag_real *d = ag_data(t);
    for (size_t i = 0; i < ag_numel(t); i++)
        d[i] = (ag_real)(lo + (hi - lo) * d[i]);
    return ag_set_requires_grad(t, rg);
}

/* Magnitudes uniform in [lo, hi), signs alternating (+, -, +, ...): away from 0 and kinks. */
static inline ag_tensor *signed_leaf(ag_shape s, double lo, double hi, bool rg)
{
    ag_tensor *t = uniform_leaf(s, lo, hi, rg);
    ag_real *d = ag_data(t);
    for (size_t i = 1; i < ag_numel(t); i += 2)
        d[i] = -d[i];
    return t;
}

/* Frees the tracked tensors, ends the step, and expects no pending error. */
static inline void test_done(void)
{
    while (tu_ntracked_ > 0)
        ag_free(tu_tracked_[--tu_ntracked_]);
    cr_expect(ag_error() == AG_OK, "error left pending: %s", ag_error_message());
    ag_step_end();
}

/* --- comparisons ---------------------------------------------------------------------- */

static inline bool tu_same_shape(ag_shape a, ag_shape b)
{
    return a.ndim == b.ndim && memcmp(a.d, b.d, (size_t)a.ndim * sizeof a.d[0]) == 0;
}

static inline void tu_expect_shape_(const ag_tensor *t, ag_shape s, const char *what,
                                    const char *file, int line)
{
    cr_assert(t != NULL, "%s:%d: %s is NULL: %s", file, line, what, ag_error_message());
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    cr_assert(tu_same_shape(ag_shape_of(t), s), "%s:%d: %s has shape %s, expected %s", file,
              line, what, ag_shape_str(ag_shape_of(t), a), ag_shape_str(s, b));
}
#define expect_shape(t, s) tu_expect_shape_((t), (s), #t, __FILE__, __LINE__)

static inline void tu_expect_data_(const ag_real *got, const ag_real *exp, size_t n,
                                   double rtol, double atol, const char *what,
                                   const char *file, int line)
{
    size_t worst = 0;
    double worst_excess = -INFINITY;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        double g = (double)got[i], e = (double)exp[i];
        double excess = fabs(g - e) - (atol + rtol * fabs(e));
        if (!isfinite(g) || isnan(excess))
            excess = INFINITY;
        if (excess > worst_excess)
            worst_excess = excess, worst = i;
        if (excess > 0)
            ok = false;
    }
    cr_expect(ok, "%s:%d: %s: element %zu of %zu is %.17g, expected %.17g (rtol %g, atol %g)",
              file, line, what, worst, n, n ? (double)got[worst] : 0.0,
              n ? (double)exp[worst] : 0.0, rtol, atol);
}

static inline void tu_expect_tensor_(const ag_tensor *t, const ag_real *exp, size_t n,
                                     double rtol, double atol, const char *what,
                                     const char *file, int line)
{
    cr_assert(t != NULL, "%s:%d: %s is NULL: %s", file, line, what, ag_error_message());
    cr_assert_eq(ag_numel(t), n, "%s:%d: %s has %zu elements, expected %zu", file, line, what,
                 ag_numel(t), n);
    tu_expect_data_(ag_cdata(t), exp, n, rtol, atol, what, file, line);
}
#define expect_tensor(t, exp, n, rtol, atol)                                                \
    tu_expect_tensor_((t), (exp), (n), (rtol), (atol), #t, __FILE__, __LINE__)

/* expect_tensor with the expected values inline: EXPECT_VALUES(t, 1e-12, 1, 2, 3) */
#define EXPECT_VALUES(t, tol, ...)                                                          \
    expect_tensor((t), ((const ag_real[]){ __VA_ARGS__ }),                                  \
                  sizeof((const ag_real[]){ __VA_ARGS__ }) / sizeof(ag_real), (tol), (tol))

/* `call` returns NULL and records exactly (code, msg); the error is cleared afterwards. */
#define expect_error(call, code, msg)                                                       \
    do {                                                                                    \
        ag_clear_error();                                                                   \
        ag_tensor *tu_r_ = (call);                                                          \
        cr_expect(tu_r_ == NULL, "%s:%d: %s did not fail", __FILE__, __LINE__, #call);      \
        cr_expect_eq(ag_error(), (code), "%s:%d: %s: status %d, expected %d", __FILE__,     \
                     __LINE__, #call, (int)ag_error(), (int)(code));                        \
        cr_expect_str_eq(ag_error_message(), (msg), "%s:%d: %s: message \"%s\"", __FILE__,  \
                         __LINE__, #call, ag_error_message());                              \
        ag_clear_error();                                                                   \
    } while (0)

/* Backward of sum(y * go), go (y's shape) given as values; asserts success. */
static inline void backward_with(ag_tensor *y, const ag_real *go)
{
    cr_assert(y != NULL, "backward_with: NULL output: %s", ag_error_message());
    ag_tensor *g = leaf(go, ag_shape_of(y), false);
    ag_status st = ag_backward_ex(y, (ag_backward_opts){ .grad_output = g });
    cr_assert(st == AG_OK, "backward failed: %s", ag_error_message());
}
#define BACKWARD_WITH(y, ...) backward_with((y), (const ag_real[]){ __VA_ARGS__ })

/* --- functions for gradcheck ---------------------------------------------------------- */

#define DEF_FN(name, expr)                                                                  \
    static ag_tensor *name(ag_tensor *const *in, int n, void *user)                        \
    {                                                                                       \
        (void)in, (void)n, (void)user;                                                      \
        return (expr);                                                                      \
    }

static inline void tu_check_(ag_fn fn, ag_tensor *const *in, int n, void *user, bool second,
                             const char *what, const char *file, int line)
{
    ag_gradcheck_report r;
    ag_gradcheck_opts o = { .atol = GC_ATOL, .rtol = GC_RTOL, .quiet = true };
    bool ok = second ? ag_gradgradcheck(fn, in, n, user, o, &r)
                     : ag_gradcheck(fn, in, n, user, o, &r);
    cr_expect(ok,
              "%s:%d: %s(%s) failed: input %d element %zu (output %d): analytic %.12g, "
              "numeric %.12g; error: \"%s\"",
              file, line, second ? "gradgradcheck" : "gradcheck", what, r.input, r.index,
              r.out_index, r.analytic, r.numeric, ag_error_message());
    ag_clear_error();
}
#define expect_gradcheck(fn, in, n, user)                                                   \
    tu_check_((fn), (in), (n), (user), false, #fn, __FILE__, __LINE__)
#define expect_gradgradcheck(fn, in, n, user)                                               \
    tu_check_((fn), (in), (n), (user), true, #fn, __FILE__, __LINE__)
/* both */
#define expect_gradchecks(fn, in, n, user)                                                  \
    do {                                                                                    \
        expect_gradcheck(fn, in, n, user);                                                  \
        expect_gradgradcheck(fn, in, n, user);                                              \
    } while (0)

/* --- reference cases from tests/data/public.jsonl -------------------------------------- */

#define REF_MAX_IN 4

typedef struct ref_tensor {
    ag_shape shape;
    const ag_real *data;
} ref_tensor;

typedef struct ref_case {
    const char *id;
    int n_in;
    ref_tensor in[REF_MAX_IN];
    bool requires_grad[REF_MAX_IN];
    ref_tensor out;
    const ag_real *grad_output; /* out's shape */
    const ag_real *grads[REF_MAX_IN]; /* NULL where requires_grad is false */
} ref_case;

/* Runs fn on the case's inputs, compares the output, backpropagates grad_output and compares
 * each input's gradient. */
static inline void run_ref_case(const ref_case *c, ag_fn fn, void *user)
{
    ag_tensor *in[REF_MAX_IN] = { 0 };
    for (int i = 0; i < c->n_in; i++)
        in[i] = leaf(c->in[i].data, c->in[i].shape, c->requires_grad[i]);
    ag_tensor *y = fn(in, c->n_in, user);
    cr_assert(y != NULL, "%s: NULL output: %s", c->id, ag_error_message());
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    cr_assert(tu_same_shape(ag_shape_of(y), c->out.shape), "%s: output shape %s, expected %s",
              c->id, ag_shape_str(ag_shape_of(y), a), ag_shape_str(c->out.shape, b));
    size_t n = ag_shape_numel(c->out.shape);
    tu_expect_data_(ag_cdata(y), c->out.data, n, REF_RTOL, REF_ATOL, "output", c->id, 0);
    ag_tensor *go = leaf(c->grad_output, c->out.shape, false);
    ag_status st = ag_backward_ex(y, (ag_backward_opts){ .grad_output = go });
    cr_assert(st == AG_OK, "%s: backward failed: %s", c->id, ag_error_message());
    for (int i = 0; i < c->n_in; i++) {
        ag_tensor *g = ag_grad(in[i]);
        if (!c->grads[i]) {
            cr_expect(g == NULL, "%s: input %d has a gradient but does not require grad", c->id,
                      i);
            continue;
        }
        cr_assert(g != NULL, "%s: no gradient for input %d", c->id, i);
        cr_assert(tu_same_shape(ag_shape_of(g), c->in[i].shape),
                  "%s: gradient %d has shape %s, expected %s", c->id, i,
                  ag_shape_str(ag_shape_of(g), a), ag_shape_str(c->in[i].shape, b));
        char what[32];
        snprintf(what, sizeof what, "grad of input %d", i);
        tu_expect_data_(ag_cdata(g), c->grads[i], ag_shape_numel(c->in[i].shape), REF_RTOL,
                        REF_ATOL, what, c->id, 0);
    }
}

/* Runs the n reference cases through the same fn and user data, each as run_ref_case (whose
 * messages name the case's id). RUN_REF_CASES(fn, user, &R_a, &R_b, ...) lists them inline. */
static inline void run_ref_cases(ag_fn fn, void *user, const ref_case *const *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        run_ref_case(cases[i], fn, user);
}
#define RUN_REF_CASES(fn, user, ...)                                                        \
    run_ref_cases((fn), (user), (const ref_case *const[]){ __VA_ARGS__ },                   \
                  sizeof((const ref_case *const[]){ __VA_ARGS__ }) / sizeof(const ref_case *))


#endif
