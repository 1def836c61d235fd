/*
 * Buckets: the catalog in the _meta database and the in-memory cache of
 * open buckets.
 *
 *   "c:" + name -> msgpack {v, id, created, cfg}   (changes rarely)
 *   "s:" + name -> u8 version · 7 zero bytes · keys · bytes · rev ·
 *                  compacted · applied (u64 LE each; written every commit)
 *   "next_id"   -> u32 LE, the next bucket id (ids are never reused)
 *
 * A bucket's own databases are k.<id> (keys), r.<id> (revisions), t.<id>
 * (expiry index) and d.<id> (dedup table, dedup.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Size 56 added the stored bytes; a state of 48 bytes (written before
 * compression existed) has stored bytes equal to its bytes. */
#define STATE_SIZE 56
#define STATE_SIZE_V1 48

static void meta_key(char prefix, const char *name, char *buf, MDB_val *k)
{
    size_t n = strlen(name);
    buf[0] = prefix;
    buf[1] = ':';
    memcpy(buf + 2, name, n);
    k->mv_data = buf;
    k->mv_size = n + 2;
}

static int cmp_bucket(const void *a, const void *b)
{
    const struct bucket *x = *(struct bucket *const *)a;
    const struct bucket *y = *(struct bucket *const *)b;
    return strcmp(x->cfg.name, y->cfg.name);
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, (*(struct bucket *const *)elem)->cfg.name);
}

struct bucket *storage__bucket_find(storage *s, const char *name)
{
    struct bucket **found;
    if (name == NULL || s->n_buckets == 0) {
        return NULL;
    }
    found = bsearch(name, s->buckets, s->n_buckets, sizeof *s->buckets,
                    cmp_name);
    return found != NULL ? *found : NULL;
}

int storage__bucket_cache_add(storage *s, struct bucket *b, char *errmsg)
{
    struct bucket **n =
        realloc(s->buckets, (s->n_buckets + 1) * sizeof *s->buckets);
    if (n == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "cache bucket");
    }
    s->buckets = n;
    s->buckets[s->n_buckets++] = b;
    qsort(s->buckets, s->n_buckets, sizeof *s->buckets, cmp_bucket);
    return 0;
}

static void cache_remove(storage *s, struct bucket *b)
{
    for (uint32_t i = 0; i < s->n_buckets; i++) {
        if (s->buckets[i] == b) {
            memmove(&s->buckets[i], &s->buckets[i + 1],
                    (s->n_buckets - i - 1) * sizeof *s->buckets);
            s->n_buckets--;
            break;
        }
    }
    free(b);
}

void storage__buckets_free(storage *s)
{
    for (uint32_t i = 0; i < s->n_buckets; i++) {
        free(s->buckets[i]);
    }
    free(s->buckets);
    s->buckets = NULL;
    s->n_buckets = 0;
}

int storage__counters_put(MDB_txn *txn, storage *s, const struct bucket *b,
                          const struct bucket_counters *c, char *errmsg)
{
    char kbuf[2 + CAIRN_BUCKET_NAME_MAX];
    MDB_val k, v;
    uint8_t buf[STATE_SIZE] = {STATE_VERSION};
    int rc;
    meta_key('s', b->cfg.name, kbuf, &k);
    storage__put_u64le(buf + 8, c->keys);
    storage__put_u64le(buf + 16, c->bytes);
    storage__put_u64le(buf + 24, c->rev);
    storage__put_u64le(buf + 32, c->compacted);
    storage__put_u64le(buf + 40, c->applied);
    storage__put_u64le(buf + 48, c->stored);
    v.mv_data = buf;
    v.mv_size = sizeof buf;
    rc = mdb_put(txn, s->meta, &k, &v, 0);
    return rc != 0 ? storage__mdb_fail(errmsg, rc, "write bucket state") : 0;
}

