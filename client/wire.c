/*
 * The client protocol codec (docs/protocol.md), part 1: output buffers,
 * frames, the stream reader, the op table and requests. Responses are in
 * wire_response.c, the shapes shared with storage in wire_shapes.c.
 *
 * Frame layout (both directions):
 *
 *   offset size field
 *   0      4    L, big-endian: the body's length, at most CAIRN_FRAME_MAX
 *   4      L    body: one msgpack map
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "wire_internal.h"

#define NO_FRAME SIZE_MAX

/* ------------------------------------------------------------------------
 * Output buffers and frames
 * ---------------------------------------------------------------------- */

void cairn_wire_buf_init(struct cairn_wire_buf *b)
{
    memset(b, 0, sizeof *b);
    b->frame_ = NO_FRAME;
}

void cairn_wire_buf_close(struct cairn_wire_buf *b)
{
    free(b->data);
    cairn_wire_buf_init(b);
}

void cairn_wire_buf_reset(struct cairn_wire_buf *b)
{
    b->len = 0;
    b->frame_ = NO_FRAME;
    b->failed_ = 0;
}

/* Make room for @n more bytes. Returns 0 or CAIRN_ENOMEM. */
static int buf_reserve(struct cairn_wire_buf *b, size_t n)
{
    size_t cap;
    uint8_t *p;
    if (b->cap - b->len >= n) {
        return 0;
    }
    if (n > SIZE_MAX / 2 - b->len) {
        return CAIRN_ENOMEM;
    }
    cap = b->cap < 256 ? 256 : b->cap;
    while (cap - b->len < n) {
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return CAIRN_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int cairn_wire__buf_write(void *data, const char *p, size_t n)
{
    struct cairn_wire_buf *b = data;
    if (b->failed_ != 0) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    /* Stop a runaway body at the frame limit instead of growing on. */
    if (b->frame_ != NO_FRAME &&
        b->len + n - b->frame_ - CAIRN_WIRE_HEADER > CAIRN_FRAME_MAX) {
        b->failed_ = CAIRN_ETOOLARGE;
        return -1;
    }
    if (buf_reserve(b, n) != 0) {
        b->failed_ = CAIRN_ENOMEM;
        return -1;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

size_t cairn_wire_frame_begin(struct cairn_wire_buf *out, msgpack_packer *pk)
{
    static const char zero[CAIRN_WIRE_HEADER] = {0};
    size_t start = out->len;
    out->failed_ = 0;
    out->frame_ = NO_FRAME;
    (void)cairn_wire__buf_write(out, zero, sizeof zero);
    out->frame_ = start;
    msgpack_packer_init(pk, out, cairn_wire__buf_write);
    return start;
}

int cairn_wire_frame_end(struct cairn_wire_buf *out, size_t start,
                         char *errmsg)
{
    int rc = out->failed_;
    size_t body;
    out->frame_ = NO_FRAME;
    out->failed_ = 0;
    if (rc == 0 && (start > out->len || out->len - start < CAIRN_WIRE_HEADER)) {
        rc = CAIRN_EINVAL;
    }
    if (rc != 0) {
        if (start <= out->len) {
            out->len = start;
        }
        return cairn_wire__fail(errmsg, rc,
                                rc == CAIRN_ETOOLARGE
                                    ? "frame body is larger than %u bytes"
                                : rc == CAIRN_ENOMEM
                                    ? "out of memory encoding a frame (%u)"
                                    : "frame end without its begin (%u)",
                                CAIRN_FRAME_MAX);
    }
    body = out->len - start - CAIRN_WIRE_HEADER;
    out->data[start] = (uint8_t)(body >> 24);
    out->data[start + 1] = (uint8_t)(body >> 16);
    out->data[start + 2] = (uint8_t)(body >> 8);
    out->data[start + 3] = (uint8_t)body;
    return 0;
}

int cairn_wire_frame_write(struct cairn_wire_buf *out, const void *body,
                           size_t len, char *errmsg)
{
    msgpack_packer pk;
    size_t start;
    if (len > CAIRN_FRAME_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_ETOOLARGE,
                                "frame body of %zu bytes is larger than %u",
                                len, CAIRN_FRAME_MAX);
    }
    start = cairn_wire_frame_begin(out, &pk);
    (void)cairn_wire__buf_write(out, body, len);
    return cairn_wire_frame_end(out, start, errmsg);
}

/* ------------------------------------------------------------------------
 * Reading frames
 * ---------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

void cairn_wire_reader_init(struct cairn_wire_reader *r)
{
    memset(r, 0, sizeof *r);
}

void cairn_wire_reader_close(struct cairn_wire_reader *r)
{
    free(r->buf);
    cairn_wire_reader_init(r);
}

static int reader_fail(struct cairn_wire_reader *r, int code, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/* Make @code the reader's sticky error, with a message. */
static int reader_fail(struct cairn_wire_reader *r, int code, const char *fmt,
                       ...)
{
    va_list ap;
    r->error = code;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof r->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int cairn_wire_reader_feed(struct cairn_wire_reader *r, const void *data,
                           size_t len)
{
    if (r->error != 0) {
        return r->error;
    }
    if (r->in_len > 0) {
        return reader_fail(r, CAIRN_EINVAL,
                           "frame reader: fed again with %llu bytes of the "
                           "previous feed not drained",
                           (unsigned long long)r->in_len);
    }
    r->in = len > 0 ? data : NULL;
    r->in_len = len;
    return 0;
}

/* The frame length in @hdr, or a sticky CAIRN_ETOOLARGE. */
static int frame_length(struct cairn_wire_reader *r, const uint8_t *hdr,
                        size_t *len)
{
    uint32_t l = be32(hdr);
    if (l > CAIRN_FRAME_MAX) {
        return reader_fail(r, CAIRN_ETOOLARGE,
                           "frame of %llu bytes is larger than the limit "
                           "(32 MiB)",
                           (unsigned long long)l);
    }
    *len = l;
    return 0;
}

/* Grow the buffer to at least @need bytes (the frame being assembled). */
static int reader_grow(struct cairn_wire_reader *r, size_t need)
{
    uint8_t *p;
    if (r->cap >= need) {
        return 0;
    }
    if (need < 64) {
        need = 64;
    }
    p = realloc(r->buf, need);
    if (p == NULL) {
        return reader_fail(r, CAIRN_ENOMEM,
                           "frame reader: out of memory for a %llu-byte "
                           "frame",
                           (unsigned long long)need);
    }
    r->buf = p;
    r->cap = need;
    return 0;
}

/* Move up to @n fed bytes into the buffer. */
static void reader_take(struct cairn_wire_reader *r, size_t n)
{
    if (n > r->in_len) {
        n = r->in_len;
    }
    if (n > 0) {
        memcpy(r->buf + r->have, r->in, n);
        r->have += n;
        r->in += n;
        r->in_len -= n;
    }
}

int cairn_wire_reader_next(struct cairn_wire_reader *r, const void **body,
                           size_t *len)
{
    size_t l = 0;
    int rc;
    *body = NULL;
    *len = 0;
    if (r->error != 0) {
        return r->error;
    }
    if (r->have > 0) {
        /* Finish the frame that spans feeds. */
        if (r->have < CAIRN_WIRE_HEADER) {
            reader_take(r, CAIRN_WIRE_HEADER - r->have);
            if (r->have < CAIRN_WIRE_HEADER) {
                return 0;
            }
        }
        if ((rc = frame_length(r, r->buf, &l)) != 0 ||
            (rc = reader_grow(r, CAIRN_WIRE_HEADER + l)) != 0) {
            return rc;
        }
        reader_take(r, CAIRN_WIRE_HEADER + l - r->have);
        if (r->have < CAIRN_WIRE_HEADER + l) {
            return 0;
        }
        r->have = 0;
        *body = r->buf + CAIRN_WIRE_HEADER;
        *len = l;
        return 0;
    }
    if (r->in_len == 0) {
        return 0;
    }
    if (r->in_len >= CAIRN_WIRE_HEADER) {
        if ((rc = frame_length(r, r->in, &l)) != 0) {
            return rc;
        }
        if (r->in_len - CAIRN_WIRE_HEADER >= l) {
            /* Whole within the feed: a view, no copy. */
            *body = r->in + CAIRN_WIRE_HEADER;
            *len = l;
            r->in += CAIRN_WIRE_HEADER + l;
            r->in_len -= CAIRN_WIRE_HEADER + l;
            return 0;
        }
    }
    /* A partial frame: keep its bytes until the rest arrives. */
    if ((rc = reader_grow(r, r->in_len >= CAIRN_WIRE_HEADER
                                 ? CAIRN_WIRE_HEADER + l
                                 : CAIRN_WIRE_HEADER)) != 0) {
        return rc;
    }
    reader_take(r, r->in_len);
    return 0;
}

/* ------------------------------------------------------------------------
 * Operations and their request fields
 * ---------------------------------------------------------------------- */

/* Request fields, in the order the encoder writes them. */
enum {
    RF_ID,
    RF_OP,
    RF_VERSION,
    RF_CLIENT,
    RF_CONFIG,
    RF_NODE,
    RF_BUCKET,
    RF_KEY,
    RF_OLD,
    RF_VAL,
    RF_META,
    RF_TTL,
    RF_EXP,
    RF_REV,
    RF_START,
    RF_END,
    RF_PREFIX,
    RF_CURSOR,
    RF_LIMIT,
    RF_KEYS_ONLY,
    RF_STALE,
    RF_CMP,
    RF_OPS,
    RF_CID,
    RF_SEQ,
    RF_GROUP,
    RF_TERM,
    RF_FROM,
    RF_LATEST,
    RF_WATCH,
    RF__COUNT
};

static const char *const rf_names[RF__COUNT] = {
    [RF_ID] = "id",         [RF_OP] = "op",         [RF_VERSION] = "version",
    [RF_CLIENT] = "client", [RF_CONFIG] = "config", [RF_NODE] = "node",
    [RF_BUCKET] = "bucket",
    [RF_KEY] = "key",       [RF_OLD] = "old",       [RF_VAL] = "val",
    [RF_META] = "meta",     [RF_TTL] = "ttl",       [RF_EXP] = "exp",
    [RF_REV] = "rev",       [RF_START] = "start",   [RF_END] = "end",
    [RF_PREFIX] = "prefix", [RF_CURSOR] = "cursor", [RF_LIMIT] = "limit",
    [RF_KEYS_ONLY] = "keys_only", [RF_STALE] = "stale", [RF_CMP] = "cmp",
    [RF_OPS] = "ops",       [RF_CID] = "cid",       [RF_SEQ] = "seq",
    [RF_GROUP] = "group",   [RF_TERM] = "term",     [RF_FROM] = "from",
    [RF_LATEST] = "latest", [RF_WATCH] = "watch",
};

/* What each field's value must be, for messages. */
static const char *const rf_types[RF__COUNT] = {
    [RF_ID] = "an unsigned integer",  [RF_OP] = "a string",
    [RF_VERSION] = "an unsigned integer", [RF_CLIENT] = "a string",
    [RF_CONFIG] = "a map",            [RF_BUCKET] = "a string",
    [RF_NODE] = "an unsigned integer", /* node.join: a map (rf_type) */
    [RF_KEY] = "bin",                 [RF_OLD] = "bin or nil",
    [RF_VAL] = "bin",                 [RF_META] = "bin",
    [RF_TTL] = "an integer",          [RF_EXP] = "an unsigned integer",
    [RF_REV] = "an unsigned integer", [RF_START] = "bin",
    [RF_END] = "bin",                 [RF_PREFIX] = "bin",
    [RF_CURSOR] = "bin",              [RF_LIMIT] = "an unsigned integer",
    [RF_KEYS_ONLY] = "a boolean",     [RF_STALE] = "a boolean",
    [RF_CMP] = "an array",            [RF_OPS] = "an array",
    [RF_CID] = "an unsigned integer", [RF_SEQ] = "an unsigned integer",
    [RF_GROUP] = "an unsigned integer", [RF_TERM] = "an unsigned integer",
    [RF_FROM] = "an unsigned integer", [RF_LATEST] = "a boolean",
    [RF_WATCH] = "an unsigned integer",
};

#define B(f) (1u << RF_##f)
#define VALUE_OPT (B(META) | B(TTL) | B(EXP) | B(CID) | B(SEQ))
#define RANGE_OPT (B(START) | B(END) | B(PREFIX) | B(KEYS_ONLY) | B(STALE))

struct op_row {
    const char *name;
    uint32_t required; /* beyond id and op */
    uint32_t optional;
};

static const struct op_row op_rows[CAIRN_WIRE__OP_COUNT] = {
    [CAIRN_WIRE_HELLO] = {"hello", B(VERSION), B(CLIENT)},
    [CAIRN_WIRE_BUCKET_CREATE] = {"bucket.create", B(CONFIG), 0},
    [CAIRN_WIRE_BUCKET_DELETE] = {"bucket.delete", B(BUCKET), 0},
    [CAIRN_WIRE_BUCKET_LIST] = {"bucket.list", 0, 0},
    [CAIRN_WIRE_BUCKET_INFO] = {"bucket.info", B(BUCKET), B(STALE)},
    [CAIRN_WIRE_GET] = {"get", B(BUCKET) | B(KEY), B(REV) | B(STALE)},
    [CAIRN_WIRE_EXISTS] = {"exists", B(BUCKET) | B(KEY), B(STALE)},
    [CAIRN_WIRE_PUT] = {"put", B(BUCKET) | B(KEY) | B(VAL), VALUE_OPT},
    [CAIRN_WIRE_CREATE] = {"create", B(BUCKET) | B(KEY) | B(VAL), VALUE_OPT},
    [CAIRN_WIRE_UPDATE] = {"update", B(BUCKET) | B(KEY) | B(VAL) | B(REV),
                           VALUE_OPT},
    [CAIRN_WIRE_CAS] = {"cas", B(BUCKET) | B(KEY) | B(OLD) | B(VAL),
                        VALUE_OPT},
    [CAIRN_WIRE_DELETE] = {"delete", B(BUCKET) | B(KEY),
                           B(REV) | B(CID) | B(SEQ)},
    [CAIRN_WIRE_PURGE] = {"purge", B(BUCKET) | B(KEY),
                          B(REV) | B(CID) | B(SEQ)},
    [CAIRN_WIRE_HISTORY] = {"history", B(BUCKET) | B(KEY), B(STALE)},
    [CAIRN_WIRE_SCAN] = {"scan", B(BUCKET),
                         RANGE_OPT | B(CURSOR) | B(LIMIT) | B(FROM)},
    [CAIRN_WIRE_COUNT] = {"count", B(BUCKET), RANGE_OPT},
    [CAIRN_WIRE_TXN] = {"txn", B(BUCKET) | B(OPS), B(CMP) | B(CID) | B(SEQ)},
    [CAIRN_WIRE_CLUSTER_STATUS] = {"cluster.status", 0, 0},
    [CAIRN_WIRE_NODE_JOIN] = {"node.join", B(NODE), 0},
    [CAIRN_WIRE_NODE_REMOVE] = {"node.remove", B(NODE), 0},
    [CAIRN_WIRE_BUCKET_LEADER] = {"bucket.leader",
                                  B(BUCKET) | B(GROUP) | B(NODE) | B(TERM), 0},
    [CAIRN_WIRE_WATCH] = {"watch", B(BUCKET),
                          B(KEY) | B(PREFIX) | B(FROM) | B(LATEST)},
    [CAIRN_WIRE_WATCH_CANCEL] = {"watch.cancel", B(WATCH), 0},
};

/* The request .has bits and the fields they stand for. */
static const struct {
    uint32_t has;
    uint32_t fields;
} has_fields[] = {
    {CAIRN_WIRE_REQ_CLIENT, B(CLIENT)},
    {CAIRN_WIRE_REQ_REV, B(REV)},
    {CAIRN_WIRE_REQ_STALE, B(STALE)},
    {CAIRN_WIRE_REQ_META, B(META)},
    {CAIRN_WIRE_REQ_TTL, B(TTL)},
    {CAIRN_WIRE_REQ_EXP, B(EXP)},
    {CAIRN_WIRE_REQ_CID_SEQ, B(CID) | B(SEQ)},
    {CAIRN_WIRE_REQ_START, B(START)},
    {CAIRN_WIRE_REQ_END, B(END)},
    {CAIRN_WIRE_REQ_PREFIX, B(PREFIX)},
    {CAIRN_WIRE_REQ_CURSOR, B(CURSOR)},
    {CAIRN_WIRE_REQ_LIMIT, B(LIMIT)},
    {CAIRN_WIRE_REQ_KEYS_ONLY, B(KEYS_ONLY)},
    {CAIRN_WIRE_REQ_CMP, B(CMP)},
    {CAIRN_WIRE_REQ_KEY, B(KEY)},
    {CAIRN_WIRE_REQ_FROM, B(FROM)},
    {CAIRN_WIRE_REQ_LATEST, B(LATEST)},
};

static bool op_valid(uint32_t op)
{
    return op > CAIRN_WIRE_OP_NONE && op < CAIRN_WIRE__OP_COUNT;
}

const char *cairn_wire_op_name(uint32_t op)
{
    return op_valid(op) ? op_rows[op].name : NULL;
}

uint32_t cairn_wire_op_parse(const char *name, size_t len)
{
    for (uint32_t op = 1; op < CAIRN_WIRE__OP_COUNT; op++) {
        if (strlen(op_rows[op].name) == len &&
            memcmp(op_rows[op].name, name, len) == 0) {
            return op;
        }
    }
    return CAIRN_WIRE_OP_NONE;
}

bool cairn_wire_op_is_write(uint32_t op)
{
    return op_valid(op) && (op_rows[op].optional & B(CID)) != 0;
}

bool cairn_wire_op_is_read(uint32_t op)
{
    return op_valid(op) && (op_rows[op].optional & B(STALE)) != 0;
}

/* What field @f's value must be in a request of @op, for messages: "node"
 * is a map in node.join and an id in node.remove. */
static const char *rf_type(uint32_t f, uint32_t op)
{
    if (f == RF_NODE && op == CAIRN_WIRE_NODE_JOIN) {
        return "a map";
    }
    return rf_types[f];
}

static uint32_t field_index(const msgpack_object *k)
{
    for (uint32_t f = 0; f < RF__COUNT; f++) {
        if (wire_key_is(k, rf_names[f])) {
            return f;
        }
    }
    return RF__COUNT;
}

/* ------------------------------------------------------------------------
 * Request decoding
 * ---------------------------------------------------------------------- */

/* Find the one usable "id" of map @m. Returns 0 or CAIRN_EPROTO. */
static int find_id(const msgpack_object *m, uint64_t *id, char *errmsg)
{
    const msgpack_object *v = NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        if (wire_key_is(&m->via.map.ptr[i].key, "id")) {
            if (v != NULL) {
                return cairn_wire__fail(errmsg, CAIRN_EPROTO,
                                        "request field 'id' appears twice");
            }
            v = &m->via.map.ptr[i].val;
        }
    }
    if (v == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EPROTO,
                                "request field 'id' is missing");
    }
    if (wire_get_u64(v, id) != 0) {
        return cairn_wire__fail(errmsg, CAIRN_EPROTO,
                                "request field 'id' must be an unsigned "
                                "integer");
    }
    if (*id == 0) {
        return cairn_wire__fail(errmsg, CAIRN_EPROTO,
                                "request field 'id' must be at least 1");
    }
    return 0;
}

/* Find and parse "op". Returns 0 or CAIRN_EMALFORMED. */
static int find_op(const msgpack_object *m, uint32_t *op, char *errmsg)
{
    const msgpack_object *v = NULL;
    char nb[WIRE_NAME_SIZE];
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        if (wire_key_is(&m->via.map.ptr[i].key, "op")) {
            if (v != NULL) {
                return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                        "field 'op' appears twice");
            }
            v = &m->via.map.ptr[i].val;
        }
    }
    if (v == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "field 'op' is missing");
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "field 'op' must be a string");
    }
    *op = cairn_wire_op_parse(v->via.str.ptr, v->via.str.size);
    if (*op == CAIRN_WIRE_OP_NONE) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "field 'op': unknown op '%s'",
                                cairn_wire__name(v, nb));
    }
    return 0;
}

