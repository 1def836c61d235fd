/*
 * cairn.h — the public API of cairn: error codes, limits and bucket
 * configuration shared by every module, and (from the client library) the
 * functions applications call.
 *
 * Overview
 * --------
 * Every cairn function that can fail returns an `int` from the single code
 * list below (0 is success). Codes travel on the wire as these numbers, so
 * they never change meaning once released; new codes are appended.
 * cairn_strerror() gives the generic message for a code; functions that fail
 * also fill a caller-supplied `char errmsg[CAIRN_ERRMSG_SIZE]` with a message
 * that carries context ("put config/db.url: bucket 'config' is full").
 *
 * Caveats
 * -------
 * - Strings in cairn_bucket_config are fixed-size, NUL-terminated arrays: the
 *   struct owns no heap memory and can be copied with `=`.
 * - Times are nanoseconds since the Unix epoch (uint64_t); durations are
 *   nanoseconds (int64_t).
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CAIRN_API
#define CAIRN_API __attribute__((visibility("default")))
#endif

/* Size of every error message buffer. */
#define CAIRN_ERRMSG_SIZE 256

/*
 * The one code list: X(NAME, number, http status, short name, message).
 * The HTTP status is what the HTTP API and the wire protocol report for the
 * code; the short name is what JSON error bodies carry in "code".
 */
#define CAIRN_ERRNO_MAP(X)                                                     \
    X(OK, 0, 200, "ok", "success")                                             \
    X(EINVAL, 1, 400, "invalid", "invalid argument")                           \
    X(ENOTFOUND, 2, 404, "not_found", "key not found")                         \
    X(ENOBUCKET, 3, 404, "bucket_not_found", "bucket not found")               \
    X(EEXIST, 4, 409, "bucket_exists", "bucket already exists")                \
    X(ECONFLICT, 5, 409, "conflict", "precondition failed")                    \
    X(ETOOLARGE, 6, 413, "too_large", "too large")                             \
    X(EFULL, 7, 507, "bucket_full", "bucket is full")                          \
    X(ENOMEM, 8, 500, "out_of_memory", "out of memory")                        \
    X(EIO, 9, 500, "io", "input/output error")                                 \
    X(ECORRUPT, 10, 500, "corrupt", "data is corrupt")                         \
    X(EVERSION, 11, 400, "version", "unsupported format or protocol version") \
    X(EMALFORMED, 12, 400, "malformed", "malformed input")                     \
    X(ENOTLEADER, 13, 421, "not_leader", "not the leader")                     \
    X(EUNAVAILABLE, 14, 503, "unavailable", "service unavailable")             \
    X(EPLACEMENT, 15, 503, "placement", "not enough nodes for placement")      \
    X(ETIMEDOUT, 16, 504, "timeout", "timed out")                              \
    X(ECOMPACTED, 17, 410, "compacted", "revision is no longer kept")          \
    X(ENOSPACE, 18, 507, "no_space", "storage is full")                        \
    X(ECANCELED, 19, 499, "canceled", "operation canceled")                    \
    X(EPROTO, 20, 400, "protocol", "protocol error")                           \
    X(EBUSY, 21, 429, "busy", "too many requests")                             \
    X(EPERM, 22, 403, "forbidden", "permission denied")                        \
    X(EINTERNAL, 23, 500, "internal", "internal error")                        \
    X(ECLOSED, 24, 503, "closed", "connection closed")                         \
    X(ENOTSUP, 25, 501, "not_supported", "not supported")

enum cairn_error {
#define CAIRN__ERR_ENUM(name, num, http, shortname, msg) CAIRN_##name = num,
    CAIRN_ERRNO_MAP(CAIRN__ERR_ENUM)
#undef CAIRN__ERR_ENUM
    CAIRN__ERR_COUNT
};

/* The generic message of @code ("unknown error" for codes not in the list).
 * The string is static. */
CAIRN_API const char *cairn_strerror(int code);

/* The short name of @code ("conflict", "not_found"...), for JSON bodies. */
CAIRN_API const char *cairn_errname(int code);

/* The HTTP status that stands for @code (500 for codes not in the list). */
CAIRN_API int cairn_http_status(int code);

