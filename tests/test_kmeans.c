/* test_kmeans.c — k-means (src/kmeans.c) and the codebook readers
 * (src/codebook.c) behind `cogvideo clusters`:
 *   - well-separated synthetic clusters are recovered exactly (as a
 *     partition), for several seeds;
 *   - labels and centroids are bit-identical for 1, 2, 3 threads and the
 *     default;
 *   - a converged run is a Lloyd fixed point, checked independently in
 *     double: every row's centroid is its nearest, every centroid the mean
 *     of its rows;
 *   - duplicate rows (k above the number of distinct rows) end with labels
 *     in range and empty clusters re-seeded;
 *   - bad arguments and bad files give one-line errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codebook.h"
#include "cv_types.h"
#include "gguf.h"
#include "kmeans.h"
#include "npy.h"
#include "rng.h"
#include "test_files.h"

/* Test data from the counter RNG (domain 7: a test's own stream). */
static double urand(uint64_t seed, uint32_t i)
{
    double u[2];
    cv_rng_uniform2((cv_rng_key){.seed = seed, .domain = 7, .step = i}, u);
    return u[0];
}

/* n rows of d values in g blobs: centre coordinates uniform in [-100, 100],
 * offsets the sum of 3 uniforms in [-1, 1] (|offset| < 3); truth[i] = blob. */
static float *blobs(int n, int d, int g, uint64_t seed, int64_t *truth)
{
    float *x = malloc((size_t)n * (size_t)d * sizeof *x);
    uint32_t c = 0;
    double *ctr = malloc((size_t)g * (size_t)d * sizeof *ctr);
    for (int i = 0; i < g * d; i++)
        ctr[i] = 200 * urand(seed, c++) - 100;
    for (int i = 0; i < n; i++) {
        const int b = i % g;
        truth[i] = b;
        for (int j = 0; j < d; j++) {
            double o = 0;
            for (int r = 0; r < 3; r++)
                o += 2 * urand(seed, c++) - 1;
            x[(size_t)i * (size_t)d + (size_t)j] = (float)(ctr[b * d + j] + o);
        }
    }
    free(ctr);
    return x;
}

/* Labels a and b induce the same partition (a bijection between ids). */
static bool same_partition(const int32_t *a, const int64_t *b, int n, int k)
{
    int64_t *map = malloc((size_t)k * sizeof *map);
    bool ok = true;
    for (int j = 0; j < k; j++)
        map[j] = -1;
    for (int i = 0; i < n && ok; i++) {
        if (map[a[i]] < 0)
            map[a[i]] = b[i];
        ok = map[a[i]] == b[i];
    }
    for (int j = 0; j < k && ok; j++) /* injective: k distinct targets */
        for (int l = j + 1; l < k && ok; l++)
            ok = map[j] != map[l];
    free(map);
    return ok;
}

static void run(const float *x, int n, int d, cv_kmeans_opts o, int32_t *lab, float *cent, cv_kmeans_result *r)
{
    cv_error err;
    if (cv_kmeans(x, n, d, &o, lab, cent, r, &err))
        fail_msg("%s", err.msg);
}

static void test_recovers_blobs(void **state)
{
    (void)state;
    enum { N = 600, D = 8, G = 6 };
    int64_t truth[N];
    int32_t lab[N];
    float *x = blobs(N, D, G, 11, truth);
    for (uint64_t seed = 0; seed < 5; seed++) {
        cv_kmeans_result r;
        run(x, N, D, (cv_kmeans_opts){.k = G, .max_iters = 50, .seed = seed}, lab, NULL, &r);
        printf("  seed %llu: %d iterations, converged %d, inertia %.1f\n", (unsigned long long)seed, r.iters,
               r.converged, r.inertia);
        assert_true(r.converged);
        assert_true(same_partition(lab, truth, N, G));
    }
    free(x);
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 2000, D = 16, K = 40 };
    float *x = malloc(N * D * sizeof *x); /* uniform: no obvious clusters, many iterations */
    for (int i = 0; i < N * D; i++)
        x[i] = (float)urand(3, (uint32_t)i);
    int32_t *l1 = malloc(N * sizeof *l1), *l2 = malloc(N * sizeof *l2);
    float *c1 = malloc(K * D * sizeof *c1), *c2 = malloc(K * D * sizeof *c2);
    cv_kmeans_result r1, r2;
    run(x, N, D, (cv_kmeans_opts){.k = K, .max_iters = 30, .seed = 9, .threads = 1}, l1, c1, &r1);
    const int nts[3] = {2, 3, 0};
    for (int t = 0; t < 3; t++) {
        run(x, N, D, (cv_kmeans_opts){.k = K, .max_iters = 30, .seed = 9, .threads = nts[t]}, l2, c2, &r2);
        assert_memory_equal(l1, l2, N * sizeof *l1);
        assert_memory_equal(c1, c2, K * D * sizeof *c1);
        assert_true(r1.inertia == r2.inertia && r1.iters == r2.iters);
    }
    printf("  %d iterations, inertia %.3f: identical for 1, 2, 3 and the default threads\n", r1.iters, r1.inertia);
    run(x, N, D, (cv_kmeans_opts){.k = K, .max_iters = 30, .seed = 10, .threads = 1}, l2, c2, &r2);
    assert_true(memcmp(l1, l2, N * sizeof *l1) != 0); /* the seed matters */
    free(x);
    free(l1);
    free(l2);
    free(c1);
    free(c2);
}

