/*
 * Watches (docs/protocol.md, "Watches"): a request whose frames keep
 * coming with its id until it is cancelled or ended.
 *
 * Any replica of a bucket serves a watch from its own storage. A watch is a
 * cursor over the bucket's revisions: every revision up to w->cursor has
 * been examined and the matching ones sent, in revision order, so nothing
 * is sent twice and nothing is skipped. Each pass reads the next page of
 * changes with storage_changes() in a short read transaction and appends
 * one frame per event to the connection's output:
 *
 *   initial  revisions up to the bucket's last revision when the watch
 *            began (w->target): every kept change from "from", or with
 *            "latest" only each key's latest revision (the current values);
 *            then one "synced" frame;
 *   live     every revision after that, as the bucket's group applies it.
 *
 * Passes run from the hub's timer, never inside raft's apply: the apply
 * hook only records which group changed. A watch is passed again when its
 * group applied an entry, when its connection has written what was queued
 * (so a large initial load goes out page by page, at the pace the client
 * reads), and soon after a pass that stopped early with little queued.
 *
 * Memory: a pass appends at most WATCH_PAGE_BYTES of events, and only while
 * its connection holds less than WATCH_LOW unsent bytes; the one exception
 * is a live watch whose group applied new revisions, which gets its page
 * anyway, so that a client that stops reading is noticed. When such a watch
 * finds WATCH_BACKLOG_MAX unsent bytes on its connection, it is cut off:
 * it ends with 429 and a reason, after the frames already queued, and its
 * client resumes from the next revision, here or elsewhere, once it has
 * read them. So a client that stops reading costs the node a bounded
 * buffer, however much is written meanwhile, and learns why it was cut
 * off.
 *
 * Every WATCH_TICK_MS a sweep ends the watches whose replica stopped (503:
 * the client resumes on another replica; 404 when the bucket was deleted)
 * and tells idle watchers how far they are (a progress frame), so that a
 * watch of a quiet key resumes from a recent revision, not one the bucket
 * may have compacted since.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WATCH_PAGE_BYTES (256u << 10)  /* events appended per pass */
#define WATCH_PAGE_REVS 4096           /* revisions examined per pass */
#define WATCH_LOW (1u << 20)           /* unsent bytes: no page past it */
#define WATCH_BACKLOG_MAX (8u << 20)   /* unsent bytes: cut off past it */
#define WATCH_TICK_MS 1000             /* replica checks and progress */
#define WATCH_PER_CONN_MAX 1024        /* watches on one connection */
#define WATCH_APPLIED_MAX 32           /* groups remembered between passes */
#define EVENT_OVERHEAD 96              /* msgpack bytes around an event */
#define PAGE_FULL 1001                 /* emit(): a code no storage uses */

struct watch {
    struct watch *next, *prev;   /* the hub's list */
    struct watch *cnext, *cprev; /* the connection's list */
    struct conn *conn;
    uint64_t id; /* the watch request's id */
    char bucket[CAIRN_BUCKET_NAME_MAX + 1];
    uint64_t group; /* the replica it was opened on */
    bool has_key;
    bool has_prefix;
    uint8_t filter[CAIRN_KEY_MAX];
    size_t filter_len;
    bool latest;     /* initial data: each key's latest revision only */
    bool initial;    /* "synced" not sent yet */
    uint64_t target; /* the initial data ends at this revision */
    uint64_t cursor; /* every revision up to it examined and sent */
    uint64_t told;   /* the highest revision the client was told of */
    bool behind;     /* the last pass stopped early */
    bool dirty;      /* to be passed at the next tick */
    bool applied;    /* and its group applied new revisions */
};

struct watch_hub {
    node *n;
    uv_timer_t timer;
    bool stopping;
    struct watch head; /* circular list of every watch */
    unsigned count;
    uint64_t last_sweep; /* uv_now() */
    uint64_t applied[WATCH_APPLIED_MAX]; /* groups applied since a tick */
    unsigned n_applied;
    bool applied_all; /* more groups than that: pass every watch */
    void (*stop_cb)(node *n);
};

static void tick(uv_timer_t *t);

