/* vqvae.c — icetk's VQVAE decoder (see vqvae.h): model, loading, decoding.
 *
 * Module structure (icetk vqvae/vqvae_zc.py Decoder, taming-style), for
 * widths w_L = channels * mult[L] and n = n_levels:
 *   z = E[ids] (HWC);  h = conv_in(z)                       3x3, z -> w_{n-1}
 *   mid: ResnetBlock, AttnBlock, ResnetBlock                  w_{n-1}
 *   for L = n-1 .. 0: num_res_blocks+1 ResnetBlocks (-> w_L);
 *                     L > 0: nearest x2, conv 3x3 (w_L)
 *   out = conv_out(swish(norm_out(h)))                        3x3, w_0 -> out_channels
 *   ResnetBlock(x) = shortcut(x) + conv2(swish(norm2(conv1(swish(norm1(x))))))
 *                    (shortcut: nin_shortcut 1x1 when the width changes)
 *   AttnBlock(x)   = x + proj_out(softmax(q k^T / sqrt(C)) v),  q, k, v = 1x1(norm(x))
 * Dropout is the identity at inference; there is no time embedding.
 *
 * Two paths over the same weights: the reference (reference/vqvae.c: a
 * direct convolution, single-threaded) and the optimized one: im2col over
 * fixed tiles of output pixels + one GEMM per tile (OpenBLAS sgemm on one
 * thread, or the table's gemm_f32), tiles spread over OpenMP threads.  Tile
 * boundaries depend only on the layer's size, never on the thread count, so
 * neither does any output bit. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "vqvae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "kernels.h"
#include "mapfile.h"
#include "vqvae_ref.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

typedef struct {
    int cin, cout, k;
    float *w; /* [cout][k][k][cin] */
    float *b; /* [cout] */
} conv_t;

typedef struct {
    int c;
    float *g, *b;
} norm_t;

typedef struct {
    norm_t n1, n2;
    conv_t c1, c2, sc;
    int has_sc;
} resblock_t;

typedef struct {
    norm_t n;
    conv_t q, k, v, proj;
} attn_t;

struct cv_vqvae {
    cv_vqvae_hparams hp;
    float *codebook; /* [codebook_size][z_channels] */
    conv_t conv_in, conv_out;
    conv_t up_conv[CV_VQ_MAX_LEVELS]; /* level L > 0: after the x2 upsample */
    resblock_t mid1, mid2;
    attn_t attn;
    norm_t norm_out;
    resblock_t *blocks; /* [level][num_res_blocks+1] */
    float *arena;       /* every weight, f32 */
    size_t arena_len;
};

/* ------------------------------------------------------------ hyper-parameters */

void cv_vqvae_hparams_default(cv_vqvae_hparams *hp)
{
    /* icetk load_default_HVQVAE: decs[1] = Decoder(channels=128, channels_mult=[1,1,2,4],
     * num_res_blocks=0, z_channels=256, out_channels=3); quantizer 20000 x 256;
     * ImageTokenizer's de-normalisation constants */
    static const cv_vqvae_hparams def = {
        .channels = 128, .n_levels = 4, .mult = {1, 1, 2, 4}, .num_res_blocks = 0, .z_channels = 256,
        .out_channels = 3, .codebook_size = 20000, .grid_h = 20, .grid_w = 20, .groups = 32, .eps = 1e-6f,
        .mean = {0.79093f, 0.76271f, 0.75340f}, .std = {0.30379f, 0.32279f, 0.32800f}};
    *hp = def;
}

static int width(const cv_vqvae_hparams *hp, int level)
{
    return hp->channels * hp->mult[level];
}

cv_status cv_vqvae_hparams_check(const cv_vqvae_hparams *hp, const char *what, cv_error *err)
{
    const char *why = NULL;
    const int BIG = 1 << 16;
    if (hp->channels < 1 || hp->channels > BIG || hp->n_levels < 1 || hp->n_levels > CV_VQ_MAX_LEVELS)
        why = "channels 1..65536 and 1..8 levels";
    else if (hp->num_res_blocks < 0 || hp->num_res_blocks > 64 || hp->z_channels < 1 || hp->z_channels > BIG)
        why = "num_res_blocks 0..64 and z_channels 1..65536";
    else if (hp->out_channels < 1 || hp->out_channels > CV_VQ_MAX_OUT || hp->codebook_size < 1 ||
             hp->codebook_size > (1 << 24))
        why = "out_channels 1..4 and codebook_size 1..2^24";
    else if (hp->grid_h < 1 || hp->grid_w < 1 || hp->grid_h > 4096 || hp->grid_w > 4096)
        why = "a token grid of 1..4096 x 1..4096";
    else if (hp->groups < 1 || hp->groups > CV_VQ_MAX_GROUPS || !(hp->eps > 0.0f) || !isfinite(hp->eps))
        why = "norm_groups 1..1024 and a finite norm_eps > 0";
    if (!why) {
        for (int l = 0; l < hp->n_levels && !why; l++)
            if (hp->mult[l] < 1 || hp->mult[l] > 64 || width(hp, l) % hp->groups)
                why = "every channel_mult in 1..64 and every width a multiple of norm_groups";
        const double px = (double)hp->grid_h * hp->grid_w * ldexp(1.0, 2 * (hp->n_levels - 1));
        if (!why && px * (hp->channels * 64.0) > 1e10)
            why = "an output frame below 10^10 activations";
        for (int c = 0; c < hp->out_channels && !why; c++)
            if (!isfinite(hp->mean[c]) || !isfinite(hp->std[c]))
                why = "finite image_mean and image_std";
    }
    if (why)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: inconsistent VQVAE hyper-parameters (expected %s)", what,
                            why);
    return CV_OK;
}

