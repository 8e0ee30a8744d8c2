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

ag_tensor *ag_apply(const ag_op *op, ag_tensor *const *in, int n_in, const void *attrs,
                    size_t attrs_size, ag_tensor **out)
{
    if (!op || !op->forward || op->n_out < 1 || op->n_out > AG_MAX_OP_OUTPUTS)
        return AGI_FAIL(AG_ERR_ARG, "apply: op is NULL or malformed"), NULL;
    if (n_in < 0 || n_in > AG_MAX_OP_INPUTS || (op->n_in && n_in != op->n_in))
        return AGI_FAIL(AG_ERR_ARG, "%s: expects %d inputs, got %d", op->name, op->n_in, n_in),
               NULL;
    bool any_grad = false;
    for (int i = 0; i < n_in; i++) {
        if (!agi_check_live(in[i], op->name, i))
            return NULL;
        any_grad |= in[i]->requires_grad;
    }
    agi_tape *tp = agi_tape_get();
    agi_node *nd = agi_arena_alloc16(&tp->arena, sizeof(agi_node) + (size_t)(n_in + op->n_out) * sizeof(ag_tensor *));
    if (!nd)
        return NULL;
    nd->op = op;
    nd->prev = NULL;
    nd->attrs = NULL;
    nd->in = nd->slots;
    nd->out = nd->slots + n_in;
    nd->n_in = (uint8_t)n_in;
    nd->n_out = (uint8_t)op->n_out;
    nd->n_saved = 0;
    nd->recording = any_grad && !tp->no_grad;
    nd->freed = false;
    nd->nondiff = 0;
    for (int i = 0; i < n_in; i++)
        nd->in[i] = in[i];
    for (int k = 0; k < op->n_out; k++)
        nd->out[k] = NULL;
    if (attrs_size) {
        void *a = agi_arena_alloc16(&tp->arena, attrs_size);
        if (!a)
            return NULL;
        memcpy(a, attrs, attrs_size);
        nd->attrs = a;
    }

    bool prev_no_grad = tp->no_grad;
    tp->no_grad = true;
    ag_status st = op->forward((ag_ctx *)nd, in, nd->out);
    tp->no_grad = prev_no_grad;
    if (st == AG_OK && ag_error() != AG_OK)
        st = ag_error();
    for (int k = 0; st == AG_OK && k < op->n_out; k++)
        if (!nd->out[k])
            st = AGI_FAIL(AG_ERR_ARG, "%s: forward returned no output %d", op->name, k);
    if (st != AG_OK) {
        if (ag_error() == AG_OK)
            AGI_FAIL(st, "%s: forward failed", op->name);
        return NULL;
    }
    for (int k = 0; k < op->n_out; k++)
        if (!(nd->out[k] = adopt_output(nd->out[k], in, n_in)))
            return NULL;
    if (tp->anomaly && anomaly_in(op->name, nd->out, op->n_out))
        return NULL;

    if (nd->recording) {
        nd->prev = tp->last;
        tp->last = nd;
        for (int k = 0; k < op->n_out; k++) {
            if (nd->nondiff & (1u << k))
                continue;
            nd->out[k]->requires_grad = true;
            nd->out[k]->node = nd;
        }
    }
    if (out)
        for (int k = 0; k < op->n_out; k++)
            out[k] = nd->out[k];
    return nd->out[0];
}

const void *ag_ctx_attrs(const ag_ctx *ctx) { return ((const agi_node *)ctx)->attrs; }
int ag_ctx_n_in(const ag_ctx *ctx) { return ((const agi_node *)ctx)->n_in; }

ag_tensor *ag_ctx_input(const ag_ctx *ctx, int i)
{
    const agi_node *nd = (const agi_node *)ctx;
    return i >= 0 && i < nd->n_in ? nd->in[i] : NULL;
}

ag_tensor *ag_ctx_output(const ag_ctx *ctx, int k)
{
    const agi_node *nd = (const agi_node *)ctx;
    return k >= 0 && k < nd->n_out ? nd->out[k] : NULL;
}

bool ag_ctx_needs_grad(const ag_ctx *ctx, int i)
{
    const agi_node *nd = (const agi_node *)ctx;
    return i >= 0 && i < nd->n_in && nd->in[i]->requires_grad;
}

void ag_ctx_save(ag_ctx *ctx, ag_tensor *t)
{
    agi_node *nd = (agi_node *)ctx;
    if (!nd->recording || !t)
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
    (void)ctx;
    return agi_arena_alloc(&agi_tape_get()->arena, size);
}

void ag_ctx_mark_non_differentiable(ag_ctx *ctx, int k)
{
    agi_node *nd = (agi_node *)ctx;
    if (k >= 0 && k < nd->n_out)
        nd->nondiff |= (uint8_t)(1u << k);
}

ag_tensor *ag_detach(ag_tensor *t)
{
    if (!agi_check_live(t, "detach", 0))
        return NULL;
    return agi_tape_view(t, t->shape);
}
