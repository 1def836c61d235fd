/*
 * keys.c — the key commands: put, get, create, update, cas, del, purge,
 * history, keys, ls. Keys and values are the bytes of their arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define WRITE_OPTIONS_HELP                                                  \
    "  --ttl DURATION   the key expires this long after the write (500ms,\n" \
    "                   30s, 5m, 2h, 1d, 1h30m, or plain seconds)\n"         \
    "  --expires-at T   the key expires at T, in seconds since the Unix\n"   \
    "                   epoch (date +%s -d tomorrow); not with --ttl\n"      \
    "  --meta K=V       per-key metadata, repeatable; stored as the JSON\n"  \
    "                   object {\"K\":\"V\",...} and shown by get --details\n"

#define WRITE_OPTIONS_USAGE "[--ttl DURATION | --expires-at T] [--meta K=V]..."

static const struct option write_opts[] = {
    {"ttl", required_argument, NULL, OPT_TTL},
    {"expires-at", required_argument, NULL, OPT_EXPIRES_AT},
    {"meta", required_argument, NULL, OPT_META},
    {0},
};

/* What a write command was given beyond its arguments. */
struct write_args {
    struct cairn_write_options wo;
    char *meta; /* (owned) the JSON object of --meta, or NULL */
};

/* --ttl, --expires-at and --meta into @w (release what w->meta holds).
 * Returns -1, or the exit code of a usage error. */
static int parse_write_args(const struct cli_cmd *cmd,
                            const struct cli_args *a, struct write_args *w)
{
    json_t *meta = NULL;
    int i, rc = -1;

    memset(w, 0, sizeof *w);
    for (i = 0; i < a->n_opts && rc < 0; i++) {
        const char *v = a->opts[i].value, *eq;
        json_t *s;
        char *k;

        switch (a->opts[i].opt) {
            case OPT_TTL:
                if (cairn_text_parse_duration(v, &w->wo.ttl_ns) != 0) {
                    rc = cli_usage_error(
                        cmd, "invalid --ttl '%s': expected a duration like "
                        "500ms, 30s, 5m, 2h or 1d", v);
                }
                break;
            case OPT_EXPIRES_AT:
                if (cli_parse_unix_time(v, &w->wo.expires_at) != 0) {
                    rc = cli_usage_error(
                        cmd, "invalid --expires-at '%s': expected seconds "
                        "since the Unix epoch, like 1767225600", v);
                }
                break;
            case OPT_META:
                eq = strchr(v, '=');
                if (eq == NULL || eq == v) {
                    rc = cli_usage_error(cmd, "invalid --meta '%s': expected "
                                         "KEY=VALUE", v);
                    break;
                }
                if (meta == NULL && (meta = json_object()) == NULL) {
                    rc = cli_fail(CAIRN_ENOMEM, NULL);
                    break;
                }
                k = strndup(v, (size_t)(eq - v));
                s = json_string(eq + 1);
                if (k == NULL || s == NULL || json_object_get(meta, k) != NULL ||
                    json_object_set_new(meta, k, s) != 0) {
                    rc = cli_usage_error(cmd, "invalid --meta '%s': not UTF-8, "
                                         "or the key is given twice", v);
                }
                free(k);
                break;
        }
    }
    if (rc < 0 && w->wo.ttl_ns > 0 && w->wo.expires_at != 0) {
        rc = cli_usage_error(cmd, "--ttl and --expires-at exclude each "
                             "other: give one of them");
    }
    if (rc < 0 && meta != NULL) {
        w->meta = json_dumps(meta, JSON_COMPACT);
        if (w->meta == NULL) {
            rc = cli_fail(CAIRN_ENOMEM, NULL);
        } else {
            w->wo.meta = w->meta;
            w->wo.meta_len = strlen(w->meta);
        }
    }
    json_decref(meta);
    return rc;
}

/* "revision N" or {"revision": N}. */
static int print_revision(struct cli *cli, uint64_t rev)
{
    json_t *j;

    if (!cli->json) {
        printf("revision %" PRIu64 "\n", rev);
        return CLI_OK;
    }
    j = json_object();
    if (j != NULL) {
        json_object_set_new(j, "revision", json_integer((json_int_t)rev));
    }
    return cli_json_print(j);
}

