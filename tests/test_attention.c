/* test_attention.c — the attention key sets and the attention itself,
 * against naive references written straight from the definitions:
 *   - cv_model_keys vs brute-force predicates over (frame, x, y) cells for
 *     every query of multi-frame layouts, NAR and AR calls, both layer
 *     parities (swin shift 0 and > 0), and the text-bias flag;
 *   - cv_attention vs a dense softmax in double (-inf outside the naive key
 *     set), NAR calls and AR calls reading older keys from caches laid out
 *     by hand;
 *   - local3d end to end: the golden-A stage-1 checkpoint converted with
 *     --attention-plus local3d gives the same final hidden states in one NAR
 *     forward and through the KV caches (one token per call).
 * Sources: ../shared/golden/README.md "Attention" (base channel, full, swin
 * NAR with torch.roll wrap-around, swin AR with clipped windows) and
 * DESIGN.md §2 (local3d: k x k neighbourhood clipped at the frame borders in
 * every earlier frame, plus the causal part of the current frame). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* access */
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
#include <unistd.h>

#include <cmocka.h>

#include "attention.h"
#include "convert.h"
#include "model.h"
#include "test_files.h"

enum { HEADS = 2, HEAD_DIM = 8, HID = HEADS * HEAD_DIM, TEXT_LEN = 3 };

/* float32 dot products of length 8 and a float softmax against double: the
 * scores are O(1) and the outputs convex combinations of values in
 * [-1.5, 1.5], so float rounding costs ~1e-6; 1e-5 leaves a 10x margin and
 * is still 1000x below what a wrong key or a missing +w costs (asserted). */
static const double TOL = 1e-5;
static const float LOG_W = 1.4f;
static const uint64_t SEED = 20240603u;

/* ------------------------------------------------------------ layouts */

typedef struct {
    const char *name;
    cv_hparams hp;
    int frames; /* model-frames in the layout */
} config_t;

static config_t make_config(const char *name, int stage, cv_plus_kind plus, int fh, int fw, int window, int k,
                            int frames)
{
    config_t c = {name, {0}, frames};
    c.hp.stage = stage;
    c.hp.n_layers = 2;
    c.hp.hidden = HID;
    c.hp.heads = HEADS;
    c.hp.head_dim = HEAD_DIM;
    c.hp.frame_h = fh;
    c.hp.frame_w = fw;
    c.hp.frame_len = fh * fw;
    c.hp.max_text_len = TEXT_LEN;
    c.hp.plus = plus;
    c.hp.window = window;
    c.hp.shift = window > 0 ? window / 2 : 0; /* what the converter writes */
    c.hp.local3d_kernel = k;
    return c;
}

/* Grids, windows and kernels small enough to check every query; swin grids
 * are multiples of the window (the original's window partition needs it). */
static int configs(config_t *c)
{
    int n = 0;
    c[n++] = make_config("full 4x5", 1, CV_PLUS_FULL, 4, 5, -1, 0, 3);
    c[n++] = make_config("swin 6x6 w3", 2, CV_PLUS_SWIN, 6, 6, 3, 0, 4);
    c[n++] = make_config("swin 4x8 w4", 2, CV_PLUS_SWIN, 4, 8, 4, 0, 3);
    c[n++] = make_config("local3d 4x5 k3", 1, CV_PLUS_LOCAL3D, 4, 5, -1, 3, 3);
    c[n++] = make_config("local3d 4x5 k5", 1, CV_PLUS_LOCAL3D, 4, 5, -1, 5, 4);
    c[n++] = make_config("local3d 6x6 k3", 1, CV_PLUS_LOCAL3D, 6, 6, -1, 3, 3);
    c[n++] = make_config("local3d 6x6 k5", 1, CV_PLUS_LOCAL3D, 6, 6, -1, 5, 3);
    c[n++] = make_config("local3d 4x5 k1", 1, CV_PLUS_LOCAL3D, 4, 5, -1, 1, 3);
    c[n++] = make_config("local3d 4x5 k9", 1, CV_PLUS_LOCAL3D, 4, 5, -1, 9, 3);
    c[n++] = make_config("local3d stage 2 6x6 k3", 2, CV_PLUS_LOCAL3D, 6, 6, 3, 3, 3);
    return n;
}

