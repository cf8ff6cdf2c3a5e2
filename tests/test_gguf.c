/* test_gguf.c — GGUF writer and reader: round trips of every metadata type
 * and of f32/f16/bf16/q8_0 tensors, alignments, streaming, and hostile files
 * (every truncation, corrupted bytes, hand-built files with huge counts,
 * overflowing dims, bad offsets, bad alignment, duplicates, unknown types),
 * plus writer failures that must leave no file behind.  Meant to be run
 * under ASan/UBSan too: a hostile file may only ever produce an error. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp, opendir */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cv_types.h"
#include "test_files.h"
#include "gguf.h"

/* ------------------------------------------------------------------ helpers */

/* An error message must name the file and be one line. */
static void check_msg(const cv_error *err, const char *path, const char *needle)
{
    if (!strstr(err->msg, path) || strchr(err->msg, '\n') || (needle && !strstr(err->msg, needle)))
        fail_msg("bad message \"%s\" (want it to name %s%s%s)", err->msg, path, needle ? " and say " : "",
                 needle ? needle : "");
}

static void expect_open_fail(const char *path, cv_status want, const char *needle)
{
    cv_gguf *g = (cv_gguf *)1;
    cv_error err = { "" };
    cv_status s = cv_gguf_open(path, &g, &err);
    if (s != want)
        fail_msg("open %s: status %d, want %d (%s)", path, s, want, err.msg);
    assert_null(g);
    check_msg(&err, path, needle);
}

#define CHECK(call)                                     \
    do {                                                \
        cv_error e_ = { "" };                           \
        cv_status s_ = (call);                          \
        if (s_ != CV_OK)                                \
            fail_msg("%s: %s", #call, e_.msg);          \
    } while (0)
/* CHECK needs the call to use &e_ as its error argument. */

/* ------------------------------------------------------------------ sample content */

static const int64_t shp_f32[] = { 3, 5 };      /* ne = {5, 3} */
static const int64_t shp_f16[] = { 7 };
static const int64_t shp_bf16[] = { 2, 3, 4 };
static const int64_t shp_q8[] = { 5, 96 };      /* 5 rows of 3 blocks */
static const int64_t shp_q8b[] = { 2, 1, 3, 32 };
static const int64_t shp_zero[] = { 0, 4 };

typedef struct {
    float f32[15];
    uint16_t f16[7], bf16[24];
    cv_block_q8_0 q8[15], q8b[6];
} sample_data;

static void make_data(sample_data *d)
{
    for (int i = 0; i < 15; i++)
        d->f32[i] = (float)i * 1.5f - 7.0f;
    for (int i = 0; i < 7; i++)
        d->f16[i] = cv_f32_to_f16((float)i * 0.25f - 1.0f);
    for (int i = 0; i < 24; i++)
        d->bf16[i] = cv_f32_to_bf16((float)i * -3.0f + 0.5f);
    for (int b = 0; b < 15; b++) {
        d->q8[b].d = cv_f32_to_f16(0.01f * (float)(b + 1));
        for (int j = 0; j < 32; j++)
            d->q8[b].qs[j] = (int8_t)((b * 32 + j) % 255 - 127);
    }
    for (int b = 0; b < 6; b++) {
        d->q8b[b].d = cv_f32_to_f16(-0.5f * (float)(b + 1));
        for (int j = 0; j < 32; j++)
            d->q8b[b].qs[j] = (int8_t)(j - b);
    }
}

static const char *const strs[] = { "alpha", "", "\xe9\xab\x98\xe6\xb8\x85", "with\nnewline" };

/* Every metadata type, scalars and arrays. */
static void set_metadata(cv_gguf_writer *w)
{
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -5000000000LL;
    double f64 = 3.141592653589793;
    CHECK(cv_gguf_writer_set_str(w, "general.architecture", "cogvideo", &e_));
    CHECK(cv_gguf_writer_set(w, "t.u8", CV_GGUF_UINT8, &u8, &e_));
    CHECK(cv_gguf_writer_set(w, "t.i8", CV_GGUF_INT8, &i8, &e_));
    CHECK(cv_gguf_writer_set(w, "t.u16", CV_GGUF_UINT16, &u16, &e_));
    CHECK(cv_gguf_writer_set(w, "t.i16", CV_GGUF_INT16, &i16, &e_));
    CHECK(cv_gguf_writer_set_u32(w, "t.u32", 4000000000u, &e_));
    CHECK(cv_gguf_writer_set_i32(w, "t.i32", -2000000000, &e_));
    CHECK(cv_gguf_writer_set_f32(w, "t.f32", 0.1f, &e_));
    CHECK(cv_gguf_writer_set_bool(w, "t.bool", true, &e_));
    CHECK(cv_gguf_writer_set_bool(w, "t.false", false, &e_));
    CHECK(cv_gguf_writer_set_strn(w, "t.str", "a\0b", 3, &e_));
    CHECK(cv_gguf_writer_set_u64(w, "t.u64", UINT64_MAX, &e_));
    CHECK(cv_gguf_writer_set(w, "t.i64", CV_GGUF_INT64, &i64, &e_));
    CHECK(cv_gguf_writer_set(w, "t.f64", CV_GGUF_FLOAT64, &f64, &e_));
    const int32_t ai32[] = { 1, -2, 3 };
    const float af32[] = { 0.5f, -1.25f };
    const uint8_t abool[] = { 1, 0, 1, 1 };
    const uint64_t au64[] = { 1, UINT64_MAX };
    const int16_t ai16[] = { -1 };
    CHECK(cv_gguf_writer_set_array(w, "a.i32", CV_GGUF_INT32, ai32, 3, &e_));
    CHECK(cv_gguf_writer_set_array(w, "a.f32", CV_GGUF_FLOAT32, af32, 2, &e_));
    CHECK(cv_gguf_writer_set_array(w, "a.bool", CV_GGUF_BOOL, abool, 4, &e_));
    CHECK(cv_gguf_writer_set_array(w, "a.u64", CV_GGUF_UINT64, au64, 2, &e_));
    CHECK(cv_gguf_writer_set_array(w, "a.i16", CV_GGUF_INT16, ai16, 1, &e_));
    CHECK(cv_gguf_writer_set_array(w, "a.empty", CV_GGUF_UINT8, NULL, 0, &e_));
    CHECK(cv_gguf_writer_set_str_array(w, "a.str", strs, NULL, 4, &e_));
}

static void add_tensors(cv_gguf_writer *w, const sample_data *d, bool with_data)
{
    static const float scalar = 42.0f;
    CHECK(cv_gguf_writer_add_tensor(w, "w.f32", CV_TYPE_F32, 2, shp_f32, with_data ? d->f32 : NULL, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "w.f16", CV_TYPE_F16, 1, shp_f16, with_data ? d->f16 : NULL, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "w.zero", CV_TYPE_F32, 2, shp_zero, NULL, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "w.bf16", CV_TYPE_BF16, 3, shp_bf16, with_data ? d->bf16 : NULL, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "w.q8", CV_TYPE_Q8_0, 2, shp_q8, with_data ? d->q8 : NULL, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "w.q8b", CV_TYPE_Q8_0, 4, shp_q8b, with_data ? d->q8b : NULL, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "w.scalar", CV_TYPE_F32, 0, NULL, with_data ? &scalar : NULL, &e_));
}

static void write_sample(const char *path, uint32_t alignment, const sample_data *d)
{
    cv_gguf_writer *w;
    CHECK(cv_gguf_writer_new(&w, path, alignment, &e_));
    set_metadata(w);
    add_tensors(w, d, true);
    CHECK(cv_gguf_writer_write(w, &e_));
    cv_gguf_writer_free(w);
}

/* ------------------------------------------------------------------ round trip */

static void check_metadata(const cv_gguf *g)
{
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    double f64;
    bool b;
    const char *s;
    size_t len;
    CHECK(cv_gguf_get_str(g, "general.architecture", &s, &len, &e_));
    assert_string_equal(s, "cogvideo");
    assert_int_equal(len, 8);
    CHECK(cv_gguf_get_u8(g, "t.u8", &u8, &e_));
    assert_int_equal(u8, 200);
    CHECK(cv_gguf_get_i8(g, "t.i8", &i8, &e_));
    assert_int_equal(i8, -100);
    CHECK(cv_gguf_get_u16(g, "t.u16", &u16, &e_));
    assert_int_equal(u16, 60000);
    CHECK(cv_gguf_get_i16(g, "t.i16", &i16, &e_));
    assert_int_equal(i16, -30000);
    CHECK(cv_gguf_get_u32(g, "t.u32", &u32, &e_));
    assert_int_equal(u32, 4000000000u);
    CHECK(cv_gguf_get_i32(g, "t.i32", &i32, &e_));
    assert_int_equal(i32, -2000000000);
    CHECK(cv_gguf_get_f32(g, "t.f32", &f32, &e_));
    assert_true(f32 == 0.1f);
    CHECK(cv_gguf_get_bool(g, "t.bool", &b, &e_));
    assert_true(b);
    CHECK(cv_gguf_get_bool(g, "t.false", &b, &e_));
    assert_false(b);
    CHECK(cv_gguf_get_str(g, "t.str", &s, &len, &e_));
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4);
    CHECK(cv_gguf_get_u64(g, "t.u64", &u64, &e_));
    assert_true(u64 == UINT64_MAX);
    CHECK(cv_gguf_get_i64(g, "t.i64", &i64, &e_));
    assert_true(i64 == -5000000000LL);
    CHECK(cv_gguf_get_f64(g, "t.f64", &f64, &e_));
    assert_true(f64 == 3.141592653589793);
    CHECK(cv_gguf_get_uint(g, "t.u16", &u64, &e_));
    assert_int_equal(u64, 60000);
}

