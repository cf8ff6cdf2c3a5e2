/* util.c — small helpers shared by the subcommands: flag values, output
 * directories. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"

int cv_cli_int(const char *flag, const char *s, int lo, int hi, int *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return cv_cli_fail(CV_EXIT_USAGE, "%s: '%s' is not an integer in %d .. %d", flag, s, lo, hi);
    *v = (int)x;
    return CV_EXIT_OK;
}

int cv_cli_float(const char *flag, const char *s, float lo, float hi, float *v)
{
    char *end;
    errno = 0;
    float x = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(x) || x < lo || x > hi)
        return cv_cli_fail(CV_EXIT_USAGE, "%s: '%s' is not a number in %g .. %g", flag, s, (double)lo, (double)hi);
    *v = x;
    return CV_EXIT_OK;
}

cv_status cv_cli_load_ids(const char *path, size_t max, cv_npy *a, int64_t **v, cv_error *err)
{
    cv_status s = cv_npy_load_i64(path, a, v, err);
    if (!s)
        a->data = *v;
    if (!s && (a->ndim != 1 || a->count < 1 || a->count > max))
        s = cv_error_set(err, CV_ERR_ARG, "%s: shape does not fit (expected a non-empty int64 vector)", path);
    return s;
}

cv_status cv_cli_make_dir(const char *path, cv_error *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return cv_error_set(err, CV_ERR_ARG, "output directory name of %zu bytes (expected 1..%zu)", n,
                            sizeof buf - 1);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        const char c = buf[i];
        buf[i] = '\0';
        struct stat sb;
        if (mkdir(buf, 0777) != 0 && (errno != EEXIST || stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)))
            return cv_error_set(err, CV_ERR_IO, "%s: cannot create directory (%s)", buf,
                                errno == EEXIST ? "a file of that name exists" : strerror(errno));
        buf[i] = c;
    }
    return CV_OK;
}
