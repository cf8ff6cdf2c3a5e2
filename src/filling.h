/* filling.h — the call schedule of the original's my_filling_sequence:
 * one non-incremental call over the given prefix, then one incremental call
 * per token, optionally with a classifier-free-guidance "guider" sequence
 * batched with the main one.  A callback picks each token (a sampler, or a
 * teacher for the golden checks).  Semantics: golden/README.md, "Pipeline
 * sequence layout". */
#ifndef CV_FILLING_H
#define CV_FILLING_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CV_FILL_S1_FIRST = 0, /* stage-1 model, first frame: enforce_no_swin, CogView2 strategy */
    CV_FILL_S1_VIDEO = 1, /* stage-1 model, frames 2..5 after a given first frame */
    CV_FILL_S2_INTERP = 2 /* stage-2 model, 2 frames between 3 given parents (time slots) */
} cv_fill_mode;

typedef struct {
    cv_fill_mode mode;
    float log_w;            /* log_text_attention_weights of the main sequence */
    float alpha;            /* guidance: logits = u + (c - u) * alpha */
    bool compat_guider_bug; /* s2-interp: given frames at the MAIN text length + 1 in the
                               guider (bug 3 of the original); default: the guider's own */
    int nthreads;           /* <= 0: OpenMP default; never changes a bit of the results */
    bool batch_invariant;   /* a job's logits, hidden states and tokens are bit-identical to
                               its run alone (cv_fill_sequence with the same options),
                               whatever other jobs share the batch: each sequence's prefix
                               call runs as its own forward pass, and the steps use
                               cv_model_forward_opts / cv_model_logits_opts with
                               batch_invariant (model.h).  false: one pass for all the
                               prefix calls, and a step of one row takes the GEMV kernels,
                               so batching moves results in the last bits (the golden
                               runs and `cogvideo logits` use false) */
} cv_fill_opts;

typedef struct {
    int job;                     /* which job of cv_fill_batch (0 for cv_fill_sequence) */
    int step;                    /* 0, 1, ... */
    int seq_index;               /* where the picked token goes (= model position + 1) */
    int strategy;                /* 1: first-frame (CogView2) sampler, 2: video sampler */
    const float *logits;         /* [image_tokens], after guidance */
    const float *hidden;         /* [hidden] final-LN output of the main sequence */
    const float *hidden_uncond;  /* guider's, or NULL */
} cv_fill_step;

/* Returns the token to write at s->seq_index: an id in [0, vocab), or a
 * negative value to stop with CV_ERR_ARG. */
typedef int64_t (*cv_fill_pick)(void *ctx, const cv_fill_step *s);

typedef struct {
    int text_len, guider_text_len; /* guider: -1 without guidance */
    int prefix_len, guider_prefix_len;
    int num_steps;
} cv_fill_info;

/* Fills seq[0..len) in place: entries < 0 after the given prefix are
 * produced by `pick`.  seq = text + [BOI] + given frames + -1...; the text
 * length is the index of the first BOI.  guider (NULL: no guidance) is the
 * guider's text + [BOI] (anything after its first BOI is ignored: the given
 * frames are copied from seq); guider_out (may be NULL) receives the guider
 * sequence as built, glen = guider text length + len - text length. */
cv_status cv_fill_sequence(const cv_model *m, int64_t *seq, int len, const int64_t *guider, int guider_len,
                           const cv_fill_opts *o, cv_fill_pick pick, void *ctx, int64_t *guider_out,
                           cv_fill_info *info, cv_error *err);

/* One sequence of a batch: the arguments of cv_fill_sequence. */
typedef struct {
    int64_t *seq;               /* in/out: filled in place */
    int len;
    const int64_t *guider;      /* NULL: no guidance for this job */
    int guider_len;
    int64_t *guider_out;        /* may be NULL */
    cv_fill_info info;          /* out */
} cv_fill_job;

/* cv_fill_sequence for several jobs at once, in lockstep: one forward pass
 * per step serves every job (and every guider), so each weight is read once
 * per step for all of them (the pipeline's samples and stage-2 parent
 * triples).  The jobs may have different texts but must have the same frame
 * layout (the same prefix and length after the text: CV_ERR_ARG otherwise);
 * they share the options.  At each step `pick` is called for job 0, 1, ...
 * in order (s->job tells which).  A job's results equal its run alone up to
 * the last bits of the kernels (cv_model_forward: a batch of one row takes
 * the GEMV kernels), or bit for bit with o->batch_invariant. */
cv_status cv_fill_batch(const cv_model *m, cv_fill_job *jobs, int njobs, const cv_fill_opts *o, cv_fill_pick pick,
                        void *ctx, cv_error *err);

/* The guider sequence cv_fill_sequence builds (before any token is
 * generated): g[0 .. glen), glen = info->guider_text_len + len - info->text_len. */
void cv_fill_build_guider(const int64_t *seq, int len, const int64_t *guider, const cv_fill_info *info,
                          const cv_fill_opts *o, int64_t *g);

/* The layout facts alone (no model run), e.g. to size outputs. */
cv_status cv_fill_plan(const cv_hparams *hp, const int64_t *seq, int len, const int64_t *guider, int guider_len,
                       const cv_fill_opts *o, cv_fill_info *info, cv_error *err);

#ifdef __cplusplus
}
#endif
#endif
