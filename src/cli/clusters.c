/* clusters.c — `cogvideo clusters`: the cluster labels of a VQVAE codebook
 * for the CogLM sampler (k-means, see kmeans.h), written like CogVideo's
 * cluster_label2.npy: int64 [n_codes] in [0, k). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "codebook.h"
#include "kmeans.h"
#include "npy.h"

#define DEFAULT_K 500     /* CogVideo's cluster_label2.npy has 500 clusters */
#define DEFAULT_ITERS 100

static void clusters_usage(FILE *out)
{
    fprintf(out,
            "usage: cogvideo clusters (-m VQVAE.gguf | --codebook CODEBOOK.npy) -o LABELS.npy\n"
            "                         [--k K] [--seed S] [--iters N] [--threads N]\n"
            "Cluster labels of a VQVAE codebook for the CogLM sampler: k-means++ seeded by S,\n"
            "then Lloyd iterations until no label changes (or N).  Writes LABELS.npy, int64\n"
            "[n_codes] in [0, K) (the layout of CogVideo's cluster_label2.npy).  The labels\n"
            "depend on the codebook, K, S and N only, never on --threads.\n"
            "  -m VQVAE.gguf          the codebook is its tensor " CV_CODEBOOK_TENSOR " [codes, dim]\n"
            "                         (f32, f16 or bf16)\n"
            "  --codebook FILE.npy    the codebook as a 2-D float array [codes, dim]\n"
            "  --k K                  clusters, 1..codes (default %d)\n"
            "  --seed S               k-means++ seed, 0..2^64-1 (default 0)\n"
            "  --iters N              Lloyd iterations at most (default %d; 0: k-means++ only)\n"
            "  --threads N            worker threads (default: OMP_NUM_THREADS or all cores)\n",
            DEFAULT_K, DEFAULT_ITERS);
}

typedef struct {
    const char *model, *codebook, *out;
    cv_kmeans_opts km;
} clusters_args;

static int parse_seed(const char *flag, const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || s[0] == '+')
        return cv_cli_fail(CV_EXIT_USAGE, "%s: '%s' is not an integer in 0 .. 18446744073709551615", flag, s);
    *v = (uint64_t)x;
    return CV_EXIT_OK;
}

static int parse_value(clusters_args *a, const char *f, const char *v)
{
    if (!strcmp(f, "--k"))
        return cv_cli_int(f, v, 1, 1 << 30, &a->km.k);
    if (!strcmp(f, "--iters"))
        return cv_cli_int(f, v, 0, 1 << 30, &a->km.max_iters);
    if (!strcmp(f, "--threads"))
        return cv_cli_int(f, v, 1, 1024, &a->km.threads);
    return parse_seed(f, v, &a->km.seed);
}

static int parse_clusters(int argc, char **argv, clusters_args *a)
{
    memset(a, 0, sizeof *a);
    a->km.k = DEFAULT_K;
    a->km.max_iters = DEFAULT_ITERS;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        const char **str = !strcmp(f, "-m") || !strcmp(f, "--model") ? &a->model
                           : !strcmp(f, "--codebook")                ? &a->codebook
                           : !strcmp(f, "-o") || !strcmp(f, "--out") ? &a->out
                                                                     : NULL;
        const bool num = !strcmp(f, "--k") || !strcmp(f, "--seed") || !strcmp(f, "--iters") ||
                         !strcmp(f, "--threads");
        if (i + 1 >= argc || (!str && !num))
            return cv_cli_fail(CV_EXIT_USAGE, "clusters: %s '%s' (see cogvideo clusters --help)",
                               i + 1 >= argc && (str || num) ? "missing value for" : "unknown argument", f);
        const char *v = argv[++i];
        int rc = str ? (*str = v, CV_EXIT_OK) : parse_value(a, f, v);
        if (rc)
            return rc;
    }
    if (!a->out || !a->model == !a->codebook)
        return cv_cli_fail(CV_EXIT_USAGE, "clusters: one of -m and --codebook, and -o, are required "
                                          "(see cogvideo clusters --help)");
    return CV_EXIT_OK;
}

static cv_status write_labels(const char *path, const int32_t *lab, int n, cv_error *err)
{
    int64_t *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for %d labels", path, n);
    for (int i = 0; i < n; i++)
        v[i] = lab[i];
    const int64_t shape[1] = {n};
    cv_status s = cv_npy_save(path, CV_DT_I64, 1, shape, v, err);
    free(v);
    return s;
}

static cv_status run_clusters(const clusters_args *a, cv_error *err)
{
    float *x = NULL;
    int32_t *lab = NULL;
    int n = 0, d = 0;
    cv_kmeans_result r;
    cv_status s = a->model ? cv_codebook_load_gguf(a->model, &x, &n, &d, err)
                           : cv_codebook_load_npy(a->codebook, &x, &n, &d, err);
    if (!s && a->km.k > n)
        s = cv_error_set(err, CV_ERR_ARG, "--k: %d clusters for the %d codes of %s (expected 1..%d)", a->km.k, n,
                         a->model ? a->model : a->codebook, n);
    if (!s && !(lab = malloc((size_t)n * sizeof *lab)))
        s = cv_error_set(err, CV_ERR_NOMEM, "out of memory for %d labels", n);
    if (!s)
        s = cv_kmeans(x, n, d, &a->km, lab, NULL, &r, err);
    if (!s)
        s = write_labels(a->out, lab, n, err);
    if (!s)
        printf("clusters: %d codes x %d, k %d, seed %llu: %d iterations (%s), %d empty clusters re-seeded, "
               "inertia %.6g -> %s\n", n, d, a->km.k, (unsigned long long)a->km.seed, r.iters,
               r.converged ? "converged" : "iteration limit", r.relocated, r.inertia, a->out);
    free(x);
    free(lab);
    return s;
}

int cv_cmd_clusters(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return clusters_usage(stdout), CV_EXIT_OK;
    clusters_args a;
    int rc = parse_clusters(argc, argv, &a);
    if (rc)
        return rc;
    cv_error err;
    cv_status s = run_clusters(&a, &err);
    return s ? cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg) : CV_EXIT_OK;
}
