/* Requests (docs/protocol.md "Requests and responses", "Operations"):
 * round trips of every op with every optional field present and absent,
 * the per-op encoders, truncation at every length, unknown, misplaced,
 * repeated and missing fields, wrong types, id handling, and every limit at
 * its boundary. Malformed requests are built with msgpack-c, not with the
 * codec's encoder. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

/* ---- the fields of each op, as docs/protocol.md lists them ------------- */

struct op_spec {
    uint32_t op;
    const char *required[6];
    const char *optional[10];
};

static const struct op_spec specs[] = {
    {CAIRN_WIRE_HELLO, {"version"}, {"client"}},
    {CAIRN_WIRE_BUCKET_CREATE, {"config"}, {NULL}},
    {CAIRN_WIRE_BUCKET_DELETE, {"bucket"}, {NULL}},
    {CAIRN_WIRE_BUCKET_LIST, {NULL}, {NULL}},
    {CAIRN_WIRE_BUCKET_INFO, {"bucket"}, {"stale"}},
    {CAIRN_WIRE_GET, {"bucket", "key"}, {"rev", "stale"}},
    {CAIRN_WIRE_EXISTS, {"bucket", "key"}, {"stale"}},
    {CAIRN_WIRE_PUT,
     {"bucket", "key", "val"},
     {"meta", "ttl", "exp", "cid", "seq"}},
    {CAIRN_WIRE_CREATE,
     {"bucket", "key", "val"},
     {"meta", "ttl", "exp", "cid", "seq"}},
    {CAIRN_WIRE_UPDATE,
     {"bucket", "key", "val", "rev"},
     {"meta", "ttl", "exp", "cid", "seq"}},
    {CAIRN_WIRE_CAS,
     {"bucket", "key", "old", "val"},
     {"meta", "ttl", "exp", "cid", "seq"}},
    {CAIRN_WIRE_DELETE, {"bucket", "key"}, {"rev", "cid", "seq"}},
    {CAIRN_WIRE_PURGE, {"bucket", "key"}, {"rev", "cid", "seq"}},
    {CAIRN_WIRE_HISTORY, {"bucket", "key"}, {"stale"}},
    {CAIRN_WIRE_SCAN,
     {"bucket"},
     {"start", "end", "prefix", "cursor", "limit", "keys_only", "stale",
      "from"}},
    {CAIRN_WIRE_COUNT,
     {"bucket"},
     {"start", "end", "prefix", "keys_only", "stale"}},
    {CAIRN_WIRE_TXN, {"bucket", "ops"}, {"cmp", "cid", "seq"}},
    {CAIRN_WIRE_CLUSTER_STATUS, {NULL}, {NULL}},
    {CAIRN_WIRE_NODE_JOIN, {"node"}, {NULL}},
    {CAIRN_WIRE_NODE_REMOVE, {"node"}, {NULL}},
    {CAIRN_WIRE_BUCKET_LEADER, {"bucket", "group", "node", "term"}, {NULL}},
    {CAIRN_WIRE_WATCH, {"bucket"}, {"key", "prefix", "from", "latest"}},
    {CAIRN_WIRE_WATCH_CANCEL, {"watch"}, {NULL}},
};

static const char *const all_fields[] = {
    "version", "client", "config", "bucket", "key",    "old",
    "val",     "meta",   "ttl",    "exp",    "rev",    "start",
    "end",     "prefix", "cursor", "limit",  "keys_only", "stale",
    "cmp",     "ops",    "cid",    "seq",    "node",   "group",
    "term",    "from",   "latest", "watch",
};

static const struct op_spec *spec_of(uint32_t op)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        if (specs[i].op == op) {
            return &specs[i];
        }
    }
    fail();
    return NULL;
}

