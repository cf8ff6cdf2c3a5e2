/* test_convert.c — cogvideo convert: testdata/sat-tiny to GGUF for every
 * --type, every tensor compared with the .pt; the sequence-layout metadata
 * and its options; the attention-plus kind (--attention-plus,
 * --local3d-kernel); bad folders, bad checkpoints (testdata/sat-tiny-bad,
 * truncated, corrupt) and bad options fail with one line and leave no file. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdir, rmdir */
#endif
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "convert.h"
#include "gguf.h"
#include "model.h"
#include "ptload.h"
#include "test_files.h"

static const char *sat_tiny(void)
{
    static char p[4096];
    const char *d = getenv("CV_TESTDATA");
    snprintf(p, sizeof p, "%s/sat-tiny", d ? d : "testdata");
    return p;
}

static float pt_value(const cv_pt_tensor *t, size_t i)
{
    const unsigned char *b = t->data;
    float f;
    uint16_t h;
    if (t->dtype == CV_PT_F32) {
        memcpy(&f, b + 4 * i, 4);
        return f;
    }
    memcpy(&h, b + 2 * i, 2);
    return t->dtype == CV_PT_F16 ? cv_f16_to_f32(h) : cv_bf16_to_f32(h);
}

/* An independent q8_0: scale from the largest magnitude, round half away. */
static void check_q8_block(const float *x, const cv_block_q8_0 *blk)
{
    float amax = 0;
    for (int j = 0; j < 32; j++)
        amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    float d = amax / 127.0f;
    assert_int_equal(blk->d, cv_f32_to_f16(d));
    for (int j = 0; j < 32; j++) {
        float v = d != 0.0f ? x[j] * (1.0f / d) : 0.0f;
        int q = (int)(v < 0 ? -floorf(-v + 0.5f) : floorf(v + 0.5f));
        assert_int_equal(blk->qs[j], q);
        float dd = cv_f16_to_f32(blk->d);
        assert_true(fabsf(dd * (float)blk->qs[j] - x[j]) <= dd / 2 + fabsf(dd - d) * 127.0f + 1e-6f);
    }
}

static void check_tensor(const cv_gguf_tensor *g, const cv_pt_tensor *t, int want)
{
    int64_t shape[CV_GGUF_MAX_DIMS];
    assert_int_equal(cv_gguf_tensor_shape(g, shape), t->ndim);
    for (int k = 0; k < t->ndim; k++)
        assert_int_equal(shape[k], t->shape[k]);
    uint32_t expect = t->ndim != 2 ? CV_TYPE_F32
                      : want < 0   ? (t->dtype == CV_PT_F16 ? CV_TYPE_F16 : CV_TYPE_F32)
                                   : (uint32_t)want;
    assert_int_equal(g->type, expect);
    const unsigned char *b = g->data;
    float x[32];
    for (size_t i = 0; i < (size_t)t->numel; i++) {
        float v = pt_value(t, i);
        if (g->type == CV_TYPE_F32) {
            float f;
            memcpy(&f, b + 4 * i, 4);
            assert_memory_equal(&f, &v, 4);
        } else if (g->type == CV_TYPE_F16 || g->type == CV_TYPE_BF16) {
            uint16_t h, e = g->type == CV_TYPE_F16 ? cv_f32_to_f16(v) : cv_f32_to_bf16(v);
            memcpy(&h, b + 2 * i, 2);
            assert_int_equal(h, e);
        } else {
            x[i % 32] = v;
            if (i % 32 == 31) {
                cv_block_q8_0 blk;
                memcpy(&blk, b + (i / 32) * sizeof blk, sizeof blk);
                check_q8_block(x, &blk);
            }
        }
    }
}

