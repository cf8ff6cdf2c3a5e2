/* test_vqvae.c — the VQVAE decoder: golden/vqvae_full through the C API
 * (cv_vqvae_convert on icetk's weights, every intermediate activation,
 * dec_raw, dec_img and the 8-bit frames), the optimized path against the
 * reference path on small random decoders (always run), thread-count
 * determinism, and bad input.
 *
 * Tolerances (golden/README "Verification and tolerances": float64 vs
 * float32 of the original moves the decoder output by <= 1.1e-5): floats
 * within 1e-4 of the golden, relative to the tensor's largest magnitude
 * where that exceeds 1; 8-bit frames within +-1 on at most 0.1 % of the
 * values.  Optimized vs reference path (same weights, different summation
 * order and GEMM blocking): 1e-5 relative to the tensor's largest magnitude.
 *
 * `test_vqvae --bench` prints seconds per frame of the real-width decoder
 * (random weights), its GFLOP/s and OpenBLAS sgemm's GFLOP/s (same run). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "image.h"
#include "npy.h"
#include "test_files.h"
#include "vqvae.h"

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

#define TOL_GOLDEN 1e-4
#define TOL_PATHS 1e-5

static bool slow_build(void)
{
    const char *e = getenv("CV_SLOW");
    return e && *e;
}

static const char *golden_dir(void)
{
    static char p[2048];
    const char *d = getenv("CV_SHARED");
    snprintf(p, sizeof p, "%s/golden/vqvae_full", d ? d : "../shared");
    return p;
}

static const char *golden(const char *file)
{
    static char p[4][4096];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", golden_dir(), file);
    return p[k];
}

static bool have_golden(void)
{
    struct stat sb;
    return stat(golden("ice_image_decs1_fp16.pt"), &sb) == 0;
}

/* max |a - b| / max(1, max |b|) */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0.0, mx = 1.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            return INFINITY;
        d = fabs((double)a[i] - b[i]) > d ? fabs((double)a[i] - b[i]) : d;
        mx = fabs(b[i]) > mx ? fabs(b[i]) : mx;
    }
    return d / mx;
}

/* HWC [h][w][c] -> CHW */
static void to_chw(const float *hwc, int c, int h, int w, float *chw)
{
    for (int p = 0; p < h * w; p++)
        for (int k = 0; k < c; k++)
            chw[(size_t)k * h * w + p] = hwc[(size_t)p * c + k];
}

/* ------------------------------------------------------------ golden */

typedef struct {
    int checked;
    double worst;
} golden_tap;