static bool in_list(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n && list[i] != NULL; i++) {
        if (strcmp(list[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_required(uint32_t op, const char *name)
{
    return strcmp(name, "id") == 0 || strcmp(name, "op") == 0 ||
           in_list(spec_of(op)->required, 6, name);
}

static bool is_allowed(uint32_t op, const char *name)
{
    return is_required(op, name) || in_list(spec_of(op)->optional, 10, name);
}

/* A valid node.join node map: node 3 with every required field and one
 * tag (no http). */
static void good_node(struct mp *m)
{
    msgpack_pack_map(&m->pk, 6);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 3);
    mp_str(m, "name");
    mp_str(m, "n3");
    mp_str(m, "client");
    mp_str(m, "10.0.0.3:7401");
    mp_str(m, "peer");
    mp_str(m, "10.0.0.3:7501");
    mp_str(m, "tags");
    msgpack_pack_array(&m->pk, 1);
    mp_str(m, "zone:a");
    mp_str(m, "cluster");
    mp_str(m, "cairn");
}

/* A msgpack value of @name's type, valid for the field in op @op ("node"
 * is a map in node.join, an id everywhere else). */
static void good_value(struct mp *m, uint32_t op, const char *name)
{
    if (strcmp(name, "node") == 0 && op == CAIRN_WIRE_NODE_JOIN) {
        good_node(m);
    } else if (strcmp(name, "client") == 0 || strcmp(name, "bucket") == 0) {
        mp_str(m, "b");
    } else if (strcmp(name, "key") == 0 || strcmp(name, "val") == 0 ||
               strcmp(name, "meta") == 0 || strcmp(name, "old") == 0 ||
               strcmp(name, "start") == 0 || strcmp(name, "end") == 0 ||
               strcmp(name, "prefix") == 0 || strcmp(name, "cursor") == 0) {
        mp_bin(m, "k", 1);
    } else if (strcmp(name, "stale") == 0 || strcmp(name, "keys_only") == 0 ||
               strcmp(name, "latest") == 0) {
        msgpack_pack_true(&m->pk);
    } else if (strcmp(name, "config") == 0) {
        msgpack_pack_map(&m->pk, 1);
        mp_str(m, "name");
        mp_str(m, "b");
    } else if (strcmp(name, "cmp") == 0 || strcmp(name, "ops") == 0) {
        msgpack_pack_array(&m->pk, 0);
    } else {
        msgpack_pack_uint64(&m->pk, 5);
    }
}

/* ---- sample requests: every op, optional fields present and absent ---- */

static const uint8_t key512[CAIRN_KEY_MAX] = {1};
static cairn_bucket_config full_cfg, min_cfg;
static struct cairn_compare cmps[3];
static struct cairn_write ops3[3];
static struct cairn_wire_str node_tags[CAIRN_TAGS_MAX];
static struct cairn_wire_node full_node, min_node;

static struct cairn_wire_str ws(const char *s)
{
    struct cairn_wire_str v = {s, strlen(s)};
    return v;
}

static void init_samples(void)
{
    cairn_bucket_config_init(&full_cfg, "full_cfg-1");
    snprintf(full_cfg.description, sizeof full_cfg.description, "a bucket");
    full_cfg.ttl_ns = 5000000000;
    full_cfg.history = 7;
    full_cfg.max_bytes = 1 << 30;
    full_cfg.max_value_size = -1;
    full_cfg.storage = CAIRN_STORAGE_MEMORY;
    full_cfg.num_replicas = 3;
    full_cfg.compression = true;
    snprintf(full_cfg.cluster, sizeof full_cfg.cluster, "eu");
    full_cfg.n_tags = 2;
    snprintf(full_cfg.tags[0], sizeof full_cfg.tags[0], "zone:a");
    snprintf(full_cfg.tags[1], sizeof full_cfg.tags[1], "disk:ssd");
    full_cfg.n_metadata = 1;
    snprintf(full_cfg.metadata[0].key, sizeof full_cfg.metadata[0].key,
             "owner");
    snprintf(full_cfg.metadata[0].value, sizeof full_cfg.metadata[0].value,
             "team");
    cairn_bucket_config_init(&min_cfg, "m");

    memset(cmps, 0, sizeof cmps);
    cmps[0] = (struct cairn_compare){.key = "a", .key_len = 1,
                                     .target = CAIRN_CMP_VALUE,
                                     .op = CAIRN_CMP_NE, .value = "v",
                                     .value_len = 1};
    cmps[1] = (struct cairn_compare){.key = "b", .key_len = 1,
                                     .target = CAIRN_CMP_REVISION,
                                     .op = CAIRN_CMP_LT, .revision = 42};
    cmps[2] = (struct cairn_compare){.key = "c", .key_len = 1,
                                     .target = CAIRN_CMP_EXISTS,
                                     .op = CAIRN_CMP_EQ, .exists = true};
    memset(ops3, 0, sizeof ops3);
    ops3[0] = (struct cairn_write){.op = CAIRN_OP_PUT, .key = "a",
                                   .key_len = 1, .value = "xyz",
                                   .value_len = 3, .meta = "m",
                                   .meta_len = 1, .ttl_ns = 9,
                                   .expires_at = 0};
    ops3[1] = (struct cairn_write){.op = CAIRN_OP_DEL, .key = "b",
                                   .key_len = 1};
    ops3[2] = (struct cairn_write){.op = CAIRN_OP_PURGE, .key = "c",
                                   .key_len = 1};

    /* Every field at its limit: a 64-character name, 64-byte addresses,
     * CAIRN_TAGS_MAX tags, the last of CAIRN_TAG_MAX bytes. */
    {
        static char name64[CAIRN_WIRE_NODE_NAME_MAX + 1];
        static char addr64[CAIRN_WIRE_ADDRESS_MAX + 1];
        static char tagbuf[CAIRN_TAGS_MAX][CAIRN_TAG_MAX + 1];
        memset(name64, 'n', CAIRN_WIRE_NODE_NAME_MAX);
        memcpy(name64, "A.z_9-", 6);
        memset(addr64, '1', CAIRN_WIRE_ADDRESS_MAX);
        for (int i = 0; i < CAIRN_TAGS_MAX; i++) {
            snprintf(tagbuf[i], sizeof tagbuf[i], "k%d:v", i);
            node_tags[i] = ws(tagbuf[i]);
        }
        memset(tagbuf[CAIRN_TAGS_MAX - 1], 'x', CAIRN_TAG_MAX);
        tagbuf[CAIRN_TAGS_MAX - 1][1] = ':';
        node_tags[CAIRN_TAGS_MAX - 1] = ws(tagbuf[CAIRN_TAGS_MAX - 1]);
        memset(&full_node, 0, sizeof full_node);
        full_node.id = UINT64_MAX;
        full_node.name = ws(name64);
        full_node.client = ws(addr64);
        full_node.peer = ws("10.0.0.9:7501");
        full_node.http = ws("10.0.0.9:8080");
        full_node.n_tags = CAIRN_TAGS_MAX;
        full_node.tags = node_tags;
        full_node.cluster = ws("eu-west.1");
    }
    memset(&min_node, 0, sizeof min_node);
    min_node.id = 1;
    min_node.name = ws("n");
    min_node.client = ws("c");
    min_node.peer = ws("p");
    min_node.cluster = ws("c");
}

#define MAX_SAMPLES 48

static struct cairn_wire_request *add(struct cairn_wire_request *r,
                                      size_t *n, uint32_t op)
{
    struct cairn_wire_request *q = &r[(*n)++];
    assert_true(*n <= MAX_SAMPLES);
    memset(q, 0, sizeof *q);
    q->id = 1000 + *n;
    q->op = op;
    snprintf(q->bucket, sizeof q->bucket, "bkt_%zu", *n);
    return q;
}

static void full_write(struct cairn_wire_request *q)
{
    q->w.op = CAIRN_OP_PUT;
    q->w.key = "key";
    q->w.key_len = 3;
    q->w.value = "value";
    q->w.value_len = 5;
    q->w.meta = "meta";
    q->w.meta_len = 4;
    q->w.ttl_ns = -7; /* the codec carries it; storage refuses it */
    q->w.expires_at = UINT64_MAX;
    q->cid = UINT64_MAX;
    q->seq = 1;
    q->has |= CAIRN_WIRE_REQ_META | CAIRN_WIRE_REQ_TTL | CAIRN_WIRE_REQ_EXP |
              CAIRN_WIRE_REQ_CID_SEQ;
}

static void min_write(struct cairn_wire_request *q)
{
    q->w.op = CAIRN_OP_PUT;
    q->w.key = key512;
    q->w.key_len = sizeof key512;
    q->w.value = "";
    q->w.value_len = 0;
}

static size_t samples(struct cairn_wire_request *r)
{
    size_t n = 0;
    struct cairn_wire_request *q;
    uint32_t v_ops[] = {CAIRN_WIRE_PUT, CAIRN_WIRE_CREATE, CAIRN_WIRE_UPDATE,
                        CAIRN_WIRE_CAS};

    init_samples();
    q = add(r, &n, CAIRN_WIRE_HELLO);
    q->version = 1;
    q->client = "libcairn/0.1";
    q->client_len = strlen(q->client);
    q->has = CAIRN_WIRE_REQ_CLIENT;
    q = add(r, &n, CAIRN_WIRE_HELLO);
    q->version = 77;

    q = add(r, &n, CAIRN_WIRE_BUCKET_CREATE);
    q->config = &full_cfg;
    snprintf(q->bucket, sizeof q->bucket, "%s", full_cfg.name);
    q = add(r, &n, CAIRN_WIRE_BUCKET_CREATE);
    q->config = &min_cfg;
    snprintf(q->bucket, sizeof q->bucket, "%s", min_cfg.name);
    add(r, &n, CAIRN_WIRE_BUCKET_DELETE);
    add(r, &n, CAIRN_WIRE_BUCKET_LIST);
    add(r, &n, CAIRN_WIRE_BUCKET_INFO);
    add(r, &n, CAIRN_WIRE_CLUSTER_STATUS);
    q = add(r, &n, CAIRN_WIRE_NODE_JOIN);
    q->node = &full_node;
    q = add(r, &n, CAIRN_WIRE_NODE_JOIN);
    q->node = &min_node;
    q = add(r, &n, CAIRN_WIRE_NODE_REMOVE);
    q->node_id = UINT64_MAX;
    q = add(r, &n, CAIRN_WIRE_NODE_REMOVE);
    q->node_id = 1;
    q = add(r, &n, CAIRN_WIRE_BUCKET_LEADER);
    q->group = UINT64_MAX;
    q->node_id = UINT64_MAX;
    q->term = UINT64_MAX;
    q = add(r, &n, CAIRN_WIRE_BUCKET_LEADER);
    q->group = 2;
    q->node_id = 1;
    q->term = 1;

    for (int all = 0; all < 2; all++) {
        q = add(r, &n, CAIRN_WIRE_GET);
        q->w.key = "g";
        q->w.key_len = 1;
        if (all) {
            q->rev = 9;
            q->stale = true;
            q->has = CAIRN_WIRE_REQ_REV | CAIRN_WIRE_REQ_STALE;
        }
        q = add(r, &n, CAIRN_WIRE_EXISTS);
        q->w.key = "e";
        q->w.key_len = 1;
        q->stale = all != 0;
        q->has = all ? CAIRN_WIRE_REQ_STALE : 0;
        q = add(r, &n, CAIRN_WIRE_HISTORY);
        q->w.key = key512;
        q->w.key_len = sizeof key512;
        q->has = all ? CAIRN_WIRE_REQ_STALE : 0; /* stale: false, present */
        for (size_t i = 0; i < sizeof v_ops / sizeof v_ops[0]; i++) {
            q = add(r, &n, v_ops[i]);
            if (all) {
                full_write(q);
            } else {
                min_write(q);
            }
            q->rev = v_ops[i] == CAIRN_WIRE_UPDATE ? 3 : 0;
            q->has_old = v_ops[i] == CAIRN_WIRE_CAS && all;
            q->old = q->has_old ? "old" : NULL;
            q->old_len = q->has_old ? 3 : 0;
        }
        for (uint32_t op = CAIRN_WIRE_DELETE; op <= CAIRN_WIRE_PURGE; op++) {
            q = add(r, &n, op);
            q->w.op = op == CAIRN_WIRE_DELETE ? CAIRN_OP_DEL : CAIRN_OP_PURGE;
            q->w.key = "d";
            q->w.key_len = 1;
            if (all) {
                q->rev = 12;
                q->cid = 4;
                q->seq = 5;
                q->has = CAIRN_WIRE_REQ_REV | CAIRN_WIRE_REQ_CID_SEQ;
            }
        }
        for (uint32_t op = CAIRN_WIRE_SCAN; op <= CAIRN_WIRE_COUNT; op++) {
            q = add(r, &n, op);
            if (!all) {
                continue;
            }
            q->start = "";
            q->end = "zz";
            q->end_len = 2;
            q->prefix = "p";
            q->prefix_len = 1;
            q->keys_only = true;
            q->stale = true;
            q->has = CAIRN_WIRE_REQ_START | CAIRN_WIRE_REQ_END |
                     CAIRN_WIRE_REQ_PREFIX | CAIRN_WIRE_REQ_KEYS_ONLY |
                     CAIRN_WIRE_REQ_STALE;
            if (op == CAIRN_WIRE_SCAN) {
                q->cursor = "\x01p1";
                q->cursor_len = 3;
                q->limit = UINT32_MAX;
                q->has |= CAIRN_WIRE_REQ_CURSOR | CAIRN_WIRE_REQ_LIMIT;
            }
        }
        q = add(r, &n, CAIRN_WIRE_TXN);
        q->writes = ops3;
        q->n_writes = all ? 3 : 1;
        if (all) {
            q->compares = cmps;
            q->n_compares = 3;
            q->cid = 8;
            q->seq = 9;
            q->has = CAIRN_WIRE_REQ_CMP | CAIRN_WIRE_REQ_CID_SEQ;
        }
    }
    /* Watches: of a key from a revision, of a prefix with "latest", of a
     * whole bucket; and a cancel. */
    q = add(r, &n, CAIRN_WIRE_WATCH);
    q->w.key = key512;
    q->w.key_len = sizeof key512;
    q->from = UINT64_MAX;
    q->has = CAIRN_WIRE_REQ_KEY | CAIRN_WIRE_REQ_FROM;
    q = add(r, &n, CAIRN_WIRE_WATCH);
    q->prefix = "";
    q->latest = true;
    q->has = CAIRN_WIRE_REQ_PREFIX | CAIRN_WIRE_REQ_LATEST;
    add(r, &n, CAIRN_WIRE_WATCH);
    q = add(r, &n, CAIRN_WIRE_WATCH_CANCEL);
    q->watch = 12;
    /* A cas with nil old and an empty txn with an empty cmp array. */
    q = add(r, &n, CAIRN_WIRE_CAS);
    min_write(q);
    q = add(r, &n, CAIRN_WIRE_TXN);
    q->compares = cmps;
    q->has = CAIRN_WIRE_REQ_CMP;
    return n;
}

/* ---- helpers ----------------------------------------------------------- */

static int dec(const void *p, size_t n, struct cairn_wire_request *req,
               char *err)
{
    int rc;
    err[0] = '\0';
    rc = cairn_wire_request_decode(p, n, req, err);
    if (rc != 0) {
        assert_true(err[0] != '\0');
        /* An id-less failure is always EPROTO and nothing else is. */
        assert_int_equal(req->id == 0, rc == CAIRN_EPROTO);
    }
    return rc;
}

/* Encode @q as one frame in @b (reset first) and return its body. */
static const uint8_t *enc(struct cairn_wire_buf *b,
                          const struct cairn_wire_request *q, size_t *len)
{
    char err[CAIRN_ERRMSG_SIZE];
    cairn_wire_buf_reset(b);
    if (cairn_wire_request_encode(b, q, err) != 0) {
        print_error("encode op %u: %s\n", q->op, err);
        fail();
    }
    return one_body(b, len);
}

/* Decode @body expecting @code with @field in the message and id @id. */
static void expect(const void *body, size_t len, int code, uint64_t id,
                   const char *field)
{
    struct cairn_wire_request req;
    char err[CAIRN_ERRMSG_SIZE];
    int rc = dec(body, len, &req, err);
    if (rc != code) {
        print_error("expected %d, got %d: %s\n", code, rc, err);
    }
    assert_int_equal(rc, code);
    assert_int_equal(req.id, id);
    if (field != NULL) {
        assert_msg_has(err, field);
    }
    cairn_wire_request_release(&req);
}

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_every_op(void **state)
{
    struct cairn_wire_request r[MAX_SAMPLES], d, d2;
    struct cairn_wire_buf b1, b2;
    char err[CAIRN_ERRMSG_SIZE];
    size_t n = samples(r);
    bool seen[CAIRN_WIRE__OP_COUNT] = {false};
    (void)state;
    cairn_wire_buf_init(&b1);
    cairn_wire_buf_init(&b2);
    for (size_t i = 0; i < n; i++) {
        size_t l1, l2;
        const uint8_t *e1 = enc(&b1, &r[i], &l1);
        const uint8_t *e2;
        if (dec(e1, l1, &d, err) != 0) {
            print_error("sample %zu (%s): %s\n", i,
                        cairn_wire_op_name(r[i].op), err);
            fail();
        }
        assert_request_equal(&r[i], &d);
        /* Decoded, then encoded again: the same bytes. */
        e2 = enc(&b2, &d, &l2);
        assert_int_equal(l1, l2);
        assert_memory_equal(e1, e2, l1);
        assert_int_equal(dec(e2, l2, &d2, err), 0);
        assert_request_equal(&d, &d2);
        seen[r[i].op] = true;
        cairn_wire_request_release(&d2);
        cairn_wire_request_release(&d);
    }
    for (uint32_t op = 1; op < CAIRN_WIRE__OP_COUNT; op++) {
        assert_true(seen[op]);
    }
    cairn_wire_buf_close(&b1);
    cairn_wire_buf_close(&b2);
}

/* Every optional field of every op, absent then present, one at a time. */
static void test_optional_fields_one_by_one(void **state)
{
    struct mp m, out;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    mp_init(&out);
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        const struct op_spec *sp = &specs[s];
        uint32_t n = 2;
        for (size_t i = 0; i < 6 && sp->required[i] != NULL; i++) {
            n++;
        }
        mp_clear(&m);
        msgpack_pack_map(&m.pk, n);
        mp_str(&m, "id");
        msgpack_pack_uint64(&m.pk, 3);
        mp_str(&m, "op");
        mp_str(&m, cairn_wire_op_name(sp->op));
        for (size_t i = 0; i < 6 && sp->required[i] != NULL; i++) {
            mp_str(&m, sp->required[i]);
            good_value(&m, sp->op, sp->required[i]);
        }
        expect(m.sb.data, m.sb.size, 0, 3, NULL);
        for (size_t i = 0; i < 10 && sp->optional[i] != NULL; i++) {
            struct mp v;
            struct cairn_wire_request req;
            const char *f = sp->optional[i];
            mp_init(&v);
            good_value(&v, sp->op, f);
            map_edit(m.sb.data, m.sb.size, f, v.sb.data, v.sb.size, &out);
            if (strcmp(f, "cid") == 0 || strcmp(f, "seq") == 0) {
                /* One without the other names the other. */
                struct mp one;
                const char *other = strcmp(f, "cid") == 0 ? "seq" : "cid";
                expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 3, other);
                mp_init(&one);
                map_edit(out.sb.data, out.sb.size, other, v.sb.data,
                         v.sb.size, &one);
                map_edit(one.sb.data, one.sb.size, other, v.sb.data,
                         v.sb.size, &out);
                mp_free(&one);
            }
            assert_int_equal(dec(out.sb.data, out.sb.size, &req, err), 0);
            assert_true(req.has != 0);
            cairn_wire_request_release(&req);
            mp_free(&v);
        }
    }
    mp_free(&m);
    mp_free(&out);
}

static void test_per_op_encoders(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_request d;
    struct cairn_wire_dedup dd = {.cid = 11, .seq = 12};
    struct cairn_write w = {.key = "k", .key_len = 1, .value = "v",
                            .value_len = 1, .meta = "m", .meta_len = 1,
                            .ttl_ns = 5};
    struct cairn_wire_scan sc = {.start = "a", .start_len = 1,
                                 .prefix = "", .limit = 10, .stale = true};
    char err[CAIRN_ERRMSG_SIZE];
    const uint8_t *body;
    size_t len;
    (void)state;
    init_samples();
    cairn_wire_buf_init(&b);

#define ROUND(call, opv)                                                     \
    do {                                                                     \
        cairn_wire_buf_reset(&b);                                            \
        assert_int_equal(call, 0);                                           \
        body = one_body(&b, &len);                                           \
        assert_int_equal(dec(body, len, &d, err), 0);                        \
        assert_int_equal(d.op, opv);                                         \
        assert_int_equal(d.id, 7);                                           \
    } while (0)

    ROUND(cairn_wire_encode_hello(&b, 7, 1, "cli", err), CAIRN_WIRE_HELLO);
    assert_int_equal(d.version, 1);
    assert_true(bytes_eq(d.client, d.client_len, "cli", 3));
    ROUND(cairn_wire_encode_hello(&b, 7, 2, NULL, err), CAIRN_WIRE_HELLO);
    assert_int_equal(d.has, 0);
    ROUND(cairn_wire_encode_bucket_create(&b, 7, &full_cfg, err),
          CAIRN_WIRE_BUCKET_CREATE);
    assert_string_equal(d.bucket, full_cfg.name);
    assert_int_equal(d.config->history, 7);
    cairn_wire_request_release(&d);
    ROUND(cairn_wire_encode_bucket_delete(&b, 7, "x", err),
          CAIRN_WIRE_BUCKET_DELETE);
    assert_string_equal(d.bucket, "x");
    ROUND(cairn_wire_encode_bucket_list(&b, 7, err), CAIRN_WIRE_BUCKET_LIST);
    ROUND(cairn_wire_encode_bucket_info(&b, 7, "x", false, err),
          CAIRN_WIRE_BUCKET_INFO);
    assert_int_equal(d.has & CAIRN_WIRE_REQ_STALE, 0);
    ROUND(cairn_wire_encode_bucket_info(&b, 7, "x", true, err),
          CAIRN_WIRE_BUCKET_INFO);
    assert_true(d.stale);
    ROUND(cairn_wire_encode_cluster_status(&b, 7, err),
          CAIRN_WIRE_CLUSTER_STATUS);
    ROUND(cairn_wire_encode_get(&b, 7, "x", S("k"), 5, true, err),
          CAIRN_WIRE_GET);
    assert_int_equal(d.rev, 5);
    assert_true(d.stale);
    ROUND(cairn_wire_encode_get(&b, 7, "x", S("k"), 0, false, err),
          CAIRN_WIRE_GET);
    assert_int_equal(d.has, 0);
    ROUND(cairn_wire_encode_exists(&b, 7, "x", S("k"), true, err),
          CAIRN_WIRE_EXISTS);
    assert_int_equal(d.has, CAIRN_WIRE_REQ_STALE);
    ROUND(cairn_wire_encode_history(&b, 7, "x", S("k"), false, err),
          CAIRN_WIRE_HISTORY);
    ROUND(cairn_wire_encode_put(&b, 7, "x", &w, &dd, err), CAIRN_WIRE_PUT);
    assert_int_equal(d.has, CAIRN_WIRE_REQ_META | CAIRN_WIRE_REQ_TTL |
                                CAIRN_WIRE_REQ_CID_SEQ);
    assert_int_equal(d.w.op, CAIRN_OP_PUT);
    assert_int_equal(d.w.ttl_ns, 5);
    assert_int_equal(d.cid, 11);
    assert_int_equal(d.seq, 12);
    ROUND(cairn_wire_encode_create(&b, 7, "x", &w, NULL, err),
          CAIRN_WIRE_CREATE);
    ROUND(cairn_wire_encode_update(&b, 7, "x", &w, 4, NULL, err),
          CAIRN_WIRE_UPDATE);
    assert_int_equal(d.rev, 4);
    ROUND(cairn_wire_encode_cas(&b, 7, "x", &w, "o", 1, NULL, err),
          CAIRN_WIRE_CAS);
    assert_true(d.has_old);
    assert_true(bytes_eq(d.old, d.old_len, "o", 1));
    ROUND(cairn_wire_encode_cas(&b, 7, "x", &w, NULL, 0, NULL, err),
          CAIRN_WIRE_CAS);
    assert_false(d.has_old);
    ROUND(cairn_wire_encode_delete(&b, 7, "x", S("k"), 3, &dd, err),
          CAIRN_WIRE_DELETE);
    assert_int_equal(d.w.op, CAIRN_OP_DEL);
    assert_int_equal(d.rev, 3);
    ROUND(cairn_wire_encode_purge(&b, 7, "x", S("k"), 0, NULL, err),
          CAIRN_WIRE_PURGE);
    assert_int_equal(d.w.op, CAIRN_OP_PURGE);
    assert_int_equal(d.has, 0);
    ROUND(cairn_wire_encode_scan(&b, 7, "x", &sc, err), CAIRN_WIRE_SCAN);
    assert_int_equal(d.has, CAIRN_WIRE_REQ_START | CAIRN_WIRE_REQ_PREFIX |
                                CAIRN_WIRE_REQ_LIMIT | CAIRN_WIRE_REQ_STALE);
    assert_int_equal(d.prefix_len, 0);
    assert_int_equal(d.limit, 10);
    ROUND(cairn_wire_encode_scan(&b, 7, "x", NULL, err), CAIRN_WIRE_SCAN);
    assert_int_equal(d.has, 0);
    sc.limit = 0;
    ROUND(cairn_wire_encode_count(&b, 7, "x", &sc, err), CAIRN_WIRE_COUNT);
    ROUND(cairn_wire_encode_txn(&b, 7, "x", cmps, 3, ops3, 3, &dd, err),
          CAIRN_WIRE_TXN);
    assert_int_equal(d.n_compares, 3);
    assert_int_equal(d.n_writes, 3);
    cairn_wire_request_release(&d);
    ROUND(cairn_wire_encode_txn(&b, 7, "x", NULL, 0, ops3, 1, NULL, err),
          CAIRN_WIRE_TXN);
    assert_int_equal(d.has, 0);
    cairn_wire_request_release(&d);
    ROUND(cairn_wire_encode_node_join(&b, 7, &full_node, err),
          CAIRN_WIRE_NODE_JOIN);
    assert_int_equal(d.has, 0);
    assert_non_null(d.node);
    assert_node_equal(&full_node, d.node, false);
    assert_true(bytes_eq(d.node->http.ptr, d.node->http.len,
                         S("10.0.0.9:8080")));
    cairn_wire_request_release(&d);
    assert_null(d.node);
    {
        /* http and role empty: neither is sent; role is never sent. */
        struct cairn_wire_node nd = min_node;
        char names[8][32];
        msgpack_unpacked u;
        size_t off = 0;
        nd.role = ws("voter");
        ROUND(cairn_wire_encode_node_join(&b, 7, &nd, err),
              CAIRN_WIRE_NODE_JOIN);
        assert_int_equal(d.node->n_tags, 0);
        assert_int_equal(d.node->http.len, 0);
        assert_int_equal(d.node->role.len, 0);
        cairn_wire_request_release(&d);
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, (const char *)body, len,
                                             &off),
                         MSGPACK_UNPACK_SUCCESS);
        for (uint32_t i = 0; i < u.data.via.map.size; i++) {
            const msgpack_object *k = &u.data.via.map.ptr[i].key;
            const msgpack_object *v = &u.data.via.map.ptr[i].val;
            msgpack_sbuffer nb;
            msgpack_packer npk;
            if (k->via.str.size != 4 || memcmp(k->via.str.ptr, "node", 4)) {
                continue;
            }
            msgpack_sbuffer_init(&nb);
            msgpack_packer_init(&npk, &nb, msgpack_sbuffer_write);
            msgpack_pack_object(&npk, *v);
            assert_int_equal(map_names(nb.data, nb.size, names, 8), 6);
            for (int j = 0; j < 6; j++) {
                assert_string_not_equal(names[j], "http");
                assert_string_not_equal(names[j], "role");
            }
            /* tags is there, as an empty array. */
            assert_string_equal(names[4], "tags");
            msgpack_sbuffer_destroy(&nb);
        }
        msgpack_unpacked_destroy(&u);
    }
    ROUND(cairn_wire_encode_node_remove(&b, 7, 42, err),
          CAIRN_WIRE_NODE_REMOVE);
    assert_int_equal(d.node_id, 42);
    assert_null(d.node);
    ROUND(cairn_wire_encode_bucket_leader(&b, 7, "orders", 12, 3, 9, err),
          CAIRN_WIRE_BUCKET_LEADER);
    assert_string_equal(d.bucket, "orders");
    assert_int_equal(d.group, 12);
    assert_int_equal(d.node_id, 3);
    assert_int_equal(d.term, 9);
    assert_null(d.node);
    {
        /* The fields in the order of the field table. */
        char names[8][32];
        assert_int_equal(map_names(body, len, names, 8), 6);
        assert_string_equal(names[2], "node");
        assert_string_equal(names[3], "bucket");
        assert_string_equal(names[4], "group");
        assert_string_equal(names[5], "term");
    }
    {
        struct cairn_wire_watch ww = {.key = "k", .key_len = 1, .from = 9};
        ROUND(cairn_wire_encode_watch(&b, 7, "orders", &ww, err),
              CAIRN_WIRE_WATCH);
        assert_int_equal(d.has, CAIRN_WIRE_REQ_KEY | CAIRN_WIRE_REQ_FROM);
        assert_true(bytes_eq(d.w.key, d.w.key_len, "k", 1));
        assert_int_equal(d.from, 9);
        ww = (struct cairn_wire_watch){.prefix = "p/", .prefix_len = 2,
                                       .has_latest = true, .latest = false};
        ROUND(cairn_wire_encode_watch(&b, 7, "orders", &ww, err),
              CAIRN_WIRE_WATCH);
        assert_int_equal(d.has,
                         CAIRN_WIRE_REQ_PREFIX | CAIRN_WIRE_REQ_LATEST);
        assert_true(bytes_eq(d.prefix, d.prefix_len, "p/", 2));
        assert_false(d.latest);
        ROUND(cairn_wire_encode_watch(&b, 7, "orders", NULL, err),
              CAIRN_WIRE_WATCH);
        assert_int_equal(d.has, 0);
        assert_string_equal(d.bucket, "orders");
        ROUND(cairn_wire_encode_watch_cancel(&b, 7, 5, err),
              CAIRN_WIRE_WATCH_CANCEL);
        assert_int_equal(d.watch, 5);
        /* A key and a prefix together: refused before anything is
         * written. */
        ww = (struct cairn_wire_watch){.key = "k", .key_len = 1,
                                       .prefix = "p", .prefix_len = 1};
        cairn_wire_buf_reset(&b);
        assert_int_equal(cairn_wire_encode_watch(&b, 7, "o", &ww, err),
                         CAIRN_EINVAL);
        assert_int_equal(b.len, 0);
    }
