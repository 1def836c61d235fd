/*
 * fuzz_wire_decode — libFuzzer target for the client protocol codec
 * (client/wire.h, docs/protocol.md): the request decoder the node runs on
 * untrusted bytes, the response decoder the client runs, and the frame
 * reader. It abort()s when a property fails:
 *
 *   requests:  r1 = decode(input). On failure the id rule holds: the code
 *              is CAIRN_EPROTO exactly when r1.id is 0 (an id-0 error and
 *              a close) and the message is set. On success e1 = encode(r1)
 *              succeeds, r2 = decode(e1) succeeds and equals r1 in every
 *              field of its op, and encode(r2) is byte-identical to e1.
 *   responses: d1 = decode(input); for every op whose check passes,
 *              e1 = encode(op, d1) succeeds, d2 = decode(e1) passes the
 *              check and equals d1 in the op's fields, and
 *              encode(op, d2) == e1.
 *   frames:    the input read as a byte stream in one feed and in pieces
 *              (cut where a generator seeded by the input says) gives the
 *              same frames and ends in the same error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_wire_decode: %s: %s\n", what, detail);
    abort();
}

static bool bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool str_eq(struct cairn_wire_str a, struct cairn_wire_str b)
{
    return bytes_eq(a.ptr, a.len, b.ptr, b.len);
}

#define DIFF(cond, field)                                                    \
    do {                                                                     \
        if (cond) {                                                          \
            return field;                                                    \
        }                                                                    \
    } while (0)
#define BYTES_DIFF(a, b, f, field)                                           \
    DIFF(!bytes_eq((a)->f, (a)->f##_len, (b)->f, (b)->f##_len), field)

/* Configs compare by their encoding, which carries every field. */
static bool config_eq(const cairn_bucket_config *a,
                      const cairn_bucket_config *b)
{
    msgpack_sbuffer sa, sb;
    msgpack_packer pa, pb;
    bool eq;
    msgpack_sbuffer_init(&sa);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
    cairn_wire_config_pack(&pa, a);
    cairn_wire_config_pack(&pb, b);
    eq = bytes_eq(sa.data, sa.size, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sa);
    msgpack_sbuffer_destroy(&sb);
    return eq;
}

/* ---- requests ----------------------------------------------------------- */

static const char *write_diff(const struct cairn_write *a,
                              const struct cairn_write *b, bool value)
{
    DIFF(a->op != b->op, "op");
    BYTES_DIFF(a, b, key, "key");
    if (value) {
        BYTES_DIFF(a, b, value, "value");
        BYTES_DIFF(a, b, meta, "meta");
        DIFF(a->ttl_ns != b->ttl_ns, "ttl_ns");
        DIFF(a->expires_at != b->expires_at, "expires_at");
    }
    return NULL;
}

