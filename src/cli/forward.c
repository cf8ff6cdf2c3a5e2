/* forward.c — `cogvideo forward`: one non-incremental call of the model over
 * given ids and positions, written in the golden full-forward format
 * (golden/README.md: hidden_layers.npy [L,n,H], final_hidden.npy [n,H],
 * argmax/max/lse.npy [n], logits.npy [K,image_tokens] at logits_pos_idx.npy). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "npy.h"

static void forward_usage(FILE *out)
{
    fprintf(out,
            "usage: cogvideo forward -m MODEL.gguf --ids IDS.npy --positions POS.npy --text-len TL\n"
            "                        [--log-text-weight W] [--enforce-no-swin]\n"
            "                        [--logits-positions IDX.npy] [--threads N] -o DIR\n"
            "One non-incremental (NAR) call over the ids at model positions 0..n-1, as the\n"
            "pipeline's first call of a sequence.  Writes DIR/hidden_layers.npy [layers,n,H],\n"
            "final_hidden.npy [n,H], argmax.npy, max.npy, lse.npy [n] (over the image logits),\n"
            "and with --logits-positions logits.npy [K,image_tokens] + logits_pos_idx.npy.\n"
            "  --ids IDS.npy            int64 [n] token ids (< 0 embed to zero, as in SAT)\n"
            "  --positions POS.npy      int64 [n] position ids\n"
            "  --text-len TL            text tokens at the start (0..max_text_len)\n"
            "  --log-text-weight W      log_text_attention_weights (default 0)\n"
            "  --enforce-no-swin        base channel only (the first frame in CogView2 mode)\n"
            "  --threads N              worker threads (default: OMP_NUM_THREADS or all cores)\n");
}

typedef struct {
    const char *model, *ids, *pos, *lpos, *out;
    int text_len, threads;
    float log_w;
    bool no_swin;
} fwd_args;

static int parse_fwd(int argc, char **argv, fwd_args *a)
{
    memset(a, 0, sizeof *a);
    a->text_len = -1;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char **str = !strcmp(f, "-m") || !strcmp(f, "--model") ? &a->model
                           : !strcmp(f, "--ids")                     ? &a->ids
                           : !strcmp(f, "--positions")               ? &a->pos
                           : !strcmp(f, "--logits-positions")        ? &a->lpos
                           : !strcmp(f, "-o") || !strcmp(f, "--out") ? &a->out
                                                                     : NULL;
        int rc = CV_EXIT_OK;
        if (!strcmp(f, "--enforce-no-swin")) {
            a->no_swin = true;
            continue;
        }
        if (i + 1 >= argc || (!str && strcmp(f, "--text-len") && strcmp(f, "--log-text-weight") &&
                              strcmp(f, "--threads")))
            return cv_cli_fail(CV_EXIT_USAGE, "forward: %s '%s' (see cogvideo forward --help)",
                               i + 1 >= argc && f[0] == '-' ? "missing value for" : "unknown argument", f);
        const char *v = argv[++i];
        if (str)
            *str = v;
        else if (!strcmp(f, "--text-len"))
            rc = cv_cli_int(f, v, 0, 1 << 20, &a->text_len);
        else if (!strcmp(f, "--threads"))
            rc = cv_cli_int(f, v, 1, 1024, &a->threads);
        else
            rc = cv_cli_float(f, v, -1e4f, 1e4f, &a->log_w);
        if (rc)
            return rc;
    }
    if (!a->model || !a->ids || !a->pos || !a->out || a->text_len < 0)
        return cv_cli_fail(CV_EXIT_USAGE, "forward: -m, --ids, --positions, --text-len and -o are required (see cogvideo forward --help)");
    return CV_EXIT_OK;
}

/* Ids, positions, indices: any length (the state is sized to fit). */
static cv_status load_ids(const char *path, cv_npy *a, int64_t **v, cv_error *err)
{
    return cv_cli_load_ids(path, SIZE_MAX, a, v, err);
}

