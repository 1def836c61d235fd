/*
 * cairn-test-client — a small synchronous client of the client protocol
 * (docs/protocol.md) for the multi-process cluster tests: the shell scripts
 * of tests/cluster/ start cairnd nodes and drive them with it.
 *
 * One command per run and one request in flight at a time, on a blocking
 * IPv4 socket whose every wait is a poll() with a timeout. Frames are
 * encoded and decoded by the codec of client/wire.h. This is a test tool,
 * not the client library (libcairn): it keeps nothing between runs and
 * knows of the cluster only the --addr list and the "leader" of 421
 * answers.
 *
 * Output: one item per line on stdout, for grep and awk. A failure is one
 * line on stderr:
 *   error: status=<http status> code=<short code> [leader=<addr>] <message>
 *       a node answered with an error (exit 1);
 *   error: connect <addr>: <reason>
 *       no answer: the connection was refused, lost or timed out, or the
 *       answer could not be decoded (exit 3).
 * Exit codes: 0 success, 1 a node answered with an error, 2 usage (or an
 * ACKFILE that cannot be read or written), 3 no answer (after the retries
 * of --follow).
 *
 * --follow: a 421 is followed to its "leader" (at most HOPS_MAX hops in a
 * row); a 503, 429 or 504, a connection failure, a timeout, or a run of
 * HOPS_MAX redirects is retried after RETRY_WAIT_MS on the next --addr
 * entry, until the deadline has passed. The deadline only stops retries: a
 * request that needs none is sent even after it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "wire.h"

#define PROG "cairn-test-client"
#define DEFAULT_ADDR "127.0.0.1:7401"
#define DEFAULT_TIMEOUT_MS 5000
#define FOLLOW_DEADLINE_MS 10000 /* --follow, verify, wait-leader */
#define WRITER_DEADLINE_MS 60000
#define RETRY_WAIT_MS 100
#define HOPS_MAX 8
#define ADDRS_MAX 16
#define ADDR_SIZE (CAIRN_WIRE_ADDRESS_MAX + 1)
#define IN_SIZE (64u << 10)     /* bytes read from the socket at a time */
#define CLOSE_WAIT_MS 1000      /* raw-hex: how long to wait for a close */
#define WRITER_KEYS_MAX 999999u /* writer keys end in 6 digits */
#define WRITER_DIGITS 6
#define MS_MAX 86400000 /* a day: the largest --timeout-ms, --deadline-ms */

/* Exit codes. */
enum {
    RC_OK = 0,
    RC_REFUSED = 1,    /* a node answered with an error */
    RC_USAGE = 2,      /* bad arguments, or a local file error */
    RC_UNREACHABLE = 3 /* no answer: connect, lost connection, timeout */
};

/* How a request went. */
enum call {
    CALL_OK,      /* status 200 */
    CALL_REFUSED, /* an error response, in client.res */
    CALL_FAILED,  /* no usable response; client.errmsg says why */
    CALL_INVALID, /* the request could not be encoded; client.errmsg */
};

/* How a socket operation went. */
enum io { IO_OK, IO_CLOSED, IO_TIMEOUT, IO_ERROR };

/* ------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void errf(char *errmsg,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, CAIRN_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
}

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A decimal number without sign or spaces. Returns 0, or -1. */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* A decimal number, possibly negative. Returns 0, or -1. */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (*s != '-' && (*s < '0' || *s > '9')) {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* "a.b.c.d:port" (port 1..65535). Returns 0, or -1. */
static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    char host[INET_ADDRSTRLEN];
    uint64_t port;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof host) {
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 ||
        parse_u64(colon + 1, &port) != 0 || port == 0 || port > 65535) {
        return -1;
    }
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

/* Copy the NUL-terminated @src into @dst (@cap bytes). Returns 0, or -1
 * when it does not fit. */
static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

static void print_bytes(const void *p, size_t len)
{
    if (len > 0) {
        fwrite(p, 1, len, stdout);
    }
}

static void print_str(struct cairn_wire_str s)
{
    print_bytes(s.ptr, s.len);
}

static bool str_is(struct cairn_wire_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* ------------------------------------------------------------------------
 * One connection: frames over a socket
 * ---------------------------------------------------------------------- */

struct conn {
    int fd;               /* -1: not connected */
    char addr[ADDR_SIZE]; /* the address of fd, or of the last attempt */
    int timeout_ms;       /* per connect and per request */
    uint64_t next_id;
    struct cairn_wire_reader reader;
    bool pending;   /* bytes fed to the reader may hold more frames */
    uint8_t *in;    /* (owned) IN_SIZE bytes: what recv() fills */
    uint8_t *frame; /* (owned) the body of the last frame read */
    size_t frame_len;
    size_t frame_cap;
    struct cairn_wire_buf out;
};

static int conn_init(struct conn *c, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->frame_cap = 4096;
    c->in = malloc(IN_SIZE);
    c->frame = malloc(c->frame_cap);
    if (c->in == NULL || c->frame == NULL) {
        free(c->in);
        free(c->frame);
        return -1;
    }
    cairn_wire_reader_init(&c->reader);
    cairn_wire_buf_init(&c->out);
    return 0;
}

/* Close the socket (if open) and forget the bytes read from it. */
static void conn_disconnect(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    cairn_wire_reader_close(&c->reader);
    cairn_wire_reader_init(&c->reader);
    c->pending = false;
}

static void conn_close(struct conn *c)
{
    conn_disconnect(c);
    cairn_wire_reader_close(&c->reader);
    cairn_wire_buf_close(&c->out);
    free(c->in);
    free(c->frame);
}

/* Wait until @fd is ready for @events or the clock reaches @until. */
static enum io wait_fd(int fd, short events, int64_t until, int timeout_ms,
                       char *errmsg)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left = until - now_ms();
        int n;
        if (left <= 0) {
            errf(errmsg, "timed out after %d ms", timeout_ms);
            return IO_TIMEOUT;
        }
        n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0) {
            return IO_OK; /* errors and hangups show in send/recv */
        }
        if (n < 0 && errno != EINTR) {
            errf(errmsg, "poll: %s", strerror(errno));
            return IO_ERROR;
        }
    }
}

/* Connect to @addr within the timeout; the socket stays blocking, and
 * every later wait on it is a poll(). */
static enum io conn_open(struct conn *c, const char *addr, char *errmsg)
{
    struct sockaddr_in sa;
    int64_t until = now_ms() + c->timeout_ms;
    int fd, err = 0, one = 1;
    socklen_t len = sizeof err;
    enum io io;