/* The objects a request's nested fields are decoded from after the walk. */
struct req_nested {
    const msgpack_object *config;
    const msgpack_object *node; /* node.join */
    const msgpack_object *cmp;
    const msgpack_object *ops;
};

/* Decode field @f's value @v into @req. Returns 0, or -1 (wrong type). */
static int decode_field(uint32_t f, const msgpack_object *v,
                        struct cairn_wire_request *req,
                        struct req_nested *nested)
{
    struct cairn_write *w = &req->w;
    struct cairn_wire_str s;
    switch (f) {
        case RF_VERSION:
            return wire_get_u64(v, &req->version);
        case RF_CLIENT:
            if (wire_get_strview(v, &s) != 0) {
                return -1;
            }
            req->client = s.ptr;
            req->client_len = s.len;
            return 0;
        case RF_CONFIG:
            nested->config = v;
            return v->type == MSGPACK_OBJECT_MAP ? 0 : -1;
        case RF_NODE:
            if (req->op == CAIRN_WIRE_NODE_JOIN) {
                nested->node = v;
                return v->type == MSGPACK_OBJECT_MAP ? 0 : -1;
            }
            return wire_get_u64(v, &req->node_id);
        case RF_BUCKET:
            if (wire_get_strview(v, &s) != 0) {
                return -1;
            }
            /* The rules are checked once the walk is done; copy what fits
             * so the message can quote it (a NUL inside breaks the rules
             * as '?' does, instead of cutting the name short). */
            for (size_t i = 0; i < s.len && i < sizeof req->bucket - 1; i++) {
                req->bucket[i] = s.ptr[i] != '\0' ? s.ptr[i] : '?';
            }
            return s.len < sizeof req->bucket ? 0 : 1;
        case RF_KEY:
            return wire_get_bytes(v, &w->key, &w->key_len, CAIRN_WIRE_STRICT);
        case RF_OLD:
            req->has_old = v->type != MSGPACK_OBJECT_NIL;
            return req->has_old ? wire_get_bytes(v, &req->old, &req->old_len,
                                                 CAIRN_WIRE_STRICT)
                                : 0;
        case RF_VAL:
            return wire_get_bytes(v, &w->value, &w->value_len,
                                  CAIRN_WIRE_STRICT);
        case RF_META:
            return wire_get_bytes(v, &w->meta, &w->meta_len,
                                  CAIRN_WIRE_STRICT);
        case RF_TTL:
            return wire_get_i64(v, &w->ttl_ns);
        case RF_EXP:
            return wire_get_u64(v, &w->expires_at);
        case RF_REV:
            return wire_get_u64(v, &req->rev);
        case RF_START:
            return wire_get_bytes(v, &req->start, &req->start_len,
                                  CAIRN_WIRE_STRICT);
        case RF_END:
            return wire_get_bytes(v, &req->end, &req->end_len,
                                  CAIRN_WIRE_STRICT);
        case RF_PREFIX:
            return wire_get_bytes(v, &req->prefix, &req->prefix_len,
                                  CAIRN_WIRE_STRICT);
        case RF_CURSOR:
            return wire_get_bytes(v, &req->cursor, &req->cursor_len,
                                  CAIRN_WIRE_STRICT);
        case RF_LIMIT:
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                return -1;
            }
            if (v->via.u64 > UINT32_MAX) {
                return 2;
            }
            req->limit = (uint32_t)v->via.u64;
            return 0;
        case RF_KEYS_ONLY:
            return wire_get_bool(v, &req->keys_only);
        case RF_STALE:
            return wire_get_bool(v, &req->stale);
        case RF_CMP:
            nested->cmp = v;
            return v->type == MSGPACK_OBJECT_ARRAY ? 0 : -1;
        case RF_OPS:
            nested->ops = v;
            return v->type == MSGPACK_OBJECT_ARRAY ? 0 : -1;
        case RF_CID:
            return wire_get_u64(v, &req->cid);
        case RF_SEQ:
            return wire_get_u64(v, &req->seq);
        case RF_GROUP:
            return wire_get_u64(v, &req->group);
        case RF_TERM:
            return wire_get_u64(v, &req->term);
        case RF_FROM:
            return wire_get_u64(v, &req->from);
        case RF_LATEST:
            return wire_get_bool(v, &req->latest);
        case RF_WATCH:
            return wire_get_u64(v, &req->watch);
        default:
            return -1;
    }
}

