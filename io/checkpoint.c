/* checkpoint.c — saving a checkpoint, and the checks of the parameter list that saving and
 * loading share. The byte layout is docs/checkpoint-format.md; loading is checkpoint_load.c.
 *
 * A save works everything out first (names, the optimizer's buffers, the file's size), then
 * streams the file through one buffer into `path.tmp`, hashing as it goes, and commits it:
 * fsync, rename over `path`, fsync the folder. The temporary file is locked (flock) while it
 * is written, so concurrent saves to one path take turns, and one left by a killed process
 * (its lock died with it) is simply reused by the next save: there is never more than one.
 * On any failure it is removed and the previous checkpoint is untouched. */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#define WRITE_BUF ((size_t)1 << 16)
#define DIGITS 12 /* an int in decimal, with its NUL */
#define OPEN_ATTEMPTS 100

/* ---------------------------------------------------------------------------------------
 * The parameter list (shared with the loader)
 * ------------------------------------------------------------------------------------- */

/* memcmp over the common length, then the shorter name first (see io_internal.h). */
int agi_ckpt_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* qsort's view of agi_ckpt_name_cmp. */
static int entry_cmp(const void *x, const void *y)
{
    const agi_ckpt_name *a = x, *b = y;
    return agi_ckpt_name_cmp(a->s, a->len, b->s, b->len);
}

/* The list itself: present, non-empty, and every entry a heap tensor (a parameter: a leaf
 * that outlives steps). The messages follow the optimizers'. */
static bool params_ok(const char *op, const ag_params *params)
{
    if (!params)
        return ag_fail(AG_ERR_ARG, "%s: params is NULL", op), false;
    if (params->n <= 0)
        return ag_fail(AG_ERR_ARG, "%s: the parameter list is empty", op), false;
    if (!params->tensors)
        return ag_fail(AG_ERR_ARG, "%s: params->tensors is NULL", op), false;
    for (int i = 0; i < params->n; i++) {
        const ag_tensor *t = params->tensors[i];
        if (!t)
            return ag_fail(AG_ERR_ARG, "%s: parameter %d is NULL", op, i), false;
        if (t->kind != AGI_HEAP)
            return ag_fail(AG_ERR_ARG,
                           "%s: parameter %d is not a heap tensor (parameters are leaves made "
                           "by ag_zeros, ag_randn, ag_clone, ...)",
                           op, i),
                   false;
    }
    return true;
}

/* Fills v[i] with parameter i's name (digits holds the decimal names of an unnamed list) and
 * checks its length. */
static bool name_entry(const char *op, const ag_params *params, int i, char *digits,
                       agi_ckpt_name *v)
{
    const char *s = params->names ? params->names[i] : NULL;
    if (!s) {
        snprintf(digits, DIGITS, "%d", i);
        s = digits;
    }
    *v = (agi_ckpt_name){ s, strlen(s), i };
    if (v->len == 0)
        return ag_fail(AG_ERR_ARG, "%s: parameter %d has an empty name", op, i), false;
    if (v->len > AGI_CKPT_MAX_NAME)
        return ag_fail(AG_ERR_ARG, "%s: parameter %d has a name of %zu bytes (at most %d)", op,
                       i, v->len, AGI_CKPT_MAX_NAME),
               false;
    return true;
}

ag_status agi_ckpt_begin(const char *op, bool path_arg, const char *path, const ag_params *params,
                         agi_ckpt_name **names)
{
    *names = NULL;
    ag_status pending = ag_error();
    if (pending)
        return pending;
    if (path_arg && (!path || !*path))
        return ag_fail(AG_ERR_ARG, "%s: path is %s", op, path ? "empty" : "NULL");
    *names = agi_ckpt_param_names(op, params);
    return *names ? AG_OK : ag_error();
}

/* Checks the list, names every entry, sorts the names and refuses a name used twice. The
 * decimal names of an unnamed list live in the same allocation, after the entries. */
agi_ckpt_name *agi_ckpt_param_names(const char *op, const ag_params *params)
{
    if (!params_ok(op, params))
        return NULL;
    size_t n = (size_t)params->n;
    agi_ckpt_name *v = agi_alloc(n * (sizeof *v + DIGITS));
    if (!v)
        return NULL;
    char *digits = (char *)(v + n);
    for (size_t i = 0; i < n; i++)
        if (!name_entry(op, params, (int)i, digits + i * DIGITS, &v[i])) {
            agi_release(v);
            return NULL;
        }
    qsort(v, n, sizeof *v, entry_cmp);
    for (size_t i = 1; i < n; i++)
        if (entry_cmp(&v[i - 1], &v[i]) == 0) {
            ag_fail(AG_ERR_ARG, "%s: parameters %d and %d are both named '%.200s'", op,
                    v[i - 1].index, v[i].index, v[i].s);
            agi_release(v);
            return NULL;
        }
    return v;
}

