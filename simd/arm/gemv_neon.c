/* gemv_neon.c — NEON twins of y = W x for f32, f16 and bf16 weights (q8_0,
 * with integer dot products, is in q8_neon.c).
 *
 * Four rows at a time share every load of x.  A row's value comes out of
 * the same operations whether it is one of a group of four or on its own
 * (the per-row code is one inline function, instantiated for 4 and 1 rows):
 * two accumulators for the columns 8j..8j+3 and 8j+4..8j+7 in column order,
 * the same zero-padded last chunk, the same final reduction.  So splitting
 * the rows over threads cannot change a bit of y. */
#include "arm.h"
#include "neon_util.h"

/* Eight weights of a row, from column c: a full chunk, or the last `len`
 * (< 8) columns padded with zeros. */
typedef float32x4x2_t (*load8_fn)(const void *row, size_t c);
typedef float32x4x2_t (*tail8_fn)(const void *row, size_t c, size_t len);

static inline float32x4x2_t load8_f32(const void *row, size_t c)
{
    return cv_neon_load8_f32((const float *)row + c);
}

static inline float32x4x2_t load8_f16(const void *row, size_t c)
{
    return cv_neon_load8_f16((const uint16_t *)row + c);
}

static inline float32x4x2_t load8_bf16(const void *row, size_t c)
{
    return cv_neon_load8_bf16((const uint16_t *)row + c);
}

static inline float32x4x2_t tail8_f32(const void *row, size_t c, size_t len)
{
    float t[8] = { 0 };
    memcpy(t, (const float *)row + c, len * sizeof *t);
    return cv_neon_load8_f32(t);
}

static inline float32x4x2_t tail8_f16(const void *row, size_t c, size_t len)
{
    uint16_t t[8] = { 0 };
    memcpy(t, (const uint16_t *)row + c, len * sizeof *t);
    return cv_neon_load8_f16(t);
}

static inline float32x4x2_t tail8_bf16(const void *row, size_t c, size_t len)
{
    uint16_t t[8] = { 0 };
    memcpy(t, (const uint16_t *)row + c, len * sizeof *t);
    return cv_neon_load8_bf16(t);
}

/* y[r] = W[r,:] . x for the nr (1 or 4) rows starting at w; xt holds the
 * last cols % 8 values of x, zero-padded. */
static CV_ALWAYS_INLINE void rows_dot(int nr, size_t cols, const unsigned char *w,
                                      size_t row_bytes, const float *x, const float *xt,
                                      float *y, load8_fn load8, tail8_fn tail8)
{
    float32x4_t a0[4], a1[4];
    CV_UNROLL
    for (int r = 0; r < nr; r++)
        a0[r] = a1[r] = vdupq_n_f32(0.0f);
    size_t c = 0;
    for (; c + 8 <= cols; c += 8) {
        float32x4_t x0 = vld1q_f32(x + c), x1 = vld1q_f32(x + c + 4);
        CV_UNROLL
        for (int r = 0; r < nr; r++) {
            float32x4x2_t wv = load8(w + r * row_bytes, c);
            a0[r] = vfmaq_f32(a0[r], wv.val[0], x0);
            a1[r] = vfmaq_f32(a1[r], wv.val[1], x1);
        }
    }
    if (c < cols) {
        float32x4_t x0 = vld1q_f32(xt), x1 = vld1q_f32(xt + 4);
        CV_UNROLL
        for (int r = 0; r < nr; r++) {
            float32x4x2_t wv = tail8(w + r * row_bytes, c, cols - c);
            a0[r] = vfmaq_f32(a0[r], wv.val[0], x0);
            a1[r] = vfmaq_f32(a1[r], wv.val[1], x1);
        }
    }
    CV_UNROLL
    for (int r = 0; r < nr; r++)
        y[r] = vaddvq_f32(vaddq_f32(a0[r], a1[r]));
}

static CV_ALWAYS_INLINE void gemv_any(size_t rows, size_t cols, const void *w, size_t elem,
                                      const float *x, float *y, load8_fn load8, tail8_fn tail8)
{
    const unsigned char *wb = w;
    size_t row_bytes = cols * elem;
    size_t c8 = cols - cols % 8;
    float xt[8] = { 0 };
    if (cols > c8)
        memcpy(xt, x + c8, (cols - c8) * sizeof *xt);
    size_t r = 0;
    for (; r + 4 <= rows; r += 4)
        rows_dot(4, cols, wb + r * row_bytes, row_bytes, x, xt, y + r, load8, tail8);
    for (; r < rows; r++)
        rows_dot(1, cols, wb + r * row_bytes, row_bytes, x, xt, y + r, load8, tail8);
}

void cv_gemv_f32_neon(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    gemv_any(rows, cols, w, sizeof(float), x, y, load8_f32, tail8_f32);
}

void cv_gemv_f16_neon(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    gemv_any(rows, cols, w, sizeof(uint16_t), x, y, load8_f16, tail8_f16);
}

void cv_gemv_bf16_neon(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    gemv_any(rows, cols, w, sizeof(uint16_t), x, y, load8_bf16, tail8_bf16);
}
