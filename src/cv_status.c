/* cv_status.c — formatting of one-line error messages. */
#include "cv_status.h"

#include <stdarg.h>
#include <stdio.h>

cv_status cv_error_set(cv_error *err, cv_status s, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return s;
}

const char *cv_status_str(cv_status s)
{
    switch (s) {
    case CV_OK: return "success";
    case CV_ERR_IO: return "I/O error";
    case CV_ERR_FORMAT: return "format error";
    case CV_ERR_UNSUPPORTED: return "unsupported";
    case CV_ERR_NOMEM: return "out of memory";
    case CV_ERR_ARG: return "invalid argument";
    case CV_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

/* Declared in cogvideo.h; kept here to avoid a file for one line. */
const char *cv_version(void);
const char *cv_version(void) { return "0.1.0"; }
