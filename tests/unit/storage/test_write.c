/* Write commands: sizes and limits at their boundaries, put / create /
 * update / cas / delete / purge semantics, history, revisions, log indexes,
 * long keys (group records) and batched writes. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

/* ---- sizes ------------------------------------------------------------- */

static void test_key_length(void **state)
{
    struct fx *f = *state;
    uint8_t key[CAIRN_KEY_MAX + 1];
    struct storage_cmd c;
    struct storage_result r;
    memset(key, 'k', sizeof key);

    c = cmd_put(key, 0, S("v"), T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    c = cmd_put(NULL, 0, S("v"), T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    c = cmd_put(key, CAIRN_KEY_MAX + 1, S("v"), T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    assert_int_equal(fx_info(f, B).last_revision, 0);

    assert_int_equal(fx_put_bytes(f, B, key, 1, S("one"), T0), 1);
    assert_int_equal(fx_put_bytes(f, B, key, CAIRN_KEY_MAX, S("max"), T0), 2);
    fx_expect_value(f, B, key, 1, 0, T0, S("one"));
    fx_expect_value(f, B, key, CAIRN_KEY_MAX, 0, T0, S("max"));
    assert_int_equal(fx_get(f, B, key, 2, 0, T0, NULL), CAIRN_ENOTFOUND);

    /* Reads check the key length too, with the same codes as writes
     * (docs/storage.md "All sizes"; storage.h's get/history error lists
     * name only CAIRN_EINVAL for the key length). */
    assert_int_equal(fx_get(f, B, key, 0, 0, T0, NULL), CAIRN_EINVAL);
    assert_true(f->err[0] != '\0');
    assert_int_equal(fx_get(f, B, key, CAIRN_KEY_MAX + 1, 0, T0, NULL),
                     CAIRN_ETOOLARGE);
    assert_true(f->err[0] != '\0');
    {
        struct hist h;
        assert_int_equal(fx_history(f, B, key, 0, T0, &h), CAIRN_EINVAL);
        assert_int_equal(fx_history(f, B, key, CAIRN_KEY_MAX + 1, T0, &h),
                         CAIRN_ETOOLARGE);
    }
}

static void test_key_length_every_command(void **state)
{
    struct fx *f = *state;
    uint8_t key[CAIRN_KEY_MAX + 1];
    struct storage_cmd c[5];
    memset(key, 'k', sizeof key);
    for (int len = 0; len <= CAIRN_KEY_MAX + 1; len += CAIRN_KEY_MAX + 1) {
        c[0] = cmd_create(key, (size_t)len, S("v"), T0);
        c[1] = cmd_update(key, (size_t)len, S("v"), 1, T0);
        c[2] = cmd_cas(key, (size_t)len, S("v"), NULL, 0, false, T0);
        c[3] = cmd_delete(key, (size_t)len, 0, T0);
        c[4] = cmd_purge(key, (size_t)len, 0, T0);
        for (int i = 0; i < 5; i++) {
            struct storage_result r = fx_apply(f, B, &c[i], 0);
            assert_refused(&r, len == 0 ? CAIRN_EINVAL : CAIRN_ETOOLARGE);
        }
    }
    assert_int_equal(fx_info(f, B).last_revision, 0);
}

static void test_value_limit_default(void **state)
{
    struct fx *f = *state;
    size_t max = CAIRN_VALUE_DEFAULT_MAX;
    uint8_t *v = malloc(max + 1);
    struct storage_cmd c;
    struct storage_result r;
    assert_non_null(v);
    for (size_t i = 0; i <= max; i++) {
        v[i] = (uint8_t)(i * 31);
    }
    c = cmd_put(S("big"), v, max + 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    assert_int_equal(fx_put_bytes(f, B, S("big"), v, max, T0), 1);
    fx_expect_value(f, B, S("big"), 0, T0, v, max);
    /* Every command that writes a value checks it. */
    c = cmd_create(S("other"), v, max + 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    c = cmd_update(S("big"), v, max + 1, 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    c = cmd_cas(S("big"), v, max + 1, v, max, true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    fx_expect_value(f, B, S("big"), 0, T0, v, max);
    assert_int_equal(fx_info(f, B).last_revision, 1);
    free(v);
}

static void test_value_limit_custom(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    uint8_t v[101];
    struct storage_cmd c;
    struct storage_result r;
    memset(v, 'x', sizeof v);
    cairn_bucket_config_init(&cfg, "small");
    cfg.max_value_size = 100;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), CAIRN_OK);
    c = cmd_put(S("k"), v, 101, T0);
    r = fx_apply(f, "small", &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    assert_int_equal(fx_put_bytes(f, "small", S("k"), v, 100, T0), 1);
    assert_int_equal(fx_put_bytes(f, "small", S("e"), v, 0, T0), 2);
    fx_expect_value(f, "small", S("e"), 0, T0, v, 0);
}

static void test_value_limit_hard(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    size_t max = CAIRN_VALUE_HARD_MAX;
    uint8_t *v = malloc(max + 1);
    struct storage_cmd c;
    struct storage_result r;
    assert_non_null(v);
    memset(v, 'h', max + 1);
    v[max - 1] = 'e';
    cairn_bucket_config_init(&cfg, "huge");
    cfg.max_value_size = -1;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), CAIRN_OK);
    c = cmd_put(S("k"), v, max + 1, T0);
    r = fx_apply(f, "huge", &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    assert_int_equal(fx_put_bytes(f, "huge", S("k"), v, max, T0), 1);
    fx_expect_value(f, "huge", S("k"), 0, T0, v, max);
    free(v);
}

static void test_meta_limit(void **state)
{
    struct fx *f = *state;
    uint8_t meta[CAIRN_KEY_META_MAX + 1];
    struct storage_cmd c;
    struct storage_result r;
    struct got g;
    for (size_t i = 0; i < sizeof meta; i++) {
        meta[i] = (uint8_t)i;
    }
    c = cmd_put(S("k"), S("v"), T0);
    c.w.meta = meta;
    c.w.meta_len = CAIRN_KEY_META_MAX + 1;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
    c.w.meta_len = CAIRN_KEY_META_MAX;
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0, &g), CAIRN_OK);
    assert_int_equal(g.meta_len, CAIRN_KEY_META_MAX);
    assert_memory_equal(g.meta, meta, CAIRN_KEY_META_MAX);
    got_free(&g);
    /* A later put without metadata carries none. */
    fx_put(f, B, "k", "w", T0 + 1);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 1, &g), CAIRN_OK);
    assert_int_equal(g.meta_len, 0);
    got_free(&g);
    /* Create checks metadata as well. */
    c = cmd_create(S("k2"), S("v"), T0);
    c.w.meta = meta;
    c.w.meta_len = CAIRN_KEY_META_MAX + 1;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ETOOLARGE);
}

