/*
 * wire.h — the codec of the client protocol (docs/protocol.md): frames,
 * requests and responses, plus the msgpack shapes the protocol shares with
 * the storage engine's command format (the bucket config map and the txn
 * compares and writes of docs/storage.md).
 *
 * This is the second header of client/, next to cairn.h. It is not part of
 * the installed client API: it is compiled into the shared static library
 * cairn_common and included by node/ (which decodes requests and encodes
 * responses), by the client library (which encodes requests and decodes
 * responses) and by storage/codec.c (the shared shapes, one implementation
 * for the replicated log and the wire).
 *
 * Overview
 * --------
 * - Frames: a 4-byte big-endian length L, then L bytes holding one msgpack
 *   map (L <= CAIRN_FRAME_MAX). struct cairn_wire_reader turns bytes read
 *   from a socket, in any split, into frame bodies; every encoder appends a
 *   whole frame (length prefix included) to a struct cairn_wire_buf.
 * - Requests: cairn_wire_encode_<op>() (client side) and
 *   cairn_wire_request_decode() (server side), which fills a struct
 *   cairn_wire_request whose byte and string fields are views into the frame.
 * - Responses: cairn_wire_reply_<op>() and cairn_wire_reply_error() (server
 *   side); cairn_wire_response_decode() then cairn_wire_response_check()
 *   (client side: decode, find the request by id, check the fields its op
 *   needs).
 * - Errors: every function returns a code of cairn.h (0 is success) and
 *   writes a message naming the field into @errmsg (CAIRN_ERRMSG_SIZE bytes,
 *   may be NULL).
 *
 * Caveats
 * -------
 * - Views: a decoded request's or response's pointers (keys, values,
 *   strings, cursors) point into the frame body it was decoded from: they
 *   are valid only while that buffer is. A frame body returned by
 *   cairn_wire_reader_next() is itself valid only until the next call on
 *   the reader, so copy the body to keep a request across a read.
 * - Arrays a decoder fills (txn compares and writes, the config of
 *   bucket.create, the node of node.join and its tags, response entries,
 *   nodes, buckets, replicas) are allocated: call
 *   cairn_wire_request_release() / cairn_wire_response_release() after
 *   every decode, successful or not.
 * - Strictness: the request decoder refuses unknown fields, fields the op
 *   does not use, repeated fields, wrong types and missing required fields.
 *   The response decoder checks the types of the fields it knows and skips
 *   fields it does not, so a server may add optional response fields
 *   without breaking older clients.
 * - Every decoder runs cairn_msgpack_check() before msgpack-c sees the bytes
 *   and never reads outside its input.
 */
#ifndef CAIRN_WIRE_H
#define CAIRN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* msgpack-c's types, for the shared shapes (include <msgpack.h> to use). */
struct msgpack_packer;
struct msgpack_object;

/* The protocol version this codec speaks (hello "version"). */
#define CAIRN_WIRE_VERSION 1

/* Largest frame body, bytes (the 4-byte length prefix not included). */
#define CAIRN_FRAME_MAX (32u << 20)

/* Bytes of the length prefix of every frame. */
#define CAIRN_WIRE_HEADER 4

/* Longest scan cursor: a version byte and a key (docs/storage.md). */
#define CAIRN_WIRE_CURSOR_MAX (1 + CAIRN_KEY_MAX)

/* Most protocol versions a "versions" list may name. */
#define CAIRN_WIRE_VERSIONS_MAX 8

/* Longest node address (a node's "client", "peer" and "http" in node.join
 * and cluster.status), bytes; at least 1. */
#define CAIRN_WIRE_ADDRESS_MAX 64

/* Longest node or cluster name (node.join "name" and "cluster"): 1..64
 * characters from [A-Za-z0-9_.-], the rule of cairnd --name/--cluster. */
#define CAIRN_WIRE_NODE_NAME_MAX 64

/* ------------------------------------------------------------------------
 * Output buffers and frames
 * ---------------------------------------------------------------------- */

/*
 * A growable byte buffer that encoders append whole frames to. Several
 * frames may be appended before the bytes are written to a socket.
 */
struct cairn_wire_buf {
    uint8_t *data; /* (owned) */
    size_t len;
    size_t cap;
    size_t frame_; /* offset of the frame being encoded (SIZE_MAX: none) */
    int failed_;   /* CAIRN_ENOMEM or CAIRN_ETOOLARGE: that frame failed */
};

/* Make @b empty; it owns no memory until something is appended. */
void cairn_wire_buf_init(struct cairn_wire_buf *b);

/* Free @b's memory; @b may be initialised again. */
void cairn_wire_buf_close(struct cairn_wire_buf *b);

/* Forget @b's contents but keep its memory for the next frames. */
void cairn_wire_buf_reset(struct cairn_wire_buf *b);

/*
 * Append one frame with body @body (@len bytes, copied) to @out: the 4-byte
 * big-endian length, then the body.
 * Errors: CAIRN_ETOOLARGE (@len > CAIRN_FRAME_MAX), CAIRN_ENOMEM. On error
 * @out is left as it was.
 */
int cairn_wire_frame_write(struct cairn_wire_buf *out, const void *body,
                           size_t len, char *errmsg);

/*
 * Start a frame in @out and point @pk (a msgpack_packer the caller
 * provides) at it; returns the frame's offset for cairn_wire_frame_end().
 * For callers that encode a body of their own with msgpack-c.
 */
size_t cairn_wire_frame_begin(struct cairn_wire_buf *out,
                              struct msgpack_packer *pk);

/*
 * Finish the frame started at @start: write its length prefix. On error
 * (CAIRN_ETOOLARGE: the body passed CAIRN_FRAME_MAX; CAIRN_ENOMEM) the frame
 * is removed and @out holds what it held before cairn_wire_frame_begin().
 */
