/* sp_model.h — the parts of a SentencePiece ModelProto (sentencepiece_model.proto)
 * that encoding and decoding need, read from the protobuf wire format by hand,
 * or filled from a GGUF (tokenizer_gguf.c).  Internal to the tokenizer. */
#ifndef CV_SP_MODEL_H
#define CV_SP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

/* ModelProto.SentencePiece.Type (same numbers as llama.cpp's token types). */
enum {
    CV_SP_NORMAL = 1,
    CV_SP_UNKNOWN = 2,
    CV_SP_CONTROL = 3,
    CV_SP_USER_DEFINED = 4,
    CV_SP_UNUSED = 5,
    CV_SP_BYTE = 6
};

/* TrainerSpec.ModelType */
enum { CV_SP_UNIGRAM = 1, CV_SP_BPE = 2, CV_SP_WORD = 3, CV_SP_CHAR = 4 };

typedef struct {
    size_t n;             /* pieces */
    char **piece;         /* n NUL-terminated copies (a piece may hold NUL: use len) */
    uint32_t *len;        /* n */
    float *score;         /* n */
    uint8_t *type;        /* n, CV_SP_* */
    /* TrainerSpec */
    int model_type;
    bool byte_fallback;
    bool treat_whitespace_as_suffix;
    char *unk_surface;    /* NULL: the default " \xE2\x81\x87 " */
    size_t unk_surface_len;
    /* NormalizerSpec */
    char *norm_name;      /* may be NULL */
    uint8_t *charsmap;    /* precompiled_charsmap, may be NULL */
    size_t charsmap_len;
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    size_t denorm_charsmap_len; /* a denormalizer is not supported (> 0 is refused) */
} cv_sp_model;

/* Parses a serialized ModelProto.  name is used in messages only.  Each
 * string in extra (n_extra of them) is appended as a piece of score 0 and
 * type NORMAL, as icetk's TextTokenizer.add_special_tokens does. */
cv_status cv_sp_model_parse(const uint8_t *buf, size_t size, const char *name, const char *const *extra,
                            size_t n_extra, cv_sp_model *m, cv_error *err);

/* Allocates n pieces (zeroed) and sets the proto defaults. */
cv_status cv_sp_model_init(cv_sp_model *m, size_t n, cv_error *err);
/* Sets piece i to a copy of s (len bytes). */
cv_status cv_sp_model_set_piece(cv_sp_model *m, size_t i, const char *s, size_t len, cv_error *err);
void cv_sp_model_free(cv_sp_model *m);

#endif
