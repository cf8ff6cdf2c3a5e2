/* tok_golden.c — see tok_golden.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* getline */
#endif
#include "tok_golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Hex field [s, e) -> malloc'ed bytes (NUL-terminated). */
static char *unhex(const char *s, const char *e, size_t *len)
{
    const size_t n = (size_t)(e - s);
    char *out = malloc(n / 2 + 1);
    if (!out || n % 2)
        return free(out), NULL;
    for (size_t i = 0; i < n / 2; i++) {
        const int h = hexval(s[2 * i]), l = hexval(s[2 * i + 1]);
        if (h < 0 || l < 0)
            return free(out), NULL;
        out[i] = (char)(h * 16 + l);
    }
    out[n / 2] = '\0';
    *len = n / 2;
    return out;
}

static size_t count_items(const char *s, const char *e)
{
    if (s == e)
        return 0;
    size_t n = 1;
    for (const char *p = s; p < e; p++)
        n += *p == ',';
    return n;
}

static int parse_ids(const char *s, const char *e, tok_case *c)
{
    c->n_ids = count_items(s, e);
    c->ids = malloc((c->n_ids + 1) * sizeof *c->ids);
    if (!c->ids)
        return -1;
    const char *p = s;
    for (size_t i = 0; i < c->n_ids; i++) {
        char *end;
        c->ids[i] = strtoll(p, &end, 10);
        if (end == p)
            return -1;
        p = end + 1;
    }
    return 0;
}

static int parse_pieces(const char *s, const char *e, tok_case *c)
{
    if (count_items(s, e) != c->n_ids)
        return -1;
    c->off = malloc((c->n_ids + 1) * sizeof *c->off);
    c->pieces = malloc((size_t)(e - s) / 2 + 1);
    if (!c->off || !c->pieces)
        return -1;
    c->off[0] = 0;
    const char *p = s;
    for (size_t i = 0; i < c->n_ids; i++) {
        const char *q = memchr(p, ',', (size_t)(e - p));
        if (!q)
            q = e;
        size_t n;
        char *b = unhex(p, q, &n);
        if (!b)
            return -1;
        memcpy(c->pieces + c->off[i], b, n);
        free(b);
        c->off[i + 1] = c->off[i] + n;
        p = q + 1;
    }
    return 0;
}

/* Splits line into at most 5 TAB-separated fields. */
static int split(char *line, char **f, char **fe)
{
    int n = 0;
    char *p = line;
    for (;;) {
        f[n] = p;
        char *t = strchr(p, '\t');
        fe[n] = t ? t : p + strlen(p);
        n++;
        if (!t || n == 5)
            return n;
        p = t + 1;
    }
}

static int parse_line(char *line, tok_case *c)
{
    char *f[5], *fe[5];
    const int n = split(line, f, fe);
    c->kind = line[0];
    if (c->kind == 'E' && n == 5) {
        if (!(c->text = unhex(f[1], fe[1], &c->text_len)) || parse_ids(f[2], fe[2], c) ||
            parse_pieces(f[3], fe[3], c) || !(c->dec = unhex(f[4], fe[4], &c->dec_len)))
            return -1;
        return 0;
    }
    if (c->kind == 'D' && n == 3)
        return parse_ids(f[1], fe[1], c) || !(c->dec = unhex(f[2], fe[2], &c->dec_len)) ? -1 : 0;
    return -1;
}

int tok_golden_load(const char *path, tok_golden *g, char *msg, size_t msgn)
{
    memset(g, 0, sizeof *g);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return snprintf(msg, msgn, "%s: cannot open", path), -1;
    char *line = NULL;
    size_t cap = 0, vcap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, fp)) > 0) {
        lineno++;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (g->n == vcap) {
            vcap = vcap ? 2 * vcap : 1024;
            tok_case *v = realloc(g->v, vcap * sizeof *v);
            if (!v) {
                rc = -1;
                break;
            }
            g->v = v;
        }
        tok_case *c = &g->v[g->n++];
        memset(c, 0, sizeof *c);
        c->line = lineno;
        if (parse_line(line, c)) {
            snprintf(msg, msgn, "%s:%d: malformed golden line", path, lineno);
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(fp);
    if (!rc && g->n == 0)
        rc = -1, snprintf(msg, msgn, "%s: no golden lines", path);
    if (rc)
        tok_golden_free(g);
    return rc;
}

void tok_golden_free(tok_golden *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].text);
        free(g->v[i].ids);
        free(g->v[i].pieces);
        free(g->v[i].off);
        free(g->v[i].dec);
    }
    free(g->v);
    memset(g, 0, sizeof *g);
}

static int check_encode(const cv_tokenizer *tok, const tok_case *c, char *msg, size_t msgn)
{
    cv_tokens t = {0};
    cv_error err;
    if (cv_tokenizer_encode(tok, c->text, c->text_len, &t, &err))
        return snprintf(msg, msgn, "line %d: encode failed: %s", c->line, err.msg), -1;
    int rc = 0;
    if (t.n != c->n_ids)
        rc = -1, snprintf(msg, msgn, "line %d: %zu ids (expected %zu)", c->line, t.n, c->n_ids);
    for (size_t i = 0; !rc && i < t.n; i++) {
        const size_t n = t.off[i + 1] - t.off[i], gn = c->off[i + 1] - c->off[i];
        if (t.ids[i] != c->ids[i])
            rc = -1, snprintf(msg, msgn, "line %d: id %zu is %lld (expected %lld)", c->line, i, (long long)t.ids[i],
                              (long long)c->ids[i]);
        else if (n != gn || memcmp(t.text + t.off[i], c->pieces + c->off[i], n))
            rc = -1, snprintf(msg, msgn, "line %d: piece %zu is '%.*s' (expected '%.*s')", c->line, i, (int)n,
                              t.text + t.off[i], (int)gn, c->pieces + c->off[i]);
    }
    cv_tokens_free(&t);
    return rc;
}

int tok_case_check(const cv_tokenizer *tok, const tok_case *c, char *msg, size_t msgn)
{
    if (c->kind == 'E' && check_encode(tok, c, msg, msgn))
        return -1;
    char *text;
    size_t len;
    cv_error err;
    if (cv_tokenizer_decode(tok, c->ids, c->n_ids, &text, &len, &err))
        return snprintf(msg, msgn, "line %d: decode failed: %s", c->line, err.msg), -1;
    int rc = 0;
    if (len != c->dec_len || memcmp(text, c->dec, len))
        rc = -1, snprintf(msg, msgn, "line %d: decoded '%.60s' (%zu bytes; expected '%.60s', %zu bytes)", c->line,
                          text, len, c->dec, c->dec_len);
    free(text);
    return rc;
}
