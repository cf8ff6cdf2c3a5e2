/* gen_out.c — the output directory of `cogvideo generate` and the files of
 * one sample in it. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen.h"
#include "image.h"
#include "npy.h"

char *gen_path(const char *dir, const char *name)
{
    const size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void gen_remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    const struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n == 0;
}

/* OUT may be replaced if it is absent, an empty directory, or a previous
 * run's directory (it has run.json): never a directory of other files. */
static cv_status check_existing(const char *out, cv_error *err)
{
    struct stat sb;
    if (stat(out, &sb) != 0)
        return CV_OK;
    if (!S_ISDIR(sb.st_mode))
        return cv_error_set(err, CV_ERR_ARG, "%s: exists and is not a directory (expected a new output directory)",
                            out);
    char *rj = gen_path(out, "run.json");
    const int ok = (rj && access(rj, F_OK) == 0) || dir_is_empty(out);
    free(rj);
    if (ok)
        return CV_OK;
    return cv_error_set(err, CV_ERR_ARG,
                        "%s: exists and is not a cogvideo output (expected a new or empty directory, or a previous "
                        "run's with run.json)",
                        out);
}

cv_status gen_outdir_open(gen_outdir *d, const char *out, cv_error *err)
{
    memset(d, 0, sizeof *d);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        n--;
    cv_status s = check_existing(out, err);
    if (s)
        return s;
    d->final = strndup(out, n);
    d->tmp = malloc(n + 16);
    if (!d->final || !d->tmp) {
        gen_outdir_abort(d);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    }
    snprintf(d->tmp, n + 16, "%s.tmp.XXXXXX", d->final);
    if (!mkdtemp(d->tmp)) {
        const int e = errno;
        free(d->tmp);
        d->tmp = NULL;
        gen_outdir_abort(d);
        return cv_error_set(err, CV_ERR_IO, "%.*s: cannot create the output directory (%s)", (int)n, out,
                            strerror(e));
    }
    /* mkdtemp makes 0700; the result should look like mkdir's */
    const mode_t mask = umask(0);
    umask(mask);
    chmod(d->tmp, 0777 & ~mask);
    return CV_OK;
}

cv_status gen_outdir_commit(gen_outdir *d, cv_error *err)
{
    char *old = malloc(strlen(d->final) + 16);
    if (!old)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    snprintf(old, strlen(d->final) + 16, "%s.old.XXXXXX", d->final);
    struct stat sb;
    /* a previous run (or the empty directory) moves aside, then goes */
    const int had = stat(d->final, &sb) == 0;
    if (had && (!mkdtemp(old) || rename(d->final, old) != 0)) {
        const int e = errno;
        rmdir(old);
        free(old);
        return cv_error_set(err, CV_ERR_IO, "%s: cannot replace the previous output (%s)", d->final, strerror(e));
    }
    if (rename(d->tmp, d->final) != 0) {
        const int e = errno;
        if (had)
            rename(old, d->final);
        free(old);
        return cv_error_set(err, CV_ERR_IO, "%s: cannot rename %s to it (%s)", d->final, d->tmp, strerror(e));
    }
    if (had)
        gen_remove_tree(old);
    free(old);
    free(d->tmp);
    d->tmp = NULL;
    free(d->final);
    d->final = NULL;
    return CV_OK;
}

void gen_outdir_abort(gen_outdir *d)
{
    if (d->tmp)
        gen_remove_tree(d->tmp);
    free(d->tmp);
    free(d->final);
    memset(d, 0, sizeof *d);
}

/* ------------------------------------------------------------ one sample */

static uint8_t *decode_frames(const gen_images *im, const int64_t *tokens, int n, int *oh, int *ow, cv_error *err,
                              cv_status *s)
{
    const int h = cv_vqvae_out_h(im->vq), w = cv_vqvae_out_w(im->vq);
    *oh = im->size ? im->size : h;
    *ow = im->size ? (int)((int64_t)im->size * w / h) : w;
    float *img = malloc((size_t)n * 3 * (size_t)h * (size_t)w * sizeof *img);
    const cv_vqvae_opts o = {.nthreads = im->nthreads};
    uint8_t *all = NULL;
    *s = img ? cv_vqvae_decode(im->vq, tokens, (size_t)n, img, NULL, &o, err)
             : cv_error_set(err, CV_ERR_NOMEM, "out of memory (%d frames)", n);
    if (!*s && !(all = cv_image_frames_to_u8(img, (size_t)n, h, w, *oh, *ow, im->pixel)))
        *s = cv_error_set(err, CV_ERR_NOMEM, "out of memory (%d frames)", n);
    free(img);
    return all;
}

static cv_status write_png_frames(const char *dir, const uint8_t *fr, int n, int oh, int ow, cv_error *err)
{
    char *fd = gen_path(dir, "frames"), name[32];
    cv_status s = fd ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (!s && mkdir(fd, 0777) != 0)
        s = cv_error_set(err, CV_ERR_IO, "%s: cannot create directory (%s)", fd, strerror(errno));
    for (int f = 0; f < n && !s; f++) {
        snprintf(name, sizeof name, "%04d.png", f);
        char *p = gen_path(fd, name);
        s = p ? cv_png_write(p, fr + (size_t)f * (size_t)oh * (size_t)ow * 3, ow, oh, err)
              : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        free(p);
    }
    free(fd);
    return s;
}

static cv_status write_named(const char *dir, const char *name, cv_status (*fn)(const char *, void *, cv_error *),
                             void *ctx, cv_error *err)
{
    char *p = gen_path(dir, name);
    cv_status s = p ? fn(p, ctx, err) : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    free(p);
    return s;
}

typedef struct {
    const uint8_t *fr;
    int n, oh, ow;
    float fps;
    const int64_t *tokens;
    int frame_len;
} sample_files;

static cv_status put_gif(const char *p, void *c, cv_error *err)
{
    const sample_files *f = c;
    const cv_gif_opts go = {f->fps, 0};
    return cv_gif_write(p, f->fr, f->n, f->ow, f->oh, &go, err);
}

static cv_status put_sheet(const char *p, void *c, cv_error *err)
{
    const sample_files *f = c;
    uint8_t *sheet;
    int sw, sh;
    cv_status s = cv_contact_sheet(f->fr, f->n, f->ow, f->oh, 0, &sheet, &sw, &sh, err);
    if (!s) {
        s = cv_png_write(p, sheet, sw, sh, err);
        free(sheet);
    }
    return s;
}

static cv_status put_tokens(const char *p, void *c, cv_error *err)
{
    const sample_files *f = c;
    const int64_t shape[2] = {f->n, f->frame_len};
    return cv_npy_save(p, CV_DT_I64, 2, shape, f->tokens, err);
}

cv_status gen_write_sample(const char *dir, const gen_images *im, const int64_t *tokens, int n, int frame_len,
                           bool with_tokens, cv_error *err)
{
    sample_files f = {NULL, n, 0, 0, im->fps, tokens, frame_len};
    cv_status s = CV_OK;
    uint8_t *fr = decode_frames(im, tokens, n, &f.oh, &f.ow, err, &s);
    f.fr = fr;
    if (!s)
        s = write_png_frames(dir, fr, n, f.oh, f.ow, err);
    if (!s)
        s = write_named(dir, "video.gif", put_gif, &f, err);
    if (!s)
        s = write_named(dir, "sheet.png", put_sheet, &f, err);
    if (!s && with_tokens)
        s = write_named(dir, "tokens.npy", put_tokens, &f, err);
    free(fr);
    return s;
}
