/* data.h — datasets, loaders and training monitors: what a training run around the engine
 * needs besides the model.
 *
 * A dataset is n samples of one shape (ag_real inputs, held as one heap tensor of shape
 * (n, sample...)) with an int64 class label each, the form ag_cross_entropy takes. It comes
 * from memory (ag_dataset_from, which copies), from a CSV file of numbers or from MNIST's IDX
 * files; either file may be gzip-compressed (read transparently through zlib). A seeded split
 * and a normalisation helper prepare it.
 *
 * A loader hands out batches: 1 sample (stochastic), all of them (full batch) or anything
 * between, shuffled or in order, the last short batch kept or dropped. The batch tensors are
 * allocated once, at ag_loader_new, and refilled in place: a loop over batches allocates
 * nothing. Shuffling uses the loader's own seeded generator (not the thread's, which the
 * model's initialisation draws from): epoch k's order depends only on the seed and k.
 *
 * A monitor shows a run as it goes: a progress bar with rate and ETA while the output is a
 * terminal, one summary line per epoch (loss, train and test accuracy, time) otherwise too, a
 * CSV log of the same numbers and an SVG plot of the curves, both rewritten every epoch so
 * that they can be watched while the run goes on.
 *
 * Errors follow the library's rules (autograd.h): NULL or a status with a message naming the
 * file, line and column ("csv: d.csv: line 12: expected 65 columns, found 64"); frees are
 * NULL-safe. */
#ifndef AG_DATA_H
#define AG_DATA_H

#include "autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Datasets
 * ------------------------------------------------------------------------------------- */

typedef struct ag_dataset ag_dataset;

/* A dataset of n >= 1 samples of shape sample_shape (at most AG_MAX_DIMS - 1 dims), with
 * copies of x (n * numel(sample_shape) values, row-major) and of the n labels. */
ag_dataset *ag_dataset_from(const ag_real *x, size_t n, ag_shape sample_shape,
                            const int64_t *labels);

/* Reads a CSV file of numbers (or a gzip-compressed one, e.g. .csv.gz): one sample a line,
 * the label in column label_column (0-based; negative counts from the end, -1 is the last),
 * the other columns the sample's features, in order. With has_header the first line is
 * skipped. Blank lines are skipped; every other line must have as many fields as the first
 * data line, each a number, and the label a whole number. Errors name the line and column:
 * "csv: f.csv: line 3, column 2: 'abc' is not a number". */
ag_dataset *ag_dataset_read_csv(const char *path, int label_column, bool has_header);

/* Reads MNIST's IDX format (gzip-compressed as shipped, or not): an images file of unsigned
 * bytes with dims (n, d1, d2, ...) and a labels file of n unsigned bytes. The samples have
 * shape (d1, d2, ...) and hold the raw byte values 0..255 (see ag_dataset_normalize).
 * Checks the magic numbers, the dims, that both files hold n items and that neither is
 * truncated or has bytes past its end. */
ag_dataset *ag_dataset_read_idx(const char *images_path, const char *labels_path);

/* Frees the dataset. NULL-safe. */
void ag_dataset_free(ag_dataset *ds);

/* The number of samples (0 for NULL). */
size_t ag_dataset_len(const ag_dataset *ds);
/* The shape of one sample. */
ag_shape ag_dataset_sample_shape(const ag_dataset *ds);
/* All inputs as one heap tensor of shape (n, sample...), owned by the dataset: do not free
 * it. It does not require grad; it can be fed to a model whole (full-batch evaluation). */
ag_tensor *ag_dataset_inputs(const ag_dataset *ds);
/* The n labels, owned by the dataset. */
const int64_t *ag_dataset_labels(const ag_dataset *ds);
/* The largest label + 1: the number of outputs a classifier needs. */
int64_t ag_dataset_num_classes(const ag_dataset *ds);

/* Gives every sample the shape sample_shape, of the same number of values (a flatten:
 * 28x28 images to 784 values for a Linear). AG_ERR_SHAPE if the sizes differ. */
ag_status ag_dataset_reshape(ag_dataset *ds, ag_shape sample_shape);

/* Splits ds into a shuffled train part of round(fraction * n) samples and a test part of
 * the rest (copies; ds is unchanged). The same seed gives the same split. fraction must
 * leave both parts at least one sample. On error both results are NULL. */
