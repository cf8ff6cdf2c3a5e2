/* test_ckpt.c — torch.save checkpoints read without Python: the fixtures of
 * tests/make_ckpt_fixtures.py (known values in f32/f16/bf16/i64, shared
 * storage, views, a ZIP64 archive, DeepSpeed-like extras including an
 * os.system call that must never run), one hostile file per check, hostile
 * pickles in memory, every truncation and every single-byte corruption of
 * the valid fixtures, and, when ../shared exists, the real golden
 * checkpoint's tensor table. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp in test_files.c, unlink */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "ckpt_pickle.h"
#include "ckpt_zip.h"
#include "cv_types.h"
#include "ptload.h"
#include "test_files.h"

/* ------------------------------------------------------------------ helpers */

static const char *fixture(const char *name)
{
    static char buf[4][4096];
    static int k;
    const char *dir = getenv("CV_TESTDATA");
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/ckpt/%s", dir ? dir : "testdata", name);
    return b;
}

static cv_pt *open_ok(const char *path, const char *key)
{
    cv_pt *pt = NULL;
    cv_error err = { "" };
    cv_status s = cv_pt_open(path, key, &pt, &err);
    if (s != CV_OK)
        fail_msg("%s: %s", path, err.msg);
    return pt;
}

/* An open that must fail with `want`; the message must be one line naming
 * the file and containing `needle`. */
static void expect_fail(const char *path, const char *key, cv_status want, const char *needle)
{
    cv_pt *pt = (cv_pt *)1;
    cv_error err = { "" };
    cv_status s = cv_pt_open(path, key, &pt, &err);
    if (s != want || !strstr(err.msg, path) || strchr(err.msg, '\n') || (needle && !strstr(err.msg, needle)))
        fail_msg("%s: status %d (want %d), message \"%s\" (want it to contain \"%s\")", path, s, want, err.msg,
                 needle ? needle : "");
    assert_null(pt);
}

static const cv_pt_tensor *get(const cv_pt *pt, const char *name, cv_pt_dtype dt, int ndim, const int64_t *shape)
{
    const cv_pt_tensor *t = cv_pt_find(pt, name);
    if (!t)
        fail_msg("tensor '%s' not found", name);
    assert_string_equal(t->name, name);
    assert_int_equal(t->dtype, dt);
    assert_int_equal(t->ndim, ndim);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (t->shape[d] != shape[d])
            fail_msg("tensor '%s': dim %d is %lld, want %lld", name, d, (long long)t->shape[d],
                     (long long)shape[d]);
        n *= shape[d];
    }
    assert_int_equal(t->numel, n);
    assert_int_equal(t->nbytes, (size_t)n * cv_pt_dtype_size(dt));
    assert_non_null(t->data);
    return t;
}

static float f32_at(const cv_pt_tensor *t, size_t i)
{
    float f;
    memcpy(&f, (const char *)t->data + 4 * i, 4);   /* entries need not be aligned */
    return f;
}

static uint16_t u16_at(const cv_pt_tensor *t, size_t i)
{
    const uint8_t *p = (const uint8_t *)t->data + 2 * i;
    return (uint16_t)(p[0] | p[1] << 8);
}

/* -------------------------------------------------------- valid fixtures */

/* basic.pt (torch's zip layout) and pyzip.pt (python's zipfile: ZIP64
 * local headers, no alignment, an archive comment) hold the same tensors. */
