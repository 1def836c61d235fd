/*
 * main.c — the `cairn` command-line tool: global options, the command
 * table, parsing a command's line with getopt_long, --help, and the client.
 *
 * A command line is `cairn [GLOBAL...] WORD [WORD] [ARGS and OPTIONS...]`.
 * Global options may come anywhere: before the command they are parsed here
 * in "+" mode (stop at the first word), after it by cli_cmd_main() with
 * the command's own options. cli_cmd_main() uses getopt's return-in-order
 * mode so that positional arguments keep their order whatever
 * POSIXLY_CORRECT says; `--` ends the options (for values starting with
 * '-').
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *group; /* NULL: a one-word command */
    const char *word;
    const struct cli_cmd *cmd;
} commands[] = {
    {NULL, "put", &cli_put},
    {NULL, "put-bulk", &cli_put_bulk},
    {NULL, "get", &cli_get},
    {NULL, "create", &cli_create},
    {NULL, "update", &cli_update},
    {NULL, "cas", &cli_cas},
    {NULL, "del", &cli_del},
    {NULL, "purge", &cli_purge},
    {NULL, "history", &cli_history},
    {NULL, "keys", &cli_keys},
    {NULL, "ls", &cli_ls},
    {NULL, "watch", &cli_watch},
    {"bucket", "add", &cli_bucket_add},
    {"bucket", "ls", &cli_bucket_ls},
    {"bucket", "info", &cli_bucket_info},
    {"bucket", "rm", &cli_bucket_rm},
    {"cluster", "status", &cli_cluster_status},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct option global_opts[] = {
    {"servers", required_argument, NULL, OPT_SERVERS},
    {"json", no_argument, NULL, OPT_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
};
#define N_GLOBAL_OPTS (sizeof global_opts / sizeof global_opts[0])

static const char global_help[] =
    "Global options (before or after the command):\n"
    "  --servers HOST:PORT,...  nodes to ask first (default: $CAIRN_SERVERS,\n"
    "                           else " CLI_DEFAULT_SERVERS ")\n"
    "  --json                   print JSON (one object per line) for "
    "scripts\n"
    "  --timeout DURATION       give up after this long, retries included\n"
    "                           (500ms, 30s, 5m, 2h, 1d; default 15s)\n"
    "  -h, --help               show help\n";

static const char top_help[] =
    "usage: cairn [--servers HOST:PORT,...] [--json] [--timeout DURATION]\n"
    "             COMMAND [ARGS...]\n"
    "\n"
    "The command-line client of cairn, a replicated key-value store.\n"
    "\n"
    "Keys:\n"
    "  put BUCKET KEY [VALUE]        set a key (VALUE from stdin when absent)\n"
    "  put-bulk BUCKET FILE          set up to 10000 keys from a JSON file, "
    "atomically\n"
    "  get BUCKET KEY                print a key's value\n"
    "  create BUCKET KEY VALUE       set a key only if it does not exist\n"
    "  update BUCKET KEY VALUE REV   set a key only if its revision is REV\n"
    "  cas BUCKET KEY OLD NEW        set a key only if its value is OLD\n"
    "  del BUCKET KEY                delete a key (kept in its history)\n"
    "  purge BUCKET KEY              delete a key and its history\n"
    "  history BUCKET KEY            every kept revision of a key\n"
    "  keys BUCKET                   list keys\n"
    "  ls BUCKET                     list keys and values, a page at a time\n"
    "  watch BUCKET [KEY | PREFIX*]  print changes as they happen\n"
    "Buckets and the cluster:\n"
    "  bucket add NAME               create a bucket\n"
    "  bucket ls                     list buckets\n"
    "  bucket info NAME              a bucket's configuration and status\n"
    "  bucket rm NAME                delete a bucket and its data\n"
    "  cluster status                nodes, bucket leaders and replica lag\n"
    "  help [COMMAND]                this help, or a command's\n"
    "\n"
    "Exit status: 0 success, 1 negative answer (not found, conflict, bucket\n"
    "not found, bucket exists), 2 usage error, 3 cluster unavailable, 4 any\n"
    "other error.\n"
    "\n"
    "Examples:\n"
    "  cairn bucket add config --replicas 3 --history 5\n"
    "  cairn put config db.url postgres://db1/app\n"
    "  cairn get config db.url\n"
    "  echo -n secret | cairn put config db.password --ttl 1h\n"
    "  cairn --servers 10.0.0.1:7401 --json ls config --prefix db.\n"
    "\n"
    "Run 'cairn COMMAND --help' for a command's options (docs/cli.md).\n";

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", CLI_PROG);
    if (cmd != NULL) {
        fprintf(stderr, "%s: ", cmd->name);
    }
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd != NULL) {
        fprintf(stderr, "\nTry '%s %s --help'.\n", CLI_PROG, cmd->name);
    } else {
        fprintf(stderr, "\nTry '%s --help'.\n", CLI_PROG);
    }
    return CLI_USAGE;
}

