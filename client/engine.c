/*
 * libcairn's engine: connections to the nodes, request routing, redirects
 * and retries, on one libuv loop (see internal.h).
 *
 * A connection resolves its address, connects, sends hello, and once the
 * node answers it is ready: requests queued on it are written, many in
 * flight, matched back by id. Responses mostly come back in order, so the
 * in-flight list is searched from its head.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 500
#define REDIRECTS_MAX 8
#define READ_BUF_SIZE (64 * 1024)

enum conn_state {
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HELLO,
    CONN_READY,
    CONN_CLOSING,
};

struct creq_list {
    struct creq *head;
    struct creq *tail;
};

struct cconn {
    struct engine *e;
    struct cconn *next;
    char address[CAIRN_ADDRESS_MAX + 1];
    int state; /* enum conn_state */
    uv_getaddrinfo_t gai;
    bool gai_busy;
    uv_tcp_t tcp;
    bool tcp_init;
    uv_connect_t connect;
    uv_timer_t timer; /* connect timeout, then the idle check */
    unsigned open_handles;
    uint64_t hello_id;
    uint64_t last_read; /* uv_now() of the last bytes received */
    struct cairn_wire_reader reader;
    struct cairn_wire_buf out;     /* frames waiting for the next write */
    struct cairn_wire_buf writing; /* frames being written */
    bool write_busy;
    uv_write_t wreq;
    char *rbuf;
    struct creq_list pending;  /* waiting for the connection to be ready */
    struct creq_list inflight; /* sent, waiting for the answer */
};

struct hint {
    char key[CAIRN_BUCKET_NAME_MAX + 1]; /* bucket; "" for the meta group */
    char address[CAIRN_ADDRESS_MAX + 1];
};

struct engine {
    uv_loop_t *loop;
    struct engine_options o;
    char **addrs; /* known node addresses: seeds first, then learned */
    unsigned n_addrs;
    unsigned cap_addrs;
    unsigned rr;
    struct cconn *conns;
    struct hint *hints;
    unsigned n_hints;
    unsigned cap_hints;
    uint64_t next_id;
    uint64_t seq;
    struct creq_list waiting; /* in backoff */
    bool closing;
    bool learn_started;
};

static void route(struct creq *r);
static void conn_fail(struct cconn *c, int code, const char *msg);
static void conn_flush(struct cconn *c);
static void learn_start(struct engine *e);

/* ------------------------------------------------------------------------
 * Lists
 * ---------------------------------------------------------------------- */

static void list_push(struct creq_list *l, struct creq *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail != NULL) {
        l->tail->next = r;
    } else {
        l->head = r;
    }
    l->tail = r;
}

static void list_remove(struct creq_list *l, struct creq *r)
{
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        l->head = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    } else {
        l->tail = r->prev;
    }
    r->next = r->prev = NULL;
}

/* Take every request off @l. */
static struct creq *list_take(struct creq_list *l)
{
    struct creq *h = l->head;
    l->head = l->tail = NULL;
    return h;
}

/* ------------------------------------------------------------------------
 * Known addresses and leader hints
 * ---------------------------------------------------------------------- */

static int add_address(struct engine *e, const char *addr)
{
    char **grown;
    for (unsigned i = 0; i < e->n_addrs; i++) {
        if (strcmp(e->addrs[i], addr) == 0) {
            return 0;
        }
    }
    if (e->n_addrs == e->cap_addrs) {
        unsigned cap = e->cap_addrs == 0 ? 8 : e->cap_addrs * 2;
        grown = realloc(e->addrs, cap * sizeof *grown);
        if (grown == NULL) {
            return CAIRN_ENOMEM;
        }
        e->addrs = grown;
        e->cap_addrs = cap;
    }
    if ((e->addrs[e->n_addrs] = strdup(addr)) == NULL) {
        return CAIRN_ENOMEM;
    }
    e->n_addrs++;
    return 0;
}

unsigned engine_addresses(struct engine *e, const char ***out)
{
    *out = (const char **)e->addrs;
    return e->n_addrs;
}

