/* gemm.c — agi_sgemm and agi_dgemm: a packed, cache-blocked GEMM in the BLIS style.
 *
 * The loops, outermost first (op(A) is (M, K), op(B) is (K, N), C is (M, N)):
 *
 *   jc: N in blocks of nc      each thread packs the (kc, nc) block of op(B) (or the piece
 *   pc: K in blocks of kc      of it its units use) into panels of nr columns (L2 / L3);
 *   ic: M in blocks of mc      a thread packs its (mc, kc) block of op(A) into panels of
 *                              mr rows (it stays in L2), or reads it in place when it
 *                              serves too few B panels for packing to pay;
 *   jr: nr-wide B panels       one B panel (kc, nr) stays in L1 (L2 for the deep 6x64
 *                              blocking) while
 *   ir: mr-tall A panels       the micro-kernel sweeps the A panels past it, each call
 *                              adding an (mr, nr) tile of op(A) @ op(B) into C.
 *
 * Packing turns every transposition case into the same contiguous layout, and zero-pads the
 * edges, so one micro-kernel per tile shape serves all inputs. Threads claim ic blocks (or,
 * when M is short, pieces of the jr panels) one at a time, each from its own share first
 * (agi_claims); K is never split, so each element of C is summed in the same order
 * whatever the thread count. The micro-kernels use AVX-512 (a 6x64 tile, and 14x32 / 14x16
 * ones for narrow products) or AVX2+FMA through target attributes, chosen at run time, so
 * the file builds for generic x86-64 (and, portable kernel only, for any other
 * architecture).
 */
#define _POSIX_C_SOURCE 200809L

#include "gemm_internal.h"

#include "autograd.h"
#include "parallel_internal.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define GEMM_X86 1
#include <immintrin.h>
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

/* Products of at most this many multiply-adds take the direct loop. The packed path costs
 * about 0.1 us of fixed overhead but beats the direct loop from about 6x6x6 on (at 32^3 it
 * is 25x faster), so only tiny products stay direct. */
#define DIRECT_MAX_MACS 256.0

/* B panels an A block must serve for packing it to pay; fewer read A in place. */
#define PACK_A_PANELS 3

/* Work units (ic blocks) per thread of a threaded multiply: enough for claiming to even
 * out a thread that falls behind, few enough to keep the blocks large. */
#define UNITS_PER_THREAD 2

/* The most bytes of op(A)'s (M, kc) block for which it is read in place and the B panels
 * are packed as they are used (by_panel): with a group of four 128 KiB B panels it fills
 * 7/8 of the 1 MiB L2. On several threads, half the L2: by_panel's single region then pays
 * for its A read in place. Measured on the weight-gradient product dW = dy^T x (1024 rows by
 * kc = 128, 512 KiB): blocked 1.41 against by_panel 1.47 ms on one thread, but by_panel
 * 0.75 against 0.81 ms on two. */
#define SHORT_A_BYTES (384.0 * 1024.0)
#define SHORT_A_BYTES_THREADED (512.0 * 1024.0)

/* B panels a by_panel unit packs at once when B is not transposed (see short_m). */
#define PANEL_GROUP 4

/* The most threads for which each packs its own copy of a B block (blocks schedule). A copy
 * per thread costs a pack per thread and a buffer per thread; one shared copy is read by
 * each thread from where the others packed it, which on the measured machine (two vCPUs a
 * cache line takes ~250 ns to cross) cost more: the three 1024^3 products of a matmul
 * step on two threads took 18.4 ms with a shared block, 17.7 with copies (medians of six
 * alternated runs). Beyond a few threads the duplicated packing would grow with the count. */
#define PRIVATE_B_THREADS 4

/* Multiply-adds (2^22 flops) a thread must have to be worth waking. */
#define MACS_PER_THREAD (2.0 * 1024.0 * 1024.0)

/* One multiply: C = alpha * op(A) @ op(B) + beta * C, with the operands untyped so that the
 * blocking driver serves both precisions. */
typedef struct gemm_args {
    bool ta, tb;
    int64_t M, N, K;
    double alpha, beta;
    const void *A;
    int64_t lda;
    const void *B;
    int64_t ldb;
    void *C;
    int64_t ldc;
} gemm_args;

/* Packs the (kc, w) block whose element (k, r) is src[k*sk + r*sr] into panels; see
 * pack_panels. */
typedef void (*pack_fn)(const void *src, int64_t sk, int64_t sr, int64_t kc, int64_t w,
                        int width, void *out);

/* Adds alpha * a @ b into the top-left (m, n) corner of the C tile at c (row stride ldc),
 * scaling C by beta first (beta == 0: C is only written). b is a packed (kc, nr) B panel;
 * a is an (mr, kc) A panel with element (i, k) at a[i*a_rs + k*a_cs]: packed (a_rs = 1,
 * a_cs = mr) or read in place from op(A). Only rows below m are read and stored. */
typedef void (*kernel_fn)(int64_t kc, const void *a, int64_t a_rs, int64_t a_cs, const void *b,
                          void *c, int64_t ldc, double alpha, double beta, int m, int n);

/* A micro-kernel and the blocking that suits it. */
typedef struct gemm_impl {
    size_t elem;          /* sizeof(float) or sizeof(double) */
    int mr, nr;           /* the register tile */
    int64_t kc, mc, nc;   /* cache blocks: (kc, nr) B panel in L1, (mc, kc) A block in L2 */
    pack_fn pack;
    kernel_fn kernel;
} gemm_impl;

/* a / b rounded up, for positive a and b: block and panel counts. */
static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* The smaller of a and b: the size of a last, partial block. */
static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---------------------------------------------------------------------------------------
 * Packing
 * ------------------------------------------------------------------------------------- */

/* Packs the (kc, w) block whose element (k, r) is src[k*sk + r*sr] into ceil(w / width)
 * panels of (kc, width), panel after panel, each k's `width` values adjacent; the last panel
 * is zero-padded. A blocks are packed with r the row of op(A), B blocks with r the column of
 * op(B): the stride pair is what carries the transposition. The loop order follows whichever
 * stride is 1 so that the source is read sequentially. */
