/* test_sampler.c — the Philox RNG (known answers, key independence,
 * determinism, uniformity) and the CogLM cluster sampler against the golden
 * distributions of the original CoglmStrategy (testdata/strategy, copied
 * from golden/strategy; golden/README.md "CoglmStrategy distributions"):
 *
 *  (a) exact distributions: cluster masses, top-k clusters, p_cluster,
 *      p_token_marginal (and p_token_given_cluster when $CV_SHARED/golden
 *      is present: 6.7 MB, not copied) for the random labels, both settings;
 *  (b) >= 20000 draws per logits row and setting: total-variation distance
 *      of the empirical cluster and token distributions from the golden
 *      ones below a bound derived from the sample size (see tv_bound);
 *  (c) tokens independent of batch order and thread count;
 *  (d) the strategy choice with quirk 4 against golden-A step_strategy.npy.
 *
 * The `real_*` goldens need CogVideo's cluster_label2.npy, which the
 * project does not have (golden/README.md: not to be committed): skipped. */
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
#include <jansson.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "npy.h"
#include "rng.h"
#include "sampler.h"

#define N_ROWS 3
#define N_TOK 20000
#define N_CLU 500
#define N_DRAWS 20000       /* the minimum, and the original's n in meta.json */
#define N_DRAWS_BIG 400000  /* a 20x tighter bound, natively (see test_draws) */

/* Float tolerance of the exact distributions, relative to the largest
 * golden value of the row.  The golden values are float32 results of torch
 * (softmax over 20000 terms, scatter_add into 500 bins, a second softmax);
 * ours are double.  Storing a result in float32 alone moves it by 6e-8
 * relative; float32 sums of 20000 positive terms err by ~sqrt(20000) *
 * 2^-24 ~ 1e-5 relative for random rounding, less with pairwise sums: we
 * measure <= 2e-7 (printed), and allow 2e-6. */
#define TOL_REL_MAX 2e-6

static const char *const SETTINGS[2] = {"cogvideo", "cogview2"};

static const char *data_path(const char *file)
{
    static char p[4][4096];
    static int i;
    const char *d = getenv("CV_TESTDATA");
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/strategy/%s", d ? d : "testdata", file);
    return p[i];
}

static bool slow(void)
{
    const char *e = getenv("CV_SLOW");
    return e && *e;
}

static float *load_f32(const char *path, size_t count)
{
    cv_npy a;
    float *v;
    cv_error err;
    if (cv_npy_load_f32(path, &a, &v, &err))
        fail_msg("%s", err.msg);
    if (a.count != count)
        fail_msg("%s: %zu values (expected %zu)", path, a.count, count);
    return v;
}

static int64_t *load_i64(const char *path, size_t count)
{
    cv_npy a;
    int64_t *v;
    cv_error err;
    if (cv_npy_load_i64(path, &a, &v, &err))
        fail_msg("%s", err.msg);
    if (a.count != count)
        fail_msg("%s: %zu values (expected %zu)", path, a.count, count);
    return v;
}

static cv_sampler_settings read_settings(const char *name)
{
    json_error_t je;
    json_t *root = json_load_file(data_path("meta.json"), 0, &je);
    if (!root)
        fail_msg("meta.json: %s", je.text);
    json_t *s = json_object_get(json_object_get(root, "settings"), name);
    assert_non_null(s);
    cv_sampler_settings set = {(float)json_number_value(json_array_get(s, 0)),
                               (int)json_integer_value(json_array_get(s, 1)),
                               (float)json_number_value(json_array_get(s, 2))};
    json_decref(root);
    return set;
}

/* The original's empirical TV at n = 20000 (meta.json "empirical"). */
static void original_tv(const char *tag, int row, double *tv_cluster, double *tv_token)
{
    json_error_t je;
    json_t *root = json_load_file(data_path("meta.json"), 0, &je);
    if (!root)
        fail_msg("meta.json: %s", je.text);
    json_t *e = json_array_get(json_object_get(json_object_get(root, "empirical"), tag), (size_t)row);
    assert_non_null(e);
    *tv_cluster = json_number_value(json_object_get(e, "tv_cluster"));
    *tv_token = json_number_value(json_object_get(e, "tv_token"));
    json_decref(root);
}

