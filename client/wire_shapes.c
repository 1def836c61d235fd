/*
 * The msgpack shapes the wire protocol shares with the storage engine's
 * command format (docs/storage.md): the bucket config map and a txn's
 * "cmp" and "ops" arrays, plus the codec's small helpers and the node map
 * that node.join's request and cluster.status's response share.
 *
 * Storage commands are kept in the replicated log, so these encodings
 * never change, and with flags 0 the decoders accept exactly what the
 * storage engine always accepted (a str where bytes are expected, a
 * repeated field: the last one counts). CAIRN_WIRE_STRICT is the wire's
 * reading: bin only, no repeats, a config must have a name.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "wire_internal.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

int cairn_wire__fail(char *errmsg, int code, const char *fmt, ...)
{
    if (errmsg != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, CAIRN_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

void cairn_wire__wrap(char *errmsg, const char *what)
{
    char tmp[CAIRN_ERRMSG_SIZE];
    if (errmsg == NULL) {
        return;
    }
    snprintf(tmp, sizeof tmp, "%s: %s", what, errmsg);
    memcpy(errmsg, tmp, sizeof tmp);
}

const char *cairn_wire__name(const msgpack_object *k, char buf[WIRE_NAME_SIZE])
{
    size_t n;
    if (k->type != MSGPACK_OBJECT_STR) {
        return "?";
    }
    n = k->via.str.size < 32 ? k->via.str.size : 32;
    for (size_t i = 0; i < n; i++) {
        char c = k->via.str.ptr[i];
        buf[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    buf[n] = '\0';
    return buf;
}

int cairn_wire__unpack(const void *buf, size_t len, msgpack_unpacked *u)
{
    size_t off = 0;
    msgpack_unpacked_init(u);
    if (buf == NULL || cairn_msgpack_check(buf, len) != 0) {
        return -1;
    }
    if (msgpack_unpack_next(u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len) {
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Bucket config
 * ---------------------------------------------------------------------- */

void cairn_wire_config_pack(msgpack_packer *pk, const cairn_bucket_config *cfg)
{
    msgpack_pack_map(pk, 11);
    wire_pack_str(pk, "name");
    wire_pack_str(pk, cfg->name);
    wire_pack_str(pk, "description");
    wire_pack_str(pk, cfg->description);
    wire_pack_str(pk, "ttl");
    msgpack_pack_int64(pk, cfg->ttl_ns);
    wire_pack_str(pk, "history");
    msgpack_pack_uint32(pk, cfg->history);
    wire_pack_str(pk, "max_bytes");
    msgpack_pack_int64(pk, cfg->max_bytes);
    wire_pack_str(pk, "max_value_size");
    msgpack_pack_int64(pk, cfg->max_value_size);
    wire_pack_str(pk, "storage");
    wire_pack_str(pk, cfg->storage == CAIRN_STORAGE_MEMORY ? "memory" : "file");
    wire_pack_str(pk, "num_replicas");
    msgpack_pack_uint32(pk, cfg->num_replicas);
    wire_pack_str(pk, "compression");
    wire_pack_bool(pk, cfg->compression);
    wire_pack_str(pk, "metadata");
    msgpack_pack_map(pk, cfg->n_metadata);
    for (uint32_t i = 0; i < cfg->n_metadata; i++) {
        wire_pack_str(pk, cfg->metadata[i].key);
        wire_pack_str(pk, cfg->metadata[i].value);
    }
    wire_pack_str(pk, "placement");
    msgpack_pack_map(pk, 2);
    wire_pack_str(pk, "cluster");
    wire_pack_str(pk, cfg->cluster);
    wire_pack_str(pk, "tags");
    msgpack_pack_array(pk, cfg->n_tags);
    for (uint32_t i = 0; i < cfg->n_tags; i++) {
        wire_pack_str(pk, cfg->tags[i]);
    }
}

#define CFG_BAD(field)                                                       \
    cairn_wire__fail(errmsg, CAIRN_EMALFORMED,                               \
                     "bucket config field '%s' is malformed", field)

