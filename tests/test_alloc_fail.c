/* test_alloc_fail.c — running out of memory anywhere in a training step (float build).
 *
 * An allocation hook fails the n-th allocation, for n = 0, 1, 2, ... until a step goes
 * through without reaching a failure. The step is a whole one for Sequential(Linear(4,8),
 * ReLU, Linear(8,3)) with CrossEntropyLoss and Adam: ag_checkpoint_save of the state before
 * the update, forward, loss, zero_grad, backward, ag_optim_step. For every n:
 *   - the step ends in AG_ERR_OOM ("out of memory ..."), without a crash;
 *   - the parameters, the optimizer's state buffers and its step count (and the generator)
 *     are bitwise what they were before the step;
 *   - the checkpoint file is the previous one or a complete one of the same state, and no
 *     temporary file is left beside it;
 *   - nothing leaks: every block handed out through the hook comes back (each step runs on a
 *     thread of its own, whose exit releases its tape, so the count is exact);
 *   - after ag_clear_error the same thread's next step succeeds and gives bitwise the
 *     parameters of a step that never failed.
 * The sweep runs on the first step of a fresh model, when the tape's arena and the gradient
 * buffers are first allocated, and again on a steady-state step (which, without the save,
 * allocates nothing at all). Model, loss and optimizer creation get the same sweep: NULL with
 * AG_ERR_OOM and nothing left allocated. Run it under the ASan build as well. */
#define _GNU_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agrad.h"

/* --- the failing allocator ------------------------------------------------------------- */

static atomic_long g_count;     /* allocations asked for so far */
static atomic_long g_fail_at = -1; /* the one to refuse (-1: none) */
static atomic_long g_failed;    /* how many were refused */
static atomic_long g_live;      /* blocks handed out and not yet released */

static void *hook_alloc(size_t n, void *u)
{
    (void)u;
    if (atomic_fetch_add(&g_count, 1) == atomic_load(&g_fail_at)) {
        g_failed++;
        return NULL;
    }
    void *p = malloc(n);
    if (p)
        g_live++;
    return p;
}

static void hook_release(void *p, void *u)
{
    (void)u;
    if (p)
        g_live--;
    free(p);
}

/* Fails the n-th allocation from now on (n >= 0), or none (n < 0). */
static void fail_nth(long n)
{
    g_failed = 0;
    g_fail_at = n < 0 ? -1 : atomic_load(&g_count) + n;
}

static void setup(void)
{
    ag_set_allocator(&(ag_allocator){ hook_alloc, hook_release, NULL });
    ag_manual_seed(0);
}
static void teardown(void)
{
    fail_nth(-1);
    ag_step_end();
    ag_clear_error();
}
TestSuite(alloc_fail, .init = setup, .fini = teardown);

/* --- the model and its step ------------------------------------------------------------ */

typedef struct model {
    ag_module *net;
    ag_loss *loss;
    ag_optimizer *opt;
    ag_tensor *x, *y;
    bool ok;
} model;

static ag_module *make_net(void)
{
    ag_manual_seed(42);
    return ag_sequential_new(3, (ag_module *[]){ ag_linear_new(4, 8, true), ag_relu_new(),
                                                 ag_linear_new(8, 3, true) });
}

static ag_optimizer *make_opt(ag_module *net)
{
    const ag_params *ps = ag_parameters(net);
    return ps ? ag_adam_new(ps, (ag_adam_opts){ .lr = 0.01, .amsgrad = true }) : NULL;
}

/* A model with fixed data (6 samples, 3 classes); every allocation must succeed (the
 * caller checks m.ok). */
static model make_model(void)
{
    model m = { .net = make_net() };
    m.loss = ag_cross_entropy_loss_new(AG_MEAN, 0);
    m.opt = make_opt(m.net);
    ag_real x[24], y[6];
    for (int i = 0; i < 24; i++)
        x[i] = (ag_real)((i * 7 % 11) - 5) / 4;
    for (int i = 0; i < 6; i++)
        y[i] = (ag_real)(i % 3);
    m.x = ag_from(x, 24, AG_SHAPE(6, 4));
    m.y = ag_from(y, 6, AG_SHAPE(6));
    m.ok = m.net && m.loss && m.opt && m.x && m.y;
    return m;
}

