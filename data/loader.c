/* loader.c — batches over a dataset, and counting correct predictions.
 *
 * The loader owns two heap tensors made at creation, one for full batches and one for the
 * short last batch (if kept), and a label buffer; each batch gathers its samples into them
 * through the epoch's order. So a training loop's batches cost copies, never allocations. */
#include "data_internal.h"

#include <string.h>

struct ag_loader {
    const ag_dataset *ds;
    size_t batch;         /* rows of a full batch */
    size_t served;        /* samples handed out per epoch (n, less the dropped tail) */
    size_t pos;           /* next position in order */
    bool shuffle, begun;  /* begun: a batch of this epoch has been handed out */
    uint64_t rng;
    ag_tensor *full, *tail;
    int64_t *y;
    size_t order[];
};

/* A heap tensor for batches of `rows` samples of ds. */
static ag_tensor *batch_tensor(const ag_dataset *ds, size_t rows)
{
    ag_shape s = ds->x->shape;
    s.d[0] = (int64_t)rows;
    return agi_heap_tensor(s);
}

/* Draws the epoch's order (if shuffling) and rewinds. */
static void start_epoch(ag_loader *l)
{
    if (l->shuffle)
        agi_permutation(l->order, l->ds->n, &l->rng);
    l->pos = 0;
    l->begun = false;
}

/* Allocates the loader with its buffers and draws the first epoch's order. */
ag_loader *ag_loader_new(const ag_dataset *ds, size_t batch_size, bool shuffle,
                         bool drop_last, uint64_t seed)
{
    if (!ds) {
        ag_fail(AG_ERR_ARG, "loader_new: dataset is NULL");
        return NULL;
    }
    ag_loader *l = agi_alloc(sizeof *l + ds->n * sizeof(size_t));
    if (!l)
        return NULL;
    size_t batch = batch_size == 0 || batch_size > ds->n ? ds->n : batch_size;
    size_t rest = ds->n % batch;
    bool keep_tail = rest && !drop_last;
    *l = (ag_loader){ .ds = ds, .batch = batch, .served = ds->n - (keep_tail ? 0 : rest),
                      .shuffle = shuffle, .rng = seed };
    l->full = batch_tensor(ds, batch);
    l->tail = keep_tail ? batch_tensor(ds, rest) : NULL;
    l->y = agi_alloc(batch * sizeof(int64_t));
    if (!l->full || (keep_tail && !l->tail) || !l->y) {
        ag_loader_free(l);
        return NULL;
    }
    for (size_t i = 0; i < ds->n; i++)
        l->order[i] = i;
    start_epoch(l);
    return l;
}

/* Gathers the next batch into its buffer; at the end of the epoch starts the next one and
 * returns false. */
bool ag_loader_next(ag_loader *l, ag_tensor **x, const int64_t **y, size_t *n)
{
    if (!l) {
        ag_fail(AG_ERR_ARG, "loader_next: loader is NULL");
        return false;
    }
    if (l->pos >= l->served) {
        start_epoch(l);
        return false;
    }
    size_t rows = l->served - l->pos < l->batch ? l->served - l->pos : l->batch;
    ag_tensor *t = rows == l->batch ? l->full : l->tail;
    agi_gather(l->ds, l->order + l->pos, rows, t->data, l->y);
    ag_bump_version(t);
    l->pos += rows;
    l->begun = true;
    if (x)
        *x = t;
    if (y)
        *y = l->y;
    if (n)
        *n = rows;
    return true;
}

void ag_loader_reset(ag_loader *l)
{
    if (l && l->begun)
        start_epoch(l);
}

/* ceil(served / batch). */
size_t ag_loader_num_batches(const ag_loader *l)
{
    return l ? (l->served + l->batch - 1) / l->batch : 0;
}

void ag_loader_free(ag_loader *l)
{
    if (l) {
        ag_free(l->full);
        ag_free(l->tail);
        agi_release(l->y);
        agi_release(l);
    }
}

/* The index of the largest of v[0..n), the first of equal ones. */
static size_t argmax(const ag_real *v, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (v[j] > v[best])
            best = j;
    return best;
}

/* Rows whose argmax is the label. */
size_t ag_num_correct(const ag_tensor *logits, const int64_t *labels)
{
    if (!agi_check_live(logits, "num_correct", 0))
        return 0;
    if (!labels || logits->shape.ndim != 2) {
        char buf[AG_SHAPE_STRLEN];
        ag_fail(AG_ERR_ARG, "num_correct: needs 2-d logits and labels (got %s logits, %s)",
                ag_shape_str(logits->shape, buf), labels ? "labels" : "NULL labels");
        return 0;
    }
    size_t rows = (size_t)logits->shape.d[0], cols = (size_t)logits->shape.d[1], hits = 0;
    for (size_t i = 0; cols && i < rows; i++)
        hits += (int64_t)argmax(logits->data + i * cols, cols) == labels[i];
    return hits;
}
