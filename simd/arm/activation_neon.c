/* activation_neon.c — NEON twins of GELU (tanh form) and softmax. */
#include <math.h>

#include "arm.h"
#include "neon_util.h"

/* 0.5 x (1 + tanh(u)) == x / (1 + e^(-2u)), u = 0.7978845608 x (1 + 0.044715 x^2).
 * The right-hand side is the same function with no cancellation in 1 + tanh
 * for negative x, and it saturates by itself: e^(-2u) -> 0 gives x, -> inf
 * gives -0 (NaN only for x = -inf, as the left-hand side). */
static inline float32x4_t gelu4(float32x4_t x)
{
    float32x4_t x2 = vmulq_f32(x, x);
    /* -2u = x (-2c - 2c 0.044715 x^2) with c = 0.7978845608028654 */
    float32x4_t m2u = vmulq_f32(x, vfmaq_f32(vdupq_n_f32(-1.59576917f), x2,
                                             vdupq_n_f32(-0.0713548139f)));
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), cv_neon_exp(m2u)));
}

void cv_gelu_f32_neon(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, gelu4(vld1q_f32(x + i)));
    if (i < n)
        cv_neon_store_part(y + i, gelu4(cv_neon_load_part(x + i, n - i, 0.0f)), n - i);
}

static float max_of(const float *x, size_t n)
{
    float32x4_t m = vdupq_n_f32(-INFINITY);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        m = vmaxq_f32(m, vld1q_f32(x + i));
    if (i < n)
        m = vmaxq_f32(m, cv_neon_load_part(x + i, n - i, -INFINITY));
    return vmaxvq_f32(m);
}

/* x[i] = e^(x[i] - max); returns the sum.  Padding lanes hold -inf, whose
 * exponential is exactly 0. */
static float exp_shifted(float *x, size_t n, float max)
{
    float32x4_t vmax = vdupq_n_f32(max);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t e0 = cv_neon_exp(vsubq_f32(vld1q_f32(x + i), vmax));
        float32x4_t e1 = cv_neon_exp(vsubq_f32(vld1q_f32(x + i + 4), vmax));
        vst1q_f32(x + i, e0);
        vst1q_f32(x + i + 4, e1);
        s0 = vaddq_f32(s0, e0);
        s1 = vaddq_f32(s1, e1);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = cv_neon_exp(vsubq_f32(vld1q_f32(x + i), vmax));
        vst1q_f32(x + i, e);
        s0 = vaddq_f32(s0, e);
    }
    if (i < n) {
        float32x4_t e = cv_neon_exp(vsubq_f32(cv_neon_load_part(x + i, n - i, -INFINITY), vmax));
        cv_neon_store_part(x + i, e, n - i);
        s1 = vaddq_f32(s1, e);
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

void cv_softmax_f32_neon(float *x, size_t n)
{
    if (n == 0)
        return;
    float sum = exp_shifted(x, n, max_of(x, n));
    cv_scale_f32_neon(x, x, 1.0f / sum, n);
}
