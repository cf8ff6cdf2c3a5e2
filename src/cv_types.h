/* cv_types.h — element types of weights and tensors, and scalar conversions.
 *
 * Type numbers are ggml's (GGUF stores them verbatim): F32 = 0, F16 = 1,
 * Q8_0 = 8, BF16 = 30.  q8_0 is GGUF's block format: 32 int8 values sharing
 * one IEEE half scale d, value = d * q, stored as {uint16 d; int8 qs[32]}
 * (34 bytes, no padding). */
#ifndef CV_TYPES_H
#define CV_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CV_TYPE_F32 = 0,
    CV_TYPE_F16 = 1,
    CV_TYPE_Q8_0 = 8,
    CV_TYPE_BF16 = 30
} cv_type;

#define CV_QK8_0 32

typedef struct {
    uint16_t d;             /* IEEE binary16 scale */
    int8_t qs[CV_QK8_0];    /* quantized values */
} cv_block_q8_0;

_Static_assert(sizeof(cv_block_q8_0) == 34, "q8_0 block must be 34 bytes as in GGUF");

/* q8x: ACTIVATIONS quantized for the integer q8_0 dot products (ggml's
 * q8_0 x q8_0 idea): 32 int8 sharing a float scale, value = d * q.  The
 * scale is a float, not a half as in q8_0, because these blocks are made
 * per call from float activations and never stored: an f16 scale would add
 * a rounding (and over/underflow at 65504 / 6e-8) for no saving.  See
 * decl_quantize_q8x_fn in kernels.h for the exact quantization. */
typedef struct {
    float d;                /* scale: amax / 127 of the 32 source values */
    int8_t qs[CV_QK8_0];    /* quantized values, in [-127, 127] */
} cv_block_q8x;

_Static_assert(sizeof(cv_block_q8x) == 36, "q8x block: a float and 32 int8, no padding");

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN). */
static inline float cv_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {                 /* inf / NaN: keep the payload */
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {             /* normal */
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {             /* signed zero */
        bits = sign;
    } else {                           /* subnormal: renormalise */
        int e = -1;
        do { man <<= 1; e++; } while ((man & 0x400u) == 0);
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* binary32 -> binary16, round to nearest even (as numpy / F16C do). */
static inline uint16_t cv_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)             /* inf or NaN (quiet the NaN) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    if (ax >= 0x477ff000u)             /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) {            /* result is subnormal or zero */
        if (ax < 0x33000000u)          /* < 2^-25: rounds to zero */
            return sign;
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;     /* 14 + (113 - e) - 1 */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u) - 0x38000000u; /* rebias 127 -> 15 */
    return (uint16_t)(sign | (r >> 13));
}

/* bfloat16 is the top half of a binary32. */
static inline float cv_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* binary32 -> bfloat16, round to nearest even; NaN stays NaN. */
static inline uint16_t cv_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

#ifdef __cplusplus
}
#endif
#endif