/* Cell of every model position, by enumeration rather than arithmetic:
 * text (F = -1), then frame f, row x, column y in row-major order. */
typedef struct {
    const char *name;
    const cv_hparams *hp;
    int tl, total;
    int F[512], X[512], Y[512];
} layout_t;

static void make_layout(const config_t *c, layout_t *L)
{
    L->name = c->name;
    L->hp = &c->hp;
    L->tl = TEXT_LEN;
    int p = 0;
    for (; p < L->tl; p++)
        L->F[p] = L->X[p] = L->Y[p] = -1;
    for (int f = 0; f < c->frames; f++)
        for (int x = 0; x < c->hp.frame_h; x++)
            for (int y = 0; y < c->hp.frame_w; y++, p++) {
                assert_true(p < 512);
                L->F[p] = f;
                L->X[p] = x;
                L->Y[p] = y;
            }
    L->total = p;
}

/* ------------------------------------------------------------ naive key sets */

/* Swin NAR: torch.roll(x, -s) puts original coordinate (r + s) mod size at
 * rolled coordinate r; windows are rolled [w*win, (w+1)*win), no mask. */
static bool rolled_same_window(int a, int b, int s, int win, int size)
{
    int ra = -1, rb = -1;
    for (int r = 0; r < size; r++) {
        if ((r + s) % size == a)
            ra = r;
        if ((r + s) % size == b)
            rb = r;
    }
    return ra / win == rb / win;
}

/* Swin AR: the query's window [xs, xe) clipped to [0, size), xs = ((a+s) div
 * win)*win - s for s > 0, win*(a div win) for s = 0; is b inside? */
static bool in_ar_window(int a, int b, int s, int win, int size)
{
    int xs = s > 0 ? ((a + s) / win) * win - s : win * (a / win);
    int xe = xs + win;
    xs = xs < 0 ? 0 : xs;
    xe = xe > size ? size : xe;
    return b >= xs && b < xe;
}

/* Base channel: text always; frame queries also see their own model-frame,
 * causally, except stage-2 NAR calls (the whole frame, within the call). */
static bool base_in(const layout_t *L, const cv_key_query *q, int k)
{
    if (k < L->tl)
        return true;
    if (q->p < L->tl || L->F[k] != L->F[q->p])
        return false;
    if (L->hp->stage == 2 && !q->incremental)
        return k < q->call_end;
    return k <= q->p;
}

static bool swin_in(const layout_t *L, const cv_key_query *q, int k)
{
    const cv_hparams *hp = L->hp;
    const int p = q->p, s = q->layer % 2 == 1 ? hp->shift : 0;
    if (!q->incremental)
        return k < q->call_end && rolled_same_window(L->X[p], L->X[k], s, hp->window, hp->frame_h) &&
               rolled_same_window(L->Y[p], L->Y[k], s, hp->window, hp->frame_w);
    const bool box = in_ar_window(L->X[p], L->X[k], s, hp->window, hp->frame_h) &&
                     in_ar_window(L->Y[p], L->Y[k], s, hp->window, hp->frame_w);
    if (L->F[k] < L->F[p])
        return box;
    return L->F[k] == L->F[p] && (k == p || (k < p && box));
}

static bool local3d_in(const layout_t *L, const cv_key_query *q, int k)
{
    const int p = q->p, r = L->hp->local3d_kernel / 2;
    if (L->F[k] < L->F[p])
        return abs(L->X[k] - L->X[p]) <= r && abs(L->Y[k] - L->Y[p]) <= r;
    return L->F[k] == L->F[p] && k <= p;
}

/* Attention-plus channel: nothing for text queries; text keys always. */
static bool plus_in(const layout_t *L, const cv_key_query *q, int k)
{
    if (q->p < L->tl)
        return false;
    if (k < L->tl)
        return true;
    switch (L->hp->plus) {
    case CV_PLUS_FULL:
        return k <= q->p;
    case CV_PLUS_SWIN:
        return swin_in(L, q, k);
    case CV_PLUS_LOCAL3D:
        return local3d_in(L, q, k);
    }
    return false;
}

static bool in_keyset(const layout_t *L, const cv_key_query *q, int k)
{
    return q->channel == 0 ? base_in(L, q, k) : plus_in(L, q, k);
}

