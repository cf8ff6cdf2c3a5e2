/* test_kernels.c — the kernel twin tester (dav1d's checkasm in spirit).
 *
 *   1. Every reference kernel against an independent double-precision oracle
 *      written here (conversions: all 65536 inputs, bit for bit).
 *   2. For every SIMD level this build has and this CPU runs, the table
 *      cv_kernels_init(&k, flag) against the reference table: only slots whose
 *      pointer differs are tested, with random sizes (edge sizes first, then
 *      random ones with odd tails), unaligned pointers, outputs pre-filled
 *      with 0x99 and guarded by canaries after the end (and between rows for
 *      strided GEMM outputs), in-place calls where the kernel allows them.
 *      Error: NMSE (ggml), limits in tests/tolerances.h, 0 = bit-exact.
 *   3. GEMV/GEMM row-split invariance (one call == two calls on row ranges,
 *      bit for bit) at every level, and cv_gemv/cv_gemm with 1, 2 and 3
 *      threads bit-identical.
 *   4. Batch invariance of the small-m GEMMs at every level (rows_*): each
 *      row of an m-row call == that row alone, bit for bit.
 *
 * Usage: test_kernels [--seed N] [--kernel PREFIX] [--list] [--bench]
 * The seed is random (time-based) unless given, and printed first: rerun
 * with --seed N to replay a failure.  Each kernel draws its own stream from
 * (seed, name), so --kernel replays that kernel's data too.  Exit 0 if all
 * passed, 1 otherwise (one automake test). */
#define _POSIX_C_SOURCE 200809L

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "bandwidth.h"
#include "kernels.h"
#include "linear.h"
#include "tolerances.h"

/* ================================================================ random */

/* splitmix64: small, good enough, and the same on every platform. */
typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static float rnd_float(rng_t *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)((double)(rnd(r) >> 40) * 0x1p-24);
}

/* uniform in [lo, hi], inclusive */
static size_t rnd_range(rng_t *r, size_t lo, size_t hi)
{
    return lo + (size_t)(rnd(r) % (uint64_t)(hi - lo + 1));
}

static void fill_uniform(rng_t *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = rnd_float(r, lo, hi);
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* ================================================================ buffers */

#define GUARD 64   /* canary bytes after every buffer */
#define CANARY 0x99

/* A buffer placed `lead` bytes after a 64-byte-aligned allocation, with
 * CANARY bytes before it and GUARD canary bytes after it. */
typedef struct {
    unsigned char *mem;
    size_t lead, bytes, total;
} gbuf;

static void *gbuf_new(gbuf *b, size_t bytes, size_t lead)
{
    b->total = (lead + bytes + GUARD + 63) / 64 * 64;
    b->mem = aligned_alloc(64, b->total);
    if (!b->mem) {
        fprintf(stderr, "test_kernels: out of memory (%zu bytes)\n", b->total);
        exit(99); /* automake: hard error */
    }
    memset(b->mem, CANARY, b->total);
    b->lead = lead;
    b->bytes = bytes;
    return b->mem + lead;
}

static int canary_intact(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != CANARY)
            return 0;
    return 1;
}

/* Nothing was written before or after the buffer. */
static int gbuf_intact(const gbuf *b)
{
    return canary_intact(b->mem, b->lead) &&
           canary_intact(b->mem + b->lead + b->bytes, b->total - b->lead - b->bytes);
}

static void gbuf_free(gbuf *b)
{
    free(b->mem);
    b->mem = NULL;
}

/* Float buffer of n elements, misaligned by 0..7 floats (every position
 * within a 32-byte vector). */
static float *fbuf(gbuf *b, rng_t *r, size_t n)
{
    return gbuf_new(b, n * sizeof(float), 4 * rnd_range(r, 0, 7));
}

/* ================================================================ checks */

#define N_GROUPS 4

/* One kernel at one level.  NMSE (ggml's measure) is taken over ALL the
 * outputs of the run that share an input distribution (a "group": gelu's
 * input range, softmax's logit range, layernorm's offset): per call it
 * would be meaningless for a row whose outputs are all ~0 (gelu of a few
 * x < -5), where harmless last-bit differences weigh as much as a bug.
 * NaN, infinities and bit-exact kernels are checked element by element. */
typedef struct {
    rng_t rng;
    const char *name;
    double tol;      /* max NMSE; 0 = bit-exact */
    int nan_ok;      /* NaN expected where the reference has NaN (conversions) */
    int group;       /* input distribution of the current call, < N_GROUPS */
    double num[N_GROUPS], den[N_GROUPS]; /* sums of (got - want)^2, want^2 */
    double worst_num;                    /* largest error of one call ... */
    char worst_ctx[200];                 /* ... and its parameters */
    double worst;    /* the NMSE reported: the largest over the groups */
    double worst_ratio; /* q8 kernels: the largest |diff| / its bound */
    int failed;
    char first[320]; /* the first failure, with the parameters to find it */
} check;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void fail(check *ck, const char *fmt, ...)
{
    if (!ck->failed++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ck->first, sizeof ck->first, fmt, ap);
        va_end(ap);
    }
}

/* Error accumulated over one output (possibly several calls or rows). */
typedef struct {
    double num, den;
    int bad;
    char msg[160];
} errsum;

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void bad_elem(errsum *e, size_t i, float want, float got, const char *why)
{
    if (!e->bad++)
        snprintf(e->msg, sizeof e->msg, "element %zu: want %a (%.9g) got %a (%.9g): %s", i,
                 (double)want, (double)want, (double)got, (double)got, why);
}

/* Adds n elements: NaN and infinities must agree, exact checks compare bits,
 * the rest adds to the NMSE sums. */
static void err_add(const check *ck, errsum *e, const float *want, const float *got, size_t n,
                    size_t first_index)
{
    for (size_t i = 0; i < n; i++) {
        const float w = want[i], g = got[i];
        const size_t at = first_index + i;
        if (isnan(w) || isnan(g)) {
            if (!(isnan(w) && isnan(g)))
                bad_elem(e, at, w, g, "NaN mismatch");
            else if (!ck->nan_ok)
                bad_elem(e, at, w, g, "NaN in the expected output");
        } else if (isinf(w) || isinf(g)) {
            if (w != g)
                bad_elem(e, at, w, g, "infinity mismatch");
        } else if (ck->tol == 0) {
            if (bits_of(w) != bits_of(g))
                bad_elem(e, at, w, g, "not bit-exact");
        } else {
            const double d = (double)g - (double)w;
            e->num += d * d;
            e->den += (double)w * (double)w;
        }
    }
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void err_done(check *ck, const errsum *e, const char *fmt, ...)
{
    char ctx[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    ck->num[ck->group] += e->num;
    ck->den[ck->group] += e->den;
    if (e->num > ck->worst_num) {
        ck->worst_num = e->num;
        snprintf(ck->worst_ctx, sizeof ck->worst_ctx, "%s (nmse of that call %.2g)", ctx,
                 e->den > 0 ? e->num / e->den : INFINITY);
    }
    if (e->bad)
        fail(ck, "%s: %s", ctx, e->msg);
}

/* The run's NMSE per group against the tolerance. */
static void check_finish(check *ck)
{
    for (int g = 0; g < N_GROUPS; g++) {
        const double nmse = ck->den[g] > 0 ? ck->num[g] / ck->den[g]
                                           : (ck->num[g] > 0 ? INFINITY : 0.0);
        if (nmse > ck->worst)
            ck->worst = nmse;
    }
    if (ck->worst > ck->tol)
        fail(ck, "nmse %.3g > %.3g; the largest error was in %s", ck->worst, ck->tol,
             ck->worst_ctx);
}

/* Compares one contiguous output. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static void compare(check *ck, const float *want, const float *got, size_t n, const char *fmt,
                    ...)
{
    errsum e = {0};
    char ctx[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    err_add(ck, &e, want, got, n, 0);
    err_done(ck, &e, "%s", ctx);
}

#define GUARDS_OK(ck, b, ...)                                                                      \
    do {                                                                                           \
        if (!gbuf_intact(b)) {                                                                     \
            char ctx_[160];                                                                        \
            snprintf(ctx_, sizeof ctx_, __VA_ARGS__);                                              \
            fail(ck, "%s: wrote outside its output (canary overwritten)", ctx_);                   \
        }                                                                                          \
    } while (0)

static void require_bitequal(check *ck, const float *a, const float *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (bits_of(a[i]) != bits_of(b[i])) {
            fail(ck, "%s: element %zu differs (%a vs %a)", what, i, (double)a[i], (double)b[i]);
            return;
        }
}

/* ================================================================ sizes */

static const size_t edge_sizes[] = {0,  1,  2,  3,   4,   5,   7,   8,    9,    15,   16,  17,
                                    31, 32, 33, 63,  64,  65,  127, 128,  129,  255,  256, 257,
                                    1000, 1023, 1024, 1025, 4095, 4096};
#define N_EDGE (sizeof edge_sizes / sizeof edge_sizes[0])
#define N_RANDOM 12

/* The i-th length of a vector-kernel run: edge sizes, then random ones. */
static size_t vec_size(check *ck, size_t i)
{
    return i < N_EDGE ? edge_sizes[i] : rnd_range(&ck->rng, 1, 4096);
}

/* ================================================================ oracles
 * Independent double-precision versions of the reference kernels. */

static float oracle_dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

/* y[h] = the dot product of head h, in double, rounded once */
static void oracle_mhdot(float *y, const float *q, const float *k, size_t heads, size_t dh)
{
    for (size_t h = 0; h < heads; h++)
        y[h] = oracle_dot(q + h * dh, k + h * dh, dh);
}

static double gelu_d(double x)
{
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

static double swish_d(double x)
{
    return x / (1.0 + exp(-x));
}

static void oracle_softmax(float *y, const float *x, size_t n)
{
    double max = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    for (size_t i = 0; i < n; i++)
        sum += exp((double)x[i] - max);
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(exp((double)x[i] - max) / sum);
}

static void oracle_layernorm(float *y, const float *x, const float *g, const float *b, size_t n,
                             float eps)
{
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= (double)n;
    const double rstd = 1.0 / sqrt(var + eps);
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(((double)x[i] - mean) * rstd * (g ? g[i] : 1.0) + (b ? b[i] : 0.0));
}

/* binary16 by its definition: (-1)^s 2^(e-15) (1 + m/1024), subnormals
 * m 2^-24; inf/NaN keep the payload (the reference's documented choice). */
static float oracle_f16(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 1023;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 31) {
        const uint32_t u = ((uint32_t)(h & 0x8000) << 16) | 0x7f800000u | ((uint32_t)m << 13);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    return (float)(sign * (e ? ldexp(1024 + m, e - 25) : ldexp(m, -24)));
}

/* bfloat16 by its definition: 8 exponent bits, 7 mantissa bits, bias 127. */
static float oracle_bf16(uint16_t h)
{
    const int e = (h >> 7) & 255, m = h & 127;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 255) {
        const uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    return (float)(sign * (e ? ldexp(128 + m, e - 134) : ldexp(m, -133)));
}

/* One weight element widened to double (conversions are tested exhaustively
 * on their own, so the oracle may use the exact cv_types.h helpers). */
static double weight_at(cv_type t, const void *w, size_t cols, size_t r, size_t c)
{
    const size_t i = r * cols + c;
    switch (t) {
    case CV_TYPE_F32: return ((const float *)w)[i];
    case CV_TYPE_F16: return cv_f16_to_f32(((const uint16_t *)w)[i]);
    case CV_TYPE_BF16: return cv_bf16_to_f32(((const uint16_t *)w)[i]);
    case CV_TYPE_Q8_0: {
        const cv_block_q8_0 *b = (const cv_block_q8_0 *)w + i / CV_QK8_0;
        return (double)cv_f16_to_f32(b->d) * b->qs[i % CV_QK8_0];
    }
    }
    return NAN;
}

static void oracle_gemm(cv_type t, size_t m, size_t n, size_t k, const float *x, size_t ldx,
                        const void *w, float *y, size_t ldy)
{
    for (size_t i = 0; i < m; i++)
        for (size_t r = 0; r < n; r++) {
            double s = 0;
            for (size_t c = 0; c < k; c++)
                s += weight_at(t, w, k, r, c) * x[i * ldx + c];
            y[i * ldy + r] = (float)s;
        }
}

/* ================================================================ test cases */

typedef struct kernel_test kernel_test;
/* want == NULL: oracle mode, `got` is the reference table checked against
 * the double-precision oracle; otherwise got's slot against want's. */
typedef void (*test_fn)(check *ck, const kernel_test *kt, const cv_kernels *want,
                        const cv_kernels *got);

struct kernel_test {
    const char *name;
    size_t slot; /* offsetof(cv_kernels, ...) */
    cv_type type;
    test_fn test;
};

/* dot and sum: 8 calls per size on independent vectors at 8 different
 * alignments (a scalar result is one sample; 8 make the NMSE steadier). */
#define BATCH 8

static void test_dot(check *ck, const kernel_test *kt, const cv_kernels *want,
                     const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it), stride = n + 1;
        gbuf ba, bb;
        float *a = fbuf(&ba, &ck->rng, BATCH * stride), *b = fbuf(&bb, &ck->rng, BATCH * stride);
        fill_uniform(&ck->rng, a, BATCH * stride, -1, 1); /* mixed signs: cancellation */
        fill_uniform(&ck->rng, b, BATCH * stride, -1, 1);
        float w[BATCH], g[BATCH];
        for (size_t j = 0; j < BATCH; j++) {
            const float *aj = a + j * stride, *bj = b + (BATCH - 1 - j) * stride;
            w[j] = want ? want->dot_f32(aj, bj, n) : oracle_dot(aj, bj, n);
            g[j] = got->dot_f32(aj, bj, n);
        }
        compare(ck, w, g, BATCH, "n=%zu", n);
        GUARDS_OK(ck, &ba, "n=%zu", n);
        GUARDS_OK(ck, &bb, "n=%zu", n);
        gbuf_free(&ba);
        gbuf_free(&bb);
    }
}

static void test_sum(check *ck, const kernel_test *kt, const cv_kernels *want,
                     const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it), stride = n + 1;
        gbuf bx;
        float *x = fbuf(&bx, &ck->rng, BATCH * stride);
        fill_uniform(&ck->rng, x, BATCH * stride, -1, 1);
        float w[BATCH], g[BATCH];
        for (size_t j = 0; j < BATCH; j++) {
            const float *xj = x + j * stride;
            double s = 0;
            for (size_t i = 0; i < n; i++)
                s += xj[i];
            w[j] = want ? want->sum_f32(xj, n) : (float)s;
            g[j] = got->sum_f32(xj, n);
        }
        compare(ck, w, g, BATCH, "n=%zu", n);
        GUARDS_OK(ck, &bx, "n=%zu", n);
        gbuf_free(&bx);
    }
}