ag_status ag_dataset_split(const ag_dataset *ds, double fraction, uint64_t seed,
                           ag_dataset **train, ag_dataset **test);

/* The mean and the (population) standard deviation of all input values. */
ag_status ag_dataset_stats(const ag_dataset *ds, double *mean, double *std);

/* x := (x - mean) / std for every input value (torchvision's Normalize with one channel).
 * (0, 255) maps bytes to [0, 1]; pass the training set's ag_dataset_stats to standardise,
 * and use the same numbers for the test set. std must be > 0. */
ag_status ag_dataset_normalize(ag_dataset *ds, double mean, double std);

/* ---------------------------------------------------------------------------------------
 * Loaders
 * ------------------------------------------------------------------------------------- */

typedef struct ag_loader ag_loader;

/* A loader over ds (which must outlive it) giving batches of batch_size samples; 0 or any
 * size >= n means the whole dataset in one batch. With shuffle the order is a new seeded
 * permutation each epoch; without, it is the dataset's. drop_last drops a last batch shorter
 * than batch_size (PyTorch's DataLoader option). Allocates the batch buffers now. */
ag_loader *ag_loader_new(const ag_dataset *ds, size_t batch_size, bool shuffle,
                         bool drop_last, uint64_t seed);

/* The next batch of the epoch: *x a heap tensor of shape (rows, sample...) owned by the
 * loader and refilled by the next call (ag_clone it to keep it; a graph that saved it and
 * is still alive then reports the change at backward), *y its labels, *n its rows (any of
 * the three may be NULL). Returns false at the end of the epoch; the call after that starts
 * the next epoch. Every sample appears exactly once per epoch (dropped ones aside). */
bool ag_loader_next(ag_loader *l, ag_tensor **x, const int64_t **y, size_t *n);

/* Starts a new epoch (a new order if shuffling). Calling it before the first batch of an
 * epoch changes nothing, so calling it at the top of every epoch, at the end, or never
 * (letting next run past the end) gives the same batches. */
void ag_loader_reset(ag_loader *l);

/* Batches per epoch. */
size_t ag_loader_num_batches(const ag_loader *l);

/* Frees the loader and its buffers. NULL-safe. */
void ag_loader_free(ag_loader *l);

/* How many rows of logits (N, C) have their largest value (the first of equal ones, as
 * torch.argmax) at labels[row]. 0 with an error if logits is not 2-d. */
size_t ag_num_correct(const ag_tensor *logits, const int64_t *labels);

/* ---------------------------------------------------------------------------------------
 * Monitors
 * ------------------------------------------------------------------------------------- */

typedef struct ag_monitor ag_monitor;

/* A monitor for a run of `epochs` epochs of steps_per_epoch steps each, printing to stdout.
 * csv_path (NULL: none) is created now with a header line and gets one line per epoch:
 * epoch,train_loss,train_acc,test_acc,seconds (accuracies as fractions). svg_path (NULL:
 * none) is rewritten every epoch with the loss and accuracy curves. NULL with AG_ERR_IO if
 * the CSV cannot be created. */
ag_monitor *ag_monitor_new(const char *csv_path, const char *svg_path, int epochs,
                           size_t steps_per_epoch);

/* Where the progress bar and the summary lines go (stdout by default; NULL: nowhere). The
 * progress bar is drawn only when `out` is a terminal. */
void ag_monitor_set_output(ag_monitor *m, FILE *out);

/* One step done with this loss: advances the progress bar (redrawn at most 10 times a
 * second), which shows the epoch's running mean loss, steps per second and the ETA. Does
 * nothing for a NULL monitor. */
void ag_monitor_step(ag_monitor *m, double loss);

/* One epoch done: prints "epoch  3/15  loss 0.3412  train 87.65%  test 86.90%  2.41 s"
 * (time since the previous epoch ended, or since the monitor was made), appends the CSV line
 * and rewrites the SVG. Fails with AG_ERR_IO if a file cannot be written and with AG_ERR_ARG
 * past the declared number of epochs. */
ag_status ag_monitor_epoch(ag_monitor *m, double train_loss, double train_acc,
                           double test_acc);

/* Closes the CSV and frees the monitor. NULL-safe. */
void ag_monitor_free(ag_monitor *m);

#ifdef __cplusplus
}
#endif
#endif
