/* test_uniform_grad.c — sum's gradient as one number (agi_uniform), and relu's backward of
 * it kept lazy (agi_masked).
 *
 * In a backward without create_graph, sum hands its input a "uniform" gradient: the input's
 * shape, one stored value; relu's backward of that is a "masked" one (the value where relu's
 * output is > 0, else 0), which addcmul's backward reads in its own pass. Everything else
 * must see an ordinary tensor with every element filled: other ops' backwards (a custom op
 * here), accumulation with a second gradient, hooks, ag_grad_of, .grad. Under ASan a reader
 * that got the one-value tensor would overflow, so these tests read every element; the fused
 * relu(addcmul) gradients are held bit for bit to the unfused ones (create_graph, which takes
 * the general path) and to the formula. Built against both precisions. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agrad.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
    ag_set_detect_anomaly(false);
}
TestSuite(uniform_grad, .fini = teardown);

#define N 300

static ag_tensor *ramp_leaf(void)
{
    ag_real v[N];
    for (int i = 0; i < N; i++)
        v[i] = (ag_real)(i - N / 2) / 7;
    return ag_set_requires_grad(ag_from(v, N, AG_SHAPE(3, N / 3)), true);
}

static void assert_all(ag_tensor *g, ag_real (*want)(int i), const char *what)
{
    cr_assert_not_null(g, "%s: no gradient", what);
    cr_assert_eq(ag_numel(g), N);
    for (int i = 0; i < N; i++)
        cr_assert_float_eq(ag_data(g)[i], want(i), 1e-5, "%s [%d]", what, i);
}

static ag_real relu_mask(int i) { return i - N / 2 > 0 ? 1 : 0; }
static ag_real ones(int i) { return (void)i, 1; }
static ag_real twos(int i) { return (void)i, 2; }

Test(uniform_grad, relu_reads_it_and_matches_create_graph)
{
    ag_tensor *x = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(ag_relu(x))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), relu_mask, "sum(relu(x))");
    ag_zero_grad(x);
    ag_backward_opts o = { .create_graph = true }; /* the general path: no uniform tensor */
    cr_assert_eq(ag_backward_ex(ag_sum(ag_relu(x)), o), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), relu_mask, "with create_graph");
    ag_free(x);
}

Test(uniform_grad, a_leaf_gets_every_element_and_accumulates)
{
    ag_tensor *w = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(w)), AG_OK);
    ag_step_end();
    assert_all(ag_grad(w), ones, "sum(w)");
    cr_assert_eq(ag_backward(ag_sum(w)), AG_OK);
    ag_step_end();
    assert_all(ag_grad(w), twos, "accumulated");
    ag_zero_grad(w);
    cr_assert_eq(ag_backward(ag_sum(w)), AG_OK);
    ag_step_end();
    assert_all(ag_grad(w), ones, "after zero_grad");
    ag_free(w);
}

/* y = relu(x) feeds two sums: its gradient is a uniform one plus a dense one. */
static ag_real two_paths(int i) { return i - N / 2 > 0 ? 1 + 2 * (ag_real)(i - N / 2) / 7 : 0; }

Test(uniform_grad, added_to_a_dense_gradient)
{
    ag_tensor *x = ramp_leaf();
    ag_tensor *y = ag_relu(x);
    cr_assert_eq(ag_backward(ag_add(ag_sum(y), ag_sum(ag_mul(y, y)))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), two_paths, "sum(y) + sum(y*y)");
    ag_free(x);
}

static ag_tensor *check_hook(ag_tensor *g, void *user)
{
    assert_all(g, ones, "hook");
    ++*(int *)user;
    return NULL;
}

Test(uniform_grad, hooks_and_grad_of_see_every_element)
{
    ag_tensor *x = ramp_leaf();
    int calls = 0;
    ag_tensor *y = ag_relu(x);
    cr_assert_eq(ag_register_hook(y, check_hook, &calls), AG_OK);
    cr_assert_eq(ag_backward(ag_sum(y)), AG_OK);
    cr_assert_eq(calls, 1);
    ag_step_end();
    ag_tensor *y2 = ag_mul_scalar(x, 1), *g = NULL;
    cr_assert_eq(ag_grad_of(ag_sum(y2), 1, &y2, &g, (ag_backward_opts){ 0 }), AG_OK);
    assert_all(g, ones, "grad_of");
    ag_tensor *x2 = NULL;
    cr_assert_eq(ag_grad_of(ag_sum(ag_relu(x)), 1, &x, &x2, (ag_backward_opts){ 0 }), AG_OK);
    assert_all(x2, relu_mask, "grad_of through relu");
    ag_free(x);
}

