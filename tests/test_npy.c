/* test_npy.c — .npy reader/writer: round trips, hand-built headers of every
 * version, hostile files (every truncation, corrupt bytes, overflowing
 * shapes), failed writes leaving nothing behind, and, when a python3 with
 * numpy is around, numpy reading our files and us reading numpy's. */
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
#include "npy.h"

/* ------------------------------------------------------------------ helpers */

/* A load that must fail with status `want`; checks the message is one line
 * naming the file and, if `needle` is given, contains it. */
static void expect_fail(const char *path, cv_status want, const char *needle)
{
    cv_npy a;
    cv_error err = { "" };
    cv_status s = cv_npy_load(path, &a, &err);
    if (s != want || !strstr(err.msg, path) || strchr(err.msg, '\n') ||
        (needle && !strstr(err.msg, needle)))
        fail_msg("status %d (want %d), message \"%s\" (want it to name %s%s%s)", s, want, err.msg, path,
                 needle ? " and contain " : "", needle ? needle : "");
    assert_null(a.data);
}

/* A .npy file with the given version and raw header text (padding is the
 * caller's business), followed by n data bytes. */
static void write_raw(const char *path, int major, const char *header, const void *data, size_t n)
{
    size_t hl = strlen(header), pre = major == 1 ? 10 : 12;
    unsigned char *b = malloc(pre + hl + n + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        b[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(b + pre, header, hl);
    if (n)
        memcpy(b + pre + hl, data, n);
    cv_test_write_bytes(path, b, pre + hl + n);
    free(b);
}

/* Deterministic, dtype-valid element bytes. */
static void fill(cv_dtype dt, void *p, size_t count)
{
    unsigned char *b = p;
    for (size_t i = 0; i < count; i++) {
        switch (dt) {
        case CV_DT_F32: { float v = (float)i * 0.25f - 3.0f; memcpy(b + 4 * i, &v, 4); break; }
        case CV_DT_F16: { uint16_t v = cv_f32_to_f16((float)i * 0.5f - 2.0f); memcpy(b + 2 * i, &v, 2); break; }
        case CV_DT_F64: { double v = (double)i / 3.0 - 1.0; memcpy(b + 8 * i, &v, 8); break; }
        case CV_DT_I8: b[i] = (unsigned char)(int8_t)((int)(i * 37 % 256) - 128); break;
        case CV_DT_U8: b[i] = (unsigned char)(i * 53 % 256); break;
        case CV_DT_I32: { int32_t v = (int32_t)(i * 100003) - 70000; memcpy(b + 4 * i, &v, 4); break; }
        case CV_DT_I64: { int64_t v = (int64_t)i * 1000000007LL - 5000000000LL; memcpy(b + 8 * i, &v, 8); break; }
        case CV_DT_BOOL: b[i] = (unsigned char)(i % 3 == 1); break;
        }
    }
}

static const cv_dtype all_dtypes[] = { CV_DT_F32, CV_DT_F16, CV_DT_F64, CV_DT_I8,
                                       CV_DT_U8,  CV_DT_I32, CV_DT_I64, CV_DT_BOOL };

/* ------------------------------------------------------------------ round trips */

static void roundtrip_one(cv_dtype dt, int ndim, const int64_t *shape)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    size_t nbytes = count * cv_dtype_size(dt);
    unsigned char *data = malloc(nbytes + 1);
    assert_non_null(data);
    fill(dt, data, count);
    cv_error err = { "" };
    const char *p = cv_test_path("rt.npy");
    if (cv_npy_save(p, dt, ndim, shape, data, &err) != CV_OK)
        fail_msg("save: %s", err.msg);
    size_t fsize;
    unsigned char *file = cv_test_read_all(p, &fsize);
    assert_int_equal((fsize - nbytes) % 64, 0); /* header padded like numpy */
    assert_int_equal(file[6], 1);
    assert_int_equal(file[fsize - nbytes - 1], '\n');
    free(file);
    cv_npy a;
    if (cv_npy_load(p, &a, &err) != CV_OK)
        fail_msg("load: %s", err.msg);
    assert_int_equal(a.dtype, dt);
    assert_int_equal(a.ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(a.shape[i], shape[i]);
    assert_int_equal(a.count, count);
    assert_int_equal(a.nbytes, nbytes);
    assert_non_null(a.data);
    if (nbytes)
        assert_memory_equal(a.data, data, nbytes);
    cv_npy_free(&a);
    free(data);
    assert_int_equal(cv_test_count_files(), 1);
    remove(p);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const int64_t shapes[][4] = { { 0 }, { 7 }, { 2, 3 }, { 2, 1, 3 }, { 1, 2, 3, 2 } };
    static const int64_t zero1[] = { 0 }, zero3[] = { 2, 0, 3 }, big1[] = { 1000 };
    for (size_t d = 0; d < sizeof all_dtypes / sizeof all_dtypes[0]; d++) {
        for (int ndim = 0; ndim <= 4; ndim++)
            roundtrip_one(all_dtypes[d], ndim, shapes[ndim]);
        roundtrip_one(all_dtypes[d], 1, zero1);
        roundtrip_one(all_dtypes[d], 3, zero3);
        roundtrip_one(all_dtypes[d], 1, big1);
    }
}

/* The exact bytes numpy 1.24 writes for np.save(f, np.zeros((2, 3), '<f4')). */
static void test_header_bytes(void **state)
{
    (void)state;
    float z[6] = { 0 };
    const int64_t shape[] = { 2, 3 };
    cv_error err;
    const char *p = cv_test_path("hdr.npy");
    assert_int_equal(cv_npy_save(p, CV_DT_F32, 2, shape, z, &err), CV_OK);
    size_t n;
    unsigned char *b = cv_test_read_all(p, &n);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_int_equal(n, 128 + 24);
    assert_memory_equal(b, "\x93NUMPY\x01\x00\x76\x00", 10);
    assert_memory_equal(b + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        assert_int_equal(b[i], ' ');
    assert_int_equal(b[127], '\n');
    free(b);
    remove(p);
}

/* ------------------------------------------------------------------ hand-built headers */

static void load_ok(const char *path, cv_dtype dt, int ndim, const int64_t *shape)
{
    cv_npy a;
    cv_error err = { "" };
    if (cv_npy_load(path, &a, &err) != CV_OK)
        fail_msg("load %s: %s", path, err.msg);
    assert_int_equal(a.dtype, dt);
    assert_int_equal(a.ndim, ndim);
    for (int i = 0; i < ndim; i++)
        assert_int_equal(a.shape[i], shape[i]);
    cv_npy_free(&a);
}

static void test_versions_and_variants(void **state)
{
    (void)state;
    const char *p = cv_test_path("v.npy");
    float d[6] = { 1, 2, 3, 4, 5, 6 };
    const int64_t s23[] = { 2, 3 }, s6[] = { 6 }, s0[] = { 0 };
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }    \n";
    for (int v = 1; v <= 3; v++) {
        write_raw(p, v, h, d, sizeof d);
        load_ok(p, CV_DT_F32, 2, s23);
    }
    /* any key order, double quotes, no spaces, no trailing comma, 'L' ints,
     * no padding, newlines inside, '=' and '|' byte orders */
    write_raw(p, 1, "{\"shape\":(2L,3L),\"fortran_order\":False,\"descr\":\"<f4\"}", d, sizeof d);
    load_ok(p, CV_DT_F32, 2, s23);
    write_raw(p, 1, "{ 'fortran_order' : False ,\n 'shape' : ( 6 , ) ,\n 'descr' : '=f4' , }\n", d, sizeof d);
    load_ok(p, CV_DT_F32, 1, s6);
    write_raw(p, 3, "{'descr': '|u1', 'fortran_order': False, 'shape': (6,), }\n", d, 6);
    load_ok(p, CV_DT_U8, 1, s6);
    write_raw(p, 1, "{'descr': '<i1', 'fortran_order': False, 'shape': (6,), }\n", d, 6);
    load_ok(p, CV_DT_I8, 1, s6);
    write_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }\n", NULL, 0);
    load_ok(p, CV_DT_F64, 1, s0);
    write_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }\n", d, 8);
    load_ok(p, CV_DT_F64, 0, NULL);
    remove(p);
}