int cli_global_option(struct cli *cli, int opt, const char *value)
{
    int64_t ns;

    switch (opt) {
        case OPT_SERVERS:
            if (value[0] == '\0') {
                return cli_usage_error(NULL, "--servers is empty");
            }
            cli->servers = value;
            return -1;
        case OPT_JSON:
            cli->json = true;
            return -1;
        case OPT_TIMEOUT:
            if (cairn_text_parse_duration(value, &ns) != 0 || ns <= 0) {
                return cli_usage_error(
                    NULL,
                    "invalid --timeout '%s': expected a duration like 500ms, "
                    "30s, 5m, 2h or 1d",
                    value);
            }
            cli->timeout_ns = ns;
            return -1;
        default:
            return CLI_USAGE;
    }
}

cairn_client *cli_client(struct cli *cli, int *rc)
{
    struct cairn_client_options o = {0};
    char errmsg[CAIRN_ERRMSG_SIZE] = "";
    const char *env = getenv("CAIRN_SERVERS");
    int code;

    *rc = CLI_OK;
    if (cli->client != NULL) {
        return cli->client;
    }
    o.servers = cli->servers;
    if (o.servers == NULL) {
        o.servers = env != NULL && env[0] != '\0' ? env : CLI_DEFAULT_SERVERS;
    }
    o.name = "cairn-cli/0.1";
    if (cli->timeout_ns > 0) {
        int64_t ms = (cli->timeout_ns + 999999) / 1000000;

        o.deadline_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
    }
    code = cairn_client_open(&o, &cli->client, errmsg);
    if (code != 0) {
        cli->client = NULL;
        /* A malformed address is the caller's: a usage error. */
        *rc = code == CAIRN_EINVAL ? (cli_fail(code, errmsg), CLI_USAGE)
                                   : cli_fail(code, errmsg);
        return NULL;
    }
    return cli->client;
}

static void print_cmd_help(const struct cli_cmd *cmd)
{
    printf("usage: %s %s\n\n%s\n%s", CLI_PROG, cmd->usage, cmd->help,
           global_help);
}

/* How getopt named the option it refused: optopt is the short option's
 * character, the long option's val when it was given a value it takes
 * none of, or 0 for an unknown long option. */
static void bad_option(const struct cli_cmd *cmd, char **argv,
                       const struct option *opts, int c)
{
    const char *text = argv[optind - 1];
    const struct option *o;

    if (c == ':') {
        cli_usage_error(cmd, "option '%s' needs a value", text);
        return;
    }
    if (optopt != 0 && optopt < 256) {
        cli_usage_error(cmd, "unknown option '-%c'", optopt);
        return;
    }
    for (o = opts; optopt != 0 && o->name != NULL; o++) {
        if (o->val == optopt) {
            cli_usage_error(cmd, "option '--%s' takes no value", o->name);
            return;
        }
    }
    cli_usage_error(cmd, "unknown option '%s'", text);
}

/*
 * getopt_long takes unambiguous abbreviations ("--rep" for "--replicas"):
 * refuse them, as cairnd does, so that an option added later cannot change
 * what an existing command line means. @index is getopt's long index (-1
 * for a short option). Returns -1, or the exit code of a usage error.
 */
