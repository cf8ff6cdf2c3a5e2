/* cpu.c — CPU feature detection and the process-wide kernel dispatch table.
 *
 * The table is the only global mutable state of the library: it is filled
 * once (pthread_once) from the detected features, or from the level forced
 * by COGVIDEO_ISA, and never changes afterwards. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "kernels.h"
#include "ref.h"
#include "vqvae_ref.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(HAVE_SYS_AUXV_H) && defined(HAVE_GETAUXVAL)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#endif

#if defined(__x86_64__) || defined(__i386__)
/* XGETBV without -mxsave: which register states the OS saves on a context
 * switch.  AVX is usable only if XMM (bit 1) and YMM (bit 2) are saved. */
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* The AVX-512 level (on top of AVX2), from CPUID.(7,0):EBX: F (bit 16,
 * the 512-bit instructions and the opmask registers), BW (bit 30, the
 * 16-bit element masked loads of f16/bf16 weights), VL (bit 31, those
 * masked loads at 256 bits).  The OS must save, per XCR0: XMM (bit 1) and
 * YMM (bit 2) as for AVX, the opmask registers k0-k7 (bit 5), the upper
 * halves of zmm0-15 (bit 6) and zmm16-31 (bit 7); a kernel using a state
 * the OS does not save would see it clobbered by a context switch. */
static int avx512_usable(unsigned ebx7)
{
    const unsigned f = 1u << 16, bw = 1u << 30, vl = 1u << 31;
    const uint64_t xcr0 = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
    return (ebx7 & (f | bw | vl)) == (f | bw | vl) && (xgetbv0() & xcr0) == xcr0;
}

static unsigned detect_x86(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1;
    const int avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c) || (xgetbv0() & 6) != 6)
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!((b >> 5) & 1))
        return 0;
    if (!avx512_usable(b))
        return CV_CPU_AVX2;
    /* AVX512_VNNI: CPUID.(7,0):ECX bit 11 (no state beyond AVX-512's) */
    return CV_CPU_AVX2 | CV_CPU_AVX512 | ((c >> 11) & 1 ? CV_CPU_AVX512VNNI : 0);
}
#endif

static unsigned detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return detect_x86();
#elif defined(__aarch64__) && defined(HAVE_SYS_AUXV_H) && defined(HAVE_GETAUXVAL)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? CV_CPU_NEON : 0;
#elif defined(__aarch64__)
    return CV_CPU_NEON; /* Advanced SIMD is mandatory in AArch64 */
#else
    return 0;
#endif
}

static pthread_once_t flags_once = PTHREAD_ONCE_INIT;
static unsigned detected_flags;

static void detect_once(void) { detected_flags = detect(); }

unsigned cv_cpu_flags(void)
{
    pthread_once(&flags_once, detect_once);
    return detected_flags;
}

unsigned cv_isa_compiled(void)
{
    unsigned f = 0;
#ifdef CV_HAVE_AVX2
    f |= CV_CPU_AVX2;
#endif
#ifdef CV_HAVE_AVX512
    f |= CV_CPU_AVX512;
#endif
#ifdef CV_HAVE_AVX512VNNI
    f |= CV_CPU_AVX512VNNI;
#endif
#ifdef CV_HAVE_NEON
    f |= CV_CPU_NEON;
#endif
    return f;
}

const char *cv_isa_name(cv_isa isa)
{
    switch (isa) {
    case CV_ISA_REF: return "ref";
    case CV_ISA_AVX2: return "avx2";
    case CV_ISA_AVX512: return "avx512";
    case CV_ISA_AVX512VNNI: return "avx512vnni";
    case CV_ISA_NEON: return "neon";
    }
    return "unknown";
}

