/* op.c — running an op and recording it: ag_apply and the ag_ctx accessors.
 *
 * The node is allocated before forward runs and doubles as the op's context, so an op's
 * attrs, saved tensors and scratch all live in the tape's arena and vanish with the step. */
#include "autograd_internal.h"

#include <string.h>

/* An output that is not a fresh, history-free tape tensor (an input passed through, a heap
 * tensor) gets a view of its own so that recording can give it a node. */
static ag_tensor *adopt_output(ag_tensor *o, ag_tensor *const *in, int n_in)
{
    bool fresh = o->kind == AGI_TAPE && !o->node && !o->requires_grad;
    for (int i = 0; fresh && i < n_in; i++)
        fresh = o != in[i];
    return fresh ? o : agi_tape_view(o, o->shape);
}

/* Anomaly mode's check of an op's results. Inside a backward pass the culprit is the op
 * whose backward is running, so the message names that one. */
static bool anomaly_in(const char *op, ag_tensor *const *t, int n)
{
    const char *bw = agi_tape_get()->in_backward;
    for (int k = 0; k < n; k++) {
        if (t[k] && agi_has_nonfinite(t[k])) {
            char b[AG_SHAPE_STRLEN];
            if (bw)
                AGI_FAIL(AG_ERR_NUMERIC,
                         "anomaly: %s backward produced NaN or Inf (in its %s, result of shape %s)",
                         bw, op, ag_shape_str(t[k]->shape, b));
            else
                AGI_FAIL(AG_ERR_NUMERIC, "anomaly: %s forward produced NaN or Inf in result %d of shape %s",
                         op, k, ag_shape_str(t[k]->shape, b));
            return true;
        }
    }
    return false;
}

/* Bytes of a node with n slots: the header, the slots, then room to save AGI_MAX_SAVED. */
#define NODE_SIZE(n) \
    (sizeof(agi_node) + ((n) + AGI_MAX_SAVED) * sizeof(ag_tensor *) + AGI_MAX_SAVED * sizeof(uint32_t))

/* Fills a node for op over in[0..n_in) (sized by NODE_SIZE for inputs and outputs). */
static void node_init(agi_node *nd, const ag_op *op, ag_tensor *const *in, int n_in,
                      const void *attrs, bool recording)
{
    nd->op = op;
    nd->prev = NULL;
    nd->attrs = attrs;
    nd->in = nd->slots;
    nd->out = nd->slots + n_in;
    nd->saved = nd->out + op->n_out;
    nd->saved_ver = (uint32_t *)(nd->saved + AGI_MAX_SAVED);
    nd->n_in = (uint8_t)n_in;
    nd->n_out = (uint8_t)op->n_out;
    nd->n_saved = 0;
    nd->scalar = 0;
    nd->recording = recording;
    nd->freed = false;
    nd->nondiff = 0;
    nd->lazy_dy = 0;
    nd->dest = NULL;
    for (int i = 0; i < n_in; i++)
        nd->in[i] = in[i];
    for (int k = 0; k < op->n_out; k++)
        nd->out[k] = NULL;
}

/* Runs the forward with recording off and checks that it produced every output. */
static bool run_forward(agi_tape *tp, agi_node *nd, ag_tensor *const *in)
{
    const ag_op *op = nd->op;
    bool prev_no_grad = tp->no_grad;
    uint32_t gen = tp->gen;
    tp->no_grad = true;
    ag_status st = op->forward((ag_ctx *)nd, in, nd->out);
    tp->no_grad = prev_no_grad;
    if (tp->gen != gen) /* the tape (nd and the outputs with it) is gone: touch nothing */
        return AGI_FAIL(AG_ERR_STATE, "%s: ag_step_end was called inside the op's forward",
                        op->name),
               false;
    if (st == AG_OK && tp->err != AG_OK)
        st = tp->err;
    for (int k = 0; st == AG_OK && k < op->n_out; k++)
        if (!nd->out[k])
            st = AGI_FAIL(AG_ERR_ARG, "%s: forward returned no output %d", op->name, k);
    if (st != AG_OK && tp->err == AG_OK)
        AGI_FAIL(st, "%s: forward failed", op->name);
    return st == AG_OK && !(tp->anomaly && anomaly_in(op->name, nd->out, op->n_out));
}

