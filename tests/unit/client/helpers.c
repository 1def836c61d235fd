/* Shared helpers of the wire codec's unit tests (see helpers.h). */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

void mp_init(struct mp *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

void mp_free(struct mp *m)
{
    msgpack_sbuffer_destroy(&m->sb);
}

void mp_clear(struct mp *m)
{
    msgpack_sbuffer_clear(&m->sb);
}

void mp_str(struct mp *m, const char *s)
{
    msgpack_pack_str_with_body(&m->pk, s, strlen(s));
}

void mp_bin(struct mp *m, const void *p, size_t n)
{
    msgpack_pack_bin_with_body(&m->pk, n > 0 ? p : "", n);
}

const uint8_t *one_body(const struct cairn_wire_buf *b, size_t *len)
{
    size_t l;
    assert_true(b->len >= CAIRN_WIRE_HEADER);
    l = (size_t)b->data[0] << 24 | (size_t)b->data[1] << 16 |
        (size_t)b->data[2] << 8 | b->data[3];
    assert_int_equal(l + CAIRN_WIRE_HEADER, b->len);
    *len = l;
    return b->data + CAIRN_WIRE_HEADER;
}

bool map_edit(const void *body, size_t len, const char *key, const void *val,
              size_t val_len, struct mp *out)
{
    msgpack_unpacked u;
    size_t off = 0;
    bool found = false;
    const msgpack_object *m;
    uint32_t n;
    mp_clear(out);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, body, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    m = &u.data;
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
            found = true;
        }
    }
    n = m->via.map.size;
    if (val == NULL && found) {
        n--;
    } else if (val != NULL && !found) {
        n++;
    }
    msgpack_pack_map(&out->pk, n);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0) {
            if (val != NULL) {
                msgpack_pack_object(&out->pk, *k);
                msgpack_sbuffer_write(&out->sb, val, val_len);
            }
            continue;
        }
        msgpack_pack_object(&out->pk, *k);
        msgpack_pack_object(&out->pk, m->via.map.ptr[i].val);
    }
    if (val != NULL && !found) {
        mp_str(out, key);
        msgpack_sbuffer_write(&out->sb, val, val_len);
    }
    msgpack_unpacked_destroy(&u);
    return found;
}

struct nil_walk {
    int target;
    int seen;
    char *top_key;
};

static void pack_walk(msgpack_packer *pk, const msgpack_object *o,
                      struct nil_walk *w, int depth);

/* Pack value @v (of key @k at @depth, NULL for array elements), or nil
 * when it is the target. */
static void walk_value(msgpack_packer *pk, const msgpack_object *k,
                       const msgpack_object *v, struct nil_walk *w, int depth)
{
    if (w->seen++ == w->target) {
        msgpack_pack_nil(pk);
        if (depth == 0 && k != NULL && k->type == MSGPACK_OBJECT_STR &&
            k->via.str.size < 32) {
            memcpy(w->top_key, k->via.str.ptr, k->via.str.size);
            w->top_key[k->via.str.size] = '\0';
        }
        return;
    }
    pack_walk(pk, v, w, depth + 1);
}

static void pack_walk(msgpack_packer *pk, const msgpack_object *o,
                      struct nil_walk *w, int depth)
{
    if (o->type == MSGPACK_OBJECT_MAP) {
        msgpack_pack_map(pk, o->via.map.size);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            msgpack_pack_object(pk, o->via.map.ptr[i].key);
            walk_value(pk, &o->via.map.ptr[i].key, &o->via.map.ptr[i].val, w,
                       depth);
        }
    } else if (o->type == MSGPACK_OBJECT_ARRAY) {
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            walk_value(pk, NULL, &o->via.array.ptr[i], w, depth);
        }
    } else {
        msgpack_pack_object(pk, *o);
    }
}

