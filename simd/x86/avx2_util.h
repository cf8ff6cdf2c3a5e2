/* avx2_util.h — inline helpers shared by the *_avx2.c kernels.
 *
 * Only the files compiled with -mavx2 -mfma -mf16c may include this header:
 * every function here emits AVX2/FMA/F16C instructions. */
#ifndef CV_SIMD_X86_AVX2_UTIL_H
#define CV_SIMD_X86_AVX2_UTIL_H

#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cv_types.h"

/* Put before a loop over the rows of a register tile (its trip count is a
 * constant after inlining): GCC at -O2 does not unroll it by itself and then
 * keeps the accumulator array in memory instead of in ymm registers.  Not
 * for clang: it unrolls such loops once the trip count is known, but would
 * apply the pragma earlier, to the not yet inlined body, and unroll it for a
 * variable trip count that never simplifies afterwards. */
#if defined(__GNUC__) && !defined(__clang__)
#define CV_UNROLL _Pragma("GCC unroll 8")
#else
#define CV_UNROLL
#endif

/* Lanes [0, rem) set, rem in 0..8: the mask of a partial last vector.
 * _mm256_maskload_ps never touches (nor faults on) the masked-off lanes. */
static inline __m256i cv_avx2_tail_mask(size_t rem)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Sum of the 8 lanes in a fixed order (pairs of halves), so that every
 * caller reduces the same way. */
static inline float cv_avx2_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float cv_avx2_hmax(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 halves / bfloat16s from p (unaligned) to floats; both are exact. */
static inline __m256 cv_avx2_load_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

static inline __m256 cv_avx2_load_bf16(const uint16_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* The first rem (< 8) halves / bfloat16s, zero-filled: AVX2 has no 16-bit
 * masked load, and reading past the end could fault. */
static inline __m256 cv_avx2_load_f16_part(const uint16_t *p, size_t rem)
{
    uint16_t buf[8] = { 0 };
    memcpy(buf, p, rem * sizeof *p);
    return cv_avx2_load_f16(buf);
}

static inline __m256 cv_avx2_load_bf16_part(const uint16_t *p, size_t rem)
{
    uint16_t buf[8] = { 0 };
    memcpy(buf, p, rem * sizeof *p);
    return cv_avx2_load_bf16(buf);
}

/* q8_0 blocks are addressed as bytes (CV_Q8_0_BYTES apart): the kernels
 * take weights at any address, and a cv_block_q8_0 at an odd one would be
 * misaligned for its uint16_t member. */
#define CV_Q8_0_BYTES sizeof(cv_block_q8_0)

/* 8 weights W[row, c..c+8) of type t (f32/f16/bf16) widened to float; t is
 * a constant after inlining (shared by the GEMV and small-m GEMM kernels) */
static inline __m256 cv_avx2_load_w8(cv_type t, const void *row, size_t c)
{
    switch (t) {
    case CV_TYPE_F16:
        return cv_avx2_load_f16((const uint16_t *)row + c);
    case CV_TYPE_BF16:
        return cv_avx2_load_bf16((const uint16_t *)row + c);
    default:
        return _mm256_loadu_ps((const float *)row + c);
    }
}

/* the last rem (< 8) weights of a row, zero-filled */
static inline __m256 cv_avx2_load_w_part(cv_type t, const void *row, size_t c, size_t rem)
{
    switch (t) {
    case CV_TYPE_F16:
        return cv_avx2_load_f16_part((const uint16_t *)row + c, rem);
    case CV_TYPE_BF16:
        return cv_avx2_load_bf16_part((const uint16_t *)row + c, rem);
    default:
        return _mm256_maskload_ps((const float *)row + c, cv_avx2_tail_mask(rem));
    }
}

/* The scale d (an IEEE half) of the block at blk, broadcast to 8 floats. */
static inline __m256 cv_avx2_q8_scale(const unsigned char *blk)
{
    uint16_t h;
    memcpy(&h, blk + offsetof(cv_block_q8_0, d), sizeof h);
    /* convert one lane, then broadcast: measured 3 % faster in the q8_0
     * GEMV than broadcasting the half first (vpbroadcastw is 2 uops) */
    return _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* The quantized values of the block at blk. */
static inline const int8_t *cv_avx2_q8_qs(const unsigned char *blk)
{
    return (const int8_t *)(blk + offsetof(cv_block_q8_0, qs));
}

/* 8 int8 at p (unaligned) as floats (exact). */
static inline __m256 cv_avx2_load_i8(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)));
}

/* e^x, within 2 ulp of the true value (Cody-Waite range reduction to
 * |r| <= ln2/2, then Cephes' degree-7 polynomial), over the whole float
 * range: subnormal results are rounded once, below -104 the result is 0,
 * above ln(FLT_MAX) it is +inf; -inf gives 0 and NaN stays NaN. */
static inline __m256 cv_avx2_exp(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-104.0f);              /* e^lo rounds to 0 */
    const __m256 hi = _mm256_set1_ps(88.72283172607421875f); /* largest finite */
    __m256 over = _mm256_cmp_ps(x, hi, _CMP_GT_OQ);
    /* max/min return their second operand when one is NaN: keep x there */
    __m256 xc = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* r = x - n ln2 in two steps: 0.693359375 has few bits, so n * it is exact */
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    /* 1 + (r + r^2 p): adding 1 last keeps the low bits of r */
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    /* 2^n as 2^n1 * 2^n2, n1 = n >> 1: n in [-150, 128] does not fit one
     * exponent field, the halves do, and the last product rounds once */
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    return _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), over);
}

#endif
