/*
 * storage.h — cairn's storage engine: buckets of keys with revisions,
 * history, TTL, conditional writes, scans and snapshots, on LMDB.
 *
 * Overview
 * --------
 * A `storage` is one LMDB environment in a node's data directory; it holds
 * every bucket replica of the node. The engine is pure and deterministic: it
 * never reads a clock (every command carries its proposer's timestamp, every
 * read takes the caller's `now`), opens no socket and knows nothing of Raft.
 * Two replicas that apply the same commands hold the same state, byte for
 * byte in what any read can observe.
 *
 * Writes are commands (struct storage_cmd). Each is applied in one LMDB write
 * transaction, and either applies whole or changes nothing: its outcome (new
 * revision, conflict with the key's current revision, a limit error) is in
 * struct storage_result. Every applied write to a key takes the bucket's next
 * revision; a txn takes one per write, in order.
 *
 * Encodings: commands, results and snapshots are msgpack documents that carry
 * a format version (docs/storage.md describes them field by field); the
 * decoders refuse malformed input with CAIRN_EMALFORMED or CAIRN_EVERSION and
 * never read outside the buffer they are given.
 *
 * Caveats
 * -------
 * - Map size: LMDB never grows its map by itself. When the map is full, a
 *   write fails with CAIRN_ENOSPACE and nothing is written; reopen with a
 *   larger storage_options.map_size.
 * - Keep read transactions short. A read transaction pins the pages it sees;
 *   while one is open, pages freed by writers cannot be reused and the file
 *   grows. Views returned by reads (struct storage_entry) are valid only
 *   until the transaction ends: copy what you keep.
 * - Stale readers: the environment reaps reader slots of dead processes when
 *   it is opened (mdb_reader_check); one process should own a data directory
 *   (the node takes a lock on it).
 * - With storage_options.no_sync the last commits before a crash may be lost
 *   (never reordered or torn); the caller must be able to re-apply them (the
 *   node replays its Raft log from the applied index stored here).
 * - A storage handle and its transactions belong to one thread at a time.
 * - storage_bucket_delete() closes the bucket's LMDB handles: no
 *   transaction of the same handle may be open across it.
 */
#ifndef CAIRN_STORAGE_H
#define CAIRN_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

typedef struct storage storage;
typedef struct storage_txn storage_txn;

/* ------------------------------------------------------------------------
 * Environment
 * ---------------------------------------------------------------------- */

struct storage_options {
    uint64_t map_size;    /* bytes; 0: 1 GiB */
    uint32_t max_buckets; /* 0: 1024 */
    bool no_sync;         /* skip fsync on commit (see Caveats) */
};

/*
 * Open (creating if missing) the storage in directory @dir, with @opts
 * (NULL: defaults). On success *out owns the environment; release it with
 * storage_close().
 *
 * Errors: CAIRN_EINVAL (bad option), CAIRN_EIO (the directory cannot be
 * created or opened: the message names it and the system error),
 * CAIRN_EVERSION (written by an unknown format version), CAIRN_ECORRUPT,
 * CAIRN_ENOMEM. An environment of format 1 (before dedup tables) is
 * upgraded in place to format 2: every bucket gets an empty dedup table.
 */
int storage_open(const char *dir, const struct storage_options *opts,
                 storage **out, char *errmsg);

/* Close @s. Every transaction must have ended. NULL is accepted. */
void storage_close(storage *s);

/* ------------------------------------------------------------------------
 * Buckets
 * ---------------------------------------------------------------------- */

struct storage_bucket_info {
    cairn_bucket_config config;
    uint64_t created;        /* time of the create command, ns */
    uint64_t keys;           /* keys whose latest revision is a value */
    uint64_t bytes;          /* key+value+metadata bytes of kept revisions
                              * (logical: what max_bytes limits) */
    uint64_t stored_bytes;   /* the same bytes as stored, after
                              * compression */
    uint64_t last_revision;  /* 0: nothing written yet */
    uint64_t compacted_revision; /* a change at or below it may be gone */
    uint64_t applied_index;  /* highest index given to storage_apply */
};

/*
 * Create bucket @cfg->name with @cfg (copied) at time @now.
 * Errors: CAIRN_EINVAL (bad config: the message names the field),
 * CAIRN_EEXIST, CAIRN_ENOSPACE (max_buckets reached or map full), CAIRN_EIO.
 */
int storage_bucket_create(storage *s, const cairn_bucket_config *cfg,
                          uint64_t now, char *errmsg);

