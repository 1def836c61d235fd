/*
 * internal.h — private to node/: the node's state shared by its parts.
 *
 *   daemon.c   start and stop: data and memory directories, storage,
 *              consensus
 *   catalog.c  the catalog records the meta group replicates, and the
 *              in-memory copy of them
 *   meta.c     acting on the catalog: running the bucket groups this node
 *              holds, registering the node and reporting the buckets it
 *              leads (the meta client), the meta operations
 *              (bucket.create/delete, node.join/remove, bucket.leader)
 *   server.c   the client protocol listener, connections and the key ops
 *   expiry.c   the TTL sweeper: bucket leaders propose expire(now) when
 *              something in their bucket has expired
 *   watch.c    watches: streams of a bucket's changes, served by any
 *              replica from its storage
 *
 * Everything runs on the node's one loop thread.
 */
#ifndef CAIRN_NODE_INTERNAL_H
#define CAIRN_NODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "cairn.h"
#include "consensus.h"
#include "log.h"
#include "node.h"
#include "storage.h"
#include "wire.h"

/* ------------------------------------------------------------------------
 * The catalog (catalog.c)
 *
 * Records in the meta group's bucket "_cluster":
 *   "n/<id, 20 digits>"  a node:   {v, id, name, client, peer, http, tags,
 *                                   cluster}
 *   "b/<bucket name>"    a bucket: {v, config, replicas, created}
 *   "l/<bucket name>"    the bucket's leader hint: {v, group, node, term}
 * A bucket's Raft group id is its record's create revision + 1 (the meta
 * group is 1): a bucket deleted and created again gets a new group.
 *
 * A leader hint says which node last reported leading the bucket's group
 * (bucket.leader), and in which term: nodes that hold no replica of the
 * bucket redirect to it and show it in cluster.status. It is advisory: it
 * counts only while its group is the bucket's current one, it may be
 * momentarily stale after an election, and a hint record that does not
 * decode is ignored rather than failing the catalog.
 * ---------------------------------------------------------------------- */

#define CATALOG_VERSION 1
#define CATALOG_ADDRESS_MAX 64

struct catalog_node {
    uint64_t id;
    char name[NODE_NAME_MAX + 1];
    char client[CATALOG_ADDRESS_MAX + 1];
    char peer[CATALOG_ADDRESS_MAX + 1];
    char http[CATALOG_ADDRESS_MAX + 1];
    uint32_t n_tags;
    char tags[CAIRN_TAGS_MAX][CAIRN_TAG_MAX + 1];
    char cluster[NODE_NAME_MAX + 1];
};

struct catalog_bucket {
    cairn_bucket_config config;
    uint64_t group;    /* Raft group id */
    uint64_t created;  /* ns, the create time every replica uses */
    uint32_t n_replicas;
    uint64_t replicas[CAIRN_REPLICAS_MAX]; /* node ids, placement order */
    /* The leader hint, when its group is this bucket's group. */
    uint64_t hint_node; /* 0: no usable hint */
    uint64_t hint_term;
    uint64_t hint_rev; /* revision of the "l/" record, usable or not; 0: none */
};

/* A leader hint record's fields. */
struct catalog_hint {
    uint64_t group;
    uint64_t node;
    uint64_t term;
};

/* The in-memory copy of the catalog, reloaded after each meta apply. */
struct catalog {
    uint32_t n_nodes;
    struct catalog_node *nodes;
    uint32_t n_buckets;
    struct catalog_bucket *buckets; /* sorted by name */
    /* The first leader hint (in key order) that decodes but names no
     * current bucket group, for the meta leader's sweep; "" for none. */
    char stale_hint[CAIRN_BUCKET_NAME_MAX + 1];
    uint64_t stale_hint_rev;
};

#define CATALOG_NODE_KEY_MAX 24
#define CATALOG_BUCKET_KEY_MAX (2 + CAIRN_BUCKET_NAME_MAX)
#define CATALOG_HINT_KEY_MAX (2 + CAIRN_BUCKET_NAME_MAX)

/* The record keys; return their length. @out has room for the matching
 * CATALOG_*_KEY_MAX bytes and a NUL. */
size_t catalog_node_key(char *out, uint64_t id);
size_t catalog_bucket_key(char *out, const char *name);
size_t catalog_hint_key(char *out, const char *name);

/* Encode a record (malloc'd into *buf, the caller frees it).
 * Errors: CAIRN_ENOMEM. */
int catalog_node_encode(const struct catalog_node *nd, void **buf,
                        size_t *len, char *errmsg);
int catalog_bucket_encode(const struct catalog_bucket *b, void **buf,
                          size_t *len, char *errmsg);
int catalog_hint_encode(const struct catalog_hint *h, void **buf, size_t *len,
                        char *errmsg);

/* Load every record of @s's "_cluster" bucket into @cat (released first).
 * Errors: CAIRN_EIO, CAIRN_ECORRUPT (a record that does not decode),
 * CAIRN_ENOMEM; @cat is left as it was on error. */
int catalog_load(storage *s, struct catalog *cat, char *errmsg);

