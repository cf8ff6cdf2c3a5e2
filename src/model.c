/* model.c — the CogVideo transformer: loading a converted GGUF, KV-cache
 * state, and the batched forward pass.
 *
 * Layer (golden/README.md, sandwich LN, all LayerNorms eps 1e-5):
 *   a = LN_input(h);  h = h + LN_third(Attn(a))
 *   m = LN_post(h);   h = h + LN_fourth(W2 gelu(W1 m + b1) + b2)
 * Attn mixes two channels per hidden unit: g = sigmoid(attn_distribution),
 *   out = g * dense(ctx_base) + (1 - g) * dense'(ctx_plus)
 * (text queries and enforce_no_swin: dense(ctx_base) only). */
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "convert.h"
#include "gguf.h"
#include "linear.h"
#include "mapfile.h"

#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    cv_type type;
    const void *data;
    int rows, cols;
} weight_t;

typedef struct {
    const float *ln_in_w, *ln_in_b, *ln3_w, *ln3_b, *ln4_w, *ln4_b, *ln_post_w, *ln_post_b;
    weight_t qkv, dense, fc1, fc2, pqkv, pdense;
    const float *qkv_b, *dense_b, *fc1_b, *fc2_b, *pqkv_b, *pdense_b;
    float *gate; /* sigmoid(attn_distribution): owned */
} layer_t;

struct cv_model {
    cv_gguf *g;              /* NULL for random weights */
    void *owned;             /* random weights: matrices (cv_alloc_big) */
    size_t owned_bytes;
    float *owned_vecs;       /* random weights: ones then zeros */
    cv_hparams hp;
    weight_t word, pos, extra;
    const float *lnf_w, *lnf_b;
    layer_t *layers;
};

struct cv_state {
    int cap, cap0, len, text_len;
    bool plus_valid;
    float *k0, *v0; /* [layers][cap0][hidden]: text + one frame (limited spatial memory) */
    float *k1, *v1; /* [layers][cap][hidden] */
};

/* ------------------------------------------------------------ loading */

static cv_status meta_int(const cv_gguf *g, const char *key, int lo, int hi, int *v, cv_error *err)
{
    const cv_gguf_kv *kv = cv_gguf_find_kv(g, key);
    int64_t x = 0;
    if (kv && (kv->type == CV_GGUF_INT32 || kv->type == CV_GGUF_INT64) && kv->count == 1) {
        if (kv->type == CV_GGUF_INT32) {
            int32_t t;
            memcpy(&t, kv->data, 4);
            x = t;
        } else {
            memcpy(&x, kv->data, 8);
        }
    } else {
        uint64_t u;
        cv_status s = cv_gguf_get_uint(g, key, &u, err);
        if (s)
            return s;
        x = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    if (x < lo || x > hi)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is %lld (expected %d..%d)", cv_gguf_path(g),
                            key, (long long)x, lo, hi);
    *v = (int)x;
    return CV_OK;
}

static cv_status read_plus_kind(const cv_gguf *g, cv_hparams *hp, cv_error *err)
{
    const char *s;
    cv_status st = cv_gguf_get_str(g, CV_KEY_ATTN_PLUS, &s, NULL, err);
    if (st)
        return st;
    if (!strcmp(s, "full"))
        hp->plus = CV_PLUS_FULL;
    else if (!strcmp(s, "swin"))
        hp->plus = CV_PLUS_SWIN;
    else if (!strcmp(s, "local3d"))
        hp->plus = CV_PLUS_LOCAL3D;
    else
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is \"%s\" (expected full, swin or local3d)",
                            cv_gguf_path(g), CV_KEY_ATTN_PLUS, s);
    return CV_OK;
}

static cv_status read_time_slots(const cv_gguf *g, cv_hparams *hp, cv_error *err)
{
    const cv_gguf_kv *kv = cv_gguf_find_kv(g, "cogvideo.time_slots");
    hp->n_time_slots = 0;
    if (!kv)
        return hp->stage == 2 ? cv_error_set(err, CV_ERR_FORMAT,
                                             "%s: missing metadata key 'cogvideo.time_slots' (expected a uint32 array for a stage-2 model)",
                                             cv_gguf_path(g))
                              : CV_OK;
    if (kv->type != CV_GGUF_ARRAY || kv->elem_type != CV_GGUF_UINT32 || kv->count < 1 ||
        kv->count > CV_MAX_TIME_SLOTS)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key 'cogvideo.time_slots' (expected 1..%d uint32)",
                            cv_gguf_path(g), CV_MAX_TIME_SLOTS);
    for (size_t i = 0; i < kv->count; i++) {
        uint32_t v;
        memcpy(&v, (const char *)kv->data + 4 * i, 4);
        if (v >= CV_MAX_TIME_SLOTS)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata 'cogvideo.time_slots' entry %u (expected < %d)",
                                cv_gguf_path(g), v, CV_MAX_TIME_SLOTS);
        hp->time_slots[i] = (int)v;
    }
    hp->n_time_slots = (int)kv->count;
    return CV_OK;
}

