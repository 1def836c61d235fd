/*
 * buckets.c — the bucket commands: bucket add, ls, info, rm.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Copy @v into @dst (@size bytes with the NUL) or fail naming @what. */
static int copy_field(const struct cli_cmd *cmd, const char *what,
                      const char *v, char *dst, size_t size)
{
    if (strlen(v) >= size) {
        return cli_usage_error(cmd, "%s '%s' is longer than %zu bytes", what,
                               v, size - 1);
    }
    memcpy(dst, v, strlen(v) + 1);
    return -1;
}

static int opt_count(const struct cli_cmd *cmd, const char *what,
                     const char *v, uint64_t max, uint32_t *out)
{
    uint64_t n;

    if (cairn_text_parse_u64(v, max, &n) != 0) {
        return cli_usage_error(cmd, "invalid %s '%s': expected a number "
                               "up to %" PRIu64, what, v, max);
    }
    *out = (uint32_t)n;
    return -1;
}

static int opt_size(const struct cli_cmd *cmd, const char *what,
                    const char *v, int64_t *out)
{
    if (cairn_text_parse_size(v, out) != 0) {
        return cli_usage_error(cmd, "invalid %s '%s': expected bytes (e.g. "
                               "1048576, 64KiB, 10MiB, 1GiB) or -1", what, v);
    }
    return -1;
}

/* One option of bucket add into @cfg. Returns -1 or a usage exit code. */
static int config_option(const struct cli_cmd *cmd, cairn_bucket_config *cfg,
                         const struct cli_opt_value *o)
{
    const char *v = o->value, *eq;
    struct cairn_bucket_metadata *m;

    switch (o->opt) {
        case OPT_REPLICAS:
            return opt_count(cmd, "--replicas", v, UINT32_MAX,
                             &cfg->num_replicas);
        case OPT_HISTORY:
            return opt_count(cmd, "--history", v, UINT32_MAX, &cfg->history);
        case OPT_TTL:
            if (cairn_text_parse_duration(v, &cfg->ttl_ns) != 0) {
                return cli_usage_error(cmd, "invalid --ttl '%s': expected a "
                                       "duration like 500ms, 30s, 5m, 2h or "
                                       "1d", v);
            }
            return -1;
        case OPT_MAX_BYTES:
            return opt_size(cmd, "--max-bytes", v, &cfg->max_bytes);
        case OPT_MAX_VALUE_SIZE:
            return opt_size(cmd, "--max-value-size", v, &cfg->max_value_size);
        case OPT_STORAGE:
            if (strcmp(v, "file") == 0) {
                cfg->storage = CAIRN_STORAGE_FILE;
            } else if (strcmp(v, "memory") == 0) {
                cfg->storage = CAIRN_STORAGE_MEMORY;
            } else {
                return cli_usage_error(cmd, "invalid --storage '%s': expected "
                                       "file or memory", v);
            }
            return -1;
        case OPT_COMPRESSION:
            cfg->compression = true;
            return -1;
        case OPT_DESCRIPTION:
            return copy_field(cmd, "--description", v, cfg->description,
                              sizeof cfg->description);
        case OPT_CLUSTER:
            return copy_field(cmd, "--cluster", v, cfg->cluster,
                              sizeof cfg->cluster);
        case OPT_TAG:
            if (cfg->n_tags == CAIRN_TAGS_MAX) {
                return cli_usage_error(cmd, "more than %d --tag options",
                                       CAIRN_TAGS_MAX);
            }
            return copy_field(cmd, "--tag", v, cfg->tags[cfg->n_tags++],
                              sizeof cfg->tags[0]);
        case OPT_METADATA:
            eq = strchr(v, '=');
            if (eq == NULL || eq == v) {
                return cli_usage_error(cmd, "invalid --metadata '%s': "
                                       "expected KEY=VALUE", v);
            }
            if (cfg->n_metadata == CAIRN_METADATA_PAIRS_MAX) {
                return cli_usage_error(cmd, "more than %d --metadata options",
                                       CAIRN_METADATA_PAIRS_MAX);
            }
            m = &cfg->metadata[cfg->n_metadata++];
            if ((size_t)(eq - v) >= sizeof m->key) {
                return cli_usage_error(cmd, "--metadata key in '%s' is longer "
                                       "than %d bytes", v,
                                       CAIRN_METADATA_KEY_MAX);
            }
            memcpy(m->key, v, (size_t)(eq - v));
            m->key[eq - v] = '\0';
            return copy_field(cmd, "--metadata value", eq + 1, m->value,
                              sizeof m->value);
        default:
            return -1;
    }
}

