/* fuzz_npy.c — an .npy file (generate --tokens, decode's ids, clusters'
 * codebooks) through cv_npy_load and the typed loaders. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4096];
    if (fuzz_write_temp(data, size, ".npy", path, sizeof path) != 0)
        return 0;
    cv_error err;
    cv_npy a;
    if (cv_npy_load(path, &a, &err) == CV_OK) {
        (void)fuzz_touch(a.data, a.nbytes);
        cv_npy_free(&a);
    }
    int64_t *ids = NULL;
    if (cv_npy_load_i64(path, &a, &ids, &err) == CV_OK) {
        (void)fuzz_touch(ids, a.count * sizeof *ids);
        free(ids);
    }
    float *f = NULL;
    if (cv_npy_load_f32(path, &a, &f, &err) == CV_OK) {
        (void)fuzz_touch(f, a.count * sizeof *f);
        free(f);
    }
    remove(path);
    return 0;
}
