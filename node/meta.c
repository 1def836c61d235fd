/*
 * Acting on the catalog.
 *
 * Every node reloads its copy of the catalog after each entry its meta
 * replica applies, then reconciles: it starts the bucket groups placed on
 * it that are not running, and stops (and deletes the data of) those the
 * catalog no longer places here. The meta leader serves the operations
 * that change the catalog.
 *
 * Registration: a node's record (names, addresses, tags) is written by the
 * meta leader. The leader writes its own; any other node sends node.join to
 * the leader's client address (from the leader's record), or, when it is
 * joining and knows no leader yet, to its --join address.
 *
 * Leader hints: a node that leads a bucket group makes sure the catalog's
 * hint for the bucket names it, at its term: the meta leader writes the
 * hint itself; any other node sends bucket.leader to the meta leader. One
 * hint is written per leadership change, never periodically, so nodes that
 * hold no replica of a bucket know its leader (docs/cairnd.md).
 *
 * Both go through the meta client: one connection at a time to the meta
 * leader, carrying every request due, following 421, given up after a
 * timeout and retried on a later tick.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define REGISTER_RETRY_MS 1000 /* between node.join attempts */
#define REPORT_RETRY_MS 1000   /* after a bucket.leader report, per bucket */

/* ------------------------------------------------------------------------
 * Catalog reload and reconcile
 * ---------------------------------------------------------------------- */

static void reconcile_cb(uv_timer_t *t)
{
    meta_reconcile(t->data);
}

static void schedule_reconcile(node *n)
{
    if (!n->stopping) {
        uv_timer_start(&n->reconcile, reconcile_cb, 0, 0);
    }
}

static void meta_applied(void *data)
{
    node *n = data;
    char err[CAIRN_ERRMSG_SIZE];
    if (catalog_load(n->s, &n->cat, err) != 0) {
        LOG_ERROR("meta", NODE_META_BUCKET, "catalog reload failed: %s", err);
    }
    schedule_reconcile(n);
}

void meta_attach(node *n)
{
    char err[CAIRN_ERRMSG_SIZE];
    consensus_group_on_apply(n->meta, meta_applied, n);
    if (catalog_load(n->s, &n->cat, err) != 0) {
        LOG_ERROR("meta", NODE_META_BUCKET, "catalog load failed: %s", err);
    }
    schedule_reconcile(n);
    expiry_start(n);
}

struct bucket_rt *meta_bucket(node *n, const char *name)
{
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        if (!b->stopping && strcmp(b->name, name) == 0) {
            return b;
        }
    }
    return NULL;
}

const char *meta_client_address(node *n, uint64_t id)
{
    const struct catalog_node *nd = catalog_find_node(&n->cat, id);
    return nd != NULL && nd->client[0] != '\0' ? nd->client : NULL;
}

static bool is_replica(const struct catalog_bucket *cb, uint64_t id)
{
    for (uint32_t i = 0; i < cb->n_replicas; i++) {
        if (cb->replicas[i] == id) {
            return true;
        }
    }
    return false;
}

static bool places_here(const node *n, const struct catalog_bucket *cb)
{
    return is_replica(cb, n->cfg.id);
}

/* A memory bucket keeps its data in the memory environment and its Raft
 * log under the memory directory; any other, in the data directory. */
static bool is_memory(const struct catalog_bucket *cb)
{
    return cb->config.storage == CAIRN_STORAGE_MEMORY;
}

static storage *env_of(node *n, bool memory)
{
    return memory ? n->ms : n->s;
}

static const char *raft_dir_of(node *n, bool memory)
{
    return memory ? n->mem_raft_dir : n->raft_dir;
}

/* Remove the Raft directory of group @group under @raft_dir. */
static void remove_group_dir(const char *raft_dir, uint64_t group)
{
    char path[NODE_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%llu", raft_dir,
             (unsigned long long)group);
    node_remove_tree(path);
}

/* Whether group @group has Raft state under @raft_dir: raft_uv writes its
 * metadata files (term, vote) at bootstrap and keeps them ever after. */
static bool has_raft_state(const char *raft_dir, uint64_t group)
{
    char path[NODE_PATH_MAX + 64];
    struct stat st;
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof path, "%s/%llu/metadata%d", raft_dir,
                 (unsigned long long)group, i);
        if (stat(path, &st) == 0) {
            return true;
        }
    }
    return false;
}

static void drop_bucket_data(node *n, const struct bucket_rt *b)
{
    char err[CAIRN_ERRMSG_SIZE];
    int rc = storage_bucket_delete(b->s, b->name, err);
    if (rc != 0 && rc != CAIRN_ENOBUCKET) {
        LOG_ERROR("node", b->name, "delete of the bucket's data failed: %s",
                  err);
    }
    remove_group_dir(raft_dir_of(n, b->memory), b->group);
    LOG_INFO("node", b->name, "replica removed gid=%llu",
             (unsigned long long)b->group);
}

static void unlink_bucket(node *n, struct bucket_rt *b)
{
    for (struct bucket_rt **p = &n->buckets; *p != NULL; p = &(*p)->next) {
        if (*p == b) {
            *p = b->next;
            return;
        }
    }
}

static void bucket_stopped(void *data)
{
    struct bucket_rt *b = data;
    node *n = b->n;
    if (b->drop && !n->stopping) {
        drop_bucket_data(n, b);
    }
    unlink_bucket(n, b);
    free(b);
    schedule_reconcile(n); /* does nothing once the node stops */
}

static void stop_bucket(struct bucket_rt *b, bool drop)
{
    if (b->stopping) {
        return;
    }
    b->stopping = true;
    b->drop = drop;
    LOG_INFO("node", b->name, "stopping replica gid=%llu drop=%s",
             (unsigned long long)b->group, drop ? "yes" : "no");
    consensus_group_stop(b->g, bucket_stopped, b);
}

/*
 * Start this node's replica of @cb. Its data must be this bucket's: data
 * of an earlier bucket of the same name is dropped, and a missing bucket is
 * created (with the catalog's creation time) and its group bootstrapped
 * with the catalog's replicas, the configuration every replica started
 * from, so the bootstrap entry is the original one.
 *
 * A memory replica resumes only when both its data and its Raft log are
 * there (tmpfs keeps them across cairnd restarts). When either is missing
 * (the machine restarted, or the memory directory was wiped), what is left
 * of the other is dropped too and the replica starts empty: the leader
 * catches it up from its log or a snapshot, or, when every replica lost
 * its state, the bucket starts again empty (docs/cairnd.md, "Memory
 * buckets").
 */
