/* npy.c — NumPy .npy reader and writer (format 1.0 / 2.0 / 3.0).
 *
 * The header is a Python dict literal; we parse exactly the subset numpy
 * writes (and hand-written variants: either quote, any key order, spaces,
 * trailing commas), never evaluate anything, and check every size before
 * allocating: the shape product and the data size are overflow-checked and
 * compared with the file size before the data buffer exists. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#endif

#include "npy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cv_types.h"
#include "outfile.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host ('<' data is used without byte swapping)"
#endif

static const unsigned char npy_magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *code; /* descr without the byte-order character */
    cv_dtype dt;
    size_t size;
} dtypes[] = {
    { "f4", CV_DT_F32, 4 }, { "f2", CV_DT_F16, 2 }, { "f8", CV_DT_F64, 8 },
    { "i1", CV_DT_I8, 1 },  { "u1", CV_DT_U8, 1 },  { "i4", CV_DT_I32, 4 },
    { "i8", CV_DT_I64, 8 }, { "b1", CV_DT_BOOL, 1 },
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

size_t cv_dtype_size(cv_dtype dt)
{
    for (size_t i = 0; i < N_DTYPES; i++)
        if (dtypes[i].dt == dt)
            return dtypes[i].size;
    return 0;
}

const char *cv_dtype_descr(cv_dtype dt)
{
    switch (dt) {
    case CV_DT_F32: return "<f4";
    case CV_DT_F16: return "<f2";
    case CV_DT_F64: return "<f8";
    case CV_DT_I8: return "|i1";
    case CV_DT_U8: return "|u1";
    case CV_DT_I32: return "<i4";
    case CV_DT_I64: return "<i8";
    case CV_DT_BOOL: return "|b1";
    }
    return "?";
}

/* Copies at most 40 bytes of s into buf (>= 48 bytes), replacing anything
 * that is not printable ASCII, so that quoting file content in an error
 * message can never break the one-line rule. */
static const char *sanitize(char *buf, const char *s, size_t n)
{
    size_t k = n < 40 ? n : 40, j = 0;
    for (size_t i = 0; i < k; i++)
        buf[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (k < n) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

static cv_status parse_descr(const char *path, const char *s, size_t n, cv_dtype *dt, cv_error *err)
{
    char shown[48];
    if (n == 3) {
        char order = s[0];
        for (size_t i = 0; i < N_DTYPES; i++) {
            if (memcmp(s + 1, dtypes[i].code, 2) != 0)
                continue;
            bool one = dtypes[i].size == 1;
            if (order == '<' || order == '=' || (one && (order == '|' || order == '>'))) {
                *dt = dtypes[i].dt;
                return CV_OK;
            }
            if (order == '>')
                return cv_error_set(err, CV_ERR_UNSUPPORTED,
                                    "%s: big-endian dtype '%s' is not supported (expected '<%s')",
                                    path, sanitize(shown, s, n), dtypes[i].code);
            break;
        }
    }
    return cv_error_set(err, CV_ERR_UNSUPPORTED,
                        "%s: unsupported dtype '%s' (expected one of <f4 <f2 <f8 |i1 |u1 <i4 <i8 |b1)",
                        path, sanitize(shown, s, n));
}

/* ------------------------------------------------------------------ header parser */

typedef struct {
    const char *s;
    size_t n, i;
    const char *path;
    cv_error *err;
} hparse;

typedef struct {
    bool have_descr, have_fortran, have_shape;
    cv_dtype dt;
    bool fortran;
    int ndim;
    int64_t shape[CV_NPY_MAX_DIMS];
} npy_header;

static void skip_ws(hparse *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static bool peek(hparse *p, char c)
{
    skip_ws(p);
    return p->i < p->n && p->s[p->i] == c;
}

static cv_status syntax(hparse *p, const char *expected)
{
    return cv_error_set(p->err, CV_ERR_FORMAT, "%s: cannot parse header (expected %s at header byte %zu)",
                        p->path, expected, p->i);
}

static cv_status expect(hparse *p, char c, const char *what)
{
    if (!peek(p, c))
        return syntax(p, what);
    p->i++;
    return CV_OK;
}

/* A quoted string without escapes (numpy never writes any in a header). */
static cv_status parse_string(hparse *p, const char **str, size_t *len)
{
    skip_ws(p);
    if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"'))
        return syntax(p, "a quoted string");
    char q = p->s[p->i++];
    size_t start = p->i;
    while (p->i < p->n && p->s[p->i] != q && p->s[p->i] != '\\' && p->s[p->i] != '\n')
        p->i++;
    if (p->i >= p->n || p->s[p->i] != q)
        return syntax(p, "a closing quote");
    *str = p->s + start;
    *len = p->i - start;
    p->i++;
    return CV_OK;
}

static cv_status parse_bool(hparse *p, bool *v)
{
    skip_ws(p);
    const char *s = p->s + p->i;
    size_t left = p->n - p->i;
    if (left >= 4 && memcmp(s, "True", 4) == 0) {
        *v = true;
        p->i += 4;
    } else if (left >= 5 && memcmp(s, "False", 5) == 0) {
        *v = false;
        p->i += 5;
    } else {
        return syntax(p, "True or False");
    }
    return CV_OK;
}

/* A non-negative Python int; Python 2's 'L' suffix is accepted. */
static cv_status parse_dim(hparse *p, int64_t *v)
{
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return syntax(p, "a non-negative integer");
    uint64_t x = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        x = x * 10 + (uint64_t)(p->s[p->i++] - '0');
        if (x > (uint64_t)INT64_MAX)
            return cv_error_set(p->err, CV_ERR_FORMAT,
                                "%s: shape dimension at header byte %zu is too large (expected at most %" PRId64 ")",
                                p->path, p->i, INT64_MAX);
    }
    if (p->i < p->n && (p->s[p->i] == 'L' || p->s[p->i] == 'l'))
        p->i++;
    *v = (int64_t)x;
    return CV_OK;
}

static cv_status parse_shape(hparse *p, npy_header *h)
{
    cv_status s = expect(p, '(', "'(' starting the shape tuple");
    h->ndim = 0;
    bool comma = false;
    while (!s && !peek(p, ')')) {
        if (h->ndim == CV_NPY_MAX_DIMS)
            return cv_error_set(p->err, CV_ERR_UNSUPPORTED,
                                "%s: shape has more than %d dimensions (at most %d are supported)",
                                p->path, CV_NPY_MAX_DIMS, CV_NPY_MAX_DIMS);
        s = parse_dim(p, &h->shape[h->ndim++]);
        comma = !s && peek(p, ',');
        if (comma)
            p->i++;
        else if (!s && !peek(p, ')'))
            s = syntax(p, "',' or ')' in the shape tuple");
    }
    if (s)
        return s;
    if (h->ndim == 1 && !comma) /* "(3)" is the int 3 in Python, not a tuple */
        return cv_error_set(p->err, CV_ERR_FORMAT,
                            "%s: shape (%" PRId64 ") is not a tuple (expected (%" PRId64 ",))", p->path,
                            h->shape[0], h->shape[0]);
    p->i++;
    return CV_OK;
}

static cv_status parse_entry(hparse *p, npy_header *h)
{
    const char *key;
    size_t klen;
    char shown[48];
    cv_status s = parse_string(p, &key, &klen);
    if (!s)
        s = expect(p, ':', "':' after a key");
    if (s)
        return s;
    bool *seen = NULL;
    if (klen == 5 && memcmp(key, "descr", 5) == 0)
        seen = &h->have_descr;
    else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0)
        seen = &h->have_fortran;
    else if (klen == 5 && memcmp(key, "shape", 5) == 0)
        seen = &h->have_shape;
    if (!seen)
        return cv_error_set(p->err, CV_ERR_FORMAT,
                            "%s: unexpected header key '%s' (expected descr, fortran_order and shape)",
                            p->path, sanitize(shown, key, klen));
    if (*seen)
        return cv_error_set(p->err, CV_ERR_FORMAT, "%s: header key '%s' appears twice", p->path,
                            sanitize(shown, key, klen));
    *seen = true;
    if (seen == &h->have_fortran)
        return parse_bool(p, &h->fortran);
    if (seen == &h->have_shape)
        return parse_shape(p, h);
    if (peek(p, '['))
        return cv_error_set(p->err, CV_ERR_UNSUPPORTED,
                            "%s: structured dtypes are not supported (expected a plain descr such as '<f4')",
                            p->path);
    const char *d;
    size_t dlen;
    s = parse_string(p, &d, &dlen);
    return s ? s : parse_descr(p->path, d, dlen, &h->dt, p->err);
}

static cv_status parse_header(const char *path, const char *s, size_t n, npy_header *h, cv_error *err)
{
    hparse p = { s, n, 0, path, err };
    memset(h, 0, sizeof *h);
    cv_status st = expect(&p, '{', "'{'");
    while (!st && !peek(&p, '}')) {
        st = parse_entry(&p, h);
        if (!st && peek(&p, ','))
            p.i++;
        else if (!st && !peek(&p, '}'))
            st = syntax(&p, "',' or '}'");
    }
    if (st)
        return st;
    p.i++;
    skip_ws(&p);
    if (p.i != n)
        return syntax(&p, "only spaces after the closing '}'");
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: header lacks the key '%s' (expected descr, fortran_order and shape)",
                            path, !h->have_descr ? "descr" : !h->have_fortran ? "fortran_order" : "shape");
    if (h->fortran)
        return cv_error_set(err, CV_ERR_UNSUPPORTED,
                            "%s: Fortran-order arrays are not supported (expected fortran_order: False)", path);
    return CV_OK;
}

/* ------------------------------------------------------------------ sizes */

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %" PRId64 : "%" PRId64, shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, ndim == 1 ? ",)" : ")");
}

