/*
 * The client protocol codec (docs/protocol.md), part 2: responses. The
 * node encodes them (cairn_wire_reply_*, cairn_wire_response_encode), the
 * client library decodes them (cairn_wire_response_decode, then
 * cairn_wire_response_check against the request's op).
 */
#include <limits.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>

#include "wire_internal.h"

/* Response fields, in the order the encoder writes them. */
enum {
    SF_ID,
    SF_STATUS,
    SF_CODE,
    SF_ERR,
    SF_ERROR,
    SF_VERSION,
    SF_NODE,
    SF_NAME,
    SF_CLUSTER,
    SF_CREATED,
    SF_INFO,
    SF_ENTRY,
    SF_EXISTS,
    SF_REV,
    SF_LAST_REV,
    SF_ENTRIES,
    SF_MORE,
    SF_CURSOR,
    SF_COUNT,
    SF_NODES,
    SF_BUCKETS,
    SF_ROLE,
    SF_AT,
    SF_FAILED,
    SF_LEADER,
    SF_VERSIONS,
    SF_EVENT,
    SF_SYNCED,
    SF__COUNT
};

static const char *const sf_names[SF__COUNT] = {
    [SF_ID] = "id",           [SF_STATUS] = "status",
    [SF_CODE] = "code",       [SF_ERR] = "err",
    [SF_ERROR] = "error",     [SF_VERSION] = "version",
    [SF_NODE] = "node",       [SF_NAME] = "name",
    [SF_CLUSTER] = "cluster", [SF_CREATED] = "created",
    [SF_INFO] = "info",       [SF_ENTRY] = "entry",
    [SF_EXISTS] = "exists",   [SF_REV] = "rev",
    [SF_LAST_REV] = "last_rev", [SF_ENTRIES] = "entries",
    [SF_MORE] = "more",       [SF_CURSOR] = "cursor",
    [SF_COUNT] = "count",     [SF_NODES] = "nodes",
    [SF_BUCKETS] = "buckets", [SF_ROLE] = "role",
    [SF_AT] = "at",
    [SF_FAILED] = "failed",   [SF_LEADER] = "leader",
    [SF_VERSIONS] = "versions", [SF_EVENT] = "event",
    [SF_SYNCED] = "synced",
};

/* The .has bit of each field (0: id, status and the error trio). */
static const uint32_t sf_has[SF__COUNT] = {
    [SF_VERSION] = CAIRN_WIRE_RES_VERSION,
    [SF_NODE] = CAIRN_WIRE_RES_NODE,
    [SF_NAME] = CAIRN_WIRE_RES_NAME,
    [SF_CLUSTER] = CAIRN_WIRE_RES_CLUSTER,
    [SF_CREATED] = CAIRN_WIRE_RES_CREATED,
    [SF_INFO] = CAIRN_WIRE_RES_INFO,
    [SF_ENTRY] = CAIRN_WIRE_RES_ENTRY,
    [SF_EXISTS] = CAIRN_WIRE_RES_EXISTS,
    [SF_REV] = CAIRN_WIRE_RES_REV,
    [SF_LAST_REV] = CAIRN_WIRE_RES_LAST_REV,
    [SF_ENTRIES] = CAIRN_WIRE_RES_ENTRIES,
    [SF_MORE] = CAIRN_WIRE_RES_MORE,
    [SF_CURSOR] = CAIRN_WIRE_RES_CURSOR,
    [SF_COUNT] = CAIRN_WIRE_RES_COUNT,
    [SF_NODES] = CAIRN_WIRE_RES_NODES,
    [SF_BUCKETS] = CAIRN_WIRE_RES_BUCKETS,
    [SF_ROLE] = CAIRN_WIRE_RES_ROLE,
    [SF_AT] = CAIRN_WIRE_RES_AT,
    [SF_FAILED] = CAIRN_WIRE_RES_FAILED,
    [SF_LEADER] = CAIRN_WIRE_RES_LEADER,
    [SF_VERSIONS] = CAIRN_WIRE_RES_VERSIONS,
    [SF_EVENT] = CAIRN_WIRE_RES_EVENT,
    [SF_SYNCED] = CAIRN_WIRE_RES_SYNCED,
};

#define RB(f) (1u << SF_##f)
#define READ_OPT RB(AT)

/* The fields of each op's status-200 response: required, optional. */
static const struct {
    uint32_t required;
    uint32_t optional;
} res_rows[CAIRN_WIRE__OP_COUNT] = {
    [CAIRN_WIRE_HELLO] = {RB(VERSION) | RB(NODE) | RB(NAME) | RB(CLUSTER), 0},
    [CAIRN_WIRE_BUCKET_CREATE] = {RB(CREATED), 0},
    [CAIRN_WIRE_BUCKET_DELETE] = {0, 0},
    [CAIRN_WIRE_BUCKET_LIST] = {RB(BUCKETS), 0},
    [CAIRN_WIRE_BUCKET_INFO] = {RB(INFO), 0},
    [CAIRN_WIRE_GET] = {RB(ENTRY), READ_OPT},
    [CAIRN_WIRE_EXISTS] = {RB(EXISTS) | RB(REV), READ_OPT},
    [CAIRN_WIRE_PUT] = {RB(REV), 0},
    [CAIRN_WIRE_CREATE] = {RB(REV), 0},
    [CAIRN_WIRE_UPDATE] = {RB(REV), 0},
    [CAIRN_WIRE_CAS] = {RB(REV), 0},
    [CAIRN_WIRE_DELETE] = {RB(REV), 0},
    [CAIRN_WIRE_PURGE] = {RB(REV), 0},
    [CAIRN_WIRE_HISTORY] = {RB(ENTRIES), READ_OPT},
    [CAIRN_WIRE_SCAN] = {RB(ENTRIES) | RB(MORE), RB(CURSOR) | READ_OPT},
    [CAIRN_WIRE_COUNT] = {RB(COUNT), READ_OPT},
    [CAIRN_WIRE_TXN] = {RB(REV) | RB(LAST_REV), 0},
    [CAIRN_WIRE_CLUSTER_STATUS] = {RB(NODES) | RB(BUCKETS), 0},
    [CAIRN_WIRE_NODE_JOIN] = {RB(ROLE), 0},
    [CAIRN_WIRE_NODE_REMOVE] = {0, 0},
    [CAIRN_WIRE_BUCKET_LEADER] = {0, 0},
    /* Each watch frame has an event, or a revision (with "synced" at the
     * end of the initial data): cairn_wire_response_check() checks that. */
    [CAIRN_WIRE_WATCH] = {0, RB(EVENT) | RB(SYNCED) | RB(REV)},
    [CAIRN_WIRE_WATCH_CANCEL] = {0, 0},
};

