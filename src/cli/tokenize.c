/* tokenize.c — `cogvideo tokenize` (text -> icetk ids and pieces, ids -> text)
 * and `cogvideo convert-tokenizer` (ice_text.model -> GGUF). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tokenizer.h"

static void tokenize_usage(FILE *out)
{
    fprintf(out,
            "usage: cogvideo tokenize -m MODEL.gguf|ICE_TEXT.model [--json] [--image-tokens N] [--] TEXT\n"
            "       cogvideo tokenize -m MODEL [--json] [--image-tokens N] --input FILE...\n"
            "       cogvideo tokenize -m MODEL [--image-tokens N] --decode ID...\n"
            "       cogvideo tokenize -m MODEL [--image-tokens N] --decode-files FILE...\n"
            "       cogvideo tokenize -m MODEL --bench FILE\n"
            "Encodes TEXT as icetk's IceTokenizer.encode does and prints one line per token,\n"
            "\"ID<TAB>PIECE\" (ids include the image-token offset).\n"
            "  --json               one object {\"ids\":[...],\"pieces\":[...]} instead\n"
            "  --                   the next argument is TEXT, verbatim (it may be empty or start with -)\n"
            "  --input FILE...      encode the bytes of each FILE (any bytes, NUL included); with\n"
            "                       several files each one's lines end with an empty line (--json:\n"
            "                       one object per line)\n"
            "  --decode ID...       print IceTokenizer.decode of the ids (\"<n>\" becomes a newline)\n"
            "  --decode-files F...  the same for the ids in each file (decimal, blank-separated),\n"
            "                       one decoded text and a newline per file\n"
            "  --image-tokens N     id offset of text pieces (default: the GGUF's, 20000 for a .model)\n"
            "  --bench FILE         encode FILE repeatedly and print MB/s\n"
            "A .model file gets icetk's special pieces <start_of_image>, <start_of_english>,\n"
            "<start_of_chinese> appended, as CogVideo's pipeline does.  The list options\n"
            "(--input, --decode, --decode-files) take every argument after them.\n");
}

static void convert_tokenizer_usage(FILE *out)
{
    fprintf(out, "usage: cogvideo convert-tokenizer ICE_TEXT.model OUT.gguf [--image-tokens N]\n"
                 "Stores the SentencePiece model, with icetk's three special pieces appended, under\n"
                 "llama.cpp's tokenizer.ggml.* keys (and cogvideo.image_tokens, default 20000).\n");
}

typedef struct {
    const char *model, *text, *bench;
    int json, image_tokens;
    int list;         /* 0, or 'i' (--input), 'd' (--decode), 'f' (--decode-files) */
    int first, count; /* the list: argv[first .. first + count) */
} tok_args;

static int is_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--") || !strcmp(argv[i], "--input") || !strcmp(argv[i], "--decode") ||
            !strcmp(argv[i], "--decode-files"))
            return 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    }
    return 0;
}

static int parse_value(int argc, char **argv, int *i, const char **v)
{
    if (*i + 1 >= argc)
        return cv_cli_fail(CV_EXIT_USAGE, "tokenize: %s needs a value", argv[*i]);
    *v = argv[++*i];
    return CV_EXIT_OK;
}

/* --input, --decode, --decode-files: the rest of the arguments. */
static int list_option(const char *s)
{
    return !strcmp(s, "--input") ? 'i' : !strcmp(s, "--decode") ? 'd' : !strcmp(s, "--decode-files") ? 'f' : 0;
}

static int parse_tok_args(int argc, char **argv, tok_args *a)
{
    memset(a, 0, sizeof *a);
    a->image_tokens = -1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        int rc = CV_EXIT_OK;
        if (list_option(s)) {
            a->list = list_option(s);
            a->first = i + 1;
            a->count = argc - i - 1;
            if (a->count == 0 && a->list != 'd')
                return cv_cli_fail(CV_EXIT_USAGE, "tokenize: %s needs at least one FILE", s);
            break;
        } else if (!strcmp(s, "--")) {
            if (i + 2 != argc)
                return cv_cli_fail(CV_EXIT_USAGE, "tokenize: expected exactly one TEXT after --");
            a->text = argv[i + 1];
            break;
        } else if (!strcmp(s, "-m") || !strcmp(s, "--model")) {
            rc = parse_value(argc, argv, &i, &a->model);
        } else if (!strcmp(s, "--bench")) {
            rc = parse_value(argc, argv, &i, &a->bench);
        } else if (!strcmp(s, "--image-tokens")) {
            if (!(rc = parse_value(argc, argv, &i, &v)))
                rc = cv_cli_int("--image-tokens", v, 0, 1 << 30, &a->image_tokens);
        } else if (!strcmp(s, "--json")) {
            a->json = 1;
        } else if (s[0] == '-' && s[1] != '\0') {
            return cv_cli_fail(CV_EXIT_USAGE, "tokenize: unknown option '%s' (see cogvideo tokenize --help)", s);
        } else if (!a->text) {
            a->text = s;
        } else {
            return cv_cli_fail(CV_EXIT_USAGE, "tokenize: unexpected argument '%s' (use -- before a TEXT)", s);
        }
        if (rc)
            return rc;
    }
    if (!a->model)
        return cv_cli_fail(CV_EXIT_USAGE, "tokenize: -m MODEL is required (see cogvideo tokenize --help)");
    if (!!a->text + !!a->bench + !!a->list != 1)
        return cv_cli_fail(CV_EXIT_USAGE,
                           "tokenize: expected one of TEXT, --input FILE..., --decode ID..., --decode-files FILE..., --bench FILE");
    return CV_EXIT_OK;
}