static const char *request_diff(const struct cairn_wire_request *a,
                                const struct cairn_wire_request *b)
{
    uint32_t has = a->has;
    DIFF(a->id != b->id, "id");
    DIFF(a->op != b->op, "op");
    DIFF(a->has != b->has, "has");
    DIFF(strcmp(a->bucket, b->bucket) != 0, "bucket");
    DIFF(a->version != b->version, "version");
    if (has & CAIRN_WIRE_REQ_CLIENT) {
        BYTES_DIFF(a, b, client, "client");
    }
    DIFF((a->config == NULL) != (b->config == NULL), "config");
    DIFF(a->config != NULL && !config_eq(a->config, b->config), "config");
    if ((a->op >= CAIRN_WIRE_GET && a->op <= CAIRN_WIRE_HISTORY) ||
        (has & CAIRN_WIRE_REQ_KEY)) {
        const char *d = write_diff(&a->w, &b->w,
                                   a->op >= CAIRN_WIRE_PUT &&
                                       a->op <= CAIRN_WIRE_CAS);
        if (d != NULL) {
            return d;
        }
    }
    DIFF(a->rev != b->rev, "rev");
    DIFF(a->stale != b->stale, "stale");
    DIFF(a->has_old != b->has_old, "has_old");
    BYTES_DIFF(a, b, old, "old");
    DIFF(a->cid != b->cid || a->seq != b->seq, "cid/seq");
    if (has & CAIRN_WIRE_REQ_START) {
        BYTES_DIFF(a, b, start, "start");
    }
    if (has & CAIRN_WIRE_REQ_END) {
        BYTES_DIFF(a, b, end, "end");
    }
    if (has & CAIRN_WIRE_REQ_PREFIX) {
        BYTES_DIFF(a, b, prefix, "prefix");
    }
    if (has & CAIRN_WIRE_REQ_CURSOR) {
        BYTES_DIFF(a, b, cursor, "cursor");
    }
    DIFF(a->node_id != b->node_id, "node_id");
    DIFF(a->group != b->group || a->term != b->term, "group/term");
    DIFF((a->node == NULL) != (b->node == NULL), "node");
    if (a->node != NULL) {
        const struct cairn_wire_node *x = a->node, *y = b->node;
        DIFF(x->id != y->id || !str_eq(x->name, y->name) ||
                 !str_eq(x->client, y->client) || !str_eq(x->peer, y->peer) ||
                 !str_eq(x->http, y->http) || !str_eq(x->cluster, y->cluster) ||
                 x->n_tags != y->n_tags,
             "node fields");
        for (uint32_t i = 0; i < x->n_tags; i++) {
            DIFF(!str_eq(x->tags[i], y->tags[i]), "node.tags");
        }
    }
    DIFF(a->limit != b->limit, "limit");
    DIFF(a->keys_only != b->keys_only, "keys_only");
    DIFF(a->from != b->from || a->latest != b->latest, "from/latest");
    DIFF(a->watch != b->watch, "watch");
    DIFF(a->n_compares != b->n_compares, "n_compares");
    DIFF(a->n_writes != b->n_writes, "n_writes");
    for (uint32_t i = 0; i < a->n_compares; i++) {
        const struct cairn_compare *x = &a->compares[i], *y = &b->compares[i];
        BYTES_DIFF(x, y, key, "compares.key");
        DIFF(x->target != y->target || x->op != y->op, "compares.target/op");
        DIFF(x->target == CAIRN_CMP_VALUE &&
                 !bytes_eq(x->value, x->value_len, y->value, y->value_len),
             "compares.value");
        DIFF(x->target == CAIRN_CMP_REVISION && x->revision != y->revision,
             "compares.revision");
        DIFF(x->target == CAIRN_CMP_EXISTS && x->exists != y->exists,
             "compares.exists");
    }
    for (uint32_t i = 0; i < a->n_writes; i++) {
        const char *d = write_diff(&a->writes[i], &b->writes[i],
                                   a->writes[i].op == CAIRN_OP_PUT);
        if (d != NULL) {
            return d;
        }
    }
    return NULL;
}

/* The body of the one frame in @b. */
static const uint8_t *body_of(const struct cairn_wire_buf *b, size_t *len)
{
    if (b->len < CAIRN_WIRE_HEADER) {
        fail("an encoder wrote no frame", "");
    }
    *len = b->len - CAIRN_WIRE_HEADER;
    return b->data + CAIRN_WIRE_HEADER;
}

static void request_round_trip(const uint8_t *data, size_t size)
{
    struct cairn_wire_request r1, r2;
    struct cairn_wire_buf e1, e2;
    char err[CAIRN_ERRMSG_SIZE] = "";
    const uint8_t *b1, *b2;
    size_t l1, l2;
    const char *d;
    int rc = cairn_wire_request_decode(data, size, &r1, err);
    if (rc != 0) {
        if ((rc == CAIRN_EPROTO) != (r1.id == 0)) {
            fail("the id rule does not hold", err);
        }
        if (err[0] == '\0') {
            fail("a refused request has no message", "");
        }
        cairn_wire_request_release(&r1);
        return;
    }
    cairn_wire_buf_init(&e1);
    cairn_wire_buf_init(&e2);
    if (cairn_wire_request_encode(&e1, &r1, err) != 0) {
        fail("a decoded request does not encode", err);
    }
    b1 = body_of(&e1, &l1);
    if (cairn_wire_request_decode(b1, l1, &r2, err) != 0) {
        fail("a re-encoded request does not decode", err);
    }
    if ((d = request_diff(&r1, &r2)) != NULL) {
        fail("the round trip changed a request field", d);
    }
    if (cairn_wire_request_encode(&e2, &r2, err) != 0) {
        fail("a round-tripped request does not encode", err);
    }
    b2 = body_of(&e2, &l2);
    if (!bytes_eq(b1, l1, b2, l2)) {
        fail("the request encoding is not canonical", "");
    }
    cairn_wire_request_release(&r2);
    cairn_wire_request_release(&r1);
    cairn_wire_buf_close(&e2);
    cairn_wire_buf_close(&e1);
}