/* Free what @cat holds; it may be loaded again. */
void catalog_release(struct catalog *cat);

/* Lookups (NULL: absent). Pointers are valid until the next load. */
const struct catalog_node *catalog_find_node(const struct catalog *cat,
                                             uint64_t id);
const struct catalog_bucket *catalog_find_bucket(const struct catalog *cat,
                                                 const char *name);

/* Whether the records say the same (to skip rewriting an unchanged one). */
bool catalog_node_equal(const struct catalog_node *a,
                        const struct catalog_node *b);

/* ------------------------------------------------------------------------
 * The node
 * ---------------------------------------------------------------------- */

/* A bucket replica this node runs. */
struct bucket_rt {
    struct bucket_rt *next;
    node *n;
    char name[CAIRN_BUCKET_NAME_MAX + 1];
    uint64_t group;
    consensus_group *g;
    /* Where its data lives (borrowed from the node): n->s, or n->ms for a
     * memory bucket, whose Raft log is under n->mem_raft_dir as well. Every
     * read and write of the bucket's data goes through this handle. */
    storage *s;
    bool memory;
    bool stopping; /* stop requested; unlinked from n->buckets when done */
    bool drop;     /* delete the data once stopped */
    bool reporting;        /* a bucket.leader report is in flight */
    uint64_t report_after; /* uv_now: no report before */
    bool expiring;         /* an expire proposal is in flight (expiry.c) */
};

struct server;
struct meta_client;
struct watch_hub;

struct transfer_ctx {
    node *n;
    char bucket[CAIRN_BUCKET_NAME_MAX + 1];
};

struct http_api;

struct node {
    uv_loop_t *loop;
    struct node_config cfg;
    struct http_api *http; /* the HTTP/JSON API (http_api.h) */
    int lock_fd;
    storage *s;   /* the data directory's environment: file buckets, the
                     catalog */
    int mem_lock_fd;
    storage *ms;  /* the memory directory's environment: memory buckets */
    consensus *c;
    consensus_group *meta;
    uint64_t meta_leader; /* last leader id logged */
    char raft_dir[NODE_PATH_MAX + 16];     /* <data dir>/raft */
    char mem_raft_dir[NODE_PATH_MAX + 16]; /* <memory dir>/raft */
    char client_address[CATALOG_ADDRESS_MAX + 1]; /* advertised */
    struct catalog cat;
    struct bucket_rt *buckets; /* running or stopping replicas */
    uv_timer_t poll;      /* leadership, registration; bounds the stop */
    uv_timer_t reconcile; /* runs meta_reconcile() soon after a change */
    uv_timer_t expiry;    /* the TTL sweeper's tick (expiry.c) */
    bool expiry_open;     /* expiry was started and is not closing */
    bool reconcile_again;
    struct server *server;
    struct watch_hub *watch; /* watch.c; NULL once stopping */
    struct meta_client *mc; /* the exchange with the meta leader, if any */
    bool registering_self; /* a proposal of our own record is in flight */
    bool joined;           /* seen in the meta configuration */
    bool sweeping;         /* deleting a non-member's record */
    char join_target[CATALOG_ADDRESS_MAX + 1]; /* --join, or its leader */
    uint64_t register_after; /* uv_now: no registration attempt before */
    bool stopping;
    unsigned transfers; /* leadership transfers still running */
    unsigned parts_open; /* parts still closing during the stop */
    bool finishing;      /* the parts are closing: the last frees the node */
    void (*stop_cb)(void *data);
    void *stop_data;
};

