/* attention.c — key sets of CogVideo's dual-channel attention, and the
 * attention over them.  Every rule below is quoted from
 * ../shared/golden/README.md ("Attention"), which was validated against the
 * original code (CogVideo 5f914b7, SwissArmyTransformer 0.2.9). */
#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int add_range(int *keys, int n, int lo, int hi)
{
    for (int k = lo; k < hi; k++)
        keys[n++] = k;
    return n;
}

/* Swin window of a row (or column) coordinate for an AR query: rows
 * [*lo, *hi), "xs = ((x+s) div 10)*10 - s, xe = xs+10, clipped to [0,20]
 * (no wrap-around); for s=0 xs = 10*(x div 10)". */
static void swin_box(int x, int s, int win, int size, int *lo, int *hi)
{
    int xs = s > 0 ? ((x + s) / win) * win - s : (x / win) * win;
    int xe = xs + win;
    *lo = xs < 0 ? 0 : xs;
    *hi = xe > size ? size : xe;
}

/* Window index of a coordinate in a NAR call: the original rolls the frame
 * by -s (element x lands at (x - s) mod size) and cuts 10x10 windows with no
 * mask, so in shifted layers rows {15..19, 0..4} form one window. */
static int swin_nar_window(int x, int s, int win, int size)
{
    return (((x - s) % size + size) % size) / win;
}

static int swin_shift(const cv_hparams *hp, int layer)
{
    return layer % 2 == 1 ? hp->shift : 0;
}

/* Base channel: text (+w) and the same model-frame, causal; stage-2 NAR
 * calls see their whole model-frame (bidirectional). */
static int base_keys(const cv_hparams *hp, const cv_key_query *q, int *keys)
{
    const int tl = q->text_len, fl = hp->frame_len;
    int n = add_range(keys, 0, 0, tl);
    if (q->p < tl)
        return n; /* text query: all text, bidirectional */
    const int f0 = tl + (q->p - tl) / fl * fl;
    int end = q->p + 1;
    if (hp->stage == 2 && !q->incremental)
        end = f0 + fl < q->call_end ? f0 + fl : q->call_end;
    return add_range(keys, n, f0, end);
}

/* Stage 2, AR: the window box in every earlier model-frame, the box's cells
 * of the current frame before the query, and the query itself. */
static int swin_ar_keys(const cv_hparams *hp, const cv_key_query *q, int *keys, int n)
{
    const int tl = q->text_len, fl = hp->frame_len, fw = hp->frame_w;
    const int F = (q->p - tl) / fl, i = (q->p - tl) % fl, s = swin_shift(hp, q->layer);
    int x0, x1, y0, y1;
    swin_box(i / fw, s, hp->window, hp->frame_h, &x0, &x1);
    swin_box(i % fw, s, hp->window, fw, &y0, &y1);
    for (int f = 0; f <= F; f++)
        for (int x = x0; x < x1; x++)
            for (int y = y0; y < y1; y++) {
                const int j = x * fw + y;
                if (f < F || j < i)
                    keys[n++] = tl + f * fl + j;
            }
    keys[n++] = q->p;
    return n;
}

/* Stage 2, NAR: every frame token of the call in the same (wrapped) window,
 * in any frame, no causal mask (bug 2 of the README). */
static int swin_nar_keys(const cv_hparams *hp, const cv_key_query *q, int *keys, int n)
{
    const int tl = q->text_len, fl = hp->frame_len, fw = hp->frame_w, fh = hp->frame_h;
    const int s = swin_shift(hp, q->layer), i = (q->p - tl) % fl;
    const int wx = swin_nar_window(i / fw, s, hp->window, fh), wy = swin_nar_window(i % fw, s, hp->window, fw);
    for (int k = tl; k < q->call_end; k++) {
        const int j = (k - tl) % fl;
        if (swin_nar_window(j / fw, s, hp->window, fh) == wx && swin_nar_window(j % fw, s, hp->window, fw) == wy)
            keys[n++] = k;
    }
    return n;
}

/* local3d (DESIGN.md §2; no original code): the k x k neighbourhood (clipped
 * at the borders) in every earlier frame plus the causal part of the current
 * frame.  It is the same in NAR and AR calls. */
