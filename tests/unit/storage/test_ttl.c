/* TTL and expiry: per-key ttl and expires_at, bucket ttl, reads before and
 * after expiry, commands on expired keys, expire(T): PURGE markers for
 * expired values, aged markers removed, compacted_revision, count;
 * storage_next_expiry(); older revisions hidden once the latest expired. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

#define HOUR_NS (3600ULL * 1000000000ULL)

static struct storage_result put_ttl(struct fx *f, const char *bucket,
                                     const char *k, const char *v,
                                     uint64_t time, int64_t ttl,
                                     uint64_t expires_at)
{
    struct storage_cmd c = cmd_put(S(k), S(v), time);
    c.w.ttl_ns = ttl;
    c.w.expires_at = expires_at;
    return fx_apply(f, bucket, &c, 0);
}

static struct storage_result expire(struct fx *f, const char *bucket,
                                    uint64_t time)
{
    struct storage_cmd c = cmd_expire(time);
    struct storage_result r = fx_apply(f, bucket, &c, 0);
    if (r.code != CAIRN_OK) {
        print_error("expire: %d %s\n", r.code, r.errmsg);
    }
    assert_int_equal(r.code, CAIRN_OK);
    assert_false(r.skipped);
    return r;
}

static void test_ttl_relative(void **state)
{
    struct fx *f = *state;
    struct storage_result r = put_ttl(f, B, "k", "v", T0, 100, 0);
    struct got g;
    struct hist h;
    struct storage_scan sc;
    struct scanres sr = {0};
    uint64_t n;
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 99, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 100);
    got_free(&g);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 100, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, B, S("k"), 1, T0 + 99, NULL), CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("k"), 1, T0 + 100, NULL),
                     CAIRN_ENOTFOUND);
    /* History leaves expired revisions out. */
    assert_int_equal(fx_history(f, B, S("k"), T0 + 99, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].expires_at, T0 + 100);
    assert_int_equal(fx_history(f, B, S("k"), T0 + 100, &h), CAIRN_ENOTFOUND);
    /* Scans and counts skip it. */
    memset(&sc, 0, sizeof sc);
    sc.now = T0 + 99;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 1);
    sc.now = T0 + 100;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(fx_scan(f, B, &sc, &sr), CAIRN_OK);
    assert_int_equal(sr.n, 0);
    scanres_free(&sr);
    /* Bucket info still counts it until expire() runs. */
    assert_int_equal(fx_info(f, B).keys, 1);
    /* Reads do not depend on wall time: far in the past it is live. */
    assert_int_equal(fx_get(f, B, S("k"), 0, 0, NULL), CAIRN_OK);
}

static void test_expires_at_absolute(void **state)
{
    struct fx *f = *state;
    struct storage_result r = put_ttl(f, B, "k", "v", T0, 0, T0 + 500);
    struct got g;
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 499, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 500);
    got_free(&g);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 500, NULL),
                     CAIRN_ENOTFOUND);
    /* One ns after the command's time is the earliest allowed. */
    r = put_ttl(f, B, "k2", "v", T0, 0, T0 + 1);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("k2"), 0, T0, NULL), CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("k2"), 0, T0 + 1, NULL), CAIRN_ENOTFOUND);
    /* ttl of 1 ns. */
    r = put_ttl(f, B, "k3", "v", T0, 1, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("k3"), 0, T0, NULL), CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("k3"), 0, T0 + 1, NULL), CAIRN_ENOTFOUND);
}

