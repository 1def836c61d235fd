/* Transactions: compares (value / revision / exists), failed_compare,
 * all-or-nothing, limits (64 compares, 10,000 writes), revision ranges,
 * writes that do nothing. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

static struct cairn_compare cmp_value(const char *k, uint32_t op,
                                        const char *v)
{
    struct cairn_compare c;
    memset(&c, 0, sizeof c);
    c.key = k;
    c.key_len = strlen(k);
    c.target = CAIRN_CMP_VALUE;
    c.op = op;
    c.value = v;
    c.value_len = strlen(v);
    return c;
}

static struct cairn_compare cmp_rev(const char *k, uint32_t op, uint64_t rev)
{
    struct cairn_compare c;
    memset(&c, 0, sizeof c);
    c.key = k;
    c.key_len = strlen(k);
    c.target = CAIRN_CMP_REVISION;
    c.op = op;
    c.revision = rev;
    return c;
}

static struct cairn_compare cmp_exists(const char *k, bool exists)
{
    struct cairn_compare c;
    memset(&c, 0, sizeof c);
    c.key = k;
    c.key_len = strlen(k);
    c.target = CAIRN_CMP_EXISTS;
    c.op = CAIRN_CMP_EQ;
    c.exists = exists;
    return c;
}

/* Apply a txn of one compare and one put of "out"; return the result. */
static struct storage_result one_cmp(struct fx *f,
                                     const struct cairn_compare *cmp,
                                     uint64_t time)
{
    struct cairn_write w = wr_put(S("out"), S("x"));
    struct storage_cmd c = cmd_txn(cmp, 1, &w, 1, time);
    return fx_apply(f, B, &c, 0);
}

static void expect_cmp(struct fx *f, struct cairn_compare cmp, bool holds,
                       uint64_t cur_rev)
{
    uint64_t before = fx_info(f, B).last_revision;
    struct storage_result r = one_cmp(f, &cmp, T0 + 10);
    if (holds) {
        if (r.code != CAIRN_OK) {
            print_error("compare target %u op %u on '%.*s' should hold: %d "
                        "%s\n",
                        cmp.target, cmp.op, (int)cmp.key_len,
                        (const char *)cmp.key, r.code, r.errmsg);
        }
        assert_int_equal(r.code, CAIRN_OK);
        assert_int_equal(r.revision, before + 1);
        assert_int_equal(r.last_revision, before + 1);
    } else {
        if (r.code != CAIRN_ECONFLICT) {
            print_error("compare target %u op %u on '%.*s' should fail: %d\n",
                        cmp.target, cmp.op, (int)cmp.key_len,
                        (const char *)cmp.key, r.code);
        }
        assert_refused(&r, CAIRN_ECONFLICT);
        assert_int_equal(r.failed_compare, 0);
        assert_int_equal(r.current_revision, cur_rev);
        assert_int_equal(fx_info(f, B).last_revision, before);
    }
}

