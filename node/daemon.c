/* The node: data and memory directories, storage, consensus and the meta
 * group. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define IDENTITY_FORMAT "cairn-node 1\nid %llu\ncluster %s\n"
/* The memory directory's IDENTITY: the absolute path of the data directory
 * whose node it belongs to. */
#define MEMORY_IDENTITY_PREFIX "cairn-memory 1\ndata-dir "
#define MEMORY_IDENTITY_FORMAT MEMORY_IDENTITY_PREFIX "%s\n"
#define IDENTITY_MAX (NODE_PATH_MAX + 64)
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

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        LOG_WARN("node", NULL, "remove '%s': %s", path, strerror(errno));
    }
    return 0;
}

void node_remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Join @dir and @name into @out; -1 if it does not fit. */
static int path_join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/*
 * Take the lock of directory @dir (given as @flag): one process per
 * directory, held in *fd until the node stops. Another process holding it
 * is @busy_code, with a message naming the directory and ending in @hint.
 */
static int take_lock(const char *dir, const char *flag, int busy_code,
                     const char *hint, int *fd, char *errmsg)
{
    char path[NODE_PATH_MAX + 8];
    if (path_join(path, sizeof path, dir, "LOCK") != 0) {
        return fail(errmsg, CAIRN_EINVAL, "%s: path too long", flag);
    }
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) {
        return fail(errmsg, CAIRN_EIO, "open '%s': %s", path,
                    strerror(errno));
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(*fd);
        *fd = -1;
        return err == EWOULDBLOCK
                   ? fail(errmsg, busy_code,
                          "%s: '%s' is in use by another cairnd%s", flag, dir,
                          hint)
                   : fail(errmsg, CAIRN_EIO, "lock '%s': %s", path,
                          strerror(err));
    }
    return 0;
}

/* Read the small file @path into @have (@size bytes, NUL-terminated).
 * *found is false when there is no such file. Errors: CAIRN_EIO. */
static int read_identity(const char *path, char *have, size_t size,
                         bool *found, char *errmsg)
{
    FILE *f = fopen(path, "r");
    size_t len;
    *found = f != NULL;
    if (f == NULL) {
        return errno == ENOENT ? 0
                               : fail(errmsg, CAIRN_EIO, "read '%s': %s", path,
                                      strerror(errno));
    }
    len = fread(have, 1, size - 1, f);
    fclose(f);
    have[len] = '\0';
    return 0;
}

/* Write @text to the new file @path, synced. Errors: CAIRN_EIO. */
static int write_identity(const char *path, const char *text, char *errmsg)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) == EOF || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        int err = errno;
        if (f != NULL) {
            fclose(f);
        }
        return fail(errmsg, CAIRN_EIO, "write '%s': %s", path, strerror(err));
    }
    fclose(f);
    return 0;
}

/* The data directory's IDENTITY for this node, into @out (256 bytes). */
static void identity_text(const node *n, char *out)
{
    snprintf(out, 256, IDENTITY_FORMAT, (unsigned long long)n->cfg.id,
             n->cfg.cluster);
}

/*
 * Check the data directory's identity. *fresh says whether the node starts
 * from nothing: its IDENTITY is written by claim_dirs() once every check
 * passed, so a refused start writes nothing.
 */