/* Walk the fields of map @m for op req->op: every field known, used by the
 * op, given once, of its type; every required one present. */
static int decode_fields(const msgpack_object *m,
                         struct cairn_wire_request *req,
                         struct req_nested *nested, char *errmsg)
{
    const struct op_row *row = &op_rows[req->op];
    uint32_t allowed = row->required | row->optional | B(ID) | B(OP);
    uint32_t seen = 0, missing;
    char nb[WIRE_NAME_SIZE];

    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        uint32_t f;
        int r;
        if (k->type != MSGPACK_OBJECT_STR) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "request has a field name that is not "
                                    "a string");
        }
        f = field_index(k);
        if (f == RF__COUNT) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "unknown field '%s'",
                                    cairn_wire__name(k, nb));
        }
        if (f == RF_ID || f == RF_OP) {
            continue; /* read already, exactly once */
        }
        if (!(allowed & (1u << f))) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "field '%s' is not used by op '%s'",
                                    rf_names[f], row->name);
        }
        if (seen & (1u << f)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "field '%s' appears twice", rf_names[f]);
        }
        seen |= 1u << f;
        r = decode_field(f, &m->via.map.ptr[i].val, req, nested);
        if (r < 0) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "field '%s' must be %s", rf_names[f],
                                    rf_type(f, req->op));
        }
        if (r == 1) {
            return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                    "field 'bucket': name '%s...' is longer "
                                    "than %d bytes",
                                    req->bucket, CAIRN_BUCKET_NAME_MAX);
        }
        if (r == 2) {
            return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                    "field 'limit' %llu is out of range "
                                    "0..%u",
                                    (unsigned long long)m->via.map.ptr[i]
                                        .val.via.u64,
                                    UINT32_MAX);
        }
    }
    missing = row->required & ~seen;
    for (uint32_t f = 0; missing != 0 && f < RF__COUNT; f++) {
        if (missing & (1u << f)) {
            return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                    "field '%s' is missing (op '%s' needs "
                                    "it)",
                                    rf_names[f], row->name);
        }
    }
    if ((seen & (B(CID) | B(SEQ))) == B(CID) ||
        (seen & (B(CID) | B(SEQ))) == B(SEQ)) {
        return cairn_wire__fail(errmsg, CAIRN_EMALFORMED,
                                "field '%s' is missing (cid and seq come "
                                "together)",
                                (seen & B(CID)) ? "seq" : "cid");
    }
    for (size_t i = 0; i < WIRE_N_OF(has_fields); i++) {
        uint32_t fields = has_fields[i].fields & row->optional;
        if (fields != 0 && (seen & fields) == fields) {
            req->has |= has_fields[i].has;
        }
    }
    return 0;
}

