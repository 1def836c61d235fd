/* Private to storage/: shared between the engine's files, never included
 * from another folder (CMake keeps this directory's private headers off the
 * other modules' include paths by convention: only storage.h is public). */
#ifndef CAIRN_STORAGE_INTERNAL_H
#define CAIRN_STORAGE_INTERNAL_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdarg.h>

#include "storage.h"

/* Format 2 added the per-bucket dedup database (d.<id>); format 1 is
 * upgraded in place at open. */
#define STORAGE_FORMAT_VERSION 2
#define STORAGE_FORMAT_V1 1
#define RECORD_VERSION 1
/* A record whose value is stored as one zstd frame (compress.c). */
#define RECORD_VERSION_ZSTD 2
#define GROUP_VERSION 0x81
#define STATE_VERSION 1
#define CURSOR_VERSION 1
#define SNAPSHOT_MAGIC "CAIRNSNP"
/* Version 2 added the dedup table; version 1 is still restored. */
#define SNAPSHOT_VERSION 2
#define SNAPSHOT_VERSION_V1 1
#define CODEC_VERSION 1

/* Keys of this length or longer live in a group record (docs/storage.md). */
#define GROUP_KEY_LEN 511

/* A PURGE marker left by expiry in a bucket without a ttl ages out after
 * this long, so expired keys do not leave markers behind forever. */
#define EXPIRY_MARKER_NS (3600ULL * 1000000000ULL)

/* In a bucket with compression, values of at least this many bytes are
 * stored zstd-compressed when that makes them smaller (compress.c). */
#define STORAGE_COMPRESS_MIN 256

#define RECORD_HEADER 48
#define RECORD_TRAILER 8

/* ------------------------------------------------------------------------
 * Errors: every function that fails writes a message with context.
 * ---------------------------------------------------------------------- */

