/* sp_encode.c — SentencePiece's two segmenters over normalized text,
 * mirroring sentencepiece 0.1.97:
 *   unigram: unigram_model.cc Model::EncodeOptimized (the default encoder):
 *     Viterbi over byte positions, each step one UTF-8 character; a piece's
 *     score is its log probability, a user-defined piece scores
 *     length_in_bytes * max_score - 0.1 (so it always wins), UNUSED pieces are
 *     skipped, and a character no piece of exactly its length covers may be
 *     taken as <unk> at min_score - 10.  Candidate scores are computed in
 *     double (the C++ `auto` of a float/double conditional) and stored as float.
 *   bpe: bpe_model.cc Model::SampleEncode with alpha 0: start from characters
 *     (user-defined symbols as frozen units), repeatedly merge the adjacent
 *     pair whose concatenation is a piece with the highest score (ties: the
 *     leftmost), then split merged UNUSED pieces back along their merges. */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

cv_status cv_sp_spans_push(cv_sp_spans *s, size_t off, size_t len, int32_t id, cv_error *err)
{
    if (s->n == s->cap) {
        const size_t cap = s->cap ? 2 * s->cap : 64;
        cv_sp_span *v = cap <= SIZE_MAX / sizeof *v ? realloc(s->v, cap * sizeof *v) : NULL;
        if (!v)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu pieces)", cap);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (cv_sp_span){off, len, id};
    return CV_OK;
}

static void *alloc_array(size_t n, size_t size, cv_error *err, cv_status *st)
{
    void *p = n <= SIZE_MAX / size ? malloc(n * size) : NULL;
    if (!p)
        *st = cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu x %zu bytes for a text)", n, size);
    return p;
}

/* ------------------------------------------------------------ unigram */

#define NONE SIZE_MAX

typedef struct {
    float score;   /* best path score ending here */
    int32_t id;    /* last piece of that path */
    size_t starts; /* where that piece starts; NONE: not reached */
} best_node;

/* Every piece starting at `start`: relax the paths ending after it. */
static bool relax_from(const cv_tokenizer *t, const char *s, size_t n, size_t start, size_t mblen, best_node *best)
{
    const float till = best[start].score;
    bool single = false;
    uint32_t node = 0;
    for (size_t key = start; key < n;) {
        if (!(node = cv_sp_trie_child(&t->pieces, node, (uint8_t)s[key++])))
            break;
        const int32_t id = t->pieces.value[node];
        if (id < 0 || t->m.type[id] == CV_SP_UNUSED)
            continue;
        const size_t length = key - start;
        const double score = t->m.type[id] == CV_SP_USER_DEFINED ? (double)((float)length * t->max_score) - 0.1
                                                                  : (double)t->m.score[id];
        const double cand = score + (double)till;
        best_node *b = &best[key];
        if (b->starts == NONE || cand > (double)b->score) {
            b->score = (float)cand;
            b->starts = start;
            b->id = id;
        }
        if (length == mblen)
            single = true;
    }
    return single;
}

cv_status cv_sp_encode_unigram(const cv_tokenizer *t, const char *s, size_t n, cv_sp_spans *out, cv_error *err)
{
    out->n = 0;
    if (n == 0)
        return CV_OK;
    cv_status st = CV_OK;
    best_node *best = alloc_array(n + 1, sizeof *best, err, &st);
    if (!best)
        return st;
    for (size_t i = 0; i <= n; i++)
        best[i] = (best_node){0.0f, -1, NONE};
    const float unk_score = t->min_score - 10.0f; /* kUnkPenalty */
    for (size_t start = 0; start < n;) {
        size_t mblen = cv_sp_one_char_len((uint8_t)s[start]);
        if (mblen > n - start)
            mblen = n - start;
        if (!relax_from(t, s, n, start, mblen, best)) {
            best_node *b = &best[start + mblen];
            const float cand = unk_score + best[start].score;
            if (b->starts == NONE || cand > b->score) {
                b->score = cand;
                b->starts = start;
                b->id = t->unk_id;
            }
        }
        start += mblen;
    }
    for (size_t end = n; end > 0 && !st;) { /* backtrack, spans come out reversed */
        const best_node *b = &best[end];
        st = cv_sp_spans_push(out, b->starts, end - b->starts, b->id, err);
        end = b->starts;
    }
    free(best);
    for (size_t i = 0, j = out->n; !st && i + 1 < j; i++, j--) {
        const cv_sp_span x = out->v[i];
        out->v[i] = out->v[j - 1];
        out->v[j - 1] = x;
    }
    return st;
}

/* ------------------------------------------------------------ BPE */

typedef struct {
    size_t start, len; /* len 0: merged away */
    ptrdiff_t prev, next;
    bool freeze;
} symbol;

typedef struct {
    ptrdiff_t left, right;
    float score;
    size_t size;
} sym_pair;

typedef struct {
    sym_pair *v;
    size_t n, cap;
} pair_heap;

