/* vqvae_ref.h — the VQVAE decoder's reference operators: readable scalar
 * loops, the specification the optimized path of src/vqvae.c is tested
 * against.  Activations are pixel-major (HWC); convolution weights are
 * [cout][k][k][cin] (PyTorch's [cout][cin][k][k] with the input channel
 * moved innermost by the loader). */
#ifndef CV_REFERENCE_VQVAE_REF_H
#define CV_REFERENCE_VQVAE_REF_H

#include <stddef.h>

#include "kernels.h"

/* y[i] = x[i] * sigmoid(x[i]) = x[i] / (1 + expf(-x[i])) (the swish kernel slot) */
decl_unary_fn(cv_swish_f32_ref);

/* y[oy][ox][o] = bias[o] + sum_{ky,kx,i} w[o][ky][kx][i] * in(oy+ky-p, ox+kx-p, i), p = k/2,
 * zero padding, where in(y, x, i) = x[y/up][x/up][i]: the input is
 * [h/up][w/up][cin] upsampled by nearest-neighbour repetition (up = 1 or 2,
 * torch's F.interpolate(scale_factor=2.0, mode="nearest") then Conv2d). */
void cv_conv2d_ref(float *y, const float *x, int h, int w, int cin, int up, const float *wt,
                   const float *bias, int cout, int k);

/* torch.nn.GroupNorm(groups, c, eps, affine) over one image of `pixels`
 * pixels: statistics per group of c/groups channels over all pixels (biased
 * variance, in double), then y = (x - mean) / sqrt(var + eps) * g + b;
 * with swish, y = y * sigmoid(y) (icetk's nonlinearity).  y may equal x. */
void cv_groupnorm_ref(float *y, const float *x, size_t pixels, int c, int groups, const float *g,
                      const float *b, float eps, int swish);

/* icetk's AttnBlock core on [p][c] rows: o_i = sum_j softmax_j(q_i . k_j / sqrt(c)) v_j. */
void cv_spatial_attn_ref(float *o, const float *q, const float *k, const float *v, size_t p, int c);

#endif
