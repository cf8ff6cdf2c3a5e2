/* codebook.c — the VQVAE codebook from .npy or GGUF (see codebook.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codebook.h"
#include "cv_types.h"
#include "gguf.h"
#include "npy.h"

/* Both dimensions at least 1 and small enough for int indices. */
static cv_status check_shape(const char *path, const char *what, int ndim, const int64_t *shape, int *n, int *d,
                             cv_error *err)
{
    if (ndim != 2)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %s has %d dimensions (expected 2: [codes, dim])", path, what,
                            ndim);
    if (shape[0] < 1 || shape[1] < 1 || shape[0] > INT_MAX || shape[1] > INT_MAX ||
        (uint64_t)shape[0] * (uint64_t)shape[1] > SIZE_MAX / sizeof(float))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %s has shape (%lld, %lld) (expected at least one code of "
                            "at least one value, at most %d of each)", path, what, (long long)shape[0],
                            (long long)shape[1], INT_MAX);
    *n = (int)shape[0];
    *d = (int)shape[1];
    return CV_OK;
}

cv_status cv_codebook_load_npy(const char *path, float **data, int *n, int *d, cv_error *err)
{
    cv_npy a;
    *data = NULL;
    cv_status s = cv_npy_load_f32(path, &a, data, err);
    if (!s && (s = check_shape(path, "the array", a.ndim, a.shape, n, d, err))) {
        free(*data);
        *data = NULL;
    }
    return s;
}

/* f32 / f16 / bf16 elements to float. */
static cv_status to_f32(const char *path, const cv_gguf_tensor *t, float *out, cv_error *err)
{
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->nelements; i++) {
        uint16_t h;
        switch (t->type) {
        case CV_TYPE_F32:
            memcpy(out + i, p + 4 * i, 4);
            break;
        case CV_TYPE_F16:
            memcpy(&h, p + 2 * i, 2);
            out[i] = cv_f16_to_f32(h);
            break;
        case CV_TYPE_BF16:
            memcpy(&h, p + 2 * i, 2);
            out[i] = cv_bf16_to_f32(h);
            break;
        default:
            return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s (expected f32, f16 or bf16)",
                                path, t->name, cv_gguf_type_name(t->type) ? cv_gguf_type_name(t->type) : "?");
        }
    }
    return CV_OK;
}

cv_status cv_codebook_load_gguf(const char *path, float **data, int *n, int *d, cv_error *err)
{
    cv_gguf *g = NULL;
    const cv_gguf_tensor *t;
    int64_t shape[CV_GGUF_MAX_DIMS];
    *data = NULL;
    cv_status s = cv_gguf_open(path, &g, err);
    if (!s)
        s = cv_gguf_get_tensor(g, CV_CODEBOOK_TENSOR, &t, err);
    if (!s)
        s = check_shape(path, "tensor '" CV_CODEBOOK_TENSOR "'", cv_gguf_tensor_shape(t, shape), shape, n, d, err);
    if (!s && !(*data = malloc(t->nelements * sizeof **data)))
        s = cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for a %d x %d codebook", path, *n, *d);
    if (!s && (s = to_f32(path, t, *data, err))) {
        free(*data);
        *data = NULL;
    }
    cv_gguf_close(g);
    return s;
}