static void start_bucket(node *n, const struct catalog_bucket *cb)
{
    struct consensus_member members[CAIRN_REPLICAS_MAX];
    struct consensus_group_options go;
    struct storage_bucket_info info;
    char err[CAIRN_ERRMSG_SIZE];
    const char *name = cb->config.name;
    bool memory = is_memory(cb), fresh = false;
    storage *s = env_of(n, memory);
    const char *raft_dir = raft_dir_of(n, memory);
    struct bucket_rt *b;
    int rc;

    for (uint32_t i = 0; i < cb->n_replicas; i++) {
        const struct catalog_node *nd = catalog_find_node(&n->cat,
                                                          cb->replicas[i]);
        if (nd == NULL) {
            LOG_ERROR("node", name, "replica node %llu has no record",
                      (unsigned long long)cb->replicas[i]);
            return;
        }
        members[i].id = nd->id;
        snprintf(members[i].address, sizeof members[i].address, "%s",
                 nd->peer);
    }
    rc = storage_bucket_info(s, name, &info, err);
    if (rc == 0 && info.created != cb->created) {
        /* An earlier bucket of the same name, deleted while we were
         * away: its data is not this bucket's. */
        LOG_INFO("node", name, "dropping the data of an earlier bucket");
        storage_bucket_delete(s, name, err);
        rc = CAIRN_ENOBUCKET;
    } else if (rc == 0 && memory && !has_raft_state(raft_dir, cb->group)) {
        LOG_WARN("node", name,
                 "memory replica lost its Raft log: starting it empty gid=%llu",
                 (unsigned long long)cb->group);
        storage_bucket_delete(s, name, err);
        rc = CAIRN_ENOBUCKET;
    } else if (rc == CAIRN_ENOBUCKET && memory &&
               has_raft_state(raft_dir, cb->group)) {
        LOG_WARN("node", name,
                 "memory replica lost its data: starting it empty gid=%llu",
                 (unsigned long long)cb->group);
    }
    if (rc == CAIRN_ENOBUCKET) {
        rc = storage_bucket_create(s, &cb->config, cb->created, err);
        if (rc == 0) {
            /* Whatever log a former incarnation left is not ours. */
            remove_group_dir(raft_dir, cb->group);
            fresh = true;
        }
    }
    if (rc != 0) {
        LOG_ERROR("node", name, "cannot create the bucket's storage: %s", err);
        return;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        LOG_ERROR("node", name, "out of memory");
        return;
    }
    b->n = n;
    b->group = cb->group;
    b->s = s;
    b->memory = memory;
    snprintf(b->name, sizeof b->name, "%s", name);
    go.storage = s;
    go.raft_dir = raft_dir;
    rc = consensus_group_start(n->c, cb->group, name, members,
                               cb->n_replicas, &go, &b->g, err);
    if (rc != 0) {
        LOG_ERROR("node", name, "cannot start the bucket's group: %s", err);
        free(b);
        return;
    }
    b->next = n->buckets;
    n->buckets = b;
    LOG_INFO("node", name,
             "replica started gid=%llu replicas=%u storage=%s fresh=%s",
             (unsigned long long)cb->group, cb->n_replicas,
             memory ? "memory" : "file", fresh ? "yes" : "no");
}

/* Buckets in one of the node's environments (the memory one or not) that
 * no replica here runs or should run there. */
struct orphans {
    node *n;
    bool memory;
    char names[64][CAIRN_BUCKET_NAME_MAX + 1];
    unsigned count;
};

static int collect_orphan(void *arg, const char *name)
{
    struct orphans *o = arg;
    const struct catalog_bucket *cb;
    if (strcmp(name, NODE_META_BUCKET) == 0 || o->count == 64) {
        return 0;
    }
    cb = catalog_find_bucket(&o->n->cat, name);
    if (cb != NULL && places_here(o->n, cb) && is_memory(cb) == o->memory) {
        return 0;
    }
    for (struct bucket_rt *b = o->n->buckets; b != NULL; b = b->next) {
        if (strcmp(b->name, name) == 0 && b->memory == o->memory) {
            return 0; /* still stopping: its stop deletes it */
        }
    }
    snprintf(o->names[o->count++], sizeof o->names[0], "%s", name);
    return 0;
}

/* Whether the Raft directory of group @group under the memory directory
 * (@memory) or the data directory belongs to a replica that runs here or
 * should. */
static bool group_dir_used(node *n, bool memory, uint64_t group)
{
    if (!memory && group == NODE_META_GROUP) {
        return true;
    }
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        if (b->group == group && b->memory == memory) {
            return true; /* running, or stopping: its stop deletes it */
        }
    }
    for (uint32_t i = 0; i < n->cat.n_buckets; i++) {
        const struct catalog_bucket *cb = &n->cat.buckets[i];
        if (cb->group == group && places_here(n, cb) &&
            is_memory(cb) == memory) {
            return true;
        }
    }
    return false;
}

/* Drop, in the memory environment (@memory) or the file one, the data and
 * the Raft logs of buckets no longer placed there: deleted while this node
 * was down, or created again with the other kind of storage. Logs take
 * room, and a memory bucket's take memory. */
static void drop_orphans(node *n, bool memory)
{
    char err[CAIRN_ERRMSG_SIZE];
    const char *raft_dir = raft_dir_of(n, memory);
    struct orphans *o = calloc(1, sizeof *o);
    struct dirent *e;
    DIR *d;
    if (o == NULL) {
        return;
    }
    o->n = n;
    o->memory = memory;
    if (storage_bucket_list(env_of(n, memory), collect_orphan, o, err) == 0) {
        for (unsigned i = 0; i < o->count; i++) {
            LOG_INFO("node", o->names[i],
                     "dropping data of a bucket no longer placed here "
                     "storage=%s",
                     memory ? "memory" : "file");
            storage_bucket_delete(env_of(n, memory), o->names[i], err);
        }
    }
    free(o);
    if ((d = opendir(raft_dir)) == NULL) {
        return; /* none yet */
    }
    while ((e = readdir(d)) != NULL) {
        char *end;
        unsigned long long group = strtoull(e->d_name, &end, 10);
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || *end != '\0' ||
            group_dir_used(n, memory, group)) {
            continue;
        }
        LOG_INFO("node", NULL,
                 "dropping the Raft log of a group no longer placed here "
                 "gid=%llu storage=%s",
                 group, memory ? "memory" : "file");
        remove_group_dir(raft_dir, group);
    }
    closedir(d);
}

void meta_reconcile(node *n)
{
    if (n->stopping) {
        return;
    }
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        const struct catalog_bucket *cb = catalog_find_bucket(&n->cat,
                                                              b->name);
        if (!b->stopping &&
            (cb == NULL || cb->group != b->group || !places_here(n, cb))) {
            stop_bucket(b, true);
        }
    }
    for (uint32_t i = 0; i < n->cat.n_buckets; i++) {
        const struct catalog_bucket *cb = &n->cat.buckets[i];
        bool busy = false;
        if (!places_here(n, cb)) {
            continue;
        }
        for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
            busy |= strcmp(b->name, cb->config.name) == 0;
        }
        if (!busy) { /* a stopping one reconciles again when stopped */
            start_bucket(n, cb);
        }
    }
    /* Data of buckets deleted while this node was down. Only the meta
     * group's own state is trusted here, so wait until it has caught up
     * with a leader once (its catalog is then at least that recent). */
    if (consensus_group_leader(n->meta, NULL) == 0) {
        return;
    }
    drop_orphans(n, false);
    drop_orphans(n, true);
}

