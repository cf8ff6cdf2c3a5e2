/* convert_avx2.c — f16 -> f32 (F16C) and bf16 -> f32 (AVX2 shift) rows.
 * Both are exact, bit for bit equal to cv_f16_to_f32 / cv_bf16_to_f32 for
 * every input but signalling f16 NaNs, which F16C quiets (sets bit 22); the
 * reference keeps them signalling.  Either is a NaN with the same sign and
 * payload, which is all the tests ask of NaNs. */
#include "x86.h"

#include "avx2_util.h"

void cv_f16_to_f32_avx2(float *y, const uint16_t *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = cv_avx2_load_f16(x + i), b = cv_avx2_load_f16(x + i + 8);
        _mm256_storeu_ps(y + i, a);
        _mm256_storeu_ps(y + i + 8, b);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, cv_avx2_load_f16(x + i));
    if (i < n)
        _mm256_maskstore_ps(y + i, cv_avx2_tail_mask(n - i), cv_avx2_load_f16_part(x + i, n - i));
}

void cv_bf16_to_f32_avx2(float *y, const uint16_t *x, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = cv_avx2_load_bf16(x + i), b = cv_avx2_load_bf16(x + i + 8);
        _mm256_storeu_ps(y + i, a);
        _mm256_storeu_ps(y + i + 8, b);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, cv_avx2_load_bf16(x + i));
    if (i < n)
        _mm256_maskstore_ps(y + i, cv_avx2_tail_mask(n - i), cv_avx2_load_bf16_part(x + i, n - i));
}
