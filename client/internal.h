/*
 * internal.h — libcairn's engine: connections, routing and retries on one
 * libuv loop. Not installed; client.c and watch.c (the public API) are its
 * users.
 *
 * Overview
 * --------
 * A request (struct creq) is a struct cairn_wire_request plus what routing
 * needs. The engine encodes it with a fresh id for every attempt, sends it
 * to the node that should answer (the bucket's leader when known, the meta
 * leader for catalog ops, else any node), and completes it once a final
 * answer arrives: 200, or an error that retrying cannot change. 421 moves
 * it to the named leader at once; a lost connection, a timed-out attempt,
 * 421 without a leader, 503 and 429 retry it with backoff until its
 * deadline. Writes carry the client id and a sequence number fixed at
 * submission, so a retried write applies at most once.
 *
 * Streams (watches): a request with .stream set stays in flight after a
 * status-200 frame: each such frame goes to .frame, and only an error ends
 * it. A retryable error or a lost connection sends it again (from .q, which
 * .frame keeps up to date) with backoff, within deadline_ms of the moment
 * the stream broke; engine_abort() ends it early (a watch is cancelled on
 * the node with watch.cancel).
 *
 * Caveats
 * -------
 * - Every engine function runs on the engine's loop thread; creq.done and
 *   creq.frame are called there too.
 * - The wire request's pointers (keys, values, txn arrays) are borrowed
 *   until done runs: the blocking API keeps them alive by waiting.
 */
#ifndef CAIRN_CLIENT_INTERNAL_H
#define CAIRN_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "cairn.h"
#include "wire.h"

struct engine;
struct cconn;

/* Where a request must go. */
enum creq_route {
    ROUTE_ANY = 0,    /* any node (cluster.status, hello) */
    ROUTE_BUCKET = 1, /* the bucket's leader (writes, linearizable reads) */
    ROUTE_META = 2,   /* the meta leader (catalog ops) */
    ROUTE_NODE = 3,   /* exactly .address, no redirects (per-node status) */
};

struct creq {
    /* Set by the submitter. */
    struct cairn_wire_request q; /* .id is set per attempt */
    uint32_t route;              /* enum creq_route */
    char what[160];              /* "put config/db.url", for messages */
    char address[CAIRN_ADDRESS_MAX + 1]; /* ROUTE_NODE */
    void (*done)(struct creq *r);
    void *data;
    /* A stream: .frame gets every status-200 frame (borrowed for the call;
     * it may call engine_abort() on @r). */
    bool stream;
    void (*frame)(struct creq *r, const struct cairn_wire_response *res);
    /* Set by the engine when done runs: code 0 with the response, or the
     * final error and its message. .res views point into .body. */
    int code;
    char errmsg[CAIRN_ERRMSG_SIZE];
    struct cairn_wire_response res;
    bool has_res;
    void *body; /* (owned) the response frame body */
    /* Engine state. */
    struct engine *e;
    struct creq *next, *prev; /* in a connection's queue, or submit list */
    struct cconn *conn;       /* where it waits or was sent; NULL: none */
    bool sent;                /* in conn's in-flight list */
    uint64_t deadline;        /* uv_now() ms */
    unsigned attempts;
    unsigned redirects;
    char last_error[CAIRN_ERRMSG_SIZE];
    int last_code;
    uv_timer_t timer;
    bool timer_init;
    bool waiting;     /* in the engine's backoff list */
    bool completing;  /* complete() ran: done is on its way */
    bool established; /* a stream that got a frame since it was (re)sent */
};

/* Release what the engine attached to @r (response, body, timer must be
 * closed already: the engine does it before done). */
void creq_release(struct creq *r);

/* @w as a public entry that points into @w (a PUT of 0 bytes gets a
 * non-NULL empty value). */
void creq_entry_view(cairn_entry *e, const struct cairn_wire_entry *w);

/* The details of a bucket.info answer @i (copied). */
void creq_bucket_details(cairn_bucket_details *out,
                         const struct cairn_wire_bucket_info *i);

struct engine_options {
    char **seeds; /* addresses, "host:port" */
    unsigned n_seeds;
    const char *name;
    uint32_t connect_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t deadline_ms;
    uint64_t cid;
};

/* Create an engine on @loop. Errors: CAIRN_ENOMEM. */
int engine_new(uv_loop_t *loop, const struct engine_options *o,
               struct engine **out, char *errmsg);

/* Start @r: route it, send it, retry it; r->done runs exactly once, on
 * the loop (possibly before engine_submit returns). */
void engine_submit(struct engine *e, struct creq *r);

/* End request @r (submitted, its done not run yet) with @code and @msg:
 * r->done runs on a later loop turn. A stream sent on a connection that
 * is up is cancelled there (watch.cancel). Does nothing when @r is already
 * completing. */
void engine_abort(struct creq *r, int code, const char *msg);

/* Fail every request with CAIRN_ECANCELED and close every handle; no
 * request may be submitted afterwards. */
void engine_close(struct engine *e);

/* Free @e once the loop has run every close callback (uv_run returned). */
void engine_free(struct engine *e);

/* Learn nodes and leaders from a cluster.status response. */
void engine_learn(struct engine *e, const struct cairn_wire_response *res);

/* The addresses the engine knows (seeds and learned), in order; valid
 * until the next loop turn. */
unsigned engine_addresses(struct engine *e, const char ***out);

/* Parse "host:port" into @host (size @size) and @port. Returns 0 or
 * CAIRN_EINVAL with @errmsg naming the address. */
int engine_split_address(const char *addr, char *host, size_t size,
                         unsigned *port, char *errmsg);

/* The engine's deadline of a call, ms (the client's deadline_ms). */
uint32_t engine_deadline_ms(const struct engine *e);

/* ------------------------------------------------------------------------
 * client.c, for watch.c: handing work to the I/O thread
 * ---------------------------------------------------------------------- */

/* Work to run once on the client's I/O thread. Embed it; it is not
 * touched after .run starts, so .run may free it. */
struct client_task {
    struct client_task *next;
    bool queued; /* under the client's lock */
    void (*run)(struct client_task *t);
};

/* Hand @r to the engine on the I/O thread (engine_submit there). */
void client_submit(cairn_client *c, struct creq *r);

/* Run @t on the I/O thread soon; nothing when it is queued already.
 * Returns false when the client is closed (@t will not run). */
bool client_post(cairn_client *c, struct client_task *t);

/* Whether the caller runs on @c's I/O thread (in a watch callback). */
bool client_on_io_thread(const cairn_client *c);

/* The client's deadline of a call, ms. */
uint32_t client_deadline_ms(const cairn_client *c);

/* Write the message @fmt into @errmsg (CAIRN_ERRMSG_SIZE bytes; NULL: no
 * message) and return @code. */
int client_fail(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* CAIRN_CLIENT_INTERNAL_H */
