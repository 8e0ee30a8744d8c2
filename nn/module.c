/* module.c — the module base: creation, parameters and children, forward dispatch, the
 * parameter list and freeing. Linear, the activations and Sequential are built on it, as are
 * the user's modules (ag_module_new).
 *
 * ag_parameters (and ag_module_buffers) walks the tree once and keeps the answer in one
 * allocation (the tensors, the names and their characters); adding a parameter, a buffer or a
 * child anywhere below marks the lists of every enclosing module stale, so the next call
 * rebuilds them and a training loop that asks every step allocates nothing. Buffers are the
 * state a module keeps that is not trained (BatchNorm's running statistics): owned like
 * parameters, listed apart from them. */
#include "nn_internal.h"

#include <string.h>

/* --- named entries -------------------------------------------------------------------- */

/* The index of the entry called `name`, or -1. */
static int entries_find(const agi_entries *e, const char *name)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->v[i].name, name) == 0)
            return i;
    return -1;
}

/* The index of the entry pointing to ptr, or -1. */
static int entries_find_ptr(const agi_entries *e, const void *ptr)
{
    for (int i = 0; i < e->n; i++)
        if (e->v[i].ptr == ptr)
            return i;
    return -1;
}

/* A copy of s through the allocation hook (NULL with an OOM error). */
static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = agi_alloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

/* Appends (a copy of name, ptr), growing the array by doubling. */
static ag_status entries_push(agi_entries *e, const char *name, void *ptr)
{
    if (e->n == e->cap) {
        int cap = e->cap ? 2 * e->cap : 4;
        agi_entry *v = agi_alloc((size_t)cap * sizeof *v);
        if (!v)
            return AG_ERR_OOM;
        if (e->n)
            memcpy(v, e->v, (size_t)e->n * sizeof *v);
        agi_release(e->v);
        e->v = v;
        e->cap = cap;
    }
    char *copy = copy_string(name);
    if (!copy)
        return AG_ERR_OOM;
    e->v[e->n++] = (agi_entry){ copy, ptr };
    return AG_OK;
}

/* Frees the names and the array (not what the entries point to). */
static void entries_free(agi_entries *e)
{
    for (int i = 0; i < e->n; i++)
        agi_release(e->v[i].name);
    agi_release(e->v);
    *e = (agi_entries){ 0 };
}

/* --- building modules ----------------------------------------------------------------- */

/* Marks the lists of m and of every module enclosing it as out of date. */
static void mark_stale(ag_module *m)
{
    for (; m; m = m->parent)
        m->param_list.ok = m->buffer_list.ok = false;
}

/* Checks that `name` can name a new parameter or child of m: non-empty, without '.', and
 * not taken by another parameter or child (PyTorch's rules). */
static ag_status check_new_name(const ag_module *m, const char *what, const char *name)
{
    const char *mod = m->def->name;
    if (!name || !*name)
        return ag_fail(AG_ERR_ARG, "%s: a %s needs a non-empty name", mod, what);
    if (strchr(name, '.'))
        return ag_fail(AG_ERR_ARG, "%s: %s name '%s' must not contain '.'", mod, what, name);
    if (entries_find(&m->params, name) >= 0 || entries_find(&m->buffers, name) >= 0 ||
        entries_find(&m->children, name) >= 0)
        return ag_fail(AG_ERR_ARG, "%s: the name '%s' is already taken", mod, name);
    return AG_OK;
}

/* A new module with vtable `def` and state `self`, which it owns from here on (if memory
 * runs out, self is freed with def->free_self). */
ag_module *ag_module_new(const ag_module_def *def, void *self)
{
    if (!def || !def->name || !def->forward) {
        ag_fail(AG_ERR_ARG, "module_new: the definition is NULL or lacks a name or forward");
        if (def && def->free_self) /* ownership of self passed to us: release it */
            def->free_self(self);
        return NULL;
    }
    ag_module *m = agi_alloc(sizeof *m);
    if (!m) {
        if (def->free_self)
            def->free_self(self);
        return NULL;
    }
    *m = (ag_module){ .def = def, .self = self, .training = true };
    return m;
}

/* The state passed to ag_module_new, or NULL. */
void *ag_module_self(ag_module *m) { return m ? m->self : NULL; }

/* A parameter or a buffer: which list of a module, and the words its errors use. */
typedef struct tensor_kind {
    const char *fn, *what;
    bool buffer;
} tensor_kind;

static const tensor_kind PARAM = { "module_add_param", "parameter", false };
static const tensor_kind BUFFER = { "module_add_buffer", "buffer", true };

/* AG_ERR_ARG naming the entry if t is already one of m's parameters or buffers. */
static ag_status check_not_owned(const ag_module *m, const ag_tensor *t)
{
    int p = entries_find_ptr(&m->params, t), b = entries_find_ptr(&m->buffers, t);
    if (p < 0 && b < 0)
        return AG_OK;
    const char *name = p >= 0 ? m->params.v[p].name : m->buffers.v[b].name;
    return ag_fail(AG_ERR_ARG, "%s: this tensor is already %s '%s'", m->def->name,
                   p >= 0 ? "parameter" : "buffer", name);
}