static void free_model(model *m)
{
    ag_optim_free(m->opt);
    ag_loss_free(m->loss);
    ag_module_free(m->net);
    ag_free(m->x);
    ag_free(m->y);
}

/* One step; the checkpoint (if path) holds the state before the update. */
static ag_status step(model *m, const char *path)
{
    if (path)
        ag_checkpoint_save(path, ag_parameters(m->net), m->opt);
    ag_tensor *loss = ag_loss_forward(m->loss, ag_forward(m->net, m->x), m->y);
    ag_optim_zero_grad(m->opt);
    ag_backward(loss);
    ag_status st = ag_optim_step(m->opt);
    ag_step_end();
    return st;
}

/* --- snapshots of everything a failed step must leave alone ---------------------------- */

#define MAX_VALUES 1024

typedef struct snapshot {
    ag_real v[MAX_VALUES];
    size_t n;
    int64_t count;
    ag_rng_state rng;
} snapshot;

static void take(snapshot *s, model *m)
{
    memset(s, 0, sizeof *s);
    const ag_params *ps = ag_parameters(m->net);
    for (int i = 0; i < ps->n; i++) {
        for (int k = -1;; k++) {
            ag_tensor *t = k < 0 ? ps->tensors[i] : ag_optim_state(m->opt, i, k, NULL);
            if (!t)
                break;
            size_t n = ag_numel(t);
            if (s->n + n > MAX_VALUES)
                abort(); /* the snapshot is sized for this model */
            memcpy(s->v + s->n, ag_cdata(t), n * sizeof(ag_real));
            s->n += n;
        }
    }
    s->count = ag_optim_step_count(m->opt);
    s->rng = ag_get_rng_state();
}

static bool same(const snapshot *a, const snapshot *b)
{
    return a->n == b->n && a->count == b->count &&
           memcmp(a->v, b->v, a->n * sizeof(ag_real)) == 0 &&
           memcmp(&a->rng, &b->rng, sizeof a->rng) == 0;
}

/* --- the checkpoint folder ------------------------------------------------------------- */

static char g_dir[64], g_path[96];

static void make_dir(void)
{
    strcpy(g_dir, "/tmp/agrad-oom-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/ckpt.bin", g_dir);
}

/* The names in the folder other than the checkpoint itself (temporary files left over). */
static int stray_files(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "ckpt.bin"))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void remove_dir(void)
{
    unlink(g_path);
    rmdir(g_dir);
}

/* The bytes of the file at `path` (NULL and *n = 0 if there is none); malloc'd. */
static unsigned char *read_all(const char *path, size_t *n)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *b = NULL;
    size_t cap = 0;
    for (;;) {
        if (*n == cap && !(b = realloc(b, cap = cap ? 2 * cap : 4096)))
            abort();
        size_t k = fread(b + *n, 1, cap - *n, f);
        *n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    return b;
}

/* A check on a trial thread: Criterion's asserts belong to the test's own thread, so a
 * failure is written into the trial and the thread returns; the test asserts on it. */
#define CHECK(t, cond, ...)                                                                \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            snprintf((t)->fail, sizeof (t)->fail, __VA_ARGS__);                            \
            return false;                                                                  \
        }                                                                                  \
    } while (0)

typedef struct trial {
    long n;           /* the allocation of the step to fail */
    int warmup;       /* steps before the one under test */
    bool save;        /* with ag_checkpoint_save */
    snapshot ref;     /* in: the state after one clean step from the same start */
    bool have_ref;
    /* out */
    bool reached;     /* the n-th allocation happened (and was refused) */
    long allocations; /* how many the step asked for */
    snapshot after;
    char fail[512];   /* the first failed check, or "" */
} trial;