static inline void pack_panels(const char *src, int64_t sk, int64_t sr, int64_t kc, int64_t w,
                               int width, char *out, size_t elem)
{
    for (int64_t r0 = 0; r0 < w; r0 += width, out += kc * width * (int64_t)elem) {
        int cols = (int)min64(width, w - r0);
        const char *s = src + r0 * sr * (int64_t)elem;
        if (sr == 1) {
            for (int64_t k = 0; k < kc; k++) {
                char *o = out + k * width * (int64_t)elem;
                memcpy(o, s + k * sk * (int64_t)elem, (size_t)cols * elem);
                memset(o + cols * elem, 0, (size_t)(width - cols) * elem);
            }
            continue;
        }
        for (int r = 0; r < cols; r++)
            for (int64_t k = 0; k < kc; k++)
                memcpy(out + (k * width + r) * (int64_t)elem,
                       s + (r * sr + k * sk) * (int64_t)elem, elem);
        for (int64_t k = 0; k < kc && cols < width; k++)
            memset(out + (k * width + cols) * (int64_t)elem, 0, (size_t)(width - cols) * elem);
    }
}

/* pack_panels for floats. */
static void pack_f32(const void *src, int64_t sk, int64_t sr, int64_t kc, int64_t w, int width,
                     void *out)
{
    pack_panels(src, sk, sr, kc, w, width, out, sizeof(float));
}

/* pack_panels for doubles. */
static void pack_f64(const void *src, int64_t sk, int64_t sr, int64_t kc, int64_t w, int width,
                     void *out)
{
    pack_panels(src, sk, sr, kc, w, width, out, sizeof(double));
}

/* ---------------------------------------------------------------------------------------
 * Micro-kernels
 * ------------------------------------------------------------------------------------- */

/* C[i, j] = alpha * t[i, j] + beta * C[i, j] over the (m, n) corner of a tile t with row
 * stride ldt (beta == 0: C is not read). The vector kernels round exactly as this does. */
static void store_tile_f32(const float *t, int ldt, float *c, int64_t ldc, int m, int n,
                           float alpha, float beta)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float v = alpha * t[i * ldt + j];
            c[i * ldc + j] = beta == 0 ? v : v + beta * c[i * ldc + j];
        }
}

/* store_tile_f32 for doubles. */
static void store_tile_f64(const double *t, int ldt, double *c, int64_t ldc, int m, int n,
                           double alpha, double beta)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double v = alpha * t[i * ldt + j];
            c[i * ldc + j] = beta == 0 ? v : v + beta * c[i * ldc + j];
        }
}

/* Fills off[0..mr) with the element offsets of an A panel's rows, i * rs, pointing the rows
 * from m on at row 0: they are computed but never stored, and must not read past A's end
 * when A is read in place. */
static inline void row_offsets(int64_t *off, int mr, int m, int64_t rs)
{
    for (int i = 0; i < mr; i++)
        off[i] = (i < m ? i : 0) * rs;
}

enum { PORT_MR = 4, PORT_NR = 8 };

/* The portable float kernel: a (4, 8) tile in plain C, for CPUs without AVX2. */
static void kernel_portable_f32(int64_t kc, const void *a_, int64_t a_rs, int64_t a_cs,
                                const void *b_, void *c, int64_t ldc, double alpha, double beta,
                                int m, int n)
{
    const float *a = a_, *b = b_;
    int64_t off[PORT_MR];
    row_offsets(off, PORT_MR, m, a_rs);
    float acc[PORT_MR][PORT_NR] = { { 0 } };
    for (int64_t k = 0; k < kc; k++, a += a_cs, b += PORT_NR)
        for (int i = 0; i < PORT_MR; i++)
            for (int j = 0; j < PORT_NR; j++)
                acc[i][j] += a[off[i]] * b[j];
    store_tile_f32(&acc[0][0], PORT_NR, c, ldc, m, n, (float)alpha, (float)beta);
}

/* The portable double kernel, the same (4, 8) tile. */
static void kernel_portable_f64(int64_t kc, const void *a_, int64_t a_rs, int64_t a_cs,
                                const void *b_, void *c, int64_t ldc, double alpha, double beta,
                                int m, int n)
{
    const double *a = a_, *b = b_;
    int64_t off[PORT_MR];
    row_offsets(off, PORT_MR, m, a_rs);
    double acc[PORT_MR][PORT_NR] = { { 0 } };
    for (int64_t k = 0; k < kc; k++, a += a_cs, b += PORT_NR)
        for (int i = 0; i < PORT_MR; i++)
            for (int j = 0; j < PORT_NR; j++)
                acc[i][j] += a[off[i]] * b[j];
    store_tile_f64(&acc[0][0], PORT_NR, c, ldc, m, n, alpha, beta);
}

#ifdef GEMM_X86

