/* kmeans.h — seeded k-means over the rows of a matrix: the cluster labels
 * of a VQVAE codebook that CogLM's sampler needs (`cogvideo clusters`).
 *
 * CogVideo ships cluster_label2.npy (20000 codes -> 500 clusters) without
 * the code that made it; a codebook without labels (cogvideo-tiny, another
 * VQVAE) gets them from here: k-means++ initialisation (Arthur and
 * Vassilvitskii 2007: each next centre drawn with probability proportional
 * to the squared distance to the nearest centre so far), then Lloyd
 * iterations (assign every row to its nearest centroid, move each centroid
 * to the mean of its rows) until no label changes or max_iters.
 *
 * Determinism: the same (data, k, seed, max_iters) give the same labels for
 * any thread count and on any machine with IEEE arithmetic: the random
 * numbers are Philox blocks keyed by (seed, CV_RNG_DOMAIN_KMEANS, draw
 * number); threads only split the per-row work (distances, nearest
 * centroid), whose results do not depend on who computes them; every sum
 * across rows (D^2 total, centroid sums, inertia) runs serially in row
 * order, in double.
 *
 * Ties: the nearest centroid with the lowest index wins; the k-means++ draw
 * takes the first row whose cumulative D^2 exceeds u * total.
 * Empty clusters: after an assignment, each empty cluster (ascending) is
 * re-seeded with the row farthest from its own centroid (lowest index on
 * ties; a row is taken at most once per iteration), and that row moves to
 * it.  A cluster that this empties keeps its centroid until the next
 * assignment.  Duplicate rows: when every remaining row already coincides
 * with a centre (D^2 total 0), k-means++ takes the lowest-index row not yet
 * a centre. */
#ifndef CV_KMEANS_H
#define CV_KMEANS_H

#include <stdbool.h>
#include <stdint.h>

#include "cv_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int k;          /* clusters, 1 .. n */
    int max_iters;  /* Lloyd updates at most, >= 0 (0: labels of the k-means++ centres) */
    uint64_t seed;  /* k-means++ draws */
    int threads;    /* <= 0: OpenMP default (OMP_NUM_THREADS or all cores) */
} cv_kmeans_opts;

typedef struct {
    int iters;        /* Lloyd updates done */
    bool converged;   /* the last assignment changed no label */
    int relocated;    /* empty clusters re-seeded, over all iterations */
    double inertia;   /* sum over rows of the squared distance to their centroid */
} cv_kmeans_result;

/* x: n rows of d floats (finite).  labels: [n] out, each in [0, k).
 * centroids: [k*d] out, or NULL.  Errors (CV_ERR_ARG): k outside 1..n, n or
 * d < 1, max_iters < 0, a NaN or infinite value (named by row and column). */
cv_status cv_kmeans(const float *x, int n, int d, const cv_kmeans_opts *o, int32_t *labels, float *centroids,
                    cv_kmeans_result *r, cv_error *err);

#ifdef __cplusplus
}
#endif
#endif