static void check_basic(const char *path)
{
    unlink("/tmp/cv_ckpt_PWNED");
    cv_pt *pt = open_ok(path, "module");
    assert_int_equal(cv_pt_count(pt), 9);
    assert_string_equal(cv_pt_at(pt, 0)->name, "a.f32");   /* pickle order */
    assert_string_equal(cv_pt_at(pt, 8)->name, "col");
    assert_null(cv_pt_at(pt, 9));
    assert_null(cv_pt_find(pt, "nope"));

    static const float a[] = { 0.5f, -1.25f, 2.0f, 3.5f, -0.125f, 1024.0f };
    const cv_pt_tensor *t = get(pt, "a.f32", CV_PT_F32, 2, (const int64_t[]){ 2, 3 });
    assert_int_equal(t->stride[0], 3);
    assert_int_equal(t->stride[1], 1);
    for (size_t i = 0; i < 6; i++)
        assert_true(f32_at(t, i) == a[i]);

    static const float b[] = { 1.0f, -2.0f, 0.33325195f, 65504.0f };
    t = get(pt, "b.f16", CV_PT_F16, 1, (const int64_t[]){ 4 });
    for (size_t i = 0; i < 4; i++)
        assert_true(cv_f16_to_f32(u16_at(t, i)) == b[i]);

    static const float c[] = { 1.5f, -0.0078125f, 256.0f };
    t = get(pt, "c.bf16", CV_PT_BF16, 1, (const int64_t[]){ 3 });
    for (size_t i = 0; i < 3; i++)
        assert_true(cv_bf16_to_f32(u16_at(t, i)) == c[i]);

    /* two tensors on storage '3': the view starts 4 floats into it */
    const cv_pt_tensor *full = get(pt, "shared.full", CV_PT_F32, 1, (const int64_t[]){ 10 });
    const cv_pt_tensor *view = get(pt, "shared.view", CV_PT_F32, 2, (const int64_t[]){ 2, 3 });
    assert_string_equal(full->storage_key, view->storage_key);
    assert_int_equal(view->offset, 4);
    assert_ptr_equal(view->data, (const char *)full->data + 16);
    for (size_t i = 0; i < 6; i++)
        assert_true(f32_at(view, i) == (float)(4 + i));
    const cv_pt_tensor *col = get(pt, "col", CV_PT_F32, 2, (const int64_t[]){ 3, 1 });
    assert_true(f32_at(col, 0) == 2.0f && f32_at(col, 2) == 4.0f);

    t = get(pt, "e.i64", CV_PT_I64, 1, (const int64_t[]){ 3 });
    int64_t e[3];
    memcpy(e, t->data, sizeof e);
    assert_true(e[0] == -3 && e[1] == (int64_t)1 << 40 && e[2] == 7);

    t = get(pt, "scalar", CV_PT_F32, 0, NULL);
    assert_true(f32_at(t, 0) == 42.0f);
    t = get(pt, "empty", CV_PT_F32, 2, (const int64_t[]){ 0, 5 });
    assert_int_equal(t->nbytes, 0);
    cv_pt_close(pt);

    /* the extras held os.system(...): it was a name, nothing ran */
    assert_int_not_equal(access("/tmp/cv_ckpt_PWNED", F_OK), 0);
}

static void test_basic(void **state)
{
    (void)state;
    check_basic(fixture("basic.pt"));
    check_basic(fixture("pyzip.pt"));
    cv_pt_close(NULL);
}

static void test_bare_zip64(void **state)
{
    (void)state;
    const char *path = fixture("bare_zip64.pt");
    cv_pt *pt = open_ok(path, NULL);
    assert_int_equal(cv_pt_count(pt), 2);
    const cv_pt_tensor *w = get(pt, "w", CV_PT_F32, 2, (const int64_t[]){ 2, 2 });
    for (size_t i = 0; i < 4; i++)
        assert_true(f32_at(w, i) == (float)(i + 1));
    const cv_pt_tensor *v = get(pt, "v", CV_PT_F32, 1, (const int64_t[]){ 2 });
    assert_true(f32_at(v, 0) == -1.0f && f32_at(v, 1) == 0.25f);
    cv_pt_close(pt);
    expect_fail(path, "module", CV_ERR_FORMAT, "no top-level key 'module'");
    /* basic.pt's root is not a state dict */
    expect_fail(fixture("basic.pt"), NULL, CV_ERR_FORMAT, "entry 'module' is not a tensor (found dict)");
    expect_fail(fixture("basic.pt"), "iteration", CV_ERR_FORMAT, "'iteration' is not a state dict (found int)");
}

static void test_parameter(void **state)
{
    (void)state;
    cv_pt *pt = open_ok(fixture("param.pt"), "module");
    assert_int_equal(cv_pt_count(pt), 1);
    const cv_pt_tensor *t = get(pt, "p", CV_PT_BF16, 1, (const int64_t[]){ 2 });
    assert_int_equal(t->offset, 1);
    assert_true(cv_bf16_to_f32(u16_at(t, 0)) == -0.0078125f && cv_bf16_to_f32(u16_at(t, 1)) == 256.0f);
    cv_pt_close(pt);
}

