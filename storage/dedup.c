/*
 * At-most-once writes: each bucket's dedup table (LMDB database d.<id>),
 * which remembers the outcome of every recent write a client tagged with
 * its id (cid) and a sequence number (seq), so a retried write is answered
 * with its first outcome instead of being applied again.
 *
 * Three kinds of entries share the database, told apart by their first key
 * byte (so each kind is one contiguous, ordered range):
 *
 *   'r' · cid · seq (u64 BE each)  -> result record
 *   's' · cid (u64 BE)             -> session record
 *   't' · time · cid (u64 BE each) -> empty: the session time index
 *
 * Result record (little-endian):
 *   offset size field
 *   0      1    version (1)
 *   1      1    zero
 *   2      2    message length (bytes, no NUL; < CAIRN_ERRMSG_SIZE)
 *   4      4    code
 *   8      8    revision
 *   16     8    last revision
 *   24     8    current revision
 *   32     4    failed compare
 *   36     4    count
 *   40     …    message
 *
 * Session record (32 bytes, little-endian): version (1), 7 zero bytes, last
 * use (the command time of the client's latest write, ns), indexed (the time
 * of its 't' entry, at most its last use), the highest seq with a result.
 *
 * Everything here is decided from the command (its time is the proposer's
 * clock) and the table: every replica keeps the same table.
 */
#include <string.h>

#include "internal.h"

#define RESULT_KEY 17
#define SESSION_KEY 9
#define TIME_KEY 17

struct session {
    uint64_t last_use;
    uint64_t indexed;
    uint64_t max_seq;
};

static void result_key(uint8_t *kb, uint64_t cid, uint64_t seq)
{
    kb[0] = DEDUP_RESULT;
    storage__put_u64be(kb + 1, cid);
    storage__put_u64be(kb + 9, seq);
}

static void session_key(uint8_t *kb, uint64_t cid)
{
    kb[0] = DEDUP_SESSION;
    storage__put_u64be(kb + 1, cid);
}

static void time_key(uint8_t *kb, uint64_t time, uint64_t cid)
{
    kb[0] = DEDUP_TIME;
    storage__put_u64be(kb + 1, time);
    storage__put_u64be(kb + 9, cid);
}

/* Whether something last used at @t is older than the TTL at @now. A time
 * after @now (a proposer with a faster clock) is not stale. */
static bool stale(uint64_t t, uint64_t now)
{
    return now > t && now - t > STORAGE_DEDUP_TTL_NS;
}

int storage__dedup_entry_check(const void *key, size_t klen, const void *val,
                               size_t vlen, char *errmsg)
{
    const uint8_t *k = key, *v = val;
    if (klen == RESULT_KEY && k[0] == DEDUP_RESULT) {
        size_t mlen;
        if (vlen < DEDUP_RESULT_HEADER || v[0] != DEDUP_RESULT_VERSION ||
            v[1] != 0) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "dedup result record is bad");
        }
        mlen = (size_t)v[2] | (size_t)v[3] << 8;
        if (vlen != DEDUP_RESULT_HEADER + mlen || mlen >= CAIRN_ERRMSG_SIZE ||
            storage__get_u32le(v + 4) >= (uint32_t)CAIRN__ERR_COUNT) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "dedup result record is bad");
        }
        return 0;
    }
    if (klen == SESSION_KEY && k[0] == DEDUP_SESSION) {
        static const uint8_t zero[7];
        if (vlen != DEDUP_SESSION_SIZE || v[0] != DEDUP_SESSION_VERSION ||
            memcmp(v + 1, zero, sizeof zero) != 0 ||
            storage__get_u64le(v + 16) > storage__get_u64le(v + 8)) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "dedup session record is bad");
        }
        return 0;
    }
    if (klen == TIME_KEY && k[0] == DEDUP_TIME) {
        return vlen == 0 ? 0
                         : storage__fail(errmsg, CAIRN_ECORRUPT,
                                         "dedup time index entry is bad");
    }
    return storage__fail(errmsg, CAIRN_ECORRUPT,
                         "dedup table has a key of unknown kind");
}

/* ---- records ----------------------------------------------------------- */

