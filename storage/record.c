/* Entry records: the byte format of one revision (docs/storage.md). */
#include <string.h>
#include <xxhash.h>

#include "internal.h"

uint64_t storage__get_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

void storage__put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

uint32_t storage__get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void storage__put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

void storage__put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}

uint64_t storage__get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

size_t storage__record_size(const struct record *r)
{
    size_t value_len = r->zvalue != NULL ? r->zvalue_len : r->value_len;
    return RECORD_HEADER + r->key_len + value_len + r->meta_len +
           8 * (size_t)r->n_older + RECORD_TRAILER;
}

/*
 * Layout (little-endian):
 *   0 version · 1 op · 2 u16 n_older · 4 u32 key_len · 8 u32 value_len ·
 *   12 u32 meta_len · 16 u64 revision · 24 u64 create_revision ·
 *   32 u64 updated · 40 u64 expires_at · 48 key · value · meta ·
 *   older revisions (u64 each) · XXH3-64 of everything before.
 */
void storage__record_write(uint8_t *dst, const struct record *r)
{
    uint8_t *p = dst;
    size_t body;
    size_t value_len = r->zvalue != NULL ? r->zvalue_len : r->value_len;
    const void *value = r->zvalue != NULL ? r->zvalue : r->value;
    p[0] = r->zvalue != NULL ? RECORD_VERSION_ZSTD : RECORD_VERSION;
    p[1] = (uint8_t)r->op;
    p[2] = (uint8_t)(r->n_older & 0xff);
    p[3] = (uint8_t)(r->n_older >> 8);
    storage__put_u32le(p + 4, (uint32_t)r->key_len);
    storage__put_u32le(p + 8, (uint32_t)value_len);
    storage__put_u32le(p + 12, (uint32_t)r->meta_len);
    storage__put_u64le(p + 16, r->revision);
    storage__put_u64le(p + 24, r->create_revision);
    storage__put_u64le(p + 32, r->updated);
    storage__put_u64le(p + 40, r->expires_at);
    p += RECORD_HEADER;
    memcpy(p, r->key, r->key_len);
    p += r->key_len;
    if (value_len > 0) {
        memcpy(p, value, value_len);
        p += value_len;
    }
    if (r->meta_len > 0) {
        memcpy(p, r->meta, r->meta_len);
        p += r->meta_len;
    }
    for (uint32_t i = 0; i < r->n_older; i++) {
        storage__put_u64le(p, r->older[i]);
        p += 8;
    }
    body = (size_t)(p - dst);
    storage__put_u64le(p, XXH3_64bits(dst, body));
}

int storage__record_read(const void *buf, size_t len, struct record_view *out,
                         char *errmsg)
{
    const uint8_t *p = buf;
    uint64_t klen, vlen, mlen, n_older, need;
    if (len < RECORD_HEADER + RECORD_TRAILER) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "record of %zu bytes is shorter than its header",
                             len);
    }
    if (p[0] != RECORD_VERSION && p[0] != RECORD_VERSION_ZSTD) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "record has unknown version %u", p[0]);
    }
    n_older = (uint64_t)p[2] | (uint64_t)p[3] << 8;
    klen = storage__get_u32le(p + 4);
    vlen = storage__get_u32le(p + 8);
    mlen = storage__get_u32le(p + 12);
    need = RECORD_HEADER + klen + vlen + mlen + 8 * n_older + RECORD_TRAILER;
    if (need != len) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "record length %zu does not match its fields "
                             "(%llu)",
                             len, (unsigned long long)need);
    }
    if (storage__get_u64le(p + len - RECORD_TRAILER) !=
        XXH3_64bits(p, len - RECORD_TRAILER)) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "record checksum mismatch");
    }
    if (p[1] < CAIRN_OP_PUT || p[1] > CAIRN_OP_PURGE || klen == 0 ||
        klen > CAIRN_KEY_MAX) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "record has invalid op %u or key length %llu",
                             p[1], (unsigned long long)klen);
    }
    memset(out, 0, sizeof *out);
    out->e.op = p[1];
    out->e.revision = storage__get_u64le(p + 16);
    out->e.create_revision = storage__get_u64le(p + 24);
    out->e.updated = storage__get_u64le(p + 32);
    out->e.expires_at = storage__get_u64le(p + 40);
    out->e.key = p + RECORD_HEADER;
    out->e.key_len = klen;
    out->e.value = vlen > 0 ? p + RECORD_HEADER + klen : NULL;
    out->e.value_len = vlen;
    if (p[0] == RECORD_VERSION_ZSTD) {
        unsigned long long raw;
        if (vlen == 0 ||
            (raw = storage__zstd_size(p + RECORD_HEADER + klen, vlen)) ==
                0 ||
            raw > CAIRN_VALUE_HARD_MAX) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "record of revision %llu holds a bad "
                                 "compressed value",
                                 (unsigned long long)out->e.revision);
        }
        out->zvalue = out->e.value;
        out->zvalue_len = vlen;
        out->e.value = NULL;
        out->e.value_len = raw;
    }
    out->e.meta = mlen > 0 ? p + RECORD_HEADER + klen + vlen : NULL;
    out->e.meta_len = mlen;
    out->older = p + RECORD_HEADER + klen + vlen + mlen;
    out->n_older = (uint32_t)n_older;
    out->size = len;
    return 0;
}

uint64_t storage__record_older(const struct record_view *v, uint32_t i)
{
    return storage__get_u64le(v->older + 8 * (size_t)i);
}

uint64_t storage__entry_bytes(const struct storage_entry *e)
{
    return e->key_len + e->value_len + e->meta_len;
}

uint64_t storage__view_stored_bytes(const struct record_view *v)
{
    return v->e.key_len +
           (v->zvalue != NULL ? v->zvalue_len : v->e.value_len) +
           v->e.meta_len;
}

void storage__record_from_view(struct record *r, const struct record_view *v)
{
    memset(r, 0, sizeof *r);
    r->op = v->e.op;
    r->key = v->e.key;
    r->key_len = v->e.key_len;
    r->value = v->e.value;
    r->value_len = v->e.value_len;
    r->zvalue = v->zvalue;
    r->zvalue_len = v->zvalue_len;
    r->meta = v->e.meta;
    r->meta_len = v->e.meta_len;
    r->revision = v->e.revision;
    r->create_revision = v->e.create_revision;
    r->updated = v->e.updated;
    r->expires_at = v->e.expires_at;
}
