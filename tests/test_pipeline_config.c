/* test_pipeline_config.c — the pipeline settings and cluster labels as model
 * metadata (pipeline_config.h): the release's defaults, defaults -> GGUF
 * file -> read back, the key names and types of the header written here by
 * hand (so the table in pipeline_config.c is checked against the contract,
 * not against itself), JSON overrides and each of their errors, range
 * checks, the duration text, and the cluster labels' write/read errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gguf.h"
#include "pipeline_config.h"
#include "pyfloat.h"
#include "test_files.h"

#define CHECK(call)                                     \
    do {                                                \
        cv_error e_ = {""};                             \
        cv_status s_ = (call);                          \
        if (s_ != CV_OK)                                \
            fail_msg("%s: %s", #call, e_.msg);          \
    } while (0)

/* One line naming `name` (a file or what) and saying `needle`. */
static void check_msg(const cv_error *err, const char *name, const char *needle)
{
    if (!strstr(err->msg, name) || strchr(err->msg, '\n') || !strstr(err->msg, needle))
        fail_msg("bad message \"%s\" (want one line naming %s and saying %s)", err->msg, name, needle);
}

static void assert_config_equal(const cv_pipeline_config *a, const cv_pipeline_config *b)
{
    assert_string_equal(a->first_frame_suffix, b->first_frame_suffix);
    assert_string_equal(a->duration_format, b->duration_format);
    assert_string_equal(a->guided_suffix, b->guided_suffix);
    assert_string_equal(a->guider_text, b->guider_text);
    assert_int_equal(a->keyframes, b->keyframes);
    assert_true(a->keyframe_seconds == b->keyframe_seconds);
    assert_int_equal(a->rounds, b->rounds);
    assert_true(a->log_text_weight == b->log_text_weight);
    assert_true(a->guidance_alpha == b->guidance_alpha);
    assert_int_equal(a->guided, b->guided);
    assert_true(a->first.temperature == b->first.temperature);
    assert_int_equal(a->first.top_k, b->first.top_k);
    assert_true(a->first.t2 == b->first.t2);
    assert_true(a->video.temperature == b->video.temperature);
    assert_int_equal(a->video.top_k, b->video.top_k);
    assert_true(a->video.t2 == b->video.t2);
    assert_int_equal(a->faithful_off_by_one, b->faithful_off_by_one);
}

/* ------------------------------------------------------------ defaults */

static void test_defaults(void **state)
{
    (void)state;
    for (int stage = 1; stage <= 2; stage++) {
        cv_pipeline_config c;
        cv_pipeline_config_default(&c, stage);
        assert_string_equal(c.first_frame_suffix, " \xe9\xab\x98\xe6\xb8\x85\xe6\x91\x84\xe5\xbd\xb1"); /* 高清摄影 */
        assert_string_equal(c.duration_format, "{}\xe7\xa7\x92");                                    /* {}秒 */
        assert_string_equal(c.guided_suffix, " \xe8\xa7\x86\xe9\xa2\x91");                           /* 视频 */
        assert_string_equal(c.guider_text, "\xe8\xa7\x86\xe9\xa2\x91");
        assert_int_equal(c.keyframes, 5);
        assert_true(c.keyframe_seconds == 4.0f);
        assert_int_equal(c.rounds, 3);
        assert_true(c.log_text_weight == 1.4f);
        assert_true(c.guidance_alpha == 3.0f);
        assert_int_equal(c.guided, stage == 1);
        assert_true(c.first.temperature == 1.0f && c.first.top_k == 16 && c.first.t2 == 0.89f);
        assert_true(c.video.temperature == 1.05f && c.video.top_k == 12 && c.video.t2 == 0.89f);
        assert_true(c.faithful_off_by_one);
        CHECK(cv_pipeline_config_check(&c, "defaults", &e_));
    }
}

/* ------------------------------------------------------------ GGUF round trip */

