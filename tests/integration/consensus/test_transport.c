/*
 * The peer transport (consensus/transport.h) on real sockets, 127.0.0.1
 * only, ports picked by the kernel (listeners bind port 0):
 *
 *   cluster_commits      three nodes in one process (three listeners on one
 *                        loop), two bucket groups, each a real 3-voter
 *                        raft group over raft_uv: both elect a leader and
 *                        commit entries through the shared ports, and every
 *                        node's state machine applied the same entries.
 *   bad_peers            wrong cluster, version 2, unknown group, garbage,
 *                        malformed fields and half a hello are refused (the
 *                        status byte checked where one is sent) and logged,
 *                        and the groups go on committing.
 *   hand_over            bytes sent right behind the hello, in one write or
 *                        dripped one byte at a time, reach the group's
 *                        stream intact; a transport connects to another
 *                        listener and the accepting group reads what it
 *                        writes.
 *   connect_cancel       closing a transport while a connect is pending
 *                        (TCP connect, or hello sent and no answer) calls
 *                        the connect callback once with RAFT_CANCELED,
 *                        before the close callback; refusals and closed
 *                        ports give RAFT_NOCONNECTION.
 *
 * Every wait is bounded by a timer: a run that does not converge within
 * DEADLINE_MS fails instead of hanging. Teardown closes everything and
 * checks that the loop has no handle left (ASan then checks for leaks).
 * CAIRN_TEST_VERBOSE=1 prints the transport's log lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tmpdir.h"
#include "transport.h"

#define N_NODES 3
#define N_GROUPS 2
#define CLUSTER "test-cluster"
#define DEADLINE_MS 10000
#define HELLO_TIMEOUT_MS 400
#define MAX_LOGS 512

static const uint64_t group_ids[N_GROUPS] = {0x1001, 0x2002};

struct fix;
struct probe;
struct silent_server;
struct fake_group;
struct connect_rec;

#define N_FAKES 2

/* One group's replica on one node, with a state machine that counts the
 * entries it applies and hashes their values in order. */
struct member {
    struct fix *f;
    int group;
    char dir[256];
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    bool running; /* raft_init succeeded and raft_close not finished */
    uint64_t count;
    uint64_t hash;
};

struct node {
    struct consensus_peer_listener l;
    bool open;
};

struct log_line {
    int level;
    char msg[512];
};

struct fix {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    struct node nodes[N_NODES];
    bool have_groups;
    struct member members[N_GROUPS][N_NODES];
    unsigned n_logs;
    struct log_line logs[MAX_LOGS];
    /* Helpers a test uses, owned by the fixture so that teardown can
     * close what a failed test left open. */
    struct probe *probe;
    struct silent_server *silent;
    struct fake_group *fakes; /* N_FAKES */
    struct connect_rec *rec;
    /* the apply in flight */
    bool apply_pending;
    int apply_status;
    uint64_t next_value;
};

/* ------------------------------------------------------------------------
 * Loop helpers
 * ---------------------------------------------------------------------- */

static bool verbose(void)
{
    const char *v = getenv("CAIRN_TEST_VERBOSE");
    return v != NULL && v[0] == '1';
}

static void log_cb(void *data, int level, const char *msg)
{
    struct fix *f = data;
    if (verbose()) {
        fprintf(stderr, "[transport %d] %s\n", level, msg);
    }
    if (f->n_logs < MAX_LOGS) {
        f->logs[f->n_logs].level = level;
        snprintf(f->logs[f->n_logs].msg, sizeof f->logs[0].msg, "%s", msg);
        f->n_logs++;
    }
}

/* How many WARN-or-worse log lines contain @needle. */
static unsigned count_logs(const struct fix *f, const char *needle)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->n_logs; i++) {
        if (f->logs[i].level >= CONSENSUS_LOG_WARN &&
            strstr(f->logs[i].msg, needle) != NULL) {
            n++;
        }
    }
    return n;
}

static void deadline_cb(uv_timer_t *timer)
{
    struct fix *f = timer->data;
    f->expired = true;
}

typedef bool (*cond_fn)(struct fix *f, void *arg);

/* Run the loop until @cond holds or @ms pass; returns whether it holds. */
static bool run_until(struct fix *f, cond_fn cond, void *arg, unsigned ms)
{
    f->expired = false;
    uv_timer_start(&f->deadline, deadline_cb, ms, 0);
    while (!cond(f, arg) && !f->expired) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&f->deadline);
    return cond(f, arg);
}

static bool cond_never(struct fix *f, void *arg)
{
    (void)f;
    (void)arg;
    return false;
}

/* Run the loop for @ms whatever happens. */
static void run_for(struct fix *f, unsigned ms)
{
    run_until(f, cond_never, NULL, ms);
}

/* ------------------------------------------------------------------------
 * A counting state machine
 * ---------------------------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    struct member *m = fsm->data;
    uint64_t v = 0;
    if (buf->len == sizeof v) {
        memcpy(&v, buf->base, sizeof v);
    }
    m->count++;
    m->hash = (m->hash ^ v) * 0x100000001b3ULL;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct member *m = fsm->data;
    uint64_t *state;
    *bufs = raft_malloc(sizeof **bufs);
    state = raft_malloc(2 * sizeof *state);
    if (*bufs == NULL || state == NULL) {
        raft_free(*bufs);
        raft_free(state);
        return RAFT_NOMEM;
    }
    state[0] = m->count;
    state[1] = m->hash;
    (*bufs)[0].base = state;
    (*bufs)[0].len = 2 * sizeof *state;
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct member *m = fsm->data;
    uint64_t state[2];
    if (buf->len != sizeof state) {
        return RAFT_MALFORMED;
    }
    memcpy(state, buf->base, sizeof state);
    m->count = state[0];
    m->hash = state[1];
    raft_free(buf->base);
    return 0;
}

/* ------------------------------------------------------------------------
 * Setup and teardown
 * ---------------------------------------------------------------------- */