int cairn_wire_frame_end(struct cairn_wire_buf *out, size_t start,
                         char *errmsg);

/* ------------------------------------------------------------------------
 * Reading frames from a byte stream
 * ---------------------------------------------------------------------- */

/*
 * Cuts a byte stream into frame bodies. Bytes are fed as they arrive, in
 * any split; a frame that arrives whole within one feed is returned as a
 * view into the fed bytes, and only the bytes of a frame that spans feeds
 * are copied, into a buffer that grows to the largest such frame (at most
 * CAIRN_WIRE_HEADER + CAIRN_FRAME_MAX bytes) and is reused.
 *
 *     cairn_wire_reader_feed(&r, data, n);
 *     for (;;) {
 *         const void *body;
 *         size_t len;
 *         if (cairn_wire_reader_next(&r, &body, &len) != 0) {
 *             // r.errmsg: send an id-0 error, then close the connection
 *         }
 *         if (body == NULL) break;  // all of @data consumed
 *         handle(body, len);
 *     }
 *
 * Errors are sticky: after one, every call returns it again.
 */
struct cairn_wire_reader {
    uint8_t *buf;      /* (owned) a frame that spans feeds: header + body */
    size_t cap;        /* bytes allocated at buf */
    size_t have;       /* bytes of that frame buffered so far */
    const uint8_t *in; /* (borrowed) fed bytes not yet consumed */
    size_t in_len;
    int error; /* 0, or the sticky error */
    char errmsg[CAIRN_ERRMSG_SIZE];
};

/* Make @r ready for a new stream; it allocates nothing yet. */
void cairn_wire_reader_init(struct cairn_wire_reader *r);

/* Free @r's buffer. */
void cairn_wire_reader_close(struct cairn_wire_reader *r);

/*
 * Hand @len bytes at @data (borrowed until cairn_wire_reader_next() has
 * returned no frame) to @r. The bytes fed before must have been drained.
 * Errors: CAIRN_EINVAL (the previous feed was not drained), or the sticky
 * error; r->errmsg says why.
 */
int cairn_wire_reader_feed(struct cairn_wire_reader *r, const void *data,
                           size_t len);

/*
 * Take the next complete frame: *body and *len are its body (a view valid
 * until the next call on @r; an empty frame has a non-NULL *body and *len
 * 0). When the fed bytes hold no further complete frame, *body is NULL,
 * the remaining bytes have been copied into @r, and the fed memory may be
 * reused.
 * Errors (sticky; answer with an id-0 error and close the connection):
 * CAIRN_ETOOLARGE (a length above CAIRN_FRAME_MAX), CAIRN_ENOMEM.
 */
int cairn_wire_reader_next(struct cairn_wire_reader *r, const void **body,
                           size_t *len);

/* ------------------------------------------------------------------------
 * Operations
 * ---------------------------------------------------------------------- */

enum cairn_wire_op {
    CAIRN_WIRE_OP_NONE = 0, /* not an op: unknown, or not yet known */
    CAIRN_WIRE_HELLO = 1,
    CAIRN_WIRE_BUCKET_CREATE = 2,
    CAIRN_WIRE_BUCKET_DELETE = 3,
    CAIRN_WIRE_BUCKET_LIST = 4,
    CAIRN_WIRE_BUCKET_INFO = 5,
    CAIRN_WIRE_GET = 6,
    CAIRN_WIRE_EXISTS = 7,
    CAIRN_WIRE_PUT = 8,
    CAIRN_WIRE_CREATE = 9,
    CAIRN_WIRE_UPDATE = 10,
    CAIRN_WIRE_CAS = 11,
    CAIRN_WIRE_DELETE = 12,
    CAIRN_WIRE_PURGE = 13,
    CAIRN_WIRE_HISTORY = 14,
    CAIRN_WIRE_SCAN = 15,
    CAIRN_WIRE_COUNT = 16,
    CAIRN_WIRE_TXN = 17,
    CAIRN_WIRE_CLUSTER_STATUS = 18,
    CAIRN_WIRE_NODE_JOIN = 19,     /* "node.join" */
    CAIRN_WIRE_NODE_REMOVE = 20,   /* "node.remove" */
    CAIRN_WIRE_BUCKET_LEADER = 21, /* "bucket.leader": node to node only */
    CAIRN_WIRE_WATCH = 22,         /* "watch": a stream of events */
    CAIRN_WIRE_WATCH_CANCEL = 23,  /* "watch.cancel" */
    CAIRN_WIRE__OP_COUNT
};

/* The op's name on the wire ("bucket.create"), or NULL for a value that is
 * not an op. The string is static. */
const char *cairn_wire_op_name(uint32_t op);

/* The op named by the @len bytes at @name, or CAIRN_WIRE_OP_NONE. */
uint32_t cairn_wire_op_parse(const char *name, size_t len);

/* Whether @op writes keys (put, create, update, cas, delete, purge, txn):
 * the ops that may carry "cid" and "seq". */
bool cairn_wire_op_is_write(uint32_t op);

/* Whether @op is a read that takes "stale" (get, exists, history, scan,
 * count); a stale read's response carries "at". */
bool cairn_wire_op_is_read(uint32_t op);

/* ------------------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------------- */

/* Which optional request fields are present (struct cairn_wire_request
 * .has). Required fields have no bit: they are always there. */