/* A custom op whose backward reads every element of dy (a raw loop). */
static ag_status twice_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    (void)c;
    out[0] = ag_mul_scalar(in[0], 2);
    return out[0] ? AG_OK : ag_error();
}
static ag_status twice_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    (void)c;
    ag_tensor *g = ag_empty(ag_shape_of(dy[0]));
    if (!g)
        return ag_error();
    for (size_t i = 0; i < ag_numel(dy[0]); i++)
        ag_data(g)[i] = 2 * ag_data(dy[0])[i];
    dx[0] = g;
    return AG_OK;
}
static const ag_op TWICE = { .name = "twice", .n_in = 1, .n_out = 1, .forward = twice_fwd,
                             .backward = twice_bwd, .once_differentiable = true };

Test(uniform_grad, a_custom_backward_gets_an_ordinary_tensor)
{
    ag_tensor *x = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(ag_apply(&TWICE, &x, 1, NULL, 0, NULL))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), twos, "sum(twice(x))");
    ag_free(x);
}

Test(uniform_grad, anomaly_mode_checks_the_one_value)
{
    ag_set_detect_anomaly(true);
    ag_tensor *x = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(ag_relu(x))), AG_OK);
    ag_step_end();
    assert_all(ag_grad(x), relu_mask, "anomaly mode");
    ag_tensor *y = ag_relu(x), *nan = ag_scalar(NAN);
    cr_assert_eq(ag_backward_ex(ag_sum(y), (ag_backward_opts){ .grad_output = nan }),
                 AG_ERR_NUMERIC);
    ag_free(nan);
    ag_free(x);
}

/* --- relu(addcmul(c, a, b)): the masked gradient read by addcmul's fused backward -------- */

/* Sizes: scalar tails, odd lengths around a vector and a thread grain, and one past the
 * streaming stores' threshold (2^18, float build) with a tail. */
static const size_t SIZES[] = { 1, 2, 7, 15, 37, 1025, ((size_t)1 << 18) + 37 };
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])

/* Ordinary values in [-2, 2), and at fixed strides what relu's mask and the products must
 * get right: y exactly +0 and -0 + 0, NaN inputs (mask false, and 0 * NaN in db), Inf * 0,
 * and y = Inf. */
static void fill_inputs(ag_real *c, ag_real *a, ag_real *b, size_t n)
{
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) {
        ag_real r[3];
        for (int k = 0; k < 3; k++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            r[k] = (ag_real)((double)(s >> 11) * 0x1p-53 * 4 - 2);
        }
        c[i] = r[0], a[i] = r[1], b[i] = r[2];
        if (i % 11 == 1)
            c[i] = -3, a[i] = 1.5, b[i] = 2;
        else if (i % 11 == 3)
            c[i] = -0.0, a[i] = 0;
        else if (i % 11 == 5)
            a[i] = NAN;
        else if (i % 11 == 7)
            a[i] = INFINITY, b[i] = 0;
        else if (i % 11 == 9)
            c[i] = 0, a[i] = INFINITY, b[i] = 1;
    }
}

typedef struct fx {
    ag_tensor *in[3]; /* c, a, b: leaves */
    ag_real *want[3]; /* their expected gradients (reference) */
    size_t n;
} fx;

static fx fx_new(size_t n)
{
    fx f = { .n = n };
    for (int k = 0; k < 3; k++) {
        f.in[k] = ag_set_requires_grad(ag_zeros(AG_SHAPE((int64_t)n)), true);
        f.want[k] = malloc(n * sizeof(ag_real));
    }
    fill_inputs(ag_data(f.in[0]), ag_data(f.in[1]), ag_data(f.in[2]), n);
    return f;
}