static int check_identity(node *n, bool *fresh, char *errmsg)
{
    char path[NODE_PATH_MAX + 16], want[256], have[256];
    bool found;
    int rc;
    identity_text(n, want);
    if (path_join(path, sizeof path, n->cfg.data_dir, "IDENTITY") != 0) {
        return fail(errmsg, CAIRN_EINVAL, "--data-dir: path too long");
    }
    if ((rc = read_identity(path, have, sizeof have, &found, errmsg)) != 0) {
        return rc;
    }
    if (found && strcmp(have, want) != 0) {
        return fail(errmsg, CAIRN_EINVAL,
                    "--data-dir: '%s' belongs to another node or cluster "
                    "(its IDENTITY says: %.80s)",
                    n->cfg.data_dir, have);
    }
    if (!found && n->cfg.bootstrap == NODE_BOOTSTRAP_NONE) {
        return fail(errmsg, CAIRN_EINVAL,
                    "--data-dir: '%s' holds no node yet: give "
                    "--initial-cluster to bootstrap a cluster or --join to "
                    "join a running one",
                    n->cfg.data_dir);
    }
    *fresh = !found;
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

/*
 * Open the memory directory (--memory-dir, docs/cairnd.md "Memory
 * buckets"): create it (0700) when missing, take its lock, and check that
 * it belongs to this node's data directory. *want is set to the identity
 * it must hold, *claimed to whether it holds it already. Writes nothing
 * but the directory and its LOCK file.
 *
 * Two nodes given one memory directory, or a directory of another data
 * directory, are configuration mistakes (a default directory is named
 * after the cluster and the id, so two nodes share it only when they share
 * both): CAIRN_EINVAL, and cairnd exits 2. Errors: also CAIRN_EIO.
 */
static int memory_dir_check(node *n, char *want, bool *claimed,
                            char *errmsg)
{
    const char *dir = n->cfg.memory_dir;
    char data_abs[PATH_MAX], path[NODE_PATH_MAX + 16], have[IDENTITY_MAX];
    struct stat a, b;
    bool found;
    int rc;

    if (realpath(n->cfg.data_dir, data_abs) == NULL) {
        return fail(errmsg, CAIRN_EIO, "resolve '%s': %s", n->cfg.data_dir,
                    strerror(errno));
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return fail(errmsg, CAIRN_EIO,
                    "--memory-dir: create directory '%s': %s (its parent "
                    "must exist)",
                    dir, strerror(errno));
    }
    if (stat(dir, &a) != 0 || stat(data_abs, &b) != 0) {
        return fail(errmsg, CAIRN_EIO, "stat '%s': %s", dir, strerror(errno));
    }
    if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
        return fail(errmsg, CAIRN_EINVAL,
                    "--memory-dir: '%s' is the data directory: give memory "
                    "buckets a directory of their own, on tmpfs",
                    dir);
    }
    rc = take_lock(dir, "--memory-dir", CAIRN_EINVAL,
                   ": give each node its own memory directory",
                   &n->mem_lock_fd, errmsg);
    if (rc != 0) {
        return rc;
    }
    snprintf(want, IDENTITY_MAX, MEMORY_IDENTITY_FORMAT, data_abs);
    if (path_join(path, sizeof path, dir, "IDENTITY") != 0) {
        return fail(errmsg, CAIRN_EINVAL, "--memory-dir: path too long");
    }
    if ((rc = read_identity(path, have, sizeof have, &found, errmsg)) != 0) {
        return rc;
    }
    *claimed = found && strcmp(have, want) == 0;
    if (found && !*claimed) {
        size_t plen = strlen(MEMORY_IDENTITY_PREFIX);
        if (strncmp(have, MEMORY_IDENTITY_PREFIX, plen) == 0) {
            have[plen + strcspn(have + plen, "\n")] = '\0';
            return fail(errmsg, CAIRN_EINVAL,
                        "--memory-dir: '%s' belongs to the node of data "
                        "directory '%s', not to '%s'",
                        dir, have + plen, data_abs);
        }
        have[strcspn(have, "\n")] = '\0';
        return fail(errmsg, CAIRN_EINVAL,
                    "--memory-dir: '%s' holds an IDENTITY that is not a "
                    "memory directory's (it says: %.60s)",
                    dir, have);
    }
    return 0;
}

/*
 * Every check passed: write the identities that are missing. A fresh node
 * also empties a memory directory that named its data directory already:
 * what it holds belongs to an earlier node in that directory.
 */
static int claim_dirs(node *n, bool fresh, const char *mem_want,
                      bool mem_claimed, char *errmsg)
{
    char path[NODE_PATH_MAX + 16], want[256];
    int rc;
    /* The paths fit: the checks built them already. */
    if (fresh) {
        identity_text(n, want);
        path_join(path, sizeof path, n->cfg.data_dir, "IDENTITY");
        if ((rc = write_identity(path, want, errmsg)) != 0) {
            return rc;
        }
    }
    if (fresh && mem_claimed) {
        const char *sub[] = {"storage", "raft"};
        for (unsigned i = 0; i < 2; i++) {
            if (path_join(path, sizeof path, n->cfg.memory_dir, sub[i]) == 0) {
                node_remove_tree(path);
            }
        }
    }
    if (!mem_claimed) {
        path_join(path, sizeof path, n->cfg.memory_dir, "IDENTITY");
        return write_identity(path, mem_want, errmsg);
    }
    return 0;
}

/* Open the memory environment: <memory dir>/storage, with no fsync, since
 * tmpfs keeps nothing a sync would save. */