/* Allocate and release the fixture's helper objects (defined below). */
static void helpers_create(struct fix *f);
static void helpers_close(struct fix *f);

static int setup_nodes(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    char err[CAIRN_ERRMSG_SIZE];
    assert_non_null(f);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_timer_init(&f->loop, &f->deadline), 0);
    f->deadline.data = f;
    helpers_create(f);
    for (int i = 0; i < N_NODES; i++) {
        struct consensus_peer_listener *l = &f->nodes[i].l;
        int rv = consensus__peer_listener_init(l, &f->loop, CLUSTER,
                                               (uint64_t)i + 1, "127.0.0.1:0",
                                               log_cb, f, err);
        assert_int_equal(rv, 0);
        f->nodes[i].open = true;
        consensus__peer_listener_set_timeout(l, HELLO_TIMEOUT_MS);
        rv = consensus__peer_listener_start(l, err);
        if (rv != 0) {
            fail_msg("%s", err);
        }
        /* The kernel chose the port. */
        assert_null(strstr(consensus__peer_listener_address(l), ":0"));
    }
    *state = f;
    return 0;
}

static int setup_cluster(void **state)
{
    struct fix *f;
    setup_nodes(state);
    f = *state;
    for (int g = 0; g < N_GROUPS; g++) {
        for (int i = 0; i < N_NODES; i++) {
            struct member *m = &f->members[g][i];
            struct consensus_peer_listener *l = &f->nodes[i].l;
            struct raft_configuration conf;
            m->f = f;
            m->group = g;
            assert_int_equal(test_tmpdir_create("transport", m->dir,
                                                sizeof m->dir),
                             0);
            if (consensus__transport_init(&m->transport, l, group_ids[g]) !=
                0) {
                fail_msg("%s", m->transport.errmsg);
            }
            assert_int_equal(
                raft_uv_init(&m->io, &f->loop, m->dir, &m->transport), 0);
            raft_uv_set_connect_retry_delay(&m->io, 50);
            raft_uv_set_segment_size(&m->io, 256 * 1024);
            m->fsm.version = 1;
            m->fsm.data = m;
            m->fsm.apply = fsm_apply;
            m->fsm.snapshot = fsm_snapshot;
            m->fsm.restore = fsm_restore;
            if (raft_init(&m->raft, &m->io, &m->fsm, (raft_id)i + 1,
                          consensus__peer_listener_address(l)) != 0) {
                fail_msg("raft_init: %s", m->io.errmsg);
            }
            m->running = true;
            raft_set_election_timeout(&m->raft, 150);
            raft_set_heartbeat_timeout(&m->raft, 30);
            raft_set_snapshot_threshold(&m->raft, 1u << 20);
            raft_configuration_init(&conf);
            for (int j = 0; j < N_NODES; j++) {
                assert_int_equal(
                    raft_configuration_add(
                        &conf, (raft_id)j + 1,
                        consensus__peer_listener_address(&f->nodes[j].l),
                        RAFT_VOTER),
                    0);
            }
            assert_int_equal(raft_bootstrap(&m->raft, &conf), 0);
            raft_configuration_close(&conf);
            if (raft_start(&m->raft) != 0) {
                fail_msg("raft_start: %s", raft_errmsg(&m->raft));
            }
        }
    }
    f->have_groups = true;
    return 0;
}

static void member_close_cb(struct raft *r)
{
    struct member *m = r->data;
    raft_uv_close(&m->io);
    consensus__transport_close(&m->transport);
    m->running = false;
}

static bool cond_rafts_closed(struct fix *f, void *arg)
{
    (void)arg;
    for (int g = 0; g < N_GROUPS; g++) {
        for (int i = 0; i < N_NODES; i++) {
            if (f->members[g][i].running) {
                return false;
            }
        }
    }
    return true;
}

static void listener_close_cb(struct consensus_peer_listener *l)
{
    struct node *n = l->data;
    n->open = false;
}

static bool cond_nodes_closed(struct fix *f, void *arg)
{
    (void)arg;
    for (int i = 0; i < N_NODES; i++) {
        if (f->nodes[i].open) {
            return false;
        }
    }
    return true;
}

static bool cond_node_closed(struct fix *f, void *arg)
{
    (void)f;
    return !((struct node *)arg)->open;
}

