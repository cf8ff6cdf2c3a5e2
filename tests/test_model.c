/* test_model.c — the golden runs of golden/A through the C API (cv_convert,
 * cv_model_forward, cv_fill_sequence), the model's argument checks, and
 * model files it must refuse.
 *
 * Tolerances (golden/README.md, "Verification and tolerances": a float64 run
 * of the original moves float32 results by <= 1.1e-5 hidden, <= 3.8e-5
 * logits): hidden states 1e-4, logits / max / logsumexp 2e-4, 5e-4 when
 * guided (alpha = 3 amplifies), argmax identical (our runs have no top-2
 * gap below 1e-4 to excuse a difference). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "convert.h"
#include "filling.h"
#include "model.h"
#include "npy.h"
#include "test_files.h"

#define TOL_HIDDEN 1e-4
#define TOL_LOGITS 2e-4
#define TOL_LOGITS_GUIDED 5e-4

typedef struct {
    cv_model *s1, *s2;
} fixture;

static const char *golden(const char *run, const char *file)
{
    static char p[4096];
    const char *d = getenv("CV_TESTDATA");
    snprintf(p, sizeof p, "%s/golden-A/%s%s%s", d ? d : "testdata", run, file ? "/" : "", file ? file : "");
    return p;
}

static float *load_f32(const char *run, const char *file, cv_npy *a)
{
    float *v;
    cv_error err;
    if (cv_npy_load_f32(golden(run, file), a, &v, &err))
        fail_msg("%s", err.msg);
    a->data = v; /* so that cv_npy_free releases it */
    return v;
}

static int64_t *load_i64(const char *run, const char *file, cv_npy *a)
{
    int64_t *v;
    cv_error err;
    if (cv_npy_load_i64(golden(run, file), a, &v, &err))
        fail_msg("%s", err.msg);
    a->data = v; /* so that cv_npy_free releases it */
    return v;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        const double x = fabs((double)a[i] - (double)b[i]);
        d = x > d || isnan(x) ? x : d;
    }
    return d;
}

static void expect_close(const char *what, const char *run, const float *gold, const float *got, size_t n, double tol)
{
    const double d = max_diff(gold, got, n);
    printf("  %s %s: max|diff| %.3g (tol %g)\n", run, what, d, tol);
    if (!(d <= tol))
        fail_msg("%s %s: max|diff| %g > %g", run, what, d, tol);
}

static void expect_equal_i64(const char *what, const char *run, const int64_t *gold, const int64_t *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (gold[i] != got[i])
            fail_msg("%s %s[%zu]: %lld (golden %lld)", run, what, i, (long long)got[i], (long long)gold[i]);
}

/* meta.json fields of a run */
typedef struct {
    int text_len;
    double log_w;
    int enforce_no_swin;
} run_meta;

static run_meta read_meta(const char *run)
{
    json_error_t je;
    json_t *j = json_load_file(golden(run, "meta.json"), 0, &je);
    assert_non_null(j);
    run_meta m = {(int)json_integer_value(json_object_get(j, "text_len")),
                  json_number_value(json_object_get(j, "log_text_attention_weights")),
                  json_is_true(json_object_get(j, "enforce_no_swin"))};
    json_decref(j);
    return m;
}

static int setup(void **state)
{
    if (cv_test_setup_dir(state))
        return -1;
    fixture *f = calloc(1, sizeof *f);
    cv_error err;
    char dir[4096];
    for (int s = 1; s <= 2; s++) {
        snprintf(dir, sizeof dir, "%s", golden("ckpt", s == 1 ? "cogvideo-stage1" : "cogvideo-stage2"));
        const char *out = cv_test_path(s == 1 ? "s1.gguf" : "s2.gguf");
        if (cv_convert(dir, out, NULL, &err) || cv_model_load(out, s == 1 ? &f->s1 : &f->s2, &err)) {
            fprintf(stderr, "setup: %s\n", err.msg);
            return -1;
        }
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f) {
        cv_model_free(f->s1);
        cv_model_free(f->s2);
        free(f);
    }
    return cv_test_teardown_dir(state);
}

/* Under an emulator or the sanitizers (CV_SLOW set by configure) the long
 * runs take many minutes; the native builds run them all. */
static bool emulated(void)
{
    const char *e = getenv("CV_SLOW");
    return e && *e;
}

/* ------------------------------------------------------------ full forwards */

