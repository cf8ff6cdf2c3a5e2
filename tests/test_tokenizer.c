/* test_tokenizer.c — the tokenizer against the official SentencePiece
 * library (testdata/tokenizer/{uni,bpe}.golden, made by tools/make_tokenizer_golden):
 * every golden string of both models, loaded from the .model and from a GGUF
 * written here; icetk's layer; corrupt models; a fuzz test.
 *   tests/test_tokenizer [--seed N] [--fuzz N]
 *   tests/test_tokenizer --bench [--bench-text FILE]   MB/s on a long mixed text */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_files.h"
#include "tok_golden.h"
#include "tokenizer.h"

/* uni: unigram + nmt_nfkc (icetk-like); bpe: BPE, byte fallback, split
 * digits, whitespace kept; idn: unigram, identity normalizer, byte fallback,
 * whitespace as suffix, a second user-defined symbol (short strings only). */
static const char *const k_models[] = {"uni", "bpe", "idn"};
#define N_MODELS (sizeof k_models / sizeof k_models[0])
static uint64_t g_seed;
static long g_fuzz = 100000;

static const char *testdata(const char *name, const char *ext)
{
    static char buf[2][4096];
    static int k;
    const char *d = getenv("CV_TESTDATA");
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/tokenizer/%s%s", d ? d : "testdata", name, ext);
    return buf[k];
}

static bool slow(void)
{
    const char *e = getenv("CV_SLOW");
    return e && *e;
}

static cv_tokenizer *load(const char *path)
{
    cv_tokenizer *t = NULL;
    cv_error err;
    if (cv_tokenizer_load(path, NULL, &t, &err) != CV_OK)
        fail_msg("%s", err.msg);
    return t;
}

/* Every golden line; returns how many were identical (all, or the test fails). */
static void check_golden(const cv_tokenizer *t, const char *model, const char *via)
{
    tok_golden g;
    char msg[512];
    if (tok_golden_load(testdata(model, ".golden"), &g, msg, sizeof msg))
        fail_msg("%s", msg);
    size_t ok = 0, e = 0;
    for (size_t i = 0; i < g.n; i++) {
        e += g.v[i].kind == 'E';
        if (tok_case_check(t, &g.v[i], msg, sizeof msg) == 0)
            ok++;
        else if (ok + 20 > i) /* the first few differences */
            print_error("%s (%s): %s\n", model, via, msg);
    }
    printf("  %s from %s: %zu/%zu golden lines identical (%zu strings encoded + decoded, %zu id lists decoded)\n",
           model, via, ok, g.n, e, g.n - e);
    assert_true(e >= (strcmp(model, "idn") ? 1500u : 500u));
    assert_int_equal(ok, g.n);
    tok_golden_free(&g);
}

static void test_golden_model(void **state)
{
    (void)state;
    for (size_t m = 0; m < N_MODELS; m++) {
        cv_tokenizer *t = load(testdata(k_models[m], ".model"));
        check_golden(t, k_models[m], ".model");
        cv_tokenizer_free(t);
    }
}

static void test_golden_gguf(void **state)
{
    (void)state;
    for (size_t m = 0; m < N_MODELS; m++) {
        cv_tokenizer *t = load(testdata(k_models[m], ".model"));
        cv_error err;
        const char *path = cv_test_path("tok.gguf");
        assert_int_equal(cv_tokenizer_save_gguf(t, path, &err), CV_OK);
        cv_tokenizer_free(t);
        t = load(path);
        check_golden(t, k_models[m], "GGUF");
        cv_tokenizer_free(t);
    }
}

/* icetk's layer: specials appended at the end with score 0, <n> looked up,
 * ids shifted by the image tokens, the offset overridable. */
