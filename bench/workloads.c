/* workloads.c — the seven workloads of the PyTorch peer benchmark (see its README), one
 * setup/run/fingerprint group each, written as a user of the library would write them.
 *
 * Data: seeded mode draws from our generator after ag_manual_seed(0) (ag_randn, labels
 * uniform in [0, classes)); det mode uses the peer's closed-form fill() so that the two
 * implementations' --check lines can be compared. Every iteration ends with ag_step_end()
 * (scalar-chain: after the timed region). "Fresh gradients" = ag_zero_grad on the leaves at the
 * top of every iteration, inside the timed loop; the MLPs and the notebook zero through their
 * optimizer as the peer does.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Shared pieces
 * ------------------------------------------------------------------------------------------- */

/* Makes t a leaf that requires grad and returns it. */
static ag_tensor *leaf(ag_tensor *t)
{
    bench_check(t, "creating a tensor");
    return ag_set_requires_grad(t, true);
}

/* Data of shape s: standard normal from the generator, or fill(s, seed, 1) in det mode. */
static ag_tensor *data(ag_shape s, bool det, uint32_t seed)
{
    ag_tensor *t = det ? bench_fill(s, seed, 1.0) : ag_randn(s);
    bench_check(t, "creating data");
    return t;
}

/* n class labels: uniform in [0, classes) from the generator, or i mod classes in det mode. */
static int64_t *labels(int64_t n, int64_t classes, bool det)
{
    int64_t *y = bench_alloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++)
        y[i] = det ? i % classes : (int64_t)(ag_rand_uniform() * (double)classes);
    return y;
}

/* Records the leaves a workload's state owns (for zeroing and hashing). */
static void set_leaves(wl_base *b, int n, ag_tensor **leaves)
{
    b->n_leaves = n;
    b->leaves = leaves;
}

/* Zeroes every leaf's gradient in place: the "fresh gradients" of each iteration. */
static void zero_leaves(const wl_base *b)
{
    for (int i = 0; i < b->n_leaves; i++)
        ag_zero_grad(b->leaves[i]);
}

/* Under --check, appends the value of the one-element tensor t to the trace. */
static void trace(wl_base *b, const ag_tensor *t)
{
    if (b->trace)
        b->trace[b->n_trace++] = ag_item(t);
}

/* The traced value of iteration i (negative counts from the end). */
static double traced(const wl_base *b, int i)
{
    return b->trace[i < 0 ? b->n_trace + i : i];
}

/* Element [i] of a tensor's gradient, or NaN before any backward. */
static double grad_at(const ag_tensor *t, size_t i)
{
    const ag_tensor *g = ag_grad(t);
    return g ? (double)ag_cdata(g)[i] : NAN;
}

/* Sum of a leaf's gradient in double (NaN before any backward). */
static double grad_sum(const ag_tensor *t, bool absolute)
{
    const ag_tensor *g = ag_grad(t);
    return g ? bench_sum(g, absolute) : NAN;
}

/* Nothing to do (prepare / finish of workloads that need none). */
static void nothing(void *st)
{
    (void)st;
}

/* Frees a state that owns all its leaves: the leaves, their array and the state. */
static void free_state(void *st)
{
    wl_base *b = st;
    for (int i = 0; i < b->n_leaves; i++)
        ag_free(b->leaves[i]);
    free(b->leaves);
    free(st);
}

/* Builds Sequential(Linear(sizes[0], sizes[1]), ReLU, ..., Linear(sizes[n-2], sizes[n-1])) with
 * the default (seeded) init. */
static ag_module *mlp_model(const int64_t *sizes, int n)
{
    ag_module *mods[16];
    int k = 0;
    for (int i = 0; i + 1 < n; i++) {
        mods[k++] = ag_linear_new(sizes[i], sizes[i + 1], true);
        if (i + 2 < n)
            mods[k++] = ag_relu_new();
    }
    ag_module *m = ag_sequential_new(k, mods);
    bench_check(m, "building the model");
    return m;
}

/* Overwrites a model's Linear layers with the peer's det data: layer j's weight is
 * fill(seed 2+2j) and its bias fill(seed 3+2j), both scaled by 1/sqrt(fan_in). The parameter
 * list holds (weight, bias) pairs in layer order. */