static void check_full(cv_model *m, const char *run, int nthreads)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const run_meta meta = read_meta(run);
    cv_npy ai, ap, al, ah, af, ak, alg, amx, alse, aam;
    int64_t *ids = load_i64(run, "input_ids.npy", &ai), *pos = load_i64(run, "position_ids.npy", &ap);
    int64_t *lidx = load_i64(run, "logits_pos_idx.npy", &ak), *am = load_i64(run, "argmax.npy", &aam);
    float *gl = load_f32(run, "hidden_layers.npy", &al), *gh = load_f32(run, "final_hidden.npy", &ah);
    float *glg = load_f32(run, "logits.npy", &alg), *gmx = load_f32(run, "max.npy", &amx);
    float *glse = load_f32(run, "lse.npy", &alse);
    (void)af;
    const int n = (int)ai.count, H = hp->hidden, V = hp->image_tokens;
    float *layers = malloc((size_t)hp->n_layers * (size_t)n * (size_t)H * sizeof *layers);
    float *hid = malloc((size_t)n * (size_t)H * sizeof *hid), *lg = malloc((size_t)n * (size_t)V * sizeof *lg);
    float *mx = malloc((size_t)n * sizeof *mx), *lse = malloc((size_t)n * sizeof *lse);
    int64_t *arg = malloc((size_t)n * sizeof *arg);
    cv_state *st;
    cv_error err;
    assert_int_equal(cv_state_new(m, n, &st, &err), CV_OK);
    cv_call c = {st, ids, pos, n, meta.text_len, (float)meta.log_w, meta.enforce_no_swin != 0, hid, layers};
    if (cv_model_forward(m, &c, 1, nthreads, &err))
        fail_msg("%s: %s", run, err.msg);
    cv_model_logits(m, hid, n, lg, nthreads);
    cv_logits_stats(lg, n, V, arg, mx, lse);
    expect_close("hidden_layers", run, gl, layers, al.count, TOL_HIDDEN);
    expect_close("final_hidden", run, gh, hid, ah.count, TOL_HIDDEN);
    for (size_t k = 0; k < ak.count; k++)
        expect_close("logits row", run, glg + k * (size_t)V, lg + (size_t)lidx[k] * (size_t)V, (size_t)V, TOL_LOGITS);
    expect_close("max", run, gmx, mx, (size_t)n, TOL_LOGITS);
    expect_close("lse", run, glse, lse, (size_t)n, TOL_LOGITS);
    expect_equal_i64("argmax", run, am, arg, (size_t)n);
    cv_state_free(st);
    free(layers), free(hid), free(lg), free(mx), free(lse), free(arg);
    cv_npy_free(&ai), cv_npy_free(&ap), cv_npy_free(&al), cv_npy_free(&ah), cv_npy_free(&ak);
    cv_npy_free(&alg), cv_npy_free(&amx), cv_npy_free(&alse), cv_npy_free(&aam);
}

static void test_full_forwards(void **state)
{
    fixture *f = *state;
    check_full(f->s1, "full_s1_first", 0);
    if (!emulated())
        check_full(f->s1, "full_s1_video", 0);
    check_full(f->s2, "full_s2_given", 0);
}

/* ------------------------------------------------------------ cache path */

typedef struct {
    const int64_t *teacher, *want;
    size_t n_want;
    int H, V;
    float *hidden, *hidden_u, *logits, *max, *lse;
    int64_t *argmax, *counter, *strategy;
    cv_npy teacher_npy, want_npy;
} rec;

static int64_t pick_teacher(void *ctx, const cv_fill_step *s)
{
    rec *r = ctx;
    const size_t i = (size_t)s->step;
    memcpy(r->hidden + i * (size_t)r->H, s->hidden, (size_t)r->H * sizeof(float));
    if (s->hidden_uncond)
        memcpy(r->hidden_u + i * (size_t)r->H, s->hidden_uncond, (size_t)r->H * sizeof(float));
    cv_logits_stats(s->logits, 1, r->V, &r->argmax[i], &r->max[i], &r->lse[i]);
    r->counter[i] = s->seq_index;
    r->strategy[i] = s->strategy;
    for (size_t k = 0; k < r->n_want; k++)
        if (r->want[k] == s->step)
            memcpy(r->logits + k * (size_t)r->V, s->logits, (size_t)r->V * sizeof(float));
    return r->teacher[s->seq_index];
}

static cv_fill_mode mode_of(const char *run)
{
    return !strcmp(run, "s1_first") ? CV_FILL_S1_FIRST : run[1] == '1' ? CV_FILL_S1_VIDEO : CV_FILL_S2_INTERP;
}

/* Runs a golden run through cv_fill_sequence; the records go to *r
 * (caller frees).  Returns the number of steps. */
static int run_fill(cv_model *m, const char *run, int nthreads, rec *r, int64_t **guider_built)
{
    const cv_hparams *hp = cv_model_hparams(m);
    cv_npy as, at, ag = {0}, aw;
    int64_t *seq = load_i64(run, "seq_in.npy", &as), *teacher = load_i64(run, "teacher.npy", &at);
    int64_t *want = load_i64(run, "step_logits_idx.npy", &aw), *g = NULL;
    FILE *gf = fopen(golden(run, "guider_seq_in.npy"), "rb");
    if (gf) {
        fclose(gf);
        g = load_i64(run, "guider_seq_in.npy", &ag);
    }
    const cv_fill_opts o = {mode_of(run), (float)read_meta(run).log_w, 3.0f, !strcmp(run, "s2_interp_guided"),
                            nthreads, false};
    cv_fill_info info;
    cv_error err;
    if (cv_fill_plan(hp, seq, (int)as.count, g, (int)ag.count, &o, &info, &err))
        fail_msg("%s: %s", run, err.msg);
    const size_t S = (size_t)info.num_steps, H = (size_t)hp->hidden, V = (size_t)hp->image_tokens;
    *r = (rec){teacher, want, aw.count, hp->hidden, hp->image_tokens, malloc(S * H * sizeof(float)),
               malloc(S * H * sizeof(float)), malloc(aw.count * V * sizeof(float)), malloc(S * sizeof(float)),
               malloc(S * sizeof(float)), malloc(S * 8), malloc(S * 8), malloc(S * 8), at, aw};
    const size_t glen = g ? (size_t)(info.guider_text_len + (int)as.count - info.text_len) : 1;
    *guider_built = calloc(glen, sizeof(int64_t));
    if (g) /* the guider as built from its text + the main sequence's frames */
        cv_fill_build_guider(seq, (int)as.count, g, &info, &o, *guider_built);
    if (cv_fill_sequence(m, seq, (int)as.count, g, (int)ag.count, &o, pick_teacher, r, NULL, &info, &err))
        fail_msg("%s: %s", run, err.msg);
    expect_equal_i64("filled sequence", run, teacher, seq, as.count);
    cv_npy_free(&ag), cv_npy_free(&as);
    return (int)S;
}

static void rec_free(rec *r)
{
    free(r->hidden), free(r->hidden_u), free(r->logits), free(r->max), free(r->lse);
    free(r->argmax), free(r->counter), free(r->strategy);
    cv_npy_free(&r->teacher_npy), cv_npy_free(&r->want_npy);
}