static void deadline_close_cb(uv_handle_t *handle)
{
    (void)handle;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    helpers_close(f);
    for (int g = 0; g < N_GROUPS && f->have_groups; g++) {
        for (int i = 0; i < N_NODES; i++) {
            struct member *m = &f->members[g][i];
            if (m->running) {
                m->raft.data = m;
                raft_close(&m->raft, member_close_cb);
            }
        }
    }
    assert_true(run_until(f, cond_rafts_closed, NULL, DEADLINE_MS));
    for (int i = 0; i < N_NODES; i++) {
        f->nodes[i].l.data = &f->nodes[i];
        consensus__peer_listener_close(&f->nodes[i].l, listener_close_cb);
    }
    assert_true(run_until(f, cond_nodes_closed, NULL, DEADLINE_MS));
    uv_close((uv_handle_t *)&f->deadline, deadline_close_cb);
    /* Nothing else may be left: a handle still open is a leak. */
    for (int i = 0; i < 200 && uv_loop_alive(&f->loop); i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (int g = 0; g < N_GROUPS && f->have_groups; g++) {
        for (int i = 0; i < N_NODES; i++) {
            test_tmpdir_remove(f->members[g][i].dir);
        }
    }
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------
 * Proposing and checking entries
 * ---------------------------------------------------------------------- */

static struct member *leader_of(struct fix *f, int g)
{
    for (int i = 0; i < N_NODES; i++) {
        if (raft_state(&f->members[g][i].raft) == RAFT_LEADER) {
            return &f->members[g][i];
        }
    }
    return NULL;
}

static bool cond_leaders(struct fix *f, void *arg)
{
    (void)arg;
    for (int g = 0; g < N_GROUPS; g++) {
        if (leader_of(f, g) == NULL) {
            return false;
        }
    }
    return true;
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    struct fix *f = req->data;
    (void)result;
    f->apply_status = status;
    f->apply_pending = false;
    free(req);
}

static bool cond_apply_done(struct fix *f, void *arg)
{
    (void)arg;
    return !f->apply_pending;
}

/* Commit @n entries in group @g, one at a time, through whichever member
 * leads; an entry whose leader lost leadership is proposed again. */
static void commit_entries(struct fix *f, int g, unsigned n)
{
    unsigned done = 0;
    uint64_t start = uv_now(&f->loop);
    while (done < n) {
        struct member *m;
        struct raft_apply *req;
        struct raft_buffer buf;
        uint64_t value = ++f->next_value;
        int rv;

        assert_true(uv_now(&f->loop) - start < DEADLINE_MS);
        if (!run_until(f, cond_leaders, NULL, DEADLINE_MS)) {
            fail_msg("group %d has no leader", g);
        }
        m = leader_of(f, g);
        req = malloc(sizeof *req);
        assert_non_null(req);
        req->data = f;
        buf.len = sizeof value;
        buf.base = raft_malloc(buf.len);
        assert_non_null(buf.base);
        memcpy(buf.base, &value, sizeof value);
        f->apply_pending = true;
        rv = raft_apply(&m->raft, req, &buf, 1, apply_cb);
        if (rv != 0) {
            /* Ownership stays with us when raft_apply fails. */
            raft_free(buf.base);
            free(req);
            f->apply_pending = false;
            run_for(f, 20);
            continue;
        }
        if (!run_until(f, cond_apply_done, NULL, DEADLINE_MS)) {
            fail_msg("group %d: entry not committed in time", g);
        }
        if (f->apply_status == 0) {
            done++;
        }
    }
}

struct converge_arg {
    int group;
    uint64_t min_count;
};

/* Every member of the group applied the same entries, at least min_count. */
static bool cond_converged(struct fix *f, void *arg)
{
    const struct converge_arg *a = arg;
    const struct member *ms = f->members[a->group];
    for (int i = 0; i < N_NODES; i++) {
        if (ms[i].count < a->min_count || ms[i].count != ms[0].count ||
            ms[i].hash != ms[0].hash) {
            return false;
        }
    }
    return true;
}

static void commit_and_check(struct fix *f, unsigned n)
{
    for (int g = 0; g < N_GROUPS; g++) {
        uint64_t before = f->members[g][0].count;
        for (int i = 1; i < N_NODES; i++) {
            if (f->members[g][i].count > before) {
                before = f->members[g][i].count;
            }
        }
        commit_entries(f, g, n);
        struct converge_arg a = {g, before + n};
        if (!run_until(f, cond_converged, &a, DEADLINE_MS)) {
            fail_msg("group %d did not converge: counts %llu %llu %llu", g,
                     (unsigned long long)f->members[g][0].count,
                     (unsigned long long)f->members[g][1].count,
                     (unsigned long long)f->members[g][2].count);
        }
    }
}

/* ------------------------------------------------------------------------
 * A raw peer: connects, sends bytes (at once or one every few ms), reads
 * everything until EOF
 * ---------------------------------------------------------------------- */

struct probe {
    struct fix *f;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_timer_t drip;
    uint8_t out[512];
    size_t out_len;
    size_t sent;
    bool dripping;
    uint8_t in[64];
    size_t in_len;
    bool eof;
    int error;
    unsigned closes; /* handles still to close */
    bool done;
};

static void probe_handle_closed(uv_handle_t *handle)
{
    struct probe *p = handle->data;
    if (--p->closes == 0) {
        p->done = true;
    }
}

static void probe_finish(struct probe *p)
{
    if (uv_is_closing((uv_handle_t *)&p->tcp)) {
        return;
    }
    uv_close((uv_handle_t *)&p->tcp, probe_handle_closed);
    uv_close((uv_handle_t *)&p->drip, probe_handle_closed);
}

static void probe_alloc(uv_handle_t *handle, size_t size, uv_buf_t *buf)
{
    struct probe *p = handle->data;
    (void)size;
    *buf = uv_buf_init((char *)p->in + p->in_len,
                       (unsigned)(sizeof p->in - p->in_len));
}

static void probe_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct probe *p = stream->data;
    (void)b;
    if (nread > 0) {
        p->in_len += (size_t)nread;
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            p->eof = true;
        } else {
            p->error = (int)nread;
        }
        probe_finish(p);
    }
}

