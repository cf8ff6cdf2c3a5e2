/* logits.c — `cogvideo logits`: a teacher-forced run through the real cache
 * path (my_filling_sequence's schedule, src/filling.c), written in the golden
 * run format (golden/README.md, "Files of a run directory"), so that a port
 * to new hardware can be diffed against ours file by file. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "filling.h"
#include "model.h"
#include "npy.h"
#include "outfile.h"

static void logits_usage(FILE *out)
{
    fprintf(out,
            "usage: cogvideo logits -m MODEL.gguf --mode s1-first|s1-video|s2-interp --seq SEQ.npy\n"
            "                       --teacher FULL.npy [--guider-seq G.npy] [--log-text-weight W]\n"
            "                       [--guidance-alpha A] [--logits-steps IDX.npy] [--compat-guider-bug]\n"
            "                       [--batch-invariant]\n"
            "                       [--threads N] -o RUN_DIR\n"
            "Runs the pipeline's call schedule (one call over the given prefix, then one token per\n"
            "call through the KV caches), feeding the teacher's tokens instead of sampling, and\n"
            "writes RUN_DIR in the golden run format: step_counter, step_strategy, step_argmax,\n"
            "step_max, step_lse, step_hidden (+ step_hidden_uncond when guided) .npy, step_logits.npy\n"
            "+ step_logits_idx.npy for --logits-steps, seq_in.npy, teacher.npy, guider_seq_in.npy\n"
            "(the guider as built), meta.json.\n"
            "  --mode M              s1-first: first frame (enforce_no_swin, stage-1 model);\n"
            "                        s1-video: frames 2-5 (stage 1); s2-interp: interpolation (stage 2)\n"
            "  --seq SEQ.npy         int64: text + <start_of_image> + given frames + -1 to generate\n"
            "  --teacher FULL.npy    int64, as long as SEQ: the tokens to feed\n"
            "  --guider-seq G.npy    guidance: the guider's text + <start_of_image> (the rest is\n"
            "                        ignored; the given frames are copied from SEQ)\n"
            "  --log-text-weight W   log_text_attention_weights (default 1.4, or 0 when guided)\n"
            "  --guidance-alpha A    logits = u + (c - u) * A (default 3)\n"
            "  --logits-steps IDX    int64 step indices whose full logits are written\n"
            "  --batch-invariant     the kernels `generate` uses, whose results do not depend on the\n"
            "                        batch (its logits equal these bit for bit)\n"
            "  --compat-guider-bug   s2-interp: place the guider's frames at the main text length + 1,\n"
            "                        as the original's process_stage2 does (its bug 3)\n"
            "  --threads N           worker threads (default: OMP_NUM_THREADS or all cores)\n");
}

typedef struct {
    const char *model, *seq, *teacher, *guider, *steps, *out, *mode_name;
    cv_fill_opts o;
    bool have_w;
} lg_args;

static const char **str_flag(lg_args *a, const char *f)
{
    return !strcmp(f, "-m") || !strcmp(f, "--model") ? &a->model
           : !strcmp(f, "--mode")                    ? &a->mode_name
           : !strcmp(f, "--seq")                     ? &a->seq
           : !strcmp(f, "--teacher")                 ? &a->teacher
           : !strcmp(f, "--guider-seq")              ? &a->guider
           : !strcmp(f, "--logits-steps")            ? &a->steps
           : !strcmp(f, "-o") || !strcmp(f, "--out") ? &a->out
                                                     : NULL;
}

static int parse_mode(lg_args *a)
{
    static const char *const names[] = {"s1-first", "s1-video", "s2-interp"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(a->mode_name, names[i])) {
            a->o.mode = (cv_fill_mode)i;
            return CV_EXIT_OK;
        }
    return cv_cli_fail(CV_EXIT_USAGE, "--mode: '%s' is not one of s1-first, s1-video, s2-interp", a->mode_name);
}

static int parse_lg(int argc, char **argv, lg_args *a)
{
    memset(a, 0, sizeof *a);
    a->o.alpha = 3.0f;
    a->o.batch_invariant = false; /* one sequence: the golden runs' kernel paths */
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--batch-invariant")) {
            a->o.batch_invariant = true;
            continue;
        }
        if (!strcmp(f, "--compat-guider-bug")) {
            a->o.compat_guider_bug = true;
            continue;
        }
        const char **str = str_flag(a, f);
        const bool num = !strcmp(f, "--log-text-weight") || !strcmp(f, "--guidance-alpha") || !strcmp(f, "--threads");
        if (!str && !num)
            return cv_cli_fail(CV_EXIT_USAGE, "logits: unknown argument '%s' (see cogvideo logits --help)", f);
        if (i + 1 >= argc)
            return cv_cli_fail(CV_EXIT_USAGE, "logits: %s needs a value", f);
        const char *v = argv[++i];
        int rc = CV_EXIT_OK;
        if (str)
            *str = v;
        else if (!strcmp(f, "--threads"))
            rc = cv_cli_int(f, v, 1, 1024, &a->o.nthreads);
        else if (!strcmp(f, "--guidance-alpha"))
            rc = cv_cli_float(f, v, -1e4f, 1e4f, &a->o.alpha);
        else if (!(rc = cv_cli_float(f, v, -1e4f, 1e4f, &a->o.log_w)))
            a->have_w = true;
        if (rc)
            return rc;
    }
    if (!a->model || !a->mode_name || !a->seq || !a->teacher || !a->out)
        return cv_cli_fail(CV_EXIT_USAGE, "logits: -m, --mode, --seq, --teacher and -o are required (see cogvideo logits --help)");
    if (!a->have_w)
        a->o.log_w = a->guider ? 0.0f : 1.4f; /* the pipeline's values */
    return parse_mode(a);
}

