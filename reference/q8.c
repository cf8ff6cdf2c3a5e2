/* q8.c — reference q8_0 GEMV / small-m GEMM with integer dot products, and
 * the activation quantizer they need (semantics: decl_quantize_q8x_fn in
 * src/kernels.h; this file is their executable specification).
 *
 * ggml's q8_0 x q8_0 dot product, written plainly: quantize the activations
 * once per call to int8 blocks of 32 with a float scale, then per block an
 * exact integer dot product and one float multiply-add by d_w * d_x. */
#include "ref.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* One block of 32 values.  nearbyintf rounds ties to even in the default
 * rounding mode, as the SIMD twins' conversions do.  The products x_j * id
 * and the divisions are single IEEE operations: no contraction can change
 * them, so every ISA gets the same bits. */
static void quantize_block(const float *x, cv_block_q8x *out)
{
    float amax = 0.0f;
    int finite = 1;
    for (int j = 0; j < CV_QK8_0; j++) {
        const float a = fabsf(x[j]);
        finite &= a <= FLT_MAX; /* false for inf and NaN */
        amax = a > amax ? a : amax;
    }
    float d = amax / 127.0f;
    if (!finite)
        d = NAN; /* every output this block touches becomes NaN */
    else if (d < FLT_MIN)
        d = 0.0f; /* keeps 1/d finite; the block is (almost) zero */
    out->d = d;
    if (!(d > 0.0f)) { /* d = 0 or NaN: no value to convert */
        memset(out->qs, 0, sizeof out->qs);
        return;
    }
    const float id = 1.0f / d;
    for (int j = 0; j < CV_QK8_0; j++)
        out->qs[j] = (int8_t)nearbyintf(x[j] * id);
}

void cv_quantize_q8x_ref(const float *x, cv_block_q8x *xq, size_t k)
{
    for (size_t b = 0; b < k / CV_QK8_0; b++)
        quantize_block(x + b * CV_QK8_0, xq + b);
}

/* The exact integer dot product of one weight block with one activation
 * block: |sum| <= 32 * 128 * 127 < 2^19, no overflow anywhere. */
static int32_t block_isum(const cv_block_q8_0 *w, const cv_block_q8x *x)
{
    int32_t s = 0;
    for (int j = 0; j < CV_QK8_0; j++)
        s += (int32_t)w->qs[j] * (int32_t)x->qs[j];
    return s;
}

/* One output: a float sum over the blocks in natural order.  The scale
 * product and the term are separate statements so that no compiler fuses
 * them with the sum (clang contracts within one expression). */
static float row_dot(const cv_block_q8_0 *wr, const cv_block_q8x *xr, size_t nb)
{
    float acc = 0.0f;
    for (size_t b = 0; b < nb; b++) {
        const float s = cv_f16_to_f32(wr[b].d) * xr[b].d;
        const float t = s * (float)block_isum(wr + b, xr + b); /* isum is exact in float */
        acc += t;
    }
    return acc;
}

void cv_gemv_q8x_ref(size_t rows, size_t cols, const void *w, const cv_block_q8x *xq, float *y)
{
    const size_t nb = cols / CV_QK8_0;
    for (size_t r = 0; r < rows; r++)
        y[r] = row_dot((const cv_block_q8_0 *)w + r * nb, xq, nb);
}

/* Every element is row_dot of its weight row and activation row: the same
 * bits as cv_gemv_q8x_ref, whatever m and the other rows are. */
void cv_gemms_q8x_ref(size_t m, size_t n, size_t k, const cv_block_q8x *xq, size_t ldxq,
                      const void *w, float *y, size_t ldy)
{
    const size_t nb = k / CV_QK8_0;
    for (size_t r = 0; r < n; r++)
        for (size_t i = 0; i < m; i++)
            y[i * ldy + r] = row_dot((const cv_block_q8_0 *)w + r * nb, xq + i * ldxq, nb);
}