static void write_config(const char *path, const cv_pipeline_config *c, const int32_t *labels, int n, int k)
{
    cv_gguf_writer *w;
    CHECK(cv_gguf_writer_new(&w, path, 0, &e_));
    CHECK(cv_gguf_writer_set_str(w, "general.architecture", "cogvideo", &e_));
    CHECK(cv_pipeline_config_write(c, w, &e_));
    if (labels)
        CHECK(cv_cluster_labels_write(w, labels, n, k, &e_));
    CHECK(cv_gguf_writer_write(w, &e_));
    cv_gguf_writer_free(w);
}

static void read_back(const char *path, cv_pipeline_config *c)
{
    cv_gguf *g;
    CHECK(cv_gguf_open(path, &g, &e_));
    CHECK(cv_pipeline_config_read(g, c, &e_));
    assert_false(cv_cluster_labels_present(g));
    cv_gguf_close(g);
}

static void test_roundtrip(void **state)
{
    (void)state;
    const char *p = cv_test_path("rt.gguf");
    cv_pipeline_config a, b;
    for (int stage = 1; stage <= 2; stage++) {
        cv_pipeline_config_default(&a, stage);
        write_config(p, &a, NULL, 0, 0);
        read_back(p, &b);
        assert_config_equal(&a, &b);
    }
    /* every field changed */
    strcpy(a.first_frame_suffix, " HD photo");
    strcpy(a.duration_format, "{} seconds");
    strcpy(a.guided_suffix, "");
    strcpy(a.guider_text, "video");
    a.keyframes = 3;
    a.keyframe_seconds = 2.5f;
    a.rounds = 0;
    a.log_text_weight = -0.5f;
    a.guidance_alpha = 0.0f;
    a.guided = true;
    a.first = (cv_sampler_settings){0.7f, 4, 1.5f};
    a.video = (cv_sampler_settings){1.25f, 1, 0.5f};
    a.faithful_off_by_one = false;
    write_config(p, &a, NULL, 0, 0);
    read_back(p, &b);
    assert_config_equal(&a, &b);
    cv_test_empty_dir();
}

/* ------------------------------------------------------------ the header's keys */

typedef struct {
    const char *key;
    cv_gguf_vtype type;
    const char *s;
    double v;
} spec_kv;

/* pipeline_config.h's table, with the stage-2 defaults. */
static const spec_kv k_spec[] = {
    {"first_frame_suffix", CV_GGUF_STRING, " \xe9\xab\x98\xe6\xb8\x85\xe6\x91\x84\xe5\xbd\xb1", 0},
    {"duration_format", CV_GGUF_STRING, "{}\xe7\xa7\x92", 0},
    {"guided_suffix", CV_GGUF_STRING, " \xe8\xa7\x86\xe9\xa2\x91", 0},
    {"guider_text", CV_GGUF_STRING, "\xe8\xa7\x86\xe9\xa2\x91", 0},
    {"keyframes", CV_GGUF_UINT32, NULL, 5},
    {"keyframe_seconds", CV_GGUF_FLOAT32, NULL, 4.0},
    {"rounds", CV_GGUF_UINT32, NULL, 3},
    {"log_text_weight", CV_GGUF_FLOAT32, NULL, 1.4},
    {"guidance_alpha", CV_GGUF_FLOAT32, NULL, 3.0},
    {"guided", CV_GGUF_BOOL, NULL, 0},
    {"sampler.first.temperature", CV_GGUF_FLOAT32, NULL, 1.0},
    {"sampler.first.top_k", CV_GGUF_UINT32, NULL, 16},
    {"sampler.first.temperature2", CV_GGUF_FLOAT32, NULL, 0.89},
    {"sampler.video.temperature", CV_GGUF_FLOAT32, NULL, 1.05},
    {"sampler.video.top_k", CV_GGUF_UINT32, NULL, 12},
    {"sampler.video.temperature2", CV_GGUF_FLOAT32, NULL, 0.89},
    {"sampler.faithful_off_by_one", CV_GGUF_BOOL, NULL, 1},
};
#define N_SPEC (sizeof k_spec / sizeof k_spec[0])

