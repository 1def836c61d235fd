/*
 * Snapshots of one bucket (docs/storage.md):
 *
 *   "CAIRNSNP" · u32 BE version (2) · msgpack [state map, [record bin...],
 *   [[dedup key bin, dedup value bin]...]] · u64 BE XXH3-64 of every byte
 *   before it
 *
 * Records are the revision records exactly as stored (each with its own
 * checksum), in revision order; restore rebuilds the key index and the
 * expiry index from them. The dedup table (dedup.c) is carried entry by
 * entry in key order, so a restored replica answers retried writes exactly
 * as the one that took the snapshot. Version 1 snapshots have no dedup
 * array ([state map, records]) and restore to an empty dedup table.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "internal.h"

#define SNAP_HEADER 12
#define SNAP_TRAILER 8

static void pack_key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
}

int storage_snapshot(storage *s, const char *bucket, void **buf, size_t *len,
                     char *errmsg)
{
    struct bucket *b = storage__bucket_find(s, bucket);
    struct bucket_counters c;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    MDB_txn *txn;
    MDB_cursor *cur, *dcur = NULL;
    MDB_stat st, dst;
    MDB_val k, v;
    uint8_t head[SNAP_HEADER] = {0}, tail[SNAP_TRAILER];
    int rc;

    if (b == NULL) {
        return storage__fail(errmsg, CAIRN_ENOBUCKET,
                             "bucket '%.64s' not found", bucket ? bucket : "");
    }
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
        return storage__mdb_fail(errmsg, rc, "begin");
    }
    if ((rc = storage__counters_get(txn, s, b, &c, errmsg)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_stat(txn, b->rdb, &st)) != 0 ||
        (rc = mdb_stat(txn, b->ddb, &dst)) != 0 ||
        (rc = mdb_cursor_open(txn, b->rdb, &cur)) != 0) {
        mdb_txn_abort(txn);
        return storage__mdb_fail(errmsg, rc, "open revisions");
    }
    if ((rc = mdb_cursor_open(txn, b->ddb, &dcur)) != 0) {
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        return storage__mdb_fail(errmsg, rc, "open dedup table");
    }
    msgpack_sbuffer_init(&sb);
    memcpy(head, SNAPSHOT_MAGIC, 8);
    head[11] = SNAPSHOT_VERSION;
    msgpack_sbuffer_write(&sb, (const char *)head, sizeof head);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_map(&pk, 8);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, SNAPSHOT_VERSION);
    pack_key(&pk, "cfg");
    storage__config_pack(&pk, &b->cfg);
    pack_key(&pk, "created");
    msgpack_pack_uint64(&pk, b->created);
    pack_key(&pk, "keys");
    msgpack_pack_uint64(&pk, c.keys);
    pack_key(&pk, "bytes");
    msgpack_pack_uint64(&pk, c.bytes);
    pack_key(&pk, "rev");
    msgpack_pack_uint64(&pk, c.rev);
    pack_key(&pk, "compacted");
    msgpack_pack_uint64(&pk, c.compacted);
    pack_key(&pk, "applied");
    msgpack_pack_uint64(&pk, c.applied);
    msgpack_pack_array(&pk, (size_t)st.ms_entries);
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        struct record_view rv;
        if (storage__record_read(v.mv_data, v.mv_size, &rv, errmsg) != 0) {
            storage__wrap(errmsg, "snapshot");
            rc = CAIRN_ECORRUPT;
            goto out;
        }
        msgpack_pack_bin_with_body(&pk, v.mv_data, v.mv_size);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) {
        rc = storage__mdb_fail(errmsg, rc, "read revisions");
        goto out;
    }
    msgpack_pack_array(&pk, (size_t)dst.ms_entries);
    rc = mdb_cursor_get(dcur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (storage__dedup_entry_check(k.mv_data, k.mv_size, v.mv_data,
                                       v.mv_size, errmsg) != 0) {
            storage__wrap(errmsg, "snapshot");
            rc = CAIRN_ECORRUPT;
            goto out;
        }
        msgpack_pack_array(&pk, 2);
        msgpack_pack_bin_with_body(&pk, k.mv_data, k.mv_size);
        msgpack_pack_bin_with_body(&pk, v.mv_data, v.mv_size);
        rc = mdb_cursor_get(dcur, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) {
        rc = storage__mdb_fail(errmsg, rc, "read dedup table");
        goto out;
    }
    if (sb.data == NULL) {
        rc = storage__fail(errmsg, CAIRN_ENOMEM, "snapshot");
        goto out;
    }
    storage__put_u64be(tail, XXH3_64bits(sb.data, sb.size));
    msgpack_sbuffer_write(&sb, (const char *)tail, sizeof tail);
    *len = sb.size;
    *buf = msgpack_sbuffer_release(&sb);
    rc = 0;
out:
    mdb_cursor_close(dcur);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0) {
        msgpack_sbuffer_destroy(&sb);
    }
    return rc;
}

/* A verified, decoded snapshot: views into the caller's buffer. */
struct snap {
    uint32_t version;
    cairn_bucket_config cfg;
    uint64_t created;
    struct bucket_counters c;
    const msgpack_object *records;
    const msgpack_object *dedup; /* NULL: version 1, none */
};

