/*
 * test_durability.c — what survives, and what is refused, on a real LMDB:
 *
 * - closing and reopening a store keeps every bucket, config, key, revision
 *   history, counter and applied index;
 * - a snapshot restored into an empty store gives an identical bucket (every
 *   read and later write gives the same result), and restored over an
 *   existing bucket replaces it completely;
 * - truncated and bit-flipped snapshots are refused with ECORRUPT,
 *   EMALFORMED or EVERSION and leave the target bucket exactly as it was; a
 *   snapshot of one bucket restored under another name is EINVAL;
 * - the pages of a deleted bucket are reused (data.mdb does not grow when an
 *   equal amount is written again);
 * - a full map refuses a write with ENOSPACE and changes nothing;
 * - a value corrupted on disk reads as ECORRUPT, never as wrong bytes.
 *
 * The state of a bucket is compared through a text "dump" of everything
 * the read API shows (bucket info, get/history/get-at-revision of every key
 * the scenario touched, full, keys-only and paged scans, counts), so a
 * mismatch prints the first line that differs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "storage.h"
#include "tmpdir.h"

#define SEC ((uint64_t)1000000000ULL)
#define HOUR (3600 * SEC)
#define T0 ((uint64_t)1700000000ULL * SEC)

/* ------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    for (;;) {
        size_t room = b->cap - b->n;
        va_start(ap, fmt);
        n = vsnprintf(b->p != NULL ? b->p + b->n : NULL, room, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < room) {
            b->n += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 256;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
}

static void sb_free(struct sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static uint64_t fnv(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* Fail with the first differing line of two dumps. */
static void assert_dumps_equal(const struct sbuf *a, const struct sbuf *b,
                               const char *what)
{
    size_t i = 0, line = 1, start = 0;
    if (a->n == b->n && memcmp(a->p, b->p, a->n) == 0) {
        return;
    }
    while (i < a->n && i < b->n && a->p[i] == b->p[i]) {
        if (a->p[i] == '\n') {
            line++;
            start = i + 1;
        }
        i++;
    }
    {
        const char *ea = memchr(a->p + start, '\n', a->n - start);
        const char *eb = memchr(b->p + start, '\n', b->n - start);
        int la = ea != NULL ? (int)(ea - (a->p + start)) : (int)(a->n - start);
        int lb = eb != NULL ? (int)(eb - (b->p + start)) : (int)(b->n - start);
        print_error("%s: states differ at dump line %zu:\n  expected: %.*s\n"
                    "  got:      %.*s\n",
                    what, line, la, a->p + start, lb, b->p + start);
    }
    fail();
}

static storage *open_store(const char *dir, bool no_sync)
{
    struct storage_options o = {.no_sync = no_sync};
    char err[CAIRN_ERRMSG_SIZE] = "";
    storage *s = NULL;
    int rc = storage_open(dir, &o, &s, err);
    if (rc != 0) {
        print_error("storage_open %s: %d (%s)\n", dir, rc, err);
    }
    assert_int_equal(rc, 0);
    return s;
}

static void create_bucket(storage *s, const cairn_bucket_config *cfg,
                          uint64_t now)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc = storage_bucket_create(s, cfg, now, err);
    if (rc != 0) {
        print_error("bucket_create %s: %d (%s)\n", cfg->name, rc, err);
    }
    assert_int_equal(rc, 0);
}

/* Apply @c; assert the engine did not fail and the code is @code. */
static struct storage_result apply(storage *s, const char *bucket,
                                   const struct storage_cmd *c,
                                   uint64_t index, int code)
{
    struct storage_result res;
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc;
    memset(&res, 0, sizeof res);
    rc = storage_apply(s, bucket, c, index, &res, err);
    if (rc != 0 || res.code != code) {
        print_error("apply type %u to %s at index %" PRIu64
                    ": rc %d (%s), code %d (%s), expected code %d\n",
                    c->type, bucket, index, rc, err, res.code, res.errmsg,
                    code);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(res.code, code);
    return res;
}

static struct storage_cmd put_cmd(const void *k, size_t kl, const void *v,
                                  size_t vl, uint64_t time)
{
    struct storage_cmd c;
    memset(&c, 0, sizeof c);
    c.type = STORAGE_CMD_PUT;
    c.time = time;
    c.w.key = k;
    c.w.key_len = kl;
    c.w.value = v;
    c.w.value_len = vl;
    return c;
}

static struct storage_cmd key_cmd(uint32_t type, const void *k, size_t kl,
                                  uint64_t time)
{
    struct storage_cmd c;
    memset(&c, 0, sizeof c);
    c.type = type;
    c.time = time;
    c.w.key = k;
    c.w.key_len = kl;
    return c;
}

static size_t file_size(const char *path, uint64_t *allocated)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if (allocated != NULL) {
        *allocated = (uint64_t)st.st_blocks * 512;
    }
    return (size_t)st.st_size;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    uint8_t *buf;
    size_t got = 0;
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    size_t put = 0;
    assert_true(fd >= 0);
    while (put < len) {
        ssize_t n = write(fd, buf + put, len - put);
        assert_true(n > 0);
        put += (size_t)n;
    }
    assert_int_equal(fsync(fd), 0);
    close(fd);
}

/* ------------------------------------------------------------------------
 * The key set a scenario touches, and dumps of a bucket.
 * ---------------------------------------------------------------------- */

#define MAX_KEYS 64

struct keyset {
    int n;
    uint8_t k[MAX_KEYS][CAIRN_KEY_MAX];
    size_t len[MAX_KEYS];
};

static int ks_add(struct keyset *ks, const void *k, size_t len)
{
    for (int i = 0; i < ks->n; i++) {
        if (ks->len[i] == len && memcmp(ks->k[i], k, len) == 0) {
            return i;
        }
    }
    assert_true(ks->n < MAX_KEYS);
    memcpy(ks->k[ks->n], k, len);
    ks->len[ks->n] = len;
    return ks->n++;
}

static void ks_union(struct keyset *dst, const struct keyset *src)
{
    for (int i = 0; i < src->n; i++) {
        ks_add(dst, src->k[i], src->len[i]);
    }
}

static void dump_entry(struct sbuf *b, const struct storage_entry *e)
{
    sb_printf(b,
              " [key %016" PRIx64 "/%zu op %u rev %" PRIu64 " crev %" PRIu64
              " upd %" PRIu64 " exp %" PRIu64 " val %s%016" PRIx64
              "/%zu meta %016" PRIx64 "/%zu]",
              fnv(e->key, e->key_len), e->key_len, e->op, e->revision,
              e->create_revision, e->updated, e->expires_at,
              e->value == NULL ? "null:" : "", fnv(e->value, e->value_len),
              e->value_len, fnv(e->meta, e->meta_len), e->meta_len);
}

static int dump_cb(void *arg, const struct storage_entry *e)
{
    struct sbuf *b = arg;
    sb_printf(b, "\n ");
    dump_entry(b, e);
    return 0;
}

struct rev_list {
    int n;
    uint64_t r[CAIRN_HISTORY_MAX + 4];
};

static int revs_cb(void *arg, const struct storage_entry *e)
{
    struct rev_list *l = arg;
    if (l->n < (int)(sizeof l->r / sizeof l->r[0])) {
        l->r[l->n++] = e->revision;
    }
    return 0;
}

