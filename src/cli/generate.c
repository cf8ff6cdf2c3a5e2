/* generate.c — `cogvideo generate`: prompt -> tokens (src/pipeline.c) ->
 * frames (src/vqvae.c) -> OUT_DIR with frames/, video.gif, sheet.png,
 * tokens.npy and run.json (DESIGN.md §5). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "cogvideo.h"
#include "gen.h"
#include "npy.h"
#include "sha256.h"
#include "sp_normalize.h"
#include "tokenizer.h"

/* The embedded model: models/cogvideo-tiny of the source tree (the README
 * runs from its top), else the installed copy under pkgdatadir. */
#define DEFAULT_MODEL_DIR "models/cogvideo-tiny"
#ifndef CV_PKGDATADIR
#define CV_PKGDATADIR "/usr/local/share/cogvideo"
#endif
#define INSTALLED_MODEL_DIR CV_PKGDATADIR "/" DEFAULT_MODEL_DIR
#define MAX_BATCH 64
#define MAX_PROMPTS 10000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cogvideo generate (-p PROMPT | --prompt-file FILE) [-m MODEL_DIR] [-o OUT_DIR]\n"
            "                         [--seed N] [--stage 1|2|both] [--rounds R] [--guidance ALPHA | --no-guidance]\n"
            "                         [--batch N] [--threads N] [--first-frame-only] [--tokens TOKENS.npy]\n"
            "                         [--size N] [--pixel normalize|clamp] [--clusters LABELS.npy]\n"
            "                         [--stage1-config FILE.json] [--stage2-config FILE.json] [--quiet]\n"
            "Text to video, as CogVideo's pipeline: stage 1 draws the first frame (CogView2 mode) and the\n"
            "keyframes after it; stage 2 interpolates R rounds (each doubles the frame rate); the VQVAE\n"
            "decodes every frame.  Writes OUT_DIR/frames/0000.png ..., video.gif, sheet.png, tokens.npy\n"
            "([frames, tokens per frame]) and run.json (prompt, seed, flags, model digests, timings).\n"
            "With --batch N > 1 each sample gets OUT_DIR/sample-K/ and OUT_DIR/tokens.npy is [N, frames,\n"
            "tokens]; with --prompt-file each line gets OUT_DIR/prompt-NNN/.  OUT_DIR is written under a\n"
            "temporary name and replaces an empty directory or a previous run's only at the end; Ctrl-C\n"
            "(SIGINT, SIGTERM, SIGHUP) stops the run at its next token and leaves OUT_DIR as it was.\n"
            "  -p, --prompt TEXT      the prompt (UTF-8)\n"
            "  --prompt-file FILE     one prompt per line (empty lines are skipped)\n"
            "  -m, --model MODEL_DIR  stage1.gguf, stage2.gguf, vqvae.gguf and tokenizer.gguf (or\n"
            "                         tokenizer.model); default " DEFAULT_MODEL_DIR ", else\n"
            "                         " INSTALLED_MODEL_DIR "\n"
            "  -o, --out OUT_DIR      default out\n"
            "  --seed N               0 .. 2^64-1 (default 0): same seed, model and flags give the same\n"
            "                         tokens, whatever --threads and --batch (sample K draws the same)\n"
            "  --stage S              1: keyframes only; 2: interpolate --tokens; both (default)\n"
            "  --rounds R             interpolation rounds, 0..8 (default: the stage-2 model's, 3)\n"
            "  --guidance ALPHA       classifier-free guidance in stage 1 and 2, logits u + (c-u) ALPHA\n"
            "  --no-guidance          no guidance at all (default: each model's own pipeline.guided and\n"
            "                         pipeline.guidance_alpha, shown by cogvideo info; the default\n"
            "                         model guides stage 1 only)\n"
            "  --batch N              samples per prompt, 1..%d, sharing every pass over the weights\n"
            "  --threads N            worker threads (default: OMP_NUM_THREADS or all cores)\n"
            "  --first-frame-only     stop after the first frame\n"
            "  --tokens FILE          --stage 2: a stage-1 run's tokens.npy ([F, tokens] or [N, F, tokens])\n"
            "  --max-jobs N           at most N sequences (samples, parent triples) per pass over the\n"
            "                         weights; the others follow (same tokens, less KV-cache memory;\n"
            "                         default: as many as fit in half of this machine's memory)\n"
            "  --size N               frames upscaled to N pixels high (default: the decoder's size)\n"
            "  --pixel MODE           normalize: per-frame min-max (the pipeline's save_image); clamp:\n"
            "                         clamp to [0, 1] (default: the VQVAE's, see convert-vqvae --pixel)\n"
            "  --clusters FILE        cluster labels .npy for the sampler, instead of the models'\n"
            "  --stage1-config FILE   override the stage-1 model's pipeline settings with a JSON object of\n"
            "                         convert --pipeline's keys, e.g. {\"sampler.video.temperature\": 0.3}\n"
            "  --stage2-config FILE   the same for the stage-2 model (see cogvideo info for the keys)\n"
            "  --compat-guider-bug    guided stage 2 as the original (its bug 3: frames misplaced)\n"
            "  --dump DIR             for tests: sample 0's sequences and some sampler inputs per phase\n"
            "  --quiet                no progress on stderr\n",
            MAX_BATCH);
}