/* What the teacher callback records, step by step. */
typedef struct {
    const int64_t *teacher;
    const int64_t *want; /* --logits-steps, sorted or not */
    int n_want, V, H;
    int64_t *counter, *argmax;
    int8_t *strategy;
    float *max, *lse, *hidden, *hidden_u, *logits;
} recorder;

static int64_t teacher_pick(void *ctx, const cv_fill_step *s)
{
    recorder *r = ctx;
    const size_t i = (size_t)s->step, H = (size_t)r->H;
    r->counter[i] = s->seq_index;
    r->strategy[i] = (int8_t)s->strategy;
    cv_logits_stats(s->logits, 1, r->V, &r->argmax[i], &r->max[i], &r->lse[i]);
    memcpy(r->hidden + i * H, s->hidden, H * sizeof(float));
    if (s->hidden_uncond)
        memcpy(r->hidden_u + i * H, s->hidden_uncond, H * sizeof(float));
    for (int k = 0; k < r->n_want; k++)
        if (r->want[k] == s->step)
            memcpy(r->logits + (size_t)k * (size_t)r->V, s->logits, (size_t)r->V * sizeof(float));
    return r->teacher[s->seq_index];
}

/* The teacher must agree with every given token and be a valid id wherever
 * it is fed or recorded. */
static cv_status check_teacher(const lg_args *a, const int64_t *seq, const int64_t *t, int len, int vocab,
                               cv_error *err)
{
    for (int i = 0; i < len; i++) {
        if (seq[i] >= 0 && t[i] != seq[i])
            return cv_error_set(err, CV_ERR_ARG, "%s: token %d is %lld but the sequence gives %lld (expected equal)",
                                a->teacher, i, (long long)t[i], (long long)seq[i]);
        if (t[i] < 0 || t[i] >= vocab)
            return cv_error_set(err, CV_ERR_ARG, "%s: token %d is %lld (expected 0..%d)", a->teacher, i,
                                (long long)t[i], vocab - 1);
    }
    return CV_OK;
}

