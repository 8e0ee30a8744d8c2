/* test_checkpoint.c — checkpoints (float build): round trips of parameters, optimizer state,
 * step count, learning rate and generator; a resumed run that is bitwise the run that never
 * stopped; damaged files of every kind (truncated at every length, every byte flipped) refused
 * with AG_ERR_FORMAT and a message while the model, the optimizer and the generator stay
 * bitwise unchanged; mismatched models and optimizers; missing files and unwritable folders;
 * and crash safety: a saver SIGKILLed at random moments always leaves a loadable, complete
 * checkpoint and at most one temporary file. */
#define _GNU_SOURCE /* mkdtemp, rand_r */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "agrad.h"
#include "io_test_util.h"

static void teardown(void)
{
    ag_step_end();
    ag_clear_error();
    scratch_done();
}
TestSuite(checkpoint, .fini = teardown);

/* A model with its optimizer, loss and data, for training runs. */
typedef struct run {
    ag_module *model;
    ag_optimizer *opt;
    ag_loss *loss;
    ag_tensor *x, *y;
} run;

/* An MLP 4-8-3 (initialised from `seed`) with Adam (amsgrad: three buffers) and fixed data. */
static run run_new(uint64_t seed)
{
    run r = { .model = mlp_new(seed, 4, 8, 3) };
    r.opt = ag_adam_new(ag_parameters(r.model), (ag_adam_opts){ .lr = 0.01, .amsgrad = true });
    r.loss = ag_mse_loss_new(AG_MEAN);
    ag_manual_seed(7);
    r.x = ag_randn(AG_SHAPE(16, 4));
    r.y = ag_randn(AG_SHAPE(16, 3));
    cr_assert(r.opt && r.loss && r.x && r.y, "%s", ag_error_message());
    return r;
}

static void run_free(run *r)
{
    ag_optim_free(r->opt);
    ag_loss_free(r->loss);
    ag_module_free(r->model);
    ag_free(r->x);
    ag_free(r->y);
}

/* One training step on noisy inputs (the noise comes from the generator, so a resumed run
 * matches only if the generator was restored too); returns the loss. */
static double train_step(run *r)
{
    ag_tensor *noise = ag_randn(AG_SHAPE(16, 4));
    ag_tensor *out = ag_forward(r->model, ag_add(r->x, ag_mul_scalar(noise, 0.1)));
    ag_tensor *loss = ag_loss_forward(r->loss, out, r->y);
    ag_optim_zero_grad(r->opt);
    ag_backward(loss);
    cr_assert_eq(ag_optim_step(r->opt), AG_OK, "%s", ag_error_message());
    double v = ag_item(loss);
    ag_free(noise);
    ag_step_end();
    return v;
}

static const ag_params *params_of(run *r) { return ag_parameters(r->model); }

/* ---------------------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------------------- */

Test(checkpoint, round_trip_adam_state_step_lr_and_generator)
{
    run a = run_new(1), b = run_new(2);
    for (int i = 0; i < 3; i++)
        train_step(&a);
    ag_optim_set_lr(a.opt, 0.0123);
    snap saved = snap_take(params_of(&a), a.opt);
    const char *path = scratch_path("adam.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, params_of(&a), a.opt), AG_OK, "%s",
                 ag_error_message());
    ag_manual_seed(999);
    snap before = snap_take(params_of(&b), b.opt);
    cr_assert(!snap_eq(&saved, &before), "the two runs should differ before the load");
    cr_assert_eq(ag_checkpoint_load(path, params_of(&b), b.opt), AG_OK, "%s",
                 ag_error_message());
    snap loaded = snap_take(params_of(&b), b.opt);
    expect_snap_eq(&saved, &loaded, "the load did not restore everything bitwise");
    cr_expect_eq(ag_optim_step_count(b.opt), 3);
    cr_expect_eq(ag_optim_get_lr(b.opt), 0.0123);
    cr_expect_eq(scratch_count(NULL, NULL, 0), 1, "a temporary file was left behind");
    snap_free(&saved), snap_free(&before), snap_free(&loaded);
    run_free(&a), run_free(&b);
}