bool nil_at(const void *body, size_t len, int target, struct mp *out,
            char top_key[32])
{
    msgpack_unpacked u;
    size_t off = 0;
    struct nil_walk w = {target, 0, top_key};
    top_key[0] = '\0';
    mp_clear(out);
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, body, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    /* The top-level map's values are at depth 0. */
    assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
    msgpack_pack_map(&out->pk, u.data.via.map.size);
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
        msgpack_pack_object(&out->pk, u.data.via.map.ptr[i].key);
        walk_value(&out->pk, &u.data.via.map.ptr[i].key,
                   &u.data.via.map.ptr[i].val, &w, 0);
    }
    msgpack_unpacked_destroy(&u);
    return target < w.seen;
}

size_t map_names(const void *body, size_t len, char names[][32], size_t max)
{
    msgpack_unpacked u;
    size_t off = 0, n = 0;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, body, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < u.data.via.map.size && n < max; i++) {
        const msgpack_object *k = &u.data.via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size < 32) {
            memcpy(names[n], k->via.str.ptr, k->via.str.size);
            names[n][k->via.str.size] = '\0';
            n++;
        }
    }
    msgpack_unpacked_destroy(&u);
    return n;
}

void assert_msg_has(const char *msg, const char *part)
{
    if (strstr(msg, part) == NULL) {
        print_error("message '%s' does not contain '%s'\n", msg, part);
    }
    assert_non_null(strstr(msg, part));
}

bool bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

#define ASSERT_BYTES(a, al, b, bl) assert_true(bytes_eq(a, al, b, bl))

static void assert_write_equal(const struct cairn_write *a,
                               const struct cairn_write *b, bool value)
{
    assert_int_equal(a->op, b->op);
    ASSERT_BYTES(a->key, a->key_len, b->key, b->key_len);
    if (value) {
        ASSERT_BYTES(a->value, a->value_len, b->value, b->value_len);
    }
    ASSERT_BYTES(a->meta, a->meta_len, b->meta, b->meta_len);
    assert_int_equal(a->ttl_ns, b->ttl_ns);
    assert_int_equal(a->expires_at, b->expires_at);
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
        assert_string_equal(a->metadata[i].key, b->metadata[i].key);
        assert_string_equal(a->metadata[i].value, b->metadata[i].value);
    }
}

static void assert_str_equal(struct cairn_wire_str a, struct cairn_wire_str b)
{
    ASSERT_BYTES(a.ptr, a.len, b.ptr, b.len);
}

void assert_node_equal(const struct cairn_wire_node *a,
                       const struct cairn_wire_node *b, bool role)
{
    assert_int_equal(a->id, b->id);
    assert_str_equal(a->name, b->name);
    assert_str_equal(a->client, b->client);
    assert_str_equal(a->peer, b->peer);
    assert_str_equal(a->http, b->http);
    assert_str_equal(a->cluster, b->cluster);
    assert_int_equal(a->n_tags, b->n_tags);
    for (uint32_t j = 0; j < a->n_tags; j++) {
        assert_str_equal(a->tags[j], b->tags[j]);
    }
    if (role) {
        assert_str_equal(a->role, b->role);
    }
}

