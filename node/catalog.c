/*
 * The catalog: node and bucket records in the meta group's bucket, their
 * msgpack encoding, and the in-memory copy every node keeps of them.
 *
 * Records are msgpack maps with a version field "v". The decoder skips
 * fields it does not know, so a later version may add some; it refuses a
 * record of a higher version, a known field of the wrong type, and a
 * record missing a required field. A refused node or bucket record fails
 * the load; a refused leader hint is only ignored (hints are advisory).
 */
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t catalog_node_key(char *out, uint64_t id)
{
    return (size_t)snprintf(out, CATALOG_NODE_KEY_MAX + 1, "n/%020" PRIu64,
                            id);
}

size_t catalog_bucket_key(char *out, const char *name)
{
    return (size_t)snprintf(out, CATALOG_BUCKET_KEY_MAX + 1, "b/%s", name);
}

size_t catalog_hint_key(char *out, const char *name)
{
    return (size_t)snprintf(out, CATALOG_HINT_KEY_MAX + 1, "l/%s", name);
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_key(msgpack_packer *pk, const char *k)
{
    pack_str(pk, k);
}

static int finish(msgpack_sbuffer *sb, void **buf, size_t *len, char *errmsg)
{
    if (sb->data == NULL) {
        return node_fail(errmsg, CAIRN_ENOMEM, "catalog: out of memory");
    }
    *buf = sb->data;
    *len = sb->size;
    return 0;
}

int catalog_node_encode(const struct catalog_node *nd, void **buf,
                        size_t *len, char *errmsg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    pack_key(&pk, "v");
    msgpack_pack_uint64(&pk, CATALOG_VERSION);
    pack_key(&pk, "id");
    msgpack_pack_uint64(&pk, nd->id);
    pack_key(&pk, "name");
    pack_str(&pk, nd->name);
    pack_key(&pk, "client");
    pack_str(&pk, nd->client);
    pack_key(&pk, "peer");
    pack_str(&pk, nd->peer);
    pack_key(&pk, "http");
    pack_str(&pk, nd->http);
    pack_key(&pk, "tags");
    msgpack_pack_array(&pk, nd->n_tags);
    for (uint32_t i = 0; i < nd->n_tags; i++) {
        pack_str(&pk, nd->tags[i]);
    }
    pack_key(&pk, "cluster");
    pack_str(&pk, nd->cluster);
    return finish(&sb, buf, len, errmsg);
}

int catalog_bucket_encode(const struct catalog_bucket *b, void **buf,
                          size_t *len, char *errmsg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_key(&pk, "v");
    msgpack_pack_uint64(&pk, CATALOG_VERSION);
    pack_key(&pk, "config");
    cairn_wire_config_pack(&pk, &b->config);
    pack_key(&pk, "replicas");
    msgpack_pack_array(&pk, b->n_replicas);
    for (uint32_t i = 0; i < b->n_replicas; i++) {
        msgpack_pack_uint64(&pk, b->replicas[i]);
    }
    pack_key(&pk, "created");
    msgpack_pack_uint64(&pk, b->created);
    return finish(&sb, buf, len, errmsg);
}

/*
 * A leader hint: a fixmap of 4 pairs, each key a fixstr, each value a
 * msgpack unsigned integer:
 *   "v"      CATALOG_VERSION
 *   "group"  the bucket's Raft group id (a hint for another group is void)
 *   "node"   the node that reported leading the group
 *   "term"   the term it leads in
 */
int catalog_hint_encode(const struct catalog_hint *h, void **buf, size_t *len,
                        char *errmsg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_key(&pk, "v");
    msgpack_pack_uint64(&pk, CATALOG_VERSION);
    pack_key(&pk, "group");
    msgpack_pack_uint64(&pk, h->group);
    pack_key(&pk, "node");
    msgpack_pack_uint64(&pk, h->node);
    pack_key(&pk, "term");
    msgpack_pack_uint64(&pk, h->term);
    return finish(&sb, buf, len, errmsg);
}

/* ------------------------------------------------------------------------
 * Decoding
 * ---------------------------------------------------------------------- */

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

/* Copy string object @o into @out (room for @max bytes and a NUL). */
static bool get_str(const msgpack_object *o, char *out, size_t max)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max ||
        memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
        return false;
    }
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return true;
}

static bool get_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return false;
    }
    *out = o->via.u64;
    return true;
}

/* Check the version field of record map @o. */
static bool version_ok(const msgpack_object *o)
{
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        uint64_t v;
        if (key_is(&kv->key, "v")) {
            return get_u64(&kv->val, &v) && v >= 1 && v <= CATALOG_VERSION;
        }
    }
    return false;
}