static int run_add(struct cli *cli, const struct cli_cmd *cmd,
                   const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    cairn_bucket_config cfg;
    uint64_t created = 0;
    cairn_client *c;
    json_t *j;
    int i, rc, code;

    if ((rc = cli_check_names(cmd, a->pos[0], NULL)) >= 0) {
        return rc;
    }
    cairn_bucket_config_init(&cfg, a->pos[0]);
    for (i = 0; i < a->n_opts; i++) {
        rc = config_option(cmd, &cfg, &a->opts[i]);
        if (rc >= 0) {
            return rc;
        }
    }
    if (cairn_bucket_config_validate(&cfg, errmsg) != 0) {
        return cli_usage_error(cmd, "%s", errmsg);
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = cairn_bucket_create(c, &cfg, &created, errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    if (!cli->json) {
        printf("bucket %s created\n", cfg.name);
        return CLI_OK;
    }
    j = json_object();
    if (j != NULL) {
        json_object_set_new(j, "bucket", json_string(cfg.name));
        json_object_set_new(j, "created", cairn_json_time(created));
    }
    return cli_json_print(j);
}

static int run_ls(struct cli *cli, const struct cli_cmd *cmd,
                  const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    char **names = NULL;
    size_t n = 0, i;
    cairn_client *c;
    json_t *j, *arr;
    int rc, code;

    (void)cmd;
    (void)a;
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = cairn_bucket_list(c, &names, &n, errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    if (!cli->json) {
        for (i = 0; i < n; i++) {
            printf("%s\n", names[i]);
        }
        cairn_names_free(names, n);
        return CLI_OK;
    }
    j = json_object();
    arr = json_array();
    for (i = 0; arr != NULL && i < n; i++) {
        json_array_append_new(arr, json_string(names[i]));
    }
    if (j != NULL && arr != NULL) {
        json_object_set(j, "buckets", arr);
    }
    json_decref(arr);
    cairn_names_free(names, n);
    return cli_json_print(j);
}

static int print_info_json(const cairn_bucket_details *in)
{
    return cli_json_print(cairn_json_bucket_details(in));
}

#define FIELD "%-16s"

static void print_info(const cairn_bucket_details *in)
{
    const cairn_bucket_config *cfg = &in->config;
    char buf[64];
    uint32_t i;

    printf(FIELD "%s\n", "name:", cfg->name);
    printf(FIELD "%s\n", "description:",
           cfg->description[0] != '\0' ? cfg->description : "-");
    printf(FIELD "%" PRIu32 "\n", "replicas:", cfg->num_replicas);
    printf(FIELD "%" PRIu32 "\n", "history:", cfg->history);
    cairn_text_format_duration(cfg->ttl_ns, buf, sizeof buf);
    printf(FIELD "%s\n", "ttl:", cfg->ttl_ns > 0 ? buf : "never");
    if (cfg->max_bytes < 0) {
        printf(FIELD "unlimited\n", "max_bytes:");
    } else {
        printf(FIELD "%" PRId64 "\n", "max_bytes:", cfg->max_bytes);
    }
    printf(FIELD "%" PRId64 "\n", "max_value_size:",
           cairn_bucket_value_limit(cfg));
    printf(FIELD "%s\n", "storage:", cairn_text_storage_name(cfg->storage));
    printf(FIELD "%s\n", "compression:", cfg->compression ? "yes" : "no");
    printf(FIELD "%s\n", "cluster:", cfg->cluster[0] != '\0' ? cfg->cluster
                                                             : "-");
    printf(FIELD "%s", "tags:", cfg->n_tags == 0 ? "-" : "");
    for (i = 0; i < cfg->n_tags && i < CAIRN_TAGS_MAX; i++) {
        printf("%s%s", i > 0 ? " " : "", cfg->tags[i]);
    }
    printf("\n");
    for (i = 0; i < cfg->n_metadata && i < CAIRN_METADATA_PAIRS_MAX; i++) {
        printf(FIELD "%s=%s\n", "metadata:", cfg->metadata[i].key,
               cfg->metadata[i].value);
    }
    cairn_text_format_time(in->created, buf, sizeof buf);
    printf(FIELD "%s\n", "created:", buf);
    printf(FIELD "%" PRIu64 "\n", "keys:", in->keys);
    printf(FIELD "%" PRIu64 "\n", "bytes:", in->bytes);
    printf(FIELD "%" PRIu64 "\n", "stored_bytes:", in->stored_bytes);
    printf(FIELD "%" PRIu64 "\n", "revision:", in->revision);
    printf(FIELD "%" PRIu64 "\n", "compacted:", in->compacted);
    for (i = 0; i < in->n_replicas && i < CAIRN_REPLICAS_MAX; i++) {
        const cairn_replica *r = &in->replicas[i];

        printf(FIELD "node %" PRIu64 " %s applied %" PRIu64, "replica:",
               r->node, r->leader ? "leader" : "follower", r->applied);
        if (r->has_lag) {
            printf(" lag %" PRIu64 "%s", r->lag,
                   r->active ? "" : " unreachable");
        }
        printf("\n");
    }
}

static int run_info(struct cli *cli, const struct cli_cmd *cmd,
                    const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    cairn_bucket_details *info;
    cairn_client *c;
    int rc, code;

    if ((rc = cli_check_names(cmd, a->pos[0], NULL)) >= 0) {
        return rc;
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    info = calloc(1, sizeof *info); /* about 14 KiB: not on the stack */
    if (info == NULL) {
        return cli_fail(CAIRN_ENOMEM, NULL);
    }
    code = cairn_bucket_info(c, a->pos[0], info, errmsg);
    if (code != 0) {
        rc = cli_fail(code, errmsg);
    } else if (cli->json) {
        rc = print_info_json(info);
    } else {
        print_info(info);
        rc = CLI_OK;
    }
    free(info);
    return rc;
}

static int run_rm(struct cli *cli, const struct cli_cmd *cmd,
                  const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    cairn_client *c;
    json_t *j;
    int rc, code;

    if ((rc = cli_check_names(cmd, a->pos[0], NULL)) >= 0) {
        return rc;
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = cairn_bucket_delete(c, a->pos[0], errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    if (!cli->json) {
        printf("bucket %s deleted\n", a->pos[0]);
        return CLI_OK;
    }
    j = json_object();
    if (j != NULL) {
        json_object_set_new(j, "bucket", json_string(a->pos[0]));
        json_object_set_new(j, "deleted", json_true());
    }
    return cli_json_print(j);
}

static const struct option add_opts[] = {
    {"replicas", required_argument, NULL, OPT_REPLICAS},
    {"history", required_argument, NULL, OPT_HISTORY},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
    {"max-value-size", required_argument, NULL, OPT_MAX_VALUE_SIZE},
    {"storage", required_argument, NULL, OPT_STORAGE},
    {"compression", no_argument, NULL, OPT_COMPRESSION},
    {"description", required_argument, NULL, OPT_DESCRIPTION},
    {"tag", required_argument, NULL, OPT_TAG},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"metadata", required_argument, NULL, OPT_METADATA},
    {0},
};

const struct cli_cmd cli_bucket_add = {
    .name = "bucket add",
    .usage = "bucket add NAME [--replicas N] [--history N] [--ttl DURATION]\n"
             "       [--max-bytes N] [--max-value-size N] "
             "[--storage file|memory]\n"
             "       [--compression] [--description TEXT] [--tag T]... "
             "[--cluster C]\n"
             "       [--metadata K=V]...",
    .help =
        "Create bucket NAME ([A-Za-z0-9_-], 1 to 64 bytes). Prints \"bucket\n"
        "NAME created\" ({\"bucket\", \"created\"} with --json). If it exists:\n"
        "exit status 1. A value out of range is a usage error (exit status 2).\n"
        "\n"
        "Options:\n"
        "  --replicas N          replicas, 1..5 (default 1)\n"
        "  --history N           revisions kept per key, 1..64 (default 1)\n"
        "  --ttl DURATION        keys expire this long after their last write\n"
        "                        (default: never)\n"
        "  --max-bytes N         bucket size limit: bytes, or with K/KiB, M/MiB,\n"
        "                        G/GiB (default -1: unlimited)\n"
        "  --max-value-size N    largest value (default 1MiB; -1: 16MiB)\n"
        "  --storage KIND        file (default) or memory\n"
        "  --compression         compress values\n"
        "  --description TEXT    free text, up to 1024 bytes\n"
        "  --tag T               place replicas only on nodes with tag T\n"
        "                        (key:value), repeatable, up to 16\n"
        "  --cluster C           place replicas only on nodes of cluster C\n"
        "  --metadata K=V        bucket metadata, repeatable, up to 16\n"
        "\n"
        "Examples:\n"
        "  cairn bucket add config --replicas 3 --history 10\n"
        "  cairn bucket add sessions --replicas 3 --ttl 30m --storage memory\n"
        "  cairn bucket add fast --replicas 3 --tag disk:ssd --metadata "
        "owner=ops\n",
    .opts = add_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_add,
};

const struct cli_cmd cli_bucket_ls = {
    .name = "bucket ls",
    .usage = "bucket ls",
    .help =
        "Print the names of every bucket, sorted, one per line.\n"
        "With --json: {\"buckets\": [name...]}.\n"
        "\n"
        "Examples:\n"
        "  cairn bucket ls\n",
    .opts = NULL,
    .min_pos = 0,
    .max_pos = 0,
    .run = run_ls,
};

const struct cli_cmd cli_bucket_info = {
    .name = "bucket info",
    .usage = "bucket info NAME",
    .help =
        "Print bucket NAME's configuration and status, one \"field: value\"\n"
        "per line: name, description, replicas, history, ttl, max_bytes,\n"
        "max_value_size, storage, compression, cluster, tags, metadata (one\n"
        "line per pair), created, keys (values stored), bytes (keys, values\n"
        "and metadata of every kept revision), stored_bytes (the same after\n"
        "compression), revision (the last), compacted, and one\n"
        "\"replica: node ID leader|follower applied N lag L [unreachable]\"\n"
        "line per replica: L is how many log entries the replica lacks of the\n"
        "leader's log; \"unreachable\" when it did not answer the leader\n"
        "within an election timeout. The bucket's leader answers.\n"
        "With --json: {\"name\", \"config\": {...}, \"created\", \"keys\",\n"
        "\"bytes\", \"stored_bytes\", \"revision\", \"compacted\",\n"
        "\"replicas\": [{\"node\", \"leader\", \"applied\", \"lag\", \"active\"}]}.\n"
        "\n"
        "Examples:\n"
        "  cairn bucket info config\n",
    .opts = NULL,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_info,
};

const struct cli_cmd cli_bucket_rm = {
    .name = "bucket rm",
    .usage = "bucket rm NAME",
    .help =
        "Delete bucket NAME and all its data on every replica. Prints\n"
        "\"bucket NAME deleted\". If there is no such bucket: exit status 1.\n"
        "\n"
        "Examples:\n"
        "  cairn bucket rm scratch\n",
    .opts = NULL,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_rm,
};