static cv_status read_hparams(const cv_gguf *g, cv_hparams *hp, cv_error *err)
{
    const char *arch;
    const int BIG = 1 << 24;
    cv_status s;
    memset(hp, 0, sizeof *hp);
    if ((s = cv_gguf_get_str(g, CV_KEY_ARCH, &arch, NULL, err)))
        return s;
    if (strcmp(arch, "cogvideo"))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: general.architecture is \"%s\" (expected \"cogvideo\")",
                            cv_gguf_path(g), arch);
    if ((s = meta_int(g, CV_KEY_STAGE, 1, 2, &hp->stage, err)) ||
        (s = meta_int(g, CV_KEY_NUM_LAYERS, 1, 4096, &hp->n_layers, err)) ||
        (s = meta_int(g, CV_KEY_HIDDEN, 1, 65536, &hp->hidden, err)) ||
        (s = meta_int(g, CV_KEY_HEADS, 1, 4096, &hp->heads, err)) ||
        (s = meta_int(g, CV_KEY_VOCAB, 1, BIG, &hp->vocab, err)) ||
        (s = meta_int(g, CV_KEY_IMAGE_TOKENS, 1, hp->vocab, &hp->image_tokens, err)) ||
        (s = meta_int(g, CV_KEY_BOI, 0, hp->vocab - 1, &hp->boi_id, err)) ||
        (s = meta_int(g, CV_KEY_N_TOKEN, 0, hp->vocab - 1, &hp->n_token_id, err)) ||
        (s = meta_int(g, CV_KEY_MAX_SEQ, 1, BIG, &hp->pos_rows, err)) ||
        (s = meta_int(g, CV_KEY_ADD_SEQ, 0, BIG, &hp->extra_rows, err)) ||
        (s = meta_int(g, "cogvideo.frame_height", 1, 4096, &hp->frame_h, err)) ||
        (s = meta_int(g, "cogvideo.frame_width", 1, 4096, &hp->frame_w, err)) ||
        (s = meta_int(g, "cogvideo.max_text_len", 1, BIG, &hp->max_text_len, err)) ||
        (s = meta_int(g, "cogvideo.frame_pos_offset", 0, BIG, &hp->frame_pos_offset, err)) ||
        (s = meta_int(g, "cogvideo.extra_pos_offset", 0, BIG, &hp->extra_pos_offset, err)) ||
        (s = meta_int(g, CV_KEY_WINDOW, -1, 4096, &hp->window, err)) ||
        (s = meta_int(g, CV_KEY_SWIN_SHIFT, 0, 4096, &hp->shift, err)) ||
        (s = meta_int(g, "cogvideo.local3d_kernel", 0, 4095, &hp->local3d_kernel, err)) ||
        (s = cv_gguf_get_f32(g, CV_KEY_LN_EPS, &hp->ln_eps, err)) || (s = read_plus_kind(g, hp, err)) ||
        (s = read_time_slots(g, hp, err)))
        return s;
    hp->frame_len = hp->frame_h * hp->frame_w;
    return CV_OK;
}

/* Relations between hyper-parameters that the code relies on. */
static cv_status check_hparams(const cv_gguf *g, const cv_hparams *hp, cv_error *err)
{
    const char *why = NULL;
    if (hp->hidden % hp->heads || hp->hidden / hp->heads > 512)
        why = "hidden_size a multiple of num_attention_heads, head size <= 512";
    else if (hp->extra_pos_offset > hp->pos_rows)
        why = "extra_pos_offset <= max_sequence_length";
    else if (hp->plus == CV_PLUS_SWIN && (hp->window < 1 || hp->shift >= hp->window))
        why = "a swin model with window_size >= 1 and swin_shift < window_size";
    else if (hp->plus == CV_PLUS_LOCAL3D && hp->local3d_kernel % 2 != 1)
        why = "an odd cogvideo.local3d_kernel for a local3d model";
    else if (!(hp->ln_eps > 0.0f) || !isfinite(hp->ln_eps))
        why = "a finite layernorm_eps > 0"; /* 0 divides by zero on a constant row; NaN and inf poison every row */
    if (why)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: inconsistent hyper-parameters (expected %s)", cv_gguf_path(g),
                            why);
    return CV_OK;
}

static cv_status get_matrix(const cv_gguf *g, const char *name, int rows, int cols, weight_t *w, cv_error *err)
{
    const int64_t shape[2] = {rows, cols};
    const cv_gguf_tensor *t;
    cv_status s = cv_gguf_expect_tensor(g, name, CV_GGUF_ANY_TYPE, 2, shape, &t, err);
    if (s)
        return s;
    if (t->type != CV_TYPE_F32 && t->type != CV_TYPE_F16 && t->type != CV_TYPE_BF16 && t->type != CV_TYPE_Q8_0)
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s (expected f32, f16, bf16 or q8_0)",
                            cv_gguf_path(g), name, cv_gguf_type_name(t->type));
    w->type = (cv_type)t->type;
    w->data = t->data;
    w->rows = rows;
    w->cols = cols;
    return CV_OK;
}

static cv_status get_vector(const cv_gguf *g, const char *name, int n, const float **v, cv_error *err)
{
    const int64_t shape[1] = {n};
    const cv_gguf_tensor *t;
    cv_status s = cv_gguf_expect_tensor(g, name, CV_TYPE_F32, 1, shape, &t, err);
    if (!s)
        *v = t->data;
    return s;
}

static cv_status load_layer(cv_model *m, int l, cv_error *err)
{
    const cv_gguf *g = m->g;
    const int H = m->hp.hidden;
    layer_t *L = &m->layers[l];
    char n[8][128];
    const char *ln[4] = {"input_layernorm", "third_layernorm", "fourth_layernorm", "post_attention_layernorm"};
    const float **lnp[8] = {&L->ln_in_w, &L->ln_in_b, &L->ln3_w, &L->ln3_b,
                            &L->ln4_w,   &L->ln4_b,   &L->ln_post_w, &L->ln_post_b};
    cv_status s;
    for (int i = 0; i < 8; i++) {
        snprintf(n[0], sizeof n[0], "transformer.layers.%d.%s.%s", l, ln[i / 2], i % 2 ? "bias" : "weight");
        if ((s = get_vector(g, n[0], H, lnp[i], err)))
            return s;
    }
    struct { const char *pre, *post; weight_t *w; const float **b; int rows, cols; } mats[6] = {
        {"transformer.layers.", ".attention.query_key_value", &L->qkv, &L->qkv_b, 3 * H, H},
        {"transformer.layers.", ".attention.dense", &L->dense, &L->dense_b, H, H},
        {"transformer.layers.", ".mlp.dense_h_to_4h", &L->fc1, &L->fc1_b, 4 * H, H},
        {"transformer.layers.", ".mlp.dense_4h_to_h", &L->fc2, &L->fc2_b, H, 4 * H},
        {"mixins.attention_plus.query_key_value.", "", &L->pqkv, &L->pqkv_b, 3 * H, H},
        {"mixins.attention_plus.dense.", "", &L->pdense, &L->pdense_b, H, H},
    };
    for (int i = 0; i < 6; i++) {
        char base[96];
        snprintf(base, sizeof base, "%s%d%s", mats[i].pre, l, mats[i].post);
        snprintf(n[0], sizeof n[0], "%s.weight", base);
        snprintf(n[1], sizeof n[1], "%s.bias", base);
        if ((s = get_matrix(g, n[0], mats[i].rows, mats[i].cols, mats[i].w, err)) ||
            (s = get_vector(g, n[1], mats[i].rows, mats[i].b, err)))
            return s;
    }
    const float *dist;
    snprintf(n[0], sizeof n[0], "mixins.attention_plus.attn_distribution.%d", l);
    if ((s = get_vector(g, n[0], H, &dist, err)))
        return s;
    if (!(L->gate = malloc((size_t)H * sizeof *L->gate)))
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    for (int i = 0; i < H; i++)
        L->gate[i] = 1.0f / (1.0f + expf(-dist[i]));
    return CV_OK;
}

