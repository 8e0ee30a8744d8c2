/* classify.c — the classifier examples' shared part: flags, the training loop (PyTorch's
 * zero_grad / backward / step over a shuffled loader), the test accuracy, the monitor and
 * the fingerprint. See classify.h. */
#define _POSIX_C_SOURCE 200809L
#include "classify.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define EVAL_BATCH 1000

/* --- flags ---------------------------------------------------------------------------- */

static void usage(const run_opts *o, FILE *f)
{
    fprintf(f,
            "usage: %s [--optim sgd|adam] [--batch N] [--epochs N] [--lr X]\n"
            "          [--schedule cosine|constant] [--seed N] [--threads N] [--data DIR]\n"
            "          [--csv FILE] [--svg FILE]\n"
            "  --batch 1 is stochastic gradient descent, --batch 0 the full training set\n"
            "  defaults: --optim %s --batch %zu --epochs %d --lr %g --schedule %s --seed %llu\n"
            "            --threads %d --data %s --csv %s --svg %s\n",
            o->name, o->optim, o->batch, o->epochs, o->lr, o->schedule, (unsigned long long)o->seed,
            o->threads, o->data, o->csv ? o->csv : "(none)", o->svg ? o->svg : "(none)");
}

/* A whole number in [lo, hi]. */
static bool integer(const char *s, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end && !errno && *v >= lo && *v <= hi;
}

/* Sets the option that flag names from its value; false if either is wrong. */
static bool set_flag(run_opts *o, const char *flag, const char *v)
{
    long long n = 0;
    char *end;
    if (!strcmp(flag, "--optim"))
        return (o->optim = v, !strcmp(v, "sgd") || !strcmp(v, "adam"));
    if (!strcmp(flag, "--schedule"))
        return (o->schedule = v, !strcmp(v, "cosine") || !strcmp(v, "constant"));
    if (!strcmp(flag, "--lr"))
        return (o->lr = strtod(v, &end), *v && !*end && o->lr > 0);
    if (!strcmp(flag, "--data") || !strcmp(flag, "--csv") || !strcmp(flag, "--svg")) {
        *(flag[2] == 'd' ? &o->data : flag[2] == 'c' ? &o->csv : &o->svg) = v;
        return true;
    }
    if (!strcmp(flag, "--batch") && integer(v, 0, LLONG_MAX, &n))
        return (o->batch = (size_t)n, true);
    if (!strcmp(flag, "--epochs") && integer(v, 1, INT_MAX, &n))
        return (o->epochs = (int)n, true);
    if (!strcmp(flag, "--seed") && integer(v, 0, LLONG_MAX, &n))
        return (o->seed = (uint64_t)n, true);
    if (!strcmp(flag, "--threads") && integer(v, 1, 256, &n))
        return (o->threads = (int)n, true);
    return false;
}

bool parse_flags(int argc, char **argv, run_opts *o)
{
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(o, stdout);
            exit(0);
        }
        if (i + 1 >= argc || !set_flag(o, argv[i], argv[i + 1])) {
            fprintf(stderr, "%s: bad flag or value: %s %s\n", o->name, argv[i],
                    i + 1 < argc ? argv[i + 1] : "(missing)");
            usage(o, stderr);
            return false;
        }
    }
    return true;
}

const char *dataset_file(const run_opts *o, const char *file, const char *hint, char *buf,
                         size_t size)
{
    snprintf(buf, size, "%s/%s", o->data, file);
    if (access(buf, R_OK) != 0) {
        fprintf(stderr, "%s: cannot read %s: %s\n%s\n", o->name, buf, strerror(errno), hint);
        exit(2);
    }
    return buf;
}

/* --- training ---------------------------------------------------------------------------- */

/* Adam or SGD (plain: no momentum) over the model's parameters. */
static ag_optimizer *make_optimizer(ag_module *model, const run_opts *o)
{
    if (!strcmp(o->optim, "sgd"))
        return ag_sgd_new(ag_parameters(model), (ag_sgd_opts){ .lr = o->lr });
    return ag_adam_new(ag_parameters(model), (ag_adam_opts){ .lr = o->lr });
}

/* One pass over the shuffled training set; the mean loss and the accuracy of the batches
 * as they were trained on. */