static void kick(struct watch_hub *h)
{
    if (!h->stopping) {
        uv_timer_start(&h->timer, tick, 0, WATCH_TICK_MS);
    }
}

/* ------------------------------------------------------------------------
 * Lists
 * ---------------------------------------------------------------------- */

static void watch_link(struct watch_hub *h, struct watch *w)
{
    struct watch **cl = server_conn_watches(w->conn);
    w->next = h->head.next;
    w->prev = &h->head;
    h->head.next->prev = w;
    h->head.next = w;
    w->cprev = NULL;
    w->cnext = *cl;
    if (*cl != NULL) {
        (*cl)->cprev = w;
    }
    *cl = w;
    h->count++;
}

static void watch_free(struct watch_hub *h, struct watch *w)
{
    struct watch **cl = server_conn_watches(w->conn);
    w->prev->next = w->next;
    w->next->prev = w->prev;
    if (w->cprev != NULL) {
        w->cprev->cnext = w->cnext;
    } else {
        *cl = w->cnext;
    }
    if (w->cnext != NULL) {
        w->cnext->cprev = w->cprev;
    }
    h->count--;
    free(w);
}

static unsigned conn_count(struct conn *c)
{
    unsigned n = 0;
    for (struct watch *w = *server_conn_watches(c); w != NULL; w = w->cnext) {
        n++;
    }
    return n;
}