static int placement_unpack(const msgpack_object *o, cairn_bucket_config *cfg,
                            unsigned flags, char *errmsg)
{
    bool seen_cluster = false, seen_tags = false;
    char nb[WIRE_NAME_SIZE];
    if (o->type != MSGPACK_OBJECT_MAP) {
        return CFG_BAD("placement");
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        bool *seen;
        if (wire_key_is(k, "cluster")) {
            seen = &seen_cluster;
            if (wire_get_str(v, cfg->cluster, sizeof cfg->cluster) != 0) {
                return CFG_BAD("placement.cluster");
            }
        } else if (wire_key_is(k, "tags")) {
            seen = &seen_tags;
            if (v->type != MSGPACK_OBJECT_ARRAY ||
                v->via.array.size > CAIRN_TAGS_MAX) {
                return CFG_BAD("placement.tags");
            }
            cfg->n_tags = v->via.array.size;
            for (uint32_t j = 0; j < cfg->n_tags; j++) {
                if (wire_get_str(&v->via.array.ptr[j], cfg->tags[j],
                                 sizeof cfg->tags[j]) != 0) {
                    return CFG_BAD("placement.tags");
                }
            }
        } else {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "bucket config has unknown field "
                                    "'placement.%s'",
                                    cairn_wire__name(k, nb));
        }
        if (*seen && (flags & CAIRN_WIRE_STRICT)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "bucket config field 'placement.%s' "
                                    "appears twice",
                                    cairn_wire__name(k, nb));
        }
        *seen = true;
    }
    return 0;
}

static const char *const config_fields[] = {
    "name",         "description", "ttl",      "history",
    "max_bytes",    "max_value_size", "storage", "num_replicas",
    "compression",  "metadata",    "placement",
};

int cairn_wire_config_unpack(const msgpack_object *o, cairn_bucket_config *cfg,
                             unsigned flags, char *errmsg)
{
    char storage_kind[16];
    char nb[WIRE_NAME_SIZE];
    unsigned seen = 0;
    cairn_bucket_config_init(cfg, NULL);
    if (o->type != MSGPACK_OBJECT_MAP) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "bucket config is not a map");
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        size_t f = 0;
        int bad = 0;
        while (f < WIRE_N_OF(config_fields) &&
               !wire_key_is(k, config_fields[f])) {
            f++;
        }
        switch (f) {
            case 0:
                bad = wire_get_str(v, cfg->name, sizeof cfg->name);
                break;
            case 1:
                bad = wire_get_str(v, cfg->description,
                                   sizeof cfg->description);
                break;
            case 2:
                bad = wire_get_i64(v, &cfg->ttl_ns);
                break;
            case 3:
                bad = wire_get_u32(v, &cfg->history);
                break;
            case 4:
                bad = wire_get_i64(v, &cfg->max_bytes);
                break;
            case 5:
                bad = wire_get_i64(v, &cfg->max_value_size);
                break;
            case 6:
                bad = wire_get_str(v, storage_kind, sizeof storage_kind);
                if (bad == 0 && strcmp(storage_kind, "memory") == 0) {
                    cfg->storage = CAIRN_STORAGE_MEMORY;
                } else if (bad == 0 && strcmp(storage_kind, "file") == 0) {
                    cfg->storage = CAIRN_STORAGE_FILE;
                } else {
                    bad = -1;
                }
                break;
            case 7:
                bad = wire_get_u32(v, &cfg->num_replicas);
                break;
            case 8:
                bad = wire_get_bool(v, &cfg->compression);
                break;
            case 9:
                bad = v->type != MSGPACK_OBJECT_MAP ||
                      v->via.map.size > CAIRN_METADATA_PAIRS_MAX;
                for (uint32_t j = 0; bad == 0 && j < v->via.map.size; j++) {
                    struct cairn_bucket_metadata *m = &cfg->metadata[j];
                    bad = wire_get_str(&v->via.map.ptr[j].key, m->key,
                                       sizeof m->key) ||
                          wire_get_str(&v->via.map.ptr[j].val, m->value,
                                       sizeof m->value);
                    cfg->n_metadata = j + 1;
                }
                break;
            case 10: {
                int rc = placement_unpack(v, cfg, flags, errmsg);
                if (rc != 0) {
                    return rc;
                }
                break;
            }
            default:
                return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                        "bucket config has unknown field "
                                        "'%s'",
                                        cairn_wire__name(k, nb));
        }
        if (bad) {
            return CFG_BAD(config_fields[f]);
        }
        if ((seen & (1u << f)) && (flags & CAIRN_WIRE_STRICT)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "bucket config field '%s' appears twice",
                                    config_fields[f]);
        }
        seen |= 1u << f;
    }
    if ((flags & CAIRN_WIRE_STRICT) && !(seen & 1u)) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "bucket config field 'name' is missing");
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Txn compares and writes
 * ---------------------------------------------------------------------- */