/* max_bytes counts key + value + metadata of every kept revision. */
static void test_max_bytes_boundary(void **state)
{
    struct fx *f = *state;
    uint8_t v[200];
    struct storage_cmd c;
    struct storage_result r;
    struct storage_bucket_info info;
    memset(v, 'v', sizeof v);
    fx_bucket(f, "q", 1, 0, 100);

    /* One byte over, on an empty bucket: refused, nothing written. */
    c = cmd_put(S("k"), v, 100, T0); /* 1 + 100 = 101 */
    r = fx_apply(f, "q", &c, 1);
    assert_refused(&r, CAIRN_EFULL);
    info = fx_info(f, "q");
    assert_int_equal(info.last_revision, 0);
    assert_int_equal(info.bytes, 0);
    assert_int_equal(info.keys, 0);
    assert_int_equal(info.applied_index, 1);
    assert_int_equal(fx_get(f, "q", S("k"), 0, T0, NULL), CAIRN_ENOTFOUND);
    /* Metadata counts too. */
    c = cmd_put(S("k"), v, 98, T0); /* 1 + 98 + 2 = 101 */
    c.w.meta = "mm";
    c.w.meta_len = 2;
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);

    /* Exactly reaching max_bytes is allowed. */
    assert_int_equal(fx_put_bytes(f, "q", S("k"), v, 99, T0), 1);
    info = fx_info(f, "q");
    assert_int_equal(info.bytes, 100);
    /* Full: any new value is refused, even an empty one. */
    c = cmd_put(S("z"), v, 0, T0);
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);
    c = cmd_create(S("z"), v, 0, T0);
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);
    /* Replacing the value with one of the same size leaves bytes at 100
     * (history 1 drops the old revision): allowed. */
    assert_int_equal(fx_put_bytes(f, "q", S("k"), v, 99, T0), 2);
    /* One byte more is not. */
    c = cmd_put(S("k"), v, 100, T0);
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);
    c = cmd_update(S("k"), v, 100, 2, T0);
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);
    info = fx_info(f, "q");
    assert_int_equal(info.last_revision, 2);
    assert_int_equal(info.bytes, 100);
    fx_expect_value(f, "q", S("k"), 0, T0, v, 99);
    /* A smaller value fits. */
    assert_int_equal(fx_put_bytes(f, "q", S("k"), v, 10, T0), 3);
    assert_int_equal(fx_info(f, "q").bytes, 11);
}

static void test_max_bytes_delete_when_full(void **state)
{
    struct fx *f = *state;
    uint8_t v[100];
    struct storage_cmd c;
    struct storage_result r;
    memset(v, 'v', sizeof v);
    fx_bucket(f, "q", 1, 0, 100);
    assert_int_equal(fx_put_bytes(f, "q", S("ab"), v, 98, T0), 1); /* 100 */
    c = cmd_put(S("cd"), v, 0, T0);
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);
    /* Delete is allowed on a full bucket. */
    c = cmd_delete(S("ab"), 0, T0 + 1);
    r = fx_apply(f, "q", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    assert_int_equal(fx_info(f, "q").bytes, 2); /* the DEL marker's key */
    /* Room again. */
    assert_int_equal(fx_put_bytes(f, "q", S("cd"), v, 50, T0 + 2), 3);
    /* Purge is allowed too, and frees the value. */
    assert_int_equal(fx_put_bytes(f, "q", S("ab"), v, 40, T0 + 3), 4);
    c = cmd_put(S("ef"), v, 10, T0 + 4);
    r = fx_apply(f, "q", &c, 0);
    assert_refused(&r, CAIRN_EFULL);
    c = cmd_purge(S("cd"), 0, T0 + 5);
    r = fx_apply(f, "q", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 5);
    assert_int_equal(fx_info(f, "q").bytes, 42 + 2);
}

/* ---- command semantics ------------------------------------------------- */

static void test_put(void **state)
{
    struct fx *f = *state;
    struct got g;
    assert_int_equal(fx_put(f, B, "a", "1", T0 + 10), 1);
    assert_int_equal(fx_put(f, B, "b", "2", T0 + 11), 2);
    assert_int_equal(fx_put(f, B, "a", "3", T0 + 12), 3);
    assert_int_equal(fx_get(f, B, S("a"), 0, T0 + 20, &g), CAIRN_OK);
    assert_int_equal(g.revision, 3);
    assert_int_equal(g.create_revision, 1);
    assert_int_equal(g.updated, T0 + 12);
    assert_int_equal(g.expires_at, 0);
    assert_int_equal(g.op, CAIRN_OP_PUT);
    assert_int_equal(g.value_len, 1);
    assert_memory_equal(g.value, "3", 1);
    got_free(&g);
    assert_int_equal(fx_get(f, B, S("b"), 0, T0 + 20, &g), CAIRN_OK);
    assert_int_equal(g.revision, 2);
    assert_int_equal(g.create_revision, 2);
    assert_int_equal(g.updated, T0 + 11);
    got_free(&g);
    /* Binary keys and values with NUL bytes. */
    assert_int_equal(fx_put_bytes(f, B, "\0\0", 2, "\0x\0", 3, T0), 4);
    fx_expect_value(f, B, "\0\0", 2, 0, T0, "\0x\0", 3);
    assert_int_equal(fx_get(f, B, "\0", 1, 0, T0, NULL), CAIRN_ENOTFOUND);
    /* get with a NULL entry is an existence check. */
    assert_int_equal(fx_get(f, B, S("a"), 0, T0, NULL), CAIRN_OK);
    assert_int_equal(fx_get(f, B, S("zz"), 0, T0, NULL), CAIRN_ENOTFOUND);
    assert_int_equal(fx_info(f, B).last_revision, 4);
}

static void test_create(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    struct got g;
    c = cmd_create(S("k"), S("v1"), T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    assert_int_equal(r.last_revision, 1);
    fx_put(f, B, "other", "x", T0); /* 2 */
    /* Live: conflict, carrying the key's revision. */
    c = cmd_create(S("k"), S("v2"), T0 + 1);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    fx_expect_value(f, B, S("k"), 0, T0 + 1, S("v1"));
    /* After a delete: allowed, a new lifetime. */
    c = cmd_delete(S("k"), 0, T0 + 2);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.revision, 3);
    c = cmd_create(S("k"), S("v3"), T0 + 3);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 4);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 3, &g), CAIRN_OK);
    assert_int_equal(g.create_revision, 4);
    assert_memory_equal(g.value, "v3", 2);
    got_free(&g);
    /* After a purge: allowed. */
    c = cmd_purge(S("k"), 0, T0 + 4);
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 5);
    c = cmd_create(S("k"), S("v4"), T0 + 5);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 6);
    /* Conflict on the re-created key reports its new revision. */
    c = cmd_create(S("k"), S("v5"), T0 + 6);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 6);
}

