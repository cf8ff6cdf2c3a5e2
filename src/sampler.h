/* sampler.h — the CogLM cluster sampler (SAT's CoglmStrategy.forward) for
 * one row of image-token logits, and the choice between the pipeline's two
 * strategies.
 *
 * CoglmStrategy.forward, per batch row (golden/README.md, "CoglmStrategy
 * distributions"):
 *   x = logits / T;  r = softmax(x)
 *   c[j] = sum of r[t] over the tokens t with label[t] == j   (cluster mass)
 *   keep the top_k clusters by mass; pick one with probability c[j] / sum_topk c
 *   token ~ softmax(x / T2) restricted to the tokens of that cluster
 * so P(token t) = P(cluster(t)) * softmax over the cluster of logits/(T*T2).
 *
 * Usage (one cv_clusters per model, one cv_sampler per thread):
 *   cv_clusters_new(labels, n_tokens, n_clusters, &cl, err);
 *   cv_sampler_new(cl, &s, err);
 *   cv_sampler_sample(s, logits_row, settings, cv_sampler_key(seed, b, step), &tok, err);
 * The token is a pure function of (logits, labels, settings, seed, sample,
 * step): thread count, batch size and call order do not change it.
 *
 * Numerics: everything after reading the float logits is double.  Why: the
 * cluster masses are sums of up to 20000 terms whose order decides the
 * top-k; the draws walk cumulative sums over up to n_tokens weights, where
 * float (ulp 6e-8 near 1) would give tokens of probability below ~1e-7 a
 * wrong share of [0, 1) and would make the 53-bit uniforms pointless.  The
 * original computes in float (and on fp16 logits in the released pipeline):
 * our probabilities agree with its float ones to ~1e-7 relative, not bit
 * for bit; torch's multinomial draws are not reproducible anyway, only the
 * distribution is. */
#ifndef CV_SAMPLER_H
#define CV_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "cv_status.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One CoglmStrategy.  The pipeline's two (golden/README.md "Strategies"),
 * which come from model metadata, never from code: first frame in CogView2
 * mode T 1.0, top_k 16, T2 0.89; video frames T 1.05, top_k 12, T2 0.89. */
typedef struct {
    float temperature; /* T > 0: the logits are divided by it */
    int top_k;         /* clusters kept, 1 .. n_clusters */
    float t2;          /* temperature2 > 0: the in-cluster softmax is of logits/(T*T2) */
} cv_sampler_settings;

/* ------------------------------------------------------------ cluster labels */

/* The cluster of every image token (CogVideo's cluster_label2.npy: 20000
 * labels in [0, 500)).  Immutable once made: share it between threads. */
typedef struct cv_clusters cv_clusters;

/* labels[t] in [0, n_clusters) for t < n_tokens (copied).  Errors:
 * "cluster labels: label 512 of token 7 out of range (expected 0..499)". */
cv_status cv_clusters_new(const int32_t *labels, int n_tokens, int n_clusters, cv_clusters **out,
                          cv_error *err);
void cv_clusters_free(cv_clusters *c); /* NULL is fine */
int cv_clusters_n_tokens(const cv_clusters *c);
int cv_clusters_n_clusters(const cv_clusters *c);

/* ------------------------------------------------------------ sampling */

/* Scratch for one row at a time plus the row's prepared distribution.  Not
 * thread-safe: one per thread.  It borrows the cv_clusters (keep it alive). */
typedef struct cv_sampler cv_sampler;

cv_status cv_sampler_new(const cv_clusters *c, cv_sampler **out, cv_error *err);
void cv_sampler_free(cv_sampler *s); /* NULL is fine */

/* The RNG coordinates of one token: domain CV_RNG_DOMAIN_SAMPLER, block 0
 * (its first two words draw the cluster, its last two the token). */
cv_rng_key cv_sampler_key(uint64_t seed, uint32_t sample, uint32_t step);

/* Steps 1-3 for one row of n_tokens logits: x = logits/T, softmax, cluster
 * masses, top-k clusters (descending mass; equal masses: lower cluster id
 * first, see sampler.c).  Keeps a pointer to `logits` for the draws and
 * the distributions below: the row must stay unchanged until the next
 * prepare.  Errors (CV_ERR_ARG): settings out of range, a logit that is
 * NaN or infinite; after a failed prepare there is no row to draw from
 * (prepare again before cv_sampler_draw or the distributions). */
cv_status cv_sampler_prepare(cv_sampler *s, const float *logits, cv_sampler_settings set, cv_error *err);

/* Steps 4-5 on the prepared row: a cluster with probability mass/sum_topk,
 * then a token of it with probability softmax(x/T2) over the cluster, from
 * the Philox block at `key` (two 53-bit uniforms, inverse CDF each). */
int32_t cv_sampler_draw(const cv_sampler *s, cv_rng_key key);

/* prepare + draw. */
cv_status cv_sampler_sample(cv_sampler *s, const float *logits, cv_sampler_settings set, cv_rng_key key,
                            int32_t *token, cv_error *err);

/* The exact distributions of the prepared row (for tests and tools):
 *   cluster mass c[j], [n_clusters] (sums to 1);
 *   the top-k clusters, descending mass (returns k; *clusters valid until
 *     the next prepare);
 *   p_cluster[j] = c[j] / sum_topk c for the top-k, 0 elsewhere, [n_clusters];
 *   p_token_given_cluster over all tokens, 0 outside `cluster`, [n_tokens]
 *     (all 0 for a cluster without tokens);
 *   p_token[t] = p_cluster[label t] * p_token_given_cluster[t], [n_tokens]. */
const double *cv_sampler_cluster_mass(const cv_sampler *s);
int cv_sampler_topk(const cv_sampler *s, const int32_t **clusters);
void cv_sampler_p_cluster(const cv_sampler *s, double *p);
void cv_sampler_p_token_given_cluster(const cv_sampler *s, int32_t cluster, double *p);
void cv_sampler_p_token(const cv_sampler *s, double *p);

/* ------------------------------------------------------------ which strategy */

typedef enum {
    CV_STRATEGY_FIRST_FRAME = 1, /* the original's `strategy` (CogView2 settings) */
    CV_STRATEGY_VIDEO = 2        /* the original's `strategy2` (video settings) */
} cv_strategy;

/* The original (CogVideo's my_filling_sequence) uses `strategy` when
 *   mode_stage1 and counter < text_len + 400
 * else `strategy2`, where counter is the sequence index of the token being
 * produced (text_len + 1 + j for token j of the first frame; the first
 * frame follows the text and <start_of_image>).  So the LAST token of the
 * first frame (j = frame_len - 1, counter = text_len + frame_len) is
 * already sampled with the video strategy: golden/README.md quirk 4,
 * visible in golden step_strategy.npy.  faithful = true reproduces that
 * (the default of the pipeline); false gives the whole first frame the
 * first-frame strategy (counter < text_len + 1 + frame_len). */
cv_strategy cv_sampler_pick_settings(bool mode_stage1, int64_t counter, int64_t text_len, int64_t frame_len,
                                     bool faithful);

#ifdef __cplusplus
}
#endif
#endif
