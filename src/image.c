/* image.c — 8-bit conversion, PNG (libpng), GIF (giflib), contact sheets. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"

#ifdef HAVE_LIBPNG
#include <png.h>
#endif
#ifdef HAVE_GIFLIB
#include <gif_lib.h>
#endif

/* ------------------------------------------------------------ 8 bit */

void cv_image_to_u8(const float *chw, int c, int h, int w, cv_pixel_mode mode, uint8_t *rgb)
{
    const size_t p = (size_t)h * w, n = p * (size_t)c;
    float lo = 0.0f, hi = 1.0f;
    if (mode == CV_PIXEL_NORMALIZE && n > 0) { /* make_grid(normalize=True): min/max of the whole image */
        lo = hi = chw[0];
        for (size_t i = 1; i < n; i++) {
            lo = chw[i] < lo ? chw[i] : lo;
            hi = chw[i] > hi ? chw[i] : hi;
        }
    }
    float range = hi - lo;
    range = range > 1e-5f ? range : 1e-5f; /* max(high - low, 1e-5) */
    for (size_t q = 0; q < p; q++)
        for (int k = 0; k < 3; k++) {
            float x = chw[(size_t)(c == 1 ? 0 : k) * p + q];
            x = x < lo ? lo : x > hi ? hi : x; /* clamp_(min=low, max=high) */
            if (mode == CV_PIXEL_NORMALIZE) {
                x = x - lo; /* sub_(low).div_(...): separate float32 steps, no fused multiply-add */
                x = x / range;
            }
            float y = x * 255.0f; /* mul(255).add_(0.5).clamp_(0, 255), then to(uint8) truncates */
            y = y + 0.5f;
            y = y < 0.0f ? 0.0f : y > 255.0f ? 255.0f : y;
            rgb[q * 3 + (size_t)k] = (uint8_t)y;
        }
}

void cv_image_resize_nearest(const uint8_t *src, int h, int w, uint8_t *dst, int oh, int ow)
{
    for (int y = 0; y < oh; y++) {
        const int sy = (int)((int64_t)y * h / oh);
        for (int x = 0; x < ow; x++) {
            const int sx = (int)((int64_t)x * w / ow);
            memcpy(dst + ((size_t)y * ow + x) * 3, src + ((size_t)sy * w + sx) * 3, 3);
        }
    }
}

uint8_t *cv_image_frames_to_u8(const float *img, size_t n, int h, int w, int oh, int ow, cv_pixel_mode mode)
{
    uint8_t *one = malloc((size_t)h * w * 3), *all = malloc(n * (size_t)oh * ow * 3);
    if (!one || !all) {
        free(one), free(all);
        return NULL;
    }
    for (size_t f = 0; f < n; f++) {
        /* save_image's min-max is per frame; nearest upscaling does not change min and max, so
         * converting first and upscaling the bytes is the pipeline's interpolate-then-save */
        cv_image_to_u8(img + f * 3 * (size_t)h * w, 3, h, w, mode, one);
        cv_image_resize_nearest(one, h, w, all + f * (size_t)oh * ow * 3, oh, ow);
    }
    free(one);
    return all;
}

cv_status cv_contact_sheet(const uint8_t *frames, int n, int w, int h, int cols, uint8_t **out, int *ow, int *oh,
                           cv_error *err)
{
    enum { PAD = 2 };
    *out = NULL;
    if (n < 1 || w < 1 || h < 1)
        return cv_error_set(err, CV_ERR_ARG, "contact sheet of %d frames of %dx%d (expected at least one frame)", n, w, h);
    if (cols <= 0)
        for (cols = 1; cols * cols < n; cols++) {
        }
    cols = cols > n ? n : cols;
    const int rows = (n + cols - 1) / cols;
    const int64_t sw = (int64_t)cols * (w + PAD) + PAD, sh = (int64_t)rows * (h + PAD) + PAD;
    if (sw > 65535 || sh > 65535)
        return cv_error_set(err, CV_ERR_ARG, "contact sheet of %lldx%lld pixels (expected at most 65535 per side)",
                            (long long)sw, (long long)sh);
    uint8_t *s = calloc((size_t)sw * (size_t)sh, 3); /* black borders */
    if (!s)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (contact sheet)");
    for (int f = 0; f < n; f++) {
        const int64_t x0 = (f % cols) * (int64_t)(w + PAD) + PAD, y0 = (f / cols) * (int64_t)(h + PAD) + PAD;
        for (int y = 0; y < h; y++)
            memcpy(s + ((size_t)(y0 + y) * (size_t)sw + (size_t)x0) * 3, frames + ((size_t)f * h + y) * (size_t)w * 3,
                   (size_t)w * 3);
    }
    *out = s, *ow = (int)sw, *oh = (int)sh;
    return CV_OK;
}

