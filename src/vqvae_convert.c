/* vqvae_convert.c — icetk's ice_image.pt -> GGUF (cv_vqvae_convert, vqvae.h).
 *
 * icetk saves the HVQVAE state dict (enc.*, decs.0/1/2.*, down_samplers.*,
 * quantize.*); the pipeline decodes with decs[1] (8x) on quantize.embed
 * (golden/README "VQVAE decoder").  The architecture is read off the
 * decoder's tensors: widths from up.L.block.0.conv1, the number of levels
 * and blocks from which names exist, z from the codebook; then the whole
 * expected tensor list (cv_vqvae_tensor_specs) is checked name by name and
 * shape by shape, so a checkpoint the decoder cannot run is refused here. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "gguf.h"
#include "ptload.h"
#include "vqvae.h"

#define CODEBOOK "quantize.embed.weight"

void cv_vqvae_convert_opts_default(cv_vqvae_convert_opts *o)
{
    o->grid_h = 20; /* the release's 20x20 token frames */
    o->grid_w = 20;
    o->decoder = "decs.1.";
    o->groups = 32;
    o->pixel_clamp = false;
}

static const cv_pt_tensor *dec_tensor(const cv_pt *pt, const char *prefix, const char *name)
{
    char full[160];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return cv_pt_find(pt, full);
}

static int is_float(cv_pt_dtype d)
{
    return d == CV_PT_F32 || d == CV_PT_F16 || d == CV_PT_BF16;
}

/* Widths, levels and blocks from the names and shapes present. */
static cv_status infer(const cv_pt *pt, const char *path, const char *prefix, cv_vqvae_hparams *hp, cv_error *err)
{
    char nm[96];
    const cv_pt_tensor *cb = cv_pt_find(pt, CODEBOOK), *t;
    if (!cb || cb->ndim != 2)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %s tensor '%s' (expected the quantizer codebook [codes, z])", path,
                            cb ? "misshapen" : "missing", CODEBOOK);
    hp->codebook_size = (int)(cb->shape[0] < (1 << 25) ? cb->shape[0] : (1 << 25));
    hp->z_channels = (int)(cb->shape[1] < (1 << 17) ? cb->shape[1] : (1 << 17));
    int n = 0;
    for (; n <= CV_VQ_MAX_LEVELS; n++) {
        snprintf(nm, sizeof nm, "up.%d.block.0.conv1.weight", n);
        if (!(t = dec_tensor(pt, prefix, nm)))
            break;
        if (t->ndim != 4 || t->shape[0] < 1 || t->shape[0] > (1 << 20))
            return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%s%s' is not a convolution weight", path, prefix, nm);
        if (n < CV_VQ_MAX_LEVELS)
            hp->mult[n] = (int)t->shape[0];
    }
    if (n < 1 || n > CV_VQ_MAX_LEVELS)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %d decoder levels under '%sup.' (expected 1..%d)", path, n, prefix,
                            CV_VQ_MAX_LEVELS);
    hp->n_levels = n;
    hp->channels = hp->mult[0];
    for (int l = 0; l < n; l++) {
        if (hp->mult[l] % hp->channels)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: level %d has %d channels, not a multiple of level 0's %d", path,
                                l, hp->mult[l], hp->channels);
        hp->mult[l] /= hp->channels;
        for (int b = 0; b < 64; b++) {
            snprintf(nm, sizeof nm, "up.%d.attn.%d.q.weight", l, b);
            if (dec_tensor(pt, prefix, nm))
                return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: tensor '%s%s': attention inside the upsampling levels is not supported (icetk's decoders have none)",
                                    path, prefix, nm);
        }
    }
    int nb = 0;
    for (; nb < 66; nb++) {
        snprintf(nm, sizeof nm, "up.0.block.%d.conv1.weight", nb);
        if (!dec_tensor(pt, prefix, nm))
            break;
    }
    hp->num_res_blocks = nb - 1;
    if (!(t = dec_tensor(pt, prefix, "conv_out.weight")) || t->ndim != 4)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing or misshapen tensor '%sconv_out.weight'", path, prefix);
    hp->out_channels = (int)(t->shape[0] < 100 ? t->shape[0] : 100);
    return cv_vqvae_hparams_check(hp, path, err);
}

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < cap)
        snprintf(buf + k, cap - k, ")");
}

