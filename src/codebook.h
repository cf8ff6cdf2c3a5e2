/* codebook.h — a VQVAE codebook as a float matrix [n_codes, dim], read from
 * a .npy file or from a VQVAE GGUF (for `cogvideo clusters`).
 *
 * In a VQVAE GGUF the codebook is the tensor "quantize.embed.weight" of
 * icetk's ice_image.pt (PyTorch shape [n_codes, dim]; 20000 x 256 real),
 * of type f32, f16 or bf16.  A .npy codebook is any 2-D float array
 * (f32, f16, f64).  Errors name the file and say what was expected. */
#ifndef CV_CODEBOOK_H
#define CV_CODEBOOK_H

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CV_CODEBOOK_TENSOR "quantize.embed.weight"

/* On success *data is malloc'ed (n * d floats, row-major; free() it). */
cv_status cv_codebook_load_npy(const char *path, float **data, int *n, int *d, cv_error *err);
cv_status cv_codebook_load_gguf(const char *path, float **data, int *n, int *d, cv_error *err);

#ifdef __cplusplus
}
#endif
#endif
