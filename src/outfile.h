/* outfile.h — write a file under a temporary name, rename it on success.
 *
 * Every output of cogvideo (.npy, .gguf, images) goes through this so that a
 * failure (full disk, bad data, a crash) never leaves a half-written file
 * under the final name: bytes go to "PATH.tmp.XXXXXX" in the same directory
 * (same file system, so rename() is atomic), which cv_outfile_commit()
 * flushes, fsyncs and renames to PATH, and cv_outfile_abort() removes.
 * The temporary file is created with mode 0666 & ~umask, like fopen(path,"w").
 *
 *   cv_outfile of;
 *   if (cv_outfile_open(&of, path, err)) return ...;
 *   if (cv_outfile_write(&of, buf, n, err)) return ...;   // aborted already
 *   return cv_outfile_commit(&of, err);                   // aborts on failure
 *
 * cv_outfile_write and cv_outfile_commit abort (remove the temporary file)
 * themselves when they fail; cv_outfile_abort is for the caller's own errors
 * and is a no-op on an outfile that is already committed or aborted. */
#ifndef CV_OUTFILE_H
#define CV_OUTFILE_H

#include <stdio.h>

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    FILE *fp;   /* NULL once committed or aborted */
    char *path; /* final name */
    char *tmp;  /* temporary name */
} cv_outfile;

cv_status cv_outfile_open(cv_outfile *of, const char *path, cv_error *err);
cv_status cv_outfile_write(cv_outfile *of, const void *data, size_t n, cv_error *err);
/* Writes n zero bytes. */
cv_status cv_outfile_write_zeros(cv_outfile *of, size_t n, cv_error *err);
cv_status cv_outfile_commit(cv_outfile *of, cv_error *err);
void cv_outfile_abort(cv_outfile *of);

#ifdef __cplusplus
}
#endif
#endif