/* The system's reason for a failed call, in the library's message style. */
ag_status agi_io_fail(const char *op, const char *what, const char *file, int err)
{
    return ag_fail(AG_ERR_IO, "%s: cannot %s '%s': %s", op, what, file, strerror(err));
}

/* ---------------------------------------------------------------------------------------
 * What a save writes
 * ------------------------------------------------------------------------------------- */

#define OP "checkpoint_save"

/* Everything a save writes, worked out and checked before any file is touched. */
typedef struct plan {
    const ag_params *params;
    ag_optimizer *opt;           /* NULL: no optimizer section */
    const agi_ckpt_name *names;  /* sorted: the order of the records */
    int nstate;                  /* the optimizer's state buffers per parameter */
    uint64_t size;               /* bytes in the whole file */
} plan;

/* Buffer k of parameter i, which must exist and have the parameter's shape: an optimizer
 * made over another list fails here (or in ag_optim_state, when it has fewer parameters). */
static ag_tensor *state_of(const plan *p, int i, int k, const char **name)
{
    ag_tensor *b = ag_optim_state(p->opt, i, k, name);
    const ag_tensor *t = p->params->tensors[i];
    char bs[AG_SHAPE_STRLEN], ts[AG_SHAPE_STRLEN];
    if (b && !agi_ckpt_same_shape(b->shape, t->shape))
        return ag_fail(AG_ERR_ARG,
                       OP ": optimizer state '%s' of parameter %d has shape %s, the parameter "
                       "%s (was the optimizer made over these parameters?)",
                       *name, i, ag_shape_str(b->shape, bs), ag_shape_str(t->shape, ts)),
               NULL;
    if (!b && !ag_error())
        ag_fail(AG_ERR_ARG, OP ": parameter %d has no optimizer state %d, parameter 0 has", i,
                k);
    return b;
}

/* Bytes of one record: name length, name, ndim, dims, byte length, data, checksum. */
static uint64_t record_size(size_t name_len, const ag_tensor *t)
{
    return 4 + name_len + 4 + 8 * (uint64_t)t->shape.ndim + 8 + t->numel * sizeof(ag_real) + 8;
}

/* Counts the optimizer's buffers per parameter (those of parameter 0), checks that every
 * parameter has them, and adds the optimizer section's size. */
static bool plan_optim(plan *p)
{
    const char *name;
    while (ag_optim_state(p->opt, 0, p->nstate, &name))
        p->nstate++;
    if (ag_error())
        return false;
    p->size += 4 + strlen(ag_optim_name(p->opt)) + 8 + 8 + 4;
    for (int i = 0; i < p->params->n; i++)
        for (int k = 0; k < p->nstate; k++) {
            if (!state_of(p, i, k, &name))
                return false;
            p->size += record_size(strlen(name), p->params->tensors[i]);
        }
    return true;
}

/* Works out the whole save: names (checked), the optimizer's buffers, the file's size. */
static bool make_plan(plan *p)
{
    p->size = AGI_CKPT_HEADER + AGI_CKPT_RNG + AGI_CKPT_TRAILER;
    for (int i = 0; i < p->params->n; i++)
        p->size += record_size(p->names[i].len, p->params->tensors[p->names[i].index]);
    return !p->opt || plan_optim(p);
}

/* ---------------------------------------------------------------------------------------
 * The encoder: little-endian fields through a buffer, hashed on the way
 * ------------------------------------------------------------------------------------- */

typedef struct writer {
    int fd;
    int err;             /* errno of the first failed write; 0 while all is well */
    size_t used;
    unsigned char *buf;  /* WRITE_BUF bytes */
    XXH3_state_t file_h; /* every byte so far: the trailer */
    XXH3_state_t rec_h;  /* the current record: its checksum */
} writer;

