/* gguf.c — GGUF reader (mmap, validates everything), writer, and info dump.
 *
 * The reader walks the file with a bounds-checked cursor: every length or
 * count read from the file is compared with the bytes that remain before it
 * is used to move, allocate or index, so a hostile file can only produce an
 * error, never a read outside the mapping or an allocation bigger than a
 * small multiple of the file size.  Strings are copied (NUL-terminated) into
 * an arena; numbers, arrays of numbers and tensor data stay in the mapping. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mapfile.h"
#include "outfile.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c assumes a little-endian host (GGUF values are read with memcpy)"
#endif

#define MAX_KEY_LEN 65535u
/* Smallest possible encodings, to bound counts by the bytes that remain:
 * key (8-byte length + 1 byte) + u32 type + 1-byte value; tensor info:
 * name (8 + 1) + u32 n_dims + u32 type + u64 offset. */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_INFO_BYTES 25u

/* ================================================================== types */

const char *cv_gguf_vtype_name(cv_gguf_vtype t)
{
    static const char *const names[] = { "uint8", "int8", "uint16", "int16", "uint32",
                                         "int32", "float32", "bool", "string", "array",
                                         "uint64", "int64", "float64" };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

size_t cv_gguf_vtype_size(cv_gguf_vtype t)
{
    static const unsigned char sizes[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    return (unsigned)t < sizeof sizes ? sizes[t] : 0;
}

/* Block sizes from ggml's ggml-common.h (static_asserts there). */
static const struct {
    uint32_t id;
    const char *name;
    uint32_t block, bytes;
} ggml_types[] = {
    { 0, "f32", 1, 4 },         { 1, "f16", 1, 2 },        { 2, "q4_0", 32, 18 },
    { 3, "q4_1", 32, 20 },      { 6, "q5_0", 32, 22 },     { 7, "q5_1", 32, 24 },
    { 8, "q8_0", 32, 34 },      { 9, "q8_1", 32, 36 },     { 10, "q2_K", 256, 84 },
    { 11, "q3_K", 256, 110 },   { 12, "q4_K", 256, 144 },  { 13, "q5_K", 256, 176 },
    { 14, "q6_K", 256, 210 },   { 15, "q8_K", 256, 292 },  { 16, "iq2_xxs", 256, 66 },
    { 17, "iq2_xs", 256, 74 },  { 18, "iq3_xxs", 256, 98 }, { 19, "iq1_s", 256, 50 },
    { 20, "iq4_nl", 32, 18 },   { 21, "iq3_s", 256, 110 }, { 22, "iq2_s", 256, 82 },
    { 23, "iq4_xs", 256, 136 }, { 24, "i8", 1, 1 },        { 25, "i16", 1, 2 },
    { 26, "i32", 1, 4 },        { 27, "i64", 1, 8 },       { 28, "f64", 1, 8 },
    { 29, "iq1_m", 256, 56 },   { 30, "bf16", 1, 2 },      { 34, "tq1_0", 256, 54 },
    { 35, "tq2_0", 256, 66 },   { 39, "mxfp4", 32, 17 },
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static int type_index(uint32_t t)
{
    for (size_t i = 0; i < N_GGML_TYPES; i++)
        if (ggml_types[i].id == t)
            return (int)i;
    return -1;
}

const char *cv_gguf_type_name(uint32_t t)
{
    int i = type_index(t);
    return i < 0 ? NULL : ggml_types[i].name;
}

bool cv_gguf_type_info(uint32_t t, uint32_t *block, uint32_t *block_bytes)
{
    int i = type_index(t);
    if (i < 0)
        return false;
    if (block)
        *block = ggml_types[i].block;
    if (block_bytes)
        *block_bytes = ggml_types[i].bytes;
    return true;
}

/* ================================================================== shared checks */

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* Keys: 1..65535 bytes of printable ASCII without spaces (the spec asks for
 * ASCII lower_snake_case segments; we enforce only what keeps messages and
 * lookups sane).  Returns NULL if fine, else what is wrong. */
static const char *bad_key(const unsigned char *s, uint64_t len)
{
    if (len == 0 || len > MAX_KEY_LEN)
        return "has a length outside 1..65535";
    for (uint64_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return "contains a byte that is not printable ASCII";
    return NULL;
}

/* Tensor names: 1..64 bytes (spec), no control characters (UTF-8 is fine). */
static const char *bad_name(const unsigned char *s, uint64_t len)
{
    if (len == 0 || len > CV_GGUF_MAX_NAME)
        return "has a length outside 1..64";
    for (uint64_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return "contains a control character";
    return NULL;
}

/* The first 40 bytes of s, non-printable bytes replaced, for messages. */
static const char *shown(char buf[48], const unsigned char *s, uint64_t len)
{
    size_t k = len < 40 ? (size_t)len : 40, j = 0;
    for (size_t i = 0; i < k; i++)
        buf[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if (k < len) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, ndim == 1 ? ",)" : ")");
}

/* Reverses GGUF ne (ne[0] fastest) into a PyTorch shape, or back. */
static void reverse_dims(int ndim, const int64_t *in, int64_t *out)
{
    for (int i = 0; i < ndim; i++)
        out[i] = in[ndim - 1 - i];
}

/* Element count and byte size of a tensor with GGUF-order dims ne[0..3]
 * (unused = 1).  `shape_status` is what a bad shape is: CV_ERR_FORMAT for a
 * file, CV_ERR_ARG for a writer call.  The product of the non-zero dims must
 * fit in int64 and size_t, so that strides derived from them never overflow. */
static cv_status tensor_size(const char *path, const char *name, uint32_t type, int ndim,
                             const int64_t ne[CV_GGUF_MAX_DIMS], cv_status shape_status,
                             size_t *nelements, size_t *nbytes, cv_error *err)
{
    int ti = type_index(type);
    char buf[160];
    int64_t shape[CV_GGUF_MAX_DIMS] = { 0 };
    reverse_dims(ndim, ne, shape);
    format_shape(buf, sizeof buf, ndim, shape);
    if (ti < 0)
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: tensor '%s' has unknown ggml type %" PRIu32 "%s",
                            path, name, type,
                            (type == 4 || type == 5 || (type >= 31 && type <= 33) || (type >= 36 && type <= 38))
                                ? " (removed from GGUF)" : "");
    uint64_t block = ggml_types[ti].block, bytes = ggml_types[ti].bytes;
    if (ne[0] % (int64_t)block != 0)
        return cv_error_set(err, shape_status,
                            "%s: tensor '%s' of type %s has shape %s: the last dimension is not a multiple of %" PRIu64,
                            path, name, ggml_types[ti].name, buf, block);
    uint64_t count = 1, size = bytes, d0 = (uint64_t)ne[0] / block;
    bool zero = false;
    for (int i = 0; i < CV_GGUF_MAX_DIMS; i++) {
        uint64_t d = (uint64_t)ne[i], dsz = i == 0 ? d0 : d;
        if (d == 0) {
            zero = true;
            continue;
        }
        if (__builtin_mul_overflow(count, d, &count) || __builtin_mul_overflow(size, dsz, &size) ||
            count > (uint64_t)INT64_MAX || size > (uint64_t)INT64_MAX || size > SIZE_MAX)
            return cv_error_set(err, shape_status, "%s: tensor '%s' has shape %s: its size overflows",
                                path, name, buf);
    }
    *nelements = zero ? 0 : (size_t)count;
    *nbytes = zero ? 0 : (size_t)size;
    return CV_OK;
}

/* ================================================================== reader: arena */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    unsigned char data[];
} arena_block;

#define ARENA_BLOCK 65536u

static void *arena_alloc(arena_block **head, size_t n)
{
    n = (n + 7) & ~(size_t)7; /* keep cv_gguf_str arrays 8-byte aligned */
    if (*head && (*head)->cap - (*head)->used >= n) {
        void *p = (*head)->data + (*head)->used;
        (*head)->used += n;
        return p;
    }
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    arena_block *b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->used = n;
    b->cap = cap;
    if (*head && cap == n) { /* a big one-off: keep the current block in front */
        b->next = (*head)->next;
        (*head)->next = b;
    } else {
        b->next = *head;
        *head = b;
    }
    return b->data;
}

static void arena_free(arena_block *b)
{
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
}

/* ================================================================== reader: cursor */

struct cv_gguf {
    char *path;
    const unsigned char *map;
    size_t size;
    uint32_t version, alignment;
    uint64_t data_offset;
    size_t n_kv, n_tensors;
    cv_gguf_kv *kv;
    cv_gguf_tensor *tensors;
    const cv_gguf_kv **kv_sorted;         /* by key, for lookup */
    const cv_gguf_tensor **t_sorted;      /* by name, for lookup */
    arena_block *arena;
};

typedef struct {
    const unsigned char *p;
    uint64_t size, pos;
    const char *path;
    cv_error *err;
    char ctx[192]; /* what is being read, for truncation messages */
} cursor;

static cv_status need(cursor *c, uint64_t n)
{
    if (c->size - c->pos >= n)
        return CV_OK;
    return cv_error_set(c->err, CV_ERR_FORMAT,
                        "%s: truncated %s (expected %" PRIu64 " bytes at offset %" PRIu64 ", file has %" PRIu64 ")",
                        c->path, c->ctx, n, c->pos, c->size);
}

static cv_status rd_u32(cursor *c, uint32_t *v)
{
    cv_status s = need(c, 4);
    if (!s) {
        memcpy(v, c->p + c->pos, 4);
        c->pos += 4;
    }
    return s;
}

static cv_status rd_u64(cursor *c, uint64_t *v)
{
    cv_status s = need(c, 8);
    if (!s) {
        memcpy(v, c->p + c->pos, 8);
        c->pos += 8;
    }
    return s;
}

/* A gguf_string: pointer into the mapping and length. */
static cv_status rd_string(cursor *c, const unsigned char **s, uint64_t *len)
{
    cv_status st = rd_u64(c, len);
    if (!st)
        st = need(c, *len);
    if (!st) {
        *s = c->p + c->pos;
        c->pos += *len;
    }
    return st;
}

static char *arena_strdup(cv_gguf *g, const unsigned char *s, uint64_t len, cv_error *err)
{
    char *d = arena_alloc(&g->arena, (size_t)len + 1);
    if (!d) {
        cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for a %" PRIu64 "-byte string", g->path, len);
        return NULL;
    }
    memcpy(d, s, (size_t)len);
    d[len] = '\0';
    return d;
}

/* ================================================================== reader: header + metadata */

static cv_status parse_header(cursor *c, cv_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
    char buf[48];
    snprintf(c->ctx, sizeof c->ctx, "header");
    cv_status s = need(c, 4);
    if (s)
        return s;
    if (memcmp(c->p, "GGUF", 4) != 0)
        return cv_error_set(c->err, CV_ERR_FORMAT, "%s: not a GGUF file (magic '%s', expected 'GGUF')",
                            c->path, shown(buf, c->p, 4));
    c->pos = 4;
    uint32_t v = 0;
    if ((s = rd_u32(c, &v)) != CV_OK)
        return s;
    g->version = v;
    if (v != 0 && (v & 0xffffu) == 0)
        return cv_error_set(c->err, CV_ERR_UNSUPPORTED,
                            "%s: big-endian GGUF files are not supported (version field reads 0x%08" PRIx32 ")",
                            c->path, v);
    if (v != 2 && v != 3)
        return cv_error_set(c->err, CV_ERR_UNSUPPORTED, "%s: GGUF version %" PRIu32 " is not supported (expected 3%s)",
                            c->path, v, v == 1 ? "; version 1 files must be converted" : "");
    if ((s = rd_u64(c, n_tensors)) != CV_OK || (s = rd_u64(c, n_kv)) != CV_OK)
        return s;
    uint64_t left = c->size - c->pos;
    if (*n_kv > left / MIN_KV_BYTES || *n_tensors > (left - *n_kv * MIN_KV_BYTES) / MIN_TENSOR_INFO_BYTES)
        return cv_error_set(c->err, CV_ERR_FORMAT,
                            "%s: header claims %" PRIu64 " metadata keys and %" PRIu64 " tensors, more than the remaining %" PRIu64 " bytes can hold",
                            c->path, *n_kv, *n_tensors, left);
    return CV_OK;
}

/* count elements of type t (not array) for kv, at the cursor. */
static cv_status parse_elems(cursor *c, cv_gguf *g, cv_gguf_kv *kv, cv_gguf_vtype t, uint64_t count)
{
    uint64_t left = c->size - c->pos;
    size_t esz = cv_gguf_vtype_size(t);
    if (count > left / (t == CV_GGUF_STRING ? 8 : esz))
        return cv_error_set(c->err, CV_ERR_FORMAT,
                            "%s: metadata key '%s' claims %" PRIu64 " elements of type %s, more than the remaining %" PRIu64 " bytes can hold",
                            c->path, kv->key, count, cv_gguf_vtype_name(t), left);
    kv->elem_type = t;
    kv->count = count;
    if (t != CV_GGUF_STRING) {
        kv->data = c->p + c->pos;
        c->pos += count * esz;
        for (uint64_t i = 0; t == CV_GGUF_BOOL && i < count; i++)
            if (((const unsigned char *)kv->data)[i] > 1)
                return cv_error_set(c->err, CV_ERR_FORMAT,
                                    "%s: metadata key '%s' has an invalid bool value %u (expected 0 or 1)",
                                    c->path, kv->key, ((const unsigned char *)kv->data)[i]);
        return CV_OK;
    }
    cv_gguf_str *strs = arena_alloc(&g->arena, (size_t)count * sizeof *strs + 1);
    if (!strs)
        return cv_error_set(c->err, CV_ERR_NOMEM, "%s: out of memory for %" PRIu64 " strings", c->path, count);
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *s;
        cv_status st = rd_string(c, &s, &strs[i].len);
        if (!st && !(strs[i].s = arena_strdup(g, s, strs[i].len, c->err)))
            st = CV_ERR_NOMEM;
        if (st)
            return st;
    }
    kv->str = strs;
    return CV_OK;
}

static cv_status parse_kv(cursor *c, cv_gguf *g, size_t i, cv_gguf_kv *kv)
{
    const unsigned char *key;
    uint64_t len;
    char buf[48];
    snprintf(c->ctx, sizeof c->ctx, "metadata key %zu", i);
    cv_status s = rd_string(c, &key, &len);
    if (s)
        return s;
    const char *bad = bad_key(key, len);
    if (bad)
        return cv_error_set(c->err, CV_ERR_FORMAT, "%s: metadata key %zu ('%s') %s", c->path, i,
                            shown(buf, key, len), bad);
    if (!(kv->key = arena_strdup(g, key, len, c->err)))
        return CV_ERR_NOMEM;
    snprintf(c->ctx, sizeof c->ctx, "value of metadata key '%.100s'", kv->key);
    uint32_t t, et;
    uint64_t count = 1;
    if ((s = rd_u32(c, &t)) != CV_OK)
        return s;
    kv->type = (cv_gguf_vtype)t;
    et = t;
    if (t == CV_GGUF_ARRAY && ((s = rd_u32(c, &et)) != CV_OK || (s = rd_u64(c, &count)) != CV_OK))
        return s;
    if (t > CV_GGUF_FLOAT64 || et > CV_GGUF_FLOAT64)
        return cv_error_set(c->err, CV_ERR_FORMAT, "%s: metadata key '%s' has unknown value type %" PRIu32,
                            c->path, kv->key, et);
    if (t == CV_GGUF_ARRAY && et == CV_GGUF_ARRAY)
        return cv_error_set(c->err, CV_ERR_UNSUPPORTED,
                            "%s: metadata key '%s' is an array of arrays (nested arrays are not supported)",
                            c->path, kv->key);
    return parse_elems(c, g, kv, (cv_gguf_vtype)et, count);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(const cv_gguf_kv *const *)a)->key, (*(const cv_gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const cv_gguf_tensor *const *)a)->name, (*(const cv_gguf_tensor *const *)b)->name);
}

