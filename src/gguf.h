/* gguf.h — GGUF model files (version 3; version 2 has the same layout and is
 * read too): a read-only mmap reader that validates everything, a streaming
 * writer, and the dump behind `cogvideo info FILE.gguf`.
 *
 * Layout (docs/gguf.md of ggml): "GGUF", u32 version, u64 tensor_count,
 * u64 kv_count, kv pairs (string key, u32 value type, value), tensor infos
 * (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset),
 * zero padding to the alignment (metadata "general.alignment", u32, default
 * 32), then the data section; each tensor's offset is relative to the data
 * section and a multiple of the alignment.  Strings are u64 length + bytes.
 * Everything is little-endian; big-endian files are rejected.
 *
 * DIMENSION ORDER: GGUF stores ne[0] = the fastest-varying (innermost)
 * dimension, i.e. the REVERSE of the PyTorch / numpy shape.  A PyTorch Linear
 * weight of shape (out, in) has ne = {in, out}.  cv_gguf_tensor.ne is in GGUF
 * order; cv_gguf_tensor_shape() and everything in the writer use PyTorch order.
 *
 * What the reader rejects (each with a one-line message naming the file):
 * bad magic, version other than 2/3, truncation anywhere, counts and lengths
 * that the remaining bytes cannot hold (checked before any allocation), keys
 * that are empty / longer than 65535 / not printable ASCII, duplicate keys or
 * tensor names, unknown value types, nested arrays (allowed by the spec, but
 * written by nobody and rejected by ggml too: CV_ERR_UNSUPPORTED), bool bytes
 * other than 0/1, general.alignment not a uint32 power of two, tensor names
 * empty / longer than 64 bytes / with control characters, more than 4 dims,
 * element counts or byte sizes that overflow, unknown or removed ggml types
 * (CV_ERR_UNSUPPORTED), ne[0] not a multiple of the type's block size,
 * offsets not a multiple of the alignment, data outside the file, and
 * tensors whose data overlap.  Every ggml type of the spec is known (so
 * `cogvideo info` works on any llama.cpp file); which types a model may use
 * is the model loader's business (see cv_gguf_expect_tensor).
 * The host must be little-endian (checked at compile time). */
#ifndef CV_GGUF_H
#define CV_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cv_status.h"
#include "cv_types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CV_GGUF_DEFAULT_ALIGNMENT 32
#define CV_GGUF_MAX_DIMS 4
#define CV_GGUF_MAX_NAME 64 /* bytes in a tensor name (spec); ggml itself needs < 64 */

/* Metadata value types (numbering of the spec). */
typedef enum {
    CV_GGUF_UINT8 = 0,
    CV_GGUF_INT8 = 1,
    CV_GGUF_UINT16 = 2,
    CV_GGUF_INT16 = 3,
    CV_GGUF_UINT32 = 4,
    CV_GGUF_INT32 = 5,
    CV_GGUF_FLOAT32 = 6,
    CV_GGUF_BOOL = 7,
    CV_GGUF_STRING = 8,
    CV_GGUF_ARRAY = 9,
    CV_GGUF_UINT64 = 10,
    CV_GGUF_INT64 = 11,
    CV_GGUF_FLOAT64 = 12
} cv_gguf_vtype;

/* "uint8" ... "float64" (the spec's names, used in messages), or "unknown". */
const char *cv_gguf_vtype_name(cv_gguf_vtype t);
/* Bytes of one value: 1, 2, 4 or 8; 0 for string, array and unknown types. */
size_t cv_gguf_vtype_size(cv_gguf_vtype t);

/* ggml tensor types: "f32", "f16", "q8_0", "bf16", ... or NULL if unknown. */
const char *cv_gguf_type_name(uint32_t ggml_type);
/* Block size (elements) and bytes per block; false if the type is unknown. */
bool cv_gguf_type_info(uint32_t ggml_type, uint32_t *block, uint32_t *block_bytes);

/* ------------------------------------------------------------------ reader */

typedef struct cv_gguf cv_gguf;

/* A string value: s is a NUL-terminated copy (it may also contain NUL bytes
 * before s[len]); len excludes the terminator. */
typedef struct {
    const char *s;
    uint64_t len;
} cv_gguf_str;

typedef struct {
    const char *key;          /* NUL-terminated, printable ASCII */
    cv_gguf_vtype type;       /* CV_GGUF_ARRAY for arrays */
    cv_gguf_vtype elem_type;  /* arrays: the element type; scalars: == type */
    uint64_t count;           /* arrays: number of elements; scalars: 1 */
    /* Numbers and bools (scalar or array): count packed little-endian values
     * inside the mapping, at any alignment: read them with memcpy.  Bools are
     * one byte, verified to be 0 or 1.  NULL for strings. */
    const void *data;
    const cv_gguf_str *str;   /* string or array of strings: count entries; else NULL */
} cv_gguf_kv;