/* The checkpoint after a failed step is the one from before the step (old, n_old bytes, or
 * none) or a complete one that loads, into a fresh model, as exactly `want`. */
static bool checkpoint_ok(trial *t, const unsigned char *old, size_t n_old, const snapshot *want)
{
    size_t n;
    unsigned char *now = read_all(g_path, &n);
    bool unchanged = n == n_old && (!n || memcmp(now, old, n) == 0);
    free(now);
    CHECK(t, stray_files() == 0, "allocation %ld: a temporary file was left beside the checkpoint",
          t->n);
    if (unchanged)
        return true;
    long fail_at = g_fail_at;
    fail_nth(-1);
    ag_rng_state keep = ag_get_rng_state();
    model fresh = make_model();
    CHECK(t, fresh.ok, "%s", ag_error_message());
    ag_status st = ag_checkpoint_load(g_path, ag_parameters(fresh.net), fresh.opt);
    CHECK(t, st == AG_OK, "allocation %ld: the new checkpoint does not load: %s", t->n,
          ag_error_message());
    snapshot got;
    take(&got, &fresh);
    got.rng = want->rng; /* (the generator in the file is the save's) */
    CHECK(t, same(&got, want), "allocation %ld: the new checkpoint is not the state before the step",
          t->n);
    ag_set_rng_state(keep);
    free_model(&fresh);
    g_fail_at = fail_at;
    return true;
}

static bool trial_body(trial *t)
{
    fail_nth(-1);
    model m = make_model();
    CHECK(t, m.ok, "%s", ag_error_message());
    for (int i = 0; i < t->warmup; i++)
        CHECK(t, step(&m, t->save ? g_path : NULL) == AG_OK, "warm-up: %s", ag_error_message());
    snapshot before;
    take(&before, &m);
    size_t n_old;
    unsigned char *old = read_all(g_path, &n_old);
    long start = g_count;
    fail_nth(t->n);
    ag_status st = step(&m, t->save ? g_path : NULL);
    t->reached = g_failed > 0;
    fail_nth(-1);
    t->allocations = g_count - start;
    if (t->reached) {
        CHECK(t, st == AG_ERR_OOM && ag_error() == AG_ERR_OOM,
              "allocation %ld: status %d, pending %d (%s)", t->n, st, ag_error(), ag_error_message());
        CHECK(t, strstr(ag_error_message(), "out of memory"), "allocation %ld: message '%s'", t->n,
              ag_error_message());
        snapshot now;
        take(&now, &m);
        CHECK(t, same(&before, &now), "allocation %ld: the failed step changed the state", t->n);
        ag_clear_error();
        if (t->save && !checkpoint_ok(t, old, n_old, &before))
            return false;
        /* the next step goes through and matches a step that never failed */
        CHECK(t, step(&m, t->save ? g_path : NULL) == AG_OK, "recovery after allocation %ld: %s",
              t->n, ag_error_message());
    } else {
        CHECK(t, st == AG_OK, "clean step: %s", ag_error_message());
    }
    free(old);
    take(&t->after, &m);
    CHECK(t, !t->have_ref || same(&t->after, &t->ref),
          "allocation %ld: the result is not the clean step's", t->n);
    free_model(&m);
    return true;
}

static void *run_trial(void *arg)
{
    trial_body(arg);
    return NULL; /* the thread's exit releases its tape */
}

/* Runs the trial on a new thread and checks that every block came back. */
static void run_on_thread(trial *t)
{
    long live = g_live;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run_trial, t), 0);
    pthread_join(th, NULL);
    cr_assert_str_eq(t->fail, "");
    cr_assert_eq(g_live, live, "allocation %ld: %ld blocks leaked", t->n, g_live - live);
}

/* The sweep: a clean reference run, then n = 0, 1, ... until the step no longer reaches the
 * n-th allocation. Returns how many allocations the step makes. */
