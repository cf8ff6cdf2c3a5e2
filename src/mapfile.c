/* mapfile.c — read-only memory mapping of a whole regular file. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mmap, fstat, open */
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* madvise (glibc ignores posix_madvise's DONTNEED) */
#endif

#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Advice only: a kernel without THP (or another OS) simply ignores it. */
static void advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

cv_status cv_map_file(const char *path, const unsigned char **data, size_t *size, cv_error *err)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cv_error_set(err, CV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    cv_status s = CV_OK;
    if (fstat(fd, &st) != 0)
        s = cv_error_set(err, CV_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s = cv_error_set(err, CV_ERR_IO, "%s: not a regular file", path);
    else if ((uint64_t)st.st_size > SIZE_MAX)
        s = cv_error_set(err, CV_ERR_NOMEM, "%s: file too large to map", path);
    else if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            s = cv_error_set(err, CV_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        } else {
            advise_huge(m, (size_t)st.st_size);
            *data = m;
            *size = (size_t)st.st_size;
        }
    }
    close(fd);
    return s;
}

void cv_unmap_file(const unsigned char *data, size_t size)
{
    if (data)
        munmap((void *)data, size);
}

void cv_map_drop(const void *p, size_t len)
{
#ifdef MADV_DONTNEED
    const long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || len == 0)
        return;
    const uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    const uintptr_t b = ((uintptr_t)p + len) / (uintptr_t)pg * (uintptr_t)pg;
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED); /* advice: failure changes nothing */
#else
    (void)p;
    (void)len;
#endif
}

void *cv_alloc_big(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    advise_huge(p, bytes);
    return p;
}

void cv_free_big(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}
