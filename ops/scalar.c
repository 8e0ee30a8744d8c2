/* scalar.c — the fast path of the elementwise ops on 0-d tensors.
 *
 * A graph of scalars (h = tanh(h * w + b), ten thousand times) spent nearly all its time in
 * machinery built for big tensors: broadcasting, kernel dispatch, a node with room for six
 * saved tensors beside a separate output tensor, and in backward a new tensor for every
 * gradient. Here an op whose inputs are all 0-d computes its value inline and records node and
 * output in one arena allocation. The node is an ordinary node of the op (the same ag_op, the
 * same saved tensors, its attrs), so the general backward still runs it whenever the scalar
 * one does not apply (create_graph, anomaly mode, hooks, a saved tensor modified in place):
 * backward.c decides, and otherwise calls agi_scalar_grads, which hands gradients on as floats.
 *
 * Each rule repeats its general op's float operations exactly (same operations, same order,
 * same operands), so both paths give bitwise the same values and gradients. */
#include "scalar_internal.h"

#include <string.h>
#include <tgmath.h>

#include "vmath.h"

/* What a rule reads: the inputs a and b (b unused by one-input ops), the output y, the output
 * gradient dy (backward only) and the op's attrs. */
typedef struct sargs {
    ag_real a, b, y, dy;
    const void *at;
} sargs;

/* Which tensors the general op saves for backward; the scalar node saves the same. */
enum { SAVE_NONE, SAVE_IN, SAVE_OUT };

typedef struct rule {
    ag_real (*fwd)(const sargs *s);
    void (*bwd)(const sargs *s, ag_real *dx); /* dx[0] (and dx[1]) */
    uint8_t save;
} rule;

/* ag_neg as the affine op computes it: a multiplication by -1, not a sign flip (the two differ
 * on a NaN's sign bit). */
static ag_real neg(ag_real v) { return (ag_real)-1 * v; }

/* a + b:  da = dy,  db = dy */
static ag_real add_f(const sargs *s) { return s->a + s->b; }
static void add_b(const sargs *s, ag_real *dx) { dx[0] = dx[1] = s->dy; }

/* a - b:  da = dy,  db = -dy */
static ag_real sub_f(const sargs *s) { return s->a - s->b; }
static void sub_b(const sargs *s, ag_real *dx)
{
    dx[0] = s->dy;
    dx[1] = neg(s->dy);
}

/* a * b:  da = dy * b,  db = dy * a */
static ag_real mul_f(const sargs *s) { return s->a * s->b; }
static void mul_b(const sargs *s, ag_real *dx)
{
    dx[0] = s->dy * s->b;
    dx[1] = s->dy * s->a;
}

/* a / b:  da = dy / b,  db = -((dy / b) * (a / b)) */
static ag_real div_f(const sargs *s) { return s->a / s->b; }
static void div_b(const sargs *s, ag_real *dx)
{
    ag_real dy_b = s->dy / s->b;
    dx[0] = dy_b;
    dx[1] = neg(dy_b * (s->a / s->b));
}

/* alpha * x + beta, or x / alpha:  dx = alpha * dy, or dy / alpha; the same cases as the
 * general op's loops, which test alpha and beta in double. */
static ag_real affine_f(const sargs *s)
{
    const agi_affine_attrs *at = s->at;
    ag_real al = (ag_real)at->alpha, be = (ag_real)at->beta;
    if (at->divide)
        return s->a / al;
    if (at->beta == 0)
        return al * s->a;
    if (at->alpha == 1)
        return s->a + be;
    return al * s->a + be;
}
static void affine_b(const sargs *s, ag_real *dx)
{
    const agi_affine_attrs *at = s->at;
    ag_real al = (ag_real)at->alpha;
    dx[0] = at->divide ? s->dy / al : at->alpha == 1 ? s->dy : al * s->dy;
}

