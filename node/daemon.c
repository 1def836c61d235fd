/* The node: data directory, storage, consensus and the meta group. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define IDENTITY_FORMAT "cairn-node 1\nid %llu\ncluster %s\n"
#define LEADER_POLL_MS 200



int node_fail(char *errmsg, int code, const char *fmt, ...)
{
    va_list ap;
    if (errmsg != NULL) {
        va_start(ap, fmt);
        vsnprintf(errmsg, CAIRN_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

#define fail node_fail

uint64_t node_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void consensus_log(void *data, int level, const char *group,
                          const char *msg)
{
    (void)data;
    node_log((enum node_log_level)level, "raft", group, "%s", msg);
}

/* Join @dir and @name into @out; -1 if it does not fit. */
static int path_join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Take the data directory's lock: one process per directory. */
static int take_lock(node *n, char *errmsg)
{
    char path[NODE_PATH_MAX + 8];
    if (path_join(path, sizeof path, n->cfg.data_dir, "LOCK") != 0) {
        return fail(errmsg, CAIRN_EINVAL, "--data-dir: path too long");
    }
    n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (n->lock_fd < 0) {
        return fail(errmsg, CAIRN_EIO, "open '%s': %s", path,
                    strerror(errno));
    }
    if (flock(n->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(n->lock_fd);
        n->lock_fd = -1;
        return err == EWOULDBLOCK
                   ? fail(errmsg, CAIRN_EBUSY,
                          "data directory '%s' is in use by another cairnd",
                          n->cfg.data_dir)
                   : fail(errmsg, CAIRN_EIO, "lock '%s': %s", path,
                          strerror(err));
    }
    return 0;
}

/*
 * Check the directory's identity, or write it for a new node. *fresh says
 * whether the node starts from nothing. Nothing is written unless the
 * configuration can bootstrap a new node.
 */
static int check_identity(node *n, bool *fresh, char *errmsg)
{
    char path[NODE_PATH_MAX + 16], want[256], have[256];
    FILE *f;
    size_t len;
    snprintf(want, sizeof want, IDENTITY_FORMAT, (unsigned long long)n->cfg.id,
             n->cfg.cluster);
    if (path_join(path, sizeof path, n->cfg.data_dir, "IDENTITY") != 0) {
        return fail(errmsg, CAIRN_EINVAL, "--data-dir: path too long");
    }
    f = fopen(path, "r");
    if (f != NULL) {
        len = fread(have, 1, sizeof have - 1, f);
        fclose(f);
        have[len] = '\0';
        if (strcmp(have, want) != 0) {
            return fail(errmsg, CAIRN_EINVAL,
                        "--data-dir: '%s' belongs to another node or cluster "
                        "(its IDENTITY says: %.80s)",
                        n->cfg.data_dir, have);
        }
        *fresh = false;
        return 0;
    }
    if (errno != ENOENT) {
        return fail(errmsg, CAIRN_EIO, "read '%s': %s", path, strerror(errno));
    }
    if (n->cfg.bootstrap == NODE_BOOTSTRAP_NONE) {
        return fail(errmsg, CAIRN_EINVAL,
                    "--data-dir: '%s' holds no node yet: give "
                    "--initial-cluster to bootstrap a cluster or --join to "
                    "join a running one",
                    n->cfg.data_dir);
    }
    f = fopen(path, "w");
    if (f == NULL || fputs(want, f) == EOF || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        int err = errno;
        if (f != NULL) {
            fclose(f);
        }
        return fail(errmsg, CAIRN_EIO, "write '%s': %s", path, strerror(err));
    }
    fclose(f);
    *fresh = true;
    return 0;
}

static int make_dir(const char *path, char *errmsg)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return fail(errmsg, CAIRN_EIO, "create directory '%s': %s", path,
                    strerror(errno));
    }
    return 0;
}

/* The meta group's bucket: created identically on every voter. */
static int ensure_meta_bucket(node *n, uint64_t now, char *errmsg)
{
    cairn_bucket_config cfg;
    struct storage_bucket_info info;
    if (storage_bucket_info(n->s, NODE_META_BUCKET, &info, errmsg) == 0) {
        return 0;
    }
    cairn_bucket_config_init(&cfg, NODE_META_BUCKET);
    snprintf(cfg.description, sizeof cfg.description,
             "cluster catalog: nodes and buckets");
    cfg.num_replicas = n->cfg.n_initial > 0 ? n->cfg.n_initial : 1;
    return storage_bucket_create(n->s, &cfg, now, errmsg);
}

