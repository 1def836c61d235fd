/*
 * The peer transport: one listening TCP port per node, shared by every Raft
 * group of the node, and a `struct raft_uv_transport` per group that
 * raft_uv uses to accept and to open connections (transport.h).
 *
 * How raft_uv uses a transport (canonical/raft 0.15, src/uv_recv.c and
 * src/uv_send.c), which this file has to fit:
 *
 * - An accepted stream is handed to raft with the accept callback; raft
 *   calls uv_read_start() on it with its own callbacks, reads messages from
 *   its first byte on, and frees the handle with raft_free() after closing
 *   it. So the stream must come from raft_malloc(), and nothing after the
 *   hello may have been read out of the socket before the hand-over.
 * - A connected stream is only ever written to by raft (never read), and is
 *   freed the same way. raft calls `connect` again after a failure, every
 *   connect_retry_delay.
 * - On close, raft first aborts its own clients (which wait for their
 *   pending connect callbacks), then calls the transport's `close`, whose
 *   callback must come after every connect callback and tells raft the
 *   transport's memory is free to go.
 *
 * No bytes are lost at the hand-over. The accepting side reads the hello in
 * stages through an alloc callback that never offers more room than the
 * bytes the current stage still lacks (8, then 26, then the address), and
 * stops reading the moment the hello is complete; libuv's read loop then
 * leaves everything else in the socket, where raft_uv's first read finds it.
 * In addition the connecting side does not hand its stream to raft (which
 * is what starts raft writing) until it has read the status byte, so in
 * practice nothing follows the hello until the accept side is done with it.
 */
#include "transport.h"

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* The magic, version and reserved fields: read first, since a different
 * version may lay out the rest differently. */
#define HELLO_PREAMBLE 8
/* A refused peer's bytes are read and discarded (so that closing sends FIN,
 * not RST, and the peer gets the status byte) up to this many. */
#define DRAIN_MAX (64 * 1024)
#define LOG_SIZE 512

/* ------------------------------------------------------------------------
 * Small helpers: lists, byte order, addresses, logging
 * ---------------------------------------------------------------------- */

#define LINK_DATA(ptr, type, field) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, field)))

static void link_init(struct consensus__link *head)
{
    head->prev = head;
    head->next = head;
}

static bool link_empty(const struct consensus__link *head)
{
    return head->next == head;
}

static void link_push(struct consensus__link *head, struct consensus__link *n)
{
    n->next = head;
    n->prev = head->prev;
    head->prev->next = n;
    head->prev = n;
}

static void link_remove(struct consensus__link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    link_init(n);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Parse a strict "a.b.c.d:port" (port 0..65535). Returns 0 or -1. */
static int parse_address(const char *address, struct sockaddr_in *sa)
{
    char host[16];
    const char *colon = strrchr(address, ':');
    const char *p;
    unsigned long port = 0;
    size_t host_len;

    if (colon == NULL) {
        return -1;
    }
    host_len = (size_t)(colon - address);
    if (host_len == 0 || host_len >= sizeof host) {
        return -1;
    }
    p = colon + 1;
    if (*p == '\0' || strlen(p) > 5) {
        return -1;
    }
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (port > 65535) {
        return -1;
    }
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    return uv_ip4_addr(host, (int)port, sa) == 0 ? 0 : -1;
}

/* Format an IPv4 socket address as "a.b.c.d:port" into @out. */
static void format_address(const struct sockaddr_in *sa, char *out,
                           size_t size)
{
    char host[16] = "?";
    uv_ip4_name(sa, host, sizeof host);
    snprintf(out, size, "%s:%u", host, (unsigned)ntohs(sa->sin_port));
}

/* The remote end of @tcp as "a.b.c.d:port", or "?" when unknown. */
static void peer_name(const uv_tcp_t *tcp, char *out, size_t size)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0 ||
        ss.ss_family != AF_INET) {
        snprintf(out, size, "?");
        return;
    }
    format_address((const struct sockaddr_in *)&ss, out, size);
}