/* A converged run is a fixed point of Lloyd's two steps (checked in
 * double, with float-rounding slack). */
static void test_fixed_point(void **state)
{
    (void)state;
    enum { N = 1500, D = 4, K = 10 };
    float x[N * D], cent[K * D];
    for (int i = 0; i < N * D; i++)
        x[i] = (float)urand(5, (uint32_t)i);
    int32_t lab[N];
    cv_kmeans_result r;
    run(x, N, D, (cv_kmeans_opts){.k = K, .max_iters = 500, .seed = 1}, lab, cent, &r);
    assert_true(r.converged);
    double sum[K * D] = {0}, inertia = 0;
    int cnt[K] = {0};
    for (int i = 0; i < N; i++) {
        double best = INFINITY, mine = 0;
        for (int c = 0; c < K; c++) {
            double s = 0;
            for (int j = 0; j < D; j++)
                s += ((double)x[i * D + j] - cent[c * D + j]) * ((double)x[i * D + j] - cent[c * D + j]);
            best = s < best ? s : best;
            mine = c == lab[i] ? s : mine;
        }
        assert_true(mine <= best + 1e-6);
        inertia += mine;
        cnt[lab[i]]++;
        for (int j = 0; j < D; j++)
            sum[lab[i] * D + j] += x[i * D + j];
    }
    for (int c = 0; c < K; c++) {
        assert_true(cnt[c] > 0);
        for (int j = 0; j < D; j++)
            assert_true(fabs(sum[c * D + j] / cnt[c] - cent[c * D + j]) < 1e-6);
    }
    printf("  %d iterations; nearest-centroid and mean checks hold; inertia %.6f (ours %.6f)\n", r.iters, inertia,
           r.inertia);
    assert_true(fabs(inertia - r.inertia) < 1e-4 * inertia);
}

static void test_duplicates(void **state)
{
    (void)state;
    const float x[8] = {1, 1, 1, 5, 5, 9, 9, 9}; /* 3 distinct rows of 1 value, k = 5 */
    int32_t lab[8], lab2[8];
    cv_kmeans_result r;
    run(x, 8, 1, (cv_kmeans_opts){.k = 5, .max_iters = 10, .seed = 2}, lab, NULL, &r);
    for (int i = 0; i < 8; i++)
        assert_true(lab[i] >= 0 && lab[i] < 5);
    assert_true(lab[0] == lab[1] && lab[1] == lab[2] && lab[3] == lab[4] && lab[5] == lab[7]);
    assert_true(lab[0] != lab[3] && lab[3] != lab[5] && lab[0] != lab[5]);
    assert_true(r.relocated > 0 && r.inertia == 0);
    run(x, 8, 1, (cv_kmeans_opts){.k = 5, .max_iters = 10, .seed = 2, .threads = 2}, lab2, NULL, &r);
    assert_memory_equal(lab, lab2, sizeof lab);
    printf("  3 distinct rows, k 5: %d empty clusters re-seeded in %d iterations\n", r.relocated, r.iters);
    /* k = n distinct rows: every row its own cluster */
    const float y[3] = {1, 5, 9};
    run(y, 3, 1, (cv_kmeans_opts){.k = 3, .max_iters = 5, .seed = 0}, lab, NULL, &r);
    assert_true(lab[0] != lab[1] && lab[1] != lab[2] && lab[0] != lab[2] && r.inertia == 0);
}

static void expect_err(cv_status got, cv_status want, const cv_error *err, const char *part)
{
    assert_int_equal(got, want);
    if (!strstr(err->msg, part))
        fail_msg("error '%s' lacks '%s'", err->msg, part);
    assert_null(strchr(err->msg, '\n'));
}

static void test_bad_args(void **state)
{
    (void)state;
    float x[6] = {0, 1, 2, 3, 4, 5};
    int32_t lab[6];
    cv_error err;
    cv_kmeans_opts o = {.k = 7, .max_iters = 3};
    expect_err(cv_kmeans(x, 6, 1, &o, lab, NULL, NULL, &err), CV_ERR_ARG, &err, "k = 7 clusters for 6 rows (expected 1..6)");
    o.k = 0;
    expect_err(cv_kmeans(x, 6, 1, &o, lab, NULL, NULL, &err), CV_ERR_ARG, &err, "k = 0");
    o.k = 2;
    expect_err(cv_kmeans(x, 0, 1, &o, lab, NULL, NULL, &err), CV_ERR_ARG, &err, "0 rows");
    o.max_iters = -1;
    expect_err(cv_kmeans(x, 6, 1, &o, lab, NULL, NULL, &err), CV_ERR_ARG, &err, "-1 iterations");
    o.max_iters = 3;
    x[4] = NAN;
    expect_err(cv_kmeans(x, 3, 2, &o, lab, NULL, NULL, &err), CV_ERR_ARG, &err, "value [2, 0] is nan");
}

