/* autograd_internal.h — the engine's structures, for the library's own files only.
 * Users never include this; only autograd.h (and the headers beside it) is API. */
#ifndef AG_AUTOGRAD_INTERNAL_H
#define AG_AUTOGRAD_INTERNAL_H

#include "autograd.h"

#define AGI_ALIGN 64
#define AGI_MAX_SAVED 6

enum agi_kind { AGI_HEAP = 1, AGI_TAPE = 2 };

typedef struct agi_node agi_node;
typedef struct agi_tape agi_tape;

typedef struct agi_hook {
    ag_hook_fn fn;
    void *user;
    struct agi_hook *next;
} agi_hook;

/* The fields that ops and the backward sweep read on every scalar are together at the end, in
 * 64 bytes (float build), after the shape, which is rarely read past ndim. (Kept at the end:
 * a stale tape tensor's kind and gen then usually survive the reuse of its memory by the next
 * step's nodes, so that using it is reported as stale rather than freed.) */
struct ag_tensor {
    ag_shape shape;
    size_t numel;
    ag_tensor *grad;   /* heap leaves: .grad (heap, owned) */
    union {            /* one slot, so that the header (all a scalar costs) does not grow:
                        * a lazy gradient is always a tape tensor, which has no base */
        void *base;             /* heap: the block to release */
        const ag_tensor *mask;  /* uniform tensors: masked by it if set (agi_is_masked) */
    };
    ag_real *data;     /* numel values; 64-byte aligned unless the tensor is tiny */
    uint8_t kind;      /* AGI_HEAP or AGI_TAPE */
    bool requires_grad;
    bool grad_zero;    /* heap leaves: .grad is logically zero (zeroed lazily, see agi_grad) */
    bool uniform;      /* a gradient whose every element is data[0], the only one stored,
                        * or 0 where the mask is not > 0 (and version is the mask's) */
    uint32_t gen;      /* tape tensors: the step they belong to (unique across threads) */
    uint32_t version;  /* bumped by in-place changes */
    ag_real val;       /* one-element tensors: the value (data points here) */
    agi_node *node;    /* the op that made it (NULL for a leaf) */
    uint64_t sweep;    /* backward sweep in which gacc is valid */
    ag_tensor *gacc;   /* gradient accumulated during that sweep; NULL: it is gval */
    agi_hook *hooks;
    ag_real gval;      /* 0-d tensors: the gradient as a float, while the scalar path of
                        * backward needs no tensor for it (gacc NULL) */
};

/* A recorded op; also the op's ag_ctx. `in` and `out` point into the trailing slots, sized
 * for this op, and so do `saved` and `saved_ver` (room for AGI_MAX_SAVED after ag_apply's
 * slots; a node of the scalar path points `saved` at its own slots), which keeps the many
 * small nodes of scalar graphs small. */
struct agi_node {
    const ag_op *op;
    agi_node *prev;                      /* previous recorded node on the tape */
    const void *attrs;
    ag_tensor **in, **out;
    ag_tensor **saved;                   /* n_saved tensors saved for backward ... */
    uint32_t *saved_ver;                 /* ... and their versions when saved */
    uint8_t n_in, n_out, n_saved;
    uint8_t scalar;                      /* the scalar path's rule (ops/scalar.c), 0: none */
    bool recording;                      /* recorded on the tape (forward) */
    bool freed;                          /* released by a backward without retain_graph */
    uint8_t nondiff;                     /* bit k: output k is not differentiable */
    uint8_t lazy_dy;                     /* the lazy dy forms its backward reads (AGI_DY_*) */
    ag_tensor *dest;                     /* forward: where output 0 may be written (agi_out) */
    ag_tensor *slots[];                  /* n_in inputs, then n_out outputs */
};

/* The scalar path's backward (ops/scalar.c) for a node it recorded: the gradients
 * dx[0..n_in), as floats, for output gradient dy; false, and nothing done, if the general
 * backward would report an error instead (an input freed, a saved tensor modified). */
bool agi_scalar_grads(const agi_node *nd, ag_real dy, ag_real *dx);

typedef struct agi_chunk {
    struct agi_chunk *next;
    size_t size, used;
} agi_chunk;

typedef struct agi_arena {
    agi_chunk *head, *cur;
    size_t in_use;                       /* bytes handed out this step */
} agi_arena;

struct agi_tape {
    agi_arena arena;
    uint32_t gen;
    uint64_t sweep;
    agi_node *last;
    bool no_grad;                        /* zero-initialised: grad mode starts on */
    bool anomaly;
    bool registered;
    const char *in_backward;             /* the op whose backward is running, if any */
    size_t leaves_hint;                  /* leaves the previous backward sweep reached */
    agi_node *dest_node;                 /* the node whose backward may take a grad dest */
    ag_tensor *dest_leaf[AG_MAX_OP_INPUTS]; /* per input: the leaf whose .grad is offered */
    ag_status err;
    char msg[512];
};

