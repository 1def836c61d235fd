/*
 * A node's consensus layer: the peer listener and the Raft groups (one per
 * bucket replica, plus the meta group) that share it, on the node's loop.
 *
 * Proposals are batched: commands proposed during one loop turn wait in a
 * queue, and a check handle (which runs after the loop polled for I/O)
 * encodes them into one log entry per CONSENSUS_BATCH_MAX commands. An idle
 * handle runs alongside so the loop does not block in poll while commands
 * wait. Each raft_apply costs an append and an AppendEntries per follower
 * (RAFT-NOTES), so one entry per turn is what lets a busy group scale.
 *
 * Linearizable reads: canonical/raft 0.15 has no ReadIndex, and a new leader
 * appends no entry of its own, so a read waits for a barrier entry issued
 * after it arrived to apply. One barrier serves every read that arrived
 * before it was issued; reads arriving meanwhile share the next one.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <raft/uv.h>
#include <uv.h>

#include "internal.h"
#include "transport.h"

#define DEFAULT_ELECTION_MS 1000
#define DEFAULT_HEARTBEAT_MS 100
#define DEFAULT_SNAPSHOT_THRESHOLD 100000
#define DEFAULT_SNAPSHOT_TRAILING 50000
#define PROPOSAL_MAX ((size_t)32 << 20)

struct pending {
    struct pending *next;
    consensus_propose_cb cb;
    void *data;
    size_t len;
    uint8_t bytes[];
};

struct batch_item {
    consensus_propose_cb cb;
    void *data;
};

struct batch {
    struct raft_apply req;
    consensus_group *g;
    unsigned n;
    struct batch_item items[];
};

struct reader {
    struct reader *next;
    consensus_read_cb cb;
    void *data;
};

struct barrier {
    struct raft_barrier req;
    consensus_group *g;
    struct reader *readers;
};

/*
 * struct raft_transfer embeds the raft_io_send of its TimeoutNow message.
 * When the target is unreachable that send waits in raft_uv's queue after
 * the transfer's callback, until raft_uv closes and cancels it: the memory
 * must live until the group is freed, so transfers stay on g->transfers.
 */
struct transfer {
    struct raft_transfer req;
    struct transfer *next; /* in g->transfers */
    consensus_group *g;
    consensus_read_cb cb;
    void *data;
};

/*
 * raft_uv 0.15 can fire its close callback before it is done with the
 * group's memory (docs/consensus.md, "what bit us"): when raft_uv closes, it
 * finalizes the open segment (thread pool work) and closes that segment's
 * writer handles, but it does not count those handles among what its close
 * waits for. If the work completes before the loop runs the handles' close
 * callbacks, raft's close callback fires first; the writer's close callback
 * then runs raft_uv's close check again (src/uv_append.c,
 * uvAliveSegmentWriterCloseCb -> src/uv.c, uvMaybeFireCloseCb), which calls
 * the close callback a second time. Freeing raft_uv (raft_uv_close) or the
 * group in the first call made that a use after free: SIGSEGV in raft's
 * ioCloseCb on SIGTERM.
 *
 * So the group (1) passes raft_uv a close callback of its own that lets
 * only the first call through (struct raft_io is an interface: the group
 * wraps raft_uv's `close`), and (2) after raft's close callback, keeps
 * raft_uv and itself until every handle raft_uv closed before that point
 * has run its close callback: libuv runs close callbacks in its closing
 * phase, and a handle closed during that phase waits for the next one, so
 * closing a handle of our own, and then again from its close callback,
 * outlasts every handle already closing (DRAIN_ROUNDS).
 */
#define DRAIN_ROUNDS 2

struct consensus_group {
    consensus *c;
    consensus_group *next; /* in c->groups */
    uint64_t id;
    char dir[4096];
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct consensus_fsm fsm;
    bool raft_inited; /* raft_init succeeded: raft_close needed */
    bool raft_drained; /* raft closed and raft_uv's handles all closed */
    /* raft_uv's own close, and raft's callback for it (see above) */
    void (*uv_io_close)(struct raft_io *io, raft_io_close_cb cb);
    raft_io_close_cb io_close_cb;
    bool io_close_fired;
    uv_idle_t drain;   /* closed DRAIN_ROUNDS times after raft closed */
    unsigned drain_rounds;
    struct pending *queue;
    struct pending **queue_tail;
    unsigned queued;
    struct reader *waiting; /* for the next barrier */
    bool barrier_in_flight;
    uv_check_t check;
    uv_idle_t idle;
    unsigned handles_open;
    bool stopping;
    void (*stop_cb)(void *data);
    void *stop_data;
    struct transfer *transfers; /* freed with the group (see transfer) */
};