/* ---- responses ---------------------------------------------------------- */

static const char *entry_diff(const struct cairn_wire_entry *a,
                              const struct cairn_wire_entry *b)
{
    BYTES_DIFF(a, b, key, "entry.key");
    DIFF(a->has_value != b->has_value, "entry.has_value");
    DIFF(a->has_value && !bytes_eq(a->value, a->value_len, b->value,
                                   b->value_len),
         "entry.value");
    DIFF(a->has_meta != b->has_meta, "entry.has_meta");
    DIFF(a->has_meta && !bytes_eq(a->meta, a->meta_len, b->meta, b->meta_len),
         "entry.meta");
    DIFF(a->revision != b->revision || a->create_revision != b->create_revision,
         "entry.rev");
    DIFF(a->updated != b->updated || a->expires != b->expires,
         "entry.times");
    DIFF(a->op != b->op, "entry.op");
    return NULL;
}

static bool replicas_eq(const struct cairn_wire_replica *a, uint32_t na,
                        const struct cairn_wire_replica *b, uint32_t nb)
{
    if (na != nb) {
        return false;
    }
    for (uint32_t i = 0; i < na; i++) {
        if (a[i].node != b[i].node || a[i].leader != b[i].leader ||
            a[i].applied != b[i].applied) {
            return false;
        }
    }
    return true;
}

