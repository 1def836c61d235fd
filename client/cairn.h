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

enum cairn_storage_kind {
    CAIRN_STORAGE_FILE = 0,
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

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_H */
