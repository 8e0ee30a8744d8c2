/* backward.c — the backward sweep, ag_backward, ag_grad_of and gradient hooks.
 *
 * Recorded nodes form a singly linked list, newest first; creation order is a topological
 * order, so walking it from the output's node towards older nodes visits every node after all
 * of its consumers. No recursion: graph depth is unbounded. Each tensor's gradient collects in
 * its `gacc` slot, valid only while `sweep` matches the current sweep id (so nothing needs
 * clearing between sweeps). Accumulation is an ordinary ag_add: with create_graph on, it and
 * every backward formula are recorded and can be differentiated again.
 *
 * Nodes of the scalar path (ops/scalar.c) run without tensors when nothing needs the general
 * backward: their gradients travel as floats in `gval` (gacc NULL), and become a tensor only
 * where one is read as a tensor (grad_tensor).
 *
 * Leaves receive their gradient only after the whole sweep has succeeded, so a sweep that
 * fails leaves every .grad as it was. */
#include "autograd_internal.h"
#include "ops.h"

#include <string.h>

typedef struct sweep {
    agi_tape *tp;
    uint64_t id;
    ag_tensor **leaves;
    size_t n_leaves, cap_leaves;
    int64_t pending; /* non-leaf tensors holding a gradient whose node has not run yet */
    bool deposit;    /* ag_backward (gradients go to .grad), not ag_grad_of */
    size_t no_grad_buffer; /* leaves without a .grad buffer yet (deposit makes them) */
    bool masked_leaf;      /* some leaf's first gradient was masked (agi_masked) */
} sweep;

static ag_status push_leaf(sweep *s, ag_tensor *t)
{
    if (t->kind != AGI_HEAP && t->kind != AGI_TAPE) { /* ag_free marks what it frees */
        char b[AG_SHAPE_STRLEN];
        return AGI_FAIL(AG_ERR_STATE, "backward: a leaf of the graph (shape %s) was freed",
                        ag_shape_str(t->shape, b));
    }
    if (s->n_leaves == s->cap_leaves) {
        /* first: as many as the thread's previous sweep had (a training loop's every
         * sweep has the same leaves, and 20,000 of them were 11 doublings and copies) */
        size_t hint = s->tp->leaves_hint > 16 ? s->tp->leaves_hint : 16;
        size_t cap = s->cap_leaves ? 2 * s->cap_leaves : hint;
        ag_tensor **n = agi_arena_alloc(&s->tp->arena, cap * sizeof *n);
        if (!n)
            return ag_error();
        if (s->n_leaves)
            memcpy(n, s->leaves, s->n_leaves * sizeof *n);
        s->leaves = n;
        s->cap_leaves = cap;
    }
    s->leaves[s->n_leaves++] = t;
    s->no_grad_buffer += !t->grad;
    return AG_OK;
}

/* t's gradient in this sweep as an ordinary tensor: made from the float the scalar path left,
 * or filled if it is uniform (agi_uniform), if need be; NULL (an error) if out of memory. */
static ag_tensor *grad_tensor(ag_tensor *t)
{
    if (!t->gacc)
        t->gacc = agi_tape_scalar(t->gval);
    return t->gacc && agi_dense(t->gacc) ? t->gacc : NULL;
}

/* Makes g t's first gradient of this sweep (g NULL: it is t->gval). */
static inline ag_status first_grad(sweep *s, ag_tensor *t, ag_tensor *g)
{
    t->sweep = s->id;
    t->gacc = g;
    if (t->node) {
        s->pending++;
        return AG_OK;
    }
    s->masked_leaf |= g && agi_is_masked(g);
    return push_leaf(s, t);
}

/* Adds g into t's gradient for this sweep. */
static ag_status accumulate(sweep *s, ag_tensor *t, ag_tensor *g)
{
    if (t->sweep != s->id)
        return first_grad(s, t, g);
    ag_tensor *sum = grad_tensor(t) ? ag_add(t->gacc, g) : NULL;
    if (!sum)
        return ag_error();
    t->gacc = sum;
    return AG_OK;
}

/* Adds the float g into 0-d t's gradient: kept as a float while no tensor gradient has
 * arrived, with the sum ag_add would compute. */