static void test_icetk_layer(void **state)
{
    (void)state;
    static const char *specials[] = {"<start_of_image>", "<start_of_english>", "<start_of_chinese>"};
    cv_tokenizer *t = load(testdata("uni", ".model"));
    const size_t n = cv_tokenizer_n_pieces(t);
    assert_int_equal(cv_tokenizer_image_tokens(t), 20000);
    for (size_t k = 0; k < 3; k++)
        assert_int_equal(cv_tokenizer_piece_id(t, specials[k], strlen(specials[k])), 20000 + (int64_t)(n - 3 + k));
    /* trained with <unk> <s> </s> <pad> <n> first, like ice_text.model */
    assert_int_equal(cv_tokenizer_piece_id(t, "<n>", 3), 20004);
    assert_int_equal(cv_tokenizer_piece_id(t, "no such piece", 13), 20000);
    size_t len;
    const char *p = cv_tokenizer_piece(t, 20004, &len);
    assert_non_null(p);
    assert_memory_equal(p, "<n>", 3);
    assert_null(cv_tokenizer_piece(t, 19999, &len));
    assert_null(cv_tokenizer_piece(t, 20000 + (int64_t)n, &len));
    int64_t bad[2] = {20005, 19999};
    char *text;
    cv_error err;
    assert_int_equal(cv_tokenizer_decode(t, bad, 2, &text, &len, &err), CV_ERR_ARG);
    assert_non_null(strstr(err.msg, "19999"));
    cv_tokenizer_free(t);

    cv_tokenizer_opts o;
    cv_tokenizer_opts_default(&o);
    o.image_tokens = 7;
    o.specials = NULL;
    assert_int_equal(cv_tokenizer_load(testdata("uni", ".model"), &o, &t, &err), CV_OK);
    assert_int_equal(cv_tokenizer_n_pieces(t), n - 3);
    assert_int_equal(cv_tokenizer_piece_id(t, "<n>", 3), 7 + 4);
    cv_tokenizer_free(t);
}

/* The duration prefix as Python's str(float(d)) + "秒" writes it. */
static void test_duration_text(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *s;
    } cases[] = {{4.0, "4.0"}, {2, "2.0"}, {0.5, "0.5"}, {0.125, "0.125"}, {12.5, "12.5"}, {100, "100.0"},
                 {0.0, "0.0"}, {6.25, "6.25"}, {0.05, "0.05"}, {0.001, "0.001"}, {1e-05, "1e-05"},
                 {1e16, "1e+16"}, {1.5e16, "1.5e+16"}, {123456789012345.0, "123456789012345.0"}, {-2.5, "-2.5"},
                 {0.1, "0.1"}, {1.0 / 3, "0.3333333333333333"}};
    char buf[64], want[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(want, sizeof want, "%s\xe7\xa7\x92", cases[i].s);
        const size_t n = cv_tokenizer_duration_text(cases[i].d, buf, sizeof buf);
        assert_int_equal(n, strlen(want));
        assert_string_equal(buf, want);
    }
    assert_int_equal(cv_tokenizer_duration_text(4.0, buf, 4), 0);
}

/* ------------------------------------------------------------ corrupt input */

static unsigned char *read_model(const char *name, size_t *n)
{
    return cv_test_read_all(testdata(name, ".model"), n);
}

static void expect_error(const void *b, size_t n, const char *what)
{
    cv_tokenizer *t = NULL;
    cv_error err;
    err.msg[0] = '\0';
    const cv_status s = cv_tokenizer_from_proto(b, n, "x.model", NULL, &t, &err);
    if (s == CV_OK)
        fail_msg("%s: accepted", what);
    assert_null(t);
    assert_non_null(strstr(err.msg, "x.model"));
    assert_null(strchr(err.msg, '\n'));
}

