/* cli.h — the cogvideo command line: one function per subcommand.
 * Conventions (DESIGN.md §5): results on stdout, errors as one line
 * "cogvideo: FILE: what is wrong (expected ...)" on stderr; exit 0 success,
 * 1 runtime failure, 2 usage error. */
#ifndef CV_CLI_H
#define CV_CLI_H

#include <stdio.h>

#include "cv_status.h"
#include "npy.h"

enum { CV_EXIT_OK = 0, CV_EXIT_FAIL = 1, CV_EXIT_USAGE = 2 };

int cv_cmd_info(int argc, char **argv);
int cv_cmd_convert(int argc, char **argv);
int cv_cmd_forward(int argc, char **argv);
int cv_cmd_logits(int argc, char **argv);
int cv_cmd_bench(int argc, char **argv);
int cv_cmd_convert_vqvae(int argc, char **argv);
int cv_cmd_decode(int argc, char **argv);
int cv_cmd_tokenize(int argc, char **argv);
int cv_cmd_convert_tokenizer(int argc, char **argv);
int cv_cmd_clusters(int argc, char **argv);
int cv_cmd_generate(int argc, char **argv);

/* Prints "cogvideo: <msg>" (one line) to stderr and returns `code`. */
int cv_cli_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Flag values: a decimal integer in [lo, hi] / a finite float in [lo, hi];
 * otherwise a one-line usage error naming the flag (returns CV_EXIT_USAGE). */
int cv_cli_int(const char *flag, const char *s, int lo, int hi, int *v);
int cv_cli_float(const char *flag, const char *s, float lo, float hi, float *v);

/* Loads a non-empty int64 vector of at most max elements (ids, positions,
 * indices); *v is also a->data, so cv_npy_free(a) releases it. */
cv_status cv_cli_load_ids(const char *path, size_t max, cv_npy *a, int64_t **v, cv_error *err);

/* Creates directory `path` (and missing parents); fine if it exists. */
cv_status cv_cli_make_dir(const char *path, cv_error *err);

/* Maps a library status to an exit code: argument errors are usage errors. */
int cv_cli_exit_for(cv_status s);

#endif
