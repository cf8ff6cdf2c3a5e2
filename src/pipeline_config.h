/* pipeline_config.h — the generation pipeline's defaults, kept in model
 * metadata (DESIGN.md §1: "keep the prefix template, the suffixes and every
 * default in model metadata, not in code"), and the cluster labels of the
 * CogLM sampler.
 *
 * `cogvideo convert` writes the release's values (below) into every stage
 * GGUF, or those of a JSON file given with --pipeline; `cogvideo generate`
 * reads them back from the stage it runs.  Keys (all under
 * "cogvideo.pipeline." unless stated; the JSON file uses the part after that
 * prefix, e.g. {"first_frame_suffix": " HD photo", "sampler.video.top_k": 12}):
 *
 *   first_frame_suffix      str   " 高清摄影"  appended to the prompt for the first frame
 *   duration_format         str   "{}秒"       "{}" = Python str(float(seconds)): "4.0秒";
 *                                              followed by the model's <n> id, then the prompt
 *   guided_suffix           str   " 视频"      appended to the prompt when guided
 *   guider_text             str   "视频"       the guider's text after the duration prefix
 *   keyframes               u32   5            stage 1: frames of the keyframe video
 *   keyframe_seconds        f32   4.0          stage 1: the duration prefix of keyframes;
 *                                              stage-2 round r (0, 1, ...) uses
 *                                              keyframe_seconds / 2^(r+1): 2.0, 1.0, 0.5
 *   rounds                  u32   3            stage 2: interpolation rounds by default
 *   log_text_weight         f32   1.4          w of unguided runs and of the first frame
 *   guidance_alpha          f32   3.0          logits = u + (c - u) alpha
 *   guided                  bool  true (stage 1) / false (stage 2): the release's default
 *   sampler.first.temperature   f32 1.0   the first frame (CogView2 mode)
 *   sampler.first.top_k         u32 16
 *   sampler.first.temperature2  f32 0.89
 *   sampler.video.temperature   f32 1.05  every other frame
 *   sampler.video.top_k         u32 12
 *   sampler.video.temperature2  f32 0.89
 *   sampler.faithful_off_by_one bool true  the last token of the first frame uses the
 *                                          video settings (golden/README.md quirk 4)
 *
 * Cluster labels (optional at convert time, needed to sample):
 *   cogvideo.cluster_labels  i32 array [image_tokens], each in [0, n_clusters)
 *   cogvideo.n_clusters      u32 */
#ifndef CV_PIPELINE_CONFIG_H
#define CV_PIPELINE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "cv_status.h"
#include "gguf.h"
#include "sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CV_PIPE_PREFIX "cogvideo.pipeline."
#define CV_KEY_CLUSTER_LABELS "cogvideo.cluster_labels"
#define CV_KEY_N_CLUSTERS "cogvideo.n_clusters"
#define CV_PIPE_MAX_TEXT 256 /* bytes of each string value, NUL included */

typedef struct {
    char first_frame_suffix[CV_PIPE_MAX_TEXT];
    char duration_format[CV_PIPE_MAX_TEXT]; /* exactly one "{}" */
    char guided_suffix[CV_PIPE_MAX_TEXT];
    char guider_text[CV_PIPE_MAX_TEXT];
    int keyframes;          /* >= 2 */
    float keyframe_seconds; /* > 0 */
    int rounds;             /* >= 0 */
    float log_text_weight;
    float guidance_alpha;
    bool guided;
    cv_sampler_settings first, video;
    bool faithful_off_by_one;
} cv_pipeline_config;

/* The release's values for a stage-1 (stage = 1) or stage-2 model. */
void cv_pipeline_config_default(cv_pipeline_config *c, int stage);

/* Range checks (positive temperatures, top_k >= 1, one "{}" in the format,
 * keyframes >= 2 ...); `what` names the file in the message. */
cv_status cv_pipeline_config_check(const cv_pipeline_config *c, const char *what, cv_error *err);

/* Overrides fields of c from a JSON object file (keys as above without the
 * prefix); an unknown key, a wrong type or a value out of range is an error
 * naming the file and the key. */
cv_status cv_pipeline_config_load_json(cv_pipeline_config *c, const char *path, cv_error *err);

/* Writes every key (convert). */
cv_status cv_pipeline_config_write(const cv_pipeline_config *c, cv_gguf_writer *w, cv_error *err);

/* Reads every key from a model GGUF (generate).  A missing key is an error
 * naming the file and the key ("re-convert the model"). */
cv_status cv_pipeline_config_read(const cv_gguf *g, cv_pipeline_config *c, cv_error *err);

/* The duration prefix text: duration_format with "{}" replaced by Python's
 * str(float(seconds)) ("4.0", "0.5").  Returns the length, 0 if it does not
 * fit in n bytes. */
size_t cv_pipeline_duration_text(const cv_pipeline_config *c, double seconds, char *buf, size_t n);

/* Cluster labels: writes both keys (labels[t] in [0, n_clusters) for
 * t < n). */
cv_status cv_cluster_labels_write(cv_gguf_writer *w, const int32_t *labels, int n, int n_clusters,
                                  cv_error *err);
/* Reads them: *labels malloc'ed, expect_n entries (the model's
 * image_tokens).  CV_ERR_FORMAT with a message naming the file and key when
 * absent, of another length or type, or a label is out of range. */
cv_status cv_cluster_labels_read(const cv_gguf *g, int expect_n, int32_t **labels, int *n_clusters,
                                 cv_error *err);
/* True when the GGUF has the labels key (to tell "absent" from "broken"). */
bool cv_cluster_labels_present(const cv_gguf *g);

#ifdef __cplusplus
}
#endif
#endif
