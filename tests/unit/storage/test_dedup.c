/* At-most-once writes (docs/storage.md "At-most-once writes"): a write
 * retried with the same client id and sequence number gets its first
 * outcome and is not applied again; the window, the session TTL, the
 * snapshot, reopen and bucket delete all keep or drop the table as
 * documented. */
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "helpers.h"

#define SEC 1000000000ULL
#define W STORAGE_DEDUP_WINDOW
#define TTL STORAGE_DEDUP_TTL_NS

static struct storage_cmd with_id(struct storage_cmd c, uint64_t cid,
                                  uint64_t seq)
{
    c.cid = cid;
    c.seq = seq;
    return c;
}

/* Put @value at @key as (cid, seq) at @time. */
static struct storage_result put_id(struct fx *f, const char *bucket,
                                    const char *key, const char *value,
                                    uint64_t cid, uint64_t seq, uint64_t time)
{
    struct storage_cmd c =
        with_id(cmd_put(key, strlen(key), value, strlen(value), time), cid,
                seq);
    return fx_apply(f, bucket, &c, 0);
}

static void assert_same_result(const struct storage_result *dup,
                               const struct storage_result *first)
{
    assert_true(dup->duplicate);
    assert_false(first->duplicate);
    assert_false(dup->skipped);
    assert_int_equal(dup->code, first->code);
    assert_int_equal(dup->revision, first->revision);
    assert_int_equal(dup->last_revision, first->last_revision);
    assert_int_equal(dup->current_revision, first->current_revision);
    assert_int_equal(dup->failed_compare, first->failed_compare);
    assert_int_equal(dup->count, first->count);
    assert_string_equal(dup->errmsg, first->errmsg);
}

/* ---- the retry gets the first outcome ---------------------------------- */

static void test_put_duplicate(void **state)
{
    struct fx *f = *state;
    struct storage_result r1, r2, r3;
    r1 = put_id(f, B, "k", "first", 7, 1, T0);
    assert_int_equal(r1.code, CAIRN_OK);
    assert_int_equal(r1.revision, 1);
    assert_false(r1.duplicate);
    /* The retry carries other bytes on purpose: it is not looked at. */
    r2 = put_id(f, B, "k", "second", 7, 1, T0 + SEC);
    assert_same_result(&r2, &r1);
    assert_int_equal(fx_info(f, B).last_revision, 1);
    fx_expect_value(f, B, S("k"), 0, T0 + 2 * SEC, S("first"));
    {
        struct hist h;
        assert_int_equal(fx_history(f, B, S("k"), T0 + 2 * SEC, &h), 0);
        assert_int_equal(h.n, 1);
    }
    /* The next seq applies; so does the same seq of another client. */
    r3 = put_id(f, B, "k", "third", 7, 2, T0 + 3 * SEC);
    assert_int_equal(r3.revision, 2);
    assert_false(r3.duplicate);
    r3 = put_id(f, B, "k", "fourth", 8, 1, T0 + 3 * SEC);
    assert_int_equal(r3.revision, 3);
    assert_false(r3.duplicate);
    /* A lower seq inside the window that never ran is applied. */
    r3 = put_id(f, B, "k", "late", 7, 0, T0 + 4 * SEC);
    assert_int_equal(r3.revision, 4);
    assert_false(r3.duplicate);
}

static void test_every_single_key_type(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c[5];
    fx_put(f, B, "d", "x", T0);
    fx_put(f, B, "p", "x", T0);
    fx_put(f, B, "u", "x", T0);
    c[0] = with_id(cmd_create(S("c"), S("v"), T0), 1, 1);
    c[1] = with_id(cmd_update(S("u"), S("v"), 3, T0), 1, 2);
    c[2] = with_id(cmd_cas(S("u"), S("w"), S("v"), true, T0), 1, 3);
    c[3] = with_id(cmd_delete(S("d"), 0, T0), 1, 4);
    c[4] = with_id(cmd_purge(S("p"), 2, T0), 1, 5);
    for (int i = 0; i < 5; i++) {
        struct storage_result r1 = fx_apply(f, B, &c[i], 0);
        uint64_t last = fx_info(f, B).last_revision;
        struct storage_result r2 = fx_apply(f, B, &c[i], 0);
        if (r1.code != CAIRN_OK) {
            print_error("command %d: %s\n", i, r1.errmsg);
        }
        assert_int_equal(r1.code, CAIRN_OK);
        assert_same_result(&r2, &r1);
        assert_int_equal(fx_info(f, B).last_revision, last);
    }
    fx_expect_value(f, B, S("u"), 0, T0, S("w"));
}

