/* test_data.c — the data layer (float build): the CSV and IDX readers with their exact error
 * messages, datasets (copying, split, normalisation), loaders (batch sizes, drop_last,
 * seeded shuffling, every sample once per epoch, no allocation per batch), the accuracy
 * count, and the monitor's CSV log, summary line and SVG plot. Files are written to a fresh
 * temporary directory that the suite's fini removes. */
#define _XOPEN_SOURCE 700
#include <criterion/criterion.h>
#include <poll.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "agrad.h"

/* --- temporary files ------------------------------------------------------------------ */

#define MAX_FILES 32
static char tmp_dir[64];
static char tmp_files[MAX_FILES][128];
static int n_tmp_files;

static void setup(void)
{
    strcpy(tmp_dir, "/tmp/agrad-test-data-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    n_tmp_files = 0;
}

static void teardown(void)
{
    for (int i = 0; i < n_tmp_files; i++)
        unlink(tmp_files[i]);
    rmdir(tmp_dir);
    ag_step_end();
    ag_clear_error();
}

TestSuite(csv, .init = setup, .fini = teardown);
TestSuite(idx, .init = setup, .fini = teardown);
TestSuite(dataset, .init = setup, .fini = teardown);
TestSuite(loader, .init = setup, .fini = teardown);
TestSuite(monitor, .init = setup, .fini = teardown);

/* A path in the temporary directory, removed by teardown. */
static const char *tmp_path(const char *name)
{
    cr_assert(n_tmp_files < MAX_FILES);
    char *p = tmp_files[n_tmp_files++];
    snprintf(p, sizeof tmp_files[0], "%s/%s", tmp_dir, name);
    return p;
}

/* Writes len bytes to a new temporary file, gzip-compressed if gz; returns its path. */
static const char *write_bytes(const char *name, const void *bytes, size_t len, bool gz)
{
    const char *path = tmp_path(name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(gzwrite(f, bytes, (unsigned)len), (int)len);
        cr_assert_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(bytes, 1, len, f), len);
        cr_assert_eq(fclose(f), 0);
    }
    return path;
}

static const char *write_text(const char *name, const char *text, bool gz)
{
    return write_bytes(name, text, strlen(text), gz);
}

/* The whole file as a string (caller frees). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s missing", path);
    char *s = calloc(1, 1 << 16);
    size_t n = fread(s, 1, (1 << 16) - 1, f);
    s[n] = 0;
    fclose(f);
    return s;
}

/* The call failed with exactly this code and message (the message after "%s" is the path). */
static void expect_error(ag_status code, const char *want)
{
    cr_assert_eq(ag_error(), code, "error %d (%s), want %d", ag_error(), ag_error_message(),
                 code);
    cr_assert_str_eq(ag_error_message(), want);
    ag_clear_error();
}

/* The dataset has these inputs and labels. */
static void expect_dataset(const ag_dataset *ds, const float *x, size_t nx, const int64_t *y,
                           size_t n)
{
    cr_assert_not_null(ds, "%s", ag_error_message());
    cr_assert_eq(ag_dataset_len(ds), n);
    ag_tensor *in = ag_dataset_inputs(ds);
    cr_assert_eq(ag_numel(in), nx);
    for (size_t i = 0; i < nx; i++)
        cr_assert_float_eq(ag_cdata(in)[i], x[i], 1e-6, "x[%zu] = %g, want %g", i,
                           ag_cdata(in)[i], x[i]);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ag_dataset_labels(ds)[i], y[i], "y[%zu]", i);
}

/* --- CSV ------------------------------------------------------------------------------ */

Test(csv, reads_numbers_with_the_label_last)
{
    const char *p = write_text("a.csv", "1,2,0\n3,4.5,1\n-1e2,0.25,9\n", false);
    ag_dataset *ds = ag_dataset_read_csv(p, -1, false);
    expect_dataset(ds, (float[]){ 1, 2, 3, 4.5f, -100, 0.25f }, 6, (int64_t[]){ 0, 1, 9 }, 3);
    ag_shape s = ag_dataset_sample_shape(ds);
    cr_assert_eq(s.ndim, 1);
    cr_assert_eq(s.d[0], 2);
    cr_assert_eq(ag_dataset_num_classes(ds), 10);
    ag_shape all = ag_shape_of(ag_dataset_inputs(ds));
    cr_assert(all.ndim == 2 && all.d[0] == 3 && all.d[1] == 2);
    ag_dataset_free(ds);
}