static void check_fill(cv_model *m, const char *run)
{
    rec r;
    int64_t *gb;
    const int S = run_fill(m, run, 0, &r, &gb);
    const bool guided = strstr(run, "guided") != NULL;
    const double tl = guided ? TOL_LOGITS_GUIDED : TOL_LOGITS;
    cv_npy a[9];
    /* loads first: a function's arguments have no evaluation order */
    const float *gh = load_f32(run, "step_hidden.npy", &a[0]), *gmx = load_f32(run, "step_max.npy", &a[3]);
    const float *glse = load_f32(run, "step_lse.npy", &a[4]), *glg = load_f32(run, "step_logits.npy", &a[5]);
    const int64_t *gam = load_i64(run, "step_argmax.npy", &a[6]), *gc = load_i64(run, "step_counter.npy", &a[7]);
    expect_close("step_hidden", run, gh, r.hidden, a[0].count, TOL_HIDDEN);
    if (guided) {
        const float *ghu = load_f32(run, "step_hidden_uncond.npy", &a[1]);
        const int64_t *gg = load_i64(run, "guider_seq_in.npy", &a[2]);
        expect_close("step_hidden_uncond", run, ghu, r.hidden_u, a[1].count, TOL_HIDDEN);
        expect_equal_i64("guider sequence", run, gg, gb, a[2].count);
        cv_npy_free(&a[1]), cv_npy_free(&a[2]);
    }
    expect_close("step_max", run, gmx, r.max, (size_t)S, tl);
    expect_close("step_lse", run, glse, r.lse, (size_t)S, tl);
    expect_close("step_logits", run, glg, r.logits, a[5].count, tl);
    expect_equal_i64("step_argmax", run, gam, r.argmax, (size_t)S);
    expect_equal_i64("step_counter", run, gc, r.counter, (size_t)S);
    cv_error err;
    if (cv_npy_load(golden(run, "step_strategy.npy"), &a[8], &err))
        fail_msg("%s", err.msg);
    for (int i = 0; i < S; i++)
        if (((const int8_t *)a[8].data)[i] != r.strategy[i])
            fail_msg("%s: step %d strategy %lld (golden %d)", run, i, (long long)r.strategy[i],
                     ((const int8_t *)a[8].data)[i]);
    cv_npy_free(&a[0]);
    for (int i = 3; i < 9; i++)
        cv_npy_free(&a[i]);
    rec_free(&r);
    free(gb);
}

static void test_s1_runs(void **state)
{
    fixture *f = *state;
    check_fill(f->s1, "s1_first");
    if (emulated()) {
        printf("  slow build (%s): s1_video_* left to the native builds\n", getenv("CV_SLOW"));
        return;
    }
    check_fill(f->s1, "s1_video_guided");
    check_fill(f->s1, "s1_video_noguide");
}

static void test_s2_runs(void **state)
{
    fixture *f = *state;
    if (emulated()) {
        printf("  slow build (%s): s2_interp_* left to the native builds\n", getenv("CV_SLOW"));
        skip();
    }
    check_fill(f->s2, "s2_interp_noguide");
    check_fill(f->s2, "s2_interp_guided");
    check_fill(f->s2, "s2_interp_guided_fixedguider");
}

/* Bit-identical records with 1 and 2 threads. */
static void test_threads(void **state)
{
    fixture *f = *state;
    rec r1, r2;
    if (emulated()) {
        printf("  slow build (%s): thread check left to the native builds\n", getenv("CV_SLOW"));
        skip();
    }
    int64_t *g1, *g2;
    const int S = run_fill(f->s2, "s2_interp_guided", 1, &r1, &g1);
    run_fill(f->s2, "s2_interp_guided", 2, &r2, &g2);
    const size_t H = (size_t)r1.H;
    assert_memory_equal(r1.hidden, r2.hidden, (size_t)S * H * sizeof(float));
    assert_memory_equal(r1.hidden_u, r2.hidden_u, (size_t)S * H * sizeof(float));
    assert_memory_equal(r1.argmax, r2.argmax, (size_t)S * 8);
    assert_memory_equal(r1.lse, r2.lse, (size_t)S * sizeof(float));
    rec_free(&r1), rec_free(&r2);
    free(g1), free(g2);
}

/* ------------------------------------------------------------ batches */

/* cv_fill_batch hands each job's steps to that job's record. */
static int64_t pick_job(void *ctx, const cv_fill_step *s)
{
    return pick_teacher((rec *)ctx + s->job, s);
}

/* A record for `steps` steps of a run's teacher, keeping no logits rows. */
static int64_t *job_setup(const char *run, int H, int V, int steps, rec *r, cv_npy *seq_npy)
{
    int64_t *seq = load_i64(run, "seq_in.npy", seq_npy);
    cv_npy at;
    const int64_t *teacher = load_i64(run, "teacher.npy", &at);
    const size_t S = (size_t)steps;
    *r = (rec){teacher, NULL, 0, H, V, malloc(S * (size_t)H * 4), malloc(S * (size_t)H * 4), NULL,
               malloc(S * 4), malloc(S * 4), malloc(S * 8), malloc(S * 8), malloc(S * 8), at, {0}};
    return seq;
}

/* Jobs of one batch reproduce their runs alone: three copies of the guided
 * stage-2 run each match the golden, and an unguided job with a shorter
 * text, batched between them, matches its own run through cv_fill_sequence.
 * Not bit for bit: the batch's prefix calls are one GEMM whose rows may take
 * different edge paths (OpenBLAS), which moves the last bits. */
