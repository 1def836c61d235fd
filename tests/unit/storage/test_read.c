/* Reads: get at a revision, scan and count (range, prefix, pages and
 * cursors, keys_only, callbacks), history callbacks. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

static void test_get_at_revision(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct got g;
    fx_bucket(f, "h", 3, 0, -1);
    fx_put(f, "h", "a", "v1", T0 + 1); /* 1 */
    fx_put(f, "h", "b", "x", T0 + 2);  /* 2 */
    fx_put(f, "h", "a", "v2", T0 + 3); /* 3 */
    c = cmd_delete(S("a"), 0, T0 + 4); /* 4 */
    assert_int_equal(fx_apply(f, "h", &c, 0).revision, 4);

    assert_int_equal(fx_get(f, "h", S("a"), 1, T0 + 5, &g), CAIRN_OK);
    assert_int_equal(g.revision, 1);
    assert_int_equal(g.create_revision, 1);
    assert_int_equal(g.updated, T0 + 1);
    assert_int_equal(g.op, CAIRN_OP_PUT);
    assert_int_equal(g.value_len, 2);
    assert_memory_equal(g.value, "v1", 2);
    assert_int_equal(g.key_len, 1);
    assert_memory_equal(g.key, "a", 1);
    got_free(&g);
    fx_expect_value(f, "h", S("a"), 3, T0 + 5, S("v2"));
    /* Another key's revision. */
    assert_int_equal(fx_get(f, "h", S("a"), 2, T0 + 5, NULL),
                     CAIRN_ENOTFOUND);
    /* A marker. */
    assert_int_equal(fx_get(f, "h", S("a"), 4, T0 + 5, NULL),
                     CAIRN_ENOTFOUND);
    /* Latest: deleted. */
    assert_int_equal(fx_get(f, "h", S("a"), 0, T0 + 5, NULL),
                     CAIRN_ENOTFOUND);
    /* Never given. */
    assert_int_equal(fx_get(f, "h", S("a"), 5, T0 + 5, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, "h", S("a"), UINT64_MAX, T0 + 5, NULL),
                     CAIRN_ENOTFOUND);
    fx_expect_value(f, "h", S("b"), 2, T0 + 5, S("x"));
    assert_int_equal(fx_get(f, "h", S("b"), 1, T0 + 5, NULL),
                     CAIRN_ENOTFOUND);
    /* Three more revisions of a: 1 and 3 are no longer kept. */
    fx_put(f, "h", "a", "v5", T0 + 6); /* 5: keeps 5 4 3 */
    fx_expect_value(f, "h", S("a"), 3, T0 + 7, S("v2"));
    fx_put(f, "h", "a", "v6", T0 + 6); /* 6: keeps 6 5 4 */
    assert_int_equal(fx_get(f, "h", S("a"), 3, T0 + 7, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, "h", S("a"), 1, T0 + 7, NULL),
                     CAIRN_ENOTFOUND);
    fx_expect_value(f, "h", S("a"), 5, T0 + 7, S("v5"));
    assert_int_equal(fx_get(f, "h", S("a"), 5, T0 + 7, &g), CAIRN_OK);
    assert_int_equal(g.create_revision, 5);
    got_free(&g);
    assert_int_equal(fx_get(f, "h", S("a"), 6, T0 + 7, &g), CAIRN_OK);
    assert_int_equal(g.create_revision, 5);
    got_free(&g);
    /* A key absent altogether. */
    assert_int_equal(fx_get(f, "h", S("zz"), 2, T0 + 7, NULL),
                     CAIRN_ENOTFOUND);
}

static int stop_cb(void *arg, const struct storage_entry *e)
{
    int *calls = arg;
    (void)e;
    (*calls)++;
    return *calls == 2 ? 42 : 0;
}

static void test_history_callback_stop(void **state)
{
    struct fx *f = *state;
    storage_txn *t;
    int calls = 0;
    fx_bucket(f, "h", 5, 0, -1);
    for (int i = 0; i < 4; i++) {
        fx_put(f, "h", "k", "v", T0);
    }
    assert_int_equal(storage_read_begin(f->s, &t, f->err), CAIRN_OK);
    assert_int_equal(
        storage_history(t, "h", S("k"), T0, stop_cb, &calls, f->err), 42);
    assert_int_equal(calls, 2);
    storage_txn_end(t);
}

/* ---- scans ------------------------------------------------------------- */

static void put_keys(struct fx *f, const char *bucket, const char *const *keys,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char v[64];
        snprintf(v, sizeof v, "val-%s", keys[i]);
        fx_put(f, bucket, keys[i], v, T0);
    }
}

