/* cogvideo.h — the public API of libcogvideo (umbrella header).
 *
 * Install layout: every public header lives in $(includedir)/cogvideo/ and
 * `pkg-config --cflags cogvideo` points there, so users write
 *   #include <cogvideo.h>
 * Modules: status and errors (cv_status.h), element types (cv_types.h), the
 * kernel dispatch table (kernels.h), threaded GEMV/GEMM (linear.h), .npy
 * tensors (npy.h) and GGUF model files (gguf.h). */
#ifndef COGVIDEO_H
#define COGVIDEO_H

#include "cv_status.h"
#include "cv_types.h"
#include "gguf.h"
#include "kernels.h"
#include "linear.h"
#include "model.h"
#include "filling.h"
#include "npy.h"
#include "tokenizer.h"

#define COGVIDEO_VERSION_MAJOR 0
#define COGVIDEO_VERSION_MINOR 1
#define COGVIDEO_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string, e.g. "0.1.0". */
const char *cv_version(void);

#ifdef __cplusplus
}
#endif
#endif
