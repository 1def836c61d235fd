/*
 * libcairn's public API (cairn.h): the client's I/O thread, blocking calls
 * on top of the engine, and the results handed to the caller.
 *
 * A call fills a struct creq, puts it on the client's submit queue, wakes
 * the I/O thread (uv_async) and waits on its own condition variable until
 * the engine completes it. The caller's arguments stay borrowed meanwhile:
 * the engine encodes straight from them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

#define SERVERS_MAX 64

struct cairn_client {
    uv_loop_t loop;
    uv_async_t wake;
    uv_thread_t thread;
    uv_mutex_t mu;
    struct creq *queue; /* submitted, not yet handed to the engine */
    struct creq *queue_tail;
    struct client_task *tasks; /* posted, to run on the I/O thread */
    struct client_task *tasks_tail;
    bool closing;
    bool closed; /* the I/O thread ran its last tasks */
    struct engine *e;
    uint64_t cid;
};

/* A blocking call: the request and what its caller waits on. */
struct call {
    struct creq r;
    uv_mutex_t mu;
    uv_cond_t cv;
    bool done;
};

/* ------------------------------------------------------------------------
 * The I/O thread
 * ---------------------------------------------------------------------- */

static void woken(uv_async_t *a)
{
    cairn_client *c = a->data;
    struct creq *r, *next;
    struct client_task *t;
    bool closing;
    uv_mutex_lock(&c->mu);
    r = c->queue;
    c->queue = c->queue_tail = NULL;
    closing = c->closing;
    uv_mutex_unlock(&c->mu);
    for (; r != NULL; r = next) {
        next = r->next;
        r->next = NULL;
        engine_submit(c->e, r);
    }
    /* Tasks one at a time, in order: a task's owner may free it (and the
     * others it owns) once it has run, so nothing of the list is kept
     * across a run. */
    for (;;) {
        uv_mutex_lock(&c->mu);
        t = c->tasks;
        if (t != NULL) {
            c->tasks = t->next;
            if (c->tasks == NULL) {
                c->tasks_tail = NULL;
            }
            t->queued = false;
        } else if (closing) {
            c->closed = true; /* no task runs after engine_close() */
        }
        uv_mutex_unlock(&c->mu);
        if (t == NULL) {
            break;
        }
        t->run(t);
    }
    if (closing) {
        engine_close(c->e);
        uv_close((uv_handle_t *)&c->wake, NULL);
    }
}

static void io_main(void *arg)
{
    cairn_client *c = arg;
    uv_run(&c->loop, UV_RUN_DEFAULT);
}

static void call_done(struct creq *r)
{
    struct call *k = r->data;
    uv_mutex_lock(&k->mu);
    k->done = true;
    uv_cond_signal(&k->cv);
    uv_mutex_unlock(&k->mu);
}

static void call_init(struct call *k, uint32_t op, uint32_t route)
{
    memset(k, 0, sizeof *k);
    k->r.q.op = op;
    k->r.route = route;
    k->r.done = call_done;
    k->r.data = k;
    uv_mutex_init(&k->mu);
    uv_cond_init(&k->cv);
}

static void call_submit(cairn_client *c, struct call *k)
{
    uv_mutex_lock(&c->mu);
    if (c->queue_tail != NULL) {
        c->queue_tail->next = &k->r;
    } else {
        c->queue = &k->r;
    }
    c->queue_tail = &k->r;
    uv_mutex_unlock(&c->mu);
    uv_async_send(&c->wake);
}

/* Wait for @k; returns its code and copies its message to @errmsg. */
static int call_wait(struct call *k, char *errmsg)
{
    uv_mutex_lock(&k->mu);
    while (!k->done) {
        uv_cond_wait(&k->cv, &k->mu);
    }
    uv_mutex_unlock(&k->mu);
    if (k->r.code != 0 && errmsg != NULL) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "%s", k->r.errmsg);
    }
    return k->r.code;
}

static void call_close(struct call *k)
{
    creq_release(&k->r);
    uv_cond_destroy(&k->cv);
    uv_mutex_destroy(&k->mu);
}

static int call_run(cairn_client *c, struct call *k, char *errmsg)
{
    call_submit(c, k);
    return call_wait(k, errmsg);
}

void client_submit(cairn_client *c, struct creq *r)
{
    uv_mutex_lock(&c->mu);
    r->next = NULL;
    if (c->queue_tail != NULL) {
        c->queue_tail->next = r;
    } else {
        c->queue = r;
    }
    c->queue_tail = r;
    uv_mutex_unlock(&c->mu);
    uv_async_send(&c->wake);
}

bool client_post(cairn_client *c, struct client_task *t)
{
    bool ok;
    uv_mutex_lock(&c->mu);
    ok = !c->closed;
    if (ok && !t->queued) {
        t->queued = true;
        t->next = NULL;
        if (c->tasks_tail != NULL) {
            c->tasks_tail->next = t;
        } else {
            c->tasks = t;
        }
        c->tasks_tail = t;
    }
    uv_mutex_unlock(&c->mu);
    if (ok) {
        uv_async_send(&c->wake);
    }
    return ok;
}