int storage__counters_get(MDB_txn *txn, storage *s, const struct bucket *b,
                          struct bucket_counters *c, char *errmsg)
{
    char kbuf[2 + CAIRN_BUCKET_NAME_MAX];
    MDB_val k, v;
    const uint8_t *p;
    int rc;
    meta_key('s', b->cfg.name, kbuf, &k);
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc != 0) {
        return rc == MDB_NOTFOUND
                   ? storage__fail(errmsg, CAIRN_ECORRUPT,
                                   "bucket '%s' has no state record",
                                   b->cfg.name)
                   : storage__mdb_fail(errmsg, rc, "read bucket state");
    }
    p = v.mv_data;
    if ((v.mv_size != STATE_SIZE && v.mv_size != STATE_SIZE_V1) ||
        p[0] != STATE_VERSION) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "bucket '%s' state record is bad", b->cfg.name);
    }
    c->keys = storage__get_u64le(p + 8);
    c->bytes = storage__get_u64le(p + 16);
    c->rev = storage__get_u64le(p + 24);
    c->compacted = storage__get_u64le(p + 32);
    c->applied = storage__get_u64le(p + 40);
    c->stored = v.mv_size == STATE_SIZE ? storage__get_u64le(p + 48)
                                        : c->bytes;
    return 0;
}

int storage__config_put(MDB_txn *txn, storage *s, const struct bucket *b,
                        char *errmsg)
{
    char kbuf[2 + CAIRN_BUCKET_NAME_MAX];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    MDB_val k, v;
    int rc;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_uint32(&pk, STATE_VERSION);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint32(&pk, b->id);
    msgpack_pack_str_with_body(&pk, "created", 7);
    msgpack_pack_uint64(&pk, b->created);
    msgpack_pack_str_with_body(&pk, "cfg", 3);
    storage__config_pack(&pk, &b->cfg);
    if (sb.data == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "encode bucket config");
    }
    meta_key('c', b->cfg.name, kbuf, &k);
    v.mv_data = sb.data;
    v.mv_size = sb.size;
    rc = mdb_put(txn, s->meta, &k, &v, 0);
    msgpack_sbuffer_destroy(&sb);
    return rc != 0 ? storage__mdb_fail(errmsg, rc, "write bucket config") : 0;
}

/* Decode a config record into @b (id, created, cfg). */
static int config_get(const MDB_val *v, struct bucket *b, char *errmsg)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc = CAIRN_ECORRUPT;
    bool have_id = false, have_cfg = false;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, v->mv_data, v->mv_size, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        storage__fail(errmsg, rc, "bucket config record is not a map");
        goto out;
    }
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
        const msgpack_object_str *key = &kv->key.via.str;
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            continue;
        }
        if (key->size == 1 && key->ptr[0] == 'v') {
            if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
                kv->val.via.u64 != STATE_VERSION) {
                storage__fail(errmsg, CAIRN_EVERSION,
                              "bucket config record has an unknown version");
                rc = CAIRN_EVERSION;
                goto out;
            }
        } else if (key->size == 2 && memcmp(key->ptr, "id", 2) == 0 &&
                   kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            b->id = (uint32_t)kv->val.via.u64;
            have_id = true;
        } else if (key->size == 7 && memcmp(key->ptr, "created", 7) == 0 &&
                   kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            b->created = kv->val.via.u64;
        } else if (key->size == 3 && memcmp(key->ptr, "cfg", 3) == 0) {
            if (storage__config_unpack(&kv->val, &b->cfg, errmsg) != 0) {
                goto out;
            }
            have_cfg = true;
        }
    }
    if (!have_id || !have_cfg) {
        storage__fail(errmsg, rc, "bucket config record lacks id or cfg");
        goto out;
    }
    rc = 0;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* Open (with MDB_CREATE in @flags: create) @b's databases. With
 * @create_dedup the dedup table is created if missing, which is how a
 * bucket of a format-1 environment gets one. */