enum cairn_wire_request_has {
    CAIRN_WIRE_REQ_CLIENT = 1u << 0,    /* hello: client */
    CAIRN_WIRE_REQ_REV = 1u << 1,       /* get, delete, purge: rev */
    CAIRN_WIRE_REQ_STALE = 1u << 2,     /* reads: stale */
    CAIRN_WIRE_REQ_META = 1u << 3,      /* put, create, update, cas */
    CAIRN_WIRE_REQ_TTL = 1u << 4,       /* put, create, update, cas */
    CAIRN_WIRE_REQ_EXP = 1u << 5,       /* put, create, update, cas */
    CAIRN_WIRE_REQ_CID_SEQ = 1u << 6,   /* writes: cid and seq, together */
    CAIRN_WIRE_REQ_START = 1u << 7,     /* scan, count */
    CAIRN_WIRE_REQ_END = 1u << 8,       /* scan, count */
    CAIRN_WIRE_REQ_PREFIX = 1u << 9,    /* scan, count */
    CAIRN_WIRE_REQ_CURSOR = 1u << 10,   /* scan */
    CAIRN_WIRE_REQ_LIMIT = 1u << 11,    /* scan */
    CAIRN_WIRE_REQ_KEYS_ONLY = 1u << 12, /* scan, count */
    CAIRN_WIRE_REQ_CMP = 1u << 13,      /* txn: cmp (absent: a bulk write) */
    CAIRN_WIRE_REQ_KEY = 1u << 14,      /* watch: key (required elsewhere) */
    CAIRN_WIRE_REQ_FROM = 1u << 15,     /* watch: from */
    CAIRN_WIRE_REQ_LATEST = 1u << 16,   /* watch: latest */
};

/*
 * A request. The encoder reads the fields of .op (required ones always,
 * optional ones when their bit is in .has); the decoder fills them.
 *
 * Decoded: pointers are views into the frame body (borrowed; valid while
 * it is), except .config, .compares, .writes, .node and .node->tags, which
 * the request owns until cairn_wire_request_release() (the strings of
 * .node are views into the frame body). Encoded: every pointer is
 * borrowed for the call.
 */
struct cairn_wire_node; /* defined with the responses below */

struct cairn_wire_request {
    uint64_t id;  /* >= 1 */
    uint32_t op;  /* enum cairn_wire_op */
    uint32_t has; /* enum cairn_wire_request_has bits */
    /* Every op but hello, bucket.list and cluster.status (for
     * bucket.create the decoder copies config->name here). */
    char bucket[CAIRN_BUCKET_NAME_MAX + 1];
    /* hello */
    uint64_t version;
    const char *client; /* CAIRN_WIRE_REQ_CLIENT; not NUL-terminated */
    size_t client_len;
    /* bucket.create */
    const cairn_bucket_config *config;
    /* Key ops: .w.key always; .w.value for put, create, update, cas;
     * .w.meta/.ttl_ns/.expires_at by their bits. The decoder sets .w.op:
     * PUT for the value writes, DEL for delete, PURGE for purge. */
    struct cairn_write w;
    uint64_t rev;  /* update (required); get, delete, purge (optional) */
    bool stale;    /* CAIRN_WIRE_REQ_STALE */
    bool has_old;  /* cas: false when "old" is nil (only if absent) */
    const void *old;
    size_t old_len;
    uint64_t cid; /* CAIRN_WIRE_REQ_CID_SEQ */
    uint64_t seq;
    /* scan, count (each by its bit) */
    const void *start;
    size_t start_len;
    const void *end;
    size_t end_len;
    const void *prefix;
    size_t prefix_len;
    const void *cursor;
    size_t cursor_len;
    uint32_t limit; /* 0: no limit */
    bool keys_only;
    /* txn */
    uint32_t n_compares;
    const struct cairn_compare *compares;
    uint32_t n_writes;
    const struct cairn_write *writes;
    /* node.join: the node asking to join or register (.role is unused
     * and never sent). */
    const struct cairn_wire_node *node;
    /* node.remove: the id of the node to remove (>= 1); bucket.leader:
     * the node that leads the bucket's group (>= 1). */
    uint64_t node_id;
    /* bucket.leader: the bucket's Raft group id and the term its leader
     * leads in (both >= 1). */
    uint64_t group;
    uint64_t term;
    /* watch: the key (.w.key, CAIRN_WIRE_REQ_KEY) or the key prefix
     * (.prefix, CAIRN_WIRE_REQ_PREFIX) it follows, never both; the first
     * revision it wants (>= 1, CAIRN_WIRE_REQ_FROM); whether its initial
     * data is only each key's latest revision (CAIRN_WIRE_REQ_LATEST; the
     * node's default: true without "from", false with it). */
    uint64_t from;
    bool latest;
    /* watch.cancel: the id of the watch request to end (>= 1). */
    uint64_t watch;
    void *owned_; /* set by the decoder; freed by the release function */
};

/*
 * Decode the request in frame body @buf (@len bytes) into @req.
 *
 * On failure req->id tells the caller how to answer:
 * - req->id == 0 (the code is CAIRN_EPROTO): the body is not one complete
 *   msgpack map, or it has no usable "id" (missing, not an unsigned
 *   integer, 0, or given twice). Send an error with id 0 and close.
 * - req->id != 0: reply with that id and cairn_http_status(code); the
 *   connection stays open. Codes: CAIRN_EMALFORMED (unknown op, unknown
 *   field, a field the op does not use, a repeated field, a wrong type, a
 *   missing required field, cid without seq or seq without cid; inside
 *   node.join's "node" map the same, named "node field 'peer'"),
 *   CAIRN_EINVAL (a value breaking a rule: an empty key, an invalid bucket
 *   name or config, a scan bound longer than a key or a cursor longer than
 *   CAIRN_WIRE_CURSOR_MAX, a limit above UINT32_MAX, a node id of 0
 *   (node.remove, bucket.leader), a group or term of 0 (bucket.leader), a
 *   node or cluster name breaking the name rule, a node address empty,
 *   holding a NUL or longer than CAIRN_WIRE_ADDRESS_MAX, a node tag that
 *   is not "key:value" of at most CAIRN_TAG_MAX bytes, a tag given twice,
 *   a watch with both "key" and "prefix" or a "from" of 0, a watch.cancel
 *   "watch" of 0),
 *   CAIRN_ETOOLARGE (key over CAIRN_KEY_MAX, metadata over
 *   CAIRN_KEY_META_MAX, a txn over CAIRN_TXN_OPS_MAX writes or
 *   CAIRN_TXN_COMPARES_MAX compares, a node with more than CAIRN_TAGS_MAX
 *   tags; the message gives the limit), CAIRN_ENOMEM.
 * @errmsg names the field. Values are not checked against a bucket's
 * limits (the node knows the bucket). Call cairn_wire_request_release()
 * afterwards in every case.
 */