static void check_arrays(const cv_gguf *g)
{
    const cv_gguf_kv *kv;
    CHECK(cv_gguf_get_array(g, "a.i32", CV_GGUF_INT32, &kv, &e_));
    int32_t i32[3];
    assert_int_equal(kv->count, 3);
    memcpy(i32, kv->data, sizeof i32);
    assert_int_equal(i32[0], 1);
    assert_int_equal(i32[1], -2);
    assert_int_equal(i32[2], 3);
    CHECK(cv_gguf_get_array(g, "a.f32", CV_GGUF_FLOAT32, &kv, &e_));
    float f[2];
    memcpy(f, kv->data, sizeof f);
    assert_true(f[0] == 0.5f && f[1] == -1.25f);
    CHECK(cv_gguf_get_array(g, "a.bool", CV_GGUF_BOOL, &kv, &e_));
    assert_memory_equal(kv->data, "\1\0\1\1", 4);
    CHECK(cv_gguf_get_array(g, "a.u64", CV_GGUF_UINT64, &kv, &e_));
    uint64_t u[2];
    memcpy(u, kv->data, sizeof u);
    assert_true(u[0] == 1 && u[1] == UINT64_MAX);
    CHECK(cv_gguf_get_array(g, "a.i16", CV_GGUF_INT16, &kv, &e_));
    assert_int_equal(kv->count, 1);
    CHECK(cv_gguf_get_array(g, "a.empty", CV_GGUF_UINT8, &kv, &e_));
    assert_int_equal(kv->count, 0);
    CHECK(cv_gguf_get_array(g, "a.str", CV_GGUF_STRING, &kv, &e_));
    assert_int_equal(kv->count, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(kv->str[i].s, strs[i]);
        assert_int_equal(kv->str[i].len, strlen(strs[i]));
    }
}