/* Bucket names: 1..CAIRN_BUCKET_NAME_MAX characters of [A-Za-z0-9_-]. */
static bool bucket_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > CAIRN_BUCKET_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* A key in @what: 1..CAIRN_KEY_MAX bytes. */
static int check_key(size_t len, const char *what, char *errmsg)
{
    if (len == 0) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL, "%s is empty", what);
    }
    if (len > CAIRN_KEY_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_ETOOLARGE,
                                "%s is %zu bytes; the limit is %d", what, len,
                                CAIRN_KEY_MAX);
    }
    return 0;
}

static int check_meta(size_t len, const char *what, char *errmsg)
{
    if (len > CAIRN_KEY_META_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_ETOOLARGE,
                                "%s is %zu bytes; the limit is %d", what, len,
                                CAIRN_KEY_META_MAX);
    }
    return 0;
}

/* A scan bound: at most a key's length (storage refuses longer ones). */
static int check_bound(uint32_t has, uint32_t bit, size_t len, size_t max,
                       const char *what, char *errmsg)
{
    if ((has & bit) && len > max) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "field '%s' is %zu bytes; it is at most %zu",
                                what, len, max);
    }
    return 0;
}

static int decode_txn(const struct req_nested *nested,
                      struct cairn_wire_request *req, char *errmsg)
{
    struct cairn_wire_txn t;
    uint32_t nc = nested->cmp != NULL ? nested->cmp->via.array.size : 0;
    uint32_t nw = nested->ops->via.array.size;
    char what[48];
    int rc;
    if (nw > CAIRN_TXN_OPS_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_ETOOLARGE,
                                "field 'ops': txn has %u writes; the limit "
                                "is %d",
                                nw, CAIRN_TXN_OPS_MAX);
    }
    if (nc > CAIRN_TXN_COMPARES_MAX) {
        return cairn_wire__fail(errmsg, CAIRN_ETOOLARGE,
                                "field 'cmp': txn has %u compares; the limit "
                                "is %d",
                                nc, CAIRN_TXN_COMPARES_MAX);
    }
    rc = cairn_wire_txn_unpack(nested->cmp, nested->ops, CAIRN_WIRE_STRICT,
                               &t, errmsg);
    if (rc != 0) {
        return rc;
    }
    req->owned_ = t.owned;
    req->compares = t.compares;
    req->n_compares = t.n_compares;
    req->writes = t.writes;
    req->n_writes = t.n_writes;
    for (uint32_t i = 0; i < t.n_compares; i++) {
        snprintf(what, sizeof what, "txn cmp[%u]: field 'k'", i);
        if ((rc = check_key(t.compares[i].key_len, what, errmsg)) != 0) {
            return rc;
        }
    }
    for (uint32_t i = 0; i < t.n_writes; i++) {
        snprintf(what, sizeof what, "txn ops[%u]: field 'k'", i);
        if ((rc = check_key(t.writes[i].key_len, what, errmsg)) != 0) {
            return rc;
        }
        snprintf(what, sizeof what, "txn ops[%u]: field 'meta'", i);
        if ((rc = check_meta(t.writes[i].meta_len, what, errmsg)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int decode_config(const msgpack_object *o,
                         struct cairn_wire_request *req, char *errmsg)
{
    cairn_bucket_config *cfg = malloc(sizeof *cfg);
    int rc;
    if (cfg == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_ENOMEM, "decode config");
    }
    req->owned_ = cfg;
    req->config = cfg;
    rc = cairn_wire_config_unpack(o, cfg, CAIRN_WIRE_STRICT, errmsg);
    if (rc == 0 && (rc = cairn_bucket_config_validate(cfg, errmsg)) != 0) {
        cairn_wire__wrap(errmsg, "field 'config'");
        return rc;
    }
    if (rc != 0) {
        cairn_wire__wrap(errmsg, "field 'config'");
        return rc;
    }
    memcpy(req->bucket, cfg->name, sizeof req->bucket);
    return 0;
}

/* The decoded node of node.join and the tags it points to: one
 * allocation, owned by the request. */
struct owned_node {
    struct cairn_wire_node node;
    struct cairn_wire_str tags[CAIRN_TAGS_MAX];
};

static int decode_node(const msgpack_object *o,
                       struct cairn_wire_request *req, char *errmsg)
{
    struct owned_node *on = calloc(1, sizeof *on);
    int rc;
    if (on == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_ENOMEM, "decode node");
    }
    req->owned_ = on;
    if ((rc = cairn_wire__node_unpack(o, &on->node, on->tags, errmsg)) != 0) {
        return rc;
    }
    req->node = &on->node;
    return 0;
}

/* The rules on values, once the fields are known. */
static int check_values(const struct req_nested *nested,
                        struct cairn_wire_request *req, char *errmsg)
{
    const struct op_row *row = &op_rows[req->op];
    char nb[WIRE_NAME_SIZE];
    int rc;

    if ((row->required & B(BUCKET)) && !bucket_name_ok(req->bucket)) {
        msgpack_object s = {.type = MSGPACK_OBJECT_STR};
        s.via.str.ptr = req->bucket;
        s.via.str.size = (uint32_t)strlen(req->bucket);
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "field 'bucket': name '%s' is invalid: use "
                                "1..%d characters from [A-Za-z0-9_-]",
                                cairn_wire__name(&s, nb),
                                CAIRN_BUCKET_NAME_MAX);
    }
    if ((row->required & B(KEY)) || (req->has & CAIRN_WIRE_REQ_KEY)) {
        if ((rc = check_key(req->w.key_len, "field 'key'", errmsg)) != 0 ||
            (rc = check_meta(req->w.meta_len, "field 'meta'", errmsg)) != 0) {
            return rc;
        }
    }
    if ((rc = check_bound(req->has, CAIRN_WIRE_REQ_START, req->start_len,
                          CAIRN_KEY_MAX, "start", errmsg)) != 0 ||
        (rc = check_bound(req->has, CAIRN_WIRE_REQ_END, req->end_len,
                          CAIRN_KEY_MAX, "end", errmsg)) != 0 ||
        (rc = check_bound(req->has, CAIRN_WIRE_REQ_PREFIX, req->prefix_len,
                          CAIRN_KEY_MAX, "prefix", errmsg)) != 0 ||
        (rc = check_bound(req->has, CAIRN_WIRE_REQ_CURSOR, req->cursor_len,
                          CAIRN_WIRE_CURSOR_MAX, "cursor", errmsg)) != 0) {
        return rc;
    }
    switch (req->op) {
        case CAIRN_WIRE_PUT:
        case CAIRN_WIRE_CREATE:
        case CAIRN_WIRE_UPDATE:
        case CAIRN_WIRE_CAS:
            req->w.op = CAIRN_OP_PUT;
            break;
        case CAIRN_WIRE_DELETE:
            req->w.op = CAIRN_OP_DEL;
            break;
        case CAIRN_WIRE_PURGE:
            req->w.op = CAIRN_OP_PURGE;
            break;
        case CAIRN_WIRE_BUCKET_CREATE:
            return decode_config(nested->config, req, errmsg);
        case CAIRN_WIRE_TXN:
            return decode_txn(nested, req, errmsg);
        case CAIRN_WIRE_NODE_JOIN:
            return decode_node(nested->node, req, errmsg);
        case CAIRN_WIRE_NODE_REMOVE:
            if (req->node_id == 0) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "field 'node' must be a node id, at "
                                        "least 1");
            }
            break;
        case CAIRN_WIRE_BUCKET_LEADER:
            if (req->group == 0 || req->node_id == 0 || req->term == 0) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "field '%s' must be at least 1",
                                        req->group == 0     ? "group"
                                        : req->node_id == 0 ? "node"
                                                            : "term");
            }
            break;
        case CAIRN_WIRE_WATCH:
            if ((req->has & CAIRN_WIRE_REQ_KEY) &&
                (req->has & CAIRN_WIRE_REQ_PREFIX)) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "fields 'key' and 'prefix' exclude "
                                        "each other: a watch follows one key "
                                        "or one prefix");
            }
            if ((req->has & CAIRN_WIRE_REQ_FROM) && req->from == 0) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "field 'from' must be a revision, at "
                                        "least 1");
            }
            break;
        case CAIRN_WIRE_SCAN:
            if ((req->has & CAIRN_WIRE_REQ_FROM) &&
                (req->from == 0 ||
                 (req->has & (CAIRN_WIRE_REQ_START | CAIRN_WIRE_REQ_END |
                              CAIRN_WIRE_REQ_CURSOR)))) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "field 'from' of a scan must be a "
                                        "revision, at least 1, without "
                                        "'start', 'end' or 'cursor'");
            }
            break;
        case CAIRN_WIRE_WATCH_CANCEL:
            if (req->watch == 0) {
                return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                        "field 'watch' must be a request id, "
                                        "at least 1");
            }
            break;
        default:
            break;
    }
    return 0;
}