void meta_stop_buckets(node *n)
{
    uv_timer_stop(&n->reconcile);
    expiry_stop(n);
    for (struct bucket_rt *b = n->buckets, *next; b != NULL; b = next) {
        next = b->next;
        stop_bucket(b, false);
    }
}

/* ------------------------------------------------------------------------
 * Proposals to the meta group
 * ---------------------------------------------------------------------- */

typedef void (*meta_done_cb)(node *n, void *data, int status,
                             const struct storage_result *res);

struct meta_prop {
    node *n;
    meta_done_cb cb;
    void *data;
};

static void meta_prop_cb(void *data, int status,
                         const struct storage_result *res)
{
    struct meta_prop *p = data;
    p->cb(p->n, p->data, status, res);
    free(p);
}

/* Propose a command of @type on catalog key @key with value @val; @revision
 * is the one STORAGE_CMD_UPDATE needs, or the only one STORAGE_CMD_DELETE
 * deletes at (0: any). On a synchronous error @cb does not fire. */
static int meta_propose(node *n, uint32_t type, const char *key,
                        const void *val, size_t val_len, uint64_t revision,
                        meta_done_cb cb, void *data, char *errmsg)
{
    struct storage_cmd cmd = {.type = type, .time = node_now()};
    struct meta_prop *p;
    void *buf;
    size_t len;
    int rc;
    cmd.w.op = type == STORAGE_CMD_DELETE ? CAIRN_OP_DEL : CAIRN_OP_PUT;
    cmd.w.key = key;
    cmd.w.key_len = strlen(key);
    cmd.w.value = val;
    cmd.w.value_len = val_len;
    cmd.revision = revision;
    if ((rc = storage_cmd_encode(&cmd, &buf, &len, errmsg)) != 0) {
        return rc;
    }
    p = malloc(sizeof *p);
    if (p == NULL) {
        free(buf);
        return node_fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    p->n = n;
    p->cb = cb;
    p->data = data;
    rc = consensus_group_propose(n->meta, buf, len, meta_prop_cb, p, errmsg);
    free(buf);
    if (rc != 0) {
        free(p);
    }
    return rc;
}

/* Map a proposal outcome to a reply for @r. */
static bool reply_if_failed(struct conn_req *r, int status,
                            const struct storage_result *res)
{
    if (status != 0) {
        server_reply_error(r, status,
                           status == CAIRN_ENOTLEADER
                               ? "the meta group lost its leader before "
                                 "the change was committed; retry"
                               : "the meta group lost its leader; the "
                                 "change may or may not have been made",
                           NULL);
        return true;
    }
    if (res->code != 0) {
        server_reply_error(r, res->code, res->errmsg, NULL);
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------------
 * bucket.create / bucket.delete
 * ---------------------------------------------------------------------- */

static void bucket_created(node *n, void *data, int status,
                           const struct storage_result *res)
{
    struct conn_req *r = data;
    char err[CAIRN_ERRMSG_SIZE];
    (void)n;
    if (status == 0 && res->code == CAIRN_ECONFLICT) {
        snprintf(err, sizeof err, "bucket '%s' already exists",
                 r->req.bucket);
        server_reply_error(r, CAIRN_EEXIST, err, NULL);
        return;
    }
    if (reply_if_failed(r, status, res)) {
        return;
    }
    LOG_INFO("meta", r->req.bucket, "bucket created");
    cairn_wire_reply_bucket_create(server_reply_buf(r), r->req.id,
                                   (uint64_t)(uintptr_t)r->op_data, NULL);
    server_reply_send(r);
}

void meta_bucket_create(node *n, struct conn_req *r)
{
    const cairn_bucket_config *cfg = r->req.config;
    struct consensus_node *nodes;
    struct catalog_bucket *b;
    char err[CAIRN_ERRMSG_SIZE], key[CATALOG_BUCKET_KEY_MAX + 1];
    void *buf = NULL;
    size_t len;
    int rc;

    if (cfg->name[0] == '_') {
        snprintf(err, sizeof err,
                 "config.name: bucket names starting with '_' are reserved "
                 "for the node's own buckets");
        server_reply_error(r, CAIRN_EINVAL, err, NULL);
        return;
    }
    if (catalog_find_bucket(&n->cat, cfg->name) != NULL) {
        snprintf(err, sizeof err, "bucket '%s' already exists", cfg->name);
        server_reply_error(r, CAIRN_EEXIST, err, NULL);
        return;
    }
    nodes = calloc(n->cat.n_nodes + 1, sizeof *nodes);
    b = calloc(1, sizeof *b);
    if (nodes == NULL || b == NULL) {
        free(nodes);
        free(b);
        server_reply_error(r, CAIRN_ENOMEM, NULL, NULL);
        return;
    }
    for (uint32_t i = 0; i < n->cat.n_nodes; i++) {
        const struct catalog_node *nd = &n->cat.nodes[i];
        nodes[i].id = nd->id;
        nodes[i].cluster = nd->cluster;
        nodes[i].n_tags = nd->n_tags;
        nodes[i].tags = nd->tags;
        for (uint32_t k = 0; k < n->cat.n_buckets; k++) {
            const struct catalog_bucket *cb = &n->cat.buckets[k];
            for (uint32_t j = 0; j < cb->n_replicas; j++) {
                nodes[i].replicas += cb->replicas[j] == nd->id;
            }
        }
    }
    b->config = *cfg;
    b->created = node_now();
    b->n_replicas = cfg->num_replicas;
    rc = consensus_place(nodes, n->cat.n_nodes, cfg, b->replicas, err);
    free(nodes);
    if (rc == 0) {
        rc = catalog_bucket_encode(b, &buf, &len, err);
    }
    if (rc == 0) {
        r->op_data = (void *)(uintptr_t)b->created;
        catalog_bucket_key(key, cfg->name);
        rc = meta_propose(n, STORAGE_CMD_CREATE, key, buf, len, 0,
                          bucket_created, r, err);
    }
    free(buf);
    free(b);
    if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
    }
}

static void bucket_deleted(node *n, void *data, int status,
                           const struct storage_result *res)
{
    struct conn_req *r = data;
    char err[CAIRN_ERRMSG_SIZE];
    (void)n;
    if (status == 0 && res->code == CAIRN_ENOTFOUND) {
        /* deleted by a concurrent request */
        snprintf(err, sizeof err, "bucket '%s' not found", r->req.bucket);
        server_reply_error(r, CAIRN_ENOBUCKET, err, NULL);
        return;
    }
    if (reply_if_failed(r, status, res)) {
        return;
    }
    LOG_INFO("meta", r->req.bucket, "bucket deleted");
    cairn_wire_reply_bucket_delete(server_reply_buf(r), r->req.id, NULL);
    server_reply_send(r);
}

static void hint_dropped(node *n, void *data, int status,
                         const struct storage_result *res)
{
    (void)n;
    (void)data;
    (void)status;
    (void)res;
}

void meta_bucket_delete(node *n, struct conn_req *r)
{
    const struct catalog_bucket *cb;
    char err[CAIRN_ERRMSG_SIZE], key[CATALOG_BUCKET_KEY_MAX + 1];
    int rc;
    if ((cb = catalog_find_bucket(&n->cat, r->req.bucket)) == NULL) {
        snprintf(err, sizeof err, "bucket '%s' not found", r->req.bucket);
        server_reply_error(r, CAIRN_ENOBUCKET, err, NULL);
        return;
    }
    catalog_bucket_key(key, r->req.bucket);
    rc = meta_propose(n, STORAGE_CMD_DELETE, key, NULL, 0, 0, bucket_deleted,
                      r, err);
    if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
        return;
    }
    if (cb->hint_rev != 0) {
        /* Proposed in the same turn, so it shares the bucket record's log
         * entry. Should it fail, the leader's sweep removes the hint. */
        catalog_hint_key(key, r->req.bucket);
        (void)meta_propose(n, STORAGE_CMD_DELETE, key, NULL, 0, 0,
                           hint_dropped, NULL, err);
    }
}

/* ------------------------------------------------------------------------
 * node.join / node.remove
 * ---------------------------------------------------------------------- */

static int member_role(node *n, uint64_t id, char *address, unsigned *voters)
{
    struct consensus_member_info m[64];
    unsigned count = consensus_group_members(n->meta, m, 64);
    int role = 0;
    *voters = 0;
    for (unsigned i = 0; i < count && i < 64; i++) {
        *voters += m[i].role == CONSENSUS_VOTER;
        if (m[i].id == id) {
            role = m[i].role;
            if (address != NULL) {
                snprintf(address, CONSENSUS_ADDRESS_MAX + 1, "%s",
                         m[i].address);
            }
        }
    }
    return role;
}

static void copy_view(char *out, size_t size, struct cairn_wire_str s)
{
    size_t len = s.len < size - 1 ? s.len : size - 1;
    memcpy(out, s.ptr, len);
    out[len] = '\0';
}

/* The catalog record node.join request @r asks for. */
static void join_record(const struct conn_req *r, struct catalog_node *rec)
{
    const struct cairn_wire_node *nd = r->req.node;
    memset(rec, 0, sizeof *rec);
    rec->id = nd->id;
    copy_view(rec->name, sizeof rec->name, nd->name);
    copy_view(rec->client, sizeof rec->client, nd->client);
    copy_view(rec->peer, sizeof rec->peer, nd->peer);
    copy_view(rec->http, sizeof rec->http, nd->http);
    copy_view(rec->cluster, sizeof rec->cluster, nd->cluster);
    rec->n_tags = nd->n_tags;
    for (uint32_t i = 0; i < nd->n_tags && i < CAIRN_TAGS_MAX; i++) {
        copy_view(rec->tags[i], sizeof rec->tags[i], nd->tags[i]);
    }
}

static void join_recorded(node *n, void *data, int status,
                          const struct storage_result *res)
{
    struct conn_req *r = data;
    unsigned voters;
    int role;
    if (reply_if_failed(r, status, res)) {
        return;
    }
    role = member_role(n, r->req.node->id, NULL, &voters);
    cairn_wire_reply_node_join(server_reply_buf(r), r->req.id,
                               consensus_role_name(role), NULL);
    server_reply_send(r);
}

/* Write the joining node's record: the last step of a join. */
static void join_record_write(node *n, struct conn_req *r)
{
    struct catalog_node rec;
    char err[CAIRN_ERRMSG_SIZE], key[CATALOG_NODE_KEY_MAX + 1];
    void *buf;
    size_t len;
    int rc;
    join_record(r, &rec);
    if ((rc = catalog_node_encode(&rec, &buf, &len, err)) != 0) {
        server_reply_error(r, rc, err, NULL);
        return;
    }
    catalog_node_key(key, rec.id);
    rc = meta_propose(n, STORAGE_CMD_PUT, key, buf, len, 0, join_recorded, r,
                      err);
    free(buf);
    if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
    }
}