/* Write a formatted message into @errmsg (may be NULL) and return @code. */
int storage__fail(char *errmsg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Translate LMDB/errno @rc into a cairn code, writing "@what: <reason>". */
int storage__mdb_fail(char *errmsg, int rc, const char *what);

/* Prefix @errmsg's current message with "@what: ". */
void storage__wrap(char *errmsg, const char *what);

/* ------------------------------------------------------------------------
 * Entry records (record.c)
 * ---------------------------------------------------------------------- */

/* A record to write: every pointer borrowed. */
struct record {
    uint32_t op;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const void *meta;
    size_t meta_len;
    uint64_t revision;
    uint64_t create_revision;
    uint64_t updated;
    uint64_t expires_at;
    const uint64_t *older; /* older kept revisions, newest first */
    uint32_t n_older;
    /* Not NULL: the value as stored, one zstd frame of .value_len bytes
     * once decompressed (.value is then ignored). */
    const void *zvalue;
    size_t zvalue_len;
};

/* A decoded, verified record: views into the bytes it was read from. */
struct record_view {
    /* For a compressed value, e.value is NULL and e.value_len the value's
     * length once decompressed, until storage__inflate() sets e.value. */
    struct storage_entry e;
    const uint8_t *zvalue; /* the stored zstd frame; NULL: not compressed */
    size_t zvalue_len;
    const uint8_t *older; /* n_older little-endian u64s, unaligned */
    uint32_t n_older;
    size_t size; /* encoded size */
};

size_t storage__record_size(const struct record *r);
void storage__record_write(uint8_t *dst, const struct record *r);
/* Decode and verify the record in @buf. Returns 0 or CAIRN_ECORRUPT. */
int storage__record_read(const void *buf, size_t len, struct record_view *out,
                         char *errmsg);
uint64_t storage__record_older(const struct record_view *v, uint32_t i);
/* Bytes a kept revision counts against max_bytes (logical: the value's
 * length before compression). */
uint64_t storage__entry_bytes(const struct storage_entry *e);
/* The same bytes as stored (after compression). */
uint64_t storage__view_stored_bytes(const struct record_view *v);
/* Fill @r to write the record @v again as it is stored (the caller sets
 * .older/.n_older). */
void storage__record_from_view(struct record *r, const struct record_view *v);

/* ------------------------------------------------------------------------
 * Compression (compress.c)
 * ---------------------------------------------------------------------- */

/* Compress @len bytes at @src when that is worth it: *out (malloc'd, the
 * caller frees it) and *out_len, or *out NULL to store the value as it is.
 * Errors: none (a failure to compress stores the value raw). */
void storage__compress(storage *s, const void *src, size_t len, void **out,
                       size_t *out_len);
/* Free @s's zstd contexts. */
void storage__zstd_free(storage *s);

/* The decompressed size a zstd frame of @len bytes declares; 0 when it is
 * not a frame with its size (every frame compress.c writes has it). */
unsigned long long storage__zstd_size(const void *frame, size_t len);

/* Decompress @v's value, if compressed, into @buf (storage__buf_get) and
 * point v->e.value at it. Errors: CAIRN_ECORRUPT (naming @bucket and the
 * revision), CAIRN_ENOMEM. */
struct storage_bufs;
int storage__inflate(storage *s, struct storage_bufs *bufs,
                     struct record_view *v, const char *bucket,
                     char *errmsg);

/* Buffers that live as long as a transaction (decompressed values). */
struct storage_bufs {
    void **p;
    uint32_t n, cap;
};
/* A buffer of @size bytes owned by @b. NULL: out of memory. */
void *storage__buf_get(struct storage_bufs *b, size_t size);
/* Free every buffer of @b. */
void storage__bufs_free(struct storage_bufs *b);

uint64_t storage__get_u64le(const uint8_t *p);
void storage__put_u64le(uint8_t *p, uint64_t v);
uint32_t storage__get_u32le(const uint8_t *p);
void storage__put_u32le(uint8_t *p, uint32_t v);
void storage__put_u64be(uint8_t *p, uint64_t v);
uint64_t storage__get_u64be(const uint8_t *p);

/* ------------------------------------------------------------------------
 * Buckets (bucket.c)
 * ---------------------------------------------------------------------- */

struct bucket_counters {
    uint64_t keys;
    uint64_t bytes;  /* logical: what max_bytes limits */
    uint64_t stored; /* the same bytes as stored (after compression) */
    uint64_t rev;
    uint64_t compacted;
    uint64_t applied;
};

/* An open bucket: cached for the life of the environment. */
struct bucket {
    uint32_t id;
    cairn_bucket_config cfg;
    uint64_t created;
    MDB_dbi kdb; /* key -> latest record (or group) */
    MDB_dbi rdb; /* revision -> record */
    MDB_dbi tdb; /* expiry + revision -> empty */
    MDB_dbi ddb; /* dedup table: client results, sessions, time index */
    struct bucket_counters c; /* as last committed */
};

struct storage {
    MDB_env *env;
    MDB_dbi meta;
    uint32_t max_buckets;
    struct bucket **buckets; /* sorted by name */
    uint32_t n_buckets;
    /* A finished read transaction kept reset for the next reader: LMDB's
     * mdb_txn_begin allocates and zeroes ~49 bytes per possible database
     * (3 per bucket), which dominated short reads; renew allocates
     * nothing. */
    storage_txn *idle_read;
    /* zstd contexts, made at first use and kept: a context per call costs
     * more than compressing a small value (compress.c). */
    struct ZSTD_CCtx_s *zc;
    struct ZSTD_DCtx_s *zd;
};

/* A bucket touched by a write transaction, with its working counters. */
struct touched {
    struct bucket *b;
    struct bucket_counters c;
};

struct storage_txn {
    storage *s;
    MDB_txn *txn;
    bool write;
    struct touched *touched;
    uint32_t n_touched;
    uint32_t cap_touched;
    struct storage_bufs bufs; /* decompressed values read in it */
};

struct bucket *storage__bucket_find(storage *s, const char *name);
/* Load every bucket of the environment into the cache (at open). */
int storage__buckets_load(storage *s, MDB_txn *txn, bool upgrade,
                          char *errmsg);
void storage__buckets_free(storage *s);
/* Write @b's counters @c into @txn. */
int storage__counters_put(MDB_txn *txn, storage *s, const struct bucket *b,
                          const struct bucket_counters *c, char *errmsg);
int storage__counters_get(MDB_txn *txn, storage *s, const struct bucket *b,
                          struct bucket_counters *c, char *errmsg);
/* Create bucket @cfg in @txn (not yet cached); *out is malloc'd. */
int storage__bucket_new(storage *s, MDB_txn *txn, const cairn_bucket_config *cfg,
                        uint64_t created, struct bucket **out, char *errmsg);
int storage__bucket_cache_add(storage *s, struct bucket *b, char *errmsg);
/* Write @b's config record into @txn. */
int storage__config_put(MDB_txn *txn, storage *s, const struct bucket *b,
                        char *errmsg);

/* msgpack encoding of a config (codec.c) */
void storage__config_pack(msgpack_packer *pk, const cairn_bucket_config *cfg);
int storage__config_unpack(const msgpack_object *o, cairn_bucket_config *cfg,
                           char *errmsg);

/* ------------------------------------------------------------------------
 * Keyspace: the key -> latest record database with group records
 * (keyspace.c)
 * ---------------------------------------------------------------------- */

/* Find @key's latest record. Returns 0, CAIRN_ENOTFOUND or an error. The
 * view is valid until the next write in @txn. */
int storage__ks_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len,
                    struct record_view *out, char *errmsg);
/* Store @r as @r->key's latest record. */
int storage__ks_put(MDB_txn *txn, MDB_dbi dbi, const struct record *r,
                    char *errmsg);
