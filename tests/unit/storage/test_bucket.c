/* Buckets: config validation, create/delete/list/info, limits of the
 * environment (max_buckets, map size), storage_open errors, persistence. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"

/* Create @cfg and expect @want; for CAIRN_EINVAL the message must name
 * @field and no bucket may exist afterwards. */
static void expect_create(struct fx *f, const cairn_bucket_config *cfg,
                          int want, const char *field)
{
    struct storage_bucket_info info;
    char name[CAIRN_BUCKET_NAME_MAX + 2];
    int rc = fx_bucket_cfg(f, cfg, T0);
    if (rc != want) {
        print_error("create '%.65s': got %d (%s), want %d\n", cfg->name, rc,
                    f->err, want);
    }
    assert_int_equal(rc, want);
    if (want == CAIRN_EINVAL) {
        assert_msg_has(f->err, field);
        /* A valid name whose config was refused: nothing created. */
        memcpy(name, cfg->name, sizeof cfg->name);
        name[sizeof cfg->name] = '\0';
        if (strcmp(field, "name") != 0) {
            assert_int_equal(storage_bucket_info(f->s, name, &info, f->err),
                             CAIRN_ENOBUCKET);
        }
    } else if (want == CAIRN_OK) {
        assert_int_equal(storage_bucket_delete(f->s, cfg->name, f->err),
                         CAIRN_OK);
    }
}

static void test_config_name(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    const char *bad[] = {"a.b", "a b", "a/b", "a:b", "\xc3\xa9t\xc3\xa9", ""};
    char name64[65];

    memset(name64, 'n', 64);
    name64[64] = '\0';
    cairn_bucket_config_init(&cfg, name64);
    expect_create(f, &cfg, CAIRN_OK, NULL);

    cairn_bucket_config_init(&cfg, "x");
    memset(cfg.name, 'n', sizeof cfg.name); /* 65 characters, no NUL */
    expect_create(f, &cfg, CAIRN_EINVAL, "name");

    cairn_bucket_config_init(&cfg, "Az09_-");
    expect_create(f, &cfg, CAIRN_OK, NULL);
    cairn_bucket_config_init(&cfg, "a");
    expect_create(f, &cfg, CAIRN_OK, NULL);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cairn_bucket_config_init(&cfg, bad[i]);
        expect_create(f, &cfg, CAIRN_EINVAL, "name");
    }
}

static void test_config_history(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    const uint32_t ok[] = {1, 2, 63, 64};
    const uint32_t bad[] = {0, 65, 1000, UINT32_MAX};
    for (size_t i = 0; i < 4; i++) {
        cairn_bucket_config_init(&cfg, "h");
        cfg.history = ok[i];
        expect_create(f, &cfg, CAIRN_OK, NULL);
    }
    for (size_t i = 0; i < 4; i++) {
        cairn_bucket_config_init(&cfg, "h");
        cfg.history = bad[i];
        expect_create(f, &cfg, CAIRN_EINVAL, "history");
    }
}

static void test_config_num_replicas(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    for (uint32_t n = 0; n <= 7; n++) {
        cairn_bucket_config_init(&cfg, "r");
        cfg.num_replicas = n;
        if (n >= 1 && n <= 5) {
            expect_create(f, &cfg, CAIRN_OK, NULL);
        } else {
            expect_create(f, &cfg, CAIRN_EINVAL, "num_replicas");
        }
    }
}

static void test_config_ttl(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    cairn_bucket_config_init(&cfg, "t");
    cfg.ttl_ns = -1;
    expect_create(f, &cfg, CAIRN_EINVAL, "ttl");
    cfg.ttl_ns = INT64_MIN;
    expect_create(f, &cfg, CAIRN_EINVAL, "ttl");
    cfg.ttl_ns = 0;
    expect_create(f, &cfg, CAIRN_OK, NULL);
    cfg.ttl_ns = 1;
    expect_create(f, &cfg, CAIRN_OK, NULL);
}

