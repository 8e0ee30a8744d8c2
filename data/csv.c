/* csv.c — a dataset from a CSV file of numbers, gzip-compressed or not: one sample a line,
 * one column the label. The file is read whole, its data lines counted, then parsed into the
 * dataset's storage directly; every error names the file, the line and the column. */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The text, the next unread line and its number; `line` is the number of the line that
 * next_line returned last. */
typedef struct csv_reader {
    const char *path;
    const char *p, *end;
    size_t next, line;
} csv_reader;

/* Spaces, tabs and the \r of \r\n line ends. */
static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Takes the next line [*b, *e) without its '\n'. False at the end of the text. */
static bool take_line(csv_reader *r, const char **b, const char **e)
{
    if (r->p >= r->end)
        return false;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    *b = r->p;
    *e = nl ? nl : r->end;
    r->p = nl ? nl + 1 : r->end;
    r->line = r->next++;
    return true;
}

/* Takes the next line that is not blank. */
static bool next_line(csv_reader *r, const char **b, const char **e)
{
    while (take_line(r, b, e)) {
        const char *c = *b;
        while (c < *e && is_blank(*c))
            c++;
        if (c < *e)
            return true;
    }
    return false;
}

/* Fields on the line: commas + 1. */
static size_t count_fields(const char *b, const char *e)
{
    size_t n = 1;
    for (; b < e; b++)
        n += *b == ',';
    return n;
}

/* Parses the field [b, e) (column col, 1-based in messages) as a finite number. */
static ag_status parse_field(const csv_reader *r, const char *b, const char *e, size_t col,
                             double *v)
{
    while (b < e && is_blank(*b))
        b++;
    while (e > b && is_blank(e[-1]))
        e--;
    if (b == e)
        return ag_fail(AG_ERR_FORMAT, "csv: %s: line %zu, column %zu: empty field", r->path,
                       r->line, col);
    char *stop;
    *v = strtod(b, &stop);
    int len = (int)(e - b < 40 ? e - b : 40);
    if (stop != e)
        return ag_fail(AG_ERR_FORMAT, "csv: %s: line %zu, column %zu: '%.*s' is not a number",
                       r->path, r->line, col, len, b);
    if (!isfinite(*v))
        return ag_fail(AG_ERR_FORMAT,
                       "csv: %s: line %zu, column %zu: '%.*s' is not a finite number",
                       r->path, r->line, col, len, b);
    return AG_OK;
}

/* Parses one data line of ncols fields into the features x and the label *y. */
static ag_status parse_line(const csv_reader *r, const char *b, const char *e, size_t ncols,
                            size_t label_col, ag_real *x, int64_t *y)
{
    size_t found = count_fields(b, e);
    if (found != ncols)
        return ag_fail(AG_ERR_FORMAT, "csv: %s: line %zu: expected %zu columns, found %zu",
                       r->path, r->line, ncols, found);
    for (size_t c = 0; c < ncols; c++) {
        const char *comma = memchr(b, ',', (size_t)(e - b));
        const char *fe = comma ? comma : e;
        double v = 0;
        ag_status st = parse_field(r, b, fe, c + 1, &v);
        if (st != AG_OK)
            return st;
        if (c != label_col)
            *x++ = (ag_real)v;
        else if (v != floor(v) || fabs(v) > 0x1p53)
            return ag_fail(AG_ERR_FORMAT,
                           "csv: %s: line %zu, column %zu: label %g is not a whole number",
                           r->path, r->line, c + 1, v);
        else
            *y = (int64_t)v;
        b = fe + 1;
    }
    return AG_OK;
}

/* The number of non-blank lines from the reader's position on. */
static size_t count_rows(csv_reader r)
{
    const char *b, *e;
    size_t n = 0;
    while (next_line(&r, &b, &e))
        n++;
    return n;
}

/* Resolves a label column (negative from the end) against ncols: false with an error if it
 * is out of range or if no feature column would be left. */
static bool resolve_label(const csv_reader *r, int label_column, size_t ncols, size_t *col)
{
    if (ncols < 2) {
        ag_fail(AG_ERR_FORMAT, "csv: %s: line %zu: a label and at least one feature need 2 "
                "columns, found %zu", r->path, r->line, ncols);
        return false;
    }
    long long c = label_column < 0 ? (long long)ncols + label_column : label_column;
    if (c < 0 || c >= (long long)ncols) {
        ag_fail(AG_ERR_ARG, "csv: %s: label column %d is out of range for %zu columns",
                r->path, label_column, ncols);
        return false;
    }
    *col = (size_t)c;
    return true;
}

/* Parses the data lines that follow the header. */
static ag_dataset *parse(csv_reader *r, int label_column)
{
    size_t rows = count_rows(*r), label_col;
    const char *b, *e;
    if (!next_line(r, &b, &e)) {
        ag_fail(AG_ERR_FORMAT, "csv: %s: no data lines", r->path);
        return NULL;
    }
    size_t ncols = count_fields(b, e);
    if (!resolve_label(r, label_column, ncols, &label_col))
        return NULL;
    ag_dataset *ds = agi_dataset_new(rows, AG_SHAPE((int64_t)ncols - 1), "csv");
    for (size_t i = 0; ds && i < rows; i++) {
        if (i > 0)
            next_line(r, &b, &e);
        if (parse_line(r, b, e, ncols, label_col, ds->x->data + i * (ncols - 1), ds->y + i) !=
            AG_OK) {
            ag_dataset_free(ds);
            ds = NULL;
        }
    }
    return ds;
}

/* Reads the file, skips the header and parses the rest. */
ag_dataset *ag_dataset_read_csv(const char *path, int label_column, bool has_header)
{
    unsigned char *text;
    size_t len;
    if (agi_read_file(path, "csv", &text, &len) != AG_OK)
        return NULL;
    if (len == 0) {
        agi_release(text);
        ag_fail(AG_ERR_FORMAT, "csv: %s: the file is empty", path);
        return NULL;
    }
    csv_reader r = { .path = path, .p = (const char *)text, .end = (const char *)text + len,
                     .next = 1 };
    const char *b, *e;
    if (has_header)
        take_line(&r, &b, &e);
    ag_dataset *ds = parse(&r, label_column);
    agi_release(text);
    return ds;
}
