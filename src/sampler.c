/* sampler.c — SAT's CoglmStrategy.forward for one row (see sampler.h for
 * the semantics, the numerics and the RNG coordinates). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

struct cv_clusters {
    int n_tokens, n_clusters;
    int32_t *label;   /* [n_tokens] */
    int32_t *start;   /* [n_clusters + 1]: cluster j's tokens are member[start[j] .. start[j+1]) */
    int32_t *member;  /* [n_tokens] token ids grouped by cluster, ascending within a cluster */
};

struct cv_sampler {
    const cv_clusters *cl;
    const float *logits;     /* the prepared row (borrowed) */
    cv_sampler_settings set;
    double *mass;            /* [n_clusters] cluster masses c[j] */
    int32_t *top;            /* [n_clusters] the top-k clusters in top[0..k) */
    double top_sum;          /* sum of the top-k masses */
    int k;
};

/* ------------------------------------------------------------ cluster labels */

static cv_status check_labels(const int32_t *labels, int n_tokens, int n_clusters, cv_error *err)
{
    if (n_tokens < 1 || n_clusters < 1)
        return cv_error_set(err, CV_ERR_ARG, "cluster labels: %d tokens, %d clusters (expected at least 1 of each)",
                            n_tokens, n_clusters);
    for (int t = 0; t < n_tokens; t++)
        if (labels[t] < 0 || labels[t] >= n_clusters)
            return cv_error_set(err, CV_ERR_ARG, "cluster labels: label %ld of token %d out of range (expected 0..%d)",
                                (long)labels[t], t, n_clusters - 1);
    return CV_OK;
}

/* A counting sort by label: stable, so each cluster lists its tokens in
 * ascending order (the order the draws walk them). */
static void group_by_cluster(cv_clusters *c)
{
    for (int t = 0; t < c->n_tokens; t++)
        c->start[c->label[t] + 1]++;
    for (int j = 0; j < c->n_clusters; j++)
        c->start[j + 1] += c->start[j];
    int32_t *next = c->start; /* reused as the fill cursor, then shifted back */
    for (int t = 0; t < c->n_tokens; t++)
        c->member[next[c->label[t]]++] = t;
    for (int j = c->n_clusters; j > 0; j--)
        c->start[j] = c->start[j - 1];
    c->start[0] = 0;
}

cv_status cv_clusters_new(const int32_t *labels, int n_tokens, int n_clusters, cv_clusters **out, cv_error *err)
{
    *out = NULL;
    cv_status s = check_labels(labels, n_tokens, n_clusters, err);
    if (s)
        return s;
    cv_clusters *c = calloc(1, sizeof *c);
    if (c) {
        c->label = malloc((size_t)n_tokens * sizeof *c->label);
        c->member = malloc((size_t)n_tokens * sizeof *c->member);
        c->start = calloc((size_t)n_clusters + 1, sizeof *c->start);
    }
    if (!c || !c->label || !c->member || !c->start) {
        cv_clusters_free(c);
        return cv_error_set(err, CV_ERR_NOMEM, "cluster labels: out of memory for %d tokens", n_tokens);
    }
    c->n_tokens = n_tokens;
    c->n_clusters = n_clusters;
    memcpy(c->label, labels, (size_t)n_tokens * sizeof *labels);
    group_by_cluster(c);
    *out = c;
    return CV_OK;
}

void cv_clusters_free(cv_clusters *c)
{
    if (!c)
        return;
    free(c->label);
    free(c->start);
    free(c->member);
    free(c);
}

int cv_clusters_n_tokens(const cv_clusters *c) { return c->n_tokens; }
int cv_clusters_n_clusters(const cv_clusters *c) { return c->n_clusters; }

/* ------------------------------------------------------------ sampler */

cv_status cv_sampler_new(const cv_clusters *c, cv_sampler **out, cv_error *err)
{
    cv_sampler *s = calloc(1, sizeof *s);
    if (s) {
        s->mass = malloc((size_t)c->n_clusters * sizeof *s->mass);
        s->top = malloc((size_t)c->n_clusters * sizeof *s->top);
    }
    if (!s || !s->mass || !s->top) {
        cv_sampler_free(s);
        *out = NULL;
        return cv_error_set(err, CV_ERR_NOMEM, "sampler: out of memory for %d clusters", c->n_clusters);
    }
    s->cl = c;
    *out = s;
    return CV_OK;
}

void cv_sampler_free(cv_sampler *s)
{
    if (!s)
        return;
    free(s->mass);
    free(s->top);
    free(s);
}