/* ------------------------------------------------------------ PNG */

#ifdef HAVE_LIBPNG
static void png_err(png_structp png, png_const_charp msg)
{
    cv_error *err = png_get_error_ptr(png);
    cv_error_set(err, CV_ERR_IO, "%s", msg); /* the caller prefixes the file name */
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* library code never prints */
}

/* The libpng part, apart so that nothing the setjmp can skip lives in it. */
static int png_encode(FILE *fp, const uint8_t *rgb, int w, int h, cv_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        cv_error_set(err, CV_ERR_NOMEM, "out of memory (libpng)");
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, rgb + (size_t)y * (size_t)w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}
#endif

cv_status cv_png_write(const char *path, const uint8_t *rgb, int w, int h, cv_error *err)
{
#ifdef HAVE_LIBPNG
    if (w < 1 || h < 1)
        return cv_error_set(err, CV_ERR_ARG, "%s: image of %dx%d pixels (expected at least 1x1)", path, w, h);
    cv_outfile of;
    cv_status s = cv_outfile_open(&of, path, err);
    if (s)
        return s;
    cv_error e2;
    if (png_encode(of.fp, rgb, w, h, &e2)) {
        cv_outfile_abort(&of);
        return cv_error_set(err, CV_ERR_IO, "%s: %s", path, e2.msg);
    }
    return cv_outfile_commit(&of, err);
#else
    (void)rgb, (void)w, (void)h;
    return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: this build has no PNG output (libpng was not found at configure time)",
                        path);
#endif
}

#ifdef HAVE_LIBPNG
static int png_decode(FILE *fp, uint8_t **rgb, int *w, int *h, cv_error *err)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, err, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile buf = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        cv_error_set(err, CV_ERR_NOMEM, "out of memory (libpng)");
        return 1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buf);
        return 1;
    }
    png_init_io(png, fp);
    png_read_info(png, info);
    const png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    if (png_get_bit_depth(png, info) != 8 || png_get_color_type(png, info) != PNG_COLOR_TYPE_RGB || pw > 65535 ||
        ph > 65535)
        png_error(png, "not an 8-bit RGB image of at most 65535x65535 pixels");
    buf = malloc((size_t)pw * ph * 3);
    if (!buf)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < ph; y++)
        png_read_row(png, buf + (size_t)y * pw * 3, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    *rgb = buf, *w = (int)pw, *h = (int)ph;
    return 0;
}
#endif

cv_status cv_png_read(const char *path, uint8_t **rgb, int *w, int *h, cv_error *err)
{
    *rgb = NULL;
#ifdef HAVE_LIBPNG
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cv_error_set(err, CV_ERR_IO, "%s: cannot open", path);
    cv_error e2;
    const int bad = png_decode(fp, rgb, w, h, &e2);
    fclose(fp);
    return bad ? cv_error_set(err, CV_ERR_FORMAT, "%s: %s", path, e2.msg) : CV_OK;
#else
    (void)w, (void)h;
    return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: this build has no PNG support (libpng was not found at configure time)",
                        path);
#endif
}

/* ------------------------------------------------------------ palette */

enum { BINS = 1 << 15 };