Test(checkpoint, round_trip_sgd_momentum)
{
    ag_module *ma = mlp_new(1, 3, 5, 2), *mb = mlp_new(2, 3, 5, 2);
    ag_sgd_opts o = { .lr = 0.1, .momentum = 0.9, .nesterov = true };
    ag_optimizer *oa = ag_sgd_new(ag_parameters(ma), o), *ob = ag_sgd_new(ag_parameters(mb), o);
    ag_tensor *x = ag_randn(AG_SHAPE(4, 3));
    for (int i = 0; i < 2; i++) {
        ag_optim_zero_grad(oa);
        ag_backward(ag_sum(ag_forward(ma, x)));
        cr_assert_eq(ag_optim_step(oa), AG_OK, "%s", ag_error_message());
        ag_step_end();
    }
    const char *name;
    cr_assert(ag_optim_state(oa, 0, 0, &name) && !strcmp(name, "momentum_buffer"));
    const char *path = scratch_path("sgd.ckpt");
    snap saved = snap_take(ag_parameters(ma), oa);
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(ma), oa), AG_OK, "%s",
                 ag_error_message());
    cr_assert_eq(ag_checkpoint_load(path, ag_parameters(mb), ob), AG_OK, "%s",
                 ag_error_message());
    snap loaded = snap_take(ag_parameters(mb), ob);
    expect_snap_eq(&saved, &loaded, "SGD momentum state not restored bitwise");
    cr_expect_eq(ag_optim_step_count(ob), 2);
    snap_free(&saved), snap_free(&loaded);
    ag_free(x);
    ag_optim_free(oa), ag_optim_free(ob);
    ag_module_free(ma), ag_module_free(mb);
}

/* Without an optimizer: only parameters and generator; a file with optimizer state loads
 * into a model alone; a file without it is refused by a load that asks for it. */
Test(checkpoint, parameters_only)
{
    run a = run_new(1), b = run_new(2);
    train_step(&a);
    const char *with = scratch_path("with.ckpt"), *without = scratch_path("without.ckpt");
    cr_assert_eq(ag_checkpoint_save(with, params_of(&a), a.opt), AG_OK);
    cr_assert_eq(ag_checkpoint_save(without, params_of(&a), NULL), AG_OK);
    size_t n1, n2;
    free(file_read(with, &n1));
    free(file_read(without, &n2));
    cr_expect_gt(n1, n2, "the optimizer section should make the file larger");

    snap before = snap_take(params_of(&b), b.opt);
    cr_expect_eq(ag_checkpoint_load(without, params_of(&b), b.opt), AG_ERR_FORMAT);
    char msg[600];
    snprintf(msg, sizeof msg, "checkpoint_load: '%s': the file holds no optimizer state",
             without);
    cr_expect_str_eq(ag_error_message(), msg);
    ag_clear_error();
    snap after = snap_take(params_of(&b), b.opt);
    expect_snap_eq(&before, &after, "a refused load changed something");

    cr_assert_eq(ag_checkpoint_load(with, params_of(&b), NULL), AG_OK, "%s", ag_error_message());
    snap pa = snap_take(params_of(&a), NULL), pb = snap_take(params_of(&b), NULL);
    expect_snap_eq(&pa, &pb, "parameters not restored");
    cr_expect_eq(ag_optim_step_count(b.opt), 0, "the optimizer was not asked for");
    snap_free(&before), snap_free(&after), snap_free(&pa), snap_free(&pb);
    run_free(&a), run_free(&b);
}

/* ---------------------------------------------------------------------------------------
 * Resuming: N steps, save, fresh objects, load, M steps == N + M steps straight
 * ------------------------------------------------------------------------------------- */

