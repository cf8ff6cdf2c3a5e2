/* ckpt_zip.c — PKZIP central directory reader for torch.save archives.
 *
 * Layout (APPNOTE.TXT): [local header, name, extra, data]*, central
 * directory (one record per entry), optionally a ZIP64 end record and its
 * locator, then the end of central directory (EOCD).  Every offset and size
 * read from the file is checked against the bytes that exist before use, in
 * 64-bit arithmetic that cannot overflow (all values are first bounded by
 * the file size), so a hostile archive yields an error, never a wild read. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "ckpt_zip.h"
#include "mapfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct cv_zip {
    char *path;
    const uint8_t *base;  /* the bytes of the archive */
    size_t size;
    const uint8_t *map;   /* non-NULL when we own an mmap of `size` bytes */
    cv_zip_entry *entries;
    size_t count;
};

enum {
    SIG_LOCAL = 0x04034b50u,
    SIG_CENTRAL = 0x02014b50u,
    SIG_EOCD = 0x06054b50u,
    SIG_EOCD64 = 0x06064b50u,
    SIG_LOC64 = 0x07064b50u,
    EOCD_LEN = 22,
    EOCD64_LEN = 56,
    LOC64_LEN = 20,
    CENTRAL_LEN = 46,
    LOCAL_LEN = 30
};

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Scans backwards for the EOCD: it is the last 22 bytes unless a comment
 * (at most 65535 bytes) follows it. */
static cv_status find_eocd(const cv_zip *z, uint64_t *pos, cv_error *err)
{
    if (z->size < EOCD_LEN)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: not a zip archive (expected at least %d bytes, file has %zu)", z->path,
                            EOCD_LEN, z->size);
    size_t lowest = z->size - EOCD_LEN > 65535 ? z->size - EOCD_LEN - 65535 : 0;
    for (size_t p = z->size - EOCD_LEN + 1; p-- > lowest;) {
        if (rd32(z->base + p) == SIG_EOCD && p + EOCD_LEN + rd16(z->base + p + 20) == z->size) {
            *pos = p;
            return CV_OK;
        }
    }
    return cv_error_set(err, CV_ERR_FORMAT,
                        "%s: not a zip archive (no end of central directory record; truncated file?)",
                        z->path);
}

/* Reads the central directory's entry count, size and offset, from the ZIP64
 * end record when a locator precedes the EOCD. */
static cv_status read_end(const cv_zip *z, uint64_t *count, uint64_t *cd_off, uint64_t *cd_size, cv_error *err)
{
    uint64_t e = 0;
    cv_status s = find_eocd(z, &e, err);
    if (s)
        return s;
    const uint8_t *p = z->base + e;
    *count = rd16(p + 10);
    *cd_size = rd32(p + 12);
    *cd_off = rd32(p + 16);
    int zip64 = e >= LOC64_LEN && rd32(z->base + e - LOC64_LEN) == SIG_LOC64;
    /* with ZIP64 the 16-bit fields may all be 0xFFFF: the ZIP64 record rules */
    if (!zip64 && (rd16(p + 4) != 0 || rd16(p + 6) != 0 || rd16(p + 8) != rd16(p + 10)))
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", z->path);
    if (zip64) {
        uint64_t r = rd64(z->base + e - LOC64_LEN + 8);
        if (r > e - LOC64_LEN || e - LOC64_LEN - r < EOCD64_LEN || rd32(z->base + r) != SIG_EOCD64)
            return cv_error_set(err, CV_ERR_FORMAT,
                                "%s: bad ZIP64 end of central directory (offset %" PRIu64 ")", z->path, r);
        p = z->base + r;
        if (rd32(p + 16) != 0 || rd32(p + 20) != 0 || rd64(p + 24) != rd64(p + 32))
            return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                                z->path);
        *count = rd64(p + 32);
        *cd_size = rd64(p + 40);
        *cd_off = rd64(p + 48);
        e = r;
    }
    if (*cd_off > e || *cd_size > e - *cd_off)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: central directory (offset %" PRIu64 ", %" PRIu64 " bytes) lies outside the "
                            "archive (end records at %" PRIu64 ")", z->path, *cd_off, *cd_size, e);
    if (*count > *cd_size / CENTRAL_LEN)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: central directory claims %" PRIu64 " entries in %" PRIu64 " bytes", z->path,
                            *count, *cd_size);
    return CV_OK;
}