/* Links a node into the tape and marks its differentiable outputs as made by it. */
static bool record(agi_tape *tp, agi_node *nd, ag_tensor *const *in)
{
    for (int k = 0; k < nd->n_out; k++)
        if (!(nd->out[k] = adopt_output(nd->out[k], in, nd->n_in)))
            return false;
    nd->prev = tp->last;
    tp->last = nd;
    for (int k = 0; k < nd->n_out; k++) {
        if (nd->nondiff & (1u << k))
            continue;
        nd->out[k]->requires_grad = true;
        nd->out[k]->node = nd;
    }
    return true;
}

/* When nothing is recorded (no grad mode, no input requiring grad, and every backward pass
 * without create_graph) the node lives on the C stack: it is only the forward's context. When
 * recording, node and attrs go to the tape, where backward finds them. */
static ag_tensor *apply(const ag_op *op, ag_tensor *const *in, int n_in, const void *attrs,
                        size_t attrs_size, ag_tensor **out, ag_tensor *dest)
{
    if (!op || !op->name || !op->forward || op->n_out < 1 || op->n_out > AG_MAX_OP_OUTPUTS)
        return AGI_FAIL(AG_ERR_ARG, "apply: op is NULL or malformed"), NULL;
    if (n_in < 0 || n_in > AG_MAX_OP_INPUTS || (op->n_in && n_in != op->n_in))
        return AGI_FAIL(AG_ERR_ARG, "%s: expects %d inputs, got %d", op->name, op->n_in, n_in),
               NULL;
    if (n_in > 0 && !in)
        return AGI_FAIL(AG_ERR_ARG, "%s: the inputs array is NULL", op->name), NULL;
    bool any_grad = false;
    for (int i = 0; i < n_in; i++) {
        if (!agi_check_live(in[i], op->name, i) || !agi_dense(in[i]))
            return NULL;
        any_grad |= in[i]->requires_grad;
    }
    agi_tape *tp = agi_tape_get();
    bool recording = any_grad && !tp->no_grad;
    size_t size = NODE_SIZE((size_t)(n_in + op->n_out));
    _Alignas(16) char local[NODE_SIZE(AG_MAX_OP_INPUTS + AG_MAX_OP_OUTPUTS)];
    agi_node *nd = recording ? agi_arena_alloc16(&tp->arena, size) : (agi_node *)local;
    if (!nd)
        return NULL;
    if (recording && attrs_size) {
        void *a = agi_arena_alloc16(&tp->arena, attrs_size);
        if (!a)
            return NULL;
        memcpy(a, attrs, attrs_size);
        attrs = a;
    }
    node_init(nd, op, in, n_in, attrs_size ? attrs : NULL, recording);
    if (!recording) /* a recorded output must be a tensor of its own, never a leaf's .grad */
        nd->dest = dest;
    if (!run_forward(tp, nd, in) || (recording && !record(tp, nd, in)))
        return NULL;
    if (out)
        for (int k = 0; k < op->n_out; k++)
            out[k] = nd->out[k];
    return nd->out[0];
}

ag_tensor *ag_apply(const ag_op *op, ag_tensor *const *in, int n_in, const void *attrs,
                    size_t attrs_size, ag_tensor **out)
{
    return apply(op, in, n_in, attrs, attrs_size, out, NULL);
}

ag_tensor *agi_apply_into(ag_tensor *dest, const ag_op *op, ag_tensor *const *in, int n_in,
                          const void *attrs, size_t attrs_size)
{
    return apply(op, in, n_in, attrs, attrs_size, NULL, dest);
}