/* bpe_model.cc's SymbolPairComparator: a comes first if its score is higher,
 * or equal with a smaller left index. */
static bool before(const sym_pair *a, const sym_pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static cv_status heap_push(pair_heap *h, sym_pair p, cv_error *err)
{
    if (h->n == h->cap) {
        const size_t cap = h->cap ? 2 * h->cap : 64;
        sym_pair *v = cap <= SIZE_MAX / sizeof *v ? realloc(h->v, cap * sizeof *v) : NULL;
        if (!v)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory (%zu BPE pairs)", cap);
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && before(&p, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = p;
    return CV_OK;
}

static sym_pair heap_pop(pair_heap *h)
{
    const sym_pair top = h->v[0];
    const sym_pair last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

typedef struct {
    size_t lstart, llen, rstart, rlen;
    bool set;
} rev_merge;

typedef struct {
    const cv_tokenizer *t;
    const char *s;
    symbol *sym;
    pair_heap heap;
    rev_merge *rev; /* per piece id, only when the model has UNUSED pieces */
    cv_error *err;
} bpe_state;

/* MaybeAddNewSymbolPair */
static cv_status maybe_add(bpe_state *b, ptrdiff_t left, ptrdiff_t right)
{
    if (left < 0 || right < 0 || b->sym[left].freeze || b->sym[right].freeze)
        return CV_OK;
    const symbol *l = &b->sym[left], *r = &b->sym[right];
    const size_t size = l->len + r->len;
    const int32_t id = cv_sp_trie_find(&b->t->pieces, b->s + l->start, size);
    if (id < 0)
        return CV_OK;
    if (b->rev && b->t->m.type[id] == CV_SP_UNUSED)
        b->rev[id] = (rev_merge){l->start, l->len, r->start, r->len, true};
    return heap_push(&b->heap, (sym_pair){left, right, b->t->m.score[id], size}, b->err);
}

static cv_status resegment(bpe_state *b, size_t start, size_t len, cv_sp_spans *out)
{
    const int32_t id = cv_sp_piece_to_id(b->t, b->s + start, len);
    if (!b->rev || b->t->m.type[id] != CV_SP_UNUSED || !b->rev[id].set)
        return cv_sp_spans_push(out, start, len, id, b->err);
    const rev_merge r = b->rev[id];
    cv_status st = resegment(b, r.lstart, r.llen, out);
    return st ? st : resegment(b, r.rstart, r.rlen, out);
}

static cv_status split_symbols(bpe_state *b, size_t n, size_t *count)
{
    size_t k = 0;
    for (size_t pos = 0; pos < n; k++) {
        size_t len = cv_sp_trie_longest(&b->t->user, b->s + pos, n - pos);
        const bool freeze = len > 0;
        if (!freeze) {
            len = cv_sp_one_char_len((uint8_t)b->s[pos]);
            if (len > n - pos)
                len = n - pos;
        }
        b->sym[k] = (symbol){pos, len, (ptrdiff_t)k - 1, pos + len < n ? (ptrdiff_t)k + 1 : -1, freeze};
        pos += len;
    }
    *count = k;
    for (size_t i = 1; i < k; i++) {
        cv_status st = maybe_add(b, (ptrdiff_t)i - 1, (ptrdiff_t)i);
        if (st)
            return st;
    }
    return CV_OK;
}

static cv_status merge_all(bpe_state *b)
{
    symbol *sym = b->sym;
    while (b->heap.n) {
        const sym_pair top = heap_pop(&b->heap);
        symbol *l = &sym[top.left], *r = &sym[top.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != top.size)
            continue; /* stale: one side changed since it was pushed */
        l->len += r->len;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = top.left;
        r->len = 0;
        cv_status st = maybe_add(b, l->prev, top.left);
        if (!st)
            st = maybe_add(b, top.left, l->next);
        if (st)
            return st;
    }
    return CV_OK;
}

cv_status cv_sp_encode_bpe(const cv_tokenizer *t, const char *s, size_t n, cv_sp_spans *out, cv_error *err)
{
    out->n = 0;
    if (n == 0)
        return CV_OK;
    cv_status st = CV_OK;
    bpe_state b = {t, s, NULL, {NULL, 0, 0}, NULL, err};
    if (!(b.sym = alloc_array(n, sizeof *b.sym, err, &st)))
        return st;
    if (t->has_unused && !(b.rev = calloc(t->m.n, sizeof *b.rev)))
        st = cv_error_set(err, CV_ERR_NOMEM, "out of memory (BPE merge table)");
    size_t count = 0;
    if (!st)
        st = split_symbols(&b, n, &count);
    if (!st)
        st = merge_all(&b);
    for (ptrdiff_t i = 0; !st && i >= 0; i = b.sym[i].next)
        st = resegment(&b, b.sym[i].start, b.sym[i].len, out);
    free(b.sym);
    free(b.heap.v);
    free(b.rev);
    return st;
}