__attribute__((format(printf, 3, 4))) static void
peer_log(const struct consensus_peer_listener *l, int level,
         const char *fmt, ...)
{
    char msg[LOG_SIZE];
    va_list ap;
    if (l->log_cb == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->log_cb(l->log_data, level, msg);
}

static const char *status_name(unsigned status)
{
    switch (status) {
        case CONSENSUS_PEER_ACCEPTED:
            return "accepted";
        case CONSENSUS_PEER_WRONG_CLUSTER:
            return "wrong cluster";
        case CONSENSUS_PEER_BAD_VERSION:
            return "unknown version";
        case CONSENSUS_PEER_UNKNOWN_GROUP:
            return "unknown group";
        case CONSENSUS_PEER_MALFORMED:
            return "malformed hello";
        default:
            return "unknown status";
    }
}

/* Close callback for a stream allocated with raft_malloc(). */
static void free_raft_handle_cb(uv_handle_t *handle)
{
    raft_free(handle);
}

int consensus__uv_code(int uv_code)
{
    switch (uv_code) {
        case 0:
            return CAIRN_OK;
        case UV_ENOMEM:
        case UV_ENOBUFS:
            return CAIRN_ENOMEM;
        case UV_EINVAL:
        case UV_EAFNOSUPPORT:
        case UV_EADDRNOTAVAIL:
            return CAIRN_EINVAL;
        case UV_EACCES:
        case UV_EPERM:
            return CAIRN_EPERM;
        case UV_ETIMEDOUT:
            return CAIRN_ETIMEDOUT;
        case UV_ECANCELED:
            return CAIRN_ECANCELED;
        case UV_ECONNREFUSED:
        case UV_ECONNRESET:
        case UV_EPIPE:
        case UV_EOF:
            return CAIRN_ECLOSED;
        default: /* UV_EADDRINUSE, UV_EMFILE, ... */
            return CAIRN_EIO;
    }
}

uint64_t consensus__peer_cluster_id(const char *cluster)
{
    return XXH3_64bits(cluster, strlen(cluster));
}

/*
 * The hello, byte by byte (big-endian; transport.h and docs/consensus.md
 * carry the same table):
 *
 *   offset  size  field
 *        0     4  magic "CRNP"
 *        4     2  version (1)
 *        6     2  reserved (0)
 *        8     8  cluster id (XXH3-64 of the cluster name)
 *       16     8  group id
 *       24     8  sender raft id (non-zero)
 *       32     2  address length n (1..64)
 *       34     n  sender address, "a.b.c.d:port", no NUL
 *
 * The answer is one byte, enum consensus_peer_status.
 */
size_t consensus__peer_hello_encode(uint8_t *buf, uint64_t cluster_id,
                                    uint64_t group_id, uint64_t sender_id,
                                    const char *address)
{
    size_t n = strlen(address);
    if (n == 0 || n > CONSENSUS_PEER_ADDRESS_MAX) {
        return 0;
    }
    memcpy(buf, CONSENSUS_PEER_MAGIC, 4);
    put16(buf + 4, CONSENSUS_PEER_VERSION);
    put16(buf + 6, 0);
    put64(buf + 8, cluster_id);
    put64(buf + 16, group_id);
    put64(buf + 24, sender_id);
    put16(buf + 32, (uint16_t)n);
    memcpy(buf + CONSENSUS_PEER_HELLO_FIXED, address, n);
    return CONSENSUS_PEER_HELLO_FIXED + n;
}

/* ------------------------------------------------------------------------
 * Per-group state (transport->impl)
 * ---------------------------------------------------------------------- */

struct group {
    struct raft_uv_transport *transport;   /* (borrowed) what we implement */
    struct consensus_peer_listener *l;     /* (borrowed) */
    uint64_t group_id;
    raft_id id;                            /* set by init */
    char address[CONSENSUS_PEER_ADDRESS_MAX + 1];
    raft_uv_accept_cb accept_cb;           /* set by listen, NULL on close */
    struct consensus__link link;           /* in l->groups */
    struct consensus__link connecting;     /* struct outgoing, until cb */
    uv_idle_t closer;                      /* closed to defer close_cb */
    bool closing;
    bool closer_done;
    bool close_fired;
    raft_uv_transport_close_cb close_cb;
};

/* A group that serves @group_id on @l and is listening, or NULL. */
static struct group *find_group(struct consensus_peer_listener *l,
                                uint64_t group_id)
{
    struct consensus__link *it;
    for (it = l->groups.next; it != &l->groups; it = it->next) {
        struct group *g = LINK_DATA(it, struct group, link);
        if (g->group_id == group_id) {
            return g->accept_cb != NULL && !g->closing ? g : NULL;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------
 * Accepting side: one struct incoming per connection in its hello
 * ---------------------------------------------------------------------- */

struct incoming {
    struct consensus_peer_listener *l;
    uv_tcp_t *tcp;            /* (owned) raft_malloc'd, until handed over */
    uv_timer_t timer;         /* hello timeout, then linger timeout */
    uv_shutdown_t shutdown;   /* after a refusal */
    uint8_t hello[CONSENSUS_PEER_HELLO_MAX];
    size_t want;              /* bytes of hello the current stage needs */
    size_t got;               /* bytes of hello read */
    size_t drained;           /* bytes discarded after a refusal */
    uint8_t sink[512];        /* where discarded bytes go */
    bool draining;            /* refused: discard until EOF, then close */
    bool aborting;            /* handles are closing */
    unsigned closes;          /* close callbacks still due */
    char peer[32];            /* remote "a.b.c.d:port", for logs */
    char address[CONSENSUS_PEER_ADDRESS_MAX + 1]; /* sender's, NUL-ended */
    struct consensus__link link; /* in l->incoming until freed */
};

static void listener_maybe_closed(struct consensus_peer_listener *l)
{
    consensus_peer_listener_close_cb cb;
    if (!l->closing || !l->tcp_closed || !link_empty(&l->incoming)) {
        return;
    }
    /* Fires once: no incoming connection can start after the listening
     * handle closed. */
    cb = l->close_cb;
    if (cb != NULL) {
        cb(l);
    }
}

static void incoming_closed(struct incoming *in)
{
    struct consensus_peer_listener *l = in->l;
    if (--in->closes > 0) {
        return;
    }
    link_remove(&in->link);
    free(in);
    listener_maybe_closed(l);
}

static void incoming_tcp_close_cb(uv_handle_t *handle)
{
    struct incoming *in = handle->data;
    raft_free(handle);
    in->tcp = NULL;
    incoming_closed(in);
}

static void incoming_timer_close_cb(uv_handle_t *handle)
{
    incoming_closed(handle->data);
}

/* Close the connection and free @in once its handles are closed. */
static void incoming_abort(struct incoming *in)
{
    if (in->aborting) {
        return;
    }
    in->aborting = true;
    in->closes = 2;
    uv_close((uv_handle_t *)in->tcp, incoming_tcp_close_cb);
    uv_close((uv_handle_t *)&in->timer, incoming_timer_close_cb);
}

static void incoming_shutdown_cb(uv_shutdown_t *req, int status)
{
    struct incoming *in = req->data;
    /* UV_ECANCELED means the handle is already closing. */
    if (status < 0 && status != UV_ECANCELED) {
        incoming_abort(in);
    }
}

static void incoming_timeout_cb(uv_timer_t *timer)
{
    struct incoming *in = timer->data;
    if (!in->draining) {
        peer_log(in->l, CONSENSUS_LOG_WARN,
                 "peer %s on %s: hello timed out after %u ms (%zu of %zu "
                 "bytes)",
                 in->peer, in->l->address, in->l->timeout_ms, in->got,
                 in->want);
    }
    incoming_abort(in);
}

/* Answer @status, log why, then shut our side down and discard what the
 * peer still sends until it closes (or the timer fires): closing with
 * unread bytes would reset the connection and could destroy the answer. */
__attribute__((format(printf, 3, 4))) static void
incoming_refuse(struct incoming *in, enum consensus_peer_status status,
                const char *fmt, ...)
{
    char why[LOG_SIZE / 2];
    uint8_t byte = (uint8_t)status;
    uv_buf_t buf = uv_buf_init((char *)&byte, 1);
    va_list ap;
    int rv;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    peer_log(in->l, CONSENSUS_LOG_WARN, "peer %s on %s: refused (%s): %s",
             in->peer, in->l->address, status_name(status), why);

    /* One byte into a fresh socket's empty send buffer does not block. */
    rv = uv_try_write((uv_stream_t *)in->tcp, &buf, 1);
    if (rv != 1) {
        incoming_abort(in);
        return;
    }
    in->draining = true;
    in->shutdown.data = in;
    rv = uv_shutdown(&in->shutdown, (uv_stream_t *)in->tcp,
                     incoming_shutdown_cb);
    if (rv != 0) {
        incoming_abort(in);
        return;
    }
    uv_timer_start(&in->timer, incoming_timeout_cb, in->l->timeout_ms, 0);
}

/* The hello is complete and valid: answer ACCEPTED and give the stream to
 * the group. Reading stopped exactly at the hello's last byte. */
static void incoming_hand_over(struct incoming *in, struct group *g,
                               raft_id id)
{
    struct consensus_peer_listener *l = in->l;
    uint8_t byte = CONSENSUS_PEER_ACCEPTED;
    uv_buf_t buf = uv_buf_init((char *)&byte, 1);
    uv_tcp_t *tcp = in->tcp;
    int rv;

    uv_read_stop((uv_stream_t *)tcp);
    rv = uv_try_write((uv_stream_t *)tcp, &buf, 1);
    if (rv != 1) {
        peer_log(l, CONSENSUS_LOG_WARN,
                 "peer %s on %s: answer hello: %s", in->peer, l->address,
                 rv < 0 ? uv_strerror(rv) : "short write");
        incoming_abort(in);
        return;
    }
    peer_log(l, CONSENSUS_LOG_DEBUG,
             "peer %s on %s: group %llu accepted node %llu (%s)", in->peer,
             l->address, (unsigned long long)g->group_id,
             (unsigned long long)id, in->address);

    /* From here the stream is raft's; @in lives until its timer closes,
     * which keeps in->address valid during the callback. */
    in->tcp = NULL;
    tcp->data = NULL;
    in->aborting = true;
    in->closes = 1;
    uv_timer_stop(&in->timer);
    uv_close((uv_handle_t *)&in->timer, incoming_timer_close_cb);
    g->accept_cb(g->transport, id, in->address, (uv_stream_t *)tcp);
}

/* A stage of the hello is complete: check it, then ask for the next one or
 * finish. */
static void incoming_advance(struct incoming *in)
{
    struct consensus_peer_listener *l = in->l;
    const uint8_t *h = in->hello;
    struct sockaddr_in sa;
    uint64_t cluster_id, group_id, id;
    struct group *g;
    size_t n;

    if (in->want == HELLO_PREAMBLE) {
        if (memcmp(h, CONSENSUS_PEER_MAGIC, 4) != 0) {
            incoming_refuse(in, CONSENSUS_PEER_MALFORMED,
                            "bad magic %02x%02x%02x%02x", h[0], h[1], h[2],
                            h[3]);
            return;
        }
        if (get16(h + 4) != CONSENSUS_PEER_VERSION) {
            incoming_refuse(in, CONSENSUS_PEER_BAD_VERSION,
                            "version %u, this node speaks %u",
                            (unsigned)get16(h + 4), CONSENSUS_PEER_VERSION);
            return;
        }
        if (get16(h + 6) != 0) {
            incoming_refuse(in, CONSENSUS_PEER_MALFORMED,
                            "reserved field is %u, not 0",
                            (unsigned)get16(h + 6));
            return;
        }
        in->want = CONSENSUS_PEER_HELLO_FIXED;
        return;
    }
    if (in->want == CONSENSUS_PEER_HELLO_FIXED) {
        n = get16(h + 32);
        if (n == 0 || n > CONSENSUS_PEER_ADDRESS_MAX) {
            incoming_refuse(in, CONSENSUS_PEER_MALFORMED,
                            "address length %zu (1..%d)", n,
                            CONSENSUS_PEER_ADDRESS_MAX);
            return;
        }
        in->want = CONSENSUS_PEER_HELLO_FIXED + n;
        return;
    }

    cluster_id = get64(h + 8);
    group_id = get64(h + 16);
    id = get64(h + 24);
    n = in->want - CONSENSUS_PEER_HELLO_FIXED;
    memcpy(in->address, h + CONSENSUS_PEER_HELLO_FIXED, n);
    in->address[n] = '\0';
    if (id == 0) {
        incoming_refuse(in, CONSENSUS_PEER_MALFORMED, "sender id is 0");
        return;
    }
    /* raft sends its replies to this address: it must be one. */
    if (strlen(in->address) != n || parse_address(in->address, &sa) != 0) {
        incoming_refuse(in, CONSENSUS_PEER_MALFORMED,
                        "sender address is not a.b.c.d:port");
        return;
    }
    if (cluster_id != l->cluster_id) {
        incoming_refuse(in, CONSENSUS_PEER_WRONG_CLUSTER,
                        "node %llu (%s) is in cluster %016llx, this node in "
                        "%016llx",
                        (unsigned long long)id, in->address,
                        (unsigned long long)cluster_id,
                        (unsigned long long)l->cluster_id);
        return;
    }
    g = find_group(l, group_id);
    if (g == NULL) {
        incoming_refuse(in, CONSENSUS_PEER_UNKNOWN_GROUP,
                        "node %llu (%s) asked for group %llu, not served "
                        "here",
                        (unsigned long long)id, in->address,
                        (unsigned long long)group_id);
        return;
    }
    incoming_hand_over(in, g, id);
}

/* Offer exactly the bytes the current stage of the hello lacks, never more:
 * what follows the hello stays in the socket for raft_uv. */
static void incoming_alloc_cb(uv_handle_t *handle, size_t suggested,
                              uv_buf_t *buf)
{
    struct incoming *in = handle->data;
    (void)suggested;
    if (in->draining) {
        *buf = uv_buf_init((char *)in->sink, sizeof in->sink);
        return;
    }
    assert(in->want > in->got);
    *buf = uv_buf_init((char *)in->hello + in->got,
                       (unsigned)(in->want - in->got));
}

static void incoming_read_cb(uv_stream_t *stream, ssize_t nread,
                             const uv_buf_t *buf)
{
    struct incoming *in = stream->data;
    (void)buf;

    if (nread == 0) {
        return; /* EAGAIN */
    }
    if (in->draining) {
        if (nread < 0) {
            incoming_abort(in); /* the peer closed: done */
            return;
        }
        in->drained += (size_t)nread;
        if (in->drained > DRAIN_MAX) {
            incoming_abort(in);
        }
        return;
    }
    if (nread < 0) {
        peer_log(in->l, in->got == 0 ? CONSENSUS_LOG_DEBUG : CONSENSUS_LOG_WARN,
                 "peer %s on %s: closed during hello (%zu of %zu bytes): %s",
                 in->peer, in->l->address, in->got, in->want,
                 uv_strerror((int)nread));
        incoming_abort(in);
        return;
    }
    in->got += (size_t)nread;
    if (in->got == in->want) {
        incoming_advance(in);
    }
}

static void listener_connection_cb(uv_stream_t *server, int status)
{
    struct consensus_peer_listener *l = server->data;
    struct incoming *in;
    int rv;

    if (status < 0) {
        peer_log(l, CONSENSUS_LOG_WARN, "peer accept on %s: %s", l->address,
                 uv_strerror(status));
        return;
    }
    in = calloc(1, sizeof *in);
    if (in == NULL) {
        goto err;
    }
    in->tcp = raft_malloc(sizeof *in->tcp);
    if (in->tcp == NULL) {
        goto err_after_alloc;
    }
    uv_tcp_init(l->loop, in->tcp); /* cannot fail without a socket */
    in->tcp->data = in;
    rv = uv_accept(server, (uv_stream_t *)in->tcp);
    if (rv != 0) {
        peer_log(l, CONSENSUS_LOG_WARN, "peer accept on %s: %s", l->address,
                 uv_strerror(rv));
        uv_close((uv_handle_t *)in->tcp, free_raft_handle_cb);
        free(in);
        return;
    }
    in->l = l;
    in->want = HELLO_PREAMBLE;
    uv_timer_init(l->loop, &in->timer);
    in->timer.data = in;
    link_push(&l->incoming, &in->link);
    peer_name(in->tcp, in->peer, sizeof in->peer);

    rv = uv_tcp_nodelay(in->tcp, 1);
    if (rv == 0) {
        rv = uv_read_start((uv_stream_t *)in->tcp, incoming_alloc_cb,
                           incoming_read_cb);
    }
    if (rv != 0) {
        peer_log(l, CONSENSUS_LOG_WARN, "peer %s on %s: %s", in->peer,
                 l->address, uv_strerror(rv));
        incoming_abort(in);
        return;
    }
    uv_timer_start(&in->timer, incoming_timeout_cb, l->timeout_ms, 0);
    return;

err_after_alloc:
    free(in);
err:
    /* Not accepting leaves the connection in the kernel backlog and makes
     * libuv stop polling the listener until some uv_accept(): the node
     * stops taking peer connections rather than crash. Out of memory for
     * a few hundred bytes leaves little else working anyway. */
    peer_log(l, CONSENSUS_LOG_ERROR,
             "peer accept on %s: out of memory, accepting stopped",
             l->address);
}

/* ------------------------------------------------------------------------
 * The listener
 * ---------------------------------------------------------------------- */

int consensus__peer_listener_init(struct consensus_peer_listener *l,
                                  uv_loop_t *loop, const char *cluster,
                                  uint64_t id, const char *address,
                                  consensus_log_fn log_cb, void *log_data,
                                  char *errmsg)
{
    void *data = l->data;
    struct sockaddr_in sa;
    size_t n;
    int rv;

    if (loop == NULL) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "peer listener: no loop");
        return CAIRN_EINVAL;
    }
    n = cluster == NULL ? 0 : strlen(cluster);
    if (n == 0 || n > CAIRN_CLUSTER_NAME_MAX) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE,
                 "peer listener: cluster name must be 1..%d bytes, got %zu",
                 CAIRN_CLUSTER_NAME_MAX, n);
        return CAIRN_EINVAL;
    }
    if (id == 0) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE,
                 "peer listener: node id must be non-zero");
        return CAIRN_EINVAL;
    }
    if (address == NULL || strlen(address) > CONSENSUS_PEER_ADDRESS_MAX ||
        parse_address(address, &sa) != 0) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE,
                 "peer listener: address '%.64s' is not a.b.c.d:port",
                 address == NULL ? "" : address);
        return CAIRN_EINVAL;
    }

    memset(l, 0, sizeof *l);
    l->data = data;
    l->loop = loop;
    l->cluster_id = consensus__peer_cluster_id(cluster);
    l->id = id;
    strcpy(l->address, address);
    l->log_cb = log_cb;
    l->log_data = log_data;
    l->timeout_ms = CONSENSUS_PEER_TIMEOUT_MS;
    link_init(&l->groups);
    link_init(&l->incoming);
    rv = uv_tcp_init(loop, &l->tcp);
    if (rv != 0) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "peer listener %s: %s", address,
                 uv_strerror(rv));
        return consensus__uv_code(rv);
    }
    l->tcp.data = l;
    return 0;
}

