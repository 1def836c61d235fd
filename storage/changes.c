/*
 * Changes by revision: what a watch reads (storage_changes, storage.h).
 *
 * Every kept revision of a bucket has its record in r.<id> under its
 * revision (big-endian), so the changes after a revision are a cursor walk
 * in revision order. A watch of one key reads the key's own kept revisions
 * instead: its latest record lists them (at most the bucket's history), so
 * no other key's revisions are visited.
 *
 * Revisions missing from r.<id> were superseded by a later revision of the
 * same key (history limit, purge, expiry of a value: each leaves a newer
 * revision of the key behind) or removed with their key when a marker aged
 * out; the latter raises the bucket's compacted revision, which is why a
 * walk that does not start above it is refused rather than silently missing
 * a deletion.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool matches(const struct storage_changes *a,
                    const struct storage_entry *e)
{
    if (a->key != NULL) {
        return e->key_len == a->key_len &&
               memcmp(e->key, a->key, a->key_len) == 0;
    }
    return a->prefix == NULL || a->prefix_len == 0 ||
           (e->key_len >= a->prefix_len &&
            memcmp(e->key, a->prefix, a->prefix_len) == 0);
}

/* Whether @e is to be delivered in latest-only mode: it is its key's
 * latest revision (any operation), and not a value expired at @now. */
