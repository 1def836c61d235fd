/*
 * config.h — cairnd's configuration: built-in defaults, an optional INI
 * file, then command-line flags, checked into one struct node_config.
 *
 * Overview
 * --------
 * node_config_parse() reads, in this order, each later source overriding the
 * earlier ones:
 *
 *   1. the built-in defaults (documented field by field below);
 *   2. the file named by --config FILE, if any: INI, section [node], keys
 *      spelled like the long flags without the dashes:
 *
 *          [node]
 *          id = 1
 *          data-dir = /var/lib/cairn
 *          peer-listen = 10.0.0.1:7501
 *          initial-cluster = 1=10.0.0.1:7501,2=10.0.0.2:7501,3=10.0.0.3:7501
 *          tag = zone:a
 *          tag = disk:ssd
 *
 *      '#' or ';' at the start of a line, and ';' after a space, begin a
 *      comment. Each key may appear once, except tag, which may repeat;
 *   3. the command-line flags (GNU getopt_long, "--flag VALUE" or
 *      "--flag=VALUE"). A flag given twice counts once, with its last value;
 *      --tag accumulates.
 *
 * Flags and file keys (docs/cairnd.md has the same table):
 *
 *   --id N                   raft id, 1..2^63-1; required
 *   --name NAME              [A-Za-z0-9_.-]{1,64}; default "node<id>"
 *   --data-dir PATH          required
 *   --memory-dir PATH        default /dev/shm/cairn-<cluster>-<id>
 *   --client-listen IP:PORT  default 127.0.0.1:7401
 *   --peer-listen IP:PORT    default 127.0.0.1:7501; not 0.0.0.0
 *   --http-listen IP:PORT    default 127.0.0.1:7601
 *   --tag KEY:VALUE          repeatable, up to 16, each at most 128 bytes
 *   --cluster NAME           [A-Za-z0-9_.-]{1,64}; default "cairn"
 *   --initial-cluster ID=IP:PORT,...   bootstrap voters (1..5)
 *   --join IP:PORT           client address of a running node
 *   --log-level LEVEL        debug|info|warn|error; default info
 *   --snapshot-threshold N   1..4294967295; default 100000
 *   --snapshot-trailing N    0..4294967295; default 50000
 *   --election-timeout-ms N  1..600000; default 1000; > 5 x heartbeat
 *   --heartbeat-ms N         1..60000; default 100
 *   --map-size BYTES         1M..1024G, suffix K, M or G; default 8G
 *   --expire-interval-ms N   10..3600000; default 1000
 *   --config FILE            the INI file above (flag only)
 *   --help, --version        (flag only)
 *
 * Exit codes: cairnd exits with 2 when node_config_parse() fails, before it
 * touches the disk, after printing the error message on stderr; with 0 after
 * --help or --version; with 0 after a clean stop and 1 after any other
 * failure.
 *
 * Caveats
 * -------
 * - Addresses are an IPv4 dotted quad and a port (1..65535): raft_uv accepts
 *   nothing else, so no host names and no IPv6. Addresses other nodes dial
 *   (--peer-listen, every --initial-cluster entry, --join) may not be
 *   0.0.0.0; the client and HTTP listeners may.
 * - --join and --initial-cluster exclude each other within one source. A
 *   later source that gives one replaces what an earlier source gave for
 *   either (a --join flag overrides an initial-cluster key in the file).
 *   Neither is required here: whether this start needs one depends on
 *   whether the data directory already holds a node, which the daemon
 *   decides.
 * - --tag flags replace the file's tag lines as a whole, rather than adding
 *   to them.
 * - Flags must be spelled out in full: getopt_long's abbreviations
 *   ("--data" for "--data-dir") are refused, so adding a flag later never
 *   changes what an existing command line means.
 * - A line of the file may hold at most NODE_CONFIG_LINE_MAX bytes (inih's
 *   line buffer); longer lines are refused, never cut.
 * - node_config_parse() uses getopt_long's global state (optind, opterr):
 *   call it from one thread at a time.
 */
#ifndef CAIRN_NODE_CONFIG_H
#define CAIRN_NODE_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "cairn.h"
#include "log.h"

/* Returned by node_config_parse() for --help: print node_config_usage() to
 * stdout and exit 0. */
#define NODE_CONFIG_HELP (-1)