static void probe_write_cb(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void probe_send(struct probe *p, size_t n)
{
    uv_write_t *req = malloc(sizeof *req);
    uv_buf_t buf = uv_buf_init((char *)p->out + p->sent, (unsigned)n);
    assert_non_null(req);
    p->sent += n;
    if (uv_write(req, (uv_stream_t *)&p->tcp, &buf, 1, probe_write_cb) != 0) {
        free(req);
    }
}

static void probe_drip_cb(uv_timer_t *timer)
{
    struct probe *p = timer->data;
    if (p->sent < p->out_len) {
        probe_send(p, 1);
    } else {
        uv_timer_stop(timer);
    }
}

static void probe_connect_cb(uv_connect_t *req, int status)
{
    struct probe *p = req->data;
    if (status < 0) {
        p->error = status;
        probe_finish(p);
        return;
    }
    uv_tcp_nodelay(&p->tcp, 1);
    uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read);
    if (p->dripping) {
        uv_timer_start(&p->drip, probe_drip_cb, 2, 2);
    } else if (p->out_len > 0) {
        probe_send(p, p->out_len);
    }
}

static void probe_start(struct fix *f, struct probe *p, const char *address,
                        const void *bytes, size_t len, bool drip)
{
    struct sockaddr_in sa;
    char host[32];
    const char *colon = strrchr(address, ':');
    memset(p, 0, sizeof *p);
    p->f = f;
    assert_true(len <= sizeof p->out);
    memcpy(p->out, bytes, len);
    p->out_len = len;
    p->dripping = drip;
    p->closes = 2;
    snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
    assert_int_equal(uv_ip4_addr(host, atoi(colon + 1), &sa), 0);
    assert_int_equal(uv_tcp_init(&f->loop, &p->tcp), 0);
    assert_int_equal(uv_timer_init(&f->loop, &p->drip), 0);
    p->tcp.data = p;
    p->drip.data = p;
    p->connect.data = p;
    assert_int_equal(uv_tcp_connect(&p->connect, &p->tcp,
                                    (const struct sockaddr *)&sa,
                                    probe_connect_cb),
                     0);
}

static bool cond_probe_done(struct fix *f, void *arg)
{
    (void)f;
    return ((struct probe *)arg)->done;
}

/* Send @bytes to @address and expect one status byte @status, then EOF. */
static void expect_refusal(struct fix *f, const char *address,
                           const void *bytes, size_t len, int status)
{
    struct probe *p = f->probe;
    probe_start(f, p, address, bytes, len, false);
    assert_true(run_until(f, cond_probe_done, p, DEADLINE_MS));
    assert_int_equal(p->error, 0);
    assert_true(p->eof);
    assert_int_equal(p->in_len, 1);
    assert_int_equal(p->in[0], status);
}

/* ------------------------------------------------------------------------
 * A fake group: a transport whose accept callback is the test's
 * ---------------------------------------------------------------------- */

struct fake_group {
    struct raft_uv_transport t;
    struct fix *f;
    uv_stream_t *stream; /* the accepted stream, reading into buf */
    raft_id peer_id;
    char peer_address[CONSENSUS_PEER_ADDRESS_MAX + 1];
    char buf[256];
    size_t len;
    bool eof;
    bool inited;          /* consensus__transport_init done, not closed */
    bool close_called;    /* t.close called */
    bool transport_closed; /* its close callback fired */
};

static struct fake_group *accepting; /* the fake group the accept cb fills */

static void fake_alloc(uv_handle_t *handle, size_t size, uv_buf_t *buf)
{
    struct fake_group *fg = handle->data;
    (void)size;
    *buf = uv_buf_init(fg->buf + fg->len,
                       (unsigned)(sizeof fg->buf - 1 - fg->len));
}

static void fake_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct fake_group *fg = stream->data;
    (void)b;
    if (nread > 0) {
        fg->len += (size_t)nread;
        fg->buf[fg->len] = '\0';
    } else if (nread < 0) {
        fg->eof = true;
        uv_read_stop(stream);
    }
}

static void fake_accept_cb(struct raft_uv_transport *t, raft_id id,
                           const char *address, uv_stream_t *stream)
{
    struct fake_group *fg = accepting;
    assert_ptr_equal(&fg->t, t);
    assert_null(fg->stream);
    fg->stream = stream;
    fg->peer_id = id;
    snprintf(fg->peer_address, sizeof fg->peer_address, "%s", address);
    stream->data = fg;
    assert_int_equal(uv_read_start(stream, fake_alloc, fake_read), 0);
}

static void free_stream_cb(uv_handle_t *handle)
{
    raft_free(handle); /* streams from the transport come from raft_malloc */
}

static void fake_transport_close_cb(struct raft_uv_transport *t)
{
    struct fake_group *fg = t->data;
    fg->transport_closed = true;
}

static void fake_group_init(struct fix *f, struct fake_group *fg, int node,
                            uint64_t group_id, bool listen)
{
    struct consensus_peer_listener *l = &f->nodes[node].l;
    memset(fg, 0, sizeof *fg);
    fg->f = f;
    fg->t.data = fg;
    if (consensus__transport_init(&fg->t, l, group_id) != 0) {
        fail_msg("%s", fg->t.errmsg);
    }
    fg->inited = true;
    fg->t.data = fg;
    assert_int_equal(fg->t.init(&fg->t, (raft_id)node + 1,
                                consensus__peer_listener_address(l)),
                     0);
    if (listen) {
        assert_int_equal(fg->t.listen(&fg->t, fake_accept_cb), 0);
    }
}

static bool cond_fake_closed(struct fix *f, void *arg)
{
    (void)f;
    return ((struct fake_group *)arg)->transport_closed;
}

static void fake_group_close(struct fix *f, struct fake_group *fg)
{
    if (fg->stream != NULL) {
        uv_close((uv_handle_t *)fg->stream, free_stream_cb);
        fg->stream = NULL;
    }
    if (!fg->close_called) {
        fg->close_called = true;
        fg->t.close(&fg->t, fake_transport_close_cb);
        assert_false(fg->transport_closed); /* asynchronous */
    }
    assert_true(run_until(f, cond_fake_closed, fg, DEADLINE_MS));
    consensus__transport_close(&fg->t);
    fg->inited = false;
}