Test(csv, header_label_in_the_middle_crlf_blank_lines_and_spaces)
{
    const char *p = write_text("b.csv", "f1,label,f2\r\n1.5, 2 ,-3\r\n\r\n  \n4,0,5e-1\r\n", false);
    ag_dataset *ds = ag_dataset_read_csv(p, 1, true);
    expect_dataset(ds, (float[]){ 1.5f, -3, 4, 0.5f }, 4, (int64_t[]){ 2, 0 }, 2);
    ag_dataset_free(ds);
    ds = ag_dataset_read_csv(p, -2, true); /* the same column counted from the end */
    expect_dataset(ds, (float[]){ 1.5f, -3, 4, 0.5f }, 4, (int64_t[]){ 2, 0 }, 2);
    ag_dataset_free(ds);
}

Test(csv, label_first_and_no_final_newline)
{
    const char *p = write_text("c.csv", "7,1,2\n3,4,5", false);
    ag_dataset *ds = ag_dataset_read_csv(p, 0, false);
    expect_dataset(ds, (float[]){ 1, 2, 4, 5 }, 4, (int64_t[]){ 7, 3 }, 2);
    ag_dataset_free(ds);
}

Test(csv, reads_gzip_transparently)
{
    const char *p = write_text("d.csv.gz", "h1,h2,h3\n1,2,0\n3,4,1\n", true);
    ag_dataset *ds = ag_dataset_read_csv(p, 2, true);
    expect_dataset(ds, (float[]){ 1, 2, 3, 4 }, 4, (int64_t[]){ 0, 1 }, 2);
    ag_dataset_free(ds);
}

/* A CSV of n lines "i,i%10" appended to path as one gzip member. */
static void append_gz_rows(const char *path, int from, int n)
{
    gzFile f = gzopen(path, "ab");
    cr_assert_not_null(f);
    for (int i = from; i < from + n; i++)
        gzprintf(f, "%d,%d\n", i, i % 10);
    cr_assert_eq(gzclose(f), Z_OK);
}

/* A 200 KB file read in one go (its gzip trailer gives the size), and a file of two gzip
 * members, whose trailer gives only the second member's size (the read grows past it). */
Test(csv, large_and_multi_member_gzip_files)
{
    const char *paths[] = { tmp_path("big.csv.gz"), tmp_path("two.csv.gz") };
    append_gz_rows(paths[0], 0, 30000);
    append_gz_rows(paths[1], 0, 29000);
    append_gz_rows(paths[1], 29000, 1000);
    for (int k = 0; k < 2; k++) {
        ag_dataset *ds = ag_dataset_read_csv(paths[k], -1, false);
        cr_assert_not_null(ds, "%s", ag_error_message());
        cr_assert_eq(ag_dataset_len(ds), 30000);
        for (int i = 0; i < 30000; i += 997) {
            cr_assert_eq(ag_cdata(ag_dataset_inputs(ds))[i], (float)i);
            cr_assert_eq(ag_dataset_labels(ds)[i], i % 10);
        }
        ag_dataset_free(ds);
    }
}

/* The failure's message is `want` with %s replaced by path. */
static void expect_error_at(ag_status code, const char *want, const char *path)
{
    char msg[512];
    snprintf(msg, sizeof msg, want, path);
    expect_error(code, msg);
}