/* +w on text keys: base channel always (NAR and AR); plus channel only in
 * AR calls (bug 1 of the README) for full and swin; local3d always (it has
 * no original code, the lead chose the consistent rule). */
static bool naive_bias(const layout_t *L, const cv_key_query *q)
{
    return q->channel == 0 || q->incremental || L->hp->plus == CV_PLUS_LOCAL3D;
}

/* ------------------------------------------------------------ key-set test */

static void describe(const config_t *c, const cv_key_query *q, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s: channel %d layer %d %s call [%d,%d) p %d", c->name, q->channel, q->layer,
             q->incremental ? "AR" : "NAR", q->call_start, q->call_end, q->p);
}

static void check_one_query(const config_t *c, const layout_t *L, const cv_key_query *q, int *keys)
{
    bool bias = false, member[512] = {false};
    char what[160];
    const int n = cv_model_keys(&c->hp, q, keys, &bias);
    describe(c, q, what, sizeof what);
    for (int j = 0; j < n; j++) {
        if (keys[j] < 0 || keys[j] >= q->call_end || (j > 0 && keys[j] <= keys[j - 1]))
            fail_msg("%s: key %d = %d (expected ascending, in [0, %d))", what, j, keys[j], q->call_end);
        member[keys[j]] = true;
    }
    for (int k = 0; k < q->call_end; k++)
        if (member[k] != in_keyset(L, q, k))
            fail_msg("%s: key %d (frame %d, %d,%d) is %s the key set (expected %s)", what, k, L->F[k], L->X[k],
                     L->Y[k], member[k] ? "in" : "not in", member[k] ? "not" : "in");
    if (n > 0 && bias != naive_bias(L, q))
        fail_msg("%s: text bias %d (expected %d)", what, bias, naive_bias(L, q));
}

/* Every query of: NAR calls over the whole layout and over a prefix ending
 * inside a frame; AR calls (call = [p, p+1)) for every frame position. */
static void check_config_keys(const config_t *c, int *nq)
{
    layout_t L;
    make_layout(c, &L);
    int keys[512];
    const int ends[2] = {L.total, L.tl + c->hp.frame_len + c->hp.frame_len / 2 + 1};
    for (int ch = 0; ch < 2; ch++)
        for (int layer = 0; layer < 2; layer++) {
            for (int e = 0; e < 2; e++)
                for (int p = 0; p < ends[e]; p++, (*nq)++)
                    check_one_query(c, &L, &(cv_key_query){ch, layer, L.tl, p, false, 0, ends[e]}, keys);
            for (int p = L.tl; p < L.total; p++, (*nq)++)
                check_one_query(c, &L, &(cv_key_query){ch, layer, L.tl, p, true, p, p + 1}, keys);
        }
}

static void test_key_sets(void **state)
{
    (void)state;
    config_t c[16];
    const int n = configs(c);
    int nq = 0;
    for (int i = 0; i < n; i++)
        check_config_keys(&c[i], &nq);
    print_message("key sets: %d queries in %d configurations agree with the naive predicates\n", nq, n);
}

/* Borders really clip: a local3d query in a corner of frame 1 sees exactly
 * the clipped k x k cells of frame 0 (counted by hand), the centre the full k^2. */
static void test_local3d_counts(void **state)
{
    (void)state;
    config_t c = make_config("local3d 6x6 k5", 1, CV_PLUS_LOCAL3D, 6, 6, -1, 5, 2);
    int keys[512];
    bool bias;
    const int tl = TEXT_LEN, f1 = tl + 36;
    static const struct {
        int x, y, frame0_keys;
    } cases[] = {{0, 0, 9}, {0, 5, 9}, {5, 0, 9}, {5, 5, 9}, {0, 2, 15}, {1, 1, 16}, {2, 2, 25}, {3, 2, 25}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int p = f1 + cases[i].x * 6 + cases[i].y;
        const int n = cv_model_keys(&c.hp, &(cv_key_query){1, 0, tl, p, true, p, p + 1}, keys, &bias);
        /* text + frame-0 neighbourhood + frame 1 up to and including p */
        assert_int_equal(n, tl + cases[i].frame0_keys + (p - f1 + 1));
    }
}

/* ------------------------------------------------------------ dense attention */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static float uniform(uint64_t *s, float a)
{
    return a * (2.0f * (float)(rng_next(s) >> 40) / (float)(1u << 24) - 1.0f);
}