static long sweep(int warmup, bool save)
{
    make_dir();
    trial ref = { .n = -1, .warmup = warmup, .save = save };
    run_on_thread(&ref);
    long n = 0;
    for (;; n++) {
        unlink(g_path);
        trial t = { .n = n, .warmup = warmup, .save = save, .ref = ref.after, .have_ref = true };
        run_on_thread(&t);
        if (!t.reached) {
            cr_assert_eq(t.allocations, ref.allocations);
            break;
        }
    }
    cr_assert_eq(n, ref.allocations, "every allocation of the step was failed once");
    cr_log_info("%d warm-up steps, %s checkpoint: %ld allocations in the step, each failed once",
                warmup, save ? "with a" : "without a", n);
    remove_dir();
    return n;
}

Test(alloc_fail, first_step_of_a_fresh_model)
{
    long n = sweep(0, true);
    cr_assert_gt(n, 5, "the first step allocates its tape, its gradients and the save's buffers");
}

Test(alloc_fail, first_step_without_a_checkpoint)
{
    long n = sweep(0, false);
    cr_assert_gt(n, 0, "the first step allocates its tape and its gradients");
}

Test(alloc_fail, steady_state_step_allocates_nothing)
{
    cr_assert_eq(sweep(2, false), 0, "a steady-state step calls the allocator zero times");
}

Test(alloc_fail, steady_state_step_with_a_checkpoint)
{
    cr_assert_gt(sweep(2, true), 0, "only the save allocates");
}

/* --- creation sweeps ------------------------------------------------------------------- */

/* Fails allocation n = 0, 1, 2, ... of make(ctx) until make succeeds: each failure is NULL
 * with AG_ERR_OOM and leaks nothing, the success leaves no error and frees (destroy) to the
 * block. Returns that n, the number of allocations make does; messages start with `what`. */
static long sweep_creation(const char *what, void *(*make)(void *), void (*destroy)(void *),
                           void *ctx)
{
    for (long n = 0;; n++) {
        long live = g_live;
        fail_nth(n);
        void *made = make(ctx);
        fail_nth(-1);
        if (made) {
            cr_assert_eq(ag_error(), AG_OK, "%s: %s", what, ag_error_message());
            destroy(made);
            cr_assert_eq(g_live, live, "%s: %ld blocks leaked", what, g_live - live);
            return n;
        }
        cr_assert_eq(ag_error(), AG_ERR_OOM, "%s, allocation %ld: %s", what, n,
                     ag_error_message());
        cr_assert_eq(g_live, live, "%s, allocation %ld: %ld blocks leaked", what, n,
                     g_live - live);
        ag_clear_error();
    }
}

/* make / destroy for sweep_creation: the model, and an optimizer over the model ctx. */
static void *new_net(void *ctx) { return (void)ctx, make_net(); }
static void free_net(void *net) { ag_module_free(net); }
static void *new_opt(void *net) { return make_opt(net); }
static void free_opt(void *opt) { ag_optim_free(opt); }

Test(alloc_fail, model_loss_and_optimizer_creation)
{
    /* the model */
    long n = sweep_creation("model creation", new_net, free_net, NULL);
    cr_assert_gt(n, 8, "the model made all its allocations");
    cr_log_info("model creation: %ld allocations, each failed once", n);

    /* the loss */
    long live = g_live;
    fail_nth(0);
    cr_assert_null(ag_cross_entropy_loss_new(AG_MEAN, 0));
    fail_nth(-1);
    cr_assert_eq(ag_error(), AG_ERR_OOM);
    cr_assert_eq(g_live, live);
    ag_clear_error();

    /* the optimizer, over a model whose parameter list exists */
    ag_module *net = make_net();
    cr_assert_not_null(ag_parameters(net));
    n = sweep_creation("optimizer creation", new_opt, free_opt, net);
    cr_assert_gt(n, 4 * 3, "Adam with amsgrad: three buffers for each of 4 parameters");
    cr_log_info("optimizer creation: %ld allocations, each failed once", n);
    ag_module_free(net);
}