static cv_status write_meta(const lg_args *a, const cv_fill_info *in, const char *path, cv_error *err)
{
    static const char *const modes[] = {"s1-first", "s1-video", "s2-interp"};
    json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:i, s:f, s:f, s:b, s:b, s:i}", "mode", modes[a->o.mode], "model",
                          a->model, "text_len", in->text_len, "guider_text_len", in->guider_text_len, "num_steps",
                          in->num_steps, "log_text_attention_weights", (double)a->o.log_w, "guidance_alpha",
                          (double)a->o.alpha, "guidance", a->guider != NULL, "compat_guider_bug",
                          a->o.compat_guider_bug, "prefix_len", in->prefix_len);
    char *txt = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!txt)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    cv_outfile of;
    cv_status s = cv_outfile_open(&of, path, err);
    if (!s && !(s = cv_outfile_write(&of, txt, strlen(txt), err)))
        s = cv_outfile_commit(&of, err);
    free(txt);
    return s;
}

static void rec_free(recorder *r)
{
    free(r->counter);
    free(r->argmax);
    free(r->strategy);
    free(r->max);
    free(r->lse);
    free(r->hidden);
    free(r->hidden_u);
    free(r->logits);
}

static cv_status rec_alloc(recorder *r, int S, int H, int V, int n_want, bool guided, cv_error *err)
{
    r->V = V;
    r->H = H;
    r->n_want = n_want;
    r->counter = malloc((size_t)S * sizeof *r->counter);
    r->argmax = malloc((size_t)S * sizeof *r->argmax);
    r->strategy = malloc((size_t)S);
    r->max = malloc((size_t)S * sizeof(float));
    r->lse = malloc((size_t)S * sizeof(float));
    r->hidden = malloc((size_t)S * (size_t)H * sizeof(float));
    r->hidden_u = guided ? malloc((size_t)S * (size_t)H * sizeof(float)) : NULL;
    r->logits = calloc((size_t)n_want * (size_t)V + 1, sizeof(float));
    if (!r->counter || !r->argmax || !r->strategy || !r->max || !r->lse || !r->hidden || (guided && !r->hidden_u) ||
        !r->logits)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory for the records of %d steps", S);
    return CV_OK;
}

typedef struct {
    const char *name;
    cv_dtype dt;
    int nd;
    int64_t sh[2];
    const void *d;
} npy_out;

static cv_status write_run(const lg_args *a, const recorder *r, const cv_fill_info *in, const int64_t *seq_in,
                           const int64_t *teacher, int len, const int64_t *guider, int glen, cv_error *err)
{
    const int64_t S = in->num_steps, H = r->H, K = r->n_want;
    const npy_out f[] = {
        {"step_counter.npy", CV_DT_I64, 1, {S, 0}, r->counter},
        {"step_strategy.npy", CV_DT_I8, 1, {S, 0}, r->strategy},
        {"step_argmax.npy", CV_DT_I64, 1, {S, 0}, r->argmax},
        {"step_max.npy", CV_DT_F32, 1, {S, 0}, r->max},
        {"step_lse.npy", CV_DT_F32, 1, {S, 0}, r->lse},
        {"step_hidden.npy", CV_DT_F32, 2, {S, H}, r->hidden},
        {"step_hidden_uncond.npy", CV_DT_F32, 2, {S, H}, r->hidden_u},
        {"step_logits.npy", CV_DT_F32, 2, {K, r->V}, K ? r->logits : NULL},
        {"step_logits_idx.npy", CV_DT_I64, 1, {K, 0}, K ? r->want : NULL},
        {"seq_in.npy", CV_DT_I64, 1, {len, 0}, seq_in},
        {"teacher.npy", CV_DT_I64, 1, {len, 0}, teacher},
        {"guider_seq_in.npy", CV_DT_I64, 1, {glen, 0}, guider},
    };
    char path[4096];
    cv_status s = cv_cli_make_dir(a->out, err);
    for (size_t i = 0; i < sizeof f / sizeof f[0] && !s; i++) {
        if (!f[i].d)
            continue;
        snprintf(path, sizeof path, "%s/%s", a->out, f[i].name);
        s = cv_npy_save(path, f[i].dt, f[i].nd, f[i].sh, f[i].d, err);
    }
    if (!s) {
        snprintf(path, sizeof path, "%s/meta.json", a->out);
        s = write_meta(a, in, path, err);
    }
    return s;
}

