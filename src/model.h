/* model.h — the CogVideo transformer (one stage) loaded from GGUF, and its
 * forward pass with KV caches.
 *
 * Semantics: ../shared/golden/README.md, "The model, as executed by the
 * original code".  A model is one stage's checkpoint converted by
 * `cogvideo convert`; weights stay in the read-only mapping of the file
 * (f32, f16, bf16 or q8_0 matrices are used as they are, never expanded).
 *
 * Sequences.  A cv_state holds the caches of one sequence: "model positions"
 * 0, 1, ... are the tokens fed so far.  The first call on a state is
 * non-incremental (NAR: any number of tokens, starting at position 0); every
 * later call feeds exactly one token (AR), as my_filling_sequence does.
 * A cv_call is one sequence's part of a forward pass; cv_model_forward runs
 * several calls as one batch, so every weight is read once for all of them.
 *
 * Positions p < text_len are text; frame tokens follow: model-frame
 * F = (p - text_len) div frame_len, in-frame index i = (p - text_len) mod
 * frame_len, grid cell (x, y) = (i div frame_width, i mod frame_width). */
#ifndef CV_MODEL_H
#define CV_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"
#include "cv_types.h"
#include "gguf.h"
#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The attention-plus channel (DESIGN.md §2). */
typedef enum {
    CV_PLUS_FULL = 0,    /* stage 1: causal over every frame token */
    CV_PLUS_SWIN = 1,    /* stage 2: 3D (shifted) windows */
    CV_PLUS_LOCAL3D = 2, /* k x k neighbourhood in every earlier frame + causal current frame */
} cv_plus_kind;

#define CV_MAX_TIME_SLOTS 16

typedef struct {
    int stage;             /* 1 or 2 */
    int n_layers, hidden, heads, head_dim;
    int vocab, image_tokens; /* logits are over ids [0, image_tokens) */
    int boi_id, n_token_id;
    int pos_rows, extra_rows;          /* rows of the two position tables */
    int frame_pos_offset;              /* position id of the first frame's BOI (512) */
    int extra_pos_offset;              /* position ids >= this use the extra table (912) */
    int frame_h, frame_w, frame_len;   /* token grid (20 x 20 = 400) */
    int max_text_len;                  /* 74 */
    cv_plus_kind plus;
    int window, shift;                 /* swin: window 10, shift 5 on odd layers */
    int local3d_kernel;                /* local3d: odd k */
    int n_time_slots;                  /* stage 2: model-frame -> time slot [0,2,4,1,3] */
    int time_slots[CV_MAX_TIME_SLOTS];
    float ln_eps;
    cv_type matrix_type;               /* type of the qkv weights (for reports) */
} cv_hparams;

typedef struct cv_model cv_model;

/* Opens a GGUF written by `cogvideo convert` and checks every tensor's name,
 * shape and type, and the metadata's consistency (one-line errors naming the
 * file and key or tensor).  The kernels are the process-wide table. */
cv_status cv_model_load(const char *path, cv_model **m, cv_error *err);
void cv_model_free(cv_model *m); /* NULL is fine */

/* A model of the shape in *hp (n_layers, hidden, heads, vocab, image_tokens,
 * position tables, frame grid, attention-plus kind ...; head_dim and
 * frame_len are derived) with random weights of type t in memory: uniform
 * matrices (+-1.7/sqrt(fan_in), unit-variance outputs), unit LayerNorms,
 * zero biases, gate 0.5.  For benchmarks of shapes whose weights we do not
 * have; deterministic for a seed, whatever nthreads. */
cv_status cv_model_new_random(const cv_hparams *hp, cv_type t, uint64_t seed, int nthreads, cv_model **m,
                              cv_error *err);
const cv_hparams *cv_model_hparams(const cv_model *m);
const char *cv_model_path(const cv_model *m);
/* The GGUF the model was loaded from (its metadata), NULL for random weights. */
const cv_gguf *cv_model_gguf(const cv_model *m);
/* Bytes of weights read by one forward pass of one token (all matrices of
 * every layer, one embedding row or so excluded, plus the logits matrix). */
uint64_t cv_model_weight_bytes(const cv_model *m, bool with_logits);

/* Caches of one sequence for up to `capacity` model positions, text up to
 * max_text_len.  CV_ERR_NOMEM when they do not fit. */