static void test_txn_bulk(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[3];
    struct storage_cmd c;
    struct storage_result r;
    struct got g;
    fx_put(f, B, "x", "0", T0); /* 1 */
    w[0] = wr_put(S("a"), S("1"));
    w[1] = wr_put(S("b"), S("2"));
    w[2] = wr_put(S("x"), S("3"));
    w[2].meta = "m";
    w[2].meta_len = 1;
    c = cmd_txn(NULL, 0, w, 3, T0 + 5);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    assert_int_equal(r.last_revision, 4);
    assert_int_equal(r.count, 3);
    assert_false(r.skipped);
    assert_int_equal(fx_expect_value(f, B, S("a"), 0, T0, S("1")), 2);
    assert_int_equal(fx_expect_value(f, B, S("b"), 0, T0, S("2")), 3);
    assert_int_equal(fx_get(f, B, S("x"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.revision, 4);
    assert_int_equal(g.create_revision, 1);
    assert_int_equal(g.updated, T0 + 5);
    assert_int_equal(g.meta_len, 1);
    got_free(&g);
    assert_int_equal(fx_get(f, B, S("a"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.create_revision, 2);
    got_free(&g);
    assert_int_equal(fx_info(f, B).last_revision, 4);
    assert_int_equal(fx_info(f, B).keys, 3);
}

static void test_txn_compare_value(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    fx_put(f, B, "k", "hello", T0); /* 1 */
    expect_cmp(f, cmp_value("k", CAIRN_CMP_EQ, "hello"), true, 0);
    expect_cmp(f, cmp_value("k", CAIRN_CMP_EQ, "hell"), false, 1);
    expect_cmp(f, cmp_value("k", CAIRN_CMP_EQ, "hello!"), false, 1);
    expect_cmp(f, cmp_value("k", CAIRN_CMP_EQ, ""), false, 1);
    expect_cmp(f, cmp_value("k", CAIRN_CMP_NE, "hello"), false, 1);
    expect_cmp(f, cmp_value("k", CAIRN_CMP_NE, "other"), true, 0);
    /* Absent key: matches no value, so EQ fails and NE holds. */
    expect_cmp(f, cmp_value("absent", CAIRN_CMP_EQ, ""), false, 0);
    expect_cmp(f, cmp_value("absent", CAIRN_CMP_NE, "x"), true, 0);
    /* Deleted key: same; current_revision is the marker's. */
    c = cmd_delete(S("k"), 0, T0);
    {
        uint64_t del = fx_apply(f, B, &c, 0).revision;
        assert_int_equal(del, 5); /* 2, 3, 4 went to "out" */
        expect_cmp(f, cmp_value("k", CAIRN_CMP_EQ, "hello"), false, del);
        expect_cmp(f, cmp_value("k", CAIRN_CMP_NE, "hello"), true, 0);
    }
    /* Empty value. */
    fx_put(f, B, "e", "", T0);
    expect_cmp(f, cmp_value("e", CAIRN_CMP_EQ, ""), true, 0);
}

static void test_txn_compare_revision(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    fx_put(f, B, "o", "x", T0);  /* 1 */
    fx_put(f, B, "k", "v", T0);  /* 2 */
    /* k at 2. */
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_EQ, 2), true, 0);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_EQ, 1), false, 2);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_EQ, 3), false, 2);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_NE, 2), false, 2);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_NE, 1), true, 0);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_LT, 3), true, 0);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_LT, 2), false, 2);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_LT, 1), false, 2);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_GT, 1), true, 0);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_GT, 2), false, 2);
    expect_cmp(f, cmp_rev("k", CAIRN_CMP_GT, 3), false, 2);
    /* Absent: revision 0. */
    expect_cmp(f, cmp_rev("absent", CAIRN_CMP_EQ, 0), true, 0);
    expect_cmp(f, cmp_rev("absent", CAIRN_CMP_LT, 1), true, 0);
    expect_cmp(f, cmp_rev("absent", CAIRN_CMP_GT, 0), false, 0);
    expect_cmp(f, cmp_rev("absent", CAIRN_CMP_NE, 0), false, 0);
    /* Deleted: the marker's revision (latest stored of any op). */
    c = cmd_delete(S("k"), 0, T0);
    {
        uint64_t del = fx_apply(f, B, &c, 0).revision;
        expect_cmp(f, cmp_rev("k", CAIRN_CMP_EQ, del), true, 0);
        expect_cmp(f, cmp_rev("k", CAIRN_CMP_EQ, 2), false, del);
    }
}

static void test_txn_compare_exists(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    fx_put(f, B, "k", "v", T0); /* 1 */
    expect_cmp(f, cmp_exists("k", true), true, 0);
    expect_cmp(f, cmp_exists("k", false), false, 1);
    expect_cmp(f, cmp_exists("absent", false), true, 0);
    expect_cmp(f, cmp_exists("absent", true), false, 0);
    c = cmd_purge(S("k"), 0, T0);
    {
        uint64_t p = fx_apply(f, B, &c, 0).revision;
        expect_cmp(f, cmp_exists("k", true), false, p);
        expect_cmp(f, cmp_exists("k", false), true, 0);
    }
}

