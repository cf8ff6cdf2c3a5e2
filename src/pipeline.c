/* pipeline.c — text to video tokens: the phases of cogvideo_pipeline.py
 * (stage 1 first frame, stage 1 keyframes, stage 2 rounds) as batched fills
 * of src/filling.c with the CogLM sampler of src/sampler.c.  See
 * pipeline.h for the layout of each phase. */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "filling.h"
#include "npy.h"

void cv_pipeline_opts_default(cv_pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->guided1 = o->guided2 = -1;
    o->alpha = -1.0f;
}

/* ------------------------------------------------------------ loading */

static cv_status labels_from_npy(const char *path, int n_tokens, cv_clusters **out, cv_error *err)
{
    cv_npy a;
    int64_t *v = NULL;
    cv_status s = cv_npy_load_i64(path, &a, &v, err);
    if (s)
        return s;
    int32_t *lab = malloc((size_t)n_tokens * sizeof *lab);
    int64_t maxl = 0;
    if (a.ndim != 1 || a.shape[0] != n_tokens)
        s = cv_error_set(err, CV_ERR_ARG, "%s: %lld labels of rank %d (expected a vector of %d, one per image token)",
                         path, (long long)a.count, a.ndim, n_tokens);
    else if (!lab)
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    for (int t = 0; !s && t < n_tokens; t++) {
        if (v[t] < 0 || v[t] >= n_tokens)
            s = cv_error_set(err, CV_ERR_ARG, "%s: label %lld of token %d (expected 0..%d)", path, (long long)v[t],
                             t, n_tokens - 1);
        lab[t] = (int32_t)v[t];
        maxl = v[t] > maxl ? v[t] : maxl;
    }
    if (!s)
        s = cv_clusters_new(lab, n_tokens, (int)maxl + 1, out, err);
    free(lab);
    free(v);
    return s;
}

static cv_status labels_from_model(const cv_model *m, cv_clusters **out, cv_error *err)
{
    const cv_gguf *g = cv_model_gguf(m);
    const int n = cv_model_hparams(m)->image_tokens;
    if (!g || !cv_cluster_labels_present(g))
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: no cluster labels (expected metadata '%s'; make them with `cogvideo clusters` and "
                            "convert with --clusters, or pass --clusters LABELS.npy)",
                            cv_model_path(m), CV_KEY_CLUSTER_LABELS);
    int32_t *lab = NULL;
    int k = 0;
    cv_status s = cv_cluster_labels_read(g, n, &lab, &k, err);
    if (!s)
        s = cv_clusters_new(lab, n, k, out, err);
    free(lab);
    return s;
}

cv_status cv_pipeline_stage_open(const char *path, int stage, const char *labels_npy, cv_pipeline_stage *st,
                                 cv_error *err)
{
    memset(st, 0, sizeof *st);
    cv_status s = cv_model_load(path, &st->model, err);
    if (s)
        return s;
    const cv_hparams *hp = cv_model_hparams(st->model);
    if (hp->stage != stage)
        s = cv_error_set(err, CV_ERR_ARG, "%s: a stage-%d model (expected stage %d)", path, hp->stage, stage);
    if (!s)
        s = cv_pipeline_config_read(cv_model_gguf(st->model), &st->cfg, err);
    if (!s)
        s = labels_npy ? labels_from_npy(labels_npy, hp->image_tokens, &st->clusters, err)
                       : labels_from_model(st->model, &st->clusters, err);
    if (s)
        cv_pipeline_stage_close(st);
    return s;
}

void cv_pipeline_stage_close(cv_pipeline_stage *st)
{
    cv_clusters_free(st->clusters);
    cv_model_free(st->model);
    memset(st, 0, sizeof *st);
}

cv_status cv_pipeline_check_tokenizer(const cv_tokenizer *tok, const cv_model *m, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const int64_t off = cv_tokenizer_image_tokens(tok), n = (int64_t)cv_tokenizer_n_pieces(tok);
    static const char BOI[] = "<start_of_image>", NL[] = "<n>";
    const int64_t boi = cv_tokenizer_piece_id(tok, BOI, sizeof BOI - 1);
    const int64_t nl = cv_tokenizer_piece_id(tok, NL, sizeof NL - 1);
    if (off != hp->image_tokens)
        return cv_error_set(err, CV_ERR_ARG, "the tokenizer's text ids start at %lld (expected %d, %s's image tokens)",
                            (long long)off, hp->image_tokens, cv_model_path(m));
    if (boi != hp->boi_id || nl != hp->n_token_id)
        return cv_error_set(err, CV_ERR_ARG,
                            "the tokenizer has <start_of_image> = %lld and <n> = %lld (expected %d and %d, as %s)",
                            (long long)boi, (long long)nl, hp->boi_id, hp->n_token_id, cv_model_path(m));
    if (off + n > hp->vocab)
        return cv_error_set(err, CV_ERR_ARG,
                            "the tokenizer has %lld text pieces, ids up to %lld (expected ids below %d, %s's vocabulary)",
                            (long long)n, (long long)(off + n - 1), hp->vocab, cv_model_path(m));
    return CV_OK;
}

