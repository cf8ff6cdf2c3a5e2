/* clusters_fixture.c — input files for tests/test_clusters.sh (the shell
 * cannot write .npy or GGUF):
 *
 *   clusters_fixture DIR              writes into DIR
 *       cb.npy     f32 [240, 6]: 4 well-separated blobs (every value exact
 *                  in f16, so cb.gguf holds the very same numbers)
 *       cb.gguf    the same as tensor quantize.embed.weight, f16
 *       truth.npy  int64 [240]: the blob of each row
 *       cube.npy   f32 [2, 3, 4]          other.gguf  no quantize.embed.weight
 *   clusters_fixture --same-partition A.npy B.npy
 *       exit 0 when the int64 labels A and B split the rows the same way
 *       (equal up to renaming the clusters), else 1 with a message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cv_types.h"
#include "gguf.h"
#include "npy.h"
#include "rng.h"

enum { N = 240, D = 6, G = 4 };

static double urand(uint32_t i)
{
    double u[2];
    cv_rng_uniform2((cv_rng_key){.seed = 77, .domain = 9, .step = i}, u);
    return u[0];
}

static int fail(const cv_error *err)
{
    fprintf(stderr, "clusters_fixture: %s\n", err->msg);
    return 1;
}

static int write_all(const char *dir)
{
    static float x[N * D];
    static uint16_t h[N * D];
    static int64_t truth[N];
    char p[4096];
    cv_error err;
    uint32_t c = 0;
    for (int i = 0; i < N; i++) {
        truth[i] = i % G;
        for (int j = 0; j < D; j++) { /* centre 32*blob in coordinate 0; offsets k/8, |k| <= 8 */
            const double centre = j == 0 ? 32.0 * (double)truth[i] : 0;
            x[i * D + j] = (float)(centre + ((int)(17 * urand(c++)) - 8) / 8.0);
            h[i * D + j] = cv_f32_to_f16(x[i * D + j]);
        }
    }
    const int64_t shape[2] = {N, D}, n1[1] = {N}, cube[3] = {2, 3, 4};
    snprintf(p, sizeof p, "%s/cb.npy", dir);
    if (cv_npy_save(p, CV_DT_F32, 2, shape, x, &err))
        return fail(&err);
    snprintf(p, sizeof p, "%s/truth.npy", dir);
    if (cv_npy_save(p, CV_DT_I64, 1, n1, truth, &err))
        return fail(&err);
    snprintf(p, sizeof p, "%s/cube.npy", dir);
    if (cv_npy_save(p, CV_DT_F32, 3, cube, x, &err))
        return fail(&err);
    const char *names[2] = {"cb.gguf", "other.gguf"};
    for (int f = 0; f < 2; f++) {
        cv_gguf_writer *w;
        snprintf(p, sizeof p, "%s/%s", dir, names[f]);
        if (cv_gguf_writer_new(&w, p, 0, &err) ||
            cv_gguf_writer_add_tensor(w, f ? "quantize.other" : "quantize.embed.weight", CV_TYPE_F16, 2, shape, h,
                                      &err) ||
            cv_gguf_writer_write(w, &err)) {
            cv_gguf_writer_free(w);
            return fail(&err);
        }
        cv_gguf_writer_free(w);
    }
    return 0;
}

static int same_partition(const char *pa, const char *pb)
{
    cv_npy a, b;
    int64_t *x, *y;
    cv_error err;
    if (cv_npy_load_i64(pa, &a, &x, &err) || cv_npy_load_i64(pb, &b, &y, &err))
        return fail(&err);
    int bad = a.count != b.count;
    for (size_t i = 0; i < a.count && !bad; i++)
        for (size_t j = i + 1; j < a.count && !bad; j++)
            bad = (x[i] == x[j]) != (y[i] == y[j]);
    if (bad)
        fprintf(stderr, "clusters_fixture: %s and %s split the rows differently\n", pa, pb);
    free(x);
    free(y);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 2)
        return write_all(argv[1]);
    if (argc == 4 && !strcmp(argv[1], "--same-partition"))
        return same_partition(argv[2], argv[3]);
    fprintf(stderr, "usage: clusters_fixture DIR | --same-partition A.npy B.npy\n");
    return 2;
}
