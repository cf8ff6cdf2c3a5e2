/* neon_util.h — inline helpers shared by the AArch64 NEON kernels.
 *
 * Tails: rather than finishing a loop with scalar C (whose rounding the
 * compiler may change, e.g. by contracting a*b+c into an fma), the last
 * partial vector goes through the same vector code via a small padded copy.
 * That keeps every element on the same instruction sequence wherever it sits
 * in the array, which is what makes the row-split invariance of GEMV/GEMM
 * hold by construction. */
#ifndef CV_SIMD_ARM_NEON_UTIL_H
#define CV_SIMD_ARM_NEON_UTIL_H

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cv_types.h"

/* Fully unrolls the next loop (a small constant trip count), so that the
 * vector arrays it indexes live in registers: gcc -O2 leaves such loops
 * rolled and keeps the arrays on the stack. */
#define CV_UNROLL _Pragma("GCC unroll 8")

#define CV_ALWAYS_INLINE inline __attribute__((always_inline))

/* The first n (< 4) floats of p in a vector whose other lanes hold pad. */
static inline float32x4_t cv_neon_load_part(const float *p, size_t n, float pad)
{
    float t[4] = { pad, pad, pad, pad };
    memcpy(t, p, n * sizeof *t);
    return vld1q_f32(t);
}

/* Stores the first n (< 4) lanes of v to p. */
static inline void cv_neon_store_part(float *p, float32x4_t v, size_t n)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, n * sizeof *t);
}

/* e^x per lane: about 1 ULP for normal results, +inf above ~88.72, gradual
 * underflow to 0 below ~-87.3, NaN stays NaN (FMAX/FMIN propagate it).
 * x = n ln2 + r with |r| <= ln2/2, e^r = 1 + r + r^2 q(r), q a degree-4
 * Chebyshev fit (truncation error < 0.1 ULP).  2^n is applied as two
 * factors 2^(n/2) so that both stay normal floats for every n in
 * [-150, 128]: the final multiply then rounds once, also into subnormals. */
static inline float32x4_t cv_neon_exp(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-104.0f)), vdupq_n_f32(89.0f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269502f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145752f)); /* exact */
    r = vfmsq_f32(r, n, vdupq_n_f32(1.42860677e-06f));
    float32x4_t q = vfmaq_f32(vdupq_n_f32(0.00836317334f), r, vdupq_n_f32(0.00139261759f));
    q = vfmaq_f32(vdupq_n_f32(0.0416665561f), r, q);
    q = vfmaq_f32(vdupq_n_f32(0.166665778f), r, q);
    q = vfmaq_f32(vdupq_n_f32(0.5f), r, q);
    float32x4_t p = vaddq_f32(vdupq_n_f32(1.0f), vfmaq_f32(r, vmulq_f32(r, r), q));
    int32x4_t ni = vcvtq_s32_f32(n);
    int32x4_t n1 = vshrq_n_s32(ni, 1);
    int32x4_t n2 = vsubq_s32(ni, n1);
    int32x4_t bias = vdupq_n_s32(127);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, bias), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, bias), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

/* Eight f16 / bf16 values as f32.  (FCVTL quiets signalling NaNs; inside a
 * dot product that cannot matter, cv_f16_to_f32_neon restores them.) */
static inline float32x4x2_t cv_neon_load8_f16(const uint16_t *p)
{
    float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
    float32x4x2_t v = { { vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h) } };
    return v;
}

static inline float32x4x2_t cv_neon_load8_bf16(const uint16_t *p)
{
    uint16x8_t h = vld1q_u16(p);
    float32x4x2_t v = { { vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)),
                          vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)) } };
    return v;
}

static inline float32x4x2_t cv_neon_load8_f32(const float *p)
{
    float32x4x2_t v = { { vld1q_f32(p), vld1q_f32(p + 4) } };
    return v;
}

/* q8_0 block number i of a row starting at `row` (any alignment). */
static inline const unsigned char *cv_neon_q8_0_block(const void *row, size_t i)
{
    return (const unsigned char *)row + i * sizeof(cv_block_q8_0);
}

static inline float cv_neon_q8_0_scale(const unsigned char *blk)
{
    uint16_t d;
    memcpy(&d, blk + offsetof(cv_block_q8_0, d), sizeof d);
    return cv_f16_to_f32(d);
}

/* The 32 quants of a block as eight f32 vectors (exact): s8 -> s16 -> s32 -> f32. */
static inline void cv_neon_q8_0_quants(const unsigned char *blk, float32x4_t q[8])
{
    const int8_t *qs = (const int8_t *)(blk + offsetof(cv_block_q8_0, qs));
    CV_UNROLL
    for (int h = 0; h < 2; h++) {
        int8x16_t b = vld1q_s8(qs + 16 * h);
        int16x8_t lo = vmovl_s8(vget_low_s8(b));
        int16x8_t hi = vmovl_high_s8(b);
        q[4 * h + 0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
        q[4 * h + 1] = vcvtq_f32_s32(vmovl_high_s16(lo));
        q[4 * h + 2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
        q[4 * h + 3] = vcvtq_f32_s32(vmovl_high_s16(hi));
    }
}

#endif