static void test_update(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    /* Absent key: conflict with current_revision 0. */
    c = cmd_update(S("k"), S("v"), 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 0);
    /* Revision 0: invalid (absent or not). */
    c = cmd_update(S("k"), S("v"), 0, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);

    fx_put(f, B, "k", "v1", T0);    /* 1 */
    fx_put(f, B, "o", "x", T0);     /* 2 */
    c = cmd_update(S("k"), S("v"), 0, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    c = cmd_update(S("k"), S("v2"), 2, T0); /* another key's revision */
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    c = cmd_update(S("k"), S("v2"), 1, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 3);
    fx_expect_value(f, B, S("k"), 0, T0, S("v2"));
    /* The old revision no longer matches. */
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 3);
    /* The latest revision of any op counts: a DEL marker's revision. */
    c = cmd_delete(S("k"), 0, T0);
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 4);
    c = cmd_update(S("k"), S("v3"), 3, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 4);
    c = cmd_update(S("k"), S("v3"), 4, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 5);
    fx_expect_value(f, B, S("k"), 0, T0, S("v3"));
    {
        struct got g;
        assert_int_equal(fx_get(f, B, S("k"), 0, T0, &g), CAIRN_OK);
        assert_int_equal(g.create_revision, 5); /* a new lifetime */
        got_free(&g);
    }
    assert_int_equal(fx_info(f, B).last_revision, 5);
}

static void test_cas(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    /* has_old = false: only if absent. */
    c = cmd_cas(S("k"), S("v1"), NULL, 0, false, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    /* has_old = true: only if the value equals old. */
    c = cmd_cas(S("k"), S("v2"), S("v1"), true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    r = fx_apply(f, B, &c, 0); /* old is now v2 */
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 2);
    /* A prefix of the value, or a longer one, is not equal. */
    c = cmd_cas(S("k"), S("x"), S("v"), true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    c = cmd_cas(S("k"), S("x"), S("v22"), true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    /* Absent key with an old value: conflict, current 0. */
    c = cmd_cas(S("absent"), S("x"), S("v1"), true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 0);
    /* An empty old value matches an empty value, not an absent key. */
    c = cmd_cas(S("absent"), S("x"), "", 0, true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    fx_put(f, B, "empty", "", T0); /* 3 */
    c = cmd_cas(S("empty"), S("full"), "", 0, true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 4);
    /* After a delete, has_old = false applies; the old value no longer
     * matches. */
    c = cmd_delete(S("k"), 0, T0);
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 5);
    c = cmd_cas(S("k"), S("v3"), S("v2"), true, T0);
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 5);
    c = cmd_cas(S("k"), S("v3"), NULL, 0, false, T0);
    r = fx_apply(f, B, &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 6);
    fx_expect_value(f, B, S("k"), 0, T0, S("v3"));
}

static void test_delete(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    struct hist h;
    fx_bucket(f, "h", 4, 0, -1);
    /* Absent: ENOTFOUND, no revision. */
    c = cmd_delete(S("k"), 0, T0);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ENOTFOUND);
    assert_int_equal(fx_info(f, "h").last_revision, 0);

    fx_put(f, "h", "k", "v1", T0);     /* 1 */
    fx_put(f, "h", "other", "o", T0);  /* 2 */
    /* With a revision that is not the latest: conflict. */
    c = cmd_delete(S("k"), 2, T0 + 1);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    /* With the right one: the marker's revision. */
    c = cmd_delete(S("k"), 1, T0 + 1);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 3);
    assert_int_equal(r.last_revision, 3);
    assert_int_equal(fx_get(f, "h", S("k"), 0, T0 + 2, NULL), CAIRN_ENOTFOUND);
    /* Not live any more: ENOTFOUND, no revision taken. */
    c = cmd_delete(S("k"), 0, T0 + 2);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ENOTFOUND);
    assert_int_equal(fx_info(f, "h").last_revision, 3);
    /* History keeps the value under the marker. */
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 2, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.e[0].revision, 3);
    assert_int_equal(h.e[0].op, CAIRN_OP_DEL);
    assert_int_equal(h.e[0].updated, T0 + 1);
    assert_true(h.e[0].value_null);
    assert_int_equal(h.e[0].value_len, 0);
    assert_int_equal(h.e[1].revision, 1);
    assert_int_equal(h.e[1].op, CAIRN_OP_PUT);
    assert_int_equal(h.e[1].value_len, 2);
    assert_memory_equal(h.e[1].value, "v1", 2);
    /* The older value is still readable at its revision. */
    fx_expect_value(f, "h", S("k"), 1, T0 + 2, S("v1"));
    assert_int_equal(fx_get(f, "h", S("k"), 3, T0 + 2, NULL), CAIRN_ENOTFOUND);
    assert_int_equal(fx_info(f, "h").keys, 1);
}

