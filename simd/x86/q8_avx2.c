/* q8_avx2.c — AVX2 twins of the q8_0 integer kernels (reference/q8.c,
 * semantics in src/kernels.h): the activation quantizer, the GEMV and the
 * small-m GEMM.
 *
 * Why integers: the float q8_0 GEMV widened every weight to float (~16
 * vector ops per 32-weight block) and was bound by those ops, not by
 * memory.  Here one block of 32 weights times 32 quantized activations is
 * ggml's int8 dot product (the idea of its mul_sum_i8_pairs):
 *   |w| (as u8) and sign(x, w) (as s8) -> vpmaddubsw: 16 int16 sums of two
 *   products -> vpmaddwd with ones: 8 int32 partial sums -> 8 floats,
 * then one FMA by the broadcast scale d_w * d_x.  vpmaddubsw saturates at
 * 32767; with x in [-127, 127] (what the quantizer makes) a pair is at most
 * 2 * 128 * 127 = 32512, so every integer here is exact, even for w = -128.
 *
 * Every output element (weight row r, activation row i) is ONE 8-lane FMA
 * chain over the blocks in order, then cv_avx2_hsum, and the GEMV is the
 * small-m GEMM's code at m = 1: an element's bits depend neither on m, nor
 * on the other rows of the call, nor on which of the two computed it
 * (cv_gemv and cv_gemm at m = 1 agree).  Weight rows are walked one at a
 * time (interleaved row streams defeat the prefetcher, see gemv_avx2.c); a
 * chain retires one 34-byte block per FMA latency (4 cycles), faster than
 * one core reads from DRAM here.
 *
 * Measured on this 2-core EPYC VM (cv_gemv / cv_gemm on the 48x3072
 * model's four weight shapes, best of 5-7): GEMV 23-25 GB/s on one thread,
 * 39-41 GB/s on two = the read bandwidth (the float-widening GEMV it
 * replaces: 13.6 GB/s on one thread).  m = 8 costs 3.7-4.7 GEMVs (bound by
 * ~6 vector ops per row-block: sign, maddubs, madd, cvt, mul, fma).  Tried
 * and dropped: one activation row per float lane (integer partial sums of
 * 8 rows reduced with vphaddd to one vector, then one cvt/mul/fma for all
 * 8): 1.1x faster in L1 but 3-5 % slower at the model's shapes from DRAM;
 * the same with k split into 64-block tiles (to keep x in L1): 1.6x slower
 * (64 interleaved weight-row streams).  AVX-VNNI's vpdpbusd (maddubs +
 * madd in one op) is the next step for m = 8. */
#include "x86.h"

#include <float.h>

#include "avx2_util.h"

/* ------------------------------------------------------------ quantize */

/* Converts 8 floats times id to int32, rounding with MXCSR's mode (ties to
 * even by default: nearbyintf's choice in the reference). */
static inline __m256i q8x_round8(const float *x, __m256 id)
{
    return _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
}

/* One block: the same float operations as reference/q8.c (max is exact,
 * d and 1/d are IEEE divisions, x * id one multiply), so the same bits. */
static void quantize_block(const float *x, cv_block_q8x *out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(FLT_MAX);
    __m256 amax = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int j = 0; j < CV_QK8_0; j += 8) {
        const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j));
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, big, _CMP_NLE_UQ)); /* inf, NaN */
        amax = _mm256_max_ps(amax, a);
    }
    float d = cv_avx2_hmax(amax) / 127.0f;
    if (_mm256_movemask_ps(bad))
        d = NAN;
    else if (d < FLT_MIN)
        d = 0.0f;
    out->d = d;
    if (!(d > 0.0f)) {
        memset(out->qs, 0, sizeof out->qs);
        return;
    }
    const __m256 id = _mm256_set1_ps(1.0f / d);
    /* |q| <= 127: the saturating packs never clip.  They interleave 128-bit
     * lanes, which the final dword permutation undoes. */
    const __m256i q01 = _mm256_packs_epi32(q8x_round8(x, id), q8x_round8(x + 8, id));
    const __m256i q23 = _mm256_packs_epi32(q8x_round8(x + 16, id), q8x_round8(x + 24, id));
    const __m256i q = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23),
                                                  _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(void *)out->qs, q);
}

void cv_quantize_q8x_avx2(const float *x, cv_block_q8x *xq, size_t k)
{
    for (size_t b = 0; b < k / CV_QK8_0; b++)
        quantize_block(x + b * CV_QK8_0, xq + b);
}

/* ------------------------------------------------------------ dot products */

