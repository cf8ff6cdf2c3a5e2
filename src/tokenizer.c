/* tokenizer.c — loading, the encode driver, the decoder and the icetk layer
 * (see tokenizer.h).  Mirrors sentencepiece 0.1.97 model_interface.cc
 * (InitializePieces, PieceToId) and sentencepiece_processor.cc (Encode's
 * PopulateSentencePieceText, Decode), and icetk's IceTokenizer. */
#include "tokenizer_impl.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapfile.h"
#include "pyfloat.h"

static const char *const k_icetk_specials[] = {"<start_of_image>", "<start_of_english>", "<start_of_chinese>"};
static const char k_default_unk_surface[] = " \xE2\x81\x87 "; /* TrainerSpec.unk_surface default */

void cv_tokenizer_opts_default(cv_tokenizer_opts *o)
{
    o->image_tokens = -1; /* the GGUF's, or 20000 for a .model */
    o->specials = k_icetk_specials;
    o->n_specials = sizeof k_icetk_specials / sizeof k_icetk_specials[0];
}

/* ------------------------------------------------------------ building */

/* PieceToByte: exactly "<0xNN>" with upper-case hex (ByteToPiece's format). */
static int piece_to_byte(const char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
        return -1;
    const char *h = memchr(hex, p[3], 16), *l = memchr(hex, p[4], 16);
    if (!h || !l || !p[3] || !p[4])
        return -1;
    return (int)((h - hex) * 16 + (l - hex));
}

static bool is_normal_kind(uint8_t type)
{
    return type == CV_SP_NORMAL || type == CV_SP_USER_DEFINED || type == CV_SP_UNUSED;
}

/* ModelInterface::InitializePieces and the unigram Model's min/max scores. */
static cv_status index_pieces(cv_tokenizer *t, cv_error *err)
{
    const cv_sp_model *m = &t->m;
    t->unk_id = -1;
    t->min_score = FLT_MAX;
    t->max_score = FLT_MIN; /* sic: unigram_model.cc starts from FLT_MIN */
    bool byte_found[256] = {false};
    for (size_t i = 0; i < m->n; i++) {
        const char *p = m->piece[i];
        const uint8_t type = m->type[i];
        if (m->len[i] == 0)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: piece %zu is empty (expected a non-empty piece)", t->name, i);
        int32_t old;
        cv_status s = cv_sp_trie_insert(is_normal_kind(type) ? &t->pieces : &t->reserved, p, m->len[i], (int32_t)i,
                                        &old, err);
        if (!s && type == CV_SP_USER_DEFINED)
            s = cv_sp_trie_insert(&t->user, p, m->len[i], (int32_t)i, &old, err);
        if (s)
            return s;
        if (old >= 0)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: piece %zu '%.40s' is already defined as piece %d (expected unique pieces)",
                                t->name, i, p, (int)old);
        if (type == CV_SP_UNKNOWN) {
            if (t->unk_id >= 0)
                return cv_error_set(err, CV_ERR_FORMAT, "%s: pieces %d and %zu are both <unk> (expected one)", t->name,
                                    (int)t->unk_id, i);
            t->unk_id = (int32_t)i;
        } else if (type == CV_SP_BYTE) {
            const int b = piece_to_byte(p, m->len[i]);
            if (!m->byte_fallback || b < 0)
                return cv_error_set(err, CV_ERR_FORMAT, "%s: byte piece %zu '%.40s' %s", t->name, i, p,
                                    b < 0 ? "is invalid (expected <0xNN>)" : "found although byte_fallback is false");
            byte_found[b] = true;
            t->byte_id[b] = (int32_t)i;
        } else if (type == CV_SP_NORMAL) {
            t->min_score = fminf(t->min_score, m->score[i]);
            t->max_score = fmaxf(t->max_score, m->score[i]);
        }
        t->has_unused |= type == CV_SP_UNUSED;
    }
    if (t->unk_id < 0)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: no <unk> piece (expected one piece of type UNKNOWN)", t->name);
    for (int b = 0; m->byte_fallback && b < 256; b++)
        if (!byte_found[b])
            return cv_error_set(err, CV_ERR_FORMAT, "%s: byte_fallback is set but piece <0x%02X> is missing (expected 256 byte pieces)",
                                t->name, b);
    return CV_OK;
}

static cv_status check_model_kind(const cv_tokenizer *t, cv_error *err)
{
    if (t->m.model_type != CV_SP_UNIGRAM && t->m.model_type != CV_SP_BPE)
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: model type %d is not supported (expected 1 unigram or 2 BPE)",
                            t->name, t->m.model_type);
    if (t->m.denorm_charsmap_len)
        return cv_error_set(err, CV_ERR_UNSUPPORTED, "%s: a denormalizer is not supported (expected no denormalizer_spec rules)",
                            t->name);
    return CV_OK;
}

