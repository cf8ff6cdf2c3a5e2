/* fuzz_sp_model.c — a SentencePiece .model (ModelProto) through the
 * tokenizer loader, then an encode of a fixed prompt and of the input's
 * own tail as text, and a decode of every id. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_error err;
    cv_tokenizer *tok = NULL;
    if (cv_tokenizer_from_proto(data, size, "fuzz.model", NULL, &tok, &err) != CV_OK)
        return 0;
    cv_tokens out = {0};
    static const char text[] = "a red circle moves left, 4.0\xe7\xa7\x92 \xe8\xa7\x86\xe9\xa2\x91 \xc3";
    (void)cv_tokenizer_encode(tok, text, sizeof text - 1, &out, &err);
    size_t tail = size < 64 ? size : 64;
    if (cv_tokenizer_encode(tok, (const char *)data + size - tail, tail, &out, &err) == CV_OK) {
        char *s = NULL;
        size_t len = 0;
        if (cv_tokenizer_decode(tok, out.ids, out.n, &s, &len, &err) == CV_OK)
            free(s);
    }
    cv_tokens_free(&out);
    cv_tokenizer_free(tok);
    return 0;
}
