/*
 * The client protocol server (docs/protocol.md): one listener, many
 * connections, many requests in flight on each, answered in any order.
 *
 * A connection reads frames with cairn_wire_reader and handles each request
 * as it arrives. Requests answered from local state (errors, redirects,
 * stale reads, catalog reads) are answered at once; writes go to the
 * bucket's group and are answered from the proposal's callback; a
 * linearizable read waits for the group's read barrier. Replies accumulate
 * in the connection's output buffer and are written once per batch of
 * frames read (or per callback), so pipelined requests share writes.
 *
 * A connection stays allocated while requests of it are pending (refs);
 * when the peer goes away first, their answers are dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define READ_CHUNK (64 * 1024)
#define INFLIGHT_MAX 4096          /* pending requests per connection */
#define SCAN_BYTES_MAX (30u << 20) /* scan page budget, below the frame max */
#define ENTRY_OVERHEAD 96          /* msgpack bytes of an entry's fields */

struct conn {
    struct conn *next, *prev;
    node *n;
    uv_tcp_t tcp;
    struct cairn_wire_reader rd;
    struct cairn_wire_buf out;  /* replies not yet handed to uv_write */
    struct cairn_wire_buf wbuf; /* the bytes uv_write is sending */
    uv_write_t wr;
    bool writing;
    bool hello;
    bool closing;     /* uv_close called */
    bool close_after; /* close once the output is written */
    unsigned refs;    /* 1 for the handle + 1 per pending request */
    unsigned inflight;
    struct watch *watches; /* watch.c's list of this connection's watches */
    char rbuf[READ_CHUNK];
};

struct server {
    node *n;
    uv_tcp_t tcp;
    struct conn head; /* circular list of connections */
    bool listening;
    bool stopping;
    unsigned open; /* the listener + connections still open */
    void (*stop_cb)(node *n);
    struct cairn_wire_buf scratch; /* answers to closed connections */
};

/* ------------------------------------------------------------------------
 * Connections: lifetime and output
 * ---------------------------------------------------------------------- */

static void server_maybe_stopped(struct server *srv)
{
    if (srv->stopping && srv->open == 0) {
        node *n = srv->n;
        void (*cb)(node *) = srv->stop_cb;
        cairn_wire_buf_close(&srv->scratch);
        n->server = NULL;
        free(srv);
        cb(n);
    }
}

static void conn_unref(struct conn *c)
{
    if (--c->refs == 0) {
        struct server *srv = c->n->server;
        cairn_wire_reader_close(&c->rd);
        cairn_wire_buf_close(&c->out);
        cairn_wire_buf_close(&c->wbuf);
        free(c);
        srv->open--;
        server_maybe_stopped(srv);
    }
}

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    watch_conn_closed(c->n, c);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    conn_unref(c);
}

static void conn_close(struct conn *c)
{
    if (!c->closing) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

static void conn_flush(struct conn *c);

static void conn_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    c->writing = false;
    cairn_wire_buf_reset(&c->wbuf);
    if (status != 0) {
        conn_close(c);
    } else {
        if (c->watches != NULL) {
            watch_conn_writable(c->n, c);
        }
        conn_flush(c);
    }
    conn_unref(c);
}

/* Hand the pending output to uv_write, unless a write is under way (its
 * callback flushes again). */
static void conn_flush(struct conn *c)
{
    struct cairn_wire_buf tmp;
    uv_buf_t b;
    if (c->closing || c->writing) {
        return;
    }
    if (c->out.len == 0) {
        if (c->close_after) {
            conn_close(c);
        }
        return;
    }
    tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, conn_written) != 0) {
        conn_close(c);
        return;
    }
    c->writing = true;
    c->refs++;
}

/* For watch.c. */
struct cairn_wire_buf *server_conn_out(struct conn *c)
{
    return &c->out;
}

size_t server_conn_backlog(const struct conn *c)
{
    return c->out.len + c->wbuf.len;
}

bool server_conn_usable(const struct conn *c)
{
    return !c->closing && !c->close_after;
}

void server_conn_flush(struct conn *c)
{
    conn_flush(c);
}

struct watch **server_conn_watches(struct conn *c)
{
    return &c->watches;
}

/* ------------------------------------------------------------------------
 * Replies
 * ---------------------------------------------------------------------- */

static struct cairn_wire_buf *conn_out(node *n, struct conn *c)
{
    if (c == NULL || c->closing) {
        cairn_wire_buf_reset(&n->server->scratch);
        return &n->server->scratch;
    }
    return &c->out;
}

/* Encode an error for request @id into @out; fall back to a bare error if
 * the message cannot be encoded. */
static void put_error(struct cairn_wire_buf *out, uint64_t id, int code,
                      const char *msg, const struct cairn_wire_error_extra *x)
{
    if (cairn_wire_reply_error(out, id, code, msg, x, NULL) != 0) {
        cairn_wire_reply_error(out, id, CAIRN_ENOMEM, NULL, NULL, NULL);
    }
}