#undef ROUND
    cairn_wire_buf_close(&b);
}

static void test_encoder_refuses(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_request q;
    struct cairn_write bad = {.op = 9, .key = "k", .key_len = 1};
    struct cairn_compare badc = {.key = "k", .key_len = 1, .target = 7,
                                 .op = CAIRN_CMP_EQ};
    struct cairn_wire_scan sc = {.cursor = "c", .cursor_len = 1};
    char err[CAIRN_ERRMSG_SIZE], longname[80];
    (void)state;
    cairn_wire_buf_init(&b);
    memset(&q, 0, sizeof q);
    q.op = CAIRN_WIRE_BUCKET_LIST;
    assert_int_equal(cairn_wire_request_encode(&b, &q, err), CAIRN_EINVAL);
    assert_msg_has(err, "id");
    q.id = 1;
    q.op = 0;
    assert_int_equal(cairn_wire_request_encode(&b, &q, err), CAIRN_EINVAL);
    q.op = CAIRN_WIRE__OP_COUNT;
    assert_int_equal(cairn_wire_request_encode(&b, &q, err), CAIRN_EINVAL);
    q.op = CAIRN_WIRE_PUT;
    q.has = CAIRN_WIRE_REQ_STALE; /* not a put's */
    assert_int_equal(cairn_wire_request_encode(&b, &q, err), CAIRN_EINVAL);
    q.has = 1u << 30;
    assert_int_equal(cairn_wire_request_encode(&b, &q, err), CAIRN_EINVAL);
    q.op = CAIRN_WIRE_BUCKET_CREATE;
    q.has = 0;
    assert_int_equal(cairn_wire_request_encode(&b, &q, err), CAIRN_EINVAL);
    assert_msg_has(err, "config");
    assert_int_equal(cairn_wire_encode_txn(&b, 1, "x", NULL, 0, &bad, 1, NULL,
                                           err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_txn(&b, 1, "x", &badc, 1, ops3, 1,
                                           NULL, err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_txn(&b, 1, "x", NULL, 0, NULL, 2, NULL,
                                           err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_count(&b, 1, "x", &sc, err),
                     CAIRN_EINVAL);
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(cairn_wire_encode_bucket_info(&b, 1, longname, false, err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_put(&b, 1, "x", NULL, NULL, err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_node_join(&b, 1, NULL, err),
                     CAIRN_EINVAL);
    assert_msg_has(err, "without a node");
    {
        struct cairn_wire_node nd = min_node;
        nd.n_tags = 2; /* and no array */
        assert_int_equal(cairn_wire_encode_node_join(&b, 1, &nd, err),
                         CAIRN_EINVAL);
        assert_msg_has(err, "tags");
    }
    memset(&q, 0, sizeof q);
    q.id = 1;
    q.op = CAIRN_WIRE_NODE_JOIN; /* .node NULL */
    assert_int_equal(cairn_wire_request_encode(&b, &q, err), CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_node_join(&b, 0, &min_node, err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_bucket_leader(&b, 1, NULL, 2, 3, 4,
                                                     err),
                     CAIRN_EINVAL);
    assert_msg_has(err, "without a bucket");
    assert_int_equal(cairn_wire_encode_bucket_leader(&b, 1, longname, 2, 3, 4,
                                                     err),
                     CAIRN_EINVAL);
    assert_int_equal(cairn_wire_encode_bucket_leader(&b, 0, "x", 2, 3, 4, err),
                     CAIRN_EINVAL);
    assert_int_equal(b.len, 0); /* nothing was appended */
    cairn_wire_buf_close(&b);
}

/* ---- malformed input ---------------------------------------------------- */

static void test_truncated_at_every_length(void **state)
{
    struct cairn_wire_request r[MAX_SAMPLES];
    struct cairn_wire_buf b;
    size_t n = samples(r);
    (void)state;
    cairn_wire_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *body = enc(&b, &r[i], &len);
        for (size_t cut = 0; cut < len; cut++) {
            /* A copy of exactly @cut bytes, so ASan sees any overread. */
            uint8_t *p = malloc(cut + 1);
            assert_non_null(p);
            memcpy(p, body, cut);
            expect(p, cut, CAIRN_EPROTO, 0, NULL);
            free(p);
        }
    }
    cairn_wire_buf_close(&b);
}

static void test_garbage_and_not_a_map(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"", 0},
        {"\xc1", 1},                 /* never-used byte */
        {"\x92\x01\x02", 3},         /* an array */
        {"\xa2id", 3},               /* a string */
        {"\x81\xa2id\x01\x00", 6},   /* a map, then a trailing byte */
        {"\x81\xa2id\x01\x81", 6},   /* two maps */
        {"\xdf\xff\xff\xff\xff", 5}, /* a map claiming 4 billion pairs */
        {"\x81\xa2id\xd4\x01\x00", 7}, /* id as an ext */
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *p = malloc(cases[i].len + 1);
        assert_non_null(p);
        memcpy(p, cases[i].bytes, cases[i].len);
        expect(p, cases[i].len, CAIRN_EPROTO, 0, NULL);
        free(p);
    }
}

/* Build {id: <id>, op: "bucket.list"} with @id_val as the id's msgpack. */
static void with_id(struct mp *m, const void *id_val, size_t id_len,
                    int copies)
{
    mp_clear(m);
    msgpack_pack_map(&m->pk, 1 + (uint32_t)copies);
    for (int i = 0; i < copies; i++) {
        mp_str(m, "id");
        msgpack_sbuffer_write(&m->sb, id_val, id_len);
    }
    mp_str(m, "op");
    mp_str(m, "bucket.list");
}

static void test_id_handling(void **state)
{
    static const struct {
        const char *val;
        size_t len;
    } bad_ids[] = {
        {"\x00", 1},             /* 0 */
        {"\xff", 1},             /* -1 */
        {"\xa1\x31", 2},         /* "1" */
        {"\xcb\x3f\xf0\0\0\0\0\0\0", 9}, /* 1.0 */
        {"\xc0", 1},             /* nil */
        {"\xc3", 1},             /* true */
        {"\x91\x01", 2},         /* [1] */
    };
    struct mp m, out;
    (void)state;
    mp_init(&m);
    mp_init(&out);
    /* No id. */
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 1);
    mp_str(&m, "op");
    mp_str(&m, "bucket.list");
    expect(m.sb.data, m.sb.size, CAIRN_EPROTO, 0, "'id'");
    /* Unusable ids. */
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        with_id(&m, bad_ids[i].val, bad_ids[i].len, 1);
        expect(m.sb.data, m.sb.size, CAIRN_EPROTO, 0, "'id'");
    }
    /* Twice, even with the same value. */
    with_id(&m, "\x05", 1, 2);
    expect(m.sb.data, m.sb.size, CAIRN_EPROTO, 0, "'id'");
    /* Good ids, the smallest and the largest. */
    with_id(&m, "\x01", 1, 1);
    expect(m.sb.data, m.sb.size, 0, 1, NULL);
    with_id(&m, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, 1);
    expect(m.sb.data, m.sb.size, 0, UINT64_MAX, NULL);
    /* A usable id and a bad request: answered with that id. */
    with_id(&m, "\x2a", 1, 1);
    map_edit(m.sb.data, m.sb.size, "op", "\xa4nope", 5, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 42, "nope");
    map_edit(m.sb.data, m.sb.size, "op", NULL, 0, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 42, "'op'");
    map_edit(m.sb.data, m.sb.size, "op", "\x01", 1, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 42, "'op'");
    map_edit(m.sb.data, m.sb.size, "zzz", "\x01", 1, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 42, "zzz");
    /* The id after the other fields counts the same. */
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 2);
    mp_str(&m, "op");
    mp_str(&m, "bogus.op");
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 9);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 9, "bogus.op");
    mp_free(&m);
    mp_free(&out);
}

