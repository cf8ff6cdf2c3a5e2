/* sp_model.c — a SentencePiece ModelProto read from the protobuf wire format.
 *
 * Wire format (protobuf encoding spec): a message is a sequence of records
 * key = varint(field << 3 | wire type), then a varint (type 0), 8 bytes
 * (type 1), a varint length + bytes (type 2: strings, bytes, sub-messages)
 * or 4 bytes (type 5: float, fixed32).  Unknown fields are skipped, as
 * protobuf does; a repeated field may appear anywhere (records of the same
 * field concatenate).  Fields used (sentencepiece_model.proto):
 *   ModelProto      1 pieces, 2 trainer_spec, 3 normalizer_spec, 5 denormalizer_spec
 *   SentencePiece   1 piece, 2 score (float), 3 type (default NORMAL)
 *   TrainerSpec     3 model_type (default UNIGRAM), 24 treat_whitespace_as_suffix,
 *                   35 byte_fallback, 44 unk_surface
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (default
 *                   true), 4 remove_extra_whitespaces (true), 5 escape_whitespaces (true)
 * Every length is checked against the bytes left before it is used. */
#include "sp_model.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    size_t base; /* offset of p in the file, for messages */
    const char *name;
    cv_error *err;
} pb_reader;

typedef struct {
    uint32_t field;
    int wire;
    uint64_t v;        /* varint / fixed value */
    const uint8_t *s;  /* wire type 2: the bytes */
    size_t len;
    size_t at;         /* file offset of the record */
} pb_field;

static cv_status pb_fail(pb_reader *r, const char *what, size_t at)
{
    return cv_error_set(r->err, CV_ERR_FORMAT, "%s: %s at offset %zu (expected a SentencePiece model)", r->name,
                        what, at);
}

static cv_status pb_varint(pb_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    const size_t at = r->base + r->pos;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->size)
            return pb_fail(r, "truncated varint", at);
        const uint8_t b = r->p[r->pos++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return CV_OK;
        }
    }
    return pb_fail(r, "varint longer than 10 bytes", at);
}

/* The next record; false at the end of the message. */
static cv_status pb_next(pb_reader *r, pb_field *f, bool *more)
{
    *more = r->pos < r->size;
    if (!*more)
        return CV_OK;
    f->at = r->base + r->pos;
    uint64_t key;
    cv_status s = pb_varint(r, &key);
    if (s)
        return s;
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return pb_fail(r, "invalid field number", f->at);
    const size_t left = r->size - r->pos;
    switch (f->wire) {
    case 0:
        return pb_varint(r, &f->v);
    case 1:
    case 5: {
        const size_t n = f->wire == 1 ? 8 : 4;
        if (left < n)
            return cv_error_set(r->err, CV_ERR_FORMAT,
                                "%s: truncated protobuf field %u at offset %zu (expected %zu bytes)", r->name,
                                f->field, f->at, n);
        f->v = 0;
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)r->p[r->pos + i] << (8 * i);
        r->pos += n;
        return CV_OK;
    }
    case 2: {
        uint64_t n;
        if ((s = pb_varint(r, &n)))
            return s;
        if (n > r->size - r->pos)
            return cv_error_set(r->err, CV_ERR_FORMAT,
                                "%s: truncated protobuf field %u at offset %zu (expected %llu bytes)", r->name,
                                f->field, f->at, (unsigned long long)n);
        f->s = r->p + r->pos;
        f->len = (size_t)n;
        r->pos += (size_t)n;
        return CV_OK;
    }
    default: /* 3, 4: groups (proto2, unused by SentencePiece); 6, 7 do not exist */
        return pb_fail(r, "unsupported protobuf wire type", f->at);
    }
}

static pb_reader pb_sub(const pb_reader *r, const pb_field *f)
{
    pb_reader s = *r;
    s.p = f->s;
    s.size = f->len;
    s.pos = 0;
    s.base = (size_t)(f->s - r->p) + r->base;
    return s;
}