/* A mask of the first n of 16 lanes (n clamped to [0, 16]). */
static inline __mmask16 lane_mask(int64_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* Stores the first `lanes` lanes (none if lanes <= 0) of alpha * acc + beta * C into C at
 * p; with load_c false (beta == 0) C is not read. */
TARGET_AVX512
static inline void store_c_avx512(float *p, __m512 acc, int64_t lanes, __m512 alpha, __m512 beta,
                                  bool load_c)
{
    if (lanes <= 0)
        return;
    __m512 v = _mm512_mul_ps(alpha, acc);
    if (lanes >= 16) {
        if (load_c)
            v = _mm512_add_ps(v, _mm512_mul_ps(beta, _mm512_loadu_ps(p)));
        _mm512_storeu_ps(p, v);
        return;
    }
    __mmask16 mask = lane_mask(lanes);
    if (load_c)
        v = _mm512_add_ps(v, _mm512_mul_ps(beta, _mm512_maskz_loadu_ps(mask, p)));
    _mm512_mask_storeu_ps(p, mask, v);
}

#define S512_MAX_MR 14
#define S512_MAX_NV 4

/* The AVX-512 float micro-kernel for an (mr, 16*nv) tile held in mr*nv zmm accumulators.
 * Each k loads one row of the B panel (nv vectors) and broadcasts each of the A panel's mr
 * values against it: mr*nv independent FMA chains, enough to cover the FMA latency on two
 * pipes. Edge tiles store with lane masks. Always inlined into the fixed-shape kernels
 * below, where mr and nv are constants, so that the loops unroll and the accumulators live
 * in registers. */
TARGET_AVX512
static inline __attribute__((always_inline)) void
kernel_avx512_tile(int mr, int nv, int64_t kc, const float *a, int64_t a_rs, int64_t a_cs,
                   const float *b, float *c, int64_t ldc, double alpha, double beta, int m, int n)
{
    int64_t off[S512_MAX_MR];
    row_offsets(off, mr, m, a_rs);
    /* Start fetching the C tile (each row's lines, the last one too when the row is not
     * aligned): its loads at the end would otherwise stall on L2 or L3. */
#pragma GCC unroll 16
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 5
        for (int j = 0; j <= nv; j++)
            if (i < m)
                _mm_prefetch((const char *)(c + i * ldc + (j < nv ? 16 * j : 16 * nv - 1)),
                             _MM_HINT_T0);
    __m512 acc[S512_MAX_MR][S512_MAX_NV];
#pragma GCC unroll 16
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            acc[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++, a += a_cs, b += 16 * nv) {
        __m512 bv[S512_MAX_NV];
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            bv[j] = _mm512_load_ps(b + 16 * j);
#pragma GCC unroll 16
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[off[i]]);
#pragma GCC unroll 4
            for (int j = 0; j < nv; j++)
                acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    __m512 va = _mm512_set1_ps((float)alpha), vb = _mm512_set1_ps((float)beta);
#pragma GCC unroll 16
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            if (i < m)
                store_c_avx512(c + i * ldc + 16 * j, acc[i][j], n - 16 * j, va, vb, beta != 0);
}

/* The (6, 64) AVX-512 kernel: 24 accumulators, 4 B loads and 6 broadcasts per 24 FMAs. */
TARGET_AVX512
static void kernel_avx512_6x64(int64_t kc, const void *a, int64_t a_rs, int64_t a_cs,
                               const void *b, void *c, int64_t ldc, double alpha, double beta,
                               int m, int n)
{
    kernel_avx512_tile(6, 4, kc, a, a_rs, a_cs, b, c, ldc, alpha, beta, m, n);
}

/* The (14, 32) AVX-512 kernel, for N of at most 32 columns. */
TARGET_AVX512
static void kernel_avx512_14x32(int64_t kc, const void *a, int64_t a_rs, int64_t a_cs,
                                const void *b, void *c, int64_t ldc, double alpha, double beta,
                                int m, int n)
{
    kernel_avx512_tile(14, 2, kc, a, a_rs, a_cs, b, c, ldc, alpha, beta, m, n);
}

/* The (14, 16) AVX-512 kernel, for N of at most 16 columns. */
TARGET_AVX512
static void kernel_avx512_14x16(int64_t kc, const void *a, int64_t a_rs, int64_t a_cs,
                                const void *b, void *c, int64_t ldc, double alpha, double beta,
                                int m, int n)
{
    kernel_avx512_tile(14, 1, kc, a, a_rs, a_cs, b, c, ldc, alpha, beta, m, n);
}

/* Transposes the 16x16 block held in v[0..16) (v[i] is row i) in place, in four rounds of
 * shuffles: pairs of elements, then quads within 128-bit lanes, then 128-bit lanes. */
TARGET_AVX512
static inline void transpose16(__m512 v[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        v[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        v[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        v[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        v[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 16; h += 8)
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            t[h + i] = _mm512_shuffle_f32x4(v[h + i], v[h + i + 4], 0x88);
            t[h + i + 4] = _mm512_shuffle_f32x4(v[h + i], v[h + i + 4], 0xDD);
        }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        v[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        v[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

/* How far ahead the packers prefetch their source: floats along each of a transposed
 * panel's 64 source rows (four lines), and rows of a row copy. A weight just rewritten by
 * the optimizer is in L3 or memory when the next forward packs it, and the hardware
 * prefetchers do not follow that many streams. Measured on 128x1024x1024 products with the
 * weight evicted from cache: x @ W^T 1.73 -> 1.53 ms, dy @ W 1.85 -> 1.79 ms. */
#define PACK_AHEAD 64
#define PACK_AHEAD_ROWS 8

/* Stores the first n lanes of v at p; with `spill`, a plain store that writes all 16. Rows
 * of a panel narrower than a vector are written in increasing address order, so the lanes
 * a plain store writes past a row are rewritten by the rows that follow, as long as they
 * stay inside the panel (spill_ok); only the last rows need the mask. Masked stores are
 * much slower than plain ones on AMD Zen. */
TARGET_AVX512
static inline void store_lanes(float *p, __m512 v, int64_t n, bool spill)
{
    if (n >= 16 || spill)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, lane_mask(n), v);
}

/* True if a 16-lane store at row k of a (kc, width) panel stays inside the panel. */
static inline bool spill_ok(int64_t k, int64_t kc, int width)
{
    return k * width + 16 <= kc * width;
}

/* Rows k0 .. k1 of a (kc, width) panel at `out` whose source rows are already in panel
 * order: out[k*width + r] = s[k*sk + r] for r < cols, 0 for cols <= r < width. */
TARGET_AVX512
static void copy_rows_avx512(const float *s, int64_t sk, int64_t k0, int64_t k1, int64_t kc,
                             int cols, int width, float *out)
{
    if (width < 16) { /* one vector per row */
        __mmask16 load = lane_mask(cols);
        for (int64_t k = k0; k < k1; k++)
            store_lanes(out + k * width, _mm512_maskz_loadu_ps(load, s + k * sk), width,
                        spill_ok(k, kc, width));
        return;
    }
    for (int64_t k = k0; k < k1; k++) {
        if (k + PACK_AHEAD_ROWS < k1)
            for (int j = 0; j < cols; j += 16)
                _mm_prefetch((const char *)(s + (k + PACK_AHEAD_ROWS) * sk + j), _MM_HINT_T0);
        for (int j = 0; j < width; j += 16)
            store_lanes(out + k * width + j,
                        _mm512_maskz_loadu_ps(lane_mask(cols - j), s + k * sk + j), width - j,
                        false);
    }
}

/* A (kc, width) panel at `out` that is a transpose of its source: out[k*width + r] =
 * s[r*sr + k] for r < cols, 0 for cols <= r < width; 16x16 blocks transposed in registers. */
TARGET_AVX512
static void transpose_panel_avx512(const float *s, int64_t sr, int64_t kc, int cols, int width,
                                   float *out)
{
    for (int j = 0; j < width; j += 16)
        for (int64_t k0 = 0; k0 < kc; k0 += 16) {
            __mmask16 load = lane_mask(kc - k0);
            __m512 v[16];
            if (k0 + PACK_AHEAD < kc)
                for (int r = 0; r < 16 && j + r < cols; r++)
                    _mm_prefetch((const char *)(s + (j + r) * sr + k0 + PACK_AHEAD), _MM_HINT_T0);
#pragma GCC unroll 16
            for (int r = 0; r < 16; r++)
                v[r] = j + r < cols ? _mm512_maskz_loadu_ps(load, s + (j + r) * sr + k0)
                                    : _mm512_setzero_ps();
            transpose16(v);
            for (int64_t k = k0; k < min64(k0 + 16, kc); k++)
                store_lanes(out + k * width + j, v[k - k0], width - j,
                            width < 16 && spill_ok(k, kc, width));
        }
}

/* pack_panels for floats with AVX-512 moves. One of sk and sr is always 1 (they are a
 * leading dimension and 1). With sr == 1 each k's values are adjacent in the source, and
 * the panels are filled 16 rows of k at a time across all panels, so that the source is
 * read row by row rather than a few values from each of kc rows (pages) per panel. */
TARGET_AVX512
static void pack_f32_avx512(const void *src_, int64_t sk, int64_t sr, int64_t kc, int64_t w,
                            int width, void *out_)
{
    const float *src = src_;
    float *out = out_;
    if (sr != 1) {
        for (int64_t r0 = 0; r0 < w; r0 += width)
            transpose_panel_avx512(src + r0 * sr, sr, kc, (int)min64(width, w - r0), width,
                                   out + r0 * kc);
        return;
    }
    for (int64_t k0 = 0; k0 < kc; k0 += 16)
        for (int64_t r0 = 0; r0 < w; r0 += width)
            copy_rows_avx512(src + r0, sk, k0, min64(k0 + 16, kc), kc,
                             (int)min64(width, w - r0), width, out + r0 * kc);
}

enum { D512_MR = 6, D512_NV = 4, D512_NR = 8 * D512_NV };

/* Stores the first `lanes` lanes (none if lanes <= 0) of alpha * acc + beta * C into the
 * doubles of C at p; with load_c false (beta == 0) C is not read. */
TARGET_AVX512
static inline void store_c_avx512_f64(double *p, __m512d acc, int64_t lanes, __m512d alpha,
                                      __m512d beta, bool load_c)
{
    if (lanes <= 0)
        return;
    __m512d v = _mm512_mul_pd(alpha, acc);
    if (lanes >= 8) {
        if (load_c)
            v = _mm512_add_pd(v, _mm512_mul_pd(beta, _mm512_loadu_pd(p)));
        _mm512_storeu_pd(p, v);
        return;
    }
    __mmask8 mask = (__mmask8)lane_mask(lanes);
    if (load_c)
        v = _mm512_add_pd(v, _mm512_mul_pd(beta, _mm512_maskz_loadu_pd(mask, p)));
    _mm512_mask_storeu_pd(p, mask, v);
}

/* The AVX-512 double kernel: a (6, 32) tile in 24 zmm accumulators, the scheme of the
 * float kernels with 8 lanes per vector. */
TARGET_AVX512
static void kernel_avx512_f64(int64_t kc, const void *a_, int64_t a_rs, int64_t a_cs,
                              const void *b_, void *c_, int64_t ldc, double alpha, double beta,
                              int m, int n)
{
    const double *a = a_, *b = b_;
    double *c = c_;
    int64_t off[D512_MR];
    row_offsets(off, D512_MR, m, a_rs);
    __m512d acc[D512_MR][D512_NV];
#pragma GCC unroll 16
    for (int i = 0; i < D512_MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < D512_NV; j++)
            acc[i][j] = _mm512_setzero_pd();
    for (int64_t k = 0; k < kc; k++, a += a_cs, b += D512_NR) {
        __m512d bv[D512_NV];
#pragma GCC unroll 4
        for (int j = 0; j < D512_NV; j++)
            bv[j] = _mm512_load_pd(b + 8 * j);
#pragma GCC unroll 16
        for (int i = 0; i < D512_MR; i++) {
            __m512d av = _mm512_set1_pd(a[off[i]]);
#pragma GCC unroll 4
            for (int j = 0; j < D512_NV; j++)
                acc[i][j] = _mm512_fmadd_pd(av, bv[j], acc[i][j]);
        }
    }
    __m512d va = _mm512_set1_pd(alpha), vb = _mm512_set1_pd(beta);
#pragma GCC unroll 16
    for (int i = 0; i < D512_MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < D512_NV; j++)
            if (i < m)
                store_c_avx512_f64(c + i * ldc + 8 * j, acc[i][j], n - 8 * j, va, vb, beta != 0);
}

enum { S256_MR = 6, S256_NV = 2, S256_NR = 8 * S256_NV };

/* The AVX2+FMA float kernel: a (6, 16) tile in 12 ymm accumulators, the same scheme as the
 * AVX-512 kernel. */
TARGET_AVX2
static void kernel_avx2_f32(int64_t kc, const void *a_, int64_t a_rs, int64_t a_cs,
                            const void *b_, void *c_, int64_t ldc, double alpha_d,
                            double beta_d, int m, int n)
{
    const float *a = a_, *b = b_;
    float *c = c_;
    int64_t off[S256_MR];
    row_offsets(off, S256_MR, m, a_rs);
    __m256 acc[S256_MR][S256_NV];
#pragma GCC unroll 16
    for (int i = 0; i < S256_MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < S256_NV; j++)
            acc[i][j] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++, a += a_cs, b += S256_NR) {
        __m256 bv[S256_NV];
#pragma GCC unroll 8
        for (int j = 0; j < S256_NV; j++)
            bv[j] = _mm256_load_ps(b + 8 * j);
#pragma GCC unroll 16
        for (int i = 0; i < S256_MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + off[i]);
#pragma GCC unroll 8
            for (int j = 0; j < S256_NV; j++)
                acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
        }
    }
    float alpha = (float)alpha_d, beta = (float)beta_d;
    if (m < S256_MR || n < S256_NR) {
        alignas(32) float tile[S256_MR * S256_NR];
#pragma GCC unroll 16
        for (int i = 0; i < S256_MR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < S256_NV; j++)
                _mm256_store_ps(tile + i * S256_NR + 8 * j, acc[i][j]);
        store_tile_f32(tile, S256_NR, c, ldc, m, n, alpha, beta);
        return;
    }
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
    for (int i = 0; i < S256_MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < S256_NV; j++) {
            float *p = c + i * ldc + 8 * j;
            __m256 v = _mm256_mul_ps(va, acc[i][j]);
            if (beta != 0)
                v = _mm256_add_ps(v, _mm256_mul_ps(vb, _mm256_loadu_ps(p)));
            _mm256_storeu_ps(p, v);
        }
}

#endif /* GEMM_X86 */

/* The kernels and their blocking. The narrow kernels' kc keeps a (kc, nr) B panel within
 * 32 KiB of the 48 KiB L1. The 6x64 kernel does better with a deep kc = 512 (measured: 5%
 * at 1024^3): its B panel (128 KiB) and A block (mc = 120: 240 KiB) both stream from the
 * 1 MiB L2, which keeps up with 24 bytes of A and 256 of B per 12 cycles, and each element
 * of C is loaded and stored K/512 times instead of K/128. */
static const gemm_impl IMPL_PORTABLE_F32 = { sizeof(float), PORT_MR, PORT_NR, 256, 256, 4096,
                                             pack_f32, kernel_portable_f32 };
static const gemm_impl IMPL_PORTABLE_F64 = { sizeof(double), PORT_MR, PORT_NR, 256, 128, 4096,
                                             pack_f64, kernel_portable_f64 };
#ifdef GEMM_X86
static const gemm_impl IMPL_AVX2_F32 = { sizeof(float), S256_MR, S256_NR, 256, 240, 4096,
                                         pack_f32, kernel_avx2_f32 };
static const gemm_impl IMPL_AVX512_F32 = { sizeof(float), 6, 64, 512, 120, 4096,
                                           pack_f32_avx512, kernel_avx512_6x64 };
static const gemm_impl IMPL_AVX512_N32_F32 = { sizeof(float), 14, 32, 256, 336, 4096,
                                               pack_f32_avx512, kernel_avx512_14x32 };
static const gemm_impl IMPL_AVX512_N16_F32 = { sizeof(float), 14, 16, 256, 336, 4096,
                                               pack_f32_avx512, kernel_avx512_14x16 };
static const gemm_impl IMPL_AVX512_F64 = { sizeof(double), D512_MR, D512_NR, 128, 240, 4096,
                                           pack_f64, kernel_avx512_f64 };
#endif

/* ---------------------------------------------------------------------------------------
 * Choosing the instruction set
 * ------------------------------------------------------------------------------------- */

static atomic_int g_isa; /* the agi_gemm_isa in use; AGI_GEMM_AUTO until first needed */

/* The best kernel set this CPU (and OS) supports. */
static agi_gemm_isa detect_isa(void)
{
#ifdef GEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("fma"))
        return AGI_GEMM_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return AGI_GEMM_AVX2;
#endif
    return AGI_GEMM_PORTABLE;
}

/* Forces (or, with AUTO, re-detects) the kernel set; see gemm_internal.h. */
agi_gemm_isa agi_gemm_set_isa(agi_gemm_isa isa)
{
    agi_gemm_isa best = detect_isa();
    agi_gemm_isa use = isa == AGI_GEMM_AUTO || isa > best ? best : isa;
    atomic_store(&g_isa, (int)use);
    return use;
}

/* The name of a kernel set; see gemm_internal.h. */
const char *agi_gemm_isa_name(agi_gemm_isa isa)
{
    switch (isa == AGI_GEMM_AUTO ? detect_isa() : isa) {
    case AGI_GEMM_AVX512:
        return "avx512";
    case AGI_GEMM_AVX2:
        return "avx2";
    default:
        return "portable";
    }
}

#ifdef GEMM_X86
/* The kernel set in use, detected on first call. */
static agi_gemm_isa current_isa(void)
{
    int isa = atomic_load(&g_isa);
    if (isa == AGI_GEMM_AUTO) {
        isa = (int)detect_isa();
        atomic_store(&g_isa, isa);
    }
    return (agi_gemm_isa)isa;
}

#endif

/* The float kernel and blocking for the kernel set in use and a product N columns wide:
 * narrow products get AVX-512 tiles no wider than they are. */
static const gemm_impl *sgemm_impl(int64_t N)
{
#ifdef GEMM_X86
    switch (current_isa()) {
    case AGI_GEMM_AVX512:
        return N <= 16 ? &IMPL_AVX512_N16_F32 : N <= 32 ? &IMPL_AVX512_N32_F32 : &IMPL_AVX512_F32;
    case AGI_GEMM_AVX2:
        return &IMPL_AVX2_F32;
    default:
        break;
    }
#else
    (void)N;
#endif
    return &IMPL_PORTABLE_F32;
}

/* The double kernel and blocking: AVX-512 when the CPU has it, else portable. */
static const gemm_impl *dgemm_impl(void)
{
#ifdef GEMM_X86
    if (current_isa() == AGI_GEMM_AVX512)
        return &IMPL_AVX512_F64;
#endif
    return &IMPL_PORTABLE_F64;
}

/* ---------------------------------------------------------------------------------------
 * The blocked driver
 * ------------------------------------------------------------------------------------- */

/* A block of the product: columns jc .. jc+nc of C, and k from pc to pc+kc. */
typedef struct blk {
    int64_t jc, nc, pc, kc;
} blk;

/* The state one blocked multiply shares with its threads. */
typedef struct gemm_run gemm_run;

/* What a thread keeps between the units it claims: its A buffer and which ic block that
 * holds (-1: none yet), and its buffer of packed B panels (by_panel, private_b). */
typedef struct thread_state {
    char *apack;
    int64_t packed_ib;
    char *bpanel;
    int64_t packed_js; /* blocks: the piece of the B block's panels bpanel holds (-1: none) */
} thread_state;

/* One unit of a parallel region's work. */
typedef void (*unit_fn)(const gemm_run *r, int64_t unit, thread_state *ts);

struct gemm_run {
    const gemm_impl *im;
    const gemm_args *g;
    int n_threads;
    int64_t mc;       /* the most rows an ic block has, a multiple of mr */
    int64_t panels;   /* mr-row panels of C */
    int64_t n_ib;     /* ic blocks: block b holds panels [b*panels/n_ib, (b+1)*panels/n_ib) */
    int64_t n_jsplit; /* pieces each ic block's B panels are split into (threads, short M) */
    bool by_panel;    /* short M: op(A) read in place, each B panel packed as it is used */
    bool private_b;   /* blocks: each thread packs the B panels it uses (else one shared copy) */
    int64_t kc_max;   /* the K blocks' size (the last may be smaller) */
    int64_t group;    /* by_panel: B panels a unit packs and runs at once */
    char *bpack;      /* the packed B panels: per thread (by_panel, private_b) or shared */
    char *apack;      /* one packed (mc, kc) block of op(A) per thread (not by_panel) */
    size_t a_bytes;   /* bytes of one thread's A block, a multiple of 64 */
    size_t b_bytes;   /* bytes of one thread's B panels, a multiple of 64 (0: shared) */
    blk at;           /* the current block (blocks schedule) */
    /* The current region: `unit` over the units of `claims`. */
    unit_fn unit;
    agi_claims claims;
};

/* Packs B panels [p0, p1) (nr columns each) of block `at` into `out`, one after another. */
static void pack_b_panels(const gemm_run *r, const blk *at, int64_t p0, int64_t p1, char *out)
{
    const gemm_args *g = r->g;
    int64_t nr = r->im->nr, elem = (int64_t)r->im->elem, j0 = at->jc + p0 * nr;
    /* op(B)[k, j] is B[k*ldb + j], or B[j*ldb + k] if tb */
    int64_t sk = g->tb ? 1 : g->ldb, sr = g->tb ? g->ldb : 1;
    const char *src = (const char *)g->B + (at->pc * sk + j0 * sr) * elem;
    r->im->pack(src, sk, sr, at->kc, min64((p1 - p0) * nr, at->nc - p0 * nr), (int)nr, out);
}

/* Unit of the B-packing region (shared B): packs B panel p of the current block into its
 * place. */
static void pack_b_unit(const gemm_run *r, int64_t p, thread_state *ts)
{
    (void)ts;
    pack_b_panels(r, &r->at, p, p + 1, r->bpack + p * r->at.kc * r->im->nr * (int64_t)r->im->elem);
}

/* An (m, kc) block of op(A) as the micro-kernel reads it, in elements of the impl's type:
 * the panel of rows ir .. ir+mr starts at p + ir*step and holds element (i, k) at
 * i*rs + k*cs. In place, step is rs; packed, panels of (mr, kc) follow each other. */
typedef struct a_block {
    const char *p;
    int64_t rs, cs, step;
} a_block;

/* Runs the micro-kernel over rows i0 .. i0+m of C (their A block `a`) and B panels
 * [p0, p1) of block `at`, packed one after another from `b` on: jr outer so that each B
 * panel stays close (L1, or L2 for the deep 6x64 blocking) while the A panels stream past
 * it. */
static void multiply_block(const gemm_run *r, const blk *at, a_block a, int64_t i0, int64_t m,
                           int64_t p0, int64_t p1, const char *b)
{
    const gemm_impl *im = r->im;
    const gemm_args *g = r->g;
    int64_t elem = (int64_t)im->elem, mr = im->mr, nr = im->nr;
    double beta = at->pc == 0 ? g->beta : 1.0; /* later K blocks accumulate */
    for (int64_t p = p0; p < p1; p++) {
        int64_t j = p * nr;
        int n = (int)min64(nr, at->nc - j);
        const char *bp = b + (p - p0) * at->kc * nr * elem;
        for (int64_t ir = 0; ir < m; ir += mr) {
            char *c = (char *)g->C + ((i0 + ir) * g->ldc + at->jc + j) * elem;
            im->kernel(at->kc, a.p + ir * a.step * elem, a.rs, a.cs, bp, c, g->ldc, g->alpha,
                       beta, (int)min64(mr, m - ir), n);
        }
    }
}

/* op(A)[i0 : i0+m, pc : pc+kc] read in place: op(A)[i, k] is A[i*lda + k], or A[k*lda + i]
 * if ta. */
static a_block a_in_place(const gemm_run *r, const blk *at, int64_t i0)
{
    const gemm_args *g = r->g;
    a_block a = { NULL, g->ta ? 1 : g->lda, g->ta ? g->lda : 1, g->ta ? 1 : g->lda };
    a.p = (const char *)g->A + (i0 * a.rs + at->pc * a.cs) * (int64_t)r->im->elem;
    return a;
}

/* Unit of the compute region: ic block u % n_ib times piece u / n_ib of the B block's
 * panels. With private_b the thread packs that piece of B into its own buffer unless it
 * holds it already (its previous unit in this region used the same piece); otherwise the
 * region before packed the block for all threads (see PRIVATE_B_THREADS). A piece of at
 * least PACK_A_PANELS panels gets the A block packed too (unless the thread holds it), so
 * that the panels stream it contiguously; a narrower piece reads A in place, since packing
 * would cost more than it saves. Either way the kernel does the same arithmetic on the same
 * values. */
static void compute_unit(const gemm_run *r, int64_t u, thread_state *ts)
{
    int64_t ib = u % r->n_ib, js = u / r->n_ib;
    int64_t mr = r->im->mr, i0 = mr * (ib * r->panels / r->n_ib);
    int64_t m = min64(mr * ((ib + 1) * r->panels / r->n_ib), r->g->M) - i0;
    const blk *at = &r->at;
    int64_t n_panels = ceil_div(at->nc, r->im->nr);
    int64_t p0 = n_panels * js / r->n_jsplit, p1 = n_panels * (js + 1) / r->n_jsplit;
    a_block a = a_in_place(r, at, i0);
    if (p1 - p0 >= PACK_A_PANELS) {
        if (ts->packed_ib != ib) {
            r->im->pack(a.p, a.cs, a.rs, at->kc, m, r->im->mr, ts->apack);
            ts->packed_ib = ib;
        }
        a = (a_block){ ts->apack, 1, r->im->mr, at->kc };
    }
    const char *b = ts->bpanel;
    if (!r->private_b)
        b = r->bpack + p0 * at->kc * r->im->nr * (int64_t)r->im->elem;
    else if (ts->packed_js != js) {
        pack_b_panels(r, at, p0, p1, ts->bpanel);
        ts->packed_js = js;
    }
    multiply_block(r, at, a, i0, m, p0, p1, b);
}

/* Short M (by_panel). When op(A)'s (M, kc) block fits in L2 beside a few B panels, op(A) is
 * read in place (a kernel's mr rows are mr short streams; packing them measured no faster on
 * one thread and cost two threads a region and its barrier) and the B panels are packed a
 * unit (one to PANEL_GROUP panels) at a time, each just before the kernel runs it past all
 * of M. Packing the whole (kc, nc) B block first (2 MiB for a 1024-wide layer) spilled it
 * from L2 and read it back: a batch of 128 rows uses each B value only 128 times, and that
 * round trip was a fifth of the multiply. Units of panels, so two threads share N evenly. */

/* Unit of the by_panel region: column panels [u*group, (u+1)*group) of C, whole: for each K
 * block in order, packs B's panels into the thread's buffer and runs them past every row of
 * op(A). */
static void panel_unit(const gemm_run *r, int64_t u, thread_state *ts)
{
    const gemm_args *g = r->g;
    int64_t p0 = u * r->group, p1 = min64(p0 + r->group, ceil_div(g->N, r->im->nr));
    blk at = { 0, g->N, 0, 0 };
    for (; at.pc < g->K; at.pc += at.kc) {
        at.kc = min64(r->kc_max, g->K - at.pc);
        pack_b_panels(r, &at, p0, p1, ts->bpanel);
        multiply_block(r, &at, a_in_place(r, &at, 0), 0, g->M, p0, p1, ts->bpanel);
    }
}

/* The body each thread of a region runs: claim the next unit until none is left. A thread
 * that gets ahead (or has a core to itself while another is busy elsewhere) simply takes
 * more units; which thread computes a unit never changes its result. */
static void claim_units(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)begin;
    (void)end;
    gemm_run *r = ctx;
    thread_state ts = { r->apack + (size_t)tid * r->a_bytes, -1,
                        r->bpack + (size_t)tid * r->b_bytes, -1 };
    int cursor = 0;
    for (int64_t u; (u = agi_claims_next(&r->claims, tid, &cursor)) >= 0;)
        r->unit(r, u, &ts);
}

/* Runs units [0, n_units) of `unit` on the run's threads and returns when all are done. */
static void run_units(gemm_run *r, int64_t n_units, unit_fn unit)
{
    r->unit = unit;
    int64_t chunks = min64(r->n_threads, n_units);
    agi_claims_init(&r->claims, n_units, chunks);
    agi_parallel_for_n(r->n_threads, chunks, claim_units, r);
}

/* Splits M into ic blocks of at most about im->mc rows, whole mr-row panels each, as equal
 * as panels allow (one panel more or less). With several threads the work is cut into at
 * least UNITS_PER_THREAD units per thread, a multiple of the thread count, so that equal
 * threads get equal shares and claiming balances unequal ones. When M has rows for a full
 * block per thread, the units are ic blocks; when it has not (a batch of 128 rows on two
 * threads), the blocks stay as large as on one thread and each block's B panels are split
 * into pieces instead: cutting M into thin blocks left one thread a block more than the
 * other (72 + 56 rows) while the pieces of N come out equal. Which rows share a block never
 * changes a result: every C tile is the same kernel call either way. */
static void plan_m(gemm_run *r, int64_t M)
{
    int64_t mr = r->im->mr, panels = ceil_div(M, mr), t = r->n_threads;
    int64_t want = t > 1 ? UNITS_PER_THREAD * t : 1, blocks = ceil_div(M, r->im->mc);
    if (t > 1 && M >= r->im->mc * t)
        blocks = ceil_div(blocks > want ? blocks : want, t) * t;
    if (blocks > panels)
        blocks = panels;
    r->panels = panels;
    r->n_ib = blocks;
    r->mc = ceil_div(panels, blocks) * mr;
    r->n_jsplit = r->n_ib >= want ? 1 : ceil_div(want, r->n_ib);
}

/* Rounds a byte count up to a multiple of 64, keeping the buffers it sizes cache aligned. */
static size_t align64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* True if op(A) is short enough for the by_panel schedule: its (M, kc) block fits in
 * SHORT_A_BYTES (_THREADED), and there are units enough to share among the threads. Sets
 * the group: rows of an untransposed B are packed PANEL_GROUP panels wide, so that each row
 * is read in one stretch of 1 KiB rather than four of 256 bytes, each a separate page of a
 * 1024-wide weight (measured on 128x1024x1024 with the weight evicted: 1.81 -> 1.61 ms); on
 * several threads only if the groups share out evenly (784 columns, 13 panels, in groups of
 * four left one thread 8 panels and the other 5). A transposed B is read along its rows
 * anyway. */
static bool short_m(gemm_run *r, int64_t kc)
{
    int64_t panels = ceil_div(r->g->N, r->im->nr), t = r->n_threads;
    r->group = 1;
    for (int64_t g = PANEL_GROUP; !r->g->tb && g > 1 && r->group == 1; g--)
        if (t == 1 || panels % (g * t) == 0) /* threads get equal shares of whole groups */
            r->group = g;
    int64_t units = ceil_div(panels, r->group);
    double a_bytes = (double)r->g->M * (double)kc * (double)r->im->elem;
    if (r->n_threads == 1)
        return a_bytes <= SHORT_A_BYTES;
    return a_bytes <= SHORT_A_BYTES_THREADED && units >= UNITS_PER_THREAD * r->n_threads;
}

/* Chooses the schedule (by_panel or blocks), sizes its buffers and takes the scratch;
 * false if it cannot be had. */
static bool plan(gemm_run *r, int64_t kc, int64_t nc)
{
    const gemm_impl *im = r->im;
    size_t b_total;
    r->by_panel = short_m(r, kc);
    if (r->by_panel) { /* a group of B panels per thread, no A buffer */
        r->b_bytes = align64((size_t)(kc * r->group * im->nr) * im->elem);
        b_total = (size_t)r->n_threads * r->b_bytes;
    } else {
        plan_m(r, r->g->M);
        r->a_bytes = align64((size_t)(kc * r->mc) * im->elem);
        r->private_b = r->n_threads <= PRIVATE_B_THREADS;
        int64_t panels = ceil_div(nc, im->nr);
        if (r->private_b) { /* the largest piece a unit uses, per thread */
            r->b_bytes = align64((size_t)(kc * ceil_div(panels, r->n_jsplit) * im->nr) * im->elem);
            b_total = (size_t)r->n_threads * r->b_bytes;
        } else { /* the whole block, once */
            r->b_bytes = 0;
            b_total = align64((size_t)(kc * panels * im->nr) * im->elem);
        }
    }
    char *buf = agi_scratch(AGI_SCRATCH_GEMM, b_total + (size_t)r->n_threads * r->a_bytes);
    r->bpack = buf;
    r->apack = buf ? buf + b_total : NULL;
    return buf != NULL;
}

/* The blocked multiply on n_threads threads. K and N are cut into near-equal blocks of at
 * most im->kc and im->nc, which depend on the shape alone (the summation order must not
 * depend on the thread count: the schedule may, since every C tile is the same kernel call
 * over the same packed values either way). Returns false, having done nothing, if the
 * packing buffers cannot be allocated. */
static bool gemm_blocked(const gemm_impl *im, const gemm_args *g, int n_threads)
{
    gemm_run r = { .im = im, .g = g, .n_threads = n_threads };
    int64_t kc = ceil_div(g->K, ceil_div(g->K, im->kc));
    r.kc_max = kc;
    int64_t nc = ceil_div(g->N, ceil_div(g->N, im->nc));
    if (!plan(&r, kc, nc))
        return false;
    if (r.by_panel) { /* one region: nc is all of N */
        run_units(&r, ceil_div(ceil_div(g->N, im->nr), r.group), panel_unit);
        return true;
    }
    blk *at = &r.at;
    for (at->jc = 0; at->jc < g->N; at->jc += nc) {
        at->nc = min64(nc, g->N - at->jc);
        for (at->pc = 0; at->pc < g->K; at->pc += kc) {
            at->kc = min64(kc, g->K - at->pc);
            if (!r.private_b)
                run_units(&r, ceil_div(at->nc, im->nr), pack_b_unit);
            run_units(&r, r.n_ib * r.n_jsplit, compute_unit);
        }
    }
    return true;
}

/* How many threads a multiply of M*N*K multiply-adds should use: ag_get_num_threads(), but
 * no more than gives each MACS_PER_THREAD of work. */
static int threads_for(double macs)
{
    int n = ag_get_num_threads();
    double useful = macs / MACS_PER_THREAD;
    return useful < n ? (useful < 1 ? 1 : (int)useful) : n;
}

/* ---------------------------------------------------------------------------------------
 * Direct loops and the entry points
 * ------------------------------------------------------------------------------------- */

/* C = beta * C (beta == 0: zeros, whatever C held): the whole answer when alpha or K is 0. */
static void scale_f32(const gemm_args *g)
{
    float *C = g->C, beta = (float)g->beta;
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++)
            C[i * g->ldc + j] = beta == 0 ? 0.0f : beta * C[i * g->ldc + j];
}

/* scale_f32 for doubles. */
static void scale_f64(const gemm_args *g)
{
    double *C = g->C, beta = g->beta;
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++)
            C[i * g->ldc + j] = beta == 0 ? 0.0 : beta * C[i * g->ldc + j];
}

/* The unpacked triple loop: for small products, where packing would not pay, and as the
 * fallback when packing buffers cannot be had. One dot product per element of C. */
static void direct_f32(const gemm_args *g)
{
    const float *A = g->A, *B = g->B;
    float *C = g->C, alpha = (float)g->alpha, beta = (float)g->beta;
    int64_t ai = g->ta ? 1 : g->lda, ak = g->ta ? g->lda : 1; /* op(A)[i, k] = A[i*ai + k*ak] */
    int64_t bk = g->tb ? 1 : g->ldb, bj = g->tb ? g->ldb : 1; /* op(B)[k, j] = B[k*bk + j*bj] */
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            float s = 0;
            for (int64_t k = 0; k < g->K; k++)
                s += A[i * ai + k * ak] * B[k * bk + j * bj];
            float v = alpha * s, *c = &C[i * g->ldc + j];
            *c = beta == 0 ? v : v + beta * *c;
        }
}