/*
 * Check that @buf holds exactly one complete msgpack document whose arrays
 * and maps claim no more elements than bytes remain, nested at most 16
 * deep. Returns 0, or -1. Decoders run it before msgpack-c's unpacker,
 * which allocates room for claimed elements before reading them.
 */
CAIRN_API int cairn_msgpack_check(const void *buf, size_t len);

/* As cairn_msgpack_check(), for a document followed by other bytes: on
 * success *doc_len is the length of the document at the start of @buf. */
CAIRN_API int cairn_msgpack_check_prefix(const void *buf, size_t len,
                                         size_t *doc_len);

/* ------------------------------------------------------------------------
 * Limits
 * ---------------------------------------------------------------------- */

#define CAIRN_KEY_MAX 512                /* key length, bytes (min 1) */
#define CAIRN_KEY_META_MAX 1024          /* per-key metadata, bytes */
#define CAIRN_BUCKET_NAME_MAX 64         /* [A-Za-z0-9_-]{1,64} */
#define CAIRN_DESCRIPTION_MAX 1024       /* bucket description, bytes */
#define CAIRN_HISTORY_MAX 64             /* revisions kept per key */
#define CAIRN_REPLICAS_MAX 5             /* num_replicas */
#define CAIRN_VALUE_DEFAULT_MAX (1 << 20) /* default max_value_size: 1 MiB */
#define CAIRN_VALUE_HARD_MAX (16 << 20)  /* max_value_size -1 means this */
#define CAIRN_TAGS_MAX 16                /* placement tags per bucket */
#define CAIRN_TAG_MAX 128                /* one tag, bytes */
#define CAIRN_CLUSTER_NAME_MAX 64        /* placement cluster, bytes */
#define CAIRN_METADATA_PAIRS_MAX 16      /* bucket metadata entries */
#define CAIRN_METADATA_KEY_MAX 128       /* bucket metadata key, bytes */
#define CAIRN_METADATA_VALUE_MAX 512     /* bucket metadata value, bytes */
#define CAIRN_TXN_OPS_MAX 10000          /* writes in one txn / bulk put */
#define CAIRN_TXN_COMPARES_MAX 64        /* compares in one txn */

/* ------------------------------------------------------------------------
 * Bucket configuration
 * ---------------------------------------------------------------------- */

/* Where a bucket's replicas keep its data (docs/cairnd.md, "Memory
 * buckets"). */
enum cairn_storage_kind {
    /* On disk, synced: survives any restart. */
    CAIRN_STORAGE_FILE = 0,
    /* In each node's memory directory (tmpfs): no disk I/O when writing;
     * kept while a majority of the replicas keep it, lost on a replica
     * whose machine restarts (the others catch it up) and lost whole when
     * every replica's is lost at once. The bucket itself stays. */
    CAIRN_STORAGE_MEMORY = 1,
};

struct cairn_bucket_metadata {
    char key[CAIRN_METADATA_KEY_MAX + 1];
    char value[CAIRN_METADATA_VALUE_MAX + 1];
};

/*
 * A bucket's configuration. Initialise with cairn_bucket_config_init() to
 * get the documented defaults, then set what differs.
 */
typedef struct cairn_bucket_config {
    char name[CAIRN_BUCKET_NAME_MAX + 1];
    char description[CAIRN_DESCRIPTION_MAX + 1];
    int64_t ttl_ns;         /* 0: keys never age out (default) */
    uint32_t history;       /* 1..64, default 1 */
    int64_t max_bytes;      /* -1 (default): unlimited; else > 0 */
    int64_t max_value_size; /* default 1 MiB; -1: CAIRN_VALUE_HARD_MAX */
    uint32_t storage;       /* enum cairn_storage_kind, default file */
    uint32_t num_replicas;  /* 1..5, default 1 */
    bool compression;       /* default false */
    char cluster[CAIRN_CLUSTER_NAME_MAX + 1]; /* placement cluster, "" any */
    uint32_t n_tags;
    char tags[CAIRN_TAGS_MAX][CAIRN_TAG_MAX + 1]; /* "key:value" */
    uint32_t n_metadata;
    struct cairn_bucket_metadata metadata[CAIRN_METADATA_PAIRS_MAX];
} cairn_bucket_config;