/* count = product of the dims; the product of the non-zero dims times the
 * element size must fit in size_t and int64 (later code computes strides
 * and file offsets from them even when one dim is zero). */
static cv_status shape_size(const char *path, int ndim, const int64_t *shape, size_t elsize,
                            size_t *count, size_t *nbytes, cv_error *err)
{
    size_t c = 1, bound = elsize;
    bool zero = false;
    char buf[256];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            format_shape(buf, sizeof buf, ndim, shape);
            return cv_error_set(err, CV_ERR_ARG, "%s: negative dimension in shape %s", path, buf);
        }
        if (shape[i] == 0) {
            zero = true;
            continue;
        }
        if ((uint64_t)shape[i] > SIZE_MAX || __builtin_mul_overflow(c, (size_t)shape[i], &c) ||
            __builtin_mul_overflow(bound, (size_t)shape[i], &bound) || bound > (size_t)INT64_MAX) {
            format_shape(buf, sizeof buf, ndim, shape);
            return cv_error_set(err, CV_ERR_FORMAT,
                                "%s: shape %s is too large (its size in bytes overflows)", path, buf);
        }
    }
    *count = zero ? 0 : c;
    *nbytes = *count * elsize;
    return CV_OK;
}

/* ------------------------------------------------------------------ load */