static void test_fill_batch(void **state)
{
    fixture *f = *state;
    if (emulated()) {
        printf("  slow build (%s): batch check left to the native builds\n", getenv("CV_SLOW"));
        skip();
    }
    const cv_hparams *hp = cv_model_hparams(f->s2);
    const char *gr = "s2_interp_guided_fixedguider", *ur = "s2_interp_noguide";
    const int H = hp->hidden, V = hp->image_tokens;
    cv_npy as[4], ag;
    rec r[4], alone;
    const int64_t *g = load_i64(gr, "guider_seq_in.npy", &ag);
    cv_fill_job jobs[4];
    const cv_fill_opts o = {CV_FILL_S2_INTERP, 0.0f, 3.0f, false, 0, false};
    for (int j = 0; j < 4; j++) {
        const char *run = j == 1 ? ur : gr;
        int64_t *seq = job_setup(run, H, V, 800, &r[j], &as[j]);
        jobs[j] = (cv_fill_job){seq, (int)as[j].count, j == 1 ? NULL : g, j == 1 ? 0 : (int)ag.count, NULL, {0}};
    }
    cv_error err;
    if (cv_fill_batch(f->s2, jobs, 4, &o, pick_job, r, &err))
        fail_msg("batch: %s", err.msg);
    cv_npy a[3];
    const float *gh = load_f32(gr, "step_hidden.npy", &a[0]), *ghu = load_f32(gr, "step_hidden_uncond.npy", &a[1]);
    const float *glse = load_f32(gr, "step_lse.npy", &a[2]);
    assert_int_equal(a[0].count, 800 * (size_t)H);
    for (int j = 0; j < 4; j += j == 0 ? 2 : 1) {
        expect_close("batched step_hidden", gr, gh, r[j].hidden, a[0].count, TOL_HIDDEN);
        expect_close("batched step_hidden_uncond", gr, ghu, r[j].hidden_u, a[1].count, TOL_HIDDEN);
        expect_close("batched step_lse", gr, glse, r[j].lse, 800, TOL_LOGITS_GUIDED);
        expect_equal_i64("batched step_argmax", gr, r[0].argmax, r[j].argmax, 800);
    }
    /* the unguided job alone, with the same options */
    cv_npy au;
    int64_t *seq = job_setup(ur, H, V, 800, &alone, &au);
    cv_fill_info info;
    if (cv_fill_sequence(f->s2, seq, (int)au.count, NULL, 0, &o, pick_teacher, &alone, NULL, &info, &err))
        fail_msg("alone: %s", err.msg);
    expect_close("batched unguided step_hidden", ur, alone.hidden, r[1].hidden, 800 * (size_t)H, TOL_HIDDEN);
    expect_close("batched unguided step_lse", ur, alone.lse, r[1].lse, 800, TOL_LOGITS);
    expect_equal_i64("batched unguided filled sequence", ur, seq, jobs[1].seq, au.count);
    /* jobs must share the frame layout: job 1 one token short */
    for (int j = 0; j < 2; j++)
        for (int i = jobs[j].info.prefix_len + 1; i < jobs[j].len; i++)
            jobs[j].seq[i] = -1;
    jobs[1].len -= 1;
    assert_int_equal(cv_fill_batch(f->s2, jobs, 2, &o, pick_job, r, &err), CV_ERR_ARG);
    if (!strstr(err.msg, "job 1: ") || !strstr(err.msg, "share one frame layout"))
        fail_msg("layout error: %s", err.msg);
    for (int j = 0; j < 4; j++)
        rec_free(&r[j]), cv_npy_free(&as[j]);
    rec_free(&alone), cv_npy_free(&au), cv_npy_free(&ag);
    for (int i = 0; i < 3; i++)
        cv_npy_free(&a[i]);
}

/* ------------------------------------------------------------ batch invariance
 * Random small models (cv_model_new_random) of every weight type: with
 * batch_invariant, a job of cv_fill_batch must give the same bits as its
 * run alone through cv_fill_sequence, at every step (logits after
 * guidance, hidden state) and in its final tokens; the alone runs use one
 * thread, the batches two, so this shows thread independence too.  The
 * tokens are each step's argmax, so a one-bit difference would soon change
 * a token and the rest of the run with it. */

/* Stage 1: attention-plus "full", 4 x 4 frames, hidden 64, 4 heads.
 * Stage 2: "swin" (window 3, shift 1), 6 x 6 frames, hidden 128, 8 heads
 * (so a head group of the attention covers 8 heads or 1, attention.c). */
static cv_hparams small_hparams(int stage)
{
    cv_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.stage = stage;
    hp.n_layers = 2;
    hp.hidden = stage == 1 ? 64 : 128;
    hp.heads = stage == 1 ? 4 : 8;
    hp.vocab = 300;
    hp.image_tokens = 256;
    hp.boi_id = 290;
    hp.n_token_id = 291;
    hp.pos_rows = 160; /* frames from 16: stage 2 reaches 16 + 36 * 2 + 35 */
    hp.extra_rows = 16;
    hp.frame_pos_offset = 16;
    hp.extra_pos_offset = 160;
    hp.frame_h = hp.frame_w = stage == 1 ? 4 : 6;
    hp.max_text_len = 12;
    hp.plus = stage == 1 ? CV_PLUS_FULL : CV_PLUS_SWIN;
    hp.window = stage == 1 ? -1 : 3;
    hp.shift = stage == 1 ? 0 : 1;
    hp.n_time_slots = stage == 1 ? 0 : 3;
    hp.time_slots[0] = 0, hp.time_slots[1] = 2, hp.time_slots[2] = 1;
    hp.ln_eps = 1e-5f;
    return hp;
}

static cv_model *small_model(int stage, cv_type t)
{
    const cv_hparams hp = small_hparams(stage);
    cv_model *m;
    cv_error err;
    if (cv_model_new_random(&hp, t, 1234 + (uint64_t)stage, 0, &m, &err))
        fail_msg("random model: %s", err.msg);
    return m;
}