int cairn_wire_request_decode(const void *buf, size_t len,
                              struct cairn_wire_request *req, char *errmsg);

/* Free what a decode allocated; @req's views stay as they are. */
void cairn_wire_request_release(struct cairn_wire_request *req);

/*
 * Append @req as one frame to @out. Only the structure is checked (the
 * server checks values and limits): errors are CAIRN_EINVAL (id 0, unknown
 * op, a missing config, node or txn array, node tags counted but NULL, a
 * txn write or compare with an unknown op or target, cid/seq on an op that
 * is not a write), CAIRN_ETOOLARGE
 * (the frame would pass CAIRN_FRAME_MAX), CAIRN_ENOMEM; @out is unchanged
 * on error.
 */
int cairn_wire_request_encode(struct cairn_wire_buf *out,
                              const struct cairn_wire_request *req,
                              char *errmsg);

/* The client's id and sequence number of a write, for at-most-once
 * retries (docs/protocol.md); NULL where taken: none. */
struct cairn_wire_dedup {
    uint64_t cid;
    uint64_t seq;
};

/* The optional parts of a scan or count (NULL pointers: absent). */
struct cairn_wire_scan {
    const void *start; /* NULL: from the first key */
    size_t start_len;
    const void *end; /* NULL: to the last key */
    size_t end_len;
    const void *prefix; /* NULL: any key */
    size_t prefix_len;
    const void *cursor; /* scan only; NULL: the first page */
    size_t cursor_len;
    uint32_t limit; /* scan only; 0: omitted (no limit) */
    bool keys_only; /* false: omitted */
    bool stale;     /* false: omitted */
};

/*
 * One encoder per op, each appending one request frame to @out (the
 * errors of cairn_wire_request_encode()). Strings are NUL-terminated and
 * borrowed for the call. In @w, meta is sent when meta_len > 0, ttl when
 * ttl_ns != 0 and exp when expires_at != 0; w->op is ignored.
 */
int cairn_wire_encode_hello(struct cairn_wire_buf *out, uint64_t id,
                            uint64_t version, const char *client,
                            char *errmsg); /* client NULL: omitted */
int cairn_wire_encode_bucket_create(struct cairn_wire_buf *out, uint64_t id,
                                    const cairn_bucket_config *cfg,
                                    char *errmsg);
int cairn_wire_encode_bucket_delete(struct cairn_wire_buf *out, uint64_t id,
                                    const char *bucket, char *errmsg);
int cairn_wire_encode_bucket_list(struct cairn_wire_buf *out, uint64_t id,
                                  char *errmsg);
/* stale: any replica answers from its own state (false: omitted; the
 * bucket's leader answers). */
int cairn_wire_encode_bucket_info(struct cairn_wire_buf *out, uint64_t id,
                                  const char *bucket, bool stale,
                                  char *errmsg);
/* rev 0 and stale false are omitted. */
int cairn_wire_encode_get(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const void *key, size_t key_len,
                          uint64_t rev, bool stale, char *errmsg);
int cairn_wire_encode_exists(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const void *key,
                             size_t key_len, bool stale, char *errmsg);
int cairn_wire_encode_put(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const struct cairn_write *w,
                          const struct cairn_wire_dedup *dedup, char *errmsg);
int cairn_wire_encode_create(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const struct cairn_write *w,
                             const struct cairn_wire_dedup *dedup,
                             char *errmsg);
int cairn_wire_encode_update(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const struct cairn_write *w,
                             uint64_t rev, const struct cairn_wire_dedup *dedup,
                             char *errmsg);
/* old NULL: "only if absent" (nil). */
int cairn_wire_encode_cas(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const struct cairn_write *w,
                          const void *old, size_t old_len,
                          const struct cairn_wire_dedup *dedup, char *errmsg);
/* rev 0 is omitted (no revision check). */
int cairn_wire_encode_delete(struct cairn_wire_buf *out, uint64_t id,
                             const char *bucket, const void *key,
                             size_t key_len, uint64_t rev,
                             const struct cairn_wire_dedup *dedup,
                             char *errmsg);
int cairn_wire_encode_purge(struct cairn_wire_buf *out, uint64_t id,
                            const char *bucket, const void *key,
                            size_t key_len, uint64_t rev,
                            const struct cairn_wire_dedup *dedup,
                            char *errmsg);
int cairn_wire_encode_history(struct cairn_wire_buf *out, uint64_t id,
                              const char *bucket, const void *key,
                              size_t key_len, bool stale, char *errmsg);
/* @s NULL: the whole bucket. */
int cairn_wire_encode_scan(struct cairn_wire_buf *out, uint64_t id,
                           const char *bucket,
                           const struct cairn_wire_scan *s, char *errmsg);
/* As scan; s->cursor must be NULL and s->limit 0 (else CAIRN_EINVAL). */
int cairn_wire_encode_count(struct cairn_wire_buf *out, uint64_t id,
                            const char *bucket,
                            const struct cairn_wire_scan *s, char *errmsg);