static void test_zip_entries(void **state)
{
    (void)state;
    cv_zip *z = NULL;
    cv_error err = { "" };
    assert_int_equal(cv_zip_open(fixture("bare_zip64.pt"), &z, &err), CV_OK);
    assert_int_equal(cv_zip_count(z), 5);
    const cv_zip_entry *e = cv_zip_find(z, "archive/version");
    assert_non_null(e);
    assert_int_equal(e->size, 2);
    assert_memory_equal(e->data, "3\n", 2);
    e = cv_zip_find(z, "archive/data/0");
    assert_non_null(e);
    assert_int_equal(((uintptr_t)e->data - (uintptr_t)cv_zip_at(z, 0)->data) % 64, 0);   /* torch-style alignment */
    assert_null(cv_zip_find(z, "archive/data"));
    assert_null(cv_zip_at(z, 5));
    cv_zip_close(z);
    expect_fail("/nonexistent/x.pt", "module", CV_ERR_IO, "cannot open");
}

/* ------------------------------------------------------- hostile fixtures */

static void test_hostile_files(void **state)
{
    (void)state;
    static const struct { const char *file; cv_status s; const char *needle; } cases[] = {
        { "h_storage_small.pt", CV_ERR_FORMAT, "storage '0' holds 100 f32 elements but its entry has 24 bytes" },
        { "h_offset_past_end.pt", CV_ERR_FORMAT, "tensor 'w' does not fit in its storage (offset 4 + 6" },
        { "h_offset_overflow.pt", CV_ERR_FORMAT, "tensor 'w' does not fit in its storage (offset 9223372036854775806" },
        { "h_numel_overflow.pt", CV_ERR_FORMAT, "tensor 'w' does not fit in its storage" },
        { "h_stride.pt", CV_ERR_UNSUPPORTED, "tensor 'w' has non-contiguous strides [1, 3] for shape [3, 2]" },
        { "h_missing_storage.pt", CV_ERR_FORMAT, "tensor 'w': no zip entry archive/data/9" },
        { "h_storage_type.pt", CV_ERR_UNSUPPORTED, "unsupported storage type" },
        { "h_compressed.pt", CV_ERR_UNSUPPORTED, "entry 'archive/data/0' is compressed (method 8)" },
        { "h_bigendian.pt", CV_ERR_UNSUPPORTED, "byteorder" },
        { "h_dup.pt", CV_ERR_FORMAT, "tensor 'w' appears twice" },
        { "h_os_system.pt", CV_ERR_FORMAT, "entry 'x' is not a tensor (found unknown object)" },
        { "h_opcode.pt", CV_ERR_UNSUPPORTED, "archive/data.pkl: unsupported pickle opcode 0x69 at offset 6" },
        { "h_trunc_pickle.pt", CV_ERR_FORMAT, "archive/data.pkl: truncated pickle" },
        { "h_bad_cd.pt", CV_ERR_FORMAT, "bad central directory record" },
        { "h_local_name.pt", CV_ERR_FORMAT, "disagrees with the central directory" },
        { "h_truncated.pt", CV_ERR_FORMAT, "not a zip archive" },
    };
    unlink("/tmp/cv_ckpt_PWNED");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_fail(fixture(cases[i].file), "module", cases[i].s, cases[i].needle);
    assert_int_not_equal(access("/tmp/cv_ckpt_PWNED", F_OK), 0);
}

/* ------------------------------------------------------ pickles in memory */

static cv_pickle *pickle_ok(const void *b, size_t n)
{
    cv_pickle *pk = NULL;
    cv_error err = { "" };
    if (cv_pickle_load(b, n, "mem", &pk, &err) != CV_OK)
        fail_msg("%s", err.msg);
    return pk;
}

static void pickle_fail(const void *b, size_t n, cv_status want, const char *needle)
{
    cv_pickle *pk = (cv_pickle *)1;
    cv_error err = { "" };
    cv_status s = cv_pickle_load(b, n, "mem", &pk, &err);
    if (s != want || strncmp(err.msg, "mem: ", 5) != 0 || strchr(err.msg, '\n') || !strstr(err.msg, needle))
        fail_msg("status %d (want %d), message \"%s\" (want \"%s\")", s, want, err.msg, needle);
    assert_null(pk);
}

#define PK(s) s, sizeof s - 1

