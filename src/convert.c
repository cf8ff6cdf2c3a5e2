/* convert.c — SAT checkpoint folder -> GGUF (see convert.h). */
#include "convert.h"

#include "mapfile.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "npy.h"
#include "pipeline_config.h"
#include "ptload.h"

typedef struct {
    int64_t num_layers, hidden, heads, vocab, max_seq, add_seq, window, stage;
    int64_t layout[8];
    size_t n_layout;
} sat_config;

/* ------------------------------------------------------------ q8_0 */

void cv_quantize_q8_0_row(const float *x, cv_block_q8_0 *out, size_t n)
{
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = cv_f32_to_f16(d);
        for (int j = 0; j < 32; j++)
            out[b].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

int cv_convert_parse_type(const char *s)
{
    if (strcmp(s, "f32") == 0) return CV_TYPE_F32;
    if (strcmp(s, "f16") == 0) return CV_TYPE_F16;
    if (strcmp(s, "bf16") == 0) return CV_TYPE_BF16;
    if (strcmp(s, "q8_0") == 0) return CV_TYPE_Q8_0;
    return -1;
}

void cv_convert_opts_default(cv_convert_opts *o)
{
    memset(o, 0, sizeof *o);
    o->type = -1;
    o->boi = -1;
    o->n_token = -1;
    o->image_tokens = -1;
    o->frame_height = 20;
    o->frame_width = 20;
    o->max_text_len = 74;
    o->frame_pos_offset = 512;
    o->extra_pos_offset = -1;
}

/* The sequence-layout options, checked before anything is read so that a
 * bad flag never depends on the folder.  Their relation to the position
 * tables (max_sequence_length) is the model loader's to check: the tiny
 * fixtures have 16-row tables.  *extra gets the effective extra offset. */
static cv_status check_layout_opts(const cv_convert_opts *o, int64_t *extra, cv_error *err)
{
    const int64_t h = o->frame_height, w = o->frame_width;
    if (h < 1 || w < 1 || h > INT32_MAX || w > INT32_MAX || h * w > INT32_MAX)
        return cv_error_set(err, CV_ERR_ARG, "--frame-grid: %lldx%lld (expected HxW with H, W >= 1 and H*W < 2^31)",
                            (long long)h, (long long)w);
    if (o->max_text_len < 1 || o->max_text_len > INT32_MAX)
        return cv_error_set(err, CV_ERR_ARG, "--max-text-len: %lld (expected 1 .. %d)", (long long)o->max_text_len,
                            INT32_MAX);
    if (o->frame_pos_offset < 0 || o->frame_pos_offset > INT32_MAX)
        return cv_error_set(err, CV_ERR_ARG, "--frame-pos-offset: %lld (expected 0 .. %d)",
                            (long long)o->frame_pos_offset, INT32_MAX);
    /* the original: frame 0 fills rows 512..911 of the base table, and
     * position 912 is row 0 of the extra table */
    *extra = o->extra_pos_offset != -1 ? o->extra_pos_offset : o->frame_pos_offset + h * w;
    if (*extra < 0 || *extra > INT32_MAX)
        return cv_error_set(err, CV_ERR_ARG, "--extra-pos-offset: %lld (expected 0 .. %d)", (long long)*extra,
                            INT32_MAX);
    return CV_OK;
}

/* --attention-plus / --local3d-kernel, checked before the folder is read.
 * The kernel's bound is the model loader's (cogvideo.local3d_kernel). */
static cv_status check_plus_opts(const cv_convert_opts *o, cv_error *err)
{
    const char *a = o->attention_plus;
    const bool local3d = a && !strcmp(a, "local3d");
    const long long k = (long long)o->local3d_kernel;
    if (a && !local3d && strcmp(a, "full") && strcmp(a, "swin"))
        return cv_error_set(err, CV_ERR_ARG, "--attention-plus: '%s' is not one of full, swin, local3d", a);
    if (!local3d && k != 0)
        return cv_error_set(err, CV_ERR_ARG, "--local3d-kernel: %lld given without --attention-plus local3d", k);
    if (local3d && k == 0)
        return cv_error_set(err, CV_ERR_ARG, "--local3d-kernel: required with --attention-plus local3d "
                                             "(expected an odd K in 1 .. 4095)");
    if (local3d && (k < 1 || k > 4095 || k % 2 == 0))
        return cv_error_set(err, CV_ERR_ARG, "--local3d-kernel: %lld (expected an odd K in 1 .. 4095)", k);
    return CV_OK;
}

/* The attention-plus kind the model gets: the flag's, else the release's
 * (stage 1 FullAttentionMixin, stage 2 WindowAttentionMixin). */
static cv_status plus_kind(const sat_config *c, const cv_convert_opts *o, const char *dir, const char **kind,
                           cv_error *err)
{
    *kind = o->attention_plus ? o->attention_plus : c->stage == 2 ? "swin" : "full";
    if (!strcmp(*kind, "swin") && c->window <= 0)
        return cv_error_set(err, CV_ERR_ARG,
                            "--attention-plus swin: %s/model_config.json has 'window_size' %lld (expected > 0)", dir,
                            (long long)c->window);
    return CV_OK;
}

/* ------------------------------------------------------------ config */

static cv_status get_int(json_t *root, const char *path, const char *key, int64_t lo, int64_t *v, cv_error *err)
{
    json_t *j = json_object_get(root, key);
    if (!j)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing key '%s'", path, key);
    if (!json_is_integer(j))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: '%s' is not an integer", path, key);
    *v = (int64_t)json_integer_value(j);
    if (*v < lo || *v > INT32_MAX)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: '%s' is %lld (expected %lld .. %d)", path, key,
                            (long long)*v, (long long)lo, INT32_MAX);
    return CV_OK;
}