/* ------------------------------------------------------------ codebook files */

static void write_gguf(const char *path, const char *name, uint32_t type, int ndim, const int64_t *shape,
                       const void *data)
{
    cv_gguf_writer *w;
    cv_error err;
    if (cv_gguf_writer_new(&w, path, 0, &err) || cv_gguf_writer_set_str(w, "general.architecture", "vqvae", &err) ||
        cv_gguf_writer_add_tensor(w, name, type, ndim, shape, data, &err) || cv_gguf_writer_write(w, &err))
        fail_msg("%s", err.msg);
    cv_gguf_writer_free(w);
}

static void test_codebook_files(void **state)
{
    (void)state;
    enum { N = 5, D = 3 };
    float f[N * D];
    uint16_t h[N * D], bh[N * D];
    for (int i = 0; i < N * D; i++) {
        f[i] = (float)(i - 7) * 0.375f; /* exact in f16 and bf16 */
        h[i] = cv_f32_to_f16(f[i]);
        bh[i] = cv_f32_to_bf16(f[i]);
    }
    const int64_t shape[2] = {N, D};
    const struct { const char *file; uint32_t type; const void *data; } ok[] = {
        {"f32.gguf", CV_TYPE_F32, f}, {"f16.gguf", CV_TYPE_F16, h}, {"bf16.gguf", CV_TYPE_BF16, bh}};
    float *got;
    int n, d;
    cv_error err;
    for (size_t i = 0; i < 3; i++) {
        write_gguf(cv_test_path(ok[i].file), CV_CODEBOOK_TENSOR, ok[i].type, 2, shape, ok[i].data);
        if (cv_codebook_load_gguf(cv_test_path(ok[i].file), &got, &n, &d, &err))
            fail_msg("%s", err.msg);
        assert_int_equal(n, N);
        assert_int_equal(d, D);
        assert_memory_equal(got, f, sizeof f);
        free(got);
    }
    if (cv_npy_save(cv_test_path("cb.npy"), CV_DT_F32, 2, shape, f, &err) ||
        cv_codebook_load_npy(cv_test_path("cb.npy"), &got, &n, &d, &err))
        fail_msg("%s", err.msg);
    assert_memory_equal(got, f, sizeof f);
    free(got);

    write_gguf(cv_test_path("other.gguf"), "quantize.other", CV_TYPE_F32, 2, shape, f);
    expect_err(cv_codebook_load_gguf(cv_test_path("other.gguf"), &got, &n, &d, &err), CV_ERR_FORMAT, &err,
               "missing tensor 'quantize.embed.weight'");
    assert_null(got);
    const int64_t flat[1] = {N * D}, cube[3] = {1, N, D};
    write_gguf(cv_test_path("flat.gguf"), CV_CODEBOOK_TENSOR, CV_TYPE_F32, 1, flat, f);
    expect_err(cv_codebook_load_gguf(cv_test_path("flat.gguf"), &got, &n, &d, &err), CV_ERR_FORMAT, &err,
               "flat.gguf: tensor 'quantize.embed.weight' has 1 dimensions (expected 2: [codes, dim])");
    const int64_t qshape[2] = {2, 32};
    cv_block_q8_0 q[2] = {{0}};
    write_gguf(cv_test_path("q8.gguf"), CV_CODEBOOK_TENSOR, CV_TYPE_Q8_0, 2, qshape, q);
    expect_err(cv_codebook_load_gguf(cv_test_path("q8.gguf"), &got, &n, &d, &err), CV_ERR_UNSUPPORTED, &err,
               "has type q8_0 (expected f32, f16 or bf16)");
    if (cv_npy_save(cv_test_path("cube.npy"), CV_DT_F32, 3, cube, f, &err))
        fail_msg("%s", err.msg);
    expect_err(cv_codebook_load_npy(cv_test_path("cube.npy"), &got, &n, &d, &err), CV_ERR_FORMAT, &err,
               "cube.npy: the array has 3 dimensions (expected 2");
    assert_null(got);
    const int64_t ids[2] = {1, 2}, two[1] = {2};
    if (cv_npy_save(cv_test_path("int.npy"), CV_DT_I64, 1, two, ids, &err))
        fail_msg("%s", err.msg);
    expect_err(cv_codebook_load_npy(cv_test_path("int.npy"), &got, &n, &d, &err), CV_ERR_FORMAT, &err, "int.npy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovers_blobs), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_fixed_point),    cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_bad_args),       cmocka_unit_test(test_codebook_files),
    };
    cv_test_dir_name("test_kmeans");
    return cmocka_run_group_tests(tests, cv_test_setup_dir, cv_test_teardown_dir);
}