static void test_pickle_values(void **state)
{
    (void)state;
    /* (LONG1 -2, LONG1 2^40, BININT -5, BINFLOAT 1.5, None, True, 'k': [7, 7]) */
    static const char p[] = "\x80\x02(\x8a\x01\xfe\x8a\x06\x00\x00\x00\x00\x00\x01J\xfb\xff\xff\xff"
                            "G\x3f\xf8\x00\x00\x00\x00\x00\x00N\x88}X\x01\x00\x00\x00k]K\x07q\x05h\x05\x86"
                            "\x94" "a\x73t.";
    cv_pickle *pk = pickle_ok(PK(p));
    const cv_pv *r = cv_pickle_root(pk);
    assert_int_equal(r->kind, CV_PV_TUPLE);
    assert_int_equal(r->u.seq.n, 7);
    assert_true(r->u.seq.items[0]->u.i == -2);
    assert_true(r->u.seq.items[1]->u.i == (int64_t)1 << 40);
    assert_true(r->u.seq.items[2]->u.i == -5);
    assert_true(r->u.seq.items[3]->u.f == 1.5);
    assert_int_equal(r->u.seq.items[4]->kind, CV_PV_NONE);
    assert_true(r->u.seq.items[5]->kind == CV_PV_BOOL && r->u.seq.items[5]->u.b);
    const cv_pv *l = cv_pv_dict_get(r->u.seq.items[6], "k");
    assert_non_null(l);
    assert_int_equal(l->kind, CV_PV_LIST);
    assert_int_equal(l->u.seq.n, 1);
    assert_int_equal(l->u.seq.items[0]->kind, CV_PV_TUPLE);
    assert_null(cv_pv_dict_get(r->u.seq.items[6], "x"));
    assert_null(cv_pv_dict_get(r, "k"));
    cv_pickle_free(pk);
    cv_pickle_free(NULL);

    /* a list that contains itself: built and freed without recursion */
    static const char cyc[] = "\x80\x02]q\x00h\x00" "a.";
    pk = pickle_ok(PK(cyc));
    assert_ptr_equal(cv_pickle_root(pk)->u.seq.items[0], cv_pickle_root(pk));
    cv_pickle_free(pk);
}

