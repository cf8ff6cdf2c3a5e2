/* corpus_main.c — replays files through a fuzz target without libFuzzer,
 * so that `make check` (and its sanitizer build) keeps every input a
 * fuzzer ever found interesting: the seeds, the corpus and each crash
 * reproducer, in testdata/fuzz/<target>/.
 *
 *   replay_TARGET FILE|DIR...   runs each file (a directory: its files, in
 *                               name order); prints how many ran
 *
 * A crash or a sanitizer report fails the run; the readers' own errors are
 * expected (most inputs are corrupt on purpose). */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mapfile.h"

/* The file through the target, read with the library's own mapping and
 * copied to a heap block of exactly its size, as libFuzzer passes inputs:
 * under ASan a read one byte past the input is then reported. */
static int run_file(const char *path)
{
    const unsigned char *data;
    size_t size;
    cv_error err;
    if (cv_map_file(path, &data, &size, &err) != CV_OK) {
        fprintf(stderr, "replay: %s\n", err.msg);
        return -1;
    }
    uint8_t *copy = malloc(size ? size : 1);
    if (copy && size)
        memcpy(copy, data, size);
    cv_unmap_file(data, size);
    if (!copy) {
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted; returns how many ran, -1 on error. */
static long run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open directory %s\n", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    long ran = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
            if (!nn) {
                ran = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2))) {
            ran = -1;
            break;
        }
        sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (ran >= 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            ran = run_file(names[i]) == 0 ? ran + 1 : -1;
        free(names[i]);
    }
    free(names);
    if (ran < 0)
        fprintf(stderr, "replay: failed in %s\n", dir);
    return ran;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            return 1;
        }
        long r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) == 0 ? 1 : -1);
        if (r < 0)
            return 1;
        total += r;
    }
    printf("%s: %ld inputs replayed\n", argv[0], total);
    return 0;
}