/* Delete bucket @name and all its data; its pages are reused by later
 * writes. Errors: CAIRN_ENOBUCKET, CAIRN_EIO. */
int storage_bucket_delete(storage *s, const char *name, char *errmsg);

/* Called once per bucket name in byte order; a non-zero return stops the
 * listing and is returned by storage_bucket_list(). */
typedef int (*storage_bucket_cb)(void *arg, const char *name);

/* List the buckets. Errors: CAIRN_EIO, or what @cb returned. */
int storage_bucket_list(storage *s, storage_bucket_cb cb, void *arg,
                        char *errmsg);

/* Fill @out with bucket @name's config and counters.
 * Errors: CAIRN_ENOBUCKET, CAIRN_ECORRUPT, CAIRN_EIO. */
int storage_bucket_info(storage *s, const char *name,
                        struct storage_bucket_info *out, char *errmsg);

/* ------------------------------------------------------------------------
 * Commands
 * ---------------------------------------------------------------------- */

enum storage_cmd_type {
    STORAGE_CMD_PUT = 1,    /* set the value */
    STORAGE_CMD_CREATE = 2, /* set only if absent, deleted or expired */
    STORAGE_CMD_UPDATE = 3, /* set only if the latest revision is .revision */
    STORAGE_CMD_CAS = 4,    /* set only if the value equals .old (or absent) */
    STORAGE_CMD_DELETE = 5, /* delete (if .revision: only at that revision) */
    STORAGE_CMD_PURGE = 6,  /* purge (if .revision: only at that revision) */
    STORAGE_CMD_EXPIRE = 7, /* remove what has aged out at .time */
    STORAGE_CMD_TXN = 8,    /* compares, then all writes or none */
};

/*
 * At-most-once writes. A write command may carry the client's id (.cid,
 * 0: none) and a sequence number (.seq) the client increases per write.
 * Each bucket keeps, per client, the results of its recent writes: a
 * command whose (cid, seq) already has a result is not applied again; it
 * gets the stored result with res->duplicate set (docs/storage.md,
 * "At-most-once writes").
 *
 * STORAGE_DEDUP_WINDOW: results are kept for the last this-many sequence
 * numbers of a client (those below its highest seq minus the window are
 * dropped). A command with a seq below that, with no result kept, is
 * refused (CAIRN_EINVAL): it may have been applied. The window must exceed
 * the number of writes a client may have in flight (the node allows 4096
 * per connection).
 *
 * STORAGE_DEDUP_TTL_NS: a client whose last write (by command time) is
 * older than this is forgotten, its results with it; a retry after that is
 * applied as a new write.
 */
#define STORAGE_DEDUP_WINDOW 8192
#define STORAGE_DEDUP_TTL_NS (600ULL * 1000000000ULL)

struct storage_cmd {
    uint32_t type; /* enum storage_cmd_type */
    uint64_t time; /* the proposer's clock, ns since the epoch */
    uint64_t cid;  /* client id, 0: none (not EXPIRE) */
    uint64_t seq;  /* the client's sequence number (with .cid) */
    struct cairn_write w; /* PUT CREATE UPDATE CAS DELETE PURGE */
    uint64_t revision;      /* UPDATE; DELETE/PURGE when non-zero */
    bool has_old;           /* CAS: false means "only if absent" */
    const void *old;
    size_t old_len;
    uint32_t n_compares; /* TXN */
    const struct cairn_compare *compares;
    uint32_t n_writes; /* TXN, 1..CAIRN_TXN_OPS_MAX */
    const struct cairn_write *writes;
    void *owned_; /* set by storage_cmd_decode; freed by storage_cmd_release */
};

struct storage_result {
    int code;                  /* CAIRN_OK or why the command changed nothing */
    uint64_t revision;         /* first new revision (0: none) */
    uint64_t last_revision;    /* last new revision (TXN; else = revision) */
    uint64_t current_revision; /* ECONFLICT: the key's latest revision */
    uint32_t failed_compare;   /* TXN ECONFLICT: index of the failed compare */
    uint32_t count;            /* EXPIRE: entries removed; TXN: writes */
    bool skipped;              /* index already applied: nothing done */
    bool duplicate; /* (cid, seq) already had a result: this is that result,
                     * nothing was applied */
    char errmsg[CAIRN_ERRMSG_SIZE]; /* for a code other than CAIRN_OK */
};