/* @cmp NULL: "cmp" omitted (a bulk write); n_cmp 0 with non-NULL @cmp
 * sends an empty array. */
int cairn_wire_encode_txn(struct cairn_wire_buf *out, uint64_t id,
                          const char *bucket, const struct cairn_compare *cmp,
                          uint32_t n_cmp, const struct cairn_write *ops,
                          uint32_t n_ops, const struct cairn_wire_dedup *dedup,
                          char *errmsg);
int cairn_wire_encode_cluster_status(struct cairn_wire_buf *out, uint64_t id,
                                     char *errmsg);
/* A node asks the meta leader to add it to the cluster, or to register or
 * update its record. @n is borrowed for the call; n->http is sent only
 * when n->http.len > 0, n->tags always (an empty array when n->n_tags is
 * 0), n->role never. Values are not checked here (the node checks them):
 * CAIRN_EINVAL only for a NULL @n, or n->n_tags > 0 with NULL n->tags. */
int cairn_wire_encode_node_join(struct cairn_wire_buf *out, uint64_t id,
                                const struct cairn_wire_node *n,
                                char *errmsg);
/* Remove node @node (an id; the node refuses 0) from the meta group's
 * configuration and the catalog. */
int cairn_wire_encode_node_remove(struct cairn_wire_buf *out, uint64_t id,
                                  uint64_t node, char *errmsg);
/* Node to node, not for clients: node @node, which leads Raft group @group
 * of bucket @bucket in term @term, tells the meta leader so, which records
 * it as the bucket's leader hint (docs/cairnd.md). Values are not checked
 * here (the decoder refuses 0 for @group, @node and @term); errors as
 * cairn_wire_request_encode(), plus CAIRN_EINVAL for a NULL @bucket or one
 * longer than CAIRN_BUCKET_NAME_MAX. */
int cairn_wire_encode_bucket_leader(struct cairn_wire_buf *out, uint64_t id,
                                    const char *bucket, uint64_t group,
                                    uint64_t node, uint64_t term,
                                    char *errmsg);

/* What a watch follows and where it starts (docs/protocol.md, "Watches").
 * Pointers are borrowed for the call. */
struct cairn_wire_watch {
    const void *key; /* only this key; NULL: see prefix */
    size_t key_len;
    const void *prefix; /* only keys with this prefix; NULL: every key
                         * (not with .key) */
    size_t prefix_len;
    uint64_t from; /* the first revision wanted; 0: omitted */
    bool has_latest; /* send "latest" (else the node's default) */
    bool latest;
};

/* Open a watch of @bucket: the node answers with a stream of frames
 * carrying @id (cairn_wire_reply_watch_*), until an error frame ends it or
 * the client sends watch.cancel. @w NULL: every key, current values. */
int cairn_wire_encode_watch(struct cairn_wire_buf *out, uint64_t id,
                            const char *bucket,
                            const struct cairn_wire_watch *w, char *errmsg);
/* End watch @watch (the id of its request) on this connection. */
int cairn_wire_encode_watch_cancel(struct cairn_wire_buf *out, uint64_t id,
                                   uint64_t watch, char *errmsg);

/* ------------------------------------------------------------------------
 * Responses
 * ---------------------------------------------------------------------- */

/* A string that is not NUL-terminated (a view). */
struct cairn_wire_str {
    const char *ptr;
    size_t len;
};

/* A revision of a key, as responses carry it. */
struct cairn_wire_entry {
    const void *key;
    size_t key_len;
    bool has_value; /* false for markers and keys-only scans */
    const void *value;
    size_t value_len;
    bool has_meta;
    const void *meta;
    size_t meta_len;
    uint64_t revision;        /* "rev" */
    uint64_t create_revision; /* "create_rev" */
    uint64_t updated;         /* ns */
    uint64_t expires;         /* ns; 0: never */
    uint32_t op;              /* enum cairn_op */
};

/* One replica of a bucket. */
struct cairn_wire_replica {
    uint64_t node;
    bool leader;
    uint64_t applied;
    /* Known to the bucket's leader only (bucket.info): on the wire "lag"
     * and "active", both present when has_lag. */
    bool has_lag;
    uint64_t lag;  /* log entries the replica lacks of the leader's log */
    bool active;   /* it answered the leader within an election timeout */
};

/* bucket.info's "info". */
struct cairn_wire_bucket_info {
    cairn_bucket_config config;
    uint64_t created;
    uint64_t keys;
    uint64_t bytes;     /* key+value+metadata bytes of kept revisions */
    /* The same bytes as stored (after compression); on the wire
     * "stored_bytes", optional: absent, the decoder sets it to bytes. */
    uint64_t stored_bytes;
    uint64_t rev;       /* last revision */
    uint64_t compacted; /* compacted revision */
    uint32_t n_replicas;
    const struct cairn_wire_replica *replicas;
};

/*
 * A node of cluster.status, or the node of a node.join request. On the
 * wire a map {"id", "name", "client", "peer", "http"?, "tags": [str],
 * "cluster", "role"?}: "http" is written when http.len > 0, "role" only in
 * cluster.status and when role.len > 0; decoders leave absent ones empty.
 */
struct cairn_wire_node {
    uint64_t id;
    struct cairn_wire_str name;
    struct cairn_wire_str client; /* client address, "a.b.c.d:port" */
    struct cairn_wire_str peer;   /* peer address */
    uint32_t n_tags;
    const struct cairn_wire_str *tags; /* "key:value" */
    struct cairn_wire_str cluster;
    struct cairn_wire_str http; /* HTTP API address; empty: none */
    struct cairn_wire_str role; /* cluster.status: "voter", "standby",
                                 * "spare"; empty: not in the meta group */
};

