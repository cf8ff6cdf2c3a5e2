/* gemms_avx512.c — AVX-512 (F/BW/VL) twins of the small-m GEMM Y = X W^T
 * (AR decode of 2..8 sequences) for f32, f16 and bf16 weights.
 *
 * Why a level of its own: the AVX2 kernel (gemms_avx2.c) is bound by the
 * FMAs at m = 8 (m*n*k/8 of them), ~3 GEMVs.  Zen 5 executes 512-bit FMAs
 * at full width, so 16 lanes per FMA halve that count.
 *
 * The AVX2 design re-tuned for 32 zmm: per 16 columns each weight row is
 * widened in registers once and FMA'd into one accumulator per (weight row,
 * activation row), for blocks of up to MB = 8 activation rows, weight rows
 * 2 at a time (16 accumulators + 2 weights + 1 x: 19 of 32 zmm).  Ragged
 * tails are one masked step (masked loads never touch, nor fault on, the
 * lanes they leave out).  Two changes the wider FMAs made necessary:
 *   - slices of X: at k = 3072 the 8 rows of X (96 KiB) do not fit L1 and
 *     streamed from L2 for every row pair (m = 8 in cache: 115 GFLOP/s);
 *     walking all row pairs of a group of NG rows per slice of X_BYTES of X,
 *     the partial sums kept in a stack scratch between slices, made it 180;
 *   - an explicit prefetch of the weights PF_BYTES ahead in walk order, one
 *     line per 64 bytes walked (issuing a piece's lines in one burst
 *     measured 1.5-2x slower from DRAM).
 * m <= 2 walks one row at a time without slices (see gemms_typed).
 *
 * Measured on this Zen 5 (one thread, 4096 x k f16 weights from DRAM in
 * calls of 64 rows as src/linear.c makes them, cost in AVX2 GEMVs of the
 * same weights; the machine is shared and noisy, +-15 %):
 *   k       m = 1     m = 2      m = 4      m = 8      AVX2 m = 8
 *   1024    1.1       1.0-1.1    1.2-1.8    1.8-2.2    3.2-3.6
 *   3072    1.0-1.2   1.1-1.2    1.2-1.4    1.65-1.8   2.8-3.2
 *   12288   0.7-0.8   0.85-1.1   0.75-0.9   1.07-1.09  1.6-1.9
 * (k = 12288: the AVX2 GEMV itself reads only ~15 GB/s there.)  At m = 1
 * this kernel is no better than the GEMV at k <= 3072, so src/linear.c
 * keeps routing m = 1 to gemv.
 *
 * Every element is one 16-lane FMA chain over the columns in order (the
 * ragged tail last; between slices the 16 lanes are stored and reloaded
 * whole), then one fixed reduction (hsum16): it depends neither on m, on
 * the block, slice width or row grouping, nor on the other weight rows of
 * the call, so splitting rows over threads changes no bit. */
#include "x86.h"

#include "avx2_util.h"

/* Sum of the 16 lanes in one fixed order: the two halves, then as AVX2.
 * (The high half via the 64-bit extract: the 32-bit one is AVX512DQ.) */
static inline float hsum16(__m512 v)
{
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return cv_avx2_hsum(_mm256_add_ps(_mm512_castps512_ps256(v), hi));
}

/* X[i, c..c+16) of one activation row, lanes outside `mask` zero.  The
 * empty asm pins the value in a register, as in gemms_avx2.c: otherwise
 * the load is folded into each of the NR FMAs that use it. */
static inline __m512 load_x(const float *xi, __mmask16 mask)
{
    __m512 v = _mm512_maskz_loadu_ps(mask, xi);
#if defined(__GNUC__)
    __asm__("" : "+v"(v));
#endif
    return v;
}

/* W[row, c..c+16) of type t widened to float, lanes outside `mask` zero;
 * t is a constant after inlining, and so is mask in the main loop. */
static inline __m512 load_w(cv_type t, const void *row, size_t c, __mmask16 mask)
{
    switch (t) {
    case CV_TYPE_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, (const uint16_t *)row + c));
    case CV_TYPE_BF16: /* a bfloat16 is the high half of its float */
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, (const uint16_t *)row + c)), 16));
    default:
        return _mm512_maskz_loadu_ps(mask, (const float *)row + c);
    }
}