static void test_config_max_bytes(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    const int64_t bad[] = {0, -2, INT64_MIN};
    const int64_t ok[] = {-1, 1, INT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        cairn_bucket_config_init(&cfg, "m");
        cfg.max_bytes = bad[i];
        expect_create(f, &cfg, CAIRN_EINVAL, "max_bytes");
        cfg.max_bytes = ok[i];
        expect_create(f, &cfg, CAIRN_OK, NULL);
    }
}

static void test_config_max_value_size(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    const int64_t bad[] = {0, -2, (int64_t)CAIRN_VALUE_HARD_MAX + 1};
    const int64_t ok[] = {-1, 1, CAIRN_VALUE_HARD_MAX};
    for (size_t i = 0; i < 3; i++) {
        cairn_bucket_config_init(&cfg, "v");
        cfg.max_value_size = bad[i];
        expect_create(f, &cfg, CAIRN_EINVAL, "max_value_size");
        cfg.max_value_size = ok[i];
        expect_create(f, &cfg, CAIRN_OK, NULL);
    }
}

static void test_config_storage_kind(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    cairn_bucket_config_init(&cfg, "s");
    cfg.storage = 2;
    expect_create(f, &cfg, CAIRN_EINVAL, "storage");
    cfg.storage = CAIRN_STORAGE_MEMORY;
    expect_create(f, &cfg, CAIRN_OK, NULL);
    cfg.storage = CAIRN_STORAGE_FILE;
    expect_create(f, &cfg, CAIRN_OK, NULL);
}

static void test_config_tags(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    const char *bad[] = {"zone", ":a", "a:", ":", ""};

    cairn_bucket_config_init(&cfg, "tg");
    cfg.n_tags = 1;
    strcpy(cfg.tags[0], "zone:a");
    expect_create(f, &cfg, CAIRN_OK, NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(cfg.tags[0], bad[i]);
        expect_create(f, &cfg, CAIRN_EINVAL, "tag");
    }
    /* 128 bytes ok; 129 (no NUL in the array) refused. */
    memset(cfg.tags[0], 'a', CAIRN_TAG_MAX);
    cfg.tags[0][1] = ':';
    cfg.tags[0][CAIRN_TAG_MAX] = '\0';
    expect_create(f, &cfg, CAIRN_OK, NULL);
    memset(cfg.tags[0], 'a', CAIRN_TAG_MAX + 1);
    cfg.tags[0][1] = ':';
    expect_create(f, &cfg, CAIRN_EINVAL, "tag");

    cfg.n_tags = CAIRN_TAGS_MAX;
    for (int i = 0; i < CAIRN_TAGS_MAX; i++) {
        snprintf(cfg.tags[i], CAIRN_TAG_MAX + 1, "k%d:v", i);
    }
    expect_create(f, &cfg, CAIRN_OK, NULL);
    cfg.n_tags = CAIRN_TAGS_MAX + 1;
    expect_create(f, &cfg, CAIRN_EINVAL, "tag");
}

static void test_config_metadata(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    cairn_bucket_config_init(&cfg, "md");
    cfg.n_metadata = CAIRN_METADATA_PAIRS_MAX;
    for (int i = 0; i < CAIRN_METADATA_PAIRS_MAX; i++) {
        snprintf(cfg.metadata[i].key, sizeof cfg.metadata[i].key, "key%d", i);
        snprintf(cfg.metadata[i].value, sizeof cfg.metadata[i].value, "v%d",
                 i);
    }
    expect_create(f, &cfg, CAIRN_OK, NULL);
    cfg.n_metadata = CAIRN_METADATA_PAIRS_MAX + 1;
    expect_create(f, &cfg, CAIRN_EINVAL, "metadata");
    cfg.n_metadata = 2;
    strcpy(cfg.metadata[1].key, "key0");
    expect_create(f, &cfg, CAIRN_EINVAL, "metadata");
    cfg.metadata[1].key[0] = '\0';
    expect_create(f, &cfg, CAIRN_EINVAL, "metadata");
}