/* The extras of an error response, by their .has bits. */
#define ERROR_EXTRAS (RB(REV) | RB(FAILED) | RB(LEADER) | RB(VERSIONS))

static const char *const entry_ops[] = {
    [CAIRN_OP_PUT] = "put",
    [CAIRN_OP_DEL] = "delete",
    [CAIRN_OP_PURGE] = "purge",
};

static bool op_valid(uint32_t op)
{
    return op > CAIRN_WIRE_OP_NONE && op < CAIRN_WIRE__OP_COUNT;
}

static uint32_t has_to_fields(uint32_t has)
{
    uint32_t fields = 0;
    for (uint32_t f = 0; f < SF__COUNT; f++) {
        if (sf_has[f] != 0 && (has & sf_has[f])) {
            fields |= 1u << f;
        }
    }
    return fields;
}

static uint32_t popcount32(uint32_t v)
{
    uint32_t n = 0;
    for (; v != 0; v &= v - 1) {
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------------
 * Encoding
 * ---------------------------------------------------------------------- */

static void pack_wstr(msgpack_packer *pk, struct cairn_wire_str s)
{
    wire_pack_strn(pk, s.ptr, s.len);
}

static bool entry_ok(const struct cairn_wire_entry *e)
{
    return e->op >= CAIRN_OP_PUT && e->op <= CAIRN_OP_PURGE;
}

static void pack_entry(msgpack_packer *pk, const struct cairn_wire_entry *e)
{
    msgpack_pack_map(pk, 6 + (e->has_value ? 1u : 0u) +
                             (e->has_meta ? 1u : 0u));
    wire_pack_str(pk, "key");
    wire_pack_bin(pk, e->key, e->key_len);
    if (e->has_value) {
        wire_pack_str(pk, "val");
        wire_pack_bin(pk, e->value, e->value_len);
    }
    if (e->has_meta) {
        wire_pack_str(pk, "meta");
        wire_pack_bin(pk, e->meta, e->meta_len);
    }
    wire_pack_str(pk, "rev");
    msgpack_pack_uint64(pk, e->revision);
    wire_pack_str(pk, "create_rev");
    msgpack_pack_uint64(pk, e->create_revision);
    wire_pack_str(pk, "updated");
    msgpack_pack_uint64(pk, e->updated);
    wire_pack_str(pk, "expires");
    msgpack_pack_uint64(pk, e->expires);
    wire_pack_str(pk, "op");
    wire_pack_str(pk, entry_ok(e) ? entry_ops[e->op] : "?");
}

static void pack_replicas(msgpack_packer *pk,
                          const struct cairn_wire_replica *r, uint32_t n)
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, r[i].has_lag ? 5 : 3);
        wire_pack_str(pk, "node");
        msgpack_pack_uint64(pk, r[i].node);
        wire_pack_str(pk, "leader");
        wire_pack_bool(pk, r[i].leader);
        wire_pack_str(pk, "applied");
        msgpack_pack_uint64(pk, r[i].applied);
        if (r[i].has_lag) {
            wire_pack_str(pk, "lag");
            msgpack_pack_uint64(pk, r[i].lag);
            wire_pack_str(pk, "active");
            wire_pack_bool(pk, r[i].active);
        }
    }
}

static void pack_info(msgpack_packer *pk,
                      const struct cairn_wire_bucket_info *info)
{
    msgpack_pack_map(pk, 8);
    wire_pack_str(pk, "config");
    cairn_wire_config_pack(pk, &info->config);
    wire_pack_str(pk, "created");
    msgpack_pack_uint64(pk, info->created);
    wire_pack_str(pk, "keys");
    msgpack_pack_uint64(pk, info->keys);
    wire_pack_str(pk, "bytes");
    msgpack_pack_uint64(pk, info->bytes);
    wire_pack_str(pk, "stored_bytes");
    msgpack_pack_uint64(pk, info->stored_bytes);
    wire_pack_str(pk, "rev");
    msgpack_pack_uint64(pk, info->rev);
    wire_pack_str(pk, "compacted");
    msgpack_pack_uint64(pk, info->compacted);
    wire_pack_str(pk, "replicas");
    pack_replicas(pk, info->replicas, info->n_replicas);
}

static void pack_nodes(msgpack_packer *pk, const struct cairn_wire_node *n,
                       uint32_t count)
{
    msgpack_pack_array(pk, count);
    for (uint32_t i = 0; i < count; i++) {
        cairn_wire__node_pack(pk, &n[i], true);
    }
}

static void pack_buckets(msgpack_packer *pk,
                         const struct cairn_wire_bucket_status *b, uint32_t n,
                         bool names_only)
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        if (names_only) {
            pack_wstr(pk, b[i].name);
            continue;
        }
        msgpack_pack_map(pk, 2);
        wire_pack_str(pk, "name");
        pack_wstr(pk, b[i].name);
        wire_pack_str(pk, "replicas");
        pack_replicas(pk, b[i].replicas, b[i].n_replicas);
    }
}

