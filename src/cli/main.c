/* main.c — `cogvideo SUBCOMMAND ...`: dispatch, global help and version. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cogvideo.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* NULL: not implemented yet */
    const char *summary;
} command;

static const command commands[] = {
    {"generate", cv_cmd_generate, "text -> video: keyframes, interpolation, PNG frames and GIF"},
    {"convert", cv_cmd_convert, "SAT checkpoint folder -> GGUF model"},
    {"convert-vqvae", cv_cmd_convert_vqvae, "icetk ice_image.pt -> GGUF VQVAE"},
    {"convert-tokenizer", cv_cmd_convert_tokenizer, "icetk ice_text.model -> GGUF tokenizer"},
    {"logits", cv_cmd_logits, "teacher-forced run through the cache path (golden format)"},
    {"forward", cv_cmd_forward, "one non-incremental forward pass (golden format)"},
    {"decode", cv_cmd_decode, "token ids .npy -> PNG / GIF through the VQVAE"},
    {"tokenize", cv_cmd_tokenize, "text -> icetk ids and pieces"},
    {"clusters", cv_cmd_clusters, "k-means cluster labels for a VQVAE codebook"},
    {"info", cv_cmd_info, "describe a GGUF file, or this CPU (--cpu)"},
    {"bench", cv_cmd_bench, "benchmark the transformer on random weights"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

int cv_cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cogvideo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cv_cli_exit_for(cv_status s)
{
    return s == CV_OK ? CV_EXIT_OK : s == CV_ERR_ARG ? CV_EXIT_USAGE : CV_EXIT_FAIL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: cogvideo COMMAND [OPTIONS]   (cogvideo COMMAND --help for details)\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-18s %s%s\n", commands[i].name, commands[i].summary,
                commands[i].run ? "" : " [not implemented yet]");
    fprintf(out, "\nenvironment:\n"
                 "  COGVIDEO_ISA=ref|avx2|avx512|avx512vnni|neon\n"
                 "                               force a kernel level (default: the best this CPU has)\n"
                 "  OMP_NUM_THREADS=N            default thread count\n");
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), CV_EXIT_USAGE;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
        return usage(stdout), CV_EXIT_OK;
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("cogvideo %s\n", cv_version());
        return CV_EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(cmd, commands[i].name) != 0)
            continue;
        if (!commands[i].run)
            return cv_cli_fail(CV_EXIT_USAGE, "%s: not implemented yet", cmd);
        cv_error err;
        if (cv_init(&err) != CV_OK)
            return cv_cli_fail(CV_EXIT_USAGE, "%s", err.msg);
        return commands[i].run(argc - 1, argv + 1);
    }
    return cv_cli_fail(CV_EXIT_USAGE, "unknown command '%s' (see 'cogvideo --help')", cmd);
}