/* Stores the n low bytes of v at b, least significant first. */
static void le_store(unsigned char *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Writes out the buffer (all of it: write may take less), remembering the first error. */
static void flush(writer *w)
{
    size_t off = 0;
    while (off < w->used && !w->err) {
        ssize_t k = write(w->fd, w->buf + off, w->used - off);
        if (k > 0)
            off += (size_t)k;
        else if (k == 0)
            w->err = EIO;
        else if (errno != EINTR)
            w->err = errno;
    }
    w->used = 0;
}

/* Appends n bytes: hashed into the file's and the record's checksums, buffered, written out
 * when the buffer fills. After a failed write only the hashing goes on (the save is lost). */
static void put(writer *w, const void *p, size_t n)
{
    XXH3_64bits_update(&w->file_h, p, n);
    XXH3_64bits_update(&w->rec_h, p, n);
    const unsigned char *s = p;
    while (n && !w->err) {
        size_t k = WRITE_BUF - w->used < n ? WRITE_BUF - w->used : n;
        memcpy(w->buf + w->used, s, k);
        w->used += k, s += k, n -= k;
        if (w->used == WRITE_BUF)
            flush(w);
    }
}

/* An n-byte little-endian field. */
static void put_le(writer *w, uint64_t v, int n)
{
    unsigned char b[8];
    le_store(b, v, n);
    put(w, b, (size_t)n);
}

/* A length and the bytes of a name. */
static void put_name(writer *w, const char *s, size_t len)
{
    put_le(w, len, 4);
    put(w, s, len);
}

/* Values as IEEE-754 binary32 (float build) or binary64 (double build), little-endian. */
#ifdef AG_DOUBLE
typedef uint64_t real_bits;
#else
typedef uint32_t real_bits;
#endif
static void put_values(writer *w, const ag_real *v, size_t n)
{
    unsigned char chunk[4096];
    const size_t per = sizeof chunk / sizeof(real_bits);
    while (n) {
        size_t k = n < per ? n : per;
        for (size_t i = 0; i < k; i++) {
            real_bits u;
            memcpy(&u, &v[i], sizeof u);
            le_store(chunk + i * sizeof u, u, (int)sizeof u);
        }
        put(w, chunk, k * sizeof(real_bits));
        v += k, n -= k;
    }
}

/* One record: name, shape, byte length, data, then the XXH3-64 of all of those. */
static void put_record(writer *w, const char *name, size_t len, const ag_tensor *t)
{
    XXH3_64bits_reset(&w->rec_h);
    put_name(w, name, len);
    put_le(w, (uint64_t)t->shape.ndim, 4);
    for (int i = 0; i < t->shape.ndim; i++)
        put_le(w, (uint64_t)t->shape.d[i], 8);
    put_le(w, t->numel * sizeof(ag_real), 8);
    put_values(w, t->data, t->numel);
    put_le(w, XXH3_64bits_digest(&w->rec_h), 8);
}

/* The 40-byte header: magic, version, flags, element size, tensor count, file size, and the
 * XXH3-64 of those 32 bytes. */
static void put_header(writer *w, const plan *p)
{
    unsigned char h[AGI_CKPT_HEADER];
    memcpy(h, AGI_CKPT_MAGIC, 8);
    le_store(h + 8, AGI_CKPT_VERSION, 4);
    le_store(h + 12, p->opt ? AGI_CKPT_HAS_OPTIM : 0, 4);
    le_store(h + 16, sizeof(ag_real), 4);
    le_store(h + 20, (uint64_t)p->params->n, 4);
    le_store(h + 24, p->size, 8);
    le_store(h + 32, XXH3_64bits(h, 32), 8);
    put(w, h, sizeof h);
}

/* The optimizer section: name, step count, learning rate, buffers per parameter, then the
 * buffers of each parameter in the order of the tensor records. */
static void put_optim(writer *w, const plan *p)
{
    const char *algo = ag_optim_name(p->opt);
    double lr = ag_optim_get_lr(p->opt);
    uint64_t lr_bits;
    memcpy(&lr_bits, &lr, 8);
    put_name(w, algo, strlen(algo));
    put_le(w, (uint64_t)ag_optim_step_count(p->opt), 8);
    put_le(w, lr_bits, 8);
    put_le(w, (uint64_t)p->nstate, 4);
    for (int i = 0; i < p->params->n; i++)
        for (int k = 0; k < p->nstate; k++) {
            const char *name;
            const ag_tensor *b = ag_optim_state(p->opt, p->names[i].index, k, &name);
            put_record(w, name, strlen(name), b);
        }
}

/* The whole file into fd; 0 or the errno of the first failed write. */
static int write_all(int fd, unsigned char *buf, const plan *p)
{
    writer w = { .fd = fd, .buf = buf };
    XXH3_INITSTATE(&w.file_h);
    XXH3_INITSTATE(&w.rec_h);
    XXH3_64bits_reset(&w.file_h);
    put_header(&w, p);
    for (int i = 0; i < p->params->n; i++)
        put_record(&w, p->names[i].s, p->names[i].len, p->params->tensors[p->names[i].index]);
    if (p->opt)
        put_optim(&w, p);
    ag_rng_state rng = ag_get_rng_state();
    for (int i = 0; i < 4; i++)
        put_le(&w, rng.s[i], 8);
    put_le(&w, XXH3_64bits_digest(&w.file_h), 8);
    flush(&w);
    return w.err;
}

/* ---------------------------------------------------------------------------------------
 * The file: a locked temporary beside the target, committed by rename
 * ------------------------------------------------------------------------------------- */

/* Where a save writes: `path.tmp`, and the folder holding both (whose entry must be synced
 * after the rename). They live in the save's one allocation, after the write buffer. */
typedef struct paths {
    const char *path;
    char *tmp, *dir;
} paths;

/* Fills ps from path into mem (2 * strlen(path) + 8 bytes): "path.tmp", then the folder
 * ("dir" of "dir/name", "/" of "/name", "." of "name"). */
static void make_paths(paths *ps, const char *path, char *mem)
{
    size_t len = strlen(path);
    const char *slash = strrchr(path, '/');
    ps->path = path;
    ps->tmp = mem;
    memcpy(ps->tmp, path, len);
    memcpy(ps->tmp + len, ".tmp", 5);
    ps->dir = ps->tmp + len + 5;
    if (!slash)
        strcpy(ps->dir, ".");
    else {
        size_t dlen = slash == path ? 1 : (size_t)(slash - path);
        memcpy(ps->dir, path, dlen);
        ps->dir[dlen] = 0;
    }
}

/* The target may be absent or a regular file; anything else (a folder, /dev/null) is
 * refused before a temporary file is made beside it. */
static bool target_ok(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISREG(st.st_mode))
            return true;
        ag_fail(AG_ERR_IO, OP ": '%s' is not a regular file", path);
        return false;
    }
    if (errno == ENOENT)
        return true;
    agi_io_fail(OP, "reach", path, errno);
    return false;
}

