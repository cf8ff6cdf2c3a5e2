/* mapfile.h — read-only memory mapping of a whole regular file.
 *
 * Model files are read in place (no copy of the weights): the GGUF reader
 * and the .pt zip reader both map their file with this. */
#ifndef CV_MAPFILE_H
#define CV_MAPFILE_H

#include <stddef.h>

#include "cv_status.h"

/* Maps `path` read-only.  On success, data and size describe the bytes; an
 * empty file gives *data == NULL and *size == 0 (mmap cannot map 0 bytes),
 * which callers reject with their format's own "too short" message.
 * Errors: cannot open / not a regular file / too large / cannot map. */
cv_status cv_map_file(const char *path, const unsigned char **data, size_t *size, cv_error *err);

/* Gives back the resident pages wholly inside [p, p + len) of a read-only
 * file mapping (they are re-read from the file if touched again): the
 * converter streams a 15 GB checkpoint tensor by tensor and drops each one
 * after use, so its resident size stays about one tensor, not the file. */
void cv_map_drop(const void *p, size_t len);

/* Releases a mapping made by cv_map_file (NULL is a no-op). */
void cv_unmap_file(const unsigned char *data, size_t size);

/* Zeroed anonymous memory for the big buffers the kernels stream (random
 * weights, the bandwidth benchmark's buffer), advised for transparent huge
 * pages (Linux's default THP mode, "madvise", gives them only on request).
 * With 4 KiB pages a stream of 15 GB takes a TLB miss every 4 KiB, and the
 * page tables themselves (30 MB) no longer fit the caches.  cv_map_file
 * gives the same advice for model files (ext4 then maps them with 2 MiB
 * folios).  Returns NULL when out of memory; bytes > 0. */
void *cv_alloc_big(size_t bytes);

/* Frees what cv_alloc_big returned (NULL is a no-op); bytes as allocated. */
void cv_free_big(void *p, size_t bytes);

#endif