static void join_added(void *data, int status)
{
    struct conn_req *r = data;
    node *n = r->op_data;
    unsigned voters;
    int role;
    if (status != 0) {
        server_reply_error(r, status,
                           "adding the node to the meta group failed; retry",
                           NULL);
        return;
    }
    role = member_role(n, r->req.node->id, NULL, &voters);
    LOG_INFO("meta", NODE_META_BUCKET, "node joined node=%llu role=%s",
             (unsigned long long)r->req.node->id, consensus_role_name(role));
    if (!consensus_group_is_leader(n->meta)) {
        server_reply_error(r, CAIRN_EUNAVAILABLE,
                           "the node was added but the meta leader changed "
                           "before its record was written; retry",
                           NULL);
        return;
    }
    join_record_write(n, r);
}

/*
 * A node joins (or updates its record): it enters the meta group's
 * configuration first (a voter while there are fewer than 5, else a
 * standby), then its record is written. Records therefore only exist for
 * members, and the leader sweeps the records of nodes that are not
 * (meta_tick), e.g. of a leader that removed itself.
 */
void meta_node_join(node *n, struct conn_req *r)
{
    struct catalog_node rec;
    char err[CAIRN_ERRMSG_SIZE], have[CONSENSUS_ADDRESS_MAX + 1];
    unsigned voters;
    int role, rc;

    join_record(r, &rec);
    if (strcmp(rec.cluster, n->cfg.cluster) != 0) {
        snprintf(err, sizeof err,
                 "node.cluster: node %llu belongs to cluster '%s', this is "
                 "cluster '%s'",
                 (unsigned long long)rec.id, rec.cluster, n->cfg.cluster);
        server_reply_error(r, CAIRN_EINVAL, err, NULL);
        return;
    }
    role = member_role(n, rec.id, have, &voters);
    if (role != 0 && strcmp(have, rec.peer) != 0) {
        snprintf(err, sizeof err,
                 "node %llu is already a member with peer address %s; "
                 "remove it first",
                 (unsigned long long)rec.id, have);
        server_reply_error(r, CAIRN_EEXIST, err, NULL);
        return;
    }
    if (role != 0) {
        join_record_write(n, r);
        return;
    }
    role = voters < NODE_VOTERS_MAX ? CONSENSUS_VOTER : CONSENSUS_STANDBY;
    r->op_data = n;
    rc = consensus_group_add(n->meta, rec.id, rec.peer, role, join_added, r,
                             err);
    if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
    }
}

