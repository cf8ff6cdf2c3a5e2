/* q8_avx512vnni.c — AVX-512 VNNI twins of the q8_0 GEMV and small-m GEMM
 * (semantics: decl_gemvq_fn / decl_gemmsq_fn in src/kernels.h; reference:
 * reference/q8.c).
 *
 * Why: the AVX2 kernels (q8_avx2.c) are bound by their vector ops, ~13 per
 * 34-byte weight block at m = 1 (one core reads ~27 GB/s, short of DRAM)
 * and ~6 per (weight block, activation row) at m = 8.  Here one zmm holds
 * TWO blocks and vpdpbusd does maddubs + madd in one op, without
 * saturation.  vpdpbusd multiplies unsigned by signed bytes, so the
 * activations are made unsigned (x + 128 = x XOR 0x80, once per call) and
 * the excess 128 * sum(w) is cancelled exactly by starting each dword at
 * -128 * (sum of its 4 weights), computed once per weight pair and shared
 * by all activation rows:
 *     -128 sum_j w_j + sum_j (x_j + 128) w_j = sum_j w_j x_j   (exact int32:
 *     |each dword| <= 4 * 255 * 128 + 4 * 128 * 128 < 2^18)
 * Each dword is the sum over one group of 4 bytes, as the AVX2 kernel's
 * vpmaddwd lanes.  The unsigned activations of a block pair side by side and
 * their scales as a 16-lane vector are prepared in an aligned stack buffer
 * (xpair), so the inner loop per (activation row, block pair) is vpdpbusd,
 * cvt, mul (d_w * d_x, the reference's scale product), fma.
 *
 * Float order: every output element is two 16-lane FMA chains, pair index
 * even into the first and odd into the second (one chain, 4 cycles of FMA
 * latency per pair, bound m = 1), then (acc0 + acc1) and one fixed 16-lane
 * reduction.  The chains are stored and reloaded whole between slices of
 * k, so an element's bits depend neither on m, nor on the slicing, nor on
 * the other rows of the call; the GEMV is this code at m = 1 (cv_gemv and
 * cv_gemm at m = 1 agree).
 *
 * Memory: stack use is bounded (~72 KiB): the prepared activations of one
 * slice of k (X_BYTES: k <= 20480 in one slice at m = 1, every shape of the
 * release) and, when k needs several slices (m > 1 at long k), the chains
 * of a group of NR weight rows; each slice is then prepared once per group.
 * The weights are prefetched PF_BYTES ahead in walk order, one line per
 * pair walked, as gemms_avx512.c does: without it the row-group walk (32
 * interleaved rows) and the long rows (x no longer all in L1) read DRAM at
 * half the speed.
 *
 * Measured on this Zen 5 (one thread, best of 10, vs the AVX2 twin in the
 * same run; the VM is shared and noisy, +-20 %):
 *   n x k          m = 1 GB/s (AVX2)     m = 8 GB/s of weights (AVX2)
 *   64 x 3072      39-61 (31)            9-14 (6.2)        in L2
 *   6144 x 3072    37-40 (27)            8-12 (5.5)
 *   3072 x 12288   26-32 (20)            7.5-9.6 (4.7)     from DRAM */
#include "x86.h"

#include "avx2_util.h"

enum {
    MB = 8,              /* activation rows per pass: 16 accumulators */
    NR = 32,             /* weight rows per group when k takes several slices */
    X_BYTES = 40 * 1024, /* prepared activations per slice (L1 + a little) */
    PAIR_BYTES = 2 * CV_Q8_0_BYTES,
    PF_BYTES = 8192      /* prefetch distance in weight bytes, in walk order */
};

/* The weight byte PF_BYTES ahead of the current pair in walk order: the
 * rows' slices [base + j * stride, + len) one after the other (for one
 * slice per row, len = stride and this is plain memory order).  Prefetches
 * past the matrix are harmless: they never fault. */
typedef struct {
    const unsigned char *base;
    size_t off, len, stride;
} pf_walk;

static inline pf_walk pf_start(const unsigned char *slice, size_t len, size_t stride)
{
    const pf_walk pf = {slice + PF_BYTES / len * stride, PF_BYTES % len, len, stride};
    return pf;
}

/* One line per pair walked (68 bytes): as many lines as the walk consumes. */
static inline void pf_step(pf_walk *pf)
{
    _mm_prefetch((const char *)pf->base + pf->off, _MM_HINT_T0);
    pf->off += PAIR_BYTES;
    if (pf->off >= pf->len) {
        pf->off -= pf->len;
        pf->base += pf->stride;
    }
}

/* One activation row's block pair, as the inner loop reads it. */
typedef struct {
    uint8_t xu[64]; /* quants + 128 of blocks 2p and 2p+1 (x = 0 past the row) */
    float d[16];    /* scale of block 2p in lanes 0-7, of 2p+1 in 8-15 */
} xpair;

_Static_assert(sizeof(xpair) == 128, "xpair: two zmm, no padding");

