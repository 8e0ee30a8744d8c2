/* bench.c — the benchmark driver: the command line, the timing protocol, the JSON lines, the
 * --check fingerprints, and the helpers the workloads share.
 *
 *     bench [--threads N] [--quick] [--check] [WORKLOAD ...]
 *     bench --ops [--threads N] [--quick]
 *
 * Timing protocol (the PyTorch peer's): per workload, 1 warm-up repeat and 5 timed repeats of
 * `iters` iterations, each repeat timed as a whole on CLOCK_MONOTONIC; value = median over the
 * timed repeats of (repeat time / units). stdout holds exactly one JSON line per workload;
 * stderr the per-repeat values, the thread count and the peak RSS.
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <xxhash.h>

#ifndef AG_BENCH_VERSION
#define AG_BENCH_VERSION "0.0.0"
#endif

enum { WARMUP_REPEATS = 1, TIMED_REPEATS = 5 };

/* The command line, parsed. */
typedef struct options {
    int threads;
    bool quick, check, ops;
    bool selected[16]; /* by index into bench_workloads; none set means all */
} options;

/* ---------------------------------------------------------------------------------------------
 * Helpers shared with workloads.c and ops_bench.c
 * ------------------------------------------------------------------------------------------- */

/* Seconds on the monotonic clock. */
double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Orders doubles for qsort. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (sorts v in place); the mean of the middle two for even n, as Python's
 * statistics.median. */
double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Exits with the engine's pending error, naming `what`, if p is NULL or an error is pending. */
void bench_check(const void *p, const char *what)
{
    if (!p || ag_error() != AG_OK) {
        fprintf(stderr, "bench: %s failed: %s\n", what, ag_error_message());
        exit(1);
    }
}

/* ag_backward (grad_output NULL: a one-element out) or ag_backward_ex; exits on an error. */
void bench_backward(ag_tensor *out, const ag_tensor *grad_output)
{
    ag_status s = grad_output
                      ? ag_backward_ex(out, (ag_backward_opts){ .grad_output = grad_output })
                      : ag_backward(out);
    if (s != AG_OK)
        bench_check(NULL, "backward");
}

/* malloc that exits on failure. */
void *bench_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", size);
        exit(1);
    }
    return p;
}

/* The peer's fill(): a hash of (i, seed) mapped exactly to [-1, 1) in float, then scaled in
 * double and rounded to float. uint32_t arithmetic wraps mod 2^32 as the peer's does. */
float bench_fill_value(uint64_t i, uint32_t seed, double scale)
{
    uint32_t x = (uint32_t)i + seed * 0x9E3779B9u;
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    float u = (float)(x >> 8) * 0x1p-23f - 1.0f;
    return (float)(scale * (double)u);
}

/* A new heap tensor of shape s holding fill(s, seed, scale) in row-major order. */
ag_tensor *bench_fill(ag_shape s, uint32_t seed, double scale)
{
    ag_tensor *t = ag_zeros(s);
    bench_check(t, "fill");
    ag_real *d = ag_data(t);
    size_t n = ag_numel(t);
    for (size_t i = 0; i < n; i++)
        d[i] = bench_fill_value(i, seed, scale);
    return t;
}

/* Sum of a tensor's values (or their absolute values) in double. */
double bench_sum(const ag_tensor *t, bool absolute)
{
    const ag_real *d = ag_cdata(t);
    size_t n = ag_numel(t);
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += absolute ? fabs((double)d[i]) : (double)d[i];
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * Memory
 * ------------------------------------------------------------------------------------------- */

/* Resets the process's peak RSS to its current RSS (Linux >= 4.0: "5" to clear_refs), so that
 * the next reading is this workload's peak. Returns false where that is not possible; the
 * reading is then the process's peak so far. */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Peak resident set size in kB: VmHWM of /proc/self/status, the memory map's high-water mark
 * that clear_refs resets; else getrusage's ru_maxrss. (ru_maxrss is at least the RSS of the
 * process before exec — 14 MB when a Python script starts us — and clear_refs cannot lower
 * it, so it is only the fallback.) */
