/* vqvae.h — icetk's VQVAE image decoder: token grids -> RGB frames.
 *
 * The model is `HVQVAE.single_decode_code(codes, 1)` of icetk (golden/README
 * "VQVAE decoder"): codebook lookup E[id], then decs[1], a taming-style
 * Decoder (conv_in; mid ResnetBlock, AttnBlock, ResnetBlock; per level from
 * the deepest: num_res_blocks+1 ResnetBlocks, then nearest x2 + 3x3 conv
 * except at level 0; GroupNorm, swish, conv_out), then the per-channel
 * de-normalisation img = out * std + mean.  Every size comes from the GGUF
 * metadata written by cv_vqvae_convert (keys below): nothing assumes the
 * release's 20x20 grid, 20000 codes or widths.
 *
 * Activations are kept pixel-major (HWC): a 3x3 convolution is then one
 * GEMM over rows of 9 contiguous channel vectors (im2col), a 1x1 convolution
 * a plain GEMM.  Outputs and taps are converted to PyTorch's NCHW. */
#ifndef CV_VQVAE_H
#define CV_VQVAE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "cv_status.h"
#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CV_VQ_ARCH "cogvideo-vqvae" /* general.architecture */
#define CV_VQ_KEY_CHANNELS "cogvideo.vqvae.channels"           /* u32: ch (128) */
#define CV_VQ_KEY_MULT "cogvideo.vqvae.channel_mult"           /* u32 array: [1,1,2,4] */
#define CV_VQ_KEY_RES_BLOCKS "cogvideo.vqvae.num_res_blocks"   /* u32: 0 (one block per level) */
#define CV_VQ_KEY_Z "cogvideo.vqvae.z_channels"                /* u32: 256 */
#define CV_VQ_KEY_OUT "cogvideo.vqvae.out_channels"            /* u32: 3 */
#define CV_VQ_KEY_CODES "cogvideo.vqvae.codebook_size"         /* u32: 20000 */
#define CV_VQ_KEY_GRID_H "cogvideo.vqvae.grid_height"          /* u32: token rows per frame (20) */
#define CV_VQ_KEY_GRID_W "cogvideo.vqvae.grid_width"           /* u32: token columns (20) */
#define CV_VQ_KEY_GROUPS "cogvideo.vqvae.norm_groups"          /* u32: GroupNorm groups (32) */
#define CV_VQ_KEY_EPS "cogvideo.vqvae.norm_eps"                /* f32: GroupNorm eps (1e-6) */
#define CV_VQ_KEY_MEAN "cogvideo.vqvae.image_mean"             /* f32 array [out_channels] */
#define CV_VQ_KEY_STD "cogvideo.vqvae.image_std"               /* f32 array [out_channels] */
#define CV_VQ_KEY_PREFIX "cogvideo.vqvae.decoder"              /* string: "decs.1." */
#define CV_VQ_KEY_PIXEL "cogvideo.vqvae.pixel"                 /* string, optional: "normalize" | "clamp" */

#define CV_VQ_MAX_LEVELS 8
#define CV_VQ_MAX_OUT 4
#define CV_VQ_MAX_GROUPS 1024

typedef struct {
    int channels;               /* ch: width of level 0 */
    int n_levels;               /* len(channel_mult); output = grid * 2^(n_levels-1) */
    int mult[CV_VQ_MAX_LEVELS]; /* level L has ch * mult[L] channels */
    int num_res_blocks;         /* ResnetBlocks per level = num_res_blocks + 1 */
    int z_channels;             /* codebook vector length */
    int out_channels;           /* 3 (RGB) */
    int codebook_size;
    int grid_h, grid_w;         /* token grid of one frame */
    int groups;                 /* GroupNorm groups, 1..CV_VQ_MAX_GROUPS (every width a multiple of it) */
    float eps;
    float mean[CV_VQ_MAX_OUT], std[CV_VQ_MAX_OUT];
    /* How frames are shown: false = per-frame min-max, as the pipeline's
     * save_image(normalize=True) (the release, and files without the key);
     * true = clamp to [0, 1], for decoders trained to exact colours, whose
     * min-max stretch would shift them (cogvideo-tiny). */
    bool pixel_clamp;
} cv_vqvae_hparams;

/* icetk's release: ch 128, mult [1,1,2,4], 0 res blocks, z 256, 3 out,
 * 20000 codes, 20x20 grid, 32 groups, eps 1e-6, its mean and std. */
void cv_vqvae_hparams_default(cv_vqvae_hparams *hp);

/* Relations the decoder relies on (positive sizes, widths divisible by the
 * groups, bounded products); the message names `what` (a file or flag). */
