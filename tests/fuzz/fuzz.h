/* fuzz.h — the entry point every tests/fuzz/fuzz_*.c target defines.
 *
 * Each target feeds one input to a reader that takes untrusted bytes (a model
 * file, a checkpoint, a tokenizer, an .npy, a JSON config) and walks what it
 * returns.  The reader must give CV_OK or a one-line error: a crash, a
 * sanitizer report or a leak is a bug.  Two drivers call the entry point:
 * libFuzzer (configure --enable-fuzzers, `make fuzz`; clang only) and
 * corpus_main.c, which replays testdata/fuzz/<target>/ in `make check`. */
#ifndef CV_FUZZ_H
#define CV_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "cv_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes size bytes to path; 0, or -1 on any error. */
int fuzz_write_file(const char *path, const void *data, size_t size);

/* $TMPDIR, or /tmp when it is unset or empty. */
const char *fuzz_tmpdir(void);

/* Readers that take a path get the input through a file: writes data to a
 * file of this process in $TMPDIR (or /tmp) named after `suffix`, and puts
 * its path in path[n].  Returns 0, or -1 (the input is then skipped). */
int fuzz_write_temp(const uint8_t *data, size_t size, const char *suffix, char *path, size_t n);

/* A checksum of n bytes, so that the compiler cannot drop the reads that
 * prove a returned pointer covers what the reader said it does. */
unsigned fuzz_touch(const void *p, size_t n);

/* cv_model_load on path; when it loads, a 2-token non-incremental forward
 * pass (ids 0 and vocab - 1) and the logits of both rows, which proves the
 * loader's checks cover what the compute reads.  Returns the load's status. */
cv_status fuzz_run_model(const char *path, cv_error *err);

#endif