static void test_conflict_duplicate(void **state)
{
    struct fx *f = *state;
    struct storage_cmd up;
    struct storage_result r1, r2;
    fx_put(f, B, "k", "v1", T0);
    up = with_id(cmd_update(S("k"), S("mine"), 5, T0), 9, 1);
    r1 = fx_apply(f, B, &up, 0);
    assert_refused(&r1, CAIRN_ECONFLICT);
    assert_int_equal(r1.current_revision, 1);
    /* The key moves on; the retry still sees the first conflict, even
     * though an update at the retried revision would now apply. */
    fx_put(f, B, "k", "v2", T0 + 1);
    fx_put(f, B, "k", "v3", T0 + 2);
    up = with_id(cmd_update(S("k"), S("mine"), 3, T0 + 3), 9, 1);
    r2 = fx_apply(f, B, &up, 0);
    assert_same_result(&r2, &r1);
    assert_int_equal(r2.current_revision, 1);
    fx_expect_value(f, B, S("k"), 0, T0 + 4, S("v3"));
    assert_int_equal(fx_info(f, B).last_revision, 3);
}

static void test_other_refusals_are_kept(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r1, r2;
    fx_bucket(f, "small", 1, 0, 10);
    /* EFULL: a retry after room was made still sees it. */
    c = with_id(cmd_put(S("k"), S("0123456789"), T0), 4, 1);
    r1 = fx_apply(f, "small", &c, 0);
    assert_refused(&r1, CAIRN_EFULL);
    c = with_id(cmd_put(S("k"), S("0"), T0), 4, 1);
    r2 = fx_apply(f, "small", &c, 0);
    assert_same_result(&r2, &r1);
    assert_int_equal(fx_info(f, "small").keys, 0);
    /* ENOTFOUND and EINVAL too. */
    c = with_id(cmd_delete(S("none"), 0, T0), 4, 2);
    r1 = fx_apply(f, B, &c, 0);
    assert_refused(&r1, CAIRN_ENOTFOUND);
    fx_put(f, B, "none", "now", T0);
    r2 = fx_apply(f, B, &c, 0);
    assert_same_result(&r2, &r1);
    c = with_id(cmd_put("", 0, S("v"), T0), 4, 3);
    r1 = fx_apply(f, B, &c, 0);
    assert_refused(&r1, CAIRN_EINVAL);
    r2 = fx_apply(f, B, &c, 0);
    assert_same_result(&r2, &r1);
}

static void test_txn_duplicate(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[3];
    struct cairn_compare cmp;
    struct storage_cmd c;
    struct storage_result r1, r2;
    w[0] = wr_put(S("a"), S("1"));
    w[1] = wr_put(S("b"), S("2"));
    w[2] = wr_put(S("c"), S("3"));
    c = with_id(cmd_txn(NULL, 0, w, 3, T0), 3, 10);
    r1 = fx_apply(f, B, &c, 0);
    assert_int_equal(r1.code, CAIRN_OK);
    assert_int_equal(r1.revision, 1);
    assert_int_equal(r1.last_revision, 3);
    assert_int_equal(r1.count, 3);
    r2 = fx_apply(f, B, &c, 0);
    assert_same_result(&r2, &r1);
    assert_int_equal(fx_info(f, B).last_revision, 3);

    /* A failed compare is kept with its index and current revision. */
    memset(&cmp, 0, sizeof cmp);
    cmp.key = "b";
    cmp.key_len = 1;
    cmp.target = CAIRN_CMP_REVISION;
    cmp.op = CAIRN_CMP_EQ;
    cmp.revision = 1;
    c = with_id(cmd_txn(&cmp, 1, w, 1, T0 + 1), 3, 11);
    r1 = fx_apply(f, B, &c, 0);
    assert_refused(&r1, CAIRN_ECONFLICT);
    assert_int_equal(r1.failed_compare, 0);
    assert_int_equal(r1.current_revision, 2);
    r2 = fx_apply(f, B, &c, 0);
    assert_same_result(&r2, &r1);
}

/* The limited-bucket txn path (a nested LMDB transaction) keeps its result
 * too, applied or refused. */
