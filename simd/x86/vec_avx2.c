/* vec_avx2.c — AVX2+FMA twins of the vector kernels (dot, sum, axpy, add,
 * mul, scale).
 *
 * Reductions (dot, sum) keep four vector accumulators, to cover the FMA/add
 * latency, and reduce them in one fixed order.  add, mul and scale do one
 * IEEE operation per element, so they are bit-identical to the reference;
 * axpy uses one FMA per element (one rounding instead of the reference's
 * two).  Tails go through masked loads, which never touch memory past n. */
#include "x86.h"

#include "avx2_util.h"

float cv_dot_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return cv_avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

float cv_sum_f32_avx2(const float *x, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + i + 24));
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    if (i < n)
        s1 = _mm256_add_ps(s1, _mm256_maskload_ps(x + i, cv_avx2_tail_mask(n - i)));
    return cv_avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

void cv_axpy_f32_avx2(float *y, float a, const float *x, size_t n)
{
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
        __m256 y1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8));
        _mm256_storeu_ps(y + i, y0);
        _mm256_storeu_ps(y + i + 8, y1);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        __m256 r = _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
        _mm256_maskstore_ps(y + i, m, r);
    }
}

/* One elementwise pass; op is a compile-time constant after inlining, so
 * each caller gets its own straight loop. */
enum { OP_ADD, OP_MUL };

static inline __m256 binop(int op, __m256 a, __m256 b)
{
    return op == OP_ADD ? _mm256_add_ps(a, b) : _mm256_mul_ps(a, b);
}

static inline void binary(int op, float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 r0 = binop(op, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 r1 = binop(op, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        _mm256_storeu_ps(y + i, r0);
        _mm256_storeu_ps(y + i + 8, r1);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, binop(op, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, binop(op, _mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
}

void cv_add_f32_avx2(float *y, const float *a, const float *b, size_t n)
{
    binary(OP_ADD, y, a, b, n);
}

void cv_mul_f32_avx2(float *y, const float *a, const float *b, size_t n)
{
    binary(OP_MUL, y, a, b, n);
}

void cv_scale_f32_avx2(float *y, const float *x, float s, size_t n)
{
    __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 r0 = _mm256_mul_ps(vs, _mm256_loadu_ps(x + i));
        __m256 r1 = _mm256_mul_ps(vs, _mm256_loadu_ps(x + i + 8));
        _mm256_storeu_ps(y + i, r0);
        _mm256_storeu_ps(y + i + 8, r1);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(vs, _mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(vs, _mm256_maskload_ps(x + i, m)));
    }
}
