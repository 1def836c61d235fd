/*
 * The log entry envelope: { "v": 1, "cmds": [bin, ...] }, then zero bytes
 * up to a multiple of 8. raft_uv requires every entry's length to be a
 * multiple of 8 (an assert that release builds drop): it pads the data it
 * writes, and an unpadded entry makes the closed segment unreadable at the
 * next start ("read preamble: short read").
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus.h"

static int fail(char *errmsg, int code, const char *msg)
{
    if (errmsg != NULL) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "log entry: %s", msg);
    }
    return code;
}

int consensus_entry_encode(const struct consensus_cmd_buf *cmds, unsigned n,
                           void *(*alloc)(size_t), void **buf, size_t *len,
                           char *errmsg)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t padded;
    void *out;
    if (n == 0 || n > CONSENSUS_BATCH_MAX) {
        return fail(errmsg, CAIRN_EINVAL, "needs 1..1024 commands");
    }
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "v", 1);
    msgpack_pack_uint32(&pk, CONSENSUS_ENTRY_VERSION);
    msgpack_pack_str_with_body(&pk, "cmds", 4);
    msgpack_pack_array(&pk, n);
    for (unsigned i = 0; i < n; i++) {
        msgpack_pack_bin_with_body(&pk, cmds[i].base, cmds[i].len);
    }
    if (sb.data == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    padded = (sb.size + 7) & ~(size_t)7;
    out = (alloc != NULL ? alloc : malloc)(padded);
    if (out == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    memcpy(out, sb.data, sb.size);
    memset((uint8_t *)out + sb.size, 0, padded - sb.size);
    *buf = out;
    *len = padded;
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

int consensus_entry_decode(const void *buf, size_t len,
                           struct consensus_cmd_buf *cmds, unsigned *n,
                           char *errmsg)
{
    msgpack_unpacked u;
    size_t off = 0, doc_len = 0;
    bool have_v = false, have_cmds = false;
    int rc = 0;
    *n = 0;
    if (buf == NULL || cairn_msgpack_check_prefix(buf, len, &doc_len) != 0) {
        return fail(errmsg, CAIRN_EMALFORMED, "not one complete msgpack "
                    "document");
    }
    /* Up to 7 zero bytes of padding may follow; nothing else. */
    if (len - doc_len > 7) {
        return fail(errmsg, CAIRN_EMALFORMED, "bytes after the document");
    }
    for (size_t i = doc_len; i < len; i++) {
        if (((const uint8_t *)buf)[i] != 0) {
            return fail(errmsg, CAIRN_EMALFORMED, "bytes after the document");
        }
    }
    len = doc_len;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len || u.data.type != MSGPACK_OBJECT_MAP) {
        rc = fail(errmsg, CAIRN_EMALFORMED, "not a msgpack map");
        goto out;
    }
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
        const msgpack_object *k = &u.data.via.map.ptr[i].key;
        const msgpack_object *v = &u.data.via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR) {
            rc = fail(errmsg, CAIRN_EMALFORMED, "key is not a string");
            goto out;
        }
        if (k->via.str.size == 1 && k->via.str.ptr[0] == 'v') {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                rc = fail(errmsg, CAIRN_EMALFORMED, "bad version field");
                goto out;
            }
            if (v->via.u64 != CONSENSUS_ENTRY_VERSION) {
                rc = fail(errmsg, CAIRN_EVERSION, "unknown entry version");
                goto out;
            }
            have_v = true;
        } else if (k->via.str.size == 4 &&
                   memcmp(k->via.str.ptr, "cmds", 4) == 0) {
            if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size == 0 ||
                v->via.array.size > CONSENSUS_BATCH_MAX) {
                rc = fail(errmsg, CAIRN_EMALFORMED,
                          "cmds is not an array of 1..1024");
                goto out;
            }
            for (uint32_t j = 0; j < v->via.array.size; j++) {
                const msgpack_object *c = &v->via.array.ptr[j];
                if (c->type != MSGPACK_OBJECT_BIN) {
                    rc = fail(errmsg, CAIRN_EMALFORMED,
                              "a command is not binary");
                    goto out;
                }
                cmds[j].base = c->via.bin.ptr;
                cmds[j].len = c->via.bin.size;
            }
            *n = v->via.array.size;
            have_cmds = true;
        } else {
            rc = fail(errmsg, CAIRN_EMALFORMED, "unknown field");
            goto out;
        }
    }
    if (!have_v || !have_cmds) {
        rc = fail(errmsg, CAIRN_EMALFORMED, "v or cmds missing");
    }
out:
    if (rc != 0) {
        *n = 0;
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}