static int snap_state(const msgpack_object *m, struct snap *sn, char *errmsg)
{
    bool have_v = false, have_cfg = false;
    if (m->type != MSGPACK_OBJECT_MAP) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "snapshot state is not a map");
    }
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        const msgpack_object *v = &m->via.map.ptr[i].val;
        const char *names[] = {"created", "keys", "bytes", "rev",
                               "compacted", "applied"};
        uint64_t *dst[] = {&sn->created, &sn->c.keys, &sn->c.bytes,
                           &sn->c.rev, &sn->c.compacted, &sn->c.applied};
        bool known = false;
        if (k->type != MSGPACK_OBJECT_STR) {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "snapshot state key is not a string");
        }
        if (k->via.str.size == 1 && k->via.str.ptr[0] == 'v') {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
                v->via.u64 != sn->version) {
                return storage__fail(errmsg, CAIRN_EVERSION,
                                     "snapshot state version is unknown");
            }
            have_v = true;
            continue;
        }
        if (k->via.str.size == 3 && memcmp(k->via.str.ptr, "cfg", 3) == 0) {
            if (storage__config_unpack(v, &sn->cfg, errmsg) != 0) {
                storage__wrap(errmsg, "snapshot");
                return CAIRN_EMALFORMED;
            }
            have_cfg = true;
            continue;
        }
        for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
            if (k->via.str.size == strlen(names[j]) &&
                memcmp(k->via.str.ptr, names[j], k->via.str.size) == 0) {
                if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                    return storage__fail(errmsg, CAIRN_EMALFORMED,
                                         "snapshot field '%s' is not a "
                                         "number",
                                         names[j]);
                }
                *dst[j] = v->via.u64;
                known = true;
            }
        }
        if (!known) {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "snapshot state has an unknown field");
        }
    }
    if (!have_v || !have_cfg) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "snapshot state lacks v or cfg");
    }
    return 0;
}

/* Check every record: valid, listing no older revisions, in strictly
 * increasing revision order, none above the snapshot's revision. */
static int snap_records(const struct snap *sn, char *errmsg)
{
    uint64_t prev = 0;
    for (uint32_t i = 0; i < sn->records->via.array.size; i++) {
        const msgpack_object *o = &sn->records->via.array.ptr[i];
        struct record_view rv;
        if (o->type != MSGPACK_OBJECT_BIN ||
            storage__record_read(o->via.bin.ptr, o->via.bin.size, &rv,
                                 errmsg) != 0) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "snapshot record %u is corrupt", i);
        }
        if (rv.n_older != 0 || rv.e.revision <= prev ||
            rv.e.revision > sn->c.rev) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "snapshot record %u (revision %llu) is out "
                                 "of order",
                                 i, (unsigned long long)rv.e.revision);
        }
        prev = rv.e.revision;
    }
    return 0;
}

/* Check the dedup entries: each a [key bin, value bin] pair that
 * storage__dedup_entry_check() accepts, keys strictly increasing in LMDB's
 * order (which is storage__key_cmp's). How the entries relate to each
 * other is checked once they are written (storage__dedup_verify). */
static int snap_dedup(const struct snap *sn, char *errmsg)
{
    const msgpack_object_bin *prev = NULL;
    if (sn->dedup == NULL) {
        return 0;
    }
    for (uint32_t i = 0; i < sn->dedup->via.array.size; i++) {
        const msgpack_object *o = &sn->dedup->via.array.ptr[i];
        const msgpack_object_bin *k, *v;
        if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2 ||
            o->via.array.ptr[0].type != MSGPACK_OBJECT_BIN ||
            o->via.array.ptr[1].type != MSGPACK_OBJECT_BIN) {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "snapshot dedup entry %u is not [key, "
                                 "value]",
                                 i);
        }
        k = &o->via.array.ptr[0].via.bin;
        v = &o->via.array.ptr[1].via.bin;
        if (storage__dedup_entry_check(k->ptr, k->size, v->ptr, v->size,
                                       errmsg) != 0) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "snapshot dedup entry %u is corrupt", i);
        }
        if (prev != NULL &&
            storage__key_cmp(prev->ptr, prev->size, k->ptr, k->size) >= 0) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "snapshot dedup entry %u is out of order",
                                 i);
        }
        prev = k;
    }
    return 0;
}