struct consensus {
    uv_loop_t *loop;
    uint64_t id;
    char cluster[CAIRN_CLUSTER_NAME_MAX + 1];
    char raft_dir[4096];
    storage *s;
    unsigned election_ms, heartbeat_ms;
    unsigned snapshot_threshold, snapshot_trailing;
    consensus_log_cb log;
    void *log_data;
    struct consensus_peer_listener listener;
    consensus_group *groups;
    bool closing;
    void (*close_cb)(void *data);
    void *close_data;
};

static int fail(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errmsg, int code, const char *fmt, ...)
{
    va_list ap;
    if (errmsg != NULL) {
        va_start(ap, fmt);
        vsnprintf(errmsg, CAIRN_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void logf_(consensus *c, int level, const char *group, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

static void logf_(consensus *c, int level, const char *group, const char *fmt,
                  ...)
{
    char msg[CAIRN_ERRMSG_SIZE * 2];
    va_list ap;
    if (c->log == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(c->log_data, level, group, msg);
}

/* The transport's log lines go to the node's log, without a group. */
static void listener_log(void *data, int level, const char *msg)
{
    consensus *c = data;
    if (c->log != NULL) {
        c->log(c->log_data, level, NULL, msg);
    }
}

static int make_dirs(const char *dir, char *errmsg)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        return fail(errmsg, CAIRN_EINVAL, "directory path '%.64s' is empty "
                    "or too long", dir);
    }
    memcpy(path, dir, n + 1);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                return fail(errmsg, CAIRN_EIO, "create directory '%s': %s",
                            path, strerror(errno));
            }
            *p = saved;
            if (saved == '\0') {
                break;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * The layer
 * ---------------------------------------------------------------------- */

int consensus_create(struct uv_loop_s *loop, const struct consensus_options *o,
                     consensus **out, char *errmsg)
{
    consensus *c;
    int rc;
    if (o->id == 0 || o->cluster == NULL || o->peer_address == NULL ||
        o->raft_dir == NULL || o->storage == NULL) {
        return fail(errmsg, CAIRN_EINVAL,
                    "consensus: id, cluster, peer address, raft directory "
                    "and storage are required");
    }
    if (strlen(o->raft_dir) >= sizeof c->raft_dir - 32 ||
        strlen(o->cluster) > CAIRN_CLUSTER_NAME_MAX) {
        return fail(errmsg, CAIRN_EINVAL,
                    "consensus: raft directory or cluster name too long");
    }
    if ((rc = make_dirs(o->raft_dir, errmsg)) != 0) {
        return rc;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "consensus: out of memory");
    }
    c->loop = loop;
    c->id = o->id;
    snprintf(c->cluster, sizeof c->cluster, "%s", o->cluster);
    snprintf(c->raft_dir, sizeof c->raft_dir, "%s", o->raft_dir);
    c->s = o->storage;
    c->election_ms = o->election_timeout_ms ? o->election_timeout_ms
                                            : DEFAULT_ELECTION_MS;
    c->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    c->snapshot_threshold = o->snapshot_threshold
                                ? o->snapshot_threshold
                                : DEFAULT_SNAPSHOT_THRESHOLD;
    c->snapshot_trailing = o->snapshot_trailing ? o->snapshot_trailing
                                                : DEFAULT_SNAPSHOT_TRAILING;
    if (c->election_ms <= c->heartbeat_ms) {
        free(c);
        return fail(errmsg, CAIRN_EINVAL,
                    "consensus: election timeout %u ms must exceed the "
                    "heartbeat %u ms",
                    o->election_timeout_ms, o->heartbeat_ms);
    }
    c->log = o->log;
    c->log_data = o->log_data;
    rc = consensus__peer_listener_init(&c->listener, loop, c->cluster, c->id,
                                       o->peer_address, listener_log, c,
                                       errmsg);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->listener.data = c;
    if ((rc = consensus__peer_listener_start(&c->listener, errmsg)) != 0) {
        /* The listener must be closed even though it never started; the
         * layer is freed in its close callback. */
        consensus_close(c, NULL, NULL);
        return rc;
    }
    *out = c;
    return 0;
}

const char *consensus_peer_address(const consensus *c)
{
    return consensus__peer_listener_address(&c->listener);
}

static void listener_closed(struct consensus_peer_listener *l)
{
    consensus *c = l->data;
    void (*cb)(void *) = c->close_cb;
    void *data = c->close_data;
    free(c);
    if (cb != NULL) {
        cb(data);
    }
}

static void maybe_finish_close(consensus *c)
{
    if (c->closing && c->groups == NULL) {
        consensus__peer_listener_close(&c->listener, listener_closed);
    }
}

void consensus_close(consensus *c, void (*cb)(void *data), void *data)
{
    consensus_group *g, *next;
    if (c->closing) {
        return;
    }
    c->closing = true;
    c->close_cb = cb;
    c->close_data = data;
    for (g = c->groups; g != NULL; g = next) {
        next = g->next;
        consensus_group_stop(g, NULL, NULL);
    }
    maybe_finish_close(c);
}

/* ------------------------------------------------------------------------
 * Groups: start and stop
 * ---------------------------------------------------------------------- */

static void flush_cb(uv_check_t *h);
static void idle_cb(uv_idle_t *h)
{
    (void)h; /* keeps the loop from blocking while commands wait */
}

static void unlink_group(consensus_group *g)
{
    consensus_group **p;
    for (p = &g->c->groups; *p != NULL; p = &(*p)->next) {
        if (*p == g) {
            *p = g->next;
            break;
        }
    }
}

static void maybe_free_group(consensus_group *g)
{
    consensus *c = g->c;
    void (*cb)(void *);
    void *data;
    if (g->handles_open > 0 || (g->raft_inited && !g->raft_drained)) {
        return;
    }
    if (g->raft_inited) {
        raft_uv_close(&g->io); /* frees raft_uv: nothing of it is left */
    }
    consensus__transport_close(&g->transport);
    consensus__fsm_close(&g->fsm);
    while (g->transfers != NULL) {
        struct transfer *t = g->transfers;
        g->transfers = t->next;
        free(t);
    }
    unlink_group(g);
    cb = g->stop_cb;
    data = g->stop_data;
    free(g);
    if (cb != NULL) {
        cb(data);
    }
    maybe_finish_close(c);
}

static void handle_closed(uv_handle_t *h)
{
    consensus_group *g = h->data;
    g->handles_open--;
    maybe_free_group(g);
}

static void drain_closed(uv_handle_t *h)
{
    consensus_group *g = h->data;
    if (++g->drain_rounds < DRAIN_ROUNDS) {
        uv_idle_init(g->c->loop, &g->drain);
        g->drain.data = g;
        uv_close((uv_handle_t *)&g->drain, drain_closed);
        return;
    }
    g->raft_drained = true;
    maybe_free_group(g);
}

/* raft's close callback: raft_uv may still run handle callbacks that read
 * its memory and ours (see struct consensus_group); drain them first. */
static void raft_closed(struct raft *r)
{
    consensus_group *g = r->data;
    uv_idle_init(g->c->loop, &g->drain);
    g->drain.data = g;
    uv_close((uv_handle_t *)&g->drain, drain_closed);
}

/* The group whose io is @io (embedded: g->io). */
static consensus_group *group_of_io(struct raft_io *io)
{
    return (consensus_group *)(void *)((char *)io -
                                       offsetof(consensus_group, io));
}

/* The io's close callback, as raft_uv calls it: only the first call goes
 * on to raft. The group is still allocated for a later one (drain). */
static void io_closed(struct raft_io *io)
{
    consensus_group *g = group_of_io(io);
    if (g->io_close_fired) {
        return;
    }
    g->io_close_fired = true;
    g->io_close_cb(io);
}

/* The io's `close` as raft calls it (from raft_close): raft_uv's, with
 * io_closed in between. */
static void io_close(struct raft_io *io, raft_io_close_cb cb)
{
    consensus_group *g = group_of_io(io);
    g->io_close_cb = cb;
    g->uv_io_close(io, io_closed);
}

static void fail_queue(consensus_group *g, int status)
{
    struct pending *p = g->queue, *next;
    g->queue = NULL;
    g->queue_tail = &g->queue;
    g->queued = 0;
    for (; p != NULL; p = next) {
        next = p->next;
        p->cb(p->data, status, NULL);
        free(p);
    }
}

static void fail_readers(struct reader *r, int status)
{
    struct reader *next;
    for (; r != NULL; r = next) {
        next = r->next;
        r->cb(r->data, status);
        free(r);
    }
}

void consensus_group_stop(consensus_group *g, void (*cb)(void *data),
                          void *data)
{
    struct reader *waiting;
    if (g->stopping) {
        return;
    }
    g->stopping = true;
    g->stop_cb = cb;
    g->stop_data = data;
    logf_(g->c, 1, g->fsm.bucket, "stopping group %llu",
          (unsigned long long)g->id);
    /* Commands still queued never reached the log. */
    fail_queue(g, CAIRN_ENOTLEADER);
    waiting = g->waiting;
    g->waiting = NULL;
    fail_readers(waiting, CAIRN_EUNAVAILABLE);
    uv_close((uv_handle_t *)&g->check, handle_closed);
    uv_close((uv_handle_t *)&g->idle, handle_closed);
    if (g->raft_inited) {
        /* Pending applies and barriers fail through their callbacks. */
        raft_close(&g->raft, raft_closed);
    }
}

int consensus_group_start(consensus *c, uint64_t group_id, const char *bucket,
                          const struct consensus_member *members, unsigned n,
                          const struct consensus_group_options *go,
                          consensus_group **out, char *errmsg)
{
    struct raft_configuration conf;
    const char *self = NULL;
    const char *raft_dir = c->raft_dir;
    storage *s = c->s;
    consensus_group *g;
    int rc;

    if (c->closing) {
        return fail(errmsg, CAIRN_EINVAL, "group %llu: consensus is closing",
                    (unsigned long long)group_id);
    }
    if (n > CAIRN_REPLICAS_MAX) {
        return fail(errmsg, CAIRN_EINVAL, "group %llu: %u members (0..%d)",
                    (unsigned long long)group_id, n, CAIRN_REPLICAS_MAX);
    }
    for (unsigned i = 0; i < n; i++) {
        if (members[i].id == c->id) {
            self = members[i].address;
        }
    }
    if (n == 0) {
        self = consensus_peer_address(c); /* waits to be added */
    }
    if (self == NULL) {
        return fail(errmsg, CAIRN_EINVAL,
                    "group %llu: this node (%llu) is not a member",
                    (unsigned long long)group_id, (unsigned long long)c->id);
    }
    for (g = c->groups; g != NULL; g = g->next) {
        if (g->id == group_id) {
            return fail(errmsg, CAIRN_EEXIST, "group %llu is already running",
                        (unsigned long long)group_id);
        }
    }
    g = calloc(1, sizeof *g);
    if (g == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "group: out of memory");
    }
    if (go != NULL && go->storage != NULL) {
        s = go->storage;
    }
    if (go != NULL && go->raft_dir != NULL) {
        raft_dir = go->raft_dir;
    }
    g->c = c;
    g->id = group_id;
    g->queue_tail = &g->queue;
    if ((size_t)snprintf(g->dir, sizeof g->dir, "%s/%llu", raft_dir,
                         (unsigned long long)group_id) >= sizeof g->dir) {
        free(g);
        return fail(errmsg, CAIRN_EINVAL, "group %llu: path too long",
                    (unsigned long long)group_id);
    }
    if ((rc = consensus__fsm_init(&g->fsm, s, bucket, errmsg)) != 0 ||
        (rc = make_dirs(g->dir, errmsg)) != 0) {
        free(g);
        return rc;
    }
    if ((rc = consensus__transport_init(&g->transport, &c->listener,
                                        group_id)) != 0) {
        fail(errmsg, rc, "group %llu: %s", (unsigned long long)group_id,
             g->transport.errmsg);
        free(g);
        return rc;
    }
    /* From here on the group is linked and stops asynchronously. */
    g->next = c->groups;
    c->groups = g;
    uv_check_init(c->loop, &g->check);
    uv_idle_init(c->loop, &g->idle);
    g->check.data = g;
    g->idle.data = g;
    g->handles_open = 2;

    rc = raft_uv_init(&g->io, c->loop, g->dir, &g->transport);
    if (rc != 0) {
        rc = fail(errmsg, CAIRN_EIO, "group %llu: raft io in '%s': %s",
                  (unsigned long long)group_id, g->dir, g->io.errmsg);
        goto err_stop;
    }
    /* raft_uv may call its close callback twice (struct consensus_group). */
    g->uv_io_close = g->io.close;
    g->io.close = io_close;
    rc = raft_init(&g->raft, &g->io, &g->fsm.fsm, c->id, self);
    if (rc != 0) {
        rc = fail(errmsg, CAIRN_EIO, "group %llu: raft init: %s",
                  (unsigned long long)group_id, g->io.errmsg);
        raft_uv_close(&g->io);
        goto err_stop;
    }
    g->raft_inited = true;
    g->raft.data = g;
    g->fsm.raft = &g->raft;
    raft_set_election_timeout(&g->raft, c->election_ms);
    raft_set_heartbeat_timeout(&g->raft, c->heartbeat_ms);
    raft_set_snapshot_threshold(&g->raft, c->snapshot_threshold);
    raft_set_snapshot_trailing(&g->raft, c->snapshot_trailing);
    raft_set_pre_vote(&g->raft, true);
    /* A snapshot sent to a peer that died before reading it is only
     * resent after this timeout (30 s by default): long enough for a big
     * snapshot on a slow link, short enough that a restarted replica
     * catches up soon. */
    raft_set_install_snapshot_timeout(
        &g->raft, c->election_ms * 10 > 5000 ? c->election_ms * 10 : 5000);

    bool resumed = false;
    raft_configuration_init(&conf);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        rc = raft_configuration_add(&conf, members[i].id, members[i].address,
                                    RAFT_VOTER);
    }
    if (rc == 0 && n == 0) {
        resumed = true; /* nothing to bootstrap: a leader adds us */
    } else if (rc == 0) {
        rc = raft_bootstrap(&g->raft, &conf);
        if (rc == RAFT_CANTBOOTSTRAP) {
            rc = 0; /* the group has a log already: resume from it */
            resumed = true;
        }
    }
    raft_configuration_close(&conf);
    if (rc != 0) {
        rc = fail(errmsg, CAIRN_EIO, "group %llu: bootstrap: %s",
                  (unsigned long long)group_id, raft_errmsg(&g->raft));
        goto err_stop;
    }
    if ((rc = raft_start(&g->raft)) != 0) {
        rc = fail(errmsg, CAIRN_EIO, "group %llu: start: %s",
                  (unsigned long long)group_id, raft_errmsg(&g->raft));
        goto err_stop;
    }
    logf_(c, 1, g->fsm.bucket, "group %llu %s", (unsigned long long)group_id,
          resumed ? "resumed from its log" : "bootstrapped");
    *out = g;
    return 0;

err_stop:
    consensus_group_stop(g, NULL, NULL);
    return rc;
}

/* ------------------------------------------------------------------------
 * Proposals
 * ---------------------------------------------------------------------- */

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct batch *b = req->data;
    const struct consensus_apply_result *r = result;
    for (unsigned i = 0; i < b->n; i++) {
        struct batch_item *it = &b->items[i];
        if (status != 0) {
            it->cb(it->data, CAIRN_EUNAVAILABLE, NULL);
        } else if (r->code != 0 || i >= r->n) {
            struct storage_result refused = {.code = r->code};
            memcpy(refused.errmsg, r->errmsg, sizeof refused.errmsg);
            it->cb(it->data, 0, &refused);
        } else {
            it->cb(it->data, 0, &r->results[i]);
        }
    }
    free(b);
}