static void test_corrupt_model(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = read_model("uni", &n);
    expect_error(b, 0, "empty");
    expect_error("\x0a\x05\x0a\x03<n>", 7, "no <unk>");
    expect_error("\x0a\x80", 2, "truncated length");
    expect_error("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, "overlong varint");
    expect_error("\x0b", 1, "group wire type");
    /* every truncation: an error or a smaller valid model, never a crash */
    int errors = 0;
    for (size_t cut = 0; cut < n; cut += 1 + cut / 64) {
        cv_tokenizer *t = NULL;
        cv_error err;
        if (cv_tokenizer_from_proto(b, cut, "x.model", NULL, &t, &err) != CV_OK)
            errors++, assert_non_null(strstr(err.msg, "x.model"));
        cv_tokenizer_free(t);
    }
    assert_true(errors > 0);
    /* random byte flips: loads or fails cleanly; if it loads, it encodes */
    srand((unsigned)g_seed);
    unsigned char *c = malloc(n);
    for (int k = 0; k < (slow() ? 20 : 200); k++) {
        memcpy(c, b, n);
        for (int j = 0; j < 4; j++)
            c[(size_t)rand() % n] = (unsigned char)rand();
        cv_tokenizer *t = NULL;
        cv_error err;
        if (cv_tokenizer_from_proto(c, n, "x.model", NULL, &t, &err) == CV_OK) {
            cv_tokens tk = {0};
            (void)cv_tokenizer_encode(t, "Hello 世界 \xff 4.0秒<n>", 21, &tk, &err);
            cv_tokens_free(&tk);
            cv_tokenizer_free(t);
        }
    }
    free(c);
    free(b);
    cv_tokenizer *t;
    cv_error err;
    const char *path = cv_test_path("missing.model");
    assert_int_equal(cv_tokenizer_load(path, NULL, &t, &err), CV_ERR_IO);
    assert_non_null(strstr(err.msg, "missing.model"));
}

/* A GGUF tokenizer with the given arrays; expects load to fail naming want. */
static void bad_gguf(const char *model, size_t nt, size_t ns, int32_t type1, const char *want)
{
    static const char *tokens[] = {"<unk>", "a", "b"};
    const float scores[] = {0, -1, -2};
    const int32_t types[] = {2, type1, 1};
    cv_gguf_writer *w;
    cv_error err;
    const char *path = cv_test_path("bad.gguf");
    assert_int_equal(cv_gguf_writer_new(&w, path, 0, &err), CV_OK);
    assert_int_equal(cv_gguf_writer_set_str(w, "tokenizer.ggml.model", model, &err), CV_OK);
    assert_int_equal(cv_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", tokens, NULL, nt, &err), CV_OK);
    assert_int_equal(cv_gguf_writer_set_array(w, "tokenizer.ggml.scores", CV_GGUF_FLOAT32, scores, ns, &err), CV_OK);
    assert_int_equal(cv_gguf_writer_set_array(w, "tokenizer.ggml.token_type", CV_GGUF_INT32, types, nt, &err), CV_OK);
    assert_int_equal(cv_gguf_writer_write(w, &err), CV_OK);
    cv_gguf_writer_free(w);
    cv_tokenizer *t = NULL;
    const cv_status s = cv_tokenizer_load(path, NULL, &t, &err);
    if (!want) { /* the control case: this one is valid */
        assert_int_equal(s, CV_OK);
        cv_tokens tk = {0};
        assert_int_equal(cv_tokenizer_encode(t, "ab", 2, &tk, &err), CV_OK);
        assert_int_equal(tk.n, 3); /* "▁" is unknown here: <unk> a b */
        cv_tokens_free(&tk);
        cv_tokenizer_free(t);
        return;
    }
    assert_int_not_equal(s, CV_OK);
    assert_null(t);
    if (!strstr(err.msg, want) || !strstr(err.msg, "bad.gguf"))
        fail_msg("error '%s' lacks '%s'", err.msg, want);
}

static void test_bad_gguf(void **state)
{
    (void)state;
    bad_gguf("t5", 3, 3, 1, NULL);
    bad_gguf("t5", 3, 2, 1, "3 tokens, 2 scores");
    bad_gguf("t5", 3, 3, 9, "token_type[1] is 9");
    bad_gguf("t5", 3, 3, 2, "both <unk>");
    bad_gguf("t5", 3, 3, 6, "byte piece 1");
    bad_gguf("gpt2", 3, 3, 1, "expected \"t5\" or \"llama\"");
}

/* ------------------------------------------------------------ fuzz */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static size_t put_utf8(uint32_t c, char *o)
{
    if (c < 0x80) return o[0] = (char)c, 1;
    if (c < 0x800) return o[0] = (char)(0xC0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000)
        return o[0] = (char)(0xE0 | c >> 12), o[1] = (char)(0x80 | ((c >> 6) & 0x3F)), o[2] = (char)(0x80 | (c & 0x3F)), 3;
    o[0] = (char)(0xF0 | c >> 18), o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F)), o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* A random string of one of several kinds; *safe: only characters whose
 * normalization is stable (ASCII letters, digits, punctuation, single spaces
 * and common CJK), where decode then encode must give the same ids. */
static size_t random_text(uint64_t *r, char *buf, size_t cap, bool *safe)
{
    const int kind = (int)(rng_next(r) % 6);
    size_t len = (size_t)(rng_next(r) % 64);
    if (rng_next(r) % 1000 == 0) /* a few long ones (the megabyte inputs come separately) */
        len = (size_t)(rng_next(r) % (64u << 10));
    size_t n = 0;
    *safe = kind == 0;
    while (n + 8 < cap && n < len) {
        const uint64_t x = rng_next(r);
        switch (kind) {
        case 0: { /* safe alphabet */
            static const char ascii[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?()-+ ";
            if (x % 3)
                buf[n++] = ascii[x % (sizeof ascii - 1)];
            else
                n += put_utf8(0x4E00 + (uint32_t)(x >> 8) % 0x51A5, buf + n);
            if (n >= 2 && buf[n - 1] == ' ' && buf[n - 2] == ' ')
                n--;
            break;
        }
        case 1: buf[n++] = (char)(x & 0xFF); break;                         /* any bytes */
        case 2: buf[n++] = " \t\n\r"[x % 4]; if (x & 0x100) buf[n++] = 'a'; break; /* whitespace runs */
        case 3: n += put_utf8((uint32_t)(x >> 8) % 0x110000 & ~(uint32_t)((x >> 40) % 2 ? 0 : 0xF800), buf + n); break;
        case 4: { /* pieces and specials */
            static const char *w[] = {"<n>", "<start_of_image>", "<s>", "<unk>", "<0x41>", "▁", "秒", "4.0", " ", "the", "中国"};
            const char *s = w[x % 11];
            memcpy(buf + n, s, strlen(s));
            n += strlen(s);
            break;
        }
        default: /* valid UTF-8 with invalid bytes mixed in */
            if (x % 5 == 0) buf[n++] = (char)(0x80 | (x >> 8 & 0x7F));
            else n += put_utf8(0x20 + (uint32_t)(x >> 8) % 0x3000, buf + n);
        }
    }
    return n;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF. */
static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        const unsigned c = u[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) k = 1;
        else if (c >= 0xC2 && c <= 0xDF) k = 2;
        else if (c >= 0xE0 && c <= 0xEF) k = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) k = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else return false;
        if (i + k > n)
            return false;
        for (size_t j = 1; j < k; j++) {
            if (u[i + j] < (j == 1 ? lo : 0x80) || u[i + j] > (j == 1 ? hi : 0xBF))
                return false;
        }
        i += k;
    }
    return true;
}