    conn_disconnect(c);
    if (copy_str(c->addr, sizeof c->addr, addr) != 0) {
        snprintf(c->addr, sizeof c->addr, "%.*s...", ADDR_SIZE - 4, addr);
    }
    if (parse_addr(addr, &sa) != 0) {
        errf(errmsg, "not an IPv4 address a.b.c.d:port");
        return IO_ERROR;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        errf(errmsg, "socket: %s", strerror(errno));
        return IO_ERROR;
    }
    if (connect(fd, (const struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS) {
            errf(errmsg, "%s", strerror(errno));
            io = IO_ERROR;
            goto err_after_socket;
        }
        io = wait_fd(fd, POLLOUT, until, c->timeout_ms, errmsg);
        if (io != IO_OK) {
            goto err_after_socket;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
        }
        if (err != 0) {
            errf(errmsg, "%s", strerror(err));
            io = IO_ERROR;
            goto err_after_socket;
        }
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        errf(errmsg, "fcntl: %s", strerror(errno));
        io = IO_ERROR;
        goto err_after_socket;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->next_id = 1;
    return IO_OK;

err_after_socket:
    close(fd);
    return io;
}

static enum io conn_send(struct conn *c, const void *data, size_t len,
                         int64_t until, char *errmsg)
{
    const uint8_t *p = data;
    while (len > 0) {
        enum io io = wait_fd(c->fd, POLLOUT, until, c->timeout_ms, errmsg);
        ssize_t n;
        if (io != IO_OK) {
            return io;
        }
        n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            p += n;
            len -= (size_t)n;
        } else if (errno == EPIPE || errno == ECONNRESET) {
            errf(errmsg, "connection lost (send: %s)", strerror(errno));
            return IO_CLOSED;
        } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            errf(errmsg, "send: %s", strerror(errno));
            return IO_ERROR;
        }
    }
    return IO_OK;
}

/* Read what the socket has (at least one byte) into c->in. */
static enum io conn_recv(struct conn *c, size_t *got, int64_t until,
                         char *errmsg)
{
    for (;;) {
        enum io io = wait_fd(c->fd, POLLIN, until, c->timeout_ms, errmsg);
        ssize_t n;
        if (io != IO_OK) {
            return io;
        }
        n = recv(c->fd, c->in, IN_SIZE, MSG_DONTWAIT);
        if (n > 0) {
            *got = (size_t)n;
            return IO_OK;
        }
        if (n == 0) {
            errf(errmsg, "connection closed by peer");
            return IO_CLOSED;
        }
        if (errno == ECONNRESET) {
            errf(errmsg, "connection reset by peer");
            return IO_CLOSED;
        }
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            errf(errmsg, "recv: %s", strerror(errno));
            return IO_ERROR;
        }
    }
}

/* Keep a copy of frame body @body in c->frame: the reader's view expires
 * at its next call, and a decoded response points into the copy. */
static enum io conn_keep_frame(struct conn *c, const void *body, size_t len,
                               char *errmsg)
{
    if (len > c->frame_cap) {
        uint8_t *p = realloc(c->frame, len);
        if (p == NULL) {
            errf(errmsg, "out of memory for a frame of %zu bytes", len);
            return IO_ERROR;
        }
        c->frame = p;
        c->frame_cap = len;
    }
    if (len > 0) {
        memcpy(c->frame, body, len);
    }
    c->frame_len = len;
    return IO_OK;
}

/* Read the next frame into c->frame. */
static enum io conn_read_frame(struct conn *c, int64_t until, char *errmsg)
{
    for (;;) {
        size_t got;
        enum io io;
        if (c->pending) {
            const void *body;
            size_t len;
            if (cairn_wire_reader_next(&c->reader, &body, &len) != 0) {
                errf(errmsg, "bad frame: %s", c->reader.errmsg);
                return IO_ERROR;
            }
            if (body != NULL) {
                return conn_keep_frame(c, body, len, errmsg);
            }
            c->pending = false;
        }
        io = conn_recv(c, &got, until, errmsg);
        if (io != IO_OK) {
            return io;
        }
        if (cairn_wire_reader_feed(&c->reader, c->in, got) != 0) {
            errf(errmsg, "bad frame: %s", c->reader.errmsg);
            return IO_ERROR;
        }
        c->pending = true;
    }
}

/* Wait up to @ms for the peer to close the connection, discarding what it
 * sends meanwhile. Returns true when it closed (or reset) it. */
static bool conn_wait_close(struct conn *c, int ms)
{
    int64_t until = now_ms() + ms;
    char errmsg[CAIRN_ERRMSG_SIZE];
    uint8_t buf[4096];
    for (;;) {
        ssize_t n;
        if (wait_fd(c->fd, POLLIN, until, ms, errmsg) != IO_OK) {
            return false;
        }
        n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
    }
}

/* ------------------------------------------------------------------------
 * Requests and responses
 * ---------------------------------------------------------------------- */

/* What to send; the fields .op uses are set, the rest are zero. */
struct request {
    uint32_t op; /* enum cairn_wire_op */
    const char *bucket;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    uint64_t rev;                       /* update: required; 0 elsewhere */
    bool stale;                         /* get, exists, history */
    const struct cairn_wire_scan *scan; /* scan, count */
    const cairn_bucket_config *config;  /* bucket.create */
    uint64_t node;                      /* node.remove */
};

static int request_encode(struct cairn_wire_buf *out, uint64_t id,
                          const struct request *rq, char *errmsg)
{
    struct cairn_write w = {.key = rq->key,
                            .key_len = rq->key_len,
                            .value = rq->value,
                            .value_len = rq->value_len};
    switch (rq->op) {
        case CAIRN_WIRE_HELLO: {
            /* CAIRN_TEST_HELLO_VERSION: speak another version, to test
             * the node's refusal. */
            const char *v = getenv("CAIRN_TEST_HELLO_VERSION");
            return cairn_wire_encode_hello(
                out, id, v != NULL ? strtoull(v, NULL, 10) : CAIRN_WIRE_VERSION,
                PROG, errmsg);
        }
        case CAIRN_WIRE_BUCKET_CREATE:
            return cairn_wire_encode_bucket_create(out, id, rq->config, errmsg);
        case CAIRN_WIRE_BUCKET_DELETE:
            return cairn_wire_encode_bucket_delete(out, id, rq->bucket, errmsg);
        case CAIRN_WIRE_BUCKET_LIST:
            return cairn_wire_encode_bucket_list(out, id, errmsg);
        case CAIRN_WIRE_BUCKET_INFO:
            /* Always this node's own replica: what the tests inspect. */
            return cairn_wire_encode_bucket_info(out, id, rq->bucket, true,
                                                 errmsg);
        case CAIRN_WIRE_GET:
            return cairn_wire_encode_get(out, id, rq->bucket, rq->key,
                                         rq->key_len, 0, rq->stale, errmsg);
        case CAIRN_WIRE_EXISTS:
            return cairn_wire_encode_exists(out, id, rq->bucket, rq->key,
                                            rq->key_len, rq->stale, errmsg);
        case CAIRN_WIRE_PUT:
            return cairn_wire_encode_put(out, id, rq->bucket, &w, NULL, errmsg);
        case CAIRN_WIRE_CREATE:
            return cairn_wire_encode_create(out, id, rq->bucket, &w, NULL,
                                            errmsg);
        case CAIRN_WIRE_UPDATE:
            return cairn_wire_encode_update(out, id, rq->bucket, &w, rq->rev,
                                            NULL, errmsg);
        case CAIRN_WIRE_DELETE:
            return cairn_wire_encode_delete(out, id, rq->bucket, rq->key,
                                            rq->key_len, 0, NULL, errmsg);
        case CAIRN_WIRE_PURGE:
            return cairn_wire_encode_purge(out, id, rq->bucket, rq->key,
                                           rq->key_len, 0, NULL, errmsg);
        case CAIRN_WIRE_HISTORY:
            return cairn_wire_encode_history(out, id, rq->bucket, rq->key,
                                             rq->key_len, rq->stale, errmsg);
        case CAIRN_WIRE_SCAN:
            return cairn_wire_encode_scan(out, id, rq->bucket, rq->scan,
                                          errmsg);
        case CAIRN_WIRE_COUNT:
            return cairn_wire_encode_count(out, id, rq->bucket, rq->scan,
                                           errmsg);
        case CAIRN_WIRE_CLUSTER_STATUS:
            return cairn_wire_encode_cluster_status(out, id, errmsg);
        case CAIRN_WIRE_NODE_REMOVE:
            return cairn_wire_encode_node_remove(out, id, rq->node, errmsg);
        default:
            errf(errmsg, "op %" PRIu32 " is not supported", rq->op);
            return CAIRN_EINVAL;
    }
}