static void test_pickle_hostile(void **state)
{
    (void)state;
    pickle_fail(PK(""), CV_ERR_FORMAT, "no STOP opcode");
    pickle_fail(PK("\x80\x02i"), CV_ERR_UNSUPPORTED, "unsupported pickle opcode 0x69 at offset 2");
    pickle_fail(PK("\x80\x02\xff"), CV_ERR_UNSUPPORTED, "opcode 0xff at offset 2");
    pickle_fail(PK("\x80\x06."), CV_ERR_UNSUPPORTED, "protocol above 5");
    pickle_fail(PK("\x80\x02J\x01\x02"), CV_ERR_FORMAT, "needs 4 bytes, 2 left");
    pickle_fail(PK("\x80\x02X\xff\xff\xff\xff"), CV_ERR_FORMAT, "truncated pickle");
    pickle_fail(PK("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff"), CV_ERR_FORMAT, "truncated pickle");
    pickle_fail(PK("\x80\x02T\xff\xff\xff\xff"), CV_ERR_FORMAT, "negative string length");
    pickle_fail(PK("\x80\x02\x95\xff\x00\x00\x00\x00\x00\x00\x00N."), CV_ERR_FORMAT, "FRAME longer");
    pickle_fail(PK("\x80\x02h\x03."), CV_ERR_FORMAT, "memo index not defined");
    pickle_fail(PK("\x80\x02j\xff\xff\xff\x7f."), CV_ERR_FORMAT, "memo index not defined");
    pickle_fail(PK("\x80\x02Nr\xff\xff\xff\x7f."), CV_ERR_FORMAT, "memo index too large");
    pickle_fail(PK("\x80\x02q\x00."), CV_ERR_FORMAT, "stack underflow");
    pickle_fail(PK("\x80\x02."), CV_ERR_FORMAT, "stack underflow");
    pickle_fail(PK("\x80\x02N\x86."), CV_ERR_FORMAT, "stack underflow");
    pickle_fail(PK("\x80\x02N(\x85."), CV_ERR_FORMAT, "stack underflow");   /* a MARK is a floor */
    pickle_fail(PK("\x80\x02t."), CV_ERR_FORMAT, "no MARK");
    pickle_fail(PK("\x80\x02(NNNd."), CV_ERR_FORMAT, "odd number");
    pickle_fail(PK("\x80\x02NNa."), CV_ERR_FORMAT, "neither a list nor a dict");
    pickle_fail(PK("\x80\x02}NNNs."), CV_ERR_FORMAT, "neither a list nor a dict");
    pickle_fail(PK("\x80\x02}Na."), CV_ERR_FORMAT, "APPEND to a dict");
    pickle_fail(PK("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."), CV_ERR_UNSUPPORTED, "wider than 64");
    pickle_fail(PK("\x80\x02" "cos\nsystem"), CV_ERR_FORMAT, "GLOBAL without a newline");
    pickle_fail(PK("\x80\x02K\x01K\x02\x93."), CV_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    pickle_fail(PK("\x80\x02(K\x01K\x02tQ."), CV_ERR_FORMAT, "unsupported persistent id");
    /* _rebuild_tensor_v2 with garbage arguments */
    pickle_fail(PK("\x80\x02\x63torch._utils\n_rebuild_tensor_v2\n(K\x01tR."), CV_ERR_FORMAT,
                "malformed _rebuild_tensor_v2");
    pickle_fail(PK("\x80\x02\x63torch._utils\n_rebuild_tensor_v2\nNR."), CV_ERR_FORMAT, "not a tuple");

    /* MARKs nested beyond the bound, and a REDUCE of os.system: a name only */
    size_t n = 2 + 5000;
    char *deep = malloc(n);
    assert_non_null(deep);
    memcpy(deep, "\x80\x02", 2);
    memset(deep + 2, '(', 5000);
    pickle_fail(deep, n, CV_ERR_FORMAT, "MARKs nested too deeply");
    free(deep);
    static const char sys[] = "\x80\x02\x63os\nsystem\nX\x18\x00\x00\x00touch /tmp/cv_ckpt_PWNED\x85R.";
    unlink("/tmp/cv_ckpt_PWNED");
    cv_pickle *pk = pickle_ok(PK(sys));
    const cv_pv *r = cv_pickle_root(pk);
    assert_int_equal(r->kind, CV_PV_UNKNOWN);
    assert_memory_equal(r->u.global.name.p, "system", 6);
    cv_pickle_free(pk);
    assert_int_not_equal(access("/tmp/cv_ckpt_PWNED", F_OK), 0);
}

/* -------------------------------------------- truncations and corruptions */

/* Opens b[0..n) from an exact-size heap copy, so that ASan reports any read
 * outside it (it does not watch mmaps).  Success is allowed only when
 * `may_succeed`, and then every tensor byte is read. */
static void open_mem_any(const unsigned char *b, size_t n, int may_succeed)
{
    unsigned char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, b, n);
    cv_pt *pt = NULL;
    cv_error err = { "" };
    cv_status s = cv_pt_open_mem(copy, n, "mem.pt", "module", &pt, &err);
    if (s == CV_OK) {
        if (!may_succeed)
            fail_msg("%zu bytes: opened but should not", n);
        unsigned sum = 0;
        for (size_t i = 0; i < cv_pt_count(pt); i++) {
            const cv_pt_tensor *t = cv_pt_at(pt, i);
            for (size_t k = 0; k < t->nbytes; k++)
                sum += ((const unsigned char *)t->data)[k];
        }
        (void)sum;
        cv_pt_close(pt);
    } else if (strncmp(err.msg, "mem.pt: ", 8) != 0 || strchr(err.msg, '\n')) {
        fail_msg("bad message \"%s\"", err.msg);
    }
    assert_true(s == CV_OK || pt == NULL);
    free(copy);
}

static const char *const valid_files[] = { "basic.pt", "bare_zip64.pt", "pyzip.pt" };

static void test_truncations(void **state)
{
    (void)state;
    const char *tmp = cv_test_path("cut.pt");
    for (size_t f = 0; f < sizeof valid_files / sizeof valid_files[0]; f++) {
        size_t n;
        unsigned char *b = cv_test_read_all(fixture(valid_files[f]), &n);
        for (size_t len = 0; len < n; len++)
            open_mem_any(b, len, 0);
        open_mem_any(b, n, 1);
        const size_t some[] = { 0, 1, 21, 22, n / 2, n - 22, n - 1 };   /* the mmap path too */
        for (size_t k = 0; k < sizeof some / sizeof some[0]; k++) {
            cv_test_write_bytes(tmp, b, some[k]);
            expect_fail(tmp, "module", CV_ERR_FORMAT, NULL);
        }
        free(b);
    }
    /* the pickle alone, at every length */
    cv_zip *z = NULL;
    cv_error err = { "" };
    assert_int_equal(cv_zip_open(fixture("basic.pt"), &z, &err), CV_OK);
    const cv_zip_entry *e = cv_zip_find(z, "mp_rank_00_model_states/data.pkl");
    assert_non_null(e);
    for (size_t len = 0; len < e->size; len++) {
        unsigned char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, e->data, len);
        cv_pickle *pk = NULL;
        assert_int_not_equal(cv_pickle_load(copy, len, "mem", &pk, &err), CV_OK);
        assert_null(pk);
        free(copy);
    }
    cv_zip_close(z);
}

