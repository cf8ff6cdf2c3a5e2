/* tokenizer.h — the CogVideo text tokenizer: SentencePiece (unigram and BPE,
 * byte fallback, the precompiled-charsmap normalizer) with icetk's layer on
 * top, producing the ids icetk's IceTokenizer returns.
 *
 * icetk (THUDM/icetk, ice_tokenizer.py + text_tokenizer.py), mirrored here:
 *   - text ids are SentencePiece ids + image_tokens (20000): ids [0, 20000)
 *     are image tokens;
 *   - IceTokenizer.encode(text) encodes the text as given (its default
 *     ignore_linebreak=True leaves "\n" alone; "<n>" in the text is the
 *     user-defined piece <n>);
 *   - IceTokenizer.decode(ids) decodes, then replaces every "<n>" by "\n";
 *   - add_special_tokens(['<start_of_image>', '<start_of_english>',
 *     '<start_of_chinese>']), as CogVideo's pipeline calls it, appends pieces
 *     of score 0 and type NORMAL to the model: loading an ice_text.model
 *     does the same (cv_tokenizer_opts.specials);
 *   - tokenizer['<n>'] is the piece's id + image_tokens (unknown pieces give
 *     the <unk> id, as SentencePiece's PieceToId does).
 * A tokenizer is immutable after loading: one may be shared by threads. */
#ifndef CV_TOKENIZER_H
#define CV_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"
#include "gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CV_TOKENIZER_IMAGE_TOKENS 20000

typedef struct cv_tokenizer cv_tokenizer;

typedef struct {
    int64_t image_tokens;        /* id offset of text pieces; -1 (default): the value
                                  * stored in a GGUF, 20000 for a .model */
    const char *const *specials; /* pieces appended to a .model; default icetk's three */
    size_t n_specials;           /* ignored when specials is NULL */
} cv_tokenizer_opts;

void cv_tokenizer_opts_default(cv_tokenizer_opts *o);

/* A SentencePiece .model file (ModelProto), or a GGUF holding a tokenizer
 * (chosen by the file's first bytes).  opts may be NULL (defaults);
 * opts->image_tokens >= 0 overrides the offset; a GGUF's pieces already
 * include the specials, so they are not appended again. */
cv_status cv_tokenizer_load(const char *path, const cv_tokenizer_opts *opts, cv_tokenizer **tok, cv_error *err);
/* From the serialized ModelProto in buf; name is used in messages. */
cv_status cv_tokenizer_from_proto(const void *buf, size_t size, const char *name, const cv_tokenizer_opts *opts,
                                  cv_tokenizer **tok, cv_error *err);
/* From the tokenizer.ggml.* keys of an open GGUF (see tokenizer_gguf.c). */
cv_status cv_tokenizer_from_gguf(const cv_gguf *g, const cv_tokenizer_opts *opts, cv_tokenizer **tok,
                                 cv_error *err);
void cv_tokenizer_free(cv_tokenizer *tok); /* NULL is fine */

/* Writes the tokenizer.ggml.* keys (and cogvideo.tokenizer.*) to w. */
cv_status cv_tokenizer_write_gguf(const cv_tokenizer *tok, cv_gguf_writer *w, cv_error *err);
/* A GGUF file holding only the tokenizer (cogvideo convert-tokenizer). */
cv_status cv_tokenizer_save_gguf(const cv_tokenizer *tok, const char *path, cv_error *err);

/* The result of an encode: n ids (image offset added) and the n pieces as
 * SentencePiece's EncodeAsPieces gives them (byte pieces "<0xNN>", unknown
 * text as itself), piece i = text + off[i] .. text + off[i+1]. */
typedef struct {
    int64_t *ids;
    size_t n;
    char *text;  /* the pieces, concatenated (NUL-terminated) */
    size_t *off; /* n + 1 offsets */
    size_t cap, text_cap;
} cv_tokens;

void cv_tokens_free(cv_tokens *t); /* frees the arrays, keeps t; zeroed t is empty */

/* IceTokenizer.encode / tokenize.  text need not be valid UTF-8 (invalid
 * bytes become U+FFFD, as SentencePiece does) and may hold NUL bytes.
 * out is reused (grown as needed) across calls. */
cv_status cv_tokenizer_encode(const cv_tokenizer *tok, const char *text, size_t len, cv_tokens *out, cv_error *err);

/* IceTokenizer.decode: *text (malloc'ed, NUL-terminated, *len bytes) from n
 * ids; an id outside [image_tokens, image_tokens + pieces) is CV_ERR_ARG. */
cv_status cv_tokenizer_decode(const cv_tokenizer *tok, const int64_t *ids, size_t n, char **text, size_t *len,
                              cv_error *err);

/* tokenizer[piece]: the id (+ image offset) of a piece, the <unk> id if none. */
int64_t cv_tokenizer_piece_id(const cv_tokenizer *tok, const char *piece, size_t len);
/* tokenizer[id]: the piece of a text id, NULL (and *len 0) when out of range. */
const char *cv_tokenizer_piece(const cv_tokenizer *tok, int64_t id, size_t *len);
size_t cv_tokenizer_n_pieces(const cv_tokenizer *tok);
int64_t cv_tokenizer_image_tokens(const cv_tokenizer *tok);
/* "unigram" or "bpe" */
const char *cv_tokenizer_kind(const cv_tokenizer *tok);

/* CogVideo's duration prefix text: Python's str(float(seconds)) + "秒"
 * ("4.0秒", "0.5秒", "1e-05秒").  Returns the length, or 0 if n is too small
 * or seconds is not finite. */
size_t cv_tokenizer_duration_text(double seconds, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
