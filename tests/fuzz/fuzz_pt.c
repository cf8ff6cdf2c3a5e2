/* fuzz_pt.c — a PyTorch checkpoint (zip archive + pickle) through the
 * reader `cogvideo convert` uses, which must never execute or trust what
 * the pickle says: every tensor it returns is touched over its nbytes.
 * Both forms are tried: a SAT checkpoint (state dict under "module") and a
 * bare state dict (icetk's VQVAE). */
#include "fuzz.h"

#include "ckpt_pickle.h"
#include "ckpt_zip.h"
#include "ptload.h"

static void walk(const uint8_t *data, size_t size, const char *top_key)
{
    cv_error err;
    cv_pt *pt = NULL;
    if (cv_pt_open_mem(data, size, "fuzz.pt", top_key, &pt, &err) != CV_OK)
        return;
    unsigned s = 0;
    for (size_t i = 0; i < cv_pt_count(pt); i++) {
        const cv_pt_tensor *t = cv_pt_at(pt, i);
        s += fuzz_touch(t->name, 1) + fuzz_touch(t->storage_key, 1) + fuzz_touch(t->data, t->nbytes);
    }
    (void)s;
    cv_pt_close(pt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    walk(data, size, "module");
    walk(data, size, NULL);
    /* the pickle reader alone, on the raw bytes (a data.pkl) */
    cv_error err;
    cv_pickle *pk = NULL;
    if (cv_pickle_load(data, size, "data.pkl", &pk, &err) == CV_OK)
        cv_pickle_free(pk);
    return 0;
}
