/* fuzz_util.c — helpers shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "model.h"

int fuzz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}

const char *fuzz_tmpdir(void)
{
    const char *dir = getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

int fuzz_write_temp(const uint8_t *data, size_t size, const char *suffix, char *path, size_t n)
{
    int len = snprintf(path, n, "%s/cv-fuzz-%ld%s", fuzz_tmpdir(), (long)getpid(), suffix);
    if (len < 0 || (size_t)len >= n)
        return -1;
    return fuzz_write_file(path, data, size);
}

unsigned fuzz_touch(const void *p, size_t n)
{
    const volatile unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31u + b[i];
    return s;
}

cv_status fuzz_run_model(const char *path, cv_error *err)
{
    cv_model *m = NULL;
    cv_status s = cv_model_load(path, &m, err);
    if (s)
        return s;
    const cv_hparams *hp = cv_model_hparams(m);
    cv_state *st = NULL;
    if (hp->hidden <= 4096 && hp->pos_rows >= 2 && cv_state_new(m, 2, &st, err) == CV_OK) {
        int64_t ids[2] = {0, hp->vocab - 1}, pos[2] = {0, 1};
        float *hidden = malloc(2 * sizeof(float) * (size_t)hp->hidden);
        float *logits = malloc(2 * sizeof(float) * (size_t)hp->image_tokens);
        cv_call call = {.st = st, .ids = ids, .pos = pos, .n = 2, .text_len = 1, .hidden = hidden};
        if (hidden && logits && cv_model_forward(m, &call, 1, 1, err) == CV_OK)
            cv_model_logits(m, hidden, 2, logits, 1);
        free(hidden);
        free(logits);
        cv_state_free(st);
    }
    cv_model_free(m);
    return CV_OK;
}