/* Hot elementwise loops are compiled for AVX-512, AVX2+FMA and baseline x86-64, and the
 * loader picks the best the CPU has (an ifunc): a generic build still runs at SIMD width.
 * GCC only: clang 14 does not resolve calls to a target_clones function from another file;
 * and not under ThreadSanitizer, whose runtime is not ready when the ifunc resolvers run. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(__SANITIZE_THREAD__)
#define AGI_SIMD __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AGI_SIMD
#endif

/* The calling thread's tape (created on first use; never NULL). Inline: every op asks. */
extern _Thread_local agi_tape agi_tls_tape __attribute__((tls_model("initial-exec")));
agi_tape *agi_tape_init(void);
static inline agi_tape *agi_tape_get(void)
{
    return agi_tls_tape.registered ? &agi_tls_tape : agi_tape_init();
}

/* Library allocation through the user's hook. */
void *agi_alloc(size_t size);
void agi_release(void *p);

/* Bump allocation from an arena, 64-byte aligned (agi_arena_alloc), 16-byte aligned
 * (agi_arena_alloc16, for headers and nodes) or `align`-aligned (a power of two). NULL + OOM
 * error on failure. */
void *agi_arena_alloc(agi_arena *a, size_t size);
void *agi_arena_alloc_aligned(agi_arena *a, size_t size, size_t align);

/* The first usable byte of a chunk, 64-byte aligned. The chunk header is allocated with
 * AGI_ALIGN bytes of slack so that the aligned start always fits. */
static inline char *agi_chunk_base(agi_chunk *c)
{
    uintptr_t p = (uintptr_t)(c + 1);
    return (char *)((p + AGI_ALIGN - 1) & ~(uintptr_t)(AGI_ALIGN - 1));
}

/* Inline: the scalar path makes one allocation per op, and the common case (room in the
 * current chunk) is a handful of instructions. */
static inline void *agi_arena_alloc16(agi_arena *a, size_t size)
{
    agi_chunk *c = a->cur;
    if (c && size) {
        size_t off = (c->used + 15) & ~(size_t)15;
        if (off <= c->size && c->size - off >= size) {
            a->in_use += off + size - c->used;
            c->used = off + size;
            return agi_chunk_base(c) + off;
        }
    }
    return agi_arena_alloc_aligned(a, size, 16);
}
void agi_arena_reset(agi_arena *a);
void agi_arena_free(agi_arena *a);

/* A position on the tape to come back to: everything allocated or recorded after the mark is
 * dropped by the rewind (gradcheck's many evaluations use it to stay in constant memory). */
typedef struct agi_tape_mark {
    agi_chunk *cur;
    size_t used, in_use;
    agi_node *last;
} agi_tape_mark;
agi_tape_mark agi_tape_mark_get(void);
void agi_tape_rewind(agi_tape_mark m);

/* A tape tensor of shape s (data uninitialised). */
ag_tensor *agi_tape_tensor(ag_shape s);
/* A 0-d tape tensor holding v, recorded by no op. */
ag_tensor *agi_tape_scalar(ag_real v);
/* Makes t (tape memory of sizeof(ag_tensor)) such a tensor of generation gen. */
static inline void agi_init_scalar(ag_tensor *t, ag_real v, uint32_t gen)
{
    /* Field by field: as one compound literal GCC zeroes the struct with `rep stos`, whose
     * start-up on a 160-byte block took a fifth of a scalar op's time. */
    t->shape.ndim = 0;
    for (int i = 0; i < AG_MAX_DIMS; i++)
        t->shape.d[i] = 0;
    t->numel = 1;
    t->grad = NULL;
    t->base = NULL;
    t->data = &t->val;
    t->kind = AGI_TAPE;
    t->requires_grad = t->grad_zero = t->uniform = false;
    t->gen = gen;
    t->version = 0;
    t->val = v;
    t->node = NULL;
    t->sweep = 0;
    t->gacc = NULL;
    t->hooks = NULL;
    t->gval = 0;
}
/* A tape tensor that shares `data` with another (views: detach, reshape). */
ag_tensor *agi_tape_view(ag_tensor *src, ag_shape s);
/* A heap tensor of shape s (data uninitialised). */
ag_tensor *agi_heap_tensor(ag_shape s);

/* Is t usable now (not NULL, not from an ended step or another thread's tape)? Records an
 * error naming `op` and argument `i` if not. Inline: every op checks every input. */
bool agi_report_dead(const ag_tensor *t, const char *op, int i);
static inline bool agi_check_live(const ag_tensor *t, const char *op, int i)
{
    if (t && (t->kind == AGI_HEAP || (t->kind == AGI_TAPE && t->gen == agi_tape_get()->gen)))
        return true;
    return agi_report_dead(t, op, i);
}

/* Checked element count of a shape; false (and an error naming op) on negative dims or
 * overflow. */
bool agi_shape_ok(ag_shape s, const char *op, size_t *numel);

/* A one-line "op: message" error. */
#define AGI_FAIL(code, ...) ag_fail((code), __VA_ARGS__)