/* Fill @cfg with the defaults and the given @name (copied; truncated names
 * are caught by cairn_bucket_config_validate). */
CAIRN_API void cairn_bucket_config_init(cairn_bucket_config *cfg,
                                        const char *name);

/*
 * Check every field of @cfg. Returns 0, or CAIRN_EINVAL with @errmsg naming
 * the field, its value and the rule ("history 65 is out of range 1..64").
 */
CAIRN_API int cairn_bucket_config_validate(const cairn_bucket_config *cfg,
                                           char *errmsg);

/* The largest value a bucket with @cfg accepts, in bytes. */
CAIRN_API int64_t cairn_bucket_value_limit(const cairn_bucket_config *cfg);

/* ------------------------------------------------------------------------
 * Writes and compares: the parts of a txn or bulk write, shared by the
 * client library, the wire protocol and the storage engine.
 * ---------------------------------------------------------------------- */

/* What a revision did to its key (also a txn write's operation). */
enum cairn_op {
    CAIRN_OP_PUT = 1,   /* set a value */
    CAIRN_OP_DEL = 2,   /* delete: a marker kept in history */
    CAIRN_OP_PURGE = 3, /* purge or expiry: history dropped, one marker */
};

/* One write to one key. Pointers are borrowed for the call. */
struct cairn_write {
    uint32_t op; /* enum cairn_op (in a txn); commands imply it */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const void *meta; /* per-key metadata, opaque bytes; NULL: none */
    size_t meta_len;
    int64_t ttl_ns;      /* > 0: expires .time + ttl_ns after the write */
    uint64_t expires_at; /* absolute expiry, ns; 0: none (not with ttl) */
};

enum cairn_cmp_target {
    CAIRN_CMP_VALUE = 1,    /* the latest value (absent keys never match) */
    CAIRN_CMP_REVISION = 2, /* the latest revision (0 when absent) */
    CAIRN_CMP_EXISTS = 3,   /* whether the key has a live value */
};

enum cairn_cmp_op {
    CAIRN_CMP_EQ = 1,
    CAIRN_CMP_NE = 2,
    CAIRN_CMP_LT = 3, /* revision only */
    CAIRN_CMP_GT = 4, /* revision only */
};

struct cairn_compare {
    const void *key;
    size_t key_len;
    uint32_t target; /* enum cairn_cmp_target */
    uint32_t op;     /* enum cairn_cmp_op; EXISTS uses EQ with .exists */
    const void *value;
    size_t value_len;
    uint64_t revision;
    bool exists;
};

/* ========================================================================
 * libcairn: the client library
 * ========================================================================
 *
 * Overview
 * --------
 * A cairn_client is a connection to a cluster. It is opened with a list of
 * seed addresses; it learns the cluster map (the nodes, each bucket's
 * replicas and leader) from cluster.status, sends every write and every
 * linearizable read to the bucket's leader, follows 421 redirects, and on a
 * lost connection, a leader change or a cluster without a leader retries
 * with backoff until the call's deadline. Then it fails with
 * CAIRN_EUNAVAILABLE or CAIRN_ETIMEDOUT and a message saying what it tried.
 *
 * Exactly-once writes: every write carries the client's random 64-bit id
 * and a sequence number. A write retried after an unknown outcome (the
 * connection broke after it was sent, the leader changed after logging it)
 * is sent again with the same pair; the bucket's state machine applies it
 * at most once and answers the retry with the original result.
 *
 * Threads: a client runs one I/O thread of its own (libuv). Every function
 * below may be called from any number of threads at once on the same
 * client; calls from several threads share the connections and are
 * pipelined (many requests in flight per connection). cairn_client_close()
 * must not run concurrently with other calls on the same client.
 *
 * Errors: every call returns 0 or a code of the list above, and fills
 * @errmsg (CAIRN_ERRMSG_SIZE bytes; NULL accepted) with a message naming
 * the operation, the bucket and key, and the cause:
 * "put config/db.url: bucket 'config' is full (max_bytes 1048576)".
 * A negative answer is a code like any other: CAIRN_ENOTFOUND (no such
 * key), CAIRN_ENOBUCKET, CAIRN_ECONFLICT (a precondition failed; the
 * key's current revision is in the result).
 *
 * Ownership: inputs are borrowed for the call. Outputs that need memory
 * (entries, lists, the cluster map) are allocated by the library and freed
 * with the matching *_free() function; fixed-size outputs are structs the
 * caller provides.
 */