typedef struct {
    float *logits;      /* [3, 20000] */
    int32_t *labels;    /* [20000] labels_random */
    cv_clusters *cl;    /* the same */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    int64_t *l64 = load_i64(data_path("labels_random.npy"), N_TOK);
    int32_t *l32 = malloc(N_TOK * sizeof *l32);
    for (int t = 0; t < N_TOK; t++)
        l32[t] = (int32_t)l64[t];
    cv_error err;
    if (cv_clusters_new(l32, N_TOK, N_CLU, &f->cl, &err))
        fail_msg("%s", err.msg);
    free(l64);
    f->labels = l32;
    f->logits = load_f32(data_path("logits.npy"), (size_t)N_ROWS * N_TOK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cv_clusters_free(f->cl);
    free(f->labels);
    free(f->logits);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ RNG */

/* Random123's kat_vectors, the three "philox4x32 10" lines (CTR[4] KEY[2]
 * -> OUT[4]). */
static void test_philox_kat(void **state)
{
    (void)state;
    static const uint32_t v[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
         0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
         0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        cv_philox4x32_10(v[i], v[i] + 4, out);
        for (int w = 0; w < 4; w++)
            assert_int_equal(out[w], v[i][6 + w]);
    }
    /* the key's coordinates land where rng.h says: seed low word = key[0] */
    const cv_rng_key k = {.seed = 0x299f31d0a4093822ull, .draw = 0x243f6a88, .step = 0x85a308d3, .sample = 0x13198a2e,
                          .domain = 0x03707344};
    uint32_t out[4];
    cv_rng_block(k, out);
    assert_int_equal(out[0], 0xd16cfe09);
    assert_int_equal(out[3], 0x24126ea1);
}

static bool same_block(cv_rng_key a, cv_rng_key b)
{
    uint32_t x[4], y[4];
    cv_rng_block(a, x);
    cv_rng_block(b, y);
    return !memcmp(x, y, sizeof x);
}

static void test_rng_keys(void **state)
{
    (void)state;
    const cv_rng_key k = {.seed = 42, .domain = CV_RNG_DOMAIN_SAMPLER, .sample = 3, .step = 17, .draw = 0};
    assert_true(same_block(k, k)); /* determinism */
    cv_rng_key o = k;
    o.step++;
    assert_false(same_block(k, o));
    o = k, o.sample++;
    assert_false(same_block(k, o));
    o = k, o.seed++;
    assert_false(same_block(k, o));
    o = k, o.seed += 1ull << 32; /* the high word of the seed counts too */
    assert_false(same_block(k, o));
    o = k, o.domain = CV_RNG_DOMAIN_KMEANS;
    assert_false(same_block(k, o));
    o = k, o.draw++;
    assert_false(same_block(k, o));
    /* the sampler's key is this key */
    assert_true(same_block(cv_sampler_key(42, 3, 17), k));
    /* the constructions: never 1.0, exact multiples */
    assert_true(cv_rng_u64_to_double(UINT64_MAX) == 1.0 - 0x1.0p-53);
    assert_true(cv_rng_u64_to_double(0) == 0.0);
    assert_true(cv_rng_u32_to_float(UINT32_MAX) == 1.0f - 0x1.0p-24f);
}

/* Uniformity over consecutive steps: a chi-square over 64 bins of 2^17
 * draws (both uniforms of each block).  df = 63: mean 63, sd 11.2; the
 * bound 130 is 6 sd above the mean (p < 1e-8 for a correct generator), and
 * a generator off by one bin's worth of bias would exceed it. */
static void test_rng_uniform(void **state)
{
    (void)state;
    enum { BINS = 64, N = 1 << 16 };
    long cnt[BINS] = {0};
    double mean = 0;
    for (uint32_t i = 0; i < N; i++) {
        double u[2];
        cv_rng_uniform2(cv_sampler_key(7, 0, i), u);
        for (int j = 0; j < 2; j++) {
            assert_true(u[j] >= 0 && u[j] < 1);
            cnt[(int)(u[j] * BINS)]++;
            mean += u[j];
        }
    }
    const double e = 2.0 * N / BINS;
    double chi = 0;
    for (int b = 0; b < BINS; b++)
        chi += (cnt[b] - e) * (cnt[b] - e) / e;
    mean /= 2.0 * N;
    printf("  uniforms: chi2(63) %.1f (bound 130), mean %.5f (0.5 +- %.5f)\n", chi, mean, 6 * sqrt(1.0 / 12 / (2.0 * N)));
    assert_true(chi < 130);
    assert_true(fabs(mean - 0.5) < 6 * sqrt(1.0 / 12 / (2.0 * N)));
}

/* ------------------------------------------------------------ exact distributions */

static char *name(const char *what, const char *tag)
{
    static char b[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(b[i], sizeof b[i], "%s_%s.npy", what, tag);
    return b[i];
}

/* max |golden - ours| over n values, checked against TOL_REL_MAX times
 * the row's largest golden value. */
static double check_close(const char *what, const float *gold, const double *got, size_t n)
{
    double d = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        const double x = fabs((double)gold[i] - got[i]);
        d = x > d || isnan(x) ? x : d;
        mx = fabs((double)gold[i]) > mx ? fabs((double)gold[i]) : mx;
    }
    if (!(d <= TOL_REL_MAX * mx))
        fail_msg("%s: max|diff| %g > %g", what, d, TOL_REL_MAX * mx);
    return d / mx;
}

static void prepare_row(cv_sampler *s, const fixture *f, int row, cv_sampler_settings set)
{
    cv_error err;
    if (cv_sampler_prepare(s, f->logits + (size_t)row * N_TOK, set, &err))
        fail_msg("%s", err.msg);
}

/* p_token_given_cluster_<tag>.npy [3, k, 20000]: 6.7 MB, read from the
 * shared golden folder when it is there. */
static float *given_cluster_golden(const char *tag, int k)
{
    const char *sh = getenv("CV_SHARED");
    char p[4096];
    snprintf(p, sizeof p, "%s/golden/strategy/p_token_given_cluster_%s.npy", sh ? sh : "", tag);
    FILE *fp = sh ? fopen(p, "rb") : NULL;
    if (!fp) {
        printf("  SKIP: %s not found (set CV_SHARED to shared/): p_token_given_cluster not checked\n", p);
        return NULL;
    }
    fclose(fp);
    return load_f32(p, (size_t)N_ROWS * (size_t)k * N_TOK);
}

static double check_given(const cv_sampler *s, const char *tag, int row, const float *gold, int k)
{
    const int32_t *top;
    cv_sampler_topk(s, &top);
    double *p = malloc(N_TOK * sizeof *p), worst = 0;
    for (int r = 0; r < k; r++) {
        cv_sampler_p_token_given_cluster(s, top[r], p);
        char what[128];
        snprintf(what, sizeof what, "%s row %d p_token_given_cluster %d", tag, row, r);
        const double d = check_close(what, gold + ((size_t)row * (size_t)k + (size_t)r) * N_TOK, p, N_TOK);
        worst = d > worst ? d : worst;
    }
    free(p);
    return worst;
}

static void exact_tag(const fixture *f, const char *setting)
{
    char tag[64];
    snprintf(tag, sizeof tag, "random_%s", setting);
    const cv_sampler_settings set = read_settings(setting);
    const int k = set.top_k;
    float *gmass = load_f32(data_path(name("cluster_mass", tag)), N_ROWS * N_CLU);
    int64_t *gtop = load_i64(data_path(name("topk_clusters", tag)), (size_t)N_ROWS * (size_t)k);
    float *gpc = load_f32(data_path(name("p_cluster", tag)), N_ROWS * N_CLU);
    float *gpt = load_f32(data_path(name("p_token_marginal", tag)), (size_t)N_ROWS * N_TOK);
    float *ggiven = given_cluster_golden(tag, k);
    double *p = malloc(N_TOK * sizeof *p);
    cv_sampler *s;
    cv_error err;
    if (cv_sampler_new(f->cl, &s, &err))
        fail_msg("%s", err.msg);
    for (int row = 0; row < N_ROWS; row++) {
        prepare_row(s, f, row, set);
        char what[128];
        snprintf(what, sizeof what, "%s row %d cluster_mass", tag, row);
        const double dm = check_close(what, gmass + row * N_CLU, cv_sampler_cluster_mass(s), N_CLU);
        const int32_t *top;
        assert_int_equal(cv_sampler_topk(s, &top), k);
        for (int r = 0; r < k; r++)
            if (top[r] != gtop[row * k + r])
                fail_msg("%s row %d: top cluster %d is %d (golden %lld)", tag, row, r, top[r],
                         (long long)gtop[row * k + r]);
        cv_sampler_p_cluster(s, p);
        snprintf(what, sizeof what, "%s row %d p_cluster", tag, row);
        const double dc = check_close(what, gpc + row * N_CLU, p, N_CLU);
        cv_sampler_p_token(s, p);
        snprintf(what, sizeof what, "%s row %d p_token_marginal", tag, row);
        const double dt = check_close(what, gpt + (size_t)row * N_TOK, p, N_TOK);
        const double dg = ggiven ? check_given(s, tag, row, ggiven, k) : NAN;
        printf("  %s row %d: top-%d identical; max|diff|/max: mass %.2e p_cluster %.2e p_token %.2e "
               "p_token_given_cluster %.2e (tol %.0e)\n", tag, row, k, dm, dc, dt, dg, TOL_REL_MAX);
    }
    cv_sampler_free(s);
    free(p);
    free(gmass);
    free(gtop);
    free(gpc);
    free(gpt);
    free(ggiven);
}

static void test_exact(void **state)
{
    for (int i = 0; i < 2; i++)
        exact_tag(*state, SETTINGS[i]);
    printf("  SKIP: real_cogvideo, real_cogview2: they need CogVideo's cluster_label2.npy, which we do not have\n");
}

/* ------------------------------------------------------------ draws */

/* A bound on the total-variation distance TV = 1/2 sum_i |phat_i - p_i|
 * between the empirical distribution of N independent draws and p, that a
 * correct sampler exceeds with probability < 1e-9:
 *   mean:  E|phat_i - p_i| <= sqrt(Var phat_i) = sqrt(p_i (1 - p_i) / N)
 *          (Jensen), so E[TV] <= 1/2 sum_i sqrt(p_i (1 - p_i) / N);
 *   tail:  TV is a function of the N draws that changes by at most 1/N when
 *          one draw changes, so McDiarmid's inequality gives
 *          P(TV >= E[TV] + eps) <= exp(-2 N eps^2); eps = sqrt(ln(1e9) / (2N)).
 * Both steps are rigorous (no normal approximation, no safety factor
 * needed); the draws are deterministic (fixed seeds), so "probability" is
 * over the choice of seed.  At N = 20000 eps = 0.0228. */
static double tv_bound(const double *p, int n, long N)
{
    double e = 0;
    for (int i = 0; i < n; i++)
        e += sqrt(p[i] * (1 - p[i]) / (double)N);
    return 0.5 * e + sqrt(log(1e9) / (2.0 * (double)N));
}

static double tv(const long *cnt, const double *p, int n, long N)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        d += fabs((double)cnt[i] / (double)N - p[i]);
    return 0.5 * d;
}

static void to_double(const float *a, double *b, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = a[i];
}

/* One row, one setting: N draws (keys: seed, sample = row, step = i);
 * the empirical cluster and token distributions vs the golden ones. */
static void draw_row(cv_sampler *s, const fixture *f, const char *tag, int row, uint64_t seed, long N,
                     const double *pc, const double *pt)
{
    long *cc = calloc(N_CLU, sizeof *cc), *ct = calloc(N_TOK, sizeof *ct);
    for (long i = 0; i < N; i++) {
        const int32_t t = cv_sampler_draw(s, cv_sampler_key(seed, (uint32_t)row, (uint32_t)i));
        assert_true(t >= 0 && t < N_TOK);
        if (!(pt[t] > 0))
            fail_msg("%s row %d: drew token %d of probability 0 (cluster %d)", tag, row, t, f->labels[t]);
        ct[t]++;
        cc[f->labels[t]]++;
    }
    const double tc = tv(cc, pc, N_CLU, N), bc = tv_bound(pc, N_CLU, N);
    const double tt = tv(ct, pt, N_TOK, N), bt = tv_bound(pt, N_TOK, N);
    double oc = NAN, ot = NAN;
    if (N == N_DRAWS)
        original_tv(tag, row, &oc, &ot);
    if (N == N_DRAWS)
        printf("  %s row %d, N %ld: TV cluster %.4f (bound %.4f, original %.4f), TV token %.4f (bound %.4f, "
               "original %.4f)\n", tag, row, N, tc, bc, oc, tt, bt, ot);
    else
        printf("  %s row %d, N %ld: TV cluster %.4f (bound %.4f), TV token %.4f (bound %.4f)\n", tag, row, N, tc,
               bc, tt, bt);
    if (!(tc <= bc) || !(tt <= bt))
        fail_msg("%s row %d: TV above the bound", tag, row);
    /* the bound must hold for the original's own sampler too, or it would
     * be too tight to trust */
    if (N == N_DRAWS && (!(oc <= bc) || !(ot <= bt)))
        fail_msg("%s row %d: the original's TV is above our bound", tag, row);
    free(cc);
    free(ct);
}

/* cv_sampler_sample (prepare + draw in one call) gives the draws above. */
static void same_as_sample(cv_sampler *s, const fixture *f, int row, cv_sampler_settings set, uint64_t seed)
{
    cv_sampler *s2;
    cv_error err;
    if (cv_sampler_new(f->cl, &s2, &err))
        fail_msg("%s", err.msg);
    for (uint32_t i = 0; i < 50; i++) {
        int32_t t;
        const cv_rng_key k = cv_sampler_key(seed, (uint32_t)row, i);
        if (cv_sampler_sample(s2, f->logits + (size_t)row * N_TOK, set, k, &t, &err))
            fail_msg("%s", err.msg);
        assert_int_equal(t, cv_sampler_draw(s, k));
    }
    cv_sampler_free(s2);
}

static void draws(const fixture *f, long N, uint64_t seed)
{
    double *pc = malloc(N_CLU * sizeof *pc), *pt = malloc(N_TOK * sizeof *pt);
    cv_sampler *s;
    cv_error err;
    if (cv_sampler_new(f->cl, &s, &err))
        fail_msg("%s", err.msg);
    for (int i = 0; i < 2; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "random_%s", SETTINGS[i]);
        const cv_sampler_settings set = read_settings(SETTINGS[i]);
        float *gpc = load_f32(data_path(name("p_cluster", tag)), N_ROWS * N_CLU);
        float *gpt = load_f32(data_path(name("p_token_marginal", tag)), (size_t)N_ROWS * N_TOK);
        for (int row = 0; row < N_ROWS; row++) {
            to_double(gpc + row * N_CLU, pc, N_CLU);
            to_double(gpt + (size_t)row * N_TOK, pt, N_TOK);
            prepare_row(s, f, row, set);
            draw_row(s, f, tag, row, seed + (uint64_t)i, N, pc, pt);
            same_as_sample(s, f, row, set, seed + (uint64_t)i);
        }
        free(gpc);
        free(gpt);
    }
    cv_sampler_free(s);
    free(pc);
    free(pt);
}

