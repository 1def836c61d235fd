/* Temporary directories for tests: created under $TMPDIR (or /tmp), removed
 * with everything in them. */
#ifndef CAIRN_TEST_TMPDIR_H
#define CAIRN_TEST_TMPDIR_H

#include <stddef.h>

/* Create a fresh directory named after @tag; its path is written to @path
 * (@size bytes). Returns 0, or -1 with errno set. */
int test_tmpdir_create(const char *tag, char *path, size_t size);

/* Remove @path and everything under it. Returns 0, or -1 with errno set. */
int test_tmpdir_remove(const char *path);

#endif