int cairn_wire_request_decode(const void *buf, size_t len,
                              struct cairn_wire_request *req, char *errmsg)
{
    msgpack_unpacked u;
    struct req_nested nested = {0};
    uint64_t id = 0;
    uint32_t op = 0;
    int rc;

    memset(req, 0, sizeof *req);
    if (cairn_wire__unpack(buf, len, &u) != 0) {
        rc = cairn_wire__fail(errmsg, CAIRN_EPROTO,
                              "request is not one complete msgpack "
                              "document");
    } else if (u.data.type != MSGPACK_OBJECT_MAP) {
        rc = cairn_wire__fail(errmsg, CAIRN_EPROTO,
                              "request is not a msgpack map");
    } else if ((rc = find_id(&u.data, &id, errmsg)) == 0) {
        req->id = id;
        if ((rc = find_op(&u.data, &op, errmsg)) == 0) {
            req->op = op;
            if ((rc = decode_fields(&u.data, req, &nested, errmsg)) == 0) {
                rc = check_values(&nested, req, errmsg);
            }
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

void cairn_wire_request_release(struct cairn_wire_request *req)
{
    free(req->owned_);
    req->owned_ = NULL;
    req->config = NULL;
    req->compares = NULL;
    req->writes = NULL;
    req->node = NULL;
}

/* ------------------------------------------------------------------------
 * Request encoding
 * ---------------------------------------------------------------------- */

static uint32_t popcount32(uint32_t v)
{
    uint32_t n = 0;
    for (; v != 0; v &= v - 1) {
        n++;
    }
    return n;
}

/* The fields of @req on the wire beyond id and op, or an error. */
static int request_fields(const struct cairn_wire_request *req,
                          uint32_t *fields, char *errmsg)
{
    const struct op_row *row;
    uint32_t from_has = 0, known = 0;
    if (!op_valid(req->op)) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "request op %u is unknown", req->op);
    }
    row = &op_rows[req->op];
    for (size_t i = 0; i < WIRE_N_OF(has_fields); i++) {
        known |= has_fields[i].has;
        if (req->has & has_fields[i].has) {
            from_has |= has_fields[i].fields;
        }
    }
    if ((req->has & ~known) != 0 ||
        (from_has & ~(row->optional | row->required)) != 0) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "request .has 0x%x names a field op '%s' "
                                "does not take",
                                req->has, row->name);
    }
    *fields = row->required | (from_has & row->optional);
    return 0;
}

