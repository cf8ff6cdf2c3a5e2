/* convert.c — `cogvideo convert SAT_MODEL_DIR OUT.gguf [options]`. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* isatty, clock_gettime */
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "convert.h"

static void convert_usage(FILE *out)
{
    fprintf(out, "usage: cogvideo convert SAT_MODEL_DIR OUT.gguf [--type f32|f16|bf16|q8_0] [--boi ID]\n"
                 "                        [--n-token ID] [--image-tokens N] [--frame-grid HxW]\n"
                 "                        [--max-text-len N] [--frame-pos-offset N] [--extra-pos-offset N]\n"
                 "                        [--attention-plus full|swin|local3d] [--local3d-kernel K]\n"
                 "                        [--pipeline FILE.json] [--clusters LABELS.npy] [--quiet]\n"
                 "  --type T              type of the weight matrices (default: the checkpoint's)\n"
                 "  --boi ID              begin-of-image token id (default: vocab_size - 10)\n"
                 "  --n-token ID          the <n> token id (default: image tokens + 4)\n"
                 "  --image-tokens N      image tokens at the start of the vocabulary (default 20000)\n"
                 "  --frame-grid HxW      tokens per frame, rows x columns (default 20x20)\n"
                 "  --max-text-len N      most text tokens in a sequence (default 74)\n"
                 "  --frame-pos-offset N  position id of the first frame's <start_of_image> (default 512)\n"
                 "  --extra-pos-offset N  first position id taken from the extra position table\n"
                 "                        (default: frame-pos-offset + H*W, 912 for 20x20)\n"
                 "  --attention-plus A    attention-plus channel (default: stage 1 full, stage 2 swin;\n"
                 "                        swin needs the config's window_size; local3d is the paper's\n"
                 "                        k x k neighbourhood in earlier frames, no released weights)\n"
                 "  --local3d-kernel K    local3d neighbourhood size, odd (required with local3d)\n"
                 "  --pipeline FILE.json  override the release's generation settings, written as\n"
                 "                        cogvideo.pipeline.* metadata; keys without that prefix, e.g.\n"
                 "                        {\"sampler.video.top_k\": 12, \"guided\": true, \"rounds\": 2}\n"
                 "                        (default: the release's values for the model's stage)\n"
                 "  --clusters LABELS.npy the CogLM sampler's cluster of every image token: a 1-D int64\n"
                 "                        or int32 array of image-tokens labels >= 0 (CogVideo's\n"
                 "                        cluster_label2.npy, or `cogvideo clusters`); needed to generate\n"
                 "  --quiet               no progress on stderr\n"
                 "The model's SAT config (model_config.json) sets layers, sizes, stage and window;\n"
                 "these options set what it does not hold.  Stage 2 also gets the time slots [0,2,4,1,3].\n");
}

typedef struct {
    struct timespec t0;
} progress_state;

static void show_progress(void *ctx, size_t i, size_t n, uint64_t bytes)
{
    progress_state *p = ctx;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    double sec = (double)(t.tv_sec - p->t0.tv_sec) + 1e-9 * (double)(t.tv_nsec - p->t0.tv_nsec);
    fprintf(stderr, "\rtensor %zu/%zu  %.1f MB/s ", i, n, sec > 0 ? (double)bytes / 1e6 / sec : 0.0);
    if (i == n)
        fputc('\n', stderr);
}

static int parse_id(const char *flag, const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < 0 || x > 0x7fffffff)
        return cv_cli_fail(CV_EXIT_USAGE, "%s: '%s' is not an integer in 0 .. 2147483647", flag, s);
    *v = x;
    return CV_EXIT_OK;
}

