/* image.h — what users look at: 8-bit frames, PNG, animated GIF, contact
 * sheets.
 *
 * The 8-bit conversion is the pipeline's torchvision
 * save_image(img, normalize=True) (golden/README "VQVAE decoder"): per image,
 * lo/hi = min/max over all pixels and channels, x = (clamp(x, lo, hi) - lo)
 * / max(hi - lo, 1e-5), then uint8(trunc(clamp(x * 255 + 0.5, 0, 255))),
 * each step in float32 as torch does it.  CV_PIXEL_CLAMP replaces the
 * min-max stretch by clamp(x, 0, 1) (the image as the decoder meant it).
 *
 * PNG goes through libpng, GIF through giflib (when configure found them;
 * otherwise these return CV_ERR_UNSUPPORTED naming the missing library).
 * Every file is written through cv_outfile: a failure leaves nothing. */
#ifndef CV_IMAGE_H
#define CV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CV_PIXEL_NORMALIZE = 0, CV_PIXEL_CLAMP = 1 } cv_pixel_mode;

/* chw: c x h x w floats (c = 3: RGB; c = 1: grey, replicated) -> rgb:
 * h x w x 3 bytes. */
void cv_image_to_u8(const float *chw, int c, int h, int w, cv_pixel_mode mode, uint8_t *rgb);

/* Nearest-neighbour resize of an h x w RGB image to oh x ow (F.interpolate
 * mode "nearest": source index floor(i * in / out)). */
void cv_image_resize_nearest(const uint8_t *src, int h, int w, uint8_t *dst, int oh, int ow);

/* An RGB PNG (8 bits per channel) of w x h pixels. */
cv_status cv_png_write(const char *path, const uint8_t *rgb, int w, int h, cv_error *err);

/* Reads an 8-bit RGB PNG (tests); *rgb is malloc'ed. */
cv_status cv_png_read(const char *path, uint8_t **rgb, int *w, int *h, cv_error *err);

/* n RGB float frames (NCHW, 3 x h x w each) -> n 8-bit frames of oh x ow
 * x 3 (cv_image_to_u8 per frame, then cv_image_resize_nearest), malloc'ed;
 * NULL when out of memory. */
uint8_t *cv_image_frames_to_u8(const float *img, size_t n, int h, int w, int oh, int ow, cv_pixel_mode mode);

/* n frames side by side in rows of `cols` (0: ceil(sqrt(n))), separated and
 * framed by a 2-pixel black border (torchvision make_grid's padding); *out
 * is malloc'ed, *ow x *oh pixels. */
cv_status cv_contact_sheet(const uint8_t *frames, int n, int w, int h, int cols, uint8_t **out, int *ow, int *oh,
                           cv_error *err);

typedef struct {
    float fps;  /* frames per second: delay = round(100 / fps) centiseconds, at least 1 */
    int dither; /* Floyd-Steinberg error diffusion against the palette */
} cv_gif_opts;

/* The GIF frame delay in centiseconds for a frame rate. */
int cv_gif_delay_cs(float fps);

/* An animated GIF89a: n frames of w x h RGB (contiguous), one global
 * palette of at most 256 colours for the whole clip (median cut over the
 * colours of every frame), a graphics control block with the delay before
 * each frame, and the NETSCAPE2.0 extension with loop count 0 (forever). */
cv_status cv_gif_write(const char *path, const uint8_t *frames, int n, int w, int h, const cv_gif_opts *o,
                       cv_error *err);

/* The global palette of frames (median cut on a 15-bit colour histogram):
 * *ncolors (1..256) RGB triples into pal. */
void cv_palette_median_cut(const uint8_t *rgb, size_t pixels, uint8_t pal[256 * 3], int *ncolors);

#ifdef __cplusplus
}
#endif
#endif