static void test_txn_limited_bucket(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[2];
    struct storage_cmd c;
    struct storage_result r1, r2;
    fx_bucket(f, "lim", 1, 0, 8);
    w[0] = wr_put(S("a"), S("1"));
    w[1] = wr_put(S("b"), S("2"));
    c = with_id(cmd_txn(NULL, 0, w, 2, T0), 5, 1);
    r1 = fx_apply(f, "lim", &c, 0);
    assert_int_equal(r1.code, CAIRN_OK);
    r2 = fx_apply(f, "lim", &c, 0);
    assert_same_result(&r2, &r1);
    w[0] = wr_put(S("c"), S("12345"));
    c = with_id(cmd_txn(NULL, 0, w, 1, T0), 5, 2);
    r1 = fx_apply(f, "lim", &c, 0);
    assert_refused(&r1, CAIRN_EFULL);
    r2 = fx_apply(f, "lim", &c, 0);
    assert_same_result(&r2, &r1);
    assert_int_equal(fx_info(f, "lim").keys, 2);
}

/* ---- the window -------------------------------------------------------- */

static void test_old_seq_refused(void **state)
{
    struct fx *f = *state;
    struct storage_result r, first, top;
    uint64_t hi = W + 10;
    first = put_id(f, B, "k", "v", 5, 1, T0);
    assert_int_equal(first.code, CAIRN_OK);
    top = put_id(f, B, "k", "v", 5, hi, T0);
    assert_int_equal(top.revision, 2);
    /* Results below hi - W are gone: seq 1 may have run, so it is
     * refused (not applied, not answered as a duplicate). */
    r = put_id(f, B, "k", "v", 5, 1, T0);
    assert_refused(&r, CAIRN_EINVAL);
    assert_false(r.duplicate);
    assert_msg_has(r.errmsg, "older than the retry window");
    assert_msg_has(r.errmsg, "may have been applied");
    r = put_id(f, B, "k", "v", 5, hi - W - 1, T0);
    assert_refused(&r, CAIRN_EINVAL);
    assert_int_equal(fx_info(f, B).last_revision, 2);
    /* hi - W is the oldest seq still inside the window: it never ran, so
     * it applies, and is then a duplicate. */
    r = put_id(f, B, "k", "v", 5, hi - W, T0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 3);
    first = r;
    r = put_id(f, B, "k", "v", 5, hi - W, T0);
    assert_same_result(&r, &first);
    r = put_id(f, B, "k", "v", 5, hi, T0);
    assert_same_result(&r, &top);
    /* Other clients have their own windows. */
    r = put_id(f, B, "k", "v", 6, 1, T0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_false(r.duplicate);
}

/* A client writing seq 1, 2, 3... keeps exactly the last W + 1 results. */
static void test_window_slides(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    uint64_t n = W + 100;
    storage_txn *t;
    assert_int_equal(storage_write_begin(f->s, &t, f->err), 0);
    for (uint64_t seq = 1; seq <= n; seq++) {
        struct storage_cmd c = with_id(cmd_put(S("k"), S("v"), T0), 2, seq);
        assert_int_equal(storage_write_apply(t, B, &c, 0, &r, f->err), 0);
        assert_int_equal(r.code, CAIRN_OK);
        assert_int_equal(r.revision, seq);
    }
    assert_int_equal(storage_write_commit(t, f->err), 0);
    for (uint64_t seq = n - W; seq <= n; seq += 997) {
        r = put_id(f, B, "k", "v", 2, seq, T0);
        assert_true(r.duplicate);
        assert_int_equal(r.revision, seq);
    }
    r = put_id(f, B, "k", "v", 2, n - W - 1, T0);
    assert_refused(&r, CAIRN_EINVAL);
    r = put_id(f, B, "k", "v", 2, 1, T0);
    assert_refused(&r, CAIRN_EINVAL);
    assert_int_equal(fx_info(f, B).last_revision, n);
}

/* ---- sessions ---------------------------------------------------------- */

static void test_session_gc(void **state)
{
    struct fx *f = *state;
    struct storage_result r, a1;
    a1 = put_id(f, B, "a", "v", 100, 1, T0);
    assert_int_equal(a1.revision, 1);
    /* Exactly the TTL later the session is not yet stale. */
    r = put_id(f, B, "b", "v", 200, 1, T0 + TTL);
    assert_int_equal(r.revision, 2);
    r = put_id(f, B, "a", "v", 100, 1, T0 + TTL);
    assert_same_result(&r, &a1);
    /* The retry was a use: the session lives on from there. */
    r = put_id(f, B, "b", "v", 200, 2, T0 + 2 * TTL);
    assert_int_equal(r.revision, 3);
    r = put_id(f, B, "a", "v", 100, 1, T0 + 2 * TTL);
    assert_same_result(&r, &a1);
    /* A write of another client more than the TTL after the last use
     * forgets client 100: its retry is a new write. */
    r = put_id(f, B, "b", "v", 200, 3, T0 + 3 * TTL + 1);
    assert_int_equal(r.revision, 4);
    r = put_id(f, B, "a", "v", 100, 1, T0 + 3 * TTL + 2);
    assert_false(r.duplicate);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 5);
}

