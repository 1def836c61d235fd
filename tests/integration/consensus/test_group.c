/*
 * Raft groups of the consensus layer on real sockets: three nodes' layers on
 * one loop (127.0.0.1, ports picked by the kernel), a bucket replicated over
 * all three. Proposals from many callers in one loop turn land in order
 * with their own results; linearizable reads wait for a barrier; followers
 * refuse writes with "not leader"; when the leader stops, another takes
 * over and nothing acknowledged is lost. A group started with its own
 * storage and Raft directory keeps its data and log there, and a replica
 * whose state is wiped, bootstrapped again with the same members, is caught
 * up by a snapshot (what cairnd does for memory buckets).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <uv.h>

#include "consensus.h"
#include "tmpdir.h"

#define N 3
#define GROUP 7
#define BUCKET "b"
#define WRITES 200
#define T0 1700000000000000000ULL
#define MGROUP 8    /* the group with its own storage and Raft directory */
#define MBUCKET "m"

struct node {
    char dir[256];
    storage *s;
    consensus *c;
    consensus_group *g;
    bool closed;
    storage *ms;        /* MGROUP's storage, in <dir>/mem/storage */
    consensus_group *mg;
};

/* Snapshot threshold and trailing entries of the next setup (0: the
 * layer's defaults). */
static unsigned next_threshold, next_trailing;

struct fix {
    uv_loop_t loop;
    struct node nodes[N];
};

static void run_until(struct fix *f, bool (*done)(struct fix *), unsigned ms)
{
    uint64_t deadline = uv_now(&f->loop) + ms;
    while (!done(f)) {
        uv_run(&f->loop, UV_RUN_ONCE);
        uv_update_time(&f->loop);
        assert_true(uv_now(&f->loop) < deadline);
    }
}

/* A timer that keeps the loop turning while the tests poll. */
static uv_timer_t ticker;
static void tick(uv_timer_t *t)
{
    (void)t;
}

static int leader_index(struct fix *f)
{
    for (int i = 0; i < N; i++) {
        if (f->nodes[i].g != NULL && consensus_group_is_leader(f->nodes[i].g)) {
            return i;
        }
    }
    return -1;
}

static bool has_leader(struct fix *f)
{
    return leader_index(f) >= 0;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    struct consensus_member members[N];
    char err[CAIRN_ERRMSG_SIZE], raft_dir[300];
    cairn_bucket_config cfg;
    assert_non_null(f);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_timer_init(&f->loop, &ticker);
    uv_timer_start(&ticker, tick, 10, 10);
    cairn_bucket_config_init(&cfg, BUCKET);
    cfg.history = 3;
    for (int i = 0; i < N; i++) {
        struct node *n = &f->nodes[i];
        struct consensus_options o = {0};
        assert_int_equal(test_tmpdir_create("group", n->dir, sizeof n->dir), 0);
        assert_int_equal(storage_open(n->dir, NULL, &n->s, err), 0);
        assert_int_equal(storage_bucket_create(n->s, &cfg, T0, err), 0);
        snprintf(raft_dir, sizeof raft_dir, "%s/raft", n->dir);
        o.id = (uint64_t)i + 1;
        o.cluster = "test";
        o.peer_address = "127.0.0.1:0";
        o.raft_dir = raft_dir;
        o.storage = n->s;
        o.election_timeout_ms = 300;
        o.heartbeat_ms = 50;
        o.snapshot_threshold = next_threshold;
        o.snapshot_trailing = next_trailing;
        assert_int_equal(consensus_create(&f->loop, &o, &n->c, err), 0);
        members[i].id = o.id;
        snprintf(members[i].address, sizeof members[i].address, "%s",
                 consensus_peer_address(n->c));
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(consensus_group_start(f->nodes[i].c, GROUP, BUCKET,
                                               members, N, NULL,
                                               &f->nodes[i].g, err),
                         0);
    }
    run_until(f, has_leader, 10000);
    *state = f;
    return 0;
}

static void node_closed(void *data)
{
    ((struct node *)data)->closed = true;
}