static void fx_free(fx *f)
{
    for (int k = 0; k < 3; k++) {
        ag_free(f->in[k]);
        free(f->want[k]);
    }
}

/* sum(relu(addcmul(c, a, b))), with relu's output in *y. */
static ag_tensor *fx_loss(fx *f, ag_tensor **y)
{
    ag_tensor *r = ag_relu(ag_addcmul(f->in[0], f->in[1], f->in[2]));
    if (y)
        *y = r;
    return ag_sum(r);
}

/* The gradients relu's backward then addcmul's give, as plain C from relu's output y:
 * g = y > 0 ? v : 0, dc = g, da = g b, db = g a (want[k] in input order). */
static void formula(const fx *f, const ag_real *y, ag_real v, ag_real **want)
{
    const ag_real *a = ag_data(f->in[1]), *b = ag_data(f->in[2]);
    for (size_t i = 0; i < f->n; i++) {
        ag_real g = y[i] > 0 ? v : 0;
        want[0][i] = g, want[1][i] = g * b[i], want[2][i] = g * a[i];
    }
}

/* Bit for bit, NaN matching any NaN. */
static void expect_same(const ag_real *got, const ag_real *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        bool same = isnan(want[i]) ? isnan(got[i]) != 0
                                   : memcmp(&got[i], &want[i], sizeof(ag_real)) == 0;
        if (!same)
            cr_assert_fail("%s [%zu of %zu]: got %a, want %a", what, i, n, (double)got[i],
                           (double)want[i]);
    }
}

static void expect_grads(const fx *f, ag_real *const *want, const char *what)
{
    static const char *name[3] = { "dc", "da", "db" };
    char b[128];
    for (int k = 0; k < 3; k++) {
        cr_assert_not_null(ag_grad(f->in[k]), "%s: no .grad", what);
        snprintf(b, sizeof b, "%s, %s", what, name[k]);
        expect_same(ag_data(ag_grad(f->in[k])), want[k], f->n, b);
    }
}

static ag_real **alloc3(size_t n)
{
    ag_real **w = malloc(3 * sizeof *w);
    for (int k = 0; k < 3; k++)
        w[k] = malloc((n ? n : 1) * sizeof(ag_real));
    return w;
}

static void free3(ag_real **w)
{
    for (int k = 0; k < 3; k++)
        free(w[k]);
    free(w);
}

/* One backward of f's loss scaled by v, with opts; relu's output copied to y if given. */
static void backward_v(fx *f, ag_real v, ag_backward_opts o, ag_real *y)
{
    ag_tensor *r, *gv = ag_scalar(v), *loss = fx_loss(f, &r);
    o.grad_output = gv;
    cr_assert_eq(ag_backward_ex(loss, o), AG_OK, "%s", ag_error_message());
    if (y)
        memcpy(y, ag_data(r), f->n * sizeof(ag_real));
    ag_step_end();
    ag_free(gv);
}

/* The unfused gradients (create_graph: no lazy gradient, relu_backward and mul ops), checked
 * against the formula, into f->want. */
static void reference(fx *f, ag_real v)
{
    ag_real *y = malloc(f->n * sizeof *y);
    for (int k = 0; k < 3; k++)
        ag_clear_grad(f->in[k]);
    backward_v(f, v, (ag_backward_opts){ .create_graph = true }, y);
    ag_real **fw = alloc3(f->n);
    formula(f, y, v, fw);
    expect_grads(f, fw, "create_graph against the formula");
    for (int k = 0; k < 3; k++)
        memcpy(f->want[k], ag_data(ag_grad(f->in[k])), f->n * sizeof(ag_real));
    free3(fw);
    free(y);
}

/* The fused backward into new .grad buffers (copied in at the end), into zeroed ones
 * (written in place), and accumulated by a second backward of a retained graph. */