/* ------------------------------------------------------------ the layer walk
 * One walk over the architecture, in a fixed order, both lists the tensors
 * (cv_vqvae_tensor_specs) and binds the model's pointers into its arena. */

typedef struct {
    cv_vqvae_tensor_spec *specs; /* may be NULL */
    size_t n, cap;
    size_t floats;  /* floats of every tensor so far */
    float *cursor; /* binding: next free float of the arena (NULL: do not bind) */
} walker;

static float *take(walker *wk, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const int64_t sh[4] = {a, b, c, d};
    size_t numel = 1;
    if (wk->specs && wk->n < wk->cap) {
        cv_vqvae_tensor_spec *s = &wk->specs[wk->n];
        snprintf(s->name, sizeof s->name, "%s", name);
        s->ndim = ndim;
        for (int i = 0; i < 4; i++)
            s->shape[i] = i < ndim ? sh[i] : 0;
    }
    wk->n++;
    for (int i = 0; i < ndim; i++)
        numel *= (size_t)sh[i];
    wk->floats += numel;
    float *p = wk->cursor;
    if (p)
        wk->cursor += numel;
    return p;
}

static void walk_conv(walker *wk, const char *base, int cin, int cout, int k, conv_t *c)
{
    char nm[64];
    c->cin = cin, c->cout = cout, c->k = k;
    snprintf(nm, sizeof nm, "%s.weight", base);
    c->w = take(wk, nm, 4, cout, cin, k, k);
    snprintf(nm, sizeof nm, "%s.bias", base);
    c->b = take(wk, nm, 1, cout, 0, 0, 0);
}

static void walk_norm(walker *wk, const char *base, int ch, norm_t *n)
{
    char nm[64];
    n->c = ch;
    snprintf(nm, sizeof nm, "%s.weight", base);
    n->g = take(wk, nm, 1, ch, 0, 0, 0);
    snprintf(nm, sizeof nm, "%s.bias", base);
    n->b = take(wk, nm, 1, ch, 0, 0, 0);
}

static void walk_resblock(walker *wk, const char *base, int cin, int cout, resblock_t *r)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.norm1", base);
    walk_norm(wk, nm, cin, &r->n1);
    snprintf(nm, sizeof nm, "%s.conv1", base);
    walk_conv(wk, nm, cin, cout, 3, &r->c1);
    snprintf(nm, sizeof nm, "%s.norm2", base);
    walk_norm(wk, nm, cout, &r->n2);
    snprintf(nm, sizeof nm, "%s.conv2", base);
    walk_conv(wk, nm, cout, cout, 3, &r->c2);
    r->has_sc = cin != cout; /* icetk: nin_shortcut (1x1) when in_channels != out_channels */
    if (r->has_sc) {
        snprintf(nm, sizeof nm, "%s.nin_shortcut", base);
        walk_conv(wk, nm, cin, cout, 1, &r->sc);
    }
}

static void walk_attn(walker *wk, const char *base, int c, attn_t *a)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.norm", base);
    walk_norm(wk, nm, c, &a->n);
    snprintf(nm, sizeof nm, "%s.q", base);
    walk_conv(wk, nm, c, c, 1, &a->q);
    snprintf(nm, sizeof nm, "%s.k", base);
    walk_conv(wk, nm, c, c, 1, &a->k);
    snprintf(nm, sizeof nm, "%s.v", base);
    walk_conv(wk, nm, c, c, 1, &a->v);
    snprintf(nm, sizeof nm, "%s.proj_out", base);
    walk_conv(wk, nm, c, c, 1, &a->proj);
}

/* m->blocks must hold n_levels * (num_res_blocks+1) entries. */
static void walk(walker *wk, cv_vqvae *m)
{
    const cv_vqvae_hparams *hp = &m->hp;
    const int nb = hp->num_res_blocks + 1;
    int cin = width(hp, hp->n_levels - 1);
    char nm[64];
    walk_conv(wk, "conv_in", hp->z_channels, cin, 3, &m->conv_in);
    walk_resblock(wk, "mid.block_1", cin, cin, &m->mid1);
    walk_attn(wk, "mid.attn_1", cin, &m->attn);
    walk_resblock(wk, "mid.block_2", cin, cin, &m->mid2);
    for (int l = hp->n_levels - 1; l >= 0; l--) {
        const int cout = width(hp, l);
        for (int b = 0; b < nb; b++) {
            snprintf(nm, sizeof nm, "up.%d.block.%d", l, b);
            walk_resblock(wk, nm, cin, cout, &m->blocks[l * nb + b]);
            cin = cout;
        }
        if (l > 0) {
            snprintf(nm, sizeof nm, "up.%d.upsample.conv", l);
            walk_conv(wk, nm, cin, cin, 3, &m->up_conv[l]);
        }
    }
    walk_norm(wk, "norm_out", cin, &m->norm_out);
    walk_conv(wk, "conv_out", cin, hp->out_channels, 3, &m->conv_out);
}

size_t cv_vqvae_tensor_specs(const cv_vqvae_hparams *hp, cv_vqvae_tensor_spec *out, size_t cap)
{
    cv_vqvae m = {.hp = *hp};
    m.blocks = calloc((size_t)hp->n_levels * (size_t)(hp->num_res_blocks + 1), sizeof *m.blocks);
    if (!m.blocks)
        return 0;
    walker wk = {.specs = out, .cap = cap};
    walk(&wk, &m);
    free(m.blocks);
    return wk.n;
}

static double conv_flops(const conv_t *c, double pixels)
{
    return 2.0 * pixels * c->cout * c->cin * c->k * c->k;
}

static double res_flops(const resblock_t *r, double px)
{
    return conv_flops(&r->c1, px) + conv_flops(&r->c2, px) + (r->has_sc ? conv_flops(&r->sc, px) : 0.0);
}

