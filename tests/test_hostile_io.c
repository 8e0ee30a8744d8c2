/* test_hostile_io.c — checkpoints given bad arguments, odd paths and files that lie: each
 * refused with its own message, nothing changed, nothing left behind, nothing hangs.
 *
 * The lying files are built here byte by byte from docs/checkpoint-format.md (an independent
 * writer of the format), with valid checksums, so that each reaches the check it aims at. */
#define _GNU_SOURCE /* mkdtemp, mkfifo */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <xxhash.h>

#include "agrad.h"
#include "io_test_util.h"

static void teardown(void)
{
    ag_set_allocator(NULL);
    ag_step_end();
    ag_clear_error();
    scratch_done();
}
TestSuite(hostile_io, .fini = teardown);

/* `call` returns `code` and records exactly `msg` (a printf format over the remaining
 * arguments); the error is cleared afterwards. A failure names the call, or `label` with
 * expect_status_as. */
#define expect_status_as(label, call, code, ...)                                            \
    do {                                                                                    \
        char want_[1200];                                                                   \
        snprintf(want_, sizeof want_, __VA_ARGS__);                                         \
        ag_status st_ = (call);                                                             \
        cr_expect_eq(st_, (code), "%s: status %d (%s)", (label), (int)st_, ag_error_message()); \
        cr_expect_str_eq(ag_error_message(), want_, "%s:\n  got  \"%s\"\n  want \"%s\"", (label), \
                         ag_error_message(), want_);                                        \
        ag_clear_error();                                                                   \
    } while (0)
#define expect_status(call, code, ...) expect_status_as(#call, call, code, __VA_ARGS__)

/* One parameter "w" of shape [2] holding (1, 2), and its list. */
typedef struct one {
    ag_tensor *t;
    const char *names[1];
    ag_params p;
} one;

static one *one_new(void)
{
    static one o;
    o.t = ag_set_requires_grad(ag_from((ag_real[]){ 1, 2 }, 2, AG_SHAPE(2)), true);
    o.names[0] = "w";
    o.p = (ag_params){ 1, &o.t, o.names };
    return &o;
}

/* ---------------------------------------------------------------------------------------
 * Arguments
 * ------------------------------------------------------------------------------------- */

Test(hostile_io, bad_arguments)
{
    one *o = one_new();
    const char *path = scratch_path("a.ckpt");
    ag_tensor *two[2] = { o->t, NULL };
    /* save and load check the path and the list alike (an empty list: n 0 for save, -3 for
     * load); the failure message names the function */
    const struct {
        const char *name;
        ag_status (*fn)(const char *, const ag_params *, ag_optimizer *);
        int empty_n;
    } fns[] = { { "checkpoint_save", ag_checkpoint_save, 0 },
                { "checkpoint_load", ag_checkpoint_load, -3 } };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        const char *f = fns[i].name;
        expect_status(fns[i].fn(NULL, &o->p, NULL), AG_ERR_ARG, "%s: path is NULL", f);
        expect_status(fns[i].fn("", &o->p, NULL), AG_ERR_ARG, "%s: path is empty", f);
        expect_status(fns[i].fn(path, NULL, NULL), AG_ERR_ARG, "%s: params is NULL", f);
        expect_status(fns[i].fn(path, &(ag_params){ fns[i].empty_n, two, NULL }, NULL),
                      AG_ERR_ARG, "%s: the parameter list is empty", f);
    }
    expect_status(ag_checkpoint_save(path, &(ag_params){ 1, NULL, NULL }, NULL), AG_ERR_ARG,
                  "checkpoint_save: params->tensors is NULL");
    expect_status(ag_checkpoint_save(path, &(ag_params){ 2, two, NULL }, NULL), AG_ERR_ARG,
                  "checkpoint_save: parameter 1 is NULL");
    cr_expect_eq(scratch_count(NULL, NULL, 0), 0, "a refused save wrote something");
    ag_free(o->t);
}