/* Write the snapshot's dedup entries (checked, in order) into @b's empty
 * dedup table, then check how they relate. */
static int restore_dedup(MDB_txn *txn, const struct bucket *b,
                         const struct snap *sn, char *errmsg)
{
    int rc;
    if (sn->dedup == NULL) {
        return 0;
    }
    for (uint32_t i = 0; i < sn->dedup->via.array.size; i++) {
        const msgpack_object *o = sn->dedup->via.array.ptr[i].via.array.ptr;
        MDB_val k = {o[0].via.bin.size, (void *)o[0].via.bin.ptr};
        MDB_val v = {o[1].via.bin.size, (void *)o[1].via.bin.ptr};
        if ((rc = mdb_put(txn, b->ddb, &k, &v, MDB_APPEND)) != 0) {
            return storage__mdb_fail(errmsg, rc, "restore dedup table");
        }
    }
    return storage__dedup_verify(txn, b, errmsg);
}

/* Insert revision record @rv (bytes @raw) and make it its key's latest. */
static int restore_record(MDB_txn *txn, struct bucket *b, const void *raw,
                          size_t raw_len, const struct record_view *rv,
                          struct bucket_counters *c, char *errmsg)
{
    struct record_view latest;
    struct record r;
    uint64_t older[CAIRN_HISTORY_MAX];
    uint32_t n = 0;
    uint8_t kb[16];
    MDB_val k = {8, kb}, v = {raw_len, (void *)raw};
    int rc;

    storage__put_u64be(kb, rv->e.revision);
    if ((rc = mdb_put(txn, b->rdb, &k, &v, 0)) != 0) {
        return storage__mdb_fail(errmsg, rc, "restore revision");
    }
    if (rv->e.expires_at != 0) {
        MDB_val tk = {16, kb}, tv = {0, NULL};
        storage__put_u64be(kb, rv->e.expires_at);
        storage__put_u64be(kb + 8, rv->e.revision);
        if ((rc = mdb_put(txn, b->tdb, &tk, &tv, 0)) != 0) {
            return storage__mdb_fail(errmsg, rc, "restore expiry");
        }
    }
    rc = storage__ks_get(txn, b->kdb, rv->e.key, rv->e.key_len, &latest,
                         errmsg);
    if (rc == 0) {
        if (latest.n_older + 1 > CAIRN_HISTORY_MAX - 1 + 1 ||
            latest.n_older + 1 > b->cfg.history - 1) {
            return storage__fail(errmsg, CAIRN_ECORRUPT,
                                 "snapshot keeps more revisions of a key "
                                 "than its history allows");
        }
        older[n++] = latest.e.revision;
        for (uint32_t i = 0; i < latest.n_older; i++) {
            older[n++] = storage__record_older(&latest, i);
        }
        if (latest.e.op == CAIRN_OP_PUT) {
            c->keys--;
        }
    } else if (rc != CAIRN_ENOTFOUND) {
        return rc;
    }
    storage__record_from_view(&r, rv);
    r.older = older;
    r.n_older = n;
    if ((rc = storage__ks_put(txn, b->kdb, &r, errmsg)) != 0) {
        return rc;
    }
    if (r.op == CAIRN_OP_PUT) {
        c->keys++;
    }
    c->bytes += storage__entry_bytes(&rv->e);
    c->stored += storage__view_stored_bytes(rv);
    return 0;
}