static cv_status read_exact(FILE *f, void *buf, size_t n, const char *path, const char *what, cv_error *err)
{
    if (n && fread(buf, 1, n, f) != n)
        return cv_error_set(err, CV_ERR_IO, "%s: read error in %s: %s", path, what,
                            ferror(f) ? strerror(errno) : "unexpected end of file");
    return CV_OK;
}

/* Reads magic, version and header length; *data_off = first byte after the header. */
static cv_status read_prefix(FILE *f, const char *path, uint64_t fsize, uint64_t *hlen,
                             uint64_t *data_off, cv_error *err)
{
    unsigned char b[12];
    if (fsize < 10)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: truncated header (expected at least 10 bytes, file has %" PRIu64 ")", path, fsize);
    cv_status s = read_exact(f, b, 8, path, "header", err);
    if (s)
        return s;
    if (memcmp(b, npy_magic, 6) != 0)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: not a .npy file (bad magic, expected \\x93NUMPY)", path);
    if (b[6] < 1 || b[6] > 3 || b[7] != 0)
        return cv_error_set(err, CV_ERR_UNSUPPORTED,
                            "%s: unsupported .npy format version %u.%u (expected 1.0, 2.0 or 3.0)", path,
                            b[6], b[7]);
    size_t lenbytes = b[6] == 1 ? 2 : 4;
    if (fsize < 8 + lenbytes)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: truncated header (expected %zu bytes, file has %" PRIu64 ")", path,
                            8 + lenbytes, fsize);
    s = read_exact(f, b + 8, lenbytes, path, "header", err);
    if (s)
        return s;
    *hlen = (uint64_t)b[8] | (uint64_t)b[9] << 8;
    if (lenbytes == 4)
        *hlen |= (uint64_t)b[10] << 16 | (uint64_t)b[11] << 24;
    *data_off = 8 + lenbytes + *hlen;
    if (*data_off > fsize)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: truncated header (header length %" PRIu64 " goes beyond the end of the file at %" PRIu64 ")",
                            path, *hlen, fsize);
    return CV_OK;
}

