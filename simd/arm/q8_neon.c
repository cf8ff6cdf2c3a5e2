/* q8_neon.c — NEON twins of the q8_0 integer kernels (reference/q8.c,
 * semantics in src/kernels.h): the activation quantizer, the GEMV and the
 * small-m GEMM.  Base ARMv8.0 only (no SDOT: the dotprod extension is not
 * assumed).
 *
 * One block of 32 weights times 32 quantized activations: SMULL / SMLAL2
 * (vmull_s8, vmlal_high_s8) give int16 sums of two products, at most
 * 2 * 128 * 127 = 32512 in magnitude (x is in [-127, 127]), then SADDLP /
 * SADALP widen them into 4 int32 partial sums: every integer is exact.  The
 * 4 sums go to float and into one FMA by the scale d_w * d_x.
 *
 * Every output element (weight row r, activation row i) is ONE 4-lane FMA
 * chain over the blocks in order, then vaddvq_f32: the GEMV and the small-m
 * GEMM run the same per-element code, so an element depends neither on m
 * nor on the other rows of the call (cv_gemv and cv_gemm at m = 1 agree). */
#include "arm.h"

#include <float.h>
#include <math.h>

#include "neon_util.h"

/* ------------------------------------------------------------ quantize */

/* 4 floats times id to int32, ties to even (FCVTNS: nearbyintf's choice in
 * the reference under the default rounding mode). */
static inline int32x4_t q8x_round4(const float *x, float32x4_t id)
{
    return vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x), id));
}

/* One block: the same float operations as reference/q8.c (max is exact,
 * d and 1/d are IEEE divisions, x * id one multiply), so the same bits. */
static void quantize_block(const float *x, cv_block_q8x *out)
{
    float32x4_t amax = vdupq_n_f32(0.0f);
    uint32x4_t bad = vdupq_n_u32(0);
    CV_UNROLL
    for (int j = 0; j < CV_QK8_0; j += 4) {
        const float32x4_t a = vabsq_f32(vld1q_f32(x + j));
        /* !(a <= FLT_MAX): inf and NaN */
        bad = vorrq_u32(bad, vmvnq_u32(vcleq_f32(a, vdupq_n_f32(FLT_MAX))));
        amax = vmaxq_f32(amax, a);
    }
    float d = vmaxvq_f32(amax) / 127.0f;
    if (vmaxvq_u32(bad))
        d = NAN;
    else if (d < FLT_MIN)
        d = 0.0f;
    out->d = d;
    if (!(d > 0.0f)) {
        memset(out->qs, 0, sizeof out->qs);
        return;
    }
    const float32x4_t id = vdupq_n_f32(1.0f / d);
    CV_UNROLL
    for (int h = 0; h < 2; h++) { /* |q| <= 127: the narrowing never clips */
        const float *xh = x + 16 * h;
        const int16x8_t lo = vcombine_s16(vqmovn_s32(q8x_round4(xh, id)),
                                          vqmovn_s32(q8x_round4(xh + 4, id)));
        const int16x8_t hi = vcombine_s16(vqmovn_s32(q8x_round4(xh + 8, id)),
                                          vqmovn_s32(q8x_round4(xh + 12, id)));
        vst1q_s8(out->qs + 16 * h, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
    }
}

void cv_quantize_q8x_neon(const float *x, cv_block_q8x *xq, size_t k)
{
    for (size_t b = 0; b < k / CV_QK8_0; b++)
        quantize_block(x + b * CV_QK8_0, xq + b);
}

/* ------------------------------------------------------------ dot products */

/* The 4 int32 partial sums of a weight block's quants w[0..1] with the 32
 * activations at xqs, as floats (exact: |sum| < 2^16). */
static CV_ALWAYS_INLINE float32x4_t block_dot(const int8x16_t w[2], const int8_t *xqs)
{
    const int8x16_t x0 = vld1q_s8(xqs), x1 = vld1q_s8(xqs + 16);
    const int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(w[0]), vget_low_s8(x0)), w[0], x0);
    const int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(w[1]), vget_low_s8(x1)), w[1], x1);
    return vcvtq_f32_s32(vpadalq_s16(vpaddlq_s16(p0), p1));
}

enum { MB = 8 /* activation rows per pass */ };

/* Y[i, r] for i < mb (a constant after inlining) and one weight row:
 * acc_i += (d_w * d_x[i]) * block_dot, one chain per i.  The scale product
 * is the scalar float multiply of the reference. */
static CV_ALWAYS_INLINE void row_times_x(size_t mb, size_t nb, const unsigned char *row,
                                         const cv_block_q8x *xq, size_t ldxq, float *y,
                                         size_t ldy)
{
    float32x4_t acc[MB];
    CV_UNROLL
    for (size_t i = 0; i < mb; i++)
        acc[i] = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; b++) {
        const unsigned char *blk = cv_neon_q8_0_block(row, b);
        const int8_t *qs = (const int8_t *)(blk + offsetof(cv_block_q8_0, qs));
        const int8x16_t wq[2] = { vld1q_s8(qs), vld1q_s8(qs + 16) };
        const float dw = cv_neon_q8_0_scale(blk);
        CV_UNROLL
        for (size_t i = 0; i < mb; i++) {
            const cv_block_q8x *xb = xq + i * ldxq + b;
            const float s = dw * xb->d;
            acc[i] = vfmaq_n_f32(acc[i], block_dot(wq, xb->qs), s);
        }
    }
    CV_UNROLL
    for (size_t i = 0; i < mb; i++)
        y[i * ldy] = vaddvq_f32(acc[i]);
}

void cv_gemv_q8x_neon(size_t rows, size_t cols, const void *w, const cv_block_q8x *xq, float *y)
{
    const size_t nb = cols / CV_QK8_0;
    for (size_t r = 0; r < rows; r++)
        row_times_x(1, nb, cv_neon_q8_0_block(w, r * nb), xq, 0, y + r, 0);
}

/* Rows of X in passes of up to MB, each with a constant row count so that
 * the accumulators live in registers. */
static void weight_row(size_t m, size_t nb, const unsigned char *row, const cv_block_q8x *xq,
                       size_t ldxq, float *y, size_t ldy)
{
    for (size_t i0 = 0; i0 < m; i0 += MB) {
        const cv_block_q8x *xi = xq + i0 * ldxq;
        float *yi = y + i0 * ldy;
        switch (m - i0 < MB ? m - i0 : MB) {
        case 1: row_times_x(1, nb, row, xi, ldxq, yi, ldy); break;
        case 2: row_times_x(2, nb, row, xi, ldxq, yi, ldy); break;
        case 3: row_times_x(3, nb, row, xi, ldxq, yi, ldy); break;
        case 4: row_times_x(4, nb, row, xi, ldxq, yi, ldy); break;
        case 5: row_times_x(5, nb, row, xi, ldxq, yi, ldy); break;
        case 6: row_times_x(6, nb, row, xi, ldxq, yi, ldy); break;
        case 7: row_times_x(7, nb, row, xi, ldxq, yi, ldy); break;
        default: row_times_x(8, nb, row, xi, ldxq, yi, ldy); break;
        }
    }
}

void cv_gemms_q8x_neon(size_t m, size_t n, size_t k, const cv_block_q8x *xq, size_t ldxq,
                       const void *w, float *y, size_t ldy)
{
    const size_t nb = k / CV_QK8_0;
    for (size_t r = 0; r < n; r++)
        weight_row(m, nb, cv_neon_q8_0_block(w, r * nb), xq, ldxq, y + r, ldy);
}