static void set_kv(cv_gguf_writer *w, const spec_kv *k)
{
    char key[128];
    snprintf(key, sizeof key, "cogvideo.pipeline.%s", k->key);
    switch (k->type) {
    case CV_GGUF_STRING: CHECK(cv_gguf_writer_set_str(w, key, k->s, &e_)); break;
    case CV_GGUF_UINT32: CHECK(cv_gguf_writer_set_u32(w, key, (uint32_t)k->v, &e_)); break;
    case CV_GGUF_INT32: CHECK(cv_gguf_writer_set_i32(w, key, (int32_t)k->v, &e_)); break;
    case CV_GGUF_FLOAT32: CHECK(cv_gguf_writer_set_f32(w, key, (float)k->v, &e_)); break;
    case CV_GGUF_BOOL: CHECK(cv_gguf_writer_set_bool(w, key, k->v != 0, &e_)); break;
    default: fail_msg("type %d", (int)k->type);
    }
}

/* The spec's keys, with `sub` (may be NULL) in place of the key of that
 * name, or that key left out when sub->type is CV_GGUF_ARRAY. */
static void write_spec(const char *path, const spec_kv *sub)
{
    cv_gguf_writer *w;
    CHECK(cv_gguf_writer_new(&w, path, 0, &e_));
    for (size_t i = 0; i < N_SPEC; i++) {
        const bool replaced = sub && !strcmp(sub->key, k_spec[i].key);
        if (!replaced)
            set_kv(w, &k_spec[i]);
        else if (sub->type != CV_GGUF_ARRAY)
            set_kv(w, sub);
    }
    CHECK(cv_gguf_writer_write(w, &e_));
    cv_gguf_writer_free(w);
}

static void expect_read_fail(const spec_kv *sub, const char *needle)
{
    const char *p = cv_test_path("spec.gguf");
    write_spec(p, sub);
    cv_gguf *g;
    CHECK(cv_gguf_open(p, &g, &e_));
    cv_pipeline_config c;
    cv_pipeline_config_default(&c, 1);
    cv_error err = {""};
    assert_int_equal(cv_pipeline_config_read(g, &c, &err), CV_ERR_FORMAT);
    check_msg(&err, p, needle);
    char key[128];
    snprintf(key, sizeof key, "cogvideo.pipeline.%s", sub->key);
    check_msg(&err, p, key);
    cv_pipeline_config d;
    cv_pipeline_config_default(&d, 1);
    assert_config_equal(&c, &d); /* untouched */
    cv_gguf_close(g);
}

static void test_header_keys(void **state)
{
    (void)state;
    const char *p = cv_test_path("spec.gguf");
    write_spec(p, NULL);
    cv_gguf *g;
    CHECK(cv_gguf_open(p, &g, &e_));
    cv_pipeline_config c, want;
    CHECK(cv_pipeline_config_read(g, &c, &e_));
    cv_pipeline_config_default(&want, 2);
    assert_config_equal(&c, &want);
    cv_gguf_close(g);

    const spec_kv missing = {"sampler.video.top_k", CV_GGUF_ARRAY, NULL, 0};
    expect_read_fail(&missing, "re-convert");
    const spec_kv as_i32 = {"keyframes", CV_GGUF_INT32, NULL, 5};
    expect_read_fail(&as_i32, "has type int32 (expected uint32)");
    const spec_kv as_f32 = {"guided", CV_GGUF_FLOAT32, NULL, 1};
    expect_read_fail(&as_f32, "(expected bool)");
    const spec_kv one_frame = {"keyframes", CV_GGUF_UINT32, NULL, 1};
    expect_read_fail(&one_frame, "is 1 (expected 2 .. 65535)");
    const spec_kv huge = {"sampler.first.top_k", CV_GGUF_UINT32, NULL, 3e9};
    expect_read_fail(&huge, "is 3000000000 (expected >= 1)");
    const spec_kv cold = {"sampler.video.temperature", CV_GGUF_FLOAT32, NULL, 0};
    expect_read_fail(&cold, "(expected a finite number > 0)");
    const spec_kv nan_w = {"log_text_weight", CV_GGUF_FLOAT32, NULL, NAN};
    expect_read_fail(&nan_w, "(expected a finite number)");
    const spec_kv no_braces = {"duration_format", CV_GGUF_STRING, "seconds", 0};
    expect_read_fail(&no_braces, "exactly one \"{}\"");
    char long_text[300];
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    const spec_kv too_long = {"guider_text", CV_GGUF_STRING, long_text, 0};
    expect_read_fail(&too_long, "too long");
    cv_test_empty_dir();
}