static void remove_unrecorded(node *n, void *data, int status,
                              const struct storage_result *res)
{
    struct conn_req *r = data;
    (void)n;
    /* The leader's sweep may have deleted the record first. */
    if (status == 0 && res->code != CAIRN_ENOTFOUND &&
        reply_if_failed(r, status, res)) {
        return;
    }
    if (status != 0 && reply_if_failed(r, status, res)) {
        return;
    }
    LOG_INFO("meta", NODE_META_BUCKET, "node removed node=%llu",
             (unsigned long long)r->req.node_id);
    cairn_wire_reply_node_remove(server_reply_buf(r), r->req.id, NULL);
    server_reply_send(r);
}

static void remove_record(node *n, struct conn_req *r)
{
    char err[CAIRN_ERRMSG_SIZE], key[CATALOG_NODE_KEY_MAX + 1];
    int rc;
    catalog_node_key(key, r->req.node_id);
    rc = meta_propose(n, STORAGE_CMD_DELETE, key, NULL, 0, 0,
                      remove_unrecorded, r, err);
    if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
    }
}

static void remove_done(void *data, int status)
{
    struct conn_req *r = data;
    node *n = r->op_data;
    if (status != 0) {
        server_reply_error(r, status,
                           "removing the node from the meta group failed",
                           NULL);
        return;
    }
    if (!consensus_group_is_leader(n->meta)) {
        /* The leader removed itself: the record goes with the next
         * leader's help; the configuration change is what counts. */
        cairn_wire_reply_node_remove(server_reply_buf(r), r->req.id, NULL);
        server_reply_send(r);
        return;
    }
    remove_record(n, r);
}

void meta_node_remove(node *n, struct conn_req *r)
{
    char err[CAIRN_ERRMSG_SIZE];
    unsigned voters;
    int role = member_role(n, r->req.node_id, NULL, &voters);
    int rc;
    if (role == 0) {
        if (catalog_find_node(&n->cat, r->req.node_id) != NULL) {
            remove_record(n, r);
            return;
        }
        snprintf(err, sizeof err, "node %llu is not a member of the cluster",
                 (unsigned long long)r->req.node_id);
        server_reply_error(r, CAIRN_ENOTFOUND, err, NULL);
        return;
    }
    if (role == CONSENSUS_VOTER && voters == 1) {
        snprintf(err, sizeof err,
                 "node %llu is the only voter: removing it would leave the "
                 "cluster without a quorum",
                 (unsigned long long)r->req.node_id);
        server_reply_error(r, CAIRN_EINVAL, err, NULL);
        return;
    }
    r->op_data = n;
    rc = consensus_group_remove(n->meta, r->req.node_id, remove_done, r, err);
    if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
    }
}

/* ------------------------------------------------------------------------
 * bucket.leader: leader hints
 * ---------------------------------------------------------------------- */

/* A hint being written, on the meta leader. */
struct hint_ctx {
    struct conn_req *r; /* the bucket.leader request; NULL: our own report */
    struct catalog_hint h;
    char bucket[CAIRN_BUCKET_NAME_MAX + 1];
};

/*
 * The bucket whose hint a report "node @node_id leads group @group of
 * bucket @name in term @term" would change, or NULL. It changes it when
 * it is about the bucket's current group, names one of the bucket's
 * replicas, and is newer than the hint: there is none for this group, or
 * the hint is from an older term. A hint from the same term names the one
 * node that can lead in it already; one from a later term makes the report
 * stale.
 */
static const struct catalog_bucket *hint_target(node *n, const char *name,
                                                uint64_t group,
                                                uint64_t node_id,
                                                uint64_t term)
{
    const struct catalog_bucket *cb = catalog_find_bucket(&n->cat, name);
    if (cb == NULL || cb->group != group || !is_replica(cb, node_id) ||
        (cb->hint_node != 0 && cb->hint_term >= term)) {
        return NULL;
    }
    return cb;
}

/* The report about group @group is over: the next one waits a little. */
static void report_done(node *n, uint64_t group)
{
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        if (b->group == group) {
            b->reporting = false;
            b->report_after = uv_now(n->loop) + REPORT_RETRY_MS;
        }
    }
}

static void hint_written(node *n, void *data, int status,
                         const struct storage_result *res)
{
    struct hint_ctx *x = data;
    if (status == 0 && res->code == 0) {
        LOG_INFO("meta", x->bucket,
                 "leader hint recorded node=%llu term=%llu gid=%llu",
                 (unsigned long long)x->h.node, (unsigned long long)x->h.term,
                 (unsigned long long)x->h.group);
    }
    if (x->r == NULL) {
        report_done(n, x->h.group);
    } else if (status == 0 &&
               (res->code == 0 || res->code == CAIRN_ECONFLICT)) {
        /* A conflict: another report, a bucket delete or the sweep changed
         * the record first. The reporter compares the catalog with its
         * own view and reports again if it still leads. */
        cairn_wire_reply_bucket_leader(server_reply_buf(x->r), x->r->req.id,
                                       NULL);
        server_reply_send(x->r);
    } else {
        (void)reply_if_failed(x->r, status, res);
    }
    free(x);
}

/* On the meta leader: propose the hint that node @node_id leads @cb's
 * group in @term, answering @r (NULL: our own report) when it is done.
 * The write is conditional on the record being what the catalog says
 * (absent, or at cb->hint_rev): of two reports decided on the same
 * catalog only the first is written. On error nothing fires. */
