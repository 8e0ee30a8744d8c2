/* data_internal.h — what the data layer's files share: the dataset's layout, the seeded
 * permutation, and reading a whole (possibly gzipped) file. */
#ifndef AG_DATA_INTERNAL_H
#define AG_DATA_INTERNAL_H

#include "autograd_internal.h"
#include "data.h"

/* The inputs as one heap tensor (n, sample...); the labels follow the struct. */
struct ag_dataset {
    ag_tensor *x;
    size_t n, dim; /* samples, values per sample */
    int64_t y[];
};

/* A dataset of n >= 1 samples of shape `sample` with uninitialised inputs and labels.
 * `who` names the caller in errors. */
ag_dataset *agi_dataset_new(size_t n, ag_shape sample, const char *who);

/* Copies samples idx[0..count) of src, in that order, into x (count * dim values) and y. */
void agi_gather(const ag_dataset *src, const size_t *idx, size_t count, ag_real *x,
                int64_t *y);

/* Fills order[0..n) with a permutation of 0..n-1 drawn from *state (splitmix64). */
void agi_permutation(size_t *order, size_t n, uint64_t *state);

/* Reads the whole file at path, decompressing it if it is gzip (zlib reads other files
 * as they are), into a buffer from agi_alloc with a NUL after the last byte. Errors are
 * AG_ERR_IO "who: path: reason". */
ag_status agi_read_file(const char *path, const char *who, unsigned char **buf, size_t *len);

/* One epoch's numbers, as the monitor keeps them for the plot. */
typedef struct agi_epoch_rec {
    double loss, train_acc, test_acc, seconds;
} agi_epoch_rec;

/* Writes the SVG plot of rec[0..n) (loss; train and test accuracy in percent) against the
 * epoch, on an axis that runs to `planned` epochs. AG_ERR_IO if the file cannot be written. */
ag_status agi_write_plot(const char *path, const agi_epoch_rec *rec, int n, int planned);

#endif
