/*
 * cli.h — the `cairn` command-line tool, built on libcairn. Private to
 * client/cli/: shared by the dispatcher (main.c), the commands (buckets.c,
 * keys.c, bulk.c, cluster.c) and their helpers (parse.c, output.c).
 *
 * Overview
 * --------
 * main.c parses the global options (--servers, --json, --timeout, --help)
 * up to the command word and finds the command in a table of struct
 * cli_cmd. cli_cmd_main() then parses the rest of the line with
 * getopt_long: the global options again (they may follow the command), the
 * command's own options, collected in order into struct cli_args, and the
 * positional arguments. The command's run() interprets them, opens the
 * client on first use (cli_client()), prints the answer and returns the
 * exit code.
 *
 * Exit codes (docs/cli.md): 0 success; 1 a negative answer (not found,
 * conflict, bucket not found, bucket exists); 2 a usage error, detected
 * before anything is sent; 3 the cluster is unavailable; 4 any other error.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cairn.h"
#include "cairn_text.h"

#define CLI_PROG "cairn"
#define CLI_DEFAULT_SERVERS "127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403"

enum cli_exit {
    CLI_OK = 0,
    CLI_NEGATIVE = 1,
    CLI_USAGE = 2,
    CLI_UNAVAILABLE = 3,
    CLI_ERROR = 4,
};

/* Option values: global options, then each command's own (their `val` in
 * struct option; getopt's short options use characters below 256). */
enum cli_opt {
    OPT_SERVERS = 256,
    OPT_JSON,
    OPT_TIMEOUT,
    /* commands */
    OPT_REPLICAS,
    OPT_HISTORY,
    OPT_TTL,
    OPT_EXPIRES_AT,
    OPT_MAX_BYTES,
    OPT_MAX_VALUE_SIZE,
    OPT_STORAGE,
    OPT_COMPRESSION,
    OPT_DESCRIPTION,
    OPT_TAG,
    OPT_CLUSTER,
    OPT_METADATA,
    OPT_META,
    OPT_REVISION,
    OPT_STALE,
    OPT_DETAILS,
    OPT_PREFIX,
    OPT_START,
    OPT_END,
    OPT_LIMIT,
    OPT_CURSOR,
    OPT_FROM,
    OPT_COUNT,
};

/* The state of one run. */
struct cli {
    const char *servers; /* (borrowed) --servers, or NULL */
    bool json;
    int64_t timeout_ns; /* --timeout; 0: the library's default */
    cairn_client *client; /* (owned) opened by cli_client() */
};

/* One option given to a command, in command-line order. */
struct cli_opt_value {
    int opt;           /* enum cli_opt */
    const char *value; /* (borrowed from argv) NULL for flags */
};

#define CLI_ARGS_MAX 8
#define CLI_OPTS_MAX 64

/* A command's parsed command line. */
struct cli_args {
    int n_pos;
    char *pos[CLI_ARGS_MAX]; /* (borrowed from argv) positional arguments */
    int n_opts;
    struct cli_opt_value opts[CLI_OPTS_MAX];
};

/* A command: "put", or "bucket add" (word "add" in group "bucket"). */
struct cli_cmd {
    const char *name;  /* full name, "bucket add" */
    const char *usage; /* the synopsis line(s), after "usage: cairn " */
    const char *help;  /* the rest of --help: description, options, examples */
    const struct option *opts; /* the command's own options, {0}-terminated */
    int min_pos, max_pos;
    int (*run)(struct cli *cli, const struct cli_cmd *cmd,
               const struct cli_args *a);
};

/* The commands (buckets.c, keys.c, bulk.c, cluster.c). */
extern const struct cli_cmd cli_bucket_add, cli_bucket_ls, cli_bucket_info,
    cli_bucket_rm;
extern const struct cli_cmd cli_put, cli_get, cli_create, cli_update,
    cli_cas, cli_del, cli_purge, cli_history, cli_keys, cli_ls;
extern const struct cli_cmd cli_put_bulk;
extern const struct cli_cmd cli_cluster_status;
extern const struct cli_cmd cli_watch; /* watch.c */

/* main.c: parse @argv (argv[0] is the command's last word) for @cmd and
 * run it. Returns the exit code. */
int cli_cmd_main(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv);

/* main.c: handle a global option (OPT_SERVERS, OPT_JSON, OPT_TIMEOUT)
 * with @value. Returns -1 when handled, else the exit code (usage). */
int cli_global_option(struct cli *cli, int opt, const char *value);

/* main.c: the client, opened on first use from --servers, $CAIRN_SERVERS
 * or the local cluster; *rc gets CLI_OK. NULL after printing why (*rc gets
 * the exit code). */
cairn_client *cli_client(struct cli *cli, int *rc);

/* main.c: print "cairn: <cmd>: <message>" and a pointer to --help on
 * stderr; returns CLI_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* All of @f (at most @max bytes) into *out (free()), NUL-terminated, *len
 * bytes without the NUL. Returns 0, ENOMEM, EIO (a read error) or EFBIG
 * (more than @max bytes). */
int cli_read_all(FILE *f, size_t max, char **out, size_t *len);

/* output.c: the exit code for a libcairn code. */
int cli_exit_code(int code);

/* output.c: print "cairn: <errmsg>" (the generic message when @errmsg is
 * empty) on stderr; returns cli_exit_code(@code). */
int cli_fail(int code, const char *errmsg);

/* output.c: as cli_fail() for a CAIRN_ECONFLICT of a write: the message
 * names the key's current revision @current. */
int cli_fail_conflict(int code, const char *errmsg, uint64_t current);

/* output.c: print @j as one line of JSON on stdout and release it.
 * Returns CLI_OK, or CLI_ERROR when it cannot be written. */
int cli_json_print(json_t *j);

/* output.c: write @len bytes to @f escaped for one line of text: valid
 * UTF-8 stays as it is, backslash and control or invalid bytes become \\,
 * \n, \t, \r or \xNN. */
void cli_put_escaped(FILE *f, const void *p, size_t len);

/* parse.c: parse seconds since the Unix epoch @s (decimal digits, not 0)
 * into *ns, nanoseconds since the epoch. Returns 0, or -1 when malformed,
 * 0 or too large for 64-bit nanoseconds. */
int cli_parse_unix_time(const char *s, uint64_t *ns);

/* parse.c: check a BUCKET argument against the bucket name rule and, when
 * @key is not NULL, a KEY argument against the key length limits, before
 * anything is sent. Returns -1, or the exit code of a usage error. */
int cli_check_names(const struct cli_cmd *cmd, const char *bucket,
                    const char *key);

#endif /* CAIRN_CLI_H */