static const char *const op_names[] = {
    [CAIRN_OP_PUT] = "put",
    [CAIRN_OP_DEL] = "delete",
    [CAIRN_OP_PURGE] = "purge",
};
static const char *const target_names[] = {
    [CAIRN_CMP_VALUE] = "value",
    [CAIRN_CMP_REVISION] = "revision",
    [CAIRN_CMP_EXISTS] = "exists",
};
static const char *const cmp_op_names[] = {
    [CAIRN_CMP_EQ] = "eq",
    [CAIRN_CMP_NE] = "ne",
    [CAIRN_CMP_LT] = "lt",
    [CAIRN_CMP_GT] = "gt",
};

static uint32_t name_index(const msgpack_object *o, const char *const *names,
                           size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (names[i] != NULL && wire_key_is(o, names[i])) {
            return (uint32_t)i;
        }
    }
    return 0;
}

int cairn_wire_txn_check(const struct cairn_compare *cmp, uint32_t n_cmp,
                         const struct cairn_write *ops, uint32_t n_ops,
                         char *errmsg)
{
    if ((n_cmp > 0 && cmp == NULL) || (n_ops > 0 && ops == NULL)) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "txn arrays are missing");
    }
    for (uint32_t i = 0; i < n_ops; i++) {
        uint32_t op = ops[i].op;
        if (op < CAIRN_OP_PUT || op > CAIRN_OP_PURGE) {
            return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                    "txn write %u has unknown op %u", i, op);
        }
    }
    for (uint32_t i = 0; i < n_cmp; i++) {
        const struct cairn_compare *c = &cmp[i];
        if (c->target < CAIRN_CMP_VALUE || c->target > CAIRN_CMP_EXISTS ||
            c->op < CAIRN_CMP_EQ || c->op > CAIRN_CMP_GT) {
            return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                    "txn compare %u is invalid", i);
        }
    }
    return 0;
}

uint32_t cairn_wire_write_fields(const struct cairn_write *w, bool with_value)
{
    return (with_value ? 1u : 0u) + (w->meta_len > 0) + (w->ttl_ns != 0) +
           (w->expires_at != 0);
}

void cairn_wire_write_fields_pack(msgpack_packer *pk,
                                  const struct cairn_write *w, bool with_value)
{
    if (with_value) {
        wire_pack_str(pk, "val");
        wire_pack_bin(pk, w->value, w->value_len);
    }
    if (w->meta_len > 0) {
        wire_pack_str(pk, "meta");
        wire_pack_bin(pk, w->meta, w->meta_len);
    }
    if (w->ttl_ns != 0) {
        wire_pack_str(pk, "ttl");
        msgpack_pack_int64(pk, w->ttl_ns);
    }
    if (w->expires_at != 0) {
        wire_pack_str(pk, "exp");
        msgpack_pack_uint64(pk, w->expires_at);
    }
}