static void test_config_description(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    cairn_bucket_config_init(&cfg, "d");
    memset(cfg.description, 'd', CAIRN_DESCRIPTION_MAX);
    cfg.description[CAIRN_DESCRIPTION_MAX] = '\0';
    expect_create(f, &cfg, CAIRN_OK, NULL);
    memset(cfg.description, 'd', sizeof cfg.description);
    expect_create(f, &cfg, CAIRN_EINVAL, "description");
}

static void test_create_twice(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    struct storage_bucket_info info;
    cairn_bucket_config_init(&cfg, "dup");
    cfg.history = 3;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0 + 1), CAIRN_OK);
    fx_put(f, "dup", "k", "v", T0 + 2);
    cfg.history = 5;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0 + 3), CAIRN_EEXIST);
    assert_true(f->err[0] != '\0');
    /* The first bucket is untouched. */
    info = fx_info(f, "dup");
    assert_int_equal(info.config.history, 3);
    assert_int_equal(info.created, T0 + 1);
    assert_int_equal(info.last_revision, 1);
    fx_expect_value(f, "dup", S("k"), 0, T0 + 4, S("v"));
    /* The fixture's bucket too. */
    cairn_bucket_config_init(&cfg, B);
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), CAIRN_EEXIST);
}

struct names {
    int n;
    char name[16][CAIRN_BUCKET_NAME_MAX + 1];
    int stop_at; /* return 7 at this call (1-based); 0: never */
};

static int list_cb(void *arg, const char *name)
{
    struct names *l = arg;
    assert_true(l->n < 16);
    snprintf(l->name[l->n], sizeof l->name[l->n], "%s", name);
    l->n++;
    return l->n == l->stop_at ? 7 : 0;
}

static void test_list_byte_order(void **state)
{
    struct fx *f = *state;
    const char *create[] = {"b2", "B", "a", "_x", "-y", "0", "ab", "a-"};
    /* The fixture's "b" is there too. Byte order: '-' 0x2d < '0' 0x30 <
     * 'B' 0x42 < '_' 0x5f < 'a' 0x61 < 'b' 0x62. */
    const char *want[] = {"-y", "0", "B", "_x", "a", "a-", "ab", "b", "b2"};
    struct names l;
    for (size_t i = 0; i < 8; i++) {
        fx_bucket(f, create[i], 1, 0, -1);
    }
    memset(&l, 0, sizeof l);
    assert_int_equal(storage_bucket_list(f->s, list_cb, &l, f->err), 0);
    assert_int_equal(l.n, 9);
    for (int i = 0; i < 9; i++) {
        assert_string_equal(l.name[i], want[i]);
    }
    /* A non-zero callback return stops the listing and is returned. */
    memset(&l, 0, sizeof l);
    l.stop_at = 3;
    assert_int_equal(storage_bucket_list(f->s, list_cb, &l, f->err), 7);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.name[2], "B");
    /* Deleted buckets leave the list. */
    assert_int_equal(storage_bucket_delete(f->s, "B", f->err), CAIRN_OK);
    memset(&l, 0, sizeof l);
    assert_int_equal(storage_bucket_list(f->s, list_cb, &l, f->err), 0);
    assert_int_equal(l.n, 8);
    assert_string_equal(l.name[2], "_x");
}

static void test_list_empty(void **state)
{
    struct fx *f = *state;
    struct names l;
    memset(&l, 0, sizeof l);
    assert_int_equal(storage_bucket_list(f->s, list_cb, &l, f->err), 0);
    assert_int_equal(l.n, 0);
}