static ag_status accumulate_scalar(sweep *s, ag_tensor *t, ag_real g)
{
    if (t->sweep != s->id) {
        t->gval = g;
        return first_grad(s, t, NULL);
    }
    if (!t->gacc) {
        t->gval = t->gval + g;
        return AG_OK;
    }
    ag_tensor *gt = agi_tape_scalar(g);
    return gt ? accumulate(s, t, gt) : ag_error();
}

static bool same_shape(ag_shape a, ag_shape b);

/* Gives t's hooks its gradient, in registration order; a hook may replace it. */
static ag_status run_hooks(ag_tensor *t)
{
    uint32_t gen = agi_tape_get()->gen;
    if (!grad_tensor(t))
        return ag_error();
    for (agi_hook *h = t->hooks; h; h = h->next) {
        ag_tensor *r = h->fn(t->gacc, h->user);
        if (agi_tape_get()->gen != gen) /* the graph (and maybe h) is gone: touch nothing */
            return AGI_FAIL(AG_ERR_STATE, "backward: ag_step_end was called inside a hook (the "
                                          "graph being differentiated is gone)");
        if (ag_error() != AG_OK)
            return ag_error();
        if (!r)
            continue;
        if (!agi_check_live(r, "hook", 0))
            return ag_error();
        if (!same_shape(r->shape, t->gacc->shape)) {
            char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
            return AGI_FAIL(AG_ERR_SHAPE, "hook: returned a gradient of shape %s for a tensor of shape %s",
                            ag_shape_str(r->shape, a), ag_shape_str(t->shape, b));
        }
        t->gacc = r;
    }
    return AG_OK;
}

static bool same_shape(ag_shape a, ag_shape b)
{
    if (a.ndim != b.ndim)
        return false;
    for (int i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i])
            return false;
    return true;
}

/* Can input i of nd write its gradient straight into its .grad (see agi_grad_dest)? Only
 * a leaf whose .grad is logically zero, with no contribution yet in this sweep and no hooks
 * (they must see the gradient before .grad does), once per node, and only when that .grad is
 * not itself read by the node. */
static bool dest_ok(const sweep *s, const agi_node *nd, int i)
{
    const ag_tensor *x = nd->in[i];
    if (x->kind != AGI_HEAP || x->node || !x->requires_grad || !x->grad || !x->grad_zero ||
        x->hooks || x->sweep == s->id)
        return false;
    for (int j = 0; j < nd->n_in; j++)
        if ((j < i && nd->in[j] == x) || nd->in[j] == x->grad)
            return false;
    for (int j = 0; j < nd->n_saved; j++)
        if (nd->saved[j] == x->grad)
            return false;
    return true;
}

static void offer_dests(sweep *s, agi_node *nd, bool create_graph)
{
    bool any = s->deposit && !create_graph;
    for (int i = 0; i < nd->n_in; i++)
        s->tp->dest_leaf[i] = any && dest_ok(s, nd, i) ? nd->in[i] : NULL;
    s->tp->dest_node = nd;
}

ag_tensor *agi_grad_dest(ag_ctx *ctx, int i)
{
    agi_tape *tp = agi_tape_get();
    if (!ctx || tp->dest_node != (agi_node *)ctx || i < 0 || i >= AG_MAX_OP_INPUTS ||
        !tp->dest_leaf[i])
        return NULL;
    ag_tensor *x = tp->dest_leaf[i];
    tp->dest_leaf[i] = NULL;
    return agi_tape_view(x->grad, x->shape);
}

/* Does nd's backward take g as it is: a lazy form its forward declared it reads
 * (agi_ctx_takes_lazy_dy)? */
static bool reads_lazy(const agi_node *nd, const ag_tensor *g)
{
    return g && g->uniform && (nd->lazy_dy & (g->mask ? AGI_DY_MASKED : AGI_DY_UNIFORM));
}