/* The time index lags a session's last use by up to a minute; a stale
 * index entry of a session used since then moves instead of dropping it. */
static void test_session_index_lag(void **state)
{
    struct fx *f = *state;
    struct storage_result r, c2;
    put_id(f, B, "c", "v", 300, 1, T0);
    c2 = put_id(f, B, "c", "v", 300, 2, T0 + 30 * SEC); /* not reindexed */
    /* The index says T0 (stale), the session says T0 + 30 s (not). */
    r = put_id(f, B, "x", "v", 400, 1, T0 + TTL + 10 * SEC);
    assert_int_equal(r.code, CAIRN_OK);
    r = put_id(f, B, "c", "v", 300, 2, T0 + TTL + 11 * SEC);
    assert_same_result(&r, &c2);
    /* Once really stale it goes. */
    r = put_id(f, B, "x", "v", 400, 2, T0 + 2 * TTL + 12 * SEC);
    assert_int_equal(r.code, CAIRN_OK);
    r = put_id(f, B, "c", "v", 300, 2, T0 + 2 * TTL + 13 * SEC);
    assert_false(r.duplicate);
}

/* At most a few stale sessions go per write, oldest first. */
static void test_session_gc_is_bounded(void **state)
{
    struct fx *f = *state;
    struct storage_result first[7], r;
    for (uint64_t i = 1; i <= 6; i++) {
        first[i] = put_id(f, B, "k", "v", 1000 + i, 1, T0 + i);
    }
    r = put_id(f, B, "k", "v", 2000, 1, T0 + TTL + SEC);
    assert_int_equal(r.code, CAIRN_OK);
    /* Sessions 5 and 6 (the newest) survive this write. */
    r = put_id(f, B, "k", "v", 1006, 1, T0 + TTL + SEC);
    assert_same_result(&r, &first[6]);
    r = put_id(f, B, "k", "v", 1005, 1, T0 + TTL + SEC);
    assert_same_result(&r, &first[5]);
    /* Session 1 is gone: applied anew. */
    r = put_id(f, B, "k", "v", 1001, 1, T0 + TTL + SEC);
    assert_false(r.duplicate);
    assert_int_equal(r.code, CAIRN_OK);
}

/* A proposer whose clock is behind does not move a session back. */
static void test_session_time_never_goes_back(void **state)
{
    struct fx *f = *state;
    struct storage_result r, a;
    a = put_id(f, B, "k", "v", 1, 1, T0 + TTL);
    put_id(f, B, "k", "v", 1, 2, T0); /* an older clock */
    r = put_id(f, B, "k", "v", 2, 1, T0 + 2 * TTL - SEC);
    assert_int_equal(r.code, CAIRN_OK);
    r = put_id(f, B, "k", "v", 1, 1, T0 + 2 * TTL - SEC);
    assert_same_result(&r, &a);
}

/* ---- interplay with the applied index and batches ---------------------- */

static void test_index_then_dedup(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = with_id(cmd_put(S("k"), S("v"), T0), 1, 1);
    struct storage_result r1, r2;
    r1 = fx_apply(f, B, &c, 5);
    assert_int_equal(r1.revision, 1);
    /* A replayed index is skipped before dedup is looked at. */
    r2 = fx_apply(f, B, &c, 5);
    assert_true(r2.skipped);
    assert_false(r2.duplicate);
    /* The same write at a new index (the client retried it through the
     * log) is a duplicate, and the index counts as applied. */
    r2 = fx_apply(f, B, &c, 6);
    assert_same_result(&r2, &r1);
    assert_int_equal(fx_info(f, B).applied_index, 6);
    /* A refusal as too old also records its index. */
    {
        struct storage_cmd hi = with_id(cmd_put(S("k"), S("v"), T0), 1,
                                        W + 5);
        fx_apply(f, B, &hi, 7);
        r2 = fx_apply(f, B, &c, 8);
        assert_refused(&r2, CAIRN_EINVAL);
        assert_int_equal(fx_info(f, B).applied_index, 8);
    }
}