static void full_config(cairn_bucket_config *cfg)
{
    cairn_bucket_config_init(cfg, "full");
    strcpy(cfg->description, "a bucket with every field set");
    cfg->ttl_ns = 123456789;
    cfg->history = 7;
    cfg->max_bytes = 1 << 30;
    cfg->max_value_size = 4096;
    cfg->storage = CAIRN_STORAGE_MEMORY;
    cfg->num_replicas = 3;
    cfg->compression = true;
    strcpy(cfg->cluster, "eu-west");
    cfg->n_tags = 2;
    strcpy(cfg->tags[0], "zone:a");
    strcpy(cfg->tags[1], "disk:ssd");
    cfg->n_metadata = 2;
    strcpy(cfg->metadata[0].key, "owner");
    strcpy(cfg->metadata[0].value, "team-x");
    strcpy(cfg->metadata[1].key, "empty");
    strcpy(cfg->metadata[1].value, "");
}

static void assert_config_equal(const cairn_bucket_config *a,
                                const cairn_bucket_config *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->description, b->description);
    assert_int_equal(a->ttl_ns, b->ttl_ns);
    assert_int_equal(a->history, b->history);
    assert_int_equal(a->max_bytes, b->max_bytes);
    assert_int_equal(a->max_value_size, b->max_value_size);
    assert_int_equal(a->storage, b->storage);
    assert_int_equal(a->num_replicas, b->num_replicas);
    assert_int_equal(a->compression, b->compression);
    assert_string_equal(a->cluster, b->cluster);
    assert_int_equal(a->n_tags, b->n_tags);
    for (uint32_t i = 0; i < a->n_tags; i++) {
        assert_string_equal(a->tags[i], b->tags[i]);
    }
    assert_int_equal(a->n_metadata, b->n_metadata);
    for (uint32_t i = 0; i < a->n_metadata; i++) {
        /* Metadata is a map: compare as sets. */
        bool found = false;
        for (uint32_t j = 0; j < b->n_metadata; j++) {
            if (strcmp(a->metadata[i].key, b->metadata[j].key) == 0) {
                assert_string_equal(a->metadata[i].value,
                                    b->metadata[j].value);
                found = true;
            }
        }
        assert_true(found);
    }
}

static void test_info_new_bucket(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    struct storage_bucket_info info;
    full_config(&cfg);
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0 + 42), CAIRN_OK);
    info = fx_info(f, "full");
    assert_config_equal(&info.config, &cfg);
    assert_int_equal(info.created, T0 + 42);
    assert_int_equal(info.keys, 0);
    assert_int_equal(info.bytes, 0);
    assert_int_equal(info.last_revision, 0);
    assert_int_equal(info.compacted_revision, 0);
    assert_int_equal(info.applied_index, 0);

    /* Defaults survive too. */
    info = fx_info(f, B);
    cairn_bucket_config_init(&cfg, B);
    assert_config_equal(&info.config, &cfg);
    assert_int_equal(info.created, T0);
}

