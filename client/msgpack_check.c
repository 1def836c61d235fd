/*
 * A bounded walk over one msgpack document, run before msgpack-c's unpacker
 * sees untrusted bytes. msgpack-c allocates an array's or map's element
 * storage as soon as it reads the header, before it knows whether the
 * elements are there, so a 5-byte input claiming four billion elements
 * would ask for ~100 GB. This walk refuses any container claiming more
 * elements than bytes remain, nesting deeper than 16, and truncated input.
 */
#include "cairn.h"

#define MP_DEPTH_MAX 16

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Walk the document at the start of @buf; its length, or -1. */
static int64_t walk(const void *buf, size_t len)
{
    const uint8_t *p = buf, *end = p + len;
    uint64_t pending[MP_DEPTH_MAX + 1];
    int depth = 0;
    pending[0] = 1; /* one top-level object */
    while (depth >= 0) {
        uint8_t b;
        uint64_t skip = 0, count = 0;
        int hdr = 0;
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        if (p >= end) {
            return -1;
        }
        b = *p++;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            continue;
        } else if ((b & 0xf0) == 0x80) {
            count = 2 * (uint64_t)(b & 0x0f);
        } else if ((b & 0xf0) == 0x90) {
            count = b & 0x0f;
        } else if ((b & 0xe0) == 0xa0) {
            skip = b & 0x1f;
        } else {
            switch (b) {
                case 0xc4: case 0xd9: hdr = 1; break; /* bin8, str8 */
                case 0xc5: case 0xda: hdr = 2; break;
                case 0xc6: case 0xdb: hdr = 4; break;
                case 0xcc: case 0xd0: skip = 1; break;
                case 0xcd: case 0xd1: skip = 2; break;
                case 0xca: case 0xce: case 0xd2: skip = 4; break;
                case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
                case 0xd4: skip = 2; break; /* fixext: type + data */
                case 0xd5: skip = 3; break;
                case 0xd6: skip = 5; break;
                case 0xd7: skip = 9; break;
                case 0xd8: skip = 17; break;
                case 0xc7: case 0xc8: case 0xc9: { /* ext 8/16/32 */
                    int n = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
                    if ((size_t)(end - p) < (size_t)n) {
                        return -1;
                    }
                    skip = be(p, n) + 1;
                    p += n;
                    break;
                }
                case 0xdc: case 0xdd: { /* array 16/32 */
                    int n = b == 0xdc ? 2 : 4;
                    if ((size_t)(end - p) < (size_t)n) {
                        return -1;
                    }
                    count = be(p, n);
                    p += n;
                    break;
                }
                case 0xde: case 0xdf: { /* map 16/32 */
                    int n = b == 0xde ? 2 : 4;
                    if ((size_t)(end - p) < (size_t)n) {
                        return -1;
                    }
                    count = 2 * be(p, n);
                    p += n;
                    break;
                }
                default:
                    return -1; /* 0xc1: never used */
            }
        }
        if (hdr > 0) {
            if ((size_t)(end - p) < (size_t)hdr) {
                return -1;
            }
            skip = be(p, hdr);
            p += hdr;
        }
        if (skip > (uint64_t)(end - p)) {
            return -1;
        }
        p += skip;
        if (count > 0) {
            if (count > (uint64_t)(end - p) || depth == MP_DEPTH_MAX) {
                return -1;
            }
            pending[++depth] = count;
        }
    }
    return p - (const uint8_t *)buf;
}

int cairn_msgpack_check(const void *buf, size_t len)
{
    /* nothing may follow the document */
    return walk(buf, len) == (int64_t)len ? 0 : -1;
}

int cairn_msgpack_check_prefix(const void *buf, size_t len, size_t *doc_len)
{
    int64_t n = walk(buf, len);
    if (n < 0) {
        return -1;
    }
    *doc_len = (size_t)n;
    return 0;
}