void assert_request_equal(const struct cairn_wire_request *a,
                          const struct cairn_wire_request *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->op, b->op);
    assert_int_equal(a->has, b->has);
    switch (a->op) {
        case CAIRN_WIRE_HELLO:
            assert_int_equal(a->version, b->version);
            if (a->has & CAIRN_WIRE_REQ_CLIENT) {
                ASSERT_BYTES(a->client, a->client_len, b->client,
                             b->client_len);
            }
            return;
        case CAIRN_WIRE_BUCKET_CREATE:
            assert_non_null(a->config);
            assert_non_null(b->config);
            assert_config_equal(a->config, b->config);
            return;
        case CAIRN_WIRE_BUCKET_LIST:
        case CAIRN_WIRE_CLUSTER_STATUS:
            return;
        case CAIRN_WIRE_NODE_JOIN:
            assert_non_null(a->node);
            assert_non_null(b->node);
            assert_node_equal(a->node, b->node, false);
            return;
        case CAIRN_WIRE_NODE_REMOVE:
            assert_int_equal(a->node_id, b->node_id);
            return;
        case CAIRN_WIRE_WATCH_CANCEL:
            assert_int_equal(a->watch, b->watch);
            return;
        default:
            break;
    }
    assert_string_equal(a->bucket, b->bucket);
    switch (a->op) {
        case CAIRN_WIRE_GET:
        case CAIRN_WIRE_EXISTS:
        case CAIRN_WIRE_HISTORY:
        case CAIRN_WIRE_DELETE:
        case CAIRN_WIRE_PURGE:
            ASSERT_BYTES(a->w.key, a->w.key_len, b->w.key, b->w.key_len);
            break;
        case CAIRN_WIRE_PUT:
        case CAIRN_WIRE_CREATE:
        case CAIRN_WIRE_UPDATE:
        case CAIRN_WIRE_CAS:
            assert_write_equal(&a->w, &b->w, true);
            break;
        case CAIRN_WIRE_BUCKET_LEADER:
            assert_int_equal(a->group, b->group);
            assert_int_equal(a->node_id, b->node_id);
            assert_int_equal(a->term, b->term);
            break;
        case CAIRN_WIRE_WATCH:
            if (a->has & CAIRN_WIRE_REQ_KEY) {
                ASSERT_BYTES(a->w.key, a->w.key_len, b->w.key, b->w.key_len);
            }
            if (a->has & CAIRN_WIRE_REQ_FROM) {
                assert_int_equal(a->from, b->from);
            }
            if (a->has & CAIRN_WIRE_REQ_LATEST) {
                assert_int_equal(a->latest, b->latest);
            }
            break;
        default:
            break;
    }
    if ((a->has & CAIRN_WIRE_REQ_REV) || a->op == CAIRN_WIRE_UPDATE) {
        assert_int_equal(a->rev, b->rev);
    }
    if (a->has & CAIRN_WIRE_REQ_STALE) {
        assert_int_equal(a->stale, b->stale);
    }
    if (a->op == CAIRN_WIRE_CAS) {
        assert_int_equal(a->has_old, b->has_old);
        if (a->has_old) {
            ASSERT_BYTES(a->old, a->old_len, b->old, b->old_len);
        }
    }
    if (a->has & CAIRN_WIRE_REQ_CID_SEQ) {
        assert_int_equal(a->cid, b->cid);
        assert_int_equal(a->seq, b->seq);
    }
    if (a->has & CAIRN_WIRE_REQ_START) {
        ASSERT_BYTES(a->start, a->start_len, b->start, b->start_len);
    }
    if (a->has & CAIRN_WIRE_REQ_END) {
        ASSERT_BYTES(a->end, a->end_len, b->end, b->end_len);
    }
    if (a->has & CAIRN_WIRE_REQ_PREFIX) {
        ASSERT_BYTES(a->prefix, a->prefix_len, b->prefix, b->prefix_len);
    }
    if (a->has & CAIRN_WIRE_REQ_CURSOR) {
        ASSERT_BYTES(a->cursor, a->cursor_len, b->cursor, b->cursor_len);
    }
    if (a->has & CAIRN_WIRE_REQ_LIMIT) {
        assert_int_equal(a->limit, b->limit);
    }
    if (a->has & CAIRN_WIRE_REQ_KEYS_ONLY) {
        assert_int_equal(a->keys_only, b->keys_only);
    }
    if (a->op == CAIRN_WIRE_TXN) {
        uint32_t nc = (a->has & CAIRN_WIRE_REQ_CMP) ? a->n_compares : 0;
        assert_int_equal(nc, b->n_compares);
        for (uint32_t i = 0; i < nc; i++) {
            const struct cairn_compare *x = &a->compares[i];
            const struct cairn_compare *y = &b->compares[i];
            ASSERT_BYTES(x->key, x->key_len, y->key, y->key_len);
            assert_int_equal(x->target, y->target);
            assert_int_equal(x->op, y->op);
            if (x->target == CAIRN_CMP_VALUE) {
                ASSERT_BYTES(x->value, x->value_len, y->value, y->value_len);
            } else if (x->target == CAIRN_CMP_REVISION) {
                assert_int_equal(x->revision, y->revision);
            } else {
                assert_int_equal(x->exists, y->exists);
            }
        }
        assert_int_equal(a->n_writes, b->n_writes);
        for (uint32_t i = 0; i < a->n_writes; i++) {
            bool put = a->writes[i].op == CAIRN_OP_PUT;
            if (put) {
                assert_write_equal(&a->writes[i], &b->writes[i], true);
            } else {
                assert_int_equal(a->writes[i].op, b->writes[i].op);
                ASSERT_BYTES(a->writes[i].key, a->writes[i].key_len,
                             b->writes[i].key, b->writes[i].key_len);
            }
        }
    }
}