enum {
    MB = 8,           /* activation rows per block: 16 accumulators at nr = 2 */
    X_BYTES = 16384,  /* the slice of X (mb rows) walked per row pair, kept in L1 */
    PF_BYTES = 8192,  /* prefetch distance in weight bytes (4 and 16 KiB: no better) */
    NG = 32           /* weight rows per group: 16 KiB of partial sums on the stack */
};

/* The rows to prefetch while a block runs: [a0, a0 + len), [a1, a1 + len). */
typedef struct {
    const char *a0, *a1;
    size_t len;
} pf_rows;

/* a<j><i> += w<j> * X[i, c..c+16) for j < nr, i < mb.  Named variables, not
 * an array: GCC -O2 keeps an array of accumulators on the stack (measured
 * in the AVX2 kernel: 1.4x slower at m = 8). */
#define CV_FMA_ROW(i)                                                  \
    if (mb > (i)) {                                                    \
        const __m512 xv = load_x(x + (i) * ldx + c, mask);             \
        a0##i = _mm512_fmadd_ps(w0v, xv, a0##i);                       \
        if (nr > 1)                                                    \
            a1##i = _mm512_fmadd_ps(w1v, xv, a1##i);                   \
    }
#define CV_STEP(MASK)                                                  \
    do {                                                               \
        const __mmask16 mask = (MASK);                                 \
        const __m512 w0v = load_w(t, w0, c, mask);                     \
        const __m512 w1v = nr > 1 ? load_w(t, w1, c, mask) : z;        \
        CV_FMA_ROW(0) CV_FMA_ROW(1) CV_FMA_ROW(2) CV_FMA_ROW(3)        \
        CV_FMA_ROW(4) CV_FMA_ROW(5) CV_FMA_ROW(6) CV_FMA_ROW(7)        \
    } while (0)
/* accumulators in: zero on the first slice, else the partial sums of the
 * previous slices (kept whole, 16 lanes, so the chain is unchanged) */
#define CV_ACC_IN(i)                                                   \
    if (mb > (i)) {                                                    \
        a0##i = first ? z : _mm512_load_ps(s + (i) * 16);              \
        if (nr > 1)                                                    \
            a1##i = first ? z : _mm512_load_ps(s + (8 + (i)) * 16);    \
    }