static int hint_propose(node *n, const struct catalog_bucket *cb,
                        uint64_t node_id, uint64_t term, struct conn_req *r,
                        char *errmsg)
{
    char key[CATALOG_HINT_KEY_MAX + 1];
    struct hint_ctx *x = calloc(1, sizeof *x);
    void *buf;
    size_t len;
    int rc;
    if (x == NULL) {
        return node_fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    x->r = r;
    x->h.group = cb->group;
    x->h.node = node_id;
    x->h.term = term;
    snprintf(x->bucket, sizeof x->bucket, "%s", cb->config.name);
    if ((rc = catalog_hint_encode(&x->h, &buf, &len, errmsg)) != 0) {
        free(x);
        return rc;
    }
    catalog_hint_key(key, cb->config.name);
    rc = meta_propose(n,
                      cb->hint_rev != 0 ? STORAGE_CMD_UPDATE
                                        : STORAGE_CMD_CREATE,
                      key, buf, len, cb->hint_rev, hint_written, x, errmsg);
    free(buf);
    if (rc != 0) {
        free(x);
    }
    return rc;
}

void meta_bucket_leader(node *n, struct conn_req *r)
{
    char err[CAIRN_ERRMSG_SIZE];
    const struct catalog_bucket *cb = hint_target(
        n, r->req.bucket, r->req.group, r->req.node_id, r->req.term);
    int rc;
    if (cb == NULL) {
        /* Stale, already recorded, or about no current group: nothing to
         * write. A reporter whose catalog disagrees asks again later. */
        cairn_wire_reply_bucket_leader(server_reply_buf(r), r->req.id, NULL);
        server_reply_send(r);
        return;
    }
    rc = hint_propose(n, cb, r->req.node_id, r->req.term, r, err);
    if (rc != 0) {
        server_reply_error(r, rc, err, NULL);
    }
}

/*
 * Whether this node should report that it leads @b (its term in *term):
 * it leads, no report is in flight or was just made, and the catalog's
 * hint does not say so yet (no hint for this group, or one from an older
 * term). A hint from the same or a later term that names another node
 * means this node's leadership is over already.
 */
static bool report_due(node *n, const struct bucket_rt *b, uint64_t *term)
{
    const struct catalog_bucket *cb;
    if (b->stopping || b->reporting || uv_now(n->loop) < b->report_after ||
        !consensus_group_is_leader(b->g)) {
        return false;
    }
    cb = catalog_find_bucket(&n->cat, b->name);
    if (cb == NULL || cb->group != b->group) {
        return false;
    }
    *term = consensus_group_term(b->g);
    return *term != 0 && (cb->hint_node == 0 || cb->hint_term < *term);
}

/* ------------------------------------------------------------------------
 * The meta client
 *
 * One exchange with the meta leader at a time: a connection to its client
 * address carrying hello, then every request due (node.join, bucket.leader
 * reports), answered in any order. A 421 names the leader: the requests it
 * answered go there next, on a new connection, at most META_HOPS_MAX times
 * in a row. The exchange ends when every request is answered, or the
 * connection fails, or META_TIMEOUT_MS pass; requests left unanswered are
 * dropped, and the tick sends again what is still due.
 * ---------------------------------------------------------------------- */

#define META_TIMEOUT_MS 5000
#define META_HOPS_MAX 8
#define META_CALLS_MAX 64 /* requests per exchange */
#define META_ID_FIRST 2   /* request ids: hello is 1, calls from 2 */

enum meta_call_kind {
    CALL_JOIN = 1,   /* node.join with this node's record */
    CALL_LEADER = 2, /* bucket.leader: this node leads .group in .term */
};

enum meta_call_state {
    CALL_PENDING = 0,
    CALL_ANSWERED = 1,
    CALL_REDIRECTED = 2, /* answered 421: goes to the leader it named */
};

struct meta_call {
    int kind;  /* enum meta_call_kind */
    int state; /* enum meta_call_state */
    char bucket[CAIRN_BUCKET_NAME_MAX + 1]; /* CALL_LEADER */
    uint64_t group;
    uint64_t term;
};

struct meta_client {
    node *n;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uv_timer_t timer;
    struct cairn_wire_buf out;
    struct cairn_wire_reader rd;
    char rbuf[4096];
    char target[CATALOG_ADDRESS_MAX + 1];
    char redirect[CATALOG_ADDRESS_MAX + 1]; /* the leader a 421 named */
    unsigned hops;
    unsigned n_calls;
    unsigned pending; /* calls not answered yet */
    unsigned open;    /* handles to close */
    bool closing;
    struct meta_call calls[META_CALLS_MAX];
};

static void meta_client_start(node *n, const char *target,
                              const struct meta_call *calls, unsigned n_calls,
                              unsigned hops);

static void self_record(node *n, struct catalog_node *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->id = n->cfg.id;
    snprintf(rec->name, sizeof rec->name, "%s", n->cfg.name);
    snprintf(rec->client, sizeof rec->client, "%s", n->client_address);
    snprintf(rec->peer, sizeof rec->peer, "%s", n->cfg.peer_listen.text);
    snprintf(rec->http, sizeof rec->http, "%s", n->cfg.http_listen.text);
    rec->n_tags = n->cfg.n_tags;
    memcpy(rec->tags, n->cfg.tags, sizeof rec->tags);
    snprintf(rec->cluster, sizeof rec->cluster, "%s", n->cfg.cluster);
}

/* Call @c got answer @res from @target (NULL: none; the exchange failed,
 * timed out or the node stops). */
static void call_done(node *n, const char *target, const struct meta_call *c,
                      const struct cairn_wire_response *res)
{
    if (c->kind == CALL_LEADER) {
        if (res != NULL && res->status != 200) {
            LOG_WARN("meta", c->bucket, "bucket.leader via %s: %d %.*s",
                     target, res->status, (int)res->error.len,
                     res->error.ptr);
        }
        report_done(n, c->group);
    } else if (res != NULL && res->status == 200) {
        LOG_INFO("meta", NODE_META_BUCKET, "registered via %s role=%.*s",
                 target, (int)res->role.len, res->role.ptr);
    } else if (res != NULL) {
        LOG_WARN("meta", NODE_META_BUCKET, "node.join via %s: %d %.*s",
                 target, res->status, (int)res->error.len, res->error.ptr);
    }
}

static void mc_closed(uv_handle_t *h)
{
    struct meta_client *mc = h->data;
    node *n = mc->n;
    struct meta_call next[META_CALLS_MAX];
    unsigned n_next = 0;
    bool follow;
    if (--mc->open > 0) {
        return;
    }
    follow = !n->stopping && mc->redirect[0] != '\0' &&
             mc->hops + 1 < META_HOPS_MAX;
    for (unsigned i = 0; i < mc->n_calls; i++) {
        const struct meta_call *c = &mc->calls[i];
        if (c->state == CALL_REDIRECTED && follow) {
            next[n_next] = *c;
            next[n_next++].state = CALL_PENDING;
        } else if (c->state != CALL_ANSWERED) {
            call_done(n, mc->target, c, NULL);
        }
    }
    cairn_wire_buf_close(&mc->out);
    cairn_wire_reader_close(&mc->rd);
    if (n->mc == mc) {
        n->mc = NULL;
    }
    if (n_next > 0) {
        meta_client_start(n, mc->redirect, next, n_next, mc->hops + 1);
    }
    free(mc);
    node_part_done(n); /* the node waits for us when stopping */
}

static void mc_close(struct meta_client *mc)
{
    if (mc->closing) {
        return;
    }
    mc->closing = true;
    uv_close((uv_handle_t *)&mc->timer, mc_closed);
    uv_close((uv_handle_t *)&mc->tcp, mc_closed);
}

void meta_close(node *n)
{
    if (n->mc != NULL) {
        mc_close(n->mc);
    }
}

static void mc_timeout(uv_timer_t *t)
{
    struct meta_client *mc = t->data;
    LOG_WARN("meta", NODE_META_BUCKET,
             "requests to the meta leader at %s timed out unanswered=%u",
             mc->target, mc->pending);
    mc_close(mc);
}

static void mc_response(struct meta_client *mc, const void *body, size_t len)
{
    struct cairn_wire_response res;
    char err[CAIRN_ERRMSG_SIZE];
    struct meta_call *c;
    int rc = cairn_wire_response_decode(body, len, &res, err);
    if (rc != 0) {
        LOG_WARN("meta", NODE_META_BUCKET, "answer from %s: %s", mc->target,
                 err);
        cairn_wire_response_release(&res);
        mc_close(mc);
        return;
    }
    if (res.id < META_ID_FIRST) {
        /* the hello's answer */
        if (res.status != 200) {
            LOG_WARN("meta", NODE_META_BUCKET, "hello to %s refused: %.*s",
                     mc->target, (int)res.error.len, res.error.ptr);
            mc_close(mc);
        }
        cairn_wire_response_release(&res);
        return;
    }
    if (res.id - META_ID_FIRST >= mc->n_calls ||
        mc->calls[res.id - META_ID_FIRST].state != CALL_PENDING) {
        cairn_wire_response_release(&res);
        return; /* not ours to answer */
    }
    c = &mc->calls[res.id - META_ID_FIRST];
    mc->pending--;
    if (res.status == 421 && (res.has & CAIRN_WIRE_RES_LEADER) &&
        res.leader.len > 0 && res.leader.len < sizeof mc->redirect &&
        mc->hops + 1 < META_HOPS_MAX) {
        c->state = CALL_REDIRECTED;
        snprintf(mc->redirect, sizeof mc->redirect, "%.*s",
                 (int)res.leader.len, res.leader.ptr);
        if (c->kind == CALL_JOIN) {
            /* A joining node that knows no leader yet asks this one. */
            snprintf(mc->n->join_target, sizeof mc->n->join_target, "%s",
                     mc->redirect);
        }
    } else {
        c->state = CALL_ANSWERED;
        call_done(mc->n, mc->target, c, &res);
    }
    cairn_wire_response_release(&res);
    if (mc->pending == 0) {
        mc_close(mc);
    }
}

static void mc_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct meta_client *mc = h->data;
    (void)size;
    buf->base = mc->rbuf;
    buf->len = sizeof mc->rbuf;
}

