/* autograd.h — tensors, the tape, the backward sweep, errors, the generator, and the
 * op-definition API that every built-in op and every user op goes through.
 *
 * Ownership, in one paragraph. A tensor made by a creation function (ag_from, ag_zeros,
 * ag_randn, ...) or by ag_clone lives on the heap and belongs to the caller, who frees it with
 * ag_free (NULL-safe). A tensor returned by an op (ag_add, ag_matmul, ...) belongs to the
 * calling thread's tape and lives until ag_step_end(), which frees every such tensor at once,
 * in O(1). Using one after that is reported as an error where it can be detected (a generation
 * counter), so keep what must outlive a step with ag_clone.
 *
 * Errors are sticky per thread (the cairo/OpenGL model): a failing call records a message that
 * names the op and the shapes and returns NULL (or a non-zero ag_status); ops given NULL return
 * NULL (keeping the first error's message; a NULL with no error pending is reported as "add:
 * argument 1 is NULL"); ag_backward and the optimizers' step refuse to run while an error is
 * pending. Nothing in the library aborts on bad input.
 *
 * Precision: ag_real is float. Compiling with AG_DOUBLE (pkg-config agrad64) makes it double
 * throughout, the build that gradcheck is meant to run in; see docs/design.md.
 */
#ifndef AG_AUTOGRAD_H
#define AG_AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef AG_DOUBLE
typedef double ag_real;
#else
typedef float ag_real;
#endif

#define AG_MAX_DIMS 8

/* A shape: ndim sizes, outermost first. ndim 0 is a scalar (one element). */
typedef struct ag_shape {
    int ndim;
    int64_t d[AG_MAX_DIMS];
} ag_shape;

/* AG_SHAPE(4, 1) is the shape [4, 1]; AG_SCALAR is the 0-d shape []. */
#define AG_SHAPE(...)                                                                    \
    ((ag_shape){ .ndim = (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)),   \
                 .d = { __VA_ARGS__ } })
#define AG_SCALAR ((ag_shape){ .ndim = 0 })

typedef struct ag_tensor ag_tensor;

/* ---------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------- */

typedef enum ag_status {
    AG_OK = 0,
    AG_ERR_ARG,     /* NULL or out-of-range argument */
    AG_ERR_SHAPE,   /* shapes that do not fit the op */
    AG_ERR_STATE,   /* misuse of the tape: backward twice, a tensor from an ended step, ... */
    AG_ERR_OOM,     /* an allocation failed */
    AG_ERR_NUMERIC, /* anomaly mode saw NaN or Inf */
    AG_ERR_IO,      /* a file could not be read or written */
    AG_ERR_FORMAT,  /* a file's contents are wrong */
    AG_ERR_UNSUPPORTED
} ag_status;

/* The calling thread's pending error code, AG_OK if none. */
ag_status ag_error(void);

/* The message of the first pending error ("matmul: shapes [2,3] and [4,5] do not match"),
 * or "" when there is none. The pointer is valid until the error is cleared. */
const char *ag_error_message(void);

/* Forgets the pending error so that work can go on. */
void ag_clear_error(void);

/* Records an error (printf-style message) unless one is already pending, and returns `code`.
 * For custom ops and user code that wants to report through the same channel. */