Test(csv, malformed_files_name_line_and_column)
{
    static const struct {
        const char *text, *want; /* read with the label last, no header; %s is the path */
    } cases[] = {
        { "1,2,0\n3,4\n", "csv: %s: line 2: expected 3 columns, found 2" },
        { "1,2,0\n\n3,4,5,6\n", "csv: %s: line 3: expected 3 columns, found 4" },
        { "1,2,0\n3,x4,1\n", "csv: %s: line 2, column 2: 'x4' is not a number" },
        { "1,2 3,0\n", "csv: %s: line 1, column 2: '2 3' is not a number" },
        { "1,,0\n", "csv: %s: line 1, column 2: empty field" },
        { "nan,1,0\n", "csv: %s: line 1, column 1: 'nan' is not a finite number" },
        { "1,2,0.5\n", "csv: %s: line 1, column 3: label 0.5 is not a whole number" },
        { "1\n2\n", "csv: %s: line 1: a label and at least one feature need 2 columns, found 1" },
        { "", "csv: %s: the file is empty" },
        { "\n \n", "csv: %s: no data lines" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_text("bad.csv", cases[i].text, false);
        cr_assert_null(ag_dataset_read_csv(p, -1, false), "read '%s'", cases[i].text);
        expect_error_at(AG_ERR_FORMAT, cases[i].want, p);
    }
}

Test(csv, header_only_out_of_range_label_and_missing_file)
{
    const char *p = write_text("h.csv", "a,b,c\n", false);
    cr_assert_null(ag_dataset_read_csv(p, -1, true));
    expect_error_at(AG_ERR_FORMAT, "csv: %s: no data lines", p);
    p = write_text("r.csv", "1,2,3\n", false);
    cr_assert_null(ag_dataset_read_csv(p, 3, false));
    expect_error_at(AG_ERR_ARG, "csv: %s: label column 3 is out of range for 3 columns", p);
    cr_assert_null(ag_dataset_read_csv(p, -4, false));
    expect_error_at(AG_ERR_ARG, "csv: %s: label column -4 is out of range for 3 columns", p);
    cr_assert_null(ag_dataset_read_csv("/nonexistent/x.csv", -1, false));
    expect_error(AG_ERR_IO, "csv: /nonexistent/x.csv: No such file or directory");
    cr_assert_null(ag_dataset_read_csv(tmp_dir, -1, false));
    expect_error_at(AG_ERR_IO, "csv: %s: Is a directory", tmp_dir);
    cr_assert_null(ag_dataset_read_csv(NULL, -1, false));
    expect_error(AG_ERR_ARG, "csv: path is NULL");
}

/* --- IDX ------------------------------------------------------------------------------ */

/* An IDX file: magic (type, ndim), dims, then `count` data bytes 0, 1, 2, ... (or the
 * values given); returns its length. */
static size_t idx_bytes(unsigned char *buf, int type, int ndim, const uint32_t *dims,
                        const unsigned char *values, size_t count)
{
    size_t len = 0;
    buf[len++] = 0, buf[len++] = 0;
    buf[len++] = (unsigned char)type, buf[len++] = (unsigned char)ndim;
    for (int k = 0; k < ndim; k++)
        for (int b = 3; b >= 0; b--)
            buf[len++] = (unsigned char)(dims[k] >> (8 * b));
    for (size_t i = 0; i < count; i++)
        buf[len++] = values ? values[i] : (unsigned char)(i * 10);
    return len;
}

/* Three 2x2 images (bytes 0, 10, ..., 110) and their labels 3, 1, 4, both written. */
static void write_mnist(bool gz, const char **img, const char **lab)
{
    unsigned char buf[64];
    size_t n = idx_bytes(buf, 0x08, 3, (uint32_t[]){ 3, 2, 2 }, NULL, 12);
    *img = write_bytes(gz ? "img.gz" : "img", buf, n, gz);
    n = idx_bytes(buf, 0x08, 1, (uint32_t[]){ 3 }, (unsigned char[]){ 3, 1, 4 }, 3);
    *lab = write_bytes(gz ? "lab.gz" : "lab", buf, n, gz);
}

static void expect_mnist(ag_dataset *ds)
{
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)(10 * i);
    expect_dataset(ds, x, 12, (int64_t[]){ 3, 1, 4 }, 3);
    ag_shape s = ag_dataset_sample_shape(ds);
    cr_assert(s.ndim == 2 && s.d[0] == 2 && s.d[1] == 2);
    ag_dataset_free(ds);
}

Test(idx, reads_plain_and_gzipped_files)
{
    const char *img, *lab;
    write_mnist(false, &img, &lab);
    expect_mnist(ag_dataset_read_idx(img, lab));
    write_mnist(true, &img, &lab);
    expect_mnist(ag_dataset_read_idx(img, lab));
}

/* Reading (images, labels) fails with `want`, in which @1 and @2 stand for the two paths. */
static void expect_idx_error(const char *img, const char *lab, const char *want)
{
    cr_assert_null(ag_dataset_read_idx(img, lab));
    char msg[512] = { 0 };
    for (const char *w = want; *w; w++)
        if (w[0] == '@' && (w[1] == '1' || w[1] == '2'))
            strcat(msg, *++w == '1' ? img : lab);
        else
            strncat(msg, w, 1);
    expect_error(AG_ERR_FORMAT, msg);
}

