/* vec_avx2.c — AVX2+FMA twins of the vector kernels (dot, sum, axpy, add,
 * mul, scale, and attention's multi-head mhdot and mhaxpy).
 *
 * Reductions (dot, sum) keep four vector accumulators, to cover the FMA/add
 * latency, and reduce them in one fixed order.  add, mul and scale do one
 * IEEE operation per element, so they are bit-identical to the reference;
 * axpy uses one FMA per element (one rounding instead of the reference's
 * two).  Tails go through masked loads, which never touch memory past n. */
#include "x86.h"

#include "avx2_util.h"

float cv_dot_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return cv_avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

float cv_sum_f32_avx2(const float *x, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + i + 24));
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
    if (i < n)
        s1 = _mm256_add_ps(s1, _mm256_maskload_ps(x + i, cv_avx2_tail_mask(n - i)));
    return cv_avx2_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

void cv_axpy_f32_avx2(float *y, float a, const float *x, size_t n)
{
    __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i));
        __m256 y1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8));
        _mm256_storeu_ps(y + i, y0);
        _mm256_storeu_ps(y + i + 8, y1);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        __m256 r = _mm256_fmadd_ps(va, _mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m));
        _mm256_maskstore_ps(y + i, m, r);
    }
}

/* mhdot: w = 8 (or, for a last group of <= 4 heads, 4) heads at a time,
 * one accumulator per head (8 independent FMA chains cover the FMA
 * latency), d outermost so that the chains interleave; then lane j of one
 * vector = head j's sum, stored at once.  Lane j reads head min(j, last):
 * a last group of nh < w heads (last = nh - 1) points its idle lanes at its
 * last head again, and their sums are not stored.  Every head goes through
 * the same operations whatever `heads` is (the 4-wide reduction is the low
 * half of the 8-wide one), so a head's score does not depend on the other
 * heads.  w = 4 halves the work of the 4-head test model. */
/* inlined for each w, so that w and the full groups' last = 7 are constants */
#if defined(__GNUC__)
#define DOT_INLINE inline __attribute__((always_inline))
#else
#define DOT_INLINE inline
#endif
/* Lane j = ((0+1)+(2+3)) + ((4+5)+(6+7)) of acc[j], the same for every j:
 * a = [acc 0-3, lanes 0-3 | acc 0-3, lanes 4-7], b likewise for 4-7. */
static DOT_INLINE __m256 reduce_group(const __m256 *acc, int w)
{
    const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
    if (w == 4)
        return _mm256_castps128_ps256(
            _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)));
    const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]), _mm256_hadd_ps(acc[6], acc[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

static DOT_INLINE __m256 dot_group(const float *q, const float *k, size_t dh, size_t last, int w)
{
    size_t off[8];
    __m256 acc[8];
    CV_UNROLL
    for (int j = 0; j < w; j++) {
        off[j] = ((size_t)j < last ? (size_t)j : last) * dh;
        acc[j] = _mm256_setzero_ps();
    }
    size_t d = 0;
    for (; d + 8 <= dh; d += 8)
        CV_UNROLL
        for (int j = 0; j < w; j++)
            acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(q + off[j] + d),
                                     _mm256_loadu_ps(k + off[j] + d), acc[j]);
    if (d < dh) {
        const __m256i m = cv_avx2_tail_mask(dh - d);
        CV_UNROLL
        for (int j = 0; j < w; j++)
            acc[j] = _mm256_fmadd_ps(_mm256_maskload_ps(q + off[j] + d, m),
                                     _mm256_maskload_ps(k + off[j] + d, m), acc[j]);
    }
    return reduce_group(acc, w);
}

void cv_mhdot_f32_avx2(float *y, const float *q, const float *k, size_t heads, size_t dh)
{
    size_t h = 0;
    for (; h + 8 <= heads; h += 8)
        _mm256_storeu_ps(y + h, dot_group(q + h * dh, k + h * dh, dh, 7, 8));
    if (h < heads) {
        const size_t nh = heads - h;
        const __m256 r = nh > 4 ? dot_group(q + h * dh, k + h * dh, dh, nh - 1, 8)
                                : dot_group(q + h * dh, k + h * dh, dh, nh - 1, 4);
        _mm256_maskstore_ps(y + h, cv_avx2_tail_mask(nh), r);
    }
}

/* mhdotk: the transpose of dot_group's work, w = 8 (or, for a last group
 * of <= 4, 4) keys of one head at a time: one accumulator per key, each
 * load of q shared by the w FMAs.  Each accumulator runs dot_group's chain
 * (the same fmadd(q, k, acc) steps in the same order, the masked tail
 * last) and reduce_group's order is the same for every lane, so every
 * score has the bits of cv_mhdot_f32_avx2.  Lanes past the last key read
 * the last key again and are not stored. */
static DOT_INLINE __m256 keys_group(const float *q, const float *const *k, size_t off, size_t dh, int w)
{
    __m256 acc[8];
    CV_UNROLL
    for (int j = 0; j < w; j++)
        acc[j] = _mm256_setzero_ps();
    size_t d = 0;
    for (; d + 8 <= dh; d += 8) {
        const __m256 qv = _mm256_loadu_ps(q + d);
        CV_UNROLL
        for (int j = 0; j < w; j++)
            acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k[j] + off + d), acc[j]);
    }
    if (d < dh) {
        const __m256i m = cv_avx2_tail_mask(dh - d);
        const __m256 qv = _mm256_maskload_ps(q + d, m);
        CV_UNROLL
        for (int j = 0; j < w; j++)
            acc[j] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k[j] + off + d, m), acc[j]);
    }
    return reduce_group(acc, w);
}

