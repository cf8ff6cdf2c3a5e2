/* sha256.h — SHA-256 (FIPS 180-4), for the model digests in run.json: a
 * run records exactly which files made it.  No Debian C library we already
 * depend on offers it, and it is 100 lines. */
#ifndef CV_SHA256_H
#define CV_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    uint8_t buf[64];
    size_t nbuf;
} cv_sha256;

void cv_sha256_init(cv_sha256 *c);
void cv_sha256_update(cv_sha256 *c, const void *data, size_t n);
void cv_sha256_final(cv_sha256 *c, uint8_t out[32]);

/* The digest of a whole file as 64 lowercase hex digits + NUL. */
cv_status cv_sha256_file(const char *path, char hex[65], cv_error *err);

#ifdef __cplusplus
}
#endif
#endif