static cv_status load_globals(cv_model *m, cv_error *err)
{
    const cv_hparams *hp = &m->hp;
    cv_status s;
    if ((s = get_matrix(m->g, "transformer.word_embeddings.weight", hp->vocab, hp->hidden, &m->word, err)) ||
        (s = get_matrix(m->g, "transformer.position_embeddings.weight", hp->pos_rows, hp->hidden, &m->pos, err)) ||
        (s = get_matrix(m->g, "mixins.extra_position_embedding.position_embeddings.weight", hp->extra_rows,
                        hp->hidden, &m->extra, err)) ||
        (s = get_vector(m->g, "transformer.final_layernorm.weight", hp->hidden, &m->lnf_w, err)) ||
        (s = get_vector(m->g, "transformer.final_layernorm.bias", hp->hidden, &m->lnf_b, err)))
        return s;
    return CV_OK;
}

cv_status cv_model_load(const char *path, cv_model **out, cv_error *err)
{
    *out = NULL;
    cv_model *m = calloc(1, sizeof *m);
    if (!m)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    cv_status s = cv_gguf_open(path, &m->g, err);
    if (!s && !(s = read_hparams(m->g, &m->hp, err)) && !(s = check_hparams(m->g, &m->hp, err)) &&
        !(s = load_globals(m, err))) {
        m->hp.head_dim = m->hp.hidden / m->hp.heads;
        m->layers = calloc((size_t)m->hp.n_layers, sizeof *m->layers);
        if (!m->layers)
            s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        for (int l = 0; !s && l < m->hp.n_layers; l++)
            s = load_layer(m, l, err);
        if (!s)
            m->hp.matrix_type = m->layers[0].qkv.type;
    }
    if (s) {
        cv_model_free(m);
        return s;
    }
    *out = m;
    return CV_OK;
}

void cv_model_free(cv_model *m)
{
    if (!m)
        return;
    if (m->layers)
        for (int l = 0; l < m->hp.n_layers; l++)
            free(m->layers[l].gate);
    free(m->layers);
    cv_free_big(m->owned, m->owned_bytes);
    free(m->owned_vecs);
    cv_gguf_close(m->g);
    free(m);
}

const cv_hparams *cv_model_hparams(const cv_model *m) { return &m->hp; }
const char *cv_model_path(const cv_model *m) { return m->g ? cv_gguf_path(m->g) : "(random weights)"; }

const cv_gguf *cv_model_gguf(const cv_model *m) { return m->g; }

static uint64_t wbytes(const weight_t *w, int rows)
{
    return cv_rows_nbytes(w->type, (size_t)rows, (size_t)w->cols);
}

uint64_t cv_model_weight_bytes(const cv_model *m, bool with_logits)
{
    uint64_t b = with_logits ? wbytes(&m->word, m->hp.image_tokens) : 0;
    for (int l = 0; l < m->hp.n_layers; l++) {
        const layer_t *L = &m->layers[l];
        b += wbytes(&L->qkv, L->qkv.rows) + wbytes(&L->dense, L->dense.rows) + wbytes(&L->fc1, L->fc1.rows) +
             wbytes(&L->fc2, L->fc2.rows) + wbytes(&L->pqkv, L->pqkv.rows) + wbytes(&L->pdense, L->pdense.rows);
    }
    return b;
}

/* ------------------------------------------------------------ state */

uint64_t cv_state_bytes(const cv_model *m, int capacity)
{
    const cv_hparams *hp = &m->hp;
    const int cap0 = hp->max_text_len + hp->frame_len < capacity ? hp->max_text_len + hp->frame_len : capacity;
    return 2 * (uint64_t)hp->n_layers * ((uint64_t)cap0 + (uint64_t)capacity) * (uint64_t)hp->hidden * sizeof(float);
}

cv_status cv_state_new(const cv_model *m, int capacity, cv_state **out, cv_error *err)
{
    *out = NULL;
    const cv_hparams *hp = &m->hp;
    cv_state *st = calloc(1, sizeof *st);
    if (!st || capacity < 1)
        return free(st), cv_error_set(err, st ? CV_ERR_ARG : CV_ERR_NOMEM, "bad state capacity %d", capacity);
    st->cap = capacity;
    st->cap0 = hp->max_text_len + hp->frame_len < capacity ? hp->max_text_len + hp->frame_len : capacity;
    const size_t per0 = (size_t)hp->n_layers * (size_t)st->cap0 * (size_t)hp->hidden;
    const size_t per1 = (size_t)hp->n_layers * (size_t)st->cap * (size_t)hp->hidden;
    st->k0 = malloc(per0 * sizeof(float));
    st->v0 = malloc(per0 * sizeof(float));
    st->k1 = malloc(per1 * sizeof(float));
    st->v1 = malloc(per1 * sizeof(float));
    if (!st->k0 || !st->v0 || !st->k1 || !st->v1) {
        cv_state_free(st);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory for the KV caches of %d positions (%.1f GB)", capacity,
                            (double)(2 * (per0 + per1) * sizeof(float)) / 1e9);
    }
    st->plus_valid = true;
    *out = st;
    return CV_OK;
}