/* Keys in groups of 8, all heads per group: the group's rows (8 x heads x
 * dh floats) stay in L1 while q streams past them. */
void cv_mhdotk_f32_avx2(float *y, size_t ldy, const float *q, const float *const *k, size_t nk,
                        size_t heads, size_t dh)
{
    for (size_t j0 = 0; j0 < nk; j0 += 8) {
        const size_t nj = nk - j0 < 8 ? nk - j0 : 8;
        const float *kr[8];
        for (size_t j = 0; j < 8; j++)
            kr[j] = k[j0 + (j < nj ? j : nj - 1)];
        for (size_t h = 0; h < heads; h++) {
            float *yh = y + h * ldy + j0;
            if (nj == 8)
                _mm256_storeu_ps(yh, keys_group(q + h * dh, kr, h * dh, dh, 8));
            else if (nj > 4)
                _mm256_maskstore_ps(yh, cv_avx2_tail_mask(nj), keys_group(q + h * dh, kr, h * dh, dh, 8));
            else
                _mm256_maskstore_ps(yh, cv_avx2_tail_mask(nj), keys_group(q + h * dh, kr, h * dh, dh, 4));
        }
    }
}

/* mhaxpy: cv_axpy_f32_avx2 per head (one FMA per element, as axpy), with
 * a[h] broadcast; a ragged dh costs one masked tail per head. */
void cv_mhaxpy_f32_avx2(float *y, const float *a, const float *x, size_t heads, size_t dh)
{
    const __m256i m = cv_avx2_tail_mask(dh % 8);
    for (size_t h = 0; h < heads; h++) {
        const __m256 va = _mm256_broadcast_ss(a + h);
        float *yh = y + h * dh;
        const float *xh = x + h * dh;
        size_t d = 0;
        for (; d + 16 <= dh; d += 16) {
            __m256 y0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xh + d), _mm256_loadu_ps(yh + d));
            __m256 y1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xh + d + 8), _mm256_loadu_ps(yh + d + 8));
            _mm256_storeu_ps(yh + d, y0);
            _mm256_storeu_ps(yh + d + 8, y1);
        }
        if (d + 8 <= dh) {
            _mm256_storeu_ps(yh + d, _mm256_fmadd_ps(va, _mm256_loadu_ps(xh + d), _mm256_loadu_ps(yh + d)));
            d += 8;
        }
        if (d < dh) {
            __m256 r = _mm256_fmadd_ps(va, _mm256_maskload_ps(xh + d, m), _mm256_maskload_ps(yh + d, m));
            _mm256_maskstore_ps(yh + d, m, r);
        }
    }
}

/* mhaxpyk: per head, y's slice held in registers (8 vectors, then 1, then
 * the masked tail) while all nk keys are added in order: each element gets
 * the same fmadd(a, x, y) steps as nk calls of cv_mhaxpy_f32_avx2, without
 * the load and store of y around each.  8 vectors, not 4: each is a chain
 * of dependent FMAs over the keys, and 2 FMA units x 4 cycles of latency
 * need 8 chains in flight (a stage-2 run on a 12 x 1024 model spent 22.7 s
 * in the 4-vector form, 15.4 s in this one). */