/* Runs one node's backward and hands the input gradients on. */
static ag_status run_node(sweep *s, agi_node *nd, bool create_graph)
{
    const char *name = nd->op->name;
    if (nd->freed)
        return AGI_FAIL(AG_ERR_STATE,
                        "backward: %s: trying to backward through the graph a second time; "
                        "pass retain_graph the first time",
                        name);
    if (create_graph && nd->op->once_differentiable)
        return AGI_FAIL(AG_ERR_UNSUPPORTED,
                        "backward: %s: its backward is not differentiable (create_graph is "
                        "not supported through this op)",
                        name);
    if (!nd->op->backward)
        return AGI_FAIL(AG_ERR_UNSUPPORTED, "backward: %s has no backward", name);
    ag_tensor *dy[AG_MAX_OP_OUTPUTS] = { 0 };
    for (int k = 0; k < nd->n_out; k++) {
        ag_tensor *o = nd->out[k];
        if (o->sweep == s->id) {
            if (o->hooks && run_hooks(o) != AG_OK)
                return ag_error();
            /* a lazy gradient stays one number for a backward that reads it so */
            dy[k] = reads_lazy(nd, o->gacc) ? o->gacc : grad_tensor(o);
            if (!dy[k])
                return ag_error();
        } else if (!(dy[k] = ag_zeros_tape(o->shape))) {
            return ag_error();
        }
    }
    ag_tensor *dx[AG_MAX_OP_INPUTS] = { 0 };
    s->tp->in_backward = name;
    offer_dests(s, nd, create_graph);
    uint32_t gen = s->tp->gen;
    ag_status st = nd->op->backward((ag_ctx *)nd, dy, dx);
    s->tp->in_backward = NULL;
    s->tp->dest_node = NULL;
    if (s->tp->gen != gen) /* the graph (nd with it) is gone: touch nothing */
        return AGI_FAIL(AG_ERR_STATE, "backward: %s: ag_step_end was called inside its backward "
                                      "(the graph being differentiated is gone)",
                        name);
    if (st == AG_OK)
        st = ag_error();
    if (st != AG_OK)
        return ag_error() ? ag_error() : AGI_FAIL(st, "backward: %s failed", name);
    for (int i = 0; i < nd->n_in; i++) {
        ag_tensor *x = nd->in[i];
        if (!dx[i] || !x->requires_grad)
            continue;
        if (!same_shape(dx[i]->shape, x->shape)) {
            char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
            return AGI_FAIL(AG_ERR_SHAPE, "backward: %s returned a gradient of shape %s for input %d of shape %s",
                            name, ag_shape_str(dx[i]->shape, a), i, ag_shape_str(x->shape, b));
        }
        if (s->tp->anomaly && agi_has_nonfinite(dx[i])) {
            char a[AG_SHAPE_STRLEN];
            return AGI_FAIL(AG_ERR_NUMERIC,
                            "anomaly: %s backward produced NaN or Inf in the gradient of input %d (shape %s)",
                            name, i, ag_shape_str(x->shape, a));
        }
        if (accumulate(s, x, dx[i]) != AG_OK)
            return ag_error();
    }
    return AG_OK;
}

/* Runs nd on the scalar path (float gradients in, float gradients out) when it was recorded
 * by it and nothing needs the general backward: create_graph (the gradients must be recorded
 * ops), anomaly mode (they must be checked), hooks on its output (they take a tensor), or an
 * error to report (backward twice, a freed input, a saved tensor modified in place). */
static ag_status run_any_node(sweep *s, agi_node *nd, bool create_graph)
{
    ag_tensor *o = nd->out[0];
    ag_real dx[2];
    if (!nd->scalar || create_graph || s->tp->anomaly || nd->freed || o->hooks ||
        !agi_scalar_grads(nd, o->gacc ? o->gacc->data[0] : o->gval, dx))
        return run_node(s, nd, create_graph);
    for (int i = 0; i < nd->n_in; i++)
        if (nd->in[i]->requires_grad && accumulate_scalar(s, nd->in[i], dx[i]) != AG_OK)
            return ag_error();
    return AG_OK;
}

/* AG_OK unless g is masked and its mask was changed in place (the error is set). */
static ag_status mask_unchanged(const ag_tensor *g)
{
    return g && agi_is_masked(g) && !agi_mask_data(g) ? ag_error() : AG_OK;
}

/* The sweep proper: from `out` with gradient g0 down to every leaf. Without retain_graph each
 * node is freed once it has run (as PyTorch frees a node's saved tensors), which spares a
 * second pass over the graph. */
