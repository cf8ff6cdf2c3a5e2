/* gemv_avx2.c — AVX2+FMA+F16C twins of y = W x for f32, f16 and bf16
 * weights (q8_0, with integer dot products, is in q8_avx2.c).
 *
 * GEMV streams the weights once, so the work per weight is kept small:
 * low-precision weights are widened in registers, and rows are walked one
 * at a time.  Walking 2 or 4 rows together (sharing each x load) measured
 * 30-50 % slower from DRAM on this Zen 5: interleaved streams defeat the
 * hardware prefetcher, while x (12 KiB for 3072 columns) stays in L1 anyway
 * (longer rows: see the prefetch in row_dot).  All three are memory-bound.
 * A 32-byte aligned x is ~10 % faster in cache (the x loads then never
 * split a cache line).
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
    /* Long rows (fc2: 12288 columns) prefetch their weights 8 KiB ahead
     * into L2: there x (48 KiB) no longer fits L1, its L2 reads compete
     * with the weight stream for the L1 miss buffers, and 2 threads
     * measured 28 GB/s against 50 GB/s at 3072 columns; with this, 40.
     * (For short rows the same prefetch measured 10-15 % slower: the
     * hardware prefetcher alone does better there.)  A prefetch past the
     * end of the weights is harmless: it never faults. */
    const size_t elt = t == CV_TYPE_F32 ? 4 : 2;
    const int pf = cols > 4096;
    for (; c < c32; c += 32) {
        if (pf) {
            _mm_prefetch((const char *)row + c * elt + 8192, _MM_HINT_T1);
            if (elt == 4)
                _mm_prefetch((const char *)row + c * elt + 8192 + 64, _MM_HINT_T1);
        }
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
