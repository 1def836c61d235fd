/*
 * bulk.c — put-bulk: key/value pairs from a file, written as one atomic
 * txn without compares (a bulk write of at most CAIRN_TXN_OPS_MAX pairs:
 * all of them apply, or none).
 *
 * The file is JSON lines (one object per line, blank lines skipped) or one
 * JSON array of objects, whichever its first byte other than white space
 * says ('[': an array). Each object has:
 *   "key" (string) or "key_b64" (base64 of the key's bytes)    required
 *   "value" (string) or "value_b64"                            required
 *   "ttl": a duration string ("30s", "1h30m") or seconds       optional
 *   "expires_at": seconds since the Unix epoch (not with ttl)  optional
 *   "meta": an object (stored as compact JSON, as --meta does)
 *           or a string (stored as its bytes)                  optional
 * and nothing else: an unknown field (a typo) is refused, as is anything
 * that would not make a valid write, naming the line or the element. The
 * whole file is checked before anything is sent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"


/* A NUL in a string is kept (\u0000); an object with a field given twice
 * is refused rather than silently taking the last. */
#define LOAD_FLAGS (JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)

/* White space within a line. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* The pairs read from a file. */
struct bulk {
    const struct cli_cmd *cmd;
    const char *name;      /* (borrowed) the file as messages name it */
    json_t *docs;          /* (owned) the parsed objects, kept alive: the
                            * writes point into their strings */
    struct cairn_write *w; /* (owned) one write per pair */
    size_t n, cap;
    struct cairn_json_keep keep; /* decoded base64 and metadata the writes
                                  * use */
};

static void bulk_free(struct bulk *b)
{
    cairn_json_keep_free(&b->keep);
    free(b->w);
    json_decref(b->docs);
}

/* One object of the file into the next write. Returns -1, or the exit
 * code of a usage error naming @where. */
static int add_pair(struct bulk *b, json_t *o, const char *where)
{
    char msg[CAIRN_ERRMSG_SIZE];
    int rc;

    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        struct cairn_write *bigger = realloc(b->w, cap * sizeof *bigger);
        if (bigger == NULL) {
            return cli_fail(CAIRN_ENOMEM, NULL);
        }
        b->w = bigger;
        b->cap = cap;
    }
    rc = cairn_json_write(o, 0, &b->w[b->n], &b->keep, msg, sizeof msg);
    if (rc == CAIRN_ENOMEM) {
        return cli_fail(CAIRN_ENOMEM, NULL);
    }
    if (rc != 0) {
        return cli_usage_error(b->cmd, "%s: %s", where, msg);
    }
    b->n++;
    return -1;
}

/* A JSON array of objects. Returns -1, or an exit code. */
static int read_array(struct bulk *b, const char *text, size_t len)
{
    char where[256];
    json_error_t e;
    json_t *doc = json_loadb(text, len, LOAD_FLAGS, &e);
    size_t i;
    int rc;

    if (doc == NULL) {
        return cli_usage_error(b->cmd, "%s:%d: column %d: %s", b->name,
                               e.line, e.column, e.text);
    }
    if (!json_is_array(doc)) {
        json_decref(doc);
        return cli_usage_error(b->cmd, "%s: expected a JSON array or JSON "
                               "lines", b->name);
    }
    json_array_append_new(b->docs, doc);
    for (i = 0; i < json_array_size(doc); i++) {
        snprintf(where, sizeof where, "%s: element [%zu]", b->name, i);
        if ((rc = add_pair(b, json_array_get(doc, i), where)) >= 0) {
            return rc;
        }
    }
    return -1;
}

/* JSON lines: one object per line. Returns -1, or an exit code. */
static int read_lines(struct bulk *b, const char *text, size_t len)
{
    char where[256];
    const char *p = text, *end = text + len;
    json_error_t e;
    unsigned line = 0;
    int rc;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        size_t n = (size_t)(stop - p), i;
        json_t *doc;

        line++;
        i = 0;
        while (i < n && is_space(p[i])) {
            i++;
        }
        if (i < n) {
            snprintf(where, sizeof where, "%s:%u", b->name, line);
            doc = json_loadb(p, n, LOAD_FLAGS, &e);
            if (doc == NULL) {
                return cli_usage_error(b->cmd, "%s: column %d: %s (one JSON "
                                       "object per line)", where, e.column,
                                       e.text);
            }
            json_array_append_new(b->docs, doc);
            if ((rc = add_pair(b, doc, where)) >= 0) {
                return rc;
            }
        }
        p = stop + 1;
    }
    return -1;
}