static const char *response_diff(uint32_t op,
                                 const struct cairn_wire_response *a,
                                 const struct cairn_wire_response *b)
{
    const char *d;
    DIFF(a->id != b->id || a->status != b->status, "id/status");
    if (a->status != 200) {
        DIFF(!str_eq(a->code, b->code) || a->err != b->err ||
                 !str_eq(a->error, b->error),
             "code/err/error");
        DIFF((a->has ^ b->has) &
                 (CAIRN_WIRE_RES_REV | CAIRN_WIRE_RES_FAILED |
                  CAIRN_WIRE_RES_LEADER | CAIRN_WIRE_RES_VERSIONS),
             "error extras");
        DIFF((a->has & CAIRN_WIRE_RES_REV) && a->rev != b->rev, "rev");
        DIFF((a->has & CAIRN_WIRE_RES_FAILED) && a->failed != b->failed,
             "failed");
        DIFF((a->has & CAIRN_WIRE_RES_LEADER) && !str_eq(a->leader, b->leader),
             "leader");
        DIFF(a->n_versions != b->n_versions, "versions");
        for (uint32_t i = 0; i < a->n_versions; i++) {
            DIFF(a->versions[i] != b->versions[i], "versions");
        }
        return NULL;
    }
    if (cairn_wire_op_is_read(op)) {
        DIFF((a->has ^ b->has) & CAIRN_WIRE_RES_AT, "at");
        DIFF((a->has & CAIRN_WIRE_RES_AT) && a->at != b->at, "at");
    }
    switch (op) {
        case CAIRN_WIRE_HELLO:
            DIFF(a->version != b->version || a->node != b->node ||
                     !str_eq(a->name, b->name) ||
                     !str_eq(a->cluster, b->cluster),
                 "hello");
            break;
        case CAIRN_WIRE_BUCKET_CREATE:
            DIFF(a->created != b->created, "created");
            break;
        case CAIRN_WIRE_BUCKET_INFO:
            DIFF(!config_eq(&a->info->config, &b->info->config),
                 "info.config");
            DIFF(a->info->created != b->info->created ||
                     a->info->keys != b->info->keys ||
                     a->info->bytes != b->info->bytes ||
                     a->info->rev != b->info->rev ||
                     a->info->compacted != b->info->compacted,
                 "info counters");
            DIFF(!replicas_eq(a->info->replicas, a->info->n_replicas,
                              b->info->replicas, b->info->n_replicas),
                 "info.replicas");
            break;
        case CAIRN_WIRE_GET:
            if ((d = entry_diff(&a->entry, &b->entry)) != NULL) {
                return d;
            }
            break;
        case CAIRN_WIRE_EXISTS:
            DIFF(a->exists != b->exists || a->rev != b->rev, "exists");
            break;
        case CAIRN_WIRE_HISTORY:
        case CAIRN_WIRE_SCAN:
            DIFF(a->n_entries != b->n_entries, "n_entries");
            for (uint32_t i = 0; i < a->n_entries; i++) {
                if ((d = entry_diff(&a->entries[i], &b->entries[i]))) {
                    return d;
                }
            }
            if (op == CAIRN_WIRE_SCAN) {
                DIFF(a->more != b->more, "more");
                DIFF((a->has ^ b->has) & CAIRN_WIRE_RES_CURSOR, "cursor");
                DIFF((a->has & CAIRN_WIRE_RES_CURSOR) &&
                         !bytes_eq(a->cursor, a->cursor_len, b->cursor,
                                   b->cursor_len),
                     "cursor");
            }
            break;
        case CAIRN_WIRE_COUNT:
            DIFF(a->count != b->count, "count");
            break;
        case CAIRN_WIRE_TXN:
            DIFF(a->rev != b->rev || a->last_rev != b->last_rev, "txn revs");
            break;
        case CAIRN_WIRE_BUCKET_LIST:
        case CAIRN_WIRE_CLUSTER_STATUS:
            DIFF(a->n_buckets != b->n_buckets, "n_buckets");
            for (uint32_t i = 0; i < a->n_buckets; i++) {
                DIFF(!str_eq(a->buckets[i].name, b->buckets[i].name),
                     "buckets.name");
                DIFF(op == CAIRN_WIRE_CLUSTER_STATUS &&
                         !replicas_eq(a->buckets[i].replicas,
                                      a->buckets[i].n_replicas,
                                      b->buckets[i].replicas,
                                      b->buckets[i].n_replicas),
                     "buckets.replicas");
            }
            if (op == CAIRN_WIRE_BUCKET_LIST) {
                break;
            }
            DIFF(a->n_nodes != b->n_nodes, "n_nodes");
            for (uint32_t i = 0; i < a->n_nodes; i++) {
                const struct cairn_wire_node *x = &a->nodes[i],
                                             *y = &b->nodes[i];
                DIFF(x->id != y->id || !str_eq(x->name, y->name) ||
                         !str_eq(x->client, y->client) ||
                         !str_eq(x->peer, y->peer) ||
                         !str_eq(x->cluster, y->cluster) ||
                         !str_eq(x->http, y->http) ||
                         !str_eq(x->role, y->role) ||
                         x->n_tags != y->n_tags,
                     "nodes");
                for (uint32_t j = 0; j < x->n_tags; j++) {
                    DIFF(!str_eq(x->tags[j], y->tags[j]), "nodes.tags");
                }
            }
            break;
        case CAIRN_WIRE_BUCKET_DELETE:
        case CAIRN_WIRE_NODE_REMOVE:
        case CAIRN_WIRE_BUCKET_LEADER:
            break;
        case CAIRN_WIRE_NODE_JOIN:
            DIFF(!str_eq(a->role, b->role), "role");
            break;
        case CAIRN_WIRE_WATCH:
            DIFF((a->has ^ b->has) & (CAIRN_WIRE_RES_EVENT |
                                      CAIRN_WIRE_RES_SYNCED |
                                      CAIRN_WIRE_RES_REV),
                 "watch fields");
            if (a->has & CAIRN_WIRE_RES_EVENT) {
                if ((d = entry_diff(&a->event, &b->event)) != NULL) {
                    return d;
                }
            }
            DIFF((a->has & CAIRN_WIRE_RES_REV) && a->rev != b->rev, "rev");
            DIFF(a->synced != b->synced, "synced");
            break;
        case CAIRN_WIRE_WATCH_CANCEL:
            break;
        default: /* writes */
            DIFF(a->rev != b->rev, "rev");
            break;
    }
    return NULL;
}