/* A bucket of cluster.status, or of bucket.list (name only). */
struct cairn_wire_bucket_status {
    struct cairn_wire_str name;
    uint32_t n_replicas;
    const struct cairn_wire_replica *replicas;
};

/* Which response fields are present (struct cairn_wire_response .has). */
enum cairn_wire_response_has {
    CAIRN_WIRE_RES_VERSION = 1u << 0,  /* hello */
    CAIRN_WIRE_RES_NODE = 1u << 1,     /* hello */
    CAIRN_WIRE_RES_NAME = 1u << 2,     /* hello */
    CAIRN_WIRE_RES_CLUSTER = 1u << 3,  /* hello */
    CAIRN_WIRE_RES_CREATED = 1u << 4,  /* bucket.create */
    CAIRN_WIRE_RES_BUCKETS = 1u << 5,  /* bucket.list, cluster.status */
    CAIRN_WIRE_RES_INFO = 1u << 6,     /* bucket.info */
    CAIRN_WIRE_RES_ENTRY = 1u << 7,    /* get */
    CAIRN_WIRE_RES_EXISTS = 1u << 8,   /* exists */
    CAIRN_WIRE_RES_REV = 1u << 9,      /* writes, exists, txn; 409 */
    CAIRN_WIRE_RES_LAST_REV = 1u << 10, /* txn */
    CAIRN_WIRE_RES_ENTRIES = 1u << 11, /* history, scan */
    CAIRN_WIRE_RES_MORE = 1u << 12,    /* scan */
    CAIRN_WIRE_RES_CURSOR = 1u << 13,  /* scan (optional) */
    CAIRN_WIRE_RES_COUNT = 1u << 14,   /* count */
    CAIRN_WIRE_RES_NODES = 1u << 15,   /* cluster.status */
    CAIRN_WIRE_RES_AT = 1u << 16,      /* stale reads (optional) */
    CAIRN_WIRE_RES_CODE = 1u << 17,    /* errors: code, err, error */
    CAIRN_WIRE_RES_FAILED = 1u << 18,  /* 409 of a txn */
    CAIRN_WIRE_RES_LEADER = 1u << 19,  /* 421 */
    CAIRN_WIRE_RES_VERSIONS = 1u << 20, /* 400 "version" of hello */
    CAIRN_WIRE_RES_ROLE = 1u << 21,    /* node.join */
    CAIRN_WIRE_RES_EVENT = 1u << 22,   /* watch: an event */
    CAIRN_WIRE_RES_SYNCED = 1u << 23,  /* watch: the initial data is done */
};

/*
 * A response. Decoded: pointers are views into the frame body, except the
 * arrays (.buckets, .info, .entries, .nodes and the arrays inside them),
 * which the response owns until cairn_wire_response_release(). Encoded:
 * every pointer is borrowed for the call.
 */
struct cairn_wire_response {
    uint64_t id; /* the request's id; 0 for an error about no request */
    int status;  /* 200, or an error's HTTP status */
    uint32_t has; /* enum cairn_wire_response_has bits */
    /* errors (status != 200): code, err and error come together */
    struct cairn_wire_str code;  /* short name, cairn_errname() */
    int err;                     /* cairn code */
    struct cairn_wire_str error; /* message */
    uint32_t failed;             /* 409 of a txn: the failed compare */
    struct cairn_wire_str leader; /* 421: the leader's client address */
    uint32_t n_versions;          /* 400 "version": versions spoken */
    uint64_t versions[CAIRN_WIRE_VERSIONS_MAX];
    /* hello */
    uint64_t version;
    uint64_t node;
    struct cairn_wire_str name;
    struct cairn_wire_str cluster;
    /* bucket.create */
    uint64_t created;
    /* bucket.list (names only) and cluster.status */
    uint32_t n_buckets;
    const struct cairn_wire_bucket_status *buckets;
    bool buckets_named; /* decoded: the elements were names (bucket.list) */
    /* bucket.info */
    const struct cairn_wire_bucket_info *info;
    /* get */
    struct cairn_wire_entry entry;
    /* exists */
    bool exists;
    /* writes, exists, txn (first revision), 409 (current revision) */
    uint64_t rev;
    uint64_t last_rev; /* txn */
    /* history, scan */
    uint32_t n_entries;
    const struct cairn_wire_entry *entries;
    bool more; /* scan */
    const void *cursor; /* scan (optional) */
    size_t cursor_len;
    uint64_t count; /* count */
    /* cluster.status */
    uint32_t n_nodes;
    const struct cairn_wire_node *nodes;
    /* stale reads */
    uint64_t at;
    /* node.join: the joined node's role in the meta group ("voter",
     * "standby" or "spare"; the codec does not restrict the value) */
    struct cairn_wire_str role;
    /* watch frames: an event ("event"), the end of the initial data
     * ("synced" true, with "rev": the revision it reached), or progress
     * ("rev" alone: revisions up to it hold nothing more for the watch) */
    struct cairn_wire_entry event;
    bool synced;
    void *owned_; /* set by the decoder; freed by the release function */
};

/*
 * Decode the response in frame body @buf into @res. Fields this codec
 * does not know are skipped; known ones must have their type. "id" and
 * "status" are required, and a status other than 200 requires "code",
 * "err" and "error". Which fields the request's op needs is checked by
 * cairn_wire_response_check() once the caller has found the request.
 * Errors: CAIRN_EPROTO (the message names the field; the connection is no
 * longer usable), CAIRN_ENOMEM. Call cairn_wire_response_release()
 * afterwards in every case.
 */
int cairn_wire_response_decode(const void *buf, size_t len,
                               struct cairn_wire_response *res, char *errmsg);

/*
 * Check that a decoded status-200 @res carries every field @op's response
 * has (docs/protocol.md), in the right form ("buckets" names for
 * bucket.list, maps for cluster.status). Error responses pass.
 * Errors: CAIRN_EPROTO naming the missing field; CAIRN_EINVAL (bad @op).
 */