static void test_purge(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    struct hist h;
    fx_bucket(f, "h", 5, 0, -1);
    c = cmd_purge(S("k"), 0, T0);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ENOTFOUND);

    fx_put(f, "h", "k", "v1", T0); /* 1 */
    fx_put(f, "h", "k", "v2", T0); /* 2 */
    fx_put(f, "h", "k", "v3", T0); /* 3 */
    c = cmd_purge(S("k"), 2, T0 + 1);
    r = fx_apply(f, "h", &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 3);
    c = cmd_purge(S("k"), 3, T0 + 1);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 4);
    assert_int_equal(r.last_revision, 4);
    /* One marker left; every older revision gone. */
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 2, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 4);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    assert_int_equal(h.e[0].updated, T0 + 1);
    for (uint64_t rev = 1; rev <= 4; rev++) {
        assert_int_equal(fx_get(f, "h", S("k"), rev, T0 + 2, NULL),
                         CAIRN_ENOTFOUND);
    }
    assert_int_equal(fx_get(f, "h", S("k"), 0, T0 + 2, NULL), CAIRN_ENOTFOUND);
    assert_int_equal(fx_info(f, "h").keys, 0);

    /* A deleted key can be purged (it has stored revisions). */
    fx_put(f, "h", "d", "x", T0);        /* 5 */
    c = cmd_delete(S("d"), 0, T0);       /* 6 */
    assert_int_equal(fx_apply(f, "h", &c, 0).revision, 6);
    c = cmd_purge(S("d"), 0, T0 + 3);
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 7);
    assert_int_equal(fx_history(f, "h", S("d"), T0 + 3, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 7);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    /* A purged key still has a stored revision (its marker): purging again
     * replaces the marker. */
    r = fx_apply(f, "h", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 8);
    assert_int_equal(fx_history(f, "h", S("d"), T0 + 3, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 8);
    /* Writing after a purge starts a new history. */
    assert_int_equal(fx_put(f, "h", "k", "v4", T0 + 4), 9);
    assert_int_equal(fx_history(f, "h", S("k"), T0 + 4, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.e[0].revision, 9);
    assert_int_equal(h.e[0].create_revision, 9);
    assert_int_equal(h.e[1].revision, 4);
    assert_int_equal(h.e[1].op, CAIRN_OP_PURGE);
}

static void test_history_limit(void **state)
{
    struct fx *f = *state;
    struct hist h;
    char v[8];
    fx_bucket(f, "h3", 3, 0, -1);
    for (int i = 1; i <= 5; i++) {
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(fx_put(f, "h3", "k", v, T0 + (uint64_t)i),
                         (uint64_t)i);
    }
    assert_int_equal(fx_history(f, "h3", S("k"), T0 + 10, &h), CAIRN_OK);
    assert_int_equal(h.n, 3);
    for (size_t i = 0; i < 3; i++) {
        uint64_t rev = 5 - i;
        snprintf(v, sizeof v, "v%d", (int)rev);
        assert_int_equal(h.e[i].revision, rev);
        assert_int_equal(h.e[i].op, CAIRN_OP_PUT);
        assert_int_equal(h.e[i].create_revision, 1);
        assert_int_equal(h.e[i].updated, T0 + rev);
        assert_int_equal(h.e[i].value_len, 2);
        assert_memory_equal(h.e[i].value, v, 2);
    }
    assert_int_equal(fx_get(f, "h3", S("k"), 1, T0 + 10, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, "h3", S("k"), 2, T0 + 10, NULL),
                     CAIRN_ENOTFOUND);
    fx_expect_value(f, "h3", S("k"), 3, T0 + 10, S("v3"));
    fx_expect_value(f, "h3", S("k"), 4, T0 + 10, S("v4"));
    assert_int_equal(fx_info(f, "h3").bytes, 3 * 3);

    /* history 1 (default): only the latest. */
    fx_put(f, B, "k", "a", T0);
    fx_put(f, B, "k", "b", T0);
    assert_int_equal(fx_history(f, B, S("k"), T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].revision, 2);
    assert_int_equal(fx_get(f, B, S("k"), 1, T0, NULL), CAIRN_ENOTFOUND);
}

static void test_history_64(void **state)
{
    struct fx *f = *state;
    struct hist h;
    fx_bucket(f, "h64", CAIRN_HISTORY_MAX, 0, -1);
    for (int i = 1; i <= CAIRN_HISTORY_MAX + 3; i++) {
        fx_put(f, "h64", "k", "v", T0 + (uint64_t)i);
    }
    assert_int_equal(fx_history(f, "h64", S("k"), T0 + 100, &h), CAIRN_OK);
    assert_int_equal(h.n, CAIRN_HISTORY_MAX);
    assert_int_equal(h.e[0].revision, CAIRN_HISTORY_MAX + 3);
    assert_int_equal(h.e[CAIRN_HISTORY_MAX - 1].revision, 4);
    assert_int_equal(fx_get(f, "h64", S("k"), 3, T0 + 100, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, "h64", S("k"), 4, T0 + 100, NULL), CAIRN_OK);
}

static void test_history_markers_count(void **state)
{
    struct fx *f = *state;
    struct hist h;
    struct storage_cmd c;
    fx_bucket(f, "h3", 3, 0, -1);
    fx_put(f, "h3", "k", "a", T0); /* 1 */
    fx_put(f, "h3", "k", "b", T0); /* 2 */
    c = cmd_delete(S("k"), 0, T0); /* 3 */
    assert_int_equal(fx_apply(f, "h3", &c, 0).revision, 3);
    assert_int_equal(fx_history(f, "h3", S("k"), T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.e[0].op, CAIRN_OP_DEL);
    assert_int_equal(h.e[0].revision, 3);
    assert_int_equal(h.e[1].revision, 2);
    assert_int_equal(h.e[2].revision, 1);
    fx_put(f, "h3", "k", "c", T0); /* 4: drops 1 */
    assert_int_equal(fx_history(f, "h3", S("k"), T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.e[0].revision, 4);
    assert_int_equal(h.e[0].create_revision, 4);
    assert_int_equal(h.e[1].revision, 3);
    assert_int_equal(h.e[1].op, CAIRN_OP_DEL);
    assert_int_equal(h.e[2].revision, 2);
    assert_int_equal(h.e[2].create_revision, 1);
    fx_expect_value(f, "h3", S("k"), 2, T0, S("b"));
    assert_int_equal(fx_get(f, "h3", S("k"), 1, T0, NULL), CAIRN_ENOTFOUND);
    /* history of a key never written */
    assert_int_equal(fx_history(f, "h3", S("nope"), T0, &h), CAIRN_ENOTFOUND);
}

static void test_refused_take_no_revision(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    uint8_t big[CAIRN_KEY_MAX + 1];
    memset(big, 'b', sizeof big);
    assert_int_equal(fx_put(f, B, "k", "v", T0), 1);
    c = cmd_create(S("k"), S("v"), T0);
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_ECONFLICT);
    c = cmd_update(S("k"), S("v"), 7, T0);
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_ECONFLICT);
    c = cmd_delete(S("absent"), 0, T0);
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_ENOTFOUND);
    c = cmd_purge(S("absent"), 0, T0);
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_ENOTFOUND);
    c = cmd_put(big, sizeof big, S("v"), T0);
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_ETOOLARGE);
    c = cmd_put(S("k"), S("v"), T0);
    c.w.ttl_ns = -5;
    assert_refused((r = fx_apply(f, B, &c, 0), &r), CAIRN_EINVAL);
    assert_int_equal(fx_info(f, B).last_revision, 1);
    assert_int_equal(fx_put(f, B, "k", "w", T0), 2);
    /* Revisions never go back, even after deletes and purges. */
    c = cmd_purge(S("k"), 0, T0);
    assert_int_equal(fx_apply(f, B, &c, 0).revision, 3);
    assert_int_equal(fx_put(f, B, "k", "x", T0), 4);
}

