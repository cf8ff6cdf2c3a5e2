/* fuzz_util.c — helpers shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int fuzz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}

int fuzz_write_temp(const uint8_t *data, size_t size, const char *suffix, char *path, size_t n)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int len = snprintf(path, n, "%s/cv-fuzz-%ld%s", dir, (long)getpid(), suffix);
    if (len < 0 || (size_t)len >= n)
        return -1;
    return fuzz_write_file(path, data, size);
}

unsigned fuzz_touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31u + b[i];
    return s;
}
