/* kernels.h — the kernel dispatch table.
 *
 * Every kernel has exactly one signature, declared once here with a decl_*
 * macro that yields both the prototype and the pointer type (dav1d's style).
 * Implementations:
 *   reference/  cv_<op>_ref   readable scalar C, the executable specification
 *   simd/x86/   cv_<op>_avx2  AVX2+FMA+F16C, compiled with per-file flags;
 *               cv_<op>_avx512 AVX-512 F/BW/VL on top, for the few kernels
 *               where 16 lanes pay (the small-m GEMMs)
 *   simd/arm/   cv_<op>_neon  AArch64 NEON
 * cv_kernels_init() fills a table with the reference, then lets each ISA
 * init overwrite the slots it implements, climbing the ISA ladder and
 * stopping at the first level the CPU lacks.  Kernels are single-threaded;
 * OpenMP lives one level up (src/linear.c splits GEMV/GEMM over output rows).
 *
 * Conventions for every kernel:
 *   - lengths are element counts; any n >= 0 (n == 0 is a no-op), no
 *     alignment is required of any pointer;
 *   - elementwise kernels allow the output to be exactly one of the inputs
 *     (in place), never a partial overlap;
 *   - weights are row-major [rows, cols] as PyTorch stores Linear weights
 *     (out_features x in_features); a q8_0 row is cols/32 blocks, so cols
 *     must be a multiple of 32 for q8_0;
 *   - the value of one output element never depends on which other rows
 *     were computed in the same call (no cross-row reduction trees), so that
 *     splitting the rows over threads cannot change any bit of the result. */
#ifndef CV_KERNELS_H
#define CV_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"
#include "cv_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* returns sum_i a[i]*b[i] */
#define decl_dot_fn(name) float(name)(const float *a, const float *b, size_t n)
/* returns sum_i x[i] (also the streaming-read loop of the bandwidth bench) */
#define decl_sum_fn(name) float(name)(const float *x, size_t n)
/* y[i] += a * x[i] */
#define decl_axpy_fn(name) void(name)(float *y, float a, const float *x, size_t n)
/* Multi-head attention inner loops, one call per key over all heads (the
 * key/value row of one token is `heads` slices of dh contiguous floats):
 * per-call overhead was the cost of one dot/axpy call per (key, head) at
 * dh = 16..64.  dh >= 1; y never overlaps the inputs.  Each head's result
 * depends only on that head's slices (not on `heads`), as with GEMV rows. */
/* y[h] = sum_{d<dh} q[h*dh+d] * k[h*dh+d] for h < heads  (one score per head) */
#define decl_mhdot_fn(name) \
    void(name)(float *y, const float *q, const float *k, size_t heads, size_t dh)
/* y[h*dh+d] += a[h] * x[h*dh+d] for h < heads, d < dh */
#define decl_mhaxpy_fn(name) \
    void(name)(float *y, const float *a, const float *x, size_t heads, size_t dh)
/* The same over the nk keys of a key list, whose rows are k[j] / x[j]
 * (attention's keys are scattered over the caches):
 *   mhdotk:  y[h*ldy + j] = mhdot(q, k[j])[h]  for j < nk, h < heads;
 *   mhaxpyk: for j = 0 .. nk-1 in order, mhaxpy(y, a_j, x[j]) with
 *            a_j[h] = a[h*lda + j].
 * Each must give exactly the bits of those mhdot / mhaxpy calls of its own
 * level, so that attention's result does not depend on how it groups keys
 * and rows into calls (test_kernels checks it at every level). */
#define decl_mhdotk_fn(name)                                                        \
    void(name)(float *y, size_t ldy, const float *q, const float *const *k, size_t nk, \
               size_t heads, size_t dh)
#define decl_mhaxpyk_fn(name)                                                       \
    void(name)(float *y, const float *a, size_t lda, const float *const *x, size_t nk, \
               size_t heads, size_t dh)
/* y[i] = a[i] (+|*) b[i] */
#define decl_binary_fn(name) void(name)(float *y, const float *a, const float *b, size_t n)
/* y[i] = s * x[i] */
#define decl_scale_fn(name) void(name)(float *y, const float *x, float s, size_t n)
/* y[i] = f(x[i]) (GELU, tanh form: 0.5x(1+tanh(0.7978845608028654 x (1+0.044715 x^2)))) */
#define decl_unary_fn(name) void(name)(float *y, const float *x, size_t n)
/* x = softmax(x) in place, max-subtracted: exp(x-max)/sum exp(x-max) */
#define decl_softmax_fn(name) void(name)(float *x, size_t n)
/* y = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance;
 * gamma and beta may each be NULL (then 1 and 0); y may equal x */
#define decl_layernorm_fn(name) \
    void(name)(float *y, const float *x, const float *gamma, const float *beta, size_t n, float eps)