static cv_status read_all(const char *path, char **buf, size_t *len, cv_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cv_error_set(err, CV_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    while (p) {
        n += fread(p + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        char *q = realloc(p, cap *= 2);
        if (!q)
            free(p);
        p = q;
    }
    const int bad = ferror(f);
    fclose(f);
    if (!p)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", path);
    if (bad) {
        free(p);
        return cv_error_set(err, CV_ERR_IO, "%s: read error", path);
    }
    *buf = p;
    *len = n;
    return CV_OK;
}

/* A JSON string: '"', '\\' and control bytes escaped; other bytes as they are. */
static void json_str(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_tokens(const cv_tokens *t, int json)
{
    if (!json) {
        for (size_t i = 0; i < t->n; i++) {
            printf("%lld\t", (long long)t->ids[i]);
            fwrite(t->text + t->off[i], 1, t->off[i + 1] - t->off[i], stdout);
            putchar('\n');
        }
        return;
    }
    fputs("{\"ids\":[", stdout);
    for (size_t i = 0; i < t->n; i++)
        printf("%s%lld", i ? "," : "", (long long)t->ids[i]);
    fputs("],\"pieces\":[", stdout);
    for (size_t i = 0; i < t->n; i++) {
        if (i)
            putchar(',');
        json_str(stdout, t->text + t->off[i], t->off[i + 1] - t->off[i]);
    }
    fputs("]}\n", stdout);
}

/* Parses decimal ids from the strings s[0..n) (each may hold several,
 * blank-separated, when split is set). */
static int parse_ids(char *const *s, size_t n, int64_t **ids, size_t *count)
{
    size_t cap = 16, k = 0;
    int64_t *v = malloc(cap * sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        const char *p = s[i];
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
                p++;
            if (!*p)
                break;
            char *end;
            errno = 0;
            const long long x = strtoll(p, &end, 10);
            if (errno || end == p || (*end && !strchr(" \t\n\r", *end))) {
                free(v);
                return cv_cli_fail(CV_EXIT_USAGE, "--decode: '%.40s' is not an integer id", p);
            }
            if (k == cap) {
                int64_t *w = realloc(v, (cap *= 2) * sizeof *v);
                if (!w)
                    free(v);
                v = w;
                if (!v)
                    break;
            }
            v[k++] = x;
            p = end;
        }
    }
    if (!v)
        return cv_cli_fail(CV_EXIT_FAIL, "out of memory");
    *ids = v;
    *count = k;
    return CV_EXIT_OK;
}

static int decode_print(const cv_tokenizer *tok, char *const *s, size_t n)
{
    int64_t *ids = NULL;
    size_t count = 0;
    int rc = parse_ids(s, n, &ids, &count);
    if (rc)
        return rc;
    char *text;
    size_t len;
    cv_error err;
    cv_status st = cv_tokenizer_decode(tok, ids, count, &text, &len, &err);
    free(ids);
    if (st)
        return cv_cli_fail(cv_cli_exit_for(st), "--decode: %s", err.msg);
    fwrite(text, 1, len, stdout);
    putchar('\n');
    free(text);
    return CV_EXIT_OK;
}

static int run_decode_files(const cv_tokenizer *tok, char **files, int n)
{
    for (int k = 0; k < n; k++) {
        char *buf;
        size_t len;
        cv_error err;
        if (read_all(files[k], &buf, &len, &err))
            return cv_cli_fail(CV_EXIT_FAIL, "%s", err.msg);
        if (memchr(buf, '\0', len)) {
            free(buf);
            return cv_cli_fail(CV_EXIT_USAGE, "%s: NUL byte in an id list (expected decimal ids)", files[k]);
        }
        buf[len] = '\0';
        const int rc = decode_print(tok, &buf, 1);
        free(buf);
        if (rc)
            return rc;
    }
    return CV_EXIT_OK;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Encodes the whole text (at least 3 times and 2 s); prints the best rate. */
static int run_bench(const cv_tokenizer *tok, const char *text, size_t len, const char *path)
{
    cv_tokens t = {0};
    cv_error err;
    double best = 1e30, t_total = 0;
    for (int rep = 0; rep < 3 || t_total < 2.0; rep++) {
        const double t0 = now();
        if (cv_tokenizer_encode(tok, text, len, &t, &err)) {
            cv_tokens_free(&t);
            return cv_cli_fail(CV_EXIT_FAIL, "%s", err.msg);
        }
        const double dt = now() - t0;
        t_total += dt;
        best = dt < best ? dt : best;
    }
    printf("%s: %zu bytes, %zu tokens, %.3f s per encode, %.2f MB/s\n", path, len, t.n, best,
           (double)len / 1e6 / best);
    cv_tokens_free(&t);
    return CV_EXIT_OK;
}

static int encode_print(const cv_tokenizer *tok, const char *text, size_t len, int json)
{
    cv_tokens t = {0};
    cv_error err;
    cv_status s = cv_tokenizer_encode(tok, text, len, &t, &err);
    if (s) {
        cv_tokens_free(&t);
        return cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg);
    }
    print_tokens(&t, json);
    cv_tokens_free(&t);
    return CV_EXIT_OK;
}

static int run_inputs(const cv_tokenizer *tok, char **files, int n, int json)
{
    for (int k = 0; k < n; k++) {
        char *buf;
        size_t len;
        cv_error err;
        if (read_all(files[k], &buf, &len, &err))
            return cv_cli_fail(CV_EXIT_FAIL, "%s", err.msg);
        const int rc = encode_print(tok, buf, len, json);
        free(buf);
        if (rc)
            return rc;
        if (n > 1 && !json)
            putchar('\n');
    }
    return CV_EXIT_OK;
}

static int run_bench_file(const cv_tokenizer *tok, const char *path)
{
    char *buf;
    size_t len;
    cv_error err;
    if (read_all(path, &buf, &len, &err))
        return cv_cli_fail(CV_EXIT_FAIL, "%s", err.msg);
    const int rc = run_bench(tok, buf, len, path);
    free(buf);
    return rc;
}

static int run(const cv_tokenizer *tok, const tok_args *a, char **argv)
{
    switch (a->list) {
    case 'i': return run_inputs(tok, argv + a->first, a->count, a->json);
    case 'd': return decode_print(tok, argv + a->first, (size_t)a->count);
    case 'f': return run_decode_files(tok, argv + a->first, a->count);
    default:
        return a->bench ? run_bench_file(tok, a->bench) : encode_print(tok, a->text, strlen(a->text), a->json);
    }
}

int cv_cmd_tokenize(int argc, char **argv)
{
    if (is_help(argc, argv))
        return tokenize_usage(stdout), CV_EXIT_OK;
    tok_args a;
    int rc = parse_tok_args(argc, argv, &a);
    if (rc)
        return rc;
    cv_tokenizer_opts o;
    cv_tokenizer_opts_default(&o);
    o.image_tokens = a.image_tokens;
    cv_tokenizer *tok;
    cv_error err;
    cv_status s = cv_tokenizer_load(a.model, &o, &tok, &err);
    if (s)
        return cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg);
    rc = run(tok, &a, argv);
    cv_tokenizer_free(tok);
    return rc;
}

int cv_cmd_convert_tokenizer(int argc, char **argv)
{
    if (is_help(argc, argv))
        return convert_tokenizer_usage(stdout), CV_EXIT_OK;
    const char *paths[2] = {NULL, NULL};
    int np = 0, image_tokens = -1, rc = CV_EXIT_OK;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--image-tokens")) {
            if (i + 1 >= argc)
                return cv_cli_fail(CV_EXIT_USAGE, "convert-tokenizer: --image-tokens needs a value");
            rc = cv_cli_int("--image-tokens", argv[++i], 0, 1 << 30, &image_tokens);
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return cv_cli_fail(CV_EXIT_USAGE, "convert-tokenizer: unknown option '%s' (see cogvideo convert-tokenizer --help)",
                               argv[i]);
        } else if (np < 2) {
            paths[np++] = argv[i];
        } else {
            return cv_cli_fail(CV_EXIT_USAGE, "convert-tokenizer: unexpected argument '%s'", argv[i]);
        }
    }
    if (rc)
        return rc;
    if (np != 2)
        return cv_cli_fail(CV_EXIT_USAGE, "convert-tokenizer: expected ICE_TEXT.model and OUT.gguf (see --help)");
    cv_tokenizer_opts o;
    cv_tokenizer_opts_default(&o);
    o.image_tokens = image_tokens;
    cv_tokenizer *tok;
    cv_error err;
    cv_status s = cv_tokenizer_load(paths[0], &o, &tok, &err);
    if (!s)
        s = cv_tokenizer_save_gguf(tok, paths[1], &err);
    cv_tokenizer_free(tok);
    if (s)
        return cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg);
    return CV_EXIT_OK;
}