static int session_get(MDB_txn *txn, MDB_dbi dbi, uint64_t cid,
                       struct session *out, bool *found, char *errmsg)
{
    uint8_t kb[SESSION_KEY];
    MDB_val k = {sizeof kb, kb}, v;
    int rc;
    session_key(kb, cid);
    rc = mdb_get(txn, dbi, &k, &v);
    *found = rc == 0;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "read dedup session");
    }
    if ((rc = storage__dedup_entry_check(kb, sizeof kb, v.mv_data, v.mv_size,
                                         errmsg)) != 0) {
        return rc;
    }
    out->last_use = storage__get_u64le((const uint8_t *)v.mv_data + 8);
    out->indexed = storage__get_u64le((const uint8_t *)v.mv_data + 16);
    out->max_seq = storage__get_u64le((const uint8_t *)v.mv_data + 24);
    return 0;
}

static int session_put(MDB_txn *txn, MDB_dbi dbi, uint64_t cid,
                       const struct session *s, char *errmsg)
{
    uint8_t kb[SESSION_KEY], vb[DEDUP_SESSION_SIZE] = {DEDUP_SESSION_VERSION};
    MDB_val k = {sizeof kb, kb}, v = {sizeof vb, vb};
    int rc;
    session_key(kb, cid);
    storage__put_u64le(vb + 8, s->last_use);
    storage__put_u64le(vb + 16, s->indexed);
    storage__put_u64le(vb + 24, s->max_seq);
    rc = mdb_put(txn, dbi, &k, &v, 0);
    return rc != 0 ? storage__mdb_fail(errmsg, rc, "write dedup session") : 0;
}

static int del_key(MDB_txn *txn, MDB_dbi dbi, uint8_t *kb, size_t klen,
                   const char *what, char *errmsg)
{
    MDB_val k = {klen, kb};
    int rc = mdb_del(txn, dbi, &k, NULL);
    return rc != 0 && rc != MDB_NOTFOUND ? storage__mdb_fail(errmsg, rc, what)
                                         : 0;
}

static int time_put(MDB_txn *txn, MDB_dbi dbi, uint64_t time, uint64_t cid,
                    char *errmsg)
{
    uint8_t kb[TIME_KEY];
    MDB_val k = {sizeof kb, kb}, v = {0, NULL};
    int rc;
    time_key(kb, time, cid);
    rc = mdb_put(txn, dbi, &k, &v, 0);
    return rc != 0 ? storage__mdb_fail(errmsg, rc, "write dedup time index")
                   : 0;
}

static int time_del(MDB_txn *txn, MDB_dbi dbi, uint64_t time, uint64_t cid,
                    char *errmsg)
{
    uint8_t kb[TIME_KEY];
    time_key(kb, time, cid);
    return del_key(txn, dbi, kb, sizeof kb, "delete dedup time index entry",
                   errmsg);
}

/* Look up the result of (@cid, @seq) into @res; *found says whether any. */
static int result_get(MDB_txn *txn, MDB_dbi dbi, uint64_t cid, uint64_t seq,
                      struct storage_result *res, bool *found, char *errmsg)
{
    uint8_t kb[RESULT_KEY];
    MDB_val k = {sizeof kb, kb}, v;
    const uint8_t *p;
    size_t mlen;
    int rc;
    result_key(kb, cid, seq);
    rc = mdb_get(txn, dbi, &k, &v);
    *found = rc == 0;
    if (rc == MDB_NOTFOUND) {
        return 0;
    }
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "read dedup result");
    }
    if ((rc = storage__dedup_entry_check(kb, sizeof kb, v.mv_data, v.mv_size,
                                         errmsg)) != 0) {
        return rc;
    }
    p = v.mv_data;
    mlen = (size_t)p[2] | (size_t)p[3] << 8;
    memset(res, 0, sizeof *res);
    res->code = (int)storage__get_u32le(p + 4);
    res->revision = storage__get_u64le(p + 8);
    res->last_revision = storage__get_u64le(p + 16);
    res->current_revision = storage__get_u64le(p + 24);
    res->failed_compare = storage__get_u32le(p + 32);
    res->count = storage__get_u32le(p + 36);
    memcpy(res->errmsg, p + DEDUP_RESULT_HEADER, mlen);
    res->errmsg[mlen] = '\0';
    return 0;
}

