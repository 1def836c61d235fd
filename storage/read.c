/* Reads: get, history, scan and count. */
#include <string.h>

#include "internal.h"

static int read_bucket(storage_txn *t, const char *name, struct bucket **out,
                       char *errmsg)
{
    *out = storage__bucket_find(t->s, name);
    if (*out == NULL) {
        return storage__fail(errmsg, CAIRN_ENOBUCKET,
                             "bucket '%.64s' not found", name ? name : "");
    }
    return 0;
}

static bool expired(const struct storage_entry *e, uint64_t now)
{
    return e->expires_at != 0 && e->expires_at <= now;
}

/*
 * CAIRN_ENOTFOUND when @key's latest revision is a value expired at @now:
 * expire() drops the whole history of such a key, so none of its older
 * revisions may be read in the meantime either (an older value never comes
 * back once a newer one expired). 0 otherwise, or an environment error.
 */
static int latest_expired(storage_txn *t, const struct bucket *b,
                          const void *key, size_t key_len, uint64_t now,
                          char *errmsg)
{
    struct record_view latest;
    int rc = storage__ks_get(t->txn, b->kdb, key, key_len, &latest, errmsg);
    if (rc == CAIRN_ENOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (latest.e.op == CAIRN_OP_PUT && expired(&latest.e, now)) {
        return storage__fail(errmsg, CAIRN_ENOTFOUND,
                             "key expired: its older revisions are gone "
                             "with it");
    }
    return 0;
}

int storage_get(storage_txn *t, const char *bucket, const void *key,
                size_t key_len, uint64_t revision, uint64_t now,
                struct storage_entry *out, char *errmsg)
{
    struct bucket *b;
    struct record_view v;
    int rc;
    if ((rc = read_bucket(t, bucket, &b, errmsg)) != 0 ||
        (rc = storage__check_key(key, key_len, errmsg)) != 0) {
        return rc;
    }
    if (revision == 0) {
        rc = storage__ks_get(t->txn, b->kdb, key, key_len, &v, errmsg);
    } else {
        rc = storage__rev_get(t->txn, b, revision, &v, errmsg);
        if (rc == 0 && (v.e.key_len != key_len ||
                        memcmp(v.e.key, key, key_len) != 0)) {
            rc = storage__fail(errmsg, CAIRN_ENOTFOUND,
                               "revision %llu is not of this key",
                               (unsigned long long)revision);
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (revision != 0 && (rc = latest_expired(t, b, key, key_len, now,
                                              errmsg)) != 0) {
        return rc;
    }
    if (!storage__is_live(&v.e, now)) {
        return storage__fail(errmsg, CAIRN_ENOTFOUND,
                             v.e.op == CAIRN_OP_PUT ? "key expired"
                             : v.e.op == CAIRN_OP_DEL ? "key deleted"
                                                        : "key purged");
    }
    if (out != NULL) {
        if ((rc = storage__inflate(t->s, &t->bufs, &v, b->cfg.name, errmsg)) != 0) {
            return rc;
        }
        *out = v.e;
    }
    return 0;
}

int storage_history(storage_txn *t, const char *bucket, const void *key,
                    size_t key_len, uint64_t now, storage_entry_cb cb,
                    void *arg, char *errmsg)
{
    struct bucket *b;
    struct record_view latest, v;
    uint32_t delivered = 0;
    int rc;
    if ((rc = read_bucket(t, bucket, &b, errmsg)) != 0 ||
        (rc = storage__check_key(key, key_len, errmsg)) != 0) {
        return rc;
    }
    rc = storage__ks_get(t->txn, b->kdb, key, key_len, &latest, errmsg);
    if (rc != 0) {
        return rc;
    }
    if (latest.e.op == CAIRN_OP_PUT && expired(&latest.e, now)) {
        /* expire() drops the key's whole history and leaves a marker:
         * until it runs, no older revision is shown either. */
        return storage__fail(errmsg, CAIRN_ENOTFOUND, "key expired");
    }
    if (!expired(&latest.e, now)) {
        delivered++;
        if ((rc = storage__inflate(t->s, &t->bufs, &latest, b->cfg.name,
                                   errmsg)) != 0 ||
            (rc = cb(arg, &latest.e)) != 0) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < latest.n_older; i++) {
        uint64_t rev = storage__record_older(&latest, i);
        if ((rc = storage__rev_get(t->txn, b, rev, &v, errmsg)) != 0) {
            if (rc == CAIRN_ENOTFOUND) {
                rc = storage__fail(errmsg, CAIRN_ECORRUPT,
                                   "kept revision %llu has no record",
                                   (unsigned long long)rev);
            }
            return rc;
        }
        if (expired(&v.e, now)) {
            continue;
        }
        delivered++;
        if ((rc = storage__inflate(t->s, &t->bufs, &v, b->cfg.name, errmsg)) != 0 ||
            (rc = cb(arg, &v.e)) != 0) {
            return rc;
        }
    }
    if (delivered == 0) {
        return storage__fail(errmsg, CAIRN_ENOTFOUND,
                             "no revision of the key is kept");
    }
    return 0;
}

static bool has_prefix(const struct storage_entry *e, const void *p,
                       size_t plen)
{
    return e->key_len >= plen && memcmp(e->key, p, plen) == 0;
}

int storage_scan(storage_txn *t, const char *bucket,
                 const struct storage_scan *args, storage_entry_cb cb,
                 void *arg, struct storage_page *page, char *errmsg)
{
    struct bucket *b;
    struct ks_cursor kc;
    const void *from = NULL, *after = NULL;
    size_t from_len = 0, after_len = 0;
    int rc;

    memset(page, 0, sizeof *page);
    if ((rc = read_bucket(t, bucket, &b, errmsg)) != 0) {
        return rc;
    }
    if ((args->start_len > CAIRN_KEY_MAX) || (args->end_len > CAIRN_KEY_MAX) ||
        (args->prefix_len > CAIRN_KEY_MAX)) {
        return storage__fail(errmsg, CAIRN_EINVAL,
                             "scan bound is longer than %d bytes",
                             CAIRN_KEY_MAX);
    }
    if (args->cursor != NULL && args->cursor_len > 0) {
        const uint8_t *cur = args->cursor;
        if (args->cursor_len < 2 || args->cursor_len > STORAGE_CURSOR_MAX ||
            cur[0] != CURSOR_VERSION) {
            return storage__fail(errmsg, CAIRN_EINVAL,
                                 "scan cursor is not one this store gave");
        }
        after = cur + 1;
        after_len = args->cursor_len - 1;
    }
    /* Seek to the greatest of start, prefix and the cursor's key. */
    if (args->start != NULL && args->start_len > 0) {
        from = args->start;
        from_len = args->start_len;
    }
    if (args->prefix != NULL && args->prefix_len > 0 &&
        storage__key_cmp(args->prefix, args->prefix_len, from, from_len) > 0) {
        from = args->prefix;
        from_len = args->prefix_len;
    }
    if (after != NULL && storage__key_cmp(after, after_len, from, from_len) > 0) {
        from = after;
        from_len = after_len;
    }
    if ((rc = storage__ks_open(t->txn, b->kdb, &kc, errmsg)) != 0) {
        return rc;
    }
    rc = storage__ks_seek(&kc, from, from_len, errmsg);
    for (; rc == 0 && kc.valid; rc = storage__ks_next(&kc, errmsg)) {
        struct storage_entry e;
        e = kc.cur.e;
        if (args->end != NULL && args->end_len > 0 &&
            storage__key_cmp(e.key, e.key_len, args->end, args->end_len) >= 0) {
            break;
        }
        if (args->prefix != NULL && args->prefix_len > 0 &&
            !has_prefix(&e, args->prefix, args->prefix_len)) {
            break; /* past every key with the prefix */
        }
        if (after != NULL && storage__key_cmp(e.key, e.key_len, after, after_len) <= 0) {
            continue;
        }
        if (!storage__is_live(&e, args->now)) {
            continue;
        }
        if (args->limit != 0 && page->count == args->limit) {
            page->more = true;
            break;
        }
        page->count++;
        page->cursor[0] = CURSOR_VERSION;
        memcpy(page->cursor + 1, e.key, e.key_len);
        page->cursor_len = 1 + e.key_len;
        if (cb != NULL) {
            if (args->keys_only) {
                e.value = NULL;
                e.value_len = 0;
            } else if ((rc = storage__inflate(t->s, &t->bufs, &kc.cur, b->cfg.name,
                                              errmsg)) != 0) {
                break;
            } else {
                e.value = kc.cur.e.value;
            }
            if ((rc = cb(arg, &e)) != 0) {
                break;
            }
        }
    }
    storage__ks_close(&kc);
    if (!page->more) {
        page->cursor_len = 0;
    }
    return rc;
}

int storage_count(storage_txn *t, const char *bucket,
                  const struct storage_scan *args, uint64_t *count,
                  char *errmsg)
{
    struct storage_page page;
    int rc = storage_scan(t, bucket, args, NULL, NULL, &page, errmsg);
    *count = rc == 0 ? page.count : 0;
    return rc;
}

int storage_next_expiry(storage_txn *t, const char *bucket, uint64_t *at,
                        char *errmsg)
{
    struct bucket *b;
    MDB_cursor *c;
    MDB_val k, v;
    int rc;

    *at = 0;
    if ((rc = read_bucket(t, bucket, &b, errmsg)) != 0) {
        return rc;
    }
    if ((rc = mdb_cursor_open(t->txn, b->tdb, &c)) != 0) {
        return storage__mdb_fail(errmsg, rc, "open expiry cursor");
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "read expiry index");
    }
    if (k.mv_size != 16) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "bucket '%s': expiry index entry of %zu bytes "
                             "(expected 16)",
                             b->cfg.name, k.mv_size);
    }
    *at = storage__get_u64be(k.mv_data);
    return 0;
}
