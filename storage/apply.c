/*
 * Applying commands. Every command either applies whole or changes nothing:
 * everything a command can refuse (sizes, conditions, a single write's
 * max_bytes) is checked before the first write; a txn's max_bytes check
 * needs the state all its writes leave, so a txn that writes values into a
 * limited bucket runs in a nested LMDB transaction dropped when it fails.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* What a write needs to know of the key's latest record, copied out of the
 * page (views die at the first write). */
struct old_state {
    bool exists;
    uint32_t op;
    uint64_t rev;
    uint64_t create_rev;
    uint64_t expires_at;
    uint32_t n_kept; /* latest + older kept revisions, newest first */
    uint64_t kept[CAIRN_HISTORY_MAX + 1];
};

struct wctx {
    MDB_txn *txn;
    struct bucket *b;
    struct bucket_counters *c;
    uint64_t time;
    char *errmsg;
    storage *s;
    struct storage_bufs *bufs; /* the transaction's: decompressed values */
};

bool storage__is_live(const struct storage_entry *e, uint64_t now)
{
    return e->op == CAIRN_OP_PUT && (e->expires_at == 0 || e->expires_at > now);
}

static bool old_is_live(const struct old_state *o, uint64_t now)
{
    return o->exists && o->op == CAIRN_OP_PUT &&
           (o->expires_at == 0 || o->expires_at > now);
}

int storage__check_key(const void *key, size_t len, char *errmsg)
{
    if (key == NULL || len == 0) {
        return storage__fail(errmsg, CAIRN_EINVAL, "key is empty");
    }
    if (len > CAIRN_KEY_MAX) {
        return storage__fail(errmsg, CAIRN_ETOOLARGE,
                             "key of %zu bytes is longer than the %d-byte "
                             "limit",
                             len, CAIRN_KEY_MAX);
    }
    return 0;
}

int storage__rev_get(MDB_txn *txn, const struct bucket *b, uint64_t rev,
                     struct record_view *out, char *errmsg)
{
    uint8_t kb[8];
    MDB_val k = {sizeof kb, kb}, v;
    int rc;
    storage__put_u64be(kb, rev);
    rc = mdb_get(txn, b->rdb, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return storage__fail(errmsg, CAIRN_ENOTFOUND,
                             "revision %llu is not kept",
                             (unsigned long long)rev);
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "read revision");
    }
    return storage__record_read(v.mv_data, v.mv_size, out, errmsg);
}

/* Load @key's latest record into @o. When @value is not NULL it gets a view
 * of the latest value, valid until the next write. */
static int load_old(struct wctx *w, const void *key, size_t len,
                    struct old_state *o, struct storage_entry *value)
{
    struct record_view v;
    int rc = storage__ks_get(w->txn, w->b->kdb, key, len, &v, w->errmsg);
    memset(o, 0, offsetof(struct old_state, kept));
    if (rc == CAIRN_ENOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return rc;
    }
    if (v.n_older > CAIRN_HISTORY_MAX) {
        return storage__fail(w->errmsg, CAIRN_ECORRUPT,
                             "key lists %u older revisions", v.n_older);
    }
    o->exists = true;
    o->op = v.e.op;
    o->rev = v.e.revision;
    o->create_rev = v.e.create_revision;
    o->expires_at = v.e.expires_at;
    o->kept[0] = v.e.revision;
    for (uint32_t i = 0; i < v.n_older; i++) {
        o->kept[i + 1] = storage__record_older(&v, i);
    }
    o->n_kept = v.n_older + 1;
    if (value != NULL) {
        /* Compares look at the value as written, not as stored. */
        if (v.e.op == CAIRN_OP_PUT &&
            (rc = storage__inflate(w->s, w->bufs, &v, w->b->cfg.name,
                                   w->errmsg)) != 0) {
            return rc;
        }
        *value = v.e;
    }
    return 0;
}

static int ttl_key_op(struct wctx *w, uint64_t expires_at, uint64_t rev,
                      bool put)
{
    uint8_t kb[16];
    MDB_val k = {sizeof kb, kb}, v = {0, NULL};
    int rc;
    storage__put_u64be(kb, expires_at);
    storage__put_u64be(kb + 8, rev);
    rc = put ? mdb_put(w->txn, w->b->tdb, &k, &v, 0)
             : mdb_del(w->txn, w->b->tdb, &k, NULL);
    if (rc != 0 && !(rc == MDB_NOTFOUND && !put)) {
        return storage__mdb_fail(w->errmsg, rc, "write expiry index");
    }
    return 0;
}