typedef struct {
    const char *prompt, *prompt_file, *model_dir, *out, *tokens, *clusters, *dump;
    const char *config1, *config2; /* --stage1-config, --stage2-config */
    uint64_t seed;
    int stage; /* 1, 2, or 3 = both */
    int rounds, guidance, batch, threads, size, max_jobs;
    int pixel; /* a cv_pixel_mode, or -1: the VQVAE's (cogvideo.vqvae.pixel) */
    float alpha;
    bool first_only, quiet, compat;
} gen_args;

static int parse_u64(const char *flag, const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    const unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || s[0] == '+')
        return cv_cli_fail(CV_EXIT_USAGE, "%s: '%s' is not an integer in 0 .. 18446744073709551615", flag, s);
    *v = (uint64_t)x;
    return CV_EXIT_OK;
}

static const char **str_flag(gen_args *a, const char *f)
{
    return !strcmp(f, "-p") || !strcmp(f, "--prompt") ? &a->prompt
           : !strcmp(f, "--prompt-file")              ? &a->prompt_file
           : !strcmp(f, "-m") || !strcmp(f, "--model") ? &a->model_dir
           : !strcmp(f, "-o") || !strcmp(f, "--out")   ? &a->out
           : !strcmp(f, "--tokens")                   ? &a->tokens
           : !strcmp(f, "--clusters")                 ? &a->clusters
           : !strcmp(f, "--dump")                     ? &a->dump
           : !strcmp(f, "--stage1-config")            ? &a->config1
           : !strcmp(f, "--stage2-config")            ? &a->config2
                                                      : NULL;
}

static int parse_valued(gen_args *a, const char *f, const char *v)
{
    if (str_flag(a, f)) {
        *str_flag(a, f) = v;
        return CV_EXIT_OK;
    }
    if (!strcmp(f, "--seed"))
        return parse_u64(f, v, &a->seed);
    if (!strcmp(f, "--rounds"))
        return cv_cli_int(f, v, 0, 8, &a->rounds);
    if (!strcmp(f, "--batch"))
        return cv_cli_int(f, v, 1, MAX_BATCH, &a->batch);
    if (!strcmp(f, "--threads"))
        return cv_cli_int(f, v, 1, 1024, &a->threads);
    if (!strcmp(f, "--size"))
        return cv_cli_int(f, v, 1, 8192, &a->size);
    if (!strcmp(f, "--max-jobs"))
        return cv_cli_int(f, v, 1, 1 << 20, &a->max_jobs);
    if (!strcmp(f, "--pixel")) {
        if (strcmp(v, "normalize") && strcmp(v, "clamp"))
            return cv_cli_fail(CV_EXIT_USAGE, "--pixel: '%s' is not normalize or clamp", v);
        a->pixel = v[0] == 'c' ? CV_PIXEL_CLAMP : CV_PIXEL_NORMALIZE;
        return CV_EXIT_OK;
    }
    if (!strcmp(f, "--guidance")) {
        a->guidance = 1;
        return cv_cli_float(f, v, 0.0f, 1000.0f, &a->alpha);
    }
    if (strcmp(v, "1") && strcmp(v, "2") && strcmp(v, "both"))
        return cv_cli_fail(CV_EXIT_USAGE, "--stage: '%s' is not 1, 2 or both", v);
    a->stage = v[0] == 'b' ? 3 : v[0] - '0';
    return CV_EXIT_OK;
}

static bool *bool_flag(gen_args *a, const char *f)
{
    return !strcmp(f, "--first-frame-only")    ? &a->first_only
           : !strcmp(f, "--quiet")             ? &a->quiet
           : !strcmp(f, "--compat-guider-bug") ? &a->compat
                                               : NULL;
}

static int check_args(const gen_args *a)
{
    if (!a->prompt == !a->prompt_file)
        return cv_cli_fail(CV_EXIT_USAGE, "generate: give either -p PROMPT or --prompt-file FILE (see --help)");
    if (a->stage == 2 && !a->tokens)
        return cv_cli_fail(CV_EXIT_USAGE, "--stage 2 needs --tokens TOKENS.npy (a stage-1 run's tokens.npy)");
    if (a->tokens && a->stage != 2)
        return cv_cli_fail(CV_EXIT_USAGE, "--tokens is for --stage 2 (stage 1 makes its own tokens)");
    if (a->tokens && a->prompt_file)
        return cv_cli_fail(CV_EXIT_USAGE, "--tokens resumes one prompt's run: use -p, not --prompt-file");
    if (a->first_only && a->stage == 2)
        return cv_cli_fail(CV_EXIT_USAGE, "--first-frame-only is a stage-1 option (not with --stage 2)");
    if (a->config1 && a->stage == 2)
        return cv_cli_fail(CV_EXIT_USAGE, "--stage1-config: stage 1 does not run with --stage 2");
    if (a->config2 && (a->stage == 1 || a->first_only))
        return cv_cli_fail(CV_EXIT_USAGE, "--stage2-config: stage 2 does not run with %s",
                           a->stage == 1 ? "--stage 1" : "--first-frame-only");
    if (a->dump && a->prompt_file)
        return cv_cli_fail(CV_EXIT_USAGE, "--dump records one prompt's run: use -p");
    return CV_EXIT_OK;
}

