/* io.h — checkpoints: a model's parameters with the optimizer's state and the generator's
 * state, in a small versioned binary format (docs/checkpoint-format.md) with an XXH3-64
 * checksum of every tensor and of the whole file.
 *
 * Saving writes a temporary file beside the target, fsyncs it and renames it over the target,
 * so a crash at any moment leaves either the old checkpoint or the new one, never a torn one.
 * Loading checks everything (magic, version, lengths, names, shapes, checksums) before it
 * changes anything: on any error the model, the optimizer and the generator are untouched. */
#ifndef AG_IO_H
#define AG_IO_H

#include "autograd.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Saves params (by name; unnamed lists use "0", "1", ...), the optimizer's state and step
 * count if opt is not NULL, and the calling thread's generator state, to `path`.
 * AG_ERR_IO with the system's reason if the file cannot be written; nothing is left behind
 * but the previous checkpoint. */
ag_status ag_checkpoint_save(const char *path, const ag_params *params, ag_optimizer *opt);

/* Loads a checkpoint saved by ag_checkpoint_save into params (matched by name, shapes must
 * agree) and, if opt is not NULL, the optimizer's state (same algorithm, same parameters);
 * restores the generator state. On error (AG_ERR_IO, AG_ERR_FORMAT, AG_ERR_SHAPE) the message
 * names what is wrong ("tensor 'fc1.weight': checksum mismatch", "truncated at byte 1234",
 * "shape [10,64] in file, model has [10,32]") and nothing was changed. */
ag_status ag_checkpoint_load(const char *path, const ag_params *params, ag_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