static cv_status load_header(FILE *f, const char *path, uint64_t fsize, npy_header *h,
                             uint64_t *data_off, cv_error *err)
{
    uint64_t hlen = 0;
    cv_status s = read_prefix(f, path, fsize, &hlen, data_off, err);
    if (s)
        return s;
    char *txt = malloc((size_t)hlen + 1);
    if (!txt)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for a %" PRIu64 "-byte header", path, hlen);
    s = read_exact(f, txt, (size_t)hlen, path, "header", err);
    if (!s)
        s = parse_header(path, txt, (size_t)hlen, h, err);
    free(txt);
    return s;
}

static cv_status load_file(FILE *f, const char *path, cv_npy *out, cv_error *err)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return cv_error_set(err, CV_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cv_error_set(err, CV_ERR_IO, "%s: not a regular file", path);
    uint64_t fsize = (uint64_t)st.st_size, data_off = 0;
    npy_header h;
    cv_status s = load_header(f, path, fsize, &h, &data_off, err);
    if (!s)
        s = shape_size(path, h.ndim, h.shape, cv_dtype_size(h.dt), &out->count, &out->nbytes, err);
    if (s)
        return s;
    if (fsize - data_off < out->nbytes)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: truncated data (expected %zu bytes at offset %" PRIu64 ", file has %" PRIu64 ")",
                            path, out->nbytes, data_off, fsize);
    if (fsize - data_off > out->nbytes)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: %" PRIu64 " bytes of trailing data after the array (expected file size %" PRIu64 ")",
                            path, fsize - data_off - out->nbytes, data_off + out->nbytes);
    out->dtype = h.dt;
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for %zu bytes of data", path, out->nbytes);
    return read_exact(f, out->data, out->nbytes, path, "data", err);
}

