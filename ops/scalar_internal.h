/* scalar_internal.h — the fast path of elementwise ops on 0-d tensors (scalar.c). Not API. */
#ifndef AG_SCALAR_INTERNAL_H
#define AG_SCALAR_INTERNAL_H

#include "ops_internal.h"

/* The ops with a scalar rule (agi_node.scalar; 0 is "none"). */
enum agi_scalar_rule {
    AGI_S_ADD = 1,
    AGI_S_SUB,
    AGI_S_MUL,
    AGI_S_DIV,
    AGI_S_AFFINE, /* attrs: agi_affine_attrs */
    AGI_S_POW,    /* attrs: the exponent, a double */
    AGI_S_EXP,
    AGI_S_LOG,
    AGI_S_TANH,
    AGI_S_SIGMOID,
    AGI_S_RELU,
    AGI_S_COUNT
};

/* y = alpha * x + beta, or y = x / alpha (binary.c's affine op). */
typedef struct agi_affine_attrs {
    double alpha, beta;
    bool divide; /* y = x / alpha, exactly as PyTorch divides (no reciprocal) */
} agi_affine_attrs;

/* ag_apply of the elementwise op `op` on x (on a and b), through the scalar path with `rule`
 * when every input is a live 0-d tensor and nothing (a pending error, anomaly mode) calls for
 * the general one. Either way the result is the same tensor, value and recorded node. */
ag_tensor *agi_elementwise1(const ag_op *op, enum agi_scalar_rule rule, ag_tensor *x,
                            const void *attrs, size_t attrs_size);
ag_tensor *agi_elementwise2(const ag_op *op, enum agi_scalar_rule rule, ag_tensor *a,
                            ag_tensor *b);

#endif