static cv_status expect_wire(pb_reader *r, const pb_field *f, int wire, const char *what)
{
    if (f->wire == wire)
        return CV_OK;
    return cv_error_set(r->err, CV_ERR_FORMAT, "%s: field %s at offset %zu has wire type %d (expected %d)", r->name,
                        what, f->at, f->wire, wire);
}

static cv_status dup_bytes(const uint8_t *s, size_t n, char **out, cv_error *err)
{
    char *c = malloc(n + 1);
    if (!c)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu bytes for a string)", n + 1);
    if (n)
        memcpy(c, s, n);
    c[n] = '\0';
    free(*out);
    *out = c;
    return CV_OK;
}

/* ------------------------------------------------------------ messages */

static cv_status parse_piece(pb_reader *r, cv_sp_model *m, size_t i)
{
    pb_field f;
    bool more;
    cv_status s;
    while (!(s = pb_next(r, &f, &more)) && more) {
        if (f.field == 1) {
            if ((s = expect_wire(r, &f, 2, "SentencePiece.piece")) ||
                (s = cv_sp_model_set_piece(m, i, (const char *)f.s, f.len, r->err)))
                return s;
        } else if (f.field == 2) {
            if ((s = expect_wire(r, &f, 5, "SentencePiece.score")))
                return s;
            uint32_t u = (uint32_t)f.v;
            memcpy(&m->score[i], &u, 4);
        } else if (f.field == 3) {
            if ((s = expect_wire(r, &f, 0, "SentencePiece.type")))
                return s;
            if (f.v < CV_SP_NORMAL || f.v > CV_SP_BYTE)
                return cv_error_set(r->err, CV_ERR_FORMAT, "%s: piece %zu has type %llu at offset %zu (expected 1..6)",
                                    r->name, i, (unsigned long long)f.v, f.at);
            m->type[i] = (uint8_t)f.v;
        }
    }
    return s;
}

static cv_status parse_trainer(pb_reader *r, cv_sp_model *m)
{
    pb_field f;
    bool more;
    cv_status s;
    while (!(s = pb_next(r, &f, &more)) && more) {
        if (f.field == 3 || f.field == 24 || f.field == 35) {
            if ((s = expect_wire(r, &f, 0, "TrainerSpec")))
                return s;
            if (f.field == 3)
                m->model_type = f.v > 100 ? 0 : (int)f.v;
            else if (f.field == 24)
                m->treat_whitespace_as_suffix = f.v != 0;
            else
                m->byte_fallback = f.v != 0;
        } else if (f.field == 44) {
            if ((s = expect_wire(r, &f, 2, "TrainerSpec.unk_surface")) ||
                (s = dup_bytes(f.s, f.len, &m->unk_surface, r->err)))
                return s;
            m->unk_surface_len = f.len;
        }
    }
    return s;
}

static cv_status parse_normalizer(pb_reader *r, cv_sp_model *m)
{
    pb_field f;
    bool more;
    cv_status s;
    while (!(s = pb_next(r, &f, &more)) && more) {
        if (f.field == 1 || f.field == 2) {
            if ((s = expect_wire(r, &f, 2, "NormalizerSpec")))
                return s;
            if (f.field == 1) {
                if ((s = dup_bytes(f.s, f.len, &m->norm_name, r->err)))
                    return s;
            } else {
                free(m->charsmap);
                m->charsmap = NULL;
                m->charsmap_len = 0;
                if (f.len) {
                    if (!(m->charsmap = malloc(f.len)))
                        return cv_error_set(r->err, CV_ERR_NOMEM, "out of memory (%zu bytes of charsmap)", f.len);
                    memcpy(m->charsmap, f.s, f.len);
                    m->charsmap_len = f.len;
                }
            }
        } else if (f.field >= 3 && f.field <= 5) {
            if ((s = expect_wire(r, &f, 0, "NormalizerSpec")))
                return s;
            bool *b = f.field == 3 ? &m->add_dummy_prefix
                      : f.field == 4 ? &m->remove_extra_whitespaces
                                     : &m->escape_whitespaces;
            *b = f.v != 0;
        }
    }
    return s;
}