void consensus__peer_listener_set_timeout(struct consensus_peer_listener *l,
                                          unsigned timeout_ms)
{
    if (timeout_ms > 0) {
        l->timeout_ms = timeout_ms;
    }
}

int consensus__peer_listener_start(struct consensus_peer_listener *l,
                                   char *errmsg)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = (int)sizeof bound;
    int rv;

    if (l->started || l->closing) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "peer listen %s: already %s",
                 l->address, l->closing ? "closing" : "started");
        return CAIRN_EINVAL;
    }
    rv = parse_address(l->address, &sa);
    assert(rv == 0); /* checked by init */
    /* libuv reports EADDRINUSE from uv_listen(), not from uv_tcp_bind(). */
    rv = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&sa, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&l->tcp, 128, listener_connection_cb);
    }
    if (rv == 0) {
        rv = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
    }
    if (rv != 0) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "peer listen %s: %s", l->address,
                 uv_strerror(rv));
        return consensus__uv_code(rv);
    }
    format_address((const struct sockaddr_in *)&bound, l->address,
                   sizeof l->address);
    l->started = true;
    return 0;
}

const char *consensus__peer_listener_address(
    const struct consensus_peer_listener *l)
{
    return l->address;
}

static void listener_tcp_close_cb(uv_handle_t *handle)
{
    struct consensus_peer_listener *l = handle->data;
    l->tcp_closed = true;
    listener_maybe_closed(l);
}