/* ------------------------------------------------------------------ bad files */

static void test_truncation_everywhere(void **state)
{
    (void)state;
    const char *src = cv_test_path("full.npy"), *p = cv_test_path("cut.npy");
    const int64_t shape[] = { 2, 3 };
    int32_t d[6] = { 1, 2, 3, 4, 5, 6 };
    cv_error err;
    assert_int_equal(cv_npy_save(src, CV_DT_I32, 2, shape, d, &err), CV_OK);
    size_t n;
    unsigned char *b = cv_test_read_all(src, &n);
    for (size_t len = 0; len < n; len++) {
        cv_test_write_bytes(p, b, len);
        expect_fail(p, CV_ERR_FORMAT, "truncated");
    }
    /* one byte too many is trailing data */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    cv_test_write_bytes(p, longer, n + 1);
    expect_fail(p, CV_ERR_FORMAT, "trailing");
    free(longer);
    free(b);
    remove(src);
    remove(p);
}

/* Every byte of the header replaced by a few values: any status, no crash. */
static void test_corrupt_bytes(void **state)
{
    (void)state;
    const char *src = cv_test_path("full.npy"), *p = cv_test_path("bad.npy");
    const int64_t shape[] = { 3, 2 };
    double d[6] = { 0 };
    cv_error err;
    assert_int_equal(cv_npy_save(src, CV_DT_F64, 2, shape, d, &err), CV_OK);
    size_t n;
    unsigned char *b = cv_test_read_all(src, &n);
    static const unsigned char vals[] = { 0, '\n', ' ', '(', ')', ',', '\'', '9', 0xff, 0x80 };
    for (size_t i = 0; i < n - sizeof d; i++) {
        unsigned char orig = b[i];
        for (size_t v = 0; v < sizeof vals; v++) {
            b[i] = vals[v];
            cv_test_write_bytes(p, b, n);
            cv_npy a;
            cv_status s = cv_npy_load(p, &a, &err);
            if (s) {
                assert_non_null(strstr(err.msg, p));
                assert_null(strchr(err.msg, '\n'));
            }
            cv_npy_free(&a);
        }
        b[i] = orig;
    }
    free(b);
    remove(src);
    remove(p);
}

