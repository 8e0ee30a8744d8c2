/* gemm_internal.h — the library's matrix multiply kernels (row-major BLAS-style GEMM).
 *
 * C(M,N) = alpha * op(A) @ op(B) + beta * C, all row-major. op(A) is (M,K): A is (M,K) with
 * row stride lda, or, if ta, A is (K,M) with row stride lda and op(A) is its transpose.
 * Likewise op(B) is (K,N): B is (K,N), or (N,K) if tb. C has row stride ldc. beta == 0
 * means C is write-only (NaN or garbage in C is ignored); alpha == 0 or K == 0 means A and B
 * are not read. The operands must not overlap C.
 *
 * Results are bitwise the same for any thread count: the threads split M or N, never K, and
 * every element's K-summation order is fixed by the problem's shape alone.
 */
#ifndef AGI_GEMM_INTERNAL_H
#define AGI_GEMM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Single-precision GEMM: packed, cache-blocked, AVX-512 / AVX2+FMA / portable kernels chosen
 * at run time, threaded with agi_parallel_for when the product is large. Never allocates
 * in steady state (per-thread packing buffers are kept) and never fails: if the buffers
 * cannot be allocated it falls back to a direct loop. */
void agi_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* Double-precision GEMM, same contract: the same blocking and threading, with an AVX-512
 * kernel where the CPU has it and a portable one elsewhere (it serves the AG_DOUBLE build
 * and gradcheck, where correctness comes first). */
void agi_dgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
               const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
               double *C, int64_t ldc);

/* Instruction sets the kernels come in (agi_dgemm has AVX-512 and portable ones). */
typedef enum agi_gemm_isa {
    AGI_GEMM_AUTO = 0, /* the best the CPU supports (the default) */
    AGI_GEMM_PORTABLE,
    AGI_GEMM_AVX2,     /* AVX2 + FMA */
    AGI_GEMM_AVX512    /* AVX-512 F/BW/DQ/VL + FMA */
} agi_gemm_isa;

/* For tests and benchmarks: makes agi_sgemm and agi_dgemm use the `isa` kernels from now on
 * (AUTO restores detection; agi_dgemm uses its portable kernel below AVX-512) and returns
 * the set actually in use, `isa` capped to what the CPU supports. Process-wide; not meant
 * to be called while another thread multiplies. */
agi_gemm_isa agi_gemm_set_isa(agi_gemm_isa isa);

/* "portable", "avx2" or "avx512" (the detected set for AGI_GEMM_AUTO). */
const char *agi_gemm_isa_name(agi_gemm_isa isa);

#ifdef __cplusplus
}
#endif
#endif