static cv_status parse_metadata(cursor *c, cv_gguf *g)
{
    for (size_t i = 0; i < g->n_kv; i++) {
        cv_status s = parse_kv(c, g, i, &g->kv[i]);
        if (s)
            return s;
        g->kv_sorted[i] = &g->kv[i];
    }
    if (g->n_kv)
        qsort(g->kv_sorted, g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (size_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key) == 0)
            return cv_error_set(c->err, CV_ERR_FORMAT, "%s: duplicate metadata key '%s'", c->path,
                                g->kv_sorted[i]->key);
    g->alignment = CV_GGUF_DEFAULT_ALIGNMENT;
    const cv_gguf_kv *a = cv_gguf_find_kv(g, "general.alignment");
    if (!a)
        return CV_OK;
    if (a->type != CV_GGUF_UINT32)
        return cv_error_set(c->err, CV_ERR_FORMAT, "%s: metadata key 'general.alignment' has type %s (expected uint32)",
                            c->path, cv_gguf_vtype_name(a->type));
    memcpy(&g->alignment, a->data, 4);
    if (g->alignment == 0 || (g->alignment & (g->alignment - 1)) != 0)
        return cv_error_set(c->err, CV_ERR_FORMAT,
                            "%s: general.alignment is %" PRIu32 " (expected a power of two)", c->path, g->alignment);
    return CV_OK;
}