static int local3d_keys(const cv_hparams *hp, const cv_key_query *q, int *keys, int n)
{
    const int tl = q->text_len, fl = hp->frame_len, fw = hp->frame_w, r = hp->local3d_kernel / 2;
    const int F = (q->p - tl) / fl, i = (q->p - tl) % fl, x = i / fw, y = i % fw;
    const int x0 = x - r < 0 ? 0 : x - r, x1 = x + r + 1 > hp->frame_h ? hp->frame_h : x + r + 1;
    const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r + 1 > fw ? fw : y + r + 1;
    for (int f = 0; f < F; f++)
        for (int xx = x0; xx < x1; xx++)
            for (int yy = y0; yy < y1; yy++)
                keys[n++] = tl + f * fl + xx * fw + yy;
    return add_range(keys, n, tl + F * fl, q->p + 1);
}

int cv_model_keys(const cv_hparams *hp, const cv_key_query *q, int *keys, bool *text_bias)
{
    if (q->channel == 0) {
        *text_bias = true; /* local channel: +w in NAR and AR (on text queries it cancels) */
        return base_keys(hp, q, keys);
    }
    if (q->p < q->text_len) {
        *text_bias = false;
        return 0; /* text queries have no plus channel */
    }
    /* bug 1: the plus channel adds w to frame->text scores only in AR calls */
    *text_bias = q->incremental || hp->plus == CV_PLUS_LOCAL3D;
    const int n = add_range(keys, 0, 0, q->text_len);
    switch (hp->plus) {
    case CV_PLUS_FULL:
        return add_range(keys, n, q->text_len, q->p + 1);
    case CV_PLUS_SWIN:
        return q->incremental ? swin_ar_keys(hp, q, keys, n) : swin_nar_keys(hp, q, keys, n);
    case CV_PLUS_LOCAL3D:
        return local3d_keys(hp, q, keys, n);
    }
    return n;
}

/* ------------------------------------------------------------ attention */

static const float *key_row(const cv_attn_src *s, const cv_key_query *q, const cv_hparams *hp, int k, bool value)
{
    if (k >= q->call_start)
        return (value ? s->v_new : s->k_new) + (size_t)(k - q->call_start) * s->ld_new;
    int slot = k;
    if (s->ring && k >= q->text_len)
        slot = q->text_len + (k - q->text_len) % hp->frame_len;
    return (value ? s->v_old : s->k_old) + (size_t)slot * (size_t)hp->hidden;
}

/* Rows of one task: at most ROW_BLOCK consecutive query rows of a job.  In
 * NAR calls (prefill) runs of them have the same key list (the rows of one
 * Swin window, of one frame in the base channel), and a run is attended one
 * chunk of keys at a time for all its rows, so that the chunk's K and V
 * rows are read from memory once per run instead of once per row (they
 * stay in L2 across the run).  The multi-key kernels give the bits of one
 * mhdot / mhaxpy call per key in order (kernels.h), so a row's result does
 * not depend on the run or the chunks it falls in. */
enum { ROW_BLOCK = 8, KEY_CHUNK_BYTES = 256 * 1024 };

/* Keys per chunk: KEY_CHUNK_BYTES of K rows (floats per row: width), a
 * multiple of 8 (mhdotk's key groups), at least 8. */
static int key_chunk(size_t width)
{
    const size_t c = KEY_CHUNK_BYTES / (width * sizeof(float)) / 8 * 8;
    return c < 8 ? 8 : (int)c; /* width >= 1: c <= 65536 */
}

/* Per-thread scratch of cv_attention. */
typedef struct {
    int *keys;             /* [ROW_BLOCK][cap] the key lists of a task's rows */
    int nk[ROW_BLOCK];     /* their lengths */
    bool bias[ROW_BLOCK];  /* their text-bias flags */
    float *sc;             /* [ROW_BLOCK][heads][cap] scores, then weights */
    float *qs;             /* [ROW_BLOCK][hidden] scaled queries */
    const float **kp;      /* [cap] the K (then V) rows of a key list */
    int cap;
} scratch;

static bool scratch_alloc(scratch *w, const cv_hparams *hp, int cap)
{
    w->cap = cap;
    w->keys = malloc((size_t)ROW_BLOCK * (size_t)cap * sizeof *w->keys);
    w->sc = malloc((size_t)ROW_BLOCK * (size_t)hp->heads * (size_t)cap * sizeof *w->sc);
    w->qs = malloc((size_t)ROW_BLOCK * (size_t)hp->hidden * sizeof *w->qs);
    w->kp = malloc((size_t)cap * sizeof *w->kp);
    return w->keys && w->sc && w->qs && w->kp;
}