static void pack_field(msgpack_packer *pk, uint32_t f,
                       const struct cairn_wire_request *req)
{
    const struct cairn_write *w = &req->w;
    wire_pack_str(pk, rf_names[f]);
    switch (f) {
        case RF_VERSION:
            msgpack_pack_uint64(pk, req->version);
            break;
        case RF_CLIENT:
            wire_pack_strn(pk, req->client, req->client_len);
            break;
        case RF_CONFIG:
            cairn_wire_config_pack(pk, req->config);
            break;
        case RF_NODE:
            if (req->op == CAIRN_WIRE_NODE_JOIN) {
                cairn_wire__node_pack(pk, req->node, false);
            } else {
                msgpack_pack_uint64(pk, req->node_id);
            }
            break;
        case RF_BUCKET:
            wire_pack_str(pk, req->bucket);
            break;
        case RF_KEY:
            wire_pack_bin(pk, w->key, w->key_len);
            break;
        case RF_OLD:
            if (req->has_old) {
                wire_pack_bin(pk, req->old, req->old_len);
            } else {
                msgpack_pack_nil(pk);
            }
            break;
        case RF_VAL:
            wire_pack_bin(pk, w->value, w->value_len);
            break;
        case RF_META:
            wire_pack_bin(pk, w->meta, w->meta_len);
            break;
        case RF_TTL:
            msgpack_pack_int64(pk, w->ttl_ns);
            break;
        case RF_EXP:
            msgpack_pack_uint64(pk, w->expires_at);
            break;
        case RF_REV:
            msgpack_pack_uint64(pk, req->rev);
            break;
        case RF_START:
            wire_pack_bin(pk, req->start, req->start_len);
            break;
        case RF_END:
            wire_pack_bin(pk, req->end, req->end_len);
            break;
        case RF_PREFIX:
            wire_pack_bin(pk, req->prefix, req->prefix_len);
            break;
        case RF_CURSOR:
            wire_pack_bin(pk, req->cursor, req->cursor_len);
            break;
        case RF_LIMIT:
            msgpack_pack_uint32(pk, req->limit);
            break;
        case RF_KEYS_ONLY:
            wire_pack_bool(pk, req->keys_only);
            break;
        case RF_STALE:
            wire_pack_bool(pk, req->stale);
            break;
        case RF_CMP:
            cairn_wire_compares_pack(pk, req->compares, req->n_compares);
            break;
        case RF_OPS:
            cairn_wire_writes_pack(pk, req->writes, req->n_writes);
            break;
        case RF_CID:
            msgpack_pack_uint64(pk, req->cid);
            break;
        case RF_SEQ:
            msgpack_pack_uint64(pk, req->seq);
            break;
        case RF_GROUP:
            msgpack_pack_uint64(pk, req->group);
            break;
        case RF_TERM:
            msgpack_pack_uint64(pk, req->term);
            break;
        case RF_FROM:
            msgpack_pack_uint64(pk, req->from);
            break;
        case RF_LATEST:
            wire_pack_bool(pk, req->latest);
            break;
        case RF_WATCH:
            msgpack_pack_uint64(pk, req->watch);
            break;
        default:
            break;
    }
}

int cairn_wire_request_encode(struct cairn_wire_buf *out,
                              const struct cairn_wire_request *req,
                              char *errmsg)
{
    msgpack_packer pk;
    uint32_t fields = 0;
    size_t start;
    int rc;

    if ((rc = request_fields(req, &fields, errmsg)) != 0) {
        return rc;
    }
    if (req->id == 0) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "request id must be at least 1");
    }
    if ((fields & B(CONFIG)) && req->config == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "bucket.create without a config");
    }
    if (req->op == CAIRN_WIRE_NODE_JOIN &&
        (req->node == NULL ||
         (req->node->n_tags > 0 && req->node->tags == NULL))) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                req->node == NULL
                                    ? "node.join without a node"
                                    : "node.join node has tags but no array");
    }
    if ((fields & B(BUCKET)) &&
        memchr(req->bucket, '\0', sizeof req->bucket) == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "request bucket name is not terminated");
    }
    if (req->op == CAIRN_WIRE_TXN &&
        (rc = cairn_wire_txn_check(
             (fields & B(CMP)) ? req->compares : NULL,
             (fields & B(CMP)) ? req->n_compares : 0, req->writes,
             req->n_writes, errmsg)) != 0) {
        return rc;
    }
    start = cairn_wire_frame_begin(out, &pk);
    msgpack_pack_map(&pk, 2 + popcount32(fields));
    wire_pack_str(&pk, "id");
    msgpack_pack_uint64(&pk, req->id);
    wire_pack_str(&pk, "op");
    wire_pack_str(&pk, op_rows[req->op].name);
    for (uint32_t f = RF_OP + 1; f < RF__COUNT; f++) {
        if (fields & (1u << f)) {
            pack_field(&pk, f, req);
        }
    }
    return cairn_wire_frame_end(out, start, errmsg);
}

/* ------------------------------------------------------------------------
 * One encoder per op
 * ---------------------------------------------------------------------- */

static int req_init(struct cairn_wire_request *req, uint64_t id, uint32_t op,
                    const char *bucket, char *errmsg)
{
    memset(req, 0, sizeof *req);
    req->id = id;
    req->op = op;
    if (bucket != NULL) {
        size_t n = strlen(bucket);
        if (n >= sizeof req->bucket) {
            return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                    "bucket name is longer than %d bytes",
                                    CAIRN_BUCKET_NAME_MAX);
        }
        memcpy(req->bucket, bucket, n + 1);
    }
    return 0;
}

