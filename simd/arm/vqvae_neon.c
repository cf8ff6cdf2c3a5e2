/* vqvae_neon.c — NEON twins of the VQVAE decoder's kernels: swish. */
#include "arm.h"
#include "neon_util.h"

/* x / (1 + e^-x): e^-x saturates to +inf (result -0) or 0 (result x). */
static inline float32x4_t swish4(float32x4_t x)
{
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), cv_neon_exp(vnegq_f32(x))));
}

void cv_swish_f32_neon(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, swish4(vld1q_f32(x + i)));
    if (i < n)
        cv_neon_store_part(y + i, swish4(cv_neon_load_part(x + i, n - i, 0.0f)), n - i);
}
