/* fuzz_config.c — a pipeline settings file (generate --stage1-config /
 * --stage2-config, convert --pipeline) through the JSON loader and the
 * range checks, then the duration text its format string makes. */
#include "fuzz.h"

#include <stdio.h>

#include "pipeline_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4096];
    if (fuzz_write_temp(data, size, ".json", path, sizeof path) != 0)
        return 0;
    cv_error err;
    cv_pipeline_config c;
    cv_pipeline_config_default(&c, 1);
    if (cv_pipeline_config_load_json(&c, path, &err) == CV_OK &&
        cv_pipeline_config_check(&c, path, &err) == CV_OK) {
        char buf[256];
        (void)cv_pipeline_duration_text(&c, 4.0, buf, sizeof buf);
        (void)cv_pipeline_duration_text(&c, 0.5, buf, sizeof buf);
    }
    remove(path);
    return 0;
}
