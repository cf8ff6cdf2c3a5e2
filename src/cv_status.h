/* cv_status.h — status codes and error messages shared by every module.
 *
 * Library functions never print and never exit: they return a cv_status and,
 * on failure, fill a caller-provided cv_error with one line of text that
 * names the file (or flag, or tensor) and says what was expected, e.g.
 *   "model.gguf: truncated tensor data (expected 4096 bytes at offset 128)".
 * The CLI prints it once, as "cogvideo: <msg>". */
#ifndef CV_STATUS_H
#define CV_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CV_OK = 0,
    CV_ERR_IO,          /* open/read/write/mmap/rename failed */
    CV_ERR_FORMAT,      /* the bytes are not what the format allows */
    CV_ERR_UNSUPPORTED, /* valid format, but a feature we do not handle */
    CV_ERR_NOMEM,       /* allocation failed or a size would overflow */
    CV_ERR_ARG,         /* the caller passed an invalid argument */
    CV_ERR_CANCELLED    /* a caller's callback asked to stop (e.g. on Ctrl-C) */
} cv_status;

#define CV_ERROR_MAX 512

typedef struct {
    char msg[CV_ERROR_MAX];
} cv_error;

/* Formats the message into err (if err is not NULL) and returns s. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
cv_status cv_error_set(cv_error *err, cv_status s, const char *fmt, ...);

/* A short name for a status ("I/O error", "format error", ...). */
const char *cv_status_str(cv_status s);

#ifdef __cplusplus
}
#endif
#endif
