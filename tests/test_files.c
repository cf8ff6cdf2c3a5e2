/* test_files.c — scratch files for the cmocka tests (see test_files.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp, opendir */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_files.h"

char cv_test_tmpdir[4096];
static const char *dir_name = "cv_test";

void cv_test_dir_name(const char *name) { dir_name = name; }

int cv_test_setup_dir(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(cv_test_tmpdir, sizeof cv_test_tmpdir, "%s/%s.XXXXXX", base && *base ? base : "/tmp", dir_name);
    return mkdtemp(cv_test_tmpdir) ? 0 : -1;
}

void cv_test_empty_dir(void)
{
    DIR *d = opendir(cv_test_tmpdir);
    struct dirent *e;
    char p[8192];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", cv_test_tmpdir, e->d_name);
        remove(p);
    }
    if (d)
        closedir(d);
}

int cv_test_teardown_dir(void **state)
{
    (void)state;
    cv_test_empty_dir();
    return rmdir(cv_test_tmpdir);
}

int cv_test_count_files(void)
{
    DIR *d = opendir(cv_test_tmpdir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

/* A path in the test directory; four rotating buffers, so a test can hold
 * a few at once. */
const char *cv_test_path(const char *name)
{
    static char p[4][8192];
    static unsigned k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", cv_test_tmpdir, name);
    return p[k];
}

/* Removes the old file first: overwriting it in place (O_TRUNC) makes ext4
 * flush it on close (auto_da_alloc), which made the loops below 10x slower. */
void cv_test_write_bytes(const char *path, const void *b, size_t n)
{
    remove(path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

unsigned char *cv_test_read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

void cv_test_patch_gguf_value(const char *in, const char *out, const char *key, uint32_t type, const void *value,
                              size_t size)
{
    size_t n;
    unsigned char *b = cv_test_read_all(in, &n);
    const size_t len = strlen(key);
    unsigned char *k = NULL;
    for (size_t i = 0; i + len + 4 + size <= n && !k; i++)
        if (!memcmp(b + i, key, len))
            k = b + i;
    if (!k)
        fail_msg("%s: no key '%s'", in, key);
    assert_memory_equal(k + len, &type, 4); /* the key, its value type, then the value */
    memcpy(k + len + 4, value, size);
    cv_test_write_bytes(out, b, n);
    free(b);
}
