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
 * - Only this folder includes raft.h; the group API (start, propose, read
 *   barrier, leadership) is added with the node.
 */
#ifndef CAIRN_CONSENSUS_H
#define CAIRN_CONSENSUS_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

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

#endif /* CAIRN_CONSENSUS_H */