/* ------------------------------------------------------------ texts */

/* Appends enc(text) to *ids (grown by realloc). */
static cv_status append_enc(const cv_tokenizer *tok, const char *text, int64_t **ids, int *len, cv_error *err)
{
    cv_tokens t = {0};
    cv_status s = cv_tokenizer_encode(tok, text, strlen(text), &t, err);
    int64_t *p = s ? NULL : realloc(*ids, ((size_t)*len + t.n + 1) * sizeof *p);
    if (!s && !p)
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (!s) {
        memcpy(p + *len, t.ids, t.n * sizeof *p);
        *ids = p;
        *len += (int)t.n;
    }
    cv_tokens_free(&t);
    return s;
}

static cv_status append_id(int64_t id, int64_t **ids, int *len, cv_error *err)
{
    int64_t *p = realloc(*ids, ((size_t)*len + 1) * sizeof *p);
    if (!p)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    p[(*len)++] = id;
    *ids = p;
    return CV_OK;
}

/* The seconds of the duration prefix: the keyframe video spans
 * keyframe_seconds ("4.0秒"); a stage-2 job spans g - 1 gaps of its
 * parents, spaced keyframe_seconds / (K - 1) / 2^round ("2.0秒", ...). */
static double phase_seconds(const cv_pipeline_stage *st, cv_pipeline_phase phase, int round)
{
    const cv_pipeline_config *c = &st->cfg;
    if (phase != CV_PHASE_ROUND)
        return c->keyframe_seconds;
    const int g = (cv_model_hparams(st->model)->n_time_slots + 1) / 2;
    double gap = (double)c->keyframe_seconds / (c->keyframes - 1);
    for (int r = 0; r < round; r++)
        gap /= 2;
    return gap * (g - 1);
}

/* duration(seconds) + [<n>] + enc(text + suffix) */
static cv_status duration_text(const cv_tokenizer *tok, const cv_pipeline_stage *st, double sec, const char *text,
                               const char *suffix, int64_t **ids, int *len, cv_error *err)
{
    char dur[CV_PIPE_MAX_TEXT + 64];
    if (!cv_pipeline_duration_text(&st->cfg, sec, dur, sizeof dur))
        return cv_error_set(err, CV_ERR_ARG, "%s: duration_format '%s' does not fit", cv_model_path(st->model),
                            st->cfg.duration_format);
    char *full = malloc(strlen(text) + strlen(suffix) + 1);
    if (!full)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    strcat(strcpy(full, text), suffix);
    cv_status s = append_enc(tok, dur, ids, len, err);
    if (!s)
        s = append_id(cv_model_hparams(st->model)->n_token_id, ids, len, err);
    if (!s)
        s = append_enc(tok, full, ids, len, err);
    free(full);
    return s;
}

static cv_status check_len(const cv_pipeline_stage *st, const char *what, int len, cv_error *err)
{
    const int max = cv_model_hparams(st->model)->max_text_len;
    if (len > max)
        return cv_error_set(err, CV_ERR_ARG,
                            "%s: %d text tokens with the pipeline's prefix and suffix (expected at most %d, the text "
                            "limit of %s)",
                            what, len, max, cv_model_path(st->model));
    return CV_OK;
}

