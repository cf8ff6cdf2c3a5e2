/* fuzz_gguf.c — a GGUF file through every reader that takes one: the
 * container (cv_gguf_open, every key and tensor touched, `cogvideo info`'s
 * printer), the tokenizer and pipeline settings stored in it, and the
 * model and VQVAE loaders.  When a model or a VQVAE loads, one small
 * forward pass / one decoded frame proves the loader's shape checks cover
 * what the compute reads. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "gguf.h"
#include "pipeline_config.h"
#include "tokenizer.h"
#include "vqvae.h"

static void walk_container(const char *path)
{
    cv_error err;
    cv_gguf *g = NULL;
    if (cv_gguf_open(path, &g, &err) != CV_OK)
        return;
    unsigned s = 0;
    for (size_t i = 0; i < cv_gguf_kv_count(g); i++) {
        const cv_gguf_kv *kv = cv_gguf_kv_at(g, i);
        if (kv->str)
            for (uint64_t j = 0; j < kv->count; j++)
                s += fuzz_touch(kv->str[j].s, kv->str[j].len + 1);
        else
            s += fuzz_touch(kv->data, kv->count * cv_gguf_vtype_size(kv->elem_type));
    }
    for (size_t i = 0; i < cv_gguf_tensor_count(g); i++) {
        const cv_gguf_tensor *t = cv_gguf_tensor_at(g, i);
        s += fuzz_touch(t->data, t->nbytes);
    }
    cv_tokenizer *tok = NULL;
    if (cv_tokenizer_from_gguf(g, NULL, &tok, &err) == CV_OK) {
        cv_tokens out = {0};
        static const char text[] = "a red circle moves left \xe4\xb8\xad\xff";
        (void)cv_tokenizer_encode(tok, text, sizeof text - 1, &out, &err);
        cv_tokens_free(&out);
        cv_tokenizer_free(tok);
    }
    cv_pipeline_config c;
    (void)cv_pipeline_config_read(g, &c, &err);
    cv_gguf_close(g);
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
        (void)cv_gguf_print_info(path, devnull, &err);
        fclose(devnull);
    }
    (void)s;
}

static void run_vqvae(const char *path)
{
    cv_error err;
    cv_vqvae *v = NULL;
    if (cv_vqvae_load(path, &v, &err) != CV_OK)
        return;
    const cv_vqvae_hparams *hp = cv_vqvae_get_hparams(v);
    size_t cells = (size_t)hp->grid_h * (size_t)hp->grid_w;
    size_t pixels = (size_t)cv_vqvae_out_h(v) * (size_t)cv_vqvae_out_w(v);
    if (cells <= 4096 && pixels <= 256 * 256) {
        int64_t *ids = calloc(cells, sizeof *ids);
        float *img = malloc(pixels * 3 * sizeof *img);
        cv_vqvae_opts o = {.nthreads = 1};
        if (ids && img)
            (void)cv_vqvae_decode(v, ids, 1, img, NULL, &o, &err);
        free(ids);
        free(img);
    }
    cv_vqvae_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4096];
    if (fuzz_write_temp(data, size, ".gguf", path, sizeof path) != 0)
        return 0;
    walk_container(path);
    cv_error err;
    (void)fuzz_run_model(path, &err);
    run_vqvae(path);
    remove(path);
    return 0;
}
