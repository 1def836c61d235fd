/*
 * consensus.h — cairn's consensus layer: the Raft log entry format shared by
 * the node (which proposes) and the replicas' state machines (which apply).
 *
 * Overview
 * --------
 * Every bucket is its own Raft group; its log entries are batches of storage
 * commands (storage/storage.h). A batch applies in one LMDB transaction on
 * every replica, each command whole or not at all, and yields one
 * storage_result per command.
 *
 * Entry format (msgpack map, docs/consensus.md):
 *   { "v": 1, "cmds": [ <bin: encoded storage command>, ... ] }
 *
 * Caveats
 * -------
 * - Only this folder includes raft.h: the API below speaks cairn types.
 * - Everything runs on the node's one libuv loop thread; nothing here is
 *   thread-safe.
 */
#ifndef CAIRN_CONSENSUS_H
#define CAIRN_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn.h"
#include "storage.h"

struct uv_loop_s;

/* Most commands one log entry carries. */
#define CONSENSUS_BATCH_MAX 1024

#define CONSENSUS_ENTRY_VERSION 1

/* One encoded command: borrowed bytes (storage_cmd_encode output). */
struct consensus_cmd_buf {
    const void *base;
    size_t len;
};

/*
 * Encode a log entry holding @n encoded commands (1..CONSENSUS_BATCH_MAX).
 * On success *buf is allocated with @alloc (raft_malloc for buffers handed
 * to raft, malloc otherwise; NULL means malloc) and holds *len bytes; the
 * caller owns it. Errors: CAIRN_EINVAL (count), CAIRN_ENOMEM.
 */
int consensus_entry_encode(const struct consensus_cmd_buf *cmds, unsigned n,
                           void *(*alloc)(size_t), void **buf, size_t *len,
                           char *errmsg);

/*
 * Decode the entry in @buf: fills @cmds (capacity CONSENSUS_BATCH_MAX) with
 * views into @buf and sets *n. Errors: CAIRN_EMALFORMED, CAIRN_EVERSION.
 */
int consensus_entry_decode(const void *buf, size_t len,
                           struct consensus_cmd_buf *cmds, unsigned *n,
                           char *errmsg);

/* ------------------------------------------------------------------------
 * Placement
 * ---------------------------------------------------------------------- */

/* A node as placement sees it. Strings are borrowed. */
struct consensus_node {
    uint64_t id;
    const char *cluster;                    /* the node's cluster name */
    uint32_t n_tags;
    const char (*tags)[CAIRN_TAG_MAX + 1];  /* "key:value" */
    uint32_t replicas;                      /* bucket replicas it holds */
};

/*
 * Choose the nodes for a bucket with @cfg among @nodes: a node qualifies
 * when its cluster matches cfg->cluster (empty matches any) and its tags
 * include every cfg tag. Among those, replicas go first to distinct
 * `zone:` values (a node without a zone tag counts as a zone of its own),
 * then to the nodes holding the fewest replicas, then to the lowest id.
 * Deterministic: the same inputs give the same choice.
 *
 * On success @out (room for cfg->num_replicas ids) holds the chosen ids in
 * choice order. Errors: CAIRN_EPLACEMENT with a message naming what is
 * missing ("placement needs 3 nodes with tags [disk:ssd], 2 match"),
 * CAIRN_EINVAL (num_replicas out of range).
 */
int consensus_place(const struct consensus_node *nodes, size_t n,
                    const cairn_bucket_config *cfg, uint64_t *out,
                    char *errmsg);

/* ------------------------------------------------------------------------
 * A node's consensus layer and its Raft groups
 * ---------------------------------------------------------------------- */

typedef struct consensus consensus;
typedef struct consensus_group consensus_group;

#define CONSENSUS_ADDRESS_MAX 64

/* Receives a log line: @level 0 debug, 1 info, 2 warn, 3 error (the levels
 * of node/log.h); @group is the bucket name or NULL; strings are borrowed
 * for the call. */
typedef void (*consensus_log_cb)(void *data, int level, const char *group,
                                 const char *msg);

