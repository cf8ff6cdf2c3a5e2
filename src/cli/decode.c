/* decode.c — `cogvideo decode -m VQVAE.gguf --ids IDS.npy -o OUT.png|OUT.gif ...`:
 * token grids through the VQVAE decoder to the files people look at. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "vqvae.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cogvideo decode -m VQVAE.gguf --ids IDS.npy -o OUT.png|OUT.gif [--raw RAW.npy]\n"
            "                       [--img IMG.npy] [--u8 U8.npy] [--size N] [--pixel normalize|clamp]\n"
            "                       [--fps F] [--dither] [--sheet SHEET.png] [--threads N] [--reference]\n"
            "  -m VQVAE.gguf        a model made by cogvideo convert-vqvae\n"
            "  --ids IDS.npy        integer token ids [H,W] (one frame) or [N,H,W] (N frames), H x W\n"
            "                       the model's token grid (20x20 for icetk)\n"
            "  -o OUT               OUT.gif: one animated GIF of every frame (global palette, loops\n"
            "                       forever); OUT.png: one PNG for one frame, else OUT_0000.png,\n"
            "                       OUT_0001.png, ... (one per frame)\n"
            "  --raw RAW.npy        the decoder output before de-normalisation, float32 [N,3,h,w]\n"
            "  --img IMG.npy        the de-normalised image (icetk's decode output), float32 [N,3,h,w]\n"
            "  --u8 U8.npy          the 8-bit frames as written, uint8 [h,w,3] or [N,h,w,3]\n"
            "  --size N             nearest-neighbour upscale to N pixels high (the pipeline: 480)\n"
            "  --pixel MODE         normalize: per-frame min-max, as the pipeline's\n"
            "                       save_image(normalize=True); clamp: clamp to [0,1] (default:\n"
            "                       the model's, set by convert-vqvae --pixel; normalize)\n"
            "  --fps F              GIF frame rate (default 8; delay = round(100/F) centiseconds)\n"
            "  --dither             Floyd-Steinberg dithering against the GIF palette\n"
            "  --sheet SHEET.png    a contact sheet of every frame\n"
            "  --threads N          threads (default: OMP_NUM_THREADS or all cores)\n"
            "  --reference          the scalar reference decoder (slow; for checking)\n");
}

typedef struct {
    const char *model, *ids, *out, *raw, *img, *u8, *sheet;
    int size, threads, dither, reference;
    int pixel; /* a cv_pixel_mode, or -1: the model's (cogvideo.vqvae.pixel) */
    float fps;
} args_t;

static int ends_with(const char *s, const char *suf)
{
    const size_t n = strlen(s), m = strlen(suf);
    return n > m && !strcmp(s + n - m, suf);
}

static const char **str_opt(args_t *a, const char *f)
{
    return !strcmp(f, "-m") || !strcmp(f, "--model") ? &a->model
           : !strcmp(f, "--ids")                     ? &a->ids
           : !strcmp(f, "-o")                        ? &a->out
           : !strcmp(f, "--raw")                     ? &a->raw
           : !strcmp(f, "--img")                     ? &a->img
           : !strcmp(f, "--u8")                      ? &a->u8
           : !strcmp(f, "--sheet")                   ? &a->sheet
                                                     : NULL;
}

static int parse(int argc, char **argv, args_t *a)
{
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int rc = CV_EXIT_OK;
        if (!strcmp(f, "--dither") || !strcmp(f, "--reference")) {
            *(f[2] == 'd' ? &a->dither : &a->reference) = 1;
            continue;
        }
        const int valued = str_opt(a, f) || !strcmp(f, "--size") || !strcmp(f, "--pixel") || !strcmp(f, "--fps") ||
                           !strcmp(f, "--threads");
        if (!valued)
            return cv_cli_fail(CV_EXIT_USAGE, f[0] == '-' ? "decode: unknown option '%s' (see cogvideo decode --help)"
                                                          : "decode: unexpected argument '%s'", f);
        if (i + 1 >= argc)
            return cv_cli_fail(CV_EXIT_USAGE, "decode: %s needs a value", f);
        const char *v = argv[++i];
        if (str_opt(a, f))
            *str_opt(a, f) = v;
        else if (!strcmp(f, "--size"))
            rc = cv_cli_int(f, v, 1, 8192, &a->size);
        else if (!strcmp(f, "--threads"))
            rc = cv_cli_int(f, v, 1, 1024, &a->threads);
        else if (!strcmp(f, "--fps"))
            rc = cv_cli_float(f, v, 0.01f, 100.0f, &a->fps);
        else if (!strcmp(v, "normalize") || !strcmp(v, "clamp"))
            a->pixel = v[0] == 'n' ? CV_PIXEL_NORMALIZE : CV_PIXEL_CLAMP;
        else
            return cv_cli_fail(CV_EXIT_USAGE, "--pixel: '%s' is not normalize or clamp", v);
        if (rc)
            return rc;
    }
    if (!a->model || !a->ids || !a->out)
        return cv_cli_fail(CV_EXIT_USAGE, "decode: -m, --ids and -o are required (see cogvideo decode --help)");
    if (!ends_with(a->out, ".png") && !ends_with(a->out, ".gif"))
        return cv_cli_fail(CV_EXIT_USAGE, "-o: '%s' does not end in .png or .gif", a->out);
    return CV_EXIT_OK;
}