/* Decode c->frame as the response to request @id of @op into @res. */
static enum call conn_decode(struct conn *c, uint32_t op, uint64_t id,
                             struct cairn_wire_response *res, char *errmsg)
{
    char msg[CAIRN_ERRMSG_SIZE];
    if (cairn_wire_response_decode(c->frame, c->frame_len, res, msg) != 0) {
        errf(errmsg, "bad response to '%s': %s", cairn_wire_op_name(op), msg);
        goto err;
    }
    if (res->id == 0 && res->status != 200) {
        /* The node could not read our frame; it closes the connection. */
        conn_disconnect(c);
        return CALL_REFUSED;
    }
    if (res->id != id) {
        errf(errmsg, "response id %" PRIu64 " to request %" PRIu64, res->id,
             id);
        goto err;
    }
    if (cairn_wire_response_check(res, op, msg) != 0) {
        errf(errmsg, "bad response: %s", msg);
        goto err;
    }
    return res->status == 200 ? CALL_OK : CALL_REFUSED;

err:
    conn_disconnect(c);
    return CALL_FAILED;
}

/* Send @rq on the open connection @c and read its response into @res (a
 * released or zeroed response; views into c->frame). On CALL_FAILED the
 * connection is closed. */
static enum call conn_call(struct conn *c, const struct request *rq,
                           struct cairn_wire_response *res, char *errmsg)
{
    uint64_t id = c->next_id++;
    int64_t until;
    char msg[CAIRN_ERRMSG_SIZE];

    cairn_wire_buf_reset(&c->out);
    if (request_encode(&c->out, id, rq, msg) != 0) {
        errf(errmsg, "encode '%s': %s", cairn_wire_op_name(rq->op), msg);
        return CALL_INVALID;
    }
    until = now_ms() + c->timeout_ms;
    if (conn_send(c, c->out.data, c->out.len, until, errmsg) != IO_OK ||
        conn_read_frame(c, until, errmsg) != IO_OK) {
        conn_disconnect(c);
        return CALL_FAILED;
    }
    return conn_decode(c, rq->op, id, res, errmsg);
}

/* ------------------------------------------------------------------------
 * The client: addresses, hello, redirects and retries
 * ---------------------------------------------------------------------- */

struct options {
    char addrs[ADDRS_MAX][ADDR_SIZE];
    size_t n_addrs;
    int timeout_ms;
    int64_t deadline_ms; /* 0: the command's default */
    bool follow;
    bool stale;
};

struct client {
    const struct options *opt; /* (borrowed) */
    size_t cur;                /* the --addr entry to connect to next */
    char redirect[ADDR_SIZE];  /* non-empty: connect here next (a leader) */
    bool follow;
    int64_t deadline_ms; /* how long --follow retries */
    int64_t deadline;    /* now_ms() after which retries stop */
    struct conn conn;
    struct cairn_wire_response res; /* the last response (views) */
    char errmsg[CAIRN_ERRMSG_SIZE]; /* why the last call failed */
};

/* Send @rq on the open connection; the response lands in cl->res. */
static enum call client_exchange(struct client *cl, const struct request *rq)
{
    cairn_wire_response_release(&cl->res);
    memset(&cl->res, 0, sizeof cl->res);
    return conn_call(&cl->conn, rq, &cl->res, cl->errmsg);
}

static enum call client_hello(struct client *cl)
{
    struct request rq = {.op = CAIRN_WIRE_HELLO};
    enum call rc = client_exchange(cl, &rq);
    if (rc == CALL_OK && cl->res.version != CAIRN_WIRE_VERSION) {
        errf(cl->errmsg, "hello: the node speaks version %" PRIu64,
             cl->res.version);
        rc = CALL_FAILED;
    }
    if (rc != CALL_OK) {
        conn_disconnect(&cl->conn); /* a refused hello is closed anyway */
    }
    return rc;
}

/* Connect (to the redirect, else the current --addr entry) and say hello,
 * unless connected already. */
static enum call client_connect(struct client *cl)
{
    const char *addr;
    if (cl->conn.fd >= 0) {
        return CALL_OK;
    }
    addr = cl->redirect[0] != '\0' ? cl->redirect : cl->opt->addrs[cl->cur];
    if (conn_open(&cl->conn, addr, cl->errmsg) != IO_OK) {
        cl->redirect[0] = '\0';
        return CALL_FAILED;
    }
    cl->redirect[0] = '\0';
    return client_hello(cl);
}

/* One try: connect if needed, then send @rq. */
static enum call client_attempt(struct client *cl, const struct request *rq)
{
    enum call rc = client_connect(cl);
    return rc == CALL_OK ? client_exchange(cl, rq) : rc;
}

/* Give up on the current node: the next try goes to the next --addr. */
static void client_rotate(struct client *cl)
{
    conn_disconnect(&cl->conn);
    cl->redirect[0] = '\0';
    cl->cur = (cl->cur + 1) % cl->opt->n_addrs;
}

/* Whether --follow tries again after @rc (with status @status). */
static bool call_retryable(enum call rc, int status)
{
    return rc == CALL_FAILED ||
           (rc == CALL_REFUSED &&
            (status == 421 || status == 429 || status == 503 || status == 504));
}

/* Send @rq; with --follow, follow redirects and retry until the deadline
 * (see the top of the file). The response is in cl->res until the next
 * call. */
static enum call client_call(struct client *cl, const struct request *rq)
{
    int hops = 0;
    for (;;) {
        enum call rc = client_attempt(cl, rq);
        if (rc == CALL_OK || !cl->follow) {
            return rc;
        }
        if (rc == CALL_REFUSED && cl->res.status == 421 &&
            (cl->res.has & CAIRN_WIRE_RES_LEADER) && hops < HOPS_MAX &&
            cl->res.leader.len < sizeof cl->redirect) {
            hops++;
            memcpy(cl->redirect, cl->res.leader.ptr, cl->res.leader.len);
            cl->redirect[cl->res.leader.len] = '\0';
            conn_disconnect(&cl->conn);
            continue;
        }
        if (!call_retryable(rc, cl->res.status) || now_ms() >= cl->deadline) {
            return rc;
        }
        hops = 0;
        client_rotate(cl);
        sleep_ms(RETRY_WAIT_MS);
    }
}