static struct watch *conn_find(struct conn *c, uint64_t id)
{
    for (struct watch *w = *server_conn_watches(c); w != NULL; w = w->cnext) {
        if (w->id == id) {
            return w;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Ending a watch
 * ---------------------------------------------------------------------- */

/* Send the error frame that ends @w, then free it. */
static void watch_end(struct watch_hub *h, struct watch *w, int code,
                      const char *msg)
{
    struct conn *c = w->conn;
    if (server_conn_usable(c) &&
        cairn_wire_reply_error(server_conn_out(c), w->id, code, msg, NULL,
                               NULL) != 0) {
        cairn_wire_reply_error(server_conn_out(c), w->id, CAIRN_ENOMEM, NULL,
                               NULL, NULL);
    }
    LOG_DEBUG("watch", w->bucket, "watch ended id=%llu code=%s told=%llu: %s",
              (unsigned long long)w->id, cairn_errname(code),
              (unsigned long long)w->told, msg);
    watch_free(h, w);
    server_conn_flush(c);
}

/* @w's replica, if it still runs here; if not, end @w (503 for the client
 * to resume on another replica, 404 when the bucket is gone) and return
 * NULL. */
static const struct bucket_rt *replica_ok(struct watch_hub *h,
                                          struct watch *w)
{
    node *n = h->n;
    const struct bucket_rt *b = meta_bucket(n, w->bucket);
    const struct catalog_bucket *cb;
    char msg[CAIRN_ERRMSG_SIZE];
    if (b != NULL && b->group == w->group) {
        return b;
    }
    cb = catalog_find_bucket(&n->cat, w->bucket);
    if (cb == NULL || cb->group != w->group) {
        snprintf(msg, sizeof msg, "watch %s: the bucket was deleted",
                 w->bucket);
        watch_end(h, w, CAIRN_ENOBUCKET, msg);
    } else {
        snprintf(msg, sizeof msg,
                 "watch %s: the replica on node %llu stopped; resume from "
                 "revision %llu on another replica",
                 w->bucket, (unsigned long long)n->cfg.id,
                 (unsigned long long)(w->told + 1));
        watch_end(h, w, CAIRN_EUNAVAILABLE, msg);
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Passes
 * ---------------------------------------------------------------------- */

struct emit_ctx {
    struct watch *w;
    struct cairn_wire_buf *out;
    size_t bytes;
    int error; /* an event that could not be encoded */
    char errmsg[CAIRN_ERRMSG_SIZE];
};

static int emit(void *arg, const struct storage_entry *e)
{
    struct emit_ctx *x = arg;
    struct cairn_wire_entry we;
    size_t size = e->key_len + e->value_len + e->meta_len + EVENT_OVERHEAD;
    int rc;
    if (x->bytes > 0 && x->bytes + size > WATCH_PAGE_BYTES) {
        return PAGE_FULL;
    }
    memset(&we, 0, sizeof we);
    we.key = e->key;
    we.key_len = e->key_len;
    we.has_value = e->op == CAIRN_OP_PUT;
    we.value = e->value != NULL ? e->value : (const void *)"";
    we.value_len = e->value_len;
    we.has_meta = e->meta_len > 0;
    we.meta = e->meta;
    we.meta_len = e->meta_len;
    we.revision = e->revision;
    we.create_revision = e->create_revision;
    we.updated = e->updated;
    we.expires = e->expires_at;
    we.op = e->op;
    rc = cairn_wire_reply_watch_event(x->out, x->w->id, &we, x->errmsg);
    if (rc != 0) {
        x->error = rc;
        return rc;
    }
    x->bytes += size;
    x->w->told = e->revision;
    return 0;
}

/* Cut @w off: its connection holds too much that the client has not read. */
static void cut_off(struct watch_hub *h, struct watch *w, size_t backlog)
{
    char msg[CAIRN_ERRMSG_SIZE];
    snprintf(msg, sizeof msg,
             "watch %s: watcher too slow: %zu bytes are waiting to be sent "
             "on its connection (the limit is %u); resume from revision %llu",
             w->bucket, backlog, WATCH_BACKLOG_MAX,
             (unsigned long long)(w->told + 1));
    LOG_INFO("watch", w->bucket, "watcher cut off id=%llu backlog=%zu "
             "resume_from=%llu",
             (unsigned long long)w->id, backlog,
             (unsigned long long)(w->told + 1));
    watch_end(h, w, CAIRN_EBUSY, msg);
}

/* Send @w what it has not seen yet, a page at most. @applied: its group
 * applied new revisions since the last pass. May end and free @w. */
static void pass(struct watch_hub *h, struct watch *w, bool applied)
{
    struct conn *c = w->conn;
    const struct bucket_rt *b;
    struct storage_changes args;
    struct storage_changes_page page;
    struct storage_bucket_info info;
    struct emit_ctx x;
    storage_txn *t;
    size_t backlog;
    int rc;

    if (!server_conn_usable(c) || (b = replica_ok(h, w)) == NULL) {
        return;
    }
    backlog = server_conn_backlog(c);
    if (backlog >= WATCH_LOW && (w->initial || !applied)) {
        /* Wait until the connection has written some of it. */
        w->behind = true;
        return;
    }
    if (backlog >= WATCH_BACKLOG_MAX) {
        if (w->behind ||
            (storage_bucket_info(b->s, w->bucket, &info, NULL) == 0 &&
             info.last_revision > w->cursor)) {
            cut_off(h, w, backlog);
        }
        return;
    }
    memset(&args, 0, sizeof args);
    args.after = w->cursor;
    args.upto = w->initial ? w->target : 0;
    if (w->has_key) {
        args.key = w->filter;
        args.key_len = w->filter_len;
    } else if (w->has_prefix) {
        args.prefix = w->filter;
        args.prefix_len = w->filter_len;
    }
    args.latest_only = w->initial && w->latest;
    args.now = node_now();
    args.limit = WATCH_PAGE_REVS;
    memset(&x, 0, sizeof x);
    x.w = w;
    x.out = server_conn_out(c);
    if ((rc = storage_read_begin(b->s, &t, x.errmsg)) != 0) {
        watch_end(h, w, rc, x.errmsg);
        return;
    }
    rc = storage_changes(t, w->bucket, &args, emit, &x, &page, x.errmsg);
    storage_txn_end(t);
    /* What was sent is sent, whatever stopped the walk. */
    if (page.last > w->cursor) {
        w->cursor = page.last;
    }
    if (rc == PAGE_FULL && x.error == 0) {
        rc = 0;
    }
    if (rc != 0) {
        char msg[CAIRN_ERRMSG_SIZE + 80];
        snprintf(msg, sizeof msg, "watch %s: %s", w->bucket, x.errmsg);
        msg[CAIRN_ERRMSG_SIZE - 1] = '\0';
        watch_end(h, w, rc, msg);
        return;
    }
    w->behind = page.more;
    if (w->initial && !page.more && w->cursor >= w->target) {
        w->initial = false;
        w->told = w->cursor;
        cairn_wire_reply_watch_synced(x.out, w->id, w->cursor, NULL);
    }
    if (w->behind && server_conn_backlog(c) < WATCH_PAGE_BYTES) {
        /* Little is queued: go on at the next tick rather than wait for a
         * write to complete. */
        w->dirty = true;
        kick(h);
    }
    server_conn_flush(c);
}

static bool group_applied(const struct watch_hub *h, uint64_t group)
{
    if (h->applied_all) {
        return true;
    }
    for (unsigned i = 0; i < h->n_applied; i++) {
        if (h->applied[i] == group) {
            return true;
        }
    }
    return false;
}

/* Tell @w how far it is when it was told nothing since. */
static void progress(struct watch *w)
{
    struct conn *c = w->conn;
    if (w->initial || w->cursor <= w->told || !server_conn_usable(c) ||
        server_conn_backlog(c) >= WATCH_PAGE_BYTES) {
        return;
    }
    if (cairn_wire_reply_watch_progress(server_conn_out(c), w->id, w->cursor,
                                        NULL) == 0) {
        w->told = w->cursor;
        server_conn_flush(c);
    }
}

static void tick(uv_timer_t *t)
{
    struct watch_hub *h = t->data;
    uint64_t now = uv_now(h->n->loop);
    bool sweep = now - h->last_sweep >= WATCH_TICK_MS;
    struct watch *w, *next;

    for (w = h->head.next; w != &h->head; w = next) {
        next = w->next;
        if (group_applied(h, w->group)) {
            w->dirty = true;
            w->applied = true;
        }
    }
    h->n_applied = 0;
    h->applied_all = false;
    /* A pass may free its watch, and kick() marks others dirty only for
     * the next tick: walk with the next pointer saved. */
    for (w = h->head.next; w != &h->head; w = next) {
        next = w->next;
        if (w->dirty) {
            bool a = w->applied;
            w->dirty = false;
            w->applied = false;
            pass(h, w, a);
        } else if (sweep && replica_ok(h, w)) {
            progress(w);
        }
    }
    if (sweep) {
        h->last_sweep = now;
    }
    if (h->count == 0) {
        uv_timer_stop(&h->timer);
    }
}

/* The apply hook of a bucket group with watchers (consensus_group_on_apply):
 * runs inside raft's apply, so it only notes the group. */
static void applied(void *data)
{
    struct bucket_rt *b = data;
    struct watch_hub *h = b->n->watch;
    if (h == NULL || h->stopping || h->count == 0) {
        return;
    }
    if (!group_applied(h, b->group)) {
        if (h->n_applied < WATCH_APPLIED_MAX) {
            h->applied[h->n_applied++] = b->group;
        } else {
            h->applied_all = true;
        }
    }
    kick(h);
}

/* ------------------------------------------------------------------------
 * Requests
 * ---------------------------------------------------------------------- */

void watch_open(node *n, struct conn *c, struct bucket_rt *b,
                const struct cairn_wire_request *q)
{
    struct watch_hub *h = n->watch;
    struct storage_bucket_info info;
    struct cairn_wire_buf *out = server_conn_out(c);
    char err[CAIRN_ERRMSG_SIZE];
    struct watch *w;
    int rc;

    if (h == NULL || h->stopping) {
        cairn_wire_reply_error(out, q->id, CAIRN_EUNAVAILABLE,
                               "this node is stopping", NULL, NULL);
        return;
    }
    if (conn_find(c, q->id) != NULL) {
        snprintf(err, sizeof err,
                 "request id %llu is already a watch on this connection",
                 (unsigned long long)q->id);
        cairn_wire_reply_error(out, q->id, CAIRN_EINVAL, err, NULL, NULL);
        return;
    }
    if (conn_count(c) >= WATCH_PER_CONN_MAX) {
        snprintf(err, sizeof err,
                 "%d watches are open on this connection (the limit)",
                 WATCH_PER_CONN_MAX);
        cairn_wire_reply_error(out, q->id, CAIRN_EBUSY, err, NULL, NULL);
        return;
    }
    if ((rc = storage_bucket_info(b->s, q->bucket, &info, err)) != 0) {
        cairn_wire_reply_error(out, q->id, rc, err, NULL, NULL);
        return;
    }
    if ((w = calloc(1, sizeof *w)) == NULL) {
        cairn_wire_reply_error(out, q->id, CAIRN_ENOMEM, NULL, NULL, NULL);
        return;
    }
    w->conn = c;
    w->id = q->id;
    snprintf(w->bucket, sizeof w->bucket, "%s", q->bucket);
    w->group = b->group;
    if (q->has & CAIRN_WIRE_REQ_KEY) {
        w->has_key = true;
        w->filter_len = q->w.key_len;
        memcpy(w->filter, q->w.key, q->w.key_len);
    } else if ((q->has & CAIRN_WIRE_REQ_PREFIX) && q->prefix_len > 0) {
        w->has_prefix = true;
        w->filter_len = q->prefix_len;
        memcpy(w->filter, q->prefix, q->prefix_len);
    }
    w->latest = (q->has & CAIRN_WIRE_REQ_LATEST)
                    ? q->latest
                    : (q->has & CAIRN_WIRE_REQ_FROM) == 0;
    w->cursor = (q->has & CAIRN_WIRE_REQ_FROM) ? q->from - 1 : 0;
    w->told = w->cursor;
    w->initial = true;
    w->target = info.last_revision;
    watch_link(h, w);
    /* One hook per group: it may be set already, by an earlier watch. */
    consensus_group_on_apply(b->g, applied, b);
    LOG_DEBUG("watch", w->bucket,
              "watch opened id=%llu from=%llu latest=%s target=%llu",
              (unsigned long long)w->id, (unsigned long long)(w->cursor + 1),
              w->latest ? "yes" : "no", (unsigned long long)w->target);
    /* The first page at once: errors (a compacted "from") answer the
     * request directly. */
    pass(h, w, false);
    kick(h);
}

void watch_cancel(node *n, struct conn *c, const struct cairn_wire_request *q)
{
    struct watch_hub *h = n->watch;
    struct watch *w = h != NULL ? conn_find(c, q->watch) : NULL;
    if (w != NULL) {
        LOG_DEBUG("watch", w->bucket, "watch cancelled id=%llu",
                  (unsigned long long)w->id);
        watch_free(h, w);
    }
    /* Answered either way: the watch may have ended on its own. */
    cairn_wire_reply_watch_cancel(server_conn_out(c), q->id, NULL);
}

void watch_conn_writable(node *n, struct conn *c)
{
    struct watch_hub *h = n->watch;
    bool any = false;
    if (h == NULL) {
        return;
    }
    for (struct watch *w = *server_conn_watches(c); w != NULL; w = w->cnext) {
        if (w->behind || w->initial) {
            w->dirty = true;
            any = true;
        }
    }
    if (any) {
        kick(h);
    }
}

void watch_conn_closed(node *n, struct conn *c)
{
    struct watch **cl = server_conn_watches(c);
    struct watch_hub *h = n->watch;
    while (h != NULL && *cl != NULL) {
        watch_free(h, *cl);
    }
}

/* ------------------------------------------------------------------------
 * Start and stop
 * ---------------------------------------------------------------------- */

int watch_start(node *n, char *errmsg)
{
    struct watch_hub *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return node_fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    h->n = n;
    h->head.next = h->head.prev = &h->head;
    uv_timer_init(n->loop, &h->timer);
    h->timer.data = h;
    n->watch = h;
    return 0;
}

static void hub_closed(uv_handle_t *handle)
{
    struct watch_hub *h = handle->data;
    node *n = h->n;
    void (*cb)(node *) = h->stop_cb;
    free(h);
    cb(n);
}

void watch_stop(node *n, void (*cb)(node *n))
{
    struct watch_hub *h = n->watch;
    if (h == NULL) {
        cb(n);
        return;
    }
    /* The connections close next: their watchers resume elsewhere. */
    while (h->head.next != &h->head) {
        watch_free(h, h->head.next);
    }
    h->stopping = true;
    h->stop_cb = cb;
    n->watch = NULL;
    uv_close((uv_handle_t *)&h->timer, hub_closed);
}