int cairn_wire_response_check(const struct cairn_wire_response *res,
                              uint32_t op, char *errmsg);

/* Free what a decode allocated. */
void cairn_wire_response_release(struct cairn_wire_response *res);

/*
 * Append @res as the response to a request of @op: with status 200 the
 * fields of @op (required ones always, "cursor" and "at" by their bits);
 * otherwise status, code, err, error and the extras whose bits are set
 * (rev, failed, leader, versions). Errors: CAIRN_EINVAL (bad @op, a
 * missing array or info), CAIRN_ETOOLARGE, CAIRN_ENOMEM; @out is unchanged
 * on error.
 */
int cairn_wire_response_encode(struct cairn_wire_buf *out, uint32_t op,
                               const struct cairn_wire_response *res,
                               char *errmsg);

/* Extras of an error response; NULL where taken: none. */
struct cairn_wire_error_extra {
    uint64_t rev;      /* CAIRN_ECONFLICT: the key's current revision */
    bool has_failed;   /* CAIRN_ECONFLICT of a txn: */
    uint32_t failed;   /*   the index of the compare that failed */
    const char *leader; /* CAIRN_ENOTLEADER: "a.b.c.d:port"; NULL: omitted */
};

/*
 * Append an error response to request @id (0: about no request) for cairn
 * code @code (not CAIRN_OK): "status" cairn_http_status(code), "code"
 * cairn_errname(code), "err" @code, "error" @msg (NULL: cairn_strerror()).
 * CAIRN_ECONFLICT adds "rev" (x->rev, 0 without @x) and, with
 * x->has_failed, "failed"; CAIRN_ENOTLEADER adds "leader" when
 * x->leader is set; CAIRN_EVERSION adds "versions": [CAIRN_WIRE_VERSION].
 * Extras that do not belong to @code are ignored.
 */
int cairn_wire_reply_error(struct cairn_wire_buf *out, uint64_t id, int code,
                           const char *msg,
                           const struct cairn_wire_error_extra *x,
                           char *errmsg);

/* Success responses, one per op (strings NUL-terminated, borrowed). @at:
 * the replica's last revision, sent for a stale read; NULL omits it. */
int cairn_wire_reply_hello(struct cairn_wire_buf *out, uint64_t id,
                           uint64_t node, const char *name,
                           const char *cluster, char *errmsg);
int cairn_wire_reply_bucket_create(struct cairn_wire_buf *out, uint64_t id,
                                   uint64_t created, char *errmsg);
int cairn_wire_reply_bucket_delete(struct cairn_wire_buf *out, uint64_t id,
                                   char *errmsg);
int cairn_wire_reply_bucket_list(struct cairn_wire_buf *out, uint64_t id,
                                 const char *const *names, uint32_t n,
                                 char *errmsg);
int cairn_wire_reply_bucket_info(struct cairn_wire_buf *out, uint64_t id,
                                 const struct cairn_wire_bucket_info *info,
                                 char *errmsg);
int cairn_wire_reply_get(struct cairn_wire_buf *out, uint64_t id,
                         const struct cairn_wire_entry *e,
                         const uint64_t *at, char *errmsg);
int cairn_wire_reply_exists(struct cairn_wire_buf *out, uint64_t id,
                            bool exists, uint64_t rev, const uint64_t *at,
                            char *errmsg);
/* put, create, update, cas, delete, purge: the new revision. */
int cairn_wire_reply_write(struct cairn_wire_buf *out, uint64_t id,
                           uint64_t rev, char *errmsg);
int cairn_wire_reply_history(struct cairn_wire_buf *out, uint64_t id,
                             const struct cairn_wire_entry *entries,
                             uint32_t n, const uint64_t *at, char *errmsg);
/* @cursor NULL: omitted. */
int cairn_wire_reply_scan(struct cairn_wire_buf *out, uint64_t id,
                          const struct cairn_wire_entry *entries, uint32_t n,
                          bool more, const void *cursor, size_t cursor_len,
                          const uint64_t *at, char *errmsg);
int cairn_wire_reply_count(struct cairn_wire_buf *out, uint64_t id,
                           uint64_t count, const uint64_t *at, char *errmsg);
int cairn_wire_reply_txn(struct cairn_wire_buf *out, uint64_t id,
                         uint64_t rev, uint64_t last_rev, char *errmsg);
/* Each node's "http" and "role" are written when their len > 0. */
int cairn_wire_reply_cluster_status(
    struct cairn_wire_buf *out, uint64_t id,
    const struct cairn_wire_node *nodes, uint32_t n_nodes,
    const struct cairn_wire_bucket_status *buckets, uint32_t n_buckets,
    char *errmsg);
/* @role: the node's role in the meta group ("voter", "standby" or
 * "spare"); NULL is refused with CAIRN_EINVAL. */
int cairn_wire_reply_node_join(struct cairn_wire_buf *out, uint64_t id,
                               const char *role, char *errmsg);
int cairn_wire_reply_node_remove(struct cairn_wire_buf *out, uint64_t id,
                                 char *errmsg);
/* bucket.leader: status 200 and no other field, whether or not the hint
 * was written. */
int cairn_wire_reply_bucket_leader(struct cairn_wire_buf *out, uint64_t id,
                                   char *errmsg);
/* The frames of a watch (docs/protocol.md, "Watches"), each with the
 * watch request's @id and status 200: one event; the end of the initial
 * data, reached at revision @rev; progress: nothing more for the watch up
 * to revision @rev. A watch ends with an error frame
 * (cairn_wire_reply_error). */
int cairn_wire_reply_watch_event(struct cairn_wire_buf *out, uint64_t id,
                                 const struct cairn_wire_entry *e,
                                 char *errmsg);