void cv_state_free(cv_state *st)
{
    if (!st)
        return;
    free(st->k0);
    free(st->v0);
    free(st->k1);
    free(st->v1);
    free(st);
}

int cv_state_length(const cv_state *st) { return st->len; }

/* ------------------------------------------------------------ forward */

/* Row r of a weight matrix as floats (embedding lookups). */
static void weight_row(const cv_kernels *k, const weight_t *w, size_t r, float *out)
{
    const size_t c = (size_t)w->cols;
    const char *base = (const char *)w->data + cv_rows_nbytes(w->type, r, c);
    if (w->type == CV_TYPE_F32) {
        memcpy(out, base, c * sizeof *out);
    } else if (w->type == CV_TYPE_F16 || w->type == CV_TYPE_BF16) {
        (w->type == CV_TYPE_F16 ? k->f16_to_f32 : k->bf16_to_f32)(out, (const uint16_t *)(const void *)base, c);
    } else {
        const cv_block_q8_0 *b = (const cv_block_q8_0 *)(const void *)base;
        for (size_t i = 0; i < c / CV_QK8_0; i++) {
            const float d = cv_f16_to_f32(b[i].d);
            for (int j = 0; j < CV_QK8_0; j++)
                out[i * CV_QK8_0 + (size_t)j] = d * (float)b[i].qs[j];
        }
    }
}

/* Rows [row0, row0 + n) of the batch, computed by one matrix product in
 * every Linear: the whole batch (ALL), one NAR call alone (CALL), or a
 * group of consecutive 1-row calls through the small-m kernels (SMALL). */
typedef enum { SPAN_ALL, SPAN_CALL, SPAN_SMALL } span_kind;

typedef struct {
    int row0, n;
    span_kind kind;
} row_span;

/* Scratch of one forward pass over M rows. */
typedef struct {
    int M;
    float *h, *a, *qkv, *pqkv, *ctx0, *ctx1, *o0, *o1, *ff;
    cv_attn_job *jobs; /* [2 * M]: at most 2 channels per call, calls <= M */
    row_span *spans;   /* [M]: the products of a Linear (spans <= calls <= M) */
    int nspans;
    bool any_plus;
    bool per_row; /* batch invariant: elementwise kernels one row at a time */
} work_t;

/* Y[n, W.rows] = X[n, W.cols] W^T for the n rows of one span. */
static void span_product(const cv_kernels *k, const weight_t *w, const row_span *sp, const float *x, float *y,
                         int nth)
{
    const size_t in = (size_t)w->cols, out = (size_t)w->rows;
    x += (size_t)sp->row0 * in;
    y += (size_t)sp->row0 * out;
    if (sp->kind == SPAN_SMALL) /* gemms: an element never depends on the other rows */
        cv_gemm_kernels(k, w->type, (size_t)sp->n, out, in, x, in, w->data, y, out, nth);
    else if (sp->n == 1) /* SPAN_ALL of one row */
        cv_gemv(k, w->type, out, in, w->data, x, y, nth);
    else
        cv_gemm(k, w->type, (size_t)sp->n, out, in, x, in, w->data, y, out, nth);
}

/* y[M, w->rows] = x[M, w->cols] W^T + b, one product per span */
static void linear(const cv_kernels *k, const weight_t *w, const float *b, const work_t *wk, const float *x,
                   float *y, int nth)
{
    for (int i = 0; i < wk->nspans; i++)
        span_product(k, w, &wk->spans[i], x, y, nth);
    for (int r = 0; r < wk->M; r++)
        k->add_f32(y + (size_t)r * (size_t)w->rows, y + (size_t)r * (size_t)w->rows, b, (size_t)w->rows);
}

/* The spans of a pass: one over every row, or (batch invariant) one per
 * NAR call and groups of at most CV_LINEAR_SMALL_M consecutive 1-row calls.
 * A 1-row call alone is a group of one, so it takes gemms in both runs. */
static int plan_spans(const cv_call *calls, int nc, int M, bool invariant, row_span *sp)
{
    int ns = 0;
    if (!invariant) {
        sp[ns++] = (row_span){0, M, SPAN_ALL};
        return ns;
    }
    for (int ci = 0, row0 = 0; ci < nc; row0 += calls[ci].n, ci++) {
        const bool grow = calls[ci].n == 1 && ns > 0 && sp[ns - 1].kind == SPAN_SMALL &&
                          sp[ns - 1].row0 + sp[ns - 1].n == row0 && sp[ns - 1].n < CV_LINEAR_SMALL_M;
        if (grow)
            sp[ns - 1].n++;
        else
            sp[ns++] = (row_span){row0, calls[ci].n, calls[ci].n == 1 ? SPAN_SMALL : SPAN_CALL};
    }
    return ns;
}

/* Elementwise kernels over M rows of width n, in place: y += x (add) or
 * y = gelu(y).  per_row (batch invariant) calls the kernel once per row,
 * so which elements of a row fall in a kernel's vector tail depends only
 * on n, never on M or on where the row sits in the batch.  Today that cannot
 * change a bit anyway: every twin computes its tail lane by lane with the
 * same operations as its body (masked vector ops on x86 and in NEON's
 * gelu, the same single IEEE add in NEON's scalar add tail), and no twin
 * peels for alignment; per_row keeps it so for any future twin. */
static void rows_add(const cv_kernels *k, float *y, const float *x, int M, size_t n, bool per_row)
{
    if (!per_row) {
        k->add_f32(y, y, x, (size_t)M * n);
        return;
    }
    for (int r = 0; r < M; r++)
        k->add_f32(y + (size_t)r * n, y + (size_t)r * n, x + (size_t)r * n, n);
}