/* One query row of the naive attention, all heads: scores (q/sqrt(dh)).k in
 * double, +w on text keys when `bias`, -inf outside the naive key set. */
static void naive_row(const layout_t *L, const cv_key_query *q, const float *Q, const float *K, const float *V,
                      bool bias, double *out)
{
    double sc[512];
    for (int h = 0; h < HEADS; h++) {
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < q->call_end; k++) {
            sc[k] = -INFINITY;
            if (!in_keyset(L, q, k))
                continue;
            double d = 0;
            for (int e = 0; e < HEAD_DIM; e++)
                d += (double)Q[q->p * HID + h * HEAD_DIM + e] / sqrt((double)HEAD_DIM) * K[k * HID + h * HEAD_DIM + e];
            sc[k] = d + (bias && k < L->tl ? (double)LOG_W : 0.0);
            mx = sc[k] > mx ? sc[k] : mx;
        }
        for (int k = 0; k < q->call_end; k++)
            sum += sc[k] == -INFINITY ? 0.0 : exp(sc[k] - mx);
        for (int e = 0; e < HEAD_DIM; e++) {
            double o = 0;
            for (int k = 0; k < q->call_end; k++)
                if (sc[k] != -INFINITY)
                    o += exp(sc[k] - mx) / sum * V[k * HID + h * HEAD_DIM + e];
            out[h * HEAD_DIM + e] = o;
        }
    }
}

typedef struct {
    double max_diff; /* cv_attention vs naive */
    double bias_gap; /* naive with vs without +w: what a wrong bias costs */
    int rows;
} dense_stats;

static void compare_row(const layout_t *L, const cv_key_query *q, const float *Q, const float *K, const float *V,
                        const float *got, dense_stats *st)
{
    double want[HID], flipped[HID];
    const bool bias = naive_bias(L, q);
    naive_row(L, q, Q, K, V, bias, want);
    naive_row(L, q, Q, K, V, !bias, flipped);
    for (int i = 0; i < HID; i++) {
        const double d = fabs((double)got[i] - want[i]);
        if (!(d <= TOL))
            fail_msg("%s: channel %d layer %d %s p %d: ctx[%d] = %.8f (expected %.8f, |diff| %.2e > %.0e)", L->name,
                     q->channel, q->layer, q->incremental ? "AR" : "NAR", q->p, i, got[i], want[i], d, TOL);
        st->max_diff = d > st->max_diff ? d : st->max_diff;
        const double g = fabs(flipped[i] - want[i]);
        st->bias_gap = g > st->bias_gap ? g : st->bias_gap;
    }
    st->rows++;
}

/* A NAR call over the whole layout: q|k|v interleaved in rows of 3*HID (as
 * the model lays them out); ctx rows with a stride != HID.  Plus-channel
 * text rows must be left untouched. */
static void dense_nar(const layout_t *L, int ch, int layer, const float *Q, const float *K, const float *V,
                      dense_stats *st)
{
    const int T = L->total, ld = HID + 3;
    float *qkv = malloc((size_t)T * 3 * HID * sizeof *qkv), *ctx = malloc((size_t)T * ld * sizeof *ctx);
    assert_non_null(qkv);
    assert_non_null(ctx);
    for (int r = 0; r < T; r++) {
        memcpy(qkv + r * 3 * HID, Q + r * HID, HID * sizeof *qkv);
        memcpy(qkv + r * 3 * HID + HID, K + r * HID, HID * sizeof *qkv);
        memcpy(qkv + r * 3 * HID + 2 * HID, V + r * HID, HID * sizeof *qkv);
    }
    for (int i = 0; i < T * ld; i++)
        ctx[i] = 1234.5f;
    const cv_attn_src src = {qkv, qkv + HID, qkv + 2 * HID, 3 * HID, NULL, NULL, ch == 0};
    const cv_key_query q0 = {ch, layer, L->tl, 0, false, 0, T};
    assert_int_equal(cv_attention(L->hp, &q0, T, &src, LOG_W, ctx, (size_t)ld, 2), CV_OK);
    for (int r = 0; r < T; r++) {
        cv_key_query q = q0;
        q.p = r;
        if (ch == 1 && r < L->tl)
            for (int i = 0; i < HID; i++)
                assert_true(ctx[r * ld + i] == 1234.5f);
        else
            compare_row(L, &q, Q, K, V, ctx + r * ld, st);
    }
    free(qkv);
    free(ctx);
}