static double model_flops(const cv_vqvae *m)
{
    const cv_vqvae_hparams *hp = &m->hp;
    const int nb = hp->num_res_blocks + 1;
    double px = (double)hp->grid_h * hp->grid_w, c = m->attn.q.cin;
    double f = conv_flops(&m->conv_in, px) + res_flops(&m->mid1, px) + res_flops(&m->mid2, px);
    f += 4.0 * conv_flops(&m->attn.q, px) + 2.0 * 2.0 * px * px * c; /* q k v proj; q k^T and w v */
    for (int l = hp->n_levels - 1; l >= 0; l--) {
        for (int b = 0; b < nb; b++)
            f += res_flops(&m->blocks[l * nb + b], px);
        if (l > 0) {
            px *= 4.0;
            f += conv_flops(&m->up_conv[l], px);
        }
    }
    return f + conv_flops(&m->conv_out, px);
}

double cv_vqvae_flops_per_frame(const cv_vqvae_hparams *hp)
{
    cv_vqvae m = {.hp = *hp};
    m.blocks = calloc((size_t)hp->n_levels * (size_t)(hp->num_res_blocks + 1), sizeof *m.blocks);
    if (!m.blocks)
        return 0.0;
    walker wk = {0};
    walk(&wk, &m);
    const double f = model_flops(&m);
    free(m.blocks);
    return f;
}

/* ------------------------------------------------------------ construction */

static cv_status model_alloc(const cv_vqvae_hparams *hp, cv_vqvae **out, cv_error *err)
{
    cv_vqvae *m = calloc(1, sizeof *m);
    if (!m)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (VQVAE model)");
    m->hp = *hp;
    m->blocks = calloc((size_t)hp->n_levels * (size_t)(hp->num_res_blocks + 1), sizeof *m->blocks);
    walker wk = {0}; /* a walk without binding measures the arena */
    if (m->blocks)
        walk(&wk, m);
    const size_t dec = wk.floats;
    const size_t cb = (size_t)hp->codebook_size * (size_t)hp->z_channels;
    m->arena_len = cb + dec;
    m->arena = m->blocks ? malloc(m->arena_len * sizeof(float)) : NULL;
    if (!m->arena) {
        cv_vqvae_free(m);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (VQVAE weights, %zu floats)", cb + dec);
    }
    m->codebook = m->arena;
    walker bind = {.cursor = m->arena + cb};
    walk(&bind, m);
    *out = m;
    return CV_OK;
}

void cv_vqvae_free(cv_vqvae *m)
{
    if (!m)
        return;
    free(m->arena);
    free(m->blocks);
    free(m);
}

const cv_vqvae_hparams *cv_vqvae_get_hparams(const cv_vqvae *m)
{
    return &m->hp;
}

cv_pixel_mode cv_vqvae_pixel_mode(const cv_vqvae *m)
{
    return cv_vqvae_get_hparams(m)->pixel_clamp ? CV_PIXEL_CLAMP : CV_PIXEL_NORMALIZE;
}

int cv_vqvae_out_h(const cv_vqvae *m)
{
    return m->hp.grid_h << (m->hp.n_levels - 1);
}

int cv_vqvae_out_w(const cv_vqvae *m)
{
    return m->hp.grid_w << (m->hp.n_levels - 1);
}

/* splitmix64: a reproducible stream for random weights */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s) /* [-1, 1) */
{
    return (float)((double)(next_u64(s) >> 11) * 0x1.0p-52 - 1.0);
}

static void fill_conv(conv_t *c, uint64_t *s)
{
    const float a = 1.0f / sqrtf((float)(c->cin * c->k * c->k)); /* PyTorch's default init range */
    for (size_t i = 0; i < (size_t)c->cout * c->cin * c->k * c->k; i++)
        c->w[i] = a * uniform(s);
    for (int i = 0; i < c->cout; i++)
        c->b[i] = a * uniform(s);
}

static void fill_norm(norm_t *n, uint64_t *s)
{
    for (int i = 0; i < n->c; i++) {
        n->g[i] = 1.0f + 0.2f * uniform(s);
        n->b[i] = 0.1f * uniform(s);
    }
}

static void fill_res(resblock_t *r, uint64_t *s)
{
    fill_norm(&r->n1, s), fill_conv(&r->c1, s), fill_norm(&r->n2, s), fill_conv(&r->c2, s);
    if (r->has_sc)
        fill_conv(&r->sc, s);
}

cv_status cv_vqvae_random(const cv_vqvae_hparams *hp, uint64_t seed, cv_vqvae **out, cv_error *err)
{
    *out = NULL;
    cv_status st = cv_vqvae_hparams_check(hp, "random VQVAE", err);
    cv_vqvae *m;
    if (st || (st = model_alloc(hp, &m, err)))
        return st;
    uint64_t s = seed;
    for (size_t i = 0; i < (size_t)hp->codebook_size * hp->z_channels; i++)
        m->codebook[i] = uniform(&s);
    fill_conv(&m->conv_in, &s), fill_res(&m->mid1, &s), fill_res(&m->mid2, &s);
    fill_norm(&m->attn.n, &s), fill_conv(&m->attn.q, &s), fill_conv(&m->attn.k, &s);
    fill_conv(&m->attn.v, &s), fill_conv(&m->attn.proj, &s);
    for (int i = 0; i < hp->n_levels * (hp->num_res_blocks + 1); i++)
        fill_res(&m->blocks[i], &s);
    for (int l = 1; l < hp->n_levels; l++)
        fill_conv(&m->up_conv[l], &s);
    fill_norm(&m->norm_out, &s), fill_conv(&m->conv_out, &s);
    *out = m;
    return CV_OK;
}