static void test_axpy(check *ck, const kernel_test *kt, const cv_kernels *want,
                      const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it);
        gbuf bx, bw, bg;
        float *x = fbuf(&bx, &ck->rng, n), *yw = fbuf(&bw, &ck->rng, n);
        float *yg = fbuf(&bg, &ck->rng, n);
        const float a = rnd_float(&ck->rng, -2, 2);
        fill_uniform(&ck->rng, x, n, -1, 1);
        fill_uniform(&ck->rng, yw, n, -1, 1);
        if (n)
            memcpy(yg, yw, n * sizeof *yg);
        if (want)
            want->axpy_f32(yw, a, x, n);
        else
            for (size_t i = 0; i < n; i++)
                yw[i] = (float)((double)yw[i] + (double)a * x[i]);
        got->axpy_f32(yg, a, x, n);
        compare(ck, yw, yg, n, "n=%zu a=%a", n, (double)a);
        GUARDS_OK(ck, &bg, "n=%zu", n);
        GUARDS_OK(ck, &bw, "n=%zu", n);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* add, mul (kt->name says which); also in place, y == a and y == b */
static void test_binary(check *ck, const kernel_test *kt, const cv_kernels *want,
                        const cv_kernels *got)
{
    const int is_add = strcmp(kt->name, "add_f32") == 0;
    const cv_binary_fn gf = is_add ? got->add_f32 : got->mul_f32;
    const cv_binary_fn wf = want ? (is_add ? want->add_f32 : want->mul_f32) : NULL;
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it);
        gbuf ba, bb, bw, bg;
        float *a = fbuf(&ba, &ck->rng, n), *b = fbuf(&bb, &ck->rng, n);
        float *yw = fbuf(&bw, &ck->rng, n), *yg = fbuf(&bg, &ck->rng, n);
        fill_uniform(&ck->rng, a, n, -4, 4);
        fill_uniform(&ck->rng, b, n, -4, 4);
        if (wf)
            wf(yw, a, b, n);
        else /* exact in double, then one rounding: the IEEE float result */
            for (size_t i = 0; i < n; i++)
                yw[i] = (float)(is_add ? (double)a[i] + b[i] : (double)a[i] * b[i]);
        const int mode = (int)(it % 3); /* 0: out of place, 1: y == a, 2: y == b */
        if (mode && n)
            memcpy(yg, mode == 1 ? a : b, n * sizeof *yg);
        gf(yg, mode == 1 ? yg : a, mode == 2 ? yg : b, n);
        compare(ck, yw, yg, n, "n=%zu%s", n, mode ? (mode == 1 ? " in place y=a" : " in place y=b") : "");
        GUARDS_OK(ck, &bg, "n=%zu", n);
        GUARDS_OK(ck, &bw, "n=%zu", n);
        gbuf_free(&ba);
        gbuf_free(&bb);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

static void test_scale(check *ck, const kernel_test *kt, const cv_kernels *want,
                       const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it);
        gbuf bx, bw, bg;
        float *x = fbuf(&bx, &ck->rng, n), *yw = fbuf(&bw, &ck->rng, n);
        float *yg = fbuf(&bg, &ck->rng, n);
        const float s = rnd_float(&ck->rng, -3, 3);
        fill_uniform(&ck->rng, x, n, -4, 4);
        if (want)
            want->scale_f32(yw, x, s, n);
        else
            for (size_t i = 0; i < n; i++)
                yw[i] = (float)((double)s * x[i]);
        const int in_place = it % 2;
        if (in_place && n)
            memcpy(yg, x, n * sizeof *yg);
        got->scale_f32(yg, in_place ? yg : x, s, n);
        compare(ck, yw, yg, n, "n=%zu s=%a%s", n, (double)s, in_place ? " in place" : "");
        GUARDS_OK(ck, &bg, "n=%zu", n);
        GUARDS_OK(ck, &bw, "n=%zu", n);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* One elementwise activation f (in place every other call) on x drawn
 * from [-range[g], range[g]] for the three groups g, against the twin
 * `want` or, for the reference, the double-precision oracle. */
static void unary_case(check *ck, cv_unary_fn want, cv_unary_fn got, double (*oracle)(double),
                       const float range[3])
{
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it);
        const float lim = range[it % 3];
        ck->group = (int)(it % 3);
        gbuf bx, bw, bg;
        float *x = fbuf(&bx, &ck->rng, n), *yw = fbuf(&bw, &ck->rng, n);
        float *yg = fbuf(&bg, &ck->rng, n);
        fill_uniform(&ck->rng, x, n, -lim, lim);
        if (want)
            want(yw, x, n);
        else
            for (size_t i = 0; i < n; i++)
                yw[i] = (float)oracle(x[i]);
        const int in_place = (it / 3) % 2;
        if (in_place && n)
            memcpy(yg, x, n * sizeof *yg);
        got(yg, in_place ? yg : x, n);
        compare(ck, yw, yg, n, "n=%zu x in [-%g, %g]%s", n, (double)lim, (double)lim,
                in_place ? " in place" : "");
        GUARDS_OK(ck, &bg, "n=%zu", n);
        GUARDS_OK(ck, &bw, "n=%zu", n);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* x in [-10, 10], then [-3, 3] where tanh bends, then [-0.5, 0.5] where a
 * bad small-argument path shows. */
static void test_gelu(check *ck, const kernel_test *kt, const cv_kernels *want,
                      const cv_kernels *got)
{
    (void)kt;
    static const float range[] = {10, 3, 0.5f};
    unary_case(ck, want ? want->gelu_f32 : NULL, got->gelu_f32, gelu_d, range);
}

/* VQVAE: swish on x in [-100, 100] (saturation at both ends), [-8, 8] and
 * [-0.5, 0.5]. */
static void test_swish(check *ck, const kernel_test *kt, const cv_kernels *want,
                       const cv_kernels *got)
{
    (void)kt;
    static const float range[] = {100, 8, 0.5f};
    unary_case(ck, want ? want->swish_f32 : NULL, got->swish_f32, swish_d, range);
}

/* logits of growing range, some shifted far from 0 (without the max
 * subtraction exp(1000) overflows) */
static void test_softmax(check *ck, const kernel_test *kt, const cv_kernels *want,
                         const cv_kernels *got)
{
    (void)kt;
    static const float range[] = {1, 10, 100, 30};
    static const float shift[] = {0, 0, 0, 1000, -1000};
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it);
        const float lim = range[it % 4], off = shift[it % 5];
        ck->group = (int)(it % 4);
        gbuf bx, bw, bg;
        float *x = fbuf(&bx, &ck->rng, n), *yw = fbuf(&bw, &ck->rng, n);
        float *yg = fbuf(&bg, &ck->rng, n);
        fill_uniform(&ck->rng, x, n, off - lim, off + lim);
        if (n) {
            memcpy(yw, x, n * sizeof *yw);
            memcpy(yg, x, n * sizeof *yg);
        }
        if (want)
            want->softmax_f32(yw, n);
        else
            oracle_softmax(yw, x, n);
        got->softmax_f32(yg, n);
        compare(ck, yw, yg, n, "n=%zu x in [%g, %g]", n, (double)(off - lim),
                (double)(off + lim));
        GUARDS_OK(ck, &bg, "n=%zu", n);
        GUARDS_OK(ck, &bw, "n=%zu", n);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* rows with mean 100 and std 1 (the naive variance fails here), mean 0,
 * and mean -3 with std 0.06; gamma/beta present or NULL; in place every
 * other call */
static void test_layernorm(check *ck, const kernel_test *kt, const cv_kernels *want,
                           const cv_kernels *got)
{
    (void)kt;
    static const float mean[] = {100, 0, -3}, half[] = {1.7320508f, 1.7320508f, 0.1f};
    for (size_t it = 0; it < N_EDGE + N_RANDOM; it++) {
        const size_t n = vec_size(ck, it);
        const size_t kind = it % 3;
        ck->group = (int)kind;
        const int use_g = (it / 3) % 2, use_b = (it / 6) % 2, in_place = it % 2;
        const float eps = it % 4 < 2 ? 1e-5f : 1e-6f;
        gbuf bx, bgm, bbt, bw, bg;
        float *x = fbuf(&bx, &ck->rng, n), *gm = fbuf(&bgm, &ck->rng, n);
        float *bt = fbuf(&bbt, &ck->rng, n);
        float *yw = fbuf(&bw, &ck->rng, n), *yg = fbuf(&bg, &ck->rng, n);
        fill_uniform(&ck->rng, x, n, mean[kind] - half[kind], mean[kind] + half[kind]);
        fill_uniform(&ck->rng, gm, n, 0.5f, 1.5f);
        fill_uniform(&ck->rng, bt, n, -1, 1);
        const float *g = use_g ? gm : NULL, *b = use_b ? bt : NULL;
        if (want)
            want->layernorm_f32(yw, x, g, b, n, eps);
        else
            oracle_layernorm(yw, x, g, b, n, eps);
        if (in_place && n)
            memcpy(yg, x, n * sizeof *yg);
        got->layernorm_f32(yg, in_place ? yg : x, g, b, n, eps);
        compare(ck, yw, yg, n, "n=%zu mean %g gamma %s beta %s eps %g%s", n, (double)mean[kind],
                g ? "yes" : "NULL", b ? "yes" : "NULL", (double)eps, in_place ? " in place" : "");
        GUARDS_OK(ck, &bg, "n=%zu", n);
        GUARDS_OK(ck, &bw, "n=%zu", n);
        gbuf_free(&bx);
        gbuf_free(&bgm);
        gbuf_free(&bbt);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* f16/bf16 -> f32: random lengths of random bit patterns (NaN and inf
 * included), then all 65536 values in one call. */
static void test_cvt(check *ck, const kernel_test *kt, const cv_kernels *want,
                     const cv_kernels *got)
{
    const int is_f16 = strcmp(kt->name, "f16_to_f32") == 0;
    const cv_cvt_fn gf = is_f16 ? got->f16_to_f32 : got->bf16_to_f32;
    const cv_cvt_fn wf = want ? (is_f16 ? want->f16_to_f32 : want->bf16_to_f32) : NULL;
    ck->nan_ok = 1;
    for (size_t it = 0; it <= N_EDGE + N_RANDOM; it++) {
        const size_t n = it < N_EDGE + N_RANDOM ? vec_size(ck, it) : 65536;
        gbuf bx, bw, bg;
        uint16_t *x = gbuf_new(&bx, n * 2, 2 * rnd_range(&ck->rng, 0, 15));
        float *yw = fbuf(&bw, &ck->rng, n), *yg = fbuf(&bg, &ck->rng, n);
        for (size_t i = 0; i < n; i++)
            x[i] = n == 65536 ? (uint16_t)i : (uint16_t)rnd(&ck->rng);
        if (wf)
            wf(yw, x, n);
        else
            for (size_t i = 0; i < n; i++)
                yw[i] = is_f16 ? oracle_f16(x[i]) : oracle_bf16(x[i]);
        gf(yg, x, n);
        compare(ck, yw, yg, n, "n=%zu%s", n, n == 65536 ? " (every input)" : "");
        if (!want) /* the reference also keeps NaN payloads, bit for bit */
            require_bitequal(ck, yw, yg, n, "NaN payload");
        GUARDS_OK(ck, &bg, "n=%zu", n);
        GUARDS_OK(ck, &bw, "n=%zu", n);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* ------------------------------------------------ weights for gemv / gemm */

/* Random weights of type t, [rows, cols], written to w: values in [-1, 1],
 * q8_0 with scales in [0.002, 0.02] and the full int8 range. */
static void fill_weights(rng_t *r, cv_type t, void *w, size_t rows, size_t cols)
{
    const size_t n = rows * cols;
    switch (t) {
    case CV_TYPE_F32:
        fill_uniform(r, w, n, -1, 1);
        break;
    case CV_TYPE_F16:
    case CV_TYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            const float v = rnd_float(r, -1, 1);
            ((uint16_t *)w)[i] = t == CV_TYPE_F16 ? cv_f32_to_f16(v) : cv_f32_to_bf16(v);
        }
        break;
    case CV_TYPE_Q8_0:
        for (size_t i = 0; i < n / CV_QK8_0; i++) {
            cv_block_q8_0 blk;
            blk.d = cv_f32_to_f16(rnd_float(r, 0.002f, 0.02f));
            for (size_t j = 0; j < CV_QK8_0; j++) /* -128 included */
                blk.qs[j] = (int8_t)(rnd(r) & 0xff);
            memcpy((char *)w + i * sizeof blk, &blk, sizeof blk);
        }
        break;
    }
}

/* The same in a guarded buffer, misaligned but element-aligned (C needs the
 * element type's alignment; SIMD alignment is not required). */
static void *make_weights(gbuf *b, rng_t *r, cv_type t, size_t rows, size_t cols)
{
    const size_t lead = t == CV_TYPE_F32 ? 4 * rnd_range(r, 0, 7) : 2 * rnd_range(r, 0, 15);
    void *w = gbuf_new(b, cv_rows_nbytes(t, rows, cols), lead);
    fill_weights(r, t, w, rows, cols);
    return w;
}

static size_t rand_cols(rng_t *r, cv_type t, size_t max)
{
    return t == CV_TYPE_Q8_0 ? CV_QK8_0 * rnd_range(r, 0, max / CV_QK8_0)
                             : rnd_range(r, 0, max);
}

static const size_t edge_rows[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 15, 16, 17, 31, 33, 64, 65};
#define N_EDGE_ROWS (sizeof edge_rows / sizeof edge_rows[0])

static void test_gemv(check *ck, const kernel_test *kt, const cv_kernels *want,
                      const cv_kernels *got)
{
    const cv_type t = kt->type;
    const cv_gemv_fn gf = cv_gemv_kernel(got, t);
    for (size_t it = 0; it < N_EDGE_ROWS + 8; it++) {
        const size_t rows = it < N_EDGE_ROWS ? edge_rows[it] : rnd_range(&ck->rng, 1, 300);
        const size_t cols = it == 1 ? 0 : rand_cols(&ck->rng, t, 1024);
        gbuf bwt, bx, bw, bg, bs;
        const void *w = make_weights(&bwt, &ck->rng, t, rows, cols);
        float *x = fbuf(&bx, &ck->rng, cols);
        float *yw = fbuf(&bw, &ck->rng, rows), *yg = fbuf(&bg, &ck->rng, rows);
        float *ys = fbuf(&bs, &ck->rng, rows);
        fill_uniform(&ck->rng, x, cols, -1, 1);
        if (want)
            cv_gemv_kernel(want, t)(rows, cols, w, x, yw);
        else
            oracle_gemm(t, 1, rows, cols, x, cols, w, yw, rows);
        gf(rows, cols, w, x, yg);
        compare(ck, yw, yg, rows, "rows=%zu cols=%zu", rows, cols);
        /* rows [0, a) and [a, rows) in two calls: the same bits */
        const size_t a = rnd_range(&ck->rng, 0, rows);
        gf(a, cols, w, x, ys);
        gf(rows - a, cols, (const char *)w + cv_rows_nbytes(t, a, cols), x, ys + a);
        char what[96];
        snprintf(what, sizeof what, "rows=%zu cols=%zu split at %zu vs one call", rows, cols, a);
        require_bitequal(ck, yg, ys, rows, what);
        GUARDS_OK(ck, &bg, "rows=%zu cols=%zu", rows, cols);
        GUARDS_OK(ck, &bw, "rows=%zu cols=%zu", rows, cols);
        GUARDS_OK(ck, &bs, "rows=%zu cols=%zu split", rows, cols);
        gbuf_free(&bwt);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
        gbuf_free(&bs);
    }
}

/* Y [m, n] with stride ldy: every gap element (columns n .. ldy-1) still
 * holds the canary. */
static int gaps_intact(const float *y, size_t m, size_t n, size_t ldy)
{
    for (size_t i = 0; i + 1 < m; i++)
        if (!canary_intact((const unsigned char *)(y + i * ldy + n), (ldy - n) * sizeof *y))
            return 0;
    return 1;
}

typedef struct {
    size_t m, n, k, ldx, ldy;
} gemm_shape;

static gemm_shape gemm_pick(check *ck, cv_type t, size_t it)
{
    gemm_shape s;
    s.m = it < N_EDGE_ROWS ? edge_rows[it] : rnd_range(&ck->rng, 1, 80);
    s.n = it == 1 ? 0 : rnd_range(&ck->rng, 1, 96);
    s.k = it == 2 ? 0 : rand_cols(&ck->rng, t, 320);
    s.ldx = s.k + rnd_range(&ck->rng, 0, 5);
    s.ldy = s.n + rnd_range(&ck->rng, 0, 5);
    return s;
}

/* Y computed again as two calls over weight rows [0, a) + [a, n) and over
 * activation rows [0, b) + [b, m): both must reproduce `ref` bit for bit. */
static void gemm_split(check *ck, cv_type t, cv_gemm_fn f, gemm_shape s, const float *x,
                       const void *w, const float *ref)
{
    const size_t ysz = s.m ? (s.m - 1) * s.ldy + s.n : 0;
    gbuf bs;
    float *ys = fbuf(&bs, &ck->rng, ysz);
    const size_t a = rnd_range(&ck->rng, 0, s.n), b = rnd_range(&ck->rng, 0, s.m);
    char what[128];
    f(s.m, a, s.k, x, s.ldx, w, ys, s.ldy);
    f(s.m, s.n - a, s.k, x, s.ldx, (const char *)w + cv_rows_nbytes(t, a, s.k), ys + a, s.ldy);
    snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: weight rows split at %zu vs one call", s.m,
             s.n, s.k, a);
    require_bitequal(ck, ref, ys, ysz, what);
    memset(ys, CANARY, ysz * sizeof *ys);
    f(b, s.n, s.k, x, s.ldx, w, ys, s.ldy);
    f(s.m - b, s.n, s.k, x + b * s.ldx, s.ldx, w, ys + b * s.ldy, s.ldy);
    snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: activation rows split at %zu vs one call",
             s.m, s.n, s.k, b);
    require_bitequal(ck, ref, ys, ysz, what);
    GUARDS_OK(ck, &bs, "m=%zu n=%zu k=%zu split", s.m, s.n, s.k);
    gbuf_free(&bs);
}

/* The reference GEMM keeps gemv's natural order: row i of Y is exactly
 * gemv of row i of X. */
static void gemm_vs_gemv(check *ck, cv_type t, const cv_kernels *k, gemm_shape s,
                         const float *x, const void *w, const float *y)
{
    float *row = malloc((s.n ? s.n : 1) * sizeof *row);
    for (size_t i = 0; i < s.m && row; i++) {
        cv_gemv_kernel(k, t)(s.n, s.k, w, x + i * s.ldx, row);
        char what[96];
        snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: row %zu vs gemv", s.m, s.n, s.k, i);
        require_bitequal(ck, row, y + i * s.ldy, s.n, what);
    }
    free(row);
}

/* Each activation row alone (m = 1) must give the bits it gets among m. */
static void gemms_rows_alone(check *ck, cv_gemms_fn f, gemm_shape s, const float *x,
                             const void *w, const float *ref)
{
    gbuf bs;
    float *row = fbuf(&bs, &ck->rng, s.n);
    for (size_t i = 0; i < s.m; i++) {
        f(1, s.n, s.k, x + i * s.ldx, s.ldx, w, row, s.ldy);
        char what[96];
        snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: row %zu alone vs in the call", s.m, s.n,
                 s.k, i);
        require_bitequal(ck, ref + i * s.ldy, row, s.n, what);
    }
    GUARDS_OK(ck, &bs, "m=%zu n=%zu k=%zu rows alone", s.m, s.n, s.k);
    gbuf_free(&bs);
}