/* Everything the run writes; each file is written whole or not at all. */
static cv_status write_forward(const fwd_args *a, const cv_hparams *hp, int n, const float *layers,
                               const float *hidden, const cv_model *m, const int64_t *lpos, int nl, cv_error *err)
{
    const int V = hp->image_tokens, H = hp->hidden;
    float *logits = malloc((size_t)n * (size_t)V * sizeof *logits);
    float *mx = malloc((size_t)n * sizeof *mx), *lse = malloc((size_t)n * sizeof *lse);
    int64_t *am = malloc((size_t)n * sizeof *am);
    char path[4096];
    cv_status s = CV_OK;
    if (!logits || !mx || !lse || !am)
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory for %d x %d logits", n, V);
    if (!s) {
        cv_model_logits(m, hidden, n, logits, a->threads);
        cv_logits_stats(logits, n, V, am, mx, lse);
        const int64_t shL[3] = {hp->n_layers, n, H}, shH[2] = {n, H}, shN[1] = {n};
        struct { const char *name; cv_dtype dt; int nd; const int64_t *sh; const void *d; } f[] = {
            {"hidden_layers.npy", CV_DT_F32, 3, shL, layers}, {"final_hidden.npy", CV_DT_F32, 2, shH, hidden},
            {"argmax.npy", CV_DT_I64, 1, shN, am},             {"max.npy", CV_DT_F32, 1, shN, mx},
            {"lse.npy", CV_DT_F32, 1, shN, lse},
        };
        for (size_t i = 0; i < sizeof f / sizeof f[0] && !s; i++) {
            snprintf(path, sizeof path, "%s/%s", a->out, f[i].name);
            s = cv_npy_save(path, f[i].dt, f[i].nd, f[i].sh, f[i].d, err);
        }
    }
    if (!s && lpos) {
        for (int i = 0; i < nl; i++) /* gather the requested rows to the front */
            memmove(logits + (size_t)i * (size_t)V, logits + (size_t)lpos[i] * (size_t)V, (size_t)V * sizeof *logits);
        const int64_t shK[2] = {nl, V}, shI[1] = {nl};
        snprintf(path, sizeof path, "%s/logits.npy", a->out);
        if (!(s = cv_npy_save(path, CV_DT_F32, 2, shK, logits, err))) {
            snprintf(path, sizeof path, "%s/logits_pos_idx.npy", a->out);
            s = cv_npy_save(path, CV_DT_I64, 1, shI, lpos, err);
        }
    }
    free(logits);
    free(mx);
    free(lse);
    free(am);
    return s;
}

static cv_status run_forward(const fwd_args *a, cv_error *err)
{
    cv_model *m = NULL;
    cv_state *st = NULL;
    cv_npy ai = {0}, ap = {0}, al = {0};
    int64_t *ids, *pos, *lpos = NULL;
    float *layers = NULL, *hidden = NULL;
    cv_status s;
    if ((s = load_ids(a->ids, &ai, &ids, err)) || (s = load_ids(a->pos, &ap, &pos, err)) ||
        (a->lpos && (s = load_ids(a->lpos, &al, &lpos, err))))
        goto done;
    if (ap.count != ai.count) {
        s = cv_error_set(err, CV_ERR_ARG, "%s: shape does not fit (expected a non-empty int64 vector as long as --ids)",
                         a->pos);
        goto done;
    }
    if ((s = cv_model_load(a->model, &m, err)))
        goto done;
    const cv_hparams *hp = cv_model_hparams(m);
    const int n = (int)ai.count;
    for (size_t i = 0; lpos && i < al.count; i++)
        if (lpos[i] < 0 || lpos[i] >= n) {
            s = cv_error_set(err, CV_ERR_ARG, "%s: position %lld out of range (expected 0..%d)", a->lpos,
                             (long long)lpos[i], n - 1);
            goto done;
        }
    layers = malloc((size_t)hp->n_layers * (size_t)n * (size_t)hp->hidden * sizeof *layers);
    hidden = malloc((size_t)n * (size_t)hp->hidden * sizeof *hidden);
    if (!layers || !hidden) {
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory for the hidden states of %d tokens", n);
        goto done;
    }
    if ((s = cv_state_new(m, n, &st, err)))
        goto done;
    cv_call c = {st, ids, pos, n, a->text_len, a->log_w, a->no_swin, hidden, layers};
    if (!(s = cv_model_forward(m, &c, 1, a->threads, err)) && !(s = cv_cli_make_dir(a->out, err)))
        s = write_forward(a, hp, n, layers, hidden, m, lpos, (int)al.count, err);
done:
    cv_state_free(st);
    cv_model_free(m);
    free(layers);
    free(hidden);
    cv_npy_free(&ai);
    cv_npy_free(&ap);
    cv_npy_free(&al);
    return s;
}

int cv_cmd_forward(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return forward_usage(stdout), CV_EXIT_OK;
    fwd_args a;
    int rc = parse_fwd(argc, argv, &a);
    if (rc)
        return rc;
    cv_error err;
    cv_status s = run_forward(&a, &err);
    return s ? cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg) : CV_EXIT_OK;
}
