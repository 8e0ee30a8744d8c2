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

AGI_SIMD ag_real agi_row_max(const ag_real *x, int64_t n)
{
    if (n <= 0)
        return 0;
    ag_real m = x[0];
    int64_t i = 0;
    if (n >= LANES) {
        vreal part, v;
        memcpy(&part, x, sizeof part);
        for (i = LANES; i + LANES <= n; i += LANES) {
            memcpy(&v, x + i, sizeof v);
            vint gt = v > part;
            part = (vreal)(((vint)v & gt) | ((vint)part & ~gt));
        }
        for (int j = 0; j < LANES; j++)
            m = part[j] > m ? part[j] : m;
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
