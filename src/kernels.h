/* kernels.h — the kernel dispatch table.
 *
 * Every kernel has exactly one signature, declared once here with a decl_*
 * macro that yields both the prototype and the pointer type (dav1d's style).
 * Implementations:
 *   reference/  cv_<op>_ref   readable scalar C, the executable specification
 *   simd/x86/   cv_<op>_avx2  AVX2+FMA+F16C, compiled with per-file flags
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
 * type in the name (f32: float, f16/bf16: uint16_t, q8_0: cv_block_q8_0) */
#define decl_gemv_fn(name) \
    void(name)(size_t rows, size_t cols, const void *w, const float *x, float *y)
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
typedef decl_binary_fn(*cv_binary_fn);
typedef decl_scale_fn(*cv_scale_fn);
typedef decl_unary_fn(*cv_unary_fn);
typedef decl_softmax_fn(*cv_softmax_fn);
typedef decl_layernorm_fn(*cv_layernorm_fn);
typedef decl_cvt_fn(*cv_cvt_fn);
typedef decl_gemv_fn(*cv_gemv_fn);
typedef decl_gemm_fn(*cv_gemm_fn);
typedef decl_gemms_fn(*cv_gemms_fn);

typedef enum { CV_ISA_REF = 0, CV_ISA_AVX2 = 1, CV_ISA_NEON = 2 } cv_isa;

/* CPU feature bits, as detected by cv_cpu_flags(). */
enum {
    CV_CPU_AVX2 = 1u << 0, /* AVX2 + FMA + F16C, and the OS saves YMM state */
    CV_CPU_NEON = 1u << 1  /* AArch64 Advanced SIMD */
};

typedef struct cv_kernels {
    cv_isa isa;             /* the highest level whose kernels are installed */
    cv_dot_fn dot_f32;
    cv_sum_fn sum_f32;
    cv_axpy_fn axpy_f32;
    cv_mhdot_fn mhdot_f32;
    cv_mhaxpy_fn mhaxpy_f32;
    cv_binary_fn add_f32;
    cv_binary_fn mul_f32;
    cv_scale_fn scale_f32;
    cv_unary_fn gelu_f32;
    cv_softmax_fn softmax_f32;
    cv_layernorm_fn layernorm_f32;
    cv_cvt_fn f16_to_f32;
    cv_cvt_fn bf16_to_f32;
    cv_gemv_fn gemv_f32, gemv_f16, gemv_bf16, gemv_q8_0;
    cv_gemm_fn gemm_f32, gemm_f16, gemm_bf16, gemm_q8_0;
    cv_gemms_fn gemms_f32, gemms_f16, gemms_bf16, gemms_q8_0;
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
 * the one forced by COGVIDEO_ISA=ref|avx2|neon.  Fails (and leaves the
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