static cv_status parse_denormalizer(pb_reader *r, cv_sp_model *m)
{
    pb_field f;
    bool more;
    cv_status s;
    while (!(s = pb_next(r, &f, &more)) && more)
        if (f.field == 2 && f.wire == 2)
            m->denorm_charsmap_len = f.len;
    return s;
}

static cv_status count_pieces(pb_reader r, size_t *n)
{
    pb_field f;
    bool more;
    cv_status s;
    *n = 0;
    while (!(s = pb_next(&r, &f, &more)) && more) {
        if (f.field == 1) {
            if ((s = expect_wire(&r, &f, 2, "ModelProto.pieces")))
                return s;
            ++*n;
        }
    }
    return s;
}

cv_status cv_sp_model_parse(const uint8_t *buf, size_t size, const char *name, const char *const *extra,
                            size_t n_extra, cv_sp_model *m, cv_error *err)
{
    memset(m, 0, sizeof *m);
    pb_reader r = {buf, size, 0, 0, name, err};
    size_t n;
    cv_status s = count_pieces(r, &n);
    if (s)
        return s;
    if (n == 0)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: no pieces (expected a SentencePiece model)", name);
    if ((s = cv_sp_model_init(m, n + n_extra, err)))
        return s;
    size_t i = 0;
    pb_field f;
    bool more;
    while (!(s = pb_next(&r, &f, &more)) && more) {
        if (f.field > 5 || f.field == 4 || (f.field > 0 && f.wire != 2))
            continue; /* unknown or not a message: skipped, as protobuf does */
        pb_reader sub = pb_sub(&r, &f);
        if (f.field == 1) {
            const size_t at = f.at;
            if ((s = parse_piece(&sub, m, i)))
                break;
            if (!m->piece[i] || m->len[i] == 0) {
                s = cv_error_set(err, CV_ERR_FORMAT, "%s: piece %zu at offset %zu has no text (expected a non-empty piece)",
                                 name, i, at);
                break;
            }
            i++;
        } else if (f.field == 2) {
            if ((s = parse_trainer(&sub, m)))
                break;
        } else if (f.field == 3) {
            if ((s = parse_normalizer(&sub, m)))
                break;
        } else if ((s = parse_denormalizer(&sub, m))) {
            break;
        }
    }
    /* TextTokenizer.add_special_tokens: SentencePiece(piece=t, score=0), type unset (NORMAL). */
    for (size_t k = 0; !s && k < n_extra; k++)
        s = cv_sp_model_set_piece(m, n + k, extra[k], strlen(extra[k]), err);
    if (s)
        cv_sp_model_free(m);
    return s;
}

/* ------------------------------------------------------------ construction */

cv_status cv_sp_model_init(cv_sp_model *m, size_t n, cv_error *err)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    m->piece = calloc(n, sizeof *m->piece);
    m->len = calloc(n, sizeof *m->len);
    m->score = calloc(n, sizeof *m->score);
    m->type = malloc(n);
    if (!m->piece || !m->len || !m->score || !m->type) {
        cv_sp_model_free(m);
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu pieces)", n);
    }
    memset(m->type, CV_SP_NORMAL, n);
    m->model_type = CV_SP_UNIGRAM;
    m->add_dummy_prefix = m->remove_extra_whitespaces = m->escape_whitespaces = true;
    return CV_OK;
}

cv_status cv_sp_model_set_piece(cv_sp_model *m, size_t i, const char *s, size_t len, cv_error *err)
{
    if (len > UINT32_MAX)
        return cv_error_set(err, CV_ERR_FORMAT, "piece %zu is %zu bytes long (expected < 4 GiB)", i, len);
    m->len[i] = (uint32_t)len;
    return dup_bytes((const uint8_t *)s, len, &m->piece[i], err);
}

void cv_sp_model_free(cv_sp_model *m)
{
    if (m->piece)
        for (size_t i = 0; i < m->n; i++)
            free(m->piece[i]);
    free(m->piece);
    free(m->len);
    free(m->score);
    free(m->type);
    free(m->unk_surface);
    free(m->norm_name);
    free(m->charsmap);
    memset(m, 0, sizeof *m);
}
