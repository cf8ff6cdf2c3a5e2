/* sp_normalize.h — SentencePiece's normalizer (normalizer.cc): the
 * precompiled charsmap (a darts-clone double-array trie over UTF-8 bytes whose
 * values point at NUL-terminated replacement strings), user-defined symbols
 * kept verbatim, invalid UTF-8 bytes replaced one by one with U+FFFD, the
 * whitespace rules (remove_extra_whitespaces, add_dummy_prefix,
 * treat_whitespace_as_suffix) and the escape of ' ' as U+2581.  Also the
 * UTF-8 helpers of SentencePiece's util.h.  Internal to the tokenizer. */
#ifndef CV_SP_NORMALIZE_H
#define CV_SP_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"
#include "sp_model.h"
#include "sp_trie.h"

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t n, cap;
} cv_sp_buf;

cv_status cv_sp_buf_reserve(cv_sp_buf *b, size_t extra, cv_error *err);
cv_status cv_sp_buf_add(cv_sp_buf *b, const void *s, size_t n, cv_error *err);

typedef struct {
    uint32_t *units;      /* the double array, host order; NULL: no charsmap */
    size_t n_units;
    const char *strs;     /* the replacement strings (inside the model's charsmap) */
    size_t strs_len;
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces, suffix;
    const cv_sp_trie *user; /* user-defined symbols, never normalized; may be empty */
    const char *name;       /* for messages */
} cv_sp_normalizer;

/* Checks the charsmap blob (u32 trie size, trie, strings) like
 * Normalizer::DecodePrecompiledCharsMap; keeps pointers into m. */
cv_status cv_sp_normalizer_init(cv_sp_normalizer *nz, const cv_sp_model *m, const cv_sp_trie *user,
                                const char *name, cv_error *err);
void cv_sp_normalizer_free(cv_sp_normalizer *nz);

/* Normalizer::Normalize: appends the normalized form of in[0..n) to out
 * (out->n is reset first). */
cv_status cv_sp_normalize(const cv_sp_normalizer *nz, const char *in, size_t n, cv_sp_buf *out, cv_error *err);

/* string_util::OneCharLen: 1..4 from the lead byte alone. */
static inline size_t cv_sp_one_char_len(uint8_t b)
{
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[b >> 4];
}

/* string_util::IsValidDecodeUTF8: *mblen bytes form one valid character
 * (U+FFFD itself counts as valid); invalid: false and *mblen = 1. */
bool cv_sp_valid_utf8(const uint8_t *s, size_t n, size_t *mblen);

#endif