static void test_ttl_invalid(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    struct storage_cmd c;
    struct cairn_write w;
    r = put_ttl(f, B, "k", "v", T0, 10, T0 + 100);
    assert_refused(&r, CAIRN_EINVAL);
    r = put_ttl(f, B, "k", "v", T0, -1, 0);
    assert_refused(&r, CAIRN_EINVAL);
    r = put_ttl(f, B, "k", "v", T0, INT64_MIN, 0);
    assert_refused(&r, CAIRN_EINVAL);
    r = put_ttl(f, B, "k", "v", T0, 0, T0);
    assert_refused(&r, CAIRN_EINVAL);
    r = put_ttl(f, B, "k", "v", T0, 0, T0 - 1);
    assert_refused(&r, CAIRN_EINVAL);
    r = put_ttl(f, B, "k", "v", T0, 0, 1);
    assert_refused(&r, CAIRN_EINVAL);
    /* The same checks on create, update and cas. */
    c = cmd_create(S("k"), S("v"), T0);
    c.w.expires_at = T0;
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_EINVAL);
    c = cmd_cas(S("k"), S("v"), NULL, 0, false, T0);
    c.w.ttl_ns = -3;
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_EINVAL);
    fx_put(f, B, "u", "v", T0); /* 1 */
    c = cmd_update(S("u"), S("v"), 1, T0);
    c.w.ttl_ns = 5;
    c.w.expires_at = T0 + 5;
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_EINVAL);
    /* In a txn. */
    w = wr_put(S("k"), S("v"));
    w.expires_at = T0;
    c = cmd_txn(NULL, 0, &w, 1, T0);
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_EINVAL);
    assert_int_equal(fx_info(f, B).last_revision, 1);
}

