/* test_image.c — 8-bit conversion (torchvision save_image semantics), nearest
 * resize, contact sheet, PNG round trip through libpng, and animated GIFs
 * parsed back with giflib's own reader (frame count, size, delays, the
 * NETSCAPE2.0 loop extension, palette fidelity). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#ifdef HAVE_GIFLIB
#include <gif_lib.h>
#endif

#include "image.h"
#include "test_files.h"

/* save_image(normalize=True) by hand: lo = -1, hi = 3, range 4. */
static void test_u8_normalize(void **state)
{
    (void)state;
    const float chw[3 * 2] = {-1.0f, 3.0f, 1.0f, 0.0f, 0.2f, 2.9f}; /* 3 channels x 2 pixels */
    uint8_t rgb[6];
    cv_image_to_u8(chw, 3, 1, 2, CV_PIXEL_NORMALIZE, rgb);
    /* pixel 0: (-1, 1, 0.2) -> x = 0, 0.5, 0.3 -> trunc(x*255+0.5) = 0, 128, 77 */
    assert_int_equal(rgb[0], 0);
    assert_int_equal(rgb[1], 128);
    assert_int_equal(rgb[2], 77);
    /* pixel 1: (3, 0, 2.9) -> 1, 0.25, 0.975 -> 255, 64, 249 */
    assert_int_equal(rgb[3], 255);
    assert_int_equal(rgb[4], 64);
    assert_int_equal(rgb[5], 249);
    /* a constant image: range max(0, 1e-5) -> every value (x - lo) / 1e-5 = 0 */
    const float flat[3] = {0.7f, 0.7f, 0.7f};
    cv_image_to_u8(flat, 3, 1, 1, CV_PIXEL_NORMALIZE, rgb);
    assert_int_equal(rgb[0], 0);
    /* clamp mode: [0, 1] kept as is, outside clamped */
    const float cl[3] = {-0.5f, 0.5f, 1.7f};
    cv_image_to_u8(cl, 3, 1, 1, CV_PIXEL_CLAMP, rgb);
    assert_int_equal(rgb[0], 0);
    assert_int_equal(rgb[1], 128);
    assert_int_equal(rgb[2], 255);
}

static void test_resize_and_sheet(void **state)
{
    (void)state;
    const uint8_t src[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t dst[6 * 6 * 3];
    cv_image_resize_nearest(src, 2, 2, dst, 6, 6); /* 3x repeat, as F.interpolate(size=(480,480)) from 160 */
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++)
            assert_memory_equal(dst + (y * 6 + x) * 3, src + ((y / 3) * 2 + x / 3) * 3, 3);
    uint8_t frames[3 * 2 * 2 * 3];
    for (int i = 0; i < 36; i++)
        frames[i] = (uint8_t)(100 + i);
    uint8_t *sheet;
    int sw, sh;
    cv_error err;
    assert_int_equal(cv_contact_sheet(frames, 3, 2, 2, 0, &sheet, &sw, &sh, &err), CV_OK);
    assert_int_equal(sw, 2 * (2 + 2) + 2); /* 2 columns of 2 pixels, 2-pixel borders */
    assert_int_equal(sh, 2 * (2 + 2) + 2);
    assert_int_equal(sheet[0], 0); /* border */
    assert_memory_equal(sheet + (2 * sw + 2) * 3, frames, 3);                 /* frame 0 at (2, 2) */
    assert_memory_equal(sheet + (6 * sw + 2) * 3, frames + 2 * 2 * 3 * 2, 3); /* frame 2 at (2, 6) */
    free(sheet);
    assert_int_equal(cv_contact_sheet(frames, 0, 2, 2, 0, &sheet, &sw, &sh, &err), CV_ERR_ARG);
}