/* ================================================================== reader: tensors */

static cv_status parse_tensor_info(cursor *c, cv_gguf *g, size_t i, cv_gguf_tensor *t)
{
    const unsigned char *name;
    uint64_t len;
    char buf[48];
    snprintf(c->ctx, sizeof c->ctx, "tensor info %zu", i);
    cv_status s = rd_string(c, &name, &len);
    if (s)
        return s;
    const char *bad = bad_name(name, len);
    if (bad)
        return cv_error_set(c->err, CV_ERR_FORMAT, "%s: name of tensor %zu ('%s') %s", c->path, i,
                            shown(buf, name, len), bad);
    if (!(t->name = arena_strdup(g, name, len, c->err)))
        return CV_ERR_NOMEM;
    snprintf(c->ctx, sizeof c->ctx, "tensor info %zu ('%s')", i, t->name);
    uint32_t ndim;
    if ((s = rd_u32(c, &ndim)) != CV_OK)
        return s;
    if (ndim > CV_GGUF_MAX_DIMS)
        return cv_error_set(c->err, CV_ERR_FORMAT, "%s: tensor '%s' has %" PRIu32 " dimensions (expected at most 4)",
                            c->path, t->name, ndim);
    t->ndim = (int)ndim;
    for (int d = 0; d < CV_GGUF_MAX_DIMS; d++) {
        uint64_t v = 1;
        if (d < t->ndim && (s = rd_u64(c, &v)) != CV_OK)
            return s;
        if (v > (uint64_t)INT64_MAX)
            return cv_error_set(c->err, CV_ERR_FORMAT, "%s: tensor '%s' has dimension %" PRIu64 " (too large)",
                                c->path, t->name, v);
        t->ne[d] = (int64_t)v;
    }
    if ((s = rd_u32(c, &t->type)) != CV_OK || (s = rd_u64(c, &t->offset)) != CV_OK)
        return s;
    s = tensor_size(c->path, t->name, t->type, t->ndim, t->ne, CV_ERR_FORMAT, &t->nelements, &t->nbytes, c->err);
    if (!s && t->offset % g->alignment != 0)
        s = cv_error_set(c->err, CV_ERR_FORMAT,
                         "%s: tensor '%s' has data offset %" PRIu64 " (expected a multiple of the alignment %" PRIu32 ")",
                         c->path, t->name, t->offset, g->alignment);
    return s;
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const cv_gguf_tensor *x = *(const cv_gguf_tensor *const *)a, *y = *(const cv_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Data in bounds, no two tensors sharing bytes (zero-size tensors excepted). */
static cv_status place_tensors(cv_gguf *g, cv_error *err)
{
    uint64_t room = g->size - g->data_offset;
    for (size_t i = 0; i < g->n_tensors; i++) {
        cv_gguf_tensor *t = &g->tensors[i];
        if (t->offset > room || t->nbytes > room - t->offset)
            return cv_error_set(err, CV_ERR_FORMAT,
                                "%s: data of tensor '%s' (%zu bytes at offset %" PRIu64 " of the data section) lies beyond the end of the file (data section has %" PRIu64 " bytes)",
                                g->path, t->name, t->nbytes, t->offset, room);
        t->file_offset = g->data_offset + t->offset;
        t->data = g->map + t->file_offset;
    }
    const cv_gguf_tensor **by_off = malloc(g->n_tensors * sizeof *by_off + 1);
    if (!by_off)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", g->path);
    size_t n = 0;
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].nbytes)
            by_off[n++] = &g->tensors[i];
    if (n)
        qsort(by_off, n, sizeof *by_off, cmp_tensor_offset);
    cv_status s = CV_OK;
    for (size_t i = 1; i < n && !s; i++)
        if (by_off[i - 1]->offset + by_off[i - 1]->nbytes > by_off[i]->offset)
            s = cv_error_set(err, CV_ERR_FORMAT, "%s: data of tensors '%s' and '%s' overlap", g->path,
                             by_off[i - 1]->name, by_off[i]->name);
    free(by_off);
    return s;
}