static void test_bucket_ttl(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    struct got g;
    fx_bucket(f, "t", 1, 1000, -1);
    fx_put(f, "t", "plain", "v", T0);
    assert_int_equal(fx_get(f, "t", S("plain"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 1000);
    got_free(&g);
    assert_int_equal(fx_get(f, "t", S("plain"), 0, T0 + 999, NULL), CAIRN_OK);
    assert_int_equal(fx_get(f, "t", S("plain"), 0, T0 + 1000, NULL),
                     CAIRN_ENOTFOUND);
    /* A key's own ttl or expires_at wins over the bucket's, longer or
     * shorter. */
    r = put_ttl(f, "t", "short", "v", T0, 10, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(fx_get(f, "t", S("short"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 10);
    got_free(&g);
    r = put_ttl(f, "t", "long", "v", T0, 0, T0 + 5000);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(fx_get(f, "t", S("long"), 0, T0 + 4999, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 5000);
    got_free(&g);
    /* A rewrite restarts the bucket ttl from its own time. */
    fx_put(f, "t", "plain", "v2", T0 + 900);
    assert_int_equal(fx_get(f, "t", S("plain"), 0, T0 + 1500, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 1900);
    got_free(&g);
}

static void test_commands_on_expired_key(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    struct got g;
    fx_bucket(f, "h", 4, 0, -1);
    r = put_ttl(f, "h", "k", "old", T0, 100, 0); /* 1, expires T0+100 */
    assert_int_equal(r.revision, 1);
    /* Before expiry, create conflicts. */
    c = cmd_create(S("k"), S("v"), T0 + 99);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    /* At expiry (command time), the key is not live. */
    c = cmd_delete(S("k"), 0, T0 + 100);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ENOTFOUND);
    c = cmd_cas(S("k"), S("v"), S("old"), true, T0 + 100);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    c = cmd_cas(S("k"), S("cas"), NULL, 0, false, T0 + 100);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    assert_int_equal(fx_get(f, "h", S("k"), 0, T0 + 100, &g), CAIRN_OK);
    assert_int_equal(g.create_revision, 2);
    assert_int_equal(g.expires_at, 0);
    got_free(&g);

    /* create after expiry. */
    r = put_ttl(f, "h", "c", "old", T0, 100, 0); /* 3 */
    c = cmd_create(S("c"), S("new"), T0 + 100);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 4);
    assert_int_equal(fx_get(f, "h", S("c"), 0, T0 + 200, &g), CAIRN_OK);
    assert_int_equal(g.create_revision, 4);
    got_free(&g);

    /* update needs the latest stored revision, expired or not. */
    r = put_ttl(f, "h", "u", "old", T0, 100, 0); /* 5 */
    c = cmd_update(S("u"), S("new"), 5, T0 + 200);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 6);

    /* purge: an expired value is still stored. */
    r = put_ttl(f, "h", "p", "old", T0, 100, 0); /* 7 */
    c = cmd_purge(S("p"), 0, T0 + 200);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 8);
}

static void test_expire_values(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    struct storage_bucket_info info;
    struct hist h;
    assert_int_equal(put_ttl(f, B, "a", "xyz", T0, 100, 0).revision, 1);
    assert_int_equal(put_ttl(f, B, "b", "v", T0, 200, 0).revision, 2);
    assert_int_equal(fx_put(f, B, "c", "v", T0), 3);
    info = fx_info(f, B);
    assert_int_equal(info.keys, 3);
    assert_int_equal(info.bytes, 4 + 2 + 2);

    /* Nothing aged yet. */
    r = expire(f, B, T0 + 99);
    assert_int_equal(r.count, 0);
    assert_int_equal(fx_info(f, B).last_revision, 3);

    /* a expires: a PURGE marker at a new revision. */
    r = expire(f, B, T0 + 150);
    assert_int_equal(r.count, 1);
    info = fx_info(f, B);
    assert_int_equal(info.last_revision, 4);
    assert_int_equal(info.keys, 2);
    assert_int_equal(info.bytes, 1 + 2 + 2);
    assert_int_equal(fx_history(f, B, S("a"), T0 + 150, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 4);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    assert_int_equal(h.e[0].updated, T0 + 150);
    assert_int_equal(fx_get(f, B, S("a"), 1, 0, NULL), CAIRN_ENOTFOUND);
    fx_expect_value(f, B, S("b"), 0, T0 + 150, S("v"));
    /* Again at the same time: nothing more. */
    r = expire(f, B, T0 + 150);
    assert_int_equal(r.count, 0);
    assert_int_equal(fx_info(f, B).last_revision, 4);

    r = expire(f, B, T0 + 200);
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, B).last_revision, 5);
    assert_int_equal(fx_info(f, B).keys, 1);
    assert_int_equal(fx_history(f, B, S("b"), T0 + 200, &h), CAIRN_OK);
    assert_int_equal(h.e[0].revision, 5);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    fx_expect_value(f, B, S("c"), 0, T0 + 10 * HOUR_NS, S("v"));

    /* The marker expiry left (no bucket ttl) ages out after one hour. */
    r = expire(f, B, T0 + 150 + HOUR_NS - 1);
    assert_int_equal(r.count, 0);
    assert_int_equal(fx_info(f, B).compacted_revision, 0);
    assert_int_equal(fx_history(f, B, S("a"), T0 + 150, &h), CAIRN_OK);
    r = expire(f, B, T0 + 150 + HOUR_NS);
    assert_int_equal(r.count, 1);
    info = fx_info(f, B);
    assert_int_equal(info.compacted_revision, 4);
    assert_int_equal(info.last_revision, 5);
    assert_int_equal(info.bytes, 1 + 2);
    assert_int_equal(fx_history(f, B, S("a"), T0 + 150, &h), CAIRN_ENOTFOUND);
    assert_int_equal(fx_history(f, B, S("b"), T0 + 200, &h), CAIRN_OK);
    r = expire(f, B, T0 + 200 + HOUR_NS);
    assert_int_equal(r.count, 1);
    info = fx_info(f, B);
    assert_int_equal(info.compacted_revision, 5);
    assert_int_equal(info.last_revision, 5);
    assert_int_equal(info.bytes, 2);
    assert_int_equal(info.keys, 1);
    /* Revisions continue after the counter's highest. */
    assert_int_equal(fx_put(f, B, "a", "again", T0 + 300 + HOUR_NS), 6);
}

static void test_expire_drops_history(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    struct hist h;
    fx_bucket(f, "h", 4, 0, -1);
    fx_put(f, "h", "k", "v1", T0);                      /* 1 */
    assert_int_equal(put_ttl(f, "h", "k", "v2", T0 + 1, 100, 0).revision, 2);
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 50, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    r = expire(f, "h", T0 + 101);
    assert_true(r.count >= 1);
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 101, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 3);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    /* The older value can never come back. */
    assert_int_equal(fx_get(f, "h", S("k"), 1, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, "h", S("k"), 0, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_info(f, "h").keys, 0);
    assert_int_equal(fx_info(f, "h").bytes, 1);
}

static void test_expire_older_revision(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    struct hist h;
    fx_bucket(f, "h", 4, 0, -1);
    assert_int_equal(put_ttl(f, "h", "k", "v1", T0, 100, 0).revision, 1);
    fx_put(f, "h", "k", "v2", T0 + 10); /* 2 */
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 50, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    fx_expect_value(f, "h", S("k"), 1, T0 + 50, S("v1"));
    /* History at a later now already leaves the expired one out. */
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 100, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 2);
    r = expire(f, "h", T0 + 100);
    assert_int_equal(r.count, 1);
    /* An older revision is just dropped: no marker, no new revision. */
    assert_int_equal(fx_info(f, "h").last_revision, 2);
    assert_int_equal(fx_info(f, "h").bytes, 3);
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 50, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 2);
    assert_int_equal(fx_get(f, "h", S("k"), 1, T0 + 50, NULL),
                     CAIRN_ENOTFOUND);
    fx_expect_value(f, "h", S("k"), 0, T0 + 50, S("v2"));
}