struct consensus_options {
    uint64_t id;               /* this node's raft id, non-zero */
    const char *cluster;       /* cluster name (copied) */
    const char *peer_address;  /* "a.b.c.d:port" (copied); port 0: any */
    const char *raft_dir;      /* groups' logs go in <raft_dir>/<group id>,
                                  unless a group is given its own */
    storage *storage;          /* (borrowed) the node's storage: the
                                  groups' buckets, unless a group is given
                                  its own */
    unsigned election_timeout_ms; /* 0: 1000 */
    unsigned heartbeat_ms;        /* 0: 100 */
    unsigned snapshot_threshold;  /* 0: 100000 */
    unsigned snapshot_trailing;   /* 0: 50000 */
    consensus_log_cb log;      /* may be NULL */
    void *log_data;
};

/*
 * Create the consensus layer of a node on @loop (borrowed) and start
 * listening on its peer address. On success *out must be released with
 * consensus_close(). Errors: CAIRN_EINVAL (options: the message names the
 * field), CAIRN_EIO ("peer listen 127.0.0.1:7501: address already in use"),
 * CAIRN_ENOMEM.
 */
int consensus_create(struct uv_loop_s *loop, const struct consensus_options *o,
                     consensus **out, char *errmsg);

/* The bound peer address (the real port when port 0 was asked for).
 * Borrowed: valid until close. */
const char *consensus_peer_address(const consensus *c);

/* Stop every group (as consensus_group_stop) and the listener; @cb (may be
 * NULL) fires from the loop once everything is closed and @c is freed. */
void consensus_close(consensus *c, void (*cb)(void *data), void *data);

/* A voter of a group. */
struct consensus_member {
    uint64_t id;
    char address[CONSENSUS_ADDRESS_MAX + 1]; /* its peer address */
};

/*
 * Where one group keeps its state, when not where the node's options say:
 * a node holds buckets of both kinds, file and memory (docs/cairnd.md), in
 * two storage environments with a Raft directory each. A NULL field takes
 * the node's value (consensus_options.storage, .raft_dir).
 */
struct consensus_group_options {
    storage *storage;     /* (borrowed) must outlive the group */
    const char *raft_dir; /* (copied) the log goes in <raft_dir>/<group id> */
};

/*
 * Start this node's replica of group @group_id, which replicates bucket
 * @bucket over @members (1..5, this node among them; copied). @go (may be
 * NULL: the node's defaults for both) says which storage holds the bucket
 * (it must exist there) and under which directory the group's log lives.
 * A group whose log directory is new is bootstrapped with @members; one
 * that has a log resumes from it. With @n 0 a new replica starts with no
 * configuration at all and waits for a leader to add it
 * (consensus_group_add() on the leader's side).
 * On success *out is valid until consensus_group_stop()'s callback.
 * Errors: CAIRN_EINVAL (members, bucket, a path too long), CAIRN_EEXIST
 * (group already running), CAIRN_EIO (log directory, raft start),
 * CAIRN_ENOMEM.
 */
int consensus_group_start(consensus *c, uint64_t group_id, const char *bucket,
                          const struct consensus_member *members, unsigned n,
                          const struct consensus_group_options *go,
                          consensus_group **out, char *errmsg);

/*
 * The outcome of a proposal: @status is 0 and @res the command's result
 * (borrowed for the call), or, with @res NULL:
 *   CAIRN_ENOTLEADER  this replica is not the leader: nothing was applied;
 *   CAIRN_EUNAVAILABLE leadership was lost or the group stopped after the
 *                     command entered the log: it may or may not apply.
 */
typedef void (*consensus_propose_cb)(void *data, int status,
                                     const struct storage_result *res);

/*
 * Propose encoded storage command @cmd (@len bytes, copied). Commands
 * proposed during one turn of the loop go into one log entry (at most
 * CONSENSUS_BATCH_MAX), so a busy group appends one entry per turn. @cb
 * fires exactly once, never from within this call. Errors (then @cb never
 * fires): CAIRN_ENOTLEADER, CAIRN_ETOOLARGE, CAIRN_ENOMEM.
 */
int consensus_group_propose(consensus_group *g, const void *cmd, size_t len,
                            consensus_propose_cb cb, void *data,
                            char *errmsg);

/* Fires with 0 when this leader has applied every entry committed before
 * the read asked, or with CAIRN_ENOTLEADER / CAIRN_EUNAVAILABLE. */
typedef void (*consensus_read_cb)(void *data, int status);

/*
 * Wait until a linearizable read may be served from local state: canonical
 * raft has no ReadIndex, so this appends a barrier and waits for it to
 * apply. Reads that arrive while a barrier is in flight share the next
 * one. @cb fires exactly once, never from within this call.
 * Errors: CAIRN_ENOTLEADER, CAIRN_ENOMEM.
 */