/* What a job's steps produced: logits (after guidance) and hidden state of
 * every step. */
typedef struct {
    int steps, H, V;
    float *logits, *hidden;
} inv_rec;

static int64_t pick_argmax(void *ctx, const cv_fill_step *s)
{
    inv_rec *r = (inv_rec *)ctx + s->job;
    if (s->step >= r->steps)
        return -1;
    memcpy(r->logits + (size_t)s->step * (size_t)r->V, s->logits, (size_t)r->V * sizeof(float));
    memcpy(r->hidden + (size_t)s->step * (size_t)r->H, s->hidden, (size_t)r->H * sizeof(float));
    int64_t best = 0;
    for (int i = 1; i < r->V; i++)
        best = s->logits[i] > s->logits[best] ? i : best;
    return best;
}

/* One batch: njobs jobs of the same frame layout, job j with a text of
 * 3 + (2j mod 7) tokens, a guider (text of 2 tokens) when guided[j]. */
enum { INV_MAX_JOBS = 5 };
typedef struct {
    int njobs, len[INV_MAX_JOBS];
    int64_t *seq[INV_MAX_JOBS], *given[INV_MAX_JOBS]; /* filled, and as given */
    int64_t guider[INV_MAX_JOBS][3];
    bool guided[INV_MAX_JOBS];
    inv_rec rec[INV_MAX_JOBS];
} inv_batch;

/* given frames (s1-video: 1, s2-interp: 2, s1-first: none) and generated
 * frames (s1: 2, s2: 1) */
static void inv_batch_new(inv_batch *b, const cv_hparams *hp, cv_fill_mode mode, int njobs, const bool *guided)
{
    const int fl = hp->frame_len, given = mode == CV_FILL_S1_FIRST ? 0 : mode == CV_FILL_S1_VIDEO ? 1 : 2;
    const int frames = mode == CV_FILL_S2_INTERP ? 3 : given + 2;
    memset(b, 0, sizeof *b);
    b->njobs = njobs;
    for (int j = 0; j < njobs; j++) {
        const int tl = 3 + (2 * j) % 7, len = tl + 1 + frames * fl;
        int64_t *s = malloc((size_t)len * sizeof *s);
        for (int i = 0; i < len; i++)
            s[i] = i < tl ? (37 * j + 11 * i + 5) % hp->image_tokens + 1 /* no BOI */
                   : i == tl ? hp->boi_id
                   : i <= tl + given * fl ? (13 * i + 7 * j) % hp->image_tokens : -1;
        b->len[j] = len;
        b->seq[j] = s;
        b->given[j] = malloc((size_t)len * sizeof *s);
        memcpy(b->given[j], s, (size_t)len * sizeof *s);
        b->guided[j] = guided[j];
        b->guider[j][0] = 17, b->guider[j][1] = 23, b->guider[j][2] = hp->boi_id;
        const int steps = len - 1 - (tl + given * fl);
        b->rec[j] = (inv_rec){steps, hp->hidden, hp->image_tokens,
                              malloc((size_t)steps * (size_t)hp->image_tokens * sizeof(float)),
                              malloc((size_t)steps * (size_t)hp->hidden * sizeof(float))};
    }
}

static void inv_batch_free(inv_batch *b)
{
    for (int j = 0; j < b->njobs; j++)
        free(b->seq[j]), free(b->given[j]), free(b->rec[j].logits), free(b->rec[j].hidden);
}

static void inv_run_batch(const cv_model *m, inv_batch *b, const cv_fill_opts *o)
{
    cv_fill_job jobs[INV_MAX_JOBS];
    for (int j = 0; j < b->njobs; j++)
        jobs[j] = (cv_fill_job){b->seq[j], b->len[j], b->guided[j] ? b->guider[j] : NULL, b->guided[j] ? 3 : 0,
                                NULL, {0}};
    cv_error err;
    if (cv_fill_batch(m, jobs, b->njobs, o, pick_argmax, b->rec, &err))
        fail_msg("batch: %s", err.msg);
}

/* Job j of b alone into *a (a batch of one job, same given tokens). */
static void inv_run_alone(const cv_model *m, const inv_batch *b, int j, const cv_fill_opts *o, inv_batch *a)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const inv_rec *r = &b->rec[j];
    memset(a, 0, sizeof *a);
    a->njobs = 1;
    a->len[0] = b->len[j];
    a->seq[0] = malloc((size_t)b->len[j] * sizeof(int64_t));
    a->given[0] = NULL;
    memcpy(a->seq[0], b->given[j], (size_t)b->len[j] * sizeof(int64_t));
    a->rec[0] = (inv_rec){r->steps, hp->hidden, hp->image_tokens,
                          malloc((size_t)r->steps * (size_t)hp->image_tokens * sizeof(float)),
                          malloc((size_t)r->steps * (size_t)hp->hidden * sizeof(float))};
    cv_fill_info info;
    cv_error err;
    if (cv_fill_sequence(m, a->seq[0], a->len[0], b->guided[j] ? b->guider[j] : NULL, b->guided[j] ? 3 : 0, o,
                         pick_argmax, a->rec, NULL, &info, &err))
        fail_msg("alone: %s", err.msg);
}

/* Steps of job j whose logits differ in any bit from its run alone. */
static int inv_diff_steps(const inv_batch *b, int j, const inv_batch *a)
{
    const inv_rec *r = &b->rec[j], *q = &a->rec[0];
    int n = 0;
    for (int i = 0; i < r->steps; i++)
        n += memcmp(r->logits + (size_t)i * (size_t)r->V, q->logits + (size_t)i * (size_t)r->V,
                    (size_t)r->V * sizeof(float)) != 0;
    return n;
}