static cv_status check_config(json_t *root, const char *path, sat_config *c, cv_error *err)
{
    cv_status s;
    int64_t mp;
    if ((s = get_int(root, path, "num_layers", 1, &c->num_layers, err)) ||
        (s = get_int(root, path, "hidden_size", 1, &c->hidden, err)) ||
        (s = get_int(root, path, "num_attention_heads", 1, &c->heads, err)) ||
        (s = get_int(root, path, "vocab_size", 1, &c->vocab, err)) ||
        (s = get_int(root, path, "max_sequence_length", 1, &c->max_seq, err)) ||
        (s = get_int(root, path, "additional_seqlen", 1, &c->add_seq, err)) ||
        (s = get_int(root, path, "window_size", -1, &c->window, err)) ||
        (s = get_int(root, path, "cogvideo_stage", 1, &c->stage, err)) ||
        (s = get_int(root, path, "model_parallel_size", 1, &mp, err)))
        return s;
    if (c->hidden % c->heads)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: 'hidden_size' is %lld, not a multiple of num_attention_heads %lld",
                            path, (long long)c->hidden, (long long)c->heads);
    if (mp != 1)
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: 'model_parallel_size' is %lld (expected 1)", path, (long long)mp);
    if (c->stage > 2)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: 'cogvideo_stage' is %lld (expected 1 or 2)", path, (long long)c->stage);
    if (c->stage == 2 && c->window <= 0)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: 'window_size' is %lld (expected > 0 for stage 2)", path,
                            (long long)c->window);
    json_t *ln = json_object_get(root, "layernorm_order");
    if (!json_is_string(ln) || strcmp(json_string_value(ln), "sandwich") != 0)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: 'layernorm_order' is missing or not \"sandwich\"", path);
    json_t *lay = json_object_get(root, "layout");
    if (!json_is_array(lay) || json_array_size(lay) == 0 || json_array_size(lay) > 8)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: 'layout' is missing or not an array of 1..8 integers", path);
    c->n_layout = json_array_size(lay);
    for (size_t i = 0; i < c->n_layout; i++) {
        json_t *e = json_array_get(lay, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: 'layout'[%zu] is not an integer >= 0", path, i);
        c->layout[i] = (int64_t)json_integer_value(e);
    }
    return CV_OK;
}

static cv_status read_config(const char *dir, sat_config *c, cv_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model_config.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %s (line %d)", path, je.text, je.line);
    cv_status s = json_is_object(root) ? check_config(root, path, c, err)
                                       : cv_error_set(err, CV_ERR_FORMAT, "%s: not a JSON object", path);
    json_decref(root);
    return s;
}