/* Remove kept revision @rev: its record, its expiry entry and its bytes. */
static int drop_rev(struct wctx *w, uint64_t rev)
{
    struct record_view v;
    uint8_t kb[8];
    MDB_val k = {sizeof kb, kb};
    uint64_t exp, bytes, stored;
    int rc = storage__rev_get(w->txn, w->b, rev, &v, w->errmsg);
    if (rc != 0) {
        if (rc == CAIRN_ENOTFOUND) {
            rc = storage__fail(w->errmsg, CAIRN_ECORRUPT,
                               "kept revision %llu has no record",
                               (unsigned long long)rev);
        }
        return rc;
    }
    exp = v.e.expires_at;
    bytes = storage__entry_bytes(&v.e);
    stored = storage__view_stored_bytes(&v);
    storage__put_u64be(kb, rev);
    if ((rc = mdb_del(w->txn, w->b->rdb, &k, NULL)) != 0) {
        return storage__mdb_fail(w->errmsg, rc, "delete revision");
    }
    w->c->bytes = w->c->bytes >= bytes ? w->c->bytes - bytes : 0;
    w->c->stored = w->c->stored >= stored ? w->c->stored - stored : 0;
    return exp != 0 ? ttl_key_op(w, exp, rev, false) : 0;
}

static uint64_t value_expiry(const struct bucket *b,
                             const struct cairn_write *wr, uint64_t time)
{
    if (wr->expires_at != 0) {
        return wr->expires_at;
    }
    if (wr->ttl_ns > 0) {
        return time + (uint64_t)wr->ttl_ns;
    }
    if (b->cfg.ttl_ns > 0) {
        return time + (uint64_t)b->cfg.ttl_ns;
    }
    return 0;
}

static uint64_t marker_expiry(const struct bucket *b, uint64_t time,
                              bool from_expiry)
{
    if (b->cfg.ttl_ns > 0) {
        return time + (uint64_t)b->cfg.ttl_ns;
    }
    return from_expiry ? time + EXPIRY_MARKER_NS : 0;
}

/* How many of @o's kept revisions stay (as older ones) under a new
 * revision of @op; the rest are dropped. */
static uint32_t kept_after(const struct bucket *b, const struct old_state *o,
                           uint32_t op)
{
    if (!o->exists || op == CAIRN_OP_PURGE) {
        return 0;
    }
    return o->n_kept < b->cfg.history - 1 ? o->n_kept : b->cfg.history - 1;
}

/*
 * Write a new revision of @key: @op with @wr's value (PUT), or a marker.
 * @o is the key's state before. Returns the new revision in *rev_out.
 */
static int write_key(struct wctx *w, const struct cairn_write *wr,
                     const void *key, size_t len, uint32_t op,
                     const struct old_state *o, bool from_expiry,
                     uint64_t *rev_out)
{
    const struct bucket *b = w->b;
    uint64_t rev = w->c->rev + 1;
    uint32_t keep = kept_after(b, o, op);
    struct record r;
    MDB_val k, v;
    uint8_t kb[8];
    void *z = NULL;
    int rc;

    for (uint32_t i = keep; o->exists && i < o->n_kept; i++) {
        if ((rc = drop_rev(w, o->kept[i])) != 0) {
            return rc;
        }
    }
    memset(&r, 0, sizeof r);
    r.op = op;
    r.key = key;
    r.key_len = len;
    r.revision = rev;
    r.updated = w->time;
    if (op == CAIRN_OP_PUT) {
        r.value = wr->value;
        r.value_len = wr->value_len;
        r.meta = wr->meta;
        r.meta_len = wr->meta_len;
        r.create_revision = old_is_live(o, w->time) ? o->create_rev : rev;
        r.expires_at = value_expiry(b, wr, w->time);
        if (b->cfg.compression) {
            storage__compress(w->s, wr->value, wr->value_len, &z, &r.zvalue_len);
            r.zvalue = z;
        }
    } else {
        r.expires_at = marker_expiry(b, w->time, from_expiry);
    }

    /* The revision record (no older list). */
    storage__put_u64be(kb, rev);
    k.mv_data = kb;
    k.mv_size = sizeof kb;
    v.mv_size = storage__record_size(&r);
    if ((rc = mdb_put(w->txn, b->rdb, &k, &v, MDB_RESERVE)) != 0) {
        free(z);
        return storage__mdb_fail(w->errmsg, rc, "write revision");
    }
    storage__record_write(v.mv_data, &r);
    if (r.expires_at != 0 && (rc = ttl_key_op(w, r.expires_at, rev, true))) {
        free(z);
        return rc;
    }

    /* The latest record, listing the older revisions it keeps. */
    r.older = o->kept;
    r.n_older = keep;
    rc = storage__ks_put(w->txn, b->kdb, &r, w->errmsg);
    free(z);
    if (rc != 0) {
        return rc;
    }
    w->c->rev = rev;
    w->c->bytes += len + r.value_len + r.meta_len;
    w->c->stored +=
        len + (r.zvalue != NULL ? r.zvalue_len : r.value_len) + r.meta_len;
    if (o->exists && o->op == CAIRN_OP_PUT) {
        w->c->keys--;
    }
    if (op == CAIRN_OP_PUT) {
        w->c->keys++;
    }
    *rev_out = rev;
    return 0;
}