static cv_status parse_tensors(cursor *c, cv_gguf *g)
{
    for (size_t i = 0; i < g->n_tensors; i++) {
        cv_status s = parse_tensor_info(c, g, i, &g->tensors[i]);
        if (s)
            return s;
        g->t_sorted[i] = &g->tensors[i];
    }
    if (g->n_tensors)
        qsort(g->t_sorted, g->n_tensors, sizeof *g->t_sorted, cmp_tensor_name);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (strcmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name) == 0)
            return cv_error_set(c->err, CV_ERR_FORMAT, "%s: duplicate tensor name '%s'", c->path,
                                g->t_sorted[i]->name);
    g->data_offset = align_up(c->pos, g->alignment);
    if (g->n_tensors && g->data_offset > g->size)
        return cv_error_set(c->err, CV_ERR_FORMAT,
                            "%s: truncated padding before the data section (expected data at offset %" PRIu64 ", file has %" PRIu64 ")",
                            c->path, g->data_offset, (uint64_t)g->size);
    return place_tensors(g, c->err);
}

/* ================================================================== reader: open / close */

static cv_status parse_file(cv_gguf *g, cv_error *err)
{
    cursor c = { g->map, g->size, 0, g->path, err, "" };
    uint64_t n_tensors = 0, n_kv = 0;
    cv_status s = parse_header(&c, g, &n_tensors, &n_kv);
    if (s)
        return s;
    /* both counts are bounded by the file size (parse_header), so these fit */
    g->n_kv = (size_t)n_kv;
    g->n_tensors = (size_t)n_tensors;
    g->kv = calloc(g->n_kv + 1, sizeof *g->kv);
    g->kv_sorted = calloc(g->n_kv + 1, sizeof *g->kv_sorted);
    g->tensors = calloc(g->n_tensors + 1, sizeof *g->tensors);
    g->t_sorted = calloc(g->n_tensors + 1, sizeof *g->t_sorted);
    if (!g->kv || !g->kv_sorted || !g->tensors || !g->t_sorted)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for %zu keys and %zu tensors", g->path,
                            g->n_kv, g->n_tensors);
    s = parse_metadata(&c, g);
    return s ? s : parse_tensors(&c, g);
}

static cv_status map_file(cv_gguf *g, cv_error *err)
{
    cv_status s = cv_map_file(g->path, &g->map, &g->size, err);
    if (!s && g->size == 0) /* anything else non-empty goes to the parser */
        s = cv_error_set(err, CV_ERR_FORMAT, "%s: truncated header (expected at least 24 bytes, file has 0)",
                         g->path);
    return s;
}

cv_status cv_gguf_open(const char *path, cv_gguf **out, cv_error *err)
{
    *out = NULL;
    cv_gguf *g = calloc(1, sizeof *g);
    size_t n = strlen(path);
    if (g)
        g->path = malloc(n + 1);
    if (!g || !g->path) {
        free(g);
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(g->path, path, n + 1);
    cv_status s = map_file(g, err);
    if (!s)
        s = parse_file(g, err);
    if (s) {
        cv_gguf_close(g);
        return s;
    }
    *out = g;
    return CV_OK;
}

void cv_gguf_close(cv_gguf *g)
{
    if (!g)
        return;
    if (g->map)
        cv_unmap_file(g->map, g->size);
    arena_free(g->arena);
    free(g->kv);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    free(g->path);
    free(g);
}

/* ================================================================== reader: accessors */

const char *cv_gguf_path(const cv_gguf *g) { return g->path; }
uint32_t cv_gguf_version(const cv_gguf *g) { return g->version; }
uint32_t cv_gguf_alignment(const cv_gguf *g) { return g->alignment; }
uint64_t cv_gguf_data_offset(const cv_gguf *g) { return g->data_offset; }
uint64_t cv_gguf_file_size(const cv_gguf *g) { return g->size; }
size_t cv_gguf_kv_count(const cv_gguf *g) { return g->n_kv; }
size_t cv_gguf_tensor_count(const cv_gguf *g) { return g->n_tensors; }

const cv_gguf_kv *cv_gguf_kv_at(const cv_gguf *g, size_t i)
{
    return i < g->n_kv ? &g->kv[i] : NULL;
}

const cv_gguf_tensor *cv_gguf_tensor_at(const cv_gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

static int cmp_key_kv(const void *key, const void *elem)
{
    return strcmp(key, (*(const cv_gguf_kv *const *)elem)->key);
}

static int cmp_name_tensor(const void *name, const void *elem)
{
    return strcmp(name, (*(const cv_gguf_tensor *const *)elem)->name);
}

const cv_gguf_kv *cv_gguf_find_kv(const cv_gguf *g, const char *key)
{
    if (!g->n_kv)
        return NULL;
    const cv_gguf_kv *const *p = bsearch(key, g->kv_sorted, g->n_kv, sizeof *g->kv_sorted, cmp_key_kv);
    return p ? *p : NULL;
}

const cv_gguf_tensor *cv_gguf_find_tensor(const cv_gguf *g, const char *name)
{
    if (!g->n_tensors)
        return NULL;
    const cv_gguf_tensor *const *p =
        bsearch(name, g->t_sorted, g->n_tensors, sizeof *g->t_sorted, cmp_name_tensor);
    return p ? *p : NULL;
}

/* "string", "uint32", or "array[float32]". */
static const char *kv_type_str(char buf[32], const cv_gguf_kv *kv)
{
    if (kv->type != CV_GGUF_ARRAY)
        return cv_gguf_vtype_name(kv->type);
    snprintf(buf, 32, "array[%s]", cv_gguf_vtype_name(kv->elem_type));
    return buf;
}

/* The kv of `key` if it has type `t` (and, for arrays, element type `et`). */
static cv_status find_typed(const cv_gguf *g, const char *key, cv_gguf_vtype t, cv_gguf_vtype et,
                            const cv_gguf_kv **out, cv_error *err)
{
    char want[32], have[32];
    cv_gguf_kv model = { key, t, et, 1, NULL, NULL };
    const cv_gguf_kv *kv = cv_gguf_find_kv(g, key);
    if (!kv)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing metadata key '%s' (expected %s)", g->path,
                            key, kv_type_str(want, &model));
    if (kv->type != t || kv->elem_type != et)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' has type %s (expected %s)", g->path,
                            key, kv_type_str(have, kv), kv_type_str(want, &model));
    *out = kv;
    return CV_OK;
}

static cv_status get_scalar(const cv_gguf *g, const char *key, cv_gguf_vtype t, void *v, cv_error *err)
{
    const cv_gguf_kv *kv;
    cv_status s = find_typed(g, key, t, t, &kv, err);
    if (!s)
        memcpy(v, kv->data, cv_gguf_vtype_size(t));
    return s;
}

/* T matches vt by construction, so get_scalar copies exactly sizeof(T). */
#define GETTER(fn, T, vt)                                                \
    cv_status fn(const cv_gguf *g, const char *key, T *v, cv_error *err) \
    {                                                                    \
        return get_scalar(g, key, vt, v, err);                           \
    }
GETTER(cv_gguf_get_u8, uint8_t, CV_GGUF_UINT8)
GETTER(cv_gguf_get_i8, int8_t, CV_GGUF_INT8)
GETTER(cv_gguf_get_u16, uint16_t, CV_GGUF_UINT16)
GETTER(cv_gguf_get_i16, int16_t, CV_GGUF_INT16)
GETTER(cv_gguf_get_u32, uint32_t, CV_GGUF_UINT32)
GETTER(cv_gguf_get_i32, int32_t, CV_GGUF_INT32)
GETTER(cv_gguf_get_u64, uint64_t, CV_GGUF_UINT64)
GETTER(cv_gguf_get_i64, int64_t, CV_GGUF_INT64)
GETTER(cv_gguf_get_f32, float, CV_GGUF_FLOAT32)
GETTER(cv_gguf_get_f64, double, CV_GGUF_FLOAT64)
#undef GETTER

