/* sp_trie.h — a byte trie over SentencePiece pieces: exact lookup (PieceToId),
 * every piece that is a prefix of a text (the unigram lattice), the longest
 * prefix (user-defined symbols).  Edges live in one open-addressing hash
 * table keyed by (node, byte); the root's 256 edges are a direct table.
 * Internal to the tokenizer. */
#ifndef CV_SP_TRIE_H
#define CV_SP_TRIE_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

typedef struct {
    uint32_t parent, child; /* child 0: empty slot */
    uint8_t byte;
} cv_sp_edge;

typedef struct {
    uint32_t root[256];  /* child of the root for each first byte, 0 if none */
    cv_sp_edge *edges;   /* cap slots, cap a power of two */
    size_t cap, n_edges;
    int32_t *value;      /* per node: piece id or -1 */
    size_t n_nodes, nodes_cap;
} cv_sp_trie;

void cv_sp_trie_init(cv_sp_trie *t);
void cv_sp_trie_free(cv_sp_trie *t);
/* Inserts s (n >= 1 bytes) with value id; *old receives the previous value
 * (-1 if the key was new; the stored value is not changed then). */
cv_status cv_sp_trie_insert(cv_sp_trie *t, const char *s, size_t n, int32_t id, int32_t *old, cv_error *err);

static inline uint32_t cv_sp_trie_hash(uint32_t node, uint8_t b)
{
    uint32_t h = node * 0x9E3779B1u ^ (uint32_t)b * 0x85EBCA77u;
    return h ^ (h >> 15);
}

/* The child of node along byte b, or 0. */
static inline uint32_t cv_sp_trie_child(const cv_sp_trie *t, uint32_t node, uint8_t b)
{
    if (node == 0)
        return t->root[b];
    if (t->cap == 0)
        return 0;
    const size_t mask = t->cap - 1;
    for (size_t i = cv_sp_trie_hash(node, b) & mask;; i = (i + 1) & mask) {
        const cv_sp_edge *e = &t->edges[i];
        if (e->child == 0)
            return 0;
        if (e->parent == node && e->byte == b)
            return e->child;
    }
}

/* The id stored for exactly s[0..n), or -1. */
int32_t cv_sp_trie_find(const cv_sp_trie *t, const char *s, size_t n);
/* The length of the longest key that is a prefix of s[0..n), 0 if none. */
size_t cv_sp_trie_longest(const cv_sp_trie *t, const char *s, size_t n);

#endif