static int parse(int argc, char **argv, gen_args *a)
{
    *a = (gen_args){.model_dir = NULL, .out = "out", .stage = 3, .rounds = -1, .guidance = -1,
                    .batch = 1, .alpha = -1.0f, .pixel = -1};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (bool_flag(a, f)) {
            *bool_flag(a, f) = true;
            continue;
        }
        if (!strcmp(f, "--no-guidance")) {
            a->guidance = 0;
            continue;
        }
        const bool valued = str_flag(a, f) || !strcmp(f, "--seed") || !strcmp(f, "--stage") ||
                            !strcmp(f, "--rounds") || !strcmp(f, "--guidance") || !strcmp(f, "--batch") ||
                            !strcmp(f, "--threads") || !strcmp(f, "--size") || !strcmp(f, "--max-jobs") ||
                            !strcmp(f, "--pixel");
        if (!valued)
            return cv_cli_fail(CV_EXIT_USAGE, f[0] == '-' ? "generate: unknown option '%s' (see cogvideo generate --help)"
                                                          : "generate: unexpected argument '%s' (the prompt goes after -p)",
                               f);
        if (i + 1 >= argc)
            return cv_cli_fail(CV_EXIT_USAGE, "generate: %s needs a value", f);
        const int rc = parse_valued(a, f, argv[++i]);
        if (rc)
            return rc;
    }
    return check_args(a);
}

/* ------------------------------------------------------------ prompts */

typedef struct {
    char **v;
    int n;
} prompt_list;

static void prompts_free(prompt_list *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
}

/* A prompt must be UTF-8: the tokenizer would map invalid bytes to U+FFFD
 * silently, and the run would not be the one the user asked for. */
static cv_status check_utf8(const char *what, const char *s, cv_error *err)
{
    for (size_t i = 0, n = strlen(s), m; i < n; i += m)
        if (!cv_sp_valid_utf8((const uint8_t *)s + i, n - i, &m))
            return cv_error_set(err, CV_ERR_ARG, "%s: byte 0x%02x at offset %zu is not valid UTF-8 (expected UTF-8 text)",
                                what, (unsigned)(uint8_t)s[i], i);
    return CV_OK;
}

static cv_status add_prompt(prompt_list *p, const char *s, size_t n, cv_error *err)
{
    char **v = realloc(p->v, ((size_t)p->n + 1) * sizeof *v);
    if (!v)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    p->v = v;
    if (!(v[p->n] = strndup(s, n)))
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    p->n++;
    return CV_OK;
}

static cv_status read_prompt_file(const char *path, prompt_list *p, cv_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cv_error_set(err, CV_ERR_IO, "%s: %s", path, strerror(errno));
    char *line = NULL, what[64];
    size_t cap = 0;
    ssize_t n;
    cv_status s = CV_OK;
    for (int lineno = 1; !s && (n = getline(&line, &cap, f)) >= 0; lineno++) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        snprintf(what, sizeof what, "line %d", lineno);
        if ((size_t)n != strlen(line))
            s = cv_error_set(err, CV_ERR_ARG, "%s: line %d holds a NUL byte (expected UTF-8 text)", path, lineno);
        else if (!(s = check_utf8(what, line, err)) && p->n >= MAX_PROMPTS)
            s = cv_error_set(err, CV_ERR_ARG, "%s: more than %d prompts", path, MAX_PROMPTS);
        else if (!s)
            s = add_prompt(p, line, (size_t)n, err);
        if (s && s != CV_ERR_NOMEM && strncmp(err->msg, path, strlen(path))) {
            cv_error e = *err;
            cv_error_set(err, s, "%s: %s", path, e.msg);
        }
    }
    free(line);
    fclose(f);
    if (!s && p->n == 0)
        s = cv_error_set(err, CV_ERR_ARG, "%s: no prompt (expected one per line)", path);
    return s;
}

static cv_status load_prompts(const gen_args *a, prompt_list *p, cv_error *err)
{
    memset(p, 0, sizeof *p);
    if (a->prompt_file)
        return read_prompt_file(a->prompt_file, p, err);
    cv_status s = check_utf8("-p", a->prompt, err);
    return s ? s : add_prompt(p, a->prompt, strlen(a->prompt), err);
}

/* ------------------------------------------------------------ models */

typedef struct {
    char *path_s1, *path_s2, *path_vq, *path_tok;
    cv_tokenizer *tok;
    cv_pipeline_stage s1, s2;
    cv_vqvae *vq;
    bool use_s1, use_s2;
} gen_models;

static void models_free(gen_models *m)
{
    cv_tokenizer_free(m->tok);
    cv_pipeline_stage_close(&m->s1);
    cv_pipeline_stage_close(&m->s2);
    cv_vqvae_free(m->vq);
    free(m->path_s1), free(m->path_s2), free(m->path_vq), free(m->path_tok);
}

static bool exists(const char *p) { return p && access(p, F_OK) == 0; }