Test(idx, wrong_magic_and_type)
{
    const char *img, *lab;
    write_mnist(false, &img, &lab);
    expect_idx_error(lab, lab, "idx: @1: wrong magic number 0x00000801 (expected 0x00000802 "
                               "to 0x00000808, images)");
    expect_idx_error(img, img, "idx: @2: wrong magic number 0x00000803 (expected 0x00000801, "
                               "labels)");
    const char *text = write_text("t.csv", "1,2,3\n", false);
    expect_idx_error(text, lab, "idx: @1: wrong magic number 0x312c322c (expected 0x00000802 "
                                "to 0x00000808, images)");
    unsigned char buf[64];
    size_t n = idx_bytes(buf, 0x0D, 3, (uint32_t[]){ 3, 2, 2 }, NULL, 12);
    const char *floats = write_bytes("f", buf, n, false);
    expect_idx_error(floats, lab, "idx: @1: data type 0x0d is not supported (only unsigned "
                                  "bytes, 0x08)");
}

Test(idx, truncated_and_overlong_files)
{
    unsigned char buf[64];
    const char *img, *lab;
    write_mnist(false, &img, &lab);
    size_t n = idx_bytes(buf, 0x08, 3, (uint32_t[]){ 3, 2, 2 }, NULL, 12);
    const char *cut = write_bytes("cut", buf, n - 2, false);
    expect_idx_error(cut, lab, "idx: @1: truncated at byte 26 (expected 28 bytes)");
    const char *cut_gz = write_bytes("cut.gz", buf, n - 2, true);
    expect_idx_error(cut_gz, lab, "idx: @1: truncated at byte 26 (expected 28 bytes)");
    const char *head = write_bytes("head", buf, 9, false);
    expect_idx_error(head, lab, "idx: @1: truncated at byte 9 (in the header)");
    const char *tiny = write_bytes("tiny", buf, 3, false);
    expect_idx_error(img, tiny, "idx: @2: truncated at byte 3 (in the header)");
    buf[n] = 7;
    const char *longer = write_bytes("long", buf, n + 1, false);
    expect_idx_error(longer, lab, "idx: @1: 1 bytes past the end of the data (expected 28 "
                                  "bytes)");
}

Test(idx, a_cut_gzip_stream_is_an_io_error)
{
    const char *img, *lab;
    write_mnist(true, &img, &lab);
    FILE *f = fopen(img, "rb");
    unsigned char gz[256];
    size_t n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    const char *cut = write_bytes("cutstream.gz", gz, n - 10, false);
    cr_assert_null(ag_dataset_read_idx(cut, lab));
    expect_error_at(AG_ERR_IO, "idx: %s: gzip data ends early (truncated file)", cut);
}

Test(idx, counts_must_match)
{
    unsigned char buf[64];
    const char *img, *lab;
    write_mnist(false, &img, &lab);
    size_t n = idx_bytes(buf, 0x08, 1, (uint32_t[]){ 2 }, NULL, 2);
    const char *two = write_bytes("two", buf, n, false);
    expect_idx_error(img, two, "idx: @1 has 3 images but @2 has 2 labels");
    cr_assert_null(ag_dataset_read_idx(img, "/nonexistent/labels"));
    expect_error(AG_ERR_IO, "idx: /nonexistent/labels: No such file or directory");
}

/* --- datasets -------------------------------------------------------------------------- */

/* n samples of 2 values (i, -i) labelled i. */
static ag_dataset *numbered(size_t n)
{
    float *x = malloc(2 * n * sizeof *x);
    int64_t *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++)
        x[2 * i] = (float)i, x[2 * i + 1] = -(float)i, y[i] = (int64_t)i;
    ag_dataset *ds = ag_dataset_from(x, n, AG_SHAPE(2), y);
    free(x), free(y);
    cr_assert_not_null(ds, "%s", ag_error_message());
    return ds;
}