static void test_png_round_trip(void **state)
{
    (void)state;
#ifdef HAVE_LIBPNG
    enum { W = 37, H = 23 };
    uint8_t img[W * H * 3], *back;
    for (int i = 0; i < W * H * 3; i++)
        img[i] = (uint8_t)(i * 7 + i / 5);
    cv_error err;
    const char *p = cv_test_path("x.png");
    assert_int_equal(cv_png_write(p, img, W, H, &err), CV_OK);
    int w, h;
    if (cv_png_read(p, &back, &w, &h, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(w, W);
    assert_int_equal(h, H);
    assert_memory_equal(back, img, sizeof img);
    free(back);
    /* unwritable: nothing left */
    cv_test_empty_dir();
    assert_int_not_equal(cv_png_write(cv_test_path("no/dir/x.png"), img, W, H, &err), CV_OK);
    printf("  %s\n", err.msg);
    assert_int_equal(cv_test_count_files(), 0);
#else
    printf("  built without libpng: skipped\n");
    skip();
#endif
}

#ifdef HAVE_GIFLIB
/* 33 frames of 48x40: a moving bar in 8 colours that sit in distinct 15-bit
 * bins, so the palette must reproduce every pixel exactly. */
static uint8_t *make_clip(int n, int w, int h)
{
    static const uint8_t pal[8][3] = {{0, 0, 0},     {255, 255, 255}, {200, 16, 16},  {16, 200, 16},
                                      {16, 16, 200}, {240, 200, 40},  {120, 120, 120}, {40, 200, 240}};
    uint8_t *f = malloc((size_t)n * w * h * 3);
    assert_non_null(f);
    for (int k = 0; k < n; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                memcpy(f + (((size_t)k * h + y) * w + x) * 3, pal[((x + k) / 6 + y / 10) % 8], 3);
    return f;
}

static GifFileType *read_gif(const char *path)
{
    int e = 0;
    GifFileType *g = DGifOpenFileName(path, &e);
    if (!g)
        fail_msg("%s: %s", path, GifErrorString(e));
    if (DGifSlurp(g) != GIF_OK)
        fail_msg("%s: %s", path, GifErrorString(g->Error));
    return g;
}

static int has_loop_forever(const GifFileType *g)
{
    /* giflib keeps the extensions before an image with that image: NETSCAPE2.0
     * then the sub-block {1, lo, hi} with loop count lo | hi << 8 = 0 */
    const SavedImage *s = &g->SavedImages[0];
    for (int i = 0; i + 1 < s->ExtensionBlockCount; i++) {
        const ExtensionBlock *a = &s->ExtensionBlocks[i], *b = &s->ExtensionBlocks[i + 1];
        if (a->Function == APPLICATION_EXT_FUNC_CODE && a->ByteCount == 11 && !memcmp(a->Bytes, "NETSCAPE2.0", 11) &&
            b->ByteCount == 3 && b->Bytes[0] == 1)
            return b->Bytes[1] == 0 && b->Bytes[2] == 0;
    }
    return 0;
}
#endif

static void test_gif_33_frames(void **state)
{
    (void)state;
#ifdef HAVE_GIFLIB
    enum { N = 33, W = 48, H = 40 };
    uint8_t *clip = make_clip(N, W, H);
    cv_error err;
    const char *p = cv_test_path("clip.gif");
    const cv_gif_opts o = {8.0f, 0};
    if (cv_gif_write(p, clip, N, W, H, &o, &err))
        fail_msg("%s", err.msg);
    GifFileType *g = read_gif(p);
    assert_int_equal(g->ImageCount, N);
    assert_int_equal(g->SWidth, W);
    assert_int_equal(g->SHeight, H);
    assert_non_null(g->SColorMap);
    assert_true(has_loop_forever(g));
    for (int k = 0; k < N; k++) {
        const SavedImage *s = &g->SavedImages[k];
        GraphicsControlBlock gcb;
        assert_int_equal(s->ImageDesc.Width, W);
        assert_int_equal(s->ImageDesc.Height, H);
        assert_int_equal(DGifSavedExtensionToGCB(g, k, &gcb), GIF_OK);
        assert_int_equal(gcb.DelayTime, 13); /* 8 fps: 12.5 cs rounded */
        for (int i = 0; i < W * H; i++) {  /* palette colours exact: the 8 colours are distinct bins */
            const GifColorType c = g->SColorMap->Colors[s->RasterBits[i]];
            const uint8_t *q = clip + ((size_t)k * W * H + i) * 3;
            if (c.Red != q[0] || c.Green != q[1] || c.Blue != q[2])
                fail_msg("frame %d pixel %d: %d,%d,%d for %d,%d,%d", k, i, c.Red, c.Green, c.Blue, q[0], q[1], q[2]);
        }
    }
    printf("  33 frames of %dx%d, delay 13 cs, loop forever, colours exact\n", W, H);
    int e;
    DGifCloseFile(g, &e);
    free(clip);
    assert_int_equal(cv_gif_delay_cs(25.0f), 4);
    assert_int_equal(cv_gif_delay_cs(1000.0f), 1);
#else
    printf("  built without giflib: skipped\n");
    skip();
#endif
}

/* A smooth gradient with 16384 colours for a 256-colour palette: without
 * dithering it bands; error diffusion keeps the local mean, so the means of
 * 4x4 blocks stay closer to the original. */
static void test_gif_dither(void **state)
{
    (void)state;
#ifdef HAVE_GIFLIB
    enum { W = 128, H = 128 };
    uint8_t *img = malloc(W * H * 3);
    assert_non_null(img);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *q = img + (y * W + x) * 3;
            q[0] = (uint8_t)(x * 2), q[1] = (uint8_t)(y * 2), q[2] = (uint8_t)(255 - x - y);
        }
    double block_err[2];
    for (int d = 0; d < 2; d++) {
        cv_error err;
        const cv_gif_opts o = {10.0f, d};
        const char *p = cv_test_path(d ? "d1.gif" : "d0.gif");
        if (cv_gif_write(p, img, 1, W, H, &o, &err))
            fail_msg("%s", err.msg);
        GifFileType *g = read_gif(p);
        assert_int_equal(g->ImageCount, 1);
        double e = 0.0;
        for (int by = 0; by < H; by += 4)
            for (int bx = 0; bx < W; bx += 4)
                for (int k = 0; k < 3; k++) {
                    double s = 0.0;
                    for (int y = by; y < by + 4; y++)
                        for (int x = bx; x < bx + 4; x++) {
                            const GifColorType c = g->SColorMap->Colors[g->SavedImages[0].RasterBits[y * W + x]];
                            s += (k == 0 ? c.Red : k == 1 ? c.Green : c.Blue) - img[(y * W + x) * 3 + k];
                        }
                    e += fabs(s / 16.0);
                }
        block_err[d] = e / (W / 4 * H / 4 * 3);
        int ec;
        DGifCloseFile(g, &ec);
    }
    printf("  mean |4x4 block error|: %.2f plain, %.2f dithered\n", block_err[0], block_err[1]);
    assert_true(block_err[0] < 12.0);
    assert_true(block_err[1] < block_err[0]);
    free(img);
#else
    skip();
#endif
}

static void test_gif_bad(void **state)
{
    (void)state;
    uint8_t px[3] = {1, 2, 3};
    cv_error err;
    cv_test_empty_dir();
#ifdef HAVE_GIFLIB
    assert_int_equal(cv_gif_write(cv_test_path("x.gif"), px, 0, 1, 1, NULL, &err), CV_ERR_ARG);
    assert_int_equal(cv_gif_write(cv_test_path("no/dir/x.gif"), px, 1, 1, 1, NULL, &err), CV_ERR_IO);
    printf("  %s\n", err.msg);
#else
    assert_int_equal(cv_gif_write(cv_test_path("x.gif"), px, 1, 1, 1, NULL, &err), CV_ERR_UNSUPPORTED);
#endif
    assert_int_equal(cv_test_count_files(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u8_normalize), cmocka_unit_test(test_resize_and_sheet),
        cmocka_unit_test(test_png_round_trip), cmocka_unit_test(test_gif_33_frames),
        cmocka_unit_test(test_gif_dither), cmocka_unit_test(test_gif_bad),
    };
    cv_test_dir_name("test_image");
    return cmocka_run_group_tests(tests, cv_test_setup_dir, cv_test_teardown_dir);
}