/* Check a write's sizes and expiry against the bucket's limits. */
static int check_write(const struct bucket *b, const struct cairn_write *wr,
                       uint64_t time, char *msg)
{
    int64_t vmax = cairn_bucket_value_limit(&b->cfg);
    int rc = storage__check_key(wr->key, wr->key_len, msg);
    if (rc != 0) {
        return rc;
    }
    if (wr->op != CAIRN_OP_PUT) {
        return 0;
    }
    if (wr->value_len > 0 && wr->value == NULL) {
        return storage__fail(msg, CAIRN_EINVAL, "value has no bytes");
    }
    if ((uint64_t)wr->value_len > (uint64_t)vmax) {
        return storage__fail(msg, CAIRN_ETOOLARGE,
                             "value of %zu bytes is larger than bucket "
                             "'%s' allows (max_value_size %lld)",
                             wr->value_len, b->cfg.name, (long long)vmax);
    }
    if (wr->meta_len > CAIRN_KEY_META_MAX ||
        (wr->meta_len > 0 && wr->meta == NULL)) {
        return storage__fail(msg, CAIRN_ETOOLARGE,
                             "metadata of %zu bytes is larger than the "
                             "%d-byte limit",
                             wr->meta_len, CAIRN_KEY_META_MAX);
    }
    if (wr->ttl_ns < 0) {
        return storage__fail(msg, CAIRN_EINVAL, "ttl %lld is negative",
                             (long long)wr->ttl_ns);
    }
    if (wr->ttl_ns > 0 && wr->expires_at != 0) {
        return storage__fail(msg, CAIRN_EINVAL,
                             "give a ttl or an expiration time, not both");
    }
    if (wr->expires_at != 0 && wr->expires_at <= time) {
        return storage__fail(msg, CAIRN_EINVAL,
                             "expiration time %llu is not after the write's "
                             "time %llu",
                             (unsigned long long)wr->expires_at,
                             (unsigned long long)time);
    }
    if (wr->ttl_ns > 0 && (uint64_t)wr->ttl_ns > UINT64_MAX - time) {
        return storage__fail(msg, CAIRN_EINVAL, "ttl %lld is too large",
                             (long long)wr->ttl_ns);
    }
    return 0;
}

/*
 * Whether a value write of @wr over @o would leave the bucket above its
 * max_bytes: the new revision's bytes plus what stays, read before anything
 * is written so a refused write needs no rollback. Sets *full.
 */
static int would_overflow(struct wctx *w, const struct cairn_write *wr,
                          const struct old_state *o, bool *full)
{
    uint64_t after = w->c->bytes + wr->key_len + wr->value_len + wr->meta_len;
    *full = false;
    if (w->b->cfg.max_bytes == -1) {
        return 0;
    }
    for (uint32_t i = kept_after(w->b, o, CAIRN_OP_PUT); i < o->n_kept;
         i++) {
        struct record_view v;
        int rc = storage__rev_get(w->txn, w->b, o->kept[i], &v, w->errmsg);
        if (rc != 0) {
            return rc == CAIRN_ENOTFOUND ? CAIRN_ECORRUPT : rc;
        }
        after -= storage__entry_bytes(&v.e);
    }
    *full = after > (uint64_t)w->b->cfg.max_bytes;
    return 0;
}