/* Decodes a random id list (controls, <unk>, bytes in any order): it must
 * succeed and give valid UTF-8 (SentencePiece maps stray bytes to U+FFFD). */
static void fuzz_decode(const cv_tokenizer *t, uint64_t *r)
{
    int64_t ids[40];
    const size_t n = (size_t)(rng_next(r) % 40);
    const int64_t lo = cv_tokenizer_image_tokens(t), np = (int64_t)cv_tokenizer_n_pieces(t);
    for (size_t i = 0; i < n; i++) {
        const uint64_t x = rng_next(r);
        ids[i] = lo + (x % 3 ? (int64_t)(x >> 8) % 300 : (int64_t)(x >> 8) % np);
    }
    char *text;
    size_t len;
    cv_error err;
    if (cv_tokenizer_decode(t, ids, n, &text, &len, &err))
        fail_msg("decode: %s", err.msg);
    assert_true(valid_utf8(text, len));
    assert_int_equal(text[len], 0);
    free(text);
}

/* Checks one encode: ids in range, each piece the model's piece for its id
 * (or the text of an <unk>), decode succeeds with valid UTF-8, and on safe
 * text encode(decode(ids)) == ids.  SentencePiece guarantees the last only
 * when whitespace is a prefix: with treat_whitespace_as_suffix (model idn)
 * the decoder keeps the trailing U+2581 as a space, which encodes to one
 * more piece (the official library does the same), so safe is false there. */