typedef struct cairn_client cairn_client;

/* Options of cairn_client_open(). Zero fields take the defaults. */
struct cairn_client_options {
    /* Seed addresses, "host:port" separated by commas ("127.0.0.1:7401,
     * 127.0.0.1:7402"); hosts are IPv4/IPv6 literals or names. Required. */
    const char *servers;
    const char *name;            /* sent in hello; NULL: "libcairn" */
    uint32_t connect_timeout_ms; /* one connection attempt; default 2000 */
    uint32_t request_timeout_ms; /* one attempt of a request; default 5000 */
    uint32_t deadline_ms;        /* a whole call, retries included;
                                  * default 15000 */
};

/*
 * Open a client for the cluster reachable at @opts->servers. Connections
 * are made lazily: opening checks the options and starts the I/O thread,
 * it does not wait for a node (the first call does).
 * On success *out owns the client: close it with cairn_client_close().
 * Errors: CAIRN_EINVAL (no servers, a malformed address, naming it),
 * CAIRN_ENOMEM, CAIRN_EINTERNAL (the I/O thread could not start).
 */
CAIRN_API int cairn_client_open(const struct cairn_client_options *opts,
                                cairn_client **out, char *errmsg);

/* Close @c: fail the calls still in flight with CAIRN_ECANCELED, close
 * every connection, stop the I/O thread and free @c. NULL is accepted. */
CAIRN_API void cairn_client_close(cairn_client *c);

/* The client's id, sent with every write for exactly-once retries. */
CAIRN_API uint64_t cairn_client_id(const cairn_client *c);

/* ------------------------------------------------------------------------
 * Results
 * ---------------------------------------------------------------------- */

/* A revision of a key. Allocated by the library, one block per entry or
 * per list: key, value and meta point inside it. */
typedef struct cairn_entry {
    const void *key;
    size_t key_len;
    const void *value; /* NULL for DEL/PURGE markers and keys-only scans */
    size_t value_len;
    const void *meta; /* per-key metadata; NULL: none */
    size_t meta_len;
    uint64_t revision;
    uint64_t create_revision;
    uint64_t updated; /* ns since the epoch */
    uint64_t expires; /* ns since the epoch; 0: never */
    uint32_t op;      /* enum cairn_op: PUT, DEL or PURGE */
} cairn_entry;

/* Free an entry from cairn_get(). NULL is accepted. */
CAIRN_API void cairn_entry_free(cairn_entry *e);

/* A list of entries (history, scan, keys). */
typedef struct cairn_entries {
    size_t n;
    cairn_entry *entries;
    bool more;          /* scan: more keys after this page */
    const void *cursor; /* scan: pass to the next page's options; NULL: none */
    size_t cursor_len;
    uint64_t at; /* stale reads: the replica's last revision; else 0 */
} cairn_entries;

/* Free a list from cairn_history(), cairn_scan() or cairn_keys(). NULL is
 * accepted. */
CAIRN_API void cairn_entries_free(cairn_entries *l);

/* What a write did. */
typedef struct cairn_result {
    uint64_t revision;         /* the write's revision (txn: the first) */
    uint64_t last_revision;    /* txn: the last new revision */
    uint64_t current_revision; /* CAIRN_ECONFLICT: the key's latest */
    uint32_t failed_compare;   /* txn CAIRN_ECONFLICT: which compare */
} cairn_result;

/* One replica of a bucket. */
typedef struct cairn_replica {
    uint64_t node;
    bool leader;
    uint64_t applied; /* the replica's applied log index; 0: unknown */
    /* From the bucket's leader (cairn_bucket_info(); has_lag): how many
     * log entries the replica lacks of the leader's log (0: current), and
     * whether it answered the leader within the last election timeout. */
    bool has_lag;
    uint64_t lag;
    bool active;
} cairn_replica;

