/* io_test_util.h — what the checkpoint tests share (float build): a scratch folder per test,
 * whole-file reads and writes, a small MLP, and snapshots of everything a load may change
 * (parameters, optimizer state, step count, learning rate, generator) to prove that a
 * refused load changed nothing, bit for bit.
 *
 *   scratch_dir() / scratch_path("name")   a fresh folder under /tmp, removed by scratch_done()
 *   file_read(path, &size) / file_write(path, bytes, size)
 *   mlp_new(seed, in, hidden, out)          Linear-Tanh-Linear, initialised after ag_manual_seed
 *   snap_take(params, opt) / expect_snap_eq(a, b, what) / snap_free(&s)
 */
#ifndef AG_IO_TEST_UTIL_H
#define AG_IO_TEST_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agrad.h"

static char tu_dir_[64];
static char tu_path_[4][320];
static int tu_next_path_;

/* A fresh, empty folder for this test. */
static inline const char *scratch_dir(void)
{
    if (!tu_dir_[0]) {
        strcpy(tu_dir_, "/tmp/agrad-ckpt-XXXXXX");
        cr_assert(mkdtemp(tu_dir_) != NULL, "mkdtemp failed");
    }
    return tu_dir_;
}

/* scratch_dir()/name (four rotating buffers, so a few can be alive at once). */
static inline const char *scratch_path(const char *name)
{
    char *p = tu_path_[tu_next_path_++ % 4];
    snprintf(p, sizeof tu_path_[0], "%s/%s", scratch_dir(), name);
    return p;
}

/* How many entries the scratch folder holds, and the name of one whose name is not `except`
 * (NULL if none) in other[]. */
static inline int scratch_count(const char *except, char *other, size_t size)
{
    DIR *d = opendir(scratch_dir());
    cr_assert(d != NULL);
    int n = 0;
    if (other)
        other[0] = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        n++;
        if (other && (!except || strcmp(e->d_name, except)))
            snprintf(other, size, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

/* Removes the scratch folder and what is in it (one level: the tests make no subfolders
 * but the one they chmod, which they remove themselves). */
static inline void scratch_done(void)
{
    if (!tu_dir_[0])
        return;
    DIR *d = opendir(tu_dir_);
    if (d) {
        for (struct dirent *e; (e = readdir(d));) {
            char p[400];
            snprintf(p, sizeof p, "%s/%s", tu_dir_, e->d_name);
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                remove(p);
        }
        closedir(d);
    }
    rmdir(tu_dir_);
    tu_dir_[0] = 0;
}

static inline unsigned char *file_read(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*size ? *size : 1);
    cr_assert(fread(b, 1, *size, f) == *size);
    fclose(f);
    return b;
}

static inline void file_write(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot create %s", path);
    cr_assert(fwrite(bytes, 1, size, f) == size);
    cr_assert(fclose(f) == 0);
}

/* Linear(in, hidden) - Tanh - Linear(hidden, out), parameters drawn after ag_manual_seed. */
static inline ag_module *mlp_new(uint64_t seed, int in, int hidden, int out)
{
    ag_manual_seed(seed);
    ag_module *m = ag_sequential_new(3, (ag_module *[]){ ag_linear_new(in, hidden, true),
                                                         ag_tanh_new(),
                                                         ag_linear_new(hidden, out, true) });
    cr_assert(m != NULL, "%s", ag_error_message());
    return m;
}

/* Everything a load may change, copied. */
typedef struct snap {
    ag_real *vals;
    size_t n;
    int64_t step;
    double lr;
    ag_rng_state rng;
} snap;

/* Appends the values of t to s. */
static inline void snap_add(snap *s, const ag_tensor *t)
{
    size_t k = ag_numel(t);
    s->vals = realloc(s->vals, (s->n + k + 1) * sizeof(ag_real));
    memcpy(s->vals + s->n, ag_cdata(t), k * sizeof(ag_real));
    s->n += k;
}

static inline snap snap_take(const ag_params *p, ag_optimizer *opt)
{
    snap s = { .step = -1, .rng = ag_get_rng_state() };
    for (int i = 0; i < p->n; i++) {
        snap_add(&s, p->tensors[i]);
        const ag_tensor *b;
        for (int k = 0; opt && (b = ag_optim_state(opt, i, k, NULL)); k++)
            snap_add(&s, b);
    }
    if (opt) {
        s.step = ag_optim_step_count(opt);
        s.lr = ag_optim_get_lr(opt);
    }
    return s;
}

static inline void snap_free(snap *s)
{
    free(s->vals);
    s->vals = NULL;
}

/* Bitwise equality of two snapshots. */
static inline bool snap_eq(const snap *a, const snap *b)
{
    return a->n == b->n && memcmp(a->vals, b->vals, a->n * sizeof(ag_real)) == 0 &&
           a->step == b->step && memcmp(&a->lr, &b->lr, sizeof a->lr) == 0 &&
           memcmp(&a->rng, &b->rng, sizeof a->rng) == 0;
}

#define expect_snap_eq(a, b, ...) cr_expect(snap_eq((a), (b)), __VA_ARGS__)

#endif