/* Returned by node_config_parse() for --version: print
 * node_config_version() to stdout and exit 0. */
#define NODE_CONFIG_VERSION (-2)

#define NODE_NAME_MAX 64          /* --name and --cluster, bytes */
#define NODE_PATH_MAX 4096        /* --data-dir and --config, NUL included */
#define NODE_VOTERS_MAX 5         /* --initial-cluster entries */
#define NODE_ADDR_HOST_MAX 15     /* "255.255.255.255" */
#define NODE_ADDR_TEXT_MAX 21     /* "255.255.255.255:65535" */
#define NODE_CONFIG_LINE_MAX 198  /* a config file line, newline excluded */

#define NODE_ID_MAX INT64_MAX     /* raft ids are 1..2^63-1 */

#define NODE_DEFAULT_CLIENT_LISTEN "127.0.0.1:7401"
#define NODE_DEFAULT_PEER_LISTEN "127.0.0.1:7501"
#define NODE_DEFAULT_HTTP_LISTEN "127.0.0.1:7601"
#define NODE_DEFAULT_CLUSTER "cairn"
#define NODE_DEFAULT_SNAPSHOT_THRESHOLD 100000u
#define NODE_DEFAULT_SNAPSHOT_TRAILING 50000u
#define NODE_DEFAULT_ELECTION_TIMEOUT_MS 1000u
#define NODE_DEFAULT_HEARTBEAT_MS 100u
#define NODE_DEFAULT_MAP_SIZE (8ull << 30)
/* printf format of the default --memory-dir: the cluster name, the id. */
#define NODE_DEFAULT_MEMORY_DIR "/dev/shm/cairn-%s-%llu"
#define NODE_DEFAULT_EXPIRE_INTERVAL_MS 1000u

/* An IPv4 address and port, checked. */
struct node_addr {
    char host[NODE_ADDR_HOST_MAX + 1]; /* dotted quad, as inet_ntop writes */
    uint16_t port;                     /* 1..65535 */
    char text[NODE_ADDR_TEXT_MAX + 1]; /* "host:port", what raft_uv takes */
};

/* One bootstrap voter of --initial-cluster. */
struct node_peer {
    uint64_t id;           /* 1..NODE_ID_MAX */
    struct node_addr addr; /* its peer address */
};

/* How a node with an empty data directory enters the cluster. */
enum node_bootstrap {
    NODE_BOOTSTRAP_NONE = 0,    /* neither given: needs an existing data dir */
    NODE_BOOTSTRAP_INITIAL = 1, /* --initial-cluster: bootstrap the voters */
    NODE_BOOTSTRAP_JOIN = 2,    /* --join: ask a running node to add us */
};

/*
 * The whole configuration. Strings are fixed-size NUL-terminated arrays: the
 * struct owns no heap memory and can be copied with `=`. After a successful
 * node_config_parse() every field holds a checked value.
 */