static void test_expire_markers_with_bucket_ttl(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    struct hist h;
    fx_bucket(f, "t", 1, 1000, -1);
    fx_put(f, "t", "k", "v", T0);     /* 1, expires T0+1000 */
    c = cmd_delete(S("k"), 0, T0 + 500);
    assert_int_equal(fx_apply(f, "t", &c, 0).revision, 2);
    /* The DEL marker ages at T0+500+1000. */
    r = expire(f, "t", T0 + 1499);
    assert_int_equal(r.count, 0);
    assert_int_equal(fx_history(f, "t", S("k"), T0 + 1000, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].op, CAIRN_OP_DEL);
    r = expire(f, "t", T0 + 1500);
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, "t").compacted_revision, 2);
    assert_int_equal(fx_info(f, "t").last_revision, 2);
    assert_int_equal(fx_info(f, "t").bytes, 0);
    assert_int_equal(fx_history(f, "t", S("k"), T0 + 1000, &h),
                     CAIRN_ENOTFOUND);

    /* The marker an expiry leaves in a bucket with a ttl ages at its time
     * plus the bucket ttl. */
    fx_put(f, "t", "e", "v", T0 + 2000);       /* 3, expires T0+3000 */
    r = expire(f, "t", T0 + 3000);             /* marker 4 at T0+3000 */
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, "t").last_revision, 4);
    r = expire(f, "t", T0 + 3999);
    assert_int_equal(r.count, 0);
    r = expire(f, "t", T0 + 4000);
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, "t").compacted_revision, 4);
}

static void test_expire_keeps_del_markers_without_ttl(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    struct hist h;
    fx_put(f, B, "k", "v", T0); /* 1 */
    c = cmd_delete(S("k"), 0, T0 + 1);
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 2);
    c = cmd_purge(S("p"), 0, T0);
    fx_put(f, B, "p", "v", T0); /* 3 */
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 4);
    r = expire(f, B, T0 + 1000 * HOUR_NS);
    assert_int_equal(r.count, 0);
    assert_int_equal(fx_history(f, B, S("k"), T0 + 1000 * HOUR_NS, &h),
                     CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 2);
    assert_int_equal(fx_history(f, B, S("p"), T0 + 1000 * HOUR_NS, &h),
                     CAIRN_OK);
    assert_int_equal(h.e[0].revision, 4);
    assert_int_equal(fx_info(f, B).compacted_revision, 0);
    assert_int_equal(fx_info(f, B).last_revision, 4);
}

static void test_expire_empty_and_index(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = cmd_expire(T0);
    struct storage_result r;
    r = fx_apply(f, B, &c, 5);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.revision, 0);
    assert_int_equal(fx_info(f, B).applied_index, 5);
    assert_int_equal(put_ttl(f, B, "k", "v", T0, 10, 0).revision, 1);
    c = cmd_expire(T0 + 10);
    r = fx_apply(f, B, &c, 5);
    assert_true(r.skipped);
    assert_int_equal(fx_info(f, B).last_revision, 1);
    assert_int_equal(fx_info(f, B).keys, 1);
    r = fx_apply(f, B, &c, 6);
    assert_false(r.skipped);
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, B).last_revision, 2);
    assert_int_equal(fx_info(f, B).keys, 0);
    assert_int_equal(fx_info(f, B).applied_index, 6);
}