/* accumulators out: reduced into Y after the last slice, else saved */
#define CV_ACC_OUT(i)                                                  \
    if (mb > (i)) {                                                    \
        if (last) {                                                    \
            y[(i) * ldy] = hsum16(a0##i);                              \
            if (nr > 1)                                                \
                y[(i) * ldy + 1] = hsum16(a1##i);                      \
        } else {                                                       \
            _mm512_store_ps(s + (i) * 16, a0##i);                      \
            if (nr > 1)                                                \
                _mm512_store_ps(s + (8 + (i)) * 16, a1##i);            \
        }                                                              \
    }

/* Columns [k0, k0 + kc) of Y[i, r0 + j] for j < nr (1 or 2), i < mb
 * (1..8), nr and mb constants after inlining.  w0 is row r0, w1 row r0 + 1
 * (read only when nr == 2); x is X[0, 0]; s holds the 2 x 8 partial sums
 * between slices.  kc is a multiple of 16 except in the last slice. */
static inline __attribute__((always_inline)) void block(cv_type t, size_t nr, size_t mb,
                                                        size_t k0, size_t kc, size_t k,
                                                        const float *x, size_t ldx,
                                                        const void *w0, const void *w1,
                                                        float *y, size_t ldy, float *s,
                                                        pf_rows pf)
{
    const __m512 z = _mm512_setzero_ps();
    const size_t elt = t == CV_TYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    const int first = k0 == 0, last = k0 + kc == k;
    __m512 a00 = z, a01 = z, a02 = z, a03 = z, a04 = z, a05 = z, a06 = z, a07 = z;
    __m512 a10 = z, a11 = z, a12 = z, a13 = z, a14 = z, a15 = z, a16 = z, a17 = z;
    CV_ACC_IN(0) CV_ACC_IN(1) CV_ACC_IN(2) CV_ACC_IN(3)
    CV_ACC_IN(4) CV_ACC_IN(5) CV_ACC_IN(6) CV_ACC_IN(7)
    const size_t end = k0 + kc;
    size_t c = k0;
    for (; c + 16 <= end; c += 16) {
        /* one line of each prefetched row per 64 bytes walked: as many
         * lines as this step consumes, spread out (bursts measured slower) */
        const size_t off = (c - k0) * elt;
        if (off % 64 == 0 && off < pf.len) {
            _mm_prefetch(pf.a0 + off, _MM_HINT_T0);
            _mm_prefetch(pf.a1 + off, _MM_HINT_T0);
        }
        CV_STEP((__mmask16)0xffff);
    }
    if (c < end) /* the ragged tail: zero weights and x outside the mask */
        CV_STEP((__mmask16)((1u << (end - c)) - 1));
    CV_ACC_OUT(0) CV_ACC_OUT(1) CV_ACC_OUT(2) CV_ACC_OUT(3)
    CV_ACC_OUT(4) CV_ACC_OUT(5) CV_ACC_OUT(6) CV_ACC_OUT(7)
}
#undef CV_ACC_OUT
#undef CV_ACC_IN
#undef CV_STEP
#undef CV_FMA_ROW

/* One block with run-time nr, mb: a switch to the constant instances. */
static inline __attribute__((always_inline)) void block_any(cv_type t, size_t nr, size_t mb,
                                                            size_t k0, size_t kc, size_t k,
                                                            const float *x, size_t ldx,
                                                            const void *w0, const void *w1,
                                                            float *y, size_t ldy, float *s,
                                                            pf_rows pf)
{
#define CV_BLOCK(NR, M) block(t, NR, M, k0, kc, k, x, ldx, w0, w1, y, ldy, s, pf)
#define CV_BLOCKS(NR)                                                  \
    switch (mb) {                                                      \
    case 1: CV_BLOCK(NR, 1); break;                                    \
    case 2: CV_BLOCK(NR, 2); break;                                    \
    case 3: CV_BLOCK(NR, 3); break;                                    \
    case 4: CV_BLOCK(NR, 4); break;                                    \
    case 5: CV_BLOCK(NR, 5); break;                                    \
    case 6: CV_BLOCK(NR, 6); break;                                    \
    case 7: CV_BLOCK(NR, 7); break;                                    \
    default: CV_BLOCK(NR, 8); break;                                   \
    }
    if (nr == 2) {
        CV_BLOCKS(2)
    } else {
        CV_BLOCKS(1)
    }
#undef CV_BLOCKS
#undef CV_BLOCK
}

/* How a call walks W: groups of NG weight rows; per group, the activation
 * rows in blocks of MB; per block, the columns in slices of kc; per slice,
 * the rows of the group nr (1 or 2) at a time.  A "piece" is one (group,
 * slice, nr rows) of the first activation block: the prefetch runs a fixed
 * number of pieces ahead, in walk order. */
typedef struct {
    size_t n, k, kc, nsl, elt, row_bytes, nr;
    const char *w;
} walk;

/* The 1 or 2 row slices of piece q (q counts pieces in walk order), len 0
 * past the end. */
static inline pf_rows piece(const walk *wk, size_t q)
{
    const pf_rows none = { wk->w, wk->w, 0 };
    const size_t per_group = wk->nsl * (NG / wk->nr), g = q / per_group;
    if (g >= (wk->n + NG - 1) / NG)
        return none;
    const size_t r0 = g * NG;
    const size_t rows = wk->n - r0 < NG ? wk->n - r0 : NG, units = (rows + wk->nr - 1) / wk->nr;
    const size_t rem = q - g * per_group, sl = rem / units, r = r0 + wk->nr * (rem % units);
    if (sl >= wk->nsl)
        return none;
    const size_t c0 = sl * wk->kc;
    const char *a0 = wk->w + r * wk->row_bytes + c0 * wk->elt;
    return (pf_rows){ a0, wk->nr > 1 && r + 1 < wk->n ? a0 + wk->row_bytes : a0,
                      (wk->k - c0 < wk->kc ? wk->k - c0 : wk->kc) * wk->elt };
}

/* The rows [r0, r0 + ng) (one group), all activation rows; q is the walk
 * index of the group's first piece, ahead the prefetch distance in pieces. */
static inline __attribute__((always_inline)) void group(cv_type t, const walk *wk, size_t m,
                                                        size_t r0, size_t ng, const float *x,
                                                        size_t ldx, float *y, size_t ldy,
                                                        size_t q, size_t ahead)
{
    _Alignas(64) float s[NG * MB * 16]; /* partial sums between slices */
    const pf_rows none = { wk->w, wk->w, 0 };
    for (size_t i = 0; i < m; i += MB) {
        const size_t mb = m - i < MB ? m - i : MB;
        size_t k0 = 0;
        do {
            const size_t kc = wk->k - k0 < wk->kc ? wk->k - k0 : wk->kc;
            for (size_t r = 0; r < ng; r += wk->nr, q++) {
                const char *w0 = wk->w + (r0 + r) * wk->row_bytes;
                const pf_rows pf = i == 0 ? piece(wk, q + ahead) : none;
                block_any(t, ng - r < wk->nr ? 1 : wk->nr, mb, k0, kc, wk->k, x + i * ldx, ldx,
                          w0, w0 + wk->row_bytes, y + i * ldy + r0 + r, ldy, s + r * MB * 16, pf);
            }
            k0 += kc;
        } while (k0 < wk->k);
    }
}

/* nr and the slice width, chosen per call (neither changes a bit of Y):
 * m <= 2 walks one row at a time without slices, which streams like the
 * GEMV (2 interleaved rows, or slices, measured 10-60 % slower from DRAM
 * at m = 1, 2); m >= 3 walks row pairs in slices of X_BYTES of X (at k =
 * 3072, m = 8 in cache: 180 GFLOP/s sliced, 115 unsliced, when the 96 KiB
 * of X stream from L2 for every row pair). */
static inline __attribute__((always_inline)) void gemms_typed(cv_type t, size_t m, size_t n,
                                                              size_t k, const float *x,
                                                              size_t ldx, const void *w,
                                                              float *y, size_t ldy)
{
    const size_t elt = t == CV_TYPE_F32 ? sizeof(float) : sizeof(uint16_t);
    const size_t mb = m < MB ? m : MB;
    size_t kc = mb > 2 ? X_BYTES / (mb * sizeof(float)) / 16 * 16 : k;
    kc = k < kc ? k : kc;
    const walk wk = { .n = n, .k = k, .kc = kc, .nsl = kc ? (k + kc - 1) / kc : 1, .elt = elt,
                      .row_bytes = k * elt, .nr = m <= 2 ? 1 : 2, .w = w };
    const size_t bytes = wk.nr * kc * elt, ahead = bytes ? (PF_BYTES + bytes - 1) / bytes : 1;
    for (size_t q = 0; q < ahead && m; q++) { /* the first pieces, before they are needed */
        const pf_rows pf = piece(&wk, q);
        for (size_t o = 0; o < pf.len; o += 64) {
            _mm_prefetch(pf.a0 + o, _MM_HINT_T0);
            _mm_prefetch(pf.a1 + o, _MM_HINT_T0);
        }
    }
    for (size_t r0 = 0, g = 0; r0 < n; r0 += NG, g++)
        group(t, &wk, m, r0, n - r0 < NG ? n - r0 : NG, x, ldx, y, ldy,
              g * wk.nsl * (NG / wk.nr), ahead);
}

void cv_gemms_f32_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                         float *y, size_t ldy)
{
    gemms_typed(CV_TYPE_F32, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemms_f16_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                         float *y, size_t ldy)
{
    gemms_typed(CV_TYPE_F16, m, n, k, x, ldx, w, y, ldy);
}

void cv_gemms_bf16_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                          float *y, size_t ldy)
{
    gemms_typed(CV_TYPE_BF16, m, n, k, x, ldx, w, y, ldy);
}
