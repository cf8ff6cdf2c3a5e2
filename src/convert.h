/* convert.h — SAT checkpoint folder (model_config.json, latest,
 * <iter>/mp_rank_00_model_states.pt) -> GGUF, streamed tensor by tensor.
 * Tensor names are the SAT state-dict keys verbatim, shapes in PyTorch order.
 * Errors are one line naming the file and the key or tensor; on failure no
 * output file is left. */
#ifndef CV_CONVERT_H
#define CV_CONVERT_H
#include <stddef.h>
#include <stdint.h>
#include "cv_status.h"
#include "cv_types.h"
#include "gguf.h"

/* Metadata keys written by cv_convert (the model loader reads exactly these). */
#define CV_KEY_ARCH          "general.architecture"        /* string "cogvideo" */
#define CV_KEY_NAME          "general.name"                /* string: the folder's name */
#define CV_KEY_STAGE         "cogvideo.stage"              /* u32: 1 sequential, 2 interpolate */
#define CV_KEY_NUM_LAYERS    "cogvideo.num_layers"         /* u32 */
#define CV_KEY_HIDDEN        "cogvideo.hidden_size"        /* u32 */
#define CV_KEY_HEADS         "cogvideo.num_attention_heads" /* u32 */
#define CV_KEY_VOCAB         "cogvideo.vocab_size"         /* u32 */
#define CV_KEY_MAX_SEQ       "cogvideo.max_sequence_length" /* u32: rows of the position table */
#define CV_KEY_ADD_SEQ       "cogvideo.additional_seqlen"  /* u32: rows of the extra position table */
#define CV_KEY_LAYOUT        "cogvideo.layout"             /* u32 array (SAT 'layout') */
#define CV_KEY_WINDOW        "cogvideo.window_size"        /* i32: -1 stage 1, e.g. 10 stage 2 */
#define CV_KEY_SWIN_SHIFT    "cogvideo.swin_shift"         /* i32: window/2 with swin (odd layers), else 0 */
#define CV_KEY_ATTN_PLUS     "cogvideo.attention_plus"     /* string "full" (stage 1), "swin" (stage 2) or "local3d" */
#define CV_KEY_LN_EPS        "cogvideo.layernorm_eps"      /* f32 1e-5 */
#define CV_KEY_IMAGE_TOKENS  "cogvideo.image_tokens"       /* u32: rows 0.. of the output projection (20000) */
#define CV_KEY_BOI           "cogvideo.boi_id"             /* u32: default vocab_size - 10 */
#define CV_KEY_N_TOKEN       "cogvideo.n_token_id"         /* u32: default image_tokens + 4 */
#define CV_KEY_FRAME_H       "cogvideo.frame_height"       /* u32: token rows per frame (20) */
#define CV_KEY_FRAME_W       "cogvideo.frame_width"        /* u32: token columns per frame (20) */
#define CV_KEY_MAX_TEXT      "cogvideo.max_text_len"       /* u32: text tokens the caches hold (74) */
#define CV_KEY_FRAME_POS     "cogvideo.frame_pos_offset"   /* u32: position row of frame 0's BOI (512) */
#define CV_KEY_EXTRA_POS     "cogvideo.extra_pos_offset"   /* u32: ids >= this use extra row id - offset (912) */
#define CV_KEY_TIME_SLOTS    "cogvideo.time_slots"         /* u32 array, stage 2 only: [0,2,4,1,3] */
#define CV_KEY_LOCAL3D_K     "cogvideo.local3d_kernel"     /* u32: local3d kernel size (odd); 0 for full and swin */

typedef struct {
    int type;              /* -1: keep the checkpoint's dtype for matrices; else a cv_type */
    int64_t boi;           /* -1: vocab_size - 10 */
    int64_t n_token;       /* -1: image_tokens + 4 */
    int64_t image_tokens;  /* -1: 20000 */
    int64_t frame_height;  /* 20: the release's 20x20 token grid */
    int64_t frame_width;   /* 20 */
    int64_t max_text_len;  /* 74: the original's mems hold 400+74 / 2000+74 */
    int64_t frame_pos_offset; /* 512 */
    int64_t extra_pos_offset; /* -1: frame_pos_offset + frame_height * frame_width */
    /* The attention-plus kind: NULL = the release's (stage 1 "full", stage 2
     * "swin"); else "full", "swin" (needs window_size > 0) or "local3d", the
     * paper's option the release never used (DESIGN.md §2). */
    const char *attention_plus;
    int64_t local3d_kernel; /* 0: unset; odd 1 .. 4095, required with "local3d" and only there */
    /* The pipeline settings (pipeline_config.h): NULL = the release's
     * defaults for the model's stage; else a JSON file overriding them. */
    const char *pipeline_json;
    /* NULL = no cluster labels; else a 1-D int64 or int32 .npy of
     * image_tokens labels >= 0 (CogVideo's cluster_label2.npy, or the output
     * of `cogvideo clusters`); n_clusters = the largest label + 1. */
    const char *clusters_npy;
    /* Called after each tensor (may be NULL): i of n done, bytes so far. */
    void (*progress)(void *ctx, size_t i, size_t n, uint64_t bytes);
    void *progress_ctx;
} cv_convert_opts;

void cv_convert_opts_default(cv_convert_opts *o);

/* "f32", "f16", "bf16", "q8_0" -> cv_type; -1 if not one of them. */
int cv_convert_parse_type(const char *s);

/* Every key of pipeline_config.h is written too (cogvideo.pipeline.*, and
 * with clusters_npy cogvideo.cluster_labels and cogvideo.n_clusters). */
cv_status cv_convert(const char *sat_dir, const char *out_path, const cv_convert_opts *opts, cv_error *err);

/* Writes nbytes of a read-only file mapping (a checkpoint's storage) to w
 * as tensor data, in 64 MiB steps, each dropped from the page cache after
 * it is written, so the resident input stays small (convert and
 * convert-vqvae share it). */
cv_status cv_convert_copy_mapped(cv_gguf_writer *w, const void *data, size_t nbytes, cv_error *err);

/* ggml's quantize_row_q8_0_ref: n a multiple of 32, n/32 blocks out. */
void cv_quantize_q8_0_row(const float *x, cv_block_q8_0 *out, size_t n);

#endif