static void test_info_counters(void **state)
{
    struct fx *f = *state;
    struct storage_bucket_info info;
    struct storage_cmd c;
    struct storage_result r;

    fx_bucket(f, "c", 2, 0, -1);
    fx_put(f, "c", "k1", "hello", T0);       /* 2 + 5 */
    c = cmd_put(S("key2"), S("vv"), T0 + 1); /* 4 + 2 + 3 (meta) */
    c.w.meta = "abc";
    c.w.meta_len = 3;
    r = fx_apply(f, "c", &c, 10);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 2);
    info = fx_info(f, "c");
    assert_int_equal(info.keys, 2);
    assert_int_equal(info.bytes, 7 + 9);
    assert_int_equal(info.last_revision, 2);
    assert_int_equal(info.applied_index, 10);

    /* A second revision of k1 is kept (history 2): both count. */
    fx_put(f, "c", "k1", "abc", T0 + 2); /* 2 + 3 */
    info = fx_info(f, "c");
    assert_int_equal(info.keys, 2);
    assert_int_equal(info.bytes, 7 + 9 + 5);
    assert_int_equal(info.last_revision, 3);
    /* A third drops the first (history 2). */
    fx_put(f, "c", "k1", "x", T0 + 3); /* 2 + 1 */
    info = fx_info(f, "c");
    assert_int_equal(info.bytes, 9 + 5 + 3);
    assert_int_equal(info.last_revision, 4);

    /* Deleting: the key no longer counts in keys; the DEL marker's key
     * counts in bytes (it is a kept revision); history 2 drops "abc". */
    c = cmd_delete(S("k1"), 0, T0 + 4);
    r = fx_apply(f, "c", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 5);
    info = fx_info(f, "c");
    assert_int_equal(info.keys, 1);
    assert_int_equal(info.bytes, 9 + 3 + 2);
    assert_int_equal(info.last_revision, 5);
    assert_int_equal(info.applied_index, 10);

    /* Purging drops everything of the key but one marker. */
    c = cmd_purge(S("key2"), 0, T0 + 5);
    r = fx_apply(f, "c", &c, 0);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(r.revision, 6);
    info = fx_info(f, "c");
    assert_int_equal(info.keys, 0);
    assert_int_equal(info.bytes, 3 + 2 + 4);
    assert_int_equal(info.last_revision, 6);
}