/* ------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------- */

/* Both groups elect a leader over the shared ports and commit entries that
 * every node applies identically. */
static void cluster_commits(void **state)
{
    struct fix *f = *state;
    uint64_t t0 = uv_now(&f->loop), t1;
    if (!run_until(f, cond_leaders, NULL, DEADLINE_MS)) {
        fail_msg("no leader in every group within %d ms", DEADLINE_MS);
    }
    t1 = uv_now(&f->loop);
    commit_and_check(f, 25);
    if (verbose()) {
        fprintf(stderr, "leaders after %llu ms, 2 x 25 commits in %llu ms\n",
                (unsigned long long)(t1 - t0),
                (unsigned long long)(uv_now(&f->loop) - t1));
    }
    for (int g = 0; g < N_GROUPS; g++) {
        assert_true(f->members[g][0].count >= 25);
    }
    /* The two groups' entries did not mix. */
    assert_int_not_equal(f->members[0][0].hash, f->members[1][0].hash);
}

/* Every way a hello can be wrong is refused and logged; the real groups
 * keep committing. */
static void bad_peers(void **state)
{
    struct fix *f = *state;
    const char *addr = consensus__peer_listener_address(&f->nodes[0].l);
    uint64_t cluster = consensus__peer_cluster_id(CLUSTER);
    uint8_t hello[CONSENSUS_PEER_HELLO_MAX + 64];
    uint8_t by_hand[64];
    size_t len, n = 0;
    struct probe *p = f->probe;

    if (!run_until(f, cond_leaders, NULL, DEADLINE_MS)) {
        fail_msg("no leader in every group");
    }
    commit_and_check(f, 5);

    /* The encoder writes the documented layout, byte by byte. */
    memcpy(by_hand, "CRNP\x00\x01\x00\x00", 8);
    n = 8;
    for (int i = 7; i >= 0; i--) {
        by_hand[n++] = (uint8_t)(cluster >> (8 * i));
    }
    memcpy(by_hand + n, "\0\0\0\0\0\0\x10\x01", 8); /* group 0x1001 */
    n += 8;
    memcpy(by_hand + n, "\0\0\0\0\0\0\0\x09", 8); /* sender 9 */
    n += 8;
    memcpy(by_hand + n, "\x00\x0b" "127.0.0.1:9", 13);
    n += 13;
    len = consensus__peer_hello_encode(hello, cluster, 0x1001, 9,
                                       "127.0.0.1:9");
    assert_int_equal(len, n);
    assert_memory_equal(hello, by_hand, n);

    /* Wrong cluster. */
    len = consensus__peer_hello_encode(hello, cluster ^ 1, group_ids[0], 9,
                                       "127.0.0.1:9");
    expect_refusal(f, addr, hello, len, CONSENSUS_PEER_WRONG_CLUSTER);
    assert_int_equal(count_logs(f, "wrong cluster"), 1);

    /* Version 2: refused after the first 8 bytes, whatever follows. */
    len = consensus__peer_hello_encode(hello, cluster, group_ids[0], 9,
                                       "127.0.0.1:9");
    hello[5] = 2;
    expect_refusal(f, addr, hello, len, CONSENSUS_PEER_BAD_VERSION);
    assert_int_equal(count_logs(f, "unknown version"), 1);

    /* Unknown group. */
    len = consensus__peer_hello_encode(hello, cluster, 0x7777, 9,
                                       "127.0.0.1:9");
    expect_refusal(f, addr, hello, len, CONSENSUS_PEER_UNKNOWN_GROUP);
    assert_int_equal(count_logs(f, "unknown group"), 1);

    /* Garbage: an HTTP request, then noise. */
    {
        uint8_t junk[300];
        const char *http = "GET / HTTP/1.1\r\nHost: cairn\r\n\r\n";
        memcpy(junk, http, strlen(http));
        for (size_t i = strlen(http); i < sizeof junk; i++) {
            junk[i] = (uint8_t)(i * 37 + 11);
        }
        expect_refusal(f, addr, junk, sizeof junk, CONSENSUS_PEER_MALFORMED);
    }
    /* Well-framed but malformed fields. */
    len = consensus__peer_hello_encode(hello, cluster, group_ids[0], 9,
                                       "127.0.0.1:9");
    hello[7] = 1; /* reserved */
    expect_refusal(f, addr, hello, len, CONSENSUS_PEER_MALFORMED);
    len = consensus__peer_hello_encode(hello, cluster, group_ids[0], 0,
                                       "127.0.0.1:9"); /* sender 0 */
    expect_refusal(f, addr, hello, len, CONSENSUS_PEER_MALFORMED);
    len = consensus__peer_hello_encode(hello, cluster, group_ids[0], 9,
                                       "127.0.0.1:9");
    hello[32] = 0x01; /* address length 267 */
    expect_refusal(f, addr, hello, len, CONSENSUS_PEER_MALFORMED);
    len = consensus__peer_hello_encode(hello, cluster, group_ids[0], 9,
                                       "localhost:9001");
    expect_refusal(f, addr, hello, len, CONSENSUS_PEER_MALFORMED);
    assert_int_equal(count_logs(f, "malformed hello"), 5);

    /* Half a hello, then silence: dropped after the timeout, no answer. */
    len = consensus__peer_hello_encode(hello, cluster, group_ids[0], 9,
                                       "127.0.0.1:9");
    uint64_t t0 = uv_now(&f->loop);
    probe_start(f, p, addr, hello, len / 2, false);
    assert_true(run_until(f, cond_probe_done, p, DEADLINE_MS));
    assert_true(p->eof);
    assert_int_equal(p->in_len, 0);
    assert_true(uv_now(&f->loop) - t0 >= HELLO_TIMEOUT_MS - 50);
    assert_int_equal(count_logs(f, "timed out"), 1);

    /* A peer that connects and sends nothing is dropped the same way. */
    probe_start(f, p, addr, hello, 0, false);
    assert_true(run_until(f, cond_probe_done, p, DEADLINE_MS));
    assert_true(p->eof);
    assert_int_equal(p->in_len, 0);
    assert_int_equal(count_logs(f, "timed out"), 2);

    /* The node kept serving its groups. */
    commit_and_check(f, 10);
}