/* ------------------------------------------------------------ loading */

static cv_status meta_u32(const cv_gguf *g, const char *key, int *v, cv_error *err)
{
    uint64_t u;
    cv_status s = cv_gguf_get_uint(g, key, &u, err);
    if (s)
        return s;
    if (u > (1u << 30))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is %llu (expected at most 2^30)",
                            cv_gguf_path(g), key, (unsigned long long)u);
    *v = (int)u;
    return CV_OK;
}

static cv_status meta_f32_array(const cv_gguf *g, const char *key, int n, float *v, cv_error *err)
{
    const cv_gguf_kv *kv;
    cv_status s = cv_gguf_get_array(g, key, CV_GGUF_FLOAT32, &kv, err);
    if (s)
        return s;
    if (kv->count != (uint64_t)n)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' has %llu values (expected %d, one per output channel)",
                            cv_gguf_path(g), key, (unsigned long long)kv->count, n);
    memcpy(v, kv->data, (size_t)n * sizeof(float));
    return CV_OK;
}

/* The optional pixel convention; files written before it existed have
 * none and mean the pipeline's min-max. */
static cv_status meta_pixel(const cv_gguf *g, bool *clamp, cv_error *err)
{
    const char *v;
    size_t n;
    *clamp = false;
    if (!cv_gguf_find_kv(g, CV_VQ_KEY_PIXEL))
        return CV_OK;
    cv_status s = cv_gguf_get_str(g, CV_VQ_KEY_PIXEL, &v, &n, err);
    if (!s && n == 5 && !memcmp(v, "clamp", 5))
        *clamp = true;
    else if (!s && !(n == 9 && !memcmp(v, "normalize", 9)))
        s = cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is \"%.*s\" (expected \"normalize\" or \"clamp\")",
                         cv_gguf_path(g), CV_VQ_KEY_PIXEL, (int)(n > 32 ? 32 : n), v);
    return s;
}

static cv_status read_hparams(const cv_gguf *g, cv_vqvae_hparams *hp, cv_error *err)
{
    const char *arch;
    const cv_gguf_kv *mult;
    cv_status s;
    memset(hp, 0, sizeof *hp);
    if ((s = cv_gguf_get_str(g, "general.architecture", &arch, NULL, err)))
        return s;
    if (strcmp(arch, CV_VQ_ARCH))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: general.architecture is \"%s\" (expected \"%s\"; "
                            "make one with cogvideo convert-vqvae)", cv_gguf_path(g), arch, CV_VQ_ARCH);
    if ((s = meta_u32(g, CV_VQ_KEY_CHANNELS, &hp->channels, err)) ||
        (s = meta_u32(g, CV_VQ_KEY_RES_BLOCKS, &hp->num_res_blocks, err)) ||
        (s = meta_u32(g, CV_VQ_KEY_Z, &hp->z_channels, err)) ||
        (s = meta_u32(g, CV_VQ_KEY_OUT, &hp->out_channels, err)) ||
        (s = meta_u32(g, CV_VQ_KEY_CODES, &hp->codebook_size, err)) ||
        (s = meta_u32(g, CV_VQ_KEY_GRID_H, &hp->grid_h, err)) ||
        (s = meta_u32(g, CV_VQ_KEY_GRID_W, &hp->grid_w, err)) ||
        (s = meta_u32(g, CV_VQ_KEY_GROUPS, &hp->groups, err)) ||
        (s = cv_gguf_get_f32(g, CV_VQ_KEY_EPS, &hp->eps, err)) ||
        (s = cv_gguf_get_array(g, CV_VQ_KEY_MULT, CV_GGUF_UINT32, &mult, err)))
        return s;
    if (mult->count < 1 || mult->count > CV_VQ_MAX_LEVELS)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' has %llu values (expected 1..%d)",
                            cv_gguf_path(g), CV_VQ_KEY_MULT, (unsigned long long)mult->count, CV_VQ_MAX_LEVELS);
    hp->n_levels = (int)mult->count;
    for (int l = 0; l < hp->n_levels; l++) {
        uint32_t v;
        memcpy(&v, (const char *)mult->data + 4 * l, 4);
        hp->mult[l] = v > 64 ? 65 : (int)v; /* 65: rejected by the check */
    }
    if (hp->out_channels < 1 || hp->out_channels > CV_VQ_MAX_OUT)
        return cv_vqvae_hparams_check(hp, cv_gguf_path(g), err);
    if ((s = meta_f32_array(g, CV_VQ_KEY_MEAN, hp->out_channels, hp->mean, err)) ||
        (s = meta_f32_array(g, CV_VQ_KEY_STD, hp->out_channels, hp->std, err)) ||
        (s = meta_pixel(g, &hp->pixel_clamp, err)))
        return s;
    return cv_vqvae_hparams_check(hp, cv_gguf_path(g), err);
}

static float load_elem(const cv_gguf_tensor *t, size_t i)
{
    if (t->type == CV_TYPE_F32) {
        float f;
        memcpy(&f, (const char *)t->data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const char *)t->data + 2 * i, 2);
    return t->type == CV_TYPE_F16 ? cv_f16_to_f32(h) : cv_bf16_to_f32(h);
}

/* The tensor (checked shape and type) into dst as f32, or only checked when
 * dst is NULL; a convolution weight [cout][cin][k][k] is stored
 * [cout][k][k][cin] (input channels innermost, the order of an HWC im2col
 * row). */
