/* gemms_avx2.c — AVX2+FMA+F16C twins of the small-m GEMM Y = X W^T (AR
 * decode of 2..8 sequences) for f32, f16 and bf16 weights (q8_0: q8_avx2.c).
 *
 * gemm_avx2.c packs every weight panel (widen + transpose) per call, which
 * for a few activation rows costs far more than the math (measured on the
 * 48x3072 f16 model: batch 2 took 3.7x the time of batch 1's GEMV).  Here
 * nothing is packed: weight rows are walked 2 at a time; per 8 columns the
 * 2 x 8 weights are widened in registers once and FMA'd into one
 * accumulator per (weight row, activation row), for blocks of up to MB = 4
 * activation rows (8 accumulators + 2 weights + 1 x: 11 of 16 ymm).  With
 * m > 4 the next block re-reads the 2 rows from L1 (12 KiB of f16 for
 * k = 3072), so DRAM sees each weight byte once per call.
 *
 * Measured on this Zen (one thread, 4096 x 1024 f16 weights from DRAM):
 * m = 1, 2, 4, 8 cost 1.3, 1.3, 1.5, 2.8 GEMVs.  m = 8 is bound by the
 * FMAs (m*n*k/8 of them; ~70 % of the AVX2 FMA peak, in cache too), so it
 * cannot reach 2 GEMVs on one core; on 2 cores it measured 3 GEMVs.
 *
 * Every element is one 8-lane FMA chain over the columns in order (the
 * ragged tail masked, last), then cv_avx2_hsum: it depends neither on m,
 * on the block its row falls in, nor on the other weight rows of the call,
 * so splitting rows over threads changes no bit. */
#include "x86.h"

#include "avx2_util.h"

enum {
    MB = 4 /* activation rows per block */
};

/* the X[i, c..c+8) of one activation row; masked to rem lanes when rem < 8.
 * The empty asm pins the value in a register: otherwise GCC folds the load
 * into each of the nr FMAs that use it, and the loop became bound by loads
 * (measured: 10 loads per 8 FMAs at m = 8, ~1 FMA per cycle). */
static inline __m256 load_x(const float *xi, size_t rem)
{
    __m256 v = rem == 8 ? _mm256_loadu_ps(xi) : _mm256_maskload_ps(xi, cv_avx2_tail_mask(rem));
#if defined(__GNUC__)
    __asm__("" : "+x"(v));
#endif
    return v;
}

/* a<j><i> += w<j> * X[i, c..c+8) for j < nr, i < mb.  Named variables, not
 * an array: GCC -O2 kept an array of accumulators on the stack (measured
 * 1.4x slower at m = 8). */
#define CV_FMA_ROW(i, acc0, acc1)                                      \
    if (mb > (i)) {                                                    \
        const __m256 xv = load_x(x + (i) * ldx + c, rem);              \
        acc0 = _mm256_fmadd_ps(w0v, xv, acc0);                         \
        if (nr > 1)                                                    \
            acc1 = _mm256_fmadd_ps(w1v, xv, acc1);                     \
    }
#define CV_FMA_ALL()                                                   \
    do {                                                               \
        CV_FMA_ROW(0, a00, a10)                                        \
        CV_FMA_ROW(1, a01, a11)                                        \
        CV_FMA_ROW(2, a02, a12)                                        \
        CV_FMA_ROW(3, a03, a13)                                        \
    } while (0)

/* Y[i, r0 + j] for j < nr (1 or 2), i < mb (1..MB), nr and mb constants
 * after inlining.  w0 is row r0; w1 = row r0 + 1 (read only when nr == 2). */