cv_status cv_pipeline_text(const cv_tokenizer *tok, const cv_pipeline_stage *st, cv_pipeline_phase phase,
                           int round, bool guided, const char *prompt, int64_t **ids, int *len, int64_t **gids,
                           int *glen, cv_error *err)
{
    *ids = *gids = NULL;
    *len = *glen = 0;
    const cv_pipeline_config *c = &st->cfg;
    cv_status s;
    if (phase == CV_PHASE_FIRST) {
        char *full = malloc(strlen(prompt) + strlen(c->first_frame_suffix) + 1);
        if (!full)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        s = append_enc(tok, strcat(strcpy(full, prompt), c->first_frame_suffix), ids, len, err);
        free(full);
        guided = false;
    } else {
        const double sec = phase_seconds(st, phase, round);
        /* the release appends " 视频" to the prompt only when guided (stage 1) */
        const char *suffix = guided && phase == CV_PHASE_VIDEO ? c->guided_suffix : "";
        s = duration_text(tok, st, sec, prompt, suffix, ids, len, err);
        if (!s && guided)
            s = duration_text(tok, st, sec, c->guider_text, "", gids, glen, err);
    }
    if (!s)
        s = check_len(st, "prompt", *len, err);
    if (!s && guided)
        s = check_len(st, "guider text", *glen, err);
    if (s) {
        free(*ids);
        free(*gids);
        *ids = *gids = NULL;
    }
    return s;
}

/* ------------------------------------------------------------ sampling */

/* The pick callback's view of one phase. */
typedef struct {
    const cv_pipeline_stage *st;
    const cv_pipeline_opts *o;
    cv_sampler *smp;
    cv_pipeline_phase phase;
    int round;
    uint32_t sample0;
    int jobs_per_sample, jobs, rows, steps;
    int per;              /* jobs per pass (max_jobs, or all of them) */
    int job0, chunk_jobs; /* the pass in progress: jobs [job0, job0 + chunk_jobs) */
    cv_status status; /* a sampler error, reported instead of fill's "bad token" */
    cv_error serr;    /* its message (fill writes its own into the caller's err) */
} pick_ctx;

/* Philox coordinates of one token: sample b, step = job-in-sample x steps
 * + step, draw = the phase (0 first frame, 1 keyframes, 2 + r round r), so
 * no two tokens of a seed share a block. */
static cv_rng_key token_key(const pick_ctx *c, int job, int step)
{
    cv_rng_key k = cv_sampler_key(c->o->seed, c->sample0 + (uint32_t)(job / c->jobs_per_sample),
                                  (uint32_t)(job % c->jobs_per_sample) * (uint32_t)c->steps + (uint32_t)step);
    k.draw = c->phase == CV_PHASE_ROUND ? 2u + (uint32_t)c->round : (uint32_t)c->phase;
    return k;
}

/* false: the progress callback asked to stop */
static bool report(const pick_ctx *c, const cv_fill_step *s)
{
    if (c->job0 + s->job == 0 && c->o->probe) {
        const cv_pipeline_probe p = {c->phase, c->round, s->step, c->steps, s->seq_index, s->logits};
        c->o->probe(c->o->ctx, &p);
    }
    if (s->job == c->chunk_jobs - 1 && c->o->progress) {
        /* several passes count as one phase of passes x steps */
        const int pass = c->job0 / c->per, passes = (c->jobs + c->per - 1) / c->per;
        const cv_pipeline_progress p = {c->phase, c->round, pass * c->steps + s->step + 1, passes * c->steps,
                                        cv_model_hparams(c->st->model)->frame_len, c->rows, c->chunk_jobs};
        return c->o->progress(c->o->ctx, &p);
    }
    return true;
}

static int64_t pick(void *vctx, const cv_fill_step *s)
{
    pick_ctx *c = vctx;
    const cv_pipeline_config *cfg = &c->st->cfg;
    const cv_hparams *hp = cv_model_hparams(c->st->model);
    cv_sampler_settings set = cfg->video;
    if (c->phase == CV_PHASE_FIRST) {
        /* the first frame's text length: its token `step` goes to tl + 1 + step */
        const int64_t tl = s->seq_index - 1 - s->step;
        if (cv_sampler_pick_settings(true, s->seq_index, tl, hp->frame_len, cfg->faithful_off_by_one) ==
            CV_STRATEGY_FIRST_FRAME)
            set = cfg->first;
    }
    int32_t tok = -1;
    c->status = cv_sampler_sample(c->smp, s->logits, set, token_key(c, c->job0 + s->job, s->step), &tok, &c->serr);
    if (c->status)
        return -1;
    if (!report(c, s)) {
        c->status = cv_error_set(&c->serr, CV_ERR_CANCELLED, "cancelled at step %d of %d", s->step + 1, c->steps);
        return -1;
    }
    return tok;
}

/* ------------------------------------------------------------ phases */

typedef struct {
    cv_fill_job *jobs;
    int64_t **gtext; /* per job: the guider's text + [BOI], or NULL */
    int n;
} job_set;

