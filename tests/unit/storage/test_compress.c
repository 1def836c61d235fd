/* Compression (storage/compress.c): a bucket with compression and one
 * without, given the same commands, read back byte for byte the same
 * through every read (get, get at a revision, history, scan, changes),
 * refuse and accept the same compares (cas, txn), count the same logical
 * bytes against max_bytes, and differ only in the bytes they store; a
 * snapshot of a compressed bucket restores to identical reads; a damaged
 * compressed value is reported as corrupt. */
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "helpers.h"
#include "internal.h"

/* A dump of everything a reader can see of a bucket, as text. */
struct dump {
    char *buf;
    size_t len, cap;
};

static void dump_add(struct dump *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void dump_add(struct dump *d, const char *fmt, ...)
{
    va_list ap;
    int n;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(d->buf + d->len, d->cap - d->len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if ((size_t)n < d->cap - d->len) {
            d->len += (size_t)n;
            return;
        }
        d->cap = d->cap * 2 + (size_t)n + 1;
        d->buf = realloc(d->buf, d->cap);
        assert_non_null(d->buf);
    }
}

static int dump_entry(void *arg, const struct storage_entry *e)
{
    struct dump *d = arg;
    dump_add(d, "[%.*s r%llu c%llu op%u u%llu x%llu m%zu v%zu:",
             (int)e->key_len, (const char *)e->key,
             (unsigned long long)e->revision,
             (unsigned long long)e->create_revision, e->op,
             (unsigned long long)e->updated,
             (unsigned long long)e->expires_at, e->meta_len, e->value_len);
    if (e->value_len > 0) {
        assert_non_null(e->value);
    }
    for (size_t i = 0; i < e->value_len; i++) {
        dump_add(d, "%02x", ((const uint8_t *)e->value)[i]);
    }
    dump_add(d, "]\n");
    return 0;
}

static const char *const keys[] = {"small", "json", "random", "nul",
                                   "empty", "edge",  "gone"};
#define N_KEYS (sizeof keys / sizeof keys[0])

/* Everything readable of @bucket at time @now. */
static void dump_bucket(struct fx *f, const char *bucket, uint64_t now,
                        struct dump *d)
{
    storage_txn *t;
    struct storage_scan scan = {.now = now};
    struct storage_changes ch = {.now = now};
    struct storage_changes_page cp;
    struct storage_page page;
    struct storage_entry e;

    assert_int_equal(storage_read_begin(f->s, &t, f->err), 0);
    for (size_t i = 0; i < N_KEYS; i++) {
        dump_add(d, "get %s: ", keys[i]);
        if (storage_get(t, bucket, S(keys[i]), 0, now, &e, f->err) == 0) {
            dump_entry(d, &e);
        } else {
            dump_add(d, "-\n");
        }
        dump_add(d, "history %s:\n", keys[i]);
        storage_history(t, bucket, S(keys[i]), now, dump_entry, d, f->err);
    }
    for (uint64_t rev = 1; rev <= 40; rev++) {
        for (size_t i = 0; i < N_KEYS; i++) {
            if (storage_get(t, bucket, S(keys[i]), rev, now, &e, NULL) == 0) {
                dump_add(d, "at %llu: ", (unsigned long long)rev);
                dump_entry(d, &e);
            }
        }
    }
    dump_add(d, "scan:\n");
    assert_int_equal(
        storage_scan(t, bucket, &scan, dump_entry, d, &page, f->err), 0);
    dump_add(d, "changes:\n");
    assert_int_equal(
        storage_changes(t, bucket, &ch, dump_entry, d, &cp, f->err), 0);
    ch.latest_only = true;
    dump_add(d, "current:\n");
    assert_int_equal(
        storage_changes(t, bucket, &ch, dump_entry, d, &cp, f->err), 0);
    storage_txn_end(t);
}

static void make_bucket(struct fx *f, const char *name, bool compression)
{
    cairn_bucket_config cfg;
    cairn_bucket_config_init(&cfg, name);
    cfg.history = 4;
    cfg.compression = compression;
    assert_int_equal(fx_bucket_cfg(f, &cfg, T0), 0);
}

/* Values: compressible JSON-like text, random bytes, binary with NULs. */
static uint8_t json[4096], rnd[1000], nul[600], edge[STORAGE_COMPRESS_MIN];

static void make_values(void)
{
    size_t o = 0;
    for (int i = 0; o < sizeof json - 100; i++) {
        o += (size_t)snprintf((char *)json + o, sizeof json - o,
                              "{\"user\":\"u%d\",\"theme\":\"dark\"},", i);
    }
    memset(json + o, ' ', sizeof json - o);
    srand(7);
    for (size_t i = 0; i < sizeof rnd; i++) {
        rnd[i] = (uint8_t)rand();
    }
    for (size_t i = 0; i < sizeof nul; i++) {
        nul[i] = i % 3 == 0 ? 0 : (uint8_t)('a' + i % 5);
    }
    memset(edge, 'e', sizeof edge);
}

/* The same commands into @bucket; returns what the compares decided. */
static void run_commands(struct fx *f, const char *bucket, char *outcome,
                         size_t size)
{
    struct storage_cmd c;
    struct storage_result r1, r2, r3, r4;
    struct cairn_compare cmp;
    struct cairn_write w[2];
    uint64_t t = T0 + 10;
    uint8_t saved = json[10];

    fx_put(f, bucket, "small", "a", t++);
    fx_put_bytes(f, bucket, S("json"), json, sizeof json, t++);
    fx_put_bytes(f, bucket, S("random"), rnd, sizeof rnd, t++);
    fx_put_bytes(f, bucket, S("nul"), nul, sizeof nul, t++);
    fx_put_bytes(f, bucket, S("empty"), "", 0, t++);
    fx_put_bytes(f, bucket, S("edge"), edge, sizeof edge, t++);
    fx_put_bytes(f, bucket, S("gone"), json, sizeof json, t++);
    json[10] = 'X';
    fx_put_bytes(f, bucket, S("json"), json, sizeof json, t++);
    json[10] = saved;
    c = cmd_delete(S("gone"), 0, t++);
    fx_apply(f, bucket, &c, 0);
    /* cas: the old value given whole, then a wrong one. */
    json[10] = 'X';
    c = cmd_cas(S("json"), nul, sizeof nul, json, sizeof json, true, t++);
    r1 = fx_apply(f, bucket, &c, 0);
    json[10] = saved;
    c = cmd_cas(S("json"), nul, sizeof nul, json, sizeof json, true, t++);
    r2 = fx_apply(f, bucket, &c, 0);
    /* txn: compare a compressed value, then write two keys. */
    memset(&cmp, 0, sizeof cmp);
    cmp.key = "nul";
    cmp.key_len = 3;
    cmp.target = CAIRN_CMP_VALUE;
    cmp.op = CAIRN_CMP_EQ;
    cmp.value = nul;
    cmp.value_len = sizeof nul;
    w[0] = wr_put(S("small"), json, sizeof json);
    w[1] = wr_purge(S("edge"));
    c = cmd_txn(&cmp, 1, w, 2, t++);
    r3 = fx_apply(f, bucket, &c, 0);
    cmp.value_len = sizeof nul - 1;
    c = cmd_txn(&cmp, 1, w, 2, t++);
    r4 = fx_apply(f, bucket, &c, 0);
    snprintf(outcome, size, "cas %d/%llu %d, txn %d/%llu %d", r1.code,
             (unsigned long long)r1.revision, r2.code, r3.code,
             (unsigned long long)r3.revision, r4.code);
}

static void test_identical_reads(void **state)
{
    struct fx *f = *state;
    struct dump du = {0}, dz = {0};
    char ou[128], oz[128];
    struct storage_bucket_info iu, iz;

    make_values();
    make_bucket(f, "u", false);
    make_bucket(f, "z", true);
    run_commands(f, "u", ou, sizeof ou);
    run_commands(f, "z", oz, sizeof oz);
    assert_string_equal(ou, oz);
    /* The first cas and txn held, the second ones did not. */
    assert_non_null(strstr(ou, "cas 0/"));
    assert_non_null(strstr(ou, " 5, txn 0/"));
    dump_bucket(f, "u", T0 + 1000, &du);
    dump_bucket(f, "z", T0 + 1000, &dz);
    assert_true(du.len > 10000);
    if (du.len != dz.len || memcmp(du.buf, dz.buf, du.len) != 0) {
        size_t i = 0, from;
        while (i < du.len && i < dz.len && du.buf[i] == dz.buf[i]) {
            i++;
        }
        from = i > 200 ? i - 200 : 0;
        print_error("reads differ at byte %zu:\n--- plain\n%.*s\n--- "
                    "compressed\n%.*s\n",
                    i, (int)(du.len - from < 400 ? du.len - from : 400),
                    du.buf + from,
                    (int)(dz.len - from < 400 ? dz.len - from : 400),
                    dz.buf + from);
        fail();
    }
    iu = fx_info(f, "u");
    iz = fx_info(f, "z");
    assert_int_equal(iu.keys, iz.keys);
    assert_int_equal(iu.bytes, iz.bytes);
    assert_int_equal(iu.last_revision, iz.last_revision);
    assert_int_equal(iu.stored_bytes, iu.bytes);
    assert_true(iz.stored_bytes < iz.bytes / 2);
    free(du.buf);
    free(dz.buf);
}

/* max_bytes counts logical bytes: a compressed bucket is full exactly when
 * an uncompressed one is. */
static void test_max_bytes_is_logical(void **state)
{
    struct fx *f = *state;
    const char *names[2] = {"u", "z"};
    make_values();
    for (int i = 0; i < 2; i++) {
        cairn_bucket_config cfg;
        struct storage_cmd c;
        struct storage_result r;
        cairn_bucket_config_init(&cfg, names[i]);
        cfg.compression = i == 1;
        cfg.max_bytes = 3 * (4 + (int64_t)sizeof json);
        assert_int_equal(fx_bucket_cfg(f, &cfg, T0), 0);
        fx_put_bytes(f, names[i], S("k1/a"), json, sizeof json, T0 + 1);
        fx_put_bytes(f, names[i], S("k2/a"), json, sizeof json, T0 + 2);
        fx_put_bytes(f, names[i], S("k3/a"), json, sizeof json, T0 + 3);
        c = cmd_put(S("k4/a"), json, sizeof json, T0 + 4);
        r = fx_apply(f, names[i], &c, 0);
        assert_refused(&r, CAIRN_EFULL);
        assert_int_equal(fx_info(f, names[i]).bytes, 3 * (4 + sizeof json));
    }
}

static void test_snapshot_restores_identically(void **state)
{
    struct fx *f = *state, *g;
    struct dump d1 = {0}, d2 = {0};
    char o[128];
    void *snap, *gs = NULL;
    size_t len;
    struct storage_bucket_info i1, i2;

    make_values();
    make_bucket(f, "z", true);
    run_commands(f, "z", o, sizeof o);
    assert_int_equal(storage_snapshot(f->s, "z", &snap, &len, f->err), 0);
    assert_int_equal(fx_setup_empty(&gs), 0);
    g = gs;
    assert_int_equal(storage_restore(g->s, "z", snap, len, g->err), 0);
    dump_bucket(f, "z", T0 + 1000, &d1);
    dump_bucket(g, "z", T0 + 1000, &d2);
    assert_int_equal(d1.len, d2.len);
    assert_memory_equal(d1.buf, d2.buf, d1.len);
    i1 = fx_info(f, "z");
    i2 = fx_info(g, "z");
    assert_int_equal(i1.keys, i2.keys);
    assert_int_equal(i1.bytes, i2.bytes);
    assert_int_equal(i1.stored_bytes, i2.stored_bytes);
    assert_true(i2.stored_bytes < i2.bytes);
    /* And the counters survive a reopen. */
    fx_reopen(g, NULL);
    assert_int_equal(fx_info(g, "z").stored_bytes, i1.stored_bytes);
    free(snap);
    free(d1.buf);
    free(d2.buf);
    fx_teardown(&gs);
}

/* A stored frame that does not decompress is corrupt data, named. */
static void test_damaged_frame(void **state)
{
    struct fx *f = *state;
    uint8_t frame[256];
    struct record_view v;
    struct storage_bufs bufs = {0};
    size_t n;
    make_values();
    n = ZSTD_compress(frame, sizeof frame, nul, sizeof nul, 1);
    assert_false(ZSTD_isError(n));
    memset(&v, 0, sizeof v);
    v.e.revision = 9;
    v.e.value_len = sizeof nul;
    v.zvalue = frame;
    v.zvalue_len = n;
    assert_int_equal(storage__inflate(f->s, &bufs, &v, "z", f->err), 0);
    assert_memory_equal(v.e.value, nul, sizeof nul);
    v.e.value = NULL;
    v.zvalue_len = n - 3; /* cut short */
    assert_int_equal(storage__inflate(f->s, &bufs, &v, "z", f->err),
                     CAIRN_ECORRUPT);
    assert_msg_has(f->err, "bucket 'z': the compressed value of revision 9");
    storage__bufs_free(&bufs);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST_EMPTY(test_identical_reads),
        TEST_EMPTY(test_max_bytes_is_logical),
        TEST_EMPTY(test_snapshot_restores_identically),
        TEST_EMPTY(test_damaged_frame),
    };
    RUN_TESTS("storage compression", tests, argc, argv);
}