/* Connect callbacks record here. */
struct connect_rec {
    struct raft_uv_connect req;
    struct fix *f;
    uv_stream_t *stream;
    int status;
    unsigned calls;
    unsigned order; /* sequence number when called */
};

static unsigned sequence;

static void rec_connect_cb(struct raft_uv_connect *req, uv_stream_t *stream,
                           int status)
{
    struct connect_rec *r = req->data;
    r->calls++;
    r->stream = stream;
    r->status = status;
    r->order = ++sequence;
}

static bool cond_connected(struct fix *f, void *arg)
{
    (void)f;
    return ((struct connect_rec *)arg)->calls > 0;
}

static void connect_rec_init(struct fix *f, struct connect_rec *r)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    r->req.data = r;
}

struct hand_over_arg {
    struct fake_group *fg;
    size_t want;
    struct probe *p; /* also wait for its status byte, unless NULL */
};

static bool cond_fake_received(struct fix *f, void *arg)
{
    const struct hand_over_arg *a = arg;
    (void)f;
    if (a->p != NULL && a->p->in_len == 0) {
        return false;
    }
    return a->fg->len >= a->want || a->fg->eof;
}

static bool has_nodelay(uv_stream_t *stream)
{
    uv_os_fd_t fd;
    int on = 0;
    socklen_t len = sizeof on;
    assert_int_equal(uv_fileno((uv_handle_t *)stream, &fd), 0);
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on != 0;
}

/* Bytes right behind the hello belong to the group's stream. */
static void hand_over(void **state)
{
    struct fix *f = *state;
    const char *addr = consensus__peer_listener_address(&f->nodes[1].l);
    const char *extra = "first raft bytes, sent with the hello";
    uint64_t cluster = consensus__peer_cluster_id(CLUSTER);
    uint8_t bytes[CONSENSUS_PEER_HELLO_MAX + 64];
    struct fake_group *fg = &f->fakes[0];
    struct probe *p = f->probe;
    size_t len;

    for (int drip = 0; drip < 2; drip++) {
        fake_group_init(f, fg, 1, 0x5005, true);
        accepting = fg;
        len = consensus__peer_hello_encode(bytes, cluster, 0x5005, 7,
                                           "127.0.0.1:7");
        memcpy(bytes + len, extra, strlen(extra));
        len += strlen(extra);
        probe_start(f, p, addr, bytes, len, drip == 1);
        struct hand_over_arg a = {fg, strlen(extra), p};
        assert_true(run_until(f, cond_fake_received, &a, DEADLINE_MS));
        assert_string_equal(fg->buf, extra);
        assert_int_equal(fg->peer_id, 7);
        assert_string_equal(fg->peer_address, "127.0.0.1:7");
        /* The probe got ACCEPTED and nothing else. */
        assert_int_equal(p->in_len, 1);
        assert_int_equal(p->in[0], CONSENSUS_PEER_ACCEPTED);
        probe_finish(p);
        assert_true(run_until(f, cond_probe_done, p, DEADLINE_MS));
        fake_group_close(f, fg);
    }

    /* Transport to transport: group 0x6006 on node 0 connects to the same
     * group on node 1 and writes; node 1's group reads it. */
    {
        struct fake_group *from = &f->fakes[0], *to = &f->fakes[1];
        struct connect_rec *r = f->rec;
        uv_write_t *w = malloc(sizeof *w);
        uv_buf_t ping = uv_buf_init("ping", 4);
        struct hand_over_arg a = {to, 4, NULL};

        assert_non_null(w);
        fake_group_init(f, from, 0, 0x6006, false);
        fake_group_init(f, to, 1, 0x6006, true);
        accepting = to;
        connect_rec_init(f, r);
        assert_int_equal(
            from->t.connect(&from->t, &r->req, 2, addr, rec_connect_cb), 0);
        assert_true(run_until(f, cond_connected, r, DEADLINE_MS));
        assert_int_equal(r->status, 0);
        assert_non_null(r->stream);
        assert_int_equal(r->calls, 1);
        assert_int_equal(
            uv_write(w, r->stream, &ping, 1, probe_write_cb), 0);
        assert_true(run_until(f, cond_fake_received, &a, DEADLINE_MS));
        assert_string_equal(to->buf, "ping");
        /* Both ends have Nagle's algorithm off. */
        assert_true(has_nodelay(r->stream));
        assert_true(has_nodelay(to->stream));
        assert_int_equal(to->peer_id, 1);
        assert_string_equal(to->peer_address,
                            consensus__peer_listener_address(&f->nodes[0].l));
        /* The connecting side owns its stream: closing it ends the
         * accepted one. */
        uv_close((uv_handle_t *)r->stream, free_stream_cb);
        a.want = sizeof to->buf;
        assert_true(run_until(f, cond_fake_received, &a, DEADLINE_MS));
        assert_true(to->eof);
        fake_group_close(f, from);
        fake_group_close(f, to);
    }
}