/* Replaces each 0xFFFFFFFF among usize, csize, offset by the next 8 bytes of
 * the ZIP64 extra field (id 1), in that order, as APPNOTE 4.5.3 says. */
static int apply_zip64(const uint8_t *extra, size_t n, uint64_t *usize, uint64_t *csize, uint64_t *off)
{
    int need = (*usize == 0xffffffffu) + (*csize == 0xffffffffu) + (off && *off == 0xffffffffu);
    if (!need)
        return 1;
    for (size_t i = 0; i + 4 <= n;) {
        size_t id = rd16(extra + i), len = rd16(extra + i + 2);
        if (len > n - i - 4)
            return 0;
        if (id == 1) {
            const uint8_t *q = extra + i + 4;
            if (len < (size_t)need * 8)
                return 0;
            if (*usize == 0xffffffffu)
                *usize = rd64(q), q += 8;
            if (*csize == 0xffffffffu)
                *csize = rd64(q), q += 8;
            if (off && *off == 0xffffffffu)
                *off = rd64(q);
            return 1;
        }
        i += 4 + len;
    }
    return 0;
}

/* Names in messages are capped so the line stays readable. */
#define NAME_FMT "'%.*s'"
#define NAME_ARG(n, l) (int)((l) > 200 ? 200 : (l)), (const char *)(n)

/* Checks the local header of entry `e` (central values usize/csize/off) and
 * sets its data pointer. */
static cv_status check_local(const cv_zip *z, cv_zip_entry *e, uint64_t off, unsigned method, cv_error *err)
{
    if (off > z->size || z->size - off < LOCAL_LEN || rd32(z->base + off) != SIG_LOCAL)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: entry " NAME_FMT ": no local header at offset %" PRIu64,
                            z->path, NAME_ARG(e->name, e->name_len), off);
    const uint8_t *p = z->base + off;
    unsigned flags = rd16(p + 6);
    uint64_t csize = rd32(p + 18), usize = rd32(p + 22);
    size_t nl = rd16(p + 26), xl = rd16(p + 28);
    uint64_t head = (uint64_t)LOCAL_LEN + nl + xl;
    if (z->size - off < head)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: entry " NAME_FMT ": truncated local header at offset %" PRIu64,
                            z->path, NAME_ARG(e->name, e->name_len), off);
    int sizes_ok = apply_zip64(p + LOCAL_LEN + nl, xl, &usize, &csize, NULL) &&
                   ((csize == e->size && usize == e->size) || ((flags & 8) && csize == 0 && usize == 0));
    if (nl != e->name_len || memcmp(p + LOCAL_LEN, e->name, nl) != 0 || rd16(p + 8) != method || !sizes_ok)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: entry " NAME_FMT ": local header at offset %" PRIu64
                            " disagrees with the central directory (name, method or sizes)",
                            z->path, NAME_ARG(e->name, e->name_len), off);
    if (z->size - off - head < e->size)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: entry " NAME_FMT ": truncated data (expected %" PRIu64 " bytes at offset %" PRIu64
                            ", file has %zu)", z->path, NAME_ARG(e->name, e->name_len), e->size, off + head,
                            z->size);
    e->data = p + head;
    return CV_OK;
}

