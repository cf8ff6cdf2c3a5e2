/* ckpt_pickle.h — the subset of Python's pickle that torch.save emits,
 * evaluated WITHOUT executing anything.
 *
 * A state dict pickled with protocol 2 is a tree of dicts, tuples, strings,
 * numbers and tensors.  Tensors are REDUCE calls of
 * torch._utils._rebuild_tensor_v2 on a storage, itself a persistent id
 * ('storage', torch.FloatStorage, key, location, numel) naming the zip entry
 * data/<key>.  This machine interprets exactly that: GLOBAL only records a
 * name; REDUCE/NEWOBJ/BUILD act on an allow-list (_rebuild_tensor_v2,
 * _rebuild_parameter, collections.OrderedDict) and turn every other call into
 * an opaque "unknown object" (DeepSpeed stores numpy RNG states, argparse
 * Namespaces, ... next to the weights: a caller that only wants ['module']
 * never looks at them).  An opcode outside the subset is an error naming it
 * and its offset.  Stack, mark stack and memo are bounded; every read checks
 * the bytes left.
 *
 * Values are owned by the cv_pickle and freed with it; strings and byte
 * strings point into the caller's buffer, which must outlive the cv_pickle. */
#ifndef CV_CKPT_PICKLE_H
#define CV_CKPT_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CV_PT_MAX_DIMS 8

/* Element types of torch storages. */
typedef enum {
    CV_PT_F32, CV_PT_F16, CV_PT_BF16, CV_PT_F64,
    CV_PT_I64, CV_PT_I32, CV_PT_I16, CV_PT_I8, CV_PT_U8, CV_PT_BOOL
} cv_pt_dtype;

size_t cv_pt_dtype_size(cv_pt_dtype t);
const char *cv_pt_dtype_name(cv_pt_dtype t);   /* "f32", "bf16", ... */

typedef enum {
    CV_PV_NONE, CV_PV_BOOL, CV_PV_INT, CV_PV_FLOAT, CV_PV_STR, CV_PV_BYTES,
    CV_PV_TUPLE, CV_PV_LIST, CV_PV_DICT,
    CV_PV_GLOBAL,   /* a "module.name" that was never imported */
    CV_PV_STORAGE,  /* a persistent id ('storage', type, key, location, numel) */
    CV_PV_TENSOR,   /* _rebuild_tensor_v2(storage, offset, size, stride, ...) */
    CV_PV_UNKNOWN   /* the result of any other call: opaque */
} cv_pv_kind;

typedef struct cv_pv cv_pv;

typedef struct {
    const char *p;   /* not NUL-terminated; may contain any byte */
    size_t n;
} cv_pstr;

struct cv_pv {
    cv_pv_kind kind;
    union {
        int b;                          /* BOOL */
        int64_t i;                      /* INT */
        double f;                       /* FLOAT */
        cv_pstr s;                      /* STR, BYTES */
        struct {                        /* TUPLE, LIST: items; DICT: keys, vals */
            cv_pv **items, **vals;
            size_t n, cap;
        } seq;
        struct { cv_pstr mod, name; } global;   /* GLOBAL, and UNKNOWN's callable (if known) */
        struct {
            cv_pt_dtype dtype;
            cv_pstr key;                /* zip entry data/<key> */
            int64_t numel;
        } storage;
        struct {
            const cv_pv *storage;       /* kind CV_PV_STORAGE */
            int64_t offset;             /* in elements */
            int ndim;
            int64_t shape[CV_PT_MAX_DIMS], stride[CV_PT_MAX_DIMS];
        } tensor;
    } u;
};

typedef struct cv_pickle cv_pickle;

/* Runs the pickle in buf[0..len).  `what` prefixes error messages (e.g.
 * "x.pt: archive/data.pkl").  On failure *out is NULL. */
cv_status cv_pickle_load(const void *buf, size_t len, const char *what, cv_pickle **out, cv_error *err);

/* The value STOP returned. */
const cv_pv *cv_pickle_root(const cv_pickle *pk);

/* The value of string key `key` in a dict value, or NULL. */
const cv_pv *cv_pv_dict_get(const cv_pv *dict, const char *key);

/* A short name of a value's kind ("dict", "unknown object", ...). */
const char *cv_pv_kind_name(cv_pv_kind k);

void cv_pickle_free(cv_pickle *pk);

#ifdef __cplusplus
}
#endif
#endif
