/* linear.c — threaded GEMV / GEMM over the single-threaded kernels.
 *
 * Work is split over output rows (weight rows) in chunks of CV_LINEAR_CHUNK:
 * each thread reads a disjoint slice of W, which is what a memory-bound GEMV
 * wants, and every output element is computed whole by one kernel call, so
 * the thread count cannot change a bit of the result (see linear.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "linear.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

size_t cv_rows_nbytes(cv_type t, size_t rows, size_t cols)
{
    size_t row;
    switch (t) {
    case CV_TYPE_F32:
        if (cols > SIZE_MAX / 4)
            return 0;
        row = cols * 4;
        break;
    case CV_TYPE_F16:
    case CV_TYPE_BF16:
        if (cols > SIZE_MAX / 2)
            return 0;
        row = cols * 2;
        break;
    case CV_TYPE_Q8_0:
        if (cols % CV_QK8_0 != 0)
            return 0;
        row = cols / CV_QK8_0 * sizeof(cv_block_q8_0);
        break;
    default:
        return 0;
    }
    if (row != 0 && rows > SIZE_MAX / row)
        return 0;
    return rows * row;
}

cv_gemv_fn cv_gemv_kernel(const cv_kernels *k, cv_type t)
{
    switch (t) {
    case CV_TYPE_F32: return k->gemv_f32;
    case CV_TYPE_F16: return k->gemv_f16;
    case CV_TYPE_BF16: return k->gemv_bf16;
    case CV_TYPE_Q8_0: return NULL; /* k->gemv_q8_0 takes quantized activations */
    }
    return NULL;
}

cv_gemms_fn cv_gemms_kernel(const cv_kernels *k, cv_type t)
{
    switch (t) {
    case CV_TYPE_F32: return k->gemms_f32;
    case CV_TYPE_F16: return k->gemms_f16;
    case CV_TYPE_BF16: return k->gemms_bf16;
    case CV_TYPE_Q8_0: return NULL; /* k->gemms_q8_0 takes quantized activations */
    }
    return NULL;
}

cv_gemm_fn cv_gemm_kernel(const cv_kernels *k, cv_type t)
{
    switch (t) {
    case CV_TYPE_F32: return k->gemm_f32;
    case CV_TYPE_F16: return k->gemm_f16;
    case CV_TYPE_BF16: return k->gemm_bf16;
    case CV_TYPE_Q8_0: return k->gemm_q8_0;
    }
    return NULL;
}

/* A known type, and for q8_0 whole blocks per row (cols == 0 is allowed:
 * every output is an empty sum). */
static int shape_ok(cv_type t, size_t cols)
{
    return cv_rows_nbytes(t, 1, CV_QK8_0) != 0 && (t != CV_TYPE_Q8_0 || cols % CV_QK8_0 == 0);
}

/* What the kernels cannot take gets a NaN output rather than a crash. */
static void poison(float *y, size_t m, size_t n, size_t ldy)
{
    for (size_t i = 0; i < m; i++)
        for (size_t r = 0; r < n; r++)
            y[i * ldy + r] = NAN;
}

#ifdef _OPENMP
static int thread_count(int nthreads)
{
    return nthreads > 0 ? nthreads : omp_get_max_threads();
}
#endif

/* The arguments of one GEMV/GEMM call, shared by its chunks: the kernel
 * for the chunk function in use, and X as floats or (q8_0) as quantized
 * blocks xq, ldxq blocks apart. */
typedef struct {
    cv_gemv_fn gemv;
    cv_gemm_fn gemm;
    cv_gemvq_fn gemvq;
    cv_gemmsq_fn gemmsq;
    size_t m, kdim, ldx, ldxq, ldy, row_bytes;
    const float *x;
    const cv_block_q8x *xq;
    const char *w;
    float *y;
} linear_call;

/* Calls body(a, r0, nr) for the fixed chunks [r0, r0+nr) of `chunk` rows
 * covering [0, n), spread over threads.  The chunks do not depend on the
 * thread count, so neither does any output.  Products smaller than
 * CV_LINEAR_PAR_MIN (weight bytes x activation rows) run on the calling
 * thread: for them a fork/join costs more than it saves, and on a busy
 * machine a helper thread that is not scheduled in time stalls every step
 * (measured: a 2-layer, hidden-64 model decoded 10x slower with 2 threads
 * than with 1 while another job ran). */
typedef void (*chunk_fn)(const void *ctx, size_t r0, size_t nr);