/* One shape of a GEMM twin gf (gemm or gemms: the same signature) against
 * want_fn, or the oracle when want_fn is NULL: the stated tolerance, no
 * writes between output rows, split over weight rows bit-identical, and
 * optionally each activation row alone (gemms) and each row vs the
 * table's gemv (the reference keeps gemv's natural order). */
static void gemm_case(check *ck, cv_type t, cv_gemm_fn want_fn, cv_gemm_fn gf,
                      const cv_kernels *got, gemm_shape s, bool rows_alone, bool vs_gemv)
{
    const size_t xsz = s.m ? (s.m - 1) * s.ldx + s.k : 0;
    const size_t ysz = s.m ? (s.m - 1) * s.ldy + s.n : 0;
    gbuf bwt, bx, bw, bg;
    const void *w = make_weights(&bwt, &ck->rng, t, s.n, s.k);
    float *x = fbuf(&bx, &ck->rng, xsz);
    float *yw = fbuf(&bw, &ck->rng, ysz), *yg = fbuf(&bg, &ck->rng, ysz);
    fill_uniform(&ck->rng, x, xsz, -1, 1);
    if (want_fn)
        want_fn(s.m, s.n, s.k, x, s.ldx, w, yw, s.ldy);
    else
        oracle_gemm(t, s.m, s.n, s.k, x, s.ldx, w, yw, s.ldy);
    gf(s.m, s.n, s.k, x, s.ldx, w, yg, s.ldy);
    errsum e = {0};
    for (size_t i = 0; i < s.m; i++)
        err_add(ck, &e, yw + i * s.ldy, yg + i * s.ldy, s.n, i * s.n);
    err_done(ck, &e, "m=%zu n=%zu k=%zu ldx=%zu ldy=%zu", s.m, s.n, s.k, s.ldx, s.ldy);
    if (!gaps_intact(yg, s.m, s.n, s.ldy) || !gaps_intact(yw, s.m, s.n, s.ldy))
        fail(ck, "m=%zu n=%zu k=%zu ldy=%zu: wrote between output rows", s.m, s.n, s.k, s.ldy);
    gemm_split(ck, t, gf, s, x, w, yg);
    if (rows_alone)
        gemms_rows_alone(ck, gf, s, x, w, yg);
    if (vs_gemv)
        gemm_vs_gemv(ck, t, got, s, x, w, yg);
    GUARDS_OK(ck, &bg, "m=%zu n=%zu k=%zu", s.m, s.n, s.k);
    GUARDS_OK(ck, &bw, "m=%zu n=%zu k=%zu", s.m, s.n, s.k);
    gbuf_free(&bwt);
    gbuf_free(&bx);
    gbuf_free(&bw);
    gbuf_free(&bg);
}

static void test_gemm(check *ck, const kernel_test *kt, const cv_kernels *want,
                      const cv_kernels *got)
{
    const cv_type t = kt->type;
    for (size_t it = 0; it < N_EDGE_ROWS + 6; it++)
        gemm_case(ck, t, want ? cv_gemm_kernel(want, t) : NULL, cv_gemm_kernel(got, t), got,
                  gemm_pick(ck, t, it), false,
                  !want && t != CV_TYPE_Q8_0 /* q8_0's gemv takes quantized x */);
}

/* ------------------------------------------------ small-m gemms */

/* m: every value 0 .. 9 first (0 and 9 outside the intended 1 .. 8, which
 * must work too), then random 1 .. 8; k up to 1024 with ragged tails (q8_0:
 * multiples of 32), n up to 70 (odd n leaves a single last weight row). */
static gemm_shape gemms_pick(check *ck, cv_type t, size_t it)
{
    gemm_shape s;
    s.m = it < 10 ? it : rnd_range(&ck->rng, 1, 8);
    s.n = it == 10 ? 0 : it < N_EDGE_ROWS ? edge_rows[it] : rnd_range(&ck->rng, 1, 70);
    s.k = it == 11 ? 0 : it == 12 ? (t == CV_TYPE_Q8_0 ? CV_QK8_0 : 1) : rand_cols(&ck->rng, t, 1024);
    if (s.k == 0 && it > 12) /* keep most calls non-empty */
        s.k = t == CV_TYPE_Q8_0 ? CV_QK8_0 : 7;
    s.ldx = s.k + rnd_range(&ck->rng, 0, 5);
    s.ldy = s.n + rnd_range(&ck->rng, 0, 5);
    return s;
}

static void test_gemms(check *ck, const kernel_test *kt, const cv_kernels *want,
                       const cv_kernels *got)
{
    const cv_type t = kt->type;
    for (size_t it = 0; it < N_EDGE_ROWS + 12; it++)
        gemm_case(ck, t, want ? cv_gemms_kernel(want, t) : NULL, cv_gemms_kernel(got, t), got,
                  gemms_pick(ck, t, it), true, !want);
}

/* ------------------------------------------------ q8_0 integer kernels
 * quantize_q8x must be bit-exact in every twin; gemv_q8_0 / gemms_q8_0 (on
 * activations quantized by the reference) may differ from the reference
 * only by the order of their float sums, and are held to the rigorous bound
 * of that difference, element by element:
 *
 * Every implementation computes T = sum_b s_b isum_b, s_b = fl(d_w d_x)
 * (the same float product everywhere), as a float sum of terms s_b P_bl
 * where the P_bl are exact integer partial sums of isum_b (the reference
 * uses P = isum; AVX2 8 lanes, NEON 4).  In such a sum each term passes
 * through at most D roundings (its product or FMA, the later additions of
 * its chain, the lane reduction): D <= nb + 1 for the reference, nb + 3 for
 * AVX2 (hsum of 8 lanes), nb + 2 for NEON.  So (Higham, Accuracy and
 * Stability, 4.2) |y - T| <= gamma_D sum_bl |s_b P_bl| <= gamma_D S with
 *     S = sum_b |d_w d_x| sum_j |qw_j qx_j| (1 + u),  gamma_D = D u / (1 - D u),
 * u = 2^-24, for any order; two implementations differ by at most
 * 2 gamma_{nb+4} S.  The reference against the double-precision oracle
 * (dequantized weights times dequantized activations) gets gamma_{nb+3} S
 * (the oracle's own error, ~nb 2^-53 S, is inside the 1 % margin).
 * Products that underflow (tiny scales) add at most 2^-130 per block. */

/* Quantized rows in a guarded buffer at a random 4-byte alignment. */
static cv_block_q8x *qbuf(gbuf *b, rng_t *r, size_t nblocks)
{
    return gbuf_new(b, nblocks * sizeof(cv_block_q8x), 4 * rnd_range(r, 0, 7));
}

/* The exact T (in double) and S of one output, from the block data. */
static void q8_exact(const void *wrow, const cv_block_q8x *xr, size_t nb, double *t, double *s)
{
    double tt = 0, ss = 0;
    for (size_t b = 0; b < nb; b++) {
        cv_block_q8_0 wb;
        memcpy(&wb, (const char *)wrow + b * sizeof wb, sizeof wb);
        const double dd = (double)cv_f16_to_f32(wb.d) * xr[b].d; /* exact: 11 + 24 bits */
        long isum = 0, iabs = 0;
        for (size_t j = 0; j < CV_QK8_0; j++) {
            const long p = (long)wb.qs[j] * xr[b].qs[j];
            isum += p;
            iabs += p < 0 ? -p : p;
        }
        tt += dd * (double)isum;
        ss += fabs(dd) * (double)iabs;
    }
    *t = tt;
    *s = ss;
}

/* The bound above for depth D over nb blocks. */
static double q8_bound(double s, size_t nb, size_t depth)
{
    const double u = 0x1p-24, g = (double)depth * u / (1 - (double)depth * u);
    return 1.01 * g * s * (1 + u) + (double)nb * 0x1p-130;
}

/* One output against its expected value within `bound`; also feeds the
 * NMSE (reported, and bounded by tolerances.h as a second net) and the
 * largest |diff| / bound of the run. */
static void q8_elem(check *ck, errsum *e, double want, float got, double bound, size_t at)
{
    const double d = (double)got - want;
    if (!(fabs(d) <= bound) && !e->bad++)
        snprintf(e->msg, sizeof e->msg, "element %zu: want %.9g got %.9g: |diff| %.3g > bound %.3g",
                 at, want, (double)got, fabs(d), bound);
    if (bound > 0 && fabs(d) / bound > ck->worst_ratio)
        ck->worst_ratio = fabs(d) / bound;
    e->num += d * d;
    e->den += want * want;
}

/* Activations of test group g (ck->group): 0 uniform in [-1, 1]; 1 blocks
 * at scales 2^-140 .. 2^emax (subnormal d, dropped blocks, near FLT_MAX for
 * emax = 127; products need a smaller emax to stay finite),
 * zero blocks and -0; 2 exact ties: amax = 127 2^e and values (n + 1/2) 2^e,
 * so x * id = n + 1/2 exactly; 3 like 0 with an inf or NaN in some blocks. */
