/*
 * Stopping a group at the worst moment, as cairnd's SIGTERM does: from a
 * timer or raft callback, while the loop thread is slow, with no peers or
 * with peers that are gone. Each case runs many times; the library's close
 * callback must fire once and nothing may touch the group after it is freed
 * (run under ASan, label "consensus").
 *
 * The window (docs/consensus.md, "what bit us"): raft_uv 0.15 finalizes the
 * open segment on close (thread pool work) and closes its writer's handles,
 * but does not wait for those handles before firing raft's close callback.
 * When the work is done before the loop's closing phase, the close callback
 * fires first and the writer's close callback then runs raft_uv's close
 * check again on memory the callback freed. Stalling the loop thread right
 * after consensus_group_stop() lets the work finish in time, every time.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "consensus.h"
#include "tmpdir.h"

#define MAX_NODES 3
#define GROUP 11
#define BUCKET "b"
#define SOLO_BUCKET "s" /* the victim's bucket with one replica */
#define ROUNDS 12
#define STALL_MS 40
#define T0 1700000000000000000ULL

struct node {
    char dir[256];
    storage *s;
    consensus *c;
    consensus_group *g;
    bool group_stopped;
    bool closed;
};

struct fix {
    uv_loop_t loop;
    uv_timer_t ticker; /* keeps the loop turning while tests poll */
    unsigned n;
    struct node nodes[MAX_NODES];
    uv_timer_t stopper;
    int victim;         /* node whose group the stopper stops */
    consensus_group *solo; /* the victim's group with one replica */
    unsigned writes_done;
    int transfer_status;
    bool transfer_done;
};

static void tick(uv_timer_t *t)
{
    (void)t;
}

static void run_until(struct fix *f, bool (*done)(struct fix *), unsigned ms)
{
    uint64_t deadline;
    uv_update_time(&f->loop);
    deadline = uv_now(&f->loop) + ms;
    while (!done(f)) {
        uv_run(&f->loop, UV_RUN_ONCE);
        uv_update_time(&f->loop);
        assert_true(uv_now(&f->loop) < deadline);
    }
}

/* Keep the loop thread busy, as a node stopping many groups at once is:
 * raft_uv's thread pool finishes its close work meanwhile. */
static void stall(void)
{
    struct timespec ts = {0, STALL_MS * 1000000L};
    nanosleep(&ts, NULL);
}

static int leader_index(struct fix *f)
{
    for (unsigned i = 0; i < f->n; i++) {
        if (f->nodes[i].g != NULL &&
            consensus_group_is_leader(f->nodes[i].g)) {
            return (int)i;
        }
    }
    return -1;
}

static bool has_leader(struct fix *f)
{
    return leader_index(f) >= 0;
}

/* Start @n nodes, each with a replica of the bucket, in a group of all of
 * them; wait for a leader. */
static void start(struct fix *f, unsigned n)
{
    struct consensus_member members[MAX_NODES];
    char err[CAIRN_ERRMSG_SIZE], raft_dir[300];
    cairn_bucket_config cfg;

    memset(f, 0, sizeof *f);
    f->n = n;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &f->ticker);
    uv_timer_start(&f->ticker, tick, 10, 10);
    uv_timer_init(&f->loop, &f->stopper);
    f->stopper.data = f;
    cairn_bucket_config_init(&cfg, BUCKET);
    for (unsigned i = 0; i < n; i++) {
        struct node *nd = &f->nodes[i];
        struct consensus_options o = {0};
        assert_int_equal(test_tmpdir_create("group-stop", nd->dir,
                                            sizeof nd->dir),
                         0);
        assert_int_equal(storage_open(nd->dir, NULL, &nd->s, err), 0);
        assert_int_equal(storage_bucket_create(nd->s, &cfg, T0, err), 0);
        snprintf(raft_dir, sizeof raft_dir, "%s/raft", nd->dir);
        o.id = (uint64_t)i + 1;
        o.cluster = "test";
        o.peer_address = "127.0.0.1:0";
        o.raft_dir = raft_dir;
        o.storage = nd->s;
        o.election_timeout_ms = 200;
        o.heartbeat_ms = 20;
        assert_int_equal(consensus_create(&f->loop, &o, &nd->c, err), 0);
        members[i].id = o.id;
        snprintf(members[i].address, sizeof members[i].address, "%s",
                 consensus_peer_address(nd->c));
    }
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(consensus_group_start(f->nodes[i].c, GROUP, BUCKET,
                                               members, n, NULL,
                                               &f->nodes[i].g, err),
                         0);
    }
    run_until(f, has_leader, 10000);
}

static void node_closed(void *data)
{
    ((struct node *)data)->closed = true;
}

static bool all_closed(struct fix *f)
{
    for (unsigned i = 0; i < f->n; i++) {
        if (!f->nodes[i].closed) {
            return false;
        }
    }
    return true;
}