/* Redirect @id to the client address of node @leader, or 503. */
static void put_redirect(node *n, struct cairn_wire_buf *out, uint64_t id,
                         uint64_t leader, const char *what)
{
    char msg[CAIRN_ERRMSG_SIZE];
    const char *addr = leader != 0 ? meta_client_address(n, leader) : NULL;
    if (addr == NULL) {
        snprintf(msg, sizeof msg, "%s has no leader at the moment; retry",
                 what);
        put_error(out, id, CAIRN_EUNAVAILABLE, msg, NULL);
        return;
    }
    struct cairn_wire_error_extra x = {.leader = addr};
    snprintf(msg, sizeof msg, "this node does not lead %s; node %llu at %s "
             "does", what, (unsigned long long)leader, addr);
    put_error(out, id, CAIRN_ENOTLEADER, msg, &x);
}

static struct conn_req *req_new(struct conn *c, const void *body, size_t len)
{
    struct conn_req *r = calloc(1, sizeof *r);
    char err[CAIRN_ERRMSG_SIZE];
    if (r == NULL || (r->body = malloc(len ? len : 1)) == NULL) {
        free(r);
        return NULL;
    }
    memcpy(r->body, body, len);
    r->len = len;
    /* The frame decoded once already: decoding its copy succeeds too. */
    if (cairn_wire_request_decode(r->body, len, &r->req, err) != 0) {
        cairn_wire_request_release(&r->req);
        free(r->body);
        free(r);
        return NULL;
    }
    r->conn = c;
    c->refs++;
    c->inflight++;
    return r;
}

static void req_free(struct conn_req *r)
{
    struct conn *c = r->conn;
    cairn_wire_request_release(&r->req);
    free(r->body);
    free(r);
    c->inflight--;
    conn_flush(c);
    conn_unref(c);
}

struct cairn_wire_buf *server_reply_buf(struct conn_req *r)
{
    return conn_out(r->conn->n, r->conn);
}

void server_reply_send(struct conn_req *r)
{
    req_free(r);
}

void server_reply_error(struct conn_req *r, int code, const char *msg,
                        const struct cairn_wire_error_extra *x)
{
    put_error(server_reply_buf(r), r->req.id, code, msg, x);
    req_free(r);
}

void server_reply_redirect(struct conn_req *r, uint64_t leader,
                           const char *what)
{
    put_redirect(r->conn->n, server_reply_buf(r), r->req.id, leader, what);
    req_free(r);
}

/* ------------------------------------------------------------------------
 * Reads from local state
 * ---------------------------------------------------------------------- */

/* A PUT carries its value (an empty one too) unless @keys_only; markers
 * carry none. */
static void to_wire_entry(const struct storage_entry *e, bool keys_only,
                          struct cairn_wire_entry *w)
{
    memset(w, 0, sizeof *w);
    w->key = e->key;
    w->key_len = e->key_len;
    w->has_value = !keys_only && e->op == CAIRN_OP_PUT;
    w->value = e->value != NULL ? e->value : (const void *)"";
    w->value_len = e->value_len;
    w->has_meta = e->meta_len > 0;
    w->meta = e->meta;
    w->meta_len = e->meta_len;
    w->revision = e->revision;
    w->create_revision = e->create_revision;
    w->updated = e->updated;
    w->expires = e->expires_at;
    w->op = e->op;
}

struct entries_ctx {
    struct cairn_wire_entries_writer ew;
    size_t bytes;
    bool cut; /* the byte budget ended the page early */
    bool keys_only;
    uint8_t last[CAIRN_KEY_MAX];
    size_t last_len;
};

#define SCAN_CUT 1000 /* a callback return no storage code uses */

static int add_entry(void *arg, const struct storage_entry *e)
{
    struct entries_ctx *x = arg;
    struct cairn_wire_entry w;
    size_t size = e->key_len + e->value_len + e->meta_len + ENTRY_OVERHEAD;
    if (x->ew.n > 0 && x->bytes + size > SCAN_BYTES_MAX) {
        x->cut = true;
        return SCAN_CUT;
    }
    x->bytes += size;
    to_wire_entry(e, x->keys_only, &w);
    cairn_wire_entries_add(&x->ew, &w);
    memcpy(x->last, e->key, e->key_len);
    x->last_len = e->key_len;
    return 0;
}

/* A scan in revision order ("from"): only live values, at most @limit. */
struct by_rev_ctx {
    struct entries_ctx *x;
    uint32_t limit; /* 0: no limit */
};

static int add_live(void *arg, const struct storage_entry *e)
{
    struct by_rev_ctx *r = arg;
    if (e->op != CAIRN_OP_PUT) {
        return 0; /* a DEL or PURGE marker: the key is not live */
    }
    if (r->limit != 0 && r->x->ew.n >= r->limit) {
        r->x->cut = true;
        return SCAN_CUT;
    }
    return add_entry(r->x, e);
}

/*
 * Scan @q with "from": the live keys whose latest revision is at least
 * q->from, in revision order, at most q->limit of them (and a page's byte
 * budget). *more says whether any are left: the next page starts after the
 * last entry's revision.
 */