static void dump_info(storage *s, const char *bucket, struct sbuf *b)
{
    struct storage_bucket_info in;
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc = storage_bucket_info(s, bucket, &in, err);
    const cairn_bucket_config *c = &in.config;
    if (rc != 0) {
        sb_printf(b, "info rc %d\n", rc);
        return;
    }
    sb_printf(b,
              "info name '%s' description '%s' ttl %" PRId64 " history %u "
              "max_bytes %" PRId64 " max_value_size %" PRId64
              " storage %u replicas %u compression %d cluster '%s'\n",
              c->name, c->description, c->ttl_ns, c->history, c->max_bytes,
              c->max_value_size, c->storage, c->num_replicas, c->compression,
              c->cluster);
    sb_printf(b, "info tags %u:", c->n_tags);
    for (uint32_t i = 0; i < c->n_tags && i < CAIRN_TAGS_MAX; i++) {
        sb_printf(b, " '%s'", c->tags[i]);
    }
    sb_printf(b, "\ninfo metadata %u:", c->n_metadata);
    for (uint32_t i = 0; i < c->n_metadata && i < CAIRN_METADATA_PAIRS_MAX;
         i++) {
        sb_printf(b, " '%s'='%s'", c->metadata[i].key, c->metadata[i].value);
    }
    sb_printf(b,
              "\ninfo created %" PRIu64 " keys %" PRIu64 " bytes %" PRIu64
              " last_revision %" PRIu64 " compacted %" PRIu64
              " applied %" PRIu64 "\n",
              in.created, in.keys, in.bytes, in.last_revision,
              in.compacted_revision, in.applied_index);
}

/* Everything the read API shows of @bucket for the keys in @ks at @now. */
static void dump_bucket(storage *s, const char *bucket,
                        const struct keyset *ks, uint64_t now,
                        struct sbuf *b)
{
    storage_txn *t = NULL;
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct storage_scan a;
    struct storage_page page;
    uint8_t cursor[STORAGE_CURSOR_MAX];
    uint64_t count = 0;
    int rc;

    dump_info(s, bucket, b);
    rc = storage_read_begin(s, &t, err);
    assert_int_equal(rc, 0);
    for (int i = 0; i < ks->n; i++) {
        struct storage_entry e;
        struct rev_list revs = {0};
        sb_printf(b, "key %d (%zu bytes, %016" PRIx64 ")\n", i, ks->len[i],
                  fnv(ks->k[i], ks->len[i]));
        memset(&e, 0, sizeof e);
        rc = storage_get(t, bucket, ks->k[i], ks->len[i], 0, now, &e, err);
        sb_printf(b, " get rc %d", rc);
        if (rc == 0) {
            dump_entry(b, &e);
        }
        sb_printf(b, "\n history");
        rc = storage_history(t, bucket, ks->k[i], ks->len[i], now, dump_cb,
                             b, err);
        sb_printf(b, "\n history rc %d\n", rc);
        storage_history(t, bucket, ks->k[i], ks->len[i], now, revs_cb, &revs,
                        err);
        revs.r[revs.n++] = 1; /* and the first revision of the bucket */
        for (int j = 0; j < revs.n; j++) {
            memset(&e, 0, sizeof e);
            rc = storage_get(t, bucket, ks->k[i], ks->len[i], revs.r[j], now,
                             &e, err);
            sb_printf(b, " get@%" PRIu64 " rc %d", revs.r[j], rc);
            if (rc == 0) {
                dump_entry(b, &e);
            }
            sb_printf(b, "\n");
        }
    }

    memset(&a, 0, sizeof a);
    a.now = now;
    memset(&page, 0, sizeof page);
    sb_printf(b, "scan");
    rc = storage_scan(t, bucket, &a, dump_cb, b, &page, err);
    sb_printf(b, "\nscan rc %d count %u more %d\n", rc, page.count,
              page.more);
    a.keys_only = true;
    sb_printf(b, "scan keys_only");
    rc = storage_scan(t, bucket, &a, dump_cb, b, &page, err);
    sb_printf(b, "\nscan keys_only rc %d count %u\n", rc, page.count);
    rc = storage_count(t, bucket, &a, &count, err);
    sb_printf(b, "count rc %d %" PRIu64 "\n", rc, count);

    a.keys_only = false;
    a.limit = 3;
    for (int pages = 0; pages < 100; pages++) {
        memset(&page, 0, sizeof page);
        sb_printf(b, "page %d", pages);
        rc = storage_scan(t, bucket, &a, dump_cb, b, &page, err);
        sb_printf(b, "\npage rc %d count %u more %d cursor %016" PRIx64
                  "/%zu\n",
                  rc, page.count, page.more,
                  fnv(page.cursor, page.cursor_len), page.cursor_len);
        if (rc != 0 || !page.more) {
            break;
        }
        memcpy(cursor, page.cursor, page.cursor_len);
        a.cursor = cursor;
        a.cursor_len = page.cursor_len;
    }
    storage_txn_end(t);
}

/* Dumps at the scenario's end time and a day later (expiry views). */
static void dump_both(storage *s, const char *bucket, const struct keyset *ks,
                      uint64_t now, struct sbuf *b)
{
    dump_bucket(s, bucket, ks, now, b);
    sb_printf(b, "--- a day later\n");
    dump_bucket(s, bucket, ks, now + 24 * HOUR, b);
}

static int list_cb(void *arg, const char *name)
{
    sb_printf(arg, "bucket %s\n", name);
    return 0;
}

static void dump_list(storage *s, struct sbuf *b)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc = storage_bucket_list(s, list_cb, b, err);
    sb_printf(b, "list rc %d\n", rc);
}

/* ------------------------------------------------------------------------
 * A scenario: a bucket with history, markers, ttls, long keys, metadata.
 * ---------------------------------------------------------------------- */

struct scenario {
    struct keyset ks;
    uint64_t now;        /* time after the last command */
    uint64_t next_index; /* log index for the next command */
};

static void long_key(uint8_t *k, size_t len, uint8_t tag, uint8_t last)
{
    memset(k, 'L', len);
    k[0] = tag;
    k[len - 1] = last;
}

/* Fill @bucket (created by the caller) with a deterministic history that
 * depends on @variant. Returns what was touched. */
