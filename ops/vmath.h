/* vmath.h — branch-free exp, sigmoid and tanh that compilers vectorise. Not API.
 *
 * libm's exp and tanh are calls the compiler cannot vectorise, and they dominated softmax,
 * cross-entropy, sigmoid and tanh (30-40 ns per element for tanh). These compute in double
 * with a degree-13 polynomial after range reduction (by Estrin's scheme, whose dependency
 * chains are short: scalar graphs wait on them), accurate to a few ulp of double, so results
 * rounded to float are (almost always) the correctly rounded ones and the double build keeps
 * ~1e-15 accuracy. Inline, no branches, no calls: a plain loop over them runs at SIMD width. */
#ifndef AG_VMATH_H
#define AG_VMATH_H

#include <stdint.h>
#include <string.h>

/* 2^k for an integer k in [-1022, 1023], built from the exponent bits. */
static inline double agi_pow2i(int64_t k)
{
    uint64_t b = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* e^x. NaN propagates; overflow gives inf and underflow 0 or a subnormal, as libm does. */
static inline double agi_exp(double x)
{
    const double log2e = 1.4426950408889634, ln2_hi = 0.6931471803691238,
                 ln2_lo = 1.9082149292705877e-10, shifter = 0x1.8p52;
    double xc = x > 710.0 ? 710.0 : x < -746.0 ? -746.0 : x == x ? x : 0.0; /* NaN: see end */
    double t = xc * log2e + shifter; /* rounds xc*log2e to an integer n in t's low bits */
    double n = t - shifter;
    double r = (xc - n * ln2_hi) - n * ln2_lo; /* |r| <= ln2/2 */
    /* Taylor series of e^r to r^13 by Estrin's scheme: pairs of terms, then pairs of pairs
     * with r^2, r^4 and r^8, four levels deep where Horner's rule is thirteen. A graph of
     * scalars (h = tanh(h w + b)) waits on every exp: 28.8 -> 14.1 ns per call in a
     * dependent chain; within 2 ulp of double (Horner's: 1), and rounded to float the same
     * as libm's correctly rounded exp on 2e7 random arguments. */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double p01 = 1.0 + r, p23 = 0.5 + r * (1.0 / 6.0);
    double p45 = 1.0 / 24.0 + r * (1.0 / 120.0), p67 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    double p89 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    double p1011 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    double p1213 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    double p03 = p01 + r2 * p23, p47 = p45 + r2 * p67, p811 = p89 + r2 * p1011;
    double p = (p03 + r4 * p47) + r8 * (p811 + r4 * p1213);
    int64_t bits;
    memcpy(&bits, &t, sizeof bits);
    int64_t k = (bits & ((INT64_C(1) << 52) - 1)) - (INT64_C(1) << 51); /* n as an integer */
    int64_t k1 = k / 2;                        /* two factors keep each power normal */
    double y = p * agi_pow2i(k1) * agi_pow2i(k - k1);
    return x != x ? x : y;
}

/* e^x in float for arguments <= 0 (softmax and cross-entropy rows, where x is shifted by the
 * row max): Cephes' expf polynomial after a Cody-Waite reduction, ~1 ulp of float, at twice
 * the SIMD width of the double version. x below -87.3 gives 0 (not a subnormal). */
static inline float agi_expf_neg(float x)
{
    const float log2e = 1.44269504088896341f, c1 = 0.693359375f, c2 = -2.12194440e-4f;
    float xc = x < -87.3f ? -87.3f : x == x ? x : 0.0f; /* NaN: see end */
    float t = xc * log2e + 12582912.0f; /* 1.5 * 2^23: rounds to an integer n in the low bits */
    float n = t - 12582912.0f;
    float r = xc - n * c1 - n * c2;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t b = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &b, sizeof scale);
    float y = p * scale;
    y = x < -87.3f ? 0.0f : y;
    return x != x ? x : y;
}

/* 1 / (1 + e^-x), without overflow for any x. */
static inline double agi_sigmoid(double x)
{
    return 1.0 / (1.0 + agi_exp(-x));
}

/* tanh x = 1 - 2 / (e^2x + 1), with its Taylor series near 0 where that formula cancels. */
static inline double agi_tanh(double x)
{
    double big = 1.0 - 2.0 / (agi_exp(2.0 * x) + 1.0);
    double x2 = x * x;
    double small = x * (1.0 + x2 * (-1.0 / 3 + x2 * (2.0 / 15 + x2 * (-17.0 / 315 + x2 * (62.0 / 2835)))));
    return x2 < 1e-4 ? small : big;
}

#endif
