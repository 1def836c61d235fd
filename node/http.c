/*
 * The HTTP/1.1 server core (http.h): a listener, keep-alive connections,
 * requests parsed by the nodejs http-parser, answers queued in order.
 *
 * A connection handles one request at a time. The parser runs on the bytes
 * as they arrive and pauses as soon as a request is complete; the request
 * goes to the handler, and bytes that arrive meanwhile (pipelined
 * requests) wait in the connection's input buffer. Once the answer is
 * queued and written to the socket, the parser resumes on that buffer.
 * Pausing this way keeps answers in request order without any queue of
 * requests, and a client that pipelines without reading is slowed down by
 * its own unread answers.
 *
 * A connection is freed when both its handles (socket and timer) are
 * closed. A request with the handler at that moment is either freed after
 * its close callback, or detached (r->conn = NULL) and freed when its
 * owner answers it.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>
#include "cairn.h"
#include "http_internal.h"

#define READ_CHUNK (64 * 1024)
/* Pipelined bytes kept while a request is with the handler; beyond this
 * the connection stops reading until the parser catches up. */
#define PENDING_IN_MAX (64 * 1024)
/* How long a connection closed after an error answer keeps reading (and
 * dropping) what the client still sends, so that closing with unread
 * bytes does not reset the connection before the client reads the answer
 * (a client streaming a body the server refused). */
#define LINGER_MS 2000
/* Header bytes counted per header line, besides its name and value. */
#define HEADER_LINE_OVERHEAD 4

struct conn {
    struct conn *next, *prev;
    struct http_server *srv;
    uv_tcp_t tcp;
    uv_timer_t timer; /* the idle timeout, then the lingering deadline */
    uv_write_t wr;
    uv_shutdown_t shut;
    unsigned handles; /* of tcp and timer, not yet closed */
    http_parser parser;
    struct http_req *req; /* being read or with the handler; or NULL */
    bool paused;          /* a request was read whole; the parser waits */
    bool handling;        /* req is with the handler */
    bool reading;
    bool eof;         /* the client closed its end */
    bool writing;     /* wbuf is with uv_write */
    bool close_after; /* close once the output is written */
    bool lingering;   /* output written and shut down; dropping input */
    bool next_soon;   /* the timer runs conn_next() at once */
    bool closing;     /* uv_close called */
    struct buf in;    /* received bytes the paused parser has not taken */
    struct buf out;   /* answers not yet handed to uv_write */
    struct buf wbuf;  /* the bytes uv_write is sending */
    /* The answer the server gives by itself when parsing stops (a parse
     * error, a limit, a check() refusal). */
    int fail_status;
    char fail_code[64];
    char fail_msg[CAIRN_ERRMSG_SIZE];
};

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    struct http_limits lim;
    struct http_callbacks cbs;
    void *data;
    struct conn head; /* circular list of connections */
    unsigned n_conns;
    unsigned open; /* handles not yet closed: listener, conns, rejects */
    bool stopping;
    void (*stop_cb)(void *data);
    void *stop_data;
    /* Every read lands here and is parsed or copied before the read
     * callback returns, so the connections share one buffer. */
    char rbuf[READ_CHUNK];
};

int http_req_on_close(struct http_req *r, void (*cb)(void *data), void *data)
{
    if (r->conn == NULL) {
        return CAIRN_ECLOSED;
    }
    r->close_cb = cb;
    r->close_data = data;
    return 0;
}

void http_req_on_drain(struct http_req *r, void (*cb)(void *data), void *data)
{
    r->drain_cb = cb;
    r->drain_data = data;
}

/* ------------------------------------------------------------------------
 * Connections: lifetime and output
 * ---------------------------------------------------------------------- */

static void server_maybe_stopped(struct http_server *srv)
{
    if (srv->stopping && srv->open == 0) {
        void (*cb)(void *) = srv->stop_cb;
        void *data = srv->stop_data;
        free(srv);
        if (cb != NULL) {
            cb(data);
        }
    }
}