/* Append up to CONSENSUS_BATCH_MAX queued commands as one entry. */
static void flush_one(consensus_group *g)
{
    struct consensus_cmd_buf cmds[CONSENSUS_BATCH_MAX];
    struct pending *p = g->queue;
    unsigned n = g->queued < CONSENSUS_BATCH_MAX ? g->queued
                                                 : CONSENSUS_BATCH_MAX;
    struct raft_buffer buf;
    struct batch *b = malloc(sizeof *b + n * sizeof b->items[0]);
    char errmsg[CAIRN_ERRMSG_SIZE];
    int rc = b != NULL ? 0 : CAIRN_ENOMEM;
    int status = CAIRN_EUNAVAILABLE;

    for (unsigned i = 0; i < n; i++, p = p->next) {
        cmds[i].base = p->bytes;
        cmds[i].len = p->len;
    }
    if (rc == 0) {
        rc = consensus_entry_encode(cmds, n, raft_malloc, &buf.base, &buf.len,
                                    errmsg);
    }
    if (rc == 0) {
        b->g = g;
        b->n = n;
        b->req.data = b;
        for (unsigned i = 0; i < n; i++) {
            b->items[i].cb = g->queue->cb;
            b->items[i].data = g->queue->data;
            p = g->queue;
            g->queue = p->next;
            free(p);
        }
        if (g->queue == NULL) {
            g->queue_tail = &g->queue;
        }
        g->queued -= n;
        rc = raft_apply(&g->raft, &b->req, &buf, 1, apply_cb);
        if (rc == 0) {
            return;
        }
        raft_free(buf.base);
        status = rc == RAFT_NOTLEADER ? CAIRN_ENOTLEADER : CAIRN_EUNAVAILABLE;
        logf_(g->c, 2, g->fsm.bucket, "append of %u commands failed: %s", n,
              raft_strerror(rc));
        for (unsigned i = 0; i < n; i++) {
            b->items[i].cb(b->items[i].data, status, NULL);
        }
        free(b);
        return;
    }
    /* Out of memory: fail what is queued rather than spin. */
    free(b);
    fail_queue(g, CAIRN_ENOTLEADER);
}