static void check_type_errors(const cv_gguf *g)
{
    uint32_t u32;
    const cv_gguf_kv *kv;
    cv_error err;
    const char *path = cv_gguf_path(g);
    assert_int_equal(cv_gguf_get_u32(g, "general.architecture", &u32, &err), CV_ERR_FORMAT);
    check_msg(&err, path, "metadata key 'general.architecture' has type string (expected uint32)");
    assert_int_equal(cv_gguf_get_u32(g, "cogvideo.hidden", &u32, &err), CV_ERR_FORMAT);
    check_msg(&err, path, "missing metadata key 'cogvideo.hidden' (expected uint32)");
    assert_int_equal(cv_gguf_get_array(g, "a.i32", CV_GGUF_UINT32, &kv, &err), CV_ERR_FORMAT);
    check_msg(&err, path, "has type array[int32] (expected array[uint32])");
    assert_int_equal(cv_gguf_get_u32(g, "a.i32", &u32, &err), CV_ERR_FORMAT);
    check_msg(&err, path, "has type array[int32] (expected uint32)");
    uint64_t v;
    assert_int_equal(cv_gguf_get_uint(g, "t.i64", &v, &err), CV_ERR_FORMAT);
    check_msg(&err, path, "expected a value >= 0");
    assert_int_equal(cv_gguf_get_uint(g, "t.f32", &v, &err), CV_ERR_FORMAT);
    check_msg(&err, path, "has type float32");
    assert_null(cv_gguf_find_kv(g, "nope"));
}

static void check_tensor(const cv_gguf *g, const char *name, uint32_t type, int ndim, const int64_t *shape,
                         const void *data, size_t nbytes)
{
    const cv_gguf_tensor *t;
    CHECK(cv_gguf_expect_tensor(g, name, type, ndim, shape, &t, &e_));
    assert_string_equal(t->name, name);
    assert_int_equal(t->ndim, ndim);
    for (int i = 0; i < 4; i++)
        assert_int_equal(t->ne[i], i < ndim ? shape[ndim - 1 - i] : 1);
    assert_int_equal(t->nbytes, nbytes);
    uint32_t a = cv_gguf_alignment(g);
    assert_int_equal(t->offset % a, 0);
    assert_int_equal(t->file_offset, cv_gguf_data_offset(g) + t->offset);
    assert_int_equal((uintptr_t)t->data % a, 0);
    if (nbytes)
        assert_memory_equal(t->data, data, nbytes);
}

static void check_tensors(const cv_gguf *g, const sample_data *d)
{
    const float scalar = 42.0f;
    assert_int_equal(cv_gguf_tensor_count(g), 7);
    check_tensor(g, "w.f32", CV_TYPE_F32, 2, shp_f32, d->f32, sizeof d->f32);
    check_tensor(g, "w.f16", CV_TYPE_F16, 1, shp_f16, d->f16, sizeof d->f16);
    check_tensor(g, "w.zero", CV_TYPE_F32, 2, shp_zero, NULL, 0);
    check_tensor(g, "w.bf16", CV_TYPE_BF16, 3, shp_bf16, d->bf16, sizeof d->bf16);
    check_tensor(g, "w.q8", CV_TYPE_Q8_0, 2, shp_q8, d->q8, sizeof d->q8);
    check_tensor(g, "w.q8b", CV_TYPE_Q8_0, 4, shp_q8b, d->q8b, sizeof d->q8b);
    check_tensor(g, "w.scalar", CV_TYPE_F32, 0, NULL, &scalar, 4);
    assert_string_equal(cv_gguf_tensor_at(g, 0)->name, "w.f32");
    assert_string_equal(cv_gguf_tensor_at(g, 6)->name, "w.scalar");
    assert_null(cv_gguf_tensor_at(g, 7));
    assert_null(cv_gguf_find_tensor(g, "w.nope"));
    int64_t shape[4];
    assert_int_equal(cv_gguf_tensor_shape(cv_gguf_find_tensor(g, "w.bf16"), shape), 3);
    assert_true(shape[0] == 2 && shape[1] == 3 && shape[2] == 4);
    /* expectation failures */
    const cv_gguf_tensor *t;
    cv_error err;
    const int64_t wrong[] = { 5, 3 };
    assert_int_equal(cv_gguf_expect_tensor(g, "w.f32", CV_TYPE_F32, 2, wrong, &t, &err), CV_ERR_FORMAT);
    check_msg(&err, cv_gguf_path(g), "tensor 'w.f32' has shape (3, 5) (expected (5, 3))");
    assert_int_equal(cv_gguf_expect_tensor(g, "w.f32", CV_TYPE_Q8_0, 2, shp_f32, &t, &err), CV_ERR_FORMAT);
    check_msg(&err, cv_gguf_path(g), "tensor 'w.f32' has type f32 (expected q8_0)");
    assert_int_equal(cv_gguf_expect_tensor(g, "w.nope", CV_GGUF_ANY_TYPE, 2, shp_f32, &t, &err), CV_ERR_FORMAT);
    check_msg(&err, cv_gguf_path(g), "missing tensor 'w.nope'");
}

