/* io_internal.h — the checkpoint format's constants and what the saver (checkpoint.c) and the
 * loader (checkpoint_load.c) share, for io/ files and the fuzzers only. The byte layout is
 * documented in docs/checkpoint-format.md; these constants are its numbers. */
#ifndef AGI_IO_INTERNAL_H
#define AGI_IO_INTERNAL_H

#include <string.h>

#include "autograd_internal.h"
#include "io.h"

#define AGI_CKPT_MAGIC "AGRADCKP"          /* the file's first 8 bytes */
#define AGI_CKPT_VERSION 1u                /* the format version this build writes and reads */
#define AGI_CKPT_HEADER 40                 /* magic, version, flags, element size, count, size,
                                              header checksum */
#define AGI_CKPT_HAS_OPTIM 1u              /* flags bit 0: an optimizer section follows */
#define AGI_CKPT_MAX_NAME 1024             /* bytes in a tensor or state name */
#define AGI_CKPT_MAX_ALGO 64               /* bytes in an optimizer's name */
#define AGI_CKPT_MAX_STATE 16              /* state buffers per parameter */
#define AGI_CKPT_MAX_STEP (INT64_C(1) << 53) /* step counts a double holds exactly */
#define AGI_CKPT_RNG 32                    /* the generator's four 64-bit words */
#define AGI_CKPT_TRAILER 8                 /* XXH3-64 of everything before it */
/* The smallest record: a 1-byte name, no dimensions (one element of 4 bytes), the fields. */
#define AGI_CKPT_MIN_RECORD (4 + 1 + 4 + 8 + 4 + 8)

/* One parameter's name as the checkpoint stores it (the list's name, or its index in decimal
 * for an unnamed list), and its index in the list. */
typedef struct agi_ckpt_name {
    const char *s;
    size_t len;
    int index;
} agi_ckpt_name;

/* Same number of dimensions (both at most AG_MAX_DIMS) and the same sizes. */
static inline bool agi_ckpt_same_shape(ag_shape a, ag_shape b)
{
    return a.ndim == b.ndim && memcmp(a.d, b.d, (size_t)a.ndim * sizeof a.d[0]) == 0;
}

/* Bytewise order, a shorter name before a longer one that starts with it. Files store their
 * tensors in this order, so matching a file against a model is one merge. */
int agi_ckpt_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Checks the parameter list given to `op` (present, non-empty, every tensor live, every name
 * non-empty, at most AGI_CKPT_MAX_NAME bytes and unique) and returns its names sorted by
 * agi_ckpt_name_cmp: one allocation, freed with agi_release. NULL with the error recorded. */
agi_ckpt_name *agi_ckpt_param_names(const char *op, const ag_params *params);

/* What every checkpoint call checks before touching a file: no error pending (refused, as the
 * optimizers do: its message would be lost), a non-empty path (unless `path_arg` is false: the
 * call takes no path), then the parameter list. Returns the names (agi_ckpt_param_names) and
 * AG_OK, or the error with *names NULL. */
ag_status agi_ckpt_begin(const char *op, bool path_arg, const char *path, const ag_params *params,
                         agi_ckpt_name **names);

/* Records AG_ERR_IO "op: cannot <what> '<file>': <strerror(err)>" and returns it. */
ag_status agi_io_fail(const char *op, const char *what, const char *file, int err);

/* Loads a checkpoint held in memory (size bytes at data) exactly as ag_checkpoint_load loads
 * a file: everything is checked before anything changes. `label` names the source in messages
 * (the path). Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, checksum mismatches are
 * not errors, so that a fuzzer's mutations reach the checks behind them. */
ag_status agi_checkpoint_load_mem(const void *data, size_t size, const char *label,
                                  const ag_params *params, ag_optimizer *opt);

#endif