static int conflict(struct storage_result *res, const struct old_state *o,
                    const char *why)
{
    res->current_revision = o->exists ? o->rev : 0;
    return storage__fail(res->errmsg, CAIRN_ECONFLICT, "%s (current "
                         "revision %llu)",
                         why, (unsigned long long)res->current_revision);
}

/* A single-key write command (put, create, update, cas, delete, purge).
 * Returns non-zero only for environment errors; the outcome is in @res. */
static int apply_single(struct wctx *w, const struct storage_cmd *cmd,
                        struct storage_result *res)
{
    struct cairn_write wr = cmd->w;
    struct old_state o;
    struct storage_entry cur;
    uint32_t op = CAIRN_OP_PUT;
    int rc;

    if (cmd->type == STORAGE_CMD_DELETE) {
        op = CAIRN_OP_DEL;
    } else if (cmd->type == STORAGE_CMD_PURGE) {
        op = CAIRN_OP_PURGE;
    }
    wr.op = op;
    if ((res->code = check_write(w->b, &wr, w->time, res->errmsg)) != 0) {
        return 0;
    }
    if (cmd->type == STORAGE_CMD_UPDATE && cmd->revision == 0) {
        res->code = storage__fail(res->errmsg, CAIRN_EINVAL,
                                  "update needs a revision of 1 or more");
        return 0;
    }
    if ((rc = load_old(w, wr.key, wr.key_len, &o, &cur)) != 0) {
        return rc;
    }
    switch (cmd->type) {
        case STORAGE_CMD_CREATE:
            if (old_is_live(&o, w->time)) {
                res->code = conflict(res, &o, "key already exists");
                return 0;
            }
            break;
        case STORAGE_CMD_UPDATE:
            if (o.rev != cmd->revision) {
                res->code = conflict(res, &o, "revision mismatch");
                return 0;
            }
            break;
        case STORAGE_CMD_CAS:
            if (cmd->has_old
                    ? !old_is_live(&o, w->time) || cur.value_len != cmd->old_len ||
                          (cmd->old_len > 0 &&
                           memcmp(cur.value, cmd->old, cmd->old_len) != 0)
                    : old_is_live(&o, w->time)) {
                res->code = conflict(res, &o,
                                     cmd->has_old ? "value does not match"
                                                  : "key already exists");
                return 0;
            }
            break;
        case STORAGE_CMD_DELETE:
        case STORAGE_CMD_PURGE:
            if (cmd->revision != 0 && o.rev != cmd->revision) {
                res->code = conflict(res, &o, "revision mismatch");
                return 0;
            }
            if (op == CAIRN_OP_DEL ? !old_is_live(&o, w->time) : !o.exists) {
                res->code = storage__fail(res->errmsg, CAIRN_ENOTFOUND,
                                          "key not found");
                return 0;
            }
            break;
        default:
            break;
    }
    if (op == CAIRN_OP_PUT) {
        bool full;
        if ((rc = would_overflow(w, &wr, &o, &full)) != 0) {
            return rc;
        }
        if (full) {
            res->code = storage__fail(res->errmsg, CAIRN_EFULL,
                                      "bucket '%s' is full (max_bytes %lld)",
                                      w->b->cfg.name,
                                      (long long)w->b->cfg.max_bytes);
            return 0;
        }
    }
    if ((rc = write_key(w, &wr, wr.key, wr.key_len, op, &o, false,
                        &res->revision)) != 0) {
        return rc;
    }
    res->last_revision = res->revision;
    res->count = 1;
    return 0;
}

static bool compare_holds(const struct cairn_compare *cmp,
                          const struct old_state *o,
                          const struct storage_entry *cur, uint64_t now)
{
    bool live = old_is_live(o, now);
    uint64_t rev = o->exists ? o->rev : 0;
    switch (cmp->target) {
        case CAIRN_CMP_VALUE: {
            bool eq = live && cur->value_len == cmp->value_len &&
                      (cmp->value_len == 0 ||
                       memcmp(cur->value, cmp->value, cmp->value_len) == 0);
            return cmp->op == CAIRN_CMP_EQ ? eq : !eq;
        }
        case CAIRN_CMP_REVISION:
            switch (cmp->op) {
                case CAIRN_CMP_EQ:
                    return rev == cmp->revision;
                case CAIRN_CMP_NE:
                    return rev != cmp->revision;
                case CAIRN_CMP_LT:
                    return rev < cmp->revision;
                default:
                    return rev > cmp->revision;
            }
        default:
            return (live == cmp->exists) == (cmp->op == CAIRN_CMP_EQ);
    }
}