static cv_status load_tensor(const cv_gguf *g, const char *name, int ndim, const int64_t *shape, float *dst,
                             cv_error *err)
{
    const cv_gguf_tensor *t;
    cv_status s = cv_gguf_expect_tensor(g, name, CV_GGUF_ANY_TYPE, ndim, shape, &t, err);
    if (s)
        return s;
    if (t->type != CV_TYPE_F32 && t->type != CV_TYPE_F16 && t->type != CV_TYPE_BF16)
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s (expected f32, f16 or bf16)",
                            cv_gguf_path(g), name, cv_gguf_type_name(t->type));
    if (!dst)
        return CV_OK;
    if (ndim != 4) {
        for (size_t i = 0; i < t->nelements; i++)
            dst[i] = load_elem(t, i);
        return CV_OK;
    }
    const size_t co = (size_t)shape[0], ci = (size_t)shape[1], kk = (size_t)(shape[2] * shape[3]);
    for (size_t o = 0; o < co; o++)
        for (size_t i = 0; i < ci; i++)
            for (size_t p = 0; p < kk; p++)
                dst[(o * kk + p) * ci + i] = load_elem(t, (o * ci + i) * kk + p);
    return CV_OK;
}

/* Every tensor the hyper-parameters call for: checked (name, shape, type)
 * and, when arena is not NULL, converted into it (the codebook, then the
 * decoder in walk order).  cv_vqvae_load runs the check alone before it
 * allocates the arena, so a file whose metadata asks for more weights than
 * it holds is a format error naming the tensor, not a huge allocation. */
static cv_status load_weights(const cv_gguf *g, const cv_vqvae_hparams *hp, const char *prefix, float *arena,
                              cv_error *err)
{
    const int64_t cbs[2] = {hp->codebook_size, hp->z_channels};
    cv_status s = load_tensor(g, "quantize.embed.weight", 2, cbs, arena, err);
    const size_t n = s ? 0 : cv_vqvae_tensor_specs(hp, NULL, 0);
    cv_vqvae_tensor_spec *sp = malloc((n ? n : 1) * sizeof *sp);
    if (!s && (!sp || cv_vqvae_tensor_specs(hp, sp, n) != n))
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory (VQVAE tensor list)");
    size_t at = (size_t)hp->codebook_size * (size_t)hp->z_channels;
    for (size_t i = 0; i < n && !s; i++) {
        char name[160];
        size_t numel = 1;
        snprintf(name, sizeof name, "%s%s", prefix, sp[i].name);
        s = load_tensor(g, name, sp[i].ndim, sp[i].shape, arena ? arena + at : NULL, err);
        for (int d = 0; d < sp[i].ndim; d++)
            numel *= (size_t)sp[i].shape[d];
        at += numel;
    }
    free(sp);
    return s;
}

cv_status cv_vqvae_load(const char *path, cv_vqvae **out, cv_error *err)
{
    *out = NULL;
    cv_gguf *g = NULL;
    cv_vqvae_hparams hp;
    const char *prefix;
    size_t plen;
    cv_vqvae *m = NULL;
    cv_status s = cv_gguf_open(path, &g, err);
    if (!s && !(s = read_hparams(g, &hp, err)) && !(s = cv_gguf_get_str(g, CV_VQ_KEY_PREFIX, &prefix, &plen, err)) &&
        !(s = plen > 32 ? cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is longer than 32 bytes", path,
                                       CV_VQ_KEY_PREFIX)
                        : CV_OK) &&
        !(s = load_weights(g, &hp, prefix, NULL, err)) && !(s = model_alloc(&hp, &m, err)))
        s = load_weights(g, &hp, prefix, m->arena, err);
    cv_gguf_close(g);
    if (s) {
        cv_vqvae_free(m);
        return s;
    }
    *out = m;
    return CV_OK;
}

/* ------------------------------------------------------------ operators */

typedef struct {
    const cv_kernels *k;
    int ref;      /* the reference operators */
    int nthreads; /* threads of the parallel loops */
    float *col;         /* one slab's im2col matrix: SLAB x (9 * widest input) */
    float *scratch;     /* per thread: an attention score tile */
    size_t scratch_len; /* floats per thread */
} ctx_t;

enum { SLAB = 2048, M_SUB = 512, N_SUB = 256, ATT_TILE = 64, GN_CHUNK = 512 };

/* p rows in ceil(p/target) tiles of equal size (the last one may be
 * shorter): the boundaries depend only on p. */
static size_t tile_size(size_t p, size_t target)
{
    const size_t nt = (p + target - 1) / target;
    return nt ? (p + nt - 1) / nt : 1;
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Y[m][n] = X[m][k] W[n][k]^T on the calling thread (W rows contiguous: ldw == k). */
static void mm(const ctx_t *c, size_t m, size_t n, size_t k, const float *x, size_t ldx, const float *w,
               size_t ldw, float *y, size_t ldy)
{
#ifdef HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x, (int)ldx, w, (int)ldw,
                0.0f, y, (int)ldy);
#else
    (void)ldw; /* == k: W rows are contiguous */
    (m <= 8 ? c->k->gemms_f32 : c->k->gemm_f32)(m, n, k, x, ldx, w, y, ldy);
#endif
    (void)c;
}

/* im2col of output pixels [p0, p0+np) of a k x k convolution over x
 * ([h/up][w/up][cin], nearest-upsampled by `up`): row i holds the k*k
 * input channel vectors around pixel p0+i (zeros outside), tap-major. */
static void im2col(float *col, const float *x, int h, int w, int cin, int up, int k, size_t p0, size_t np)
{
    const int pad = k / 2, ws = w / up;
    const size_t row = (size_t)k * k * cin;
    for (size_t i = 0; i < np; i++) {
        const int oy = (int)((p0 + i) / (size_t)w), ox = (int)((p0 + i) % (size_t)w);
        float *dst = col + i * row;
        for (int ky = 0; ky < k; ky++) {
            const int sy = oy + ky - pad;
            for (int kx = 0; kx < k; kx++, dst += cin) {
                const int sx = ox + kx - pad;
                if (sy < 0 || sy >= h || sx < 0 || sx >= w)
                    memset(dst, 0, (size_t)cin * sizeof *dst);
                else
                    memcpy(dst, x + ((size_t)(sy / up) * ws + (size_t)(sx / up)) * cin, (size_t)cin * sizeof *dst);
            }
        }
    }
}

