/* bandwidth.h — the machine's streaming-read bandwidth: the limit that
 * batch-1 decode and GEMV figures are compared with (a GEMV must read every
 * weight once), measured in the same run as the figure itself by
 * `cogvideo bench` and `test_kernels --bench`. */
#ifndef CV_BANDWIDTH_H
#define CV_BANDWIDTH_H

#include <stddef.h>

#include "kernels.h"

/* GB/s of summing a buffer of `bytes` (allocated with cv_alloc_big, so with
 * the page size the weights get) with k->sum_f32 on nthreads threads, one
 * contiguous part each; best of 5.  nthreads <= 0: the OpenMP default.
 * Returns 0 if the buffer cannot be had. */
double cv_read_bandwidth(const cv_kernels *k, size_t bytes, int nthreads);

#endif