void cairn_wire_compares_pack(msgpack_packer *pk,
                              const struct cairn_compare *cmp, uint32_t n)
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct cairn_compare *c = &cmp[i];
        msgpack_pack_map(pk, 4);
        wire_pack_str(pk, "k");
        wire_pack_bin(pk, c->key, c->key_len);
        wire_pack_str(pk, "target");
        wire_pack_str(pk, target_names[c->target]);
        wire_pack_str(pk, "op");
        wire_pack_str(pk, cmp_op_names[c->op]);
        switch (c->target) {
            case CAIRN_CMP_VALUE:
                wire_pack_str(pk, "val");
                wire_pack_bin(pk, c->value, c->value_len);
                break;
            case CAIRN_CMP_REVISION:
                wire_pack_str(pk, "rev");
                msgpack_pack_uint64(pk, c->revision);
                break;
            default:
                wire_pack_str(pk, "exists");
                wire_pack_bool(pk, c->exists);
                break;
        }
    }
}

void cairn_wire_writes_pack(msgpack_packer *pk, const struct cairn_write *ops,
                            uint32_t n)
{
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct cairn_write *w = &ops[i];
        bool v = w->op == CAIRN_OP_PUT;
        msgpack_pack_map(pk, 2 + (v ? cairn_wire_write_fields(w, v) : 0));
        wire_pack_str(pk, "op");
        wire_pack_str(pk, op_names[w->op]);
        wire_pack_str(pk, "k");
        wire_pack_bin(pk, w->key, w->key_len);
        if (v) {
            cairn_wire_write_fields_pack(pk, w, v);
        }
    }
}

/* Bits of a write's fields, to refuse repeats and a delete's value. */
enum {
    WF_KEY = 1 << 0,
    WF_VAL = 1 << 1,
    WF_META = 1 << 2,
    WF_TTL = 1 << 3,
    WF_EXP = 1 << 4,
    WF_OP = 1 << 5,
};

static const char *const write_field_names[] = {"k", "val", "meta", "ttl",
                                                "exp"};

static unsigned write_field_bit(const msgpack_object *k)
{
    for (size_t i = 0; i < WIRE_N_OF(write_field_names); i++) {
        if (wire_key_is(k, write_field_names[i])) {
            return 1u << i;
        }
    }
    return 0;
}

int cairn_wire_write_field_unpack(const msgpack_object *k,
                                  const msgpack_object *v,
                                  struct cairn_write *w, bool *has_key,
                                  bool *has_val, unsigned flags)
{
    switch (write_field_bit(k)) {
        case WF_KEY:
            *has_key = true;
            return wire_get_bytes(v, &w->key, &w->key_len, flags) == 0 ? 1
                                                                      : -1;
        case WF_VAL:
            *has_val = true;
            return wire_get_bytes(v, &w->value, &w->value_len, flags) == 0
                       ? 1
                       : -1;
        case WF_META:
            return wire_get_bytes(v, &w->meta, &w->meta_len, flags) == 0 ? 1
                                                                        : -1;
        case WF_TTL:
            return wire_get_i64(v, &w->ttl_ns) == 0 ? 1 : -1;
        case WF_EXP:
            return wire_get_u64(v, &w->expires_at) == 0 ? 1 : -1;
        default:
            return 0;
    }
}