static void req_key(struct cairn_wire_request *req, const void *key,
                    size_t key_len)
{
    req->w.key = key;
    req->w.key_len = key_len;
}

static void req_dedup(struct cairn_wire_request *req,
                      const struct cairn_wire_dedup *dedup)
{
    if (dedup != NULL) {
        req->has |= CAIRN_WIRE_REQ_CID_SEQ;
        req->cid = dedup->cid;
        req->seq = dedup->seq;
    }
}

static void req_write(struct cairn_wire_request *req,
                      const struct cairn_write *w,
                      const struct cairn_wire_dedup *dedup)
{
    req->w = *w;
    req->w.op = CAIRN_OP_PUT;
    req->has |= (w->meta_len > 0 ? CAIRN_WIRE_REQ_META : 0u) |
                (w->ttl_ns != 0 ? CAIRN_WIRE_REQ_TTL : 0u) |
                (w->expires_at != 0 ? CAIRN_WIRE_REQ_EXP : 0u);
    req_dedup(req, dedup);
}

#define ENCODE(req) cairn_wire_request_encode(out, &(req), errmsg)

int cairn_wire_encode_hello(struct cairn_wire_buf *out, uint64_t id,
                            uint64_t version, const char *client,
                            char *errmsg)
{
    struct cairn_wire_request req;
    req_init(&req, id, CAIRN_WIRE_HELLO, NULL, errmsg);
    req.version = version;
    if (client != NULL) {
        req.has |= CAIRN_WIRE_REQ_CLIENT;
        req.client = client;
        req.client_len = strlen(client);
    }
    return ENCODE(req);
}

int cairn_wire_encode_bucket_create(struct cairn_wire_buf *out, uint64_t id,
                                    const cairn_bucket_config *cfg,
                                    char *errmsg)
{
    struct cairn_wire_request req;
    req_init(&req, id, CAIRN_WIRE_BUCKET_CREATE, NULL, errmsg);
    req.config = cfg;
    return ENCODE(req);
}

static int encode_bucket_op(struct cairn_wire_buf *out, uint64_t id,
                            uint32_t op, const char *bucket, char *errmsg)
{
    struct cairn_wire_request req;
    int rc = req_init(&req, id, op, bucket, errmsg);
    return rc != 0 ? rc : ENCODE(req);
}

int cairn_wire_encode_bucket_delete(struct cairn_wire_buf *out, uint64_t id,
                                    const char *bucket, char *errmsg)
{
    return encode_bucket_op(out, id, CAIRN_WIRE_BUCKET_DELETE,
                            bucket != NULL ? bucket : "", errmsg);
}

int cairn_wire_encode_bucket_list(struct cairn_wire_buf *out, uint64_t id,
                                  char *errmsg)
{
    return encode_bucket_op(out, id, CAIRN_WIRE_BUCKET_LIST, NULL, errmsg);
}

int cairn_wire_encode_bucket_info(struct cairn_wire_buf *out, uint64_t id,
                                  const char *bucket, bool stale,
                                  char *errmsg)
{
    struct cairn_wire_request req;
    int rc = req_init(&req, id, CAIRN_WIRE_BUCKET_INFO,
                      bucket != NULL ? bucket : "", errmsg);
    if (rc != 0) {
        return rc;
    }
    req.stale = stale;
    req.has |= stale ? CAIRN_WIRE_REQ_STALE : 0u;
    return ENCODE(req);
}

int cairn_wire_encode_cluster_status(struct cairn_wire_buf *out, uint64_t id,
                                     char *errmsg)
{
    return encode_bucket_op(out, id, CAIRN_WIRE_CLUSTER_STATUS, NULL, errmsg);
}

int cairn_wire_encode_node_join(struct cairn_wire_buf *out, uint64_t id,
                                const struct cairn_wire_node *n,
                                char *errmsg)
{
    struct cairn_wire_request req;
    req_init(&req, id, CAIRN_WIRE_NODE_JOIN, NULL, errmsg);
    req.node = n;
    return ENCODE(req);
}

int cairn_wire_encode_node_remove(struct cairn_wire_buf *out, uint64_t id,
                                  uint64_t node, char *errmsg)
{
    struct cairn_wire_request req;
    req_init(&req, id, CAIRN_WIRE_NODE_REMOVE, NULL, errmsg);
    req.node_id = node;
    return ENCODE(req);
}

int cairn_wire_encode_bucket_leader(struct cairn_wire_buf *out, uint64_t id,
                                    const char *bucket, uint64_t group,
                                    uint64_t node, uint64_t term,
                                    char *errmsg)
{
    struct cairn_wire_request req;
    int rc;
    if (bucket == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "bucket.leader without a bucket");
    }
    if ((rc = req_init(&req, id, CAIRN_WIRE_BUCKET_LEADER, bucket,
                       errmsg)) != 0) {
        return rc;
    }
    req.group = group;
    req.node_id = node;
    req.term = term;
    return ENCODE(req);
}

/* A read or write of one key. */
static int key_op(struct cairn_wire_request *req, uint64_t id, uint32_t op,
                  const char *bucket, const void *key, size_t key_len,
                  char *errmsg)
{
    int rc = req_init(req, id, op, bucket != NULL ? bucket : "", errmsg);
    req_key(req, key, key_len);
    return rc;
}

int cairn_wire_encode_get(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const void *key, size_t key_len,
                          uint64_t rev, bool stale, char *errmsg)
{
    struct cairn_wire_request req;
    int rc = key_op(&req, id, CAIRN_WIRE_GET, bucket, key, key_len, errmsg);
    if (rc != 0) {
        return rc;
    }
    req.rev = rev;
    req.stale = stale;
    req.has |= (rev != 0 ? CAIRN_WIRE_REQ_REV : 0u) |
               (stale ? CAIRN_WIRE_REQ_STALE : 0u);
    return ENCODE(req);
}

int cairn_wire_encode_exists(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const void *key,
                             size_t key_len, bool stale, char *errmsg)
{
    struct cairn_wire_request req;
    int rc = key_op(&req, id, CAIRN_WIRE_EXISTS, bucket, key, key_len, errmsg);
    if (rc != 0) {
        return rc;
    }
    req.stale = stale;
    req.has |= stale ? CAIRN_WIRE_REQ_STALE : 0u;
    return ENCODE(req);
}

int cairn_wire_encode_history(struct cairn_wire_buf *out, uint64_t id,
                              const char *bucket, const void *key,
                              size_t key_len, bool stale, char *errmsg)
{
    struct cairn_wire_request req;
    int rc =
        key_op(&req, id, CAIRN_WIRE_HISTORY, bucket, key, key_len, errmsg);
    if (rc != 0) {
        return rc;
    }
    req.stale = stale;
    req.has |= stale ? CAIRN_WIRE_REQ_STALE : 0u;
    return ENCODE(req);
}

static int value_write(struct cairn_wire_buf *out, uint64_t id, uint32_t op,
                       const char *bucket, const struct cairn_write *w,
                       uint64_t rev, const void *old, size_t old_len,
                       const struct cairn_wire_dedup *dedup, char *errmsg)
{
    struct cairn_wire_request req;
    int rc = req_init(&req, id, op, bucket != NULL ? bucket : "", errmsg);
    if (rc != 0) {
        return rc;
    }
    if (w == NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL, "%s without a write",
                                cairn_wire_op_name(op));
    }
    req_write(&req, w, dedup);
    req.rev = rev;
    req.has_old = old != NULL;
    req.old = old;
    req.old_len = old_len;
    return ENCODE(req);
}