/* A bucket's status (cairn_bucket_info()). Fixed size: no free needed. */
typedef struct cairn_bucket_details {
    cairn_bucket_config config;
    uint64_t created;   /* ns since the epoch */
    uint64_t keys;      /* live keys */
    uint64_t bytes;     /* key+value+metadata bytes of the kept
                         * revisions, before compression (max_bytes counts
                         * these) */
    uint64_t stored_bytes; /* the same as stored, after compression */
    uint64_t revision;  /* last revision */
    uint64_t compacted; /* revisions up to this one are no longer kept */
    uint32_t n_replicas;
    cairn_replica replicas[CAIRN_REPLICAS_MAX];
} cairn_bucket_details;

#define CAIRN_ADDRESS_MAX 64
#define CAIRN_NODE_NAME_MAX 64

/* A node of the cluster map. */
typedef struct cairn_node {
    uint64_t id;
    char name[CAIRN_NODE_NAME_MAX + 1];
    char client[CAIRN_ADDRESS_MAX + 1]; /* client protocol address */
    char peer[CAIRN_ADDRESS_MAX + 1];   /* Raft peer address */
    char http[CAIRN_ADDRESS_MAX + 1];   /* HTTP API address; "": none */
    char cluster[CAIRN_CLUSTER_NAME_MAX + 1];
    char role[16]; /* meta group: "voter", "standby", "spare" or "" */
    bool reachable; /* cairn_cluster_status(): the node answered */
    uint32_t n_tags;
    char tags[CAIRN_TAGS_MAX][CAIRN_TAG_MAX + 1];
} cairn_node;

/* A bucket of the cluster map. */
typedef struct cairn_bucket_status {
    char name[CAIRN_BUCKET_NAME_MAX + 1];
    uint32_t n_replicas;
    cairn_replica replicas[CAIRN_REPLICAS_MAX];
} cairn_bucket_status;

/* The cluster map. */
typedef struct cairn_cluster {
    size_t n_nodes;
    cairn_node *nodes;
    size_t n_buckets;
    cairn_bucket_status *buckets;
} cairn_cluster;

/* Free a map from cairn_cluster_status(). NULL is accepted. */
CAIRN_API void cairn_cluster_free(cairn_cluster *m);

/* Free a name list from cairn_bucket_list(). NULL is accepted. */
CAIRN_API void cairn_names_free(char **names, size_t n);

/* ------------------------------------------------------------------------
 * Options of reads and writes (NULL pointers: the defaults)
 * ---------------------------------------------------------------------- */

struct cairn_read_options {
    uint64_t revision; /* get: that revision of the key; 0: the latest */
    bool stale; /* served by any replica from its local state, possibly
                 * behind; default false: linearizable, from the leader */
};

struct cairn_write_options {
    int64_t ttl_ns;      /* > 0: the key expires this long after the write */
    uint64_t expires_at; /* absolute expiry, ns since the epoch (not with
                          * ttl_ns); 0: none */
    const void *meta;    /* per-key metadata (opaque bytes, <= 1 KiB) */
    size_t meta_len;
};

struct cairn_scan_options {
    const void *start; /* first key (inclusive); NULL: the first */
    size_t start_len;
    const void *end; /* end key (exclusive); NULL: to the last */
    size_t end_len;
    const void *prefix; /* only keys with this prefix; NULL: any */
    size_t prefix_len;
    const void *cursor; /* a previous page's cursor; NULL: first page */
    size_t cursor_len;
    uint32_t limit; /* keys per page; 0: as many as fit a page */
    bool keys_only; /* entries without values */
    bool stale;     /* see cairn_read_options */
};

/* ------------------------------------------------------------------------
 * Buckets and the cluster
 * ---------------------------------------------------------------------- */

/* Create a bucket with @cfg (see cairn_bucket_config_init()). *created
 * (may be NULL) gets its creation time. Errors: CAIRN_EINVAL (a field, by
 * name), CAIRN_EEXIST, CAIRN_EPLACEMENT ("placement needs 3 nodes with
 * tags [disk:ssd], 2 match"), and the errors of every call. */
