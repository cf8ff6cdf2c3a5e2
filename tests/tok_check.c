/* tok_check.c — runs `cogvideo tokenize` on golden cases and compares its
 * output, byte for byte, with what the official library gave:
 *   tok_check GOLDEN MODEL TMPDIR 'CMD' [--every K] [--json] [--no-decode]
 * CMD is the command prefix (e.g. "qemu-aarch64 ./cogvideo"), run through
 * the shell.  Every E line's text (every K-th line with --every) goes into
 * its own file TMPDIR/inK, and one `CMD tokenize -m MODEL --input FILE...`
 * must print, per file, "ID<TAB>PIECE\n" per token and an empty line (--json:
 * one JSON object per line); unless --no-decode, every line's ids go into
 * TMPDIR/idsK and one `CMD tokenize -m MODEL --decode-files FILE...` must
 * print each decoded text and a newline.  Exit 0 only if all is identical. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_golden.h"

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * (b->n + n + 1);
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            exit(99);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* Appends sep (may be empty) and the decimal v. */
static void sb_int(sbuf *b, const char *sep, long long v)
{
    char t[40];
    const int n = snprintf(t, sizeof t, "%s%lld", sep, v);
    sb_add(b, t, (size_t)n);
}

/* The JSON string as specified for `tokenize --json`: '"' and '\\' escaped
 * with a backslash, bytes below 0x20 and 0x7f as \u00XX, the rest verbatim. */
static void sb_json(sbuf *b, const char *s, size_t n)
{
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        char t[8];
        if (c == '"' || c == '\\')
            t[0] = '\\', t[1] = (char)c, sb_add(b, t, 2);
        else if (c < 0x20 || c == 0x7f)
            sb_add(b, t, (size_t)snprintf(t, sizeof t, "\\u%04x", c));
        else
            sb_add(b, s + i, 1);
    }
    sb_add(b, "\"", 1);
}

static void expected_encode(const tok_case *c, int json, sbuf *b)
{
    b->n = 0;
    sb_add(b, "", 0);
    if (!json) {
        for (size_t i = 0; i < c->n_ids; i++) {
            sb_int(b, "", c->ids[i]);
            sb_add(b, "\t", 1);
            sb_add(b, c->pieces + c->off[i], c->off[i + 1] - c->off[i]);
            sb_add(b, "\n", 1);
        }
        return;
    }
    sb_add(b, "{\"ids\":[", 8);
    for (size_t i = 0; i < c->n_ids; i++)
        sb_int(b, i ? "," : "", c->ids[i]);
    sb_add(b, "],\"pieces\":[", 12);
    for (size_t i = 0; i < c->n_ids; i++) {
        if (i)
            sb_add(b, ",", 1);
        sb_json(b, c->pieces + c->off[i], c->off[i + 1] - c->off[i]);
    }
    sb_add(b, "]}\n", 3);
}

static int run(const char *cmd, const char *out, sbuf *got)
{
    if (system(cmd) != 0)
        return -1;
    FILE *f = fopen(out, "rb");
    if (!f)
        return -1;
    got->n = 0;
    sb_add(got, "", 0);
    char t[65536];
    size_t n;
    while ((n = fread(t, 1, sizeof t, f)) > 0)
        sb_add(got, t, n);
    fclose(f);
    return 0;
}

static int write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    const size_t w = fwrite(s, 1, n, f);
    return fclose(f) || w != n ? -1 : 0;
}

/* Runs cmd; compares its output with want (blocks ends[0..n) mark where
 * each case's expected output ends); returns the index of the first case
 * that differs, or -1. */
static long run_batch(const char *cmd, const char *out, const sbuf *want, const size_t *ends, size_t n, sbuf *got)
{
    if (run(cmd, out, got))
        return 0;
    size_t i = 0;
    while (i < want->n && i < got->n && want->p[i] == got->p[i])
        i++;
    if (i == want->n && got->n == want->n)
        return -1;
    for (size_t k = 0; k < n; k++)
        if (i < ends[k])
            return (long)k;
    return (long)n - 1;
}