/* A server that accepts and reads, but never answers. */
struct silent_server {
    uv_tcp_t tcp;
    uv_tcp_t conns[4];
    unsigned n_conns;
    size_t got;
    char buf[256];
    char address[32];
    unsigned closes;
    bool listening;
};

static void silent_alloc(uv_handle_t *handle, size_t size, uv_buf_t *buf)
{
    struct silent_server *s = handle->data;
    (void)size;
    *buf = uv_buf_init(s->buf, sizeof s->buf);
}

static void silent_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct silent_server *s = stream->data;
    (void)b;
    if (nread > 0) {
        s->got += (size_t)nread;
    } else if (nread < 0) {
        uv_read_stop(stream);
    }
}

static void silent_connection_cb(uv_stream_t *server, int status)
{
    struct silent_server *s = server->data;
    uv_tcp_t *conn = &s->conns[s->n_conns];
    assert_int_equal(status, 0);
    assert_true(s->n_conns < 4);
    assert_int_equal(uv_tcp_init(server->loop, conn), 0);
    conn->data = s;
    assert_int_equal(uv_accept(server, (uv_stream_t *)conn), 0);
    s->n_conns++;
    uv_read_start((uv_stream_t *)conn, silent_alloc, silent_read);
}

static void silent_closed(uv_handle_t *handle)
{
    struct silent_server *s = handle->data;
    s->closes--;
}

static bool cond_silent_closed(struct fix *f, void *arg)
{
    (void)f;
    return ((struct silent_server *)arg)->closes == 0;
}

static bool cond_silent_got_hello(struct fix *f, void *arg)
{
    (void)f;
    return ((struct silent_server *)arg)->got >= CONSENSUS_PEER_HELLO_FIXED;
}

static void silent_start(struct fix *f, struct silent_server *s)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = (int)sizeof bound;
    char host[16];
    memset(s, 0, sizeof *s);
    assert_int_equal(uv_tcp_init(&f->loop, &s->tcp), 0);
    s->tcp.data = s;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    assert_int_equal(uv_tcp_bind(&s->tcp, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(
        uv_listen((uv_stream_t *)&s->tcp, 8, silent_connection_cb), 0);
    assert_int_equal(
        uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&bound, &len), 0);
    uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof host);
    snprintf(s->address, sizeof s->address, "%s:%u", host,
             (unsigned)ntohs(((struct sockaddr_in *)&bound)->sin_port));
    s->listening = true;
}

static void silent_stop(struct fix *f, struct silent_server *s)
{
    s->closes = 1 + s->n_conns;
    uv_close((uv_handle_t *)&s->tcp, silent_closed);
    for (unsigned i = 0; i < s->n_conns; i++) {
        uv_close((uv_handle_t *)&s->conns[i], silent_closed);
    }
    assert_true(run_until(f, cond_silent_closed, s, DEADLINE_MS));
    s->listening = false;
}

struct close_rec {
    bool closed;
    unsigned order;
};

static struct close_rec *closing_rec;

static void rec_transport_close_cb(struct raft_uv_transport *t)
{
    ((struct fake_group *)t->data)->transport_closed = true;
    closing_rec->closed = true;
    closing_rec->order = ++sequence;
}

static bool cond_close_rec(struct fix *f, void *arg)
{
    (void)f;
    return ((struct close_rec *)arg)->closed;
}

/* Close the transport of @fg while @r is pending: the connect callback
 * fires once with RAFT_CANCELED, then the close callback. */
static void close_while_pending(struct fix *f, struct fake_group *fg,
                                struct connect_rec *r)
{
    struct close_rec c = {0};
    closing_rec = &c;
    fg->close_called = true;
    fg->t.close(&fg->t, rec_transport_close_cb);
    assert_int_equal(r->calls, 0); /* not from inside close */
    assert_false(c.closed);
    assert_true(run_until(f, cond_close_rec, &c, DEADLINE_MS));
    run_for(f, 20); /* a second callback would show up here */
    assert_int_equal(r->calls, 1);
    assert_int_equal(r->status, RAFT_CANCELED);
    assert_null(r->stream);
    assert_true(r->order < c.order);
    consensus__transport_close(&fg->t);
    fg->inited = false;
}