/* MODEL_DIR's files; a part the run needs and does not find is named. */
static cv_status find_models(const gen_args *a, gen_models *m, cv_error *err)
{
    const char *d = a->model_dir;
    if (!d && !exists(d = DEFAULT_MODEL_DIR) && !exists(d = INSTALLED_MODEL_DIR))
        return cv_error_set(err, CV_ERR_IO,
                            "the default model is neither in ./%s nor in %s (run from the source tree's top, "
                            "make install, or pass -m MODEL_DIR)", DEFAULT_MODEL_DIR, INSTALLED_MODEL_DIR);
    if (!exists(d))
        return cv_error_set(err, CV_ERR_IO, "%s: no such model directory (expected stage1.gguf, stage2.gguf, "
                                            "vqvae.gguf and tokenizer.gguf in it)", d);
    m->path_s1 = gen_path(d, "stage1.gguf");
    m->path_s2 = gen_path(d, "stage2.gguf");
    m->path_vq = gen_path(d, "vqvae.gguf");
    m->path_tok = gen_path(d, "tokenizer.gguf");
    if (!m->path_s1 || !m->path_s2 || !m->path_vq || !m->path_tok)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (!exists(m->path_tok)) {
        free(m->path_tok);
        if (!(m->path_tok = gen_path(d, "tokenizer.model")))
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    }
    m->use_s1 = a->stage != 2;
    m->use_s2 = a->stage != 1 && !a->first_only;
    const char *missing = m->use_s1 && !exists(m->path_s1) ? m->path_s1
                          : m->use_s2 && !exists(m->path_s2) ? m->path_s2
                          : !exists(m->path_vq)              ? m->path_vq
                          : !exists(m->path_tok)             ? m->path_tok
                                                             : NULL;
    if (missing == m->path_s2 && a->stage == 3)
        return cv_error_set(err, CV_ERR_IO, "%s: missing (expected the stage-2 model for --stage both; --stage 1 "
                                            "runs without it)", missing);
    if (missing)
        return cv_error_set(err, CV_ERR_IO, "%s: missing (expected the %s)", missing,
                            missing == m->path_vq    ? "VQVAE decoder, from cogvideo convert-vqvae"
                            : missing == m->path_tok ? "tokenizer: tokenizer.gguf or tokenizer.model"
                                                     : "stage model, from cogvideo convert");
    return CV_OK;
}

static cv_status check_vqvae(const gen_models *m, const cv_pipeline_stage *st, cv_error *err)
{
    const cv_vqvae_hparams *vh = cv_vqvae_get_hparams(m->vq);
    const cv_hparams *hp = cv_model_hparams(st->model);
    if (vh->grid_h != hp->frame_h || vh->grid_w != hp->frame_w || vh->codebook_size < hp->image_tokens)
        return cv_error_set(err, CV_ERR_ARG,
                            "%s: a %dx%d grid of %d codes does not fit %s (expected %dx%d, at least %d codes)",
                            m->path_vq, vh->grid_h, vh->grid_w, vh->codebook_size, cv_model_path(st->model),
                            hp->frame_h, hp->frame_w, hp->image_tokens);
    return CV_OK;
}

static cv_status load_models(const gen_args *a, gen_models *m, cv_error *err)
{
    memset(m, 0, sizeof *m);
    cv_status s = find_models(a, m, err);
    if (!s)
        s = cv_tokenizer_load(m->path_tok, NULL, &m->tok, err);
    if (!s && m->use_s1)
        s = cv_pipeline_stage_open(m->path_s1, 1, a->clusters, &m->s1, err);
    if (!s && m->use_s1 && a->config1) /* the file's keys over the model's (each range-checked) */
        s = cv_pipeline_config_load_json(&m->s1.cfg, a->config1, err);
    if (!s && m->use_s2)
        s = cv_pipeline_stage_open(m->path_s2, 2, a->clusters, &m->s2, err);
    if (!s && m->use_s2 && a->config2)
        s = cv_pipeline_config_load_json(&m->s2.cfg, a->config2, err);
    if (!s)
        s = cv_vqvae_load(m->path_vq, &m->vq, err);
    for (int i = 0; i < 2 && !s; i++) {
        const cv_pipeline_stage *st = i ? &m->s2 : &m->s1;
        if (st->model && (s = cv_pipeline_check_tokenizer(m->tok, st->model, err))) {
            cv_error e = *err; /* name the tokenizer's file */
            cv_error_set(err, s, "%s: %s", m->path_tok, e.msg);
        }
        if (st->model && !s)
            s = check_vqvae(m, st, err);
    }
    if (!s && m->use_s1 && m->use_s2 &&
        cv_model_hparams(m->s1.model)->frame_len != cv_model_hparams(m->s2.model)->frame_len)
        s = cv_error_set(err, CV_ERR_ARG, "%s and %s have different frames (expected the same token grid)",
                         m->path_s1, m->path_s2);
    return s;
}

/* Ctrl-C without global state: SIGINT, SIGTERM and SIGHUP (those not
 * ignored, as nohup does) are blocked for the run, and the progress hook
 * polls sigpending() after every token step and stops the pipeline; the
 * temporary output directory is removed and the signal re-raised, so a
 * shell loop stops as for a program that died of it.  Threads started
 * later (OpenMP) inherit the mask; OpenBLAS's threads start before main,
 * so the signal may reach one of them: defer_stop_signal then blocks it in
 * that thread for good (the mask restored on return is uc_sigmask) and
 * sends it to the process again, where it stays pending once every thread
 * blocks it. */
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_STOP_SIGNALS (sizeof stop_signals / sizeof stop_signals[0])

static void defer_stop_signal(int sig, siginfo_t *info, void *uc)
{
    (void)info;
    sigaddset(&((ucontext_t *)uc)->uc_sigmask, sig);
    kill(getpid(), sig);
}

