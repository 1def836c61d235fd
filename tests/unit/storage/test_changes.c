/* Changes by revision (storage_changes): every kept revision in revision
 * order, key and prefix filters, the current values only (latest_only),
 * bounds, pages by count and by a callback's budget, superseded revisions,
 * and the refusal of a walk from below the compacted revision. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

/* What a walk delivered: revision, op and key of each entry. */
struct seen {
    size_t n;
    uint64_t rev[64];
    uint32_t op[64];
    char key[64][16];
    size_t budget; /* refuse the entry after this many (0: none) */
};

#define STOP 77

static int collect(void *arg, const struct storage_entry *e)
{
    struct seen *s = arg;
    if (s->budget != 0 && s->n == s->budget) {
        return STOP;
    }
    assert_true(s->n < 64);
    s->rev[s->n] = e->revision;
    s->op[s->n] = e->op;
    snprintf(s->key[s->n], sizeof s->key[0], "%.*s", (int)e->key_len,
             (const char *)e->key);
    s->n++;
    return 0;
}

static int walk(struct fx *f, const char *bucket,
                const struct storage_changes *a, struct seen *s,
                struct storage_changes_page *page)
{
    storage_txn *t;
    int rc;
    assert_int_equal(storage_read_begin(f->s, &t, f->err), 0);
    f->err[0] = '\0';
    rc = storage_changes(t, bucket, a, collect, s, page, f->err);
    storage_txn_end(t);
    return rc;
}

static void expect_revs(const struct seen *s, const uint64_t *revs, size_t n)
{
    if (s->n != n) {
        print_error("delivered %zu entries, want %zu\n", s->n, n);
    }
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s->rev[i], revs[i]);
    }
}

/* 1 a=1, 2 b=1, 3 a=2, 4 del b, 5 p/x=1, 6 p/y=1, 7 purge a, 8 p/x=2 */
static void fill(struct fx *f)
{
    struct storage_cmd c;
    fx_bucket(f, "w", 10, 0, -1);
    fx_put(f, "w", "a", "1", T0 + 1);
    fx_put(f, "w", "b", "1", T0 + 2);
    fx_put(f, "w", "a", "2", T0 + 3);
    c = cmd_delete(S("b"), 0, T0 + 4);
    assert_int_equal(fx_apply(f, "w", &c, 0).revision, 4);
    fx_put(f, "w", "p/x", "1", T0 + 5);
    fx_put(f, "w", "p/y", "1", T0 + 6);
    c = cmd_purge(S("a"), 0, T0 + 7);
    assert_int_equal(fx_apply(f, "w", &c, 0).revision, 7);
    fx_put(f, "w", "p/x", "2", T0 + 8);
}

static void test_every_change_in_order(void **state)
{
    struct fx *f = *state;
    struct storage_changes a = {.now = T0 + 100};
    struct storage_changes_page page;
    struct seen s = {0};
    /* The purge dropped a's revisions 1 and 3: 7 tells their end. */
    static const uint64_t all[] = {2, 4, 5, 6, 7, 8};
    fill(f);
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, all, 6);
    assert_int_equal(s.op[1], CAIRN_OP_DEL);
    assert_string_equal(s.key[1], "b");
    assert_int_equal(s.op[4], CAIRN_OP_PURGE);
    assert_string_equal(s.key[4], "a");
    assert_int_equal(page.last, 8);
    assert_false(page.more);
    assert_int_equal(page.count, 6);
    assert_int_equal(page.last_revision, 8);
    assert_int_equal(page.compacted_revision, 0);
    /* From the middle, and past the end. */
    memset(&s, 0, sizeof s);
    a.after = 5;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, all + 3, 3);
    memset(&s, 0, sizeof s);
    a.after = 8;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(page.last, 8);
    a.after = 100; /* a lagging replica asked for more than it has */
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(page.last, 100);
    /* Up to a bound. */
    a.after = 0;
    a.upto = 5;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, all, 3);
    assert_int_equal(page.last, 5);
    assert_false(page.more);
}

static void test_filters(void **state)
{
    struct fx *f = *state;
    struct storage_changes a = {.now = T0 + 100};
    struct storage_changes_page page;
    struct seen s = {0};
    static const uint64_t prefixed[] = {5, 6, 8};
    static const uint64_t px[] = {5, 8};
    fill(f);
    a.prefix = "p/";
    a.prefix_len = 2;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, prefixed, 3);
    assert_int_equal(page.last, 8);
    /* One key: its own kept revisions, oldest first. */
    memset(&s, 0, sizeof s);
    a.key = "p/x";
    a.key_len = 3;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, px, 2);
    assert_int_equal(page.last, 8);
    memset(&s, 0, sizeof s);
    a.after = 5;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, px + 1, 1);
    /* A key with nothing kept, and an empty prefix (every key). */
    memset(&s, 0, sizeof s);
    a.after = 0;
    a.key = "zz";
    a.key_len = 2;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(page.last, 8);
    a.key = NULL;
    a.prefix = "";
    a.prefix_len = 0;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    assert_int_equal(s.n, 6);
    /* An empty key is refused. */
    a.key = "";
    a.key_len = 0;
    assert_int_equal(walk(f, "w", &a, &s, &page), CAIRN_EINVAL);
}