static int open_dbs(MDB_txn *txn, struct bucket *b, unsigned flags,
                    bool create_dedup, char *errmsg)
{
    char name[32];
    MDB_dbi *dbis[4] = {&b->kdb, &b->rdb, &b->tdb, &b->ddb};
    const char prefixes[4] = {'k', 'r', 't', 'd'};
    for (int i = 0; i < 4; i++) {
        unsigned f = flags | (i == 3 && create_dedup ? MDB_CREATE : 0);
        int rc;
        snprintf(name, sizeof name, "%c.%u", prefixes[i], b->id);
        rc = mdb_dbi_open(txn, name, f, dbis[i]);
        if (rc != 0) {
            char what[64];
            snprintf(what, sizeof what, "open database %s", name);
            return storage__mdb_fail(errmsg, rc, what);
        }
    }
    return 0;
}

int storage__buckets_load(storage *s, MDB_txn *txn, bool upgrade,
                          char *errmsg)
{
    MDB_cursor *c;
    MDB_val k = {2, "c:"}, v;
    int rc = mdb_cursor_open(txn, s->meta, &c);
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "open catalog cursor");
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > 2 && memcmp(k.mv_data, "c:", 2) == 0) {
        struct bucket *b = calloc(1, sizeof *b);
        if (b == NULL) {
            rc = storage__fail(errmsg, CAIRN_ENOMEM, "load buckets");
            break;
        }
        if ((rc = config_get(&v, b, errmsg)) != 0 ||
            (rc = open_dbs(txn, b, 0, upgrade, errmsg)) != 0 ||
            (rc = storage__counters_get(txn, s, b, &b->c, errmsg)) != 0 ||
            (rc = storage__bucket_cache_add(s, b, errmsg)) != 0) {
            char what[96];
            snprintf(what, sizeof what, "load bucket '%.*s'",
                     (int)(k.mv_size - 2), (const char *)k.mv_data + 2);
            storage__wrap(errmsg, what);
            free(b);
            break;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        rc = 0;
    } else if (rc > 0 && rc < CAIRN__ERR_COUNT) {
        return rc;
    } else if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "list buckets");
    }
    return 0;
}

int storage__bucket_new(storage *s, MDB_txn *txn, const cairn_bucket_config *cfg,
                        uint64_t created, struct bucket **out, char *errmsg)
{
    MDB_val k = {7, "next_id"}, v;
    uint8_t idbuf[4];
    struct bucket *b;
    uint32_t id = 1;
    int rc;

    if (s->n_buckets >= s->max_buckets) {
        return storage__fail(errmsg, CAIRN_ENOSPACE,
                             "this node already holds %u buckets, its "
                             "maximum",
                             s->max_buckets);
    }
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0 && v.mv_size == 4) {
        id = storage__get_u32le(v.mv_data);
    } else if (rc != MDB_NOTFOUND) {
        return rc != 0 ? storage__mdb_fail(errmsg, rc, "read next_id")
                       : storage__fail(errmsg, CAIRN_ECORRUPT,
                                       "next_id record is bad");
    }
    storage__put_u32le(idbuf, id + 1);
    v.mv_data = idbuf;
    v.mv_size = sizeof idbuf;
    if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0) {
        return storage__mdb_fail(errmsg, rc, "write next_id");
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "create bucket");
    }
    b->id = id;
    b->cfg = *cfg;
    b->created = created;
    if ((rc = open_dbs(txn, b, MDB_CREATE, true, errmsg)) != 0 ||
        (rc = storage__config_put(txn, s, b, errmsg)) != 0 ||
        (rc = storage__counters_put(txn, s, b, &b->c, errmsg)) != 0) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int storage_bucket_create(storage *s, const cairn_bucket_config *cfg,
                          uint64_t now, char *errmsg)
{
    MDB_txn *txn;
    struct bucket *b;
    int rc = cairn_bucket_config_validate(cfg, errmsg);
    if (rc != 0) {
        return rc;
    }
    if (storage__bucket_find(s, cfg->name) != NULL) {
        return storage__fail(errmsg, CAIRN_EEXIST,
                             "bucket '%s' already exists", cfg->name);
    }
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        return storage__mdb_fail(errmsg, rc, "begin");
    }
    if ((rc = storage__bucket_new(s, txn, cfg, now, &b, errmsg)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        free(b);
        return storage__mdb_fail(errmsg, rc, "commit bucket create");
    }
    return storage__bucket_cache_add(s, b, errmsg);
}

