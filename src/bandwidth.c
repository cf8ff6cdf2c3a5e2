/* bandwidth.c — streaming-read bandwidth (see bandwidth.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif

#include "bandwidth.h"

#include <math.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mapfile.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double cv_read_bandwidth(const cv_kernels *k, size_t bytes, int nthreads)
{
    const size_t n = bytes / sizeof(float);
    float *buf = n ? cv_alloc_big(n * sizeof *buf) : NULL;
    if (!buf)
        return 0.0;
    for (size_t i = 0; i < n; i++) /* touched first: no page faults timed */
        buf[i] = (float)(i & 7);
    double best = INFINITY, sink = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = now();
        double part = 0.0;
        (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads > 0 ? nthreads : omp_get_max_threads()) reduction(+ : part)
        {
            const size_t id = (size_t)omp_get_thread_num(), all = (size_t)omp_get_num_threads();
            part += k->sum_f32(buf + n * id / all, n * (id + 1) / all - n * id / all);
        }
#else
        part = k->sum_f32(buf, n);
#endif
        const double t = now() - t0;
        sink += part;
        best = t < best ? t : best;
    }
    cv_free_big(buf, n * sizeof *buf);
    /* the sums are used, so the reads cannot be optimised away */
    return sink == -1.0 ? 0.0 : (double)n * sizeof(float) / best * 1e-9;
}