/* Release the request the connection still holds, as it closes. */
static void conn_release_req(struct conn *c)
{
    struct http_req *r = c->req;
    void (*cb)(void *);
    void *data;
    c->req = NULL;
    if (r == NULL) {
        return;
    }
    if (!c->handling) {
        http__req_free(r); /* half read: nobody else knows it */
        return;
    }
    r->conn = NULL;
    if (r->close_cb != NULL) {
        /* Freed first: the owner may not touch it from the callback. */
        cb = r->close_cb;
        data = r->close_data;
        http__req_free(r);
        cb(data);
    }
    /* Else the owner still answers it, and the answer frees it. */
}

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    struct http_server *srv = c->srv;
    if (--c->handles > 0) {
        return;
    }
    c->prev->next = c->next;
    c->next->prev = c->prev;
    conn_release_req(c);
    http__buf_close(&c->in);
    http__buf_close(&c->out);
    http__buf_close(&c->wbuf);
    free(c);
    srv->n_conns--;
    srv->open--;
    server_maybe_stopped(srv);
}

/* Close @c now. Pending writes and the shutdown are cancelled (their
 * callbacks run first, with UV_ECANCELED). */
static void conn_close(struct conn *c)
{
    if (!c->closing) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        uv_close((uv_handle_t *)&c->timer, conn_closed);
    }
}

static void conn_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

/* Restart the idle timeout: the connection did something. Not while a
 * request is with the handler, who decides how long it takes. */
static void conn_touch(struct conn *c)
{
    if (!c->closing && !c->handling && !c->lingering && !c->next_soon) {
        uv_timer_start(&c->timer, conn_timeout, c->srv->lim.idle_timeout_ms, 0);
    }
}

static void conn_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)size;
    buf->base = c->srv->rbuf;
    buf->len = sizeof c->srv->rbuf;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(struct conn *c)
{
    if (c->reading || c->eof || c->closing) {
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0) {
        conn_close(c);
        return;
    }
    c->reading = true;
}

static void conn_read_stop(struct conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void conn_shut(uv_shutdown_t *s, int status)
{
    struct conn *c = s->data;
    if (status != 0 || c->eof) {
        conn_close(c);
    }
}

/* Close @c once its answers are written, gently: send FIN, then keep
 * reading (and dropping) until the client closes too or LINGER_MS pass,
 * so that the client's unread body does not make the kernel reset the
 * connection and destroy the answer before the client has read it. */
static void conn_linger(struct conn *c)
{
    if (c->closing || c->lingering) {
        return;
    }
    c->lingering = true;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shut) != 0) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, conn_timeout, LINGER_MS, 0);
    conn_read_start(c);
}

static void conn_written(uv_write_t *w, int status);

/* Hand the pending output to uv_write, unless a write is under way (its
 * callback flushes again). */
static void conn_flush(struct conn *c)
{
    struct buf tmp;
    uv_buf_t b;
    if (c->closing || c->writing || c->out.len == 0) {
        return;
    }
    tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, conn_written) != 0) {
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void conn_resume(struct conn *c);

/* Everything queued is written: close if the last answer said so, or go
 * on with the next request once the current one is answered. */
static void conn_next(struct conn *c)
{
    if (c->closing || c->writing || c->out.len > 0) {
        return;
    }
    if (c->close_after) {
        conn_linger(c);
    } else if (c->paused && c->req == NULL) {
        conn_resume(c);
    }
}

static void conn_next_cb(uv_timer_t *t)
{
    struct conn *c = t->data;
    c->next_soon = false;
    conn_touch(c);
    conn_next(c);
}

static void conn_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    c->writing = false;
    c->wbuf.len = 0;
    if (status != 0) {
        conn_close(c); /* also UV_ECANCELED: it is closing already */
        return;
    }
    conn_touch(c);
    conn_flush(c);
    if (c->writing) {
        return; /* more to write: its callback carries on */
    }
    if (c->handling && c->req->drain_cb != NULL) {
        c->req->drain_cb(c->req->drain_data); /* may write, end, stop */
    }
    conn_next(c);
}

/* ------------------------------------------------------------------------
 * Parsing: http-parser's callbacks. A callback that refuses the request
 * records the answer in the connection and returns -1, which stops the
 * parser; conn_parse() then sends that answer.
 * ---------------------------------------------------------------------- */