/* y = conv(x) for an output of h x w pixels (HWC); x is [h/up][w/up][cin].
 *
 * The output pixels go in slabs of at most SLAB rows: the slab's im2col
 * matrix (rows of k*k*cin) is built once, shared by the threads, then cut
 * into GEMM items of about M_SUB rows times N_SUB output channels (512-wide
 * layers are cut in two along the channels, so that the 20x20 layers, 400
 * rows, still give each thread a whole sgemm and each item packs only its
 * half of the weights).  Slab and item boundaries depend only on the layer's
 * shape. */
static void conv(const ctx_t *c, const conv_t *cv, const float *x, int h, int w, int up, float *y)
{
    if (c->ref) {
        cv_conv2d_ref(y, x, h, w, cv->cin, up, cv->w, cv->b, cv->cout, cv->k);
        return;
    }
    const size_t p = (size_t)h * w, kdim = (size_t)cv->k * cv->k * cv->cin, co = (size_t)cv->cout;
    const int direct = cv->k == 1 && up == 1; /* a 1x1 convolution is the GEMM itself */
    const size_t nsub = co > N_SUB ? N_SUB : co, nn = (co + nsub - 1) / nsub;
    for (size_t s0 = 0; s0 < p; s0 += SLAB) {
        const size_t sp = p - s0 < SLAB ? p - s0 : SLAB;
        const float *a = x + s0 * cv->cin;
        if (!direct) {
            const size_t rows = 64, nr = (sp + rows - 1) / rows;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(c->nthreads) if (nr > 1 && c->nthreads > 1)
#endif
            for (size_t r = 0; r < nr; r++)
                im2col(c->col + r * rows * kdim, x, h, w, cv->cin, up, cv->k, s0 + r * rows,
                       sp - r * rows < rows ? sp - r * rows : rows);
            a = c->col;
        }
        const size_t ms = tile_size(sp, M_SUB), nm = (sp + ms - 1) / ms, items = nm * nn;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(c->nthreads) if (items > 1 && c->nthreads > 1)
#endif
        for (size_t it = 0; it < items; it++) {
            const size_t i0 = it / nn * ms, mi = sp - i0 < ms ? sp - i0 : ms;
            const size_t n0 = it % nn * nsub, ni = co - n0 < nsub ? co - n0 : nsub;
            float *yt = y + (s0 + i0) * co + n0;
            mm(c, mi, ni, kdim, a + i0 * kdim, kdim, cv->w + n0 * kdim, kdim, yt, co);
            for (size_t i = 0; i < mi; i++)
                for (size_t o = 0; o < ni; o++)
                    yt[i * co + o] += cv->b[n0 + o];
        }
    }
}

/* GroupNorm (+ swish) over one image, threaded: partial sums per fixed
 * chunk of GN_CHUNK pixels, added in chunk order (same bits for any thread
 * count); two passes (mean, then squared deviations) in double like the
 * reference. */
static void groupnorm(const ctx_t *c, const norm_t *n, const float *x, float *y, size_t p, int groups, float eps,
                      int sw)
{
    if (c->ref) {
        cv_groupnorm_ref(y, x, p, n->c, groups, n->g, n->b, eps, sw);
        return;
    }
    const int ch = n->c, cg = ch / groups;
    const size_t nch = (p + GN_CHUNK - 1) / GN_CHUNK;
    /* partial sums, then (reused) the per-channel mean and 1/std as floats */
    const size_t np = nch * (size_t)groups > (size_t)ch ? nch * (size_t)groups : (size_t)ch;
    double *part = malloc(np * sizeof *part), mean[CV_VQ_MAX_GROUPS], inv[CV_VQ_MAX_GROUPS];
    if (!part || groups > CV_VQ_MAX_GROUPS) {
        free(part);
        cv_groupnorm_ref(y, x, p, ch, groups, n->g, n->b, eps, sw);
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(c->nthreads) if (nch > 1 && c->nthreads > 1)
#endif
        for (size_t k = 0; k < nch; k++) {
            const size_t q1 = (k + 1) * GN_CHUNK < p ? (k + 1) * GN_CHUNK : p;
            for (int gi = 0; gi < groups; gi++) {
                double s = 0.0;
                for (size_t q = k * GN_CHUNK; q < q1; q++) {
                    const float *v = x + q * ch + gi * cg;
                    for (int j = 0; j < cg; j++) {
                        const double d = pass ? v[j] - mean[gi] : v[j];
                        s += pass ? d * d : d;
                    }
                }
                part[k * groups + gi] = s;
            }
        }
        for (int gi = 0; gi < groups; gi++) {
            double s = 0.0;
            for (size_t k = 0; k < nch; k++)
                s += part[k * groups + gi];
            s /= (double)p * cg;
            if (pass)
                inv[gi] = 1.0 / sqrt(s + eps);
            else
                mean[gi] = s;
        }
    }
    /* per channel: y = (x - mean) * inv * g + b, with (mean, inv) rounded to
     * float as in the reference; one scale and shift per channel would round
     * differently */
    float *cm = (float *)(void *)part, *ci = cm + ch; /* part is no longer needed */
    for (int j = 0; j < ch; j++)
        cm[j] = (float)mean[j / cg], ci[j] = (float)inv[j / cg];
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(c->nthreads) if (nch > 1 && c->nthreads > 1)
#endif
    for (size_t k = 0; k < nch; k++) {
        const size_t q1 = (k + 1) * GN_CHUNK < p ? (k + 1) * GN_CHUNK : p;
        for (size_t q = k * GN_CHUNK; q < q1; q++) {
            const float *xr = x + q * ch;
            float *yr = y + q * ch;
            for (int j = 0; j < ch; j++)
                yr[j] = (xr[j] - cm[j]) * ci[j] * n->g[j] + n->b[j];
        }
        if (sw) /* the table's swish (vectorised exp) over the chunk */
            c->k->swish_f32(y + k * GN_CHUNK * ch, y + k * GN_CHUNK * ch, (q1 - k * GN_CHUNK) * ch);
    }
    free(part);
}

