/* info.c — `cogvideo info FILE.gguf | --cpu`. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cogvideo.h"
#include "convert.h"
#include "pipeline_config.h"

static void info_usage(FILE *out)
{
    fprintf(out, "usage: cogvideo info FILE.gguf   metadata and tensors of a GGUF file (of a cogvideo\n"
                 "                                 model also its pipeline settings and cluster labels)\n"
                 "       cogvideo info --cpu        CPU features, compiled and chosen kernel levels\n");
}

static void print_levels(const char *label, unsigned flags)
{
    printf("%-10s ref", label);
    if (flags & CV_CPU_AVX2)
        printf(" avx2");
    if (flags & CV_CPU_AVX512)
        printf(" avx512");
    if (flags & CV_CPU_AVX512VNNI)
        printf(" avx512vnni");
    if (flags & CV_CPU_NEON)
        printf(" neon");
    printf("\n");
}

static int info_cpu(void)
{
    const cv_kernels *k = cv_kernels_get();
    const char *forced = getenv("COGVIDEO_ISA");
#if defined(__x86_64__)
    const char *arch = "x86_64";
#elif defined(__aarch64__)
    const char *arch = "aarch64";
#else
    const char *arch = "other";
#endif
    printf("arch:      %s\n", arch);
    print_levels("detected:", cv_cpu_flags());
    print_levels("compiled:", cv_isa_compiled());
    printf("chosen:    %s%s\n", cv_isa_name(k->isa),
           forced && *forced ? " (forced by COGVIDEO_ISA)" : "");
#ifdef _OPENMP
    printf("openmp:    yes\n");
#else
    printf("openmp:    no\n");
#endif
#ifdef HAVE_OPENBLAS
    printf("blas:      openblas\n");
#else
    printf("blas:      none (blocked reference GEMM)\n");
#endif
    return CV_EXIT_OK;
}

static void print_sampler(const char *label, cv_sampler_settings s)
{
    printf("  %-14s temperature %g, top_k %d, temperature2 %g\n", label, (double)s.temperature, s.top_k,
           (double)s.t2);
}

/* The cogvideo.pipeline.* keys as the pipeline will use them.  A model
 * converted before they existed says so instead of failing: info is how
 * one finds out. */
static void print_pipeline(const cv_gguf *g)
{
    cv_pipeline_config c;
    cv_error err;
    if (cv_pipeline_config_read(g, &c, &err)) {
        printf("pipeline settings: unreadable: %s\n", err.msg);
        return;
    }
    char dur[CV_PIPE_MAX_TEXT + 40];
    cv_pipeline_duration_text(&c, c.keyframe_seconds, dur, sizeof dur);
    printf("pipeline settings:\n");
    printf("  keyframes      %d, duration prefix \"%s\"; %d interpolation rounds by default\n", c.keyframes, dur,
           c.rounds);
    printf("  prompt         first frame +\"%s\", guided +\"%s\", guider \"%s\"\n", c.first_frame_suffix,
           c.guided_suffix, c.guider_text);
    printf("  guidance       %s by default, alpha %g, log_text_weight %g\n", c.guided ? "on" : "off",
           (double)c.guidance_alpha, (double)c.log_text_weight);
    print_sampler("first frame", c.first);
    print_sampler("video frames", c.video);
    printf("  off-by-one     %s (the first frame's last token uses the video sampler)\n",
           c.faithful_off_by_one ? "yes" : "no");
}

static void print_clusters(const cv_gguf *g)
{
    uint64_t n = 0;
    int32_t *labels = NULL;
    int k = 0;
    cv_error err;
    if (!cv_cluster_labels_present(g))
        printf("cluster labels: none (convert with --clusters LABELS.npy to generate)\n");
    else if (cv_gguf_get_uint(g, CV_KEY_IMAGE_TOKENS, &n, &err) || n > 0x7fffffff ||
             cv_cluster_labels_read(g, (int)n, &labels, &k, &err))
        printf("cluster labels: unreadable: %s\n", err.msg);
    else
        printf("cluster labels: %d clusters\n", k);
    free(labels);
}

/* The summary of a cogvideo model (general.architecture "cogvideo"). */
static int print_model_summary(const char *path)
{
    cv_gguf *g;
    cv_error err;
    const char *arch;
    if (cv_gguf_open(path, &g, &err))
        return cv_cli_fail(CV_EXIT_FAIL, "%s", err.msg);
    if (!cv_gguf_get_str(g, CV_KEY_ARCH, &arch, NULL, &err) && !strcmp(arch, "cogvideo") &&
        cv_gguf_find_kv(g, CV_KEY_STAGE)) {
        print_pipeline(g);
        print_clusters(g);
    }
    cv_gguf_close(g);
    return CV_EXIT_OK;
}

int cv_cmd_info(int argc, char **argv)
{
    if (argc != 2)
        return info_usage(stderr), CV_EXIT_USAGE;
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return info_usage(stdout), CV_EXIT_OK;
    if (!strcmp(argv[1], "--cpu"))
        return info_cpu();
    if (argv[1][0] == '-' && argv[1][1] != '\0')
        return cv_cli_fail(CV_EXIT_USAGE, "info: unknown option '%s' (expected --cpu or a .gguf file)",
                           argv[1]);
    cv_error err;
    cv_status s = cv_gguf_print_info(argv[1], stdout, &err);
    if (s != CV_OK)
        return cv_cli_fail(cv_cli_exit_for(s), "%s", err.msg);
    return print_model_summary(argv[1]);
}
