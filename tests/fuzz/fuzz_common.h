/*
 * fuzz_common.h — what the fuzz targets and the seed-corpus generator share:
 * the known bucket the snapshot fuzzer restores into, and small helpers.
 */
#ifndef CAIRN_FUZZ_COMMON_H
#define CAIRN_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"

/* The bucket every snapshot seed is of and the snapshot fuzzer restores. */
#define FUZZ_BUCKET "b"

/* A base time for commands, ns (far from 0, so expiry cases mean something). */
#define FUZZ_T0 ((uint64_t)1000000000000ULL)

/* Which content fuzz_populate() writes. */
enum fuzz_content {
    FUZZ_CONTENT_FULL = 0,  /* history 3, several ops, grouped long keys */
    FUZZ_CONTENT_SMALL = 1, /* ttl bucket, history 1, two short keys */
    FUZZ_CONTENT_EMPTY = 2, /* the bucket with nothing written */
};

/*
 * Create bucket FUZZ_BUCKET in @s and write @content into it. Returns 0, or
 * a cairn code with @errmsg set (an engine failure or a refused command:
 * every command here is expected to apply).
 */
int fuzz_populate(storage *s, enum fuzz_content content, char *errmsg);

/* Byte strings equal (NULL, 0 equals any empty string). */
bool fuzz_bytes_eq(const void *a, size_t alen, const void *b, size_t blen);

#endif