static void roundtrip(uint32_t alignment)
{
    sample_data d;
    make_data(&d);
    const char *p = cv_test_path("rt.gguf");
    write_sample(p, alignment, &d);
    assert_int_equal(cv_test_count_files(), 1);
    cv_gguf *g;
    CHECK(cv_gguf_open(p, &g, &e_));
    uint32_t a = alignment ? alignment : 32;
    assert_int_equal(cv_gguf_version(g), 3);
    assert_int_equal(cv_gguf_alignment(g), a);
    assert_int_equal(cv_gguf_data_offset(g) % a, 0);
    /* general.alignment is written, first, only when it is not the default */
    const cv_gguf_kv *kv0 = cv_gguf_kv_at(g, 0);
    assert_string_equal(kv0->key, a == 32 ? "general.architecture" : "general.alignment");
    assert_int_equal(cv_gguf_kv_count(g), a == 32 ? 21 : 22);
    assert_null(cv_gguf_kv_at(g, cv_gguf_kv_count(g)));
    check_metadata(g);
    check_arrays(g);
    check_type_errors(g);
    check_tensors(g, &d);
    /* file length: data section + every tensor padded, the last one too */
    const cv_gguf_tensor *last = cv_gguf_tensor_at(g, 6);
    assert_int_equal(cv_gguf_file_size(g),
                     cv_gguf_data_offset(g) + last->offset + (last->nbytes + a - 1) / a * a);
    cv_gguf_close(g);
    remove(p);
}

static void test_roundtrip_32(void **state)
{
    (void)state;
    roundtrip(0);
}

static void test_roundtrip_64(void **state)
{
    (void)state;
    roundtrip(64);
    roundtrip(8);
    roundtrip(4096);
}

/* Streaming in odd chunk sizes gives the very same bytes. */
static void test_streaming(void **state)
{
    (void)state;
    sample_data d;
    make_data(&d);
    const char *a = cv_test_path("a.gguf"), *b = cv_test_path("b.gguf");
    write_sample(a, 0, &d);
    cv_gguf_writer *w;
    CHECK(cv_gguf_writer_new(&w, b, 0, &e_));
    set_metadata(w);
    add_tensors(w, &d, false);
    CHECK(cv_gguf_writer_begin(w, &e_));
    const float scalar = 42.0f;
    const struct { const void *p; size_t n; } parts[] = {
        { d.f32, sizeof d.f32 }, { d.f16, sizeof d.f16 }, { d.bf16, sizeof d.bf16 },
        { d.q8, sizeof d.q8 },   { d.q8b, sizeof d.q8b }, { &scalar, 4 },
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        for (size_t off = 0; off < parts[i].n; off += 7) {
            size_t k = parts[i].n - off < 7 ? parts[i].n - off : 7;
            CHECK(cv_gguf_writer_write_data(w, (const char *)parts[i].p + off, k, &e_));
        }
    assert_int_equal(cv_test_count_files(), 2); /* a.gguf and b's temporary */
    CHECK(cv_gguf_writer_finish(w, &e_));
    cv_gguf_writer_free(w);
    size_t na, nb;
    unsigned char *ba = cv_test_read_all(a, &na), *bb = cv_test_read_all(b, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(ba, bb, na);
    free(ba);
    free(bb);
    remove(a);
    remove(b);
}

/* ------------------------------------------------------------------ writer failures */

static void test_writer_errors(void **state)
{
    (void)state;
    cv_gguf_writer *w;
    cv_error err;
    const char *p = cv_test_path("w.gguf");
    const int64_t s33[] = { 2, 33 }, sneg[] = { -1 }, s5[] = { 1, 1, 1, 1, 1 };
    const int64_t huge[] = { INT64_MAX, INT64_MAX };
    float buf[64] = { 0 };
    assert_int_equal(cv_gguf_writer_new(&w, p, 3, &err), CV_ERR_ARG);
    assert_null(w);
    assert_int_equal(cv_gguf_writer_new(&w, p, 4, &err), CV_ERR_ARG);
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    CHECK(cv_gguf_writer_set_u32(w, "a.b", 1, &e_));
    assert_int_equal(cv_gguf_writer_set_u32(w, "a.b", 2, &err), CV_ERR_ARG);
    check_msg(&err, p, "duplicate metadata key 'a.b'");
    assert_int_equal(cv_gguf_writer_set_u32(w, "general.alignment", 64, &err), CV_ERR_ARG);
    assert_int_equal(cv_gguf_writer_set_u32(w, "", 1, &err), CV_ERR_ARG);
    assert_int_equal(cv_gguf_writer_set_u32(w, "a b", 1, &err), CV_ERR_ARG);
    assert_int_equal(cv_gguf_writer_set_u32(w, "a\nb", 1, &err), CV_ERR_ARG);
    check_msg(&err, p, "not printable ASCII");
    assert_int_equal(cv_gguf_writer_set(w, "x.s", CV_GGUF_STRING, "s", &err), CV_ERR_ARG);
    assert_int_equal(cv_gguf_writer_set_array(w, "x.a", CV_GGUF_ARRAY, buf, 1, &err), CV_ERR_ARG);
    const uint8_t twos[] = { 0, 2 };
    assert_int_equal(cv_gguf_writer_set_array(w, "x.b", CV_GGUF_BOOL, twos, 2, &err), CV_ERR_ARG);
    CHECK(cv_gguf_writer_add_tensor(w, "t", CV_TYPE_F32, 1, s5, NULL, &e_));
    assert_int_equal(cv_gguf_writer_add_tensor(w, "t", CV_TYPE_F32, 1, s5, buf, &err), CV_ERR_ARG);
    check_msg(&err, p, "duplicate tensor name 't'");
    assert_int_equal(cv_gguf_writer_add_tensor(w, "q", CV_TYPE_Q8_0, 2, s33, buf, &err), CV_ERR_ARG);
    check_msg(&err, p, "not a multiple of 32");
    assert_int_equal(cv_gguf_writer_add_tensor(w, "n", CV_TYPE_F32, 1, sneg, buf, &err), CV_ERR_ARG);
    assert_int_equal(cv_gguf_writer_add_tensor(w, "n", CV_TYPE_F32, 5, s5, buf, &err), CV_ERR_ARG);
    assert_int_equal(cv_gguf_writer_add_tensor(w, "n", CV_TYPE_F32, 2, huge, buf, &err), CV_ERR_ARG);
    check_msg(&err, p, "overflows");
    assert_int_equal(cv_gguf_writer_add_tensor(w, "n", 77, 1, s5, buf, &err), CV_ERR_UNSUPPORTED);
    assert_int_equal(cv_gguf_writer_add_tensor(w, "", CV_TYPE_F32, 1, s5, buf, &err), CV_ERR_ARG);
    char longname[80];
    memset(longname, 'x', 65);
    longname[65] = '\0';
    assert_int_equal(cv_gguf_writer_add_tensor(w, longname, CV_TYPE_F32, 1, s5, buf, &err), CV_ERR_ARG);
    /* tensor "t" has no data: write refuses before creating anything */
    assert_int_equal(cv_gguf_writer_write(w, &err), CV_ERR_ARG);
    check_msg(&err, p, "has no data");
    assert_int_equal(cv_test_count_files(), 0);
    /* streaming: too much data aborts, and nothing is left */
    CHECK(cv_gguf_writer_begin(w, &e_));
    assert_int_equal(cv_gguf_writer_set_u32(w, "late", 1, &err), CV_ERR_ARG);
    assert_int_equal(cv_gguf_writer_write_data(w, buf, 8, &err), CV_ERR_ARG);
    check_msg(&err, p, "beyond the last tensor");
    assert_int_equal(cv_test_count_files(), 0);
    assert_int_equal(cv_gguf_writer_finish(w, &err), CV_ERR_ARG);
    cv_gguf_writer_free(w);
    assert_int_equal(cv_test_count_files(), 0);
}

static void test_writer_no_leftovers(void **state)
{
    (void)state;
    cv_gguf_writer *w;
    cv_error err;
    const int64_t s4[] = { 4 };
    float buf[4] = { 1, 2, 3, 4 };
    /* incomplete stream */
    const char *p = cv_test_path("inc.gguf");
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "t", CV_TYPE_F32, 1, s4, NULL, &e_));
    CHECK(cv_gguf_writer_begin(w, &e_));
    CHECK(cv_gguf_writer_write_data(w, buf, 8, &e_));
    assert_int_equal(cv_gguf_writer_finish(w, &err), CV_ERR_ARG);
    check_msg(&err, p, "incomplete (8 of 16 bytes written)");
    cv_gguf_writer_free(w);
    assert_int_equal(cv_test_count_files(), 0);
    /* freed in the middle of writing */
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "t", CV_TYPE_F32, 1, s4, NULL, &e_));
    CHECK(cv_gguf_writer_begin(w, &e_));
    cv_gguf_writer_free(w);
    assert_int_equal(cv_test_count_files(), 0);
    /* directory missing */
    p = cv_test_path("no-dir/x.gguf");
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "t", CV_TYPE_F32, 1, s4, buf, &e_));
    assert_int_equal(cv_gguf_writer_write(w, &err), CV_ERR_IO);
    check_msg(&err, p, "cannot create");
    cv_gguf_writer_free(w);
    /* a directory where the file should go: rename fails, temp removed */
    p = cv_test_path("dir.gguf");
    assert_int_equal(mkdir(p, 0755), 0);
    CHECK(cv_gguf_writer_new(&w, p, 0, &e_));
    CHECK(cv_gguf_writer_add_tensor(w, "t", CV_TYPE_F32, 1, s4, buf, &e_));
    assert_int_equal(cv_gguf_writer_write(w, &err), CV_ERR_IO);
    check_msg(&err, p, "rename");
    cv_gguf_writer_free(w);
    assert_int_equal(cv_test_count_files(), 1);
    rmdir(p);
}