static void test_same_batch(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = with_id(cmd_put(S("k"), S("v"), T0), 1, 1);
    struct storage_result r1, r2;
    storage_txn *t;
    assert_int_equal(storage_write_begin(f->s, &t, f->err), 0);
    assert_int_equal(storage_write_apply(t, B, &c, 0, &r1, f->err), 0);
    assert_int_equal(storage_write_apply(t, B, &c, 0, &r2, f->err), 0);
    assert_int_equal(storage_write_commit(t, f->err), 0);
    assert_int_equal(r1.revision, 1);
    assert_same_result(&r2, &r1);
    assert_int_equal(fx_info(f, B).last_revision, 1);
}

/* An aborted batch leaves no result behind. */
static void test_aborted_batch(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = with_id(cmd_put(S("k"), S("v"), T0), 1, 1);
    struct storage_result r;
    storage_txn *t;
    assert_int_equal(storage_write_begin(f->s, &t, f->err), 0);
    assert_int_equal(storage_write_apply(t, B, &c, 0, &r, f->err), 0);
    storage_txn_end(t);
    r = fx_apply(f, B, &c, 0);
    assert_false(r.duplicate);
    assert_int_equal(r.revision, 1);
}

static void test_no_cid_as_before(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = cmd_put(S("k"), S("v"), T0);
    struct storage_result r;
    void *s1, *s2;
    size_t l1, l2;
    c.seq = 5; /* a seq without a client id means nothing */
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.revision, 1);
    assert_false(r.duplicate);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.revision, 2);
    assert_false(r.duplicate);
    /* And leaves no dedup state: the same commands give the same snapshot
     * as in a bucket that never saw a client id. */
    fx_bucket(f, "plain", 8, 0, -1);
    c.seq = 0;
    fx_apply(f, "plain", &c, 0);
    fx_apply(f, "plain", &c, 0);
    assert_int_equal(storage_snapshot(f->s, B, &s1, &l1, f->err), 0);
    assert_int_equal(storage_snapshot(f->s, "plain", &s2, &l2, f->err), 0);
    /* Both end with an empty dedup array (then the 8-byte trailer). */
    assert_int_equal(((const uint8_t *)s1)[l1 - 9], 0x90);
    assert_int_equal(((const uint8_t *)s2)[l2 - 9], 0x90);
    free(s1);
    free(s2);
}

static void test_expire_with_cid_refused(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = with_id(cmd_expire(T0), 1, 1);
    struct storage_result r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    assert_msg_has(r.errmsg, "client id");
}

/* ---- persistence ------------------------------------------------------- */

static void test_survives_reopen(void **state)
{
    struct fx *f = *state;
    struct storage_result r1, r2;
    r1 = put_id(f, B, "k", "v", 11, 1, T0);
    fx_reopen(f, NULL);
    r2 = put_id(f, B, "k", "other", 11, 1, T0 + 1);
    assert_same_result(&r2, &r1);
    assert_int_equal(fx_info(f, B).last_revision, 1);
}

static void test_bucket_delete_drops_table(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    put_id(f, B, "k", "v", 11, 1, T0);
    put_id(f, B, "k", "v", 11, W + 50, T0);
    assert_int_equal(storage_bucket_delete(f->s, B, f->err), 0);
    fx_bucket(f, B, 8, 0, -1);
    /* Neither a duplicate nor too old: the new bucket knows no client. */
    r = put_id(f, B, "k", "v", 11, 1, T0);
    assert_false(r.duplicate);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    /* And after a reopen (the deleted databases stay deleted). */
    fx_reopen(f, NULL);
    r = put_id(f, B, "k", "v", 11, W + 50, T0);
    assert_false(r.duplicate);
    assert_int_equal(r.revision, 2);
}

/* Some writes with client ids, refusals among them; returns the results
 * by seq (index 0 unused). */