static void poll_cb(uv_timer_t *t)
{
    node *n = t->data;
    const char *address = NULL;
    uint64_t leader;
    if (n->meta == NULL) {
        return;
    }
    leader = consensus_group_leader(n->meta, &address);
    if (leader != n->meta_leader) {
        if (leader == 0) {
            LOG_WARN("meta", NODE_META_BUCKET, "no leader");
        } else {
            LOG_INFO("meta", NODE_META_BUCKET,
                     "leader elected leader=%llu address=%s self=%s",
                     (unsigned long long)leader, address ? address : "",
                     leader == n->cfg.id ? "yes" : "no");
        }
        n->meta_leader = leader;
    }
    meta_tick(n);
}

int node_start(uv_loop_t *loop, const struct node_config *cfg, node **out,
               char *errmsg)
{
    struct consensus_options o = {0};
    struct consensus_member members[NODE_VOTERS_MAX];
    char dir[NODE_PATH_MAX + 16];
    struct storage_options so = {0};
    unsigned n_members = 0;
    bool fresh = false;
    node *n;
    int rc;

    n = calloc(1, sizeof *n);
    if (n == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    n->loop = loop;
    n->cfg = *cfg;
    n->lock_fd = -1;
    snprintf(n->join_target, sizeof n->join_target, "%s", cfg->join.text);
    /* The address other nodes and clients dial: a wildcard listener is
     * advertised at the peer address's host. */
    snprintf(n->client_address, sizeof n->client_address, "%s:%u",
             strcmp(cfg->client_listen.host, "0.0.0.0") == 0
                 ? cfg->peer_listen.host
                 : cfg->client_listen.host,
             (unsigned)cfg->client_listen.port);
    if ((rc = make_dir(cfg->data_dir, errmsg)) != 0 ||
        (rc = take_lock(n, errmsg)) != 0 ||
        (rc = check_identity(n, &fresh, errmsg)) != 0) {
        goto err;
    }
    if (path_join(dir, sizeof dir, cfg->data_dir, "storage") != 0 ||
        path_join(n->raft_dir, sizeof n->raft_dir, cfg->data_dir, "raft") !=
            0) {
        rc = fail(errmsg, CAIRN_EINVAL, "--data-dir: path too long");
        goto err;
    }
    so.map_size = cfg->map_size;
    if ((rc = storage_open(dir, &so, &n->s, errmsg)) != 0) {
        goto err;
    }
    if ((rc = ensure_meta_bucket(n, (uint64_t)uv_hrtime(), errmsg)) != 0) {
        goto err;
    }
    o.id = cfg->id;
    o.cluster = cfg->cluster;
    o.peer_address = cfg->peer_listen.text;
    o.raft_dir = n->raft_dir;
    o.storage = n->s;
    o.election_timeout_ms = cfg->election_timeout_ms;
    o.heartbeat_ms = cfg->heartbeat_ms;
    o.snapshot_threshold = cfg->snapshot_threshold;
    o.snapshot_trailing = cfg->snapshot_trailing;
    o.log = consensus_log;
    if ((rc = consensus_create(loop, &o, &n->c, errmsg)) != 0) {
        goto err;
    }
    /* A fresh node bootstraps the voters, or, joining, starts empty and
     * waits to be added; a known one resumes its log and needs only its
     * own address. */
    if (fresh && cfg->bootstrap == NODE_BOOTSTRAP_JOIN) {
        n_members = 0;
    } else if (fresh) {
        for (uint32_t i = 0; i < cfg->n_initial; i++) {
            members[i].id = cfg->initial_cluster[i].id;
            snprintf(members[i].address, sizeof members[i].address, "%s",
                     cfg->initial_cluster[i].addr.text);
        }
        n_members = cfg->n_initial;
    } else {
        members[0].id = cfg->id;
        snprintf(members[0].address, sizeof members[0].address, "%s",
                 cfg->peer_listen.text);
        n_members = 1;
    }
    rc = consensus_group_start(n->c, NODE_META_GROUP, NODE_META_BUCKET,
                               members, n_members, &n->meta, errmsg);
    if (rc != 0) {
        goto err;
    }
    uv_timer_init(loop, &n->poll);
    n->poll.data = n;
    uv_timer_init(loop, &n->reconcile);
    n->reconcile.data = n;
    meta_attach(n);
    if ((rc = server_start(n, errmsg)) != 0) {
        node_stop(n, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        return rc;
    }
    uv_timer_start(&n->poll, poll_cb, LEADER_POLL_MS, LEADER_POLL_MS);
    LOG_INFO("node", NULL,
             "started id=%llu name=%s cluster=%s peer=%s data=%s fresh=%s",
             (unsigned long long)cfg->id, cfg->name, cfg->cluster,
             cfg->peer_listen.text, cfg->data_dir, fresh ? "yes" : "no");
    *out = n;
    return 0;

err:
    /* Only the consensus layer runs asynchronously this early: close it
     * and run the loop until it is gone (nothing else is on it yet). */
    if (n->c != NULL) {
        consensus_close(n->c, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    storage_close(n->s);
    if (n->lock_fd >= 0) {
        close(n->lock_fd);
    }
    free(n);
    return rc;
}

/* ------------------------------------------------------------------------
 * Stopping
 *
 * Leadership of every group this node leads is handed over first. Then the
 * client server, the bucket groups, the meta group and the timers close
 * together; the node is freed when the last of them is done.
 * ---------------------------------------------------------------------- */

void node_part_done(node *n)
{
    void (*cb)(void *);
    void *cb_data;
    if (--n->parts_open > 0 || !n->finishing) {
        return;
    }
    cb = n->stop_cb;
    cb_data = n->stop_data;
    catalog_release(&n->cat);
    storage_close(n->s);
    close(n->lock_fd);
    LOG_INFO("node", NULL, "stopped");
    free(n);
    if (cb != NULL) {
        cb(cb_data);
    }
}

static void consensus_closed(void *data)
{
    node_part_done(data);
}

static void server_stopped(node *n)
{
    node_part_done(n);
}

static void timer_closed(uv_handle_t *h)
{
    node_part_done(h->data);
}

static void finish_stop(node *n)
{
    n->finishing = true;
    n->parts_open += 4; /* server, consensus, two timers */
    meta_stop_buckets(n);
    n->meta = NULL;
    server_stop(n, server_stopped);
    consensus_close(n->c, consensus_closed, n);
    uv_close((uv_handle_t *)&n->poll, timer_closed);
    uv_close((uv_handle_t *)&n->reconcile, timer_closed);
}

static void transfer_done(void *data, int status)
{
    struct transfer_ctx *t = data;
    node *n = t->n;
    LOG_INFO("node", t->bucket, "leadership transfer %s",
             status == 0 ? "done" : "did not complete");
    free(t);
    if (--n->transfers == 0) {
        finish_stop(n);
    }
}

static void transfer_one(node *n, consensus_group *g)
{
    char err[CAIRN_ERRMSG_SIZE];
    struct transfer_ctx *t;
    if (!consensus_group_is_leader(g) || (t = malloc(sizeof *t)) == NULL) {
        return;
    }
    t->n = n;
    snprintf(t->bucket, sizeof t->bucket, "%s", consensus_group_bucket(g));
    if (consensus_group_transfer(g, transfer_done, t, err) == 0) {
        n->transfers++;
    } else {
        free(t);
    }
}

void node_stop(node *n, void (*cb)(void *data), void *data)
{
    if (n->stopping) {
        return;
    }
    n->stopping = true;
    n->stop_cb = cb;
    n->stop_data = data;
    uv_timer_stop(&n->poll);
    uv_timer_stop(&n->reconcile);
    meta_close(n);
    LOG_INFO("node", NULL, "stopping");
    /* Hold a count while starting transfers so none finishes the stop
     * before all have started. */
    n->transfers = 1;
    transfer_one(n, n->meta);
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        if (!b->stopping) {
            transfer_one(n, b->g);
        }
    }
    if (--n->transfers == 0) {
        finish_stop(n);
    }
}
