/* gemm_neon.c — NEON twins of Y = X W^T for f32, f16, bf16 and q8_0 weights.
 *
 * W is consumed as panels of NR = 8 rows by KC columns.  Each panel is
 * converted to f32 once, stored transposed (for every k the 8 weights side
 * by side, as two 4-wide halves) and then serves all m activation rows.
 * The microkernel holds an MR x 8 tile of Y in registers (MR = 8: 16
 * accumulators); per 4 values of k it loads 4 consecutive x of each row and
 * multiplies them in by lane (FMLA by element), 64 fmas per 16 loads.
 *
 * Every Y[i,r] is a single fma chain over k in increasing order, whatever
 * tile it falls in: the m remainder runs the same kernel with fewer rows,
 * the n remainder a zero-padded panel, the k remainder the same lanes in
 * order, and later k blocks continue from the value stored in Y.  So
 * splitting the rows of X or W over threads changes no bit of Y. */
#include "arm.h"
#include "neon_util.h"

enum {
    NR = 8,   /* weight rows per panel (output columns of a tile) */
    MR = 8,   /* activation rows per microkernel call */
    KC = 256  /* k per panel: a multiple of 32 (q8_0 blocks); 8 KB of f32 */
};

/* Converts W[r, k0 .. k0+kc) of a [?, k] weight matrix to f32. */
typedef void (*row_cvt_fn)(const void *w, size_t k, size_t r, size_t k0, size_t kc, float *out);

static void row_f32(const void *w, size_t k, size_t r, size_t k0, size_t kc, float *out)
{
    memcpy(out, (const float *)w + r * k + k0, kc * sizeof *out);
}

static void row_f16(const void *w, size_t k, size_t r, size_t k0, size_t kc, float *out)
{
    cv_f16_to_f32_neon(out, (const uint16_t *)w + r * k + k0, kc);
}

static void row_bf16(const void *w, size_t k, size_t r, size_t k0, size_t kc, float *out)
{
    cv_bf16_to_f32_neon(out, (const uint16_t *)w + r * k + k0, kc);
}

/* d * q is exact in f32 (11-bit by 8-bit significands), so this panel holds
 * exactly the weights the q8_0 block stands for. */
static void row_q8_0(const void *w, size_t k, size_t r, size_t k0, size_t kc, float *out)
{
    size_t first = (r * k + k0) / CV_QK8_0;
    for (size_t b = 0; b < kc / CV_QK8_0; b++) {
        const unsigned char *blk = cv_neon_q8_0_block(w, first + b);
        float32x4_t q[8];
        cv_neon_q8_0_quants(blk, q);
        float d = cv_neon_q8_0_scale(blk);
        CV_UNROLL
        for (int j = 0; j < 8; j++)
            vst1q_f32(out + b * CV_QK8_0 + 4 * j, vmulq_n_f32(q[j], d));
    }
}

/* panel[h][4c + j] = W[r0 + 4h + j, k0 + c] for c < kc rounded up to 4;
 * rows at or past nr, and the columns past kc, are zero. */
static void pack_panel(const void *w, size_t k, size_t r0, size_t nr, size_t k0, size_t kc,
                       row_cvt_fn cvt, float panel[2][KC * 4])
{
    float rows[NR][KC];
    size_t kc4 = (kc + 3) & ~(size_t)3;
    for (size_t j = 0; j < NR; j++) {
        size_t done = 0;
        if (j < nr) {
            cvt(w, k, r0 + j, k0, kc, rows[j]);
            done = kc;
        }
        memset(rows[j] + done, 0, (kc4 - done) * sizeof(float));
    }
    for (int h = 0; h < 2; h++)
        for (size_t c = 0; c < kc4; c += 4) {
            float32x4x4_t t = { { vld1q_f32(rows[4 * h] + c), vld1q_f32(rows[4 * h + 1] + c),
                                  vld1q_f32(rows[4 * h + 2] + c), vld1q_f32(rows[4 * h + 3] + c) } };
            vst4q_f32(panel[h] + 4 * c, t); /* interleaves: a 4x4 transpose */
        }
}

/* One k step: the panel's 8 weights at k = c + L times lane L of each x row. */
#define CV_GEMM_STEP(L)                                                       \
    do {                                                                      \
        float32x4_t w0 = vld1q_f32(p0 + 4 * (c + (L)));                       \
        float32x4_t w1 = vld1q_f32(p1 + 4 * (c + (L)));                       \
        CV_UNROLL                                                             \
        for (int i = 0; i < mr; i++) {                                        \
            acc[i][0] = vfmaq_laneq_f32(acc[i][0], w0, xv[i], (L));           \
            acc[i][1] = vfmaq_laneq_f32(acc[i][1], w1, xv[i], (L));           \
        }                                                                     \
    } while (0)