/* ------------------------------------------------------------------ hostile files */

/* A hand-built GGUF file. */
typedef struct {
    unsigned char b[8192];
    size_t n;
} gb;

static void put(gb *g, const void *p, size_t n)
{
    assert_true(g->n + n <= sizeof g->b);
    memcpy(g->b + g->n, p, n);
    g->n += n;
}

static void u32(gb *g, uint32_t v) { put(g, &v, 4); }
static void u64(gb *g, uint64_t v) { put(g, &v, 8); }

static void str(gb *g, const char *s)
{
    u64(g, strlen(s));
    put(g, s, strlen(s));
}

static void head(gb *g, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    g->n = 0;
    put(g, "GGUF", 4);
    u32(g, version);
    u64(g, n_tensors);
    u64(g, n_kv);
}

static void kv_u32(gb *g, const char *key, uint32_t v)
{
    str(g, key);
    u32(g, CV_GGUF_UINT32);
    u32(g, v);
}

/* Tensor info with GGUF-order dims. */
static void tinfo(gb *g, const char *name, uint32_t ndim, const uint64_t *ne, uint32_t type, uint64_t offset)
{
    str(g, name);
    u32(g, ndim);
    for (uint32_t i = 0; i < ndim; i++)
        u64(g, ne[i]);
    u32(g, type);
    u64(g, offset);
}

static void pad_to(gb *g, size_t a)
{
    static const unsigned char z[4096];
    put(g, z, (a - g->n % a) % a);
}

static void zeros(gb *g, size_t n)
{
    static const unsigned char z[4096];
    put(g, z, n);
}

