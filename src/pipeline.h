/* pipeline.h — text to video tokens, as CogVideo's cogvideo_pipeline.py does
 * it (DESIGN.md §1, golden/README.md "Pipeline sequence layout"):
 *
 *   stage 1, first frame:  text = enc(prompt + first_frame_suffix), CogView2
 *       mode (enforce_no_swin), w = log_text_weight, first-frame sampler;
 *   stage 1, keyframes 2..K: text = enc(duration(keyframe_seconds)) + [<n>] +
 *       enc(prompt [+ guided_suffix]); guided: guider text
 *       enc(duration) + [<n>] + enc(guider_text), w = 0, logits
 *       u + (c - u) alpha; unguided: w = log_text_weight.  Video sampler.
 *   stage 2, round r: every parent triple (F[2i], F[2i+1], F[2i+2]) of every
 *       sample is one job of ONE batched fill (each weight read once per
 *       token for all of them); the duration prefix is the triple's span,
 *       2 keyframe_seconds / (K - 1) / 2^r (2.0, 1.0, 0.5 s in the release);
 *       the two generated frames (time slots 1 and 3) go between the
 *       parents: n frames become 2n - 1.
 *
 * Every size, id, text and setting comes from the models' metadata
 * (pipeline_config.h); nothing assumes the release's 20x20 grid or ids.
 *
 * Randomness: the token of sample b at a step is drawn from the Philox
 * block keyed (seed, b, phase step) where the phase step numbers every
 * token the sample ever draws (stage, round, triple, position), so a
 * sample's tokens depend on the seed and its index only: not on the batch
 * size, the other samples or the thread count (the forward passes run
 * batch-invariant, see filling.h). */
#ifndef CV_PIPELINE_H
#define CV_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "cv_status.h"
#include "model.h"
#include "pipeline_config.h"
#include "sampler.h"
#include "tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one stage needs: its model, its pipeline settings and cluster labels
 * (both from the model file). */
typedef struct {
    cv_model *model;
    cv_clusters *clusters;
    cv_pipeline_config cfg;
} cv_pipeline_stage;

/* Loads a stage model (stage 1 or 2, checked), its pipeline settings and
 * its cluster labels, or the labels of labels_npy (an int64/int32 [image
 * tokens] .npy, e.g. from `cogvideo clusters`) when not NULL.  Errors name
 * the file and what is missing. */
cv_status cv_pipeline_stage_open(const char *path, int stage, const char *labels_npy, cv_pipeline_stage *st,
                                 cv_error *err);
void cv_pipeline_stage_close(cv_pipeline_stage *st); /* zeroed or closed is fine */

typedef enum {
    CV_PHASE_FIRST = 0, /* stage 1, the first frame */
    CV_PHASE_VIDEO = 1, /* stage 1, keyframes 2..K */
    CV_PHASE_ROUND = 2  /* stage 2, round `round` */
} cv_pipeline_phase;

/* Progress of the running fill: after every step (token position).  The
 * callback returns false to stop the run: the pipeline call then fails
 * with CV_ERR_CANCELLED (the CLI's Ctrl-C). */
typedef struct {
    cv_pipeline_phase phase;
    int round;           /* CV_PHASE_ROUND: 0, 1, ... */
    int step, steps;     /* of this phase */
    int frame_len;       /* tokens per frame: the step's frame is step / frame_len */
    int rows;            /* sequences in the batch (jobs, guiders included) */
    int jobs;            /* sequences that draw tokens */
} cv_pipeline_progress;
typedef bool (*cv_pipeline_progress_fn)(void *ctx, const cv_pipeline_progress *p);

/* The sampler's input at one step of sample 0's first job, for tests that
 * compare it with `cogvideo logits` (the same fill, teacher-forced). */
typedef struct {
    cv_pipeline_phase phase;
    int round, step, steps, seq_index;
    const float *logits; /* [image_tokens] after guidance */
} cv_pipeline_probe;
typedef void (*cv_pipeline_probe_fn)(void *ctx, const cv_pipeline_probe *p);