cv_status cv_gguf_get_bool(const cv_gguf *g, const char *key, bool *v, cv_error *err)
{
    uint8_t b = 0;
    cv_status s = get_scalar(g, key, CV_GGUF_BOOL, &b, err);
    if (!s)
        *v = b != 0;
    return s;
}

cv_status cv_gguf_get_str(const cv_gguf *g, const char *key, const char **str, size_t *len, cv_error *err)
{
    const cv_gguf_kv *kv;
    cv_status s = find_typed(g, key, CV_GGUF_STRING, CV_GGUF_STRING, &kv, err);
    if (!s) {
        *str = kv->str[0].s;
        if (len)
            *len = (size_t)kv->str[0].len;
    }
    return s;
}

/* Value of a scalar integer kv as a signed 128-bit-free pair: *neg set for
 * negative values.  Returns false if kv is not a scalar integer. */
static bool int_value(const cv_gguf_kv *kv, uint64_t *mag, bool *neg)
{
    const unsigned char *p = kv->data;
    int64_t sv = 0;
    *neg = false;
    switch (kv->type) {
    case CV_GGUF_UINT8: *mag = p[0]; return true;
    case CV_GGUF_UINT16: { uint16_t u; memcpy(&u, p, 2); *mag = u; return true; }
    case CV_GGUF_UINT32: { uint32_t u; memcpy(&u, p, 4); *mag = u; return true; }
    case CV_GGUF_UINT64: memcpy(mag, p, 8); return true;
    case CV_GGUF_INT8: sv = (int8_t)p[0]; break;
    case CV_GGUF_INT16: { int16_t i; memcpy(&i, p, 2); sv = i; break; }
    case CV_GGUF_INT32: { int32_t i; memcpy(&i, p, 4); sv = i; break; }
    case CV_GGUF_INT64: memcpy(&sv, p, 8); break;
    default: return false;
    }
    *neg = sv < 0;
    *mag = (uint64_t)sv;
    return true;
}

cv_status cv_gguf_get_uint(const cv_gguf *g, const char *key, uint64_t *v, cv_error *err)
{
    char have[32];
    const cv_gguf_kv *kv = cv_gguf_find_kv(g, key);
    bool neg;
    if (!kv)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing metadata key '%s' (expected an unsigned integer)",
                            g->path, key);
    if (!int_value(kv, v, &neg))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' has type %s (expected an unsigned integer)",
                            g->path, key, kv_type_str(have, kv));
    if (neg)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is %" PRId64 " (expected a value >= 0)",
                            g->path, key, (int64_t)*v);
    return CV_OK;
}

cv_status cv_gguf_get_array(const cv_gguf *g, const char *key, cv_gguf_vtype elem, const cv_gguf_kv **kv,
                            cv_error *err)
{
    return find_typed(g, key, CV_GGUF_ARRAY, elem, kv, err);
}

cv_status cv_gguf_get_tensor(const cv_gguf *g, const char *name, const cv_gguf_tensor **t, cv_error *err)
{
    *t = cv_gguf_find_tensor(g, name);
    if (!*t)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing tensor '%s'", g->path, name);
    return CV_OK;
}

int cv_gguf_tensor_shape(const cv_gguf_tensor *t, int64_t shape[CV_GGUF_MAX_DIMS])
{
    reverse_dims(t->ndim, t->ne, shape);
    return t->ndim;
}

static bool same_shape(const cv_gguf_tensor *t, int ndim, const int64_t *shape)
{
    int64_t have[CV_GGUF_MAX_DIMS];
    if (t->ndim != ndim)
        return false;
    cv_gguf_tensor_shape(t, have);
    for (int i = 0; i < ndim; i++)
        if (have[i] != shape[i])
            return false;
    return true;
}

cv_status cv_gguf_expect_tensor(const cv_gguf *g, const char *name, uint32_t type, int ndim,
                                const int64_t *shape, const cv_gguf_tensor **t, cv_error *err)
{
    cv_status s = cv_gguf_get_tensor(g, name, t, err);
    if (s)
        return s;
    if (type != CV_GGUF_ANY_TYPE && (*t)->type != type) {
        const char *want = cv_gguf_type_name(type);
        return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%s' has type %s (expected %s)", g->path, name,
                            cv_gguf_type_name((*t)->type), want ? want : "an unknown type");
    }
    if (ndim < 0 || ndim > CV_GGUF_MAX_DIMS || !same_shape(*t, ndim, shape)) {
        char have[160], want[160];
        int64_t hs[CV_GGUF_MAX_DIMS] = { 0 };
        format_shape(have, sizeof have, cv_gguf_tensor_shape(*t, hs), hs);
        format_shape(want, sizeof want, ndim < 0 || ndim > CV_GGUF_MAX_DIMS ? 0 : ndim, shape);
        return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%s' has shape %s (expected %s)", g->path, name,
                            have, want);
    }
    return CV_OK;
}

/* ================================================================== info */

/* A string value, quoted: control bytes, quotes and backslashes escaped,
 * UTF-8 passed through, cut after about `max` bytes at a character boundary. */
static void print_str(FILE *out, const cv_gguf_str *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s->s;
    size_t n = s->len < max ? (size_t)s->len : max;
    while (n < s->len && n > 0 && (p[n] & 0xc0) == 0x80)
        n--;
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\')
            fprintf(out, "\\%c", p[i]);
        else if (p[i] < 0x20 || p[i] == 0x7f)
            fprintf(out, "\\x%02x", p[i]);
        else
            fputc(p[i], out);
    }
    fputs(n < s->len ? "\"..." : "\"", out);
}

/* The shortest %g form (from `lo` to `hi` digits) that reads back as the
 * same value: 1e-05, not 9.99999975e-06.  f32 values come in as double,
 * exactly, and must round-trip through float. */
static void print_float(FILE *out, double v, int lo, int hi)
{
    char buf[64];
    for (int p = lo; p <= hi; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        double back = strtod(buf, NULL);
        if (hi == 9 ? (float)back == (float)v : back == v)
            break;
    }
    fputs(buf, out);
}

static void print_number(FILE *out, cv_gguf_vtype t, const unsigned char *p)
{
    union { uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; uint64_t u64; int64_t i64; float f; double d; } v;
    memcpy(&v, p, cv_gguf_vtype_size(t));
    switch (t) {
    case CV_GGUF_UINT8: fprintf(out, "%u", p[0]); break;
    case CV_GGUF_INT8: fprintf(out, "%d", (int8_t)p[0]); break;
    case CV_GGUF_UINT16: fprintf(out, "%u", v.u16); break;
    case CV_GGUF_INT16: fprintf(out, "%d", v.i16); break;
    case CV_GGUF_UINT32: fprintf(out, "%" PRIu32, v.u32); break;
    case CV_GGUF_INT32: fprintf(out, "%" PRId32, v.i32); break;
    case CV_GGUF_UINT64: fprintf(out, "%" PRIu64, v.u64); break;
    case CV_GGUF_INT64: fprintf(out, "%" PRId64, v.i64); break;
    case CV_GGUF_FLOAT32: print_float(out, v.f, 6, 9); break;
    case CV_GGUF_FLOAT64: print_float(out, v.d, 15, 17); break;
    case CV_GGUF_BOOL: fputs(p[0] ? "true" : "false", out); break;
    default: fputs("?", out); break;
    }
}