Test(dataset, from_copies_its_arguments)
{
    float x[] = { 1, 2, 3, 4, 5, 6 };
    int64_t y[] = { 0, 2 };
    ag_dataset *ds = ag_dataset_from(x, 2, AG_SHAPE(3), y);
    x[0] = 99, y[0] = 5;
    expect_dataset(ds, (float[]){ 1, 2, 3, 4, 5, 6 }, 6, (int64_t[]){ 0, 2 }, 2);
    cr_assert_eq(ag_dataset_num_classes(ds), 3);
    cr_assert(!ag_requires_grad(ag_dataset_inputs(ds)));
    ag_dataset_free(ds);
    ag_dataset_free(NULL);
    cr_assert_eq(ag_dataset_len(NULL), 0);

    cr_assert_null(ag_dataset_from(NULL, 2, AG_SHAPE(3), y));
    expect_error(AG_ERR_ARG, "dataset_from: x is NULL");
    cr_assert_null(ag_dataset_from(x, 0, AG_SHAPE(3), y));
    expect_error(AG_ERR_ARG,
                 "dataset_from: a dataset needs at least one sample and at most 2^60 (got 0)");
    cr_assert_null(ag_dataset_from(x, 1, AG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), y));
    expect_error(AG_ERR_ARG, "dataset_from: a sample may have at most 7 dims (got 8)");
}

Test(dataset, reshape_keeps_the_values)
{
    ag_dataset *ds = numbered(3);
    cr_assert_eq(ag_dataset_reshape(ds, AG_SHAPE(1, 2)), AG_OK);
    ag_shape s = ag_shape_of(ag_dataset_inputs(ds));
    cr_assert(s.ndim == 3 && s.d[0] == 3 && s.d[1] == 1 && s.d[2] == 2);
    expect_dataset(ds, (float[]){ 0, 0, 1, -1, 2, -2 }, 6, (int64_t[]){ 0, 1, 2 }, 3);
    cr_assert_eq(ag_dataset_reshape(ds, AG_SHAPE(3)), AG_ERR_SHAPE);
    expect_error(AG_ERR_SHAPE, "dataset_reshape: samples of shape [1,2] cannot become [3]");
    ag_dataset_free(ds);
}

/* Every label 0..n-1 appears once in a and b together. */
static void expect_partition(const ag_dataset *a, const ag_dataset *b, size_t n)
{
    int seen[64] = { 0 };
    const ag_dataset *parts[] = { a, b };
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < ag_dataset_len(parts[k]); i++) {
            int64_t id = ag_dataset_labels(parts[k])[i];
            cr_assert_eq(ag_cdata(ag_dataset_inputs(parts[k]))[2 * i], (float)id);
            seen[id]++;
        }
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(seen[i], 1, "sample %zu seen %d times", i, seen[i]);
}

Test(dataset, split_is_a_seeded_partition)
{
    ag_dataset *ds = numbered(50), *tr, *te, *tr2, *te2, *tr3, *te3;
    cr_assert_eq(ag_dataset_split(ds, 0.8, 7, &tr, &te), AG_OK);
    cr_assert_eq(ag_dataset_len(tr), 40);
    cr_assert_eq(ag_dataset_len(te), 10);
    expect_partition(tr, te, 50);
    cr_assert_eq(ag_dataset_split(ds, 0.8, 7, &tr2, &te2), AG_OK);
    cr_assert_eq(memcmp(ag_dataset_labels(tr), ag_dataset_labels(tr2), 40 * sizeof(int64_t)), 0);
    cr_assert_eq(ag_dataset_split(ds, 0.8, 8, &tr3, &te3), AG_OK);
    cr_assert_neq(memcmp(ag_dataset_labels(tr), ag_dataset_labels(tr3), 40 * sizeof(int64_t)), 0);
    ag_dataset_free(tr), ag_dataset_free(te), ag_dataset_free(tr2), ag_dataset_free(te2);
    ag_dataset_free(tr3), ag_dataset_free(te3);

    cr_assert_eq(ag_dataset_split(ds, 0.999, 1, &tr, &te), AG_ERR_ARG);
    cr_assert(tr == NULL && te == NULL);
    expect_error(AG_ERR_ARG, "dataset_split: fraction 0.999 of 50 samples leaves a part empty");
    cr_assert_eq(ag_dataset_split(ds, NAN, 1, &tr, &te), AG_ERR_ARG);
    ag_clear_error();
    ag_dataset_free(ds);
}

