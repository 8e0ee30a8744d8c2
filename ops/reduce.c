/* reduce.c — sum, mean, max and logsumexp over all elements or over chosen dims.
 *
 * Sums accumulate in double, so long reductions stay accurate in float32. The backward of a
 * reduction broadcasts the gradient back with ag_expand; max sends it to the arg-max (one
 * element per reduced slice, the first on ties, as torch.max(dim) does). */
#include "ops_internal.h"
#include "parallel_internal.h"

#include <math.h>
#include <string.h>

typedef struct red_attrs {
    unsigned mask; /* bit d: dim d is reduced */
    bool keepdim;
    bool all;      /* max: reduce everything (ties share the gradient) */
} red_attrs;

/* Calls visit(acc_index, x_index) for every element of x, where acc_index is the element's
 * position in the (keepdim) reduced output. */
typedef struct red_iter {
    int nd;
    int64_t size[AG_MAX_DIMS], ostride[AG_MAX_DIMS];
} red_iter;

static red_iter make_iter(ag_shape s, unsigned mask)
{
    red_iter it = { .nd = s.ndim };
    int64_t st = 1;
    for (int d = s.ndim - 1; d >= 0; d--) {
        it.size[d] = s.d[d];
        it.ostride[d] = (mask & (1u << d)) ? 0 : st;
        if (!(mask & (1u << d)))
            st *= s.d[d];
    }
    return it;
}

/* Sums of up to SUM_LEAF contiguous values keep SUM_LANES running sums (part[j] adds x[i+j]),
 * added up at the end as a tree (part[j] += part[j + w] for w = 16, 8, 4, 2, 1), then the
 * tail in order. The AVX-512 leaf of the float build does exactly those additions, in four
 * vectors of doubles, so both give bitwise the same sum; it runs a million floats at about 55
 * GB/s where the portable loop, which GCC keeps to 256-bit vectors, reaches 45 (leaves of
 * 512 with the partial sums added in a row: 35). */
#define SUM_LEAF 2048
#define SUM_LANES 32

AGI_SIMD static double sum_leaf(const ag_real *x, size_t n)
{
    double part[SUM_LANES] = { 0 };
    size_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (int j = 0; j < SUM_LANES; j++)
            part[j] += x[i + j];
    for (int w = SUM_LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++)
            part[j] += part[j + w];
    double s = part[0];
    for (; i < n; i++)
        s += x[i];
    return s;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(AG_DOUBLE)
#define SUM_AVX512 1
#include <immintrin.h>
__attribute__((target("avx512f"))) static double sum_leaf_avx512(const float *x, size_t n)
{
    __m512d p0 = _mm512_setzero_pd(), p1 = p0, p2 = p0, p3 = p0; /* part[0..8), [8..16), ... */
    size_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES) {
        p0 = _mm512_add_pd(p0, _mm512_cvtps_pd(_mm256_loadu_ps(x + i)));
        p1 = _mm512_add_pd(p1, _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8)));
        p2 = _mm512_add_pd(p2, _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 16)));
        p3 = _mm512_add_pd(p3, _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 24)));
    }
    /* w = 16, then 8; _mm512_reduce_add_pd adds the halves, then the quarters, then the
     * pair: w = 4, 2, 1 */
    double s = _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(p0, p2), _mm512_add_pd(p1, p3)));
    for (; i < n; i++)
        s += x[i];
    return s;
}
#endif

/* The leaf this CPU runs fastest; the same sum either way. */
static double leaf_sum(const ag_real *x, size_t n)
{
#ifdef SUM_AVX512
    if (__builtin_cpu_supports("avx512f"))
        return sum_leaf_avx512(x, n);
#endif
    return sum_leaf(x, n);
}

/* Sum of n contiguous values, pairwise: error grows with log n, not n, which matters when
 * ag_real is double (in float the double accumulator alone would do). */
