/* idx.c — a dataset from MNIST's IDX files (http://yann.lecun.com/exdb/mnist/ describes the
 * format): a 4-byte magic number (two zero bytes, the data type, the number of dims), the
 * dims as big-endian 32-bit numbers, then the data. Only unsigned bytes (type 0x08), what
 * MNIST and Fashion-MNIST ship, are read. Each file is read whole (through zlib, so gzipped
 * or not) and checked before anything is converted. */
#include "data_internal.h"

#include <string.h>

#define IDX_UBYTE 0x08

/* One file: its bytes, dims and where the data starts. */
typedef struct idx_file {
    const char *path;
    unsigned char *buf;
    size_t len;
    int ndim;
    int64_t d[AG_MAX_DIMS];
    const unsigned char *data;
} idx_file;

/* The big-endian 32-bit number at p. */
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks that the file holds `need` bytes exactly. */
static ag_status check_length(const idx_file *f, size_t need)
{
    if (f->len < need)
        return ag_fail(AG_ERR_FORMAT, "idx: %s: truncated at byte %zu (expected %zu bytes)",
                       f->path, f->len, need);
    if (f->len > need)
        return ag_fail(AG_ERR_FORMAT, "idx: %s: %zu bytes past the end of the data (expected "
                       "%zu bytes)", f->path, f->len - need, need);
    return AG_OK;
}

/* The error for a file that ends inside its header. */
static ag_status header_cut(const idx_file *f)
{
    return ag_fail(AG_ERR_FORMAT, "idx: %s: truncated at byte %zu (in the header)", f->path,
                   f->len);
}

/* Checks the magic number (unsigned bytes, ndim in [lo, hi]), then the dims and the length,
 * and fills in f's dims and data. `what` says what was expected. */
static ag_status parse_header(idx_file *f, int lo, int hi, const char *what)
{
    if (f->len < 4)
        return header_cut(f);
    uint32_t magic = be32(f->buf);
    f->ndim = f->buf[3];
    if (f->buf[0] || f->buf[1] || f->ndim < lo || f->ndim > hi)
        return ag_fail(AG_ERR_FORMAT, "idx: %s: wrong magic number 0x%08x (expected %s)",
                       f->path, magic, what);
    if (f->buf[2] != IDX_UBYTE)
        return ag_fail(AG_ERR_FORMAT, "idx: %s: data type 0x%02x is not supported (only "
                       "unsigned bytes, 0x08)", f->path, f->buf[2]);
    size_t head = 4 + 4 * (size_t)f->ndim, count = 1;
    if (f->len < head)
        return header_cut(f);
    for (int k = 0; k < f->ndim; k++) {
        f->d[k] = be32(f->buf + 4 + 4 * k);
        if (f->d[k] && count > (SIZE_MAX - head) / (size_t)f->d[k])
            return ag_fail(AG_ERR_FORMAT, "idx: %s: the dims are too large", f->path);
        count *= (size_t)f->d[k];
    }
    f->data = f->buf + head;
    return check_length(f, head + count);
}

/* Reads and checks one file. */
static ag_status idx_load(idx_file *f, const char *path, int lo, int hi, const char *what)
{
    *f = (idx_file){ .path = path };
    if (agi_read_file(path, "idx", &f->buf, &f->len) != AG_OK)
        return ag_error();
    return parse_header(f, lo, hi, what);
}

/* The images as floats 0..255 with the labels beside them. */
static ag_dataset *combine(const idx_file *img, const idx_file *lab)
{
    if (img->d[0] != lab->d[0]) {
        ag_fail(AG_ERR_FORMAT, "idx: %s has %lld images but %s has %lld labels", img->path,
                (long long)img->d[0], lab->path, (long long)lab->d[0]);
        return NULL;
    }
    ag_shape sample = { .ndim = img->ndim - 1 };
    memcpy(sample.d, img->d + 1, (size_t)sample.ndim * sizeof sample.d[0]);
    ag_dataset *ds = agi_dataset_new((size_t)img->d[0], sample, "idx");
    if (!ds)
        return NULL;
    const unsigned char *pixels = img->data, *labels = lab->data;
    ag_real *x = ds->x->data; /* locals: byte pointers may alias anything */
    for (size_t i = 0, n = ds->x->numel; i < n; i++)
        x[i] = (ag_real)pixels[i];
    for (size_t i = 0; i < ds->n; i++)
        ds->y[i] = labels[i];
    return ds;
}

/* Reads both files, checks them and their agreement, and converts. */
ag_dataset *ag_dataset_read_idx(const char *images_path, const char *labels_path)
{
    idx_file img, lab = { 0 };
    ag_dataset *ds = NULL;
    if (idx_load(&img, images_path, 2, AG_MAX_DIMS, "0x00000802 to 0x00000808, images") ==
            AG_OK &&
        idx_load(&lab, labels_path, 1, 1, "0x00000801, labels") == AG_OK)
        ds = combine(&img, &lab);
    agi_release(img.buf);
    agi_release(lab.buf);
    return ds;
}
