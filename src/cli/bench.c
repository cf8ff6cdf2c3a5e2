/* bench.c — `cogvideo bench --random-weights ...`: times NAR prefill and AR
 * decode of a transformer of any shape on random weights (so the released
 * 48 x 3072 shape can be measured without its weights), against the
 * machine's streaming-read bandwidth measured in the same run: at batch 1 a
 * decode step must read every weight once, so bytes / bandwidth is the
 * floor of its time. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "bandwidth.h"
#include "cli.h"
#include "convert.h"
#include "gguf.h"
#include "model.h"

static void bench_usage(FILE *out)
{
    fprintf(out,
            "usage: cogvideo bench --random-weights --layers L --hidden H --heads N [--type T]\n"
            "                      [--batch B] [--threads N] [--tokens T] [--prefill P] [--seed S]\n"
            "                      [--bandwidth-mib N]\n"
            "Builds a stage-1 model of that shape with random weights in memory, then times\n"
            "  prefill: one non-incremental call of P tokens per sequence (GEMM), and\n"
            "  decode:  T incremental steps of one token per sequence, logits included\n"
            "for B sequences batched together, and prints tokens/s, the weight bytes read per\n"
            "token, the achieved GB/s, the streaming-read bandwidth measured in the same run\n"
            "(4 GiB, or a quarter of the RAM, summed by all threads, best of 5) and the peak RSS.\n"
            "  --type T      f32, f16, bf16 or q8_0 (default f16, as the release)\n"
            "  --batch B     sequences per step, 1..64 (default 1); a list (1,2,8) runs each\n"
            "  --threads N   worker threads (default: OMP_NUM_THREADS or all cores); a list runs each\n"
            "  --tokens T    decode steps to time, 1..4096 (default 16; one untimed warm-up step first)\n"
            "  --prefill P   tokens of the prefill call, 1..2000 (default 64: 16 text + 48 frame tokens)\n"
            "  --seed S      random weights' seed (default 1)\n"
            "  --bandwidth-mib N  size of the bandwidth buffer (default 4096, at most RAM/4)\n");
}

#define MAX_LIST 8

typedef struct {
    int layers, hidden, heads, batch, threads, tokens, prefill, seed, random;
    int type;
    int batches[MAX_LIST], n_batches, thread_list[MAX_LIST], n_threads; /* --batch 1,2,8 */
    int bw_mib; /* --bandwidth-mib: 0 = default */
} bench_args;

/* "1,2,8": up to MAX_LIST integers in [lo, hi]. */
static int parse_list(const char *flag, const char *v, int lo, int hi, int *out, int *n)
{
    char buf[128], *save = NULL;
    if (strlen(v) >= sizeof buf)
        return cv_cli_fail(CV_EXIT_USAGE, "%s: '%s' is too long", flag, v);
    strcpy(buf, v);
    *n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LIST)
            return cv_cli_fail(CV_EXIT_USAGE, "%s: more than %d values", flag, MAX_LIST);
        int rc = cv_cli_int(flag, t, lo, hi, &out[(*n)++]);
        if (rc)
            return rc;
    }
    return *n ? CV_EXIT_OK : cv_cli_fail(CV_EXIT_USAGE, "%s: '%s' has no value", flag, v);
}

static int *int_field(bench_args *a, const char *f)
{
    return !strcmp(f, "--layers")    ? &a->layers
           : !strcmp(f, "--hidden")  ? &a->hidden
           : !strcmp(f, "--heads")   ? &a->heads
           : !strcmp(f, "--batch")   ? &a->batch
           : !strcmp(f, "--threads") ? &a->threads
           : !strcmp(f, "--tokens")  ? &a->tokens
           : !strcmp(f, "--prefill") ? &a->prefill
           : !strcmp(f, "--seed")    ? &a->seed
           : !strcmp(f, "--bandwidth-mib") ? &a->bw_mib
                                     : NULL;
}

