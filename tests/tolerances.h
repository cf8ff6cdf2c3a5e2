/* tolerances.h — how far a kernel may be from its reference (ggml's rule).
 *
 * The measure is NMSE = sum (got - want)^2 / sum want^2, taken over every
 * output of one test run that shares an input distribution (see "group" in
 * test_kernels.c), after NaN and infinities were checked to agree element
 * by element.  0 means bit-exact, element by element.  The same number
 * bounds the reference against the double-precision oracle and every twin
 * against the reference.  Test sizes: vectors n <= 4096, gemv cols <= 1024,
 * gemm k <= 320; a bound scales with the length of the sums.
 *
 * Unit roundoff u = 2^-24 = 6e-8, u^2 = 3.6e-15.  A float sum of n random-
 * sign terms in natural order is off by about u sqrt(n) relative to its
 * size: NMSE ~ n u^2 / 2 = 7e-12 at n = 4096 as a bound, 2e-12 measured; a
 * twin with 8 or 16 lanes errs less.  Each line quotes the largest value
 * measured over 300 seeds (reference vs oracle, plain-C 8-lane fakes and
 * the AVX2 twins vs reference), and what a real bug costs: a dropped tail
 * element ~1e-4, a constant off by 1e-3 ~1e-10 .. 1e-7 (measured with
 * deliberately broken twins).  Loosening a line needs a reviewer. */
#ifndef CV_TESTS_TOLERANCES_H
#define CV_TESTS_TOLERANCES_H

typedef struct {
    const char *kernel;
    double max_nmse;
} cv_tolerance;

static const cv_tolerance cv_tolerances[] = {
    /* reassociated sums, n <= 4096: measured <= 2.4e-12, bound 7e-12;
     * a dropped tail element measured 7.6e-4 */
    {"dot_f32", 1e-10},
    {"sum_f32", 1e-10},
    /* y + a*x: two roundings vs one fused multiply-add differ by <= 1 ulp
     * of a*x: measured 1.4e-15; a factor a(1 + 1e-6) would cost ~5e-13 */
    {"axpy_f32", 1e-13},
    /* per-head dot products of length dh <= 160 (bound 160 u^2 / 2 =
     * 2.8e-13): measured <= 5.0e-14 (ref vs oracle 4.2e-14); a dropped
     * tail element measured 6.5e-3, every score times (1 + 1e-6) 8.5e-13 */
    {"mhdot_f32", 1e-12},
    /* per-head axpy, as axpy_f32: measured 1.3e-15; a[h] (1 + 1e-6)
     * measured 5.1e-13, a dropped tail element 4.7e-3 */
    {"mhaxpy_f32", 1e-13},
    /* mhdotk: mhdot's scores (bit-identical to them, checked apart) */
    {"mhdotk_f32", 1e-12},
    /* mhaxpyk: up to 40 float axpys in a row vs one double sum: measured
     * <= 1.2e-14 (ref and avx2, 5 seeds) */
    {"mhaxpyk_f32", 1e-12},
    /* one IEEE operation per element, correctly rounded: bit-exact */
    {"add_f32", 0},
    {"mul_f32", 0},
    {"scale_f32", 0},
    /* expf vs a polynomial exp, a few ulp per element: measured <= 2.9e-15;
     * 0.044715 off by 1e-3 (relative) measured 1.8e-10 on x in [-3, 3] */
    {"gelu_f32", 1e-12},
    /* exp to a few ulp and a reassociated n <= 4096 positive sum (a common
     * factor): measured <= 6e-14; exp(1.001 x) measured 1.2e-7 */
    {"softmax_f32", 1e-11},
    /* mean-100 rows: a twin using the plain two-pass float mean (without
     * the reference's correction) measured 4.7e-10, the corrected one
     * 6.9e-13; one-pass E[x^2] - E[x]^2 measured 8.9e-7, a variance off by
     * 2e-3 measured 9e-7 */
    {"layernorm_f32", 1e-8},
    /* exact conversions: bit-exact; only a NaN's payload may differ (a
     * twin may set the quiet bit), it must still be a NaN */
    {"f16_to_f32", 0},
    {"bf16_to_f32", 0},
    /* outputs are dot products of length <= 1024 (gemm: k <= 320) of exact
     * widened weights: measured <= 3.5e-13 (gemm 1.1e-13); a dropped last
     * column measured >= 3e-6 */
    {"gemv_f32", 1e-10},
    {"gemv_f16", 1e-10},
    {"gemv_bf16", 1e-10},
    {"gemm_f32", 1e-10},
    {"gemm_f16", 1e-10},
    {"gemm_bf16", 1e-10},
    {"gemm_q8_0", 1e-10},
    /* small-m gemms: the same dot products (k <= 1024), one 8-lane (AVX2,
     * NEON) or 16-lane (AVX-512) chain per output: as gemv */
    {"gemms_f32", 1e-10},
    {"gemms_f16", 1e-10},
    {"gemms_bf16", 1e-10},
    /* q8_0 on quantized activations (kernels.h): only the float sums'
     * order differs; test_kernels.c also holds every element to the
     * rigorous bound 2 gamma_{nb+4} S of that difference (reference vs
     * oracle: gamma_{nb+3} S), so this NMSE line is a second net.  Over
     * 100 seeds: NMSE <= 3.4e-13 (AVX2 gemms with k up to 20480; reference
     * vs oracle 1.9e-13; NEON under qemu 1.9e-13), |diff| <= 0.27 of the
     * bound; a scale taken from the wrong row measured NMSE 7e-2 */
    {"gemv_q8_0", 1e-10},
    {"gemms_q8_0", 1e-10},
    /* float -> int8 blocks, the same IEEE operations in every twin */
    {"quantize_q8x", 0},
    /* VQVAE */
    /* swish: expf vs a polynomial exp (<= 2 ulp) and one division: AVX2
     * measured <= 5.2e-16 (reference vs double oracle 2.3e-15); e^(-1.001 x)
     * instead of e^-x measured 3.3e-8 */
    {"swish_f32", 1e-12},
};

#endif