/* The ids: [H,W] or [N,H,W] matching the model's grid. */
static cv_status load_ids(const char *path, const cv_vqvae_hparams *hp, cv_npy *a, int64_t **ids, size_t *n,
                          cv_error *err)
{
    cv_status s = cv_npy_load_i64(path, a, ids, err);
    if (s)
        return s;
    a->data = *ids;
    const int r = a->ndim;
    if ((r != 2 && r != 3) || a->shape[r - 2] != hp->grid_h || a->shape[r - 1] != hp->grid_w || a->count == 0)
        return cv_error_set(err, CV_ERR_ARG, "%s: shape of rank %d does not fit the model's %dx%d token grid (expected [%d,%d] or [N,%d,%d], N >= 1)",
                            path, r, hp->grid_h, hp->grid_w, hp->grid_h, hp->grid_w, hp->grid_h, hp->grid_w);
    *n = r == 3 ? (size_t)a->shape[0] : 1;
    if (*n > 100000)
        return cv_error_set(err, CV_ERR_ARG, "%s: %zu frames (expected at most 100000)", path, *n);
    return CV_OK;
}

/* Files written so far, removed again if a later one fails. */
typedef struct {
    char **paths;
    size_t n;
} written_t;

static cv_status note(written_t *w, const char *path, cv_status s, cv_error *err)
{
    char *p = s ? NULL : strdup(path);
    if (!s && !p)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (p)
        w->paths[w->n++] = p;
    return s;
}

static void rollback(written_t *w, int keep)
{
    for (size_t i = 0; i < w->n; i++) {
        if (!keep)
            unlink(w->paths[i]);
        free(w->paths[i]);
    }
    free(w->paths);
}

static cv_status write_images(const args_t *a, const uint8_t *fr, size_t n, int oh, int ow, int rank, written_t *wr,
                              cv_error *err)
{
    cv_status s = CV_OK;
    const size_t fb = (size_t)oh * ow * 3;
    if (ends_with(a->out, ".gif")) {
        const cv_gif_opts go = {a->fps, a->dither};
        s = note(wr, a->out, cv_gif_write(a->out, fr, (int)n, ow, oh, &go, err), err);
    } else if (n == 1) {
        s = note(wr, a->out, cv_png_write(a->out, fr, ow, oh, err), err);
    } else {
        const size_t stem = strlen(a->out) - 4;
        char *p = malloc(stem + 32);
        if (!p)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        for (size_t f = 0; f < n && !s; f++) {
            snprintf(p, stem + 32, "%.*s_%04zu.png", (int)stem, a->out, f);
            s = note(wr, p, cv_png_write(p, fr + f * fb, ow, oh, err), err);
        }
        free(p);
    }
    if (!s && a->sheet) {
        uint8_t *sheet;
        int sw, sh;
        if (!(s = cv_contact_sheet(fr, (int)n, ow, oh, 0, &sheet, &sw, &sh, err))) {
            s = note(wr, a->sheet, cv_png_write(a->sheet, sheet, sw, sh, err), err);
            free(sheet);
        }
    }
    if (!s && a->u8) {
        const int64_t shape[4] = {(int64_t)n, oh, ow, 3};
        s = note(wr, a->u8,
                 cv_npy_save(a->u8, CV_DT_U8, rank == 2 ? 3 : 4, rank == 2 ? shape + 1 : shape, fr, err), err);
    }
    return s;
}

static cv_status run(const args_t *a, cv_error *err)
{
    cv_vqvae *m = NULL;
    cv_npy ids_npy = {0};
    int64_t *ids = NULL;
    size_t n = 0;
    cv_status s = cv_vqvae_load(a->model, &m, err);
    if (!s)
        s = load_ids(a->ids, cv_vqvae_get_hparams(m), &ids_npy, &ids, &n, err);
    if (s) {
        cv_vqvae_free(m);
        cv_npy_free(&ids_npy);
        return s;
    }
    const int h = cv_vqvae_out_h(m), w = cv_vqvae_out_w(m);
    const int oh = a->size ? a->size : h, ow = a->size ? (int)((int64_t)a->size * w / h) : w;
    const size_t fsz = (size_t)3 * h * w;
    float *img = malloc(n * fsz * sizeof *img), *raw = a->raw ? malloc(n * fsz * sizeof *raw) : NULL;
    uint8_t *frames = NULL;
    written_t wr = {calloc(n + 4, sizeof(char *)), 0};
    const cv_vqvae_opts o = {.nthreads = a->threads, .reference = a->reference};
    if (!img || (a->raw && !raw) || !wr.paths || ow < 1)
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu frames of %dx%d)", n, w, h);
    if (!s && (s = cv_vqvae_decode(m, ids, n, img, raw, &o, err)) == CV_ERR_ARG) {
        cv_error e2 = *err; /* an id outside the codebook: name the file it came from */
        cv_error_set(err, s, "%s: %s", a->ids, e2.msg);
    }
    const cv_pixel_mode pm = a->pixel >= 0 ? (cv_pixel_mode)a->pixel : cv_vqvae_pixel_mode(m);
    if (!s && !(frames = cv_image_frames_to_u8(img, n, h, w, oh, ow, pm)))
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu frames of %dx%d)", n, ow, oh);
    const int64_t fshape[4] = {(int64_t)n, 3, h, w};
    if (!s && a->raw)
        s = note(&wr, a->raw, cv_npy_save(a->raw, CV_DT_F32, 4, fshape, raw, err), err);
    if (!s && a->img)
        s = note(&wr, a->img, cv_npy_save(a->img, CV_DT_F32, 4, fshape, img, err), err);
    if (!s)
        s = write_images(a, frames, n, oh, ow, ids_npy.ndim, &wr, err);
    if (wr.paths)
        rollback(&wr, s == CV_OK);
    free(frames), free(img), free(raw);
    cv_npy_free(&ids_npy);
    cv_vqvae_free(m);
    return s;
}

int cv_cmd_decode(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout), CV_EXIT_OK;
    args_t a = {.fps = 8.0f, .pixel = -1};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc;
    cv_error err;
    cv_status s = run(&a, &err);
    return s ? cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg) : CV_EXIT_OK;
}
