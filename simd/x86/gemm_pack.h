/* gemm_pack.h — packing of weight panels for the packing GEMMs
 * (gemm_avx2.c, gemm_avx512.c): a panel of nrp weight rows x kc columns is
 * widened to float (exact for every type) and stored k-major,
 * p[c*nrp + j] = W[r0+j, k0+c].  Both kernels pack through this one code,
 * so their panels hold the same floats.
 *
 * Only files compiled with at least -mavx2 -mfma -mf16c may include it. */
#ifndef CV_SIMD_X86_GEMM_PACK_H
#define CV_SIMD_X86_GEMM_PACK_H

#include "avx2_util.h"

/* Transposes an 8x8 block: rows s[0..7] (8 floats each, from column c) go to
 * dst[c'*ld + j] = s[j][c + c'] for c' < 8 (dst 32-byte aligned, ld a
 * multiple of 8). */
static inline void cv_pack_transpose8(const float *const s[8], size_t c, float *dst, size_t ld)
{
    __m256 r0 = _mm256_loadu_ps(s[0] + c), r1 = _mm256_loadu_ps(s[1] + c);
    __m256 r2 = _mm256_loadu_ps(s[2] + c), r3 = _mm256_loadu_ps(s[3] + c);
    __m256 r4 = _mm256_loadu_ps(s[4] + c), r5 = _mm256_loadu_ps(s[5] + c);
    __m256 r6 = _mm256_loadu_ps(s[6] + c), r7 = _mm256_loadu_ps(s[7] + c);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    _mm256_store_ps(dst + 0 * ld, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_store_ps(dst + 1 * ld, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_store_ps(dst + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_store_ps(dst + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_store_ps(dst + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_store_ps(dst + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_store_ps(dst + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_store_ps(dst + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* p[c*nrp + j] = s[j][c] for j < nrp (a multiple of 8), c < kc */
static inline void cv_pack_transpose(const float *const *s, size_t nrp, size_t kc, float *p)
{
    size_t c = 0;
    for (; c + 8 <= kc; c += 8)
        for (size_t j = 0; j < nrp; j += 8)
            cv_pack_transpose8(s + j, c, p + c * nrp + j, nrp);
    for (; c < kc; c++)
        for (size_t j = 0; j < nrp; j++)
            p[c * nrp + j] = s[j][c];
}

/* dst[0..kc) = W[r, k0..k0+kc) widened to float (t is not f32; q8_0: k and
 * k0 are multiples of 32, whole blocks) */
static inline void cv_pack_widen_row(cv_type t, const void *w, size_t k, size_t r, size_t k0,
                                     size_t kc, float *dst)
{
    if (t == CV_TYPE_Q8_0) {
        const unsigned char *blk = (const unsigned char *)w + (r * k + k0) / CV_QK8_0 * CV_Q8_0_BYTES;
        for (size_t c = 0; c < kc; c += CV_QK8_0, blk += CV_Q8_0_BYTES) {
            __m256 d = cv_avx2_q8_scale(blk);
            for (size_t j = 0; j < CV_QK8_0; j += 8)
                _mm256_storeu_ps(dst + c + j, _mm256_mul_ps(d, cv_avx2_load_i8(cv_avx2_q8_qs(blk) + j)));
        }
        return;
    }
    const uint16_t *src = (const uint16_t *)w + r * k + k0;
    size_t c = 0;
    if (t == CV_TYPE_F16) {
        for (; c + 8 <= kc; c += 8)
            _mm256_storeu_ps(dst + c, cv_avx2_load_f16(src + c));
        if (c < kc)
            _mm256_storeu_ps(dst + c, cv_avx2_load_f16_part(src + c, kc - c));
    } else {
        for (; c + 8 <= kc; c += 8)
            _mm256_storeu_ps(dst + c, cv_avx2_load_bf16(src + c));
        if (c < kc)
            _mm256_storeu_ps(dst + c, cv_avx2_load_bf16_part(src + c, kc - c));
    }
}

/* Packs W[r0..r0+nr, k0..k0+kc) into the panel p of nrp (<= 32) rows; rows
 * past nr read `zeros` (at least kc floats).  Weights that are not f32 are
 * first widened row by row into tmp, rows ldt (>= kc rounded up to 8) apart. */
static inline void cv_pack_panel(cv_type t, const void *w, size_t k, size_t r0, size_t nr,
                                 size_t nrp, size_t k0, size_t kc, const float *zeros, float *tmp,
                                 size_t ldt, float *p)
{
    const float *s[32];
    for (size_t j = 0; j < nrp; j++) {
        if (j >= nr) {
            s[j] = zeros;
        } else if (t == CV_TYPE_F32) {
            s[j] = (const float *)w + (r0 + j) * k + k0;
        } else {
            cv_pack_widen_row(t, w, k, r0 + j, k0, kc, tmp + j * ldt);
            s[j] = tmp + j * ldt;
        }
    }
    cv_pack_transpose(s, nrp, kc, p);
}

/* A micro-kernel of one tile height: Y[rows, 0..nc) (+)= X[rows, 0..kc) *
 * packed panel (X rows ldx apart, Y rows ldy apart); nc <= nrp columns of Y
 * are written; first: the first KC block (Y is not read). */
typedef void (*cv_pack_tile_fn)(size_t kc, const float *x, size_t ldx, const float *p, float *y,
                                size_t ldy, size_t nc, int first);

/* The blocking of a packing GEMM: tiles of at most mr rows (tiles[h] the
 * micro-kernel of height h, 1 <= h <= mr), panels of nrp weight rows x kc
 * columns, X blocks of at most mc rows; zeros: kc zero floats. */
typedef struct {
    size_t mr, nrp, kc, mc;
    const float *zeros;
    const cv_pack_tile_fn *tiles;
} cv_pack_geom;

/* The GotoBLAS loop nest shared by the packing GEMMs: X blocks of equal
 * height (a multiple of mr when possible), KC blocks, panels, each panel
 * packed into p (tmp: the widened rows, kc + 8 floats apart) and run
 * against the block's rows mr at a time.  Y carries the sums from one KC
 * block to the next. */
static inline void cv_pack_gemm(cv_type t, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                                const void *w, float *y, size_t ldy, const cv_pack_geom *g,
                                float *p, float *tmp)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) { /* empty sums */
        for (size_t i = 0; i < m; i++)
            for (size_t r = 0; r < n; r++)
                y[i * ldy + r] = 0.0f;
        return;
    }
    const size_t nblk = (m + g->mc - 1) / g->mc;
    const size_t mc = ((m + nblk - 1) / nblk + g->mr - 1) / g->mr * g->mr;
    for (size_t i0 = 0; i0 < m; i0 += mc) {
        const size_t mb = m - i0 < mc ? m - i0 : mc;
        for (size_t k0 = 0; k0 < k; k0 += g->kc) {
            const size_t kc = k - k0 < g->kc ? k - k0 : g->kc;
            for (size_t r0 = 0; r0 < n; r0 += g->nrp) {
                const size_t nr = n - r0 < g->nrp ? n - r0 : g->nrp;
                cv_pack_panel(t, w, k, r0, nr, g->nrp, k0, kc, g->zeros, tmp, g->kc + 8, p);
                for (size_t i = i0; i < i0 + mb; i += g->mr)
                    g->tiles[i0 + mb - i < g->mr ? i0 + mb - i : g->mr](
                        kc, x + i * ldx + k0, ldx, p, y + i * ldy + r0, ldy, nr, k0 == 0);
            }
        }
    }
}

#endif