static void mc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct meta_client *mc = s->data;
    const void *body;
    size_t len;
    if (nread < 0) {
        mc_close(mc);
        return;
    }
    if (nread == 0 || mc->closing) {
        return;
    }
    if (cairn_wire_reader_feed(&mc->rd, buf->base, (size_t)nread) != 0) {
        mc_close(mc);
        return;
    }
    while (!mc->closing) {
        if (cairn_wire_reader_next(&mc->rd, &body, &len) != 0) {
            mc_close(mc);
            return;
        }
        if (body == NULL) {
            break;
        }
        mc_response(mc, body, len);
    }
}

static void mc_written(uv_write_t *w, int status)
{
    struct meta_client *mc = w->data;
    if (status != 0) {
        mc_close(mc);
    }
}

/* Append node.join with this node's record, as request @id. */
static int encode_join(struct meta_client *mc, uint64_t id)
{
    struct cairn_wire_node nd;
    struct catalog_node rec;
    struct cairn_wire_str tags[CAIRN_TAGS_MAX];
    self_record(mc->n, &rec);
    memset(&nd, 0, sizeof nd);
    nd.id = rec.id;
    nd.name = (struct cairn_wire_str){rec.name, strlen(rec.name)};
    nd.client = (struct cairn_wire_str){rec.client, strlen(rec.client)};
    nd.peer = (struct cairn_wire_str){rec.peer, strlen(rec.peer)};
    nd.http = (struct cairn_wire_str){rec.http, strlen(rec.http)};
    nd.cluster = (struct cairn_wire_str){rec.cluster, strlen(rec.cluster)};
    for (uint32_t i = 0; i < rec.n_tags; i++) {
        tags[i] = (struct cairn_wire_str){rec.tags[i], strlen(rec.tags[i])};
    }
    nd.n_tags = rec.n_tags;
    nd.tags = tags;
    return cairn_wire_encode_node_join(&mc->out, id, &nd, NULL);
}

static void mc_connected(uv_connect_t *conn, int status)
{
    struct meta_client *mc = conn->data;
    uv_buf_t b;
    int rc;
    if (status != 0 || mc->closing) {
        if (status != 0 && status != UV_ECANCELED) {
            LOG_DEBUG("meta", NODE_META_BUCKET, "connect %s: %s", mc->target,
                      uv_strerror(status));
        }
        mc_close(mc);
        return;
    }
    rc = cairn_wire_encode_hello(&mc->out, 1, CAIRN_WIRE_VERSION, "cairnd",
                                 NULL);
    for (unsigned i = 0; rc == 0 && i < mc->n_calls; i++) {
        const struct meta_call *c = &mc->calls[i];
        uint64_t id = META_ID_FIRST + i;
        rc = c->kind == CALL_JOIN
                 ? encode_join(mc, id)
                 : cairn_wire_encode_bucket_leader(&mc->out, id, c->bucket,
                                                   c->group, mc->n->cfg.id,
                                                   c->term, NULL);
    }
    if (rc != 0) {
        mc_close(mc);
        return;
    }
    b = uv_buf_init((char *)mc->out.data, (unsigned)mc->out.len);
    mc->write.data = mc;
    uv_tcp_nodelay(&mc->tcp, 1);
    if (uv_write(&mc->write, (uv_stream_t *)&mc->tcp, &b, 1, mc_written) !=
            0 ||
        uv_read_start((uv_stream_t *)&mc->tcp, mc_alloc, mc_read) != 0) {
        mc_close(mc);
    }
}

static void mc_dial(struct meta_client *mc)
{
    struct sockaddr_in sa;
    char host[32];
    const char *colon = strrchr(mc->target, ':');
    if (colon == NULL || (size_t)(colon - mc->target) >= sizeof host) {
        mc_close(mc);
        return;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - mc->target),
             mc->target);
    if (uv_ip4_addr(host, atoi(colon + 1), &sa) != 0) {
        mc_close(mc);
        return;
    }
    mc->connect.data = mc;
    if (uv_tcp_connect(&mc->connect, &mc->tcp, (const struct sockaddr *)&sa,
                       mc_connected) != 0) {
        mc_close(mc);
    }
}

/* Send @calls (1..META_CALLS_MAX, copied) to the meta leader's client
 * address @target; hop @hops of a chain of redirects. */
static void meta_client_start(node *n, const char *target,
                              const struct meta_call *calls, unsigned n_calls,
                              unsigned hops)
{
    struct meta_client *mc = calloc(1, sizeof *mc);
    if (mc == NULL) {
        for (unsigned i = 0; i < n_calls; i++) {
            call_done(n, target, &calls[i], NULL);
        }
        return;
    }
    mc->n = n;
    snprintf(mc->target, sizeof mc->target, "%s", target);
    mc->hops = hops;
    memcpy(mc->calls, calls, n_calls * sizeof *calls);
    mc->n_calls = n_calls;
    mc->pending = n_calls;
    cairn_wire_buf_init(&mc->out);
    cairn_wire_reader_init(&mc->rd);
    uv_tcp_init(n->loop, &mc->tcp);
    uv_timer_init(n->loop, &mc->timer);
    mc->tcp.data = mc;
    mc->timer.data = mc;
    mc->open = 2;
    n->mc = mc;
    n->parts_open++;
    uv_timer_start(&mc->timer, mc_timeout, META_TIMEOUT_MS, 0);
    LOG_DEBUG("meta", NODE_META_BUCKET,
              "requests to the meta leader target=%s requests=%u hops=%u",
              target, n_calls, hops);
    mc_dial(mc);
}