static void test_corruptions(void **state)
{
    (void)state;
    for (size_t f = 0; f < sizeof valid_files / sizeof valid_files[0]; f++) {
        size_t n;
        unsigned char *b = cv_test_read_all(fixture(valid_files[f]), &n);
        for (size_t i = 0; i < n; i++) {
            static const unsigned char flips[] = { 0xff, 0x01, 0x80 };
            for (size_t k = 0; k < sizeof flips; k++) {
                b[i] ^= flips[k];
                open_mem_any(b, n, 1);
                b[i] ^= flips[k];
            }
        }
        free(b);
    }
}

/* -------------------------------------------------- a sparse > 4 GB zip */

static size_t le(uint8_t *b, size_t k, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[k + (size_t)i] = i < 8 ? (uint8_t)(v >> (8 * i)) : 0;   /* n > 8: zero fill */
    return k + (size_t)n;
}

static size_t bytes(uint8_t *b, size_t k, const void *p, size_t n)
{
    if (n)
        memcpy(b + k, p, n);
    return k + n;
}

static size_t local_hdr(uint8_t *b, size_t k, const char *name, uint32_t size32, const uint8_t *x, size_t xl)
{
    k = le(b, k, 0x04034b50, 4);
    k = le(b, k, 45, 2);                 /* version needed */
    k = le(b, k, 0, 12);                 /* flags, method, time, date, crc */
    k = le(b, k, size32, 4);
    k = le(b, k, size32, 4);
    k = le(b, k, strlen(name), 2);
    k = le(b, k, xl, 2);
    k = bytes(b, k, name, strlen(name));
    return bytes(b, k, x, xl);
}

static size_t central_hdr(uint8_t *b, size_t k, const char *name, uint32_t size32, uint32_t off32, const uint8_t *x,
                          size_t xl)
{
    k = le(b, k, 0x02014b50, 4);
    k = le(b, k, 45, 2);
    k = le(b, k, 45, 2);
    k = le(b, k, 0, 12);                 /* flags, method, time, date, crc */
    k = le(b, k, size32, 4);
    k = le(b, k, size32, 4);
    k = le(b, k, strlen(name), 2);
    k = le(b, k, xl, 2);
    k = le(b, k, 0, 10);                 /* comment length, disk, attributes */
    k = le(b, k, off32, 4);
    k = bytes(b, k, name, strlen(name));
    return bytes(b, k, x, xl);
}

/* Writes big.pt: data.pkl, data/0 of 2^32 + 64 bytes (a hole: no disk
 * space), then data/1 at an offset above 4 GB, ZIP64 everywhere it is
 * needed, as torch writes a 15 GB checkpoint.  Returns 0 if the file system
 * cannot hold it. */