#define N_STEPS 7
#define M_STEPS 9

Test(checkpoint, resumed_training_is_bitwise_identical)
{
    double straight[N_STEPS + M_STEPS], resumed[N_STEPS + M_STEPS];
    run a = run_new(1);
    ag_manual_seed(42);
    for (int i = 0; i < N_STEPS + M_STEPS; i++)
        straight[i] = train_step(&a);

    const char *path = scratch_path("resume.ckpt");
    run b = run_new(1);
    ag_manual_seed(42);
    for (int i = 0; i < N_STEPS; i++)
        resumed[i] = train_step(&b);
    cr_assert_eq(ag_checkpoint_save(path, params_of(&b), b.opt), AG_OK, "%s",
                 ag_error_message());
    run_free(&b);

    run c = run_new(3); /* other initial values: the load must replace them all */
    ag_manual_seed(12345);
    cr_assert_eq(ag_checkpoint_load(path, params_of(&c), c.opt), AG_OK, "%s",
                 ag_error_message());
    for (int i = N_STEPS; i < N_STEPS + M_STEPS; i++)
        resumed[i] = train_step(&c);

    cr_expect(memcmp(straight, resumed, sizeof straight) == 0, "losses differ");
    for (int i = 0; i < N_STEPS + M_STEPS; i++)
        cr_expect(straight[i] == resumed[i], "step %d: loss %.9g straight, %.9g resumed", i,
                  straight[i], resumed[i]);
    snap sa = snap_take(params_of(&a), a.opt), sc = snap_take(params_of(&c), c.opt);
    expect_snap_eq(&sa, &sc, "parameters, state or generator differ after the resumed run");
    cr_expect_lt(straight[N_STEPS + M_STEPS - 1], straight[0], "training should progress");
    snap_free(&sa), snap_free(&sc);
    run_free(&a), run_free(&c);
}

/* ---------------------------------------------------------------------------------------
 * Damaged files
 * ------------------------------------------------------------------------------------- */

/* A small run (Linear 2-1 through the MLP helper is 2-1-1) saved once; the tests damage
 * copies of its file. */
typedef struct small {
    run r;
    unsigned char *bytes;
    size_t size;
    snap before;
} small;

static small small_saved(void)
{
    small s = { .r = { .model = mlp_new(5, 2, 1, 1) } };
    s.r.opt = ag_adam_new(ag_parameters(s.r.model), (ag_adam_opts){ .lr = 0.01 });
    const char *path = scratch_path("good.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(s.r.model), s.r.opt), AG_OK, "%s",
                 ag_error_message());
    s.bytes = file_read(path, &s.size);
    ag_manual_seed(77); /* a generator state unlike the file's */
    s.before = snap_take(ag_parameters(s.r.model), s.r.opt);
    return s;
}

static void small_free(small *s)
{
    free(s->bytes);
    snap_free(&s->before);
    ag_optim_free(s->r.opt);
    ag_module_free(s->r.model);
}

/* Loads `size` bytes (a damaged copy) and expects AG_ERR_FORMAT with a message that starts
 * with the path and contains `part` (if not NULL), and that nothing changed. Returns whether
 * the message blamed a checksum. */
static bool expect_refused(small *s, const unsigned char *bytes, size_t size, const char *part,
                           const char *what)
{
    const char *path = scratch_path("bad.ckpt");
    remove(path); /* a new file: rewriting one in place makes ext4 flush it on close */
    file_write(path, bytes, size);
    ag_status st = ag_checkpoint_load(path, ag_parameters(s->r.model), s->r.opt);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "checkpoint_load: '%s': ", path);
    const char *msg = ag_error_message();
    cr_assert_eq(st, AG_ERR_FORMAT, "%s: status %d (%s)", what, (int)st, msg);
    cr_assert(strncmp(msg, prefix, strlen(prefix)) == 0 && strlen(msg) > strlen(prefix),
              "%s: message \"%s\"", what, msg);
    cr_assert(!part || strstr(msg, part), "%s: message \"%s\" lacks \"%s\"", what, msg, part);
    bool checksum = strstr(msg, "checksum mismatch") != NULL;
    ag_clear_error();
    snap after = snap_take(ag_parameters(s->r.model), s->r.opt);
    cr_assert(snap_eq(&s->before, &after), "%s: a refused load changed something", what);
    snap_free(&after);
    return checksum;
}

