/* dot.c — the recorded graph as a Graphviz picture (like torchviz's make_dot).
 *
 * From the root's node the walk goes breadth first through each node's inputs: a recorded
 * input leads to the op that made it, any other input is a leaf of the picture (a parameter,
 * the data, a constant). Ops are grey boxes labelled with the op's name; leaves show their
 * shape, prefixed by their name when a parameter list with names is given, and are light blue
 * when they require grad (what backward fills), white otherwise; the root is green. Edges
 * run from producer to consumer, so the root ends up at the bottom.
 *
 * Ids are given in the order the walk meets things, which depends only on the graph, so the
 * same program writes the same file. A map from pointer to id (open addressing) lets an op or
 * leaf that is used many times appear once. */
#include "autograd_internal.h"

#include <errno.h>
#include <string.h>

/* --- pointer -> id ------------------------------------------------------------------------- */

typedef struct map_entry {
    const void *key;
    size_t id;
} map_entry;

typedef struct ptr_map {
    map_entry *v;
    size_t cap, n; /* cap a power of two, kept at least twice n */
} ptr_map;

/* A well-mixed hash of a pointer (the finaliser of MurmurHash3). */
static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

/* The slot holding key, or the empty slot where it would go. */
static map_entry *map_slot(const ptr_map *m, const void *key)
{
    size_t i = hash_ptr(key) & (m->cap - 1);
    while (m->v[i].key && m->v[i].key != key)
        i = (i + 1) & (m->cap - 1);
    return &m->v[i];
}

/* Doubles the table (or makes the first one); false if memory runs out. */
static bool map_grow(ptr_map *m)
{
    ptr_map g = { .cap = m->cap ? 2 * m->cap : 64, .n = m->n };
    if (!(g.v = agi_alloc(g.cap * sizeof *g.v)))
        return false;
    memset(g.v, 0, g.cap * sizeof *g.v);
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].key)
            *map_slot(&g, m->v[i].key) = m->v[i];
    agi_release(m->v);
    *m = g;
    return true;
}

/* The id of key, adding it with id `fresh` if it is new (*added says which). SIZE_MAX if
 * memory runs out. */
static size_t map_id(ptr_map *m, const void *key, size_t fresh, bool *added)
{
    *added = false;
    if (2 * (m->n + 1) > m->cap && !map_grow(m))
        return SIZE_MAX;
    map_entry *e = map_slot(m, key);
    if (!e->key) {
        *e = (map_entry){ key, fresh };
        m->n++;
        *added = true;
    }
    return e->id;
}

/* --- the walk ------------------------------------------------------------------------------ */

typedef struct dot_walk {
    FILE *f;
    const ag_params *names;
    ptr_map ops, leaves;
    const agi_node **queue; /* ops in the order met; queue[i] has id i */
    size_t n_queue, cap_queue;
} dot_walk;

/* Writes s inside a DOT string, escaping quotes and backslashes. */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* The name of t in the parameter list, or NULL. */
static const char *name_of(const dot_walk *w, const ag_tensor *t)
{
    for (int i = 0; w->names && w->names->names && i < w->names->n; i++)
        if (w->names->tensors && w->names->tensors[i] == t)
            return w->names->names[i];
    return NULL;
}

/* A tensor's box: "name\n[2,3]" (or just the shape), filled with `color`. */
static void put_tensor(const dot_walk *w, const char *id, const ag_tensor *t, const char *color)
{
    char s[AG_SHAPE_STRLEN];
    const char *name = name_of(w, t);
    fprintf(w->f, "    %s [label=\"", id);
    if (name) {
        put_escaped(w->f, name);
        fputs("\\n", w->f);
    }
    fprintf(w->f, "%s\", fillcolor=%s]\n", ag_shape_str(t->shape, s), color);
}

/* The id of op node nd, queueing it (and writing its box) when it is met for the first
 * time. SIZE_MAX if memory runs out. */
