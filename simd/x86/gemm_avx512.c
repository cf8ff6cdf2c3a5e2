/* gemm_avx512.c — AVX-512 (F/BW/VL) twins of the packing GEMM Y = X W^T
 * (m > 8 activation rows: every NAR prefill) for f32, f16, bf16 and q8_0
 * weights.
 *
 * Why a level of its own: the AVX2 kernel (gemm_avx2.c) is FMA-bound, and
 * Zen 5 executes 512-bit FMAs at full width, so 16 lanes per FMA halve the
 * instruction count (measured in test_kernels --bench, the gemm section).
 *
 * The structure of gemm_avx2.c with panels twice as wide: a panel is NR =
 * 32 weight rows x KC columns packed k-major by gemm_pack.h (the same code
 * as the AVX2 kernel), and the micro-kernel computes an MR = 12 rows x 32
 * columns tile of Y in 24 zmm accumulators: per k, 2 loads of W, 12
 * broadcasts of X, 24 FMAs (26 of 32 zmm).  A partial tile (fewer than 32
 * columns) uses masked loads and stores of Y instead of a buffer.
 *
 * Same bits as the AVX2 kernel: every Y element is one FMA chain over
 * k = 0 .. k-1 in natural order, the first step on a zero accumulator, and
 * Y is stored and reloaded between KC blocks (a float store is exact).  The
 * chain does not depend on the tile, the panel width, KC or MC, so this
 * kernel and gemm_avx2.c agree bit for bit (test_kernels checks it), and
 * splitting rows over threads changes nothing. */
#include "x86.h"

#include "gemm_pack.h"

enum {
    MR = 12,  /* activation rows per micro-tile */
    NR = 32,  /* weight rows (output columns) per panel: two zmm */
    KC = 256, /* k per panel (32 KiB packed, in Zen 5's 48 KiB L1); a multiple of CV_QK8_0 */
    MC = 120  /* activation rows per X block (120 KiB, in L2); a multiple of MR */
};

/* Lanes [0, n) of a 16-lane mask, n clamped to 0..16. */
static inline __mmask16 lanes(size_t n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* The accumulators of tile row i are named variables a<i> (columns 0..15)
 * and b<i> (16..31), each statement guarded by `mr > i`: with mr a constant
 * after inlining, the dead rows vanish and the live ones stay in zmm
 * registers.  (An array indexed in a loop over mr, as gemm_avx2.c does with
 * 6 rows, is not unrolled by clang at 12 rows: the accumulators then live
 * on the stack.) */
#define CV_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CV_DECL(i) __m512 a##i = z, b##i = z;
#define CV_LOAD(i)                                                  \
    if (mr > (i) && !first) {                                       \
        a##i = _mm512_maskz_loadu_ps(m0, y + (i) * ldy);            \
        b##i = _mm512_maskz_loadu_ps(m1, y + (i) * ldy + 16);       \
    }
#define CV_FMA(i)                                                   \
    if (mr > (i)) {                                                 \
        const __m512 xb = _mm512_set1_ps(x[(i) * ldx + kk]);        \
        a##i = _mm512_fmadd_ps(xb, w0, a##i);                       \
        b##i = _mm512_fmadd_ps(xb, w1, b##i);                       \
    }
#define CV_STORE(i)                                                 \
    if (mr > (i)) {                                                 \
        _mm512_mask_storeu_ps(y + (i) * ldy, m0, a##i);             \
        _mm512_mask_storeu_ps(y + (i) * ldy + 16, m1, b##i);        \
    }

/* Y[0..mr, 0..nc) (+)= X[0..mr, 0..kc) * panel: the micro-kernel (see
 * gemm_avx2.c for why each height is its own function). */
static inline __attribute__((always_inline)) void tile(size_t mr, size_t kc, const float *x, size_t ldx,
                                                       const float *p, float *y, size_t ldy,
                                                       size_t nc, int first)
{
    const __mmask16 m0 = lanes(nc), m1 = lanes(nc > 16 ? nc - 16 : 0);
    const __m512 z = _mm512_setzero_ps();
    CV_ROWS(CV_DECL)
    CV_ROWS(CV_LOAD)
    for (size_t kk = 0; kk < kc; kk++) {
        const __m512 w0 = _mm512_load_ps(p + kk * NR), w1 = _mm512_load_ps(p + kk * NR + 16);
        CV_ROWS(CV_FMA)
    }
    CV_ROWS(CV_STORE)
}
#undef CV_STORE
#undef CV_FMA
#undef CV_LOAD
#undef CV_DECL
#undef CV_ROWS

#define CV_DEFINE_TILE(R)                                                                   \
    static void tile_##R(size_t kc, const float *x, size_t ldx, const float *p, float *y, \
                         size_t ldy, size_t nc, int first)                                  \
    {                                                                                       \
        tile(R, kc, x, ldx, p, y, ldy, nc, first);                                          \
    }
CV_DEFINE_TILE(1)
CV_DEFINE_TILE(2)
CV_DEFINE_TILE(3)
CV_DEFINE_TILE(4)
CV_DEFINE_TILE(5)
CV_DEFINE_TILE(6)
CV_DEFINE_TILE(7)
CV_DEFINE_TILE(8)
CV_DEFINE_TILE(9)
CV_DEFINE_TILE(10)
CV_DEFINE_TILE(11)
CV_DEFINE_TILE(12)
#undef CV_DEFINE_TILE

static void gemm_typed(cv_type t, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const void *w, float *y, size_t ldy)
{
    static const float zeros[KC] = { 0 };
    static const cv_pack_tile_fn tiles[MR + 1] = { NULL,   tile_1, tile_2, tile_3,  tile_4,  tile_5, tile_6,
                                                   tile_7, tile_8, tile_9, tile_10, tile_11, tile_12 };
    static const cv_pack_geom geom = { MR, NR, KC, MC, zeros, tiles };
    _Alignas(64) float p[KC * NR];
    _Alignas(64) float tmp[NR * (KC + 8)];
    cv_pack_gemm(t, m, n, k, x, ldx, w, y, ldy, &geom, p, tmp);
}

void cv_gemm_f32_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                        float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_F32, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemm_f16_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                        float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_F16, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemm_bf16_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                         float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_BF16, m, n, k, x, ldx, w, y, ldy);
}

/* k must be a multiple of 32 */
void cv_gemm_q8_0_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                         float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_Q8_0, m, n, k, x, ldx, w, y, ldy);
}
