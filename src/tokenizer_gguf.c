/* tokenizer_gguf.c — the tokenizer in GGUF metadata, under llama.cpp's keys
 * where llama.cpp has one (its token types use SentencePiece's numbers; its
 * "t5" tokenizer is a SentencePiece unigram with a precompiled charsmap, its
 * "llama" tokenizer a SentencePiece BPE):
 *   tokenizer.ggml.model                     string  "t5" (unigram) | "llama" (BPE)
 *   tokenizer.ggml.tokens                    string[n] the pieces (icetk's specials included)
 *   tokenizer.ggml.scores                    f32[n]
 *   tokenizer.ggml.token_type                i32[n]  1 normal 2 unknown 3 control 4 user-defined 5 unused 6 byte
 *   tokenizer.ggml.unknown_token_id          u32
 *   tokenizer.ggml.add_space_prefix          bool    NormalizerSpec.add_dummy_prefix
 *   tokenizer.ggml.remove_extra_whitespaces  bool
 *   tokenizer.ggml.precompiled_charsmap      u8[]    NormalizerSpec.precompiled_charsmap (absent: identity)
 * and what llama.cpp has no key for:
 *   cogvideo.tokenizer.escape_whitespaces, .treat_whitespace_as_suffix,
 *   .byte_fallback (bool), .unk_surface, .normalizer (string, optional)
 *   cogvideo.image_tokens                    u32     the id offset (20000), written by save_gguf */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#define K_MODEL "tokenizer.ggml.model"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_SCORES "tokenizer.ggml.scores"
#define K_TYPES "tokenizer.ggml.token_type"
#define K_UNK "tokenizer.ggml.unknown_token_id"
#define K_SPACE_PREFIX "tokenizer.ggml.add_space_prefix"
#define K_REMOVE_WS "tokenizer.ggml.remove_extra_whitespaces"
#define K_CHARSMAP "tokenizer.ggml.precompiled_charsmap"
#define K_ESCAPE "cogvideo.tokenizer.escape_whitespaces"
#define K_SUFFIX "cogvideo.tokenizer.treat_whitespace_as_suffix"
#define K_BYTE_FALLBACK "cogvideo.tokenizer.byte_fallback"
#define K_UNK_SURFACE "cogvideo.tokenizer.unk_surface"
#define K_NORMALIZER "cogvideo.tokenizer.normalizer"
#define K_IMAGE_TOKENS "cogvideo.image_tokens"

cv_status cv_tokenizer_write_gguf(const cv_tokenizer *t, cv_gguf_writer *w, cv_error *err)
{
    const cv_sp_model *m = &t->m;
    int32_t *types = malloc(m->n * sizeof *types);
    size_t *lens = malloc(m->n * sizeof *lens);
    if (!types || !lens) {
        free(types);
        free(lens);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu pieces)", m->n);
    }
    for (size_t i = 0; i < m->n; i++) {
        types[i] = m->type[i];
        lens[i] = m->len[i];
    }
    cv_status s = cv_gguf_writer_set_str(w, K_MODEL, m->model_type == CV_SP_BPE ? "llama" : "t5", err);
    if (!s)
        s = cv_gguf_writer_set_str_array(w, K_TOKENS, (const char *const *)m->piece, lens, m->n, err);
    if (!s)
        s = cv_gguf_writer_set_array(w, K_SCORES, CV_GGUF_FLOAT32, m->score, m->n, err);
    if (!s)
        s = cv_gguf_writer_set_array(w, K_TYPES, CV_GGUF_INT32, types, m->n, err);
    free(types);
    free(lens);
    if (!s)
        s = cv_gguf_writer_set_u32(w, K_UNK, (uint32_t)t->unk_id, err);
    if (!s)
        s = cv_gguf_writer_set_bool(w, K_SPACE_PREFIX, m->add_dummy_prefix, err);
    if (!s)
        s = cv_gguf_writer_set_bool(w, K_REMOVE_WS, m->remove_extra_whitespaces, err);
    if (!s && m->charsmap_len)
        s = cv_gguf_writer_set_array(w, K_CHARSMAP, CV_GGUF_UINT8, m->charsmap, m->charsmap_len, err);
    if (!s)
        s = cv_gguf_writer_set_bool(w, K_ESCAPE, m->escape_whitespaces, err);
    if (!s)
        s = cv_gguf_writer_set_bool(w, K_SUFFIX, m->treat_whitespace_as_suffix, err);
    if (!s)
        s = cv_gguf_writer_set_bool(w, K_BYTE_FALLBACK, m->byte_fallback, err);
    if (!s && m->unk_surface)
        s = cv_gguf_writer_set_strn(w, K_UNK_SURFACE, m->unk_surface, m->unk_surface_len, err);
    if (!s && m->norm_name)
        s = cv_gguf_writer_set_str(w, K_NORMALIZER, m->norm_name, err);
    return s;
}

cv_status cv_tokenizer_save_gguf(const cv_tokenizer *t, const char *path, cv_error *err)
{
    cv_gguf_writer *w;
    cv_status s = cv_gguf_writer_new(&w, path, 0, err);
    if (s)
        return s;
    s = cv_gguf_writer_set_str(w, "general.architecture", "cogvideo", err);
    if (!s)
        s = cv_gguf_writer_set_str(w, "general.name", "icetk text tokenizer", err);
    if (!s)
        s = cv_gguf_writer_set_u32(w, K_IMAGE_TOKENS, (uint32_t)t->image_tokens, err);
    if (!s)
        s = cv_tokenizer_write_gguf(t, w, err);
    if (!s)
        s = cv_gguf_writer_write(w, err);
    cv_gguf_writer_free(w);
    return s;
}