static void q8_fill(rng_t *r, int g, float *x, size_t n, int emax)
{
    fill_uniform(r, x, n, -1, 1);
    for (size_t b = 0; g > 0 && b < n / CV_QK8_0; b++) {
        float *xb = x + b * CV_QK8_0;
        const size_t pick = rnd_range(r, 0, CV_QK8_0 - 1);
        if (g == 1) {
            const int e = (int)rnd_range(r, 0, (size_t)(emax + 140)) - 140;
            for (size_t j = 0; j < CV_QK8_0; j++)
                xb[j] = rnd_range(r, 0, 9) == 0 ? -0.0f : ldexpf(xb[j], e);
            if (rnd_range(r, 0, 7) == 0)
                memset(xb, 0, CV_QK8_0 * sizeof *xb);
        } else if (g == 2) {
            const int e = (int)rnd_range(r, 0, 40) - 20;
            for (size_t j = 0; j < CV_QK8_0; j++)
                xb[j] = ldexpf((float)rnd_range(r, 0, 253) - 126.5f, e);
            xb[pick] = ldexpf(rnd_range(r, 0, 1) ? 127.0f : -127.0f, e);
        } else if (rnd_range(r, 0, 3) == 0) {
            const float bad[3] = {INFINITY, -INFINITY, NAN};
            xb[pick] = bad[rnd_range(r, 0, 2)];
        }
    }
}

/* The reference quantizer's block against its definition, in double:
 * d = amax / 127 to within one rounding (d = 0 iff that is below FLT_MIN),
 * |q| <= 127, q within 1/2 (+ the float product's rounding) of x / d, ties
 * to even; non-finite blocks d = NaN, q = 0.  A tie is judged on the float
 * product x * (1/d) the kernel is specified to round, not on the exact
 * x / d: when x / d is exactly n + 1/2 the product may round above it, and
 * then n + 1 is right even if odd. */
static const char *q8_block_wrong(const float *x, const cv_block_q8x *q)
{
    double amax = 0;
    int finite = 1;
    for (size_t j = 0; j < CV_QK8_0; j++) {
        finite &= isfinite(x[j]) != 0;
        amax = fabs((double)x[j]) > amax ? fabs((double)x[j]) : amax;
    }
    int zero = 1;
    for (size_t j = 0; j < CV_QK8_0; j++)
        zero &= q->qs[j] == 0;
    if (!finite)
        return isnan(q->d) && zero ? NULL : "a non-finite block must give d = NaN, q = 0";
    const double d = q->d, dx = amax / 127;
    if (d == 0)
        return dx < (double)FLT_MIN * (1 + 0x1p-23) && zero ? NULL : "d = 0 for a normal amax / 127";
    if (!(fabs(d - dx) <= dx * 0x1p-24) || d < (double)FLT_MIN)
        return "d is not amax / 127 rounded once";
    const float id = 1.0f / q->d;
    for (size_t j = 0; j < CV_QK8_0; j++) {
        const double v = x[j] / d, err = fabs(v - q->qs[j]);
        if (q->qs[j] < -127 || err > 0.5 + 0x1p-15)
            return "q is not x / d rounded to nearest";
        const float p = x[j] * id;
        if (fabs((double)p - q->qs[j]) == 0.5 && (q->qs[j] & 1))
            return "a tie not rounded to even";
    }
    return NULL;
}

/* Hand-computed: amax 127 gives d = 1, so q = nearbyint(x). */
static void q8_fixed_ties(check *ck, cv_quantize_q8x_fn f)
{
    static const float x[8] = {127, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f};
    static const int8_t want[8] = {127, 0, 2, 2, 0, -2, -2, 126};
    float in[CV_QK8_0] = {0};
    cv_block_q8x q;
    memcpy(in, x, sizeof x);
    f(in, &q, CV_QK8_0);
    if (q.d != 1.0f || memcmp(q.qs, want, sizeof want) != 0)
        fail(ck, "fixed ties block: d = %g, q[1..7] = %d %d %d %d %d %d %d (want 1; 0 2 2 0 -2 -2 126)",
             (double)q.d, q.qs[1], q.qs[2], q.qs[3], q.qs[4], q.qs[5], q.qs[6], q.qs[7]);
}

static int q8_same(const cv_block_q8x *a, const cv_block_q8x *b)
{
    return bits_of(a->d) == bits_of(b->d) && !memcmp(a->qs, b->qs, sizeof a->qs);
}

static void test_quantize(check *ck, const kernel_test *kt, const cv_kernels *want,
                          const cv_kernels *got)
{
    (void)kt;
    q8_fixed_ties(ck, got->quantize_q8x);
    for (size_t it = 0; it < 4 * (N_EDGE + N_RANDOM); it++) {
        const int g = (int)(it % 4);
        const size_t nb = it < 4 ? it : it < 4 * N_EDGE ? edge_sizes[it / 4] / 4 : rnd_range(&ck->rng, 1, 128);
        const size_t n = nb * CV_QK8_0;
        gbuf bx, bw, bg;
        float *x = fbuf(&bx, &ck->rng, n);
        cv_block_q8x *qw = qbuf(&bw, &ck->rng, nb), *qg = qbuf(&bg, &ck->rng, nb);
        q8_fill(&ck->rng, g, x, n, 127);
        got->quantize_q8x(x, qg, n);
        if (want)
            want->quantize_q8x(x, qw, n);
        for (size_t b = 0; b < nb; b++) {
            const char *why = want ? (q8_same(qw + b, qg + b) ? NULL : "not bit-exact")
                                   : q8_block_wrong(x + b * CV_QK8_0, qg + b);
            if (why) {
                fail(ck, "k=%zu group %d block %zu (d %a): %s", n, g, b, (double)qg[b].d, why);
                break;
            }
        }
        GUARDS_OK(ck, &bg, "k=%zu", n);
        GUARDS_OK(ck, &bw, "k=%zu", n);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* m rows of random activations (group g, finite), quantized by the
 * reference into blocks with row stride ldxq. */
static cv_block_q8x *q8_rows(gbuf *b, rng_t *r, const cv_kernels *ref, int g, size_t m,
                             size_t k, size_t ldxq)
{
    const size_t nb = k / CV_QK8_0;
    cv_block_q8x *xq = qbuf(b, r, m ? (m - 1) * ldxq + nb : 0);
    float *x = malloc((k ? k : 1) * sizeof *x);
    for (size_t i = 0; i < m && x; i++) {
        q8_fill(r, g, x, k, 100); /* |y| < 2^100 * 1024 * 2.6 */
        ref->quantize_q8x(x, xq + i * ldxq, k);
    }
    free(x);
    return xq;
}

/* Y [m, n] (stride ldy) against the oracle (ref == NULL: got is the
 * reference, depth nb + 3) or against ref's Y (yw, twins: 2 gamma_{nb+4}). */
static void q8_compare(check *ck, gemm_shape s, size_t ldxq, const void *w,
                       const cv_block_q8x *xq, const float *yw, const float *yg)
{
    const size_t nb = s.k / CV_QK8_0;
    const size_t row_bytes = cv_rows_nbytes(CV_TYPE_Q8_0, 1, s.k);
    errsum e = {0};
    for (size_t i = 0; i < s.m; i++)
        for (size_t r = 0; r < s.n; r++) {
            double t, sum;
            q8_exact((const char *)w + r * row_bytes, xq + i * ldxq, nb, &t, &sum);
            const double want = yw ? (double)yw[i * s.ldy + r] : t;
            const double bound = yw ? 2 * q8_bound(sum, nb, nb + 4) : q8_bound(sum, nb, nb + 3);
            q8_elem(ck, &e, want, yg[i * s.ldy + r], bound, i * s.n + r);
        }
    err_done(ck, &e, "m=%zu n=%zu k=%zu ldxq=%zu ldy=%zu", s.m, s.n, s.k, ldxq, s.ldy);
}

static void test_gemvq(check *ck, const kernel_test *kt, const cv_kernels *want,
                       const cv_kernels *got)
{
    const cv_kernels *ref = want ? want : got;
    for (size_t it = 0; it < N_EDGE_ROWS + 12; it++) {
        const size_t rows = it < N_EDGE_ROWS ? edge_rows[it] : rnd_range(&ck->rng, 1, 300);
        /* cols: 0, 32, then odd and even multiples of 32 up to 1024 */
        const size_t cols = it == 1 ? 0 : it == 2 ? CV_QK8_0 : rand_cols(&ck->rng, kt->type, 1024);
        const gemm_shape s = {1, rows, cols, cols, rows};
        ck->group = it % 3; /* the finite groups */
        gbuf bwt, bq, bw, bg, bs;
        const void *w = make_weights(&bwt, &ck->rng, CV_TYPE_Q8_0, rows, cols);
        const cv_block_q8x *xq = q8_rows(&bq, &ck->rng, ref, ck->group, 1, cols, cols / CV_QK8_0);
        float *yw = fbuf(&bw, &ck->rng, rows), *yg = fbuf(&bg, &ck->rng, rows);
        float *ys = fbuf(&bs, &ck->rng, rows);
        if (want)
            want->gemv_q8_0(rows, cols, w, xq, yw);
        got->gemv_q8_0(rows, cols, w, xq, yg);
        q8_compare(ck, s, 0, w, xq, want ? yw : NULL, yg);
        /* rows [0, a) and [a, rows) in two calls: the same bits */
        const size_t a = rnd_range(&ck->rng, 0, rows);
        got->gemv_q8_0(a, cols, w, xq, ys);
        got->gemv_q8_0(rows - a, cols, (const char *)w + cv_rows_nbytes(CV_TYPE_Q8_0, a, cols),
                       xq, ys + a);
        char what[96];
        snprintf(what, sizeof what, "rows=%zu cols=%zu split at %zu vs one call", rows, cols, a);
        require_bitequal(ck, yg, ys, rows, what);
        GUARDS_OK(ck, &bg, "rows=%zu cols=%zu", rows, cols);
        GUARDS_OK(ck, &bw, "rows=%zu cols=%zu", rows, cols);
        GUARDS_OK(ck, &bs, "rows=%zu cols=%zu split", rows, cols);
        gbuf_free(&bwt);
        gbuf_free(&bq);
        gbuf_free(&bw);
        gbuf_free(&bg);
        gbuf_free(&bs);
    }
}

/* The q8 small-m checks that need no expected values: the same bits when
 * the weight rows or the activation rows are split over two calls, for
 * each activation row alone (m = 1), and from the table's GEMV (kernels.h:
 * gemv_q8_0 and gemms_q8_0 compute an element alike). */
static void q8_invariances(check *ck, const cv_kernels *k, gemm_shape s, const cv_block_q8x *xq,
                           size_t ldxq, const void *w, const float *ref)
{
    const size_t ysz = s.m ? (s.m - 1) * s.ldy + s.n : 0;
    gbuf bs, br;
    float *ys = fbuf(&bs, &ck->rng, ysz), *row = fbuf(&br, &ck->rng, s.n);
    const size_t a = rnd_range(&ck->rng, 0, s.n), b = rnd_range(&ck->rng, 0, s.m);
    const char *wa = (const char *)w + cv_rows_nbytes(CV_TYPE_Q8_0, a, s.k);
    char what[128];
    k->gemms_q8_0(s.m, a, s.k, xq, ldxq, w, ys, s.ldy);
    k->gemms_q8_0(s.m, s.n - a, s.k, xq, ldxq, wa, ys + a, s.ldy);
    snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: weight rows split at %zu", s.m, s.n, s.k, a);
    require_bitequal(ck, ref, ys, ysz, what);
    k->gemms_q8_0(b, s.n, s.k, xq, ldxq, w, ys, s.ldy);
    k->gemms_q8_0(s.m - b, s.n, s.k, xq + b * ldxq, ldxq, w, ys + b * s.ldy, s.ldy);
    snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: activation rows split at %zu", s.m, s.n, s.k, b);
    require_bitequal(ck, ref, ys, ysz, what);
    for (size_t i = 0; i < s.m; i++) {
        k->gemms_q8_0(1, s.n, s.k, xq + i * ldxq, ldxq, w, row, s.ldy);
        snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: row %zu alone", s.m, s.n, s.k, i);
        require_bitequal(ck, ref + i * s.ldy, row, s.n, what);
        k->gemv_q8_0(s.n, s.k, w, xq + i * ldxq, row);
        snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: row %zu vs gemv", s.m, s.n, s.k, i);
        require_bitequal(ck, ref + i * s.ldy, row, s.n, what);
    }
    GUARDS_OK(ck, &bs, "m=%zu n=%zu k=%zu split", s.m, s.n, s.k);
    GUARDS_OK(ck, &br, "m=%zu n=%zu k=%zu rows alone", s.m, s.n, s.k);
    gbuf_free(&bs);
    gbuf_free(&br);
}

static void test_gemmsq(check *ck, const kernel_test *kt, const cv_kernels *want,
                        const cv_kernels *got)
{
    const cv_kernels *ref = want ? want : got;
    for (size_t it = 0; it < N_EDGE_ROWS + 12; it++) {
        gemm_shape s = gemms_pick(ck, kt->type, it);
        if (it % 8 == 7) { /* long rows, k of 12288 .. 20480 (the model's MLP: 12288);
                            * n past 32 rows: the VNNI twin's row groups over k slices */
            s.k = CV_QK8_0 * rnd_range(&ck->rng, 384, 640);
            s.n = rnd_range(&ck->rng, 1, 40);
            s.ldx = s.k;
            s.ldy = s.n + rnd_range(&ck->rng, 0, 5);
        }
        const size_t ldxq = s.k / CV_QK8_0 + rnd_range(&ck->rng, 0, 3);
        const size_t ysz = s.m ? (s.m - 1) * s.ldy + s.n : 0;
        ck->group = it % 3;
        gbuf bwt, bq, bw, bg;
        const void *w = make_weights(&bwt, &ck->rng, CV_TYPE_Q8_0, s.n, s.k);
        const cv_block_q8x *xq = q8_rows(&bq, &ck->rng, ref, ck->group, s.m, s.k, ldxq);
        float *yw = fbuf(&bw, &ck->rng, ysz), *yg = fbuf(&bg, &ck->rng, ysz);
        if (want)
            want->gemms_q8_0(s.m, s.n, s.k, xq, ldxq, w, yw, s.ldy);
        got->gemms_q8_0(s.m, s.n, s.k, xq, ldxq, w, yg, s.ldy);
        q8_compare(ck, s, ldxq, w, xq, want ? yw : NULL, yg);
        if (!gaps_intact(yg, s.m, s.n, s.ldy) || !gaps_intact(yw, s.m, s.n, s.ldy))
            fail(ck, "m=%zu n=%zu k=%zu ldy=%zu: wrote between output rows", s.m, s.n, s.k,
                 s.ldy);
        q8_invariances(ck, got, s, xq, ldxq, w, yg);
        GUARDS_OK(ck, &bg, "m=%zu n=%zu k=%zu", s.m, s.n, s.k);
        GUARDS_OK(ck, &bw, "m=%zu n=%zu k=%zu", s.m, s.n, s.k);
        gbuf_free(&bwt);
        gbuf_free(&bq);
        gbuf_free(&bw);
        gbuf_free(&bg);
    }
}

/* ------------------------------------------------ multi-head mhdot / mhaxpy */

/* (heads, dh): edge pairs first (the model head sizes 16 and 64, every tail
 * length mod 8, head counts around the 4- and 8-head groups of the twins,
 * heads = 0 as a no-op), then random heads 1..64, dh 1..160. */
static const size_t mh_edge[][2] = {
    {0, 16},  {1, 1},   {1, 16},  {1, 64},  {2, 3},   {3, 5},   {4, 4},   {5, 7},
    {7, 8},   {8, 16},  {9, 64},  {12, 9},  {15, 15}, {16, 17}, {17, 31}, {24, 33},
    {31, 63}, {48, 64}, {64, 64}, {64, 16}, {33, 65}, {6, 127}, {2, 160}, {64, 160},
    {63, 1},  {11, 2},  {13, 6},  {10, 12}, {3, 20},  {40, 44},
};
#define N_MH_EDGE (sizeof mh_edge / sizeof mh_edge[0])
#define N_MH_RANDOM 16

static void mh_size(check *ck, size_t it, size_t *heads, size_t *dh)
{
    *heads = it < N_MH_EDGE ? mh_edge[it][0] : rnd_range(&ck->rng, 1, 64);
    *dh = it < N_MH_EDGE ? mh_edge[it][1] : rnd_range(&ck->rng, 1, 160);
}

/* One query against BATCH key rows at different alignments (as attention
 * calls it: one call per key).  The BATCH score vectors sit heads + 1 floats
 * apart, so a write past one call's heads lands on a canary gap.  Then the
 * heads split in two calls: each head's score must not depend on the
 * others (kernels.h), bit for bit. */
static void test_mhdot(check *ck, const kernel_test *kt, const cv_kernels *want,
                       const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_MH_EDGE + N_MH_RANDOM; it++) {
        size_t heads, dh;
        mh_size(ck, it, &heads, &dh);
        const size_t n = heads * dh, stride = n + 1, ld = heads + 1, ysz = BATCH * ld;
        gbuf bq, bk, bw, bg, bs;
        float *q = fbuf(&bq, &ck->rng, n), *k = fbuf(&bk, &ck->rng, BATCH * stride);
        float *yw = fbuf(&bw, &ck->rng, ysz), *yg = fbuf(&bg, &ck->rng, ysz);
        float *ys = fbuf(&bs, &ck->rng, heads);
        fill_uniform(&ck->rng, q, n, -1, 1);
        fill_uniform(&ck->rng, k, BATCH * stride, -1, 1);
        for (size_t j = 0; j < BATCH; j++) {
            const float *kj = k + j * stride;
            if (want)
                want->mhdot_f32(yw + j * ld, q, kj, heads, dh);
            else
                oracle_mhdot(yw + j * ld, q, kj, heads, dh);
            got->mhdot_f32(yg + j * ld, q, kj, heads, dh);
        }
        errsum e = {0};
        for (size_t j = 0; j < BATCH; j++)
            err_add(ck, &e, yw + j * ld, yg + j * ld, heads, j * heads);
        err_done(ck, &e, "heads=%zu dh=%zu", heads, dh);
        if (!gaps_intact(yg, BATCH, heads, ld) || !gaps_intact(yw, BATCH, heads, ld))
            fail(ck, "heads=%zu dh=%zu: wrote past its heads scores", heads, dh);
        const size_t a = rnd_range(&ck->rng, 0, heads);
        got->mhdot_f32(ys, q, k, a, dh);
        got->mhdot_f32(ys + a, q + a * dh, k + a * dh, heads - a, dh);
        char what[96];
        snprintf(what, sizeof what, "heads=%zu dh=%zu split at %zu vs one call", heads, dh, a);
        require_bitequal(ck, yg, ys, heads, what);
        GUARDS_OK(ck, &bg, "heads=%zu dh=%zu", heads, dh);
        GUARDS_OK(ck, &bw, "heads=%zu dh=%zu", heads, dh);
        GUARDS_OK(ck, &bs, "heads=%zu dh=%zu split", heads, dh);
        GUARDS_OK(ck, &bq, "heads=%zu dh=%zu (q)", heads, dh);
        GUARDS_OK(ck, &bk, "heads=%zu dh=%zu (k)", heads, dh);
        gbuf_free(&bq);
        gbuf_free(&bk);
        gbuf_free(&bw);
        gbuf_free(&bg);
        gbuf_free(&bs);
    }
}

/* As axpy, a in [-2, 2] per head; then the heads split in two calls. */
static void test_mhaxpy(check *ck, const kernel_test *kt, const cv_kernels *want,
                        const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_MH_EDGE + N_MH_RANDOM; it++) {
        size_t heads, dh;
        mh_size(ck, it, &heads, &dh);
        const size_t n = heads * dh;
        gbuf ba, bx, bw, bg, bs;
        float *a = fbuf(&ba, &ck->rng, heads), *x = fbuf(&bx, &ck->rng, n);
        float *yw = fbuf(&bw, &ck->rng, n), *yg = fbuf(&bg, &ck->rng, n);
        float *ys = fbuf(&bs, &ck->rng, n);
        fill_uniform(&ck->rng, a, heads, -2, 2);
        fill_uniform(&ck->rng, x, n, -1, 1);
        fill_uniform(&ck->rng, yw, n, -1, 1);
        if (n) {
            memcpy(yg, yw, n * sizeof *yg);
            memcpy(ys, yw, n * sizeof *ys);
        }
        if (want)
            want->mhaxpy_f32(yw, a, x, heads, dh);
        else
            for (size_t i = 0; i < n; i++)
                yw[i] = (float)((double)yw[i] + (double)a[i / dh] * x[i]);
        got->mhaxpy_f32(yg, a, x, heads, dh);
        compare(ck, yw, yg, n, "heads=%zu dh=%zu", heads, dh);
        const size_t s = rnd_range(&ck->rng, 0, heads);
        got->mhaxpy_f32(ys, a, x, s, dh);
        got->mhaxpy_f32(ys + s * dh, a + s, x + s * dh, heads - s, dh);
        char what[96];
        snprintf(what, sizeof what, "heads=%zu dh=%zu split at %zu vs one call", heads, dh, s);
        require_bitequal(ck, yg, ys, n, what);
        GUARDS_OK(ck, &bg, "heads=%zu dh=%zu", heads, dh);
        GUARDS_OK(ck, &bw, "heads=%zu dh=%zu", heads, dh);
        GUARDS_OK(ck, &bs, "heads=%zu dh=%zu split", heads, dh);
        gbuf_free(&ba);
        gbuf_free(&bx);
        gbuf_free(&bw);
        gbuf_free(&bg);
        gbuf_free(&bs);
    }
}