static void convert_and_check(int type)
{
    cv_convert_opts o;
    cv_convert_opts_default(&o);
    o.type = type;
    o.image_tokens = 64;
    cv_error err;
    const char *out = cv_test_path("out.gguf");
    cv_status s = cv_convert(sat_tiny(), out, &o, &err);
    if (s)
        fail_msg("%s", err.msg);
    cv_gguf *g;
    assert_int_equal(cv_gguf_open(out, &g, &err), CV_OK);
    char pt_path[4200];
    snprintf(pt_path, sizeof pt_path, "%s/1/mp_rank_00_model_states.pt", sat_tiny());
    cv_pt *pt;
    assert_int_equal(cv_pt_open(pt_path, "module", &pt, &err), CV_OK);
    assert_int_equal(cv_gguf_tensor_count(g), cv_pt_count(pt));
    for (size_t i = 0; i < cv_pt_count(pt); i++) {
        const cv_pt_tensor *t = cv_pt_at(pt, i);
        const cv_gguf_tensor *gt = cv_gguf_find_tensor(g, t->name);
        assert_non_null(gt);
        check_tensor(gt, t, type);
    }
    uint32_t u;
    int32_t i32;
    float f;
    const char *str;
    struct { const char *k; uint32_t v; } u32s[] = {
        {CV_KEY_STAGE, 1}, {CV_KEY_NUM_LAYERS, 1}, {CV_KEY_HIDDEN, 32}, {CV_KEY_HEADS, 2}, {CV_KEY_VOCAB, 110},
        {CV_KEY_MAX_SEQ, 16}, {CV_KEY_ADD_SEQ, 8}, {CV_KEY_IMAGE_TOKENS, 64}, {CV_KEY_BOI, 100}, {CV_KEY_N_TOKEN, 68}};
    for (size_t k = 0; k < sizeof u32s / sizeof u32s[0]; k++) {
        assert_int_equal(cv_gguf_get_u32(g, u32s[k].k, &u, &err), CV_OK);
        assert_int_equal(u, u32s[k].v);
    }
    assert_int_equal(cv_gguf_get_i32(g, CV_KEY_WINDOW, &i32, &err), CV_OK);
    assert_int_equal(i32, -1);
    assert_int_equal(cv_gguf_get_i32(g, CV_KEY_SWIN_SHIFT, &i32, &err), CV_OK);
    assert_int_equal(i32, 0);
    assert_int_equal(cv_gguf_get_f32(g, CV_KEY_LN_EPS, &f, &err), CV_OK);
    assert_true(f == 1e-5f);
    assert_int_equal(cv_gguf_get_str(g, CV_KEY_ARCH, &str, NULL, &err), CV_OK);
    assert_string_equal(str, "cogvideo");
    assert_int_equal(cv_gguf_get_str(g, CV_KEY_NAME, &str, NULL, &err), CV_OK);
    assert_string_equal(str, "sat-tiny");
    assert_int_equal(cv_gguf_get_str(g, CV_KEY_ATTN_PLUS, &str, NULL, &err), CV_OK);
    assert_string_equal(str, "full");
    const cv_gguf_kv *kv;
    assert_int_equal(cv_gguf_get_array(g, CV_KEY_LAYOUT, CV_GGUF_UINT32, &kv, &err), CV_OK);
    uint32_t lay[3];
    assert_int_equal(kv->count, 3);
    memcpy(lay, kv->data, sizeof lay);
    assert_int_equal(lay[0], 8);
    assert_int_equal(lay[2], 32);
    cv_pt_close(pt);
    cv_gguf_close(g);
    cv_test_empty_dir();
}

static void test_keep(void **state) { (void)state; convert_and_check(-1); }
static void test_f32(void **state) { (void)state; convert_and_check(CV_TYPE_F32); }
static void test_f16(void **state) { (void)state; convert_and_check(CV_TYPE_F16); }
static void test_bf16(void **state) { (void)state; convert_and_check(CV_TYPE_BF16); }
static void test_q8_0(void **state) { (void)state; convert_and_check(CV_TYPE_Q8_0); }

static void test_quantize_ties(void **state)
{
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) * 0.37f;
    x[5] = 0;
    cv_block_q8_0 b;
    cv_quantize_q8_0_row(x, &b, 32);
    check_q8_block(x, &b);
    memset(x, 0, sizeof x);
    cv_quantize_q8_0_row(x, &b, 32);
    assert_int_equal(b.d, 0);
    for (int j = 0; j < 32; j++)
        assert_int_equal(b.qs[j], 0);
}