static void bad_header(const char *header, size_t ndata, cv_status want, const char *needle)
{
    static unsigned char zeros[64];
    const char *p = cv_test_path("bad.npy");
    write_raw(p, 1, header, zeros, ndata);
    expect_fail(p, want, needle);
    remove(p);
}

static void test_bad_headers(void **state)
{
    (void)state;
    bad_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24, CV_ERR_UNSUPPORTED,
               "Fortran-order arrays are not supported (expected fortran_order: False)");
    bad_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", 8, CV_ERR_UNSUPPORTED, "big-endian");
    bad_header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", 16, CV_ERR_UNSUPPORTED,
               "unsupported dtype '<c8'");
    bad_header("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }\n", 8, CV_ERR_UNSUPPORTED, "dtype");
    bad_header("{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }\n", 8, CV_ERR_UNSUPPORTED, "dtype");
    bad_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8, CV_ERR_UNSUPPORTED,
               "structured");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n", 0,
               CV_ERR_FORMAT, "too large");
    bad_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1152921504606846976, 0, 8), }\n", 0,
               CV_ERR_FORMAT, "too large");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 0,
               CV_ERR_FORMAT, "too large");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n", 0, CV_ERR_FORMAT,
               "non-negative integer");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }\n", 12, CV_ERR_FORMAT, "not a tuple");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }\n", 4,
               CV_ERR_UNSUPPORTED, "dimensions");
    bad_header("{'descr': '<f4', 'shape': (1,), }\n", 4, CV_ERR_FORMAT, "fortran_order");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n", 4, CV_ERR_FORMAT,
               "unexpected header key 'x'");
    bad_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}\n", 4, CV_ERR_FORMAT,
               "twice");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x\n", 4, CV_ERR_FORMAT, "parse");
    bad_header("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }\n", 4, CV_ERR_FORMAT, "True or False");
    bad_header("{'descr': '<f4\n', 'fortran_order': False, 'shape': (1,), }\n", 4, CV_ERR_FORMAT, "parse");
    bad_header("['descr', '<f4']\n", 4, CV_ERR_FORMAT, "parse");
    bad_header("", 4, CV_ERR_FORMAT, "parse");
    /* bad magic and version */
    const char *p = cv_test_path("bad.npy");
    cv_test_write_bytes(p, "\x93NUMPX\x01\x00\x10\x00{}              ", 26);
    expect_fail(p, CV_ERR_FORMAT, "bad magic");
    cv_test_write_bytes(p, "\x93NUMPY\x04\x00\x10\x00{}              ", 26);
    expect_fail(p, CV_ERR_UNSUPPORTED, "version 4.0");
    /* header length beyond the file */
    cv_test_write_bytes(p, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    expect_fail(p, CV_ERR_FORMAT, "beyond the end");
    /* not a file */
    expect_fail(cv_test_tmpdir, CV_ERR_IO, "regular file");
    expect_fail(cv_test_path("does-not-exist.npy"), CV_ERR_IO, "cannot open");
    remove(p);
}