static void check_fused(fx *f, ag_real v, const char *what)
{
    char b[96];
    for (int k = 0; k < 3; k++)
        ag_clear_grad(f->in[k]);
    backward_v(f, v, (ag_backward_opts){ 0 }, NULL);
    snprintf(b, sizeof b, "%s, new .grad", what);
    expect_grads(f, f->want, b);
    for (int k = 0; k < 3; k++)
        ag_zero_grad(f->in[k]);
    backward_v(f, v, (ag_backward_opts){ 0 }, NULL);
    snprintf(b, sizeof b, "%s, after zero_grad", what);
    expect_grads(f, f->want, b);

    for (int k = 0; k < 3; k++)
        ag_zero_grad(f->in[k]);
    ag_tensor *gv = ag_scalar(v), *loss = fx_loss(f, NULL);
    ag_backward_opts o = { .grad_output = gv, .retain_graph = true };
    cr_assert_eq(ag_backward_ex(loss, o), AG_OK, "%s", ag_error_message());
    cr_assert_eq(ag_backward_ex(loss, o), AG_OK, "%s", ag_error_message());
    ag_step_end();
    ag_free(gv);
    ag_real **twice = alloc3(f->n);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < f->n; i++)
            twice[k][i] = f->want[k][i] + f->want[k][i];
    snprintf(b, sizeof b, "%s, retain_graph twice", what);
    expect_grads(f, twice, b);
    free3(twice);
}

Test(uniform_grad, relu_addcmul_fused_is_bitwise_the_unfused)
{
    static const ag_real values[] = { 1, -2.5, (ag_real)0.37 };
    for (size_t s = 0; s < N_SIZES; s++)
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            fx f = fx_new(SIZES[s]);
            char b[64];
            snprintf(b, sizeof b, "n=%zu v=%g", f.n, (double)values[j]);
            reference(&f, values[j]);
            check_fused(&f, values[j], b);
            fx_free(&f);
        }
}

/* Split across two threads (the pool's pieces start on line boundaries). */
Test(uniform_grad, relu_addcmul_fused_on_two_threads)
{
    int prev = ag_get_num_threads();
    fx f = fx_new(SIZES[N_SIZES - 1]);
    reference(&f, (ag_real)0.37);
    ag_set_num_threads(2);
    check_fused(&f, (ag_real)0.37, "two threads");
    ag_set_num_threads(prev);
    fx_free(&f);
}

/* sum(addcmul(c, a, b)): addcmul's backward reads the plain uniform gradient too. */
Test(uniform_grad, addcmul_reads_a_uniform_gradient)
{
    for (size_t s = 0; s < N_SIZES; s++) {
        fx f = fx_new(SIZES[s]);
        const ag_real *a = ag_data(f.in[1]), *b = ag_data(f.in[2]), v = -2.5;
        for (size_t i = 0; i < f.n; i++)
            f.want[0][i] = v, f.want[1][i] = v * b[i], f.want[2][i] = v * a[i];
        ag_tensor *gv = ag_scalar(v);
        ag_backward_opts o = { .grad_output = gv };
        cr_assert_eq(ag_backward_ex(ag_sum(ag_addcmul(f.in[0], f.in[1], f.in[2])), o), AG_OK);
        ag_step_end();
        expect_grads(&f, f.want, "sum(addcmul)");
        ag_free(gv);
        fx_free(&f);
    }
}

/* ag_grad_of: the gradients of the leaves (no .grad offered: fresh tensors) and of the
 * addcmul result itself (the masked gradient, filled). */
Test(uniform_grad, relu_addcmul_grad_of)
{
    for (size_t s = 0; s < N_SIZES; s++) {
        fx f = fx_new(SIZES[s]);
        reference(&f, 1);
        ag_tensor *x = ag_addcmul(f.in[0], f.in[1], f.in[2]), *res[4] = { 0 };
        ag_tensor *in[4] = { f.in[0], f.in[1], f.in[2], x };
        cr_assert_eq(ag_grad_of(ag_sum(ag_relu(x)), 4, in, res, (ag_backward_opts){ 0 }), AG_OK,
                     "%s", ag_error_message());
        for (int k = 0; k < 3; k++)
            expect_same(ag_data(res[k]), f.want[k], f.n, "grad_of");
        expect_same(ag_data(res[3]), f.want[0], f.n, "grad_of the addcmul result");
        ag_step_end();
        fx_free(&f);
    }
}

/* Hooks: on relu's output (it takes the filled uniform gradient, so nothing is lazy after
 * it) and on the addcmul result (it takes the filled masked one). */