static void finish(struct fix *f)
{
    for (unsigned i = 0; i < f->n; i++) {
        if (!f->nodes[i].closed) {
            consensus_close(f->nodes[i].c, node_closed, &f->nodes[i]);
        }
    }
    run_until(f, all_closed, 10000);
    uv_close((uv_handle_t *)&f->ticker, NULL);
    uv_close((uv_handle_t *)&f->stopper, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (unsigned i = 0; i < f->n; i++) {
        storage_close(f->nodes[i].s);
        test_tmpdir_remove(f->nodes[i].dir);
    }
}

static void group_stopped(void *data)
{
    ((struct node *)data)->group_stopped = true;
}

static struct fix *current;

static bool victim_stopped(struct fix *f)
{
    return f->nodes[f->victim].group_stopped;
}

/* Writes, so that the log has an open segment with entries to finalize. */
static void write_cb(void *data, int status, const struct storage_result *res)
{
    struct fix *f = data;
    assert_int_equal(status, 0);
    assert_non_null(res);
    f->writes_done++;
}

static bool writes_finished(struct fix *f)
{
    return f->writes_done == 10;
}

static void write_some(struct fix *f, consensus_group *g)
{
    char err[CAIRN_ERRMSG_SIZE], key[16];
    struct storage_cmd c = {.type = STORAGE_CMD_PUT, .time = T0};
    void *buf;
    size_t len;
    f->writes_done = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        c.w.key = key;
        c.w.key_len = strlen(key);
        c.w.value = "v";
        c.w.value_len = 1;
        assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), 0);
        assert_int_equal(consensus_group_propose(g, buf, len, write_cb, f, err),
                         0);
        free(buf);
    }
    run_until(f, writes_finished, 10000);
}

static void stop_victim(struct fix *f)
{
    struct node *nd = &f->nodes[f->victim];
    consensus_group_stop(nd->g, group_stopped, nd);
    nd->g = NULL;
    stall();
}

static void stopper_cb(uv_timer_t *t)
{
    stop_victim(t->data);
}

/* A group with no peers (a bucket with one replica), stopped from a timer
 * callback of the loop while the loop thread is busy. */
static void test_stop_single_replica_group(void **state)
{
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        struct fix *f = current;
        start(f, 1);
        write_some(f, f->nodes[0].g);
        f->victim = 0;
        uv_timer_start(&f->stopper, stopper_cb, 0, 0);
        run_until(f, victim_stopped, 10000);
        finish(f);
    }
}

/* cairnd's stop, as it crashed: the leader's peers are gone, the transfer
 * of leadership does not complete, and from the transfer's callback
 * (raft's tick) the node closes its consensus layer, which stops this group
 * and a bucket group with one replica, while the loop thread is busy. */
static void transfer_cb(void *data, int status)
{
    struct fix *f = data;
    struct node *nd = &f->nodes[f->victim];
    f->transfer_status = status;
    f->transfer_done = true;
    consensus_close(nd->c, node_closed, nd);
    nd->g = NULL;
    stall();
}

static bool solo_leads(struct fix *f)
{
    return consensus_group_is_leader(f->solo);
}

static bool victim_closed(struct fix *f)
{
    return f->nodes[f->victim].closed;
}

static bool followers_stopped(struct fix *f)
{
    for (unsigned i = 0; i < f->n; i++) {
        if ((int)i != f->victim && !f->nodes[i].group_stopped) {
            return false;
        }
    }
    return true;
}

static void test_stop_after_transfer_to_dead_peers(void **state)
{
    char err[CAIRN_ERRMSG_SIZE];
    cairn_bucket_config cfg;
    (void)state;
    cairn_bucket_config_init(&cfg, SOLO_BUCKET);
    for (int round = 0; round < ROUNDS; round++) {
        struct fix *f = current;
        struct consensus_member self;
        start(f, 3);
        f->victim = leader_index(f);
        write_some(f, f->nodes[f->victim].g);
        assert_int_equal(storage_bucket_create(f->nodes[f->victim].s, &cfg,
                                               T0, err),
                         0);
        self.id = (uint64_t)f->victim + 1;
        snprintf(self.address, sizeof self.address, "%s",
                 consensus_peer_address(f->nodes[f->victim].c));
        assert_int_equal(consensus_group_start(f->nodes[f->victim].c,
                                               GROUP + 1, SOLO_BUCKET, &self,
                                               1, NULL, &f->solo, err),
                         0);
        run_until(f, solo_leads, 10000);
        write_some(f, f->solo);
        for (unsigned i = 0; i < f->n; i++) {
            if ((int)i != f->victim) {
                consensus_group_stop(f->nodes[i].g, group_stopped,
                                     &f->nodes[i]);
                f->nodes[i].g = NULL;
            }
        }
        run_until(f, followers_stopped, 10000);
        if (consensus_group_is_leader(f->nodes[f->victim].g)) {
            assert_int_equal(consensus_group_transfer(f->nodes[f->victim].g,
                                                      transfer_cb, f, err),
                             0);
            run_until(f, victim_closed, 10000);
            assert_true(f->transfer_done);
            assert_int_equal(f->transfer_status, CAIRN_EUNAVAILABLE);
        } else {
            /* Already stepped down (no quorum): stop it as it is. */
            uv_timer_start(&f->stopper, stopper_cb, 0, 0);
            run_until(f, victim_stopped, 10000);
        }
        finish(f);
    }
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    current = calloc(1, sizeof *current);
    return current == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    free(current);
    current = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stop_single_replica_group, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_after_transfer_to_dead_peers,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("consensus_group_stop", tests, NULL,
                                       NULL);
}
