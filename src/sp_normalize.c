/* sp_normalize.c — see sp_normalize.h.  Mirrors sentencepiece 0.1.97
 * normalizer.cc (Normalize, NormalizePrefix, DecodePrecompiledCharsMap),
 * util.cc (DecodeUTF8) and darts-clone's commonPrefixSearch. */
#include "sp_normalize.h"

#include <stdlib.h>
#include <string.h>

static const char k_space_symbol[] = "\xe2\x96\x81"; /* U+2581, 3 bytes */
static const char k_replacement[] = "\xef\xbf\xbd";  /* U+FFFD, 3 bytes */

cv_status cv_sp_buf_reserve(cv_sp_buf *b, size_t extra, cv_error *err)
{
    if (extra <= b->cap - b->n)
        return CV_OK;
    if (extra > SIZE_MAX / 2 - b->n)
        return cv_error_set(err, CV_ERR_NOMEM, "text of %zu bytes is too long", extra);
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < extra)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu bytes of text)", cap);
    b->p = p;
    b->cap = cap;
    return CV_OK;
}

cv_status cv_sp_buf_add(cv_sp_buf *b, const void *s, size_t n, cv_error *err)
{
    cv_status st = cv_sp_buf_reserve(b, n, err);
    if (st)
        return st;
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    return CV_OK;
}

/* ------------------------------------------------------------ UTF-8 */

static bool valid_cp(uint32_t c)
{
    return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF);
}

static bool trail(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

bool cv_sp_valid_utf8(const uint8_t *s, size_t n, size_t *mblen)
{
    uint32_t c;
    *mblen = 1;
    if (s[0] < 0x80)
        return true;
    if (n >= 2 && (s[0] & 0xE0) == 0xC0) {
        c = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        if (trail(s[1]) && c >= 0x80 && valid_cp(c))
            return *mblen = 2, true;
    } else if (n >= 3 && (s[0] & 0xF0) == 0xE0) {
        c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (trail(s[1]) && trail(s[2]) && c >= 0x800 && valid_cp(c))
            return *mblen = 3, true;
    } else if (n >= 4 && (s[0] & 0xF8) == 0xF0) {
        c = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
            (s[3] & 0x3F);
        if (trail(s[1]) && trail(s[2]) && trail(s[3]) && c >= 0x10000 && valid_cp(c))
            return *mblen = 4, true;
    }
    return false;
}

/* ------------------------------------------------------------ charsmap */

cv_status cv_sp_normalizer_init(cv_sp_normalizer *nz, const cv_sp_model *m, const cv_sp_trie *user,
                                const char *name, cv_error *err)
{
    memset(nz, 0, sizeof *nz);
    nz->add_dummy_prefix = m->add_dummy_prefix;
    nz->remove_extra_whitespaces = m->remove_extra_whitespaces;
    nz->escape_whitespaces = m->escape_whitespaces;
    nz->suffix = m->treat_whitespace_as_suffix;
    nz->user = user;
    nz->name = name;
    if (m->charsmap_len == 0)
        return CV_OK; /* identity: no rules (normalizer.cc leaves trie_ null) */
    const uint8_t *b = m->charsmap;
    const size_t n = m->charsmap_len;
    const uint32_t tsize = n > 4 ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
    if (n <= 4 || tsize > n - 4 || tsize < 4)
        return cv_error_set(err, CV_ERR_FORMAT,
                            "%s: precompiled charsmap of %zu bytes is broken (expected a trie size below the blob size)",
                            name, n);
    nz->n_units = tsize / 4;
    if (!(nz->units = malloc(nz->n_units * sizeof *nz->units)))
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (charsmap of %zu units)", nz->n_units);
    for (size_t i = 0; i < nz->n_units; i++) {
        const uint8_t *u = b + 4 + 4 * i;
        nz->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    nz->strs = (const char *)b + 4 + tsize;
    nz->strs_len = n - 4 - tsize;
    return CV_OK;
}

void cv_sp_normalizer_free(cv_sp_normalizer *nz)
{
    free(nz->units);
    nz->units = NULL;
}

/* darts-clone unit fields */
static inline bool u_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t u_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static inline uint32_t u_label(uint32_t u) { return u & 0x800000FFu; }
static inline uint32_t u_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

/* The longest rule matching a prefix of s (commonPrefixSearch, then the
 * longest result, as NormalizePrefix does): its length, 0 if none, and the
 * value (offset of the replacement string). */
static size_t longest_rule(const cv_sp_normalizer *nz, const uint8_t *s, size_t n, uint32_t *value)
{
    size_t best = 0;
    const uint32_t *a = nz->units;
    size_t pos = u_offset(a[0]);
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= nz->n_units)
            break; /* outside the array: no such edge (darts would read past it) */
        const uint32_t u = a[pos];
        if (u_label(u) != s[i])
            break;
        pos ^= u_offset(u);
        if (u_has_leaf(u)) {
            if (pos >= nz->n_units)
                break;
            best = i + 1;
            *value = u_value(a[pos]);
        }
    }
    return best;
}

