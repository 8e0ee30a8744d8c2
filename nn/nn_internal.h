/* nn_internal.h — the module base shared by the nn files. Not API.
 *
 * Every module, built-in or the user's, is one struct ag_module: a vtable (the
 * ag_module_def: name, forward, free_self), the user's `self`, its own parameters and its
 * children, both as lists of named entries in registration order. Linear is a module with
 * parameters "weight" and "bias"; Sequential is a module with children "0", "1", ...; the
 * activations are modules with neither. */
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

struct ag_module {
    const ag_module_def *def; /* the vtable; static, outlives the module */
    void *self;               /* the module's own state, freed by def->free_self */
    ag_module *parent;        /* the module that owns this one as a child, or NULL */
    agi_entries params;       /* own parameters (heap leaves, owned) */
    agi_entries children;     /* child modules (owned) */
    ag_params list;           /* ag_parameters' answer, built on demand */
    void *list_block;         /* the one allocation holding list's arrays and names */
    bool list_ok;             /* list is up to date with params and children */
};

/* Adds `child` to m under `name` (taking ownership on success only). Fails with
 * AG_ERR_ARG if the name is taken or the child already has a parent. */
ag_status agi_module_add_child(ag_module *m, const char *name, ag_module *child);

/* m's own parameter named `name`, or NULL (no error) if there is none. */
ag_tensor *agi_module_param(const ag_module *m, const char *name);

#endif
