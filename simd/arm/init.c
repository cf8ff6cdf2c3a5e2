/* init.c — installs the NEON twins (simd/arm) into a kernel table.
 * AArch64 has a single level: Advanced SIMD, which every ARMv8-A core has
 * (baseline instructions only: FCVTL for f16, no dotprod, no fp16 arith). */
#include "arm.h"

void cv_kernels_init_arm(cv_kernels *k, unsigned flags)
{
    if (!(flags & CV_CPU_NEON))
        return;
    k->dot_f32 = cv_dot_f32_neon;
    k->sum_f32 = cv_sum_f32_neon;
    k->axpy_f32 = cv_axpy_f32_neon;
    k->mhdot_f32 = cv_mhdot_f32_neon;
    k->mhaxpy_f32 = cv_mhaxpy_f32_neon;
    k->mhdotk_f32 = cv_mhdotk_f32_neon;
    k->mhaxpyk_f32 = cv_mhaxpyk_f32_neon;
    k->add_f32 = cv_add_f32_neon;
    k->mul_f32 = cv_mul_f32_neon;
    k->scale_f32 = cv_scale_f32_neon;
    k->gelu_f32 = cv_gelu_f32_neon;
    k->softmax_f32 = cv_softmax_f32_neon;
    k->layernorm_f32 = cv_layernorm_f32_neon;
    k->f16_to_f32 = cv_f16_to_f32_neon;
    k->bf16_to_f32 = cv_bf16_to_f32_neon;
    k->gemv_f32 = cv_gemv_f32_neon;
    k->gemv_f16 = cv_gemv_f16_neon;
    k->gemv_bf16 = cv_gemv_bf16_neon;
    k->gemm_f32 = cv_gemm_f32_neon;
    k->gemm_f16 = cv_gemm_f16_neon;
    k->gemm_bf16 = cv_gemm_bf16_neon;
    k->gemm_q8_0 = cv_gemm_q8_0_neon;
    /* No NEON small-m GEMM for f32/f16/bf16 yet: the packing GEMM keeps
     * their slots, as it meets their contract (each element one FMA chain
     * over k in order, whatever m and the other rows) and, unlike the
     * reference, is vectorised.  q8_0 has its integer kernels (q8_neon.c). */
    k->gemms_f32 = cv_gemm_f32_neon;
    k->gemms_f16 = cv_gemm_f16_neon;
    k->gemms_bf16 = cv_gemm_bf16_neon;
    k->quantize_q8x = cv_quantize_q8x_neon;
    k->gemv_q8_0 = cv_gemv_q8x_neon;
    k->gemms_q8_0 = cv_gemms_q8x_neon;
    /* VQVAE */
    k->swish_f32 = cv_swish_f32_neon;
    k->isa = CV_ISA_NEON;
}
