/* dataset.c — datasets in memory: creation, queries, reshaping, the seeded split, statistics
 * and normalisation; and what the loader shares (gathering samples, the seeded
 * permutation). */
#include "data_internal.h"

#include <math.h>
#include <string.h>

/* A dataset of n samples of shape `sample`, contents uninitialised. */
ag_dataset *agi_dataset_new(size_t n, ag_shape sample, const char *who)
{
    if (n == 0 || n > (size_t)INT64_MAX / sizeof(int64_t)) {
        ag_fail(AG_ERR_ARG, "%s: a dataset needs at least one sample and at most 2^60 (got %zu)",
                who, n);
        return NULL;
    }
    if (sample.ndim < 0 || sample.ndim > AG_MAX_DIMS - 1) {
        ag_fail(AG_ERR_ARG, "%s: a sample may have at most %d dims (got %d)", who,
                AG_MAX_DIMS - 1, sample.ndim);
        return NULL;
    }
    ag_shape all = { .ndim = sample.ndim + 1, .d = { (int64_t)n } };
    memcpy(all.d + 1, sample.d, (size_t)sample.ndim * sizeof sample.d[0]);
    ag_dataset *ds = agi_alloc(sizeof *ds + n * sizeof(int64_t));
    if (!ds)
        return NULL;
    ds->x = agi_heap_tensor(all);
    if (!ds->x) {
        agi_release(ds);
        return NULL;
    }
    ds->n = n;
    ds->dim = ag_shape_numel(sample);
    return ds;
}

/* A dataset holding copies of x and labels. */
ag_dataset *ag_dataset_from(const ag_real *x, size_t n, ag_shape sample_shape,
                            const int64_t *labels)
{
    if (!x || !labels) {
        ag_fail(AG_ERR_ARG, "dataset_from: %s is NULL", x ? "labels" : "x");
        return NULL;
    }
    ag_dataset *ds = agi_dataset_new(n, sample_shape, "dataset_from");
    if (ds) {
        memcpy(ds->x->data, x, n * ds->dim * sizeof(ag_real));
        memcpy(ds->y, labels, n * sizeof(int64_t));
    }
    return ds;
}

void ag_dataset_free(ag_dataset *ds)
{
    if (ds) {
        ag_free(ds->x);
        agi_release(ds);
    }
}

size_t ag_dataset_len(const ag_dataset *ds) { return ds ? ds->n : 0; }

/* The shape of one sample: the inputs' shape without its first dim. */
ag_shape ag_dataset_sample_shape(const ag_dataset *ds)
{
    ag_shape s = AG_SCALAR;
    if (ds) {
        s.ndim = ds->x->shape.ndim - 1;
        memcpy(s.d, ds->x->shape.d + 1, (size_t)s.ndim * sizeof s.d[0]);
    }
    return s;
}

ag_tensor *ag_dataset_inputs(const ag_dataset *ds) { return ds ? ds->x : NULL; }

const int64_t *ag_dataset_labels(const ag_dataset *ds) { return ds ? ds->y : NULL; }

/* The largest label + 1 (0 for NULL). */
int64_t ag_dataset_num_classes(const ag_dataset *ds)
{
    int64_t top = -1;
    for (size_t i = 0; ds && i < ds->n; i++)
        top = ds->y[i] > top ? ds->y[i] : top;
    return top + 1;
}

/* The inputs' shape with a new sample shape (a view of the same values: no copy). */
ag_status ag_dataset_reshape(ag_dataset *ds, ag_shape sample_shape)
{
    if (!ds)
        return ag_fail(AG_ERR_ARG, "dataset_reshape: dataset is NULL");
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    size_t numel = 0;
    if (sample_shape.ndim > AG_MAX_DIMS - 1 ||
        !agi_shape_ok(sample_shape, "dataset_reshape", &numel) || numel != ds->dim)
        return ag_fail(AG_ERR_SHAPE, "dataset_reshape: samples of shape %s cannot become %s",
                       ag_shape_str(ag_dataset_sample_shape(ds), a),
                       ag_shape_str(sample_shape, b));
    ds->x->shape.ndim = sample_shape.ndim + 1;
    memcpy(ds->x->shape.d + 1, sample_shape.d, (size_t)sample_shape.ndim * sizeof(int64_t));
    return AG_OK;
}

