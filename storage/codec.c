/*
 * msgpack encodings of configs, commands and results (docs/storage.md).
 * Every decoder runs cairn_msgpack_check() before msgpack-c sees the input.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------
 * Field helpers
 * ---------------------------------------------------------------------- */

static void pack_key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
}

static void pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin_with_body(pk, p, n);
}

static bool key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, s, n) == 0;
}

static int get_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return -1;
    }
    *out = o->via.u64;
    return 0;
}

static int get_i64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
        o->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return 0;
    }
    return -1;
}

static int get_bytes(const msgpack_object *o, const void **p, size_t *n)
{
    if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *n = o->via.bin.size;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_STR) {
        *p = o->via.str.ptr;
        *n = o->via.str.size;
        return 0;
    }
    return -1;
}

static int get_str(const msgpack_object *o, char *dst, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap ||
        memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
        return -1;
    }
    memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
    return 0;
}

static int get_u32(const msgpack_object *o, uint32_t *out)
{
    uint64_t v;
    if (get_u64(o, &v) != 0 || v > UINT32_MAX) {
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

#define BAD(field)                                                           \
    storage__fail(errmsg, CAIRN_EMALFORMED, "field '%s' is missing or has " \
                  "the wrong type", field)

/* ------------------------------------------------------------------------
 * Bucket config
 * ---------------------------------------------------------------------- */

void storage__config_pack(msgpack_packer *pk, const cairn_bucket_config *cfg)
{
    msgpack_pack_map(pk, 11);
    pack_key(pk, "name");
    pack_key(pk, cfg->name);
    pack_key(pk, "description");
    pack_key(pk, cfg->description);
    pack_key(pk, "ttl");
    msgpack_pack_int64(pk, cfg->ttl_ns);
    pack_key(pk, "history");
    msgpack_pack_uint32(pk, cfg->history);
    pack_key(pk, "max_bytes");
    msgpack_pack_int64(pk, cfg->max_bytes);
    pack_key(pk, "max_value_size");
    msgpack_pack_int64(pk, cfg->max_value_size);
    pack_key(pk, "storage");
    pack_key(pk, cfg->storage == CAIRN_STORAGE_MEMORY ? "memory" : "file");
    pack_key(pk, "num_replicas");
    msgpack_pack_uint32(pk, cfg->num_replicas);
    pack_key(pk, "compression");
    if (cfg->compression) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    pack_key(pk, "metadata");
    msgpack_pack_map(pk, cfg->n_metadata);
    for (uint32_t i = 0; i < cfg->n_metadata; i++) {
        pack_key(pk, cfg->metadata[i].key);
        pack_key(pk, cfg->metadata[i].value);
    }
    pack_key(pk, "placement");
    msgpack_pack_map(pk, 2);
    pack_key(pk, "cluster");
    pack_key(pk, cfg->cluster);
    pack_key(pk, "tags");
    msgpack_pack_array(pk, cfg->n_tags);
    for (uint32_t i = 0; i < cfg->n_tags; i++) {
        pack_key(pk, cfg->tags[i]);
    }
}

static int placement_unpack(const msgpack_object *o, cairn_bucket_config *cfg,
                            char *errmsg)
{
    if (o->type != MSGPACK_OBJECT_MAP) {
        return BAD("placement");
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        if (key_is(k, "cluster")) {
            if (get_str(v, cfg->cluster, sizeof cfg->cluster) != 0) {
                return BAD("placement.cluster");
            }
        } else if (key_is(k, "tags")) {
            if (v->type != MSGPACK_OBJECT_ARRAY ||
                v->via.array.size > CAIRN_TAGS_MAX) {
                return BAD("placement.tags");
            }
            cfg->n_tags = v->via.array.size;
            for (uint32_t j = 0; j < cfg->n_tags; j++) {
                if (get_str(&v->via.array.ptr[j], cfg->tags[j],
                            sizeof cfg->tags[j]) != 0) {
                    return BAD("placement.tags");
                }
            }
        } else {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "unknown placement field");
        }
    }
    return 0;
}

int storage__config_unpack(const msgpack_object *o, cairn_bucket_config *cfg,
                           char *errmsg)
{
    char storage_kind[16];
    if (o->type != MSGPACK_OBJECT_MAP) {
        return BAD("cfg");
    }
    cairn_bucket_config_init(cfg, NULL);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        int bad = 0;
        if (key_is(k, "name")) {
            bad = get_str(v, cfg->name, sizeof cfg->name);
        } else if (key_is(k, "description")) {
            bad = get_str(v, cfg->description, sizeof cfg->description);
        } else if (key_is(k, "ttl")) {
            bad = get_i64(v, &cfg->ttl_ns);
        } else if (key_is(k, "history")) {
            bad = get_u32(v, &cfg->history);
        } else if (key_is(k, "max_bytes")) {
            bad = get_i64(v, &cfg->max_bytes);
        } else if (key_is(k, "max_value_size")) {
            bad = get_i64(v, &cfg->max_value_size);
        } else if (key_is(k, "storage")) {
            bad = get_str(v, storage_kind, sizeof storage_kind);
            if (bad == 0 && strcmp(storage_kind, "memory") == 0) {
                cfg->storage = CAIRN_STORAGE_MEMORY;
            } else if (bad == 0 && strcmp(storage_kind, "file") == 0) {
                cfg->storage = CAIRN_STORAGE_FILE;
            } else {
                bad = -1;
            }
        } else if (key_is(k, "num_replicas")) {
            bad = get_u32(v, &cfg->num_replicas);
        } else if (key_is(k, "compression")) {
            bad = v->type != MSGPACK_OBJECT_BOOLEAN;
            cfg->compression = bad == 0 && v->via.boolean;
        } else if (key_is(k, "metadata")) {
            bad = v->type != MSGPACK_OBJECT_MAP ||
                  v->via.map.size > CAIRN_METADATA_PAIRS_MAX;
            for (uint32_t j = 0; bad == 0 && j < v->via.map.size; j++) {
                struct cairn_bucket_metadata *m = &cfg->metadata[j];
                bad = get_str(&v->via.map.ptr[j].key, m->key, sizeof m->key) ||
                      get_str(&v->via.map.ptr[j].val, m->value,
                              sizeof m->value);
                cfg->n_metadata = j + 1;
            }
        } else if (key_is(k, "placement")) {
            if (placement_unpack(v, cfg, errmsg) != 0) {
                return CAIRN_EMALFORMED;
            }
        } else {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "unknown bucket config field");
        }
        if (bad) {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "bucket config field '%.*s' is malformed",
                                 k->type == MSGPACK_OBJECT_STR
                                     ? (int)k->via.str.size
                                     : 0,
                                 k->type == MSGPACK_OBJECT_STR
                                     ? k->via.str.ptr
                                     : "");
        }
    }
    if (cairn_bucket_config_validate(cfg, errmsg) != 0) {
        storage__wrap(errmsg, "bucket config");
        return CAIRN_EMALFORMED;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Commands
 * ---------------------------------------------------------------------- */

static const char *const cmd_names[] = {
    [STORAGE_CMD_PUT] = "put",       [STORAGE_CMD_CREATE] = "create",
    [STORAGE_CMD_UPDATE] = "update", [STORAGE_CMD_CAS] = "cas",
    [STORAGE_CMD_DELETE] = "delete", [STORAGE_CMD_PURGE] = "purge",
    [STORAGE_CMD_EXPIRE] = "expire", [STORAGE_CMD_TXN] = "txn",
};
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

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int name_index(const msgpack_object *o, const char *const *names,
                      size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (names[i] != NULL && key_is(o, names[i])) {
            return (int)i;
        }
    }
    return 0;
}