static cv_status check_one(const cv_pt_tensor *t, const char *path, const char *name, int ndim, const int64_t *shape,
                           cv_error *err)
{
    if (!t)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing tensor '%s'", path, name);
    int ok = t->ndim == ndim;
    for (int d = 0; d < ndim && ok; d++)
        ok = t->shape[d] == shape[d];
    if (!ok) {
        char found[128], want[128];
        shape_str(t->shape, t->ndim, found, sizeof found);
        shape_str(shape, ndim, want, sizeof want);
        return cv_error_set(err, CV_ERR_FORMAT, "%s: tensor '%s' has shape %s (expected %s)", path, name, found, want);
    }
    if (!is_float(t->dtype))
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (expected f32, f16 or bf16)", path,
                            name, cv_pt_dtype_name(t->dtype));
    return CV_OK;
}

/* Every expected decoder tensor present with its shape, nothing else under the prefix. */
static cv_status check_decoder(const cv_pt *pt, const char *path, const char *prefix, const cv_vqvae_tensor_spec *sp,
                               size_t n, cv_error *err)
{
    char full[160];
    const int64_t cbs[2] = {sp[0].shape[1], 0}; /* conv_in [top, z, 3, 3] */
    const cv_pt_tensor *cb = cv_pt_find(pt, CODEBOOK);
    const int64_t cbshape[2] = {cb->shape[0], cbs[0]};
    cv_status s = check_one(cb, path, CODEBOOK, 2, cbshape, err);
    for (size_t i = 0; i < n && !s; i++) {
        snprintf(full, sizeof full, "%s%s", prefix, sp[i].name);
        s = check_one(cv_pt_find(pt, full), path, full, sp[i].ndim, sp[i].shape, err);
    }
    if (s)
        return s;
    const size_t pl = strlen(prefix);
    for (size_t j = 0; j < cv_pt_count(pt); j++) {
        const char *nm = cv_pt_at(pt, j)->name;
        int known = strncmp(nm, prefix, pl) != 0;
        for (size_t i = 0; i < n && !known; i++)
            known = !strcmp(nm + pl, sp[i].name);
        if (!known)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: unknown decoder tensor '%s'", path, nm);
    }
    return CV_OK;
}

static uint32_t gguf_type(cv_pt_dtype d)
{
    return d == CV_PT_F16 ? CV_TYPE_F16 : d == CV_PT_BF16 ? CV_TYPE_BF16 : CV_TYPE_F32;
}

/* Kept besides the decoder: every float tensor except the quantizer's
 * training statistics (EMA cluster sizes and sums, unused at inference). */
static int keep_extra(const cv_pt_tensor *t, const char *prefix)
{
    return is_float(t->dtype) && strncmp(t->name, prefix, strlen(prefix)) != 0 && strcmp(t->name, CODEBOOK) != 0 &&
           strcmp(t->name, "quantize.cluster_size") != 0 && strcmp(t->name, "quantize.embed_avg") != 0;
}

static cv_status write_meta(cv_gguf_writer *w, const cv_vqvae_hparams *hp, const char *prefix, cv_error *err)
{
    uint32_t mult[CV_VQ_MAX_LEVELS];
    for (int l = 0; l < hp->n_levels; l++)
        mult[l] = (uint32_t)hp->mult[l];
    cv_status s;
    if ((s = cv_gguf_writer_set_str(w, "general.architecture", CV_VQ_ARCH, err)) ||
        (s = cv_gguf_writer_set_str(w, CV_VQ_KEY_PREFIX, prefix, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_CHANNELS, (uint32_t)hp->channels, err)) ||
        (s = cv_gguf_writer_set_array(w, CV_VQ_KEY_MULT, CV_GGUF_UINT32, mult, (size_t)hp->n_levels, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_RES_BLOCKS, (uint32_t)hp->num_res_blocks, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_Z, (uint32_t)hp->z_channels, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_OUT, (uint32_t)hp->out_channels, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_CODES, (uint32_t)hp->codebook_size, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_GRID_H, (uint32_t)hp->grid_h, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_GRID_W, (uint32_t)hp->grid_w, err)) ||
        (s = cv_gguf_writer_set_u32(w, CV_VQ_KEY_GROUPS, (uint32_t)hp->groups, err)) ||
        (s = cv_gguf_writer_set_f32(w, CV_VQ_KEY_EPS, hp->eps, err)) ||
        (s = cv_gguf_writer_set_array(w, CV_VQ_KEY_MEAN, CV_GGUF_FLOAT32, hp->mean, (size_t)hp->out_channels, err)) ||
        (s = cv_gguf_writer_set_str(w, CV_VQ_KEY_PIXEL, hp->pixel_clamp ? "clamp" : "normalize", err)))
        return s;
    return cv_gguf_writer_set_array(w, CV_VQ_KEY_STD, CV_GGUF_FLOAT32, hp->std, (size_t)hp->out_channels, err);
}