/* ------------------------------------------------------------ JSON */

static const char *write_json(const char *name, const char *text)
{
    const char *p = cv_test_path(name);
    cv_test_write_bytes(p, text, strlen(text));
    return p;
}

static void test_json_overrides(void **state)
{
    (void)state;
    const char *p = write_json("o.json", "{\"first_frame_suffix\": \" HD photo\", \"sampler.video.top_k\": 7,\n"
                                         " \"keyframe_seconds\": 3, \"log_text_weight\": 0.25, \"guided\": true,\n"
                                         " \"duration_format\": \"{} seconds\", \"sampler.faithful_off_by_one\": false}");
    cv_pipeline_config c, want;
    cv_pipeline_config_default(&c, 2);
    cv_pipeline_config_default(&want, 2);
    CHECK(cv_pipeline_config_load_json(&c, p, &e_));
    strcpy(want.first_frame_suffix, " HD photo");
    want.video.top_k = 7;
    want.keyframe_seconds = 3.0f; /* a JSON integer is a number too */
    want.log_text_weight = 0.25f;
    want.guided = true;
    strcpy(want.duration_format, "{} seconds");
    want.faithful_off_by_one = false;
    assert_config_equal(&c, &want);
    /* an empty object changes nothing */
    CHECK(cv_pipeline_config_load_json(&c, write_json("e.json", " { } "), &e_));
    assert_config_equal(&c, &want);
    cv_test_empty_dir();
}

/* A JSON file that must fail with CV_ERR_FORMAT (or `want`), naming the file
 * and saying needle, and leave the config as it was. */
static void expect_json_fail(const char *text, cv_status want, const char *needle)
{
    const char *p = write_json("bad.json", text);
    cv_pipeline_config c, d;
    cv_pipeline_config_default(&c, 1);
    cv_pipeline_config_default(&d, 1);
    cv_error err = {""};
    cv_status s = cv_pipeline_config_load_json(&c, p, &err);
    if (s != want)
        fail_msg("%s: status %d (expected %d): %s", text, (int)s, (int)want, err.msg);
    check_msg(&err, p, needle);
    assert_config_equal(&c, &d);
}