static int result_put(MDB_txn *txn, MDB_dbi dbi, uint64_t cid, uint64_t seq,
                      const struct storage_result *res, char *errmsg)
{
    uint8_t kb[RESULT_KEY];
    size_t mlen = strnlen(res->errmsg, sizeof res->errmsg - 1);
    MDB_val k = {sizeof kb, kb}, v;
    uint8_t *p;
    int rc;
    result_key(kb, cid, seq);
    v.mv_size = DEDUP_RESULT_HEADER + mlen;
    if ((rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE)) != 0) {
        return storage__mdb_fail(errmsg, rc, "write dedup result");
    }
    p = v.mv_data;
    memset(p, 0, DEDUP_RESULT_HEADER);
    p[0] = DEDUP_RESULT_VERSION;
    p[2] = (uint8_t)(mlen & 0xff);
    p[3] = (uint8_t)(mlen >> 8);
    storage__put_u32le(p + 4, (uint32_t)res->code);
    storage__put_u64le(p + 8, res->revision);
    storage__put_u64le(p + 16, res->last_revision);
    storage__put_u64le(p + 24, res->current_revision);
    storage__put_u32le(p + 32, res->failed_compare);
    storage__put_u32le(p + 36, res->count);
    memcpy(p + DEDUP_RESULT_HEADER, res->errmsg, mlen);
    return 0;
}

/*
 * Delete @cid's results with a seq below @below (all of them when @all),
 * oldest first. Each deletion seeks again from the start of the client's
 * range, which the deletion before emptied: no cursor survives a write.
 */
static int results_drop(MDB_txn *txn, MDB_dbi dbi, uint64_t cid,
                        uint64_t below, bool all, char *errmsg)
{
    MDB_cursor *c;
    uint8_t start[RESULT_KEY];
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "open dedup cursor");
    }
    result_key(start, cid, 0);
    for (;;) {
        MDB_val k = {sizeof start, start}, v;
        const uint8_t *p;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0) {
            rc = storage__mdb_fail(errmsg, rc, "read dedup results");
            break;
        }
        p = k.mv_data;
        if (k.mv_size != RESULT_KEY || memcmp(p, start, 9) != 0 ||
            (!all && storage__get_u64be(p + 9) >= below)) {
            break;
        }
        if ((rc = mdb_cursor_del(c, 0)) != 0) {
            rc = storage__mdb_fail(errmsg, rc, "delete dedup result");
            break;
        }
    }
    mdb_cursor_close(c);
    return rc;
}

/* A session was used at @now: move its last use forward, and its time index
 * entry with it once they are more than DEDUP_REINDEX_NS apart. */
static int session_touch(MDB_txn *txn, MDB_dbi dbi, uint64_t cid,
                         struct session *s, uint64_t now, char *errmsg)
{
    int rc;
    if (now > s->last_use) {
        s->last_use = now;
    }
    if (s->last_use - s->indexed > DEDUP_REINDEX_NS) {
        if ((rc = time_del(txn, dbi, s->indexed, cid, errmsg)) != 0 ||
            (rc = time_put(txn, dbi, s->last_use, cid, errmsg)) != 0) {
            return rc;
        }
        s->indexed = s->last_use;
    }
    return 0;
}

/*
 * Forget sessions unused for longer than the TTL at @now, oldest first by
 * the time index, examining at most DEDUP_GC_MAX entries. An entry whose
 * session was used since it was indexed (the index lags by up to
 * DEDUP_REINDEX_NS, or more after a gap) is moved to the session's last use
 * instead; an entry without a session is dropped.
 */
