/* vec.c — reference vector kernels: dot, sum, axpy, add, mul, scale, and
 * the multi-head dot and axpy of attention (mhdot, mhaxpy).
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

/* Head h is exactly cv_dot_f32_ref(q + h*dh, k + h*dh, dh): the same
 * single float accumulator, d = 0 upward. */
void cv_mhdot_f32_ref(float *y, const float *q, const float *k, size_t heads, size_t dh)
{
    for (size_t h = 0; h < heads; h++) {
        float s = 0.0f;
        for (size_t d = 0; d < dh; d++)
            s += q[h * dh + d] * k[h * dh + d];
        y[h] = s;
    }
}

/* Head h is exactly cv_axpy_f32_ref(y + h*dh, a[h], x + h*dh, dh). */
void cv_mhaxpy_f32_ref(float *y, const float *a, const float *x, size_t heads, size_t dh)
{
    for (size_t h = 0; h < heads; h++)
        for (size_t d = 0; d < dh; d++)
            y[h * dh + d] += a[h] * x[h * dh + d];
}

/* mhdotk / mhaxpyk as their definition reads: one call of the given
 * mhdot / mhaxpy per key (heads in groups of 64 through a buffer: a head's
 * result does not depend on the other heads).  The reference's forms, and
 * those of any level whose twins have no multi-key form of their own. */
void cv_mhdotk_per_key(cv_mhdot_fn mhdot, float *y, size_t ldy, const float *q, const float *const *k,
                       size_t nk, size_t heads, size_t dh)
{
    float t[64];
    for (size_t j = 0; j < nk; j++)
        for (size_t h0 = 0; h0 < heads; h0 += 64) {
            const size_t nh = heads - h0 < 64 ? heads - h0 : 64;
            mhdot(t, q + h0 * dh, k[j] + h0 * dh, nh, dh);
            for (size_t h = 0; h < nh; h++)
                y[(h0 + h) * ldy + j] = t[h];
        }
}

void cv_mhaxpyk_per_key(cv_mhaxpy_fn mhaxpy, float *y, const float *a, size_t lda, const float *const *x,
                        size_t nk, size_t heads, size_t dh)
{
    float t[64];
    for (size_t j = 0; j < nk; j++)
        for (size_t h0 = 0; h0 < heads; h0 += 64) {
            const size_t nh = heads - h0 < 64 ? heads - h0 : 64;
            for (size_t h = 0; h < nh; h++)
                t[h] = a[(h0 + h) * lda + j];
            mhaxpy(y + h0 * dh, t, x[j] + h0 * dh, nh, dh);
        }
}

void cv_mhdotk_f32_ref(float *y, size_t ldy, const float *q, const float *const *k, size_t nk,
                       size_t heads, size_t dh)
{
    cv_mhdotk_per_key(cv_mhdot_f32_ref, y, ldy, q, k, nk, heads, dh);
}

void cv_mhaxpyk_f32_ref(float *y, const float *a, size_t lda, const float *const *x, size_t nk,
                        size_t heads, size_t dh)
{
    cv_mhaxpyk_per_key(cv_mhaxpy_f32_ref, y, a, lda, x, nk, heads, dh);
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