/* The value fields of a write: val, meta, ttl, exp (as present). */
static uint32_t write_fields(const struct cairn_write *w, bool with_value)
{
    return (with_value ? 1u : 0u) + (w->meta_len > 0) + (w->ttl_ns != 0) +
           (w->expires_at != 0);
}

static void pack_write_fields(msgpack_packer *pk, const struct cairn_write *w,
                              bool with_value)
{
    if (with_value) {
        pack_key(pk, "val");
        pack_bin(pk, w->value, w->value_len);
    }
    if (w->meta_len > 0) {
        pack_key(pk, "meta");
        pack_bin(pk, w->meta, w->meta_len);
    }
    if (w->ttl_ns != 0) {
        pack_key(pk, "ttl");
        msgpack_pack_int64(pk, w->ttl_ns);
    }
    if (w->expires_at != 0) {
        pack_key(pk, "exp");
        msgpack_pack_uint64(pk, w->expires_at);
    }
}

int storage_cmd_encode(const struct storage_cmd *cmd, void **buf, size_t *len,
                       char *errmsg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint32_t n = 3;
    bool value = false, key = true;

    if (cmd->type < STORAGE_CMD_PUT || cmd->type > STORAGE_CMD_TXN) {
        return storage__fail(errmsg, CAIRN_EINVAL, "unknown command type %u",
                             cmd->type);
    }
    switch (cmd->type) {
        case STORAGE_CMD_PUT:
        case STORAGE_CMD_CREATE:
            value = true;
            break;
        case STORAGE_CMD_UPDATE:
            value = true;
            n++; /* rev */
            break;
        case STORAGE_CMD_CAS:
            value = true;
            n++; /* old */
            break;
        case STORAGE_CMD_DELETE:
        case STORAGE_CMD_PURGE:
            n += cmd->revision != 0;
            break;
        case STORAGE_CMD_EXPIRE:
            key = false;
            break;
        case STORAGE_CMD_TXN:
            key = false;
            n += 2;
            break;
    }
    if (cmd->type == STORAGE_CMD_TXN) {
        for (uint32_t i = 0; i < cmd->n_writes; i++) {
            uint32_t op = cmd->writes[i].op;
            if (op < CAIRN_OP_PUT || op > CAIRN_OP_PURGE) {
                return storage__fail(errmsg, CAIRN_EINVAL,
                                     "txn write %u has unknown op %u", i, op);
            }
        }
        for (uint32_t i = 0; i < cmd->n_compares; i++) {
            const struct cairn_compare *c = &cmd->compares[i];
            if (c->target < CAIRN_CMP_VALUE ||
                c->target > CAIRN_CMP_EXISTS || c->op < CAIRN_CMP_EQ ||
                c->op > CAIRN_CMP_GT) {
                return storage__fail(errmsg, CAIRN_EINVAL,
                                     "txn compare %u is invalid", i);
            }
        }
    }
    if (key) {
        /* delete and purge carry only the key (and a revision). */
        n += 1 + (value ? write_fields(&cmd->w, value) : 0);
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, CODEC_VERSION);
    pack_key(&pk, "type");
    pack_key(&pk, cmd_names[cmd->type]);
    pack_key(&pk, "t");
    msgpack_pack_uint64(&pk, cmd->time);
    if (key) {
        pack_key(&pk, "k");
        pack_bin(&pk, cmd->w.key, cmd->w.key_len);
        if (value) {
            pack_write_fields(&pk, &cmd->w, value);
        }
    }
    if (cmd->type == STORAGE_CMD_UPDATE ||
        ((cmd->type == STORAGE_CMD_DELETE || cmd->type == STORAGE_CMD_PURGE) &&
         cmd->revision != 0)) {
        pack_key(&pk, "rev");
        msgpack_pack_uint64(&pk, cmd->revision);
    }
    if (cmd->type == STORAGE_CMD_CAS) {
        pack_key(&pk, "old");
        if (cmd->has_old) {
            pack_bin(&pk, cmd->old, cmd->old_len);
        } else {
            msgpack_pack_nil(&pk);
        }
    }
    if (cmd->type == STORAGE_CMD_TXN) {
        pack_key(&pk, "cmp");
        msgpack_pack_array(&pk, cmd->n_compares);
        for (uint32_t i = 0; i < cmd->n_compares; i++) {
            const struct cairn_compare *c = &cmd->compares[i];
            msgpack_pack_map(&pk, 4);
            pack_key(&pk, "k");
            pack_bin(&pk, c->key, c->key_len);
            pack_key(&pk, "target");
            pack_key(&pk, target_names[c->target]);
            pack_key(&pk, "op");
            pack_key(&pk, cmp_op_names[c->op]);
            switch (c->target) {
                case CAIRN_CMP_VALUE:
                    pack_key(&pk, "val");
                    pack_bin(&pk, c->value, c->value_len);
                    break;
                case CAIRN_CMP_REVISION:
                    pack_key(&pk, "rev");
                    msgpack_pack_uint64(&pk, c->revision);
                    break;
                default:
                    pack_key(&pk, "exists");
                    if (c->exists) {
                        msgpack_pack_true(&pk);
                    } else {
                        msgpack_pack_false(&pk);
                    }
                    break;
            }
        }
        pack_key(&pk, "ops");
        msgpack_pack_array(&pk, cmd->n_writes);
        for (uint32_t i = 0; i < cmd->n_writes; i++) {
            const struct cairn_write *w = &cmd->writes[i];
            bool v = w->op == CAIRN_OP_PUT;
            msgpack_pack_map(&pk, 2 + (v ? write_fields(w, v) : 0));
            pack_key(&pk, "op");
            pack_key(&pk, op_names[w->op]);
            pack_key(&pk, "k");
            pack_bin(&pk, w->key, w->key_len);
            if (v) {
                pack_write_fields(&pk, w, v);
            }
        }
    }
    if (sb.data == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "encode command");
    }
    *buf = sb.data;
    *len = sb.size;
    return 0;
}