/* Checks that t can become m's parameter or buffer `name`: a live heap tensor, not yet one of
 * m's, under a free name. */
static ag_status check_tensor(const ag_module *m, const tensor_kind *k, const char *name,
                              const ag_tensor *t)
{
    if (!m)
        return ag_fail(AG_ERR_ARG, "%s: module is NULL", k->fn);
    if (!agi_check_live(t, m->def->name, 0))
        return ag_error(); /* agi_check_live leaves an error pending */
    if (t->kind != AGI_HEAP)
        return ag_fail(AG_ERR_ARG,
                       "%s: %s '%s' must be a heap tensor (a leaf), not an op result; "
                       "use ag_clone",
                       m->def->name, k->what, name ? name : "");
    ag_status st = check_not_owned(m, t);
    return st != AG_OK ? st : check_new_name(m, k->what, name);
}

/* Registers heap tensor t in m's list of kind k under `name`. The module owns t from this
 * call on: on failure t is freed (unless it is already one of m's own tensors, which stays
 * registered). */
static ag_status add_tensor(ag_module *m, const tensor_kind *k, const char *name, ag_tensor *t)
{
    ag_status st = check_tensor(m, k, name, t);
    if (st == AG_OK)
        st = entries_push(k->buffer ? &m->buffers : &m->params, name, t);
    if (st != AG_OK) {
        if (!m || (entries_find_ptr(&m->params, t) < 0 && entries_find_ptr(&m->buffers, t) < 0))
            ag_free(t);
        return st;
    }
    mark_stale(m);
    return AG_OK;
}

/* Registers t as m's parameter `name` and makes it require grad. */
ag_status ag_module_add_param(ag_module *m, const char *name, ag_tensor *t)
{
    ag_status st = add_tensor(m, &PARAM, name, t);
    if (st == AG_OK)
        ag_set_requires_grad(t, true);
    return st;
}

/* Registers t as m's buffer `name` (PyTorch's register_buffer), as it is. */
ag_status ag_module_add_buffer(ag_module *m, const char *name, ag_tensor *t)
{
    return add_tensor(m, &BUFFER, name, t);
}

/* Adds `child` under `name`; m owns it on success. */
ag_status agi_module_add_child(ag_module *m, const char *name, ag_module *child)
{
    if (!m || !child)
        return ag_fail(AG_ERR_ARG, "module_add_child: module or child is NULL");
    for (const ag_module *a = m; a; a = a->parent)
        if (a == child)
            return ag_fail(AG_ERR_ARG, "%s: a module cannot contain itself", m->def->name);
    if (child->parent)
        return ag_fail(AG_ERR_ARG, "%s: this %s already belongs to a %s", m->def->name,
                       child->def->name, child->parent->def->name);
    ag_status st = check_new_name(m, "child", name);
    if (st == AG_OK)
        st = entries_push(&m->children, name, child);
    if (st != AG_OK)
        return st;
    child->parent = m;
    mark_stale(m);
    return AG_OK;
}

/* m's own parameter called `name`, or NULL. */
ag_tensor *agi_module_param(const ag_module *m, const char *name)
{
    int i = entries_find(&m->params, name);
    return i < 0 ? NULL : m->params.v[i].ptr;
}

/* m's own buffer called `name`, or NULL. */
ag_tensor *agi_module_buffer(const ag_module *m, const char *name)
{
    int i = entries_find(&m->buffers, name);
    return i < 0 ? NULL : m->buffers.v[i].ptr;
}

/* --- train / eval --------------------------------------------------------------------- */

/* Sets the mode of m and of every module below it (PyTorch's train(on) / eval()). */
void ag_module_train(ag_module *m, bool on)
{
    if (!m) {
        ag_fail(AG_ERR_ARG, "module_train: module is NULL");
        return;
    }
    m->training = on;
    for (int i = 0; i < m->children.n; i++)
        ag_module_train(m->children.v[i].ptr, on);
}

/* The mode a forward should run in; false with an error for NULL. */
bool ag_module_is_training(const ag_module *m)
{
    if (!m)
        return ag_fail(AG_ERR_ARG, "module_is_training: module is NULL"), false;
    return m->training;
}

/* --- running -------------------------------------------------------------------------- */

/* Checks m and x, then calls the module's forward. A forward that returns NULL without
 * reporting why gets an error here, so that NULL always comes with a message. */
ag_tensor *ag_forward(ag_module *m, ag_tensor *x)
{
    if (!m) {
        ag_fail(AG_ERR_ARG, "forward: module is NULL");
        return NULL;
    }
    if (!agi_check_live(x, m->def->name, 0))
        return NULL;
    ag_tensor *y = m->def->forward(m, x);
    if (!y && ag_error() == AG_OK)
        ag_fail(AG_ERR_STATE, "%s: forward returned NULL without reporting an error",
                m->def->name);
    return y;
}

/* --- the parameter list --------------------------------------------------------------- */

/* The chain of child names from the module being listed down to the current one. */
typedef struct path {
    const char *name;
    const struct path *up;
} path;