/* Prepares pairs [p0, p0+np) of one activation row of nb blocks. */
static void prep_row(const cv_block_q8x *xr, size_t nb, size_t p0, size_t np, xpair *out)
{
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    for (size_t p = 0; p < np; p++) {
        const size_t b = 2 * (p0 + p);
        const int two = b + 1 < nb;
        const __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)xr[b].qs);
        const __m256i hi = two ? _mm256_loadu_si256((const __m256i *)(const void *)xr[b + 1].qs)
                               : _mm256_setzero_si256();
        const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        const __m256 dlo = _mm256_set1_ps(xr[b].d), dhi = _mm256_set1_ps(two ? xr[b + 1].d : 0.0f);
        const __m512 d = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castpd256_pd512(_mm256_castps_pd(dlo)), _mm256_castps_pd(dhi), 1));
        _mm512_store_si512(out[p].xu, _mm512_xor_si512(q, k128)); /* x + 128 as u8 */
        _mm512_store_ps(out[p].d, d);
    }
}

/* The weight pair at blk (two blocks, or one when `two` is 0): its quants,
 * -128 * (sum of each group of 4 of them), and the scales widened to
 * [d0 x 8, d1 x 8]. */
static inline __attribute__((always_inline)) void load_wpair(const unsigned char *blk, int two,
                                                             __m512i *wq, __m512i *neg,
                                                             __m512 *dw)
{
    uint16_t h0, h1 = 0;
    memcpy(&h0, blk + offsetof(cv_block_q8_0, d), sizeof h0);
    const __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)cv_avx2_q8_qs(blk));
    __m256i hi = _mm256_setzero_si256();
    if (two) {
        memcpy(&h1, blk + CV_Q8_0_BYTES + offsetof(cv_block_q8_0, d), sizeof h1);
        hi = _mm256_loadu_si256((const __m256i *)(const void *)cv_avx2_q8_qs(blk + CV_Q8_0_BYTES));
    }
    const __m512i zero = _mm512_setzero_si512();
    *wq = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    /* 128 as the unsigned operand times the signed quants: 128 * sum */
    *neg = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8((char)0x80), *wq));
    *dw = _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16((short)h1), _mm_set1_epi16((short)h0)));
}

/* acc[i][c] += (d_w * d_x) * isum for the weight pair at blk and the
 * activation pairs x[i * sp] (i < mb); mb and c are constants after
 * inlining, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void pair_step(size_t mb, const unsigned char *blk,
                                                            int two, const xpair *x, size_t sp,
                                                            __m512 acc[MB][2], int c, pf_walk *pf)
{
    pf_step(pf);
    __m512i wq, neg;
    __m512 dw;
    load_wpair(blk, two, &wq, &neg, &dw);
    CV_UNROLL
    for (size_t i = 0; i < mb; i++) {
        const xpair *xi = x + i * sp;
        const __m512i isum = _mm512_dpbusd_epi32(neg, _mm512_load_si512(xi->xu), wq);
        const __m512 s = _mm512_mul_ps(dw, _mm512_load_ps(xi->d));
        acc[i][c] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(isum), acc[i][c]);
    }
}

/* The pairs [0, np) of one slice of one weight row (row points at the
 * slice's first pair, whose index is even): pair p into chain p & 1;
 * `half` marks the last pair as a single block. */
static inline __attribute__((always_inline)) void row_slice(size_t mb, const unsigned char *row,
                                                            size_t np, int half, const xpair *xp,
                                                            size_t sp, __m512 acc[MB][2],
                                                            size_t stride)
{
    pf_walk pf = pf_start(row, np * PAIR_BYTES - (half ? CV_Q8_0_BYTES : 0), stride);
    const size_t full = half ? np - 1 : np;
    size_t p = 0;
    for (; p + 2 <= full; p += 2) {
        pair_step(mb, row + p * PAIR_BYTES, 1, xp + p, sp, acc, 0, &pf);
        pair_step(mb, row + (p + 1) * PAIR_BYTES, 1, xp + p + 1, sp, acc, 1, &pf);
    }
    if (p < full) /* p is even */
        pair_step(mb, row + p * PAIR_BYTES, 1, xp + p, sp, acc, 0, &pf), p++;
    if (half) {
        if (p & 1)
            pair_step(mb, row + p * PAIR_BYTES, 0, xp + p, sp, acc, 1, &pf);
        else
            pair_step(mb, row + p * PAIR_BYTES, 0, xp + p, sp, acc, 0, &pf);
    }
}

/* Sum of the 16 lanes in one fixed order (as gemms_avx512.c). */
static inline float hsum16(__m512 v)
{
    const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return cv_avx2_hsum(_mm256_add_ps(_mm512_castps512_ps256(v), hi));
}

/* The chains of one (weight row, mb activation rows) across one slice:
 * zero or reloaded from `part` before, reduced into y or stored after. */