static int open_memory_storage(node *n, char *errmsg)
{
    char dir[NODE_PATH_MAX + 16];
    struct storage_options so = {0};
    struct statfs fs;
    if (path_join(dir, sizeof dir, n->cfg.memory_dir, "storage") != 0 ||
        path_join(n->mem_raft_dir, sizeof n->mem_raft_dir, n->cfg.memory_dir,
                  "raft") != 0) {
        return fail(errmsg, CAIRN_EINVAL, "--memory-dir: path too long");
    }
    if (statfs(n->cfg.memory_dir, &fs) == 0 &&
        (unsigned long)fs.f_type != (unsigned long)TMPFS_MAGIC &&
        (unsigned long)fs.f_type != (unsigned long)RAMFS_MAGIC) {
        LOG_WARN("node", NULL,
                 "the memory directory is not on tmpfs: memory buckets "
                 "write to its file system path=%s",
                 n->cfg.memory_dir);
    }
    so.map_size = n->cfg.map_size;
    so.no_sync = true;
    return storage_open(dir, &so, &n->ms, errmsg);
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
    char dir[NODE_PATH_MAX + 16], mem_want[IDENTITY_MAX];
    struct storage_options so = {0};
    unsigned n_members = 0;
    bool fresh = false, mem_claimed = false;
    node *n;
    int rc;

    n = calloc(1, sizeof *n);
    if (n == NULL) {
        return fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    n->loop = loop;
    n->cfg = *cfg;
    n->lock_fd = -1;
    n->mem_lock_fd = -1;
    snprintf(n->join_target, sizeof n->join_target, "%s", cfg->join.text);
    /* The address other nodes and clients dial: a wildcard listener is
     * advertised at the peer address's host. */
    snprintf(n->client_address, sizeof n->client_address, "%s:%u",
             strcmp(cfg->client_listen.host, "0.0.0.0") == 0
                 ? cfg->peer_listen.host
                 : cfg->client_listen.host,
             (unsigned)cfg->client_listen.port);
    if ((rc = make_dir(cfg->data_dir, errmsg)) != 0 ||
        (rc = take_lock(cfg->data_dir, "--data-dir", CAIRN_EBUSY, "",
                        &n->lock_fd, errmsg)) != 0 ||
        (rc = check_identity(n, &fresh, errmsg)) != 0 ||
        (rc = memory_dir_check(n, mem_want, &mem_claimed, errmsg)) != 0 ||
        (rc = claim_dirs(n, fresh, mem_want, mem_claimed, errmsg)) != 0) {
        goto err;
    }
    if (path_join(dir, sizeof dir, cfg->data_dir, "storage") != 0 ||
        path_join(n->raft_dir, sizeof n->raft_dir, cfg->data_dir, "raft") !=
            0) {
        rc = fail(errmsg, CAIRN_EINVAL, "--data-dir: path too long");
        goto err;
    }
    so.map_size = cfg->map_size;
    if ((rc = storage_open(dir, &so, &n->s, errmsg)) != 0 ||
        (rc = open_memory_storage(n, errmsg)) != 0) {
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
                               members, n_members, NULL, &n->meta, errmsg);
    if (rc != 0) {
        goto err;
    }
    uv_timer_init(loop, &n->poll);
    n->poll.data = n;
    uv_timer_init(loop, &n->reconcile);
    n->reconcile.data = n;
    meta_attach(n);
    if ((rc = server_start(n, errmsg)) != 0 ||
        (rc = http_api_start(n, errmsg)) != 0) {
        node_stop(n, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        return rc;
    }
    uv_timer_start(&n->poll, poll_cb, LEADER_POLL_MS, LEADER_POLL_MS);
    LOG_INFO("node", NULL,
             "started id=%llu name=%s cluster=%s peer=%s data=%s memory=%s "
             "fresh=%s",
             (unsigned long long)cfg->id, cfg->name, cfg->cluster,
             cfg->peer_listen.text, cfg->data_dir, cfg->memory_dir,
             fresh ? "yes" : "no");
    *out = n;
    return 0;

err:
    /* Only the consensus layer runs asynchronously this early: close it
     * and run the loop until it is gone (nothing else is on it yet). */
    if (n->c != NULL) {
        consensus_close(n->c, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    storage_close(n->ms);
    storage_close(n->s);
    if (n->mem_lock_fd >= 0) {
        close(n->mem_lock_fd);
    }
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
    storage_close(n->ms);
    storage_close(n->s);
    close(n->mem_lock_fd);
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

static void http_stopped(node *n)
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
    n->parts_open += 5; /* server, HTTP, consensus, two timers */
    meta_stop_buckets(n);
    n->meta = NULL;
    server_stop(n, server_stopped);
    http_api_stop(n, http_stopped);
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