static void rows_gelu(const cv_kernels *k, float *y, int M, size_t n, bool per_row)
{
    if (!per_row) {
        k->gelu_f32(y, y, (size_t)M * n);
        return;
    }
    for (int r = 0; r < M; r++)
        k->gelu_f32(y + (size_t)r * n, y + (size_t)r * n, n);
}

static void work_free(work_t *w)
{
    free(w->h);
    free(w->a);
    free(w->qkv);
    free(w->pqkv);
    free(w->ctx0);
    free(w->ctx1);
    free(w->o0);
    free(w->o1);
    free(w->ff);
    free(w->jobs);
    free(w->spans);
}

static cv_status work_alloc(work_t *w, int M, int H, cv_error *err)
{
    const size_t mh = (size_t)M * (size_t)H * sizeof(float);
    memset(w, 0, sizeof *w);
    w->M = M;
    w->h = malloc(mh);
    w->a = malloc(mh);
    w->qkv = malloc(3 * mh);
    w->pqkv = malloc(3 * mh);
    w->ctx0 = calloc(1, mh);
    w->ctx1 = calloc(1, mh);
    w->o0 = malloc(mh);
    w->o1 = malloc(mh);
    w->ff = malloc(4 * mh);
    w->jobs = malloc(2 * (size_t)M * sizeof *w->jobs);
    w->spans = malloc((size_t)M * sizeof *w->spans);
    if (!w->h || !w->a || !w->qkv || !w->pqkv || !w->ctx0 || !w->ctx1 || !w->o0 || !w->o1 || !w->ff || !w->jobs ||
        !w->spans) {
        work_free(w);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory for a forward pass of %d tokens", M);
    }
    return CV_OK;
}

static cv_status check_call(const cv_model *m, const cv_call *c, int idx, cv_error *err)
{
    const cv_hparams *hp = &m->hp;
    const cv_state *st = c->st;
    if (!st || c->n < 1 || !c->ids || !c->pos)
        return cv_error_set(err, CV_ERR_ARG, "forward call %d: no state, ids or positions", idx);
    if (st->len > 0 && c->n != 1)
        return cv_error_set(err, CV_ERR_ARG, "forward call %d: %d tokens after the first call (expected 1: incremental calls feed one token)", idx, c->n);
    if (st->len + c->n > st->cap)
        return cv_error_set(err, CV_ERR_ARG, "forward call %d: %d positions exceed the state's capacity %d", idx,
                            st->len + c->n, st->cap);
    if (c->text_len < 0 || c->text_len > hp->max_text_len || (st->len == 0 && c->text_len > c->n) ||
        (st->len > 0 && c->text_len != st->text_len))
        return cv_error_set(err, CV_ERR_ARG, "forward call %d: text length %d (expected 0..%d, within the first call, the same in every call)",
                            idx, c->text_len, hp->max_text_len);
    if (!c->enforce_no_swin && !st->plus_valid)
        return cv_error_set(err, CV_ERR_ARG, "forward call %d: the sequence started with enforce_no_swin, its attention-plus cache is empty", idx);
    for (int i = 0; i < c->n; i++) {
        const int64_t q = c->pos[i];
        if (q < 0 || (q < hp->extra_pos_offset ? q >= hp->pos_rows : q - hp->extra_pos_offset >= hp->extra_rows))
            return cv_error_set(err, CV_ERR_ARG, "forward call %d: position id %lld out of range (expected 0..%d)",
                                idx, (long long)q, hp->extra_pos_offset + hp->extra_rows - 1);
    }
    return CV_OK;
}

/* h = E[id] + P(pos); ids outside the vocabulary embed to zero, as SAT's
 * VocabParallelEmbedding masks them (this happens: bug 3).  P(q) is row q of
 * the position table below extra_pos_offset, else row q - extra_pos_offset
 * of the extra table.  tmp: one row of scratch. */
static void embed(const cv_model *m, const cv_kernels *k, const cv_call *c, float *h, float *tmp)
{
    const size_t H = (size_t)m->hp.hidden;
    for (int i = 0; i < c->n; i++) {
        float *row = h + (size_t)i * H;
        const int64_t id = c->ids[i], q = c->pos[i];
        if (id >= 0 && id < m->hp.vocab)
            weight_row(k, &m->word, (size_t)id, row);
        else
            memset(row, 0, H * sizeof *row);
        if (q < m->hp.extra_pos_offset)
            weight_row(k, &m->pos, (size_t)q, tmp);
        else
            weight_row(k, &m->extra, (size_t)(q - m->hp.extra_pos_offset), tmp);
        k->add_f32(row, row, tmp, H);
    }
}

static void layernorm_rows(const cv_kernels *k, float *y, const float *x, const float *g, const float *b, int M,
                           int H, float eps, int nth)
{
    (void)nth;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth > 0 ? nth : omp_get_max_threads()) if (M > 16)
#endif
    for (int r = 0; r < M; r++)
        k->layernorm_f32(y + (size_t)r * (size_t)H, x + (size_t)r * (size_t)H, g, b, (size_t)H, eps);
}

/* Base channel, then (unless enforce_no_swin) the plus channel, of one call;
 * then the call's new keys and values go to its caches. */
/* The attention jobs of one call (base channel, then plus unless
 * enforce_no_swin), appended at jobs[*nj]. */
static void call_jobs(const cv_model *m, int l, const cv_call *c, const work_t *w, int row0, cv_attn_job *jobs,
                      int *nj)
{
    const cv_hparams *hp = &m->hp;
    const size_t H = (size_t)hp->hidden, H3 = 3 * H;
    const cv_state *st = c->st;
    const int start = st->len;
    const cv_key_query q = {0, l, c->text_len, 0, start > 0, start, start + c->n};
    const float *qkv = w->qkv + (size_t)row0 * H3, *pqkv = w->pqkv + (size_t)row0 * H3;
    const float *k0 = st->k0 + (size_t)l * (size_t)st->cap0 * H, *v0 = st->v0 + (size_t)l * (size_t)st->cap0 * H;
    const float *k1 = st->k1 + (size_t)l * (size_t)st->cap * H, *v1 = st->v1 + (size_t)l * (size_t)st->cap * H;
    jobs[(*nj)++] = (cv_attn_job){q, c->n, {qkv, qkv + H, qkv + 2 * H, H3, k0, v0, 1}, c->log_w,
                                  w->ctx0 + (size_t)row0 * H, H};
    if (!c->enforce_no_swin) {
        cv_attn_job *j = &jobs[(*nj)++];
        *j = (cv_attn_job){q, c->n, {pqkv, pqkv + H, pqkv + 2 * H, H3, k1, v1, 0}, c->log_w,
                           w->ctx1 + (size_t)row0 * H, H};
        j->q.channel = 1;
    }
}