static int is_current(MDB_txn *txn, const struct bucket *b,
                      const struct storage_entry *e, uint64_t now,
                      bool *out, char *errmsg)
{
    struct record_view latest;
    int rc = storage__ks_get(txn, b->kdb, e->key, e->key_len, &latest,
                             errmsg);
    *out = false;
    if (rc == CAIRN_ENOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    *out = latest.e.revision == e->revision &&
           (e->op != CAIRN_OP_PUT || e->expires_at == 0 ||
            e->expires_at > now);
    return 0;
}

/* The walk of one key: its kept revisions in (after, bound], oldest
 * first. */
static int key_changes(storage_txn *t, const struct bucket *b,
                       const struct storage_changes *a, uint64_t bound,
                       storage_entry_cb cb, void *arg,
                       struct storage_changes_page *page, char *errmsg)
{
    struct record_view latest, v;
    uint64_t revs[CAIRN_HISTORY_MAX + 1];
    uint32_t n = 0;
    int rc;

    if ((rc = storage__check_key(a->key, a->key_len, errmsg)) != 0) {
        return rc;
    }
    rc = storage__ks_get(t->txn, b->kdb, a->key, a->key_len, &latest, errmsg);
    if (rc == CAIRN_ENOTFOUND) {
        page->last = bound;
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (latest.e.revision > a->after && latest.e.revision <= bound) {
        revs[n++] = latest.e.revision;
    }
    for (uint32_t i = 0; !a->latest_only && i < latest.n_older &&
                         n < CAIRN_HISTORY_MAX + 1;
         i++) {
        uint64_t rev = storage__record_older(&latest, i);
        if (rev > a->after && rev <= bound) {
            revs[n++] = rev;
        }
    }
    /* Newest first in the record: deliver them oldest first. */
    while (n > 0) {
        uint64_t rev = revs[--n];
        if ((rc = storage__rev_get(t->txn, b, rev, &v, errmsg)) != 0) {
            if (rc == CAIRN_ENOTFOUND) {
                rc = storage__fail(errmsg, CAIRN_ECORRUPT,
                                   "kept revision %llu has no record",
                                   (unsigned long long)rev);
            }
            return rc;
        }
        if (a->latest_only && v.e.op == CAIRN_OP_PUT &&
            v.e.expires_at != 0 && v.e.expires_at <= a->now) {
            continue;
        }
        if ((rc = storage__inflate(t->s, &t->bufs, &v, b->cfg.name, errmsg)) !=
            0) {
            return rc;
        }
        if ((rc = cb(arg, &v.e)) != 0) {
            page->last = rev - 1;
            page->more = true;
            return rc;
        }
        page->count++;
    }
    page->last = bound;
    return 0;
}

int storage_changes(storage_txn *t, const char *bucket,
                    const struct storage_changes *args, storage_entry_cb cb,
                    void *arg, struct storage_changes_page *page,
                    char *errmsg)
{
    struct bucket *b = storage__bucket_find(t->s, bucket);
    struct bucket_counters c;
    uint64_t bound;
    uint32_t examined = 0;
    MDB_cursor *cur;
    MDB_val k, v;
    uint8_t kb[8];
    int rc;

    memset(page, 0, sizeof *page);
    page->last = args->after;
    if (b == NULL) {
        return storage__fail(errmsg, CAIRN_ENOBUCKET,
                             "bucket '%.64s' not found",
                             bucket != NULL ? bucket : "");
    }
    if ((args->key != NULL && args->key_len > CAIRN_KEY_MAX) ||
        (args->prefix != NULL && args->prefix_len > CAIRN_KEY_MAX)) {
        return storage__fail(errmsg, CAIRN_EINVAL,
                             "changes: a key or prefix is longer than %d "
                             "bytes",
                             CAIRN_KEY_MAX);
    }
    if ((rc = storage__counters_get(t->txn, t->s, b, &c, errmsg)) != 0) {
        return rc;
    }
    page->last_revision = c.rev;
    page->compacted_revision = c.compacted;
    if (!args->latest_only && args->after < c.compacted) {
        /* A change in (after, compacted] may be gone with its key. */
        return storage__fail(errmsg, CAIRN_ECOMPACTED,
                             "revision %llu is no longer kept; oldest is "
                             "%llu",
                             (unsigned long long)(args->after + 1),
                             (unsigned long long)(c.compacted + 1));
    }
    bound = args->upto != 0 && args->upto < c.rev ? args->upto : c.rev;
    if (bound <= args->after) {
        return 0;
    }
    if (args->key != NULL) {
        return key_changes(t, b, args, bound, cb, arg, page, errmsg);
    }
    if ((rc = mdb_cursor_open(t->txn, b->rdb, &cur)) != 0) {
        return storage__mdb_fail(errmsg, rc, "open revision cursor");
    }
    storage__put_u64be(kb, args->after + 1);
    k.mv_data = kb;
    k.mv_size = sizeof kb;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (;;) {
        struct record_view rv;
        uint64_t rev;
        bool deliver = true;
        if (rc == MDB_NOTFOUND) {
            page->last = bound;
            rc = 0;
            break;
        }
        if (rc != 0) {
            rc = storage__mdb_fail(errmsg, rc, "read revisions");
            break;
        }
        if (k.mv_size != 8) {
            rc = storage__fail(errmsg, CAIRN_ECORRUPT,
                               "bucket '%s': revision key of %zu bytes",
                               b->cfg.name, k.mv_size);
            break;
        }
        rev = storage__get_u64be(k.mv_data);
        if (rev > bound) {
            page->last = bound;
            break;
        }
        if (args->limit != 0 && examined == args->limit) {
            page->more = true;
            break;
        }
        examined++;
        if ((rc = storage__record_read(v.mv_data, v.mv_size, &rv,
                                       errmsg)) != 0) {
            break;
        }
        if (rv.e.revision != rev) {
            rc = storage__fail(errmsg, CAIRN_ECORRUPT,
                               "bucket '%s': revision %llu holds the record "
                               "of %llu",
                               b->cfg.name, (unsigned long long)rev,
                               (unsigned long long)rv.e.revision);
            break;
        }
        deliver = matches(args, &rv.e);
        if (deliver && args->latest_only &&
            (rc = is_current(t->txn, b, &rv.e, args->now, &deliver,
                             errmsg)) != 0) {
            break;
        }
        if (deliver) {
            if ((rc = storage__inflate(t->s, &t->bufs, &rv, b->cfg.name,
                                       errmsg)) != 0) {
                break;
            }
            if ((rc = cb(arg, &rv.e)) != 0) {
                page->more = true;
                break; /* page->last stays below this revision */
            }
            page->count++;
        }
        page->last = rev;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc;
}