Test(checkpoint, truncated_at_every_length)
{
    small s = small_saved();
    cr_assert_gt(s.size, 200, "the small file has %zu bytes", s.size);
    for (size_t len = 0; len < s.size; len++) {
        char part[160], what[64];
        if (len < 40)
            snprintf(part, sizeof part, "truncated at byte %zu (the header needs 40 bytes)",
                     len);
        else
            snprintf(part, sizeof part,
                     "truncated at byte %zu (the header says the file has %zu bytes)", len,
                     s.size);
        snprintf(what, sizeof what, "truncated to %zu bytes", len);
        expect_refused(&s, s.bytes, len, part, what);
    }
    small_free(&s);
}

/* Every byte of the file flipped in three ways (lowest bit, highest bit, all bits): each
 * copy is refused, and the messages name what is wrong. */
Test(checkpoint, every_byte_flipped)
{
    small s = small_saved();
    unsigned char *copy = malloc(s.size);
    const unsigned char masks[] = { 0x01, 0x80, 0xff };
    int checksum_msgs = 0;
    for (size_t i = 0; i < s.size; i++)
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(copy, s.bytes, s.size);
            copy[i] ^= masks[m];
            char what[64];
            snprintf(what, sizeof what, "byte %zu ^ 0x%02x", i, masks[m]);
            checksum_msgs += expect_refused(&s, copy, s.size, NULL, what);
        }
    cr_log_info("%d of %zu flips were reported as checksum mismatches", checksum_msgs,
                3 * s.size);
    cr_expect_gt(checksum_msgs, (int)s.size, "most flips should be caught by a checksum");
    free(copy);
    small_free(&s);
}

/* Which message a flip in each part of the file gives. */
Test(checkpoint, damage_is_named)
{
    small s = small_saved();
    unsigned char *c = malloc(s.size);
    struct {
        size_t at;
        const char *part;
    } cases[] = {
        { 0, "not an agrad checkpoint (it does not start with AGRADCKP)" },
        { 8, "format version 0 is not supported (this build reads version 1)" },
        { 13, "header checksum mismatch" },
        { 36, "header checksum mismatch" },
        { 70, "tensor '0.bias': checksum mismatch" },         /* its value */
        { 44, "tensor ' .bias': checksum mismatch" },         /* its name */
        { s.size - 50, "optimizer state 'exp_avg_sq' of tensor '2.weight': checksum mismatch" },
        { s.size - 20, "file checksum mismatch" },                       /* the generator */
        { s.size - 1, "file checksum mismatch" },                        /* the trailer */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(c, s.bytes, s.size);
        c[cases[k].at] ^= cases[k].at == 8 ? 0x01 : 0x10;
        expect_refused(&s, c, s.size, cases[k].part, cases[k].part);
    }
    free(c);
    small_free(&s);
}

/* ---------------------------------------------------------------------------------------
 * A sound file that does not fit
 * ------------------------------------------------------------------------------------- */

/* Loads path into (params, opt) expecting `code` and exactly "checkpoint_load: 'path': msg",
 * with nothing changed. */
static void expect_load_error(const char *path, const ag_params *params, ag_optimizer *opt,
                              ag_status code, const char *msg)
{
    snap before = snap_take(params, opt);
    char full[800];
    snprintf(full, sizeof full, "checkpoint_load: '%s': %s", path, msg);
    cr_expect_eq(ag_checkpoint_load(path, params, opt), code, "%s", ag_error_message());
    cr_expect_str_eq(ag_error_message(), full);
    ag_clear_error();
    snap after = snap_take(params, opt);
    expect_snap_eq(&before, &after, "a refused load changed something (%s)", msg);
    snap_free(&before), snap_free(&after);
}