Test(dataset, stats_and_normalize)
{
    ag_dataset *ds = ag_dataset_from((float[]){ 0, 255, 51, 102 }, 2, AG_SHAPE(2),
                                     (int64_t[]){ 0, 1 });
    cr_assert_eq(ag_dataset_normalize(ds, 0, 255), AG_OK);
    expect_dataset(ds, (float[]){ 0, 1, 0.2f, 0.4f }, 4, (int64_t[]){ 0, 1 }, 2);
    double mean, std;
    cr_assert_eq(ag_dataset_stats(ds, &mean, &std), AG_OK);
    cr_assert_float_eq(mean, 0.4, 1e-6);
    cr_assert_float_eq(std, sqrt((0.16 + 0.36 + 0.04 + 0) / 4), 1e-6);
    cr_assert_eq(ag_dataset_normalize(ds, mean, std), AG_OK);
    cr_assert_eq(ag_dataset_stats(ds, &mean, &std), AG_OK);
    cr_assert_float_eq(mean, 0, 1e-6);
    cr_assert_float_eq(std, 1, 1e-6);
    cr_assert_eq(ag_dataset_normalize(ds, 0, 0), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "dataset_normalize: mean must be finite and std finite and > 0 "
                             "(got 0, 0)");
    ag_dataset_free(ds);
}

/* --- loaders --------------------------------------------------------------------------- */

/* Runs one epoch, checking that each batch's rows match their labels, and records the
 * labels in order into ids (and the batch sizes into sizes). Returns the batch count. */
static size_t run_epoch(ag_loader *l, int64_t *ids, size_t *sizes)
{
    ag_tensor *x;
    const int64_t *y;
    size_t n, batches = 0;
    while (ag_loader_next(l, &x, &y, &n)) {
        cr_assert_eq((size_t)ag_size(x, 0), n);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(ag_cdata(x)[2 * i], (float)y[i]);
            cr_assert_eq(ag_cdata(x)[2 * i + 1], -(float)y[i]);
            *ids++ = y[i];
        }
        sizes[batches++] = n;
    }
    return batches;
}

/* The loader gives these batch sizes, every sample once (or all but the dropped ones). */
static void expect_batches(size_t n, size_t batch, bool drop_last, const size_t *want,
                           size_t nwant)
{
    ag_dataset *ds = numbered(n);
    ag_loader *l = ag_loader_new(ds, batch, true, drop_last, 3);
    cr_assert_not_null(l);
    cr_assert_eq(ag_loader_num_batches(l), nwant);
    int64_t ids[64];
    size_t sizes[64];
    for (int epoch = 0; epoch < 2; epoch++) {
        cr_assert_eq(run_epoch(l, ids, sizes), nwant);
        int seen[64] = { 0 };
        size_t total = 0;
        for (size_t b = 0; b < nwant; b++) {
            cr_assert_eq(sizes[b], want[b], "batch %zu has %zu rows", b, sizes[b]);
            total += sizes[b];
        }
        for (size_t i = 0; i < total; i++)
            cr_assert_eq(seen[ids[i]]++, 0, "sample %lld twice", (long long)ids[i]);
    }
    ag_loader_free(l);
    ag_dataset_free(ds);
}

Test(loader, batch_sizes)
{
    expect_batches(4, 1, false, (size_t[]){ 1, 1, 1, 1 }, 4);           /* stochastic */
    expect_batches(10, 0, false, (size_t[]){ 10 }, 1);                  /* full batch */
    expect_batches(10, 10, false, (size_t[]){ 10 }, 1);
    expect_batches(10, 25, true, (size_t[]){ 10 }, 1);
    expect_batches(10, 3, false, (size_t[]){ 3, 3, 3, 1 }, 4);
    expect_batches(10, 3, true, (size_t[]){ 3, 3, 3 }, 3);
    expect_batches(10, 5, true, (size_t[]){ 5, 5 }, 2);
}

/* The labels of `epochs` epochs of a loader over 20 samples in batches of 6. */
static void record(uint64_t seed, bool shuffle, bool reset_first, int64_t ids[3][20])
{
    ag_dataset *ds = numbered(20);
    ag_loader *l = ag_loader_new(ds, 6, shuffle, false, seed);
    size_t sizes[8];
    for (int e = 0; e < 3; e++) {
        if (reset_first)
            ag_loader_reset(l);
        cr_assert_eq(run_epoch(l, ids[e], sizes), 4);
    }
    ag_loader_free(l);
    ag_dataset_free(ds);
}

Test(loader, shuffling_is_seeded_and_new_each_epoch)
{
    int64_t a[3][20], b[3][20], c[3][20], d[3][20];
    record(42, true, false, a);
    record(42, true, true, b); /* reset at the top of each epoch: the same batches */
    record(43, true, false, c);
    record(42, false, false, d);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_neq(memcmp(a, c, sizeof a), 0);
    cr_assert_neq(memcmp(a[0], a[1], sizeof a[0]), 0);
    cr_assert_neq(memcmp(a[1], a[2], sizeof a[0]), 0);
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 20; i++)
            cr_assert_eq(d[e][i], i);
}

