/* rng.c — Philox4x32-10 (Salmon et al., SC 2011, section 4.2) and the
 * uniforms built on it.  See rng.h for the coordinates and constructions. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rng.h"

/* The paper's multipliers (chosen for avalanche) and the Weyl sequence
 * increments of the key schedule (golden ratio and sqrt(3) - 1, in 32 bits). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u
#define PHILOX_ROUNDS 10

/* One round: two 32x32->64 multiplications; the high halves are mixed with
 * the other two words and the round key, the words are permuted. */
static void philox_round(uint32_t x[4], const uint32_t k[2])
{
    const uint64_t p0 = (uint64_t)PHILOX_M0 * x[0];
    const uint64_t p1 = (uint64_t)PHILOX_M1 * x[2];
    const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    const uint32_t y0 = hi1 ^ x[1] ^ k[0], y2 = hi0 ^ x[3] ^ k[1];
    x[0] = y0;
    x[1] = lo1;
    x[2] = y2;
    x[3] = lo0;
}

void cv_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t x[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        if (r > 0) { /* the key schedule: bumped before every round but the first */
            k[0] += PHILOX_W0;
            k[1] += PHILOX_W1;
        }
        philox_round(x, k);
    }
    for (int i = 0; i < 4; i++)
        out[i] = x[i];
}

void cv_rng_block(cv_rng_key k, uint32_t out[4])
{
    const uint32_t ctr[4] = {k.draw, k.step, k.sample, k.domain};
    const uint32_t key[2] = {(uint32_t)k.seed, (uint32_t)(k.seed >> 32)};
    cv_philox4x32_10(ctr, key, out);
}

double cv_rng_u64_to_double(uint64_t w)
{
    return (double)(w >> 11) * 0x1.0p-53; /* 53 bits: exact in a double */
}

float cv_rng_u32_to_float(uint32_t w)
{
    return (float)(w >> 8) * 0x1.0p-24f; /* 24 bits: exact in a float */
}

void cv_rng_uniform2(cv_rng_key k, double u[2])
{
    uint32_t b[4];
    cv_rng_block(k, b);
    u[0] = cv_rng_u64_to_double((uint64_t)b[1] << 32 | b[0]);
    u[1] = cv_rng_u64_to_double((uint64_t)b[3] << 32 | b[2]);
}