cv_status cv_npy_load(const char *path, cv_npy *out, cv_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cv_error_set(err, CV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cv_status s = load_file(f, path, out, err);
    fclose(f);
    if (s)
        cv_npy_free(out);
    return s;
}

void cv_npy_free(cv_npy *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ save */

/* numpy's header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
 * spaces so the first dim can grow to 21 digits in place, then spaces and a
 * newline up to a multiple of 64 bytes counting the 10- or 12-byte prefix. */
static size_t build_header(char *buf, size_t cap, cv_dtype dt, int ndim, const int64_t *shape)
{
    char sh[256];
    format_shape(sh, sizeof sh, ndim, shape);
    int k = snprintf(buf, cap, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     cv_dtype_descr(dt), sh);
    size_t n = (size_t)k;
    if (ndim > 0) {
        char d0[24];
        size_t digits = (size_t)snprintf(d0, sizeof d0, "%" PRId64, shape[0]);
        for (size_t i = digits; i < 21; i++)
            buf[n++] = ' ';
    }
    return n;
}

static cv_status save_args(const char *path, cv_dtype dt, int ndim, const int64_t *shape,
                           const void *data, size_t *nbytes, cv_error *err)
{
    size_t count;
    if (cv_dtype_size(dt) == 0)
        return cv_error_set(err, CV_ERR_ARG, "%s: invalid dtype %d", path, (int)dt);
    if (ndim < 0 || ndim > CV_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return cv_error_set(err, CV_ERR_ARG, "%s: invalid number of dimensions %d (expected 0..%d)",
                            path, ndim, CV_NPY_MAX_DIMS);
    cv_status s = shape_size(path, ndim, shape, cv_dtype_size(dt), &count, nbytes, err);
    if (!s && *nbytes && !data)
        s = cv_error_set(err, CV_ERR_ARG, "%s: no data for a %zu-byte array", path, *nbytes);
    return s;
}

cv_status cv_npy_save(const char *path, cv_dtype dt, int ndim, const int64_t *shape,
                      const void *data, cv_error *err)
{
    size_t nbytes;
    cv_status s = save_args(path, dt, ndim, shape, data, &nbytes, err);
    if (s)
        return s;
    /* 8 dims of at most 19 digits keep the dict far below 65535 bytes, so
     * this always writes version 1.0; the 2.0 branch mirrors numpy anyway. */
    unsigned char hdr[12 + 512 + 64];
    char *dict = (char *)hdr + 12;
    size_t dlen = build_header(dict, 512, dt, ndim, shape);
    size_t prefix = 10, hlen = dlen + 1;
    size_t pad = 64 - (prefix + hlen) % 64;
    if (hlen + pad > 65535) {
        prefix = 12;
        pad = 64 - (prefix + hlen) % 64;
    }
    memmove(hdr + prefix, dict, dlen);
    memset(hdr + prefix + dlen, ' ', pad);
    hdr[prefix + dlen + pad] = '\n';
    size_t total = hlen + pad;
    memcpy(hdr, npy_magic, 6);
    hdr[6] = prefix == 10 ? 1 : 2;
    hdr[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++)
        hdr[8 + i] = (unsigned char)(total >> (8 * i));
    cv_outfile of;
    s = cv_outfile_open(&of, path, err);
    if (!s)
        s = cv_outfile_write(&of, hdr, prefix + total, err);
    if (!s)
        s = cv_outfile_write(&of, data, nbytes, err);
    return s ? s : cv_outfile_commit(&of, err);
}

/* ------------------------------------------------------------------ converting loaders */

/* malloc(count * elsize) that fails instead of wrapping around. */
static void *alloc_array(size_t count, size_t elsize)
{
    size_t n;
    if (__builtin_mul_overflow(count, elsize, &n))
        return NULL;
    return malloc(n ? n : 1);
}

static void keep_meta(cv_npy *out, const cv_npy *a)
{
    if (out) {
        *out = *a;
        out->data = NULL;
    }
}

cv_status cv_npy_load_f32(const char *path, cv_npy *out, float **data, cv_error *err)
{
    cv_npy a;
    *data = NULL;
    cv_status s = cv_npy_load(path, &a, err);
    if (s)
        return s;
    if (a.dtype != CV_DT_F32 && a.dtype != CV_DT_F16 && a.dtype != CV_DT_F64) {
        s = cv_error_set(err, CV_ERR_FORMAT,
                         "%s: dtype '%s' cannot be read as float32 (expected <f4, <f2 or <f8)", path,
                         cv_dtype_descr(a.dtype));
        cv_npy_free(&a);
        return s;
    }
    float *y = a.dtype == CV_DT_F32 ? a.data : alloc_array(a.count, sizeof *y);
    if (!y) {
        cv_npy_free(&a);
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory converting %zu elements", path, a.count);
    }
    for (size_t i = 0; a.dtype != CV_DT_F32 && i < a.count; i++) {
        if (a.dtype == CV_DT_F16) {
            uint16_t h;
            memcpy(&h, (const char *)a.data + 2 * i, 2);
            y[i] = cv_f16_to_f32(h);
        } else {
            double d;
            memcpy(&d, (const char *)a.data + 8 * i, 8);
            y[i] = (float)d;
        }
    }
    if (a.dtype != CV_DT_F32)
        free(a.data);
    keep_meta(out, &a);
    *data = y;
    return CV_OK;
}

static int64_t int_at(const cv_npy *a, size_t i)
{
    const unsigned char *p = a->data;
    switch (a->dtype) {
    case CV_DT_I8: return (int8_t)p[i];
    case CV_DT_U8: return p[i];
    case CV_DT_BOOL: return p[i] != 0;
    case CV_DT_I32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    default: {
        int64_t v;
        memcpy(&v, p + 8 * i, 8);
        return v;
    }
    }
}

cv_status cv_npy_load_i64(const char *path, cv_npy *out, int64_t **data, cv_error *err)
{
    cv_npy a;
    *data = NULL;
    cv_status s = cv_npy_load(path, &a, err);
    if (s)
        return s;
    if (a.dtype == CV_DT_F32 || a.dtype == CV_DT_F16 || a.dtype == CV_DT_F64) {
        s = cv_error_set(err, CV_ERR_FORMAT,
                         "%s: dtype '%s' cannot be read as int64 (expected an integer or bool array)",
                         path, cv_dtype_descr(a.dtype));
        cv_npy_free(&a);
        return s;
    }
    int64_t *y = a.dtype == CV_DT_I64 ? a.data : alloc_array(a.count, sizeof *y);
    if (!y) {
        cv_npy_free(&a);
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory converting %zu elements", path, a.count);
    }
    for (size_t i = 0; a.dtype != CV_DT_I64 && i < a.count; i++)
        y[i] = int_at(&a, i);
    if (a.dtype != CV_DT_I64)
        free(a.data);
    keep_meta(out, &a);
    *data = y;
    return CV_OK;
}