static void test_unknown_fields(void **state)
{
    struct cairn_wire_request r[MAX_SAMPLES];
    struct cairn_wire_buf b;
    struct mp out;
    size_t n = samples(r);
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&out);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *body = enc(&b, &r[i], &len);
        assert_false(map_edit(body, len, "zzextra", "\x01", 1, &out));
        expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, r[i].id,
               "zzextra");
        /* Unprintable names are quoted safely. */
        assert_false(map_edit(body, len, "\x01\x7f", "\x01", 1, &out));
        expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, r[i].id, "'?" "?'");
    }
    /* A key that is not a string. */
    {
        struct mp m;
        mp_init(&m);
        msgpack_pack_map(&m.pk, 3);
        mp_str(&m, "id");
        msgpack_pack_uint64(&m.pk, 4);
        mp_str(&m, "op");
        mp_str(&m, "bucket.list");
        msgpack_pack_uint64(&m.pk, 1);
        msgpack_pack_uint64(&m.pk, 1);
        expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 4, "not a string");
        mp_free(&m);
    }
    mp_free(&out);
    cairn_wire_buf_close(&b);
}

/* Every field of the protocol, given to every op that does not use it. */
static void test_fields_an_op_does_not_use(void **state)
{
    struct mp m, v, out;
    size_t checked = 0;
    (void)state;
    mp_init(&m);
    mp_init(&v);
    mp_init(&out);
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        const struct op_spec *sp = &specs[s];
        mp_clear(&m);
        msgpack_pack_map(&m.pk, 2);
        mp_str(&m, "id");
        msgpack_pack_uint64(&m.pk, 8);
        mp_str(&m, "op");
        mp_str(&m, cairn_wire_op_name(sp->op));
        for (size_t f = 0; f < sizeof all_fields / sizeof all_fields[0];
             f++) {
            if (is_allowed(sp->op, all_fields[f])) {
                continue;
            }
            mp_clear(&v);
            good_value(&v, sp->op, all_fields[f]);
            map_edit(m.sb.data, m.sb.size, all_fields[f], v.sb.data, v.sb.size,
                     &out);
            expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 8,
                   "is not used by op");
            {
                char quoted[40];
                snprintf(quoted, sizeof quoted, "'%s'", all_fields[f]);
                expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 8, quoted);
            }
            checked++;
        }
    }
    assert_true(checked > 250);
    mp_free(&m);
    mp_free(&v);
    mp_free(&out);
}