static void assert_entry_equal(const struct cairn_wire_entry *a,
                               const struct cairn_wire_entry *b)
{
    ASSERT_BYTES(a->key, a->key_len, b->key, b->key_len);
    assert_int_equal(a->has_value, b->has_value);
    if (a->has_value) {
        ASSERT_BYTES(a->value, a->value_len, b->value, b->value_len);
    }
    assert_int_equal(a->has_meta, b->has_meta);
    if (a->has_meta) {
        ASSERT_BYTES(a->meta, a->meta_len, b->meta, b->meta_len);
    }
    assert_int_equal(a->revision, b->revision);
    assert_int_equal(a->create_revision, b->create_revision);
    assert_int_equal(a->updated, b->updated);
    assert_int_equal(a->expires, b->expires);
    assert_int_equal(a->op, b->op);
}

static void assert_replicas_equal(const struct cairn_wire_replica *a,
                                  uint32_t na,
                                  const struct cairn_wire_replica *b,
                                  uint32_t nb)
{
    assert_int_equal(na, nb);
    for (uint32_t i = 0; i < na; i++) {
        assert_int_equal(a[i].node, b[i].node);
        assert_int_equal(a[i].leader, b[i].leader);
        assert_int_equal(a[i].applied, b[i].applied);
        assert_int_equal(a[i].has_lag, b[i].has_lag);
        assert_int_equal(a[i].lag, b[i].lag);
        assert_int_equal(a[i].active, b[i].active);
    }
}

