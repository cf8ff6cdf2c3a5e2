/* sp_trie.c — see sp_trie.h. */
#include "sp_trie.h"

#include <stdlib.h>
#include <string.h>

void cv_sp_trie_init(cv_sp_trie *t)
{
    memset(t, 0, sizeof *t);
}

void cv_sp_trie_free(cv_sp_trie *t)
{
    free(t->edges);
    free(t->value);
    memset(t, 0, sizeof *t);
}

static cv_status new_node(cv_sp_trie *t, uint32_t *node, cv_error *err)
{
    if (t->n_nodes == t->nodes_cap) {
        const size_t cap = t->nodes_cap ? 2 * t->nodes_cap : 1024;
        if (cap > UINT32_MAX / 2)
            return cv_error_set(err, CV_ERR_NOMEM, "trie of %zu nodes is too large", cap);
        int32_t *v = realloc(t->value, cap * sizeof *v);
        if (!v)
            return cv_error_set(err, CV_ERR_NOMEM, "out of memory (a trie of %zu nodes)", cap);
        t->value = v;
        t->nodes_cap = cap;
    }
    t->value[t->n_nodes] = -1;
    *node = (uint32_t)t->n_nodes++;
    return CV_OK;
}

static void put_edge(cv_sp_edge *edges, size_t cap, uint32_t parent, uint8_t b, uint32_t child)
{
    size_t i = cv_sp_trie_hash(parent, b) & (cap - 1);
    while (edges[i].child)
        i = (i + 1) & (cap - 1);
    edges[i] = (cv_sp_edge){parent, child, b};
}

static cv_status grow_edges(cv_sp_trie *t, cv_error *err)
{
    const size_t cap = t->cap ? 2 * t->cap : 4096;
    cv_sp_edge *e = calloc(cap, sizeof *e);
    if (!e)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory (a trie of %zu edges)", cap);
    for (size_t i = 0; i < t->cap; i++)
        if (t->edges[i].child)
            put_edge(e, cap, t->edges[i].parent, t->edges[i].byte, t->edges[i].child);
    free(t->edges);
    t->edges = e;
    t->cap = cap;
    return CV_OK;
}

static cv_status add_child(cv_sp_trie *t, uint32_t node, uint8_t b, uint32_t *child, cv_error *err)
{
    cv_status s = new_node(t, child, err);
    if (s)
        return s;
    if (node == 0) {
        t->root[b] = *child;
        return CV_OK;
    }
    if (2 * (t->n_edges + 1) > t->cap && (s = grow_edges(t, err)))
        return s;
    put_edge(t->edges, t->cap, node, b, *child);
    t->n_edges++;
    return CV_OK;
}

cv_status cv_sp_trie_insert(cv_sp_trie *t, const char *s, size_t n, int32_t id, int32_t *old, cv_error *err)
{
    cv_status st;
    uint32_t node = 0;
    if (t->n_nodes == 0 && (st = new_node(t, &node, err)))
        return st;
    for (size_t i = 0; i < n; i++) {
        const uint8_t b = (uint8_t)s[i];
        uint32_t c = cv_sp_trie_child(t, node, b);
        if (!c && (st = add_child(t, node, b, &c, err)))
            return st;
        node = c;
    }
    *old = t->value[node];
    if (*old < 0)
        t->value[node] = id;
    return CV_OK;
}

int32_t cv_sp_trie_find(const cv_sp_trie *t, const char *s, size_t n)
{
    if (t->n_nodes == 0 || n == 0)
        return -1;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++)
        if (!(node = cv_sp_trie_child(t, node, (uint8_t)s[i])))
            return -1;
    return t->value[node];
}

size_t cv_sp_trie_longest(const cv_sp_trie *t, const char *s, size_t n)
{
    if (t->n_nodes == 0)
        return 0;
    size_t best = 0;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(node = cv_sp_trie_child(t, node, (uint8_t)s[i])))
            break;
        if (t->value[node] >= 0)
            best = i + 1;
    }
    return best;
}