CAIRN_API int cairn_bucket_create(cairn_client *c,
                                  const cairn_bucket_config *cfg,
                                  uint64_t *created, char *errmsg);

/* Delete bucket @name and all its data on every replica.
 * Errors: CAIRN_ENOBUCKET. */
CAIRN_API int cairn_bucket_delete(cairn_client *c, const char *name,
                                  char *errmsg);

/* The names of every bucket, sorted: *names (free with cairn_names_free())
 * holds *n NUL-terminated names. */
CAIRN_API int cairn_bucket_list(cairn_client *c, char ***names, size_t *n,
                                char *errmsg);

/* Bucket @name's configuration and status into @out. Errors:
 * CAIRN_ENOBUCKET. */
CAIRN_API int cairn_bucket_info(cairn_client *c, const char *name,
                                cairn_bucket_details *out, char *errmsg);

/*
 * The cluster map, asked of every known node at once: the nodes (with
 * .reachable), and each bucket's replicas with the leader and each
 * replica's applied index as that replica reports it (so the lag of a
 * replica is the leader's applied minus its own). On success *out is
 * freed with cairn_cluster_free(). Errors: CAIRN_EUNAVAILABLE when no
 * node answered.
 */
CAIRN_API int cairn_cluster_status(cairn_client *c, cairn_cluster **out,
                                   char *errmsg);

/* ------------------------------------------------------------------------
 * Keys. @key is 1..CAIRN_KEY_MAX bytes; values are bytes.
 * ---------------------------------------------------------------------- */

/* The latest revision of @key (or the one @ro asks for) into *out (free
 * with cairn_entry_free()). A deleted key, or a revision asked for that was
 * a deletion, is CAIRN_ENOTFOUND ("key deleted"); cairn_history() shows the
 * markers. An empty value is value_len 0 with a non-NULL value.
 * Errors: CAIRN_ENOTFOUND, CAIRN_ENOBUCKET, CAIRN_ECOMPACTED. */
CAIRN_API int cairn_get(cairn_client *c, const char *bucket, const void *key,
                        size_t key_len, const struct cairn_read_options *ro,
                        cairn_entry **out, char *errmsg);

/* Whether @key has a live value. */
CAIRN_API int cairn_exists(cairn_client *c, const char *bucket,
                           const void *key, size_t key_len,
                           const struct cairn_read_options *ro, bool *exists,
                           char *errmsg);

/* Set @key to @value. @res (may be NULL) gets the new revision.
 * Errors: CAIRN_ETOOLARGE, CAIRN_EFULL, CAIRN_EINVAL. */
CAIRN_API int cairn_put(cairn_client *c, const char *bucket, const void *key,
                        size_t key_len, const void *value, size_t value_len,
                        const struct cairn_write_options *wo,
                        cairn_result *res, char *errmsg);

/* Set @key only if it has no live value: CAIRN_ECONFLICT otherwise (with
 * res->current_revision). */
CAIRN_API int cairn_create(cairn_client *c, const char *bucket,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len,
                           const struct cairn_write_options *wo,
                           cairn_result *res, char *errmsg);

/* Set @key only if its latest revision is @revision: CAIRN_ECONFLICT
 * otherwise (with res->current_revision). */
CAIRN_API int cairn_update(cairn_client *c, const char *bucket,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len, uint64_t revision,
                           const struct cairn_write_options *wo,
                           cairn_result *res, char *errmsg);

/* Set @key to @value only if its value equals @old (@old NULL: only if it
 * is absent): CAIRN_ECONFLICT otherwise. */
CAIRN_API int cairn_cas(cairn_client *c, const char *bucket, const void *key,
                        size_t key_len, const void *old, size_t old_len,
                        const void *value, size_t value_len,
                        const struct cairn_write_options *wo,
                        cairn_result *res, char *errmsg);

/* Delete @key (a DEL marker kept in history); @revision != 0: only if that
 * is its latest revision. */
CAIRN_API int cairn_delete(cairn_client *c, const char *bucket,
                           const void *key, size_t key_len, uint64_t revision,
                           cairn_result *res, char *errmsg);