void consensus__peer_listener_close(struct consensus_peer_listener *l,
                                    consensus_peer_listener_close_cb cb)
{
    struct consensus__link *it;
    assert(!l->closing);
    assert(l->n_groups == 0); /* close every transport first */
    l->closing = true;
    l->close_cb = cb;
    /* incoming_abort() leaves @in in the list until its handles close. */
    for (it = l->incoming.next; it != &l->incoming; it = it->next) {
        incoming_abort(LINK_DATA(it, struct incoming, link));
    }
    uv_close((uv_handle_t *)&l->tcp, listener_tcp_close_cb);
}

/* ------------------------------------------------------------------------
 * Connecting side: one struct outgoing per raft connect request
 * ---------------------------------------------------------------------- */

struct outgoing {
    struct group *g;
    struct raft_uv_connect *req;
    raft_id peer_id;
    uv_tcp_t *tcp;            /* (owned) raft_malloc'd, until handed over */
    uv_timer_t timer;         /* connect + hello timeout */
    uv_connect_t connect;
    uv_write_t write;
    uint8_t hello[CONSENSUS_PEER_HELLO_MAX];
    size_t hello_len;
    uint8_t reply;            /* the status byte */
    int status;               /* 0 while in flight, then the cb's status */
    unsigned closes;          /* close callbacks still due */
    char peer[CONSENSUS_PEER_ADDRESS_MAX + 1];
    struct consensus__link link; /* in g->connecting until the callback */
};