static double pairwise_sum(const ag_real *x, size_t n)
{
    if (n <= SUM_LEAF)
        return leaf_sum(x, n);
    size_t h = n / 2;
    return pairwise_sum(x, h) + pairwise_sum(x + h, n - h);
}

/* The flat sum on several threads. The top `levels` halvings of pairwise_sum's recursion cut
 * x into 2^levels subtrees, summed in parallel (thread t takes a contiguous run of them:
 * about the part of x that thread t wrote, if an elementwise op on as many threads made x),
 * and their sums are added up the same tree, so the result is pairwise_sum's, bitwise, for
 * any thread count. On one thread the serial sum read all of x, and the next op writing x
 * on two threads found half of its lines in the other core's cache: relu after
 * sum(relu(...)) on two threads took 0.9 ms for 10^6 floats instead of 0.05. */
#define PAR_SUM_MIN ((size_t)1 << 16)  /* elements: below, one thread */
#define PAR_SUM_PIECE ((size_t)1 << 15) /* elements per subtree, about */
#define PAR_SUM_MAX_LEVELS 6

typedef struct psum_job {
    const ag_real *x;
    size_t n;
    int levels;
    double part[1 << PAR_SUM_MAX_LEVELS];
} psum_job;

static void psum_task(void *ctx, int64_t k0, int64_t k1, int tid)
{
    (void)tid;
    psum_job *j = ctx;
    for (int64_t k = k0; k < k1; k++) {
        size_t lo = 0, len = j->n; /* subtree k: follow k's bits from the top, 1 = right */
        for (int b = j->levels - 1; b >= 0; b--) {
            size_t h = len / 2;
            if (((uint64_t)k >> b) & 1)
                lo += h, len -= h;
            else
                len = h;
        }
        j->part[k] = pairwise_sum(j->x + lo, len);
    }
}

static double flat_sum(const ag_real *x, size_t n)
{
    if (n < PAR_SUM_MIN || ag_get_num_threads() < 2)
        return pairwise_sum(x, n);
    psum_job j = { .x = x, .n = n };
    /* every node above the subtrees is larger than SUM_LEAF, so pairwise_sum splits it too */
    while (j.levels < PAR_SUM_MAX_LEVELS && (n >> (j.levels + 1)) >= PAR_SUM_PIECE)
        j.levels++;
    agi_parallel_for((int64_t)1 << j.levels, psum_task, &j);
    for (size_t w = (size_t)1 << j.levels; w > 1; w /= 2) /* up the tree, pair by pair */
        for (size_t i = 0; i < w / 2; i++)
            j.part[i] = j.part[2 * i] + j.part[2 * i + 1];
    return j.part[0];
}

/* acc[o] += x[i] over the reduced dims, acc zeroed by the caller. */
AGI_SIMD static void sum_into(double *acc, const ag_real *x, size_t n, red_iter it)
{
    if (it.nd == 0) {
        acc[0] += x[0];
        return;
    }
    int64_t idx[AG_MAX_DIMS] = { 0 }, o = 0;
    int last = it.nd - 1;
    int64_t inner = it.size[last], os = it.ostride[last];
    for (size_t i = 0; i < n; i += (size_t)inner) {
        if (os == 0) {
            acc[o] += pairwise_sum(x + i, (size_t)inner);
        } else {
            for (int64_t j = 0; j < inner; j++)
                acc[o + j] += x[i + (size_t)j];
        }
        for (int d = last - 1; d >= 0; d--) {
            o += it.ostride[d];
            if (++idx[d] < it.size[d])
                break;
            o -= it.ostride[d] * idx[d];
            idx[d] = 0;
        }
    }
}