/* Fields of a command or txn write, to check which a type allows. */
enum {
    F_KEY = 1 << 0,
    F_VAL = 1 << 1,
    F_META = 1 << 2,
    F_TTL = 1 << 3,
    F_EXP = 1 << 4,
    F_REV = 1 << 5,
    F_OLD = 1 << 6,
    F_CMP = 1 << 7,
    F_OPS = 1 << 8,
};
#define F_VALUE_WRITE (F_KEY | F_VAL | F_META | F_TTL | F_EXP)

/* The fields each command type may carry (docs/storage.md). */
static unsigned allowed_fields(uint32_t type)
{
    switch (type) {
        case STORAGE_CMD_PUT:
        case STORAGE_CMD_CREATE:
            return F_VALUE_WRITE;
        case STORAGE_CMD_UPDATE:
            return F_VALUE_WRITE | F_REV;
        case STORAGE_CMD_CAS:
            return F_VALUE_WRITE | F_OLD;
        case STORAGE_CMD_DELETE:
        case STORAGE_CMD_PURGE:
            return F_KEY | F_REV;
        case STORAGE_CMD_TXN:
            return F_CMP | F_OPS;
        default:
            return 0;
    }
}

static unsigned field_bit(const msgpack_object *k)
{
    static const struct {
        const char *name;
        unsigned bit;
    } fields[] = {{"k", F_KEY},     {"val", F_VAL}, {"meta", F_META},
                  {"ttl", F_TTL},   {"exp", F_EXP}, {"rev", F_REV},
                  {"old", F_OLD},   {"cmp", F_CMP}, {"ops", F_OPS}};
    for (size_t i = 0; i < N_OF(fields); i++) {
        if (key_is(k, fields[i].name)) {
            return fields[i].bit;
        }
    }
    return 0;
}