static ag_status train_epoch(ag_module *model, ag_optimizer *opt, ag_loader *batches,
                             ag_monitor *mon, double *loss, double *acc)
{
    ag_tensor *x;
    const int64_t *y;
    size_t n, seen = 0, correct = 0;
    double sum = 0;
    while (ag_loader_next(batches, &x, &y, &n)) {
        ag_tensor *logits = ag_forward(model, x);
        ag_tensor *l = ag_cross_entropy(logits, y, AG_MEAN, 0);
        ag_optim_zero_grad(opt);
        ag_backward(l);
        if (ag_optim_step(opt) != AG_OK) /* any error of this step lands here */
            return ag_error();
        sum += ag_item(l) * (double)n;
        correct += ag_num_correct(logits, y);
        seen += n;
        ag_monitor_step(mon, ag_item(l));
        ag_step_end();
    }
    *loss = sum / (double)seen;
    *acc = (double)correct / (double)seen;
    return AG_OK;
}

/* The fraction of the test set classified right, in batches, without recording. */
static double test_accuracy(ag_module *model, ag_loader *test)
{
    ag_tensor *x;
    const int64_t *y;
    size_t n, seen = 0, correct = 0;
    AG_NO_GRAD {
        while (ag_loader_next(test, &x, &y, &n)) {
            correct += ag_num_correct(ag_forward(model, x), y);
            seen += n;
            ag_step_end();
        }
    }
    return (double)correct / (double)seen;
}

/* XXH3-64 over every parameter's values in order: equal fingerprints, equal models. */
static uint64_t fingerprint(ag_module *model)
{
    const ag_params *p = ag_parameters(model);
    uint64_t h = 0;
    for (int i = 0; p && i < p->n; i++)
        h = XXH3_64bits_withSeed(ag_cdata(p->tensors[i]),
                                 ag_numel(p->tensors[i]) * sizeof(ag_real), h);
    return h;
}

/* The epochs, each followed by the test accuracy, the monitor's report and the scheduler's
 * step (if any). */
static ag_status run(ag_module *model, ag_optimizer *opt, ag_scheduler *sched,
                     ag_loader *batches, ag_loader *test, ag_monitor *mon, int epochs)
{
    for (int e = 0; e < epochs; e++) {
        double loss = 0, acc = 0;
        ag_status st = train_epoch(model, opt, batches, mon, &loss, &acc);
        if (st == AG_OK)
            st = ag_monitor_epoch(mon, loss, acc, test_accuracy(model, test));
        if (st == AG_OK && sched)
            st = ag_scheduler_step(sched);
        if (st != AG_OK || ag_error() != AG_OK)
            return ag_error();
    }
    return AG_OK;
}

/* The run in one line. */
static void print_header(const run_opts *o, const ag_dataset *train, const ag_dataset *test,
                         size_t batches)
{
    size_t n = ag_dataset_len(train), per = o->batch && o->batch < n ? o->batch : n;
    printf("%s: %zu training and %zu test samples; %s, lr %g (%s), %zu per batch (%zu "
           "batches), %d epoch%s, %d thread%s, seed %llu\n", o->name, n, ag_dataset_len(test),
           o->optim, o->lr, o->schedule, per, batches, o->epochs, o->epochs > 1 ? "s" : "",
           o->threads, o->threads > 1 ? "s" : "", (unsigned long long)o->seed);
}

int train_classifier(ag_module *model, const ag_dataset *train, const ag_dataset *test,
                     const run_opts *o)
{
    ag_set_num_threads(o->threads);
    ag_optimizer *opt = make_optimizer(model, o);
    bool cosine = !strcmp(o->schedule, "cosine");
    ag_scheduler *sched = cosine ? ag_cosine_annealing_lr_new(opt, o->epochs, 0) : NULL;
    ag_loader *batches = ag_loader_new(train, o->batch, true, false, o->seed);
    ag_loader *tests = ag_loader_new(test, EVAL_BATCH, false, false, 0);
    ag_monitor *mon = ag_monitor_new(o->csv, o->svg, o->epochs, ag_loader_num_batches(batches));
    print_header(o, train, test, ag_loader_num_batches(batches));
    int status = 0;
    if (!opt || (cosine && !sched) || !batches || !tests || !mon ||
        run(model, opt, sched, batches, tests, mon, o->epochs) != AG_OK) {
        fprintf(stderr, "%s: %s\n", o->name, ag_error_message());
        status = 1;
    } else {
        printf("parameters XXH3-64: %016llx\n", (unsigned long long)fingerprint(model));
    }
    ag_monitor_free(mon);
    ag_loader_free(tests);
    ag_loader_free(batches);
    ag_scheduler_free(sched);
    ag_optim_free(opt);
    return status;
}