static inline __attribute__((always_inline)) void block(cv_type t, size_t nr, size_t mb,
                                                        size_t k, const float *x, size_t ldx,
                                                        const void *w0, const void *w1, float *y,
                                                        size_t ldy, const char *pf, size_t npf)
{
    const __m256 z = _mm256_setzero_ps();
    __m256 a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
    size_t c = 0, rem = 8;
    const size_t elt = t == CV_TYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    for (; c + 8 <= k; c += 8) {
        if (2 * c * elt < npf) /* next 2 rows: 2 x 8 weights per step */
            _mm_prefetch(pf + 2 * c * elt, _MM_HINT_T0);
        const __m256 w0v = cv_avx2_load_w8(t, w0, c), w1v = nr > 1 ? cv_avx2_load_w8(t, w1, c) : z;
        CV_FMA_ALL();
    }
    if (c < k) { /* the ragged tail, zero-filled weights and masked x */
        rem = k - c;
        const __m256 w0v = cv_avx2_load_w_part(t, w0, c, rem);
        const __m256 w1v = nr > 1 ? cv_avx2_load_w_part(t, w1, c, rem) : z;
        CV_FMA_ALL();
    }
    const __m256 acc[2][MB] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}};
    for (size_t i = 0; i < mb; i++)
        for (size_t j = 0; j < nr; j++)
            y[i * ldy + j] = cv_avx2_hsum(acc[j][i]);
}
#undef CV_FMA_ALL
#undef CV_FMA_ROW

/* One block with run-time nr, mb: a switch to the 8 constant instances. */
static inline __attribute__((always_inline)) void block_any(cv_type t, size_t nr, size_t mb,
                                                            size_t k, const float *x, size_t ldx,
                                                            const void *w0, const void *w1,
                                                            float *y, size_t ldy, const char *pf,
                                                            size_t npf)
{
#define CV_BLOCK(NR, M) block(t, NR, M, k, x, ldx, w0, w1, y, ldy, pf, npf)
    if (nr == 2) {
        switch (mb) {
        case 1: CV_BLOCK(2, 1); break;
        case 2: CV_BLOCK(2, 2); break;
        case 3: CV_BLOCK(2, 3); break;
        default: CV_BLOCK(2, 4); break;
        }
    } else {
        switch (mb) {
        case 1: CV_BLOCK(1, 1); break;
        case 2: CV_BLOCK(1, 2); break;
        case 3: CV_BLOCK(1, 3); break;
        default: CV_BLOCK(1, 4); break;
        }
    }
#undef CV_BLOCK
}

/* Rows 2 at a time; per row pair, the activation rows in blocks of MB.
 * (One row at a time with blocks of 8 activation rows, one conversion per
 * 8 FMAs, measured 1.3x slower at m = 8, k = 1024.) */
static inline __attribute__((always_inline)) void gemms_typed(cv_type t, size_t m, size_t n,
                                                              size_t k, const float *x,
                                                              size_t ldx, const void *w,
                                                              float *y, size_t ldy)
{
    const size_t row_bytes = t == CV_TYPE_F32 ? k * sizeof(float) : k * sizeof(uint16_t);
    const char *wb = w;
    for (size_t r = 0; r < n; r += 2) {
        const size_t nr = n - r < 2 ? n - r : 2;
        const char *w0 = wb + r * row_bytes;
        /* the next row pair, prefetched while the first block runs: without
         * it, m = 8 measured 1.8x slower from DRAM (the hardware prefetcher
         * does not keep up with 2 interleaved streams and a slow loop) */
        const size_t npf = n - r > 2 ? (n - r - 2 < 2 ? n - r - 2 : 2) * row_bytes : 0;
        for (size_t i = 0; i < m; i += MB)
            block_any(t, nr, m - i < MB ? m - i : MB, k, x + i * ldx, ldx, w0, w0 + row_bytes,
                      y + i * ldy + r, ldy, npf ? w0 + 2 * row_bytes : w0, i == 0 ? npf : 0);
    }
}

void cv_gemms_f32_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                       float *y, size_t ldy)
{
    gemms_typed(CV_TYPE_F32, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemms_f16_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                       float *y, size_t ldy)
{
    gemms_typed(CV_TYPE_F16, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemms_bf16_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                        float *y, size_t ldy)
{
    gemms_typed(CV_TYPE_BF16, m, n, k, x, ldx, w, y, ldy);
}
