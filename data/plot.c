/* plot.c — the monitor's SVG: two panels side by side, the training loss and the train and
 * test accuracy (percent) against the epoch, each with a frame, ticks at 1-2-5 steps, tick
 * labels, axis titles and a legend. Written by hand: a browser shows it, and reloading the
 * page during a run shows the run so far. */
#include "data_internal.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define PANEL_W 330.0
#define PANEL_H 220.0
#define TICKS 5

/* A curve: which field of the epoch record, times what, drawn in which colour. */
typedef struct curve {
    const char *name, *colour;
    size_t field;
    double scale;
} curve;

/* A panel: its box in pixels and the data ranges it maps onto it. */
typedef struct panel {
    double left, top, x1, y0, y1, ystep;
} panel;

static double value(const agi_epoch_rec *r, const curve *c)
{
    return *(const double *)((const char *)r + c->field) * c->scale;
}

/* Pixel coordinates of epoch x and value y. The x axis starts at epoch 0. */
static double px(const panel *p, double x) { return p->left + x / p->x1 * PANEL_W; }
static double py(const panel *p, double y)
{
    return p->top + PANEL_H - (y - p->y0) / (p->y1 - p->y0) * PANEL_H;
}

/* A round step (1, 2 or 5 times a power of ten) that cuts `span` into about TICKS parts. */
static double nice_step(double span)
{
    double raw = span > 0 ? span / TICKS : 1, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* The k-th tick from lo, with rounding noise near zero removed (no "5.55e-17" labels). */
static double tick(double lo, int k, double step)
{
    double v = lo + k * step;
    return fabs(v) < step * 1e-6 ? 0 : v;
}

/* Fits the y range to the curves' values, widened to whole steps. */
static void fit_y(panel *p, const curve *cs, int nc, const agi_epoch_rec *rec, int n)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int c = 0; c < nc; c++)
        for (int i = 0; i < n; i++) {
            lo = fmin(lo, value(&rec[i], &cs[c]));
            hi = fmax(hi, value(&rec[i], &cs[c]));
        }
    if (!(lo <= hi))
        lo = 0, hi = 1;
    p->ystep = nice_step(hi - lo);
    p->y0 = floor(lo / p->ystep) * p->ystep;
    p->y1 = fmax(ceil(hi / p->ystep) * p->ystep, p->y0 + p->ystep);
}

/* The frame, the ticks with their labels, and the axis titles. */
static void draw_axes(FILE *f, const panel *p, const char *title, const char *ylabel)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"#333\"/>\n", p->left, p->top, PANEL_W, PANEL_H);
    int ny = (int)lround((p->y1 - p->y0) / p->ystep);
    for (int k = 0; k <= ny; k++) {
        double y = tick(p->y0, k, p->ystep);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->left - 5,
                py(p, y), p->left, py(p, y), p->left - 8, py(p, y) + 4, y);
    }
    double xstep = ceil(nice_step(p->x1));
    for (int k = 0; k * xstep <= p->x1; k++) {
        double x = k * xstep;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px(p, x),
                p->top + PANEL_H, px(p, x), p->top + PANEL_H + 5, px(p, x),
                p->top + PANEL_H + 18, x);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\">%s"
            "</text>\n", p->left + PANEL_W / 2, p->top - 10, title);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">epoch</text>\n",
            p->left + PANEL_W / 2, p->top + PANEL_H + 36);
    fprintf(f, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">"
            "%s</text>\n", p->left - 48, p->top + PANEL_H / 2, ylabel);
}

/* The curve as a polyline with a dot on every epoch (one epoch alone is a dot). */
static void draw_curve(FILE *f, const panel *p, const curve *c, const agi_epoch_rec *rec, int n)
{
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c->colour);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(p, i + 1), py(p, value(&rec[i], c)));
    fprintf(f, "\"/>\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", px(p, i + 1),
                py(p, value(&rec[i], c)), c->colour);
}

/* The legend in the panel's upper or lower right corner, where the curves are not. */
static void draw_legend(FILE *f, const panel *p, const curve *cs, int nc, bool top)
{
    double x = p->left + PANEL_W - 90;
    double y = top ? p->top + 18 : p->top + PANEL_H - 12 - 18 * (nc - 1);
    for (int c = 0; c < nc; c++, y += 18)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x, y - 4, x + 20,
                y - 4, cs[c].colour, x + 26, y, cs[c].name);
}

/* One panel of nc curves at horizontal offset `left`. */
static void draw_panel(FILE *f, double left, const char *title, const char *ylabel,
                       const curve *cs, int nc, bool legend_top, const agi_epoch_rec *rec,
                       int n, int planned)
{
    panel p = { .left = left + 70, .top = 40, .x1 = planned };
    fit_y(&p, cs, nc, rec, n);
    draw_axes(f, &p, title, ylabel);
    for (int c = 0; c < nc; c++)
        draw_curve(f, &p, &cs[c], rec, n);
    draw_legend(f, &p, cs, nc, legend_top);
}

ag_status agi_write_plot(const char *path, const agi_epoch_rec *rec, int n, int planned)
{
    static const curve loss[] = { { "train loss", "#1f77b4", offsetof(agi_epoch_rec, loss), 1 } };
    static const curve acc[] = {
        { "train", "#1f77b4", offsetof(agi_epoch_rec, train_acc), 100 },
        { "test", "#d62728", offsetof(agi_epoch_rec, test_acc), 100 },
    };
    FILE *f = fopen(path, "w");
    if (!f)
        return ag_fail(AG_ERR_IO, "monitor: %s: %s", path, strerror(errno));
    double w = 2 * (PANEL_W + 100), h = PANEL_H + 100;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", w, h, w, h);
    draw_panel(f, 0, "loss", "loss", loss, 1, true, rec, n, planned);
    draw_panel(f, PANEL_W + 100, "accuracy", "accuracy (%)", acc, 2, false, rec, n, planned);
    fprintf(f, "</svg>\n");
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return ag_fail(AG_ERR_IO, "monitor: %s: write failed: %s", path, strerror(errno));
    return AG_OK;
}