/* ------------------------------------------------------------------------
 * The tick: registration, leader reports, the sweep
 * ---------------------------------------------------------------------- */

static void self_registered(node *n, void *data, int status,
                            const struct storage_result *res)
{
    (void)data;
    n->registering_self = false;
    if (status != 0 || res->code != 0) {
        n->register_after = uv_now(n->loop) + REGISTER_RETRY_MS;
    }
}

static void swept(node *n, void *data, int status,
                  const struct storage_result *res)
{
    (void)data;
    (void)status;
    (void)res;
    n->sweeping = false;
}

/* On the meta leader: remove one record that no longer belongs: the record
 * of a node that is not in the meta group's configuration (removed while
 * it led, for one), or a leader hint that names no current bucket group.
 * The hint is deleted only at the revision the catalog saw, so a report
 * written meanwhile survives. */
static void sweep_records(node *n)
{
    char err[CAIRN_ERRMSG_SIZE], key[CATALOG_NODE_KEY_MAX + 1];
    char hkey[CATALOG_HINT_KEY_MAX + 1];
    unsigned voters;
    if (n->sweeping) {
        return;
    }
    for (uint32_t i = 0; i < n->cat.n_nodes; i++) {
        uint64_t id = n->cat.nodes[i].id;
        if (member_role(n, id, NULL, &voters) != 0) {
            continue;
        }
        catalog_node_key(key, id);
        if (meta_propose(n, STORAGE_CMD_DELETE, key, NULL, 0, 0, swept, NULL,
                         err) == 0) {
            n->sweeping = true;
            LOG_INFO("meta", NODE_META_BUCKET,
                     "record of a non-member removed node=%llu",
                     (unsigned long long)id);
        }
        return;
    }
    if (n->cat.stale_hint[0] != '\0') {
        catalog_hint_key(hkey, n->cat.stale_hint);
        if (meta_propose(n, STORAGE_CMD_DELETE, hkey, NULL, 0,
                         n->cat.stale_hint_rev, swept, NULL, err) == 0) {
            n->sweeping = true;
            LOG_INFO("meta", n->cat.stale_hint,
                     "leader hint of a former bucket group removed");
        }
    }
}

/* Whether this node's record must be written: then the meta leader (this
 * node) proposes it, any other node returns true with the address to send
 * node.join to in *target. */
static bool registration_due(node *n, uint64_t leader, const char **target)
{
    struct catalog_node want;
    const struct catalog_node *have;
    char err[CAIRN_ERRMSG_SIZE], key[CATALOG_NODE_KEY_MAX + 1];
    unsigned voters;
    bool member;

    *target = NULL;
    if (n->registering_self || uv_now(n->loop) < n->register_after) {
        return false;
    }
    self_record(n, &want);
    have = catalog_find_node(&n->cat, n->cfg.id);
    member = member_role(n, n->cfg.id, NULL, &voters) != 0;
    if (member) {
        n->joined = true;
    }
    if (member && have != NULL && catalog_node_equal(have, &want)) {
        return false;
    }
    if (leader == n->cfg.id) {
        void *buf;
        size_t len;
        if (catalog_node_encode(&want, &buf, &len, err) != 0) {
            return false;
        }
        catalog_node_key(key, want.id);
        if (meta_propose(n, STORAGE_CMD_PUT, key, buf, len, 0,
                         self_registered, NULL, err) == 0) {
            n->registering_self = true;
        }
        free(buf);
        return false;
    }
    if (leader != 0) {
        *target = meta_client_address(n, leader);
    }
    if (*target == NULL && !member && !n->joined &&
        n->cfg.bootstrap == NODE_BOOTSTRAP_JOIN) {
        /* Joining: ask the node we were given, or the leader it named.
         * A node that was a member once and is no longer was removed:
         * it does not ask again. */
        *target = n->join_target;
    }
    if (*target == NULL) {
        return false;
    }
    n->register_after = uv_now(n->loop) + REGISTER_RETRY_MS;
    return true;
}

/* The reports of the bucket groups this node leads that the catalog's
 * hints do not show yet: the meta leader (this node) proposes them, any
 * other node adds them to @calls (room for META_CALLS_MAX). */
static void reports_due(node *n, uint64_t leader, struct meta_call *calls,
                        unsigned *n_calls)
{
    char err[CAIRN_ERRMSG_SIZE];
    uint64_t term;
    for (struct bucket_rt *b = n->buckets; b != NULL; b = b->next) {
        const struct catalog_bucket *cb;
        struct meta_call *c;
        if (!report_due(n, b, &term)) {
            continue;
        }
        if (leader == n->cfg.id) {
            cb = hint_target(n, b->name, b->group, n->cfg.id, term);
            if (cb != NULL &&
                hint_propose(n, cb, n->cfg.id, term, NULL, err) == 0) {
                b->reporting = true;
            } else {
                b->report_after = uv_now(n->loop) + REPORT_RETRY_MS;
            }
            continue;
        }
        if (*n_calls == META_CALLS_MAX) {
            return; /* the rest go with a later exchange */
        }
        c = &calls[(*n_calls)++];
        memset(c, 0, sizeof *c);
        c->kind = CALL_LEADER;
        snprintf(c->bucket, sizeof c->bucket, "%s", b->name);
        c->group = b->group;
        c->term = term;
        b->reporting = true;
    }
}

void meta_tick(node *n)
{
    struct meta_call calls[META_CALLS_MAX];
    const char *join_target = NULL, *target = NULL;
    unsigned n_calls = 0;
    uint64_t leader;

    if (n->stopping) {
        return;
    }
    if (consensus_group_is_leader(n->meta)) {
        sweep_records(n);
    }
    if (n->mc != NULL) {
        return; /* one exchange with the meta leader at a time */
    }
    leader = consensus_group_leader(n->meta, NULL);
    if (registration_due(n, leader, &join_target)) {
        memset(&calls[0], 0, sizeof calls[0]);
        calls[0].kind = CALL_JOIN;
        n_calls = 1;
        target = join_target;
    }
    if (leader == n->cfg.id) {
        reports_due(n, leader, calls, &n_calls);
    } else if (leader != 0 &&
               (target = meta_client_address(n, leader)) != NULL) {
        /* Reports go only to a meta leader this node knows (node.join
         * then goes there too). */
        reports_due(n, leader, calls, &n_calls);
    } else {
        target = join_target;
    }
    if (n_calls > 0 && target != NULL) {
        meta_client_start(n, target, calls, n_calls, 0);
    }
}
