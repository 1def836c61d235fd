#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "tmpdir.h"

static int setup_common(void **state, bool with_bucket)
{
    struct fx *f = calloc(1, sizeof *f);
    int rc;
    if (f == NULL) {
        return -1;
    }
    if (test_tmpdir_create("storage-unit", f->dir, sizeof f->dir) != 0) {
        print_error("cannot create a temp dir\n");
        free(f);
        return -1;
    }
    rc = storage_open(f->dir, NULL, &f->s, f->err);
    if (rc != 0) {
        print_error("storage_open(%s): %d %s\n", f->dir, rc, f->err);
        test_tmpdir_remove(f->dir);
        free(f);
        return -1;
    }
    if (with_bucket) {
        cairn_bucket_config cfg;
        cairn_bucket_config_init(&cfg, B);
        rc = storage_bucket_create(f->s, &cfg, T0, f->err);
        if (rc != 0) {
            print_error("bucket_create: %d %s\n", rc, f->err);
            storage_close(f->s);
            test_tmpdir_remove(f->dir);
            free(f);
            return -1;
        }
    }
    *state = f;
    return 0;
}

int fx_setup(void **state)
{
    return setup_common(state, true);
}

int fx_setup_empty(void **state)
{
    return setup_common(state, false);
}

int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (f == NULL) {
        return 0;
    }
    storage_close(f->s);
    test_tmpdir_remove(f->dir);
    free(f);
    *state = NULL;
    return 0;
}

void fx_reopen(struct fx *f, const struct storage_options *opts)
{
    int rc;
    storage_close(f->s);
    f->s = NULL;
    rc = storage_open(f->dir, opts, &f->s, f->err);
    if (rc != 0) {
        print_error("reopen: %d %s\n", rc, f->err);
    }
    assert_int_equal(rc, CAIRN_OK);
}

int fx_bucket_cfg(struct fx *f, const cairn_bucket_config *cfg, uint64_t now)
{
    f->err[0] = '\0';
    return storage_bucket_create(f->s, cfg, now, f->err);
}

void fx_bucket(struct fx *f, const char *name, uint32_t history,
               int64_t ttl_ns, int64_t max_bytes)
{
    cairn_bucket_config cfg;
    int rc;
    cairn_bucket_config_init(&cfg, name);
    cfg.history = history;
    cfg.ttl_ns = ttl_ns;
    cfg.max_bytes = max_bytes;
    rc = fx_bucket_cfg(f, &cfg, T0);
    if (rc != 0) {
        print_error("bucket_create(%s): %d %s\n", name, rc, f->err);
    }
    assert_int_equal(rc, CAIRN_OK);
}

struct storage_bucket_info fx_info(struct fx *f, const char *bucket)
{
    struct storage_bucket_info info;
    int rc;
    memset(&info, 0, sizeof info);
    rc = storage_bucket_info(f->s, bucket, &info, f->err);
    if (rc != 0) {
        print_error("bucket_info(%s): %d %s\n", bucket, rc, f->err);
    }
    assert_int_equal(rc, CAIRN_OK);
    return info;
}

/* ---- commands ---------------------------------------------------------- */

struct cairn_write wr_put(const void *k, size_t kl, const void *v, size_t vl)
{
    struct cairn_write w;
    memset(&w, 0, sizeof w);
    w.op = CAIRN_OP_PUT;
    w.key = k;
    w.key_len = kl;
    w.value = v;
    w.value_len = vl;
    return w;
}

struct cairn_write wr_del(const void *k, size_t kl)
{
    struct cairn_write w = wr_put(k, kl, NULL, 0);
    w.op = CAIRN_OP_DEL;
    return w;
}

struct cairn_write wr_purge(const void *k, size_t kl)
{
    struct cairn_write w = wr_put(k, kl, NULL, 0);
    w.op = CAIRN_OP_PURGE;
    return w;
}

static struct storage_cmd base_cmd(uint32_t type, uint64_t time)
{
    struct storage_cmd c;
    memset(&c, 0, sizeof c);
    c.type = type;
    c.time = time;
    return c;
}

struct storage_cmd cmd_put(const void *k, size_t kl, const void *v, size_t vl,
                           uint64_t time)
{
    struct storage_cmd c = base_cmd(STORAGE_CMD_PUT, time);
    c.w = wr_put(k, kl, v, vl);
    return c;
}

struct storage_cmd cmd_create(const void *k, size_t kl, const void *v,
                              size_t vl, uint64_t time)
{
    struct storage_cmd c = cmd_put(k, kl, v, vl, time);
    c.type = STORAGE_CMD_CREATE;
    return c;
}

