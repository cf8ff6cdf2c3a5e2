/* gemv_avx2.c — AVX2+FMA+F16C twins of y = W x for f32, f16, bf16 and q8_0
 * weights.
 *
 * GEMV streams the weights once, so the work per weight is kept small:
 * low-precision weights are widened in registers, and rows are walked one
 * at a time.  Walking 2 or 4 rows together (sharing each x load) measured
 * 30-50 % slower from DRAM on this Zen 5: interleaved streams defeat the
 * hardware prefetcher, while x (12 KiB for 3072 columns) stays in L1 anyway.
 * f32/f16/bf16 are memory-bound; q8_0 is bound by its ~16 vector ops per
 * 32-weight block (see cv_gemv_q8_0_avx2).  A 32-byte aligned x is ~10 %
 * faster in cache (the x loads then never split a cache line).
 *
 * Row-split invariance holds trivially: every row runs the same code, with
 * its own accumulators, whatever rows surround it. */
#include "x86.h"

#include "avx2_util.h"

/* W[row, :] . x with four accumulators (columns 32i + 8j go to aj) to
 * cover the FMA latency; reduced in one fixed order. */
static inline __attribute__((always_inline)) float row_dot(cv_type t, size_t cols, const void *row,
                                                           const float *x)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const size_t c32 = cols / 32 * 32;
    size_t c = 0;
    for (; c < c32; c += 32) {
        a0 = _mm256_fmadd_ps(cv_avx2_load_w8(t, row, c), _mm256_loadu_ps(x + c), a0);
        a1 = _mm256_fmadd_ps(cv_avx2_load_w8(t, row, c + 8), _mm256_loadu_ps(x + c + 8), a1);
        a2 = _mm256_fmadd_ps(cv_avx2_load_w8(t, row, c + 16), _mm256_loadu_ps(x + c + 16), a2);
        a3 = _mm256_fmadd_ps(cv_avx2_load_w8(t, row, c + 24), _mm256_loadu_ps(x + c + 24), a3);
    }
    if (c + 8 <= cols) {
        a0 = _mm256_fmadd_ps(cv_avx2_load_w8(t, row, c), _mm256_loadu_ps(x + c), a0);
        c += 8;
    }
    if (c + 8 <= cols) {
        a1 = _mm256_fmadd_ps(cv_avx2_load_w8(t, row, c), _mm256_loadu_ps(x + c), a1);
        c += 8;
    }
    if (c + 8 <= cols) {
        a2 = _mm256_fmadd_ps(cv_avx2_load_w8(t, row, c), _mm256_loadu_ps(x + c), a2);
        c += 8;
    }
    if (c < cols) {
        __m256 xt = _mm256_maskload_ps(x + c, cv_avx2_tail_mask(cols - c));
        a3 = _mm256_fmadd_ps(cv_avx2_load_w_part(t, row, c, cols - c), xt, a3);
    }
    return cv_avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

static inline __attribute__((always_inline)) void gemv_typed(cv_type t, size_t elt, size_t rows,
                                                             size_t cols, const void *w,
                                                             const float *x, float *y)
{
    const char *wb = w;
    for (size_t r = 0; r < rows; r++)
        y[r] = row_dot(t, cols, wb + r * cols * elt, x);
}

void cv_gemv_f32_avx2(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    gemv_typed(CV_TYPE_F32, sizeof(float), rows, cols, w, x, y);
}

void cv_gemv_f16_avx2(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    gemv_typed(CV_TYPE_F16, sizeof(uint16_t), rows, cols, w, x, y);
}

void cv_gemv_bf16_avx2(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    gemv_typed(CV_TYPE_BF16, sizeof(uint16_t), rows, cols, w, x, y);
}

/* t = sum_j q_j x_j over the block at blk, in 8 lanes */
static inline __m256 block_dot(const unsigned char *blk, const float *x)
{
    const int8_t *q = cv_avx2_q8_qs(blk);
    __m256 t = _mm256_mul_ps(cv_avx2_load_i8(q), _mm256_loadu_ps(x));
    t = _mm256_fmadd_ps(cv_avx2_load_i8(q + 8), _mm256_loadu_ps(x + 8), t);
    t = _mm256_fmadd_ps(cv_avx2_load_i8(q + 16), _mm256_loadu_ps(x + 16), t);
    return _mm256_fmadd_ps(cv_avx2_load_i8(q + 24), _mm256_loadu_ps(x + 24), t);
}

/* The scales of the 4 blocks at blk, as floats in lanes 0..3: converting
 * them together (one F16C op for 4 blocks instead of one per block) takes
 * about 1.5 of the ~16 vector ops a block costs, and the q8_0 GEMV is bound
 * by those ops, not by memory (int8 -> float is 2 ops per 8 weights). */
static inline __m256 scales4(const unsigned char *blk)
{
    uint64_t d = 0;
    for (unsigned i = 0; i < 4; i++) {
        uint16_t h;
        memcpy(&h, blk + i * CV_Q8_0_BYTES + offsetof(cv_block_q8_0, d), sizeof h);
        d |= (uint64_t)h << (16 * i);
    }
    return _mm256_castps128_ps256(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)d)));
}

/* q8_0: acc += d * t per block: one scale FMA per block instead of widening
 * d*q per weight, and no horizontal sum until the end of the row.  Blocks
 * go round-robin to four accumulators so that the chains overlap. */
void cv_gemv_q8_0_avx2(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    const size_t nb = cols / CV_QK8_0;
    const __m256i l0 = _mm256_set1_epi32(0), l1 = _mm256_set1_epi32(1);
    const __m256i l2 = _mm256_set1_epi32(2), l3 = _mm256_set1_epi32(3);
    for (size_t r = 0; r < rows; r++) {
        const unsigned char *row = (const unsigned char *)w + r * nb * CV_Q8_0_BYTES;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t b = 0;
        for (; b + 4 <= nb; b += 4) {
            const unsigned char *blk = row + b * CV_Q8_0_BYTES;
            const float *xb = x + b * CV_QK8_0;
            __m256 d = scales4(blk);
            a0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, l0), block_dot(blk, xb), a0);
            a1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, l1),
                                 block_dot(blk + CV_Q8_0_BYTES, xb + CV_QK8_0), a1);
            a2 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, l2),
                                 block_dot(blk + 2 * CV_Q8_0_BYTES, xb + 2 * CV_QK8_0), a2);
            a3 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(d, l3),
                                 block_dot(blk + 3 * CV_Q8_0_BYTES, xb + 3 * CV_QK8_0), a3);
        }
        for (; b < nb; b++) {
            const unsigned char *blk = row + b * CV_Q8_0_BYTES;
            a0 = _mm256_fmadd_ps(cv_avx2_q8_scale(blk), block_dot(blk, x + b * CV_QK8_0), a0);
        }
        y[r] = cv_avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
}