static struct hint *hint_find(struct engine *e, const char *key)
{
    for (unsigned i = 0; i < e->n_hints; i++) {
        if (strcmp(e->hints[i].key, key) == 0) {
            return &e->hints[i];
        }
    }
    return NULL;
}

static void hint_set(struct engine *e, const char *key, const char *address)
{
    struct hint *h = hint_find(e, key);
    if (h == NULL) {
        if (e->n_hints == e->cap_hints) {
            unsigned cap = e->cap_hints == 0 ? 16 : e->cap_hints * 2;
            struct hint *grown = realloc(e->hints, cap * sizeof *grown);
            if (grown == NULL) {
                return; /* a hint is an optimisation: routing still works */
            }
            e->hints = grown;
            e->cap_hints = cap;
        }
        h = &e->hints[e->n_hints++];
        snprintf(h->key, sizeof h->key, "%s", key);
    }
    snprintf(h->address, sizeof h->address, "%s", address);
    (void)add_address(e, address);
}

static void hint_clear(struct engine *e, const char *key)
{
    struct hint *h = hint_find(e, key);
    if (h != NULL) {
        *h = e->hints[--e->n_hints];
    }
}

/* Forget every hint naming @address: its node failed. */
static void hints_drop_address(struct engine *e, const char *address)
{
    for (unsigned i = 0; i < e->n_hints;) {
        if (strcmp(e->hints[i].address, address) == 0) {
            e->hints[i] = e->hints[--e->n_hints];
        } else {
            i++;
        }
    }
}

static const char *route_key(const struct creq *r)
{
    return r->route == ROUTE_BUCKET ? r->q.bucket : "";
}

/* ------------------------------------------------------------------------
 * Completing requests
 * ---------------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    struct creq *r = h->data;
    r->done(r);
}

static void complete(struct creq *r, int code)
{
    r->code = code;
    r->conn = NULL;
    r->completing = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, timer_closed);
}

static void complete_error(struct creq *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void complete_error(struct creq *r, int code, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(r->errmsg, sizeof r->errmsg, "%s: ", r->what);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof r->errmsg) {
        vsnprintf(r->errmsg + n, sizeof r->errmsg - (size_t)n, fmt, ap);
    }
    va_end(ap);
    complete(r, code);
}

void creq_release(struct creq *r)
{
    if (r->has_res) {
        cairn_wire_response_release(&r->res);
        r->has_res = false;
    }
    free(r->body);
    r->body = NULL;
}

/* The deadline passed: fail @r with what went wrong last. */
static void fail_deadline(struct creq *r)
{
    int code = r->last_code == CAIRN_ETIMEDOUT ? CAIRN_ETIMEDOUT
                                               : CAIRN_EUNAVAILABLE;
    complete_error(r, code,
                   "cluster unavailable: no answer after %u attempt%s "
                   "(last: %s)",
                   r->attempts + 1, r->attempts == 0 ? "" : "s",
                   r->last_error[0] != '\0' ? r->last_error : "none");
}

static void backoff_fired(uv_timer_t *t)
{
    struct creq *r = t->data;
    list_remove(&r->e->waiting, r);
    r->waiting = false;
    route(r);
}

/* Retry @r after a backoff, or fail it if its deadline would pass. */
static void retry_later(struct creq *r, int code, const char *msg)
{
    struct engine *e = r->e;
    uint64_t now = uv_now(e->loop);
    uint64_t delay;

    r->last_code = code;
    snprintf(r->last_error, sizeof r->last_error, "%s", msg);
    r->conn = NULL;
    r->sent = false;
    uv_timer_stop(&r->timer);
    if (r->stream && r->established) {
        /* A stream that worked until now: its deadline counts from the
         * moment it broke. */
        r->established = false;
        r->attempts = 0;
        r->deadline = now + e->o.deadline_ms;
    }
    if (r->route == ROUTE_NODE) {
        complete_error(r, code == CAIRN_ETIMEDOUT ? code : CAIRN_EUNAVAILABLE,
                       "%s", msg);
        return;
    }
    delay = (uint64_t)BACKOFF_MIN_MS << (r->attempts < 5 ? r->attempts : 5);
    if (delay > BACKOFF_MAX_MS) {
        delay = BACKOFF_MAX_MS;
    }
    delay += (uint64_t)rand() % (delay / 2 + 1); /* spread retries out */
    if (now + delay >= r->deadline) {
        fail_deadline(r);
        return;
    }
    r->attempts++;
    list_push(&e->waiting, r);
    r->waiting = true;
    uv_timer_start(&r->timer, backoff_fired, delay, 0);
}