/* ------------------------------------------------------------------ writing failures */

static void test_unwritable(void **state)
{
    (void)state;
    const int64_t shape[] = { 2 };
    float d[2] = { 1, 2 };
    cv_error err = { "" };
    const char *p = cv_test_path("no-such-dir/x.npy");
    assert_int_equal(cv_npy_save(p, CV_DT_F32, 1, shape, d, &err), CV_ERR_IO);
    assert_non_null(strstr(err.msg, p));
    assert_null(strchr(err.msg, '\n'));
    /* invalid arguments: no file, not even a temporary one */
    const int64_t neg[] = { -2 }, big[] = { INT64_MAX, INT64_MAX };
    int64_t nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    p = cv_test_path("x.npy");
    assert_int_equal(cv_npy_save(p, CV_DT_F32, 1, neg, d, &err), CV_ERR_ARG);
    assert_int_equal(cv_npy_save(p, CV_DT_F32, 2, big, d, &err), CV_ERR_FORMAT);
    assert_int_equal(cv_npy_save(p, CV_DT_F32, 9, nine, d, &err), CV_ERR_ARG);
    assert_int_equal(cv_npy_save(p, (cv_dtype)99, 1, shape, d, &err), CV_ERR_ARG);
    assert_int_equal(cv_npy_save(p, CV_DT_F32, 1, shape, NULL, &err), CV_ERR_ARG);
    assert_int_equal(cv_test_count_files(), 0);
    /* a directory in the way of the rename: the temporary file is removed */
    char dir[8192];
    snprintf(dir, sizeof dir, "%s", cv_test_path("adir.npy"));
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(cv_npy_save(dir, CV_DT_F32, 1, shape, d, &err), CV_ERR_IO);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(cv_test_count_files(), 1);
    rmdir(dir);
}

/* ------------------------------------------------------------------ converting loaders */