struct storage_cmd cmd_update(const void *k, size_t kl, const void *v,
                              size_t vl, uint64_t rev, uint64_t time)
{
    struct storage_cmd c = cmd_put(k, kl, v, vl, time);
    c.type = STORAGE_CMD_UPDATE;
    c.revision = rev;
    return c;
}

struct storage_cmd cmd_cas(const void *k, size_t kl, const void *v, size_t vl,
                           const void *old, size_t old_len, bool has_old,
                           uint64_t time)
{
    struct storage_cmd c = cmd_put(k, kl, v, vl, time);
    c.type = STORAGE_CMD_CAS;
    c.has_old = has_old;
    c.old = old;
    c.old_len = old_len;
    return c;
}

struct storage_cmd cmd_delete(const void *k, size_t kl, uint64_t rev,
                              uint64_t time)
{
    struct storage_cmd c = base_cmd(STORAGE_CMD_DELETE, time);
    c.w = wr_del(k, kl);
    c.revision = rev;
    return c;
}

struct storage_cmd cmd_purge(const void *k, size_t kl, uint64_t rev,
                             uint64_t time)
{
    struct storage_cmd c = base_cmd(STORAGE_CMD_PURGE, time);
    c.w = wr_purge(k, kl);
    c.revision = rev;
    return c;
}

struct storage_cmd cmd_expire(uint64_t time)
{
    return base_cmd(STORAGE_CMD_EXPIRE, time);
}

struct storage_cmd cmd_txn(const struct cairn_compare *cmp, uint32_t n_cmp,
                           const struct cairn_write *w, uint32_t n_w,
                           uint64_t time)
{
    struct storage_cmd c = base_cmd(STORAGE_CMD_TXN, time);
    c.compares = cmp;
    c.n_compares = n_cmp;
    c.writes = w;
    c.n_writes = n_w;
    return c;
}

struct storage_result fx_apply(struct fx *f, const char *bucket,
                               const struct storage_cmd *cmd, uint64_t index)
{
    struct storage_result res;
    int rc;
    memset(&res, 0xa5, sizeof res); /* garbage: the engine must fill it */
    f->err[0] = '\0';
    rc = storage_apply(f->s, bucket, cmd, index, &res, f->err);
    if (rc != 0) {
        print_error("storage_apply returned %d: %s\n", rc, f->err);
    }
    assert_int_equal(rc, 0);
    return res;
}

void assert_refused(const struct storage_result *r, int code)
{
    if (r->code != code) {
        print_error("result code %d (%s), want %d\n", r->code, r->errmsg,
                    code);
    }
    assert_int_equal(r->code, code);
    assert_int_equal(r->revision, 0);
    assert_int_equal(r->last_revision, 0);
    assert_false(r->skipped);
    if (r->errmsg[0] == '\0' || memchr(r->errmsg, '\0', sizeof r->errmsg) == NULL) {
        fail_msg("refusal %d without a (terminated) message", code);
    }
}

uint64_t fx_put_bytes(struct fx *f, const char *bucket, const void *k,
                      size_t kl, const void *v, size_t vl, uint64_t time)
{
    struct storage_cmd c = cmd_put(k, kl, v, vl, time);
    struct storage_result r = fx_apply(f, bucket, &c, 0);
    if (r.code != CAIRN_OK) {
        print_error("put: %d %s\n", r.code, r.errmsg);
    }
    assert_int_equal(r.code, CAIRN_OK);
    assert_false(r.skipped);
    assert_int_equal(r.last_revision, r.revision);
    return r.revision;
}

uint64_t fx_put(struct fx *f, const char *bucket, const char *key,
                const char *value, uint64_t time)
{
    return fx_put_bytes(f, bucket, key, strlen(key), value, strlen(value),
                        time);
}

/* ---- reads ------------------------------------------------------------- */

void got_free(struct got *g)
{
    if (g != NULL) {
        free(g->value);
        g->value = NULL;
    }
}

static void copy_entry(struct got *g, const struct storage_entry *e)
{
    memset(g, 0, sizeof *g);
    assert_true(e->key_len <= CAIRN_KEY_MAX);
    g->key_len = e->key_len;
    if (e->key_len > 0) {
        memcpy(g->key, e->key, e->key_len);
    }
    g->value_len = e->value_len;
    if (e->value != NULL) {
        g->value = malloc(e->value_len + 1);
        assert_non_null(g->value);
        if (e->value_len > 0) {
            memcpy(g->value, e->value, e->value_len);
        }
    } else {
        assert_int_equal(e->value_len, 0);
    }
    assert_true(e->meta_len <= CAIRN_KEY_META_MAX);
    g->meta_len = e->meta_len;
    g->meta_null = e->meta == NULL;
    if (e->meta_len > 0) {
        memcpy(g->meta, e->meta, e->meta_len);
    }
    g->revision = e->revision;
    g->create_revision = e->create_revision;
    g->updated = e->updated;
    g->expires_at = e->expires_at;
    g->op = e->op;
}