/* A copy of sat-tiny in the scratch directory (bad/1/...), to break. */
static const char *bad_copy(void)
{
    static char dir[4200];
    char p[4300];
    snprintf(dir, sizeof dir, "%s/bad", cv_test_tmpdir);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/1", dir);
    mkdir(p, 0700);
    const char *names[] = {"model_config.json", "latest", "1/mp_rank_00_model_states.pt"};
    for (int i = 0; i < 3; i++) {
        char src[4300];
        size_t n;
        snprintf(src, sizeof src, "%s/%s", sat_tiny(), names[i]);
        unsigned char *b = cv_test_read_all(src, &n);
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        cv_test_write_bytes(p, b, n);
        free(b);
    }
    return dir;
}

static void bad_cleanup(const char *dir)
{
    char p[4300];
    const char *names[] = {"model_config.json", "latest", "1/mp_rank_00_model_states.pt"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/1", dir);
    rmdir(p);
    rmdir(dir);
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cv_test_write_bytes(p, text, strlen(text));
}

/* cv_convert(dir) with `o` must fail with one line containing `needle`,
 * and leave nothing behind: no output, no temporary file. */
static void expect_fail_opts(const char *dir, const cv_convert_opts *o, const char *needle)
{
    cv_error err;
    const char *out = cv_test_path("out.gguf");
    const int before = cv_test_count_files();
    assert_int_not_equal(cv_convert(dir, out, o, &err), CV_OK);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(access(out, F_OK), -1);
    assert_int_equal(cv_test_count_files(), before);
}

static void expect_fail(const char *dir, const char *needle)
{
    cv_convert_opts o;
    cv_convert_opts_default(&o);
    o.image_tokens = 64;
    expect_fail_opts(dir, &o, needle);
}

static const char CFG_HEAD[] = "{\"num_layers\": 1, \"num_attention_heads\": 2, \"vocab_size\": 110, "
                               "\"layernorm_order\": \"sandwich\", \"model_parallel_size\": 1, "
                               "\"max_sequence_length\": 16, \"layout\": [8, 16, 32], \"additional_seqlen\": 8, ";

static void test_bad_inputs(void **state)
{
    (void)state;
    char cfg[1024];
    const char *dir = bad_copy();
    put(dir, "latest", "7");
    expect_fail(dir, "7/mp_rank_00_model_states.pt");
    put(dir, "latest", "x");
    expect_fail(dir, "latest");
    put(dir, "latest", "1\n");
    put(dir, "model_config.json", "{\"num_layers\": ");
    expect_fail(dir, "model_config.json");
    /* model_config.json = CFG_HEAD + tail; each must fail naming `needle` */
    static const struct {
        const char *tail, *needle;
    } bad_cfgs[] = {
        { "\"window_size\": -1, \"cogvideo_stage\": 1}", "'hidden_size'" },
        { "\"hidden_size\": \"32\", \"window_size\": -1, \"cogvideo_stage\": 1}",
          "'hidden_size' is not an integer" },
        { "\"hidden_size\": 33, \"window_size\": -1, \"cogvideo_stage\": 1}",
          "not a multiple of num_attention_heads" },
        { "\"hidden_size\": 32, \"window_size\": -1, \"cogvideo_stage\": 2}", "'window_size'" },
        { "\"hidden_size\": 64, \"window_size\": -1, \"cogvideo_stage\": 1}",
          "transformer.word_embeddings.weight" },
    };
    for (size_t i = 0; i < sizeof bad_cfgs / sizeof bad_cfgs[0]; i++) {
        snprintf(cfg, sizeof cfg, "%s%s", CFG_HEAD, bad_cfgs[i].tail);
        put(dir, "model_config.json", cfg);
        expect_fail(dir, bad_cfgs[i].needle);
    }
    put(dir, "latest", "1");
    put(dir, "1/mp_rank_00_model_states.pt", "PK\003\004trunc");
    snprintf(cfg, sizeof cfg, "%s\"hidden_size\": 32, \"window_size\": -1, \"cogvideo_stage\": 1}", CFG_HEAD);
    put(dir, "model_config.json", cfg);
    expect_fail(dir, "mp_rank_00_model_states.pt");
    bad_cleanup(dir);
    put(cv_test_tmpdir, "dummy", "");
    expect_fail(cv_test_tmpdir, "model_config.json");
    cv_test_empty_dir();
}

/* The .pt of the copy `dir` := bytes (n of them). */
static void put_pt(const char *dir, const unsigned char *b, size_t n)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/1/mp_rank_00_model_states.pt", dir);
    cv_test_write_bytes(p, b, n);
}

