/*
 * cluster.c — `cairn cluster status`: the nodes of the cluster map, and
 * each bucket's replicas with the leader and how far each lags behind it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The leader among @r, or NULL. */
static const cairn_replica *leader_of(const cairn_bucket_status *b)
{
    uint32_t i;

    for (i = 0; i < b->n_replicas && i < CAIRN_REPLICAS_MAX; i++) {
        if (b->replicas[i].leader) {
            return &b->replicas[i];
        }
    }
    return NULL;
}

/* The lag of @r behind @leader into *lag: false when unknown (no leader,
 * or an applied index that was not reported). */
static bool lag_of(const cairn_replica *leader, const cairn_replica *r,
                   uint64_t *lag)
{
    if (leader == NULL || leader->applied == 0 || r->applied == 0) {
        return false;
    }
    /* The two indexes are read at slightly different times. */
    *lag = leader->applied > r->applied ? leader->applied - r->applied : 0;
    return true;
}

/* A table of strings, printed with aligned columns. */
struct table {
    size_t cols, rows, cap;
    char **cells; /* (owned) rows * cols strings */
};

static int table_add(struct table *t, char *const *row)
{
    size_t i;

    if (t->rows == t->cap) {
        size_t cap = t->cap == 0 ? 16 : 2 * t->cap;
        char **cells = realloc(t->cells, cap * t->cols * sizeof *cells);

        if (cells == NULL) {
            for (i = 0; i < t->cols; i++) {
                free(row[i]);
            }
            return -1;
        }
        t->cells = cells;
        t->cap = cap;
    }
    for (i = 0; i < t->cols; i++) {
        t->cells[t->rows * t->cols + i] = row[i] != NULL ? row[i] : strdup("");
    }
    t->rows++;
    return 0;
}

static void table_print_free(struct table *t)
{
    size_t width[16] = {0}, r, c, n;

    for (r = 0; r < t->rows; r++) {
        for (c = 0; c < t->cols; c++) {
            const char *s = t->cells[r * t->cols + c];

            n = s != NULL ? strlen(s) : 0;
            width[c] = n > width[c] ? n : width[c];
        }
    }
    for (r = 0; r < t->rows; r++) {
        for (c = 0; c < t->cols; c++) {
            const char *s = t->cells[r * t->cols + c];

            if (c + 1 < t->cols) {
                printf("%-*s  ", (int)width[c], s != NULL ? s : "");
            } else {
                printf("%s\n", s != NULL ? s : "");
            }
            free(t->cells[r * t->cols + c]);
        }
    }
    free(t->cells);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0) {
        s = NULL;
    }
    va_end(ap);
    return s;
}

static char *join_tags(const cairn_node *n)
{
    size_t len = 2, i;
    char *s;

    for (i = 0; i < n->n_tags && i < CAIRN_TAGS_MAX; i++) {
        len += strlen(n->tags[i]) + 1;
    }
    s = calloc(1, len);
    for (i = 0; s != NULL && i < n->n_tags && i < CAIRN_TAGS_MAX; i++) {
        if (i > 0) {
            strcat(s, ",");
        }
        strcat(s, n->tags[i]);
    }
    if (s != NULL && s[0] == '\0') {
        strcpy(s, "-");
    }
    return s;
}

static int print_human(const cairn_cluster *m)
{
    struct table nodes = {.cols = 9}, reps = {.cols = 5};
    size_t i;
    uint32_t k;
    int rc = 0;
    char *row[9] = {
        strdup("NODE"), strdup("NAME"),  strdup("ROLE"),
        strdup("REACHABLE"), strdup("CLIENT"), strdup("PEER"),
        strdup("HTTP"), strdup("CLUSTER"), strdup("TAGS"),
    };

    rc |= table_add(&nodes, row);
    for (i = 0; i < m->n_nodes; i++) {
        const cairn_node *n = &m->nodes[i];

        row[0] = fmt("%" PRIu64, n->id);
        row[1] = strdup(n->name);
        row[2] = strdup(n->role[0] != '\0' ? n->role : "-");
        row[3] = strdup(n->reachable ? "yes" : "no");
        row[4] = strdup(n->client);
        row[5] = strdup(n->peer);
        row[6] = strdup(n->http[0] != '\0' ? n->http : "-");
        row[7] = strdup(n->cluster[0] != '\0' ? n->cluster : "-");
        row[8] = join_tags(n);
        rc |= table_add(&nodes, row);
    }
    row[0] = strdup("BUCKET");
    row[1] = strdup("NODE");
    row[2] = strdup("ROLE");
    row[3] = strdup("APPLIED");
    row[4] = strdup("LAG");
    rc |= table_add(&reps, row);
    for (i = 0; i < m->n_buckets; i++) {
        const cairn_bucket_status *b = &m->buckets[i];
        const cairn_replica *leader = leader_of(b);

        for (k = 0; k < b->n_replicas && k < CAIRN_REPLICAS_MAX; k++) {
            const cairn_replica *r = &b->replicas[k];
            uint64_t lag;

            row[0] = strdup(b->name);
            row[1] = fmt("%" PRIu64, r->node);
            row[2] = strdup(r->leader ? "leader" : "follower");
            row[3] = r->applied != 0 ? fmt("%" PRIu64, r->applied)
                                     : strdup("?");
            row[4] = lag_of(leader, r, &lag) ? fmt("%" PRIu64, lag)
                                             : strdup("?");
            rc |= table_add(&reps, row);
        }
    }
    table_print_free(&nodes);
    printf("\n");
    table_print_free(&reps);
    if (rc != 0) {
        return cli_fail(CAIRN_ENOMEM, NULL);
    }
    return CLI_OK;
}