/* Decode the fields shared by a command and a txn write. Returns 1 if @k is
 * one of them, 0 if not, -1 if it is malformed. */
static int write_field(const msgpack_object *k, const msgpack_object *v,
                       struct cairn_write *w, bool *has_key, bool *has_val)
{
    if (key_is(k, "k")) {
        *has_key = true;
        return get_bytes(v, &w->key, &w->key_len) == 0 ? 1 : -1;
    }
    if (key_is(k, "val")) {
        *has_val = true;
        return get_bytes(v, &w->value, &w->value_len) == 0 ? 1 : -1;
    }
    if (key_is(k, "meta")) {
        return get_bytes(v, &w->meta, &w->meta_len) == 0 ? 1 : -1;
    }
    if (key_is(k, "ttl")) {
        return get_i64(v, &w->ttl_ns) == 0 ? 1 : -1;
    }
    if (key_is(k, "exp")) {
        return get_u64(v, &w->expires_at) == 0 ? 1 : -1;
    }
    return 0;
}

static int decode_compare(const msgpack_object *o, struct cairn_compare *c,
                          uint32_t i, char *errmsg)
{
    bool has_key = false;
    unsigned operand = 0; /* which operand field was given */
    memset(c, 0, sizeof *c);
    if (o->type != MSGPACK_OBJECT_MAP) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "txn compare %u is not a map", i);
    }
    for (uint32_t j = 0; j < o->via.map.size; j++) {
        const msgpack_object *k = &o->via.map.ptr[j].key;
        const msgpack_object *v = &o->via.map.ptr[j].val;
        int bad;
        if (key_is(k, "k")) {
            has_key = true;
            bad = get_bytes(v, &c->key, &c->key_len);
        } else if (key_is(k, "target")) {
            c->target = (uint32_t)name_index(v, target_names,
                                             N_OF(target_names));
            bad = c->target == 0;
        } else if (key_is(k, "op")) {
            c->op = (uint32_t)name_index(v, cmp_op_names, N_OF(cmp_op_names));
            bad = c->op == 0;
        } else if (key_is(k, "val")) {
            bad = operand != 0 || get_bytes(v, &c->value, &c->value_len);
            operand = CAIRN_CMP_VALUE;
        } else if (key_is(k, "rev")) {
            bad = operand != 0 || get_u64(v, &c->revision);
            operand = CAIRN_CMP_REVISION;
        } else if (key_is(k, "exists")) {
            bad = operand != 0 || v->type != MSGPACK_OBJECT_BOOLEAN;
            operand = CAIRN_CMP_EXISTS;
            c->exists = !bad && v->via.boolean;
        } else {
            bad = 1;
        }
        if (bad) {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "txn compare %u has a bad or unknown field",
                                 i);
        }
    }
    if (!has_key || c->target == 0 || c->op == 0) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "txn compare %u lacks k, target or op", i);
    }
    if (operand != c->target) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "txn compare %u: its operand must be the one "
                             "of target '%s' (val, rev or exists)",
                             i, target_names[c->target]);
    }
    return 0;
}