/* Purge @key: drop its history, leave one PURGE marker. */
CAIRN_API int cairn_purge(cairn_client *c, const char *bucket,
                          const void *key, size_t key_len, uint64_t revision,
                          cairn_result *res, char *errmsg);

/* The revisions of @key still kept, newest first, markers included. */
CAIRN_API int cairn_history(cairn_client *c, const char *bucket,
                            const void *key, size_t key_len,
                            const struct cairn_read_options *ro,
                            cairn_entries **out, char *errmsg);

/* One page of live keys in key order (@so NULL: the whole bucket's first
 * page). Pass out->cursor in the next call's options while out->more. */
CAIRN_API int cairn_scan(cairn_client *c, const char *bucket,
                         const struct cairn_scan_options *so,
                         cairn_entries **out, char *errmsg);

/* Every live key (with @prefix when non-NULL), all pages, keys only. */
CAIRN_API int cairn_keys(cairn_client *c, const char *bucket,
                         const void *prefix, size_t prefix_len, bool stale,
                         cairn_entries **out, char *errmsg);

/* The number of live keys in the range of @so (cursor and limit unused). */
CAIRN_API int cairn_count(cairn_client *c, const char *bucket,
                          const struct cairn_scan_options *so,
                          uint64_t *count, char *errmsg);

/* All of @writes (each with its op: PUT, DEL or PURGE) if every compare
 * holds, else none: CAIRN_ECONFLICT with res->failed_compare. Without
 * compares (@cmp NULL) it is an atomic bulk write (<= CAIRN_TXN_OPS_MAX). */
CAIRN_API int cairn_txn(cairn_client *c, const char *bucket,
                        const struct cairn_compare *cmp, uint32_t n_cmp,
                        const struct cairn_write *writes, uint32_t n_writes,
                        cairn_result *res, char *errmsg);

/* ------------------------------------------------------------------------
 * Watches
 *
 * A watch follows a bucket, one key, or the keys with a prefix. It first
 * delivers the initial data: the current value of every matching key
 * (deleted keys whose DEL or PURGE marker is still kept come as that
 * marker), or with a `from` revision every kept change from that revision
 * on; then one CAIRN_WATCH_SYNCED event; then every change as it is
 * applied. Events come in revision order, each revision at most once, and
 * none is skipped, across leader changes, lost connections and nodes that
 * stop: the library resumes the watch, on the bucket's leader when it knows
 * it and else on any replica that answers, from
 * the revision after the last one it delivered, and delivers the SYNCED
 * event only once. A revision that was superseded before the watch read it
 * (the bucket keeps `history` revisions per key; purge and expiry drop a
 * key's older ones) is not delivered: the revision that superseded it is,
 * so what each key went through is always told, if not every step of it.
 *
 * A watch ends, with an error, when it cannot go on without a gap: a
 * `from` older than the history the bucket still keeps is
 * CAIRN_ECOMPACTED ("revision 17 is no longer kept; oldest is 40"), so is
 * a watcher that fell so far behind that the bucket dropped a deletion it
 * had not read yet. It also ends when the bucket is deleted
 * (CAIRN_ENOBUCKET) and when no replica answers for deadline_ms
 * (CAIRN_EUNAVAILABLE). A node cuts off a watcher that does not read what
 * it is sent (more than 8 MiB waiting on its connection): the library
 * resumes it when it reads again.
 *
 * Two ways to consume events:
 * - callbacks (cairn_watch_open() with a @cb): @cb runs on the client's I/O
 *   thread, one event at a time. It must return quickly and must not call
 *   the blocking functions of the same client (they wait for the thread
 *   that is running the callback); it may call cairn_watch_cancel().
 *   While it runs, no other request of the client makes progress.
 * - an iterator (cairn_watch_open() with @cb NULL, then
 *   cairn_watch_next()): events are queued for the caller; when the caller
 *   falls more than 10000 events or 16 MiB behind, the library stops the
 *   watch on the node and resumes it when the queue has drained, so a slow
 *   reader costs neither it nor the node unbounded memory.
 * ---------------------------------------------------------------------- */

typedef struct cairn_watch cairn_watch;

