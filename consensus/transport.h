/*
 * transport.h — private to consensus/: the peer transport. One TCP port per
 * node carries the traffic of every Raft group the node runs.
 *
 * This header includes uv.h. The architecture keeps uv.h out of everything
 * but node/ and client/; consensus/ is the exception because canonical/raft's
 * libuv backend (raft_uv) and its `struct raft_uv_transport`, which this file
 * implements, are written against libuv types. Nothing outside consensus/
 * sees this header.
 *
 * Overview
 * --------
 * A node has one `struct consensus_peer_listener`: it owns the listening
 * socket of the node's peer address, accepts connections, reads a small
 * versioned handshake ("hello") from each, answers one status byte, and
 * hands the accepted stream to the Raft group the hello names. Each group
 * gets its own `struct raft_uv_transport` from consensus__transport_init(),
 * which it passes to raft_uv_init(); that transport registers the group
 * with the listener and opens outgoing connections (TCP connect, hello, wait
 * for the status byte) to the peers' listeners. Every socket, accepted or
 * connected, has TCP_NODELAY set (raft_uv never sets it, which costs
 * ~40 ms stalls on small messages).
 *
 * Hello (connecting side -> accepting side), big-endian, 35..98 bytes:
 *
 *   [4] magic "CRNP"
 *   [2] version, currently 1
 *   [2] reserved, 0 (non-zero is malformed)
 *   [8] cluster id: XXH3-64 of the cluster name
 *   [8] group id
 *   [8] raft id of the sender (non-zero)
 *   [2] length of the sender's address, 1..64
 *   [n] the sender's raft address ("a.b.c.d:port", no NUL)
 *
 * Reply (accepting side -> connecting side): one status byte,
 * enum consensus_peer_status. On anything but ACCEPTED the accepting side
 * shuts the connection down. After ACCEPTED the stream belongs to raft_uv:
 * the connecting side writes raft messages, the accepting side reads them.
 *
 * Caveats
 * -------
 * - IPv4 only ("a.b.c.d:port"), as raft_uv's message encoding requires.
 * - Everything runs on the loop thread; no function here is thread-safe.
 * - Writes to a socket the peer closed raise SIGPIPE: the process must
 *   ignore it (the node does, tests do).
 * - Close every transport (consensus__transport_close) before closing the
 *   listener it was initialised on.
 */
#ifndef CAIRN_CONSENSUS_TRANSPORT_H
#define CAIRN_CONSENSUS_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "cairn.h"

/* Wire constants of the hello (see the overview). */
#define CONSENSUS_PEER_MAGIC "CRNP"
#define CONSENSUS_PEER_VERSION 1
#define CONSENSUS_PEER_ADDRESS_MAX 64
#define CONSENSUS_PEER_HELLO_FIXED 34 /* bytes before the address */
#define CONSENSUS_PEER_HELLO_MAX \
    (CONSENSUS_PEER_HELLO_FIXED + CONSENSUS_PEER_ADDRESS_MAX)

/* Default limit on how long a peer may take to complete its hello (accept
 * side) or to answer it (connect side, TCP connect included). */
#define CONSENSUS_PEER_TIMEOUT_MS 5000

/* The status byte the accepting side answers. Values are on the wire. */
enum consensus_peer_status {
    CONSENSUS_PEER_ACCEPTED = 0,
    CONSENSUS_PEER_WRONG_CLUSTER = 1, /* cluster id differs from ours */
    CONSENSUS_PEER_BAD_VERSION = 2,   /* hello version we do not speak */
    CONSENSUS_PEER_UNKNOWN_GROUP = 3, /* no group with that id listens here */
    CONSENSUS_PEER_MALFORMED = 4,     /* bad magic, reserved, id or length */
};

/* Log levels of consensus_log_fn; the same numbers as node/log.h's
 * enum node_log_level, so the node can pass them through. */
enum consensus_log_level {
    CONSENSUS_LOG_DEBUG = 0,
    CONSENSUS_LOG_INFO = 1,
    CONSENSUS_LOG_WARN = 2,
    CONSENSUS_LOG_ERROR = 3,
};

/* Receives one log line: @level is enum consensus_log_level, @msg is a
 * borrowed NUL-terminated string valid only during the call. */
typedef void (*consensus_log_fn)(void *data, int level, const char *msg);

struct consensus_peer_listener;

/* Fired once the listener's handles are closed: its memory may be freed. */
typedef void (*consensus_peer_listener_close_cb)(
    struct consensus_peer_listener *l);

/* Intrusive doubly-linked list node (circular, with a head node). */
struct consensus__link {
    struct consensus__link *prev;
    struct consensus__link *next;
};

/*
 * A node's peer listener. The caller allocates it; every field is private
 * to transport.c except `data`.
 */
struct consensus_peer_listener {
    void *data;                /* user data, untouched */
    uv_loop_t *loop;           /* (borrowed) the node's loop */
    uint64_t cluster_id;       /* XXH3-64 of the cluster name */
    uint64_t id;               /* this node's raft id */
    char address[CONSENSUS_PEER_ADDRESS_MAX + 1]; /* bound address */
    uv_tcp_t tcp;              /* the listening socket */
    consensus_log_fn log_cb;   /* may be NULL */
    void *log_data;
    unsigned timeout_ms;       /* hello timeout, both directions */
    struct consensus__link groups;   /* every transport on this listener */
    struct consensus__link incoming; /* connections still in their hello */
    unsigned n_groups;         /* transports initialised, not yet closed */
    bool started;
    bool closing;
    bool tcp_closed;
    consensus_peer_listener_close_cb close_cb;
};

