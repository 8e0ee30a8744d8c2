/* gradcheck.c — analytic gradients against central finite differences.
 *
 * Meant for the double-precision build (AG_DOUBLE; pkg-config agrad64), where a step of 1e-6
 * gives differences accurate to ~1e-9; in float the default step is 1e-3 and only loose
 * tolerances are meaningful. For outputs of up to 32 elements the whole Jacobian is checked,
 * one backward per output element; larger outputs are checked through two fixed random
 * projections u (the gradient of sum(u * f(x))). */
#include "autograd_internal.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FULL_JACOBIAN_MAX 32
#define N_PROJECTIONS 2

typedef struct check {
    ag_fn fn;
    ag_tensor *const *in;
    int n;
    void *user;
    ag_gradcheck_opts o;
    ag_gradcheck_report rep;
} check;

static ag_tensor *eval(const check *c, bool grad)
{
    bool prev = ag_set_grad_enabled(grad);
    ag_tensor *y = c->fn(c->in, c->n, c->user);
    ag_set_grad_enabled(prev);
    return y;
}

/* sum(u * y) in double, u NULL meaning the one-hot at `j`. */
static double project(const ag_tensor *y, const ag_real *u, int j)
{
    if (!u)
        return (double)y->data[j];
    double s = 0;
    for (size_t i = 0; i < y->numel; i++)
        s += (double)u[i] * (double)y->data[i];
    return s;
}

/* Central difference of sum(u * f) with respect to element k of input i. */
static bool numeric(check *c, int i, size_t k, const ag_real *u, int j, double *out)
{
    ag_real *x = c->in[i]->data, v = x[k];
    double h = c->o.eps;
    agi_tape_mark m = agi_tape_mark_get();
    x[k] = (ag_real)(v + h);
    ag_tensor *yp = eval(c, false);
    double fp = yp ? project(yp, u, j) : NAN;
    x[k] = (ag_real)(v - h);
    ag_tensor *ym = eval(c, false);
    double fm = ym ? project(ym, u, j) : NAN;
    x[k] = v;
    agi_tape_rewind(m);
    if (!yp || !ym)
        return false;
    /* divide by the step actually taken, which float rounding may have changed */
    *out = (fp - fm) / ((double)(ag_real)(v + h) - (double)(ag_real)(v - h));
    return true;
}

/* Compares one projection: analytic grads of sum(u*y) (or of y[j]) against numeric ones. */
static bool compare_one(check *c, ag_tensor *y, const ag_real *u, int j)
{
    agi_tape_mark m = agi_tape_mark_get();
    ag_tensor *go = ag_zeros_tape(y->shape);
    if (!go)
        return false;
    if (u)
        memcpy(go->data, u, y->numel * sizeof(ag_real));
    else
        go->data[j] = 1;
    ag_tensor *res[AG_MAX_OP_INPUTS * 4] = { 0 };
    ag_tensor *ins[AG_MAX_OP_INPUTS * 4];
    int idx[AG_MAX_OP_INPUTS * 4], m_in = 0;
    for (int i = 0; i < c->n && m_in < AG_MAX_OP_INPUTS * 4; i++)
        if (c->in[i]->requires_grad)
            ins[m_in] = c->in[i], idx[m_in++] = i;
    /* An output without history is constant in the inputs: its analytic gradient is zero,
     * and the finite differences say whether that is true. */
    ag_backward_opts bo = { .grad_output = go, .retain_graph = true };
    if (y->requires_grad && ag_grad_of(y, m_in, ins, res, bo) != AG_OK)
        return false;
    for (int t = 0; t < m_in; t++) {
        for (size_t k = 0; k < ins[t]->numel; k++) {
            double a = res[t] ? (double)res[t]->data[k] : 0, num;
            if (!numeric(c, idx[t], k, u, j, &num))
                return false;
            double err = fabs(a - num) - (c->o.atol + c->o.rtol * fabs(num));
            if (isnan(a) || isnan(num))
                err = INFINITY;
            if (err > c->rep.max_err) {
                c->rep = (ag_gradcheck_report){ .ok = err <= 0, .input = idx[t], .index = k,
                                                .out_index = u ? -1 : j, .analytic = a,
                                                .numeric = num, .max_err = err };
            }
        }
    }
    agi_tape_rewind(m);
    return true;
}

static void defaults(ag_gradcheck_opts *o)
{
#ifdef AG_DOUBLE
    const double eps = 1e-6;
#else
    const double eps = 1e-3;
#endif
    if (o->eps <= 0)
        o->eps = eps;
    if (o->atol <= 0)
        o->atol = 1e-5;
    if (o->rtol <= 0)
        o->rtol = 1e-3;
}