ag_tensor *agi_out(ag_ctx *ctx, ag_shape s)
{
    agi_node *nd = (agi_node *)ctx;
    ag_tensor *d = nd->dest;
    nd->dest = NULL;
    if (d && d->shape.ndim == s.ndim) {
        bool same = true;
        for (int i = 0; i < s.ndim; i++)
            same &= d->shape.d[i] == s.d[i];
        if (same)
            return d;
    }
    return ag_empty(s);
}

/* The ctx accessors are called by op code with the ctx the engine passed; a NULL one is
 * reported ("ctx_save: ctx is NULL") instead of dereferenced. */
static bool ctx_ok(const ag_ctx *ctx, const char *fn)
{
    if (ctx)
        return true;
    AGI_FAIL(AG_ERR_ARG, "%s: ctx is NULL", fn);
    return false;
}

const void *ag_ctx_attrs(const ag_ctx *ctx)
{
    return ctx_ok(ctx, "ctx_attrs") ? ((const agi_node *)ctx)->attrs : NULL;
}

int ag_ctx_n_in(const ag_ctx *ctx)
{
    return ctx_ok(ctx, "ctx_n_in") ? ((const agi_node *)ctx)->n_in : 0;
}

ag_tensor *ag_ctx_input(const ag_ctx *ctx, int i)
{
    const agi_node *nd = (const agi_node *)ctx;
    return ctx_ok(ctx, "ctx_input") && i >= 0 && i < nd->n_in ? nd->in[i] : NULL;
}

ag_tensor *ag_ctx_output(const ag_ctx *ctx, int k)
{
    const agi_node *nd = (const agi_node *)ctx;
    return ctx_ok(ctx, "ctx_output") && k >= 0 && k < nd->n_out ? nd->out[k] : NULL;
}

bool ag_ctx_needs_grad(const ag_ctx *ctx, int i)
{
    const agi_node *nd = (const agi_node *)ctx;
    return ctx_ok(ctx, "ctx_needs_grad") && i >= 0 && i < nd->n_in && nd->in[i]->requires_grad;
}

void ag_ctx_save(ag_ctx *ctx, ag_tensor *t)
{
    agi_node *nd = (agi_node *)ctx;
    if (!ctx_ok(ctx, "ctx_save") || !nd->recording || !t)
        return;
    if (nd->n_saved >= AGI_MAX_SAVED) {
        AGI_FAIL(AG_ERR_ARG, "%s: saves more than %d tensors", nd->op->name, AGI_MAX_SAVED);
        return;
    }
    nd->saved[nd->n_saved] = t;
    nd->saved_ver[nd->n_saved++] = t->version;
}

ag_tensor *ag_ctx_saved(const ag_ctx *ctx, int i)
{
    const agi_node *nd = (const agi_node *)ctx;
    if (!ctx_ok(ctx, "ctx_saved"))
        return NULL;
    if (i < 0 || i >= nd->n_saved)
        return AGI_FAIL(AG_ERR_ARG, "%s: no saved tensor %d", nd->op->name, i), NULL;
    if (nd->saved[i]->version != nd->saved_ver[i])
        return AGI_FAIL(AG_ERR_STATE,
                        "%s: a tensor saved for backward was modified in place since "
                        "(version %u, saved at %u)",
                        nd->op->name, nd->saved[i]->version, nd->saved_ver[i]),
               NULL;
    return nd->saved[i];
}

void *ag_ctx_alloc(ag_ctx *ctx, size_t size)
{
    return ctx_ok(ctx, "ctx_alloc") ? agi_arena_alloc(&agi_tape_get()->arena, size) : NULL;
}

void ag_ctx_mark_non_differentiable(ag_ctx *ctx, int k)
{
    agi_node *nd = (agi_node *)ctx;
    if (ctx_ok(ctx, "ctx_mark_non_differentiable") && k >= 0 && k < nd->n_out)
        nd->nondiff |= (uint8_t)(1u << k);
}

ag_tensor *ag_detach(ag_tensor *t)
{
    if (!agi_check_live(t, "detach", 0))
        return NULL;
    return agi_tape_view(t, t->shape);
}
