/* attention.h — CogVideo's two attention channels over explicit key sets
 * (internal to libcogvideo; the key-set rule is public as cv_model_keys).
 *
 * The original builds dense masks (score*m - 10000*(1-m)); masked entries are
 * exactly 0 after the fp32 softmax, so attending over the key set itself is
 * the same computation (golden/README.md, "Attention"). */
#ifndef CV_ATTENTION_H
#define CV_ATTENTION_H

/* Attention of fewer than this many (rows x keys x hidden) runs on one thread. */
#define CV_ATTN_PAR_MIN (1024.0 * 1024)

#include <stddef.h>

#include "model.h"

/* Where the keys and values of one channel of one call live: positions
 * >= call_start are rows of this call (k_new/v_new, row p - call_start);
 * older positions are cache rows: the base channel's cache holds text plus
 * ONE frame ("limited spatial memory": slot of p = p for text, text_len +
 * in-frame index for frames), the plus channel's cache every position. */
typedef struct {
    const float *q, *k_new, *v_new; /* row r at + r * ld_new (head h at + h * head_dim) */
    size_t ld_new;
    const float *k_old, *v_old;     /* cache rows, `hidden` floats each */
    int ring;                       /* 1: base-channel slot rule above */
} cv_attn_src;

/* ctx[r] (row stride ldctx) = attention output of the call's rows r in
 * [0, n) for channel q->channel (q->p is ignored: row r is position
 * q->call_start + r); rows that are text in the plus channel are left as
 * they are (the original never mixes them).  Returns CV_ERR_NOMEM if
 * scratch space cannot be had. */
cv_status cv_attention(const cv_hparams *hp, const cv_key_query *q, int n, const cv_attn_src *src,
                       float log_w, float *ctx, size_t ldctx, int nthreads);

/* One cv_attention call, for cv_attention_jobs. */
typedef struct {
    cv_key_query q;
    int n;
    cv_attn_src src;
    float log_w;
    float *ctx;
    size_t ldctx;
} cv_attn_job;

/* cv_attention for every job, in ONE parallel region: batched AR decode
 * has a job per sequence and channel, each of a single row, and one region
 * per job (16 per layer at batch 8) cost more than the arithmetic (measured
 * ~25 % of a batch-8 step on 12x3072 f16).  Every output is the same as
 * cv_attention's: a row's heads never depend on how the work is split. */
cv_status cv_attention_jobs(const cv_hparams *hp, const cv_attn_job *jobs, int njobs, int nthreads);

#endif