Test(checkpoint, shape_mismatch)
{
    ag_module *a = mlp_new(1, 4, 8, 3), *b = mlp_new(2, 4, 6, 3);
    const char *path = scratch_path("m.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(a), NULL), AG_OK);
    expect_load_error(path, ag_parameters(b), NULL, AG_ERR_SHAPE,
                      "tensor '0.bias': shape [8] in file, model has [6]");
    ag_module_free(a), ag_module_free(b);
}

Test(checkpoint, name_mismatch_missing_and_extra)
{
    ag_real v[6] = { 1, 2, 3, 4, 5, 6 };
    ag_tensor *t[3] = { ag_from(v, 2, AG_SHAPE(2)), ag_from(v, 2, AG_SHAPE(2)),
                        ag_from(v, 2, AG_SHAPE(2)) };
    const char *ab[] = { "a", "b" }, *ac[] = { "a", "c" }, *abc[] = { "a", "b", "c" };
    const char *path = scratch_path("n.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, &(ag_params){ 2, t, ab }, NULL), AG_OK);
    expect_load_error(path, &(ag_params){ 2, t, ac }, NULL, AG_ERR_FORMAT,
                      "tensor 'b' of the file is not in the model");
    expect_load_error(path, &(ag_params){ 3, t, abc }, NULL, AG_ERR_FORMAT,
                      "the model's tensor 'c' is not in the file");
    expect_load_error(path, &(ag_params){ 1, t, ab }, NULL, AG_ERR_FORMAT,
                      "tensor 'b' of the file is not in the model");
    /* an unnamed list is named "0", "1", ... */
    cr_assert_eq(ag_checkpoint_save(path, &(ag_params){ 2, t, NULL }, NULL), AG_OK);
    expect_load_error(path, &(ag_params){ 2, t, ab }, NULL, AG_ERR_FORMAT,
                      "tensor '0' of the file is not in the model");
    /* names are matched, not positions: a reordered list loads */
    ag_data(t[0])[0] = 100;
    ag_tensor *swapped[2] = { t[1], t[0] };
    cr_assert_eq(ag_checkpoint_save(path, &(ag_params){ 2, t, ab }, NULL), AG_OK);
    const char *ba[] = { "b", "a" };
    ag_data(t[0])[0] = 0;
    cr_assert_eq(ag_checkpoint_load(path, &(ag_params){ 2, swapped, ba }, NULL), AG_OK, "%s",
                 ag_error_message());
    cr_expect_eq(ag_cdata(t[0])[0], 100);
    for (int i = 0; i < 3; i++)
        ag_free(t[i]);
}

Test(checkpoint, optimizer_mismatch)
{
    ag_module *m = mlp_new(1, 2, 2, 1);
    const ag_params *p = ag_parameters(m);
    ag_optimizer *adam = ag_adam_new(p, (ag_adam_opts){ 0 });
    ag_optimizer *ams = ag_adam_new(p, (ag_adam_opts){ .amsgrad = true });
    ag_optimizer *sgd = ag_sgd_new(p, (ag_sgd_opts){ .lr = 0.1, .momentum = 0.5 });
    const char *path = scratch_path("o.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, p, ams), AG_OK, "%s", ag_error_message());
    expect_load_error(path, p, sgd, AG_ERR_FORMAT,
                      "the optimizer is 'adam' in the file, 'sgd' here");
    expect_load_error(path, p, adam, AG_ERR_FORMAT,
                      "tensor '0.bias': optimizer state 'max_exp_avg_sq' in the file, none here");
    cr_assert_eq(ag_checkpoint_save(path, p, adam), AG_OK);
    expect_load_error(path, p, ams, AG_ERR_FORMAT,
                      "tensor '0.bias': optimizer state none in the file, 'max_exp_avg_sq' "
                      "here");
    ag_optim_free(adam), ag_optim_free(ams), ag_optim_free(sgd);
    ag_module_free(m);
}

/* ---------------------------------------------------------------------------------------
 * The file system
 * ------------------------------------------------------------------------------------- */

Test(checkpoint, missing_file)
{
    ag_module *m = mlp_new(1, 2, 2, 1);
    const char *path = scratch_path("nope.ckpt");
    snap before = snap_take(ag_parameters(m), NULL);
    cr_expect_eq(ag_checkpoint_load(path, ag_parameters(m), NULL), AG_ERR_IO);
    char msg[600];
    snprintf(msg, sizeof msg, "checkpoint_load: cannot open '%s': No such file or directory",
             path);
    cr_expect_str_eq(ag_error_message(), msg);
    ag_clear_error();
    snap after = snap_take(ag_parameters(m), NULL);
    expect_snap_eq(&before, &after, "a failed load changed something");
    snap_free(&before), snap_free(&after);
    ag_module_free(m);
}

/* A folder we may not write to (as root, permissions do not apply: the child drops to
 * nobody first). The save fails with the system's reason, the old checkpoint stays and
 * nothing is left behind. */
Test(checkpoint, unwritable_folder)
{
    ag_module *m = mlp_new(1, 2, 2, 1);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/ro", scratch_dir());
    cr_assert_eq(chmod(scratch_dir(), 0755), 0); /* nobody may enter, not write */
    cr_assert_eq(mkdir(dir, 0755), 0);
    char path[480];
    snprintf(path, sizeof path, "%s/m.ckpt", dir);
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(m), NULL), AG_OK);
    cr_assert_eq(chmod(dir, 0555), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(2);
        ag_status st = ag_checkpoint_save(path, ag_parameters(m), NULL);
        const char *msg = ag_error_message();
        ssize_t w = write(fds[1], msg, strlen(msg));
        (void)w;
        _exit(st == AG_ERR_IO ? 0 : 1);
    }
    close(fds[1]);
    char got[600] = { 0 };
    ssize_t k = read(fds[0], got, sizeof got - 1);
    (void)k;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d: %s", status,
              got);
    char msg[600];
    snprintf(msg, sizeof msg, "checkpoint_save: cannot create '%s.tmp': Permission denied",
             path);
    cr_expect_str_eq(got, msg);
    chmod(dir, 0755);
    ag_module *other = mlp_new(2, 2, 2, 1);
    cr_expect_eq(ag_checkpoint_load(path, ag_parameters(other), NULL), AG_OK,
                 "the old checkpoint should still load: %s", ag_error_message());
    char tmp[500];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_expect_neq(access(tmp, F_OK), 0, "a temporary file was left");
    remove(path), rmdir(dir);
    ag_module_free(m), ag_module_free(other);
}