static void hostile(const gb *g, cv_status want, const char *needle)
{
    const char *p = cv_test_path("hostile.gguf");
    cv_test_write_bytes(p, g->b, g->n);
    expect_open_fail(p, want, needle);
    remove(p);
}

static void benign(const gb *g)
{
    const char *p = cv_test_path("benign.gguf");
    cv_gguf *gg;
    cv_test_write_bytes(p, g->b, g->n);
    CHECK(cv_gguf_open(p, &gg, &e_));
    cv_gguf_close(gg);
    remove(p);
}

/* One f32 tensor of 8 elements, with the given info fields. */
static void one_tensor(gb *g, uint32_t ndim, const uint64_t *ne, uint32_t type, uint64_t offset)
{
    head(g, 3, 1, 0);
    tinfo(g, "t", ndim, ne, type, offset);
    pad_to(g, 32);
    zeros(g, 64);
}

static void test_hostile_header(void **state)
{
    (void)state;
    gb g;
    head(&g, 3, 0, 0);
    benign(&g);
    head(&g, 2, 0, 0);
    benign(&g); /* v2 has the same layout */
    memcpy(g.b, "GGUX", 4);
    hostile(&g, CV_ERR_FORMAT, "not a GGUF file (magic 'GGUX'");
    head(&g, 1, 0, 0);
    hostile(&g, CV_ERR_UNSUPPORTED, "GGUF version 1 is not supported");
    head(&g, 4, 0, 0);
    hostile(&g, CV_ERR_UNSUPPORTED, "version 4");
    head(&g, 0, 0, 0);
    hostile(&g, CV_ERR_UNSUPPORTED, "version 0");
    head(&g, 0x03000000u, 0, 0);
    hostile(&g, CV_ERR_UNSUPPORTED, "big-endian");
    head(&g, 3, UINT64_MAX, 0);
    hostile(&g, CV_ERR_FORMAT, "more than the remaining");
    head(&g, 3, 0, 1ull << 62);
    hostile(&g, CV_ERR_FORMAT, "more than the remaining");
    head(&g, 3, 1, 1);
    zeros(&g, 30);
    hostile(&g, CV_ERR_FORMAT, "more than the remaining");
    g.n = 3;
    hostile(&g, CV_ERR_FORMAT, "truncated header");
    const char *p = cv_test_path("empty.gguf");
    cv_test_write_bytes(p, "", 0);
    expect_open_fail(p, CV_ERR_FORMAT, "truncated header");
    remove(p);
    expect_open_fail(cv_test_path("missing.gguf"), CV_ERR_IO, "cannot open");
    expect_open_fail(cv_test_tmpdir, CV_ERR_IO, "not a regular file");
}

static void test_hostile_metadata(void **state)
{
    (void)state;
    gb g;
    head(&g, 3, 0, 1); /* key length beyond the file */
    u64(&g, UINT64_MAX);
    zeros(&g, 16);
    hostile(&g, CV_ERR_FORMAT, "truncated metadata key 0");
    head(&g, 3, 0, 1);
    str(&g, "");
    u32(&g, CV_GGUF_UINT8);
    zeros(&g, 8);
    hostile(&g, CV_ERR_FORMAT, "length outside 1..65535");
    head(&g, 3, 0, 1);
    str(&g, "a\nb");
    u32(&g, CV_GGUF_UINT8);
    zeros(&g, 1);
    hostile(&g, CV_ERR_FORMAT, "not printable ASCII");
    head(&g, 3, 0, 1); /* unknown value type */
    str(&g, "k");
    u32(&g, 13);
    zeros(&g, 8);
    hostile(&g, CV_ERR_FORMAT, "unknown value type 13");
    head(&g, 3, 0, 1); /* array of arrays */
    str(&g, "k");
    u32(&g, CV_GGUF_ARRAY);
    u32(&g, CV_GGUF_ARRAY);
    u64(&g, 1);
    zeros(&g, 16);
    hostile(&g, CV_ERR_UNSUPPORTED, "nested arrays");
    head(&g, 3, 0, 1); /* array count that cannot fit */
    str(&g, "k");
    u32(&g, CV_GGUF_ARRAY);
    u32(&g, CV_GGUF_UINT32);
    u64(&g, 1ull << 61);
    zeros(&g, 16);
    hostile(&g, CV_ERR_FORMAT, "claims 2305843009213693952 elements");
    head(&g, 3, 0, 1); /* string array count that cannot fit */
    str(&g, "k");
    u32(&g, CV_GGUF_ARRAY);
    u32(&g, CV_GGUF_STRING);
    u64(&g, UINT64_MAX / 2);
    zeros(&g, 64);
    hostile(&g, CV_ERR_FORMAT, "more than the remaining");
    head(&g, 3, 0, 1); /* a string element longer than the file */
    str(&g, "k");
    u32(&g, CV_GGUF_ARRAY);
    u32(&g, CV_GGUF_STRING);
    u64(&g, 2);
    str(&g, "ok");
    u64(&g, 1ull << 40);
    zeros(&g, 8);
    hostile(&g, CV_ERR_FORMAT, "truncated value of metadata key 'k'");
    head(&g, 3, 0, 1); /* invalid bool */
    str(&g, "k");
    u32(&g, CV_GGUF_BOOL);
    put(&g, "\2", 1);
    hostile(&g, CV_ERR_FORMAT, "invalid bool value 2");
    head(&g, 3, 0, 1); /* invalid bool in an array */
    str(&g, "k");
    u32(&g, CV_GGUF_ARRAY);
    u32(&g, CV_GGUF_BOOL);
    u64(&g, 3);
    put(&g, "\1\0\xff", 3);
    hostile(&g, CV_ERR_FORMAT, "invalid bool value 255");
    head(&g, 3, 0, 2); /* duplicate key */
    kv_u32(&g, "a.b", 1);
    kv_u32(&g, "a.b", 2);
    hostile(&g, CV_ERR_FORMAT, "duplicate metadata key 'a.b'");
}