/* <dir>/latest holds the iteration as text; the .pt path goes into pt_path. */
static cv_status read_latest(const char *dir, char *pt_path, size_t cap, cv_error *err)
{
    char path[4096], buf[64] = {0};
    snprintf(path, sizeof path, "%s/latest", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cv_error_set(err, CV_ERR_IO, "%s: cannot open", path);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = 0;
    if (n == 0 || strspn(buf, "0123456789") != n)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: expected an iteration number", path);
    snprintf(pt_path, cap, "%s/%s/mp_rank_00_model_states.pt", dir, buf);
    return CV_OK;
}

/* ------------------------------------------------------------ expected tensors */

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
} expect_t;

static void add_exp(expect_t *e, size_t *n, const char *name, int ndim, int64_t a, int64_t b)
{
    snprintf(e[*n].name, sizeof e[*n].name, "%s", name);
    e[*n].ndim = ndim;
    e[*n].shape[0] = a;
    e[*n].shape[1] = b;
    (*n)++;
}

static void add_linear(expect_t *e, size_t *n, const char *base, int64_t out, int64_t in)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.weight", base);
    add_exp(e, n, nm, 2, out, in);
    snprintf(nm, sizeof nm, "%s.bias", base);
    add_exp(e, n, nm, 1, out, 0);
}

static const char *const LAYER_LN[] = {"input_layernorm", "third_layernorm", "fourth_layernorm",
                                       "post_attention_layernorm"};

static size_t build_expected(const sat_config *c, expect_t *e)
{
    size_t n = 0;
    const int64_t H = c->hidden;
    char nm[96];
    add_exp(e, &n, "transformer.word_embeddings.weight", 2, c->vocab, H);
    add_exp(e, &n, "transformer.position_embeddings.weight", 2, c->max_seq, H);
    for (int64_t l = 0; l < c->num_layers; l++) {
        for (size_t k = 0; k < 4; k++) {
            snprintf(nm, sizeof nm, "transformer.layers.%lld.%s", (long long)l, LAYER_LN[k]);
            add_linear(e, &n, nm, H, 0);
            e[n - 2].ndim = 1; /* LayerNorm weight is [H] */
        }
        snprintf(nm, sizeof nm, "transformer.layers.%lld.attention.query_key_value", (long long)l);
        add_linear(e, &n, nm, 3 * H, H);
        snprintf(nm, sizeof nm, "transformer.layers.%lld.attention.dense", (long long)l);
        add_linear(e, &n, nm, H, H);
        snprintf(nm, sizeof nm, "transformer.layers.%lld.mlp.dense_h_to_4h", (long long)l);
        add_linear(e, &n, nm, 4 * H, H);
        snprintf(nm, sizeof nm, "transformer.layers.%lld.mlp.dense_4h_to_h", (long long)l);
        add_linear(e, &n, nm, H, 4 * H);
    }
    add_linear(e, &n, "transformer.final_layernorm", H, 0);
    e[n - 2].ndim = 1;
    add_exp(e, &n, "mixins.extra_position_embedding.position_embeddings.weight", 2, c->add_seq, H);
    for (int64_t l = 0; l < c->num_layers; l++) {
        snprintf(nm, sizeof nm, "mixins.attention_plus.query_key_value.%lld", (long long)l);
        add_linear(e, &n, nm, 3 * H, H);
        snprintf(nm, sizeof nm, "mixins.attention_plus.dense.%lld", (long long)l);
        add_linear(e, &n, nm, H, H);
        snprintf(nm, sizeof nm, "mixins.attention_plus.attn_distribution.%lld", (long long)l);
        add_exp(e, &n, nm, 1, H, 0);
    }
    return n;
}

/* "(a, b)" as PyTorch prints a shape; "()" for a scalar. */
static void shape_str(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, ")");
}