static void run_chunks(size_t n, size_t chunk, int nthreads, chunk_fn body, const linear_call *a)
{
    const size_t nchunks = (n + chunk - 1) / chunk;
#ifdef _OPENMP
    const int nt = thread_count(nthreads);
    const double work = (double)n * (double)a->row_bytes * (double)(a->m > 1 ? a->m : 1);
    /* dynamic: a thread that the OS (or this VM's neighbours) delayed
     * takes fewer chunks instead of holding everyone at the barrier; which
     * thread runs a chunk never changes its result */
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nchunks > 1 && nt > 1 && work >= CV_LINEAR_PAR_MIN)
#else
    (void)nthreads;
#endif
    for (size_t c = 0; c < nchunks; c++) {
        const size_t r0 = c * chunk;
        body(a, r0, n - r0 < chunk ? n - r0 : chunk);
    }
}


static void gemv_chunk(const void *ctx, size_t r0, size_t nr)
{
    const linear_call *a = ctx;
    a->gemv(nr, a->kdim, a->w + r0 * a->row_bytes, a->x, a->y + r0);
}

static void gemm_chunk(const void *ctx, size_t r0, size_t nr)
{
    const linear_call *a = ctx;
    a->gemm(a->m, nr, a->kdim, a->x, a->ldx, a->w + r0 * a->row_bytes, a->y + r0, a->ldy);
}

/* ---------------------------------------------------------------- q8_0
 * q8_0 GEMV and small-m GEMM: the activations are quantized ONCE per call
 * (cv_block_q8x, kernels.h), on the calling thread (k/32 blocks per row, a
 * few microseconds against the >= 100 us of reading the weights), then the
 * integer kernels run over the same fixed row chunks as every other type:
 * each chunk reads the shared quantized rows, so the thread count changes
 * no bit. */
static void gemvq_chunk(const void *ctx, size_t r0, size_t nr)
{
    const linear_call *a = ctx;
    a->gemvq(nr, a->kdim, a->w + r0 * a->row_bytes, a->xq, a->y + r0);
}

static void gemmsq_chunk(const void *ctx, size_t r0, size_t nr)
{
    const linear_call *a = ctx;
    a->gemmsq(a->m, nr, a->kdim, a->xq, a->ldxq, a->w + r0 * a->row_bytes, a->y + r0, a->ldy);
}

/* Y = X W^T for q8_0 W and m rows of X (kdim a multiple of 32); use_gemv
 * (m = 1 only) picks the GEMV kernel.  If the scratch cannot be allocated,
 * the float-activation gemm_q8_0 kernel computes the product instead:
 * correct (without the activation quantization error) and slower, rather
 * than a NaN output. */
static void q8_linear(const cv_kernels *k, int use_gemv, size_t m, size_t n, size_t kdim,
                      const float *x, size_t ldx, const void *w, float *y, size_t ldy,
                      int nthreads)
{
    const size_t nb = kdim / CV_QK8_0;
    cv_block_q8x *xq = malloc((m * nb != 0 ? m * nb : 1) * sizeof *xq); /* m <= 8: no overflow */
    const linear_call a = { .gemm = k->gemm_q8_0, .gemvq = k->gemv_q8_0, .gemmsq = k->gemms_q8_0,
                            .m = m, .kdim = kdim, .ldx = ldx, .ldxq = nb, .ldy = ldy,
                            .row_bytes = nb * sizeof(cv_block_q8_0), .x = x, .xq = xq, .w = w,
                            .y = y };
    if (!xq) {
        run_chunks(n, CV_LINEAR_CHUNK, nthreads, gemm_chunk, &a);
        return;
    }
    for (size_t i = 0; i < m; i++)
        k->quantize_q8x(x + i * ldx, xq + i * nb, kdim);
    run_chunks(n, CV_LINEAR_CHUNK, nthreads, use_gemv ? gemvq_chunk : gemmsq_chunk, &a);
    free(xq);
}

void cv_gemv(const cv_kernels *k, cv_type t, size_t rows, size_t cols, const void *w,
             const float *x, float *y, int nthreads)
{
    if (t == CV_TYPE_Q8_0 && shape_ok(t, cols)) {
        q8_linear(k, 1, 1, rows, cols, x, cols, w, y, rows, nthreads);
        return;
    }
    const cv_gemv_fn fn = cv_gemv_kernel(k, t);
    if (!fn || !shape_ok(t, cols)) {
        poison(y, 1, rows, rows);
        return;
    }
    const linear_call a = { .gemv = fn, .kdim = cols, .row_bytes = cv_rows_nbytes(t, 1, cols),
                            .x = x, .w = w, .y = y };
    run_chunks(rows, CV_LINEAR_CHUNK, nthreads, gemv_chunk, &a);
}