/* Remove @key's latest record (absent: no-op). */
int storage__ks_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len,
                    char *errmsg);

/* Byte order of keys: memcmp, then the shorter first. */
int storage__key_cmp(const void *a, size_t alen, const void *b, size_t blen);

/* Iterates user keys in byte order across plain and group records. */
struct ks_cursor {
    MDB_cursor *c;
    MDB_val k, v;
    bool valid;
    uint32_t member; /* group: current member index */
    uint32_t count;  /* group: members; plain: 1 */
    size_t offset;   /* group: offset of the current member */
    struct record_view cur;
};

int storage__ks_open(MDB_txn *txn, MDB_dbi dbi, struct ks_cursor *kc,
                     char *errmsg);
void storage__ks_close(struct ks_cursor *kc);
/* Position at the first key >= @key (NULL: the first key). */
int storage__ks_seek(struct ks_cursor *kc, const void *key, size_t len,
                     char *errmsg);
int storage__ks_next(struct ks_cursor *kc, char *errmsg);

/* ------------------------------------------------------------------------
 * Revisions (apply.c, read.c)
 * ---------------------------------------------------------------------- */

int storage__rev_get(MDB_txn *txn, const struct bucket *b, uint64_t rev,
                     struct record_view *out, char *errmsg);
bool storage__is_live(const struct storage_entry *e, uint64_t now);
int storage__check_key(const void *key, size_t len, char *errmsg);

/* ------------------------------------------------------------------------
 * Transactions (env.c)
 * ---------------------------------------------------------------------- */

int storage__txn_begin(storage *s, bool write, storage_txn **out,
                       char *errmsg);
/* The working counters of @b in write txn @t (added on first touch). */
struct bucket_counters *storage__touch(storage_txn *t, struct bucket *b,
                                       char *errmsg);
int storage__apply_in(storage_txn *t, struct bucket *b,
                      const struct storage_cmd *cmd, uint64_t index,
                      struct storage_result *res, char *errmsg);

/* ------------------------------------------------------------------------
 * At-most-once writes: the dedup table of a bucket (dedup.c; the record
 * formats are in docs/storage.md, "At-most-once writes")
 * ---------------------------------------------------------------------- */

/* Kinds of dedup table keys (their first byte). */
#define DEDUP_RESULT 'r'  /* 'r' · cid · seq (u64 BE) -> result record */
#define DEDUP_SESSION 's' /* 's' · cid -> session record */
#define DEDUP_TIME 't'    /* 't' · indexed time · cid -> empty */

#define DEDUP_RESULT_VERSION 1
#define DEDUP_SESSION_VERSION 1
#define DEDUP_RESULT_HEADER 40
#define DEDUP_SESSION_SIZE 32

/* A session's time index entry moves only when its last use moved by more
 * than this, so most writes rewrite the session record alone. */
#define DEDUP_REINDEX_NS (60ULL * 1000000000ULL)
/* At most this many stale sessions are examined per write. */
#define DEDUP_GC_MAX 4

/*
 * Before applying @cmd (cmd->cid != 0) to @b: when (cid, seq) has a stored
 * result, fill @res with it (res->duplicate) and refresh the session; when
 * seq is below the client's retry window with no result kept, refuse it in
 * @res (CAIRN_EINVAL). *handled says whether @res now holds the outcome;
 * if not, the command is to be applied and then recorded with
 * storage__dedup_record(). Returns non-zero only for environment errors.
 */
int storage__dedup_check(MDB_txn *txn, struct bucket *b,
                         const struct storage_cmd *cmd,
                         struct storage_result *res, bool *handled,
                         char *errmsg);

/*
 * After applying @cmd (cmd->cid != 0) with outcome @res: store the result,
 * update the client's session, drop its results below the window and at
 * most DEDUP_GC_MAX stale sessions of other clients. Returns non-zero only
 * for environment errors (then the transaction must be aborted).
 */
int storage__dedup_record(MDB_txn *txn, struct bucket *b,
                          const struct storage_cmd *cmd,
                          const struct storage_result *res, char *errmsg);

/* Check one dedup table entry (as stored and as carried in a snapshot):
 * the key's kind and size, the value's version and size. Returns 0 or
 * CAIRN_ECORRUPT. */
int storage__dedup_entry_check(const void *key, size_t klen, const void *val,
                               size_t vlen, char *errmsg);

/* Check that the dedup table of @b in @txn is consistent: every result and
 * time index entry belongs to a session, every session has exactly its
 * time index entry. Returns 0, CAIRN_ECORRUPT or an environment error. */
int storage__dedup_verify(MDB_txn *txn, const struct bucket *b,
                          char *errmsg);

#endif /* CAIRN_STORAGE_INTERNAL_H */
