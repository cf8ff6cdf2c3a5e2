/* ptload.c — a torch.save checkpoint's tensors: zip + restricted pickle +
 * checks that every tensor lies inside its storage's zip entry. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ptload.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_zip.h"

struct cv_pt {
    cv_zip *zip;
    cv_pt_tensor *t;
    size_t n;
    const cv_pt_tensor **by_name;   /* t sorted by name, for cv_pt_find */
};

/* Names in messages are capped so the line stays readable. */
#define SHOW(s) 200, (s)

/* The archive's top folder: the one entry named "<prefix>/data.pkl". */
static cv_status find_prefix(const cv_zip *z, size_t *plen, const cv_zip_entry **pkl, cv_error *err)
{
    static const char tail[] = "/data.pkl";
    size_t tl = sizeof tail - 1;
    for (size_t i = 0; i < cv_zip_count(z); i++) {
        const cv_zip_entry *e = cv_zip_at(z, i);
        if (e->name_len > tl && memcmp(e->name + e->name_len - tl, tail, tl) == 0 &&
            !memchr(e->name, '/', e->name_len - tl) && !memchr(e->name, 0, e->name_len)) {
            *plen = e->name_len - tl;
            *pkl = e;
            return CV_OK;
        }
    }
    return cv_error_set(err, CV_ERR_FORMAT,
                        "%s: no <folder>/data.pkl entry (not a torch.save zip checkpoint; the legacy format of "
                        "torch < 1.6 is not supported)", cv_zip_path(z));
}

/* The entry "<prefix>/<rest>" (rest NUL-free), or NULL. */
static const cv_zip_entry *find_under(const cv_zip *z, const char *prefix, size_t plen, const char *rest,
                                      size_t rlen)
{
    char *full = malloc(plen + 1 + rlen + 1);
    if (!full)
        return NULL;
    memcpy(full, prefix, plen);
    full[plen] = '/';
    memcpy(full + plen + 1, rest, rlen);
    full[plen + 1 + rlen] = 0;
    const cv_zip_entry *e = cv_zip_find(z, full);
    free(full);
    return e;
}

/* Multi-byte elements are little-endian unless <prefix>/byteorder says
 * otherwise (torch writes "little" or, on big-endian hosts, "big"). */
static cv_status check_byteorder(const cv_zip *z, const char *prefix, size_t plen, cv_error *err)
{
    const cv_zip_entry *e = find_under(z, prefix, plen, "byteorder", 9);
    if (e && !(e->size == 6 && memcmp(e->data, "little", 6) == 0))
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: byteorder entry is not \"little\" (big-endian "
                            "checkpoints are not supported)", cv_zip_path(z));
    return CV_OK;
}

/* The product of shape, or -1 if it does not fit in int64. */
static int64_t numel_of(const int64_t *shape, int ndim)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0)
            return 0;
    }
    for (int d = 0; d < ndim; d++) {
        if (shape[d] > INT64_MAX / n)
            return -1;
        n *= shape[d];
    }
    return n;
}

/* Row-major contiguity as torch defines it: dimensions of size 1 may have
 * any stride, and an empty tensor is contiguous. */
static int contiguous(const cv_pt_tensor *t)
{
    int64_t want = 1;
    if (t->numel == 0)
        return 1;
    for (int d = t->ndim; d-- > 0;) {
        if (t->shape[d] != 1 && t->stride[d] != want)
            return 0;
        want *= t->shape[d];   /* <= numel: cannot overflow */
    }
    return 1;
}

static void dims_str(char *buf, size_t cap, const int64_t *v, int n)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < n && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, d ? ", " : "", v[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

static cv_status stride_error(const cv_zip *z, const cv_pt_tensor *t, cv_error *err)
{
    char found[200], shape[200];
    dims_str(found, sizeof found, t->stride, t->ndim);
    dims_str(shape, sizeof shape, t->shape, t->ndim);
    return cv_error_set(err, CV_ERR_UNSUPPORTED,
                        "%s: tensor '%.*s' has non-contiguous strides %s for shape %s (expected row-major)",
                        cv_zip_path(z), SHOW(t->name), found, shape);
}

/* Copies name and storage key into one allocation owned by t->name. */
static cv_status set_names(const cv_zip *z, cv_pt_tensor *t, cv_pstr name, cv_pstr key, cv_error *err)
{
    if (memchr(name.p, 0, name.n) || memchr(key.p, 0, key.n))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor name or storage key contains a NUL byte",
                            cv_zip_path(z));
    t->name = malloc(name.n + key.n + 2);
    if (!t->name)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", cv_zip_path(z));
    memcpy(t->name, name.p, name.n);
    t->name[name.n] = 0;
    memcpy(t->name + name.n + 1, key.p, key.n);
    t->name[name.n + 1 + key.n] = 0;
    t->storage_key = t->name + name.n + 1;
    return CV_OK;
}