static void populate(storage *s, const char *bucket, int variant,
                     uint64_t t0, uint64_t first_index, struct scenario *sc)
{
    uint64_t t = t0;
    uint64_t ix = first_index;
    char key[64], val[512];
    uint8_t lk[CAIRN_KEY_MAX];
    struct storage_cmd c;
    struct storage_result res;

    memset(sc, 0, sizeof *sc);
    /* 20 short keys written several times, some with metadata or a ttl */
    for (int i = 0; i < 120; i++) {
        int k = (i * 7 + variant) % 20;
        int n = snprintf(key, sizeof key, "key/%02d", k);
        int vl = snprintf(val, sizeof val, "value %d of key %d, variant %d%.*s",
                          i, k, variant, (i * 13) % 200,
                          "................................................"
                          "................................................"
                          "................................................"
                          "................................................"
                          "........");
        c = put_cmd(key, (size_t)n, val, (size_t)vl, t += SEC / 10);
        if (i % 5 == 0) {
            static const uint8_t meta[12] = "meta\0data\xff\x01";
            c.w.meta = meta;
            c.w.meta_len = 9 + (size_t)(i % 3);
        }
        if (i % 11 == 0) {
            c.w.ttl_ns = (int64_t)(2 * HOUR);
        } else if (i % 17 == 0) {
            c.w.expires_at = t + 30 * 24 * HOUR;
        }
        apply(s, bucket, &c, ix++, CAIRN_OK);
        ks_add(&sc->ks, key, (size_t)n);
    }
    /* long keys: group records under a shared 511-byte prefix */
    for (int i = 0; i < 6; i++) {
        static const struct {
            size_t len;
            uint8_t last;
        } shapes[] = {{510, 'a'}, {511, 'b'}, {512, 0x00},
                      {512, 'z'},  {512, 0xff}, {511, 'c'}};
        long_key(lk, shapes[i].len, (uint8_t)('A' + variant % 3),
                 shapes[i].last);
        if (shapes[i].len == 512) {
            lk[510] = 'b'; /* extends the 511-byte key ...'b' */
        }
        for (int j = 0; j < 3; j++) {
            int vl = snprintf(val, sizeof val, "long %d.%d v%d", i, j,
                              variant);
            c = put_cmd(lk, shapes[i].len, val, (size_t)vl, t += SEC / 10);
            apply(s, bucket, &c, ix++, CAIRN_OK);
        }
        ks_add(&sc->ks, lk, shapes[i].len);
    }
    /* deletes (markers stay in history), purges, a conditional update */
    for (int k = 0; k < 20; k += 4) {
        int n = snprintf(key, sizeof key, "key/%02d", k);
        c = key_cmd(STORAGE_CMD_DELETE, key, (size_t)n, t += SEC / 10);
        apply(s, bucket, &c, ix++, CAIRN_OK);
    }
    {
        int n = snprintf(key, sizeof key, "key/%02d", 5);
        c = key_cmd(STORAGE_CMD_PURGE, key, (size_t)n, t += SEC / 10);
        apply(s, bucket, &c, ix++, CAIRN_OK);
        n = snprintf(key, sizeof key, "key/%02d", 6);
        c = key_cmd(STORAGE_CMD_CREATE, key, (size_t)n, t += SEC / 10);
        c.w.value = "x";
        c.w.value_len = 1;
        res = apply(s, bucket, &c, ix++, CAIRN_ECONFLICT);
        c.type = STORAGE_CMD_UPDATE;
        c.revision = res.current_revision;
        apply(s, bucket, &c, ix++, CAIRN_OK);
    }
    long_key(lk, 512, (uint8_t)('A' + variant % 3), 'z');
    lk[510] = 'b';
    c = key_cmd(STORAGE_CMD_DELETE, lk, 512, t += SEC / 10);
    apply(s, bucket, &c, ix++, CAIRN_OK);
    /* a txn */
    {
        struct cairn_write w[3];
        struct cairn_compare cmp;
        memset(w, 0, sizeof w);
        memset(&cmp, 0, sizeof cmp);
        w[0].op = CAIRN_OP_PUT;
        w[0].key = "txn/a";
        w[0].key_len = 5;
        w[0].value = "A";
        w[0].value_len = 1;
        w[1] = w[0];
        w[1].key = "txn/b";
        w[1].value = "BB";
        w[1].value_len = 2;
        w[2].op = CAIRN_OP_DEL;
        w[2].key = "key/01";
        w[2].key_len = 6;
        cmp.key = "txn/a";
        cmp.key_len = 5;
        cmp.target = CAIRN_CMP_EXISTS;
        cmp.op = CAIRN_CMP_EQ;
        cmp.exists = false;
        memset(&c, 0, sizeof c);
        c.type = STORAGE_CMD_TXN;
        c.time = t += SEC / 10;
        c.n_compares = 1;
        c.compares = &cmp;
        c.n_writes = 3;
        c.writes = w;
        apply(s, bucket, &c, ix++, CAIRN_OK);
        ks_add(&sc->ks, "txn/a", 5);
        ks_add(&sc->ks, "txn/b", 2 + 3);
    }
    /* a short-lived key that expires: a PURGE marker, then (an hour later
     * in a bucket without ttl) the marker goes and compacted rises */
    c = put_cmd("short", 5, "lived", 5, t += SEC);
    c.w.ttl_ns = (int64_t)SEC;
    apply(s, bucket, &c, ix++, CAIRN_OK);
    ks_add(&sc->ks, "short", 5);
    c = key_cmd(STORAGE_CMD_EXPIRE, NULL, 0, t += 2 * SEC);
    apply(s, bucket, &c, ix++, CAIRN_OK);
    c = put_cmd("gone", 4, "soon", 4, t += SEC);
    c.w.ttl_ns = (int64_t)SEC;
    apply(s, bucket, &c, ix++, CAIRN_OK);
    ks_add(&sc->ks, "gone", 4);
    c = key_cmd(STORAGE_CMD_EXPIRE, NULL, 0, t += 2 * SEC);
    apply(s, bucket, &c, ix++, CAIRN_OK);
    c = key_cmd(STORAGE_CMD_EXPIRE, NULL, 0, t += HOUR + SEC);
    apply(s, bucket, &c, ix++, CAIRN_OK);
    /* a bigger value, so snapshots are not tiny */
    if (variant == 0) {
        size_t big = 100000;
        uint8_t *v = malloc(big);
        assert_non_null(v);
        for (size_t i = 0; i < big; i++) {
            v[i] = (uint8_t)(i * 31 + i / 7);
        }
        c = put_cmd("big", 3, v, big, t += SEC);
        apply(s, bucket, &c, ix++, CAIRN_OK);
        free(v);
        ks_add(&sc->ks, "big", 3);
    }
    /* a refused command still advances the applied index */
    c = put_cmd("", 0, "x", 1, t += SEC);
    apply(s, bucket, &c, ix++, CAIRN_EINVAL);
    sc->now = t + SEC;
    sc->next_index = ix;
}

static void config_full(cairn_bucket_config *cfg, const char *name)
{
    cairn_bucket_config_init(cfg, name);
    snprintf(cfg->description, sizeof cfg->description,
             "a bucket with every field set");
    cfg->history = 5;
    cfg->max_bytes = 1 << 30;
    cfg->max_value_size = -1;
    cfg->num_replicas = 3;
    cfg->compression = true;
    snprintf(cfg->cluster, sizeof cfg->cluster, "east");
    cfg->n_tags = 2;
    snprintf(cfg->tags[0], sizeof cfg->tags[0], "zone:a");
    snprintf(cfg->tags[1], sizeof cfg->tags[1], "disk:ssd");
    cfg->n_metadata = 2;
    snprintf(cfg->metadata[0].key, sizeof cfg->metadata[0].key, "owner");
    snprintf(cfg->metadata[0].value, sizeof cfg->metadata[0].value, "ops");
    snprintf(cfg->metadata[1].key, sizeof cfg->metadata[1].key, "tier");
    snprintf(cfg->metadata[1].value, sizeof cfg->metadata[1].value, "gold");
}

/* ------------------------------------------------------------------------
 * Fixture: two empty stores in temporary directories.
 * ---------------------------------------------------------------------- */