/* ------------------------------------------------ mhdotk / mhaxpyk
 * The multi-key forms over nk = 0 .. 40 keys (every group tail of the 8-key
 * twins) whose rows sit apart in one pool at different alignments, as in
 * the caches: against the want table's form (the reference: the oracle),
 * and bit for bit against the got table's own mhdot / mhaxpy, one call per
 * key (kernels.h). */
static void *xmalloc(size_t bytes);

static const size_t mhk_edge_nk[] = {0, 1, 3, 4, 5, 7, 8, 9, 16, 17, 40};
#define N_MHK_NK (sizeof mhk_edge_nk / sizeof mhk_edge_nk[0])

typedef struct {
    size_t heads, dh, nk;
    gbuf bq, bpool;
    float *q, *pool;
    const float **rows; /* [nk] rows of the pool */
} mhk_case;

static void mhk_setup(check *ck, size_t it, mhk_case *c)
{
    mh_size(ck, it, &c->heads, &c->dh);
    c->nk = it < N_MHK_NK ? mhk_edge_nk[it] : rnd_range(&ck->rng, 0, 40);
    const size_t n = c->heads * c->dh, stride = n + 1 + rnd_range(&ck->rng, 0, 6);
    c->q = fbuf(&c->bq, &ck->rng, n);
    c->pool = fbuf(&c->bpool, &ck->rng, (c->nk + 1) * stride);
    fill_uniform(&ck->rng, c->q, n, -1, 1);
    fill_uniform(&ck->rng, c->pool, (c->nk + 1) * stride, -1, 1);
    c->rows = xmalloc((c->nk ? c->nk : 1) * sizeof *c->rows);
    for (size_t j = 0; j < c->nk; j++) /* any order: the list is not sorted */
        c->rows[j] = c->pool + rnd_range(&ck->rng, 0, c->nk) * stride;
}

static void mhk_free(mhk_case *c)
{
    gbuf_free(&c->bq);
    gbuf_free(&c->bpool);
    free(c->rows);
}

static void test_mhdotk(check *ck, const kernel_test *kt, const cv_kernels *want,
                        const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_MH_EDGE + N_MH_RANDOM; it++) {
        mhk_case c;
        mhk_setup(ck, it, &c);
        const size_t H = c.heads, ldy = c.nk + 1 + rnd_range(&ck->rng, 0, 3), ysz = H * ldy;
        gbuf bw, bg, bs, bt;
        float *yw = fbuf(&bw, &ck->rng, ysz), *yg = fbuf(&bg, &ck->rng, ysz);
        float *ys = fbuf(&bs, &ck->rng, ysz), *t = fbuf(&bt, &ck->rng, H);
        if (want)
            want->mhdotk_f32(yw, ldy, c.q, c.rows, c.nk, H, c.dh);
        got->mhdotk_f32(yg, ldy, c.q, c.rows, c.nk, H, c.dh);
        for (size_t j = 0; j < c.nk; j++) {
            if (!want) {
                oracle_mhdot(t, c.q, c.rows[j], H, c.dh);
                for (size_t h = 0; h < H; h++)
                    yw[h * ldy + j] = t[h];
            }
            got->mhdot_f32(t, c.q, c.rows[j], H, c.dh);
            for (size_t h = 0; h < H; h++)
                ys[h * ldy + j] = t[h];
        }
        errsum e = {0};
        char what[96];
        snprintf(what, sizeof what, "heads=%zu dh=%zu nk=%zu vs mhdot per key", H, c.dh, c.nk);
        for (size_t h = 0; h < H; h++) {
            err_add(ck, &e, yw + h * ldy, yg + h * ldy, c.nk, h * c.nk);
            require_bitequal(ck, ys + h * ldy, yg + h * ldy, c.nk, what);
        }
        err_done(ck, &e, "heads=%zu dh=%zu nk=%zu", H, c.dh, c.nk);
        if (!gaps_intact(yg, H, c.nk, ldy))
            fail(ck, "heads=%zu dh=%zu nk=%zu: wrote between heads' score rows", H, c.dh, c.nk);
        GUARDS_OK(ck, &bg, "heads=%zu dh=%zu nk=%zu", H, c.dh, c.nk);
        GUARDS_OK(ck, &c.bpool, "heads=%zu dh=%zu nk=%zu (keys)", H, c.dh, c.nk);
        gbuf_free(&bw);
        gbuf_free(&bg);
        gbuf_free(&bs);
        gbuf_free(&bt);
        mhk_free(&c);
    }
}

/* a in [-2, 2]; y starts random.  The oracle sums in double, key by key. */
static void test_mhaxpyk(check *ck, const kernel_test *kt, const cv_kernels *want,
                         const cv_kernels *got)
{
    (void)kt;
    for (size_t it = 0; it < N_MH_EDGE + N_MH_RANDOM; it++) {
        mhk_case c;
        mhk_setup(ck, it, &c);
        const size_t H = c.heads, n = H * c.dh, lda = c.nk + rnd_range(&ck->rng, 0, 3);
        gbuf ba, bw, bg, bs, bt;
        float *a = fbuf(&ba, &ck->rng, H * lda + 1), *t = fbuf(&bt, &ck->rng, H);
        float *yw = fbuf(&bw, &ck->rng, n), *yg = fbuf(&bg, &ck->rng, n), *ys = fbuf(&bs, &ck->rng, n);
        fill_uniform(&ck->rng, a, H * lda + 1, -2, 2);
        fill_uniform(&ck->rng, yw, n, -1, 1);
        if (n) {
            memcpy(yg, yw, n * sizeof *yg);
            memcpy(ys, yw, n * sizeof *ys);
        }
        if (want) {
            want->mhaxpyk_f32(yw, a, lda, c.rows, c.nk, H, c.dh);
        } else {
            for (size_t i = 0; i < n; i++) {
                double acc = yw[i];
                for (size_t j = 0; j < c.nk; j++)
                    acc += (double)a[(i / c.dh) * lda + j] * c.rows[j][i];
                yw[i] = (float)acc;
            }
        }
        got->mhaxpyk_f32(yg, a, lda, c.rows, c.nk, H, c.dh);
        for (size_t j = 0; j < c.nk; j++) {
            for (size_t h = 0; h < H; h++)
                t[h] = a[h * lda + j];
            got->mhaxpy_f32(ys, t, c.rows[j], H, c.dh);
        }
        compare(ck, yw, yg, n, "heads=%zu dh=%zu nk=%zu", H, c.dh, c.nk);
        char what[96];
        snprintf(what, sizeof what, "heads=%zu dh=%zu nk=%zu vs mhaxpy per key", H, c.dh, c.nk);
        require_bitequal(ck, ys, yg, n, what);
        GUARDS_OK(ck, &bg, "heads=%zu dh=%zu nk=%zu", H, c.dh, c.nk);
        GUARDS_OK(ck, &c.bpool, "heads=%zu dh=%zu nk=%zu (values)", H, c.dh, c.nk);
        gbuf_free(&ba);
        gbuf_free(&bw);
        gbuf_free(&bg);
        gbuf_free(&bs);
        gbuf_free(&bt);
        mhk_free(&c);
    }
}

/* ================================================================ benchmark */