static void group_maybe_closed(struct group *g)
{
    if (!g->closing || !g->closer_done || !link_empty(&g->connecting) ||
        g->close_fired) {
        return;
    }
    g->close_fired = true;
    if (g->close_cb != NULL) {
        g->close_cb(g->transport); /* may free the transport: last */
    }
}

static void outgoing_closed(struct outgoing *o)
{
    struct group *g = o->g;
    struct raft_uv_connect *req = o->req;
    int status = o->status;
    if (--o->closes > 0) {
        return;
    }
    link_remove(&o->link);
    free(o);
    req->cb(req, NULL, status);
    group_maybe_closed(g);
}

static void outgoing_tcp_close_cb(uv_handle_t *handle)
{
    struct outgoing *o = handle->data;
    raft_free(handle);
    o->tcp = NULL;
    outgoing_closed(o);
}

static void outgoing_timer_close_cb(uv_handle_t *handle)
{
    outgoing_closed(handle->data);
}

/* Fail the request with @status: close both handles; the callback fires
 * once they are closed. Callbacks of libuv requests cancelled by the close
 * see o->status != 0 and do nothing. */
__attribute__((format(printf, 4, 5))) static void
outgoing_fail(struct outgoing *o, int status, int level, const char *fmt, ...)
{
    char why[LOG_SIZE / 2];
    va_list ap;
    if (o->status != 0) {
        return;
    }
    o->status = status;
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        peer_log(o->g->l, level, "group %llu: connect to node %llu at %s: %s",
                 (unsigned long long)o->g->group_id,
                 (unsigned long long)o->peer_id, o->peer, why);
    }
    o->closes = 2;
    uv_close((uv_handle_t *)o->tcp, outgoing_tcp_close_cb);
    uv_close((uv_handle_t *)&o->timer, outgoing_timer_close_cb);
}

