/* gemv.c — reference matrix-vector products y = W x for every weight type.
 *
 * Each output y[r] is one float accumulator over c = 0 .. cols-1 in natural
 * order, so it does not depend on which other rows are computed in the same
 * call.  Low-precision weights are widened to float element by element; the
 * widening is exact, so these kernels compute exactly the f32 product with
 * the given W.  q8_0 weights have integer kernels of their own (q8.c). */
#include "ref.h"

void cv_gemv_f32_ref(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    const float *wf = w;
    for (size_t r = 0; r < rows; r++)
        y[r] = cv_dot_f32_ref(wf + r * cols, x, cols);
}

void cv_gemv_f16_ref(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    const uint16_t *wh = w;
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = wh + r * cols;
        float acc = 0.0f;
        for (size_t c = 0; c < cols; c++)
            acc += cv_f16_to_f32(wr[c]) * x[c];
        y[r] = acc;
    }
}

void cv_gemv_bf16_ref(size_t rows, size_t cols, const void *w, const float *x, float *y)
{
    const uint16_t *wh = w;
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = wh + r * cols;
        float acc = 0.0f;
        for (size_t c = 0; c < cols; c++)
            acc += cv_bf16_to_f32(wr[c]) * x[c];
        y[r] = acc;
    }
}