static void fill_linears(const ag_params *p)
{
    for (int j = 0; 2 * j + 1 < p->n; j++) {
        ag_tensor *w = p->tensors[2 * j], *b = p->tensors[2 * j + 1];
        double scale = 1.0 / sqrt((double)ag_size(w, 1));
        ag_tensor *fw = bench_fill(ag_shape_of(w), 2 + 2 * (uint32_t)j, scale);
        ag_tensor *fb = bench_fill(ag_shape_of(b), 3 + 2 * (uint32_t)j, scale);
        memcpy(ag_data(w), ag_cdata(fw), ag_numel(w) * sizeof(ag_real));
        memcpy(ag_data(b), ag_cdata(fb), ag_numel(b) * sizeof(ag_real));
        ag_free(fw), ag_free(fb);
    }
}

/* ---------------------------------------------------------------------------------------------
 * notebook: the notebook's complete example, y = 2x with Linear(1,1), MSE, SGD(0.1)
 * ------------------------------------------------------------------------------------------- */

typedef struct notebook {
    wl_base b;
    bool det;
    ag_tensor *X, *y;
    ag_module *model;
    ag_optimizer *opt;
    double w0, b0;
} notebook;

/* The fixed data: X = [[0],[1],[2],[3]], y = 2X. The model is made by prepare. */
static void *notebook_setup(bool det)
{
    notebook *s = bench_alloc(sizeof *s);
    *s = (notebook){ .det = det };
    s->X = ag_from((ag_real[]){ 0, 1, 2, 3 }, 4, AG_SHAPE(4, 1));
    s->y = ag_from((ag_real[]){ 0, 2, 4, 6 }, 4, AG_SHAPE(4, 1));
    bench_check(s->y, "notebook data");
    return s;
}

/* A fresh model and optimizer before every repeat (the example trains from scratch):
 * ag_manual_seed(0) and the default init, or w = b = 0 in det mode. */
static void notebook_prepare(void *st)
{
    notebook *s = st;
    ag_optim_free(s->opt);
    ag_module_free(s->model);
    ag_manual_seed(0);
    s->model = mlp_model((int64_t[]){ 1, 1 }, 2);
    const ag_params *p = ag_parameters(s->model);
    if (s->det)
        for (int i = 0; i < p->n; i++)
            memset(ag_data(p->tensors[i]), 0, ag_numel(p->tensors[i]) * sizeof(ag_real));
    s->opt = ag_sgd_new(p, (ag_sgd_opts){ .lr = 0.1 });
    bench_check(s->opt, "notebook optimizer");
    s->w0 = ag_item(p->tensors[0]);
    s->b0 = ag_item(p->tensors[1]);
    set_leaves(&s->b, p->n, p->tensors);
}

/* n epochs in the example's order: forward, loss, zero_grad, backward, step. */
static void notebook_run(void *st, int n)
{
    notebook *s = st;
    for (int i = 0; i < n; i++) {
        ag_tensor *loss = ag_mse_loss(ag_forward(s->model, s->X), s->y, AG_MEAN);
        ag_optim_zero_grad(s->opt);
        bench_backward(loss, NULL);
        if (ag_optim_step(s->opt) != AG_OK)
            bench_check(NULL, "notebook step");
        trace(&s->b, loss);
        ag_step_end();
    }
}

/* Initial and final parameters, first and last loss, and the prediction at x = 5. */
static void notebook_fingerprint(void *st, char *buf, size_t size)
{
    notebook *s = st;
    ag_tensor *x5 = ag_from((ag_real[]){ 5 }, 1, AG_SHAPE(1));
    double pred = NAN;
    AG_NO_GRAD { pred = ag_item(ag_forward(s->model, x5)); }
    ag_free(x5);
    snprintf(buf, size,
             "init w=%.9g b=%.9g  loss[0]=%.9g loss[%d]=%.9g  final w=%.9g b=%.9g  pred(5)=%.9g",
             s->w0, s->b0, traced(&s->b, 0), s->b.n_trace - 1, traced(&s->b, -1),
             ag_item(s->b.leaves[0]), ag_item(s->b.leaves[1]), pred);
}

static void notebook_teardown(void *st)
{
    notebook *s = st;
    ag_optim_free(s->opt);
    ag_module_free(s->model);
    ag_free(s->X), ag_free(s->y);
    free(s);
}

/* ---------------------------------------------------------------------------------------------
 * scalar-chain: h = tanh(h * w_i + b_i) over K 0-d leaves, then backward
 * ------------------------------------------------------------------------------------------- */

enum { CHAIN_K = 10000 };

typedef struct chain {
    wl_base b; /* leaves: x, w[0..K), b[0..K) */
    ag_tensor *h;
} chain;

/* Leaf k of the chain's weights (which = 0) or biases (which = 1): uniform(-1, 1) from the
 * generator, or fill((K,), 1 + which) in det mode. */
