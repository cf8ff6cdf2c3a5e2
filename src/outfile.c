/* outfile.c — temporary file + rename, so failures leave nothing behind. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open flags, fsync, fdopen, clock_gettime */
#endif

#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* splitmix64: spreads the few varying bits of pid/time/attempt over the name. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* Fills the six X of "PATH.tmp.XXXXXX".  Not mkstemp(): that creates the file
 * with mode 0600, and reading the umask to fix it would change process state. */
static void fill_suffix(char *x, unsigned attempt)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    struct timespec ts = { 0, 0 };
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t r = mix64((uint64_t)getpid() ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                       ((uint64_t)attempt << 48) ^ (uint64_t)(uintptr_t)&ts);
    for (int i = 0; i < 6; i++) {
        x[i] = alnum[r % 62];
        r /= 62;
    }
}

static int create_tmp(char *tmp, size_t base_len)
{
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        fill_suffix(tmp + base_len, attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

cv_status cv_outfile_open(cv_outfile *of, const char *path, cv_error *err)
{
    of->fp = NULL;
    of->path = of->tmp = NULL;
    size_t n = strlen(path);
    of->path = malloc(n + 1);
    of->tmp = malloc(n + sizeof ".tmp.XXXXXX");
    if (!of->path || !of->tmp) {
        free(of->path);
        free(of->tmp);
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(of->path, path, n + 1);
    memcpy(of->tmp, path, n);
    memcpy(of->tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = create_tmp(of->tmp, n + 5);
    if (fd >= 0) {
        of->fp = fdopen(fd, "wb");
        if (!of->fp) {
            int e = errno ? errno : EIO;
            close(fd);
            unlink(of->tmp);
            errno = e;
        }
    }
    if (!of->fp) {
        cv_status s = cv_error_set(err, CV_ERR_IO, "%s: cannot create temporary file %s: %s", path,
                                   of->tmp, strerror(errno));
        free(of->path);
        free(of->tmp);
        of->path = of->tmp = NULL;
        return s;
    }
    return CV_OK;
}

cv_status cv_outfile_write(cv_outfile *of, const void *data, size_t n, cv_error *err)
{
    if (!of->fp)
        return cv_error_set(err, CV_ERR_ARG, "%s: write after the output was closed",
                            of->path ? of->path : "(output)");
    if (n && fwrite(data, 1, n, of->fp) != n) {
        cv_status s = cv_error_set(err, CV_ERR_IO, "%s: write failed: %s", of->path, strerror(errno));
        cv_outfile_abort(of);
        return s;
    }
    return CV_OK;
}

cv_status cv_outfile_write_zeros(cv_outfile *of, size_t n, cv_error *err)
{
    static const unsigned char zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        cv_status s = cv_outfile_write(of, zeros, k, err);
        if (s)
            return s;
        n -= k;
    }
    return CV_OK;
}

cv_status cv_outfile_commit(cv_outfile *of, cv_error *err)
{
    if (!of->fp)
        return cv_error_set(err, CV_ERR_ARG, "%s: commit after the output was closed",
                            of->path ? of->path : "(output)");
    /* fsync before rename: otherwise a crash shortly after could leave PATH
     * pointing at a file whose data never reached the disk. */
    const char *what = NULL;
    int e = 0;
    if (fflush(of->fp) != 0 || ferror(of->fp))
        what = "write failed", e = errno ? errno : EIO;
    else if (fsync(fileno(of->fp)) != 0 && errno != EINVAL)
        what = "fsync failed", e = errno ? errno : EIO;
    if (fclose(of->fp) != 0 && !what)
        what = "close failed", e = errno ? errno : EIO;
    of->fp = NULL;
    if (!what && rename(of->tmp, of->path) != 0)
        what = "rename of the temporary file failed", e = errno ? errno : EIO;
    cv_status s = CV_OK;
    if (what) {
        s = cv_error_set(err, CV_ERR_IO, "%s: %s: %s", of->path, what, strerror(e));
        unlink(of->tmp);
    }
    free(of->path);
    free(of->tmp);
    of->path = of->tmp = NULL;
    return s;
}

void cv_outfile_abort(cv_outfile *of)
{
    if (of->fp) {
        fclose(of->fp);
        of->fp = NULL;
        unlink(of->tmp);
    }
    free(of->path);
    free(of->tmp);
    of->path = of->tmp = NULL;
}