static void print_error_response(const struct cairn_wire_response *res)
{
    fprintf(stderr, "error: status=%d code=", res->status);
    fwrite(res->code.ptr, 1, res->code.len, stderr);
    if (res->has & CAIRN_WIRE_RES_LEADER) {
        fputs(" leader=", stderr);
        fwrite(res->leader.ptr, 1, res->leader.len, stderr);
    }
    fputc(' ', stderr);
    fwrite(res->error.ptr, 1, res->error.len, stderr);
    fputc('\n', stderr);
}

/* Print the error line of a call that did not succeed; returns the exit
 * code that goes with it. */
static int client_report(const struct client *cl, enum call rc)
{
    switch (rc) {
        case CALL_OK:
            return RC_OK;
        case CALL_REFUSED:
            print_error_response(&cl->res);
            return RC_REFUSED;
        case CALL_FAILED:
            fprintf(stderr, "error: connect %s: %s\n", cl->conn.addr,
                    cl->errmsg);
            return RC_UNREACHABLE;
        case CALL_INVALID:
            fprintf(stderr, "error: %s\n", cl->errmsg);
            return RC_USAGE;
    }
    return RC_USAGE;
}

/* Send @rq and report a failure; returns the exit code (RC_OK: cl->res
 * holds the 200 response). */
static int client_run(struct client *cl, const struct request *rq)
{
    return client_report(cl, client_call(cl, rq));
}

/* ------------------------------------------------------------------------
 * Commands
 * ---------------------------------------------------------------------- */

struct command {
    const char *name;
    int min_args; /* after the command's name */
    int max_args;
    uint32_t op;         /* for commands shared by several ops */
    bool follow;         /* implies --follow */
    int64_t deadline_ms; /* the default of --deadline-ms; 0: the usual */
    int (*run)(struct client *cl, const struct command *cmd, char **args,
               int n_args);
};

static const char *op_text(uint32_t op)
{
    switch (op) {
        case CAIRN_OP_PUT:
            return "put";
        case CAIRN_OP_DEL:
            return "delete";
        case CAIRN_OP_PURGE:
            return "purge";
        default:
            return "?";
    }
}

static void print_node(const struct cairn_wire_node *n)
{
    printf("node %" PRIu64 " name=", n->id);
    print_str(n->name);
    fputs(" client=", stdout);
    print_str(n->client);
    fputs(" peer=", stdout);
    print_str(n->peer);
    fputs(" tags=", stdout);
    for (uint32_t i = 0; i < n->n_tags; i++) {
        if (i > 0) {
            putchar(',');
        }
        print_str(n->tags[i]);
    }
    if (n->n_tags == 0) {
        putchar('-');
    }
    fputs(" cluster=", stdout);
    print_str(n->cluster);
    fputs(" role=", stdout);
    if (n->role.len > 0) {
        print_str(n->role);
    } else {
        putchar('-');
    }
    putchar('\n');
}

static void print_bucket_status(const struct cairn_wire_bucket_status *b)
{
    uint64_t leader = 0;
    for (uint32_t i = 0; i < b->n_replicas; i++) {
        if (b->replicas[i].leader) {
            leader = b->replicas[i].node;
        }
    }
    fputs("bucket ", stdout);
    print_str(b->name);
    printf(" leader=%" PRIu64 " replicas=", leader);
    for (uint32_t i = 0; i < b->n_replicas; i++) {
        printf("%s%" PRIu64, i > 0 ? "," : "", b->replicas[i].node);
    }
    fputs(" applied=", stdout);
    for (uint32_t i = 0; i < b->n_replicas; i++) {
        printf("%s%" PRIu64, i > 0 ? "," : "", b->replicas[i].applied);
    }
    putchar('\n');
}

static int cmd_status(struct client *cl, const struct command *cmd, char **args,
                      int n_args)
{
    struct request rq = {.op = CAIRN_WIRE_CLUSTER_STATUS};
    int rc = client_run(cl, &rq);
    (void)cmd, (void)args, (void)n_args;
    if (rc != RC_OK) {
        return rc;
    }
    for (uint32_t i = 0; i < cl->res.n_nodes; i++) {
        print_node(&cl->res.nodes[i]);
    }
    for (uint32_t i = 0; i < cl->res.n_buckets; i++) {
        print_bucket_status(&cl->res.buckets[i]);
    }
    return RC_OK;
}

/* The leader of bucket @name in a cluster.status response. */
static bool status_leader(const struct cairn_wire_response *res,
                          const char *name, uint64_t *leader)
{
    for (uint32_t i = 0; i < res->n_buckets; i++) {
        const struct cairn_wire_bucket_status *b = &res->buckets[i];
        if (!str_is(b->name, name)) {
            continue;
        }
        for (uint32_t j = 0; j < b->n_replicas; j++) {
            if (b->replicas[j].leader) {
                *leader = b->replicas[j].node;
                return true;
            }
        }
    }
    return false;
}

static int cmd_wait_leader(struct client *cl, const struct command *cmd,
                           char **args, int n_args)
{
    struct request rq = {.op = CAIRN_WIRE_CLUSTER_STATUS};
    (void)cmd, (void)n_args;
    for (;;) {
        enum call rc = client_attempt(cl, &rq);
        uint64_t leader;
        if (rc == CALL_OK && status_leader(&cl->res, args[0], &leader)) {
            printf("%" PRIu64 "\n", leader);
            return RC_OK;
        }
        if (rc == CALL_INVALID) {
            return client_report(cl, rc);
        }
        if (rc != CALL_OK) {
            client_rotate(cl);
        }
        if (now_ms() >= cl->deadline) {
            if (rc != CALL_OK) {
                (void)client_report(cl, rc);
            }
            fprintf(stderr,
                    "error: wait-leader: bucket '%s' has no leader after "
                    "%" PRId64 " ms\n",
                    args[0], cl->deadline_ms);
            return RC_UNREACHABLE;
        }
        sleep_ms(RETRY_WAIT_MS);
    }
}

/* "tags=a:b,c:d" of bucket-create. */
static int config_tags(cairn_bucket_config *cfg, const char *list, char *errmsg)
{
    const char *p = list;
    cfg->n_tags = 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len > CAIRN_TAG_MAX) {
            errf(errmsg, "tags: a tag must have 1..%d bytes", CAIRN_TAG_MAX);
            return -1;
        }
        if (cfg->n_tags == CAIRN_TAGS_MAX) {
            errf(errmsg, "tags: at most %d tags", CAIRN_TAGS_MAX);
            return -1;
        }
        memcpy(cfg->tags[cfg->n_tags], p, len);
        cfg->tags[cfg->n_tags][len] = '\0';
        cfg->n_tags++;
        p += len + (comma != NULL);
    }
    return 0;
}

/* A config number: 0, or -1 with @errmsg set. */
static int config_u32(const char *key, const char *v, uint32_t *out,
                      char *errmsg)
{
    uint64_t u;
    if (parse_u64(v, &u) != 0 || u > UINT32_MAX) {
        errf(errmsg, "%s: '%s' is not a number 0..%" PRIu32, key, v,
             UINT32_MAX);
        return -1;
    }
    *out = (uint32_t)u;
    return 0;
}

