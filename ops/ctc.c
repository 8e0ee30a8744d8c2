/* ctc.c — the connectionist temporal classification loss.
 *
 * Sample n's target l (length L = target_lengths[n]) is extended with blanks to
 * l' = (b, l_1, b, l_2, ..., l_L, b), 2L + 1 states. The forward variable alpha_t(s) is the
 * probability of every path prefix that has emitted l'[0..s] by time t (the emission at t
 * included), and
 *   loss_n = -log p_n,   p_n = alpha_{T-1}(2L) + alpha_{T-1}(2L - 1),   T = input_lengths[n].
 * A path moves from state s to s, s + 1, or s + 2 when l'[s+2] is a label different from
 * l'[s] (a repeated label needs a blank between). The backward variable beta_t(s) runs the
 * same recursion from the end. Both are computed in log space (log-add-exp, double), so long
 * inputs do not underflow.
 *
 * The gradient is the plain partial derivative with respect to log_probs (FORMAT.md), not
 * PyTorch's internal one (which assumes log_probs came out of a log_softmax):
 *   d loss_n / d lp[t,n,c] = -sum_{s: l'[s] = c} alpha_t(s) beta_t(s) / (p_n e^lp[t,n,c])
 * for t < T, 0 after. The backward is a raw kernel over alpha (kept from forward) and beta,
 * so the op is once differentiable. */
#include "loss_internal.h"

#include <inttypes.h>
#include <math.h>

/* Everything forward leaves for backward; lives on the tape until ag_step_end. */
typedef struct ctc_plan {
    int64_t T, N, C, S, blank;
    bool zero_infinity;
    int64_t *targets, *in_len, *tgt_len; /* copies: (N, S), (N), (N) */
    size_t *alpha_off;                   /* (N) where sample n's alpha starts */
    double *alpha;                       /* sample n: in_len[n] rows of 2 tgt_len[n] + 1 */
    double *nll;                         /* (N) -log p_n, +inf if no alignment exists */
} ctc_plan;

/* log(e^a + e^b) without overflow */
static double log_add(double a, double b)
{
    double hi = a > b ? a : b, lo = a > b ? b : a;
    return lo == -INFINITY ? hi : hi + log1p(exp(lo - hi));
}

/* l'[s] for sample n: the blank at even s, target label (s - 1) / 2 at odd s. */
static int64_t ext_label(const ctc_plan *p, int64_t n, int64_t s)
{
    return s % 2 ? p->targets[n * p->S + s / 2] : p->blank;
}

/* May a path skip from state s - 2 to s (a label that differs from the one before it)? */
static bool can_skip(const ctc_plan *p, int64_t n, int64_t s)
{
    return s >= 2 && s % 2 && ext_label(p, n, s) != ext_label(p, n, s - 2);
}

/* lp[t, n, c] */
static double lp_at(const ctc_plan *p, const ag_real *lp, int64_t t, int64_t n, int64_t c)
{
    return lp[(t * p->N + n) * p->C + c];
}

/* Fills sample n's alpha (T x L, log space) and returns -log p_n (+inf when the input is too
 * short for the target). */
static double ctc_alpha(const ctc_plan *p, const ag_real *lp, int64_t n)
{
    int64_t T = p->in_len[n], L = 2 * p->tgt_len[n] + 1;
    double *alpha = p->alpha + p->alpha_off[n];
    if (T == 0)
        return L == 1 ? 0 : INFINITY;
    for (int64_t s = 0; s < L; s++)
        alpha[s] = s < 2 ? lp_at(p, lp, 0, n, ext_label(p, n, s)) : -INFINITY;
    for (int64_t t = 1; t < T; t++) {
        const double *prev = alpha + (t - 1) * L;
        double *cur = alpha + t * L;
        for (int64_t s = 0; s < L; s++) {
            double a = prev[s];
            if (s >= 1)
                a = log_add(a, prev[s - 1]);
            if (can_skip(p, n, s))
                a = log_add(a, prev[s - 2]);
            cur[s] = a + lp_at(p, lp, t, n, ext_label(p, n, s));
        }
    }
    const double *last = alpha + (T - 1) * L;
    return -(L > 1 ? log_add(last[L - 1], last[L - 2]) : last[0]);
}

/* Writes sample n's gradient rows grad[t, n, :] for t < T: -g * gamma_t, where
 * log gamma_t(c) = log sum_{s: l'[s] = c} alpha_t(s) beta_t(s) + nll - lp[t,n,c].
 * beta runs backwards in two rows of L; lcab is scratch for C values. An infinite nll (no
 * alignment, or zero_infinity) gives a zero gradient. */
