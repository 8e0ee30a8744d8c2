/* fuzz_shapes.c — libFuzzer harness for shapes: the input is a little program that makes
 * tensors of fuzzer-chosen shapes and runs shape-sensitive ops on them (zeros, from, arange,
 * linspace, reshape, transpose, sum_dims, sum_to, expand, matmul, linear, add, softmax,
 * backward). Dimensions come from a table of hostile values (negative, zero, 2^31, 2^32,
 * 2^62, INT64_MAX, ...) or are small; ndim ranges over -1..9. The library must answer every
 * impossible request with an error and never crash, overflow or trip a sanitizer.
 *
 * An allocation hook refuses any single request over 64 MiB and keeps the live total under
 * 256 MiB, so an element count that overflows to something merely large is refused as
 * memory, not allowed to exhaust the machine; products too expensive to compute quickly are
 * skipped (a harness limit on time, not a check of the library's). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agrad.h"

#define MAX_ONE ((size_t)64 << 20)
#define MAX_LIVE ((size_t)256 << 20)
#define MAX_WORK ((double)(1 << 26))
#define STACK 16

/* --- the capped allocator: a 16-byte header holds each block's size ------------------ */

static size_t live;

static void *capped_alloc(size_t size, void *user)
{
    (void)user;
    if (size > MAX_ONE || live + size > MAX_LIVE)
        return NULL;
    size_t *p = malloc(size + 16);
    if (!p)
        return NULL;
    p[0] = size;
    live += size;
    return (char *)p + 16;
}

static void capped_release(void *q, void *user)
{
    (void)user;
    size_t *p = (size_t *)((char *)q - 16);
    live -= p[0];
    free(p);
}

/* Installed before the library allocates anything, so that every block has a header. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    ag_set_allocator(&(ag_allocator){ capped_alloc, capped_release, NULL });
    return 0;
}

/* --- reading the program ------------------------------------------------------------- */

typedef struct prog {
    const uint8_t *p;
    size_t n;
} prog;

static uint8_t byte(prog *s)
{
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

/* A dimension: a hostile value from the table, or a small one. */
static int64_t dim(prog *s)
{
    static const int64_t table[] = { 0, -1, -2, INT64_MIN, INT64_MAX, (int64_t)1 << 31,
                                     ((int64_t)1 << 31) - 1, (int64_t)1 << 32,
                                     ((int64_t)1 << 32) + 1, (int64_t)1 << 62,
                                     (int64_t)1 << 40, 65536, 1 << 20, 3037000500LL };
    const int nt = (int)(sizeof table / sizeof table[0]);
    uint8_t b = byte(s);
    return b < nt ? table[b] : (b - nt) % 9;
}

/* A shape of -1..9 dims (the library must refuse those outside 0..8 by ndim alone). */
static ag_shape shape(prog *s)
{
    ag_shape sh = { .ndim = (int)(byte(s) % 11) - 1 };
    for (int i = 0; i < sh.ndim && i < AG_MAX_DIMS; i++)
        sh.d[i] = dim(s);
    return sh;
}

static int small_int(prog *s) { return (int8_t)byte(s); }

/* --- the tensor stack ---------------------------------------------------------------- */

typedef struct stack {
    ag_tensor *t[STACK];
    bool heap[STACK];
    int n;
} stack;

static void push(stack *st, ag_tensor *t, bool heap)
{
    if (!t)
        return;
    if (st->n == STACK) {
        if (heap)
            ag_free(t);
        return;
    }
    st->t[st->n] = t;
    st->heap[st->n++] = heap;
}

/* The k-th tensor from the top (wrapping), or NULL on an empty stack. */
static ag_tensor *peek(const stack *st, int k) { return st->n ? st->t[st->n - 1 - k % st->n] : NULL; }

/* A bound on the work of a product of a and b: the product of every dim of both, a zero dim
 * counted as 1 (matmul walks the batch of an empty product: reported, see README.md). */
static double work(const ag_tensor *a, const ag_tensor *b)
{
    double w = 1;
    for (int k = 0; a && b && k < 2; k++) {
        ag_shape s = ag_shape_of(k ? b : a);
        for (int i = 0; i < s.ndim; i++)
            w *= s.d[i] ? (double)s.d[i] : 1;
    }
    return w;
}

/* --- the ops ------------------------------------------------------------------------- */

static ag_real values[4096];

static void make_op(prog *s, stack *st, int op)
{
    switch (op) {
    case 0:
        push(st, ag_set_requires_grad(ag_zeros(shape(s)), byte(s) & 1), true);
        break;
    case 1: {
        size_t n = byte(s) * 16u;
        push(st, ag_from(values, n, shape(s)), true);
        break;
    }
    case 2: {
        static const double v[] = { 0, 1, -1, 0.5, 1e9, -1e18, 1e300, 1.0 / 0.0, 0.0 / 0.0 };
        const int nv = (int)(sizeof v / sizeof v[0]);
        push(st, ag_arange(v[byte(s) % nv], v[byte(s) % nv], v[byte(s) % nv]), true);
        break;
    }
    case 3:
        push(st, ag_linspace(0, 1, dim(s)), true);
        break;
    }
}

static void shape_op(prog *s, stack *st, int op)
{
    ag_tensor *a = peek(st, 0), *b = peek(st, byte(s));
    int dims[10];
    switch (op) {
    case 4:
        push(st, ag_reshape(a, shape(s)), false);
        break;
    case 5:
        push(st, ag_transpose(a, small_int(s), small_int(s)), false);
        break;
    case 6: {
        int n = byte(s) % 10;
        for (int i = 0; i < n; i++)
            dims[i] = small_int(s);
        push(st, ag_sum_dims(a, dims, n, byte(s) & 1), false);
        break;
    }
    case 7:
        push(st, ag_expand(a, shape(s)), false);
        break;
    case 8:
        push(st, ag_sum_to(a, shape(s)), false);
        break;
    case 9:
        if (work(a, b) < MAX_WORK)
            push(st, ag_matmul(a, b), false);
        break;
    case 10:
        if (work(a, b) < MAX_WORK)
            push(st, ag_linear(a, b, byte(s) & 1 ? peek(st, byte(s)) : NULL), false);
        break;
    case 11:
        push(st, ag_add(a, b), false);
        break;
    case 12:
        push(st, ag_softmax(a, small_int(s)), false);
        break;
    case 13:
        ag_backward(ag_sum(a));
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    prog s = { data, size };
    stack st = { .n = 0 };
    while (s.n) {
        int op = byte(&s) % 14;
        if (op < 4)
            make_op(&s, &st, op);
        else
            shape_op(&s, &st, op);
        ag_clear_error();
    }
    for (int i = 0; i < st.n; i++)
        if (st.heap[i])
            ag_free(st.t[i]);
    ag_clear_error();
    ag_step_end();
    return 0;
}