static void test_txn_failed_compare_index(void **state)
{
    struct fx *f = *state;
    struct cairn_compare cmp[3];
    struct cairn_write w[2];
    struct storage_cmd c;
    struct storage_result r;
    fx_put(f, B, "a", "1", T0); /* 1 */
    fx_put(f, B, "b", "2", T0); /* 2 */
    fx_put(f, B, "c", "3", T0); /* 3 */
    cmp[0] = cmp_value("a", CAIRN_CMP_EQ, "1");
    cmp[1] = cmp_rev("b", CAIRN_CMP_EQ, 2);
    cmp[2] = cmp_exists("c", false);
    w[0] = wr_put(S("a"), S("new"));
    w[1] = wr_del(S("b"));
    c = cmd_txn(cmp, 3, w, 2, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.failed_compare, 2);
    assert_int_equal(r.current_revision, 3);
    /* The first failing compare is reported. */
    cmp[0] = cmp_value("a", CAIRN_CMP_EQ, "wrong");
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.failed_compare, 0);
    assert_int_equal(r.current_revision, 1);
    cmp[0] = cmp_value("a", CAIRN_CMP_EQ, "1");
    cmp[1] = cmp_rev("b", CAIRN_CMP_GT, 2);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.failed_compare, 1);
    assert_int_equal(r.current_revision, 2);
    /* Nothing was written. */
    assert_int_equal(fx_info(f, B).last_revision, 3);
    fx_expect_value(f, B, S("a"), 0, T0, S("1"));
    fx_expect_value(f, B, S("b"), 0, T0, S("2"));
    /* All hold: both writes. */
    cmp[1] = cmp_rev("b", CAIRN_CMP_EQ, 2);
    cmp[2] = cmp_exists("c", true);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 4);
    assert_int_equal(r.last_revision, 5);
    fx_expect_value(f, B, S("a"), 0, T0, S("new"));
    assert_int_equal(fx_get(f, B, S("b"), 0, T0, NULL), CAIRN_ENOTFOUND);
}

static void test_txn_compares_see_state_before_writes(void **state)
{
    struct fx *f = *state;
    struct cairn_compare cmp[2];
    struct cairn_write w[3];
    struct storage_cmd c;
    struct storage_result r;
    struct hist h;
    fx_bucket(f, "h", 4, 0, -1);
    cmp[0] = cmp_exists("a", false);
    cmp[1] = cmp_rev("a", CAIRN_CMP_EQ, 0);
    w[0] = wr_put(S("a"), S("1"));
    w[1] = wr_put(S("a"), S("2"));
    w[2] = wr_del(S("a"));
    c = cmd_txn(cmp, 2, w, 3, T0);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    assert_int_equal(r.last_revision, 3);
    assert_int_equal(fx_history(f, "h", S("a"), T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.e[0].revision, 3);
    assert_int_equal(h.e[0].op, CAIRN_OP_DEL);
    assert_int_equal(h.e[1].revision, 2);
    assert_int_equal(h.e[1].create_revision, 1);
    assert_memory_equal(h.e[1].value, "2", 1);
    assert_int_equal(h.e[2].revision, 1);
    assert_int_equal(h.e[2].create_revision, 1);
    /* Same txn again: a is deleted (not live), its revision is 3 now. */
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.failed_compare, 1);
    assert_int_equal(r.current_revision, 3);
}

