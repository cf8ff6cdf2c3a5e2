/* activation_avx2.c — AVX2+FMA twins of GELU (tanh form) and softmax. */
#include "x86.h"

#include <math.h>

#include "avx2_util.h"

/* 0.5 x (1 + tanh(u)) == x / (1 + e^(-2u)): the same function, but the
 * second form has no cancellation in 1 + tanh(u) when x is very negative,
 * and e^(-2u) saturating (to 0 or +inf) gives exactly x or -0, never NaN. */
static inline __m256 gelu8(__m256 x)
{
    const __m256 c = _mm256_set1_ps(-2.0f * 0.7978845608028654f);
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x2, _mm256_set1_ps(1.0f));
    __m256 m2u = _mm256_mul_ps(_mm256_mul_ps(c, x), inner); /* -2u */
    __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), cv_avx2_exp(m2u));
    return _mm256_div_ps(x, den);
}

void cv_gelu_f32_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, gelu8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, gelu8(_mm256_maskload_ps(x + i, m)));
    }
}

static float max_f32(const float *x, size_t n)
{
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i + 8 <= n; i += 8)
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    float m = cv_avx2_hmax(_mm256_max_ps(m0, m1));
    for (; i < n; i++) /* a masked load would bring in zeros, which could win */
        m = x[i] > m ? x[i] : m;
    return m;
}

/* x[i] = e^(x[i] - max) in place; returns their sum. */
static float exp_shift_sum(float *x, size_t n, float max)
{
    __m256 vmax = _mm256_set1_ps(max);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 e0 = cv_avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        __m256 e1 = cv_avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vmax));
        _mm256_storeu_ps(x + i, e0);
        _mm256_storeu_ps(x + i + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 e0 = cv_avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e0);
        s0 = _mm256_add_ps(s0, e0);
    }
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        /* masked-off lanes must add 0, not e^(0 - max) */
        __m256 e1 = _mm256_and_ps(_mm256_castsi256_ps(m),
                                  cv_avx2_exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vmax)));
        _mm256_maskstore_ps(x + i, m, e1);
        s1 = _mm256_add_ps(s1, e1);
    }
    return cv_avx2_hsum(_mm256_add_ps(s0, s1));
}

void cv_softmax_f32_avx2(float *x, size_t n)
{
    if (n == 0)
        return;
    float sum = exp_shift_sum(x, n, max_f32(x, n));
    __m256 vs = _mm256_set1_ps(sum);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; i++)
        x[i] /= sum;
}