static int parse_bench(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){0, 0, 0, 1, 0, 16, 64, 1, 0, CV_TYPE_F16, {1}, 1, {0}, 1, 0};
    static const struct { const char *f; int lo, hi; } lim[] = {
        {"--layers", 1, 1024}, {"--hidden", 1, 65536}, {"--heads", 1, 4096}, {"--batch", 1, 64},
        {"--threads", 1, 1024}, {"--tokens", 1, 4096}, {"--prefill", 1, 2000}, {"--seed", 0, 1 << 30},
        {"--bandwidth-mib", 16, 1 << 20}};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int rc = CV_EXIT_OK;
        if (!strcmp(f, "--random-weights")) {
            a->random = 1;
            continue;
        }
        if (!int_field(a, f) && strcmp(f, "--type"))
            return cv_cli_fail(CV_EXIT_USAGE, "bench: unknown argument '%s' (see cogvideo bench --help)", f);
        if (i + 1 >= argc)
            return cv_cli_fail(CV_EXIT_USAGE, "bench: %s needs a value", f);
        const char *v = argv[++i];
        if (!strcmp(f, "--type")) {
            if ((a->type = cv_convert_parse_type(v)) < 0)
                return cv_cli_fail(CV_EXIT_USAGE, "--type: '%s' is not one of f32, f16, bf16, q8_0", v);
            continue;
        }
        for (size_t k = 0; k < sizeof lim / sizeof lim[0]; k++) {
            if (strcmp(f, lim[k].f))
                continue;
            if (!strcmp(f, "--batch")) /* lists: one run per value */
                rc = parse_list(f, v, lim[k].lo, lim[k].hi, a->batches, &a->n_batches);
            else if (!strcmp(f, "--threads"))
                rc = parse_list(f, v, lim[k].lo, lim[k].hi, a->thread_list, &a->n_threads);
            else
                rc = cv_cli_int(f, v, lim[k].lo, lim[k].hi, int_field(a, f));
        }
        if (rc)
            return rc;
    }
    if (!a->random || !a->layers || !a->hidden || !a->heads)
        return cv_cli_fail(CV_EXIT_USAGE, "bench: --random-weights, --layers, --hidden and --heads are required (see cogvideo bench --help)");
    if (a->hidden % a->heads || (a->type == CV_TYPE_Q8_0 && a->hidden % 32))
        return cv_cli_fail(CV_EXIT_USAGE, "bench: --hidden %d (expected a multiple of --heads%s)", a->hidden,
                           a->type == CV_TYPE_Q8_0 ? " and of 32 for q8_0" : "");
    return CV_EXIT_OK;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Bytes of the bandwidth buffer: 4 GiB, far beyond any cache (this VM
 * reports a 508 MiB L3, and 1 GiB sums ran at up to twice the speed a
 * 15 GB model streams at), but at most a quarter of the RAM. */
static size_t bandwidth_bytes(const bench_args *a)
{
    if (a->bw_mib > 0)
        return (size_t)a->bw_mib << 20;
    const long pages = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE);
    size_t b = (size_t)4 << 30;
    if (pages > 0 && pg > 0 && (size_t)pages / 4 * (size_t)pg < b)
        b = (size_t)pages / 4 * (size_t)pg;
    return b < ((size_t)64 << 20) ? (size_t)64 << 20 : b;
}

/* GB/s of summing bandwidth_bytes() on nthreads threads (bandwidth.h). */
static double read_bandwidth(const bench_args *a, int nthreads)
{
    return cv_read_bandwidth(cv_kernels_get(), bandwidth_bytes(a), nthreads);
}

static cv_hparams bench_hparams(const bench_args *a)
{
    cv_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.stage = 1;
    hp.n_layers = a->layers;
    hp.hidden = a->hidden;
    hp.heads = a->heads;
    hp.vocab = 150010; /* the release's vocabulary and tables */
    hp.image_tokens = 20000;
    hp.boi_id = 150000;
    hp.n_token_id = 20004;
    hp.pos_rows = 1024;
    hp.extra_rows = 2000;
    hp.frame_pos_offset = 512;
    hp.extra_pos_offset = 912;
    hp.frame_h = hp.frame_w = 20;
    hp.max_text_len = 74;
    hp.plus = CV_PLUS_FULL;
    hp.window = -1;
    hp.ln_eps = 1e-5f;
    return hp;
}

typedef struct {
    cv_state **st;
    int64_t *ids, *pos; /* [batch][prefill] */
    float *hidden, *logits;
    cv_call *calls;
} bench_bufs;

