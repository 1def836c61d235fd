/* Private to the wire codec (client/wire*.c): msgpack helpers shared by its
 * files. Never included from another folder; the codec's API is wire.h. */
#ifndef CAIRN_WIRE_INTERNAL_H
#define CAIRN_WIRE_INTERNAL_H

#include <msgpack.h>
#include <string.h>

#include "wire.h"

#define WIRE_N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Room for a field name quoted in a message (see cairn_wire__name). */
#define WIRE_NAME_SIZE 40

/* Write a formatted message into @errmsg (may be NULL) and return @code. */
int cairn_wire__fail(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix @errmsg's message with "@what: " (no-op for NULL). */
void cairn_wire__wrap(char *errmsg, const char *what);

/* A printable copy of map key @k for a message: at most 32 bytes, other
 * bytes than printable ASCII as '?', "?" for a key that is not a string. */
const char *cairn_wire__name(const msgpack_object *k,
                             char buf[WIRE_NAME_SIZE]);

/* msgpack_packer callback appending to a struct cairn_wire_buf. */
int cairn_wire__buf_write(void *data, const char *p, size_t n);

/*
 * Pack node @n as the node map of cluster.status (@with_role) or of a
 * node.join request (no "role"): "id", "name", "client", "peer", "http"
 * when http.len > 0, "tags" (always an array), "cluster", then "role" when
 * @with_role and role.len > 0. n->tags must hold n->n_tags strings.
 */
void cairn_wire__node_pack(msgpack_packer *pk, const struct cairn_wire_node *n,
                           bool with_role);

/*
 * Decode node.join's node map @o into @nd, strictly: unknown, repeated,
 * wrong-type or missing fields are CAIRN_EMALFORMED ("node field 'peer'
 * has the wrong type ..."); then the rules on values: CAIRN_EINVAL (id 0,
 * a name or cluster outside [A-Za-z0-9_.-]{1,CAIRN_WIRE_NODE_NAME_MAX}, an
 * address empty, with a NUL or over CAIRN_WIRE_ADDRESS_MAX bytes, "http"
 * included when present; a tag that is not the key:value of
 * cairn_bucket_config, or one given twice), CAIRN_ETOOLARGE (more than
 * CAIRN_TAGS_MAX tags). Strings are views into @o's document; nd->tags
 * points at @tags. nd->role stays empty.
 */
int cairn_wire__node_unpack(const msgpack_object *o, struct cairn_wire_node *nd,
                            struct cairn_wire_str tags[CAIRN_TAGS_MAX],
                            char *errmsg);

static inline bool wire_key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, s, n) == 0;
}

static inline int wire_get_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return -1;
    }
    *out = o->via.u64;
    return 0;
}

static inline int wire_get_u32(const msgpack_object *o, uint32_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o->via.u64 > UINT32_MAX) {
        return -1;
    }
    *out = (uint32_t)o->via.u64;
    return 0;
}

static inline int wire_get_i64(const msgpack_object *o, int64_t *out)
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

static inline int wire_get_bool(const msgpack_object *o, bool *out)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN) {
        return -1;
    }
    *out = o->via.boolean;
    return 0;
}

/* A byte string: bin, or (unless CAIRN_WIRE_STRICT) str. */
static inline int wire_get_bytes(const msgpack_object *o, const void **p,
                                 size_t *n, unsigned flags)
{
    if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *n = o->via.bin.size;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_STR && !(flags & CAIRN_WIRE_STRICT)) {
        *p = o->via.str.ptr;
        *n = o->via.str.size;
        return 0;
    }
    return -1;
}

/* A str as a view. */
static inline int wire_get_strview(const msgpack_object *o,
                                   struct cairn_wire_str *s)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        return -1;
    }
    s->ptr = o->via.str.ptr;
    s->len = o->via.str.size;
    return 0;
}

/* A str copied into @dst (@cap bytes with the NUL); no NUL inside. */
static inline int wire_get_str(const msgpack_object *o, char *dst, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap ||
        memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
        return -1;
    }
    memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
    return 0;
}

static inline void wire_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* A NULL pointer packs as an empty string: never as @n bytes read from
 * nowhere (and never as NULL handed to memcpy). */
static inline void wire_pack_strn(msgpack_packer *pk, const char *s,
                                  size_t n)
{
    msgpack_pack_str_with_body(pk, s != NULL ? s : "", s != NULL ? n : 0);
}

static inline void wire_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin_with_body(pk, p != NULL ? p : "", p != NULL ? n : 0);
}

static inline void wire_pack_bool(msgpack_packer *pk, bool b)
{
    if (b) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
}

/*
 * Unpack the single msgpack document @buf (@len bytes) into @u after
 * cairn_msgpack_check(). Returns 0, or -1 (not exactly one complete,
 * bounded document); @u must be destroyed in both cases.
 */
int cairn_wire__unpack(const void *buf, size_t len, msgpack_unpacked *u);

#endif