/* direct_f32 for doubles. */
static void direct_f64(const gemm_args *g)
{
    const double *A = g->A, *B = g->B;
    double *C = g->C, alpha = g->alpha, beta = g->beta;
    int64_t ai = g->ta ? 1 : g->lda, ak = g->ta ? g->lda : 1;
    int64_t bk = g->tb ? 1 : g->ldb, bj = g->tb ? g->ldb : 1;
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            double s = 0;
            for (int64_t k = 0; k < g->K; k++)
                s += A[i * ai + k * ak] * B[k * bk + j * bj];
            double v = alpha * s, *c = &C[i * g->ldc + j];
            *c = beta == 0 ? v : v + beta * *c;
        }
}

/* True if the product is large enough for the blocked path and that path ran. */
static bool try_blocked(const gemm_impl *im, const gemm_args *g)
{
    double macs = (double)g->M * (double)g->N * (double)g->K;
    return macs > DIRECT_MAX_MACS && gemm_blocked(im, g, threads_for(macs));
}

/* Single-precision GEMM; see gemm_internal.h. */
void agi_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    gemm_args g = { ta, tb, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc };
    if (K <= 0 || alpha == 0)
        scale_f32(&g);
    else if (!try_blocked(sgemm_impl(N), &g))
        direct_f32(&g);
}

/* Double-precision GEMM; see gemm_internal.h. */
void agi_dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
               const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
               double *C, int64_t ldc)
{
    if (M <= 0 || N <= 0)
        return;
    gemm_args g = { ta, tb, M, N, K, alpha, beta, A, lda, B, ldb, C, ldc };
    if (K <= 0 || alpha == 0)
        scale_f64(&g);
    else if (!try_blocked(dgemm_impl(), &g))
        direct_f64(&g);
}