static void test_json_errors(void **state)
{
    (void)state;
    const cv_status F = CV_ERR_FORMAT;
    expect_json_fail("{\"sampler.video.topk\": 3}", F, "unknown key 'sampler.video.topk' (expected one of");
    expect_json_fail("{\"cogvideo.pipeline.rounds\": 3}", F, "without the 'cogvideo.pipeline.' prefix");
    expect_json_fail("{\"rounds\": \"3\"}", F, "key 'rounds' is a JSON string (expected an integer)");
    expect_json_fail("{\"rounds\": 3.0}", F, "key 'rounds' is a JSON real (expected an integer)");
    expect_json_fail("{\"guider_text\": 5}", F, "key 'guider_text' is a JSON integer (expected a string)");
    expect_json_fail("{\"guided\": 1}", F, "key 'guided' is a JSON integer (expected true or false)");
    expect_json_fail("{\"guidance_alpha\": null}", F, "key 'guidance_alpha' is a JSON null (expected a number)");
    expect_json_fail("{\"sampler.first.top_k\": 0}", F, "key 'sampler.first.top_k' is 0 (expected >= 1)");
    expect_json_fail("{\"sampler.first.top_k\": 4294967296}", F, "key 'sampler.first.top_k' is 4294967296");
    expect_json_fail("{\"keyframes\": 1}", F, "key 'keyframes' is 1 (expected 2 .. 65535)");
    expect_json_fail("{\"rounds\": -1}", F, "key 'rounds' is -1 (expected 0 .. 15)");
    expect_json_fail("{\"rounds\": 16}", F, "key 'rounds' is 16 (expected 0 .. 15)");
    expect_json_fail("{\"keyframe_seconds\": 0}", F, "key 'keyframe_seconds' is 0 (expected a finite number > 0)");
    expect_json_fail("{\"sampler.video.temperature2\": -1}", F, "key 'sampler.video.temperature2' is -1");
    expect_json_fail("{\"guidance_alpha\": 1e300}", F, "key 'guidance_alpha' is inf (expected a finite number)");
    expect_json_fail("{\"duration_format\": \"{}{}\"}", F, "key 'duration_format' is \"{}{}\" (expected exactly one");
    expect_json_fail("{\"duration_format\": \"4 s\"}", F, "key 'duration_format'");
    expect_json_fail("{\"guided_suffix\": \"a\\u0000b\"}", F, "is not allowed"); /* jansson refuses NUL */
    char big[400] = "{\"guided_suffix\": \"";
    memset(big + strlen(big), 'x', 300);
    strcpy(big + 19 + 300, "\"}");
    expect_json_fail(big, F, "key 'guided_suffix' is too long");
    /* the first bad key wins; nothing of a failed file is applied */
    expect_json_fail("{\"rounds\": 2, \"keyframes\": 0}", F, "key 'keyframes'");
    expect_json_fail("{\"rounds\": 2, \"rounds\": 1}", F, "duplicate");
    expect_json_fail("[1, 2]", F, "not a JSON object");
    expect_json_fail("{\"rounds\": ", F, "line");
    expect_json_fail("", F, "bad.json");
    cv_pipeline_config c;
    cv_pipeline_config_default(&c, 1);
    cv_error err = {""};
    const char *missing = cv_test_path("missing.json");
    assert_int_equal(cv_pipeline_config_load_json(&c, missing, &err), CV_ERR_IO);
    check_msg(&err, missing, "No such file");
    cv_test_empty_dir();
}

static void test_check(void **state)
{
    (void)state;
    cv_test_empty_dir();
    cv_pipeline_config c;
    cv_error err = {""};
    cv_pipeline_config_default(&c, 1);
    c.video.t2 = 0;
    assert_int_equal(cv_pipeline_config_check(&c, "my settings", &err), CV_ERR_FORMAT);
    check_msg(&err, "my settings", "key 'sampler.video.temperature2' is 0");
    cv_pipeline_config_default(&c, 1);
    c.first.top_k = 0;
    assert_int_equal(cv_pipeline_config_check(&c, "my settings", &err), CV_ERR_FORMAT);
    check_msg(&err, "my settings", "key 'sampler.first.top_k' is 0 (expected >= 1)");
    cv_pipeline_config_default(&c, 1);
    memset(c.guider_text, 'x', sizeof c.guider_text); /* no NUL */
    assert_int_equal(cv_pipeline_config_check(&c, "my settings", &err), CV_ERR_FORMAT);
    check_msg(&err, "my settings", "key 'guider_text' is too long");
    /* write refuses what check refuses, and writes nothing */
    cv_gguf_writer *w;
    const char *p = cv_test_path("refused.gguf");
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    assert_int_equal(cv_pipeline_config_write(&c, w, &err), CV_ERR_FORMAT);
    cv_gguf_writer_free(w);
    assert_int_equal(cv_test_count_files(), 0);
}