static void test_unknown_command_type(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = cmd_put(S("k"), S("v"), T0);
    struct storage_result r;
    c.type = 0;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    c.type = 99;
    r = fx_apply(f, B, &c, 0);
    assert_refused(&r, CAIRN_EINVAL);
    assert_int_equal(fx_info(f, B).last_revision, 0);
}

static void test_index_skipped(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c = cmd_put(S("k"), S("v1"), T0);
    struct storage_result r;
    r = fx_apply(f, B, &c, 5);
    assert_int_equal(r.code, CAIRN_OK);
    assert_false(r.skipped);
    assert_int_equal(r.revision, 1);
    assert_int_equal(fx_info(f, B).applied_index, 5);
    /* Same index again: skipped, nothing written. */
    c = cmd_put(S("k"), S("v2"), T0);
    r = fx_apply(f, B, &c, 5);
    assert_true(r.skipped);
    assert_int_equal(r.revision, 0);
    r = fx_apply(f, B, &c, 4);
    assert_true(r.skipped);
    r = fx_apply(f, B, &c, 1);
    assert_true(r.skipped);
    assert_int_equal(fx_info(f, B).last_revision, 1);
    assert_int_equal(fx_info(f, B).applied_index, 5);
    fx_expect_value(f, B, S("k"), 0, T0, S("v1"));
    /* A refused command stores its index too. */
    c = cmd_create(S("k"), S("v3"), T0);
    r = fx_apply(f, B, &c, 6);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(fx_info(f, B).applied_index, 6);
    c = cmd_put(S("n"), S("x"), T0);
    r = fx_apply(f, B, &c, 6);
    assert_true(r.skipped);
    assert_int_equal(fx_get(f, B, S("n"), 0, T0, NULL), CAIRN_ENOTFOUND);
    /* Index 0: untracked, always applied, applied_index unchanged. */
    r = fx_apply(f, B, &c, 0);
    assert_false(r.skipped);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    assert_int_equal(fx_info(f, B).applied_index, 6);
    /* Gaps are fine. */
    c = cmd_put(S("k"), S("v4"), T0);
    r = fx_apply(f, B, &c, 100);
    assert_false(r.skipped);
    assert_int_equal(r.revision, 3);
    assert_int_equal(fx_info(f, B).applied_index, 100);
    /* A skipped delete does not delete. */
    c = cmd_delete(S("k"), 0, T0);
    r = fx_apply(f, B, &c, 99);
    assert_true(r.skipped);
    fx_expect_value(f, B, S("k"), 0, T0, S("v4"));
}

/* ---- long keys: the group-record path ---------------------------------- */

enum { NG = 11 };

struct group_keys {
    uint8_t k[NG][CAIRN_KEY_MAX];
    size_t len[NG];
};

/* Keys in byte order: 0 the 510-byte prefix; 1 a 512-byte key sorting
 * between the 510- and the 511-byte key; 2 the 511-byte key P; 3..6 P+00,
 * P+01, P+80, P+ff; 7 the 511-byte key Q after P; 8 Q+00; 9 and 10 two
 * 512-byte keys R+10, R+20 whose 511-byte prefix R is never written. */
static void group_keys(struct group_keys *g)
{
    uint8_t p[511];
    static const uint8_t last[4] = {0x00, 0x01, 0x80, 0xff};
    for (size_t i = 0; i < sizeof p; i++) {
        p[i] = (uint8_t)('a' + i % 26);
    }
    p[510] = 0x50;
    memcpy(g->k[0], p, 510);
    g->len[0] = 510;
    memcpy(g->k[1], p, 511);
    g->k[1][510] = 0x4f;
    g->k[1][511] = 0x42;
    g->len[1] = 512;
    memcpy(g->k[2], p, 511);
    g->len[2] = 511;
    for (int i = 0; i < 4; i++) {
        memcpy(g->k[3 + i], p, 511);
        g->k[3 + i][511] = last[i];
        g->len[3 + i] = 512;
    }
    memcpy(g->k[7], p, 511);
    g->k[7][510] = 0x51;
    g->len[7] = 511;
    memcpy(g->k[8], g->k[7], 511);
    g->k[8][511] = 0x00;
    g->len[8] = 512;
    memcpy(g->k[9], p, 511);
    g->k[9][510] = 0x60;
    g->k[9][511] = 0x10;
    g->len[9] = 512;
    memcpy(g->k[10], g->k[9], 512);
    g->k[10][511] = 0x20;
    g->len[10] = 512;
}

static void gval(char *buf, size_t size, int i, int gen)
{
    snprintf(buf, size, "value-%d-%d", i, gen);
}

static void check_scan_order(struct fx *f, const char *bucket,
                             const struct group_keys *g, const bool *live,
                             uint64_t now)
{
    struct storage_scan sc;
    struct scanres r = {0};
    size_t j = 0;
    memset(&sc, 0, sizeof sc);
    sc.now = now;
    assert_int_equal(fx_scan(f, bucket, &sc, &r), CAIRN_OK);
    for (int i = 0; i < NG; i++) {
        if (!live[i]) {
            continue;
        }
        assert_true(j < r.n);
        assert_int_equal(r.e[j].key_len, g->len[i]);
        assert_memory_equal(r.e[j].key, g->k[i], g->len[i]);
        j++;
    }
    assert_int_equal(r.n, j);
    assert_int_equal(r.page.count, j);
    assert_false(r.page.more);
    scanres_free(&r);
}