static int check_spelling(const struct cli_cmd *cmd, char **argv,
                          const struct option *opts, int index)
{
    const char *token = argv[optind - 1], *name;
    size_t n;

    if (index < 0) {
        return -1;
    }
    if (optarg != NULL && optind >= 2 && token == optarg) {
        token = argv[optind - 2]; /* "--option VALUE" */
    }
    name = opts[index].name;
    n = strcspn(token + 2, "=");
    if (strncmp(token, "--", 2) == 0 && n == strlen(name) &&
        strncmp(token + 2, name, n) == 0) {
        return -1;
    }
    return cli_usage_error(cmd, "unknown option '%s' (did you mean --%s? "
                           "options must be spelled out in full)",
                           token, name);
}

int cli_cmd_main(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv)
{
    struct option opts[N_GLOBAL_OPTS + 32];
    struct cli_args a = {0};
    size_t n = 0, i;
    int c, rc, index;

    for (i = 0; i < N_GLOBAL_OPTS; i++) {
        opts[n++] = global_opts[i];
    }
    for (i = 0; cmd->opts != NULL && cmd->opts[i].name != NULL; i++) {
        assert(n + 1 < sizeof opts / sizeof opts[0]); /* option tables are short */
        opts[n++] = cmd->opts[i];
    }
    opts[n] = (struct option){0};

    optind = 0; /* a full re-initialisation of getopt (glibc) */
    while ((index = -1, c = getopt_long(argc, argv, "-:h", opts, &index)) !=
           -1) {
        if (c != 1 && c != '?' && c != ':' &&
            (rc = check_spelling(cmd, argv, opts, index)) >= 0) {
            return rc;
        }
        switch (c) {
            case 1: /* a positional argument, in order */
                if (a.n_pos == CLI_ARGS_MAX) {
                    return cli_usage_error(cmd, "too many arguments");
                }
                a.pos[a.n_pos++] = optarg;
                break;
            case 'h':
                print_cmd_help(cmd);
                return CLI_OK;
            case OPT_SERVERS:
            case OPT_JSON:
            case OPT_TIMEOUT:
                rc = cli_global_option(cli, c, optarg);
                if (rc >= 0) {
                    return rc;
                }
                break;
            case '?':
            case ':':
                bad_option(cmd, argv, opts, c);
                return CLI_USAGE;
            default:
                if (a.n_opts == CLI_OPTS_MAX) {
                    return cli_usage_error(cmd, "too many options");
                }
                a.opts[a.n_opts].opt = c;
                a.opts[a.n_opts].value = optarg;
                a.n_opts++;
        }
    }
    for (; optind < argc; optind++) { /* after "--" */
        if (a.n_pos == CLI_ARGS_MAX) {
            return cli_usage_error(cmd, "too many arguments");
        }
        a.pos[a.n_pos++] = argv[optind];
    }
    if (a.n_pos < cmd->min_pos) {
        return cli_usage_error(cmd, "missing arguments: usage: %s %s",
                               CLI_PROG, cmd->usage);
    }
    if (a.n_pos > cmd->max_pos) {
        return cli_usage_error(cmd, "unexpected argument '%s'",
                               a.pos[cmd->max_pos]);
    }
    return cmd->run(cli, cmd, &a);
}

/* Parse the global options at the front of @argv up to the first word;
 * *help is set by --help. Returns -1 to go on, or the exit code. */
static int parse_front(struct cli *cli, int argc, char **argv, bool *help)
{
    struct option opts[N_GLOBAL_OPTS + 1];
    int c, rc, index;

    memcpy(opts, global_opts, sizeof global_opts);
    opts[N_GLOBAL_OPTS] = (struct option){0};
    optind = 0;
    while ((index = -1, c = getopt_long(argc, argv, "+:h", opts, &index)) !=
           -1) {
        if (c != '?' && c != ':' &&
            (rc = check_spelling(NULL, argv, opts, index)) >= 0) {
            return rc;
        }
        switch (c) {
            case 'h':
                *help = true;
                break;
            case '?':
            case ':':
                bad_option(NULL, argv, opts, c);
                return CLI_USAGE;
            default:
                rc = cli_global_option(cli, c, optarg);
                if (rc >= 0) {
                    return rc;
                }
        }
    }
    return -1;
}