/* Pack field @f of @res (key and value). */
static void pack_res_field(msgpack_packer *pk, uint32_t f, uint32_t op,
                           const struct cairn_wire_response *res)
{
    wire_pack_str(pk, sf_names[f]);
    switch (f) {
        case SF_ID:
            msgpack_pack_uint64(pk, res->id);
            break;
        case SF_STATUS:
            msgpack_pack_int(pk, res->status);
            break;
        case SF_CODE:
            pack_wstr(pk, res->code);
            break;
        case SF_ERR:
            msgpack_pack_int(pk, res->err);
            break;
        case SF_ERROR:
            pack_wstr(pk, res->error);
            break;
        case SF_VERSION:
            msgpack_pack_uint64(pk, res->version);
            break;
        case SF_NODE:
            msgpack_pack_uint64(pk, res->node);
            break;
        case SF_NAME:
            pack_wstr(pk, res->name);
            break;
        case SF_CLUSTER:
            pack_wstr(pk, res->cluster);
            break;
        case SF_CREATED:
            msgpack_pack_uint64(pk, res->created);
            break;
        case SF_INFO:
            pack_info(pk, res->info);
            break;
        case SF_ENTRY:
            pack_entry(pk, &res->entry);
            break;
        case SF_EXISTS:
            wire_pack_bool(pk, res->exists);
            break;
        case SF_REV:
            msgpack_pack_uint64(pk, res->rev);
            break;
        case SF_LAST_REV:
            msgpack_pack_uint64(pk, res->last_rev);
            break;
        case SF_ENTRIES:
            msgpack_pack_array(pk, res->n_entries);
            for (uint32_t i = 0; i < res->n_entries; i++) {
                pack_entry(pk, &res->entries[i]);
            }
            break;
        case SF_MORE:
            wire_pack_bool(pk, res->more);
            break;
        case SF_CURSOR:
            wire_pack_bin(pk, res->cursor, res->cursor_len);
            break;
        case SF_COUNT:
            msgpack_pack_uint64(pk, res->count);
            break;
        case SF_NODES:
            pack_nodes(pk, res->nodes, res->n_nodes);
            break;
        case SF_BUCKETS:
            pack_buckets(pk, res->buckets, res->n_buckets,
                         op == CAIRN_WIRE_BUCKET_LIST);
            break;
        case SF_ROLE:
            pack_wstr(pk, res->role);
            break;
        case SF_AT:
            msgpack_pack_uint64(pk, res->at);
            break;
        case SF_FAILED:
            msgpack_pack_uint32(pk, res->failed);
            break;
        case SF_LEADER:
            pack_wstr(pk, res->leader);
            break;
        case SF_VERSIONS:
            msgpack_pack_array(pk, res->n_versions);
            for (uint32_t i = 0; i < res->n_versions; i++) {
                msgpack_pack_uint64(pk, res->versions[i]);
            }
            break;
        case SF_EVENT:
            pack_entry(pk, &res->event);
            break;
        case SF_SYNCED:
            wire_pack_bool(pk, res->synced);
            break;
        default:
            break;
    }
}

/* Check what the packers would trip over. */
static int check_encodable(uint32_t fields,
                           const struct cairn_wire_response *res,
                           char *errmsg)
{
    if ((fields & RB(INFO)) && res->info == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "response field 'info' is missing");
    }
    if (((fields & RB(ENTRIES)) && res->n_entries > 0 &&
         res->entries == NULL) ||
        ((fields & RB(NODES)) && res->n_nodes > 0 && res->nodes == NULL) ||
        ((fields & RB(BUCKETS)) && res->n_buckets > 0 &&
         res->buckets == NULL)) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "response array is missing");
    }
    if (fields & RB(NODES)) {
        for (uint32_t i = 0; i < res->n_nodes; i++) {
            if (res->nodes[i].n_tags > 0 && res->nodes[i].tags == NULL) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "response nodes[%u] has %u tags "
                                        "and no array",
                                        i, res->nodes[i].n_tags);
            }
        }
    }
    if ((fields & RB(ENTRY)) && !entry_ok(&res->entry)) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "response entry has op %u", res->entry.op);
    }
    if ((fields & RB(EVENT)) && !entry_ok(&res->event)) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "response event has op %u", res->event.op);
    }
    if (fields & RB(ENTRIES)) {
        for (uint32_t i = 0; i < res->n_entries; i++) {
            if (!entry_ok(&res->entries[i])) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "response entries[%u] has op %u", i,
                                        res->entries[i].op);
            }
        }
    }
    if ((fields & RB(VERSIONS)) && res->n_versions > CAIRN_WIRE_VERSIONS_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "response has %u versions; at most %d",
                                res->n_versions, CAIRN_WIRE_VERSIONS_MAX);
    }
    return 0;
}

int cairn_wire_response_encode(struct cairn_wire_buf *out, uint32_t op,
                               const struct cairn_wire_response *res,
                               char *errmsg)
{
    msgpack_packer pk;
    uint32_t fields;
    size_t start;
    int rc;

    if (res->status == 200) {
        if (!op_valid(op)) {
            return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                    "response to unknown op %u", op);
        }
        fields = res_rows[op].required |
                 (has_to_fields(res->has) & res_rows[op].optional);
    } else {
        fields = RB(CODE) | RB(ERR) | RB(ERROR) |
                 (has_to_fields(res->has) & ERROR_EXTRAS);
    }
    fields |= RB(ID) | RB(STATUS);
    if ((rc = check_encodable(fields, res, errmsg)) != 0) {
        return rc;
    }
    start = cairn_wire_frame_begin(out, &pk);
    msgpack_pack_map(&pk, popcount32(fields));
    for (uint32_t f = 0; f < SF__COUNT; f++) {
        if (fields & (1u << f)) {
            pack_res_field(&pk, f, op, res);
        }
    }
    return cairn_wire_frame_end(out, start, errmsg);
}

static struct cairn_wire_str cstr(const char *s)
{
    struct cairn_wire_str v = {s != NULL ? s : "", s != NULL ? strlen(s) : 0};
    return v;
}

static void res_ok(struct cairn_wire_response *res, uint64_t id)
{
    memset(res, 0, sizeof *res);
    res->id = id;
    res->status = 200;
}

static void res_at(struct cairn_wire_response *res, const uint64_t *at)
{
    if (at != NULL) {
        res->has |= CAIRN_WIRE_RES_AT;
        res->at = *at;
    }
}

#define ENCODE(op, res) cairn_wire_response_encode(out, op, &(res), errmsg)

int cairn_wire_reply_error(struct cairn_wire_buf *out, uint64_t id, int code,
                           const char *msg,
                           const struct cairn_wire_error_extra *x,
                           char *errmsg)
{
    struct cairn_wire_response res;
    if (code == CAIRN_OK) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "an error response needs an error code");
    }
    memset(&res, 0, sizeof res);
    res.id = id;
    res.status = cairn_http_status(code);
    res.err = code;
    res.code = cstr(cairn_errname(code));
    res.error = cstr(msg != NULL ? msg : cairn_strerror(code));
    res.has = CAIRN_WIRE_RES_CODE;
    if (code == CAIRN_ECONFLICT) {
        res.has |= CAIRN_WIRE_RES_REV;
        res.rev = x != NULL ? x->rev : 0;
        if (x != NULL && x->has_failed) {
            res.has |= CAIRN_WIRE_RES_FAILED;
            res.failed = x->failed;
        }
    }
    if (code == CAIRN_ENOTLEADER && x != NULL && x->leader != NULL) {
        res.has |= CAIRN_WIRE_RES_LEADER;
        res.leader = cstr(x->leader);
    }
    if (code == CAIRN_EVERSION) {
        res.has |= CAIRN_WIRE_RES_VERSIONS;
        res.n_versions = 1;
        res.versions[0] = CAIRN_WIRE_VERSION;
    }
    return ENCODE(CAIRN_WIRE_OP_NONE, res);
}

