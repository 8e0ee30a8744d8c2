/* nn_internal.h — the module base shared by the nn files. Not API.
 *
 * Every module, built-in or the user's, is one struct ag_module: a vtable (the
 * ag_module_def: name, forward, free_self), the user's `self`, its own parameters, buffers
 * and children, each a list of named entries in registration order, and its train/eval mode.
 * Linear is a module with parameters "weight" and "bias"; Sequential is a module with
 * children "0", "1", ...; the activations are modules with neither; BatchNorm1d has
 * buffers "running_mean", "running_var" and "num_batches_tracked". */
#ifndef AG_NN_INTERNAL_H
#define AG_NN_INTERNAL_H

#include "autograd_internal.h"
#include "nn.h"

/* A named entry: a parameter (ptr is an ag_tensor) or a child (ptr is an ag_module). The
 * name is a copy owned by the list. */
typedef struct agi_entry {
    char *name;
    void *ptr;
} agi_entry;

typedef struct agi_entries {
    agi_entry *v;
    int n, cap;
} agi_entries;

/* A tree-wide list with dotted names (ag_parameters' or ag_module_buffers' answer), built
 * on demand in one allocation and rebuilt only after the tree changes. */
typedef struct agi_listing {
    ag_params list;
    void *block;              /* the one allocation holding list's arrays and names */
    bool ok;                  /* list is up to date with the tree */
} agi_listing;

struct ag_module {
    const ag_module_def *def; /* the vtable; static, outlives the module */
    void *self;               /* the module's own state, freed by def->free_self */
    ag_module *parent;        /* the module that owns this one as a child, or NULL */
    agi_entries params;       /* own parameters (heap leaves, owned) */
    agi_entries buffers;      /* own buffers: state that is not trained (running stats) */
    agi_entries children;     /* child modules (owned) */
    agi_listing param_list;   /* ag_parameters' answer */
    agi_listing buffer_list;  /* ag_module_buffers' answer */
    bool training;            /* train or eval mode (ag_module_train); true when made */
};

/* Adds `child` to m under `name` (taking ownership on success only). Fails with
 * AG_ERR_ARG if the name is taken or the child already has a parent. */
ag_status agi_module_add_child(ag_module *m, const char *name, ag_module *child);

/* m's own parameter named `name`, or NULL (no error) if there is none. */
ag_tensor *agi_module_param(const ag_module *m, const char *name);

/* m's own buffer named `name`, or NULL (no error) if there is none. */
ag_tensor *agi_module_buffer(const ag_module *m, const char *name);

/* The values of t as int64 indices in [0, n), in tape memory (they live until ag_step_end,
 * long enough for backward); NULL with "who: arg[3] = 2.5 is not noun (a whole number in
 * [0, n))" for the first value that is not one (layers.c; the losses use it too). */
const int64_t *agi_whole_indices(const ag_tensor *t, int64_t n, const char *who,
                                 const char *arg, const char *noun);

#endif