void assert_response_equal(uint32_t op, const struct cairn_wire_response *a,
                           const struct cairn_wire_response *b)
{
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->status, b->status);
    if (a->status != 200) {
        assert_str_equal(a->code, b->code);
        assert_int_equal(a->err, b->err);
        assert_str_equal(a->error, b->error);
        assert_int_equal(a->has & CAIRN_WIRE_RES_REV,
                         b->has & CAIRN_WIRE_RES_REV);
        assert_int_equal(a->rev, b->rev);
        assert_int_equal(a->has & CAIRN_WIRE_RES_FAILED,
                         b->has & CAIRN_WIRE_RES_FAILED);
        assert_int_equal(a->failed, b->failed);
        assert_int_equal(a->has & CAIRN_WIRE_RES_LEADER,
                         b->has & CAIRN_WIRE_RES_LEADER);
        if (a->has & CAIRN_WIRE_RES_LEADER) {
            assert_str_equal(a->leader, b->leader);
        }
        assert_int_equal(a->n_versions, b->n_versions);
        for (uint32_t i = 0; i < a->n_versions; i++) {
            assert_int_equal(a->versions[i], b->versions[i]);
        }
        return;
    }
    assert_int_equal(a->has & CAIRN_WIRE_RES_AT, b->has & CAIRN_WIRE_RES_AT);
    if (a->has & CAIRN_WIRE_RES_AT) {
        assert_int_equal(a->at, b->at);
    }
    switch (op) {
        case CAIRN_WIRE_HELLO:
            assert_int_equal(a->version, b->version);
            assert_int_equal(a->node, b->node);
            assert_str_equal(a->name, b->name);
            assert_str_equal(a->cluster, b->cluster);
            break;
        case CAIRN_WIRE_BUCKET_CREATE:
            assert_int_equal(a->created, b->created);
            break;
        case CAIRN_WIRE_BUCKET_LIST:
        case CAIRN_WIRE_CLUSTER_STATUS:
            assert_int_equal(a->n_buckets, b->n_buckets);
            for (uint32_t i = 0; i < a->n_buckets; i++) {
                assert_str_equal(a->buckets[i].name, b->buckets[i].name);
                assert_replicas_equal(
                    a->buckets[i].replicas, a->buckets[i].n_replicas,
                    b->buckets[i].replicas, b->buckets[i].n_replicas);
            }
            if (op == CAIRN_WIRE_BUCKET_LIST) {
                break;
            }
            assert_int_equal(a->n_nodes, b->n_nodes);
            for (uint32_t i = 0; i < a->n_nodes; i++) {
                assert_node_equal(&a->nodes[i], &b->nodes[i], true);
            }
            break;
        case CAIRN_WIRE_NODE_JOIN:
            assert_str_equal(a->role, b->role);
            break;
        case CAIRN_WIRE_NODE_REMOVE:
        case CAIRN_WIRE_BUCKET_LEADER:
            break;
        case CAIRN_WIRE_BUCKET_INFO:
            assert_config_equal(&a->info->config, &b->info->config);
            assert_int_equal(a->info->created, b->info->created);
            assert_int_equal(a->info->keys, b->info->keys);
            assert_int_equal(a->info->bytes, b->info->bytes);
            assert_int_equal(a->info->stored_bytes, b->info->stored_bytes);
            assert_int_equal(a->info->rev, b->info->rev);
            assert_int_equal(a->info->compacted, b->info->compacted);
            assert_replicas_equal(a->info->replicas, a->info->n_replicas,
                                  b->info->replicas, b->info->n_replicas);
            break;
        case CAIRN_WIRE_GET:
            assert_entry_equal(&a->entry, &b->entry);
            break;
        case CAIRN_WIRE_EXISTS:
            assert_int_equal(a->exists, b->exists);
            assert_int_equal(a->rev, b->rev);
            break;
        case CAIRN_WIRE_HISTORY:
        case CAIRN_WIRE_SCAN:
            assert_int_equal(a->n_entries, b->n_entries);
            for (uint32_t i = 0; i < a->n_entries; i++) {
                assert_entry_equal(&a->entries[i], &b->entries[i]);
            }
            if (op == CAIRN_WIRE_SCAN) {
                assert_int_equal(a->more, b->more);
                assert_int_equal(a->has & CAIRN_WIRE_RES_CURSOR,
                                 b->has & CAIRN_WIRE_RES_CURSOR);
                if (a->has & CAIRN_WIRE_RES_CURSOR) {
                    ASSERT_BYTES(a->cursor, a->cursor_len, b->cursor,
                                 b->cursor_len);
                }
            }
            break;
        case CAIRN_WIRE_COUNT:
            assert_int_equal(a->count, b->count);
            break;
        case CAIRN_WIRE_TXN:
            assert_int_equal(a->rev, b->rev);
            assert_int_equal(a->last_rev, b->last_rev);
            break;
        case CAIRN_WIRE_WATCH:
            assert_int_equal(a->has & (CAIRN_WIRE_RES_EVENT |
                                       CAIRN_WIRE_RES_SYNCED |
                                       CAIRN_WIRE_RES_REV),
                             b->has & (CAIRN_WIRE_RES_EVENT |
                                       CAIRN_WIRE_RES_SYNCED |
                                       CAIRN_WIRE_RES_REV));
            if (a->has & CAIRN_WIRE_RES_EVENT) {
                assert_entry_equal(&a->event, &b->event);
            }
            assert_int_equal(a->synced, b->synced);
            assert_int_equal(a->rev, b->rev);
            break;
        case CAIRN_WIRE_WATCH_CANCEL:
            break;
        default: /* the writes */
            assert_int_equal(a->rev, b->rev);
            break;
    }
}