static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < N_STOP_SIGNALS; i++) {
        struct sigaction old;
        if (sigaction(stop_signals[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaddset(set, stop_signals[i]);
    }
    struct sigaction sa = {.sa_sigaction = defer_stop_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
    sa.sa_mask = *set;
    for (size_t i = 0; i < N_STOP_SIGNALS; i++)
        if (sigismember(set, stop_signals[i]))
            sigaction(stop_signals[i], &sa, NULL);
    sigprocmask(SIG_BLOCK, set, NULL);
}

/* The first of set's signals that is pending, else 0. */
static int pending_stop_signal(const sigset_t *set)
{
    sigset_t p;
    if (sigpending(&p))
        return 0;
    for (size_t i = 0; i < N_STOP_SIGNALS; i++)
        if (sigismember(set, stop_signals[i]) && sigismember(&p, stop_signals[i]))
            return stop_signals[i];
    return 0;
}

static const char *stop_signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
}

/* Dies of the stop signal sig (generate's: the one the hook saw, else the
 * pending one), after the one-line message.  raise() as well as
 * unblocking: while an OpenBLAS thread is in defer_stop_signal the signal
 * is briefly not pending at all. */
static void reraise_stop_signal(const sigset_t *set, int sig)
{
    if (!sig)
        return;
    signal(sig, SIG_DFL);
    sigprocmask(SIG_UNBLOCK, set, NULL); /* delivered here if pending */
    raise(sig);
}

/* The pipeline's three callbacks share one ctx. */
typedef struct {
    gen_progress *prog;
    gen_dump *dump;
    const sigset_t *stop; /* blocked stop signals, polled */
    int sig;              /* the stop signal seen, kept: see reraise_stop_signal */
} gen_hooks;

static bool hook_progress(void *c, const cv_pipeline_progress *p)
{
    gen_hooks *h = c;
    gen_progress_step(h->prog, p);
    if (!h->sig)
        h->sig = pending_stop_signal(h->stop);
    return !h->sig;
}

static void hook_probe(void *c, const cv_pipeline_probe *p)
{
    gen_hooks *h = c;
    if (h->dump)
        gen_dump_probe(h->dump, p);
}

static void hook_seqs(void *c, cv_pipeline_phase ph, int round, const int64_t *in, const int64_t *out, int len,
                      const int64_t *g, int glen, float log_w, float alpha)
{
    gen_hooks *h = c;
    if (h->dump)
        gen_dump_seqs(h->dump, ph, round, in, out, len, g, glen, log_w, alpha);
}

/* ------------------------------------------------------------ the run */

#define MAX_ROUNDS 9

typedef struct {
    double s1_sec, s1_tokens, s2_sec, s2_tokens, decode_sec;
    double round_sec[MAX_ROUNDS], round_tokens[MAX_ROUNDS];
    int round0, rounds, frames;
} gen_times;

typedef struct {
    const gen_args *a;
    gen_models *m;
    cv_pipeline_opts po;
    gen_progress prog;
    int keyframes, rounds; /* target rounds */
    const int64_t *resume; /* --tokens: [batch][resume_n][L] */
    int resume_n;
} gen_run;

static bool guided(const gen_args *a, const cv_pipeline_stage *st)
{
    return cv_pipeline_guided(st, a->guidance); /* --guidance sets po.guided1 and guided2 alike */
}

/* Work units (rows x steps) of a whole prompt, for the ETA. */
static double plan_units(const gen_run *r, int frames0)
{
    const gen_models *m = r->m;
    const double B = r->a->batch;
    double u = 0;
    if (m->use_s1) {
        const double L = cv_model_hparams(m->s1.model)->frame_len;
        u += B * L;
        if (!r->a->first_only)
            u += B * (1 + guided(r->a, &m->s1)) * (r->keyframes - 1) * L;
    }
    if (m->use_s2) {
        const cv_hparams *hp = cv_model_hparams(m->s2.model);
        const int g = (hp->n_time_slots + 1) / 2;
        for (int n = frames0; g > 1 && n < cv_pipeline_frames_after(&m->s2.cfg, r->rounds); n = 2 * n - 1)
            u += B * (n - 1) / (g - 1) * (1 + guided(r->a, &m->s2)) * (g - 1) * (double)hp->frame_len;
    }
    return u;
}

static cv_status run_stage1(gen_run *r, const char *prompt, int64_t **tok, int *n, gen_times *t, cv_error *err)
{
    const gen_models *m = r->m;
    const int L = cv_model_hparams(m->s1.model)->frame_len, B = r->a->batch;
    *n = r->a->first_only ? 1 : r->keyframes;
    if (!(*tok = malloc((size_t)B * (size_t)*n * (size_t)L * sizeof **tok)))
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    const double t0 = gen_now();
    cv_status s = cv_pipeline_stage1(m->tok, &m->s1, prompt, B, 0, r->a->first_only, &r->po, *tok, err);
    t->s1_sec = gen_now() - t0;
    t->s1_tokens = (double)B * (*n) * L;
    if (!s)
        gen_progress_done(&r->prog, "stage 1", t->s1_tokens, t->s1_sec);
    return s;
}

static cv_status run_stage2(gen_run *r, const char *prompt, int64_t **tok, int *n, gen_times *t, cv_error *err)
{
    const gen_models *m = r->m;
    const int L = cv_model_hparams(m->s2.model)->frame_len, B = r->a->batch;
    const int r0 = cv_pipeline_round_of(&m->s2.cfg, *n);
    if (r0 < 0 || r0 > r->rounds)
        return cv_error_set(err, CV_ERR_ARG, "%d frames per sample to interpolate (expected %d after 0..%d rounds)", *n,
                            cv_pipeline_frames_after(&m->s2.cfg, 0), r->rounds);
    t->round0 = r0;
    cv_status s = CV_OK;
    for (int round = r0; round < r->rounds && !s; round++) {
        const int n2 = 2 * *n - 1;
        int64_t *out = malloc((size_t)B * (size_t)n2 * (size_t)L * sizeof *out);
        if (!out)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        const double t0 = gen_now();
        s = cv_pipeline_round(m->tok, &m->s2, prompt, B, 0, round, *tok, *n, &r->po, out, err);
        const double dt = gen_now() - t0;
        free(*tok);
        *tok = out;
        t->round_sec[round] = dt;
        t->round_tokens[round] = (double)B * (n2 - *n) * L;
        t->s2_sec += dt;
        t->s2_tokens += t->round_tokens[round];
        *n = n2;
        t->rounds = round + 1 - r0;
        char what[48];
        snprintf(what, sizeof what, "stage 2, round %d (%d frames)", round + 1, n2);
        if (!s)
            gen_progress_done(&r->prog, what, t->round_tokens[round], dt);
    }
    return s;
}

/* --tokens: [F, L] or [B, F, L] image ids of a stage-1 (or earlier) run. */
static cv_status load_tokens(const gen_args *a, const gen_models *m, int *batch, int64_t **tok, int *n, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m->s2.model);
    cv_npy t;
    cv_status s = cv_npy_load_i64(a->tokens, &t, tok, err);
    if (s)
        return s;
    const int r = t.ndim;
    if ((r != 2 && r != 3) || t.shape[r - 1] != hp->frame_len || t.count == 0 || t.shape[r - 2] > 100000 ||
        (r == 3 && t.shape[0] > MAX_BATCH))
        s = cv_error_set(err, CV_ERR_ARG, "%s: shape of rank %d does not fit (expected [frames, %d] or [batch, frames, %d], "
                                          "batch <= %d)", a->tokens, r, hp->frame_len, hp->frame_len, MAX_BATCH);
    for (size_t i = 0; !s && i < t.count; i++)
        if ((*tok)[i] < 0 || (*tok)[i] >= hp->image_tokens)
            s = cv_error_set(err, CV_ERR_ARG, "%s: token %lld at %zu (expected image ids 0..%d)", a->tokens,
                             (long long)(*tok)[i], i, hp->image_tokens - 1);
    const int b = r == 3 ? (int)t.shape[0] : 1;
    if (!s && a->batch != 1 && a->batch != b)
        s = cv_error_set(err, CV_ERR_ARG, "--batch %d, but %s holds %d samples", a->batch, a->tokens, b);
    if (s) {
        free(*tok);
        *tok = NULL;
        return s;
    }
    *batch = b;
    *n = (int)t.shape[r - 2];
    return CV_OK;
}

/* One prompt's files under pdir: one sample in pdir itself, several in
 * pdir/sample-K with pdir/tokens.npy [B, F, L] beside them. */
static cv_pixel_mode pixel_mode(const gen_run *r)
{
    return r->a->pixel >= 0 ? (cv_pixel_mode)r->a->pixel : cv_vqvae_pixel_mode(r->m->vq);
}

static cv_status write_prompt(const gen_run *r, const char *pdir, const int64_t *tok, int n, int L, double fps,
                              cv_error *err)
{
    const int B = r->a->batch;
    const gen_images im = {r->m->vq, r->a->threads, r->a->size, (float)fps, pixel_mode(r)};
    if (B == 1)
        return gen_write_sample(pdir, &im, tok, n, L, true, err);
    char name[32];
    cv_status s = CV_OK;
    for (int b = 0; b < B && !s; b++) {
        snprintf(name, sizeof name, "sample-%d", b);
        char *d = gen_path(pdir, name);
        s = d ? cv_cli_make_dir(d, err) : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        if (!s)
            s = gen_write_sample(d, &im, tok + (size_t)b * (size_t)n * (size_t)L, n, L, true, err);
        free(d);
    }
    const int64_t shape[3] = {B, n, L};
    char *p = s ? NULL : gen_path(pdir, "tokens.npy");
    if (!s)
        s = p ? cv_npy_save(p, CV_DT_I64, 3, shape, tok, err) : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    free(p);
    return s;
}

static int frame_len_of(const gen_models *m)
{
    return cv_model_hparams(m->use_s1 ? m->s1.model : m->s2.model)->frame_len;
}

static const cv_pipeline_config *config_of(const gen_models *m)
{
    return m->use_s2 ? &m->s2.cfg : &m->s1.cfg;
}

static cv_status run_prompt(gen_run *r, const char *prompt, const char *pdir, gen_times *t, cv_error *err)
{
    int64_t *tok = NULL;
    int n = 0;
    const int L = frame_len_of(r->m);
    cv_status s = CV_OK;
    memset(t, 0, sizeof *t);
    if (r->m->use_s1) {
        s = run_stage1(r, prompt, &tok, &n, t, err);
    } else {
        n = r->resume_n;
        const size_t sz = (size_t)r->a->batch * (size_t)n * (size_t)L * sizeof *tok;
        if ((tok = malloc(sz)))
            memcpy(tok, r->resume, sz);
        else
            s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    }
    if (!s && r->m->use_s2)
        s = run_stage2(r, prompt, &tok, &n, t, err);
    t->frames = n;
    const double t0 = gen_now();
    if (!s)
        s = write_prompt(r, pdir, tok, n, L, cv_pipeline_fps(config_of(r->m), n), err);
    t->decode_sec = gen_now() - t0;
    free(tok);
    return s;
}

/* ------------------------------------------------------------ run.json */

static json_t *model_json(const char *path, cv_status *s, cv_error *err)
{
    char hex[65];
    if (!path || *s)
        return json_null();
    if ((*s = cv_sha256_file(path, hex, err)))
        return json_null();
    return json_pack("{s:s, s:s}", "file", path, "sha256", hex);
}

static json_t *times_json(const gen_times *t)
{
    json_t *rounds = json_array();
    for (int i = t->round0; i < t->round0 + t->rounds; i++)
        json_array_append_new(rounds, json_pack("{s:i, s:f, s:f, s:f}", "round", i + 1, "seconds", t->round_sec[i],
                                                "tokens", t->round_tokens[i],
                                                "tokens_per_s", t->round_sec[i] > 0 ? t->round_tokens[i] / t->round_sec[i] : 0.0));
    return json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "frames", t->frames, "stage1_s", t->s1_sec,
                     "stage1_tokens_per_s", t->s1_sec > 0 ? t->s1_tokens / t->s1_sec : 0.0, "stage2_s", t->s2_sec,
                     "stage2_tokens_per_s", t->s2_sec > 0 ? t->s2_tokens / t->s2_sec : 0.0, "decode_s",
                     t->decode_sec, "total_s", t->s1_sec + t->s2_sec + t->decode_sec, "rounds", rounds);
}