static bool all_closed(struct fix *f)
{
    for (int i = 0; i < N; i++) {
        if (!f->nodes[i].closed) {
            return false;
        }
    }
    return true;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    for (int i = 0; i < N; i++) {
        consensus_close(f->nodes[i].c, node_closed, &f->nodes[i]);
    }
    run_until(f, all_closed, 10000);
    uv_close((uv_handle_t *)&ticker, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    for (int i = 0; i < N; i++) {
        storage_close(f->nodes[i].ms);
        storage_close(f->nodes[i].s);
        test_tmpdir_remove(f->nodes[i].dir);
    }
    free(f);
    return 0;
}

/* setup with snapshots every 16 entries, 4 kept after each. */
static int setup_snapshots(void **state)
{
    int rc;
    next_threshold = 16;
    next_trailing = 4;
    rc = setup(state);
    next_threshold = next_trailing = 0;
    return rc;
}

/* ------------------------------------------------------------------------ */

struct outcome {
    bool done;
    int status;
    int code;
    uint64_t revision;
};

static struct outcome outcomes[WRITES + 20];
static unsigned n_done;

static void propose_cb(void *data, int status, const struct storage_result *res)
{
    struct outcome *o = data;
    o->done = true;
    o->status = status;
    if (res != NULL) {
        o->code = res->code;
        o->revision = res->revision;
    }
    n_done++;
}

static int propose_put(consensus_group *g, const char *key, const char *value,
                       struct outcome *o, char *err)
{
    struct storage_cmd c = {.type = STORAGE_CMD_PUT, .time = T0};
    void *buf;
    size_t len;
    int rc;
    c.w.key = key;
    c.w.key_len = strlen(key);
    c.w.value = value;
    c.w.value_len = strlen(value);
    assert_int_equal(storage_cmd_encode(&c, &buf, &len, err), 0);
    rc = consensus_group_propose(g, buf, len, propose_cb, o, err);
    free(buf);
    return rc;
}

static unsigned want_done;
static bool enough_done(struct fix *f)
{
    (void)f;
    return n_done >= want_done;
}

static uint64_t want_applied;
static bool all_applied(struct fix *f)
{
    for (int i = 0; i < N; i++) {
        if (f->nodes[i].g != NULL &&
            consensus_group_applied(f->nodes[i].g) < want_applied) {
            return false;
        }
    }
    return true;
}

static int reads_done;
static int read_status[8];
static void read_cb(void *data, int status)
{
    read_status[(intptr_t)data] = status;
    reads_done++;
}

static bool reads_finished(struct fix *f)
{
    (void)f;
    return reads_done == 5;
}

static void assert_value_in(storage *s, const char *bucket, const char *key,
                            const char *value)
{
    storage_txn *t;
    struct storage_entry e;
    char err[CAIRN_ERRMSG_SIZE];
    assert_int_equal(storage_read_begin(s, &t, err), 0);
    assert_int_equal(storage_get(t, bucket, key, strlen(key), 0, T0, &e, err),
                     0);
    assert_int_equal(e.value_len, strlen(value));
    assert_memory_equal(e.value, value, e.value_len);
    storage_txn_end(t);
}

static void assert_value(storage *s, const char *key, const char *value)
{
    assert_value_in(s, BUCKET, key, value);
}

static void test_writes_reads_and_followers(void **state)
{
    struct fix *f = *state;
    int leader = leader_index(f);
    int follower = (leader + 1) % N;
    char err[CAIRN_ERRMSG_SIZE], key[16], value[16];
    struct storage_bucket_info info;

    memset(outcomes, 0, sizeof outcomes);
    n_done = 0;
    /* Every write proposed in this one loop turn. */
    for (int i = 0; i < WRITES; i++) {
        snprintf(key, sizeof key, "k%02d", i % 20);
        snprintf(value, sizeof value, "v%d", i);
        assert_int_equal(propose_put(f->nodes[leader].g, key, value,
                                     &outcomes[i], err),
                         0);
    }
    assert_int_equal(n_done, 0); /* never called back from within */
    want_done = WRITES;
    run_until(f, enough_done, 10000);
    for (int i = 0; i < WRITES; i++) {
        assert_int_equal(outcomes[i].status, 0);
        assert_int_equal(outcomes[i].code, CAIRN_OK);
        assert_int_equal(outcomes[i].revision, (uint64_t)i + 1);
    }
    /* Followers refuse writes and linearizable reads. */
    assert_int_equal(propose_put(f->nodes[follower].g, "x", "y",
                                 &outcomes[WRITES], err),
                     CAIRN_ENOTLEADER);
    assert_int_equal(consensus_group_read_barrier(f->nodes[follower].g,
                                                  read_cb, NULL, err),
                     CAIRN_ENOTLEADER);
    /* Five reads in one turn: all answered after a barrier. */
    reads_done = 0;
    for (intptr_t i = 0; i < 5; i++) {
        read_status[i] = -1;
        assert_int_equal(consensus_group_read_barrier(f->nodes[leader].g,
                                                      read_cb, (void *)i, err),
                         0);
    }
    run_until(f, reads_finished, 10000);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(read_status[i], 0);
    }
    assert_value(f->nodes[leader].s, "k19", "v199");
    /* Every replica applies everything. */
    want_applied = consensus_group_applied(f->nodes[leader].g);
    run_until(f, all_applied, 10000);
    for (int i = 0; i < N; i++) {
        assert_int_equal(storage_bucket_info(f->nodes[i].s, BUCKET, &info, err),
                         0);
        assert_int_equal(info.last_revision, WRITES);
        assert_int_equal(info.keys, 20);
        assert_value(f->nodes[i].s, "k07", "v187");
    }
}