static ag_tensor *expect_hook_grad(ag_tensor *g, void *user)
{
    const ag_real *want = user;
    expect_same(ag_data(g), want, ag_numel(g), "the gradient a hook sees");
    return NULL;
}

Test(uniform_grad, relu_addcmul_with_hooks)
{
    for (size_t s = 0; s < N_SIZES; s++) {
        fx f = fx_new(SIZES[s]);
        ag_real *ones = malloc(f.n * sizeof *ones);
        for (size_t i = 0; i < f.n; i++)
            ones[i] = 1;
        reference(&f, 1);
        for (int on_relu = 0; on_relu < 2; on_relu++) {
            for (int k = 0; k < 3; k++)
                ag_zero_grad(f.in[k]);
            ag_tensor *x = ag_addcmul(f.in[0], f.in[1], f.in[2]), *y = ag_relu(x);
            cr_assert_eq(on_relu ? ag_register_hook(y, expect_hook_grad, ones)
                                 : ag_register_hook(x, expect_hook_grad, f.want[0]),
                         AG_OK);
            cr_assert_eq(ag_backward(ag_sum(y)), AG_OK, "%s", ag_error_message());
            ag_step_end();
            expect_grads(&f, f.want, on_relu ? "hook on relu's output" : "hook on addcmul's");
        }
        free(ones);
        fx_free(&f);
    }
}

/* loss's gradients over every size, bit for bit those of the create_graph path (leaves
 * that get none are skipped). */
static void expect_as_create_graph(ag_tensor *(*loss)(fx *), const char *what)
{
    for (size_t s = 0; s < N_SIZES; s++) {
        fx f = fx_new(SIZES[s]);
        cr_assert_eq(ag_backward_ex(loss(&f), (ag_backward_opts){ .create_graph = true }), AG_OK,
                     "%s", ag_error_message());
        ag_step_end();
        for (int k = 0; k < 3; k++)
            if (ag_grad(f.in[k])) {
                memcpy(f.want[k], ag_data(ag_grad(f.in[k])), f.n * sizeof(ag_real));
                ag_zero_grad(f.in[k]);
            }
        cr_assert_eq(ag_backward(loss(&f)), AG_OK, "%s", ag_error_message());
        ag_step_end();
        for (int k = 0; k < 3; k++)
            if (ag_grad(f.in[k]))
                expect_same(ag_data(ag_grad(f.in[k])), f.want[k], f.n, what);
        fx_free(&f);
    }
}

/* Two consumers: relu's output also squared (its gradient is dense: relu's backward is the
 * ordinary one), and the addcmul result also summed (masked plus uniform, accumulated). */
static ag_tensor *two_of_relu(fx *f)
{
    ag_tensor *y = ag_relu(ag_addcmul(f->in[0], f->in[1], f->in[2]));
    return ag_add(ag_sum(y), ag_sum(ag_mul(y, y)));
}
static ag_tensor *two_of_addcmul(fx *f)
{
    ag_tensor *x = ag_addcmul(f->in[0], f->in[1], f->in[2]);
    return ag_add(ag_sum(ag_relu(x)), ag_sum(x));
}

Test(uniform_grad, relu_addcmul_with_a_second_consumer)
{
    expect_as_create_graph(two_of_relu, "relu output used twice");
    expect_as_create_graph(two_of_addcmul, "addcmul result used twice");
}

/* addcmul's general backward (c broadcast, or a without gradient) fills the masked
 * gradient first. */
static ag_tensor *broadcast_c(fx *f)
{
    ag_tensor *c = ag_reshape(ag_mean(f->in[0]), AG_SHAPE(1));
    return ag_sum(ag_relu(ag_addcmul(c, f->in[1], f->in[2])));
}
static ag_tensor *a_without_grad(fx *f)
{
    ag_tensor *a = ag_detach(f->in[1]);
    return ag_sum(ag_relu(ag_addcmul(f->in[0], a, f->in[2])));
}

Test(uniform_grad, relu_addcmul_general_path)
{
    expect_as_create_graph(broadcast_c, "c broadcast");
    expect_as_create_graph(a_without_grad, "a without grad");
}