static void test_convert(void **state)
{
    (void)state;
    const char *p = cv_test_path("c.npy");
    const int64_t shape[] = { 5 };
    cv_error err = { "" };
    cv_npy meta;
    float *f;
    int64_t *iv;
    uint16_t h[5];
    double dd[5];
    for (int i = 0; i < 5; i++) {
        h[i] = cv_f32_to_f16((float)i * 0.5f - 1.0f);
        dd[i] = (double)i * 0.5 - 1.0;
    }
    assert_int_equal(cv_npy_save(p, CV_DT_F16, 1, shape, h, &err), CV_OK);
    assert_int_equal(cv_npy_load_f32(p, &meta, &f, &err), CV_OK);
    assert_int_equal(meta.dtype, CV_DT_F16);
    assert_null(meta.data);
    for (int i = 0; i < 5; i++)
        assert_true(f[i] == (float)i * 0.5f - 1.0f);
    free(f);
    assert_int_equal(cv_npy_save(p, CV_DT_F64, 1, shape, dd, &err), CV_OK);
    assert_int_equal(cv_npy_load_f32(p, NULL, &f, &err), CV_OK);
    for (int i = 0; i < 5; i++)
        assert_true(f[i] == (float)i * 0.5f - 1.0f);
    free(f);
    /* integers of every width and bool to int64 */
    static const cv_dtype ints[] = { CV_DT_I8, CV_DT_U8, CV_DT_I32, CV_DT_I64, CV_DT_BOOL };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        unsigned char raw[40];
        fill(ints[k], raw, 5);
        assert_int_equal(cv_npy_save(p, ints[k], 1, shape, raw, &err), CV_OK);
        assert_int_equal(cv_npy_load_i64(p, &meta, &iv, &err), CV_OK);
        assert_int_equal(meta.count, 5);
        for (size_t i = 0; i < 5; i++) {
            int64_t want;
            switch (ints[k]) {
            case CV_DT_I8: want = (int8_t)raw[i]; break;
            case CV_DT_U8: want = raw[i]; break;
            case CV_DT_I32: { int32_t v; memcpy(&v, raw + 4 * i, 4); want = v; break; }
            case CV_DT_I64: memcpy(&want, raw + 8 * i, 8); break;
            default: want = raw[i]; break;
            }
            assert_int_equal(iv[i], want);
        }
        free(iv);
    }
    /* wrong kinds */
    assert_int_equal(cv_npy_load_f32(p, NULL, &f, &err), CV_ERR_FORMAT); /* p holds bools now */
    assert_null(f);
    assert_non_null(strstr(err.msg, "cannot be read as float32"));
    assert_int_equal(cv_npy_save(p, CV_DT_F32, 1, shape, dd, &err), CV_OK);
    assert_int_equal(cv_npy_load_i64(p, NULL, &iv, &err), CV_ERR_FORMAT);
    assert_null(iv);
    assert_non_null(strstr(err.msg, "cannot be read as int64"));
    remove(p);
}

/* ------------------------------------------------------------------ numpy interop */

/* The python side: checks the files we wrote (values regenerated from the
 * same recipe as fill(), and byte-identical to np.save of the same array),
 * then writes files of its own for us to read. */
static const char interop_py[] =
    "import sys, os, numpy as np\n"
    "d = sys.argv[1]\n"
    "def arr(code, shape):\n"
    "    n = int(np.prod(shape)) if len(shape) else 1\n"
    "    i = np.arange(n, dtype=np.int64)\n"
    "    if code == 'f4': a = (i.astype(np.float32) * np.float32(0.25) - np.float32(3)).astype('<f4')\n"
    "    elif code == 'f2': a = (i.astype(np.float32) * np.float32(0.5) - np.float32(2)).astype('<f2')\n"
    "    elif code == 'f8': a = (i / 3.0 - 1.0).astype('<f8')\n"
    "    elif code == 'i1': a = ((i * 37 % 256) - 128).astype('i1')\n"
    "    elif code == 'u1': a = (i * 53 % 256).astype('u1')\n"
    "    elif code == 'i4': a = (i * 100003 - 70000).astype('<i4')\n"
    "    elif code == 'i8': a = (i * 1000000007 - 5000000000).astype('<i8')\n"
    "    else: a = (i % 3 == 1)\n"
    "    return a.reshape(shape)\n"
    "bad = 0\n"
    "for code in ['f4', 'f2', 'f8', 'i1', 'u1', 'i4', 'i8', 'b1']:\n"
    "    for shape in [(), (7,), (2, 3), (2, 0, 3), (1, 2, 3, 2)]:\n"
    "        name = os.path.join(d, 'c_%s_%s.npy' % (code, '_'.join(map(str, shape)) or 's'))\n"
    "        want = arr(code, shape)\n"
    "        got = np.load(name)\n"
    "        if got.dtype != want.dtype or got.shape != want.shape or got.tobytes() != want.tobytes():\n"
    "            print('numpy reads %s wrong: %s %s' % (name, got.dtype, got.shape)); bad += 1\n"
    "        ref = os.path.join(d, 'ref.npy'); np.save(ref, want)\n"
    "        if open(ref, 'rb').read() != open(name, 'rb').read():\n"
    "            print('%s differs from np.save output' % name); bad += 1\n"
    "        os.remove(ref)\n"
    "        np.save(os.path.join(d, 'p_%s_%s.npy' % (code, '_'.join(map(str, shape)) or 's')), want)\n"
    "for v in [(2, 0), (3, 0)]:\n"
    "    with open(os.path.join(d, 'p_v%d.npy' % v[0]), 'wb') as f:\n"
    "        np.lib.format.write_array(f, arr('f4', (2, 3)), version=v)\n"
    "sys.exit(1 if bad else 0)\n";