/* x^p (x * x for p = 2):  dx = dy * (2 * x), or dy * (p * x^(p-1)); 0 * dy for p = 0 */
static ag_real pow_value(ag_real x, double p) { return p == 2 ? x * x : pow(x, (ag_real)p); }
static ag_real pow_f(const sargs *s) { return pow_value(s->a, *(const double *)s->at); }
static void pow_b(const sargs *s, ag_real *dx)
{
    double p = *(const double *)s->at;
    ag_real d = p == 2 ? (ag_real)2 * s->a : (ag_real)p * pow_value(s->a, p - 1);
    dx[0] = p == 0 ? (ag_real)0 * s->dy : s->dy * d;
}

/* e^x:  dx = dy * y */
static ag_real exp_f(const sargs *s) { return (ag_real)agi_exp(s->a); }
static void exp_b(const sargs *s, ag_real *dx) { dx[0] = s->dy * s->y; }

/* ln x:  dx = dy / x */
static ag_real log_f(const sargs *s) { return log(s->a); }
static void log_b(const sargs *s, ag_real *dx) { dx[0] = s->dy / s->a; }

/* tanh x:  dx = dy * (1 - y^2)  (activation.c's tanh_backward) */
static ag_real tanh_f(const sargs *s) { return (ag_real)agi_tanh(s->a); }
static void tanh_b(const sargs *s, ag_real *dx) { dx[0] = s->dy * (1 - s->y * s->y); }

/* sigmoid x:  dx = dy * y * (1 - y)  (sigmoid_backward) */
static ag_real sigmoid_f(const sargs *s) { return (ag_real)agi_sigmoid(s->a); }
static void sigmoid_b(const sargs *s, ag_real *dx) { dx[0] = s->dy * s->y * (1 - s->y); }

/* relu x = max(0, x), NaN passing through:  dx = dy where y > 0, else 0  (relu_backward) */
static ag_real relu_f(const sargs *s) { return s->a <= 0 ? 0 : s->a; }
static void relu_b(const sargs *s, ag_real *dx) { dx[0] = s->y > 0 ? s->dy : 0; }

static const rule RULES[AGI_S_COUNT] = {
    [AGI_S_ADD] = { add_f, add_b, SAVE_NONE },
    [AGI_S_SUB] = { sub_f, sub_b, SAVE_NONE },
    [AGI_S_MUL] = { mul_f, mul_b, SAVE_IN },
    [AGI_S_DIV] = { div_f, div_b, SAVE_IN },
    [AGI_S_AFFINE] = { affine_f, affine_b, SAVE_NONE },
    [AGI_S_POW] = { pow_f, pow_b, SAVE_IN },
    [AGI_S_EXP] = { exp_f, exp_b, SAVE_OUT },
    [AGI_S_LOG] = { log_f, log_b, SAVE_IN },
    [AGI_S_TANH] = { tanh_f, tanh_b, SAVE_OUT },
    [AGI_S_SIGMOID] = { sigmoid_f, sigmoid_b, SAVE_OUT },
    [AGI_S_RELU] = { relu_f, relu_b, SAVE_OUT },
};

/* Inline with the arity as a constant (always_inline: GCC would not otherwise), so that the
 * loops over inputs below unroll in each caller. */
#define SCALAR_INLINE static inline __attribute__((always_inline))

SCALAR_INLINE bool grads(const agi_node *nd, int n_in, ag_real dy, ag_real *dx)
{
    sargs s = { .dy = dy, .at = nd->attrs };
    ag_real *v[2] = { &s.a, &s.b };
    for (int i = 0; i < n_in; i++) {
        const ag_tensor *x = nd->in[i];
        if (x->kind != AGI_HEAP && x->kind != AGI_TAPE) /* ag_free'd */
            return false;
        *v[i] = x->data[0];
    }
    for (int i = 0; i < nd->n_saved; i++)
        if (nd->saved[i]->version != nd->saved_ver[i])
            return false;
    s.y = nd->out[0]->data[0];
    RULES[nd->scalar].bwd(&s, dx);
    return true;
}

bool agi_scalar_grads(const agi_node *nd, ag_real dy, ag_real *dx)
{
    return nd->n_in == 1 ? grads(nd, 1, dy, dx) : grads(nd, 2, dy, dx);
}

/* --- recording ----------------------------------------------------------------------------- */