/* ------------------------------------------------------------------------
 * Connections
 * ---------------------------------------------------------------------- */

static void conn_maybe_free(struct cconn *c)
{
    if (c->open_handles == 0 && !c->gai_busy) {
        cairn_wire_reader_close(&c->reader);
        cairn_wire_buf_close(&c->out);
        cairn_wire_buf_close(&c->writing);
        free(c->rbuf);
        free(c);
    }
}

static void conn_handle_closed(uv_handle_t *h)
{
    struct cconn *c = h->data;
    c->open_handles--;
    conn_maybe_free(c);
}

static void conn_unlink(struct cconn *c)
{
    struct cconn **p = &c->e->conns;
    while (*p != NULL && *p != c) {
        p = &(*p)->next;
    }
    if (*p == c) {
        *p = c->next;
    }
}

/* Close @c and retry every request on it elsewhere. */
static void conn_fail(struct cconn *c, int code, const char *msg)
{
    struct engine *e = c->e;
    char why[CAIRN_ERRMSG_SIZE];
    struct creq *r, *next;

    if (c->state == CONN_CLOSING) {
        return;
    }
    c->state = CONN_CLOSING;
    conn_unlink(c);
    hints_drop_address(e, c->address);
    snprintf(why, sizeof why, "%s: %s", c->address, msg);
    r = list_take(&c->pending);
    for (; r != NULL; r = next) {
        next = r->next;
        r->next = r->prev = NULL;
        retry_later(r, code, why);
    }
    r = list_take(&c->inflight);
    for (; r != NULL; r = next) {
        next = r->next;
        r->next = r->prev = NULL;
        retry_later(r, code, why);
    }
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    if (c->tcp_init) {
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    }
}

static void conn_written(uv_write_t *w, int status)
{
    struct cconn *c = w->data;
    c->write_busy = false;
    cairn_wire_buf_reset(&c->writing);
    if (status != 0) {
        if (status != UV_ECANCELED) {
            conn_fail(c, CAIRN_ECLOSED, uv_strerror(status));
        }
        return;
    }
    conn_flush(c);
}

static void conn_flush(struct cconn *c)
{
    struct cairn_wire_buf t;
    uv_buf_t b;
    int rv;
    if (c->write_busy || c->out.len == 0 || c->state == CONN_CLOSING) {
        return;
    }
    t = c->writing;
    c->writing = c->out;
    c->out = t;
    b = uv_buf_init((char *)c->writing.data, (unsigned)c->writing.len);
    c->wreq.data = c;
    rv = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_written);
    if (rv != 0) {
        cairn_wire_buf_reset(&c->writing);
        conn_fail(c, CAIRN_ECLOSED, uv_strerror(rv));
        return;
    }
    c->write_busy = true;
}

static void attempt_timeout(uv_timer_t *t)
{
    struct creq *r = t->data;
    struct cconn *c = r->conn;
    struct engine *e = r->e;
    char msg[CAIRN_ERRMSG_SIZE];
    snprintf(msg, sizeof msg, "%s: no answer within %u ms",
             c != NULL ? c->address : "?", e->o.request_timeout_ms);
    if (c != NULL) {
        list_remove(r->sent ? &c->inflight : &c->pending, r);
        /* A node that answers nothing at all is stopped or cut off: drop
         * the connection so every request on it moves on. */
        if (uv_now(e->loop) - c->last_read >= e->o.request_timeout_ms) {
            retry_later(r, CAIRN_ETIMEDOUT, msg);
            conn_fail(c, CAIRN_ETIMEDOUT, "no answer");
            return;
        }
    }
    retry_later(r, CAIRN_ETIMEDOUT, msg);
}