static void test_delete_then_create_is_empty(void **state)
{
    struct fx *f = *state;
    struct storage_bucket_info info;
    cairn_bucket_config cfg;
    struct hist h;
    fx_put(f, B, "k", "v1", T0);
    fx_put(f, B, "k2", "v2", T0);
    assert_int_equal(storage_bucket_delete(f->s, B, f->err), CAIRN_OK);
    assert_int_equal(storage_bucket_info(f->s, B, &info, f->err),
                     CAIRN_ENOBUCKET);
    assert_int_equal(storage_bucket_delete(f->s, B, f->err), CAIRN_ENOBUCKET);

    cairn_bucket_config_init(&cfg, B);
    cfg.history = 4;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0 + 100), CAIRN_OK);
    info = fx_info(f, B);
    assert_int_equal(info.config.history, 4);
    assert_int_equal(info.created, T0 + 100);
    assert_int_equal(info.keys, 0);
    assert_int_equal(info.bytes, 0);
    assert_int_equal(info.last_revision, 0);
    assert_int_equal(fx_get(f, B, S("k"), 0, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    assert_int_equal(fx_history(f, B, S("k"), T0 + 101, &h), CAIRN_ENOTFOUND);
    assert_int_equal(fx_get(f, B, S("k"), 1, T0 + 101, NULL),
                     CAIRN_ENOTFOUND);
    /* A fresh counter. */
    assert_int_equal(fx_put(f, B, "k", "new", T0 + 102), 1);
    fx_expect_value(f, B, S("k"), 0, T0 + 103, S("new"));
}

static int never_cb(void *arg, const struct storage_entry *e)
{
    (void)arg;
    (void)e;
    fail_msg("callback called for an unknown bucket");
    return 0;
}

static void test_unknown_bucket(void **state)
{
    struct fx *f = *state;
    struct storage_cmd cmds[7];
    struct cairn_write w = wr_put(S("k"), S("v"));
    struct storage_bucket_info info;
    struct storage_scan sc;
    struct storage_page page;
    storage_txn *t;
    uint64_t n;
    void *buf = NULL;
    size_t len = 0;

    cmds[0] = cmd_put(S("k"), S("v"), T0);
    cmds[1] = cmd_create(S("k"), S("v"), T0);
    cmds[2] = cmd_update(S("k"), S("v"), 1, T0);
    cmds[3] = cmd_delete(S("k"), 0, T0);
    cmds[4] = cmd_purge(S("k"), 0, T0);
    cmds[5] = cmd_expire(T0);
    cmds[6] = cmd_txn(NULL, 0, &w, 1, T0);
    for (int i = 0; i < 7; i++) {
        struct storage_result r = fx_apply(f, "nope", &cmds[i], 0);
        assert_int_equal(r.code, CAIRN_ENOBUCKET);
        assert_int_equal(r.revision, 0);
        assert_true(r.errmsg[0] != '\0');
    }
    assert_int_equal(fx_get(f, "nope", S("k"), 0, T0, NULL), CAIRN_ENOBUCKET);
    {
        struct hist h;
        assert_int_equal(fx_history(f, "nope", S("k"), T0, &h),
                         CAIRN_ENOBUCKET);
    }
    memset(&sc, 0, sizeof sc);
    sc.now = T0;
    assert_int_equal(storage_read_begin(f->s, &t, f->err), CAIRN_OK);
    assert_int_equal(
        storage_scan(t, "nope", &sc, never_cb, NULL, &page, f->err),
        CAIRN_ENOBUCKET);
    assert_int_equal(storage_count(t, "nope", &sc, &n, f->err),
                     CAIRN_ENOBUCKET);
    storage_txn_end(t);
    assert_int_equal(storage_bucket_info(f->s, "nope", &info, f->err),
                     CAIRN_ENOBUCKET);
    assert_int_equal(storage_bucket_delete(f->s, "nope", f->err),
                     CAIRN_ENOBUCKET);
    assert_int_equal(storage_snapshot(f->s, "nope", &buf, &len, f->err),
                     CAIRN_ENOBUCKET);
    free(buf);
    /* The bucket names differ only in case: still unknown. */
    assert_int_equal(storage_bucket_info(f->s, "B", &info, f->err),
                     CAIRN_ENOBUCKET);
}

static void test_max_buckets(void **state)
{
    struct fx *f = *state;
    struct storage_options o = {0};
    cairn_bucket_config cfg;
    o.max_buckets = 2;
    fx_reopen(f, &o);
    fx_bucket(f, "one", 1, 0, -1);
    fx_bucket(f, "two", 1, 0, -1);
    cairn_bucket_config_init(&cfg, "three");
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), CAIRN_ENOSPACE);
    assert_true(f->err[0] != '\0');
    {
        struct storage_bucket_info info;
        assert_int_equal(storage_bucket_info(f->s, "three", &info, f->err),
                         CAIRN_ENOBUCKET);
    }
    /* Deleting one makes room again. */
    assert_int_equal(storage_bucket_delete(f->s, "one", f->err), CAIRN_OK);
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), CAIRN_OK);
    fx_put(f, "three", "k", "v", T0);
    fx_put(f, "two", "k", "v", T0);
    cairn_bucket_config_init(&cfg, "four");
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), CAIRN_ENOSPACE);
}

static void test_open_regular_file(void **state)
{
    struct fx *f = *state;
    char path[600];
    char err[CAIRN_ERRMSG_SIZE] = "";
    storage *s = NULL;
    int fd;
    snprintf(path, sizeof path, "%s/plain-file", f->dir);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    assert_int_equal(storage_open(path, NULL, &s, err), CAIRN_EIO);
    assert_msg_has(err, path);
    /* A directory below a regular file cannot be created either. */
    snprintf(path, sizeof path, "%s/plain-file/sub", f->dir);
    err[0] = '\0';
    assert_int_equal(storage_open(path, NULL, &s, err), CAIRN_EIO);
    assert_msg_has(err, "plain-file");
}

static void test_open_creates_missing_dir(void **state)
{
    struct fx *f = *state;
    char path[600];
    storage *s = NULL;
    struct stat st;
    snprintf(path, sizeof path, "%s/new-dir", f->dir);
    assert_int_equal(storage_open(path, NULL, &s, f->err), CAIRN_OK);
    assert_non_null(s);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    storage_close(s);
    storage_close(NULL);
}