static int check_compare(const struct cairn_compare *cmp, uint32_t i,
                         char *msg)
{
    int rc = storage__check_key(cmp->key, cmp->key_len, msg);
    if (rc != 0) {
        return rc;
    }
    switch (cmp->target) {
        case CAIRN_CMP_VALUE:
        case CAIRN_CMP_EXISTS:
            if (cmp->op == CAIRN_CMP_EQ || cmp->op == CAIRN_CMP_NE) {
                return 0;
            }
            break;
        case CAIRN_CMP_REVISION:
            if (cmp->op >= CAIRN_CMP_EQ && cmp->op <= CAIRN_CMP_GT) {
                return 0;
            }
            break;
        default:
            return storage__fail(msg, CAIRN_EINVAL,
                                 "compare %u has unknown target %u", i,
                                 cmp->target);
    }
    return storage__fail(msg, CAIRN_EINVAL,
                         "compare %u: operator %u does not apply to its "
                         "target",
                         i, cmp->op);
}

static int apply_txn(struct wctx *w, const struct storage_cmd *cmd,
                     struct storage_result *res)
{
    struct old_state o;
    struct storage_entry cur;
    int rc;

    if (cmd->n_compares > CAIRN_TXN_COMPARES_MAX) {
        res->code = storage__fail(res->errmsg, CAIRN_ETOOLARGE,
                                  "txn has %u compares, the limit is %d",
                                  cmd->n_compares, CAIRN_TXN_COMPARES_MAX);
        return 0;
    }
    if (cmd->n_writes > CAIRN_TXN_OPS_MAX) {
        res->code = storage__fail(res->errmsg, CAIRN_ETOOLARGE,
                                  "txn has %u writes, the limit is %d",
                                  cmd->n_writes, CAIRN_TXN_OPS_MAX);
        return 0;
    }
    if ((cmd->n_compares > 0 && cmd->compares == NULL) ||
        (cmd->n_writes > 0 && cmd->writes == NULL)) {
        res->code = storage__fail(res->errmsg, CAIRN_EINVAL,
                                  "txn arrays are missing");
        return 0;
    }
    for (uint32_t i = 0; i < cmd->n_compares; i++) {
        if ((res->code = check_compare(&cmd->compares[i], i, res->errmsg))) {
            return 0;
        }
    }
    for (uint32_t i = 0; i < cmd->n_writes; i++) {
        const struct cairn_write *wr = &cmd->writes[i];
        if (wr->op < CAIRN_OP_PUT || wr->op > CAIRN_OP_PURGE) {
            res->code = storage__fail(res->errmsg, CAIRN_EINVAL,
                                      "txn write %u has unknown op %u", i,
                                      wr->op);
            return 0;
        }
        if ((res->code = check_write(w->b, wr, w->time, res->errmsg)) != 0) {
            storage__wrap(res->errmsg, "txn write");
            return 0;
        }
    }
    for (uint32_t i = 0; i < cmd->n_compares; i++) {
        const struct cairn_compare *cmp = &cmd->compares[i];
        if ((rc = load_old(w, cmp->key, cmp->key_len, &o, &cur)) != 0) {
            return rc;
        }
        if (!compare_holds(cmp, &o, &cur, w->time)) {
            res->failed_compare = i;
            res->current_revision = o.exists ? o.rev : 0;
            res->code = storage__fail(res->errmsg, CAIRN_ECONFLICT,
                                      "txn compare %u failed (current "
                                      "revision %llu)",
                                      i,
                                      (unsigned long long)
                                          res->current_revision);
            return 0;
        }
    }
    for (uint32_t i = 0; i < cmd->n_writes; i++) {
        const struct cairn_write *wr = &cmd->writes[i];
        uint64_t rev;
        if ((rc = load_old(w, wr->key, wr->key_len, &o, NULL)) != 0) {
            return rc;
        }
        if ((wr->op == CAIRN_OP_DEL && !old_is_live(&o, w->time)) ||
            (wr->op == CAIRN_OP_PURGE && !o.exists)) {
            continue;
        }
        if ((rc = write_key(w, wr, wr->key, wr->key_len, wr->op, &o, false,
                            &rev)) != 0) {
            return rc;
        }
        if (res->revision == 0) {
            res->revision = rev;
        }
        res->last_revision = rev;
        res->count++;
    }
    return 0;
}