/* Encode @r with a fresh id and queue it on ready connection @c. */
static void conn_send(struct cconn *c, struct creq *r)
{
    char err[CAIRN_ERRMSG_SIZE];
    int rc;
    r->q.id = ++c->e->next_id;
    rc = cairn_wire_request_encode(&c->out, &r->q, err);
    if (rc != 0) {
        complete_error(r, rc, "%s", err);
        return;
    }
    r->sent = true;
    list_push(&c->inflight, r);
}

static struct creq *inflight_find(struct cconn *c, uint64_t id)
{
    for (struct creq *r = c->inflight.head; r != NULL; r = r->next) {
        if (r->q.id == id) {
            return r;
        }
    }
    return NULL;
}

static bool retryable(int err)
{
    switch (err) {
    case CAIRN_ENOTLEADER:
    case CAIRN_EUNAVAILABLE:
    case CAIRN_ECLOSED:
    case CAIRN_EBUSY:
    case CAIRN_ECANCELED: /* the node stopped the group under the request */
        return true;
    default:
        return false;
    }
}

static void hello_answered(struct cconn *c, struct cairn_wire_response *res)
{
    struct creq *r, *next;
    if (res->status != 200) {
        /* The node refused us (another protocol version): final for every
         * request waiting here, whatever node they would try next. */
        char msg[CAIRN_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "%s refused the connection: %.*s",
                 c->address, (int)res->error.len, res->error.ptr);
        r = list_take(&c->pending);
        for (; r != NULL; r = next) {
            next = r->next;
            r->next = r->prev = NULL;
            complete_error(r, res->err != 0 ? res->err : CAIRN_EVERSION, "%s",
                           msg);
        }
        conn_fail(c, CAIRN_EVERSION, msg);
        return;
    }
    c->state = CONN_READY;
    r = list_take(&c->pending);
    for (; r != NULL; r = next) {
        next = r->next;
        r->next = r->prev = NULL;
        conn_send(c, r);
    }
    conn_flush(c);
    if (!c->e->learn_started) {
        /* Learn the cluster map once, from the first node that answers. */
        learn_start(c->e);
    }
}

static void handle_redirect(struct creq *r, const struct cairn_wire_response *res)
{
    struct engine *e = r->e;
    char addr[CAIRN_ADDRESS_MAX + 1];
    char msg[CAIRN_ERRMSG_SIZE];
    snprintf(msg, sizeof msg, "%.*s", (int)res->error.len, res->error.ptr);
    if (r->route == ROUTE_NODE) {
        complete_error(r, CAIRN_ENOTLEADER, "%s", msg);
        return;
    }
    if ((res->has & CAIRN_WIRE_RES_LEADER) == 0 || res->leader.len == 0 ||
        res->leader.len > CAIRN_ADDRESS_MAX) {
        hint_clear(e, route_key(r));
        retry_later(r, CAIRN_EUNAVAILABLE, msg);
        return;
    }
    memcpy(addr, res->leader.ptr, res->leader.len);
    addr[res->leader.len] = '\0';
    hint_set(e, route_key(r), addr);
    if (++r->redirects > REDIRECTS_MAX) {
        /* Nodes disagree about the leader (an election in progress): wait
         * a little before following them again. */
        r->redirects = 0;
        retry_later(r, CAIRN_EUNAVAILABLE, msg);
        return;
    }
    uv_timer_stop(&r->timer);
    r->conn = NULL;
    r->sent = false;
    route(r);
}

