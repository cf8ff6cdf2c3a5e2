/* vec.c — reference vector kernels: dot, sum, axpy, add, mul, scale.
 *
 * The executable specification for their SIMD twins (see src/kernels.h).
 * Reductions accumulate in one float, in natural order (i = 0 upward), so the
 * result is exactly what a reader of this file predicts; twins reassociate
 * and are held to the tolerance in tests/tolerances.h.  add, mul and scale
 * are one IEEE operation per element, so every correct twin is bit-exact. */
#include "ref.h"

float cv_dot_f32_ref(const float *a, const float *b, size_t n)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

float cv_sum_f32_ref(const float *x, size_t n)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

void cv_axpy_f32_ref(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

void cv_add_f32_ref(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void cv_mul_f32_ref(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

void cv_scale_f32_ref(float *y, const float *x, float s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = s * x[i];
}
