/* vec_neon.c — NEON twins of the vector kernels: dot, sum, axpy, add, mul, scale.
 *
 * add, mul and scale perform exactly one IEEE operation per element, so they
 * are bit-identical to the reference.  axpy is a multiply then an add (two
 * roundings, no fma), as `y[i] += a * x[i]` is in ISO C without contraction.
 * dot and sum reassociate (16 lanes, then a fixed pairwise reduction). */
#include "arm.h"
#include "neon_util.h"

/* ((a0 + a1) + (a2 + a3)), then FADDP across lanes: a fixed order. */
static inline float hsum4(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3)
{
    return vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
}

float cv_dot_f32_neon(const float *a, const float *b, size_t n)
{
    float32x4_t acc[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                           vdupq_n_f32(0.0f) };
    size_t i = 0;
    /* four independent accumulators hide the fma latency */
    for (; i + 16 <= n; i += 16)
        CV_UNROLL
        for (int j = 0; j < 4; j++)
            acc[j] = vfmaq_f32(acc[j], vld1q_f32(a + i + 4 * j), vld1q_f32(b + i + 4 * j));
    for (; i + 4 <= n; i += 4)
        acc[0] = vfmaq_f32(acc[0], vld1q_f32(a + i), vld1q_f32(b + i));
    if (i < n)
        acc[1] = vfmaq_f32(acc[1], cv_neon_load_part(a + i, n - i, 0.0f),
                           cv_neon_load_part(b + i, n - i, 0.0f));
    return hsum4(acc[0], acc[1], acc[2], acc[3]);
}

float cv_sum_f32_neon(const float *x, size_t n)
{
    float32x4_t acc[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
                           vdupq_n_f32(0.0f) };
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        CV_UNROLL
        for (int j = 0; j < 4; j++)
            acc[j] = vaddq_f32(acc[j], vld1q_f32(x + i + 4 * j));
    for (; i + 4 <= n; i += 4)
        acc[0] = vaddq_f32(acc[0], vld1q_f32(x + i));
    if (i < n)
        acc[1] = vaddq_f32(acc[1], cv_neon_load_part(x + i, n - i, 0.0f));
    return hsum4(acc[0], acc[1], acc[2], acc[3]);
}

void cv_axpy_f32_neon(float *y, float a, const float *x, size_t n)
{
    float32x4_t va = vdupq_n_f32(a);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vmulq_f32(va, vld1q_f32(x + i))));
    if (i < n) {
        float32x4_t yv = cv_neon_load_part(y + i, n - i, 0.0f);
        float32x4_t xv = cv_neon_load_part(x + i, n - i, 0.0f);
        cv_neon_store_part(y + i, vaddq_f32(yv, vmulq_f32(va, xv)), n - i);
    }
}

void cv_add_f32_neon(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t s0 = vaddq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        float32x4_t s1 = vaddq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        vst1q_f32(y + i, s0);
        vst1q_f32(y + i + 4, s1);
    }
    for (; i < n; i++)
        y[i] = a[i] + b[i];
}

void cv_mul_f32_neon(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t p0 = vmulq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        float32x4_t p1 = vmulq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        vst1q_f32(y + i, p0);
        vst1q_f32(y + i + 4, p1);
    }
    for (; i < n; i++)
        y[i] = a[i] * b[i];
}

void cv_scale_f32_neon(float *y, const float *x, float s, size_t n)
{
    float32x4_t vs = vdupq_n_f32(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t p0 = vmulq_f32(vld1q_f32(x + i), vs);
        float32x4_t p1 = vmulq_f32(vld1q_f32(x + i + 4), vs);
        vst1q_f32(y + i, p0);
        vst1q_f32(y + i + 4, p1);
    }
    for (; i < n; i++)
        y[i] = x[i] * s;
}