static const char *find_python(void)
{
    static char cmd[4096];
    const char *env = getenv("PYTHON");
    const char *cands[] = { env && *env ? env : NULL, "/usr/bin/python3", "python3" };
    for (size_t i = 0; i < 3; i++) {
        if (!cands[i])
            continue;
        snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0)
            return cands[i];
    }
    return NULL;
}

static const char *dt_code(cv_dtype dt)
{
    return cv_dtype_descr(dt) + 1;
}

static void shape_name(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = 0;
    buf[0] = 's';
    buf[1] = '\0';
    for (int i = 0; i < ndim; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? "_%lld" : "%lld", (long long)shape[i]);
}

static void test_numpy_interop(void **state)
{
    (void)state;
    const char *py = find_python();
    if (!py) {
        print_message("SKIP: no python3 with numpy (set PYTHON): numpy interop not checked\n");
        skip();
    }
    static const int64_t shapes[][4] = { { 0 }, { 7 }, { 2, 3 }, { 2, 0, 3 }, { 1, 2, 3, 2 } };
    static const int ndims[] = { 0, 1, 2, 3, 4 };
    char name[256], sh[128];
    cv_error err = { "" };
    for (size_t d = 0; d < 8; d++) {
        for (size_t s = 0; s < 5; s++) {
            unsigned char data[12 * 8];
            fill(all_dtypes[d], data, 12);
            shape_name(sh, sizeof sh, ndims[s], shapes[s]);
            snprintf(name, sizeof name, "c_%s_%s.npy", dt_code(all_dtypes[d]), sh);
            assert_int_equal(cv_npy_save(cv_test_path(name), all_dtypes[d], ndims[s], shapes[s], data, &err), CV_OK);
        }
    }
    cv_test_write_bytes(cv_test_path("interop.py"), interop_py, strlen(interop_py));
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", py, cv_test_path("interop.py"), cv_test_tmpdir);
    assert_int_equal(system(cmd), 0);
    /* now read what numpy wrote: same bytes as ours */
    for (size_t d = 0; d < 8; d++) {
        for (size_t s = 0; s < 5; s++) {
            shape_name(sh, sizeof sh, ndims[s], shapes[s]);
            snprintf(name, sizeof name, "c_%s_%s.npy", dt_code(all_dtypes[d]), sh);
            cv_npy ours, theirs;
            assert_int_equal(cv_npy_load(cv_test_path(name), &ours, &err), CV_OK);
            snprintf(name, sizeof name, "p_%s_%s.npy", dt_code(all_dtypes[d]), sh);
            if (cv_npy_load(cv_test_path(name), &theirs, &err) != CV_OK)
                fail_msg("%s", err.msg);
            assert_int_equal(theirs.dtype, ours.dtype);
            assert_int_equal(theirs.ndim, ours.ndim);
            assert_int_equal(theirs.nbytes, ours.nbytes);
            assert_memory_equal(theirs.data, ours.data, ours.nbytes);
            cv_npy_free(&ours);
            cv_npy_free(&theirs);
        }
    }
    const int64_t s23[] = { 2, 3 };
    load_ok(cv_test_path("p_v2.npy"), CV_DT_F32, 2, s23);
    load_ok(cv_test_path("p_v3.npy"), CV_DT_F32, 2, s23);
    cv_test_empty_dir();
}

static int setup(void **state)
{
    cv_test_dir_name("test_npy");
    return cv_test_setup_dir(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_versions_and_variants),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_corrupt_bytes),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_numpy_interop),
    };
    return cmocka_run_group_tests(tests, setup, cv_test_teardown_dir);
}