static void outgoing_free_cb(uv_handle_t *handle)
{
    free(handle->data);
}

/* The peer accepted: the stream goes to raft. */
static void outgoing_done(struct outgoing *o)
{
    struct raft_uv_connect *req = o->req;
    uv_tcp_t *tcp = o->tcp;
    link_remove(&o->link);
    o->tcp = NULL;
    tcp->data = NULL;
    uv_close((uv_handle_t *)&o->timer, outgoing_free_cb);
    req->cb(req, (uv_stream_t *)tcp, 0);
}

static void outgoing_timeout_cb(uv_timer_t *timer)
{
    struct outgoing *o = timer->data;
    outgoing_fail(o, RAFT_NOCONNECTION, CONSENSUS_LOG_WARN,
                  "no answer within %u ms", o->g->l->timeout_ms);
}

static void outgoing_alloc_cb(uv_handle_t *handle, size_t suggested,
                              uv_buf_t *buf)
{
    struct outgoing *o = handle->data;
    (void)suggested;
    *buf = uv_buf_init((char *)&o->reply, 1);
}

static void outgoing_read_cb(uv_stream_t *stream, ssize_t nread,
                             const uv_buf_t *buf)
{
    struct outgoing *o = stream->data;
    (void)buf;
    if (o->status != 0 || nread == 0) {
        return;
    }
    if (nread < 0) {
        outgoing_fail(o, RAFT_NOCONNECTION, CONSENSUS_LOG_WARN,
                      "closed before answering the hello: %s",
                      uv_strerror((int)nread));
        return;
    }
    uv_read_stop(stream);
    if (o->reply != CONSENSUS_PEER_ACCEPTED) {
        outgoing_fail(o, RAFT_NOCONNECTION, CONSENSUS_LOG_WARN,
                      "refused: %s (%u)", status_name(o->reply),
                      (unsigned)o->reply);
        return;
    }
    outgoing_done(o);
}