/* Inline accessors for hot loops inside the library. */
static inline ag_real *agi_data(const ag_tensor *t) { return t->data; }
static inline size_t agi_numel(const ag_tensor *t) { return t->numel; }

/* A leaf's .grad, made real: ag_zero_grad only marks the gradient as zero, and the memset
 * happens here, on first read, unless backward overwrote it first (then it never happens:
 * a zero_grad/backward loop writes each gradient once instead of zeroing and adding). */
static inline ag_tensor *agi_grad(ag_tensor *t)
{
    if (t->grad && t->grad_zero) {
        for (size_t i = 0; i < t->grad->numel; i++)
            t->grad->data[i] = 0;
        t->grad_zero = false;
    }
    return t->grad;
}

/* Gradient destinations. A backward pass normally writes each gradient to a fresh tape tensor
 * and copies the leaves' gradients into their .grad at the end. When a leaf's .grad is
 * logically zero (after zero_grad) and nothing has contributed to it yet, the engine offers
 * that buffer to the backward of the node that consumes the leaf: the op can write dx[i]
 * straight into it and the copy disappears (elementwise and cross-entropy steps spent a
 * quarter of their time on it). Because the .grad stays marked zero until the whole sweep
 * has succeeded, a failed sweep still leaves every gradient as it was.
 *
 * agi_grad_dest: inside ctx's backward, a tape tensor aliasing input i's .grad, or NULL
 * (none offered, already taken, or create_graph). Take it only to return it as dx[i].
 * agi_apply_into: ag_apply, whose forward may put output 0 in `dest` (NULL: as ag_apply).
 * agi_out: a forward's output 0 of shape s: the offered dest when its shape is s, else a
 * fresh tape tensor. */
ag_tensor *agi_grad_dest(ag_ctx *ctx, int i);
ag_tensor *agi_apply_into(ag_tensor *dest, const ag_op *op, ag_tensor *const *in, int n_in,
                          const void *attrs, size_t attrs_size);
ag_tensor *agi_out(ag_ctx *ctx, ag_shape s);

/* Uniform gradients. The gradient of a sum is its output's gradient, a single number,
 * broadcast to the input's shape: materialised, it is a pass writing the whole input's size
 * that the next backward then reads back (a tenth of an elementwise step). So in a backward
 * without create_graph, sum hands on a *uniform* tensor instead: the input's shape, but one
 * stored value. relu's backward of it is lazy too, a *masked* uniform tensor: element i is
 * v = data[0] where mask->data[i] > 0 and 0 elsewhere (mask: relu's output, saved on the
 * tape, which lives until the step ends), so that sum(relu(addcmul(c, a, b)))'s backward
 * never writes nor reads back relu's gradient. Neither form reaches code that reads the
 * elements: ag_apply makes every lazy input dense first, the sweep does so before any hook,
 * any accumulation, any backward that has not declared it reads that form, and before
 * handing gradients out; deposit fills .grad from the one value (and the mask). relu's
 * backward reads uniform dy, addcmul's reads both forms.
 *
 * agi_uniform: a uniform tensor of shape s holding g's single value (NULL and an error on OOM).
 * agi_masked: relu's backward of uniform g with output y, unmaterialised (a one-element one
 * is resolved at once: the scalar path reads data[0] as the value).
 * agi_mask_data: the mask's values of masked t, or NULL and an error if the mask was changed
 * in place since (what relu's backward would have reported, had it read it then).
 * agi_dense: makes t an ordinary tensor in place if it is lazy (false and an error on OOM or
 * a changed mask).
 * agi_relu_bwd_fill (ops/activation.c): o[i] = y[i] > 0 ? v : 0, relu's own kernel, so that a
 * filled masked tensor is bitwise relu's backward.
 * agi_ctx_takes_lazy_dy: called by a recorded op's forward: its backward handles dy in the
 * forms `forms` (AGI_DY_UNIFORM, AGI_DY_MASKED). */
enum { AGI_DY_UNIFORM = 1, AGI_DY_MASKED = 2 };
ag_tensor *agi_uniform(const ag_tensor *g, ag_shape s);
ag_tensor *agi_masked(const ag_tensor *g, const ag_tensor *y);
const ag_real *agi_mask_data(const ag_tensor *t);
bool agi_dense(ag_tensor *t);
void agi_relu_bwd_fill(ag_real *o, const ag_real *y, size_t n, ag_real v);
/* Read mask only through this: in a heap tensor the slot is its base. */
static inline bool agi_is_masked(const ag_tensor *t) { return t->uniform && t->mask; }
static inline void agi_ctx_takes_lazy_dy(ag_ctx *ctx, unsigned forms)
{
    ((agi_node *)ctx)->lazy_dy = (uint8_t)forms;
}

/* Is ctx's op being recorded (so that its backward may run)? A forward can skip keeping
 * what only backward needs when not. */
static inline bool agi_ctx_recording(const ag_ctx *ctx) { return ((const agi_node *)ctx)->recording; }

/* True if any value of t is NaN or Inf. */
bool agi_has_nonfinite(const ag_tensor *t);

#endif