struct node_config {
    /* --id: this node's raft id in every group, 1..NODE_ID_MAX. Required. */
    uint64_t id;
    /* --name: a human name for logs and the catalog,
     * [A-Za-z0-9_.-]{1,64}. Default "node<id>". */
    char name[NODE_NAME_MAX + 1];
    /* --data-dir: where the node keeps LMDB and the Raft logs. Required;
     * not checked for existence here (the daemon creates or opens it). */
    char data_dir[NODE_PATH_MAX];
    /* --memory-dir: where the buckets with storage "memory" keep their
     * data and Raft logs; meant to be on tmpfs, so their writes touch no
     * disk (docs/cairnd.md, "Memory buckets"). Default
     * /dev/shm/cairn-<cluster>-<id> (NODE_DEFAULT_MEMORY_DIR), set once
     * --cluster and --id are known. Not checked here: the daemon creates or
     * opens it, and refuses one that another node holds or that belongs to
     * another data directory. */
    char memory_dir[NODE_PATH_MAX];
    /* --config: the file that was read, "" when none. */
    char config_file[NODE_PATH_MAX];
    /* --client-listen: the client protocol listener. Default
     * 127.0.0.1:7401. */
    struct node_addr client_listen;
    /* --peer-listen: the Raft peer listener, also the address other nodes
     * dial, so never 0.0.0.0. Default 127.0.0.1:7501. */
    struct node_addr peer_listen;
    /* --http-listen: the HTTP/JSON listener. Default 127.0.0.1:7601. */
    struct node_addr http_listen;
    /* --tag: placement tags, "key:value" with a non-empty key and value
     * around the first colon, at most CAIRN_TAG_MAX bytes, no duplicates
     * (the rule of cairn_bucket_config tags). Default none. */
    uint32_t n_tags;
    char tags[CAIRN_TAGS_MAX][CAIRN_TAG_MAX + 1];
    /* --cluster: the cluster name buckets can be placed on,
     * [A-Za-z0-9_.-]{1,64}. Default "cairn". */
    char cluster[NODE_NAME_MAX + 1];
    /* Which of --initial-cluster and --join was given, if any. */
    enum node_bootstrap bootstrap;
    /* --initial-cluster: the bootstrap voters (n_initial 1..5 when
     * bootstrap is NODE_BOOTSTRAP_INITIAL, else 0): ids unique, addresses
     * unique and dialable, this node's own id listed with its peer_listen
     * address. */
    uint32_t n_initial;
    struct node_peer initial_cluster[NODE_VOTERS_MAX];
    /* --join: a running node's client address (set when bootstrap is
     * NODE_BOOTSTRAP_JOIN); never 0.0.0.0 nor this node's client_listen. */
    struct node_addr join;
    /* --log-level: records below it are dropped. Default info. */
    enum node_log_level log_level;
    /* --snapshot-threshold: Raft log entries between snapshots,
     * 1..4294967295. Default 100000 (canonical/raft's 1024 costs 2-3x
     * throughput here). */
    uint32_t snapshot_threshold;
    /* --snapshot-trailing: entries kept after a snapshot, so lagging
     * followers catch up from the log, 0..4294967295. Default 50000. */
    uint32_t snapshot_trailing;
    /* --election-timeout-ms: 1..600000, more than 5 x heartbeat_ms.
     * Default 1000. */
    uint32_t election_timeout_ms;
    /* --heartbeat-ms: 1..60000. Default 100. */
    uint32_t heartbeat_ms;
    /* --map-size: the LMDB map size in bytes, 1 MiB..1 TiB. Default 8 GiB. */
    uint64_t map_size;
    /* --expire-interval-ms: how often each bucket leader checks for keys
     * that have expired and proposes their removal (an expire command),
     * 10..3600000. Default 1000. Reads hide expired keys at once; this
     * bounds how long their entries, history and counts linger. */
    uint32_t expire_interval_ms;
};

/*
 * Fill @cfg with the built-in defaults. id is 0 and data_dir empty: the
 * result is not a valid configuration until those are set.
 */
void node_config_init(struct node_config *cfg);

/*
 * Build the configuration from @argc/@argv (argv[0] is the program name and
 * is skipped) and the file named by --config, as the overview describes.
 * Reads that file and nothing else; writes nothing anywhere (no output, not
 * even for --help), leaves @argv in its order, and fills @out only on
 * success (it is left alone otherwise).
 *
 * --help and --version win over everything else on the command line,
 * including bad flags: the result is NODE_CONFIG_HELP or NODE_CONFIG_VERSION
 * (negative; the caller prints node_config_usage() or
 * node_config_version() to stdout and exits 0) and @errmsg is "".
 *
 * Returns 0, or CAIRN_EINVAL with @errmsg (CAIRN_ERRMSG_SIZE bytes) naming
 * the flag, or the file, line and key, with the bad value and the rule:
 *   "--id: '0' is not in 1..9223372036854775807"
 *   "cairn.conf:7: unknown key 'data_dri'"
 *   "--initial-cluster: id 2 appears twice"
 * Unknown or abbreviated flags, missing values, stray arguments, a config
 * file that cannot be opened or read or has a syntax error, and a missing
 * --id or --data-dir are all CAIRN_EINVAL: the daemon exits with 2 on any
 * of them.
 */
int node_config_parse(int argc, char **argv, struct node_config *out,
                      char *errmsg);

/* Print the usage text, with every flag, its default and examples, to @out. */
void node_config_usage(FILE *out);

/* Print "cairnd VERSION\n" to @out. */
void node_config_version(FILE *out);

#endif /* CAIRN_NODE_CONFIG_H */