cv_status cv_tokenizer_build(cv_sp_model *m, const char *name, int64_t image_tokens, cv_tokenizer **tok,
                             cv_error *err)
{
    *tok = NULL;
    cv_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        cv_sp_model_free(m);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (tokenizer)");
    }
    t->m = *m;
    memset(m, 0, sizeof *m);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->image_tokens = image_tokens;
    memset(t->byte_id, 0xff, sizeof t->byte_id);
    cv_sp_trie_init(&t->pieces);
    cv_sp_trie_init(&t->reserved);
    cv_sp_trie_init(&t->user);
    cv_status s = check_model_kind(t, err);
    if (!s && image_tokens < 0)
        s = cv_error_set(err, CV_ERR_ARG, "%s: image token count %lld is negative (expected >= 0)", name,
                         (long long)image_tokens);
    if (!s)
        s = index_pieces(t, err);
    if (!s)
        s = cv_sp_normalizer_init(&t->nz, &t->m, &t->user, t->name, err);
    if (s) {
        cv_tokenizer_free(t);
        return s;
    }
    *tok = t;
    return CV_OK;
}

void cv_tokenizer_free(cv_tokenizer *t)
{
    if (!t)
        return;
    cv_sp_normalizer_free(&t->nz);
    cv_sp_trie_free(&t->pieces);
    cv_sp_trie_free(&t->reserved);
    cv_sp_trie_free(&t->user);
    cv_sp_model_free(&t->m);
    free(t);
}

/* ------------------------------------------------------------ loading */

cv_status cv_tokenizer_from_proto(const void *buf, size_t size, const char *name, const cv_tokenizer_opts *opts,
                                  cv_tokenizer **tok, cv_error *err)
{
    cv_tokenizer_opts o;
    cv_tokenizer_opts_default(&o);
    if (opts)
        o = *opts;
    if (!o.specials)
        o.n_specials = 0;
    if (o.image_tokens < 0)
        o.image_tokens = CV_TOKENIZER_IMAGE_TOKENS;
    cv_sp_model m;
    cv_status s = cv_sp_model_parse(buf, size, name, o.specials, o.n_specials, &m, err);
    if (s)
        return s;
    return cv_tokenizer_build(&m, name, o.image_tokens, tok, err);
}

cv_status cv_tokenizer_load(const char *path, const cv_tokenizer_opts *opts, cv_tokenizer **tok, cv_error *err)
{
    *tok = NULL;
    const unsigned char *data;
    size_t size;
    cv_status s = cv_map_file(path, &data, &size, err);
    if (s)
        return s;
    const bool gguf = size >= 4 && memcmp(data, "GGUF", 4) == 0;
    if (!gguf) {
        s = cv_tokenizer_from_proto(data, size, path, opts, tok, err);
        cv_unmap_file(data, size);
        return s;
    }
    cv_unmap_file(data, size);
    cv_gguf *g;
    if ((s = cv_gguf_open(path, &g, err)))
        return s;
    s = cv_tokenizer_from_gguf(g, opts, tok, err);
    cv_gguf_close(g);
    return s;
}

/* ------------------------------------------------------------ encoding */

int32_t cv_sp_piece_to_id(const cv_tokenizer *t, const char *s, size_t n)
{
    int32_t id = cv_sp_trie_find(&t->reserved, s, n);
    if (id < 0)
        id = cv_sp_trie_find(&t->pieces, s, n);
    return id < 0 ? t->unk_id : id;
}

void cv_tokens_free(cv_tokens *t)
{
    free(t->ids);
    free(t->text);
    free(t->off);
    memset(t, 0, sizeof *t);
}

static cv_status tokens_reserve(cv_tokens *t, size_t n, size_t text, cv_error *err)
{
    if (n + 1 > t->cap) {
        const size_t cap = n + 1 > 2 * t->cap ? n + 1 : 2 * t->cap;
        int64_t *ids = cap <= SIZE_MAX / 8 ? realloc(t->ids, cap * sizeof *ids) : NULL;
        if (ids)
            t->ids = ids;
        size_t *off = ids ? realloc(t->off, cap * sizeof *off) : NULL;
        if (!off)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu tokens)", cap);
        t->off = off;
        t->cap = cap;
    }
    if (text + 1 > t->text_cap) {
        const size_t cap = text + 1 > 2 * t->text_cap ? text + 1 : 2 * t->text_cap;
        char *p = realloc(t->text, cap);
        if (!p)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu bytes of pieces)", cap);
        t->text = p;
        t->text_cap = cap;
    }
    return CV_OK;
}