/* The command named by @words (one or two of them); NULL if none. *used
 * gets the number of words it takes. */
static const struct cli_cmd *find(char **words, int n, int *used)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++) {
        if (commands[i].group == NULL && n >= 1 &&
            strcmp(words[0], commands[i].word) == 0) {
            *used = 1;
            return commands[i].cmd;
        }
        if (commands[i].group != NULL && n >= 2 &&
            strcmp(words[0], commands[i].group) == 0 &&
            strcmp(words[1], commands[i].word) == 0) {
            *used = 2;
            return commands[i].cmd;
        }
    }
    return NULL;
}

static bool is_group(const char *word)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++) {
        if (commands[i].group != NULL && strcmp(word, commands[i].group) == 0) {
            return true;
        }
    }
    return false;
}

static void print_group_help(FILE *f, const char *group)
{
    size_t i;

    fprintf(f, "usage: %s %s COMMAND [ARGS...]\n\nCommands:\n", CLI_PROG,
            group);
    for (i = 0; i < N_COMMANDS; i++) {
        if (commands[i].group != NULL && strcmp(group, commands[i].group) == 0) {
            fprintf(f, "  %s %s\n", CLI_PROG, commands[i].cmd->usage);
        }
    }
    fprintf(f, "\nRun '%s %s COMMAND --help' for a command's options.\n",
            CLI_PROG, group);
}

/* `cairn help [WORDS...]`. */
static int help(char **words, int n)
{
    const struct cli_cmd *cmd;
    int used;

    if (n == 0) {
        fputs(top_help, stdout);
        return CLI_OK;
    }
    cmd = find(words, n, &used);
    if (cmd != NULL && used == n) {
        print_cmd_help(cmd);
        return CLI_OK;
    }
    if (n == 1 && is_group(words[0])) {
        print_group_help(stdout, words[0]);
        return CLI_OK;
    }
    return cli_usage_error(NULL, "no command '%s'", words[0]);
}

static int run(struct cli *cli, int argc, char **argv)
{
    const struct cli_cmd *cmd;
    bool want_help = false;
    int rc, used = 0;
    char **words;
    int n_words;

    rc = parse_front(cli, argc, argv, &want_help);
    if (rc >= 0) {
        return rc;
    }
    words = argv + optind;
    n_words = argc - optind;
    if (n_words == 0) {
        if (want_help) {
            fputs(top_help, stdout);
            return CLI_OK;
        }
        fputs(top_help, stderr);
        return CLI_USAGE;
    }
    if (strcmp(words[0], "help") == 0) {
        return help(words + 1, n_words - 1);
    }
    if (is_group(words[0])) {
        /* Global options may also sit between the group and its word. */
        rc = parse_front(cli, n_words, words, &want_help);
        if (rc >= 0) {
            return rc;
        }
        if (optind >= n_words) {
            print_group_help(want_help ? stdout : stderr, words[0]);
            return want_help ? CLI_OK : CLI_USAGE;
        }
        words[optind - 1] = words[0]; /* "bucket", "--json", "add" */
        words += optind - 1;
        n_words -= optind - 1;
    }
    cmd = find(words, n_words, &used);
    if (cmd == NULL) {
        if (is_group(words[0])) {
            return cli_usage_error(NULL, "no command '%s %s'", words[0],
                                   words[1]);
        }
        return cli_usage_error(NULL, "no command '%s'", words[0]);
    }
    if (want_help) {
        print_cmd_help(cmd);
        return CLI_OK;
    }
    return cli_cmd_main(cli, cmd, n_words - used + 1, words + used - 1);
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    int rc;

    rc = run(&cli, argc, argv);
    cairn_client_close(cli.client);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        fprintf(stderr, "%s: cannot write the output\n", CLI_PROG);
        rc = CLI_ERROR;
    }
    return rc;
}
