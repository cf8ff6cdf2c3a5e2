/* kmeans.c — k-means++ and Lloyd iterations, the same result for any
 * thread count (see kmeans.h for the algorithm, ties and empty clusters). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kmeans.h"
#include "rng.h"

typedef struct {
    const float *x;
    int n, d, k, threads;
    float *cent;     /* [k*d] */
    int32_t *label;  /* [n] */
    float *dist;     /* [n] squared distance of each row to its centroid */
    double *sum;     /* [k*d] centroid sums */
    int64_t *count;  /* [k] */
    char *taken;     /* [n] k-means++: already a centre; relocation: already moved */
} km;

/* Squared Euclidean distance in float, over eight independent partial sums
 * (a fixed order: the same value whichever thread computes it). */
static float dist2(const float *a, const float *b, int d)
{
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= d; i += 8)
        for (int l = 0; l < 8; l++) {
            const float t = a[i + l] - b[i + l];
            s[l] += t * t;
        }
    for (; i < d; i++) {
        const float t = a[i] - b[i];
        s[0] += t * t;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static int nthreads(const km *m)
{
#ifdef _OPENMP
    return m->threads > 0 ? m->threads : omp_get_max_threads();
#else
    (void)m;
    return 1;
#endif
}

static double uniform(uint64_t seed, uint32_t step)
{
    double u[2];
    cv_rng_uniform2((cv_rng_key){.seed = seed, .domain = CV_RNG_DOMAIN_KMEANS, .step = step}, u);
    return u[0];
}

/* ------------------------------------------------------------ k-means++ */

static void set_centre(km *m, int c, int row)
{
    memcpy(m->cent + (size_t)c * (size_t)m->d, m->x + (size_t)row * (size_t)m->d, (size_t)m->d * sizeof *m->cent);
    m->taken[row] = 1;
}

/* dist[i] = min(dist[i], |x_i - centre c|^2), rows in parallel. */
static void update_min_dist(km *m, int c)
{
    const float *cc = m->cent + (size_t)c * (size_t)m->d;
    const int nt = nthreads(m);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#else
    (void)nt;
#endif
    for (int i = 0; i < m->n; i++) {
        const float t = dist2(m->x + (size_t)i * (size_t)m->d, cc, m->d);
        if (c == 0 || t < m->dist[i])
            m->dist[i] = t;
    }
}

/* The next centre: the first row whose cumulative D^2 exceeds u * total
 * (rows in order, double sums). */
static int pick_d2(const km *m, double u)
{
    double total = 0;
    for (int i = 0; i < m->n; i++)
        total += m->dist[i];
    if (!(total > 0)) { /* every row is a centre already */
        for (int i = 0; i < m->n; i++)
            if (!m->taken[i])
                return i;
        return 0;
    }
    const double target = u * total;
    double acc = 0;
    int last = 0;
    for (int i = 0; i < m->n; i++) {
        if (!(m->dist[i] > 0))
            continue;
        acc += m->dist[i];
        last = i;
        if (acc > target)
            break;
    }
    return last;
}

static void init_plus_plus(km *m, uint64_t seed)
{
    int row = (int)(uniform(seed, 0) * m->n);
    row = row < m->n ? row : m->n - 1; /* u * n may round up to n */
    for (int c = 0;; c++) {
        set_centre(m, c, row);
        update_min_dist(m, c);
        if (c + 1 == m->k)
            break;
        row = pick_d2(m, uniform(seed, (uint32_t)c + 1));
    }
}

/* ------------------------------------------------------------ Lloyd */

/* Every row to its nearest centroid (lowest index on ties); returns how
 * many labels changed (an integer sum: exact for any thread count). */
static int64_t assign(km *m)
{
    int64_t changed = 0;
    const int nt = nthreads(m);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(+ : changed) num_threads(nt) if (nt > 1)
#else
    (void)nt;
#endif
    for (int i = 0; i < m->n; i++) {
        const float *xi = m->x + (size_t)i * (size_t)m->d;
        int32_t best = 0;
        float bd = dist2(xi, m->cent, m->d);
        for (int32_t c = 1; c < m->k; c++) {
            const float t = dist2(xi, m->cent + (size_t)c * (size_t)m->d, m->d);
            if (t < bd) {
                bd = t;
                best = c;
            }
        }
        changed += m->label[i] != best;
        m->label[i] = best;
        m->dist[i] = bd;
    }
    return changed;
}

static void count_rows(km *m)
{
    memset(m->count, 0, (size_t)m->k * sizeof *m->count);
    for (int i = 0; i < m->n; i++)
        m->count[m->label[i]]++;
}

/* Re-seeds each empty cluster with the farthest row not yet moved. */
static int relocate_empty(km *m)
{
    int moved = 0;
    memset(m->taken, 0, (size_t)m->n);
    for (int c = 0; c < m->k; c++) {
        if (m->count[c] > 0)
            continue;
        int far = -1;
        for (int i = 0; i < m->n; i++)
            if (!m->taken[i] && (far < 0 || m->dist[i] > m->dist[far]))
                far = i;
        m->count[m->label[far]]--;
        m->count[c]++;
        m->label[far] = c;
        m->dist[far] = 0;
        set_centre(m, c, far);
        moved++;
    }
    return moved;
}

/* Centroid = mean of its rows (sums in row order, double); a cluster with
 * no rows keeps its centroid. */
static void update_centroids(km *m)
{
    const size_t d = (size_t)m->d;
    memset(m->sum, 0, (size_t)m->k * d * sizeof *m->sum);
    for (int i = 0; i < m->n; i++) {
        double *s = m->sum + (size_t)m->label[i] * d;
        const float *xi = m->x + (size_t)i * d;
        for (size_t j = 0; j < d; j++)
            s[j] += xi[j];
    }
    for (int c = 0; c < m->k; c++)
        for (size_t j = 0; m->count[c] > 0 && j < d; j++)
            m->cent[(size_t)c * d + j] = (float)(m->sum[(size_t)c * d + j] / (double)m->count[c]);
}

static void lloyd(km *m, int max_iters, cv_kmeans_result *r)
{
    for (int i = 0; i < m->n; i++)
        m->label[i] = -1;
    assign(m);
    count_rows(m);
    for (r->iters = 0; r->iters < max_iters;) {
        const int moved = relocate_empty(m);
        update_centroids(m);
        r->iters++;
        r->relocated += moved;
        const int64_t changed = assign(m);
        count_rows(m);
        if (changed == 0 && moved == 0) {
            r->converged = true;
            break;
        }
    }
    r->inertia = 0;
    for (int i = 0; i < m->n; i++)
        r->inertia += m->dist[i];
}

/* ------------------------------------------------------------ entry */

static cv_status check_input(const float *x, int n, int d, const cv_kmeans_opts *o, cv_error *err)
{
    if (n < 1 || d < 1)
        return cv_error_set(err, CV_ERR_ARG, "k-means: %d rows of %d values (expected at least 1 x 1)", n, d);
    if (o->k < 1 || o->k > n)
        return cv_error_set(err, CV_ERR_ARG, "k-means: k = %d clusters for %d rows (expected 1..%d)", o->k, n, n);
    if (o->max_iters < 0)
        return cv_error_set(err, CV_ERR_ARG, "k-means: %d iterations (expected >= 0)", o->max_iters);
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(x[i]))
            return cv_error_set(err, CV_ERR_ARG, "k-means: value [%zu, %zu] is %g (expected finite values)",
                                i / (size_t)d, i % (size_t)d, (double)x[i]);
    return CV_OK;
}