/* ------------------------------------------------------------ duration text */

static void test_duration_text(void **state)
{
    (void)state;
    cv_pipeline_config c;
    cv_pipeline_config_default(&c, 1);
    char buf[64];
    assert_int_equal(cv_pipeline_duration_text(&c, 4.0, buf, sizeof buf), strlen("4.0\xe7\xa7\x92"));
    assert_string_equal(buf, "4.0\xe7\xa7\x92");
    /* stage-2 round r: keyframe_seconds / 2^(r+1) */
    assert_int_equal(cv_pipeline_duration_text(&c, c.keyframe_seconds / 8, buf, sizeof buf), 6);
    assert_string_equal(buf, "0.5\xe7\xa7\x92");
    strcpy(c.duration_format, "{} seconds");
    assert_int_equal(cv_pipeline_duration_text(&c, 2, buf, sizeof buf), 11);
    assert_string_equal(buf, "2.0 seconds");
    strcpy(c.duration_format, "about {}s, roughly");
    cv_pipeline_duration_text(&c, 0.125, buf, sizeof buf);
    assert_string_equal(buf, "about 0.125s, roughly");
    /* does not fit: 0, also exactly one byte short of the NUL */
    strcpy(c.duration_format, "{} seconds");
    assert_int_equal(cv_pipeline_duration_text(&c, 2, buf, 11), 0);
    assert_int_equal(cv_pipeline_duration_text(&c, 2, buf, 12), 11);
    assert_int_equal(cv_pipeline_duration_text(&c, NAN, buf, sizeof buf), 0);
    strcpy(c.duration_format, "no braces");
    assert_int_equal(cv_pipeline_duration_text(&c, 2, buf, sizeof buf), 0);
}

static void test_python_float_str(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *s;
    } cases[] = {{4.0, "4.0"}, {0.5, "0.5"}, {1.05f, "1.0499999523162842"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
                 {1e22, "1e+22"}, {-0.0, "-0.0"}, {1234.5, "1234.5"}, {9999999999999998.0, "9999999999999998.0"}};
    char buf[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(cv_python_float_str(cases[i].d, buf, sizeof buf), strlen(cases[i].s));
        assert_string_equal(buf, cases[i].s);
    }
    assert_int_equal(cv_python_float_str(4.0, buf, 3), 0);
    assert_int_equal(cv_python_float_str(INFINITY, buf, sizeof buf), 0);
}

/* ------------------------------------------------------------ cluster labels */

#define N_TOK 1000

static void test_labels_roundtrip(void **state)
{
    (void)state;
    int32_t l[N_TOK];
    for (int t = 0; t < N_TOK; t++)
        l[t] = (t * 37) % 50;
    const char *p = cv_test_path("labels.gguf");
    cv_pipeline_config c;
    cv_pipeline_config_default(&c, 1);
    write_config(p, &c, l, N_TOK, 50);
    cv_gguf *g;
    CHECK(cv_gguf_open(p, &g, &e_));
    assert_true(cv_cluster_labels_present(g));
    const cv_gguf_kv *kv;
    CHECK(cv_gguf_get_array(g, CV_KEY_CLUSTER_LABELS, CV_GGUF_INT32, &kv, &e_)); /* the header's layout */
    uint32_t nc;
    CHECK(cv_gguf_get_u32(g, CV_KEY_N_CLUSTERS, &nc, &e_));
    assert_int_equal(nc, 50);
    int32_t *r = NULL;
    int k = 0;
    CHECK(cv_cluster_labels_read(g, N_TOK, &r, &k, &e_));
    assert_int_equal(k, 50);
    assert_memory_equal(r, l, sizeof l);
    free(r);
    cv_error err = {""};
    assert_int_equal(cv_cluster_labels_read(g, N_TOK + 1, &r, &k, &err), CV_ERR_FORMAT);
    check_msg(&err, p, "has 1000 labels (expected image_tokens = 1001)");
    assert_null(r);
    cv_gguf_close(g);

    /* write refuses labels out of range, and nothing is written */
    cv_gguf_writer *w;
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    l[7] = 50;
    assert_int_equal(cv_cluster_labels_write(w, l, N_TOK, 50, &err), CV_ERR_ARG);
    check_msg(&err, "cluster labels", "label 50 of token 7 out of range (expected 0 .. 49)");
    l[7] = -1;
    assert_int_equal(cv_cluster_labels_write(w, l, N_TOK, 50, &err), CV_ERR_ARG);
    assert_int_equal(cv_cluster_labels_write(w, l, 0, 50, &err), CV_ERR_ARG);
    cv_gguf_writer_free(w);
    cv_test_empty_dir();
}