/* Values of the wrong type for every field of every sample. */
static void test_wrong_types(void **state)
{
    /* Kinds: u uint, i negative int, s str, b bin, t bool, n nil,
     * a array, m map, f float. */
    static const struct {
        const char *val;
        size_t len;
        char kind;
    } wrong[] = {
        {"\xa1x", 2, 's'},    {"\xc4\x01x", 3, 'b'}, {"\x05", 1, 'u'},
        {"\xff", 1, 'i'},     {"\xc3", 1, 't'},      {"\xc0", 1, 'n'},
        {"\x91\x01", 2, 'a'}, {"\x80", 1, 'm'},      {"\xca\0\0\0\0", 5, 'f'},
    };
    struct cairn_wire_request r[MAX_SAMPLES];
    struct cairn_wire_buf b;
    struct mp out;
    size_t n = samples(r);
    char names[24][32];
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&out);
    for (size_t i = 0; i < n; i++) {
        size_t len, nf;
        const uint8_t *body = enc(&b, &r[i], &len);
        nf = map_names(body, len, names, 24);
        for (size_t f = 0; f < nf; f++) {
            const char *name = names[f];
            const char *ok; /* the kinds the field takes */
            char quoted[40];
            if (strcmp(name, "id") == 0) {
                continue; /* test_id_handling */
            }
            if (strcmp(name, "op") == 0 || strcmp(name, "client") == 0 ||
                strcmp(name, "bucket") == 0) {
                ok = "s";
            } else if (strcmp(name, "node") == 0) {
                ok = r[i].op == CAIRN_WIRE_NODE_JOIN ? "m" : "u";
            } else if (strcmp(name, "ttl") == 0) {
                ok = "ui";
            } else if (strcmp(name, "stale") == 0 ||
                       strcmp(name, "keys_only") == 0 ||
                       strcmp(name, "latest") == 0) {
                ok = "t";
            } else if (strcmp(name, "old") == 0) {
                ok = "bn";
            } else if (strcmp(name, "config") == 0) {
                ok = "m";
            } else if (strcmp(name, "cmp") == 0 || strcmp(name, "ops") == 0) {
                ok = "a";
            } else if (strcmp(name, "version") == 0 ||
                       strcmp(name, "rev") == 0 || strcmp(name, "exp") == 0 ||
                       strcmp(name, "cid") == 0 || strcmp(name, "seq") == 0 ||
                       strcmp(name, "limit") == 0 ||
                       strcmp(name, "group") == 0 ||
                       strcmp(name, "term") == 0 ||
                       strcmp(name, "from") == 0 ||
                       strcmp(name, "watch") == 0) {
                ok = "u";
            } else {
                ok = "b"; /* key, val, meta, start, end, prefix, cursor */
            }
            snprintf(quoted, sizeof quoted, "'%s'", name);
            for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++) {
                if (strchr(ok, wrong[w].kind) != NULL) {
                    continue;
                }
                assert_true(map_edit(body, len, name, wrong[w].val,
                                     wrong[w].len, &out));
                expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, r[i].id,
                       quoted);
            }
        }
    }
    mp_free(&out);
    cairn_wire_buf_close(&b);
}

static void test_missing_fields(void **state)
{
    struct cairn_wire_request r[MAX_SAMPLES], d;
    struct cairn_wire_buf b;
    struct mp out;
    size_t n = samples(r);
    char names[24][32], err[CAIRN_ERRMSG_SIZE];
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&out);
    for (size_t i = 0; i < n; i++) {
        size_t len, nf;
        const uint8_t *body = enc(&b, &r[i], &len);
        nf = map_names(body, len, names, 24);
        for (size_t f = 0; f < nf; f++) {
            char quoted[40];
            snprintf(quoted, sizeof quoted, "'%s'", names[f]);
            assert_true(map_edit(body, len, names[f], NULL, 0, &out));
            if (strcmp(names[f], "id") == 0) {
                expect(out.sb.data, out.sb.size, CAIRN_EPROTO, 0, "'id'");
            } else if (is_required(r[i].op, names[f]) ||
                       strcmp(names[f], "cid") == 0 ||
                       strcmp(names[f], "seq") == 0) {
                expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, r[i].id,
                       quoted);
            } else {
                assert_int_equal(dec(out.sb.data, out.sb.size, &d, err), 0);
                cairn_wire_request_release(&d);
            }
        }
    }
    mp_free(&out);
    cairn_wire_buf_close(&b);
}

/* Nil in place of any value at any depth (config fields, txn elements
 * and their fields included): refused, except the one field that takes
 * nil (cas "old"); an id turned nil leaves no usable id. */
static void test_nil_anywhere(void **state)
{
    struct cairn_wire_request r[MAX_SAMPLES], d;
    struct cairn_wire_buf b;
    struct mp out;
    size_t n = samples(r), variants = 0;
    char top[32], err[CAIRN_ERRMSG_SIZE];
    (void)state;
    cairn_wire_buf_init(&b);
    mp_init(&out);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *body = enc(&b, &r[i], &len);
        for (int t = 0; nil_at(body, len, t, &out, top); t++) {
            int rc = dec(out.sb.data, out.sb.size, &d, err);
            cairn_wire_request_release(&d);
            variants++;
            if (strcmp(top, "old") == 0) {
                assert_int_equal(rc, 0);
            } else if (strcmp(top, "id") == 0) {
                assert_int_equal(rc, CAIRN_EPROTO);
            } else {
                if (rc != CAIRN_EMALFORMED) {
                    print_error("%s, value %d: %d %s\n",
                                cairn_wire_op_name(r[i].op), t, rc, err);
                }
                assert_int_equal(rc, CAIRN_EMALFORMED);
                assert_int_equal(d.id, r[i].id);
            }
        }
    }
    assert_true(variants > 200);
    mp_free(&out);
    cairn_wire_buf_close(&b);
}

static void test_repeated_field(void **state)
{
    struct mp m;
    (void)state;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 5);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 6);
    mp_str(&m, "op");
    mp_str(&m, "get");
    mp_str(&m, "bucket");
    mp_str(&m, "b");
    mp_str(&m, "key");
    mp_bin(&m, "k", 1);
    mp_str(&m, "key");
    mp_bin(&m, "k", 1);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 6, "'key' appears twice");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 6);
    mp_str(&m, "op");
    mp_str(&m, "bucket.list");
    mp_str(&m, "op");
    mp_str(&m, "bucket.list");
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 6, "'op' appears twice");
    mp_free(&m);
}

/* ---- values and limits -------------------------------------------------- */

/* {id: 5, op: "put", bucket: "b", key: <klen bytes>, val: "v",
 *  meta: <mlen bytes>} */
static void put_req(struct mp *m, size_t klen, size_t mlen)
{
    static uint8_t bytes[2048];
    mp_clear(m);
    msgpack_pack_map(&m->pk, 6);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "put");
    mp_str(m, "bucket");
    mp_str(m, "b");
    mp_str(m, "key");
    mp_bin(m, bytes, klen);
    mp_str(m, "val");
    mp_bin(m, "v", 1);
    mp_str(m, "meta");
    mp_bin(m, bytes, mlen);
}

static void test_limit_key_and_meta(void **state)
{
    struct mp m;
    (void)state;
    mp_init(&m);
    put_req(&m, CAIRN_KEY_MAX, CAIRN_KEY_META_MAX);
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    put_req(&m, CAIRN_KEY_MAX + 1, 0);
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "512");
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "'key'");
    put_req(&m, 0, 0);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'key' is empty");
    put_req(&m, 1, CAIRN_KEY_META_MAX + 1);
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "1024");
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "'meta'");
    /* Byte strings are bin: a str key is refused (strict). */
    {
        struct mp out;
        mp_init(&out);
        put_req(&m, 1, 0);
        map_edit(m.sb.data, m.sb.size, "key", "\xa1k", 2, &out);
        expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 5, "'key'");
        mp_free(&out);
    }
    mp_free(&m);
}

static void bucket_req(struct mp *m, const char *name, size_t len)
{
    mp_clear(m);
    msgpack_pack_map(&m->pk, 3);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "bucket.info");
    mp_str(m, "bucket");
    msgpack_pack_str_with_body(&m->pk, name, len);
}

static void test_limit_bucket_name(void **state)
{
    struct mp m;
    struct cairn_wire_request d;
    char name[CAIRN_BUCKET_NAME_MAX + 2], err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    memset(name, 'a', sizeof name);
    bucket_req(&m, name, CAIRN_BUCKET_NAME_MAX);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(strlen(d.bucket), CAIRN_BUCKET_NAME_MAX);
    bucket_req(&m, name, CAIRN_BUCKET_NAME_MAX + 1);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'bucket'");
    bucket_req(&m, "", 0);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'bucket'");
    bucket_req(&m, "a.b", 3);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'a.b'");
    bucket_req(&m, "ab\0cd", 5); /* a NUL does not cut it to "ab" */
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'bucket'");
    bucket_req(&m, "Az09_-", 6);
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    mp_free(&m);
}

/* {id: 5, op: "bucket.create", config: {name: <name>, <extra>}} */
static void create_req(struct mp *m, const char *name, const char *extra_key,
                       const char *extra_val, size_t extra_len)
{
    mp_clear(m);
    msgpack_pack_map(&m->pk, 3);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "bucket.create");
    mp_str(m, "config");
    msgpack_pack_map(&m->pk, (name != NULL) + (extra_key != NULL));
    if (name != NULL) {
        mp_str(m, "name");
        mp_str(m, name);
    }
    if (extra_key != NULL) {
        mp_str(m, extra_key);
        msgpack_sbuffer_write(&m->sb, extra_val, extra_len);
    }
}

static void test_bucket_create_config(void **state)
{
    struct mp m;
    struct cairn_wire_request d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    /* Only a name: every other field takes its default. */
    create_req(&m, "only-name", NULL, NULL, 0);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_string_equal(d.bucket, "only-name");
    assert_string_equal(d.config->name, "only-name");
    assert_int_equal(d.config->history, 1);
    assert_int_equal(d.config->max_bytes, -1);
    assert_int_equal(d.config->max_value_size, CAIRN_VALUE_DEFAULT_MAX);
    cairn_wire_request_release(&d);
    assert_null(d.config);
    /* Rules of cairn_bucket_config_validate, at their boundaries. */
    create_req(&m, "h", "history", "\x40", 1); /* 64 */
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    create_req(&m, "h", "history", "\x41", 1); /* 65 */
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "history 65");
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'config'");
    create_req(&m, "bad name", NULL, NULL, 0);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "bucket name");
    /* Structure. */
    create_req(&m, NULL, NULL, NULL, 0);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'name'");
    create_req(&m, "n", "colour", "\xa3red", 4);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "colour");
    create_req(&m, "n", "history", "\xa1x", 2);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'history'");
    create_req(&m, "n", "name", "\xa1x", 2); /* name twice */
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "appears twice");
    create_req(&m, "n", "placement", "\x81\xa3zzz\x01", 6);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "placement.zzz");
    mp_free(&m);
}