Test(loader, reset_mid_epoch_starts_a_new_one)
{
    ag_dataset *ds = numbered(9);
    ag_loader *l = ag_loader_new(ds, 4, false, false, 0);
    const int64_t *y;
    size_t n;
    cr_assert(ag_loader_next(l, NULL, &y, &n) && n == 4 && y[0] == 0);
    cr_assert(ag_loader_next(l, NULL, &y, &n) && n == 4 && y[0] == 4);
    ag_loader_reset(l);
    cr_assert(ag_loader_next(l, NULL, &y, NULL) && y[0] == 0);
    ag_loader_free(l);
    ag_dataset_free(ds);
    ag_loader_free(NULL);
    cr_assert(!ag_loader_next(NULL, NULL, NULL, NULL));
    expect_error(AG_ERR_ARG, "loader_next: loader is NULL");
    cr_assert_null(ag_loader_new(NULL, 1, false, false, 0));
    expect_error(AG_ERR_ARG, "loader_new: dataset is NULL");
}

static size_t n_allocs;
static void *counting_alloc(size_t size, void *user)
{
    (void)user;
    n_allocs++;
    return malloc(size);
}
static void plain_release(void *p, void *user)
{
    (void)user;
    free(p);
}

Test(loader, batches_do_not_allocate)
{
    ag_dataset *ds = numbered(50);
    ag_loader *l = ag_loader_new(ds, 8, true, false, 1);
    int64_t ids[64];
    size_t sizes[16];
    ag_set_allocator(&(ag_allocator){ counting_alloc, plain_release, NULL });
    n_allocs = 0;
    for (int e = 0; e < 3; e++)
        run_epoch(l, ids, sizes);
    ag_set_allocator(NULL);
    cr_assert_eq(n_allocs, 0);
    ag_loader_free(l);
    ag_dataset_free(ds);
}

Test(loader, a_live_graph_sees_the_batch_change)
{
    ag_dataset *ds = numbered(4);
    ag_loader *l = ag_loader_new(ds, 2, false, false, 0);
    ag_tensor *x, *w = ag_set_requires_grad(ag_ones(AG_SHAPE(2)), true);
    ag_loader_next(l, &x, NULL, NULL);
    ag_tensor *loss = ag_sum(ag_mul(x, w));
    ag_loader_next(l, &x, NULL, NULL);
    cr_assert_neq(ag_backward(loss), AG_OK);
    ag_clear_error();
    ag_free(w);
    ag_loader_free(l);
    ag_dataset_free(ds);
}

Test(loader, num_correct_takes_the_first_largest)
{
    ag_tensor *logits = ag_from((float[]){ 1, 3, 2, 5, 5, 0, 0, 0, 1 }, 9, AG_SHAPE(3, 3));
    cr_assert_eq(ag_num_correct(logits, (int64_t[]){ 1, 0, 2 }), 3);
    cr_assert_eq(ag_num_correct(logits, (int64_t[]){ 2, 1, 2 }), 1);
    ag_tensor *flat = ag_zeros(AG_SHAPE(3));
    cr_assert_eq(ag_num_correct(flat, (int64_t[]){ 0, 0, 0 }), 0);
    expect_error(AG_ERR_ARG, "num_correct: needs 2-d logits and labels (got [3] logits, labels)");
    ag_free(logits), ag_free(flat);
}

/* --- monitors ------------------------------------------------------------------------- */

/* Occurrences of needle in s. */
static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