/* Appends the call's new keys and values to its caches (after the
 * attention of the whole batch has read them from the qkv rows). */
static void store_kv(const cv_model *m, int l, const cv_call *c, const work_t *w, int row0)
{
    const cv_hparams *hp = &m->hp;
    const size_t H = (size_t)hp->hidden, H3 = 3 * H;
    cv_state *st = c->st;
    const int start = st->len;
    const float *qkv = w->qkv + (size_t)row0 * H3, *pqkv = w->pqkv + (size_t)row0 * H3;
    float *k0 = st->k0 + (size_t)l * (size_t)st->cap0 * H, *v0 = st->v0 + (size_t)l * (size_t)st->cap0 * H;
    float *k1 = st->k1 + (size_t)l * (size_t)st->cap * H, *v1 = st->v1 + (size_t)l * (size_t)st->cap * H;
    for (int r = 0; r < c->n; r++) {
        const int p = start + r;
        const size_t slot = (size_t)(p < c->text_len ? p : c->text_len + (p - c->text_len) % hp->frame_len);
        memcpy(k0 + slot * H, qkv + (size_t)r * H3 + H, H * sizeof(float));
        memcpy(v0 + slot * H, qkv + (size_t)r * H3 + 2 * H, H * sizeof(float));
        if (w->any_plus) {
            memcpy(k1 + (size_t)p * H, pqkv + (size_t)r * H3 + H, H * sizeof(float));
            memcpy(v1 + (size_t)p * H, pqkv + (size_t)r * H3 + 2 * H, H * sizeof(float));
        }
    }
}

/* Both channels of every call of the batch in one parallel region, then
 * the cache writes.  A job reads only its own call's rows and cache, so
 * batching cannot change its output, though the split of a row's heads
 * into work items depends on the batch's row count (attention.c:
 * head_groups): that relies on mhdot/mhaxpy giving a head the same bits
 * whatever heads share the call (src/kernels.h; checked end to end by the
 * batch-invariance tests of test_model.c). */
static cv_status attend_calls(const cv_model *m, int l, const cv_call *calls, int nc, const work_t *w, int nth)
{
    int nj = 0;
    for (int ci = 0, row0 = 0; ci < nc; row0 += calls[ci].n, ci++)
        call_jobs(m, l, &calls[ci], w, row0, w->jobs, &nj);
    const cv_status s = cv_attention_jobs(&m->hp, w->jobs, nj, nth);
    if (s)
        return s;
    for (int ci = 0, row0 = 0; ci < nc; row0 += calls[ci].n, ci++)
        store_kv(m, l, &calls[ci], w, row0);
    return CV_OK;
}

/* o0 = g * o0 + (1 - g) * o1 on the rows of frame queries of calls that mix. */
static void mix_channels(const cv_model *m, const layer_t *L, const cv_call *calls, int nc, const work_t *w)
{
    const size_t H = (size_t)m->hp.hidden;
    int row = 0;
    for (int ci = 0; ci < nc; ci++) {
        const cv_call *c = &calls[ci];
        for (int r = 0; r < c->n; r++, row++) {
            if (c->enforce_no_swin || c->st->len + r < c->text_len)
                continue;
            float *o0 = w->o0 + (size_t)row * H;
            const float *o1 = w->o1 + (size_t)row * H;
            for (size_t i = 0; i < H; i++)
                o0[i] = o0[i] * L->gate[i] + o1[i] * (1.0f - L->gate[i]);
        }
    }
}

static cv_status layer_forward(const cv_model *m, const cv_kernels *k, int l, cv_call *calls, int nc, work_t *w,
                               int nth)
{
    const layer_t *L = &m->layers[l];
    const int M = w->M, H = m->hp.hidden;
    const float eps = m->hp.ln_eps;
    cv_status s = CV_OK;
    layernorm_rows(k, w->a, w->h, L->ln_in_w, L->ln_in_b, M, H, eps, nth);
    linear(k, &L->qkv, L->qkv_b, w, w->a, w->qkv, nth);
    if (w->any_plus)
        linear(k, &L->pqkv, L->pqkv_b, w, w->a, w->pqkv, nth);
    if ((s = attend_calls(m, l, calls, nc, w, nth)))
        return s;
    linear(k, &L->dense, L->dense_b, w, w->ctx0, w->o0, nth);
    if (w->any_plus) {
        linear(k, &L->pdense, L->pdense_b, w, w->ctx1, w->o1, nth);
        mix_channels(m, L, calls, nc, w);
    }
    layernorm_rows(k, w->o0, w->o0, L->ln3_w, L->ln3_b, M, H, eps, nth);
    rows_add(k, w->h, w->o0, M, (size_t)H, w->per_row);
    layernorm_rows(k, w->a, w->h, L->ln_post_w, L->ln_post_b, M, H, eps, nth);
    linear(k, &L->fc1, L->fc1_b, w, w->a, w->ff, nth);
    rows_gelu(k, w->ff, M, 4 * (size_t)H, w->per_row);
    linear(k, &L->fc2, L->fc2_b, w, w->ff, w->o0, nth);
    layernorm_rows(k, w->o0, w->o0, L->ln4_w, L->ln4_b, M, H, eps, nth);
    rows_add(k, w->h, w->o0, M, (size_t)H, w->per_row);
    return CV_OK;
}