static int decode_node(const msgpack_object *o, struct catalog_node *nd)
{
    unsigned seen = 0;
    memset(nd, 0, sizeof *nd);
    if (o->type != MSGPACK_OBJECT_MAP || !version_ok(o)) {
        return -1;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        bool ok = true;
        if (key_is(k, "id")) {
            ok = get_u64(v, &nd->id);
            seen |= 1;
        } else if (key_is(k, "name")) {
            ok = get_str(v, nd->name, NODE_NAME_MAX);
        } else if (key_is(k, "client")) {
            ok = get_str(v, nd->client, CATALOG_ADDRESS_MAX);
            seen |= 2;
        } else if (key_is(k, "peer")) {
            ok = get_str(v, nd->peer, CATALOG_ADDRESS_MAX);
            seen |= 4;
        } else if (key_is(k, "http")) {
            ok = get_str(v, nd->http, CATALOG_ADDRESS_MAX);
        } else if (key_is(k, "cluster")) {
            ok = get_str(v, nd->cluster, NODE_NAME_MAX);
        } else if (key_is(k, "tags")) {
            ok = v->type == MSGPACK_OBJECT_ARRAY &&
                 v->via.array.size <= CAIRN_TAGS_MAX;
            for (uint32_t t = 0; ok && t < v->via.array.size; t++) {
                ok = get_str(&v->via.array.ptr[t], nd->tags[t], CAIRN_TAG_MAX);
            }
            if (ok) {
                nd->n_tags = v->via.array.size;
            }
        }
        if (!ok) {
            return -1;
        }
    }
    return seen == 7 ? 0 : -1;
}

static int decode_bucket(const msgpack_object *o, const char *name,
                         struct catalog_bucket *b)
{
    char err[CAIRN_ERRMSG_SIZE];
    unsigned seen = 0;
    memset(b, 0, sizeof *b);
    if (o->type != MSGPACK_OBJECT_MAP || !version_ok(o)) {
        return -1;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        bool ok = true;
        if (key_is(k, "config")) {
            ok = cairn_wire_config_unpack(v, &b->config, 0, err) == 0 &&
                 strcmp(b->config.name, name) == 0;
            seen |= 1;
        } else if (key_is(k, "created")) {
            ok = get_u64(v, &b->created);
            seen |= 2;
        } else if (key_is(k, "replicas")) {
            ok = v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size >= 1 &&
                 v->via.array.size <= CAIRN_REPLICAS_MAX;
            for (uint32_t r = 0; ok && r < v->via.array.size; r++) {
                ok = get_u64(&v->via.array.ptr[r], &b->replicas[r]);
            }
            if (ok) {
                b->n_replicas = v->via.array.size;
            }
            seen |= 4;
        }
        if (!ok) {
            return -1;
        }
    }
    return seen == 7 ? 0 : -1;
}