/* One response frame from @c. Returns false when @c was failed. */
static bool conn_frame(struct cconn *c, const void *body, size_t len)
{
    struct cairn_wire_response res;
    char err[CAIRN_ERRMSG_SIZE];
    void *copy = malloc(len > 0 ? len : 1);
    struct creq *r;
    int rc;

    if (copy == NULL) {
        conn_fail(c, CAIRN_ENOMEM, "out of memory reading a response");
        return false;
    }
    memcpy(copy, body, len);
    rc = cairn_wire_response_decode(copy, len, &res, err);
    if (rc != 0) {
        cairn_wire_response_release(&res);
        free(copy);
        conn_fail(c, rc, err);
        return false;
    }
    if (c->state == CONN_HELLO && res.id == c->hello_id) {
        hello_answered(c, &res);
        cairn_wire_response_release(&res);
        free(copy);
        return c->state != CONN_CLOSING;
    }
    if (res.id == 0) {
        snprintf(err, sizeof err, "the node closed the connection: %.*s",
                 (int)res.error.len, res.error.ptr);
        cairn_wire_response_release(&res);
        free(copy);
        conn_fail(c, CAIRN_EPROTO, err);
        return false;
    }
    r = inflight_find(c, res.id);
    if (r == NULL) {
        /* The answer to an attempt that timed out (the request moved on),
         * to a watch.cancel, or a frame of a cancelled watch. */
        cairn_wire_response_release(&res);
        free(copy);
        return true;
    }
    if (r->stream && res.status == 200) {
        /* One frame of a stream: it stays in flight. */
        rc = cairn_wire_response_check(&res, r->q.op, err);
        if (rc == 0) {
            uv_timer_stop(&r->timer);
            r->established = true;
            r->frame(r, &res);
        }
        cairn_wire_response_release(&res);
        free(copy);
        if (rc != 0) {
            list_remove(&c->inflight, r);
            r->sent = false;
            complete_error(r, rc, "%s answered badly: %s", c->address, err);
        }
        return true;
    }
    list_remove(&c->inflight, r);
    r->sent = false;
    if (res.status == 200) {
        rc = cairn_wire_response_check(&res, r->q.op, err);
        if (rc != 0) {
            cairn_wire_response_release(&res);
            free(copy);
            complete_error(r, rc, "%s answered badly: %s", c->address, err);
            return true;
        }
        r->res = res;
        r->has_res = true;
        r->body = copy;
        complete(r, 0);
        return true;
    }
    if (res.err == CAIRN_ENOTLEADER) {
        handle_redirect(r, &res);
    } else if (retryable(res.err)) {
        snprintf(err, sizeof err, "%s: %.*s", c->address, (int)res.error.len,
                 res.error.ptr);
        retry_later(r, res.err, err);
    } else {
        /* A final answer; keep it (a conflict's revision, a txn's failed
         * compare) for the caller. */
        snprintf(r->errmsg, sizeof r->errmsg, "%s: %.*s", r->what,
                 (int)res.error.len, res.error.ptr);
        r->res = res;
        r->has_res = true;
        r->body = copy;
        complete(r, res.err != 0 ? res.err : CAIRN_EINTERNAL);
        return true;
    }
    cairn_wire_response_release(&res);
    free(copy);
    return true;
}

static void conn_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct cconn *c = h->data;
    (void)size;
    if (c->rbuf == NULL) {
        c->rbuf = malloc(READ_BUF_SIZE);
    }
    *buf = uv_buf_init(c->rbuf, c->rbuf != NULL ? READ_BUF_SIZE : 0);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct cconn *c = s->data;
    (void)buf;
    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        conn_fail(c, CAIRN_ECLOSED,
                  nread == UV_EOF ? "the node closed the connection"
                                  : uv_strerror((int)nread));
        return;
    }
    c->last_read = uv_now(c->e->loop);
    cairn_wire_reader_feed(&c->reader, c->rbuf, (size_t)nread);
    for (;;) {
        const void *body;
        size_t len;
        if (cairn_wire_reader_next(&c->reader, &body, &len) != 0) {
            conn_fail(c, CAIRN_EPROTO, c->reader.errmsg);
            return;
        }
        if (body == NULL) {
            break;
        }
        if (!conn_frame(c, body, len)) {
            return;
        }
    }
    conn_flush(c);
}

static void conn_idle_check(uv_timer_t *t)
{
    struct cconn *c = t->data;
    if (c->state != CONN_READY) {
        char msg[64];
        snprintf(msg, sizeof msg, "no connection within %u ms",
                 c->e->o.connect_timeout_ms);
        conn_fail(c, CAIRN_ETIMEDOUT, msg);
    }
}