static int config_i64(const char *key, const char *v, int64_t *out,
                      char *errmsg)
{
    if (parse_i64(v, out) != 0) {
        errf(errmsg, "%s: '%s' is not a 64-bit integer", key, v);
        return -1;
    }
    return 0;
}

static int config_text(const char *key, const char *v, char *dst, size_t cap,
                       char *errmsg)
{
    if (copy_str(dst, cap, v) != 0) {
        errf(errmsg, "%s: longer than %zu bytes", key, cap - 1);
        return -1;
    }
    return 0;
}

/* One KEY=VALUE argument of bucket-create. Values are not validated here
 * (the node does, so tests see its answer); they only have to fit the
 * config's fields. */
static int config_set(cairn_bucket_config *cfg, char *arg, char *errmsg)
{
    char *eq = strchr(arg, '=');
    const char *k = arg, *v;
    if (eq == NULL) {
        errf(errmsg, "'%s' is not KEY=VALUE", arg);
        return -1;
    }
    *eq = '\0'; /* argv strings are ours to modify */
    v = eq + 1;
    if (strcmp(k, "replicas") == 0) {
        return config_u32(k, v, &cfg->num_replicas, errmsg);
    } else if (strcmp(k, "history") == 0) {
        return config_u32(k, v, &cfg->history, errmsg);
    } else if (strcmp(k, "ttl") == 0) {
        return config_i64(k, v, &cfg->ttl_ns, errmsg);
    } else if (strcmp(k, "max_value_size") == 0) {
        return config_i64(k, v, &cfg->max_value_size, errmsg);
    } else if (strcmp(k, "max_bytes") == 0) {
        return config_i64(k, v, &cfg->max_bytes, errmsg);
    } else if (strcmp(k, "tags") == 0) {
        return config_tags(cfg, v, errmsg);
    } else if (strcmp(k, "cluster") == 0) {
        return config_text(k, v, cfg->cluster, sizeof cfg->cluster, errmsg);
    } else if (strcmp(k, "description") == 0) {
        return config_text(k, v, cfg->description, sizeof cfg->description,
                           errmsg);
    } else if (strcmp(k, "storage") == 0 && strcmp(v, "file") == 0) {
        cfg->storage = CAIRN_STORAGE_FILE;
    } else if (strcmp(k, "storage") == 0 && strcmp(v, "memory") == 0) {
        cfg->storage = CAIRN_STORAGE_MEMORY;
    } else if (strcmp(k, "compression") == 0 &&
               (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)) {
        cfg->compression = strcmp(v, "true") == 0;
    } else {
        *eq = '=';
        errf(errmsg, "bad config argument '%s'", arg);
        return -1;
    }
    return 0;
}

static int cmd_bucket_create(struct client *cl, const struct command *cmd,
                             char **args, int n_args)
{
    cairn_bucket_config cfg;
    struct request rq = {.op = CAIRN_WIRE_BUCKET_CREATE, .config = &cfg};
    char errmsg[CAIRN_ERRMSG_SIZE];
    int rc;
    (void)cmd;
    if (strlen(args[0]) > CAIRN_BUCKET_NAME_MAX) {
        fprintf(stderr, "error: bucket-create: name longer than %d bytes\n",
                CAIRN_BUCKET_NAME_MAX);
        return RC_USAGE;
    }
    cairn_bucket_config_init(&cfg, args[0]);
    for (int i = 1; i < n_args; i++) {
        if (config_set(&cfg, args[i], errmsg) != 0) {
            fprintf(stderr, "error: bucket-create: %s\n", errmsg);
            return RC_USAGE;
        }
    }
    rc = client_run(cl, &rq);
    if (rc == RC_OK) {
        printf("created %" PRIu64 "\n", cl->res.created);
    }
    return rc;
}

static int cmd_bucket_delete(struct client *cl, const struct command *cmd,
                             char **args, int n_args)
{
    struct request rq = {.op = CAIRN_WIRE_BUCKET_DELETE, .bucket = args[0]};
    int rc = client_run(cl, &rq);
    (void)cmd, (void)n_args;
    if (rc == RC_OK) {
        puts("deleted");
    }
    return rc;
}

static int cmd_bucket_list(struct client *cl, const struct command *cmd,
                           char **args, int n_args)
{
    struct request rq = {.op = CAIRN_WIRE_BUCKET_LIST};
    int rc = client_run(cl, &rq);
    (void)cmd, (void)args, (void)n_args;
    for (uint32_t i = 0; rc == RC_OK && i < cl->res.n_buckets; i++) {
        print_str(cl->res.buckets[i].name);
        putchar('\n');
    }
    return rc;
}

static int cmd_bucket_info(struct client *cl, const struct command *cmd,
                           char **args, int n_args)
{
    struct request rq = {.op = CAIRN_WIRE_BUCKET_INFO, .bucket = args[0]};
    const struct cairn_wire_bucket_info *info;
    int rc = client_run(cl, &rq);
    (void)cmd, (void)n_args;
    if (rc != RC_OK) {
        return rc;
    }
    info = cl->res.info;
    printf("keys=%" PRIu64 " bytes=%" PRIu64 " rev=%" PRIu64 " replicas=",
           info->keys, info->bytes, info->rev);
    for (uint32_t i = 0; i < info->n_replicas; i++) {
        printf("%s%" PRIu64 "%s", i > 0 ? "," : "", info->replicas[i].node,
               info->replicas[i].leader ? "*" : "");
    }
    putchar('\n');
    return RC_OK;
}

/* A request on key args[1] of bucket args[0]. */
static struct request key_request(uint32_t op, char **args)
{
    struct request rq = {.op = op,
                         .bucket = args[0],
                         .key = args[1],
                         .key_len = strlen(args[1])};
    return rq;
}

/* put, create, update BUCKET KEY VALUE [REV]; delete, purge BUCKET KEY:
 * print the new revision. */
static int cmd_write(struct client *cl, const struct command *cmd, char **args,
                     int n_args)
{
    struct request rq = key_request(cmd->op, args);
    int rc;
    if (n_args >= 3) {
        rq.value = args[2];
        rq.value_len = strlen(args[2]);
    }
    if (cmd->op == CAIRN_WIRE_UPDATE && parse_u64(args[3], &rq.rev) != 0) {
        fprintf(stderr, "error: update: bad REV '%s'\n", args[3]);
        return RC_USAGE;
    }
    rc = client_run(cl, &rq);
    if (rc == RC_OK) {
        printf("%" PRIu64 "\n", cl->res.rev);
    }
    return rc;
}

static int cmd_get(struct client *cl, const struct command *cmd, char **args,
                   int n_args)
{
    struct request rq = key_request(CAIRN_WIRE_GET, args);
    const struct cairn_wire_entry *e = &cl->res.entry;
    int rc;
    (void)cmd, (void)n_args;
    rq.stale = cl->opt->stale;
    rc = client_run(cl, &rq);
    if (rc != RC_OK) {
        return rc;
    }
    if (e->has_value) {
        print_bytes(e->value, e->value_len);
    }
    putchar('\n');
    if (cl->opt->stale && (cl->res.has & CAIRN_WIRE_RES_AT)) {
        printf("at=%" PRIu64 "\n", cl->res.at);
    }
    return RC_OK;
}