struct fx {
    char dir_a[512], dir_b[512];
    storage *a, *b;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(test_tmpdir_create("dur-a", f->dir_a, sizeof f->dir_a), 0);
    assert_int_equal(test_tmpdir_create("dur-b", f->dir_b, sizeof f->dir_b), 0);
    f->a = open_store(f->dir_a, true);
    f->b = open_store(f->dir_b, true);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    storage_close(f->a);
    storage_close(f->b);
    test_tmpdir_remove(f->dir_a);
    test_tmpdir_remove(f->dir_b);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------
 * Reopen
 * ---------------------------------------------------------------------- */

static void test_reopen_keeps_everything(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config full, small, empty, gone;
    struct scenario s1, s2;
    struct sbuf before = {0}, after = {0};
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct storage_cmd c;
    struct storage_result res;

    storage_close(f->a);
    f->a = open_store(f->dir_a, false); /* synced commits for this one */

    config_full(&full, "alpha");
    create_bucket(f->a, &full, T0);
    populate(f->a, "alpha", 0, T0 + SEC, 100, &s1);
    cairn_bucket_config_init(&small, "beta");
    small.history = 1;
    small.ttl_ns = (int64_t)(10 * 60 * SEC);
    small.max_value_size = 4096;
    create_bucket(f->a, &small, T0 + 2 * SEC);
    populate(f->a, "beta", 1, T0 + 3 * SEC, 100, &s2);
    cairn_bucket_config_init(&empty, "gamma");
    create_bucket(f->a, &empty, T0 + 4 * SEC);
    cairn_bucket_config_init(&gone, "deleted");
    create_bucket(f->a, &gone, T0 + 5 * SEC);
    c = put_cmd("k", 1, "v", 1, T0 + 6 * SEC);
    apply(f->a, "deleted", &c, 1, CAIRN_OK);
    assert_int_equal(storage_bucket_delete(f->a, "deleted", err), 0);

    for (int round = 0; round < 2; round++) {
        sb_free(&before);
        sb_free(&after);
        dump_list(f->a, &before);
        dump_both(f->a, "alpha", &s1.ks, s1.now, &before);
        dump_both(f->a, "beta", &s2.ks, s2.now, &before);
        dump_both(f->a, "gamma", &s1.ks, s1.now, &before);
        dump_info(f->a, "deleted", &before);

        storage_close(f->a);
        f->a = open_store(f->dir_a, round == 1);

        dump_list(f->a, &after);
        dump_both(f->a, "alpha", &s1.ks, s1.now, &after);
        dump_both(f->a, "beta", &s2.ks, s2.now, &after);
        dump_both(f->a, "gamma", &s1.ks, s1.now, &after);
        dump_info(f->a, "deleted", &after);
        assert_dumps_equal(&before, &after, "reopen");
    }
    assert_non_null(strstr(after.p, "bucket alpha\nbucket beta\nbucket gamma\n"
                                    "list rc 0\n"));
    assert_non_null(strstr(after.p, "info rc 3\n")); /* "deleted": ENOBUCKET */

    /* a deleted bucket created again starts empty */
    {
        struct storage_bucket_info in;
        storage_txn *t = NULL;
        create_bucket(f->a, &gone, T0 + 7 * SEC);
        assert_int_equal(storage_bucket_info(f->a, "deleted", &in, err), 0);
        assert_int_equal(in.keys, 0);
        assert_int_equal(in.bytes, 0);
        assert_int_equal(in.last_revision, 0);
        assert_int_equal(in.applied_index, 0);
        assert_int_equal(in.created, T0 + 7 * SEC);
        assert_int_equal(storage_read_begin(f->a, &t, err), 0);
        assert_int_equal(storage_get(t, "deleted", "k", 1, 0, T0 + 8 * SEC,
                                     NULL, err),
                         CAIRN_ENOTFOUND);
        assert_int_equal(storage_history(t, "deleted", "k", 1, T0 + 8 * SEC,
                                         NULL, NULL, err),
                         CAIRN_ENOTFOUND);
        storage_txn_end(t);
        c = put_cmd("k", 1, "again", 5, T0 + 8 * SEC);
        res = apply(f->a, "deleted", &c, 1, CAIRN_OK);
        assert_false(res.skipped);
        assert_int_equal(res.revision, 1);
    }

    /* counters carry on: the applied index skips, the revision continues */
    {
        struct storage_bucket_info in;
        assert_int_equal(storage_bucket_info(f->a, "alpha", &in, err), 0);
        assert_int_equal(in.applied_index, s1.next_index - 1);
        c = put_cmd("after", 5, "reopen", 6, s1.now);
        res = apply(f->a, "alpha", &c, s1.next_index - 1, CAIRN_OK);
        assert_true(res.skipped);
        assert_int_equal(res.revision, 0);
        res = apply(f->a, "alpha", &c, s1.next_index, CAIRN_OK);
        assert_false(res.skipped);
        assert_int_equal(res.revision, in.last_revision + 1);
    }
    sb_free(&before);
    sb_free(&after);
}

/* ------------------------------------------------------------------------
 * Snapshot and restore
 * ---------------------------------------------------------------------- */

static void snapshot(storage *s, const char *bucket, void **buf, size_t *len)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc = storage_snapshot(s, bucket, buf, len, err);
    if (rc != 0) {
        print_error("snapshot %s: %d (%s)\n", bucket, rc, err);
    }
    assert_int_equal(rc, 0);
    assert_non_null(*buf);
    assert_true(*len > 20);
}

/* The same commands on both stores give the same results and states. */
static void same_future(storage *x, storage *y, const char *bucket,
                        struct scenario *sc)
{
    uint64_t t = sc->now;
    for (int i = 0; i < 30; i++) {
        char key[16], val[32];
        struct storage_cmd c;
        struct storage_result rx, ry;
        char err[CAIRN_ERRMSG_SIZE];
        int n = snprintf(key, sizeof key, "key/%02d", (i * 3) % 22);
        int vl = snprintf(val, sizeof val, "future %d", i);
        switch (i % 5) {
        case 0:
        case 1:
            c = put_cmd(key, (size_t)n, val, (size_t)vl, t);
            break;
        case 2:
            c = key_cmd(STORAGE_CMD_DELETE, key, (size_t)n, t);
            break;
        case 3:
            c = key_cmd(STORAGE_CMD_CREATE, key, (size_t)n, t);
            c.w.value = val;
            c.w.value_len = (size_t)vl;
            break;
        default:
            c = key_cmd(STORAGE_CMD_EXPIRE, NULL, 0, t + 3 * HOUR);
            break;
        }
        t += SEC;
        memset(&rx, 0, sizeof rx);
        memset(&ry, 0, sizeof ry);
        assert_int_equal(storage_apply(x, bucket, &c, sc->next_index, &rx, err),
                         0);
        assert_int_equal(storage_apply(y, bucket, &c, sc->next_index, &ry, err),
                         0);
        sc->next_index++;
        assert_int_equal(rx.code, ry.code);
        assert_int_equal(rx.revision, ry.revision);
        assert_int_equal(rx.last_revision, ry.last_revision);
        assert_int_equal(rx.current_revision, ry.current_revision);
        assert_int_equal(rx.count, ry.count);
        assert_int_equal(rx.skipped, ry.skipped);
        ks_add(&sc->ks, key, (size_t)n);
    }
    sc->now = t + 4 * HOUR;
    {
        struct sbuf dx = {0}, dy = {0};
        dump_both(x, bucket, &sc->ks, sc->now, &dx);
        dump_both(y, bucket, &sc->ks, sc->now, &dy);
        assert_dumps_equal(&dx, &dy, "same commands after restore");
        sb_free(&dx);
        sb_free(&dy);
    }
}

