/*
 * watch.c — `cairn watch`: print a bucket's changes as they happen
 * (libcairn's iterator watch, cairn.h "Watches").
 *
 * The watch runs until SIGINT or SIGTERM (then it is cancelled and the
 * command exits 0), until --count events were printed, or until the watch
 * ends with an error (exit status of that error). Every line is flushed
 * as it is printed, so a pipe sees each event at once.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* How long one wait for an event lasts: the signal flag is looked at
 * between waits. */
#define POLL_MS 200

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* "2024-05-01 12:00:00" (UTC) into @buf. */
static void watch_time(uint64_t ns, char *buf, size_t size)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    if (ns == 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, size, "-");
        return;
    }
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* One event, human or JSON. Returns CLI_OK or CLI_ERROR (output
 * failed). */
static int print_event(const struct cli *cli, const char *bucket,
                       const cairn_watch_event *ev)
{
    char t[32];
    if (ev->type == CAIRN_WATCH_SYNCED) {
        if (!cli->json) {
            return CLI_OK;
        }
        json_t *o = json_object();
        if (o != NULL) {
            json_object_set_new(o, "synced", json_true());
            json_object_set_new(o, "revision",
                                json_integer((json_int_t)ev->revision));
        }
        return cli_json_print(o);
    }
    if (cli->json) {
        return cli_json_print(cairn_json_entry(bucket, &ev->entry));
    }
    watch_time(ev->entry.updated, t, sizeof t);
    printf("[%s] %s %s > ", t, cairn_text_op_name(ev->entry.op), bucket);
    cli_put_escaped(stdout, ev->entry.key, ev->entry.key_len);
    if (cairn_entry_has_value(&ev->entry)) {
        fputs(": ", stdout);
        cli_put_escaped(stdout, ev->entry.value, ev->entry.value_len);
    }
    if (fputc('\n', stdout) == EOF) {
        fprintf(stderr, "%s: cannot write the output\n", CLI_PROG);
        return CLI_ERROR;
    }
    return CLI_OK;
}

static const char *opt_value(const struct cli_args *a, int opt)
{
    const char *v = NULL;
    for (int i = 0; i < a->n_opts; i++) {
        if (a->opts[i].opt == opt) {
            v = a->opts[i].value; /* the last one counts */
        }
    }
    return v;
}

static int run_watch(struct cli *cli, const struct cli_cmd *cmd,
                     const struct cli_args *a)
{
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    const char *bucket = a->pos[0];
    const char *arg = a->n_pos > 1 ? a->pos[1] : NULL;
    const char *from = opt_value(a, OPT_FROM);
    const char *count = opt_value(a, OPT_COUNT);
    struct cairn_watch_options wo = {0};
    struct sigaction sa;
    uint64_t n_max = 0, printed = 0;
    cairn_watch *w = NULL;
    cairn_client *c;
    int rc, code;

    if (arg != NULL && arg[0] == '\0') {
        return cli_usage_error(cmd, "KEY is empty (use PREFIX* or no KEY "
                               "to watch more than one key)");
    }
    if (arg != NULL) {
        size_t len = strlen(arg);
        if (arg[len - 1] == '*') {
            wo.prefix = arg;
            wo.prefix_len = len - 1;
            if (len - 1 > CAIRN_KEY_MAX) {
                return cli_usage_error(cmd, "prefix of %zu bytes: the limit "
                                       "is %d",
                                       len - 1, CAIRN_KEY_MAX);
            }
            if ((rc = cli_check_names(cmd, bucket, NULL)) >= 0) {
                return rc;
            }
        } else {
            wo.key = arg;
            wo.key_len = len;
            if ((rc = cli_check_names(cmd, bucket, arg)) >= 0) {
                return rc;
            }
        }
    } else if ((rc = cli_check_names(cmd, bucket, NULL)) >= 0) {
        return rc;
    }
    if (from != NULL &&
        (cairn_text_parse_u64(from, UINT64_MAX, &wo.from) != 0 || wo.from == 0)) {
        return cli_usage_error(cmd, "invalid --from '%s': expected a "
                               "revision, at least 1",
                               from);
    }
    if (count != NULL &&
        (cairn_text_parse_u64(count, UINT64_MAX, &n_max) != 0 || n_max == 0)) {
        return cli_usage_error(cmd, "invalid --count '%s': expected a "
                               "number of events, at least 1",
                               count);
    }
    c = cli_client(cli, &rc);
    if (c == NULL) {
        return rc;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    code = cairn_watch_open(c, bucket, &wo, NULL, NULL, &w, errmsg);
    if (code != 0) {
        return cli_fail(code, errmsg);
    }
    rc = CLI_OK;
    while (!stop_requested && (n_max == 0 || printed < n_max)) {
        cairn_watch_event *ev;
        code = cairn_watch_next(w, POLL_MS, &ev, errmsg);
        if (code == CAIRN_ETIMEDOUT) {
            continue;
        }
        if (code != 0) {
            rc = cli_fail(code, errmsg);
            break;
        }
        rc = print_event(cli, bucket, ev);
        if (ev->type == CAIRN_WATCH_ENTRY) {
            printed++;
        }
        cairn_watch_event_free(ev);
        if (rc != CLI_OK || fflush(stdout) != 0) {
            rc = CLI_ERROR;
            break;
        }
    }
    cairn_watch_close(w);
    return rc;
}

static const struct option watch_opts[] = {
    {"from", required_argument, NULL, OPT_FROM},
    {"count", required_argument, NULL, OPT_COUNT},
    {0},
};

const struct cli_cmd cli_watch = {
    .name = "watch",
    .usage = "watch BUCKET [KEY | PREFIX*] [--from REV] [--count N]",
    .help =
        "Print the changes of BUCKET (or of one KEY, or of the keys that\n"
        "start with PREFIX) as they happen, one per line:\n"
        "  [TIME] PUT BUCKET > KEY: VALUE\n"
        "  [TIME] DEL BUCKET > KEY\n"
        "  [TIME] PURGE BUCKET > KEY\n"
        "(TIME is the write's, UTC; keys and values escaped). First come the\n"
        "current values (and the markers of deleted keys still kept), or\n"
        "with --from every kept change from that revision on; then every\n"
        "change, in revision order, none twice and none missing, across\n"
        "leader changes and lost nodes. Runs until interrupted (Ctrl-C:\n"
        "exit 0). With --json: one entry object per line, and\n"
        "{\"synced\": true, \"revision\": N} once the initial data is done.\n"
        "\n"
        "Options:\n"
        "  --from REV   start at revision REV (1: the whole kept history); a\n"
        "               revision the bucket no longer keeps is an error\n"
        "  --count N    exit 0 after N changes\n"
        "\n"
        "Examples:\n"
        "  cairn watch config\n"
        "  cairn watch config 'db.*' --from 1\n"
        "  cairn --json watch config db.url --count 1\n",
    .opts = watch_opts,
    .min_pos = 1,
    .max_pos = 2,
    .run = run_watch,
};