static ag_tensor *chain_leaf(bool det, int which, int k)
{
    double v = det ? bench_fill_value((uint64_t)k, 1 + (uint32_t)which, 1.0)
                   : 2.0 * ag_rand_uniform() - 1.0;
    return leaf(ag_scalar((ag_real)v));
}

/* x = 0.5 and the K weights then the K biases (drawn in that order, as the peer does). */
static void *chain_setup(bool det)
{
    chain *s = bench_alloc(sizeof *s);
    *s = (chain){ 0 };
    ag_tensor **l = bench_alloc((2 * CHAIN_K + 1) * sizeof *l);
    ag_manual_seed(0);
    l[0] = leaf(ag_scalar(0.5f));
    for (int which = 0; which < 2; which++)
        for (int k = 0; k < CHAIN_K; k++)
            l[1 + which * CHAIN_K + k] = chain_leaf(det, which, k);
    set_leaves(&s->b, 2 * CHAIN_K + 1, l);
    return s;
}

/* Untimed before each repeat: the gradients are cleared (the graph was freed by finish). */
static void chain_prepare(void *st)
{
    zero_leaves(st);
}

/* Timed: builds the 3K-op graph and runs backward, n times. The last graph stays alive for
 * the fingerprint until finish frees it. */
static void chain_run(void *st, int n)
{
    chain *s = st;
    ag_tensor *x = s->b.leaves[0], **w = s->b.leaves + 1, **b = w + CHAIN_K;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            ag_step_end();
        ag_tensor *h = x;
        for (int k = 0; k < CHAIN_K; k++)
            h = ag_tanh(ag_add(ag_mul(h, w[k]), b[k]));
        bench_check(h, "scalar chain");
        bench_backward(h, NULL);
        s->h = h;
    }
}

/* Untimed after each repeat: frees the graph (the peer frees it in prepare). */
static void chain_finish(void *st)
{
    ((chain *)st)->h = NULL;
    ag_step_end();
}

/* Sum of the gradients of the n 0-d leaves l[0..n) in double, as Python's sum of floats. */
static double chain_grad_sum(ag_tensor **l, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += grad_at(l[i], 0);
    return s;
}

static void chain_fingerprint(void *st, char *buf, size_t size)
{
    chain *s = st;
    ag_tensor *x = s->b.leaves[0], **w = s->b.leaves + 1, **b = w + CHAIN_K;
    snprintf(buf, size,
             "K=%d h=%.9g x.grad=%.9g sum(w.grad)=%.9g sum(b.grad)=%.9g w[K-1].grad=%.9g "
             "b[K-1].grad=%.9g",
             CHAIN_K, ag_item(s->h), grad_at(x, 0), chain_grad_sum(w, CHAIN_K),
             chain_grad_sum(b, CHAIN_K), grad_at(w[CHAIN_K - 1], 0), grad_at(b[CHAIN_K - 1], 0));
}

/* ---------------------------------------------------------------------------------------------
 * mlp-small and mlp-large: training steps of an MLP with cross-entropy
 * ------------------------------------------------------------------------------------------- */

typedef struct mlp {
    wl_base b; /* leaves: the model's parameters */
    ag_tensor *X;
    int64_t *y;
    ag_module *model;
    ag_optimizer *opt;
} mlp;

/* One fixed batch, the model and its optimizer, made once: repeats continue training. */
static mlp *mlp_setup(const int64_t *sizes, int n, int64_t batch, bool det)
{
    mlp *s = bench_alloc(sizeof *s);
    *s = (mlp){ 0 };
    ag_manual_seed(0);
    s->X = data(AG_SHAPE(batch, sizes[0]), det, 1);
    s->y = labels(batch, sizes[n - 1], det);
    s->model = mlp_model(sizes, n);
    const ag_params *p = ag_parameters(s->model);
    if (det)
        fill_linears(p);
    set_leaves(&s->b, p->n, p->tensors);
    return s;
}

/* Linear(64,128) -> ReLU -> Linear(128,10), batch 64, SGD(lr 0.01, momentum 0.9). */
static void *mlp_small_setup(bool det)
{
    mlp *s = mlp_setup((int64_t[]){ 64, 128, 10 }, 3, 64, det);
    s->opt = ag_sgd_new(ag_parameters(s->model), (ag_sgd_opts){ .lr = 0.01, .momentum = 0.9 });
    bench_check(s->opt, "sgd");
    return s;
}

/* Linear(784,1024) -> ReLU -> Linear(1024,1024) -> ReLU -> Linear(1024,10), batch 128,
 * Adam(lr 1e-3). */
static void *mlp_large_setup(bool det)
{
    mlp *s = mlp_setup((int64_t[]){ 784, 1024, 1024, 10 }, 4, 128, det);
    s->opt = ag_adam_new(ag_parameters(s->model), (ag_adam_opts){ .lr = 1e-3 });
    bench_check(s->opt, "adam");
    return s;
}