static void test_latest_only(void **state)
{
    struct fx *f = *state;
    struct storage_changes a = {.latest_only = true, .now = T0 + 100};
    struct storage_changes_page page;
    struct seen s = {0};
    struct storage_cmd c;
    /* b's DEL marker, a's PURGE marker, p/y, p/x's latest value. */
    static const uint64_t cur[] = {4, 6, 7, 8};
    static const uint64_t after6[] = {7, 8, 9};
    fill(f);
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, cur, 4);
    assert_int_equal(page.last, 8);
    /* A value that expired is no current value; its key's other
     * revisions were superseded. */
    c = cmd_put(S("t"), S("v"), T0 + 9);
    c.w.ttl_ns = 10;
    assert_int_equal(fx_apply(f, "w", &c, 0).revision, 9);
    memset(&s, 0, sizeof s);
    a.after = 6;
    a.now = T0 + 18;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, after6, 3);
    memset(&s, 0, sizeof s);
    a.now = T0 + 19;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, after6, 2);
    assert_int_equal(page.last, 9);
    /* One key: only its latest revision. */
    memset(&s, 0, sizeof s);
    a.after = 0;
    a.now = T0 + 100;
    a.key = "p/x";
    a.key_len = 3;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, cur + 3, 1);
}

static void test_pages(void **state)
{
    struct fx *f = *state;
    struct storage_changes a = {.now = T0 + 100, .limit = 2};
    struct storage_changes_page page;
    struct seen s = {0};
    static const uint64_t all[] = {2, 4, 5, 6, 7, 8};
    uint64_t after = 0;
    int calls = 0;
    fill(f);
    /* Two revisions examined per call (1 and 3 are gone: the first call
     * examines 2 and 4). */
    do {
        a.after = after;
        assert_int_equal(walk(f, "w", &a, &s, &page), 0);
        assert_true(page.last > after);
        after = page.last;
        calls++;
    } while (page.more);
    expect_revs(&s, all, 6);
    assert_int_equal(after, 8);
    assert_int_equal(calls, 3);
    /* A callback's budget: the refused entry comes first next time. */
    memset(&s, 0, sizeof s);
    a.limit = 0;
    a.after = 0;
    s.budget = 4;
    assert_int_equal(walk(f, "w", &a, &s, &page), STOP);
    assert_true(page.more);
    assert_int_equal(page.last, 6);
    assert_int_equal(page.count, 4);
    s.budget = 0;
    a.after = page.last;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    expect_revs(&s, all, 6);
    /* The same with a key. */
    memset(&s, 0, sizeof s);
    a.after = 0;
    a.key = "p/x";
    a.key_len = 3;
    s.budget = 1;
    assert_int_equal(walk(f, "w", &a, &s, &page), STOP);
    assert_int_equal(page.last, 7);
    assert_true(page.more);
    s.budget = 0;
    a.after = page.last;
    assert_int_equal(walk(f, "w", &a, &s, &page), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.rev[1], 8);
}

/* A marker that ages out takes its key with it and raises the compacted
 * revision: a walk from below it could miss that deletion, so it is
 * refused; the current values are not. */
static void test_compacted(void **state)
{
    struct fx *f = *state;
    struct storage_changes a = {.now = T0 + 5000};
    struct storage_changes_page page;
    struct seen s = {0};
    struct storage_cmd c;
    fx_bucket(f, "t", 5, 1000, -1);
    fx_put(f, "t", "k", "v", T0);  /* 1, expires T0+1000 */
    c = cmd_delete(S("k"), 0, T0 + 500); /* 2, ages at T0+1500 */
    assert_int_equal(fx_apply(f, "t", &c, 0).revision, 2);
    fx_put(f, "t", "j", "v", T0 + 400); /* 3, expires T0+1400 */
    c = cmd_expire(T0 + 1500);          /* j expires: PURGE at 4 */
    assert_int_equal(fx_apply(f, "t", &c, 0).code, CAIRN_OK);
    assert_int_equal(fx_info(f, "t").compacted_revision, 2);
    for (uint64_t after = 0; after < 2; after++) {
        a.after = after;
        assert_int_equal(walk(f, "t", &a, &s, &page), CAIRN_ECOMPACTED);
        assert_msg_has(f->err, "is no longer kept; oldest is 3");
        assert_int_equal(page.compacted_revision, 2);
    }
    a.after = 0;
    assert_int_equal(walk(f, "t", &a, &s, &page), CAIRN_ECOMPACTED);
    assert_msg_has(f->err, "revision 1 is no longer kept; oldest is 3");
    a.after = 2;
    assert_int_equal(walk(f, "t", &a, &s, &page), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.rev[0], 4);
    memset(&s, 0, sizeof s);
    a.after = 0;
    a.latest_only = true;
    assert_int_equal(walk(f, "t", &a, &s, &page), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.op[0], CAIRN_OP_PURGE);
    assert_int_equal(walk(f, "nope", &a, &s, &page), CAIRN_ENOBUCKET);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(test_every_change_in_order),
        TEST(test_filters),
        TEST(test_latest_only),
        TEST(test_pages),
        TEST(test_compacted),
    };
    RUN_TESTS("storage_changes", tests, argc, argv);
}
