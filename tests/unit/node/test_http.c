/*
 * The HTTP/1.1 server core (node/http.h), over real loopback sockets: the
 * server runs on a libuv loop in the test's thread, and a client thread
 * sends raw bytes with blocking POSIX sockets and parses the answers with
 * http-parser in response mode. Only the main thread asserts: the client
 * thread records what it saw, and the test checks it once the client is
 * done.
 *
 * The handler records what it sees of every request (method, path,
 * segments, query, headers, body) and routes on the first path segment:
 *   /echo     200, the body echoed (the path when there is none)
 *   /async    answers after ?ms= milliseconds from a uv timer
 *   /stream   a chunked stream of ?n= events every 10 ms (no n: forever)
 *   /big      a stream of ?mb= MiB in 256 KiB chunks, paced by the backlog
 *   /hold     never answered; counts its close callback
 *   /error    a JSON error with a message that needs escaping
 *   /badhdr   an answer with a header value holding CR LF
 *   /headstream  a stream started and ended at once (for HEAD)
 *   anything else: 404
 * check() refuses 413 any Content-Length over CHECK_BODY_MAX, and 404 with
 * its own code /refuse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <http_parser.h>
#include <jansson.h>

#include "cairn.h"
#include "http.h"

#define CHECK_BODY_MAX 4000000
#define GUARD_MS 15000     /* a test that takes longer has failed */
#define CLIENT_TIMEOUT_S 5 /* a blocking read that takes longer: failed */
#define MAX_RESP 8
#define MAX_HDRS 32

/* ------------------------------------------------------------------------
 * The client thread's side: blocking sockets, answers parsed with
 * http-parser.
 * ---------------------------------------------------------------------- */

struct resp {
    int status;
    int n_hdrs;
    char names[MAX_HDRS][64];
    char values[MAX_HDRS][512];
    char *body; /* (owned) NUL-terminated */
    size_t body_len;
    int chunks; /* chunk headers seen, the last (empty) one included */
    bool keep_alive;
};

struct client {
    int fd;
    http_parser p;
    bool head;  /* the answers being read are to HEAD requests */
    bool field; /* the last header callback was a name */
    struct resp r[MAX_RESP];
    int n;       /* answers read whole */
    bool eof;    /* the server closed (or reset) the connection */
    bool failed; /* connect, send, or a read timed out */
    bool parse_error;
};

static struct resp *cur(struct client *cl)
{
    return &cl->r[cl->n < MAX_RESP ? cl->n : MAX_RESP - 1];
}

static int c_begin(http_parser *p)
{
    struct client *cl = p->data;
    struct resp *r = cur(cl);
    free(r->body);
    memset(r, 0, sizeof *r);
    cl->field = false;
    return 0;
}

static void append(char *dst, size_t size, const char *at, size_t len)
{
    size_t n = strlen(dst);
    if (len > size - 1 - n) {
        len = size - 1 - n;
    }
    memcpy(dst + n, at, len);
    dst[n + len] = '\0';
}

static int c_field(http_parser *p, const char *at, size_t len)
{
    struct client *cl = p->data;
    struct resp *r = cur(cl);
    if (!cl->field && r->n_hdrs < MAX_HDRS) {
        r->n_hdrs++;
    }
    cl->field = true;
    append(r->names[r->n_hdrs - 1], sizeof r->names[0], at, len);
    return 0;
}

static int c_value(http_parser *p, const char *at, size_t len)
{
    struct client *cl = p->data;
    struct resp *r = cur(cl);
    cl->field = false;
    append(r->values[r->n_hdrs - 1], sizeof r->values[0], at, len);
    return 0;
}

static int c_headers(http_parser *p)
{
    struct client *cl = p->data;
    cur(cl)->status = (int)p->status_code;
    return cl->head ? 1 : 0; /* an answer to HEAD has no body */
}

static int c_chunk(http_parser *p)
{
    struct client *cl = p->data;
    cur(cl)->chunks++;
    return 0;
}