int cairn_wire_reply_hello(struct cairn_wire_buf *out, uint64_t id,
                           uint64_t node, const char *name,
                           const char *cluster, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.version = CAIRN_WIRE_VERSION;
    res.node = node;
    res.name = cstr(name);
    res.cluster = cstr(cluster);
    return ENCODE(CAIRN_WIRE_HELLO, res);
}

int cairn_wire_reply_bucket_create(struct cairn_wire_buf *out, uint64_t id,
                                   uint64_t created, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.created = created;
    return ENCODE(CAIRN_WIRE_BUCKET_CREATE, res);
}

int cairn_wire_reply_bucket_delete(struct cairn_wire_buf *out, uint64_t id,
                                   char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    return ENCODE(CAIRN_WIRE_BUCKET_DELETE, res);
}

int cairn_wire_reply_bucket_list(struct cairn_wire_buf *out, uint64_t id,
                                 const char *const *names, uint32_t n,
                                 char *errmsg)
{
    msgpack_packer pk;
    size_t start;
    if (n > 0 && names == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "bucket.list response without names");
    }
    /* The same bytes as cairn_wire_response_encode() gives, without
     * building an array of views first. */
    start = cairn_wire_frame_begin(out, &pk);
    msgpack_pack_map(&pk, 3);
    wire_pack_str(&pk, "id");
    msgpack_pack_uint64(&pk, id);
    wire_pack_str(&pk, "status");
    msgpack_pack_int(&pk, 200);
    wire_pack_str(&pk, "buckets");
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++) {
        wire_pack_str(&pk, names[i] != NULL ? names[i] : "");
    }
    return cairn_wire_frame_end(out, start, errmsg);
}

int cairn_wire_reply_bucket_info(struct cairn_wire_buf *out, uint64_t id,
                                 const struct cairn_wire_bucket_info *info,
                                 char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.info = info;
    return ENCODE(CAIRN_WIRE_BUCKET_INFO, res);
}

int cairn_wire_reply_get(struct cairn_wire_buf *out, uint64_t id,
                         const struct cairn_wire_entry *e,
                         const uint64_t *at, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    if (e == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "get response without an entry");
    }
    res.entry = *e;
    res_at(&res, at);
    return ENCODE(CAIRN_WIRE_GET, res);
}

int cairn_wire_reply_exists(struct cairn_wire_buf *out, uint64_t id,
                            bool exists, uint64_t rev, const uint64_t *at,
                            char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.exists = exists;
    res.rev = rev;
    res_at(&res, at);
    return ENCODE(CAIRN_WIRE_EXISTS, res);
}

int cairn_wire_reply_write(struct cairn_wire_buf *out, uint64_t id,
                           uint64_t rev, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.rev = rev;
    return ENCODE(CAIRN_WIRE_PUT, res);
}

int cairn_wire_reply_history(struct cairn_wire_buf *out, uint64_t id,
                             const struct cairn_wire_entry *entries,
                             uint32_t n, const uint64_t *at, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.entries = entries;
    res.n_entries = n;
    res_at(&res, at);
    return ENCODE(CAIRN_WIRE_HISTORY, res);
}

int cairn_wire_reply_scan(struct cairn_wire_buf *out, uint64_t id,
                          const struct cairn_wire_entry *entries, uint32_t n,
                          bool more, const void *cursor, size_t cursor_len,
                          const uint64_t *at, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.entries = entries;
    res.n_entries = n;
    res.more = more;
    if (cursor != NULL) {
        res.has |= CAIRN_WIRE_RES_CURSOR;
        res.cursor = cursor;
        res.cursor_len = cursor_len;
    }
    res_at(&res, at);
    return ENCODE(CAIRN_WIRE_SCAN, res);
}

int cairn_wire_reply_count(struct cairn_wire_buf *out, uint64_t id,
                           uint64_t count, const uint64_t *at, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.count = count;
    res_at(&res, at);
    return ENCODE(CAIRN_WIRE_COUNT, res);
}

int cairn_wire_reply_txn(struct cairn_wire_buf *out, uint64_t id,
                         uint64_t rev, uint64_t last_rev, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.rev = rev;
    res.last_rev = last_rev;
    return ENCODE(CAIRN_WIRE_TXN, res);
}

int cairn_wire_reply_cluster_status(
    struct cairn_wire_buf *out, uint64_t id,
    const struct cairn_wire_node *nodes, uint32_t n_nodes,
    const struct cairn_wire_bucket_status *buckets, uint32_t n_buckets,
    char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.nodes = nodes;
    res.n_nodes = n_nodes;
    res.buckets = buckets;
    res.n_buckets = n_buckets;
    return ENCODE(CAIRN_WIRE_CLUSTER_STATUS, res);
}

int cairn_wire_reply_node_join(struct cairn_wire_buf *out, uint64_t id,
                               const char *role, char *errmsg)
{
    struct cairn_wire_response res;
    if (role == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "node.join response without a role");
    }
    res_ok(&res, id);
    res.role = cstr(role);
    return ENCODE(CAIRN_WIRE_NODE_JOIN, res);
}

int cairn_wire_reply_node_remove(struct cairn_wire_buf *out, uint64_t id,
                                 char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    return ENCODE(CAIRN_WIRE_NODE_REMOVE, res);
}

int cairn_wire_reply_bucket_leader(struct cairn_wire_buf *out, uint64_t id,
                                   char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    return ENCODE(CAIRN_WIRE_BUCKET_LEADER, res);
}

int cairn_wire_reply_watch_event(struct cairn_wire_buf *out, uint64_t id,
                                 const struct cairn_wire_entry *e,
                                 char *errmsg)
{
    struct cairn_wire_response res;
    if (e == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "watch event without an entry");
    }
    res_ok(&res, id);
    res.event = *e;
    res.has = CAIRN_WIRE_RES_EVENT;
    return ENCODE(CAIRN_WIRE_WATCH, res);
}