int cairn_wire_encode_put(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const struct cairn_write *w,
                          const struct cairn_wire_dedup *dedup, char *errmsg)
{
    return value_write(out, id, CAIRN_WIRE_PUT, bucket, w, 0, NULL, 0, dedup,
                       errmsg);
}

int cairn_wire_encode_create(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const struct cairn_write *w,
                             const struct cairn_wire_dedup *dedup,
                             char *errmsg)
{
    return value_write(out, id, CAIRN_WIRE_CREATE, bucket, w, 0, NULL, 0,
                       dedup, errmsg);
}

int cairn_wire_encode_update(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const struct cairn_write *w,
                             uint64_t rev, const struct cairn_wire_dedup *dedup,
                             char *errmsg)
{
    return value_write(out, id, CAIRN_WIRE_UPDATE, bucket, w, rev, NULL, 0,
                       dedup, errmsg);
}

int cairn_wire_encode_cas(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const struct cairn_write *w,
                          const void *old, size_t old_len,
                          const struct cairn_wire_dedup *dedup, char *errmsg)
{
    return value_write(out, id, CAIRN_WIRE_CAS, bucket, w, 0, old, old_len,
                       dedup, errmsg);
}

static int marker_write(struct cairn_wire_buf *out, uint64_t id, uint32_t op,
                        const char *bucket, const void *key, size_t key_len,
                        uint64_t rev, const struct cairn_wire_dedup *dedup,
                        char *errmsg)
{
    struct cairn_wire_request req;
    int rc = key_op(&req, id, op, bucket, key, key_len, errmsg);
    if (rc != 0) {
        return rc;
    }
    req.rev = rev;
    req.has |= rev != 0 ? CAIRN_WIRE_REQ_REV : 0u;
    req_dedup(&req, dedup);
    return ENCODE(req);
}

int cairn_wire_encode_delete(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const void *key,
                             size_t key_len, uint64_t rev,
                             const struct cairn_wire_dedup *dedup,
                             char *errmsg)
{
    return marker_write(out, id, CAIRN_WIRE_DELETE, bucket, key, key_len, rev,
                        dedup, errmsg);
}

int cairn_wire_encode_purge(struct cairn_wire_buf *out, uint64_t id,
                            const char *bucket, const void *key,
                            size_t key_len, uint64_t rev,
                            const struct cairn_wire_dedup *dedup,
                            char *errmsg)
{
    return marker_write(out, id, CAIRN_WIRE_PURGE, bucket, key, key_len, rev,
                        dedup, errmsg);
}

static int range_op(struct cairn_wire_buf *out, uint64_t id, uint32_t op,
                    const char *bucket, const struct cairn_wire_scan *s,
                    char *errmsg)
{
    struct cairn_wire_request req;
    int rc = req_init(&req, id, op, bucket != NULL ? bucket : "", errmsg);
    if (rc != 0 || s == NULL) {
        return rc != 0 ? rc : ENCODE(req);
    }
    if (op == CAIRN_WIRE_COUNT && (s->cursor != NULL || s->limit != 0)) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "count takes no cursor or limit");
    }
    req.start = s->start;
    req.start_len = s->start_len;
    req.end = s->end;
    req.end_len = s->end_len;
    req.prefix = s->prefix;
    req.prefix_len = s->prefix_len;
    req.cursor = s->cursor;
    req.cursor_len = s->cursor_len;
    req.limit = s->limit;
    req.keys_only = s->keys_only;
    req.stale = s->stale;
    req.has |= (s->start != NULL ? CAIRN_WIRE_REQ_START : 0u) |
               (s->end != NULL ? CAIRN_WIRE_REQ_END : 0u) |
               (s->prefix != NULL ? CAIRN_WIRE_REQ_PREFIX : 0u) |
               (s->cursor != NULL ? CAIRN_WIRE_REQ_CURSOR : 0u) |
               (s->limit != 0 ? CAIRN_WIRE_REQ_LIMIT : 0u) |
               (s->keys_only ? CAIRN_WIRE_REQ_KEYS_ONLY : 0u) |
               (s->stale ? CAIRN_WIRE_REQ_STALE : 0u);
    return ENCODE(req);
}

int cairn_wire_encode_scan(struct cairn_wire_buf *out, uint64_t id,
                           const char *bucket,
                           const struct cairn_wire_scan *s, char *errmsg)
{
    return range_op(out, id, CAIRN_WIRE_SCAN, bucket, s, errmsg);
}

int cairn_wire_encode_count(struct cairn_wire_buf *out, uint64_t id,
                            const char *bucket,
                            const struct cairn_wire_scan *s, char *errmsg)
{
    return range_op(out, id, CAIRN_WIRE_COUNT, bucket, s, errmsg);
}

int cairn_wire_encode_txn(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const struct cairn_compare *cmp,
                          uint32_t n_cmp, const struct cairn_write *ops,
                          uint32_t n_ops, const struct cairn_wire_dedup *dedup,
                          char *errmsg)
{
    struct cairn_wire_request req;
    int rc =
        req_init(&req, id, CAIRN_WIRE_TXN, bucket != NULL ? bucket : "", errmsg);
    if (rc != 0) {
        return rc;
    }
    if (cmp != NULL) {
        req.has |= CAIRN_WIRE_REQ_CMP;
        req.compares = cmp;
        req.n_compares = n_cmp;
    }
    req.writes = ops;
    req.n_writes = n_ops;
    req_dedup(&req, dedup);
    return ENCODE(req);
}

int cairn_wire_encode_watch(struct cairn_wire_buf *out, uint64_t id,
                            const char *bucket,
                            const struct cairn_wire_watch *w, char *errmsg)
{
    struct cairn_wire_request req;
    int rc = req_init(&req, id, CAIRN_WIRE_WATCH,
                      bucket != NULL ? bucket : "", errmsg);
    if (rc != 0 || w == NULL) {
        return rc != 0 ? rc : ENCODE(req);
    }
    if (w->key != NULL && w->prefix != NULL) {
        return cairn_wire__fail(errmsg, CAIRN_EINVAL,
                                "a watch follows a key or a prefix, not "
                                "both");
    }
    if (w->key != NULL) {
        req_key(&req, w->key, w->key_len);
        req.has |= CAIRN_WIRE_REQ_KEY;
    }
    if (w->prefix != NULL) {
        req.prefix = w->prefix;
        req.prefix_len = w->prefix_len;
        req.has |= CAIRN_WIRE_REQ_PREFIX;
    }
    if (w->from != 0) {
        req.from = w->from;
        req.has |= CAIRN_WIRE_REQ_FROM;
    }
    if (w->has_latest) {
        req.latest = w->latest;
        req.has |= CAIRN_WIRE_REQ_LATEST;
    }
    return ENCODE(req);
}

int cairn_wire_encode_watch_cancel(struct cairn_wire_buf *out, uint64_t id,
                                   uint64_t watch, char *errmsg)
{
    struct cairn_wire_request req;
    req_init(&req, id, CAIRN_WIRE_WATCH_CANCEL, NULL, errmsg);
    req.watch = watch;
    return ENCODE(req);
}
