/* convert.c — reference f16 -> f32 and bf16 -> f32 row conversions.
 *
 * Both are exact (every f16 and bf16 value is a float), so twins must match
 * bit for bit; the only freedom is a NaN's payload (see tests/tolerances.h). */
#include "ref.h"

void cv_f16_to_f32_ref(float *y, const uint16_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = cv_f16_to_f32(x[i]);
}

void cv_bf16_to_f32_ref(float *y, const uint16_t *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = cv_bf16_to_f32(x[i]);
}