int fx_get(struct fx *f, const char *bucket, const void *k, size_t kl,
           uint64_t rev, uint64_t now, struct got *out)
{
    storage_txn *t = NULL;
    struct storage_entry e;
    int rc = storage_read_begin(f->s, &t, f->err);
    assert_int_equal(rc, CAIRN_OK);
    memset(&e, 0, sizeof e);
    f->err[0] = '\0';
    rc = storage_get(t, bucket, k, kl, rev, now, out != NULL ? &e : NULL,
                     f->err);
    if (rc == CAIRN_OK && out != NULL) {
        copy_entry(out, &e);
    }
    storage_txn_end(t);
    return rc;
}

uint64_t fx_expect_value(struct fx *f, const char *bucket, const void *k,
                         size_t kl, uint64_t rev, uint64_t now,
                         const void *v, size_t vl)
{
    struct got g;
    uint64_t r;
    int rc = fx_get(f, bucket, k, kl, rev, now, &g);
    if (rc != CAIRN_OK) {
        print_error("get: %d %s\n", rc, f->err);
    }
    assert_int_equal(rc, CAIRN_OK);
    assert_int_equal(g.op, CAIRN_OP_PUT);
    assert_int_equal(g.key_len, kl);
    assert_memory_equal(g.key, k, kl);
    assert_int_equal(g.value_len, vl);
    if (vl > 0) {
        assert_non_null(g.value);
        assert_memory_equal(g.value, v, vl);
    }
    r = g.revision;
    got_free(&g);
    return r;
}

static void copy_hist(struct hist_entry *h, const struct storage_entry *e)
{
    memset(h, 0, sizeof *h);
    h->revision = e->revision;
    h->create_revision = e->create_revision;
    h->updated = e->updated;
    h->expires_at = e->expires_at;
    h->op = e->op;
    h->value_null = e->value == NULL;
    h->value_len = e->value_len;
    if (e->value != NULL && e->value_len > 0) {
        memcpy(h->value, e->value,
               e->value_len < COPY_MAX ? e->value_len : COPY_MAX);
    }
    assert_true(e->key_len <= CAIRN_KEY_MAX);
    h->key_len = e->key_len;
    if (e->key_len > 0) {
        memcpy(h->key, e->key, e->key_len);
    }
}

static int hist_cb(void *arg, const struct storage_entry *e)
{
    struct hist *h = arg;
    assert_true(h->n < sizeof h->e / sizeof h->e[0]);
    copy_hist(&h->e[h->n++], e);
    return 0;
}

int fx_history(struct fx *f, const char *bucket, const void *k, size_t kl,
               uint64_t now, struct hist *h)
{
    storage_txn *t = NULL;
    int rc = storage_read_begin(f->s, &t, f->err);
    assert_int_equal(rc, CAIRN_OK);
    memset(h, 0, sizeof *h);
    f->err[0] = '\0';
    rc = storage_history(t, bucket, k, kl, now, hist_cb, h, f->err);
    storage_txn_end(t);
    return rc;
}

static int scan_cb(void *arg, const struct storage_entry *e)
{
    struct scanres *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap == 0 ? 16 : r->cap * 2;
        struct hist_entry *n = realloc(r->e, cap * sizeof *n);
        assert_non_null(n);
        r->e = n;
        r->cap = cap;
    }
    copy_hist(&r->e[r->n++], e);
    return 0;
}

int fx_scan(struct fx *f, const char *bucket, const struct storage_scan *args,
            struct scanres *r)
{
    storage_txn *t = NULL;
    int rc = storage_read_begin(f->s, &t, f->err);
    assert_int_equal(rc, CAIRN_OK);
    r->n = 0;
    memset(&r->page, 0, sizeof r->page);
    f->err[0] = '\0';
    rc = storage_scan(t, bucket, args, scan_cb, r, &r->page, f->err);
    storage_txn_end(t);
    return rc;
}

void scanres_free(struct scanres *r)
{
    free(r->e);
    memset(r, 0, sizeof *r);
}

int fx_count(struct fx *f, const char *bucket, const struct storage_scan *args,
             uint64_t *count)
{
    storage_txn *t = NULL;
    int rc = storage_read_begin(f->s, &t, f->err);
    assert_int_equal(rc, CAIRN_OK);
    f->err[0] = '\0';
    rc = storage_count(t, bucket, args, count, f->err);
    storage_txn_end(t);
    return rc;
}

void make_key(uint8_t *buf, size_t len, uint8_t base, uint8_t last)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(base + (i % 7)); /* not all one byte */
    }
    if (len > 0) {
        buf[len - 1] = last;
    }
}