static void ctc_grad(const ctc_plan *p, const ag_real *lp, int64_t n, double g, ag_real *grad,
                     double *beta, double *lcab)
{
    int64_t T = p->in_len[n], L = 2 * p->tgt_len[n] + 1, C = p->C;
    double nll = p->nll[n];
    const double *alpha = p->alpha + p->alpha_off[n];
    if (isinf(nll))
        return;
    double *next = beta, *cur = beta + L;
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t s = L - 1; s >= 0; s--) {
            double b;
            if (t == T - 1) {
                b = s >= L - 2 ? 0 : -INFINITY;
            } else {
                b = next[s];
                if (s + 1 < L)
                    b = log_add(b, next[s + 1]);
                if (s + 2 < L && can_skip(p, n, s + 2))
                    b = log_add(b, next[s + 2]);
            }
            cur[s] = b + lp_at(p, lp, t, n, ext_label(p, n, s));
        }
        for (int64_t c = 0; c < C; c++)
            lcab[c] = -INFINITY;
        for (int64_t s = 0; s < L; s++) {
            int64_t c = ext_label(p, n, s);
            lcab[c] = log_add(lcab[c], alpha[t * L + s] + cur[s]);
        }
        ag_real *row = grad + (t * p->N + n) * C;
        for (int64_t c = 0; c < C; c++)
            row[c] = lcab[c] == -INFINITY
                         ? 0
                         : (ag_real)(-g * exp(lcab[c] + nll - lp_at(p, lp, t, n, c)));
        double *tmp = next;
        next = cur;
        cur = tmp;
    }
}

/* log_probs (T, N, C) -> per-sample losses (N) */
static ag_status ctc_fwd(ag_ctx *c, ag_tensor *const *in, ag_tensor **out)
{
    ctc_plan *p = *(ctc_plan *const *)ag_ctx_attrs(c);
    size_t total = 0;
    for (int64_t n = 0; n < p->N; n++) {
        p->alpha_off[n] = total;
        total += (size_t)(p->in_len[n] * (2 * p->tgt_len[n] + 1));
    }
    p->alpha = ag_ctx_alloc(c, (total ? total : 1) * sizeof(double));
    if (!p->alpha || !(out[0] = ag_empty(AG_SHAPE(p->N))))
        return ag_error();
    for (int64_t n = 0; n < p->N; n++) {
        p->nll[n] = ctc_alpha(p, in[0]->data, n);
        if (isinf(p->nll[n]) && p->zero_infinity)
            out[0]->data[n] = 0;
        else
            out[0]->data[n] = (ag_real)p->nll[n];
    }
    ag_ctx_save(c, in[0]);
    return AG_OK;
}
static ag_status ctc_bwd(ag_ctx *c, ag_tensor *const *dy, ag_tensor **dx)
{
    const ctc_plan *p = *(ctc_plan *const *)ag_ctx_attrs(c);
    ag_tensor *lp = ag_ctx_saved(c, 0);
    ag_tensor *grad = lp ? ag_zeros_tape(lp->shape) : NULL;
    int64_t states = 2 * p->S + 1; /* the most any sample has */
    double *beta = ag_ctx_alloc(c, (size_t)(2 * states + p->C) * sizeof(double));
    if (!grad || !beta)
        return ag_error();
    for (int64_t n = 0; n < p->N; n++)
        ctc_grad(p, lp->data, n, dy[0]->data[n], grad->data, beta, beta + 2 * states);
    dx[0] = grad;
    return AG_OK;
}
static const ag_op CTC = { .name = "ctc_loss", .n_in = 1, .n_out = 1, .forward = ctc_fwd, .backward = ctc_bwd, .once_differentiable = true };

/* An index array that must be present; false with "ctc_loss: <what> is NULL". */
static bool present(const int64_t *a, const char *what)
{
    if (a)
        return true;
    return AGI_FAIL(AG_ERR_ARG, "ctc_loss: %s is NULL", what), false;
}

/* v in lo..hi, or false with "ctc_loss: what[i] = v is out of range lo..hi" (no [i] when
 * i < 0). */
static bool in_range(const char *what, int64_t i, int64_t v, int64_t lo, int64_t hi)
{
    if (v >= lo && v <= hi)
        return true;
    char name[64];
    if (i >= 0)
        snprintf(name, sizeof name, "%s[%" PRId64 "]", what, i);
    else
        snprintf(name, sizeof name, "%s", what);
    return AGI_FAIL(AG_ERR_ARG, "ctc_loss: %s = %" PRId64 " is out of range %" PRId64 "..%" PRId64,
                    name, v, lo, hi),
           false;
}

