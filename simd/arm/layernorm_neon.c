/* layernorm_neon.c — NEON twin of LayerNorm: two passes for the statistics
 * (mean, then the biased variance sum (x - mean)^2 / n, which unlike
 * E[x^2] - mean^2 cannot cancel), one pass to normalise. */
#include "arm.h"
#include "neon_util.h"

/* sum (x[i] - mean)^2; padding lanes hold mean and add exactly 0 */
static float sq_dev_sum(const float *x, size_t n, float32x4_t mean)
{
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = vdupq_n_f32(0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(x + i), mean);
        float32x4_t d1 = vsubq_f32(vld1q_f32(x + i + 4), mean);
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(x + i), mean);
        s0 = vfmaq_f32(s0, d, d);
    }
    if (i < n) {
        float32x4_t d = vsubq_f32(cv_neon_load_part(x + i, n - i, vgetq_lane_f32(mean, 0)), mean);
        s1 = vfmaq_f32(s1, d, d);
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

/* (x - mean) * rstd [* gamma] [+ beta] for four elements; g, b may be NULL */
static inline float32x4_t norm4(const float *x, const float *g, const float *b,
                                float32x4_t mean, float32x4_t rstd)
{
    float32x4_t v = vmulq_f32(vsubq_f32(vld1q_f32(x), mean), rstd);
    if (g)
        v = vmulq_f32(v, vld1q_f32(g));
    if (b)
        v = vaddq_f32(v, vld1q_f32(b));
    return v;
}

void cv_layernorm_f32_neon(float *y, const float *x, const float *gamma, const float *beta,
                           size_t n, float eps)
{
    if (n == 0)
        return;
    float fn = (float)n;
    float32x4_t mean = vdupq_n_f32(cv_sum_f32_neon(x, n) / fn);
    float var = sq_dev_sum(x, n, mean) / fn;
    /* vector sqrt and divide: correctly rounded, and no libm call */
    float32x4_t rstd = vdivq_f32(vdupq_n_f32(1.0f), vsqrtq_f32(vdupq_n_f32(var + eps)));
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, norm4(x + i, gamma ? gamma + i : NULL, beta ? beta + i : NULL,
                               mean, rstd));
    if (i < n) {
        /* the last 1..3 elements, through padded copies */
        size_t r = n - i;
        float xt[4] = { 0 }, gt[4] = { 0 }, bt[4] = { 0 };
        memcpy(xt, x + i, r * sizeof *xt);
        if (gamma)
            memcpy(gt, gamma + i, r * sizeof *gt);
        if (beta)
            memcpy(bt, beta + i, r * sizeof *bt);
        float32x4_t v = norm4(xt, gamma ? gt : NULL, beta ? bt : NULL, mean, rstd);
        cv_neon_store_part(y + i, v, r);
    }
}