/* All of stdin into *out (free()): the value of put without VALUE. */
static int read_stdin(char **out, size_t *len)
{
    int err = cli_read_all(stdin, CAIRN_VALUE_HARD_MAX, out, len);
    if (err == ENOMEM) {
        return cli_fail(CAIRN_ENOMEM, NULL);
    }
    if (err == EFBIG) {
        fprintf(stderr, "%s: put: the value on stdin is larger than %d "
                "bytes\n", CLI_PROG, CAIRN_VALUE_HARD_MAX);
        return CLI_ERROR;
    }
    if (err != 0) {
        fprintf(stderr, "%s: put: cannot read the value from stdin\n",
                CLI_PROG);
        return CLI_ERROR;
    }
    return CLI_OK;
}

/* put, create, update, cas: one write with the positional arguments. */
enum write_kind { W_PUT, W_CREATE, W_UPDATE, W_CAS };

static int write_cmd(struct cli *cli, const struct cli_cmd *cmd,
                     const struct cli_args *a, enum write_kind kind)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    const char *bucket = a->pos[0], *key = a->pos[1];
    struct write_args w;
    cairn_result res = {0};
    cairn_client *c;
    char *value = NULL, *in = NULL;
    size_t value_len = 0;
    uint64_t rev = 0;
    int rc, code;

    if ((rc = cli_check_names(cmd, bucket, key)) >= 0) {
        return rc;
    }
    rc = parse_write_args(cmd, a, &w);
    if (rc >= 0) {
        return rc;
    }
    if (kind == W_UPDATE && cairn_text_parse_u64(a->pos[3], UINT64_MAX, &rev) != 0) {
        rc = cli_usage_error(cmd, "invalid REVISION '%s': expected a number",
                             a->pos[3]);
        goto out;
    }
    if (kind == W_CAS) {
        value = a->pos[3];
    } else if (a->n_pos >= 3) {
        value = a->pos[2];
    } else {
        rc = read_stdin(&in, &value_len); /* put without VALUE */
        if (rc != CLI_OK) {
            goto out;
        }
        value = in;
    }
    if (value != in) {
        value_len = strlen(value);
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        goto out;
    }
    switch (kind) {
        case W_PUT:
            code = cairn_put(c, bucket, key, strlen(key), value, value_len,
                             &w.wo, &res, errmsg);
            break;
        case W_CREATE:
            code = cairn_create(c, bucket, key, strlen(key), value, value_len,
                                &w.wo, &res, errmsg);
            break;
        case W_UPDATE:
            code = cairn_update(c, bucket, key, strlen(key), value, value_len,
                                rev, &w.wo, &res, errmsg);
            break;
        default:
            code = cairn_cas(c, bucket, key, strlen(key), a->pos[2],
                             strlen(a->pos[2]), value, value_len, &w.wo, &res,
                             errmsg);
    }
    rc = code != 0 ? cli_fail_conflict(code, errmsg, res.current_revision)
                   : print_revision(cli, res.revision);
out:
    free(in);
    free(w.meta);
    return rc;
}

static int run_put(struct cli *cli, const struct cli_cmd *cmd,
                   const struct cli_args *a)
{
    return write_cmd(cli, cmd, a, W_PUT);
}

static int run_create(struct cli *cli, const struct cli_cmd *cmd,
                      const struct cli_args *a)
{
    return write_cmd(cli, cmd, a, W_CREATE);
}

static int run_update(struct cli *cli, const struct cli_cmd *cmd,
                      const struct cli_args *a)
{
    return write_cmd(cli, cmd, a, W_UPDATE);
}

static int run_cas(struct cli *cli, const struct cli_cmd *cmd,
                   const struct cli_args *a)
{
    return write_cmd(cli, cmd, a, W_CAS);
}

/* The value of --revision, if given, into *rev. Returns -1 or the exit
 * code of a usage error. */
static int opt_revision(const struct cli_cmd *cmd, const struct cli_args *a,
                        uint64_t *rev)
{
    int i;

    for (i = 0; i < a->n_opts; i++) {
        if (a->opts[i].opt == OPT_REVISION &&
            cairn_text_parse_u64(a->opts[i].value, UINT64_MAX, rev) != 0) {
            return cli_usage_error(cmd, "invalid --revision '%s': expected a "
                                   "number", a->opts[i].value);
        }
    }
    return -1;
}