static int scan_by_revision(storage_txn *t, const struct cairn_wire_request *q,
                            uint64_t now, struct entries_ctx *x, bool *more,
                            char *err)
{
    struct by_rev_ctx r = {x, q->limit};
    struct storage_changes a = {0};
    struct storage_changes_page page;
    int rc;

    a.after = q->from - 1;
    if (q->has & CAIRN_WIRE_REQ_PREFIX) {
        a.prefix = q->prefix;
        a.prefix_len = q->prefix_len;
    }
    a.latest_only = true;
    a.now = now;
    a.limit = 4096; /* revisions examined per call */
    do {
        memset(&page, 0, sizeof page);
        rc = storage_changes(t, q->bucket, &a, add_live, &r, &page, err);
        a.after = page.last;
    } while (rc == 0 && page.more);
    *more = rc == SCAN_CUT && x->cut;
    return *more ? 0 : rc;
}

static void scan_args(const struct cairn_wire_request *q, uint64_t now,
                      struct storage_scan *a)
{
    memset(a, 0, sizeof *a);
    if (q->has & CAIRN_WIRE_REQ_START) {
        a->start = q->start;
        a->start_len = q->start_len;
    }
    if (q->has & CAIRN_WIRE_REQ_END) {
        a->end = q->end;
        a->end_len = q->end_len;
    }
    if (q->has & CAIRN_WIRE_REQ_PREFIX) {
        a->prefix = q->prefix;
        a->prefix_len = q->prefix_len;
    }
    if (q->has & CAIRN_WIRE_REQ_CURSOR) {
        a->cursor = q->cursor;
        a->cursor_len = q->cursor_len;
    }
    a->limit = q->limit;
    a->keys_only = q->keys_only;
    a->now = now;
}

/* Serve read @q from replica @b's storage into @out. */
static void serve_read(const struct bucket_rt *b, struct cairn_wire_buf *out,
                       const struct cairn_wire_request *q)
{
    char err[CAIRN_ERRMSG_SIZE];
    struct storage_bucket_info info;
    struct storage_entry e;
    struct cairn_wire_entry w;
    struct storage_scan args;
    struct storage_page page;
    struct entries_ctx *x = NULL;
    struct cairn_wire_buf tmp;
    uint64_t now = node_now(), count, at = 0;
    const uint64_t *atp = NULL;
    storage_txn *t;
    int rc;

    if ((rc = storage_read_begin(b->s, &t, err)) != 0) {
        put_error(out, q->id, rc, err, NULL);
        return;
    }
    if (q->stale) {
        /* The revision this replica has reached, for the client to judge
         * how stale it is. */
        if (storage_bucket_info(b->s, q->bucket, &info, NULL) == 0) {
            at = info.last_revision;
            atp = &at;
        }
    }
    switch (q->op) {
    case CAIRN_WIRE_GET:
        rc = storage_get(t, q->bucket, q->w.key, q->w.key_len,
                         (q->has & CAIRN_WIRE_REQ_REV) ? q->rev : 0, now, &e,
                         err);
        if (rc == 0) {
            to_wire_entry(&e, false, &w);
            rc = cairn_wire_reply_get(out, q->id, &w, atp, err);
        }
        break;
    case CAIRN_WIRE_EXISTS:
        rc = storage_get(t, q->bucket, q->w.key, q->w.key_len, 0, now, &e,
                         err);
        if (rc == 0 || rc == CAIRN_ENOTFOUND) {
            rc = cairn_wire_reply_exists(out, q->id, rc == 0,
                                         rc == 0 ? e.revision : 0, atp, err);
        }
        break;
    case CAIRN_WIRE_COUNT:
        scan_args(q, now, &args);
        rc = storage_count(t, q->bucket, &args, &count, err);
        if (rc == 0) {
            rc = cairn_wire_reply_count(out, q->id, count, atp, err);
        }
        break;
    case CAIRN_WIRE_HISTORY:
    case CAIRN_WIRE_SCAN:
        /* Entries are encoded as they are read, into a buffer of their
         * own so that a read error leaves no partial frame behind. */
        x = calloc(1, sizeof *x);
        if (x == NULL) {
            rc = CAIRN_ENOMEM;
            snprintf(err, sizeof err, "out of memory");
            break;
        }
        x->keys_only = q->op == CAIRN_WIRE_SCAN && q->keys_only;
        cairn_wire_buf_init(&tmp);
        cairn_wire_entries_begin(&x->ew, &tmp, q->id);
        if (q->op == CAIRN_WIRE_HISTORY) {
            rc = storage_history(t, q->bucket, q->w.key, q->w.key_len, now,
                                 add_entry, x, err);
            if (rc == 0) {
                rc = cairn_wire_entries_end(&x->ew, CAIRN_WIRE_HISTORY, false,
                                            NULL, 0, atp, err);
            }
        } else if (q->has & CAIRN_WIRE_REQ_FROM) {
            bool more = false;
            rc = scan_by_revision(t, q, now, x, &more, err);
            if (rc == 0) {
                rc = cairn_wire_entries_end(&x->ew, CAIRN_WIRE_SCAN, more,
                                            NULL, 0, atp, err);
            }
        } else {
            scan_args(q, now, &args);
            rc = storage_scan(t, q->bucket, &args, add_entry, x, &page, err);
            if (rc == SCAN_CUT && x->cut) {
                /* Resume after the last key sent. The store set the
                 * cursor's first byte, its cursor version, for the entry
                 * the budget refused; only the key changes. */
                page.more = true;
                memcpy(page.cursor + 1, x->last, x->last_len);
                page.cursor_len = 1 + x->last_len;
                rc = 0;
            }
            if (rc == 0) {
                rc = cairn_wire_entries_end(
                    &x->ew, CAIRN_WIRE_SCAN, page.more,
                    page.more ? page.cursor : NULL, page.cursor_len, atp,
                    err);
            }
        }
        if (rc == 0 && cairn_wire_frame_write(out, tmp.data + 4, tmp.len - 4,
                                              err) != 0) {
            rc = CAIRN_ENOMEM;
        }
        cairn_wire_buf_close(&tmp);
        free(x);
        break;
    default:
        rc = CAIRN_EINTERNAL;
        snprintf(err, sizeof err, "op %u is not a read", q->op);
    }
    storage_txn_end(t);
    if (rc != 0) {
        put_error(out, q->id, rc, err, NULL);
    }
}

