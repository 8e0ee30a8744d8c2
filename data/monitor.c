/* monitor.c — watching a training run: the progress bar (only on a terminal), the epoch
 * summary line, the CSV log (flushed every epoch, so `tail -f` follows it) and the SVG plot
 * (rewritten every epoch, plot.c). */
#include "data_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define REDRAW_SECONDS 0.1

struct ag_monitor {
    FILE *out, *csv;
    bool tty;                 /* out is a terminal: draw the bar */
    char *svg;                /* path, or NULL */
    int epochs, done;         /* declared, finished */
    size_t steps, step;       /* per epoch, done in this one */
    double loss_sum;          /* of this epoch's steps */
    double t_epoch, t_drawn;  /* when this epoch started, when the bar was last drawn */
    agi_epoch_rec rec[];
};

/* Seconds on the monotonic clock. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A copy of s through the allocation hook; NULL for NULL. */
static char *copy_string(const char *s, bool *failed)
{
    size_t n = s ? strlen(s) + 1 : 0;
    char *c = n ? agi_alloc(n) : NULL;
    if (c)
        memcpy(c, s, n);
    *failed = n && !c;
    return c;
}

/* Creates the CSV with its header line. */
static ag_status open_csv(ag_monitor *m, const char *path)
{
    if (!path)
        return AG_OK;
    m->csv = fopen(path, "w");
    if (!m->csv)
        return ag_fail(AG_ERR_IO, "monitor: %s: %s", path, strerror(errno));
    fprintf(m->csv, "epoch,train_loss,train_acc,test_acc,seconds\n");
    fflush(m->csv);
    return AG_OK;
}

ag_monitor *ag_monitor_new(const char *csv_path, const char *svg_path, int epochs,
                           size_t steps_per_epoch)
{
    if (epochs < 1 || steps_per_epoch < 1) {
        ag_fail(AG_ERR_ARG, "monitor: epochs and steps per epoch must be >= 1 (got %d, %zu)",
                epochs, steps_per_epoch);
        return NULL;
    }
    ag_monitor *m = agi_alloc(sizeof *m + (size_t)epochs * sizeof(agi_epoch_rec));
    if (!m)
        return NULL;
    *m = (ag_monitor){ .epochs = epochs, .steps = steps_per_epoch, .t_epoch = now() };
    ag_monitor_set_output(m, stdout);
    bool failed;
    m->svg = copy_string(svg_path, &failed);
    if (failed || open_csv(m, csv_path) != AG_OK) {
        ag_monitor_free(m);
        return NULL;
    }
    return m;
}

void ag_monitor_set_output(ag_monitor *m, FILE *out)
{
    if (m) {
        m->out = out;
        m->tty = out && isatty(fileno(out));
    }
}

/* Minutes:seconds, for the ETA. */
static void print_duration(FILE *f, double s)
{
    long t = s > 0 && s < 1e7 ? (long)(s + 0.5) : 0;
    fprintf(f, "%ld:%02ld", t / 60, t % 60);
}

/* "epoch 3/15 [=========>        ] 234/469  812 it/s  ETA 0:03  loss 0.4321". */
static void draw_bar(ag_monitor *m, double t)
{
    size_t left = m->step < m->steps ? m->steps - m->step : 0;
    double frac = 1 - (double)left / (double)m->steps;
    double rate = (double)m->step / (t - m->t_epoch > 1e-9 ? t - m->t_epoch : 1e-9);
    int fill = (int)(frac * BAR_WIDTH);
    fprintf(m->out, "\repoch %d/%d [", m->done + 1, m->epochs);
    for (int i = 0; i < BAR_WIDTH; i++)
        fputc(i < fill ? '=' : i == fill ? '>' : ' ', m->out);
    fprintf(m->out, "] %zu/%zu  %.0f it/s  ETA ", m->step, m->steps, rate);
    print_duration(m->out, (double)left / rate);
    fprintf(m->out, "  loss %.4f\033[K", m->loss_sum / (double)m->step);
    fflush(m->out);
    m->t_drawn = t;
}

/* Counts the step and redraws the bar if it is due. */
void ag_monitor_step(ag_monitor *m, double loss)
{
    if (!m)
        return;
    m->step++;
    m->loss_sum += loss;
    if (!m->tty)
        return;
    double t = now();
    if (t - m->t_drawn >= REDRAW_SECONDS || m->step == m->steps)
        draw_bar(m, t);
}

/* The summary line, over the bar if there is one. */
static void print_summary(const ag_monitor *m, const agi_epoch_rec *r)
{
    int width = snprintf(NULL, 0, "%d", m->epochs);
    fprintf(m->out, "%sepoch %*d/%d  loss %.4f  train %.2f%%  test %.2f%%  %.2f s\n",
            m->tty ? "\r\033[K" : "", width, m->done, m->epochs, r->loss, 100 * r->train_acc,
            100 * r->test_acc, r->seconds);
    fflush(m->out);
}

/* Appends the epoch to the CSV. */
static ag_status log_csv(ag_monitor *m, const agi_epoch_rec *r)
{
    fprintf(m->csv, "%d,%.6f,%.6f,%.6f,%.3f\n", m->done, r->loss, r->train_acc, r->test_acc,
            r->seconds);
    if (fflush(m->csv) != 0 || ferror(m->csv))
        return ag_fail(AG_ERR_IO, "monitor: writing the CSV log failed: %s", strerror(errno));
    return AG_OK;
}

/* Records the epoch, prints it, logs it and replots. */
ag_status ag_monitor_epoch(ag_monitor *m, double train_loss, double train_acc,
                           double test_acc)
{
    if (!m)
        return ag_fail(AG_ERR_ARG, "monitor_epoch: monitor is NULL");
    if (m->done >= m->epochs)
        return ag_fail(AG_ERR_ARG, "monitor_epoch: epoch %d is past the %d declared",
                       m->done + 1, m->epochs);
    double t = now();
    agi_epoch_rec *r = &m->rec[m->done++];
    *r = (agi_epoch_rec){ train_loss, train_acc, test_acc, t - m->t_epoch };
    m->t_epoch = t;
    m->step = 0;
    m->loss_sum = 0;
    if (m->out)
        print_summary(m, r);
    ag_status st = m->csv ? log_csv(m, r) : AG_OK;
    if (st == AG_OK && m->svg)
        st = agi_write_plot(m->svg, m->rec, m->done, m->epochs);
    return st;
}

void ag_monitor_free(ag_monitor *m)
{
    if (m) {
        if (m->csv)
            fclose(m->csv);
        agi_release(m->svg);
        agi_release(m);
    }
}