static unsigned char *read_testdata(const char *name, size_t *n)
{
    char p[4300];
    snprintf(p, sizeof p, "%s%s", sat_tiny(), name); /* sat_tiny() + "-bad/x.pt" or "/1/..." */
    return cv_test_read_all(p, n);
}

/* Broken checkpoints with sat-tiny's config: each is refused with one line
 * naming the file and the tensor or the fault.  The first four are
 * testdata/sat-tiny-bad/ (tests/make_sat_fixture.py OUTDIR all); the
 * truncated and bad-central-directory ones are edited copies of sat-tiny's. */
static void test_bad_checkpoints(void **state)
{
    (void)state;
    static const struct {
        const char *file, *needle;
    } cases[] = {
        { "missing_tensor", "mp_rank_00_model_states.pt: missing tensor 'mixins.attention_plus.attn_distribution.0'" },
        { "extra_tensor", "mp_rank_00_model_states.pt: unknown tensor 'transformer.layers.1.input_layernorm.weight'" },
        { "wrong_shape", "mp_rank_00_model_states.pt: tensor 'transformer.layers.0.mlp.dense_4h_to_h.weight' has shape "
                         "(128, 32) (expected (32, 128))" },
        { "bad_opcode", "archive/data.pkl: unsupported pickle opcode 0xff at offset" },
    };
    const char *dir = bad_copy();
    size_t n;
    unsigned char *b;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "-bad/%s.pt", cases[i].file);
        b = read_testdata(name, &n);
        put_pt(dir, b, n);
        free(b);
        expect_fail(dir, cases[i].needle);
    }
    b = read_testdata("/1/mp_rank_00_model_states.pt", &n);
    put_pt(dir, b, n / 2); /* truncated: the end of central directory is gone */
    expect_fail(dir, "mp_rank_00_model_states.pt: not a zip archive");
    put_pt(dir, b, n - 1); /* one byte short: the end record is cut */
    expect_fail(dir, "mp_rank_00_model_states.pt: not a zip archive");
    /* corrupt: the first central directory record's signature, at the
     * offset the end record (PK\5\6, 22 bytes, no comment) names */
    assert_true(n > 22 && memcmp(b + n - 22, "PK\005\006", 4) == 0);
    uint32_t cd;
    memcpy(&cd, b + n - 22 + 16, 4); /* little-endian host assumed, as the .pt data itself */
    assert_true(cd + 4 < n && memcmp(b + cd, "PK\001\002", 4) == 0);
    b[cd + 1] = 0;
    put_pt(dir, b, n);
    expect_fail(dir, "bad central directory record");
    free(b);
    bad_cleanup(dir);
    cv_test_empty_dir();
}

static uint32_t get_u32(const cv_gguf *g, const char *key)
{
    uint32_t u = 0;
    cv_error err;
    if (cv_gguf_get_u32(g, key, &u, &err))
        fail_msg("%s", err.msg);
    return u;
}

/* Converts dir with o; checks the sequence-layout keys and returns nothing
 * but failures.  want: frame_height, frame_width, max_text_len,
 * frame_pos_offset, extra_pos_offset; stage 2 also has the time slots. */