static void test_hostile_alignment(void **state)
{
    (void)state;
    gb g;
    static const uint32_t bad[] = { 0, 3, 48, 0x80000001u };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        head(&g, 3, 0, 1);
        kv_u32(&g, "general.alignment", bad[i]);
        hostile(&g, CV_ERR_FORMAT, "general.alignment is");
    }
    head(&g, 3, 0, 1);
    str(&g, "general.alignment");
    u32(&g, CV_GGUF_UINT64);
    u64(&g, 64);
    hostile(&g, CV_ERR_FORMAT, "metadata key 'general.alignment' has type uint64 (expected uint32)");
    /* alignment 64 honoured: offset 32 is then misaligned */
    uint64_t ne[] = { 8 };
    head(&g, 3, 2, 1);
    kv_u32(&g, "general.alignment", 64);
    tinfo(&g, "a", 1, ne, CV_TYPE_F32, 0);
    tinfo(&g, "b", 1, ne, CV_TYPE_F32, 32);
    pad_to(&g, 64);
    zeros(&g, 128);
    hostile(&g, CV_ERR_FORMAT, "tensor 'b' has data offset 32 (expected a multiple of the alignment 64)");
    /* the data section must start at the aligned position: a 1-byte
     * alignment (a power of two, accepted like ggml does) has no padding */
    head(&g, 3, 1, 1);
    kv_u32(&g, "general.alignment", 1);
    tinfo(&g, "a", 1, ne, CV_TYPE_F32, 0);
    zeros(&g, 32);
    benign(&g);
}

static void test_hostile_tensors(void **state)
{
    (void)state;
    gb g;
    uint64_t ne8[] = { 8 }, ne5d[] = { 1, 1, 1, 1, 1 }, big[] = { 1ull << 32, 1ull << 32, 1ull << 32 };
    uint64_t over[] = { 1ull << 63 }, q33[] = { 33, 2 }, q32[] = { 32, 1 };
    one_tensor(&g, 1, ne8, CV_TYPE_F32, 0);
    benign(&g);
    one_tensor(&g, 5, ne5d, CV_TYPE_F32, 0);
    hostile(&g, CV_ERR_FORMAT, "tensor 't' has 5 dimensions (expected at most 4)");
    one_tensor(&g, 3, big, CV_TYPE_F32, 0);
    hostile(&g, CV_ERR_FORMAT, "its size overflows");
    one_tensor(&g, 1, over, CV_TYPE_F32, 0);
    hostile(&g, CV_ERR_FORMAT, "too large");
    one_tensor(&g, 1, ne8, 99, 0);
    hostile(&g, CV_ERR_UNSUPPORTED, "unknown ggml type 99");
    one_tensor(&g, 1, ne8, 4, 0);
    hostile(&g, CV_ERR_UNSUPPORTED, "removed");
    one_tensor(&g, 2, q33, CV_TYPE_Q8_0, 0);
    hostile(&g, CV_ERR_FORMAT, "tensor 't' of type q8_0 has shape (2, 33): the last dimension is not a multiple of 32");
    one_tensor(&g, 2, q32, CV_TYPE_Q8_0, 0);
    benign(&g); /* 34 bytes fit in the 64 */
    one_tensor(&g, 1, ne8, CV_TYPE_F32, 64);
    hostile(&g, CV_ERR_FORMAT, "lies beyond the end of the file");
    one_tensor(&g, 1, ne8, CV_TYPE_F32, UINT64_MAX - 31);
    hostile(&g, CV_ERR_FORMAT, "lies beyond the end of the file");
    one_tensor(&g, 1, ne8, CV_TYPE_F32, 4);
    hostile(&g, CV_ERR_FORMAT, "expected a multiple of the alignment 32");
    one_tensor(&g, 1, ne8, CV_TYPE_F32, 0);
    g.n -= 40; /* data cut: 24 of its 32 bytes remain */
    hostile(&g, CV_ERR_FORMAT, "beyond the end");
    head(&g, 3, 1, 0); /* padding before the data section is missing */
    tinfo(&g, "t", 0, NULL, CV_TYPE_F32, 0);
    hostile(&g, CV_ERR_FORMAT, "truncated padding before the data section");
    head(&g, 3, 2, 0);
    tinfo(&g, "t", 1, ne8, CV_TYPE_F32, 0);
    tinfo(&g, "t", 1, ne8, CV_TYPE_F32, 32);
    pad_to(&g, 32);
    zeros(&g, 64);
    hostile(&g, CV_ERR_FORMAT, "duplicate tensor name 't'");
    head(&g, 3, 2, 0);
    tinfo(&g, "a", 1, ne8, CV_TYPE_F32, 0);
    tinfo(&g, "b", 1, ne8, CV_TYPE_F16, 0);
    pad_to(&g, 32);
    zeros(&g, 64);
    hostile(&g, CV_ERR_FORMAT, "data of tensors 'a' and 'b' overlap");
    head(&g, 3, 1, 0);
    tinfo(&g, "bad\x01name", 1, ne8, CV_TYPE_F32, 0);
    pad_to(&g, 32);
    zeros(&g, 32);
    hostile(&g, CV_ERR_FORMAT, "control character");
    head(&g, 3, 1, 0);
    tinfo(&g, "0123456789012345678901234567890123456789012345678901234567890123456789", 1, ne8,
          CV_TYPE_F32, 0);
    pad_to(&g, 32);
    zeros(&g, 32);
    hostile(&g, CV_ERR_FORMAT, "length outside 1..64");
}