/* The cluster id of cluster name @cluster: XXH3-64 of its bytes. */
uint64_t consensus__peer_cluster_id(const char *cluster);

/*
 * Encode a hello into @buf (room for CONSENSUS_PEER_HELLO_MAX bytes) and
 * return its length, or 0 if @address is empty or longer than
 * CONSENSUS_PEER_ADDRESS_MAX. Exposed for tests that speak the protocol by
 * hand.
 */
size_t consensus__peer_hello_encode(uint8_t *buf, uint64_t cluster_id,
                                    uint64_t group_id, uint64_t sender_id,
                                    const char *address);

/*
 * Initialise @l on @loop for the node @id (non-zero) of the cluster named
 * @cluster (1..CAIRN_CLUSTER_NAME_MAX bytes), whose peer address is @address
 * ("a.b.c.d:port"; port 0 picks a free port at start). @cluster and
 * @address are copied. @log_cb (may be NULL) receives refused handshakes
 * and connection failures; it must not close the listener.
 *
 * Nothing is bound yet. After a successful init, call
 * consensus__peer_listener_close() exactly once, whether or not start was
 * called or succeeded. Errors (nothing to close then): CAIRN_EINVAL with
 * @errmsg naming the bad argument.
 */
int consensus__peer_listener_init(struct consensus_peer_listener *l,
                                  uv_loop_t *loop, const char *cluster,
                                  uint64_t id, const char *address,
                                  consensus_log_fn log_cb, void *log_data,
                                  char *errmsg);

/* Set the hello timeout in milliseconds (default CONSENSUS_PEER_TIMEOUT_MS,
 * 0 is refused silently). Call before start; applies to connections that
 * begin afterwards. */
void consensus__peer_listener_set_timeout(struct consensus_peer_listener *l,
                                          unsigned timeout_ms);

/*
 * Bind the listening socket and start accepting. Afterwards
 * consensus__peer_listener_address() gives the bound address (the actual
 * port when port 0 was asked for). Errors: CAIRN_EIO (address in use and
 * other socket failures), CAIRN_EINVAL (address not available here),
 * CAIRN_EPERM (port needs privileges), CAIRN_ENOMEM, each with a message
 * such as "peer listen 127.0.0.1:7501: address already in use". Starting
 * twice is refused with CAIRN_EINVAL.
 */
int consensus__peer_listener_start(struct consensus_peer_listener *l,
                                   char *errmsg);

/* The address @l was initialised with, or after start the bound one.
 * Borrowed: valid until @l is closed. */
const char *consensus__peer_listener_address(
    const struct consensus_peer_listener *l);

/*
 * Stop accepting, drop the connections still in their hello, and call @cb
 * (may be NULL) from the loop once every handle is closed; free @l only
 * then. Streams already handed to groups belong to raft_uv and are not
 * touched. Precondition: every transport initialised on @l has been closed
 * with consensus__transport_close().
 */
void consensus__peer_listener_close(struct consensus_peer_listener *l,
                                    consensus_peer_listener_close_cb cb);

/*
 * Initialise @t, a transport for raft_uv_init(), as group @group_id on
 * listener @l (borrowed; it must outlive @t). t->data is kept (raft_uv
 * overwrites it anyway); the rest of @t is reset.
 *
 * The transport speaks raft_uv's contract: `init` records the group's raft
 * id and address (IPv4 "a.b.c.d:port", ≤ CONSENSUS_PEER_ADDRESS_MAX bytes,
 * else RAFT_INVALID); `listen` registers the group with @l so that
 * connections naming @group_id are handed to raft; `connect` opens a TCP
 * connection, sends the hello, waits for the status byte and then calls the
 * connect callback exactly once: with the stream (allocated with
 * raft_malloc, owned by raft from then on) and 0, or with RAFT_NOCONNECTION
 * (connection failed, refused or timed out), or with RAFT_CANCELED (`close`
 * was called first); `close` unregisters the group, cancels pending
 * connects and calls its callback from the loop after every connect
 * callback has fired.
 *
 * After a successful init call consensus__transport_close() once raft_uv is
 * done with @t (after raft_close's callback, or if raft never started).
 * Errors, with the message in t->errmsg: CAIRN_EINVAL (another transport
 * of @l already serves @group_id, or @l is closing), CAIRN_ENOMEM.
 */
int consensus__transport_init(struct raft_uv_transport *t,
                              struct consensus_peer_listener *l,
                              uint64_t group_id);

/*
 * Release what consensus__transport_init() allocated. Precondition: raft_uv
 * has closed @t (its `close` callback fired) or never used it; if `close`
 * was never called the group is unregistered here.
 */
void consensus__transport_close(struct raft_uv_transport *t);

/* Translate a libuv error code into a cairn one (UV_EADDRINUSE -> CAIRN_EIO,
 * UV_ENOMEM -> CAIRN_ENOMEM, ...). */
int consensus__uv_code(int uv_code);

#endif /* CAIRN_CONSENSUS_TRANSPORT_H */