static void check_layout_keys(const char *dir, const cv_convert_opts *o, const uint32_t want[5], int stage)
{
    cv_error err;
    const char *out = cv_test_path("layout.gguf");
    if (cv_convert(dir, out, o, &err))
        fail_msg("%s", err.msg);
    cv_gguf *g;
    assert_int_equal(cv_gguf_open(out, &g, &err), CV_OK);
    const char *keys[5] = {CV_KEY_FRAME_H, CV_KEY_FRAME_W, CV_KEY_MAX_TEXT, CV_KEY_FRAME_POS, CV_KEY_EXTRA_POS};
    for (int k = 0; k < 5; k++)
        if (get_u32(g, keys[k]) != want[k])
            fail_msg("%s is %u (expected %u)", keys[k], get_u32(g, keys[k]), want[k]);
    assert_int_equal(get_u32(g, CV_KEY_LOCAL3D_K), 0);
    assert_int_equal(get_u32(g, CV_KEY_STAGE), (uint32_t)stage);
    const cv_gguf_kv *kv;
    if (stage == 1) {
        assert_null(cv_gguf_find_kv(g, CV_KEY_TIME_SLOTS));
    } else {
        static const uint32_t slots[5] = {0, 2, 4, 1, 3};
        assert_int_equal(cv_gguf_get_array(g, CV_KEY_TIME_SLOTS, CV_GGUF_UINT32, &kv, &err), CV_OK);
        assert_int_equal(kv->count, 5);
        assert_memory_equal(kv->data, slots, sizeof slots);
    }
    cv_gguf_close(g);
    unlink(out);
}

/* The keys a model loader needs beyond model_config.json: the release's
 * defaults, each flag's override, and the stage-2 time slots. */
static void test_layout_metadata(void **state)
{
    (void)state;
    cv_convert_opts o;
    cv_convert_opts_default(&o);
    o.image_tokens = 64;
    check_layout_keys(sat_tiny(), &o, (const uint32_t[5]){20, 20, 74, 512, 912}, 1);
    o.frame_height = 3;
    o.frame_width = 5;
    o.max_text_len = 9;
    o.frame_pos_offset = 4;
    check_layout_keys(sat_tiny(), &o, (const uint32_t[5]){3, 5, 9, 4, 19}, 1); /* extra = 4 + 3*5 */
    o.extra_pos_offset = 7;
    check_layout_keys(sat_tiny(), &o, (const uint32_t[5]){3, 5, 9, 4, 7}, 1);
    const char *dir = bad_copy();
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s\"hidden_size\": 32, \"window_size\": 10, \"cogvideo_stage\": 2}", CFG_HEAD);
    put(dir, "model_config.json", cfg);
    cv_convert_opts_default(&o);
    o.image_tokens = 64;
    check_layout_keys(dir, &o, (const uint32_t[5]){20, 20, 74, 512, 912}, 2);
    bad_cleanup(dir);
    cv_test_empty_dir();
}