static int bin_of(int r, int g, int b)
{
    return (r >> 3) << 10 | (g >> 3) << 5 | (b >> 3);
}

typedef struct {
    uint64_t count, sum[3];
    uint8_t c[3]; /* the 5-bit components */
    uint16_t key; /* sort key: the component on the split axis, then the bin (a total order) */
} cbin;

static int by_key(const void *a, const void *b)
{
    const cbin *x = a, *y = b;
    return (int)x->key - (int)y->key;
}

/* Longest axis of the box and its extent (5-bit units). */
static int box_axis(const cbin *e, size_t n, int *extent)
{
    int lo[3] = {31, 31, 31}, hi[3] = {0, 0, 0}, best = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            lo[k] = e[i].c[k] < lo[k] ? e[i].c[k] : lo[k];
            hi[k] = e[i].c[k] > hi[k] ? e[i].c[k] : hi[k];
        }
    for (int k = 1; k < 3; k++)
        if (hi[k] - lo[k] > hi[best] - lo[best])
            best = k;
    *extent = hi[best] - lo[best];
    return best;
}

typedef struct {
    size_t lo, n;
    uint64_t count;
} box_t;

void cv_palette_median_cut(const uint8_t *rgb, size_t pixels, uint8_t pal[256 * 3], int *ncolors)
{
    cbin *h = calloc(BINS, sizeof *h);
    if (!h) { /* no memory for the histogram: a grey ramp still shows the clip */
        for (int i = 0; i < 256; i++)
            pal[3 * i] = pal[3 * i + 1] = pal[3 * i + 2] = (uint8_t)i;
        *ncolors = 256;
        return;
    }
    for (size_t i = 0; i < pixels; i++) {
        const uint8_t *p = rgb + 3 * i;
        cbin *b = &h[bin_of(p[0], p[1], p[2])];
        b->count++;
        for (int k = 0; k < 3; k++)
            b->sum[k] += p[k];
    }
    size_t n = 0; /* the occupied bins, packed to the front */
    for (int i = 0; i < BINS; i++)
        if (h[i].count) {
            h[n] = h[i];
            h[n].c[0] = (uint8_t)(i >> 10), h[n].c[1] = (uint8_t)(i >> 5 & 31), h[n].c[2] = (uint8_t)(i & 31);
            n++;
        }
    box_t box[256] = {{0, n, (uint64_t)pixels}};
    int nb = n ? 1 : 0;
    while (nb < 256) { /* split the box with the most pixels times extent at its median pixel */
        int pick = -1, ext, axis = 0;
        double best = 0.0;
        for (int i = 0; i < nb; i++) {
            if (box[i].n < 2)
                continue;
            box_axis(h + box[i].lo, box[i].n, &ext);
            if ((double)box[i].count * ext > best)
                best = (double)box[i].count * ext, pick = i;
        }
        if (pick < 0)
            break;
        box_t *b = &box[pick];
        axis = box_axis(h + b->lo, b->n, &ext);
        for (size_t i = b->lo; i < b->lo + b->n; i++)
            h[i].key = (uint16_t)(h[i].c[axis] << 10 | h[i].c[(axis + 1) % 3] << 5 | h[i].c[(axis + 2) % 3]);
        qsort(h + b->lo, b->n, sizeof *h, by_key);
        uint64_t acc = 0;
        size_t cut = 0;
        while (cut < b->n - 1 && (acc += h[b->lo + cut].count) * 2 < b->count)
            cut++;
        cut = cut + 1 < b->n ? cut + 1 : b->n - 1; /* both halves non-empty */
        box[nb] = (box_t){b->lo + cut, b->n - cut, 0};
        b->n = cut, b->count = 0;
        for (size_t i = 0; i < b->n; i++)
            b->count += h[b->lo + i].count;
        box[nb].count = 0;
        for (size_t i = 0; i < box[nb].n; i++)
            box[nb].count += h[box[nb].lo + i].count;
        nb++;
    }
    for (int i = 0; i < nb; i++) { /* each colour: the mean of its pixels */
        uint64_t s[3] = {0, 0, 0}, c = 0;
        for (size_t j = box[i].lo; j < box[i].lo + box[i].n; j++) {
            c += h[j].count;
            for (int k = 0; k < 3; k++)
                s[k] += h[j].sum[k];
        }
        for (int k = 0; k < 3; k++)
            pal[3 * i + k] = (uint8_t)((s[k] + c / 2) / (c ? c : 1));
    }
    if (nb == 0) {
        pal[0] = pal[1] = pal[2] = 0;
        nb = 1;
    }
    *ncolors = nb;
    free(h);
}

