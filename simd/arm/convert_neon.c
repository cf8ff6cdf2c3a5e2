/* convert_neon.c — NEON twins of the f16 -> f32 and bf16 -> f32 row
 * conversions, bit-exact with cv_f16_to_f32 / cv_bf16_to_f32 for all 65536
 * inputs. */
#include "arm.h"
#include "neon_util.h"

/* FCVTL is exact for zeros, subnormals, normals, infinities and quiet NaNs,
 * but sets the quiet bit of a signalling NaN; the reference keeps the
 * payload as is, so clear that bit again where the input was signalling
 * (exponent all ones, mantissa nonzero, f16 quiet bit 0x200 clear). */
static inline float32x4_t f16x4_to_f32(uint16x4_t h)
{
    uint32x4_t f = vreinterpretq_u32_f32(vcvt_f32_f16(vreinterpret_f16_u16(h)));
    uint16x4_t nan = vcgt_u16(vand_u16(h, vdup_n_u16(0x7fff)), vdup_n_u16(0x7c00));
    uint16x4_t snan = vbic_u16(nan, vtst_u16(h, vdup_n_u16(0x0200)));
    uint32x4_t quiet = vshll_n_u16(vand_u16(snan, vdup_n_u16(0x0040)), 16); /* 0x00400000 */
    return vreinterpretq_f32_u32(vbicq_u32(f, quiet));
}

static inline void f16x8_store(float *y, const uint16_t *x)
{
    uint16x8_t h = vld1q_u16(x);
    vst1q_f32(y, f16x4_to_f32(vget_low_u16(h)));
    vst1q_f32(y + 4, f16x4_to_f32(vget_high_u16(h)));
}

static inline void bf16x8_store(float *y, const uint16_t *x)
{
    float32x4x2_t v = cv_neon_load8_bf16(x);
    vst1q_f32(y, v.val[0]);
    vst1q_f32(y + 4, v.val[1]);
}

void cv_f16_to_f32_neon(float *y, const uint16_t *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        f16x8_store(y + i, x + i);
    if (i < n) {
        uint16_t xt[8] = { 0 };
        float yt[8];
        memcpy(xt, x + i, (n - i) * sizeof *xt);
        f16x8_store(yt, xt);
        memcpy(y + i, yt, (n - i) * sizeof *yt);
    }
}

void cv_bf16_to_f32_neon(float *y, const uint16_t *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        bf16x8_store(y + i, x + i);
    if (i < n) {
        uint16_t xt[8] = { 0 };
        float yt[8];
        memcpy(xt, x + i, (n - i) * sizeof *xt);
        bf16x8_store(yt, xt);
        memcpy(y + i, yt, (n - i) * sizeof *yt);
    }
}