typedef struct {
    float *a, *b, *y;
    uint16_t *h;
    void *w[4];  /* gemv weights [BENCH_ROWS, BENCH_COLS] per type */
    void *gw[4]; /* gemm weights [BENCH_N, BENCH_K] per type */
    float *gx, *gy;
    cv_block_q8x *xq, *gxq; /* a and gx quantized (q8_0 gemv / gemms) */
    const float *ka[16], *kb[16]; /* mhdotk / mhaxpyk: 16 keys, each row a (b) */
    volatile float sink;
} bench_data;

enum {
    BENCH_VEC = 4096,                           /* vector kernels */
    BENCH_MH_DH = 64,                           /* mhdot/mhaxpy: 64 heads of 64 */
    BENCH_MH_KEYS = 16,                         /* mhdotk/mhaxpyk: keys per call */
    BENCH_ROWS = 64, BENCH_COLS = 4096,         /* gemv kernels, one call */
    BENCH_M = 64, BENCH_N = 64, BENCH_K = 1024, /* gemm kernels, one call */
    BENCH_SMALL_M = 8                           /* gemms: rows of the same X */
};

static const cv_type all_types[4] = {CV_TYPE_F32, CV_TYPE_F16, CV_TYPE_BF16, CV_TYPE_Q8_0};

static int type_index(cv_type t)
{
    for (int i = 0; i < 4; i++)
        if (all_types[i] == t)
            return i;
    return 0;
}

static const char *type_name(cv_type t)
{
    switch (t) {
    case CV_TYPE_F32: return "f32";
    case CV_TYPE_F16: return "f16";
    case CV_TYPE_BF16: return "bf16";
    case CV_TYPE_Q8_0: return "q8_0";
    }
    return "?";
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One call of kt's kernel from table k on the bench data. */
static void bench_call(const kernel_test *kt, const cv_kernels *k, bench_data *d)
{
    const size_t n = BENCH_VEC;
    const char *s = kt->name;
    const int ti = type_index(kt->type);
    if (!strcmp(s, "dot_f32"))
        d->sink = k->dot_f32(d->a, d->b, n);
    else if (!strcmp(s, "sum_f32"))
        d->sink = k->sum_f32(d->a, n);
    else if (!strcmp(s, "axpy_f32"))
        k->axpy_f32(d->y, 1e-7f, d->a, n);
    else if (!strcmp(s, "mhdot_f32")) /* BENCH_MH_DH-float heads */
        k->mhdot_f32(d->y, d->a, d->b, n / BENCH_MH_DH, BENCH_MH_DH);
    else if (!strcmp(s, "mhaxpy_f32")) /* coefficients in [-1, 1]: y grows by <= 1 a call */
        k->mhaxpy_f32(d->y, d->b, d->a, n / BENCH_MH_DH, BENCH_MH_DH);
    else if (!strcmp(s, "mhdotk_f32")) /* BENCH_MH_KEYS keys of BENCH_MH_DH-float heads */
        k->mhdotk_f32(d->y, BENCH_MH_KEYS, d->a, d->kb, BENCH_MH_KEYS, n / BENCH_MH_DH, BENCH_MH_DH);
    else if (!strcmp(s, "mhaxpyk_f32")) /* weights: b as [heads][BENCH_MH_KEYS] */
        k->mhaxpyk_f32(d->y, d->b, BENCH_MH_KEYS, d->ka, BENCH_MH_KEYS, n / BENCH_MH_DH, BENCH_MH_DH);
    else if (!strcmp(s, "add_f32"))
        k->add_f32(d->y, d->a, d->b, n);
    else if (!strcmp(s, "mul_f32"))
        k->mul_f32(d->y, d->a, d->b, n);
    else if (!strcmp(s, "scale_f32"))
        k->scale_f32(d->y, d->a, 0.5f, n);
    else if (!strcmp(s, "gelu_f32"))
        k->gelu_f32(d->y, d->a, n);
    else if (!strcmp(s, "swish_f32"))
        k->swish_f32(d->y, d->a, n);
    else if (!strcmp(s, "softmax_f32"))
        k->softmax_f32(d->y, n);
    else if (!strcmp(s, "layernorm_f32"))
        k->layernorm_f32(d->y, d->a, d->b, d->b, n, 1e-5f);
    else if (!strcmp(s, "f16_to_f32"))
        k->f16_to_f32(d->y, d->h, n);
    else if (!strcmp(s, "bf16_to_f32"))
        k->bf16_to_f32(d->y, d->h, n);
    else if (!strcmp(s, "quantize_q8x"))
        k->quantize_q8x(d->a, d->xq, n);
    else if (!strcmp(s, "gemv_q8_0")) /* on quantized x: the quantizer is timed above */
        k->gemv_q8_0(BENCH_ROWS, BENCH_COLS, d->w[ti], d->xq, d->y);
    else if (!strcmp(s, "gemms_q8_0"))
        k->gemms_q8_0(BENCH_SMALL_M, BENCH_N, BENCH_K, d->gxq, BENCH_K / CV_QK8_0, d->gw[ti],
                      d->gy, BENCH_N);
    else if (!strncmp(s, "gemv", 4))
        cv_gemv_kernel(k, kt->type)(BENCH_ROWS, BENCH_COLS, d->w[ti], d->a, d->y);
    else if (!strncmp(s, "gemms", 5)) /* AR decode of BENCH_SMALL_M sequences */
        cv_gemms_kernel(k, kt->type)(BENCH_SMALL_M, BENCH_N, BENCH_K, d->gx, BENCH_K, d->gw[ti],
                                     d->gy, BENCH_N);
    else if (!strncmp(s, "gemm", 4))
        cv_gemm_kernel(k, kt->type)(BENCH_M, BENCH_N, BENCH_K, d->gx, BENCH_K, d->gw[ti], d->gy,
                                    BENCH_N);
}

/* ns per call: the repetition count is doubled until a batch takes >= 2 ms,
 * then the BEST of 5 batches is kept (the least disturbed by the other
 * processes sharing the machine). */
static double bench_ns(const kernel_test *kt, const cv_kernels *k, bench_data *d)
{
    size_t reps = 1;
    double t;
    for (;;) {
        const double t0 = now();
        for (size_t r = 0; r < reps; r++)
            bench_call(kt, k, d);
        t = now() - t0;
        if (t >= 2e-3 || reps >= ((size_t)1 << 24))
            break;
        reps *= 2;
    }
    double best = t / (double)reps;
    for (int b = 0; b < 5; b++) {
        const double t0 = now();
        for (size_t r = 0; r < reps; r++)
            bench_call(kt, k, d);
        const double per = (now() - t0) / (double)reps;
        best = per < best ? per : best;
    }
    return best * 1e9;
}

static void *xmalloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "test_kernels: out of memory (%zu bytes)\n", bytes);
        exit(99);
    }
    return p;
}

/* Weights [rows, cols] of type t in a plain allocation (bench sizes). */
static void *bench_weights(rng_t *r, cv_type t, size_t rows, size_t cols)
{
    void *p = xmalloc(cv_rows_nbytes(t, rows, cols));
    fill_weights(r, t, p, rows, cols);
    return p;
}

/* Streaming read bandwidth (bandwidth.h): a 1 GiB buffer (larger than any
 * cache here; this VM reports a 508 MiB L3) on 1 thread and on 2 threads.
 * bw[0], bw[1] in GB/s. */
static void read_bandwidth(const cv_kernels *k, double bw[2])
{
    for (int nt = 1; nt <= 2; nt++)
        bw[nt - 1] = cv_read_bandwidth(k, (size_t)1 << 30, nt);
}

/* Best of `reps` runs of one cv_gemv / cv_gemm call, in seconds. */
static double time_gemv(const cv_kernels *k, cv_type t, size_t rows, size_t cols, const void *w,
                        const float *x, float *y, int nt, int reps)
{
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        cv_gemv(k, t, rows, cols, w, x, y, nt);
        const double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

typedef enum { VIA_CV_GEMM, VIA_KERNELS, VIA_SGEMM } gemm_path;

static double time_gemm(const cv_kernels *k, cv_type t, gemm_path via, size_t m, size_t n,
                        size_t kd, const float *x, const void *w, float *y, int nt, int reps)
{
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        if (via == VIA_CV_GEMM)
            cv_gemm(k, t, m, n, kd, x, kd, w, y, n, nt);
        else if (via == VIA_KERNELS)
            cv_gemm_kernels(k, t, m, n, kd, x, kd, w, y, n, nt);
#ifdef HAVE_OPENBLAS
        else {
            openblas_set_num_threads(nt);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)kd, 1.0f,
                        x, (int)kd, w, (int)kd, 0.0f, y, (int)n);
        }
#endif
        const double dt = now() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

enum { GV_ROWS = 12288, GV_COLS = 3072, GM_M = 64, GM_N = 3072, GM_K = 3072 };

static void bench_gemv_section(const cv_kernels *ref, const cv_kernels *best, void *w[4],
                               const float *x, float *y, const double bw[2])
{
    printf("\nGEMV %d x %d via cv_gemv, best of 5 runs (ref: 3); GB/s of weight bytes read "
           "and %% of the read bandwidth on as many threads\n", GV_ROWS, GV_COLS);
    printf("  %-5s %-5s %11s %11s %11s %11s\n", "level", "type", "1 thr ms", "1 thr GB/s",
           "2 thr ms", "2 thr GB/s");
    const cv_kernels *lv[2] = {ref, best};
    for (int l = 0; l < (best->isa != ref->isa ? 2 : 1); l++)
        for (int ti = 0; ti < 4; ti++) {
            const cv_type t = all_types[ti];
            const double gb = (double)cv_rows_nbytes(t, GV_ROWS, GV_COLS) * 1e-9;
            const int reps = lv[l]->isa == CV_ISA_REF ? 3 : 5;
            const double t1 = time_gemv(lv[l], t, GV_ROWS, GV_COLS, w[ti], x, y, 1, reps);
            const double t2 = time_gemv(lv[l], t, GV_ROWS, GV_COLS, w[ti], x, y, 2, reps);
            printf("  %-5s %-5s %11.2f %6.2f %3.0f%% %11.2f %6.2f %3.0f%%\n",
                   cv_isa_name(lv[l]->isa), type_name(t), t1 * 1e3, gb / t1,
                   100 * gb / t1 / bw[0], t2 * 1e3, gb / t2, 100 * gb / t2 / bw[1]);
        }
}

static void bench_gemm_section(const cv_kernels *ref, const cv_kernels *best, void *w[4],
                               const float *x, float *y)
{
    const double gflop = 2.0 * GM_M * GM_N * GM_K * 1e-9;
    printf("\nGEMM m=%d n=%d k=%d (Y = X W^T), 2 threads, best of 5 runs (ref: best of 2)\n",
           GM_M, GM_N, GM_K);
    double sgemm = 0;
#ifdef HAVE_OPENBLAS
    sgemm = gflop / time_gemm(best, CV_TYPE_F32, VIA_SGEMM, GM_M, GM_N, GM_K, x, w[0], y, 2, 5);
    printf("  OpenBLAS cblas_sgemm (f32)         %8.1f GFLOP/s  100%%\n", sgemm);
#else
    printf("  (no OpenBLAS in this build)\n");
#endif
    const cv_kernels *lv[2] = {ref, best};
    for (int l = 0; l < (best->isa != ref->isa ? 2 : 1); l++)
        for (int ti = 0; ti < 4; ti++) {
            const cv_type t = all_types[ti];
            const int reps = lv[l]->isa == CV_ISA_REF ? 2 : 5;
            for (int via = 0; via < 2; via++) {
                /* cv_gemm (BLAS for f32 when built with it), then the kernel path */
                if (via == VIA_KERNELS && t != CV_TYPE_F32)
                    continue;
                const double s = time_gemm(lv[l], t, (gemm_path)via, GM_M, GM_N, GM_K, x,
                                           w[ti], y, 2, reps);
                char label[64];
                snprintf(label, sizeof label, "%s %s %s", cv_isa_name(lv[l]->isa), type_name(t),
                         via == VIA_KERNELS ? "kernels (no BLAS)" : "cv_gemm");
                printf("  %-34s %8.1f GFLOP/s", label, gflop / s);
                if (sgemm > 0)
                    printf("  %3.0f%%", 100 * gflop / s / sgemm);
                printf("\n");
            }
        }
}

/* The GEMV and GEMM sections, with the read bandwidth they are compared
 * with measured in the same run. */
static void bench_big(const cv_kernels *ref, const cv_kernels *best, rng_t *r)
{
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("\nOPENBLAS_CORETYPE=%s", core ? core : "(unset)");
#ifdef HAVE_OPENBLAS
    printf("  OpenBLAS: %s, core %s", openblas_get_config(), openblas_get_corename());
#else
    printf("  (built without OpenBLAS)");
#endif
    printf("\n");
    double bw[2];
    read_bandwidth(best, bw);
    printf("read bandwidth: %.2f GB/s (1 GiB summed by %s sum_f32 on 2 threads, best of 5; "
           "1 thread: %.2f GB/s)\n", bw[1], cv_isa_name(best->isa), bw[0]);
    void *w[4];
    for (int ti = 0; ti < 4; ti++)
        w[ti] = bench_weights(r, all_types[ti], GV_ROWS, GV_COLS);
    float *x = xmalloc((size_t)GM_M * GM_K * sizeof *x);
    float *y = xmalloc((size_t)GM_M * GV_ROWS * sizeof *y);
    fill_uniform(r, x, (size_t)GM_M * GM_K, -1, 1);
    bench_gemv_section(ref, best, w, x, y, bw);
    /* W's first GM_N rows are a [GM_N, GM_K] matrix */
    bench_gemm_section(ref, best, w, x, y);
    for (int ti = 0; ti < 4; ti++)
        free(w[ti]);
    free(x);
    free(y);
}

/* ================================================================ the tests */