static void read_ready(void *data, int status)
{
    struct conn_req *r = data;
    node *n = r->conn->n;
    const struct bucket_rt *b = meta_bucket(n, r->req.bucket);
    if (status != 0 || b == NULL) {
        uint64_t leader = b != NULL ? consensus_group_leader(b->g, NULL) : 0;
        char what[CAIRN_BUCKET_NAME_MAX + 16];
        snprintf(what, sizeof what, "bucket '%s'", r->req.bucket);
        server_reply_redirect(r, leader == n->cfg.id ? 0 : leader, what);
        return;
    }
    serve_read(b, server_reply_buf(r), &r->req);
    req_free(r);
}

/* ------------------------------------------------------------------------
 * Writes
 * ---------------------------------------------------------------------- */

struct write_ctx {
    struct conn *conn;
    uint64_t id;
    uint32_t op;
    uint64_t cid; /* 0: the write carried no client id */
    uint64_t seq;
    char bucket[CAIRN_BUCKET_NAME_MAX + 1]; /* for the log */
};

static void write_done(void *data, int status, const struct storage_result *res)
{
    struct write_ctx *w = data;
    struct conn *c = w->conn;
    node *n = c->n;
    struct cairn_wire_buf *out = conn_out(n, c);
    if (status == 0 && res->duplicate) {
        /* A retry of a write the bucket already applied (or refused): the
         * reply below is the first outcome, exactly as it was sent (or
         * lost) the first time, so the client cannot tell the two apart. */
        LOG_DEBUG("client", w->bucket,
                  "retried write answered with its first outcome cid=%llu "
                  "seq=%llu code=%s rev=%llu",
                  (unsigned long long)w->cid, (unsigned long long)w->seq,
                  cairn_errname(res->code),
                  (unsigned long long)res->revision);
    }
    if (status != 0) {
        put_error(out, w->id, status,
                  status == CAIRN_ENOTLEADER
                      ? "the bucket's leader changed before the write was "
                        "logged; it was not applied: retry"
                      : "the bucket's leader changed after the write was "
                        "logged: it may or may not have been applied",
                  NULL);
    } else if (res->code == CAIRN_ECONFLICT) {
        struct cairn_wire_error_extra x = {
            .rev = res->current_revision,
            .has_failed = w->op == CAIRN_WIRE_TXN,
            .failed = res->failed_compare,
        };
        put_error(out, w->id, CAIRN_ECONFLICT, res->errmsg, &x);
    } else if (res->code != 0) {
        put_error(out, w->id, res->code, res->errmsg, NULL);
    } else if (w->op == CAIRN_WIRE_TXN) {
        cairn_wire_reply_txn(out, w->id, res->revision, res->last_revision,
                             NULL);
    } else {
        cairn_wire_reply_write(out, w->id, res->revision, NULL);
    }
    free(w);
    c->inflight--;
    conn_flush(c);
    conn_unref(c);
}

/* The storage command for write request @q. A client id and sequence
 * number make the write at-most-once: the bucket answers a retry with the
 * first outcome (storage.h, STORAGE_DEDUP_WINDOW). A cid of 0 means none. */
static void write_cmd(const struct cairn_wire_request *q,
                      struct storage_cmd *cmd)
{
    /* Every request a connection has in flight must stay inside the
     * window, or a retry of the oldest could be refused as too old. */
    _Static_assert(INFLIGHT_MAX < STORAGE_DEDUP_WINDOW,
                   "the dedup window must exceed the in-flight limit");
    memset(cmd, 0, sizeof *cmd);
    cmd->time = node_now();
    cmd->w = q->w;
    if (q->has & CAIRN_WIRE_REQ_CID_SEQ) {
        cmd->cid = q->cid;
        cmd->seq = q->seq;
    }
    switch (q->op) {
    case CAIRN_WIRE_PUT:
        cmd->type = STORAGE_CMD_PUT;
        break;
    case CAIRN_WIRE_CREATE:
        cmd->type = STORAGE_CMD_CREATE;
        break;
    case CAIRN_WIRE_UPDATE:
        cmd->type = STORAGE_CMD_UPDATE;
        cmd->revision = q->rev;
        break;
    case CAIRN_WIRE_CAS:
        cmd->type = STORAGE_CMD_CAS;
        cmd->has_old = q->has_old;
        cmd->old = q->old;
        cmd->old_len = q->old_len;
        break;
    case CAIRN_WIRE_DELETE:
        cmd->type = STORAGE_CMD_DELETE;
        cmd->revision = (q->has & CAIRN_WIRE_REQ_REV) ? q->rev : 0;
        break;
    case CAIRN_WIRE_PURGE:
        cmd->type = STORAGE_CMD_PURGE;
        cmd->revision = (q->has & CAIRN_WIRE_REQ_REV) ? q->rev : 0;
        break;
    default: /* CAIRN_WIRE_TXN */
        cmd->type = STORAGE_CMD_TXN;
        cmd->n_compares = q->n_compares;
        cmd->compares = q->compares;
        cmd->n_writes = q->n_writes;
        cmd->writes = q->writes;
        break;
    }
}