#ifdef HAVE_GIFLIB /* used only by the GIF writer */
/* Nearest palette entry (squared RGB distance) of every 15-bit bin's centre. */
static void nearest_table(const uint8_t *pal, int nc, uint8_t *map)
{
    for (int i = 0; i < BINS; i++) {
        const int r = (i >> 10) << 3 | 4, g = (i >> 5 & 31) << 3 | 4, b = (i & 31) << 3 | 4;
        int best = 0, bd = 1 << 30;
        for (int j = 0; j < nc; j++) {
            const int dr = r - pal[3 * j], dg = g - pal[3 * j + 1], db = b - pal[3 * j + 2];
            const int d = dr * dr + dg * dg + db * db;
            if (d < bd)
                bd = d, best = j;
        }
        map[i] = (uint8_t)best;
    }
}

static int clamp255(float v)
{
    return v < 0.0f ? 0 : v > 255.0f ? 255 : (int)(v + 0.5f);
}

/* One frame to palette indices; with dither, Floyd-Steinberg (7/16 right,
 * 3/16 down-left, 5/16 down, 1/16 down-right) over two error rows. */
static void index_frame(const uint8_t *rgb, int w, int h, const uint8_t *pal, const uint8_t *map, int dither,
                        float *errs, uint8_t *out)
{
    float *cur = errs, *nxt = errs + 3 * (size_t)(w + 2);
    memset(errs, 0, 6 * (size_t)(w + 2) * sizeof *errs);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            int v[3];
            for (int k = 0; k < 3; k++)
                v[k] = dither ? clamp255(p[k] + cur[3 * (x + 1) + k]) : p[k];
            const uint8_t idx = map[bin_of(v[0], v[1], v[2])];
            out[(size_t)y * w + x] = idx;
            if (!dither)
                continue;
            for (int k = 0; k < 3; k++) {
                const float e = (float)(v[k] - pal[3 * idx + k]);
                cur[3 * (x + 2) + k] += e * 7.0f / 16.0f;
                nxt[3 * x + k] += e * 3.0f / 16.0f;
                nxt[3 * (x + 1) + k] += e * 5.0f / 16.0f;
                nxt[3 * (x + 2) + k] += e * 1.0f / 16.0f;
            }
        }
        float *t = cur;
        cur = nxt, nxt = t;
        memset(nxt, 0, 3 * (size_t)(w + 2) * sizeof *nxt);
    }
}

#endif

int cv_gif_delay_cs(float fps)
{
    const double d = fps > 0.0f ? floor(100.0 / fps + 0.5) : 100.0;
    return d < 1.0 ? 1 : d > 65535.0 ? 65535 : (int)d;
}

/* ------------------------------------------------------------ GIF */

#ifdef HAVE_GIFLIB
typedef struct {
    cv_outfile *of;
    int failed;
    cv_error err;
} gif_sink;

static int gif_out(GifFileType *gif, const GifByteType *buf, int len)
{
    gif_sink *s = gif->UserData;
    if (s->failed || cv_outfile_write(s->of, buf, (size_t)len, &s->err)) {
        s->failed = 1;
        return 0;
    }
    return len;
}