typedef struct {
    const char *name;      /* NUL-terminated */
    uint32_t type;         /* ggml type number: compare with CV_TYPE_F32 etc. */
    int ndim;              /* as stored, 0..4 */
    int64_t ne[CV_GGUF_MAX_DIMS]; /* GGUF order: ne[0] fastest; unused entries are 1 */
    uint64_t offset;       /* relative to the data section, as stored */
    uint64_t file_offset;  /* absolute position of the data in the file */
    size_t nelements;
    size_t nbytes;
    const void *data;      /* into the read-only mapping (valid until close);
                            * its address is a multiple of the alignment when
                            * the alignment is at most the page size */
} cv_gguf_tensor;

cv_status cv_gguf_open(const char *path, cv_gguf **g, cv_error *err);
void cv_gguf_close(cv_gguf *g); /* NULL is fine */

const char *cv_gguf_path(const cv_gguf *g);
uint32_t cv_gguf_version(const cv_gguf *g);
uint32_t cv_gguf_alignment(const cv_gguf *g);
uint64_t cv_gguf_data_offset(const cv_gguf *g); /* start of the data section */
uint64_t cv_gguf_file_size(const cv_gguf *g);

/* Metadata, in file order. */
size_t cv_gguf_kv_count(const cv_gguf *g);
const cv_gguf_kv *cv_gguf_kv_at(const cv_gguf *g, size_t i);
const cv_gguf_kv *cv_gguf_find_kv(const cv_gguf *g, const char *key); /* NULL if absent */

/* Typed getters: CV_ERR_FORMAT when the key is missing
 * ("x.gguf: missing metadata key 'cogvideo.hidden' (expected uint32)") or has
 * another type ("x.gguf: metadata key 'cogvideo.hidden' has type string
 * (expected uint32)").  No implicit conversions, except in _get_uint. */
cv_status cv_gguf_get_u8(const cv_gguf *g, const char *key, uint8_t *v, cv_error *err);
cv_status cv_gguf_get_i8(const cv_gguf *g, const char *key, int8_t *v, cv_error *err);
cv_status cv_gguf_get_u16(const cv_gguf *g, const char *key, uint16_t *v, cv_error *err);
cv_status cv_gguf_get_i16(const cv_gguf *g, const char *key, int16_t *v, cv_error *err);
cv_status cv_gguf_get_u32(const cv_gguf *g, const char *key, uint32_t *v, cv_error *err);
cv_status cv_gguf_get_i32(const cv_gguf *g, const char *key, int32_t *v, cv_error *err);
cv_status cv_gguf_get_u64(const cv_gguf *g, const char *key, uint64_t *v, cv_error *err);
cv_status cv_gguf_get_i64(const cv_gguf *g, const char *key, int64_t *v, cv_error *err);
cv_status cv_gguf_get_f32(const cv_gguf *g, const char *key, float *v, cv_error *err);
cv_status cv_gguf_get_f64(const cv_gguf *g, const char *key, double *v, cv_error *err);
cv_status cv_gguf_get_bool(const cv_gguf *g, const char *key, bool *v, cv_error *err);
/* *s stays valid until cv_gguf_close; len may be NULL. */
cv_status cv_gguf_get_str(const cv_gguf *g, const char *key, const char **s, size_t *len, cv_error *err);
/* Any integer type holding a value >= 0 (the spec asks readers to accept
 * both uint32 and uint64 for counts). */
cv_status cv_gguf_get_uint(const cv_gguf *g, const char *key, uint64_t *v, cv_error *err);
/* An array whose elements have type elem; the elements are in (*kv)->data
 * or (*kv)->str, (*kv)->count of them. */
cv_status cv_gguf_get_array(const cv_gguf *g, const char *key, cv_gguf_vtype elem,
                            const cv_gguf_kv **kv, cv_error *err);

/* Tensors, in file order. */
size_t cv_gguf_tensor_count(const cv_gguf *g);
const cv_gguf_tensor *cv_gguf_tensor_at(const cv_gguf *g, size_t i);
const cv_gguf_tensor *cv_gguf_find_tensor(const cv_gguf *g, const char *name); /* NULL if absent */
/* CV_ERR_FORMAT "x.gguf: missing tensor 'name'" when absent. */
cv_status cv_gguf_get_tensor(const cv_gguf *g, const char *name, const cv_gguf_tensor **t, cv_error *err);
/* The tensor, checked to have type `type` (or any type if type is
 * CV_GGUF_ANY_TYPE) and the PyTorch-order shape (ndim, shape):
 * "x.gguf: tensor 'w' has shape (4, 3) (expected (3, 4))". */
#define CV_GGUF_ANY_TYPE UINT32_MAX
cv_status cv_gguf_expect_tensor(const cv_gguf *g, const char *name, uint32_t type, int ndim,
                                const int64_t *shape, const cv_gguf_tensor **t, cv_error *err);