static void bufs_free(bench_bufs *b, int batch)
{
    for (int i = 0; b->st && i < batch; i++)
        cv_state_free(b->st[i]);
    free(b->st);
    free(b->ids);
    free(b->pos);
    free(b->hidden);
    free(b->logits);
    free(b->calls);
}

static cv_status bufs_alloc(const cv_model *m, const bench_args *a, bench_bufs *b, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const size_t B = (size_t)a->batch, P = (size_t)a->prefill;
    b->st = calloc(B, sizeof *b->st);
    b->ids = malloc(B * P * sizeof *b->ids);
    b->pos = malloc(B * P * sizeof *b->pos);
    b->hidden = malloc(B * P * (size_t)hp->hidden * sizeof *b->hidden);
    b->logits = malloc(B * (size_t)hp->image_tokens * sizeof *b->logits);
    b->calls = calloc(B, sizeof *b->calls);
    if (!b->st || !b->ids || !b->pos || !b->hidden || !b->logits || !b->calls)
        return cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    cv_status s = CV_OK;
    for (size_t i = 0; i < B && !s; i++)
        s = cv_state_new(m, a->prefill + a->tokens + 1, &b->st[i], err);
    return s;
}

/* Token and position of model position p of sequence i: text, then frame
 * tokens from position id 512 on (the stage-1 layout). */
static void token_at(const cv_hparams *hp, int tl, int i, int p, int64_t *id, int64_t *pos)
{
    const uint64_t h = (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)p * 0xbf58476d1ce4e5b9ull;
    *id = p < tl ? 20005 + (int64_t)(h % 100000) : p == tl ? hp->boi_id : (int64_t)(h % 20000);
    *pos = p < tl ? p : hp->frame_pos_offset + (p - tl);
}

static cv_status prefill(const cv_model *m, const bench_args *a, bench_bufs *b, int tl, double *sec, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    const size_t P = (size_t)a->prefill;
    for (int i = 0; i < a->batch; i++) {
        for (int p = 0; p < a->prefill; p++)
            token_at(hp, tl, i, p, &b->ids[(size_t)i * P + (size_t)p], &b->pos[(size_t)i * P + (size_t)p]);
        b->calls[i] = (cv_call){b->st[i], b->ids + (size_t)i * P, b->pos + (size_t)i * P, a->prefill, tl, 1.4f,
                                false, NULL, NULL};
    }
    const double t0 = now();
    cv_status s = cv_model_forward(m, b->calls, a->batch, a->threads, err);
    *sec = now() - t0;
    return s;
}

/* One decode step of every sequence, logits included. */
static cv_status decode_step(const cv_model *m, const bench_args *a, bench_bufs *b, int tl, int p, cv_error *err)
{
    const cv_hparams *hp = cv_model_hparams(m);
    for (int i = 0; i < a->batch; i++) {
        token_at(hp, tl, i, p, &b->ids[i], &b->pos[i]);
        b->calls[i] = (cv_call){b->st[i], &b->ids[i], &b->pos[i], 1, tl, 1.4f, false,
                                b->hidden + (size_t)i * (size_t)hp->hidden, NULL};
    }
    cv_status s = cv_model_forward(m, b->calls, a->batch, a->threads, err);
    if (!s)
        cv_model_logits(m, b->hidden, a->batch, b->logits, a->threads);
    return s;
}

/* The process's peak resident set since reset_peak_rss(): VmHWM of
 * /proc/self/status (Linux), else getrusage's lifetime peak. */
static double peak_rss_gb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && kib < 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) != 1)
            kib = -1;
    if (f)
        fclose(f);
    if (kib < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kib = ru.ru_maxrss; /* KiB on Linux */
    }
    return (double)kib * 1024.0 / 1e9;
}

/* Starts the peak over (Linux: "5" to clear_refs resets VmHWM), so that the
 * bandwidth buffer, freed before the weights exist, is not reported as the
 * model's peak; elsewhere the peak stays the lifetime one. */