/* Checks every argument against log_probs' shape (T, N, C): lengths in range, labels in
 * 0..C-1 and not the blank (padding beyond target_lengths[n] is ignored). */
static bool check_args(ag_shape s, const int64_t *targets, int64_t S, const int64_t *in_len,
                       const int64_t *tgt_len, int64_t blank)
{
    char b[AG_SHAPE_STRLEN];
    if (s.ndim != 3)
        return AGI_FAIL(AG_ERR_SHAPE, "ctc_loss: log_probs must be (T, N, C), got shape %s",
                        ag_shape_str(s, b)),
               false;
    int64_t T = s.d[0], N = s.d[1], C = s.d[2];
    if (S < 0)
        return AGI_FAIL(AG_ERR_ARG, "ctc_loss: S = %" PRId64 " is negative", S), false;
    if (!in_range("blank", -1, blank, 0, C - 1) || !present(in_len, "input_lengths") ||
        !present(tgt_len, "target_lengths") ||
        (S > 0 && !present(targets, "targets")))
        return false;
    for (int64_t n = 0; n < N; n++) {
        if (!in_range("input_lengths", n, in_len[n], 0, T) ||
            !in_range("target_lengths", n, tgt_len[n], 0, S))
            return false;
        for (int64_t k = 0; k < tgt_len[n]; k++) {
            int64_t v = targets[n * S + k];
            if (!in_range("targets", n * S + k, v, 0, C - 1))
                return false;
            if (v == blank)
                return AGI_FAIL(AG_ERR_ARG, "ctc_loss: targets[%" PRId64 "] = %" PRId64 " is the blank",
                                n * S + k, v),
                       false;
        }
    }
    return true;
}

/* The plan for checked arguments: copies of the index arrays and room for the results. */
static ctc_plan *make_plan(ag_shape s, const int64_t *targets, int64_t S, const int64_t *in_len,
                           const int64_t *tgt_len, int64_t blank, bool zero_infinity)
{
    agi_arena *a = &agi_tape_get()->arena;
    int64_t N = s.d[1];
    size_t nn = (size_t)(N ? N : 1);
    ctc_plan *p = agi_arena_alloc(a, sizeof *p);
    if (!p)
        return NULL;
    *p = (ctc_plan){ .T = s.d[0], .N = N, .C = s.d[2], .S = S, .blank = blank,
                     .zero_infinity = zero_infinity };
    p->targets = S ? agi_tape_indices(targets, N * S) : NULL;
    p->in_len = agi_tape_indices(in_len, N);
    p->tgt_len = agi_tape_indices(tgt_len, N);
    p->alpha_off = agi_arena_alloc(a, nn * sizeof *p->alpha_off);
    p->nll = agi_arena_alloc(a, nn * sizeof *p->nll);
    bool ok = (p->targets || !S) && p->in_len && p->tgt_len && p->alpha_off && p->nll;
    return ok ? p : NULL;
}

/* ctc_loss "mean": mean_n loss_n / max(target_lengths[n], 1). */
static ag_tensor *mean_per_target(ag_tensor *loss, const ctc_plan *p)
{
    ag_tensor *len = loss ? ag_empty(AG_SHAPE(p->N)) : NULL;
    if (!len)
        return NULL;
    for (int64_t n = 0; n < p->N; n++)
        len->data[n] = (ag_real)(p->tgt_len[n] > 1 ? p->tgt_len[n] : 1);
    return ag_mean(ag_div(loss, len));
}

ag_tensor *ag_ctc_loss(ag_tensor *log_probs, const int64_t *targets, int64_t S,
                       const int64_t *input_lengths, const int64_t *target_lengths,
                       int64_t blank, ag_reduction r, bool zero_infinity)
{
    if (!agi_check_live(log_probs, "ctc_loss", 0) || !agi_check_reduction("ctc_loss", r) ||
        !check_args(log_probs->shape, targets, S, input_lengths, target_lengths, blank))
        return NULL;
    ctc_plan *p = make_plan(log_probs->shape, targets, S, input_lengths, target_lengths, blank,
                            zero_infinity);
    if (!p)
        return NULL;
    ag_tensor *loss = ag_apply(&CTC, &log_probs, 1, &p, sizeof p, NULL);
    return r == AG_MEAN ? mean_per_target(loss, p) : agi_reduce_loss(loss, r);
}