static struct storage_scan scan_args(uint64_t now)
{
    struct storage_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.now = now;
    return sc;
}

/* Assert the scan delivered exactly @want (strings), in order. */
static void assert_keys(const struct scanres *r, const char *const *want,
                        size_t n)
{
    if (r->n != n) {
        print_error("scan delivered %zu keys, want %zu\n", r->n, n);
        for (size_t i = 0; i < r->n; i++) {
            print_error("  [%zu] %.*s\n", i, (int)r->e[i].key_len,
                        (const char *)r->e[i].key);
        }
    }
    assert_int_equal(r->n, n);
    assert_int_equal(r->page.count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r->e[i].key_len, strlen(want[i]));
        assert_memory_equal(r->e[i].key, want[i], strlen(want[i]));
    }
}

static void test_scan_all(void **state)
{
    struct fx *f = *state;
    /* Inserted out of order; byte order puts upper case and digits first. */
    const char *keys[] = {"m", "b", "a", "Z", "aa", "a0", "0", "\x7f", "ab"};
    const char *want[] = {"0", "Z", "a", "a0", "aa", "ab", "b", "m", "\x7f"};
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    put_keys(f, B, keys, 9);
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_keys(&r, want, 9);
    assert_false(r.page.more);
    for (size_t i = 0; i < r.n; i++) {
        char v[64];
        snprintf(v, sizeof v, "val-%s", want[i]);
        assert_int_equal(r.e[i].value_len, strlen(v));
        assert_memory_equal(r.e[i].value, v, strlen(v));
        assert_int_equal(r.e[i].op, CAIRN_OP_PUT);
    }
    /* Revisions are those of the writes. */
    assert_int_equal(r.e[0].revision, 7); /* "0" */
    assert_int_equal(r.e[2].revision, 3); /* "a" */
    assert_int_equal(r.e[7].revision, 1); /* "m" */
    assert_int_equal(r.e[7].create_revision, 1);
    assert_int_equal(r.e[7].updated, T0);
    scanres_free(&r);
}

static void test_scan_empty(void **state)
{
    struct fx *f = *state;
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    uint64_t n = 99;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.page.count, 0);
    assert_false(r.page.more);
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 0);
    scanres_free(&r);
}

static void test_scan_range(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"a", "b", "bb", "c", "d", "e"};
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    put_keys(f, B, keys, 6);

    sc.start = "b";
    sc.start_len = 1;
    sc.end = "d";
    sc.end_len = 1;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"b", "bb", "c"};
        assert_keys(&r, want, 3);
        assert_false(r.page.more);
    }
    /* start between keys, end NULL. */
    sc.start = "bc";
    sc.start_len = 2;
    sc.end = NULL;
    sc.end_len = 0;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"c", "d", "e"};
        assert_keys(&r, want, 3);
    }
    /* end only, exclusive, between keys. */
    sc.start = NULL;
    sc.start_len = 0;
    sc.end = "ba";
    sc.end_len = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"a", "b"};
        assert_keys(&r, want, 2);
    }
    /* A range with nothing in it. */
    sc.start = "bc";
    sc.start_len = 2;
    sc.end = "bd";
    sc.end_len = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 0);
    assert_false(r.page.more);
    /* A limited page inside a range: more refers to the range only. */
    sc.start = "b";
    sc.start_len = 1;
    sc.end = "c";
    sc.end_len = 1;
    sc.limit = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"b", "bb"};
        assert_keys(&r, want, 2);
        assert_false(r.page.more);
    }
    /* start after end or equal to it: never a key outside [start, end)
     * (docs do not say whether start > end is EINVAL or empty). */
    sc.start = "d";
    sc.start_len = 1;
    sc.end = "b";
    sc.end_len = 1;
    sc.limit = 0;
    {
        int rc = fx_scan(f, B, &sc, &r);
        assert_true(rc == CAIRN_OK || rc == CAIRN_EINVAL);
        assert_int_equal(r.n, 0);
    }
    sc.end = "d";
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 0);
    assert_false(r.page.more);
    scanres_free(&r);
}

/* Bounds longer than any key: a bad range / prefix. */
static void test_scan_bounds_too_long(void **state)
{
    struct fx *f = *state;
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    uint8_t big[CAIRN_KEY_MAX + 1];
    uint64_t n;
    memset(big, 'a', sizeof big);
    fx_put(f, B, "a", "v", T0);
    sc.start = big;
    sc.start_len = sizeof big;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_EINVAL);
    assert_true(f->err[0] != '\0');
    sc = scan_args(T0);
    sc.end = big;
    sc.end_len = sizeof big;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_EINVAL);
    sc = scan_args(T0);
    sc.prefix = big;
    sc.prefix_len = sizeof big;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_EINVAL);
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_EINVAL);
    /* 512 bytes is fine. */
    sc.prefix_len = CAIRN_KEY_MAX;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 0);
    sc = scan_args(T0);
    sc.end = big;
    sc.end_len = CAIRN_KEY_MAX;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 1);
    scanres_free(&r);
}