/* Every job of a batch (two threads) against its run alone (one thread):
 * bit-identical logits and hidden states at every step, the same tokens. */
static void check_invariant(const cv_model *m, cv_fill_mode mode, int njobs, const bool *guided, const char *what)
{
    const cv_hparams *hp = cv_model_hparams(m);
    cv_fill_opts o = {mode, 1.4f, 3.0f, false, 2, true};
    inv_batch b, a;
    inv_batch_new(&b, hp, mode, njobs, guided);
    inv_run_batch(m, &b, &o);
    o.nthreads = 1;
    int rows = 0;
    for (int j = 0; j < njobs; j++) {
        rows += 1 + guided[j];
        inv_run_alone(m, &b, j, &o, &a);
        const inv_rec *r = &b.rec[j], *q = &a.rec[0];
        const int d = inv_diff_steps(&b, j, &a);
        if (d)
            fail_msg("%s %s: job %d: logits differ from its run alone at %d of %d steps", what,
                     cv_gguf_type_name(hp->matrix_type), j, d, r->steps);
        if (memcmp(r->hidden, q->hidden, (size_t)r->steps * (size_t)r->H * sizeof(float)))
            fail_msg("%s %s: job %d: hidden states differ from its run alone", what,
                     cv_gguf_type_name(hp->matrix_type), j);
        expect_equal_i64("tokens batched vs alone", what, a.seq[0], b.seq[j], (size_t)b.len[j]);
        inv_batch_free(&a);
    }
    printf("  %s %s: %d jobs (%d rows per step), %d steps: bit-identical to each job alone\n", what,
           cv_gguf_type_name(hp->matrix_type), njobs, rows, b.rec[0].steps);
    inv_batch_free(&b);
}

static void test_fill_invariant(void **state)
{
    (void)state;
    static const cv_type types[4] = {CV_TYPE_F32, CV_TYPE_F16, CV_TYPE_BF16, CV_TYPE_Q8_0};
    static const bool one_guided[3] = {false, true, false}, all_guided[INV_MAX_JOBS] = {1, 1, 1, 1, 1};
    for (int t = 0; t < 4; t++) {
        cv_model *s1 = small_model(1, types[t]), *s2 = small_model(2, types[t]);
        check_invariant(s1, CV_FILL_S1_VIDEO, 3, one_guided, "s1-video");
        check_invariant(s1, CV_FILL_S1_FIRST, 3, one_guided, "s1-first");
        /* 10 AR rows: the small-m groups are 8 + 2 rows in the batch */
        check_invariant(s1, CV_FILL_S1_VIDEO, 5, all_guided, "s1-video");
        check_invariant(s2, CV_FILL_S2_INTERP, 3, one_guided, "s2-interp");
        cv_model_free(s1);
        cv_model_free(s2);
    }
}

/* The forward pass itself, calls of any mix: a pass of several NAR calls
 * (5, 12 and 20 rows: gemms, packing gemm, OpenBLAS for f32), then a pass
 * mixing AR calls with a new sequence's NAR call, each call's hidden
 * states and layer outputs against the call run alone; then the logits of
 * 10 rows against each row alone. */
enum { FW_SEQS = 4, FW_CAP = 40 };

typedef struct {
    cv_state *st;
    int64_t ids[FW_CAP], pos[FW_CAP];
    float *hidden, *layers; /* [FW_CAP][H], [layers][FW_CAP][H] */
} fw_seq;

static void fw_seqs_new(const cv_model *m, fw_seq *q)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const size_t H = (size_t)hp->hidden;
    cv_error err;
    for (int j = 0; j < FW_SEQS; j++) {
        assert_int_equal(cv_state_new(m, FW_CAP, &q[j].st, &err), CV_OK);
        for (int p = 0; p < FW_CAP; p++) {
            q[j].ids[p] = p < 3 ? 40 + 7 * j + p : p == 3 ? hp->boi_id : (11 * p + 5 * j) % hp->image_tokens;
            q[j].pos[p] = p < 3 ? p : hp->frame_pos_offset + (p - 3);
        }
        q[j].hidden = calloc(FW_CAP * H, sizeof(float));
        q[j].layers = calloc((size_t)hp->n_layers * FW_CAP * H, sizeof(float));
    }
}

static void fw_seqs_free(fw_seq *q)
{
    for (int j = 0; j < FW_SEQS; j++)
        cv_state_free(q[j].st), free(q[j].hidden), free(q[j].layers);
}

/* The call feeding n tokens of sequence j from its current length. */
static cv_call fw_call(fw_seq *q, int j, int n)
{
    const int at = cv_state_length(q[j].st);
    return (cv_call){q[j].st, q[j].ids + at, q[j].pos + at, n, 3, 1.4f, false, q[j].hidden, q[j].layers};
}

/* One pass of calls (seqs[i] feeds n[i] tokens) batched, with 2 threads,
 * and each call alone in `alone`, with 1 thread: the same bits. */
static void fw_pass(const cv_model *m, fw_seq *batch, fw_seq *alone, const int *seqs, const int *n, int nc)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const size_t H = (size_t)hp->hidden;
    cv_forward_opts o = {2, true};
    cv_call calls[FW_SEQS];
    cv_error err;
    for (int i = 0; i < nc; i++)
        calls[i] = fw_call(batch, seqs[i], n[i]);
    if (cv_model_forward_opts(m, calls, nc, &o, &err))
        fail_msg("batched pass: %s", err.msg);
    o.nthreads = 1;
    for (int i = 0; i < nc; i++) {
        cv_call c = fw_call(alone, seqs[i], n[i]);
        if (cv_model_forward_opts(m, &c, 1, &o, &err))
            fail_msg("alone: %s", err.msg);
        const fw_seq *a = &alone[seqs[i]], *b = &batch[seqs[i]];
        const size_t rows = (size_t)n[i] * H;
        if (memcmp(a->hidden, b->hidden, rows * sizeof(float)) ||
            memcmp(a->layers, b->layers, (size_t)hp->n_layers * rows * sizeof(float)))
            fail_msg("%s: call %d (sequence %d, %d rows of %d calls) differs from its run alone",
                     cv_gguf_type_name(hp->matrix_type), i, seqs[i], n[i], nc);
    }
}