static void print_kv(FILE *out, const cv_gguf_kv *kv, int keyw)
{
    char type[48];
    if (kv->type == CV_GGUF_ARRAY)
        snprintf(type, sizeof type, "%s[%" PRIu64 "]", cv_gguf_vtype_name(kv->elem_type), kv->count);
    else
        snprintf(type, sizeof type, "%s", cv_gguf_vtype_name(kv->type));
    fprintf(out, "  %-*s  %-16s ", keyw, kv->key, type);
    bool arr = kv->type == CV_GGUF_ARRAY, str = kv->elem_type == CV_GGUF_STRING;
    uint64_t shown_n = arr ? (kv->count < (str ? 5u : 8u) ? kv->count : (str ? 5u : 8u)) : 1;
    if (arr)
        fputc('[', out);
    for (uint64_t i = 0; i < shown_n; i++) {
        if (i)
            fputs(", ", out);
        if (str)
            print_str(out, &kv->str[i], arr ? 40 : 200);
        else
            print_number(out, kv->elem_type,
                         (const unsigned char *)kv->data + i * cv_gguf_vtype_size(kv->elem_type));
    }
    if (arr)
        fputs(shown_n < kv->count ? ", ...]" : "]", out);
    fputc('\n', out);
}

static void print_tensors(FILE *out, const cv_gguf *g)
{
    int namew = 4;
    uint64_t total = 0, elems = 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        int l = (int)strlen(g->tensors[i].name);
        namew = l > namew ? l : namew;
    }
    fprintf(out, "tensors:\n  %-*s  %-7s %-24s %14s %14s\n", namew, "name", "type", "shape", "offset", "bytes");
    for (size_t i = 0; i < g->n_tensors; i++) {
        const cv_gguf_tensor *t = &g->tensors[i];
        char shape_s[160];
        int64_t shape[CV_GGUF_MAX_DIMS];
        format_shape(shape_s, sizeof shape_s, cv_gguf_tensor_shape(t, shape), shape);
        fprintf(out, "  %-*s  %-7s %-24s %14" PRIu64 " %14zu\n", namew, t->name, cv_gguf_type_name(t->type),
                shape_s, t->offset, t->nbytes);
        total += t->nbytes;
        elems += t->nelements;
    }
    fprintf(out, "total: %zu tensors, %" PRIu64 " elements, %" PRIu64 " bytes of tensor data\n", g->n_tensors,
            elems, total);
}

cv_status cv_gguf_print_info(const char *path, FILE *out, cv_error *err)
{
    cv_gguf *g;
    cv_status s = cv_gguf_open(path, &g, err);
    if (s)
        return s;
    fprintf(out, "%s: GGUF version %" PRIu32 ", %zu metadata keys, %zu tensors, alignment %" PRIu32
                 ", data section at offset %" PRIu64 ", file size %zu bytes\n",
            path, g->version, g->n_kv, g->n_tensors, g->alignment, g->data_offset, g->size);
    int keyw = 3;
    for (size_t i = 0; i < g->n_kv; i++) {
        size_t l = strlen(g->kv[i].key);
        keyw = l > (size_t)keyw ? (l > 60 ? 60 : (int)l) : keyw;
    }
    fprintf(out, "metadata:\n");
    for (size_t i = 0; i < g->n_kv; i++)
        print_kv(out, &g->kv[i], keyw);
    print_tensors(out, g);
    cv_gguf_close(g);
    if (fflush(out) != 0 || ferror(out))
        return cv_error_set(err, CV_ERR_IO, "%s: cannot write the info: %s", path, strerror(errno));
    return CV_OK;
}

/* ================================================================== writer */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} bytebuf;

/* Room for `more` bytes; false (buffer unchanged) on overflow or no memory. */
static bool buf_reserve(bytebuf *b, size_t more)
{
    if (b->cap - b->n >= more)
        return true;
    size_t need;
    if (__builtin_add_overflow(b->n, more, &need))
        return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Appends after a successful buf_reserve. */
static void buf_put(bytebuf *b, const void *data, size_t n)
{
    if (n)
        memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void buf_u32(bytebuf *b, uint32_t v) { buf_put(b, &v, 4); }
static void buf_u64(bytebuf *b, uint64_t v) { buf_put(b, &v, 8); }

typedef struct {
    char *name;
    uint32_t type;
    int ndim;
    int64_t ne[CV_GGUF_MAX_DIMS];
    size_t nbytes;
    uint64_t offset;
    const void *data;
} wtensor;

enum wstate { W_COLLECT, W_WRITING, W_DONE, W_FAILED };

struct cv_gguf_writer {
    char *path;
    uint32_t alignment;
    bytebuf kv;            /* serialized metadata pairs, in order */
    size_t n_kv;
    char **keys;           /* for duplicate checks (linear: files have few keys) */
    size_t keys_cap;
    wtensor *t;
    size_t n_t, t_cap;
    uint64_t data_size;    /* padded size of the data section so far */
    enum wstate state;
    cv_outfile out;
    size_t cur;            /* streaming: tensor being written */
    size_t cur_done;       /* bytes of it written */
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static cv_status add_alignment_kv(cv_gguf_writer *w, cv_error *err);

cv_status cv_gguf_writer_new(cv_gguf_writer **out, const char *path, uint32_t alignment, cv_error *err)
{
    *out = NULL;
    if (alignment == 0)
        alignment = CV_GGUF_DEFAULT_ALIGNMENT;
    if (alignment < 8 || alignment > (1u << 20) || (alignment & (alignment - 1)) != 0)
        return cv_error_set(err, CV_ERR_ARG, "%s: invalid alignment %" PRIu32 " (expected a power of two, 8 .. 1048576)",
                            path, alignment);
    cv_gguf_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = dup_str(path))) {
        free(w);
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", path);
    }
    w->alignment = alignment;
    cv_status s = alignment != CV_GGUF_DEFAULT_ALIGNMENT ? add_alignment_kv(w, err) : CV_OK;
    if (s) {
        cv_gguf_writer_free(w);
        return s;
    }
    *out = w;
    return CV_OK;
}

void cv_gguf_writer_free(cv_gguf_writer *w)
{
    if (!w)
        return;
    if (w->state == W_WRITING)
        cv_outfile_abort(&w->out);
    for (size_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv.p);
    free(w->path);
    free(w);
}

static cv_status check_collecting(const cv_gguf_writer *w, cv_error *err)
{
    if (w->state != W_COLLECT)
        return cv_error_set(err, CV_ERR_ARG, "%s: metadata and tensors must be added before writing starts",
                            w->path);
    return CV_OK;
}

/* Validates key, reserves `value_bytes` + the key's encoding, writes key and
 * type.  After CV_OK the caller writes exactly value_bytes bytes. */
static cv_status begin_kv(cv_gguf_writer *w, const char *key, uint32_t type, size_t value_bytes, cv_error *err)
{
    cv_status s = check_collecting(w, err);
    if (s)
        return s;
    size_t len = strlen(key);
    char buf[48];
    const char *bad = bad_key((const unsigned char *)key, len);
    if (bad)
        return cv_error_set(err, CV_ERR_ARG, "%s: metadata key '%s' %s", w->path,
                            shown(buf, (const unsigned char *)key, len), bad);
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return cv_error_set(err, CV_ERR_ARG, "%s: duplicate metadata key '%s'", w->path, key);
    if (w->n_kv == w->keys_cap) {
        size_t cap = w->keys_cap ? 2 * w->keys_cap : 16;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k)
            return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", w->path);
        w->keys = k;
        w->keys_cap = cap;
    }
    size_t total;
    if (__builtin_add_overflow(value_bytes, 12 + len, &total) || !buf_reserve(&w->kv, total) ||
        !(w->keys[w->n_kv] = dup_str(key)))
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for metadata key '%s'", w->path, key);
    w->n_kv++;
    buf_u64(&w->kv, len);
    buf_put(&w->kv, key, len);
    buf_u32(&w->kv, type);
    return CV_OK;
}