static int write_big(const char *path, int64_t *big_bytes)
{
    size_t pn;
    unsigned char *pkl = cv_test_read_all(fixture("big_zip64.pkl"), &pn);
    const uint64_t S = ((uint64_t)1 << 32) + 64;
    uint8_t x1[20], x2[12], head[1024], tail[1024];
    le(x1, le(x1, le(x1, le(x1, 0, 1, 2), 16, 2), S, 8), S, 8);        /* ZIP64: usize, csize */
    size_t h = local_hdr(head, 0, "archive/data.pkl", (uint32_t)pn, NULL, 0);
    h = bytes(head, h, pkl, pn);
    uint64_t off1 = h;
    h = local_hdr(head, h, "archive/data/0", 0xffffffffu, x1, sizeof x1);
    uint64_t off2 = h + S;
    size_t t = local_hdr(tail, 0, "archive/data/1", 8, NULL, 0);
    t = bytes(tail, t, "\x00\x00\xc0\x3f\x00\x00\x20\xc0", 8);        /* 1.5f, -2.5f */
    size_t cd = t;
    le(x2, le(x2, le(x2, 0, 1, 2), 8, 2), off2, 8);                     /* ZIP64: offset */
    t = central_hdr(tail, t, "archive/data.pkl", (uint32_t)pn, 0, NULL, 0);
    t = central_hdr(tail, t, "archive/data/0", 0xffffffffu, (uint32_t)off1, x1, sizeof x1);
    t = central_hdr(tail, t, "archive/data/1", 8, 0xffffffffu, x2, sizeof x2);
    uint64_t cd_size = t - cd, e64 = off2 + t;
    t = le(tail, le(tail, le(tail, t, 0x06064b50, 4), 44, 8), 45, 2);   /* ZIP64 end record */
    t = le(tail, le(tail, le(tail, le(tail, t, 45, 2), 0, 4), 0, 4), 3, 8);
    t = le(tail, le(tail, le(tail, t, 3, 8), cd_size, 8), off2 + cd, 8);
    t = le(tail, le(tail, le(tail, le(tail, t, 0x07064b50, 4), 0, 4), e64, 8), 1, 4);   /* locator */
    t = le(tail, le(tail, le(tail, t, 0x06054b50, 4), 0, 4), 0xffffffffu, 4);           /* EOCD */
    t = le(tail, le(tail, le(tail, t, 0xffffffffu, 4), 0xffffffffu, 4), 0, 2);
    free(pkl);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int ok = fd >= 0 && pwrite(fd, head, h, 0) == (ssize_t)h && pwrite(fd, tail, t, (off_t)off2) == (ssize_t)t;
    if (fd >= 0)
        close(fd);
    *big_bytes = (int64_t)S;
    return ok;
}

static void test_big_zip64(void **state)
{
    (void)state;
    if (sizeof(size_t) < 8 || sizeof(off_t) < 8) {
        print_message("SKIP: 32-bit host: a > 4 GB archive cannot be mapped\n");
        skip();
    }
    const char *path = cv_test_path("big.pt");
    int64_t S;
    if (!write_big(path, &S)) {
        unlink(path);
        print_message("SKIP: cannot write a sparse 4 GB file in %s\n", cv_test_tmpdir);
        skip();
    }
    cv_pt *pt = open_ok(path, "module");
    assert_int_equal(cv_pt_count(pt), 2);
    const cv_pt_tensor *big = get(pt, "big", CV_PT_F32, 1, (const int64_t[]){ S / 4 });
    assert_true((uint64_t)big->nbytes == (uint64_t)S);
    assert_int_equal(((const unsigned char *)big->data)[big->nbytes - 1], 0);   /* in the hole */
    const cv_pt_tensor *w = get(pt, "w", CV_PT_F32, 1, (const int64_t[]){ 2 });
    assert_true((const char *)w->data > (const char *)big->data + S);
    assert_true(f32_at(w, 0) == 1.5f && f32_at(w, 1) == -2.5f);
    cv_pt_close(pt);
    unlink(path);
}

/* ------------------------------------------------ the golden checkpoint */

