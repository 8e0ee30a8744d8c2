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

/* The float build on an AVX-512 CPU takes exp16 below for the exponentials: the same
 * reduction and polynomial as agi_expf_neg, but with fused multiply-adds and vscalefps for
 * the power of two, which the portable loop (compiled as ISO C, without contraction) cannot
 * use. Measured on softmax-ce's 1024 x 1000 logits: the exp-and-sum pass went from 22 to
 * about 8 cycles per 16 values. Results differ from the portable path's by an ulp or so. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(AG_DOUBLE)
#define ROWOPS_AVX512 1
#include <immintrin.h>
#define TARGET_AVX512F __attribute__((target("avx512f")))
#endif

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

#ifdef ROWOPS_AVX512
/* agi_expf_neg on 16 lanes: e^x for x <= 0, 0 below -87.3, NaN kept. */
TARGET_AVX512F static inline __m512 exp16(__m512 x)
{
    const __m512 floor = _mm512_set1_ps(-87.3f), shifter = _mm512_set1_ps(12582912.0f);
    __m512 xc = _mm512_max_ps(x, floor); /* a NaN lane takes `floor`; restored at the end */
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), shifter),
                             shifter);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    __m512 y = _mm512_scalef_ps(p, n); /* p 2^n */
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, floor, _CMP_LT_OQ), _mm512_setzero_ps());
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

/* Lanes [0, n) of a vector, for a row's last n < 16 values: masked loads and stores only
 * there, since a masked store is several times slower than a plain one on AMD Zen. */
static inline __mmask16 tail_mask(int64_t n)
{
    return (__mmask16)((1u << n) - 1);
}

/* Adds the sixteen floats of e, widened to double, into the accumulators lo and hi. */
TARGET_AVX512F static inline void add_wide(__m512d *lo, __m512d *hi, __m512 e)
{
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    *hi = _mm512_add_pd(*hi, _mm512_cvtps_pd(_mm256_castpd_ps(
                                 _mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
}

/* agi_row_exp_sum with exp16: the sum in two double accumulators (the low and high eight
 * lanes), added up in a fixed order at the end. */
TARGET_AVX512F static double exp_sum_avx512(float *y, const float *x, int64_t n, float shift)
{
    __m512 s = _mm512_set1_ps(shift);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
        if (y)
            _mm512_storeu_ps(y + i, e);
        add_wide(&lo, &hi, e);
    }
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(k, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s)));
        if (y)
            _mm512_mask_storeu_ps(y + i, k, e);
        add_wide(&lo, &hi, e);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

/* agi_row_exp_affine with exp16. */
TARGET_AVX512F static void exp_affine_avx512(float *y, const float *x, int64_t n, float shift,
                                             float g, float off)
{
    __m512 s = _mm512_set1_ps(shift), vg = _mm512_set1_ps(g), voff = _mm512_set1_ps(off);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(vg, _mm512_sub_ps(exp16(_mm512_sub_ps(
                                                     _mm512_loadu_ps(x + i), s)), voff)));
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s));
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(vg, _mm512_sub_ps(e, voff)));
    }
}

/* True if this CPU runs the AVX-512 row kernels (the answer is cached by the compiler's
 * runtime after the first call). */
static bool use_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}
#endif

AGI_SIMD double agi_row_exp_sum(ag_real *y, const ag_real *x, int64_t n, ag_real shift)
{
#ifdef ROWOPS_AVX512
    if (use_avx512())
        return exp_sum_avx512(y, x, n, shift);
#endif
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
#ifdef ROWOPS_AVX512
    if (use_avx512()) {
        exp_affine_avx512(y, x, n, shift, g, off);
        return;
    }
#endif
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