/* ------------------------------------------------------------ reading */

static cv_status opt_bool(const cv_gguf *g, const char *key, bool *v, cv_error *err)
{
    return cv_gguf_find_kv(g, key) ? cv_gguf_get_bool(g, key, v, err) : CV_OK;
}

static cv_status read_flags(const cv_gguf *g, cv_sp_model *m, cv_error *err)
{
    const char *kind;
    cv_status s = cv_gguf_get_str(g, K_MODEL, &kind, NULL, err);
    if (s)
        return s;
    if (strcmp(kind, "t5") == 0)
        m->model_type = CV_SP_UNIGRAM;
    else if (strcmp(kind, "llama") == 0)
        m->model_type = CV_SP_BPE;
    else
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: %s is \"%s\" (expected \"t5\" or \"llama\")",
                            cv_gguf_path(g), K_MODEL, kind);
    if ((s = opt_bool(g, K_SPACE_PREFIX, &m->add_dummy_prefix, err)) ||
        (s = opt_bool(g, K_REMOVE_WS, &m->remove_extra_whitespaces, err)) ||
        (s = opt_bool(g, K_ESCAPE, &m->escape_whitespaces, err)) ||
        (s = opt_bool(g, K_SUFFIX, &m->treat_whitespace_as_suffix, err)) ||
        (s = opt_bool(g, K_BYTE_FALLBACK, &m->byte_fallback, err)))
        return s;
    const cv_gguf_kv *kv = cv_gguf_find_kv(g, K_UNK_SURFACE);
    if (kv) {
        const char *u;
        size_t n;
        if ((s = cv_gguf_get_str(g, K_UNK_SURFACE, &u, &n, err)))
            return s;
        if (!(m->unk_surface = malloc(n + 1)))
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
        memcpy(m->unk_surface, u, n + 1);
        m->unk_surface_len = n;
    }
    if (cv_gguf_find_kv(g, K_CHARSMAP)) {
        if ((s = cv_gguf_get_array(g, K_CHARSMAP, CV_GGUF_UINT8, &kv, err)))
            return s;
        if (kv->count && !(m->charsmap = malloc(kv->count)))
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory (charsmap)");
        if (kv->count)
            memcpy(m->charsmap, kv->data, kv->count);
        m->charsmap_len = kv->count;
    }
    return CV_OK;
}

static cv_status read_pieces(const cv_gguf *g, cv_sp_model *m, cv_error *err)
{
    const cv_gguf_kv *tok, *sc, *ty;
    cv_status s;
    if ((s = cv_gguf_get_array(g, K_TOKENS, CV_GGUF_STRING, &tok, err)) ||
        (s = cv_gguf_get_array(g, K_SCORES, CV_GGUF_FLOAT32, &sc, err)) ||
        (s = cv_gguf_get_array(g, K_TYPES, CV_GGUF_INT32, &ty, err)))
        return s;
    if (tok->count == 0 || sc->count != tok->count || ty->count != tok->count)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %llu tokens, %llu scores, %llu token types (expected as many, > 0)",
                            cv_gguf_path(g), (unsigned long long)tok->count, (unsigned long long)sc->count,
                            (unsigned long long)ty->count);
    if ((s = cv_sp_model_init(m, (size_t)tok->count, err)))
        return s;
    for (size_t i = 0; i < m->n; i++) {
        int32_t type;
        memcpy(&m->score[i], (const char *)sc->data + 4 * i, 4);
        memcpy(&type, (const char *)ty->data + 4 * i, 4);
        if (type < CV_SP_NORMAL || type > CV_SP_BYTE)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: %s[%zu] is %d (expected 1..6)", cv_gguf_path(g), K_TYPES, i,
                                (int)type);
        m->type[i] = (uint8_t)type;
        if ((s = cv_sp_model_set_piece(m, i, tok->str[i].s, (size_t)tok->str[i].len, err)))
            return s;
    }
    return CV_OK;
}

cv_status cv_tokenizer_from_gguf(const cv_gguf *g, const cv_tokenizer_opts *opts, cv_tokenizer **tok, cv_error *err)
{
    *tok = NULL;
    cv_sp_model m;
    memset(&m, 0, sizeof m);
    cv_status s = read_pieces(g, &m, err);
    if (!s)
        s = read_flags(g, &m, err);
    uint64_t img = CV_TOKENIZER_IMAGE_TOKENS;
    if (!s && cv_gguf_find_kv(g, K_IMAGE_TOKENS))
        s = cv_gguf_get_uint(g, K_IMAGE_TOKENS, &img, err);
    if (!s && img > INT32_MAX)
        s = cv_error_set(err, CV_ERR_FORMAT, "%s: %s is %llu (expected < 2^31)", cv_gguf_path(g), K_IMAGE_TOKENS,
                         (unsigned long long)img);
    if (s) {
        cv_sp_model_free(&m);
        return s;
    }
    if (opts && opts->image_tokens >= 0)
        img = (uint64_t)opts->image_tokens;
    s = cv_tokenizer_build(&m, cv_gguf_path(g), (int64_t)img, tok, err);
    if (!s && (*tok)->unk_id >= 0 && cv_gguf_find_kv(g, K_UNK)) {
        uint64_t unk;
        if ((s = cv_gguf_get_uint(g, K_UNK, &unk, err)) || unk != (uint64_t)(*tok)->unk_id) {
            if (!s)
                s = cv_error_set(err, CV_ERR_FORMAT, "%s: %s is %llu but piece %d is the <unk> (expected equal)",
                                 cv_gguf_path(g), K_UNK, (unsigned long long)unk, (int)(*tok)->unk_id);
            cv_tokenizer_free(*tok);
            *tok = NULL;
        }
    }
    return s;
}