static cv_status add_alignment_kv(cv_gguf_writer *w, cv_error *err)
{
    cv_status s = begin_kv(w, "general.alignment", CV_GGUF_UINT32, 4, err);
    if (!s)
        buf_u32(&w->kv, w->alignment);
    return s;
}

static cv_status check_user_key(const cv_gguf_writer *w, const char *key, cv_error *err)
{
    if (strcmp(key, "general.alignment") == 0)
        return cv_error_set(err, CV_ERR_ARG,
                            "%s: general.alignment is written by the writer (pass the alignment to cv_gguf_writer_new)",
                            w->path);
    return CV_OK;
}

static bool is_number_type(cv_gguf_vtype t)
{
    return t != CV_GGUF_STRING && t != CV_GGUF_ARRAY && cv_gguf_vtype_size(t) != 0;
}

cv_status cv_gguf_writer_set(cv_gguf_writer *w, const char *key, cv_gguf_vtype type, const void *value,
                             cv_error *err)
{
    if (!is_number_type(type))
        return cv_error_set(err, CV_ERR_ARG, "%s: metadata key '%s': cv_gguf_writer_set takes a number or bool, not %s",
                            w->path, key, cv_gguf_vtype_name(type));
    size_t size = cv_gguf_vtype_size(type);
    cv_status s = check_user_key(w, key, err);
    if (!s)
        s = begin_kv(w, key, type, size, err);
    if (s)
        return s;
    if (type == CV_GGUF_BOOL) {
        unsigned char b = *(const bool *)value ? 1 : 0;
        buf_put(&w->kv, &b, 1);
    } else {
        buf_put(&w->kv, value, size);
    }
    return CV_OK;
}

cv_status cv_gguf_writer_set_u32(cv_gguf_writer *w, const char *key, uint32_t v, cv_error *err)
{
    return cv_gguf_writer_set(w, key, CV_GGUF_UINT32, &v, err);
}

cv_status cv_gguf_writer_set_i32(cv_gguf_writer *w, const char *key, int32_t v, cv_error *err)
{
    return cv_gguf_writer_set(w, key, CV_GGUF_INT32, &v, err);
}

cv_status cv_gguf_writer_set_u64(cv_gguf_writer *w, const char *key, uint64_t v, cv_error *err)
{
    return cv_gguf_writer_set(w, key, CV_GGUF_UINT64, &v, err);
}

cv_status cv_gguf_writer_set_f32(cv_gguf_writer *w, const char *key, float v, cv_error *err)
{
    return cv_gguf_writer_set(w, key, CV_GGUF_FLOAT32, &v, err);
}

cv_status cv_gguf_writer_set_bool(cv_gguf_writer *w, const char *key, bool v, cv_error *err)
{
    return cv_gguf_writer_set(w, key, CV_GGUF_BOOL, &v, err);
}

cv_status cv_gguf_writer_set_strn(cv_gguf_writer *w, const char *key, const char *str, size_t len,
                                  cv_error *err)
{
    size_t total;
    cv_status s = check_user_key(w, key, err);
    if (!s && __builtin_add_overflow(len, (size_t)8, &total))
        s = cv_error_set(err, CV_ERR_NOMEM, "%s: string for key '%s' is too long", w->path, key);
    if (!s)
        s = begin_kv(w, key, CV_GGUF_STRING, total, err);
    if (s)
        return s;
    buf_u64(&w->kv, len);
    buf_put(&w->kv, str, len);
    return CV_OK;
}

cv_status cv_gguf_writer_set_str(cv_gguf_writer *w, const char *key, const char *str, cv_error *err)
{
    return cv_gguf_writer_set_strn(w, key, str, strlen(str), err);
}

cv_status cv_gguf_writer_set_array(cv_gguf_writer *w, const char *key, cv_gguf_vtype elem, const void *values,
                                   size_t count, cv_error *err)
{
    if (!is_number_type(elem))
        return cv_error_set(err, CV_ERR_ARG,
                            "%s: metadata key '%s': cv_gguf_writer_set_array takes numbers or bools, not %s",
                            w->path, key, cv_gguf_vtype_name(elem));
    size_t bytes = 0, total = 0;
    const unsigned char *b = values;
    for (size_t i = 0; elem == CV_GGUF_BOOL && i < count; i++)
        if (b[i] > 1)
            return cv_error_set(err, CV_ERR_ARG, "%s: metadata key '%s': bool element %zu is %u (expected 0 or 1)",
                                w->path, key, i, b[i]);
    cv_status s = check_user_key(w, key, err);
    if (!s && (__builtin_mul_overflow(count, cv_gguf_vtype_size(elem), &bytes) ||
               __builtin_add_overflow(bytes, (size_t)12, &total)))
        s = cv_error_set(err, CV_ERR_NOMEM, "%s: array for key '%s' is too long", w->path, key);
    if (!s)
        s = begin_kv(w, key, CV_GGUF_ARRAY, total, err);
    if (s)
        return s;
    buf_u32(&w->kv, elem);
    buf_u64(&w->kv, count);
    buf_put(&w->kv, values, bytes);
    return CV_OK;
}

cv_status cv_gguf_writer_set_str_array(cv_gguf_writer *w, const char *key, const char *const *strs,
                                       const size_t *lens, size_t count, cv_error *err)
{
    size_t total = 12;
    cv_status s = check_user_key(w, key, err);
    for (size_t i = 0; !s && i < count; i++) {
        size_t l = lens ? lens[i] : strlen(strs[i]);
        if (__builtin_add_overflow(total, l, &total) || __builtin_add_overflow(total, (size_t)8, &total))
            s = cv_error_set(err, CV_ERR_NOMEM, "%s: array for key '%s' is too long", w->path, key);
    }
    if (!s)
        s = begin_kv(w, key, CV_GGUF_ARRAY, total, err);
    if (s)
        return s;
    buf_u32(&w->kv, CV_GGUF_STRING);
    buf_u64(&w->kv, count);
    for (size_t i = 0; i < count; i++) {
        size_t l = lens ? lens[i] : strlen(strs[i]);
        buf_u64(&w->kv, l);
        buf_put(&w->kv, strs[i], l);
    }
    return CV_OK;
}