/* Rewrite @key's latest record without older revision @rev. */
static int forget_older(struct wctx *w, const void *key, size_t len,
                        uint64_t rev)
{
    struct record_view v;
    struct record r;
    uint64_t older[CAIRN_HISTORY_MAX];
    uint32_t n = 0;
    void *copy;
    int rc = storage__ks_get(w->txn, w->b->kdb, key, len, &v, w->errmsg);
    if (rc != 0) {
        return rc == CAIRN_ENOTFOUND ? 0 : rc;
    }
    if (v.n_older > CAIRN_HISTORY_MAX) {
        return storage__fail(w->errmsg, CAIRN_ECORRUPT,
                             "key lists %u older revisions", v.n_older);
    }
    for (uint32_t i = 0; i < v.n_older; i++) {
        uint64_t r_i = storage__record_older(&v, i);
        if (r_i != rev) {
            older[n++] = r_i;
        }
    }
    if (n == v.n_older) {
        return 0;
    }
    /* The record's bytes live in a page the write below may reuse. */
    copy = malloc(v.size);
    if (copy == NULL) {
        return storage__fail(w->errmsg, CAIRN_ENOMEM, "copy record");
    }
    memcpy(copy, (const uint8_t *)v.e.key - RECORD_HEADER, v.size);
    storage__record_read(copy, v.size, &v, NULL);
    storage__record_from_view(&r, &v);
    r.older = older;
    r.n_older = n;
    rc = storage__ks_put(w->txn, w->b->kdb, &r, w->errmsg);
    free(copy);
    return rc;
}

/* expire(T): handle every expiry index entry due at or before T. */
static int apply_expire(struct wctx *w, struct storage_result *res)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(w->txn, w->b->tdb, &c);
    if (rc != 0) {
        return storage__mdb_fail(w->errmsg, rc, "open expiry cursor");
    }
    for (;;) {
        uint8_t key[CAIRN_KEY_MAX];
        size_t klen;
        uint64_t exp, rev;
        struct record_view rv;
        struct old_state o;

        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0) {
            rc = storage__mdb_fail(w->errmsg, rc, "read expiry index");
            break;
        }
        if (k.mv_size != 16) {
            rc = storage__fail(w->errmsg, CAIRN_ECORRUPT,
                               "bad expiry index entry");
            break;
        }
        exp = storage__get_u64be(k.mv_data);
        rev = storage__get_u64be((const uint8_t *)k.mv_data + 8);
        if (exp > w->time) {
            break;
        }
        if ((rc = mdb_cursor_del(c, 0)) != 0) {
            rc = storage__mdb_fail(w->errmsg, rc, "delete expiry entry");
            break;
        }
        rc = storage__rev_get(w->txn, w->b, rev, &rv, w->errmsg);
        if (rc == CAIRN_ENOTFOUND) {
            continue; /* already gone with its key */
        }
        if (rc != 0) {
            break;
        }
        klen = rv.e.key_len;
        memcpy(key, rv.e.key, klen);
        if ((rc = load_old(w, key, klen, &o, NULL)) != 0) {
            break;
        }
        res->count++;
        if (!o.exists || o.rev != rev) {
            /* An older revision ages out of the key's history. */
            if ((rc = drop_rev(w, rev)) != 0 ||
                (rc = forget_older(w, key, klen, rev)) != 0) {
                break;
            }
        } else if (o.op == CAIRN_OP_PUT) {
            /* The value expires: drop its history, leave a marker. */
            struct cairn_write none = {0};
            uint64_t mrev;
            rc = write_key(w, &none, key, klen, CAIRN_OP_PURGE, &o, true,
                           &mrev);
            if (rc != 0) {
                break;
            }
            if (res->revision == 0) {
                res->revision = mrev;
            }
            res->last_revision = mrev;
        } else {
            /* A marker ages out: the key goes entirely. */
            for (uint32_t i = 0; i < o.n_kept && rc == 0; i++) {
                rc = drop_rev(w, o.kept[i]);
            }
            if (rc != 0 ||
                (rc = storage__ks_del(w->txn, w->b->kdb, key, klen,
                                      w->errmsg)) != 0) {
                break;
            }
            if (rev > w->c->compacted) {
                w->c->compacted = rev;
            }
        }
    }
    mdb_cursor_close(c);
    return rc;
}