static void conn_connected(uv_connect_t *req, int status)
{
    struct cconn *c = req->data;
    char err[CAIRN_ERRMSG_SIZE];
    int rv;
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (status != 0) {
        conn_fail(c, CAIRN_ECLOSED, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    rv = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
    if (rv != 0) {
        conn_fail(c, CAIRN_ECLOSED, uv_strerror(rv));
        return;
    }
    c->state = CONN_HELLO;
    c->last_read = uv_now(c->e->loop);
    c->hello_id = ++c->e->next_id;
    if (cairn_wire_encode_hello(&c->out, c->hello_id, CAIRN_WIRE_VERSION,
                                c->e->o.name, err) != 0) {
        conn_fail(c, CAIRN_EINTERNAL, err);
        return;
    }
    conn_flush(c);
}

static void conn_resolved(uv_getaddrinfo_t *req, int status,
                          struct addrinfo *ai)
{
    struct cconn *c = req->data;
    int rv;
    c->gai_busy = false;
    if (c->state == CONN_CLOSING) {
        uv_freeaddrinfo(ai);
        conn_maybe_free(c);
        return;
    }
    if (status != 0 || ai == NULL) {
        conn_fail(c, CAIRN_EUNAVAILABLE, uv_strerror(status));
        uv_freeaddrinfo(ai);
        return;
    }
    uv_tcp_init(c->e->loop, &c->tcp);
    c->tcp.data = c;
    c->tcp_init = true;
    c->open_handles++;
    c->state = CONN_CONNECTING;
    c->connect.data = c;
    rv = uv_tcp_connect(&c->connect, &c->tcp, ai->ai_addr, conn_connected);
    uv_freeaddrinfo(ai);
    if (rv != 0) {
        conn_fail(c, CAIRN_ECLOSED, uv_strerror(rv));
    }
}

int engine_split_address(const char *addr, char *host, size_t size,
                         unsigned *port, char *errmsg)
{
    const char *colon = strrchr(addr, ':');
    const char *h = addr;
    size_t hlen;
    char *end;
    unsigned long p;

    if (colon == NULL || colon == addr || colon[1] == '\0') {
        goto bad;
    }
    hlen = (size_t)(colon - addr);
    if (h[0] == '[') { /* [v6]:port */
        if (hlen < 3 || colon[-1] != ']') {
            goto bad;
        }
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= size) {
        goto bad;
    }
    p = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || p == 0 || p > 65535) {
        goto bad;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)p;
    return 0;
bad:
    if (errmsg != NULL) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE,
                 "bad server address '%s': expected host:port", addr);
    }
    return CAIRN_EINVAL;
}