static inline __attribute__((always_inline)) void row_step(
    size_t mb, const unsigned char *row, size_t np, int half, const xpair *xp, size_t sp,
    size_t stride, int first, int last, float *part, float *y, size_t ldy)
{
    __m512 acc[MB][2];
    CV_UNROLL
    for (size_t i = 0; i < mb; i++)
        for (int c = 0; c < 2; c++)
            acc[i][c] = first ? _mm512_setzero_ps() : _mm512_load_ps(part + (2 * i + c) * 16);
    row_slice(mb, row, np, half, xp, sp, acc, stride);
    CV_UNROLL
    for (size_t i = 0; i < mb; i++) {
        if (last) {
            y[i * ldy] = hsum16(_mm512_add_ps(acc[i][0], acc[i][1]));
        } else {
            _mm512_store_ps(part + 2 * i * 16, acc[i][0]);
            _mm512_store_ps(part + (2 * i + 1) * 16, acc[i][1]);
        }
    }
}

/* Weight rows [0, n) against mb prepared activation rows, pairs [p0, p0+np)
 * of the row; instantiated per constant mb. */
typedef struct {
    size_t n, row_bytes, p0, np, sp;
    int half, first, last;
    const unsigned char *w;
    const xpair *xp;
    float *part; /* NR x mb x 2 x 16 floats, or NULL (one slice) */
    float *y;
    size_t ldy;
} slice_job;

static inline __attribute__((always_inline)) void run_rows(size_t mb, const slice_job *j)
{
    for (size_t r = 0; r < j->n; r++)
        row_step(mb, j->w + r * j->row_bytes + j->p0 * PAIR_BYTES, j->np, j->half, j->xp, j->sp,
                 j->row_bytes, j->first, j->last, j->part ? j->part + r * mb * 32 : NULL, j->y + r, j->ldy);
}

static void rows_dispatch(size_t mb, const slice_job *j)
{
    switch (mb) {
    case 1: run_rows(1, j); break;
    case 2: run_rows(2, j); break;
    case 3: run_rows(3, j); break;
    case 4: run_rows(4, j); break;
    case 5: run_rows(5, j); break;
    case 6: run_rows(6, j); break;
    case 7: run_rows(7, j); break;
    default: run_rows(8, j); break;
    }
}

/* Up to MB activation rows against all n weight rows. */
static void pass(size_t mb, size_t n, size_t nb, const cv_block_q8x *xq, size_t ldxq,
                 const unsigned char *w, float *y, size_t ldy)
{
    _Alignas(64) xpair xp[X_BYTES / sizeof(xpair)];
    _Alignas(64) float part[NR * MB * 32];
    const size_t np_all = (nb + 1) / 2, row_bytes = nb * CV_Q8_0_BYTES;
    /* pairs per slice: even, so that a pair's chain is its global parity */
    size_t sp = X_BYTES / sizeof(xpair) / mb & ~(size_t)1;
    if (sp > np_all)
        sp = np_all;
    slice_job j = {.row_bytes = row_bytes, .sp = sp, .w = w, .ldy = ldy};
    if (sp == np_all) { /* one slice: prepare once, walk every row */
        for (size_t i = 0; i < mb; i++)
            prep_row(xq + i * ldxq, nb, 0, np_all, xp + i * sp);
        j.n = n, j.np = np_all, j.half = nb % 2, j.first = j.last = 1, j.xp = xp, j.y = y;
        rows_dispatch(mb, &j);
        return;
    }
    for (size_t r0 = 0; r0 < n; r0 += NR) {
        j.n = n - r0 < NR ? n - r0 : NR;
        j.w = w + r0 * row_bytes;
        j.y = y + r0;
        j.part = part;
        for (size_t p0 = 0; p0 < np_all; p0 += sp) {
            j.p0 = p0;
            j.np = np_all - p0 < sp ? np_all - p0 : sp;
            j.first = p0 == 0;
            j.last = p0 + j.np == np_all;
            j.half = j.last && nb % 2;
            for (size_t i = 0; i < mb; i++)
                prep_row(xq + i * ldxq, nb, p0, j.np, xp + i * sp);
            j.xp = xp;
            rows_dispatch(mb, &j);
        }
    }
}

void cv_gemms_q8x_avx512vnni(size_t m, size_t n, size_t k, const cv_block_q8x *xq, size_t ldxq,
                             const void *w, float *y, size_t ldy)
{
    const size_t nb = k / CV_QK8_0;
    if (nb == 0) { /* empty sums */
        for (size_t i = 0; i < m; i++)
            for (size_t r = 0; r < n; r++)
                y[i * ldy + r] = 0.0f;
        return;
    }
    for (size_t i0 = 0; i0 < m; i0 += MB)
        pass(m - i0 < MB ? m - i0 : MB, n, nb, xq + i0 * ldxq, ldxq, w, y + i0 * ldy, ldy);
}

void cv_gemv_q8x_avx512vnni(size_t rows, size_t cols, const void *w, const cv_block_q8x *xq,
                            float *y)
{
    cv_gemms_q8x_avx512vnni(1, rows, cols, xq, 0, w, y, 0);
}