/* What a watch follows and where it starts. Pointers are borrowed for the
 * call to cairn_watch_open(). */
struct cairn_watch_options {
    const void *key; /* only this key (1..512 bytes); NULL: see prefix */
    size_t key_len;
    const void *prefix; /* only keys with this prefix; NULL: every key */
    size_t prefix_len;
    /* 0: the current values first. Else every change kept from this
     * revision on (1: the bucket's whole kept history). */
    uint64_t from;
};

enum cairn_watch_event_type {
    CAIRN_WATCH_ENTRY = 1,  /* a revision of a key: .entry */
    CAIRN_WATCH_SYNCED = 2, /* the initial data is complete, up to
                             * .revision */
    CAIRN_WATCH_ENDED = 3,  /* (callbacks only) the watch ended: .code and
                             * .errmsg say why; no event follows */
};

/* One event. From cairn_watch_next() it is allocated in one block (free
 * it with cairn_watch_event_free()); in a callback it is borrowed for the
 * call. */
typedef struct cairn_watch_event {
    uint32_t type;      /* enum cairn_watch_event_type */
    uint64_t revision;  /* ENTRY: the entry's; SYNCED: the revision the
                         * initial data reached */
    cairn_entry entry;  /* ENTRY: the key, its value (PUT) and revisions */
    int code;           /* ENDED: the error. Not delivered after
                         * cairn_watch_cancel(): a cancelled watch gets
                         * no further callback at all */
    const char *errmsg; /* ENDED: its message */
} cairn_watch_event;

/* A watch callback: @ev is borrowed for the call. */
typedef void (*cairn_watch_cb)(void *data, const cairn_watch_event *ev);

/*
 * Watch @bucket as @wo says (NULL: every key, current values first). With
 * @cb, events go to @cb(@data, event) on the I/O thread (the first ones
 * possibly before this function returns); with @cb NULL, the caller takes
 * them with cairn_watch_next(). Returns once a node has accepted the watch
 * (its first frame arrived), so errors about the request itself come back
 * here. On success *out is the watch: end it with cairn_watch_close().
 * Errors: CAIRN_EINVAL (bucket name, empty key, a key and a prefix),
 * CAIRN_ENOBUCKET, CAIRN_ECOMPACTED (@wo->from is older than the history
 * kept), CAIRN_EUNAVAILABLE / CAIRN_ETIMEDOUT (no replica answered within
 * the client's deadline), CAIRN_ENOMEM.
 */
CAIRN_API int cairn_watch_open(cairn_client *c, const char *bucket,
                               const struct cairn_watch_options *wo,
                               cairn_watch_cb cb, void *data,
                               cairn_watch **out, char *errmsg);

/*
 * The next event of an iterator watch into *ev (free it with
 * cairn_watch_event_free()), waiting at most @timeout_ms (0: do not wait;
 * negative: wait as long as it takes). Returns 0 with an ENTRY or SYNCED
 * event; CAIRN_ETIMEDOUT when none came in time (the watch goes on);
 * CAIRN_ECANCELED once cairn_watch_cancel() was called; or the error that
 * ended the watch, with @errmsg, at every call after the events queued
 * before it were taken. CAIRN_EINVAL for a callback watch.
 */
CAIRN_API int cairn_watch_next(cairn_watch *w, int timeout_ms,
                               cairn_watch_event **ev, char *errmsg);

/* Free an event from cairn_watch_next(). NULL is accepted. */
CAIRN_API void cairn_watch_event_free(cairn_watch_event *ev);

/*
 * Stop @w: no callback runs once this returns (when called from a
 * callback, none after that callback), and cairn_watch_next() returns
 * CAIRN_ECANCELED. The node is told to stop sending. Any thread may call
 * it, any number of times. @w stays allocated until cairn_watch_close().
 */
CAIRN_API void cairn_watch_cancel(cairn_watch *w);

/*
 * Cancel @w and free it, with the events still queued. Call it once per
 * watch, not from one of its callbacks, not while another thread uses @w,
 * and before cairn_client_close() of its client. NULL is accepted.
 */
CAIRN_API void cairn_watch_close(cairn_watch *w);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_H */