/* Finds the storage's entry and checks the tensor lies inside it. */
static cv_status locate(const cv_zip *z, const char *prefix, size_t plen, cv_pt_tensor *t, int64_t snumel,
                        cv_error *err)
{
    size_t klen = strlen(t->storage_key), es = cv_pt_dtype_size(t->dtype);
    char rest[16 + 256];
    if (klen > 256)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%.*s': storage key too long", cv_zip_path(z),
                            SHOW(t->name));
    memcpy(rest, "data/", 5);
    memcpy(rest + 5, t->storage_key, klen);
    const cv_zip_entry *e = find_under(z, prefix, plen, rest, 5 + klen);
    if (!e)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%.*s': no zip entry %.*s/data/%s for its storage",
                            cv_zip_path(z), SHOW(t->name), (int)plen, prefix, t->storage_key);
    if ((uint64_t)snumel > UINT64_MAX / es || (uint64_t)snumel * es != e->size)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: tensor '%.*s': storage '%s' holds %" PRId64 " %s elements but its entry has %" PRIu64
                            " bytes", cv_zip_path(z), SHOW(t->name), t->storage_key, snumel,
                            cv_pt_dtype_name(t->dtype), e->size);
    if (t->numel < 0 || t->offset > snumel || t->numel > snumel - t->offset)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: tensor '%.*s' does not fit in its storage (offset %" PRId64 " + %s%" PRId64
                            " elements > %" PRId64 ")", cv_zip_path(z), SHOW(t->name), t->offset,
                            t->numel < 0 ? "more than " : "", t->numel < 0 ? INT64_MAX : t->numel, snumel);
    /* Both products are <= the entry size, which lies inside the mapping. */
    t->data = e->data + (size_t)t->offset * es;
    t->nbytes = (size_t)t->numel * es;
    return CV_OK;
}

/* Turns the pickle's key/value pair into a checked cv_pt_tensor. */
static cv_status describe(const cv_zip *z, const char *prefix, size_t plen, const cv_pv *key, const cv_pv *val,
                          cv_pt_tensor *t, cv_error *err)
{
    if (key->kind != CV_PV_STR)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: state dict key is not a string (found %s)", cv_zip_path(z),
                            cv_pv_kind_name(key->kind));
    if (val->kind != CV_PV_TENSOR)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: state dict entry '%.*s' is not a tensor (found %s)",
                            cv_zip_path(z), (int)(key->u.s.n > 200 ? 200 : key->u.s.n), key->u.s.p,
                            cv_pv_kind_name(val->kind));
    const cv_pv *st = val->u.tensor.storage;
    cv_status s = set_names(z, t, key->u.s, st->u.storage.key, err);
    if (s)
        return s;
    t->dtype = st->u.storage.dtype;
    t->ndim = val->u.tensor.ndim;
    t->offset = val->u.tensor.offset;
    memcpy(t->shape, val->u.tensor.shape, sizeof t->shape);
    memcpy(t->stride, val->u.tensor.stride, sizeof t->stride);
    t->numel = numel_of(t->shape, t->ndim);
    if (t->numel >= 0 && !contiguous(t))
        return stride_error(z, t, err);
    return locate(z, prefix, plen, t, st->u.storage.numel, err);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const cv_pt_tensor *const *)a)->name, (*(const cv_pt_tensor *const *)b)->name);
}

/* The dict holding the tensors: root[top_key], or the root itself. */
static cv_status select_dict(const cv_zip *z, const cv_pv *root, const char *top_key, const cv_pv **dict,
                             cv_error *err)
{
    if (root->kind != CV_PV_DICT)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: the pickle holds no dict (found %s)", cv_zip_path(z),
                            cv_pv_kind_name(root->kind));
    *dict = top_key ? cv_pv_dict_get(root, top_key) : root;
    if (!*dict)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: no top-level key '%s'", cv_zip_path(z), top_key);
    if ((*dict)->kind != CV_PV_DICT)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: top-level entry '%s' is not a state dict (found %s)",
                            cv_zip_path(z), top_key, cv_pv_kind_name((*dict)->kind));
    return CV_OK;
}