/* Copies rows of the batch back to the calls' outputs: layers (l >= 0) or
 * the final hidden states (l < 0). */
static void scatter_rows(const cv_model *m, cv_call *calls, int nc, const float *x, int l)
{
    const size_t H = (size_t)m->hp.hidden;
    for (int ci = 0, row0 = 0; ci < nc; row0 += calls[ci].n, ci++) {
        const cv_call *c = &calls[ci];
        float *dst = l < 0 ? c->hidden : c->layers ? c->layers + (size_t)l * (size_t)c->n * H : NULL;
        if (dst)
            memcpy(dst, x + (size_t)row0 * H, (size_t)c->n * H * sizeof *dst);
    }
}

/* The states after a pass: a call's tokens appended.  The attention-plus
 * cache was written for every call if any call used that channel; batch
 * invariant, a call with enforce_no_swin loses it as it would alone. */
static void advance_states(cv_call *calls, int nc, bool any_plus, bool invariant)
{
    for (int i = 0; i < nc; i++) {
        cv_call *c = &calls[i];
        if (c->st->len == 0)
            c->st->text_len = c->text_len;
        c->st->len += c->n;
        if (!any_plus || (invariant && c->enforce_no_swin))
            c->st->plus_valid = false;
    }
}

cv_status cv_model_forward_opts(const cv_model *m, cv_call *calls, int ncalls, const cv_forward_opts *o,
                                cv_error *err)
{
    const cv_kernels *k = cv_kernels_get();
    const int H = m->hp.hidden, nthreads = o->nthreads;
    int M = 0;
    bool any_plus = false;
    cv_status s;
    for (int i = 0; i < ncalls; i++) {
        if ((s = check_call(m, &calls[i], i, err)))
            return s;
        for (int j = 0; j < i; j++)
            if (calls[j].st == calls[i].st)
                return cv_error_set(err, CV_ERR_ARG, "forward calls %d and %d share a state", j, i);
        M += calls[i].n;
        any_plus |= !calls[i].enforce_no_swin;
    }
    work_t w;
    if ((s = work_alloc(&w, M, H, err)))
        return s;
    w.any_plus = any_plus;
    w.per_row = o->batch_invariant;
    w.nspans = plan_spans(calls, ncalls, M, o->batch_invariant, w.spans);
    for (int ci = 0, row0 = 0; ci < ncalls; row0 += calls[ci].n, ci++)
        embed(m, k, &calls[ci], w.h + (size_t)row0 * (size_t)H, w.a);
    for (int l = 0; l < m->hp.n_layers && !s; l++) {
        s = layer_forward(m, k, l, calls, ncalls, &w, nthreads);
        scatter_rows(m, calls, ncalls, w.h, l);
    }
    if (!s) {
        layernorm_rows(k, w.a, w.h, m->lnf_w, m->lnf_b, M, H, m->hp.ln_eps, nthreads);
        scatter_rows(m, calls, ncalls, w.a, -1);
        advance_states(calls, ncalls, any_plus, o->batch_invariant);
    } else {
        s = cv_error_set(err, s, "out of memory for attention scratch");
    }
    work_free(&w);
    return s;
}

cv_status cv_model_forward(const cv_model *m, cv_call *calls, int ncalls, int nthreads, cv_error *err)
{
    const cv_forward_opts o = {nthreads, false};
    return cv_model_forward_opts(m, calls, ncalls, &o, err);
}

void cv_model_logits_opts(const cv_model *m, const float *hidden, int rows, float *logits,
                          const cv_forward_opts *o)
{
    const cv_kernels *k = cv_kernels_get();
    const weight_t *E = &m->word;
    const size_t n = (size_t)m->hp.image_tokens, H = (size_t)m->hp.hidden;
    if (o->batch_invariant) { /* gemms, whose rows never depend on each other */
        for (int r0 = 0; r0 < rows; r0 += CV_LINEAR_SMALL_M) {
            const size_t g = (size_t)(rows - r0 < CV_LINEAR_SMALL_M ? rows - r0 : CV_LINEAR_SMALL_M);
            cv_gemm_kernels(k, E->type, g, n, H, hidden + (size_t)r0 * H, H, E->data, logits + (size_t)r0 * n, n,
                            o->nthreads);
        }
    } else if (rows == 1) {
        cv_gemv(k, E->type, n, H, E->data, hidden, logits, o->nthreads);
    } else {
        cv_gemm(k, E->type, (size_t)rows, n, H, hidden, H, E->data, logits, n, o->nthreads);
    }
}

void cv_model_logits(const cv_model *m, const float *hidden, int rows, float *logits, int nthreads)
{
    const cv_forward_opts o = {nthreads, false};
    cv_model_logits_opts(m, hidden, rows, logits, &o);
}

void cv_logits_stats(const float *logits, int rows, int n, int64_t *argmax, float *max, float *lse)
{
    for (int r = 0; r < rows; r++) {
        const float *x = logits + (size_t)r * (size_t)n;
        int best = 0;
        for (int i = 1; i < n; i++)
            if (x[i] > x[best])
                best = i;
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += exp((double)x[i] - (double)x[best]);
        argmax[r] = best;
        max[r] = x[best];
        lse[r] = (float)((double)x[best] + log(sum));
    }
}

/* ------------------------------------------------------------ random weights */

/* splitmix64: a counter-based generator, so every chunk of every tensor has
 * its own stream and the weights do not depend on the thread count. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

enum { RND_CHUNK = 1024 }; /* elements per generator stream; a multiple of 32 */

/* Uniform in [-a, a), RND_CHUNK elements at a time, stored as type t. */
static void fill_random(weight_t *w, uint64_t seed, float a, int nthreads)
{
    const size_t n = (size_t)w->rows * (size_t)w->cols, nchunks = (n + RND_CHUNK - 1) / RND_CHUNK;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads > 0 ? nthreads : omp_get_max_threads())
