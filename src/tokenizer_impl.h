/* tokenizer_impl.h — the tokenizer's internals shared by tokenizer.c (load,
 * encode driver, decode, icetk layer), sp_encode.c (the unigram and BPE
 * segmenters) and tokenizer_gguf.c (the GGUF store).  Not installed. */
#ifndef CV_TOKENIZER_IMPL_H
#define CV_TOKENIZER_IMPL_H

#include "sp_model.h"
#include "sp_normalize.h"
#include "sp_trie.h"
#include "tokenizer.h"

struct cv_tokenizer {
    cv_sp_model m;
    cv_sp_trie pieces;   /* NORMAL, USER_DEFINED, UNUSED: what the segmenters see */
    cv_sp_trie reserved; /* CONTROL, UNKNOWN, BYTE (ModelInterface's reserved_id_map_) */
    cv_sp_trie user;     /* USER_DEFINED: the PrefixMatcher */
    cv_sp_normalizer nz;
    int32_t unk_id;
    int32_t byte_id[256]; /* id of "<0xNN>", -1 without byte fallback */
    float min_score, max_score; /* over NORMAL pieces (unigram_model.cc) */
    bool has_unused;     /* any UNUSED piece (BPE then keeps its merges) */
    int64_t image_tokens;
    char name[256];      /* the file, for messages */
};

/* One segment of the normalized text: bytes [off, off + len) as piece id. */
typedef struct {
    size_t off, len;
    int32_t id;
} cv_sp_span;

typedef struct {
    cv_sp_span *v;
    size_t n, cap;
} cv_sp_spans;

cv_status cv_sp_spans_push(cv_sp_spans *s, size_t off, size_t len, int32_t id, cv_error *err);

/* ModelInterface::PieceToId: reserved pieces first, then the others, else <unk>. */
int32_t cv_sp_piece_to_id(const cv_tokenizer *t, const char *s, size_t n);

/* unigram::Model::EncodeOptimized and bpe::Model::SampleEncode (alpha 0)
 * over the normalized text s[0..n); spans are appended to out (out->n = 0 first). */
cv_status cv_sp_encode_unigram(const cv_tokenizer *t, const char *s, size_t n, cv_sp_spans *out, cv_error *err);
cv_status cv_sp_encode_bpe(const cv_tokenizer *t, const char *s, size_t n, cv_sp_spans *out, cv_error *err);

/* Builds the tries and checks the pieces like ModelInterface::InitializePieces;
 * takes ownership of *m (freed on failure too). */
cv_status cv_tokenizer_build(cv_sp_model *m, const char *name, int64_t image_tokens, cv_tokenizer **tok,
                             cv_error *err);

#endif