void cv_gemm_kernels(const cv_kernels *k, cv_type t, size_t m, size_t n, size_t kdim,
                     const float *x, size_t ldx, const void *w, float *y, size_t ldy,
                     int nthreads)
{
    if (t == CV_TYPE_Q8_0 && m <= CV_LINEAR_SMALL_M && shape_ok(t, kdim)) {
        q8_linear(k, 0, m, n, kdim, x, ldx, w, y, ldy, nthreads);
        return;
    }
    /* a few rows (AR decode of a small batch): the non-packing kernel, whose
     * cost is one read of W (packing W cost 3.7x a GEMV at m = 2) */
    const cv_gemm_fn fn = m <= CV_LINEAR_SMALL_M ? cv_gemms_kernel(k, t) : cv_gemm_kernel(k, t);
    if (!fn || !shape_ok(t, kdim)) {
        poison(y, m, n, ldy);
        return;
    }
    const linear_call a = { .gemm = fn, .m = m, .kdim = kdim, .ldx = ldx, .ldy = ldy,
                            .row_bytes = cv_rows_nbytes(t, 1, kdim), .x = x, .w = w, .y = y };
    run_chunks(n, CV_LINEAR_CHUNK, nthreads, gemm_chunk, &a);
}

#ifdef HAVE_OPENBLAS
static void blas_chunk(const void *ctx, size_t r0, size_t nr)
{
    const linear_call *a = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)a->m, (int)nr, (int)a->kdim, 1.0f,
                a->x, (int)a->ldx, (const float *)(const void *)(a->w + r0 * a->row_bytes),
                (int)a->kdim, 0.0f, a->y + r0, (int)a->ldy);
}

/* OpenBLAS's own threading splits the work by the thread count, and its
 * result then changes with the thread count (measured: for m = 13 .. 1000,
 * n = 296 .. 12288, k = 448 .. 12288, 0.5 % to 50 % of the outputs differ in
 * the last bits between 1, 2, 3 and 4 threads).  So it is told to use ONE
 * thread, and the fixed chunks of CV_LINEAR_BLAS_CHUNK weight rows are
 * spread over OpenMP threads as for the kernels: one chunk is always the
 * same single-threaded call, whatever thread runs it.  This is OpenBLAS's
 * documented way to be called from a threaded program (no oversubscription)
 * and was measured as fast as its own 2-thread sgemm on 2 cores.
 * Returns 0 (use the kernels) if it cannot take the call. */
static int blas_gemm(size_t m, size_t n, size_t kdim, const float *x, size_t ldx, const float *w,
                     float *y, size_t ldy, int nthreads)
{
    if (m > INT_MAX || kdim > INT_MAX || ldx > INT_MAX || ldy > INT_MAX)
        return 0;
    if (openblas_get_num_threads() != 1) {
#ifdef _OPENMP
        if (omp_in_parallel()) /* not ours to change from inside a region */
            return 0;
#endif
        openblas_set_num_threads(1);
    }
    const linear_call a = { .m = m, .kdim = kdim, .ldx = ldx, .ldy = ldy,
                            .row_bytes = kdim * sizeof(float), .x = x, .w = (const char *)w, .y = y };
    run_chunks(n, CV_LINEAR_BLAS_CHUNK, nthreads, blas_chunk, &a);
    return 1;
}
#endif

void cv_gemm(const cv_kernels *k, cv_type t, size_t m, size_t n, size_t kdim, const float *x,
             size_t ldx, const void *w, float *y, size_t ldy, int nthreads)
{
#ifdef HAVE_OPENBLAS
    /* kdim == 0 is left to the kernels: BLAS wants leading dimensions >= 1.
     * A few rows (AR decode of a small batch) are bound by reading the
     * weights, which our GEMM kernels do once for all rows without
     * OpenBLAS's packing copies. */
    if (t == CV_TYPE_F32 && m >= CV_LINEAR_BLAS_MIN_M && n >= 1 && kdim >= 1 &&
        blas_gemm(m, n, kdim, x, ldx, w, y, ldy, nthreads))
        return;
#endif
    cv_gemm_kernels(k, t, m, n, kdim, x, ldx, w, y, ldy, nthreads);
}