/* The job sequences of sample 0's first job of each phase, as given to the
 * fill (seq with -1 to generate, guider text + [BOI] or NULL) and as
 * filled: what `cogvideo logits` needs to replay the phase. */
typedef void (*cv_pipeline_seq_fn)(void *ctx, cv_pipeline_phase phase, int round, const int64_t *seq_in,
                                   const int64_t *seq_out, int len, const int64_t *guider, int guider_len,
                                   float log_w, float alpha);

typedef struct {
    uint64_t seed;
    int nthreads;          /* <= 0: OpenMP default */
    int guided1, guided2;  /* -1: the model's default; 0 / 1: off / on (stage 1 keyframes / stage 2) */
    float alpha;           /* < 0: the model's guidance_alpha */
    bool compat_guider_bug; /* stage 2 guided: the original's bug 3 (default off) */
    int max_jobs;          /* > 0: at most this many jobs (samples, parent triples) per
                              pass; the rest run in later passes.  Bounds the KV caches'
                              memory; changes no token (batch-invariant forward, keys
                              per sample and triple).  0: every job in one pass */
    cv_pipeline_progress_fn progress;
    cv_pipeline_probe_fn probe;
    cv_pipeline_seq_fn seqs;
    void *ctx;             /* for the three callbacks */
} cv_pipeline_opts;

void cv_pipeline_opts_default(cv_pipeline_opts *o);

/* The guidance a stage's fills use: on or off (flag: o->guided1 / guided2,
 * -1 the model's default) and alpha (o->alpha over the model's): the
 * pipeline's own rules, for callers that plan or report a run. */
bool cv_pipeline_guided(const cv_pipeline_stage *st, int flag);
float cv_pipeline_alpha(const cv_pipeline_stage *st, const cv_pipeline_opts *o);

/* Checks that the tokenizer fits the model (same image-token offset,
 * <start_of_image> and <n> at the model's ids, every text id inside the
 * vocabulary): otherwise the prompt would embed to zeros silently. */
cv_status cv_pipeline_check_tokenizer(const cv_tokenizer *tok, const cv_model *m, cv_error *err);

/* The text ids of the phase for a prompt (guider: NULL if not guided);
 * *len / *glen ids, malloc'ed.  An over-long text is CV_ERR_ARG naming the
 * model's limit. */
cv_status cv_pipeline_text(const cv_tokenizer *tok, const cv_pipeline_stage *st, cv_pipeline_phase phase,
                           int round, bool guided, const char *prompt, int64_t **ids, int *len,
                           int64_t **gids, int *glen, cv_error *err);

/* Stage 1 for samples sample0 .. sample0 + batch - 1: frames receives
 * [batch][keyframes][frame_len] (first_only: [batch][1][frame_len]). */
cv_status cv_pipeline_stage1(const cv_tokenizer *tok, const cv_pipeline_stage *s1, const char *prompt, int batch,
                             uint32_t sample0, bool first_only, const cv_pipeline_opts *o, int64_t *frames,
                             cv_error *err);

/* One stage-2 round: in [batch][n][frame_len] (n = (K - 1) 2^round + 1)
 * -> out [batch][2n - 1][frame_len]. */
cv_status cv_pipeline_round(const cv_tokenizer *tok, const cv_pipeline_stage *s2, const char *prompt, int batch,
                            uint32_t sample0, int round, const int64_t *in, int n, const cv_pipeline_opts *o,
                            int64_t *out, cv_error *err);

/* The round that turns n frames into 2n - 1 (n = (K - 1) 2^r + 1), or -1
 * if n is not of that form. */
int cv_pipeline_round_of(const cv_pipeline_config *c, int n);

/* Frames after R rounds from K keyframes: (K - 1) 2^R + 1. */
int cv_pipeline_frames_after(const cv_pipeline_config *c, int rounds);

/* The frame rate of a clip of n frames: (n - 1) / (keyframe_seconds) — the
 * keyframe video spans keyframe_seconds, and every round keeps the span. */
double cv_pipeline_fps(const cv_pipeline_config *c, int n);

#ifdef __cplusplus
}
#endif
#endif