static void handle_write(struct conn *c, struct bucket_rt *b,
                         const struct cairn_wire_request *q)
{
    char err[CAIRN_ERRMSG_SIZE];
    struct storage_cmd cmd;
    struct write_ctx *w;
    void *buf;
    size_t len;
    int rc;

    if (q->op == CAIRN_WIRE_TXN && q->n_writes == 0) {
        put_error(&c->out, q->id, CAIRN_EINVAL,
                  "txn: ops is empty: a txn needs at least one write", NULL);
        return;
    }
    write_cmd(q, &cmd);
    if ((rc = storage_cmd_encode(&cmd, &buf, &len, err)) != 0) {
        put_error(&c->out, q->id, rc, err, NULL);
        return;
    }
    w = malloc(sizeof *w);
    if (w == NULL) {
        free(buf);
        put_error(&c->out, q->id, CAIRN_ENOMEM, NULL, NULL);
        return;
    }
    w->conn = c;
    w->id = q->id;
    w->op = q->op;
    w->cid = cmd.cid;
    w->seq = cmd.seq;
    snprintf(w->bucket, sizeof w->bucket, "%s", q->bucket);
    rc = consensus_group_propose(b->g, buf, len, write_done, w, err);
    free(buf);
    if (rc != 0) {
        free(w);
        if (rc == CAIRN_ENOTLEADER) {
            char what[CAIRN_BUCKET_NAME_MAX + 16];
            snprintf(what, sizeof what, "bucket '%s'", q->bucket);
            put_redirect(c->n, &c->out, q->id,
                         consensus_group_leader(b->g, NULL), what);
        } else {
            put_error(&c->out, q->id, rc, err, NULL);
        }
        return;
    }
    c->refs++;
    c->inflight++;
}

/* ------------------------------------------------------------------------
 * Catalog reads
 * ---------------------------------------------------------------------- */

/* The replicas of @cb for cluster.status and bucket.info. The leader is
 * this replica's own Raft view when the node runs one (authoritative),
 * else the catalog's leader hint (reported by the leader, possibly a
 * moment stale after an election). */
static void fill_replicas(node *n, const struct catalog_bucket *cb,
                          struct cairn_wire_replica *out)
{
    const struct bucket_rt *b = meta_bucket(n, cb->config.name);
    uint64_t leader = b != NULL ? consensus_group_leader(b->g, NULL)
                                : cb->hint_node;
    for (uint32_t i = 0; i < cb->n_replicas; i++) {
        out[i].node = cb->replicas[i];
        out[i].leader = leader != 0 && leader == cb->replicas[i];
        out[i].applied = b != NULL && cb->replicas[i] == n->cfg.id
                             ? consensus_group_applied(b->g)
                             : 0;
    }
}

static void handle_cluster_status(struct conn *c, uint64_t id)
{
    node *n = c->n;
    const struct catalog *cat = &n->cat;
    struct cairn_wire_node *nodes = calloc(cat->n_nodes + 1, sizeof *nodes);
    struct cairn_wire_str *tags =
        calloc((size_t)cat->n_nodes * CAIRN_TAGS_MAX + 1, sizeof *tags);
    struct cairn_wire_bucket_status *bs =
        calloc(cat->n_buckets + 1, sizeof *bs);
    struct cairn_wire_replica *reps =
        calloc((size_t)cat->n_buckets * CAIRN_REPLICAS_MAX + 1, sizeof *reps);
    struct consensus_member_info m[64];
    unsigned n_members = consensus_group_members(n->meta, m, 64);
    char err[CAIRN_ERRMSG_SIZE];
    int rc = CAIRN_ENOMEM;

    if (nodes != NULL && tags != NULL && bs != NULL && reps != NULL) {
        for (uint32_t i = 0; i < cat->n_nodes; i++) {
            const struct catalog_node *nd = &cat->nodes[i];
            struct cairn_wire_node *w = &nodes[i];
            w->id = nd->id;
            w->name = (struct cairn_wire_str){nd->name, strlen(nd->name)};
            w->client = (struct cairn_wire_str){nd->client, strlen(nd->client)};
            w->peer = (struct cairn_wire_str){nd->peer, strlen(nd->peer)};
            w->http = (struct cairn_wire_str){nd->http, strlen(nd->http)};
            w->cluster =
                (struct cairn_wire_str){nd->cluster, strlen(nd->cluster)};
            w->tags = &tags[i * CAIRN_TAGS_MAX];
            w->n_tags = nd->n_tags;
            for (uint32_t t = 0; t < nd->n_tags; t++) {
                tags[i * CAIRN_TAGS_MAX + t] =
                    (struct cairn_wire_str){nd->tags[t], strlen(nd->tags[t])};
            }
            for (unsigned k = 0; k < n_members && k < 64; k++) {
                if (m[k].id == nd->id) {
                    const char *role = consensus_role_name(m[k].role);
                    w->role = (struct cairn_wire_str){role, strlen(role)};
                }
            }
        }
        for (uint32_t i = 0; i < cat->n_buckets; i++) {
            const struct catalog_bucket *cb = &cat->buckets[i];
            bs[i].name = (struct cairn_wire_str){cb->config.name,
                                                 strlen(cb->config.name)};
            bs[i].n_replicas = cb->n_replicas;
            bs[i].replicas = &reps[i * CAIRN_REPLICAS_MAX];
            fill_replicas(n, cb, &reps[i * CAIRN_REPLICAS_MAX]);
        }
        rc = cairn_wire_reply_cluster_status(&c->out, id, nodes, cat->n_nodes,
                                             bs, cat->n_buckets, err);
    } else {
        snprintf(err, sizeof err, "out of memory");
    }
    if (rc != 0) {
        put_error(&c->out, id, rc, err, NULL);
    }
    free(nodes);
    free(tags);
    free(bs);
    free(reps);
}

