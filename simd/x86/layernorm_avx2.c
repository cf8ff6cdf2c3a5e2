/* layernorm_avx2.c — AVX2+FMA twin of LayerNorm over one row.
 *
 * Same algorithm as the reference (corrected two-pass: mean, then the sums
 * of d = x - mean and of d^2, then correct both), with the sums spread over
 * 16 float lanes; that only makes them more accurate than the reference's
 * single accumulator. */
#include "x86.h"

#include <math.h>

#include "avx2_util.h"

static float sum_row(const float *x, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    if (i < n)
        s1 = _mm256_add_ps(s1, _mm256_maskload_ps(x + i, cv_avx2_tail_mask(n - i)));
    return cv_avx2_hsum(_mm256_add_ps(s0, s1));
}

/* *dsum = sum (x - mean), *d2sum = sum (x - mean)^2 */
static void dev_sums(const float *x, size_t n, float mean, float *dsum, float *d2sum)
{
    __m256 vm = _mm256_set1_ps(mean);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vm);
        s0 = _mm256_add_ps(s0, d0);
        s1 = _mm256_add_ps(s1, d1);
        q0 = _mm256_fmadd_ps(d0, d0, q0);
        q1 = _mm256_fmadd_ps(d1, d1, q1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        s0 = _mm256_add_ps(s0, d0);
        q0 = _mm256_fmadd_ps(d0, d0, q0);
    }
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        /* masked-off lanes would hold 0 - mean: zero them */
        __m256 d1 = _mm256_and_ps(_mm256_castsi256_ps(m), _mm256_sub_ps(_mm256_maskload_ps(x + i, m), vm));
        s1 = _mm256_add_ps(s1, d1);
        q1 = _mm256_fmadd_ps(d1, d1, q1);
    }
    *dsum = cv_avx2_hsum(_mm256_add_ps(s0, s1));
    *d2sum = cv_avx2_hsum(_mm256_add_ps(q0, q1));
}

/* y = (x - mean) * rstd * g + b for 8 lanes; g, b NULL mean 1, 0 */
static inline __m256 norm8(__m256 x, __m256 vm, __m256 vr, const float *g, const float *b,
                           size_t i, __m256i m, int tail)
{
    __m256 t = _mm256_mul_ps(_mm256_sub_ps(x, vm), vr);
    if (g)
        t = _mm256_mul_ps(t, tail ? _mm256_maskload_ps(g + i, m) : _mm256_loadu_ps(g + i));
    if (b)
        t = _mm256_add_ps(t, tail ? _mm256_maskload_ps(b + i, m) : _mm256_loadu_ps(b + i));
    return t;
}

void cv_layernorm_f32_avx2(float *y, const float *x, const float *gamma, const float *beta,
                           size_t n, float eps)
{
    if (n == 0)
        return;
    const float nf = (float)n;
    float mean = sum_row(x, n) / nf;
    float dsum, d2sum;
    dev_sums(x, n, mean, &dsum, &d2sum);
    float var = (d2sum - dsum * dsum / nf) / nf;
    if (var < 0.0f)
        var = 0.0f;
    mean += dsum / nf;

    __m256 vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(1.0f / sqrtf(var + eps));
    __m256i none = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, norm8(_mm256_loadu_ps(x + i), vm, vr, gamma, beta, i, none, 0));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, norm8(_mm256_maskload_ps(x + i, m), vm, vr, gamma, beta, i, m, 1));
    }
}