/* The PyTorch-order shape (ne reversed) into shape[0..ndim-1]; returns ndim. */
int cv_gguf_tensor_shape(const cv_gguf_tensor *t, int64_t shape[CV_GGUF_MAX_DIMS]);

/* What `cogvideo info FILE.gguf` prints: version, counts, alignment, every
 * metadata key with type and value (arrays: type, count, first elements),
 * every tensor with type, PyTorch-order shape, offset and bytes, and totals.
 * The only function of this module that writes to a FILE. */
cv_status cv_gguf_print_info(const char *path, FILE *out, cv_error *err);

/* ------------------------------------------------------------------ writer
 *
 *   cv_gguf_writer *w;
 *   cv_gguf_writer_new(&w, "out.gguf", 0, err);        // 0: alignment 32
 *   cv_gguf_writer_set_str(w, "general.architecture", "cogvideo", err);
 *   cv_gguf_writer_add_tensor(w, "a.weight", CV_TYPE_F16, 2, shape, ptr, err);
 *   cv_gguf_writer_write(w, err);                      // or begin/write_data/finish
 *   cv_gguf_writer_free(w);
 *
 * Metadata is written in the order it is set, tensors in the order they are
 * added, each tensor's data padded with zeros to the alignment (the last one
 * too).  general.alignment is written (first) only when it is not 32.  Data
 * pointers are borrowed: they must stay valid until the file is written.
 * Streaming, for models too big to hold twice: add every tensor with data
 * NULL, call _begin (writes header and tensor infos), then _write_data with
 * the bytes of tensor 0, tensor 1, ... in order, in chunks of any size, and
 * _finish.  The file is written to a temporary name and renamed by _write /
 * _finish; any failure, or _free before the end, removes it. */

typedef struct cv_gguf_writer cv_gguf_writer;

/* alignment: 0 for the default 32, else a power of two, 8 .. 1 MiB. */
cv_status cv_gguf_writer_new(cv_gguf_writer **w, const char *path, uint32_t alignment, cv_error *err);
void cv_gguf_writer_free(cv_gguf_writer *w); /* NULL is fine */

/* A scalar number or bool of the given type, *value in host representation
 * (bool: a C bool).  Keys must be unique, 1..65535 printable ASCII bytes
 * without spaces; "general.alignment" is reserved for the writer. */
cv_status cv_gguf_writer_set(cv_gguf_writer *w, const char *key, cv_gguf_vtype type,
                             const void *value, cv_error *err);
cv_status cv_gguf_writer_set_u32(cv_gguf_writer *w, const char *key, uint32_t v, cv_error *err);
cv_status cv_gguf_writer_set_i32(cv_gguf_writer *w, const char *key, int32_t v, cv_error *err);
cv_status cv_gguf_writer_set_u64(cv_gguf_writer *w, const char *key, uint64_t v, cv_error *err);
cv_status cv_gguf_writer_set_f32(cv_gguf_writer *w, const char *key, float v, cv_error *err);
cv_status cv_gguf_writer_set_bool(cv_gguf_writer *w, const char *key, bool v, cv_error *err);
cv_status cv_gguf_writer_set_str(cv_gguf_writer *w, const char *key, const char *s, cv_error *err);
/* A string of len bytes (may contain NUL). */
cv_status cv_gguf_writer_set_strn(cv_gguf_writer *w, const char *key, const char *s, size_t len,
                                  cv_error *err);
/* An array of count numbers or bools of type elem, packed in host
 * representation (bool arrays: one byte per element, 0 or 1). */
cv_status cv_gguf_writer_set_array(cv_gguf_writer *w, const char *key, cv_gguf_vtype elem,
                                   const void *values, size_t count, cv_error *err);
/* An array of count strings; lens may be NULL (then strlen). */
cv_status cv_gguf_writer_set_str_array(cv_gguf_writer *w, const char *key, const char *const *strs,
                                       const size_t *lens, size_t count, cv_error *err);

/* A tensor of a known ggml type and PyTorch-order shape (0..4 dims, ne[0] =
 * shape[ndim-1] must be a multiple of the type's block size).  data holds
 * the nbytes of the tensor, or is NULL for streaming. */
cv_status cv_gguf_writer_add_tensor(cv_gguf_writer *w, const char *name, uint32_t type, int ndim,
                                    const int64_t *shape, const void *data, cv_error *err);

cv_status cv_gguf_writer_write(cv_gguf_writer *w, cv_error *err);
cv_status cv_gguf_writer_begin(cv_gguf_writer *w, cv_error *err);
cv_status cv_gguf_writer_write_data(cv_gguf_writer *w, const void *data, size_t n, cv_error *err);
cv_status cv_gguf_writer_finish(cv_gguf_writer *w, cv_error *err);

#ifdef __cplusplus
}
#endif
#endif