typedef struct {
    cv_npy seq, teacher, guider, steps;
    int64_t *s, *t, *g, *w;
    int64_t *work, *gbuf;
} lg_inputs;

/* sequences and step lists: at most 2^24 entries */
static cv_status load_vec(const char *path, cv_npy *a, int64_t **v, cv_error *err)
{
    return cv_cli_load_ids(path, (size_t)1 << 24, a, v, err);
}

static cv_status load_inputs(const lg_args *a, lg_inputs *in, cv_error *err)
{
    cv_status s;
    if ((s = load_vec(a->seq, &in->seq, &in->s, err)) || (s = load_vec(a->teacher, &in->teacher, &in->t, err)) ||
        (a->guider && (s = load_vec(a->guider, &in->guider, &in->g, err))) ||
        (a->steps && (s = load_vec(a->steps, &in->steps, &in->w, err))))
        return s;
    if (in->teacher.count != in->seq.count)
        return cv_error_set(err, CV_ERR_ARG, "%s: %zu tokens (expected %zu, as many as --seq)", a->teacher,
                            in->teacher.count, in->seq.count);
    return CV_OK;
}

static cv_status run_logits(const lg_args *a, cv_error *err)
{
    lg_inputs in = {0};
    recorder r = {0};
    cv_model *m = NULL;
    cv_fill_info info;
    cv_status s;
    if ((s = load_inputs(a, &in, err)) || (s = cv_model_load(a->model, &m, err)))
        goto done;
    const cv_hparams *hp = cv_model_hparams(m);
    const int len = (int)in.seq.count, glen_in = (int)in.guider.count;
    if ((s = cv_fill_plan(hp, in.s, len, in.g, glen_in, &a->o, &info, err)) ||
        (s = check_teacher(a, in.s, in.t, len, hp->vocab, err)))
        goto done;
    for (size_t k = 0; k < in.steps.count; k++)
        if (in.w[k] < 0 || in.w[k] >= info.num_steps) {
            s = cv_error_set(err, CV_ERR_ARG, "%s: step %lld out of range (expected 0..%d)", a->steps,
                             (long long)in.w[k], info.num_steps - 1);
            goto done;
        }
    const int glen = a->guider ? info.guider_text_len + len - info.text_len : 0;
    in.work = malloc((size_t)len * sizeof(int64_t));
    in.gbuf = malloc(((size_t)glen + 1) * 2 * sizeof(int64_t));
    if (!in.work || !in.gbuf || (s = rec_alloc(&r, info.num_steps, hp->hidden, hp->image_tokens,
                                               (int)in.steps.count, a->guider != NULL, err))) {
        s = s ? s : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        goto done;
    }
    r.teacher = in.t;
    r.want = in.w;
    memcpy(in.work, in.s, (size_t)len * sizeof(int64_t));
    if (a->guider)
        cv_fill_build_guider(in.s, len, in.g, &info, &a->o, in.gbuf + glen);
    if (!(s = cv_fill_sequence(m, in.work, len, in.g, glen_in, &a->o, teacher_pick, &r, a->guider ? in.gbuf : NULL,
                               &info, err)))
        s = write_run(a, &r, &info, in.s, in.work, len, a->guider ? in.gbuf + glen : NULL, glen, err);
done:
    rec_free(&r);
    cv_model_free(m);
    free(in.work);
    free(in.gbuf);
    cv_npy_free(&in.seq);
    cv_npy_free(&in.teacher);
    cv_npy_free(&in.guider);
    cv_npy_free(&in.steps);
    return s;
}

int cv_cmd_logits(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return logits_usage(stdout), CV_EXIT_OK;
    lg_args a;
    int rc = parse_lg(argc, argv, &a);
    if (rc)
        return rc;
    cv_error err;
    cv_status s = run_logits(&a, &err);
    return s ? cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg) : CV_EXIT_OK;
}
