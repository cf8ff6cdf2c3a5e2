/* fuzz_convert.c — `cogvideo convert` on a SAT checkpoint folder whose
 * mp_rank_00_model_states.pt is the input (model_config.json fixed: the
 * 1-layer stage-2 seed of make-seeds).  Unknown or missing tensor names,
 * wrong shapes and dtypes must be errors that leave nothing behind (no
 * output, no temporary file: abort otherwise); whatever convert accepts,
 * the model loader must accept too (abort otherwise), and a 2-token forward
 * pass on it must run. */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"

static const char config[] =
    "{\"model_class\": \"CogVideoModel\", \"num_layers\": 1, \"hidden_size\": 8,"
    " \"num_attention_heads\": 2, \"vocab_size\": 24, \"hidden_dropout\": 0.0,"
    " \"attention_dropout\": 0.0, \"layernorm_order\": \"sandwich\", \"model_parallel_size\": 1,"
    " \"max_sequence_length\": 12, \"layout\": [4, 12, 28], \"window_size\": 2,"
    " \"additional_seqlen\": 24, \"cogvideo_stage\": 2}";

/* After a failed convert the folder holds what the test wrote, nothing else. */
static void check_clean(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name;
        if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, "1") && strcmp(n, "latest") &&
            strcmp(n, "model_config.json")) {
            fprintf(stderr, "fuzz_convert: a failed convert left %s/%s behind\n", dir, n);
            abort();
        }
    }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[4096], sub[4200], p[4300], out[4300];
    snprintf(dir, sizeof dir, "%s/cv-fuzz-sat-%ld", fuzz_tmpdir(), (long)getpid());
    snprintf(sub, sizeof sub, "%s/1", dir);
    (void)mkdir(dir, 0700);
    (void)mkdir(sub, 0700);
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(p, sizeof p, "%s/model_config.json", dir);
    int ok = fuzz_write_file(p, config, sizeof config - 1) == 0;
    snprintf(p, sizeof p, "%s/latest", dir);
    ok = ok && fuzz_write_file(p, "1", 1) == 0;
    snprintf(p, sizeof p, "%s/mp_rank_00_model_states.pt", sub);
    ok = ok && fuzz_write_file(p, data, size) == 0;
    if (ok) {
        cv_convert_opts o;
        cv_convert_opts_default(&o);
        o.image_tokens = 8;
        o.frame_height = o.frame_width = 2;
        o.max_text_len = 4;
        o.frame_pos_offset = 4;
        o.extra_pos_offset = 12;
        o.boi = 14;
        o.n_token = 12;
        cv_error err;
        if (cv_convert(dir, out, &o, &err) != CV_OK)
            check_clean(dir);
        else if (fuzz_run_model(out, &err) != CV_OK) {
            fprintf(stderr, "fuzz_convert: convert wrote a model the loader rejects: %s\n", err.msg);
            abort();
        }
    }
    remove(p);
    remove(out);
    snprintf(p, sizeof p, "%s/model_config.json", dir);
    remove(p);
    snprintf(p, sizeof p, "%s/latest", dir);
    remove(p);
    rmdir(sub);
    rmdir(dir);
    return 0;
}