static void test_expire_many_keys(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    struct storage_scan sc;
    uint64_t n;
    char k[16];
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "k%03d", i);
        /* even keys expire at T0+100, odd ones never */
        if (i % 2 == 0) {
            assert_int_equal(put_ttl(f, B, k, "v", T0, 100, 0).code,
                             CAIRN_OK);
        } else {
            fx_put(f, B, k, "v", T0);
        }
    }
    r = expire(f, B, T0 + 100);
    assert_int_equal(r.count, 100);
    assert_int_equal(fx_info(f, B).keys, 100);
    assert_int_equal(fx_info(f, B).last_revision, 300);
    memset(&sc, 0, sizeof sc);
    sc.now = T0; /* before the values' expiry, still only odd keys live */
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 100);
    r = expire(f, B, T0 + 100 + HOUR_NS);
    assert_int_equal(r.count, 100);
    assert_int_equal(fx_info(f, B).compacted_revision, 300);
}

static void test_txn_ttl(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[2];
    struct cairn_compare cmp;
    struct storage_cmd c;
    struct storage_result r;
    struct got g;
    w[0] = wr_put(S("a"), S("1"));
    w[0].ttl_ns = 100;
    w[1] = wr_put(S("b"), S("2"));
    w[1].expires_at = T0 + 50;
    c = cmd_txn(NULL, 0, w, 2, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("a"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 100);
    got_free(&g);
    assert_int_equal(fx_get(f, B, S("b"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.expires_at, T0 + 50);
    got_free(&g);
    /* Compares read at the command's time: b is expired at T0+50. */
    memset(&cmp, 0, sizeof cmp);
    cmp.key = "b";
    cmp.key_len = 1;
    cmp.target = CAIRN_CMP_EXISTS;
    cmp.op = CAIRN_CMP_EQ;
    cmp.exists = true;
    w[0] = wr_put(S("c"), S("3"));
    c = cmd_txn(&cmp, 1, w, 1, T0 + 49);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    c.time = T0 + 50;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 2);
    cmp.target = CAIRN_CMP_VALUE;
    cmp.value = "2";
    cmp.value_len = 1;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    cmp.target = CAIRN_CMP_REVISION;
    cmp.revision = 2;
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    /* A DEL of an expired key in a txn does nothing. */
    w[0] = wr_del(S("b"));
    c = cmd_txn(NULL, 0, w, 1, T0 + 50);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 0);
}

static void test_keys_counter_over_expired(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    struct storage_bucket_info info;
    assert_int_equal(put_ttl(f, B, "k", "old", T0, 100, 0).revision, 1);
    assert_int_equal(put_ttl(f, B, "j", "old", T0, 100, 0).revision, 2);
    assert_int_equal(fx_info(f, B).keys, 2);
    /* Writing over an expired value replaces it: still one key each. */
    c = cmd_create(S("k"), S("new"), T0 + 100);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    c = cmd_cas(S("j"), S("new"), NULL, 0, false, T0 + 100);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    info = fx_info(f, B);
    assert_int_equal(info.keys, 2);
    assert_int_equal(info.bytes, 4 + 4);
    /* Purging an expired value removes the key from the count. */
    assert_int_equal(put_ttl(f, B, "p", "x", T0, 10, 0).code, CAIRN_OK);
    assert_int_equal(fx_info(f, B).keys, 3);
    c = cmd_purge(S("p"), 0, T0 + 20);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    info = fx_info(f, B);
    assert_int_equal(info.keys, 2);
    assert_int_equal(info.bytes, 4 + 4 + 1);
    /* expire() finds nothing left to do for them. */
    r = expire(f, B, T0 + 1000);
    assert_int_equal(r.count, 0);
    assert_int_equal(fx_info(f, B).keys, 2);
}

/* Expiry of keys stored in group records (511 and 512 bytes). */
static void test_expire_group_keys(void **state)
{
    struct fx *f = *state;
    uint8_t p[CAIRN_KEY_MAX], m1[CAIRN_KEY_MAX], m2[CAIRN_KEY_MAX];
    struct storage_cmd c;
    struct storage_result r;
    struct storage_scan sc;
    struct scanres sr = {0};
    struct hist h;
    memset(p, 'q', sizeof p);
    memcpy(m1, p, 511);
    m1[511] = 0x01;
    memcpy(m2, p, 511);
    m2[511] = 0x02;
    fx_bucket(f, "g", 3, 0, -1);
    c = cmd_put(m1, 512, S("a"), T0);
    c.w.ttl_ns = 100;
    assert_int_equal(fx_apply(f, "g", &c, 0).revision, 1);
    assert_int_equal(fx_put_bytes(f, "g", p, 511, S("b"), T0), 2);
    c = cmd_put(m2, 512, S("c"), T0);
    c.w.ttl_ns = 200;
    assert_int_equal(fx_apply(f, "g", &c, 0).revision, 3);
    assert_int_equal(fx_put_bytes(f, "g", m2, 512, S("c2"), T0 + 10), 4);

    r = expire(f, "g", T0 + 150);
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, "g").last_revision, 5);
    assert_int_equal(fx_history(f, "g", m1, 512, T0 + 150, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 5);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    assert_int_equal(h.e[0].key_len, 512);
    assert_memory_equal(h.e[0].key, m1, 512);
    fx_expect_value(f, "g", p, 511, 0, T0 + 150, S("b"));
    fx_expect_value(f, "g", m2, 512, 0, T0 + 150, S("c2"));

    /* An older revision of a member ages out of its history. */
    assert_int_equal(fx_history(f, "g", m2, 512, T0 + 150, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    r = expire(f, "g", T0 + 200);
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, "g").last_revision, 5);
    assert_int_equal(fx_history(f, "g", m2, 512, T0 + 150, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 4);
    assert_int_equal(fx_get(f, "g", m2, 512, 3, T0 + 150, NULL),
                     CAIRN_ENOTFOUND);

    /* The marker ages out: the member goes, the group stays. */
    r = expire(f, "g", T0 + 150 + HOUR_NS);
    assert_int_equal(r.count, 1);
    assert_int_equal(fx_info(f, "g").compacted_revision, 5);
    assert_int_equal(fx_history(f, "g", m1, 512, T0 + 150, &h),
                     CAIRN_ENOTFOUND);
    fx_expect_value(f, "g", p, 511, 0, T0 + 150, S("b"));
    fx_expect_value(f, "g", m2, 512, 0, T0 + 150, S("c2"));
    memset(&sc, 0, sizeof sc);
    sc.now = T0 + 150 + HOUR_NS;
    assert_int_equal(fx_scan(f, "g", &sc, &sr), CAIRN_OK);
    assert_int_equal(sr.n, 2);
    assert_int_equal(sr.e[0].key_len, 511);
    assert_int_equal(sr.e[1].key_len, 512);
    assert_memory_equal(sr.e[1].key, m2, 512);
    scanres_free(&sr);
    assert_int_equal(fx_info(f, "g").keys, 2);
    assert_int_equal(fx_info(f, "g").bytes, 511 + 1 + 512 + 2);
}

/* storage_next_expiry() in a fresh read transaction; returns the code. */
static int next_expiry(struct fx *f, const char *bucket, uint64_t *at)
{
    storage_txn *t;
    int rc = storage_read_begin(f->s, &t, f->err);
    assert_int_equal(rc, CAIRN_OK);
    rc = storage_next_expiry(t, bucket, at, f->err);
    storage_txn_end(t);
    return rc;
}

/* The earliest entry of the expiry index: per-key ttl and expires_at, the
 * bucket ttl, older revisions and markers; 0 when nothing expires. An
 * expire at that time always has something to remove, and moves it on. */
static void test_next_expiry(void **state)
{
    struct fx *f = *state;
    struct storage_result r;
    struct storage_cmd c;
    uint64_t at = 1;
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, 0);
    fx_put(f, B, "never", "v", T0);
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, 0);
    assert_int_equal(put_ttl(f, B, "a", "v", T0, 300, 0).code, CAIRN_OK);
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, T0 + 300);
    assert_int_equal(put_ttl(f, B, "b", "v", T0, 0, T0 + 100).code,
                     CAIRN_OK);
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, T0 + 100);
    /* Nothing due before it: an expire just before removes nothing. */
    assert_int_equal(expire(f, B, T0 + 99).count, 0);
    r = expire(f, B, at);
    assert_int_equal(r.count, 1);
    /* b's value left a PURGE marker that ages out after an hour. */
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, T0 + 300);
    assert_int_equal(expire(f, B, at).count, 1);
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, T0 + 100 + HOUR_NS);
    assert_int_equal(expire(f, B, T0 + 300 + HOUR_NS).count, 2);
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, 0);
    /* An older revision with a ttl, under a newer value without one; with
     * history 1 it is dropped at once, and its index entry with it. */
    assert_int_equal(put_ttl(f, B, "never", "w", T0, 50, 0).code, CAIRN_OK);
    fx_put(f, B, "never", "x", T0 + 1);
    assert_int_equal(next_expiry(f, B, &at), CAIRN_OK);
    assert_int_equal(at, 0);
    fx_bucket(f, "o", 2, 0, -1);
    assert_int_equal(put_ttl(f, "o", "k", "w", T0, 50, 0).code, CAIRN_OK);
    fx_put(f, "o", "k", "x", T0 + 1);
    assert_int_equal(next_expiry(f, "o", &at), CAIRN_OK);
    assert_int_equal(at, T0 + 50);
    assert_int_equal(expire(f, "o", at).count, 1);
    assert_int_equal(next_expiry(f, "o", &at), CAIRN_OK);
    assert_int_equal(at, 0);
    /* The bucket ttl is in the index too: values and markers. */
    fx_bucket(f, "t", 2, 1000, -1);
    fx_put(f, "t", "k", "v", T0);
    assert_int_equal(next_expiry(f, "t", &at), CAIRN_OK);
    assert_int_equal(at, T0 + 1000);
    c = cmd_delete(S("k"), 0, T0 + 10);
    assert_int_equal(fx_apply(f, "t", &c, 0).code, CAIRN_OK);
    assert_int_equal(next_expiry(f, "t", &at), CAIRN_OK);
    assert_int_equal(at, T0 + 1000);
    assert_int_equal(expire(f, "t", at).count, 1);
    assert_int_equal(next_expiry(f, "t", &at), CAIRN_OK);
    assert_int_equal(at, T0 + 1010);
    /* Errors. */
    assert_int_equal(next_expiry(f, "nosuch", &at), CAIRN_ENOBUCKET);
    assert_non_null(strstr(f->err, "nosuch"));
}