/* Locks fd and checks that it is still the regular file named tmp (another save may have
 * renamed or removed it while we waited). 1 if so, 0 if it went away, -1 on error. */
static int lock_current(int fd, const char *tmp)
{
    struct stat a, b;
    if (fstat(fd, &a) != 0)
        return -1;
    if (!S_ISREG(a.st_mode))
        return errno = EINVAL, -1;
    int r;
    while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (r != 0)
        return -1;
    if (lstat(tmp, &b) != 0)
        return errno == ENOENT ? 0 : -1;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Opens the temporary file, exclusively locked and emptied; -1 with errno on failure.
 * O_NOFOLLOW: a symbolic link planted at path.tmp is not followed; O_NONBLOCK: a FIFO there
 * does not hang the save. */
static int open_locked(const char *tmp)
{
    for (int attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
        if (fd < 0)
            return -1;
        int r = lock_current(fd, tmp);
        if (r > 0 && ftruncate(fd, 0) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (r != 0) {
            errno = e;
            return -1;
        }
    }
    errno = EBUSY;
    return -1;
}

/* fsync of the folder, so that the rename itself survives a power cut. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = fsync(fd) != 0 ? errno : 0;
    close(fd);
    return e;
}

/* Writes, syncs and renames the temporary file over the target, holding its lock throughout;
 * on failure removes it (it is still ours: nobody renames a file they have not locked). */
static ag_status commit(const paths *ps, unsigned char *buf, const plan *p)
{
    int fd = open_locked(ps->tmp);
    if (fd < 0)
        return agi_io_fail(OP, "create", ps->tmp, errno);
    const char *what = "write";
    int e = write_all(fd, buf, p);
    if (!e && fsync(fd) != 0)
        e = errno, what = "sync";
    if (!e && rename(ps->tmp, ps->path) != 0)
        e = errno, what = "rename";
    if (e) {
        unlink(ps->tmp);
        close(fd);
        return agi_io_fail(OP, what, ps->tmp, e);
    }
    e = sync_dir(ps->dir);
    close(fd);
    return e ? agi_io_fail(OP, "sync the folder", ps->dir, e) : AG_OK;
}

/* Refuses while an error is pending (as the optimizers do: the message would be lost), then
 * checks the path, the parameters and the optimizer before anything is written. */
ag_status ag_checkpoint_save(const char *path, const ag_params *params, ag_optimizer *opt)
{
    agi_ckpt_name *names;
    ag_status st = agi_ckpt_begin(OP, true, path, params, &names);
    if (st != AG_OK)
        return st;
    plan p = { .params = params, .opt = opt, .names = names };
    unsigned char *mem = NULL;
    if (make_plan(&p) && target_ok(path) &&
        (mem = agi_alloc(WRITE_BUF + 2 * strlen(path) + 8))) {
        paths ps;
        make_paths(&ps, path, (char *)mem + WRITE_BUF);
        commit(&ps, mem, &p);
    }
    agi_release(mem);
    agi_release(names);
    return ag_error();
}