static void test_scan_prefix(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"ap", "app/1", "app/2", "apple", "apq", "b", "a"};
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    uint64_t n;
    put_keys(f, B, keys, 7);
    sc.prefix = "app";
    sc.prefix_len = 3;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"app/1", "app/2", "apple"};
        assert_keys(&r, want, 3);
        assert_false(r.page.more);
    }
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 3);
    /* Prefix and start together. */
    sc.start = "app/2";
    sc.start_len = 5;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"app/2", "apple"};
        assert_keys(&r, want, 2);
    }
    /* Prefix and end together. */
    sc.start = NULL;
    sc.start_len = 0;
    sc.end = "apple";
    sc.end_len = 5;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"app/1", "app/2"};
        assert_keys(&r, want, 2);
    }
    /* The prefix is itself a key. */
    sc.end = NULL;
    sc.end_len = 0;
    sc.prefix = "ap";
    sc.prefix_len = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"ap", "app/1", "app/2", "apple", "apq"};
        assert_keys(&r, want, 5);
    }
    /* A page of a prefix scan: more is false when no key of the prefix
     * follows, even though "b" does. */
    sc.prefix = "app";
    sc.prefix_len = 3;
    sc.limit = 3;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 3);
    assert_false(r.page.more);
    sc.limit = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 2);
    assert_true(r.page.more);
    /* No match. */
    sc.limit = 0;
    sc.prefix = "zz";
    sc.prefix_len = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 0);
    assert_false(r.page.more);
    /* A prefix of 0xff bytes (no "next" prefix exists). */
    fx_put_bytes(f, B, "\xff\xff", 2, S("x"), T0);
    fx_put_bytes(f, B, "\xff\xff\x01", 3, S("y"), T0);
    sc.prefix = "\xff\xff";
    sc.prefix_len = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.e[1].key_len, 3);
    scanres_free(&r);
}

/* Walk the whole bucket in pages of @limit; check no key is lost or
 * repeated, each cursor is "1 + last key", and more is exact. */
static void walk_pages(struct fx *f, const char *bucket, char keys[][8],
                       size_t n, uint32_t limit)
{
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    uint8_t cursor[STORAGE_CURSOR_MAX];
    size_t seen = 0;
    int pages = 0;
    sc.limit = limit;
    for (;;) {
        assert_int_equal(fx_scan(f, bucket, &sc, &r), CAIRN_OK);
        pages++;
        assert_true(pages <= (int)n + 2);
        for (size_t i = 0; i < r.n; i++) {
            assert_true(seen < n);
            assert_int_equal(r.e[i].key_len, strlen(keys[seen]));
            assert_memory_equal(r.e[i].key, keys[seen], strlen(keys[seen]));
            seen++;
        }
        assert_true(r.n <= limit);
        assert_int_equal(r.page.count, r.n);
        assert_int_equal(r.page.more, seen < n);
        if (!r.page.more) {
            break;
        }
        assert_int_equal(r.n, limit);
        assert_int_equal(r.page.cursor_len, 1 + strlen(keys[seen - 1]));
        assert_int_equal(r.page.cursor[0], 1);
        assert_memory_equal(r.page.cursor + 1, keys[seen - 1],
                            strlen(keys[seen - 1]));
        memcpy(cursor, r.page.cursor, r.page.cursor_len);
        sc.cursor = cursor;
        sc.cursor_len = r.page.cursor_len;
    }
    assert_int_equal(seen, n);
    assert_int_equal(pages, (int)((n + limit - 1) / limit));
    scanres_free(&r);
}

static void test_scan_pages(void **state)
{
    struct fx *f = *state;
    char keys[25][8];
    for (int i = 0; i < 25; i++) {
        snprintf(keys[i], sizeof keys[i], "k%02d", i);
    }
    for (int i = 24; i >= 0; i--) {
        fx_put(f, B, keys[i], "v", T0);
    }
    walk_pages(f, B, keys, 25, 7);  /* 7 7 7 4 */
    walk_pages(f, B, keys, 25, 5);  /* exact multiple: the last page says
                                       no more */
    walk_pages(f, B, keys, 25, 1);
    walk_pages(f, B, keys, 25, 25); /* one page */
    walk_pages(f, B, keys, 25, 24);
    walk_pages(f, B, keys, 25, 100);
}