static long peak_rss_kb(void)
{
    long kb = -1;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    while (f && kb < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    struct rusage u;
    if (kb < 0 && getrusage(RUSAGE_SELF, &u) == 0)
        kb = u.ru_maxrss;
    return kb;
}

/* ---------------------------------------------------------------------------------------------
 * Timing and output
 * ------------------------------------------------------------------------------------------- */

/* Iterations per repeat: the workload's, divided by 10 (at least 1) under --quick. */
static int iters_of(const workload *w, const options *o)
{
    int n = o->quick ? w->iters / 10 : w->iters;
    return n < 1 ? 1 : n;
}

/* Runs the warm-up and timed repeats of w and writes the timed repeats' per-unit values to
 * vals[0..TIMED_REPEATS). */
static void time_repeats(const workload *w, int iters, double *vals)
{
    void *st = w->setup(false);
    double units = (double)iters * w->ops_per_iter;
    for (int r = 0; r < WARMUP_REPEATS + TIMED_REPEATS; r++) {
        w->prepare(st);
        double t0 = bench_now();
        w->run(st, iters);
        double t1 = bench_now();
        w->finish(st);
        if (r >= WARMUP_REPEATS)
            vals[r - WARMUP_REPEATS] = (t1 - t0) / units * w->unit;
    }
    w->teardown(st);
}

/* Logs the repeats as the peer does (median, min, max, spread, every value) plus peak RSS. */
static void log_repeats(const workload *w, int iters, const double *vals, double med, long rss)
{
    double lo = vals[0], hi = vals[0];
    for (int i = 1; i < TIMED_REPEATS; i++)
        lo = fmin(lo, vals[i]), hi = fmax(hi, vals[i]);
    fprintf(stderr, "%-12s %-12s iters=%-4d median=%.6g  min=%.6g max=%.6g  spread=%.1f%%  "
            "peak_rss=%ld kB  repeats=[",
            w->name, w->metric, iters, med, lo, hi, 100.0 * (hi - lo) / med, rss);
    for (int i = 0; i < TIMED_REPEATS; i++)
        fprintf(stderr, "%s%.6g", i ? ", " : "", vals[i]);
    fprintf(stderr, "]\n");
}

/* Prints the workload's JSON line: the peer's keys and order, value to 5 significant digits,
 * then peak_rss_kb. */
static void print_json(const workload *w, const options *o, int iters, double value, long rss)
{
    printf("{\"workload\":\"%s\",\"threads\":%d,\"metric\":\"%s\",\"value\":%.5g,\"iters\":%d,"
           "\"impl\":\"agrad-%s\",\"peak_rss_kb\":%ld}\n",
           w->name, o->threads, w->metric, value, iters, AG_BENCH_VERSION, rss);
    fflush(stdout);
}

/* Times one workload and reports it. */
static void time_workload(const workload *w, const options *o)
{
    int iters = iters_of(w, o);
    double vals[TIMED_REPEATS], sorted[TIMED_REPEATS];
    reset_peak_rss();
    time_repeats(w, iters, vals);
    long rss = peak_rss_kb();
    memcpy(sorted, vals, sizeof vals);
    double med = bench_median(sorted, TIMED_REPEATS);
    log_repeats(w, iters, vals, med, rss);
    print_json(w, o, iters, med, rss);
}

/* ---------------------------------------------------------------------------------------------
 * --check
 * ------------------------------------------------------------------------------------------- */

/* XXH3-64 of every leaf's values followed by its gradient (when it has one), in leaf order:
 * equal hashes mean bitwise-equal parameters and gradients. */
static uint64_t hash_leaves(const wl_base *b)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        bench_check(NULL, "XXH3_createState");
    XXH3_64bits_reset(h);
    for (int i = 0; i < b->n_leaves; i++) {
        const ag_tensor *t = b->leaves[i], *g = ag_grad(t);
        XXH3_64bits_update(h, ag_cdata(t), ag_numel(t) * sizeof(ag_real));
        if (g)
            XXH3_64bits_update(h, ag_cdata(g), ag_numel(g) * sizeof(ag_real));
    }
    uint64_t d = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return d;
}