#endif
    for (size_t c = 0; c < nchunks; c++) {
        float x[RND_CHUNK];
        const size_t off = c * RND_CHUNK, len = n - off < RND_CHUNK ? n - off : RND_CHUNK;
        uint64_t st = mix64(seed ^ mix64(c));
        for (size_t i = 0; i < len; i++) {
            st = mix64(st);
            x[i] = a * ((float)(st >> 40) * (2.0f / 16777216.0f) - 1.0f);
        }
        char *dst = (char *)(uintptr_t)w->data + cv_rows_nbytes(w->type, 1, off);
        if (w->type == CV_TYPE_F32)
            memcpy(dst, x, len * sizeof *x);
        else if (w->type == CV_TYPE_Q8_0)
            cv_quantize_q8_0_row(x, (cv_block_q8_0 *)(void *)dst, len);
        else
            for (size_t i = 0; i < len; i++) {
                uint16_t h = w->type == CV_TYPE_F16 ? cv_f32_to_f16(x[i]) : cv_f32_to_bf16(x[i]);
                memcpy(dst + 2 * i, &h, 2);
            }
    }
}

static weight_t *random_matrices(cv_model *m, int l, weight_t **all)
{
    layer_t *L = &m->layers[l];
    all[0] = &L->qkv, all[1] = &L->dense, all[2] = &L->fc1, all[3] = &L->fc2, all[4] = &L->pqkv,
    all[5] = &L->pdense;
    return all[0];
}

static cv_status random_alloc(cv_model *m, cv_type t, cv_error *err)
{
    const int H = m->hp.hidden;
    const int shapes[6][2] = {{3 * H, H}, {H, H}, {4 * H, H}, {H, 4 * H}, {3 * H, H}, {H, H}};
    weight_t *mats[6];
    size_t total = 0;
    m->word = (weight_t){t, NULL, m->hp.vocab, H};
    m->pos = (weight_t){t, NULL, m->hp.pos_rows, H};
    m->extra = (weight_t){t, NULL, m->hp.extra_rows, H};
    total += cv_rows_nbytes(t, (size_t)m->hp.vocab + (size_t)m->hp.pos_rows + (size_t)m->hp.extra_rows, (size_t)H);
    for (int l = 0; l < m->hp.n_layers; l++) {
        random_matrices(m, l, mats);
        for (int i = 0; i < 6; i++) {
            *mats[i] = (weight_t){t, NULL, shapes[i][0], shapes[i][1]};
            total += cv_rows_nbytes(t, (size_t)shapes[i][0], (size_t)shapes[i][1]);
        }
    }
    m->owned = total ? cv_alloc_big(total) : NULL;
    m->owned_bytes = total;
    m->owned_vecs = malloc(8 * (size_t)H * sizeof(float));
    if ((total && !m->owned) || !m->owned_vecs)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory for %.2f GB of random weights", (double)total / 1e9);
    char *p = m->owned;
    weight_t *glob[3] = {&m->word, &m->pos, &m->extra};
    for (int i = 0; i < 3; i++) {
        glob[i]->data = p;
        p += cv_rows_nbytes(t, (size_t)glob[i]->rows, (size_t)H);
    }
    for (int l = 0; l < m->hp.n_layers; l++) {
        random_matrices(m, l, mats);
        for (int i = 0; i < 6; i++) {
            mats[i]->data = p;
            p += cv_rows_nbytes(t, (size_t)mats[i]->rows, (size_t)mats[i]->cols);
        }
    }
    return CV_OK;
}

cv_status cv_model_new_random(const cv_hparams *hp_in, cv_type t, uint64_t seed, int nthreads, cv_model **out,
                              cv_error *err)
{
    *out = NULL;
    cv_model *m = calloc(1, sizeof *m);
    if (!m)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    m->hp = *hp_in;
    m->hp.head_dim = m->hp.hidden / m->hp.heads;
    m->hp.frame_len = m->hp.frame_h * m->hp.frame_w;
    m->hp.matrix_type = t;
    const int H = m->hp.hidden;
    cv_status s = CV_OK;
    if (H % m->hp.heads || (t == CV_TYPE_Q8_0 && H % 32))
        s = cv_error_set(err, CV_ERR_ARG, "random model: hidden %d (expected a multiple of the heads%s)", H,
                         t == CV_TYPE_Q8_0 ? " and of 32 for q8_0" : "");
    else if (!(m->layers = calloc((size_t)m->hp.n_layers, sizeof *m->layers)))
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (!s)
        s = random_alloc(m, t, err);
    for (int l = 0; !s && l < m->hp.n_layers; l++)
        if (!(m->layers[l].gate = malloc((size_t)H * sizeof(float))))
            s = cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    if (s) {
        cv_model_free(m);
        return s;
    }
    float *ones = m->owned_vecs, *zeros = m->owned_vecs + 4 * H;
    for (int i = 0; i < 4 * H; i++)
        ones[i] = 1.0f, zeros[i] = 0.0f;
    m->lnf_w = ones, m->lnf_b = zeros;
    uint64_t k = mix64(seed);
    fill_random(&m->word, k++, 0.5f, nthreads);
    fill_random(&m->pos, k++, 0.5f, nthreads);
    fill_random(&m->extra, k++, 0.5f, nthreads);
    for (int l = 0; l < m->hp.n_layers; l++) {
        layer_t *L = &m->layers[l];
        weight_t *mats[6];
        random_matrices(m, l, mats);
        for (int i = 0; i < 6; i++)
            fill_random(mats[i], k++, 1.7f / sqrtf((float)mats[i]->cols), nthreads);
        L->ln_in_w = L->ln3_w = L->ln4_w = L->ln_post_w = ones;
        L->ln_in_b = L->ln3_b = L->ln4_b = L->ln_post_b = zeros;
        L->qkv_b = L->dense_b = L->fc1_b = L->fc2_b = L->pqkv_b = L->pdense_b = zeros;
        for (int i = 0; i < H; i++)
            L->gate[i] = 0.5f;
    }
    *out = m;
    return CV_OK;
}