static int conn_fail(struct conn *c, int status, const char *code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int conn_fail(struct conn *c, int status, const char *code,
                     const char *fmt, ...)
{
    va_list ap;
    c->fail_status = status;
    snprintf(c->fail_code, sizeof c->fail_code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(c->fail_msg, sizeof c->fail_msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_nomem(struct conn *c)
{
    return conn_fail(c, 500, cairn_errname(CAIRN_ENOMEM), "out of memory");
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = p->data;
    c->req = http__req_new(c);
    return c->req != NULL ? 0 : fail_nomem(c);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct http_req *r = c->req;
    if (len > c->srv->lim.url_max - r->url.len) {
        return conn_fail(c, 414, cairn_errname(CAIRN_ETOOLARGE),
                         "the request target is longer than %zu bytes",
                         c->srv->lim.url_max);
    }
    return http__buf_put(&r->url, at, len) == 0 ? 0 : fail_nomem(c);
}

/* Count @len more header bytes against the limit. Returns -1 (refused),
 * 1 for bytes of a chunked body's trailer (counted, not kept), or 0. */
static int take_header_bytes(struct conn *c, size_t len)
{
    struct http_req *r = c->req;
    r->header_bytes += len;
    if (r->header_bytes > c->srv->lim.header_bytes_max) {
        return conn_fail(c, 431, cairn_errname(CAIRN_ETOOLARGE),
                         "the request headers are larger than %zu bytes",
                         c->srv->lim.header_bytes_max);
    }
    return r->headers_done ? 1 : 0;
}

/* End the header being read: NUL-terminate its value (an empty one if
 * the parser gave none). */
static int end_header(struct http_req *r)
{
    int rc = 0;
    if (r->hstate == H_FIELD) {
        rc = http__buf_putc(&r->hbuf, '\0');
        r->hdrs[r->n_hdrs - 1].value = r->hbuf.len;
        rc |= http__buf_putc(&r->hbuf, '\0');
    } else if (r->hstate == H_VALUE) {
        rc = http__buf_putc(&r->hbuf, '\0');
    }
    r->hstate = H_NONE;
    return rc;
}

/* Start a new header, whose name follows in hbuf. */
static int begin_header(struct conn *c)
{
    struct http_req *r = c->req;
    if (end_header(r) != 0) {
        return fail_nomem(c);
    }
    if (r->n_hdrs >= c->srv->lim.headers_max) {
        return conn_fail(c, 431, cairn_errname(CAIRN_ETOOLARGE),
                         "the request has more than %u headers",
                         c->srv->lim.headers_max);
    }
    if (r->n_hdrs == r->cap_hdrs) {
        unsigned cap = r->cap_hdrs != 0 ? 2 * r->cap_hdrs : 16;
        struct header *h = realloc(r->hdrs, cap * sizeof *h);
        if (h == NULL) {
            return fail_nomem(c);
        }
        r->hdrs = h;
        r->cap_hdrs = cap;
    }
    r->hdrs[r->n_hdrs++].name = r->hbuf.len;
    r->header_bytes += HEADER_LINE_OVERHEAD;
    r->hstate = H_FIELD;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct http_req *r = c->req;
    int rc = take_header_bytes(c, len);
    if (rc == 0 && r->hstate != H_FIELD) {
        rc = begin_header(c);
    }
    if (rc == 0 && http__buf_put(&r->hbuf, at, len) != 0) {
        rc = fail_nomem(c);
    }
    return rc < 0 ? -1 : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct http_req *r = c->req;
    int rc = take_header_bytes(c, len);
    if (rc == 0 && r->hstate == H_FIELD) {
        /* The name ends; the value starts. */
        rc = http__buf_putc(&r->hbuf, '\0') == 0 ? 0 : fail_nomem(c);
        r->hdrs[r->n_hdrs - 1].value = r->hbuf.len;
        r->hstate = H_VALUE;
    }
    if (rc == 0 && http__buf_put(&r->hbuf, at, len) != 0) {
        rc = fail_nomem(c);
    }
    return rc < 0 ? -1 : 0;
}

/* Ask the caller's check() about @r. */
static int check_request(struct conn *c, struct http_req *r)
{
    char msg[CAIRN_ERRMSG_SIZE] = "";
    char tmp[64];
    int status;
    if (c->srv->cbs.check == NULL) {
        return 0;
    }
    status = c->srv->cbs.check(c->srv->data, r, msg, sizeof msg);
    if (status == 0) {
        return 0;
    }
    if (status < 400 || status > 599) {
        return conn_fail(c, 500, cairn_errname(CAIRN_EINTERNAL),
                         "the request check answered %d, not an error "
                         "status",
                         status);
    }
    return conn_fail(c, status,
                     r->error_code != NULL
                         ? r->error_code
                         : http__status_code_name(status, tmp),
                     "%s", msg[0] != '\0' ? msg : http__reason_phrase(status));
}

/* "Expect: 100-continue": the client waits for a go-ahead before sending
 * the body (curl does, for large ones); give it once check() has accepted
 * the request. A request refused before gets its final answer instead. */
static int send_continue(struct conn *c, struct http_req *r)
{
    const char *expect = http_req_header(r, "Expect");
    bool body = (c->parser.flags & F_CHUNKED) || r->content_length > 0;
    if (expect == NULL || strcasecmp(expect, "100-continue") != 0 ||
        r->http10 || !body) {
        return 0;
    }
    if (http__buf_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n") != 0) {
        return fail_nomem(c);
    }
    conn_flush(c);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = p->data;
    struct http_req *r = c->req;
    const struct http_limits *lim = &c->srv->lim;
    char msg[CAIRN_ERRMSG_SIZE];
    int rc;

    if (end_header(r) != 0 || http__buf_putc(&r->url, '\0') != 0) {
        return fail_nomem(c);
    }
    r->url.len--; /* the NUL is not part of the target */
    r->headers_done = true;
    r->method = p->method;
    r->head = p->method == HTTP_HEAD;
    r->http10 =
        p->http_major == 0 || (p->http_major == 1 && p->http_minor == 0);
    /* An upgrade is not done here: answer, then close. */
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade && !c->eof;
    if (p->flags & F_CONTENTLENGTH) {
        if (p->content_length > lim->body_max) {
            return conn_fail(c, 413, cairn_errname(CAIRN_ETOOLARGE),
                             "the request body (%llu bytes) is larger than "
                             "%llu bytes",
                             (unsigned long long)p->content_length,
                             (unsigned long long)lim->body_max);
        }
        r->content_length = (int64_t)p->content_length;
    }
    if (p->method == HTTP_CONNECT) {
        return conn_fail(c, 405, "method_not_allowed",
                         "CONNECT is not supported: this is no proxy");
    }
    rc = http__parse_target(r, msg, sizeof msg);
    if (rc == CAIRN_ENOMEM) {
        return fail_nomem(c);
    }
    if (rc != 0) {
        return conn_fail(c, 400, cairn_errname(CAIRN_EMALFORMED), "%s", msg);
    }
    if (check_request(c, r) != 0) {
        return -1;
    }
    return send_continue(c, r);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    struct http_req *r = c->req;
    uint64_t max = c->srv->lim.body_max;
    /* A Content-Length over the limit was refused already; a chunked
     * body is refused as soon as it passes the limit. */
    if (len > max - r->body.len) {
        return conn_fail(c, 413, cairn_errname(CAIRN_ETOOLARGE),
                         "the request body is larger than %llu bytes",
                         (unsigned long long)max);
    }
    return http__buf_put(&r->body, at, len) == 0 ? 0 : fail_nomem(c);
}

/* The request is read whole: pause, so that the bytes after it wait until
 * it is answered. */
static int on_message_complete(http_parser *p)
{
    struct conn *c = p->data;
    c->paused = true;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------- */

/* Parsing stopped on @err: answer with what the callback that stopped it
 * recorded, or with the parser's own complaint, and close. */
static void conn_refuse(struct conn *c, enum http_errno err)
{
    struct http_req *r = c->req;
    if (c->fail_status == 0) {
        if (err == HPE_HEADER_OVERFLOW) {
            conn_fail(c, 431, cairn_errname(CAIRN_ETOOLARGE),
                      "the request headers are too large (%s)",
                      http_errno_name(err));
        } else {
            conn_fail(c, 400, cairn_errname(CAIRN_EMALFORMED),
                      "malformed request: %s (%s)", http_errno_name(err),
                      http_errno_description(err));
        }
    }
    c->close_after = true;
    if (http__put_error(&c->out, r != NULL && r->headers_done ? r : NULL,
                        c->fail_status, c->fail_code, c->fail_msg, true) != 0) {
        conn_close(c);
        return;
    }
    c->req = NULL;
    if (r != NULL) {
        http__req_free(r);
    }
    conn_flush(c);
}

/* Parse @len bytes of @data; returns how many the parser took. It stops
 * early when a request is complete (paused) or on an error (answered). */
static size_t conn_parse(struct conn *c, const char *data, size_t len)
{
    size_t n = http_parser_execute(&c->parser, &parser_settings, data, len);
    enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (err != HPE_OK && err != HPE_PAUSED) {
        conn_refuse(c, err);
        return len;
    }
    return n;
}

/* Hand the request read whole to the handler. */
static void conn_dispatch(struct conn *c)
{
    struct http_req *r = c->req;
    if (!c->paused || r == NULL || c->handling || c->closing) {
        return;
    }
    c->handling = true;
    uv_timer_stop(&c->timer);
    if (c->eof) {
        r->keep_alive = false; /* nothing more will come */
    }
    c->srv->cbs.handle(c->srv->data, r);
}

/* The current request is answered and written: parse what was received
 * meanwhile, then read on. */
static void conn_resume(struct conn *c)
{
    c->paused = false;
    http_parser_pause(&c->parser, 0);
    conn_touch(c);
    if (c->in.len > 0) {
        http__buf_consume(&c->in, conn_parse(c, c->in.data, c->in.len));
    }
    if (c->close_after || c->closing) {
        c->in.len = 0; /* refused: what follows is dropped */
        return;
    }
    if (c->paused) {
        if (c->in.len < PENDING_IN_MAX) {
            conn_read_start(c);
        }
        conn_dispatch(c);
    } else if (c->eof) {
        conn_close(c); /* the client sent all it will */
    } else {
        conn_read_start(c);
    }
}

/* The client closed its end (or the connection failed). */
static void conn_read_end(struct conn *c, ssize_t nread)
{
    struct http_req *r = c->req;
    conn_read_stop(c); /* libuv reads no more after an error or EOF */
    if (nread != UV_EOF || c->lingering) {
        conn_close(c);
        return;
    }
    c->eof = true;
    if (c->close_after) {
        return; /* the last answer is still being written */
    }
    if (c->handling) {
        /* A client that only half-closed still reads the answer; but an
         * owner who asked to hear of a disconnect, or a stream that would
         * otherwise run on unread, takes it as one. */
        if (r->close_cb != NULL || r->streaming) {
            conn_close(c);
        } else {
            r->keep_alive = false;
        }
        return;
    }
    if (!c->paused) {
        conn_close(c); /* idle, or in the middle of a request */
    }
    /* Else conn_resume() parses what is buffered and then closes. */
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    size_t n = 0, len = (size_t)nread;
    if (nread < 0) {
        conn_read_end(c, nread);
        return;
    }
    if (nread == 0 || c->close_after) {
        return; /* after a closing answer, input is dropped */
    }
    conn_touch(c);
    if (!c->paused) {
        n = conn_parse(c, buf->base, len);
    }
    if (n < len && !c->close_after) {
        if (http__buf_put(&c->in, buf->base + n, len - n) != 0) {
            conn_close(c);
            return;
        }
        if (c->in.len >= PENDING_IN_MAX) {
            conn_read_stop(c);
        }
    }
    conn_dispatch(c);
}

/* ------------------------------------------------------------------------
 * Answers
 * ---------------------------------------------------------------------- */

/* The connection @r can still be answered on, or NULL. */
static struct conn *live_conn(const struct http_req *r)
{
    return r->conn != NULL && !r->conn->closing ? r->conn : NULL;
}

/* @r is answered (or its answer dropped): free it and let its connection
 * go on once the answer is written. */
static void req_done(struct http_req *r)
{
    struct conn *c = r->conn;
    bool keep_alive = r->keep_alive;
    http__req_free(r);
    if (c == NULL) {
        return;
    }
    c->req = NULL;
    c->handling = false;
    if (c->closing) {
        return;
    }
    if (!keep_alive) {
        c->close_after = true;
    }
    conn_touch(c);
    conn_flush(c);
    if (c->writing || c->out.len > 0) {
        return; /* the write callback goes on */
    }
    if (c->close_after) {
        conn_linger(c);
    } else {
        /* Nothing to write (a HEAD stream): go on from the loop rather
         * than from inside the caller's answer, which would run the next
         * request's handler under it. */
        c->next_soon = true; /* until then, the idle timeout waits */
        uv_timer_start(&c->timer, conn_next_cb, 0, 0);
    }
}

void http_reply(struct http_req *r, int status, const char *content_type,
                const struct http_header *extra, size_t n_extra,
                const void *body, size_t len)
{
    struct conn *c = live_conn(r);
    char msg[CAIRN_ERRMSG_SIZE];
    int rc;
    assert(!r->streaming && "use http_stream_end() to end a stream");
    if (c == NULL) {
        req_done(r);
        return;
    }
    if (http__check_head(status, content_type, extra, n_extra, msg,
                         sizeof msg)) {
        rc = http__put_error(&c->out, r, 500, cairn_errname(CAIRN_EINTERNAL),
                             msg, !r->keep_alive);
    } else {
        rc = http__put_answer(&c->out, r, status, content_type, extra, n_extra,
                              body, len);
    }
    if (rc != 0) {
        conn_close(c);
    }
    req_done(r);
}

void http_reply_json_verror(struct http_req *r, int status, const char *code,
                            const char *fmt, va_list ap)
{
    struct conn *c = live_conn(r);
    char *msg = NULL;
    int rc = CAIRN_ENOMEM;
    assert(!r->streaming && "use http_stream_end() to end a stream");
    if (c == NULL) {
        req_done(r);
        return;
    }
    if (status < 200 || status > 599) {
        status = 500;
    }
    if (vasprintf(&msg, fmt, ap) >= 0) {
        rc = http__put_error(&c->out, r, status, code, msg, !r->keep_alive);
        free(msg);
    }
    if (rc != 0) {
        conn_close(c);
    }
    req_done(r);
}

void http_reply_json_error(struct http_req *r, int status, const char *code,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    http_reply_json_verror(r, status, code, fmt, ap);
    va_end(ap);
}

int http_stream_start(struct http_req *r, int status, const char *content_type,
                      const struct http_header *extra, size_t n_extra)
{
    struct conn *c = live_conn(r);
    char msg[CAIRN_ERRMSG_SIZE];
    assert(!r->streaming && "the stream is started already");
    if (c == NULL) {
        r->streaming = true; /* for http_stream_end() */
        return CAIRN_ECLOSED;
    }
    if (http__check_head(status, content_type, extra, n_extra, msg,
                         sizeof msg)) {
        return CAIRN_EINVAL;
    }
    /* HTTP/1.0 knows no chunks: the end of the stream is the close. */
    if (r->http10) {
        r->keep_alive = false;
    }
    if (http__put_head(&c->out, r, status, content_type, extra, n_extra,
                       r->http10 ? HTTP__FRAME_CLOSE : HTTP__FRAME_CHUNKED, 0,
                       !r->keep_alive) != 0) {
        conn_close(c);
        return CAIRN_ENOMEM;
    }
    r->streaming = true;
    conn_flush(c);
    return 0;
}

int http_stream_write(struct http_req *r, const void *data, size_t len)
{
    struct conn *c = live_conn(r);
    int rc = 0;
    assert(r->streaming && "http_stream_start() comes first");
    if (c == NULL) {
        return CAIRN_ECLOSED;
    }
    if (len == 0 || r->head) {
        return 0; /* an empty chunk would end the stream */
    }
    if (!r->http10) {
        rc = http__buf_printf(&c->out, "%zx\r\n", len);
    }
    rc |= http__buf_put(&c->out, data, len);
    if (!r->http10) {
        rc |= http__buf_put(&c->out, "\r\n", 2);
    }
    if (rc != 0) {
        conn_close(c);
        return CAIRN_ENOMEM;
    }
    conn_flush(c);
    return 0;
}

size_t http_stream_backlog(const struct http_req *r)
{
    const struct conn *c = live_conn(r);
    return c != NULL ? c->out.len + c->wbuf.len : 0;
}

void http_stream_end(struct http_req *r)
{
    struct conn *c = live_conn(r);
    assert(r->streaming && "http_stream_start() comes first");
    if (c != NULL && !r->http10 && !r->head &&
        http__buf_put(&c->out, "0\r\n\r\n", 5) != 0) {
        conn_close(c);
    }
    req_done(r);
}

/* ------------------------------------------------------------------------
 * Accepting, starting and stopping
 * ---------------------------------------------------------------------- */

static void reject_closed(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    free(h);
    srv->open--;
    server_maybe_stopped(srv);
}

/* Accept a connection only to close it: at the connection limit (or out
 * of memory), since libuv stops accepting until the pending one is. */
static void reject(struct http_server *srv, uv_stream_t *l)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL) {
        return;
    }
    uv_tcp_init(srv->loop, t);
    t->data = srv;
    srv->open++;
    uv_accept(l, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, reject_closed);
}

static void on_connection(uv_stream_t *l, int status)
{
    struct http_server *srv = l->data;
    struct conn *c;
    if (status != 0 || srv->stopping) {
        return;
    }
    if (srv->n_conns >= srv->lim.connections_max ||
        (c = calloc(1, sizeof *c)) == NULL) {
        reject(srv, l);
        return;
    }
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles = 2;
    c->next = srv->head.next;
    c->prev = &srv->head;
    srv->head.next->prev = c;
    srv->head.next = c;
    srv->n_conns++;
    srv->open++;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_touch(c);
    conn_read_start(c);
}

static void listener_closed(uv_handle_t *h)
{
    struct http_server *srv = h->data;
    srv->open--;
    server_maybe_stopped(srv);
}

static void limits_fill(struct http_limits *lim, const struct http_limits *in)
{
    static const struct http_limits defaults = {
        .url_max = HTTP_URL_MAX_DEFAULT,
        .header_bytes_max = HTTP_HEADER_BYTES_MAX_DEFAULT,
        .headers_max = HTTP_HEADERS_MAX_DEFAULT,
        .body_max = HTTP_BODY_MAX_DEFAULT,
        .connections_max = HTTP_CONNECTIONS_MAX_DEFAULT,
        .idle_timeout_ms = HTTP_IDLE_TIMEOUT_MS_DEFAULT,
    };
    *lim = in != NULL ? *in : defaults;
#define DEFAULT(field)               \
    if (lim->field == 0) {           \
        lim->field = defaults.field; \
    }
    DEFAULT(url_max)
    DEFAULT(header_bytes_max)
    DEFAULT(headers_max)
    DEFAULT(body_max)
    DEFAULT(connections_max)
    DEFAULT(idle_timeout_ms)
#undef DEFAULT
    if (lim->url_max > HTTP_URL_MAX_LIMIT) {
        lim->url_max = HTTP_URL_MAX_LIMIT;
    }
}

/* Fill @errmsg (NULL: none wanted) and return @code. */
static int start_fail(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int start_fail(char *errmsg, int code, const char *fmt, ...)
{
    va_list ap;
    if (errmsg != NULL) {
        va_start(ap, fmt);
        vsnprintf(errmsg, CAIRN_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

int http_server_start(uv_loop_t *loop, const char *host, int port,
                      const struct http_limits *limits,
                      const struct http_callbacks *cbs, void *data,
                      struct http_server **out, char *errmsg)
{
    struct http_server *srv;
    struct sockaddr_storage sa;
    int rc;

    if (cbs == NULL || cbs->handle == NULL) {
        return start_fail(errmsg, CAIRN_EINVAL, "http: no request handler");
    }
    if (port < 0 || port > 65535) {
        return start_fail(errmsg, CAIRN_EINVAL, "http: port %d is out of range",
                          port);
    }
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
        return start_fail(errmsg, CAIRN_EINVAL,
                          "http: '%s' is not an IP address", host);
    }
    if ((srv = calloc(1, sizeof *srv)) == NULL) {
        return start_fail(errmsg, CAIRN_ENOMEM, "http: out of memory");
    }
    srv->loop = loop;
    limits_fill(&srv->lim, limits);
    srv->cbs = *cbs;
    srv->data = data;
    srv->head.next = srv->head.prev = &srv->head;
    uv_tcp_init(loop, &srv->tcp);
    srv->tcp.data = srv;
    srv->open = 1;
    rc = uv_tcp_bind(&srv->tcp, (const struct sockaddr *)&sa, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&srv->tcp, 511, on_connection);
    }
    if (rc != 0) {
        srv->stopping = true; /* freed once the handle is closed */
        uv_close((uv_handle_t *)&srv->tcp, listener_closed);
        return start_fail(errmsg, CAIRN_EIO, "http listen %s:%d: %s", host,
                          port, uv_strerror(rc));
    }
    *out = srv;
    return 0;
}

int http_server_port(const struct http_server *srv)
{
    struct sockaddr_storage sa;
    int len = sizeof sa;
    if (uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&sa, &len) != 0) {
        return -1;
    }
    if (sa.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&sa)->sin_port);
}

void http_server_stop(struct http_server *srv, void (*cb)(void *data),
                      void *data)
{
    assert(!srv->stopping && "http_server_stop() is called once");
    srv->stopping = true;
    srv->stop_cb = cb;
    srv->stop_data = data;
    for (struct conn *c = srv->head.next; c != &srv->head; c = c->next) {
        conn_close(c);
    }
    uv_close((uv_handle_t *)&srv->tcp, listener_closed);
}