static cv_status write_run_json(const gen_run *r, const char *dir, const prompt_list *p, const gen_times *t,
                                cv_error *err)
{
    const gen_args *a = r->a;
    const gen_models *m = r->m;
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)a->seed);
    cv_status s = CV_OK;
    json_t *models = json_pack("{s:o, s:o, s:o, s:o}", "stage1", model_json(m->use_s1 ? m->path_s1 : NULL, &s, err),
                               "stage2", model_json(m->use_s2 ? m->path_s2 : NULL, &s, err), "vqvae",
                               model_json(m->path_vq, &s, err), "tokenizer", model_json(m->path_tok, &s, err));
    json_t *prompts = json_array(), *times = json_array();
    for (int i = 0; i < p->n; i++) {
        json_array_append_new(prompts, json_string(p->v[i]));
        json_array_append_new(times, times_json(&t[i]));
    }
    /* Per stage, the alpha it was guided with (after --stageN-config), null
     * when unguided. */
    json_t *g1 = m->use_s1 && guided(a, &m->s1) ? json_real(cv_pipeline_alpha(&m->s1, &r->po)) : json_null();
    json_t *g2 = m->use_s2 && guided(a, &m->s2) ? json_real(cv_pipeline_alpha(&m->s2, &r->po)) : json_null();
    json_t *j = json_pack("{s:s, s:o, s:s, s:s, s:i, s:i, s:i, s:b, s:{s:o, s:o}, s:i, s:s*, s:f, s:s, s:s*, "
                          "s:s*, s:o, s:o}",
                          "cogvideo", cv_version(), "prompts", prompts, "seed", seed, "stage",
                          a->stage == 3 ? "both" : a->stage == 1 ? "1" : "2", "batch", a->batch, "max_jobs",
                          r->po.max_jobs, "rounds", r->rounds,
                          "first_frame_only", a->first_only, "guidance", "stage1", g1, "stage2", g2, "threads",
                          a->threads, "tokens", a->tokens, "fps",
                          cv_pipeline_fps(config_of(m), t[0].frames), "pixel",
                          pixel_mode(r) == CV_PIXEL_CLAMP ? "clamp" : "normalize", "stage1_config",
                          m->use_s1 ? a->config1 : NULL, "stage2_config", m->use_s2 ? a->config2 : NULL, "models",
                          models, "timings", times);
    char *path = gen_path(dir, "run.json");
    if (!s && (!j || !path || json_dump_file(j, path, JSON_INDENT(2))))
        s = cv_error_set(err, CV_ERR_IO, "%s: cannot write run.json", dir);
    free(path);
    json_decref(j);
    return s;
}