int cairn_wire_reply_watch_synced(struct cairn_wire_buf *out, uint64_t id,
                                  uint64_t rev, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.synced = true;
    res.rev = rev;
    res.has = CAIRN_WIRE_RES_SYNCED | CAIRN_WIRE_RES_REV;
    return ENCODE(CAIRN_WIRE_WATCH, res);
}

int cairn_wire_reply_watch_progress(struct cairn_wire_buf *out, uint64_t id,
                                    uint64_t rev, char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    res.rev = rev;
    res.has = CAIRN_WIRE_RES_REV;
    return ENCODE(CAIRN_WIRE_WATCH, res);
}

int cairn_wire_reply_watch_cancel(struct cairn_wire_buf *out, uint64_t id,
                                  char *errmsg)
{
    struct cairn_wire_response res;
    res_ok(&res, id);
    return ENCODE(CAIRN_WIRE_WATCH_CANCEL, res);
}

/* ------------------------------------------------------------------------
 * Entries written one by one
 * ---------------------------------------------------------------------- */

void cairn_wire_entries_begin(struct cairn_wire_entries_writer *ew,
                              struct cairn_wire_buf *out, uint64_t id)
{
    /* A fixmap whose count is set at the end, and an array32 whose count
     * is: both headers have a fixed size, so they can be patched. */
    static const char map_hdr = (char)0x80;
    static const char array_hdr[5] = {(char)0xdd, 0, 0, 0, 0};
    msgpack_packer pk;
    memset(ew, 0, sizeof *ew);
    ew->out = out;
    ew->start = cairn_wire_frame_begin(out, &pk);
    ew->map_at = out->len;
    (void)cairn_wire__buf_write(out, &map_hdr, 1);
    wire_pack_str(&pk, "id");
    msgpack_pack_uint64(&pk, id);
    wire_pack_str(&pk, "status");
    msgpack_pack_int(&pk, 200);
    wire_pack_str(&pk, "entries");
    ew->array_at = out->len;
    (void)cairn_wire__buf_write(out, array_hdr, sizeof array_hdr);
}

void cairn_wire_entries_add(struct cairn_wire_entries_writer *ew,
                            const struct cairn_wire_entry *e)
{
    msgpack_packer pk;
    if (!entry_ok(e)) {
        ew->error = CAIRN_EINVAL;
        return;
    }
    if (ew->n == UINT32_MAX) {
        ew->error = CAIRN_ETOOLARGE;
        return;
    }
    msgpack_packer_init(&pk, ew->out, cairn_wire__buf_write);
    pack_entry(&pk, e);
    ew->n++;
}

int cairn_wire_entries_end(struct cairn_wire_entries_writer *ew, uint32_t op,
                           bool more, const void *cursor, size_t cursor_len,
                           const uint64_t *at, char *errmsg)
{
    struct cairn_wire_buf *out = ew->out;
    uint32_t n_fields = 3;
    msgpack_packer pk;
    if (ew->error == 0 && op != CAIRN_WIRE_HISTORY && op != CAIRN_WIRE_SCAN) {
        ew->error = CAIRN_EINVAL;
    }
    if (ew->error != 0) {
        out->len = ew->start;
        out->frame_ = SIZE_MAX;
        out->failed_ = 0;
        return cairn_wire__fail(errmsg, ew->error,
                                ew->error == CAIRN_EINVAL
                                    ? "entries response: an entry has an "
                                      "unknown op, or op %u is not history "
                                      "or scan"
                                    : "entries response: too many entries "
                                      "(op %u)",
                                op);
    }
    msgpack_packer_init(&pk, out, cairn_wire__buf_write);
    if (op == CAIRN_WIRE_SCAN) {
        wire_pack_str(&pk, "more");
        wire_pack_bool(&pk, more);
        n_fields++;
        if (cursor != NULL) {
            wire_pack_str(&pk, "cursor");
            wire_pack_bin(&pk, cursor, cursor_len);
            n_fields++;
        }
    }
    if (at != NULL) {
        wire_pack_str(&pk, "at");
        msgpack_pack_uint64(&pk, *at);
        n_fields++;
    }
    if (out->failed_ == 0) {
        out->data[ew->map_at] = (uint8_t)(0x80 | n_fields);
        out->data[ew->array_at + 1] = (uint8_t)(ew->n >> 24);
        out->data[ew->array_at + 2] = (uint8_t)(ew->n >> 16);
        out->data[ew->array_at + 3] = (uint8_t)(ew->n >> 8);
        out->data[ew->array_at + 4] = (uint8_t)ew->n;
    }
    return cairn_wire_frame_end(out, ew->start, errmsg);
}

/* ------------------------------------------------------------------------
 * Decoding
 * ---------------------------------------------------------------------- */

/* Allocations of one decoded response, freed together. */
struct chunk {
    struct chunk *next;
    alignas(max_align_t) unsigned char data[];
};

static void *res_alloc(struct cairn_wire_response *res, size_t n,
                       size_t size)
{
    struct chunk *c;
    if (n == 0) {
        return NULL;
    }
    if (n > (SIZE_MAX - sizeof *c) / size) {
        return NULL;
    }
    c = calloc(1, sizeof *c + n * size);
    if (c == NULL) {
        return NULL;
    }
    c->next = res->owned_;
    res->owned_ = c;
    return c->data;
}

void cairn_wire_response_release(struct cairn_wire_response *res)
{
    struct chunk *c = res->owned_;
    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    res->owned_ = NULL;
    res->buckets = NULL;
    res->info = NULL;
    res->entries = NULL;
    res->nodes = NULL;
}

#define PROTO(...) cairn_wire__fail(errmsg, CAIRN_EPROTO, __VA_ARGS__)
#define NOMEM() cairn_wire__fail(errmsg, CAIRN_ENOMEM, "decode response")

/* Field @name of the map @o being decoded, for the walkers below: returns
 * the index of @k in @names, or @n (unknown: skipped). */
static size_t lookup(const msgpack_object *k, const char *const *names,
                     size_t n)
{
    size_t i = 0;
    while (i < n && !wire_key_is(k, names[i])) {
        i++;
    }
    return i;
}

/* Check that every field in @required (bits of @names) was @seen. */
static int need(uint32_t seen, uint32_t required, const char *const *names,
                const char *what, char *errmsg)
{
    uint32_t missing = required & ~seen;
    for (uint32_t i = 0; missing != 0; i++) {
        if (missing & (1u << i)) {
            return PROTO("response %s lacks field '%s'", what, names[i]);
        }
    }
    return 0;
}