static void compare_tap(void *ctx, const char *name, int frame, const float *hwc, int c, int h, int w)
{
    golden_tap *g = ctx;
    char file[64];
    snprintf(file, sizeof file, strcmp(name, "z") && strcmp(name, "dec_raw") ? "act_%s.npy" : "%s.npy", name);
    struct stat sb;
    if (frame != 0 || stat(golden(file), &sb) != 0)
        return; /* no golden for this stage (e.g. up2_upsample) */
    cv_npy a;
    float *gold;
    cv_error err;
    if (cv_npy_load_f32(golden(file), &a, &gold, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(a.count, (size_t)c * h * w);
    float *chw = malloc(a.count * sizeof *chw);
    assert_non_null(chw);
    to_chw(hwc, c, h, w, chw);
    const double d = rel_diff(chw, gold, a.count);
    printf("  %-14s [%d,%d,%d]  max diff %.3g (relative to max(1, max|golden|))\n", name, c, h, w, d);
    if (d > TOL_GOLDEN)
        fail_msg("%s: %.3g > %g", name, d, TOL_GOLDEN);
    g->worst = d > g->worst ? d : g->worst;
    g->checked++;
    free(chw);
    free(gold);
}

static void check_u8(const uint8_t *ours, const char *file, size_t n)
{
    cv_npy a;
    cv_error err;
    if (cv_npy_load(golden(file), &a, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(a.dtype, CV_DT_U8);
    assert_int_equal(a.count, n);
    const uint8_t *g = a.data;
    size_t off = 0, big = 0;
    for (size_t i = 0; i < n; i++) {
        const int d = abs((int)ours[i] - (int)g[i]);
        off += d != 0;
        big += d > 1;
    }
    printf("  %-14s %zu of %zu values differ by 1, %zu by more (allowed: <= 0.1 %% by 1)\n", file, off - big, n, big);
    assert_int_equal(big, 0);
    assert_true(off * 1000 <= n);
    cv_npy_free(&a);
}

/* The 8-bit frames the pipeline writes: save_image(normalize=True) at 160
 * and after a nearest 3x upsample to 480. */
static void check_frames(const float *img, int h, int w)
{
    uint8_t *u8 = malloc((size_t)h * w * 3), *big = malloc((size_t)9 * h * w * 3);
    assert_true(u8 && big);
    cv_image_to_u8(img, 3, h, w, CV_PIXEL_NORMALIZE, u8);
    check_u8(u8, "frame160_u8.npy", (size_t)h * w * 3);
    cv_image_resize_nearest(u8, h, w, big, 3 * h, 3 * w);
    check_u8(big, "frame480_u8.npy", (size_t)9 * h * w * 3);
    free(u8);
    free(big);
}

static cv_vqvae *golden_model(void)
{
    cv_error err;
    const char *gguf = cv_test_path("vqvae_full.gguf");
    if (cv_vqvae_convert(golden("ice_image_decs1_fp16.pt"), gguf, NULL, &err))
        fail_msg("%s", err.msg);
    cv_vqvae *m;
    if (cv_vqvae_load(gguf, &m, &err))
        fail_msg("%s", err.msg);
    return m;
}

static int64_t *golden_ids(size_t *n)
{
    cv_npy a;
    int64_t *ids;
    cv_error err;
    if (cv_npy_load_i64(golden("ids.npy"), &a, &ids, &err))
        fail_msg("%s", err.msg);
    *n = a.count;
    return ids;
}

static void run_golden(cv_vqvae *m, const int64_t *ids, int nthreads, int reference, const char *stop, float *raw_out)
{
    const int h = cv_vqvae_out_h(m), w = cv_vqvae_out_w(m);
    float *img = malloc((size_t)3 * h * w * sizeof *img), *raw = malloc((size_t)3 * h * w * sizeof *raw);
    assert_true(img && raw);
    golden_tap g = {0, 0.0};
    cv_vqvae_opts o = {.nthreads = nthreads, .reference = reference, .tap = compare_tap, .tap_ctx = &g,
                       .stop_after = stop};
    cv_error err;
    printf(" %s path, %d thread(s)%s%s:\n", reference ? "reference" : "optimized", nthreads, stop ? ", up to " : "",
           stop ? stop : "");
    if (cv_vqvae_decode(m, ids, 1, img, raw, &o, &err))
        fail_msg("%s", err.msg);
    if (!stop) {
        assert_int_equal(g.checked, 9); /* z, 7 activations, dec_raw */
        cv_npy a;
        float *gold;
        if (cv_npy_load_f32(golden("dec_img.npy"), &a, &gold, &err))
            fail_msg("%s", err.msg);
        const double d = rel_diff(img, gold, a.count);
        printf("  %-14s max diff %.3g\n", "dec_img", d);
        assert_true(d <= TOL_GOLDEN);
        free(gold);
        check_frames(img, h, w);
        if (raw_out)
            memcpy(raw_out, raw, (size_t)3 * h * w * sizeof *raw);
    }
    free(img);
    free(raw);
}

static void test_golden(void **state)
{
    (void)state;
    if (!have_golden()) {
        printf("  %s not found: the real-width golden check is skipped (CI has it)\n", golden_dir());
        skip();
    }
    cv_vqvae *m = golden_model();
    size_t n;
    int64_t *ids = golden_ids(&n);
    const cv_vqvae_hparams *hp = cv_vqvae_get_hparams(m);
    assert_int_equal(n, (size_t)hp->grid_h * hp->grid_w);
    assert_int_equal(hp->channels, 128);
    assert_int_equal(hp->n_levels, 4);
    assert_int_equal(hp->codebook_size, 20000);
    if (slow_build()) {
        /* converting and loading the real weights and conv_in (0.9 GFLOP) on them */
        printf("  slow build (%s): z and conv_in only, optimized path\n", getenv("CV_SLOW"));
        run_golden(m, ids, 1, 0, "conv_in", NULL);
    } else {
        const size_t sz = (size_t)3 * cv_vqvae_out_h(m) * cv_vqvae_out_w(m);
        float *r1 = malloc(sz * sizeof *r1), *r2 = malloc(sz * sizeof *r2);
        assert_true(r1 && r2);
        run_golden(m, ids, 1, 0, NULL, r1);
        run_golden(m, ids, 2, 0, NULL, r2);
        assert_memory_equal(r1, r2, sz * sizeof *r1);
        printf("  1 and 2 threads: the same bits\n");
        free(r1), free(r2);
        /* the reference direct convolution is much slower: its 20x20 stages */
        run_golden(m, ids, 1, 1, "mid_block_2", NULL);
    }
    free(ids);
    cv_vqvae_free(m);
}

/* ------------------------------------------------------------ small random decoders */

static void small_hparams(cv_vqvae_hparams *hp, int variant)
{
    cv_vqvae_hparams_default(hp);
    hp->channels = 16, hp->n_levels = 2, hp->mult[0] = 1, hp->mult[1] = 2;
    hp->num_res_blocks = 0, hp->z_channels = 8, hp->codebook_size = 64;
    hp->grid_h = 4, hp->grid_w = 5, hp->groups = 8;
    if (variant == 1) { /* three levels, two blocks per level, odd widths */
        hp->channels = 12, hp->n_levels = 3, hp->mult[2] = 3;
        hp->num_res_blocks = 1, hp->z_channels = 5, hp->codebook_size = 37;
        hp->grid_h = 3, hp->grid_w = 7, hp->groups = 4;
    }
    if (variant == 2) { /* more than 256 channels (split GEMMs) and more than 2048 pixels (several slabs) */
        hp->channels = 8, hp->n_levels = 4, hp->mult[1] = 1, hp->mult[2] = 2, hp->mult[3] = 36;
        hp->z_channels = 4, hp->codebook_size = 16, hp->grid_h = 6, hp->grid_w = 6, hp->groups = 8;
    }
}

static int64_t *random_ids(size_t n, int codes, uint64_t seed)
{
    int64_t *ids = malloc(n * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int64_t)((seed >> 33) % (uint64_t)codes);
    }
    return ids;
}

static void decode_small(cv_vqvae *m, size_t frames, int nthreads, int reference, float *raw, float *img)
{
    const cv_vqvae_hparams *hp = cv_vqvae_get_hparams(m);
    int64_t *ids = random_ids(frames * hp->grid_h * hp->grid_w, hp->codebook_size, 7);
    cv_vqvae_opts o = {.nthreads = nthreads, .reference = reference};
    cv_error err;
    if (cv_vqvae_decode(m, ids, frames, img, raw, &o, &err))
        fail_msg("%s", err.msg);
    free(ids);
}

static void test_paths_agree(void **state)
{
    (void)state;
    for (int v = 0; v < 3; v++) {
        cv_vqvae_hparams hp;
        small_hparams(&hp, v);
        cv_vqvae *m;
        cv_error err;
        if (cv_vqvae_random(&hp, 42 + v, &m, &err))
            fail_msg("%s", err.msg);
        const size_t frames = 3, n = frames * hp.out_channels * cv_vqvae_out_h(m) * cv_vqvae_out_w(m);
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
        float *img = malloc(n * sizeof *img);
        assert_true(a && b && c && img);
        decode_small(m, frames, 1, 1, a, img);
        decode_small(m, frames, 1, 0, b, NULL);
        decode_small(m, frames, 2, 0, c, NULL);
        const double d = rel_diff(b, a, n);
        printf("  variant %d: %dx%d -> %dx%d, optimized vs reference %.3g\n", v, hp.grid_h, hp.grid_w,
               cv_vqvae_out_h(m), cv_vqvae_out_w(m), d);
        assert_true(d <= TOL_PATHS);
        assert_memory_equal(b, c, n * sizeof *b); /* 1 and 2 threads: same bits */
        const size_t op = (size_t)cv_vqvae_out_h(m) * cv_vqvae_out_w(m); /* img = raw * std + mean */
        for (size_t i = 0; i < n; i++) {
            const int ch = (int)(i / op % (size_t)hp.out_channels);
            assert_float_equal(img[i], a[i] * hp.std[ch] + hp.mean[ch], 1e-6);
        }
        free(a), free(b), free(c), free(img);
        cv_vqvae_free(m);
    }
}


/* ------------------------------------------------------------ converter on the tiny fixture */

static const char *fixture(const char *file)
{
    static char p[4096];
    const char *d = getenv("CV_TESTDATA");
    snprintf(p, sizeof p, "%s/vqvae-tiny/%s", d ? d : "testdata", file);
    return p;
}

static void test_convert_tiny(void **state)
{
    (void)state;
    cv_error err;
    const char *out = cv_test_path("tiny.gguf");
    cv_vqvae_convert_opts co;
    cv_vqvae_convert_opts_default(&co);
    co.grid_h = 3, co.grid_w = 5; /* a non-square grid */
    co.groups = 4;               /* widths 8 and 16 */
    if (cv_vqvae_convert(fixture("ice_image_tiny.pt"), out, &co, &err))
        fail_msg("%s", err.msg);
    cv_vqvae *m;
    if (cv_vqvae_load(out, &m, &err))
        fail_msg("%s", err.msg);
    const cv_vqvae_hparams *hp = cv_vqvae_get_hparams(m);
    assert_int_equal(hp->channels, 8);
    assert_int_equal(hp->n_levels, 2);
    assert_int_equal(hp->mult[0], 1);
    assert_int_equal(hp->mult[1], 2);
    assert_int_equal(hp->num_res_blocks, 0);
    assert_int_equal(hp->z_channels, 6);
    assert_int_equal(hp->codebook_size, 24);
    assert_int_equal(hp->out_channels, 3);
    assert_int_equal(hp->grid_h, 3);
    assert_int_equal(hp->grid_w, 5);
    assert_int_equal(hp->groups, 4);
    assert_int_equal(cv_vqvae_out_h(m), 6);
    assert_int_equal(cv_vqvae_out_w(m), 10);
    cv_vqvae_free(m);
}

/* The optimized path against the reference on the converted fixture. */
static void test_tiny_paths(void **state)
{
    (void)state;
    cv_error err;
    const char *out = cv_test_path("tiny2.gguf");
    cv_vqvae_convert_opts co;
    cv_vqvae_convert_opts_default(&co);
    co.groups = 4;
    if (cv_vqvae_convert(fixture("ice_image_tiny.pt"), out, &co, &err))
        fail_msg("%s", err.msg);
    cv_vqvae *m;
    if (cv_vqvae_load(out, &m, &err))
        fail_msg("%s", err.msg);
    const size_t n = (size_t)2 * 3 * cv_vqvae_out_h(m) * cv_vqvae_out_w(m);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    assert_true(a && b);
    decode_small(m, 2, 1, 1, a, NULL);
    decode_small(m, 2, 2, 0, b, NULL);
    const double d = rel_diff(b, a, n);
    printf("  converted fixture: optimized vs reference %.3g\n", d);
    assert_true(d <= TOL_PATHS);
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        mx = fabs(a[i]) > mx ? fabs(a[i]) : mx;
    assert_true(mx > 1e-3 && mx < 1e3); /* a real signal went through */
    free(a), free(b);
    cv_vqvae_free(m);
}

/* ------------------------------------------------------------ bad input */

static void expect_convert_error(const char *pt, int groups, cv_status want, const char *needle)
{
    cv_error err;
    cv_test_empty_dir();
    cv_vqvae_convert_opts co;
    cv_vqvae_convert_opts_default(&co);
    co.groups = groups;
    const cv_status s = cv_vqvae_convert(pt, cv_test_path("bad.gguf"), &co, &err);
    printf("  %s -> %s\n", strrchr(pt, '/') + 1, s ? err.msg : "OK");
    assert_int_equal(s, want);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_int_equal(cv_test_count_files(), 0); /* nothing left behind */
}

static void test_bad_checkpoints(void **state)
{
    (void)state;
    expect_convert_error(fixture("missing_tensor.pt"), 4, CV_ERR_FORMAT, "missing tensor 'decs.1.mid.attn_1.v.bias'");
    expect_convert_error(fixture("wrong_shape.pt"), 4, CV_ERR_FORMAT,
                         "tensor 'decs.1.up.0.block.0.nin_shortcut.weight' has shape (16, 8, 1, 1) (expected (8, 16, 1, 1))");
    expect_convert_error(fixture("ice_image_tiny.pt"), 32, CV_ERR_FORMAT, "multiple of norm_groups");
    /* truncated: the first half of the file */
    size_t n;
    unsigned char *b = cv_test_read_all(fixture("ice_image_tiny.pt"), &n);
    cv_test_write_bytes(cv_test_path("trunc.pt"), b, n / 2);
    free(b);
    cv_error err;
    cv_vqvae_convert_opts co;
    cv_vqvae_convert_opts_default(&co);
    co.groups = 4;
    const cv_status s = cv_vqvae_convert(cv_test_path("trunc.pt"), cv_test_path("t.gguf"), &co, &err);
    printf("  truncated .pt -> %s\n", err.msg);
    assert_int_not_equal(s, CV_OK);
    assert_non_null(strstr(err.msg, "trunc.pt"));
    assert_int_equal(cv_test_count_files(), 1); /* only trunc.pt */
    /* an output directory that does not exist */
    assert_int_not_equal(cv_vqvae_convert(fixture("ice_image_tiny.pt"), cv_test_path("no/such/dir/x.gguf"), &co, &err),
                         CV_OK);
    printf("  unwritable output -> %s\n", err.msg);
    /* a transformer GGUF is not a VQVAE */
    cv_vqvae *m = NULL;
    assert_int_not_equal(cv_vqvae_load(fixture("ice_image_tiny.pt"), &m, &err), CV_OK);
    assert_null(m);
    printf("  .pt given as a model -> %s\n", err.msg);
    cv_test_empty_dir();
}

/* Metadata that asks for far more weights than the file holds (found by
 * tests/fuzz/fuzz_gguf: channels 8 -> 60680, ~500 GB of f32) is a format
 * error naming the first tensor that disagrees, found before anything is
 * allocated; it used to be a malloc of the whole arena ("out of memory", or
 * gigabytes taken for a file that could never load). */
static void test_metadata_larger_than_file(void **state)
{
    (void)state;
    cv_error err;
    cv_test_empty_dir();
    cv_vqvae_convert_opts co;
    cv_vqvae_convert_opts_default(&co);
    co.grid_h = 3, co.grid_w = 5;
    co.groups = 4;
    if (cv_vqvae_convert(fixture("ice_image_tiny.pt"), cv_test_path("ok.gguf"), &co, &err))
        fail_msg("%s", err.msg);
    const uint32_t channels = 60680;
    cv_test_patch_gguf_value(cv_test_path("ok.gguf"), cv_test_path("big.gguf"), "cogvideo.vqvae.channels", 4,
                             &channels, 4);
    cv_vqvae *m = NULL;
    const cv_status s = cv_vqvae_load(cv_test_path("big.gguf"), &m, &err);
    printf("  channels 60680 in an 8-channel file -> %s\n", err.msg);
    assert_int_equal(s, CV_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "tensor 'decs.1.conv_in.weight' has shape (16, 6, 3, 3) (expected (121360, 6, 3, 3))"));
    cv_test_empty_dir();
}

static void test_bad_ids(void **state)
{
    (void)state;
    cv_vqvae_hparams hp;
    small_hparams(&hp, 0);
    cv_vqvae *m;
    cv_error err;
    if (cv_vqvae_random(&hp, 1, &m, &err))
        fail_msg("%s", err.msg);
    int64_t *ids = random_ids(2 * 20, 64, 3);
    float *img = malloc((size_t)2 * 3 * 8 * 10 * sizeof *img);
    assert_non_null(img);
    ids[20 + 6] = 64; /* frame 1, row 1, column 1 */
    assert_int_equal(cv_vqvae_decode(m, ids, 2, img, NULL, NULL, &err), CV_ERR_ARG);
    printf("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "token id 64 at frame 1, row 1, column 1"));
    ids[20 + 6] = -1;
    assert_int_equal(cv_vqvae_decode(m, ids, 2, img, NULL, NULL, &err), CV_ERR_ARG);
    free(ids), free(img);
    cv_vqvae_free(m);
    hp.groups = 5; /* 16 channels are not 5 groups */
    assert_int_equal(cv_vqvae_random(&hp, 1, &m, &err), CV_ERR_FORMAT);
    assert_null(m);
}

/* ------------------------------------------------------------ bench */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double sgemm_gflops(int nthreads)
{
#ifdef HAVE_OPENBLAS
    /* OpenBLAS's own threading, on a square-ish problem the size of the
     * decoder's GEMMs (25600 x 128 x 1152 at 160x160) */
    const int m = 6400, n = 512, k = 2304;
    float *a = calloc((size_t)m * k, 4), *b = calloc((size_t)n * k, 4), *c = calloc((size_t)m * n, 4);
    if (!a || !b || !c)
        return 0.0;
    for (size_t i = 0; i < (size_t)m * k; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)n * k; i++)
        b[i] = (float)(i % 5) * 0.1f;
    openblas_set_num_threads(nthreads);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        const double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        best = now() - t0 < best ? now() - t0 : best;
    }
    openblas_set_num_threads(1);
    free(a), free(b), free(c);
    return 2.0 * m * n * k / best / 1e9;
#else
    (void)nthreads;
    return 0.0;
#endif
}

static int bench(int argc, char **argv)
{
    cv_vqvae_hparams hp;
    cv_vqvae_hparams_default(&hp); /* the release's widths, random weights */
    cv_vqvae *m;
    cv_error err;
    if (cv_vqvae_random(&hp, 1, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const double fl = cv_vqvae_flops_per_frame(&hp);
    const int reps = argc > 2 ? atoi(argv[2]) : 1;
    printf("VQVAE decoder, real width (ch 128, mult [1,1,2,4], z 256, 20x20 -> 160x160): %.1f GFLOP per frame\n",
           fl / 1e9);
    const int batches[2] = {1, 8};
    for (int ti = 1; ti <= 2; ti++) {
        const double sg = sgemm_gflops(ti);
        for (int bi = 0; bi < 2; bi++) {
            const size_t nb = (size_t)batches[bi];
            int64_t *ids = random_ids(nb * 400, hp.codebook_size, 11);
            float *img = malloc(nb * 3 * 160 * 160 * sizeof *img);
            cv_vqvae_opts o = {.nthreads = ti};
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                const double t0 = now();
                if (cv_vqvae_decode(m, ids, nb, img, NULL, &o, &err)) {
                    fprintf(stderr, "%s\n", err.msg);
                    return 1;
                }
                best = now() - t0 < best ? now() - t0 : best;
            }
            const double spf = best / (double)nb;
            printf("threads %d batch %zu: %.3f s/frame  %.1f GFLOP/s  (OpenBLAS sgemm, %d thread(s): %.1f GFLOP/s; "
                   "decoder = %.0f %%)\n",
                   ti, nb, spf, fl / spf / 1e9, ti, sg, sg > 0 ? 100.0 * fl / spf / 1e9 / sg : 0.0);
            fflush(stdout);
            free(ids), free(img);
        }
    }
    cv_vqvae_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        return bench(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_agree), cmocka_unit_test(test_convert_tiny), cmocka_unit_test(test_tiny_paths),
        cmocka_unit_test(test_bad_checkpoints), cmocka_unit_test(test_metadata_larger_than_file),
        cmocka_unit_test(test_bad_ids), cmocka_unit_test(test_golden),
    };
    cv_test_dir_name("test_vqvae");
    return cmocka_run_group_tests(tests, cv_test_setup_dir, cv_test_teardown_dir);
}