static void test_draws(void **state)
{
    draws(*state, N_DRAWS, 20220529);
    /* 20x the draws: the bound shrinks by sqrt(20), so biases the small
     * run cannot see (a few 1e-3 of TV) are caught.  Natively only. */
    if (slow())
        printf("  slow build (%s): the N = %d run is left to the native builds\n", getenv("CV_SLOW"), N_DRAWS_BIG);
    else
        draws(*state, N_DRAWS_BIG, 6);
}

/* ------------------------------------------------------------ batching and threads */

#define B 4
#define STEPS 48

/* Token (b, i): row (b + i) % 3 with the settings alternating by step. */
static int32_t token_at(cv_sampler *s, const fixture *f, const cv_sampler_settings set[2], int b, int i)
{
    int32_t t;
    cv_error err;
    if (cv_sampler_sample(s, f->logits + (size_t)((b + i) % N_ROWS) * N_TOK, set[i % 2],
                          cv_sampler_key(99, (uint32_t)b, (uint32_t)i), &t, &err))
        fail_msg("%s", err.msg);
    return t;
}

static void test_order_and_threads(void **state)
{
    const fixture *f = *state;
    const cv_sampler_settings set[2] = {read_settings(SETTINGS[0]), read_settings(SETTINGS[1])};
    int32_t a[B][STEPS], r[B][STEPS], p[B][STEPS];
    cv_sampler *s;
    cv_error err;
    if (cv_sampler_new(f->cl, &s, &err))
        fail_msg("%s", err.msg);
    for (int b = 0; b < B; b++) /* one sequence after the other */
        for (int i = 0; i < STEPS; i++)
            a[b][i] = token_at(s, f, set, b, i);
    for (int i = STEPS - 1; i >= 0; i--) /* a batch, steps backwards, samples reversed */
        for (int b = B - 1; b >= 0; b--)
            r[b][i] = token_at(s, f, set, b, i);
    cv_sampler_free(s);
    int nt = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(3)
#endif
    {
        cv_sampler *ts;
        cv_error e;
        if (cv_sampler_new(f->cl, &ts, &e) == CV_OK) {
#ifdef _OPENMP
#pragma omp single
            nt = omp_get_num_threads();
#pragma omp for schedule(dynamic, 1)
#endif
            for (int k = 0; k < B * STEPS; k++)
                p[k % B][k / B] = token_at(ts, f, set, k % B, k / B);
            cv_sampler_free(ts);
        }
    }
    int distinct = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < STEPS; i++) {
            assert_int_equal(a[b][i], r[b][i]);
            assert_int_equal(a[b][i], p[b][i]);
            distinct += i > 0 && a[b][i] != a[b][i - 1];
        }
    printf("  %d tokens identical sequentially, batched in reverse and on %d threads\n", B * STEPS, nt);
    assert_true(distinct > STEPS); /* and they are not one token repeated */
}