#define CV_AXPYK_STEP(i) y##i = _mm256_fmadd_ps(va, _mm256_loadu_ps(xj + 8 * (i)), y##i);
void cv_mhaxpyk_f32_avx2(float *y, const float *a, size_t lda, const float *const *x, size_t nk,
                         size_t heads, size_t dh)
{
    const __m256i m = cv_avx2_tail_mask(dh % 8);
    for (size_t h = 0; h < heads; h++) {
        float *yh = y + h * dh;
        const float *ah = a + h * lda;
        const size_t off = h * dh;
        size_t d = 0;
        for (; d + 64 <= dh; d += 64) {
            __m256 y0 = _mm256_loadu_ps(yh + d), y1 = _mm256_loadu_ps(yh + d + 8);
            __m256 y2 = _mm256_loadu_ps(yh + d + 16), y3 = _mm256_loadu_ps(yh + d + 24);
            __m256 y4 = _mm256_loadu_ps(yh + d + 32), y5 = _mm256_loadu_ps(yh + d + 40);
            __m256 y6 = _mm256_loadu_ps(yh + d + 48), y7 = _mm256_loadu_ps(yh + d + 56);
            for (size_t j = 0; j < nk; j++) {
                const __m256 va = _mm256_broadcast_ss(ah + j);
                const float *xj = x[j] + off + d;
                CV_AXPYK_STEP(0) CV_AXPYK_STEP(1) CV_AXPYK_STEP(2) CV_AXPYK_STEP(3)
                CV_AXPYK_STEP(4) CV_AXPYK_STEP(5) CV_AXPYK_STEP(6) CV_AXPYK_STEP(7)
            }
            _mm256_storeu_ps(yh + d, y0);
            _mm256_storeu_ps(yh + d + 8, y1);
            _mm256_storeu_ps(yh + d + 16, y2);
            _mm256_storeu_ps(yh + d + 24, y3);
            _mm256_storeu_ps(yh + d + 32, y4);
            _mm256_storeu_ps(yh + d + 40, y5);
            _mm256_storeu_ps(yh + d + 48, y6);
            _mm256_storeu_ps(yh + d + 56, y7);
        }
        for (; d + 8 <= dh; d += 8) {
            __m256 y0 = _mm256_loadu_ps(yh + d);
            for (size_t j = 0; j < nk; j++)
                y0 = _mm256_fmadd_ps(_mm256_broadcast_ss(ah + j), _mm256_loadu_ps(x[j] + off + d), y0);
            _mm256_storeu_ps(yh + d, y0);
        }
        if (d < dh) {
            __m256 y0 = _mm256_maskload_ps(yh + d, m);
            for (size_t j = 0; j < nk; j++)
                y0 = _mm256_fmadd_ps(_mm256_broadcast_ss(ah + j), _mm256_maskload_ps(x[j] + off + d, m), y0);
            _mm256_maskstore_ps(yh + d, m, y0);
        }
    }
}
#undef CV_AXPYK_STEP

/* One elementwise pass; op is a compile-time constant after inlining, so
 * each caller gets its own straight loop. */
enum { OP_ADD, OP_MUL };

static inline __m256 binop(int op, __m256 a, __m256 b)
{
    return op == OP_ADD ? _mm256_add_ps(a, b) : _mm256_mul_ps(a, b);
}

static inline void binary(int op, float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 r0 = binop(op, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 r1 = binop(op, _mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        _mm256_storeu_ps(y + i, r0);
        _mm256_storeu_ps(y + i + 8, r1);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, binop(op, _mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, binop(op, _mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
}

void cv_add_f32_avx2(float *y, const float *a, const float *b, size_t n)
{
    binary(OP_ADD, y, a, b, n);
}

void cv_mul_f32_avx2(float *y, const float *a, const float *b, size_t n)
{
    binary(OP_MUL, y, a, b, n);
}

void cv_scale_f32_avx2(float *y, const float *x, float s, size_t n)
{
    __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 r0 = _mm256_mul_ps(vs, _mm256_loadu_ps(x + i));
        __m256 r1 = _mm256_mul_ps(vs, _mm256_loadu_ps(x + i + 8));
        _mm256_storeu_ps(y + i, r0);
        _mm256_storeu_ps(y + i + 8, r1);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(vs, _mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = cv_avx2_tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(vs, _mm256_maskload_ps(x + i, m)));
    }
}