static cv_status check_tensors(const cv_pt *pt, const char *pt_path, const expect_t *e, size_t n, cv_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const cv_pt_tensor *t = cv_pt_find(pt, e[i].name);
        if (!t)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: missing tensor '%s'", pt_path, e[i].name);
        bool ok = t->ndim == e[i].ndim && t->shape[0] == e[i].shape[0] && (e[i].ndim == 1 || t->shape[1] == e[i].shape[1]);
        if (!ok) {
            char found[256], want[64];
            shape_str(t->shape, t->ndim, found, sizeof found);
            shape_str(e[i].shape, e[i].ndim, want, sizeof want);
            return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%s' has shape %s (expected %s)", pt_path, e[i].name,
                                found, want);
        }
        if (t->dtype != CV_PT_F32 && t->dtype != CV_PT_F16 && t->dtype != CV_PT_BF16)
            return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (expected f32, f16 or bf16)",
                                pt_path, e[i].name, cv_pt_dtype_name(t->dtype));
    }
    if (cv_pt_count(pt) != n) {
        for (size_t j = 0; j < cv_pt_count(pt); j++) {
            const char *nm = cv_pt_at(pt, j)->name;
            bool known = false;
            for (size_t i = 0; i < n && !known; i++)
                known = strcmp(nm, e[i].name) == 0;
            if (!known)
                return cv_error_set(err, CV_ERR_FORMAT, "%s: unknown tensor '%s'", pt_path, nm);
        }
    }
    return CV_OK;
}

/* ------------------------------------------------------------ writing */

static uint32_t pt_as_cv(cv_pt_dtype d)
{
    return d == CV_PT_F16 ? CV_TYPE_F16 : d == CV_PT_BF16 ? CV_TYPE_BF16 : CV_TYPE_F32;
}

/* 1-D tensors stay f32; matrices get opts->type (q8_0 only when rows are
 * whole blocks, else f32) or keep the checkpoint's dtype. */
static uint32_t out_type(const cv_pt_tensor *t, int want)
{
    if (t->ndim != 2)
        return CV_TYPE_F32;
    if (want < 0)
        return pt_as_cv(t->dtype);
    if (want == CV_TYPE_Q8_0 && t->shape[1] % 32 != 0)
        return CV_TYPE_F32;
    return (uint32_t)want;
}

enum { CHUNK = 8192 }; /* elements per conversion step: a multiple of 32 */
#define DROP_EVERY ((size_t)32 << 20) /* elements read between cv_map_drop calls */

static void load_f32(const cv_pt_tensor *t, size_t off, size_t n, float *dst)
{
    const unsigned char *src = (const unsigned char *)t->data;
    for (size_t i = 0; i < n; i++) {
        if (t->dtype == CV_PT_F32) {
            memcpy(&dst[i], src + 4 * (off + i), 4);
        } else {
            uint16_t h;
            memcpy(&h, src + 2 * (off + i), 2);
            dst[i] = t->dtype == CV_PT_F16 ? cv_f16_to_f32(h) : cv_bf16_to_f32(h);
        }
    }
}

cv_status cv_convert_copy_mapped(cv_gguf_writer *w, const void *data, size_t nbytes, cv_error *err)
{
    const size_t step = (size_t)64 << 20; /* dropped behind us: resident input stays small */
    for (size_t off = 0; off < nbytes; off += step) {
        const size_t len = nbytes - off < step ? nbytes - off : step;
        cv_status s = cv_gguf_writer_write_data(w, (const char *)data + off, len, err);
        cv_map_drop((const char *)data + off, len);
        if (s)
            return s;
    }
    return CV_OK;
}

