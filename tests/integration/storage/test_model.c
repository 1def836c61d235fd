/*
 * test_model.c — model-based randomized test of the storage engine.
 *
 * A plain in-memory model of one bucket (every key's kept revisions, the
 * revision counter, compacted revision and applied index) implements the
 * semantics of docs/storage.md. Seeded random command sequences over a small
 * key space (short keys, and 509..512-byte keys sharing 511-byte prefixes so
 * the group-record path is used) are applied both to a real store
 * (storage_apply, or batched with storage_write_begin/apply/commit, some
 * batches aborted with storage_txn_end) and to the model. After every step
 * the result and the whole visible state are compared: get and history of
 * every key, gets at kept revisions, a full scan, a paged scan through
 * cursors with a random range/prefix/limit, counts and bucket info. Time
 * advances in random steps so per-key ttls, bucket ttls and marker expiry
 * fire. Now and then the store is closed and reopened, the bucket is
 * snapshotted and restored over itself, or moved into a new store through a
 * snapshot; the model must not notice. Commands also go to a missing bucket
 * (ENOBUCKET), with replayed log indexes (skipped), and break one rule at a
 * time (empty or 513-byte key, value or metadata over the limit, bad ttl or
 * expires_at, 65 compares, 10,001 writes).
 *
 * One cmocka test per bucket config (a filter such as 'h64-*' runs a
 * subset), plus long_key_reads (the error code of reads of 513-byte keys).
 *
 * Environment:
 *   CAIRN_TEST_SEED   seed (decimal or 0x...); default: from the clock.
 *                     Printed at start and with every failure.
 *   CAIRN_MODEL_OPS   total operations over all configs (default 10000).
 *   CAIRN_MODEL_TRACE 1: print every command.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "storage.h"
#include "tmpdir.h"

#define SEC ((uint64_t)1000000000ULL)
#define MS ((uint64_t)1000000ULL)
#define HOUR (3600 * SEC)
#define BUCKET "model"

/* ------------------------------------------------------------------------
 * Points docs/storage.md does not pin down. The model needs one answer for
 * each to compare exactly; these follow what the engine does (the report
 * lists them) and are kept in one place so they are easy to revisit.
 * ---------------------------------------------------------------------- */

/* create_revision of a DEL/PURGE marker: 0 (the engine's choice), or the
 * create revision of the lifetime it ends, or the marker's own revision. */
enum { MARKER_CREV_ZERO = 0, MARKER_CREV_LIFETIME = 1, MARKER_CREV_SELF = 2 };
static int policy_marker_crev = MARKER_CREV_ZERO;

/* TXN result.count: the number of writes in the txn (true) or the writes
 * that took a revision (false). */
static bool policy_txn_count_all = false;

/* EXPIRE result.count ("entries removed") is checked as a range: at least
 * one per key whose latest revision expired plus every expired older
 * revision of the other keys, at most every revision removed (the engine
 * counts expired revisions it finds still kept, in expiry order). */

/* EXPIRE: new PURGE markers take revisions in the order of the expiring
 * values' (expires_at, revision) (true), or in key order (false).
 *
 * Not generated at all, because the docs allow both answers and the engine
 * picks one: delete [r] of a key that is not live with r not its latest
 * revision, and purge [r] of a key with nothing stored (ENOTFOUND or
 * ECONFLICT? the engine says ECONFLICT); validation errors together with a
 * failing condition (only one rule is broken at a time). */
static bool policy_expire_order_by_expiry = true;

/* ------------------------------------------------------------------------
 * Random numbers (splitmix64): one stream per run, from the seed.
 * ---------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------------
 * Key space: 24 keys. Short keys with shared prefixes and edge bytes, and
 * long keys around the 511-byte LMDB limit: P509 < P510 < P510 'M' <
 * P510 'M' 0x00 < P510 'M' 'a' < P510 'M' 0xff < P510 'N' ...
 * ---------------------------------------------------------------------- */

#define NKEYS 24
static uint8_t keys[NKEYS][CAIRN_KEY_MAX];
static size_t key_lens[NKEYS];
static int key_order[NKEYS]; /* key indexes in byte order */
static uint8_t bad_key[CAIRN_KEY_MAX + 1]; /* 513 bytes */

static int keycmp(const void *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) {
        return c;
    }
    return (an > bn) - (an < bn);
}

static void keys_init(void)
{
    static const struct {
        const char *s;
        size_t n;
    } short_keys[] = {
#define K(str) {str, sizeof(str) - 1}
        K("a"),      K("ab"),      K("abc"),     K("b"),
        K("b\0"),    K("ba"),      K("\xff"),    K("\xff\xff"),
        K("\0"),     K("user/1"),  K("user/10"), K("user/2"),
        K("config/db.url"),        K("config/db.user"),
#undef K
    };
    static const struct {
        size_t len; /* 509 or 510: a prefix of P510; 511/512: P510 + tail */
        uint8_t tail[2];
    } long_keys[] = {
        {509, {0, 0}},      {510, {0, 0}},      {511, {'M', 0}},
        {512, {'M', 0x00}}, {512, {'M', 'a'}},  {512, {'M', 0xff}},
        {511, {'N', 0}},    {512, {'N', 'x'}},  {512, {'O', 'A'}},
        {512, {'O', 'z'}},
    };
    uint8_t p510[510];
    int n = 0;

    memcpy(p510, "long/", 5);
    for (size_t i = 5; i < sizeof p510; i++) {
        p510[i] = (uint8_t)('a' + (i * 7) % 26);
    }
    for (size_t i = 0; i < sizeof short_keys / sizeof short_keys[0]; i++) {
        memcpy(keys[n], short_keys[i].s, short_keys[i].n);
        key_lens[n++] = short_keys[i].n;
    }
    for (size_t i = 0; i < sizeof long_keys / sizeof long_keys[0]; i++) {
        size_t len = long_keys[i].len;
        memcpy(keys[n], p510, len < 510 ? len : 510);
        if (len > 510) {
            keys[n][510] = long_keys[i].tail[0];
        }
        if (len > 511) {
            keys[n][511] = long_keys[i].tail[1];
        }
        key_lens[n++] = len;
    }
    assert_int_equal(n, NKEYS);

    memcpy(bad_key, p510, 510);
    bad_key[510] = 'M';
    bad_key[511] = 'a';
    bad_key[512] = 'b';

    for (int i = 0; i < NKEYS; i++) {
        key_order[i] = i;
    }
    for (int i = 1; i < NKEYS; i++) { /* insertion sort by bytes */
        for (int j = i; j > 0; j--) {
            int a = key_order[j - 1], b = key_order[j];
            if (keycmp(keys[a], key_lens[a], keys[b], key_lens[b]) <= 0) {
                break;
            }
            key_order[j - 1] = b;
            key_order[j] = a;
        }
    }
}

