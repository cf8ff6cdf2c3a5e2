/* ref.h — the reference kernels: readable, scalar, single-threaded C; the specification every twin is tested against (see src/kernels.h). */
#ifndef CV_REFERENCE_REF_H
#define CV_REFERENCE_REF_H

#include "kernels.h"

decl_dot_fn(cv_dot_f32_ref);
decl_sum_fn(cv_sum_f32_ref);
decl_axpy_fn(cv_axpy_f32_ref);
decl_mhdot_fn(cv_mhdot_f32_ref);
decl_mhaxpy_fn(cv_mhaxpy_f32_ref);
decl_mhdotk_fn(cv_mhdotk_f32_ref);
decl_mhaxpyk_fn(cv_mhaxpyk_f32_ref);
/* the multi-key forms through one call of `mhdot` / `mhaxpy` per key */
void cv_mhdotk_per_key(cv_mhdot_fn mhdot, float *y, size_t ldy, const float *q, const float *const *k,
                       size_t nk, size_t heads, size_t dh);
void cv_mhaxpyk_per_key(cv_mhaxpy_fn mhaxpy, float *y, const float *a, size_t lda, const float *const *x,
                        size_t nk, size_t heads, size_t dh);
decl_binary_fn(cv_add_f32_ref);
decl_binary_fn(cv_mul_f32_ref);
decl_scale_fn(cv_scale_f32_ref);
decl_unary_fn(cv_gelu_f32_ref);
decl_softmax_fn(cv_softmax_f32_ref);
decl_layernorm_fn(cv_layernorm_f32_ref);
decl_cvt_fn(cv_f16_to_f32_ref);
decl_cvt_fn(cv_bf16_to_f32_ref);
decl_gemv_fn(cv_gemv_f32_ref);
decl_gemv_fn(cv_gemv_f16_ref);
decl_gemv_fn(cv_gemv_bf16_ref);
decl_gemm_fn(cv_gemm_f32_ref);
decl_gemm_fn(cv_gemm_f16_ref);
decl_gemm_fn(cv_gemm_bf16_ref);
decl_gemm_fn(cv_gemm_q8_0_ref);
decl_gemms_fn(cv_gemms_f32_ref);
decl_gemms_fn(cv_gemms_f16_ref);
decl_gemms_fn(cv_gemms_bf16_ref);
decl_quantize_q8x_fn(cv_quantize_q8x_ref);
decl_gemvq_fn(cv_gemv_q8x_ref);
decl_gemmsq_fn(cv_gemms_q8x_ref);

#endif