static int c_body(http_parser *p, const char *at, size_t len)
{
    struct client *cl = p->data;
    struct resp *r = cur(cl);
    char *b = realloc(r->body, r->body_len + len + 1);
    if (b == NULL) {
        return -1;
    }
    memcpy(b + r->body_len, at, len);
    r->body = b;
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int c_complete(http_parser *p)
{
    struct client *cl = p->data;
    struct resp *r = cur(cl);
    r->keep_alive = http_should_keep_alive(p);
    if (r->body == NULL) {
        r->body = calloc(1, 1);
    }
    if (cl->n < MAX_RESP) {
        cl->n++;
    }
    return 0;
}

static const http_parser_settings client_settings = {
    .on_message_begin = c_begin,
    .on_header_field = c_field,
    .on_header_value = c_value,
    .on_headers_complete = c_headers,
    .on_chunk_header = c_chunk,
    .on_body = c_body,
    .on_message_complete = c_complete,
};

static void cl_open(struct client *cl, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
    memset(cl, 0, sizeof *cl);
    http_parser_init(&cl->p, HTTP_RESPONSE);
    cl->p.data = cl;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (cl->fd < 0 || connect(cl->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        cl->failed = true;
    }
}

static void cl_send_n(struct client *cl, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            cl->failed = true;
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void cl_send(struct client *cl, const char *s)
{
    cl_send_n(cl, s, strlen(s));
}

/* Read until @want answers are complete, or the connection ends. Returns
 * the number of answers read. */
static int cl_read(struct client *cl, int want)
{
    char buf[65536];
    while (cl->n < want && !cl->eof && !cl->parse_error) {
        ssize_t n = recv(cl->fd, buf, sizeof buf, 0);
        if (n < 0 && errno != ECONNRESET) {
            cl->failed = true; /* timed out */
            break;
        }
        if (n <= 0) {
            cl->eof = true;
            http_parser_execute(&cl->p, &client_settings, buf, 0);
            break;
        }
        if (http_parser_execute(&cl->p, &client_settings, buf, (size_t)n) !=
            (size_t)n) {
            cl->parse_error = true;
        }
    }
    return cl->n;
}

/* Read until the server closes the connection (answers read meanwhile
 * are parsed). True if it did before the timeout. */
static bool cl_wait_eof(struct client *cl)
{
    cl_read(cl, MAX_RESP + 1);
    return cl->eof;
}

/* Read and drop raw bytes until the server closes the connection (for a
 * stream read in part without the parser). True if it did. */
static bool cl_drain_eof(struct client *cl)
{
    char buf[4096];
    ssize_t n;
    while ((n = recv(cl->fd, buf, sizeof buf, 0)) > 0) {
    }
    cl->eof = n == 0 || errno == ECONNRESET;
    return cl->eof;
}

static void cl_close(struct client *cl)
{
    if (cl->fd >= 0) {
        close(cl->fd);
        cl->fd = -1;
    }
}

static void cl_free(struct client *cl)
{
    cl_close(cl);
    for (int i = 0; i < MAX_RESP; i++) {
        free(cl->r[i].body);
        cl->r[i].body = NULL;
    }
}

static const char *resp_header(const struct resp *r, const char *name)
{
    for (int i = 0; i < r->n_hdrs; i++) {
        if (strcasecmp(r->names[i], name) == 0) {
            return r->values[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * The fixture: a loop, a server, and the application behind it.
 * ---------------------------------------------------------------------- */

struct seen {
    char method[16];
    char target[256];
    char raw_path[256];
    char path[256];
    size_t path_len;
    size_t n_segs;
    char segs[8][64];
    size_t seg_len[8];
    char q[64], x[64], flag[64], empty[64];
    bool has_missing;
    char body[256];
    size_t body_len;
    int64_t content_length;
    char ctype[64];
    char expect[64];
    bool has_trailer;
};

struct fix {
    uv_loop_t loop;
    struct http_server *srv;
    int port;
    uv_async_t wake;
    uv_timer_t guard;
    bool timed_out;
    bool stopped;
    /* The application (loop thread only). */
    int checks;
    int handled;
    int answering; /* requests with the handler now */
    int max_answering;
    int async_fired;
    int stream_closed;
    int hold_closed;
    int drains;
    size_t max_backlog;
    struct seen seen[4];
    /* The client thread. */
    pthread_t thread;
    void (*client_fn)(struct fix *f, void *arg);
    void *client_arg;
    atomic_int client_done;
    atomic_int client_phase;
};

/* A request answered later from a timer (async, stream, big). */
struct later {
    struct fix *f;
    struct http_req *r;
    uv_timer_t t;
    int id;
    int n; /* stream: events to send (-1: forever) */
    int sent;
    size_t total; /* big: bytes to send */
};

static void later_closed(uv_handle_t *h)
{
    free(h->data);
}

static void later_free(struct later *l)
{
    uv_timer_stop(&l->t);
    uv_close((uv_handle_t *)&l->t, later_closed);
}

static struct later *later_new(struct fix *f, struct http_req *r)
{
    struct later *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->f = f;
    l->r = r;
    uv_timer_init(&f->loop, &l->t);
    l->t.data = l;
    return l;
}

static void answered(struct fix *f)
{
    f->answering--;
}

static void async_fire(uv_timer_t *t)
{
    struct later *l = t->data;
    char body[64];
    l->f->async_fired++;
    answered(l->f);
    snprintf(body, sizeof body, "async %d", l->id);
    http_reply(l->r, 200, "text/plain", NULL, 0, body, strlen(body));
    later_free(l);
}

static void stream_closed(void *data)
{
    struct later *l = data;
    l->f->stream_closed++;
    answered(l->f);
    later_free(l);
}

static void stream_tick(uv_timer_t *t)
{
    struct later *l = t->data;
    char ev[64];
    snprintf(ev, sizeof ev, "data: %d\n\n", l->sent++);
    if (http_stream_write(l->r, ev, strlen(ev)) != 0) {
        return; /* the close callback comes */
    }
    if (l->n >= 0 && l->sent == l->n) {
        answered(l->f);
        http_stream_end(l->r);
        later_free(l);
    }
}

/* Write big chunks while the backlog is under 1 MiB; resume on drain. */
static void big_pump(void *data)
{
    static char chunk[256 * 1024];
    struct later *l = data;
    size_t backlog;
    if (l->sent > 0) {
        l->f->drains++;
    }
    while (l->total > 0 && http_stream_backlog(l->r) < (1u << 20)) {
        size_t n = l->total < sizeof chunk ? l->total : sizeof chunk;
        memset(chunk, 'a' + l->sent % 26, n);
        if (http_stream_write(l->r, chunk, n) != 0) {
            return;
        }
        l->total -= n;
        l->sent++;
        backlog = http_stream_backlog(l->r);
        if (backlog > l->f->max_backlog) {
            l->f->max_backlog = backlog;
        }
    }
    if (l->total == 0) {
        answered(l->f);
        http_stream_end(l->r);
        later_free(l);
    }
}

static void hold_closed(void *data)
{
    struct fix *f = data;
    f->hold_closed++;
    answered(f);
}

static void copy_slice(char *dst, size_t size, struct http_slice s)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    memcpy(dst, s.data, n);
    dst[n] = '\0';
}

static void copy_param(char *dst, size_t size, const struct http_req *r,
                       const char *name)
{
    size_t len;
    const char *v = http_req_query(r, name, &len);
    snprintf(dst, size, "%s", v != NULL ? v : "(null)");
    if (v != NULL) {
        assert_int_equal(len, strlen(v));
    }
}

static void record(struct fix *f, struct http_req *r)
{
    struct seen *s = &f->seen[f->handled % 4];
    const struct http_slice *segs;
    const void *body;
    const char *ctype = http_req_header(r, "content-type");
    const char *expect = http_req_header(r, "EXPECT");
    memset(s, 0, sizeof *s);
    snprintf(s->method, sizeof s->method, "%s", http_req_method(r));
    snprintf(s->target, sizeof s->target, "%s", http_req_target(r));
    copy_slice(s->raw_path, sizeof s->raw_path, http_req_raw_path(r));
    copy_slice(s->path, sizeof s->path, http_req_path(r));
    s->path_len = http_req_path(r).len;
    s->n_segs = http_req_segments(r, &segs);
    for (size_t i = 0; i < s->n_segs && i < 8; i++) {
        copy_slice(s->segs[i], sizeof s->segs[i], segs[i]);
        s->seg_len[i] = segs[i].len;
    }
    copy_param(s->q, sizeof s->q, r, "q");
    copy_param(s->x, sizeof s->x, r, "x");
    copy_param(s->flag, sizeof s->flag, r, "flag");
    copy_param(s->empty, sizeof s->empty, r, "empty");
    s->has_missing = http_req_query(r, "missing", NULL) != NULL;
    body = http_req_body(r, &s->body_len);
    memcpy(s->body, body, s->body_len < 255 ? s->body_len : 255);
    s->content_length = http_req_content_length(r);
    snprintf(s->ctype, sizeof s->ctype, "%s", ctype != NULL ? ctype : "");
    snprintf(s->expect, sizeof s->expect, "%s", expect != NULL ? expect : "");
    s->has_trailer = http_req_header(r, "X-Trailer") != NULL;
}

static int app_check(void *data, struct http_req *r, char *msg, size_t msg_size)
{
    struct fix *f = data;
    const struct http_slice *segs;
    size_t n = http_req_segments(r, &segs);
    f->checks++;
    if (http_req_content_length(r) > CHECK_BODY_MAX) {
        snprintf(msg, msg_size, "a value may have at most %d bytes",
                 CHECK_BODY_MAX);
        return 413;
    }
    if (n > 0 && strcmp(segs[0].data, "refuse") == 0) {
        http_req_set_error_code(r, "bucket_not_found");
        snprintf(msg, msg_size, "bucket 'refuse' not found");
        return 404;
    }
    return 0;
}

static int param_int(struct http_req *r, const char *name, int dflt)
{
    const char *v = http_req_query(r, name, NULL);
    return v != NULL ? atoi(v) : dflt;
}

static void app_handle(void *data, struct http_req *r)
{
    struct fix *f = data;
    const struct http_slice *segs;
    size_t n = http_req_segments(r, &segs);
    const char *route = n > 0 ? segs[0].data : "";
    struct later *l;

    record(f, r);
    f->handled++;
    if (++f->answering > f->max_answering) {
        f->max_answering = f->answering;
    }
    if (strcmp(route, "echo") == 0) {
        const void *body;
        size_t len;
        struct http_header h[] = {{"X-Path", http_req_path(r).data}};
        body = http_req_body(r, &len);
        if (len == 0) { /* something to answer with, for HEAD */
            body = http_req_path(r).data;
            len = http_req_path(r).len;
        }
        answered(f);
        http_reply(r, 200, "text/plain", h, 1, body, len);
    } else if (strcmp(route, "async") == 0) {
        l = later_new(f, r);
        l->id = param_int(r, "id", 0);
        uv_timer_start(&l->t, async_fire, (uint64_t)param_int(r, "ms", 50), 0);
    } else if (strcmp(route, "stream") == 0) {
        l = later_new(f, r);
        l->n = param_int(r, "n", -1);
        assert_int_equal(http_req_on_close(r, stream_closed, l), 0);
        assert_int_equal(
            http_stream_start(r, 200, "text/event-stream", NULL, 0), 0);
        uv_timer_start(&l->t, stream_tick, 10, 10);
    } else if (strcmp(route, "big") == 0) {
        l = later_new(f, r);
        l->total = (size_t)param_int(r, "mb", 1) << 20;
        assert_int_equal(http_req_on_close(r, stream_closed, l), 0);
        http_req_on_drain(r, big_pump, l);
        assert_int_equal(
            http_stream_start(r, 200, "application/octet-stream", NULL, 0), 0);
        big_pump(l);
    } else if (strcmp(route, "headstream") == 0) {
        answered(f);
        assert_int_equal(http_stream_start(r, 200, "text/plain", NULL, 0), 0);
        assert_int_equal(http_stream_write(r, "x", 1), 0);
        http_stream_end(r);
    } else if (strcmp(route, "hold") == 0) {
        assert_int_equal(http_req_on_close(r, hold_closed, f), 0);
    } else if (strcmp(route, "error") == 0) {
        answered(f);
        http_reply_json_error(r, 409, "conflict",
                              "key \"%s\" exists\n\t\x01 \xc3\xa9 \xff end",
                              "a\\b");
    } else if (strcmp(route, "badhdr") == 0) {
        struct http_header h[] = {{"X-Evil", "a\r\nSet-Cookie: x=1"}};
        answered(f);
        http_reply(r, 200, "text/plain", h, 1, "no", 2);
    } else {
        answered(f);
        http_reply_json_error(r, 404, "not_found", "no route '%s'", route);
    }
}

static const struct http_callbacks app = {app_check, app_handle};

static void wake_cb(uv_async_t *a)
{
    (void)a; /* only wakes uv_run up */
}

static void guard_cb(uv_timer_t *t)
{
    struct fix *f = t->data;
    f->timed_out = true;
}

static void server_stopped(void *data)
{
    struct fix *f = data;
    f->stopped = true;
    f->srv = NULL;
}

static bool is_stopped(struct fix *f)
{
    return f->stopped;
}

/* Run the loop until @done(@f), or the guard fires (the test fails). */
static void run_until(struct fix *f, bool (*done)(struct fix *f))
{
    uv_timer_start(&f->guard, guard_cb, GUARD_MS, 0);
    while (!done(f) && !f->timed_out) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&f->guard);
    assert_false(f->timed_out);
}

static void start_server(struct fix *f, const struct http_limits *lim)
{
    char err[CAIRN_ERRMSG_SIZE];
    f->stopped = false;
    assert_int_equal(
        http_server_start(&f->loop, "127.0.0.1", 0, lim, &app, f, &f->srv, err),
        0);
    f->port = http_server_port(f->srv);
    assert_true(f->port > 0);
}

static void stop_server(struct fix *f)
{
    if (f->srv != NULL) {
        http_server_stop(f->srv, server_stopped, f);
        run_until(f, is_stopped);
    }
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_async_init(&f->loop, &f->wake, wake_cb);
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;
    start_server(f, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    stop_server(f);
    uv_close((uv_handle_t *)&f->wake, NULL);
    uv_close((uv_handle_t *)&f->guard, NULL);
    /* Every handle of the server and the application closes by itself. */
    while (uv_loop_alive(&f->loop) && !f->timed_out) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void *client_main(void *arg)
{
    struct fix *f = arg;
    f->client_fn(f, f->client_arg);
    atomic_store(&f->client_done, 1);
    uv_async_send(&f->wake);
    return NULL;
}

static bool client_is_done(struct fix *f)
{
    return atomic_load(&f->client_done) != 0;
}

static void client_start(struct fix *f, void (*fn)(struct fix *, void *),
                         void *arg)
{
    atomic_store(&f->client_done, 0);
    atomic_store(&f->client_phase, 0);
    f->client_fn = fn;
    f->client_arg = arg;
    assert_int_equal(pthread_create(&f->thread, NULL, client_main, f), 0);
}

static void client_wait(struct fix *f)
{
    run_until(f, client_is_done);
    pthread_join(f->thread, NULL);
}

/* Run @fn in the client thread while the loop serves it. */
static void run_client(struct fix *f, void (*fn)(struct fix *, void *),
                       void *arg)
{
    client_start(f, fn, arg);
    client_wait(f);
}

/* The client tells the loop thread it reached step @phase. */
static void client_phase(struct fix *f, int phase)
{
    atomic_store(&f->client_phase, phase);
    uv_async_send(&f->wake);
}

/* ------------------------------------------------------------------------
 * Scripts: a client and the requests it sends.
 * ---------------------------------------------------------------------- */

/* Send the NULL-terminated requests of @arg on one connection, one at a
 * time, each answer read before the next request is sent; then wait for
 * the close if the last answer said so. */
struct script {
    const char *reqs[MAX_RESP];
    bool pipeline; /* send all at once, then read */
    bool head;
    bool half_close; /* shut down the sending side after the requests */
    int answers;     /* pipelined: how many to read (0: one a request) */
    struct client cl;
};

static void run_script(struct fix *f, void *arg)
{
    struct script *s = arg;
    int n = 0;
    cl_open(&s->cl, f->port);
    s->cl.head = s->head;
    while (n < MAX_RESP && s->reqs[n] != NULL) {
        n++;
    }
    if (s->pipeline) {
        for (int i = 0; i < n; i++) {
            cl_send(&s->cl, s->reqs[i]);
        }
        if (s->half_close) {
            shutdown(s->cl.fd, SHUT_WR);
        }
        cl_read(&s->cl, s->answers != 0 ? s->answers : n);
    } else {
        for (int i = 0; i < n; i++) {
            cl_send(&s->cl, s->reqs[i]);
            if (i == n - 1 && s->half_close) {
                shutdown(s->cl.fd, SHUT_WR);
            }
            cl_read(&s->cl, i + 1);
        }
    }
    if (s->cl.n > 0 && !s->cl.r[s->cl.n - 1].keep_alive) {
        cl_wait_eof(&s->cl);
    }
    cl_close(&s->cl);
}

/* Assert that @r is a JSON error with @code and a message holding
 * @msg_part. */
static void assert_json_error(const struct resp *r, int status,
                              const char *code, const char *msg_part)
{
    json_error_t jerr;
    json_t *o;
    const char *ct = resp_header(r, "Content-Type");
    assert_int_equal(r->status, status);
    assert_non_null(ct);
    assert_string_equal(ct, "application/json");
    assert_non_null(resp_header(r, "Content-Length"));
    o = json_loadb(r->body, r->body_len, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "code")), code);
    assert_non_null(
        strstr(json_string_value(json_object_get(o, "error")), msg_part));
    json_decref(o);
}

/* ------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------- */

static void test_get_query_and_decoding(void **state)
{
    struct fix *f = *state;
    struct script s = {
        .reqs = {
            "GET /echo/a%2Fb/c%20d/x+y/?q=hello+world&x=%41%2B%26&flag&empty=&"
            "&q=second HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /echo/%00z HTTP/1.1\r\nHost: t\r\n\r\n", NULL}};
    struct seen *a = &f->seen[0], *b = &f->seen[1];
    run_client(f, run_script, &s);

    assert_int_equal(s.cl.n, 2);
    assert_int_equal(s.cl.r[0].status, 200);
    assert_int_equal(f->handled, 2);
    assert_string_equal(a->method, "GET");
    assert_string_equal(a->raw_path, "/echo/a%2Fb/c%20d/x+y/");
    assert_string_equal(a->path, "/echo/a/b/c d/x+y/");
    /* The encoded '/' stays inside its segment; '+' is no space in a
     * path; the trailing '/' leaves an empty segment. */
    assert_int_equal(a->n_segs, 5);
    assert_string_equal(a->segs[0], "echo");
    assert_string_equal(a->segs[1], "a/b");
    assert_string_equal(a->segs[2], "c d");
    assert_string_equal(a->segs[3], "x+y");
    assert_string_equal(a->segs[4], "");
    /* In the query '+' is a space; the first of two values counts. */
    assert_string_equal(a->q, "hello world");
    assert_string_equal(a->x, "A+&");
    assert_string_equal(a->flag, "");
    assert_string_equal(a->empty, "");
    assert_false(a->has_missing);
    assert_int_equal(a->content_length, -1);
    /* Keys may hold any byte, NUL included. */
    assert_int_equal(b->path_len, 8);
    assert_int_equal(b->n_segs, 2);
    assert_int_equal(b->seg_len[1], 2);
    assert_int_equal(b->segs[1][0], '\0');
    assert_int_equal(b->segs[1][1], 'z');
    assert_string_equal(resp_header(&s.cl.r[0], "X-Path"),
                        "/echo/a/b/c d/x+y/");
    cl_free(&s.cl);
}

static void test_bad_percent_escape(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /echo/a%zz HTTP/1.1\r\n\r\n", NULL}};
    struct script q = {.reqs = {"GET /echo?q=%4 HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    run_client(f, run_script, &q);
    assert_int_equal(s.cl.n, 1);
    assert_json_error(&s.cl.r[0], 400, "malformed", "path");
    assert_true(s.cl.eof);
    assert_json_error(&q.cl.r[0], 400, "malformed", "query");
    assert_int_equal(f->handled, 0);
    assert_int_equal(f->checks, 0);
    cl_free(&s.cl);
    cl_free(&q.cl);
}

static void test_post_content_length(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"POST /echo HTTP/1.1\r\nContent-Length: 11\r\n"
                                "Content-Type: text/x-test\r\n\r\n"
                                "hello world",
                                NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_int_equal(s.cl.r[0].status, 200);
    assert_string_equal(s.cl.r[0].body, "hello world");
    assert_string_equal(resp_header(&s.cl.r[0], "Content-Length"), "11");
    assert_string_equal(resp_header(&s.cl.r[0], "Content-Type"), "text/plain");
    assert_true(s.cl.r[0].keep_alive);
    assert_string_equal(f->seen[0].method, "POST");
    assert_int_equal(f->seen[0].content_length, 11);
    assert_string_equal(f->seen[0].ctype, "text/x-test");
    assert_int_equal(f->checks, 1);
    cl_free(&s.cl);
}

static void test_chunked_body(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"PUT /echo HTTP/1.1\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                                NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_int_equal(s.cl.r[0].status, 200);
    assert_string_equal(s.cl.r[0].body, "hello world");
    assert_int_equal(f->seen[0].body_len, 11);
    assert_int_equal(f->seen[0].content_length, -1);
    cl_free(&s.cl);
}

static void test_chunked_body_with_trailer(void **state)
{
    struct fix *f = *state;
    /* A trailer after the last chunk is read past (not kept as a header),
     * and the next request on the connection parses. */
    struct script s = {.reqs = {"POST /echo HTTP/1.1\r\n"
                                "Transfer-Encoding: chunked\r\n"
                                "Trailer: X-Trailer\r\n\r\n"
                                "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
                                "GET /echo?q=next HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 2);
    assert_string_equal(s.cl.r[0].body, "hello");
    assert_false(f->seen[0].has_trailer);
    assert_int_equal(s.cl.r[1].status, 200);
    assert_string_equal(f->seen[1].q, "next");
    cl_free(&s.cl);
}

static void test_chunked_body_too_large(void **state)
{
    struct fix *f = *state;
    struct http_limits lim = {.body_max = 8};
    struct script s = {.reqs = {"PUT /echo HTTP/1.1\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                                NULL}};
    stop_server(f);
    start_server(f, &lim);
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_json_error(&s.cl.r[0], 413, "too_large", "larger than 8 bytes");
    assert_true(s.cl.eof);
    assert_int_equal(f->handled, 0);
    cl_free(&s.cl);
}

static void test_pipelined_in_order(void **state)
{
    struct fix *f = *state;
    /* The first is answered 100 ms later, the second at once: answers
     * must still come in request order. */
    struct script s = {.pipeline = true,
                       .answers = 3,
                       .reqs = {"GET /async?id=1&ms=100 HTTP/1.1\r\n\r\n"
                                "GET /async?id=2&ms=1 HTTP/1.1\r\n\r\n",
                                "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n"
                                "\r\nabc",
                                NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 3);
    assert_string_equal(s.cl.r[0].body, "async 1");
    assert_string_equal(s.cl.r[1].body, "async 2");
    assert_string_equal(s.cl.r[2].body, "abc");
    assert_int_equal(f->max_answering, 1); /* one at a time */
    cl_free(&s.cl);
}

static void test_pipelined_then_malformed(void **state)
{
    struct fix *f = *state;
    /* The bad request waits in the input buffer while the first is with
     * the handler; it is refused once the first is answered. */
    struct script s = {.pipeline = true,
                       .answers = 3,
                       .reqs = {"GET /async?id=1&ms=50 HTTP/1.1\r\n\r\n"
                                "GET /echo?q=2 HTTP/1.1\r\n\r\n"
                                "GET /echo HTTP/1.1\r\nBad Header\r\n\r\n"
                                "GET /echo?q=never HTTP/1.1\r\n\r\n",
                                NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 3);
    assert_string_equal(s.cl.r[0].body, "async 1");
    assert_int_equal(s.cl.r[1].status, 200);
    assert_json_error(&s.cl.r[2], 400, "malformed", "HPE_INVALID_HEADER_TOKEN");
    assert_true(s.cl.eof);
    assert_int_equal(f->handled, 2);
    cl_free(&s.cl);
}

static void test_keep_alive_and_close(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /echo?q=1 HTTP/1.1\r\n\r\n",
                                "GET /echo?q=2 HTTP/1.1\r\n\r\n",
                                "GET /echo?q=3 HTTP/1.1\r\n"
                                "Connection: close\r\n\r\n",
                                NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 3);
    assert_true(s.cl.r[0].keep_alive);
    assert_true(s.cl.r[1].keep_alive);
    assert_null(resp_header(&s.cl.r[0], "Connection"));
    assert_string_equal(resp_header(&s.cl.r[2], "Connection"), "close");
    assert_true(s.cl.eof);
    assert_string_equal(f->seen[2].q, "3");
    cl_free(&s.cl);
}

static void test_upgrade_and_connect(void **state)
{
    struct fix *f = *state;
    /* No protocol switch here: the request is answered, then the
     * connection closes; CONNECT is refused. */
    struct script up = {.reqs = {"GET /echo HTTP/1.1\r\nConnection: Upgrade\r\n"
                                 "Upgrade: h2c\r\n\r\n",
                                 NULL}};
    struct script conn = {.reqs = {"CONNECT example.com:443 HTTP/1.1\r\n"
                                   "Host: example.com:443\r\n\r\n",
                                   NULL}};
    run_client(f, run_script, &up);
    assert_int_equal(up.cl.n, 1);
    assert_int_equal(up.cl.r[0].status, 200);
    assert_string_equal(resp_header(&up.cl.r[0], "Connection"), "close");
    assert_true(up.cl.eof);
    run_client(f, run_script, &conn);
    assert_int_equal(conn.cl.n, 1);
    assert_json_error(&conn.cl.r[0], 405, "method_not_allowed", "CONNECT");
    assert_true(conn.cl.eof);
    assert_int_equal(f->handled, 1);
    cl_free(&up.cl);
    cl_free(&conn.cl);
}

static void test_http10(void **state)
{
    struct fix *f = *state;
    struct script plain = {.reqs = {"GET /echo HTTP/1.0\r\n\r\n", NULL}};
    struct script ka = {.reqs = {"GET /echo HTTP/1.0\r\n"
                                 "Connection: keep-alive\r\n\r\n",
                                 "GET /echo?q=again HTTP/1.0\r\n\r\n", NULL}};
    run_client(f, run_script, &plain);
    assert_int_equal(plain.cl.n, 1);
    assert_int_equal(plain.cl.r[0].status, 200);
    assert_string_equal(resp_header(&plain.cl.r[0], "Connection"), "close");
    assert_true(plain.cl.eof);

    run_client(f, run_script, &ka);
    assert_int_equal(ka.cl.n, 2);
    assert_string_equal(resp_header(&ka.cl.r[0], "Connection"), "keep-alive");
    assert_string_equal(resp_header(&ka.cl.r[1], "Connection"), "close");
    assert_true(ka.cl.eof);
    assert_string_equal(f->seen[2].q, "again");
    cl_free(&plain.cl);
    cl_free(&ka.cl);
}

static void test_correlation_id(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /echo HTTP/1.1\r\n"
                                "x-correlation-id: req-42\r\n\r\n",
                                "GET /nothing HTTP/1.1\r\n"
                                "X-Correlation-Id: req-43\r\n\r\n",
                                "GET /echo HTTP/1.1\r\n\r\n",
                                "GET /refuse HTTP/1.1\r\n"
                                "X-Correlation-Id: req-44\r\n\r\n",
                                NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 4);
    assert_string_equal(resp_header(&s.cl.r[0], "X-Correlation-Id"), "req-42");
    assert_json_error(&s.cl.r[1], 404, "not_found", "no route 'nothing'");
    assert_string_equal(resp_header(&s.cl.r[1], "X-Correlation-Id"), "req-43");
    assert_null(resp_header(&s.cl.r[2], "X-Correlation-Id"));
    /* check()'s refusal, with its own code, echoes it too. */
    assert_json_error(&s.cl.r[3], 404, "bucket_not_found",
                      "bucket 'refuse' not found");
    assert_string_equal(resp_header(&s.cl.r[3], "X-Correlation-Id"), "req-44");
    cl_free(&s.cl);
}

static void test_check_refuses_before_body(void **state)
{
    struct fix *f = *state;
    struct http_limits lim = {.body_max = 1ull << 30};
    /* No body follows: the answer must come all the same. */
    struct script s = {.reqs = {"PUT /echo/k HTTP/1.1\r\n"
                                "Content-Length: 100000000\r\n"
                                "X-Correlation-Id: big\r\n\r\n",
                                NULL}};
    stop_server(f);
    start_server(f, &lim);
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_json_error(&s.cl.r[0], 413, "too_large",
                      "a value may have at most 4000000 bytes");
    assert_string_equal(resp_header(&s.cl.r[0], "Connection"), "close");
    assert_string_equal(resp_header(&s.cl.r[0], "X-Correlation-Id"), "big");
    assert_true(s.cl.eof);
    assert_int_equal(f->checks, 1);
    assert_int_equal(f->handled, 0);
    cl_free(&s.cl);
}

static void test_body_limit_before_check(void **state)
{
    struct fix *f = *state;
    /* Over the server's own limit (default 16 MiB + 64 KiB): refused
     * before check() is asked, even with Expect: 100-continue. */
    struct script s = {.reqs = {"PUT /echo/k HTTP/1.1\r\n"
                                "Content-Length: 100000000\r\n"
                                "Expect: 100-continue\r\n\r\n",
                                NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_json_error(&s.cl.r[0], 413, "too_large", "100000000 bytes");
    assert_true(s.cl.eof);
    assert_int_equal(f->checks, 0);
    assert_int_equal(f->handled, 0);
    cl_free(&s.cl);
}

static void expect_script(struct fix *f, void *arg)
{
    struct script *s = arg;
    cl_open(&s->cl, f->port);
    cl_send(&s->cl,
            "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n"
            "Expect: 100-continue\r\n\r\n");
    cl_read(&s->cl, 1); /* the go-ahead, before any body byte */
    cl_send(&s->cl, "hello");
    cl_read(&s->cl, 2);
    cl_close(&s->cl);
}

static void test_expect_continue(void **state)
{
    struct fix *f = *state;
    struct script s = {0};
    run_client(f, expect_script, &s);
    assert_int_equal(s.cl.n, 2);
    assert_int_equal(s.cl.r[0].status, 100);
    assert_int_equal(s.cl.r[1].status, 200);
    assert_string_equal(s.cl.r[1].body, "hello");
    cl_free(&s.cl);
}

static char *repeat(const char *head, char ch, size_t n, const char *tail)
{
    size_t h = strlen(head), t = strlen(tail);
    char *s = malloc(h + n + t + 1);
    assert_non_null(s);
    memcpy(s, head, h);
    memset(s + h, ch, n);
    memcpy(s + h + n, tail, t + 1);
    return s;
}

static void test_header_too_large(void **state)
{
    struct fix *f = *state;
    char *big =
        repeat("GET /echo HTTP/1.1\r\nX-Big: ", 'v', 17 * 1024, "\r\n\r\n");
    char many[8192] = "GET /echo HTTP/1.1\r\n";
    struct script s = {.reqs = {big, NULL}};
    struct script m = {.reqs = {many, NULL}};
    for (int i = 0; i < 101; i++) {
        snprintf(many + strlen(many), sizeof many - strlen(many),
                 "X-H%d: v\r\n", i);
    }
    strcat(many, "\r\n");
    run_client(f, run_script, &s);
    run_client(f, run_script, &m);
    assert_int_equal(s.cl.n, 1);
    assert_json_error(&s.cl.r[0], 431, "too_large", "16384 bytes");
    assert_true(s.cl.eof);
    assert_int_equal(m.cl.n, 1);
    assert_json_error(&m.cl.r[0], 431, "too_large", "more than 100 headers");
    assert_int_equal(f->handled, 0);
    free(big);
    cl_free(&s.cl);
    cl_free(&m.cl);
}

static void test_url_too_long(void **state)
{
    struct fix *f = *state;
    char *url = repeat("GET /echo/", 'k', 9 * 1024, " HTTP/1.1\r\n\r\n");
    char *fits = repeat("GET /echo/", 'k', 8000, " HTTP/1.1\r\n\r\n");
    struct script s = {.reqs = {url, NULL}};
    struct script ok = {.reqs = {fits, NULL}};
    run_client(f, run_script, &s);
    run_client(f, run_script, &ok);
    assert_int_equal(s.cl.n, 1);
    assert_json_error(&s.cl.r[0], 414, "too_large", "8192 bytes");
    assert_true(s.cl.eof);
    assert_int_equal(ok.cl.r[0].status, 200);
    assert_int_equal(f->handled, 1);
    free(url);
    free(fits);
    cl_free(&s.cl);
    cl_free(&ok.cl);
}

static void test_malformed_then_new_connection(void **state)
{
    struct fix *f = *state;
    struct script bad = {.reqs = {"GARBAGE\r\n\r\n", NULL}};
    struct script hdr = {
        .reqs = {"GET / HTTP/1.1\r\nNo Colon Here\r\n\r\n", NULL}};
    struct script ok = {.reqs = {"GET /echo HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &bad);
    assert_int_equal(bad.cl.n, 1);
    assert_json_error(&bad.cl.r[0], 400, "malformed", "HPE_INVALID_METHOD");
    assert_string_equal(resp_header(&bad.cl.r[0], "Connection"), "close");
    assert_true(bad.cl.eof);
    run_client(f, run_script, &hdr);
    assert_json_error(&hdr.cl.r[0], 400, "malformed", "HPE_");
    run_client(f, run_script, &ok);
    assert_int_equal(ok.cl.n, 1);
    assert_int_equal(ok.cl.r[0].status, 200);
    assert_int_equal(f->handled, 1);
    cl_free(&bad.cl);
    cl_free(&hdr.cl);
    cl_free(&ok.cl);
}

static void test_async_reply(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /async?id=7&ms=150 HTTP/1.1\r\n\r\n",
                                "GET /echo HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 2);
    assert_int_equal(f->async_fired, 1);
    assert_string_equal(s.cl.r[0].body, "async 7");
    assert_int_equal(s.cl.r[1].status, 200);
    cl_free(&s.cl);
}

static void test_half_close_still_answered(void **state)
{
    struct fix *f = *state;
    /* The client shuts down its sending side right after the request;
     * the answer (given later) still reaches it, then the server closes. */
    struct script s = {
        .half_close = true,
        .reqs = {"GET /async?id=9&ms=100 HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_string_equal(s.cl.r[0].body, "async 9");
    assert_string_equal(resp_header(&s.cl.r[0], "Connection"), "close");
    assert_true(s.cl.eof);
    cl_free(&s.cl);
}

static void test_stream(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /stream?n=3 HTTP/1.1\r\n"
                                "X-Correlation-Id: s1\r\n\r\n",
                                "GET /echo HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 2);
    assert_int_equal(s.cl.r[0].status, 200);
    assert_string_equal(resp_header(&s.cl.r[0], "Transfer-Encoding"),
                        "chunked");
    assert_null(resp_header(&s.cl.r[0], "Content-Length"));
    assert_string_equal(resp_header(&s.cl.r[0], "Content-Type"),
                        "text/event-stream");
    assert_string_equal(resp_header(&s.cl.r[0], "X-Correlation-Id"), "s1");
    assert_string_equal(s.cl.r[0].body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    assert_int_equal(s.cl.r[0].chunks, 4); /* 3 and the last, empty one */
    /* The connection carried on after the stream. */
    assert_int_equal(s.cl.r[1].status, 200);
    assert_int_equal(f->stream_closed, 0);
    cl_free(&s.cl);
}

static void test_stream_http10(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /stream?n=2 HTTP/1.0\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_null(resp_header(&s.cl.r[0], "Transfer-Encoding"));
    assert_string_equal(resp_header(&s.cl.r[0], "Connection"), "close");
    assert_string_equal(s.cl.r[0].body, "data: 0\n\ndata: 1\n\n");
    assert_true(s.cl.eof);
    cl_free(&s.cl);
}

static void test_head(void **state)
{
    struct fix *f = *state;
    struct script s = {.head = true,
                       .reqs = {"HEAD /echo HTTP/1.1\r\n\r\n",
                                "HEAD /headstream HTTP/1.1\r\n\r\n",
                                "HEAD /echo HTTP/1.1\r\n\r\n",
                                /* Ended from a timer, with nothing left
                                 * to write: the connection goes on. */
                                "HEAD /stream?n=1 HTTP/1.1\r\n\r\n",
                                "HEAD /echo HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 5);
    assert_int_equal(s.cl.r[0].status, 200);
    /* The length a GET would have, and no body. */
    assert_string_equal(resp_header(&s.cl.r[0], "Content-Length"), "5");
    assert_int_equal(s.cl.r[0].body_len, 0);
    assert_int_equal(s.cl.r[1].status, 200);
    assert_int_equal(s.cl.r[1].body_len, 0);
    /* No body bytes were sent where none belong: the next answer parsed. */
    assert_int_equal(s.cl.r[2].status, 200);
    assert_int_equal(s.cl.r[3].status, 200);
    assert_string_equal(resp_header(&s.cl.r[3], "Transfer-Encoding"),
                        "chunked");
    assert_int_equal(s.cl.r[4].status, 200);
    assert_false(s.cl.parse_error);
    cl_free(&s.cl);
}

static void disconnect_script(struct fix *f, void *arg)
{
    struct client *cl = arg;
    char buf[256];
    cl_open(cl, f->port);
    cl_send(cl, "GET /stream HTTP/1.1\r\n\r\n");
    /* The head and the first events, then go away mid-stream. */
    if (recv(cl->fd, buf, sizeof buf, 0) <= 0) {
        cl->failed = true;
    }
    cl_close(cl);
}

static bool stream_is_closed(struct fix *f)
{
    return f->stream_closed > 0;
}

static void test_stream_client_disconnects(void **state)
{
    struct fix *f = *state;
    struct client cl;
    run_client(f, disconnect_script, &cl);
    assert_false(cl.failed);
    run_until(f, stream_is_closed);
    assert_int_equal(f->stream_closed, 1);
    assert_int_equal(f->answering, 0);
    cl_free(&cl);
}

static void big_script(struct fix *f, void *arg)
{
    struct client *cl = arg;
    cl_open(cl, f->port);
    cl_send(cl, "GET /big?mb=8 HTTP/1.1\r\n\r\n");
    cl_read(cl, 1);
    cl_close(cl);
}

static void test_stream_backlog_and_drain(void **state)
{
    struct fix *f = *state;
    struct client cl;
    run_client(f, big_script, &cl);
    assert_int_equal(cl.n, 1);
    assert_int_equal(cl.r[0].body_len, 8u << 20);
    assert_int_equal(cl.r[0].body[0], 'a');
    assert_int_equal(cl.r[0].body[(8u << 20) - 1], 'a' + 31 % 26);
    /* The producer waited for drains rather than queueing 8 MiB. */
    assert_true(f->drains > 0);
    assert_true(f->max_backlog < (1u << 20) + (256u << 10) + 1024);
    cl_free(&cl);
}

static void test_json_error_escaping(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /error HTTP/1.1\r\n\r\n", NULL}};
    json_t *o;
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 1);
    assert_json_error(&s.cl.r[0], 409, "conflict", "exists");
    o = json_loadb(s.cl.r[0].body, s.cl.r[0].body_len, 0, NULL);
    assert_non_null(o);
    /* Quotes, backslash and controls escaped; valid UTF-8 kept; the
     * stray byte replaced. */
    assert_string_equal(json_string_value(json_object_get(o, "error")),
                        "key \"a\\b\" exists\n\t\x01 \xc3\xa9 ? end");
    assert_int_equal(json_object_size(o), 2);
    json_decref(o);
    assert_non_null(strstr(s.cl.r[0].body, "{\"error\": "));
    cl_free(&s.cl);
}

static void test_bad_reply_header(void **state)
{
    struct fix *f = *state;
    struct script s = {.reqs = {"GET /badhdr HTTP/1.1\r\n\r\n",
                                "GET /echo HTTP/1.1\r\n\r\n", NULL}};
    run_client(f, run_script, &s);
    assert_int_equal(s.cl.n, 2);
    assert_json_error(&s.cl.r[0], 500, "internal", "X-Evil");
    assert_null(resp_header(&s.cl.r[0], "Set-Cookie"));
    assert_int_equal(s.cl.r[1].status, 200);
    cl_free(&s.cl);
}

static void idle_script(struct fix *f, void *arg)
{
    struct client *cl = arg;
    cl_open(cl, f->port);
    cl_send(cl, "GET /echo HTTP/1.1\r\n\r\n");
    cl_read(cl, 1);
    cl_wait_eof(cl); /* idle now: the server closes it */
    cl_close(cl);
}

static void test_idle_timeout(void **state)
{
    struct fix *f = *state;
    struct http_limits lim = {.idle_timeout_ms = 100};
    struct client cl;
    uint64_t t0;
    stop_server(f);
    start_server(f, &lim);
    t0 = uv_hrtime();
    run_client(f, idle_script, &cl);
    assert_int_equal(cl.n, 1);
    assert_true(cl.eof);
    assert_false(cl.failed);
    assert_true(uv_hrtime() - t0 >= 100 * 1000000ull);
    cl_free(&cl);
}

static void limit_script(struct fix *f, void *arg)
{
    struct client *cl = arg; /* three of them */
    cl_open(&cl[0], f->port);
    cl_send(&cl[0], "GET /echo HTTP/1.1\r\n\r\n");
    cl_read(&cl[0], 1);
    cl_open(&cl[1], f->port); /* over the limit: closed at once */
    cl_send(&cl[1], "GET /echo HTTP/1.1\r\n\r\n");
    cl_wait_eof(&cl[1]);
    cl_close(&cl[0]);
    usleep(100 * 1000); /* let the server see the first one go */
    cl_open(&cl[2], f->port);
    cl_send(&cl[2], "GET /echo HTTP/1.1\r\n\r\n");
    cl_read(&cl[2], 1);
    cl_close(&cl[2]);
}

static void test_connection_limit(void **state)
{
    struct fix *f = *state;
    struct http_limits lim = {.connections_max = 1};
    struct client cl[3];
    stop_server(f);
    start_server(f, &lim);
    run_client(f, limit_script, cl);
    assert_int_equal(cl[0].n, 1);
    assert_int_equal(cl[1].n, 0);
    assert_true(cl[1].eof);
    assert_int_equal(cl[2].n, 1);
    assert_int_equal(cl[2].r[0].status, 200);
    for (int i = 0; i < 3; i++) {
        cl_free(&cl[i]);
    }
}

struct stop_clients {
    struct client idle, stream, hold, pending;
};

static void stop_script(struct fix *f, void *arg)
{
    struct stop_clients *s = arg;
    char buf[256];
    cl_open(&s->idle, f->port);
    cl_send(&s->idle, "GET /echo HTTP/1.1\r\n\r\n");
    cl_read(&s->idle, 1);
    cl_open(&s->stream, f->port);
    cl_send(&s->stream, "GET /stream HTTP/1.1\r\n\r\n");
    if (recv(s->stream.fd, buf, sizeof buf, 0) <= 0) {
        s->stream.failed = true;
    }
    cl_open(&s->hold, f->port);
    cl_send(&s->hold, "GET /hold HTTP/1.1\r\n\r\n");
    /* Answered 300 ms later, long after the stop, with no close
     * callback: the answer is dropped and the request freed then. */
    cl_open(&s->pending, f->port);
    cl_send(&s->pending, "GET /async?ms=300 HTTP/1.1\r\n\r\n");
    usleep(50 * 1000);
    client_phase(f, 1);
    cl_wait_eof(&s->idle);
    cl_drain_eof(&s->stream);
    cl_wait_eof(&s->hold);
    cl_wait_eof(&s->pending);
}

static bool client_in_phase_1(struct fix *f)
{
    return atomic_load(&f->client_phase) == 1 && f->handled == 4;
}

static bool async_has_fired(struct fix *f)
{
    return f->async_fired > 0;
}

static void test_stop_with_open_connections(void **state)
{
    struct fix *f = *state;
    struct stop_clients s;
    memset(&s, 0, sizeof s);
    client_start(f, stop_script, &s);
    run_until(f, client_in_phase_1);
    http_server_stop(f->srv, server_stopped, f);
    run_until(f, is_stopped);
    assert_int_equal(f->stream_closed, 1);
    assert_int_equal(f->hold_closed, 1);
    assert_int_equal(f->async_fired, 0);
    client_wait(f);
    assert_true(s.idle.eof);
    assert_true(s.stream.eof);
    assert_true(s.hold.eof);
    assert_true(s.pending.eof);
    assert_int_equal(s.pending.n, 0);
    run_until(f, async_has_fired); /* its answer goes nowhere */
    cl_free(&s.idle);
    cl_free(&s.stream);
    cl_free(&s.hold);
    cl_free(&s.pending);
}

static void test_start_errors(void **state)
{
    struct fix *f = *state;
    struct http_server *srv = NULL;
    struct http_callbacks no_handle = {NULL, NULL};
    char err[CAIRN_ERRMSG_SIZE];
    assert_int_equal(http_server_start(&f->loop, "127.0.0.1", f->port, NULL,
                                       &app, f, &srv, err),
                     CAIRN_EIO);
    assert_non_null(strstr(err, "http listen 127.0.0.1:"));
    assert_non_null(strstr(err, "address already in use"));
    assert_null(srv);
    assert_int_equal(
        http_server_start(&f->loop, "localhost", 0, NULL, &app, f, &srv, err),
        CAIRN_EINVAL);
    assert_non_null(strstr(err, "'localhost' is not an IP address"));
    assert_int_equal(http_server_start(&f->loop, "127.0.0.1", 70000, NULL, &app,
                                       f, &srv, err),
                     CAIRN_EINVAL);
    assert_int_equal(http_server_start(&f->loop, "127.0.0.1", 0, NULL,
                                       &no_handle, f, &srv, err),
                     CAIRN_EINVAL);
    /* The failed listener's handle is closed by the teardown's loop. */
}

/* curl, when installed: a 2 MiB PUT (curl asks for 100-continue on large
 * bodies, and would wait 1 s for it if it never came). */
struct curl_run {
    char cmd[512];
    char out[256];
    int rc;
    bool continued; /* the server's "100 Continue" reached curl */
};

static void curl_script(struct fix *f, void *arg)
{
    struct curl_run *c = arg;
    char path[] = "/tmp/cairn_http_curl_XXXXXX";
    int fd = mkstemp(path);
    static char body[2 << 20];
    char hdr[sizeof path + 8], line[256];
    FILE *p;
    memset(body, 'z', sizeof body);
    if (fd < 0 || write(fd, body, sizeof body) != (ssize_t)sizeof body) {
        c->rc = -1;
        return;
    }
    close(fd);
    snprintf(hdr, sizeof hdr, "%s.hdr", path);
    /* -D keeps every header block curl received, the interim 100 too. */
    snprintf(c->cmd, sizeof c->cmd,
             "curl -s -S -o /dev/null -D %s "
             "-w '%%{http_code} %%{size_download}' "
             "-H 'X-Correlation-Id: curl' -T %s "
             "'http://127.0.0.1:%d/echo/k%%2Fey?q=a+b'",
             hdr, path, f->port);
    p = popen(c->cmd, "r");
    if (p == NULL) {
        c->rc = -1;
    } else {
        if (fgets(c->out, sizeof c->out, p) == NULL) {
            c->out[0] = '\0';
        }
        c->rc = pclose(p);
    }
    if ((p = fopen(hdr, "r")) != NULL) {
        while (fgets(line, sizeof line, p) != NULL) {
            if (strncmp(line, "HTTP/1.1 100 Continue", 21) == 0) {
                c->continued = true;
            }
        }
        fclose(p);
    }
    unlink(hdr);
    unlink(path);
}

static void test_curl_smoke(void **state)
{
    struct fix *f = *state;
    struct curl_run c = {0};
    if (system("command -v curl >/dev/null 2>&1") != 0) {
        skip(); /* curl is not installed */
    }
    run_client(f, curl_script, &c);
    assert_int_equal(c.rc, 0);
    assert_string_equal(c.out, "200 2097152");
    /* curl asked for the go-ahead and the server gave it (without it,
     * curl sends the body anyway after its own timeout). */
    assert_string_equal(f->seen[0].expect, "100-continue");
    assert_true(c.continued);
    assert_string_equal(f->seen[0].method, "PUT");
    assert_string_equal(f->seen[0].segs[1], "k/ey");
    assert_string_equal(f->seen[0].q, "a b");
    assert_int_equal(f->seen[0].content_length, 2 << 20);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_get_query_and_decoding),
        T(test_bad_percent_escape),
        T(test_post_content_length),
        T(test_chunked_body),
        T(test_chunked_body_with_trailer),
        T(test_chunked_body_too_large),
        T(test_pipelined_in_order),
        T(test_pipelined_then_malformed),
        T(test_keep_alive_and_close),
        T(test_upgrade_and_connect),
        T(test_http10),
        T(test_correlation_id),
        T(test_check_refuses_before_body),
        T(test_body_limit_before_check),
        T(test_expect_continue),
        T(test_header_too_large),
        T(test_url_too_long),
        T(test_malformed_then_new_connection),
        T(test_async_reply),
        T(test_half_close_still_answered),
        T(test_stream),
        T(test_stream_http10),
        T(test_head),
        T(test_stream_client_disconnects),
        T(test_stream_backlog_and_drain),
        T(test_json_error_escaping),
        T(test_bad_reply_header),
        T(test_idle_timeout),
        T(test_connection_limit),
        T(test_stop_with_open_connections),
        T(test_start_errors),
        T(test_curl_smoke),
    };
#undef T
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("http_unit_server", tests, NULL, NULL);
}
