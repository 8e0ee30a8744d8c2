/* io.h — checkpoints: a model's parameters with the optimizer's state and the generator's
 * state, in a small versioned binary format (docs/checkpoint-format.md) with an XXH3-64
 * checksum of the header, of every tensor and of the whole file.
 *
 * Saving writes a temporary file beside the target (`path.tmp`, locked while it is written),
 * fsyncs it and renames it over the target, then fsyncs the folder, so a crash at any moment
 * leaves either the old checkpoint or the new one, never a torn one. A temporary file left by
 * a killed save is reused by the next save to that path: at most one ever exists.
 * Loading checks everything (magic, version, lengths, checksums, names, shapes) before it
 * changes anything: on any error the model, the optimizer and the generator are untouched.
 *
 * Values are stored in the build's precision (float32, or float64 from agrad64): a save and a
 * load in one build are bit-exact, so a resumed run is bitwise the run that never stopped.
 * Either build reads either precision. Both functions refuse to run while an error is pending
 * (returning it), like ag_optim_step. */
#ifndef AG_IO_H
#define AG_IO_H

#include "autograd.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Saves params (by name; an unnamed list, or a NULL name, uses the index: "0", "1", ...),
 * the optimizer's state, step count and learning rate if opt is not NULL (opt must have been
 * made over this same list), and the calling thread's generator state, to `path`.
 * AG_ERR_ARG for a NULL or empty path or list, a NULL or non-heap tensor, an empty, over-long
 * (> 1024 bytes) or repeated name, an optimizer over other parameters; AG_ERR_IO with the
 * system's reason if the file cannot be written ("checkpoint_save: cannot create 'x.tmp':
 * Permission denied"), or if `path` exists and is not a regular file. On any error nothing
 * is left behind but the previous checkpoint. */
ag_status ag_checkpoint_save(const char *path, const ag_params *params, ag_optimizer *opt);

/* Loads a checkpoint saved by ag_checkpoint_save into params (matched by name, not position;
 * the file must hold exactly these names, with the same shapes) and, if opt is not NULL, the
 * optimizer's state, step count and learning rate (same algorithm, same buffers; the file
 * must hold them); restores the generator state. With opt NULL any optimizer state in the
 * file is ignored. Errors: AG_ERR_ARG (bad arguments), AG_ERR_IO (cannot open or read; not a
 * regular file), AG_ERR_OOM, AG_ERR_FORMAT (damaged, not a checkpoint, or not this model's:
 * "truncated at byte 1234 (the header says the file has 5678 bytes)", "tensor 'fc1.weight':
 * checksum mismatch", "the model's tensor 'fc2.bias' is not in the file"), AG_ERR_SHAPE
 * ("tensor 'fc1.weight': shape [10,64] in file, model has [10,32]"). Messages about the file
 * start with "checkpoint_load: '<path>': ". On any error nothing was changed. */
ag_status ag_checkpoint_load(const char *path, const ag_params *params, ag_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