/* rows hidden states' logits at once (2 threads) and one row at a time. */
static void fw_logits(const cv_model *m, const float *hidden, int rows)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const size_t H = (size_t)hp->hidden, V = (size_t)hp->image_tokens;
    float *all = malloc((size_t)rows * V * sizeof(float)), *one = malloc(V * sizeof(float));
    cv_forward_opts o = {2, true};
    cv_model_logits_opts(m, hidden, rows, all, &o);
    o.nthreads = 1;
    for (int r = 0; r < rows; r++) {
        cv_model_logits_opts(m, hidden + (size_t)r * H, 1, one, &o);
        if (memcmp(one, all + (size_t)r * V, V * sizeof(float)))
            fail_msg("%s: logits of row %d of %d differ from the row alone", cv_gguf_type_name(hp->matrix_type), r,
                     rows);
    }
    free(all);
    free(one);
}

static void test_forward_invariant(void **state)
{
    (void)state;
    static const cv_type types[4] = {CV_TYPE_F32, CV_TYPE_F16, CV_TYPE_BF16, CV_TYPE_Q8_0};
    for (int t = 0; t < 4; t++) {
        cv_model *m = small_model(1, types[t]);
        const size_t H = (size_t)cv_model_hparams(m)->hidden;
        fw_seq b[FW_SEQS], a[FW_SEQS];
        fw_seqs_new(m, b);
        fw_seqs_new(m, a);
        const int s1[3] = {0, 1, 2}, n1[3] = {5, 12, 20};
        fw_pass(m, b, a, s1, n1, 3);
        const int s2[4] = {0, 3, 1, 2}, n2[4] = {1, 7, 1, 1};
        fw_pass(m, b, a, s2, n2, 4);
        for (int k = 0; k < 3; k++) {
            const int s3[4] = {2, 0, 3, 1}, n3[4] = {1, 1, 1, 1};
            fw_pass(m, b, a, s3, n3, 4);
        }
        /* logits of the 20 rows of sequence 2's prefix: groups of 8, 8, 4 */
        float *rows = malloc(20 * H * sizeof(float));
        cv_state *st;
        cv_error err;
        assert_int_equal(cv_state_new(m, FW_CAP, &st, &err), CV_OK);
        cv_call c = {st, b[2].ids, b[2].pos, 20, 3, 1.4f, false, rows, NULL};
        assert_int_equal(cv_model_forward(m, &c, 1, 0, &err), CV_OK);
        fw_logits(m, rows, 20);
        printf("  %s: NAR, mixed and AR passes and logits: bit-identical to each call alone\n",
               cv_gguf_type_name(types[t]));
        cv_state_free(st);
        free(rows);
        fw_seqs_free(b);
        fw_seqs_free(a);
        cv_model_free(m);
    }
}

/* The negative control: without batch_invariant an unguided job's steps
 * take the GEMV alone and the small-m GEMM in the batch, and its prefix
 * call shares one GEMM (OpenBLAS for f32) with the other sequences'.
 * Observed on x86 with OpenBLAS: job 0's logits differ at every step with
 * the avx2, avx512 and avx512vnni kernels, and with COGVIDEO_ISA=ref too,
 * whose gemv and gemms give the same bits by design (so there it is the
 * shared prefix GEMM).  A build without OpenBLAS on the reference kernels
 * (or on NEON, not measured) might show no difference, so a difference is
 * required only on the x86 SIMD levels, and reported everywhere. */
static void test_fill_not_invariant(void **state)
{
    (void)state;
    static const bool one_guided[3] = {false, true, false};
    cv_model *m = small_model(1, CV_TYPE_F32);
    cv_fill_opts o = {CV_FILL_S1_VIDEO, 1.4f, 3.0f, false, 1, false};
    inv_batch b, a;
    inv_batch_new(&b, cv_model_hparams(m), o.mode, 3, one_guided);
    inv_run_batch(m, &b, &o);
    inv_run_alone(m, &b, 0, &o, &a);
    const int d = inv_diff_steps(&b, 0, &a);
    const cv_isa isa = cv_kernels_get()->isa;
    printf("  without batch_invariant (f32, kernels %s): job 0's logits differ from its run alone at %d of "
           "%d steps\n", cv_isa_name(isa), d, b.rec[0].steps);
    if (isa == CV_ISA_AVX2 || isa == CV_ISA_AVX512 || isa == CV_ISA_AVX512VNNI)
        assert_true(d > 0);
    inv_batch_free(&a);
    inv_batch_free(&b);
    cv_model_free(m);
}

/* ------------------------------------------------------------ bad input */

static void expect_forward_error(const cv_model *m, cv_call *c, int nc, const char *text)
{
    cv_error err;
    err.msg[0] = '\0';
    assert_int_equal(cv_model_forward(m, c, nc, 1, &err), CV_ERR_ARG);
    if (!strstr(err.msg, text))
        fail_msg("error '%s' lacks '%s'", err.msg, text);
    assert_null(strchr(err.msg, '\n'));
}