cv_status cv_vqvae_hparams_check(const cv_vqvae_hparams *hp, const char *what, cv_error *err);

/* One decoder tensor the model needs: its name under the decoder prefix
 * (e.g. "mid.block_1.conv1.weight") and PyTorch shape. */
typedef struct {
    char name[64];
    int ndim;
    int64_t shape[4];
} cv_vqvae_tensor_spec;

/* The decoder's tensors for hp, in a fixed order; returns how many (at most
 * cap are written; call with cap 0 to count). */
size_t cv_vqvae_tensor_specs(const cv_vqvae_hparams *hp, cv_vqvae_tensor_spec *out, size_t cap);

/* Multiply-adds x 2 of every convolution and attention product of one frame. */
double cv_vqvae_flops_per_frame(const cv_vqvae_hparams *hp);

typedef struct cv_vqvae cv_vqvae;

/* Loads a GGUF written by cv_vqvae_convert (weights copied to f32). */
cv_status cv_vqvae_load(const char *path, cv_vqvae **out, cv_error *err);
/* Random weights of the given shape (benchmarks, tests); deterministic in seed. */
cv_status cv_vqvae_random(const cv_vqvae_hparams *hp, uint64_t seed, cv_vqvae **out, cv_error *err);
void cv_vqvae_free(cv_vqvae *m); /* NULL is fine */
const cv_vqvae_hparams *cv_vqvae_get_hparams(const cv_vqvae *m);
/* The 8-bit conversion its frames are shown with by default
 * (cogvideo.vqvae.pixel; normalize when the file has none). */
cv_pixel_mode cv_vqvae_pixel_mode(const cv_vqvae *m);
/* Output frame size in pixels: grid * 2^(n_levels-1). */
int cv_vqvae_out_h(const cv_vqvae *m);
int cv_vqvae_out_w(const cv_vqvae *m);

/* Called after each named stage of one frame with its activation, HWC
 * [h][w][c] (names as in golden/vqvae_full: "z", "conv_in", "mid_block_1",
 * "mid_attn_1", "mid_block_2", "up3_block0", "up3_upsample", ..., "dec_raw"). */
typedef void (*cv_vqvae_tap_fn)(void *ctx, const char *name, int frame, const float *hwc, int c, int h,
                                int w);

typedef struct {
    int nthreads;  /* <= 0: the OpenMP default */
    int reference; /* 1: the scalar reference kernels (direct convolution, single thread) */
    cv_vqvae_tap_fn tap; /* may be NULL */
    void *tap_ctx;
    /* Stop each frame after the stage of this name (a tap name) and leave
     * img and raw untouched: tests of slow builds check a prefix of the
     * network.  NULL: the whole decoder. */
    const char *stop_after;
} cv_vqvae_opts;

/* Decodes n frames: ids holds n * grid_h * grid_w token ids, row-major per
 * frame.  img (may be NULL) gets n x out_channels x H x W floats (NCHW),
 * the de-normalised image (icetk's decode output, unclamped); raw (may be
 * NULL) the decoder output before de-normalisation.  Ids outside
 * [0, codebook_size) are CV_ERR_ARG naming the frame and position.  The
 * result does not depend on the thread count. */
cv_status cv_vqvae_decode(const cv_vqvae *m, const int64_t *ids, size_t n, float *img, float *raw,
                          const cv_vqvae_opts *opts, cv_error *err);

/* ------------------------------------------------------------ converter */

typedef struct {
    int grid_h, grid_w;      /* token grid recorded as metadata (default 20x20) */
    const char *decoder;     /* decoder prefix, default "decs.1." (the 8x decoder) */
    int groups;              /* GroupNorm groups (icetk's Normalize: 32) */
    bool pixel_clamp;        /* recorded as cogvideo.vqvae.pixel (default false: normalize) */
} cv_vqvae_convert_opts;

void cv_vqvae_convert_opts_default(cv_vqvae_convert_opts *o);

/* icetk's ice_image.pt (a state dict, bare or under 'module') -> GGUF.  The
 * architecture is read off the decoder's tensor shapes and checked against
 * the full tensor list; the codebook (quantize.embed.weight) and every other
 * tensor (encoder, other decoders) are kept, except the training statistics
 * quantize.cluster_size and quantize.embed_avg.  dtypes are kept (f32, f16,
 * bf16).  On failure no output file is left. */
cv_status cv_vqvae_convert(const char *pt_path, const char *out_path, const cv_vqvae_convert_opts *o,
                           cv_error *err);

#ifdef __cplusplus
}
#endif
#endif
