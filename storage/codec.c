/*
 * msgpack encodings of configs, commands and results (docs/storage.md).
 * Every decoder runs cairn_msgpack_check() before msgpack-c sees the input.
 *
 * The config map and a txn's "cmp" and "ops" arrays are also part of the
 * client protocol, so their one implementation lives in client/wire_shapes.c
 * (wire.h); this file calls it with flags 0, which keeps the storage
 * engine's reading of them exactly as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "wire.h"

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
    cairn_wire_config_pack(pk, cfg);
}

int storage__config_unpack(const msgpack_object *o, cairn_bucket_config *cfg,
                           char *errmsg)
{
    if (cairn_wire_config_unpack(o, cfg, 0, errmsg) != 0) {
        return CAIRN_EMALFORMED;
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
    if (cmd->cid != 0) {
        if (cmd->type == STORAGE_CMD_EXPIRE) {
            return storage__fail(errmsg, CAIRN_EINVAL,
                                 "expire does not take a client id");
        }
        n += 2; /* cid, seq */
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
        int rc = cairn_wire_txn_check(cmd->compares, cmd->n_compares,
                                      cmd->writes, cmd->n_writes, errmsg);
        if (rc != 0) {
            return rc;
        }
    }
    if (key) {
        /* delete and purge carry only the key (and a revision). */
        n += 1 + (value ? cairn_wire_write_fields(&cmd->w, value) : 0);
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
    if (cmd->cid != 0) {
        pack_key(&pk, "cid");
        msgpack_pack_uint64(&pk, cmd->cid);
        pack_key(&pk, "seq");
        msgpack_pack_uint64(&pk, cmd->seq);
    }
    if (key) {
        pack_key(&pk, "k");
        pack_bin(&pk, cmd->w.key, cmd->w.key_len);
        if (value) {
            cairn_wire_write_fields_pack(&pk, &cmd->w, value);
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
        cairn_wire_compares_pack(&pk, cmd->compares, cmd->n_compares);
        pack_key(&pk, "ops");
        cairn_wire_writes_pack(&pk, cmd->writes, cmd->n_writes);
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
    F_CID = 1 << 9,
    F_SEQ = 1 << 10,
};
#define F_VALUE_WRITE (F_KEY | F_VAL | F_META | F_TTL | F_EXP)

/* The fields each command type may carry (docs/storage.md); every write
 * may carry a client id and sequence number, expire may not. */
static unsigned allowed_fields(uint32_t type)
{
    switch (type) {
        case STORAGE_CMD_PUT:
        case STORAGE_CMD_CREATE:
            return F_VALUE_WRITE | F_CID | F_SEQ;
        case STORAGE_CMD_UPDATE:
            return F_VALUE_WRITE | F_REV | F_CID | F_SEQ;
        case STORAGE_CMD_CAS:
            return F_VALUE_WRITE | F_OLD | F_CID | F_SEQ;
        case STORAGE_CMD_DELETE:
        case STORAGE_CMD_PURGE:
            return F_KEY | F_REV | F_CID | F_SEQ;
        case STORAGE_CMD_TXN:
            return F_CMP | F_OPS | F_CID | F_SEQ;
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
                  {"old", F_OLD},   {"cmp", F_CMP}, {"ops", F_OPS},
                  {"cid", F_CID},   {"seq", F_SEQ}};
    for (size_t i = 0; i < N_OF(fields); i++) {
        if (key_is(k, fields[i].name)) {
            return fields[i].bit;
        }
    }
    return 0;
}

static int decode_txn_arrays(const msgpack_object *cmp,
                             const msgpack_object *ops,
                             struct storage_cmd *cmd, char *errmsg)
{
    struct cairn_wire_txn t;
    int rc = cairn_wire_txn_unpack(cmp, ops, 0, &t, errmsg);
    /* On CAIRN_ETOOLARGE the counts are kept so apply() reports the
     * limit; no arrays. */
    cmd->n_compares = t.n_compares;
    cmd->n_writes = t.n_writes;
    if (rc != 0) {
        return rc;
    }
    cmd->owned_ = t.owned;
    cmd->compares = t.compares;
    cmd->writes = t.writes;
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
        } else if (key_is(k, "cid")) {
            r = get_u64(v, &cmd->cid) == 0 ? 1 : -1;
        } else if (key_is(k, "seq")) {
            r = get_u64(v, &cmd->seq) == 0 ? 1 : -1;
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
            r = cairn_wire_write_field_unpack(k, v, &cmd->w, &has_key,
                                              &has_val, 0);
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
    if ((seen & F_CID) != (seen & F_SEQ) >> 1) {
        return BAD((seen & F_CID) ? "seq" : "cid");
    }
    if ((seen & F_CID) && cmd->cid == 0) {
        /* 0 means "no client id": it is never encoded. */
        return storage__fail(errmsg, CAIRN_EMALFORMED,
                             "command field 'cid' is 0");
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
    msgpack_pack_map(&pk, 10);
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
    pack_key(&pk, "dup");
    if (res->duplicate) {
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
        } else if (key_is(k, "dup")) {
            bad = v->type != MSGPACK_OBJECT_BOOLEAN;
            res->duplicate = !bad && v->via.boolean;
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