static void test_bad_calls(void **state)
{
    fixture *f = *state;
    const cv_hparams *hp = cv_model_hparams(f->s1);
    cv_state *st, *st2;
    cv_error err;
    assert_int_equal(cv_state_new(f->s1, 8, &st, &err), CV_OK);
    assert_int_equal(cv_state_new(f->s1, 8, &st2, &err), CV_OK);
    int64_t ids[4] = {20010, 20011, hp->boi_id, 5}, pos[4] = {0, 1, 512, 513}, bad[4] = {0, 1, 512, 3000};
    cv_call c = {st, ids, pos, 4, 2, 1.4f, false, NULL, NULL};
    c.text_len = hp->max_text_len + 1;
    expect_forward_error(f->s1, &c, 1, "text length");
    c.text_len = 2;
    c.pos = bad;
    expect_forward_error(f->s1, &c, 1, "position id 3000 out of range");
    c.pos = pos;
    cv_call two[2] = {c, c};
    expect_forward_error(f->s1, two, 2, "share a state");
    assert_int_equal(cv_model_forward(f->s1, &c, 1, 1, &err), CV_OK);
    expect_forward_error(f->s1, &c, 1, "expected 1");        /* AR calls feed one token */
    c.n = 1;
    c.text_len = 3;
    expect_forward_error(f->s1, &c, 1, "the same in every call"); /* text length changed */
    c.text_len = 2;
    for (int i = 0; i < 4; i++)
        assert_int_equal(cv_model_forward(f->s1, &c, 1, 1, &err), CV_OK);
    expect_forward_error(f->s1, &c, 1, "capacity 8");
    /* a sequence begun with enforce_no_swin has no attention-plus cache */
    cv_call e = {st2, ids, pos, 4, 2, 1.4f, true, NULL, NULL};
    assert_int_equal(cv_model_forward(f->s1, &e, 1, 1, &err), CV_OK);
    e.enforce_no_swin = false;
    e.n = 1;
    expect_forward_error(f->s1, &e, 1, "enforce_no_swin");
    cv_state_free(st);
    cv_state_free(st2);
}

static void test_bad_fill(void **state)
{
    fixture *f = *state;
    const cv_hparams *hp = cv_model_hparams(f->s1);
    int64_t seq[8] = {20010, 20011, 20012, -1, -1, -1, -1, -1};
    cv_fill_opts o = {CV_FILL_S1_FIRST, 1.4f, 3.0f, false, 1, false};
    cv_fill_info info;
    cv_error err;
    assert_int_equal(cv_fill_plan(hp, seq, 8, NULL, 0, &o, &info, &err), CV_ERR_ARG);
    assert_non_null(strstr(err.msg, "no <start_of_image> (id 20400)"));
    seq[3] = hp->boi_id;
    o.mode = CV_FILL_S2_INTERP;
    assert_int_equal(cv_fill_plan(hp, seq, 8, NULL, 0, &o, &info, &err), CV_ERR_ARG);
    assert_non_null(strstr(err.msg, "needs a stage-2 model"));
    o.mode = CV_FILL_S1_FIRST;
    assert_int_equal(cv_fill_plan(hp, seq, 8, NULL, 0, &o, &info, &err), CV_OK);
    assert_int_equal(info.text_len, 3);
    assert_int_equal(info.prefix_len, 3);
    assert_int_equal(info.num_steps, 4);
}

/* Model files the loader must refuse, with the file and the reason. */
static void test_bad_models(void **state)
{
    (void)state;
    char dir[4096];
    const char *d = getenv("CV_TESTDATA");
    snprintf(dir, sizeof dir, "%s/sat-tiny", d ? d : "testdata");
    cv_error err;
    cv_model *m = NULL;
    const char *tiny = cv_test_path("tiny.gguf");
    cv_convert_opts o;
    cv_convert_opts_default(&o);
    o.image_tokens = 64; /* its vocabulary has 110 ids */
    assert_int_equal(cv_convert(dir, tiny, &o, &err), CV_OK);
    assert_int_equal(cv_model_load(tiny, &m, &err), CV_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "tiny.gguf: inconsistent hyper-parameters (expected extra_pos_offset"));
    size_t n;
    unsigned char *b = cv_test_read_all(cv_test_path("s1.gguf"), &n);
    const char *cut = cv_test_path("cut.gguf");
    cv_test_write_bytes(cut, b, n / 2);
    assert_int_not_equal(cv_model_load(cut, &m, &err), CV_OK);
    assert_non_null(strstr(err.msg, "cut.gguf"));
    free(b);
    assert_int_equal(cv_model_load(cv_test_path("missing.gguf"), &m, &err), CV_ERR_IO);
    /* a LayerNorm epsilon that is not a finite positive number (a run on
     * it would be NaN or inf everywhere) */
    const float eps[3] = {0.0f, -1e-5f, INFINITY};
    for (int i = 0; i < 3; i++) {
        cv_test_patch_gguf_value(cv_test_path("s1.gguf"), cv_test_path("eps.gguf"), "cogvideo.layernorm_eps", 6,
                                 &eps[i], 4);
        assert_int_equal(cv_model_load(cv_test_path("eps.gguf"), &m, &err), CV_ERR_FORMAT);
        assert_null(m);
        assert_non_null(strstr(err.msg, "eps.gguf: inconsistent hyper-parameters (expected a finite layernorm_eps > 0)"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_forwards), cmocka_unit_test(test_s1_runs),  cmocka_unit_test(test_s2_runs),
        cmocka_unit_test(test_threads),       cmocka_unit_test(test_bad_calls), cmocka_unit_test(test_bad_fill),
        cmocka_unit_test(test_bad_models),   cmocka_unit_test(test_fill_batch),
        cmocka_unit_test(test_forward_invariant), cmocka_unit_test(test_fill_invariant),
        cmocka_unit_test(test_fill_not_invariant),
    };
    cv_test_dir_name("test_model");
    return cmocka_run_group_tests(tests, setup, teardown);
}
