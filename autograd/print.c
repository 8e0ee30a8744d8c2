/* print.c — PyTorch's tensor printing: tensor([[4.3000, 0.0000]]).
 *
 * Follows torch/_tensor_str.py: integer-valued data prints as "4.", otherwise 4 decimals,
 * switching to scientific notation when the magnitudes span more than 1000x or leave
 * [1e-4, 1e8); rows wrap at 80 columns and tensors over 1000 elements are summarised with
 * 3 edge items. */
#include "autograd_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

typedef struct out {
    char *buf;
    size_t size, len;
} out;

static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->size ? o->size - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

typedef struct fmt {
    bool int_mode, sci;
    int width;
} fmt;

static int format_value(char *b, size_t n, double v, const fmt *f)
{
    if (isnan(v))
        return snprintf(b, n, "nan");
    if (isinf(v))
        return snprintf(b, n, v > 0 ? "inf" : "-inf");
    if (f->sci)
        return snprintf(b, n, "%.4e", v);
    if (f->int_mode)
        return snprintf(b, n, "%.0f.", v);
    return snprintf(b, n, "%.4f", v);
}

static bool shown(size_t i, int64_t dim, bool summarize)
{
    return !summarize || dim <= 6 || (int64_t)i < 3 || (int64_t)i >= dim - 3;
}

static fmt choose_format(const ag_tensor *t, bool summarize)
{
    fmt f = { true, false, 1 };
    double lo = INFINITY, hi = 0;
    bool any = false;
    for (size_t i = 0; i < t->numel; i++) {
        double v = t->data[i];
        if (!isfinite(v))
            continue;
        if (v != ceil(v))
            f.int_mode = false;
        double a = fabs(v);
        if (a > 0) {
            lo = a < lo ? a : lo;
            hi = a > hi ? a : hi;
            any = true;
        }
    }
    if (any) {
        if (f.int_mode)
            f.sci = hi / lo > 1000.0 || hi > 1e8;
        else
            f.sci = hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4;
    }
    char b[64];
    (void)summarize;
    for (size_t i = 0; i < t->numel; i++) { /* nan and inf do not widen (PyTorch's rule) */
        if (!isfinite(t->data[i]))
            continue;
        int n = format_value(b, sizeof b, t->data[i], &f);
        f.width = n > f.width ? n : f.width;
    }
    return f;
}

/* Prints dims [d, ndim) of the block starting at flat offset `off`; `indent` is the column
 * where this block's '[' stands. */
static void print_block(out *o, const ag_tensor *t, int d, size_t off, int indent,
                        const fmt *f, bool summarize)
{
    int nd = t->shape.ndim;
    int64_t n = t->shape.d[d];
    size_t stride = 1;
    for (int k = d + 1; k < nd; k++)
        stride *= (size_t)t->shape.d[k];
    put(o, "[");
    if (d == nd - 1) {
        int per_line = (80 - indent - 1) / (f->width + 2);
        per_line = per_line < 1 ? 1 : per_line;
        int col = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!shown((size_t)i, n, summarize)) {
                if (i == 3)
                    put(o, col++ ? "  ...," : " ...,");
                continue;
            }
            if (col == per_line) {
                put(o, "\n%*s", indent + 1, "");
                col = 0;
            } else if (col) {
                put(o, " ");
            }
            char b[64];
            format_value(b, sizeof b, t->data[off + (size_t)i], f);
            put(o, "%*s%s", f->width, b, i + 1 < n ? "," : "");
            col++;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            if (!shown((size_t)i, n, summarize)) {
                if (i == 3)
                    put(o, "...,\n%*s", indent + 1, "");
                continue;
            }
            print_block(o, t, d + 1, off + (size_t)i * stride, indent + 1, f, summarize);
            if (i + 1 < n) {
                put(o, ",");
                for (int k = 0; k < nd - d - 1; k++)
                    put(o, "\n");
                put(o, "%*s", indent + 1, "");
            }
        }
    }
    put(o, "]");
}

int ag_snprint(char *buf, size_t size, const ag_tensor *t)
{
    if (!buf && size)
        return ag_fail(AG_ERR_ARG, "print: buffer is NULL but size is %zu", size), 0;
    out o = { buf, size, 0 };
    if (size)
        buf[0] = 0;
    if (!agi_check_live(t, "print", 0))
        return 0;
    bool summarize = t->numel > 1000;
    fmt f = choose_format(t, summarize);
    put(&o, "tensor(");
    if (t->shape.ndim == 0) {
        char b[64];
        format_value(b, sizeof b, t->data[0], &f);
        put(&o, "%s", b);
    } else if (t->numel == 0) {
        put(&o, "[]");
        if (t->shape.ndim > 1) {
            put(&o, ", size=(");
            for (int i = 0; i < t->shape.ndim; i++)
                put(&o, i ? ", %" PRId64 : "%" PRId64, t->shape.d[i]);
            put(&o, ")");
        }
    } else {
        print_block(&o, t, 0, 0, 7, &f, summarize);
    }
    if (t->node)
        put(&o, ", grad_fn=<%s>", t->node->op->name);
    else if (t->requires_grad)
        put(&o, ", requires_grad=True");
    put(&o, ")");
    return (int)o.len;
}

void ag_fprint(FILE *f, const ag_tensor *t)
{
    if (!f) {
        ag_fail(AG_ERR_ARG, "print: FILE is NULL");
        return;
    }
    if (!agi_check_live(t, "print", 0))
        return; /* nothing printed, the error is pending */
    char small[1024];
    int n = ag_snprint(small, sizeof small, t);
    if (n < (int)sizeof small) {
        fprintf(f, "%s\n", small);
        return;
    }
    char *big = agi_alloc((size_t)n + 1);
    if (!big)
        return;
    ag_snprint(big, (size_t)n + 1, t);
    fprintf(f, "%s\n", big);
    agi_release(big);
}

void ag_print(const ag_tensor *t) { ag_fprint(stdout, t); }