/* The written tensors, in order: codebook, decoder (spec order), the rest. */
static cv_status write_all(cv_gguf_writer *w, const cv_pt *pt, const char *prefix, const cv_vqvae_tensor_spec *sp,
                           size_t n, cv_error *err)
{
    const size_t total = cv_pt_count(pt) + 1;
    const cv_pt_tensor **list = malloc(total * sizeof *list);
    if (!list)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    size_t k = 0;
    list[k++] = cv_pt_find(pt, CODEBOOK);
    for (size_t i = 0; i < n; i++)
        list[k++] = dec_tensor(pt, prefix, sp[i].name);
    for (size_t j = 0; j < cv_pt_count(pt); j++)
        if (keep_extra(cv_pt_at(pt, j), prefix))
            list[k++] = cv_pt_at(pt, j);
    cv_status s = CV_OK;
    for (size_t i = 0; i < k && !s; i++)
        s = cv_gguf_writer_add_tensor(w, list[i]->name, gguf_type(list[i]->dtype), list[i]->ndim, list[i]->shape, NULL,
                                      err);
    if (!s)
        s = cv_gguf_writer_begin(w, err);
    for (size_t i = 0; i < k && !s; i++)
        s = cv_convert_copy_mapped(w, list[i]->data, list[i]->nbytes, err);
    free(list);
    return s ? s : cv_gguf_writer_finish(w, err);
}

static cv_status open_pt(const char *path, cv_pt **pt, cv_error *err)
{
    /* torch.save({'module': sd}) (the golden's copy) or the bare state dict */
    cv_status s = cv_pt_open(path, "module", pt, err);
    if (s == CV_ERR_FORMAT && strstr(err->msg, "no top-level key 'module'"))
        s = cv_pt_open(path, NULL, pt, err);
    return s;
}

cv_status cv_vqvae_convert(const char *pt_path, const char *out_path, const cv_vqvae_convert_opts *opts,
                           cv_error *err)
{
    cv_vqvae_convert_opts def;
    if (!opts) {
        cv_vqvae_convert_opts_default(&def);
        opts = &def;
    }
    cv_vqvae_hparams hp;
    cv_vqvae_hparams_default(&hp); /* groups, eps, mean, std: icetk's constants */
    hp.grid_h = opts->grid_h;
    hp.grid_w = opts->grid_w;
    hp.groups = opts->groups;
    hp.pixel_clamp = opts->pixel_clamp;
    if (hp.grid_h < 1 || hp.grid_w < 1 || hp.grid_h > 4096 || hp.grid_w > 4096)
        return cv_error_set(err, CV_ERR_ARG, "--grid: %dx%d (expected HxW with 1 <= H, W <= 4096)", hp.grid_h,
                            hp.grid_w);
    const char *prefix = opts->decoder;
    cv_pt *pt = NULL;
    cv_gguf_writer *w = NULL;
    cv_vqvae_tensor_spec *sp = NULL;
    size_t n = 0;
    cv_status s = open_pt(pt_path, &pt, err);
    if (!s)
        s = infer(pt, pt_path, prefix, &hp, err);
    if (!s) {
        n = cv_vqvae_tensor_specs(&hp, NULL, 0);
        sp = malloc((n ? n : 1) * sizeof *sp);
        s = sp && cv_vqvae_tensor_specs(&hp, sp, n) == n ? CV_OK : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    }
    if (!s && !(s = check_decoder(pt, pt_path, prefix, sp, n, err)) &&
        !(s = cv_gguf_writer_new(&w, out_path, 0, err)) && !(s = write_meta(w, &hp, prefix, err)))
        s = write_all(w, pt, prefix, sp, n, err);
    cv_gguf_writer_free(w);
    cv_pt_close(pt);
    free(sp);
    return s;
}