static void test_reopen_persists(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    struct storage_bucket_info info;
    struct storage_cmd c;
    struct storage_result r;
    full_config(&cfg);
    cfg.ttl_ns = 0;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0 + 5), CAIRN_OK);
    fx_put(f, "full", "a", "1", T0 + 6);
    c = cmd_put(S("b"), S("2"), T0 + 7);
    r = fx_apply(f, "full", &c, 33);
    assert_int_equal(r.revision, 2);
    fx_put(f, B, "x", "y", T0);

    fx_reopen(f, NULL);
    info = fx_info(f, "full");
    assert_config_equal(&info.config, &cfg);
    assert_int_equal(info.created, T0 + 5);
    assert_int_equal(info.keys, 2);
    assert_int_equal(info.bytes, 4);
    assert_int_equal(info.last_revision, 2);
    assert_int_equal(info.applied_index, 33);
    fx_expect_value(f, "full", S("a"), 0, T0 + 8, S("1"));
    fx_expect_value(f, "full", S("b"), 2, T0 + 8, S("2"));
    fx_expect_value(f, B, S("x"), 0, T0 + 8, S("y"));
    /* The counter continues; the applied index still skips. */
    assert_int_equal(fx_put(f, "full", "a", "3", T0 + 9), 3);
    r = fx_apply(f, "full", &c, 33);
    assert_true(r.skipped);
    assert_int_equal(fx_info(f, "full").last_revision, 3);
    /* A delete persists too. */
    assert_int_equal(storage_bucket_delete(f->s, "full", f->err), CAIRN_OK);
    fx_reopen(f, NULL);
    assert_int_equal(storage_bucket_info(f->s, "full", &info, f->err),
                     CAIRN_ENOBUCKET);
    fx_expect_value(f, B, S("x"), 0, T0 + 8, S("y"));
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0 + 10), CAIRN_OK);
    assert_int_equal(fx_info(f, "full").last_revision, 0);
    assert_int_equal(fx_get(f, "full", S("a"), 0, T0 + 10, NULL),
                     CAIRN_ENOTFOUND);
}

static void test_map_full(void **state)
{
    struct fx *f = *state;
    char path[600];
    struct storage_options o = {0};
    storage *s = NULL;
    cairn_bucket_config cfg;
    static uint8_t value[16384];
    int rc = 0;
    uint64_t ok = 0;
    char key[32];
    struct storage_bucket_info info;
    storage_txn *t;

    snprintf(path, sizeof path, "%s/small", f->dir);
    o.map_size = 1 << 20;
    o.no_sync = true;
    assert_int_equal(storage_open(path, &o, &s, f->err), CAIRN_OK);
    cairn_bucket_config_init(&cfg, "fill");
    assert_int_equal(storage_bucket_create(s, &cfg, T0, f->err), CAIRN_OK);
    memset(value, 'v', sizeof value);
    for (int i = 0; i < 1000; i++) {
        struct storage_result r;
        struct storage_cmd c;
        snprintf(key, sizeof key, "key-%04d", i);
        c = cmd_put(S(key), value, sizeof value, T0 + (uint64_t)i);
        rc = storage_apply(s, "fill", &c, (uint64_t)i + 1, &r, f->err);
        if (rc != 0) {
            break;
        }
        assert_int_equal(r.code, CAIRN_OK);
        ok++;
    }
    assert_int_equal(rc, CAIRN_ENOSPACE);
    assert_true(f->err[0] != '\0');
    assert_true(ok > 0);
    /* Nothing of the failed write is there; the rest is intact. */
    assert_int_equal(storage_bucket_info(s, "fill", &info, f->err), CAIRN_OK);
    assert_int_equal(info.last_revision, ok);
    assert_int_equal(info.applied_index, ok);
    assert_int_equal(info.keys, ok);
    assert_int_equal(storage_read_begin(s, &t, f->err), CAIRN_OK);
    assert_int_equal(storage_get(t, "fill", S(key), 0, T0 + 5000, NULL,
                                 f->err),
                     CAIRN_ENOTFOUND);
    assert_int_equal(storage_get(t, "fill", S("key-0000"), 0, T0 + 5000, NULL,
                                 f->err),
                     CAIRN_OK);
    storage_txn_end(t);
    /* A bucket create on the full map either succeeds or leaves nothing. */
    {
        cairn_bucket_config late;
        struct storage_bucket_info li;
        int crc, irc;
        cairn_bucket_config_init(&late, "late");
        crc = storage_bucket_create(s, &late, T0, f->err);
        assert_true(crc == CAIRN_OK || crc == CAIRN_ENOSPACE);
        irc = storage_bucket_info(s, "late", &li, f->err);
        assert_int_equal(irc, crc == CAIRN_OK ? CAIRN_OK : CAIRN_ENOBUCKET);
        if (crc == CAIRN_OK) {
            assert_int_equal(storage_bucket_delete(s, "late", f->err),
                             CAIRN_OK);
        }
    }
    storage_close(s);

    /* Reopened with a larger map, the write goes through. */
    o.map_size = 64 << 20;
    assert_int_equal(storage_open(path, &o, &s, f->err), CAIRN_OK);
    {
        struct storage_result r;
        struct storage_cmd c = cmd_put(S(key), value, sizeof value, T0);
        assert_int_equal(
            storage_apply(s, "fill", &c, ok + 1, &r, f->err), 0);
        assert_int_equal(r.code, CAIRN_OK);
        assert_int_equal(r.revision, ok + 1);
    }
    storage_close(s);
}