/* Format into @errmsg (CAIRN_ERRMSG_SIZE bytes) and return @code. */
int node_fail(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One more part of a stopping node is closed (node_stop waits for the
 * server, the consensus layer, the timers and the meta client's exchange
 * in flight); the last one frees the node. */
void node_part_done(node *n);

/* The wall clock, ns since the epoch: the time writes carry. */
uint64_t node_now(void);

/* Remove @path and everything under it, if it exists (failures are logged:
 * what is left only takes room). */
void node_remove_tree(const char *path);

/* ------------------------------------------------------------------------
 * meta.c
 * ---------------------------------------------------------------------- */

/* Hook the meta group: reload the catalog after each apply and schedule a
 * reconcile; start the TTL sweeper of the bucket groups (expiry_start).
 * Call once the meta group started. */
void meta_attach(node *n);

/* Bring the running bucket groups in line with the catalog: start the
 * replicas placed here, stop and delete the ones that are gone. */
void meta_reconcile(node *n);

/* Periodic work (poll timer): make sure this node's record is in the
 * catalog, by proposing it (meta leader) or sending node.join; make sure
 * the leader hint of every bucket group this node leads names it, by
 * proposing it (meta leader) or sending bucket.leader; on the meta leader,
 * sweep records that no longer belong. */
void meta_tick(node *n);

/* Stop every bucket group (keeping its data) and the TTL sweeper
 * (expiry_stop); consensus_close() waits for the groups. */
void meta_stop_buckets(node *n);

/* Close the meta client's connection, if any: requests in flight are
 * dropped (a stopping node sends nothing more). */
void meta_close(node *n);

/* The running replica of bucket @name, or NULL. */
struct bucket_rt *meta_bucket(node *n, const char *name);

/* The client address of node @id from the catalog, or NULL. */
const char *meta_client_address(node *n, uint64_t id);

struct conn_req; /* a request waiting for the meta group (server.c) */

/* The meta operations, on the meta leader. Each answers through
 * server_reply_*() when done. */
void meta_bucket_create(node *n, struct conn_req *r);
void meta_bucket_delete(node *n, struct conn_req *r);
void meta_node_join(node *n, struct conn_req *r);
void meta_node_remove(node *n, struct conn_req *r);
/* bucket.leader: record the reported leader as the bucket's hint when the
 * report is about the bucket's current group, names one of its replicas
 * and is newer than the hint; otherwise answer 200 and change nothing. */
void meta_bucket_leader(node *n, struct conn_req *r);

/* ------------------------------------------------------------------------
 * expiry.c: the TTL sweeper
 *
 * Every n->cfg.expire_interval_ms, for each bucket group this node leads
 * with no expire in flight, it asks storage for the bucket's earliest
 * expiry (storage_next_expiry) and, when that is not after node_now(),
 * proposes a STORAGE_CMD_EXPIRE with .time = node_now(). Replicas apply it
 * with that time, never their own clocks.
 * ---------------------------------------------------------------------- */

/* Start the sweeper's timer (once; again does nothing). It counts as one
 * of the node's parts until expiry_stop() has closed it. */
void expiry_start(node *n);

/* Close the timer: the node's part is done once it is closed. Proposals in
 * flight end with their groups. Does nothing if not started. */
void expiry_stop(node *n);

/* ------------------------------------------------------------------------
 * server.c
 * ---------------------------------------------------------------------- */

/* Listen on the client address. Errors: CAIRN_EIO naming the address. */
int server_start(node *n, char *errmsg);

/* Stop listening and close every connection; @cb fires when all handles
 * are closed. */
void server_stop(node *n, void (*cb)(node *n));

/* ------------------------------------------------------------------------
 * http_api.c
 * ---------------------------------------------------------------------- */

/* Serve the HTTP/JSON API (docs/http.md) on --http-listen. Errors:
 * CAIRN_EIO naming the address, CAIRN_EINVAL, CAIRN_ENOMEM. */
int http_api_start(node *n, char *errmsg);

/* Stop listening, end every request (calls in flight are cancelled), and
 * call @cb once everything is closed and freed. Without a started API, @cb
 * runs at once. */
void http_api_stop(node *n, void (*cb)(node *n));

/* A decoded request that outlives the frame it came in: it owns a copy of
 * the body. */
struct conn_req {
    struct conn *conn; /* NULL once the connection is gone */
    struct cairn_wire_request req;
    void *body;
    size_t len;
    void *op_data;    /* for the op's own use */
};

/* Answer @r and free it. */
void server_reply_error(struct conn_req *r, int code, const char *msg,
                        const struct cairn_wire_error_extra *x);
/* Answer 421 with the client address of node @leader, or 503 when there
 * is none. */
void server_reply_redirect(struct conn_req *r, uint64_t leader,
                           const char *what);
/* The wire buffer to encode a reply into (valid until the reply). */
struct cairn_wire_buf *server_reply_buf(struct conn_req *r);
/* Send what was encoded into server_reply_buf() and free @r. */
void server_reply_send(struct conn_req *r);

/* A connection, for watch.c. */
struct conn;
struct watch;
/* Where frames for @c are encoded (its output not yet written). */
struct cairn_wire_buf *server_conn_out(struct conn *c);
/* Bytes queued on @c and not yet written to the socket. */
size_t server_conn_backlog(const struct conn *c);
/* Whether @c still sends what is encoded (not closing). */
bool server_conn_usable(const struct conn *c);
/* Hand @c's output to the socket (unless a write is under way). */
void server_conn_flush(struct conn *c);
/* The head of @c's list of watches (watch.c keeps it). */
struct watch **server_conn_watches(struct conn *c);

/* ------------------------------------------------------------------------
 * watch.c: watches (docs/protocol.md, "Watches")
 * ---------------------------------------------------------------------- */

/* Create the watch hub (n->watch). Errors: CAIRN_ENOMEM. */
int watch_start(node *n, char *errmsg);

/* End every watch without a frame (their connections are closing) and
 * close the hub's timer; @cb fires once it is closed. */
void watch_stop(node *n, void (*cb)(node *n));

/* Open watch @q (op watch) on connection @c, served by this node's replica
 * @b. The frames (and errors) go to @c's output. */
void watch_open(node *n, struct conn *c, struct bucket_rt *b,
                const struct cairn_wire_request *q);

/* watch.cancel @q: end the watch q->watch of @c, if any, and answer. */
void watch_cancel(node *n, struct conn *c,
                  const struct cairn_wire_request *q);

/* @c's socket took what was queued: watches waiting for room go on. */
void watch_conn_writable(node *n, struct conn *c);

/* @c is closed: free its watches. */
void watch_conn_closed(node *n, struct conn *c);

#endif /* CAIRN_NODE_INTERNAL_H */