static int gif_body(GifFileType *gif, const uint8_t *frames, int n, int w, int h, const cv_gif_opts *o,
                    const uint8_t *pal, int nc, uint8_t *idx, float *errs, const uint8_t *map)
{
    int bits = 1;
    while ((1 << bits) < nc)
        bits++;
    ColorMapObject *cmap = GifMakeMapObject(1 << bits, NULL);
    if (!cmap)
        return GIF_ERROR;
    for (int i = 0; i < (1 << bits); i++) {
        const int j = i < nc ? i : 0;
        cmap->Colors[i] = (GifColorType){pal[3 * j], pal[3 * j + 1], pal[3 * j + 2]};
    }
    EGifSetGifVersion(gif, true);
    int rc = EGifPutScreenDesc(gif, w, h, bits, 0, cmap);
    GifFreeMapObject(cmap);
    /* NETSCAPE2.0 application extension: sub-block 1, loop count 0 = forever */
    static const GifByteType loop[3] = {1, 0, 0};
    if (rc == GIF_OK && (rc = EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE)) == GIF_OK &&
        (rc = EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0")) == GIF_OK &&
        (rc = EGifPutExtensionBlock(gif, 3, loop)) == GIF_OK)
        rc = EGifPutExtensionTrailer(gif);
    const int delay = cv_gif_delay_cs(o->fps);
    for (int f = 0; f < n && rc == GIF_OK; f++) {
        /* graphics control: disposal 1 (leave in place), no transparency, the delay */
        const GifByteType gce[4] = {1 << 2, (GifByteType)(delay & 255), (GifByteType)(delay >> 8), 0};
        index_frame(frames + (size_t)f * w * h * 3, w, h, pal, map, o->dither, errs, idx);
        if ((rc = EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, gce)) == GIF_OK &&
            (rc = EGifPutImageDesc(gif, 0, 0, w, h, false, NULL)) == GIF_OK)
            for (int y = 0; y < h && rc == GIF_OK; y++)
                rc = EGifPutLine(gif, idx + (size_t)y * w, w);
    }
    return rc;
}
#endif

cv_status cv_gif_write(const char *path, const uint8_t *frames, int n, int w, int h, const cv_gif_opts *o,
                       cv_error *err)
{
#ifdef HAVE_GIFLIB
    if (n < 1 || w < 1 || h < 1 || w > 65535 || h > 65535)
        return cv_error_set(err, CV_ERR_ARG, "%s: %d frames of %dx%d (expected at least one frame, 1..65535 per side)",
                            path, n, w, h);
    const cv_gif_opts def = {8.0f, 0};
    o = o ? o : &def;
    uint8_t pal[256 * 3], *map = malloc(BINS), *idx = malloc((size_t)w * h);
    float *errs = malloc(6 * ((size_t)w + 2) * sizeof *errs);
    int nc;
    if (!map || !idx || !errs) {
        free(map), free(idx), free(errs);
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory (GIF)", path);
    }
    cv_palette_median_cut(frames, (size_t)n * w * h, pal, &nc);
    nearest_table(pal, nc, map);
    cv_outfile of;
    cv_status s = cv_outfile_open(&of, path, err);
    if (!s) {
        gif_sink sink = {&of, 0, {{0}}};
        int e = 0;
        GifFileType *gif = EGifOpen(&sink, gif_out, &e);
        int rc = gif ? gif_body(gif, frames, n, w, h, o, pal, nc, idx, errs, map) : GIF_ERROR;
        if (gif && EGifCloseFile(gif, &e) != GIF_OK)
            rc = GIF_ERROR;
        if (rc != GIF_OK || sink.failed) {
            cv_outfile_abort(&of);
            s = sink.failed ? cv_error_set(err, CV_ERR_IO, "%s", sink.err.msg)
                            : cv_error_set(err, CV_ERR_IO, "%s: GIF encoding failed (%s)", path, GifErrorString(e));
        } else {
            s = cv_outfile_commit(&of, err);
        }
    }
    free(map), free(idx), free(errs);
    return s;
#else
    (void)frames, (void)n, (void)w, (void)h, (void)o;
    return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: this build has no GIF output (giflib was not found at configure time)",
                        path);
#endif
}