static bool redirect_to_meta_leader(struct conn *c, uint64_t id);

/* The meta leader's catalog has every bucket whose creation or deletion
 * was acknowledged; another node's may lag behind it, so a list read from
 * it could miss a bucket just created: non-leaders redirect. */
static void handle_bucket_list(struct conn *c, uint64_t id)
{
    const struct catalog *cat = &c->n->cat;
    const char **names;
    char err[CAIRN_ERRMSG_SIZE];
    int rc = CAIRN_ENOMEM;
    if (redirect_to_meta_leader(c, id)) {
        return;
    }
    names = calloc(cat->n_buckets + 1, sizeof *names);
    snprintf(err, sizeof err, "out of memory");
    if (names != NULL) {
        for (uint32_t i = 0; i < cat->n_buckets; i++) {
            names[i] = cat->buckets[i].config.name;
        }
        rc = cairn_wire_reply_bucket_list(&c->out, id, names, cat->n_buckets,
                                          err);
    }
    free(names);
    if (rc != 0) {
        put_error(&c->out, id, rc, err, NULL);
    }
}

/* On @b's leader: each replica's progress (lag, active) into @reps. */
static void fill_progress(struct bucket_rt *b, const struct catalog_bucket *cb,
                          struct cairn_wire_replica *reps)
{
    struct consensus_member_info m[CAIRN_REPLICAS_MAX * 2];
    unsigned n = consensus_group_members(b->g, m, CAIRN_REPLICAS_MAX * 2);
    uint64_t last = consensus_group_last_index(b->g);
    for (uint32_t i = 0; i < cb->n_replicas; i++) {
        for (unsigned j = 0; j < n && j < CAIRN_REPLICAS_MAX * 2; j++) {
            if (m[j].id == cb->replicas[i] && m[j].has_match) {
                reps[i].has_lag = true;
                reps[i].lag = last > m[j].match ? last - m[j].match : 0;
                reps[i].active = m[j].recent;
            }
        }
    }
}

/* bucket.info: the bucket's leader answers, with every replica's lag; a
 * stale one is answered by any replica from its own state. */
static void handle_bucket_info(struct conn *c, const struct catalog_bucket *cb,
                               struct bucket_rt *b,
                               const struct cairn_wire_request *q)
{
    node *n = c->n;
    struct storage_bucket_info si;
    struct cairn_wire_bucket_info info;
    struct cairn_wire_replica reps[CAIRN_REPLICAS_MAX];
    char err[CAIRN_ERRMSG_SIZE];
    bool leader = consensus_group_is_leader(b->g);
    int rc;

    if (!leader && !q->stale) {
        snprintf(err, sizeof err, "bucket '%s'", q->bucket);
        put_redirect(n, &c->out, q->id, consensus_group_leader(b->g, NULL),
                     err);
        return;
    }
    rc = storage_bucket_info(b->s, cb->config.name, &si, err);
    if (rc == 0) {
        memset(&info, 0, sizeof info);
        memset(reps, 0, sizeof reps);
        info.config = si.config;
        info.created = si.created;
        info.keys = si.keys;
        info.bytes = si.bytes;
        info.stored_bytes = si.stored_bytes;
        info.rev = si.last_revision;
        info.compacted = si.compacted_revision;
        info.n_replicas = cb->n_replicas;
        info.replicas = reps;
        fill_replicas(n, cb, reps);
        if (leader) {
            fill_progress(b, cb, reps);
        }
        rc = cairn_wire_reply_bucket_info(&c->out, q->id, &info, err);
    }
    if (rc != 0) {
        put_error(&c->out, q->id, rc, err, NULL);
    }
}

/* ------------------------------------------------------------------------
 * Dispatch
 * ---------------------------------------------------------------------- */

/* A request for a bucket this node holds no running replica of: send it
 * to the bucket's leader as the catalog's leader hint names it, or, with
 * no usable hint, to a node that holds a replica (which redirects again
 * with its own view when it does not lead). */