static int decode_entry(const msgpack_object *o, struct cairn_wire_entry *e,
                        const char *what, char *errmsg)
{
    static const char *const names[] = {"key",     "val",     "meta",
                                        "rev",     "create_rev", "updated",
                                        "expires", "op"};
    uint32_t seen = 0;
    memset(e, 0, sizeof *e);
    if (o->type != MSGPACK_OBJECT_MAP) {
        return PROTO("response field '%s' is not a map", what);
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *v = &o->via.map.ptr[i].val;
        size_t f = lookup(&o->via.map.ptr[i].key, names, WIRE_N_OF(names));
        int bad = 0;
        switch (f) {
            case 0:
                bad = wire_get_bytes(v, &e->key, &e->key_len,
                                     CAIRN_WIRE_STRICT);
                break;
            case 1:
                e->has_value = true;
                bad = wire_get_bytes(v, &e->value, &e->value_len,
                                     CAIRN_WIRE_STRICT);
                break;
            case 2:
                e->has_meta = true;
                bad = wire_get_bytes(v, &e->meta, &e->meta_len,
                                     CAIRN_WIRE_STRICT);
                break;
            case 3:
                bad = wire_get_u64(v, &e->revision);
                break;
            case 4:
                bad = wire_get_u64(v, &e->create_revision);
                break;
            case 5:
                bad = wire_get_u64(v, &e->updated);
                break;
            case 6:
                bad = wire_get_u64(v, &e->expires);
                break;
            case 7:
                e->op = 0;
                for (uint32_t j = CAIRN_OP_PUT; j <= CAIRN_OP_PURGE; j++) {
                    if (wire_key_is(v, entry_ops[j])) {
                        e->op = j;
                    }
                }
                bad = e->op == 0;
                break;
            default:
                continue; /* unknown: skipped */
        }
        if (bad || (seen & (1u << f))) {
            return PROTO("response field '%s.%s' is malformed or repeated",
                         what, names[f]);
        }
        seen |= 1u << f;
    }
    return need(seen, 0xf9u /* all but val and meta */, names, what, errmsg);
}

static int decode_replicas(const msgpack_object *o,
                           struct cairn_wire_response *res,
                           const struct cairn_wire_replica **out,
                           uint32_t *n, char *errmsg)
{
    static const char *const names[] = {"node", "leader", "applied", "lag",
                                        "active"};
    struct cairn_wire_replica *r;
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PROTO("response field 'replicas' is not an array");
    }
    *n = o->via.array.size;
    r = res_alloc(res, *n, sizeof *r);
    if (r == NULL && *n > 0) {
        return NOMEM();
    }
    *out = r;
    for (uint32_t i = 0; i < *n; i++) {
        const msgpack_object *m = &o->via.array.ptr[i];
        uint32_t seen = 0;
        if (m->type != MSGPACK_OBJECT_MAP) {
            return PROTO("response replica %u is not a map", i);
        }
        for (uint32_t j = 0; j < m->via.map.size; j++) {
            const msgpack_object *v = &m->via.map.ptr[j].val;
            size_t f = lookup(&m->via.map.ptr[j].key, names, 5);
            int bad;
            switch (f) {
                case 0:
                    bad = wire_get_u64(v, &r[i].node);
                    break;
                case 1:
                    bad = wire_get_bool(v, &r[i].leader);
                    break;
                case 2:
                    bad = wire_get_u64(v, &r[i].applied);
                    break;
                case 3:
                    bad = wire_get_u64(v, &r[i].lag);
                    break;
                case 4:
                    bad = wire_get_bool(v, &r[i].active);
                    break;
                default:
                    continue;
            }
            if (bad || (seen & (1u << f))) {
                return PROTO("response replica field '%s' is malformed or "
                             "repeated",
                             names[f]);
            }
            seen |= 1u << f;
        }
        if (need(seen, 7, names, "replica", errmsg) != 0) {
            return CAIRN_EPROTO;
        }
        r[i].has_lag = (seen & (1u << 3)) != 0; /* "active" optional */
    }
    return 0;
}

static int decode_info(const msgpack_object *o,
                       struct cairn_wire_response *res, char *errmsg)
{
    static const char *const names[] = {"config", "created", "keys",
                                        "bytes",  "rev",     "compacted",
                                        "replicas", "stored_bytes"};
    struct cairn_wire_bucket_info *info;
    uint32_t seen = 0;
    int rc;
    if (o->type != MSGPACK_OBJECT_MAP) {
        return PROTO("response field 'info' is not a map");
    }
    info = res_alloc(res, 1, sizeof *info);
    if (info == NULL) {
        return NOMEM();
    }
    res->info = info;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *v = &o->via.map.ptr[i].val;
        size_t f = lookup(&o->via.map.ptr[i].key, names, WIRE_N_OF(names));
        int bad = 0;
        switch (f) {
            case 0:
                rc = cairn_wire_config_unpack(v, &info->config, 0, errmsg);
                if (rc != 0) {
                    cairn_wire__wrap(errmsg, "response field 'info.config'");
                    return CAIRN_EPROTO;
                }
                break;
            case 1:
                bad = wire_get_u64(v, &info->created);
                break;
            case 2:
                bad = wire_get_u64(v, &info->keys);
                break;
            case 3:
                bad = wire_get_u64(v, &info->bytes);
                break;
            case 4:
                bad = wire_get_u64(v, &info->rev);
                break;
            case 5:
                bad = wire_get_u64(v, &info->compacted);
                break;
            case 6:
                if ((rc = decode_replicas(v, res, &info->replicas,
                                          &info->n_replicas, errmsg)) != 0) {
                    return rc;
                }
                break;
            case 7:
                bad = wire_get_u64(v, &info->stored_bytes);
                break;
            default:
                continue;
        }
        if (bad || (seen & (1u << f))) {
            return PROTO("response field 'info.%s' is malformed or repeated",
                         names[f]);
        }
        seen |= 1u << f;
    }
    if ((seen & (1u << 7)) == 0) {
        info->stored_bytes = info->bytes; /* a node without compression */
    }
    return need(seen, 0x7f, names, "info", errmsg);
}

