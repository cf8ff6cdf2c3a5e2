/* x86.h — AVX2+FMA+F16C twins of the reference kernels (compiled with -mavx2 -mfma -mf16c, per file),
 * and the AVX-512 twins of the few kernels where 16 lanes pay (compiled with
 * CFLAGS_AVX512, which adds -mavx512f -mavx512bw -mavx512vl). */
#ifndef CV_SIMD_X86_H
#define CV_SIMD_X86_H

#include "kernels.h"

decl_dot_fn(cv_dot_f32_avx2);
decl_sum_fn(cv_sum_f32_avx2);
decl_axpy_fn(cv_axpy_f32_avx2);
decl_mhdot_fn(cv_mhdot_f32_avx2);
decl_mhaxpy_fn(cv_mhaxpy_f32_avx2);
decl_mhdotk_fn(cv_mhdotk_f32_avx2);
decl_mhaxpyk_fn(cv_mhaxpyk_f32_avx2);
decl_binary_fn(cv_add_f32_avx2);
decl_binary_fn(cv_mul_f32_avx2);
decl_scale_fn(cv_scale_f32_avx2);
decl_unary_fn(cv_gelu_f32_avx2);
decl_softmax_fn(cv_softmax_f32_avx2);
decl_layernorm_fn(cv_layernorm_f32_avx2);
decl_cvt_fn(cv_f16_to_f32_avx2);
decl_cvt_fn(cv_bf16_to_f32_avx2);
decl_gemv_fn(cv_gemv_f32_avx2);
decl_gemv_fn(cv_gemv_f16_avx2);
decl_gemv_fn(cv_gemv_bf16_avx2);
decl_gemm_fn(cv_gemm_f32_avx2);
decl_gemm_fn(cv_gemm_f16_avx2);
decl_gemm_fn(cv_gemm_bf16_avx2);
decl_gemm_fn(cv_gemm_q8_0_avx2);
decl_gemms_fn(cv_gemms_f32_avx2);
decl_gemms_fn(cv_gemms_f16_avx2);
decl_gemms_fn(cv_gemms_bf16_avx2);
decl_quantize_q8x_fn(cv_quantize_q8x_avx2);
decl_gemvq_fn(cv_gemv_q8x_avx2);
decl_gemmsq_fn(cv_gemms_q8x_avx2);

decl_gemm_fn(cv_gemm_f32_avx512);
decl_gemm_fn(cv_gemm_f16_avx512);
decl_gemm_fn(cv_gemm_bf16_avx512);
decl_gemm_fn(cv_gemm_q8_0_avx512);
decl_gemms_fn(cv_gemms_f32_avx512);
decl_gemms_fn(cv_gemms_f16_avx512);
decl_gemms_fn(cv_gemms_bf16_avx512);

decl_gemvq_fn(cv_gemv_q8x_avx512vnni);
decl_gemmsq_fn(cv_gemms_q8x_avx512vnni);

/* VQVAE */
decl_unary_fn(cv_swish_f32_avx2);

#endif
