/* ptload.h — the tensors of a PyTorch checkpoint (torch.save zip format),
 * read without Python and without executing anything.
 *
 * cv_pt_open maps the archive (ckpt_zip.h), runs <prefix>/data.pkl through
 * the restricted pickle machine (ckpt_pickle.h) and returns the tensors of
 * one top-level dict entry (e.g. "module" in a DeepSpeed/SAT checkpoint), or
 * of the whole pickle when it is itself a state dict.  Tensor data stays in
 * the read-only mapping: nothing is copied, so a 15 GB checkpoint costs only
 * page cache.  Every tensor is checked: contiguous row-major strides, offset
 * plus size inside its storage (overflow-checked), and the storage's element
 * count equal to the size of its zip entry <prefix>/data/<key>.
 *
 * Errors are one line naming the file and, when it applies, the tensor:
 *   "x.pt: tensor 'w' has non-contiguous strides (expected [4, 1], found [1, 3])". */
#ifndef CV_PTLOAD_H
#define CV_PTLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt_pickle.h"
#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *name;                        /* the state-dict key, NUL-terminated */
    cv_pt_dtype dtype;
    int ndim;                          /* 0 .. CV_PT_MAX_DIMS */
    int64_t shape[CV_PT_MAX_DIMS];     /* torch order: last axis fastest */
    int64_t stride[CV_PT_MAX_DIMS];    /* in elements, as stored */
    int64_t offset;                    /* in elements, into the storage */
    int64_t numel;                     /* product of shape (1 for ndim 0) */
    const void *data;                  /* first element, inside the mapping; never NULL.  Not
                                          necessarily aligned: torch aligns entries to 64 bytes,
                                          other zip writers do not (use memcpy) */
    size_t nbytes;                     /* numel * cv_pt_dtype_size(dtype) */
    const char *storage_key;           /* NUL-terminated; tensors that share storage share the key */
} cv_pt_tensor;

typedef struct cv_pt cv_pt;

/* top_key: the top-level dict entry holding the state dict ("module"), or
 * NULL when the pickle's root is the state dict.  Every value under it must
 * be a tensor; other top-level entries are parsed but never interpreted.
 * On failure *out is NULL. */
cv_status cv_pt_open(const char *path, const char *top_key, cv_pt **out, cv_error *err);

/* Same, on an archive already in memory (kept alive by the caller until
 * cv_pt_close); `name` stands for the file in messages. */
cv_status cv_pt_open_mem(const void *buf, size_t size, const char *name, const char *top_key, cv_pt **out,
                         cv_error *err);

size_t cv_pt_count(const cv_pt *pt);
const cv_pt_tensor *cv_pt_at(const cv_pt *pt, size_t i);   /* pickle order; NULL past the end */
const cv_pt_tensor *cv_pt_find(const cv_pt *pt, const char *name);
void cv_pt_close(cv_pt *pt);   /* NULL is fine */

#ifdef __cplusplus
}
#endif
#endif