static void test_restore_into_empty_store(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    struct scenario sc;
    struct sbuf da = {0}, db = {0};
    char err[CAIRN_ERRMSG_SIZE] = "";
    void *buf;
    size_t len;
    int rc;

    config_full(&cfg, "alpha");
    create_bucket(f->a, &cfg, T0);
    populate(f->a, "alpha", 0, T0 + SEC, 100, &sc);
    snapshot(f->a, "alpha", &buf, &len);

    rc = storage_restore(f->b, "alpha", buf, len, err);
    if (rc != 0) {
        print_error("restore: %d (%s)\n", rc, err);
    }
    assert_int_equal(rc, 0);
    free(buf);

    dump_list(f->a, &da);
    dump_both(f->a, "alpha", &sc.ks, sc.now, &da);
    dump_list(f->b, &db);
    dump_both(f->b, "alpha", &sc.ks, sc.now, &db);
    assert_dumps_equal(&da, &db, "restore into an empty store");

    /* ...and it survives a reopen of the target */
    storage_close(f->b);
    f->b = open_store(f->dir_b, true);
    sb_free(&db);
    dump_list(f->b, &db);
    dump_both(f->b, "alpha", &sc.ks, sc.now, &db);
    assert_dumps_equal(&da, &db, "restored bucket after reopen");

    same_future(f->a, f->b, "alpha", &sc);
    sb_free(&da);
    sb_free(&db);
}

static void test_restore_replaces_existing_bucket(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg, other;
    struct scenario sa, sb, so;
    struct keyset all;
    struct sbuf da = {0}, db = {0}, o1 = {0}, o2 = {0};
    char err[CAIRN_ERRMSG_SIZE] = "";
    void *buf;
    size_t len;

    /* source: alpha, history 5, variant 0 */
    config_full(&cfg, "alpha");
    create_bucket(f->a, &cfg, T0);
    populate(f->a, "alpha", 0, T0 + SEC, 100, &sa);

    /* target: alpha with another config and other content (more revisions,
     * later times, other long keys), and a bystander bucket */
    cairn_bucket_config_init(&other, "alpha");
    other.history = 2;
    other.ttl_ns = (int64_t)HOUR;
    create_bucket(f->b, &other, T0 + 50 * HOUR);
    populate(f->b, "alpha", 2, T0 + 51 * HOUR, 100, &so);
    populate(f->b, "alpha", 1, T0 + 52 * HOUR, so.next_index, &sb);
    ks_union(&sb.ks, &so.ks);
    cairn_bucket_config_init(&other, "bystander");
    create_bucket(f->b, &other, T0);
    populate(f->b, "bystander", 1, T0 + SEC, 100, &so);
    dump_both(f->b, "bystander", &so.ks, so.now, &o1);

    all = sa.ks;
    ks_union(&all, &sb.ks);
    snapshot(f->a, "alpha", &buf, &len);
    assert_int_equal(storage_restore(f->b, "alpha", buf, len, err), 0);
    free(buf);

    dump_both(f->a, "alpha", &all, sa.now, &da);
    dump_both(f->b, "alpha", &all, sa.now, &db);
    assert_dumps_equal(&da, &db, "restore over an existing bucket");
    dump_both(f->b, "bystander", &so.ks, so.now, &o2);
    assert_dumps_equal(&o1, &o2, "the other bucket of the target store");

    sa.ks = all;
    same_future(f->a, f->b, "alpha", &sa);
    sb_free(&da);
    sb_free(&db);
    sb_free(&o1);
    sb_free(&o2);
}

/* Is @rc one of the codes a bad snapshot may be refused with? */
static bool refused(int rc)
{
    return rc == CAIRN_ECORRUPT || rc == CAIRN_EMALFORMED ||
           rc == CAIRN_EVERSION;
}

/* Target state, to check after every refused restore: bucket info and the
 * target's own snapshot of the bucket (every kept revision) every time,
 * a full dump now and then. */
struct target {
    storage *s;
    const char *bucket;
    struct keyset ks;
    uint64_t now;
    struct sbuf dump, info;
    void *snap;
    size_t snap_len;
};

static void target_take(struct target *t)
{
    dump_both(t->s, t->bucket, &t->ks, t->now, &t->dump);
    dump_info(t->s, t->bucket, &t->info);
    snapshot(t->s, t->bucket, &t->snap, &t->snap_len);
}

static void target_check(struct target *t, bool full, const char *what)
{
    struct sbuf info = {0};
    void *snap;
    size_t len;
    dump_info(t->s, t->bucket, &info);
    assert_dumps_equal(&t->info, &info, what);
    sb_free(&info);
    snapshot(t->s, t->bucket, &snap, &len);
    if (len != t->snap_len || memcmp(snap, t->snap, len) != 0) {
        print_error("%s: the target bucket's snapshot changed (%zu bytes, "
                    "was %zu)\n",
                    what, len, t->snap_len);
        fail();
    }
    free(snap);
    if (full) {
        struct sbuf d = {0};
        dump_both(t->s, t->bucket, &t->ks, t->now, &d);
        assert_dumps_equal(&t->dump, &d, what);
        sb_free(&d);
    }
}

static void target_free(struct target *t)
{
    sb_free(&t->dump);
    sb_free(&t->info);
    free(t->snap);
}

/* Restore @len bytes of @src from a buffer of exactly that size (so ASan
 * sees any read past it). */
static int restore_exact(storage *s, const char *bucket, const void *src,
                         size_t len, char *err)
{
    void *copy = malloc(len > 0 ? len : 1);
    int rc;
    assert_non_null(copy);
    memcpy(copy, src, len);
    rc = storage_restore(s, bucket, len > 0 ? copy : NULL, len, err);
    free(copy);
    return rc;
}

/* A snapshot of a small bucket (every truncation is tried) and of one with
 * a 100 kB value (a sample of them). */