static void jobs_free(job_set *js)
{
    for (int i = 0; js->jobs && i < js->n; i++) {
        free(js->jobs[i].seq);
        free(js->gtext[i]);
    }
    free(js->jobs);
    free(js->gtext);
    memset(js, 0, sizeof *js);
}

/* Job i's sequence: text + [BOI] + the given frames + -1 for `gen` frames. */
static cv_status job_make(const cv_pipeline_stage *st, job_set *js, int i, const int64_t *text, int tl,
                          const int64_t *gtext, int gtl, const int64_t *const *given, int ngiven, int gen,
                          cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(st->model);
    const int L = hp->frame_len, len = tl + 1 + L * (ngiven + gen);
    int64_t *seq = malloc((size_t)len * sizeof *seq);
    if (!seq)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    memcpy(seq, text, (size_t)tl * sizeof *seq);
    seq[tl] = hp->boi_id;
    for (int f = 0; f < ngiven; f++)
        memcpy(seq + tl + 1 + (size_t)L * (size_t)f, given[f], (size_t)L * sizeof *seq);
    for (int p = tl + 1 + L * ngiven; p < len; p++)
        seq[p] = -1;
    js->jobs[i] = (cv_fill_job){seq, len, NULL, 0, NULL, {0}};
    if (gtext) {
        js->gtext[i] = malloc(((size_t)gtl + 1) * sizeof(int64_t));
        if (!js->gtext[i])
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        memcpy(js->gtext[i], gtext, (size_t)gtl * sizeof(int64_t));
        js->gtext[i][gtl] = hp->boi_id;
        js->jobs[i].guider = js->gtext[i];
        js->jobs[i].guider_len = gtl + 1;
    }
    return CV_OK;
}

static cv_status jobs_alloc(job_set *js, int n, cv_error *err)
{
    js->n = n;
    js->jobs = calloc((size_t)n, sizeof *js->jobs);
    js->gtext = calloc((size_t)n, sizeof *js->gtext);
    return js->jobs && js->gtext ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
}

/* Runs the batched fill of one phase with the sampler; sample0's first job
 * is reported to o->seqs. */
static cv_status run_fill(const cv_pipeline_stage *st, job_set *js, cv_fill_mode mode, cv_pipeline_phase phase,
                          int round, bool guided, uint32_t sample0, int jobs_per_sample, const cv_pipeline_opts *o,
                          cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(st->model);
    const float alpha = cv_pipeline_alpha(st, o);
    /* the release: log_text_attention_weights = 0 when guided, else 1.4 */
    const cv_fill_opts fo = {.mode = mode, .log_w = guided ? 0.0f : st->cfg.log_text_weight, .alpha = alpha,
                             .compat_guider_bug = o->compat_guider_bug, .nthreads = o->nthreads,
                             .batch_invariant = true};
    int64_t *seq0 = malloc((size_t)js->jobs[0].len * sizeof *seq0);
    pick_ctx c = {st, o, NULL, phase, round, sample0, jobs_per_sample, js->n, 0, 0, 0, 0, 0, CV_OK, {{0}}};
    cv_fill_info info;
    cv_status s = seq0 ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (!s)
        s = cv_fill_plan(hp, js->jobs[0].seq, js->jobs[0].len, js->jobs[0].guider, js->jobs[0].guider_len, &fo,
                         &info, err);
    if (!s) {
        c.steps = info.num_steps;
        memcpy(seq0, js->jobs[0].seq, (size_t)js->jobs[0].len * sizeof *seq0);
        s = cv_sampler_new(st->clusters, &c.smp, err);
    }
    /* passes of at most max_jobs jobs, in job order */
    c.per = o->max_jobs > 0 && o->max_jobs < js->n ? o->max_jobs : js->n;
    for (c.job0 = 0; !s && c.job0 < js->n; c.job0 += c.per) {
        c.chunk_jobs = js->n - c.job0 < c.per ? js->n - c.job0 : c.per;
        c.rows = c.chunk_jobs * (guided ? 2 : 1);
        s = cv_fill_batch(st->model, js->jobs + c.job0, c.chunk_jobs, &fo, pick, &c, err);
        if (c.status) {
            s = c.status;
            *err = c.serr;
        }
    }
    if (!s && o->seqs)
        o->seqs(o->ctx, phase, round, seq0, js->jobs[0].seq, js->jobs[0].len, js->jobs[0].guider,
                js->jobs[0].guider_len, fo.log_w, fo.alpha);
    cv_sampler_free(c.smp);
    free(seq0);
    return s;
}

bool cv_pipeline_guided(const cv_pipeline_stage *st, int flag)
{
    return flag < 0 ? st->cfg.guided : flag != 0;
}