/* Whether @cmd is a txn that writes a value: its max_bytes check needs the
 * state all its writes leave, so it runs in a nested transaction.
 * Single-key commands check before writing (would_overflow). */
static bool txn_writes_values(const struct storage_cmd *cmd)
{
    if (cmd->type != STORAGE_CMD_TXN || cmd->writes == NULL) {
        return false;
    }
    for (uint32_t i = 0; i < cmd->n_writes; i++) {
        if (cmd->writes[i].op == CAIRN_OP_PUT) {
            return true;
        }
    }
    return false;
}

static int dispatch(struct wctx *w, const struct storage_cmd *cmd,
                    struct storage_result *res)
{
    switch (cmd->type) {
        case STORAGE_CMD_PUT:
        case STORAGE_CMD_CREATE:
        case STORAGE_CMD_UPDATE:
        case STORAGE_CMD_CAS:
        case STORAGE_CMD_DELETE:
        case STORAGE_CMD_PURGE:
            return apply_single(w, cmd, res);
        case STORAGE_CMD_EXPIRE:
            return apply_expire(w, res);
        case STORAGE_CMD_TXN:
            return apply_txn(w, cmd, res);
        default:
            res->code = storage__fail(res->errmsg, CAIRN_EINVAL,
                                      "unknown command type %u", cmd->type);
            return 0;
    }
}

int storage__apply_in(storage_txn *t, struct bucket *b,
                      const struct storage_cmd *cmd, uint64_t index,
                      struct storage_result *res, char *errmsg)
{
    struct bucket_counters *c, saved;
    struct wctx w;
    MDB_txn *child = NULL;
    bool limited;
    int rc;

    if ((c = storage__touch(t, b, errmsg)) == NULL) {
        return CAIRN_ENOMEM;
    }
    if (index != 0 && index <= c->applied) {
        res->skipped = true;
        return 0;
    }
    if (cmd->cid != 0) {
        /* A retry of a write this bucket has a result for: that result,
         * and nothing applied (the index still counts as applied). */
        bool handled;
        if ((rc = storage__dedup_check(t->txn, b, cmd, res, &handled,
                                       errmsg)) != 0) {
            return rc;
        }
        if (handled) {
            if (index != 0) {
                c->applied = index;
            }
            return 0;
        }
    }
    saved = *c;
    w.txn = t->txn;
    w.b = b;
    w.c = c;
    w.time = cmd->time;
    w.errmsg = errmsg;
    w.s = t->s;
    w.bufs = &t->bufs;

    limited = b->cfg.max_bytes != -1 && txn_writes_values(cmd);
    if (limited) {
        if ((rc = mdb_txn_begin(t->s->env, t->txn, 0, &child)) != 0) {
            return storage__mdb_fail(errmsg, rc, "begin nested transaction");
        }
        w.txn = child;
    }
    rc = dispatch(&w, cmd, res);
    if (rc == 0 && res->code == 0 && limited &&
        c->bytes > (uint64_t)b->cfg.max_bytes) {
        res->code = storage__fail(res->errmsg, CAIRN_EFULL,
                                  "bucket '%s' is full (max_bytes %lld)",
                                  b->cfg.name, (long long)b->cfg.max_bytes);
        res->revision = res->last_revision = 0;
        res->count = 0;
    }
    if (child != NULL) {
        if (rc != 0 || res->code != 0) {
            mdb_txn_abort(child);
            *c = saved;
        } else if ((rc = mdb_txn_commit(child)) != 0) {
            *c = saved;
            return storage__mdb_fail(errmsg, rc, "commit nested transaction");
        }
    }
    if (rc != 0) {
        *c = saved;
        return rc;
    }
    if (res->code != 0 && child == NULL) {
        /* Refused before any write: nothing to undo. */
        *c = saved;
    }
    if (cmd->cid != 0 &&
        (rc = storage__dedup_record(t->txn, b, cmd, res, errmsg)) != 0) {
        *c = saved;
        return rc;
    }
    if (index != 0) {
        c->applied = index;
    }
    return 0;
}