static void check_truncations(struct fx *f, int variant, size_t exhaustive)
{
    cairn_bucket_config cfg;
    struct scenario sa, sb;
    struct target t;
    char err[CAIRN_ERRMSG_SIZE] = "";
    void *buf;
    size_t len, step, tried = 0;

    cairn_bucket_config_init(&cfg, "alpha");
    cfg.history = 3;
    create_bucket(f->a, &cfg, T0);
    populate(f->a, "alpha", variant, T0 + SEC, 100, &sa);
    snapshot(f->a, "alpha", &buf, &len);

    cairn_bucket_config_init(&cfg, "alpha");
    cfg.history = 2;
    create_bucket(f->b, &cfg, T0 + HOUR);
    populate(f->b, "alpha", 1 + variant, T0 + 2 * HOUR, 100, &sb);
    memset(&t, 0, sizeof t);
    t.s = f->b;
    t.bucket = "alpha";
    t.ks = sa.ks;
    ks_union(&t.ks, &sb.ks);
    t.now = sb.now;
    target_take(&t);

    step = len <= exhaustive ? 1 : len / 1500;
    for (size_t n = 0; n < len; n += (n < 64 || n + 64 > len) ? 1 : step) {
        int rc = restore_exact(f->b, "alpha", buf, n, err);
        if (!refused(rc)) {
            print_error("restore of the first %zu of %zu snapshot bytes: %d "
                        "(%s), expected ECORRUPT/EMALFORMED/EVERSION\n",
                        n, len, rc, err);
            fail();
        }
        /* and into a store without the bucket: still no bucket after */
        if (n % 97 == 0) {
            struct storage_bucket_info in;
            rc = restore_exact(f->a, "fresh", buf, n, err);
            assert_true(refused(rc) || rc == CAIRN_EINVAL);
            assert_int_equal(storage_bucket_info(f->a, "fresh", &in, err),
                             CAIRN_ENOBUCKET);
        }
        target_check(&t, n % 128 == 0, "after a refused truncated snapshot");
        tried++;
    }
    target_check(&t, true, "after every truncated snapshot");
    print_message("  %zu truncations of a %zu-byte snapshot refused\n", tried,
                  len);
    /* the whole snapshot still restores */
    assert_int_equal(restore_exact(f->b, "alpha", buf, len, err), 0);
    free(buf);
    target_free(&t);
}

static void test_truncated_snapshot_refused(void **state)
{
    check_truncations(*state, 1, 1 << 20); /* no big value: every length */
}

static void test_truncated_big_snapshot_refused(void **state)
{
    check_truncations(*state, 0, 0); /* a 100 kB value: a sample */
}

static void test_bitflip_snapshot_refused(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    struct scenario sa, sb;
    struct target t;
    char err[CAIRN_ERRMSG_SIZE] = "";
    uint8_t *buf, *bad;
    size_t len, tried = 0;
    uint64_t rng = 0x1234567;

    cairn_bucket_config_init(&cfg, "alpha");
    cfg.history = 4;
    create_bucket(f->a, &cfg, T0);
    populate(f->a, "alpha", 1, T0 + SEC, 100, &sa);
    {
        void *snap;
        snapshot(f->a, "alpha", &snap, &len);
        buf = snap;
    }
    cairn_bucket_config_init(&cfg, "alpha");
    create_bucket(f->b, &cfg, T0 + HOUR);
    populate(f->b, "alpha", 2, T0 + 2 * HOUR, 100, &sb);
    memset(&t, 0, sizeof t);
    t.s = f->b;
    t.bucket = "alpha";
    t.ks = sa.ks;
    ks_union(&t.ks, &sb.ks);
    t.now = sb.now;
    target_take(&t);

    bad = malloc(len);
    assert_non_null(bad);
    /* every bit of the header (magic, version) and trailer (checksum), and
     * one random bit of every byte in between */
    for (size_t pos = 0; pos < len; pos++) {
        int bits = pos < 12 || pos + 8 >= len ? 8 : 1;
        for (int b = 0; b < bits; b++) {
            int bit;
            int rc;
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            bit = bits == 8 ? b : (int)(rng >> 61);
            memcpy(bad, buf, len);
            bad[pos] ^= (uint8_t)(1u << bit);
            rc = storage_restore(f->b, "alpha", bad, len, err);
            if (!refused(rc)) {
                print_error("restore with bit %d of byte %zu (of %zu) "
                            "flipped: %d (%s), expected "
                            "ECORRUPT/EMALFORMED/EVERSION\n",
                            bit, pos, len, rc, err);
                fail();
            }
            target_check(&t, tried % 256 == 0,
                         "after a refused corrupt snapshot");
            tried++;
        }
    }
    target_check(&t, true, "after every corrupt snapshot");
    print_message("  %zu bit flips in a %zu-byte snapshot refused\n", tried,
                  len);
    free(bad);
    free(buf);
    target_free(&t);
}

static void test_restore_other_bucket_einval(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    struct scenario sa, sb;
    struct target t;
    struct storage_bucket_info in;
    char err[CAIRN_ERRMSG_SIZE] = "";
    void *buf;
    size_t len;

    cairn_bucket_config_init(&cfg, "a");
    create_bucket(f->a, &cfg, T0);
    populate(f->a, "a", 0, T0 + SEC, 100, &sa);
    snapshot(f->a, "a", &buf, &len);

    /* into a missing bucket: refused, and still missing */
    assert_int_equal(storage_restore(f->b, "b", buf, len, err), CAIRN_EINVAL);
    assert_int_equal(storage_bucket_info(f->b, "b", &in, err),
                     CAIRN_ENOBUCKET);
    /* over an existing one: refused, unchanged */
    cairn_bucket_config_init(&cfg, "b");
    create_bucket(f->b, &cfg, T0);
    populate(f->b, "b", 1, T0 + SEC, 100, &sb);
    memset(&t, 0, sizeof t);
    t.s = f->b;
    t.bucket = "b";
    t.ks = sb.ks;
    ks_union(&t.ks, &sa.ks);
    t.now = sb.now;
    target_take(&t);
    assert_int_equal(storage_restore(f->b, "b", buf, len, err), CAIRN_EINVAL);
    target_check(&t, true, "after restoring a snapshot of another bucket");
    /* and in the source store too */
    assert_int_equal(storage_restore(f->a, "b", buf, len, err), CAIRN_EINVAL);
    assert_int_equal(storage_bucket_info(f->a, "b", &in, err),
                     CAIRN_ENOBUCKET);
    /* the snapshot itself is fine under its own name */
    assert_int_equal(storage_restore(f->b, "a", buf, len, err), 0);
    free(buf);
    target_free(&t);
}

/* ------------------------------------------------------------------------
 * Page reuse after a bucket delete
 * ---------------------------------------------------------------------- */

#define FILL_VALUE 1000
#define FILL_KEYS 20480 /* ~20 MB of values */

static void fill(storage *s, const char *bucket, uint64_t t)
{
    uint8_t *v = malloc(FILL_VALUE);
    char err[CAIRN_ERRMSG_SIZE] = "";
    assert_non_null(v);
    for (int i = 0; i < FILL_KEYS;) {
        storage_txn *tx = NULL;
        assert_int_equal(storage_write_begin(s, &tx, err), 0);
        for (int j = 0; j < 512 && i < FILL_KEYS; j++, i++) {
            char key[32];
            int n = snprintf(key, sizeof key, "fill/%08d", i);
            struct storage_cmd c;
            struct storage_result res;
            for (int b = 0; b < FILL_VALUE; b++) {
                v[b] = (uint8_t)(i + b * 7);
            }
            c = put_cmd(key, (size_t)n, v, FILL_VALUE, t + (uint64_t)i);
            assert_int_equal(
                storage_write_apply(tx, bucket, &c, 0, &res, err), 0);
            assert_int_equal(res.code, CAIRN_OK);
        }
        assert_int_equal(storage_write_commit(tx, err), 0);
    }
    free(v);
}

