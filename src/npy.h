/* npy.h — NumPy .npy files: the tensor format of tests, tools and golden runs.
 *
 * Reading: format versions 1.0, 2.0 and 3.0; C order only; little-endian
 * dtypes f4 f2 f8 i1 u1 i4 i8 b1 ('<' or '=' byte order for multi-byte types,
 * '|' '<' '=' for one-byte types; '=' is "native", and every host we build
 * for is little-endian).  Shapes have at most CV_NPY_MAX_DIMS dimensions;
 * 0-d arrays and zero-size dimensions are fine.  The file must hold exactly
 * the header and the data: trailing bytes are an error (numpy itself ignores
 * them, but numpy never writes them, and a longer file almost always means
 * the header's shape or dtype does not describe the data).
 *
 * Writing: the header exactly as numpy.save writes it (sorted keys, repr()
 * of the shape, numpy's spare space for growing the first axis, padding to a
 * multiple of 64 bytes), version 1.0, or 2.0 when the header needs it, through
 * a temporary file renamed at the end (see outfile.h).
 *
 * Errors are one line naming the file, e.g.
 *   "x.npy: Fortran-order arrays are not supported (expected fortran_order: False)". */
#ifndef CV_NPY_H
#define CV_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CV_DT_F32,  /* '<f4' */
    CV_DT_F16,  /* '<f2' IEEE binary16 */
    CV_DT_F64,  /* '<f8' */
    CV_DT_I8,   /* '|i1' */
    CV_DT_U8,   /* '|u1' */
    CV_DT_I32,  /* '<i4' */
    CV_DT_I64,  /* '<i8' */
    CV_DT_BOOL  /* '|b1' one byte, 0 or 1 */
} cv_dtype;

#define CV_NPY_MAX_DIMS 8

typedef struct {
    cv_dtype dtype;
    int ndim;                        /* 0 .. CV_NPY_MAX_DIMS */
    int64_t shape[CV_NPY_MAX_DIMS];  /* numpy order (last axis fastest); unused = 0 */
    size_t count;                    /* product of shape (1 for ndim 0) */
    size_t nbytes;                   /* count * cv_dtype_size(dtype) */
    void *data;                      /* malloc'ed, never NULL after a successful load */
} cv_npy;

/* Bytes per element (1, 2, 4 or 8), and numpy's descr string ("<f4", ...). */
size_t cv_dtype_size(cv_dtype dt);
const char *cv_dtype_descr(cv_dtype dt);

/* Loads the whole file.  On failure *out is zeroed (cv_npy_free on it is safe). */
cv_status cv_npy_load(const char *path, cv_npy *out, cv_error *err);

/* Writes data (count = product of shape elements of dtype dt, C order). */
cv_status cv_npy_save(const char *path, cv_dtype dt, int ndim, const int64_t *shape,
                      const void *data, cv_error *err);

void cv_npy_free(cv_npy *a);

/* Convenience loaders converting to one element type.  On success *data is
 * a fresh malloc'ed array of out->count elements (free it with free()), and
 * out (may be NULL) receives dtype/ndim/shape/count with out->data == NULL.
 *   _f32: accepts f32, f16 and f64 (f64 is rounded to nearest float);
 *   _i64: accepts i8, u8, i32, i64 and bool (0/1).
 * Any other dtype is CV_ERR_FORMAT: "x.npy: dtype '<f4' cannot be read as
 * int64 (expected an integer or bool array)". */
cv_status cv_npy_load_f32(const char *path, cv_npy *out, float **data, cv_error *err);
cv_status cv_npy_load_i64(const char *path, cv_npy *out, int64_t **data, cv_error *err);

#ifdef __cplusplus
}
#endif
#endif