static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* Prefill and decode at one batch size and thread count. */
static cv_status run_one(const cv_model *m, const bench_args *a, double bw, double wb, cv_error *err)
{
    bench_bufs b = {0};
    double tp = 0.0;
    const int tl = a->prefill < 16 ? a->prefill - 1 : 16;
    cv_status s;
    printf("-- threads %d, batch %d\n", a->threads, a->batch);
    if ((s = bufs_alloc(m, a, &b, err)) || (s = prefill(m, a, &b, tl, &tp, err)))
        goto done;
    printf("prefill: %d x %d tokens in %.2f s: %.1f tokens/s\n", a->batch, a->prefill, tp,
           a->batch * a->prefill / tp);
    fflush(stdout);
    if ((s = decode_step(m, a, &b, tl, a->prefill, err))) /* warm-up */
        goto done;
    /* the mean is what a run gets; the best step is the like-for-like
     * figure for the bandwidth, itself the best of 5 (this VM's bandwidth
     * varies by 2x from minute to minute with its neighbours' load) */
    double best = INFINITY;
    const double t0 = now();
    for (int k = 1; k <= a->tokens && !s; k++) {
        const double ts = now();
        s = decode_step(m, a, &b, tl, a->prefill + k, err);
        best = fmin(best, now() - ts);
    }
    if (!s) {
        const double dt = (now() - t0) / a->tokens, tps = a->batch / dt;
        printf("decode: %d steps x %d sequences: %.3f s/step, %.2f tokens/s, %.3f GB of weights per token, "
               "%.1f GB/s = %.0f %% of the read bandwidth\n",
               a->tokens, a->batch, dt, tps, wb / a->batch, wb / dt, bw > 0 ? 100.0 * wb / dt / bw : 0.0);
        printf("decode best step: %.3f s, %.2f tokens/s, %.1f GB/s = %.0f %% of the read bandwidth\n", best,
               a->batch / best, wb / best, bw > 0 ? 100.0 * wb / best / bw : 0.0);
        printf("peak RSS: %.2f GB\n", peak_rss_gb());
        fflush(stdout);
    }
done:
    bufs_free(&b, a->batch);
    return s;
}

static cv_status run_bench(const bench_args *a, cv_error *err)
{
    const cv_hparams hp = bench_hparams(a);
    cv_model *m = NULL;
    int def_threads = 1, threads[MAX_LIST];
    double bw[MAX_LIST];
#ifdef _OPENMP
    def_threads = omp_get_max_threads();
#endif
    /* the bandwidth first: its buffer is freed before the weights exist */
    for (int ti = 0; ti < a->n_threads; ti++) {
        threads[ti] = a->thread_list[ti] > 0 ? a->thread_list[ti] : def_threads;
        bw[ti] = read_bandwidth(a, threads[ti]);
    }
    reset_peak_rss();
    const double t0 = now();
    cv_status s = cv_model_new_random(&hp, (cv_type)a->type, (uint64_t)a->seed, 0, &m, err);
    if (s)
        return s;
    const double gen = now() - t0, wb = (double)cv_model_weight_bytes(m, true) / 1e9;
    printf("model: %d layers, hidden %d, %d heads, %s weights, %.3f GB read per decode step (logits incl.)\n",
           a->layers, a->hidden, a->heads, cv_gguf_type_name((uint32_t)a->type), wb);
    printf("kernels %s; random weights made in %.1f s\n", cv_isa_name(cv_kernels_get()->isa), gen);
    for (int ti = 0; ti < a->n_threads && !s; ti++) {
        bench_args one = *a;
        one.threads = threads[ti];
        printf("read bandwidth: %.1f GB/s (%.1f GiB summed on %d threads, best of 5)\n", bw[ti],
               (double)bandwidth_bytes(a) / (1 << 30), one.threads);
        for (int bi = 0; bi < a->n_batches && !s; bi++) {
            one.batch = a->batches[bi];
            s = run_one(m, &one, bw[ti], wb, err);
        }
    }
    cv_model_free(m);
    return s;
}

int cv_cmd_bench(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return bench_usage(stdout), CV_EXIT_OK;
    bench_args a;
    int rc = parse_bench(argc, argv, &a);
    if (rc)
        return rc;
    cv_error err;
    cv_status s = run_bench(&a, &err);
    return s ? cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg) : CV_EXIT_OK;
}