static void populate(struct fx *f, const char *bucket,
                     struct storage_result r[6])
{
    struct storage_cmd c;
    r[1] = put_id(f, bucket, "a", "1", 21, 1, T0);
    r[2] = put_id(f, bucket, "b", "2", 21, 2, T0 + SEC);
    c = with_id(cmd_update(S("a"), S("x"), 99, T0 + 2 * SEC), 21, 3);
    r[3] = fx_apply(f, bucket, &c, 0);
    r[4] = put_id(f, bucket, "a", "3", 22, 1, T0 + 3 * SEC);
    c = with_id(cmd_delete(S("zz"), 0, T0 + 4 * SEC), 23, 9);
    r[5] = fx_apply(f, bucket, &c, 0);
    assert_int_equal(r[3].code, CAIRN_ECONFLICT);
    assert_int_equal(r[5].code, CAIRN_ENOTFOUND);
}

static void expect_retries(struct fx *f, const char *bucket,
                           const struct storage_result r[6])
{
    static const uint64_t cid[6] = {0, 21, 21, 21, 22, 23};
    static const uint64_t seq[6] = {0, 1, 2, 3, 1, 9};
    for (int i = 1; i <= 5; i++) {
        struct storage_result d = put_id(f, bucket, "q", "q", cid[i], seq[i],
                                         T0 + 5 * SEC);
        assert_same_result(&d, &r[i]);
    }
}

/* A second environment, freed by fx_teardown(). */
static struct fx *fx_new(void)
{
    void *st = NULL;
    assert_int_equal(fx_setup_empty(&st), 0);
    return st;
}

static void test_snapshot_carries_table(void **state)
{
    struct fx *f = *state;
    struct fx *other = fx_new();
    struct storage_result r[6], n1, n2;
    void *snap, *snap2, *snap3;
    size_t len, len2, len3;
    uint64_t last;

    populate(f, B, r);
    last = fx_info(f, B).last_revision;
    assert_int_equal(storage_snapshot(f->s, B, &snap, &len, f->err), 0);

    /* Into another environment. */
    assert_int_equal(storage_restore(other->s, B, snap, len, other->err), 0);
    /* The restored snapshot reproduces itself byte for byte. */
    assert_int_equal(
        storage_snapshot(other->s, B, &snap2, &len2, other->err), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(snap2, snap, len);
    free(snap2);
    expect_retries(other, B, r);
    assert_int_equal(fx_info(other, B).last_revision, last);
    /* The same retries and the next write leave both replicas the same,
     * byte for byte. */
    expect_retries(f, B, r);
    n1 = put_id(f, B, "n", "n", 21, 4, T0 + 6 * SEC);
    n2 = put_id(other, B, "n", "n", 21, 4, T0 + 6 * SEC);
    assert_int_equal(n1.revision, n2.revision);
    assert_int_equal(storage_snapshot(f->s, B, &snap2, &len2, f->err), 0);
    assert_int_equal(
        storage_snapshot(other->s, B, &snap3, &len3, other->err), 0);
    assert_int_equal(len3, len2);
    assert_memory_equal(snap3, snap2, len3);
    free(snap3);
    free(snap2);
    /* And after a reopen of the restored one. */
    fx_reopen(other, NULL);
    expect_retries(other, B, r);
    fx_teardown((void **)&other);

    /* Over an existing bucket: the table is replaced, not merged. */
    put_id(f, B, "k", "v", 77, 1, T0 + 7 * SEC);
    assert_int_equal(storage_restore(f->s, B, snap, len, f->err), 0);
    expect_retries(f, B, r);
    n1 = put_id(f, B, "k", "v", 77, 1, T0 + 8 * SEC);
    assert_false(n1.duplicate);
    free(snap);
}

static void rechecksum(uint8_t *snap, size_t len)
{
    uint64_t h = XXH3_64bits(snap, len - 8);
    for (int i = 0; i < 8; i++) {
        snap[len - 8 + i] = (uint8_t)(h >> (56 - 8 * i));
    }
}

static uint8_t *find(uint8_t *hay, size_t n, const uint8_t *needle,
                     size_t m)
{
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return hay + i;
        }
    }
    return NULL;
}

/* A snapshot whose dedup table is damaged (checksum fixed up) is refused
 * and leaves the bucket as it was. */
