/* ops_bench.c — `bench --ops`: one op at a time, forward alone and forward + backward, at a
 * few sizes, as a Markdown table on stdout.
 *
 * Each row is the median over 5 batches (after a warm-up) of the time per call; a batch runs
 * enough calls to last about 20 ms (2 ms under --quick). "fwd" records the tape as training
 * does (the inputs require grad) and ends the step; "fwd+bwd" also zeroes the inputs'
 * gradients (in place) and runs backward (with a ones grad_output for non-scalar results).
 * Rates: elementwise ops, reductions, softmaxes and cross-entropy in GB/s of nominal traffic
 * (the floats an ideal kernel reads and writes; zeroing the gradients is not counted), matmul
 * and linear in GFLOP/s (2MNK forward, 4MNK backward).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>

enum { OP_REPEATS = 5, OP_CLASSES = 1000, OP_MAX_IN = 3 };

typedef ag_tensor *(*apply_fn)(ag_tensor *const *in);

/* An op under test: how to apply it to its inputs and what it costs per call. */
typedef struct op_run {
    const char *name;
    apply_fn apply;
    ag_tensor *in[OP_MAX_IN];
    int n_in;
    ag_tensor *dy;       /* grad_output for backward, NULL for one-element results */
    double fwd, bwd;     /* work per call: bytes or FLOPs */
    const char *unit;    /* "GB/s" or "GFLOP/s" */
} op_run;

/* Class labels i mod 1000 for cross_entropy, enough for every row count used. */
static int64_t op_labels[OP_CLASSES];

/* ---------------------------------------------------------------------------------------------
 * The ops, as apply functions
 * ------------------------------------------------------------------------------------------- */

static ag_tensor *op_add(ag_tensor *const *in) { return ag_add(in[0], in[1]); }
static ag_tensor *op_mul(ag_tensor *const *in) { return ag_mul(in[0], in[1]); }
static ag_tensor *op_relu(ag_tensor *const *in) { return ag_relu(in[0]); }
static ag_tensor *op_tanh(ag_tensor *const *in) { return ag_tanh(in[0]); }
static ag_tensor *op_sigmoid(ag_tensor *const *in) { return ag_sigmoid(in[0]); }
static ag_tensor *op_exp(ag_tensor *const *in) { return ag_exp(in[0]); }
static ag_tensor *op_sum(ag_tensor *const *in) { return ag_sum(in[0]); }
static ag_tensor *op_mean(ag_tensor *const *in) { return ag_mean(in[0]); }
static ag_tensor *op_softmax(ag_tensor *const *in) { return ag_softmax(in[0], -1); }
static ag_tensor *op_log_softmax(ag_tensor *const *in) { return ag_log_softmax(in[0], -1); }
static ag_tensor *op_matmul(ag_tensor *const *in) { return ag_matmul(in[0], in[1]); }
static ag_tensor *op_linear(ag_tensor *const *in) { return ag_linear(in[0], in[1], in[2]); }

static ag_tensor *op_cross_entropy(ag_tensor *const *in)
{
    return ag_cross_entropy(in[0], op_labels, AG_MEAN, 0);
}

/* An elementwise / reduction op: its inputs' count, its nominal traffic in floats read plus
 * written per input element (forward, backward), and whether it works on rows of 1000. */
typedef struct vec_spec {
    const char *name;
    apply_fn apply;
    int n_in;
    int fwd_floats, bwd_floats;
    bool rows;
} vec_spec;

static const vec_spec VEC_OPS[] = {
    { "add", op_add, 2, 3, 3, false },          /* a, b -> y;  dy -> da, db */
    { "mul", op_mul, 2, 3, 5, false },          /* a, b -> y;  dy, a, b -> da, db */
    { "relu", op_relu, 1, 2, 3, false },        /* x -> y;  dy, x -> dx */
    { "tanh", op_tanh, 1, 2, 3, false },
    { "sigmoid", op_sigmoid, 1, 2, 3, false },
    { "exp", op_exp, 1, 2, 3, false },
    { "sum", op_sum, 1, 1, 1, false },          /* x -> s;  ds -> dx */
    { "mean", op_mean, 1, 1, 1, false },
    { "softmax", op_softmax, 1, 2, 3, true },   /* x -> y;  dy, y -> dx */
    { "log_softmax", op_log_softmax, 1, 2, 3, true },
    { "cross_entropy", op_cross_entropy, 1, 1, 2, true }, /* x -> l;  x -> dx */
};

static const int64_t VEC_SIZES[] = { 1000, 100000, 1000000 };

/* A GEMM-shaped op: (M, K) times (K, N), or Linear with batch M, in K, out N. */
typedef struct gemm_spec {
    bool linear;
    int64_t m, k, n;
} gemm_spec;

static const gemm_spec GEMM_OPS[] = {
    { false, 64, 64, 64 },        { false, 256, 256, 256 },       { false, 1024, 1024, 1024 },
    { true, 64, 64, 128 },        { true, 128, 784, 1024 },       { true, 128, 1024, 1024 },
    { true, 128, 1024, 10 },
};

/* ---------------------------------------------------------------------------------------------
 * Timing
 * ------------------------------------------------------------------------------------------- */

/* One call: [fresh gradients,] forward [, backward], end of step. */
static void op_call(const op_run *r, bool with_backward)
{
    if (with_backward)
        for (int i = 0; i < r->n_in; i++)
            ag_zero_grad(r->in[i]);
    ag_tensor *y = r->apply(r->in);
    bench_check(y, r->name);
    if (with_backward)
        bench_backward(y, r->dy);
    ag_step_end();
}