static bool parse_dims(const char *op, ag_tensor *x, const int *dims, int n, unsigned *mask)
{
    *mask = 0;
    if (n < 0 || (n > 0 && !dims))
        return AGI_FAIL(AG_ERR_ARG, "%s: bad dims list", op), false;
    for (int i = 0; i < n; i++) {
        int d = dims[i];
        if (!agi_wrap_dim(op, &d, x->shape.ndim))
            return false;
        if (*mask & (1u << d))
            return AGI_FAIL(AG_ERR_ARG, "%s: dim %d appears more than once", op, d), false;
        *mask |= 1u << d;
    }
    if (x->shape.ndim == 0)
        *mask = 0;
    return true;
}

/* --- sum:  dx = expand(dy with kept dims, x's shape) ------------------------------------- */

static ag_status sum_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const red_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = in[0];
    if (!(out[0] = ag_empty(agi_reduced_shape(x->shape, at->mask, at->keepdim))))
        return ag_error();
    size_t m = out[0]->numel;
    double *acc = ag_ctx_alloc(c, (m ? m : 1) * sizeof(double));
    if (!acc)
        return ag_error();
    memset(acc, 0, m * sizeof(double));
    if (m == 1 && x->numel)
        acc[0] = flat_sum(x->data, x->numel); /* every dim reduced: one flat sum */
    else if (x->numel)
        sum_into(acc, x->data, x->numel, make_iter(x->shape, at->mask));
    for (size_t i = 0; i < m; i++)
        out[0]->data[i] = (ag_real)acc[i];
    return AG_OK;
}
static ag_status sum_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const red_attrs *at = ag_ctx_attrs(c);
    ag_shape xs = ag_ctx_input(c, 0)->shape;
    if (dy[0]->numel == 1 && !ag_is_grad_enabled()) /* one number for every element */
        dx[0] = agi_uniform(dy[0], xs);
    else
        dx[0] = ag_expand(ag_reshape(dy[0], agi_reduced_shape(xs, at->mask, true)), xs);
    return AG_OK;
}
static const ag_op SUM = { .name = "sum", .n_in = 1, .n_out = 1, .forward = sum_fwd, .backward = sum_bwd };

/* sum over dims, with errors reported under the public name that was called (sum, mean). */
static ag_tensor *sum_dims_as(const char *name, ag_tensor *x, const int *dims, int n, bool keepdim)
{
    if (!agi_check_live(x, name, 0))
        return NULL;
    red_attrs at = { 0, keepdim, false };
    if (!parse_dims(name, x, dims, n, &at.mask))
        return NULL;
    return ag_apply(&SUM, &x, 1, &at, sizeof at, NULL);
}

ag_tensor *ag_sum_dims(ag_tensor *x, const int *dims, int n, bool keepdim)
{
    return sum_dims_as("sum", x, dims, n, keepdim);
}

ag_tensor *ag_sum(ag_tensor *x)
{
    if (!agi_check_live(x, "sum", 0))
        return NULL;
    red_attrs at = { (1u << x->shape.ndim) - 1, false, false };
    return ag_apply(&SUM, &x, 1, &at, sizeof at, NULL);
}

ag_tensor *ag_sum_dim(ag_tensor *x, int dim, bool keepdim) { return ag_sum_dims(x, &dim, 1, keepdim); }

/* --- mean = sum / count ------------------------------------------------------------------ */

static ag_tensor *mean_of(ag_tensor *x, ag_tensor *s)
{
    if (!s)
        return NULL;
    size_t cnt = s->numel ? x->numel / s->numel : 0;
    return ag_div_scalar(s, (double)cnt);
}

ag_tensor *ag_mean_dims(ag_tensor *x, const int *dims, int n, bool keepdim)
{
    return mean_of(x, sum_dims_as("mean", x, dims, n, keepdim));
}
ag_tensor *ag_mean(ag_tensor *x)
{
    return agi_check_live(x, "mean", 0) ? mean_of(x, ag_sum(x)) : NULL;
}
ag_tensor *ag_mean_dim(ag_tensor *x, int dim, bool keepdim) { return ag_mean_dims(x, &dim, 1, keepdim); }