Test(hostile_io, bad_parameter_names_and_tensors)
{
    one *o = one_new();
    const char *path = scratch_path("a.ckpt");
    ag_tensor *tape = ag_add(o->t, o->t);
    char longname[1100];
    memset(longname, 'x', 1025);
    longname[1025] = 0;
    ag_tensor *twice[2] = { o->t, ag_zeros(AG_SHAPE(3)) };
    expect_status(ag_checkpoint_save(path, &(ag_params){ 1, &tape, NULL }, NULL), AG_ERR_ARG,
                  "checkpoint_save: parameter 0 is not a heap tensor (parameters are leaves "
                  "made by ag_zeros, ag_randn, ag_clone, ...)");
    expect_status(ag_checkpoint_save(path, &(ag_params){ 2, twice, (const char *[]){ "w", "w" } },
                                     NULL),
                  AG_ERR_ARG, "checkpoint_save: parameters 0 and 1 are both named 'w'");
    expect_status(ag_checkpoint_save(path, &(ag_params){ 1, twice, (const char *[]){ "" } }, NULL),
                  AG_ERR_ARG, "checkpoint_save: parameter 0 has an empty name");
    expect_status(ag_checkpoint_save(path, &(ag_params){ 1, twice, (const char *[]){ longname } },
                                     NULL),
                  AG_ERR_ARG, "checkpoint_save: parameter 0 has a name of 1025 bytes (at most "
                  "1024)");
    /* a NULL entry in a list of names falls back to the index */
    cr_expect_eq(ag_checkpoint_save(path, &(ag_params){ 2, twice, (const char *[]){ "w", NULL } },
                                    NULL),
                 AG_OK, "%s", ag_error_message());
    expect_status(ag_checkpoint_load(path, &(ag_params){ 2, twice, (const char *[]){ "w", "1" } },
                                     NULL),
                  AG_OK, "%s", "");
    ag_free(twice[1]);
    ag_free(o->t);
}

/* An optimizer that is not over the given parameters is refused, at save and at load. */
Test(hostile_io, optimizer_over_other_parameters)
{
    one *o = one_new();
    ag_tensor *other = ag_set_requires_grad(ag_zeros(AG_SHAPE(3)), true);
    ag_tensor *both[2] = { o->t, other };
    ag_optimizer *on_other = ag_adam_new(&(ag_params){ 1, &other, NULL }, (ag_adam_opts){ 0 });
    ag_optimizer *on_one = ag_adam_new(&o->p, (ag_adam_opts){ 0 });
    const char *path = scratch_path("a.ckpt");
    expect_status(ag_checkpoint_save(path, &o->p, on_other), AG_ERR_ARG,
                  "checkpoint_save: optimizer state 'exp_avg' of parameter 0 has shape [3], the "
                  "parameter [2] (was the optimizer made over these parameters?)");
    expect_status(ag_checkpoint_save(path, &(ag_params){ 2, both, (const char *[]){ "w", "v" } },
                                     on_one),
                  AG_ERR_ARG, "adam: state of parameter 1 requested, but there are 1");
    cr_expect_eq(scratch_count(NULL, NULL, 0), 0);
    cr_assert_eq(ag_checkpoint_save(path, &o->p, on_one), AG_OK, "%s", ag_error_message());
    expect_status(ag_checkpoint_load(path, &o->p, on_other), AG_ERR_SHAPE,
                  "checkpoint_load: '%s': tensor 'w': the optimizer's state 'exp_avg' has shape "
                  "[3] (was the optimizer made over these parameters?)", path);
    ag_optim_free(on_other), ag_optim_free(on_one);
    ag_free(other), ag_free(o->t);
}

/* A pending error is returned untouched: no file is written or read. */
Test(hostile_io, pending_error)
{
    one *o = one_new();
    const char *path = scratch_path("a.ckpt");
    ag_fail(AG_ERR_SHAPE, "earlier: something went wrong");
    cr_expect_eq(ag_checkpoint_save(path, &o->p, NULL), AG_ERR_SHAPE);
    cr_expect_eq(ag_checkpoint_load(path, &o->p, NULL), AG_ERR_SHAPE);
    cr_expect_str_eq(ag_error_message(), "earlier: something went wrong");
    cr_expect_eq(scratch_count(NULL, NULL, 0), 0);
    ag_clear_error();
    ag_free(o->t);
}

/* ---------------------------------------------------------------------------------------
 * Paths that are not files
 * ------------------------------------------------------------------------------------- */

