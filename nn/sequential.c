/* sequential.c — Sequential: runs its children in order. The children are the module
 * base's children named "0", "1", ..., so parameter names come out as PyTorch's state_dict
 * keys ("0.weight", "1.0.bias" for nesting) with no code here. */
#include "nn_internal.h"

#include <stdio.h>

/* Feeds x through each child in turn; stops at the first failure. An empty Sequential
 * returns x itself, as PyTorch's does. */
static ag_tensor *sequential_forward(ag_module *m, ag_tensor *x)
{
    for (int i = 0; x && i < m->children.n; i++)
        x = ag_forward(m->children.v[i].ptr, x);
    return x;
}

static const ag_module_def SEQUENTIAL = { "Sequential", sequential_forward, NULL };

/* The first index at which mods[i] appears in mods. */
static int first_index(ag_module *const *mods, int i)
{
    int j = 0;
    while (mods[j] != mods[i])
        j++;
    return j;
}

/* Checks the arguments before anything is taken: every module present, owned by no other
 * module, and listed once. */
static bool check_mods(int n, ag_module *const *mods)
{
    if (n < 0 || (n > 0 && !mods))
        return ag_fail(AG_ERR_ARG, "Sequential: %d modules%s", n,
                       n < 0 ? " (a negative count)" : " at a NULL array"),
               false;
    for (int i = 0; i < n; i++) {
        if (!mods[i])
            return ag_fail(AG_ERR_ARG, "Sequential: module %d is NULL", i), false;
        if (mods[i]->parent)
            return ag_fail(AG_ERR_ARG, "Sequential: module %d (a %s) already belongs to a %s", i,
                           mods[i]->def->name, mods[i]->parent->def->name),
                   false;
        int j = first_index(mods, i);
        if (j != i)
            return ag_fail(AG_ERR_ARG, "Sequential: module %d is module %d again", i, j), false;
    }
    return true;
}

/* Frees, once each, the modules of mods that no module owns (the failure path). A repeat is
 * skipped before it is read: its first occurrence may already be freed. */
static void free_orphans(int n, ag_module *const *mods)
{
    for (int i = 0; mods && i < n; i++)
        if (mods[i] && first_index(mods, i) == i && !mods[i]->parent)
            ag_module_free(mods[i]);
}

/* A Sequential owning mods[0..n); on any failure the modules it was given are freed. */
ag_module *ag_sequential_new(int n, ag_module *const *mods)
{
    ag_module *m = check_mods(n, mods) ? ag_module_new(&SEQUENTIAL, NULL) : NULL;
    int added = 0;
    for (; m && added < n; added++) {
        char name[16];
        snprintf(name, sizeof name, "%d", added);
        if (agi_module_add_child(m, name, mods[added]) != AG_OK)
            break;
    }
    if (m && added == n)
        return m;
    free_orphans(n, mods);
    ag_module_free(m);
    return NULL;
}