/* ---------------------------------------------------------------------------------------
 * Crash safety
 * ------------------------------------------------------------------------------------- */

#define KILLS 50

/* Two models of one architecture with different values, big enough (a 128x128 layer) that a
 * save takes a while and a kill often lands in the middle of one. */
typedef struct pair {
    ag_module *a, *b, *probe;
    snap sa, sb;
} pair;

static pair pair_new(void)
{
    pair p = { .a = mlp_new(1, 128, 128, 4), .b = mlp_new(2, 128, 128, 4),
               .probe = mlp_new(3, 128, 128, 4) };
    p.sa = snap_take(ag_parameters(p.a), NULL);
    p.sb = snap_take(ag_parameters(p.b), NULL);
    return p;
}

static void pair_free(pair *p)
{
    snap_free(&p->sa), snap_free(&p->sb);
    ag_module_free(p->a), ag_module_free(p->b), ag_module_free(p->probe);
}

/* The child: saves A and B alternately, starting with the one the file does not hold (so
 * that any completed save changes it), until killed; exits 3 if a save fails. */
static void save_forever(const char *path, pair *p, int holds)
{
    ag_module *first = holds == 1 ? p->b : p->a, *second = holds == 1 ? p->a : p->b;
    for (;;)
        if (ag_checkpoint_save(path, ag_parameters(first), NULL) != AG_OK ||
            ag_checkpoint_save(path, ag_parameters(second), NULL) != AG_OK)
            _exit(3);
}