static int decode_compare(const msgpack_object *o, struct cairn_compare *c,
                          uint32_t i, unsigned flags, char *errmsg)
{
    static const char *const names[] = {"k", "target", "op", "val", "rev",
                                        "exists"};
    bool has_key = false;
    unsigned operand = 0; /* which operand field was given */
    unsigned seen = 0;
    char nb[WIRE_NAME_SIZE];
    memset(c, 0, sizeof *c);
    if (o->type != MSGPACK_OBJECT_MAP) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "txn cmp[%u] is not a map", i);
    }
    for (uint32_t j = 0; j < o->via.map.size; j++) {
        const msgpack_object *k = &o->via.map.ptr[j].key;
        const msgpack_object *v = &o->via.map.ptr[j].val;
        size_t f = 0;
        int bad = 0;
        while (f < WIRE_N_OF(names) && !wire_key_is(k, names[f])) {
            f++;
        }
        switch (f) {
            case 0:
                has_key = true;
                bad = wire_get_bytes(v, &c->key, &c->key_len, flags);
                break;
            case 1:
                c->target = name_index(v, target_names,
                                       WIRE_N_OF(target_names));
                bad = c->target == 0;
                break;
            case 2:
                c->op = name_index(v, cmp_op_names, WIRE_N_OF(cmp_op_names));
                bad = c->op == 0;
                break;
            case 3:
                bad = operand != 0 ||
                      wire_get_bytes(v, &c->value, &c->value_len, flags);
                operand = CAIRN_CMP_VALUE;
                break;
            case 4:
                bad = operand != 0 || wire_get_u64(v, &c->revision);
                operand = CAIRN_CMP_REVISION;
                break;
            case 5:
                bad = operand != 0 || wire_get_bool(v, &c->exists);
                operand = CAIRN_CMP_EXISTS;
                break;
            default:
                return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                        "txn cmp[%u]: unknown field '%s'", i,
                                        cairn_wire__name(k, nb));
        }
        if ((seen & (1u << f)) && (flags & CAIRN_WIRE_STRICT)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "txn cmp[%u]: field '%s' appears twice",
                                    i, names[f]);
        }
        seen |= 1u << f;
        if (bad) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "txn cmp[%u]: field '%s' is malformed "
                                    "(or a second operand)",
                                    i, names[f]);
        }
    }
    if (!has_key || c->target == 0 || c->op == 0) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "txn cmp[%u]: field '%s' is missing", i,
                                !has_key ? "k"
                                : c->target == 0 ? "target"
                                                 : "op");
    }
    if (operand != c->target) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "txn cmp[%u]: its operand must be the one "
                                "of target '%s' (val, rev or exists)",
                                i, target_names[c->target]);
    }
    return 0;
}

static int decode_write(const msgpack_object *o, struct cairn_write *w,
                        uint32_t i, unsigned flags, char *errmsg)
{
    bool has_key = false, has_val = false;
    unsigned seen = 0;
    char nb[WIRE_NAME_SIZE];
    memset(w, 0, sizeof *w);
    if (o->type != MSGPACK_OBJECT_MAP) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "txn ops[%u] is not a map", i);
    }
    for (uint32_t j = 0; j < o->via.map.size; j++) {
        const msgpack_object *k = &o->via.map.ptr[j].key;
        const msgpack_object *v = &o->via.map.ptr[j].val;
        unsigned bit;
        int r;
        if (wire_key_is(k, "op")) {
            bit = WF_OP;
            w->op = name_index(v, op_names, WIRE_N_OF(op_names));
            r = w->op != 0 ? 1 : -1;
        } else {
            bit = write_field_bit(k);
            r = cairn_wire_write_field_unpack(k, v, w, &has_key, &has_val,
                                              flags);
        }
        if (r == 0) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "txn ops[%u]: unknown field '%s'", i,
                                    cairn_wire__name(k, nb));
        }
        if ((seen & bit) && (flags & CAIRN_WIRE_STRICT)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "txn ops[%u]: field '%s' appears twice",
                                    i, cairn_wire__name(k, nb));
        }
        seen |= bit;
        if (r != 1) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "txn ops[%u]: field '%s' is malformed",
                                    i, cairn_wire__name(k, nb));
        }
    }
    if (w->op == 0 || !has_key || (w->op == CAIRN_OP_PUT && !has_val)) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "txn ops[%u]: field '%s' is missing", i,
                                w->op == 0 ? "op"
                                : !has_key ? "k"
                                           : "val");
    }
    if (w->op != CAIRN_OP_PUT && (seen & ~(unsigned)(WF_KEY | WF_OP)) != 0) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "txn ops[%u]: a %s carries only op and k", i,
                                op_names[w->op]);
    }
    return 0;
}