static size_t op_id(dot_walk *w, const agi_node *nd)
{
    bool added;
    size_t id = map_id(&w->ops, nd, w->n_queue, &added);
    if (!added || id == SIZE_MAX)
        return id;
    if (w->n_queue == w->cap_queue) {
        size_t cap = w->cap_queue ? 2 * w->cap_queue : 64;
        const agi_node **q = agi_alloc(cap * sizeof *q);
        if (!q)
            return SIZE_MAX;
        if (w->n_queue)
            memcpy(q, w->queue, w->n_queue * sizeof *q);
        agi_release(w->queue);
        w->queue = q;
        w->cap_queue = cap;
    }
    w->queue[w->n_queue++] = nd;
    fprintf(w->f, "    op%zu [label=\"", id);
    put_escaped(w->f, nd->op->name);
    fputs("\"]\n", w->f);
    return id;
}

/* Writes an edge from input t into op `to`: from the op that made t, or from t's own leaf
 * box, written when t is met for the first time. */
static bool put_input(dot_walk *w, const ag_tensor *t, size_t to)
{
    if (t->node) {
        size_t from = op_id(w, t->node);
        if (from == SIZE_MAX)
            return false;
        fprintf(w->f, "    op%zu -> op%zu\n", from, to);
        return true;
    }
    bool added;
    size_t id = map_id(&w->leaves, t, w->leaves.n, &added);
    if (id == SIZE_MAX)
        return false;
    char name[32];
    snprintf(name, sizeof name, "t%zu", id);
    if (added)
        put_tensor(w, name, t, t->requires_grad ? "lightblue" : "white");
    fprintf(w->f, "    %s -> op%zu\n", name, to);
    return true;
}

/* The root's box and edge, then every op breadth first with its inputs. */
static bool walk(dot_walk *w, const ag_tensor *root)
{
    put_tensor(w, "out", root, "darkolivegreen1");
    if (!root->node)
        return true;
    size_t top = op_id(w, root->node);
    if (top == SIZE_MAX)
        return false;
    fprintf(w->f, "    op%zu -> out\n", top);
    for (size_t i = 0; i < w->n_queue; i++) {
        const agi_node *nd = w->queue[i];
        for (int k = 0; k < nd->n_in; k++)
            if (!put_input(w, nd->in[k], i))
                return false;
    }
    return true;
}

/* --- the API ------------------------------------------------------------------------------- */

ag_status ag_export_dot(const ag_tensor *root, const ag_params *names, FILE *f)
{
    if (!agi_check_live(root, "export_dot", 0))
        return ag_error();
    if (!f)
        return ag_fail(AG_ERR_ARG, "export_dot: the file is NULL");
    dot_walk w = { .f = f, .names = names };
    fputs("digraph agrad {\n"
          "    node [shape=box, style=filled, fillcolor=lightgrey, fontname=monospace, "
          "fontsize=10]\n",
          f);
    bool ok = walk(&w, root);
    fputs("}\n", f);
    agi_release(w.ops.v);
    agi_release(w.leaves.v);
    agi_release(w.queue);
    if (!ok)
        return ag_error();
    if (fflush(f) != 0 || ferror(f))
        return ag_fail(AG_ERR_IO, "export_dot: writing the graph failed");
    return AG_OK;
}

ag_status ag_export_dot_file(const ag_tensor *root, const ag_params *names, const char *path)
{
    if (!agi_check_live(root, "export_dot", 0))
        return ag_error();
    if (!path)
        return ag_fail(AG_ERR_ARG, "export_dot: the path is NULL");
    FILE *f = fopen(path, "w");
    if (!f)
        return ag_fail(AG_ERR_IO, "export_dot: cannot open '%s': %s", path, strerror(errno));
    ag_status st = ag_export_dot(root, names, f);
    if (fclose(f) != 0 && st == AG_OK)
        st = ag_fail(AG_ERR_IO, "export_dot: cannot write '%s': %s", path, strerror(errno));
    return st;
}