static void init_ref(cv_kernels *k)
{
    *k = (cv_kernels){
        .isa = CV_ISA_REF,
        .dot_f32 = cv_dot_f32_ref,
        .sum_f32 = cv_sum_f32_ref,
        .axpy_f32 = cv_axpy_f32_ref,
        .mhdot_f32 = cv_mhdot_f32_ref,
        .mhaxpy_f32 = cv_mhaxpy_f32_ref,
        .mhdotk_f32 = cv_mhdotk_f32_ref,
        .mhaxpyk_f32 = cv_mhaxpyk_f32_ref,
        .add_f32 = cv_add_f32_ref,
        .mul_f32 = cv_mul_f32_ref,
        .scale_f32 = cv_scale_f32_ref,
        .gelu_f32 = cv_gelu_f32_ref,
        .softmax_f32 = cv_softmax_f32_ref,
        .layernorm_f32 = cv_layernorm_f32_ref,
        .f16_to_f32 = cv_f16_to_f32_ref,
        .bf16_to_f32 = cv_bf16_to_f32_ref,
        .gemv_f32 = cv_gemv_f32_ref,
        .gemv_f16 = cv_gemv_f16_ref,
        .gemv_bf16 = cv_gemv_bf16_ref,
        .gemm_f32 = cv_gemm_f32_ref,
        .gemm_f16 = cv_gemm_f16_ref,
        .gemm_bf16 = cv_gemm_bf16_ref,
        .gemm_q8_0 = cv_gemm_q8_0_ref,
        .gemms_f32 = cv_gemms_f32_ref,
        .gemms_f16 = cv_gemms_f16_ref,
        .gemms_bf16 = cv_gemms_bf16_ref,
        .quantize_q8x = cv_quantize_q8x_ref,
        .gemv_q8_0 = cv_gemv_q8x_ref,
        .gemms_q8_0 = cv_gemms_q8x_ref,
        /* VQVAE */
        .swish_f32 = cv_swish_f32_ref,
    };
}

void cv_kernels_init(cv_kernels *k, unsigned flags)
{
    init_ref(k);
    flags &= cv_cpu_flags() & cv_isa_compiled();
#ifdef CV_HAVE_AVX2
    cv_kernels_init_x86(k, flags);
#endif
#ifdef CV_HAVE_NEON
    cv_kernels_init_arm(k, flags);
#endif
}

/* ------------------------------------------------------------ global table */

static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static cv_kernels table;
static cv_status table_status;
static cv_error table_error;

static const struct {
    const char *name;
    unsigned flag;
    const char *needs;
} isa_levels[] = {
    {"ref", 0, ""},
    {"avx2", CV_CPU_AVX2, "AVX2+FMA+F16C"},
    /* a level includes the ones below it on the ladder */
    {"avx512", CV_CPU_AVX2 | CV_CPU_AVX512, "AVX-512 F+BW+VL"},
    {"avx512vnni", CV_CPU_AVX2 | CV_CPU_AVX512 | CV_CPU_AVX512VNNI, "AVX-512 F+BW+VL+VNNI"},
    {"neon", CV_CPU_NEON, "NEON"},
};

/* Turns a COGVIDEO_ISA value into a flag mask, or explains why it can't. */
static cv_status forced_flags(const char *want, unsigned *flags, cv_error *err)
{
    for (size_t i = 0; i < sizeof isa_levels / sizeof isa_levels[0]; i++) {
        if (strcmp(want, isa_levels[i].name) != 0)
            continue;
        unsigned f = isa_levels[i].flag;
        if (f && (cv_isa_compiled() & f) != f)
            return cv_error_set(err, CV_ERR_UNSUPPORTED,
                                "COGVIDEO_ISA=%s: this build has no %s kernels "
                                "(see 'cogvideo info --cpu')", want, want);
        if (f && (cv_cpu_flags() & f) != f)
            return cv_error_set(err, CV_ERR_UNSUPPORTED,
                                "COGVIDEO_ISA=%s: this CPU lacks %s", want, isa_levels[i].needs);
        *flags = f;
        return CV_OK;
    }
    return cv_error_set(err, CV_ERR_ARG,
                        "COGVIDEO_ISA=%s: unknown level (expected ref, avx2, avx512, avx512vnni or neon)", want);
}

static void table_init_once(void)
{
    unsigned flags = cv_cpu_flags();
    const char *want = getenv("COGVIDEO_ISA");
    table_status = CV_OK;
    if (want && *want)
        table_status = forced_flags(want, &flags, &table_error);
    cv_kernels_init(&table, table_status == CV_OK ? flags : 0);
}

cv_status cv_init(cv_error *err)
{
    pthread_once(&table_once, table_init_once);
    if (table_status != CV_OK && err)
        *err = table_error;
    return table_status;
}

const cv_kernels *cv_kernels_get(void)
{
    cv_init(NULL);
    return &table;
}