#define SLOT(f) offsetof(cv_kernels, f)
static const kernel_test tests[] = {
    {"dot_f32", SLOT(dot_f32), CV_TYPE_F32, test_dot},
    {"sum_f32", SLOT(sum_f32), CV_TYPE_F32, test_sum},
    {"axpy_f32", SLOT(axpy_f32), CV_TYPE_F32, test_axpy},
    {"mhdot_f32", SLOT(mhdot_f32), CV_TYPE_F32, test_mhdot},
    {"mhaxpy_f32", SLOT(mhaxpy_f32), CV_TYPE_F32, test_mhaxpy},
    {"mhdotk_f32", SLOT(mhdotk_f32), CV_TYPE_F32, test_mhdotk},
    {"mhaxpyk_f32", SLOT(mhaxpyk_f32), CV_TYPE_F32, test_mhaxpyk},
    {"add_f32", SLOT(add_f32), CV_TYPE_F32, test_binary},
    {"mul_f32", SLOT(mul_f32), CV_TYPE_F32, test_binary},
    {"scale_f32", SLOT(scale_f32), CV_TYPE_F32, test_scale},
    {"gelu_f32", SLOT(gelu_f32), CV_TYPE_F32, test_gelu},
    {"softmax_f32", SLOT(softmax_f32), CV_TYPE_F32, test_softmax},
    {"layernorm_f32", SLOT(layernorm_f32), CV_TYPE_F32, test_layernorm},
    {"f16_to_f32", SLOT(f16_to_f32), CV_TYPE_F16, test_cvt},
    {"bf16_to_f32", SLOT(bf16_to_f32), CV_TYPE_BF16, test_cvt},
    {"gemv_f32", SLOT(gemv_f32), CV_TYPE_F32, test_gemv},
    {"gemv_f16", SLOT(gemv_f16), CV_TYPE_F16, test_gemv},
    {"gemv_bf16", SLOT(gemv_bf16), CV_TYPE_BF16, test_gemv},
    {"quantize_q8x", SLOT(quantize_q8x), CV_TYPE_Q8_0, test_quantize},
    {"gemv_q8_0", SLOT(gemv_q8_0), CV_TYPE_Q8_0, test_gemvq},
    {"gemm_f32", SLOT(gemm_f32), CV_TYPE_F32, test_gemm},
    {"gemm_f16", SLOT(gemm_f16), CV_TYPE_F16, test_gemm},
    {"gemm_bf16", SLOT(gemm_bf16), CV_TYPE_BF16, test_gemm},
    {"gemm_q8_0", SLOT(gemm_q8_0), CV_TYPE_Q8_0, test_gemm},
    {"gemms_f32", SLOT(gemms_f32), CV_TYPE_F32, test_gemms},
    {"gemms_f16", SLOT(gemms_f16), CV_TYPE_F16, test_gemms},
    {"gemms_bf16", SLOT(gemms_bf16), CV_TYPE_BF16, test_gemms},
    {"gemms_q8_0", SLOT(gemms_q8_0), CV_TYPE_Q8_0, test_gemmsq},
    /* VQVAE */
    {"swish_f32", SLOT(swish_f32), CV_TYPE_F32, test_swish},
};
#define N_TESTS (sizeof tests / sizeof tests[0])

/* The SIMD levels, each tested against the reference on its own.  flag:
 * the CV_CPU_* bits the level needs (a rung includes the ones below it);
 * below: the level under it, whose twins it inherits and does not retest. */
static const struct {
    const char *name;
    unsigned flag, below;
} levels[] = {{"avx2", CV_CPU_AVX2, 0},
              {"avx512", CV_CPU_AVX2 | CV_CPU_AVX512, CV_CPU_AVX2},
              {"avx512vnni", CV_CPU_AVX2 | CV_CPU_AVX512 | CV_CPU_AVX512VNNI,
               CV_CPU_AVX2 | CV_CPU_AVX512},
              {"neon", CV_CPU_NEON, 0}};
#define N_LEVELS (sizeof levels / sizeof levels[0])

static int slot_differs(const cv_kernels *a, const cv_kernels *b, size_t slot)
{
    return memcmp((const char *)a + slot, (const char *)b + slot, sizeof(cv_dot_fn)) != 0;
}

static double tolerance_of(const char *name)
{
    for (size_t i = 0; i < sizeof cv_tolerances / sizeof cv_tolerances[0]; i++)
        if (!strcmp(cv_tolerances[i].kernel, name))
            return cv_tolerances[i].max_nmse;
    fprintf(stderr, "test_kernels: %s has no line in tests/tolerances.h\n", name);
    exit(99);
}

typedef struct {
    uint64_t seed;
    const char *filter; /* --kernel prefix, or NULL */
    int passed, failed;
} run_state;

static int selected(const run_state *rs, const char *name)
{
    return !rs->filter || !strncmp(name, rs->filter, strlen(rs->filter));
}

static check check_new(const run_state *rs, const char *name, const char *level)
{
    check ck = {0};
    ck.rng.s = rs->seed ^ hash_name(name) ^ (hash_name(level) << 1);
    ck.name = name;
    ck.tol = tolerance_of(name);
    return ck;
}

static void report(run_state *rs, const check *ck, const char *level)
{
    char err[96];
    if (ck->tol == 0)
        snprintf(err, sizeof err, "%s", ck->failed ? "(must be bit-exact)" : "bit-exact");
    else
        snprintf(err, sizeof err, "nmse %.1e (max %.0e)", ck->worst, ck->tol);
    if (ck->worst_ratio > 0) /* q8: the largest |diff| as a fraction of its bound */
        snprintf(err + strlen(err), sizeof err - strlen(err), ", |diff| <= %.2g bound",
                 ck->worst_ratio);
    printf("  %-14s %-5s %-7s %s\n", ck->name, level, ck->failed ? "FAILED" : "ok", err);
    if (ck->failed)
        printf("      %d failure(s); first: %s\n", ck->failed, ck->first);
    if (ck->failed)
        rs->failed++;
    else
        rs->passed++;
}

/* want == NULL: the reference against the oracle. */
static void run_level(run_state *rs, const char *level, const cv_kernels *want,
                      const cv_kernels *got)
{
    for (size_t i = 0; i < N_TESTS; i++) {
        const kernel_test *kt = &tests[i];
        if (!selected(rs, kt->name) || (want && !slot_differs(want, got, kt->slot)))
            continue;
        check ck = check_new(rs, kt->name, level);
        kt->test(&ck, kt, want, got);
        check_finish(&ck);
        report(rs, &ck, level);
    }
}

/* What cv_gemv (gemv != 0, m = 1) / cv_gemm_kernels compute, as ONE
 * single-threaded kernel call: gemv, gemms for m <= 8, gemm above; for
 * q8_0 the GEMV and gemms on the activations quantized first. */
static void direct_gemm(const cv_kernels *k, cv_type t, size_t m, size_t n, size_t kd,
                        const float *x, size_t ldx, const void *w, float *y, size_t ldy, int gemv)
{
    if (t == CV_TYPE_Q8_0 && m <= CV_LINEAR_SMALL_M) {
        const size_t nb = kd / CV_QK8_0;
        cv_block_q8x *xq = xmalloc((m * nb != 0 ? m * nb : 1) * sizeof *xq);
        for (size_t i = 0; i < m; i++)
            k->quantize_q8x(x + i * ldx, xq + i * nb, kd);
        if (gemv)
            k->gemv_q8_0(n, kd, w, xq, y);
        else
            k->gemms_q8_0(m, n, kd, xq, nb, w, y, ldy);
        free(xq);
    } else if (gemv) {
        cv_gemv_kernel(k, t)(n, kd, w, x, y);
    } else {
        (m <= CV_LINEAR_SMALL_M ? cv_gemms_kernel(k, t) : cv_gemm_kernel(k, t))(m, n, kd, x, ldx,
                                                                              w, y, ldy);
    }
}

/* cv_gemv / cv_gemm with 1, 2 and 3 threads: bit-identical, and (apart from
 * the BLAS path) identical to one kernel call (direct_gemm). */
static void threads_case(check *ck, const cv_kernels *k, cv_type t, size_t m)
{
    rng_t *r = &ck->rng;
    /* enough rows for 3 threads to get chunks, on the BLAS path too */
    const size_t rows = 2 * CV_LINEAR_BLAS_CHUNK + rnd_range(r, 1, CV_LINEAR_BLAS_CHUNK);
    const size_t cols = CV_QK8_0 * rnd_range(r, 1, 8);
    const size_t ld = cols + 3, ldy = rows + 1;
    void *w = xmalloc(cv_rows_nbytes(t, rows, cols));
    float *x = xmalloc(m * ld * sizeof *x), *y[4];
    fill_weights(r, t, w, rows, cols);
    fill_uniform(r, x, m * ld, -1, 1);
    for (int i = 0; i < 4; i++)
        y[i] = xmalloc(m * ldy * sizeof *y[i]);
    char what[96];
    direct_gemm(k, t, 1, rows, cols, x, ld, w, y[0], ldy, 1);
    for (int nt = 1; nt <= 3; nt++) {
        cv_gemv(k, t, rows, cols, w, x, y[nt], nt);
        snprintf(what, sizeof what, "cv_gemv %s rows=%zu cols=%zu, %d thread(s) vs kernel",
                 type_name(t), rows, cols, nt);
        require_bitequal(ck, y[0], y[nt], rows, what);
    }
    for (int nt = 1; nt <= 3; nt++) {
        cv_gemm(k, t, m, rows, cols, x, ld, w, y[nt], ldy, nt);
        snprintf(what, sizeof what, "cv_gemm %s m=%zu n=%zu k=%zu, %d vs 1 thread(s)",
                 type_name(t), m, rows, cols, nt);
        for (size_t i = 0; i < m; i++)
            require_bitequal(ck, y[1] + i * ldy, y[nt] + i * ldy, rows, what);
    }
    cv_gemm_kernels(k, t, m, rows, cols, x, ld, w, y[2], ldy, 2);
    direct_gemm(k, t, m, rows, cols, x, ld, w, y[0], ldy, 0);
    snprintf(what, sizeof what, "cv_gemm_kernels %s m=%zu n=%zu k=%zu vs kernel", type_name(t),
             m, rows, cols);
    for (size_t i = 0; i < m; i++)
        require_bitequal(ck, y[0] + i * ldy, y[2] + i * ldy, rows, what);
    /* cv_gemm (BLAS for f32 when built with it) vs the kernel, in tolerance */
    errsum e = {0};
    for (size_t i = 0; i < m; i++)
        err_add(ck, &e, y[0] + i * ldy, y[1] + i * ldy, rows, i * rows);
    err_done(ck, &e, "cv_gemm %s m=%zu n=%zu k=%zu vs kernel", type_name(t), m, rows, cols);
    for (int i = 0; i < 4; i++)
        free(y[i]);
    free(w);
    free(x);
}

static void run_threads(run_state *rs, const char *level, const cv_kernels *k)
{
    for (int ti = 0; ti < 4; ti++) {
        char name[32];
        snprintf(name, sizeof name, "threads_%s", type_name(all_types[ti]));
        if (!selected(rs, name))
            continue;
        check ck = check_new(rs, "gemm_f32", level); /* BLAS vs kernel: gemm's tolerance */
        ck.rng.s ^= hash_name(name);
        ck.name = name;
        /* small m (gemms), then up to 2x the BLAS threshold (gemm / sgemm) */
        threads_case(&ck, k, all_types[ti], rnd_range(&ck.rng, 1, CV_LINEAR_SMALL_M));
        threads_case(&ck, k, all_types[ti],
                     rnd_range(&ck.rng, CV_LINEAR_SMALL_M + 1, 2 * CV_LINEAR_BLAS_MIN_M));
        check_finish(&ck);
        report(rs, &ck, level);
    }
}

/* ------------------------------------------------ same bits as below
 * The AVX-512 packing GEMMs (simd/x86/gemm_avx512.c) claim the bits of the
 * AVX2 ones: both run each Y element as one FMA chain over k in order.  So
 * a level whose gemm slot differs from the level below must agree with it
 * bit for bit, on random shapes with ragged tails in m, n and k, and k up
 * to 700 (three KC blocks). */
static void run_gemm_vs_below(run_state *rs, const char *level, const cv_kernels *k,
                              const cv_kernels *below)
{
    for (int ti = 0; ti < 4; ti++) {
        const cv_type t = all_types[ti];
        const cv_gemm_fn f = cv_gemm_kernel(k, t), g = cv_gemm_kernel(below, t);
        char name[32];
        snprintf(name, sizeof name, "gemm_%s_bits", type_name(t));
        if (f == g || !selected(rs, name))
            continue;
        check ck = check_new(rs, "gemm_f32", level);
        ck.rng.s ^= hash_name(name);
        ck.name = name;
        ck.tol = 0; /* reported as bit-exact */
        for (int it = 0; it < 12; it++) {
            gemm_shape s;
            s.m = rnd_range(&ck.rng, CV_LINEAR_SMALL_M + 1, 80);
            s.n = rnd_range(&ck.rng, 1, 100);
            s.k = rand_cols(&ck.rng, t, 700);
            s.ldx = s.k + rnd_range(&ck.rng, 0, 5);
            s.ldy = s.n + rnd_range(&ck.rng, 0, 5);
            const size_t xsz = (s.m - 1) * s.ldx + s.k, ysz = (s.m - 1) * s.ldy + s.n;
            gbuf bwt, bx, bf, bg;
            const void *w = make_weights(&bwt, &ck.rng, t, s.n, s.k);
            float *x = fbuf(&bx, &ck.rng, xsz);
            float *yf = fbuf(&bf, &ck.rng, ysz), *yg = fbuf(&bg, &ck.rng, ysz);
            fill_uniform(&ck.rng, x, xsz, -1, 1);
            f(s.m, s.n, s.k, x, s.ldx, w, yf, s.ldy);
            g(s.m, s.n, s.k, x, s.ldx, w, yg, s.ldy);
            char what[96];
            snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: %s vs the level below", s.m, s.n, s.k,
                     level);
            for (size_t i = 0; i < s.m; i++)
                require_bitequal(&ck, yg + i * s.ldy, yf + i * s.ldy, s.n, what);
            GUARDS_OK(&ck, &bf, "m=%zu n=%zu k=%zu", s.m, s.n, s.k);
            gbuf_free(&bwt);
            gbuf_free(&bx);
            gbuf_free(&bf);
            gbuf_free(&bg);
        }
        check_finish(&ck);
        report(rs, &ck, level);
    }
}

/* ------------------------------------------------ batch invariance
 * The model's batch_invariant passes (src/model.h) rest on one claim of
 * src/kernels.h: an element of a gemms kernel's result depends neither on
 * m nor on which other rows share the call.  Checked at every level with
 * that level's whole table (the kernels the model runs there, inherited
 * ones included): for random m in 2..8, n and k with ragged tails (and
 * long k, where the AVX-512 twins slice k differently for m = 8 and
 * m = 1), each row of the m-row result must equal, bit for bit,
 *   - the 1-row call on a copy of that row alone (another buffer, another
 *     misalignment; q8_0: gemms_q8_0 on the rows quantized by the table's
 *     quantize_q8x),
 *   - the same row when the m rows come in reverse order,
 *   - cv_gemm_kernels, the model's path (fixed chunks of weight rows: 2
 *     threads for the m rows, 1 for the row alone; q8_0 quantizes there). */