int cairn_wire_txn_unpack(const msgpack_object *cmp, const msgpack_object *ops,
                          unsigned flags, struct cairn_wire_txn *out,
                          char *errmsg)
{
    uint32_t nc, nw;
    struct cairn_compare *cs;
    struct cairn_write *ws;
    void *mem;
    int rc;
    memset(out, 0, sizeof *out);
    if ((cmp != NULL && cmp->type != MSGPACK_OBJECT_ARRAY) ||
        ops->type != MSGPACK_OBJECT_ARRAY) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "txn field '%s' is not an array",
                                ops->type != MSGPACK_OBJECT_ARRAY ? "ops"
                                                                  : "cmp");
    }
    nc = cmp != NULL ? cmp->via.array.size : 0;
    nw = ops->via.array.size;
    if (nc > CAIRN_TXN_COMPARES_MAX || nw > CAIRN_TXN_OPS_MAX) {
        /* Keep the counts so a caller can report the limit; no arrays. */
        out->n_compares = nc;
        out->n_writes = nw;
        return cairn_wire__fail(errmsg, CAIRN_ETOOLARGE,
                                "txn has %u compares and %u writes; the "
                                "limits are %d and %d",
                                nc, nw, CAIRN_TXN_COMPARES_MAX,
                                CAIRN_TXN_OPS_MAX);
    }
    mem = calloc(1, nc * sizeof *cs + nw * sizeof *ws + 1);
    if (mem == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_ENOMEM, "decode txn");
    }
    ws = mem;
    cs = (struct cairn_compare *)(ws + nw);
    for (uint32_t i = 0; i < nc; i++) {
        rc = decode_compare(&cmp->via.array.ptr[i], &cs[i], i, flags, errmsg);
        if (rc != 0) {
            free(mem);
            return rc;
        }
    }
    for (uint32_t i = 0; i < nw; i++) {
        rc = decode_write(&ops->via.array.ptr[i], &ws[i], i, flags, errmsg);
        if (rc != 0) {
            free(mem);
            return rc;
        }
    }
    out->compares = cs;
    out->n_compares = nc;
    out->writes = ws;
    out->n_writes = nw;
    out->owned = mem;
    return 0;
}

/* ------------------------------------------------------------------------
 * The node map (node.join's "node", cluster.status's "nodes" elements)
 *
 *   {"id": u64, "name": str, "client": str, "peer": str, "http": str?,
 *    "tags": [str], "cluster": str, "role": str? (cluster.status only)}
 * ---------------------------------------------------------------------- */

static void pack_wstr(msgpack_packer *pk, struct cairn_wire_str s)
{
    wire_pack_strn(pk, s.ptr, s.len);
}

void cairn_wire__node_pack(msgpack_packer *pk, const struct cairn_wire_node *n,
                           bool with_role)
{
    bool http = n->http.len > 0;
    bool role = with_role && n->role.len > 0;
    /* A node without http and role packs as it did before they existed. */
    msgpack_pack_map(pk, 6 + (http ? 1u : 0u) + (role ? 1u : 0u));
    wire_pack_str(pk, "id");
    msgpack_pack_uint64(pk, n->id);
    wire_pack_str(pk, "name");
    pack_wstr(pk, n->name);
    wire_pack_str(pk, "client");
    pack_wstr(pk, n->client);
    wire_pack_str(pk, "peer");
    pack_wstr(pk, n->peer);
    if (http) {
        wire_pack_str(pk, "http");
        pack_wstr(pk, n->http);
    }
    wire_pack_str(pk, "tags");
    msgpack_pack_array(pk, n->n_tags);
    for (uint32_t j = 0; j < n->n_tags; j++) {
        pack_wstr(pk, n->tags[j]);
    }
    wire_pack_str(pk, "cluster");
    pack_wstr(pk, n->cluster);
    if (role) {
        wire_pack_str(pk, "role");
        pack_wstr(pk, n->role);
    }
}