/* Bad layout options fail before the folder is read, naming the flag. */
static void test_bad_layout_opts(void **state)
{
    (void)state;
    static const struct {
        int64_t fh, fw, text, fpos, epos;
        const char *needle;
    } cases[] = {
        { 0, 20, 74, 512, -1, "--frame-grid: 0x20 (expected HxW with H, W >= 1" },
        { 20, 0, 74, 512, -1, "--frame-grid: 20x0 (expected HxW with H, W >= 1" },
        { 65536, 65536, 74, 512, -1, "--frame-grid: 65536x65536" },
        { 20, 20, 0, 512, -1, "--max-text-len: 0 (expected 1 .. 2147483647)" },
        { 20, 20, 74, -5, -1, "--frame-pos-offset: -5" },
        { 20, 20, 74, 2147483647, -1, "--extra-pos-offset: 2147484047 (expected 0 .. 2147483647)" },
        { 20, 20, 74, 512, -7, "--extra-pos-offset: -7 (expected 0 .. 2147483647)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cv_convert_opts o;
        cv_convert_opts_default(&o);
        o.image_tokens = 64;
        o.frame_height = cases[i].fh;
        o.frame_width = cases[i].fw;
        o.max_text_len = cases[i].text;
        o.frame_pos_offset = cases[i].fpos;
        o.extra_pos_offset = cases[i].epos;
        expect_fail_opts(sat_tiny(), &o, cases[i].needle);
    }
}

static const char *get_str(const cv_gguf *g, const char *key)
{
    const char *v = NULL;
    cv_error err;
    if (cv_gguf_get_str(g, key, &v, NULL, &err))
        fail_msg("%s", err.msg);
    return v;
}

/* Converts dir with o (attention_plus / local3d_kernel set by the caller);
 * the model must get kind `plus`, swin shift `shift` and kernel `k`, and
 * load (a 2x2 grid at position 4 keeps the tiny 16-row tables valid). */
static void check_plus_keys(const char *dir, cv_convert_opts *o, const char *plus, int32_t shift, uint32_t k,
                            int stage)
{
    cv_error err;
    const char *out = cv_test_path("plus.gguf");
    o->image_tokens = 64;
    o->frame_height = o->frame_width = 2;
    o->frame_pos_offset = 4;
    if (cv_convert(dir, out, o, &err))
        fail_msg("%s", err.msg);
    cv_gguf *g;
    int32_t sh;
    assert_int_equal(cv_gguf_open(out, &g, &err), CV_OK);
    assert_string_equal(get_str(g, CV_KEY_ATTN_PLUS), plus);
    assert_int_equal(get_u32(g, CV_KEY_LOCAL3D_K), k);
    assert_int_equal(get_u32(g, CV_KEY_STAGE), (uint32_t)stage);
    assert_int_equal(cv_gguf_get_i32(g, CV_KEY_SWIN_SHIFT, &sh, &err), CV_OK);
    assert_int_equal(sh, shift);
    assert_int_equal(cv_gguf_find_kv(g, CV_KEY_TIME_SLOTS) != NULL, stage == 2);
    cv_gguf_close(g);
    cv_model *m;
    if (cv_model_load(out, &m, &err))
        fail_msg("%s", err.msg);
    const cv_hparams *hp = cv_model_hparams(m);
    assert_int_equal(hp->plus, !strcmp(plus, "full") ? CV_PLUS_FULL : !strcmp(plus, "swin") ? CV_PLUS_SWIN
                                                                                           : CV_PLUS_LOCAL3D);
    assert_int_equal(hp->local3d_kernel, (int)k);
    cv_model_free(m);
    unlink(out);
}

/* --attention-plus and --local3d-kernel: the release's kinds by default,
 * each kind on request, for both stages. */
static void test_attention_plus(void **state)
{
    (void)state;
    static const struct {
        int stage;
        const char *flag; /* NULL: the default */
        int64_t k;
        const char *plus;
        int32_t shift;
    } cases[] = {
        {1, NULL, 0, "full", 0},     {1, "full", 0, "full", 0}, {1, "local3d", 3, "local3d", 0},
        {1, "local3d", 1, "local3d", 0}, {2, NULL, 0, "swin", 5}, {2, "swin", 0, "swin", 5},
        {2, "full", 0, "full", 0},   {2, "local3d", 5, "local3d", 0},
    };
    const char *dir = bad_copy();
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s\"hidden_size\": 32, \"window_size\": 10, \"cogvideo_stage\": 2}", CFG_HEAD);
    put(dir, "model_config.json", cfg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cv_convert_opts o;
        cv_convert_opts_default(&o);
        o.attention_plus = cases[i].flag;
        o.local3d_kernel = cases[i].k;
        check_plus_keys(cases[i].stage == 1 ? sat_tiny() : dir, &o, cases[i].plus, cases[i].shift,
                        (uint32_t)cases[i].k, cases[i].stage);
    }
    bad_cleanup(dir);
    cv_test_empty_dir();
}

/* Bad --attention-plus / --local3d-kernel values: one line naming the flag,
 * no file (sat-tiny is stage 1 with window_size -1: no swin). */