static void connect_cancel(void **state)
{
    struct fix *f = *state;
    struct silent_server *s = f->silent;
    struct fake_group *fg = &f->fakes[0];
    struct connect_rec *r = f->rec;

    /* Hello sent, no answer yet. */
    silent_start(f, s);
    fake_group_init(f, fg, 0, 0x3003, false);
    connect_rec_init(f, r);
    assert_int_equal(fg->t.connect(&fg->t, &r->req, 2, s->address,
                                  rec_connect_cb),
                     0);
    assert_true(run_until(f, cond_silent_got_hello, s, DEADLINE_MS));
    assert_int_equal(r->calls, 0);
    close_while_pending(f, fg, r);

    /* Closed before the TCP connect even completed. */
    fake_group_init(f, fg, 0, 0x3003, false);
    connect_rec_init(f, r);
    assert_int_equal(fg->t.connect(&fg->t, &r->req, 2, s->address,
                                  rec_connect_cb),
                     0);
    close_while_pending(f, fg, r);
    silent_stop(f, s);

    /* No answer within the timeout: RAFT_NOCONNECTION. */
    silent_start(f, s);
    fake_group_init(f, fg, 0, 0x3003, false);
    connect_rec_init(f, r);
    assert_int_equal(fg->t.connect(&fg->t, &r->req, 2, s->address,
                                  rec_connect_cb),
                     0);
    assert_true(run_until(f, cond_connected, r, DEADLINE_MS));
    assert_int_equal(r->status, RAFT_NOCONNECTION);
    assert_int_equal(count_logs(f, "no answer"), 1);
    silent_stop(f, s);

    /* A closed port (the silent server's, now gone). */
    connect_rec_init(f, r);
    assert_int_equal(fg->t.connect(&fg->t, &r->req, 2, s->address,
                                  rec_connect_cb),
                     0);
    assert_true(run_until(f, cond_connected, r, DEADLINE_MS));
    assert_int_equal(r->status, RAFT_NOCONNECTION);
    assert_null(r->stream);

    /* A real listener that serves no such group: refused. */
    connect_rec_init(f, r);
    assert_int_equal(
        fg->t.connect(&fg->t, &r->req, 2,
                     consensus__peer_listener_address(&f->nodes[1].l),
                     rec_connect_cb),
        0);
    assert_true(run_until(f, cond_connected, r, DEADLINE_MS));
    assert_int_equal(r->status, RAFT_NOCONNECTION);
    assert_int_equal(count_logs(f, "refused: unknown group"), 1);

    /* Not an IPv4 address: refused synchronously, no callback. */
    connect_rec_init(f, r);
    assert_int_equal(fg->t.connect(&fg->t, &r->req, 2, "localhost:9001",
                                  rec_connect_cb),
                     RAFT_NOCONNECTION);
    assert_non_null(strstr(fg->t.errmsg, "localhost:9001"));
    run_for(f, 20);
    assert_int_equal(r->calls, 0);

    fake_group_close(f, fg);
}

static void helpers_create(struct fix *f)
{
    f->probe = calloc(1, sizeof *f->probe);
    f->silent = calloc(1, sizeof *f->silent);
    f->fakes = calloc(N_FAKES, sizeof *f->fakes);
    f->rec = calloc(1, sizeof *f->rec);
    assert_non_null(f->probe);
    assert_non_null(f->silent);
    assert_non_null(f->fakes);
    assert_non_null(f->rec);
}

/* Close whatever a test left open (a failed assertion jumps straight to
 * teardown), then free the helpers. */
static void helpers_close(struct fix *f)
{
    if (f->probe->closes > 0) {
        probe_finish(f->probe);
        assert_true(run_until(f, cond_probe_done, f->probe, DEADLINE_MS));
    }
    if (f->silent->listening) {
        silent_stop(f, f->silent);
    }
    for (int i = 0; i < N_FAKES; i++) {
        if (f->fakes[i].inited) {
            fake_group_close(f, &f->fakes[i]);
        }
    }
    free(f->probe);
    free(f->silent);
    free(f->fakes);
    free(f->rec);
}

/* Argument checks that return errors with context. */
static void bad_arguments(void **state)
{
    struct fix *f = *state;
    struct node extra = {.open = true};
    struct consensus_peer_listener *l = &extra.l;

    l->data = &extra; /* kept by init, read by listener_close_cb */
    struct raft_uv_transport t = {0};
    char err[CAIRN_ERRMSG_SIZE];
    const char *addr = consensus__peer_listener_address(&f->nodes[0].l);
    int rv;

    assert_int_equal(consensus__peer_listener_init(l, &f->loop, CLUSTER, 1,
                                                   "localhost:7501", NULL,
                                                   NULL, err),
                     CAIRN_EINVAL);
    assert_non_null(strstr(err, "localhost:7501"));
    assert_int_equal(consensus__peer_listener_init(l, &f->loop, "", 1,
                                                   "127.0.0.1:0", NULL, NULL,
                                                   err),
                     CAIRN_EINVAL);
    assert_int_equal(consensus__peer_listener_init(l, &f->loop, CLUSTER, 0,
                                                   "127.0.0.1:0", NULL, NULL,
                                                   err),
                     CAIRN_EINVAL);

    /* The port is taken by node 0. */
    assert_int_equal(consensus__peer_listener_init(l, &f->loop, CLUSTER, 9,
                                                   addr, NULL, NULL, err),
                     0);
    rv = consensus__peer_listener_start(l, err);
    assert_int_equal(rv, CAIRN_EIO);
    assert_non_null(strstr(err, addr));
    assert_non_null(strstr(err, "address already in use"));
    consensus__peer_listener_close(l, listener_close_cb);
    assert_true(run_until(f, cond_node_closed, &extra, DEADLINE_MS));

    /* One transport per group on a listener. */
    struct fake_group *fg = &f->fakes[0];
    fake_group_init(f, fg, 0, 0x8008, false);
    rv = consensus__transport_init(&t, &f->nodes[0].l, 0x8008);
    assert_int_equal(rv, CAIRN_EINVAL);
    assert_non_null(strstr(t.errmsg, "already has a transport"));
    /* init refuses an address raft_uv could not use. */
    fake_group_close(f, fg);
    assert_int_equal(consensus__transport_init(&t, &f->nodes[0].l, 0x8008),
                     0);
    assert_int_equal(t.init(&t, 1, "localhost:9001"), RAFT_INVALID);
    assert_non_null(strstr(t.errmsg, "localhost:9001"));
    consensus__transport_close(&t);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cluster_commits, setup_cluster,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_peers, setup_cluster, teardown),
        cmocka_unit_test_setup_teardown(hand_over, setup_nodes, teardown),
        cmocka_unit_test_setup_teardown(connect_cancel, setup_nodes,
                                        teardown),
        cmocka_unit_test_setup_teardown(bad_arguments, setup_nodes,
                                        teardown),
    };
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