/* relu of a leaf: its masked gradient goes to .grad, filled (new or zeroed .grad) or added. */
Test(uniform_grad, relu_of_a_leaf_deposits_the_masked_gradient)
{
    for (size_t s = 0; s < N_SIZES; s++) {
        fx f = fx_new(SIZES[s]);
        ag_tensor *w = f.in[1], *gv = ag_scalar((ag_real)0.37);
        ag_real *want = f.want[1], *x = ag_data(w);
        for (size_t i = 0; i < f.n; i++)
            want[i] = (x[i] <= 0 ? 0 : x[i]) > 0 ? (ag_real)0.37 : 0;
        ag_backward_opts o = { .grad_output = gv };
        for (int round = 0; round < 3; round++) {
            if (round == 1)
                ag_zero_grad(w);
            cr_assert_eq(ag_backward_ex(ag_sum(ag_relu(w)), o), AG_OK, "%s", ag_error_message());
            ag_step_end();
        }
        for (size_t i = 0; i < f.n; i++)
            want[i] = want[i] + want[i];
        expect_same(ag_data(ag_grad(w)), want, f.n, "sum(relu(w)), zeroed then added");
        ag_free(gv);
        fx_free(&f);
    }
}

/* A custom backward gets relu's masked gradient filled. */
Test(uniform_grad, a_custom_backward_gets_the_masked_gradient_filled)
{
    ag_tensor *x = ramp_leaf();
    cr_assert_eq(ag_backward(ag_sum(ag_relu(ag_apply(&TWICE, &x, 1, NULL, 0, NULL)))), AG_OK);
    ag_step_end();
    ag_real want[N];
    for (int i = 0; i < N; i++)
        want[i] = 2 * relu_mask(i);
    expect_same(ag_data(ag_grad(x)), want, N, "sum(relu(twice(x)))");
    ag_free(x);
}

/* Anomaly mode checks relu's masked gradient (from its mask) and addcmul's fused results. */
Test(uniform_grad, anomaly_mode_with_the_masked_gradient)
{
    fx f = fx_new(1025);
    for (int k = 0; k < 3; k++) /* finite inputs: the specials would be reported */
        for (size_t i = 0; i < f.n; i++)
            ag_data(f.in[k])[i] = (ag_real)((int)(i * (k + 3) % 17) - 8) / 4;
    reference(&f, -2.5);
    ag_set_detect_anomaly(true);
    check_fused(&f, -2.5, "anomaly mode");
    fx_free(&f);
}

/* relu's output changed in place (and so marked) after relu's backward has run but before its
 * masked gradient is read: reported as for any saved tensor, and no .grad changes. */
static ag_tensor *bump(ag_tensor *g, void *user)
{
    (void)g;
    ag_bump_version(user);
    return NULL;
}

Test(uniform_grad, a_mask_changed_in_place_is_reported)
{
    fx f = fx_new(37);
    ag_tensor *other = ag_set_requires_grad(ag_full(AG_SHAPE(37), 1), true);
    backward_v(&f, 1, (ag_backward_opts){ 0 }, NULL); /* .grad buffers to watch */
    for (int leaf_case = 0; leaf_case < 2; leaf_case++) {
        for (int k = 0; k < 3; k++)
            ag_zero_grad(f.in[k]);
        /* the node of z runs after relu's backward and before addcmul's (tape order) */
        ag_tensor *x = leaf_case ? f.in[1] : ag_addcmul(f.in[0], f.in[1], f.in[2]);
        ag_tensor *z = ag_mul_scalar(other, 2), *y = ag_relu(x);
        cr_assert_eq(ag_register_hook(leaf_case ? other : z, bump, y), AG_OK);
        cr_assert_eq(ag_backward(ag_add(ag_sum(y), ag_sum(z))), AG_ERR_STATE);
        cr_assert(strstr(ag_error_message(), "modified in place"), "%s", ag_error_message());
        ag_clear_error();
        ag_step_end();
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 37; i++)
                cr_assert_eq(ag_data(ag_grad(f.in[k]))[i], 0);
    }
    ag_free(other);
    fx_free(&f);
}