/* ------------------------------------------------------------ the command */

/* Every text of every prompt (each phase, each round's duration) against
 * the models' limits, before any work. */
static cv_status check_prompt(const gen_run *r, const char *prompt, cv_error *err)
{
    cv_status s = CV_OK;
    for (int ph = 0; ph < 2 + (r->rounds > 0 ? r->rounds : 1) && !s; ph++) {
        const bool s2 = ph >= 2;
        const cv_pipeline_stage *st = s2 ? &r->m->s2 : &r->m->s1;
        if (!(s2 ? r->m->use_s2 : r->m->use_s1))
            continue;
        int64_t *ids, *g;
        int n, gn;
        s = cv_pipeline_text(r->m->tok, st, s2 ? CV_PHASE_ROUND : (cv_pipeline_phase)ph, s2 ? ph - 2 : 0,
                             guided(r->a, st), prompt, &ids, &n, &g, &gn, err);
        free(ids), free(g);
    }
    return s;
}

static cv_status check_prompts(const gen_run *r, const prompt_list *p, cv_error *err)
{
    cv_status s = CV_OK;
    for (int i = 0; i < p->n && !s; i++)
        if ((s = check_prompt(r, p->v[i], err)) && p->n > 1) {
            cv_error e = *err;
            cv_error_set(err, s, "%s: prompt %d: %s", r->a->prompt_file, i + 1, e.msg);
        }
    return s;
}

/* Jobs per pass whose KV caches fit in half of the physical memory (the
 * release's stage-2 job holds ~3 GB of caches: its round 3 of 8 triples
 * would not fit beside the weights on a 24 GB machine). */
static int auto_max_jobs(const gen_run *r)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0)
        return 0;
    const double budget = (double)pages * (double)page / 2;
    double per = 0;
    for (int i = 0; i < 2; i++) {
        const cv_pipeline_stage *st = i ? &r->m->s2 : &r->m->s1;
        if (!st->model)
            continue;
        const cv_hparams *hp = cv_model_hparams(st->model);
        const int frames = i ? hp->n_time_slots : st->cfg.keyframes;
        const double b = (double)cv_state_bytes(st->model, hp->max_text_len + 1 + frames * hp->frame_len) *
                         (guided(r->a, st) ? 2 : 1);
        per = b > per ? b : per;
    }
    const double j = per > 0 ? budget / per : 0;
    return j >= 1 << 20 ? 0 : j < 1 ? 1 : (int)j;
}

