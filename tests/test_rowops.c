/* test_rowops.c — the row kernels behind softmax, log_softmax and cross-entropy (rowops.c),
 * against libm in double: every exponential within a few ulp of the build's precision, the
 * sums to match, and the edges (the underflow floor, -inf, NaN, rows of every tail length).
 * Built for both precisions; in the float build on an AVX-512 CPU this exercises the
 * intrinsic path, elsewhere the portable loop. */
#include <criterion/criterion.h>

#include "ops_internal.h"

#include <math.h>
#include <stdint.h>

#ifdef AG_DOUBLE
#define ULP 2.220446049250313e-16
#else
#define ULP 1.1920928955078125e-07
#endif

/* A row of n values in [-30, 0] from a fixed hash, so that every lane sees a different one. */
static void fill_row(ag_real *x, int64_t n, uint32_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)i * 2654435761u + seed * 0x9E3779B9u;
        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 12;
        x[i] = (ag_real)(-30.0 * (double)(h >> 8) / 16777216.0);
    }
}

/* |got - want| within `ulps` units of the build's precision relative to `scale` (the
 * magnitude the rounding errors are relative to), or absolutely below the smallest normal
 * float, where the float kernels flush to 0. */
static void expect_near(double got, double want, double scale, double ulps, const char *what,
                        int64_t i)
{
    double tol = ulps * ULP * fabs(scale) + 1.2e-38;
    cr_expect(fabs(got - want) <= tol, "%s[%lld]: got %.9g, want %.9g", what, (long long)i, got,
              want);
}

/* expect_near relative to want itself. */
static void expect_close(double got, double want, double ulps, const char *what, int64_t i)
{
    expect_near(got, want, want, ulps, what, i);
}

/* exp_sum over rows of every length from 0 to 70 (all tails of a 16-lane vector, several
 * vectors) and two long ones: each stored e^(x - shift) and the sum. */
Test(rowops, exp_sum_matches_libm)
{
    static ag_real x[1100], y[1100];
    int64_t lengths[] = { 1000, 1023 };
    for (int64_t k = 0; k < 73; k++) {
        int64_t n = k < 71 ? k : lengths[k - 71];
        fill_row(x, n, (uint32_t)n);
        ag_real shift = n ? agi_row_max(x, n) : 0;
        double want_sum = 0;
        for (int64_t i = 0; i < n; i++)
            want_sum += exp((double)x[i] - (double)shift);
        double s = agi_row_exp_sum(y, x, n, shift);
        for (int64_t i = 0; i < n; i++)
            expect_close(y[i], exp((double)(ag_real)(x[i] - shift)), 3, "e", i);
        expect_close(s, want_sum, 3 + (double)n / 64, "sum", n); /* and rounding per add */
        cr_expect_eq(agi_row_exp_sum(NULL, x, n, shift), s, "the sum without storing, n=%lld",
                     (long long)n);
    }
}

/* In float, below the floor of -87.3 the kernels give exactly 0 (double: the value); -inf
 * gives 0; just above the floor, the value. NaN stays NaN and makes the sum NaN. Each edge
 * value sits at a different lane of a 19-value row (a vector and a tail). */
Test(rowops, exp_edges)
{
    ag_real x[19], y[19];
    for (int lane = 0; lane < 19; lane++) {
        for (int i = 0; i < 19; i++)
            x[i] = (ag_real)-1.0;
        x[lane] = (ag_real)-87.4;
        x[(lane + 1) % 19] = (ag_real)-INFINITY;
        x[(lane + 2) % 19] = (ag_real)-87.2;
        x[(lane + 3) % 19] = 0;
        double s = agi_row_exp_sum(y, x, 19, 0);
#ifdef AG_DOUBLE
        double below = exp((double)x[lane]);
        expect_close(y[lane], below, 4, "e(-87.4)", lane);
#else
        double below = 0;
        cr_expect_eq(y[lane], 0, "e(-87.4) at lane %d", lane);
#endif
        cr_expect_eq(y[(lane + 1) % 19], 0, "e(-inf) at lane %d", (lane + 1) % 19);
        expect_close(y[(lane + 2) % 19], exp((double)x[(lane + 2) % 19]), 4, "e(-87.2)", lane);
        cr_expect_eq(y[(lane + 3) % 19], 1);
        expect_close(s, 15 * exp(-1.0) + 1 + exp((double)x[(lane + 2) % 19]) + below, 4, "sum",
                     lane);
        x[(lane + 4) % 19] = (ag_real)NAN;
        s = agi_row_exp_sum(y, x, 19, 0);
        cr_expect(isnan(y[(lane + 4) % 19]) && isnan(s), "NaN at lane %d", (lane + 4) % 19);
        cr_expect_eq(y[(lane + 3) % 19], 1, "a NaN in one lane leaves the others");
    }
}

/* exp_affine: y = g (e^(x - shift) - off), cross-entropy's gradient without a kept softmax. */
Test(rowops, exp_affine_matches_libm)
{
    static ag_real x[1100], y[1100];
    for (int64_t n = 0; n < 1100; n += 37) {
        fill_row(x, n, 7 + (uint32_t)n);
        ag_real shift = (ag_real)-0.25, g = (ag_real)0.75, off = (ag_real)0.001;
        agi_row_exp_affine(y, x, n, shift, g, off);
        for (int64_t i = 0; i < n; i++) {
            double e = exp((double)(ag_real)(x[i] - shift));
            /* rounding errors scale with g e (and g off), not with the difference */
            expect_near(y[i], (double)g * (e - (double)off), (double)g * (e + (double)off), 4,
                        "y", i);
        }
    }
}