/* After a kill: the checkpoint loads and is A or B exactly (1 or 2), and at most one other
 * file, the temporary one, exists. */
static int check_after_kill(const char *path, pair *p, int round)
{
    cr_assert_eq(ag_checkpoint_load(path, ag_parameters(p->probe), NULL), AG_OK,
                 "round %d: %s", round, ag_error_message());
    snap got = snap_take(ag_parameters(p->probe), NULL);
    got.rng = p->sa.rng = p->sb.rng; /* only the parameters tell A from B */
    int which = snap_eq(&got, &p->sa) ? 1 : snap_eq(&got, &p->sb) ? 2 : 0;
    cr_assert_neq(which, 0, "round %d: the checkpoint is neither model", round);
    snap_free(&got);
    char other[256];
    int n = scratch_count("crash.ckpt", other, sizeof other);
    cr_assert(n == 1 || (n == 2 && !strcmp(other, "crash.ckpt.tmp")),
              "round %d: %d files, one is '%s'", round, n, other);
    return which;
}

Test(checkpoint, killed_saver_leaves_a_whole_checkpoint, .timeout = 120)
{
    pair p = pair_new();
    const char *path = scratch_path("crash.ckpt");
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(p.a), NULL), AG_OK);
    unsigned seed = 12345;
    int seen[3] = { 0 }, tmp_left = 0, holds = 1;
    for (int round = 0; round < KILLS; round++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            save_forever(path, &p, holds);
        struct timespec d = { 0, (long)(rand_r(&seed) % 20001) * 1000 };
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the saver stopped by itself (status %d)", round, status);
        holds = check_after_kill(path, &p, round);
        seen[holds]++;
        tmp_left += scratch_count(NULL, NULL, 0) == 2;
    }
    cr_log_info("after %d kills: model A %d times, B %d times, a temporary file %d times",
                KILLS, seen[1], seen[2], tmp_left);
    cr_expect_gt(seen[1], 0);
    cr_expect_gt(seen[2], 0, "no save completed in %d rounds", KILLS);
    /* the next save reuses and then renames the temporary file: nothing is left over */
    cr_assert_eq(ag_checkpoint_save(path, ag_parameters(p.b), NULL), AG_OK);
    cr_expect_eq(scratch_count(NULL, NULL, 0), 1);
    pair_free(&p);
}

/* Two threads saving to one path at once take turns (the temporary file is locked): both
 * succeed, the file is one of the two, and no temporary file remains. */
typedef struct saver {
    const char *path;
    ag_module *m;
    ag_status st;
} saver;

static void *save_many(void *arg)
{
    saver *s = arg;
    for (int i = 0; i < 20 && s->st == AG_OK; i++)
        s->st = ag_checkpoint_save(s->path, ag_parameters(s->m), NULL);
    if (s->st)
        fprintf(stderr, "%s\n", ag_error_message());
    return NULL;
}

Test(checkpoint, concurrent_saves_take_turns)
{
    pair p = pair_new();
    const char *path = scratch_path("crash.ckpt");
    saver s[2] = { { path, p.a, AG_OK }, { path, p.b, AG_OK } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, save_many, &s[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_expect_eq(s[0].st, AG_OK);
    cr_expect_eq(s[1].st, AG_OK);
    check_after_kill(path, &p, 0);
    cr_expect_eq(scratch_count(NULL, NULL, 0), 1, "a temporary file was left");
    pair_free(&p);
}