static void fuzz_one(const cv_tokenizer *t, const char *s, size_t n, bool safe, cv_tokens *a, cv_tokens *b)
{
    cv_error err;
    if (cv_tokenizer_encode(t, s, n, a, &err))
        fail_msg("encode: %s", err.msg);
    const int64_t lo = cv_tokenizer_image_tokens(t), hi = lo + (int64_t)cv_tokenizer_n_pieces(t);
    bool unk = false;
    for (size_t i = 0; i < a->n; i++) {
        if (a->ids[i] < lo || a->ids[i] >= hi)
            fail_msg("id %lld out of range", (long long)a->ids[i]);
        size_t len;
        const char *p = cv_tokenizer_piece(t, a->ids[i], &len);
        if (a->ids[i] == lo) {
            unk = true;
            assert_true(a->off[i + 1] > a->off[i]);
        } else if (len != a->off[i + 1] - a->off[i] || memcmp(p, a->text + a->off[i], len)) {
            fail_msg("piece %zu does not match its id %lld", i, (long long)a->ids[i]);
        }
    }
    char *text;
    size_t len;
    if (cv_tokenizer_decode(t, a->ids, a->n, &text, &len, &err))
        fail_msg("decode: %s", err.msg);
    assert_true(valid_utf8(text, len));
    if (safe && !unk) {
        if (cv_tokenizer_encode(t, text, len, b, &err))
            fail_msg("encode: %s", err.msg);
        if (b->n != a->n || memcmp(a->ids, b->ids, a->n * sizeof *a->ids))
            fail_msg("encode(decode(ids)) != ids for '%.*s'", (int)(n < 80 ? n : 80), s);
    }
    free(text);
}

static void test_fuzz(void **state)
{
    (void)state;
    const long count = slow() ? g_fuzz / 10 : g_fuzz;
    if (slow())
        printf("  slow build (CV_SLOW=%s): %ld random strings per model instead of %ld\n", getenv("CV_SLOW"), count,
               g_fuzz);
    const size_t cap = 4u << 20;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (size_t m = 0; m < N_MODELS; m++) {
        cv_tokenizer *t = load(testdata(k_models[m], ".model"));
        uint64_t r = g_seed + m;
        const bool roundtrip = strcmp(k_models[m], "idn") != 0;
        cv_tokens a = {0}, b = {0};
        long safe_checked = 0;
        for (long k = 0; k < count; k++) {
            bool safe;
            const size_t n = random_text(&r, buf, cap, &safe);
            fuzz_one(t, buf, n, safe && roundtrip, &a, &b);
            safe_checked += safe && roundtrip;
            if (k % 4 == 0)
                fuzz_decode(t, &r);
        }
        /* megabyte inputs: spaces, one character, random bytes */
        const size_t big = slow() ? cap / 8 : cap;
        memset(buf, ' ', big);
        fuzz_one(t, buf, big, false, &a, &b);
        memset(buf, 'a', big);
        fuzz_one(t, buf, big, roundtrip, &a, &b);
        for (size_t i = 0; i < big; i++)
            buf[i] = (char)rng_next(&r);
        fuzz_one(t, buf, big, false, &a, &b);
        printf("  %s: %ld random strings + 3 of %zu bytes, no failure (%ld checked for encode(decode(ids)) == ids; %ld random id lists decoded)\n",
               k_models[m], count, big, safe_checked, (count + 3) / 4);
        cv_tokens_free(&a);
        cv_tokens_free(&b);
        cv_tokenizer_free(t);
    }
    free(buf);
}