static struct cconn *conn_get(struct engine *e, const char *address)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    char host[CAIRN_ADDRESS_MAX + 1];
    char port[8];
    unsigned p;
    struct cconn *c;
    int rv;

    for (c = e->conns; c != NULL; c = c->next) {
        if (strcmp(c->address, address) == 0) {
            return c;
        }
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->e = e;
    snprintf(c->address, sizeof c->address, "%s", address);
    cairn_wire_reader_init(&c->reader);
    cairn_wire_buf_init(&c->out);
    cairn_wire_buf_init(&c->writing);
    uv_timer_init(e->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    c->next = e->conns;
    e->conns = c;
    c->state = CONN_RESOLVING;
    uv_timer_start(&c->timer, conn_idle_check, e->o.connect_timeout_ms, 0);
    if (engine_split_address(address, host, sizeof host, &p, NULL) != 0) {
        conn_fail(c, CAIRN_EINVAL, "bad address");
        return c;
    }
    snprintf(port, sizeof port, "%u", p);
    c->gai.data = c;
    rv = uv_getaddrinfo(e->loop, &c->gai, conn_resolved, host, port, &hints);
    if (rv != 0) {
        conn_fail(c, CAIRN_EUNAVAILABLE, uv_strerror(rv));
        return c;
    }
    c->gai_busy = true;
    return c;
}

/* ------------------------------------------------------------------------
 * Routing
 * ---------------------------------------------------------------------- */

static const char *pick_address(struct engine *e, struct creq *r)
{
    const struct hint *h;
    if (r->route == ROUTE_NODE) {
        return r->address;
    }
    if (r->route != ROUTE_ANY && (h = hint_find(e, route_key(r))) != NULL) {
        return h->address;
    }
    if (r->attempts == 0) {
        /* First try: a connection that is already up. */
        for (struct cconn *c = e->conns; c != NULL; c = c->next) {
            if (c->state == CONN_READY) {
                return c->address;
            }
        }
    }
    return e->addrs[e->rr++ % e->n_addrs];
}

static void route(struct creq *r)
{
    struct engine *e = r->e;
    uint64_t now = uv_now(e->loop);
    uint64_t left;
    struct cconn *c;

    if (e->closing) {
        complete_error(r, CAIRN_ECANCELED, "the client is closing");
        return;
    }
    if (now >= r->deadline) {
        fail_deadline(r);
        return;
    }
    c = conn_get(e, pick_address(e, r));
    if (c == NULL) {
        complete_error(r, CAIRN_ENOMEM, "out of memory");
        return;
    }
    if (c->state == CONN_CLOSING) { /* failed at once (bad address) */
        retry_later(r, CAIRN_EUNAVAILABLE, "bad address");
        return;
    }
    r->conn = c;
    left = r->deadline - now;
    uv_timer_start(&r->timer, attempt_timeout,
                   left < e->o.request_timeout_ms ? left
                                                  : e->o.request_timeout_ms,
                   0);
    if (c->state == CONN_READY) {
        conn_send(c, r);
        conn_flush(c);
    } else {
        list_push(&c->pending, r);
    }
}

void engine_abort(struct creq *r, int code, const char *msg)
{
    struct cconn *c = r->conn;
    if (r->e == NULL || r->completing) {
        return;
    }
    if (c != NULL) {
        if (r->sent) {
            list_remove(&c->inflight, r);
            if (r->stream && c->state == CONN_READY &&
                cairn_wire_encode_watch_cancel(&c->out, ++r->e->next_id,
                                               r->q.id, NULL) == 0) {
                conn_flush(c);
            }
        } else {
            list_remove(&c->pending, r);
        }
        r->sent = false;
    } else if (r->waiting) {
        list_remove(&r->e->waiting, r);
        r->waiting = false;
    }
    complete_error(r, code, "%s", msg);
}

void engine_submit(struct engine *e, struct creq *r)
{
    r->e = e;
    r->code = 0;
    r->completing = false;
    r->waiting = false;
    r->established = false;
    r->errmsg[0] = '\0';
    r->has_res = false;
    r->body = NULL;
    r->attempts = r->redirects = 0;
    r->last_error[0] = '\0';
    r->last_code = 0;
    r->conn = NULL;
    r->sent = false;
    uv_timer_init(e->loop, &r->timer);
    r->timer.data = r;
    r->timer_init = true;
    r->deadline = uv_now(e->loop) + e->o.deadline_ms;
    if (cairn_wire_op_is_write(r->q.op) &&
        (r->q.has & CAIRN_WIRE_REQ_CID_SEQ) == 0) {
        r->q.has |= CAIRN_WIRE_REQ_CID_SEQ;
        r->q.cid = e->o.cid;
        r->q.seq = ++e->seq;
    }
    route(r);
}

/* ------------------------------------------------------------------------
 * The cluster map
 * ---------------------------------------------------------------------- */

static const char *node_address(const struct cairn_wire_response *res,
                                uint64_t id, char *buf, size_t size)
{
    for (uint32_t i = 0; i < res->n_nodes; i++) {
        const struct cairn_wire_node *n = &res->nodes[i];
        if (n->id == id && n->client.len > 0 && n->client.len < size) {
            memcpy(buf, n->client.ptr, n->client.len);
            buf[n->client.len] = '\0';
            return buf;
        }
    }
    return NULL;
}

void engine_learn(struct engine *e, const struct cairn_wire_response *res)
{
    char addr[CAIRN_ADDRESS_MAX + 1];
    char name[CAIRN_BUCKET_NAME_MAX + 1];
    for (uint32_t i = 0; i < res->n_nodes; i++) {
        const struct cairn_wire_str *s = &res->nodes[i].client;
        if (s->len > 0 && s->len < sizeof addr) {
            memcpy(addr, s->ptr, s->len);
            addr[s->len] = '\0';
            (void)add_address(e, addr);
        }
    }
    for (uint32_t i = 0; i < res->n_buckets; i++) {
        const struct cairn_wire_bucket_status *b = &res->buckets[i];
        if (b->name.len == 0 || b->name.len >= sizeof name) {
            continue;
        }
        memcpy(name, b->name.ptr, b->name.len);
        name[b->name.len] = '\0';
        for (uint32_t j = 0; j < b->n_replicas; j++) {
            if (b->replicas[j].leader &&
                node_address(res, b->replicas[j].node, addr, sizeof addr) !=
                    NULL) {
                hint_set(e, name, addr);
            }
        }
    }
}

static void learned(struct creq *r)
{
    if (r->code == 0) {
        engine_learn(r->e, &r->res);
    }
    creq_release(r);
    free(r);
}

static void learn_start(struct engine *e)
{
    struct creq *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return;
    }
    e->learn_started = true;
    r->q.op = CAIRN_WIRE_CLUSTER_STATUS;
    r->route = ROUTE_ANY;
    snprintf(r->what, sizeof r->what, "cluster status");
    r->done = learned;
    engine_submit(e, r);
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ---------------------------------------------------------------------- */

int engine_new(uv_loop_t *loop, const struct engine_options *o,
               struct engine **out, char *errmsg)
{
    struct engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        goto oom;
    }
    e->loop = loop;
    e->o = *o;
    e->o.seeds = NULL;
    e->o.n_seeds = 0;
    if (e->o.connect_timeout_ms == 0) {
        e->o.connect_timeout_ms = 2000;
    }
    if (e->o.request_timeout_ms == 0) {
        e->o.request_timeout_ms = 5000;
    }
    if (e->o.deadline_ms == 0) {
        e->o.deadline_ms = 15000;
    }
    if (e->o.name == NULL) {
        e->o.name = "libcairn";
    }
    for (unsigned i = 0; i < o->n_seeds; i++) {
        if (add_address(e, o->seeds[i]) != 0) {
            engine_free(e);
            goto oom;
        }
    }
    *out = e;
    return 0;
oom:
    if (errmsg != NULL) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "out of memory");
    }
    return CAIRN_ENOMEM;
}

