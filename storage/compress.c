/*
 * Value compression (docs/storage.md, "Compression").
 *
 * In a bucket with compression on, a PUT value of at least
 * STORAGE_COMPRESS_MIN bytes is stored as one zstd frame when that frame is
 * smaller than the value; the record says so (RECORD_VERSION_ZSTD) and the
 * frame header carries the original length, so the logical size of every
 * kept revision, which max_bytes counts, is known without decompressing.
 * Whether a value was compressed never changes what a reader sees: reads
 * decompress into buffers that live as long as their transaction.
 *
 * Level 1, with one compression and one decompression context per
 * storage. On a 4 KiB JSON-like value (storage/tools/zstd_levels.c, this
 * machine, four runs) level 1 gave 568 bytes, level 3 595 bytes, both
 * 11-16 µs to compress and 5-9 µs to decompress; a context per call cost
 * ~23 µs to compress. Higher levels buy nothing for values this small.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "internal.h"

#define ZSTD_LEVEL 1

void storage__compress(storage *s, const void *src, size_t len, void **out,
                       size_t *out_len)
{
    size_t bound, n;
    void *buf;
    *out = NULL;
    *out_len = 0;
    if (len < STORAGE_COMPRESS_MIN ||
        (s->zc == NULL && (s->zc = ZSTD_createCCtx()) == NULL)) {
        return;
    }
    bound = ZSTD_compressBound(len);
    if ((buf = malloc(bound)) == NULL) {
        return;
    }
    /* ZSTD_compress writes the content size into the frame header. */
    n = ZSTD_compressCCtx(s->zc, buf, bound, src, len, ZSTD_LEVEL);
    if (ZSTD_isError(n) || n >= len) {
        free(buf);
        return;
    }
    *out = buf;
    *out_len = n;
}

unsigned long long storage__zstd_size(const void *frame, size_t len)
{
    unsigned long long n = ZSTD_getFrameContentSize(frame, len);
    if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR) {
        return 0;
    }
    return n;
}

void *storage__buf_get(struct storage_bufs *b, size_t size)
{
    void *p;
    if (b->n == b->cap) {
        uint32_t cap = b->cap == 0 ? 8 : b->cap * 2;
        void **np = realloc(b->p, cap * sizeof *np);
        if (np == NULL) {
            return NULL;
        }
        b->p = np;
        b->cap = cap;
    }
    if ((p = malloc(size > 0 ? size : 1)) == NULL) {
        return NULL;
    }
    b->p[b->n++] = p;
    return p;
}

void storage__bufs_free(struct storage_bufs *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        free(b->p[i]);
    }
    free(b->p);
    memset(b, 0, sizeof *b);
}

void storage__zstd_free(storage *s)
{
    ZSTD_freeCCtx(s->zc);
    ZSTD_freeDCtx(s->zd);
    s->zc = NULL;
    s->zd = NULL;
}

int storage__inflate(storage *s, struct storage_bufs *bufs,
                     struct record_view *v, const char *bucket,
                     char *errmsg)
{
    size_t n;
    void *dst;
    if (v->zvalue == NULL || v->e.value != NULL) {
        return 0;
    }
    if ((s->zd == NULL && (s->zd = ZSTD_createDCtx()) == NULL) ||
        (dst = storage__buf_get(bufs, v->e.value_len)) == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM,
                             "bucket '%s': decompress revision %llu",
                             bucket, (unsigned long long)v->e.revision);
    }
    n = ZSTD_decompressDCtx(s->zd, dst, v->e.value_len, v->zvalue,
                            v->zvalue_len);
    if (ZSTD_isError(n) || n != v->e.value_len) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "bucket '%s': the compressed value of revision "
                             "%llu does not decompress (%s)",
                             bucket, (unsigned long long)v->e.revision,
                             ZSTD_isError(n) ? ZSTD_getErrorName(n)
                                             : "wrong length");
    }
    v->e.value = dst;
    return 0;
}