/* ------------------------------------------------------------ blocks */

/* Scratch activations of one frame: 4 buffers of the largest layer. */
typedef struct {
    float *x, *t, *h, *u;
} bufs_t;

/* x (p pixels, cin) -> x (cout), through t, h, u. */
static void resblock(const ctx_t *c, const cv_vqvae_hparams *hp, const resblock_t *r, bufs_t *b, int hh, int ww)
{
    const size_t p = (size_t)hh * ww;
    groupnorm(c, &r->n1, b->x, b->t, p, hp->groups, hp->eps, 1);
    conv(c, &r->c1, b->t, hh, ww, 1, b->h);
    groupnorm(c, &r->n2, b->h, b->t, p, hp->groups, hp->eps, 1);
    conv(c, &r->c2, b->t, hh, ww, 1, b->h);
    const int co = r->c2.cout;
    if (r->has_sc) { /* x = nin_shortcut(x) + h */
        conv(c, &r->sc, b->x, hh, ww, 1, b->u);
        float *tmp = b->x;
        b->x = b->u, b->u = tmp;
    }
    for (size_t i = 0; i < p * (size_t)co; i++)
        b->x[i] += b->h[i];
}

/* x += proj_out(attention(q, k, v)) over the p pixels of the frame. */
static void attnblock(const ctx_t *c, const cv_vqvae_hparams *hp, const attn_t *a, bufs_t *b, int hh, int ww,
                      float *qkv)
{
    const size_t p = (size_t)hh * ww;
    const int ch = a->n.c;
    float *q = qkv, *k = q + p * ch, *v = k + p * ch, *vt = v + p * ch;
    groupnorm(c, &a->n, b->x, b->t, p, hp->groups, hp->eps, 0);
    conv(c, &a->q, b->t, hh, ww, 1, q);
    conv(c, &a->k, b->t, hh, ww, 1, k);
    conv(c, &a->v, b->t, hh, ww, 1, v);
    if (c->ref) {
        cv_spatial_attn_ref(b->h, q, k, v, p, ch);
    } else {
        for (size_t j = 0; j < p; j++) /* v^T: o = w v is then a GEMM with contiguous rows */
            for (int i = 0; i < ch; i++)
                vt[(size_t)i * p + j] = v[j * ch + i];
        const size_t ts = tile_size(p, ATT_TILE), nt = (p + ts - 1) / ts;
        const float scale = 1.0f / sqrtf((float)ch); /* int(c) ** (-0.5) */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic) num_threads(c->nthreads) if (nt > 1 && c->nthreads > 1)
#endif
        for (size_t t = 0; t < nt; t++) {
            const size_t i0 = t * ts, ni = p - i0 < ts ? p - i0 : ts;
            float *s = c->scratch + (size_t)thread_id() * c->scratch_len;
            mm(c, ni, p, (size_t)ch, q + i0 * ch, (size_t)ch, k, (size_t)ch, s, p);
            for (size_t i = 0; i < ni; i++) {
                float *row = s + i * p;
                for (size_t j = 0; j < p; j++)
                    row[j] *= scale;
                c->k->softmax_f32(row, p);
            }
            mm(c, ni, (size_t)ch, p, s, p, vt, p, b->h + i0 * ch, (size_t)ch);
        }
    }
    conv(c, &a->proj, b->h, hh, ww, 1, b->u);
    for (size_t i = 0; i < p * (size_t)ch; i++)
        b->x[i] += b->u[i];
}

/* ------------------------------------------------------------ decoding */

/* Floats of the largest activation of one frame (over every layer). */
static size_t max_activation(const cv_vqvae *m)
{
    const cv_vqvae_hparams *hp = &m->hp;
    size_t px = (size_t)hp->grid_h * hp->grid_w, c = (size_t)width(hp, hp->n_levels - 1);
    size_t best = px * (c > (size_t)hp->z_channels ? c : (size_t)hp->z_channels);
    for (int l = hp->n_levels - 1; l >= 0; l--) {
        const size_t cl = (size_t)width(hp, l);
        best = px * (c > cl ? c : cl) > best ? px * (c > cl ? c : cl) : best;
        c = cl;
        if (l > 0)
            px *= 4;
    }
    return best > px * c ? best : px * c;
}

/* Hands the stage to the tap; returns 1 when the caller asked to stop here. */
static int emit(const cv_vqvae_opts *o, const char *name, size_t frame, const float *x, int ch, int h, int w)
{
    if (o && o->tap)
        o->tap(o->tap_ctx, name, (int)frame, x, ch, h, w);
    return o && o->stop_after && !strcmp(o->stop_after, name);
}