/* Read @path ("-": stdin) into @b. Returns -1, or an exit code. */
static int bulk_read(struct bulk *b, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, i = 0;
    int err, rc;

    b->name = f == stdin ? "stdin" : path;
    if (f == NULL) {
        return cli_usage_error(b->cmd, "cannot open '%s': %s", path,
                               strerror(errno));
    }
    err = cli_read_all(f, SIZE_MAX - 1, &text, &len);
    if (f != stdin) {
        fclose(f);
    }
    if (err == ENOMEM) {
        return cli_fail(CAIRN_ENOMEM, NULL);
    }
    if (err != 0) {
        return cli_usage_error(b->cmd, "cannot read %s: %s", b->name,
                               strerror(err));
    }
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        i = 3; /* a UTF-8 byte order mark */
    }
    while (i < len && (is_space(text[i]) || text[i] == '\n')) {
        i++;
    }
    if ((b->docs = json_array()) == NULL) {
        free(text);
        return cli_fail(CAIRN_ENOMEM, NULL);
    }
    rc = i < len && text[i] == '['
             ? read_array(b, text + i, len - i)
             : read_lines(b, text + i, len - i);
    free(text);
    if (rc < 0 && b->n == 0) {
        rc = cli_usage_error(b->cmd, "%s holds no key/value pairs", b->name);
    }
    return rc;
}

static int run_put_bulk(struct cli *cli, const struct cli_cmd *cmd,
                        const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    const char *bucket = a->pos[0];
    struct bulk b;
    cairn_result res = {0};
    cairn_client *c;
    json_t *j;
    int rc, code;

    if ((rc = cli_check_names(cmd, bucket, NULL)) >= 0) {
        return rc;
    }
    memset(&b, 0, sizeof b);
    b.cmd = cmd;
    if ((rc = bulk_read(&b, a->pos[1])) >= 0) {
        goto out;
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        goto out;
    }
    /* More than CAIRN_TXN_OPS_MAX pairs: libcairn refuses them with
     * CAIRN_ETOOLARGE, naming the limit, as the node would (413). */
    code = cairn_txn(c, bucket, NULL, 0, b.w,
                     b.n > UINT32_MAX ? UINT32_MAX : (uint32_t)b.n, &res,
                     errmsg);
    if (code != 0) {
        rc = cli_fail(code, errmsg);
        goto out;
    }
    if (cli->json) {
        j = json_object();
        if (j != NULL) {
            json_object_set_new(j, "count", json_integer((json_int_t)b.n));
            json_object_set_new(j, "first_revision",
                                json_integer((json_int_t)res.revision));
            json_object_set_new(j, "last_revision",
                                json_integer((json_int_t)res.last_revision));
        }
        rc = cli_json_print(j);
    } else if (b.n == 1) {
        printf("1 key written at revision %" PRIu64 "\n", res.revision);
        rc = CLI_OK;
    } else {
        printf("%zu keys written at revisions %" PRIu64 "..%" PRIu64 "\n",
               b.n, res.revision, res.last_revision);
        rc = CLI_OK;
    }
out:
    bulk_free(&b);
    return rc;
}

const struct cli_cmd cli_put_bulk = {
    .name = "put-bulk",
    .usage = "put-bulk BUCKET FILE",
    .help =
        "Write every key/value pair of FILE (\"-\": stdin) into BUCKET as one\n"
        "atomic write: all of them or none. At most 10000 pairs; more is\n"
        "refused (exit status 4) and nothing is written. Prints \"N keys\n"
        "written at revisions A..B\" ({\"count\": N, \"first_revision\": A,\n"
        "\"last_revision\": B} with --json).\n"
        "\n"
        "FILE holds JSON lines, one object per line, or one JSON array of\n"
        "objects. Each object:\n"
        "  \"key\"          the key (a string), or \"key_b64\": its base64\n"
        "  \"value\"        the value (a string), or \"value_b64\": its\n"
        "                 base64\n"
        "  \"ttl\"          optional: expires this long after the write, a\n"
        "                 duration (\"30s\", \"1h30m\") or a number of\n"
        "                 seconds\n"
        "  \"expires_at\"   optional: expires then, seconds since the Unix\n"
        "                 epoch (not with \"ttl\")\n"
        "  \"meta\"         optional: an object, stored as compact JSON (as\n"
        "                 --meta does), or a string stored as it is\n"
        "Other fields are refused. A malformed file exits 2, naming the line\n"
        "(or the array element), before anything is sent.\n"
        "\n"
        "Examples:\n"
        "  cairn put-bulk config settings.jsonl\n"
        "  echo '[{\"key\":\"a\",\"value\":\"1\"},\n"
        "         {\"key\":\"b\",\"value\":\"2\",\"ttl\":\"30s\"}]' |"
        " cairn put-bulk config -\n"
        "  cairn --json ls config --prefix db. |"
        " jq -c '.entries[] | {key, value}' |\n"
        "      cairn put-bulk config-copy -\n",
    .opts = NULL,
    .min_pos = 2,
    .max_pos = 2,
    .run = run_put_bulk,
};