static int decode_write(const msgpack_object *o, struct cairn_write *w,
                        uint32_t i, char *errmsg)
{
    bool has_key = false, has_val = false;
    unsigned seen = 0;
    memset(w, 0, sizeof *w);
    if (o->type != MSGPACK_OBJECT_MAP) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "txn write %u is not a map", i);
    }
    for (uint32_t j = 0; j < o->via.map.size; j++) {
        const msgpack_object *k = &o->via.map.ptr[j].key;
        const msgpack_object *v = &o->via.map.ptr[j].val;
        int r;
        if (key_is(k, "op")) {
            w->op = (uint32_t)name_index(v, op_names, N_OF(op_names));
            r = w->op != 0 ? 1 : -1;
        } else {
            seen |= field_bit(k);
            r = write_field(k, v, w, &has_key, &has_val);
        }
        if (r != 1) {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "txn write %u has a bad or unknown field", i);
        }
    }
    if (w->op == 0 || !has_key || (w->op == CAIRN_OP_PUT && !has_val)) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "txn write %u lacks op, k or val", i);
    }
    if (w->op != CAIRN_OP_PUT && (seen & ~(unsigned)F_KEY) != 0) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "txn write %u: a %s carries only k", i,
                             op_names[w->op]);
    }
    return 0;
}

static int decode_txn_arrays(const msgpack_object *cmp,
                             const msgpack_object *ops,
                             struct storage_cmd *cmd, char *errmsg)
{
    uint32_t nc = cmp != NULL ? cmp->via.array.size : 0;
    uint32_t nw = ops->via.array.size;
    struct cairn_compare *cs;
    struct cairn_write *ws;
    void *mem;
    int rc;
    if (nc > CAIRN_TXN_COMPARES_MAX || nw > CAIRN_TXN_OPS_MAX) {
        /* Keep the counts so apply() reports the limit; no arrays. */
        cmd->n_compares = nc;
        cmd->n_writes = nw;
        return storage__fail(errmsg, CAIRN_ETOOLARGE,
                             "txn has %u compares and %u writes; the limits "
                             "are %d and %d",
                             nc, nw, CAIRN_TXN_COMPARES_MAX,
                             CAIRN_TXN_OPS_MAX);
    }
    mem = calloc(1, nc * sizeof *cs + nw * sizeof *ws + 1);
    if (mem == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "decode txn");
    }
    cmd->owned_ = mem;
    ws = mem;
    cs = (struct cairn_compare *)(ws + nw);
    for (uint32_t i = 0; i < nc; i++) {
        if ((rc = decode_compare(&cmp->via.array.ptr[i], &cs[i], i, errmsg))) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < nw; i++) {
        if ((rc = decode_write(&ops->via.array.ptr[i], &ws[i], i, errmsg))) {
            return rc;
        }
    }
    cmd->compares = cs;
    cmd->n_compares = nc;
    cmd->writes = ws;
    cmd->n_writes = nw;
    return 0;
}