static bool has_opt(const struct cli_args *a, int opt)
{
    int i;

    for (i = 0; i < a->n_opts; i++) {
        if (a->opts[i].opt == opt) {
            return true;
        }
    }
    return false;
}

/* The last value of option @opt, or NULL. */
static const char *opt_value(const struct cli_args *a, int opt)
{
    const char *v = NULL;
    int i;

    for (i = 0; i < a->n_opts; i++) {
        if (a->opts[i].opt == opt) {
            v = a->opts[i].value;
        }
    }
    return v;
}

static void print_details(const cairn_entry *e)
{
    char t[64];

    fputs("key:              ", stdout);
    cli_put_escaped(stdout, e->key, e->key_len);
    printf("\nrevision:         %" PRIu64 "\n", e->revision);
    printf("created_revision: %" PRIu64 "\n", e->create_revision);
    cairn_text_format_time(e->updated, t, sizeof t);
    printf("updated:          %s\n", t);
    cairn_text_format_time(e->expires, t, sizeof t);
    printf("expires:          %s\n", t);
    printf("operation:        %s\n", cairn_text_op_name(e->op));
    fputs("meta:             ", stdout);
    if (e->meta != NULL) {
        cli_put_escaped(stdout, e->meta, e->meta_len);
    }
    fputs("\nvalue:            ", stdout);
    if (cairn_entry_has_value(e)) {
        cli_put_escaped(stdout, e->value, e->value_len);
    }
    fputc('\n', stdout);
}