static void test_txn_all_or_nothing(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    struct cairn_write w[3];
    struct storage_cmd c;
    struct storage_result r;
    uint8_t big[101];
    uint8_t longkey[CAIRN_KEY_MAX + 1];
    memset(big, 'b', sizeof big);
    memset(longkey, 'k', sizeof longkey);
    cairn_bucket_config_init(&cfg, "s");
    cfg.max_value_size = 100;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), CAIRN_OK);
    fx_put(f, "s", "pre", "p", T0); /* 1 */

    w[0] = wr_put(S("a"), S("1"));
    w[1] = wr_del(S("pre"));
    w[2] = wr_put(S("c"), big, 101);
    c = cmd_txn(NULL, 0, w, 3, T0);
    r = fx_apply(f, "s", &c, 9);
    assert_refused(&r, CAIRN_ETOOLARGE);
    assert_int_equal(fx_get(f, "s", S("a"), 0, T0, NULL), CAIRN_ENOTFOUND);
    fx_expect_value(f, "s", S("pre"), 0, T0, S("p"));
    assert_int_equal(fx_info(f, "s").last_revision, 1);
    assert_int_equal(fx_info(f, "s").applied_index, 9);

    /* Key too long / empty in the third write. */
    w[2] = wr_put(longkey, sizeof longkey, S("v"));
    r = fx_apply(f, "s", &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    w[2] = wr_put(longkey, 0, S("v"));
    r = fx_apply(f, "s", &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    /* Metadata too large. */
    w[2] = wr_put(S("c"), S("v"));
    {
        static uint8_t meta[CAIRN_KEY_META_MAX + 1];
        w[2].meta = meta;
        w[2].meta_len = sizeof meta;
        r = fx_apply(f, "s", &c, 0);
        assert_refused(&r, CAIRN_ETOOLARGE);
    }
    /* ttl with expires_at. */
    w[2] = wr_put(S("c"), S("v"));
    w[2].ttl_ns = 10;
    w[2].expires_at = T0 + 100;
    r = fx_apply(f, "s", &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    /* Unknown write op. */
    w[2] = wr_put(S("c"), S("v"));
    w[2].op = 9;
    r = fx_apply(f, "s", &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    assert_int_equal(fx_info(f, "s").last_revision, 1);
    assert_int_equal(fx_get(f, "s", S("a"), 0, T0, NULL), CAIRN_ENOTFOUND);
    fx_expect_value(f, "s", S("pre"), 0, T0, S("p"));
    /* Fixed: all three apply. */
    w[2] = wr_put(S("c"), big, 100);
    r = fx_apply(f, "s", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    assert_int_equal(r.last_revision, 4);
}

static void test_txn_max_bytes(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[2];
    struct storage_cmd c;
    struct storage_result r;
    uint8_t v[60];
    memset(v, 'v', sizeof v);
    fx_bucket(f, "q", 1, 0, 100);
    w[0] = wr_put(S("a"), v, 49); /* 50 */
    w[1] = wr_put(S("b"), v, 50); /* 51: 101 in all */
    c = cmd_txn(NULL, 0, w, 2, T0);
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);
    assert_int_equal(fx_info(f, "q").bytes, 0);
    assert_int_equal(fx_get(f, "q", S("a"), 0, T0, NULL), CAIRN_ENOTFOUND);
    w[1] = wr_put(S("b"), v, 49); /* exactly 100 */
    r = fx_apply(f, "q", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.last_revision, 2);
    assert_int_equal(fx_info(f, "q").bytes, 100);
}

/* max_bytes applies to the state the whole txn leaves. */
static void test_txn_max_bytes_final_state(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[2];
    struct storage_cmd c;
    struct storage_result r;
    uint8_t v[100];
    memset(v, 'v', sizeof v);
    fx_bucket(f, "q", 1, 0, 100);
    assert_int_equal(fx_put_bytes(f, "q", S("a"), v, 97, T0), 1); /* 98 */
    /* b first (196 in between), then a deleted: 98 + 1 in the end. */
    w[0] = wr_put(S("b"), v, 97);
    w[1] = wr_del(S("a"));
    c = cmd_txn(NULL, 0, w, 2, T0);
    r = fx_apply(f, "q", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    assert_int_equal(r.last_revision, 3);
    assert_int_equal(fx_info(f, "q").bytes, 99);
}

static void test_txn_write_limit(void **state)
{
    struct fx *f = *state;
    size_t n = CAIRN_TXN_OPS_MAX + 1;
    struct cairn_write *w = calloc(n, sizeof *w);
    char (*keys)[16] = calloc(n, sizeof *keys);
    struct storage_cmd c;
    struct storage_result r;
    uint64_t cnt;
    assert_non_null(w);
    assert_non_null(keys);
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], sizeof keys[i], "key-%05zu", i);
        w[i] = wr_put(keys[i], strlen(keys[i]), keys[i], strlen(keys[i]));
    }
    c = cmd_txn(NULL, 0, w, (uint32_t)n, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    if (strstr(r.errmsg, "10000") == NULL &&
        strstr(r.errmsg, "10,000") == NULL) {
        fail_msg("message '%s' does not name the limit 10000", r.errmsg);
    }
    assert_int_equal(fx_info(f, B).last_revision, 0);

    c.n_writes = CAIRN_TXN_OPS_MAX;
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    assert_int_equal(r.last_revision, CAIRN_TXN_OPS_MAX);
    assert_int_equal(r.count, CAIRN_TXN_OPS_MAX);
    fx_expect_value(f, B, S("key-00000"), 0, T0, S("key-00000"));
    assert_int_equal(
        fx_expect_value(f, B, S("key-09999"), 0, T0, S("key-09999")),
        CAIRN_TXN_OPS_MAX);
    assert_int_equal(
        fx_expect_value(f, B, S("key-04321"), 0, T0, S("key-04321")), 4322);
    assert_int_equal(fx_get(f, B, S("key-10000"), 0, T0, NULL),
                     CAIRN_ENOTFOUND);
    {
        struct storage_scan sc;
        memset(&sc, 0, sizeof sc);
        sc.now = T0;
        assert_int_equal(fx_count(f, B, &sc, &cnt), CAIRN_OK);
        assert_int_equal(cnt, CAIRN_TXN_OPS_MAX);
    }
    assert_int_equal(fx_info(f, B).keys, CAIRN_TXN_OPS_MAX);
    free(w);
    free(keys);
}

static void test_txn_compare_limit(void **state)
{
    struct fx *f = *state;
    struct cairn_compare cmp[CAIRN_TXN_COMPARES_MAX + 1];
    struct cairn_write w = wr_put(S("k"), S("v"));
    struct storage_cmd c;
    struct storage_result r;
    for (int i = 0; i <= CAIRN_TXN_COMPARES_MAX; i++) {
        cmp[i] = cmp_exists("k", false);
    }
    c = cmd_txn(cmp, CAIRN_TXN_COMPARES_MAX + 1, &w, 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    assert_msg_has(r.errmsg, "64");
    c.n_compares = CAIRN_TXN_COMPARES_MAX;
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    /* The last of 64 compares can fail and is reported. */
    cmp[CAIRN_TXN_COMPARES_MAX - 1] = cmp_exists("k", false);
    for (int i = 0; i < CAIRN_TXN_COMPARES_MAX - 1; i++) {
        cmp[i] = cmp_exists("other", false);
    }
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.failed_compare, CAIRN_TXN_COMPARES_MAX - 1);
    assert_int_equal(r.current_revision, 1);
}

static void test_txn_noop_writes_take_no_revision(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[4];
    struct storage_cmd c;
    struct storage_result r;
    fx_put(f, B, "gone", "x", T0); /* 1 */
    c = cmd_delete(S("gone"), 0, T0);
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 2);

    w[0] = wr_put(S("a"), S("1"));
    w[1] = wr_del(S("absent"));
    w[2] = wr_del(S("gone"));     /* not live */
    w[3] = wr_put(S("b"), S("2"));
    c = cmd_txn(NULL, 0, w, 4, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 3);
    assert_int_equal(r.last_revision, 4);
    assert_int_equal(fx_expect_value(f, B, S("a"), 0, T0, S("1")), 3);
    assert_int_equal(fx_expect_value(f, B, S("b"), 0, T0, S("2")), 4);
    assert_int_equal(fx_info(f, B).last_revision, 4);
    {
        struct hist h;
        assert_int_equal(fx_history(f, B, S("absent"), T0, &h),
                         CAIRN_ENOTFOUND);
        assert_int_equal(fx_history(f, B, S("gone"), T0, &h), CAIRN_OK);
        assert_int_equal(h.n, 1);
        assert_int_equal(h.e[0].revision, 2);
    }
    /* A txn whose only writes do nothing: OK, no revision. */
    w[0] = wr_del(S("absent"));
    w[1] = wr_purge(S("never"));
    c = cmd_txn(NULL, 0, w, 2, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 0);
    assert_int_equal(r.last_revision, 0);
    assert_int_equal(fx_info(f, B).last_revision, 4);
    /* PURGE of a deleted key does take one (it has stored revisions). */
    w[0] = wr_purge(S("gone"));
    c = cmd_txn(NULL, 0, w, 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 5);
    assert_int_equal(r.last_revision, 5);
}

static void test_txn_delete_and_purge(void **state)
{
    struct fx *f = *state;
    struct cairn_write w[3];
    struct storage_cmd c;
    struct storage_result r;
    struct hist h;
    fx_bucket(f, "h", 3, 0, -1);
    fx_put(f, "h", "a", "1", T0); /* 1 */
    fx_put(f, "h", "b", "2", T0); /* 2 */
    fx_put(f, "h", "b", "3", T0); /* 3 */
    w[0] = wr_del(S("a"));
    w[1] = wr_purge(S("b"));
    w[2] = wr_put(S("c"), S("4"));
    c = cmd_txn(NULL, 0, w, 3, T0 + 9);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 4);
    assert_int_equal(r.last_revision, 6);
    assert_int_equal(fx_history(f, "h", S("a"), T0 + 9, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.e[0].revision, 4);
    assert_int_equal(h.e[0].op, CAIRN_OP_DEL);
    assert_int_equal(h.e[0].updated, T0 + 9);
    assert_int_equal(fx_history(f, "h", S("b"), T0 + 9, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 5);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    assert_int_equal(fx_expect_value(f, "h", S("c"), 0, T0, S("4")), 6);
    assert_int_equal(fx_info(f, "h").keys, 1);
}

static void test_txn_long_keys(void **state)
{
    struct fx *f = *state;
    uint8_t k[4][CAIRN_KEY_MAX];
    struct cairn_write w[4];
    struct cairn_compare cmp[2];
    struct storage_cmd c;
    struct storage_result r;
    for (int i = 0; i < 4; i++) {
        memset(k[i], 'p', CAIRN_KEY_MAX);
        k[i][511] = (uint8_t)(0x10 * i);
    }
    /* k[0] as a 511-byte key plus three 512-byte members of its group. */
    w[0] = wr_put(k[0], 511, S("p511"));
    w[1] = wr_put(k[1], 512, S("m1"));
    w[2] = wr_put(k[2], 512, S("m2"));
    w[3] = wr_put(k[3], 512, S("m3"));
    c = cmd_txn(NULL, 0, w, 4, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.last_revision, 4);
    memset(cmp, 0, sizeof cmp);
    cmp[0].key = k[2];
    cmp[0].key_len = 512;
    cmp[0].target = CAIRN_CMP_REVISION;
    cmp[0].op = CAIRN_CMP_EQ;
    cmp[0].revision = 3;
    cmp[1].key = k[0];
    cmp[1].key_len = 511;
    cmp[1].target = CAIRN_CMP_VALUE;
    cmp[1].op = CAIRN_CMP_EQ;
    cmp[1].value = "p511";
    cmp[1].value_len = 4;
    w[0] = wr_del(k[0], 511);
    w[1] = wr_put(k[2], 512, S("m2b"));
    c = cmd_txn(cmp, 2, w, 2, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 5);
    assert_int_equal(r.last_revision, 6);
    assert_int_equal(fx_get(f, B, k[0], 511, 0, T0, NULL), CAIRN_ENOTFOUND);
    fx_expect_value(f, B, k[1], 512, 0, T0, S("m1"));
    fx_expect_value(f, B, k[2], 512, 0, T0, S("m2b"));
    fx_expect_value(f, B, k[3], 512, 0, T0, S("m3"));
    /* Compare on the (now stale) member revision fails at index 0. */
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.failed_compare, 0);
    assert_int_equal(r.current_revision, 6);
}

static void test_txn_index(void **state)
{
    struct fx *f = *state;
    struct cairn_compare cmp = cmp_exists("k", true);
    struct cairn_write w = wr_put(S("k"), S("v"));
    struct storage_cmd c = cmd_txn(&cmp, 1, &w, 1, T0);
    struct storage_result r;
    r = fx_apply(f, B, &c, 3);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(fx_info(f, B).applied_index, 3);
    c.n_compares = 0;
    r = fx_apply(f, B, &c, 3);
    assert_true(r.skipped);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0, NULL), CAIRN_ENOTFOUND);
    r = fx_apply(f, B, &c, 4);
    assert_false(r.skipped);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
}