static void flush_cb(uv_check_t *h)
{
    consensus_group *g = h->data;
    while (g->queued > 0 && !g->stopping) {
        flush_one(g);
    }
    uv_check_stop(&g->check);
    uv_idle_stop(&g->idle);
}

int consensus_group_propose(consensus_group *g, const void *cmd, size_t len,
                            consensus_propose_cb cb, void *data,
                            char *errmsg)
{
    struct pending *p;
    if (g->stopping || raft_state(&g->raft) != RAFT_LEADER) {
        return fail(errmsg, CAIRN_ENOTLEADER,
                    "bucket '%s': this node is not the leader",
                    g->fsm.bucket);
    }
    if (len == 0 || len > PROPOSAL_MAX) {
        return fail(errmsg, CAIRN_ETOOLARGE,
                    "command of %zu bytes (the limit is %zu)", len,
                    PROPOSAL_MAX);
    }
    p = malloc(sizeof *p + len);
    if (p == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "propose: out of memory");
    }
    p->next = NULL;
    p->cb = cb;
    p->data = data;
    p->len = len;
    memcpy(p->bytes, cmd, len);
    *g->queue_tail = p;
    g->queue_tail = &p->next;
    if (g->queued++ == 0) {
        uv_check_start(&g->check, flush_cb);
        uv_idle_start(&g->idle, idle_cb);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Linearizable reads
 * ---------------------------------------------------------------------- */

static int issue_barrier(consensus_group *g);

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct barrier *b = req->data;
    consensus_group *g = b->g;
    struct reader *readers = b->readers;
    free(b);
    g->barrier_in_flight = false;
    fail_readers(readers, status == 0 ? 0 : CAIRN_EUNAVAILABLE);
    if (g->waiting != NULL && !g->stopping) {
        int rc = issue_barrier(g);
        if (rc != 0) {
            struct reader *waiting = g->waiting;
            g->waiting = NULL;
            fail_readers(waiting, rc);
        }
    }
}