static void scratch_free(scratch *w)
{
    free(w->keys);
    free(w->sc);
    free(w->qs);
    free(w->kp);
}

/* Query rows q->p .. q->p + n - 1, heads [h0, h1), all with the key list
 * keys[0..nk) and text-bias flag `bias`; row b's output at out + b * ldout.
 * Per chunk of keys and row, one mhdotk and one mhaxpyk call cover all
 * those heads (a head's result does not depend on the others). */
static void attend_rows(const cv_hparams *hp, const cv_kernels *kt, const cv_key_query *q, int n,
                        const int *keys, int nk, bool bias, const cv_attn_src *s, float log_w, int h0,
                        int h1, scratch *w, float *out, size_t ldout)
{
    const size_t dh = (size_t)hp->head_dim, nh = (size_t)(h1 - h0), off = (size_t)h0 * dh;
    const size_t hid = (size_t)hp->hidden, ssz = nh * (size_t)nk;
    const float scale = sqrtf((float)dh);
    for (int b = 0; b < n; b++) {
        const float *qrow = s->q + (size_t)(q->p + b - q->call_start) * s->ld_new + off;
        for (size_t i = 0; i < nh * dh; i++)
            w->qs[(size_t)b * hid + i] = qrow[i] / scale; /* SAT: (q / sqrt(dh)) @ k^T */
    }
    for (int j = 0; j < nk; j++)
        w->kp[j] = key_row(s, q, hp, keys[j], false) + off;
    const int chunk = key_chunk(nh * dh);
    for (int c0 = 0; c0 < nk; c0 += chunk) {
        const size_t len = (size_t)(nk - c0 < chunk ? nk - c0 : chunk);
        for (int b = 0; b < n; b++)
            kt->mhdotk_f32(w->sc + (size_t)b * ssz + c0, (size_t)nk, w->qs + (size_t)b * hid, w->kp + c0, len, nh,
                           dh);
    }
    for (int j = 0; j < nk; j++) {
        const float bj = bias && keys[j] < q->text_len ? log_w : 0.0f;
        if (bj != 0.0f)
            for (int b = 0; b < n; b++)
                for (size_t h = 0; h < nh; h++)
                    w->sc[(size_t)b * ssz + h * (size_t)nk + (size_t)j] += bj;
    }
    for (int b = 0; b < n; b++) {
        for (size_t h = 0; h < nh; h++)
            kt->softmax_f32(w->sc + (size_t)b * ssz + h * (size_t)nk, (size_t)nk);
        memset(out + (size_t)b * ldout + off, 0, nh * dh * sizeof *out);
    }
    for (int j = 0; j < nk; j++)
        w->kp[j] = key_row(s, q, hp, keys[j], true) + off;
    for (int c0 = 0; c0 < nk; c0 += chunk) {
        const size_t len = (size_t)(nk - c0 < chunk ? nk - c0 : chunk);
        for (int b = 0; b < n; b++)
            kt->mhaxpyk_f32(out + (size_t)b * ldout + off, w->sc + (size_t)b * ssz + c0, (size_t)nk, w->kp + c0, len,
                            nh, dh);
    }
}

/* Rows r0 .. r0 + n - 1 (n <= ROW_BLOCK) of a job, all heads: each run of
 * consecutive rows with equal key lists is attended together. */
static void attend_block(const cv_hparams *hp, const cv_kernels *kt, const cv_attn_job *jb, int r0, int n,
                         scratch *w)
{
    cv_key_query q = jb->q;
    for (int b = 0; b < n; b++) {
        q.p = q.call_start + r0 + b;
        if (q.channel == 1 && q.p < q.text_len)
            w->nk[b] = -1; /* text queries have no plus channel: skipped */
        else
            w->nk[b] = cv_model_keys(hp, &q, w->keys + (size_t)b * w->cap, &w->bias[b]);
    }
    for (int b = 0, e = 1; b < n; b = e) {
        const int *kb = w->keys + (size_t)b * w->cap;
        if (w->nk[b] < 0) {
            e = b + 1;
            continue;
        }
        for (e = b + 1; e < n && w->nk[e] == w->nk[b] && w->bias[e] == w->bias[b] &&
                        !memcmp(w->keys + (size_t)e * w->cap, kb, (size_t)w->nk[b] * sizeof *kb);
             e++)
            ;
        q.p = q.call_start + r0 + b;
        attend_rows(hp, kt, &q, e - b, kb, w->nk[b], w->bias[b], &jb->src, jb->log_w, 0, hp->heads, w,
                    jb->ctx + (size_t)(r0 + b) * jb->ldctx, jb->ldctx);
    }
}