/* y[i] = float(x[i]) for f16 / bf16 rows */
#define decl_cvt_fn(name) void(name)(float *y, const uint16_t *x, size_t n)
/* y[r] = sum_c W[r,c] * x[c] for r < rows; W row-major [rows, cols] of the
 * type in the name (f32: float, f16/bf16: uint16_t; q8_0 has decl_gemvq_fn) */
#define decl_gemv_fn(name) \
    void(name)(size_t rows, size_t cols, const void *w, const float *x, float *y)
/* q8_0 weights use integer dot products with activations quantized per
 * call (ggml's q8_0 x q8_0 scheme): the float GEMV that widens every int8
 * weight to float was bound by its ~16 vector ops per 32-weight block, not
 * by memory.  Three kernels:
 *
 * quantize_q8x: x[0..k) (k a multiple of 32) -> k/32 cv_block_q8x, per
 * block of 32 values x_j, in float arithmetic, bit-identical in every twin:
 *     amax = max_j |x_j|                     (exact)
 *     d    = amax / 127.0f                   (IEEE division, rounded once)
 *     if d < FLT_MIN (0 or subnormal):       d = 0, every q_j = 0
 *     else  id = 1.0f / d,  q_j = nearbyint(x_j * id)   (ties to even)
 * so |q_j| <= 127 (x_j * id <= 127 (1 + 3u) < 127.5) and |x_j - d q_j| <=
 * d/2 (1 + O(u)).  Ties to even is what _mm256_cvtps_epi32 (default MXCSR)
 * and NEON's FCVTNS do; the subnormal rule keeps 1/d finite (a block whose
 * amax < 127 FLT_MIN = 1.5e-36 is dropped as zero).  Inputs must be finite:
 * a block holding an inf or NaN gets d = NaN and every q_j = 0, so each
 * output it touches is NaN (no undefined float-to-int conversion).
 *
 * gemv_q8_0 / gemms_q8_0 (q8_0 W, q8x X): per weight row r and block b,
 *     isum_b = sum_j W.qs[j] * X.qs[j]         (exact int32, |isum_b| < 2^19)
 *     y[r]   = sum_b (f16(W.d_b) * X.d_b) * isum_b     (float)
 * The float accumulation over blocks (and the split of isum_b into partial
 * integer sums converted to float separately) may differ per ISA, so twins
 * agree with the reference within the float-summation bound stated in
 * tests/test_kernels.c, not bit for bit.  Within one table an element
 * depends neither on the other rows nor on m, and gemv_q8_0 gives the same
 * bits as gemms_q8_0 (so cv_gemv and cv_gemm at m = 1 agree).
 * Precondition for the SIMD twins: X.qs in [-127, 127] (what quantize_q8x
 * makes); W.qs may be any int8 (-128 included: AVX2's |w| * sign(x, w)
 * pairs stay <= 2 * 128 * 127 = 32512, inside vpmaddubsw's int16
 * saturation limit; our converter, like ggml, never writes -128).
 *
 * The big packing gemm_q8_0 (m > 8, NAR prefill) keeps float activations
 * and dequantized weights: it is bound by f32 FMAs, which integer products
 * would not remove from its transposed-panel layout. */
#define decl_quantize_q8x_fn(name) void(name)(const float *x, cv_block_q8x *xq, size_t k)
/* y[r] = row r of W (q8_0 [rows, cols]) . xq (cols/32 blocks), r < rows */
#define decl_gemvq_fn(name) \
    void(name)(size_t rows, size_t cols, const void *w, const cv_block_q8x *xq, float *y)
/* Y[i,r] = W[r,:] . XQ[i,:] for i < m, r < n: XQ row i starts at block
 * xq + i*ldxq (ldxq >= k/32, in blocks), W is q8_0 [n, k], Y has row stride
 * ldy >= n.  Each weight block is read once for all m rows (m = 1..8 is
 * the intended range; any m works and no element depends on m). */
#define decl_gemmsq_fn(name)                                                               \
    void(name)(size_t m, size_t n, size_t k, const cv_block_q8x *xq, size_t ldxq,         \
               const void *w, float *y, size_t ldy)
/* Y[i,r] = sum_c X[i,c] * W[r,c] for i < m, r < n  (Y = X W^T):
 * X is [m, k] with row stride ldx, W is [n, k] contiguous of the type in the
 * name, Y is [m, n] with row stride ldy (>= n).  One read of each weight row
 * serves all m activation rows. */
#define decl_gemm_fn(name)                                                        \
    void(name)(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w, \
               float *y, size_t ldy)
/* Y[i,r] = sum_c X[i,c] * W[r,c] for i < m, r < n, like gemm, for small m (1..8): no packing;
 * each weight row is read once for all m rows.  Any m works; an element's
 * value depends neither on m nor on which other rows share the call. */
#define decl_gemms_fn(name)                                                       \
    void(name)(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w, \
               float *y, size_t ldy)