typedef struct cv_state cv_state;
cv_status cv_state_new(const cv_model *m, int capacity, cv_state **st, cv_error *err);
void cv_state_free(cv_state *st);
/* The bytes cv_state_new allocates for `capacity` positions (both caches). */
uint64_t cv_state_bytes(const cv_model *m, int capacity);
int cv_state_length(const cv_state *st); /* model positions fed so far */

typedef struct {
    cv_state *st;
    const int64_t *ids;      /* n token ids; < 0 or >= vocab embed to zero (SAT does so) */
    const int64_t *pos;      /* n position ids */
    int n;                   /* NAR: st empty, n >= 1; AR: st non-empty, n == 1 */
    int text_len;            /* the sequence's text length (same in every call of a state) */
    float log_w;             /* log_text_attention_weights */
    bool enforce_no_swin;    /* first frame in CogView2 mode: base channel only */
    float *hidden;           /* out: [n, hidden] final-LayerNorm output, or NULL */
    float *layers;           /* out: [n_layers, n, hidden] every layer's output, or NULL */
} cv_call;

/* How a forward pass (and its logits) is computed. */
typedef struct {
    int nthreads;         /* <= 0: OpenMP default */
    bool batch_invariant; /* every call's outputs are bit-identical to running that call alone
                           * (with the same opts), whatever other calls share the pass */
} cv_forward_opts;

/* One forward pass of every call as one batch; appends the calls' tokens to
 * their states.  Results never depend on o->nthreads (fixed work
 * partitions).
 *
 * Without o->batch_invariant every Linear is ONE product over all rows of
 * the batch: the GEMV kernels for a batch of one row, the GEMM path
 * (small-m kernels, packing kernels or OpenBLAS, by row count) otherwise,
 * so batching a call with others may move its results in the last bits.
 *
 * With o->batch_invariant a call's rows are never in a product whose path
 * depends on the other calls: each call of n > 1 rows (NAR) gets its own
 * cv_gemm over exactly its rows, and the 1-row (AR) calls go through the
 * small-m kernels (cv_gemm_kernels, m <= CV_LINEAR_SMALL_M) in groups of
 * consecutive 1-row calls, whose elements do not depend on the other rows
 * (src/kernels.h); never the GEMV, packing or BLAS paths.  Everything else
 * in a layer is per row or per call.  The cost: a batch's NAR calls each
 * read the weights once, and a 1-row call alone takes gemms at m = 1
 * (measured 0.7-1.2 GEMVs with AVX-512, 1.3 with AVX2: simd/x86/gemms_*.c;
 * for q8_0 the GEMV is gemms at m = 1 anyway).  A call
 * with enforce_no_swin also leaves its state as it would alone (no
 * attention-plus cache), whatever the others need. */
cv_status cv_model_forward_opts(const cv_model *m, cv_call *calls, int ncalls, const cv_forward_opts *o,
                                cv_error *err);

/* cv_model_forward_opts without batch invariance (nthreads <= 0: OpenMP
 * default). */
cv_status cv_model_forward(const cv_model *m, cv_call *calls, int ncalls, int nthreads, cv_error *err);

/* logits[r, t] = hidden[r] . E[t] for t < image_tokens (tied output).
 * o->batch_invariant: row r's logits do not depend on the other rows (the
 * small-m kernels over groups of <= CV_LINEAR_SMALL_M rows, also for a
 * single row); otherwise one GEMV (rows == 1) or one cv_gemm. */
void cv_model_logits_opts(const cv_model *m, const float *hidden, int rows, float *logits,
                          const cv_forward_opts *o);
/* cv_model_logits_opts without batch invariance. */
void cv_model_logits(const cv_model *m, const float *hidden, int rows, float *logits, int nthreads);

/* argmax, max and logsumexp (accumulated in double) of each of `rows`
 * rows of n logits: what the golden runs record for every step. */
void cv_logits_stats(const float *logits, int rows, int n, int64_t *argmax, float *max, float *lse);

/* The attention key set of one query, the heart of the semantics, exposed
 * for tests and for porters: fills keys[] (model positions, ascending) and
 * returns their count; *text_bias_applies says whether log_w is added to the
 * text keys' scores.  keys[] needs room for call_end entries.  channel 0 = base, 1 = attention-plus; layer selects
 * the swin shift; incremental = AR call; call_start/call_end = the model
 * positions of the call (NAR: 0 and n). */
typedef struct {
    int channel, layer, text_len, p;
    bool incremental;
    int call_start, call_end;
} cv_key_query;
int cv_model_keys(const cv_hparams *hp, const cv_key_query *q, int *keys, bool *text_bias_applies);

#ifdef __cplusplus
}
#endif
#endif