float cv_pipeline_alpha(const cv_pipeline_stage *st, const cv_pipeline_opts *o)
{
    return o->alpha >= 0 ? o->alpha : st->cfg.guidance_alpha;
}

/* Stage 1, first frame: every sample is one job of the same text. */
static cv_status first_frames(const cv_tokenizer *tok, const cv_pipeline_stage *s1, const char *prompt, int batch,
                              uint32_t sample0, const cv_pipeline_opts *o, int stride, int64_t *frames,
                              cv_error *err)
{
    const int L = cv_model_hparams(s1->model)->frame_len;
    int64_t *text = NULL, *gt = NULL;
    int tl = 0, gtl = 0;
    job_set js = {0};
    cv_status s = cv_pipeline_text(tok, s1, CV_PHASE_FIRST, 0, false, prompt, &text, &tl, &gt, &gtl, err);
    if (!s)
        s = jobs_alloc(&js, batch, err);
    for (int b = 0; b < batch && !s; b++)
        s = job_make(s1, &js, b, text, tl, NULL, 0, NULL, 0, 1, err);
    if (!s)
        s = run_fill(s1, &js, CV_FILL_S1_FIRST, CV_PHASE_FIRST, 0, false, sample0, 1, o, err);
    for (int b = 0; b < batch && !s; b++)
        memcpy(frames + (size_t)b * (size_t)stride, js.jobs[b].seq + tl + 1, (size_t)L * sizeof *frames);
    jobs_free(&js);
    free(text);
    free(gt);
    return s;
}

/* Stage 1, keyframes 2..K after each sample's first frame (frames[b][0]). */
static cv_status keyframes(const cv_tokenizer *tok, const cv_pipeline_stage *s1, const char *prompt, int batch,
                           uint32_t sample0, const cv_pipeline_opts *o, int64_t *frames, cv_error *err)
{
    const int L = cv_model_hparams(s1->model)->frame_len, K = s1->cfg.keyframes;
    const bool guided = cv_pipeline_guided(s1, o->guided1);
    int64_t *text = NULL, *gt = NULL;
    int tl = 0, gtl = 0;
    job_set js = {0};
    cv_status s = cv_pipeline_text(tok, s1, CV_PHASE_VIDEO, 0, guided, prompt, &text, &tl, &gt, &gtl, err);
    if (!s)
        s = jobs_alloc(&js, batch, err);
    for (int b = 0; b < batch && !s; b++) {
        const int64_t *given = frames + (size_t)b * (size_t)K * (size_t)L;
        s = job_make(s1, &js, b, text, tl, gt, gtl, &given, 1, K - 1, err);
    }
    if (!s)
        s = run_fill(s1, &js, CV_FILL_S1_VIDEO, CV_PHASE_VIDEO, 0, guided, sample0, 1, o, err);
    for (int b = 0; b < batch && !s; b++)
        memcpy(frames + (size_t)b * (size_t)K * (size_t)L, js.jobs[b].seq + tl + 1,
               (size_t)K * (size_t)L * sizeof *frames);
    jobs_free(&js);
    free(text);
    free(gt);
    return s;
}

cv_status cv_pipeline_stage1(const cv_tokenizer *tok, const cv_pipeline_stage *s1, const char *prompt, int batch,
                             uint32_t sample0, bool first_only, const cv_pipeline_opts *o, int64_t *frames,
                             cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(s1->model);
    if (batch < 1)
        return cv_error_set(err, CV_ERR_ARG, "batch %d (expected at least 1)", batch);
    if (hp->stage != 1)
        return cv_error_set(err, CV_ERR_ARG, "%s: a stage-%d model (expected stage 1)", cv_model_path(s1->model),
                            hp->stage);
    cv_status s = cv_pipeline_check_tokenizer(tok, s1->model, err);
    const int stride = (first_only ? 1 : s1->cfg.keyframes) * hp->frame_len;
    if (!s)
        s = first_frames(tok, s1, prompt, batch, sample0, o, stride, frames, err);
    if (!s && !first_only)
        s = keyframes(tok, s1, prompt, batch, sample0, o, frames, err);
    return s;
}

/* ------------------------------------------------------------ stage 2 */

/* Given parents g = (S + 1) / 2 of the S time slots: model frames 0..g-1
 * must be the even slots 0, 2, ..., and g..S-1 the odd ones 1, 3, ... (the
 * release: [0, 2, 4, 1, 3]); returns g, or 0 if the slots are otherwise. */