static void test_group_keys(void **state)
{
    struct fx *f = *state;
    struct group_keys g;
    static const int order[NG] = {4, 2, 9, 6, 0, 3, 10, 8, 5, 1, 7};
    uint64_t rev[NG];
    bool live[NG];
    char v[32];
    struct storage_cmd c;
    struct storage_result r;
    struct hist h;
    struct got got;

    group_keys(&g);
    fx_bucket(f, "g", 4, 0, -1);
    for (int n = 0; n < NG; n++) {
        int i = order[n];
        gval(v, sizeof v, i, 0);
        rev[i] = fx_put_bytes(f, "g", g.k[i], g.len[i], S(v), T0);
        assert_int_equal(rev[i], (uint64_t)n + 1);
        live[i] = true;
    }
    for (int i = 0; i < NG; i++) {
        gval(v, sizeof v, i, 0);
        assert_int_equal(
            fx_expect_value(f, "g", g.k[i], g.len[i], 0, T0, S(v)), rev[i]);
        assert_int_equal(fx_history(f, "g", g.k[i], g.len[i], T0, &h),
                         CAIRN_OK);
        assert_int_equal(h.n, 1);
        assert_int_equal(h.e[0].revision, rev[i]);
        assert_int_equal(h.e[0].key_len, g.len[i]);
    }
    /* Absent members of present groups, and R itself. */
    {
        uint8_t k[CAIRN_KEY_MAX];
        memcpy(k, g.k[3], 512);
        k[511] = 0x02;
        assert_int_equal(fx_get(f, "g", k, 512, 0, T0, NULL), CAIRN_ENOTFOUND);
        assert_int_equal(fx_get(f, "g", g.k[9], 511, 0, T0, NULL),
                         CAIRN_ENOTFOUND);
        assert_int_equal(fx_history(f, "g", g.k[9], 511, T0, &h),
                         CAIRN_ENOTFOUND);
        assert_int_equal(fx_get(f, "g", g.k[0], 509, 0, T0, NULL),
                         CAIRN_ENOTFOUND);
    }
    check_scan_order(f, "g", &g, live, T0);
    assert_int_equal(fx_info(f, "g").keys, NG);

    /* Overwrite one member: the others keep their revisions. */
    gval(v, sizeof v, 5, 1);
    assert_int_equal(fx_put_bytes(f, "g", g.k[5], g.len[5], S(v), T0), 12);
    assert_int_equal(fx_history(f, "g", g.k[5], g.len[5], T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.e[0].revision, 12);
    assert_int_equal(h.e[1].revision, rev[5]);
    assert_memory_equal(h.e[0].value, v, strlen(v));
    rev[5] = 12;
    for (int i = 2; i <= 6; i++) {
        gval(v, sizeof v, i, i == 5 ? 1 : 0);
        assert_int_equal(
            fx_expect_value(f, "g", g.k[i], g.len[i], 0, T0, S(v)), rev[i]);
    }
    /* Conditional writes on members. */
    c = cmd_create(g.k[6], g.len[6], S("x"), T0);
    r = fx_apply(f, "g", &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, rev[6]);
    c = cmd_update(g.k[6], g.len[6], S("u6"), rev[5], T0);
    r = fx_apply(f, "g", &c, 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, rev[6]);
    c = cmd_update(g.k[6], g.len[6], S("u6"), rev[6], T0);
    r = fx_apply(f, "g", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 13);
    rev[6] = 13;
    gval(v, sizeof v, 3, 0);
    c = cmd_cas(g.k[3], g.len[3], S("c3"), S(v), true, T0);
    r = fx_apply(f, "g", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 14);
    rev[3] = 14;
    fx_expect_value(f, "g", g.k[3], g.len[3], 0, T0, S("c3"));

    /* Delete the 511-byte key: its 512-byte extensions stay. */
    c = cmd_delete(g.k[2], g.len[2], 0, T0);
    r = fx_apply(f, "g", &c, 0);
    assert_int_equal(r.revision, 15);
    live[2] = false;
    assert_int_equal(fx_get(f, "g", g.k[2], g.len[2], 0, T0, NULL),
                     CAIRN_ENOTFOUND);
    fx_expect_value(f, "g", g.k[3], g.len[3], 0, T0, S("c3"));
    fx_expect_value(f, "g", g.k[6], g.len[6], 0, T0, S("u6"));
    /* Delete a 512-byte member: the 511-byte marker and others stay. */
    c = cmd_delete(g.k[4], g.len[4], 0, T0);
    assert_int_equal(fx_apply(f, "g", &c, 0).revision, 16);
    live[4] = false;
    assert_int_equal(fx_history(f, "g", g.k[4], g.len[4], T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.e[0].op, CAIRN_OP_DEL);
    assert_int_equal(h.e[0].revision, 16);
    assert_int_equal(h.e[1].revision, rev[4]);
    assert_int_equal(fx_history(f, "g", g.k[2], g.len[2], T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.e[0].revision, 15);
    assert_int_equal(h.e[0].key_len, 511);
    /* Purge the last member of a group (ff). */
    c = cmd_purge(g.k[6], g.len[6], 0, T0);
    assert_int_equal(fx_apply(f, "g", &c, 0).revision, 17);
    live[6] = false;
    assert_int_equal(fx_history(f, "g", g.k[6], g.len[6], T0, &h), CAIRN_OK);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.e[0].op, CAIRN_OP_PURGE);
    assert_int_equal(fx_get(f, "g", g.k[6], g.len[6], rev[6], T0, NULL),
                     CAIRN_ENOTFOUND);
    check_scan_order(f, "g", &g, live, T0);
    assert_int_equal(fx_info(f, "g").keys, NG - 3);

    /* Re-create the deleted member: a new lifetime. */
    c = cmd_create(g.k[4], g.len[4], S("again"), T0);
    r = fx_apply(f, "g", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 18);
    live[4] = true;
    assert_int_equal(fx_get(f, "g", g.k[4], g.len[4], 0, T0, &got), CAIRN_OK);
    assert_int_equal(got.create_revision, 18);
    assert_int_equal(got.key_len, 512);
    assert_memory_equal(got.key, g.k[4], 512);
    got_free(&got);
    check_scan_order(f, "g", &g, live, T0);

    /* Everything survives a reopen. */
    fx_reopen(f, NULL);
    check_scan_order(f, "g", &g, live, T0);
    fx_expect_value(f, "g", g.k[4], g.len[4], 0, T0, S("again"));
    fx_expect_value(f, "g", g.k[3], g.len[3], rev[3], T0, S("c3"));
}

/* Scan @args and expect exactly the group keys @idx (in that order). */
static void expect_group_scan(struct fx *f, const char *bucket,
                              const struct storage_scan *args,
                              const struct group_keys *g, const int *idx,
                              size_t n, bool more)
{
    struct scanres r = {0};
    uint64_t cnt;
    assert_int_equal(fx_scan(f, bucket, args, &r), CAIRN_OK);
    if (r.n != n) {
        print_error("group scan: %zu keys, want %zu\n", r.n, n);
    }
    assert_int_equal(r.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r.e[i].key_len, g->len[idx[i]]);
        assert_memory_equal(r.e[i].key, g->k[idx[i]], g->len[idx[i]]);
    }
    assert_int_equal(r.page.more, more);
    scanres_free(&r);
    assert_int_equal(fx_count(f, bucket, args, &cnt), CAIRN_OK);
    assert_int_equal(cnt, n);
}

static void test_group_keys_scan(void **state)
{
    struct fx *f = *state;
    struct group_keys g;
    struct storage_scan sc;
    uint8_t absent[CAIRN_KEY_MAX];
    uint8_t cursor[STORAGE_CURSOR_MAX];
    group_keys(&g);
    fx_bucket(f, "g", 1, 0, -1);
    for (int i = NG - 1; i >= 0; i--) {
        fx_put_bytes(f, "g", g.k[i], g.len[i], S("v"), T0);
    }
    /* Pages of every size walk the keys in order, resuming exactly after
     * the last key (cursors inside a group included). */
    for (uint32_t limit = 1; limit <= NG; limit++) {
        size_t seen = 0;
        memset(&sc, 0, sizeof sc);
        sc.now = T0;
        sc.limit = limit;
        for (int pages = 0;; pages++) {
            struct scanres r = {0};
            assert_true(pages <= NG);
            assert_int_equal(fx_scan(f, "g", &sc, &r), CAIRN_OK);
            for (size_t i = 0; i < r.n; i++, seen++) {
                assert_true(seen < NG);
                assert_int_equal(r.e[i].key_len, g.len[seen]);
                assert_memory_equal(r.e[i].key, g.k[seen], g.len[seen]);
            }
            assert_int_equal(r.page.more, seen < NG);
            if (!r.page.more) {
                scanres_free(&r);
                break;
            }
            assert_int_equal(r.page.cursor_len, 1 + g.len[seen - 1]);
            assert_int_equal(r.page.cursor[0], 1);
            assert_memory_equal(r.page.cursor + 1, g.k[seen - 1],
                                g.len[seen - 1]);
            memcpy(cursor, r.page.cursor, r.page.cursor_len);
            sc.cursor = cursor;
            sc.cursor_len = r.page.cursor_len;
            scanres_free(&r);
        }
        assert_int_equal(seen, NG);
    }
    /* Prefixes of 510, 511 and 512 bytes. */
    memset(&sc, 0, sizeof sc);
    sc.now = T0;
    sc.prefix = g.k[0];
    sc.prefix_len = 510;
    {
        const int want[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        expect_group_scan(f, "g", &sc, &g, want, 11, false);
    }
    sc.prefix = g.k[2];
    sc.prefix_len = 511;
    {
        const int want[] = {2, 3, 4, 5, 6};
        expect_group_scan(f, "g", &sc, &g, want, 5, false);
    }
    sc.prefix = g.k[4];
    sc.prefix_len = 512;
    {
        const int want[] = {4};
        expect_group_scan(f, "g", &sc, &g, want, 1, false);
    }
    sc.prefix = g.k[9]; /* R: 511 bytes, not itself a key */
    sc.prefix_len = 511;
    {
        const int want[] = {9, 10};
        expect_group_scan(f, "g", &sc, &g, want, 2, false);
    }
    sc.prefix = g.k[2];
    sc.prefix_len = 511;
    sc.limit = 2;
    {
        const int want[] = {2, 3};
        expect_group_scan(f, "g", &sc, &g, want, 2, true);
    }
    /* start and end inside a group. */
    memset(&sc, 0, sizeof sc);
    sc.now = T0;
    sc.start = g.k[4];
    sc.start_len = 512;
    sc.end = g.k[6];
    sc.end_len = 512;
    {
        const int want[] = {4, 5};
        expect_group_scan(f, "g", &sc, &g, want, 2, false);
    }
    memcpy(absent, g.k[3], 512);
    absent[511] = 0x02; /* between P+01 and P+80, not stored */
    sc.start = absent;
    sc.end = g.k[7];
    sc.end_len = 511;
    {
        const int want[] = {5, 6};
        expect_group_scan(f, "g", &sc, &g, want, 2, false);
    }
    /* end = the 511-byte key P excludes P and its extensions. */
    sc.start = NULL;
    sc.start_len = 0;
    sc.end = g.k[2];
    sc.end_len = 511;
    {
        const int want[] = {0, 1};
        expect_group_scan(f, "g", &sc, &g, want, 2, false);
    }
    /* A hand-made cursor at an absent member resumes after it. */
    memset(&sc, 0, sizeof sc);
    sc.now = T0;
    cursor[0] = 1;
    memcpy(cursor + 1, absent, 512);
    sc.cursor = cursor;
    sc.cursor_len = 513;
    {
        const int want[] = {5, 6, 7, 8, 9, 10};
        expect_group_scan(f, "g", &sc, &g, want, 6, false);
    }
    /* A cursor at the 511-byte key P resumes at P+00. */
    memcpy(cursor + 1, g.k[2], 511);
    sc.cursor_len = 512;
    sc.limit = 1;
    {
        const int want[] = {3};
        expect_group_scan(f, "g", &sc, &g, want, 1, true);
    }
    /* Deleting members: scans skip them, counts follow. */
    {
        struct storage_cmd c = cmd_delete(g.k[3], 512, 0, T0);
        assert_int_equal(fx_apply(f, "g", &c, 0).code, CAIRN_OK);
        c = cmd_purge(g.k[2], 511, 0, T0);
        assert_int_equal(fx_apply(f, "g", &c, 0).code, CAIRN_OK);
        sc.limit = 0;
        {
            const int want[] = {4, 5, 6, 7, 8, 9, 10};
            expect_group_scan(f, "g", &sc, &g, want, 7, false);
        }
        memset(&sc, 0, sizeof sc);
        sc.now = T0;
        sc.prefix = g.k[2];
        sc.prefix_len = 511;
        {
            const int want[] = {4, 5, 6};
            expect_group_scan(f, "g", &sc, &g, want, 3, false);
        }
    }
    assert_int_equal(fx_info(f, "g").keys, NG - 2);
    /* bytes: every member's key and value ("v"), markers' keys. */
    {
        uint64_t want = 0;
        for (int i = 0; i < NG; i++) {
            want += g.len[i] + (i == 2 || i == 3 ? 0 : 1);
        }
        assert_int_equal(fx_info(f, "g").bytes, want);
    }
}

static void test_batch_refusals_keep_the_rest(void **state)
{
    struct fx *f = *state;
    storage_txn *t = NULL;
    struct storage_cmd c;
    struct storage_result r;
    uint8_t v[100];
    struct storage_bucket_info info;
    memset(v, 'v', sizeof v);
    fx_bucket(f, "q", 1, 0, 100);
    assert_int_equal(storage_write_begin(f->s, &t, f->err), CAIRN_OK);
    c = cmd_put(S("a"), v, 50, T0); /* 51 */
    assert_int_equal(storage_write_apply(t, "q", &c, 1, &r, f->err), 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    c = cmd_put(S("b"), v, 60, T0); /* 61: 112 > 100 */
    assert_int_equal(storage_write_apply(t, "q", &c, 2, &r, f->err), 0);
    assert_refused(&r, CAIRN_EFULL);
    c = cmd_put(S("c"), v, 40, T0); /* 41: 92 */
    assert_int_equal(storage_write_apply(t, "q", &c, 3, &r, f->err), 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    c = cmd_update(S("a"), v, 1, 99, T0); /* conflict */
    assert_int_equal(storage_write_apply(t, "q", &c, 4, &r, f->err), 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    assert_int_equal(storage_write_commit(t, f->err), CAIRN_OK);
    info = fx_info(f, "q");
    assert_int_equal(info.bytes, 92);
    assert_int_equal(info.keys, 2);
    assert_int_equal(info.last_revision, 2);
    assert_int_equal(info.applied_index, 4);
    assert_int_equal(fx_get(f, "q", S("b"), 0, T0, NULL), CAIRN_ENOTFOUND);
    fx_expect_value(f, "q", S("a"), 0, T0, v, 50);
    fx_expect_value(f, "q", S("c"), 0, T0, v, 40);
    /* An empty batch commits. */
    assert_int_equal(storage_write_begin(f->s, &t, f->err), CAIRN_OK);
    assert_int_equal(storage_write_commit(t, f->err), CAIRN_OK);
    assert_int_equal(fx_info(f, "q").last_revision, 2);
}

/* ---- batched writes ---------------------------------------------------- */

static void test_batch_commit(void **state)
{
    struct fx *f = *state;
    storage_txn *t = NULL;
    struct storage_cmd c;
    struct storage_result r;
    fx_bucket(f, "o", 1, 0, -1);
    assert_int_equal(storage_write_begin(f->s, &t, f->err), CAIRN_OK);
    c = cmd_put(S("a"), S("1"), T0);
    assert_int_equal(storage_write_apply(t, B, &c, 1, &r, f->err), 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 1);
    c = cmd_create(S("a"), S("2"), T0); /* sees the first command */
    assert_int_equal(storage_write_apply(t, B, &c, 2, &r, f->err), 0);
    assert_refused(&r, CAIRN_ECONFLICT);
    assert_int_equal(r.current_revision, 1);
    c = cmd_put(S("b"), S("3"), T0);
    assert_int_equal(storage_write_apply(t, B, &c, 3, &r, f->err), 0);
    assert_int_equal(r.revision, 2);
    assert_int_equal(storage_write_apply(t, "o", &c, 3, &r, f->err), 0);
    assert_int_equal(r.revision, 1);
    c = cmd_put(S("c"), S("4"), T0);
    assert_int_equal(storage_write_apply(t, B, &c, 3, &r, f->err), 0);
    assert_true(r.skipped); /* index 3 already applied in this batch */
    assert_int_equal(storage_write_apply(t, "nope", &c, 4, &r, f->err), 0);
    assert_int_equal(r.code, CAIRN_ENOBUCKET);
    assert_int_equal(storage_write_commit(t, f->err), CAIRN_OK);

    fx_expect_value(f, B, S("a"), 0, T0, S("1"));
    fx_expect_value(f, B, S("b"), 0, T0, S("3"));
    fx_expect_value(f, "o", S("b"), 0, T0, S("3"));
    assert_int_equal(fx_get(f, B, S("c"), 0, T0, NULL), CAIRN_ENOTFOUND);
    assert_int_equal(fx_info(f, B).last_revision, 2);
    assert_int_equal(fx_info(f, B).applied_index, 3);
    assert_int_equal(fx_info(f, "o").applied_index, 3);
}

static void test_batch_abort(void **state)
{
    struct fx *f = *state;
    storage_txn *t = NULL;
    struct storage_cmd c;
    struct storage_result r;
    fx_put(f, B, "keep", "k", T0); /* 1 */
    assert_int_equal(storage_write_begin(f->s, &t, f->err), CAIRN_OK);
    c = cmd_put(S("a"), S("1"), T0);
    assert_int_equal(storage_write_apply(t, B, &c, 7, &r, f->err), 0);
    assert_int_equal(r.revision, 2);
    c = cmd_delete(S("keep"), 0, T0);
    assert_int_equal(storage_write_apply(t, B, &c, 8, &r, f->err), 0);
    assert_int_equal(r.revision, 3);
    storage_txn_end(t);

    assert_int_equal(fx_get(f, B, S("a"), 0, T0, NULL), CAIRN_ENOTFOUND);
    fx_expect_value(f, B, S("keep"), 0, T0, S("k"));
    assert_int_equal(fx_info(f, B).last_revision, 1);
    assert_int_equal(fx_info(f, B).applied_index, 0);
    /* The same commands apply afterwards with the same revisions. */
    c = cmd_put(S("a"), S("1"), T0);
    assert_int_equal(fx_apply(f, B, &c, 7).revision, 2);
    storage_txn_end(NULL);
}

static void test_read_view_is_consistent(void **state)
{
    struct fx *f = *state;
    storage_txn *t = NULL;
    struct storage_entry e;
    fx_put(f, B, "a", "old", T0);
    assert_int_equal(storage_read_begin(f->s, &t, f->err), CAIRN_OK);
    fx_put(f, B, "a", "new", T0);
    fx_put(f, B, "b", "x", T0);
    assert_int_equal(storage_get(t, B, S("a"), 0, T0, &e, f->err), CAIRN_OK);
    assert_int_equal(e.value_len, 3);
    assert_memory_equal(e.value, "old", 3);
    assert_int_equal(e.revision, 1);
    assert_int_equal(storage_get(t, B, S("b"), 0, T0, NULL, f->err),
                     CAIRN_ENOTFOUND);
    storage_txn_end(t);
    fx_expect_value(f, B, S("a"), 0, T0, S("new"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(test_key_length),
        TEST(test_key_length_every_command),
        TEST(test_value_limit_default),
        TEST(test_value_limit_custom),
        TEST(test_value_limit_hard),
        TEST(test_meta_limit),
        TEST(test_max_bytes_boundary),
        TEST(test_max_bytes_delete_when_full),
        TEST(test_put),
        TEST(test_create),
        TEST(test_update),
        TEST(test_cas),
        TEST(test_delete),
        TEST(test_purge),
        TEST(test_history_limit),
        TEST(test_history_64),
        TEST(test_history_markers_count),
        TEST(test_refused_take_no_revision),
        TEST(test_unknown_command_type),
        TEST(test_index_skipped),
        TEST(test_group_keys),
        TEST(test_group_keys_scan),
        TEST(test_batch_refusals_keep_the_rest),
        TEST(test_batch_commit),
        TEST(test_batch_abort),
        TEST(test_read_view_is_consistent),
    };
    RUN_TESTS("storage_write", tests, argc, argv);
}