/* The 8 int32 partial sums of one weight block (|w| = aw, w = wq) with the
 * 32 activations at xqs, as floats (exact: |sum| < 2^16). */
static inline __m256 block_dot(__m256i aw, __m256i wq, const int8_t *xqs)
{
    const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)xqs);
    const __m256i p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wq));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* The weight block's quants and its scale as a float. */
static inline __m256i w_quants(const unsigned char *blk)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)cv_avx2_q8_qs(blk));
}

static inline __m256 w_scale(const unsigned char *blk)
{
    uint16_t h;
    memcpy(&h, blk + offsetof(cv_block_q8_0, d), sizeof h);
    return _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* Y[i, r] for i < mb (a constant after inlining, 1..MB) and one weight row:
 * acc_i += (d_w * d_x[i]) * block_dot, one chain per i, blocks taken in
 * pairs: acc_i += (s0 * dot0 + s1 * dot1).  At m = 1 a chain of one FMA per
 * block bound the GEMV by the FMA latency (4 cycles per 34-byte block);
 * pairs halve the chain (measured one thread: 25 -> 27.5 GB/s; m = 8 about
 * 5 % slower, one more op per pair).  The same code for every mb, so no
 * element depends on m.  The scale product is the reference's float
 * multiply d_w * d_x (as a vector multiply). */
enum { MB = 8 /* activation rows per pass: 8 accumulators + temporaries */ };

static inline __attribute__((always_inline)) void row_times_x(
    size_t mb, size_t nb, const unsigned char *row, const cv_block_q8x *xq, size_t ldxq,
    float *y, size_t ldy)
{
    __m256 acc[MB];
    CV_UNROLL
    for (size_t i = 0; i < mb; i++)
        acc[i] = _mm256_setzero_ps();
    size_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        const unsigned char *blk0 = row + b * CV_Q8_0_BYTES, *blk1 = blk0 + CV_Q8_0_BYTES;
        const __m256i wq0 = w_quants(blk0), aw0 = _mm256_abs_epi8(wq0);
        const __m256i wq1 = w_quants(blk1), aw1 = _mm256_abs_epi8(wq1);
        const __m256 dw0 = w_scale(blk0), dw1 = w_scale(blk1);
        CV_UNROLL
        for (size_t i = 0; i < mb; i++) {
            const cv_block_q8x *xb = xq + i * ldxq + b;
            /* broadcast from memory is a load, not a shuffle */
            const __m256 s0 = _mm256_mul_ps(dw0, _mm256_broadcast_ss(&xb[0].d));
            const __m256 s1 = _mm256_mul_ps(dw1, _mm256_broadcast_ss(&xb[1].d));
            const __m256 t = _mm256_fmadd_ps(s1, block_dot(aw1, wq1, xb[1].qs),
                                             _mm256_mul_ps(s0, block_dot(aw0, wq0, xb[0].qs)));
            acc[i] = _mm256_add_ps(acc[i], t);
        }
    }
    if (b < nb) {
        const unsigned char *blk = row + b * CV_Q8_0_BYTES;
        const __m256i wq = w_quants(blk), aw = _mm256_abs_epi8(wq);
        const __m256 dw = w_scale(blk);
        CV_UNROLL
        for (size_t i = 0; i < mb; i++) {
            const cv_block_q8x *xb = xq + i * ldxq + b;
            const __m256 s = _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb->d));
            acc[i] = _mm256_fmadd_ps(s, block_dot(aw, wq, xb->qs), acc[i]);
        }
    }
    CV_UNROLL
    for (size_t i = 0; i < mb; i++)
        y[i * ldy] = cv_avx2_hsum(acc[i]);
}

void cv_gemv_q8x_avx2(size_t rows, size_t cols, const void *w, const cv_block_q8x *xq, float *y)
{
    const size_t nb = cols / CV_QK8_0;
    for (size_t r = 0; r < rows; r++)
        row_times_x(1, nb, (const unsigned char *)w + r * nb * CV_Q8_0_BYTES, xq, 0, y + r, 0);
}

/* Rows of X in passes of up to MB, each pass with a constant row count so
 * that the accumulators live in registers. */
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

void cv_gemms_q8x_avx2(size_t m, size_t n, size_t k, const cv_block_q8x *xq, size_t ldxq,
                       const void *w, float *y, size_t ldy)
{
    const size_t nb = k / CV_QK8_0;
    for (size_t r = 0; r < n; r++)
        weight_row(m, nb, (const unsigned char *)w + r * nb * CV_Q8_0_BYTES, xq, ldxq, y + r,
                   ldy);
}