static void outgoing_write_cb(uv_write_t *write, int status)
{
    struct outgoing *o = write->data;
    int rv;
    if (o->status != 0) {
        return;
    }
    if (status < 0) {
        outgoing_fail(o, RAFT_NOCONNECTION, CONSENSUS_LOG_DEBUG,
                      "send hello: %s", uv_strerror(status));
        return;
    }
    rv = uv_read_start((uv_stream_t *)o->tcp, outgoing_alloc_cb,
                       outgoing_read_cb);
    if (rv != 0) {
        outgoing_fail(o, RAFT_NOCONNECTION, CONSENSUS_LOG_WARN,
                      "read answer: %s", uv_strerror(rv));
    }
}

static void outgoing_connect_cb(uv_connect_t *connect, int status)
{
    struct outgoing *o = connect->data;
    uv_buf_t buf = uv_buf_init((char *)o->hello, (unsigned)o->hello_len);
    int rv;
    if (o->status != 0) {
        return;
    }
    if (status < 0) {
        /* A peer that is down: routine, raft retries. */
        outgoing_fail(o, RAFT_NOCONNECTION, CONSENSUS_LOG_DEBUG, "%s",
                      uv_strerror(status));
        return;
    }
    rv = uv_tcp_nodelay(o->tcp, 1);
    if (rv == 0) {
        rv = uv_write(&o->write, (uv_stream_t *)o->tcp, &buf, 1,
                      outgoing_write_cb);
    }
    if (rv != 0) {
        outgoing_fail(o, RAFT_NOCONNECTION, CONSENSUS_LOG_WARN,
                      "send hello: %s", uv_strerror(rv));
    }
}

/* ------------------------------------------------------------------------
 * struct raft_uv_transport methods
 * ---------------------------------------------------------------------- */

static int transport_init(struct raft_uv_transport *t, raft_id id,
                          const char *address)
{
    struct group *g = t->impl;
    struct sockaddr_in sa;
    if (id == 0) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "group %llu: raft id must be non-zero",
                 (unsigned long long)g->group_id);
        return RAFT_INVALID;
    }
    if (address == NULL || strlen(address) > CONSENSUS_PEER_ADDRESS_MAX ||
        parse_address(address, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "group %llu: address '%.64s' is not a.b.c.d:port",
                 (unsigned long long)g->group_id,
                 address == NULL ? "" : address);
        return RAFT_INVALID;
    }
    g->id = id;
    strcpy(g->address, address);
    return 0;
}

static int transport_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct group *g = t->impl;
    if (g->closing || g->l->closing) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "group %llu: listen: transport is closing",
                 (unsigned long long)g->group_id);
        return RAFT_CANCELED;
    }
    g->accept_cb = cb;
    return 0;
}

