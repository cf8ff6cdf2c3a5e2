/* vec_neon.c — NEON twins of the vector kernels: dot, sum, axpy, add, mul,
 * scale, and attention's multi-head mhdot and mhaxpy.
 *
 * add, mul and scale perform exactly one IEEE operation per element, so they
 * are bit-identical to the reference.  axpy is a multiply then an add (two
 * roundings, no fma), as `y[i] += a * x[i]` is in ISO C without contraction.
 * dot and sum reassociate (16 lanes, then a fixed pairwise reduction). */
#include "arm.h"
#include "neon_util.h"
#include "ref.h" /* cv_mhdotk_per_key, cv_mhaxpyk_per_key */

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

/* mhdot: 4 heads at a time, two accumulators per head (8 independent FMA
 * chains), d outermost so that the chains interleave; then lane j of one
 * vector = head j's sum, stored at once.  Lane j reads head min(j, last):
 * a last group of nh < 4 heads (last = nh - 1) points its idle lanes at its
 * last head again, and their sums are not stored.  So every head goes
 * through the same operations whatever `heads` is: a head's score does not
 * depend on the other heads.  Tails: the padded copy of neon_util.h. */
static CV_ALWAYS_INLINE float32x4_t dot4(const float *q, const float *k, size_t dh, size_t last)
{
    size_t off[4];
    float32x4_t s0[4], s1[4];
    CV_UNROLL
    for (size_t j = 0; j < 4; j++) {
        off[j] = (j < last ? j : last) * dh;
        s0[j] = s1[j] = vdupq_n_f32(0.0f);
    }
    size_t d = 0;
    for (; d + 8 <= dh; d += 8)
        CV_UNROLL
        for (int j = 0; j < 4; j++) {
            const float *qj = q + off[j] + d, *kj = k + off[j] + d;
            s0[j] = vfmaq_f32(s0[j], vld1q_f32(qj), vld1q_f32(kj));
            s1[j] = vfmaq_f32(s1[j], vld1q_f32(qj + 4), vld1q_f32(kj + 4));
        }
    if (d + 4 <= dh) {
        CV_UNROLL
        for (int j = 0; j < 4; j++)
            s0[j] = vfmaq_f32(s0[j], vld1q_f32(q + off[j] + d), vld1q_f32(k + off[j] + d));
        d += 4;
    }
    if (d < dh)
        CV_UNROLL
        for (int j = 0; j < 4; j++)
            s1[j] = vfmaq_f32(s1[j], cv_neon_load_part(q + off[j] + d, dh - d, 0.0f),
                              cv_neon_load_part(k + off[j] + d, dh - d, 0.0f));
    /* lane j = (t_0 + t_1) + (t_2 + t_3) of t = s0[j] + s1[j], for every j */
    const float32x4_t t01 = vpaddq_f32(vaddq_f32(s0[0], s1[0]), vaddq_f32(s0[1], s1[1]));
    const float32x4_t t23 = vpaddq_f32(vaddq_f32(s0[2], s1[2]), vaddq_f32(s0[3], s1[3]));
    return vpaddq_f32(t01, t23);
}

void cv_mhdot_f32_neon(float *y, const float *q, const float *k, size_t heads, size_t dh)
{
    size_t h = 0;
    for (; h + 4 <= heads; h += 4)
        vst1q_f32(y + h, dot4(q + h * dh, k + h * dh, dh, 3));
    if (h < heads)
        cv_neon_store_part(y + h, dot4(q + h * dh, k + h * dh, dh, heads - h - 1), heads - h);
}

/* mhaxpy: per head, y += a[h] x with one FMA per element (the reference's
 * two roundings cost a second instruction; tolerance as axpy_f32's). */
void cv_mhaxpy_f32_neon(float *y, const float *a, const float *x, size_t heads, size_t dh)
{
    for (size_t h = 0; h < heads; h++) {
        const float32x4_t va = vdupq_n_f32(a[h]);
        float *yh = y + h * dh;
        const float *xh = x + h * dh;
        size_t d = 0;
        for (; d + 16 <= dh; d += 16)
            CV_UNROLL
            for (int j = 0; j < 4; j++)
                vst1q_f32(yh + d + 4 * j,
                          vfmaq_f32(vld1q_f32(yh + d + 4 * j), va, vld1q_f32(xh + d + 4 * j)));
        for (; d + 4 <= dh; d += 4)
            vst1q_f32(yh + d, vfmaq_f32(vld1q_f32(yh + d), va, vld1q_f32(xh + d)));
        if (d < dh) {
            float32x4_t r = vfmaq_f32(cv_neon_load_part(yh + d, dh - d, 0.0f), va,
                                      cv_neon_load_part(xh + d, dh - d, 0.0f));
            cv_neon_store_part(yh + d, r, dh - d);
        }
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

/* mhdotk / mhaxpyk: one call of the NEON mhdot / mhaxpy per key, which is
 * their definition (the reference's loop, reference/vec.c). */
void cv_mhdotk_f32_neon(float *y, size_t ldy, const float *q, const float *const *k, size_t nk,
                        size_t heads, size_t dh)
{
    cv_mhdotk_per_key(cv_mhdot_f32_neon, y, ldy, q, k, nk, heads, dh);
}

void cv_mhaxpyk_f32_neon(float *y, const float *a, size_t lda, const float *const *x, size_t nk,
                         size_t heads, size_t dh)
{
    cv_mhaxpyk_per_key(cv_mhaxpy_f32_neon, y, a, lda, x, nk, heads, dh);
}