/* Y[i, 0..8) = (first ? 0 : Y[i, 0..8)) + sum_{c < kc} X[i, c] P[c, 0..8), i < mr */
static CV_ALWAYS_INLINE void micro(int mr, size_t kc, const float *x, size_t ldx,
                                   const float *p0, const float *p1, float *y, size_t ldy,
                                   int first)
{
    float32x4_t acc[MR][2], xv[MR];
    CV_UNROLL
    for (int i = 0; i < mr; i++) {
        acc[i][0] = first ? vdupq_n_f32(0.0f) : vld1q_f32(y + i * ldy);
        acc[i][1] = first ? vdupq_n_f32(0.0f) : vld1q_f32(y + i * ldy + 4);
    }
    size_t c = 0;
    for (; c + 4 <= kc; c += 4) {
        CV_UNROLL
        for (int i = 0; i < mr; i++)
            xv[i] = vld1q_f32(x + i * ldx + c);
        CV_GEMM_STEP(0);
        CV_GEMM_STEP(1);
        CV_GEMM_STEP(2);
        CV_GEMM_STEP(3);
    }
    if (c < kc) {
        CV_UNROLL
        for (int i = 0; i < mr; i++)
            xv[i] = cv_neon_load_part(x + i * ldx + c, kc - c, 0.0f);
        CV_GEMM_STEP(0);
        if (kc - c > 1)
            CV_GEMM_STEP(1);
        if (kc - c > 2)
            CV_GEMM_STEP(2);
    }
    CV_UNROLL
    for (int i = 0; i < mr; i++) {
        vst1q_f32(y + i * ldy, acc[i][0]);
        vst1q_f32(y + i * ldy + 4, acc[i][1]);
    }
}

/* Instances for the row counts the m loop uses (8, then 4, 2, 1 for the
 * rest); out of line, so that panel_rows stays small. */
#define CV_GEMM_MICRO(R)                                                            \
    static __attribute__((noinline)) void micro##R(size_t kc, const float *x,       \
                                                   size_t ldx, const float *p0,     \
                                                   const float *p1, float *y,       \
                                                   size_t ldy, int first)           \
    {                                                                               \
        micro(R, kc, x, ldx, p0, p1, y, ldy, first);                                \
    }
CV_GEMM_MICRO(8)
CV_GEMM_MICRO(4)
CV_GEMM_MICRO(2)
CV_GEMM_MICRO(1)

/* All m rows of X against one packed panel: Y[:, 0..nr) of this panel. */
static void panel_rows(size_t m, size_t kc, const float *x, size_t ldx,
                       float panel[2][KC * 4], float *y, size_t ldy, size_t nr, int first)
{
    for (size_t i = 0; i < m;) {
        size_t left = m - i;
        size_t mr = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        float tile[MR * NR];
        float *yt = y + i * ldy;
        size_t ldt = ldy;
        if (nr < NR) { /* a tile narrower than 8 columns: work on a padded copy */
            memset(tile, 0, sizeof tile);
            for (size_t r = 0; r < mr && !first; r++)
                memcpy(tile + r * NR, y + (i + r) * ldy, nr * sizeof(float));
            yt = tile;
            ldt = NR;
        }
        const float *xi = x + i * ldx;
        switch (mr) {
        case 8: micro8(kc, xi, ldx, panel[0], panel[1], yt, ldt, first); break;
        case 4: micro4(kc, xi, ldx, panel[0], panel[1], yt, ldt, first); break;
        case 2: micro2(kc, xi, ldx, panel[0], panel[1], yt, ldt, first); break;
        default: micro1(kc, xi, ldx, panel[0], panel[1], yt, ldt, first); break;
        }
        if (nr < NR)
            for (size_t r = 0; r < mr; r++)
                memcpy(y + (i + r) * ldy, tile + r * NR, nr * sizeof(float));
        i += mr;
    }
}

static void gemm_any(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                     float *y, size_t ldy, row_cvt_fn cvt)
{
    if (m == 0 || n == 0)
        return;
    if (k == 0) { /* empty sums */
        for (size_t i = 0; i < m; i++)
            memset(y + i * ldy, 0, n * sizeof *y);
        return;
    }
    float panel[2][KC * 4];
    for (size_t r0 = 0; r0 < n; r0 += NR) {
        size_t nr = n - r0 < NR ? n - r0 : NR;
        for (size_t k0 = 0; k0 < k; k0 += KC) {
            size_t kc = k - k0 < KC ? k - k0 : KC;
            pack_panel(w, k, r0, nr, k0, kc, cvt, panel);
            panel_rows(m, kc, x + k0, ldx, panel, y + r0, ldy, nr, k0 == 0);
        }
    }
}

void cv_gemm_f32_neon(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemm_any(m, n, k, x, ldx, w, y, ldy, row_f32);
}

void cv_gemm_f16_neon(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                      float *y, size_t ldy)
{
    gemm_any(m, n, k, x, ldx, w, y, ldy, row_f16);
}

void cv_gemm_bf16_neon(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                       float *y, size_t ldy)
{
    gemm_any(m, n, k, x, ldx, w, y, ldy, row_bf16);
}

void cv_gemm_q8_0_neon(size_t m, size_t n, size_t k, const float *x, size_t ldx, const void *w,
                       float *y, size_t ldy)
{
    gemm_any(m, n, k, x, ldx, w, y, ldy, row_q8_0);
}