static int run_get(struct cli *cli, const struct cli_cmd *cmd,
                   const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    struct cairn_read_options ro = {0};
    const char *bucket = a->pos[0], *key = a->pos[1];
    cairn_entry *e = NULL;
    cairn_client *c;
    int rc, code;

    if ((rc = cli_check_names(cmd, bucket, key)) >= 0 ||
        (rc = opt_revision(cmd, a, &ro.revision)) >= 0) {
        return rc;
    }
    ro.stale = has_opt(a, OPT_STALE);
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = cairn_get(c, bucket, key, strlen(key), &ro, &e, errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    rc = CLI_OK;
    if (cli->json) {
        rc = cli_json_print(cairn_json_entry(bucket, e));
    } else if (has_opt(a, OPT_DETAILS)) {
        print_details(e);
    } else if (cairn_entry_has_value(e)) {
        if (e->value_len > 0) {
            fwrite(e->value, 1, e->value_len, stdout);
        }
        fputc('\n', stdout);
    }
    if (rc == CLI_OK && e->op != CAIRN_OP_PUT) {
        /* A revision asked for that deleted the key: it had no value. */
        fprintf(stderr, "%s: get %s/%s: revision %" PRIu64 " is a %s "
                "marker: the key had no value\n", CLI_PROG, bucket, key,
                e->revision, cairn_text_op_name(e->op));
        rc = CLI_NEGATIVE;
    }
    cairn_entry_free(e);
    return rc;
}

/* del and purge. */
static int marker_cmd(struct cli *cli, const struct cli_cmd *cmd,
                      const struct cli_args *a, bool purge)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    const char *bucket = a->pos[0], *key = a->pos[1];
    cairn_result res = {0};
    uint64_t rev = 0;
    cairn_client *c;
    int rc, code;

    if ((rc = cli_check_names(cmd, bucket, key)) >= 0 ||
        (rc = opt_revision(cmd, a, &rev)) >= 0) {
        return rc;
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = purge ? cairn_purge(c, bucket, key, strlen(key), rev, &res, errmsg)
                 : cairn_delete(c, bucket, key, strlen(key), rev, &res,
                                errmsg);
    if (code != 0) {
        return cli_fail_conflict(code, errmsg, res.current_revision);
    }
    return print_revision(cli, res.revision);
}

static int run_del(struct cli *cli, const struct cli_cmd *cmd,
                   const struct cli_args *a)
{
    return marker_cmd(cli, cmd, a, false);
}

static int run_purge(struct cli *cli, const struct cli_cmd *cmd,
                     const struct cli_args *a)
{
    return marker_cmd(cli, cmd, a, true);
}

/* A list of entries as {"bucket": ..., @name: [entry...]} (plus "key"
 * when not NULL). NULL when out of memory. */
static json_t *json_entries(const char *bucket, const char *key,
                            const char *name, const cairn_entries *l)
{
    json_t *o = json_object(), *arr = json_array();
    size_t i;

    if (o == NULL || arr == NULL) {
        json_decref(o);
        json_decref(arr);
        return NULL;
    }
    json_object_set_new(o, "bucket", json_string(bucket));
    if (key != NULL) {
        cairn_json_set_bytes(o, "key", key, strlen(key));
    }
    for (i = 0; i < l->n; i++) {
        json_array_append_new(arr, cairn_json_entry(NULL, &l->entries[i]));
    }
    json_object_set_new(o, name, arr);
    return o;
}

static int by_revision(const void *a, const void *b)
{
    const cairn_entry *x = a, *y = b;

    return x->revision < y->revision ? -1 : x->revision > y->revision;
}

static int run_history(struct cli *cli, const struct cli_cmd *cmd,
                       const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "", t[64];
    struct cairn_read_options ro = {0};
    const char *bucket = a->pos[0], *key = a->pos[1];
    cairn_entries *l = NULL;
    cairn_client *c;
    int rc = CLI_OK, code;
    size_t i;

    if ((rc = cli_check_names(cmd, bucket, key)) >= 0) {
        return rc;
    }
    ro.stale = has_opt(a, OPT_STALE);
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = cairn_history(c, bucket, key, strlen(key), &ro, &l, errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    /* Oldest first, whatever order the list came in. */
    if (l->n > 1) {
        qsort(l->entries, l->n, sizeof *l->entries, by_revision);
    }
    if (cli->json) {
        rc = cli_json_print(json_entries(bucket, key, "history", l));
    } else {
        for (i = 0; i < l->n; i++) {
            const cairn_entry *e = &l->entries[i];

            cairn_text_format_time(e->updated, t, sizeof t);
            printf("%" PRIu64 "\t%s\t%s\t", e->revision, cairn_text_op_name(e->op),
                   t);
            if (cairn_entry_has_value(e)) {
                cli_put_escaped(stdout, e->value, e->value_len);
            }
            fputc('\n', stdout);
        }
    }
    cairn_entries_free(l);
    return rc;
}

static int run_keys(struct cli *cli, const struct cli_cmd *cmd,
                    const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    const char *bucket = a->pos[0], *prefix = opt_value(a, OPT_PREFIX);
    cairn_entries *l = NULL;
    cairn_client *c;
    json_t *o, *arr, *k;
    int rc = CLI_OK, code;
    size_t i;

    if ((rc = cli_check_names(cmd, bucket, NULL)) >= 0) {
        return rc;
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    code = cairn_keys(c, bucket, prefix, prefix != NULL ? strlen(prefix) : 0,
                      has_opt(a, OPT_STALE), &l, errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    if (!cli->json) {
        for (i = 0; i < l->n; i++) {
            cli_put_escaped(stdout, l->entries[i].key, l->entries[i].key_len);
            fputc('\n', stdout);
        }
        cairn_entries_free(l);
        return CLI_OK;
    }
    o = json_object();
    arr = json_array();
    if (o != NULL && arr != NULL) {
        json_object_set_new(o, "bucket", json_string(bucket));
        for (i = 0; i < l->n; i++) {
            const cairn_entry *e = &l->entries[i];

            /* A key that is not UTF-8 becomes {"key_b64": ...}. */
            k = cairn_json_bytes(e->key, e->key_len);
            if (k == NULL && (k = json_object()) != NULL) {
                cairn_json_set_bytes(k, "key", e->key, e->key_len);
            }
            json_array_append_new(arr, k);
        }
        json_object_set(o, "keys", arr);
    }
    json_decref(arr);
    cairn_entries_free(l);
    return cli_json_print(o);
}

/* ls's options into @so; *cursor (free()) owns the decoded cursor.
 * Returns -1 or the exit code of a usage error. */
static int parse_scan(const struct cli_cmd *cmd, const struct cli_args *a,
                      struct cairn_scan_options *so, void **cursor)
{
    const char *v;
    uint64_t limit;

    if ((v = opt_value(a, OPT_PREFIX)) != NULL) {
        so->prefix = v;
        so->prefix_len = strlen(v);
    }
    if ((v = opt_value(a, OPT_START)) != NULL) {
        so->start = v;
        so->start_len = strlen(v);
    }
    if ((v = opt_value(a, OPT_END)) != NULL) {
        so->end = v;
        so->end_len = strlen(v);
    }
    if (so->prefix != NULL && (so->start != NULL || so->end != NULL)) {
        return cli_usage_error(cmd, "--prefix cannot be combined with "
                               "--start or --end");
    }
    if ((v = opt_value(a, OPT_LIMIT)) != NULL) {
        if (cairn_text_parse_u64(v, UINT32_MAX, &limit) != 0 || limit == 0) {
            return cli_usage_error(cmd, "invalid --limit '%s': expected a "
                                   "number from 1 to %u", v, UINT32_MAX);
        }
        so->limit = (uint32_t)limit;
    }
    if ((v = opt_value(a, OPT_CURSOR)) != NULL) {
        *cursor = cairn_text_hex_decode(v, &so->cursor_len);
        if (*cursor == NULL) {
            return cli_usage_error(cmd, "invalid --cursor '%s': expected the "
                                   "hex cursor a previous ls printed", v);
        }
        so->cursor = *cursor;
    }
    so->stale = has_opt(a, OPT_STALE);
    return -1;
}

static int print_page(struct cli *cli, const char *bucket,
                      const cairn_entries *l)
{
    char *hex = NULL;
    json_t *o;
    size_t i;

    if (l->more && l->cursor != NULL) {
        hex = cairn_text_hex_encode(l->cursor, l->cursor_len);
        if (hex == NULL) {
            return cli_fail(CAIRN_ENOMEM, NULL);
        }
    }
    if (cli->json) {
        o = json_entries(bucket, NULL, "entries", l);
        if (o != NULL) {
            json_object_set_new(o, "more", json_boolean(l->more));
            json_object_set_new(o, "cursor",
                                hex != NULL ? json_string(hex) : json_null());
        }
        free(hex);
        return cli_json_print(o);
    }
    for (i = 0; i < l->n; i++) {
        const cairn_entry *e = &l->entries[i];

        cli_put_escaped(stdout, e->key, e->key_len);
        fputc('\t', stdout);
        if (cairn_entry_has_value(e)) {
            cli_put_escaped(stdout, e->value, e->value_len);
        }
        fputc('\n', stdout);
    }
    if (l->more) {
        printf("# more: --cursor %s\n", hex != NULL ? hex : "");
    }
    free(hex);
    return CLI_OK;
}

static int run_ls(struct cli *cli, const struct cli_cmd *cmd,
                  const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    struct cairn_scan_options so = {0};
    const char *bucket = a->pos[0];
    cairn_entries *l = NULL;
    void *cursor = NULL;
    cairn_client *c;
    int rc, code;

    if ((rc = cli_check_names(cmd, bucket, NULL)) >= 0) {
        return rc;
    }
    rc = parse_scan(cmd, a, &so, &cursor);
    if (rc >= 0) {
        goto out;
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        goto out;
    }
    code = cairn_scan(c, bucket, &so, &l, errmsg);
    if (code != 0) {
        rc = cli_fail(code, errmsg);
        goto out;
    }
    rc = print_page(cli, bucket, l);
out:
    cairn_entries_free(l);
    free(cursor);
    return rc;
}

const struct cli_cmd cli_put = {
    .name = "put",
    .usage = "put BUCKET KEY [VALUE] " WRITE_OPTIONS_USAGE,
    .help =
        "Set KEY in BUCKET to VALUE, or to all of stdin when VALUE is absent\n"
        "(bytes as they are, no newline added or removed). Prints the new\n"
        "revision: \"revision N\" ({\"revision\": N} with --json).\n"
        "\n"
        "Options:\n" WRITE_OPTIONS_HELP
        "\n"
        "Examples:\n"
        "  cairn put config db.url postgres://db1/app\n"
        "  cairn put sessions s42 '{\"user\":7}' --ttl 30m --meta owner=web\n"
        "  cairn put promo banner 'sale!' --expires-at 1767225600\n"
        "  cairn put certs web.pem < web.pem\n"
        "  cairn put config neg -- -1        (-- ends options)\n",
    .opts = write_opts,
    .min_pos = 2,
    .max_pos = 3,
    .run = run_put,
};

const struct cli_cmd cli_create = {
    .name = "create",
    .usage = "create BUCKET KEY VALUE " WRITE_OPTIONS_USAGE,
    .help =
        "Set KEY only if it has no live value; prints \"revision N\". If it\n"
        "exists: exit status 1 and a message naming its current revision.\n"
        "\n"
        "Options:\n" WRITE_OPTIONS_HELP
        "\n"
        "Examples:\n"
        "  cairn create locks deploy host-a --ttl 5m\n",
    .opts = write_opts,
    .min_pos = 3,
    .max_pos = 3,
    .run = run_create,
};

const struct cli_cmd cli_update = {
    .name = "update",
    .usage = "update BUCKET KEY VALUE REVISION " WRITE_OPTIONS_USAGE,
    .help =
        "Set KEY only if its latest revision is REVISION; prints \"revision\n"
        "N\". Otherwise: exit status 1 and a message naming the current\n"
        "revision.\n"
        "\n"
        "Options:\n" WRITE_OPTIONS_HELP
        "\n"
        "Examples:\n"
        "  rev=$(cairn --json get config mode | jq .revision)\n"
        "  cairn update config mode maintenance \"$rev\"\n",
    .opts = write_opts,
    .min_pos = 4,
    .max_pos = 4,
    .run = run_update,
};

const struct cli_cmd cli_cas = {
    .name = "cas",
    .usage = "cas BUCKET KEY OLD NEW " WRITE_OPTIONS_USAGE,
    .help =
        "Compare and swap: set KEY to NEW only if its value is OLD; prints\n"
        "\"revision N\". Otherwise: exit status 1 and a message naming the\n"
        "current revision.\n"
        "\n"
        "Options:\n" WRITE_OPTIONS_HELP
        "\n"
        "Examples:\n"
        "  cairn cas flags checkout off on\n",
    .opts = write_opts,
    .min_pos = 4,
    .max_pos = 4,
    .run = run_cas,
};

static const struct option get_opts[] = {
    {"revision", required_argument, NULL, OPT_REVISION},
    {"stale", no_argument, NULL, OPT_STALE},
    {"details", no_argument, NULL, OPT_DETAILS},
    {0},
};

const struct cli_cmd cli_get = {
    .name = "get",
    .usage = "get BUCKET KEY [--revision R] [--stale] [--details]",
    .help =
        "Print the value of KEY and a newline. A missing or deleted key:\n"
        "exit status 1. With --json: {\"bucket\", \"key\", \"value\" (or\n"
        "\"value_b64\" when not UTF-8), \"meta\", \"revision\",\n"
        "\"created_revision\", \"updated\", \"expires\", \"operation\"}.\n"
        "\n"
        "Options:\n"
        "  --revision R   that revision of the key (a revision that deleted\n"
        "                 it: exit status 1)\n"
        "  --stale        read from any replica, possibly behind the leader\n"
        "  --details      print every field, one per line (key, revision,\n"
        "                 created_revision, updated, expires, operation, meta,\n"
        "                 value), bytes escaped\n"
        "\n"
        "Examples:\n"
        "  cairn get config db.url\n"
        "  cairn get config db.url --revision 3\n"
        "  cairn --json get config db.url | jq -r .value\n",
    .opts = get_opts,
    .min_pos = 2,
    .max_pos = 2,
    .run = run_get,
};

static const struct option marker_opts[] = {
    {"revision", required_argument, NULL, OPT_REVISION},
    {0},
};

const struct cli_cmd cli_del = {
    .name = "del",
    .usage = "del BUCKET KEY [--revision R]",
    .help =
        "Delete KEY: a DEL marker is written and kept in its history.\n"
        "Prints the marker's revision, \"revision N\".\n"
        "\n"
        "Options:\n"
        "  --revision R   only if the key's latest revision is R (else exit\n"
        "                 status 1)\n"
        "\n"
        "Examples:\n"
        "  cairn del config db.url\n",
    .opts = marker_opts,
    .min_pos = 2,
    .max_pos = 2,
    .run = run_del,
};

const struct cli_cmd cli_purge = {
    .name = "purge",
    .usage = "purge BUCKET KEY [--revision R]",
    .help =
        "Purge KEY: drop its history and leave one PURGE marker. Prints the\n"
        "marker's revision, \"revision N\".\n"
        "\n"
        "Options:\n"
        "  --revision R   only if the key's latest revision is R (else exit\n"
        "                 status 1)\n"
        "\n"
        "Examples:\n"
        "  cairn purge sessions s42\n",
    .opts = marker_opts,
    .min_pos = 2,
    .max_pos = 2,
    .run = run_purge,
};

static const struct option stale_opts[] = {
    {"stale", no_argument, NULL, OPT_STALE},
    {0},
};

const struct cli_cmd cli_history = {
    .name = "history",
    .usage = "history BUCKET KEY [--stale]",
    .help =
        "Print the kept revisions of KEY, oldest first, one per line:\n"
        "REVISION<TAB>OPERATION<TAB>TIME<TAB>VALUE (PUT, DEL or PURGE; the\n"
        "time in RFC 3339, UTC; the value escaped, empty for markers).\n"
        "With --json: {\"bucket\", \"key\", \"history\": [entry...]}.\n"
        "\n"
        "Options:\n"
        "  --stale   read from any replica, possibly behind the leader\n"
        "\n"
        "Examples:\n"
        "  cairn history config db.url\n",
    .opts = stale_opts,
    .min_pos = 2,
    .max_pos = 2,
    .run = run_history,
};

static const struct option keys_opts[] = {
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"stale", no_argument, NULL, OPT_STALE},
    {0},
};

const struct cli_cmd cli_keys = {
    .name = "keys",
    .usage = "keys BUCKET [--prefix P] [--stale]",
    .help =
        "Print every live key of BUCKET in key order, one per line\n"
        "(escaped). With --json: {\"bucket\", \"keys\": [key...]}.\n"
        "\n"
        "Options:\n"
        "  --prefix P   only keys that start with P\n"
        "  --stale      read from any replica, possibly behind the leader\n"
        "\n"
        "Examples:\n"
        "  cairn keys config --prefix db.\n",
    .opts = keys_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_keys,
};

static const struct option ls_opts[] = {
    {"prefix", required_argument, NULL, OPT_PREFIX},
    {"start", required_argument, NULL, OPT_START},
    {"end", required_argument, NULL, OPT_END},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"cursor", required_argument, NULL, OPT_CURSOR},
    {"stale", no_argument, NULL, OPT_STALE},
    {0},
};

const struct cli_cmd cli_ls = {
    .name = "ls",
    .usage = "ls BUCKET [--prefix P | --start S --end E] [--limit N] "
             "[--cursor C] [--stale]",
    .help =
        "Print one page of live keys and their values in key order, one per\n"
        "line: KEY<TAB>VALUE (both escaped). When more keys follow, a last\n"
        "line \"# more: --cursor C\" gives the option for the next page.\n"
        "With --json: {\"bucket\", \"entries\": [entry...], \"more\",\n"
        "\"cursor\" (null when no more)}.\n"
        "\n"
        "Options:\n"
        "  --prefix P    only keys that start with P\n"
        "  --start S     from key S (inclusive)\n"
        "  --end E       up to key E (exclusive)\n"
        "  --limit N     at most N keys (default: as many as fit a page)\n"
        "  --cursor C    the next page, from the cursor a previous ls printed\n"
        "  --stale       read from any replica, possibly behind the leader\n"
        "\n"
        "Examples:\n"
        "  cairn ls config --prefix db. --limit 100\n"
        "  cairn ls config --limit 100 --cursor 64622e706f7274\n",
    .opts = ls_opts,
    .min_pos = 1,
    .max_pos = 1,
    .run = run_ls,
};