/* Labels written by hand: the reader's errors. */
static void expect_labels_fail(cv_gguf_vtype type, const void *values, size_t n, int n_clusters, const char *needle)
{
    const char *p = cv_test_path("bad_labels.gguf");
    cv_gguf_writer *w;
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    if (values)
        CHECK(cv_gguf_writer_set_array(w, CV_KEY_CLUSTER_LABELS, type, values, n, &e_));
    if (n_clusters >= 0)
        CHECK(cv_gguf_writer_set_u32(w, CV_KEY_N_CLUSTERS, (uint32_t)n_clusters, &e_));
    CHECK(cv_gguf_writer_write(w, &e_));
    cv_gguf_writer_free(w);
    cv_gguf *g;
    CHECK(cv_gguf_open(p, &g, &e_));
    assert_int_equal(cv_cluster_labels_present(g), values != NULL);
    int32_t *r = (int32_t *)1;
    int k;
    cv_error err = {""};
    assert_int_equal(cv_cluster_labels_read(g, 4, &r, &k, &err), CV_ERR_FORMAT);
    assert_null(r);
    check_msg(&err, p, needle);
    cv_gguf_close(g);
}

static void test_labels_errors(void **state)
{
    (void)state;
    const int32_t ok[4] = {0, 1, 2, 1};
    const int64_t wide[4] = {0, 1, 2, 1};
    const int32_t big[4] = {0, 1, 3, 1};
    const int32_t neg[4] = {0, -2, 2, 1};
    expect_labels_fail(CV_GGUF_INT32, NULL, 0, 3, "missing metadata key 'cogvideo.cluster_labels'");
    expect_labels_fail(CV_GGUF_INT64, wide, 4, 3, "cogvideo.cluster_labels");
    expect_labels_fail(CV_GGUF_INT32, ok, 4, -1, "missing metadata key 'cogvideo.n_clusters'");
    expect_labels_fail(CV_GGUF_INT32, ok, 3, 3, "has 3 labels (expected image_tokens = 4)");
    expect_labels_fail(CV_GGUF_INT32, big, 4, 3, "label 3 of token 2 out of range (expected 0 .. 2)");
    expect_labels_fail(CV_GGUF_INT32, neg, 4, 3, "label -2 of token 1 out of range");
    expect_labels_fail(CV_GGUF_INT32, ok, 4, 0, "'cogvideo.n_clusters' is 0 (expected 1 .. 4)");
    cv_test_empty_dir();
}

static int setup(void **state)
{
    cv_test_dir_name("test_pipeline_config");
    return cv_test_setup_dir(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_header_keys),      cmocka_unit_test(test_json_overrides),
        cmocka_unit_test(test_json_errors),      cmocka_unit_test(test_check),
        cmocka_unit_test(test_duration_text),    cmocka_unit_test(test_python_float_str),
        cmocka_unit_test(test_labels_roundtrip), cmocka_unit_test(test_labels_errors),
    };
    return cmocka_run_group_tests(tests, setup, cv_test_teardown_dir);
}