static int given_frames(const cv_hparams *hp)
{
    const int S = hp->n_time_slots, g = (S + 1) / 2;
    if (S < 3 || S % 2 == 0)
        return 0;
    for (int i = 0; i < S; i++)
        if (hp->time_slots[i] != (i < g ? 2 * i : 2 * (i - g) + 1))
            return 0;
    return g;
}

int cv_pipeline_frames_after(const cv_pipeline_config *c, int rounds)
{
    return (c->keyframes - 1) * (1 << rounds) + 1;
}

int cv_pipeline_round_of(const cv_pipeline_config *c, int n)
{
    for (int r = 0; r < 24; r++)
        if (cv_pipeline_frames_after(c, r) == n)
            return r;
    return -1;
}

double cv_pipeline_fps(const cv_pipeline_config *c, int n)
{
    return n > 1 ? (n - 1) / (double)c->keyframe_seconds : 1.0;
}

/* The jobs of a round: per sample, the parent groups F[(g-1)i .. (g-1)i+g-1]. */
static cv_status round_jobs(const cv_pipeline_stage *s2, job_set *js, int batch, int jps, int g, const int64_t *in,
                            int n, const int64_t *text, int tl, const int64_t *gt, int gtl, cv_error *err)
{
    const size_t L = (size_t)cv_model_hparams(s2->model)->frame_len;
    const int64_t *given[CV_MAX_TIME_SLOTS];
    cv_status s = jobs_alloc(js, batch * jps, err);
    for (int b = 0; b < batch && !s; b++)
        for (int i = 0; i < jps && !s; i++) {
            for (int k = 0; k < g; k++)
                given[k] = in + ((size_t)b * (size_t)n + (size_t)((g - 1) * i + k)) * L;
            s = job_make(s2, js, b * jps + i, text, tl, gt, gtl, given, g, g - 1, err);
        }
    return s;
}

/* Merges a round's output in time order: parent k of job i at 2((g-1)i+k),
 * its generated frame k (slot 2k+1) right after it. */
static void round_merge(const job_set *js, int batch, int jps, int g, int tl_of_job0, size_t L, int n, int64_t *out)
{
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < jps; i++) {
            const int64_t *seq = js->jobs[b * jps + i].seq + tl_of_job0 + 1;
            for (int k = 0; k < g; k++) {
                int64_t *dst = out + ((size_t)b * (size_t)(2 * n - 1) + (size_t)(2 * ((g - 1) * i + k))) * L;
                memcpy(dst, seq + (size_t)k * L, L * sizeof *dst);
                if (k + 1 < g)
                    memcpy(dst + L, seq + (size_t)(g + k) * L, L * sizeof *dst);
            }
        }
}

cv_status cv_pipeline_round(const cv_tokenizer *tok, const cv_pipeline_stage *s2, const char *prompt, int batch,
                            uint32_t sample0, int round, const int64_t *in, int n, const cv_pipeline_opts *o,
                            int64_t *out, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(s2->model);
    const int g = given_frames(hp);
    if (hp->stage != 2 || !g)
        return cv_error_set(err, CV_ERR_ARG,
                            "%s: not a stage-2 model with time slots 0, 2, .. then 1, 3, .. (the release's [0,2,4,1,3])",
                            cv_model_path(s2->model));
    if (batch < 1 || n < g || (n - 1) % (g - 1) != 0)
        return cv_error_set(err, CV_ERR_ARG, "stage 2: %d frames per sample (expected %d + a multiple of %d)", n, g,
                            g - 1);
    const bool guided = cv_pipeline_guided(s2, o->guided2);
    const int jps = (n - 1) / (g - 1);
    int64_t *text = NULL, *gt = NULL;
    int tl = 0, gtl = 0;
    job_set js = {0};
    cv_status s = cv_pipeline_check_tokenizer(tok, s2->model, err);
    if (!s)
        s = cv_pipeline_text(tok, s2, CV_PHASE_ROUND, round, guided, prompt, &text, &tl, &gt, &gtl, err);
    if (!s)
        s = round_jobs(s2, &js, batch, jps, g, in, n, text, tl, gt, gtl, err);
    if (!s)
        s = run_fill(s2, &js, CV_FILL_S2_INTERP, CV_PHASE_ROUND, round, guided, sample0, jps, o, err);
    if (!s)
        round_merge(&js, batch, jps, g, tl, (size_t)hp->frame_len, n, out);
    jobs_free(&js);
    free(text);
    free(gt);
    return s;
}