static void test_scan_cursor_resumes_after_deleted_key(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"a", "b", "c", "d", "e"};
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    uint8_t cursor[STORAGE_CURSOR_MAX];
    size_t cl;
    struct storage_cmd c;
    put_keys(f, B, keys, 5);
    sc.limit = 3;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_true(r.page.more);
    memcpy(cursor, r.page.cursor, r.page.cursor_len);
    cl = r.page.cursor_len;
    /* Between pages: the last key goes, keys appear before and after. */
    c = cmd_delete(S("c"), 0, T0);
    assert_int_equal(fx_apply(f, B, &c, 0).code, CAIRN_OK);
    fx_put(f, B, "bb", "v", T0);
    fx_put(f, B, "cc", "v", T0);
    sc.cursor = cursor;
    sc.cursor_len = cl;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"cc", "d", "e"};
        assert_keys(&r, want, 3);
        assert_false(r.page.more);
    }
    /* A hand-made cursor (version 1, key "b") resumes after "b". */
    cursor[0] = 1;
    cursor[1] = 'b';
    sc.cursor_len = 2;
    sc.limit = 0;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"bb", "cc", "d", "e"};
        assert_keys(&r, want, 4);
    }
    /* A cursor past the last key: empty page. */
    cursor[1] = 'z';
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 0);
    assert_false(r.page.more);
    scanres_free(&r);
}

static void test_scan_cursor_malformed(void **state)
{
    struct fx *f = *state;
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    uint8_t cursor[STORAGE_CURSOR_MAX + 2];
    uint64_t n;
    fx_put(f, B, "a", "v", T0);
    fx_put(f, B, "b", "v", T0);
    memset(cursor, 'k', sizeof cursor);
    sc.cursor = cursor;
    /* Another version. */
    cursor[0] = 2;
    sc.cursor_len = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_EINVAL);
    assert_true(f->err[0] != '\0');
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_EINVAL);
    cursor[0] = 0;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_EINVAL);
    /* Only the version byte: no key. */
    cursor[0] = 1;
    sc.cursor_len = 1;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_EINVAL);
    /* Longer than a version byte and a 512-byte key. */
    sc.cursor_len = STORAGE_CURSOR_MAX + 1;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_EINVAL);
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_EINVAL);
    /* The longest valid cursor is accepted. */
    sc.cursor_len = STORAGE_CURSOR_MAX;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 0);
    scanres_free(&r);
}

static void test_scan_more_ignores_dead_keys(void **state)
{
    struct fx *f = *state;
    struct storage_scan sc = scan_args(T0 + 100);
    struct scanres r = {0};
    struct storage_cmd c;
    uint64_t n;
    fx_put(f, B, "a", "v", T0);
    fx_put(f, B, "b", "v", T0);
    fx_put(f, B, "c", "v", T0);
    c = cmd_delete(S("c"), 0, T0);
    assert_int_equal(fx_apply(f, B, &c, 0).code, CAIRN_OK);
    fx_put(f, B, "d", "v", T0);
    c = cmd_purge(S("d"), 0, T0);
    assert_int_equal(fx_apply(f, B, &c, 0).code, CAIRN_OK);
    c = cmd_put(S("e"), S("v"), T0);
    c.w.ttl_ns = 50; /* expired at T0 + 100 */
    assert_int_equal(fx_apply(f, B, &c, 0).code, CAIRN_OK);
    sc.limit = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    {
        const char *want[] = {"a", "b"};
        assert_keys(&r, want, 2);
        assert_false(r.page.more);
    }
    sc.limit = 1;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_true(r.page.more);
    sc.limit = 0;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 2);
    /* Before expiry "e" is live. */
    sc.now = T0 + 49;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 3);
    sc.limit = 2;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_true(r.page.more);
    scanres_free(&r);
}

static void test_scan_keys_only(void **state)
{
    struct fx *f = *state;
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    fx_put(f, B, "a", "value-a", T0);
    fx_put(f, B, "b", "value-b", T0);
    fx_put(f, B, "a", "value-a2", T0);
    sc.keys_only = true;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.e[0].key_len, 1);
    assert_memory_equal(r.e[0].key, "a", 1);
    assert_int_equal(r.e[0].revision, 3);
    assert_true(r.e[0].value_null);
    assert_int_equal(r.e[0].value_len, 0);
    assert_int_equal(r.e[1].revision, 2);
    assert_true(r.e[1].value_null);
    assert_int_equal(r.e[1].value_len, 0);
    /* And with values. */
    sc.keys_only = false;
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.e[0].value_len, 8);
    assert_memory_equal(r.e[0].value, "value-a2", 8);
    scanres_free(&r);
}

