/*
 * The key -> latest record database. LMDB keys are at most 511 bytes and
 * cairn keys at most 512, so keys of 511 bytes or more share a group record
 * stored under their first 511 bytes (docs/storage.md):
 *
 *   0x81 · u32 LE member count · per member: u32 LE length, entry record
 *
 * Members are sorted by key, which with the shared 511-byte prefix is the
 * keys' byte order, so a cursor that expands groups in place visits every
 * key in byte order.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define GROUP_HEADER 5

static bool is_grouped(size_t len)
{
    return len >= GROUP_KEY_LEN;
}

static void lmdb_key(const void *key, size_t len, MDB_val *k)
{
    k->mv_data = (void *)key;
    k->mv_size = is_grouped(len) ? GROUP_KEY_LEN : len;
}

int storage__key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) {
        return c;
    }
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Check a group's header; *count gets its member count. */
static int group_check(const MDB_val *v, uint32_t *count, char *errmsg)
{
    const uint8_t *g = v->mv_data;
    if (v->mv_size < GROUP_HEADER || g[0] != GROUP_VERSION) {
        return storage__fail(errmsg, CAIRN_ECORRUPT, "bad group record");
    }
    *count = storage__get_u32le(g + 1);
    if (*count == 0) {
        return storage__fail(errmsg, CAIRN_ECORRUPT, "empty group record");
    }
    return 0;
}

/* Decode the member at @*off in group @v and advance @*off past it. */
static int group_member(const MDB_val *v, size_t *off,
                        struct record_view *out, char *errmsg)
{
    const uint8_t *g = v->mv_data;
    uint32_t len;
    if (*off + 4 > v->mv_size) {
        return storage__fail(errmsg, CAIRN_ECORRUPT, "truncated group");
    }
    len = storage__get_u32le(g + *off);
    if (len > v->mv_size - *off - 4) {
        return storage__fail(errmsg, CAIRN_ECORRUPT, "truncated group");
    }
    *off += 4;
    if (storage__record_read(g + *off, len, out, errmsg) != 0) {
        return CAIRN_ECORRUPT;
    }
    *off += len;
    return 0;
}

int storage__ks_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len,
                    struct record_view *out, char *errmsg)
{
    MDB_val k, v;
    uint32_t count;
    size_t off = GROUP_HEADER;
    int rc;
    lmdb_key(key, len, &k);
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return storage__fail(errmsg, CAIRN_ENOTFOUND, "key not found");
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "read key");
    }
    if (!is_grouped(len)) {
        return storage__record_read(v.mv_data, v.mv_size, out, errmsg);
    }
    if ((rc = group_check(&v, &count, errmsg)) != 0) {
        return rc;
    }
    for (uint32_t i = 0; i < count; i++) {
        if ((rc = group_member(&v, &off, out, errmsg)) != 0) {
            return rc;
        }
        if (storage__key_cmp(out->e.key, out->e.key_len, key, len) == 0) {
            return 0;
        }
    }
    return storage__fail(errmsg, CAIRN_ENOTFOUND, "key not found");
}

/*
 * Rewrite the group under @k: members of @old (may be NULL) with @key's
 * member replaced by @r, inserted, or (r NULL) removed.
 */
static int group_rewrite(MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
                         const MDB_val *old, const void *key, size_t len,
                         const struct record *r, char *errmsg)
{
    size_t rsize = r != NULL ? storage__record_size(r) : 0;
    size_t cap = GROUP_HEADER + (old != NULL ? old->mv_size : 0) + 4 + rsize;
    uint8_t *buf = malloc(cap);
    uint32_t count = 0, n = 0;
    size_t off = GROUP_HEADER, out = GROUP_HEADER;
    bool placed = r == NULL;
    struct record_view m;
    MDB_val v;
    int rc = 0;

    if (buf == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "group of %zu bytes", cap);
    }
    if (old != NULL && (rc = group_check(old, &count, errmsg)) != 0) {
        goto out;
    }
    for (uint32_t i = 0; i <= count; i++) {
        const uint8_t *mstart = NULL;
        size_t mlen = 0;
        int c = 1;
        if (i < count) {
            size_t before = off;
            if ((rc = group_member(old, &off, &m, errmsg)) != 0) {
                goto out;
            }
            mstart = (const uint8_t *)old->mv_data + before + 4;
            mlen = off - before - 4;
            c = storage__key_cmp(m.e.key, m.e.key_len, key, len);
        }
        if (!placed && c >= 0) {
            storage__put_u32le(buf + out, (uint32_t)rsize);
            storage__record_write(buf + out + 4, r);
            out += 4 + rsize;
            n++;
            placed = true;
        }
        if (i < count && c != 0) {
            storage__put_u32le(buf + out, (uint32_t)mlen);
            memcpy(buf + out + 4, mstart, mlen);
            out += 4 + mlen;
            n++;
        }
    }
    if (n == 0) {
        rc = mdb_del(txn, dbi, k, NULL);
        rc = rc != 0 ? storage__mdb_fail(errmsg, rc, "delete group") : 0;
        goto out;
    }
    buf[0] = GROUP_VERSION;
    storage__put_u32le(buf + 1, n);
    v.mv_data = buf;
    v.mv_size = out;
    rc = mdb_put(txn, dbi, k, &v, 0);
    rc = rc != 0 ? storage__mdb_fail(errmsg, rc, "write group") : 0;
