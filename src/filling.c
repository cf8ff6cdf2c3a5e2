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

/* The first, non-incremental call of every sequence, as one batch. */
static cv_status prefix_calls(const cv_model *m, fseq *f, int nseq, const cv_fill_opts *o, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    cv_call calls[2];
    int64_t *buf[2] = {NULL, NULL};
    cv_status s = CV_OK;
    for (int i = 0; i < nseq && !s; i++) {
        buf[i] = malloc(2 * (size_t)f[i].prefix * sizeof(int64_t));
        if (!buf[i]) {
            s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
            break;
        }
        for (int p = 0; p < f[i].prefix; p++) {
            buf[i][p] = fed_id(hp, &f[i], p);
            buf[i][f[i].prefix + p] = position_id(hp, o->mode, f[i].tl, p);
        }
        /* quirk 5: the guider's first call also uses the main log_w */
        calls[i] = (cv_call){f[i].st, buf[i], buf[i] + f[i].prefix, f[i].prefix, f[i].tl, o->log_w,
                             o->mode == CV_FILL_S1_FIRST, NULL, NULL};
    }
    if (!s)
        s = cv_model_forward(m, calls, nseq, o->nthreads, err);
    free(buf[0]);
    free(buf[1]);
    return s;
}

/* One incremental step of every sequence at main model position p; the
 * logits (after guidance) go to logits[0 .. image_tokens). */
static cv_status ar_step(const cv_model *m, fseq *f, int nseq, int p, const cv_fill_opts *o, float *hid,
                         float *logits, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const size_t V = (size_t)hp->image_tokens;
    int64_t ids[2], pos[2];
    cv_call calls[2];
    for (int i = 0; i < nseq; i++) {
        const int q = p - f[0].tl + f[i].tl; /* the same frame token in sequence i */
        ids[i] = fed_id(hp, &f[i], q);
        pos[i] = position_id(hp, o->mode, f[i].tl, q);
        calls[i] = (cv_call){f[i].st, &ids[i], &pos[i], 1, f[i].tl, i == 0 ? o->log_w : 0.0f,
                             o->mode == CV_FILL_S1_FIRST, hid + (size_t)i * (size_t)hp->hidden, NULL};
    }
    cv_status s = cv_model_forward(m, calls, nseq, o->nthreads, err);
    if (s)
        return s;
    cv_model_logits(m, hid, nseq, logits, o->nthreads);
    if (nseq == 2) { /* classifier-free guidance: u + (c - u) * alpha */
        const float *u = logits + V;
        for (size_t t = 0; t < V; t++)
            logits[t] = u[t] + (logits[t] - u[t]) * o->alpha;
    }
    return CV_OK;
}

static cv_status run_steps(const cv_model *m, fseq *f, int nseq, const cv_fill_opts *o, cv_fill_pick pick,
                           void *ctx, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    float *hid = malloc(2 * (size_t)hp->hidden * sizeof *hid);
    float *logits = malloc(2 * (size_t)hp->image_tokens * sizeof *logits);
    cv_status s = hid && logits ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    for (int p = f[0].prefix, step = 0; !s && p < f[0].len - 1; p++, step++) {
        if ((s = ar_step(m, f, nseq, p, o, hid, logits, err)))
            break;
        /* bug 4 of the README: the first frame's last token (seq index
         * tl + 400) already uses the video strategy */
        const int strategy = o->mode == CV_FILL_S1_FIRST && p + 1 < f[0].tl + hp->frame_len ? 1 : 2;
        const cv_fill_step st = {step, p + 1, strategy, logits, hid, nseq == 2 ? hid + hp->hidden : NULL};
        const int64_t tok = pick(ctx, &st);
        if (tok < 0 || tok >= hp->vocab) {
            s = cv_error_set(err, CV_ERR_ARG, "step %d: token %lld for sequence index %d (expected 0..%d)", step,
                             (long long)tok, p + 1, hp->vocab - 1);
            break;
        }
        f[0].seq[p + 1] = tok;
        if (nseq == 2 && p + 1 - f[0].tl + f[1].tl < f[1].len)
            f[1].seq[p + 1 - f[0].tl + f[1].tl] = tok;
    }
    free(hid);
    free(logits);
    return s;
}

cv_status cv_fill_sequence(const cv_model *m, int64_t *seq, int len, const int64_t *guider, int guider_len,
                           const cv_fill_opts *o, cv_fill_pick pick, void *ctx, int64_t *guider_out,
                           cv_fill_info *info, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    cv_status s = cv_fill_plan(hp, seq, len, guider, guider_len, o, info, err);
    if (s)
        return s;
    fseq f[2] = {{seq, len, info->text_len, info->prefix_len, NULL}, {NULL, 0, 0, 0, NULL}};
    const int nseq = guider ? 2 : 1;
    if (guider) {
        f[1].len = info->guider_text_len + len - info->text_len;
        f[1].tl = info->guider_text_len;
        f[1].prefix = info->guider_prefix_len;
        f[1].seq = guider_out ? guider_out : malloc((size_t)f[1].len * sizeof(int64_t));
        if (!f[1].seq)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        cv_fill_build_guider(seq, len, guider, info, o, f[1].seq);
    }
    for (int i = 0; i < nseq && !s; i++)
        s = cv_state_new(m, f[i].len - 1, &f[i].st, err);
    if (!s && !(s = prefix_calls(m, f, nseq, o, err)))
        s = run_steps(m, f, nseq, o, pick, ctx, err);
    for (int i = 0; i < nseq; i++)
        cv_state_free(f[i].st);
    if (guider && !guider_out)
        free(f[1].seq);
    return s;
}