static int decode_hint(const msgpack_object *o, struct catalog_hint *h)
{
    unsigned seen = 0;
    memset(h, 0, sizeof *h);
    if (o->type != MSGPACK_OBJECT_MAP || !version_ok(o)) {
        return -1;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        bool ok = true;
        if (key_is(k, "group")) {
            ok = get_u64(v, &h->group);
            seen |= 1;
        } else if (key_is(k, "node")) {
            ok = get_u64(v, &h->node) && h->node != 0;
            seen |= 2;
        } else if (key_is(k, "term")) {
            ok = get_u64(v, &h->term);
            seen |= 4;
        }
        if (!ok) {
            return -1;
        }
    }
    return seen == 7 ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------- */

struct load {
    struct catalog cat;
    uint32_t cap_nodes, cap_buckets;
    int error;
    char *errmsg;
};

static int decode_record(const struct storage_entry *e, msgpack_unpacked *u)
{
    size_t off = 0;
    if (e->value == NULL ||
        cairn_msgpack_check(e->value, e->value_len) != 0 ||
        msgpack_unpack_next(u, e->value, e->value_len, &off) !=
            MSGPACK_UNPACK_SUCCESS) {
        return -1;
    }
    return 0;
}

static int grow(void **arr, uint32_t *cap, uint32_t n, size_t size)
{
    void *p;
    uint32_t want;
    if (n < *cap) {
        return 0;
    }
    want = *cap ? *cap * 2 : 8;
    p = realloc(*arr, want * size);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    *cap = want;
    return 0;
}

static struct catalog_bucket *find_bucket(const struct catalog *cat,
                                          const char *name)
{
    /* Records come in key order, so buckets are sorted by name. */
    uint32_t lo = 0, hi = cat->n_buckets;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cat->buckets[mid].config.name, name);
        if (c == 0) {
            return &cat->buckets[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Attach leader hint "l/<name>" to its bucket, which the scan has loaded
 * already ("b/" sorts before "l/"). Hints are advisory: one that does not
 * decode is ignored (the next report overwrites it, a bucket delete
 * removes it); one that names no current bucket group is kept for the
 * meta leader's sweep. */
static void load_hint(struct load *l, const struct storage_entry *e)
{
    const char *key = e->key;
    char name[CAIRN_BUCKET_NAME_MAX + 1];
    struct catalog_bucket *b;
    struct catalog_hint h;
    msgpack_unpacked u;
    bool ok;
    if (e->key_len - 2 > CAIRN_BUCKET_NAME_MAX) {
        return;
    }
    memcpy(name, key + 2, e->key_len - 2);
    name[e->key_len - 2] = '\0';
    msgpack_unpacked_init(&u);
    ok = decode_record(e, &u) == 0 && decode_hint(&u.data, &h) == 0;
    msgpack_unpacked_destroy(&u);
    b = find_bucket(&l->cat, name);
    if (b != NULL) {
        b->hint_rev = e->revision;
    }
    if (ok && b != NULL && b->group == h.group) {
        b->hint_node = h.node;
        b->hint_term = h.term;
    } else if (ok && l->cat.stale_hint[0] == '\0') {
        memcpy(l->cat.stale_hint, name, sizeof name);
        l->cat.stale_hint_rev = e->revision;
    }
}

static int load_entry(void *arg, const struct storage_entry *e)
{
    struct load *l = arg;
    const char *key = e->key;
    msgpack_unpacked u;
    int rc = 0;
    if (e->key_len < 3 || key[1] != '/') {
        return 0; /* not a record of this version: skipped */
    }
    if (key[0] == 'l') {
        load_hint(l, e);
        return 0;
    }
    msgpack_unpacked_init(&u);
    if (decode_record(e, &u) != 0) {
        rc = -1;
    } else if (key[0] == 'n') {
        if (grow((void **)&l->cat.nodes, &l->cap_nodes, l->cat.n_nodes,
                 sizeof *l->cat.nodes) != 0) {
            l->error = CAIRN_ENOMEM;
        } else if (decode_node(&u.data, &l->cat.nodes[l->cat.n_nodes]) != 0) {
            rc = -1;
        } else {
            l->cat.n_nodes++;
        }
    } else if (key[0] == 'b' && e->key_len - 2 <= CAIRN_BUCKET_NAME_MAX) {
        char name[CAIRN_BUCKET_NAME_MAX + 1];
        struct catalog_bucket *b;
        memcpy(name, key + 2, e->key_len - 2);
        name[e->key_len - 2] = '\0';
        if (grow((void **)&l->cat.buckets, &l->cap_buckets,
                 l->cat.n_buckets, sizeof *l->cat.buckets) != 0) {
            l->error = CAIRN_ENOMEM;
        } else if (decode_bucket(&u.data, name,
                                 b = &l->cat.buckets[l->cat.n_buckets]) != 0) {
            rc = -1;
        } else {
            b->group = e->create_revision + 1;
            l->cat.n_buckets++;
        }
    }
    msgpack_unpacked_destroy(&u);
    if (rc != 0) {
        l->error = CAIRN_ECORRUPT;
        node_fail(l->errmsg, CAIRN_ECORRUPT,
                  "catalog record '%.*s' does not decode", (int)e->key_len,
                  key);
    }
    return l->error;
}

int catalog_load(storage *s, struct catalog *cat, char *errmsg)
{
    struct load l = {.errmsg = errmsg};
    struct storage_scan args = {.now = 0};
    struct storage_page page;
    storage_txn *t;
    int rc;
    if ((rc = storage_read_begin(s, &t, errmsg)) != 0) {
        return rc;
    }
    rc = storage_scan(t, NODE_META_BUCKET, &args, load_entry, &l, &page,
                      errmsg);
    storage_txn_end(t);
    if (rc == CAIRN_ENOMEM && l.error == CAIRN_ENOMEM) {
        node_fail(errmsg, CAIRN_ENOMEM, "catalog: out of memory");
    }
    if (rc != 0) {
        catalog_release(&l.cat);
        return rc;
    }
    catalog_release(cat);
    *cat = l.cat;
    return 0;
}

void catalog_release(struct catalog *cat)
{
    free(cat->nodes);
    free(cat->buckets);
    memset(cat, 0, sizeof *cat);
}

const struct catalog_node *catalog_find_node(const struct catalog *cat,
                                             uint64_t id)
{
    for (uint32_t i = 0; i < cat->n_nodes; i++) {
        if (cat->nodes[i].id == id) {
            return &cat->nodes[i];
        }
    }
    return NULL;
}

const struct catalog_bucket *catalog_find_bucket(const struct catalog *cat,
                                                 const char *name)
{
    return find_bucket(cat, name);
}

bool catalog_node_equal(const struct catalog_node *a,
                        const struct catalog_node *b)
{
    if (a->id != b->id || strcmp(a->name, b->name) != 0 ||
        strcmp(a->client, b->client) != 0 || strcmp(a->peer, b->peer) != 0 ||
        strcmp(a->http, b->http) != 0 || strcmp(a->cluster, b->cluster) != 0 ||
        a->n_tags != b->n_tags) {
        return false;
    }
    for (uint32_t i = 0; i < a->n_tags; i++) {
        if (strcmp(a->tags[i], b->tags[i]) != 0) {
            return false;
        }
    }
    return true;
}