/* The m x n result of the table's small-m kernel for type t (q8_0: on x
 * quantized row by row, ldxq blocks apart). */
static void gemms_any(const cv_kernels *k, cv_type t, gemm_shape s, const float *x, const void *w, float *y,
                      size_t ldxq)
{
    if (t != CV_TYPE_Q8_0) {
        cv_gemms_kernel(k, t)(s.m, s.n, s.k, x, s.ldx, w, y, s.ldy);
        return;
    }
    const size_t nb = s.k / CV_QK8_0;
    gbuf bq;
    rng_t r = {s.m * 31 + s.k}; /* only the misalignment */
    cv_block_q8x *xq = qbuf(&bq, &r, (s.m - 1) * ldxq + nb);
    for (size_t i = 0; i < s.m; i++)
        k->quantize_q8x(x + i * s.ldx, xq + i * ldxq, s.k);
    k->gemms_q8_0(s.m, s.n, s.k, xq, ldxq, w, y, s.ldy);
    gbuf_free(&bq);
}

static gemm_shape batch_pick(check *ck, cv_type t, size_t it)
{
    rng_t *r = &ck->rng;
    gemm_shape s;
    s.m = rnd_range(r, 2, CV_LINEAR_SMALL_M);
    s.n = rnd_range(r, 1, 150); /* past the 32-row groups and the 64-row chunks */
    if (t == CV_TYPE_Q8_0) /* long: past the VNNI twin's one-slice limit at m = 8 (80 blocks) */
        s.k = CV_QK8_0 * (it % 4 == 3 ? rnd_range(r, 81, 200) : rnd_range(r, 1, 40));
    else /* long: past the AVX-512 twin's slice of 512 columns at m = 8 */
        s.k = it % 4 == 3 ? rnd_range(r, 1000, 5000) : rnd_range(r, 1, 1100);
    if (t != CV_TYPE_Q8_0 && s.k % 16 == 0) /* mostly ragged tails */
        s.k += rnd_range(r, 1, 15);
    s.ldx = s.k + rnd_range(r, 0, 5);
    s.ldy = s.n + rnd_range(r, 0, 5);
    return s;
}

static void batch_case(check *ck, const cv_kernels *k, cv_type t, gemm_shape s)
{
    rng_t *r = &ck->rng;
    const size_t xsz = (s.m - 1) * s.ldx + s.k, ysz = (s.m - 1) * s.ldy + s.n;
    const size_t ldxq = s.k / CV_QK8_0 + rnd_range(r, 0, 2);
    gbuf bw, bx, bv, by, bz, bc, br, bo;
    const void *w = make_weights(&bw, r, t, s.n, s.k);
    float *x = fbuf(&bx, r, xsz), *xv = fbuf(&bv, r, xsz), *y = fbuf(&by, r, ysz), *yv = fbuf(&bz, r, ysz);
    float *yc = fbuf(&bc, r, ysz), *xr = fbuf(&br, r, s.k), *yr = fbuf(&bo, r, s.n);
    fill_uniform(r, x, xsz, -1, 1);
    for (size_t i = 0; i < s.m; i++) /* the rows in reverse order */
        memcpy(xv + (s.m - 1 - i) * s.ldx, x + i * s.ldx, s.k * sizeof *x);
    gemms_any(k, t, s, x, w, y, ldxq);
    gemms_any(k, t, s, xv, w, yv, ldxq);
    cv_gemm_kernels(k, t, s.m, s.n, s.k, x, s.ldx, w, yc, s.ldy, 2);
    const gemm_shape one = {1, s.n, s.k, s.k, s.n};
    char what[128];
    for (size_t i = 0; i < s.m; i++) {
        memcpy(xr, x + i * s.ldx, s.k * sizeof *x);
        gemms_any(k, t, one, xr, w, yr, s.k / CV_QK8_0);
        snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: row %zu of m vs alone", s.m, s.n, s.k, i);
        require_bitequal(ck, yr, y + i * s.ldy, s.n, what);
        snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: row %zu vs rows reversed", s.m, s.n, s.k, i);
        require_bitequal(ck, yr, yv + (s.m - 1 - i) * s.ldy, s.n, what);
        cv_gemm_kernels(k, t, 1, s.n, s.k, xr, s.k, w, yr, s.n, 1);
        snprintf(what, sizeof what, "m=%zu n=%zu k=%zu: cv_gemm_kernels row %zu of m vs alone", s.m, s.n, s.k,
                 i);
        require_bitequal(ck, yr, yc + i * s.ldy, s.n, what);
    }
    GUARDS_OK(ck, &by, "m=%zu n=%zu k=%zu", s.m, s.n, s.k);
    GUARDS_OK(ck, &bz, "m=%zu n=%zu k=%zu reversed", s.m, s.n, s.k);
    GUARDS_OK(ck, &bc, "m=%zu n=%zu k=%zu cv_gemm_kernels", s.m, s.n, s.k);
    GUARDS_OK(ck, &bo, "m=%zu n=%zu k=%zu alone", s.m, s.n, s.k);
    gbuf *all[8] = {&bw, &bx, &bv, &by, &bz, &bc, &br, &bo};
    for (int i = 0; i < 8; i++)
        gbuf_free(all[i]);
}

static void run_batch_invariance(run_state *rs, const char *level, const cv_kernels *k)
{
    for (int ti = 0; ti < 4; ti++) {
        char name[32];
        snprintf(name, sizeof name, "rows_%s", type_name(all_types[ti]));
        if (!selected(rs, name))
            continue;
        check ck = check_new(rs, "gemms_f32", level);
        ck.rng.s ^= hash_name(name);
        ck.name = name;
        ck.tol = 0; /* bit-exact checks only */
        for (size_t it = 0; it < 24; it++)
            batch_case(&ck, k, all_types[ti], batch_pick(&ck, all_types[ti], it));
        check_finish(&ck);
        report(rs, &ck, level);
    }
}

static void bench_kernels(const run_state *rs, const cv_kernels *ref, rng_t *r)
{
    bench_data d;
    d.a = xmalloc(BENCH_VEC * sizeof(float));
    d.b = xmalloc(BENCH_VEC * sizeof(float));
    for (int j = 0; j < BENCH_MH_KEYS; j++) {
        d.ka[j] = d.a;
        d.kb[j] = d.b;
    }
    d.y = xmalloc(BENCH_VEC * sizeof(float));
    d.h = xmalloc(BENCH_VEC * sizeof(uint16_t));
    d.gx = xmalloc((size_t)BENCH_M * BENCH_K * sizeof(float));
    d.gy = xmalloc((size_t)BENCH_M * BENCH_N * sizeof(float));
    fill_uniform(r, d.a, BENCH_VEC, -1, 1);
    fill_uniform(r, d.b, BENCH_VEC, -1, 1);
    fill_uniform(r, d.y, BENCH_VEC, -1, 1);
    fill_uniform(r, d.gx, (size_t)BENCH_M * BENCH_K, -1, 1);
    for (size_t i = 0; i < BENCH_VEC; i++)
        d.h[i] = cv_f32_to_f16(d.a[i]);
    d.xq = xmalloc(BENCH_VEC / CV_QK8_0 * sizeof *d.xq);
    d.gxq = xmalloc((size_t)BENCH_M * BENCH_K / CV_QK8_0 * sizeof *d.gxq);
    ref->quantize_q8x(d.a, d.xq, BENCH_VEC);
    ref->quantize_q8x(d.gx, d.gxq, (size_t)BENCH_M * BENCH_K); /* rows of whole blocks */
    for (int ti = 0; ti < 4; ti++) {
        d.w[ti] = bench_weights(r, all_types[ti], BENCH_ROWS, BENCH_COLS);
        d.gw[ti] = bench_weights(r, all_types[ti], BENCH_N, BENCH_K);
    }
    printf("\nkernels, one thread, ns per call (best of 5 batches); vectors n=%d, "
           "gemv %dx%d, gemm m=%d n=%d k=%d, gemms m=%d\n", BENCH_VEC, BENCH_ROWS, BENCH_COLS,
           BENCH_M, BENCH_N, BENCH_K, BENCH_SMALL_M);
    printf("  %-14s %12s", "kernel", "ref");
    for (size_t l = 0; l < N_LEVELS; l++)
        if ((cv_cpu_flags() & cv_isa_compiled() & levels[l].flag) == levels[l].flag)
            printf(" %12s %8s", levels[l].name, "speedup");
    printf("\n");
    for (size_t i = 0; i < N_TESTS; i++) {
        const kernel_test *kt = &tests[i];
        if (!selected(rs, kt->name))
            continue;
        const double t_ref = bench_ns(kt, ref, &d);
        printf("  %-14s %12.1f", kt->name, t_ref);
        for (size_t l = 0; l < N_LEVELS; l++) {
            if ((cv_cpu_flags() & cv_isa_compiled() & levels[l].flag) != levels[l].flag)
                continue;
            cv_kernels k;
            cv_kernels_init(&k, levels[l].flag);
            if (!slot_differs(ref, &k, kt->slot)) {
                printf(" %12s %8s", "(ref)", "");
                continue;
            }
            const double t = bench_ns(kt, &k, &d);
            printf(" %12.1f %7.2fx", t, t_ref / t);
        }
        printf("\n");
    }
    free(d.a);
    free(d.b);
    free(d.y);
    free(d.h);
    free(d.gx);
    free(d.gy);
    free(d.xq);
    free(d.gxq);
    for (int ti = 0; ti < 4; ti++) {
        free(d.w[ti]);
        free(d.gw[ti]);
    }
}

/* ================================================================ main */

static void usage(FILE *f)
{
    fprintf(f, "usage: test_kernels [--seed N] [--kernel PREFIX] [--list] [--bench]\n"
               "  --seed N        replay a run (the seed is printed first)\n"
               "  --kernel PREFIX only kernels whose name starts with PREFIX (see --list)\n"
               "  --list          print the kernel names\n"
               "  --bench         time every kernel and level, then GEMV/GEMM at model sizes\n");
}

static void print_header(const run_state *rs)
{
    const unsigned have = cv_cpu_flags(), built = cv_isa_compiled();
    printf("test_kernels: seed %llu (replay with --seed %llu)\n", (unsigned long long)rs->seed,
           (unsigned long long)rs->seed);
    printf("levels: ref");
    for (size_t l = 0; l < N_LEVELS; l++)
        if ((have | built) & levels[l].flag)
            printf(", %s (%s, %s)", levels[l].name,
                   (built & levels[l].flag) == levels[l].flag ? "compiled" : "not compiled",
                   (have & levels[l].flag) == levels[l].flag ? "CPU has it" : "CPU lacks it");
#ifdef _OPENMP
    printf("; OpenMP, %d threads", omp_get_max_threads());
#else
    printf("; no OpenMP");
#endif
#ifdef HAVE_OPENBLAS
    printf("; OpenBLAS\n");
#else
    printf("; no BLAS\n");
#endif
}

int main(int argc, char **argv)
{
    run_state rs = {0};
    int bench = 0, seeded = 0;
    setvbuf(stdout, NULL, _IOLBF, 0); /* a crash or hang still shows how far it got */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            rs.seed = strtoull(argv[++i], NULL, 0);
            seeded = 1;
        } else if (!strcmp(argv[i], "--kernel") && i + 1 < argc) {
            rs.filter = argv[++i];
        } else if (!strcmp(argv[i], "--bench")) {
            bench = 1;
        } else if (!strcmp(argv[i], "--list")) {
            for (size_t t = 0; t < N_TESTS; t++)
                printf("%s\n", tests[t].name);
            printf("threads_f32\nthreads_f16\nthreads_bf16\nthreads_q8_0\n");
            printf("rows_f32\nrows_f16\nrows_bf16\nrows_q8_0\n");
            return 0;
        } else {
            usage(strcmp(argv[i], "--help") ? stderr : stdout);
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        rng_t r = {(uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
                   ((uint64_t)getpid() << 32)};
        rs.seed = rnd(&r) % 1000000000u; /* short enough to type */
    }
    print_header(&rs);

    cv_kernels ref, best;
    cv_kernels_init(&ref, 0);
    cv_kernels_init(&best, cv_cpu_flags());
    if (bench) {
        rng_t r = {rs.seed};
        bench_kernels(&rs, &ref, &r);
        if (!rs.filter)
            bench_big(&ref, &best, &r);
        return 0;
    }

    printf("\nref: the reference kernels against double-precision oracles\n");
    run_level(&rs, "ref", NULL, &ref);
    run_threads(&rs, "ref", &ref);
    run_batch_invariance(&rs, "ref", &ref);
    int tested = 0;
    for (size_t l = 0; l < N_LEVELS; l++) {
        const unsigned f = levels[l].flag;
        if ((cv_isa_compiled() & f) != f || (cv_cpu_flags() & f) != f) {
            printf("\n%s: skipped (%s)\n", levels[l].name,
                   (cv_isa_compiled() & f) != f ? "not compiled in" : "this CPU lacks it");
            continue;
        }
        cv_kernels k, below, own;
        cv_kernels_init(&k, f);
        cv_kernels_init(&below, levels[l].below);
        own = k; /* the slots k inherits from the level below, reset to the reference */
        int differ = 0;
        for (size_t i = 0; i < N_TESTS; i++) {
            const size_t sl = tests[i].slot;
            if (levels[l].below && !slot_differs(&k, &below, sl))
                memcpy((char *)&own + sl, (const char *)&ref + sl, sizeof(cv_dot_fn));
            differ += slot_differs(&ref, &own, sl);
        }
        printf("\n%s: %d of %zu kernels are its own twins; each against the reference\n",
               levels[l].name, differ, N_TESTS);
        run_level(&rs, levels[l].name, &ref, &own);
        run_threads(&rs, levels[l].name, &k);
        if (levels[l].below)
            run_gemm_vs_below(&rs, levels[l].name, &k, &below);
        run_batch_invariance(&rs, levels[l].name, &k);
        tested++;
    }
    if (!tested)
        printf("\nno SIMD level is both compiled in and supported by this CPU: "
               "only the reference was tested\n");
    printf("\ntest_kernels: %d passed, %d failed\n", rs.passed, rs.failed);
    if (rs.failed)
        printf("replay with: --seed %llu\n", (unsigned long long)rs.seed);
    return rs.failed ? 1 : 0;
}
