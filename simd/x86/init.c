/* init.c — installs the AVX2+FMA+F16C twins, then the AVX-512 ones over
 * them (the ladder stops at the first level the CPU lacks; a level's slots
 * not overwritten keep the level below).  Compiled without AVX flags:
 * it only stores pointers, and stores them only when the CPU (and the OS)
 * can run them. */
#ifdef HAVE_CONFIG_H
#include "config.h" /* CV_HAVE_AVX512 */
#endif

#include "x86.h"

void cv_kernels_init_x86(cv_kernels *k, unsigned flags)
{
    if (!(flags & CV_CPU_AVX2))
        return;
    k->dot_f32 = cv_dot_f32_avx2;
    k->sum_f32 = cv_sum_f32_avx2;
    k->axpy_f32 = cv_axpy_f32_avx2;
    k->mhdot_f32 = cv_mhdot_f32_avx2;
    k->mhaxpy_f32 = cv_mhaxpy_f32_avx2;
    k->mhdotk_f32 = cv_mhdotk_f32_avx2;
    k->mhaxpyk_f32 = cv_mhaxpyk_f32_avx2;
    k->add_f32 = cv_add_f32_avx2;
    k->mul_f32 = cv_mul_f32_avx2;
    k->scale_f32 = cv_scale_f32_avx2;
    k->gelu_f32 = cv_gelu_f32_avx2;
    k->softmax_f32 = cv_softmax_f32_avx2;
    k->layernorm_f32 = cv_layernorm_f32_avx2;
    k->f16_to_f32 = cv_f16_to_f32_avx2;
    k->bf16_to_f32 = cv_bf16_to_f32_avx2;
    k->gemv_f32 = cv_gemv_f32_avx2;
    k->gemv_f16 = cv_gemv_f16_avx2;
    k->gemv_bf16 = cv_gemv_bf16_avx2;
    k->gemm_f32 = cv_gemm_f32_avx2;
    k->gemm_f16 = cv_gemm_f16_avx2;
    k->gemm_bf16 = cv_gemm_bf16_avx2;
    k->gemm_q8_0 = cv_gemm_q8_0_avx2;
    k->gemms_f32 = cv_gemms_f32_avx2;
    k->gemms_f16 = cv_gemms_f16_avx2;
    k->gemms_bf16 = cv_gemms_bf16_avx2;
    k->quantize_q8x = cv_quantize_q8x_avx2;
    k->gemv_q8_0 = cv_gemv_q8x_avx2;
    k->gemms_q8_0 = cv_gemms_q8x_avx2;
    /* VQVAE */
    k->swish_f32 = cv_swish_f32_avx2;
    k->isa = CV_ISA_AVX2;
#ifdef CV_HAVE_AVX512
    /* The next rung: only the GEMMs, the places measured FMA-bound (batch-8
     * decode, NAR prefill); the GEMVs are memory-bound and keep their AVX2
     * code.  The packing GEMMs give the same bits as the AVX2 ones. */
    if (!(flags & CV_CPU_AVX512))
        return;
    k->gemm_f32 = cv_gemm_f32_avx512;
    k->gemm_f16 = cv_gemm_f16_avx512;
    k->gemm_bf16 = cv_gemm_bf16_avx512;
    k->gemm_q8_0 = cv_gemm_q8_0_avx512;
    k->gemms_f32 = cv_gemms_f32_avx512;
    k->gemms_f16 = cv_gemms_f16_avx512;
    k->gemms_bf16 = cv_gemms_bf16_avx512;
    k->isa = CV_ISA_AVX512;
#endif
#ifdef CV_HAVE_AVX512VNNI
    /* The q8_0 integer kernels with vpdpbusd, two blocks per zmm: the AVX2
     * ones are bound by their vector ops at m = 1 and at m = 8. */
    if (!(flags & CV_CPU_AVX512VNNI))
        return;
    k->gemv_q8_0 = cv_gemv_q8x_avx512vnni;
    k->gemms_q8_0 = cv_gemms_q8x_avx512vnni;
    k->isa = CV_ISA_AVX512VNNI;
#endif
}