static int decode_entries(const msgpack_object *o,
                          struct cairn_wire_response *res, char *errmsg)
{
    struct cairn_wire_entry *e;
    char what[32];
    int rc;
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PROTO("response field 'entries' is not an array");
    }
    res->n_entries = o->via.array.size;
    e = res_alloc(res, res->n_entries, sizeof *e);
    if (e == NULL && res->n_entries > 0) {
        return NOMEM();
    }
    res->entries = e;
    for (uint32_t i = 0; i < res->n_entries; i++) {
        snprintf(what, sizeof what, "entries[%u]", i);
        if ((rc = decode_entry(&o->via.array.ptr[i], &e[i], what, errmsg))) {
            return rc;
        }
    }
    return 0;
}

static int decode_strs(const msgpack_object *o, struct cairn_wire_response *res,
                       const struct cairn_wire_str **out, uint32_t *n,
                       const char *what, char *errmsg)
{
    struct cairn_wire_str *s;
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PROTO("response field '%s' is not an array", what);
    }
    *n = o->via.array.size;
    s = res_alloc(res, *n, sizeof *s);
    if (s == NULL && *n > 0) {
        return NOMEM();
    }
    *out = s;
    for (uint32_t i = 0; i < *n; i++) {
        if (wire_get_strview(&o->via.array.ptr[i], &s[i]) != 0) {
            return PROTO("response field '%s' holds a non-string", what);
        }
    }
    return 0;
}