/* Describes every entry of dict, then indexes them by name. */
static cv_status collect(cv_pt *pt, const char *prefix, size_t plen, const cv_pv *dict, cv_error *err)
{
    size_t n = dict->u.seq.n;
    pt->t = calloc(n ? n : 1, sizeof *pt->t);
    pt->by_name = calloc(n ? n : 1, sizeof *pt->by_name);
    if (!pt->t || !pt->by_name)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for %zu tensors", cv_zip_path(pt->zip), n);
    for (size_t i = 0; i < n; i++) {
        pt->n = i + 1;   /* so that cv_pt_close frees a half-filled entry */
        cv_status s = describe(pt->zip, prefix, plen, dict->u.seq.items[i], dict->u.seq.vals[i], &pt->t[i], err);
        if (s)
            return s;
        pt->by_name[i] = &pt->t[i];
    }
    qsort(pt->by_name, n, sizeof *pt->by_name, cmp_name);
    for (size_t i = 1; i < n; i++)   /* torch never writes one; a hostile file might */
        if (strcmp(pt->by_name[i - 1]->name, pt->by_name[i]->name) == 0)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%.*s' appears twice", cv_zip_path(pt->zip),
                                SHOW(pt->by_name[i]->name));
    return CV_OK;
}

static cv_status load(cv_pt *pt, const char *path, const char *top_key, cv_error *err)
{
    size_t plen = 0;
    const cv_zip_entry *pkl = NULL;
    cv_status s = find_prefix(pt->zip, &plen, &pkl, err);
    if (!s)
        s = check_byteorder(pt->zip, pkl->name, plen, err);
    if (s)
        return s;
    size_t wl = strlen(path) + pkl->name_len + 3;
    char *what = malloc(wl);
    if (!what)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", path);
    snprintf(what, wl, "%s: %.*s", path, (int)pkl->name_len, pkl->name);
    cv_pickle *pk = NULL;
    const cv_pv *dict = NULL;
    s = (uint64_t)pkl->size > SIZE_MAX ? cv_error_set(err, CV_ERR_NOMEM, "%s: too large", what)
                                       : cv_pickle_load(pkl->data, (size_t)pkl->size, what, &pk, err);
    if (!s)
        s = select_dict(pt->zip, cv_pickle_root(pk), top_key, &dict, err);
    if (!s)
        s = collect(pt, pkl->name, plen, dict, err);
    cv_pickle_free(pk);
    free(what);
    return s;
}

/* buf == NULL: map the file `path`; else read buf[0..size) named `path`. */
static cv_status pt_open(const void *buf, size_t size, const char *path, const char *top_key, cv_pt **out,
                         cv_error *err)
{
    *out = NULL;
    cv_pt *pt = calloc(1, sizeof *pt);
    if (!pt)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", path);
    cv_status s = buf ? cv_zip_open_mem(buf, size, path, &pt->zip, err) : cv_zip_open(path, &pt->zip, err);
    if (!s)
        s = load(pt, path, top_key, err);
    if (s) {
        cv_pt_close(pt);
        return s;
    }
    *out = pt;
    return CV_OK;
}

cv_status cv_pt_open(const char *path, const char *top_key, cv_pt **out, cv_error *err)
{
    return pt_open(NULL, 0, path, top_key, out, err);
}

cv_status cv_pt_open_mem(const void *buf, size_t size, const char *name, const char *top_key, cv_pt **out,
                         cv_error *err)
{
    static const char empty[1];
    return pt_open(buf ? buf : empty, buf ? size : 0, name, top_key, out, err);
}

size_t cv_pt_count(const cv_pt *pt) { return pt->n; }

const cv_pt_tensor *cv_pt_at(const cv_pt *pt, size_t i) { return i < pt->n ? &pt->t[i] : NULL; }

const cv_pt_tensor *cv_pt_find(const cv_pt *pt, const char *name)
{
    cv_pt_tensor key = { .name = (char *)name };
    const cv_pt_tensor *kp = &key;
    const cv_pt_tensor *const *hit = bsearch(&kp, pt->by_name, pt->n, sizeof *pt->by_name, cmp_name);
    return hit ? *hit : NULL;
}

void cv_pt_close(cv_pt *pt)
{
    if (!pt)
        return;
    for (size_t i = 0; i < pt->n; i++)
        free(pt->t[i].name);
    free(pt->t);
    free(pt->by_name);
    cv_zip_close(pt->zip);
    free(pt);
}