/* ------------------------------------------------------------ bench */

/* The long mixed text: every valid-UTF-8 golden string, repeated to >= 8 MB. */
static char *bench_text(size_t *len)
{
    tok_golden g;
    char msg[512];
    if (tok_golden_load(testdata("uni", ".golden"), &g, msg, sizeof msg))
        return fprintf(stderr, "%s\n", msg), NULL;
    size_t one = 0;
    for (size_t i = 0; i < g.n; i++)
        if (g.v[i].kind == 'E' && valid_utf8(g.v[i].text, g.v[i].text_len))
            one += g.v[i].text_len + 1;
    const size_t reps = (8u << 20) / one + 1;
    char *s = malloc(one * reps + 1), *p = s;
    for (size_t r = 0; s && r < reps; r++)
        for (size_t i = 0; i < g.n; i++)
            if (g.v[i].kind == 'E' && valid_utf8(g.v[i].text, g.v[i].text_len)) {
                memcpy(p, g.v[i].text, g.v[i].text_len);
                p += g.v[i].text_len;
                *p++ = ' ';
            }
    tok_golden_free(&g);
    *len = (size_t)(p - s);
    return s;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int bench(const char *out)
{
    size_t len;
    char *s = bench_text(&len);
    if (!s)
        return 1;
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(s, 1, len, f) != len || fclose(f))
            return fprintf(stderr, "%s: cannot write\n", out), 1;
    }
    for (size_t m = 0; m < N_MODELS; m++) {
        cv_tokenizer *t;
        cv_error err;
        if (cv_tokenizer_load(testdata(k_models[m], ".model"), NULL, &t, &err))
            return fprintf(stderr, "%s\n", err.msg), 1;
        cv_tokens tk = {0};
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            const double t0 = now();
            cv_tokenizer_encode(t, s, len, &tk, &err);
            const double dt = now() - t0;
            best = dt < best ? dt : best;
        }
        printf("%s: %zu bytes -> %zu tokens in %.3f s: %.2f MB/s\n", k_models[m], len, tk.n, best, (double)len / 1e6 / best);
        cv_tokens_free(&tk);
        cv_tokenizer_free(t);
    }
    free(s);
    return 0;
}

static int setup(void **state)
{
    cv_test_dir_name("test_tokenizer");
    return cv_test_setup_dir(state);
}

int main(int argc, char **argv)
{
    g_seed = (uint64_t)time(NULL);
    const char *bench_out = NULL;
    int do_bench = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            g_seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--fuzz") && i + 1 < argc)
            g_fuzz = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--bench"))
            do_bench = 1;
        else if (!strcmp(argv[i], "--bench-text") && i + 1 < argc)
            bench_out = argv[++i];
        else
            return fprintf(stderr, "usage: test_tokenizer [--seed N] [--fuzz N] [--bench [--bench-text FILE]]\n"), 2;
    }
    if (do_bench)
        return bench(bench_out);
    printf("seed %llu (replay with --seed)\n", (unsigned long long)g_seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_model), cmocka_unit_test(test_golden_gguf),
        cmocka_unit_test(test_icetk_layer),  cmocka_unit_test(test_duration_text),
        cmocka_unit_test(test_corrupt_model), cmocka_unit_test(test_bad_gguf),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, setup, cv_test_teardown_dir);
}