/* n training steps: zero_grad, forward, loss, backward, step. */
static void mlp_run(void *st, int n)
{
    mlp *s = st;
    for (int i = 0; i < n; i++) {
        ag_optim_zero_grad(s->opt);
        ag_tensor *loss = ag_cross_entropy(ag_forward(s->model, s->X), s->y, AG_MEAN, 0);
        bench_backward(loss, NULL);
        if (ag_optim_step(s->opt) != AG_OK)
            bench_check(NULL, "optimizer step");
        trace(&s->b, loss);
        ag_step_end();
    }
}

/* First and last loss and the sum of every parameter after training. */
static void mlp_fingerprint(void *st, char *buf, size_t size)
{
    mlp *s = st;
    double psum = 0;
    for (int i = 0; i < s->b.n_leaves; i++)
        psum += bench_sum(s->b.leaves[i], false);
    snprintf(buf, size, "loss[0]=%.9g loss[%d]=%.9g  sum(params after)=%.9g", traced(&s->b, 0),
             s->b.n_trace - 1, traced(&s->b, -1), psum);
}

static void mlp_teardown(void *st)
{
    mlp *s = st;
    ag_optim_free(s->opt);
    ag_module_free(s->model);
    ag_free(s->X);
    free(s->y);
    free(s);
}

/* ---------------------------------------------------------------------------------------------
 * matmul: C = A @ B, backward with dC = G (three 1024^3 GEMMs)
 * ------------------------------------------------------------------------------------------- */

enum { MATMUL_N = 1024 };

typedef struct matmul {
    wl_base b; /* leaves: A, B */
    ag_tensor *G;
    double sum_c, c00; /* --check: of the last C */
} matmul;

static void *matmul_setup(bool det)
{
    matmul *s = bench_alloc(sizeof *s);
    *s = (matmul){ 0 };
    ag_tensor **l = bench_alloc(2 * sizeof *l);
    ag_manual_seed(0);
    l[0] = leaf(data(AG_SHAPE(MATMUL_N, MATMUL_N), det, 1));
    l[1] = leaf(data(AG_SHAPE(MATMUL_N, MATMUL_N), det, 2));
    s->G = data(AG_SHAPE(MATMUL_N, MATMUL_N), det, 3);
    set_leaves(&s->b, 2, l);
    return s;
}

/* n iterations: fresh gradients, C = A @ B, C.backward(G). */
static void matmul_run(void *st, int n)
{
    matmul *s = st;
    for (int i = 0; i < n; i++) {
        zero_leaves(&s->b);
        ag_tensor *C = ag_matmul(s->b.leaves[0], s->b.leaves[1]);
        bench_backward(C, s->G);
        if (s->b.trace)
            s->sum_c = bench_sum(C, false), s->c00 = (double)ag_cdata(C)[0];
        ag_step_end();
    }
}

static void matmul_fingerprint(void *st, char *buf, size_t size)
{
    matmul *s = st;
    ag_tensor *A = s->b.leaves[0], *B = s->b.leaves[1];
    snprintf(buf, size, "sum(C)=%.9g sum(dA)=%.9g sum(dB)=%.9g C[0,0]=%.9g dA[0,0]=%.9g "
             "dB[0,0]=%.9g",
             s->sum_c, grad_sum(A, false), grad_sum(B, false), s->c00, grad_at(A, 0),
             grad_at(B, 0));
}

static void matmul_teardown(void *st)
{
    matmul *s = st;
    ag_free(s->G);
    free_state(s);
}

/* ---------------------------------------------------------------------------------------------
 * elementwise: y = relu(a * b + c).sum() over 1e6 elements, then backward
 * ------------------------------------------------------------------------------------------- */

enum { ELEMENTWISE_N = 1000000 };

typedef struct elementwise {
    wl_base b; /* leaves: a, b, c */
} elementwise;

static void *elementwise_setup(bool det)
{
    elementwise *s = bench_alloc(sizeof *s);
    *s = (elementwise){ 0 };
    ag_tensor **l = bench_alloc(3 * sizeof *l);
    ag_manual_seed(0);
    for (int i = 0; i < 3; i++)
        l[i] = leaf(data(AG_SHAPE(ELEMENTWISE_N), det, 1 + (uint32_t)i));
    set_leaves(&s->b, 3, l);
    return s;
}

/* n iterations: fresh gradients, y = relu(a*b + c).sum(), y.backward(). a*b + c is the
 * fused ag_addcmul (one pass, one intermediate fewer): the kind of fusion the engine offers
 * for exactly this pattern. */