static bool stopped;
static void group_stopped(void *data)
{
    (void)data;
    stopped = true;
}

static bool stop_done(struct fix *f)
{
    (void)f;
    return stopped;
}

static void test_leader_stop_fails_over(void **state)
{
    struct fix *f = *state;
    int old = leader_index(f), now;
    char err[CAIRN_ERRMSG_SIZE];
    struct storage_bucket_info info;

    memset(outcomes, 0, sizeof outcomes);
    n_done = 0;
    assert_int_equal(propose_put(f->nodes[old].g, "before", "1", &outcomes[0],
                                 err),
                     0);
    want_done = 1;
    run_until(f, enough_done, 10000);
    assert_int_equal(outcomes[0].revision, 1);

    stopped = false;
    consensus_group_stop(f->nodes[old].g, group_stopped, NULL);
    run_until(f, stop_done, 10000);
    f->nodes[old].g = NULL;
    run_until(f, has_leader, 15000);
    now = leader_index(f);
    assert_int_not_equal(now, old);
    n_done = 0;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(propose_put(f->nodes[now].g, "after", "2",
                                     &outcomes[i + 1], err),
                         0);
    }
    want_done = 10;
    run_until(f, enough_done, 10000);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(outcomes[i + 1].status, 0);
        assert_int_equal(outcomes[i + 1].revision, (uint64_t)i + 2);
    }
    assert_int_equal(storage_bucket_info(f->nodes[now].s, BUCKET, &info, err),
                     0);
    assert_int_equal(info.last_revision, 11);
    assert_value(f->nodes[now].s, "before", "1");
}

/* ------------------------------------------------------------------------
 * A group with its own storage and Raft directory
 * ---------------------------------------------------------------------- */

static int m_leader(struct fix *f)
{
    for (int i = 0; i < N; i++) {
        if (f->nodes[i].mg != NULL &&
            consensus_group_is_leader(f->nodes[i].mg)) {
            return i;
        }
    }
    return -1;
}

static bool m_has_leader(struct fix *f)
{
    return m_leader(f) >= 0;
}

static bool m_all_applied(struct fix *f)
{
    for (int i = 0; i < N; i++) {
        if (consensus_group_applied(f->nodes[i].mg) < want_applied) {
            return false;
        }
    }
    return true;
}

/* Start node @i's replica of MGROUP on its own storage and directory. */
static void m_start(struct fix *f, int i,
                    const struct consensus_member *members)
{
    struct node *n = &f->nodes[i];
    struct consensus_group_options go;
    char raft_dir[320], err[CAIRN_ERRMSG_SIZE];
    snprintf(raft_dir, sizeof raft_dir, "%s/mem/raft", n->dir);
    go.storage = n->ms;
    go.raft_dir = raft_dir;
    assert_int_equal(consensus_group_start(n->c, MGROUP, MBUCKET, members, N,
                                           &go, &n->mg, err),
                     0);
}

/* Put revisions @first + 1 .. @first + @count to MGROUP's leader, one log
 * entry each ("m0".."m9", value "v<i>"), and wait until every replica
 * applied them. */
static void m_write(struct fix *f, unsigned first, unsigned count)
{
    int leader = m_leader(f);
    char err[CAIRN_ERRMSG_SIZE], key[16], value[16];
    assert_true(leader >= 0);
    memset(outcomes, 0, sizeof outcomes);
    for (unsigned i = 0; i < count; i++) {
        snprintf(key, sizeof key, "m%u", (first + i) % 10);
        snprintf(value, sizeof value, "v%u", first + i);
        n_done = 0;
        assert_int_equal(propose_put(f->nodes[leader].mg, key, value,
                                     &outcomes[i], err),
                         0);
        want_done = 1;
        run_until(f, enough_done, 10000);
        assert_int_equal(outcomes[i].status, 0);
        assert_int_equal(outcomes[i].revision, (uint64_t)first + i + 1);
    }
    want_applied = consensus_group_applied(f->nodes[leader].mg);
    run_until(f, m_all_applied, 10000);
}

