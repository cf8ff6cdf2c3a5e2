/* vqvae.c — reference operators of the VQVAE decoder (see vqvae_ref.h). */
#include "vqvae_ref.h"

#include <math.h>
#include <stdlib.h>

void cv_swish_f32_ref(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] / (1.0f + expf(-x[i])); /* -> x for large x, -0 for very negative x */
}

void cv_conv2d_ref(float *y, const float *x, int h, int w, int cin, int up, const float *wt,
                   const float *bias, int cout, int k)
{
    const int pad = k / 2, ws = w / up;
    for (int oy = 0; oy < h; oy++)
        for (int ox = 0; ox < w; ox++)
            for (int o = 0; o < cout; o++) {
                float acc = bias[o];
                for (int ky = 0; ky < k; ky++) {
                    const int sy = oy + ky - pad;
                    if (sy < 0 || sy >= h)
                        continue; /* zero padding */
                    for (int kx = 0; kx < k; kx++) {
                        const int sx = ox + kx - pad;
                        if (sx < 0 || sx >= w)
                            continue;
                        const float *in = x + ((size_t)(sy / up) * ws + (size_t)(sx / up)) * cin;
                        const float *wk = wt + (((size_t)o * k + ky) * k + kx) * cin;
                        for (int i = 0; i < cin; i++)
                            acc += wk[i] * in[i];
                    }
                }
                y[((size_t)oy * w + ox) * cout + o] = acc;
            }
}

void cv_groupnorm_ref(float *y, const float *x, size_t pixels, int c, int groups, const float *g,
                      const float *b, float eps, int swish)
{
    const int cg = c / groups;
    const double cnt = (double)pixels * cg;
    for (int gi = 0; gi < groups; gi++) {
        double sum = 0.0, sq = 0.0;
        for (size_t p = 0; p < pixels; p++)
            for (int j = 0; j < cg; j++)
                sum += x[p * c + gi * cg + j];
        const double mean = sum / cnt;
        for (size_t p = 0; p < pixels; p++)
            for (int j = 0; j < cg; j++) {
                const double d = x[p * c + gi * cg + j] - mean;
                sq += d * d;
            }
        const float inv = (float)(1.0 / sqrt(sq / cnt + eps)), m = (float)mean;
        for (size_t p = 0; p < pixels; p++)
            for (int j = 0; j < cg; j++) {
                const int ch = gi * cg + j;
                float v = (x[p * c + ch] - m) * inv * g[ch] + b[ch];
                if (swish)
                    v = v / (1.0f + expf(-v));
                y[p * c + ch] = v;
            }
    }
}

void cv_spatial_attn_ref(float *o, const float *q, const float *k, const float *v, size_t p, int c)
{
    float *s = malloc(p * sizeof *s);
    if (!s) { /* the reference keeps no error path: poison the output */
        for (size_t i = 0; i < p * (size_t)c; i++)
            o[i] = NAN;
        return;
    }
    const float scale = 1.0f / sqrtf((float)c); /* int(c) ** (-0.5) */
    for (size_t i = 0; i < p; i++) {
        float mx = -INFINITY, sum = 0.0f;
        for (size_t j = 0; j < p; j++) {
            float d = 0.0f;
            for (int ch = 0; ch < c; ch++)
                d += q[i * c + ch] * k[j * c + ch];
            s[j] = d * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        for (size_t j = 0; j < p; j++)
            sum += s[j] = expf(s[j] - mx);
        for (int ch = 0; ch < c; ch++)
            o[i * c + ch] = 0.0f;
        for (size_t j = 0; j < p; j++) {
            const float wgt = s[j] / sum;
            for (int ch = 0; ch < c; ch++)
                o[i * c + ch] += wgt * v[j * c + ch];
        }
    }
    free(s);
}