static cv_status emit(const cv_tokenizer *t, cv_tokens *out, const char *p, size_t n, int32_t id, cv_error *err)
{
    const size_t end = out->off[out->n];
    cv_status s = tokens_reserve(out, out->n + 1, end + n, err);
    if (s)
        return s;
    memcpy(out->text + end, p, n);
    out->ids[out->n] = (int64_t)id + t->image_tokens;
    out->off[++out->n] = end + n;
    return CV_OK;
}

/* PopulateSentencePieceText: unknown text becomes byte pieces under byte
 * fallback; otherwise a run of unknown pieces is merged into one. */
static cv_status populate(const cv_tokenizer *t, const char *norm, const cv_sp_spans *sp, cv_tokens *out,
                          cv_error *err)
{
    bool prev_unk = false;
    for (size_t i = 0; i < sp->n; i++) {
        const cv_sp_span *w = &sp->v[i];
        const uint8_t type = t->m.type[w->id];
        const bool unk = type == CV_SP_UNKNOWN;
        cv_status s = CV_OK;
        if (type == CV_SP_CONTROL) {
            s = emit(t, out, norm + w->off, w->len, w->id, err);
        } else if (unk && t->m.byte_fallback) {
            for (size_t k = 0; k < w->len && !s; k++) {
                const uint8_t b = (uint8_t)norm[w->off + k];
                char piece[7];
                snprintf(piece, sizeof piece, "<0x%02X>", b);
                s = emit(t, out, piece, 6, t->byte_id[b], err);
            }
        } else if (prev_unk && unk) {
            const size_t end = out->off[out->n];
            if (!(s = tokens_reserve(out, out->n, end + w->len, err))) {
                memcpy(out->text + end, norm + w->off, w->len);
                out->off[out->n] = end + w->len;
            }
        } else {
            s = emit(t, out, norm + w->off, w->len, w->id, err);
        }
        if (s)
            return s;
        prev_unk = unk;
    }
    return CV_OK;
}

cv_status cv_tokenizer_encode(const cv_tokenizer *t, const char *text, size_t len, cv_tokens *out, cv_error *err)
{
    cv_status s = tokens_reserve(out, 0, 0, err);
    if (s)
        return s;
    out->n = 0;
    out->off[0] = 0;
    cv_sp_buf norm = {NULL, 0, 0};
    cv_sp_spans sp = {NULL, 0, 0};
    s = cv_sp_normalize(&t->nz, text, len, &norm, err);
    if (!s)
        s = t->m.model_type == CV_SP_BPE ? cv_sp_encode_bpe(t, norm.p, norm.n, &sp, err)
                                         : cv_sp_encode_unigram(t, norm.p, norm.n, &sp, err);
    if (!s)
        s = populate(t, norm.p, &sp, out, err);
    if (!s)
        out->text[out->off[out->n]] = '\0';
    free(norm.p);
    free(sp.v);
    return s;
}

/* ------------------------------------------------------------ decoding */

typedef struct {
    const cv_tokenizer *t;
    cv_sp_buf out;
    bool bos_ws, bos_ws_seen;
    cv_error *err;
} decoder;

/* ProcessBytePieces: a run of bytes, one UTF-8 character at a time; each
 * byte that does not start a valid character becomes U+FFFD. */
static cv_status flush_bytes(decoder *d, const uint8_t *b, size_t n)
{
    cv_status s = CV_OK;
    for (size_t off = 0; off < n && !s;) {
        size_t mblen;
        if (cv_sp_valid_utf8(b + off, n - off, &mblen))
            s = cv_sp_buf_add(&d->out, b + off, mblen, d->err);
        else
            s = cv_sp_buf_add(&d->out, "\xef\xbf\xbd", 3, d->err);
        off += mblen;
    }
    return s;
}

/* DecodeSentencePiece: controls vanish, <unk> becomes unk_surface, the first
 * visible piece loses one leading U+2581, and U+2581 becomes ' '. */
static cv_status decode_piece(decoder *d, int32_t id)
{
    const cv_tokenizer *t = d->t;
    const char *p = t->m.piece[id];
    size_t n = t->m.len[id];
    const uint8_t type = t->m.type[id];
    d->bos_ws_seen = false;
    if (type == CV_SP_CONTROL)
        return CV_OK;
    if (type == CV_SP_UNKNOWN)
        return t->m.unk_surface ? cv_sp_buf_add(&d->out, t->m.unk_surface, t->m.unk_surface_len, d->err)
                                : cv_sp_buf_add(&d->out, k_default_unk_surface, sizeof k_default_unk_surface - 1, d->err);
    if (d->bos_ws && (t->m.add_dummy_prefix || t->m.remove_extra_whitespaces)) {
        if (n >= 3 && memcmp(p, "\xe2\x96\x81", 3) == 0) {
            p += 3, n -= 3;
            d->bos_ws_seen = !t->m.remove_extra_whitespaces;
        }
    }
    cv_status s = cv_sp_buf_reserve(&d->out, n, d->err);
    for (size_t i = 0; i < n && !s;) {
        if (i + 3 <= n && memcmp(p + i, "\xe2\x96\x81", 3) == 0) {
            d->out.p[d->out.n++] = ' ';
            i += 3;
        } else {
            d->out.p[d->out.n++] = p[i++];
        }
    }
    return s;
}