cv_rng_key cv_sampler_key(uint64_t seed, uint32_t sample, uint32_t step)
{
    return (cv_rng_key){.seed = seed, .domain = CV_RNG_DOMAIN_SAMPLER, .sample = sample, .step = step, .draw = 0};
}

static cv_status check_settings(cv_sampler_settings set, int n_clusters, cv_error *err)
{
    if (!(set.temperature > 0) || !isfinite(set.temperature) || !(set.t2 > 0) || !isfinite(set.t2))
        return cv_error_set(err, CV_ERR_ARG, "sampler: temperature %g, temperature2 %g (expected finite values > 0)",
                            (double)set.temperature, (double)set.t2);
    if (set.top_k < 1 || set.top_k > n_clusters)
        return cv_error_set(err, CV_ERR_ARG, "sampler: top_k %d (expected 1..%d, the number of clusters)", set.top_k,
                            n_clusters);
    return CV_OK;
}

/* x[t] = logits[t] / T, as `logits = logits / temperature` of the original. */
static double scaled(const cv_sampler *s, int32_t t)
{
    return (double)s->logits[t] / (double)s->set.temperature;
}

/* The largest x (the softmax shift); fails on NaN or infinite logits,
 * which no softmax can turn into a distribution. */
static cv_status row_max(const cv_sampler *s, double *mx, cv_error *err)
{
    double m = -INFINITY;
    for (int t = 0; t < s->cl->n_tokens; t++) {
        if (!isfinite(s->logits[t]))
            return cv_error_set(err, CV_ERR_ARG, "sampler: logit %d is %g (expected finite logits)", t,
                                (double)s->logits[t]);
        const double x = scaled(s, t);
        m = x > m ? x : m;
    }
    *mx = m;
    return CV_OK;
}

/* c[j] = sum over cluster j of softmax(x)[t]: the original's
 * scatter_add_ of rprobs into 500 bins.  Sums run in token order. */
static void cluster_masses(cv_sampler *s, double mx)
{
    const cv_clusters *c = s->cl;
    double z = 0;
    memset(s->mass, 0, (size_t)c->n_clusters * sizeof *s->mass);
    for (int t = 0; t < c->n_tokens; t++) {
        const double e = exp(scaled(s, t) - mx);
        s->mass[c->label[t]] += e;
        z += e;
    }
    for (int j = 0; j < c->n_clusters; j++)
        s->mass[j] /= z;
}

/* The k largest masses, descending (cprobs.topk(k)).  torch.topk does not
 * specify an order for equal values; we put the lower cluster id first
 * (a later cluster enters or moves up only if STRICTLY larger).  Exact ties
 * between non-zero masses do not occur with real-valued logits, and tied
 * zero masses (clusters without tokens) have probability 0 either way, so
 * the choice does not change the distribution. */
static void top_clusters(cv_sampler *s)
{
    int k = 0;
    for (int32_t j = 0; j < s->cl->n_clusters; j++) {
        const double m = s->mass[j];
        if (k == s->set.top_k && !(m > s->mass[s->top[k - 1]]))
            continue;
        int i = k < s->set.top_k ? k++ : k - 1; /* drop the last if full */
        for (; i > 0 && m > s->mass[s->top[i - 1]]; i--)
            s->top[i] = s->top[i - 1];
        s->top[i] = j;
    }
    s->k = k;
    s->top_sum = 0;
    for (int i = 0; i < k; i++)
        s->top_sum += s->mass[s->top[i]];
}

cv_status cv_sampler_prepare(cv_sampler *s, const float *logits, cv_sampler_settings set, cv_error *err)
{
    cv_status st = check_settings(set, s->cl->n_clusters, err);
    if (st)
        return st;
    s->logits = logits;
    s->set = set;
    double mx = 0;
    if ((st = row_max(s, &mx, err))) {
        s->logits = NULL;
        return st;
    }
    cluster_masses(s, mx);
    top_clusters(s);
    return CV_OK;
}

/* In-cluster weights exp((x - max_cluster x) / T2): softmax(x/T2) of the
 * original with every other token at -65504 (whose exp is exactly 0). */
static double cluster_max(const cv_sampler *s, int32_t j)
{
    const cv_clusters *c = s->cl;
    double m = -INFINITY;
    for (int32_t i = c->start[j]; i < c->start[j + 1]; i++) {
        const double x = scaled(s, c->member[i]);
        m = x > m ? x : m;
    }
    return m;
}

static double token_weight(const cv_sampler *s, int32_t t, double cmax)
{
    return exp((scaled(s, t) - cmax) / (double)s->set.t2);
}