static void test_scan_entry_fields(void **state)
{
    struct fx *f = *state;
    struct storage_scan sc = scan_args(T0);
    struct scanres r = {0};
    struct storage_cmd c = cmd_put(S("k"), S("v"), T0 + 7);
    struct got g;
    c.w.meta = "meta";
    c.w.meta_len = 4;
    c.w.expires_at = T0 + 1000;
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 1);
    c = cmd_put(S("k"), S("w"), T0 + 8);
    c.w.meta = "m2";
    c.w.meta_len = 2;
    c.w.ttl_ns = 500;
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 2);
    assert_int_equal(fx_scan(f, B, &sc, &r), CAIRN_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.e[0].revision, 2);
    assert_int_equal(r.e[0].create_revision, 1);
    assert_int_equal(r.e[0].updated, T0 + 8);
    assert_int_equal(r.e[0].expires_at, T0 + 8 + 500);
    assert_int_equal(r.e[0].op, CAIRN_OP_PUT);
    scanres_free(&r);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.meta_len, 2);
    assert_memory_equal(g.meta, "m2", 2);
    assert_int_equal(g.expires_at, T0 + 508);
    got_free(&g);
}

struct stop_arg {
    int calls;
    int stop_at;
};

static int scan_stop_cb(void *arg, const struct storage_entry *e)
{
    struct stop_arg *a = arg;
    (void)e;
    a->calls++;
    return a->calls == a->stop_at ? -7 : 0;
}

static void test_scan_callback_stop_and_null(void **state)
{
    struct fx *f = *state;
    const char *keys[] = {"a", "b", "c", "d"};
    struct storage_scan sc = scan_args(T0);
    struct storage_page page;
    struct stop_arg a = {0, 2};
    storage_txn *t;
    put_keys(f, B, keys, 4);
    assert_int_equal(storage_read_begin(f->s, &t, f->err), CAIRN_OK);
    memset(&page, 0, sizeof page);
    assert_int_equal(
        storage_scan(t, B, &sc, scan_stop_cb, &a, &page, f->err), -7);
    assert_int_equal(a.calls, 2);
    /* NULL callback: only count into the page. */
    memset(&page, 0, sizeof page);
    assert_int_equal(storage_scan(t, B, &sc, NULL, NULL, &page, f->err),
                     CAIRN_OK);
    assert_int_equal(page.count, 4);
    assert_false(page.more);
    sc.limit = 3;
    memset(&page, 0, sizeof page);
    assert_int_equal(storage_scan(t, B, &sc, NULL, NULL, &page, f->err),
                     CAIRN_OK);
    assert_int_equal(page.count, 3);
    assert_true(page.more);
    assert_int_equal(page.cursor_len, 2);
    assert_memory_equal(page.cursor, "\x01" "c", 2);
    storage_txn_end(t);
}

static void test_count(void **state)
{
    struct fx *f = *state;
    struct storage_scan sc = scan_args(T0);
    uint64_t n = 0;
    char k[8];
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof k, "k%d", i);
        fx_put(f, B, k, "v", T0);
    }
    fx_put(f, B, "other", "v", T0);
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 11);
    sc.prefix = "k";
    sc.prefix_len = 1;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 10);
    sc.limit = 4;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 4);
    sc.limit = 0;
    sc.cursor = "\x01k6";
    sc.cursor_len = 3;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 3);
    sc.start = "k2";
    sc.start_len = 2;
    sc.end = "k8";
    sc.end_len = 2;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 1); /* k7 */
    sc.cursor = NULL;
    sc.cursor_len = 0;
    assert_int_equal(fx_count(f, B, &sc, &n), CAIRN_OK);
    assert_int_equal(n, 6); /* k2..k7 */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(test_get_at_revision),
        TEST(test_history_callback_stop),
        TEST(test_scan_all),
        TEST(test_scan_empty),
        TEST(test_scan_range),
        TEST(test_scan_bounds_too_long),
        TEST(test_scan_prefix),
        TEST(test_scan_pages),
        TEST(test_scan_cursor_resumes_after_deleted_key),
        TEST(test_scan_cursor_malformed),
        TEST(test_scan_more_ignores_dead_keys),
        TEST(test_scan_keys_only),
        TEST(test_scan_entry_fields),
        TEST(test_scan_callback_stop_and_null),
        TEST(test_count),
    };
    RUN_TESTS("storage_read", tests, argc, argv);
}