/*
 * Apply @cmd to bucket @bucket in one write transaction. @index is the
 * caller's log index (0: untracked): a command whose index is not above the
 * bucket's applied index is skipped (res->skipped) and the applied index is
 * stored with the write, so replaying a log never applies an entry twice.
 *
 * When @cmd has a client id (cmd->cid != 0), the bucket's dedup table is
 * consulted after the index check: a (cid, seq) that already has a result
 * gets it back (res->duplicate, nothing applied); otherwise the command is
 * applied and its outcome, refusals included, is stored for later retries
 * (see STORAGE_DEDUP_WINDOW, STORAGE_DEDUP_TTL_NS).
 *
 * Returns 0 when the outcome is in @res: applied (res->code CAIRN_OK) or
 * refused with nothing changed: CAIRN_ENOBUCKET, CAIRN_EINVAL (bad key,
 * ttl..., an EXPIRE with a client id, a seq older than the client's retry
 * window), CAIRN_ETOOLARGE (key, value, metadata or txn size),
 * CAIRN_ECONFLICT (with res->current_revision), CAIRN_EFULL (max_bytes).
 * These outcomes are deterministic: every replica reaches the same one.
 * Returns non-zero only when the environment failed (CAIRN_ENOSPACE,
 * CAIRN_EIO, CAIRN_ECORRUPT, CAIRN_ENOMEM); then nothing was written.
 */
int storage_apply(storage *s, const char *bucket, const struct storage_cmd *cmd,
                  uint64_t index, struct storage_result *res, char *errmsg);

/*
 * Batched writes: several commands in one LMDB transaction, committed
 * together (one commit per Raft batch). Each command still applies whole or
 * not at all. If storage_write_apply() returns non-zero the transaction must
 * be aborted. Begin errors: CAIRN_EIO, CAIRN_ENOMEM.
 */
int storage_write_begin(storage *s, storage_txn **out, char *errmsg);
int storage_write_apply(storage_txn *t, const char *bucket,
                        const struct storage_cmd *cmd, uint64_t index,
                        struct storage_result *res, char *errmsg);
/* Commit and free @t. Errors: CAIRN_ENOSPACE, CAIRN_EIO. */
int storage_write_commit(storage_txn *t, char *errmsg);

/* End @t (read or write) without committing, and free it. NULL accepted. */
void storage_txn_end(storage_txn *t);

/* ------------------------------------------------------------------------
 * Reads
 * ---------------------------------------------------------------------- */

/* A revision of a key. Pointers are views into the transaction's pages:
 * valid until it ends. */
struct storage_entry {
    const void *key;
    size_t key_len;
    const void *value; /* NULL, 0 for markers and keys-only scans */
    size_t value_len;
    const void *meta;
    size_t meta_len;
    uint64_t revision;
    uint64_t create_revision; /* revision that created the key's lifetime */
    uint64_t updated;         /* time of the write, ns */
    uint64_t expires_at;      /* 0: never */
    uint32_t op;              /* enum cairn_op */
};

/* Called once per entry; a non-zero return stops the iteration and is
 * returned by the function that called it. */
typedef int (*storage_entry_cb)(void *arg, const struct storage_entry *e);

/* Start a read transaction: a consistent view until storage_txn_end().
 * Errors: CAIRN_EIO, CAIRN_ENOMEM. */
int storage_read_begin(storage *s, storage_txn **out, char *errmsg);

/*
 * Read @key in @bucket as of @now: the latest value when @revision is 0,
 * else that exact revision if it is kept, is a value and belongs to @key.
 * @out may be NULL (an existence check).
 * Errors: CAIRN_ENOTFOUND (absent, deleted, purged, expired at @now,
 * revision not kept, an older revision of a key whose latest value expired
 * at @now: expire() drops those), CAIRN_ENOBUCKET, CAIRN_EINVAL (empty key),
 * CAIRN_ETOOLARGE (key over 512 bytes), CAIRN_ECORRUPT (a record failed its
 * checksum).
 */
int storage_get(storage_txn *t, const char *bucket, const void *key,
                size_t key_len, uint64_t revision, uint64_t now,
                struct storage_entry *out, char *errmsg);

/*
 * The kept revisions of @key, newest first (at most the bucket's history),
 * delete and purge markers included, revisions expired at @now left out.
 * A key whose latest value expired at @now shows nothing: expire() drops its
 * whole history (and leaves a PURGE marker).
 * Errors: CAIRN_ENOTFOUND (nothing kept, or the latest value expired), CAIRN_ENOBUCKET, CAIRN_EINVAL
 * (empty key), CAIRN_ETOOLARGE (key over 512 bytes), CAIRN_ECORRUPT, or what
 * @cb returned.
 */