static cv_status setup_run(gen_run *r, gen_args *a, gen_models *m, int64_t **resume, cv_error *err)
{
    memset(r, 0, sizeof *r);
    r->a = a;
    r->m = m;
    cv_status s = load_models(a, m, err);
    if (s)
        return s;
    const cv_pipeline_config *c = config_of(m);
    r->keyframes = c->keyframes;
    r->rounds = a->rounds >= 0 ? a->rounds : m->use_s2 ? m->s2.cfg.rounds : 0;
    if (m->use_s1 && m->use_s2 && m->s1.cfg.keyframes != m->s2.cfg.keyframes)
        return cv_error_set(err, CV_ERR_ARG, "%s makes %d keyframes, %s expects %d (expected the same)", m->path_s1,
                            m->s1.cfg.keyframes, m->path_s2, m->s2.cfg.keyframes);
    if (r->rounds >= MAX_ROUNDS)
        return cv_error_set(err, CV_ERR_ARG, "%s: %d rounds (expected at most %d)", m->path_s2, r->rounds,
                            MAX_ROUNDS - 1);
    if (a->tokens && (s = load_tokens(a, m, &a->batch, resume, &r->resume_n, err)))
        return s;
    r->resume = *resume;
    cv_pipeline_opts_default(&r->po);
    r->po.seed = a->seed;
    r->po.nthreads = a->threads;
    r->po.guided1 = r->po.guided2 = a->guidance;
    r->po.alpha = a->alpha;
    r->po.compat_guider_bug = a->compat;
    r->po.max_jobs = a->max_jobs > 0 ? a->max_jobs : auto_max_jobs(r);
    return CV_OK;
}

static cv_status run_all(gen_run *r, const prompt_list *p, const char *top, gen_times *t, cv_error *err)
{
    cv_status s = CV_OK;
    for (int i = 0; i < p->n && !s; i++) {
        char name[32];
        snprintf(name, sizeof name, "prompt-%03d", i);
        char *pdir = p->n > 1 ? gen_path(top, name) : strdup(top);
        s = pdir ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        if (!s && p->n > 1)
            s = cv_cli_make_dir(pdir, err);
        if (!s) {
            gen_progress_init(&r->prog, r->a->quiet, plan_units(r, r->m->use_s1 ? r->keyframes : r->resume_n));
            s = run_prompt(r, p->v[i], pdir, &t[i], err);
        }
        free(pdir);
    }
    return s;
}

static cv_status generate(gen_args *a, const sigset_t *stop, int *sig_seen, cv_error *err)
{
    prompt_list p = {0};
    gen_models m = {0};
    gen_run r = {0};
    gen_outdir od = {0};
    gen_dump dump = {0};
    gen_hooks hooks = {&r.prog, NULL, stop, 0};
    int64_t *resume = NULL;
    gen_times *t = NULL;
    cv_status s = load_prompts(a, &p, err);
    if (!s)
        s = setup_run(&r, a, &m, &resume, err);
    if (!s)
        s = check_prompts(&r, &p, err);
    if (!s && !(t = calloc((size_t)p.n, sizeof *t)))
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (!s && a->dump) {
        dump = (gen_dump){.dir = a->dump, .image_tokens = cv_model_hparams(m.use_s1 ? m.s1.model : m.s2.model)->image_tokens};
        if (!(dump.logits = malloc(4 * (size_t)dump.image_tokens * sizeof(float))))
            s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        else if (!(s = cv_cli_make_dir(a->dump, err)))
            hooks.dump = &dump;
    }
    r.po.progress = hook_progress, r.po.probe = hook_probe, r.po.seqs = hook_seqs, r.po.ctx = &hooks;
    if (!s)
        s = gen_outdir_open(&od, a->out, err);
    if (!s)
        s = run_all(&r, &p, od.tmp, t, err);
    if (!s && dump.status)
        *err = dump.err, s = dump.status;
    if (!s)
        s = write_run_json(&r, od.tmp, &p, t, err);
    const int sig = hooks.sig ? hooks.sig : pending_stop_signal(stop);
    *sig_seen = sig;
    if (!s && sig) /* arrived while decoding or writing */
        s = CV_ERR_CANCELLED;
    if (s == CV_ERR_CANCELLED)
        cv_error_set(err, s, "interrupted by %s: %s was not written", stop_signal_name(sig), a->out);
    if (!s)
        s = gen_outdir_commit(&od, err);
    if (s)
        gen_outdir_abort(&od);
    else
        printf("%s: %d frame%s per sample, %s/video.gif\n", a->out, t[0].frames, t[0].frames == 1 ? "" : "s", a->out);
    free(dump.logits);
    free(resume);
    free(t);
    models_free(&m);
    prompts_free(&p);
    return s;
}

int cv_cmd_generate(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(stdout), CV_EXIT_OK;
    gen_args a;
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc;
    cv_error err;
    sigset_t stop;
    block_stop_signals(&stop);
    int sig = 0;
    cv_status s = generate(&a, &stop, &sig, &err);
    rc = s ? cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg) : CV_EXIT_OK;
    if (s == CV_ERR_CANCELLED)
        reraise_stop_signal(&stop, sig);
    return rc;
}