/* Runs w once (iters iterations, losses traced) on seeded or det data and prints the peer's
 * fingerprint line and the leaves' hash. */
static void check_one(const workload *w, int iters, bool det)
{
    char line[512];
    void *st = w->setup(det);
    wl_base *b = st;
    w->prepare(st);
    b->trace = bench_alloc((size_t)iters * sizeof *b->trace);
    b->n_trace = 0;
    w->run(st, iters);
    w->fingerprint(st, line, sizeof line);
    const char *mode = det ? "det" : "seeded";
    fprintf(stderr, "check %-12s %-6s iters=%d  %s\n", w->name, mode, iters, line);
    fprintf(stderr, "hash  %-12s %-6s iters=%d  xxh3(leaves+grads)=%016llx\n", w->name, mode,
            iters, (unsigned long long)hash_leaves(b));
    w->finish(st);
    free(b->trace);
    b->trace = NULL;
    w->teardown(st);
}

/* ---------------------------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------------------------- */

/* Prints usage to f. */
static void usage(FILE *f)
{
    fprintf(f, "usage: bench [--threads N] [--quick] [--check] [WORKLOAD ...]\n"
               "       bench --ops [--threads N] [--quick]\nworkloads:");
    for (int i = 0; i < bench_n_workloads; i++)
        fprintf(f, " %s", bench_workloads[i].name);
    fprintf(f, "\n");
}

/* Index of the workload called `name`, or -1. */
static int find_workload(const char *name)
{
    for (int i = 0; i < bench_n_workloads; i++)
        if (strcmp(bench_workloads[i].name, name) == 0)
            return i;
    return -1;
}

/* Parses a thread count (>= 1); exits on anything else. */
static int parse_threads(const char *s)
{
    char *end;
    long n = s ? strtol(s, &end, 10) : 0;
    if (!s || *end || n < 1 || n > 1024) {
        fprintf(stderr, "bench: --threads needs a whole number >= 1\n");
        exit(2);
    }
    return (int)n;
}

/* Fills o from argv; exits with usage on a bad argument. */
static void parse_args(int argc, char **argv, options *o)
{
    *o = (options){ .threads = 1 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--threads") == 0)
            o->threads = parse_threads(++i < argc ? argv[i] : NULL);
        else if (strncmp(a, "--threads=", 10) == 0)
            o->threads = parse_threads(a + 10);
        else if (strcmp(a, "--quick") == 0)
            o->quick = true;
        else if (strcmp(a, "--check") == 0)
            o->check = true;
        else if (strcmp(a, "--ops") == 0)
            o->ops = true;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            usage(stdout), exit(0);
        else if (find_workload(a) >= 0)
            o->selected[find_workload(a)] = true;
        else
            fprintf(stderr, "bench: unknown argument '%s'\n", a), usage(stderr), exit(2);
    }
}

/* True if workload i is to run: it was named, or none was. */
static bool is_selected(const options *o, int i)
{
    for (int k = 0; k < bench_n_workloads; k++)
        if (o->selected[k])
            return o->selected[i];
    return true;
}

int main(int argc, char **argv)
{
    options o;
    parse_args(argc, argv, &o);
    ag_set_num_threads(o.threads);
    fprintf(stderr, "agrad %s  threads=%d%s\n", AG_BENCH_VERSION, ag_get_num_threads(),
            o.quick ? "  (quick: iterations / 10)" : "");
    if (o.ops)
        return bench_ops(o.quick);
    for (int i = 0; i < bench_n_workloads; i++) {
        const workload *w = &bench_workloads[i];
        if (!is_selected(&o, i))
            continue;
        if (o.check) {
            check_one(w, iters_of(w, &o), false);
            check_one(w, iters_of(w, &o), true);
        } else {
            time_workload(w, &o);
        }
    }
    return 0;
}