static cv_status stream_tensor(cv_gguf_writer *w, const cv_pt_tensor *t, uint32_t type, float *fbuf,
                               unsigned char *obuf, cv_error *err)
{
    if (type == pt_as_cv(t->dtype)) /* same representation: copy the bytes as they are */
        return cv_convert_copy_mapped(w, t->data, t->nbytes, err);
    const size_t n = (size_t)t->numel, es = t->dtype == CV_PT_F32 ? 4 : 2;
    size_t dropped = 0;
    for (size_t off = 0; off < n; off += CHUNK) {
        const size_t m = n - off < CHUNK ? n - off : CHUNK;
        size_t bytes;
        load_f32(t, off, m, fbuf);
        if (type == CV_TYPE_Q8_0) {
            cv_quantize_q8_0_row(fbuf, (cv_block_q8_0 *)(void *)obuf, m);
            bytes = m / 32 * sizeof(cv_block_q8_0);
        } else if (type == CV_TYPE_F32) {
            memcpy(obuf, fbuf, m * 4);
            bytes = m * 4;
        } else {
            for (size_t i = 0; i < m; i++) {
                uint16_t h = type == CV_TYPE_F16 ? cv_f32_to_f16(fbuf[i]) : cv_f32_to_bf16(fbuf[i]);
                memcpy(obuf + 2 * i, &h, 2);
            }
            bytes = m * 2;
        }
        cv_status s = cv_gguf_writer_write_data(w, obuf, bytes, err);
        if (s)
            return s;
        if (off + m - dropped >= DROP_EVERY || off + m == n) { /* give back what was read */
            cv_map_drop((const char *)t->data + es * dropped, es * (off + m - dropped));
            dropped = off + m;
        }
    }
    return CV_OK;
}

static const char *base_name(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/')
        b--;
    static const char dot[] = ".";
    return b == n ? dot : dir + b;
}

/* Stage-2 time slots: model-frame F sits at time slot TIME_SLOTS[F] (frames 0..2
 * are the given parents at slots 0, 2, 4; frames 3, 4 the generated 1, 3),
 * position ids 512 + 400 * slot + j (golden/README "Pipeline sequence
 * layout", the original's stage-2 position_ids). */
static const uint32_t TIME_SLOTS[5] = {0, 2, 4, 1, 3};

static cv_status write_layout_meta(cv_gguf_writer *w, const sat_config *c, const cv_convert_opts *o, cv_error *err)
{
    int64_t extra;
    cv_status s; /* cv_convert checked the options already: this only computes extra */
    if ((s = check_layout_opts(o, &extra, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_FRAME_H, (uint32_t)o->frame_height, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_FRAME_W, (uint32_t)o->frame_width, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_MAX_TEXT, (uint32_t)o->max_text_len, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_FRAME_POS, (uint32_t)o->frame_pos_offset, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_EXTRA_POS, (uint32_t)extra, err)) ||
        /* 0 unless --attention-plus local3d (check_plus_opts) */
        (s = cv_gguf_writer_set_u32(w, CV_KEY_LOCAL3D_K, (uint32_t)o->local3d_kernel, err)))
        return s;
    if (c->stage == 2)
        return cv_gguf_writer_set_array(w, CV_KEY_TIME_SLOTS, CV_GGUF_UINT32, TIME_SLOTS, 5, err);
    return CV_OK;
}

/* ------------------------------------------------------------ pipeline, clusters */

static int64_t image_tokens(const cv_convert_opts *o)
{
    return o->image_tokens >= 0 ? o->image_tokens : 20000;
}

/* What goes into the model besides the checkpoint: the pipeline settings
 * and the optional cluster labels, read before the output is created so a
 * bad file leaves nothing behind. */
typedef struct {
    cv_pipeline_config pipe;
    int32_t *labels; /* NULL without --clusters; else image_tokens of them */
    int n_clusters;
} extras_t;

static cv_status check_labels_shape(const cv_npy *a, const char *path, int64_t n, cv_error *err)
{
    if (a->dtype != CV_DT_I64 && a->dtype != CV_DT_I32)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: dtype '%s' (expected int64 or int32 cluster labels)", path,
                            cv_dtype_descr(a->dtype));
    if (a->ndim != 1)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %d-D array (expected a 1-D array of image_tokens = %lld labels)",
                            path, a->ndim, (long long)n);
    if (a->shape[0] != n)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %lld labels (expected image_tokens = %lld labels)", path,
                            (long long)a->shape[0], (long long)n);
    return CV_OK;
}

/* The n labels of a checked .npy, each in [0, n): a larger label would
 * promise more clusters than tokens. */
