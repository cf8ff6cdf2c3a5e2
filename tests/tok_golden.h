/* tok_golden.h — the golden lines written by tools/make_tokenizer_golden
 * (format in that script): texts, ids, pieces and decoded texts produced by
 * the official SentencePiece library through icetk's layer. */
#ifndef TOK_GOLDEN_H
#define TOK_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

typedef struct {
    char kind;          /* 'E': encode text, then decode; 'D': decode ids */
    char *text;         /* E: the input bytes */
    size_t text_len;
    int64_t *ids;
    size_t n_ids;
    char *pieces;       /* E: concatenated pieces, piece i = pieces[off[i] .. off[i+1]) */
    size_t *off;
    char *dec;          /* icetk decode of ids */
    size_t dec_len;
    int line;
} tok_case;

typedef struct {
    tok_case *v;
    size_t n;
} tok_golden;

/* 0 on success; else a message in msg. */
int tok_golden_load(const char *path, tok_golden *g, char *msg, size_t msgn);
void tok_golden_free(tok_golden *g);

/* Encodes (E) and decodes through the C API and compares; 0 if identical,
 * else a message naming the line and the first difference. */
int tok_case_check(const cv_tokenizer *tok, const tok_case *c, char *msg, size_t msgn);

#endif