Test(monitor, writes_summary_csv_and_svg)
{
    const char *csv = tmp_path("log.csv"), *svg = tmp_path("plot.svg");
    ag_monitor *m = ag_monitor_new(csv, svg, 3, 2);
    cr_assert_not_null(m, "%s", ag_error_message());
    FILE *out = tmpfile();
    ag_monitor_set_output(m, out);
    double loss[] = { 1.25, 0.5, 0.375 }, tr[] = { 0.5, 0.8, 0.875 }, te[] = { 0.4, 0.75, 0.8125 };
    for (int e = 0; e < 3; e++) {
        ag_monitor_step(m, 2 * loss[e]);
        ag_monitor_step(m, 0);
        cr_assert_eq(ag_monitor_epoch(m, loss[e], tr[e], te[e]), AG_OK);
    }
    cr_assert_eq(ag_monitor_epoch(m, 0, 0, 0), AG_ERR_ARG);
    expect_error(AG_ERR_ARG, "monitor_epoch: epoch 4 is past the 3 declared");
    ag_monitor_free(m);

    char text[512] = { 0 };
    rewind(out);
    cr_assert(fread(text, 1, sizeof text - 1, out) > 0);
    fclose(out);
    cr_assert(strstr(text, "epoch 1/3  loss 1.2500  train 50.00%  test 40.00%  "), "%s", text);
    cr_assert(strstr(text, "epoch 3/3  loss 0.3750  train 87.50%  test 81.25%  "), "%s", text);
    cr_assert_eq(count(text, "\n"), 3);
    cr_assert_eq(count(text, "\r"), 0, "no progress bar off a terminal");

    char *log = slurp(csv);
    cr_assert(strncmp(log, "epoch,train_loss,train_acc,test_acc,seconds\n"
                           "1,1.250000,0.500000,0.400000,", 73) == 0, "%s", log);
    cr_assert(strstr(log, "\n3,0.375000,0.875000,0.812500,"), "%s", log);
    cr_assert_eq(count(log, "\n"), 4);
    free(log);

    char *plot = slurp(svg);
    cr_assert(strncmp(plot, "<svg", 4) == 0);
    cr_assert(strstr(plot, "</svg>\n") && strstr(plot, "</svg>\n")[7] == 0);
    cr_assert_eq(count(plot, "<polyline"), 3);
    cr_assert_eq(count(plot, "<circle"), 9);
    cr_assert_eq(count(plot, "<text") , count(plot, "</text>"));
    cr_assert(strstr(plot, ">epoch</text>") && strstr(plot, ">accuracy (%)</text>") &&
              strstr(plot, ">train loss</text>") && strstr(plot, ">test</text>"));
    free(plot);
}

Test(monitor, draws_a_progress_bar_on_a_terminal)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0)
        cr_skip_test("no pseudo-terminal available");
    cr_assert(grantpt(master) == 0 && unlockpt(master) == 0);
    FILE *tty = fopen(ptsname(master), "w");
    cr_assert_not_null(tty);
    ag_monitor *m = ag_monitor_new(NULL, NULL, 2, 4);
    ag_monitor_set_output(m, tty);
    for (int i = 0; i < 4; i++)
        ag_monitor_step(m, 0.5);
    cr_assert_eq(ag_monitor_epoch(m, 0.5, 0.25, 0.125), AG_OK);
    ag_monitor_free(m);
    fclose(tty);
    /* one read may return only part of what the terminal holds: read until it is drained */
    char text[1024] = { 0 };
    size_t got = 0;
    struct pollfd pfd = { .fd = master, .events = POLLIN };
    while (got < sizeof text - 1 && poll(&pfd, 1, 200) > 0) {
        ssize_t r = read(master, text + got, sizeof text - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    cr_assert(got > 0);
    close(master);
    cr_assert(strstr(text, "\repoch 1/2 [======>                 ] 1/4  "), "%s", text);
    cr_assert(strstr(text, "\repoch 1/2 [========================] 4/4  "), "%s", text);
    cr_assert(strstr(text, " it/s  ETA 0:00  loss 0.5000\033[K"), "%s", text);
    cr_assert(strstr(text, "\r\033[Kepoch 1/2  loss 0.5000  train 25.00%  test 12.50%  "), "%s",
              text);
}

Test(monitor, bad_arguments_and_paths)
{
    cr_assert_null(ag_monitor_new("/nonexistent/log.csv", NULL, 3, 1));
    expect_error(AG_ERR_IO, "monitor: /nonexistent/log.csv: No such file or directory");
    cr_assert_null(ag_monitor_new(NULL, NULL, 0, 1));
    expect_error(AG_ERR_ARG, "monitor: epochs and steps per epoch must be >= 1 (got 0, 1)");
    ag_monitor *m = ag_monitor_new(NULL, "/nonexistent/plot.svg", 1, 1);
    ag_monitor_set_output(m, NULL);
    cr_assert_eq(ag_monitor_epoch(m, 1, 0.5, 0.5), AG_ERR_IO);
    expect_error(AG_ERR_IO, "monitor: /nonexistent/plot.svg: No such file or directory");
    ag_monitor_free(m);
    ag_monitor_free(NULL);
    ag_monitor_step(NULL, 1);
}