/* Inverse CDF over the top-k clusters: the first whose cumulative mass
 * exceeds u * total.  Zero-mass clusters are never chosen; should rounding
 * run past the end, the last cluster with mass wins. */
static int32_t draw_cluster(const cv_sampler *s, double u)
{
    const double target = u * s->top_sum;
    double acc = 0;
    int32_t last = s->top[0];
    for (int i = 0; i < s->k; i++) {
        const double m = s->mass[s->top[i]];
        if (!(m > 0))
            continue;
        acc += m;
        last = s->top[i];
        if (acc > target)
            break;
    }
    return last;
}

/* Inverse CDF over cluster j's tokens in ascending id order (the weights
 * are recomputed, bit-identically, rather than stored). */
static int32_t draw_token(const cv_sampler *s, int32_t j, double u)
{
    const cv_clusters *c = s->cl;
    const double cmax = cluster_max(s, j);
    double total = 0;
    for (int32_t i = c->start[j]; i < c->start[j + 1]; i++)
        total += token_weight(s, c->member[i], cmax);
    const double target = u * total;
    double acc = 0;
    int32_t last = c->member[c->start[j]];
    for (int32_t i = c->start[j]; i < c->start[j + 1]; i++) {
        const double w = token_weight(s, c->member[i], cmax);
        if (!(w > 0))
            continue;
        acc += w;
        last = c->member[i];
        if (acc > target)
            break;
    }
    return last;
}

int32_t cv_sampler_draw(const cv_sampler *s, cv_rng_key key)
{
    double u[2];
    cv_rng_uniform2(key, u);
    return draw_token(s, draw_cluster(s, u[0]), u[1]);
}

cv_status cv_sampler_sample(cv_sampler *s, const float *logits, cv_sampler_settings set, cv_rng_key key,
                            int32_t *token, cv_error *err)
{
    cv_status st = cv_sampler_prepare(s, logits, set, err);
    if (!st)
        *token = cv_sampler_draw(s, key);
    return st;
}

/* ------------------------------------------------------------ exact distributions */

const double *cv_sampler_cluster_mass(const cv_sampler *s) { return s->mass; }

int cv_sampler_topk(const cv_sampler *s, const int32_t **clusters)
{
    *clusters = s->top;
    return s->k;
}

void cv_sampler_p_cluster(const cv_sampler *s, double *p)
{
    memset(p, 0, (size_t)s->cl->n_clusters * sizeof *p);
    for (int i = 0; i < s->k; i++)
        p[s->top[i]] = s->mass[s->top[i]] / s->top_sum;
}

void cv_sampler_p_token_given_cluster(const cv_sampler *s, int32_t j, double *p)
{
    const cv_clusters *c = s->cl;
    memset(p, 0, (size_t)c->n_tokens * sizeof *p);
    if (j < 0 || j >= c->n_clusters || c->start[j] == c->start[j + 1])
        return;
    const double cmax = cluster_max(s, j);
    double total = 0;
    for (int32_t i = c->start[j]; i < c->start[j + 1]; i++)
        total += p[c->member[i]] = token_weight(s, c->member[i], cmax);
    for (int32_t i = c->start[j]; i < c->start[j + 1]; i++)
        p[c->member[i]] /= total;
}

void cv_sampler_p_token(const cv_sampler *s, double *p)
{
    const cv_clusters *c = s->cl;
    memset(p, 0, (size_t)c->n_tokens * sizeof *p);
    for (int i = 0; i < s->k; i++) {
        const int32_t j = s->top[i];
        if (c->start[j] == c->start[j + 1])
            continue;
        const double pc = s->mass[j] / s->top_sum, cmax = cluster_max(s, j);
        double total = 0;
        for (int32_t m = c->start[j]; m < c->start[j + 1]; m++)
            total += token_weight(s, c->member[m], cmax);
        for (int32_t m = c->start[j]; m < c->start[j + 1]; m++)
            p[c->member[m]] = pc * token_weight(s, c->member[m], cmax) / total;
    }
}

/* ------------------------------------------------------------ which strategy */

cv_strategy cv_sampler_pick_settings(bool mode_stage1, int64_t counter, int64_t text_len, int64_t frame_len,
                                     bool faithful)
{
    /* original: `if mode_stage1 and counter < len(text) + 400` (400 = frame_len) */
    const int64_t end = text_len + frame_len + (faithful ? 0 : 1);
    return mode_stage1 && counter < end ? CV_STRATEGY_FIRST_FRAME : CV_STRATEGY_VIDEO;
}