/* One query row, heads [h0, h1). */
static void attend_row(const cv_hparams *hp, const cv_kernels *kt, const cv_key_query *q, const cv_attn_src *s,
                       float log_w, int h0, int h1, scratch *w, float *out)
{
    bool bias;
    const int nk = cv_model_keys(hp, q, w->keys, &bias);
    attend_rows(hp, kt, q, 1, w->keys, nk, bias, s, log_w, h0, h1, w, out, 0);
}

/* Work items: with few rows in all (AR decode of one or two sequences)
 * rows x head groups, each row split into head groups so that every thread
 * has work (the split does not change any head's result); otherwise blocks
 * of ROW_BLOCK rows of a job. */
static int head_groups(const cv_hparams *hp, int rows)
{
    return rows >= 4 ? 1 : hp->heads < 8 ? hp->heads : 8;
}

static int job_blocks(const cv_attn_job *jb)
{
    return (jb->n + ROW_BLOCK - 1) / ROW_BLOCK;
}

/* Task t of the jobs' rows x G head groups (G > 1) or blocks (G == 1): its
 * job and first row in that job. */
static const cv_attn_job *task_job(const cv_attn_job *jobs, int t, int G, int *row)
{
    if (G == 1) {
        while (t >= job_blocks(jobs))
            t -= job_blocks(jobs++);
        *row = t * ROW_BLOCK;
        return jobs;
    }
    int r = t / G;
    while (r >= jobs->n)
        r -= (jobs++)->n;
    *row = r;
    return jobs;
}

cv_status cv_attention_jobs(const cv_hparams *hp, const cv_attn_job *jobs, int njobs, int nthreads)
{
    const cv_kernels *kt = cv_kernels_get();
    int rows = 0, blocks = 0, cap = 1, failed = 0;
    for (int j = 0; j < njobs; j++) {
        rows += jobs[j].n;
        blocks += job_blocks(&jobs[j]);
        cap = jobs[j].q.call_end > cap ? jobs[j].q.call_end : cap;
    }
    const int G = head_groups(hp, rows), tasks = G == 1 ? blocks : rows * G;
    /* about rows x keys x hidden x 2 multiply-adds: below CV_ATTN_PAR_MIN a
     * fork/join costs more than it saves (and stalls on a busy machine, as
     * in linear.c); the result does not depend on it */
    const double work = (double)rows * (double)cap * (double)hp->hidden;
    (void)nthreads;
    (void)work;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads > 0 ? nthreads : omp_get_max_threads()) if (tasks > 1 && work >= CV_ATTN_PAR_MIN)
#endif
    {
        scratch w;
        const bool ok = scratch_alloc(&w, hp, cap);
        if (!ok) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = 1;
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int t = 0; t < tasks; t++) {
            int r;
            const cv_attn_job *jb = task_job(jobs, t, G, &r);
            if (!ok)
                continue;
            if (G == 1) {
                attend_block(hp, kt, jb, r, jb->n - r < ROW_BLOCK ? jb->n - r : ROW_BLOCK, &w);
                continue;
            }
            cv_key_query q = jb->q;
            q.p = q.call_start + r;
            const int g = t % G;
            if (q.channel == 1 && q.p < q.text_len)
                continue;
            attend_row(hp, kt, &q, &jb->src, jb->log_w, g * hp->heads / G, (g + 1) * hp->heads / G, &w,
                       jb->ctx + (size_t)r * jb->ldctx);
        }
        scratch_free(&w);
    }
    return failed ? CV_ERR_NOMEM : CV_OK;
}

cv_status cv_attention(const cv_hparams *hp, const cv_key_query *q0, int n, const cv_attn_src *src, float log_w,
                       float *ctx, size_t ldctx, int nthreads)
{
    const cv_attn_job job = {*q0, n, *src, log_w, ctx, ldctx};
    return cv_attention_jobs(hp, &job, 1, nthreads);
}