/* The strict reading of node.join's node map. */
enum { NF_ID, NF_NAME, NF_CLIENT, NF_PEER, NF_HTTP, NF_TAGS, NF_CLUSTER };

static const char *const nf_names[] = {
    [NF_ID] = "id",     [NF_NAME] = "name", [NF_CLIENT] = "client",
    [NF_PEER] = "peer", [NF_HTTP] = "http", [NF_TAGS] = "tags",
    [NF_CLUSTER] = "cluster",
};

#define NF_REQUIRED                                                         \
    (1u << NF_ID | 1u << NF_NAME | 1u << NF_CLIENT | 1u << NF_PEER |        \
     1u << NF_CLUSTER)

/* A printable copy of @s for a message (see cairn_wire__name). */
static const char *quote(struct cairn_wire_str s, char buf[WIRE_NAME_SIZE])
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = s.ptr;
    o.via.str.size = (uint32_t)s.len;
    return cairn_wire__name(&o, buf);
}

/* Node and cluster names: 1..CAIRN_WIRE_NODE_NAME_MAX characters of
 * [A-Za-z0-9_.-] (the rule of cairnd --name and --cluster). */
static bool node_name_ok(struct cairn_wire_str s)
{
    if (s.len < 1 || s.len > CAIRN_WIRE_NODE_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* The rule of cairn_bucket_config tags (cairn_bucket_config_validate): at
 * most CAIRN_TAG_MAX bytes, no NUL, a non-empty key and value around the
 * first colon. */
static bool tag_ok(struct cairn_wire_str s)
{
    const char *colon;
    if (s.len < 3 || s.len > CAIRN_TAG_MAX ||
        memchr(s.ptr, '\0', s.len) != NULL) {
        return false;
    }
    colon = memchr(s.ptr, ':', s.len);
    return colon != NULL && colon != s.ptr && colon != s.ptr + s.len - 1;
}

/* Node address field @f: 1..CAIRN_WIRE_ADDRESS_MAX bytes, no NUL (the
 * node keeps addresses as C strings). Its form is the node's to check. */
static int check_address(struct cairn_wire_str s, uint32_t f, char *errmsg)
{
    if (s.len == 0) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "node field '%s' is empty", nf_names[f]);
    }
    if (s.len > CAIRN_WIRE_ADDRESS_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "node field '%s' is %zu bytes; an address is "
                                "at most %d",
                                nf_names[f], s.len, CAIRN_WIRE_ADDRESS_MAX);
    }
    if (memchr(s.ptr, '\0', s.len) != NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "node field '%s' holds a NUL byte",
                                nf_names[f]);
    }
    return 0;
}

/* Walk node map @o into @nd and @tags: every field known, given once, of
 * its type; every required one present; *has_http says whether "http" was
 * given. Tags beyond CAIRN_TAGS_MAX are counted, not kept. */