static int cmd_exists(struct client *cl, const struct command *cmd, char **args,
                      int n_args)
{
    struct request rq = key_request(CAIRN_WIRE_EXISTS, args);
    int rc;
    (void)cmd, (void)n_args;
    rq.stale = cl->opt->stale;
    rc = client_run(cl, &rq);
    if (rc == RC_OK && cl->res.exists) {
        printf("true %" PRIu64 "\n", cl->res.rev);
    } else if (rc == RC_OK) {
        puts("false");
    }
    return rc;
}

static int cmd_history(struct client *cl, const struct command *cmd,
                       char **args, int n_args)
{
    struct request rq = key_request(CAIRN_WIRE_HISTORY, args);
    int rc;
    (void)cmd, (void)n_args;
    rq.stale = cl->opt->stale;
    rc = client_run(cl, &rq);
    for (uint32_t i = 0; rc == RC_OK && i < cl->res.n_entries; i++) {
        const struct cairn_wire_entry *e = &cl->res.entries[i];
        printf("%" PRIu64 " %s", e->revision, op_text(e->op));
        if (e->has_value) {
            putchar(' ');
            print_bytes(e->value, e->value_len);
        }
        putchar('\n');
    }
    return rc;
}

/* scan BUCKET [PREFIX]: every page, following the cursors. */
static int cmd_scan(struct client *cl, const struct command *cmd, char **args,
                    int n_args)
{
    uint8_t cursor[CAIRN_WIRE_CURSOR_MAX];
    struct cairn_wire_scan s = {.stale = cl->opt->stale};
    struct request rq = {.op = CAIRN_WIRE_SCAN, .bucket = args[0], .scan = &s};
    (void)cmd;
    if (n_args == 2) {
        s.prefix = args[1];
        s.prefix_len = strlen(args[1]);
    }
    for (;;) {
        int rc = client_run(cl, &rq);
        if (rc != RC_OK) {
            return rc;
        }
        for (uint32_t i = 0; i < cl->res.n_entries; i++) {
            const struct cairn_wire_entry *e = &cl->res.entries[i];
            print_bytes(e->key, e->key_len);
            if (e->has_value) {
                putchar(' ');
                print_bytes(e->value, e->value_len);
            }
            putchar('\n');
        }
        if (!cl->res.more) {
            return RC_OK;
        }
        if (!(cl->res.has & CAIRN_WIRE_RES_CURSOR) ||
            cl->res.cursor_len > sizeof cursor) {
            errf(cl->errmsg, "scan: more=true without a usable cursor");
            return client_report(cl, CALL_FAILED);
        }
        memcpy(cursor, cl->res.cursor, cl->res.cursor_len);
        s.cursor = cursor;
        s.cursor_len = cl->res.cursor_len;
    }
}

static int cmd_count(struct client *cl, const struct command *cmd, char **args,
                     int n_args)
{
    struct cairn_wire_scan s = {.stale = cl->opt->stale};
    struct request rq = {.op = CAIRN_WIRE_COUNT, .bucket = args[0], .scan = &s};
    int rc;
    (void)cmd;
    if (n_args == 2) {
        s.prefix = args[1];
        s.prefix_len = strlen(args[1]);
    }
    rc = client_run(cl, &rq);
    if (rc == RC_OK) {
        printf("%" PRIu64 "\n", cl->res.count);
    }
    return rc;
}

static int cmd_node_remove(struct client *cl, const struct command *cmd,
                           char **args, int n_args)
{
    struct request rq = {.op = CAIRN_WIRE_NODE_REMOVE};
    int rc;
    (void)cmd, (void)n_args;
    if (parse_u64(args[0], &rq.node) != 0) {
        fprintf(stderr, "error: node-remove: bad node id '%s'\n", args[0]);
        return RC_USAGE;
    }
    rc = client_run(cl, &rq);
    if (rc == RC_OK) {
        puts("removed");
    }
    return rc;
}

/* Append "KEY REV" to the ack file and make it durable. */
static int ack_append(FILE *f, const char *key, uint64_t rev)
{
    if (fprintf(f, "%s %" PRIu64 "\n", key, rev) < 0 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        return -1;
    }
    return 0;
}

/* writer BUCKET PREFIX N ACKFILE */
static int cmd_writer(struct client *cl, const struct command *cmd, char **args,
                      int n_args)
{
    char key[CAIRN_KEY_MAX + 1];
    char value[32];
    uint64_t n;
    uint32_t acked = 0;
    int rc = RC_OK;
    FILE *f;
    (void)cmd, (void)n_args;
    if (parse_u64(args[2], &n) != 0 || n > WRITER_KEYS_MAX) {
        fprintf(stderr, "error: writer: N must be 0..%u\n", WRITER_KEYS_MAX);
        return RC_USAGE;
    }
    if (strlen(args[1]) + WRITER_DIGITS > CAIRN_KEY_MAX) {
        fprintf(stderr, "error: writer: PREFIX is too long\n");
        return RC_USAGE;
    }
    f = fopen(args[3], "a");
    if (f == NULL) {
        fprintf(stderr, "error: writer: open %s: %s\n", args[3],
                strerror(errno));
        return RC_USAGE;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct request rq = {.op = CAIRN_WIRE_PUT, .bucket = args[0]};
        enum call call;
        snprintf(key, sizeof key, "%s%06" PRIu32, args[1], i);
        snprintf(value, sizeof value, "v%" PRIu32, i);
        rq.key = key;
        rq.key_len = strlen(key);
        rq.value = value;
        rq.value_len = strlen(value);
        call = client_call(cl, &rq);
        if (call != CALL_OK) {
            rc = client_report(cl, call);
            if (call_retryable(call, cl->res.status)) {
                rc = RC_UNREACHABLE; /* the deadline passed */
            }
            break;
        }
        if (ack_append(f, key, cl->res.rev) != 0) {
            fprintf(stderr, "error: writer: write %s: %s\n", args[3],
                    strerror(errno));
            rc = RC_USAGE;
            break;
        }
        acked++;
    }
    if (fclose(f) != 0 && rc == RC_OK) {
        fprintf(stderr, "error: writer: close %s: %s\n", args[3],
                strerror(errno));
        rc = RC_USAGE;
    }
    printf("acked %" PRIu32 "\n", acked);
    return rc;
}

/* The number a writer key ends with (its last WRITER_DIGITS characters). */
static int writer_key_number(const char *key, size_t len, uint32_t *out)
{
    uint32_t v = 0;
    if (len < WRITER_DIGITS) {
        return -1;
    }
    for (size_t i = len - WRITER_DIGITS; i < len; i++) {
        if (key[i] < '0' || key[i] > '9') {
            return -1;
        }
        v = v * 10 + (uint32_t)(key[i] - '0');
    }
    *out = v;
    return 0;
}

/* Check one acknowledged key: 0 (right), 1 (missing or wrong: printed),
 * or -1 (the read failed: *rc is the exit code). */