static cv_status check_tensor_name(const cv_gguf_writer *w, const char *name, cv_error *err)
{
    size_t len = strlen(name);
    char buf[48];
    const char *bad = bad_name((const unsigned char *)name, len);
    if (bad)
        return cv_error_set(err, CV_ERR_ARG, "%s: tensor name '%s' %s", w->path,
                            shown(buf, (const unsigned char *)name, len), bad);
    /* linear: a model has a few thousand tensors at most */
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return cv_error_set(err, CV_ERR_ARG, "%s: duplicate tensor name '%s'", w->path, name);
    return CV_OK;
}

static cv_status fill_tensor(const cv_gguf_writer *w, wtensor *t, const char *name, int ndim,
                             const int64_t *shape, cv_error *err)
{
    if (ndim < 0 || ndim > CV_GGUF_MAX_DIMS || (ndim > 0 && !shape))
        return cv_error_set(err, CV_ERR_ARG, "%s: tensor '%s' has %d dimensions (expected 0..4)", w->path,
                            name, ndim);
    for (int i = 0; i < CV_GGUF_MAX_DIMS; i++)
        t->ne[i] = i < ndim ? shape[ndim - 1 - i] : 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) {
            char buf[160];
            format_shape(buf, sizeof buf, ndim, shape);
            return cv_error_set(err, CV_ERR_ARG, "%s: tensor '%s' has a negative dimension in shape %s",
                                w->path, name, buf);
        }
    size_t nel;
    t->ndim = ndim;
    return tensor_size(w->path, name, t->type, ndim, t->ne, CV_ERR_ARG, &nel, &t->nbytes, err);
}

cv_status cv_gguf_writer_add_tensor(cv_gguf_writer *w, const char *name, uint32_t type, int ndim,
                                    const int64_t *shape, const void *data, cv_error *err)
{
    wtensor t = { NULL, type, 0, { 1, 1, 1, 1 }, 0, 0, data };
    cv_status s = check_collecting(w, err);
    if (!s)
        s = check_tensor_name(w, name, err);
    if (!s)
        s = fill_tensor(w, &t, name, ndim, shape, err);
    if (s)
        return s;
    uint64_t padded = align_up(t.nbytes, w->alignment), end;
    if (padded < t.nbytes || __builtin_add_overflow(w->data_size, padded, &end) || end > (uint64_t)INT64_MAX)
        return cv_error_set(err, CV_ERR_ARG, "%s: tensor '%s': the data section would exceed 2^63 bytes",
                            w->path, name);
    if (w->n_t == w->t_cap) {
        size_t cap = w->t_cap ? 2 * w->t_cap : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt)
            return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", w->path);
        w->t = nt;
        w->t_cap = cap;
    }
    if (!(t.name = dup_str(name)))
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", w->path);
    t.offset = w->data_size;
    w->data_size = end;
    w->t[w->n_t++] = t;
    return CV_OK;
}

/* Header, metadata, tensor infos and the padding before the data section. */
static cv_status write_head(cv_gguf_writer *w, cv_error *err)
{
    bytebuf b = { NULL, 0, 0 };
    size_t need = 24 + 32;
    for (size_t i = 0; i < w->n_t; i++)
        need += 8 + strlen(w->t[i].name) + 4 + 8 * (size_t)w->t[i].ndim + 4 + 8;
    if (!buf_reserve(&b, need))
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", w->path);
    buf_put(&b, "GGUF", 4);
    buf_u32(&b, 3);
    buf_u64(&b, w->n_t);
    buf_u64(&b, w->n_kv);
    cv_status s = cv_outfile_write(&w->out, b.p, b.n, err);
    b.n = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t len = strlen(t->name);
        buf_u64(&b, len);
        buf_put(&b, t->name, len);
        buf_u32(&b, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++)
            buf_u64(&b, (uint64_t)t->ne[d]);
        buf_u32(&b, t->type);
        buf_u64(&b, t->offset);
    }
    if (!s)
        s = cv_outfile_write(&w->out, w->kv.p, w->kv.n, err);
    if (!s)
        s = cv_outfile_write(&w->out, b.p, b.n, err);
    uint64_t pos = 24 + (uint64_t)w->kv.n + b.n;
    free(b.p);
    return s ? s : cv_outfile_write_zeros(&w->out, (size_t)(align_up(pos, w->alignment) - pos), err);
}

static void skip_empty(cv_gguf_writer *w)
{
    while (w->cur < w->n_t && w->t[w->cur].nbytes == 0)
        w->cur++;
}

cv_status cv_gguf_writer_begin(cv_gguf_writer *w, cv_error *err)
{
    cv_status s = check_collecting(w, err);
    if (!s)
        s = cv_outfile_open(&w->out, w->path, err);
    if (s)
        return s;
    w->state = W_WRITING;
    s = write_head(w, err);
    if (s) {
        w->state = W_FAILED;
        cv_outfile_abort(&w->out);
        return s;
    }
    w->cur = 0;
    w->cur_done = 0;
    skip_empty(w);
    return CV_OK;
}

static cv_status fail(cv_gguf_writer *w, cv_status s)
{
    if (w->state == W_WRITING)
        cv_outfile_abort(&w->out);
    w->state = W_FAILED;
    return s;
}

cv_status cv_gguf_writer_write_data(cv_gguf_writer *w, const void *data, size_t n, cv_error *err)
{
    if (w->state != W_WRITING)
        return cv_error_set(err, CV_ERR_ARG, "%s: tensor data written outside begin/finish", w->path);
    const unsigned char *p = data;
    while (n) {
        if (w->cur >= w->n_t)
            return fail(w, cv_error_set(err, CV_ERR_ARG, "%s: %zu bytes of data beyond the last tensor",
                                        w->path, n));
        const wtensor *t = &w->t[w->cur];
        size_t k = t->nbytes - w->cur_done < n ? t->nbytes - w->cur_done : n;
        cv_status s = cv_outfile_write(&w->out, p, k, err);
        if (s)
            return fail(w, s);
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            s = cv_outfile_write_zeros(&w->out, (size_t)(align_up(t->nbytes, w->alignment) - t->nbytes), err);
            if (s)
                return fail(w, s);
            w->cur++;
            w->cur_done = 0;
            skip_empty(w);
        }
    }
    return CV_OK;
}

cv_status cv_gguf_writer_finish(cv_gguf_writer *w, cv_error *err)
{
    if (w->state != W_WRITING)
        return cv_error_set(err, CV_ERR_ARG, "%s: finish without a successful begin", w->path);
    if (w->cur < w->n_t)
        return fail(w, cv_error_set(err, CV_ERR_ARG, "%s: tensor '%s' is incomplete (%zu of %zu bytes written)",
                                    w->path, w->t[w->cur].name, w->cur_done, w->t[w->cur].nbytes));
    cv_status s = cv_outfile_commit(&w->out, err);
    w->state = s ? W_FAILED : W_DONE;
    return s;
}

cv_status cv_gguf_writer_write(cv_gguf_writer *w, cv_error *err)
{
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data && w->t[i].nbytes)
            return cv_error_set(err, CV_ERR_ARG,
                                "%s: tensor '%s' has no data (stream it with cv_gguf_writer_begin/write_data/finish)",
                                w->path, w->t[i].name);
    cv_status s = cv_gguf_writer_begin(w, err);
    for (size_t i = 0; !s && i < w->n_t; i++)
        s = cv_gguf_writer_write_data(w, w->t[i].data, w->t[i].nbytes, err);
    return s ? s : cv_gguf_writer_finish(w, err);
}