static void test_deleted_bucket_pages_reused(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    char path[600], err[CAIRN_ERRMSG_SIZE] = "";
    size_t size1, size2;
    uint64_t alloc1, alloc2, margin;
    struct storage_bucket_info in;

    snprintf(path, sizeof path, "%s/data.mdb", f->dir_a);
    cairn_bucket_config_init(&cfg, "first");
    create_bucket(f->a, &cfg, T0);
    fill(f->a, "first", T0);
    assert_int_equal(storage_bucket_info(f->a, "first", &in, err), 0);
    assert_true(in.bytes >= (uint64_t)FILL_KEYS * FILL_VALUE);
    size1 = file_size(path, &alloc1);
    assert_true(size1 >= (size_t)FILL_KEYS * FILL_VALUE);

    assert_int_equal(storage_bucket_delete(f->a, "first", err), 0);
    cairn_bucket_config_init(&cfg, "second");
    create_bucket(f->a, &cfg, T0 + HOUR);
    fill(f->a, "second", T0 + HOUR);
    size2 = file_size(path, &alloc2);

    margin = size1 / 20 > (1u << 20) ? size1 / 20 : (1u << 20);
    print_message("  data.mdb: %zu bytes (%" PRIu64 " allocated) after the "
                  "first fill, %zu (%" PRIu64 ") after delete + refill; "
                  "margin %" PRIu64 "\n",
                  size1, alloc1, size2, alloc2, margin);
    assert_true(size2 <= size1 + margin);
    assert_true(alloc2 <= alloc1 + margin);

    /* and once more after a reopen (the free list is on disk) */
    assert_int_equal(storage_bucket_delete(f->a, "second", err), 0);
    storage_close(f->a);
    f->a = open_store(f->dir_a, true);
    cairn_bucket_config_init(&cfg, "third");
    create_bucket(f->a, &cfg, T0 + 2 * HOUR);
    fill(f->a, "third", T0 + 2 * HOUR);
    size2 = file_size(path, &alloc2);
    print_message("  data.mdb: %zu bytes (%" PRIu64 " allocated) after "
                  "delete + reopen + refill\n",
                  size2, alloc2);
    assert_true(size2 <= size1 + margin);
    assert_true(alloc2 <= alloc1 + margin);
}

/* ------------------------------------------------------------------------
 * A full map: ENOSPACE, nothing written, fine after a reopen with more room
 * ---------------------------------------------------------------------- */

static void test_map_full_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct storage_options small = {.map_size = 2u << 20, .no_sync = true};
    struct storage_options big = {.map_size = 64u << 20, .no_sync = true};
    cairn_bucket_config cfg;
    struct keyset ks = {0};
    struct sbuf before = {0}, after = {0};
    char err[CAIRN_ERRMSG_SIZE] = "";
    uint8_t *v = malloc(8000);
    uint64_t t = T0 + SEC, ix = 1, last_rev = 0;
    int rc = 0, i;

    assert_non_null(v);
    memset(v, 'v', 8000);
    storage_close(f->a);
    f->a = NULL;
    assert_int_equal(storage_open(f->dir_a, &small, &f->a, err), 0);
    cairn_bucket_config_init(&cfg, "full");
    cfg.history = 2;
    create_bucket(f->a, &cfg, T0);
    for (i = 0; i < 10000; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "k%05d", i);
        struct storage_cmd c = put_cmd(key, (size_t)n, v, 8000, t++);
        struct storage_result res;
        /* dump the last 50 keys written and the one about to be */
        ks.n = 0;
        for (int j = i > 50 ? i - 50 : 0; j <= i; j++) {
            char kj[32];
            ks_add(&ks, kj, (size_t)snprintf(kj, sizeof kj, "k%05d", j));
        }
        sb_free(&before);
        dump_bucket(f->a, "full", &ks, t, &before);
        memset(&res, 0, sizeof res);
        rc = storage_apply(f->a, "full", &c, ix, &res, err);
        if (rc != 0) {
            break;
        }
        assert_int_equal(res.code, CAIRN_OK);
        last_rev = res.revision;
        ix++;
    }
    print_message("  map full after %d puts: %d (%s)\n", i, rc, err);
    assert_int_equal(rc, CAIRN_ENOSPACE);
    /* nothing of the failed put: same state as before it */
    dump_bucket(f->a, "full", &ks, t, &after);
    assert_dumps_equal(&before, &after, "after a put refused with ENOSPACE");
    {
        struct storage_bucket_info in;
        assert_int_equal(storage_bucket_info(f->a, "full", &in, err), 0);
        assert_int_equal(in.last_revision, last_rev);
        assert_int_equal(in.applied_index, ix - 1);
    }
    /* with a bigger map the same command goes through */
    storage_close(f->a);
    f->a = NULL;
    assert_int_equal(storage_open(f->dir_a, &big, &f->a, err), 0);
    {
        char key[32];
        int n = snprintf(key, sizeof key, "k%05d", i);
        struct storage_cmd c = put_cmd(key, (size_t)n, v, 8000, t - 1);
        struct storage_result res = apply(f->a, "full", &c, ix, CAIRN_OK);
        assert_int_equal(res.revision, last_rev + 1);
    }
    sb_free(&before);
    sb_free(&after);
    free(v);
}

/* ------------------------------------------------------------------------
 * On-disk corruption
 * ---------------------------------------------------------------------- */

#define CANARY "<<cairn-canary-value-7f3a91>>"

struct canary {
    const uint8_t *key;
    size_t key_len;
    uint8_t value[300];
    uint64_t revision;
};

/* Read @cn back: every read must give the exact value or ECORRUPT.
 * Returns which reads said ECORRUPT (READ_* bits). */
enum {
    READ_GET = 1,
    READ_GET_REV = 2,
    READ_HISTORY = 4,
    READ_SCAN = 8,
    READ_SNAPSHOT = 16,
};

static int check_canary(storage *s, const char *bucket,
                        const struct canary *cn, uint64_t now)
{
    storage_txn *t = NULL;
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct storage_entry e;
    struct storage_scan a;
    struct storage_page page;
    int corrupt = 0, rc;

    assert_int_equal(storage_read_begin(s, &t, err), 0);
    for (int i = 0; i < 2; i++) {
        memset(&e, 0, sizeof e);
        rc = storage_get(t, bucket, cn->key, cn->key_len,
                         i == 0 ? 0 : cn->revision, now, &e, err);
        if (rc == CAIRN_ECORRUPT) {
            corrupt |= i == 0 ? READ_GET : READ_GET_REV;
            continue;
        }
        if (rc != 0 || e.value_len != sizeof cn->value ||
            memcmp(e.value, cn->value, sizeof cn->value) != 0) {
            print_error("get%s of a key with a corrupted value: rc %d (%s), "
                        "%zu bytes%s; expected ECORRUPT or the exact value\n",
                        i == 0 ? "" : " at its revision", rc, err,
                        e.value_len,
                        rc == 0 && e.value_len == sizeof cn->value
                            ? " (wrong bytes)"
                            : "");
            fail();
        }
    }
    rc = storage_history(t, bucket, cn->key, cn->key_len, now, revs_cb,
                         &(struct rev_list){0}, err);
    if (rc == CAIRN_ECORRUPT) {
        corrupt |= READ_HISTORY;
    } else {
        assert_int_equal(rc, 0);
    }
    memset(&a, 0, sizeof a);
    a.now = now;
    a.prefix = cn->key;
    a.prefix_len = cn->key_len;
    rc = storage_scan(t, bucket, &a, NULL, NULL, &page, err);
    if (rc == CAIRN_ECORRUPT) {
        corrupt |= READ_SCAN;
    } else {
        assert_int_equal(rc, 0);
    }
    storage_txn_end(t);
    return corrupt;
}