static void test_bad_attention_plus(void **state)
{
    (void)state;
    static const struct {
        const char *flag;
        int64_t k;
        const char *needle;
    } cases[] = {
        {"local4d", 0, "--attention-plus: 'local4d' is not one of full, swin, local3d"},
        {"", 0, "--attention-plus: '' is not one of"},
        {"local3d", 0, "--local3d-kernel: required with --attention-plus local3d"},
        {"local3d", 4, "--local3d-kernel: 4 (expected an odd K in 1 .. 4095)"},
        {"local3d", -3, "--local3d-kernel: -3 (expected an odd K"},
        {"local3d", 4097, "--local3d-kernel: 4097 (expected an odd K"},
        {"full", 3, "--local3d-kernel: 3 given without --attention-plus local3d"},
        {NULL, 5, "--local3d-kernel: 5 given without --attention-plus local3d"},
        {"swin", 0, "--attention-plus swin: "},
        {"swin", 0, "model_config.json has 'window_size' -1 (expected > 0)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cv_convert_opts o;
        cv_convert_opts_default(&o);
        o.image_tokens = 64;
        o.attention_plus = cases[i].flag;
        o.local3d_kernel = cases[i].k;
        expect_fail_opts(sat_tiny(), &o, cases[i].needle);
    }
}

/* The golden checkpoints (f32, vocab 20410), when CV_SHARED is set: every
 * tensor converted as f32 equals the .pt bit for bit. */
static void test_golden(void **state)
{
    (void)state;
    const char *shared = getenv("CV_SHARED");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/golden/A/ckpt/cogvideo-stage1/model_config.json",
             shared ? shared : "");
    if (!shared || !*shared || access(probe, R_OK) != 0) {
        print_message("SKIP: %s not found (set CV_SHARED to shared/): golden checkpoints not converted\n",
                      probe);
        skip();
    }
    for (int st = 1; st <= 2; st++) {
        char dir[4200], pt_path[4400];
        snprintf(dir, sizeof dir, "%s/golden/A/ckpt/cogvideo-stage%d", shared, st);
        snprintf(pt_path, sizeof pt_path, "%s/1/mp_rank_00_model_states.pt", dir);
        cv_convert_opts o;
        cv_convert_opts_default(&o);
        o.type = CV_TYPE_F32;
        cv_error err;
        const char *out = cv_test_path("golden.gguf");
        cv_status s = cv_convert(dir, out, &o, &err);
        if (s)
            fail_msg("%s", err.msg);
        cv_gguf *g;
        cv_pt *pt;
        assert_int_equal(cv_gguf_open(out, &g, &err), CV_OK);
        assert_int_equal(cv_pt_open(pt_path, "module", &pt, &err), CV_OK);
        assert_int_equal(cv_gguf_tensor_count(g), cv_pt_count(pt));
        for (size_t i = 0; i < cv_pt_count(pt); i++) {
            const cv_pt_tensor *t = cv_pt_at(pt, i);
            const cv_gguf_tensor *gt = cv_gguf_find_tensor(g, t->name);
            assert_non_null(gt);
            check_tensor(gt, t, CV_TYPE_F32);
        }
        uint32_t u;
        assert_int_equal(cv_gguf_get_u32(g, CV_KEY_STAGE, &u, &err), CV_OK);
        assert_int_equal(u, (uint32_t)st);
        int32_t sh;
        assert_int_equal(cv_gguf_get_i32(g, CV_KEY_SWIN_SHIFT, &sh, &err), CV_OK);
        assert_int_equal(sh, st == 2 ? 5 : 0);
        cv_pt_close(pt);
        cv_gguf_close(g);
        cv_test_empty_dir();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep),        cmocka_unit_test(test_f32),  cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16),        cmocka_unit_test(test_q8_0), cmocka_unit_test(test_quantize_ties),
        cmocka_unit_test(test_bad_inputs), cmocka_unit_test(test_bad_checkpoints),
        cmocka_unit_test(test_layout_metadata), cmocka_unit_test(test_bad_layout_opts),
        cmocka_unit_test(test_attention_plus), cmocka_unit_test(test_bad_attention_plus),
        cmocka_unit_test(test_golden),
    };
    cv_test_dir_name("test_convert");
    return cmocka_run_group_tests(tests, cv_test_setup_dir, cv_test_teardown_dir);
}