/* ------------------------------------------------------------ small cases, ties, errors */

/* Six tokens, five clusters (1 and 4 empty), clusters 0 and 2 of exactly
 * equal mass: the ties rule and an independent closed form. */
static void test_small_and_ties(void **state)
{
    (void)state;
    const int32_t lab[6] = {0, 0, 2, 2, 3, 3};
    const float lg[6] = {0, 1, 1, 0, 2, 2.5f};
    cv_clusters *cl;
    cv_sampler *s;
    cv_error err;
    assert_int_equal(cv_clusters_new(lab, 6, 5, &cl, &err), CV_OK);
    assert_int_equal(cv_sampler_new(cl, &s, &err), CV_OK);
    const cv_sampler_settings set = {1.25f, 4, 0.5f};
    assert_int_equal(cv_sampler_prepare(s, lg, set, &err), CV_OK);
    const int32_t *top;
    assert_int_equal(cv_sampler_topk(s, &top), 4);
    assert_int_equal(top[0], 3); /* largest mass */
    assert_int_equal(top[1], 0); /* 0 and 2 tie: lower id first */
    assert_int_equal(top[2], 2);
    assert_int_equal(top[3], 1); /* 1 and 4 are empty (mass 0): lower id */
    /* closed form */
    double e[6], z = 0, pt[6], got[6];
    for (int t = 0; t < 6; t++)
        z += e[t] = exp(lg[t] / 1.25);
    const double c0 = (e[0] + e[1]) / z, c3 = (e[4] + e[5]) / z, top_sum = 2 * c0 + c3;
    const double w[6] = {exp(0 / 0.625), exp(1 / 0.625), exp(1 / 0.625), exp(0 / 0.625), exp(2 / 0.625),
                         exp(2.5 / 0.625)};
    pt[0] = c0 / top_sum * w[0] / (w[0] + w[1]);
    pt[1] = c0 / top_sum * w[1] / (w[0] + w[1]);
    pt[2] = c0 / top_sum * w[2] / (w[2] + w[3]);
    pt[3] = c0 / top_sum * w[3] / (w[2] + w[3]);
    pt[4] = c3 / top_sum * w[4] / (w[4] + w[5]);
    pt[5] = c3 / top_sum * w[5] / (w[4] + w[5]);
    cv_sampler_p_token(s, got);
    for (int t = 0; t < 6; t++)
        assert_true(fabs(got[t] - pt[t]) < 1e-14);
    double pc[5];
    cv_sampler_p_cluster(s, pc);
    assert_true(pc[1] == 0 && pc[4] == 0 && fabs(pc[3] - c3 / top_sum) < 1e-14);
    /* k = 2 keeps clusters 3 and 0 only: tokens 2, 3 are never drawn */
    const cv_sampler_settings set2 = {1.25f, 2, 0.5f};
    assert_int_equal(cv_sampler_prepare(s, lg, set2, &err), CV_OK);
    for (uint32_t i = 0; i < 2000; i++) {
        const int32_t t = cv_sampler_draw(s, cv_sampler_key(5, 0, i));
        assert_true(t == 0 || t == 1 || t == 4 || t == 5);
    }
    cv_sampler_p_token_given_cluster(s, 1, got); /* empty cluster: all 0 */
    for (int t = 0; t < 6; t++)
        assert_true(got[t] == 0);
    cv_sampler_free(s);
    cv_clusters_free(cl);
}