/* The sample file cut at every length: an error (never a crash) up to the
 * end of the last tensor's data; after that only the last padding is
 * missing and the file is usable. */
static void test_truncation_everywhere(void **state)
{
    (void)state;
    sample_data d;
    make_data(&d);
    const char *src = cv_test_path("full.gguf"), *p = cv_test_path("cut.gguf");
    write_sample(src, 0, &d);
    cv_gguf *g;
    CHECK(cv_gguf_open(src, &g, &e_));
    const cv_gguf_tensor *last = cv_gguf_tensor_at(g, cv_gguf_tensor_count(g) - 1);
    size_t data_end = (size_t)(last->file_offset + last->nbytes);
    cv_gguf_close(g);
    size_t n;
    unsigned char *b = cv_test_read_all(src, &n);
    for (size_t len = 0; len < n; len++) {
        cv_test_write_bytes(p, b, len);
        cv_error err = { "" };
        cv_status s = cv_gguf_open(p, &g, &err);
        if (len < data_end) {
            if (s != CV_ERR_FORMAT)
                fail_msg("cut at %zu of %zu: status %d (%s)", len, n, s, err.msg);
            check_msg(&err, p, NULL);
        } else {
            if (s != CV_OK)
                fail_msg("cut at %zu (data ends at %zu): %s", len, data_end, err.msg);
            cv_gguf_close(g);
        }
    }
    free(b);
    remove(src);
    remove(p);
}

/* Every byte before the data section replaced by a few values. */
static void test_corrupt_bytes(void **state)
{
    (void)state;
    sample_data d;
    make_data(&d);
    const char *src = cv_test_path("full.gguf"), *p = cv_test_path("bad.gguf");
    write_sample(src, 0, &d);
    cv_gguf *g;
    CHECK(cv_gguf_open(src, &g, &e_));
    size_t data_off = (size_t)cv_gguf_data_offset(g);
    cv_gguf_close(g);
    size_t n;
    unsigned char *b = cv_test_read_all(src, &n);
    static const unsigned char vals[] = { 0x00, 0x01, 0x02, 0x07, 0x09, 0x20, 0x40, 0x7f, 0x80, 0xfe, 0xff };
    int ok = 0, bad = 0;
    for (size_t i = 0; i < data_off; i++) {
        unsigned char orig = b[i];
        for (size_t v = 0; v < sizeof vals; v++) {
            if (vals[v] == orig)
                continue;
            b[i] = vals[v];
            cv_test_write_bytes(p, b, n);
            cv_error err = { "" };
            if (cv_gguf_open(p, &g, &err) == CV_OK) {
                /* still valid: walking it must be safe too */
                for (size_t t = 0; t < cv_gguf_tensor_count(g); t++) {
                    const cv_gguf_tensor *tt = cv_gguf_tensor_at(g, t);
                    volatile unsigned char sink = tt->nbytes ? ((const unsigned char *)tt->data)[tt->nbytes - 1] : 0;
                    (void)sink;
                }
                cv_gguf_close(g);
                ok++;
            } else {
                check_msg(&err, p, NULL);
                bad++;
            }
        }
        b[i] = orig;
    }
    print_message("corrupted %zu header bytes: %d files rejected, %d still valid\n", data_off, bad, ok);
    free(b);
    remove(src);
    remove(p);
}

/* ------------------------------------------------------------------ info */

static void test_print_info(void **state)
{
    (void)state;
    sample_data d;
    make_data(&d);
    const char *p = cv_test_path("info.gguf"), *out = cv_test_path("info.txt");
    write_sample(p, 64, &d);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    CHECK(cv_gguf_print_info(p, f, &e_));
    fclose(f);
    size_t n;
    char *txt = (char *)cv_test_read_all(out, &n);
    txt[n] = '\0';
    static const char *const want[] = {
        "GGUF version 3, 22 metadata keys, 7 tensors, alignment 64",
        "general.alignment", "uint32", "64\n",
        "general.architecture", "\"cogvideo\"",
        "t.str", "\"a\\x00b\"",
        "t.f64", "3.141592653589793",
        "t.bool", "true",
        "a.str", "string[4]", "[\"alpha\", \"\", \"\xe9\xab\x98\xe6\xb8\x85\", \"with\\x0anewline\"]",
        "a.i32", "int32[3]", "[1, -2, 3]",
        "a.empty", "uint8[0]", "[]",
        "w.q8b", "q8_0", "(2, 1, 3, 32)",
        "w.bf16", "bf16", "(2, 3, 4)",
        "w.scalar", "()",
        "total: 7 tensors",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(txt, want[i]))
            fail_msg("info output lacks \"%s\":\n%s", want[i], txt);
    free(txt);
    cv_error err;
    f = fopen(out, "w");
    assert_int_equal(cv_gguf_print_info(cv_test_path("nope.gguf"), f, &err), CV_ERR_IO);
    fclose(f);
    remove(out);
    remove(p);
}

static int setup(void **state)
{
    cv_test_dir_name("test_gguf");
    return cv_test_setup_dir(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_32),
        cmocka_unit_test(test_roundtrip_64),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_writer_no_leftovers),
        cmocka_unit_test(test_hostile_header),
        cmocka_unit_test(test_hostile_metadata),
        cmocka_unit_test(test_hostile_alignment),
        cmocka_unit_test(test_hostile_tensors),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_corrupt_bytes),
        cmocka_unit_test(test_print_info),
    };
    return cmocka_run_group_tests(tests, setup, cv_test_teardown_dir);
}
