/* gemm_avx2.c — AVX2+FMA+F16C twins of Y = X W^T for f32, f16, bf16 and
 * q8_0 weights.
 *
 * The classic GotoBLAS/BLIS structure, with W as the packed operand:
 *   - W is cut into panels of NR = 16 rows x KC columns.  A panel is widened
 *     to float (exact for every type) and stored k-major, p[c*16 + j] =
 *     W[r0+j, k0+c], so that one k step of the micro-kernel reads 16 output
 *     columns with two aligned loads.  Packing, the only type-specific step,
 *     happens once per panel and is amortised over every activation row;
 *   - the micro-kernel computes an MR = 6 rows x 16 columns tile of Y in 12
 *     ymm accumulators: per k, 2 loads of W, 6 broadcasts of X, 12 FMAs;
 *   - KC = 256 keeps a panel (16 KiB) in L1 and a block of X rows
 *     (MC x KC floats) in L2; Y carries the sums from one KC block to the
 *     next.
 * Every Y element is one FMA chain over k = 0 .. k-1 in natural order,
 * stored to Y and reloaded between KC blocks (a float store is exact), so it
 * does not depend on the tile its row or column falls in: tails (mr < 6,
 * fewer than 16 columns) run the same chain.  Splitting rows over threads
 * therefore changes no bit of the result. */
#include "x86.h"

#include "gemm_pack.h"

enum {
    MR = 6,   /* activation rows per micro-tile */
    NR = 16,  /* weight rows (output columns) per panel */
    KC = 256, /* k per panel; a multiple of CV_QK8_0 and of 8 */
    MC = 120  /* activation rows per X block (MC*KC floats = 120 KiB, in L2) */
};

/* A partial tile (nc < NR columns) of Y goes through buf, so that nothing
 * past column nc is read or written. */
static void partial_to_buf(size_t mr, size_t nc, const float *y, size_t ldy, float buf[][NR])
{
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < NR; j++)
            buf[i][j] = j < nc ? y[i * ldy + j] : 0.0f;
}

static void buf_to_partial(size_t mr, size_t nc, float buf[][NR], float *y, size_t ldy)
{
    for (size_t i = 0; i < mr; i++)
        for (size_t j = 0; j < nc; j++)
            y[i * ldy + j] = buf[i][j];
}

/* Y[0..mr, 0..nc) (+)= X[0..mr, 0..kc) * panel: the micro-kernel.  mr is a
 * constant after inlining and every loop over it is unrolled, so the
 * accumulators live in registers (no array of them may escape into a call,
 * or clang keeps them in memory). */
static inline __attribute__((always_inline)) void tile(size_t mr, size_t kc, const float *x, size_t ldx,
                                                       const float *p, float *y, size_t ldy,
                                                       size_t nc, int first)
{
    _Alignas(32) float buf[MR][NR];
    const float *src = y;
    size_t ld = ldy;
    if (nc < NR) {
        if (!first)
            partial_to_buf(mr, nc, y, ldy, buf);
        src = buf[0];
        ld = NR;
    }
    __m256 c0[MR], c1[MR];
    CV_UNROLL
    for (size_t i = 0; i < mr; i++) {
        c0[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(src + i * ld);
        c1[i] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(src + i * ld + 8);
    }
    for (size_t kk = 0; kk < kc; kk++) {
        __m256 w0 = _mm256_load_ps(p + kk * NR), w1 = _mm256_load_ps(p + kk * NR + 8);
        CV_UNROLL
        for (size_t i = 0; i < mr; i++) {
            __m256 xb = _mm256_broadcast_ss(x + i * ldx + kk);
            c0[i] = _mm256_fmadd_ps(xb, w0, c0[i]);
            c1[i] = _mm256_fmadd_ps(xb, w1, c1[i]);
        }
    }
    float *dst = nc < NR ? buf[0] : y;
    CV_UNROLL
    for (size_t i = 0; i < mr; i++) {
        _mm256_storeu_ps(dst + i * ld, c0[i]);
        _mm256_storeu_ps(dst + i * ld + 8, c1[i]);
    }
    if (nc < NR)
        buf_to_partial(mr, nc, buf, y, ldy);
}

/* One function per tile height.  They must stay distinct functions: with
 * six inline calls in a switch, clang merges them into one call with mr as
 * a variable before inlining, and the accumulators end up in memory. */
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

static void gemm_typed(cv_type t, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const void *w, float *y, size_t ldy)
{
    static const float zeros[KC] = { 0 };
    static const cv_pack_tile_fn tiles[MR + 1] = { NULL, tile_1, tile_2, tile_3, tile_4, tile_5, tile_6 };
    static const cv_pack_geom geom = { MR, NR, KC, MC, zeros, tiles };
    _Alignas(32) float p[KC * NR];
    _Alignas(32) float tmp[NR * (KC + 8)];
    cv_pack_gemm(t, m, n, k, x, ldx, w, y, ldy, &geom, p, tmp);
}

void cv_gemm_f32_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_F32, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemm_f16_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_F16, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemm_bf16_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                       float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_BF16, m, n, k, x, ldx, w, y, ldy);
}

/* k must be a multiple of 32 */
void cv_gemm_q8_0_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                       float *y, size_t ldy)
{
    gemm_typed(CV_TYPE_Q8_0, m, n, k, x, ldx, w, y, ldy);
}