static void expect_error(cv_status got, const cv_error *err, const char *part)
{
    assert_int_equal(got, CV_ERR_ARG);
    if (!strstr(err->msg, part))
        fail_msg("error '%s' lacks '%s'", err->msg, part);
    assert_null(strchr(err->msg, '\n'));
}

static void test_errors(void **state)
{
    const fixture *f = *state;
    cv_error err;
    cv_clusters *cl = (cv_clusters *)1;
    const int32_t bad[3] = {0, 7, 1};
    expect_error(cv_clusters_new(bad, 3, 5, &cl, &err), &err, "label 7 of token 1 out of range (expected 0..4)");
    assert_null(cl);
    expect_error(cv_clusters_new(bad, 3, 0, &cl, &err), &err, "0 clusters");
    cv_sampler *s;
    assert_int_equal(cv_sampler_new(f->cl, &s, &err), CV_OK);
    const float *row = f->logits;
    expect_error(cv_sampler_prepare(s, row, (cv_sampler_settings){1, 0, 0.89f}, &err), &err, "top_k 0 (expected 1..500");
    expect_error(cv_sampler_prepare(s, row, (cv_sampler_settings){1, 501, 0.89f}, &err), &err, "top_k 501");
    expect_error(cv_sampler_prepare(s, row, (cv_sampler_settings){0, 12, 0.89f}, &err), &err, "temperature 0");
    expect_error(cv_sampler_prepare(s, row, (cv_sampler_settings){1, 12, NAN}, &err), &err, "temperature2 nan");
    float *copy = malloc(N_TOK * sizeof *copy);
    memcpy(copy, row, N_TOK * sizeof *copy);
    copy[123] = NAN;
    expect_error(cv_sampler_prepare(s, copy, (cv_sampler_settings){1, 12, 0.89f}, &err), &err, "logit 123 is nan");
    copy[123] = INFINITY;
    int32_t t;
    expect_error(cv_sampler_sample(s, copy, (cv_sampler_settings){1, 12, 0.89f}, cv_sampler_key(1, 0, 0), &t, &err),
                 &err, "logit 123 is inf (expected finite logits)");
    free(copy);
    cv_sampler_free(s);
}

