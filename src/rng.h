/* rng.h — a counter-based random number generator: Philox4x32-10.
 *
 * Why counter-based: a sampled token must depend only on (seed, which
 * sample of the batch, which step) — not on how many threads ran, on the
 * batch size, or on the order in which samples were processed.  A stream
 * generator (one state advanced call after call) cannot promise that; a
 * counter-based one can, because every random number is a pure function of
 * its coordinates.  Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel
 * random numbers: as easy as 1, 2, 3", SC 2011) is the standard choice
 * (cuRAND, JAX, PyTorch's CUDA generator, NumPy's Philox is the 4x64
 * variant): a 10-round bijection of a 128-bit counter under a 64-bit key,
 * passing BigCrush.
 *
 * Coordinates: the key is the 64-bit seed (low word = key[0]); the counter
 * is {draw, step, sample, domain}.  `domain` keeps independent users of one
 * seed apart (the sampler and k-means use different domains), `draw`
 * numbers the blocks one (domain, sample, step) needs.  Each block gives 4
 * uniform 32-bit words.
 *
 * Uniforms: a double in [0, 1) is (64-bit word >> 11) * 2^-53 with the
 * 64-bit word = (out[2i+1] << 32) | out[2i]: every multiple of 2^-53 in
 * [0, 1) equally likely, never 1.0.  A float is (word >> 8) * 2^-24.
 *
 * Every function is pure: no global or hidden state. */
#ifndef CV_RNG_H
#define CV_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Users of a seed, so that they never share random numbers. */
enum {
    CV_RNG_DOMAIN_SAMPLER = 1, /* token sampling (cv_sampler_draw) */
    CV_RNG_DOMAIN_KMEANS = 2   /* k-means++ initialisation (cv_kmeans) */
};

typedef struct {
    uint64_t seed;   /* the user's --seed */
    uint32_t domain; /* CV_RNG_DOMAIN_* */
    uint32_t sample; /* which sequence of a batch (or any other stream index) */
    uint32_t step;   /* which generation step (or draw number) */
    uint32_t draw;   /* which block of this (domain, sample, step) */
} cv_rng_key;

/* The Philox4x32-10 bijection, exactly as in the paper (and Random123's
 * philox4x32_R(10, ctr, key)): out = philox(ctr, key). */
void cv_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* One block of 4 random words at the key's coordinates. */
void cv_rng_block(cv_rng_key k, uint32_t out[4]);

/* Two uniform doubles in [0, 1) from one block (construction above). */
void cv_rng_uniform2(cv_rng_key k, double u[2]);

/* The word-to-uniform constructions, for callers that hold a block. */
double cv_rng_u64_to_double(uint64_t w);
float cv_rng_u32_to_float(uint32_t w);

#ifdef __cplusplus
}
#endif
#endif