static void test_txn_bad_compare(void **state)
{
    struct fx *f = *state;
    struct cairn_compare cmp;
    struct cairn_write w = wr_put(S("k"), S("v"));
    struct storage_cmd c;
    struct storage_result r;
    uint8_t longkey[CAIRN_KEY_MAX + 1];
    memset(longkey, 'l', sizeof longkey);
    /* LT/GT are for revisions only. */
    cmp = cmp_value("k", CAIRN_CMP_LT, "v");
    c = cmd_txn(&cmp, 1, &w, 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    cmp = cmp_value("k", CAIRN_CMP_EQ, "v");
    cmp.target = 9;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    cmp = cmp_rev("k", 9, 1);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    cmp = cmp_exists("k", false);
    cmp.key_len = 0;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    cmp.key = longkey;
    cmp.key_len = sizeof longkey;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    assert_int_equal(fx_info(f, B).last_revision, 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(test_txn_bulk),
        TEST(test_txn_compare_value),
        TEST(test_txn_compare_revision),
        TEST(test_txn_compare_exists),
        TEST(test_txn_failed_compare_index),
        TEST(test_txn_compares_see_state_before_writes),
        TEST(test_txn_all_or_nothing),
        TEST(test_txn_max_bytes),
        TEST(test_txn_max_bytes_final_state),
        TEST(test_txn_write_limit),
        TEST(test_txn_compare_limit),
        TEST(test_txn_noop_writes_take_no_revision),
        TEST(test_txn_delete_and_purge),
        TEST(test_txn_long_keys),
        TEST(test_txn_index),
        TEST(test_txn_bad_compare),
    };
    RUN_TESTS("storage_txn", tests, argc, argv);
}