static void response_round_trip(const uint8_t *data, size_t size)
{
    struct cairn_wire_response d1;
    char err[CAIRN_ERRMSG_SIZE] = "";
    if (cairn_wire_response_decode(data, size, &d1, err) != 0) {
        if (err[0] == '\0') {
            fail("a refused response has no message", "");
        }
        cairn_wire_response_release(&d1);
        return;
    }
    for (uint32_t op = 1; op < CAIRN_WIRE__OP_COUNT; op++) {
        struct cairn_wire_buf e1, e2;
        struct cairn_wire_response d2;
        const uint8_t *b1, *b2;
        size_t l1, l2;
        const char *d;
        if (cairn_wire_response_check(&d1, op, err) != 0) {
            continue;
        }
        cairn_wire_buf_init(&e1);
        cairn_wire_buf_init(&e2);
        if (cairn_wire_response_encode(&e1, op, &d1, err) != 0) {
            fail("a checked response does not encode", err);
        }
        b1 = body_of(&e1, &l1);
        if (cairn_wire_response_decode(b1, l1, &d2, err) != 0 ||
            cairn_wire_response_check(&d2, op, err) != 0) {
            fail("a re-encoded response does not decode", err);
        }
        if ((d = response_diff(op, &d1, &d2)) != NULL) {
            fail("the round trip changed a response field", d);
        }
        if (cairn_wire_response_encode(&e2, op, &d2, err) != 0) {
            fail("a round-tripped response does not encode", err);
        }
        b2 = body_of(&e2, &l2);
        if (!bytes_eq(b1, l1, b2, l2)) {
            fail("the response encoding is not canonical",
                 cairn_wire_op_name(op));
        }
        cairn_wire_response_release(&d2);
        cairn_wire_buf_close(&e2);
        cairn_wire_buf_close(&e1);
    }
    cairn_wire_response_release(&d1);
}

/* ---- frames ------------------------------------------------------------- */

#define MAX_FRAMES 64

struct frames {
    const void *body[MAX_FRAMES];
    size_t len[MAX_FRAMES];
    size_t n;
    int error;
};

static void read_whole(const uint8_t *data, size_t size, struct frames *f)
{
    struct cairn_wire_reader r;
    cairn_wire_reader_init(&r);
    f->n = 0;
    f->error = cairn_wire_reader_feed(&r, data, size);
    while (f->error == 0 && f->n < MAX_FRAMES) {
        const void *body;
        size_t len;
        f->error = cairn_wire_reader_next(&r, &body, &len);
        if (f->error != 0 || body == NULL) {
            break;
        }
        /* Whole within one feed: the body is a view into @data. */
        if ((const uint8_t *)body < data ||
            (const uint8_t *)body + len > data + size) {
            fail("a frame of one feed is not a view into it", "");
        }
        f->body[f->n] = body;
        f->len[f->n++] = len;
    }
    cairn_wire_reader_close(&r);
}

static void frames_in_pieces(const uint8_t *data, size_t size)
{
    struct frames whole;
    struct cairn_wire_reader r;
    uint32_t seed = 2166136261u;
    size_t off = 0, n = 0;
    int error = 0;
    for (size_t i = 0; i < size; i++) {
        seed = (seed ^ data[i]) * 16777619u;
    }
    read_whole(data, size, &whole);
    if (whole.n == MAX_FRAMES) {
        return; /* too many to compare; the first pass ran them all */
    }
    cairn_wire_reader_init(&r);
    while (off < size && error == 0) {
        size_t piece;
        uint8_t *copy;
        seed = seed * 1103515245u + 12345u;
        piece = 1 + (seed >> 16) % 9;
        if (piece > size - off) {
            piece = size - off;
        }
        /* A copy freed after the drain: a frame kept as a view into freed
         * memory would be caught by ASan. */
        copy = malloc(piece);
        if (copy == NULL) {
            fail("out of memory", "");
        }
        memcpy(copy, data + off, piece);
        error = cairn_wire_reader_feed(&r, copy, piece);
        while (error == 0) {
            const void *body;
            size_t len;
            error = cairn_wire_reader_next(&r, &body, &len);
            if (error != 0 || body == NULL) {
                break;
            }
            if (n >= whole.n ||
                !bytes_eq(body, len, whole.body[n], whole.len[n])) {
                fail("frames differ between one feed and pieces", "");
            }
            n++;
        }
        free(copy);
        off += piece;
    }
    if (n != whole.n || error != whole.error) {
        fail("frames differ between one feed and pieces", "count or error");
    }
    cairn_wire_reader_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request_round_trip(data, size);
    response_round_trip(data, size);
    frames_in_pieces(data, size);
    return 0;
}