/* Expected values computed independently with Python's zipfile + struct. */
static void test_golden_checkpoint(void **state)
{
    (void)state;
    const char *shared = getenv("CV_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/A/ckpt/cogvideo-stage1/1/mp_rank_00_model_states.pt",
             shared ? shared : "");
    if (!shared || access(path, R_OK) != 0) {
        print_message("SKIP: %s not found (set CV_SHARED to shared/): golden checkpoint not checked\n", path);
        skip();
    }
    enum { L = 2, H = 64, V = 20410 };
    cv_pt *pt = open_ok(path, "module");
    assert_int_equal(cv_pt_count(pt), 2 + 16 * L + 2 + 1 + 5 * L);
    char name[256];
    get(pt, "transformer.word_embeddings.weight", CV_PT_F32, 2, (const int64_t[]){ V, H });
    get(pt, "transformer.position_embeddings.weight", CV_PT_F32, 2, (const int64_t[]){ 1024, H });
    get(pt, "transformer.final_layernorm.weight", CV_PT_F32, 1, (const int64_t[]){ H });
    get(pt, "transformer.final_layernorm.bias", CV_PT_F32, 1, (const int64_t[]){ H });
    get(pt, "mixins.extra_position_embedding.position_embeddings.weight", CV_PT_F32, 2, (const int64_t[]){ 2000, H });
    static const struct { const char *pre, *post; int64_t rows, cols; } per_layer[] = {
        { "transformer.layers.", ".input_layernorm.weight", H, 0 },
        { "transformer.layers.", ".input_layernorm.bias", H, 0 },
        { "transformer.layers.", ".attention.query_key_value.weight", 3 * H, H },
        { "transformer.layers.", ".attention.query_key_value.bias", 3 * H, 0 },
        { "transformer.layers.", ".attention.dense.weight", H, H },
        { "transformer.layers.", ".attention.dense.bias", H, 0 },
        { "transformer.layers.", ".third_layernorm.weight", H, 0 },
        { "transformer.layers.", ".third_layernorm.bias", H, 0 },
        { "transformer.layers.", ".fourth_layernorm.weight", H, 0 },
        { "transformer.layers.", ".fourth_layernorm.bias", H, 0 },
        { "transformer.layers.", ".post_attention_layernorm.weight", H, 0 },
        { "transformer.layers.", ".post_attention_layernorm.bias", H, 0 },
        { "transformer.layers.", ".mlp.dense_h_to_4h.weight", 4 * H, H },
        { "transformer.layers.", ".mlp.dense_h_to_4h.bias", 4 * H, 0 },
        { "transformer.layers.", ".mlp.dense_4h_to_h.weight", H, 4 * H },
        { "transformer.layers.", ".mlp.dense_4h_to_h.bias", H, 0 },
        { "mixins.attention_plus.query_key_value.", ".weight", 3 * H, H },
        { "mixins.attention_plus.query_key_value.", ".bias", 3 * H, 0 },
        { "mixins.attention_plus.dense.", ".weight", H, H },
        { "mixins.attention_plus.dense.", ".bias", H, 0 },
        { "mixins.attention_plus.attn_distribution.", "", H, 0 },
    };
    for (int l = 0; l < L; l++) {
        for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
            snprintf(name, sizeof name, "%s%d%s", per_layer[i].pre, l, per_layer[i].post);
            int64_t shape[2] = { per_layer[i].rows, per_layer[i].cols };
            get(pt, name, CV_PT_F32, per_layer[i].cols ? 2 : 1, shape);
        }
    }
    const cv_pt_tensor *we = cv_pt_find(pt, "transformer.word_embeddings.weight");
    assert_true(f32_at(we, 0) == 0.1508435308933258f);
    assert_true(f32_at(we, 7 * H + 3) == 0.08468538522720337f);
    assert_true(f32_at(we, (size_t)V * H - 1) == -0.6065831184387207f);
    double sum = 0;
    for (size_t i = 0; i < (size_t)V * H; i++)
        sum += f32_at(we, i);
    sum -= -127.28441505771531;   /* same order of additions as Python's sum() */
    assert_true(sum < 1e-9 && sum > -1e-9);
    const cv_pt_tensor *fb = cv_pt_find(pt, "transformer.final_layernorm.bias");
    assert_true(f32_at(fb, 63) == 0.08737577497959137f);
    const cv_pt_tensor *pe = cv_pt_find(pt, "mixins.extra_position_embedding.position_embeddings.weight");
    assert_true(f32_at(pe, 1999 * H + 5) == -0.10529772192239761f);
    cv_pt_close(pt);

    /* stage 2 has the same key set */
    snprintf(path, sizeof path, "%s/golden/A/ckpt/cogvideo-stage2/1/mp_rank_00_model_states.pt", shared);
    pt = open_ok(path, "module");
    assert_int_equal(cv_pt_count(pt), 2 + 16 * L + 2 + 1 + 5 * L);
    get(pt, "mixins.attention_plus.attn_distribution.1", CV_PT_F32, 1, (const int64_t[]){ H });
    cv_pt_close(pt);
}

static int setup(void **state)
{
    cv_test_dir_name("test_ckpt");
    return cv_test_setup_dir(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_bare_zip64),
        cmocka_unit_test(test_parameter),
        cmocka_unit_test(test_zip_entries),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_pickle_values),
        cmocka_unit_test(test_pickle_hostile),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_corruptions),
        cmocka_unit_test(test_big_zip64),
        cmocka_unit_test(test_golden_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, cv_test_teardown_dir);
}
