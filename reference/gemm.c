/* gemm.c — reference Y = X W^T for every weight type: a blocked GEMM.
 *
 * This is also the GEMM that runs when the build has neither BLAS nor a SIMD
 * twin, so it is blocked for cache reuse while staying plain C:
 *   - W is walked in tiles of NR rows x KC columns.  Each tile is widened to
 *     float ONCE (exact for f16, bf16 and q8_0, see gemv.c) and then serves
 *     all m activation rows, so every weight byte is read and converted once
 *     per call however large m is;
 *   - the tile is stored transposed (wt[c * NR + j] = W[r0 + j, k0 + c]), so
 *     the inner loop updates NR independent accumulators from one broadcast
 *     x value: a compiler can keep them in one or two vector registers
 *     without reassociating anything.
 * Every output element is still one float accumulator over c = 0 .. k-1 in
 * natural order (carried across column tiles through Y itself), exactly as
 * in gemv.c: row i of Y is bit-identical to cv_gemv_*_ref on row i of X, and
 * no element depends on which other rows share the call. */
#include "ref.h"

enum {
    NR = 8,  /* weight rows per tile (accumulators per activation row) */
    KC = 256 /* columns per tile, a multiple of CV_QK8_0; NR*KC floats = 8 KiB */
};

/* Widens W[r, k0 .. k0+kc) to dst[c * ds]: ds = NR for column j of the
 * transposed tile, 1 for a plain row (gemms). */
static void load_row(cv_type t, const void *w, size_t k, size_t r, size_t k0, size_t kc,
                     float *dst, size_t ds)
{
    const size_t off = r * k + k0; /* element index of W[r, k0] */
    switch (t) {
    case CV_TYPE_F32:
        for (size_t c = 0; c < kc; c++)
            dst[c * ds] = ((const float *)w)[off + c];
        break;
    case CV_TYPE_F16:
        for (size_t c = 0; c < kc; c++)
            dst[c * ds] = cv_f16_to_f32(((const uint16_t *)w)[off + c]);
        break;
    case CV_TYPE_BF16:
        for (size_t c = 0; c < kc; c++)
            dst[c * ds] = cv_bf16_to_f32(((const uint16_t *)w)[off + c]);
        break;
    case CV_TYPE_Q8_0: {
        /* k and k0 are multiples of 32, so the slice is whole blocks */
        const cv_block_q8_0 *b = (const cv_block_q8_0 *)w + off / CV_QK8_0;
        for (size_t c = 0; c < kc; c += CV_QK8_0, b++) {
            const float d = cv_f16_to_f32(b->d);
            for (size_t j = 0; j < CV_QK8_0; j++)
                dst[(c + j) * ds] = d * (float)b->qs[j];
        }
        break;
    }
    }
}

/* Y[i, 0..nr) (+)= X[i, k0..k0+kc) . tile, for all m rows; the first column
 * tile (k0 == 0) starts the accumulators at 0, later ones continue from Y. */
static void tile_times_x(size_t m, size_t nr, size_t k0, size_t kc, const float *x, size_t ldx,
                         const float *wt, float *y, size_t ldy)
{
    for (size_t i = 0; i < m; i++) {
        const float *xi = x + i * ldx + k0;
        float *yi = y + i * ldy;
        float acc[NR];
        for (size_t j = 0; j < NR; j++)
            acc[j] = (k0 > 0 && j < nr) ? yi[j] : 0.0f;
        for (size_t c = 0; c < kc; c++)
            for (size_t j = 0; j < NR; j++)
                acc[j] += xi[c] * wt[c * NR + j];
        for (size_t j = 0; j < nr; j++)
            yi[j] = acc[j];
    }
}

static void gemm_blocked(cv_type t, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                         const void *w, float *y, size_t ldy)
{
    float wt[KC * NR];
    if (k == 0) { /* empty sums */
        for (size_t i = 0; i < m; i++)
            for (size_t r = 0; r < n; r++)
                y[i * ldy + r] = 0.0f;
        return;
    }
    for (size_t r0 = 0; r0 < n; r0 += NR) {
        const size_t nr = n - r0 < NR ? n - r0 : NR;
        for (size_t k0 = 0; k0 < k; k0 += KC) {
            const size_t kc = k - k0 < KC ? k - k0 : KC;
            for (size_t j = 0; j < NR; j++) {
                if (j < nr)
                    load_row(t, w, k, r0 + j, k0, kc, wt + j, NR);
                else /* padding rows: computed, never stored */
                    for (size_t c = 0; c < kc; c++)
                        wt[c * NR + j] = 0.0f;
            }
            tile_times_x(m, nr, k0, kc, x, ldx, wt, y + r0, ldy);
        }
    }
}

void cv_gemm_f32_ref(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                     float *y, size_t ldy)
{
    gemm_blocked(CV_TYPE_F32, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemm_f16_ref(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                     float *y, size_t ldy)
{
    gemm_blocked(CV_TYPE_F16, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemm_bf16_ref(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemm_blocked(CV_TYPE_BF16, m, n, k, x, ldx, w, y, ldy);
}

/* k must be a multiple of 32 */
void cv_gemm_q8_0_ref(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemm_blocked(CV_TYPE_Q8_0, m, n, k, x, ldx, w, y, ldy);
}

/* ------------------------------------------------------------------ gemms
 * Small-m GEMM (AR decode of a few sequences): no transposed tile.  Each
 * weight row is widened KC columns at a time into a float buffer, and the
 * slice serves the accumulators of up to MB activation rows, walked
 * column-major (for c: for i) so that the MB float chains are independent
 * and overlap.  Every element is still one float accumulator over
 * c = 0 .. k-1 in natural order: the same bits as gemv.c and gemm_blocked,
 * whatever m and the other rows are. */
enum { MB = 8 /* activation rows per pass over a weight row */ };

static void gemms_row(cv_type t, size_t m, size_t k, const float *x, size_t ldx, const void *w,
                      size_t r, float *y, size_t ldy)
{
    float wr[KC];
    for (size_t i0 = 0; i0 < m; i0 += MB) {
        const size_t mb = m - i0 < MB ? m - i0 : MB;
        float acc[MB] = {0};
        for (size_t k0 = 0; k0 < k; k0 += KC) {
            const size_t kc = k - k0 < KC ? k - k0 : KC;
            load_row(t, w, k, r, k0, kc, wr, 1);
            for (size_t c = 0; c < kc; c++)
                for (size_t i = 0; i < mb; i++)
                    acc[i] += x[(i0 + i) * ldx + k0 + c] * wr[c];
        }
        for (size_t i = 0; i < mb; i++)
            y[(i0 + i) * ldy + r] = acc[i];
    }
}

static void gemms(cv_type t, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                  const void *w, float *y, size_t ldy)
{
    for (size_t r = 0; r < n; r++)
        gemms_row(t, m, k, x, ldx, w, r, y, ldy);
}

void cv_gemms_f32_ref(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemms(CV_TYPE_F32, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemms_f16_ref(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemms(CV_TYPE_F16, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemms_bf16_ref(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                       float *y, size_t ldy)
{
    gemms(CV_TYPE_BF16, m, n, k, x, ldx, w, y, ldy);
}