static void test_buckets_are_independent(void **state)
{
    struct fx *f = *state;
    struct storage_cmd c;
    struct storage_result r;
    fx_bucket(f, "other", 1, 0, -1);
    assert_int_equal(fx_put(f, B, "k", "in-b", T0), 1);
    assert_int_equal(fx_put(f, B, "k", "in-b2", T0), 2);
    assert_int_equal(fx_put(f, "other", "k", "in-other", T0), 1);
    fx_expect_value(f, B, S("k"), 0, T0, S("in-b2"));
    fx_expect_value(f, "other", S("k"), 0, T0, S("in-other"));
    /* Applied indexes are per bucket. */
    c = cmd_put(S("i"), S("v"), T0);
    r = fx_apply(f, B, &c, 50);
    assert_false(r.skipped);
    r = fx_apply(f, "other", &c, 10);
    assert_false(r.skipped);
    assert_int_equal(r.code, CAIRN_OK);
    assert_int_equal(fx_info(f, B).applied_index, 50);
    assert_int_equal(fx_info(f, "other").applied_index, 10);
    /* Deleting one leaves the other. */
    assert_int_equal(storage_bucket_delete(f->s, "other", f->err), CAIRN_OK);
    fx_expect_value(f, B, S("k"), 0, T0, S("in-b2"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(test_config_name),
        TEST(test_config_history),
        TEST(test_config_num_replicas),
        TEST(test_config_ttl),
        TEST(test_config_max_bytes),
        TEST(test_config_max_value_size),
        TEST(test_config_storage_kind),
        TEST(test_config_tags),
        TEST(test_config_metadata),
        TEST(test_config_description),
        TEST(test_create_twice),
        TEST(test_list_byte_order),
        TEST_EMPTY(test_list_empty),
        TEST(test_info_new_bucket),
        TEST(test_info_counters),
        TEST(test_delete_then_create_is_empty),
        TEST(test_unknown_bucket),
        TEST_EMPTY(test_max_buckets),
        TEST_EMPTY(test_open_regular_file),
        TEST_EMPTY(test_open_creates_missing_dir),
        TEST(test_reopen_persists),
        TEST_EMPTY(test_map_full),
        TEST(test_buckets_are_independent),
    };
    RUN_TESTS("storage_bucket", tests, argc, argv);
}
