/* ckpt_zip.h — read-only view of a PKZIP archive as torch.save writes it.
 *
 * torch.save (since 1.6) writes an uncompressed zip: every entry is "stored"
 * (method 0), so a tensor's bytes can be used straight from a read-only
 * mmap of the file, never copied.  Archives of real checkpoints exceed 4 GB,
 * so ZIP64 end records and extra fields are understood.
 *
 * The central directory is the truth; each entry's local header must agree
 * with it (same name, method and sizes), and its data must lie inside the
 * file.  Compressed or encrypted entries, multi-disk archives and anything
 * that does not add up are errors, one line naming the file, e.g.
 *   "x.pt: entry 'archive/data/0' is compressed (method 8); torch.save writes stored entries only". */
#ifndef CV_CKPT_ZIP_H
#define CV_CKPT_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;      /* points into the mapping: NOT NUL-terminated */
    size_t name_len;
    const uint8_t *data;   /* the entry's bytes, inside the mapping */
    uint64_t size;
} cv_zip_entry;

typedef struct cv_zip cv_zip;

/* Maps `path` and reads its central directory.  On failure *out is NULL. */
cv_status cv_zip_open(const char *path, cv_zip **out, cv_error *err);

/* Same, on bytes the caller keeps alive (tests; `path` only names errors). */
cv_status cv_zip_open_mem(const void *buf, size_t size, const char *path, cv_zip **out, cv_error *err);

size_t cv_zip_count(const cv_zip *z);
const cv_zip_entry *cv_zip_at(const cv_zip *z, size_t i);
/* The entry named exactly `name` (NUL-terminated), or NULL. */
const cv_zip_entry *cv_zip_find(const cv_zip *z, const char *name);
const char *cv_zip_path(const cv_zip *z);

/* Unmaps the file (every pointer into it becomes invalid).  NULL is fine. */
void cv_zip_close(cv_zip *z);

#ifdef __cplusplus
}
#endif
#endif