static cv_status labels_from(const cv_npy *a, const char *path, int64_t n, int32_t *l, int *n_clusters,
                             cv_error *err)
{
    int32_t max = -1;
    for (int64_t t = 0; t < n; t++) {
        int64_t v;
        if (a->dtype == CV_DT_I64)
            memcpy(&v, (const int64_t *)a->data + t, sizeof v);
        else
            v = ((const int32_t *)a->data)[t];
        if (v < 0 || v >= n)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: label %lld of token %lld %s", path, (long long)v, (long long)t,
                                v < 0 ? "is negative (expected labels >= 0)" : "is too large (expected < image_tokens)");
        l[t] = (int32_t)v;
        max = l[t] > max ? l[t] : max;
    }
    *n_clusters = max + 1;
    return CV_OK;
}

/* The sampler keeps top_k clusters: a model with fewer could not sample. */
static cv_status check_top_k(const extras_t *x, const char *path, cv_error *err)
{
    const int k = x->pipe.first.top_k > x->pipe.video.top_k ? x->pipe.first.top_k : x->pipe.video.top_k;
    if (x->n_clusters < k)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %d clusters (expected at least the sampler's top_k, %d)", path,
                            x->n_clusters, k);
    return CV_OK;
}

static cv_status load_labels(const char *path, int64_t n, extras_t *x, cv_error *err)
{
    cv_npy a;
    cv_status s = cv_npy_load(path, &a, err);
    if (s)
        return s;
    if ((s = check_labels_shape(&a, path, n, err))) {
        cv_npy_free(&a);
        return s;
    }
    x->labels = malloc((a.count ? a.count : 1) * sizeof *x->labels);
    if (!x->labels)
        s = cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for %lld labels", path, (long long)n);
    if (!s)
        s = labels_from(&a, path, n, x->labels, &x->n_clusters, err);
    if (!s)
        s = check_top_k(x, path, err);
    cv_npy_free(&a);
    return s;
}

static cv_status load_extras(const sat_config *c, const cv_convert_opts *o, extras_t *x, cv_error *err)
{
    memset(x, 0, sizeof *x);
    cv_pipeline_config_default(&x->pipe, (int)c->stage);
    cv_status s = CV_OK;
    if (o->pipeline_json)
        s = cv_pipeline_config_load_json(&x->pipe, o->pipeline_json, err);
    if (!s && o->clusters_npy)
        s = load_labels(o->clusters_npy, image_tokens(o), x, err);
    return s;
}

static cv_status write_extras(cv_gguf_writer *w, const extras_t *x, const cv_convert_opts *o, cv_error *err)
{
    cv_status s = cv_pipeline_config_write(&x->pipe, w, err);
    if (!s && x->labels)
        s = cv_cluster_labels_write(w, x->labels, (int)image_tokens(o), x->n_clusters, err);
    return s;
}

static cv_status write_meta(cv_gguf_writer *w, const sat_config *c, const cv_convert_opts *o, const char *dir,
                            const char *plus, cv_error *err)
{
    const int64_t img = image_tokens(o);
    const int64_t boi = o->boi >= 0 ? o->boi : c->vocab - 10;
    const int64_t ntok = o->n_token >= 0 ? o->n_token : img + 4;
    if (img > c->vocab || boi >= c->vocab || ntok >= c->vocab || boi < 0)
        return cv_error_set(err, CV_ERR_ARG, "%s: token ids out of range: image_tokens %lld, boi %lld, n_token %lld (expected below vocab_size %lld; see --image-tokens, --boi, --n-token)",
                            dir, (long long)img, (long long)boi, (long long)ntok, (long long)c->vocab);
    char name[256];
    const char *b = base_name(dir);
    size_t bl = strcspn(b, "/");
    snprintf(name, sizeof name, "%.*s", (int)(bl < 255 ? bl : 255), b);
    uint32_t lay[8];
    for (size_t i = 0; i < c->n_layout; i++)
        lay[i] = (uint32_t)c->layout[i];
    cv_status s;
    if ((s = cv_gguf_writer_set_str(w, CV_KEY_ARCH, "cogvideo", err)) ||
        (s = cv_gguf_writer_set_str(w, CV_KEY_NAME, name, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_STAGE, (uint32_t)c->stage, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_NUM_LAYERS, (uint32_t)c->num_layers, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_HIDDEN, (uint32_t)c->hidden, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_HEADS, (uint32_t)c->heads, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_VOCAB, (uint32_t)c->vocab, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_MAX_SEQ, (uint32_t)c->max_seq, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_ADD_SEQ, (uint32_t)c->add_seq, err)) ||
        (s = cv_gguf_writer_set_array(w, CV_KEY_LAYOUT, CV_GGUF_UINT32, lay, c->n_layout, err)) ||
        (s = cv_gguf_writer_set_i32(w, CV_KEY_WINDOW, (int32_t)c->window, err)) ||
        /* the release shifts odd layers' windows by window/2; no shift without swin */
        (s = cv_gguf_writer_set_i32(w, CV_KEY_SWIN_SHIFT, !strcmp(plus, "swin") ? (int32_t)(c->window / 2) : 0,
                                    err)) ||
        (s = cv_gguf_writer_set_str(w, CV_KEY_ATTN_PLUS, plus, err)) ||
        (s = cv_gguf_writer_set_f32(w, CV_KEY_LN_EPS, 1e-5f, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_IMAGE_TOKENS, (uint32_t)img, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_BOI, (uint32_t)boi, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_KEY_N_TOKEN, (uint32_t)ntok, err)))
        return s;
    return write_layout_meta(w, c, o, err);
}