/* IceTokenizer.decode's .replace('<n>', '\n'), in place. */
static size_t replace_n(char *s, size_t n)
{
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        if (r + 3 <= n && memcmp(s + r, "<n>", 3) == 0) {
            s[w++] = '\n';
            r += 3;
        } else {
            s[w++] = s[r++];
        }
    }
    return w;
}

static cv_status decode_ids(decoder *d, const int64_t *ids, size_t n)
{
    const cv_tokenizer *t = d->t;
    uint8_t *bytes = malloc(n ? n : 1);
    if (!bytes)
        return cv_error_set(d->err, CV_ERR_NOMEM, "out of memory (%zu ids)", n);
    size_t nb = 0;
    cv_status s = CV_OK;
    for (size_t i = 0; i < n && !s; i++) {
        const int64_t raw = ids[i] - t->image_tokens;
        if (ids[i] < t->image_tokens || raw >= (int64_t)t->m.n) {
            s = cv_error_set(d->err, CV_ERR_ARG, "id %lld at position %zu is not a text id (expected %lld .. %lld)",
                             (long long)ids[i], i, (long long)t->image_tokens,
                             (long long)(t->image_tokens + (int64_t)t->m.n - 1));
            break;
        }
        /* Decode(ids) goes through IdToPiece then PieceToId */
        const int32_t id = cv_sp_piece_to_id(t, t->m.piece[raw], t->m.len[raw]);
        if (t->m.type[id] == CV_SP_BYTE) {
            bytes[nb++] = (uint8_t)piece_to_byte(t->m.piece[id], t->m.len[id]);
            continue;
        }
        s = flush_bytes(d, bytes, nb);
        nb = 0;
        if (d->bos_ws_seen || d->out.n)
            d->bos_ws = false;
        if (!s)
            s = decode_piece(d, id);
    }
    if (!s)
        s = flush_bytes(d, bytes, nb);
    free(bytes);
    return s;
}

cv_status cv_tokenizer_decode(const cv_tokenizer *t, const int64_t *ids, size_t n, char **text, size_t *len,
                              cv_error *err)
{
    *text = NULL;
    *len = 0;
    decoder d = {t, {NULL, 0, 0}, true, false, err};
    cv_status s = decode_ids(&d, ids, n);
    if (!s)
        s = cv_sp_buf_reserve(&d.out, 1, err);
    if (s) {
        free(d.out.p);
        return s;
    }
    d.out.n = replace_n(d.out.p, d.out.n);
    d.out.p[d.out.n] = '\0';
    *text = d.out.p;
    *len = d.out.n;
    return CV_OK;
}

/* ------------------------------------------------------------ icetk */

int64_t cv_tokenizer_piece_id(const cv_tokenizer *t, const char *piece, size_t len)
{
    return (int64_t)cv_sp_piece_to_id(t, piece, len) + t->image_tokens;
}

const char *cv_tokenizer_piece(const cv_tokenizer *t, int64_t id, size_t *len)
{
    const int64_t raw = id - t->image_tokens;
    if (id < t->image_tokens || raw >= (int64_t)t->m.n) {
        *len = 0;
        return NULL;
    }
    *len = t->m.len[raw];
    return t->m.piece[raw];
}

size_t cv_tokenizer_n_pieces(const cv_tokenizer *t)
{
    return t->m.n;
}

int64_t cv_tokenizer_image_tokens(const cv_tokenizer *t)
{
    return t->image_tokens;
}

const char *cv_tokenizer_kind(const cv_tokenizer *t)
{
    return t->m.model_type == CV_SP_BPE ? "bpe" : "unigram";
}

/* CogVideo: str(float(duration)) + "秒". */
size_t cv_tokenizer_duration_text(double x, char *buf, size_t n)
{
    const size_t k = cv_python_float_str(x, buf, n);
    if (k == 0 || n - k < 4) /* 秒 is 3 bytes, plus the NUL */
        return 0;
    memcpy(buf + k, "\xe7\xa7\x92", 4); /* 秒 and its NUL */
    return k + 3;
}