/* Seconds per call: median over OP_REPEATS batches, each sized to last about `target` s. */
static double op_time(const op_run *r, bool with_backward, double target)
{
    op_call(r, with_backward);
    double t0 = bench_now();
    op_call(r, with_backward);
    double one = bench_now() - t0;
    long calls = one > 0 ? (long)(target / one) : 1000000;
    calls = calls < 1 ? 1 : calls > 1000000 ? 1000000 : calls;
    double vals[OP_REPEATS];
    for (int k = 0; k < OP_REPEATS; k++) {
        t0 = bench_now();
        for (long c = 0; c < calls; c++)
            op_call(r, with_backward);
        vals[k] = (bench_now() - t0) / (double)calls;
    }
    return bench_median(vals, OP_REPEATS);
}

/* Sets r->dy: ones of the op's result shape, or NULL for a one-element result. */
static void op_make_dy(op_run *r)
{
    ag_tensor *y = r->apply(r->in);
    bench_check(y, r->name);
    r->dy = ag_numel(y) == 1 ? NULL : ag_ones(ag_shape_of(y));
    ag_step_end();
}

/* Times r both ways and prints its row; frees its tensors. */
static void op_row(op_run *r, const char *shape, double target)
{
    op_make_dy(r);
    double tf = op_time(r, false, target), tb = op_time(r, true, target);
    printf("| %s | %s | %.2f | %.2f %s | %.2f | %.2f %s |\n", r->name, shape, tf * 1e6,
           r->fwd / tf * 1e-9, r->unit, tb * 1e6, (r->fwd + r->bwd) / tb * 1e-9, r->unit);
    fflush(stdout);
    for (int i = 0; i < r->n_in; i++)
        ag_free(r->in[i]);
    ag_free(r->dy);
}

/* A leaf that requires grad: standard normal of shape s. */
static ag_tensor *op_leaf(ag_shape s)
{
    ag_tensor *t = ag_randn(s);
    bench_check(t, "randn");
    return ag_set_requires_grad(t, true);
}

/* The row of an elementwise / reduction op at n elements (rows of 1000 if spec->rows). */
static void vec_row(const vec_spec *spec, int64_t n, double target)
{
    op_run r = { .name = spec->name, .apply = spec->apply, .n_in = spec->n_in,
                 .unit = "GB/s" };
    ag_shape s = spec->rows ? AG_SHAPE(n / OP_CLASSES, OP_CLASSES) : AG_SHAPE(n);
    for (int i = 0; i < spec->n_in; i++)
        r.in[i] = op_leaf(s);
    r.fwd = (double)spec->fwd_floats * (double)n * sizeof(ag_real);
    r.bwd = (double)spec->bwd_floats * (double)n * sizeof(ag_real);
    char shape[64];
    snprintf(shape, sizeof shape, spec->rows ? "%lldx1000" : "%lld",
             (long long)(spec->rows ? n / OP_CLASSES : n));
    op_row(&r, shape, target);
}

/* The row of a matmul (M,K)@(K,N) or a Linear (batch M, in K, out N, with bias). */
static void gemm_row(const gemm_spec *g, double target)
{
    op_run r = { .unit = "GFLOP/s" };
    char shape[64];
    if (g->linear) {
        r.name = "linear", r.apply = op_linear, r.n_in = 3;
        r.in[0] = op_leaf(AG_SHAPE(g->m, g->k));
        r.in[1] = op_leaf(AG_SHAPE(g->n, g->k));
        r.in[2] = op_leaf(AG_SHAPE(g->n));
        snprintf(shape, sizeof shape, "%lldx%lld -> %lld", (long long)g->m, (long long)g->k,
                 (long long)g->n);
    } else {
        r.name = "matmul", r.apply = op_matmul, r.n_in = 2;
        r.in[0] = op_leaf(AG_SHAPE(g->m, g->k));
        r.in[1] = op_leaf(AG_SHAPE(g->k, g->n));
        snprintf(shape, sizeof shape, "%lldx%lld @ %lldx%lld", (long long)g->m,
                 (long long)g->k, (long long)g->k, (long long)g->n);
    }
    r.fwd = 2.0 * (double)g->m * (double)g->k * (double)g->n;
    r.bwd = 2.0 * r.fwd;
    op_row(&r, shape, target);
}

/* The whole table. */
int bench_ops(bool quick)
{
    double target = quick ? 0.002 : 0.02;
    for (int i = 0; i < OP_CLASSES; i++)
        op_labels[i] = i % OP_CLASSES;
    ag_manual_seed(0);
    printf("| op | shape | fwd (us) | fwd rate | fwd+bwd (us) | fwd+bwd rate |\n"
           "|---|---|---:|---:|---:|---:|\n");
    for (size_t i = 0; i < sizeof VEC_OPS / sizeof VEC_OPS[0]; i++)
        for (size_t k = 0; k < sizeof VEC_SIZES / sizeof VEC_SIZES[0]; k++)
            vec_row(&VEC_OPS[i], VEC_SIZES[k], target);
    for (size_t i = 0; i < sizeof GEMM_OPS / sizeof GEMM_OPS[0]; i++)
        gemm_row(&GEMM_OPS[i], target);
    return 0;
}