/* Issue a barrier for every waiting reader. On failure the readers stay
 * waiting and the caller decides. */
static int issue_barrier(consensus_group *g)
{
    struct barrier *b = malloc(sizeof *b);
    int rc;
    if (b == NULL) {
        return CAIRN_ENOMEM;
    }
    b->g = g;
    b->readers = g->waiting;
    b->req.data = b;
    rc = raft_barrier(&g->raft, &b->req, barrier_cb);
    if (rc != 0) {
        free(b);
        return rc == RAFT_NOTLEADER ? CAIRN_ENOTLEADER : CAIRN_EUNAVAILABLE;
    }
    g->waiting = NULL;
    g->barrier_in_flight = true;
    return 0;
}

int consensus_group_read_barrier(consensus_group *g, consensus_read_cb cb,
                                 void *data, char *errmsg)
{
    struct reader *r, **tail;
    int rc;
    if (g->stopping || raft_state(&g->raft) != RAFT_LEADER) {
        return fail(errmsg, CAIRN_ENOTLEADER,
                    "bucket '%s': this node is not the leader",
                    g->fsm.bucket);
    }
    r = malloc(sizeof *r);
    if (r == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "read: out of memory");
    }
    r->next = NULL;
    r->cb = cb;
    r->data = data;
    for (tail = &g->waiting; *tail != NULL; tail = &(*tail)->next) {
    }
    *tail = r;
    if (!g->barrier_in_flight && (rc = issue_barrier(g)) != 0) {
        /* Only this reader can be waiting: no barrier was in flight. */
        g->waiting = NULL;
        free(r);
        return fail(errmsg, rc, "bucket '%s': read barrier: %s",
                    g->fsm.bucket, cairn_strerror(rc));
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Leadership transfer
 * ---------------------------------------------------------------------- */


static void transfer_cb(struct raft_transfer *req)
{
    struct transfer *t = req->data;
    consensus_group *g = t->g;
    raft_id id = 0;
    const char *address;
    raft_leader(&g->raft, &id, &address);
    /* raft reports completion, not success: a transfer succeeded when
     * another voter leads. */
    t->cb(t->data, id != 0 && id != g->c->id ? 0 : CAIRN_EUNAVAILABLE);
}

int consensus_group_transfer(consensus_group *g, consensus_read_cb cb,
                             void *data, char *errmsg)
{
    struct transfer *t;
    int rc;
    if (g->stopping || raft_state(&g->raft) != RAFT_LEADER) {
        return fail(errmsg, CAIRN_ENOTLEADER,
                    "bucket '%s': this node is not the leader",
                    g->fsm.bucket);
    }
    t = malloc(sizeof *t);
    if (t == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "transfer: out of memory");
    }
    t->g = g;
    t->cb = cb;
    t->data = data;
    t->req.data = t;
    rc = raft_transfer(&g->raft, &t->req, 0, transfer_cb);
    if (rc == 0) {
        t->next = g->transfers;
        g->transfers = t;
    } else {
        free(t);
        return fail(errmsg, rc == RAFT_NOTLEADER ? CAIRN_ENOTLEADER : CAIRN_EBUSY,
                    "bucket '%s': transfer: %s", g->fsm.bucket,
                    raft_strerror(rc));
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * State
 * ---------------------------------------------------------------------- */

bool consensus_group_is_leader(consensus_group *g)
{
    return !g->stopping && raft_state(&g->raft) == RAFT_LEADER;
}

uint64_t consensus_group_leader(consensus_group *g, const char **address)
{
    raft_id id = 0;
    const char *addr = NULL;
    if (!g->stopping) {
        raft_leader(&g->raft, &id, &addr);
    }
    if (address != NULL) {
        *address = addr;
    }
    return id;
}

uint64_t consensus_group_applied(consensus_group *g)
{
    return raft_last_applied(&g->raft);
}

uint64_t consensus_group_term(consensus_group *g)
{
    return g->stopping ? 0 : g->raft.current_term;
}

const char *consensus_group_bucket(const consensus_group *g)
{
    return g->fsm.bucket;
}

void consensus_group_on_apply(consensus_group *g, void (*cb)(void *data),
                              void *data)
{
    g->fsm.on_apply = cb;
    g->fsm.on_apply_data = data;
}

/* ------------------------------------------------------------------------
 * Membership
 * ---------------------------------------------------------------------- */

const char *consensus_role_name(int role)
{
    switch (role) {
    case CONSENSUS_VOTER:
        return "voter";
    case CONSENSUS_STANDBY:
        return "standby";
    case CONSENSUS_SPARE:
        return "spare";
    default:
        return "unknown";
    }
}

static int role_from_raft(int role)
{
    return role == RAFT_VOTER     ? CONSENSUS_VOTER
           : role == RAFT_STANDBY ? CONSENSUS_STANDBY
                                  : CONSENSUS_SPARE;
}

unsigned consensus_group_members(consensus_group *g,
                                 struct consensus_member_info *out,
                                 unsigned max)
{
    const struct raft_configuration *conf = &g->raft.configuration;
    /* A leader's progress array follows its configuration, index for
     * index (raft rebuilds it on every configuration change). */
    bool leader = !g->stopping && raft_state(&g->raft) == RAFT_LEADER &&
                  g->raft.leader_state.progress != NULL;
    for (unsigned i = 0; i < conf->n && i < max; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].id = conf->servers[i].id;
        snprintf(out[i].address, sizeof out[i].address, "%s",
                 conf->servers[i].address);
        out[i].role = role_from_raft(conf->servers[i].role);
        if (leader) {
            const struct raft_progress *p = &g->raft.leader_state.progress[i];
            bool self = conf->servers[i].id == g->raft.id;
            out[i].has_match = true;
            out[i].match = self ? raft_last_index(&g->raft) : p->match_index;
            out[i].recent = self || p->recent_recv;
        }
    }
    return conf->n;
}

uint64_t consensus_group_last_index(consensus_group *g)
{
    return raft_last_index(&g->raft);
}

struct change {
    struct raft_change req;
    consensus_group *g;
    uint64_t id;
    int role; /* raft role to assign after the add; -1: none */
    consensus_read_cb cb;
    void *data;
};

static int change_status(int rc)
{
    return rc == RAFT_NOTLEADER || rc == RAFT_LEADERSHIPLOST
               ? CAIRN_ENOTLEADER
               : CAIRN_EUNAVAILABLE;
}

static void change_cb(struct raft_change *req, int status)
{
    struct change *ch = req->data;
    consensus_group *g = ch->g;
    int rc;
    if (status == 0 && ch->role >= 0 && !g->stopping) {
        int role = ch->role;
        ch->role = -1;
        rc = raft_assign(&g->raft, &ch->req, ch->id, role, change_cb);
        if (rc == 0) {
            return;
        }
        status = rc;
    }
    if (status != 0) {
        logf_(g->c, 2, g->fsm.bucket, "configuration change for node %llu: %s",
              (unsigned long long)ch->id, raft_strerror(status));
    }
    ch->cb(ch->data, status == 0 ? 0 : change_status(status));
    free(ch);
}

static int change_start_error(consensus_group *g, int rc, char *errmsg)
{
    return fail(errmsg,
                rc == RAFT_NOTLEADER  ? CAIRN_ENOTLEADER
                : rc == RAFT_NOMEM    ? CAIRN_ENOMEM
                : rc == RAFT_CANTCHANGE ? CAIRN_EBUSY
                : rc == RAFT_BADID    ? CAIRN_ENOTFOUND
                                      : CAIRN_EINVAL,
                "bucket '%s': configuration change: %s", g->fsm.bucket,
                raft_strerror(rc));
}

int consensus_group_add(consensus_group *g, uint64_t id, const char *address,
                        int role, consensus_read_cb cb, void *data,
                        char *errmsg)
{
    const struct raft_server *srv;
    struct change *ch;
    int raft_role, rc;
    if (g->stopping || raft_state(&g->raft) != RAFT_LEADER) {
        return fail(errmsg, CAIRN_ENOTLEADER,
                    "bucket '%s': this node is not the leader",
                    g->fsm.bucket);
    }
    if (role != CONSENSUS_VOTER && role != CONSENSUS_STANDBY &&
        role != CONSENSUS_SPARE) {
        return fail(errmsg, CAIRN_EINVAL, "bad role %d", role);
    }
    raft_role = role == CONSENSUS_VOTER     ? RAFT_VOTER
                : role == CONSENSUS_STANDBY ? RAFT_STANDBY
                                            : RAFT_SPARE;
    ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "add: out of memory");
    }
    ch->g = g;
    ch->id = id;
    ch->cb = cb;
    ch->data = data;
    ch->req.data = ch;
    srv = NULL;
    for (unsigned i = 0; i < g->raft.configuration.n; i++) {
        if (g->raft.configuration.servers[i].id == id) {
            srv = &g->raft.configuration.servers[i];
        }
    }
    if (srv == NULL) {
        ch->role = raft_role == RAFT_SPARE ? -1 : raft_role;
        rc = raft_add(&g->raft, &ch->req, id, address, change_cb);
    } else {
        ch->role = -1;
        rc = raft_assign(&g->raft, &ch->req, id, raft_role, change_cb);
    }
    if (rc != 0) {
        free(ch);
        return change_start_error(g, rc, errmsg);
    }
    return 0;
}

int consensus_group_remove(consensus_group *g, uint64_t id,
                           consensus_read_cb cb, void *data, char *errmsg)
{
    struct change *ch;
    int rc;
    if (g->stopping || raft_state(&g->raft) != RAFT_LEADER) {
        return fail(errmsg, CAIRN_ENOTLEADER,
                    "bucket '%s': this node is not the leader",
                    g->fsm.bucket);
    }
    ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "remove: out of memory");
    }
    ch->g = g;
    ch->id = id;
    ch->role = -1;
    ch->cb = cb;
    ch->data = data;
    ch->req.data = ch;
    rc = raft_remove(&g->raft, &ch->req, id, change_cb);
    if (rc != 0) {
        free(ch);
        return change_start_error(g, rc, errmsg);
    }
    return 0;
}