static void redirect_to_replica(struct conn *c, const struct catalog_bucket *cb,
                                uint64_t id)
{
    node *n = c->n;
    char what[CAIRN_BUCKET_NAME_MAX + 16];
    uint64_t target = 0;
    snprintf(what, sizeof what, "bucket '%s'", cb->config.name);
    if (cb->hint_node != 0 && cb->hint_node != n->cfg.id &&
        meta_client_address(n, cb->hint_node) != NULL) {
        target = cb->hint_node;
    }
    for (uint32_t i = 0; i < cb->n_replicas && target == 0; i++) {
        if (cb->replicas[i] != n->cfg.id &&
            meta_client_address(n, cb->replicas[i]) != NULL) {
            target = cb->replicas[i];
        }
    }
    put_redirect(n, &c->out, id, target, what);
}

/* The meta leader's answer for requests that need it. Returns true when
 * @q was answered (redirected) here. */
static bool redirect_to_meta_leader(struct conn *c, uint64_t id)
{
    node *n = c->n;
    uint64_t leader;
    if (consensus_group_is_leader(n->meta)) {
        return false;
    }
    leader = consensus_group_leader(n->meta, NULL);
    put_redirect(n, &c->out, id, leader, "the cluster catalog");
    return true;
}

static void handle_meta_op(struct conn *c, const struct cairn_wire_request *q,
                           const void *body, size_t len)
{
    node *n = c->n;
    struct conn_req *r;
    if (redirect_to_meta_leader(c, q->id)) {
        return;
    }
    r = req_new(c, body, len);
    if (r == NULL) {
        put_error(&c->out, q->id, CAIRN_ENOMEM, NULL, NULL);
        return;
    }
    switch (q->op) {
    case CAIRN_WIRE_BUCKET_CREATE:
        meta_bucket_create(n, r);
        break;
    case CAIRN_WIRE_BUCKET_DELETE:
        meta_bucket_delete(n, r);
        break;
    case CAIRN_WIRE_NODE_JOIN:
        meta_node_join(n, r);
        break;
    case CAIRN_WIRE_BUCKET_LEADER:
        meta_bucket_leader(n, r);
        break;
    default:
        meta_node_remove(n, r);
        break;
    }
}

static void handle_key_op(struct conn *c, const struct cairn_wire_request *q,
                          const void *body, size_t len)
{
    node *n = c->n;
    const struct catalog_bucket *cb = catalog_find_bucket(&n->cat, q->bucket);
    struct bucket_rt *b;
    char err[CAIRN_ERRMSG_SIZE], what[CAIRN_BUCKET_NAME_MAX + 16];
    struct conn_req *r;
    int rc;

    if (cb == NULL) {
        /* The meta leader's catalog has every bucket whose creation was
         * acknowledged; another node's may lag behind it. */
        if (!redirect_to_meta_leader(c, q->id)) {
            snprintf(err, sizeof err, "bucket '%s' not found", q->bucket);
            put_error(&c->out, q->id, CAIRN_ENOBUCKET, err, NULL);
        }
        return;
    }
    b = meta_bucket(n, q->bucket);
    if (b == NULL) {
        redirect_to_replica(c, cb, q->id);
        return;
    }
    if (q->op == CAIRN_WIRE_BUCKET_INFO) {
        handle_bucket_info(c, cb, b, q);
        return;
    }
    if (q->op == CAIRN_WIRE_WATCH) {
        watch_open(n, c, b, q); /* any replica serves a watch */
        return;
    }
    if (cairn_wire_op_is_read(q->op) && q->stale) {
        serve_read(b, &c->out, q);
        return;
    }
    snprintf(what, sizeof what, "bucket '%s'", q->bucket);
    if (!consensus_group_is_leader(b->g)) {
        put_redirect(n, &c->out, q->id, consensus_group_leader(b->g, NULL),
                     what);
        return;
    }
    if (cairn_wire_op_is_write(q->op)) {
        handle_write(c, b, q);
        return;
    }
    r = req_new(c, body, len);
    if (r == NULL) {
        put_error(&c->out, q->id, CAIRN_ENOMEM, NULL, NULL);
        return;
    }
    rc = consensus_group_read_barrier(b->g, read_ready, r, err);
    if (rc == CAIRN_ENOTLEADER) {
        server_reply_redirect(r, consensus_group_leader(b->g, NULL), what);
    } else if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
    }
}

static void handle_hello(struct conn *c, const struct cairn_wire_request *q)
{
    node *n = c->n;
    char err[CAIRN_ERRMSG_SIZE];
    if (q->version != CAIRN_WIRE_VERSION) {
        snprintf(err, sizeof err,
                 "protocol version %llu is not spoken here (this node speaks "
                 "version %d)",
                 (unsigned long long)q->version, CAIRN_WIRE_VERSION);
        put_error(&c->out, q->id, CAIRN_EVERSION, err, NULL);
        c->close_after = true;
        return;
    }
    c->hello = true;
    cairn_wire_reply_hello(&c->out, q->id, n->cfg.id, n->cfg.name,
                           n->cfg.cluster, NULL);
}

