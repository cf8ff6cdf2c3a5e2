/* layernorm.c — reference LayerNorm over one row. */
#include "ref.h"

#include <math.h>

/* y = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance (divide
 * by n, as torch.nn.LayerNorm does).
 *
 * Mean and variance use the corrected two-pass algorithm (Chan, Golub and
 * LeVeque 1983): the second pass sums the deviations d = x - mean as well as
 * d^2, then corrects both.  Hidden states can sit far from zero (a channel
 * with mean 100 and std 1): there the one-pass E[x^2] - E[x]^2 in float loses
 * every digit, and even the plain two-pass result is off by the rounding
 * error of the float mean (~1e-4 for n = 4096), which shifts every output;
 * the correction removes most of that.  All sums are float, natural order. */
void cv_layernorm_f32_ref(float *y, const float *x, const float *gamma, const float *beta,
                          size_t n, float eps)
{
    if (n == 0)
        return;
    const float nf = (float)n;
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    float mean = sum / nf;

    float dsum = 0.0f, d2sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const float d = x[i] - mean;
        dsum += d;
        d2sum += d * d;
    }
    /* sum (x - mean')^2 with mean' = mean + dsum/n is d2sum - dsum^2/n */
    float var = (d2sum - dsum * dsum / nf) / nf;
    if (var < 0.0f) /* rounding, when all x are (nearly) equal */
        var = 0.0f;
    mean += dsum / nf;

    const float rstd = 1.0f / sqrtf(var + eps);
    for (size_t i = 0; i < n; i++) {
        const float g = gamma ? gamma[i] : 1.0f;
        const float b = beta ? beta[i] : 0.0f;
        y[i] = (x[i] - mean) * rstd * g + b;
    }
}