static int restore_into(storage *s, const char *bucket, const struct snap *sn,
                        char *errmsg)
{
    struct bucket *existing = storage__bucket_find(s, bucket);
    struct bucket *b = NULL, tmp;
    struct bucket_counters c = {0}, fin;
    MDB_txn *txn;
    int rc;

    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        return storage__mdb_fail(errmsg, rc, "begin");
    }
    if (existing != NULL) {
        tmp = *existing;
        tmp.cfg = sn->cfg;
        tmp.created = sn->created;
        b = &tmp;
        if ((rc = mdb_drop(txn, b->kdb, 0)) != 0 ||
            (rc = mdb_drop(txn, b->rdb, 0)) != 0 ||
            (rc = mdb_drop(txn, b->tdb, 0)) != 0 ||
            (rc = mdb_drop(txn, b->ddb, 0)) != 0) {
            rc = storage__mdb_fail(errmsg, rc, "clear bucket");
            goto err;
        }
        if ((rc = storage__config_put(txn, s, b, errmsg)) != 0) {
            goto err;
        }
    } else if ((rc = storage__bucket_new(s, txn, &sn->cfg, sn->created, &b,
                                         errmsg)) != 0) {
        goto err;
    }
    for (uint32_t i = 0; i < sn->records->via.array.size; i++) {
        const msgpack_object *o = &sn->records->via.array.ptr[i];
        struct record_view rv;
        storage__record_read(o->via.bin.ptr, o->via.bin.size, &rv, NULL);
        if ((rc = restore_record(txn, b, o->via.bin.ptr, o->via.bin.size,
                                 &rv, &c, errmsg)) != 0) {
            goto err;
        }
    }
    if (c.keys != sn->c.keys || c.bytes != sn->c.bytes) {
        rc = storage__fail(errmsg, CAIRN_ECORRUPT,
                           "snapshot counters (keys %llu, bytes %llu) do not "
                           "match its records (keys %llu, bytes %llu)",
                           (unsigned long long)sn->c.keys,
                           (unsigned long long)sn->c.bytes,
                           (unsigned long long)c.keys,
                           (unsigned long long)c.bytes);
        goto err;
    }
    /* Snapshots carry records as stored, so their stored bytes are
     * counted here rather than carried. */
    fin = sn->c;
    fin.stored = c.stored;
    if ((rc = restore_dedup(txn, b, sn, errmsg)) != 0 ||
        (rc = storage__counters_put(txn, s, b, &fin, errmsg)) != 0) {
        goto err;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        if (existing == NULL) {
            free(b);
        }
        return storage__mdb_fail(errmsg, rc, "commit restore");
    }
    if (existing != NULL) {
        existing->cfg = sn->cfg;
        existing->created = sn->created;
        existing->c = fin;
        return 0;
    }
    b->c = fin;
    return storage__bucket_cache_add(s, b, errmsg);
err:
    mdb_txn_abort(txn);
    if (existing == NULL) {
        free(b);
    }
    storage__wrap(errmsg, "restore");
    return rc;
}

int storage_restore(storage *s, const char *bucket, const void *buf,
                    size_t len, char *errmsg)
{
    const uint8_t *p = buf;
    msgpack_unpacked u;
    struct snap sn;
    size_t off = 0, body;
    uint32_t version;
    int rc;

    if (buf == NULL || len < SNAP_HEADER + SNAP_TRAILER ||
        memcmp(p, SNAPSHOT_MAGIC, 8) != 0) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "not a cairn snapshot (%zu bytes)", len);
    }
    version = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
              (uint32_t)p[10] << 8 | p[11];
    if (storage__get_u64be(p + len - SNAP_TRAILER) !=
        XXH3_64bits(p, len - SNAP_TRAILER)) {
        return storage__fail(errmsg, CAIRN_ECORRUPT,
                             "snapshot checksum mismatch (truncated or "
                             "corrupted)");
    }
    if (version != SNAPSHOT_VERSION && version != SNAPSHOT_VERSION_V1) {
        return storage__fail(errmsg, CAIRN_EVERSION,
                             "snapshot format %u is not supported (this "
                             "build reads %d and %d)",
                             version, SNAPSHOT_VERSION_V1, SNAPSHOT_VERSION);
    }
    body = len - SNAP_HEADER - SNAP_TRAILER;
    if (cairn_msgpack_check(p + SNAP_HEADER, body) != 0) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "snapshot body is not valid msgpack");
    }
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)p + SNAP_HEADER, body, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != body || u.data.type != MSGPACK_OBJECT_ARRAY ||
        u.data.via.array.size != (version == SNAPSHOT_VERSION_V1 ? 2 : 3) ||
        u.data.via.array.ptr[1].type != MSGPACK_OBJECT_ARRAY ||
        (version != SNAPSHOT_VERSION_V1 &&
         u.data.via.array.ptr[2].type != MSGPACK_OBJECT_ARRAY)) {
        rc = storage__fail(errmsg, CAIRN_EMALFORMED,
                           version == SNAPSHOT_VERSION_V1
                               ? "snapshot body is not [state, records]"
                               : "snapshot body is not [state, records, "
                                 "dedup]");
        goto out;
    }
    memset(&sn, 0, sizeof sn);
    sn.version = version;
    sn.records = &u.data.via.array.ptr[1];
    if (version != SNAPSHOT_VERSION_V1) {
        sn.dedup = &u.data.via.array.ptr[2];
    }
    if ((rc = snap_state(&u.data.via.array.ptr[0], &sn, errmsg)) != 0 ||
        (rc = snap_records(&sn, errmsg)) != 0 ||
        (rc = snap_dedup(&sn, errmsg)) != 0) {
        goto out;
    }
    if (bucket == NULL || strcmp(sn.cfg.name, bucket) != 0) {
        rc = storage__fail(errmsg, CAIRN_EINVAL,
                           "snapshot is of bucket '%s', not '%.64s'",
                           sn.cfg.name, bucket ? bucket : "");
        goto out;
    }
    rc = restore_into(s, bucket, &sn, errmsg);
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}