static void test_limit_scan_bounds(void **state)
{
    static uint8_t bytes[CAIRN_WIRE_CURSOR_MAX + 1];
    struct mp m, v, out;
    const char *fields[] = {"start", "end", "prefix", "cursor"};
    (void)state;
    mp_init(&m);
    mp_init(&v);
    mp_init(&out);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "scan");
    mp_str(&m, "bucket");
    mp_str(&m, "b");
    for (size_t f = 0; f < 4; f++) {
        size_t max = f == 3 ? CAIRN_WIRE_CURSOR_MAX : CAIRN_KEY_MAX;
        mp_clear(&v);
        mp_bin(&v, bytes, max);
        map_edit(m.sb.data, m.sb.size, fields[f], v.sb.data, v.sb.size, &out);
        expect(out.sb.data, out.sb.size, 0, 5, NULL);
        mp_clear(&v);
        mp_bin(&v, bytes, max + 1);
        map_edit(m.sb.data, m.sb.size, fields[f], v.sb.data, v.sb.size, &out);
        expect(out.sb.data, out.sb.size, CAIRN_EINVAL, 5, fields[f]);
    }
    mp_clear(&v);
    msgpack_pack_uint64(&v.pk, UINT32_MAX);
    map_edit(m.sb.data, m.sb.size, "limit", v.sb.data, v.sb.size, &out);
    expect(out.sb.data, out.sb.size, 0, 5, NULL);
    mp_clear(&v);
    msgpack_pack_uint64(&v.pk, (uint64_t)UINT32_MAX + 1);
    map_edit(m.sb.data, m.sb.size, "limit", v.sb.data, v.sb.size, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EINVAL, 5, "'limit'");
    mp_free(&m);
    mp_free(&v);
    mp_free(&out);
}

/* A txn with @nc revision compares and @nw puts of key "k<i>". */
static void txn_req(struct mp *m, uint32_t nc, uint32_t nw)
{
    mp_clear(m);
    msgpack_pack_map(&m->pk, 5);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "txn");
    mp_str(m, "bucket");
    mp_str(m, "b");
    mp_str(m, "cmp");
    msgpack_pack_array(&m->pk, nc);
    for (uint32_t i = 0; i < nc; i++) {
        msgpack_pack_map(&m->pk, 4);
        mp_str(m, "k");
        mp_bin(m, "k", 1);
        mp_str(m, "target");
        mp_str(m, "revision");
        mp_str(m, "op");
        mp_str(m, "eq");
        mp_str(m, "rev");
        msgpack_pack_uint64(&m->pk, i);
    }
    mp_str(m, "ops");
    msgpack_pack_array(&m->pk, nw);
    for (uint32_t i = 0; i < nw; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%u", i);
        msgpack_pack_map(&m->pk, 3);
        mp_str(m, "op");
        mp_str(m, "put");
        mp_str(m, "k");
        mp_bin(m, k, strlen(k));
        mp_str(m, "val");
        mp_bin(m, "v", 1);
    }
}

static void test_limit_txn(void **state)
{
    struct mp m;
    struct cairn_wire_request d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    txn_req(&m, CAIRN_TXN_COMPARES_MAX, CAIRN_TXN_OPS_MAX);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.n_compares, CAIRN_TXN_COMPARES_MAX);
    assert_int_equal(d.n_writes, CAIRN_TXN_OPS_MAX);
    assert_true(bytes_eq(d.writes[9999].key, d.writes[9999].key_len,
                         "k9999", 5));
    assert_int_equal(d.compares[63].revision, 63);
    cairn_wire_request_release(&d);
    txn_req(&m, CAIRN_TXN_COMPARES_MAX, CAIRN_TXN_OPS_MAX + 1);
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "10000");
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "'ops'");
    txn_req(&m, CAIRN_TXN_COMPARES_MAX + 1, 1);
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "64");
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "'cmp'");
    txn_req(&m, 0, 0); /* compares only: allowed (storage accepts it) */
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    mp_free(&m);
}

/* A txn whose ops[0] (@in_ops) or cmp[0] is the map built by @fill. */
static void txn_elem(struct mp *m, bool in_ops, const void *elem, size_t len)
{
    mp_clear(m);
    msgpack_pack_map(&m->pk, 5);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "txn");
    mp_str(m, "bucket");
    mp_str(m, "b");
    mp_str(m, "cmp");
    msgpack_pack_array(&m->pk, in_ops ? 0 : 1);
    if (!in_ops) {
        msgpack_sbuffer_write(&m->sb, elem, len);
    }
    mp_str(m, "ops");
    msgpack_pack_array(&m->pk, in_ops ? 1 : 0);
    if (in_ops) {
        msgpack_sbuffer_write(&m->sb, elem, len);
    }
}