/* Copies samples idx[0..count) of src, in that order, into x and y. */
void agi_gather(const ag_dataset *src, const size_t *idx, size_t count, ag_real *x,
                int64_t *y)
{
    size_t row = src->dim * sizeof(ag_real);
    for (size_t i = 0; i < count; i++) {
        memcpy(x + i * src->dim, src->x->data + idx[i] * src->dim, row);
        y[i] = src->y[idx[i]];
    }
}

/* splitmix64: one number from the state, advancing it. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fisher-Yates over the identity. The modulo's bias is below 2^-40 for any n that fits. */
void agi_permutation(size_t *order, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(state) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* A new dataset of the samples idx[0..count) of ds. */
static ag_dataset *subset(const ag_dataset *ds, const size_t *idx, size_t count)
{
    ag_dataset *part = agi_dataset_new(count, ag_dataset_sample_shape(ds), "dataset_split");
    if (part)
        agi_gather(ds, idx, count, part->x->data, part->y);
    return part;
}

/* A seeded shuffle, then the first round(fraction * n) samples train and the rest test. */
ag_status ag_dataset_split(const ag_dataset *ds, double fraction, uint64_t seed,
                           ag_dataset **train, ag_dataset **test)
{
    if (!train || !test)
        return ag_fail(AG_ERR_ARG, "dataset_split: train or test is NULL");
    *train = *test = NULL;
    if (!ds)
        return ag_fail(AG_ERR_ARG, "dataset_split: dataset is NULL");
    double k = isfinite(fraction) ? round(fraction * (double)ds->n) : 0;
    if (!(k >= 1 && k <= (double)ds->n - 1))
        return ag_fail(AG_ERR_ARG,
                       "dataset_split: fraction %g of %zu samples leaves a part empty", fraction,
                       ds->n);
    size_t *order = agi_alloc(ds->n * sizeof *order);
    if (!order)
        return AG_ERR_OOM;
    agi_permutation(order, ds->n, &seed);
    *train = subset(ds, order, (size_t)k);
    *test = *train ? subset(ds, order + (size_t)k, ds->n - (size_t)k) : NULL;
    agi_release(order);
    if (!*test) {
        ag_dataset_free(*train);
        *train = NULL;
        return ag_error();
    }
    return AG_OK;
}

/* Mean and population standard deviation, accumulated in double over two passes. */
ag_status ag_dataset_stats(const ag_dataset *ds, double *mean, double *std)
{
    if (!ds || !mean || !std)
        return ag_fail(AG_ERR_ARG, "dataset_stats: an argument is NULL");
    const ag_real *v = ds->x->data;
    size_t n = ds->x->numel;
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double mu = n ? sum / (double)n : 0;
    for (size_t i = 0; i < n; i++)
        sq += ((double)v[i] - mu) * ((double)v[i] - mu);
    *mean = mu;
    *std = n ? sqrt(sq / (double)n) : 0;
    return AG_OK;
}

/* (x - mean) / std in place; the inputs' version is bumped (a live graph may have saved
 * them). */
ag_status ag_dataset_normalize(ag_dataset *ds, double mean, double std)
{
    if (!ds)
        return ag_fail(AG_ERR_ARG, "dataset_normalize: dataset is NULL");
    if (!isfinite(mean) || !isfinite(std) || std <= 0)
        return ag_fail(AG_ERR_ARG,
                       "dataset_normalize: mean must be finite and std finite and > 0 (got "
                       "%g, %g)",
                       mean, std);
    ag_real *v = ds->x->data;
    for (size_t i = 0; i < ds->x->numel; i++)
        v[i] = (ag_real)(((double)v[i] - mean) / std);
    ag_bump_version(ds->x);
    return AG_OK;
}
