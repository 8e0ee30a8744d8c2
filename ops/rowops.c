/* rowops.c — the row kernels of softmax, log_softmax and cross-entropy, vectorised.
 *
 * A plain `s += exp(x[i] - m)` loop never vectorises: libm's exp is a call, and a float sum
 * into a double is an ordered reduction. These work in blocks of LANES with one partial
 * max/sum per lane (each lane's loop is elementwise, so it runs at SIMD width) and combine
 * the lanes at the end; exp is vmath.h's inline one. The shifted arguments are <= 0 (x minus
 * the row max, or minus the log-sum-exp), the range agi_expf_neg covers. The lane order is fixed, so results do
 * not depend on anything but the data. */
#include "ops_internal.h"
#include "vmath.h"

#include <string.h>

#define LANES 16
#define BLOCK 512 /* values per exp-then-sum block: stays in L1 */

/* e^x for x <= 0 at the build's precision: float's own polynomial in the float build (twice
 * the SIMD width), the double one in the double build. */
static inline ag_real exp_neg(ag_real x)
{
#ifdef AG_DOUBLE
    return agi_exp(x);
#else
    return agi_expf_neg(x);
#endif
}

/* GCC/Clang vector types for the max: compilers do not vectorise a float max reduction on
 * their own (NaN ordering), so it is written lane-wise with a compare and a bit select. */
#ifdef AG_DOUBLE
typedef int64_t lane_int;
#else
typedef int32_t lane_int;
#endif
typedef ag_real vreal __attribute__((vector_size(LANES * sizeof(ag_real))));
typedef lane_int vint __attribute__((vector_size(LANES * sizeof(ag_real))));

/* The larger of each lane of a and b (a where b is not greater, so NaN lanes keep a). A
 * macro: a function passing 64-byte vectors by value trips GCC's ABI warning. */
#define LANE_MAX(a, b) ((vreal)((((vint)(b)) & ((b) > (a))) | (((vint)(a)) & ~((b) > (a)))))

/* Four independent running maxima: one compare-and-select chain would wait on its own
 * latency at every step. */
AGI_SIMD ag_real agi_row_max(const ag_real *x, int64_t n)
{
    if (n <= 0)
        return 0;
    ag_real m = x[0];
    int64_t i = 0;
    if (n >= 4 * LANES) {
        vreal part[4], v;
        for (int k = 0; k < 4; k++)
            memcpy(&part[k], x + k * LANES, sizeof v);
        for (i = 4 * LANES; i + 4 * LANES <= n; i += 4 * LANES)
            for (int k = 0; k < 4; k++) {
                memcpy(&v, x + i + k * LANES, sizeof v);
                part[k] = LANE_MAX(part[k], v);
            }
        vreal m01 = LANE_MAX(part[0], part[1]), m23 = LANE_MAX(part[2], part[3]);
        vreal all = LANE_MAX(m01, m23);
        for (int j = 0; j < LANES; j++)
            m = all[j] > m ? all[j] : m;
    }
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

/* e[0..m) = e^(x - shift): a plain elementwise loop, which vectorises. */
static inline void exp_block(ag_real *e, const ag_real *x, int64_t m, ag_real shift)
{
    for (int64_t i = 0; i < m; i++)
        e[i] = exp_neg(x[i] - shift);
}

/* sum of e[0..m) in double, one partial sum per lane. */
static inline double sum_block(const ag_real *e, int64_t m)
{
    double part[LANES] = { 0 }, s = 0;
    int64_t i = 0;
    for (; i + LANES <= m; i += LANES)
        for (int j = 0; j < LANES; j++)
            part[j] += e[i + j];
    for (int j = 0; j < LANES; j++)
        s += part[j];
    for (; i < m; i++)
        s += e[i];
    return s;
}

AGI_SIMD double agi_row_exp_sum(ag_real *y, const ag_real *x, int64_t n, ag_real shift)
{
    ag_real buf[BLOCK];
    double s = 0;
    for (int64_t i = 0; i < n; i += BLOCK) {
        int64_t m = n - i < BLOCK ? n - i : BLOCK;
        ag_real *e = y ? y + i : buf;
        exp_block(e, x + i, m, shift);
        s += sum_block(e, m);
    }
    return s;
}

AGI_SIMD void agi_row_exp_affine(ag_real *y, const ag_real *x, int64_t n, ag_real shift,
                                 ag_real g, ag_real off)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = g * (exp_neg(x[i] - shift) - off);
}

/* y[0..n) *= a (a softmax row normalised in place). */
AGI_SIMD void agi_row_scale(ag_real *y, int64_t n, ag_real a)
{
    for (int64_t i = 0; i < n; i++)
        y[i] *= a;
}

/* y = g (p - off): cross-entropy's gradient row from a kept softmax row. */
AGI_SIMD void agi_row_affine(ag_real *y, const ag_real *p, int64_t n, ag_real g, ag_real off)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = g * (p[i] - off);
}