static int decode_nodes(const msgpack_object *o,
                        struct cairn_wire_response *res, char *errmsg)
{
    /* The first six are required; "http" and "role" are optional (a node
     * without an HTTP address, or outside the meta group, and servers
     * older than them). */
    static const char *const names[] = {"id",   "name",    "client",
                                        "peer", "tags",    "cluster",
                                        "http", "role"};
    struct cairn_wire_node *nd;
    int rc;
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PROTO("response field 'nodes' is not an array");
    }
    res->n_nodes = o->via.array.size;
    nd = res_alloc(res, res->n_nodes, sizeof *nd);
    if (nd == NULL && res->n_nodes > 0) {
        return NOMEM();
    }
    res->nodes = nd;
    for (uint32_t i = 0; i < res->n_nodes; i++) {
        const msgpack_object *m = &o->via.array.ptr[i];
        uint32_t seen = 0;
        if (m->type != MSGPACK_OBJECT_MAP) {
            return PROTO("response nodes[%u] is not a map", i);
        }
        for (uint32_t j = 0; j < m->via.map.size; j++) {
            const msgpack_object *v = &m->via.map.ptr[j].val;
            size_t f = lookup(&m->via.map.ptr[j].key, names,
                              WIRE_N_OF(names));
            int bad = 0;
            switch (f) {
                case 0:
                    bad = wire_get_u64(v, &nd[i].id);
                    break;
                case 1:
                    bad = wire_get_strview(v, &nd[i].name);
                    break;
                case 2:
                    bad = wire_get_strview(v, &nd[i].client);
                    break;
                case 3:
                    bad = wire_get_strview(v, &nd[i].peer);
                    break;
                case 4:
                    if ((rc = decode_strs(v, res, &nd[i].tags, &nd[i].n_tags,
                                          "nodes.tags", errmsg)) != 0) {
                        return rc;
                    }
                    break;
                case 5:
                    bad = wire_get_strview(v, &nd[i].cluster);
                    break;
                case 6:
                    bad = wire_get_strview(v, &nd[i].http);
                    break;
                case 7:
                    bad = wire_get_strview(v, &nd[i].role);
                    break;
                default:
                    continue;
            }
            if (bad || (seen & (1u << f))) {
                return PROTO("response nodes[%u] field '%s' is malformed "
                             "or repeated",
                             i, names[f]);
            }
            seen |= 1u << f;
        }
        if ((rc = need(seen, 0x3f, names, "node", errmsg)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int decode_buckets(const msgpack_object *o,
                          struct cairn_wire_response *res, char *errmsg)
{
    static const char *const names[] = {"name", "replicas"};
    struct cairn_wire_bucket_status *b;
    uint32_t n_str = 0;
    int rc;
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PROTO("response field 'buckets' is not an array");
    }
    res->n_buckets = o->via.array.size;
    b = res_alloc(res, res->n_buckets, sizeof *b);
    if (b == NULL && res->n_buckets > 0) {
        return NOMEM();
    }
    res->buckets = b;
    for (uint32_t i = 0; i < res->n_buckets; i++) {
        n_str += o->via.array.ptr[i].type == MSGPACK_OBJECT_STR;
    }
    if (n_str != 0 && n_str != res->n_buckets) {
        return PROTO("response field 'buckets' mixes names and maps");
    }
    res->buckets_named = n_str == res->n_buckets;
    for (uint32_t i = 0; i < res->n_buckets; i++) {
        const msgpack_object *m = &o->via.array.ptr[i];
        uint32_t seen = 0;
        if (res->buckets_named) {
            (void)wire_get_strview(m, &b[i].name);
            continue;
        }
        if (m->type != MSGPACK_OBJECT_MAP) {
            return PROTO("response buckets[%u] is not a name or a map", i);
        }
        for (uint32_t j = 0; j < m->via.map.size; j++) {
            const msgpack_object *v = &m->via.map.ptr[j].val;
            size_t f = lookup(&m->via.map.ptr[j].key, names, 2);
            if (f == 2) {
                continue;
            }
            if (seen & (1u << f)) {
                return PROTO("response buckets[%u] field '%s' is repeated",
                             i, names[f]);
            }
            seen |= 1u << f;
            if (f == 0 && wire_get_strview(v, &b[i].name) != 0) {
                return PROTO("response buckets[%u] field 'name' is not a "
                             "string",
                             i);
            }
            if (f == 1 && (rc = decode_replicas(v, res, &b[i].replicas,
                                                &b[i].n_replicas, errmsg))) {
                return rc;
            }
        }
        if ((rc = need(seen, 3, names, "bucket", errmsg)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int decode_versions(const msgpack_object *o,
                           struct cairn_wire_response *res, char *errmsg)
{
    if (o->type != MSGPACK_OBJECT_ARRAY ||
        o->via.array.size > CAIRN_WIRE_VERSIONS_MAX) {
        return PROTO("response field 'versions' is not an array of at most "
                     "%d versions",
                     CAIRN_WIRE_VERSIONS_MAX);
    }
    res->n_versions = o->via.array.size;
    for (uint32_t i = 0; i < res->n_versions; i++) {
        if (wire_get_u64(&o->via.array.ptr[i], &res->versions[i]) != 0) {
            return PROTO("response field 'versions' holds a non-version");
        }
    }
    return 0;
}

static int get_int(const msgpack_object *o, int lo, int hi, int *out)
{
    int64_t v;
    if (wire_get_i64(o, &v) != 0 || v < lo || v > hi) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Decode field @f of the response. Returns 0, -1 (wrong type) or a code. */
static int decode_res_field(uint32_t f, const msgpack_object *v,
                            struct cairn_wire_response *res, char *errmsg)
{
    switch (f) {
        case SF_ID:
            return wire_get_u64(v, &res->id);
        case SF_STATUS:
            return get_int(v, 100, 599, &res->status);
        case SF_CODE:
            return wire_get_strview(v, &res->code);
        case SF_ERR:
            return get_int(v, 0, INT_MAX, &res->err);
        case SF_ERROR:
            return wire_get_strview(v, &res->error);
        case SF_VERSION:
            return wire_get_u64(v, &res->version);
        case SF_NODE:
            return wire_get_u64(v, &res->node);
        case SF_NAME:
            return wire_get_strview(v, &res->name);
        case SF_CLUSTER:
            return wire_get_strview(v, &res->cluster);
        case SF_CREATED:
            return wire_get_u64(v, &res->created);
        case SF_INFO:
            return decode_info(v, res, errmsg);
        case SF_ENTRY:
            return decode_entry(v, &res->entry, "entry", errmsg);
        case SF_EXISTS:
            return wire_get_bool(v, &res->exists);
        case SF_REV:
            return wire_get_u64(v, &res->rev);
        case SF_LAST_REV:
            return wire_get_u64(v, &res->last_rev);
        case SF_ENTRIES:
            return decode_entries(v, res, errmsg);
        case SF_MORE:
            return wire_get_bool(v, &res->more);
        case SF_CURSOR:
            return wire_get_bytes(v, &res->cursor, &res->cursor_len,
                                  CAIRN_WIRE_STRICT);
        case SF_COUNT:
            return wire_get_u64(v, &res->count);
        case SF_NODES:
            return decode_nodes(v, res, errmsg);
        case SF_BUCKETS:
            return decode_buckets(v, res, errmsg);
        case SF_ROLE:
            return wire_get_strview(v, &res->role);
        case SF_AT:
            return wire_get_u64(v, &res->at);
        case SF_FAILED:
            return wire_get_u32(v, &res->failed);
        case SF_LEADER:
            return wire_get_strview(v, &res->leader);
        case SF_VERSIONS:
            return decode_versions(v, res, errmsg);
        case SF_EVENT:
            return decode_entry(v, &res->event, "event", errmsg);
        case SF_SYNCED:
            return wire_get_bool(v, &res->synced);
        default:
            return -1;
    }
}

static int decode_res_map(const msgpack_object *m,
                          struct cairn_wire_response *res, char *errmsg)
{
    uint32_t seen = 0;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        size_t f = lookup(&m->via.map.ptr[i].key, sf_names, SF__COUNT);
        int rc;
        if (f == SF__COUNT) {
            continue; /* a field this codec does not know */
        }
        if (seen & (1u << f)) {
            return PROTO("response field '%s' appears twice", sf_names[f]);
        }
        seen |= 1u << f;
        rc = decode_res_field((uint32_t)f, &m->via.map.ptr[i].val, res,
                              errmsg);
        if (rc < 0) {
            return PROTO("response field '%s' has the wrong type",
                         sf_names[f]);
        }
        if (rc > 0) {
            return rc;
        }
        res->has |= sf_has[f];
    }
    if (!(seen & RB(ID))) {
        return PROTO("response field 'id' is missing");
    }
    if (!(seen & RB(STATUS))) {
        return PROTO("response field 'status' is missing");
    }
    if ((seen & (RB(CODE) | RB(ERR) | RB(ERROR))) ==
        (RB(CODE) | RB(ERR) | RB(ERROR))) {
        res->has |= CAIRN_WIRE_RES_CODE;
    } else if (res->status != 200) {
        return PROTO("error response field '%s' is missing",
                     !(seen & RB(CODE))  ? "code"
                     : !(seen & RB(ERR)) ? "err"
                                         : "error");
    }
    return 0;
}

int cairn_wire_response_decode(const void *buf, size_t len,
                               struct cairn_wire_response *res, char *errmsg)
{
    msgpack_unpacked u;
    int rc;
    memset(res, 0, sizeof *res);
    if (cairn_wire__unpack(buf, len, &u) != 0) {
        rc = PROTO("response is not one complete msgpack document");
    } else if (u.data.type != MSGPACK_OBJECT_MAP) {
        rc = PROTO("response is not a msgpack map");
    } else {
        rc = decode_res_map(&u.data, res, errmsg);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

int cairn_wire_response_check(const struct cairn_wire_response *res,
                              uint32_t op, char *errmsg)
{
    uint32_t missing;
    if (!op_valid(op)) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL, "unknown op %u", op);
    }
    if (res->status != 200) {
        return 0;
    }
    missing = res_rows[op].required & ~has_to_fields(res->has);
    for (uint32_t f = 0; missing != 0 && f < SF__COUNT; f++) {
        if (missing & (1u << f)) {
            return PROTO("response to '%s' lacks field '%s'",
                         cairn_wire_op_name(op), sf_names[f]);
        }
    }
    if (op == CAIRN_WIRE_WATCH) {
        /* An event, or a revision: the end of the initial data ("synced"
         * true) or progress. */
        if ((res->has & CAIRN_WIRE_RES_EVENT) == 0 &&
            (res->has & CAIRN_WIRE_RES_REV) == 0) {
            return PROTO("watch frame has neither 'event' nor 'rev'");
        }
        if ((res->has & CAIRN_WIRE_RES_SYNCED) != 0 &&
            (!res->synced || (res->has & CAIRN_WIRE_RES_REV) == 0)) {
            return PROTO("watch frame field 'synced' is not true with a "
                         "'rev'");
        }
    }
    if ((res_rows[op].required & RB(BUCKETS)) && res->n_buckets > 0 &&
        res->buckets_named != (op == CAIRN_WIRE_BUCKET_LIST)) {
        return PROTO("response to '%s': field 'buckets' holds %s", 
                     cairn_wire_op_name(op),
                     res->buckets_named ? "names, not maps"
                                        : "maps, not names");
    }
    return 0;
}