/* Parses the central record at *pos into e and advances *pos. */
static cv_status read_central(const cv_zip *z, uint64_t *pos, uint64_t end, cv_zip_entry *e, cv_error *err)
{
    if (end - *pos < CENTRAL_LEN || rd32(z->base + *pos) != SIG_CENTRAL)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: bad central directory record at offset %" PRIu64, z->path,
                            *pos);
    const uint8_t *p = z->base + *pos;
    unsigned flags = rd16(p + 8), method = rd16(p + 10);
    uint64_t csize = rd32(p + 20), usize = rd32(p + 24), off = rd32(p + 42);
    size_t nl = rd16(p + 28), xl = rd16(p + 30), cl = rd16(p + 32);
    if (end - *pos - CENTRAL_LEN < (uint64_t)nl + xl + cl)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: truncated central directory record at offset %" PRIu64,
                            z->path, *pos);
    e->name = (const char *)p + CENTRAL_LEN;
    e->name_len = nl;
    if (!apply_zip64(p + CENTRAL_LEN + nl, xl, &usize, &csize, &off))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: entry " NAME_FMT ": bad ZIP64 extra field", z->path,
                            NAME_ARG(e->name, nl));
    if (flags & 1)
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: entry " NAME_FMT " is encrypted", z->path,
                            NAME_ARG(e->name, nl));
    if (method != 0)
        return cv_error_set(err, CV_ERR_UNSUPPORTED,
                            "%s: entry " NAME_FMT " is compressed (method %u); torch.save writes stored entries only",
                            z->path, NAME_ARG(e->name, nl), method);
    if (csize != usize)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: entry " NAME_FMT " is stored but its sizes differ (%" PRIu64 " and %" PRIu64 ")",
                            z->path, NAME_ARG(e->name, nl), csize, usize);
    e->size = usize;
    *pos += CENTRAL_LEN + (uint64_t)nl + xl + cl;
    return check_local(z, e, off, method, err);
}

static cv_status read_directory(cv_zip *z, cv_error *err)
{
    uint64_t count = 0, cd_off = 0, cd_size = 0;
    cv_status s = read_end(z, &count, &cd_off, &cd_size, err);
    if (s)
        return s;
    z->entries = calloc(count ? (size_t)count : 1, sizeof *z->entries);
    if (!z->entries)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for %" PRIu64 " zip entries", z->path, count);
    uint64_t pos = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        s = read_central(z, &pos, end, &z->entries[i], err);
        if (s)
            return s;
        z->count++;
    }
    return CV_OK;
}

static cv_status zip_new(const char *path, cv_zip **out, cv_error *err)
{
    *out = NULL;
    cv_zip *z = calloc(1, sizeof *z);
    size_t n = strlen(path);
    if (z)
        z->path = malloc(n + 1);
    if (!z || !z->path) {
        free(z);
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(z->path, path, n + 1);
    *out = z;
    return CV_OK;
}

static cv_status finish(cv_zip *z, cv_zip **out, cv_error *err)
{
    cv_status s = read_directory(z, err);
    if (s) {
        cv_zip_close(z);
        return s;
    }
    *out = z;
    return CV_OK;
}

cv_status cv_zip_open_mem(const void *buf, size_t size, const char *path, cv_zip **out, cv_error *err)
{
    cv_zip *z = NULL;
    cv_status s = zip_new(path, &z, err);
    if (s)
        return s;
    *out = NULL;
    z->base = buf;
    z->size = size;
    return finish(z, out, err);
}

static cv_status map_file(cv_zip *z, cv_error *err)
{
    const unsigned char *m;
    size_t size;
    cv_status s = cv_map_file(z->path, &m, &size, err);
    if (!s && size < EOCD_LEN) /* includes 0 bytes, which are not mapped */
        s = cv_error_set(err, CV_ERR_FORMAT, "%s: not a zip archive (expected at least %d bytes, file has %zu)",
                         z->path, EOCD_LEN, size);
    if (s) {
        cv_unmap_file(m, size);
        return s;
    }
    z->map = m;
    z->base = m;
    z->size = size;
    return CV_OK;
}

cv_status cv_zip_open(const char *path, cv_zip **out, cv_error *err)
{
    cv_zip *z = NULL;
    cv_status s = zip_new(path, &z, err);
    if (s)
        return s;
    *out = NULL;
    s = map_file(z, err);
    if (s) {
        cv_zip_close(z);
        return s;
    }
    return finish(z, out, err);
}

size_t cv_zip_count(const cv_zip *z) { return z->count; }

const cv_zip_entry *cv_zip_at(const cv_zip *z, size_t i) { return i < z->count ? &z->entries[i] : NULL; }

const char *cv_zip_path(const cv_zip *z) { return z->path; }

const cv_zip_entry *cv_zip_find(const cv_zip *z, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < z->count; i++)
        if (z->entries[i].name_len == n && memcmp(z->entries[i].name, name, n) == 0)
            return &z->entries[i];
    return NULL;
}

void cv_zip_close(cv_zip *z)
{
    if (!z)
        return;
    if (z->map)
        cv_unmap_file(z->map, z->size);
    free(z->entries);
    free(z->path);
    free(z);
}