out:
    free(buf);
    return rc;
}

/* Copy of the group stored under @k, or v->mv_data NULL when there is none. */
static int group_load(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                      char *errmsg)
{
    MDB_val cur;
    int rc = mdb_get(txn, dbi, k, &cur);
    v->mv_data = NULL;
    v->mv_size = 0;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "read group");
    }
    /* The page may move on the next write: keep a copy. */
    v->mv_data = malloc(cur.mv_size);
    if (v->mv_data == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "group copy");
    }
    memcpy(v->mv_data, cur.mv_data, cur.mv_size);
    v->mv_size = cur.mv_size;
    return 0;
}

int storage__ks_put(MDB_txn *txn, MDB_dbi dbi, const struct record *r,
                    char *errmsg)
{
    MDB_val k, v, old;
    int rc;
    lmdb_key(r->key, r->key_len, &k);
    if (!is_grouped(r->key_len)) {
        v.mv_size = storage__record_size(r);
        v.mv_data = NULL;
        rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
        if (rc != 0) {
            return storage__mdb_fail(errmsg, rc, "write key");
        }
        storage__record_write(v.mv_data, r);
        return 0;
    }
    if ((rc = group_load(txn, dbi, &k, &old, errmsg)) != 0) {
        return rc;
    }
    rc = group_rewrite(txn, dbi, &k, old.mv_data != NULL ? &old : NULL, r->key,
                       r->key_len, r, errmsg);
    free(old.mv_data);
    return rc;
}

int storage__ks_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len,
                    char *errmsg)
{
    MDB_val k, old;
    int rc;
    lmdb_key(key, len, &k);
    if (!is_grouped(len)) {
        rc = mdb_del(txn, dbi, &k, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return storage__mdb_fail(errmsg, rc, "delete key");
        }
        return 0;
    }
    if ((rc = group_load(txn, dbi, &k, &old, errmsg)) != 0) {
        return rc;
    }
    if (old.mv_data != NULL) {
        rc = group_rewrite(txn, dbi, &k, &old, key, len, NULL, errmsg);
        free(old.mv_data);
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * Cursor
 * ---------------------------------------------------------------------- */

int storage__ks_open(MDB_txn *txn, MDB_dbi dbi, struct ks_cursor *kc,
                     char *errmsg)
{
    int rc;
    memset(kc, 0, sizeof *kc);
    rc = mdb_cursor_open(txn, dbi, &kc->c);
    return rc != 0 ? storage__mdb_fail(errmsg, rc, "open cursor") : 0;
}

void storage__ks_close(struct ks_cursor *kc)
{
    if (kc->c != NULL) {
        mdb_cursor_close(kc->c);
        kc->c = NULL;
    }
}

/* Decode the first key of the LMDB entry the cursor is on, after an LMDB
 * positioning call returned @rc. */
static int load_entry(struct ks_cursor *kc, int rc, char *errmsg)
{
    if (rc == MDB_NOTFOUND) {
        kc->valid = false;
        return 0;
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "move cursor");
    }
    kc->valid = true;
    kc->member = 0;
    if (kc->k.mv_size == GROUP_KEY_LEN) {
        kc->offset = GROUP_HEADER;
        if ((rc = group_check(&kc->v, &kc->count, errmsg)) != 0) {
            return rc;
        }
        return group_member(&kc->v, &kc->offset, &kc->cur, errmsg);
    }
    kc->count = 1;
    return storage__record_read(kc->v.mv_data, kc->v.mv_size, &kc->cur,
                                errmsg);
}

int storage__ks_next(struct ks_cursor *kc, char *errmsg)
{
    if (!kc->valid) {
        return 0;
    }
    if (kc->member + 1 < kc->count) {
        kc->member++;
        return group_member(&kc->v, &kc->offset, &kc->cur, errmsg);
    }
    return load_entry(kc, mdb_cursor_get(kc->c, &kc->k, &kc->v, MDB_NEXT),
                      errmsg);
}

int storage__ks_seek(struct ks_cursor *kc, const void *key, size_t len,
                     char *errmsg)
{
    int rc;
    if (key == NULL || len == 0) {
        return load_entry(kc, mdb_cursor_get(kc->c, &kc->k, &kc->v, MDB_FIRST),
                          errmsg);
    }
    lmdb_key(key, len, &kc->k);
    rc = load_entry(kc, mdb_cursor_get(kc->c, &kc->k, &kc->v, MDB_SET_RANGE),
                    errmsg);
    /* Inside a group, skip the members that sort before @key. */
    while (rc == 0 && kc->valid &&
           storage__key_cmp(kc->cur.e.key, kc->cur.e.key_len, key, len) < 0) {
        rc = storage__ks_next(kc, errmsg);
    }
    return rc;
}