static void test_corrupted_value_detected(void **state)
{
    struct fx *f = *state;
    cairn_bucket_config cfg;
    char path[600], err[CAIRN_ERRMSG_SIZE] = "";
    uint8_t long_key_buf[CAIRN_KEY_MAX], sib_key[CAIRN_KEY_MAX];
    struct canary cn[2];
    struct scenario sc;
    uint8_t *orig, *img;
    size_t len;
    uint64_t now;
    struct storage_result res;
    int found[2] = {0, 0}, detected[2] = {0, 0};

    /* a bucket with history, then, in the last write txn, two canary
     * values: under a short key and under a 512-byte key (group record,
     * next to a sibling in the same group) */
    cairn_bucket_config_init(&cfg, "c");
    cfg.history = 3;
    create_bucket(f->a, &cfg, T0);
    populate(f->a, "c", 1, T0 + SEC, 100, &sc);
    memset(long_key_buf, 'G', sizeof long_key_buf);
    long_key_buf[511] = 'x';
    memcpy(sib_key, long_key_buf, sizeof sib_key);
    sib_key[511] = 'y';
    {
        struct storage_cmd c = put_cmd(sib_key, 512, "sibling", 7, sc.now);
        apply(f->a, "c", &c, sc.next_index++, CAIRN_OK);
    }
    cn[0].key = (const uint8_t *)"canary";
    cn[0].key_len = 6;
    cn[1].key = long_key_buf;
    cn[1].key_len = sizeof long_key_buf;
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < sizeof cn[i].value; j++) {
            cn[i].value[j] = (uint8_t)('a' + (j * 5 + (size_t)i) % 26);
        }
        memcpy(cn[i].value, CANARY, sizeof CANARY - 1);
        cn[i].value[sizeof CANARY - 1] = (uint8_t)('0' + i);
    }
    {
        struct cairn_write w[2];
        struct storage_cmd c;
        memset(w, 0, sizeof w);
        memset(&c, 0, sizeof c);
        for (int i = 0; i < 2; i++) {
            w[i].op = CAIRN_OP_PUT;
            w[i].key = cn[i].key;
            w[i].key_len = cn[i].key_len;
            w[i].value = cn[i].value;
            w[i].value_len = sizeof cn[i].value;
        }
        c.type = STORAGE_CMD_TXN;
        c.time = sc.now;
        c.n_writes = 2;
        c.writes = w;
        res = apply(f->a, "c", &c, sc.next_index++, CAIRN_OK);
        cn[0].revision = res.revision;
        cn[1].revision = res.last_revision;
    }
    now = sc.now + SEC;
    assert_int_equal(check_canary(f->a, "c", &cn[0], now), 0);
    assert_int_equal(check_canary(f->a, "c", &cn[1], now), 0);
    storage_close(f->a);
    f->a = NULL;

    snprintf(path, sizeof path, "%s/data.mdb", f->dir_a);
    orig = read_file(path, &len);
    img = malloc(len);
    assert_non_null(img);

    /* every stored copy of each canary, one at a time */
    for (int i = 0; i < 2; i++) {
        for (size_t off = 0; off + sizeof CANARY <= len; off++) {
            int corrupt;
            if (memcmp(orig + off, CANARY, sizeof CANARY - 1) != 0 ||
                orig[off + sizeof CANARY - 1] != (uint8_t)('0' + i)) {
                continue;
            }
            found[i]++;
            memcpy(img, orig, len);
            img[off + 100] ^= 0x01; /* inside the 300-byte value */
            img[off + 101] ^= 0xff;
            write_file(path, img, len);
            f->a = open_store(f->dir_a, true);
            corrupt = check_canary(f->a, "c", &cn[i], now);
            /* a snapshot either refuses or carries only good bytes */
            {
                void *snap = NULL;
                size_t slen = 0;
                int rc = storage_snapshot(f->a, "c", &snap, &slen, err);
                assert_true(rc == 0 || rc == CAIRN_ECORRUPT);
                corrupt |= rc == CAIRN_ECORRUPT ? READ_SNAPSHOT : 0;
                if (rc == 0) {
                    assert_int_equal(
                        storage_restore(f->b, "c", snap, slen, err), 0);
                    assert_int_equal(
                        check_canary(f->b, "c", &cn[i], now), 0);
                    free(snap);
                }
            }
            print_message("  canary %d copy at offset %zu: ECORRUPT from%s%s%s"
                          "%s%s%s\n",
                          i, off, corrupt & READ_GET ? " get" : "",
                          corrupt & READ_GET_REV ? " get@rev" : "",
                          corrupt & READ_HISTORY ? " history" : "",
                          corrupt & READ_SCAN ? " scan" : "",
                          corrupt & READ_SNAPSHOT ? " snapshot" : "",
                          corrupt == 0 ? " nothing (a stale copy)" : "");
            detected[i] |= corrupt;
            /* a copy no read uses (a stale page) must still not change
             * what reads return: check_canary saw no wrong bytes. The
             * other canary, the sibling in the group, other keys: */
            assert_int_equal(check_canary(f->a, "c", &cn[1 - i], now), 0);
            {
                storage_txn *t = NULL;
                struct storage_entry e;
                int rc;
                assert_int_equal(storage_read_begin(f->a, &t, err), 0);
                /* the sibling shares the group record of canary 1: it may
                 * be refused with it, but never read wrong */
                rc = storage_get(t, "c", sib_key, 512, 0, now, &e, err);
                if (!(i == 1 && rc == CAIRN_ECORRUPT)) {
                    assert_int_equal(rc, 0);
                    assert_int_equal(e.value_len, 7);
                    assert_memory_equal(e.value, "sibling", 7);
                }
                assert_int_equal(storage_get(t, "c", "txn/b", 5, 0, now, &e,
                                             err),
                                 0);
                assert_int_equal(e.value_len, 2);
                assert_memory_equal(e.value, "BB", 2);
                storage_txn_end(t);
            }
            storage_close(f->a);
            f->a = NULL;
        }
        print_message("  canary %d: %d stored copies found\n", i, found[i]);
        assert_true(found[i] >= 1);
        /* the latest record and the revision record are both checked: a
         * flip in one copy or the other is seen by get, get at the
         * revision, history and snapshot */
        assert_int_equal(detected[i] & (READ_GET | READ_GET_REV |
                                        READ_HISTORY | READ_SNAPSHOT),
                         READ_GET | READ_GET_REV | READ_HISTORY |
                             READ_SNAPSHOT);
    }
    write_file(path, orig, len);
    f->a = open_store(f->dir_a, true);
    assert_int_equal(check_canary(f->a, "c", &cn[0], now), 0);
    assert_int_equal(check_canary(f->a, "c", &cn[1], now), 0);
    free(img);
    free(orig);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_reopen_keeps_everything),
        T(test_restore_into_empty_store),
        T(test_restore_replaces_existing_bucket),
        T(test_truncated_snapshot_refused),
        T(test_truncated_big_snapshot_refused),
        T(test_bitflip_snapshot_refused),
        T(test_restore_other_bucket_einval),
        T(test_deleted_bucket_pages_reused),
        T(test_map_full_changes_nothing),
        T(test_corrupted_value_detected),
#undef T
    };
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests_name("test_durability", tests, NULL, NULL);
}