/* "HxW": two decimal integers (cv_convert checks that both are >= 1). */
static int parse_grid(const char *s, int64_t *h, int64_t *w)
{
    static const char digits[] = "0123456789";
    const size_t nh = strspn(s, digits);
    const char *x = s + nh;
    const size_t nw = *x == 'x' ? strspn(x + 1, digits) : 0;
    if (nh == 0 || nh > 10 || nw == 0 || nw > 10 || x[1 + nw] != '\0')
        return cv_cli_fail(CV_EXIT_USAGE, "--frame-grid: '%s' is not HxW (e.g. 20x20)", s);
    *h = strtoll(s, NULL, 10);
    *w = strtoll(x + 1, NULL, 10);
    return CV_EXIT_OK;
}

/* The option's field for the integer-valued options; NULL for the others. */
static int64_t *int_opt(cv_convert_opts *o, const char *a)
{
    return !strcmp(a, "--boi")                ? &o->boi
           : !strcmp(a, "--n-token")          ? &o->n_token
           : !strcmp(a, "--image-tokens")     ? &o->image_tokens
           : !strcmp(a, "--max-text-len")     ? &o->max_text_len
           : !strcmp(a, "--frame-pos-offset") ? &o->frame_pos_offset
           : !strcmp(a, "--extra-pos-offset") ? &o->extra_pos_offset
           : !strcmp(a, "--local3d-kernel")   ? &o->local3d_kernel
                                              : NULL;
}

/* The option's field for the file-valued options; NULL for the others. */
static const char **path_opt(cv_convert_opts *o, const char *a)
{
    return !strcmp(a, "--pipeline") ? &o->pipeline_json : !strcmp(a, "--clusters") ? &o->clusters_npy : NULL;
}

static int parse_args(int argc, char **argv, cv_convert_opts *o, const char **paths, int *quiet)
{
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = CV_EXIT_OK;
        if (!strcmp(a, "--quiet")) {
            *quiet = 1;
        } else if (path_opt(o, a)) {
            if (i + 1 >= argc)
                return cv_cli_fail(CV_EXIT_USAGE, "convert: %s needs a value", a);
            *path_opt(o, a) = argv[++i];
        } else if (!strcmp(a, "--type") || !strcmp(a, "--frame-grid") || !strcmp(a, "--attention-plus") ||
                   int_opt(o, a)) {
            if (i + 1 >= argc)
                return cv_cli_fail(CV_EXIT_USAGE, "convert: %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--type")) {
                o->type = cv_convert_parse_type(v);
                if (o->type < 0)
                    return cv_cli_fail(CV_EXIT_USAGE, "--type: '%s' is not one of f32, f16, bf16, q8_0", v);
            } else if (!strcmp(a, "--attention-plus")) {
                o->attention_plus = v; /* cv_convert names the flag if v is not a kind */
            } else if (!strcmp(a, "--frame-grid")) {
                rc = parse_grid(v, &o->frame_height, &o->frame_width);
            } else {
                rc = parse_id(a, v, int_opt(o, a));
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            return cv_cli_fail(CV_EXIT_USAGE, "convert: unknown option '%s' (see cogvideo convert --help)", a);
        } else if (np < 2) {
            paths[np++] = a;
        } else {
            return cv_cli_fail(CV_EXIT_USAGE, "convert: unexpected argument '%s'", a);
        }
        if (rc)
            return rc;
    }
    if (np != 2)
        return cv_cli_fail(CV_EXIT_USAGE, "convert: expected SAT_MODEL_DIR and OUT.gguf (see cogvideo convert --help)");
    return CV_EXIT_OK;
}

int cv_cmd_convert(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return convert_usage(stdout), CV_EXIT_OK;
    cv_convert_opts o;
    cv_convert_opts_default(&o);
    const char *paths[2] = {NULL, NULL};
    int quiet = 0;
    int rc = parse_args(argc, argv, &o, paths, &quiet);
    if (rc)
        return rc;
    progress_state ps;
    clock_gettime(CLOCK_MONOTONIC, &ps.t0);
    if (!quiet && isatty(2)) {
        o.progress = show_progress;
        o.progress_ctx = &ps;
    }
    cv_error err;
    cv_status s = cv_convert(paths[0], paths[1], &o, &err);
    if (s != CV_OK)
        return cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg);
    return CV_EXIT_OK;
}
