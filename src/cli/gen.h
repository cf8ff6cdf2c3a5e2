/* gen.h — the parts of `cogvideo generate` shared by its files:
 * generate.c (flags, models, the run), gen_out.c (the output directory and
 * what goes in it), gen_progress.c (the progress line). */
#ifndef CV_CLI_GEN_H
#define CV_CLI_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cv_status.h"
#include "image.h"
#include "pipeline.h"
#include "vqvae.h"

/* ------------------------------------------------------------ output directory
 * Everything is written into a fresh sibling "OUT.tmp.XXXXXX" that replaces
 * OUT only at the end (DESIGN.md §5: a failure leaves nothing half-written).
 * OUT may exist only as an empty directory or a previous run (run.json). */
typedef struct {
    char *final; /* OUT */
    char *tmp;   /* the directory being written */
} gen_outdir;

cv_status gen_outdir_open(gen_outdir *d, const char *out, cv_error *err);
cv_status gen_outdir_commit(gen_outdir *d, cv_error *err); /* tmp -> OUT */
void gen_outdir_abort(gen_outdir *d);                      /* removes tmp */

/* dir/name (malloc'ed); NULL when out of memory. */
char *gen_path(const char *dir, const char *name);

/* One sample's files in dir: frames/0000.png ..., video.gif at fps,
 * sheet.png (a contact sheet), and tokens.npy [n, frame_len] if
 * with_tokens.  Frames are the decoder's output, made 8-bit by `pixel`
 * (per-frame min-max as the pipeline's save_image, or clamp), upscaled to
 * `size` pixels high (0: the decoder's size). */
typedef struct {
    const cv_vqvae *vq;
    int nthreads, size;
    float fps;
    cv_pixel_mode pixel; /* 8-bit conversion (image.h) */
} gen_images;
cv_status gen_write_sample(const char *dir, const gen_images *im, const int64_t *tokens, int n, int frame_len,
                           bool with_tokens, cv_error *err);

/* Removes a directory tree (for the temporary and the replaced output). */
void gen_remove_tree(const char *path);

/* ------------------------------------------------------------ --dump (gen_dump.c)
 * The pipeline's probe and seqs callbacks write DIR/<phase>/ (s1_first,
 * s1_video, s2_round<r>): seq_in.npy, teacher.npy, guider_seq_in.npy,
 * step_logits_idx.npy, step_logits.npy, meta.json.  Errors are kept in
 * status/err (a callback cannot fail the run) and reported after it. */
typedef struct {
    const char *dir;
    int n_logits, image_tokens;
    int64_t idx[4];
    float *logits; /* [4][image_tokens] */
    cv_status status;
    cv_error err;
} gen_dump;

void gen_dump_probe(gen_dump *d, const cv_pipeline_probe *p);
void gen_dump_seqs(gen_dump *d, cv_pipeline_phase ph, int round, const int64_t *in, const int64_t *out, int len,
                   const int64_t *g, int glen, float log_w, float alpha);

/* ------------------------------------------------------------ progress */
typedef struct {
    bool tty, quiet;
    double t0, last;        /* wall clock of the start and the last line */
    double units_total, units_done, phase_units;
    double phase_t0;
    int phase_key;          /* which phase the line is about */
} gen_progress;

double gen_now(void);
void gen_progress_init(gen_progress *p, bool quiet, double units_total);
/* The pipeline's callback (ctx = gen_progress *). */
void gen_progress_step(void *ctx, const cv_pipeline_progress *s);
/* Ends the line of a phase: "stage 1, first frame: 400 tokens in 3.1 s
 * (129 tok/s)". */
void gen_progress_done(gen_progress *p, const char *what, double tokens, double seconds);

#endif