static void handle_frame(struct conn *c, const void *body, size_t len)
{
    struct cairn_wire_request q;
    char err[CAIRN_ERRMSG_SIZE];
    int rc = cairn_wire_request_decode(body, len, &q, err);

    if (rc != 0) {
        if (q.id == 0) {
            put_error(&c->out, 0, CAIRN_EPROTO, err, NULL);
            c->close_after = true;
        } else {
            put_error(&c->out, q.id, rc, err, NULL);
            if (!c->hello) {
                c->close_after = true;
            }
        }
        goto out;
    }
    if (!c->hello) {
        if (q.op == CAIRN_WIRE_HELLO) {
            handle_hello(c, &q);
        } else {
            snprintf(err, sizeof err,
                     "the first request on a connection must be hello, not "
                     "%s",
                     cairn_wire_op_name(q.op));
            put_error(&c->out, q.id, CAIRN_EPROTO, err, NULL);
            c->close_after = true;
        }
        goto out;
    }
    if (c->inflight >= INFLIGHT_MAX) {
        snprintf(err, sizeof err,
                 "%u requests are in flight on this connection (the limit)",
                 c->inflight);
        put_error(&c->out, q.id, CAIRN_EBUSY, err, NULL);
        goto out;
    }
    switch (q.op) {
    case CAIRN_WIRE_HELLO:
        put_error(&c->out, q.id, CAIRN_EPROTO,
                  "hello was already done on this connection", NULL);
        break;
    case CAIRN_WIRE_CLUSTER_STATUS:
        handle_cluster_status(c, q.id);
        break;
    case CAIRN_WIRE_BUCKET_LIST:
        handle_bucket_list(c, q.id);
        break;
    case CAIRN_WIRE_WATCH_CANCEL:
        watch_cancel(c->n, c, &q);
        break;
    case CAIRN_WIRE_BUCKET_CREATE:
    case CAIRN_WIRE_BUCKET_DELETE:
    case CAIRN_WIRE_NODE_JOIN:
    case CAIRN_WIRE_NODE_REMOVE:
    case CAIRN_WIRE_BUCKET_LEADER:
        handle_meta_op(c, &q, body, len);
        break;
    default:
        handle_key_op(c, &q, body, len);
        break;
    }
out:
    cairn_wire_request_release(&q);
}

/* ------------------------------------------------------------------------
 * Reading and accepting
 * ---------------------------------------------------------------------- */

static void conn_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)size;
    buf->base = c->rbuf;
    buf->len = sizeof c->rbuf;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    const void *body;
    size_t len;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->close_after) {
        return;
    }
    if (cairn_wire_reader_feed(&c->rd, buf->base, (size_t)nread) != 0) {
        put_error(&c->out, 0, CAIRN_EPROTO, c->rd.errmsg, NULL);
        c->close_after = true;
    }
    while (!c->close_after) {
        if (cairn_wire_reader_next(&c->rd, &body, &len) != 0) {
            put_error(&c->out, 0, c->rd.error, c->rd.errmsg, NULL);
            c->close_after = true;
            break;
        }
        if (body == NULL) {
            break;
        }
        handle_frame(c, body, len);
    }
    if (c->close_after) {
        uv_read_stop(s);
    }
    conn_flush(c);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct server *srv = l->data;
    struct conn *c;
    if (status != 0 || srv->stopping) {
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->n = srv->n;
    c->refs = 1;
    cairn_wire_reader_init(&c->rd);
    cairn_wire_buf_init(&c->out);
    cairn_wire_buf_init(&c->wbuf);
    uv_tcp_init(srv->n->loop, &c->tcp);
    c->tcp.data = c;
    c->next = srv->head.next;
    c->prev = &srv->head;
    srv->head.next->prev = c;
    srv->head.next = c;
    srv->open++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0) {
        conn_close(c);
    }
}

int server_start(node *n, char *errmsg)
{
    struct server *srv = calloc(1, sizeof *srv);
    struct sockaddr_in sa;
    int rc;
    if (srv == NULL) {
        return node_fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    srv->n = n;
    srv->head.next = srv->head.prev = &srv->head;
    cairn_wire_buf_init(&srv->scratch);
    if ((rc = watch_start(n, errmsg)) != 0) {
        free(srv);
        return rc;
    }
    n->server = srv;
    uv_tcp_init(n->loop, &srv->tcp);
    srv->tcp.data = srv;
    srv->open = 2; /* the listener and the watch hub */
    rc = uv_ip4_addr(n->cfg.client_listen.host, n->cfg.client_listen.port,
                     &sa);
    if (rc == 0) {
        rc = uv_tcp_bind(&srv->tcp, (const struct sockaddr *)&sa, 0);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&srv->tcp, 511, on_connection);
    }
    if (rc != 0) {
        return node_fail(errmsg, CAIRN_EIO, "client listen %s: %s",
                         n->cfg.client_listen.text, uv_strerror(rc));
    }
    srv->listening = true;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct server *srv = h->data;
    srv->open--;
    server_maybe_stopped(srv);
}

static void watch_stopped(node *n)
{
    struct server *srv = n->server;
    srv->open--;
    server_maybe_stopped(srv);
}

void server_stop(node *n, void (*cb)(node *n))
{
    struct server *srv = n->server;
    if (srv == NULL) {
        cb(n);
        return;
    }
    srv->stopping = true;
    srv->stop_cb = cb;
    watch_stop(n, watch_stopped);
    for (struct conn *c = srv->head.next; c != &srv->head; c = c->next) {
        conn_close(c);
    }
    uv_close((uv_handle_t *)&srv->tcp, listener_closed);
}