Test(hostile_io, folders_devices_and_fifos)
{
    one *o = one_new();
    const char *dir = scratch_dir();
    expect_status(ag_checkpoint_save(dir, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_save: '%s' is not a regular file", dir);
    expect_status(ag_checkpoint_load(dir, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_load: '%s' is not a regular file", dir);
    expect_status(ag_checkpoint_save("/dev/null", &o->p, NULL), AG_ERR_IO,
                  "checkpoint_save: '/dev/null' is not a regular file");
    cr_expect_neq(access("/dev/null.tmp", F_OK), 0, "a temporary file was made in /dev");
    expect_status(ag_checkpoint_load("/dev/null", &o->p, NULL), AG_ERR_IO,
                  "checkpoint_load: '/dev/null' is not a regular file");
    const char *fifo = scratch_path("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    expect_status(ag_checkpoint_load(fifo, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_load: '%s' is not a regular file", fifo);
    expect_status(ag_checkpoint_save(fifo, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_save: '%s' is not a regular file", fifo);
    cr_expect_eq(ag_cdata(o->t)[0], 1);
    ag_free(o->t);
}

Test(hostile_io, missing_folders_and_files_in_the_way)
{
    one *o = one_new();
    const char *deep = scratch_path("no/such/a.ckpt");
    expect_status(ag_checkpoint_save(deep, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_save: cannot create '%s.tmp': No such file or directory", deep);
    const char *file = scratch_path("file");
    file_write(file, "x", 1);
    const char *through = scratch_path("file/a.ckpt");
    expect_status(ag_checkpoint_save(through, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_save: cannot reach '%s': Not a directory", through);
    expect_status(ag_checkpoint_load(through, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_load: cannot open '%s': Not a directory", through);
    ag_free(o->t);
}

/* Something planted at path.tmp: a symbolic link is not followed (its target is not
 * overwritten), a folder is not written into. The old checkpoint survives both. */
Test(hostile_io, things_planted_at_the_temporary_path)
{
    one *o = one_new();
    const char *path = scratch_path("a.ckpt"), *tmp = scratch_path("a.ckpt.tmp");
    const char *victim = scratch_path("victim");
    cr_assert_eq(ag_checkpoint_save(path, &o->p, NULL), AG_OK);
    file_write(victim, "keep", 4);
    cr_assert_eq(symlink(victim, tmp), 0);
    expect_status(ag_checkpoint_save(path, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_save: cannot create '%s': Too many levels of symbolic links", tmp);
    size_t n;
    unsigned char *v = file_read(victim, &n);
    cr_expect(n == 4 && !memcmp(v, "keep", 4), "the link's target was written");
    free(v);
    remove(tmp);
    cr_assert_eq(mkdir(tmp, 0700), 0);
    expect_status(ag_checkpoint_save(path, &o->p, NULL), AG_ERR_IO,
                  "checkpoint_save: cannot create '%s': Is a directory", tmp);
    rmdir(tmp);
    cr_expect_eq(ag_checkpoint_load(path, &o->p, NULL), AG_OK, "%s", ag_error_message());
    ag_free(o->t);
}

/* A write that fails midway (the file size limit, as a full disk would): AG_ERR_IO with the
 * system's reason, the temporary file removed, the previous checkpoint intact. In a child,
 * which may lower its own limit. */
Test(hostile_io, write_fails_midway)
{
    ag_module *big = mlp_new(1, 64, 64, 4), *small = mlp_new(2, 64, 64, 4);
    const char *path = scratch_path("a.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(small), NULL), AG_OK);
    size_t before_size;
    unsigned char *before = file_read(path, &before_size);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &(struct rlimit){ 10000, 10000 });
        ag_status st = ag_checkpoint_save(path, ag_parameters(big), NULL);
        char want[600];
        snprintf(want, sizeof want, "checkpoint_save: cannot write '%s.tmp': File too large",
                 path);
        _exit(st == AG_ERR_IO && !strcmp(ag_error_message(), want) ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's save: status %d",
              status);
    size_t after_size;
    unsigned char *after = file_read(path, &after_size);
    cr_expect(after_size == before_size && !memcmp(before, after, after_size),
              "the previous checkpoint changed");
    cr_expect_eq(scratch_count(NULL, NULL, 0), 1, "the temporary file was left");
    free(before), free(after);
    ag_module_free(big), ag_module_free(small);
}

/* Allocation hooks that refuse: the save's buffer, the load's copy of the file. */
static void *refuse_big(size_t size, void *user)
{
    (void)user;
    return size >= 4096 ? NULL : malloc(size);
}
static void release(void *p, void *user)
{
    (void)user;
    free(p);
}

Test(hostile_io, out_of_memory)
{
    ag_module *m = mlp_new(1, 64, 64, 4);
    const char *path = scratch_path("a.ckpt"), *other = scratch_path("b.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(m), NULL), AG_OK);
    size_t n;
    free(file_read(path, &n));
    ag_set_allocator(&(ag_allocator){ refuse_big, release, NULL });
    expect_status(ag_checkpoint_save(other, ag_parameters(m), NULL), AG_ERR_OOM,
                  "out of memory allocating %zu bytes", (size_t)65536 + 2 * strlen(other) + 8);
    expect_status(ag_checkpoint_load(path, ag_parameters(m), NULL), AG_ERR_OOM,
                  "out of memory allocating %zu bytes", n);
    ag_set_allocator(NULL);
    cr_expect_eq(scratch_count(NULL, NULL, 0), 1);
    ag_module_free(m);
}

/* ---------------------------------------------------------------------------------------
 * Files that lie: built here, byte by byte, with checksums that hold
 * ------------------------------------------------------------------------------------- */

typedef struct ckb {
    unsigned char b[4096];
    size_t n;
} ckb;

static void put(ckb *c, const void *p, size_t k)
{
    cr_assert(c->n + k <= sizeof c->b);
    memcpy(c->b + c->n, p, k);
    c->n += k;
}

static void put_le(ckb *c, uint64_t v, int k)
{
    cr_assert(c->n + (size_t)k <= sizeof c->b);
    for (int i = 0; i < k; i++)
        c->b[c->n++] = (unsigned char)(v >> (8 * i));
}

static void set_le(ckb *c, size_t at, uint64_t v, int k)
{
    for (int i = 0; i < k; i++)
        c->b[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

/* Magic, version 1, flags, element size, count; the size and checksum are set by seal. */
static void header(ckb *c, uint32_t flags, uint32_t elem, uint32_t count)
{
    c->n = 0;
    put(c, "AGRADCKP", 8);
    put_le(c, 1, 4);
    put_le(c, flags, 4);
    put_le(c, elem, 4);
    put_le(c, count, 4);
    put_le(c, 0, 8);
    put_le(c, 0, 8);
}

/* A record of elem-byte values (4: float32, 8: float64) with its checksum. */
static void record(ckb *c, const char *name, ag_shape s, const double *v, uint32_t elem)
{
    size_t start = c->n, n = ag_shape_numel(s);
    put_le(c, strlen(name), 4);
    put(c, name, strlen(name));
    put_le(c, (uint64_t)s.ndim, 4);
    for (int i = 0; i < s.ndim; i++)
        put_le(c, (uint64_t)s.d[i], 8);
    put_le(c, n * elem, 8);
    for (size_t i = 0; i < n; i++) {
        float f = (float)v[i];
        uint32_t u32;
        uint64_t u64;
        memcpy(&u32, &f, 4);
        memcpy(&u64, &v[i], 8);
        put_le(c, elem == 4 ? u32 : u64, (int)elem);
    }
    put_le(c, XXH3_64bits(c->b + start, c->n - start), 8);
}

static void optim(ckb *c, const char *algo, int64_t step, double lr, uint32_t nstate)
{
    uint64_t bits;
    memcpy(&bits, &lr, 8);
    put_le(c, strlen(algo), 4);
    put(c, algo, strlen(algo));
    put_le(c, (uint64_t)step, 8);
    put_le(c, bits, 8);
    put_le(c, nstate, 4);
}

/* The generator (1, 2, 3, 4), then the file size, the header checksum and the trailer. */
static void seal(ckb *c)
{
    for (int i = 1; i <= 4; i++)
        put_le(c, (uint64_t)i, 8);
    set_le(c, 24, c->n + 8, 8);
    set_le(c, 32, XXH3_64bits(c->b, 32), 8);
    put_le(c, XXH3_64bits(c->b, c->n), 8);
}

/* After patching a sealed file: the header checksum and the trailer again. */
static void reseal(ckb *c)
{
    set_le(c, 32, XXH3_64bits(c->b, 32), 8);
    set_le(c, c->n - 8, XXH3_64bits(c->b, c->n - 8), 8);
}

static const double W[2] = { 0.1, -2.5 }, ZERO[2] = { 0, 0 }, V3[3] = { 1, 2, 3 };

/* A sound file for one parameter "w" = (0.1, -2.5), with Adam state if `with_optim`. */
static void sound(ckb *c, bool with_optim, uint32_t elem)
{
    header(c, with_optim, elem, 1);
    record(c, "w", AG_SHAPE(2), W, elem);
    if (with_optim) {
        optim(c, "adam", 5, 0.5, 2);
        record(c, "exp_avg", AG_SHAPE(2), W, elem);
        record(c, "exp_avg_sq", AG_SHAPE(2), ZERO, elem);
    }
    seal(c);
}

/* Writes the built file and loads it into "w" (with Adam if opt): expects code and exactly
 * "checkpoint_load: 'path': msg", and that a refused load changed nothing. A failure names
 * the load, or `label` (the case of a table) with expect_file_as. */
static void expect_file_as(const char *label, ckb *c, one *o, ag_optimizer *opt,
                           ag_status code, const char *msg)
{
    const char *path = scratch_path("lie.ckpt");
    remove(path);
    file_write(path, c->b, c->n);
    snap before = snap_take(&o->p, opt);
    if (code == AG_OK)
        expect_status_as(label, ag_checkpoint_load(path, &o->p, opt), code, "%s", "");
    else
        expect_status_as(label, ag_checkpoint_load(path, &o->p, opt), code,
                         "checkpoint_load: '%s': %s", path, msg);
    snap after = snap_take(&o->p, opt);
    if (code != AG_OK)
        expect_snap_eq(&before, &after, "%s: a refused load changed something: %s", label, msg);
    snap_free(&before), snap_free(&after);
}

static void expect_file(ckb *c, one *o, ag_optimizer *opt, ag_status code, const char *msg)
{
    expect_file_as("ag_checkpoint_load(path, &o->p, opt)", c, o, opt, code, msg);
}

/* A lie told by patching a sound one-tensor float file (sound(&c, false, 4)): the k-byte
 * little-endian field at byte `at` set to v, then the header checksum and the trailer made to
 * hold again unless `raw`; msg is what the refused load must say. */
typedef struct patch {
    size_t at;
    uint64_t v;
    int k;
    bool raw;
    const char *msg;
} patch;

/* Each patch on a fresh sound file is refused with AG_ERR_FORMAT and its message; a failure
 * names the patch by its index and field. */
static void expect_patches_refused(one *o, const patch *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ckb c;
        sound(&c, false, 4);
        set_le(&c, ps[i].at, ps[i].v, ps[i].k);
        if (!ps[i].raw)
            reseal(&c);
        char label[64];
        snprintf(label, sizeof label, "patch %zu (byte %zu set to %#llx)", i, ps[i].at,
                 (unsigned long long)ps[i].v);
        expect_file_as(label, &c, o, NULL, AG_ERR_FORMAT, ps[i].msg);
    }
}

/* The format as documented, written independently, loads: values, optimizer, generator. */
Test(hostile_io, hand_built_file_loads)
{
    one *o = one_new();
    ag_optimizer *opt = ag_adam_new(&o->p, (ag_adam_opts){ 0 });
    ckb c;
    sound(&c, true, 4);
    expect_file(&c, o, opt, AG_OK, NULL);
    cr_expect_eq(ag_cdata(o->t)[0], 0.1f);
    cr_expect_eq(ag_cdata(o->t)[1], -2.5f);
    cr_expect_eq(ag_cdata(ag_optim_state(opt, 0, 0, NULL))[0], 0.1f);
    cr_expect_eq(ag_optim_step_count(opt), 5);
    cr_expect_eq(ag_optim_get_lr(opt), 0.5);
    ag_rng_state r = ag_get_rng_state();
    cr_expect(r.s[0] == 1 && r.s[1] == 2 && r.s[2] == 3 && r.s[3] == 4);
    /* a double build's file (float64 values) loads into the float build, rounded */
    sound(&c, false, 8);
    ag_data(o->t)[0] = 0;
    expect_file(&c, o, NULL, AG_OK, NULL);
    cr_expect_eq(ag_cdata(o->t)[0], (float)0.1);
    ag_optim_free(opt);
    ag_free(o->t);
}

Test(hostile_io, empty_and_foreign_files)
{
    one *o = one_new();
    ckb c = { .n = 0 };
    expect_file(&c, o, NULL, AG_ERR_FORMAT, "truncated at byte 0 (the header needs 40 bytes)");
    put(&c, "hello, world\n", 13);
    expect_file(&c, o, NULL, AG_ERR_FORMAT,
                "not an agrad checkpoint (it does not start with AGRADCKP)");
    ag_free(o->t);
}

/* Header fields that lie, with a header checksum that holds. */
Test(hostile_io, lying_header)
{
    one *o = one_new();
    ckb c;
    sound(&c, false, 4);
    size_t n = c.n;
    char count[200], trunc[200], size[200];
    snprintf(count, sizeof count,
             "tensor count 4294967295 exceeds what the file can hold (%zu bytes)", n);
    snprintf(trunc, sizeof trunc, "truncated at byte %zu (the header says the file has %d bytes)",
             n, 1 << 30);
    snprintf(size, sizeof size, "the file has %zu bytes, the header says 100", n);
    const patch lies[] = {
        { 20, 0xffffffff, 4, false, count },
        { 24, 1 << 30, 8, false, trunc },
        { 24, 100, 8, false, size },
        { 12, 2, 4, false, "unknown flags 0x2" },
        { 16, 2, 4, false, "element size 2 is not supported (4: float32, 8: float64)" },
        { 8, 7, 4, true, "format version 7 is not supported (this build reads version 1)" },
    };
    expect_patches_refused(o, lies, sizeof lies / sizeof lies[0]);
    header(&c, 0, 4, 0);
    set_le(&c, 24, 40, 8);
    set_le(&c, 32, XXH3_64bits(c.b, 32), 8);
    expect_file(&c, o, NULL, AG_ERR_FORMAT, "a file of 40 bytes is too small to be a checkpoint");
    ag_free(o->t);
}

/* Record fields that lie. The record layout after the 40-byte header: name length (40), name
 * "w" (44), ndim (45), dims (49), byte length, data, checksum. */
Test(hostile_io, lying_records)
{
    one *o = one_new();
    ckb c;
    sound(&c, false, 4);
    char left[200];
    snprintf(left, sizeof left, "tensor 0: the name at byte 44 needs 1000 bytes, only %zu are left",
             c.n - 8 - 44);
    const patch lies[] = {
        { 40, 0xffffffff, 4, false, "tensor 0: name length 4294967295 (must be 1 to 1024)" },
        { 40, 1000, 4, false, left },
        { 45, 9, 4, false, "tensor 'w': 9 dimensions (at most 8)" },
        { 49, (uint64_t)-1, 8, false, "tensor 'w': negative dimension in shape [-1]" },
        { 49, (uint64_t)1 << 62, 8, false,
          "tensor 'w': shape [4611686018427387904] needs more bytes than the file has" },
        { 57, 4, 8, false, "tensor 'w': byte length 4, but the shape needs 8" },
    };
    expect_patches_refused(o, lies, sizeof lies / sizeof lies[0]);
    c.b[65] ^= 1; /* a value: only the record's checksum can tell */
    reseal(&c);
    expect_file(&c, o, NULL, AG_ERR_FORMAT, "tensor 'w': checksum mismatch");
    ag_free(o->t);
}

/* Two dims whose product overflows 64 bits, and a zero-size dim beside a huge one. */
Test(hostile_io, overflowing_and_empty_shapes)
{
    one *o = one_new();
    ckb c;
    header(&c, 0, 4, 1);
    record(&c, "w", AG_SHAPE(1LL << 62, 1LL << 62, 0), NULL, 4);
    seal(&c);
    expect_file(&c, o, NULL, AG_ERR_SHAPE,
                "tensor 'w': shape [4611686018427387904,4611686018427387904,0] in file, model "
                "has [2]");
    header(&c, 0, 4, 1);
    record(&c, "w", AG_SHAPE(1LL << 62, 1LL << 62), NULL, 4);
    seal(&c);
    expect_file(&c, o, NULL, AG_ERR_FORMAT,
                "tensor 'w': shape [4611686018427387904,4611686018427387904] needs more bytes "
                "than the file has");
    ag_tensor *e = ag_zeros(AG_SHAPE(0, 5));
    header(&c, 0, 4, 1);
    record(&c, "e", AG_SHAPE(0, 5), NULL, 4);
    seal(&c);
    const char *path = scratch_path("e.ckpt");
    file_write(path, c.b, c.n);
    cr_expect_eq(ag_checkpoint_load(path, &(ag_params){ 1, &e, (const char *[]){ "e" } }, NULL),
                 AG_OK, "%s", ag_error_message());
    ag_free(e);
    ag_free(o->t);
}

/* A file of n records of shape [2] holding W, named names[0..n), is refused with
 * AG_ERR_FORMAT and msg; a failure names the file by its count and first name. */
static void expect_names_refused(one *o, uint32_t n, const char *const *names, const char *msg)
{
    ckb c;
    header(&c, 0, 4, n);
    for (uint32_t i = 0; i < n; i++)
        record(&c, names[i], AG_SHAPE(2), W, 4);
    seal(&c);
    char label[64];
    snprintf(label, sizeof label, "a file of %u records, the first named '%s'", n, names[0]);
    expect_file_as(label, &c, o, NULL, AG_ERR_FORMAT, msg);
}

Test(hostile_io, names_out_of_order_twice_and_unprintable)
{
    one *o = one_new();
    expect_names_refused(o, 2, (const char *[]){ "w", "v" },
                         "tensor 'v' follows tensor 'w' (names must be in increasing order, "
                         "each once)");
    expect_names_refused(o, 2, (const char *[]){ "w", "w" },
                         "tensor 'w' follows tensor 'w' (names must be in increasing order, "
                         "each once)");
    expect_names_refused(o, 1, (const char *[]){ "\x01\xff" },
                         "tensor '?\?' of the file is not in the model");
    char longname[101];
    memset(longname, 'a', 100);
    longname[100] = 0;
    expect_names_refused(o, 1, (const char *[]){ longname },
                         "tensor 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                         "...' of the file is not in the model");
    ag_free(o->t);
}

/* The optimizer section: each field that can lie. */
Test(hostile_io, lying_optimizer_section)
{
    one *o = one_new();
    ag_optimizer *opt = ag_adam_new(&o->p, (ag_adam_opts){ 0 });
    ckb c;
    struct {
        const char *algo;
        int64_t step;
        double lr;
        uint32_t nstate;
        const char *msg;
    } cases[] = {
        { "", 0, 0.1, 0, "optimizer: name length 0 (must be 1 to 64)" },
        { "adam", -1, 0.1, 0, "optimizer: step count -1 is out of range (0 to 2^53)" },
        { "adam", INT64_MAX, 0.1, 0, "optimizer: step count 9223372036854775807 is out of "
                                     "range (0 to 2^53)" },
        { "adam", 0, NAN, 0, "optimizer: learning rate nan is not a finite number >= 0" },
        { "adam", 0, -1, 0, "optimizer: learning rate -1 is not a finite number >= 0" },
        { "adam", 0, 0.1, 17, "optimizer: 17 state buffers per tensor (at most 16)" },
        { "adam", 0, 0.1, 16, "optimizer state count 16 exceeds what the file can hold (%zu "
                              "bytes)" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        header(&c, 1, 4, 1);
        record(&c, "w", AG_SHAPE(2), W, 4);
        optim(&c, cases[k].algo, cases[k].step, cases[k].lr, cases[k].nstate);
        seal(&c);
        char msg[200];
        snprintf(msg, sizeof msg, cases[k].msg, c.n);
        expect_file(&c, o, opt, AG_ERR_FORMAT, msg);
    }
    header(&c, 1, 4, 1);
    record(&c, "w", AG_SHAPE(2), W, 4);
    optim(&c, "adam", 0, 0.1, 1);
    record(&c, "exp_avg", AG_SHAPE(3), V3, 4);
    seal(&c);
    expect_file(&c, o, opt, AG_ERR_FORMAT,
                "optimizer state 'exp_avg' of tensor 'w': shape [3], but the tensor's is [2]");
    ag_optim_free(opt);
    ag_free(o->t);
}

/* The tail: an all-zero generator, bytes between the last section and the trailer. */
Test(hostile_io, lying_tail)
{
    one *o = one_new();
    ckb c;
    sound(&c, false, 4);
    memset(c.b + c.n - 40, 0, 32);
    reseal(&c);
    expect_file(&c, o, NULL, AG_ERR_FORMAT, "generator state is all zeros");
    header(&c, 0, 4, 1);
    record(&c, "w", AG_SHAPE(2), W, 4);
    put(&c, "junk", 4);
    seal(&c);
    char msg[100];
    snprintf(msg, sizeof msg, "4 bytes of unexpected data at byte %zu", c.n - 8 - 4);
    expect_file(&c, o, NULL, AG_ERR_FORMAT, msg);
    ag_free(o->t);
}