static int verify_key(struct client *cl, const char *bucket, const char *key,
                      uint32_t number, int *rc)
{
    char want[32];
    struct request rq = {.op = CAIRN_WIRE_GET,
                         .bucket = bucket,
                         .key = key,
                         .key_len = strlen(key)};
    const struct cairn_wire_entry *e = &cl->res.entry;
    enum call call = client_call(cl, &rq);
    snprintf(want, sizeof want, "v%" PRIu32, number);
    if (call == CALL_REFUSED && cl->res.status == 404 &&
        str_is(cl->res.code, cairn_errname(CAIRN_ENOTFOUND))) {
        printf("missing %s\n", key);
        return 1;
    }
    if (call != CALL_OK) {
        *rc = client_report(cl, call);
        if (call_retryable(call, cl->res.status)) {
            *rc = RC_UNREACHABLE;
        }
        return -1;
    }
    if (e->has_value && e->value_len == strlen(want) &&
        memcmp(e->value, want, e->value_len) == 0) {
        return 0;
    }
    printf("wrong %s ", key);
    if (e->has_value) {
        print_bytes(e->value, e->value_len);
    } else {
        fputs("(no value)", stdout);
    }
    putchar('\n');
    return 1;
}

/* verify BUCKET ACKFILE */
static int cmd_verify(struct client *cl, const struct command *cmd, char **args,
                      int n_args)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t ok = 0, bad = 0, lineno = 0;
    int rc = RC_OK;
    FILE *f = fopen(args[1], "r");
    (void)cmd, (void)n_args;
    if (f == NULL) {
        fprintf(stderr, "error: verify: open %s: %s\n", args[1],
                strerror(errno));
        return RC_USAGE;
    }
    while (rc == RC_OK && (len = getline(&line, &cap, f)) >= 0) {
        char *space;
        uint64_t rev;
        uint32_t number;
        int r;
        lineno++;
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        if (len == 0) {
            continue;
        }
        space = strrchr(line, ' ');
        if (space == NULL || parse_u64(space + 1, &rev) != 0 ||
            writer_key_number(line, (size_t)(space - line), &number) != 0) {
            fprintf(stderr, "error: verify: %s:%" PRIu64 ": not 'KEY REV'\n",
                    args[1], lineno);
            rc = RC_USAGE;
            break;
        }
        *space = '\0';
        r = verify_key(cl, args[0], line, number, &rc);
        ok += r == 0;
        bad += r == 1;
    }
    free(line);
    fclose(f);
    if (rc != RC_OK) {
        return rc;
    }
    if (bad > 0) {
        return RC_REFUSED;
    }
    printf("ok %" PRIu64 "\n", ok);
    return RC_OK;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decode the hex string @hex into a new buffer (*out, free() it). */
