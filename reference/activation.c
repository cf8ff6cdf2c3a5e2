/* activation.c — reference GELU (tanh form) and softmax. */
#include "ref.h"

#include <math.h>

/* GELU as PyTorch's approximate='tanh' and the CogVideo/SAT code define it:
 *   0.5 x (1 + tanh(u)),  u = sqrt(2/pi) x (1 + 0.044715 x^2),
 * evaluated as the identical x / (1 + exp(-2u)) (since 1 + tanh(u) =
 * 2 / (1 + exp(-2u))).  Written literally, 1 + tanh(u) cancels for x below
 * about -4 and the result loses every digit (gelu(-5) = -2.5e-7 would come
 * out as 0); this form keeps a few ulp of relative accuracy everywhere, and
 * exp(-2u) saturating to 0 or +inf gives exactly x or -0 for large |x|. */
void cv_gelu_f32_ref(float *y, const float *x, size_t n)
{
    const float sqrt_2_over_pi = 0.7978845608028654f;
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        const float u = sqrt_2_over_pi * v * (1.0f + 0.044715f * v * v);
        y[i] = v / (1.0f + expf(-2.0f * u));
    }
}

/* softmax in place: exp(x - max) / sum exp(x - max).  Subtracting the max
 * keeps every exp in (0, 1], so large logits cannot overflow.  A row of only
 * -inf (nothing to attend to) gives NaN, as in PyTorch. */
void cv_softmax_f32_ref(float *x, size_t n)
{
    if (n == 0)
        return;
    float max = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= sum;
}