static int transport_connect(struct raft_uv_transport *t,
                             struct raft_uv_connect *req, raft_id id,
                             const char *address, raft_uv_connect_cb cb)
{
    struct group *g = t->impl;
    struct sockaddr_in sa;
    struct outgoing *o;
    int rv;

    if (g->closing) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "group %llu: connect: transport is closing",
                 (unsigned long long)g->group_id);
        return RAFT_CANCELED;
    }
    if (strlen(address) > CONSENSUS_PEER_ADDRESS_MAX ||
        parse_address(address, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "group %llu: connect to node %llu: address '%.64s' is not "
                 "a.b.c.d:port",
                 (unsigned long long)g->group_id, (unsigned long long)id,
                 address);
        return RAFT_NOCONNECTION;
    }
    o = calloc(1, sizeof *o);
    if (o == NULL) {
        goto err_nomem;
    }
    o->tcp = raft_malloc(sizeof *o->tcp);
    if (o->tcp == NULL) {
        goto err_after_alloc;
    }
    o->g = g;
    o->req = req;
    o->peer_id = id;
    strcpy(o->peer, address);
    o->hello_len = consensus__peer_hello_encode(
        o->hello, g->l->cluster_id, g->group_id, g->id, g->address);
    assert(o->hello_len > 0); /* init checked the address */
    uv_tcp_init(g->l->loop, o->tcp); /* cannot fail without a socket */
    o->tcp->data = o;
    o->connect.data = o;
    o->write.data = o;
    rv = uv_tcp_connect(&o->connect, o->tcp, (const struct sockaddr *)&sa,
                        outgoing_connect_cb);
    if (rv != 0) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "group %llu: connect to node %llu at %s: %s",
                 (unsigned long long)g->group_id, (unsigned long long)id,
                 address, uv_strerror(rv));
        goto err_after_tcp_init;
    }
    uv_timer_init(g->l->loop, &o->timer);
    o->timer.data = o;
    uv_timer_start(&o->timer, outgoing_timeout_cb, g->l->timeout_ms, 0);
    req->cb = cb;
    link_push(&g->connecting, &o->link);
    return 0;

err_after_tcp_init:
    uv_close((uv_handle_t *)o->tcp, free_raft_handle_cb);
    free(o);
    return RAFT_NOCONNECTION;
err_after_alloc:
    free(o);
err_nomem:
    snprintf(t->errmsg, sizeof t->errmsg,
             "group %llu: connect to node %llu: out of memory",
             (unsigned long long)g->group_id, (unsigned long long)id);
    return RAFT_NOMEM;
}

static void group_closer_cb(uv_handle_t *handle)
{
    struct group *g = handle->data;
    g->closer_done = true;
    group_maybe_closed(g);
}

static void transport_close(struct raft_uv_transport *t,
                            raft_uv_transport_close_cb cb)
{
    struct group *g = t->impl;
    struct consensus__link *it;
    assert(!g->closing);
    g->closing = true;
    g->close_cb = cb;
    g->accept_cb = NULL; /* no accept callback from now on */
    /* outgoing_fail() leaves @o in the list until its callback fires. */
    for (it = g->connecting.next; it != &g->connecting; it = it->next) {
        outgoing_fail(LINK_DATA(it, struct outgoing, link), RAFT_CANCELED,
                      CONSENSUS_LOG_DEBUG, NULL);
    }
    /* Closing a handle always completes on a later loop iteration: this
     * makes the close callback asynchronous even with nothing pending. */
    uv_idle_init(g->l->loop, &g->closer);
    g->closer.data = g;
    uv_close((uv_handle_t *)&g->closer, group_closer_cb);
}

int consensus__transport_init(struct raft_uv_transport *t,
                              struct consensus_peer_listener *l,
                              uint64_t group_id)
{
    void *data = t->data;
    struct consensus__link *it;
    struct group *g;

    memset(t, 0, sizeof *t);
    t->data = data;
    if (l->closing) {
        snprintf(t->errmsg, sizeof t->errmsg,
                 "group %llu: peer listener is closing",
                 (unsigned long long)group_id);
        return CAIRN_EINVAL;
    }
    for (it = l->groups.next; it != &l->groups; it = it->next) {
        if (LINK_DATA(it, struct group, link)->group_id == group_id) {
            snprintf(t->errmsg, sizeof t->errmsg,
                     "group %llu: already has a transport on %s",
                     (unsigned long long)group_id, l->address);
            return CAIRN_EINVAL;
        }
    }
    g = calloc(1, sizeof *g);
    if (g == NULL) {
        snprintf(t->errmsg, sizeof t->errmsg, "group %llu: out of memory",
                 (unsigned long long)group_id);
        return CAIRN_ENOMEM;
    }
    g->transport = t;
    g->l = l;
    g->group_id = group_id;
    link_init(&g->connecting);
    link_push(&l->groups, &g->link);
    l->n_groups++;

    t->impl = g;
    t->init = transport_init;
    t->listen = transport_listen;
    t->connect = transport_connect;
    t->close = transport_close;
    return 0;
}

void consensus__transport_close(struct raft_uv_transport *t)
{
    struct group *g = t->impl;
    if (g == NULL) {
        return;
    }
    assert(link_empty(&g->connecting));
    assert(!g->closing || g->close_fired);
    link_remove(&g->link);
    g->l->n_groups--;
    free(g);
    t->impl = NULL;
}
