/* arm.h — AArch64 NEON twins of the reference kernels. */
#ifndef CV_SIMD_ARM_H
#define CV_SIMD_ARM_H

#include "kernels.h"

decl_dot_fn(cv_dot_f32_neon);
decl_sum_fn(cv_sum_f32_neon);
decl_axpy_fn(cv_axpy_f32_neon);
decl_mhdot_fn(cv_mhdot_f32_neon);
decl_mhaxpy_fn(cv_mhaxpy_f32_neon);
decl_mhdotk_fn(cv_mhdotk_f32_neon);
decl_mhaxpyk_fn(cv_mhaxpyk_f32_neon);
decl_binary_fn(cv_add_f32_neon);
decl_binary_fn(cv_mul_f32_neon);
decl_scale_fn(cv_scale_f32_neon);
decl_unary_fn(cv_gelu_f32_neon);
decl_softmax_fn(cv_softmax_f32_neon);
decl_layernorm_fn(cv_layernorm_f32_neon);
decl_cvt_fn(cv_f16_to_f32_neon);
decl_cvt_fn(cv_bf16_to_f32_neon);
decl_gemv_fn(cv_gemv_f32_neon);
decl_gemv_fn(cv_gemv_f16_neon);
decl_gemv_fn(cv_gemv_bf16_neon);
decl_gemm_fn(cv_gemm_f32_neon);
decl_gemm_fn(cv_gemm_f16_neon);
decl_gemm_fn(cv_gemm_bf16_neon);
decl_gemm_fn(cv_gemm_q8_0_neon);
decl_quantize_q8x_fn(cv_quantize_q8x_neon);
decl_gemvq_fn(cv_gemv_q8x_neon);
decl_gemmsq_fn(cv_gemms_q8x_neon);

/* VQVAE */
decl_unary_fn(cv_swish_f32_neon);

#endif