/* --- max: values, gradient to the arg-max ------------------------------------------------ */

/* mask = 1/count where x == m, the count of such elements; when the max is NaN, the NaNs
 * share the gradient (PyTorch's evenly_distribute_backward). */
static void spread_over_ties(ag_tensor *mask, const ag_tensor *x, ag_real m)
{
    bool nan = isnan(m);
    size_t count = 0;
    for (size_t i = 0; i < x->numel; i++)
        count += nan ? isnan(x->data[i]) : x->data[i] == m;
    for (size_t i = 0; i < x->numel; i++)
        mask->data[i] = (nan ? isnan(x->data[i]) : x->data[i] == m)
                            ? (ag_real)(1.0 / (double)count)
                            : 0;
}

/* Forward of max over one dim (or all, mask of every dim). Output 1 is a mask with a single
 * 1 per reduced slice at the arg-max, which backward multiplies the expanded gradient by. */
static ag_status max_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const red_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = in[0];
    char b[AG_SHAPE_STRLEN];
    if (x->numel == 0 && at->all)
        return AGI_FAIL(AG_ERR_SHAPE, "max: the input of shape %s is empty (the max of no "
                        "elements is undefined; reduce over a dim instead)",
                        ag_shape_str(x->shape, b));
    for (int d = 0; d < x->shape.ndim; d++) /* a slice to reduce that holds no element */
        if ((at->mask & (1u << d)) && x->shape.d[d] == 0)
            return AGI_FAIL(AG_ERR_SHAPE, "max: cannot reduce dimension %d of size 0 (input of "
                            "shape %s)", d, ag_shape_str(x->shape, b));
    ag_shape ks = agi_reduced_shape(x->shape, at->mask, true);
    ag_tensor *y = ag_empty(agi_reduced_shape(x->shape, at->mask, at->keepdim));
    ag_tensor *mask = ag_zeros_tape(x->shape);
    size_t m = ag_shape_numel(ks);
    size_t *arg = ag_ctx_alloc(c, m * sizeof(size_t));
    if (!y || !mask || !arg)
        return ag_error();
    red_iter it = make_iter(x->shape, at->mask);
    for (size_t o = 0; o < m; o++)
        arg[o] = SIZE_MAX;
    int64_t idx[AG_MAX_DIMS] = { 0 }, o = 0;
    for (size_t i = 0; i < x->numel; i++) {
        ag_real v = x->data[i];
        size_t a = arg[o];
        if (a == SIZE_MAX || v > y->data[o] || (isnan(v) && !isnan(y->data[o]))) {
            y->data[o] = v;
            arg[o] = i;
        }
        (void)a;
        for (int d = it.nd - 1; d >= 0; d--) {
            o += it.ostride[d];
            if (++idx[d] < it.size[d])
                break;
            o -= it.ostride[d] * idx[d];
            idx[d] = 0;
        }
    }
    if (at->all) /* max of everything: ties share the gradient evenly, as torch.max() */
        spread_over_ties(mask, x, y->data[0]);
    else         /* max over a dim: the gradient goes to the first arg-max, as torch.max(dim) */
        for (size_t k = 0; k < m; k++)
            mask->data[arg[k]] = 1;
    out[0] = y;
    out[1] = mask;
    ag_ctx_mark_non_differentiable(c, 1);
    ag_ctx_save(c, mask);
    return AG_OK;
}
static ag_status max_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const red_attrs *at = ag_ctx_attrs(c);
    ag_shape xs = ag_ctx_input(c, 0)->shape;
    ag_tensor *g = ag_reshape(dy[0], agi_reduced_shape(xs, at->mask, true));
    dx[0] = ag_mul(ag_expand(g, xs), ag_ctx_saved(c, 0));
    return AG_OK;
}
static const ag_op MAX = { .name = "max", .n_in = 1, .n_out = 2, .forward = max_fwd, .backward = max_bwd };