typedef decl_dot_fn(*cv_dot_fn);
typedef decl_sum_fn(*cv_sum_fn);
typedef decl_axpy_fn(*cv_axpy_fn);
typedef decl_mhdot_fn(*cv_mhdot_fn);
typedef decl_mhaxpy_fn(*cv_mhaxpy_fn);
typedef decl_mhdotk_fn(*cv_mhdotk_fn);
typedef decl_mhaxpyk_fn(*cv_mhaxpyk_fn);
typedef decl_binary_fn(*cv_binary_fn);
typedef decl_scale_fn(*cv_scale_fn);
typedef decl_unary_fn(*cv_unary_fn);
typedef decl_softmax_fn(*cv_softmax_fn);
typedef decl_layernorm_fn(*cv_layernorm_fn);
typedef decl_cvt_fn(*cv_cvt_fn);
typedef decl_gemv_fn(*cv_gemv_fn);
typedef decl_gemm_fn(*cv_gemm_fn);
typedef decl_gemms_fn(*cv_gemms_fn);
typedef decl_quantize_q8x_fn(*cv_quantize_q8x_fn);
typedef decl_gemvq_fn(*cv_gemvq_fn);
typedef decl_gemmsq_fn(*cv_gemmsq_fn);

typedef enum {
    CV_ISA_REF = 0,
    CV_ISA_AVX2 = 1,
    CV_ISA_NEON = 2,
    CV_ISA_AVX512 = 3,
    CV_ISA_AVX512VNNI = 4
} cv_isa;

/* CPU feature bits, as detected by cv_cpu_flags(). */
enum {
    CV_CPU_AVX2 = 1u << 0,  /* AVX2 + FMA + F16C, and the OS saves YMM state */
    CV_CPU_NEON = 1u << 1,  /* AArch64 Advanced SIMD */
    CV_CPU_AVX512 = 1u << 2, /* AVX-512 F+BW+VL on top of CV_CPU_AVX2 (never set without
                              * it), and the OS saves opmask and ZMM state */
    CV_CPU_AVX512VNNI = 1u << 3 /* AVX512_VNNI (vpdpbusd) on top of CV_CPU_AVX512 (never set
                                 * without it): the q8_0 integer kernels */
};

typedef struct cv_kernels {
    cv_isa isa;             /* the highest level whose kernels are installed */
    cv_dot_fn dot_f32;
    cv_sum_fn sum_f32;
    cv_axpy_fn axpy_f32;
    cv_mhdot_fn mhdot_f32;
    cv_mhaxpy_fn mhaxpy_f32;
    cv_mhdotk_fn mhdotk_f32;
    cv_mhaxpyk_fn mhaxpyk_f32;
    cv_binary_fn add_f32;
    cv_binary_fn mul_f32;
    cv_scale_fn scale_f32;
    cv_unary_fn gelu_f32;
    cv_softmax_fn softmax_f32;
    cv_layernorm_fn layernorm_f32;
    cv_cvt_fn f16_to_f32;
    cv_cvt_fn bf16_to_f32;
    cv_gemv_fn gemv_f32, gemv_f16, gemv_bf16;
    cv_gemm_fn gemm_f32, gemm_f16, gemm_bf16, gemm_q8_0;
    cv_gemms_fn gemms_f32, gemms_f16, gemms_bf16;
    cv_quantize_q8x_fn quantize_q8x; /* q8_0: activations to q8x, then ... */
    cv_gemvq_fn gemv_q8_0;           /* ... integer dot products */
    cv_gemmsq_fn gemms_q8_0;
    /* VQVAE */
    cv_unary_fn swish_f32; /* y = x * sigmoid(x) = x / (1 + e^-x) (icetk's nonlinearity) */
} cv_kernels;

/* Features of this CPU (detected once; thread-safe). */
unsigned cv_cpu_flags(void);

/* The CV_CPU_* levels whose kernels this build contains. */
unsigned cv_isa_compiled(void);

/* Fills k with the best kernels allowed by `flags` (a subset of
 * cv_cpu_flags(); 0 gives the pure reference table).  Tests call this with
 * growing flag sets to compare every twin with its reference. */
void cv_kernels_init(cv_kernels *k, unsigned flags);

/* Initialises the process-wide table once: the best level the CPU has, or
 * the one forced by COGVIDEO_ISA=ref|avx2|avx512|avx512vnni|neon.  Fails (and leaves the
 * reference table in place) when COGVIDEO_ISA names a level this CPU or this
 * build lacks.  Idempotent and thread-safe; returns the first call's status. */
cv_status cv_init(cv_error *err);

/* The process-wide table (calls cv_init() if nobody did). */
const cv_kernels *cv_kernels_get(void);

const char *cv_isa_name(cv_isa isa);

/* Per-ISA inits: overwrite the slots they implement. */
void cv_kernels_init_x86(cv_kernels *k, unsigned flags);
void cv_kernels_init_arm(cv_kernels *k, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif
