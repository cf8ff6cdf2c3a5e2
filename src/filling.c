/* filling.c — my_filling_sequence's schedule (golden/README.md, "Pipeline
 * sequence layout"):
 *   seq = text(tl) + [BOI] + frames...; frame f token j at tl + 1 + 400 f + j.
 *   The fed sequence is seq with position tl + 400 f overwritten by BOI for
 *   every f (so the last token of frame f-1 is only ever a target).
 *   Call 1 (NAR) covers [0, tl + 400 nf), nf = (n_given - tl) div 400, with
 *   n_given the number of leading non-negative entries; every later call
 *   feeds one token at model position p and predicts seq[p + 1].
 *   Position ids: text p; stage 1 frame_pos_offset + (p - tl); stage 2
 *   frame_pos_offset + 400 slot(F) + j.
 *   Guidance: the guider runs in the same batch; its first call uses the main
 *   log_w, its incremental calls 0 (quirk 5); logits = u + (c - u) alpha. */
#include "filling.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t *seq;
    int len, tl, prefix;
    cv_state *st;
} fseq;

static int find_boi(const cv_hparams *hp, const int64_t *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] == hp->boi_id)
            return i;
    return -1;
}

static int64_t fed_id(const cv_hparams *hp, const fseq *f, int p)
{
    return p >= f->tl && (p - f->tl) % hp->frame_len == 0 ? hp->boi_id : f->seq[p];
}

static int64_t position_id(const cv_hparams *hp, cv_fill_mode mode, int tl, int p)
{
    if (p < tl)
        return p;
    if (mode != CV_FILL_S2_INTERP)
        return hp->frame_pos_offset + (p - tl);
    const int F = (p - tl) / hp->frame_len, j = (p - tl) % hp->frame_len;
    return hp->frame_pos_offset + (int64_t)hp->frame_len * hp->time_slots[F] + j;
}

static cv_status check_text(const cv_hparams *hp, const char *what, int tl, cv_error *err)
{
    if (tl < 0)
        return cv_error_set(err, CV_ERR_ARG, "%s has no <start_of_image> (id %d) (expected text + [BOI] + frames)",
                            what, hp->boi_id);
    if (tl > hp->max_text_len)
        return cv_error_set(err, CV_ERR_ARG, "%s: text of %d tokens (expected at most %d, the model's max_text_len)",
                            what, tl, hp->max_text_len);
    return CV_OK;
}

cv_status cv_fill_plan(const cv_hparams *hp, const int64_t *seq, int len, const int64_t *guider, int guider_len,
                       const cv_fill_opts *o, cv_fill_info *info, cv_error *err)
{
    const bool s2 = o->mode == CV_FILL_S2_INTERP;
    if (hp->stage != (s2 ? 2 : 1))
        return cv_error_set(err, CV_ERR_ARG, "mode %s needs a stage-%d model (this one is stage %d)",
                            s2 ? "s2-interp" : "s1-*", s2 ? 2 : 1, hp->stage);
    const int tl = find_boi(hp, seq, len);
    cv_status s = check_text(hp, "the sequence", tl, err);
    if (s)
        return s;
    int n_given = 0;
    while (n_given < len && seq[n_given] >= 0)
        n_given++;
    const int nf = (n_given - tl) / hp->frame_len, prefix = tl + hp->frame_len * nf;
    if (prefix < 1 || prefix >= len - 1)
        return cv_error_set(err, CV_ERR_ARG, "the sequence leaves nothing to generate (given prefix %d of %d tokens)",
                            prefix, len);
    const int frames = (len - 1 - tl + hp->frame_len - 1) / hp->frame_len;
    if (s2 && frames > hp->n_time_slots)
        return cv_error_set(err, CV_ERR_ARG, "the sequence has %d frames (expected at most %d, the model's time slots)",
                            frames, hp->n_time_slots);
    info->text_len = tl;
    info->prefix_len = prefix;
    info->num_steps = len - 1 - prefix;
    info->guider_text_len = info->guider_prefix_len = -1;
    if (guider) {
        const int gtl = find_boi(hp, guider, guider_len);
        if ((s = check_text(hp, "the guider sequence", gtl, err)))
            return s;
        info->guider_text_len = gtl;
        info->guider_prefix_len = gtl + hp->frame_len * nf;
    }
    return CV_OK;
}

/* The guider: its text + BOI, then the given frames of seq, written after
 * its own BOI, or (compat, stage 2 only) at the main text length + 1 as
 * process_stage2 does (bug 3: the gap stays -1 and embeds to zero). */
void cv_fill_build_guider(const int64_t *seq, int len, const int64_t *guider, const cv_fill_info *in,
                          const cv_fill_opts *o, int64_t *g)
{
    int n_given = 0;
    while (n_given < len && seq[n_given] >= 0)
        n_given++;
    const int glen = in->guider_text_len + len - in->text_len;
    const int tl = in->text_len, gtl = in->guider_text_len;
    const int dst = o->compat_guider_bug && o->mode == CV_FILL_S2_INTERP ? tl + 1 : gtl + 1;
    for (int i = 0; i < glen; i++)
        g[i] = -1;
    memcpy(g, guider, (size_t)(gtl + 1) * sizeof *g);
    for (int i = tl + 1; i < n_given && dst + i - (tl + 1) < glen; i++)
        g[dst + i - (tl + 1)] = seq[i];
}

/* The sequences of a batch: job j's main sequence, then its guider if it
 * has one; `job` and `guider` say which is which. */
typedef struct {
    fseq *f;
    int n;        /* sequences */
    int *job;     /* [n] */
    bool *guider; /* [n] */
} fbatch;

static cv_forward_opts forward_opts(const cv_fill_opts *o)
{
    const cv_forward_opts f = {o->nthreads, o->batch_invariant};
    return f;
}

/* The first, non-incremental call of every sequence: as one batch, or
 * (batch invariant) one pass per sequence, so that each GEMM has exactly
 * that sequence's rows, as when it runs alone. */
static cv_status prefix_calls(const cv_model *m, const fbatch *b, const cv_fill_opts *o, cv_error *err)
{
    const cv_forward_opts fo = forward_opts(o);
    const cv_hparams *hp = cv_model_hparams(m);
    cv_call *calls = calloc((size_t)b->n, sizeof *calls);
    int64_t **buf = calloc((size_t)b->n, sizeof *buf);
    cv_status s = calls && buf ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    for (int i = 0; i < b->n && !s; i++) {
        const fseq *f = &b->f[i];
        if (!(buf[i] = malloc(2 * (size_t)f->prefix * sizeof(int64_t)))) {
            s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
            break;
        }
        for (int p = 0; p < f->prefix; p++) {
            buf[i][p] = fed_id(hp, f, p);
            buf[i][f->prefix + p] = position_id(hp, o->mode, f->tl, p);
        }
        /* quirk 5: the guider's first call also uses the main log_w */
        calls[i] = (cv_call){f->st, buf[i], buf[i] + f->prefix, f->prefix, f->tl, o->log_w,
                             o->mode == CV_FILL_S1_FIRST, NULL, NULL};
    }
    if (!s && o->batch_invariant)
        for (int i = 0; i < b->n && !s; i++)
            s = cv_model_forward_opts(m, &calls[i], 1, &fo, err);
    else if (!s)
        s = cv_model_forward_opts(m, calls, b->n, &fo, err);
    for (int i = 0; buf && i < b->n; i++)
        free(buf[i]);
    free(buf);
    free(calls);
    return s;
}

/* One incremental step of every sequence at frame offset r (model position
 * tl + r of each); the logits (after guidance) of sequence i go to row i. */
static cv_status ar_step(const cv_model *m, const fbatch *b, int r, const cv_fill_opts *o, float *hid,
                         float *logits, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const size_t V = (size_t)hp->image_tokens;
    int64_t *ids = malloc(2 * (size_t)b->n * sizeof *ids);
    cv_call *calls = malloc((size_t)b->n * sizeof *calls);
    cv_status s = ids && calls ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    for (int i = 0; i < b->n && !s; i++) {
        const fseq *f = &b->f[i];
        ids[i] = fed_id(hp, f, f->tl + r);
        ids[b->n + i] = position_id(hp, o->mode, f->tl, f->tl + r);
        /* quirk 5: the guider's incremental calls use log_w = 0 */
        calls[i] = (cv_call){f->st, &ids[i], &ids[b->n + i], 1, f->tl, b->guider[i] ? 0.0f : o->log_w,
                             o->mode == CV_FILL_S1_FIRST, hid + (size_t)i * (size_t)hp->hidden, NULL};
    }
    const cv_forward_opts fo = forward_opts(o);
    if (!s)
        s = cv_model_forward_opts(m, calls, b->n, &fo, err);
    free(ids);
    free(calls);
    if (s)
        return s;
    cv_model_logits_opts(m, hid, b->n, logits, &fo);
    for (int i = 0; i + 1 < b->n; i++) {
        if (!b->guider[i + 1])
            continue;
        /* classifier-free guidance: u + (c - u) * alpha */
        float *c = logits + (size_t)i * V;
        const float *u = c + V;
        for (size_t t = 0; t < V; t++)
            c[t] = u[t] + (c[t] - u[t]) * o->alpha;
    }
    return CV_OK;
}

/* Writes job j's token at frame offset r + 1 into its sequence and guider. */
static void put_token(const fbatch *b, int i, int r, int64_t tok)
{
    b->f[i].seq[b->f[i].tl + r + 1] = tok;
    if (i + 1 < b->n && b->guider[i + 1] && b->f[i + 1].tl + r + 1 < b->f[i + 1].len)
        b->f[i + 1].seq[b->f[i + 1].tl + r + 1] = tok;
}

static cv_status run_steps(const cv_model *m, const fbatch *b, const cv_fill_opts *o, cv_fill_pick pick,
                           void *ctx, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    float *hid = malloc((size_t)b->n * (size_t)hp->hidden * sizeof *hid);
    float *logits = malloc((size_t)b->n * (size_t)hp->image_tokens * sizeof *logits);
    cv_status s = hid && logits ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    const fseq *f0 = &b->f[0];
    for (int r = f0->prefix - f0->tl, step = 0; !s && f0->tl + r < f0->len - 1; r++, step++) {
        if ((s = ar_step(m, b, r, o, hid, logits, err)))
            break;
        /* bug 4 of the README: the first frame's last token (seq index
         * tl + 400) already uses the video strategy */
        const int strategy = o->mode == CV_FILL_S1_FIRST && r + 1 < hp->frame_len ? 1 : 2;
        for (int i = 0; i < b->n && !s; i++) {
            if (b->guider[i])
                continue;
            const bool g = i + 1 < b->n && b->guider[i + 1];
            const float *hi = hid + (size_t)i * (size_t)hp->hidden;
            const cv_fill_step st = {b->job[i], step, b->f[i].tl + r + 1, strategy,
                                     logits + (size_t)i * (size_t)hp->image_tokens, hi,
                                     g ? hi + hp->hidden : NULL};
            const int64_t tok = pick(ctx, &st);
            if (tok < 0 || tok >= hp->vocab)
                s = cv_error_set(err, CV_ERR_ARG, "step %d: token %lld for sequence index %d (expected 0..%d)",
                                 step, (long long)tok, st.seq_index, hp->vocab - 1);
            else
                put_token(b, i, r, tok);
        }
    }
    free(hid);
    free(logits);
    return s;
}

/* Plans every job and lays out the batch's sequences (guiders built). */
static cv_status plan_batch(const cv_hparams *hp, cv_fill_job *jobs, int njobs, const cv_fill_opts *o, fbatch *b,
                            cv_error *err)
{
    b->n = 0;
    for (int j = 0; j < njobs; j++) {
        cv_fill_job *J = &jobs[j];
        cv_status s = cv_fill_plan(hp, J->seq, J->len, J->guider, J->guider_len, o, &J->info, err);
        if (s)
            return s;
        const cv_fill_info *a = &jobs[0].info, *c = &J->info;
        if (c->prefix_len - c->text_len != a->prefix_len - a->text_len || c->num_steps != a->num_steps)
            return cv_error_set(err, CV_ERR_ARG, "job %d: %d given and %d generated tokens after the text "
                                "(expected %d and %d, as job 0: jobs of a batch share one frame layout)",
                                j, c->prefix_len - c->text_len, c->num_steps, a->prefix_len - a->text_len,
                                a->num_steps);
        b->f[b->n] = (fseq){J->seq, J->len, c->text_len, c->prefix_len, NULL};
        b->job[b->n] = j, b->guider[b->n++] = false;
        if (!J->guider)
            continue;
        fseq *g = &b->f[b->n];
        *g = (fseq){J->guider_out, c->guider_text_len + J->len - c->text_len, c->guider_text_len,
                    c->guider_prefix_len, NULL};
        if (!g->seq && !(g->seq = malloc((size_t)g->len * sizeof(int64_t))))
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        b->job[b->n] = j, b->guider[b->n++] = true;
        cv_fill_build_guider(J->seq, J->len, J->guider, c, o, g->seq);
    }
    return CV_OK;
}

static void free_batch(fbatch *b, const cv_fill_job *jobs)
{
    for (int i = 0; b->f && i < b->n; i++) {
        cv_state_free(b->f[i].st);
        if (b->guider[i] && !jobs[b->job[i]].guider_out)
            free(b->f[i].seq);
    }
    free(b->f);
    free(b->job);
    free(b->guider);
}

cv_status cv_fill_batch(const cv_model *m, cv_fill_job *jobs, int njobs, const cv_fill_opts *o, cv_fill_pick pick,
                        void *ctx, cv_error *err)
{
    if (njobs < 1)
        return cv_error_set(err, CV_ERR_ARG, "fill: %d jobs (expected at least 1)", njobs);
    fbatch b = {calloc(2 * (size_t)njobs, sizeof *b.f), 0, calloc(2 * (size_t)njobs, sizeof *b.job),
                calloc(2 * (size_t)njobs, sizeof *b.guider)};
    cv_status s = b.f && b.job && b.guider ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (!s)
        s = plan_batch(cv_model_hparams(m), jobs, njobs, o, &b, err);
    for (int i = 0; i < b.n && !s; i++)
        s = cv_state_new(m, b.f[i].len - 1, &b.f[i].st, err);
    if (!s && !(s = prefix_calls(m, &b, o, err)))
        s = run_steps(m, &b, o, pick, ctx, err);
    free_batch(&b, jobs);
    return s;
}

cv_status cv_fill_sequence(const cv_model *m, int64_t *seq, int len, const int64_t *guider, int guider_len,
                           const cv_fill_opts *o, cv_fill_pick pick, void *ctx, int64_t *guider_out,
                           cv_fill_info *info, cv_error *err)
{
    cv_fill_job job = {seq, len, guider, guider_len, guider_out, {0}};
    const cv_status s = cv_fill_batch(m, &job, 1, o, pick, ctx, err);
    *info = job.info;
    return s;
}