ag_tensor *ag_max_dim(ag_tensor *x, int dim, bool keepdim)
{
    if (!agi_check_live(x, "max", 0))
        return NULL;
    if (!agi_wrap_dim("max", &dim, x->shape.ndim))
        return NULL;
    red_attrs at = { x->shape.ndim ? 1u << dim : 0, keepdim, false };
    return ag_apply(&MAX, &x, 1, &at, sizeof at, NULL);
}

ag_tensor *ag_max(ag_tensor *x)
{
    if (!agi_check_live(x, "max", 0))
        return NULL;
    red_attrs at = { (1u << x->shape.ndim) - 1, false, true };
    return ag_apply(&MAX, &x, 1, &at, sizeof at, NULL);
}

/* --- logsumexp = m + log(sum(exp(x - m))), m the max (stable for any magnitude) ----------
 * dx = dy * exp(x - y)  (the softmax), broadcast back */

static ag_status lse_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    const red_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = in[0];
    ag_shape ks = agi_reduced_shape(x->shape, at->mask, true);
    size_t m = ag_shape_numel(ks);
    double *mx = ag_ctx_alloc(c, (m ? m : 1) * sizeof(double));
    double *acc = ag_ctx_alloc(c, (m ? m : 1) * sizeof(double));
    if (!(out[0] = ag_empty(agi_reduced_shape(x->shape, at->mask, at->keepdim))) || !mx || !acc)
        return ag_error();
    red_iter it = make_iter(x->shape, at->mask);
    for (int pass = 0; pass < 2; pass++) {
        int64_t idx[AG_MAX_DIMS] = { 0 }, o = 0;
        for (size_t k = 0; k < m; k++)
            pass ? (acc[k] = 0) : (mx[k] = -INFINITY);
        for (size_t i = 0; i < x->numel; i++) {
            double v = x->data[i];
            if (pass == 0) /* a NaN stays the max: the result is NaN, as PyTorch's */
                mx[o] = v > mx[o] || isnan(v) ? v : mx[o];
            else
                acc[o] += isinf(mx[o]) ? (v == mx[o]) : exp(v - mx[o]);
            for (int d = it.nd - 1; d >= 0; d--) {
                o += it.ostride[d];
                if (++idx[d] < it.size[d])
                    break;
                o -= it.ostride[d] * idx[d];
                idx[d] = 0;
            }
        }
    }
    for (size_t k = 0; k < m; k++)
        out[0]->data[k] = (ag_real)(isinf(mx[k]) ? mx[k] : mx[k] + log(acc[k]));
    ag_ctx_save(c, x);
    ag_ctx_save(c, out[0]);
    return AG_OK;
}
static ag_status lse_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const red_attrs *at = ag_ctx_attrs(c);
    ag_tensor *x = ag_ctx_saved(c, 0), *y = ag_ctx_saved(c, 1);
    ag_shape ks = agi_reduced_shape(x->shape, at->mask, true);
    ag_tensor *p = ag_exp(ag_sub(x, ag_reshape(y, ks)));
    dx[0] = ag_mul(ag_reshape(dy[0], ks), p);
    return AG_OK;
}
static const ag_op LSE = { .name = "logsumexp", .n_in = 1, .n_out = 1, .forward = lse_fwd, .backward = lse_bwd };

ag_tensor *ag_logsumexp_dims(ag_tensor *x, const int *dims, int n, bool keepdim)
{
    if (!agi_check_live(x, "logsumexp", 0))
        return NULL;
    red_attrs at = { 0, keepdim, false };
    if (!parse_dims("logsumexp", x, dims, n, &at.mask))
        return NULL;
    return ag_apply(&LSE, &x, 1, &at, sizeof at, NULL);
}

ag_tensor *ag_logsumexp(ag_tensor *x, int dim, bool keepdim)
{
    return ag_logsumexp_dims(x, &dim, 1, keepdim);
}