/* The caches an AR call at p reads.  Plus channel: every earlier position
 * at its own row.  Base channel ("limited spatial memory", ring = 1): text
 * rows, then ONE frame: position tl + F*fl + j at slot tl + j; only the
 * current frame's cells before p are valid.  Every other row is NaN, so a
 * read outside the key set poisons the output. */
static void build_cache(const layout_t *L, int ch, int p, const float *src, float *cache)
{
    const int fl = L->hp->frame_len, rows = ch == 0 ? L->tl + fl : L->total;
    for (int i = 0; i < rows * HID; i++)
        cache[i] = NAN;
    for (int k = 0; k < p; k++) {
        int slot = k;
        if (ch == 0 && k >= L->tl) {
            if (L->F[k] != L->F[p])
                continue;
            slot = L->tl + L->X[k] * L->hp->frame_w + L->Y[k];
        }
        memcpy(cache + slot * HID, src + k * HID, HID * sizeof *cache);
    }
}

static void dense_ar(const layout_t *L, int ch, int layer, const float *Q, const float *K, const float *V,
                     dense_stats *st)
{
    const size_t cap = (size_t)L->total * HID;
    float *kc = malloc(cap * sizeof *kc), *vc = malloc(cap * sizeof *vc), qkv[3 * HID], ctx[HID];
    assert_non_null(kc);
    assert_non_null(vc);
    for (int p = L->tl; p < L->total; p++) {
        build_cache(L, ch, p, K, kc);
        build_cache(L, ch, p, V, vc);
        memcpy(qkv, Q + p * HID, sizeof ctx);
        memcpy(qkv + HID, K + p * HID, sizeof ctx);
        memcpy(qkv + 2 * HID, V + p * HID, sizeof ctx);
        const cv_attn_src src = {qkv, qkv + HID, qkv + 2 * HID, 3 * HID, kc, vc, ch == 0};
        const cv_key_query q = {ch, layer, L->tl, p, true, p, p + 1};
        assert_int_equal(cv_attention(L->hp, &q, 1, &src, LOG_W, ctx, HID, 1), CV_OK);
        compare_row(L, &q, Q, K, V, ctx, st);
    }
    free(kc);
    free(vc);
}

static void test_dense_attention(void **state)
{
    (void)state;
    config_t c[16];
    const int n = configs(c);
    uint64_t rng = SEED;
    print_message("dense attention: seed %llu, log_w %.1f, tolerance %.0e\n", (unsigned long long)SEED,
                  (double)LOG_W, TOL);
    for (int i = 0; i < n; i++) {
        layout_t L;
        make_layout(&c[i], &L);
        const size_t sz = (size_t)L.total * HID;
        float *Q = malloc(sz * sizeof *Q), *K = malloc(sz * sizeof *K), *V = malloc(sz * sizeof *V);
        assert_true(Q && K && V);
        dense_stats st = {0, 0, 0};
        for (int ch = 0; ch < 2; ch++)
            for (int layer = 0; layer < 2; layer++) {
                for (size_t j = 0; j < sz; j++) {
                    Q[j] = uniform(&rng, 1.5f);
                    K[j] = uniform(&rng, 1.5f);
                    V[j] = uniform(&rng, 1.5f);
                }
                dense_nar(&L, ch, layer, Q, K, V, &st);
                dense_ar(&L, ch, layer, Q, K, V, &st);
            }
        print_message("  %-24s %5d rows: max |diff| %.2e; a wrong +w would cost %.2e\n", c[i].name, st.rows,
                      st.max_diff, st.bias_gap);
        assert_true(st.bias_gap > 1000 * TOL);
        free(Q);
        free(K);
        free(V);
    }
}

/* ------------------------------------------------------------ end to end */

static const char *golden_stage1(void)
{
    static char p[4096];
    const char *d = getenv("CV_TESTDATA");
    snprintf(p, sizeof p, "%s/golden-A/ckpt/cogvideo-stage1", d ? d : "testdata");
    return p;
}

/* Final hidden states of text + 2 frames, log_w 1.4, computed once in a
 * NAR call (nar) and once through the caches (ar): a NAR call over the text,
 * then one AR call per token.  ids/pos as my_filling_sequence feeds stage 1. */