ag_status ag_fail(ag_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Formats a shape as "[2,3]" into buf (at least AG_SHAPE_STRLEN bytes) and returns buf. */
#define AG_SHAPE_STRLEN (AG_MAX_DIMS * 21 + 3)
char *ag_shape_str(ag_shape s, char *buf);

/* ---------------------------------------------------------------------------------------
 * Memory hooks
 * ------------------------------------------------------------------------------------- */

/* Every allocation of tensors, tape, modules, optimizers and checkpoints goes through these
 * (not the GEMM's per-thread packing scratch, freed at thread exit). Install before creating
 * any tensor;
 * passing NULLs restores the C library's functions. alloc returns NULL on failure. */
typedef struct ag_allocator {
    void *(*alloc)(size_t size, void *user);
    void (*release)(void *ptr, void *user);
    void *user;
} ag_allocator;
void ag_set_allocator(const ag_allocator *a);

/* ---------------------------------------------------------------------------------------
 * Tensors: creation (heap; the caller owns the result and frees it with ag_free)
 * ------------------------------------------------------------------------------------- */

/* A new tensor of shape `s` holding a copy of the n values at `src` (row-major).
 * NULL with an error if src is NULL, n differs from the shape's size, or memory runs out. */
ag_tensor *ag_from(const ag_real *src, size_t n, ag_shape s);

/* A 0-d tensor holding v. */
ag_tensor *ag_scalar(ag_real v);

/* Tensors filled with 0, 1, or v. */
ag_tensor *ag_zeros(ag_shape s);
ag_tensor *ag_ones(ag_shape s);
ag_tensor *ag_full(ag_shape s, ag_real v);

/* 1-d tensors: start, start+step, ... below end (PyTorch's arange), and `steps` evenly spaced
 * values from start to end inclusive (linspace). */
ag_tensor *ag_arange(double start, double end, double step);
ag_tensor *ag_linspace(double start, double end, int64_t steps);

/* Uniform in [0, 1) and standard normal, from the calling thread's generator. */
ag_tensor *ag_rand(ag_shape s);
ag_tensor *ag_randn(ag_shape s);

/* A new heap tensor with a copy of t's values; it does not require grad and has no history
 * (PyTorch's t.detach().clone()). Use it to keep a value past ag_step_end(). */
ag_tensor *ag_clone(const ag_tensor *t);

/* Frees a heap tensor and its gradient. NULL-safe; tape tensors are left to the tape. */
void ag_free(ag_tensor *t);

/* ---------------------------------------------------------------------------------------
 * Tensors: queries
 * ------------------------------------------------------------------------------------- */

int ag_ndim(const ag_tensor *t);
ag_shape ag_shape_of(const ag_tensor *t);
/* Size of dimension `dim` (negative counts from the end); -1 with an error if out of range. */
int64_t ag_size(const ag_tensor *t, int dim);
size_t ag_numel(const ag_tensor *t);
size_t ag_shape_numel(ag_shape s);

/* The tensor's values, row-major, 64-byte aligned. Writable for heap tensors (a write bumps
 * nothing: call ag_bump_version after changing a tensor that a live graph saved). */
ag_real *ag_data(ag_tensor *t);
const ag_real *ag_cdata(const ag_tensor *t);

/* The value of a one-element tensor; NaN with an error otherwise. */
double ag_item(const ag_tensor *t);

/* Marks a heap tensor as a leaf whose gradient backward accumulates into ag_grad(t).
 * Tape tensors cannot be made leaves (AG_ERR_ARG). Returns t. */
ag_tensor *ag_set_requires_grad(ag_tensor *t, bool on);
bool ag_requires_grad(const ag_tensor *t);
/* True for tensors without history: heap tensors, detached ones, and no-grad results. */
bool ag_is_leaf(const ag_tensor *t);

/* The accumulated gradient of a leaf (owned by the leaf), or NULL before any backward. */
ag_tensor *ag_grad(const ag_tensor *t);

/* Sets a leaf's gradient to zero in place (keeps the buffer: no malloc per step). */
void ag_zero_grad(ag_tensor *t);

/* Drops a leaf's gradient buffer: ag_grad returns NULL again (set_to_none). */
void ag_clear_grad(ag_tensor *t);

/* In-place changes to a leaf (an optimizer step) call this so that a graph that saved the old
 * values reports the change at backward instead of computing a wrong gradient. */
void ag_bump_version(ag_tensor *t);

/* Prints t as PyTorch does: tensor([[4.3000, 0.0000]]) with a trailing newline. */
void ag_print(const ag_tensor *t);
void ag_fprint(FILE *f, const ag_tensor *t);
/* The same text without the newline into buf; returns the length it needed (snprintf rule). */
int ag_snprint(char *buf, size_t size, const ag_tensor *t);

/* A list of parameters (leaves) with their names ("0.weight"), as a module lists them and an
 * optimizer takes them. The arrays belong to whoever made the list. */
typedef struct ag_params {
    int n;
    ag_tensor **tensors;
    const char **names;
} ag_params;

/* ---------------------------------------------------------------------------------------
 * The tape
 * ------------------------------------------------------------------------------------- */

/* Gradient mode of the calling thread: when off (no_grad), ops compute without recording.
 * ag_set_grad_enabled returns the previous mode so that scopes nest. */
bool ag_is_grad_enabled(void);
bool ag_set_grad_enabled(bool on);

/* AG_NO_GRAD { ... } runs the block with recording off (do not `return` or `break` out). */
#define AG_NO_GRAD                                                                         \
    for (bool ag_prev_ = ag_set_grad_enabled(false), ag_once_ = true; ag_once_;           \
         ag_once_ = false, ag_set_grad_enabled(ag_prev_))

typedef struct ag_backward_opts {
    const ag_tensor *grad_output; /* dL/d(out); NULL allowed only for one-element outputs */
    bool retain_graph;            /* keep the graph for another backward */
    bool create_graph;            /* record the backward pass itself (implies retain_graph) */
} ag_backward_opts;

/* Computes d(out)/d(leaf) for every leaf that requires grad and that out depends on, and
 * adds it into ag_grad(leaf). `out` must hold one element (else use ag_backward_ex with a
 * grad_output). Returns AG_OK or the error (also recorded); on error no gradient changes. */
ag_status ag_backward(ag_tensor *out);
ag_status ag_backward_ex(ag_tensor *out, ag_backward_opts opts);

/* torch.autograd.grad: the gradients of `out` with respect to inputs[0..n), written to
 * result[i] (tape tensors; NULL where out does not depend on inputs[i]). Leaves' .grad are
 * left alone. With create_graph the results are themselves differentiable. */
ag_status ag_grad_of(ag_tensor *out, int n, ag_tensor *const *inputs, ag_tensor **result,
                     ag_backward_opts opts);

/* A tape tensor sharing t's values with no history and no grad (PyTorch's detach). */
ag_tensor *ag_detach(ag_tensor *t);

/* Ends the current step: frees every tape tensor and node of the calling thread in O(1) and
 * keeps the memory for the next step. Leaves and their gradients are untouched. */
void ag_step_end(void);

/* Bytes the calling thread's tape holds (in use, reserved): for watching memory. */
void ag_tape_memory(size_t *in_use, size_t *reserved);

/* A gradient hook on a tensor, called during backward with the gradient flowing into it. It
 * may return a replacement (a tape tensor of the same shape) or NULL to keep the gradient. */
typedef ag_tensor *(*ag_hook_fn)(ag_tensor *grad, void *user);
ag_status ag_register_hook(ag_tensor *t, ag_hook_fn fn, void *user);

/* Anomaly mode: when on, the first op whose forward or backward produces NaN or Inf is
 * reported by name and shapes (AG_ERR_NUMERIC) and backward stops. */
void ag_set_detect_anomaly(bool on);

/* ---------------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------------- */

/* How many threads large kernels (GEMM, big elementwise loops) may use; default 1. Results
 * are bitwise the same for a given count. Small tensors never pay for threads. */
void ag_set_num_threads(int n);
int ag_get_num_threads(void);

/* ---------------------------------------------------------------------------------------
 * The generator (per thread)
 * ------------------------------------------------------------------------------------- */

/* Seeds the calling thread's generator (the default seed is 0). */
void ag_manual_seed(uint64_t seed);
/* The generator's full state, for checkpoints. */
typedef struct ag_rng_state {
    uint64_t s[4];
} ag_rng_state;
ag_rng_state ag_get_rng_state(void);
void ag_set_rng_state(ag_rng_state st);
/* One uniform double in [0, 1), and one standard normal, from the thread's generator. */
double ag_rand_uniform(void);
double ag_rand_normal(void);

/* ---------------------------------------------------------------------------------------
 * Defining ops (the API every built-in op uses; see docs/custom-ops.md)
 * ------------------------------------------------------------------------------------- */

#define AG_MAX_OP_INPUTS 8
#define AG_MAX_OP_OUTPUTS 4

typedef struct ag_ctx ag_ctx;

/* An op: forward computes out[0..n_out) from in[0..n_in) (recording is off inside it, so it
 * may call other ops); backward turns dy[k] = dL/d(out[k]) into dx[i] = dL/d(in[i]), written
 * with ops where possible so that create_graph can differentiate it again. Both return AG_OK
 * or an ag_status (use ag_fail for the message). dx[i] may be left NULL (no gradient); it
 * must have in[i]'s shape. */
typedef struct ag_op {
    const char *name;
    int n_in;  /* 1..AG_MAX_OP_INPUTS, or 0 for "as many as passed" */
    int n_out; /* 1..AG_MAX_OP_OUTPUTS */
    ag_status (*forward)(ag_ctx *ctx, ag_tensor *const *in, ag_tensor **out);
    ag_status (*backward)(ag_ctx *ctx, ag_tensor *const *dy, ag_tensor **dx);
    /* true if backward uses raw kernels: create_graph through it is an error, never a
     * silent zero (PyTorch's once_differentiable) */
    bool once_differentiable;
} ag_op;

/* Runs op on in[0..n_in) with attrs (copied; read back with ag_ctx_attrs) and records it on
 * the tape when grad mode is on and an input requires grad. Returns out[0] (all outputs in
 * `out` if non-NULL), or NULL with the error recorded. NULL inputs give NULL. */
ag_tensor *ag_apply(const ag_op *op, ag_tensor *const *in, int n_in, const void *attrs,
                    size_t attrs_size, ag_tensor **out);

/* Inside forward/backward. */
const void *ag_ctx_attrs(const ag_ctx *ctx);
int ag_ctx_n_in(const ag_ctx *ctx);
ag_tensor *ag_ctx_input(const ag_ctx *ctx, int i);      /* the forward's inputs */
ag_tensor *ag_ctx_output(const ag_ctx *ctx, int k);     /* the forward's outputs (backward) */
bool ag_ctx_needs_grad(const ag_ctx *ctx, int i);        /* does input i want a gradient */
/* Keeps a tensor for backward; a later in-place change to it is reported at backward. */
void ag_ctx_save(ag_ctx *ctx, ag_tensor *t);
/* The i-th saved tensor, or NULL with an error if it was changed in place since. */
ag_tensor *ag_ctx_saved(const ag_ctx *ctx, int i);
/* Scratch memory that lives as long as the node (e.g. arg-max indices); 64-byte aligned. */
void *ag_ctx_alloc(ag_ctx *ctx, size_t size);
/* Output k gets no gradient and does not require grad (an index, a mask). */
void ag_ctx_mark_non_differentiable(ag_ctx *ctx, int k);

/* A new uninitialised / zero tape tensor, for an op's outputs and scratch. */
ag_tensor *ag_empty(ag_shape s);
ag_tensor *ag_zeros_tape(ag_shape s);

/* ---------------------------------------------------------------------------------------
 * Checking gradients
 * ------------------------------------------------------------------------------------- */

/* A function of n inputs to one output, for gradcheck; `user` is passed through. */
typedef ag_tensor *(*ag_fn)(ag_tensor *const *in, int n, void *user);

typedef struct ag_gradcheck_opts {
    double eps;  /* finite-difference step (default 1e-6 in double, 1e-3 in float) */
    double atol; /* default 1e-5 */
    double rtol; /* default 1e-3 */
    bool quiet;  /* do not print the worst element on failure */
} ag_gradcheck_opts;

typedef struct ag_gradcheck_report {
    bool ok;
    int input;        /* where the worst element is: which input, */
    size_t index;     /* which flat index, */
    int out_index;    /* which output element was probed (-1: a random projection) */
    double analytic;  /* and the two values */
    double numeric;
    double max_err;   /* worst |analytic - numeric| - (atol + rtol*|numeric|) */
} ag_gradcheck_report;

/* Compares the vector-Jacobian products of fn at inputs (heap tensors; those that require
 * grad are checked) against central finite differences. Returns true if they agree. */
bool ag_gradcheck(ag_fn fn, ag_tensor *const *inputs, int n, void *user,
                  ag_gradcheck_opts opts, ag_gradcheck_report *report);

/* The same for second derivatives: differentiates the vector-Jacobian product again
 * (create_graph) and checks it against finite differences of the first derivative. */
bool ag_gradgradcheck(ag_fn fn, ag_tensor *const *inputs, int n, void *user,
                      ag_gradcheck_opts opts, ag_gradcheck_report *report);

/* ---------------------------------------------------------------------------------------
 * Pictures of the graph
 * ------------------------------------------------------------------------------------- */

/* Writes the graph recorded for `root` (a live tensor, normally the loss) as Graphviz DOT, as
 * torchviz's make_dot draws it: a grey box per op labelled with its name, a box per leaf with
 * its shape (light blue if it requires grad, white for data and constants), the root in
 * green, edges from producer to consumer. With `names` (e.g. ag_parameters(model); may be
 * NULL) a leaf in the list is labelled with its name ("0.weight"). The output depends only on
 * the graph. Render it with `dot -Tsvg graph.dot -o graph.svg`. AG_ERR_IO if writing fails. */
ag_status ag_export_dot(const ag_tensor *root, const ag_params *names, FILE *f);
/* The same into a new file at `path` (replaced if it exists). */
ag_status ag_export_dot_file(const ag_tensor *root, const ag_params *names, const char *path);

#ifdef __cplusplus
}
#endif
#endif