/* Index of @k in the key space, or -1. */
static int key_index(const void *k, size_t len)
{
    for (int i = 0; i < NKEYS; i++) {
        if (key_lens[i] == len && memcmp(keys[i], k, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * Values: value (seed, len) is the first len bytes of pattern[seed]. Few
 * seeds, so equal values recur (for cas and value compares); the model
 * stores (seed, len) and compares bytes.
 * ---------------------------------------------------------------------- */

#define NSEEDS 8
#define PAT_LEN ((size_t)CAIRN_VALUE_DEFAULT_MAX + 16)
static uint8_t *patterns;

static void patterns_init(void)
{
    uint64_t s = 0x5eed;
    patterns = malloc((size_t)NSEEDS * PAT_LEN);
    assert_non_null(patterns);
    for (size_t i = 0; i < (size_t)NSEEDS * PAT_LEN; i += 8) {
        uint64_t v = splitmix(&s);
        memcpy(patterns + i, &v, 8);
    }
    /* Seed 1 is seed 0 with a different last byte from offset 3 on, so
     * short values of the two are equal and longer ones differ late. */
    memcpy(patterns + PAT_LEN, patterns, 3);
}

static const uint8_t *pat(uint32_t seed)
{
    return patterns + (size_t)seed * PAT_LEN;
}

/* The seed of a value pointer produced by the generator. */
static uint32_t pat_seed(const void *p, size_t len)
{
    size_t off;
    if (len == 0 || p == NULL) {
        return 0;
    }
    off = (size_t)((const uint8_t *)p - patterns);
    assert_true(off % PAT_LEN == 0);
    return (uint32_t)(off / PAT_LEN);
}

/* ------------------------------------------------------------------------
 * The model of one bucket.
 * ---------------------------------------------------------------------- */

struct mrev {
    uint32_t op;
    uint32_t vseed, vlen; /* value: first vlen bytes of pattern vseed */
    uint32_t mseed, mlen; /* metadata, likewise */
    uint64_t rev;
    uint64_t crev;
    uint64_t updated;
    uint64_t exp; /* 0: never */
};

struct mkey {
    uint32_t n;                         /* kept revisions */
    struct mrev revs[CAIRN_HISTORY_MAX]; /* newest first */
};

struct model {
    cairn_bucket_config cfg;
    uint64_t created;
    uint64_t rev; /* last revision given */
    uint64_t compacted;
    uint64_t applied;
    uint32_t expire_min; /* lower bound of the last EXPIRE's count */
    struct mkey k[NKEYS];
};

static bool rev_expired(const struct mrev *x, uint64_t t)
{
    return x->exp != 0 && x->exp <= t;
}

static bool key_live(const struct model *m, int k, uint64_t t)
{
    const struct mkey *mk = &m->k[k];
    return mk->n > 0 && mk->revs[0].op == CAIRN_OP_PUT &&
           !rev_expired(&mk->revs[0], t);
}

/* Whether @k's latest revision is a value expired at @t: expire() will
 * drop its whole history, so no older revision is readable meanwhile. */
static bool latest_value_expired(const struct model *m, int k, uint64_t t)
{
    const struct mkey *mk = &m->k[k];
    return mk->n > 0 && mk->revs[0].op == CAIRN_OP_PUT &&
           rev_expired(&mk->revs[0], t);
}

static uint64_t latest_rev(const struct model *m, int k)
{
    return m->k[k].n > 0 ? m->k[k].revs[0].rev : 0;
}

static uint64_t model_bytes(const struct model *m)
{
    uint64_t b = 0;
    for (int k = 0; k < NKEYS; k++) {
        for (uint32_t i = 0; i < m->k[k].n; i++) {
            b += key_lens[k] + m->k[k].revs[i].vlen + m->k[k].revs[i].mlen;
        }
    }
    return b;
}

static uint64_t model_keys(const struct model *m)
{
    uint64_t n = 0;
    for (int k = 0; k < NKEYS; k++) {
        n += m->k[k].n > 0 && m->k[k].revs[0].op == CAIRN_OP_PUT;
    }
    return n;
}

static bool values_equal(uint32_t sa, size_t la, uint32_t sb, size_t lb)
{
    return la == lb && (la == 0 || memcmp(pat(sa), pat(sb), la) == 0);
}

/* Add @x as the newest revision of @k, dropping the oldest beyond history. */
static void push_rev(struct model *m, int k, const struct mrev *x)
{
    struct mkey *mk = &m->k[k];
    if (mk->n == m->cfg.history) {
        mk->n--;
    }
    memmove(&mk->revs[1], &mk->revs[0], mk->n * sizeof mk->revs[0]);
    mk->revs[0] = *x;
    mk->n++;
}

static uint64_t value_expiry(const struct model *m,
                             const struct cairn_write *w, uint64_t time)
{
    if (w->expires_at != 0) {
        return w->expires_at;
    }
    if (w->ttl_ns > 0) {
        return time + (uint64_t)w->ttl_ns;
    }
    if (m->cfg.ttl_ns > 0) {
        return time + (uint64_t)m->cfg.ttl_ns;
    }
    return 0;
}

static uint64_t put_rev(struct model *m, int k, const struct cairn_write *w,
                        uint64_t time)
{
    struct mrev x = {0};
    x.op = CAIRN_OP_PUT;
    x.vseed = pat_seed(w->value, w->value_len);
    x.vlen = (uint32_t)w->value_len;
    x.mseed = pat_seed(w->meta, w->meta_len);
    x.mlen = (uint32_t)w->meta_len;
    x.rev = ++m->rev;
    x.crev = key_live(m, k, time) ? m->k[k].revs[0].crev : x.rev;
    x.updated = time;
    x.exp = value_expiry(m, w, time);
    push_rev(m, k, &x);
    return x.rev;
}

/* Write a DEL or PURGE marker on @k (a PURGE drops the history first). */
static uint64_t marker_rev(struct model *m, int k, uint32_t op, uint64_t time,
                           uint64_t exp)
{
    struct mrev x = {0};
    x.op = op;
    x.rev = ++m->rev;
    switch (policy_marker_crev) {
    case MARKER_CREV_LIFETIME:
        x.crev = key_live(m, k, time) ? m->k[k].revs[0].crev : 0;
        break;
    case MARKER_CREV_SELF:
        x.crev = x.rev;
        break;
    default:
        x.crev = 0;
        break;
    }
    x.updated = time;
    x.exp = exp;
    if (op == CAIRN_OP_PURGE) {
        m->k[k].n = 0;
    }
    push_rev(m, k, &x);
    return x.rev;
}

static uint64_t marker_expiry(const struct model *m, uint64_t time)
{
    return m->cfg.ttl_ns > 0 ? time + (uint64_t)m->cfg.ttl_ns : 0;
}

static int check_key(const void *k, size_t len)
{
    (void)k;
    if (len == 0) {
        return CAIRN_EINVAL;
    }
    return len > CAIRN_KEY_MAX ? CAIRN_ETOOLARGE : CAIRN_OK;
}

static int check_value_write(const struct model *m,
                             const struct cairn_write *w, uint64_t time)
{
    int rc = check_key(w->key, w->key_len);
    if (rc != CAIRN_OK) {
        return rc;
    }
    if ((int64_t)w->value_len > cairn_bucket_value_limit(&m->cfg) ||
        w->meta_len > CAIRN_KEY_META_MAX) {
        return CAIRN_ETOOLARGE;
    }
    if (w->ttl_ns < 0 || (w->ttl_ns > 0 && w->expires_at != 0) ||
        (w->expires_at != 0 && w->expires_at <= time)) {
        return CAIRN_EINVAL;
    }
    return CAIRN_OK;
}

static bool compare_holds(const struct model *m, const struct cairn_compare *c,
                          uint64_t time)
{
    int k = key_index(c->key, c->key_len);
    uint64_t cur = latest_rev(m, k);
    bool live = key_live(m, k, time);
    switch (c->target) {
    case CAIRN_CMP_VALUE: {
        bool eq = live && values_equal(m->k[k].revs[0].vseed,
                                       m->k[k].revs[0].vlen,
                                       pat_seed(c->value, c->value_len),
                                       c->value_len);
        return c->op == CAIRN_CMP_EQ ? eq : !eq;
    }
    case CAIRN_CMP_REVISION:
        switch (c->op) {
        case CAIRN_CMP_EQ:
            return cur == c->revision;
        case CAIRN_CMP_NE:
            return cur != c->revision;
        case CAIRN_CMP_LT:
            return cur < c->revision;
        default:
            return cur > c->revision;
        }
    default:
        return live == c->exists;
    }
}

/* A key whose latest value expires in an EXPIRE: it gets a PURGE marker. */
struct due {
    int k;
    uint64_t exp, rev; /* of the expiring value */
};

static bool due_before(const struct due *a, const struct due *b)
{
    if (policy_expire_order_by_expiry) {
        return a->exp < b->exp || (a->exp == b->exp && a->rev < b->rev);
    }
    return keycmp(keys[a->k], key_lens[a->k], keys[b->k], key_lens[b->k]) < 0;
}

/* EXPIRE at @t: see docs/storage.md "expire(T)". Returns entries removed. */
static uint32_t model_expire(struct model *m, uint64_t t, uint64_t *first,
                             uint64_t *last)
{
    struct due due[NKEYS];
    int n_due = 0;
    uint32_t removed = 0;

    *first = *last = 0;
    m->expire_min = 0;
    for (int k = 0; k < NKEYS; k++) {
        struct mkey *mk = &m->k[k];
        if (mk->n == 0) {
            continue;
        }
        if (rev_expired(&mk->revs[0], t)) {
            m->expire_min++;
            if (mk->revs[0].op == CAIRN_OP_PUT) {
                due[n_due].k = k;
                due[n_due].exp = mk->revs[0].exp;
                due[n_due].rev = mk->revs[0].rev;
                n_due++;
            } else {
                if (mk->revs[0].rev > m->compacted) {
                    m->compacted = mk->revs[0].rev;
                }
                removed += mk->n;
                mk->n = 0;
            }
            continue;
        }
        uint32_t kept = 1;
        for (uint32_t i = 1; i < mk->n; i++) {
            if (rev_expired(&mk->revs[i], t)) {
                removed++;
                m->expire_min++;
            } else {
                mk->revs[kept++] = mk->revs[i];
            }
        }
        mk->n = kept;
    }
    for (int i = 1; i < n_due; i++) { /* insertion sort */
        for (int j = i; j > 0 && due_before(&due[j], &due[j - 1]); j--) {
            struct due tmp = due[j - 1];
            due[j - 1] = due[j];
            due[j] = tmp;
        }
    }
    for (int i = 0; i < n_due; i++) {
        uint64_t exp = m->cfg.ttl_ns > 0 ? t + (uint64_t)m->cfg.ttl_ns
                                         : t + HOUR;
        uint64_t rev;
        removed += m->k[due[i].k].n;
        rev = marker_rev(m, due[i].k, CAIRN_OP_PURGE, t, exp);
        if (*first == 0) {
            *first = rev;
        }
        *last = rev;
    }
    return removed;
}

/* What the model expects of a result; which fields are compared depends
 * on the outcome (see check_result). */
static void model_apply(struct model *m, const struct storage_cmd *c,
                        uint64_t index, struct storage_result *x)
{
    int k;
    memset(x, 0, sizeof *x);
    if (index != 0 && index <= m->applied) {
        x->skipped = true;
        return;
    }
    if (index != 0) {
        m->applied = index;
    }

    switch (c->type) {
    case STORAGE_CMD_PUT:
    case STORAGE_CMD_CREATE:
    case STORAGE_CMD_UPDATE:
    case STORAGE_CMD_CAS: {
        bool ok;
        x->code = check_value_write(m, &c->w, c->time);
        if (x->code == CAIRN_OK && c->type == STORAGE_CMD_UPDATE &&
            c->revision == 0) {
            x->code = CAIRN_EINVAL;
        }
        if (x->code != CAIRN_OK) {
            return;
        }
        k = key_index(c->w.key, c->w.key_len);
        switch (c->type) {
        case STORAGE_CMD_PUT:
            ok = true;
            break;
        case STORAGE_CMD_CREATE:
            ok = !key_live(m, k, c->time);
            break;
        case STORAGE_CMD_UPDATE:
            ok = latest_rev(m, k) == c->revision;
            break;
        default:
            ok = c->has_old ? key_live(m, k, c->time) &&
                                  values_equal(m->k[k].revs[0].vseed,
                                               m->k[k].revs[0].vlen,
                                               pat_seed(c->old, c->old_len),
                                               c->old_len)
                            : !key_live(m, k, c->time);
            break;
        }
        if (!ok) {
            x->code = CAIRN_ECONFLICT;
            x->current_revision = latest_rev(m, k);
            return;
        }
        if (m->cfg.max_bytes != -1) {
            uint64_t after = model_bytes(m) + key_lens[k] + c->w.value_len +
                             c->w.meta_len;
            if (m->k[k].n == m->cfg.history) {
                const struct mrev *old = &m->k[k].revs[m->k[k].n - 1];
                after -= key_lens[k] + old->vlen + old->mlen;
            }
            if (after > (uint64_t)m->cfg.max_bytes) {
                x->code = CAIRN_EFULL;
                return;
            }
        }
        x->revision = x->last_revision = put_rev(m, k, &c->w, c->time);
        return;
    }
    case STORAGE_CMD_DELETE:
    case STORAGE_CMD_PURGE:
        x->code = check_key(c->w.key, c->w.key_len);
        if (x->code != CAIRN_OK) {
            return;
        }
        k = key_index(c->w.key, c->w.key_len);
        if (c->type == STORAGE_CMD_DELETE ? !key_live(m, k, c->time)
                                          : m->k[k].n == 0) {
            x->code = CAIRN_ENOTFOUND;
            return;
        }
        if (c->revision != 0 && latest_rev(m, k) != c->revision) {
            x->code = CAIRN_ECONFLICT;
            x->current_revision = latest_rev(m, k);
            return;
        }
        x->revision = x->last_revision =
            marker_rev(m, k,
                       c->type == STORAGE_CMD_DELETE ? CAIRN_OP_DEL
                                                     : CAIRN_OP_PURGE,
                       c->time, marker_expiry(m, c->time));
        return;
    case STORAGE_CMD_EXPIRE:
        x->count = model_expire(m, c->time, &x->revision, &x->last_revision);
        return;
    case STORAGE_CMD_TXN: {
        struct model *t;
        bool has_put = false;
        uint32_t taken = 0;
        if (c->n_compares > CAIRN_TXN_COMPARES_MAX ||
            c->n_writes > CAIRN_TXN_OPS_MAX) {
            x->code = CAIRN_ETOOLARGE;
            return;
        }
        for (uint32_t i = 0; i < c->n_writes; i++) {
            const struct cairn_write *w = &c->writes[i];
            int rc = w->op == CAIRN_OP_PUT ? check_value_write(m, w, c->time)
                                             : check_key(w->key, w->key_len);
            if (rc != CAIRN_OK) {
                x->code = rc;
                return;
            }
            has_put |= w->op == CAIRN_OP_PUT;
        }
        for (uint32_t i = 0; i < c->n_compares; i++) {
            if (!compare_holds(m, &c->compares[i], c->time)) {
                x->code = CAIRN_ECONFLICT;
                x->failed_compare = i;
                x->current_revision = latest_rev(
                    m, key_index(c->compares[i].key, c->compares[i].key_len));
                return;
            }
        }
        t = malloc(sizeof *t);
        assert_non_null(t);
        *t = *m;
        for (uint32_t i = 0; i < c->n_writes; i++) {
            const struct cairn_write *w = &c->writes[i];
            uint64_t rev = 0;
            k = key_index(w->key, w->key_len);
            if (w->op == CAIRN_OP_PUT) {
                rev = put_rev(t, k, w, c->time);
            } else if (w->op == CAIRN_OP_DEL) {
                if (key_live(t, k, c->time)) {
                    rev = marker_rev(t, k, CAIRN_OP_DEL, c->time,
                                     marker_expiry(t, c->time));
                }
            } else if (t->k[k].n > 0) {
                rev = marker_rev(t, k, CAIRN_OP_PURGE, c->time,
                                 marker_expiry(t, c->time));
            }
            if (rev != 0) {
                if (x->revision == 0) {
                    x->revision = rev;
                }
                x->last_revision = rev;
                taken++;
            }
        }
        if (has_put && m->cfg.max_bytes != -1 &&
            model_bytes(t) > (uint64_t)m->cfg.max_bytes) {
            memset(x, 0, sizeof *x);
            x->code = CAIRN_EFULL;
        } else {
            *m = *t;
            x->count = policy_txn_count_all ? c->n_writes : taken;
        }
        free(t);
        return;
    }
    default:
        fail_msg("model: unknown command type %u", c->type);
    }
}

/* ------------------------------------------------------------------------
 * Configs
 * ---------------------------------------------------------------------- */

struct mconfig {
    const char *name;
    uint32_t history;
    int64_t ttl_ns;
    int64_t max_bytes;
    int64_t max_value_size;
    uint32_t storage;
    unsigned weight; /* share of the operations */
};

static const struct mconfig configs[] = {
    {"h1-ttl0", 1, 0, -1, CAIRN_VALUE_DEFAULT_MAX, CAIRN_STORAGE_FILE, 2},
    {"h3-ttl0", 3, 0, -1, 4096, CAIRN_STORAGE_FILE, 2},
    {"h64-ttl0", 64, 0, -1, 2000, CAIRN_STORAGE_FILE, 2},
    {"h1-ttl5s", 1, 5 * (int64_t)SEC, -1, 4096, CAIRN_STORAGE_FILE, 2},
    {"h3-ttl2s-max6000", 3, 2 * (int64_t)SEC, 6000, 1500, CAIRN_STORAGE_FILE,
     2},
    {"h64-ttl30s", 64, 30 * (int64_t)SEC, -1, 1000, CAIRN_STORAGE_FILE, 2},
    {"h2-ttl0-max12000", 2, 0, 12000, 1024, CAIRN_STORAGE_FILE, 2},
    {"h5-ttl0-memory", 5, 0, -1, 3000, CAIRN_STORAGE_MEMORY, 1},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

static uint64_t g_seed;
static uint64_t g_total_ops = 10000;
static bool g_trace;

/* ------------------------------------------------------------------------
 * A run: one config, one store, one model.
 * ---------------------------------------------------------------------- */

struct stats {
    unsigned codes[CAIRN__ERR_COUNT];
    unsigned skipped, expire_removed, batches, aborted, reopens, restores,
        migrations, no_bucket, txns;
    uint64_t sum_keys, sum_revs, samples; /* state size over the run */
    uint32_t max_kept;                    /* most revisions of one key */
};

struct run {
    const struct mconfig *mc;
    uint64_t rng;
    int step;
    char dir[512];
    storage *s;
    struct model m;
    struct model saved; /* model before an open batch */
    uint64_t t0;        /* first time, for messages */
    uint64_t now;       /* the simulated clock */
    uint64_t next_index;
    int hot[4];
    char last[4096]; /* the last command, described */
    char why[1024];
    struct cairn_write *writes; /* CAIRN_TXN_OPS_MAX + 1 */
    struct cairn_compare cmps[CAIRN_TXN_COMPARES_MAX + 1];
    struct stats st;
};

static void run_fail(struct run *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void run_fail(struct run *r, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("test_model FAILED: seed=0x%016" PRIx64 " config=%s step=%d "
                "(test_model.c:%d)\n  %s\n  last command: %s\n"
                "  store left for inspection: %s\n"
                "  replay: CAIRN_TEST_SEED=0x%016" PRIx64
                " CAIRN_MODEL_OPS=%" PRIu64 " bin/test_storage_model %s\n",
                g_seed, r->mc->name, r->step, line, msg, r->last, r->dir,
                g_seed,
                g_total_ops, r->mc->name);
    fail();
}

#define CHECK(r, cond, ...)                                                  \
    do {                                                                     \
        if (!(cond)) {                                                       \
            run_fail((r), __LINE__, __VA_ARGS__);                            \
        }                                                                    \
    } while (0)

static uint64_t rnd(struct run *r, uint64_t n)
{
    return n == 0 ? 0 : splitmix(&r->rng) % n;
}

/* true with probability @per_mille / 1000 */
static bool chance(struct run *r, unsigned per_mille)
{
    return rnd(r, 1000) < per_mille;
}

/* Append to r->last. */
static void describe(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void describe(struct run *r, const char *fmt, ...)
{
    size_t n = strlen(r->last);
    va_list ap;
    if (n + 1 >= sizeof r->last) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(r->last + n, sizeof r->last - n, fmt, ap);
    va_end(ap);
}

static void describe_key(struct run *r, const void *k, size_t len)
{
    int i = key_index(k, len);
    if (i >= 0) {
        describe(r, "k%d(%zu)", i, len);
    } else {
        describe(r, "badkey(%zu)", len);
    }
}

static void describe_write(struct run *r, const struct cairn_write *w)
{
    describe_key(r, w->key, w->key_len);
    if (w->value_len > 0 || w->op == CAIRN_OP_PUT) {
        describe(r, " val=%u/%zu", pat_seed(w->value, w->value_len),
                 w->value_len);
    }
    if (w->meta != NULL) {
        describe(r, " meta=%u/%zu", pat_seed(w->meta, w->meta_len),
                 w->meta_len);
    }
    if (w->ttl_ns != 0) {
        describe(r, " ttl=%" PRId64, w->ttl_ns);
    }
    if (w->expires_at != 0) {
        describe(r, " exp=t0%+" PRId64, (int64_t)(w->expires_at - r->t0));
    }
}

static const char *type_name(uint32_t t)
{
    static const char *names[] = {"?",      "put",   "create", "update",
                                  "cas",    "delete", "purge", "expire",
                                  "txn"};
    return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static void describe_cmd(struct run *r, const struct storage_cmd *c,
                         uint64_t index, const char *bucket)
{
    r->last[0] = '\0';
    describe(r, "%s index=%" PRIu64 " time=t0+%" PRIu64 " bucket=%s ",
             type_name(c->type), index, c->time - r->t0, bucket);
    switch (c->type) {
    case STORAGE_CMD_EXPIRE:
        break;
    case STORAGE_CMD_TXN:
        describe(r, "cmp=%u writes=%u [", c->n_compares, c->n_writes);
        for (uint32_t i = 0; i < c->n_compares && i < 8; i++) {
            const struct cairn_compare *p = &c->compares[i];
            static const char *tg[] = {"?", "value", "rev", "exists"};
            static const char *op[] = {"?", "eq", "ne", "lt", "gt"};
            describe(r, "%s ", i ? "," : "");
            describe_key(r, p->key, p->key_len);
            describe(r, " %s %s ", tg[p->target & 3],
                     op[p->op <= 4 ? p->op : 0]);
            if (p->target == CAIRN_CMP_VALUE) {
                describe(r, "%u/%zu", pat_seed(p->value, p->value_len),
                         p->value_len);
            } else if (p->target == CAIRN_CMP_REVISION) {
                describe(r, "%" PRIu64, p->revision);
            } else {
                describe(r, "%d", p->exists);
            }
        }
        describe(r, "] [");
        for (uint32_t i = 0; i < c->n_writes && i < 12; i++) {
            static const char *op[] = {"?", "put", "del", "purge"};
            describe(r, "%s%s ", i ? ", " : "", op[c->writes[i].op & 3]);
            describe_write(r, &c->writes[i]);
        }
        describe(r, "%s]", c->n_writes > 12 ? " ..." : "");
        break;
    default:
        describe_write(r, &c->w);
        if (c->revision != 0 || c->type == STORAGE_CMD_UPDATE) {
            describe(r, " rev=%" PRIu64, c->revision);
        }
        if (c->type == STORAGE_CMD_CAS) {
            if (c->has_old) {
                describe(r, " old=%u/%zu", pat_seed(c->old, c->old_len),
                         c->old_len);
            } else {
                describe(r, " old=absent");
            }
        }
        break;
    }
}

/* ------------------------------------------------------------------------
 * Generating commands
 * ---------------------------------------------------------------------- */

static int pick_key(struct run *r)
{
    unsigned x = (unsigned)rnd(r, 100);
    return x < 15 ? r->hot[0] : x < 40 ? r->hot[1 + rnd(r, 3)]
                                       : (int)rnd(r, NKEYS);
}

static int64_t value_limit(const struct run *r)
{
    return cairn_bucket_value_limit(&r->m.cfg);
}

static size_t gen_len(struct run *r, size_t limit)
{
    unsigned x = (unsigned)rnd(r, 1000);
    size_t n;
    if (x < 50) {
        n = 0;
    } else if (x < 800) {
        n = 1 + rnd(r, 32);
    } else if (x < 950) {
        n = 33 + rnd(r, 300);
    } else if (x < 985) {
        n = 333 + rnd(r, 4000);
    } else {
        n = limit - rnd(r, 4); /* near the limit */
    }
    return n < limit ? n : limit;
}

/* A value for key @k. The first hot key gets no ttl, so its history can
 * grow to the bucket's limit. */
static void gen_value(struct run *r, int k, struct cairn_write *w)
{
    size_t limit = (size_t)value_limit(r);
    w->value_len = gen_len(r, limit);
    w->value = pat((uint32_t)rnd(r, NSEEDS));
    if (chance(r, 300)) {
        unsigned x = (unsigned)rnd(r, 100);
        w->meta = pat((uint32_t)rnd(r, NSEEDS));
        w->meta_len = x < 10 ? 0 : x < 95 ? 1 + rnd(r, 40)
                                          : CAIRN_KEY_META_MAX - rnd(r, 2);
    }
    if (k == r->hot[0]) {
        return;
    }
    if (chance(r, 200)) {
        w->ttl_ns = (int64_t)(1 + rnd(r, 8 * SEC));
    } else if (chance(r, 60)) {
        w->expires_at = r->now + 1 + rnd(r, 8 * SEC);
    }
}

/* Turn @w into a write that breaks exactly one rule; returns the code. */
static void gen_fault(struct run *r, struct cairn_write *w, uint64_t time,
                      bool key_only)
{
    unsigned x = (unsigned)rnd(r, key_only ? 2 : 8);
    switch (x) {
    case 0:
        w->key = "";
        w->key_len = 0;
        break;
    case 1:
        w->key = bad_key;
        w->key_len = sizeof bad_key;
        break;
    case 2:
        w->value = pat((uint32_t)rnd(r, NSEEDS));
        w->value_len = (size_t)value_limit(r) + 1;
        break;
    case 3:
        w->meta = pat((uint32_t)rnd(r, NSEEDS));
        w->meta_len = CAIRN_KEY_META_MAX + 1;
        break;
    case 4:
        w->expires_at = 0;
        w->ttl_ns = -(int64_t)(1 + rnd(r, SEC));
        break;
    case 5:
        w->ttl_ns = (int64_t)(1 + rnd(r, SEC));
        w->expires_at = time + 1 + rnd(r, SEC);
        break;
    case 6:
        w->ttl_ns = 0;
        w->expires_at = time - rnd(r, 2); /* == time or just before */
        break;
    default:
        w->ttl_ns = 0;
        w->expires_at = 1; /* long past */
        break;
    }
}

static void set_key(struct cairn_write *w, int k)
{
    w->key = keys[k];
    w->key_len = key_lens[k];
}

/* A value that equals the current value of @k (when it has one), an older
 * one, or a random one. */
static void gen_old_value(struct run *r, int k, const void **v, size_t *len)
{
    const struct mkey *mk = &r->m.k[k];
    unsigned x = (unsigned)rnd(r, 100);
    if (x < 55 && mk->n > 0 && mk->revs[0].op == CAIRN_OP_PUT) {
        *v = pat(mk->revs[0].vseed);
        *len = mk->revs[0].vlen;
    } else if (x < 75 && mk->n > 1) {
        const struct mrev *o = &mk->revs[rnd(r, mk->n)];
        *v = pat(o->vseed);
        *len = o->vlen;
    } else {
        *v = pat((uint32_t)rnd(r, NSEEDS));
        *len = rnd(r, 4) == 0 ? rnd(r, 3) : 1 + rnd(r, 32);
    }
}

static uint64_t gen_rev(struct run *r, int k)
{
    uint64_t cur = latest_rev(&r->m, k);
    unsigned x = (unsigned)rnd(r, 100);
    if (x < 60 && cur != 0) {
        return cur;
    }
    if (x < 75 && cur > 1) {
        return cur - 1;
    }
    if (x < 85) {
        return cur + 1;
    }
    return 1 + rnd(r, r->m.rev + 2);
}

static void gen_compare(struct run *r, struct cairn_compare *p,
                        uint64_t time)
{
    int k = pick_key(r);
    p->key = keys[k];
    p->key_len = key_lens[k];
    switch (rnd(r, 3)) {
    case 0:
        p->target = CAIRN_CMP_VALUE;
        p->op = chance(r, 500) ? CAIRN_CMP_EQ : CAIRN_CMP_NE;
        gen_old_value(r, k, &p->value, &p->value_len);
        break;
    case 1:
        p->target = CAIRN_CMP_REVISION;
        p->op = CAIRN_CMP_EQ + (uint32_t)rnd(r, 4);
        p->revision = rnd(r, 5) == 0 ? 0 : gen_rev(r, k);
        break;
    default:
        p->target = CAIRN_CMP_EXISTS;
        p->op = CAIRN_CMP_EQ;
        p->exists = chance(r, 700) ? key_live(&r->m, k, time)
                                   : chance(r, 500);
        break;
    }
}

static void gen_txn(struct run *r, struct storage_cmd *c)
{
    unsigned x = (unsigned)rnd(r, 1000);
    uint32_t n_writes;
    bool fault = chance(r, 30);

    c->type = STORAGE_CMD_TXN;
    c->compares = r->cmps;
    c->writes = r->writes;
    if (x < 2) {
        /* too many writes, or exactly the limit */
        n_writes = CAIRN_TXN_OPS_MAX + (chance(r, 500) ? 1 : 0);
        c->n_compares = 0;
    } else if (x < 5) {
        n_writes = 1 + (uint32_t)rnd(r, 3);
        c->n_compares = CAIRN_TXN_COMPARES_MAX + 1; /* too many compares */
    } else {
        n_writes = x < 20 ? 20 + (uint32_t)rnd(r, 200)
                          : 1 + (uint32_t)rnd(r, 6);
        c->n_compares = fault ? 0 : (uint32_t)rnd(r, 5);
        if (x >= 20 && x < 40 && !fault) {
            c->n_compares = CAIRN_TXN_COMPARES_MAX;
        }
    }
    for (uint32_t i = 0; i < c->n_compares; i++) {
        memset(&r->cmps[i], 0, sizeof r->cmps[i]);
        gen_compare(r, &r->cmps[i], c->time);
        if (x >= 20 && x < 40 && i + 1 < c->n_compares && chance(r, 990)) {
            /* 64 compares: make most hold */
            struct cairn_compare *p = &r->cmps[i];
            int k = key_index(p->key, p->key_len);
            p->target = CAIRN_CMP_EXISTS;
            p->op = CAIRN_CMP_EQ;
            p->exists = key_live(&r->m, k, c->time);
        }
    }
    for (uint32_t i = 0; i < n_writes; i++) {
        struct cairn_write *w = &r->writes[i];
        unsigned y = (unsigned)rnd(r, 100);
        memset(w, 0, sizeof *w);
        set_key(w, pick_key(r));
        if (y >= 70 && key_index(w->key, w->key_len) == r->hot[0] &&
            chance(r, 900)) {
            y = 0; /* let the first hot key's history grow */
        }
        if (y < 70) {
            w->op = CAIRN_OP_PUT;
            gen_value(r, key_index(w->key, w->key_len), w);
            if (n_writes > 50) {
                w->value_len = w->value_len % 64;
                w->meta_len = w->meta_len % 64;
            }
        } else {
            w->op = y < 88 ? CAIRN_OP_DEL : CAIRN_OP_PURGE;
        }
    }
    if (fault && n_writes <= CAIRN_TXN_OPS_MAX &&
        c->n_compares <= CAIRN_TXN_COMPARES_MAX) {
        struct cairn_write *w = &r->writes[rnd(r, n_writes)];
        gen_fault(r, w, c->time, w->op != CAIRN_OP_PUT);
    }
    c->n_writes = n_writes;
}

/* Size @w's value so the put leaves bytes at max_bytes - 1, max_bytes or
 * max_bytes + 1 (the EFULL boundary), when a value can do that. */
static void fill_to_brim(struct run *r, int k, struct cairn_write *w)
{
    const struct mkey *mk = &r->m.k[k];
    int64_t rest = (int64_t)model_bytes(&r->m) + (int64_t)key_lens[k] +
                   (int64_t)w->meta_len;
    int64_t vlen;
    if (mk->n == r->m.cfg.history) {
        const struct mrev *old = &mk->revs[mk->n - 1];
        rest -= (int64_t)(key_lens[k] + old->vlen + old->mlen);
    }
    vlen = r->m.cfg.max_bytes - 1 + (int64_t)rnd(r, 3) - rest;
    if (vlen >= 0 && vlen <= value_limit(r)) {
        w->value_len = (size_t)vlen;
    }
}

static void gen_cmd(struct run *r, struct storage_cmd *c)
{
    unsigned x = (unsigned)rnd(r, 1000);
    int k = pick_key(r);

    memset(c, 0, sizeof *c);
    c->time = r->now;
    if (chance(r, 30)) { /* a proposer whose clock is a little behind */
        c->time -= rnd(r, SEC);
    }
    set_key(&c->w, k);

    if (x < 250) {
        c->type = STORAGE_CMD_PUT;
        gen_value(r, k, &c->w);
        if (chance(r, 40)) {
            gen_fault(r, &c->w, c->time, false);
        } else if (r->m.cfg.max_bytes != -1 && chance(r, 150)) {
            fill_to_brim(r, k, &c->w);
        }
    } else if (x < 330) {
        c->type = STORAGE_CMD_CREATE;
        gen_value(r, k, &c->w);
    } else if (x < 420) {
        c->type = STORAGE_CMD_UPDATE;
        gen_value(r, k, &c->w);
        c->revision = chance(r, 40) ? 0 : gen_rev(r, k);
    } else if (x < 500) {
        c->type = STORAGE_CMD_CAS;
        gen_value(r, k, &c->w);
        c->has_old = chance(r, 700);
        if (c->has_old) {
            gen_old_value(r, k, &c->old, &c->old_len);
        }
    } else if (x < 590) {
        c->type = STORAGE_CMD_DELETE;
        if (k == r->hot[0] && chance(r, 900)) {
            k = (int)rnd(r, NKEYS);
            set_key(&c->w, k);
        }
        if (chance(r, 500)) {
            c->revision = gen_rev(r, k);
            /* docs/storage.md leaves open which of ENOTFOUND/ECONFLICT a
             * delete of a key that is not live at another revision gets */
            if (!key_live(&r->m, k, c->time) &&
                c->revision != latest_rev(&r->m, k)) {
                c->revision = 0;
            }
        }
    } else if (x < 640) {
        c->type = STORAGE_CMD_PURGE;
        if (k == r->hot[0] && chance(r, 900)) {
            k = (int)rnd(r, NKEYS);
            set_key(&c->w, k);
        }
        if (chance(r, 400)) {
            c->revision = gen_rev(r, k);
            if (r->m.k[k].n == 0) { /* same: nothing stored, a revision */
                c->revision = 0;
            }
        }
    } else if (x < 780) {
        c->type = STORAGE_CMD_EXPIRE;
        memset(&c->w, 0, sizeof c->w);
    } else {
        gen_txn(r, c);
    }
    if (c->type != STORAGE_CMD_PUT && c->type != STORAGE_CMD_EXPIRE &&
        c->type != STORAGE_CMD_TXN && chance(r, 15)) {
        gen_fault(r, &c->w, c->time, true); /* bad key */
        if (c->type == STORAGE_CMD_UPDATE && c->revision == 0) {
            c->revision = 1; /* one fault at a time */
        }
    }
}

static uint64_t gen_index(struct run *r)
{
    unsigned x = (unsigned)rnd(r, 100);
    if (x < 5) {
        return 0; /* untracked */
    }
    if (x < 10 && r->next_index > 1) { /* a replayed entry */
        return r->next_index - 1 - rnd(r, r->next_index < 6 ? r->next_index - 1
                                                             : 5);
    }
    r->next_index += x < 13 ? 1 + rnd(r, 1000) : 1;
    return r->next_index - 1;
}

static void advance_time(struct run *r)
{
    unsigned x = (unsigned)rnd(r, 1000);
    if (x < 700) {
        r->now += rnd(r, 100 * MS);
    } else if (x < 900) {
        r->now += rnd(r, 5 * SEC);
    } else if (x < 985) {
        r->now += rnd(r, 60 * SEC);
    } else {
        r->now += 30 * 60 * SEC + rnd(r, 2 * HOUR);
    }
}

/* ------------------------------------------------------------------------
 * Comparing the store with the model
 * ---------------------------------------------------------------------- */

static void check_result(struct run *r, const struct storage_cmd *c,
                         const struct storage_result *got,
                         const struct storage_result *exp)
{
    CHECK(r, got->skipped == exp->skipped, "skipped: got %d, expected %d",
          got->skipped, exp->skipped);
    CHECK(r, got->code == exp->code,
          "code: got %d (%s), expected %d (%s); engine message: '%s'",
          got->code, cairn_errname(got->code), exp->code,
          cairn_errname(exp->code), got->errmsg);
    CHECK(r, got->revision == exp->revision,
          "revision: got %" PRIu64 ", expected %" PRIu64, got->revision,
          exp->revision);
    CHECK(r, got->last_revision == exp->last_revision,
          "last_revision: got %" PRIu64 ", expected %" PRIu64,
          got->last_revision, exp->last_revision);
    if (exp->code == CAIRN_ECONFLICT) {
        CHECK(r, got->current_revision == exp->current_revision,
              "current_revision: got %" PRIu64 ", expected %" PRIu64,
              got->current_revision, exp->current_revision);
        if (c->type == STORAGE_CMD_TXN) {
            CHECK(r, got->failed_compare == exp->failed_compare,
                  "failed_compare: got %u, expected %u", got->failed_compare,
                  exp->failed_compare);
        }
    }
    if (exp->code == CAIRN_OK && !exp->skipped &&
        c->type == STORAGE_CMD_TXN) {
        CHECK(r, got->count == exp->count, "count: got %u, expected %u",
              got->count, exp->count);
    }
    if (!exp->skipped && c->type == STORAGE_CMD_EXPIRE) {
        CHECK(r, got->count >= r->m.expire_min && got->count <= exp->count,
              "expire count: got %u, expected %u..%u", got->count,
              r->m.expire_min, exp->count);
    }
}

/* Fill r->why and return 1 when @e is not the model's @x of key @k. */
static int entry_diff(struct run *r, const char *what,
                      const struct storage_entry *e, int k,
                      const struct mrev *x, bool keys_only)
{
#define DIFF(cond, ...)                                                      \
    do {                                                                     \
        if (!(cond)) {                                                       \
            int n_ = snprintf(r->why, sizeof r->why, "%s k%d rev %" PRIu64 \
                              ": ", what, k, x->rev);                        \
            snprintf(r->why + n_, sizeof r->why - (size_t)n_, __VA_ARGS__);  \
            return 1;                                                        \
        }                                                                    \
    } while (0)
    DIFF(e->key_len == key_lens[k] && memcmp(e->key, keys[k], e->key_len) == 0,
         "key: got %zu bytes (k%d), expected k%d", e->key_len,
         key_index(e->key, e->key_len), k);
    DIFF(e->revision == x->rev, "revision: got %" PRIu64, e->revision);
    if (keys_only) {
        DIFF(e->value == NULL && e->value_len == 0,
             "keys_only scan delivered a value (%zu bytes)", e->value_len);
        return 0;
    }
    DIFF(e->op == x->op, "op: got %u, expected %u", e->op, x->op);
    if (x->op == CAIRN_OP_PUT) {
        DIFF(e->value_len == x->vlen &&
                 (x->vlen == 0 || (e->value != NULL &&
                                   memcmp(e->value, pat(x->vseed), x->vlen) ==
                                       0)),
             "value: got %zu bytes%s, expected %u bytes of pattern %u",
             e->value_len,
             e->value_len == x->vlen ? " (different bytes)" : "", x->vlen,
             x->vseed);
        DIFF(e->meta_len == x->mlen &&
                 (x->mlen == 0 || (e->meta != NULL &&
                                   memcmp(e->meta, pat(x->mseed), x->mlen) ==
                                       0)),
             "meta: got %zu bytes, expected %u bytes of pattern %u",
             e->meta_len, x->mlen, x->mseed);
    } else {
        DIFF(e->value == NULL && e->value_len == 0,
             "marker has a value (%zu bytes)", e->value_len);
        DIFF(e->meta_len == 0, "marker has metadata (%zu bytes)", e->meta_len);
    }
    DIFF(e->create_revision == x->crev,
         "create_revision: got %" PRIu64 ", expected %" PRIu64 " (op %u)",
         e->create_revision, x->crev, x->op);
    DIFF(e->updated == x->updated,
         "updated: got t0%+" PRId64 ", expected t0%+" PRId64,
         (int64_t)(e->updated - r->t0), (int64_t)(x->updated - r->t0));
    DIFF(e->expires_at == x->exp,
         "expires_at: got %" PRIu64 " (t0%+" PRId64 "), expected %" PRIu64
         " (t0%+" PRId64 ")",
         e->expires_at, (int64_t)(e->expires_at - r->t0), x->exp,
         (int64_t)(x->exp - r->t0));
    return 0;
#undef DIFF
}

/* Expected entries, for callbacks. */
struct expect {
    struct run *r;
    const char *what;
    int k[NKEYS * CAIRN_HISTORY_MAX]; /* key of each expected entry */
    const struct mrev *x[NKEYS * CAIRN_HISTORY_MAX];
    int n;
    int pos;
    bool keys_only;
};

#define CB_MISMATCH 7777

static int expect_cb(void *arg, const struct storage_entry *e)
{
    struct expect *ex = arg;
    if (ex->pos >= ex->n) {
        int k = key_index(e->key, e->key_len);
        snprintf(ex->r->why, sizeof ex->r->why,
                 "%s: entry %d is one too many (k%d rev %" PRIu64 ", op %u)",
                 ex->what, ex->pos, k, e->revision, e->op);
        return CB_MISMATCH;
    }
    if (entry_diff(ex->r, ex->what, e, ex->k[ex->pos], ex->x[ex->pos],
                   ex->keys_only)) {
        size_t n = strlen(ex->r->why);
        snprintf(ex->r->why + n, sizeof ex->r->why - n, " (entry %d of %d)",
                 ex->pos, ex->n);
        return CB_MISMATCH;
    }
    ex->pos++;
    return 0;
}

static void check_info(struct run *r)
{
    struct storage_bucket_info info;
    char err[CAIRN_ERRMSG_SIZE] = "";
    const cairn_bucket_config *a = &info.config, *b = &r->m.cfg;
    int rc = storage_bucket_info(r->s, BUCKET, &info, err);
    uint64_t bytes = model_bytes(&r->m), nkeys = model_keys(&r->m);

    CHECK(r, rc == 0, "bucket_info: %d (%s)", rc, err);
    CHECK(r, strcmp(a->name, b->name) == 0 &&
                 strcmp(a->description, b->description) == 0 &&
                 a->ttl_ns == b->ttl_ns && a->history == b->history &&
                 a->max_bytes == b->max_bytes &&
                 a->max_value_size == b->max_value_size &&
                 a->storage == b->storage &&
                 a->num_replicas == b->num_replicas &&
                 a->compression == b->compression &&
                 strcmp(a->cluster, b->cluster) == 0 &&
                 a->n_tags == b->n_tags && a->n_metadata == b->n_metadata,
          "bucket_info: config differs from the one created");
    CHECK(r, info.created == r->m.created,
          "bucket_info.created: got %" PRIu64 ", expected %" PRIu64,
          info.created, r->m.created);
    CHECK(r, info.keys == nkeys,
          "bucket_info.keys: got %" PRIu64 ", expected %" PRIu64, info.keys,
          nkeys);
    CHECK(r, info.bytes == bytes,
          "bucket_info.bytes: got %" PRIu64 ", expected %" PRIu64, info.bytes,
          bytes);
    CHECK(r, info.last_revision == r->m.rev,
          "bucket_info.last_revision: got %" PRIu64 ", expected %" PRIu64,
          info.last_revision, r->m.rev);
    CHECK(r, info.compacted_revision == r->m.compacted,
          "bucket_info.compacted_revision: got %" PRIu64
          ", expected %" PRIu64,
          info.compacted_revision, r->m.compacted);
    CHECK(r, info.applied_index == r->m.applied,
          "bucket_info.applied_index: got %" PRIu64 ", expected %" PRIu64,
          info.applied_index, r->m.applied);
}

static void check_key_reads(struct run *r, storage_txn *t, int k, uint64_t now)
{
    const struct mkey *mk = &r->m.k[k];
    struct storage_entry e;
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct expect *ex;
    int rc;

    /* get, latest */
    memset(&e, 0, sizeof e);
    rc = storage_get(t, BUCKET, keys[k], key_lens[k], 0, now, &e, err);
    if (key_live(&r->m, k, now)) {
        CHECK(r, rc == 0, "get k%d at t0%+" PRId64 ": %d (%s), expected rev %"
              PRIu64, k, (int64_t)(now - r->t0), rc, err, mk->revs[0].rev);
        CHECK(r, !entry_diff(r, "get", &e, k, &mk->revs[0], false), "%s",
              r->why);
    } else {
        CHECK(r, rc == CAIRN_ENOTFOUND,
              "get k%d at t0%+" PRId64 ": got %d (%s) rev %" PRIu64
              ", expected ENOTFOUND",
              k, (int64_t)(now - r->t0), rc, err, e.revision);
    }
    /* existence check with out == NULL */
    rc = storage_get(t, BUCKET, keys[k], key_lens[k], 0, now, NULL, err);
    CHECK(r, rc == (key_live(&r->m, k, now) ? 0 : CAIRN_ENOTFOUND),
          "get k%d with out NULL: %d", k, rc);

    /* get at revisions: two kept ones and a random one */
    for (int i = 0; i < 3; i++) {
        uint64_t rev;
        const struct mrev *x = NULL;
        if (i < 2 && mk->n > 0) {
            rev = mk->revs[rnd(r, mk->n)].rev;
        } else {
            rev = 1 + rnd(r, r->m.rev + 1);
        }
        for (uint32_t j = 0; j < mk->n; j++) {
            if (mk->revs[j].rev == rev) {
                x = &mk->revs[j];
            }
        }
        memset(&e, 0, sizeof e);
        rc = storage_get(t, BUCKET, keys[k], key_lens[k], rev, now, &e, err);
        if (x != NULL && x->op == CAIRN_OP_PUT && !rev_expired(x, now) &&
            !latest_value_expired(&r->m, k, now)) {
            CHECK(r, rc == 0, "get k%d at rev %" PRIu64 ": %d (%s)", k, rev,
                  rc, err);
            CHECK(r, !entry_diff(r, "get at revision", &e, k, x, false), "%s",
                  r->why);
        } else {
            CHECK(r, rc == CAIRN_ENOTFOUND,
                  "get k%d at rev %" PRIu64 " (%s): got %d (%s), expected "
                  "ENOTFOUND",
                  k, rev,
                  x == NULL                       ? "not kept"
                  : x->op != CAIRN_OP_PUT       ? "a marker"
                  : rev_expired(x, now)         ? "expired"
                                                  : "the latest expired",
                  rc, err);
        }
    }

    /* history */
    ex = calloc(1, sizeof *ex);
    assert_non_null(ex);
    ex->r = r;
    ex->what = "history";
    for (uint32_t i = 0; i < mk->n && !latest_value_expired(&r->m, k, now);
         i++) {
        if (!rev_expired(&mk->revs[i], now)) {
            ex->k[ex->n] = k;
            ex->x[ex->n++] = &mk->revs[i];
        }
    }
    rc = storage_history(t, BUCKET, keys[k], key_lens[k], now, expect_cb, ex,
                         err);
    CHECK(r, rc != CB_MISMATCH, "%s", r->why); /* (ex leaks on failure) */
    if (ex->n == 0) {
        CHECK(r, rc == CAIRN_ENOTFOUND,
              "history k%d at t0%+" PRId64 ": got %d (%s) after %d entries, "
              "expected ENOTFOUND (%u kept, all expired or the latest "
              "value expired)",
              k, (int64_t)(now - r->t0), rc, err, ex->pos, mk->n);
    } else {
        CHECK(r, rc == 0 && ex->pos == ex->n,
              "history k%d: got %d (%s), %d entries, expected %d", k, rc, err,
              ex->pos, ex->n);
    }
    free(ex);
}

/* The model's selection for @a (cursor: resume after @after, if any). */
static void select_keys(const struct run *r, const struct storage_scan *a,
                        const void *after, size_t after_len,
                        struct expect *ex)
{
    ex->n = 0;
    for (int i = 0; i < NKEYS; i++) {
        int k = key_order[i];
        const uint8_t *kb = keys[k];
        size_t kl = key_lens[k];
        if (!key_live(&r->m, k, a->now)) {
            continue;
        }
        if (a->start != NULL &&
            keycmp(kb, kl, a->start, a->start_len) < 0) {
            continue;
        }
        if (a->end != NULL && keycmp(kb, kl, a->end, a->end_len) >= 0) {
            continue;
        }
        if (a->prefix != NULL &&
            (kl < a->prefix_len || memcmp(kb, a->prefix, a->prefix_len) != 0)) {
            continue;
        }
        if (after != NULL && keycmp(kb, kl, after, after_len) <= 0) {
            continue;
        }
        ex->k[ex->n] = k;
        ex->x[ex->n++] = &r->m.k[k].revs[0];
    }
}

/* A random bound: a key, a prefix of one, or a key with a byte added. */
static void gen_bound(struct run *r, uint8_t *buf, size_t *len)
{
    int k = (int)rnd(r, NKEYS);
    size_t kl = key_lens[k];
    unsigned x = (unsigned)rnd(r, 3);
    memcpy(buf, keys[k], kl);
    if (x == 0) {
        *len = kl;
    } else if (x == 1 || kl == CAIRN_KEY_MAX) {
        *len = kl > 505 && chance(r, 700) ? 505 + rnd(r, kl - 505 + 1)
                                          : rnd(r, kl + 1);
        if (*len == 0) {
            *len = 1;
        }
    } else {
        buf[kl] = (uint8_t)rnd(r, 256);
        *len = kl + 1;
    }
}

static void check_scans(struct run *r, storage_txn *t, uint64_t now)
{
    struct expect *ex = calloc(1, sizeof *ex);
    struct storage_scan a;
    struct storage_page page;
    char err[CAIRN_ERRMSG_SIZE] = "";
    uint8_t start[CAIRN_KEY_MAX + 1], end[CAIRN_KEY_MAX + 1],
        prefix[CAIRN_KEY_MAX + 1];
    size_t start_len, end_len, prefix_len;
    uint8_t after[CAIRN_KEY_MAX], cursor[STORAGE_CURSOR_MAX];
    size_t after_len = 0;
    uint64_t count;
    int rc, pages = 0;

    assert_non_null(ex);
    ex->r = r;

    /* full scan with values */
    memset(&a, 0, sizeof a);
    a.now = now;
    memset(&page, 0, sizeof page);
    select_keys(r, &a, NULL, 0, ex);
    ex->what = "full scan";
    rc = storage_scan(t, BUCKET, &a, expect_cb, ex, &page, err);
    CHECK(r, rc != CB_MISMATCH, "%s", r->why); /* (ex leaks on failure) */
    CHECK(r, rc == 0 && ex->pos == ex->n && page.count == (uint32_t)ex->n &&
                 !page.more,
          "full scan at t0%+" PRId64 ": rc %d (%s), %d entries (page.count "
          "%u, more %d), expected %d",
          (int64_t)(now - r->t0), rc, err, ex->pos, page.count, page.more,
          ex->n);
    rc = storage_count(t, BUCKET, &a, &count, err);
    CHECK(r, rc == 0 && count == (uint64_t)ex->n,
          "count (all): rc %d (%s), got %" PRIu64 ", expected %d", rc, err,
          count, ex->n);

    /* paged scan with a random range, prefix and limit */
    memset(&a, 0, sizeof a);
    a.now = now;
    if (chance(r, 300)) {
        gen_bound(r, start, &start_len);
        a.start = start;
        a.start_len = start_len;
    }
    if (chance(r, 300)) {
        gen_bound(r, end, &end_len);
        a.end = end;
        a.end_len = end_len;
        if (a.start != NULL &&
            keycmp(a.start, a.start_len, a.end, a.end_len) >= 0) {
            a.end = NULL; /* keep ranges well-formed */
        }
    }
    if (chance(r, 300)) {
        gen_bound(r, prefix, &prefix_len);
        a.prefix = prefix;
        a.prefix_len = prefix_len;
    }
    a.limit = 1 + (uint32_t)rnd(r, 6);
    a.keys_only = chance(r, 300);
    ex->keys_only = a.keys_only;
    for (;;) {
        int n_sel;
        select_keys(r, &a, pages > 0 ? after : NULL, after_len, ex);
        n_sel = ex->n;
        if (ex->n > (int)a.limit) {
            ex->n = (int)a.limit;
        }
        ex->pos = 0;
        ex->what = "paged scan";
        memset(&page, 0, sizeof page);
        rc = storage_scan(t, BUCKET, &a, expect_cb, ex, &page, err);
        CHECK(r, rc != CB_MISMATCH, "%s (page %d, limit %u)", r->why, pages,
              a.limit);
        CHECK(r, rc == 0 && ex->pos == ex->n &&
                     page.count == (uint32_t)ex->n &&
                     page.more == (n_sel > ex->n),
              "paged scan page %d (limit %u, start %d, end %d, prefix %zu "
              "bytes, keys_only %d): rc %d (%s), %d entries (page.count %u, "
              "more %d), expected %d of %d",
              pages, a.limit, a.start != NULL, a.end != NULL,
              a.prefix != NULL ? a.prefix_len : 0, a.keys_only, rc, err,
              ex->pos, page.count, page.more, ex->n, n_sel);
        rc = storage_count(t, BUCKET, &a, &count, err);
        CHECK(r, rc == 0 && count == (uint64_t)ex->n,
              "count (page %d, limit %u): rc %d (%s), got %" PRIu64
              ", expected %d",
              pages, a.limit, rc, err, count, ex->n);
        pages++;
        if (!page.more) {
            break;
        }
        {
            int lk = ex->k[ex->n - 1];
            CHECK(r, page.cursor_len == 1 + key_lens[lk] &&
                         page.cursor[0] == 1 &&
                         memcmp(page.cursor + 1, keys[lk], key_lens[lk]) == 0,
                  "paged scan: cursor of %zu bytes (version %u) is not "
                  "version 1 + k%d (%zu bytes)",
                  page.cursor_len, page.cursor[0], lk, key_lens[lk]);
            memcpy(after, keys[lk], key_lens[lk]);
            after_len = key_lens[lk];
        }
        /* the cursor must outlive the page struct we reuse */
        memcpy(cursor, page.cursor, page.cursor_len);
        a.cursor = cursor;
        a.cursor_len = page.cursor_len;
        CHECK(r, pages < NKEYS + 2, "paged scan does not end");
    }
    free(ex);
}

/* Reads the API refuses: bad key lengths (EINVAL for reads), bad cursors,
 * a missing bucket. */
static void check_refused_reads(struct run *r, storage_txn *t, uint64_t now)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    struct storage_entry e;
    struct storage_scan a;
    struct storage_page page;
    uint8_t cursor[STORAGE_CURSOR_MAX + 2];
    uint64_t count;
    int k = (int)rnd(r, NKEYS), rc;

    rc = storage_get(t, BUCKET, "", 0, 0, now, &e, err);
    CHECK(r, rc == CAIRN_EINVAL, "get of an empty key: %d", rc);
    /* (513-byte keys: see test_long_key_reads) */
    rc = storage_history(t, BUCKET, "", 0, now, NULL, NULL, err);
    CHECK(r, rc == CAIRN_EINVAL, "history of an empty key: %d", rc);
    rc = storage_get(t, "no-such-bucket", keys[k], key_lens[k], 0, now, &e,
                     err);
    CHECK(r, rc == CAIRN_ENOBUCKET, "get in a missing bucket: %d", rc);

    memset(&a, 0, sizeof a);
    a.now = now;
    cursor[0] = 2; /* another version */
    memcpy(cursor + 1, keys[k], key_lens[k]);
    a.cursor = cursor;
    a.cursor_len = 1 + key_lens[k];
    rc = storage_scan(t, BUCKET, &a, NULL, NULL, &page, err);
    CHECK(r, rc == CAIRN_EINVAL, "scan with a version-2 cursor: %d", rc);
    cursor[0] = 1;
    memset(cursor + 1, 'x', sizeof cursor - 1);
    a.cursor_len = STORAGE_CURSOR_MAX + 1; /* a 513-byte key */
    rc = storage_count(t, BUCKET, &a, &count, err);
    CHECK(r, rc == CAIRN_EINVAL, "count with a %zu-byte cursor: %d",
          a.cursor_len, rc);
    memset(&a, 0, sizeof a);
    a.now = now;
    rc = storage_scan(t, "no-such-bucket", &a, NULL, NULL, &page, err);
    CHECK(r, rc == CAIRN_ENOBUCKET, "scan of a missing bucket: %d", rc);
}

static void verify(struct run *r)
{
    storage_txn *t = NULL;
    r->st.sum_keys += model_keys(&r->m);
    for (int k = 0; k < NKEYS; k++) {
        r->st.sum_revs += r->m.k[k].n;
        if (r->m.k[k].n > r->st.max_kept) {
            r->st.max_kept = r->m.k[k].n;
        }
    }
    r->st.samples++;
    char err[CAIRN_ERRMSG_SIZE] = "";
    uint64_t now = r->now;
    unsigned x = (unsigned)rnd(r, 100);
    int rc;

    if (x < 15) {
        now += rnd(r, 10 * SEC); /* a reader whose clock is ahead */
    } else if (x < 20 && now > r->t0 + 5 * SEC) {
        now -= rnd(r, 5 * SEC);
    }
    check_info(r);
    rc = storage_read_begin(r->s, &t, err);
    CHECK(r, rc == 0, "read_begin: %d (%s)", rc, err);
    for (int k = 0; k < NKEYS; k++) {
        check_key_reads(r, t, k, now);
    }
    check_scans(r, t, now);
    if (chance(r, 20)) {
        check_refused_reads(r, t, now);
    }
    storage_txn_end(t);
}

/* ------------------------------------------------------------------------
 * The run
 * ---------------------------------------------------------------------- */

static void open_store(struct run *r)
{
    struct storage_options o = {.no_sync = true};
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc = storage_open(r->dir, &o, &r->s, err);
    CHECK(r, rc == 0, "storage_open %s: %d (%s)", r->dir, rc, err);
}

static void apply_one(struct run *r, storage_txn *batch,
                      const struct storage_cmd *c, uint64_t index,
                      const char *bucket)
{
    struct storage_result got, exp;
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc;

    describe_cmd(r, c, index, bucket);
    if (g_trace) {
        fprintf(stderr, "[%s %d] %s\n", r->mc->name, r->step, r->last);
    }
    memset(&got, 0xa5, sizeof got);
    rc = batch != NULL ? storage_write_apply(batch, bucket, c, index, &got, err)
                       : storage_apply(r->s, bucket, c, index, &got, err);
    CHECK(r, rc == 0, "apply returned %d (%s): %s", rc, cairn_errname(rc),
          err);
    if (strcmp(bucket, BUCKET) != 0) {
        CHECK(r, got.code == CAIRN_ENOBUCKET && got.revision == 0 &&
                     !got.skipped,
              "apply to a missing bucket: code %d, revision %" PRIu64
              ", skipped %d",
              got.code, got.revision, got.skipped);
        r->st.no_bucket++;
        return;
    }
    model_apply(&r->m, c, index, &exp);
    check_result(r, c, &got, &exp);
    if (exp.skipped) {
        r->st.skipped++;
    } else {
        r->st.codes[exp.code]++;
    }
    if (c->type == STORAGE_CMD_EXPIRE) {
        r->st.expire_removed += exp.count;
    }
    r->st.txns += c->type == STORAGE_CMD_TXN;
}

static void snapshot_restore(struct run *r)
{
    void *buf = NULL;
    size_t len = 0;
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc = storage_snapshot(r->s, BUCKET, &buf, &len, err);
    r->last[0] = '\0';
    describe(r, "snapshot + restore over itself");
    CHECK(r, rc == 0, "snapshot: %d (%s)", rc, err);
    rc = storage_restore(r->s, BUCKET, buf, len, err);
    free(buf);
    CHECK(r, rc == 0, "restore: %d (%s)", rc, err);
    r->st.restores++;
}

/* Move the bucket to a fresh store through a snapshot (another directory,
 * another bucket id) and carry on there. */
static void migrate(struct run *r)
{
    char dir[512], err[CAIRN_ERRMSG_SIZE] = "";
    storage *old = r->s;
    void *buf = NULL;
    size_t len = 0;
    int rc;

    r->last[0] = '\0';
    describe(r, "snapshot + restore into a new store");
    rc = storage_snapshot(old, BUCKET, &buf, &len, err);
    CHECK(r, rc == 0, "snapshot: %d (%s)", rc, err);
    memcpy(dir, r->dir, sizeof dir);
    CHECK(r, test_tmpdir_create("model", r->dir, sizeof r->dir) == 0,
          "tmpdir");
    open_store(r);
    rc = storage_restore(r->s, BUCKET, buf, len, err);
    free(buf);
    CHECK(r, rc == 0, "restore into a new store: %d (%s)", rc, err);
    storage_close(old);
    test_tmpdir_remove(dir);
    r->st.migrations++;
}

static void run_config(void **state)
{
    const struct mconfig *mc = *state;
    struct run *r = calloc(1, sizeof *r);
    char err[CAIRN_ERRMSG_SIZE] = "";
    unsigned weight_sum = 0;
    uint64_t ops;
    int rc;
    storage_txn *batch = NULL;
    int batch_left = 0;
    bool batch_abort = false;
    struct timespec ts0, ts1;

    clock_gettime(CLOCK_MONOTONIC, &ts0);
    assert_non_null(r);
    r->writes = calloc(CAIRN_TXN_OPS_MAX + 1, sizeof *r->writes);
    assert_non_null(r->writes);
    r->mc = mc;
    r->rng = g_seed ^ (0x632BE59BD9B4E019ULL * (uint64_t)(mc - configs + 1));
    splitmix(&r->rng);
    for (size_t i = 0; i < N_CONFIGS; i++) {
        weight_sum += configs[i].weight;
    }
    ops = g_total_ops * mc->weight / weight_sum;
    if (ops == 0) {
        ops = 1;
    }
    for (int i = 0; i < 4; i++) {
        r->hot[i] = (int)rnd(r, NKEYS);
    }
    r->t0 = r->now = 1700000000ULL * SEC + rnd(r, SEC);
    r->next_index = 1 + rnd(r, 10);

    assert_int_equal(test_tmpdir_create("model", r->dir, sizeof r->dir), 0);
    open_store(r);

    cairn_bucket_config_init(&r->m.cfg, BUCKET);
    snprintf(r->m.cfg.description, sizeof r->m.cfg.description,
             "model bucket %s", mc->name);
    r->m.cfg.history = mc->history;
    r->m.cfg.ttl_ns = mc->ttl_ns;
    r->m.cfg.max_bytes = mc->max_bytes;
    r->m.cfg.max_value_size = mc->max_value_size;
    r->m.cfg.storage = mc->storage;
    r->m.created = r->now;
    rc = storage_bucket_create(r->s, &r->m.cfg, r->now, err);
    CHECK(r, rc == 0, "bucket_create: %d (%s)", rc, err);
    verify(r);

    /* (a batch still open at the last step runs on until it ends) */
    for (r->step = 1; (uint64_t)r->step <= ops || batch != NULL; r->step++) {
        struct storage_cmd c;
        uint64_t index;
        const char *bucket = BUCKET;

        advance_time(r);
        if (batch == NULL && chance(r, 40)) {
            rc = storage_write_begin(r->s, &batch, err);
            CHECK(r, rc == 0, "write_begin: %d (%s)", rc, err);
            r->saved = r->m;
            batch_left = 1 + (int)rnd(r, 8);
            batch_abort = chance(r, 250);
        }
        gen_cmd(r, &c);
        index = gen_index(r);
        if (chance(r, 3)) {
            bucket = "no-such-bucket";
        }
        apply_one(r, batch, &c, index, bucket);
        if (batch != NULL) {
            if (--batch_left > 0) {
                continue; /* no reads while the write txn is open */
            }
            if (batch_abort) {
                storage_txn_end(batch);
                r->m = r->saved;
                r->st.aborted++;
            } else {
                rc = storage_write_commit(batch, err);
                CHECK(r, rc == 0, "write_commit: %d (%s)", rc, err);
            }
            batch = NULL;
            r->st.batches++;
        }
        if (mc->storage == CAIRN_STORAGE_FILE && chance(r, 5)) {
            r->last[0] = '\0';
            describe(r, "close + reopen");
            storage_close(r->s);
            r->s = NULL;
            open_store(r);
            r->st.reopens++;
        }
        if (chance(r, 5)) {
            snapshot_restore(r);
        }
        if (chance(r, 3)) {
            migrate(r);
        }
        verify(r);
    }

    clock_gettime(CLOCK_MONOTONIC, &ts1);
    print_message("  %s: %" PRIu64 " ops in %.2fs: ok %u conflict %u notfound "
                  "%u full %u toolarge %u inval %u skipped %u nobucket %u; "
                  "txns %u, batches %u (%u aborted), expired entries %u, "
                  "reopens %u, restores %u+%u, last revision %" PRIu64
                  ", compacted %" PRIu64 "; on average %.1f keys, %.1f kept "
                  "revisions, at most %u of one key\n",
                  mc->name, ops,
                  (double)(ts1.tv_sec - ts0.tv_sec) +
                      (double)(ts1.tv_nsec - ts0.tv_nsec) / 1e9,
                  r->st.codes[CAIRN_OK], r->st.codes[CAIRN_ECONFLICT],
                  r->st.codes[CAIRN_ENOTFOUND], r->st.codes[CAIRN_EFULL],
                  r->st.codes[CAIRN_ETOOLARGE], r->st.codes[CAIRN_EINVAL],
                  r->st.skipped, r->st.no_bucket, r->st.txns, r->st.batches,
                  r->st.aborted, r->st.expire_removed, r->st.reopens,
                  r->st.restores, r->st.migrations, r->m.rev,
                  r->m.compacted,
                  (double)r->st.sum_keys / (double)r->st.samples,
                  (double)r->st.sum_revs / (double)r->st.samples,
                  r->st.max_kept);

    storage_close(r->s);
    test_tmpdir_remove(r->dir);
    free(r->writes);
    free(r);
}

/* storage.h: reads refuse a key of the wrong length with CAIRN_EINVAL
 * ("CAIRN_EINVAL (key length)"), not with the ETOOLARGE commands use. Kept
 * apart from the randomized runs so they go on when this fails. */
static void test_long_key_reads(void **state)
{
    char dir[512], err[CAIRN_ERRMSG_SIZE] = "";
    storage *s = NULL;
    storage_txn *t = NULL;
    cairn_bucket_config cfg;
    struct storage_entry e;
    struct storage_scan a;
    struct storage_page page;
    uint64_t count;
    char bad[1024] = "";
    size_t n = 0;
    int rc;

    (void)state;
    assert_int_equal(test_tmpdir_create("model-reads", dir, sizeof dir), 0);
    assert_int_equal(storage_open(dir, NULL, &s, err), 0);
    cairn_bucket_config_init(&cfg, BUCKET);
    assert_int_equal(storage_bucket_create(s, &cfg, 1, err), 0);
    assert_int_equal(storage_read_begin(s, &t, err), 0);

#define EXPECT_CODE(want, what, call)                                            \
    do {                                                                     \
        rc = (call);                                                         \
        if (rc != (want)) {                                            \
            n += (size_t)snprintf(bad + n, sizeof bad - n,                   \
                                  "\n  %s: got %d (%s), expected %s",       \
                                  what, rc, cairn_errname(rc),               \
                                  cairn_errname(want));              \
        }                                                                    \
    } while (0)
    EXPECT_CODE(CAIRN_ETOOLARGE, "get of a 513-byte key",
                  storage_get(t, BUCKET, bad_key, sizeof bad_key, 0, 2, &e,
                              err));
    EXPECT_CODE(CAIRN_ETOOLARGE, "get at a revision of a 513-byte key",
                  storage_get(t, BUCKET, bad_key, sizeof bad_key, 1, 2, &e,
                              err));
    EXPECT_CODE(CAIRN_ETOOLARGE, "history of a 513-byte key",
                  storage_history(t, BUCKET, bad_key, sizeof bad_key, 2,
                                  NULL, NULL, err));
    memset(&a, 0, sizeof a);
    a.now = 2;
    a.prefix = bad_key;
    a.prefix_len = sizeof bad_key;
    EXPECT_CODE(CAIRN_EINVAL, "scan with a 513-byte prefix",
                  storage_scan(t, BUCKET, &a, NULL, NULL, &page, err));
    memset(&a, 0, sizeof a);
    a.now = 2;
    a.start = bad_key;
    a.start_len = sizeof bad_key;
    EXPECT_CODE(CAIRN_EINVAL, "count from a 513-byte start key",
                  storage_count(t, BUCKET, &a, &count, err));
#undef EXPECT_CODE
    storage_txn_end(t);
    storage_close(s);
    test_tmpdir_remove(dir);
    if (n > 0) {
        print_error("reads of over-long keys:%s\n", bad);
        fail();
    }
}

int main(int argc, char **argv)
{
    const char *env_seed = getenv("CAIRN_TEST_SEED");
    const char *env_ops = getenv("CAIRN_MODEL_OPS");
    const char *env_trace = getenv("CAIRN_MODEL_TRACE");
    struct CMUnitTest tests[N_CONFIGS + 1];

    if (env_seed != NULL && env_seed[0] != '\0') {
        g_seed = strtoull(env_seed, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
    }
    if (env_ops != NULL && env_ops[0] != '\0') {
        g_total_ops = strtoull(env_ops, NULL, 0);
    }
    g_trace = env_trace != NULL && env_trace[0] == '1';
    printf("test_model: seed=0x%016" PRIx64 " ops=%" PRIu64
           " (CAIRN_TEST_SEED, CAIRN_MODEL_OPS)\n",
           g_seed, g_total_ops);
    fflush(stdout);

    keys_init();
    patterns_init();
    for (size_t i = 0; i < N_CONFIGS; i++) {
        tests[i] = (struct CMUnitTest){
            .name = configs[i].name,
            .test_func = run_config,
            .initial_state = (void *)&configs[i],
        };
    }
    tests[N_CONFIGS] = (struct CMUnitTest){
        .name = "long_key_reads",
        .test_func = test_long_key_reads,
    };
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    int rc = cmocka_run_group_tests_name("test_model", tests, NULL, NULL);
    free(patterns);
    return rc;
}
