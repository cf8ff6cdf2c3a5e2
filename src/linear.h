/* linear.h — threaded matrix-vector and matrix-matrix products, the API the
 * model calls for every Linear layer (y = W x, Y = X W^T).
 *
 * The kernels in cv_kernels are single-threaded; these wrappers split the
 * OUTPUT rows (weight rows) into fixed chunks of CV_LINEAR_CHUNK rows and
 * hand the chunks to OpenMP threads.  Chunk boundaries never depend on the
 * thread count, and a kernel's output element never depends on which other
 * rows share its call (src/kernels.h), so the result is bit-identical for
 * every thread count.
 *
 * Weights: row-major [rows, cols] of type t (f32, f16, bf16 or q8_0; for
 * q8_0, cols must be a multiple of 32).  Callers validate t and cols when a
 * model is loaded; given anything else these functions fill y with NaN so
 * the mistake cannot go unnoticed.
 *
 * nthreads <= 0 means the OpenMP default (OMP_NUM_THREADS or all cores);
 * without OpenMP it is ignored.  Call them from outside any parallel region
 * (inside one they run on the calling thread only, as OpenMP nests off). */
#ifndef CV_LINEAR_H
#define CV_LINEAR_H

#include <stddef.h>

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CV_LINEAR_CHUNK 64       /* output rows per work item (kernels) */
#define CV_LINEAR_BLAS_CHUNK 256 /* output rows per single-threaded sgemm call */
#define CV_LINEAR_BLAS_MIN_M 16  /* fewer activation rows: our kernels, not sgemm */
/* at most this many activation rows: the gemms kernels (no packing; each
 * weight row read once for all rows), more: the packing gemm kernels */
#define CV_LINEAR_SMALL_M 8
/* smaller products (weight bytes x activation rows) run on one thread */
#define CV_LINEAR_PAR_MIN (256.0 * 1024)

/* Bytes taken by `rows` rows of `cols` elements of type t: 4 B per f32,
 * 2 B per f16/bf16, 34 B per 32 q8_0 elements.  Returns 0 for an unknown
 * type, for q8_0 with cols not a multiple of 32, or if the size overflows
 * size_t (so 0 with rows*cols > 0 always means "invalid"). */
size_t cv_rows_nbytes(cv_type t, size_t rows, size_t cols);

/* The table's GEMV / GEMM kernel for weight type t, or NULL if none.  For
 * q8_0 the GEMV and small-m kernels (k->gemv_q8_0, k->gemms_q8_0) take
 * activations quantized by k->quantize_q8x, another signature: these
 * return NULL for it (cv_gemm_kernel returns the float-activation
 * gemm_q8_0). */
cv_gemv_fn cv_gemv_kernel(const cv_kernels *k, cv_type t);
cv_gemm_fn cv_gemm_kernel(const cv_kernels *k, cv_type t);
cv_gemms_fn cv_gemms_kernel(const cv_kernels *k, cv_type t);

/* y[r] = sum_c W[r, c] x[c] for r < rows.  q8_0: x is quantized to int8
 * blocks once per call (k->quantize_q8x) and each output is a sum of exact
 * int8 block dot products times d_w d_x (src/kernels.h): the activation
 * quantization adds a relative error of about 2^-9 per block (uniform
 * rounding over 255 levels); this is ggml's q8_0 scheme. */
void cv_gemv(const cv_kernels *k, cv_type t, size_t rows, size_t cols, const void *w,
             const float *x, float *y, int nthreads);

/* Y[i, r] = sum_c X[i, c] W[r, c] for i < m, r < n (Y = X W^T).  X is
 * [m, kdim] with row stride ldx, W is [n, kdim], Y is [m, n] with row stride
 * ldy >= n.  m <= CV_LINEAR_SMALL_M (AR decode of a small batch) runs the
 * gemms kernels, which stream each weight row once for all m rows: the
 * packing gemm kernels widen and transpose every weight panel per call,
 * which at m = 2 measured 3.7x the time of a GEMV; gemms (AVX2, one core)
 * costs 1.3x a GEMV at m = 2 and 2.8x at m = 8, where it is bound by the
 * FMAs.  Larger m runs the gemm kernels.  With
 * OpenBLAS (HAVE_OPENBLAS), f32 weights with m >= 16 and
 * kdim >= 1 go to cblas_sgemm instead of the kernels: one single-threaded
 * call per CV_LINEAR_BLAS_CHUNK weight rows, the chunks spread over OpenMP
 * threads (OpenBLAS's own threading changes its result with the thread
 * count; this does not).  Its result differs from the kernels' in the last
 * bits.  OpenBLAS is left set to one thread.  q8_0 at m <= 8 quantizes
 * the activations as cv_gemv does; the packing gemm_q8_0 (m > 8, NAR
 * prefill) keeps float activations: it is bound by its f32 FMAs on
 * dequantized weight panels, which integer products would not remove. */
void cv_gemm(const cv_kernels *k, cv_type t, size_t m, size_t n, size_t kdim, const float *x,
             size_t ldx, const void *w, float *y, size_t ldy, int nthreads);

/* cv_gemm without the BLAS path: always the table's kernels, gemms for
 * m <= CV_LINEAR_SMALL_M, else gemm (for tests and benchmarks that compare
 * our GEMM with OpenBLAS). */
void cv_gemm_kernels(const cv_kernels *k, cv_type t, size_t m, size_t n, size_t kdim,
                     const float *x, size_t ldx, const void *w, float *y, size_t ldy,
                     int nthreads);

#ifdef __cplusplus
}
#endif
#endif