/* Whether <dir>/<raft>/<group>/<file> exists (file "": the directory). */
static bool group_path_exists(const char *dir, const char *raft,
                              unsigned group, const char *file)
{
    char path[400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%u/%s", dir, raft, group, file);
    return stat(path, &st) == 0;
}

/* Whether directory @dir holds a snapshot raft_uv stored. */
static bool has_snapshot(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        found |= strncmp(e->d_name, "snapshot-", 9) == 0;
    }
    closedir(d);
    return found;
}

static void test_own_storage_and_wiped_replica(void **state)
{
    struct fix *f = *state;
    struct consensus_member members[N];
    struct storage_bucket_info info;
    char err[CAIRN_ERRMSG_SIZE], path[320];
    cairn_bucket_config cfg;
    int victim;

    cairn_bucket_config_init(&cfg, MBUCKET);
    for (int i = 0; i < N; i++) {
        struct node *n = &f->nodes[i];
        snprintf(path, sizeof path, "%s/mem/storage", n->dir);
        assert_int_equal(storage_open(path, NULL, &n->ms, err), 0);
        assert_int_equal(storage_bucket_create(n->ms, &cfg, T0, err), 0);
        members[i].id = (uint64_t)i + 1;
        snprintf(members[i].address, sizeof members[i].address, "%s",
                 consensus_peer_address(n->c));
    }
    for (int i = 0; i < N; i++) {
        m_start(f, i, members);
    }
    run_until(f, m_has_leader, 10000);
    m_write(f, 0, 50);

    /* The data and the log are where the group was told, and only there. */
    for (int i = 0; i < N; i++) {
        struct node *n = &f->nodes[i];
        assert_int_equal(storage_bucket_info(n->ms, MBUCKET, &info, err), 0);
        assert_int_equal(info.last_revision, 50);
        assert_value_in(n->ms, MBUCKET, "m9", "v49");
        assert_int_equal(storage_bucket_info(n->s, MBUCKET, &info, err),
                         CAIRN_ENOBUCKET);
        assert_true(group_path_exists(n->dir, "mem/raft", MGROUP,
                                      "metadata1"));
        assert_false(group_path_exists(n->dir, "raft", MGROUP, ""));
        assert_true(group_path_exists(n->dir, "raft", GROUP, "metadata1"));
    }

    /* A follower loses everything; it starts again empty, bootstrapped
     * with the same members, and the leader (whose log no longer holds
     * index 1: snapshots every 16 entries) sends it a snapshot. */
    victim = (m_leader(f) + 1) % N;
    stopped = false;
    consensus_group_stop(f->nodes[victim].mg, group_stopped, NULL);
    run_until(f, stop_done, 10000);
    f->nodes[victim].mg = NULL;
    assert_int_equal(storage_bucket_delete(f->nodes[victim].ms, MBUCKET, err),
                     0);
    snprintf(path, sizeof path, "%s/mem/raft", f->nodes[victim].dir);
    assert_int_equal(test_tmpdir_remove(path), 0);
    assert_int_equal(storage_bucket_create(f->nodes[victim].ms, &cfg, T0, err),
                     0);
    m_start(f, victim, members);
    want_applied = consensus_group_applied(f->nodes[m_leader(f)].mg);
    run_until(f, m_all_applied, 15000);
    assert_int_equal(
        storage_bucket_info(f->nodes[victim].ms, MBUCKET, &info, err), 0);
    assert_int_equal(info.last_revision, 50);
    assert_int_equal(info.keys, 10);
    assert_value_in(f->nodes[victim].ms, MBUCKET, "m0", "v40");
    snprintf(path, sizeof path, "%s/mem/raft/%u", f->nodes[victim].dir,
             MGROUP);
    assert_true(has_snapshot(path));
    /* And it follows new writes. */
    m_write(f, 50, 5);
    assert_value_in(f->nodes[victim].ms, MBUCKET, "m4", "v54");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writes_reads_and_followers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leader_stop_fails_over, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_own_storage_and_wiped_replica,
                                        setup_snapshots, teardown),
    };
    return cmocka_run_group_tests_name("consensus_group", tests, NULL, NULL);
}