/* ------------------------------------------------------------ strategy choice */

static const char *golden_a(const char *run, const char *file)
{
    static char p[2][4096];
    static int i;
    const char *d = getenv("CV_TESTDATA");
    i = (i + 1) % 2;
    snprintf(p[i], sizeof p[i], "%s/golden-A/%s/%s", d ? d : "testdata", run, file);
    return p[i];
}

/* Every autoregressive golden run: our choice for each step's counter is
 * the original's (step_strategy.npy), quirk 4 included. */
static void test_pick_settings(void **state)
{
    (void)state;
    static const char *const runs[] = {"s1_first", "s1_video_guided", "s1_video_noguide", "s2_interp_noguide",
                                       "s2_interp_guided", "s2_interp_guided_fixedguider"};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        json_error_t je;
        json_t *m = json_load_file(golden_a(runs[r], "meta.json"), 0, &je);
        if (!m)
            fail_msg("%s: %s", golden_a(runs[r], "meta.json"), je.text);
        const bool stage1 = json_is_true(json_object_get(m, "mode_stage1"));
        const int64_t tl = json_integer_value(json_object_get(m, "text_len"));
        const int64_t fl = json_integer_value(json_object_get(m, "frame_len"));
        json_decref(m);
        cv_npy a, b;
        int64_t *cnt, *str;
        if (cv_npy_load_i64(golden_a(runs[r], "step_counter.npy"), &a, &cnt, NULL) ||
            cv_npy_load_i64(golden_a(runs[r], "step_strategy.npy"), &b, &str, NULL))
            fail_msg("%s: step_counter.npy / step_strategy.npy unreadable", runs[r]);
        assert_int_equal(a.count, b.count);
        int n1 = 0, n1_fixed = 0;
        for (size_t i = 0; i < a.count; i++) {
            const cv_strategy got = cv_sampler_pick_settings(stage1, cnt[i], tl, fl, true);
            if ((int64_t)got != str[i])
                fail_msg("%s step %zu (counter %lld): strategy %d (original %lld)", runs[r], i, (long long)cnt[i],
                         (int)got, (long long)str[i]);
            n1 += got == CV_STRATEGY_FIRST_FRAME;
            n1_fixed += cv_sampler_pick_settings(stage1, cnt[i], tl, fl, false) == CV_STRATEGY_FIRST_FRAME;
        }
        printf("  %s: %zu steps as the original (%d with the first-frame strategy; %d when fixed)\n", runs[r],
               a.count, n1, n1_fixed);
        if (!strcmp(runs[r], "s1_first")) /* quirk 4: the 400th token; fixed: the whole frame */
            assert_true(n1 == (int)fl - 1 && n1_fixed == (int)fl);
        free(cnt);
        free(str);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_kat),
        cmocka_unit_test(test_rng_keys),
        cmocka_unit_test(test_rng_uniform),
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_draws),
        cmocka_unit_test(test_order_and_threads),
        cmocka_unit_test(test_small_and_ties),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pick_settings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