static void test_txn_elements(void **state)
{
    static uint8_t big[CAIRN_KEY_META_MAX + 1];
    struct mp m, e;
    (void)state;
    mp_init(&m);
    mp_init(&e);
#define OP_ELEM(n, body)                                                     \
    do {                                                                     \
        mp_clear(&e);                                                        \
        msgpack_pack_map(&e.pk, n);                                          \
        body;                                                                \
        txn_elem(&m, true, e.sb.data, e.sb.size);                            \
    } while (0)
    /* Key limits inside ops. */
    OP_ELEM(2, (mp_str(&e, "op"), mp_str(&e, "delete"), mp_str(&e, "k"),
                mp_bin(&e, big, CAIRN_KEY_MAX)));
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    OP_ELEM(2, (mp_str(&e, "op"), mp_str(&e, "delete"), mp_str(&e, "k"),
                mp_bin(&e, big, CAIRN_KEY_MAX + 1)));
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "ops[0]");
    OP_ELEM(2, (mp_str(&e, "op"), mp_str(&e, "purge"), mp_str(&e, "k"),
                mp_bin(&e, big, 0)));
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "ops[0]: field 'k'");
    OP_ELEM(4, (mp_str(&e, "op"), mp_str(&e, "put"), mp_str(&e, "k"),
                mp_bin(&e, "k", 1), mp_str(&e, "val"), mp_bin(&e, "", 0),
                mp_str(&e, "meta"), mp_bin(&e, big, CAIRN_KEY_META_MAX)));
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    OP_ELEM(4, (mp_str(&e, "op"), mp_str(&e, "put"), mp_str(&e, "k"),
                mp_bin(&e, "k", 1), mp_str(&e, "val"), mp_bin(&e, "", 0),
                mp_str(&e, "meta"), mp_bin(&e, big, CAIRN_KEY_META_MAX + 1)));
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "'meta'");
    /* Strictness inside ops: str bytes, repeats, unknown fields. */
    OP_ELEM(2, (mp_str(&e, "op"), mp_str(&e, "delete"), mp_str(&e, "k"),
                mp_str(&e, "k")));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'k'");
    OP_ELEM(3, (mp_str(&e, "op"), mp_str(&e, "delete"), mp_str(&e, "k"),
                mp_bin(&e, "k", 1), mp_str(&e, "k"), mp_bin(&e, "k", 1)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "appears twice");
    OP_ELEM(3, (mp_str(&e, "op"), mp_str(&e, "delete"), mp_str(&e, "k"),
                mp_bin(&e, "k", 1), mp_str(&e, "when"), mp_bin(&e, "k", 1)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'when'");
    OP_ELEM(3, (mp_str(&e, "op"), mp_str(&e, "delete"), mp_str(&e, "k"),
                mp_bin(&e, "k", 1), mp_str(&e, "val"), mp_bin(&e, "k", 1)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "carries only");
    OP_ELEM(2, (mp_str(&e, "op"), mp_str(&e, "put"), mp_str(&e, "k"),
                mp_bin(&e, "k", 1)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'val'");
    OP_ELEM(2, (mp_str(&e, "op"), mp_str(&e, "upsert"), mp_str(&e, "k"),
                mp_bin(&e, "k", 1)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'op'");
#undef OP_ELEM
#define CMP_ELEM(n, body)                                                    \
    do {                                                                     \
        mp_clear(&e);                                                        \
        msgpack_pack_map(&e.pk, n);                                          \
        body;                                                                \
        txn_elem(&m, false, e.sb.data, e.sb.size);                           \
    } while (0)
    CMP_ELEM(4, (mp_str(&e, "k"), mp_bin(&e, big, CAIRN_KEY_MAX + 1),
                 mp_str(&e, "target"), mp_str(&e, "exists"), mp_str(&e, "op"),
                 mp_str(&e, "eq"), mp_str(&e, "exists"),
                 msgpack_pack_true(&e.pk)));
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "cmp[0]");
    CMP_ELEM(4, (mp_str(&e, "k"), mp_bin(&e, "k", 1), mp_str(&e, "target"),
                 mp_str(&e, "value"), mp_str(&e, "op"), mp_str(&e, "eq"),
                 mp_str(&e, "rev"), msgpack_pack_uint64(&e.pk, 7)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "operand");
    CMP_ELEM(5, (mp_str(&e, "k"), mp_bin(&e, "k", 1), mp_str(&e, "target"),
                 mp_str(&e, "value"), mp_str(&e, "op"), mp_str(&e, "eq"),
                 mp_str(&e, "val"), mp_bin(&e, "v", 1), mp_str(&e, "why"),
                 mp_bin(&e, "v", 1)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'why'");
    CMP_ELEM(4, (mp_str(&e, "k"), mp_bin(&e, "k", 1), mp_str(&e, "target"),
                 mp_str(&e, "value"), mp_str(&e, "op"), mp_str(&e, "eq"),
                 mp_str(&e, "val"), mp_str(&e, "v")));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'val'");
    CMP_ELEM(3, (mp_str(&e, "k"), mp_bin(&e, "k", 1), mp_str(&e, "op"),
                 mp_str(&e, "eq"), mp_str(&e, "rev"),
                 msgpack_pack_uint64(&e.pk, 7)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'target'");
    CMP_ELEM(5, (mp_str(&e, "k"), mp_bin(&e, "k", 1), mp_str(&e, "target"),
                 mp_str(&e, "revision"), mp_str(&e, "op"), mp_str(&e, "gt"),
                 mp_str(&e, "op"), mp_str(&e, "gt"), mp_str(&e, "rev"),
                 msgpack_pack_uint64(&e.pk, 7)));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "appears twice");
#undef CMP_ELEM
    /* Elements that are not maps. */
    txn_elem(&m, true, "\x01", 1);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "ops[0]");
    txn_elem(&m, false, "\x01", 1);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "cmp[0]");
    mp_free(&m);
    mp_free(&e);
}

/* ---- node.join and node.remove ------------------------------------------ */

/* {id: 5, op: "node.join", node: <node>}, where <node> is good_node()'s
 * map with @key removed (@val NULL) or set to the msgpack value @val. */
static void join_req(struct mp *m, const char *key, const void *val,
                     size_t val_len)
{
    struct mp node, edited;
    mp_init(&node);
    mp_init(&edited);
    good_node(&node);
    if (key != NULL) {
        map_edit(node.sb.data, node.sb.size, key, val, val_len, &edited);
    } else {
        msgpack_sbuffer_write(&edited.sb, node.sb.data, node.sb.size);
    }
    mp_clear(m);
    msgpack_pack_map(&m->pk, 3);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "node.join");
    mp_str(m, "node");
    msgpack_sbuffer_write(&m->sb, edited.sb.data, edited.sb.size);
    mp_free(&node);
    mp_free(&edited);
}

/* join_req() with node field @key set to the str @str (@len bytes). */
static void join_str(struct mp *m, const char *key, const char *str,
                     size_t len)
{
    struct mp v;
    mp_init(&v);
    msgpack_pack_str_with_body(&v.pk, str, len);
    join_req(m, key, v.sb.data, v.sb.size);
    mp_free(&v);
}

/* join_req() with "tags" set to the @n strings of @tags. */
static void join_tags(struct mp *m, const char *const *tags, uint32_t n)
{
    struct mp v;
    mp_init(&v);
    msgpack_pack_array(&v.pk, n);
    for (uint32_t i = 0; i < n; i++) {
        mp_str(&v, tags[i]);
    }
    join_req(m, "tags", v.sb.data, v.sb.size);
    mp_free(&v);
}

static void test_node_join_decode(void **state)
{
    struct mp m;
    struct cairn_wire_request d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    join_req(&m, NULL, NULL, 0);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.op, CAIRN_WIRE_NODE_JOIN);
    assert_int_equal(d.has, 0);
    assert_non_null(d.node);
    assert_int_equal(d.node->id, 3);
    assert_true(bytes_eq(d.node->name.ptr, d.node->name.len, S("n3")));
    assert_true(bytes_eq(d.node->client.ptr, d.node->client.len,
                         S("10.0.0.3:7401")));
    assert_true(bytes_eq(d.node->peer.ptr, d.node->peer.len,
                         S("10.0.0.3:7501")));
    assert_int_equal(d.node->http.len, 0);
    assert_int_equal(d.node->role.len, 0);
    assert_int_equal(d.node->n_tags, 1);
    assert_true(bytes_eq(d.node->tags[0].ptr, d.node->tags[0].len,
                         S("zone:a")));
    assert_true(bytes_eq(d.node->cluster.ptr, d.node->cluster.len,
                         S("cairn")));
    /* Views into the frame, not copies. */
    assert_true((const char *)d.node->name.ptr > (const char *)m.sb.data &&
                (const char *)d.node->name.ptr <
                    (const char *)m.sb.data + m.sb.size);
    cairn_wire_request_release(&d);
    assert_null(d.node);
    assert_null(d.owned_);
    /* tags is optional (none), http is optional. */
    join_req(&m, "tags", NULL, 0);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.node->n_tags, 0);
    cairn_wire_request_release(&d);
    join_str(&m, "http", S("10.0.0.3:8080"));
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_true(bytes_eq(d.node->http.ptr, d.node->http.len,
                         S("10.0.0.3:8080")));
    cairn_wire_request_release(&d);
    mp_free(&m);
}

static void test_node_join_structure(void **state)
{
    static const char *const required[] = {"id", "name", "client", "peer",
                                           "cluster"};
    static const char *const strings[] = {"name", "client", "peer", "http",
                                          "cluster"};
    struct mp m;
    (void)state;
    mp_init(&m);
    /* Unknown fields inside node, role included (never a request field). */
    join_req(&m, "zone", "\xa1" "a", 2);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "unknown field 'zone'");
    join_req(&m, "role", "\xa5voter", 6);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'role'");
    /* Missing required fields. */
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char part[48];
        snprintf(part, sizeof part, "node field '%s' is missing",
                 required[i]);
        join_req(&m, required[i], NULL, 0);
        expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, part);
    }
    /* Wrong types. */
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        char part[48];
        snprintf(part, sizeof part, "node field '%s' has the wrong type",
                 strings[i]);
        join_req(&m, strings[i], "\x05", 1);
        expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, part);
        join_req(&m, strings[i], "\xc4\x01x", 3); /* bin is not str */
        expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, part);
    }
    join_req(&m, "id", "\xa1" "3", 2);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "node field 'id' has the wrong type");
    join_req(&m, "id", "\xff", 1);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'id'");
    join_req(&m, "tags", "\xa6zone:a", 7);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "node field 'tags' has the wrong type");
    join_req(&m, "tags", "\x92\xa3k:v\x01", 6);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'tags'");
    /* A field twice inside node. */
    {
        struct mp node;
        mp_init(&node);
        good_node(&node);
        /* The 6-pair map header becomes 7, then name again. */
        node.sb.data[0] = (char)0x87;
        mp_str(&node, "name");
        mp_str(&node, "n3");
        mp_clear(&m);
        msgpack_pack_map(&m.pk, 3);
        mp_str(&m, "id");
        msgpack_pack_uint64(&m.pk, 5);
        mp_str(&m, "op");
        mp_str(&m, "node.join");
        mp_str(&m, "node");
        msgpack_sbuffer_write(&m.sb, node.sb.data, node.sb.size);
        expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
               "node field 'name' appears twice");
        /* A field name that is not a string. */
        mp_clear(&node);
        msgpack_pack_map(&node.pk, 1);
        msgpack_pack_uint64(&node.pk, 1);
        msgpack_pack_uint64(&node.pk, 1);
        mp_clear(&m);
        msgpack_pack_map(&m.pk, 3);
        mp_str(&m, "id");
        msgpack_pack_uint64(&m.pk, 5);
        mp_str(&m, "op");
        mp_str(&m, "node.join");
        mp_str(&m, "node");
        msgpack_sbuffer_write(&m.sb, node.sb.data, node.sb.size);
        expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "not a string");
        mp_free(&node);
    }
    /* node itself: not a map, or missing. */
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "node.join");
    mp_str(&m, "node");
    msgpack_pack_uint64(&m.pk, 3);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "field 'node' must be a map");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 2);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "node.join");
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'node' is missing");
    mp_free(&m);
}

static void test_node_join_values(void **state)
{
    static const char *const addresses[] = {"client", "peer", "http"};
    char big[CAIRN_TAG_MAX + 2];
    const char *tags[CAIRN_TAGS_MAX + 1];
    char tagbuf[CAIRN_TAGS_MAX + 1][16];
    struct mp m;
    (void)state;
    mp_init(&m);
    memset(big, 'a', sizeof big);
    /* id 0. */
    join_req(&m, "id", "\x00", 1);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "node field 'id'");
    join_req(&m, "id", "\x01", 1);
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    /* Names and clusters: [A-Za-z0-9_.-]{1,64}. */
    for (int c = 0; c < 2; c++) {
        const char *f = c == 0 ? "name" : "cluster";
        char part[32];
        snprintf(part, sizeof part, "node field '%s'", f);
        join_str(&m, f, big, CAIRN_WIRE_NODE_NAME_MAX);
        expect(m.sb.data, m.sb.size, 0, 5, NULL);
        join_str(&m, f, big, CAIRN_WIRE_NODE_NAME_MAX + 1);
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, part);
        join_str(&m, f, "", 0);
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, part);
        join_str(&m, f, S("bad name"));
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'bad name'");
        join_str(&m, f, S("a/b"));
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, part);
        join_str(&m, f, "ab\0cd", 5);
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, part);
        join_str(&m, f, S("Az09_.-"));
        expect(m.sb.data, m.sb.size, 0, 5, NULL);
    }
    /* Addresses: 1..64 bytes, no NUL. */
    for (size_t i = 0; i < sizeof addresses / sizeof addresses[0]; i++) {
        char part[32];
        snprintf(part, sizeof part, "node field '%s'", addresses[i]);
        join_str(&m, addresses[i], big, CAIRN_WIRE_ADDRESS_MAX);
        expect(m.sb.data, m.sb.size, 0, 5, NULL);
        join_str(&m, addresses[i], big, CAIRN_WIRE_ADDRESS_MAX + 1);
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, part);
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "64");
        join_str(&m, addresses[i], "", 0);
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, part);
        join_str(&m, addresses[i], "1.2.3.4\0:1", 10);
        expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, part);
    }
    /* Tags: key:value of at most CAIRN_TAG_MAX bytes, no repeats, at most
     * CAIRN_TAGS_MAX of them. */
    {
        static const char *const bad[] = {"nocolon", ":v", "k:", ":", "",
                                          "k\0:v", ":key", "key:", ":::"};
        static const size_t bad_len[] = {7, 2, 2, 1, 0, 4, 4, 4, 3};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            struct mp v;
            mp_init(&v);
            msgpack_pack_array(&v.pk, 2);
            mp_str(&v, "zone:a");
            msgpack_pack_str_with_body(&v.pk, bad[i], bad_len[i]);
            join_req(&m, "tags", v.sb.data, v.sb.size);
            expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5,
                   "node field 'tags': tag 1");
            mp_free(&v);
        }
    }
    memcpy(big, "k:", 2);
    big[CAIRN_TAG_MAX] = '\0';
    tags[0] = big;
    join_tags(&m, tags, 1);
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    big[CAIRN_TAG_MAX] = 'a';
    big[CAIRN_TAG_MAX + 1] = '\0';
    join_tags(&m, tags, 1);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'tags'");
    tags[0] = "zone:a";
    tags[1] = "disk:ssd";
    tags[2] = "zone:a";
    join_tags(&m, tags, 3);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "appears twice");
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'zone:a'");
    tags[2] = "zone:b"; /* same key, another value: a different tag */
    join_tags(&m, tags, 3);
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    for (int i = 0; i <= CAIRN_TAGS_MAX; i++) {
        snprintf(tagbuf[i], sizeof tagbuf[i], "t%d:x", i);
        tags[i] = tagbuf[i];
    }
    join_tags(&m, tags, CAIRN_TAGS_MAX);
    expect(m.sb.data, m.sb.size, 0, 5, NULL);
    join_tags(&m, tags, CAIRN_TAGS_MAX + 1);
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "'tags'");
    expect(m.sb.data, m.sb.size, CAIRN_ETOOLARGE, 5, "16");
    mp_free(&m);
}

/* {id: 5, op: "node.remove", node: <val>} */
static void remove_req(struct mp *m, const void *val, size_t len)
{
    mp_clear(m);
    msgpack_pack_map(&m->pk, 3);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "node.remove");
    mp_str(m, "node");
    msgpack_sbuffer_write(&m->sb, val, len);
}

static void test_node_remove(void **state)
{
    struct mp m;
    struct cairn_wire_request d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    remove_req(&m, "\x07", 1);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.op, CAIRN_WIRE_NODE_REMOVE);
    assert_int_equal(d.node_id, 7);
    assert_null(d.node);
    cairn_wire_request_release(&d);
    remove_req(&m, "\x00", 1);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'node'");
    remove_req(&m, "\xa1" "7", 2);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "field 'node' must be an unsigned integer");
    remove_req(&m, "\xff", 1);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'node'");
    remove_req(&m, "\x81\xa2id\x07", 5); /* a map, as node.join's */
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'node'");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 2);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "node.remove");
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'node' is missing");
    mp_free(&m);
}