/* One frame: ids -> raw decoder output (HWC, out_channels) in b->x. */
static int decode_frame(const cv_vqvae *m, const ctx_t *c, const int64_t *ids, size_t f, bufs_t *b, float *qkv,
                        const cv_vqvae_opts *o)
{
    const cv_vqvae_hparams *hp = &m->hp;
    const int nb = hp->num_res_blocks + 1;
    int hh = hp->grid_h, ww = hp->grid_w, ch = hp->z_channels;
    char nm[32];
    for (size_t p = 0; p < (size_t)hh * ww; p++) /* quantize.embed(codes) */
        memcpy(b->t + p * ch, m->codebook + (size_t)ids[p] * ch, (size_t)ch * sizeof(float));
    if (emit(o, "z", f, b->t, ch, hh, ww))
        return 1;
    conv(c, &m->conv_in, b->t, hh, ww, 1, b->x);
    ch = m->conv_in.cout;
    if (emit(o, "conv_in", f, b->x, ch, hh, ww))
        return 1;
    resblock(c, hp, &m->mid1, b, hh, ww);
    if (emit(o, "mid_block_1", f, b->x, ch, hh, ww))
        return 1;
    attnblock(c, hp, &m->attn, b, hh, ww, qkv);
    if (emit(o, "mid_attn_1", f, b->x, ch, hh, ww))
        return 1;
    resblock(c, hp, &m->mid2, b, hh, ww);
    if (emit(o, "mid_block_2", f, b->x, ch, hh, ww))
        return 1;
    for (int l = hp->n_levels - 1; l >= 0; l--) {
        for (int k = 0; k < nb; k++) {
            resblock(c, hp, &m->blocks[l * nb + k], b, hh, ww);
            ch = m->blocks[l * nb + k].c2.cout;
            snprintf(nm, sizeof nm, "up%d_block%d", l, k);
            if (emit(o, nm, f, b->x, ch, hh, ww))
                return 1;
        }
        if (l > 0) { /* Upsample: F.interpolate(x, scale_factor=2.0, mode="nearest"), then conv */
            hh *= 2, ww *= 2;
            conv(c, &m->up_conv[l], b->x, hh, ww, 2, b->h);
            float *tmp = b->x;
            b->x = b->h, b->h = tmp;
            snprintf(nm, sizeof nm, "up%d_upsample", l);
            if (emit(o, nm, f, b->x, ch, hh, ww))
                return 1;
        }
    }
    groupnorm(c, &m->norm_out, b->x, b->t, (size_t)hh * ww, hp->groups, hp->eps, 1);
    conv(c, &m->conv_out, b->t, hh, ww, 1, b->x);
    emit(o, "dec_raw", f, b->x, hp->out_channels, hh, ww); /* the last stage: outputs follow */
    return 0;
}

static cv_status check_ids(const cv_vqvae *m, const int64_t *ids, size_t n, cv_error *err)
{
    const size_t fp = (size_t)m->hp.grid_h * m->hp.grid_w;
    for (size_t i = 0; i < n * fp; i++)
        if (ids[i] < 0 || ids[i] >= m->hp.codebook_size)
            return cv_error_set(err, CV_ERR_ARG, "token id %lld at frame %zu, row %zu, column %zu is outside the codebook (expected 0 .. %d)",
                                (long long)ids[i], i / fp, i % fp / (size_t)m->hp.grid_w, i % (size_t)m->hp.grid_w,
                                m->hp.codebook_size - 1);
    return CV_OK;
}

cv_status cv_vqvae_decode(const cv_vqvae *m, const int64_t *ids, size_t n, float *img, float *raw,
                          const cv_vqvae_opts *o, cv_error *err)
{
    cv_status s = check_ids(m, ids, n, err);
    if (s)
        return s;
    const cv_vqvae_hparams *hp = &m->hp;
    ctx_t c = {.k = cv_kernels_get(), .ref = o && o->reference, .nthreads = 1};
#ifdef _OPENMP
    c.nthreads = c.ref ? 1 : o && o->nthreads > 0 ? o->nthreads : omp_get_max_threads();
#endif
#ifdef HAVE_OPENBLAS
    if (openblas_get_num_threads() != 1) /* one sgemm per tile, the tiles over OpenMP threads */
        openblas_set_num_threads(1);
#endif
    const size_t act = max_activation(m), p0 = (size_t)hp->grid_h * hp->grid_w;
    const size_t top = (size_t)width(hp, hp->n_levels - 1);
    size_t cin = (size_t)hp->z_channels > top ? (size_t)hp->z_channels : top;
    for (int l = 0; l < hp->n_levels; l++)
        cin = (size_t)width(hp, l) > cin ? (size_t)width(hp, l) : cin;
    const size_t col = (size_t)SLAB * 9 * cin, qkv = 4 * p0 * top;
    c.scratch_len = (size_t)ATT_TILE * p0;
    const size_t total = (4 * act + qkv + col + (size_t)c.nthreads * c.scratch_len) * sizeof(float);
    float *mem = cv_alloc_big(total); /* huge pages: ~200 MB touched once per call */
    if (!mem)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (VQVAE activations, %zu MB)", total >> 20);
    c.col = mem + 4 * act + qkv;
    c.scratch = c.col + col;
    const int oh = cv_vqvae_out_h(m), ow = cv_vqvae_out_w(m), oc = hp->out_channels;
    const size_t op = (size_t)oh * ow;
    for (size_t f = 0; f < n; f++) {
        bufs_t b = {mem, mem + act, mem + 2 * act, mem + 3 * act};
        if (decode_frame(m, &c, ids + f * p0, f, &b, mem + 4 * act, o))
            continue;
        for (size_t p = 0; p < op; p++) /* HWC -> CHW; img = out * std + mean (icetk ImageTokenizer.decode) */
            for (int ch = 0; ch < oc; ch++) {
                const float v = b.x[p * oc + ch];
                if (raw)
                    raw[(f * oc + ch) * op + p] = v;
                if (img)
                    img[(f * oc + ch) * op + p] = v * hp->std[ch] + hp->mean[ch];
            }
    }
    cv_free_big(mem, total);
    return CV_OK;
}