static void nar_and_ar(const cv_model *m, int tl, int n, float *nar, float *ar)
{
    const cv_hparams *hp = cv_model_hparams(m);
    int64_t *ids = malloc((size_t)n * sizeof *ids), *pos = malloc((size_t)n * sizeof *pos);
    assert_true(ids && pos);
    uint64_t rng = SEED + 1;
    for (int p = 0; p < n; p++) {
        ids[p] = p < tl ? 20005 + (int64_t)(rng_next(&rng) % 395) : (int64_t)(rng_next(&rng) % 20000);
        pos[p] = p < tl ? p : hp->frame_pos_offset + (p - tl);
    }
    ids[tl] = ids[tl + hp->frame_len] = hp->boi_id;
    cv_state *a, *b;
    cv_error err;
    assert_int_equal(cv_state_new(m, n, &a, &err), CV_OK);
    assert_int_equal(cv_state_new(m, n, &b, &err), CV_OK);
    cv_call c = {a, ids, pos, n, tl, LOG_W, false, nar, NULL};
    if (cv_model_forward(m, &c, 1, 0, &err))
        fail_msg("%s", err.msg);
    c = (cv_call){b, ids, pos, tl, tl, LOG_W, false, ar, NULL};
    if (cv_model_forward(m, &c, 1, 0, &err))
        fail_msg("%s", err.msg);
    for (int p = tl; p < n; p++) {
        c = (cv_call){b, ids + p, pos + p, 1, tl, LOG_W, false, ar + (size_t)p * (size_t)hp->hidden, NULL};
        if (cv_model_forward(m, &c, 1, 1, &err))
            fail_msg("%s", err.msg);
    }
    cv_state_free(a);
    cv_state_free(b);
    free(ids);
    free(pos);
}

/* max |NAR - cache path| over every position, for the golden-A stage-1
 * checkpoint converted with attention-plus `plus` (kernel k). */
static double e2e_gap(const char *plus, int k)
{
    cv_convert_opts o;
    cv_convert_opts_default(&o);
    o.attention_plus = plus;
    o.local3d_kernel = k;
    const char *out = cv_test_path("e2e.gguf");
    cv_error err;
    cv_model *m;
    if (cv_convert(golden_stage1(), out, &o, &err) || cv_model_load(out, &m, &err))
        fail_msg("%s", err.msg);
    const int tl = 14, n = tl + 2 * cv_model_hparams(m)->frame_len, H = cv_model_hparams(m)->hidden;
    float *nar = malloc((size_t)n * (size_t)H * sizeof *nar), *ar = malloc((size_t)n * (size_t)H * sizeof *ar);
    assert_true(nar && ar);
    nar_and_ar(m, tl, n, nar, ar);
    double gap = 0;
    for (size_t i = 0; i < (size_t)n * (size_t)H; i++)
        gap = fmax(gap, fabs((double)nar[i] - (double)ar[i]));
    free(nar);
    free(ar);
    cv_model_free(m);
    unlink(out);
    return gap;
}

/* local3d has one key set for NAR and AR calls (and +w on text in both), so
 * the caches must reproduce the NAR forward; the release's full attention
 * with w = 1.4 must not (bug 1), which shows the check can fail. */
static void test_local3d_end_to_end(void **state)
{
    (void)state;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/model_config.json", golden_stage1());
    if (access(probe, R_OK) != 0) {
        print_message("SKIP: %s not found: local3d end-to-end check not run\n", probe);
        skip();
    }
    const double local3d = e2e_gap("local3d", 3), full = e2e_gap(NULL, 0);
    print_message("text + 2 frames, log_w 1.4: max |NAR - cache path| local3d k=3 %.2e (tolerance %.0e), "
                  "full %.2e (bug 1, expected large)\n", local3d, TOL, full);
    assert_true(local3d <= TOL);
    assert_true(full > 1e-2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_sets),
        cmocka_unit_test(test_local3d_counts),
        cmocka_unit_test(test_dense_attention),
        cmocka_unit_test(test_local3d_end_to_end),
    };
    cv_test_dir_name("test_attention");
    return cmocka_run_group_tests(tests, cv_test_setup_dir, cv_test_teardown_dir);
}
