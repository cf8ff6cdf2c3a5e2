/* test_files.h — scratch files for the cmocka tests: one temporary
 * directory per test program, paths inside it, whole-file reads and writes.
 * Include after <cmocka.h>. */
#ifndef CV_TEST_FILES_H
#define CV_TEST_FILES_H

#include <stddef.h>
#include <stdint.h>

/* The directory made by cv_test_setup_dir (valid between setup and teardown). */
extern char cv_test_tmpdir[4096];

/* cmocka group setup/teardown: creates $TMPDIR/<name>.XXXXXX (`name` set by
 * cv_test_dir_name before the group runs), and removes it with its files. */
void cv_test_dir_name(const char *name);
int cv_test_setup_dir(void **state);
int cv_test_teardown_dir(void **state);

/* Removes every file in the directory. */
void cv_test_empty_dir(void);

/* Number of entries in the directory (to prove failures leave no file). */
int cv_test_count_files(void);

/* A path in the directory; four rotating buffers, so a test can hold a few. */
const char *cv_test_path(const char *name);

/* Writes / reads a whole file, failing the test on any error. */
void cv_test_write_bytes(const char *path, const void *b, size_t n);
unsigned char *cv_test_read_all(const char *path, size_t *n);

/* Copies GGUF file `in` to `out` with the scalar value of metadata `key`
 * overwritten by the `size` bytes at value (little-endian); fails the test
 * unless the key is there with value type `type` (4 u32, 6 f32, ...).  The
 * key is found by its bytes: it must not be the prefix of an earlier key. */
void cv_test_patch_gguf_value(const char *in, const char *out, const char *key, uint32_t type, const void *value,
                              size_t size);

#endif