void engine_close(struct engine *e)
{
    struct creq *r, *next;
    e->closing = true;
    r = list_take(&e->waiting);
    for (; r != NULL; r = next) {
        next = r->next;
        r->next = r->prev = NULL;
        complete_error(r, CAIRN_ECANCELED, "the client was closed");
    }
    while (e->conns != NULL) {
        struct cconn *c = e->conns;
        struct creq *lists[2];
        conn_unlink(c);
        lists[0] = list_take(&c->pending);
        lists[1] = list_take(&c->inflight);
        for (int i = 0; i < 2; i++) {
            for (r = lists[i]; r != NULL; r = next) {
                next = r->next;
                r->next = r->prev = NULL;
                complete_error(r, CAIRN_ECANCELED, "the client was closed");
            }
        }
        c->state = CONN_CLOSING;
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
        if (c->tcp_init) {
            uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
        }
    }
}

uint32_t engine_deadline_ms(const struct engine *e)
{
    return e->o.deadline_ms;
}

void engine_free(struct engine *e)
{
    if (e == NULL) {
        return;
    }
    for (unsigned i = 0; i < e->n_addrs; i++) {
        free(e->addrs[i]);
    }
    free(e->addrs);
    free(e->hints);
    free(e);
}

void creq_entry_view(cairn_entry *e, const struct cairn_wire_entry *w)
{
    memset(e, 0, sizeof *e);
    e->key = w->key;
    e->key_len = w->key_len;
    if (w->has_value) {
        e->value = w->value_len > 0 ? w->value : (const void *)"";
        e->value_len = w->value_len;
    }
    if (w->has_meta) {
        e->meta = w->meta;
        e->meta_len = w->meta_len;
    }
    e->revision = w->revision;
    e->create_revision = w->create_revision;
    e->updated = w->updated;
    e->expires = w->expires;
    e->op = w->op;
}