/* Between a value's expiry and the expire() that removes it, no older
 * revision of the key is readable: not by history, not by revision. */
static void test_expired_value_hides_history(void **state)
{
    struct fx *f = *state;
    struct hist h;
    fx_bucket(f, "h", 4, 0, -1);
    fx_put(f, "h", "k", "v1", T0);                      /* 1 */
    assert_int_equal(put_ttl(f, "h", "k", "v2", T0 + 1, 100, 0).revision, 2);
    /* Before the expiry: both, and v1 by revision. */
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 100, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    fx_expect_value(f, "h", S("k"), 1, T0 + 100, S("v1"));
    /* After it, before expire(): nothing, and v1 does not come back. */
    assert_int_equal(fx_get(f, "h", S("k"), 0, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, "h", S("k"), 1, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    assert_non_null(strstr(f->err, "expired"));
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 101, &h),
                     CAIRN_ENOTFOUND);
    /* After expire(): the PURGE marker alone. */
    assert_int_equal(expire(f, "h", T0 + 101).count, 1);
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 101, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    assert_int_equal(fx_get(f, "h", S("k"), 1, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    /* A newer value without a ttl keeps the history readable. */
    fx_put(f, "h", "j", "w1", T0);                      /* 4 */
    assert_int_equal(put_ttl(f, "h", "j", "w2", T0, 10, 0).revision, 5);
    fx_put(f, "h", "j", "w3", T0 + 5);                  /* 6 */
    fx_expect_value(f, "h", S("j"), 4, T0 + 20, S("w1"));
    assert_int_equal(fx_history(f, "h", S("j"), T0 + 20, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(test_ttl_relative),
        TEST(test_expires_at_absolute),
        TEST(test_ttl_invalid),
        TEST(test_bucket_ttl),
        TEST(test_commands_on_expired_key),
        TEST(test_expire_values),
        TEST(test_expire_drops_history),
        TEST(test_expire_older_revision),
        TEST(test_expire_markers_with_bucket_ttl),
        TEST(test_expire_keeps_del_markers_without_ttl),
        TEST(test_expire_empty_and_index),
        TEST(test_expire_many_keys),
        TEST(test_txn_ttl),
        TEST(test_keys_counter_over_expired),
        TEST(test_expire_group_keys),
        TEST(test_next_expiry),
        TEST(test_expired_value_hides_history),
    };
    RUN_TESTS("storage_ttl", tests, argc, argv);
}