int storage_bucket_delete(storage *s, const char *name, char *errmsg)
{
    char kbuf[2 + CAIRN_BUCKET_NAME_MAX];
    struct bucket *b = storage__bucket_find(s, name);
    MDB_txn *txn;
    MDB_val k;
    int rc;
    if (b == NULL) {
        return storage__fail(errmsg, CAIRN_ENOBUCKET,
                             "bucket '%.64s' not found", name ? name : "");
    }
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        return storage__mdb_fail(errmsg, rc, "begin");
    }
    meta_key('c', b->cfg.name, kbuf, &k);
    if ((rc = mdb_del(txn, s->meta, &k, NULL)) != 0) {
        goto err;
    }
    meta_key('s', b->cfg.name, kbuf, &k);
    if ((rc = mdb_del(txn, s->meta, &k, NULL)) != 0 ||
        (rc = mdb_drop(txn, b->kdb, 1)) != 0 ||
        (rc = mdb_drop(txn, b->rdb, 1)) != 0 ||
        (rc = mdb_drop(txn, b->tdb, 1)) != 0 ||
        (rc = mdb_drop(txn, b->ddb, 1)) != 0) {
        goto err;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "commit bucket delete");
    }
    cache_remove(s, b);
    return 0;
err:
    mdb_txn_abort(txn);
    return storage__mdb_fail(errmsg, rc, "delete bucket");
}

int storage_bucket_list(storage *s, storage_bucket_cb cb, void *arg,
                        char *errmsg)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k = {2, "c:"}, v;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        return storage__mdb_fail(errmsg, rc, "begin");
    }
    if ((rc = mdb_cursor_open(txn, s->meta, &c)) != 0) {
        mdb_txn_abort(txn);
        return storage__mdb_fail(errmsg, rc, "open catalog cursor");
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > 2 && memcmp(k.mv_data, "c:", 2) == 0) {
        char name[CAIRN_BUCKET_NAME_MAX + 1];
        size_t n = k.mv_size - 2;
        if (n > CAIRN_BUCKET_NAME_MAX) {
            rc = -1;
            break;
        }
        memcpy(name, (const char *)k.mv_data + 2, n);
        name[n] = '\0';
        if ((rc = cb(arg, name)) != 0) {
            mdb_cursor_close(c);
            mdb_txn_abort(txn);
            return rc;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc == -1) {
        return storage__fail(errmsg, CAIRN_ECORRUPT, "bad bucket name");
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        return storage__mdb_fail(errmsg, rc, "list buckets");
    }
    return 0;
}

int storage_bucket_info(storage *s, const char *name,
                        struct storage_bucket_info *out, char *errmsg)
{
    struct bucket *b = storage__bucket_find(s, name);
    struct bucket_counters c;
    MDB_txn *txn;
    int rc;
    if (b == NULL) {
        return storage__fail(errmsg, CAIRN_ENOBUCKET,
                             "bucket '%.64s' not found", name ? name : "");
    }
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return storage__mdb_fail(errmsg, rc, "begin");
    }
    rc = storage__counters_get(txn, s, b, &c, errmsg);
    mdb_txn_abort(txn);
    if (rc != 0) {
        return rc;
    }
    memset(out, 0, sizeof *out);
    out->config = b->cfg;
    out->created = b->created;
    out->keys = c.keys;
    out->bytes = c.bytes;
    out->stored_bytes = c.stored;
    out->last_revision = c.rev;
    out->compacted_revision = c.compacted;
    out->applied_index = c.applied;
    return 0;
}