typedef struct {
    const char *s; /* replacement text */
    size_t len;
    size_t consumed; /* input bytes */
} prefix;

/* Normalizer::NormalizePrefix */
static cv_status normalize_prefix(const cv_sp_normalizer *nz, const char *in, size_t n, prefix *p, cv_error *err)
{
    const uint8_t *u = (const uint8_t *)in;
    size_t len = cv_sp_trie_longest(nz->user, in, n);
    if (len) { /* user-defined symbols are never normalized */
        *p = (prefix){in, len, len};
        return CV_OK;
    }
    uint32_t value = 0;
    len = nz->units ? longest_rule(nz, u, n, &value) : 0;
    if (len) {
        const char *z = value < nz->strs_len ? memchr(nz->strs + value, '\0', nz->strs_len - value) : NULL;
        if (!z)
            return cv_error_set(err, CV_ERR_FORMAT,
                                "%s: precompiled charsmap rule points at offset %u (expected a NUL-terminated string "
                                "within %zu bytes)",
                                nz->name, value, nz->strs_len);
        *p = (prefix){nz->strs + value, (size_t)(z - (nz->strs + value)), len};
        return CV_OK;
    }
    size_t mblen;
    if (!cv_sp_valid_utf8(u, n, &mblen)) /* one byte consumed, U+FFFD out */
        *p = (prefix){k_replacement, 3, 1};
    else
        *p = (prefix){in, mblen, mblen};
    return CV_OK;
}

static cv_status add_ws(const cv_sp_normalizer *nz, cv_sp_buf *out, cv_error *err)
{
    return nz->escape_whitespaces ? cv_sp_buf_add(out, k_space_symbol, 3, err) : cv_sp_buf_add(out, " ", 1, err);
}

/* Appends sp with ' ' escaped as U+2581 when escape_whitespaces is set. */
static cv_status add_escaped(const cv_sp_normalizer *nz, const char *sp, size_t n, cv_sp_buf *out, cv_error *err)
{
    cv_status s = cv_sp_buf_reserve(out, 3 * n, err);
    if (s)
        return s;
    for (size_t i = 0; i < n; i++) {
        if (nz->escape_whitespaces && sp[i] == ' ') {
            memcpy(out->p + out->n, k_space_symbol, 3);
            out->n += 3;
        } else {
            out->p[out->n++] = sp[i];
        }
    }
    return CV_OK;
}

cv_status cv_sp_normalize(const cv_sp_normalizer *nz, const char *in, size_t n, cv_sp_buf *out, cv_error *err)
{
    out->n = 0;
    size_t pos = 0;
    prefix p;
    cv_status s;
    if (nz->remove_extra_whitespaces) { /* leading whitespace */
        while (pos < n) {
            if ((s = normalize_prefix(nz, in + pos, n - pos, &p, err)))
                return s;
            if (p.len != 1 || p.s[0] != ' ')
                break;
            pos += p.consumed;
        }
    }
    if (pos == n)
        return CV_OK;
    if ((s = cv_sp_buf_reserve(out, n + n / 2 + 16, err)))
        return s;
    if (!nz->suffix && nz->add_dummy_prefix && (s = add_ws(nz, out, err)))
        return s;
    bool prev_space = nz->remove_extra_whitespaces;
    while (pos < n) {
        if ((s = normalize_prefix(nz, in + pos, n - pos, &p, err)))
            return s;
        const char *sp = p.s;
        size_t len = p.len;
        while (prev_space && len && sp[0] == ' ')
            sp++, len--;
        if (len) {
            if ((s = add_escaped(nz, sp, len, out, err)))
                return s;
            prev_space = sp[len - 1] == ' ';
        }
        pos += p.consumed;
        if (!nz->remove_extra_whitespaces)
            prev_space = false;
    }
    if (nz->remove_extra_whitespaces) { /* trailing whitespace */
        const char *ws = nz->escape_whitespaces ? k_space_symbol : " ";
        const size_t wl = nz->escape_whitespaces ? 3 : 1;
        while (out->n >= wl && memcmp(out->p + out->n - wl, ws, wl) == 0)
            out->n -= wl;
    }
    if (nz->suffix && nz->add_dummy_prefix && (s = add_ws(nz, out, err)))
        return s;
    return CV_OK;
}