static ag_status run_sweep(sweep *s, ag_tensor *out, ag_tensor *g0, ag_backward_opts o)
{
    bool create = o.create_graph;
    bool retain = o.retain_graph || create;
    agi_tape *tp = s->tp;
    bool prev_no_grad = tp->no_grad;
    tp->no_grad = !create;
    ag_status st = accumulate(s, out, g0);
    agi_node *nd = out->node;
    while (st == AG_OK && nd && s->pending > 0) {
        int with_grad = 0;
        for (int k = 0; k < nd->n_out; k++)
            with_grad += nd->out[k]->sweep == s->id;
        if (with_grad) {
            s->pending -= with_grad;
            st = run_any_node(s, nd, create);
            nd->freed |= st == AG_OK && !retain;
        }
        nd = nd->prev;
    }
    tp->leaves_hint = s->n_leaves < ((size_t)1 << 17) ? s->n_leaves : (size_t)1 << 17;
    for (size_t i = 0; st == AG_OK && i < s->n_leaves; i++)
        if (s->leaves[i]->hooks)
            st = run_hooks(s->leaves[i]);
    for (size_t i = 0; st == AG_OK && s->masked_leaf && i < s->n_leaves; i++)
        st = mask_unchanged(s->leaves[i]->gacc); /* deposit reads them: checked after hooks */
    tp->no_grad = prev_no_grad;
    return st;
}

/* Checks the output and builds its starting gradient (ones for a one-element output). */
static ag_tensor *start_grad(ag_tensor *out, const ag_tensor *go, const char *fn)
{
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    if (!agi_check_live(out, fn, 0))
        return NULL;
    if (!out->requires_grad)
        return AGI_FAIL(AG_ERR_STATE, "%s: the tensor (shape %s) does not require grad and has no grad_fn",
                        fn, ag_shape_str(out->shape, a)),
               NULL;
    if (!go) {
        if (out->numel != 1)
            return AGI_FAIL(AG_ERR_SHAPE,
                            "%s: grad can be implicitly created only for one-element outputs; "
                            "the output has shape %s, pass grad_output",
                            fn, ag_shape_str(out->shape, a)),
                   NULL;
        ag_tensor *g = ag_empty(out->shape);
        if (g)
            g->data[0] = 1;
        return g;
    }
    if (!agi_check_live(go, fn, 1))
        return NULL;
    if (!same_shape(go->shape, out->shape))
        return AGI_FAIL(AG_ERR_SHAPE, "%s: grad_output of shape %s does not match the output's shape %s", fn,
                        ag_shape_str(go->shape, a), ag_shape_str(out->shape, b)),
               NULL;
    return (ag_tensor *)go;
}

/* Writes (fresh) or adds lazy gradient g into .grad's data d from its one value (and mask),
 * with the operations filling it and then copying or adding would have done. */
static void deposit_lazy(ag_real *d, const ag_tensor *g, bool fresh)
{
    ag_real v = g->data[0];
    const ag_real *m = g->mask ? g->mask->data : NULL;
    if (m && fresh)
        agi_relu_bwd_fill(d, m, g->numel, v);
    else if (m)
        for (size_t j = 0; j < g->numel; j++)
            d[j] += m[j] > 0 ? v : 0;
    else
        for (size_t j = 0; j < g->numel; j++)
            d[j] = fresh ? v : d[j] + v;
}

/* Adds each leaf's sweep gradient into its .grad. Missing buffers are made first, so that
 * running out of memory changes nothing (and in a training loop, which has them all, that
 * pass over the leaves is skipped: on a scalar graph it was a cache miss per leaf). */