static void test_snapshot_bad_table_refused(void **state)
{
    struct fx *f = *state;
    struct storage_result r[6];
    /* The session record of cid 22 as packed: bin8 of 9 bytes. */
    static const uint8_t skey[] = {0xc4, 9,   's', 0, 0, 0, 0,
                                   0,    0,   0,   22, 0xc4, 32};
    uint8_t *snap, *p;
    void *buf, *before, *after;
    size_t len, lb, la;
    populate(f, B, r);
    assert_int_equal(storage_snapshot(f->s, B, &buf, &len, f->err), 0);
    snap = buf;
    p = find(snap, len, skey, sizeof skey);
    assert_non_null(p);
    p += sizeof skey; /* the session record */
    put_id(f, B, "k", "v", 90, 1, T0 + 9 * SEC);
    assert_int_equal(storage_snapshot(f->s, B, &before, &lb, f->err), 0);

    /* An unknown record version. */
    p[0] = 9;
    rechecksum(snap, len);
    assert_int_equal(storage_restore(f->s, B, snap, len, f->err),
                     CAIRN_ECORRUPT);
    p[0] = 1;
    /* A session whose time index entry is elsewhere. */
    p[16] ^= 1;
    rechecksum(snap, len);
    assert_int_equal(storage_restore(f->s, B, snap, len, f->err),
                     CAIRN_ECORRUPT);
    p[16] ^= 1;
    /* A result above its session's highest seq. */
    p[24] = 0;
    rechecksum(snap, len);
    assert_int_equal(storage_restore(f->s, B, snap, len, f->err),
                     CAIRN_ECORRUPT);
    assert_int_equal(storage_snapshot(f->s, B, &after, &la, f->err), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(after, before, la);
    free(after);
    free(before);
    free(buf);
}

/* A version-1 snapshot (before dedup tables) restores, with an empty
 * table. It is the version-2 body with the dedup array cut off. */
static void test_snapshot_v1_restores(void **state)
{
    struct fx *f = *state;
    struct fx *g = fx_new();
    struct storage_result r;
    uint8_t *snap;
    void *buf;
    size_t len;
    fx_put(f, B, "k", "v", T0);
    assert_int_equal(storage_snapshot(f->s, B, &buf, &len, f->err), 0);
    snap = buf;
    /* Header version, body [state, records, []] -> [state, records], state
     * "v": 2 -> 1; the empty dedup array (0x90) is the last body byte. */
    assert_int_equal(snap[11], 2);
    assert_int_equal(snap[12], 0x93);
    assert_int_equal(snap[13], 0x88);
    assert_memory_equal(snap + 14, "\xa1v\x02", 3);
    assert_int_equal(snap[len - 9], 0x90);
    snap[11] = 1;
    snap[12] = 0x92;
    snap[16] = 1;
    memmove(snap + len - 9, snap + len - 8, 8);
    len--;
    rechecksum(snap, len);
    assert_int_equal(storage_restore(g->s, B, snap, len, g->err), 0);
    fx_expect_value(g, B, S("k"), 0, T0, S("v"));
    r = put_id(g, B, "k", "w", 1, 1, T0);
    assert_int_equal(r.revision, 2);
    /* A version-1 header on a version-2 body is refused. */
    {
        void *b2;
        size_t l2;
        uint8_t *s2;
        assert_int_equal(storage_snapshot(f->s, B, &b2, &l2, f->err), 0);
        s2 = b2;
        s2[11] = 1;
        rechecksum(s2, l2);
        assert_int_not_equal(storage_restore(g->s, B, s2, l2, g->err), 0);
        free(b2);
    }
    free(buf);
    fx_teardown((void **)&g);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(test_put_duplicate),
        TEST(test_every_single_key_type),
        TEST(test_conflict_duplicate),
        TEST(test_other_refusals_are_kept),
        TEST(test_txn_duplicate),
        TEST(test_txn_limited_bucket),
        TEST(test_old_seq_refused),
        TEST(test_window_slides),
        TEST(test_session_gc),
        TEST(test_session_index_lag),
        TEST(test_session_gc_is_bounded),
        TEST(test_session_time_never_goes_back),
        TEST(test_index_then_dedup),
        TEST(test_same_batch),
        TEST(test_aborted_batch),
        TEST(test_no_cid_as_before),
        TEST(test_expire_with_cid_refused),
        TEST(test_survives_reopen),
        TEST(test_bucket_delete_drops_table),
        TEST(test_snapshot_carries_table),
        TEST(test_snapshot_bad_table_refused),
        TEST(test_snapshot_v1_restores),
    };
    RUN_TESTS("storage_dedup", tests, argc, argv);
}
