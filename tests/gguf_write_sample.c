/* gguf_write_sample.c — the C half of the GGUF interoperability test.
 *
 *   gguf_write_sample OUT.gguf [ALIGNMENT]          write the sample file
 *   gguf_write_sample --check IN.gguf [ALIGNMENT]   read a file with our reader
 *                                                   and check it is the sample
 *
 * The sample is a fixed recipe that tests/gguf_reader.py regenerates on its
 * own (it must stay in step with sample_* there): tests/gguf_interop.sh has
 * the independent Python reader check our file byte by byte, has Python
 * write the same recipe from the spec, and has us check Python's file. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv_types.h"
#include "gguf.h"

static const char *const tokens[] = { "<unk>", "\xe9\xab\x98\xe6\xb8\x85", "", "tab\there" };
#define N_TOKENS 4

/* Tensors of the sample, in file order (PyTorch shapes). */
static const struct {
    const char *name;
    uint32_t type;
    int ndim;
    int64_t shape[4];
} tensors[] = {
    { "t.f32", CV_TYPE_F32, 2, { 3, 5 } },
    { "t.f16", CV_TYPE_F16, 2, { 4, 7 } },
    { "t.bf16", CV_TYPE_BF16, 3, { 2, 3, 5 } },
    { "t.q8_0", CV_TYPE_Q8_0, 2, { 3, 64 } },
    { "t.q8_0.row", CV_TYPE_Q8_0, 1, { 96 } },
    { "t.empty", CV_TYPE_F32, 2, { 0, 3 } },
    { "t.scalar", CV_TYPE_F32, 0, { 0 } },
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

static size_t numel(size_t k)
{
    size_t n = 1;
    for (int i = 0; i < tensors[k].ndim; i++)
        n *= (size_t)tensors[k].shape[i];
    return n;
}

/* The bytes of tensor k (malloc'ed), *n their count.  Every value is exact
 * in its type, so no rounding rule is under test here. */
static unsigned char *tensor_bytes(size_t k, size_t *n)
{
    size_t ne = numel(k);
    unsigned char *b = malloc(ne * 4 + 64);
    if (!b)
        exit(2);
    for (size_t i = 0; i < ne; i++) {
        float f;
        uint16_t h;
        switch (k) {
        case 0: f = (float)i * 0.5f - 3.0f; memcpy(b + 4 * i, &f, 4); break;
        case 1: h = cv_f32_to_f16((float)i * 0.125f - 2.0f); memcpy(b + 2 * i, &h, 2); break;
        case 2: h = cv_f32_to_bf16((float)i * -1.5f + 4.0f); memcpy(b + 2 * i, &h, 2); break;
        case 6: f = 1.5f; memcpy(b, &f, 4); break;
        default: break;
        }
    }
    *n = tensors[k].type == CV_TYPE_F32 ? 4 * ne : 2 * ne;
    if (tensors[k].type == CV_TYPE_Q8_0) {
        size_t nb = ne / 32;
        for (size_t blk = 0; blk < nb; blk++) {
            cv_block_q8_0 q;
            q.d = cv_f32_to_f16(0.0625f * (float)(blk + 1 + (k == 4 ? 10 : 0)));
            for (int j = 0; j < 32; j++)
                q.qs[j] = (int8_t)((int)((blk * 32 + (size_t)j) * 7 % 255) - 127);
            memcpy(b + 34 * blk, &q, 34);
        }
        *n = 34 * nb;
    }
    return b;
}

#define TRY(call)                                                   \
    do {                                                            \
        if ((call) != CV_OK) {                                      \
            fprintf(stderr, "gguf_write_sample: %s\n", err.msg);    \
            return 1;                                               \
        }                                                           \
    } while (0)

static int set_metadata(cv_gguf_writer *w)
{
    cv_error err;
    uint8_t u8 = 7;
    int8_t i8 = -7;
    uint16_t u16 = 65535;
    int16_t i16 = -32768;
    int64_t i64 = INT64_MIN;
    double f64 = 2.718281828459045;
    float scores[10];
    int32_t ids[7];
    const uint8_t flags[3] = { 1, 0, 1 };
    for (int i = 0; i < 10; i++)
        scores[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 7; i++)
        ids[i] = i - 3;
    TRY(cv_gguf_writer_set_str(w, "general.architecture", "cogvideo", &err));
    TRY(cv_gguf_writer_set_str(w, "general.name", "interop sample", &err));
    TRY(cv_gguf_writer_set(w, "sample.u8", CV_GGUF_UINT8, &u8, &err));
    TRY(cv_gguf_writer_set(w, "sample.i8", CV_GGUF_INT8, &i8, &err));
    TRY(cv_gguf_writer_set(w, "sample.u16", CV_GGUF_UINT16, &u16, &err));
    TRY(cv_gguf_writer_set(w, "sample.i16", CV_GGUF_INT16, &i16, &err));
    TRY(cv_gguf_writer_set_u32(w, "sample.u32", UINT32_MAX, &err));
    TRY(cv_gguf_writer_set_i32(w, "sample.i32", INT32_MIN, &err));
    TRY(cv_gguf_writer_set_f32(w, "sample.f32", 0.1f, &err));
    TRY(cv_gguf_writer_set_bool(w, "sample.bool", true, &err));
    TRY(cv_gguf_writer_set_u64(w, "sample.u64", UINT64_MAX, &err));
    TRY(cv_gguf_writer_set(w, "sample.i64", CV_GGUF_INT64, &i64, &err));
    TRY(cv_gguf_writer_set(w, "sample.f64", CV_GGUF_FLOAT64, &f64, &err));
    TRY(cv_gguf_writer_set_str_array(w, "sample.tokens", tokens, NULL, N_TOKENS, &err));
    TRY(cv_gguf_writer_set_array(w, "sample.scores", CV_GGUF_FLOAT32, scores, 10, &err));
    TRY(cv_gguf_writer_set_array(w, "sample.ids", CV_GGUF_INT32, ids, 7, &err));
    TRY(cv_gguf_writer_set_array(w, "sample.flags", CV_GGUF_BOOL, flags, 3, &err));
    return 0;
}

static int write_sample(const char *path, uint32_t alignment)
{
    cv_error err;
    cv_gguf_writer *w;
    unsigned char *data[N_TENSORS];
    size_t n;
    int rc = 1;
    TRY(cv_gguf_writer_new(&w, path, alignment, &err));
    for (size_t k = 0; k < N_TENSORS; k++)
        data[k] = tensor_bytes(k, &n);
    if (set_metadata(w) == 0) {
        rc = 0;
        for (size_t k = 0; k < N_TENSORS && rc == 0; k++)
            if (cv_gguf_writer_add_tensor(w, tensors[k].name, tensors[k].type, tensors[k].ndim, tensors[k].shape,
                                          data[k], &err) != CV_OK)
                rc = 1;
        if (rc == 0 && cv_gguf_writer_write(w, &err) != CV_OK)
            rc = 1;
        if (rc)
            fprintf(stderr, "gguf_write_sample: %s\n", err.msg);
    }
    for (size_t k = 0; k < N_TENSORS; k++)
        free(data[k]);
    cv_gguf_writer_free(w);
    return rc;
}

/* ------------------------------------------------------------------ --check */

static int mismatch(const char *what)
{
    fprintf(stderr, "gguf_write_sample: mismatch: %s\n", what);
    return 1;
}

static int check_scalars(const cv_gguf *g)
{
    cv_error err;
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
    TRY(cv_gguf_get_str(g, "general.architecture", &s, NULL, &err));
    if (strcmp(s, "cogvideo") != 0)
        return mismatch("general.architecture");
    TRY(cv_gguf_get_str(g, "general.name", &s, NULL, &err));
    if (strcmp(s, "interop sample") != 0)
        return mismatch("general.name");
    TRY(cv_gguf_get_u8(g, "sample.u8", &u8, &err));
    TRY(cv_gguf_get_i8(g, "sample.i8", &i8, &err));
    TRY(cv_gguf_get_u16(g, "sample.u16", &u16, &err));
    TRY(cv_gguf_get_i16(g, "sample.i16", &i16, &err));
    TRY(cv_gguf_get_u32(g, "sample.u32", &u32, &err));
    TRY(cv_gguf_get_i32(g, "sample.i32", &i32, &err));
    TRY(cv_gguf_get_f32(g, "sample.f32", &f32, &err));
    TRY(cv_gguf_get_bool(g, "sample.bool", &b, &err));
    TRY(cv_gguf_get_u64(g, "sample.u64", &u64, &err));
    TRY(cv_gguf_get_i64(g, "sample.i64", &i64, &err));
    TRY(cv_gguf_get_f64(g, "sample.f64", &f64, &err));
    if (u8 != 7 || i8 != -7 || u16 != 65535 || i16 != -32768 || u32 != UINT32_MAX || i32 != INT32_MIN ||
        f32 != 0.1f || !b || u64 != UINT64_MAX || i64 != INT64_MIN || f64 != 2.718281828459045)
        return mismatch("scalar metadata");
    return 0;
}

static int check_arrays(const cv_gguf *g)
{
    cv_error err;
    const cv_gguf_kv *kv;
    TRY(cv_gguf_get_array(g, "sample.tokens", CV_GGUF_STRING, &kv, &err));
    if (kv->count != N_TOKENS)
        return mismatch("sample.tokens count");
    for (size_t i = 0; i < N_TOKENS; i++)
        if (kv->str[i].len != strlen(tokens[i]) || strcmp(kv->str[i].s, tokens[i]) != 0)
            return mismatch("sample.tokens");
    TRY(cv_gguf_get_array(g, "sample.scores", CV_GGUF_FLOAT32, &kv, &err));
    for (uint64_t i = 0; i < kv->count; i++) {
        float f;
        memcpy(&f, (const char *)kv->data + 4 * i, 4);
        if (kv->count != 10 || f != (float)i * 0.25f - 1.0f)
            return mismatch("sample.scores");
    }
    TRY(cv_gguf_get_array(g, "sample.ids", CV_GGUF_INT32, &kv, &err));
    for (uint64_t i = 0; i < kv->count; i++) {
        int32_t v;
        memcpy(&v, (const char *)kv->data + 4 * i, 4);
        if (kv->count != 7 || v != (int32_t)i - 3)
            return mismatch("sample.ids");
    }
    TRY(cv_gguf_get_array(g, "sample.flags", CV_GGUF_BOOL, &kv, &err));
    if (kv->count != 3 || memcmp(kv->data, "\1\0\1", 3) != 0)
        return mismatch("sample.flags");
    return 0;
}

static int check_tensors(const cv_gguf *g, uint32_t alignment)
{
    cv_error err;
    if (cv_gguf_tensor_count(g) != N_TENSORS || cv_gguf_alignment(g) != alignment)
        return mismatch("tensor count or alignment");
    for (size_t k = 0; k < N_TENSORS; k++) {
        const cv_gguf_tensor *t;
        size_t n;
        TRY(cv_gguf_expect_tensor(g, tensors[k].name, tensors[k].type, tensors[k].ndim, tensors[k].shape, &t,
                                  &err));
        unsigned char *want = tensor_bytes(k, &n);
        int bad = t != cv_gguf_tensor_at(g, k) || t->nbytes != n || (n && memcmp(t->data, want, n) != 0);
        free(want);
        if (bad)
            return mismatch(tensors[k].name);
    }
    return 0;
}

static int check_sample(const char *path, uint32_t alignment)
{
    cv_error err;
    cv_gguf *g;
    TRY(cv_gguf_open(path, &g, &err));
    int rc = check_scalars(g) || check_arrays(g) || check_tensors(g, alignment);
    if (cv_gguf_kv_count(g) != 17u + (alignment != 32))
        rc = mismatch("metadata count");
    cv_gguf_close(g);
    if (rc == 0)
        printf("gguf_write_sample: %s matches the sample\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    bool check = argc > 1 && strcmp(argv[1], "--check") == 0;
    int a = 1 + check;
    if (argc < a + 1 || argc > a + 2) {
        fprintf(stderr, "usage: gguf_write_sample [--check] FILE.gguf [ALIGNMENT]\n");
        return 2;
    }
    uint32_t alignment = argc > a + 1 ? (uint32_t)strtoul(argv[a + 1], NULL, 10) : 32;
    return check ? check_sample(argv[a], alignment) : write_sample(argv[a], alignment);
}
