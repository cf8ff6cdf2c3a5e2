/* info.c — `cogvideo info FILE.gguf | --cpu`. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cogvideo.h"

static void info_usage(FILE *out)
{
    fprintf(out, "usage: cogvideo info FILE.gguf   metadata and tensors of a GGUF file\n"
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
    return CV_EXIT_OK;
}