static int hex_decode(const char *hex, uint8_t **out, size_t *out_len)
{
    size_t n = strlen(hex);
    uint8_t *b;
    if (n == 0 || n % 2 != 0) {
        return -1;
    }
    b = malloc(n / 2);
    if (b == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return -1;
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = b;
    *out_len = n / 2;
    return 0;
}

/* raw-hex HEX: after the hello, send HEX's bytes as they are, print the
 * answer's status, code and id (and "message=..." of an error), then
 * "closed" if the node closes the connection within CLOSE_WAIT_MS. */
static int cmd_raw_hex(struct client *cl, const struct command *cmd,
                       char **args, int n_args)
{
    struct conn *c = &cl->conn;
    uint8_t *bytes;
    size_t len;
    enum call call;
    int64_t until;
    int rc = RC_OK;
    (void)cmd, (void)n_args;
    if (hex_decode(args[0], &bytes, &len) != 0) {
        fprintf(stderr, "error: raw-hex: '%s' is not hex bytes\n", args[0]);
        return RC_USAGE;
    }
    call = client_connect(cl);
    if (call != CALL_OK) {
        rc = client_report(cl, call);
        goto out;
    }
    until = now_ms() + c->timeout_ms;
    if (conn_send(c, bytes, len, until, cl->errmsg) != IO_OK ||
        conn_read_frame(c, until, cl->errmsg) != IO_OK) {
        rc = client_report(cl, CALL_FAILED);
        goto out;
    }
    cairn_wire_response_release(&cl->res);
    if (cairn_wire_response_decode(c->frame, c->frame_len, &cl->res,
                                   cl->errmsg) != 0) {
        rc = client_report(cl, CALL_FAILED);
        goto out;
    }
    printf("status=%d code=", cl->res.status);
    if (cl->res.has & CAIRN_WIRE_RES_CODE) {
        print_str(cl->res.code);
    } else {
        putchar('-');
    }
    printf(" id=%" PRIu64 "\n", cl->res.id);
    if (cl->res.status != 200 && cl->res.error.len > 0) {
        printf("message=%.*s\n", (int)cl->res.error.len, cl->res.error.ptr);
    }
    fflush(stdout);
    if (conn_wait_close(c, CLOSE_WAIT_MS)) {
        puts("closed");
    }
out:
    free(bytes);
    return rc;
}

static const struct command commands[] = {
    {"status", 0, 0, 0, false, 0, cmd_status},
    {"bucket-create", 1, 1 + 32, 0, false, 0, cmd_bucket_create},
    {"bucket-delete", 1, 1, 0, false, 0, cmd_bucket_delete},
    {"bucket-list", 0, 0, 0, false, 0, cmd_bucket_list},
    {"bucket-info", 1, 1, 0, false, 0, cmd_bucket_info},
    {"put", 3, 3, CAIRN_WIRE_PUT, false, 0, cmd_write},
    {"create", 3, 3, CAIRN_WIRE_CREATE, false, 0, cmd_write},
    {"update", 4, 4, CAIRN_WIRE_UPDATE, false, 0, cmd_write},
    {"delete", 2, 2, CAIRN_WIRE_DELETE, false, 0, cmd_write},
    {"purge", 2, 2, CAIRN_WIRE_PURGE, false, 0, cmd_write},
    {"get", 2, 2, 0, false, 0, cmd_get},
    {"exists", 2, 2, 0, false, 0, cmd_exists},
    {"history", 2, 2, 0, false, 0, cmd_history},
    {"scan", 1, 2, 0, false, 0, cmd_scan},
    {"count", 1, 2, 0, false, 0, cmd_count},
    {"node-remove", 1, 1, 0, false, 0, cmd_node_remove},
    {"writer", 4, 4, 0, true, WRITER_DEADLINE_MS, cmd_writer},
    {"verify", 2, 2, 0, true, 0, cmd_verify},
    {"wait-leader", 1, 1, 0, false, 0, cmd_wait_leader},
    {"raw-hex", 1, 1, 0, false, 0, cmd_raw_hex},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* ------------------------------------------------------------------------
 * Command line
 * ---------------------------------------------------------------------- */

/* The numbers in it are DEFAULT_TIMEOUT_MS, FOLLOW_DEADLINE_MS,
 * WRITER_DEADLINE_MS, HOPS_MAX, RETRY_WAIT_MS and CLOSE_WAIT_MS. */
/* clang-format off */
static const char usage_text[] =
    "usage: cairn-test-client [--addr A[,B,...]] [--timeout-ms N]\n"
    "         [--deadline-ms N] [--follow] [--stale] CMD ARGS...\n"
    "A synchronous client of cairnd's client protocol, for the cluster\n"
    "tests.\n"
    "\n"
    "options:\n"
    "  --addr A[,B,...]  node client addresses a.b.c.d:port, tried in\n"
    "                    order (default 127.0.0.1:7401)\n"
    "  --timeout-ms N    timeout of each connect and request (default 5000)\n"
    "  --deadline-ms N   how long --follow and wait-leader keep retrying,\n"
    "                    from the start (default 10000; writer: 60000)\n"
    "  --follow          follow 421 to the leader (8 hops in a row); after\n"
    "                    503, 429, 504, a connection failure or a timeout,\n"
    "                    wait 100 ms and retry on the next address, until\n"
    "                    the deadline\n"
    "  --stale           stale reads (get, exists, history, scan, count)\n"
    "  -h, --help        print this help and exit\n"
    "\n"
    "commands:\n"
    "  status               \"node ID name= client= peer= tags= cluster=\n"
    "                       role=\" and \"bucket NAME leader= replicas=\n"
    "                       applied=\" lines\n"
    "  bucket-create NAME [KEY=VALUE...]\n"
    "                       prints \"created NS\"; KEY: replicas, history,\n"
    "                       ttl (ns), max_value_size, max_bytes,\n"
    "                       tags (k:v,k:v), cluster, description,\n"
    "                       storage (file|memory), compression (true|false)\n"
    "  bucket-delete NAME   prints \"deleted\"\n"
    "  bucket-list          one name per line\n"
    "  bucket-info NAME     \"keys=N bytes=N rev=N replicas=ID[*],...\"\n"
    "  put BUCKET KEY VALUE\n"
    "  create BUCKET KEY VALUE\n"
    "  update BUCKET KEY VALUE REV\n"
    "                       print the new revision\n"
    "  delete BUCKET KEY\n"
    "  purge BUCKET KEY     print the marker's revision\n"
    "  get BUCKET KEY       the value (with --stale, then \"at=N\")\n"
    "  exists BUCKET KEY    \"true REV\" or \"false\"\n"
    "  history BUCKET KEY   \"REV OP [VALUE]\" per revision, newest first\n"
    "  scan BUCKET [PREFIX] \"KEY VALUE\" per key, following cursors\n"
    "  count BUCKET [PREFIX]\n"
    "                       the number of keys\n"
    "  node-remove ID       prints \"removed\"\n"
    "  writer BUCKET PREFIX N ACKFILE\n"
    "                       put PREFIX%06d=v<i> for i < N, appending\n"
    "                       \"KEY REV\" to ACKFILE per acknowledged write;\n"
    "                       prints \"acked N\" (implies --follow)\n"
    "  verify BUCKET ACKFILE\n"
    "                       get each key of ACKFILE: prints \"ok N\", or\n"
    "                       \"missing KEY\" and \"wrong KEY VALUE\" lines\n"
    "                       (implies --follow)\n"
    "  wait-leader BUCKET   poll every 100 ms until the bucket has a\n"
    "                       leader; prints its node id (exit 3 after\n"
    "                       --deadline-ms)\n"
    "  raw-hex HEX          after the hello, send HEX's bytes as they are;\n"
    "                       prints \"status=N code=C id=N\" of the answer\n"
    "                       (and \"message=M\" of an error), then\n"
    "                       \"closed\" if the node closes the connection\n"
    "                       within 1 s\n"
    "\n"
    "exit status: 0 success, 1 the node answered with an error, 2 usage\n"
    "(or an ACKFILE error), 3 no answer (connect failed, connection lost,\n"
    "timeout)\n";
/* clang-format on */

static void usage(FILE *f)
{
    fputs(usage_text, f);
}

/* Split "A,B,..." into o->addrs. */
static int parse_addr_list(const char *list, struct options *o)
{
    const char *p = list;
    o->n_addrs = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        struct sockaddr_in sa;
        char *a;
        if (o->n_addrs == ADDRS_MAX || len >= ADDR_SIZE) {
            return -1;
        }
        a = o->addrs[o->n_addrs];
        memcpy(a, p, len);
        a[len] = '\0';
        if (parse_addr(a, &sa) != 0) {
            return -1;
        }
        o->n_addrs++;
        if (comma == NULL) {
            return 0;
        }
        p = comma + 1;
    }
}

static int parse_ms(const char *s, int64_t min, int64_t *out)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v > MS_MAX || (int64_t)v < min) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* Returns -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"addr", required_argument, NULL, 'a'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"deadline-ms", required_argument, NULL, 'd'},
        {"follow", no_argument, NULL, 'f'},
        {"stale", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t ms;
    int opt;
    memset(o, 0, sizeof *o);
    o->timeout_ms = DEFAULT_TIMEOUT_MS;
    (void)parse_addr_list(DEFAULT_ADDR, o);
    /* "+": options end at the command, so its arguments may start with
     * '-'. */
    while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (opt) {
            case 'a':
                if (parse_addr_list(optarg, o) != 0) {
                    fprintf(stderr, "error: --addr: bad address list '%s'\n",
                            optarg);
                    return RC_USAGE;
                }
                break;
            case 't':
                if (parse_ms(optarg, 1, &ms) != 0) {
                    fprintf(stderr, "error: --timeout-ms: bad value '%s'\n",
                            optarg);
                    return RC_USAGE;
                }
                o->timeout_ms = (int)ms;
                break;
            case 'd':
                if (parse_ms(optarg, 0, &o->deadline_ms) != 0) {
                    fprintf(stderr, "error: --deadline-ms: bad value '%s'\n",
                            optarg);
                    return RC_USAGE;
                }
                break;
            case 'f':
                o->follow = true;
                break;
            case 's':
                o->stale = true;
                break;
            case 'h':
                usage(stdout);
                return RC_OK;
            default:
                usage(stderr);
                return RC_USAGE;
        }
    }
    return -1;
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct options opt;
    struct client cl;
    const struct command *cmd;
    int n_args, rc = parse_options(argc, argv, &opt);
    if (rc >= 0) {
        return rc;
    }
    if (optind >= argc) {
        usage(stderr);
        return RC_USAGE;
    }
    cmd = find_command(argv[optind]);
    n_args = argc - optind - 1;
    if (cmd == NULL) {
        fprintf(stderr, "error: unknown command '%s'\n", argv[optind]);
        usage(stderr);
        return RC_USAGE;
    }
    if (n_args < cmd->min_args || n_args > cmd->max_args) {
        fprintf(stderr, "error: %s: wrong number of arguments\n", cmd->name);
        usage(stderr);
        return RC_USAGE;
    }

    memset(&cl, 0, sizeof cl);
    cl.opt = &opt;
    cl.follow = opt.follow || cmd->follow;
    cl.deadline_ms = opt.deadline_ms != 0    ? opt.deadline_ms
                     : cmd->deadline_ms != 0 ? cmd->deadline_ms
                                             : FOLLOW_DEADLINE_MS;
    cl.deadline = now_ms() + cl.deadline_ms;
    if (conn_init(&cl.conn, opt.timeout_ms) != 0) {
        fprintf(stderr, "error: out of memory\n");
        return RC_UNREACHABLE;
    }
    rc = cmd->run(&cl, cmd, argv + optind + 1, n_args);
    cairn_wire_response_release(&cl.res);
    conn_close(&cl.conn);
    if (fflush(stdout) != 0 && rc == RC_OK) {
        rc = RC_USAGE;
    }
    return rc;
}