bool client_on_io_thread(const cairn_client *c)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &c->thread) != 0;
}

uint32_t client_deadline_ms(const cairn_client *c)
{
    return engine_deadline_ms(c->e);
}

/* ------------------------------------------------------------------------
 * Open and close
 * ---------------------------------------------------------------------- */

int client_fail(char *errmsg, int code, const char *fmt, ...)
{
    if (errmsg != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, CAIRN_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Split @servers into trimmed addresses in @buf; returns their count. */
static int split_servers(const char *servers, char *buf, char **out,
                         unsigned *n, char *errmsg)
{
    char *save = NULL;
    char *tok;
    *n = 0;
    strcpy(buf, servers);
    for (tok = strtok_r(buf, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        char host[CAIRN_ADDRESS_MAX + 1];
        unsigned port;
        int rc;
        if (*n == SERVERS_MAX) {
            return client_fail(errmsg, CAIRN_EINVAL,
                        "servers: more than %d addresses", SERVERS_MAX);
        }
        if (strlen(tok) > CAIRN_ADDRESS_MAX) {
            return client_fail(errmsg, CAIRN_EINVAL,
                        "bad server address '%.64s...': longer than %d bytes",
                        tok, CAIRN_ADDRESS_MAX);
        }
        rc = engine_split_address(tok, host, sizeof host, &port, errmsg);
        if (rc != 0) {
            return rc;
        }
        out[(*n)++] = tok;
    }
    if (*n == 0) {
        return client_fail(errmsg, CAIRN_EINVAL,
                    "servers: no address given (expected host:port,...)");
    }
    return 0;
}

int cairn_client_open(const struct cairn_client_options *opts,
                      cairn_client **out, char *errmsg)
{
    struct engine_options eo;
    char *seeds[SERVERS_MAX];
    char *buf;
    cairn_client *c;
    int rc;

    if (opts == NULL || opts->servers == NULL || out == NULL) {
        return client_fail(errmsg, CAIRN_EINVAL,
                    "servers: no address given (expected host:port,...)");
    }
    if ((buf = malloc(strlen(opts->servers) + 1)) == NULL) {
        return client_fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    memset(&eo, 0, sizeof eo);
    rc = split_servers(opts->servers, buf, seeds, &eo.n_seeds, errmsg);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    if ((c = calloc(1, sizeof *c)) == NULL) {
        free(buf);
        return client_fail(errmsg, CAIRN_ENOMEM, "out of memory");
    }
    while (c->cid == 0) {
        if (getrandom(&c->cid, sizeof c->cid, 0) != sizeof c->cid) {
            c->cid = ((uint64_t)uv_hrtime() << 16) ^ (uint64_t)getpid();
        }
    }
    eo.seeds = seeds;
    eo.name = opts->name;
    eo.connect_timeout_ms = opts->connect_timeout_ms;
    eo.request_timeout_ms = opts->request_timeout_ms;
    eo.deadline_ms = opts->deadline_ms;
    eo.cid = c->cid;
    if (uv_loop_init(&c->loop) != 0) {
        free(buf);
        free(c);
        return client_fail(errmsg, CAIRN_EINTERNAL, "cannot create an event loop");
    }
    rc = engine_new(&c->loop, &eo, &c->e, errmsg);
    free(buf);
    if (rc != 0) {
        uv_loop_close(&c->loop);
        free(c);
        return rc;
    }
    uv_mutex_init(&c->mu);
    uv_async_init(&c->loop, &c->wake, woken);
    c->wake.data = c;
    if (uv_thread_create(&c->thread, io_main, c) != 0) {
        uv_close((uv_handle_t *)&c->wake, NULL);
        engine_close(c->e);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        engine_free(c->e);
        uv_loop_close(&c->loop);
        uv_mutex_destroy(&c->mu);
        free(c);
        return client_fail(errmsg, CAIRN_EINTERNAL, "cannot start the I/O thread");
    }
    *out = c;
    return 0;
}

void cairn_client_close(cairn_client *c)
{
    if (c == NULL) {
        return;
    }
    uv_mutex_lock(&c->mu);
    c->closing = true;
    uv_mutex_unlock(&c->mu);
    uv_async_send(&c->wake);
    uv_thread_join(&c->thread);
    engine_free(c->e);
    uv_loop_close(&c->loop);
    uv_mutex_destroy(&c->mu);
    free(c);
}

uint64_t cairn_client_id(const cairn_client *c)
{
    return c->cid;
}

/* ------------------------------------------------------------------------
 * Messages: "put config/db.url"
 * ---------------------------------------------------------------------- */

/* Append @key to @out (size @size) readably: printable bytes as they are,
 * others as \xNN, cut after 64 bytes. */
static void key_text(char *out, size_t size, const void *key, size_t len)
{
    const unsigned char *k = key;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        if (i == 64) {
            o += (size_t)snprintf(out + o, size - o, "...");
            break;
        }
        if (k[i] >= 0x20 && k[i] < 0x7f) {
            out[o++] = (char)k[i];
        } else {
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", k[i]);
        }
    }
    out[o] = '\0';
}

static void what_key(struct call *k, const char *op, const char *bucket,
                     const void *key, size_t key_len)
{
    char kt[96];
    key_text(kt, sizeof kt, key, key_len);
    snprintf(k->r.what, sizeof k->r.what, "%s %s/%s", op, bucket, kt);
}

static void what_bucket(struct call *k, const char *op, const char *bucket)
{
    snprintf(k->r.what, sizeof k->r.what, "%s %s", op, bucket);
}

/* Copy @bucket into the request. */
static int set_bucket(struct call *k, const char *bucket, char *errmsg)
{
    size_t n = bucket != NULL ? strlen(bucket) : 0;
    if (n == 0 || n > CAIRN_BUCKET_NAME_MAX) {
        return client_fail(errmsg, CAIRN_EINVAL,
                    "%s: bucket name must be 1..%d characters", k->r.what,
                    CAIRN_BUCKET_NAME_MAX);
    }
    memcpy(k->r.q.bucket, bucket, n + 1);
    return 0;
}

static int check_key(const struct call *k, const void *key, size_t len,
                     char *errmsg)
{
    if (key == NULL || len == 0) {
        return client_fail(errmsg, CAIRN_EINVAL, "%s: the key is empty", k->r.what);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Results
 * ---------------------------------------------------------------------- */

static size_t entry_bytes(const struct cairn_wire_entry *w)
{
    return w->key_len + (w->has_value ? w->value_len : 0) +
           (w->has_meta ? w->meta_len : 0);
}

/* Fill @e from @w, copying its bytes to *@p (advanced). */
static void entry_fill(cairn_entry *e, const struct cairn_wire_entry *w,
                       char **p)
{
    memset(e, 0, sizeof *e);
    e->key = *p;
    e->key_len = w->key_len;
    memcpy(*p, w->key, w->key_len);
    *p += w->key_len;
    if (w->has_value) {
        e->value = *p;
        e->value_len = w->value_len;
        if (w->value_len > 0) {
            memcpy(*p, w->value, w->value_len);
        }
        *p += w->value_len;
    }
    if (w->has_meta) {
        e->meta = *p;
        e->meta_len = w->meta_len;
        if (w->meta_len > 0) {
            memcpy(*p, w->meta, w->meta_len);
        }
        *p += w->meta_len;
    }
    e->revision = w->revision;
    e->create_revision = w->create_revision;
    e->updated = w->updated;
    e->expires = w->expires;
    e->op = w->op;
}

void cairn_entry_free(cairn_entry *e)
{
    free(e);
}

void cairn_entries_free(cairn_entries *l)
{
    free(l);
}

/* One block holding the list header, the entries and their bytes, from
 * the entries of @n_pages responses. */
static cairn_entries *entries_build(struct call *const *pages, size_t n_pages)
{
    size_t n = 0, bytes = 0, cursor_len = 0;
    const struct cairn_wire_response *last = &pages[n_pages - 1]->r.res;
    cairn_entries *l;
    char *p;

    for (size_t i = 0; i < n_pages; i++) {
        const struct cairn_wire_response *res = &pages[i]->r.res;
        n += res->n_entries;
        for (uint32_t j = 0; j < res->n_entries; j++) {
            bytes += entry_bytes(&res->entries[j]);
        }
    }
    if ((last->has & CAIRN_WIRE_RES_CURSOR) != 0) {
        cursor_len = last->cursor_len;
    }
    l = malloc(sizeof *l + n * sizeof(cairn_entry) + bytes + cursor_len + 1);
    if (l == NULL) {
        return NULL;
    }
    memset(l, 0, sizeof *l);
    l->entries = (cairn_entry *)(l + 1);
    p = (char *)(l->entries + n);
    for (size_t i = 0; i < n_pages; i++) {
        const struct cairn_wire_response *res = &pages[i]->r.res;
        for (uint32_t j = 0; j < res->n_entries; j++) {
            entry_fill(&l->entries[l->n++], &res->entries[j], &p);
        }
    }
    l->more = last->more;
    if (cursor_len > 0) {
        memcpy(p, last->cursor, cursor_len);
        l->cursor = p;
        l->cursor_len = cursor_len;
    }
    l->at = (last->has & CAIRN_WIRE_RES_AT) != 0 ? last->at : 0;
    return l;
}

static void result_fill(cairn_result *res, const struct call *k)
{
    if (res == NULL) {
        return;
    }
    memset(res, 0, sizeof *res);
    if (!k->r.has_res) {
        return;
    }
    if (k->r.res.status == 200) {
        res->revision = k->r.res.rev;
        res->last_revision = (k->r.res.has & CAIRN_WIRE_RES_LAST_REV) != 0
                                 ? k->r.res.last_rev
                                 : k->r.res.rev;
    } else {
        if ((k->r.res.has & CAIRN_WIRE_RES_REV) != 0) {
            res->current_revision = k->r.res.rev;
        }
        if ((k->r.res.has & CAIRN_WIRE_RES_FAILED) != 0) {
            res->failed_compare = k->r.res.failed;
        }
    }
}

/* ------------------------------------------------------------------------
 * Buckets and the cluster
 * ---------------------------------------------------------------------- */

int cairn_bucket_create(cairn_client *c, const cairn_bucket_config *cfg,
                        uint64_t *created, char *errmsg)
{
    struct call k;
    int rc;
    if (cfg == NULL) {
        return client_fail(errmsg, CAIRN_EINVAL, "bucket create: no config");
    }
    rc = cairn_bucket_config_validate(cfg, errmsg);
    if (rc != 0) {
        return rc;
    }
    call_init(&k, CAIRN_WIRE_BUCKET_CREATE, ROUTE_META);
    what_bucket(&k, "bucket create", cfg->name);
    k.r.q.config = cfg;
    memcpy(k.r.q.bucket, cfg->name, sizeof k.r.q.bucket);
    rc = call_run(c, &k, errmsg);
    if (rc == 0 && created != NULL) {
        *created = k.r.res.created;
    }
    call_close(&k);
    return rc;
}

int cairn_bucket_delete(cairn_client *c, const char *name, char *errmsg)
{
    struct call k;
    int rc;
    call_init(&k, CAIRN_WIRE_BUCKET_DELETE, ROUTE_META);
    what_bucket(&k, "bucket delete", name != NULL ? name : "");
    if ((rc = set_bucket(&k, name, errmsg)) == 0) {
        rc = call_run(c, &k, errmsg);
    }
    call_close(&k);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void cairn_names_free(char **names, size_t n)
{
    if (names == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

int cairn_bucket_list(cairn_client *c, char ***names, size_t *n,
                      char *errmsg)
{
    struct call k;
    char **out = NULL;
    size_t count = 0;
    int rc;
    call_init(&k, CAIRN_WIRE_BUCKET_LIST, ROUTE_META);
    snprintf(k.r.what, sizeof k.r.what, "bucket list");
    rc = call_run(c, &k, errmsg);
    if (rc == 0) {
        const struct cairn_wire_response *res = &k.r.res;
        out = calloc(res->n_buckets + 1, sizeof *out);
        if (out == NULL) {
            rc = client_fail(errmsg, CAIRN_ENOMEM, "bucket list: out of memory");
        }
        for (uint32_t i = 0; rc == 0 && i < res->n_buckets; i++) {
            out[i] = strndup(res->buckets[i].name.ptr, res->buckets[i].name.len);
            if (out[i] == NULL) {
                rc = client_fail(errmsg, CAIRN_ENOMEM, "bucket list: out of memory");
                break;
            }
            count++;
        }
    }
    call_close(&k);
    if (rc != 0) {
        cairn_names_free(out, count);
        return rc;
    }
    qsort(out, count, sizeof *out, cmp_names);
    *names = out;
    *n = count;
    return 0;
}

static void replicas_copy(cairn_replica *out, uint32_t *n_out,
                          const struct cairn_wire_replica *in, uint32_t n)
{
    *n_out = n < CAIRN_REPLICAS_MAX ? n : CAIRN_REPLICAS_MAX;
    for (uint32_t i = 0; i < *n_out; i++) {
        out[i].node = in[i].node;
        out[i].leader = in[i].leader;
        out[i].applied = in[i].applied;
        out[i].has_lag = in[i].has_lag;
        out[i].lag = in[i].lag;
        out[i].active = in[i].active;
    }
}

void creq_bucket_details(cairn_bucket_details *out,
                         const struct cairn_wire_bucket_info *i)
{
    memset(out, 0, sizeof *out);
    out->config = i->config;
    out->created = i->created;
    out->keys = i->keys;
    out->bytes = i->bytes;
    out->stored_bytes = i->stored_bytes;
    out->revision = i->rev;
    out->compacted = i->compacted;
    replicas_copy(out->replicas, &out->n_replicas, i->replicas,
                  i->n_replicas);
}

int cairn_bucket_info(cairn_client *c, const char *name,
                      cairn_bucket_details *out, char *errmsg)
{
    struct call k;
    int rc;
    /* The bucket's leader knows every replica's progress. */
    call_init(&k, CAIRN_WIRE_BUCKET_INFO, ROUTE_BUCKET);
    what_bucket(&k, "bucket info", name != NULL ? name : "");
    if ((rc = set_bucket(&k, name, errmsg)) == 0) {
        rc = call_run(c, &k, errmsg);
    }
    if (rc == 0) {
        creq_bucket_details(out, k.r.res.info);
    }
    call_close(&k);
    return rc;
}

void cairn_cluster_free(cairn_cluster *m)
{
    if (m != NULL) {
        free(m->nodes);
        free(m->buckets);
        free(m);
    }
}

static void str_copy(char *out, size_t size, struct cairn_wire_str s)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    if (n > 0) {
        memcpy(out, s.ptr, n);
    }
    out[n] = '\0';
}

/* The map of one cluster.status response. */
static cairn_cluster *cluster_from(const struct cairn_wire_response *res)
{
    cairn_cluster *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return NULL;
    }
    m->nodes = calloc(res->n_nodes + 1, sizeof *m->nodes);
    m->buckets = calloc(res->n_buckets + 1, sizeof *m->buckets);
    if (m->nodes == NULL || m->buckets == NULL) {
        cairn_cluster_free(m);
        return NULL;
    }
    for (uint32_t i = 0; i < res->n_nodes; i++) {
        const struct cairn_wire_node *w = &res->nodes[i];
        cairn_node *n = &m->nodes[m->n_nodes++];
        n->id = w->id;
        str_copy(n->name, sizeof n->name, w->name);
        str_copy(n->client, sizeof n->client, w->client);
        str_copy(n->peer, sizeof n->peer, w->peer);
        str_copy(n->http, sizeof n->http, w->http);
        str_copy(n->cluster, sizeof n->cluster, w->cluster);
        str_copy(n->role, sizeof n->role, w->role);
        n->n_tags = w->n_tags < CAIRN_TAGS_MAX ? w->n_tags : CAIRN_TAGS_MAX;
        for (uint32_t t = 0; t < n->n_tags; t++) {
            str_copy(n->tags[t], sizeof n->tags[t], w->tags[t]);
        }
    }
    for (uint32_t i = 0; i < res->n_buckets; i++) {
        const struct cairn_wire_bucket_status *w = &res->buckets[i];
        cairn_bucket_status *b = &m->buckets[m->n_buckets++];
        str_copy(b->name, sizeof b->name, w->name);
        replicas_copy(b->replicas, &b->n_replicas, w->replicas,
                      w->n_replicas);
    }
    return m;
}

/* Fold node @id's own view (@res) into @m: it is reachable, and for each
 * bucket it replicates, its applied index and whom it sees leading. */
static void cluster_merge(cairn_cluster *m, uint64_t id,
                          const struct cairn_wire_response *res)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        if (m->nodes[i].id == id) {
            m->nodes[i].reachable = true;
        }
    }
    for (uint32_t i = 0; i < res->n_buckets; i++) {
        const struct cairn_wire_bucket_status *w = &res->buckets[i];
        const struct cairn_wire_replica *self = NULL;
        for (uint32_t j = 0; j < w->n_replicas; j++) {
            if (w->replicas[j].node == id) {
                self = &w->replicas[j];
            }
        }
        if (self == NULL) {
            continue; /* not a replica: its view of the bucket is hearsay */
        }
        for (size_t b = 0; b < m->n_buckets; b++) {
            cairn_bucket_status *mb = &m->buckets[b];
            if (strlen(mb->name) != w->name.len ||
                memcmp(mb->name, w->name.ptr, w->name.len) != 0) {
                continue;
            }
            for (uint32_t r = 0; r < mb->n_replicas; r++) {
                if (mb->replicas[r].node == id) {
                    mb->replicas[r].applied = self->applied;
                }
                for (uint32_t j = 0; j < w->n_replicas; j++) {
                    if (w->replicas[j].node == mb->replicas[r].node &&
                        w->replicas[j].leader) {
                        for (uint32_t x = 0; x < mb->n_replicas; x++) {
                            mb->replicas[x].leader = x == r;
                        }
                    }
                }
            }
        }
    }
}

int cairn_cluster_status(cairn_client *c, cairn_cluster **out, char *errmsg)
{
    struct call first;
    struct call *each = NULL;
    cairn_cluster *m = NULL;
    size_t n = 0;
    int rc;

    call_init(&first, CAIRN_WIRE_CLUSTER_STATUS, ROUTE_ANY);
    snprintf(first.r.what, sizeof first.r.what, "cluster status");
    rc = call_run(c, &first, errmsg);
    if (rc == 0 && (m = cluster_from(&first.r.res)) == NULL) {
        rc = client_fail(errmsg, CAIRN_ENOMEM, "cluster status: out of memory");
    }
    if (rc == 0) {
        n = m->n_nodes;
        each = calloc(n + 1, sizeof *each);
        if (each == NULL) {
            rc = client_fail(errmsg, CAIRN_ENOMEM, "cluster status: out of memory");
        }
    }
    if (rc == 0) {
        /* Ask every node at once for its own view. */
        for (size_t i = 0; i < n; i++) {
            call_init(&each[i], CAIRN_WIRE_CLUSTER_STATUS, ROUTE_NODE);
            snprintf(each[i].r.what, sizeof each[i].r.what,
                     "cluster status of %s", m->nodes[i].client);
            snprintf(each[i].r.address, sizeof each[i].r.address, "%s",
                     m->nodes[i].client);
            call_submit(c, &each[i]);
        }
        for (size_t i = 0; i < n; i++) {
            if (call_wait(&each[i], NULL) == 0) {
                cluster_merge(m, m->nodes[i].id, &each[i].r.res);
            }
            call_close(&each[i]);
        }
    }
    free(each);
    call_close(&first);
    if (rc != 0) {
        cairn_cluster_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ------------------------------------------------------------------------
 * Reads
 * ---------------------------------------------------------------------- */

static void read_opts(struct call *k, const struct cairn_read_options *ro)
{
    if (ro != NULL && ro->stale) {
        k->r.q.has |= CAIRN_WIRE_REQ_STALE;
        k->r.q.stale = true;
    }
}

static int key_call(struct call *k, uint32_t op, const char *name,
                    const char *bucket, const void *key, size_t key_len,
                    char *errmsg)
{
    int rc;
    call_init(k, op, ROUTE_BUCKET);
    what_key(k, name, bucket != NULL ? bucket : "", key, key_len);
    if ((rc = set_bucket(k, bucket, errmsg)) != 0 ||
        (rc = check_key(k, key, key_len, errmsg)) != 0) {
        return rc;
    }
    k->r.q.w.key = key;
    k->r.q.w.key_len = key_len;
    return 0;
}

int cairn_get(cairn_client *c, const char *bucket, const void *key,
              size_t key_len, const struct cairn_read_options *ro,
              cairn_entry **out, char *errmsg)
{
    struct call k;
    int rc = key_call(&k, CAIRN_WIRE_GET, "get", bucket, key, key_len, errmsg);
    if (rc == 0) {
        read_opts(&k, ro);
        if (ro != NULL && ro->revision != 0) {
            k.r.q.has |= CAIRN_WIRE_REQ_REV;
            k.r.q.rev = ro->revision;
        }
        rc = call_run(c, &k, errmsg);
    }
    if (rc == 0) {
        const struct cairn_wire_entry *w = &k.r.res.entry;
        cairn_entry *e = malloc(sizeof *e + entry_bytes(w) + 1);
        if (e == NULL) {
            rc = client_fail(errmsg, CAIRN_ENOMEM, "%s: out of memory", k.r.what);
        } else {
            char *p = (char *)(e + 1);
            entry_fill(e, w, &p);
            *out = e;
        }
    }
    call_close(&k);
    return rc;
}

int cairn_exists(cairn_client *c, const char *bucket, const void *key,
                 size_t key_len, const struct cairn_read_options *ro,
                 bool *exists, char *errmsg)
{
    struct call k;
    int rc = key_call(&k, CAIRN_WIRE_EXISTS, "exists", bucket, key, key_len,
                      errmsg);
    if (rc == 0) {
        read_opts(&k, ro);
        rc = call_run(c, &k, errmsg);
    }
    if (rc == 0) {
        *exists = k.r.res.exists;
    }
    call_close(&k);
    return rc;
}

int cairn_history(cairn_client *c, const char *bucket, const void *key,
                  size_t key_len, const struct cairn_read_options *ro,
                  cairn_entries **out, char *errmsg)
{
    struct call k;
    struct call *pages[1] = {&k};
    int rc = key_call(&k, CAIRN_WIRE_HISTORY, "history", bucket, key,
                      key_len, errmsg);
    if (rc == 0) {
        read_opts(&k, ro);
        rc = call_run(c, &k, errmsg);
    }
    if (rc == 0 && (*out = entries_build(pages, 1)) == NULL) {
        rc = client_fail(errmsg, CAIRN_ENOMEM, "%s: out of memory", k.r.what);
    }
    call_close(&k);
    return rc;
}

static void scan_opts(struct call *k, const struct cairn_scan_options *so)
{
    struct cairn_wire_request *q = &k->r.q;
    if (so == NULL) {
        return;
    }
    if (so->start != NULL) {
        q->has |= CAIRN_WIRE_REQ_START;
        q->start = so->start;
        q->start_len = so->start_len;
    }
    if (so->end != NULL) {
        q->has |= CAIRN_WIRE_REQ_END;
        q->end = so->end;
        q->end_len = so->end_len;
    }
    if (so->prefix != NULL) {
        q->has |= CAIRN_WIRE_REQ_PREFIX;
        q->prefix = so->prefix;
        q->prefix_len = so->prefix_len;
    }
    if (so->keys_only) {
        q->has |= CAIRN_WIRE_REQ_KEYS_ONLY;
        q->keys_only = true;
    }
    if (so->stale) {
        q->has |= CAIRN_WIRE_REQ_STALE;
        q->stale = true;
    }
    if (q->op == CAIRN_WIRE_SCAN) {
        if (so->cursor != NULL) {
            q->has |= CAIRN_WIRE_REQ_CURSOR;
            q->cursor = so->cursor;
            q->cursor_len = so->cursor_len;
        }
        if (so->limit != 0) {
            q->has |= CAIRN_WIRE_REQ_LIMIT;
            q->limit = so->limit;
        }
    }
}

static int bucket_call(struct call *k, uint32_t op, const char *name,
                       const char *bucket, char *errmsg)
{
    call_init(k, op, ROUTE_BUCKET);
    what_bucket(k, name, bucket != NULL ? bucket : "");
    return set_bucket(k, bucket, errmsg);
}

int cairn_scan(cairn_client *c, const char *bucket,
               const struct cairn_scan_options *so, cairn_entries **out,
               char *errmsg)
{
    struct call k;
    struct call *pages[1] = {&k};
    int rc = bucket_call(&k, CAIRN_WIRE_SCAN, "scan", bucket, errmsg);
    if (rc == 0) {
        scan_opts(&k, so);
        rc = call_run(c, &k, errmsg);
    }
    if (rc == 0 && (*out = entries_build(pages, 1)) == NULL) {
        rc = client_fail(errmsg, CAIRN_ENOMEM, "%s: out of memory", k.r.what);
    }
    call_close(&k);
    return rc;
}

int cairn_keys(cairn_client *c, const char *bucket, const void *prefix,
               size_t prefix_len, bool stale, cairn_entries **out,
               char *errmsg)
{
    struct cairn_scan_options so = {.prefix = prefix,
                                    .prefix_len = prefix_len,
                                    .keys_only = true,
                                    .stale = stale};
    struct call **pages = NULL;
    size_t n = 0;
    int rc = 0;

    for (;;) {
        struct call **grown = realloc(pages, (n + 1) * sizeof *grown);
        struct call *k;
        if (grown == NULL || (k = malloc(sizeof *k)) == NULL) {
            if (grown != NULL) {
                pages = grown;
            }
            rc = client_fail(errmsg, CAIRN_ENOMEM, "keys %s: out of memory",
                      bucket != NULL ? bucket : "");
            break;
        }
        pages = grown;
        rc = bucket_call(k, CAIRN_WIRE_SCAN, "keys", bucket, errmsg);
        if (rc == 0) {
            if (n > 0) {
                const struct cairn_wire_response *prev = &pages[n - 1]->r.res;
                so.cursor = prev->cursor;
                so.cursor_len = prev->cursor_len;
            }
            scan_opts(k, &so);
            rc = call_run(c, k, errmsg);
        }
        pages[n++] = k;
        if (rc != 0 || !k->r.res.more ||
            (k->r.res.has & CAIRN_WIRE_RES_CURSOR) == 0) {
            break;
        }
    }
    if (rc == 0 && (*out = entries_build(pages, n)) == NULL) {
        rc = client_fail(errmsg, CAIRN_ENOMEM, "keys %s: out of memory", bucket);
    }
    for (size_t i = 0; i < n; i++) {
        call_close(pages[i]);
        free(pages[i]);
    }
    free(pages);
    return rc;
}

int cairn_count(cairn_client *c, const char *bucket,
                const struct cairn_scan_options *so, uint64_t *count,
                char *errmsg)
{
    struct call k;
    int rc = bucket_call(&k, CAIRN_WIRE_COUNT, "count", bucket, errmsg);
    if (rc == 0) {
        scan_opts(&k, so);
        rc = call_run(c, &k, errmsg);
    }
    if (rc == 0) {
        *count = k.r.res.count;
    }
    call_close(&k);
    return rc;
}

/* ------------------------------------------------------------------------
 * Writes
 * ---------------------------------------------------------------------- */

static void write_opts(struct call *k, const void *value, size_t value_len,
                       const struct cairn_write_options *wo)
{
    struct cairn_wire_request *q = &k->r.q;
    q->w.value = value != NULL ? value : "";
    q->w.value_len = value_len;
    if (wo == NULL) {
        return;
    }
    if (wo->meta != NULL && wo->meta_len > 0) {
        q->has |= CAIRN_WIRE_REQ_META;
        q->w.meta = wo->meta;
        q->w.meta_len = wo->meta_len;
    }
    if (wo->ttl_ns != 0) {
        q->has |= CAIRN_WIRE_REQ_TTL;
        q->w.ttl_ns = wo->ttl_ns;
    }
    if (wo->expires_at != 0) {
        q->has |= CAIRN_WIRE_REQ_EXP;
        q->w.expires_at = wo->expires_at;
    }
}

/* Run write @k and fill @res from its answer, whatever it was. */
static int write_run(cairn_client *c, struct call *k, cairn_result *res,
                     char *errmsg)
{
    int rc = call_run(c, k, errmsg);
    result_fill(res, k);
    call_close(k);
    return rc;
}

int cairn_put(cairn_client *c, const char *bucket, const void *key,
              size_t key_len, const void *value, size_t value_len,
              const struct cairn_write_options *wo, cairn_result *res,
              char *errmsg)
{
    struct call k;
    int rc = key_call(&k, CAIRN_WIRE_PUT, "put", bucket, key, key_len, errmsg);
    if (rc != 0) {
        call_close(&k);
        return rc;
    }
    write_opts(&k, value, value_len, wo);
    return write_run(c, &k, res, errmsg);
}

int cairn_create(cairn_client *c, const char *bucket, const void *key,
                 size_t key_len, const void *value, size_t value_len,
                 const struct cairn_write_options *wo, cairn_result *res,
                 char *errmsg)
{
    struct call k;
    int rc = key_call(&k, CAIRN_WIRE_CREATE, "create", bucket, key, key_len,
                      errmsg);
    if (rc != 0) {
        call_close(&k);
        return rc;
    }
    write_opts(&k, value, value_len, wo);
    return write_run(c, &k, res, errmsg);
}

int cairn_update(cairn_client *c, const char *bucket, const void *key,
                 size_t key_len, const void *value, size_t value_len,
                 uint64_t revision, const struct cairn_write_options *wo,
                 cairn_result *res, char *errmsg)
{
    struct call k;
    int rc = key_call(&k, CAIRN_WIRE_UPDATE, "update", bucket, key, key_len,
                      errmsg);
    if (rc != 0) {
        call_close(&k);
        return rc;
    }
    write_opts(&k, value, value_len, wo);
    k.r.q.rev = revision;
    return write_run(c, &k, res, errmsg);
}

int cairn_cas(cairn_client *c, const char *bucket, const void *key,
              size_t key_len, const void *old, size_t old_len,
              const void *value, size_t value_len,
              const struct cairn_write_options *wo, cairn_result *res,
              char *errmsg)
{
    struct call k;
    int rc = key_call(&k, CAIRN_WIRE_CAS, "cas", bucket, key, key_len, errmsg);
    if (rc != 0) {
        call_close(&k);
        return rc;
    }
    write_opts(&k, value, value_len, wo);
    k.r.q.has_old = old != NULL;
    k.r.q.old = old;
    k.r.q.old_len = old != NULL ? old_len : 0;
    return write_run(c, &k, res, errmsg);
}

static int delete_like(cairn_client *c, uint32_t op, const char *name,
                       const char *bucket, const void *key, size_t key_len,
                       uint64_t revision, cairn_result *res, char *errmsg)
{
    struct call k;
    int rc = key_call(&k, op, name, bucket, key, key_len, errmsg);
    if (rc != 0) {
        call_close(&k);
        return rc;
    }
    if (revision != 0) {
        k.r.q.has |= CAIRN_WIRE_REQ_REV;
        k.r.q.rev = revision;
    }
    return write_run(c, &k, res, errmsg);
}

int cairn_delete(cairn_client *c, const char *bucket, const void *key,
                 size_t key_len, uint64_t revision, cairn_result *res,
                 char *errmsg)
{
    return delete_like(c, CAIRN_WIRE_DELETE, "delete", bucket, key, key_len,
                       revision, res, errmsg);
}

int cairn_purge(cairn_client *c, const char *bucket, const void *key,
                size_t key_len, uint64_t revision, cairn_result *res,
                char *errmsg)
{
    return delete_like(c, CAIRN_WIRE_PURGE, "purge", bucket, key, key_len,
                       revision, res, errmsg);
}

int cairn_txn(cairn_client *c, const char *bucket,
              const struct cairn_compare *cmp, uint32_t n_cmp,
              const struct cairn_write *writes, uint32_t n_writes,
              cairn_result *res, char *errmsg)
{
    struct call k;
    int rc = bucket_call(&k, CAIRN_WIRE_TXN, "txn", bucket, errmsg);
    if (rc == 0 && (writes == NULL || n_writes == 0)) {
        rc = client_fail(errmsg, CAIRN_EINVAL, "txn %s: no writes", bucket);
    }
    if (rc == 0 && n_writes > CAIRN_TXN_OPS_MAX) {
        rc = client_fail(errmsg, CAIRN_ETOOLARGE,
                  "txn %s: %u writes, more than the limit of %d", bucket,
                  n_writes, CAIRN_TXN_OPS_MAX);
    }
    if (rc != 0) {
        call_close(&k);
        return rc;
    }
    if (cmp != NULL) {
        k.r.q.has |= CAIRN_WIRE_REQ_CMP;
        k.r.q.compares = cmp;
        k.r.q.n_compares = n_cmp;
    }
    k.r.q.writes = writes;
    k.r.q.n_writes = n_writes;
    return write_run(c, &k, res, errmsg);
}