static void elementwise_run(void *st, int n)
{
    elementwise *s = st;
    ag_tensor **l = s->b.leaves;
    for (int i = 0; i < n; i++) {
        zero_leaves(&s->b);
        ag_tensor *y = ag_sum(ag_relu(ag_addcmul(l[2], l[0], l[1])));
        bench_backward(y, NULL);
        trace(&s->b, y);
        ag_step_end();
    }
}

static void elementwise_fingerprint(void *st, char *buf, size_t size)
{
    elementwise *s = st;
    ag_tensor **l = s->b.leaves;
    snprintf(buf, size, "y=%.9g sum(da)=%.9g sum(db)=%.9g sum(dc)=%.9g", traced(&s->b, -1),
             grad_sum(l[0], false), grad_sum(l[1], false), grad_sum(l[2], false));
}

/* ---------------------------------------------------------------------------------------------
 * softmax-ce: cross-entropy of 1024 x 1000 logits, then backward
 * ------------------------------------------------------------------------------------------- */

enum { SOFTMAX_ROWS = 1024, SOFTMAX_CLASSES = 1000 };

typedef struct softmax_ce {
    wl_base b; /* leaves: logits */
    int64_t *y;
} softmax_ce;

/* logits = randn (det: fill(seed 1, scale 3)), labels uniform (det: i mod 1000). */
static void *softmax_ce_setup(bool det)
{
    softmax_ce *s = bench_alloc(sizeof *s);
    *s = (softmax_ce){ 0 };
    ag_tensor **l = bench_alloc(sizeof *l);
    ag_shape shape = AG_SHAPE(SOFTMAX_ROWS, SOFTMAX_CLASSES);
    ag_manual_seed(0);
    l[0] = leaf(det ? bench_fill(shape, 1, 3.0) : data(shape, false, 0));
    s->y = labels(SOFTMAX_ROWS, SOFTMAX_CLASSES, det);
    set_leaves(&s->b, 1, l);
    return s;
}

/* n iterations: fresh gradient, loss = cross_entropy(logits, labels), loss.backward(). */
static void softmax_ce_run(void *st, int n)
{
    softmax_ce *s = st;
    for (int i = 0; i < n; i++) {
        zero_leaves(&s->b);
        ag_tensor *loss = ag_cross_entropy(s->b.leaves[0], s->y, AG_MEAN, 0);
        bench_backward(loss, NULL);
        trace(&s->b, loss);
        ag_step_end();
    }
}

static void softmax_ce_fingerprint(void *st, char *buf, size_t size)
{
    softmax_ce *s = st;
    ag_tensor *x = s->b.leaves[0];
    snprintf(buf, size, "loss=%.9g sum|dlogits|=%.9g dlogits[0,label0]=%.9g dlogits[1,0]=%.9g",
             traced(&s->b, -1), grad_sum(x, true), grad_at(x, (size_t)s->y[0]),
             grad_at(x, SOFTMAX_CLASSES));
}

static void softmax_ce_teardown(void *st)
{
    softmax_ce *s = st;
    free(s->y);
    free_state(s);
}

/* ---------------------------------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------------------------------- */

const workload bench_workloads[] = {
    { "notebook", "us_per_epoch", 100, 1e6, 1, notebook_setup, notebook_prepare, notebook_run,
      nothing, notebook_fingerprint, notebook_teardown },
    { "scalar-chain", "ns_per_op", 1, 1e9, 3 * CHAIN_K, chain_setup, chain_prepare, chain_run,
      chain_finish, chain_fingerprint, free_state },
    { "mlp-small", "ms_per_step", 200, 1e3, 1, mlp_small_setup, nothing, mlp_run, nothing,
      mlp_fingerprint, mlp_teardown },
    { "mlp-large", "ms_per_step", 20, 1e3, 1, mlp_large_setup, nothing, mlp_run, nothing,
      mlp_fingerprint, mlp_teardown },
    { "matmul", "ms_per_iter", 10, 1e3, 1, matmul_setup, nothing, matmul_run, nothing,
      matmul_fingerprint, matmul_teardown },
    { "elementwise", "ms_per_iter", 50, 1e3, 1, elementwise_setup, nothing, elementwise_run,
      nothing, elementwise_fingerprint, free_state },
    { "softmax-ce", "ms_per_iter", 20, 1e3, 1, softmax_ce_setup, nothing, softmax_ce_run,
      nothing, softmax_ce_fingerprint, softmax_ce_teardown },
};
const int bench_n_workloads = (int)(sizeof bench_workloads / sizeof bench_workloads[0]);