static int node_fields(const msgpack_object *o, struct cairn_wire_node *nd,
                       struct cairn_wire_str tags[CAIRN_TAGS_MAX],
                       bool *has_http, char *errmsg)
{
    uint32_t seen = 0, missing;
    char nb[WIRE_NAME_SIZE];

    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        uint32_t f = 0;
        int bad = 0;
        if (k->type != MSGPACK_OBJECT_STR) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "node has a field name that is not a "
                                    "string");
        }
        while (f < WIRE_N_OF(nf_names) && !wire_key_is(k, nf_names[f])) {
            f++;
        }
        if (f == WIRE_N_OF(nf_names)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "node has unknown field '%s'",
                                    cairn_wire__name(k, nb));
        }
        if (seen & (1u << f)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "node field '%s' appears twice",
                                    nf_names[f]);
        }
        seen |= 1u << f;
        switch (f) {
            case NF_ID:
                bad = wire_get_u64(v, &nd->id);
                break;
            case NF_NAME:
                bad = wire_get_strview(v, &nd->name);
                break;
            case NF_CLIENT:
                bad = wire_get_strview(v, &nd->client);
                break;
            case NF_PEER:
                bad = wire_get_strview(v, &nd->peer);
                break;
            case NF_HTTP:
                bad = wire_get_strview(v, &nd->http);
                break;
            case NF_TAGS:
                if (v->type != MSGPACK_OBJECT_ARRAY) {
                    bad = -1;
                    break;
                }
                nd->n_tags = v->via.array.size;
                for (uint32_t j = 0; bad == 0 && j < nd->n_tags; j++) {
                    struct cairn_wire_str t;
                    bad = wire_get_strview(&v->via.array.ptr[j], &t);
                    if (bad == 0 && j < CAIRN_TAGS_MAX) {
                        tags[j] = t;
                    }
                }
                break;
            default: /* NF_CLUSTER */
                bad = wire_get_strview(v, &nd->cluster);
                break;
        }
        if (bad != 0) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "node field '%s' has the wrong type "
                                    "(%s)",
                                    nf_names[f],
                                    f == NF_ID     ? "an unsigned integer"
                                    : f == NF_TAGS ? "an array of strings"
                                                   : "a string");
        }
    }
    missing = NF_REQUIRED & ~seen;
    for (uint32_t f = 0; missing != 0; f++) {
        if (missing & (1u << f)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "node field '%s' is missing",
                                    nf_names[f]);
        }
    }
    *has_http = (seen & (1u << NF_HTTP)) != 0;
    return 0;
}

/* The rules on the node's values, once its fields are known. "http" is
 * optional, but when present it is an address like the others. */
static int node_values(const struct cairn_wire_node *nd, bool has_http,
                       char *errmsg)
{
    char nb[WIRE_NAME_SIZE];
    int rc;
    if (nd->id == 0) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "node field 'id' must be at least 1");
    }
    if (!node_name_ok(nd->name) || !node_name_ok(nd->cluster)) {
        bool name = !node_name_ok(nd->name);
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "node field '%s': '%s' is invalid: use "
                                "1..%d characters from [A-Za-z0-9_.-]",
                                name ? "name" : "cluster",
                                quote(name ? nd->name : nd->cluster, nb),
                                CAIRN_WIRE_NODE_NAME_MAX);
    }
    if ((rc = check_address(nd->client, NF_CLIENT, errmsg)) != 0 ||
        (rc = check_address(nd->peer, NF_PEER, errmsg)) != 0 ||
        (has_http && (rc = check_address(nd->http, NF_HTTP, errmsg)) != 0)) {
        return rc;
    }
    if (nd->n_tags > CAIRN_TAGS_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_ETOOLARGE,
                                "node field 'tags': %u tags; the limit is %d",
                                nd->n_tags, CAIRN_TAGS_MAX);
    }
    for (uint32_t i = 0; i < nd->n_tags; i++) {
        if (!tag_ok(nd->tags[i])) {
            return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                    "node field 'tags': tag %u '%s' is "
                                    "invalid: use key:value, at most %d "
                                    "bytes",
                                    i, quote(nd->tags[i], nb), CAIRN_TAG_MAX);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (nd->tags[j].len == nd->tags[i].len &&
                memcmp(nd->tags[j].ptr, nd->tags[i].ptr, nd->tags[i].len) ==
                    0) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "node field 'tags': tag '%s' "
                                        "appears twice",
                                        quote(nd->tags[i], nb));
            }
        }
    }
    return 0;
}

int cairn_wire__node_unpack(const msgpack_object *o, struct cairn_wire_node *nd,
                            struct cairn_wire_str tags[CAIRN_TAGS_MAX],
                            char *errmsg)
{
    bool has_http = false;
    int rc;
    memset(nd, 0, sizeof *nd);
    nd->tags = tags;
    if (o->type != MSGPACK_OBJECT_MAP) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "node is not a map");
    }
    if ((rc = node_fields(o, nd, tags, &has_http, errmsg)) != 0) {
        return rc;
    }
    return node_values(nd, has_http, errmsg);
}