static int gc_sessions(MDB_txn *txn, MDB_dbi dbi, uint64_t now, char *errmsg)
{
    for (int i = 0; i < DEDUP_GC_MAX; i++) {
        uint8_t first[1] = {DEDUP_TIME};
        MDB_cursor *c;
        MDB_val k = {sizeof first, first}, v;
        struct session s;
        uint64_t t = 0, cid = 0;
        bool found;
        int rc = mdb_cursor_open(txn, dbi, &c);
        if (rc != 0) {
            return storage__mdb_fail(errmsg, rc, "open dedup cursor");
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && (k.mv_size != TIME_KEY ||
                        ((const uint8_t *)k.mv_data)[0] != DEDUP_TIME)) {
            rc = MDB_NOTFOUND; /* past the time index */
        }
        if (rc == 0) {
            t = storage__get_u64be((const uint8_t *)k.mv_data + 1);
            cid = storage__get_u64be((const uint8_t *)k.mv_data + 9);
        }
        mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND) {
            return 0;
        }
        if (rc != 0) {
            return storage__mdb_fail(errmsg, rc, "read dedup time index");
        }
        if (!stale(t, now)) {
            return 0;
        }
        if ((rc = time_del(txn, dbi, t, cid, errmsg)) != 0 ||
            (rc = session_get(txn, dbi, cid, &s, &found, errmsg)) != 0) {
            return rc;
        }
        if (!found) {
            continue;
        }
        if (stale(s.last_use, now)) {
            uint8_t kb[SESSION_KEY];
            session_key(kb, cid);
            if ((rc = results_drop(txn, dbi, cid, 0, true, errmsg)) != 0 ||
                (rc = del_key(txn, dbi, kb, sizeof kb,
                              "delete dedup session", errmsg)) != 0) {
                return rc;
            }
        } else {
            s.indexed = s.last_use;
            if ((rc = time_put(txn, dbi, s.indexed, cid, errmsg)) != 0 ||
                (rc = session_put(txn, dbi, cid, &s, errmsg)) != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ---- the two steps around applying a command -------------------------- */

int storage__dedup_check(MDB_txn *txn, struct bucket *b,
                         const struct storage_cmd *cmd,
                         struct storage_result *res, bool *handled,
                         char *errmsg)
{
    struct session s;
    bool found, has_session;
    int rc;

    *handled = true;
    if (cmd->type == STORAGE_CMD_EXPIRE) {
        res->code = storage__fail(res->errmsg, CAIRN_EINVAL,
                                  "expire does not take a client id");
        return 0;
    }
    if ((rc = result_get(txn, b->ddb, cmd->cid, cmd->seq, res, &found,
                         errmsg)) != 0 ||
        (rc = session_get(txn, b->ddb, cmd->cid, &s, &has_session,
                          errmsg)) != 0) {
        return rc;
    }
    if (found) {
        res->duplicate = true;
        if (!has_session) {
            return 0;
        }
        /* A retry is a use: it keeps the client's results alive. */
        if ((rc = session_touch(txn, b->ddb, cmd->cid, &s, cmd->time,
                                errmsg)) != 0) {
            return rc;
        }
        return session_put(txn, b->ddb, cmd->cid, &s, errmsg);
    }
    if (has_session && s.max_seq > STORAGE_DEDUP_WINDOW &&
        cmd->seq < s.max_seq - STORAGE_DEDUP_WINDOW) {
        res->code = storage__fail(
            res->errmsg, CAIRN_EINVAL,
            "write cid %llu seq %llu is older than the retry window (last "
            "seq %llu); it may have been applied",
            (unsigned long long)cmd->cid, (unsigned long long)cmd->seq,
            (unsigned long long)s.max_seq);
        return 0;
    }
    *handled = false;
    return 0;
}

int storage__dedup_record(MDB_txn *txn, struct bucket *b,
                          const struct storage_cmd *cmd,
                          const struct storage_result *res, char *errmsg)
{
    struct session s;
    bool found;
    int rc;

    if ((rc = result_put(txn, b->ddb, cmd->cid, cmd->seq, res, errmsg)) != 0 ||
        (rc = session_get(txn, b->ddb, cmd->cid, &s, &found, errmsg)) != 0) {
        return rc;
    }
    if (!found) {
        s.last_use = s.indexed = cmd->time;
        s.max_seq = cmd->seq;
        rc = time_put(txn, b->ddb, s.indexed, cmd->cid, errmsg);
    } else {
        if (cmd->seq > s.max_seq) {
            s.max_seq = cmd->seq;
        }
        rc = session_touch(txn, b->ddb, cmd->cid, &s, cmd->time, errmsg);
    }
    if (rc != 0 || (rc = session_put(txn, b->ddb, cmd->cid, &s, errmsg)) != 0) {
        return rc;
    }
    if (s.max_seq > STORAGE_DEDUP_WINDOW &&
        (rc = results_drop(txn, b->ddb, cmd->cid,
                           s.max_seq - STORAGE_DEDUP_WINDOW, false,
                           errmsg)) != 0) {
        return rc;
    }
    return gc_sessions(txn, b->ddb, cmd->time, errmsg);
}

/* ---- consistency (restore) -------------------------------------------- */

static int verify_entry(MDB_txn *txn, MDB_dbi dbi, const uint8_t *k,
                        size_t klen, const MDB_val *v, char *errmsg)
{
    struct session s;
    bool found;
    uint64_t cid;
    int rc = storage__dedup_entry_check(k, klen, v->mv_data, v->mv_size,
                                        errmsg);
    if (rc != 0) {
        return rc;
    }
    cid = storage__get_u64be(k[0] == DEDUP_TIME ? k + 9 : k + 1);
    if ((rc = session_get(txn, dbi, cid, &s, &found, errmsg)) != 0) {
        return rc;
    }
    switch (k[0]) {
        case DEDUP_RESULT: {
            uint64_t seq = storage__get_u64be(k + 9);
            if (!found || seq > s.max_seq ||
                (s.max_seq > STORAGE_DEDUP_WINDOW &&
                 seq < s.max_seq - STORAGE_DEDUP_WINDOW)) {
                return storage__fail(errmsg, CAIRN_ECORRUPT,
                                     "dedup result of cid %llu seq %llu "
                                     "has no session or is outside its "
                                     "window",
                                     (unsigned long long)cid,
                                     (unsigned long long)seq);
            }
            return 0;
        }
        case DEDUP_SESSION: {
            uint8_t tk[TIME_KEY];
            MDB_val key = {sizeof tk, tk}, val;
            time_key(tk, s.indexed, cid);
            rc = mdb_get(txn, dbi, &key, &val);
            if (rc == MDB_NOTFOUND) {
                return storage__fail(errmsg, CAIRN_ECORRUPT,
                                     "dedup session of cid %llu is not in "
                                     "the time index",
                                     (unsigned long long)cid);
            }
            return rc != 0 ? storage__mdb_fail(errmsg, rc,
                                               "read dedup time index")
                           : 0;
        }
        default:
            if (!found || s.indexed != storage__get_u64be(k + 1)) {
                return storage__fail(errmsg, CAIRN_ECORRUPT,
                                     "dedup time index entry of cid %llu "
                                     "does not match a session",
                                     (unsigned long long)cid);
            }
            return 0;
    }
}

int storage__dedup_verify(MDB_txn *txn, const struct bucket *b,
                          char *errmsg)
{
    MDB_cursor *c;
    MDB_cursor_op op = MDB_FIRST;
    int rc = mdb_cursor_open(txn, b->ddb, &c);
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "open dedup cursor");
    }
    for (;;) {
        /* The key lives in a page: copy it before other reads. */
        uint8_t kb[RESULT_KEY];
        MDB_val k, v;
        int mrc = mdb_cursor_get(c, &k, &v, op);
        if (mrc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (mrc != 0) {
            rc = storage__mdb_fail(errmsg, mrc, "read dedup table");
            break;
        }
        if (k.mv_size > sizeof kb || k.mv_size == 0) {
            rc = storage__fail(errmsg, CAIRN_ECORRUPT,
                               "dedup table has a key of %zu bytes",
                               k.mv_size);
            break;
        }
        memcpy(kb, k.mv_data, k.mv_size);
        if ((rc = verify_entry(txn, b->ddb, kb, k.mv_size, &v, errmsg)) != 0) {
            break;
        }
        op = MDB_NEXT;
    }
    mdb_cursor_close(c);
    return rc;
}