static void add_quoted(sbuf *b, const char *s)
{
    sb_add(b, " '", 2);
    sb_add(b, s, strlen(s));
    sb_add(b, "'", 1);
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return fprintf(stderr, "usage: tok_check GOLDEN MODEL TMPDIR 'CMD' [--every K] [--json] [--no-decode]\n"), 2;
    int every = 1, json = 0, decode = 1;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--every") && i + 1 < argc)
            every = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--no-decode"))
            decode = 0;
    }
    if (every < 1)
        every = 1;
    tok_golden g;
    char msg[512];
    if (tok_golden_load(argv[1], &g, msg, sizeof msg))
        return fprintf(stderr, "%s\n", msg), 2;
    const char *model = argv[2], *dir = argv[3], *cmd = argv[4];
    char out[4096], path[4096];
    snprintf(out, sizeof out, "%s/out", dir);
    sbuf enc_cmd = {0}, dec_cmd = {0}, enc_want = {0}, dec_want = {0}, got = {0}, tmp = {0};
    size_t *enc_ends = calloc(g.n, sizeof *enc_ends), *dec_ends = calloc(g.n, sizeof *dec_ends);
    int *enc_line = calloc(g.n, sizeof *enc_line), *dec_line = calloc(g.n, sizeof *dec_line);
    size_t n_enc = 0, n_dec = 0, bad = 0;
    sb_add(&enc_cmd, cmd, strlen(cmd));
    sb_add(&enc_cmd, " tokenize -m", 12);
    add_quoted(&enc_cmd, model);
    sb_add(&dec_cmd, enc_cmd.p, enc_cmd.n);
    sb_add(&enc_cmd, json ? " --json --input" : " --input", json ? 15 : 8);
    sb_add(&dec_cmd, " --decode-files", 15);
    sb_add(&enc_want, "", 0);
    sb_add(&dec_want, "", 0);
    for (size_t k = 0; k < g.n; k += (size_t)every) {
        const tok_case *c = &g.v[k];
        if (c->kind == 'E') {
            snprintf(path, sizeof path, "%s/in%zu", dir, k);
            if (write_file(path, c->text, c->text_len))
                return fprintf(stderr, "%s: cannot write\n", path), 2;
            add_quoted(&enc_cmd, path);
            expected_encode(c, json, &tmp);
            sb_add(&enc_want, tmp.p, tmp.n);
            enc_line[n_enc] = c->line;
            enc_ends[n_enc++] = enc_want.n;
        }
        if (!decode)
            continue;
        tmp.n = 0;
        sb_add(&tmp, "", 0);
        for (size_t i = 0; i < c->n_ids; i++)
            sb_int(&tmp, i ? " " : "", c->ids[i]);
        snprintf(path, sizeof path, "%s/ids%zu", dir, k);
        if (write_file(path, tmp.p, tmp.n))
            return fprintf(stderr, "%s: cannot write\n", path), 2;
        add_quoted(&dec_cmd, path);
        sb_add(&dec_want, c->dec, c->dec_len);
        sb_add(&dec_want, "\n", 1);
        dec_line[n_dec] = c->line;
        dec_ends[n_dec++] = dec_want.n;
    }
    if (!json && n_enc > 1) { /* several inputs: each block ends with an empty line */
        sbuf w = {0};
        sb_add(&w, "", 0);
        size_t prev = 0;
        for (size_t k = 0; k < n_enc; k++) {
            sb_add(&w, enc_want.p + prev, enc_ends[k] - prev);
            sb_add(&w, "\n", 1);
            prev = enc_ends[k];
            enc_ends[k] = w.n;
        }
        free(enc_want.p);
        enc_want = w;
    }
    sb_add(&enc_cmd, " >", 2);
    add_quoted(&enc_cmd, out);
    sb_add(&dec_cmd, " >", 2);
    add_quoted(&dec_cmd, out);
    long k = n_enc ? run_batch(enc_cmd.p, out, &enc_want, enc_ends, n_enc, &got) : -1;
    if (k >= 0)
        bad++, fprintf(stderr, "FAIL: %s line %d: tokenize output differs from the golden\n", argv[1], enc_line[k]);
    k = n_dec ? run_batch(dec_cmd.p, out, &dec_want, dec_ends, n_dec, &got) : -1;
    if (k >= 0)
        bad++, fprintf(stderr, "FAIL: %s line %d: tokenize --decode-files output differs from the golden\n", argv[1],
                       dec_line[k]);
    printf("%s via %s: %zu texts encoded%s and %zu id lists decoded through the CLI: %s\n", argv[1], model, n_enc,
           json ? " (--json)" : "", n_dec, bad ? "DIFFERENT" : "all identical");
    free(enc_cmd.p), free(dec_cmd.p), free(enc_want.p), free(dec_want.p), free(got.p), free(tmp.p);
    free(enc_ends), free(dec_ends), free(enc_line), free(dec_line);
    tok_golden_free(&g);
    return bad ? 1 : 0;
}