int consensus_group_read_barrier(consensus_group *g, consensus_read_cb cb,
                                 void *data, char *errmsg);

/* Whether this replica is the group's leader now. */
bool consensus_group_is_leader(consensus_group *g);

/* The current leader's id (0 if unknown) and peer address (borrowed until
 * the next loop turn; NULL if unknown). */
uint64_t consensus_group_leader(consensus_group *g, const char **address);

/* The index of the last entry this replica applied. */
uint64_t consensus_group_applied(consensus_group *g);

/* This replica's current term: the latest term it has seen (a leader's is
 * the term it leads in; it never decreases). 0 once the group is
 * stopping. */
uint64_t consensus_group_term(consensus_group *g);

/* The bucket the group replicates. */
const char *consensus_group_bucket(const consensus_group *g);

/* Call @cb (may be NULL: none) after this replica applied an entry that
 * changed its bucket, or installed a snapshot. It runs inside raft's apply:
 * it must not start or stop groups itself (schedule that on the loop). */
void consensus_group_on_apply(consensus_group *g, void (*cb)(void *data),
                              void *data);

/* Roles in a group's configuration (Raft's voter, standby and spare). */
enum consensus_role {
    CONSENSUS_VOTER = 1,   /* votes and counts for the quorum */
    CONSENSUS_STANDBY = 2, /* replicates the log, does not vote */
    CONSENSUS_SPARE = 3,   /* in the configuration only */
};

/* The name of @role ("voter", "standby", "spare"), or "unknown". */
const char *consensus_role_name(int role);

struct consensus_member_info {
    uint64_t id;
    char address[CONSENSUS_ADDRESS_MAX + 1];
    int role; /* enum consensus_role */
    /* Only on the leader (has_match): the highest log index the member is
     * known to hold (the leader's own last index for itself), and whether
     * it answered within the last election timeout. */
    bool has_match;
    uint64_t match;
    bool recent;
};

/* The index of the last entry in this replica's log. */
uint64_t consensus_group_last_index(consensus_group *g);

/* Copy up to @max members of the group's latest configuration, as this
 * replica knows it, into @out; returns how many there are in all. On the
 * leader each also carries its replication progress. */
unsigned consensus_group_members(consensus_group *g,
                                 struct consensus_member_info *out,
                                 unsigned max);

/*
 * On the leader: make node @id (peer @address) a member with @role. A node
 * not in the configuration is added first; raft then catches it up before
 * it becomes a voter or standby. @cb fires once (never from within this
 * call) with 0, CAIRN_ENOTLEADER or CAIRN_EUNAVAILABLE. Errors (then @cb
 * never fires): CAIRN_ENOTLEADER, CAIRN_EBUSY (a configuration change is
 * under way), CAIRN_EINVAL (bad role or address), CAIRN_ENOMEM.
 */
int consensus_group_add(consensus_group *g, uint64_t id, const char *address,
                        int role, consensus_read_cb cb, void *data,
                        char *errmsg);

/* On the leader: remove node @id from the configuration. Same callback
 * and errors as consensus_group_add(), plus CAIRN_ENOTFOUND (not a
 * member). */
int consensus_group_remove(consensus_group *g, uint64_t id,
                           consensus_read_cb cb, void *data, char *errmsg);

/*
 * Hand leadership to another voter (the most up to date one) before this
 * replica stops, so clients see no election gap. @cb fires once with 0 when
 * another voter leads, or with CAIRN_EUNAVAILABLE when the transfer did not
 * complete (raft gives up after an election timeout); never from within
 * this call. Errors (then @cb never fires): CAIRN_ENOTLEADER (nothing to
 * hand over), CAIRN_EBUSY (a transfer is under way), CAIRN_ENOMEM.
 */
int consensus_group_transfer(consensus_group *g, consensus_read_cb cb,
                             void *data, char *errmsg);

/* Stop this replica: pending proposals fail with CAIRN_EUNAVAILABLE (or
 * CAIRN_ENOTLEADER if never appended); @cb (may be NULL) fires once the
 * group is closed and freed. */
void consensus_group_stop(consensus_group *g, void (*cb)(void *data),
                          void *data);

#endif /* CAIRN_CONSENSUS_H */