static cv_status write_all(cv_gguf_writer *w, const cv_pt *pt, const expect_t *e, size_t n, const cv_convert_opts *o,
                           cv_error *err)
{
    cv_status s;
    for (size_t i = 0; i < n; i++) {
        const cv_pt_tensor *t = cv_pt_find(pt, e[i].name);
        if ((s = cv_gguf_writer_add_tensor(w, t->name, out_type(t, o->type), t->ndim, t->shape, NULL, err)))
            return s;
    }
    if ((s = cv_gguf_writer_begin(w, err)))
        return s;
    float *fbuf = malloc(CHUNK * sizeof(float));
    unsigned char *obuf = malloc(CHUNK * sizeof(float));
    if (!fbuf || !obuf) {
        free(fbuf);
        free(obuf);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    }
    uint64_t bytes = 0;
    s = CV_OK;
    for (size_t i = 0; i < n && !s; i++) {
        const cv_pt_tensor *t = cv_pt_find(pt, e[i].name);
        s = stream_tensor(w, t, out_type(t, o->type), fbuf, obuf, err);
        bytes += t->nbytes;
        if (!s && o->progress)
            o->progress(o->progress_ctx, i + 1, n, bytes);
    }
    free(fbuf);
    free(obuf);
    return s ? s : cv_gguf_writer_finish(w, err);
}

cv_status cv_convert(const char *sat_dir, const char *out_path, const cv_convert_opts *opts, cv_error *err)
{
    cv_convert_opts def;
    if (!opts) {
        cv_convert_opts_default(&def);
        opts = &def;
    }
    sat_config c;
    char pt_path[4096];
    cv_status s;
    int64_t extra;
    const char *plus;
    if ((s = check_layout_opts(opts, &extra, err)) || (s = check_plus_opts(opts, err)) ||
        (s = read_config(sat_dir, &c, err)) || (s = plus_kind(&c, opts, sat_dir, &plus, err)) ||
        (s = read_latest(sat_dir, pt_path, sizeof pt_path, err)))
        return s;
    const size_t max_n = 5 + 21 * (size_t)c.num_layers; /* generous upper bound of build_expected */
    expect_t *e = malloc(max_n * sizeof *e);
    if (!e)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    const size_t n = build_expected(&c, e);
    cv_pt *pt = NULL;
    cv_gguf_writer *w = NULL;
    extras_t x;
    if (!(s = load_extras(&c, opts, &x, err)) && !(s = cv_pt_open(pt_path, "module", &pt, err)) &&
        !(s = check_tensors(pt, pt_path, e, n, err)) && !(s = cv_gguf_writer_new(&w, out_path, 0, err)) &&
        !(s = write_meta(w, &c, opts, sat_dir, plus, err)) && !(s = write_extras(w, &x, opts, err)))
        s = write_all(w, pt, e, n, opts, err);
    cv_gguf_writer_free(w);
    cv_pt_close(pt);
    free(x.labels);
    free(e);
    return s;
}