static bool run_check(check *c)
{
    c->rep = (ag_gradcheck_report){ .ok = true, .max_err = -INFINITY, .out_index = -1 };
    ag_tensor *y = eval(c, true);
    if (!y) {
        if (ag_error() == AG_OK)
            ag_fail(AG_ERR_ARG, "gradcheck: fn returned NULL without reporting an error");
        return false;
    }
    bool any = false;
    for (int i = 0; i < c->n; i++)
        any |= c->in[i]->requires_grad;
    if (!any)
        return ag_fail(AG_ERR_ARG, "gradcheck: no input requires grad"), false;
    if (y->numel <= FULL_JACOBIAN_MAX) {
        for (size_t j = 0; j < y->numel; j++)
            if (!compare_one(c, y, NULL, (int)j))
                return false;
        return true;
    }
    ag_real *u = agi_alloc(y->numel * sizeof(ag_real));
    if (!u)
        return false;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    bool ok = true;
    for (int p = 0; ok && p < N_PROJECTIONS; p++) {
        for (size_t i = 0; i < y->numel; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            u[i] = (ag_real)((double)(s >> 11) * 0x1p-53 * 2 - 1);
        }
        ok = compare_one(c, y, u, -1);
    }
    agi_release(u);
    return ok;
}

static void print_report(const ag_gradcheck_report *r, const char *what)
{
    fprintf(stderr,
            "%s: mismatch at input %d, element %zu (output %d): analytic %.10g, numeric %.10g\n",
            what, r->input, r->index, r->out_index, r->analytic, r->numeric);
}

static bool finish(check *c, const char *what, ag_gradcheck_report *report)
{
    agi_tape_mark m = agi_tape_mark_get();
    bool ran = run_check(c);
    agi_tape_rewind(m);
    if (!ran)
        c->rep.ok = false;
    if (ran && !c->rep.ok && !c->o.quiet)
        print_report(&c->rep, what);
    if (report)
        *report = c->rep;
    return ran && c->rep.ok;
}

static bool check_args(ag_fn fn, ag_tensor *const *inputs, int n, const char *what)
{
    if (ag_error() != AG_OK)
        return false;
    if (!fn || !inputs || n < 1 || n > AG_MAX_OP_INPUTS * 4)
        return ag_fail(AG_ERR_ARG, "%s: fn or inputs is NULL, or n = %d is out of range", what, n),
               false;
    for (int i = 0; i < n; i++)
        if (!agi_check_live(inputs[i], what, i) ||
            (inputs[i]->kind != AGI_HEAP &&
             ag_fail(AG_ERR_ARG, "%s: input %d must be a heap tensor (ag_from, ag_randn...)", what, i)))
            return false;
    return true;
}

bool ag_gradcheck(ag_fn fn, ag_tensor *const *inputs, int n, void *user,
                  ag_gradcheck_opts opts, ag_gradcheck_report *report)
{
    if (report)
        *report = (ag_gradcheck_report){ 0 };
    if (!check_args(fn, inputs, n, "gradcheck"))
        return false;
    defaults(&opts);
    check c = { fn, inputs, n, user, opts, { 0 } };
    return finish(&c, "gradcheck", report);
}

/* --- second derivatives: gradcheck of the vector-Jacobian product --------------------------
 * g(x) = sum_i sum(w_i * d(sum(u * f(x)))/dx_i), computed with create_graph so that it is a
 * differentiable function of x; its gradient is a Hessian-vector product. */

typedef struct vjp_ctx {
    ag_fn fn;
    void *user;
    uint64_t seed;
} vjp_ctx;

static void fill_random(ag_real *d, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        d[i] = (ag_real)((double)(*s >> 11) * 0x1p-53 * 2 - 1);
    }
}

static ag_tensor *vjp_fn(ag_tensor *const *in, int n, void *user)
{
    vjp_ctx *v = user;
    bool prev = ag_set_grad_enabled(true);
    ag_tensor *y = v->fn(in, n, v->user), *res[AG_MAX_OP_INPUTS * 4] = { 0 };
    ag_tensor *ins[AG_MAX_OP_INPUTS * 4], *total = NULL;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (in[i]->requires_grad)
            ins[m++] = in[i];
    uint64_t s = v->seed;
    ag_tensor *u = y ? ag_empty(y->shape) : NULL;
    if (u) {
        fill_random(u->data, u->numel, &s);
        ag_backward_opts bo = { .grad_output = u, .create_graph = true };
        if (ag_grad_of(y, m, ins, res, bo) == AG_OK) {
            for (int i = 0; i < m; i++) {
                if (!res[i])
                    continue;
                ag_tensor *w = ag_empty(res[i]->shape);
                if (!w)
                    break;
                fill_random(w->data, w->numel, &s);
                ag_tensor *term = ag_sum(ag_mul(res[i], w));
                total = total ? ag_add(total, term) : term;
            }
        }
    }
    ag_set_grad_enabled(prev);
    if (!total && ag_error() == AG_OK)
        total = ag_zeros_tape(AG_SCALAR); /* no input reaches the output: the VJP is 0 */
    return total;
}

bool ag_gradgradcheck(ag_fn fn, ag_tensor *const *inputs, int n, void *user,
                      ag_gradcheck_opts opts, ag_gradcheck_report *report)
{
    if (report)
        *report = (ag_gradcheck_report){ 0 };
    if (!check_args(fn, inputs, n, "gradgradcheck"))
        return false;
    defaults(&opts);
    vjp_ctx v = { fn, user, 0x2545F4914F6CDD1Dull };
    check c = { vjp_fn, inputs, n, &v, opts, { 0 } };
    return finish(&c, "gradgradcheck", report);
}