int storage_history(storage_txn *t, const char *bucket, const void *key,
                    size_t key_len, uint64_t now, storage_entry_cb cb,
                    void *arg, char *errmsg);

/* Which keys a scan or count visits. All pointers are borrowed. */
struct storage_scan {
    const void *start; /* first key, inclusive; NULL: the first key */
    size_t start_len;
    const void *end; /* end, exclusive; NULL: past the last key */
    size_t end_len;
    const void *prefix; /* only keys with this prefix; NULL: any */
    size_t prefix_len;
    const void *cursor; /* from a previous page: resume after its last key */
    size_t cursor_len;
    uint32_t limit; /* entries per page; 0: no limit */
    bool keys_only; /* deliver keys and revisions, no value */
    uint64_t now;   /* keys expired at @now are skipped */
};

#define STORAGE_CURSOR_MAX (1 + CAIRN_KEY_MAX)

/* Where a scan page ended. */
struct storage_page {
    uint32_t count; /* entries delivered */
    bool more;      /* more keys follow: resume with .cursor */
    uint8_t cursor[STORAGE_CURSOR_MAX];
    size_t cursor_len;
};

/*
 * Deliver the live keys of @bucket selected by @args, in key byte order, to
 * @cb (NULL: only count them into @page). The cursor is opaque: version
 * byte, then the page's last key. A range whose start is not below its end
 * is empty.
 * Errors: CAIRN_ENOBUCKET, CAIRN_EINVAL (a bound over 512 bytes, a cursor
 * this store did not give),
 * CAIRN_ECORRUPT, or what @cb returned.
 */
int storage_scan(storage_txn *t, const char *bucket,
                 const struct storage_scan *args, storage_entry_cb cb,
                 void *arg, struct storage_page *page, char *errmsg);

/* Count the live keys selected by @args (limit and cursor apply as in a
 * scan). Same errors as storage_scan(). */
int storage_count(storage_txn *t, const char *bucket,
                  const struct storage_scan *args, uint64_t *count,
                  char *errmsg);

/*
 * The earliest expiry in @bucket's expiry index into *at (ns since the
 * epoch; 0: nothing in the bucket expires): an expire command with a time
 * at or after it has something to remove. The index holds every kept
 * revision that expires (values with a ttl, an expires_at or the bucket's
 * ttl, and markers that age out), so *at may belong to an older revision
 * or a marker; it never misses one. One index lookup: cheap enough to ask
 * before every expire proposal. Errors: CAIRN_ENOBUCKET, CAIRN_ECORRUPT (a
 * malformed index entry), CAIRN_EIO.
 */
int storage_next_expiry(storage_txn *t, const char *bucket, uint64_t *at,
                        char *errmsg);

/* What storage_changes() reads. Pointers are borrowed for the call. */
struct storage_changes {
    uint64_t after; /* deliver revisions above this one */
    uint64_t upto;  /* and not above this one; 0: up to the last */
    const void *key; /* only this key (1..512 bytes); NULL: see prefix */
    size_t key_len;
    const void *prefix; /* only keys with this prefix; NULL or empty: any
                         * (ignored with .key) */
    size_t prefix_len;
    /* Only revisions that are their key's latest (a value not expired at
     * .now, or a DEL or PURGE marker): the current state of each key,
     * rather than every kept change. */
    bool latest_only;
    uint64_t now;
    uint32_t limit; /* revisions examined per call, matching or not; 0: no
                     * limit (a call bounds its work with it) */
};

/* Where storage_changes() stopped. */
struct storage_changes_page {
    /* Every revision up to this one has been examined and the matching
     * ones delivered: the next call's .after. It reaches the walk's bound
     * when nothing is left, even if the last revisions are not kept. */
    uint64_t last;
    bool more;                   /* stopped early: call again from .last */
    uint32_t count;              /* entries delivered */
    uint64_t last_revision;      /* the bucket's, in this transaction */
    uint64_t compacted_revision; /* the bucket's, in this transaction */
};