static void km_free(km *m)
{
    free(m->cent);
    free(m->dist);
    free(m->sum);
    free(m->count);
    free(m->taken);
}

cv_status cv_kmeans(const float *x, int n, int d, const cv_kmeans_opts *o, int32_t *labels, float *centroids,
                    cv_kmeans_result *r, cv_error *err)
{
    cv_kmeans_result res = {0};
    cv_status s = check_input(x, n, d, o, err);
    if (s)
        return s;
    km m = {.x = x, .n = n, .d = d, .k = o->k, .threads = o->threads, .label = labels};
    m.cent = malloc((size_t)o->k * (size_t)d * sizeof *m.cent);
    m.dist = malloc((size_t)n * sizeof *m.dist);
    m.sum = malloc((size_t)o->k * (size_t)d * sizeof *m.sum);
    m.count = malloc((size_t)o->k * sizeof *m.count);
    m.taken = calloc((size_t)n, 1);
    if (!m.cent || !m.dist || !m.sum || !m.count || !m.taken) {
        km_free(&m);
        return cv_error_set(err, CV_ERR_NOMEM, "k-means: out of memory for %d rows x %d clusters", n, o->k);
    }
    init_plus_plus(&m, o->seed);
    lloyd(&m, o->max_iters, &res);
    if (centroids)
        memcpy(centroids, m.cent, (size_t)o->k * (size_t)d * sizeof *centroids);
    km_free(&m);
    if (r)
        *r = res;
    return CV_OK;
}