/* A msgpack value given as bytes; NULL .p: the field is left out. */
struct mpval {
    const char *p;
    size_t n;
};
#define V(lit) ((struct mpval){(lit), sizeof(lit) - 1})
#define ABSENT ((struct mpval){NULL, 0})
#define U64_MAX_MP "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"

/* {id: 5, op: "bucket.leader", bucket, group, node, term}. */
static void leader_req(struct mp *m, struct mpval bucket, struct mpval group,
                       struct mpval node, struct mpval term)
{
    const char *names[4] = {"bucket", "group", "node", "term"};
    struct mpval vals[4] = {bucket, group, node, term};
    uint32_t n = 2;
    for (int i = 0; i < 4; i++) {
        n += vals[i].p != NULL;
    }
    mp_clear(m);
    msgpack_pack_map(&m->pk, n);
    mp_str(m, "id");
    msgpack_pack_uint64(&m->pk, 5);
    mp_str(m, "op");
    mp_str(m, "bucket.leader");
    for (int i = 0; i < 4; i++) {
        if (vals[i].p != NULL) {
            mp_str(m, names[i]);
            msgpack_sbuffer_write(&m->sb, vals[i].p, vals[i].n);
        }
    }
}

static void test_bucket_leader(void **state)
{
    struct mp m;
    struct cairn_wire_request d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    leader_req(&m, V("\xa2" "b1"), V("\x07"), V("\x02"), V("\x05"));
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.op, CAIRN_WIRE_BUCKET_LEADER);
    assert_string_equal(d.bucket, "b1");
    assert_int_equal(d.group, 7);
    assert_int_equal(d.node_id, 2);
    assert_int_equal(d.term, 5);
    assert_int_equal(d.has, 0);
    cairn_wire_request_release(&d);
    /* u64 at its top. */
    leader_req(&m, V("\xa2" "b1"), V(U64_MAX_MP), V(U64_MAX_MP),
               V(U64_MAX_MP));
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.group, UINT64_MAX);
    assert_int_equal(d.node_id, UINT64_MAX);
    assert_int_equal(d.term, UINT64_MAX);
    cairn_wire_request_release(&d);
    /* 0 is no group, node or term. */
    leader_req(&m, V("\xa2" "b1"), V("\x00"), V("\x02"), V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5,
           "field 'group' must be at least 1");
    leader_req(&m, V("\xa2" "b1"), V("\x07"), V("\x00"), V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5,
           "field 'node' must be at least 1");
    leader_req(&m, V("\xa2" "b1"), V("\x07"), V("\x02"), V("\x00"));
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5,
           "field 'term' must be at least 1");
    /* Each field is required. */
    leader_req(&m, ABSENT, V("\x07"), V("\x02"), V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'bucket' is missing");
    leader_req(&m, V("\xa2" "b1"), ABSENT, V("\x02"), V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'group' is missing");
    leader_req(&m, V("\xa2" "b1"), V("\x07"), ABSENT, V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'node' is missing");
    leader_req(&m, V("\xa2" "b1"), V("\x07"), V("\x02"), ABSENT);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5, "'term' is missing");
    /* Types: node is an id here (a map only in node.join); the bucket is
     * a valid name. */
    leader_req(&m, V("\xa2" "b1"), V("\x07"), V("\x81\xa2id\x07"), V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "field 'node' must be an unsigned integer");
    leader_req(&m, V("\xa2" "b1"), V("\xff"), V("\x02"), V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "field 'group' must be an unsigned integer");
    leader_req(&m, V("\xa2" "b1"), V("\x07"), V("\x02"), V("\xa1" "5"));
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "field 'term' must be an unsigned integer");
    leader_req(&m, V("\xa2" "b."), V("\x07"), V("\x02"), V("\x05"));
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'bucket'");
    /* group and term belong to bucket.leader only. */
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "node.remove");
    mp_str(&m, "node");
    msgpack_pack_uint64(&m.pk, 2);
    mp_str(&m, "term");
    msgpack_pack_uint64(&m.pk, 2);
    expect(m.sb.data, m.sb.size, CAIRN_EMALFORMED, 5,
           "field 'term' is not used by op 'node.remove'");
    mp_free(&m);
}

#undef V
#undef ABSENT
#undef U64_MAX_MP

/* "node" on ops that do not take it (test_fields_an_op_does_not_use
 * covers every op; these are the near misses). */
static void test_node_on_other_ops(void **state)
{
    struct mp m, v, out;
    (void)state;
    mp_init(&m);
    mp_init(&v);
    mp_init(&out);
    good_node(&v);
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 2);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "cluster.status");
    map_edit(m.sb.data, m.sb.size, "node", v.sb.data, v.sb.size, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 5,
           "field 'node' is not used by op 'cluster.status'");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "hello");
    mp_str(&m, "version");
    msgpack_pack_uint64(&m.pk, 1);
    map_edit(m.sb.data, m.sb.size, "node", "\x03", 1, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 5,
           "field 'node' is not used by op 'hello'");
    /* And node.join's fields at the top level instead of inside node. */
    join_req(&m, NULL, NULL, 0);
    map_edit(m.sb.data, m.sb.size, "client", "\xa1x", 2, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 5,
           "field 'client' is not used by op 'node.join'");
    map_edit(m.sb.data, m.sb.size, "bucket", "\xa1x", 2, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 5,
           "field 'bucket' is not used by op 'node.join'");
    mp_free(&m);
    mp_free(&v);
    mp_free(&out);
}

/* watch and watch.cancel values: a key or a prefix, not both; "from" and
 * "watch" at least 1; an empty key is refused, an empty prefix is the
 * whole bucket. */
static void test_watch_values(void **state)
{
    struct mp m, out;
    struct cairn_wire_request d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    mp_init(&out);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "watch");
    mp_str(&m, "bucket");
    mp_str(&m, "b");
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.has, 0);
    cairn_wire_request_release(&d);
    map_edit(m.sb.data, m.sb.size, "key", "\xc4\x01k", 3, &out);
    map_edit(out.sb.data, out.sb.size, "prefix", "\xc4\x01k", 3, &m);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "exclude each other");
    map_edit(m.sb.data, m.sb.size, "prefix", NULL, 0, &out);
    assert_int_equal(dec(out.sb.data, out.sb.size, &d, err), 0);
    assert_int_equal(d.has, CAIRN_WIRE_REQ_KEY);
    cairn_wire_request_release(&d);
    map_edit(out.sb.data, out.sb.size, "key", "\xc4\x00", 2, &m);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5, "'key' is empty");
    map_edit(m.sb.data, m.sb.size, "key", NULL, 0, &out);
    map_edit(out.sb.data, out.sb.size, "prefix", "\xc4\x00", 2, &m);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.has, CAIRN_WIRE_REQ_PREFIX);
    assert_int_equal(d.prefix_len, 0);
    cairn_wire_request_release(&d);
    map_edit(m.sb.data, m.sb.size, "from", "\x00", 1, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EINVAL, 5,
           "field 'from' must be a revision");
    map_edit(m.sb.data, m.sb.size, "from", "\x01", 1, &out);
    assert_int_equal(dec(out.sb.data, out.sb.size, &d, err), 0);
    assert_int_equal(d.from, 1);
    cairn_wire_request_release(&d);
    /* "from", "latest" and "watch" belong to their ops only. */
    map_edit(m.sb.data, m.sb.size, "watch", "\x01", 1, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 5,
           "field 'watch' is not used by op 'watch'");
    mp_clear(&m);
    msgpack_pack_map(&m.pk, 3);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 5);
    mp_str(&m, "op");
    mp_str(&m, "watch.cancel");
    mp_str(&m, "watch");
    msgpack_pack_uint64(&m.pk, 0);
    expect(m.sb.data, m.sb.size, CAIRN_EINVAL, 5,
           "field 'watch' must be a request id");
    map_edit(m.sb.data, m.sb.size, "from", "\x01", 1, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EMALFORMED, 5,
           "field 'from' is not used by op 'watch.cancel'");
    mp_free(&m);
    mp_free(&out);
}

/* scan with "from": a revision, at least 1, and never with a key-order
 * position (start, end, cursor). */
static void test_scan_from_values(void **state)
{
    struct mp m, out;
    struct cairn_wire_request d;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    mp_init(&m);
    mp_init(&out);
    msgpack_pack_map(&m.pk, 4);
    mp_str(&m, "id");
    msgpack_pack_uint64(&m.pk, 6);
    mp_str(&m, "op");
    mp_str(&m, "scan");
    mp_str(&m, "bucket");
    mp_str(&m, "b");
    mp_str(&m, "from");
    msgpack_pack_uint64(&m.pk, 7);
    assert_int_equal(dec(m.sb.data, m.sb.size, &d, err), 0);
    assert_int_equal(d.has, CAIRN_WIRE_REQ_FROM);
    assert_int_equal(d.from, 7);
    cairn_wire_request_release(&d);
    map_edit(m.sb.data, m.sb.size, "from", "\x00", 1, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EINVAL, 6,
           "field 'from' of a scan must be a revision");
    map_edit(m.sb.data, m.sb.size, "cursor", "\xc4\x01k", 3, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EINVAL, 6, "without 'start'");
    map_edit(m.sb.data, m.sb.size, "start", "\xc4\x01k", 3, &out);
    expect(out.sb.data, out.sb.size, CAIRN_EINVAL, 6, "without 'start'");
    map_edit(m.sb.data, m.sb.size, "prefix", "\xc4\x01k", 3, &out);
    assert_int_equal(dec(out.sb.data, out.sb.size, &d, err), 0);
    assert_int_equal(d.has, CAIRN_WIRE_REQ_FROM | CAIRN_WIRE_REQ_PREFIX);
    cairn_wire_request_release(&d);
    mp_free(&m);
    mp_free(&out);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_op),
        cmocka_unit_test(test_optional_fields_one_by_one),
        cmocka_unit_test(test_per_op_encoders),
        cmocka_unit_test(test_encoder_refuses),
        cmocka_unit_test(test_truncated_at_every_length),
        cmocka_unit_test(test_garbage_and_not_a_map),
        cmocka_unit_test(test_id_handling),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_fields_an_op_does_not_use),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_nil_anywhere),
        cmocka_unit_test(test_repeated_field),
        cmocka_unit_test(test_limit_key_and_meta),
        cmocka_unit_test(test_limit_bucket_name),
        cmocka_unit_test(test_bucket_create_config),
        cmocka_unit_test(test_limit_scan_bounds),
        cmocka_unit_test(test_scan_from_values),
        cmocka_unit_test(test_limit_txn),
        cmocka_unit_test(test_txn_elements),
        cmocka_unit_test(test_node_join_decode),
        cmocka_unit_test(test_node_join_structure),
        cmocka_unit_test(test_node_join_values),
        cmocka_unit_test(test_node_remove),
        cmocka_unit_test(test_bucket_leader),
        cmocka_unit_test(test_node_on_other_ops),
        cmocka_unit_test(test_watch_values),
    };
    RUN_TESTS("client_wire_request", tests, argc, argv);
}
