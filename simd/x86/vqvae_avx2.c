/* vqvae_avx2.c — AVX2+FMA twins of the VQVAE decoder's kernels: swish. */
#include "x86.h"

#include "avx2_util.h"

/* x / (1 + e^-x): e^-x saturates to +inf (x < -88.7: result -0) or 0
 * (result x), never NaN for finite x. */
static inline __m256 swish8(__m256 x)
{
    const __m256 e = cv_avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

void cv_swish_f32_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, swish8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, swish8(_mm256_maskload_ps(x + i, m)));
    }
}