int cairn_wire_reply_watch_synced(struct cairn_wire_buf *out, uint64_t id,
                                  uint64_t rev, char *errmsg);
int cairn_wire_reply_watch_progress(struct cairn_wire_buf *out, uint64_t id,
                                    uint64_t rev, char *errmsg);
/* watch.cancel: status 200 and no other field; no frame of the watch
 * follows it. */
int cairn_wire_reply_watch_cancel(struct cairn_wire_buf *out, uint64_t id,
                                  char *errmsg);

/*
 * A history or scan response written entry by entry, so the node can
 * encode straight from a storage read without collecting the entries:
 *
 *     cairn_wire_entries_begin(&ew, out, id);
 *     for each entry: cairn_wire_entries_add(&ew, &e);
 *     cairn_wire_entries_end(&ew, CAIRN_WIRE_SCAN, more, cursor, len, at,
 *                            errmsg);
 *
 * Only _end reports errors (those of cairn_wire_frame_end(), CAIRN_EINVAL
 * for an op other than history and scan); on error the response is
 * removed from @out. Nothing else may be appended to @out in between.
 */
struct cairn_wire_entries_writer {
    struct cairn_wire_buf *out;
    size_t start;    /* the frame's offset */
    size_t map_at;   /* offset of the response map's header byte */
    size_t array_at; /* offset of the entries array's header */
    uint32_t n;
    int error; /* an entry could not be encoded (reported by _end) */
};

void cairn_wire_entries_begin(struct cairn_wire_entries_writer *ew,
                              struct cairn_wire_buf *out, uint64_t id);
void cairn_wire_entries_add(struct cairn_wire_entries_writer *ew,
                            const struct cairn_wire_entry *e);
int cairn_wire_entries_end(struct cairn_wire_entries_writer *ew, uint32_t op,
                           bool more, const void *cursor, size_t cursor_len,
                           const uint64_t *at, char *errmsg);

/* ------------------------------------------------------------------------
 * Shapes shared with the storage engine's command format
 * (docs/storage.md: the config map, txn "cmp" and "ops"). Storage commands
 * travel in the replicated log, so the encodings here never change, and
 * with flags 0 the decoders accept exactly what they always have.
 * ---------------------------------------------------------------------- */

enum cairn_wire_shape_flags {
    /* The wire's stricter reading: byte strings must be bin (not str), a
     * field may not repeat, and a config must name its bucket. */
    CAIRN_WIRE_STRICT = 1u << 0,
};

/* Pack @cfg as the config map. */
void cairn_wire_config_pack(struct msgpack_packer *pk,
                            const cairn_bucket_config *cfg);

/*
 * Fill @cfg from config map @o, starting from the defaults
 * (cairn_bucket_config_init with no name). The config is not validated:
 * call cairn_bucket_config_validate(). Errors: CAIRN_EMALFORMED naming the
 * field ("config field 'history' has the wrong type").
 */
int cairn_wire_config_unpack(const struct msgpack_object *o,
                             cairn_bucket_config *cfg, unsigned flags,
                             char *errmsg);

/* Check what the packers below need: every write's op is a cairn_op and
 * every compare's target and op are known. Errors: CAIRN_EINVAL. */
int cairn_wire_txn_check(const struct cairn_compare *cmp, uint32_t n_cmp,
                         const struct cairn_write *ops, uint32_t n_ops,
                         char *errmsg);

/* Pack the "cmp" array value / the "ops" array value (checked first with
 * cairn_wire_txn_check). */
void cairn_wire_compares_pack(struct msgpack_packer *pk,
                              const struct cairn_compare *cmp, uint32_t n);
void cairn_wire_writes_pack(struct msgpack_packer *pk,
                            const struct cairn_write *ops, uint32_t n);

/* The value fields of a write ("val" when @with_value, then "meta", "ttl",
 * "exp" when non-zero): how many, and packing them as map pairs. */
uint32_t cairn_wire_write_fields(const struct cairn_write *w, bool with_value);
void cairn_wire_write_fields_pack(struct msgpack_packer *pk,
                                  const struct cairn_write *w,
                                  bool with_value);

/*
 * Decode map pair (@k, @v) if it is one of a write's fields "k", "val",
 * "meta", "ttl", "exp" into @w (setting *has_key / *has_val). Returns 1
 * (decoded), 0 (not one of them) or -1 (wrong type).
 */
int cairn_wire_write_field_unpack(const struct msgpack_object *k,
                                  const struct msgpack_object *v,
                                  struct cairn_write *w, bool *has_key,
                                  bool *has_val, unsigned flags);

/* Decoded txn arrays: compares and writes share one allocation. */
struct cairn_wire_txn {
    uint32_t n_compares;
    struct cairn_compare *compares;
    uint32_t n_writes;
    struct cairn_write *writes;
    void *owned; /* free() it when done with the arrays */
};

/*
 * Decode the "cmp" (@cmp, NULL: none) and "ops" array objects into @out.
 * Byte fields are views into the document @cmp and @ops were unpacked
 * from. With more than CAIRN_TXN_COMPARES_MAX compares or
 * CAIRN_TXN_OPS_MAX writes the counts are set, no array is allocated and
 * CAIRN_ETOOLARGE is returned (the message gives the limits). Errors:
 * CAIRN_EMALFORMED naming the element and field ("txn ops[2]: field 'val'
 * has the wrong type"), CAIRN_ETOOLARGE, CAIRN_ENOMEM. On error nothing
 * stays allocated.
 */
int cairn_wire_txn_unpack(const struct msgpack_object *cmp,
                          const struct msgpack_object *ops, unsigned flags,
                          struct cairn_wire_txn *out, char *errmsg);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_WIRE_H */