static int decode_cmd_map(const msgpack_object *m, struct storage_cmd *cmd,
                          char *errmsg)
{
    const msgpack_object *cmp = NULL, *ops = NULL;
    bool has_v = false, has_type = false, has_t = false, has_key = false,
         has_val = false, has_rev = false, has_old = false;
    uint64_t version = 0;
    unsigned seen = 0;

    if (m->type != MSGPACK_OBJECT_MAP) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "command is not a msgpack map");
    }
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        const msgpack_object *v = &m->via.map.ptr[i].val;
        int r = 1;
        seen |= field_bit(k);
        if (key_is(k, "v")) {
            has_v = true;
            r = get_u64(v, &version) == 0 ? 1 : -1;
        } else if (key_is(k, "type")) {
            has_type = true;
            cmd->type = (uint32_t)name_index(v, cmd_names, N_OF(cmd_names));
            r = cmd->type != 0 ? 1 : -1;
        } else if (key_is(k, "t")) {
            has_t = true;
            r = get_u64(v, &cmd->time) == 0 ? 1 : -1;
        } else if (key_is(k, "rev")) {
            has_rev = true;
            r = get_u64(v, &cmd->revision) == 0 ? 1 : -1;
        } else if (key_is(k, "old")) {
            has_old = true;
            cmd->has_old = v->type != MSGPACK_OBJECT_NIL;
            if (cmd->has_old) {
                r = get_bytes(v, &cmd->old, &cmd->old_len) == 0 ? 1 : -1;
            }
        } else if (key_is(k, "cmp")) {
            cmp = v;
            r = v->type == MSGPACK_OBJECT_ARRAY ? 1 : -1;
        } else if (key_is(k, "ops")) {
            ops = v;
            r = v->type == MSGPACK_OBJECT_ARRAY ? 1 : -1;
        } else {
            r = write_field(k, v, &cmd->w, &has_key, &has_val);
        }
        if (r != 1) {
            int n = k->type == MSGPACK_OBJECT_STR ? (int)k->via.str.size : 0;
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 r == 0 ? "command has unknown field '%.*s'"
                                        : "command field '%.*s' has the "
                                          "wrong type",
                                 n > 32 ? 32 : n,
                                 n > 0 ? k->via.str.ptr : "");
        }
    }
    if (!has_v) {
        return BAD("v");
    }
    if (version != CODEC_VERSION) {
        return storage__fail(errmsg, CAIRN_EVERSION,
                             "command version %llu is not supported (this "
                             "build speaks %d)",
                             (unsigned long long)version, CODEC_VERSION);
    }
    if (!has_type) {
        return BAD("type");
    }
    if (!has_t) {
        return BAD("t");
    }
    if ((seen & ~allowed_fields(cmd->type)) != 0) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "command '%s' has a field its type does not "
                             "use",
                             cmd_names[cmd->type]);
    }
    switch (cmd->type) {
        case STORAGE_CMD_PUT:
        case STORAGE_CMD_CREATE:
        case STORAGE_CMD_UPDATE:
        case STORAGE_CMD_CAS:
            if (!has_key || !has_val) {
                return BAD(has_key ? "val" : "k");
            }
            if (cmd->type == STORAGE_CMD_UPDATE && !has_rev) {
                return BAD("rev");
            }
            if (cmd->type == STORAGE_CMD_CAS && !has_old) {
                return BAD("old");
            }
            cmd->w.op = CAIRN_OP_PUT;
            break;
        case STORAGE_CMD_DELETE:
        case STORAGE_CMD_PURGE:
            if (!has_key) {
                return BAD("k");
            }
            cmd->w.op = cmd->type == STORAGE_CMD_DELETE ? CAIRN_OP_DEL
                                                        : CAIRN_OP_PURGE;
            break;
        case STORAGE_CMD_TXN:
            if (ops == NULL) {
                return BAD("ops");
            }
            return decode_txn_arrays(cmp, ops, cmd, errmsg);
        default:
            break;
    }
    return 0;
}