/*
 * Deliver the kept revisions of @bucket above args->after (and not above
 * args->upto) that match the key or prefix, in revision order, to @cb.
 * With args->key only that key's kept revisions are visited (at most the
 * bucket's history); otherwise every kept revision in the range is,
 * at most args->limit of them per call. A revision that is not kept any
 * more was superseded by a later revision of its key (history limit,
 * purge, expiry), which the walk delivers in its place; so is what a key
 * went through always told, if not every step of it.
 *
 * When @cb returns non-zero, the walk stops before that entry (page->last
 * stays below it, page->more is set) and the value is returned: a caller
 * with a budget refuses the entry that would exceed it and calls again.
 * Entry views are valid until @t ends.
 *
 * Errors: CAIRN_ECOMPACTED when args->after is below the bucket's
 * compacted revision and not args->latest_only: a change after it may be
 * gone with its key ("revision 17 is no longer kept; oldest is 40");
 * CAIRN_ENOBUCKET, CAIRN_EINVAL (a key or prefix over 512 bytes, an empty
 * key), CAIRN_ECORRUPT, CAIRN_EIO, or what @cb returned.
 */
int storage_changes(storage_txn *t, const char *bucket,
                    const struct storage_changes *args, storage_entry_cb cb,
                    void *arg, struct storage_changes_page *page,
                    char *errmsg);

/* ------------------------------------------------------------------------
 * Snapshots
 * ---------------------------------------------------------------------- */

/*
 * Serialise bucket @bucket (config, counters, every kept revision, the
 * dedup table of client results) from one
 * consistent read transaction. On success *buf (malloc'd, the caller frees
 * it) holds *len bytes in the versioned, checksummed snapshot format.
 * Errors: CAIRN_ENOBUCKET, CAIRN_ECORRUPT, CAIRN_ENOMEM, CAIRN_EIO.
 */
int storage_snapshot(storage *s, const char *bucket, void **buf, size_t *len,
                     char *errmsg);

/*
 * Replace bucket @bucket's whole state with the snapshot in @buf (borrowed),
 * creating the bucket if it does not exist. The snapshot is verified before
 * anything is written: a truncated, corrupted, foreign-version snapshot or
 * one of another bucket is refused and the old state stays as it was.
 * Snapshots of format 1 (written before dedup tables existed) are read
 * too; the bucket's dedup table is then empty.
 * Errors: CAIRN_ECORRUPT, CAIRN_EVERSION, CAIRN_EMALFORMED, CAIRN_EINVAL
 * (snapshot of another bucket), CAIRN_ENOSPACE, CAIRN_EIO, CAIRN_ENOMEM.
 */
int storage_restore(storage *s, const char *bucket, const void *buf,
                    size_t len, char *errmsg);

/* ------------------------------------------------------------------------
 * Encodings
 * ---------------------------------------------------------------------- */

/*
 * Encode @cmd. On success *buf (malloc'd, the caller frees it) holds *len
 * bytes. .cid and .seq are encoded when .cid is not 0 (a .seq without a
 * .cid is dropped). Errors: CAIRN_EINVAL (unknown type or op, an EXPIRE
 * with a client id), CAIRN_ENOMEM.
 */
int storage_cmd_encode(const struct storage_cmd *cmd, void **buf, size_t *len,
                       char *errmsg);

/*
 * Decode a command from @buf. The byte fields of @cmd point into @buf (keep
 * it alive while using @cmd); txn arrays are allocated: call
 * storage_cmd_release() when done (also after an error, harmlessly).
 * Commands without "cid"/"seq" (all those written before at-most-once
 * writes) decode with .cid = .seq = 0.
 * Errors: CAIRN_EMALFORMED (the message says which field; also a cid
 * without a seq or the reverse, a cid of 0, a cid on an expire),
 * CAIRN_EVERSION, CAIRN_ENOMEM.
 */
int storage_cmd_decode(const void *buf, size_t len, struct storage_cmd *cmd,
                       char *errmsg);

/* Free what storage_cmd_decode() allocated for @cmd. */
void storage_cmd_release(struct storage_cmd *cmd);

/* Encode / decode a result, every field included (same ownership rules as
 * commands; a decoded result owns nothing). A result without "dup" (written
 * before at-most-once writes) decodes with .duplicate false.
 * Encode errors: CAIRN_ENOMEM. Decode errors: CAIRN_EMALFORMED,
 * CAIRN_EVERSION. */
int storage_result_encode(const struct storage_result *res, void **buf,
                          size_t *len, char *errmsg);
int storage_result_decode(const void *buf, size_t len,
                          struct storage_result *res, char *errmsg);

#endif /* CAIRN_STORAGE_H */