/* Are in[0..n) live 0-d tensors, with no pending error or anomaly mode to send the op down
 * the general path (which reports the error, or checks the result)? */
SCALAR_INLINE bool scalar_inputs(const agi_tape *tp, ag_tensor *const *in, int n)
{
    if (tp->err != AG_OK || tp->anomaly)
        return false;
    for (int i = 0; i < n; i++) {
        const ag_tensor *t = in[i];
        if (!t || t->shape.ndim != 0 ||
            !(t->kind == AGI_HEAP || (t->kind == AGI_TAPE && t->gen == tp->gen)))
            return false;
    }
    return true;
}

static size_t align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

/* Records the node of `op` over in[0..n_in) with output value y: one arena block holding the
 * node with its slots, the saved versions, a copy of the attrs and the output tensor. */
SCALAR_INLINE ag_tensor *record(agi_tape *tp, const ag_op *op, enum agi_scalar_rule r,
                                ag_tensor *const *in, int n_in, const void *attrs,
                                size_t attrs_size, ag_real y)
{
    uint8_t save = RULES[r].save;
    int n_saved = save == SAVE_IN ? n_in : save == SAVE_OUT;
    size_t ver_at = sizeof(agi_node) + (size_t)(n_in + 1) * sizeof(ag_tensor *);
    size_t attrs_at = align_up(ver_at + (size_t)n_saved * sizeof(uint32_t), sizeof(double));
    size_t out_at = align_up(attrs_at + attrs_size, 16);
    char *p = agi_arena_alloc16(&tp->arena, out_at + sizeof(ag_tensor));
    if (!p)
        return NULL;
    agi_node *nd = (agi_node *)p;
    ag_tensor *t = (ag_tensor *)(p + out_at);
    *nd = (agi_node){ .op = op,
                      .prev = tp->last,
                      .attrs = attrs_size ? memcpy(p + attrs_at, attrs, attrs_size) : NULL,
                      .in = nd->slots,
                      .out = nd->slots + n_in,
                      .saved = save == SAVE_OUT ? nd->slots + n_in : nd->slots,
                      .saved_ver = (uint32_t *)(p + ver_at),
                      .n_in = (uint8_t)n_in,
                      .n_out = 1,
                      .n_saved = (uint8_t)n_saved,
                      .scalar = (uint8_t)r,
                      .recording = true };
    for (int i = 0; i < n_in; i++)
        nd->slots[i] = in[i];
    nd->slots[n_in] = t;
    agi_init_scalar(t, y, tp->gen);
    t->requires_grad = true;
    t->node = nd;
    for (int i = 0; i < n_saved; i++)
        nd->saved_ver[i] = nd->saved[i]->version;
    tp->last = nd;
    return t;
}

SCALAR_INLINE ag_tensor *elementwise(const ag_op *op, enum agi_scalar_rule rule,
                                     ag_tensor *const *in, int n, const void *attrs,
                                     size_t attrs_size)
{
    agi_tape *tp = agi_tape_get();
    if (!scalar_inputs(tp, in, n))
        return ag_apply(op, in, n, attrs, attrs_size, NULL);
    sargs s = { .a = in[0]->data[0], .b = n > 1 ? in[1]->data[0] : 0, .at = attrs };
    ag_real y = RULES[rule].fwd(&s);
    bool recording = !tp->no_grad && (in[0]->requires_grad || (n > 1 && in[1]->requires_grad));
    return recording ? record(tp, op, rule, in, n, attrs, attrs_size, y) : agi_tape_scalar(y);
}

ag_tensor *agi_elementwise1(const ag_op *op, enum agi_scalar_rule rule, ag_tensor *x,
                            const void *attrs, size_t attrs_size)
{
    return elementwise(op, rule, &x, 1, attrs, attrs_size);
}

ag_tensor *agi_elementwise2(const ag_op *op, enum agi_scalar_rule rule, ag_tensor *a,
                            ag_tensor *b)
{
    ag_tensor *in[2] = { a, b };
    return elementwise(op, rule, in, 2, NULL, 0);
}