int storage_cmd_decode(const void *buf, size_t len, struct storage_cmd *cmd,
                       char *errmsg)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc;
    memset(cmd, 0, sizeof *cmd);
    if (buf == NULL || cairn_msgpack_check(buf, len) != 0) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "command is not a complete msgpack document");
    }
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "command is not valid msgpack");
    }
    if (off != len) {
        rc = storage__fail(errmsg, CAIRN_EMALFORMED,
                           "command has %zu trailing bytes", len - off);
    } else {
        rc = decode_cmd_map(&u.data, cmd, errmsg);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

void storage_cmd_release(struct storage_cmd *cmd)
{
    free(cmd->owned_);
    cmd->owned_ = NULL;
    cmd->compares = NULL;
    cmd->writes = NULL;
}

/* ------------------------------------------------------------------------
 * Results
 * ---------------------------------------------------------------------- */

int storage_result_encode(const struct storage_result *res, void **buf,
                          size_t *len, char *errmsg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t mlen = strnlen(res->errmsg, sizeof res->errmsg);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    pack_key(&pk, "v");
    msgpack_pack_uint32(&pk, CODEC_VERSION);
    pack_key(&pk, "code");
    msgpack_pack_int(&pk, res->code);
    pack_key(&pk, "rev");
    msgpack_pack_uint64(&pk, res->revision);
    pack_key(&pk, "last_rev");
    msgpack_pack_uint64(&pk, res->last_revision);
    pack_key(&pk, "cur_rev");
    msgpack_pack_uint64(&pk, res->current_revision);
    pack_key(&pk, "failed");
    msgpack_pack_uint32(&pk, res->failed_compare);
    pack_key(&pk, "count");
    msgpack_pack_uint32(&pk, res->count);
    pack_key(&pk, "skipped");
    if (res->skipped) {
        msgpack_pack_true(&pk);
    } else {
        msgpack_pack_false(&pk);
    }
    pack_key(&pk, "msg");
    msgpack_pack_str_with_body(&pk, res->errmsg, mlen);
    if (sb.data == NULL) {
        return storage__fail(errmsg, CAIRN_ENOMEM, "encode result");
    }
    *buf = sb.data;
    *len = sb.size;
    return 0;
}

static int decode_result_map(const msgpack_object *m,
                             struct storage_result *res, char *errmsg)
{
    bool has_v = false, has_code = false;
    uint64_t version = 0;
    if (m->type != MSGPACK_OBJECT_MAP) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "result is not a msgpack map");
    }
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        const msgpack_object *v = &m->via.map.ptr[i].val;
        int bad = 0;
        int64_t code;
        if (key_is(k, "v")) {
            has_v = true;
            bad = get_u64(v, &version);
        } else if (key_is(k, "code")) {
            has_code = true;
            bad = get_i64(v, &code) || code < 0 || code >= CAIRN__ERR_COUNT;
            res->code = bad ? 0 : (int)code;
        } else if (key_is(k, "rev")) {
            bad = get_u64(v, &res->revision);
        } else if (key_is(k, "last_rev")) {
            bad = get_u64(v, &res->last_revision);
        } else if (key_is(k, "cur_rev")) {
            bad = get_u64(v, &res->current_revision);
        } else if (key_is(k, "failed")) {
            bad = get_u32(v, &res->failed_compare);
        } else if (key_is(k, "count")) {
            bad = get_u32(v, &res->count);
        } else if (key_is(k, "skipped")) {
            bad = v->type != MSGPACK_OBJECT_BOOLEAN;
            res->skipped = !bad && v->via.boolean;
        } else if (key_is(k, "msg")) {
            bad = v->type != MSGPACK_OBJECT_STR;
            if (!bad) {
                size_t n = v->via.str.size;
                if (n >= sizeof res->errmsg) {
                    n = sizeof res->errmsg - 1;
                }
                memcpy(res->errmsg, v->via.str.ptr, n);
                res->errmsg[n] = '\0';
            }
        } else {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "result has an unknown field");
        }
        if (bad) {
            return storage__fail(errmsg, CAIRN_EMALFORMED,
                                 "result field has the wrong type or value");
        }
    }
    if (!has_v) {
        return BAD("v");
    }
    if (version != CODEC_VERSION) {
        return storage__fail(errmsg, CAIRN_EVERSION,
                             "result version %llu is not supported",
                             (unsigned long long)version);
    }
    return has_code ? 0 : BAD("code");
}

int storage_result_decode(const void *buf, size_t len,
                          struct storage_result *res, char *errmsg)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc;
    memset(res, 0, sizeof *res);
    if (buf == NULL || cairn_msgpack_check(buf, len) != 0) {
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "result is not a complete msgpack document");
    }
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len) {
        msgpack_unpacked_destroy(&u);
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "result is not valid msgpack");
    }
    rc = decode_result_map(&u.data, res, errmsg);
    msgpack_unpacked_destroy(&u);
    return rc;
}