static json_t *json_node(const cairn_node *n)
{
    json_t *o = json_object(), *tags = json_array();
    uint32_t i;

    if (o == NULL || tags == NULL) {
        json_decref(o);
        json_decref(tags);
        return NULL;
    }
    json_object_set_new(o, "id", json_integer((json_int_t)n->id));
    json_object_set_new(o, "name", json_string(n->name));
    json_object_set_new(o, "role", n->role[0] != '\0' ? json_string(n->role)
                                                      : json_null());
    json_object_set_new(o, "reachable", json_boolean(n->reachable));
    json_object_set_new(o, "client", json_string(n->client));
    json_object_set_new(o, "peer", json_string(n->peer));
    json_object_set_new(o, "http", n->http[0] != '\0' ? json_string(n->http)
                                                      : json_null());
    json_object_set_new(o, "cluster", json_string(n->cluster));
    for (i = 0; i < n->n_tags && i < CAIRN_TAGS_MAX; i++) {
        json_array_append_new(tags, json_string(n->tags[i]));
    }
    json_object_set_new(o, "tags", tags);
    return o;
}

static json_t *json_bucket(const cairn_bucket_status *b)
{
    const cairn_replica *leader = leader_of(b);
    json_t *o = json_object(), *arr = json_array(), *r;
    uint32_t i;
    uint64_t lag;

    if (o == NULL || arr == NULL) {
        json_decref(o);
        json_decref(arr);
        return NULL;
    }
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "leader",
                        leader != NULL ? json_integer((json_int_t)leader->node)
                                       : json_null());
    for (i = 0; i < b->n_replicas && i < CAIRN_REPLICAS_MAX; i++) {
        const cairn_replica *p = &b->replicas[i];

        r = json_object();
        if (r == NULL) {
            break;
        }
        json_object_set_new(r, "node", json_integer((json_int_t)p->node));
        json_object_set_new(r, "leader", json_boolean(p->leader));
        json_object_set_new(r, "applied", json_integer((json_int_t)p->applied));
        json_object_set_new(r, "lag", lag_of(leader, p, &lag)
                                          ? json_integer((json_int_t)lag)
                                          : json_null());
        json_array_append_new(arr, r);
    }
    json_object_set_new(o, "replicas", arr);
    return o;
}

static int print_json(const cairn_cluster *m)
{
    json_t *o = json_object(), *nodes = json_array(), *buckets = json_array();
    size_t i;

    if (o == NULL || nodes == NULL || buckets == NULL) {
        json_decref(o);
        json_decref(nodes);
        json_decref(buckets);
        return cli_json_print(NULL);
    }
    for (i = 0; i < m->n_nodes; i++) {
        json_array_append_new(nodes, json_node(&m->nodes[i]));
    }
    for (i = 0; i < m->n_buckets; i++) {
        json_array_append_new(buckets, json_bucket(&m->buckets[i]));
    }
    json_object_set_new(o, "nodes", nodes);
    json_object_set_new(o, "buckets", buckets);
    return cli_json_print(o);
}

static int run_status(struct cli *cli, const struct cli_cmd *cmd,
                      const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    cairn_cluster *m = NULL;
    cairn_client *c;
    int rc, code;

    (void)cmd;
    (void)a;
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = cairn_cluster_status(c, &m, errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    rc = cli->json ? print_json(m) : print_human(m);
    cairn_cluster_free(m);
    return rc;
}

const struct cli_cmd cli_cluster_status = {
    .name = "cluster status",
    .usage = "cluster status",
    .help =
        "Print the cluster map, asked of every known node: a table of the\n"
        "nodes (id, name, meta group role, whether it answered, client, peer\n"
        "and HTTP addresses, cluster, tags), then one line per bucket replica:\n"
        "the bucket, the node, leader or follower, the replica's applied log\n"
        "index, and its lag (the leader's applied index minus the replica's;\n"
        "\"?\" when unknown). With --json: {\"nodes\": [...], \"buckets\":\n"
        "[{\"name\", \"leader\", \"replicas\": [{\"node\", \"leader\", "
        "\"applied\",\n\"lag\"}]}]}.\n"
        "\n"
        "Examples:\n"
        "  cairn cluster status\n"
        "  cairn --json cluster status | jq '.nodes[] | select(.reachable | "
        "not)'\n",
    .opts = NULL,
    .min_pos = 0,
    .max_pos = 0,
    .run = run_status,
};