static ag_status deposit_leaves(sweep *s)
{
    for (size_t i = 0; s->no_grad_buffer && i < s->n_leaves; i++) {
        ag_tensor *t = s->leaves[i];
        if (t->grad)
            continue;
        ag_tensor *g = agi_heap_tensor(t->shape);
        if (!g) {
            for (size_t j = 0; j < i; j++) /* undo only what this call made */
                if (s->leaves[j]->grad && s->leaves[j]->grad->version == UINT32_MAX) {
                    ag_free(s->leaves[j]->grad);
                    s->leaves[j]->grad = NULL;
                }
            return ag_error();
        }
        g->version = UINT32_MAX; /* marks "made by this call" until the loop below */
        t->grad = g;
    }
    for (size_t i = 0; i < s->n_leaves; i++) {
        ag_tensor *t = s->leaves[i];
        ag_real *d = t->grad->data;
        const ag_real *g = t->gacc ? t->gacc->data : &t->gval;
        if (t->gacc && t->gacc->uniform) /* sum(w)'s or sum(relu(w))'s: never filled */
            deposit_lazy(d, t->gacc, t->grad_zero || t->grad->version == UINT32_MAX);
        else if (g == d && t->grad_zero) /* written in place by the backward (agi_grad_dest) */
            ;
        else if (t->numel == 1) /* scalar graphs: no call for 4 bytes */
            d[0] = t->grad_zero || t->grad->version == UINT32_MAX ? g[0] : d[0] + g[0];
        else if (t->grad_zero || t->grad->version == UINT32_MAX) /* zero: copy, no need to add */
            memcpy(d, g, t->numel * sizeof(ag_real));
        else
            for (size_t j = 0; j < t->numel; j++)
                d[j] += g[j];
        t->grad_zero = false;
        t->grad->version = 0;
    }
    return AG_OK;
}

static ag_status begin(sweep *s, const char *fn)
{
    memset(s, 0, sizeof *s);
    s->tp = agi_tape_get();
    if (s->tp->err != AG_OK)
        return s->tp->err;
    (void)fn;
    s->id = ++s->tp->sweep;
    return AG_OK;
}

ag_status ag_backward_ex(ag_tensor *out, ag_backward_opts opts)
{
    sweep s;
    if (begin(&s, "backward") != AG_OK)
        return s.tp->err;
    s.deposit = true;
    ag_tensor *g0 = start_grad(out, opts.grad_output, "backward");
    if (!g0)
        return ag_error();
    ag_status st = run_sweep(&s, out, g0, opts);
    return st != AG_OK ? st : deposit_leaves(&s);
}

ag_status ag_backward(ag_tensor *out) { return ag_backward_ex(out, (ag_backward_opts){ 0 }); }

ag_status ag_grad_of(ag_tensor *out, int n, ag_tensor *const *inputs, ag_tensor **result,
                     ag_backward_opts opts)
{
    sweep s;
    if (begin(&s, "grad") != AG_OK)
        return s.tp->err;
    if (n < 0)
        return AGI_FAIL(AG_ERR_ARG, "grad: the number of inputs is negative (%d)", n);
    if (n > 0 && (!inputs || !result))
        return AGI_FAIL(AG_ERR_ARG, "grad: inputs or result is NULL");
    for (int i = 0; i < n; i++) {
        if (!agi_check_live(inputs[i], "grad", i + 1))
            return ag_error();
        if (!inputs[i]->requires_grad)
            return AGI_FAIL(AG_ERR_ARG, "grad: input %d does not require grad", i);
    }
    ag_tensor *g0 = start_grad(out, opts.grad_output, "grad");
    if (!g0)
        return ag_error();
    ag_status st = run_sweep(&s, out, g0, opts);
    if (st != AG_OK)
        return st;
    for (int i = 0; i < n; i++) {
        result[i] = inputs[i]->sweep == s.id ? grad_tensor(inputs[i]) : NULL;
        if (!result[i] && ag_error() != AG_OK) /* out of memory making it */
            return ag_error();
    }
    return AG_OK;
}

ag_status ag_register_hook(ag_tensor *t, ag_hook_fn fn, void *user)
{
    if (!agi_check_live(t, "register_hook", 0))
        return ag_error();
    if (!fn)
        return AGI_FAIL(AG_ERR_ARG, "register_hook: hook function is NULL");
    if (!t->requires_grad)
        return AGI_FAIL(AG_ERR_STATE, "register_hook: cannot register a hook on a tensor that does not require grad");
    agi_hook *h = t->kind == AGI_HEAP ? agi_alloc(sizeof *h)
                                      : agi_arena_alloc(&agi_tape_get()->arena, sizeof *h);
    if (!h)
        return ag_error();
    *h = (agi_hook){ fn, user, NULL };
    agi_hook **p = &t->hooks;
    while (*p)
        p = &(*p)->next;
    *p = h;
    return AG_OK;
}