/* Length of the prefix "a.b." that `p` spells. */
static size_t path_len(const path *p) { return p ? path_len(p->up) + strlen(p->name) + 1 : 0; }

/* Writes the prefix "a.b." at dst and returns the end. */
static char *path_write(char *dst, const path *p)
{
    if (!p)
        return dst;
    dst = path_write(dst, p->up);
    size_t k = strlen(p->name);
    memcpy(dst, p->name, k);
    dst[k] = '.';
    return dst + k + 1;
}

/* Counts tensors of one kind and name bytes (out == NULL) or fills the list (out set, chars
 * sized by a counting pass). */
typedef struct collector {
    const tensor_kind *kind;
    ag_params *out;
    char *chars;
    int n;
    size_t bytes;
} collector;

/* Takes one parameter, with its dotted name under prefix `up`. */
static void collect_one(collector *c, const path *up, const agi_entry *e)
{
    if (c->out) {
        char *s = c->chars + c->bytes;
        strcpy(path_write(s, up), e->name);
        c->out->tensors[c->n] = e->ptr;
        c->out->names[c->n] = s;
    }
    c->n++;
    c->bytes += path_len(up) + strlen(e->name) + 1;
}

/* Takes m's tensors of the collector's kind, then each child's, in registration order
 * (PyTorch's named_parameters / named_buffers order). */
static void collect(const ag_module *m, const path *up, collector *c)
{
    const agi_entries *own = c->kind->buffer ? &m->buffers : &m->params;
    for (int i = 0; i < own->n; i++)
        collect_one(c, up, &own->v[i]);
    for (int i = 0; i < m->children.n; i++) {
        path p = { m->children.v[i].name, up };
        collect(m->children.v[i].ptr, &p, c);
    }
}

/* Rebuilds the listing of kind k in one allocation; on failure the old list is kept. */
static bool build_list(ag_module *m, const tensor_kind *k, agi_listing *l)
{
    collector count = { .kind = k };
    collect(m, NULL, &count);
    size_t ptrs = (size_t)count.n * (sizeof(ag_tensor *) + sizeof(const char *));
    void *block = count.n ? agi_alloc(ptrs + count.bytes) : NULL;
    if (count.n && !block)
        return false;
    ag_params list = { count.n, block, NULL };
    if (block)
        list.names = (const char **)(list.tensors + count.n);
    collector fill = { k, &list, (char *)block + ptrs, 0, 0 };
    collect(m, NULL, &fill);
    agi_release(l->block);
    *l = (agi_listing){ list, block, true };
    return true;
}

/* The listing of kind k with dotted names, rebuilt only after a change. */
static const ag_params *listing(ag_module *m, const tensor_kind *k, agi_listing *l)
{
    if (!l->ok && !build_list(m, k, l))
        return NULL;
    return &l->list;
}

/* The module's parameters with dotted names. */
const ag_params *ag_parameters(ag_module *m)
{
    if (!m) {
        ag_fail(AG_ERR_ARG, "parameters: module is NULL");
        return NULL;
    }
    return listing(m, &PARAM, &m->param_list);
}

/* The module's buffers with dotted names ("1.running_mean"). */
const ag_params *ag_module_buffers(ag_module *m)
{
    if (!m) {
        ag_fail(AG_ERR_ARG, "module_buffers: module is NULL");
        return NULL;
    }
    return listing(m, &BUFFER, &m->buffer_list);
}

/* Zeroes the gradient of every parameter in place. */
void ag_module_zero_grad(ag_module *m)
{
    const ag_params *p = m ? ag_parameters(m) : NULL; /* NULL: a no-op, like a free */
    for (int i = 0; p && i < p->n; i++)
        ag_zero_grad(p->tensors[i]);
}

/* The name from the module's definition ("Linear"); NULL for NULL. */
const char *ag_module_name(const ag_module *m) { return m ? m->def->name : NULL; }

/* --- freeing -------------------------------------------------------------------------- */

/* Frees m, its children, its parameters, its buffers and its state. */
static void destroy(ag_module *m)
{
    for (int i = 0; i < m->children.n; i++)
        destroy(m->children.v[i].ptr);
    for (int i = 0; i < m->params.n; i++)
        ag_free(m->params.v[i].ptr);
    for (int i = 0; i < m->buffers.n; i++)
        ag_free(m->buffers.v[i].ptr);
    entries_free(&m->children);
    entries_free(&m->params);
    entries_free(&m->buffers);
    agi_release(m->param_list.block);
    agi_release(m->buffer_list.block);
    if (m->def->free_self)
        m->def->free_self(m->self);
    agi_release(m);
}

/* Frees a module tree from its root. A child is freed by its owner: freeing it directly is
 * refused (AG_ERR_ARG) rather than leaving the owner with a dangling pointer. */
void ag_module_free(ag_module *m)
{
    if (!m)
        return;
    if (m->parent) {
        ag_fail(AG_ERR_ARG, "module_free: this %s belongs to a %s; free that one instead",
                m->def->name, m->parent->def->name);
        return;
    }
    destroy(m);
}
